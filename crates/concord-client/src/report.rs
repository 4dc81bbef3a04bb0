//! A batch's quality and its labeled dataset, fetched from chain events and the verified manifest only (no
//! local state needed); the computing and rendering is `concord-quality`'s.

use concord_quality::export::{self, ExportRow, Provenance};
use concord_quality::report::{assemble, Report};
use concord_quality::BatchQuality;
use std::path::Path;

use crate::market;
use crate::{ClientError, Concord, Result};

/// Loads outcomes, verified manifest and gold answers of a batch and fits Dawid–Skene on its revealed labels.
pub async fn batch_quality(
    c: &Concord,
    batch_id: u64,
    manifest: Option<&Path>,
) -> Result<BatchQuality> {
    let (b, m) = market::verified_manifest(c, batch_id, manifest).await?;
    let (outcomes, gold) = tokio::try_join!(
        market::outcomes_of(c, batch_id, &b.config),
        market::gold_answers(c, batch_id)
    )?;
    Ok(BatchQuality::new(m, outcomes, gold))
}

/// The quality report of a batch with at least one settled task.
pub async fn build(c: &Concord, batch_id: u64, manifest: Option<&Path>) -> Result<Report> {
    let q = batch_quality(c, batch_id, manifest).await?;
    let (scored, revealed) = tokio::try_join!(
        market::bundles_scored(c, batch_id),
        market::batch_events::<concord_bindings::LabelMarketV2::Revealed>(c, batch_id),
    )?;
    let revealed = revealed
        .iter()
        .map(|(e, _)| e.bundleId.to::<u64>())
        .collect();
    if scored.is_empty() {
        return Err(ClientError::Input(format!("batch {batch_id} has no settled task yet; run `concord-requester settle -b {batch_id}` first")));
    }
    Ok(assemble(
        c.chain_id(),
        &c.market_address().to_string(),
        batch_id,
        &q,
        market::sum_scores(&scored, &revealed),
    ))
}

/// The labeled dataset of a batch: chain outcomes joined with the manifest and the Dawid–Skene fit.
pub async fn export(c: &Concord, batch_id: u64, manifest: Option<&Path>) -> Result<Vec<ExportRow>> {
    let q = batch_quality(c, batch_id, manifest).await?;
    let provenance = Provenance {
        chain_id: c.chain_id(),
        market: c.market_address(),
        batch_id,
        settled_block: None,
    };
    Ok(export::rows(&q, &provenance))
}
