//! `concord-bench gas`: gas per accepted label of Concord next to a naive one-transaction-per-label market,
//! both on the same fresh anvil in the same run, for each workload shape.
//!
//! Counted honestly: every transaction a user pays for (the requester's approve and create, each annotator's
//! approve and stake, every join and round seal, commit, reveal, expire and settle, each annotator's collect, the
//! requester's refund), from real receipts, each put in its phase by the function it called; divided by the
//! labels the chain accepted (`BundleScored.agreed`, for an optimistic batch its final `Proposed` credits, and
//! for the naive market its reward transfers); on a
//! workload where about `--wrong-share` of the labels are wrong, so slashing, redistribution and items without
//! consensus all happen. Each annotator joins once per round, so a batch takes several rounds and every
//! annotator several bundles (its approve, stake and collect are spread over them). Prints a table and writes
//! `target/bench/gas.json`. Each shape runs three times: settled on-chain (`settle`); settled optimistically
//! (`propose`, the challenge window, `finalize` and one `claimAll`; the batch has no reviewer); and settled
//! optimistically with relayed joins and commits (each annotator signs its first join, with a permit of its stake,
//! and its commits, and hands them to the requester's server, which sends each round's in one `relayJoins` and one
//! `relayCommits` transaction; the stake moves inside `relayJoins`, booked under join) — all next to the naive
//! market.

use alloy::network::EthereumWallet;
use alloy::primitives::{keccak256, Address, U256};
use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use alloy::rpc::types::TransactionReceipt;
use alloy::sol_types::SolCall;
use alloy::sol_types::SolValue;
use clap::Parser;
use concord_client::bindings::optimistic::LabelMarketV2Optimistic as O;
use concord_client::bindings::{relay, ConcordToken, LabelMarketV2 as M, NaiveLabelMarket};
use concord_client::market;
use concord_client::optimistic;
use concord_client::protocol::units::tokens;
use concord_client::requester::{CreateOptions, Incentives};
use concord_client::store::Store;
use concord_client::{annotator, requester};
use concord_testkit::{signer, write_items, LocalChain};
use eyre::WrapErr;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// A workload shape: items per task x classes x tasks per join (the bundle; 1 when left out).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Shape {
    pub task_size: u16,
    pub classes: u8,
    pub bundle: u8,
}

impl std::str::FromStr for Shape {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("`{s}` is not a shape TASKSIZExCLASSES[xBUNDLE] (e.g. 32x4x8)");
        let parts: Vec<&str> = s.split('x').map(str::trim).collect();
        let (k, c, m) = match parts[..] {
            [k, c] => (k, c, "1"),
            [k, c, m] => (k, c, m),
            _ => return Err(bad()),
        };
        let shape = Shape {
            task_size: k.parse().map_err(|_| bad())?,
            classes: c.parse().map_err(|_| bad())?,
            bundle: m.parse().map_err(|_| bad())?,
        };
        if !(1..=32).contains(&shape.task_size)
            || !(2..=16).contains(&shape.classes)
            || !(1..=32).contains(&shape.bundle)
        {
            return Err(format!(
                "`{s}`: task size 1..32, classes 2..16, bundle 1..32"
            ));
        }
        Ok(shape)
    }
}

impl std::fmt::Display for Shape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}x{}x{}", self.task_size, self.classes, self.bundle)
    }
}

#[derive(Parser)]
pub struct GasArgs {
    /// Items per Concord batch.
    #[arg(long, default_value_t = 3072)]
    pub items: u32,
    /// Items of the naive market's batch (its gas per label does not depend on the batch size).
    #[arg(long, default_value_t = 320)]
    pub naive_items: u32,
    /// Workload shapes, TASKSIZExCLASSES[xBUNDLE] (v1's shape with one task per join, and the v2 target shape
    /// with bundles of 1, 2, 4 and 8 tasks).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "10x3x1,32x4x1,32x4x2,32x4x4,32x4x8"
    )]
    pub shapes: Vec<Shape>,
    /// Labels per item.
    #[arg(long, default_value_t = 3)]
    pub replicas: u8,
    /// Share of labels that are wrong (a different class than the truth).
    #[arg(long, default_value_t = 0.1)]
    pub wrong_share: f64,
    /// Annotators (default: enough that the batch takes about `--rounds` join rounds, at least 9). Each joins
    /// once per round, so fewer annotators mean more rounds (a late round's positions cost more to map at
    /// settlement) and more annotators mean more approve + stake + collect transactions.
    #[arg(long)]
    pub annotators: Option<u32>,
    /// Join rounds the default annotator count aims at.
    #[arg(long, default_value_t = 4)]
    pub rounds: u32,
    /// Seed of the wrong labels.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Output JSON.
    #[arg(long, default_value = "target/bench/gas.json")]
    pub out: PathBuf,
}

/// How a Concord batch is settled (and its commits sent).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// `settle`, each annotator sending its own commits.
    OnChain,
    /// A proposal, finalized and claimed in one `claimAll`.
    Optimistic,
    /// As `Optimistic`, with every round's first joins (staking through a permit) and commits signed by the
    /// annotators and sent by the requester in one `relayJoins` and one `relayCommits` transaction.
    Relayed,
}

/// Gas of one design on one workload, by phase (each phase: every transaction in it).
#[derive(Serialize, Default, Clone, Debug)]
#[serde(rename_all = "camelCase")]
struct Phases {
    /// Requester: approve + create.
    create: u64,
    /// Annotators: approve + stake.
    stake: u64,
    /// Joins, and the seals of rounds whose join window ended.
    join: u64,
    commit: u64,
    reveal: u64,
    settle: u64,
    /// Annotators' collects and the requester's refund.
    collect: u64,
    total: u64,
    transactions: u64,
    labels_submitted: u64,
    /// Join rounds the batch took and bundles joined (Concord).
    rounds: u64,
    bundles: u64,
    /// From the chain: `BundleScored.agreed` or the final proposal's credits (Concord), reward transfers (naive).
    accepted_labels: u64,
    gas_per_accepted_label: u64,
    /// Where the gas went: transactions and gas by the function called (Concord; the naive market's phases are its
    /// functions).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    functions: BTreeMap<&'static str, FunctionGas>,
}

/// The transactions that called one function, and their gas.
#[derive(Serialize, Default, Clone, Copy, Debug)]
struct FunctionGas {
    transactions: u64,
    gas: u64,
}

impl Phases {
    fn finish(mut self, transactions: u64) -> Self {
        self.total = self.create
            + self.stake
            + self.join
            + self.commit
            + self.reveal
            + self.settle
            + self.collect;
        self.transactions = transactions;
        self.gas_per_accepted_label = self.total / self.accepted_labels.max(1);
        self
    }
}

/// Gas and transactions in blocks (from, to].
async fn gas_between(p: &DynProvider, from: u64, to: u64) -> eyre::Result<(u64, u64)> {
    let (mut gas, mut txs) = (0, 0);
    for n in from + 1..=to {
        if let Some(b) = p.get_block_by_number(n.into()).await? {
            gas += b.header.gas_used;
            txs += b.transactions.len() as u64;
        }
    }
    Ok((gas, txs))
}

/// Measures the gas of the blocks a step mines.
struct Meter<'a> {
    p: &'a DynProvider,
    at: u64,
    txs: u64,
}

impl<'a> Meter<'a> {
    async fn new(p: &'a DynProvider) -> eyre::Result<Self> {
        Ok(Self {
            p,
            at: p.get_block_number().await?,
            txs: 0,
        })
    }

    /// Gas of everything mined since the last reading.
    async fn read(&mut self) -> eyre::Result<u64> {
        let now = self.p.get_block_number().await?;
        let (gas, txs) = gas_between(self.p, self.at, now).await?;
        self.at = now;
        self.txs += txs;
        Ok(gas)
    }
}

/// Puts the gas of every transaction mined in blocks (from, to] into its phase, by the function it called;
/// returns the transaction count. An `approve` is the requester's escrow approval or an annotator's stake
/// approval, by sender.
async fn classify(
    p: &DynProvider,
    from: u64,
    to: u64,
    requester: Address,
    ph: &mut Phases,
) -> eyre::Result<u64> {
    let mut txs = 0;
    for n in from + 1..=to {
        let Some(receipts) = p.get_block_receipts(n.into()).await? else {
            continue;
        };
        let Some(block) = p.get_block_by_number(n.into()).full().await? else {
            continue;
        };
        for (tx, r) in block.transactions.txns().zip(receipts) {
            txs += 1;
            let input = alloy::consensus::Transaction::input(tx);
            let sel: [u8; 4] = input
                .get(..4)
                .and_then(|s| s.try_into().ok())
                .unwrap_or_default();
            let g = r.gas_used;
            let (slot, name) = match sel {
                s if s == ConcordToken::approveCall::SELECTOR => {
                    if r.from == requester {
                        (&mut ph.create, "approve (escrow)")
                    } else {
                        (&mut ph.stake, "approve (stake)")
                    }
                }
                s if s == M::createBatchCall::SELECTOR => (&mut ph.create, "createBatch"),
                s if s == M::createBatchWithPermitCall::SELECTOR => {
                    (&mut ph.create, "createBatchWithPermit")
                }
                s if s == M::stakeCall::SELECTOR => (&mut ph.stake, "stake"),
                s if s == M::joinCall::SELECTOR => (&mut ph.join, "join"),
                s if s == M::sealCall::SELECTOR => (&mut ph.join, "seal"),
                s if s == M::drawSeedCall::SELECTOR => (&mut ph.join, "drawSeed"),
                // A commit that also joins the next round is booked as a commit: the join rides along.
                s if s == M::commitCall::SELECTOR => (&mut ph.commit, "commit"),
                s if s == M::commitAndJoinCall::SELECTOR => (&mut ph.commit, "commitAndJoin"),
                s if s == relay::LabelMarketV2Relay::relayCommitsCall::SELECTOR => {
                    (&mut ph.commit, "relayCommits")
                }
                // Relayed first joins carry the annotators' stake (a permit and the transfer): booked as joins.
                s if s == relay::LabelMarketV2Relay::relayJoinsCall::SELECTOR => {
                    (&mut ph.join, "relayJoins")
                }
                s if s == M::revealCall::SELECTOR => (&mut ph.reveal, "reveal"),
                s if s == M::settleCall::SELECTOR => (&mut ph.settle, "settle"),
                s if s == M::expireCall::SELECTOR => (&mut ph.settle, "expire"),
                s if s == M::revealGoldCall::SELECTOR => (&mut ph.settle, "revealGold"),
                s if s == O::proposeCall::SELECTOR => (&mut ph.settle, "propose"),
                s if s == O::finalizeCall::SELECTOR => (&mut ph.settle, "finalize"),
                s if s == O::claimAllCall::SELECTOR => (&mut ph.settle, "claimAll"),
                s if s == O::claimCall::SELECTOR => (&mut ph.settle, "claim"),
                s if s == M::collectCall::SELECTOR => (&mut ph.collect, "collect"),
                s if s == M::refundCall::SELECTOR => (&mut ph.collect, "refund"),
                other => eyre::bail!(
                    "block {n}: a transaction to an unexpected function {}",
                    alloy::primitives::hex::encode(other)
                ),
            };
            *slot += g;
            let f = ph.functions.entry(name).or_default();
            f.transactions += 1;
            f.gas += g;
        }
    }
    Ok(txs)
}

/// The label annotator `who` gives item `item` of a batch whose truth is `truth`: the truth, except for a
/// `wrong_share` of (item, annotator) pairs, chosen by hash, which get another class.
fn label_of(truth: &[u8], classes: u8, wrong_share: f64, seed: u64, item: usize, who: usize) -> u8 {
    let h = keccak256((U256::from(seed), U256::from(item), U256::from(who)).abi_encode());
    let draw = u64::from_be_bytes(h[..8].try_into().unwrap_or_default());
    let t = truth[item];
    if (draw as f64) < wrong_share * u64::MAX as f64 {
        (t + 1 + h[8] % (classes - 1)) % classes
    } else {
        t
    }
}

impl GasArgs {
    /// The annotators of a workload: `--annotators`, or enough for about `--rounds` rounds (at least 9).
    fn annotators_for(&self, shape: Shape) -> u32 {
        self.annotators.unwrap_or_else(|| {
            let tasks = self.items.div_ceil(u32::from(shape.task_size));
            let positions = tasks * u32::from(self.replicas);
            positions
                .div_ceil(self.rounds.max(1) * u32::from(shape.bundle))
                .max(9)
        })
    }

    pub async fn run(self) -> eyre::Result<()> {
        let mut rows = Vec::new();
        println!(
            "gas per accepted label: {} items x {} labels, ~{:.0}% wrong labels, every transaction counted; \
             Concord and the naive market on the same anvil, same run",
            self.items,
            self.replicas,
            100.0 * self.wrong_share
        );
        println!(
            "{:<8} {:<8} {:>9} {:>9} {:>10} {:>10} {:>10} {:>10} {:>9} {:>6} {:>9} {:>10}",
            "shape",
            "design",
            "create",
            "stake",
            "join",
            "commit",
            "reveal",
            "settle",
            "collect",
            "txs",
            "accepted",
            "gas/label"
        );
        for &shape in &self.shapes {
            let annotators = self.annotators_for(shape);
            let chain = LocalChain::start(annotators, "100000", "10000000").await?;
            let truth: Vec<u8> = (0..self.items.max(self.naive_items))
                .map(|i| (i % u32::from(shape.classes)) as u8)
                .collect();
            let concord = self
                .concord(&chain, shape, &truth, Mode::OnChain)
                .await
                .wrap_err("Concord run")?;
            // On a chain of its own: its annotators approve and stake from scratch, as in the run above.
            let fresh = LocalChain::start(annotators, "100000", "10000000").await?;
            let optimistic = self
                .concord(&fresh, shape, &truth, Mode::Optimistic)
                .await
                .wrap_err("Concord run settled optimistically")?;
            drop(fresh);
            let fresh = LocalChain::start(annotators, "100000", "10000000").await?;
            let relayed = self
                .concord(&fresh, shape, &truth, Mode::Relayed)
                .await
                .wrap_err("Concord run with relayed commits")?;
            drop(fresh);
            let naive = self
                .naive(&chain, shape, &truth)
                .await
                .wrap_err("naive run")?;
            let ratio =
                naive.gas_per_accepted_label as f64 / concord.gas_per_accepted_label.max(1) as f64;
            let name = shape.to_string();
            let ratio_optimistic = naive.gas_per_accepted_label as f64
                / optimistic.gas_per_accepted_label.max(1) as f64;
            let ratio_relayed =
                naive.gas_per_accepted_label as f64 / relayed.gas_per_accepted_label.max(1) as f64;
            for (design, p) in [
                ("concord", &concord),
                ("optimist", &optimistic),
                ("relayed", &relayed),
                ("naive", &naive),
            ] {
                println!(
                    "{:<8} {:<8} {:>9} {:>9} {:>10} {:>10} {:>10} {:>10} {:>9} {:>6} {:>9} {:>10}",
                    name,
                    design,
                    p.create,
                    p.stake,
                    p.join,
                    p.commit,
                    p.reveal,
                    p.settle,
                    p.collect,
                    p.transactions,
                    p.accepted_labels,
                    p.gas_per_accepted_label
                );
            }
            for (design, p) in [("relayed", &relayed), ("optimist", &optimistic)] {
                let per: Vec<String> = p
                    .functions
                    .iter()
                    .map(|(f, g)| {
                        format!("{f} {}x{}", g.transactions, g.gas / g.transactions.max(1))
                    })
                    .collect();
                println!(
                    "{name:<8} {design:<8} by function (txs x gas each): {}",
                    per.join(", ")
                );
            }
            println!(
                "{name:<8} naive / concord = {ratio:.2}x, naive / optimistic = {ratio_optimistic:.2}x, \
                 naive / relayed = {ratio_relayed:.2}x ({annotators} annotators, {} rounds, {} bundles)",
                concord.rounds, concord.bundles
            );
            rows.push(serde_json::json!({
                "taskSize": shape.task_size, "classes": shape.classes, "replicas": self.replicas, "bundle": shape.bundle,
                "items": self.items, "naiveItems": self.naive_items, "wrongShare": self.wrong_share,
                "annotators": annotators,
                "gas_per_accepted_label": concord.gas_per_accepted_label,
                "gas_per_accepted_label_optimistic": optimistic.gas_per_accepted_label,
                "gas_per_accepted_label_relayed": relayed.gas_per_accepted_label,
                "concord": concord, "optimistic": optimistic, "relayed": relayed, "naive": naive,
                "naiveOverConcord": ratio, "naiveOverOptimistic": ratio_optimistic, "naiveOverRelayed": ratio_relayed,
            }));
        }
        if let Some(d) = self.out.parent() {
            std::fs::create_dir_all(d)?;
        }
        let json = serde_json::json!({ "protocol": "v2", "workloads": rows });
        std::fs::write(&self.out, serde_json::to_string_pretty(&json)? + "\n")?;
        println!("wrote {}", self.out.display());
        Ok(())
    }

    /// One Concord batch of `shape`, settled as `mode` says.
    async fn concord(
        &self,
        chain: &LocalChain,
        shape: Shape,
        truth: &[u8],
        mode: Mode,
    ) -> eyre::Result<Phases> {
        let optimistic = mode != Mode::OnChain;
        let dir = chain.dir.path().join(format!(
            "concord-{shape}{}",
            match mode {
                Mode::OnChain => "",
                Mode::Optimistic => "-optimistic",
                Mode::Relayed => "-relayed",
            }
        ));
        std::fs::create_dir_all(&dir)?;
        let classes: Vec<String> = (0..shape.classes).map(|c| format!("c{c}")).collect();
        let ds = dir.join("items.jsonl");
        write_items(&ds, u64::from(self.items), |_| None)?;
        let acc = &chain.accounts;
        let req = chain.client(&acc.requester.private_key).await?;
        let p = &req.provider;
        let start = p.get_block_number().await?;
        // The contract wants a no-reveal penalty above task size x wrong-label penalty, and a task's stake to
        // cover it: scale both with the task size (10 items: 25 and 30 tokens). Short rounds in a long commit
        // phase: each annotator joins once per round, so the batch takes many rounds.
        let k = u64::from(shape.task_size);
        let o = CreateOptions {
            task_size: shape.task_size,
            replicas: self.replicas,
            max_bundle: shape.bundle,
            incentives: Incentives {
                stake_per_task: tokens(2 * k + 10),
                wrong_label_penalty: tokens(2),
                no_reveal_penalty: tokens(2 * k + 5),
                ..Incentives::default()
            },
            min_stake: U256::ZERO,
            min_reputation: -1_000_000,
            commit_period: 30 * 86_400,
            round_period: 60,
            commit_window: 60,
            out_dir: Some(dir.join("req")),
            ..CreateOptions::new(
                classes,
                if optimistic {
                    Address::ZERO
                } else {
                    acc.requester.address
                },
            )
        };
        let rec = requester::create_batch(&req, &ds, &o).await?;

        let mut clients = Vec::new();
        for (i, a) in acc.annotators.iter().enumerate() {
            let c = chain.client(&a.private_key).await?;
            // Relayed: each annotator stakes with its first join instead, through a permit (`Relay::stake`).
            if mode != Mode::Relayed {
                annotator::stake(&c, tokens(10_000)).await?;
            }
            clients.push((c, Store::open(&dir.join(format!("a{i}.sqlite")))?));
        }
        let (classes_n, wrong, seed, items) =
            (shape.classes, self.wrong_share, self.seed, rec.num_items);
        let mut submitted = 0u64;
        let label = |who: usize, task: u64| -> Vec<u8> {
            let labels: Vec<u8> = (task * k..(task * k + k).min(items))
                .map(|i| label_of(truth, classes_n, wrong, seed, i as usize, who))
                .collect();
            submitted += labels.len() as u64;
            labels
        };
        // The requester's server (`serve --publish --accept-reveals [--accept-commits]`, here in-process, over
        // HTTP): it takes the reveals and, in relayed mode, each round's signed commits.
        let settler_home = dir.join("settler");
        let intake = concord_web::publish::Intake {
            client: req.clone(),
            home: settler_home.clone(),
            reveals: true,
            commits: mode == Mode::Relayed,
            joins: mode == Mode::Relayed,
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}/", listener.local_addr()?);
        let app = concord_web::publish::router(dir.join("req"), Some(intake));
        let server = tokio::spawn(async move { axum::serve(listener, app).await });
        let plan = concord_testkit::crowd::Plan {
            tasks: Some(u64::from(shape.bundle)),
            seed: self.seed,
            fold: true,
            relay: (mode == Mode::Relayed).then(|| concord_testkit::crowd::Relay {
                url: url.clone(),
                requester: req.clone(),
                home: settler_home.clone(),
                stake: tokens(10_000),
            }),
            ..Default::default()
        };
        let rounds = concord_testkit::crowd::work(&clients, rec.batch_id, &plan, label, |s| {
            chain.advance(s)
        })
        .await?;
        eyre::ensure!(
            mode != Mode::Relayed || rounds.relayed_joins >= acc.annotators.len() as u64,
            "the requester relayed {} joins for {} annotators",
            rounds.relayed_joins,
            acc.annotators.len()
        );
        eyre::ensure!(
            mode != Mode::Relayed || rounds.relayed == rounds.joins,
            "the requester relayed {} commits of {} bundles",
            rounds.relayed,
            rounds.joins
        );
        let b = market::batch(&req, rec.batch_id).await?;
        let now = req.chain_time().await?;
        let commit_end = b.config.commitDeadline.to::<u64>();
        if now <= commit_end && b.state.committed < market::positions(&b.config) {
            chain.advance(commit_end + 1 - now).await?;
        }
        // Every position is committed, so reveals are open and the batch can settle before the reveal deadline:
        // each annotator hands its reveals to the requester (the settler: `serve --publish --accept-reveals`, here
        // in-process, over HTTP), which checks them on-chain, and the settlement carries them — no annotator pays
        // a reveal transaction.
        let b = market::batch(&req, rec.batch_id).await?;
        eyre::ensure!(
            b.state.committed == market::positions(&b.config),
            "the crowd left positions uncommitted; carried reveals need every position committed"
        );
        for (c, store) in &clients {
            let r = annotator::reveal(c, store, Some(rec.batch_id), Some(&url)).await?;
            eyre::ensure!(
                r.failed.is_empty() && r.handoff_refused.is_empty() && r.done.is_empty(),
                "a reveal was not handed over: {:?} {:?}",
                r.failed,
                r.handoff_refused
            );
        }
        server.abort();
        if optimistic {
            let p = optimistic::propose(&req, rec.batch_id, &settler_home).await?;
            eyre::ensure!(
                p.reveals_carried == rounds.joins,
                "the proposal carried {} reveals of {} bundles",
                p.reveals_carried,
                rounds.joins
            );
            let now = req.chain_time().await?;
            chain
                .advance(p.challenge_end + 1 - now.min(p.challenge_end))
                .await?;
            let c = optimistic::claim(&req, rec.batch_id).await?;
            eyre::ensure!(
                c.bundles_claimed == rounds.joins,
                "claimed {} of {} bundles",
                c.bundles_claimed,
                rounds.joins
            );
        } else {
            let s = super::settle_all(&req, &rec, 0, &settler_home).await?;
            eyre::ensure!(
                s.reveals_carried == rounds.joins,
                "the settlement carried {} reveals of {} bundles",
                s.reveals_carried,
                rounds.joins
            );
        }
        for (c, store) in &clients {
            annotator::collect(c, store).await?;
        }
        // Items without consensus are not reviewed here: after the review window their escrow goes back.
        let review_end = b.config.reviewDeadline.to::<u64>();
        let now = req.chain_time().await?;
        chain.advance(review_end + 1 - now.min(review_end)).await?;
        requester::refund(&req, rec.batch_id).await?;
        let end = p.get_block_number().await?;
        let mut ph = Phases {
            labels_submitted: submitted,
            ..Phases::default()
        };
        let txs = classify(p, start, end, acc.requester.address, &mut ph).await?;
        let scored = market::bundles_scored(&req, rec.batch_id).await?;
        ph.accepted_labels = scored.iter().map(|e| e.agreed.to::<u64>()).sum();
        ph.rounds = rounds.rounds;
        ph.bundles = rounds.joins;
        Ok(ph.finish(txs))
    }

    async fn naive(&self, chain: &LocalChain, shape: Shape, truth: &[u8]) -> eyre::Result<Phases> {
        let acc = &chain.accounts;
        let rpc = chain.rpc();
        let connect = |key: &str| -> eyre::Result<(Address, DynProvider)> {
            let s = signer(key)?;
            Ok((
                s.address(),
                ProviderBuilder::new()
                    .wallet(EthereumWallet::from(s))
                    .connect_http(rpc.parse()?)
                    .erased(),
            ))
        };
        let (_, req) = connect(&acc.requester.private_key)?;
        let naive = NaiveLabelMarket::deploy(&req).await?;
        let mut ph = Phases::default();
        let mut meter = Meter::new(&req).await?;
        let token = ConcordToken::new(chain.deployment.token, &req);
        let reward = tokens(1);
        let escrow = U256::from(self.naive_items) * U256::from(self.replicas) * reward;
        token
            .approve(*naive.address(), escrow)
            .send()
            .await?
            .get_receipt()
            .await?;
        naive
            .createBatch(
                chain.deployment.token,
                self.naive_items,
                self.replicas,
                shape.classes,
                reward.to(),
            )
            .send()
            .await?
            .get_receipt()
            .await?;
        ph.create = meter.read().await?;
        let n = u64::from(self.naive_items);
        // Each item is labeled by the first `replicas` annotators: one commit and one reveal transaction per label.
        let annotators: Vec<(usize, (Address, DynProvider))> = acc
            .annotators
            .iter()
            .take(usize::from(self.replicas))
            .map(|a| connect(&a.private_key))
            .collect::<eyre::Result<Vec<_>>>()?
            .into_iter()
            .enumerate()
            .collect();
        for phase in 0..2 {
            for (who, (addr, ap)) in &annotators {
                let m = NaiveLabelMarket::new(*naive.address(), ap);
                let mut pending = Vec::new();
                for item in 0..n {
                    let label = label_of(
                        truth,
                        shape.classes,
                        self.wrong_share,
                        self.seed,
                        item as usize,
                        *who,
                    );
                    let salt = keccak256((U256::from(item), *addr).abi_encode());
                    let tx = if phase == 0 {
                        let h = keccak256(
                            (U256::ZERO, U256::from(item), *addr, U256::from(label), salt)
                                .abi_encode_params(),
                        );
                        m.commit(U256::ZERO, U256::from(item), h).send().await?
                    } else {
                        m.reveal(U256::ZERO, U256::from(item), label, salt)
                            .send()
                            .await?
                    };
                    pending.push(tx);
                }
                for t in pending {
                    eyre::ensure!(t.get_receipt().await?.status(), "naive tx reverted");
                }
            }
            if phase == 0 {
                ph.commit = meter.read().await?;
                ph.labels_submitted = n * annotators.len() as u64;
            } else {
                ph.reveal = meter.read().await?;
            }
        }
        let mut pending = Vec::new();
        for item in 0..n {
            pending.push(naive.settle(U256::ZERO, U256::from(item)).send().await?);
        }
        let mut receipts: Vec<TransactionReceipt> = Vec::new();
        for t in pending {
            let r = t.get_receipt().await?;
            eyre::ensure!(r.status(), "naive settle reverted");
            receipts.push(r);
        }
        ph.settle = meter.read().await?;
        // The naive market pays each agreeing label with one reward transfer: those are its accepted labels.
        ph.accepted_labels = receipts
            .iter()
            .flat_map(|r| r.logs())
            .filter_map(|l| l.log_decode::<ConcordToken::Transfer>().ok())
            .filter(|t| t.inner.data.from == *naive.address())
            .count() as u64;
        Ok(ph.finish(meter.txs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::{parse, Cmd};

    #[test]
    fn defaults_are_todays_shape_and_the_v2_target_shape() {
        let Cmd::Gas(g) = parse(&["gas"]).cmd else {
            panic!("not gas")
        };
        let shapes: Vec<String> = g.shapes.iter().map(Shape::to_string).collect();
        assert_eq!(shapes, ["10x3x1", "32x4x1", "32x4x2", "32x4x4", "32x4x8"]);
        assert_eq!(
            (g.items, g.naive_items, g.replicas, g.annotators, g.rounds),
            (3072, 320, 3, None, 4)
        );
        assert_eq!(g.wrong_share, 0.1);
        assert_eq!(g.out.to_str(), Some("target/bench/gas.json"));
        assert!("33x4".parse::<Shape>().is_err() && "8x1".parse::<Shape>().is_err());
        let auto = |s: &str| g.annotators_for(s.parse().expect("a shape"));
        assert_eq!(
            auto("32x4x8"),
            9,
            "96 tasks x 3 lanes in bundles of 8: 4 rounds of 9 joins"
        );
        assert_eq!(auto("32x4x1"), 72);
        assert_eq!(auto("10x3x1"), 231);
        assert!("8-4".parse::<Shape>().is_err() && "8x4x33".parse::<Shape>().is_err());
        assert_eq!("32x4".parse::<Shape>().map(|s| s.bundle), Ok(1));
    }

    #[test]
    fn about_the_asked_share_of_labels_is_wrong_and_wrong_labels_are_other_classes() {
        let truth: Vec<u8> = (0..2000).map(|i| (i % 4) as u8).collect();
        let mut wrong = 0;
        for item in 0..truth.len() {
            for who in 0..3 {
                let l = label_of(&truth, 4, 0.1, 7, item, who);
                assert!(l < 4);
                wrong += usize::from(l != truth[item]);
            }
        }
        let share = wrong as f64 / 6000.0;
        assert!((0.08..0.12).contains(&share), "{share}");
        assert_eq!(label_of(&truth, 4, 0.0, 7, 5, 1), truth[5]);
        assert_ne!(label_of(&truth, 4, 1.0, 7, 5, 1), truth[5]);
    }
}
