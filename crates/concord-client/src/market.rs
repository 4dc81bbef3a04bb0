//! Market reads shared by both roles: a batch's config and state, its tasks, and its history from events —
//! every event query goes through [`batch_events`] (one place to make log reads chunked and cached).

use alloy::primitives::{Address, U256};
use alloy::providers::Provider;
use alloy::rpc::types::{Filter, Log};
use alloy::sol_types::SolEvent;
use concord_bindings::ILabelMarket::{BatchConfig, BatchState, Task};
use concord_bindings::LabelMarket;
use concord_protocol::outcome::{self, BatchShape, ItemOutcome, Reveal, Settlement};
use concord_protocol::{Deadlines, Phase};
use concord_quality::report::Scores;
use futures::{stream, StreamExt, TryStreamExt};
use std::collections::{BTreeMap, HashMap};

use crate::chain::transport_error;
use crate::dataset::{load_manifest, Manifest};
use crate::{ClientError, Concord, Result};

/// A batch as stored on-chain.
pub async fn batch(c: &Concord, batch: u64) -> Result<(BatchConfig, BatchState)> {
    let b = c
        .market
        .getBatch(U256::from(batch))
        .call()
        .await
        .map_err(c.read_err("read batch"))?;
    Ok((b.config, b.state))
}

/// Number of batches on the market.
pub async fn batch_count(c: &Concord) -> Result<u64> {
    Ok(c.market
        .batchCount()
        .call()
        .await
        .map_err(c.read_err("read batches"))?
        .to::<u64>())
}

/// Tasks of a batch that still have a free slot.
pub async fn open_task_count(c: &Concord, batch: u64) -> Result<u64> {
    Ok(c.market
        .openTaskCount(U256::from(batch))
        .call()
        .await
        .map_err(c.read_err("read open tasks"))?
        .to::<u64>())
}

/// All tasks of a batch, read concurrently.
pub async fn tasks(c: &Concord, batch: u64, num_tasks: u64) -> Result<Vec<Task>> {
    stream::iter(0..num_tasks)
        .map(|t| {
            let market = c.market.clone();
            async move {
                market
                    .getTask(U256::from(batch), U256::from(t))
                    .call()
                    .await
            }
        })
        .buffered(64)
        .map_err(c.read_err("read tasks"))
        .try_collect()
        .await
}

/// One task of a batch.
pub async fn task(c: &Concord, batch: u64, task: u64) -> Result<Task> {
    c.market
        .getTask(U256::from(batch), U256::from(task))
        .call()
        .await
        .map_err(c.read_err("read task"))
}

/// The deadlines of a batch config.
pub fn deadlines(cfg: &BatchConfig) -> Deadlines {
    Deadlines {
        commit: cfg.commitDeadline.to(),
        reveal: cfg.revealDeadline.to(),
        review: cfg.reviewDeadline.to(),
    }
}

/// The phase a batch is in at chain time `now`.
pub fn phase(cfg: &BatchConfig, st: &BatchState, now: u64) -> Phase {
    Phase::at(&deadlines(cfg), st.refunded, now)
}

/// The shape (items, task size, classes, threshold) of a batch config.
pub fn shape(cfg: &BatchConfig) -> BatchShape {
    BatchShape {
        num_items: u64::from(cfg.numItems),
        task_size: u64::from(cfg.taskSize),
        num_classes: usize::from(cfg.numClasses),
        threshold_bps: u32::from(cfg.thresholdBps),
    }
}

/// Items in task `task` of a batch.
pub fn task_len(cfg: &BatchConfig, task: u64) -> u64 {
    concord_protocol::labels::task_len(u64::from(cfg.numItems), u64::from(cfg.taskSize), task)
}

/// Every `E` event of the market from the deployment block on, decoded, matching `filter` (address, signature
/// and start block are added here).
pub async fn events<E: SolEvent>(c: &Concord, filter: Filter) -> Result<Vec<(E, Log)>> {
    let name = E::SIGNATURE.split('(').next().unwrap_or(E::SIGNATURE);
    let action = format!("read {name} events");
    let filter = filter
        .address(c.market_address())
        .event_signature(E::SIGNATURE_HASH)
        .from_block(c.deployment.deploy_block);
    let logs = c
        .provider
        .get_logs(&filter)
        .await
        .map_err(|e| transport_error(&action, &c.rpc_url, &e.to_string()))?;
    logs.into_iter()
        .map(|log| {
            let decoded = log.log_decode::<E>().map_err(|e| ClientError::Transport {
                action: action.clone(),
                reason: format!("undecodable log: {e}"),
            })?;
            Ok((decoded.inner.data, log))
        })
        .collect()
}

/// Every `E` event of one batch (all of the market's batch events carry the batch id as first topic).
pub async fn batch_events<E: SolEvent>(c: &Concord, batch_id: u64) -> Result<Vec<(E, Log)>> {
    events(c, Filter::new().topic1(U256::from(batch_id))).await
}

/// The manifest URI a batch was created with (from its `BatchCreated` event).
pub async fn manifest_uri(c: &Concord, batch_id: u64) -> Result<String> {
    batch_events::<LabelMarket::BatchCreated>(c, batch_id)
        .await?
        .into_iter()
        .next()
        .map(|(e, _)| e.params.manifestURI)
        .ok_or_else(|| ClientError::Input(format!("no BatchCreated event for batch {batch_id}")))
}

/// Every revealed label vector of a batch, from `Revealed` events.
pub async fn reveals(c: &Concord, batch_id: u64) -> Result<Vec<Reveal>> {
    Ok(batch_events::<LabelMarket::Revealed>(c, batch_id)
        .await?
        .into_iter()
        .map(|(e, _)| Reveal {
            task: e.taskId.to(),
            annotator: e.annotator,
            labels: e.labels,
        })
        .collect())
}

/// Rebuilds the outcome of every item of a batch from `Revealed`, `TaskSettled` and `ItemResolved` events.
pub async fn outcomes(c: &Concord, batch_id: u64) -> Result<Vec<ItemOutcome>> {
    let (cfg, _) = batch(c, batch_id).await?;
    outcomes_of(c, batch_id, &cfg).await
}

/// [`outcomes`] for a batch whose config the caller already read.
pub async fn outcomes_of(
    c: &Concord,
    batch_id: u64,
    cfg: &BatchConfig,
) -> Result<Vec<ItemOutcome>> {
    let (reveals, settled, resolved) = tokio::try_join!(
        reveals(c, batch_id),
        batch_events::<LabelMarket::TaskSettled>(c, batch_id),
        batch_events::<LabelMarket::ItemResolved>(c, batch_id),
    )?;
    let settled: BTreeMap<u64, Settlement> = settled
        .into_iter()
        .map(|(e, log)| {
            let s = Settlement {
                result_labels: e.resultLabels,
                decided_mask: e.decidedMask,
                gold_mask: e.goldMask,
                block: log.block_number,
            };
            (e.taskId.to::<u64>(), s)
        })
        .collect();
    let resolved: BTreeMap<u64, u8> = resolved
        .into_iter()
        .map(|(e, _)| (e.item.to::<u64>(), e.label.to::<u8>()))
        .collect();
    Ok(outcome::outcomes(
        &shape(cfg),
        &reveals,
        &settled,
        &resolved,
    ))
}

/// The revealed gold answers of a batch: item index → class.
pub async fn gold_answers(c: &Concord, batch_id: u64) -> Result<HashMap<u64, u8>> {
    Ok(batch_events::<LabelMarket::GoldRevealed>(c, batch_id)
        .await?
        .into_iter()
        .map(|(e, _)| (e.item.to::<u64>(), e.label.to::<u8>()))
        .collect())
}

/// How settlement scored each annotator on each task (`LabelsScored` events).
pub async fn labels_scored(c: &Concord, batch_id: u64) -> Result<Vec<LabelMarket::LabelsScored>> {
    Ok(batch_events::<LabelMarket::LabelsScored>(c, batch_id)
        .await?
        .into_iter()
        .map(|(e, _)| e)
        .collect())
}

/// Labels accepted and rejected and commits never revealed, summed over a batch's `LabelsScored` events.
pub fn sum_scores(scored: &[LabelMarket::LabelsScored]) -> Scores {
    scored.iter().fold(Scores::default(), |s, e| Scores {
        accepted: s.accepted + e.agreed.to::<u64>(),
        rejected: s.rejected + e.disagreed.to::<u64>(),
        unrevealed: s.unrevealed + u64::from(!e.revealed),
    })
}

/// Commits of `annotator` (optionally of one batch), from `Committed` events (their encrypted backups).
pub async fn commits_of(
    c: &Concord,
    annotator: Address,
    batch_id: Option<u64>,
) -> Result<Vec<LabelMarket::Committed>> {
    let mut filter = Filter::new().topic3(annotator.into_word());
    if let Some(b) = batch_id {
        filter = filter.topic1(U256::from(b));
    }
    Ok(events::<LabelMarket::Committed>(c, filter)
        .await?
        .into_iter()
        .map(|(e, _)| e)
        .collect())
}

/// A batch's manifest — from `path` if given, else from the URI in its `BatchCreated` event — verified against
/// the on-chain root (every content hash and the Merkle root) and the on-chain class count.
pub async fn verified_manifest(
    c: &Concord,
    batch_id: u64,
    path: Option<&std::path::Path>,
) -> Result<(BatchConfig, Manifest)> {
    let (cfg, _) = batch(c, batch_id).await?;
    let m = verify_manifest(c, batch_id, &cfg, path).await?;
    Ok((cfg, m))
}

/// [`verified_manifest`] for a batch whose config the caller already read.
pub async fn verify_manifest(
    c: &Concord,
    batch_id: u64,
    cfg: &BatchConfig,
    path: Option<&std::path::Path>,
) -> Result<Manifest> {
    let uri = match path {
        Some(p) => p.display().to_string(),
        None => manifest_uri(c, batch_id).await?,
    };
    let m = load_manifest(&uri)?;
    m.verify(cfg.manifestRoot)?;
    if m.classes.len() != usize::from(cfg.numClasses) {
        return Err(ClientError::Manifest(format!(
            "the manifest names {} classes but batch {batch_id} has {} on-chain",
            m.classes.len(),
            cfg.numClasses
        )));
    }
    Ok(m)
}

/// The first `E` event a transaction emitted.
pub fn receipt_event<E: SolEvent>(receipt: &alloy::rpc::types::TransactionReceipt) -> Option<E> {
    receipt
        .logs()
        .iter()
        .find_map(|l| l.log_decode::<E>().ok())
        .map(|l| l.inner.data)
}
