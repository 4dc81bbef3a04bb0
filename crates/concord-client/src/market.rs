//! Market reads shared by both roles: a batch's config and state, its rounds, its bundles and their tasks, and
//! its history from events — every event query goes through [`events`] (one place to make log reads chunked and
//! cached). A batch's bundles are read once into a [`BatchLog`]; the task each ticket holds is computed locally
//! ([`concord_protocol::assignment`]), not asked of the chain position by position.

use alloy::primitives::{Address, B256, U256};
use alloy::providers::Provider;
use alloy::rpc::types::{Filter, Log};
use alloy::sol_types::SolEvent;
use concord_bindings::ILabelMarketV2Types::{
    Batch, BatchConfig, BatchState, Bundle, BundleProof, LaneRound, Round,
};
use concord_bindings::LabelMarketV2 as M;
use concord_protocol::assignment::Assignment;
use concord_protocol::bundle::task_labels;
use concord_protocol::merkle::Credit;
use concord_protocol::outcome::{self, BatchShape, ItemOutcome, Reveal, Settlement};
use concord_protocol::{Deadlines, Phase};
use concord_quality::report::Scores;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::chain::transport_error;
use crate::dataset::{fetch_manifest, Manifest};
use crate::store::Tickets;
use crate::{ClientError, Concord, Result};

/// A batch as stored on-chain: config, state and roots.
pub async fn batch(c: &Concord, batch: u64) -> Result<Batch> {
    c.market
        .getBatch(U256::from(batch))
        .call()
        .await
        .map_err(c.read_err("read batch"))
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

/// A round of a batch.
pub async fn round(c: &Concord, batch: u64, round: u64) -> Result<Round> {
    c.market
        .getRound(U256::from(batch), U256::from(round))
        .call()
        .await
        .map_err(c.read_err("read round"))
}

/// One lane of one round: its pool, tickets taken (reserved ones included) and committed.
pub async fn lane_round(c: &Concord, batch: u64, round: u64, lane: u64) -> Result<LaneRound> {
    c.market
        .getLaneRound(U256::from(batch), U256::from(round), U256::from(lane))
        .call()
        .await
        .map_err(c.read_err("read lane round"))
}

/// How many of a bundle's tickets hold tasks, given its round's pool: all of them, unless it was reserved before
/// the round opened and some fell past the pool (its commit shrinks to these; zero: it holds nothing).
pub fn held_size(t: &Tickets, pool: u64) -> u64 {
    pool.saturating_sub(t.first).min(t.size)
}

/// The stored seed of a round (zero until drawn).
pub async fn seed(c: &Concord, batch: u64, round: u64) -> Result<B256> {
    c.market
        .seedOf(U256::from(batch), U256::from(round))
        .call()
        .await
        .map_err(c.read_err("read seed"))
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

/// Positions of a batch: one per task per lane.
pub fn positions(cfg: &BatchConfig) -> u64 {
    u64::from(cfg.numTasks) * u64::from(cfg.replicas)
}

/// Whether the batch accepts reveals at `now`.
pub fn reveal_open(b: &Batch, now: u64) -> bool {
    concord_protocol::reveal_open(
        &deadlines(&b.config),
        b.state.committed,
        positions(&b.config),
        now,
    )
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

/// The tickets of a bundle as the contract states them.
pub fn tickets(b: &Bundle) -> Tickets {
    Tickets {
        lane: u64::from(b.lane),
        round: u64::from(b.round),
        first: u64::from(b.first),
        size: u64::from(b.size),
    }
}

/// A bundle's status on-chain (`None` for an id the batch does not have).
pub async fn bundle_status(
    c: &Concord,
    batch_id: u64,
    bundle: u64,
) -> Result<concord_protocol::status::BundleStatus> {
    use concord_protocol::status::BundleStatus;
    let s = c
        .market
        .bundleStatus(U256::from(batch_id), U256::from(bundle))
        .call()
        .await
        .map_err(c.read_err("read bundle status"))?;
    Ok(BundleStatus::from_u8(s).unwrap_or(BundleStatus::None))
}

/// The contract's form of an annotator's bundle.
pub fn bundle_of(annotator: Address, t: &Tickets) -> Bundle {
    Bundle {
        annotator,
        lane: t.lane as u8,
        round: t.round as u16,
        first: t.first as u32,
        size: t.size as u8,
    }
}

/// Every `E` event of the market from the deployment block to the current head, decoded, matching `filter`
/// (address, signature and block range are set here). Read in ranges of at most [`Concord::log_range`] blocks:
/// when the node answers that a range is too large or holds too many results (as public providers do), the
/// range is halved and the read goes on from where it was; rate limits are retried by the transport. With a
/// [`Concord::log_cache`], only blocks after the cached mark are asked for, and the mark moves to
/// [`Concord::confirmations`] below the head.
pub async fn events<E: SolEvent>(c: &Concord, filter: Filter) -> Result<Vec<(E, Log)>> {
    events_at(c, c.market_address(), filter).await
}

/// [`events`] of another Concord contract (the generation market), read and cached the same way.
pub async fn events_at<E: SolEvent>(
    c: &Concord,
    contract: Address,
    filter: Filter,
) -> Result<Vec<(E, Log)>> {
    let name = E::SIGNATURE.split('(').next().unwrap_or(E::SIGNATURE);
    let action = format!("read {name} events");
    let filter = filter.address(contract).event_signature(E::SIGNATURE_HASH);
    let head = c.block_number().await?;
    let mut logs = Vec::new();
    let mut from = c.deployment.deploy_block;
    // The cached part, if its last block is still on the chain (else the cache of this filter is dropped).
    let cache = match &c.log_cache {
        Some(cache) => {
            let key = format!(
                "{}:{}:{}",
                c.chain_id(),
                c.deployment.deploy_block,
                serde_json::to_string(&filter).unwrap_or_default()
            );
            if let Some(s) = cache.scanned(&key)? {
                if s.to <= head && c.block_hash(s.to).await? == s.hash {
                    logs = cache.logs(&key)?;
                    from = s.to + 1;
                } else {
                    cache.reset(&key)?;
                }
            }
            Some((cache, key, logs.len()))
        }
        None => None,
    };
    let start = from;
    let mut range = c.log_range.max(1);
    while from <= head {
        let to = head.min(from.saturating_add(range - 1));
        match c
            .provider
            .get_logs(&filter.clone().from_block(from).to_block(to))
            .await
        {
            Ok(part) => {
                logs.extend(part);
                from = to + 1;
            }
            Err(e) if range > 1 && asks_for_less(&e.to_string()) => range /= 2,
            Err(e) => return Err(transport_error(&action, &c.rpc_url, &e.to_string())),
        }
    }
    // Cache what was read up to `confirmations` below the head.
    if let Some((cache, key, cached)) = cache {
        let safe = head.saturating_sub(c.confirmations);
        // Only a mark that moves forward (the cache already holds everything up to `start - 1`).
        if safe >= start && safe >= c.deployment.deploy_block {
            let settled: Vec<Log> = logs[cached..]
                .iter()
                .filter(|l| l.block_number.is_some_and(|b| b <= safe))
                .cloned()
                .collect();
            cache.extend(&key, &settled, safe, c.block_hash(safe).await?)?;
        }
    }
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

/// Whether a node's `eth_getLogs` error says the query asked for too much (range or results), in the words of
/// the common providers and nodes (geth, Infura, Alchemy, QuickNode, Ankr, Erigon, Hardhat).
fn asks_for_less(error: &str) -> bool {
    let e = error.to_ascii_lowercase();
    // A rate limit that outlived the transport's retries is not about the query's size: halving would only
    // multiply the requests.
    if [
        "429",
        "too many requests",
        "rate limit",
        "rate-limit",
        "ratelimit",
        "throttl",
        "compute units",
    ]
    .iter()
    .any(|needle| e.contains(needle))
    {
        return false;
    }
    [
        "block range",
        "range too",
        "range is too",
        "too many",
        "more than",
        "exceed",
        "too large",
        "response size",
        "limited to",
        "max results",
        "query timeout",
    ]
    .iter()
    .any(|needle| e.contains(needle))
}

/// Every `E` event of one batch (all of the market's batch events carry the batch id as first topic).
pub async fn batch_events<E: SolEvent>(c: &Concord, batch_id: u64) -> Result<Vec<(E, Log)>> {
    events(c, Filter::new().topic1(U256::from(batch_id))).await
}

/// The manifest URI a batch was created with (from its `BatchCreated` event).
pub async fn manifest_uri(c: &Concord, batch_id: u64) -> Result<String> {
    batch_events::<M::BatchCreated>(c, batch_id)
        .await?
        .into_iter()
        .next()
        .map(|(e, _)| e.params.manifestURI)
        .ok_or_else(|| ClientError::Input(format!("no BatchCreated event for batch {batch_id}")))
}

/// One bundle of a batch as its events tell it.
#[derive(Debug, Clone)]
pub struct BundleInfo {
    pub id: u64,
    pub bundle: Bundle,
    pub commit_hash: Option<B256>,
    pub words: Option<Vec<U256>>,
    /// The salt of a reveal handed to the settler (`crate::handoff`): the settlement carries it.
    pub salt: Option<B256>,
    pub expired: bool,
    /// The tasks of its tickets, once its round has a seed.
    pub tasks: Option<Vec<u64>>,
}

impl BundleInfo {
    /// The bundle as settlement and review re-supply it (labels if revealed, else the commit hash), naming the
    /// positions that hold one of `tasks` (sorted), so that a batch settled in several calls maps each position
    /// once. A bundle whose tasks are not known yet names every position.
    pub fn proof(&self, tasks: &[u64]) -> BundleProof {
        let positions = match &self.tasks {
            Some(held) => held
                .iter()
                .enumerate()
                .filter(|(_, t)| tasks.binary_search(t).is_ok())
                .fold(0u32, |mask, (m, _)| mask | (1 << m)),
            None => u32::MAX,
        };
        BundleProof {
            id: self.id as u32,
            positions,
            bundle: self.bundle.clone(),
            commitHash: self.commit_hash.unwrap_or_default(),
            labels: self.words.clone().unwrap_or_default(),
            // Set only for a reveal handed to the settler and not on-chain yet: the settlement carries it.
            salt: self.salt.unwrap_or_default(),
        }
    }
}

/// Everything a batch's bundle events say, read once: the bundles, the rounds' seeds and the task every committed
/// ticket holds.
#[derive(Debug, Clone)]
pub struct BatchLog {
    pub bundles: BTreeMap<u64, BundleInfo>,
    pub assignment: Assignment,
    /// Committed bundles holding each task.
    pub holders: BTreeMap<u64, Vec<u64>>,
}

impl BatchLog {
    /// Revealed label vectors, one per (bundle, task).
    pub fn reveals(&self) -> Vec<Reveal> {
        self.bundles
            .values()
            .filter_map(|b| Some((b, b.words.as_ref()?, b.tasks.as_ref()?)))
            .flat_map(|(b, words, tasks)| {
                tasks.iter().enumerate().filter_map(move |(i, &task)| {
                    Some(Reveal {
                        task,
                        annotator: b.bundle.annotator,
                        labels: task_labels(words, i)?,
                    })
                })
            })
            .collect()
    }

    /// The committed bundles holding any of `tasks` (sorted, as `settle` takes them), as proofs for `settle` or
    /// `resolve`, each naming only its positions that hold one of `tasks`, grouped by annotator.
    pub fn proofs_for(&self, tasks: &[u64]) -> Vec<BundleProof> {
        debug_assert!(tasks.windows(2).all(|w| w[0] < w[1]), "tasks sorted");
        let ids: BTreeSet<u64> = tasks
            .iter()
            .filter_map(|t| self.holders.get(t))
            .flatten()
            .copied()
            .collect();
        let mut proofs: Vec<BundleProof> = ids
            .iter()
            .filter_map(|id| self.bundles.get(id))
            .map(|b| b.proof(tasks))
            .collect();
        // An annotator's bundles side by side: the market writes its account once for them.
        proofs.sort_by_key(|p| (p.bundle.annotator, p.id));
        proofs
    }
}

/// Reads a batch's bundles, seeds and commitments from its events and maps every committed ticket to its task.
pub async fn batch_log(c: &Concord, batch_id: u64, cfg: &BatchConfig) -> Result<BatchLog> {
    let (joined, committed, revealed, expired, seeds, shrunk) = tokio::try_join!(
        batch_events::<M::Joined>(c, batch_id),
        batch_events::<M::Committed>(c, batch_id),
        batch_events::<M::Revealed>(c, batch_id),
        batch_events::<M::BundleExpired>(c, batch_id),
        batch_events::<M::SeedDrawn>(c, batch_id),
        batch_events::<M::BundleShrunk>(c, batch_id),
    )?;
    let mut bundles: BTreeMap<u64, BundleInfo> = joined
        .into_iter()
        .map(|(e, _)| {
            let id = e.bundleId.to::<u64>();
            let info = BundleInfo {
                id,
                bundle: e.bundle,
                commit_hash: None,
                words: None,
                salt: None,
                expired: false,
                tasks: None,
            };
            (id, info)
        })
        .collect();
    // A reserved bundle committed with fewer tickets than it joined with is that smaller bundle from then on.
    for (e, _) in shrunk {
        if let Some(b) = bundles.get_mut(&e.bundleId.to::<u64>()) {
            b.bundle.size = e.size.saturating_to::<u8>();
        }
    }
    for (e, _) in committed {
        if let Some(b) = bundles.get_mut(&e.bundleId.to::<u64>()) {
            b.commit_hash = Some(e.commitHash);
        }
    }
    for (e, _) in revealed {
        if let Some(b) = bundles.get_mut(&e.bundleId.to::<u64>()) {
            b.words = Some(e.labels);
        }
    }
    for (e, _) in expired {
        if let Some(b) = bundles.get_mut(&e.bundleId.to::<u64>()) {
            b.expired = true;
        }
    }
    let mut assignment = Assignment::new(u64::from(cfg.numTasks));
    for (e, _) in seeds {
        assignment.set_seed(e.round.to(), e.seed);
    }
    for b in bundles.values().filter(|b| b.commit_hash.is_some()) {
        let t = tickets(&b.bundle);
        assignment.add_committed(t.round, t.lane, t.first, t.size);
    }
    let mut holders: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
    for b in bundles.values_mut() {
        let t = tickets(&b.bundle);
        b.tasks = assignment.tasks_of(t.lane, t.round, t.first, t.size);
        if let (Some(tasks), Some(_)) = (&b.tasks, b.commit_hash) {
            for &task in tasks {
                holders.entry(task).or_default().push(b.id);
            }
        }
    }
    Ok(BatchLog {
        bundles,
        assignment,
        holders,
    })
}

/// How each task of a batch settled, from `TasksSettled` events (masks one bit per item); for a batch settled
/// optimistically (a `ProposalFinalized` event, and no `TasksSettled`), rebuilt from its reveals and gold with the
/// contract's rule (`outcome::settle_locally`).
pub async fn settlements(c: &Concord, batch_id: u64) -> Result<BTreeMap<u64, Settlement>> {
    let (settled, finalized) = tokio::try_join!(
        batch_events::<M::TasksSettled>(c, batch_id),
        batch_events::<concord_bindings::optimistic::LabelMarketV2Optimistic::ProposalFinalized>(
            c, batch_id
        ),
    )?;
    if let Some((_, log)) = finalized.last() {
        let b = batch(c, batch_id).await?;
        let (blog, gold) =
            tokio::try_join!(batch_log(c, batch_id, &b.config), gold_answers(c, batch_id))?;
        // Gold counts only if every answer was revealed (as in the contract).
        let gold: BTreeMap<u64, u8> = if gold.len() as u64 >= u64::from(b.config.goldCount) {
            gold.into_iter().collect()
        } else {
            BTreeMap::new()
        };
        return Ok(outcome::settle_locally(
            &shape(&b.config),
            u64::from(b.config.numTasks),
            &blog.reveals(),
            &gold,
            log.block_number,
        ));
    }
    Ok(settled
        .into_iter()
        .flat_map(|(e, log)| outcome::settled_tasks(&e.outcomes, log.block_number))
        .collect())
}

/// Rebuilds the outcome of every item of a batch from its bundles, `TasksSettled` and `ItemResolved` events.
pub async fn outcomes(c: &Concord, batch_id: u64) -> Result<Vec<ItemOutcome>> {
    let b = batch(c, batch_id).await?;
    outcomes_of(c, batch_id, &b.config).await
}

/// [`outcomes`] for a batch whose config the caller already read.
pub async fn outcomes_of(
    c: &Concord,
    batch_id: u64,
    cfg: &BatchConfig,
) -> Result<Vec<ItemOutcome>> {
    let (log, settled, resolved) = tokio::try_join!(
        batch_log(c, batch_id, cfg),
        settlements(c, batch_id),
        batch_events::<M::ItemResolved>(c, batch_id),
    )?;
    let resolved: BTreeMap<u64, u8> = resolved
        .into_iter()
        .map(|(e, _)| (e.item.to::<u64>(), e.label.to::<u8>()))
        .collect();
    Ok(outcome::outcomes(
        &shape(cfg),
        &log.reveals(),
        &settled,
        &resolved,
    ))
}

/// The revealed gold answers of a batch: item index → class.
pub async fn gold_answers(c: &Concord, batch_id: u64) -> Result<HashMap<u64, u8>> {
    Ok(batch_events::<M::GoldRevealed>(c, batch_id)
        .await?
        .into_iter()
        .map(|(e, _)| (e.item.to::<u64>(), e.label.to::<u8>()))
        .collect())
}

/// How settlement scored each bundle: `BundleScored` events (one per bundle per `settle` call) and, for a batch
/// settled optimistically, the credits of its final proposal (the last `Proposed` event: once a proposal is final no
/// other can be made), as `BundleScored` values. Claims emit one `CreditsClaimed` per call, not one per bundle.
pub async fn bundles_scored(c: &Concord, batch_id: u64) -> Result<Vec<M::BundleScored>> {
    use concord_bindings::optimistic::LabelMarketV2Optimistic as O;
    let (scored, finalized) = tokio::try_join!(
        batch_events::<M::BundleScored>(c, batch_id),
        batch_events::<O::ProposalFinalized>(c, batch_id),
    )?;
    let mut out: Vec<M::BundleScored> = scored.into_iter().map(|(e, _)| e).collect();
    if !finalized.is_empty() {
        let (credits, b) = tokio::try_join!(proposed_credits(c, batch_id), batch(c, batch_id))?;
        if let Some(credits) = credits {
            out.extend(proposal_scores(
                batch_id,
                &credits,
                U256::from(b.config.rewardPerLabel),
            ));
        }
    }
    Ok(out)
}

/// The credits the batch's latest proposal posted (its last `Proposed` event; the final one once a proposal is
/// final, since no other can follow), or `None` if it never had one.
pub async fn proposed_credits(c: &Concord, batch_id: u64) -> Result<Option<Vec<U256>>> {
    use concord_bindings::optimistic::LabelMarketV2Optimistic as O;
    Ok(batch_events::<O::Proposed>(c, batch_id)
        .await?
        .pop()
        .map(|(e, _)| e.credits))
}

/// A proposal's credits as the `BundleScored` values `settle` would have emitted (bundles never committed, with a
/// zero credit, left out); `reward` is the batch's reward per label.
pub fn proposal_scores(batch_id: u64, credits: &[U256], reward: U256) -> Vec<M::BundleScored> {
    credits
        .chunks_exact(2)
        .enumerate()
        .filter(|(_, w)| !w[0].is_zero())
        .map(|(i, w)| {
            let cr = Credit::decode(w[0], w[1]);
            M::BundleScored {
                batchId: U256::from(batch_id),
                bundleId: U256::from(i),
                annotator: cr.annotator,
                tasks: U256::from(cr.tasks),
                agreed: U256::from(cr.accepted()),
                disagreed: U256::from(cr.rejected()),
                reward: reward * U256::from(cr.accepted()),
                slashed: cr.slashed,
                redistributed: cr.redistributed,
            }
        })
        .collect()
}

/// Labels accepted and rejected, and tasks committed but never revealed, over a batch's `BundleScored` events
/// (`revealed`: the bundles whose labels were revealed).
pub fn sum_scores(scored: &[M::BundleScored], revealed: &BTreeSet<u64>) -> Scores {
    scored.iter().fold(Scores::default(), |s, e| Scores {
        accepted: s.accepted + e.agreed.to::<u64>(),
        rejected: s.rejected + e.disagreed.to::<u64>(),
        unrevealed: s.unrevealed
            + if revealed.contains(&e.bundleId.to::<u64>()) {
                0
            } else {
                e.tasks.to::<u64>()
            },
    })
}

/// Every `E` event of `annotator` (optionally of one batch): the market's bundle events carry the batch id as
/// first and the annotator as third topic.
async fn events_of<E: SolEvent>(
    c: &Concord,
    annotator: Address,
    batch_id: Option<u64>,
) -> Result<Vec<E>> {
    let mut filter = Filter::new().topic3(annotator.into_word());
    if let Some(b) = batch_id {
        filter = filter.topic1(U256::from(b));
    }
    Ok(events::<E>(c, filter)
        .await?
        .into_iter()
        .map(|(e, _)| e)
        .collect())
}

/// Commits of `annotator` (optionally of one batch), from `Committed` events (their encrypted backups).
pub async fn commits_of(
    c: &Concord,
    annotator: Address,
    batch_id: Option<u64>,
) -> Result<Vec<M::Committed>> {
    events_of(c, annotator, batch_id).await
}

/// Joins of `annotator` (optionally of one batch), from `Joined` events.
pub async fn joins_of(
    c: &Concord,
    annotator: Address,
    batch_id: Option<u64>,
) -> Result<Vec<M::Joined>> {
    events_of(c, annotator, batch_id).await
}

/// A batch's manifest — from `path` if given, else from the URI in its `BatchCreated` event — verified against
/// the on-chain root (every content hash and the Merkle root) and the on-chain class count.
pub async fn verified_manifest(
    c: &Concord,
    batch_id: u64,
    path: Option<&std::path::Path>,
) -> Result<(Batch, Manifest)> {
    let b = batch(c, batch_id).await?;
    let m = verify_manifest(c, batch_id, &b, path).await?;
    Ok((b, m))
}

/// [`verified_manifest`] for a batch the caller already read.
pub async fn verify_manifest(
    c: &Concord,
    batch_id: u64,
    b: &Batch,
    path: Option<&std::path::Path>,
) -> Result<Manifest> {
    let uri = match path {
        Some(p) => p.display().to_string(),
        None => manifest_uri(c, batch_id).await?,
    };
    let m = fetch_manifest(
        &uri,
        b.roots.manifest,
        &c.ipfs_gateway,
        &crate::concord_home().join("manifests"),
    )
    .await?;
    if m.classes.len() != usize::from(b.config.numClasses) {
        return Err(ClientError::Manifest(format!(
            "the manifest names {} classes but batch {batch_id} has {} on-chain",
            m.classes.len(),
            b.config.numClasses
        )));
    }
    Ok(m)
}

/// The first `E` event a transaction emitted.
pub fn receipt_event<E: SolEvent>(receipt: &alloy::rpc::types::TransactionReceipt) -> Option<E> {
    receipt_events(receipt).into_iter().next()
}

/// Every `E` event a transaction emitted.
pub fn receipt_events<E: SolEvent>(receipt: &alloy::rpc::types::TransactionReceipt) -> Vec<E> {
    receipt
        .logs()
        .iter()
        .filter_map(|l| l.log_decode::<E>().ok())
        .map(|l| l.inner.data)
        .collect()
}

#[cfg(test)]
mod tests {
    use alloy::primitives::{Address, U256};

    #[test]
    fn a_final_proposal_scores_each_committed_bundle_as_settle_would() {
        let who = Address::repeat_byte(0xAB);
        // Bundle 0: 3 tasks, 20 agreed, 2 disagreed, 1 gold agreed, 1 gold disagreed; 5 slashed, 2 shared.
        // Bundle 1 was never committed (zero credit).
        let credit = (U256::from_be_slice(who.as_slice()) << 96)
            | U256::from(3u64)
            | (U256::from(20u64) << 16)
            | (U256::from(2u64) << 32)
            | (U256::from(1u64) << 48)
            | (U256::from(1u64) << 64);
        let amounts = (U256::from(5u64) << 128) | U256::from(2u64);
        let credits = [credit, amounts, U256::ZERO, U256::ZERO];
        let s = super::proposal_scores(7, &credits, U256::from(10u64));
        assert_eq!(s.len(), 1, "the bundle never committed is left out");
        let e = &s[0];
        assert_eq!(
            (e.batchId, e.bundleId, e.annotator),
            (U256::from(7u64), U256::ZERO, who)
        );
        assert_eq!(
            (e.tasks, e.agreed, e.disagreed, e.reward),
            (
                U256::from(3u64),
                U256::from(21u64),
                U256::from(3u64),
                U256::from(210u64)
            ),
            "gold answers count with the consensus, as in BundleScored"
        );
        assert_eq!(
            (e.slashed, e.redistributed),
            (U256::from(5u64), U256::from(2u64))
        );
    }

    #[test]
    fn a_reservation_holds_the_tickets_inside_its_rounds_pool() {
        let t = |first, size| crate::store::Tickets {
            lane: 0,
            round: 2,
            first,
            size,
        };
        assert_eq!(super::held_size(&t(0, 2), 5), 2, "inside the pool");
        assert_eq!(
            super::held_size(&t(3, 4), 5),
            2,
            "the tickets past the pool are void"
        );
        assert_eq!(super::held_size(&t(5, 1), 5), 0, "all past the pool");
        assert_eq!(super::held_size(&t(7, 3), 5), 0, "far past it");
    }

    #[test]
    fn provider_range_errors_ask_for_less_and_others_do_not() {
        for e in [
            "query exceeds max block range 1000",
            "Log response size exceeded. You can make eth_getLogs requests with up to a 2K block range",
            "query returned more than 10000 results",
            "eth_getLogs is limited to a 10,000 range",
            "block range is too wide",
        ] {
            assert!(super::asks_for_less(e), "{e}");
        }
        for e in [
            "connection refused",
            "execution reverted",
            "invalid params: bad address",
            "HTTP error 429 with body: Too Many Requests",
            "exceeded the rate limit of 25 requests per second",
            "Your app has exceeded its compute units per second capacity",
        ] {
            assert!(!super::asks_for_less(e), "{e}");
        }
    }
}
