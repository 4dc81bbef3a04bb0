//! The requester's side: fund and publish a batch, follow it, reveal gold, settle, review, refund, export.

use alloy::primitives::{Address, B256, U256};
use alloy::rpc::types::TransactionReceipt;
use concord_bindings::ConcordToken;
use concord_bindings::ILabelMarket::{BatchConfig, BatchParams, BatchState, GoldAnswer, Task};
use concord_bindings::LabelMarket::{self, TaskSettled};
use futures::{stream, StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::consensus::decide;
use crate::dataset::{load_items, GoldFile, Manifest};
use crate::labels::unpack;
use crate::{ClientError, Concord, Result};

/// Parameters of a new batch besides the dataset.
#[derive(Debug, Clone)]
pub struct CreateOptions {
    pub classes: Vec<String>,
    pub task_size: u16,
    pub replicas: u8,
    pub threshold_bps: u16,
    pub reward_per_label: U256,
    pub stake_per_claim: U256,
    pub wrong_label_penalty: U256,
    pub no_reveal_penalty: U256,
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
    let escrow = U256::from(n) * U256::from(o.replicas) * o.reward_per_label;
    let params = BatchParams {
        rewardToken: reward_token,
        reviewer: o.reviewer,
        qualifier: o.qualifier,
        numItems: n as u32,
        taskSize: o.task_size,
        replicas: o.replicas,
        numClasses: o.classes.len() as u8,
        thresholdBps: o.threshold_bps,
        rewardPerLabel: to_u128(o.reward_per_label, "reward per label")?,
        stakePerClaim: to_u128(o.stake_per_claim, "stake per claim")?,
        wrongLabelPenalty: to_u128(o.wrong_label_penalty, "wrong-label penalty")?,
        noRevealPenalty: to_u128(o.no_reveal_penalty, "no-reveal penalty")?,
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
            crate::opts::fmt_tokens(balance),
            crate::opts::fmt_tokens(escrow),
            n,
            o.replicas,
            crate::opts::fmt_tokens(o.reward_per_label)
        )));
    }
    let allowance = token
        .allowance(from, c.market_address())
        .call()
        .await
        .map_err(c.read_err("read allowance"))?;
    if allowance < escrow {
        let approve = ConcordToken::approveCall {
            spender: c.market_address(),
            value: escrow,
        };
        let pending = c
            .submit_token("approve escrow", reward_token, approve)
            .await?;
        c.confirm("approve escrow", pending).await?;
    }
    let receipt = c
        .send_market("create batch", LabelMarket::createBatchCall { params })
        .await?;
    let created = receipt
        .logs()
        .iter()
        .find_map(|l| l.log_decode::<LabelMarket::BatchCreated>().ok())
        .ok_or_else(|| {
            ClientError::Input("create batch: no BatchCreated event in the receipt".into())
        })?;
    let batch_id = created.inner.data.batchId.to::<u64>();
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

/// The phase a batch is in at `now`.
pub fn phase(cfg: &BatchConfig, st: &BatchState, now: u64) -> &'static str {
    if st.refunded {
        "closed (refunded)"
    } else if now <= cfg.commitDeadline.to::<u64>() {
        "commit"
    } else if now <= cfg.revealDeadline.to::<u64>() {
        "reveal"
    } else if now <= cfg.reviewDeadline.to::<u64>() {
        "review"
    } else {
        "ended (refund open once settled)"
    }
}

/// Progress of a batch.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    pub batch_id: u64,
    pub phase: String,
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
    let full = (1u32 << cfg.replicas) - 1;
    let mut s = Status {
        batch_id,
        phase: phase(&cfg, &st, now).to_string(),
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
        escrow: crate::opts::fmt_tokens(U256::from(st.escrow)),
        paid: crate::opts::fmt_tokens(U256::from(st.paid)),
        refunded: st.refunded,
    };
    let task_size = u64::from(cfg.taskSize);
    for (t, task) in all.iter().enumerate() {
        let items = task_size.min(u64::from(cfg.numItems) - t as u64 * task_size);
        s.slots_claimed += pop(task.claimedMask) + pop(task.committedMask);
        s.labels_committed += pop(task.committedMask) * items;
        s.labels_revealed += pop(task.revealedMask) * items;
        if u32::from(task.committedMask) == full {
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
    let (cfg, _) = self::batch(c, batch).await?;
    if cfg.goldRoot != gold.root {
        return Err(ClientError::Input(format!(
            "gold file root {} does not match batch {batch}'s gold root {}",
            gold.root, cfg.goldRoot
        )));
    }
    let mut answers = Vec::new();
    for (i, a) in gold.answers.iter().enumerate() {
        let t = a.item / u64::from(cfg.taskSize);
        let task = c
            .market
            .getTask(U256::from(batch), U256::from(t))
            .call()
            .await
            .map_err(c.read_err("read task"))?;
        if (task.goldMask >> (a.item % u64::from(cfg.taskSize))) & 1 == 1 {
            continue; // already revealed (idempotent re-run)
        }
        answers.push(GoldAnswer {
            item: a.item as u32,
            label: a.label,
            salt: a.salt,
            proof: gold.proof(i).unwrap_or_default(),
        });
    }
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
    // Contiguous ranges of unsettled tasks, at most `chunk` long.
    let mut ranges: Vec<(u64, u64)> = Vec::new();
    for t in pending {
        match ranges.last_mut() {
            Some((from, to)) if *to == t && t - *from < chunk.max(1) => *to = t + 1,
            _ => ranges.push((t, t + 1)),
        }
    }
    let calls: Vec<_> = ranges
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
    report.rewards_paid = crate::opts::fmt_tokens(paid);
    report.stake_slashed = crate::opts::fmt_tokens(slashed);
    Ok(report)
}

/// Every revealed label of a batch, from `Revealed` events: (task, annotator, packed labels).
pub async fn revealed_labels(c: &Concord, batch_id: u64) -> Result<Vec<(u64, Address, U256)>> {
    let logs = c
        .market
        .Revealed_filter()
        .from_block(c.deployment.deploy_block)
        .topic1(U256::from(batch_id))
        .query()
        .await
        .map_err(c.read_err("read Revealed events"))?;
    Ok(logs
        .into_iter()
        .map(|(e, _)| (e.taskId.to::<u64>(), e.annotator, e.labels))
        .collect())
}

/// One item's final outcome, rebuilt from chain events only.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ItemOutcome {
    pub index: u64,
    pub label: Option<u8>,
    /// `accepted` (consensus), `gold`, `reviewed`, `no-consensus`, or `pending` (task not settled).
    pub status: String,
    pub votes: Vec<u32>,
    pub agreement: f64,
    pub num_labels: u32,
    pub annotators: Vec<Address>,
    pub annotator_labels: Vec<u8>,
    pub settled_block: Option<u64>,
}

/// Rebuilds the outcome of every item of a batch from `Revealed`, `TaskSettled` and `ItemResolved` events.
pub async fn outcomes(c: &Concord, batch_id: u64) -> Result<Vec<ItemOutcome>> {
    let (cfg, _) = batch(c, batch_id).await?;
    let n = u64::from(cfg.numItems);
    let k = u64::from(cfg.taskSize);
    let classes = usize::from(cfg.numClasses);
    let revealed = revealed_labels(c, batch_id).await?;
    let settled = c
        .market
        .TaskSettled_filter()
        .from_block(c.deployment.deploy_block)
        .topic1(U256::from(batch_id))
        .query()
        .await
        .map_err(c.read_err("read TaskSettled events"))?;
    let resolved = c
        .market
        .ItemResolved_filter()
        .from_block(c.deployment.deploy_block)
        .topic1(U256::from(batch_id))
        .query()
        .await
        .map_err(c.read_err("read ItemResolved events"))?;

    let mut per_task: BTreeMap<u64, Vec<(Address, U256)>> = BTreeMap::new();
    for (t, a, l) in revealed {
        per_task.entry(t).or_default().push((a, l));
    }
    let settled: BTreeMap<u64, (TaskSettled, Option<u64>)> = settled
        .into_iter()
        .map(|(e, log)| (e.taskId.to::<u64>(), (e, log.block_number)))
        .collect();
    let resolved: BTreeMap<u64, u8> = resolved
        .into_iter()
        .map(|(e, _)| (e.item.to::<u64>(), e.label.to::<u8>()))
        .collect();

    let mut out = Vec::with_capacity(n as usize);
    for index in 0..n {
        let t = index / k;
        let pos = (index % k) as usize;
        let labels = per_task.get(&t).cloned().unwrap_or_default();
        let annotator_labels: Vec<u8> = labels
            .iter()
            .map(|(_, l)| unpack(*l, pos + 1)[pos])
            .collect();
        let v = decide(&annotator_labels, classes, u32::from(cfg.thresholdBps));
        let (label, status, block) = match settled.get(&t) {
            None => (None, "pending", None),
            Some((ev, block)) => {
                let bit = U256::from(1u64) << pos;
                let result = unpack(ev.resultLabels, pos + 1)[pos];
                if ev.goldMask & bit != U256::ZERO {
                    (Some(result), "gold", *block)
                } else if ev.decidedMask & bit != U256::ZERO {
                    (Some(result), "accepted", *block)
                } else if let Some(l) = resolved.get(&index) {
                    (Some(*l), "reviewed", *block)
                } else {
                    (None, "no-consensus", *block)
                }
            }
        };
        out.push(ItemOutcome {
            index,
            label,
            status: status.to_string(),
            agreement: v.agreement,
            num_labels: annotator_labels.len() as u32,
            votes: v.votes,
            annotators: labels.iter().map(|(a, _)| *a).collect(),
            annotator_labels,
            settled_block: block,
        });
    }
    Ok(out)
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
    Ok(receipt
        .logs()
        .iter()
        .find_map(|l| l.log_decode::<LabelMarket::Refunded>().ok())
        .map(|e| e.inner.data.amount)
        .unwrap_or_default())
}

/// One exported row (JSONL).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExportRow {
    pub id: String,
    pub index: u64,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub uri: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    pub label: Option<String>,
    pub status: String,
    pub votes: BTreeMap<String, u32>,
    pub agreement: f64,
    pub num_labels: u32,
    pub annotators: Vec<Address>,
    /// Label of each annotator, in the order of `annotators`.
    pub annotator_labels: Vec<String>,
    pub ds_label: Option<String>,
    pub ds_posterior: Option<f64>,
    pub provenance: Provenance,
}

/// Where a label came from.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Provenance {
    pub chain_id: u64,
    pub market: Address,
    pub batch_id: u64,
    pub settled_block: Option<u64>,
}

/// Joins chain outcomes with the manifest (verified against the on-chain root) and the Dawid–Skene fit into
/// export rows. Needs no local state: everything comes from chain events and the published manifest.
pub async fn export(c: &Concord, batch_id: u64, manifest: Option<&Path>) -> Result<Vec<ExportRow>> {
    let q = crate::report::batch_quality(c, batch_id, manifest).await?;
    let m = &q.manifest;
    Ok(q.outcomes
        .iter()
        .enumerate()
        .map(|(i, o)| {
            let item = &m.items[i];
            let ds = q.ds_of(i);
            ExportRow {
                id: item.id.clone(),
                index: o.index,
                uri: item.uri.clone(),
                text: item.text.clone(),
                label: o.label.and_then(|l| m.classes.get(usize::from(l)).cloned()),
                status: o.status.clone(),
                votes: m
                    .classes
                    .iter()
                    .cloned()
                    .zip(o.votes.iter().copied())
                    .collect(),
                agreement: o.agreement,
                num_labels: o.num_labels,
                annotators: o.annotators.clone(),
                annotator_labels: o
                    .annotator_labels
                    .iter()
                    .filter_map(|l| m.classes.get(usize::from(*l)).cloned())
                    .collect(),
                ds_label: ds.and_then(|(l, _)| m.classes.get(usize::from(l)).cloned()),
                ds_posterior: ds.map(|(_, p)| p),
                provenance: Provenance {
                    chain_id: c.chain_id(),
                    market: c.market_address(),
                    batch_id,
                    settled_block: o.settled_block,
                },
            }
        })
        .collect())
}

/// Export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    /// One JSON object per item (Hugging Face style).
    Jsonl,
    /// id,uri,text,label,status,agreement,num_labels,ds_label,ds_posterior.
    Csv,
    /// crowd-kit's `task,worker,label` (every revealed label).
    Crowdkit,
    /// Label Studio tasks with one annotation (the final label) each.
    Labelstudio,
}

fn csv_line(fields: &[String]) -> String {
    let mut w = csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(Vec::new());
    let _ = w.write_record(fields);
    String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default()
}

/// Renders export rows in `format`.
pub fn render_export(rows: &[ExportRow], format: ExportFormat) -> Result<String> {
    let mut out = String::new();
    match format {
        ExportFormat::Jsonl => {
            for r in rows {
                let v = serde_json::to_value(r).map_err(|e| ClientError::Input(e.to_string()))?;
                out.push_str(&v.to_string());
                out.push('\n');
            }
        }
        ExportFormat::Csv => {
            out += &csv_line(
                &[
                    "id",
                    "uri",
                    "text",
                    "label",
                    "status",
                    "agreement",
                    "num_labels",
                    "ds_label",
                    "ds_posterior",
                ]
                .map(String::from),
            );
            for r in rows {
                out += &csv_line(&[
                    r.id.clone(),
                    r.uri.clone(),
                    r.text.clone().unwrap_or_default(),
                    r.label.clone().unwrap_or_default(),
                    r.status.clone(),
                    format!("{:.4}", r.agreement),
                    r.num_labels.to_string(),
                    r.ds_label.clone().unwrap_or_default(),
                    r.ds_posterior
                        .map(|p| format!("{p:.6}"))
                        .unwrap_or_default(),
                ]);
            }
        }
        ExportFormat::Crowdkit => {
            out += "task,worker,label\n";
            for r in rows {
                for (a, l) in r.annotators.iter().zip(&r.annotator_labels) {
                    out += &csv_line(&[r.id.clone(), a.to_string(), l.clone()]);
                }
            }
        }
        ExportFormat::Labelstudio => {
            let tasks: Vec<serde_json::Value> = rows
                .iter()
                .map(|r| {
                    let mut data = serde_json::Map::new();
                    data.insert("id".into(), r.id.clone().into());
                    if let Some(t) = &r.text {
                        data.insert("text".into(), t.clone().into());
                    }
                    if !r.uri.is_empty() {
                        data.insert("uri".into(), r.uri.clone().into());
                    }
                    let result: Vec<serde_json::Value> = r
                        .label
                        .iter()
                        .map(|l| serde_json::json!({ "from_name": "label", "to_name": if r.text.is_some() { "text" } else { "image" }, "type": "choices", "value": { "choices": [l] } }))
                        .collect();
                    serde_json::json!({
                        "data": data,
                        "annotations": [{ "result": result, "ground_truth": r.status == "gold" }],
                        "meta": { "status": r.status, "agreement": r.agreement, "votes": r.votes, "provenance": r.provenance },
                    })
                })
                .collect();
            out = serde_json::to_string_pretty(&tasks)
                .map_err(|e| ClientError::Input(e.to_string()))?
                + "\n";
        }
    }
    Ok(out)
}

/// The manifest URI a batch was created with (from its `BatchCreated` event).
pub async fn manifest_uri(c: &Concord, batch_id: u64) -> Result<String> {
    let logs = c
        .market
        .BatchCreated_filter()
        .from_block(c.deployment.deploy_block)
        .topic1(U256::from(batch_id))
        .query()
        .await
        .map_err(c.read_err("read BatchCreated event"))?;
    logs.into_iter()
        .next()
        .map(|(e, _)| e.params.manifestURI)
        .ok_or_else(|| ClientError::Input(format!("no BatchCreated event for batch {batch_id}")))
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
