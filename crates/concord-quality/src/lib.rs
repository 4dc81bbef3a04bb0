//! Label quality over plain data: no chain, no store, no CLI. The client fetches a batch's outcomes and
//! manifest; everything computed from them lives here.
//!
//! - [`metrics`]: responses table, majority vote, Dawid–Skene, Fleiss' kappa, Krippendorff's alpha, per-worker
//!   stats, spammer and colluder flags (also used by `aggregate` on any `task,worker,label` table)
//! - [`batch`]: a settled batch's responses with their Dawid–Skene fit, aligned with item indexes
//! - [`report`]: the quality report model and its text rendering
//! - [`html`]: the self-contained HTML page with inline SVG plots
//! - [`export`]: dataset export rows and their JSONL / CSV / crowd-kit / Label Studio renderings
//! - [`generation`]: the quality report of a generation batch (filtered share, acceptance per instruction,
//!   reviewer kappa, near-duplicates, authors most rejected)

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod batch;
pub mod export;
pub mod generation;
pub mod html;
pub mod metrics;
pub mod report;

pub use batch::BatchQuality;
pub use metrics::{dawid_skene, majority_vote, DawidSkene, Responses};

/// A rendering failed (serialisation of a value that cannot be represented).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct RenderError(pub String);

/// A small settled batch for the unit tests: 4 items in one task, classes a/b/c, three annotators; item 0 by
/// consensus, item 1 gold, item 2 without consensus, item 3 reviewed.
#[cfg(test)]
pub(crate) fn sample_batch() -> BatchQuality {
    use alloy_primitives::{Address, U256};
    use concord_protocol::labels::pack;
    use concord_protocol::manifest::{Item, Manifest};
    use concord_protocol::outcome::{outcomes, BatchShape, Reveal, Settlement};
    use std::collections::{BTreeMap, HashMap};

    let items: Vec<Item> = (0..4)
        .map(|i| Item {
            id: format!("it-{i}"),
            text: Some(format!("<b>item {i}</b>")),
            uri: None,
            meta: None,
            gold: None,
            media: None,
        })
        .collect();
    let manifest = Manifest::build(&items, &["a".into(), "b".into(), "c".into()]);
    let shape = BatchShape {
        num_items: 4,
        task_size: 4,
        num_classes: 3,
        threshold_bps: 6600,
    };
    let reveal = |who: u8, labels: &[u8]| Reveal {
        task: 0,
        annotator: Address::repeat_byte(who),
        labels: pack(labels),
    };
    let reveals = [
        reveal(1, &[0, 1, 0, 2]),
        reveal(2, &[0, 1, 1, 2]),
        reveal(3, &[1, 2, 2, 0]),
    ];
    let settled = BTreeMap::from([(
        0,
        Settlement {
            result_labels: pack(&[0, 1, 0, 0]),
            decided_mask: U256::from(0b0001u64),
            gold_mask: U256::from(0b0010u64),
            block: Some(42),
        },
    )]);
    let resolved = BTreeMap::from([(3, 2u8)]);
    let out = outcomes(&shape, &reveals, &settled, &resolved);
    BatchQuality::new(manifest, out, HashMap::from([(1, 1u8)]))
}
