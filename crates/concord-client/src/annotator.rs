//! The annotator's side: stake, join a batch for a bundle of tasks, learn which tasks they are once the round's
//! seed block exists, see verified items, label, commit the bundle (words and salt stored first), reveal (with
//! recovery from the encrypted on-chain backup), collect.

use alloy::primitives::{Address, Bytes, B256, U256};
use concord_bindings::ILabelMarketV2Types::Batch;
use concord_bindings::LabelMarketV2 as M;
use concord_protocol::assignment::Assignment;
use concord_protocol::bundle::{pack_bundle, task_labels};
use concord_protocol::labels::{task_len, unpack};
use concord_protocol::outcome::BatchShape;
use concord_protocol::units::fmt_tokens;
use concord_protocol::BundleStatus;
use futures::{stream, StreamExt, TryStreamExt};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

use crate::dataset::{Manifest, ManifestItem};
use crate::market::{self, batch, bundle_of};
use crate::store::{BundleKey, BundleRecord, LocalStatus, Store, Tickets, COMMIT_END_UNKNOWN};
use crate::{ClientError, Concord, Result};

/// The store key of `annotator`'s bundle `bundle` of `batch` on this client's market.
pub fn bundle_key(c: &Concord, annotator: Address, batch: u64, bundle: u64) -> BundleKey {
    BundleKey {
        chain_id: c.chain_id(),
        market: c.market_address(),
        batch,
        bundle,
        annotator,
    }
}

/// Stakes `amount` (approving the market first if needed).
pub async fn stake(c: &Concord, amount: U256) -> Result<()> {
    let me = c.account()?;
    if amount.is_zero() {
        return Err(ClientError::Input(
            "the amount must be greater than zero".into(),
        ));
    }
    c.ensure_balance(me, amount, "tries to stake").await?;
    c.ensure_allowance("approve stake", c.deployment.token, amount)
        .await?;
    c.send_market("stake", M::stakeCall { amount }).await?;
    Ok(())
}

/// Moves unlocked stake to the unstake queue; returns when it unlocks.
pub async fn request_unstake(c: &Concord, amount: U256) -> Result<u64> {
    let r = c
        .send_market("unstake", M::requestUnstakeCall { amount })
        .await?;
    Ok(market::receipt_event::<M::UnstakeRequested>(&r)
        .map(|e| e.unlockAt.to::<u64>())
        .unwrap_or_default())
}

/// Withdraws queued stake after the cooldown; returns the amount.
pub async fn withdraw(c: &Concord) -> Result<U256> {
    let r = c.send_market("withdraw", M::withdrawCall {}).await?;
    Ok(market::receipt_event::<M::Withdrawn>(&r)
        .map(|e| e.amount)
        .unwrap_or_default())
}

/// Records a qualification attestation on-chain.
pub async fn qualify(c: &Concord, batch: u64, deadline: u64, signature: Bytes) -> Result<()> {
    let me = c.account()?;
    let call = M::qualifyCall {
        batchId: U256::from(batch),
        annotator: me,
        deadline: U256::from(deadline),
        signature,
    };
    c.send_market("qualify", call).await?;
    Ok(())
}

/// What a join took.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Joined {
    pub batch: u64,
    pub bundle: u64,
    pub lane: u64,
    pub round: u64,
    pub size: u64,
    pub stake_locked: String,
    /// Joins of this round end here (or earlier, when every lane fills); the tasks are known a block after.
    pub join_end: u64,
    /// The bundle must be committed by this chain time.
    pub commit_end: u64,
}

/// What a join of up to `max_tasks` tasks of a batch asks for: the task count and the stake it locks at most.
pub fn join_terms(b: &Batch, max_tasks: Option<u64>) -> Result<(u64, U256)> {
    let max = u64::from(b.config.maxBundle);
    let n = max_tasks.unwrap_or(max);
    if n == 0 || n > max {
        return Err(ClientError::Input(format!(
            "a join of this batch takes 1..={max} tasks, not {n}"
        )));
    }
    Ok((n, U256::from(n) * U256::from(b.config.stakePerTask)))
}

/// Joins the current round of a batch for up to `max_tasks` tasks (default: the batch's bundle limit) and records
/// the bundle locally. Which tasks it holds is fixed only once the round is sealed; see [`refresh`].
pub async fn join(
    c: &Concord,
    store: &Store,
    batch_id: u64,
    max_tasks: Option<u64>,
) -> Result<Joined> {
    let b = batch(c, batch_id).await?;
    let (n, _) = join_terms(&b, max_tasks)?;
    // The review of a generation batch: its qualifier is the generation market, which qualifies anyone who did
    // not contribute to that batch (it refuses contributors with a clear revert).
    if Some(b.config.qualifier) == c.deployment.generation {
        let me = c.account()?;
        let qualified = c
            .market
            .qualified(U256::from(batch_id), me)
            .call()
            .await
            .map_err(c.read_err("read qualification"))?;
        if !qualified {
            let id = crate::generation::generation_of_review(c, batch_id)
                .await?
                .ok_or_else(|| {
                    ClientError::Input(format!(
                        "batch {batch_id} is gated by the generation market but no generation batch opened it"
                    ))
                })?;
            crate::generation::qualify_reviewer(c, id, me).await?;
        }
    }
    let call = M::joinCall {
        batchId: U256::from(batch_id),
        maxTasks: U256::from(n),
    };
    let r = c.send_market("join", call).await?;
    let ev = market::receipt_event::<M::Joined>(&r)
        .ok_or_else(|| ClientError::Input("join: no Joined event in the receipt".into()))?;
    let t = market::tickets(&ev.bundle);
    let rd = market::round(c, batch_id, t.round).await?;
    let bundle = ev.bundleId.to::<u64>();
    store.record_join(
        &bundle_key(c, ev.annotator, batch_id, bundle),
        t,
        rd.commitEnd.to(),
    )?;
    Ok(Joined {
        batch: batch_id,
        bundle,
        lane: t.lane,
        round: t.round,
        size: t.size,
        stake_locked: fmt_tokens(ev.stakeLocked),
        join_end: rd.joinEnd.to(),
        commit_end: rd.commitEnd.to(),
    })
}

/// A join handed to the requester's server instead of sent (`join --via`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HandedJoin {
    pub batch: u64,
    pub round: u64,
    pub max_tasks: u64,
    /// Stake the join adds first (from the wallet, through a permit unless the allowance covers it).
    pub stake_added: String,
    pub permit: bool,
    /// The server's answer.
    pub server: String,
}

/// The stake a join of `n` tasks of `b` needs added to `annotator`'s: what its unlocked stake lacks for the tasks,
/// or its stake for the batch's minimum, whichever is more.
pub async fn stake_needed(c: &Concord, b: &Batch, n: u64, annotator: Address) -> Result<U256> {
    let acct = c
        .market
        .accountOf(annotator)
        .call()
        .await
        .map_err(c.read_err("read stake"))?;
    let (amount, locked) = (U256::from(acct.amount), U256::from(acct.locked));
    let need = U256::from(n) * U256::from(b.config.stakePerTask);
    let unlocked = amount.saturating_sub(locked);
    Ok(need
        .saturating_sub(unlocked)
        .max(U256::from(b.config.minStake).saturating_sub(amount)))
}

/// Signs a join of the batch's joinable round for up to `max_tasks` tasks (default: the bundle limit), staking
/// `stake` first (default: [`stake_needed`]), and hands it to the requester's server at `via` (`serve --publish
/// --accept-joins`), which sends it with the others (`relay`). The bundle reaches the store through [`refresh`]
/// once it is on-chain. Nothing is sent from this account: it needs no ether.
pub async fn join_via(
    c: &Concord,
    batch_id: u64,
    max_tasks: Option<u64>,
    stake: Option<U256>,
    via: &str,
) -> Result<HandedJoin> {
    let b = batch(c, batch_id).await?;
    let (n, _) = join_terms(&b, max_tasks)?;
    if b.config.qualifier != Address::ZERO {
        return Err(ClientError::Input(format!(
            "batch {batch_id} is gated by a qualifier: join it yourself (without --via)"
        )));
    }
    let stake = match stake {
        Some(s) => s,
        None => stake_needed(c, &b, n, c.account()?).await?,
    };
    let sj = crate::relay::sign_join(c, batch_id, n, stake).await?;
    let server = crate::relay::post_joins(via, std::slice::from_ref(&sj))
        .await
        .map_err(|why| {
            ClientError::Input(format!("the server at {via} did not take the join: {why}"))
        })?;
    Ok(HandedJoin {
        batch: batch_id,
        round: u64::from(sj.round),
        max_tasks: n,
        stake_added: fmt_tokens(stake),
        permit: sj.permit.is_some(),
        server,
    })
}

/// Why a bundle's tasks are not known yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(
    rename_all = "camelCase",
    rename_all_fields = "camelCase",
    tag = "waitingFor"
)]
pub enum Pending {
    /// The round takes joins until `join_end` (or until every lane is full).
    Joins { join_end: u64 },
    /// The round is sealed; its seed is the hash of block `block`, not mined yet.
    SeedBlock { block: u64 },
    /// The round's commit window passed without a seed: the bundle can no longer be committed.
    Lost,
    /// Reserved (`commit --join-next`) in a round that opens once the current round's commits end, at `at`.
    Opens { at: u64 },
    /// Reserved in a round whose pool in its lane ended before the bundle's tickets: it holds no task.
    Void,
}

/// Learns the tasks of every joined bundle whose round's seed block exists (sealing a round whose join window
/// passed, which anyone may do), and stores them. Returns the bundles still waiting and why.
pub async fn refresh(
    c: &Concord,
    store: &Store,
    batch_filter: Option<u64>,
) -> Result<Vec<(u64, u64, Pending)>> {
    let me = c.account()?;
    if may_have_lost(c, store, batch_filter).await? {
        recover_joins(c, store, batch_filter).await?;
    }
    let open: Vec<BundleRecord> = store
        .list(c.chain_id(), c.market_address(), me, batch_filter)?
        .into_iter()
        .filter(|r| r.tasks.is_none() && r.status == LocalStatus::Joined)
        .collect();
    let mut waiting = Vec::new();
    let mut shapes: BTreeMap<u64, u64> = BTreeMap::new();
    for rec in open {
        let k = bundle_key(c, me, rec.batch, rec.bundle);
        match seed_of(c, rec.batch, rec.tickets.round).await? {
            Ok(seed) => {
                let mut t = rec.tickets;
                if t.round > 1 {
                    // A bundle reserved before its round opened may hold fewer tasks than tickets: only those
                    // inside the pool (the commit shrinks to them).
                    let pool = u64::from(
                        market::lane_round(c, rec.batch, t.round, t.lane)
                            .await?
                            .pool,
                    );
                    t.size = market::held_size(&t, pool);
                    if t.size == 0 {
                        store.set_status(&k, LocalStatus::Expired)?;
                        waiting.push((rec.batch, rec.bundle, Pending::Void));
                        continue;
                    }
                    if rec.commit_end == COMMIT_END_UNKNOWN {
                        let rd = market::round(c, rec.batch, t.round).await?;
                        store.set_commit_end(&k, rd.commitEnd.to())?;
                    }
                }
                let tasks = if t.round == 1 {
                    // Round 1's pool is every task: the permutation alone, computed here.
                    let num_tasks = match shapes.get(&rec.batch) {
                        Some(&n) => n,
                        None => {
                            let n = u64::from(batch(c, rec.batch).await?.config.numTasks);
                            *shapes.entry(rec.batch).or_insert(n)
                        }
                    };
                    let mut a = Assignment::new(num_tasks);
                    a.set_seed(1, seed);
                    a.tasks_of(t.lane, t.round, t.first, t.size)
                } else {
                    Some(later_round_tasks(c, rec.batch, t).await?)
                };
                let tasks = tasks.ok_or_else(|| {
                    ClientError::Input(format!(
                        "bundle {} of batch {}: its tickets are outside the round's pool (local store out of date?)",
                        rec.bundle, rec.batch
                    ))
                })?;
                store.set_tasks(&k, &tasks, seed)?;
            }
            Err(p) => {
                if p == Pending::Lost {
                    store.set_status(&k, LocalStatus::Expired)?;
                }
                waiting.push((rec.batch, rec.bundle, p));
            }
        }
    }
    Ok(waiting)
}

/// The tasks of a bundle of a round after the first, whose seed block exists: the market maps each ticket
/// (`taskAt`, one read per ticket) once the seed is stored, storing it first if nobody has (`drawSeed`, which its
/// commit would do anyway). Reading the batch's whole event log instead would cost every member of a large batch
/// a read that grows with the batch.
async fn later_round_tasks(c: &Concord, batch_id: u64, t: Tickets) -> Result<Vec<u64>> {
    if market::seed(c, batch_id, t.round).await? == B256::ZERO {
        // (batchId, round): the market's delegating stubs leave their parameters unnamed.
        let call = M::drawSeedCall {
            _0: U256::from(batch_id),
            _1: U256::from(t.round),
        };
        c.send_market("store the round's seed", call).await?;
    }
    stream::iter(t.first..t.first + t.size)
        .map(|ticket| async move {
            let task = c
                .market
                .taskAt(
                    U256::from(batch_id),
                    U256::from(t.lane),
                    U256::from(t.round),
                    U256::from(ticket),
                )
                .call()
                .await
                .map_err(c.read_err("read the task of a ticket"))?;
            Ok::<u64, ClientError>(task.to::<u64>())
        })
        .buffered(16)
        .try_collect()
        .await
}

/// [`refresh`], retrying for up to `wait` while a sealed round's seed block is not mined yet (it comes with the
/// chain's next block). Returns what still waits.
pub async fn refresh_waiting(
    c: &Concord,
    store: &Store,
    batch_filter: Option<u64>,
    wait: std::time::Duration,
) -> Result<Vec<(u64, u64, Pending)>> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let waiting = refresh(c, store, batch_filter).await?;
        let seed_soon = waiting
            .iter()
            .any(|(_, _, p)| matches!(p, Pending::SeedBlock { .. }));
        if !seed_soon || tokio::time::Instant::now() >= deadline {
            return Ok(waiting);
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
}

/// The seed of a round: stored on-chain, or the hash of the block after the round was sealed once it exists.
/// Seals a round whose join window passed.
async fn seed_of(
    c: &Concord,
    batch_id: u64,
    round: u64,
) -> Result<std::result::Result<B256, Pending>> {
    let stored = market::seed(c, batch_id, round).await?;
    if stored != B256::ZERO {
        return Ok(Ok(stored));
    }
    let mut rd = market::round(c, batch_id, round).await?;
    let now = c.chain_time().await?;
    if rd.joinEnd == 0 && round > 1 {
        // Reserved in a round that has not opened: it opens once the previous round's commits are over, by
        // anyone's `seal` (or join); after the commit deadline it never will.
        let prev = market::round(c, batch_id, round - 1).await?;
        let at = prev.commitEnd.to::<u64>() + 1;
        if now > batch(c, batch_id).await?.config.commitDeadline.to::<u64>() {
            return Ok(Err(Pending::Lost));
        }
        if now < at {
            return Ok(Err(Pending::Opens { at }));
        }
        let call = M::sealCall {
            batchId: U256::from(batch_id),
        };
        if let Err(e) = c.send_market("open round", call).await {
            tracing::debug!("open round: {e}");
        }
        rd = market::round(c, batch_id, round).await?;
        if rd.joinEnd == 0 {
            return Ok(Err(Pending::Opens { at }));
        }
    }
    if now > rd.commitEnd.to::<u64>() {
        return Ok(Err(Pending::Lost));
    }
    if rd.sealBlock == 0 {
        if now <= rd.joinEnd.to::<u64>() {
            return Ok(Err(Pending::Joins {
                join_end: rd.joinEnd.to(),
            }));
        }
        // Anyone may seal a round whose join window passed; a race with another sealer is harmless.
        let call = M::sealCall {
            batchId: U256::from(batch_id),
        };
        if let Err(e) = c.send_market("seal round", call).await {
            tracing::debug!("seal: {e}");
        }
        rd = market::round(c, batch_id, round).await?;
    }
    let block = rd.sealBlock + 1;
    let head = c.block_number().await?;
    if head < block {
        return Ok(Err(Pending::SeedBlock { block }));
    }
    if head - block >= 256 {
        // The seed block left the 256-block window unstored: `drawSeed` re-arms the round from a later block.
        let call = M::drawSeedCall {
            _0: U256::from(batch_id),
            _1: U256::from(round),
        };
        c.send_market("re-arm round seed", call).await?;
        let rd = market::round(c, batch_id, round).await?;
        return Ok(Err(Pending::SeedBlock {
            block: rd.sealBlock + 1,
        }));
    }
    Ok(Ok(c.block_hash(block).await?))
}

/// Items of one task of a batch, with the batch and its verified manifest.
pub struct TaskItems {
    pub batch: Batch,
    pub manifest: Manifest,
    pub items: Vec<ManifestItem>,
    /// Per item, the verified local copy of its media file (none for an item without one).
    pub media: Vec<Option<std::path::PathBuf>>,
}

/// Where verified media files are kept.
pub fn media_cache() -> std::path::PathBuf {
    crate::concord_home().join("media")
}

/// The verified manifest of a batch, the items of one task and their media files, fetched and verified against
/// the hashes in the manifest (an item whose file does not match fails the call, naming the item).
pub async fn task_items(c: &Concord, batch_id: u64, task: u64) -> Result<TaskItems> {
    let b = batch(c, batch_id).await?;
    if task >= u64::from(b.config.numTasks) {
        return Err(ClientError::Input(format!(
            "batch {batch_id} has tasks 0..{}, not {task}",
            b.config.numTasks
        )));
    }
    let m = market::verify_manifest(c, batch_id, &b, None).await?;
    let k = usize::from(b.config.taskSize);
    let start = task as usize * k;
    let items = m.items[start..(start + k).min(m.items.len())].to_vec();
    let media = crate::media::verified_media_all(&items, &c.ipfs_gateway, &media_cache()).await?;
    Ok(TaskItems {
        batch: b,
        manifest: m,
        items,
        media,
    })
}

/// Stores labels for a task of one of this account's bundles after checking count and class range.
pub async fn label(
    c: &Concord,
    store: &Store,
    batch_id: u64,
    task: u64,
    labels: &[u8],
) -> Result<()> {
    label_many(c, store, batch_id, &[(task, labels.to_vec())]).await
}

/// Stores labels of many tasks of one batch (one batch read for all), each checked first: one label per item of
/// the task, every label a class of the batch, the task in one of this account's uncommitted bundles.
pub async fn label_many(
    c: &Concord,
    store: &Store,
    batch_id: u64,
    tasks: &[(u64, Vec<u8>)],
) -> Result<()> {
    let me = c.account()?;
    let b = batch(c, batch_id).await?;
    let shape = market::shape(&b.config);
    for (task, labels) in tasks {
        check_labels(&shape, *task, labels)?;
        store.set_labels(
            c.chain_id(),
            c.market_address(),
            me,
            batch_id,
            *task,
            labels,
        )?;
    }
    Ok(())
}

/// One label per item of the task, every label a class of the batch.
fn check_labels(shape: &BatchShape, task: u64, labels: &[u8]) -> Result<()> {
    let expected = task_len(shape.num_items, shape.task_size, task);
    if labels.len() as u64 != expected {
        return Err(ClientError::Input(format!(
            "task {task} has {expected} items but {} labels were given",
            labels.len()
        )));
    }
    if let Some((i, l)) = labels
        .iter()
        .enumerate()
        .find(|(_, &l)| usize::from(l) >= shape.num_classes)
    {
        return Err(ClientError::Input(format!(
            "label {l} for item {i} of task {task} is out of range: this batch has classes 0..{}",
            shape.num_classes - 1
        )));
    }
    Ok(())
}

/// What a commit or reveal run did, per bundle `(batch, bundle)`.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunReport {
    pub done: Vec<(u64, u64)>,
    pub waiting: Vec<(u64, u64)>,
    /// Bundles whose round's commit window closed before they were committed (marked expired locally; anyone
    /// can release them on-chain, forfeiting the squat penalty).
    pub expired: Vec<(u64, u64)>,
    /// Bundles the store had as committed whose commit is no longer on the chain (a reorg replaced the block it
    /// was in). `commit` sends them again with the stored salt and labels; `reveal` reports them for `commit`.
    pub reorged_commits: Vec<(u64, u64)>,
    /// Bundles the store had as revealed whose reveal is no longer on the chain; `reveal` sends them again.
    pub reorged_reveals: Vec<(u64, u64)>,
    /// Bundles this store joined that are not on the chain at all (a reorg replaced the join's block): nothing was
    /// locked for them; join again.
    pub reorged_joins: Vec<(u64, u64)>,
    pub failed: Vec<String>,
    pub recovered: usize,
    /// Bundles whose reveal was handed to the settler (`reveal` with `via`): no transaction was sent; the
    /// settlement carries it. Until the batch settles, `reveal` without `via` still reveals them on-chain.
    pub handed: Vec<(u64, u64)>,
    /// Hand-overs the settler refused or could not take (one line each); those bundles were revealed on-chain.
    pub handoff_refused: Vec<String>,
    /// Next-round bundles reserved by commits (`commit` with `join_next`).
    pub reserved: Vec<Reserved>,
    /// Commits sent without the next round's join that `join_next` asked for, one line each saying why.
    pub not_reserved: Vec<String>,
}

/// A bundle of the next round a commit reserved in the same transaction (`commitAndJoin`). Its tasks are drawn
/// once that round opens (after the current round's commits) and seals; tickets past the round's pool hold none.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Reserved {
    pub batch: u64,
    pub bundle: u64,
    pub round: u64,
    pub size: u64,
    pub stake_locked: String,
}

/// Commits every bundle whose tasks are all labeled (optionally of one batch). Words, salt and hash hit the disk
/// (fsync) before the transaction is sent; a bundle left `committing` by a crash is checked on-chain and re-sent
/// with the same salt. So is a bundle whose commit a reorg removed from the chain while its window is open
/// (reported in [`RunReport::reorged_commits`]).
///
/// With `join_next`, each commit also joins the next round of its batch for up to that many tasks in the same
/// transaction (`commitAndJoin`: one transaction per bundle instead of two), when the lane can still leave
/// positions to it and the stake covers them; otherwise it is a plain commit. A reservation the market refuses
/// (another member took the last positions first) is retried as a plain commit.
///
/// With `via` (the requester's `serve --publish DIR --accept-commits`), each commit (with its join) is signed and
/// handed over instead of sent (`crate::relay`): the requester sends it with others in one transaction. The
/// bundle stays `committing` locally until its commit is seen on-chain; a run past the first
/// `1 - 1 / HANDOFF_MARGIN_SHARE` of the round's commit window sends it itself, and so does a hand-over the
/// server refuses.
pub async fn commit(
    c: &Concord,
    store: &Store,
    batch_filter: Option<u64>,
    join_next: Option<u64>,
    via: Option<&str>,
) -> Result<RunReport> {
    let me = c.account()?;
    let backup = c.backup_key()?;
    let now = c.chain_time().await?;
    let mut report = RunReport::default();
    let mut calls = Vec::new();
    let mut keys = Vec::new();
    let mut folded = Vec::new();
    let mut folded_keys = Vec::new();
    let mut batches: BTreeMap<u64, Batch> = BTreeMap::new();
    for mut rec in store.list(c.chain_id(), c.market_address(), me, batch_filter)? {
        let k = bundle_key(c, me, rec.batch, rec.bundle);
        // A commit this store saw confirmed may have been in a block a reorg replaced: while the window is open it
        // can be sent again, so check.
        if rec.status == LocalStatus::Committed
            && now <= rec.commit_end
            && market::bundle_status(c, rec.batch, rec.bundle).await? == BundleStatus::Joined
        {
            store.set_status(&k, LocalStatus::Committing)?;
            rec.status = LocalStatus::Committing;
            report.reorged_commits.push((rec.batch, rec.bundle));
        }
        if matches!(rec.status, LocalStatus::Joined | LocalStatus::Committing) {
            let onchain = market::bundle_status(c, rec.batch, rec.bundle).await?;
            if onchain.has_committed() {
                store.set_status(&k, LocalStatus::Committed)?;
                report.done.push((rec.batch, rec.bundle));
                continue;
            }
            // Inside its window a bundle is never released, so a missing one was never joined on this chain: a reorg
            // replaced the join's block. It can never be committed; say so once.
            if onchain == BundleStatus::None && now <= rec.commit_end {
                store.set_status(&k, LocalStatus::Expired)?;
                report.reorged_joins.push((rec.batch, rec.bundle));
                continue;
            }
            // Past its window (or already released on-chain): it can never be committed; say so once.
            if now > rec.commit_end || onchain == BundleStatus::None {
                store.set_status(&k, LocalStatus::Expired)?;
                report.expired.push((rec.batch, rec.bundle));
                continue;
            }
        }
        let rec = match rec.status {
            LocalStatus::Joined => {
                let Some(labels) = rec.complete_labels() else {
                    report.waiting.push((rec.batch, rec.bundle));
                    continue;
                };
                let words = pack_bundle(&labels).ok_or_else(|| {
                    ClientError::Input(format!(
                        "bundle {}: a task has more than 32 items",
                        rec.bundle
                    ))
                })?;
                store.prepare_commit(&k, &words, B256::from(rand::random::<[u8; 32]>()), None)?;
                // Read back what was stored: an existing salt is kept.
                store.get(&k)?.unwrap_or(rec)
            }
            LocalStatus::Committing => rec,
            _ => continue,
        };
        let (Some(words), Some(salt), Some(hash)) = (&rec.words, rec.salt, rec.commit_hash) else {
            continue;
        };
        let call = M::commitCall {
            batchId: U256::from(rec.batch),
            bundleId: U256::from(rec.bundle),
            bundle: bundle_of(me, &rec.tickets),
            commitHash: hash,
            backup: backup.seal(words, salt).into(),
        };
        let b = match batches.entry(rec.batch) {
            std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::btree_map::Entry::Vacant(e) => e.insert(batch(c, rec.batch).await?),
        };
        let reserve = match join_next {
            Some(m) => match reservable(c, b, &rec, m).await? {
                Ok(n) => n,
                Err(why) => {
                    report.not_reserved.push(format!(
                        "batch {} bundle {}: committed without joining the next round: {why}",
                        rec.batch, rec.bundle
                    ));
                    0
                }
            },
            None => 0,
        };
        if let Some(url) = via {
            let window = u64::from(b.config.commitWindow);
            let until = rec.commit_end.saturating_sub(window / HANDOFF_MARGIN_SHARE);
            if now >= until {
                report.handoff_refused.push(format!(
                    "batch {} bundle {}: the round's commit window is near its end (hand-overs stop at {}), so it is sent",
                    rec.batch,
                    rec.bundle,
                    concord_protocol::time::fmt_unix(until)
                ));
            } else {
                let signed = crate::relay::sign(
                    c,
                    rec.batch,
                    rec.bundle,
                    &call.bundle,
                    hash,
                    call.backup.clone(),
                    reserve,
                )?;
                match crate::relay::post(url, std::slice::from_ref(&signed)).await {
                    Ok(_) => {
                        report.handed.push((rec.batch, rec.bundle));
                        continue;
                    }
                    Err(why) => report
                        .handoff_refused
                        .push(format!("batch {} bundle {}: {why}", rec.batch, rec.bundle)),
                }
            }
        }
        if reserve == 0 {
            calls.push(call);
            keys.push(k);
        } else {
            // (batchId, bundleId, bundle, commitHash, backup, maxTasks): a delegating stub's unnamed parameters.
            folded.push(M::commitAndJoinCall {
                _0: call.batchId,
                _1: call.bundleId,
                _2: call.bundle,
                _3: call.commitHash,
                _4: call.backup,
                _5: U256::from(reserve),
            });
            folded_keys.push(k);
        }
    }
    let results = c.send_market_many("commit", calls).await;
    record_outcomes(store, &keys, results, LocalStatus::Committed, &mut report)?;
    if folded.is_empty() {
        return Ok(report);
    }
    let results = c
        .send_market_many("commit and join the next round", folded.clone())
        .await;
    let (mut retry, mut retry_keys) = (Vec::new(), Vec::new());
    for ((k, call), r) in folded_keys.into_iter().zip(folded).zip(results) {
        match r {
            Ok(receipt) => {
                store.set_status(&k, LocalStatus::Committed)?;
                report.done.push((k.batch, k.bundle));
                if let Some(ev) = market::receipt_event::<M::Joined>(&receipt) {
                    let t = market::tickets(&ev.bundle);
                    let id = ev.bundleId.to::<u64>();
                    store.record_join(&bundle_key(c, me, k.batch, id), t, COMMIT_END_UNKNOWN)?;
                    report.reserved.push(Reserved {
                        batch: k.batch,
                        bundle: id,
                        round: t.round,
                        size: t.size,
                        stake_locked: fmt_tokens(ev.stakeLocked),
                    });
                }
            }
            // The reservation was refused — at the estimate, or on-chain when another member's reservation in the
            // same block took the lane's last positions first: the transaction did nothing, so commit alone.
            Err(e @ (ClientError::Revert { .. } | ClientError::Reverted { .. })) => {
                report.not_reserved.push(format!(
                    "batch {} bundle {}: committed without joining the next round: the market refused the join ({e})",
                    k.batch, k.bundle
                ));
                retry.push(M::commitCall {
                    batchId: call._0,
                    bundleId: call._1,
                    bundle: call._2,
                    commitHash: call._3,
                    backup: call._4,
                });
                retry_keys.push(k);
            }
            Err(e) => report
                .failed
                .push(format!("batch {} bundle {}: {e}", k.batch, k.bundle)),
        }
    }
    let results = c.send_market_many("commit", retry).await;
    record_outcomes(
        store,
        &retry_keys,
        results,
        LocalStatus::Committed,
        &mut report,
    )?;
    Ok(report)
}

/// How many tasks of the next round a commit of `rec` can reserve (up to `m`), by the market's rules: a round left
/// before the last, time for it before the commit deadline, positions its lane can still leave uncommitted past
/// those reserved already, and unlocked stake for them. `Err`: why none (the bundle is then committed alone).
async fn reservable(
    c: &Concord,
    b: &Batch,
    rec: &BundleRecord,
    m: u64,
) -> Result<std::result::Result<u64, String>> {
    const MAX_ROUNDS: u64 = 255;
    let t = rec.tickets;
    let held = rec.held_tickets().size;
    let cfg = &b.config;
    if t.round + 1 > MAX_ROUNDS {
        return Ok(Err(format!("round {MAX_ROUNDS} is a batch's last")));
    }
    let rd = market::round(c, rec.batch, t.round).await?;
    let earliest =
        rd.commitEnd.to::<u64>() + 1 + u64::from(cfg.roundPeriod) + u64::from(cfg.commitWindow);
    if earliest > cfg.commitDeadline.to::<u64>() {
        return Ok(Err(
            "a next round would end after the batch's commit deadline".into(),
        ));
    }
    // The market lets a reservation take what the round can still leave uncommitted (positions joined but not
    // committed yet count); the client takes only the positions nobody joined in this round, which the next round
    // is sure to have — so its tickets never fall past the pool (no stake locked for nothing) unless another
    // member's reservation lands first.
    let cur = market::lane_round(c, rec.batch, t.round, t.lane).await?;
    let unjoined = u64::from(cur.pool).saturating_sub(u64::from(cur.taken));
    let limit = u64::from(cur.pool)
        .saturating_sub(u64::from(cur.committed) + held)
        .min(unjoined);
    let taken = u64::from(
        market::lane_round(c, rec.batch, t.round + 1, t.lane)
            .await?
            .taken,
    );
    let room = limit.saturating_sub(taken);
    if room == 0 {
        return Ok(Err(format!(
            "every position of lane {} in this round was joined, so the next round may have none",
            t.lane
        )));
    }
    let acct = c
        .market
        .accountOf(c.account()?)
        .call()
        .await
        .map_err(c.read_err("read stake"))?;
    if U256::from(acct.amount) < U256::from(cfg.minStake) {
        return Ok(Err(format!(
            "the batch asks for a stake of {} CCD; stake more",
            fmt_tokens(U256::from(cfg.minStake))
        )));
    }
    let per_task = U256::from(cfg.stakePerTask);
    // The commit unlocks the stake of tickets past the pool before the join locks.
    let unlocked =
        U256::from(acct.amount) - U256::from(acct.locked) + U256::from(t.size - held) * per_task;
    let affordable = if per_task.is_zero() {
        u64::MAX
    } else {
        (unlocked / per_task).saturating_to::<u64>()
    };
    if affordable == 0 {
        return Ok(Err(format!(
            "{} CCD of unlocked stake covers no task at {} CCD each; stake more",
            fmt_tokens(unlocked),
            fmt_tokens(per_task)
        )));
    }
    Ok(Ok(m
        .min(u64::from(cfg.maxBundle))
        .min(room)
        .min(affordable)))
}

/// Records the outcome of a pipeline: confirmed bundles move to `status`, failures are reported per bundle.
fn record_outcomes(
    store: &Store,
    keys: &[BundleKey],
    results: Vec<Result<alloy::rpc::types::TransactionReceipt>>,
    status: LocalStatus,
    report: &mut RunReport,
) -> Result<()> {
    for (k, r) in keys.iter().zip(results) {
        match r {
            Ok(_) => {
                store.set_status(k, status)?;
                report.done.push((k.batch, k.bundle));
            }
            Err(e) => report
                .failed
                .push(format!("batch {} bundle {}: {e}", k.batch, k.bundle)),
        }
    }
    Ok(())
}

/// Whether the store may lack a bundle this account joined: it holds none (of `batch_filter`, or at all), or the
/// market says the account joined a round of one of its batches later than any the store holds. One read per batch,
/// where [`recover`] reads the account's events over the whole chain.
async fn may_have_lost(c: &Concord, store: &Store, batch_filter: Option<u64>) -> Result<bool> {
    let me = c.account()?;
    let mut last: BTreeMap<u64, u64> = BTreeMap::new();
    for r in store.list(c.chain_id(), c.market_address(), me, batch_filter)? {
        let round = last.entry(r.batch).or_default();
        *round = (*round).max(r.tickets.round);
    }
    if last.is_empty() {
        return Ok(true);
    }
    for (b, round) in last {
        let m = c
            .market
            .memberOf(U256::from(b), me)
            .call()
            .await
            .map_err(c.read_err("read membership"))?;
        if m.lastRound.to::<u64>() > round {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Records the bundles this account joined on-chain that the store does not hold and that are still only joined —
/// a crash between a join's (or `commitAndJoin`'s) receipt and its record, or a new machine — so that their tasks
/// are learned and labeled as usual instead of expiring. Returns how many.
async fn recover_joins(c: &Concord, store: &Store, batch_filter: Option<u64>) -> Result<usize> {
    let me = c.account()?;
    let mut recovered = 0;
    for ev in market::joins_of(c, me, batch_filter).await? {
        let (b, id) = (ev.batchId.to::<u64>(), ev.bundleId.to::<u64>());
        let k = bundle_key(c, me, b, id);
        if store.get(&k)?.is_some()
            || market::bundle_status(c, b, id).await? != BundleStatus::Joined
        {
            continue;
        }
        let t = market::tickets(&ev.bundle);
        let rd = market::round(c, b, t.round).await?;
        let end = if rd.joinEnd == 0 {
            COMMIT_END_UNKNOWN // reserved in a round not open yet
        } else {
            rd.commitEnd.to()
        };
        store.record_join(&k, t, end)?;
        recovered += 1;
    }
    Ok(recovered)
}

/// Restores commits missing from the local store from their encrypted backups in `Committed` events (with the
/// bundle from its `Joined` event and its tasks from the round's seed).
pub async fn recover(c: &Concord, store: &Store, batch_filter: Option<u64>) -> Result<usize> {
    let me = c.account()?;
    let key_ = c.backup_key()?;
    let commits = market::commits_of(c, me, batch_filter).await?;
    let mut missing = Vec::new();
    for ev in commits {
        let (b, id) = (ev.batchId.to::<u64>(), ev.bundleId.to::<u64>());
        let k = bundle_key(c, me, b, id);
        if store.get(&k)?.and_then(|r| r.salt).is_none() {
            missing.push((k, ev));
        }
    }
    if missing.is_empty() {
        return Ok(0);
    }
    let joins: BTreeMap<(u64, u64), Tickets> = market::joins_of(c, me, batch_filter)
        .await?
        .into_iter()
        .map(|e| {
            (
                (e.batchId.to(), e.bundleId.to()),
                market::tickets(&e.bundle),
            )
        })
        .collect();
    let mut batches = BTreeMap::new();
    let mut recovered = 0;
    for (k, ev) in missing {
        let Some((words, salt)) = key_.open(&ev.backup) else {
            continue;
        };
        let Some(t) = joins.get(&(k.batch, k.bundle)).copied() else {
            continue;
        };
        if k.commit_hash(&words, salt) != ev.commitHash {
            continue;
        }
        let (b, log) = match batches.entry(k.batch) {
            std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::btree_map::Entry::Vacant(e) => {
                let b = batch(c, k.batch).await?;
                let log = market::batch_log(c, k.batch, &b.config).await?;
                e.insert((b, log))
            }
        };
        // The bundle as committed (a reservation may have shrunk at its commit).
        let t = log
            .bundles
            .get(&k.bundle)
            .map_or(t, |b| market::tickets(&b.bundle));
        let Some(tasks) = log.assignment.tasks_of(t.lane, t.round, t.first, t.size) else {
            continue;
        };
        let labels: Vec<Vec<u8>> = tasks
            .iter()
            .enumerate()
            .map(|(i, &task)| {
                let n = market::task_len(&b.config, task) as usize;
                unpack(task_labels(&words, i).unwrap_or_default(), n)
            })
            .collect();
        let rd = market::round(c, k.batch, t.round).await?;
        store.record_join(&k, t, rd.commitEnd.to())?;
        store.prepare_commit(&k, &words, salt, Some((&tasks, &labels)))?;
        store.set_status(&k, LocalStatus::Committed)?;
        recovered += 1;
    }
    Ok(recovered)
}

/// Reveals every committed bundle whose batch accepts reveals (recovering lost salts from backups first). While a
/// batch takes reveals, bundles the store has as revealed are checked too: a reveal a reorg removed from the chain
/// is sent again, and a commit it removed is reported in [`RunReport::reorged_commits`] for `commit` to re-send.
/// The last `1 / HANDOFF_MARGIN_SHARE` of a batch's reveal window is kept for revealing on-chain: `reveal --via`
/// run then reveals on-chain, so an annotator that runs it again late is never slashed for a settler's silence.
pub const HANDOFF_MARGIN_SHARE: u64 = 4;

/// With `via` (the settler's URL: the requester's `serve --publish DIR --accept-reveals`), each open reveal is
/// handed over instead of sent (`crate::handoff`); one the settler does not take is sent on-chain after all.
pub async fn reveal(
    c: &Concord,
    store: &Store,
    batch_filter: Option<u64>,
    via: Option<&str>,
) -> Result<RunReport> {
    let me = c.account()?;
    let recovered = if may_have_lost(c, store, batch_filter).await? {
        recover(c, store, batch_filter).await?
    } else {
        0
    };
    let mut report = RunReport {
        recovered,
        ..Default::default()
    };
    let now = c.chain_time().await?;
    let candidates: Vec<BundleRecord> = store
        .list(c.chain_id(), c.market_address(), me, batch_filter)?
        .into_iter()
        .filter(|r| {
            matches!(
                r.status,
                LocalStatus::Committing | LocalStatus::Committed | LocalStatus::Revealed
            ) && r.words.is_some()
                && r.salt.is_some()
        })
        .collect();
    let mut open = BTreeMap::new();
    // Reveals are handed over only while there is time to reveal on-chain if the settler does not settle: before
    // the last quarter of the reveal window (see `HANDOFF_MARGIN_SHARE`).
    let mut hand_until = BTreeMap::new();
    for b in candidates.iter().map(|r| r.batch).collect::<BTreeSet<_>>() {
        let info = batch(c, b).await?;
        open.insert(b, market::reveal_open(&info, now));
        let (commit, reveal) = (
            info.config.commitDeadline.to::<u64>(),
            info.config.revealDeadline.to::<u64>(),
        );
        hand_until.insert(
            b,
            reveal - reveal.saturating_sub(commit) / HANDOFF_MARGIN_SHARE,
        );
    }
    let is_open = |b: u64| open.get(&b).copied().unwrap_or(false);
    let candidates: Vec<BundleRecord> = candidates
        .into_iter()
        .filter(|r| r.status != LocalStatus::Revealed || is_open(r.batch))
        .collect();
    let ids: Vec<(u64, u64)> = candidates.iter().map(|r| (r.batch, r.bundle)).collect();
    let statuses: Vec<BundleStatus> = stream::iter(ids)
        .map(|(b, id)| market::bundle_status(c, b, id))
        .buffered(32)
        .try_collect()
        .await?;
    let mut calls = Vec::new();
    let mut keys = Vec::new();
    for (rec, onchain) in candidates.iter().zip(statuses) {
        let (Some(words), Some(salt)) = (&rec.words, rec.salt) else {
            continue;
        };
        let k = bundle_key(c, me, rec.batch, rec.bundle);
        match onchain {
            BundleStatus::Revealed => {
                if rec.status != LocalStatus::Revealed {
                    store.set_status(&k, LocalStatus::Revealed)?;
                }
                continue;
            }
            // Revealed here, only committed on the chain: a reorg replaced the reveal's block. Send it again.
            BundleStatus::Committed if rec.status == LocalStatus::Revealed => {
                report.reorged_reveals.push((rec.batch, rec.bundle));
            }
            BundleStatus::Committed => {}
            // The store saw this commit confirmed, but the chain no longer has it: a reorg replaced its block.
            // Salt and labels stay stored; `commit` sends it again.
            BundleStatus::Joined
                if matches!(rec.status, LocalStatus::Committed | LocalStatus::Revealed) =>
            {
                store.set_status(&k, LocalStatus::Committing)?;
                report.reorged_commits.push((rec.batch, rec.bundle));
                continue;
            }
            _ => continue, // the commit never landed: `commit` re-sends it
        }
        if !is_open(rec.batch) {
            report.waiting.push((rec.batch, rec.bundle));
            continue;
        }
        let until = hand_until.get(&rec.batch).copied().unwrap_or(0);
        match via {
            Some(_) if now >= until => report.handoff_refused.push(format!(
                "batch {} bundle {}: the reveal deadline is near (hand-overs stop at {}), so it is not left to the settler",
                rec.batch,
                rec.bundle,
                concord_protocol::time::fmt_unix(until)
            )),
            Some(url) => {
                let h = crate::handoff::Handoff {
                    chain_id: c.chain_id(),
                    market: c.market_address(),
                    batch: rec.batch,
                    bundle: rec.bundle,
                    labels: words.clone(),
                    salt,
                };
                match crate::handoff::post(url, &h).await {
                    Ok(_) => {
                        report.handed.push((rec.batch, rec.bundle));
                        continue;
                    }
                    Err(why) => report
                        .handoff_refused
                        .push(format!("batch {} bundle {}: {why}", rec.batch, rec.bundle)),
                }
            }
            None => {}
        }
        calls.push(M::revealCall {
            batchId: U256::from(rec.batch),
            bundleId: U256::from(rec.bundle),
            bundle: bundle_of(me, &rec.held_tickets()),
            labels: words.clone(),
            salt,
        });
        keys.push(k);
    }
    let results = c.send_market_many("reveal", calls).await;
    record_outcomes(store, &keys, results, LocalStatus::Revealed, &mut report)?;
    Ok(report)
}

/// Collects everything credited to this account in the protocol token and the reward tokens of its batches.
pub async fn collect(c: &Concord, store: &Store) -> Result<Vec<(Address, U256)>> {
    let me = c.account()?;
    let mut tokens = BTreeSet::from([c.deployment.token]);
    for b in store
        .list(c.chain_id(), c.market_address(), me, None)?
        .iter()
        .map(|r| r.batch)
        .collect::<BTreeSet<_>>()
    {
        tokens.insert(batch(c, b).await?.config.rewardToken);
    }
    let mut out = Vec::new();
    for t in tokens {
        let amount = c
            .market
            .claimable(me, t)
            .call()
            .await
            .map_err(c.read_err("read claimable"))?;
        if amount.is_zero() {
            continue;
        }
        c.send_market("collect", M::collectCall { token: t })
            .await?;
        out.push((t, amount));
    }
    Ok(out)
}

/// An annotator's standing: stake (global) and reputation in one domain.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Standing {
    pub address: Address,
    pub balance: String,
    pub staked: String,
    pub locked: String,
    pub pending_unstake: String,
    pub unlock_at: u64,
    pub claimable: String,
    /// The reputation domain (a batch's qualifier, or its requester).
    pub domain: Address,
    pub reputation: i64,
    pub accepted: u64,
    pub rejected: u64,
    pub gold_correct: u64,
    pub gold_wrong: u64,
    pub unrevealed: u64,
    pub squatted: u64,
}

/// The reputation domain of a batch.
pub async fn domain_of(c: &Concord, batch_id: u64) -> Result<Address> {
    c.market
        .domainOf(U256::from(batch_id))
        .call()
        .await
        .map_err(c.read_err("read reputation domain"))
}

/// Reads balance, stake, claimable protocol tokens and reputation in `domain` of `who`.
pub async fn standing(c: &Concord, who: Address, domain: Address) -> Result<Standing> {
    let m = &c.market;
    let (balance, acct, pending, rep, score, claimable) = tokio::try_join!(
        async { c.token.balanceOf(who).call().await },
        async { m.accountOf(who).call().await },
        async { m.pendingUnstake(who).call().await },
        async { m.reputationOf(who, domain).call().await },
        async { m.reputationScore(who, domain).call().await },
        async { m.claimable(who, c.deployment.token).call().await },
    )
    .map_err(c.read_err("read standing"))?;
    let f = fmt_tokens;
    Ok(Standing {
        address: who,
        balance: f(balance),
        staked: f(U256::from(acct.amount)),
        locked: f(U256::from(acct.locked)),
        pending_unstake: f(pending),
        unlock_at: acct.unlockAt.to(),
        claimable: f(claimable),
        domain,
        reputation: i64::try_from(score).unwrap_or(i64::MIN),
        accepted: rep.accepted.to(),
        rejected: rep.rejected.to(),
        gold_correct: rep.goldCorrect.to(),
        gold_wrong: rep.goldWrong.to(),
        unrevealed: rep.unrevealed.to(),
        squatted: rep.squatted.to(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_checked_against_the_task_and_the_classes() {
        let shape = BatchShape {
            num_items: 25,
            task_size: 10,
            num_classes: 3,
            threshold_bps: 6600,
        };
        assert!(check_labels(&shape, 0, &[0; 10]).is_ok());
        assert!(
            check_labels(&shape, 2, &[2; 5]).is_ok(),
            "the last task is shorter"
        );
        assert_eq!(
            check_labels(&shape, 2, &[0; 10]).unwrap_err().to_string(),
            "task 2 has 5 items but 10 labels were given"
        );
        assert_eq!(
            check_labels(&shape, 0, &[0, 1, 3, 0, 0, 0, 0, 0, 0, 0])
                .unwrap_err()
                .to_string(),
            "label 3 for item 2 of task 0 is out of range: this batch has classes 0..2"
        );
    }
}
