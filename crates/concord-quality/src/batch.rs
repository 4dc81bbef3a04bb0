//! A settled batch's revealed labels as a responses table, with the Dawid–Skene fit aligned with item indexes.

use concord_protocol::manifest::Manifest;
use concord_protocol::outcome::ItemOutcome;
use std::collections::HashMap;

use crate::metrics::{dawid_skene, DawidSkene, Responses};

/// EM iterations of the Dawid–Skene fit of a batch (crowd-kit's default).
pub const DS_ITERATIONS: usize = 100;
/// EM stops when the evidence lower bound per response improves by less than this (crowd-kit's default).
pub const DS_TOLERANCE: f64 = 1e-5;

/// A batch's responses with their Dawid–Skene fit, aligned with item indexes.
pub struct BatchQuality {
    pub manifest: Manifest,
    pub outcomes: Vec<ItemOutcome>,
    pub responses: Responses,
    /// Task index of `responses` for each item (None: no revealed label).
    pub task_of_item: Vec<Option<usize>>,
    pub ds: DawidSkene,
    pub gold: HashMap<u64, u8>,
}

impl BatchQuality {
    /// Dawid–Skene label and posterior of item `i`.
    pub fn ds_of(&self, i: usize) -> Option<(u8, f64)> {
        let t = self.task_of_item.get(i).copied().flatten()?;
        let l = self.ds.labels[t];
        Some((l as u8, self.ds.probas[t][l]))
    }

    /// Builds the responses table of `outcomes` and fits Dawid–Skene on it. `gold` maps item index to the
    /// revealed gold class.
    pub fn new(manifest: Manifest, outcomes: Vec<ItemOutcome>, gold: HashMap<u64, u8>) -> Self {
        let responses = responses_of(&outcomes, &manifest.classes);
        let ix: HashMap<&str, usize> = responses
            .tasks
            .iter()
            .enumerate()
            .map(|(i, t)| (t.as_str(), i))
            .collect();
        let task_of_item = outcomes
            .iter()
            .map(|o| ix.get(o.index.to_string().as_str()).copied())
            .collect();
        let ds = dawid_skene(&responses, DS_ITERATIONS, DS_TOLERANCE);
        Self {
            manifest,
            outcomes,
            responses,
            task_of_item,
            ds,
            gold,
        }
    }
}

/// One response per revealed label: task = the item index, worker = the annotator address, label = the class
/// name (labels outside `classes` are skipped).
pub fn responses_of(outcomes: &[ItemOutcome], classes: &[String]) -> Responses {
    let mut triples = Vec::new();
    for o in outcomes {
        for (a, l) in o.annotators.iter().zip(&o.annotator_labels) {
            if let Some(class) = classes.get(usize::from(*l)) {
                triples.push((o.index.to_string(), a.to_string(), class.clone()));
            }
        }
    }
    Responses::from_triples(
        triples
            .iter()
            .map(|(a, b, c)| (a.as_str(), b.as_str(), c.as_str())),
        Some(classes.to_vec()),
    )
}
