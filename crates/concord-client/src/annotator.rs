//! The annotator's side: stake, claim, see verified items, label, commit (salt stored first), reveal (with
//! recovery from the encrypted on-chain backup), collect.

use alloy::primitives::{Address, Bytes, B256, U256};
use alloy::rpc::types::TransactionReceipt;
use concord_bindings::ILabelMarket::BatchConfig;
use concord_bindings::LabelMarket;
use concord_protocol::labels::{pack, task_len, unpack};
use concord_protocol::outcome::BatchShape;
use concord_protocol::units::fmt_tokens;
use concord_protocol::{reveal_open, AssignmentStatus};
use futures::{stream, StreamExt, TryStreamExt};
use serde::Serialize;
use std::collections::BTreeSet;

use crate::dataset::{Manifest, ManifestItem};
use crate::market::{self, batch};
use crate::store::{LocalStatus, Store, TaskKey};
use crate::{ClientError, Concord, Result};

/// The store key of `annotator`'s assignment to `task` of `batch` on this client's market.
pub fn task_key(c: &Concord, annotator: Address, batch: u64, task: u64) -> TaskKey {
    TaskKey {
        chain_id: c.chain_id(),
        market: c.market_address(),
        batch,
        task,
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
    let balance = c.token_balance(me).await?;
    if balance < amount {
        return Err(ClientError::Input(format!(
            "insufficient CCD balance: {me} holds {} but tries to stake {}",
            fmt_tokens(balance),
            fmt_tokens(amount)
        )));
    }
    c.ensure_allowance("approve stake", c.deployment.token, amount)
        .await?;
    c.send_market("stake", LabelMarket::stakeCall { amount })
        .await?;
    Ok(())
}

/// Moves unlocked stake to the unstake queue; returns when it unlocks.
pub async fn request_unstake(c: &Concord, amount: U256) -> Result<u64> {
    let r = c
        .send_market("unstake", LabelMarket::requestUnstakeCall { amount })
        .await?;
    Ok(market::receipt_event::<LabelMarket::UnstakeRequested>(&r)
        .map(|e| e.unlockAt.to::<u64>())
        .unwrap_or_default())
}

/// Withdraws queued stake after the cooldown; returns the amount.
pub async fn withdraw(c: &Concord) -> Result<U256> {
    let r = c
        .send_market("withdraw", LabelMarket::withdrawCall {})
        .await?;
    Ok(market::receipt_event::<LabelMarket::Withdrawn>(&r)
        .map(|e| e.amount)
        .unwrap_or_default())
}

/// Records a qualification attestation on-chain.
pub async fn qualify(c: &Concord, batch: u64, deadline: u64, signature: Bytes) -> Result<()> {
    let me = c.account()?;
    let call = LabelMarket::qualifyCall {
        batchId: U256::from(batch),
        annotator: me,
        deadline: U256::from(deadline),
        signature,
    };
    c.send_market("qualify", call).await?;
    Ok(())
}

/// A claimed task.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Claim {
    pub batch: u64,
    pub task: u64,
    pub slot: u64,
    pub expiry: u64,
}

/// Records the task a confirmed claim landed on (from its `Claimed` event) in the store.
fn record_claim(
    c: &Concord,
    store: &Store,
    batch_id: u64,
    receipt: &TransactionReceipt,
) -> Result<Option<Claim>> {
    let Some(ev) = market::receipt_event::<LabelMarket::Claimed>(receipt) else {
        return Ok(None);
    };
    let claim = Claim {
        batch: batch_id,
        task: ev.taskId.to(),
        slot: ev.slot.to(),
        expiry: ev.expiry.to(),
    };
    store.record_claim(
        &task_key(c, ev.annotator, batch_id, claim.task),
        claim.expiry,
    )?;
    Ok(Some(claim))
}

/// Claims the next task of a batch and records it locally.
pub async fn claim(c: &Concord, store: &Store, batch_id: u64) -> Result<Claim> {
    let call = LabelMarket::claimCall {
        batchId: U256::from(batch_id),
    };
    let r = c.send_market("claim", call).await?;
    record_claim(c, store, batch_id, &r)?
        .ok_or_else(|| ClientError::Input("claim: no Claimed event in the receipt".into()))
}

/// Claims up to `n` tasks of a batch in one pipeline (submissions back to back, receipts awaited together).
/// Returns what was claimed; fails only if nothing was.
pub async fn claim_many(c: &Concord, store: &Store, batch_id: u64, n: usize) -> Result<Vec<Claim>> {
    match claim_up_to(c, store, batch_id, n).await? {
        (claims, Some(e)) if claims.is_empty() => Err(e),
        (claims, _) => Ok(claims),
    }
}

/// Like [`claim_many`], also returning why fewer than `n` tasks were claimed (the first failure).
pub async fn claim_up_to(
    c: &Concord,
    store: &Store,
    batch_id: u64,
    n: usize,
) -> Result<(Vec<Claim>, Option<ClientError>)> {
    let call = LabelMarket::claimCall {
        batchId: U256::from(batch_id),
    };
    let mut out = Vec::new();
    let mut first_err = None;
    for r in c.send_market_many("claim", vec![call; n]).await {
        match r {
            Ok(receipt) => out.extend(record_claim(c, store, batch_id, &receipt)?),
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
    }
    Ok((out, first_err))
}

/// Items of one task of a batch, with the batch's config and its verified manifest.
pub struct TaskItems {
    pub config: BatchConfig,
    pub manifest: Manifest,
    pub items: Vec<ManifestItem>,
}

/// The verified manifest of a batch and the items of one task.
pub async fn task_items(c: &Concord, batch_id: u64, task: u64) -> Result<TaskItems> {
    let (cfg, _) = batch(c, batch_id).await?;
    if task >= u64::from(cfg.numTasks) {
        return Err(ClientError::Input(format!(
            "batch {batch_id} has tasks 0..{}, not {task}",
            cfg.numTasks
        )));
    }
    let m = market::verify_manifest(c, batch_id, &cfg, None).await?;
    let k = usize::from(cfg.taskSize);
    let start = task as usize * k;
    let items = m.items[start..(start + k).min(m.items.len())].to_vec();
    Ok(TaskItems {
        config: cfg,
        manifest: m,
        items,
    })
}

/// Stores labels for a claimed task after checking count and class range.
pub async fn label(
    c: &Concord,
    store: &Store,
    batch_id: u64,
    task: u64,
    labels: &[u8],
) -> Result<()> {
    label_many(c, store, batch_id, &[(task, labels.to_vec())]).await
}

/// Stores labels of many claimed tasks of one batch (one batch read for all), each checked first: one label
/// per item of the task, every label a class of the batch.
pub async fn label_many(
    c: &Concord,
    store: &Store,
    batch_id: u64,
    tasks: &[(u64, Vec<u8>)],
) -> Result<()> {
    let me = c.account()?;
    let (cfg, _) = batch(c, batch_id).await?;
    let shape = market::shape(&cfg);
    for (task, labels) in tasks {
        check_labels(&shape, *task, labels)?;
        store.set_labels(&task_key(c, me, batch_id, *task), labels)?;
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

/// What a commit or reveal run did.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunReport {
    pub done: Vec<(u64, u64)>,
    pub waiting: Vec<(u64, u64)>,
    pub failed: Vec<String>,
    pub recovered: usize,
}

/// Commits every labeled task (optionally of one batch). Labels, salt and hash hit the disk (fsync) before the
/// transaction is sent; a task left `committing` by a crash is checked on-chain and re-sent with the same salt.
pub async fn commit(c: &Concord, store: &Store, batch_filter: Option<u64>) -> Result<RunReport> {
    let me = c.account()?;
    let backup = c.backup_key()?;
    let mut report = RunReport::default();
    let mut calls = Vec::new();
    let mut keys = Vec::new();
    for rec in store.list(c.chain_id(), c.market_address(), me, batch_filter)? {
        let k = task_key(c, me, rec.batch, rec.task);
        let rec = match (rec.status, &rec.labels) {
            (LocalStatus::Labeled, Some(labels)) => {
                store.prepare_commit(&k, labels, B256::from(rand::random::<[u8; 32]>()))?;
                // Read back what was stored: an existing salt is kept.
                store.get(&k)?.unwrap_or(rec)
            }
            (LocalStatus::Committing, Some(_)) => {
                let a = c
                    .market
                    .assignmentOf(U256::from(rec.batch), U256::from(rec.task), me)
                    .call()
                    .await
                    .map_err(c.read_err("read assignment"))?;
                if AssignmentStatus::from_u8(a.status).is_some_and(AssignmentStatus::has_committed)
                {
                    store.set_status(&k, LocalStatus::Committed)?;
                    report.done.push((rec.batch, rec.task));
                    continue;
                }
                rec
            }
            _ => continue,
        };
        let (Some(labels), Some(salt), Some(hash)) = (&rec.labels, rec.salt, rec.commit_hash)
        else {
            continue;
        };
        calls.push(LabelMarket::commitCall {
            batchId: U256::from(rec.batch),
            taskId: U256::from(rec.task),
            commitHash: hash,
            backup: backup.seal(pack(labels), salt).into(),
        });
        keys.push(k);
    }
    let results = c.send_market_many("commit", calls).await;
    record_outcomes(store, &keys, results, LocalStatus::Committed, &mut report)?;
    Ok(report)
}

/// Records the outcome of a pipeline: confirmed tasks move to `status`, failures are reported per task.
fn record_outcomes(
    store: &Store,
    keys: &[TaskKey],
    results: Vec<Result<TransactionReceipt>>,
    status: LocalStatus,
    report: &mut RunReport,
) -> Result<()> {
    for (k, r) in keys.iter().zip(results) {
        match r {
            Ok(_) => {
                store.set_status(k, status)?;
                report.done.push((k.batch, k.task));
            }
            Err(e) => report
                .failed
                .push(format!("batch {} task {}: {e}", k.batch, k.task)),
        }
    }
    Ok(())
}

/// Restores commits missing from the local store from their encrypted backups in `Committed` events.
pub async fn recover(c: &Concord, store: &Store, batch_filter: Option<u64>) -> Result<usize> {
    let me = c.account()?;
    let key_ = c.backup_key()?;
    let commits = market::commits_of(c, me, batch_filter).await?;
    let mut recovered = 0;
    for ev in commits {
        let (b, t) = (ev.batchId.to::<u64>(), ev.taskId.to::<u64>());
        let k = task_key(c, me, b, t);
        if store.get(&k)?.and_then(|r| r.salt).is_some() {
            continue;
        }
        let Some((packed, salt)) = key_.open(&ev.backup) else {
            continue;
        };
        if k.commit_hash(packed, salt) != ev.commitHash {
            continue;
        }
        let (cfg, _) = batch(c, b).await?;
        let labels = unpack(packed, market::task_len(&cfg, t) as usize);
        store.prepare_commit(&k, &labels, salt)?;
        store.set_status(&k, LocalStatus::Committed)?;
        recovered += 1;
    }
    Ok(recovered)
}

/// Reveals every committed task whose reveal is open (recovering lost salts from backups first).
pub async fn reveal(c: &Concord, store: &Store, batch_filter: Option<u64>) -> Result<RunReport> {
    let me = c.account()?;
    let mut report = RunReport {
        recovered: recover(c, store, batch_filter).await?,
        ..Default::default()
    };
    let now = c.chain_time().await?;
    let candidates: Vec<_> = store
        .list(c.chain_id(), c.market_address(), me, batch_filter)?
        .into_iter()
        .filter(|r| {
            matches!(r.status, LocalStatus::Committing | LocalStatus::Committed)
                && r.labels.is_some()
                && r.salt.is_some()
        })
        .collect();
    let mut configs = std::collections::HashMap::new();
    for b in candidates.iter().map(|r| r.batch).collect::<BTreeSet<_>>() {
        configs.insert(b, batch(c, b).await?.0);
    }
    // Assignment status and task masks of every candidate, read concurrently.
    let keys_to_read: Vec<(u64, u64)> = candidates.iter().map(|r| (r.batch, r.task)).collect();
    let reads: Vec<(u8, u16)> = stream::iter(keys_to_read)
        .map(|(batch_id, task_id)| async move {
            let (b, t) = (U256::from(batch_id), U256::from(task_id));
            let (assignment, task) = (c.market.assignmentOf(b, t, me), c.market.getTask(b, t));
            let (a, task) = tokio::try_join!(assignment.call(), task.call())?;
            Ok::<_, alloy::contract::Error>((a.status, task.committedMask))
        })
        .buffered(32)
        .try_collect()
        .await
        .map_err(c.read_err("read assignments"))?;
    let mut calls = Vec::new();
    let mut keys = Vec::new();
    for (rec, (onchain, committed_mask)) in candidates.iter().zip(reads) {
        let (Some(labels), Some(salt)) = (&rec.labels, rec.salt) else {
            continue;
        };
        let k = task_key(c, me, rec.batch, rec.task);
        match AssignmentStatus::from_u8(onchain) {
            Some(AssignmentStatus::Revealed) => {
                store.set_status(&k, LocalStatus::Revealed)?;
                continue;
            }
            Some(AssignmentStatus::Committed) => {}
            _ => continue, // the commit never landed: `commit` re-sends it
        }
        let Some(cfg) = configs.get(&rec.batch) else {
            continue;
        };
        if !reveal_open(&market::deadlines(cfg), cfg.replicas, committed_mask, now) {
            report.waiting.push((rec.batch, rec.task));
            continue;
        }
        calls.push(LabelMarket::revealCall {
            batchId: U256::from(rec.batch),
            taskId: U256::from(rec.task),
            labels: pack(labels),
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
        tokens.insert(batch(c, b).await?.0.rewardToken);
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
        c.send_market("collect", LabelMarket::collectCall { token: t })
            .await?;
        out.push((t, amount));
    }
    Ok(out)
}

/// An annotator's standing.
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
    pub reputation: i64,
    pub accepted: u64,
    pub rejected: u64,
    pub gold_correct: u64,
    pub gold_wrong: u64,
    pub unrevealed: u64,
}

/// Reads balance, stake, claimable protocol tokens and reputation of `who`.
pub async fn standing(c: &Concord, who: Address) -> Result<Standing> {
    let m = &c.market;
    let (balance, st, rep, score, claimable) = tokio::try_join!(
        async { c.token.balanceOf(who).call().await },
        async { m.stakeOf(who).call().await },
        async { m.reputationOf(who).call().await },
        async { m.reputationScore(who).call().await },
        async { m.claimable(who, c.deployment.token).call().await },
    )
    .map_err(c.read_err("read standing"))?;
    let f = fmt_tokens;
    Ok(Standing {
        address: who,
        balance: f(balance),
        staked: f(U256::from(st.amount)),
        locked: f(U256::from(st.locked)),
        pending_unstake: f(U256::from(st.pending)),
        unlock_at: st.unlockAt.to(),
        claimable: f(claimable),
        reputation: i64::try_from(score).unwrap_or(i64::MIN),
        accepted: rep.accepted.to(),
        rejected: rep.rejected.to(),
        gold_correct: rep.goldCorrect.to(),
        gold_wrong: rep.goldWrong.to(),
        unrevealed: rep.unrevealed.to(),
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
