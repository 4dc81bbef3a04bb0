//! The simulation: whole batches through the real contracts on a local anvil with a configurable population —
//! careful annotators, random clickers, constant answerers, colluders sharing one answer sheet, and annotators
//! who commit but never reveal — measured against a ground truth only the simulator knows.

use alloy::primitives::{Address, U256};
use alloy::providers::{Provider, ProviderBuilder};
use clap::Parser;
use concord_client::protocol::outcome::ItemOutcome;
use concord_client::protocol::units::parse_tokens;
use concord_client::protocol::ItemStatus;
use concord_client::quality::batch::{responses_of, DS_ITERATIONS, DS_TOLERANCE};
use concord_client::quality::dawid_skene;
use concord_client::requester::{self, CreateOptions, Incentives};
use concord_client::store::Store;
use concord_client::{annotator, market, Concord};
use concord_testkit::{write_items, LocalChain};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Instant;

#[derive(Parser, Clone)]
pub struct Params {
    /// Items in the batch.
    #[arg(long, default_value_t = 600)]
    pub items: u32,
    /// Labels per item.
    #[arg(long, short = 'r', default_value_t = 5)]
    pub replicas: u8,
    #[arg(long, default_value_t = 10)]
    pub task_size: u16,
    #[arg(long, default_value_t = 3)]
    pub classes: u8,
    /// Annotators in the population.
    #[arg(long, default_value_t = 40)]
    pub annotators: u32,
    /// Mean accuracy of careful annotators (each draws from ±0.1 around it).
    #[arg(long, default_value_t = 0.8)]
    pub honest_accuracy: f64,
    /// Share of adversaries, split evenly among random, constant, colluder and silent (never reveals).
    #[arg(long, default_value_t = 0.3)]
    pub adversary_share: f64,
    /// Share of items that are gold questions.
    #[arg(long, default_value_t = 0.1)]
    pub gold_share: f64,
    /// Agreement threshold (the requester CLI's default: 2 of 3, 4 of 5, 5 of 7).
    #[arg(long, default_value_t = 0.66)]
    pub threshold: f64,
    /// Reward per accepted label (tokens).
    #[arg(long, default_value = "1")]
    pub reward: String,
    /// Stake slashed per wrong label (tokens; the requester CLI's default).
    #[arg(long, default_value = "3")]
    pub wrong_penalty: String,
    /// Stake slashed per unrevealed commit (tokens; the requester CLI's default).
    #[arg(long, default_value = "40")]
    pub no_reveal_penalty: String,
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    Careful,
    Random,
    Constant,
    Colluder,
    /// Colluders that also try to land on the same tasks: they always join one right after another.
    Steerer,
    Silent,
}

#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TypeOutcome {
    pub annotators: u32,
    pub labels: u64,
    pub rewards: f64,
    pub slashed: f64,
    pub net: f64,
    pub net_per_annotator: f64,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Outcome {
    pub replicas: u8,
    pub adversary_share: f64,
    pub accepted_items: u64,
    pub accepted_accuracy: f64,
    pub dawid_skene_accuracy: f64,
    pub acceptance_rate: f64,
    pub gas_per_accepted_label: u64,
    pub wall_seconds: f64,
    pub by_type: BTreeMap<Kind, TypeOutcome>,
    /// The accepted items whose label is wrong, and who made their majority.
    pub wrong_accepted: WrongAccepted,
}

/// Why accepted labels are wrong: the accepted items whose consensus differs from the truth, with how many of them
/// were decided on fewer labels than replicas (the threshold counts revealed labels only) and whose labels formed
/// the wrong majority.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WrongAccepted {
    pub items: u64,
    /// Of them, decided with fewer revealed labels than the batch's replicas (an unrevealed or missing label).
    pub short_of_labels: u64,
    /// Of them, items whose wrong majority holds careful annotators' labels only.
    pub careful_only: u64,
    /// Per adversary type: the wrong items with at least one of its labels in the majority.
    pub adversary_in_majority: BTreeMap<Kind, u64>,
    /// What-if: the accepted items that would stay accepted if the threshold counted every replica (a missing
    /// label as dissent), and how many of them are right.
    pub over_replicas_accepted: u64,
    pub over_replicas_correct: u64,
}

/// Sorts the accepted items whose label differs from `truth` by what made them: `kind_of` names each annotator's
/// type, `replicas` is the number of labels an item is meant to get.
pub fn wrong_accepted(
    outcomes: &[ItemOutcome],
    truth: &[u8],
    kind_of: &BTreeMap<Address, Kind>,
    replicas: u8,
    threshold_bps: u16,
) -> WrongAccepted {
    let mut w = WrongAccepted::default();
    for o in outcomes {
        let (ItemStatus::Accepted, Some(label)) = (o.status, o.label) else {
            continue;
        };
        let right = truth.get(o.index as usize) == Some(&label);
        let agreeing = o.annotator_labels.iter().filter(|l| **l == label).count() as u64;
        if agreeing * 10_000 >= u64::from(threshold_bps) * u64::from(replicas) {
            w.over_replicas_accepted += 1;
            w.over_replicas_correct += u64::from(right);
        }
        if right {
            continue;
        }
        w.items += 1;
        w.short_of_labels += u64::from(o.annotator_labels.len() < usize::from(replicas));
        let majority: std::collections::BTreeSet<Kind> = o
            .annotators
            .iter()
            .zip(&o.annotator_labels)
            .filter(|(_, l)| **l == label)
            .filter_map(|(a, _)| kind_of.get(a).copied())
            .collect();
        let adversaries: Vec<Kind> = majority
            .into_iter()
            .filter(|k| *k != Kind::Careful)
            .collect();
        w.careful_only += u64::from(adversaries.is_empty());
        for k in adversaries {
            *w.adversary_in_majority.entry(k).or_default() += 1;
        }
    }
    w
}

/// `n` annotators, `share` of them adversaries split as evenly as possible among the five adversary types.
/// Rings come first in the split: one colluder (or steerer) alone is just a random clicker, a ring needs two or
/// more, so a lone ring member is turned into a member of the other ring or a random clicker.
pub fn population(n: u32, share: f64) -> Vec<Kind> {
    let adversaries = (f64::from(n) * share).round() as u32;
    let order = [
        Kind::Colluder,
        Kind::Steerer,
        Kind::Random,
        Kind::Constant,
        Kind::Silent,
    ];
    let mut kinds: Vec<Kind> = (0..adversaries).map(|i| order[(i % 5) as usize]).collect();
    let count = |k: &[Kind], x: Kind| k.iter().filter(|y| **y == x).count();
    if count(&kinds, Kind::Colluder) == 1 {
        let i = kinds.iter().position(|k| *k == Kind::Colluder).unwrap_or(0);
        kinds[i] = Kind::Random;
    }
    if count(&kinds, Kind::Steerer) == 1 {
        let i = kinds.iter().position(|k| *k == Kind::Steerer).unwrap_or(0);
        kinds[i] = if count(&kinds, Kind::Colluder) >= 2 {
            Kind::Colluder
        } else {
            Kind::Random
        };
    }
    kinds.sort();
    kinds.resize(n as usize, Kind::Careful);
    kinds
}

fn to_f(x: U256) -> f64 {
    x.to_string().parse::<f64>().unwrap_or(0.0) / 1e18
}

/// Runs one batch with the population `p` describes and measures it.
pub async fn run(p: &Params) -> eyre::Result<Outcome> {
    let started = Instant::now();
    let kinds = population(p.annotators, p.adversary_share);
    let chain = LocalChain::start(p.annotators, "100000", "10000000").await?;
    let mut rng = StdRng::seed_from_u64(p.seed);
    let c = usize::from(p.classes);
    let truth: Vec<u8> = (0..p.items).map(|_| rng.gen_range(0..p.classes)).collect();
    let sheet: Vec<u8> = (0..p.items).map(|_| rng.gen_range(0..p.classes)).collect();
    let steer_sheet: Vec<u8> = (0..p.items).map(|_| rng.gen_range(0..p.classes)).collect();
    let accuracy: Vec<f64> = kinds
        .iter()
        .map(|_| (p.honest_accuracy + rng.gen_range(-0.1..=0.1)).clamp(0.0, 1.0))
        .collect();
    let classes: Vec<String> = (0..c).map(|i| format!("c{i}")).collect();

    // Dataset with gold answers on a random subset.
    let ds = chain.dir.path().join("items.jsonl");
    write_items(&ds, truth.len() as u64, |i| {
        rng.gen_bool(p.gold_share)
            .then(|| format!("c{}", truth[i as usize]))
    })?;
    let provider = ProviderBuilder::new().connect_http(chain.rpc().parse()?);
    let req = chain.client(&chain.accounts.requester.private_key).await?;
    let b0 = provider.get_block_number().await?;
    // The CLI's defaults but for the incentives under test, no entry bar, and short windows.
    let o = CreateOptions {
        task_size: p.task_size,
        replicas: p.replicas,
        threshold_bps: (p.threshold * 10_000.0).round() as u16,
        // A task stakes exactly what never revealing it costs.
        incentives: Incentives::parse(
            &p.reward,
            &p.no_reveal_penalty,
            &p.wrong_penalty,
            &p.no_reveal_penalty,
            "1",
        )?,
        min_stake: U256::ZERO,
        min_reputation: -1_000_000,
        // Short rounds in a day-long commit phase: every position gets done, round after round.
        commit_period: 86_400,
        round_period: 60,
        commit_window: 120,
        review_period: 60,
        out_dir: Some(chain.dir.path().join("req")),
        ..CreateOptions::new(classes.clone(), chain.accounts.requester.address)
    };
    let rec = requester::create_batch(&req, &ds, &o).await?;

    let mut clients: Vec<(Concord, Store)> = Vec::new();
    let mut start_holdings = Vec::new();
    for (i, a) in chain.accounts.annotators.iter().enumerate() {
        let cl = chain.client(&a.private_key).await?;
        annotator::stake(&cl, parse_tokens("50000")?).await?;
        start_holdings.push(parse_tokens("100000")?);
        clients.push((
            cl,
            Store::open(&chain.dir.path().join(format!("a{i}.sqlite")))?,
        ));
    }
    let k = u64::from(p.task_size);
    // Rounds of joins until every position is committed: each member labels its tasks by its kind.
    let mut seeds: Vec<StdRng> = (0..clients.len())
        .map(|i| StdRng::seed_from_u64(p.seed * 1000 + i as u64))
        .collect();
    let label = |i: usize, task: u64| -> Vec<u8> {
        let r = &mut seeds[i];
        let n = k.min(rec.num_items - task * k);
        (0..n)
            .map(|j| {
                let item = (task * k + j) as usize;
                match kinds[i] {
                    Kind::Careful | Kind::Silent => {
                        if r.gen_bool(accuracy[i]) {
                            truth[item]
                        } else {
                            let wrong = r.gen_range(1..c as u8);
                            (truth[item] + wrong) % c as u8
                        }
                    }
                    Kind::Random => r.gen_range(0..c as u8),
                    Kind::Constant => 0,
                    Kind::Colluder => sheet[item],
                    Kind::Steerer => steer_sheet[item],
                }
            })
            .collect()
    };
    // Joins arrive in a new random order every round; the steering ring always joins back to back.
    let plan = concord_testkit::crowd::Plan {
        together: (0..kinds.len())
            .filter(|&i| kinds[i] == Kind::Steerer)
            .collect(),
        seed: p.seed,
        ..Default::default()
    };
    concord_testkit::crowd::work(&clients, rec.batch_id, &plan, label, |s| chain.advance(s))
        .await?;
    let deadlines = market::deadlines(&market::batch(&req, rec.batch_id).await?.config);
    let now = req.chain_time().await?;
    for (i, (cl, store)) in clients.iter().enumerate() {
        if kinds[i] != Kind::Silent {
            annotator::reveal(cl, store, Some(rec.batch_id), None).await?;
        }
    }
    if now <= deadlines.commit {
        chain.advance(deadlines.commit + 1 - now).await?;
    }
    for (i, (cl, store)) in clients.iter().enumerate() {
        if kinds[i] != Kind::Silent {
            annotator::reveal(cl, store, Some(rec.batch_id), None).await?;
        }
    }
    if let Some(g) = &rec.gold_path {
        requester::reveal_gold(&req, rec.batch_id, g, 40).await?;
    }
    chain.advance(deadlines.reveal - deadlines.commit).await?;
    // After the reveal deadline: no reveal handed over could be carried, so none is looked for.
    requester::settle(&req, rec.batch_id, 0, std::path::Path::new("")).await?;
    let b1 = provider.get_block_number().await?;
    chain.advance(120).await?;
    requester::refund(&req, rec.batch_id).await?;

    // Measure.
    let outcomes = market::outcomes(&req, rec.batch_id).await?;
    let (mut acc_ok, mut acc_n) = (0u64, 0u64);
    for o in &outcomes {
        if o.status == ItemStatus::Accepted {
            acc_n += 1;
            acc_ok += u64::from(o.label == Some(truth[o.index as usize]));
        }
    }
    let r = responses_of(&outcomes, &classes);
    let ds = dawid_skene(&r, DS_ITERATIONS, DS_TOLERANCE);
    let ds_ok = r
        .tasks
        .iter()
        .enumerate()
        .filter(|(t, name)| {
            name.parse::<usize>()
                .map(|i| ds.labels[*t] == usize::from(truth[i]))
                .unwrap_or(false)
        })
        .count();
    let scored = market::bundles_scored(&req, rec.batch_id).await?;
    let (mut accepted, mut rejected) = (0u64, 0u64);
    let index: BTreeMap<Address, usize> = chain
        .accounts
        .annotators
        .iter()
        .enumerate()
        .map(|(i, a)| (a.address, i))
        .collect();
    let kind_of: BTreeMap<Address, Kind> = index.iter().map(|(a, &i)| (*a, kinds[i])).collect();
    let wrong = wrong_accepted(&outcomes, &truth, &kind_of, p.replicas, o.threshold_bps);
    let mut by_type: BTreeMap<Kind, TypeOutcome> = BTreeMap::new();
    for e in &scored {
        accepted += e.agreed.to::<u64>();
        rejected += e.disagreed.to::<u64>();
        if let Some(&i) = index.get(&e.annotator) {
            let t = by_type.entry(kinds[i]).or_default();
            t.labels += e.agreed.to::<u64>() + e.disagreed.to::<u64>();
            t.rewards += to_f(e.reward);
            t.slashed += to_f(e.slashed);
        }
    }
    for (i, (cl, _)) in clients.iter().enumerate() {
        let me = chain.accounts.annotators[i].address;
        let bal = cl.token.balanceOf(me).call().await?;
        let st = cl.market.accountOf(me).call().await?;
        let pending = cl.market.pendingUnstake(me).call().await?;
        let claimable = cl
            .market
            .claimable(me, chain.deployment.token)
            .call()
            .await?;
        let now = bal + U256::from(st.amount) + pending + claimable;
        let t = by_type.entry(kinds[i]).or_default();
        t.annotators += 1;
        t.net += to_f(now) - to_f(start_holdings[i]);
    }
    for t in by_type.values_mut() {
        t.net_per_annotator = t.net / f64::from(t.annotators.max(1));
    }
    let mut gas = 0u64;
    for n in b0 + 1..=b1 {
        if let Some(b) = provider.get_block_by_number(n.into()).await? {
            gas += b.header.gas_used;
        }
    }
    Ok(Outcome {
        replicas: p.replicas,
        adversary_share: p.adversary_share,
        accepted_items: acc_n,
        accepted_accuracy: acc_ok as f64 / acc_n.max(1) as f64,
        dawid_skene_accuracy: ds_ok as f64 / r.tasks.len().max(1) as f64,
        acceptance_rate: accepted as f64 / (accepted + rejected).max(1) as f64,
        gas_per_accepted_label: gas / accepted.max(1),
        wall_seconds: started.elapsed().as_secs_f64(),
        by_type,
        wrong_accepted: wrong,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(k: &[Kind], kind: Kind) -> usize {
        k.iter().filter(|x| **x == kind).count()
    }

    #[test]
    fn population_splits_adversaries_and_never_has_a_lone_ring_member() {
        let p = population(40, 0.3);
        assert_eq!(p.len(), 40);
        assert_eq!(count(&p, Kind::Careful), 28);
        assert_eq!(count(&p, Kind::Colluder), 3);
        assert_eq!(count(&p, Kind::Steerer), 3);
        assert_eq!(count(&p, Kind::Random), 2);
        assert_eq!(count(&p, Kind::Constant), 2);
        assert_eq!(count(&p, Kind::Silent), 2);
        for n in 1..60 {
            for share in [0.0, 0.05, 0.1, 0.2, 0.3, 0.5] {
                let p = population(n, share);
                assert_eq!(p.len(), n as usize);
                assert_ne!(count(&p, Kind::Colluder), 1, "n={n} share={share}");
                assert_ne!(count(&p, Kind::Steerer), 1, "n={n} share={share}");
            }
        }
        assert_eq!(population(10, 0.0), vec![Kind::Careful; 10]);
    }

    fn item(index: u64, status: ItemStatus, label: Option<u8>, votes: &[(u8, u8)]) -> ItemOutcome {
        ItemOutcome {
            index,
            label,
            status,
            votes: Vec::new(),
            agreement: 0.0,
            num_labels: votes.len() as u32,
            annotators: votes
                .iter()
                .map(|(a, _)| Address::repeat_byte(*a))
                .collect(),
            annotator_labels: votes.iter().map(|(_, l)| *l).collect(),
            settled_block: None,
        }
    }

    #[test]
    fn wrong_accepted_counts_only_wrong_accepted_items_and_who_made_their_majority() {
        // Annotators 1-3 careful, 4 constant, 5 and 6 colluders.
        let kind_of: BTreeMap<Address, Kind> = [
            (1, Kind::Careful),
            (2, Kind::Careful),
            (3, Kind::Careful),
            (4, Kind::Constant),
            (5, Kind::Colluder),
            (6, Kind::Colluder),
        ]
        .into_iter()
        .map(|(a, k)| (Address::repeat_byte(a), k))
        .collect();
        let truth = [1, 1, 2, 0, 2];
        let outcomes = [
            // Right: not counted.
            item(
                0,
                ItemStatus::Accepted,
                Some(1),
                &[(1, 1), (2, 1), (3, 1), (4, 0)],
            ),
            // Wrong, careful annotators alone, all five labels.
            item(
                1,
                ItemStatus::Accepted,
                Some(0),
                &[(1, 0), (2, 0), (3, 0), (5, 2), (6, 1)],
            ),
            // Wrong, two colluders and the constant answerer, four labels (one missing).
            item(
                2,
                ItemStatus::Accepted,
                Some(0),
                &[(4, 0), (5, 0), (6, 0), (1, 2)],
            ),
            // Wrong but decided by the reviewer, and no consensus: not counted.
            item(3, ItemStatus::Reviewed, Some(1), &[(1, 1), (2, 1), (3, 0)]),
            item(4, ItemStatus::NoConsensus, None, &[(1, 0), (2, 1)]),
        ];
        // At 66 %: item 0 (3 of 4 agree) and item 2 (3 of 4) fall below 3.3 of 5; item 1 (3 of 5) too.
        let w = wrong_accepted(&outcomes, &truth, &kind_of, 5, 6600);
        assert_eq!(
            w,
            WrongAccepted {
                items: 2,
                short_of_labels: 1,
                careful_only: 1,
                adversary_in_majority: [(Kind::Constant, 1), (Kind::Colluder, 1)]
                    .into_iter()
                    .collect(),
                over_replicas_accepted: 0,
                over_replicas_correct: 0,
            }
        );
        // At 60 %, 3 of 5 is enough: items 0 (right), 1 and 2 (wrong) stay accepted.
        let w = wrong_accepted(&outcomes, &truth, &kind_of, 5, 6000);
        assert_eq!((w.over_replicas_accepted, w.over_replicas_correct), (3, 1));
    }
}
