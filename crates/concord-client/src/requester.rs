//! The requester's side: fund and publish a batch, follow it, reveal gold, settle, review, refund, export.

use alloy::network::TransactionBuilder;
use alloy::primitives::{Address, B256, U256};
use alloy::providers::Provider;
use alloy::rpc::types::TransactionReceipt;
use concord_bindings::ConcordToken;
use concord_bindings::ILabelMarketV2Types::{BatchParams, GoldAnswer, Periods};
use concord_bindings::LabelMarketV2 as M;
use concord_protocol::units::{fmt_tokens, parse_tokens};
use concord_protocol::Phase;
use futures::{stream, StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use crate::dataset::{load_items, GoldFile, Item, Manifest};
use crate::market::{self, batch};
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
    /// Most tasks one join takes.
    pub max_bundle: u8,
    pub commit_period: u32,
    pub reveal_period: u32,
    pub review_period: u32,
    /// How long a round takes joins.
    pub round_period: u32,
    /// After a round's joins, how long its bundles have to commit.
    pub commit_window: u32,
    /// Escrowed with gold, returned only if every gold answer is revealed (default: the gold items' rewards).
    pub gold_bond: Option<U256>,
    pub reviewer: Address,
    pub qualifier: Address,
    /// Reward token (default: the protocol token).
    pub reward_token: Option<Address>,
    /// Where the manifest and the private gold file go (default: next to the dataset).
    pub out_dir: Option<PathBuf>,
    /// Public URI of the manifest (default: `file://` path of the written manifest).
    pub manifest_uri: Option<String>,
    /// Base URL the output folder is published at; the manifest's URI is this base and its file name.
    pub publish_url: Option<String>,
}

/// The defaults of `concord-requester create`, in one place for the CLI, the simulator and the benchmarks.
pub mod defaults {
    /// Items per task.
    pub const TASK_SIZE: u16 = 10;
    /// Most tasks one join takes (one commit and one reveal for all of them).
    pub const MAX_BUNDLE: u8 = 8;
    /// Independent labels per item.
    pub const REPLICAS: u8 = 3;
    /// Share of revealed labels the plurality needs, in basis points (2 of 3, 4 of 5, 5 of 7).
    pub const THRESHOLD_BPS: u16 = 6600;
    /// Reward per accepted label, in tokens.
    pub const REWARD: &str = "1";
    /// Stake locked per task of a bundle, in tokens (at least the no-reveal penalty).
    pub const STAKE_PER_TASK: &str = "40";
    /// Stake slashed per label that disagrees with consensus or gold, in tokens: 3x the reward, so a label must
    /// agree 3 times in 4 to pay and random, constant and copied answers lose (see `concord-sim`).
    pub const WRONG_LABEL_PENALTY: &str = "3";
    /// Stake slashed for a commit never revealed, in tokens (must exceed task size x wrong penalty).
    pub const NO_REVEAL_PENALTY: &str = "40";
    /// Stake forfeited per task of a bundle never committed in its round's window, in tokens.
    pub const SQUAT_PENALTY: &str = "5";
    /// Minimum stake to join, in tokens.
    pub const MIN_STAKE: &str = "30";
    /// Minimum reputation score (in the batch's domain) to join.
    pub const MIN_REPUTATION: i64 = -1000;
    /// Commit phase, seconds: rounds open inside it.
    pub const COMMIT_PERIOD: u32 = 7200;
    /// Reveal and review windows, seconds.
    pub const PERIOD: u32 = 3600;
    /// How long a round takes joins, seconds (it seals earlier when every lane is full).
    pub const ROUND_PERIOD: u32 = 300;
    /// After a round's joins, the time its bundles have to commit, seconds.
    pub const COMMIT_WINDOW: u32 = 1200;
}

/// What an accepted label earns and what backs a task, in wei (18 decimals).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incentives {
    pub reward_per_label: U256,
    pub stake_per_task: U256,
    pub wrong_label_penalty: U256,
    pub no_reveal_penalty: U256,
    pub squat_penalty: U256,
}

impl Incentives {
    /// Parses amounts given in whole tokens (`1`, `0.5`).
    pub fn parse(
        reward_per_label: &str,
        stake_per_task: &str,
        wrong_label_penalty: &str,
        no_reveal_penalty: &str,
        squat_penalty: &str,
    ) -> Result<Self> {
        Ok(Self {
            reward_per_label: parse_tokens(reward_per_label)?,
            stake_per_task: parse_tokens(stake_per_task)?,
            wrong_label_penalty: parse_tokens(wrong_label_penalty)?,
            no_reveal_penalty: parse_tokens(no_reveal_penalty)?,
            squat_penalty: parse_tokens(squat_penalty)?,
        })
    }
}

impl Default for Incentives {
    /// The CLI's defaults.
    fn default() -> Self {
        let amount = |s: &str| parse_tokens(s).unwrap_or_default();
        Self {
            reward_per_label: amount(defaults::REWARD),
            stake_per_task: amount(defaults::STAKE_PER_TASK),
            wrong_label_penalty: amount(defaults::WRONG_LABEL_PENALTY),
            no_reveal_penalty: amount(defaults::NO_REVEAL_PENALTY),
            squat_penalty: amount(defaults::SQUAT_PENALTY),
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
            max_bundle: defaults::MAX_BUNDLE,
            commit_period: defaults::COMMIT_PERIOD,
            reveal_period: defaults::PERIOD,
            review_period: defaults::PERIOD,
            round_period: defaults::ROUND_PERIOD,
            commit_window: defaults::COMMIT_WINDOW,
            gold_bond: None,
            reviewer,
            qualifier: Address::ZERO,
            reward_token: None,
            out_dir: None,
            manifest_uri: None,
            publish_url: None,
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
    #[serde(default)]
    pub gold_bond: U256,
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

/// A batch ready to be created: what `create` sends and writes, computed without sending or writing anything
/// (also what `create --dry-run` prices).
pub struct BatchPlan {
    pub params: BatchParams,
    pub escrow: U256,
    pub gold_bond: U256,
    pub num_items: u64,
    pub gold_count: u32,
    pub manifest: Manifest,
    pub gold: Option<GoldFile>,
    /// Where the manifest and the gold file are to be written.
    pub manifest_path: PathBuf,
    pub gold_path: Option<PathBuf>,
}

impl BatchPlan {
    /// Escrow plus gold bond: what the requester's reward-token balance must cover.
    pub fn total(&self) -> U256 {
        self.escrow + self.gold_bond
    }
}

/// `p` absolute with symlinks and `..` resolved as far as it exists (it may not exist yet).
fn resolved(p: PathBuf) -> PathBuf {
    if let Ok(c) = p.canonicalize() {
        return c;
    }
    match (p.parent().map(|d| d.canonicalize()), p.file_name()) {
        (Some(Ok(dir)), Some(name)) => dir.join(name),
        _ => std::path::absolute(&p).unwrap_or(p),
    }
}

/// Validates the dataset and builds the batch's parameters and files (nothing written, nothing sent; media files
/// are not read, so the root may differ from the one `create` computes with their hashes — nothing else does).
pub fn plan_batch(c: &Concord, dataset: &Path, o: &CreateOptions) -> Result<BatchPlan> {
    plan_items(c, dataset, &load_items(dataset)?, o)
}

/// The publication folder of a batch: `--out-dir`, else `<dataset stem>.concord/` next to the dataset.
fn out_dir_of(dataset: &Path, o: &CreateOptions) -> PathBuf {
    resolved(o.out_dir.clone().unwrap_or_else(|| {
        let stem = dataset
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("dataset");
        dataset.with_file_name(format!("{stem}.concord"))
    }))
}

/// [`plan_batch`] of items already loaded (and their media hashed).
fn plan_items(c: &Concord, dataset: &Path, items: &[Item], o: &CreateOptions) -> Result<BatchPlan> {
    let gold = GoldFile::from_items(items, &o.classes)?;
    let manifest = Manifest::build(items, &o.classes);
    let n = items.len() as u64;
    if n > u64::from(u32::MAX) {
        return Err(ClientError::Input(
            "a batch holds at most 4,294,967,295 items".into(),
        ));
    }
    let out_dir = out_dir_of(dataset, o);
    // Content-addressed: the same items with other class names must not overwrite a published manifest.
    let manifest_json =
        serde_json::to_vec(&manifest).map_err(|e| ClientError::Input(e.to_string()))?;
    let tag = &alloy::primitives::keccak256(&manifest_json).to_string()[2..14];
    let manifest_path = out_dir.join(format!("manifest-{tag}.json"));
    let gold_path = gold
        .as_ref()
        .map(|_| out_dir.join(format!("gold-{tag}.secret.json")));
    let file_name = manifest_path
        .file_name()
        .map(|f| f.to_string_lossy().to_string())
        .unwrap_or_default();
    let manifest_uri = match (&o.manifest_uri, &o.publish_url) {
        (Some(uri), _) => uri.clone(),
        (None, Some(base)) => format!("{}/{file_name}", base.trim_end_matches('/')),
        (None, None) => format!("file://{}", manifest_path.display()),
    };

    let reward_token = o.reward_token.unwrap_or(c.deployment.token);
    let escrow = U256::from(n) * U256::from(o.replicas) * o.incentives.reward_per_label;
    let gold_count = gold.as_ref().map(|g| g.answers.len() as u32).unwrap_or(0);
    let gold_bond = match (gold_count, o.gold_bond) {
        (0, _) => U256::ZERO,
        (_, Some(b)) => b,
        (g, None) => U256::from(g) * U256::from(o.replicas) * o.incentives.reward_per_label,
    };
    let u96 = |x: U256, what: &str| {
        alloy::primitives::Uint::<96, 2>::checked_from_limbs_slice(x.as_limbs())
            .ok_or_else(|| ClientError::Input(format!("{what} is too large")))
    };
    let params = BatchParams {
        rewardToken: reward_token,
        reviewer: o.reviewer,
        qualifier: o.qualifier,
        numItems: n as u32,
        taskSize: o.task_size,
        replicas: o.replicas,
        numClasses: o.classes.len() as u8,
        thresholdBps: o.threshold_bps,
        maxBundle: o.max_bundle,
        rewardPerLabel: to_u128(o.incentives.reward_per_label, "reward per label")?,
        stakePerTask: u96(o.incentives.stake_per_task, "stake per task")?,
        wrongLabelPenalty: u96(o.incentives.wrong_label_penalty, "wrong-label penalty")?,
        noRevealPenalty: u96(o.incentives.no_reveal_penalty, "no-reveal penalty")?,
        squatPenalty: u96(o.incentives.squat_penalty, "squat penalty")?,
        minStake: u96(o.min_stake, "minimum stake")?,
        minReputation: o.min_reputation,
        periods: Periods {
            commitPeriod: o.commit_period,
            revealPeriod: o.reveal_period,
            reviewPeriod: o.review_period,
            roundPeriod: o.round_period,
            commitWindow: o.commit_window,
        },
        manifestRoot: manifest.root,
        manifestURI: manifest_uri,
        goldRoot: gold.as_ref().map(|g| g.root).unwrap_or_default(),
        goldCount: gold_count,
        goldBond: to_u128(gold_bond, "gold bond")?,
    };
    Ok(BatchPlan {
        params,
        escrow,
        gold_bond,
        num_items: n,
        gold_count,
        manifest,
        gold,
        manifest_path,
        gold_path,
    })
}

/// Validates the dataset, writes manifest and gold secrets, checks the balance, escrows and creates the batch.
pub async fn create_batch(c: &Concord, dataset: &Path, o: &CreateOptions) -> Result<BatchRecord> {
    let from = c.account()?;
    let mut items = load_items(dataset)?;
    let dataset_dir = resolved(dataset.to_path_buf())
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    crate::media::publish_media(
        &mut items,
        &dataset_dir,
        &out_dir_of(dataset, o),
        o.publish_url.as_deref(),
        &c.ipfs_gateway,
    )
    .await?;
    let plan = plan_items(c, dataset, &items, o)?;
    write_json(&plan.manifest_path, &plan.manifest)?;
    if let (Some(g), Some(p)) = (&plan.gold, &plan.gold_path) {
        write_json(p, g)?; // written before the transaction: the salts are never lost
    }
    let BatchPlan {
        params,
        escrow,
        gold_bond,
        num_items: n,
        gold_count,
        manifest,
        manifest_path,
        gold_path,
        ..
    } = plan;
    let manifest_uri = params.manifestURI.clone();
    let reward_token = params.rewardToken;
    let total = escrow + gold_bond;

    // Fail before any transaction when the tokens are not there.
    let token = ConcordToken::new(reward_token, c.provider.clone());
    let balance = token
        .balanceOf(from)
        .call()
        .await
        .map_err(c.read_err("read reward-token balance"))?;
    if balance < total {
        return Err(ClientError::Input(format!(
            "insufficient reward-token balance: {from} holds {} but the escrow is {} ({} items x {} labels x {} per label) plus a gold bond of {}",
            fmt_tokens(balance),
            fmt_tokens(escrow),
            n,
            o.replicas,
            fmt_tokens(o.incentives.reward_per_label),
            fmt_tokens(gold_bond)
        )));
    }
    c.ensure_allowance("approve escrow", reward_token, total)
        .await?;
    let receipt = c
        .send_market("create batch", M::createBatchCall { params })
        .await?;
    let created = market::receipt_event::<M::BatchCreated>(&receipt).ok_or_else(|| {
        ClientError::Input("create batch: no BatchCreated event in the receipt".into())
    })?;
    let batch_id = created.batchId.to::<u64>();
    let record = BatchRecord {
        chain_id: c.chain_id(),
        market: c.market_address(),
        batch_id,
        tx: receipt.transaction_hash,
        escrow,
        gold_bond,
        num_items: n,
        num_tasks: n.div_ceil(u64::from(o.task_size)),
        gold_count: u64::from(gold_count),
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
    pub max_bundle: u64,
    pub labels_needed: u64,
    /// The current round, the end of its joins and commits, and its free positions.
    pub round: u64,
    pub round_join_end: u64,
    pub round_commit_end: u64,
    pub round_free: u64,
    pub bundles: u64,
    pub positions_committed: u64,
    pub labels_committed: u64,
    pub labels_revealed: u64,
    pub tasks_settled: u64,
    pub items_decided: u64,
    pub items_in_review: u64,
    pub gold_count: u64,
    pub gold_revealed: u64,
    pub escrow: String,
    pub paid: String,
    pub refunded: bool,
}

/// Reads a batch, its current round and its bundles.
pub async fn status(c: &Concord, batch_id: u64) -> Result<Status> {
    let b = batch(c, batch_id).await?;
    let (cfg, st) = (&b.config, &b.state);
    let (rd, log, settled, now) = tokio::try_join!(
        market::round(c, batch_id, u64::from(st.round)),
        market::batch_log(c, batch_id, cfg),
        market::settlements(c, batch_id),
        c.chain_time(),
    )?;
    let labels_of = |tasks: &Option<Vec<u64>>| -> u64 {
        tasks
            .iter()
            .flatten()
            .map(|&t| market::task_len(cfg, t))
            .sum()
    };
    let committed = log.bundles.values().filter(|x| x.commit_hash.is_some());
    let revealed = log.bundles.values().filter(|x| x.words.is_some());
    let (mut decided, mut in_review) = (0, 0);
    for (t, s) in &settled {
        let d = u64::from(s.decided_mask.count_ones() as u32);
        decided += d;
        in_review += market::task_len(cfg, *t) - d;
    }
    Ok(Status {
        batch_id,
        phase: market::phase(cfg, st, now),
        now,
        commit_deadline: cfg.commitDeadline.to(),
        reveal_deadline: cfg.revealDeadline.to(),
        review_deadline: cfg.reviewDeadline.to(),
        num_items: u64::from(cfg.numItems),
        num_tasks: u64::from(cfg.numTasks),
        replicas: u64::from(cfg.replicas),
        max_bundle: u64::from(cfg.maxBundle),
        labels_needed: u64::from(cfg.numItems) * u64::from(cfg.replicas),
        round: u64::from(st.round),
        round_join_end: rd.joinEnd.to(),
        round_commit_end: rd.commitEnd.to(),
        round_free: u64::from(rd.free),
        bundles: u64::from(st.bundles),
        positions_committed: st.committed,
        labels_committed: committed.map(|x| labels_of(&x.tasks)).sum(),
        labels_revealed: revealed.map(|x| labels_of(&x.tasks)).sum(),
        tasks_settled: u64::from(st.tasksSettled),
        items_decided: decided,
        items_in_review: in_review,
        gold_count: u64::from(cfg.goldCount),
        gold_revealed: u64::from(st.goldRevealed),
        escrow: fmt_tokens(U256::from(st.escrow)),
        paid: fmt_tokens(U256::from(st.paid)),
        refunded: st.refunded,
    })
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
    let b = market::batch(c, batch).await?;
    if b.roots.gold != gold.root {
        return Err(ClientError::Input(format!(
            "gold file root {} does not match batch {batch}'s gold root {}",
            gold.root, b.roots.gold
        )));
    }
    // The gold masks of the tasks holding gold, read concurrently: answers already revealed are skipped (re-run).
    let k = u64::from(b.config.taskSize);
    let gold_tasks: BTreeSet<u64> = gold.answers.iter().map(|a| a.item / k).collect();
    let masks: HashMap<u64, U256> = stream::iter(gold_tasks)
        .map(|t| async move {
            c.market
                .goldOf(U256::from(batch), U256::from(t))
                .call()
                .await
                .map(|g| (t, g.mask))
        })
        .buffered(32)
        .try_collect()
        .await
        .map_err(c.read_err("read revealed gold"))?;
    let answers: Vec<GoldAnswer> = gold
        .answers
        .iter()
        .zip(gold.proofs())
        .filter(|(a, _)| {
            !masks
                .get(&(a.item / k))
                .is_some_and(|m| m.bit((a.item % k) as usize))
        })
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
        // The market's delegating stubs leave their parameters unnamed: (batchId, answers).
        .map(|ch| M::revealGoldCall {
            _0: U256::from(batch),
            _1: ch.to_vec(),
        })
        .collect();
    first_error(c.send_market_many("reveal gold", calls).await)?;
    Ok(n)
}

pub(crate) fn first_error(
    results: Vec<Result<TransactionReceipt>>,
) -> Result<Vec<TransactionReceipt>> {
    results.into_iter().collect()
}

/// Outcome of a settlement run.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SettleReport {
    pub tasks_settled: u64,
    /// Tasks that cannot settle yet (reveals or gold still open before the reveal deadline).
    pub tasks_waiting: u64,
    /// Bundles never committed in their window, released with the squat penalty.
    pub bundles_expired: u64,
    pub transactions: u64,
    /// Reveals handed to this settler (`crate::handoff`) that the settlement carried: no reveal transaction.
    pub reveals_carried: u64,
    pub rewards_paid: String,
    pub stake_slashed: String,
    pub gas_used: u64,
}

/// Bundles never committed whose round's commit window has passed (anyone may expire them).
pub(crate) async fn stale_bundles(
    c: &Concord,
    batch_id: u64,
    log: &market::BatchLog,
    now: u64,
) -> Result<Vec<M::expireCall>> {
    let rounds: BTreeSet<u16> = log
        .bundles
        .values()
        .filter(|b| b.commit_hash.is_none() && !b.expired)
        .map(|b| b.bundle.round)
        .collect();
    let mut ends = BTreeMap::new();
    let mut deadline = None;
    for r in rounds {
        let rd = market::round(c, batch_id, u64::from(r)).await?;
        // A bundle reserved in a round that never opened is released once no round can open: after the commit
        // deadline.
        let end = if rd.joinEnd == 0 {
            match deadline {
                Some(d) => d,
                None => *deadline.insert(
                    market::batch(c, batch_id)
                        .await?
                        .config
                        .commitDeadline
                        .to::<u64>(),
                ),
            }
        } else {
            rd.commitEnd.to::<u64>()
        };
        ends.insert(r, end);
    }
    Ok(log
        .bundles
        .values()
        .filter(|b| b.commit_hash.is_none() && !b.expired)
        .filter(|b| ends.get(&b.bundle.round).is_some_and(|&end| now > end))
        .map(|b| M::expireCall {
            batchId: U256::from(batch_id),
            bundleId: U256::from(b.id),
            bundle: b.bundle.clone(),
        })
        .collect())
}

/// Settles every task of a batch that can settle, at most `chunk` tasks per transaction (0: as many as fit),
/// pipelined; each call re-supplies
/// the committed bundles holding its tasks. Bundles never committed in their round's window are expired first
/// (their squat penalty forfeited). Before the reveal deadline, reveals handed to this settler and kept under
/// `home` (`crate::handoff`) are carried by the settlement. Permissionless.
pub async fn settle(c: &Concord, batch_id: u64, chunk: u64, home: &Path) -> Result<SettleReport> {
    let b = batch(c, batch_id).await?;
    let cfg = &b.config;
    let (mut log, settled, now) = tokio::try_join!(
        market::batch_log(c, batch_id, cfg),
        market::settlements(c, batch_id),
        c.chain_time(),
    )?;
    let mut report = SettleReport::default();
    let expire = stale_bundles(c, batch_id, &log, now).await?;
    report.bundles_expired = expire.len() as u64;
    report.transactions += expire.len() as u64;
    for r in first_error(c.send_market_many("expire bundle", expire).await)? {
        report.gas_used += r.gas_used;
    }

    // Before the reveal deadline a task settles only once its every lane is revealed (on-chain, or handed over
    // and carried) and all gold is out.
    let early = now <= cfg.revealDeadline.to::<u64>();
    if early {
        let handed = crate::handoff::carry_into(home, c, batch_id, &mut log);
        tracing::debug!("{handed} reveals handed over for batch {batch_id} can be carried");
    }
    // (The market settles early only once every position of the batch is committed.)
    let early_open =
        b.state.goldRevealed == cfg.goldCount && b.state.committed == market::positions(cfg);
    let ready = |t: &u64| {
        !early
            || (early_open
                && log.holders.get(t).is_some_and(|h| {
                    h.len() == usize::from(cfg.replicas)
                        && h.iter()
                            .all(|id| log.bundles.get(id).is_some_and(|x| x.words.is_some()))
                }))
    };
    let pending: Vec<u64> = (0..u64::from(cfg.numTasks))
        .filter(|t| !settled.contains_key(t))
        .collect();
    let (ready, waiting): (Vec<u64>, Vec<u64>) = pending.into_iter().partition(ready);
    report.tasks_waiting = waiting.len() as u64;
    let calls = settle_calls(c, batch_id, &log, &ready, chunk).await?;
    report.transactions += calls.len() as u64;
    let (mut paid, mut slashed) = (U256::ZERO, U256::ZERO);
    for receipt in first_error(c.send_market_many("settle", calls).await)? {
        report.gas_used += receipt.gas_used;
        report.reveals_carried += market::receipt_events::<M::Revealed>(&receipt).len() as u64;
        report.tasks_settled += market::receipt_events::<M::TasksSettled>(&receipt)
            .iter()
            .map(|e| e.outcomes.len() as u64 / 2)
            .sum::<u64>();
        for e in market::receipt_events::<M::BundleScored>(&receipt) {
            paid += e.reward;
            slashed += e.slashed;
        }
    }
    report.rewards_paid = fmt_tokens(paid);
    report.stake_slashed = fmt_tokens(slashed);
    Ok(report)
}

/// Most gas one settlement transaction may use: half a 30M block, so it fits next to other traffic.
const SETTLE_GAS: u64 = 15_000_000;

/// The settlement calls for `tasks`: chunks of at most `chunk` tasks (0: as many as fit [`SETTLE_GAS`], sized
/// from the estimate of a first probe chunk), each checked with `eth_estimateGas` (concurrently) and split until it
/// fits: in proportion when the estimate says by how much, else in half. Each bundle names only its positions in
/// the chunk, so over all calls every position is mapped once.
pub(crate) async fn settle_calls(
    c: &Concord,
    batch_id: u64,
    log: &market::BatchLog,
    tasks: &[u64],
    chunk: u64,
) -> Result<Vec<M::settleCall>> {
    const PROBE: usize = 64;
    // A read-only caller (`check` without a key) estimates from the zero address.
    let me = c.account().unwrap_or(Address::ZERO);
    let call = |tasks: &[u64]| M::settleCall {
        // (batchId, tasks, bundles): the market's delegating stubs leave their parameters unnamed.
        _0: U256::from(batch_id),
        _1: tasks.iter().map(|&t| U256::from(t)).collect(),
        _2: log.proofs_for(tasks),
    };
    // Some(gas) when the node can estimate the call, None when it reverts or exceeds the node's gas cap.
    let estimate = |call: &M::settleCall| {
        let tx = alloy::rpc::types::TransactionRequest::default()
            .with_from(me)
            .with_to(c.market_address())
            .with_input(alloy::sol_types::SolCall::abi_encode(call));
        async move { c.provider.estimate_gas(tx).await.ok() }
    };
    let budget = SETTLE_GAS * 9 / 10;
    let scaled =
        |n: usize, gas: u64| (n as u128 * u128::from(budget) / u128::from(gas.max(1))) as usize;
    // Chunks of tasks side by side in their lane-0 bundles (so those bundles are supplied to one call, not to
    // every call), each sorted as `settle` takes them.
    let lane0 = |t: &u64| {
        log.holders
            .get(t)
            .into_iter()
            .flatten()
            .find(|id| log.bundles.get(id).is_some_and(|b| b.bundle.lane == 0))
            .copied()
            .unwrap_or(u64::MAX)
    };
    let mut grouped = tasks.to_vec();
    grouped.sort_by_key(|t| (lane0(t), *t));
    let sorted = |part: &[u64]| {
        let mut v = part.to_vec();
        v.sort_unstable();
        v
    };
    let size = match chunk {
        0 if tasks.len() > PROBE => match estimate(&call(&sorted(&grouped[..PROBE]))).await {
            Some(g) => scaled(PROBE, g).clamp(1, tasks.len()),
            None => tasks.len(),
        },
        0 => tasks.len().max(1),
        n => n as usize,
    };
    let mut queue: Vec<Vec<u64>> = grouped.chunks(size).map(sorted).collect();
    let mut out = Vec::new();
    while !queue.is_empty() {
        // Each chunk's call is built once: estimated, then kept if it fits.
        let calls: Vec<(Vec<u64>, M::settleCall)> = std::mem::take(&mut queue)
            .into_iter()
            .map(|part| {
                let c = call(&part);
                (part, c)
            })
            .collect();
        let estimates: Vec<Option<u64>> = stream::iter(calls.iter().map(|(_, c)| estimate(c)))
            .buffered(4)
            .collect()
            .await;
        for ((part, candidate), gas) in calls.into_iter().zip(estimates) {
            let split = match gas {
                _ if part.len() == 1 => None,
                Some(g) if g <= SETTLE_GAS => None,
                Some(g) => Some(scaled(part.len(), g).clamp(1, part.len() - 1)),
                // Over the node's gas cap, or a revert that a single task will report when sent.
                None => Some(part.len().div_ceil(2)),
            };
            match split {
                None => out.push(candidate),
                Some(n) => queue.extend(part.chunks(n).map(<[u64]>::to_vec)),
            }
        }
    }
    Ok(out)
}

/// Sends the reviewer's decisions `(item, label)`, pipelined; each re-supplies the bundles holding its task.
pub async fn resolve(c: &Concord, batch_id: u64, decisions: &[(u64, u8)]) -> Result<usize> {
    let b = batch(c, batch_id).await?;
    let log = market::batch_log(c, batch_id, &b.config).await?;
    let k = u64::from(b.config.taskSize);
    let calls: Vec<_> = decisions
        .iter()
        // (batchId, item, label, bundles): the market's delegating stubs leave their parameters unnamed.
        .map(|&(item, label)| M::resolveCall {
            _0: U256::from(batch_id),
            _1: U256::from(item),
            _2: label,
            _3: log.proofs_for(&[item / k]),
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
            // A single unnamed parameter (batchId) becomes a tuple struct.
            M::refundCall(U256::from(batch_id)),
        )
        .await?;
    Ok(market::receipt_event::<M::Refunded>(&receipt)
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
    let cfg = batch(c, batch_id).await?.config;
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
        assert_eq!(
            (
                o.commit_period,
                o.round_period,
                o.commit_window,
                o.max_bundle
            ),
            (7200, 300, 1200, 8)
        );
        assert_eq!(
            o.incentives.squat_penalty,
            concord_protocol::units::tokens(5)
        );
        assert!(Incentives::parse("1", "x", "3", "40", "5").is_err());
    }
}
