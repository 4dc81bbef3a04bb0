//! The generation simulation (docs/generation.md): a generation batch through the real contracts on a local
//! anvil — generators (careful, low-effort, spammers, copiers who resubmit someone else's datapoint) and reviewers
//! (careful, approve-all, reject-all, one colluding with a spammer) — measured against which datapoints are truly
//! good, which only the simulator knows.

use alloy::primitives::{Address, U256};
use clap::Parser;
use concord_client::generation::{self, Draft, GenerateOptions, GoldExample, Instruction};
use concord_client::protocol::units::parse_tokens;
use concord_client::store::Store;
use concord_client::{annotator, market, requester, Concord};
use concord_testkit::LocalChain;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

#[derive(Parser, Clone)]
pub struct GenParams {
    /// Generators (contributors).
    #[arg(long, default_value_t = 20)]
    pub generators: u32,
    /// Datapoints each generator submits.
    #[arg(long, default_value_t = 5)]
    pub per_generator: u32,
    /// Share of low-effort generators (a datapoint of theirs is good with probability 0.4).
    #[arg(long, default_value_t = 0.3)]
    pub low_effort: f64,
    /// Spammers (every datapoint bad) and copiers (resubmit a careful generator's datapoint).
    #[arg(long, default_value_t = 2)]
    pub spammers: u32,
    #[arg(long, default_value_t = 2)]
    pub copiers: u32,
    /// Reviewers.
    #[arg(long, default_value_t = 20)]
    pub reviewers: u32,
    /// Share of reviewers who accept everything.
    #[arg(long, default_value_t = 0.2)]
    pub approve_all: f64,
    /// Reviewers who reject everything, and reviewers who accept a spammer's datapoints (careful otherwise).
    #[arg(long, default_value_t = 1)]
    pub reject_all: u32,
    #[arg(long, default_value_t = 1)]
    pub colluders: u32,
    /// Reviews per datapoint.
    #[arg(long, short = 'r', default_value_t = 5)]
    pub replicas: u8,
    /// Share of reviews the plurality needs (0.66 at r = 5: four of five; a split review leaves the datapoint
    /// undecided, unpaid and unslashed).
    #[arg(long, default_value_t = 0.66)]
    pub threshold: f64,
    /// Stake slashed per rejected datapoint, in tokens (the reward per accepted one is 5; the CLI's default).
    #[arg(long, default_value = "8")]
    pub reject_penalty: String,
    /// Accuracy of careful reviewers.
    #[arg(long, default_value_t = 0.9)]
    pub reviewer_accuracy: f64,
    /// Known-good and known-bad examples the requester submits as gold (half each).
    #[arg(long, default_value_t = 20)]
    pub gold: u32,
    /// Stake slashed per review that disagrees, in tokens (the review reward is 0.5; the requester CLI's default).
    #[arg(long, default_value = "4")]
    pub review_penalty: String,
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    CarefulGenerator,
    LowEffortGenerator,
    Spammer,
    Copier,
    CarefulReviewer,
    ApproveAllReviewer,
    RejectAllReviewer,
    ColludingReviewer,
}

#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleOutcome {
    pub members: u32,
    pub net: f64,
    pub net_per_member: f64,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GenOutcome {
    pub published: u64,
    pub accepted: u64,
    pub accepted_truly_good: u64,
    /// Share of the accepted datapoints that are truly good (Sahara's internal QA passes 92 %).
    pub accepted_good_share: f64,
    /// Rejected share of the datapoints the review decided (Sahara: 17 % simple, 33 % in-depth).
    pub filtered_share: f64,
    pub duplicates_refused: u64,
    pub reviewer_kappa: Option<f64>,
    pub by_role: BTreeMap<Role, RoleOutcome>,
}

fn to_f(x: U256) -> f64 {
    x.to_string().parse::<f64>().unwrap_or(0.0) / 1e18
}

/// A member's tokens in the protocol: balance, stake and claims in both markets.
async fn wealth(c: &Concord, who: Address) -> eyre::Result<U256> {
    let g = generation::generation(c)?;
    let bal = c.token.balanceOf(who).call().await?;
    let st = c.market.accountOf(who).call().await?;
    let pending = c.market.pendingUnstake(who).call().await?;
    let claims = c.market.claimable(who, c.deployment.token).call().await?;
    let deposit = g.depositOf(who).call().await?;
    let gen_claims = g.claimable(who, c.deployment.token).call().await?;
    Ok(bal + U256::from(st.amount) + pending + claims + U256::from(deposit.amount) + gen_claims)
}

/// Runs one generation batch with the populations `p` describes and measures it.
pub async fn run(p: &GenParams) -> eyre::Result<GenOutcome> {
    let mut rng = StdRng::seed_from_u64(p.seed);
    let low = (f64::from(p.generators) * p.low_effort).round() as u32;
    let mut gen_roles: Vec<Role> = Vec::new();
    gen_roles.extend((0..p.spammers).map(|_| Role::Spammer));
    gen_roles.extend((0..p.copiers).map(|_| Role::Copier));
    gen_roles.extend((0..low).map(|_| Role::LowEffortGenerator));
    gen_roles.resize(
        p.generators.max(gen_roles.len() as u32) as usize,
        Role::CarefulGenerator,
    );
    let approve = (f64::from(p.reviewers) * p.approve_all).round() as u32;
    let mut rev_roles: Vec<Role> = Vec::new();
    rev_roles.extend((0..approve).map(|_| Role::ApproveAllReviewer));
    rev_roles.extend((0..p.reject_all).map(|_| Role::RejectAllReviewer));
    rev_roles.extend((0..p.colluders).map(|_| Role::ColludingReviewer));
    rev_roles.resize(
        p.reviewers.max(rev_roles.len() as u32) as usize,
        Role::CarefulReviewer,
    );

    // Accounts: generators, then reviewers, then the requester's gold author.
    let n = gen_roles.len() + rev_roles.len() + 1;
    let chain = LocalChain::start(n as u32, "100000", "10000000").await?;
    let home = chain.dir.path().join("home");
    let req = chain.client(&chain.accounts.requester.private_key).await?;
    let mut clients = Vec::new();
    for a in &chain.accounts.annotators {
        clients.push(chain.client(&a.private_key).await?);
    }
    let addr = |i: usize| chain.accounts.annotators[i].address;
    let mut start = Vec::new();
    for (i, c) in clients.iter().enumerate() {
        start.push(wealth(c, addr(i)).await?);
    }

    let instructions = vec![
        Instruction {
            id: "math".into(),
            text: "A hard math question with its answer.".into(),
        },
        Instruction {
            id: "trivia".into(),
            text: "A trivia question with its answer.".into(),
        },
    ];
    let review = generation::review_params(
        p.replicas,
        (p.threshold * 10_000.0).round() as u16,
        32,
        parse_tokens("0.5")?,
        parse_tokens("10")?,
        parse_tokens(&p.review_penalty)?,
        parse_tokens("5")?,
        parse_tokens("1")?,
        U256::ZERO,
        -1_000_000,
        parse_tokens("5")?,
        [86_400, 3_600, 0, 60, 120],
    )?;
    let max_items = (gen_roles.len() as u32) * p.per_generator + p.gold;
    let o = GenerateOptions {
        cap: max_items,
        max_items,
        max_content_bytes: 512,
        reward: parse_tokens("5")?,
        stake_per_submission: parse_tokens("10")?,
        reject_penalty: parse_tokens(&p.reject_penalty)?,
        unpublished_penalty: parse_tokens("3")?,
        submit_period: 3_600,
        publish_period: 1_800,
        instructions_uri: "sim".into(),
        review,
    };
    let created = generation::create(&req, &instructions, &o).await?;
    let id = created.id;

    // Datapoints: each good or bad by its author's role; copiers resubmit careful datapoints (case changed).
    let mut truth: HashMap<String, bool> = HashMap::new();
    let mut drafts: Vec<Vec<Draft>> = vec![Vec::new(); gen_roles.len()];
    for (g, role) in gen_roles.iter().enumerate() {
        for k in 0..p.per_generator {
            let good = match role {
                Role::CarefulGenerator => rng.gen_bool(0.95),
                Role::LowEffortGenerator => rng.gen_bool(0.4),
                _ => false,
            };
            let text = if good {
                format!(
                    "Q{g}-{k}: what is {} + {}? A: {}.",
                    10 * g + k as usize,
                    7 * k,
                    10 * g + 8 * k as usize
                )
            } else {
                format!("low effort {g} {k} lorem ipsum")
            };
            truth.insert(text.clone(), good);
            drafts[g].push(Draft {
                instruction: k % 2,
                text,
                uri: None,
            });
        }
    }
    let careful: Vec<String> = gen_roles
        .iter()
        .enumerate()
        .filter(|(_, r)| **r == Role::CarefulGenerator)
        .flat_map(|(g, _)| drafts[g].iter().map(|d| d.text.clone()).collect::<Vec<_>>())
        .collect();
    for (g, role) in gen_roles.iter().enumerate() {
        if *role == Role::Copier {
            for (k, d) in drafts[g].iter_mut().enumerate() {
                let original = &careful[(g * 7 + k) % careful.len().max(1)];
                d.text = original.to_uppercase();
                truth.insert(
                    d.text.clone(),
                    truth.get(original).copied().unwrap_or(false),
                );
            }
        }
    }
    let gold_author = n - 1;
    let gold: Vec<GoldExample> = (0..p.gold)
        .map(|i| {
            let accept = i % 2 == 0;
            let text = if accept {
                format!("Gold {i}: what is 2 + {i}? A: {}.", 2 + i)
            } else {
                format!("gold {i} spam spam")
            };
            GoldExample { text, accept }
        })
        .collect();
    for (g, d) in drafts.iter().enumerate() {
        generation::submit(&clients[g], &home, id, d).await?;
    }
    let gold_drafts: Vec<Draft> = gold
        .iter()
        .map(|e| Draft {
            instruction: 0,
            text: e.text.clone(),
            uri: None,
        })
        .collect();
    generation::submit(&clients[gold_author], &home, id, &gold_drafts).await?;

    chain.advance(3_601).await?;
    // Careful first, so a copy is the second of its normal form and refused.
    let mut order: Vec<usize> = (0..gen_roles.len()).collect();
    order.sort_by_key(|&g| gen_roles[g] == Role::Copier);
    let mut duplicates_refused = 0;
    for g in order {
        if let Err(e) = generation::publish(&clients[g], &home, id).await {
            if e.to_string().contains("already published") {
                duplicates_refused += drafts[g].len() as u64;
            } else {
                return Err(e.into());
            }
        }
    }
    generation::publish(&clients[gold_author], &home, id).await?;
    chain.advance(1_801).await?;

    let manifest = chain.dir.path().join("review.json");
    let opened =
        generation::open_review(&req, id, &gold, &manifest, &manifest.display().to_string())
            .await?;
    let rb = opened.review_batch;
    let texts: Vec<String> = opened
        .manifest
        .items
        .iter()
        .map(|i| i.text.clone().unwrap_or_default())
        .collect();
    let authors: Vec<String> = opened
        .manifest
        .items
        .iter()
        .map(|i| {
            i.meta
                .as_ref()
                .and_then(|m| m["author"].as_str())
                .unwrap_or_default()
                .to_lowercase()
        })
        .collect();
    let spammers: Vec<String> = gen_roles
        .iter()
        .enumerate()
        .filter(|(_, r)| **r == Role::Spammer)
        .map(|(g, _)| addr(g).to_string().to_lowercase())
        .collect();
    let is_good = |t: &str| {
        truth
            .get(t)
            .copied()
            .unwrap_or_else(|| gold.iter().any(|e| e.text == t && e.accept))
    };

    // Reviewers work the review like any batch.
    let mut crowd: Vec<(Concord, Store)> = Vec::new();
    for (j, _) in rev_roles.iter().enumerate() {
        let i = gen_roles.len() + j;
        annotator::stake(&clients[i], parse_tokens("1000")?).await?;
        crowd.push((
            clients[i].clone(),
            Store::open(&chain.dir.path().join(format!("r{j}.sqlite")))?,
        ));
    }
    let mut seeds: Vec<StdRng> = (0..crowd.len())
        .map(|j| StdRng::seed_from_u64(p.seed * 1000 + j as u64))
        .collect();
    let label = |j: usize, task: u64| -> Vec<u8> {
        let t = task as usize;
        let good = is_good(&texts[t]);
        let verdict = match rev_roles[j] {
            Role::ApproveAllReviewer => true,
            Role::RejectAllReviewer => false,
            Role::ColludingReviewer if spammers.contains(&authors[t]) => true,
            _ => {
                if seeds[j].gen_bool(p.reviewer_accuracy) {
                    good
                } else {
                    !good
                }
            }
        };
        vec![u8::from(verdict)]
    };
    let plan = concord_testkit::crowd::Plan {
        seed: p.seed,
        ..Default::default()
    };
    concord_testkit::crowd::work(&crowd, rb, &plan, label, |s| chain.advance(s)).await?;
    let deadlines = market::deadlines(&market::batch(&req, rb).await?.config);
    let now = req.chain_time().await?;
    for (c, store) in &crowd {
        annotator::reveal(c, store, Some(rb), None).await?;
    }
    if now <= deadlines.commit {
        chain.advance(deadlines.commit + 1 - now).await?;
    }
    for (c, store) in &crowd {
        annotator::reveal(c, store, Some(rb), None).await?;
    }
    if let Some(gf) = &opened.gold_file {
        let path = generation::gold_path(&manifest);
        std::fs::write(&path, serde_json::to_string(gf)?)?;
        requester::reveal_gold(&req, rb, &path, 40).await?;
    }
    chain.advance(deadlines.reveal - deadlines.commit).await?;
    requester::settle(&req, rb, 0, std::path::Path::new("")).await?;
    chain.advance(60).await?;
    generation::finalize(&req, id).await?;
    generation::refund(&req, id).await?;

    // Measure.
    let rows = generation::export(&req, id, None, false).await?;
    let accepted: Vec<&generation::ExportRow> = rows
        .iter()
        .filter(|r| r.verdict.starts_with("accepted"))
        .collect();
    let truly_good = accepted.iter().filter(|r| is_good(&r.content)).count() as u64;
    let report = generation::report(&req, id).await?;
    let mut by_role: BTreeMap<Role, RoleOutcome> = BTreeMap::new();
    let roles: Vec<Role> = gen_roles.iter().chain(rev_roles.iter()).copied().collect();
    for (i, role) in roles.iter().enumerate() {
        let now = wealth(&clients[i], addr(i)).await?;
        let e = by_role.entry(*role).or_default();
        e.members += 1;
        e.net += to_f(now) - to_f(start[i]);
    }
    for e in by_role.values_mut() {
        e.net_per_member = e.net / f64::from(e.members.max(1));
    }
    Ok(GenOutcome {
        published: opened.items as u64,
        accepted: accepted.len() as u64,
        accepted_truly_good: truly_good,
        accepted_good_share: truly_good as f64 / accepted.len().max(1) as f64,
        filtered_share: report.filtered_share,
        duplicates_refused,
        reviewer_kappa: report.reviewer_kappa,
        by_role,
    })
}
