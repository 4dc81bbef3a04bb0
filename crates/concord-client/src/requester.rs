//! The requester's side: fund and publish a batch, follow it, reveal gold, settle, review, refund, export.

use alloy::primitives::{Address, B256, U256};
use alloy::rpc::types::TransactionReceipt;
use concord_bindings::ConcordToken;
use concord_bindings::ILabelMarket::{BatchParams, GoldAnswer};
use concord_bindings::LabelMarket::{self, TaskSettled};
use concord_protocol::units::{fmt_tokens, parse_tokens};
use concord_protocol::Phase;
use futures::{stream, StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use crate::dataset::{load_items, GoldFile, Manifest};
use crate::market::{self, batch, tasks};
use crate::{ClientError, Concord, Result};

/// Parameters of a new batch besides the dataset.
#[derive(Debug, Clone)]
pub struct CreateOptions {
    pub classes: Vec<String>,
    pub task_size: u16,
    pub replicas: u8,
    pub threshold_bps: u16,
    pub incentives: Incentives,
    pub min_stake: U256,
    pub min_reputation: i64,
    pub commit_period: u32,
    pub reveal_period: u32,
    pub review_period: u32,
    pub claim_timeout: u32,
    pub reviewer: Address,
    pub qualifier: Address,
    /// Reward token (default: the protocol token).
    pub reward_token: Option<Address>,
    /// Where the manifest and the private gold file go (default: next to the dataset).
    pub out_dir: Option<PathBuf>,
    /// Public URI of the manifest (default: `file://` path of the written manifest).
    pub manifest_uri: Option<String>,
}

/// The defaults of `concord-requester create`, in one place for the CLI, the simulator and the benchmarks.
pub mod defaults {
    /// Items per task (one claim, one commit).
    pub const TASK_SIZE: u16 = 10;
    /// Independent labels per item.
    pub const REPLICAS: u8 = 3;
    /// Share of revealed labels the plurality needs, in basis points (2 of 3, 4 of 5, 5 of 7).
    pub const THRESHOLD_BPS: u16 = 6600;
    /// Reward per accepted label, in tokens.
    pub const REWARD: &str = "1";
    /// Stake locked per claimed task, in tokens (at least the no-reveal penalty).
    pub const STAKE_PER_CLAIM: &str = "40";
    /// Stake slashed per label that disagrees with consensus or gold, in tokens: 3x the reward, so a label must
    /// agree 3 times in 4 to pay and random, constant and copied answers lose (see `concord-sim`).
    pub const WRONG_LABEL_PENALTY: &str = "3";
    /// Stake slashed for a commit never revealed, in tokens (must exceed task size x wrong penalty).
    pub const NO_REVEAL_PENALTY: &str = "40";
    /// Minimum stake to claim, in tokens.
    pub const MIN_STAKE: &str = "30";
    /// Minimum reputation score to claim.
    pub const MIN_REPUTATION: i64 = -1000;
    /// Commit, reveal and review windows, seconds.
    pub const PERIOD: u32 = 3600;
    /// How long a claim stays valid without a commit, seconds.
    pub const CLAIM_TIMEOUT: u32 = 1800;
}

/// What an accepted label earns and what backs a claim, in wei (18 decimals).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incentives {
    pub reward_per_label: U256,
    pub stake_per_claim: U256,
    pub wrong_label_penalty: U256,
    pub no_reveal_penalty: U256,
}

impl Incentives {
    /// Parses amounts given in whole tokens (`1`, `0.5`).
    pub fn parse(
        reward_per_label: &str,
        stake_per_claim: &str,
        wrong_label_penalty: &str,
        no_reveal_penalty: &str,
    ) -> Result<Self> {
        Ok(Self {
            reward_per_label: parse_tokens(reward_per_label)?,
            stake_per_claim: parse_tokens(stake_per_claim)?,
            wrong_label_penalty: parse_tokens(wrong_label_penalty)?,
            no_reveal_penalty: parse_tokens(no_reveal_penalty)?,
        })
    }
}

impl Default for Incentives {
    /// The CLI's defaults.
    fn default() -> Self {
        let amount = |s: &str| parse_tokens(s).unwrap_or_default();
        Self {
            reward_per_label: amount(defaults::REWARD),
            stake_per_claim: amount(defaults::STAKE_PER_CLAIM),
            wrong_label_penalty: amount(defaults::WRONG_LABEL_PENALTY),
            no_reveal_penalty: amount(defaults::NO_REVEAL_PENALTY),
        }
    }
}

impl CreateOptions {
    /// The CLI's defaults for `classes`, with `reviewer` deciding items without consensus, no qualifier, the
    /// protocol token, the manifest next to the dataset.
    pub fn new(classes: Vec<String>, reviewer: Address) -> Self {
        Self {
            classes,
            task_size: defaults::TASK_SIZE,
            replicas: defaults::REPLICAS,
            threshold_bps: defaults::THRESHOLD_BPS,
            incentives: Incentives::default(),
            min_stake: parse_tokens(defaults::MIN_STAKE).unwrap_or_default(),
            min_reputation: defaults::MIN_REPUTATION,
            commit_period: defaults::PERIOD,
            reveal_period: defaults::PERIOD,
            review_period: defaults::PERIOD,
            claim_timeout: defaults::CLAIM_TIMEOUT,
            reviewer,
            qualifier: Address::ZERO,
            reward_token: None,
            out_dir: None,
            manifest_uri: None,
        }
    }
}

/// What `create` did.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchRecord {
    pub chain_id: u64,
    pub market: Address,
    pub batch_id: u64,
    pub tx: B256,
    pub escrow: U256,
    pub num_items: u64,
    pub num_tasks: u64,
    pub gold_count: u64,
    pub manifest_root: B256,
    pub manifest_uri: String,
    pub manifest_path: PathBuf,
    pub gold_path: Option<PathBuf>,
}

/// Where the requester keeps the record of a batch it created.
pub fn record_path(chain_id: u64, market: Address, batch: u64) -> PathBuf {
    crate::concord_home()
        .join("requester")
        .join(format!("{chain_id}-{market}-{batch}.json"))
}

/// Loads the record of a batch created from this machine.
pub fn load_record(c: &Concord, batch: u64) -> Result<BatchRecord> {
    let p = record_path(c.chain_id(), c.market_address(), batch);
    let text = std::fs::read_to_string(&p).map_err(|_| {
        ClientError::Input(format!(
            "no local record of batch {batch} at {} (was it created from this machine?)",
            p.display()
        ))
    })?;
    serde_json::from_str(&text)
        .map_err(|e| ClientError::Input(format!("{} is corrupt: {e}", p.display())))
}

fn write_json(path: &Path, value: &impl Serialize) -> Result<()> {
    if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| ClientError::Input(format!("cannot create {}: {e}", dir.display())))?;
    }
    let text =
        serde_json::to_string_pretty(value).map_err(|e| ClientError::Input(e.to_string()))?;
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text + "\n")
        .and_then(|_| std::fs::File::open(&tmp)?.sync_all())
        .and_then(|_| std::fs::rename(&tmp, path))
        .map_err(|e| ClientError::Input(format!("cannot write {}: {e}", path.display())))
}

fn to_u128(x: U256, what: &str) -> Result<u128> {
    u128::try_from(x).map_err(|_| ClientError::Input(format!("{what} is too large")))
}

/// Validates the dataset, writes manifest and gold secrets, checks the balance, escrows and creates the batch.
pub async fn create_batch(c: &Concord, dataset: &Path, o: &CreateOptions) -> Result<BatchRecord> {
    let from = c.account()?;
    let items = load_items(dataset)?;
    let gold = GoldFile::from_items(&items, &o.classes)?;
    let manifest = Manifest::build(&items, &o.classes);
    let n = items.len() as u64;
    if n > u64::from(u32::MAX) {
        return Err(ClientError::Input(
            "a batch holds at most 4,294,967,295 items".into(),
        ));
    }

    let out_dir = o.out_dir.clone().unwrap_or_else(|| {
        let stem = dataset
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("dataset");
        dataset.with_file_name(format!("{stem}.concord"))
    });
    // Content-addressed: the same items with other class names must not overwrite a published manifest.
    let manifest_json =
        serde_json::to_vec(&manifest).map_err(|e| ClientError::Input(e.to_string()))?;
    let tag = &alloy::primitives::keccak256(&manifest_json).to_string()[2..14];
    let manifest_path = out_dir.join(format!("manifest-{tag}.json"));
    write_json(&manifest_path, &manifest)?;
    let manifest_path = manifest_path.canonicalize().unwrap_or(manifest_path);
    let gold_path = match &gold {
        Some(g) => {
            let p = out_dir.join(format!("gold-{tag}.secret.json"));
            write_json(&p, g)?; // written before the transaction: the salts are never lost
            Some(p.canonicalize().unwrap_or(p))
        }
        None => None,
    };
    let manifest_uri = o
        .manifest_uri
        .clone()
        .unwrap_or_else(|| format!("file://{}", manifest_path.display()));

    let reward_token = o.reward_token.unwrap_or(c.deployment.token);
    let escrow = U256::from(n) * U256::from(o.replicas) * o.incentives.reward_per_label;
    let params = BatchParams {
        rewardToken: reward_token,
        reviewer: o.reviewer,
        qualifier: o.qualifier,
        numItems: n as u32,
        taskSize: o.task_size,
        replicas: o.replicas,
        numClasses: o.classes.len() as u8,
        thresholdBps: o.threshold_bps,
        rewardPerLabel: to_u128(o.incentives.reward_per_label, "reward per label")?,
        stakePerClaim: to_u128(o.incentives.stake_per_claim, "stake per claim")?,
        wrongLabelPenalty: to_u128(o.incentives.wrong_label_penalty, "wrong-label penalty")?,
        noRevealPenalty: to_u128(o.incentives.no_reveal_penalty, "no-reveal penalty")?,
        minStake: to_u128(o.min_stake, "minimum stake")?,
        minReputation: o.min_reputation,
        commitPeriod: o.commit_period,
        revealPeriod: o.reveal_period,
        reviewPeriod: o.review_period,
        claimTimeout: o.claim_timeout,
        manifestRoot: manifest.root,
        manifestURI: manifest_uri.clone(),
        goldRoot: gold.as_ref().map(|g| g.root).unwrap_or_default(),
        goldCount: gold.as_ref().map(|g| g.answers.len() as u32).unwrap_or(0),
    };

    // Fail before any transaction when the tokens are not there.
    let token = ConcordToken::new(reward_token, c.provider.clone());
    let balance = token
        .balanceOf(from)
        .call()
        .await
        .map_err(c.read_err("read reward-token balance"))?;
    if balance < escrow {
        return Err(ClientError::Input(format!(
            "insufficient reward-token balance: {from} holds {} but the escrow is {} ({} items x {} labels x {} per label)",
            fmt_tokens(balance),
            fmt_tokens(escrow),
            n,
            o.replicas,
            fmt_tokens(o.incentives.reward_per_label)
        )));
    }
    c.ensure_allowance("approve escrow", reward_token, escrow)
        .await?;
    let receipt = c
        .send_market("create batch", LabelMarket::createBatchCall { params })
        .await?;
    let created =
        market::receipt_event::<LabelMarket::BatchCreated>(&receipt).ok_or_else(|| {
            ClientError::Input("create batch: no BatchCreated event in the receipt".into())
        })?;
    let batch_id = created.batchId.to::<u64>();
    let record = BatchRecord {
        chain_id: c.chain_id(),
        market: c.market_address(),
        batch_id,
        tx: receipt.transaction_hash,
        escrow,
        num_items: n,
        num_tasks: n.div_ceil(u64::from(o.task_size)),
        gold_count: gold.as_ref().map(|g| g.answers.len() as u64).unwrap_or(0),
        manifest_root: manifest.root,
        manifest_uri,
        manifest_path,
        gold_path,
    };
    write_json(
        &record_path(c.chain_id(), c.market_address(), batch_id),
        &record,
    )?;
    Ok(record)
}

/// Progress of a batch.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    pub batch_id: u64,
    pub phase: Phase,
    pub now: u64,
    pub commit_deadline: u64,
    pub reveal_deadline: u64,
    pub review_deadline: u64,
    pub num_items: u64,
    pub num_tasks: u64,
    pub replicas: u64,
    pub labels_needed: u64,
    pub slots_claimed: u64,
    pub labels_committed: u64,
    pub labels_revealed: u64,
    pub tasks_full: u64,
    pub tasks_settled: u64,
    pub items_decided: u64,
    pub items_in_review: u64,
    pub gold_count: u64,
    pub gold_revealed: u64,
    pub escrow: String,
    pub paid: String,
    pub refunded: bool,
}

/// Reads a batch and all its tasks.
pub async fn status(c: &Concord, batch_id: u64) -> Result<Status> {
    let (cfg, st) = batch(c, batch_id).await?;
    let num_tasks = u64::from(cfg.numTasks);
    let all = tasks(c, batch_id, num_tasks).await?;
    let now = c.chain_time().await?;
    let pop = |m: u16| u64::from(m.count_ones());
    let mut s = Status {
        batch_id,
        phase: market::phase(&cfg, &st, now),
        now,
        commit_deadline: cfg.commitDeadline.to(),
        reveal_deadline: cfg.revealDeadline.to(),
        review_deadline: cfg.reviewDeadline.to(),
        num_items: u64::from(cfg.numItems),
        num_tasks,
        replicas: u64::from(cfg.replicas),
        labels_needed: u64::from(cfg.numItems) * u64::from(cfg.replicas),
        slots_claimed: 0,
        labels_committed: 0,
        labels_revealed: 0,
        tasks_full: 0,
        tasks_settled: 0,
        items_decided: 0,
        items_in_review: 0,
        gold_count: u64::from(cfg.goldCount),
        gold_revealed: u64::from(st.goldRevealed),
        escrow: fmt_tokens(U256::from(st.escrow)),
        paid: fmt_tokens(U256::from(st.paid)),
        refunded: st.refunded,
    };
    for (t, task) in all.iter().enumerate() {
        let items = market::task_len(&cfg, t as u64);
        s.slots_claimed += pop(task.claimedMask) + pop(task.committedMask);
        s.labels_committed += pop(task.committedMask) * items;
        s.labels_revealed += pop(task.revealedMask) * items;
        if concord_protocol::all_committed(cfg.replicas, task.committedMask) {
            s.tasks_full += 1;
        }
        if task.settled {
            s.tasks_settled += 1;
            let decided = u64::from(task.decidedMask.count_ones());
            s.items_decided += decided;
            s.items_in_review += items - decided;
        }
    }
    Ok(s)
}

/// Reveals the gold answers of a batch from its private gold file, `chunk` answers per transaction.
pub async fn reveal_gold(c: &Concord, batch: u64, gold_path: &Path, chunk: usize) -> Result<usize> {
    let text = std::fs::read_to_string(gold_path).map_err(|e| {
        ClientError::Input(format!(
            "cannot read gold file {}: {e}",
            gold_path.display()
        ))
    })?;
    let gold: GoldFile = serde_json::from_str(&text).map_err(|e| {
        ClientError::Input(format!(
            "gold file {} is malformed: {e}",
            gold_path.display()
        ))
    })?;
    let (cfg, _) = market::batch(c, batch).await?;
    if cfg.goldRoot != gold.root {
        return Err(ClientError::Input(format!(
            "gold file root {} does not match batch {batch}'s gold root {}",
            gold.root, cfg.goldRoot
        )));
    }
    // The gold masks of the tasks holding gold, read concurrently: answers already revealed are skipped (re-run).
    let k = u64::from(cfg.taskSize);
    let gold_tasks: BTreeSet<u64> = gold.answers.iter().map(|a| a.item / k).collect();
    let masks: HashMap<u64, u32> = stream::iter(gold_tasks)
        .map(|t| async move {
            market::task(c, batch, t)
                .await
                .map(|task| (t, task.goldMask))
        })
        .buffered(32)
        .try_collect()
        .await?;
    let answers: Vec<GoldAnswer> = gold
        .answers
        .iter()
        .zip(gold.proofs())
        .filter(|(a, _)| (masks.get(&(a.item / k)).copied().unwrap_or(0) >> (a.item % k)) & 1 == 0)
        .map(|(a, proof)| GoldAnswer {
            item: a.item as u32,
            label: a.label,
            salt: a.salt,
            proof,
        })
        .collect();
    let n = answers.len();
    let calls: Vec<_> = answers
        .chunks(chunk.max(1))
        .map(|ch| LabelMarket::revealGoldCall {
            batchId: U256::from(batch),
            answers: ch.to_vec(),
        })
        .collect();
    first_error(c.send_market_many("reveal gold", calls).await)?;
    Ok(n)
}

fn first_error(results: Vec<Result<TransactionReceipt>>) -> Result<Vec<TransactionReceipt>> {
    results.into_iter().collect()
}

/// Outcome of a settlement run.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SettleReport {
    pub tasks_settled: u64,
    pub transactions: u64,
    pub rewards_paid: String,
    pub stake_slashed: String,
    pub gas_used: u64,
}

/// Contiguous `[from, to)` ranges of the (ascending) unsettled tasks, each at most `chunk` long.
fn settle_ranges(unsettled: &[u64], chunk: u64) -> Vec<(u64, u64)> {
    let mut ranges: Vec<(u64, u64)> = Vec::new();
    for &t in unsettled {
        match ranges.last_mut() {
            Some((from, to)) if *to == t && t - *from < chunk.max(1) => *to = t + 1,
            _ => ranges.push((t, t + 1)),
        }
    }
    ranges
}

/// Settles every unsettled task of a batch, `chunk` tasks per transaction, pipelined. Permissionless.
pub async fn settle(c: &Concord, batch_id: u64, chunk: u64) -> Result<SettleReport> {
    let (cfg, _) = batch(c, batch_id).await?;
    let all = tasks(c, batch_id, u64::from(cfg.numTasks)).await?;
    let pending: Vec<u64> = all
        .iter()
        .enumerate()
        .filter(|(_, t)| !t.settled)
        .map(|(i, _)| i as u64)
        .collect();
    let calls: Vec<_> = settle_ranges(&pending, chunk)
        .iter()
        .map(|&(from, to)| LabelMarket::settleTasksCall {
            batchId: U256::from(batch_id),
            fromTask: U256::from(from),
            toTask: U256::from(to),
        })
        .collect();
    let mut report = SettleReport {
        transactions: calls.len() as u64,
        ..Default::default()
    };
    let (mut paid, mut slashed) = (U256::ZERO, U256::ZERO);
    for receipt in first_error(c.send_market_many("settle", calls).await)? {
        report.gas_used += receipt.gas_used;
        for log in receipt.logs() {
            if let Ok(ev) = log.log_decode::<TaskSettled>() {
                report.tasks_settled += 1;
                paid += ev.inner.data.rewardsPaid;
                slashed += ev.inner.data.stakeSlashed;
            }
        }
    }
    report.rewards_paid = fmt_tokens(paid);
    report.stake_slashed = fmt_tokens(slashed);
    Ok(report)
}

/// Sends the reviewer's decisions `(item, label)`, pipelined.
pub async fn resolve(c: &Concord, batch_id: u64, decisions: &[(u64, u8)]) -> Result<usize> {
    let calls: Vec<_> = decisions
        .iter()
        .map(|&(item, label)| LabelMarket::resolveCall {
            batchId: U256::from(batch_id),
            item: U256::from(item),
            label,
        })
        .collect();
    first_error(c.send_market_many("resolve", calls).await)?;
    Ok(decisions.len())
}

/// Returns unspent escrow to the requester; returns the amount.
pub async fn refund(c: &Concord, batch_id: u64) -> Result<U256> {
    let receipt = c
        .send_market(
            "refund",
            LabelMarket::refundCall {
                batchId: U256::from(batch_id),
            },
        )
        .await?;
    Ok(market::receipt_event::<LabelMarket::Refunded>(&receipt)
        .map(|e| e.amount)
        .unwrap_or_default())
}

/// A qualification attestation (EIP-712 `Qualification(batchId, annotator, deadline)`) signed by the batch's
/// qualifier key; the annotator records it with `concord-annotator qualify`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Attestation {
    pub batch_id: u64,
    pub annotator: Address,
    pub deadline: u64,
    pub signature: alloy::primitives::Bytes,
}

/// Signs a qualification for `annotator` with `signer` (must be the batch's qualifier), valid until `deadline`.
pub async fn attest(
    c: &Concord,
    signer: &alloy::signers::local::PrivateKeySigner,
    batch_id: u64,
    annotator: Address,
    deadline: u64,
) -> Result<Attestation> {
    use alloy::signers::SignerSync;
    use alloy::sol_types::SolValue;
    let (cfg, _) = batch(c, batch_id).await?;
    if cfg.qualifier != signer.address() {
        return Err(ClientError::Input(format!(
            "batch {batch_id}'s qualifier is {}, not {}; sign with the qualifier key",
            cfg.qualifier,
            signer.address()
        )));
    }
    let domain = c
        .market
        .domainSeparator()
        .call()
        .await
        .map_err(c.read_err("read EIP-712 domain"))?;
    let typehash = c
        .market
        .QUALIFICATION_TYPEHASH()
        .call()
        .await
        .map_err(c.read_err("read type hash"))?;
    let struct_hash = alloy::primitives::keccak256(
        (
            typehash,
            U256::from(batch_id),
            annotator,
            U256::from(deadline),
        )
            .abi_encode(),
    );
    let mut buf = vec![0x19, 0x01];
    buf.extend_from_slice(domain.as_slice());
    buf.extend_from_slice(struct_hash.as_slice());
    let sig = signer
        .sign_hash_sync(&alloy::primitives::keccak256(&buf))
        .map_err(|e| ClientError::Wallet(format!("cannot sign: {e}")))?;
    Ok(Attestation {
        batch_id,
        annotator,
        deadline,
        signature: sig.as_bytes().to_vec().into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settlement_covers_every_unsettled_task_in_bounded_contiguous_chunks() {
        assert_eq!(settle_ranges(&[], 10), vec![]);
        assert_eq!(
            settle_ranges(&[0, 1, 2, 3, 4], 2),
            vec![(0, 2), (2, 4), (4, 5)]
        );
        assert_eq!(settle_ranges(&[1, 2, 5, 6, 7], 10), vec![(1, 3), (5, 8)]);
        assert_eq!(
            settle_ranges(&[3, 4], 0),
            vec![(3, 4), (4, 5)],
            "chunk 0 acts as 1"
        );
    }

    #[test]
    fn defaults_match_the_documented_cli_defaults() {
        let o = CreateOptions::new(vec!["a".into(), "b".into()], Address::ZERO);
        assert_eq!((o.task_size, o.replicas, o.threshold_bps), (10, 3, 6600));
        assert_eq!(
            o.incentives.wrong_label_penalty,
            concord_protocol::units::tokens(3)
        );
        assert_eq!(
            o.incentives.no_reveal_penalty,
            concord_protocol::units::tokens(40)
        );
        assert_eq!(o.min_stake, concord_protocol::units::tokens(30));
        assert_eq!((o.commit_period, o.claim_timeout), (3600, 1800));
        assert!(Incentives::parse("1", "x", "3", "40").is_err());
    }
}
