//! Optimistic settlement (`ILabelMarketV2Optimistic`, docs/protocol-v2.md "Optimistic settlement"): the requester
//! proposes every bundle's credit with a bond, anyone proves a wrong credit during the challenge window, and once
//! final every bundle is claimed in one transaction. The credits come from the market's own `tally` (an `eth_call`
//! of the settlement code), so a proposal made here is exactly what `settle` would pay; a watcher checks a proposal
//! the same way.

use alloy::primitives::{Address, U256};
use alloy::sol_types::SolValue;
use concord_bindings::optimistic::ILabelMarketV2Types as OT;
use concord_bindings::optimistic::LabelMarketV2Optimistic as O;
use concord_bindings::ILabelMarketV2Types::BundleProof;
use concord_protocol::time::fmt_ts;
use concord_protocol::units::fmt_tokens;
use futures::{StreamExt, TryStreamExt};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

use crate::market::{self, batch, BatchLog};
use crate::requester::first_error;
use crate::{ClientError, Concord, Result};

/// Where a batch's proposal stands (`ProposalStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    None,
    Live,
    Final,
}

/// A batch's proposal as the market holds it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProposalView {
    pub status: Status,
    pub proposer: Address,
    pub challenge_end: u64,
    pub bond: String,
    pub rewards: String,
    pub slashed: String,
    pub redistributed: String,
}

/// What `propose` did.
#[derive(Debug, Default, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProposeReport {
    /// Committed bundles the proposal supplied (each checked on-chain against its stored word).
    pub bundles: u64,
    /// Reveals handed to this proposer (`crate::handoff`) that the proposal carried.
    pub reveals_carried: u64,
    /// Bundles never committed in their window, expired first (their squat penalty forfeited).
    pub bundles_expired: u64,
    pub rewards: String,
    pub slashed: String,
    pub redistributed: String,
    pub bond: String,
    pub challenge_end: u64,
    pub transactions: u64,
    pub gas_used: u64,
}

/// Most bundles one `claimAll` claims (its calldata is 64 bytes per bundle; ≈ 10k gas each).
const CLAIM_ALL_MAX: usize = 600;
/// Bundles per `claim` transaction above that (each with its Merkle proof).
const CLAIM_CHUNK: usize = 150;

/// What `claim` did.
#[derive(Debug, Default, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClaimReport {
    pub finalized: bool,
    pub bundles_claimed: u64,
    /// Rewards of the claimed bundles, paid to their annotators (coherence shares come on top).
    pub rewards_paid: String,
    /// Payments made straight to annotators' wallets (`Collected`); anything the token refused is credited for
    /// `concord-annotator collect` instead.
    pub payments: u64,
    pub transactions: u64,
    pub gas_used: u64,
}

/// A credit of a live proposal that the settlement code does not give.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WrongCredit {
    pub bundle_id: u64,
    pub annotator: Address,
    pub posted: [U256; 2],
    pub recomputed: [U256; 2],
}

/// A market proof in the optimistic binding's own (identical) ABI type.
fn convert(p: &BundleProof) -> Result<OT::BundleProof> {
    OT::BundleProof::abi_decode(&p.abi_encode())
        .map_err(|e| ClientError::Input(format!("bundle {}: {e}", p.id)))
}

fn converted(ps: &[BundleProof]) -> Result<Vec<OT::BundleProof>> {
    ps.iter().map(convert).collect()
}

fn opt(c: &Concord) -> O::LabelMarketV2OptimisticInstance<&alloy::providers::DynProvider> {
    O::new(c.market_address(), &c.provider)
}

/// The batch's proposal.
pub async fn proposal(c: &Concord, batch_id: u64) -> Result<ProposalView> {
    let p = opt(c)
        .proposalOf(U256::from(batch_id))
        .call()
        .await
        .map_err(c.read_err("read the proposal"))?;
    Ok(ProposalView {
        status: match p.status {
            1 => Status::Live,
            2 => Status::Final,
            _ => Status::None,
        },
        proposer: p.proposer,
        challenge_end: p.challengeEnd.to::<u64>(),
        bond: fmt_tokens(U256::from(p.bond)),
        rewards: fmt_tokens(U256::from(p.earned)),
        slashed: fmt_tokens(U256::from(p.slashed)),
        redistributed: fmt_tokens(U256::from(p.redistributed)),
    })
}

/// Every committed bundle of the batch in id order, as `propose` takes them: revealed ones (on-chain, or handed over
/// and carried) with their labels, the others with their commit hash, each naming all its positions.
fn committed_proofs(log: &BatchLog) -> Vec<BundleProof> {
    log.bundles
        .values()
        .filter(|b| b.commit_hash.is_some() && !b.expired)
        .map(|b| BundleProof {
            positions: u32::MAX,
            ..b.proof(&[])
        })
        .collect()
}

/// The two credit words of every bundle id of the batch, from the market's `tally` over every task (in chunks that
/// fit a call, as settlement would send them; a bundle's words are summed over the chunks).
async fn credits(
    c: &Concord,
    batch_id: u64,
    log: &BatchLog,
    num_tasks: u64,
    bundles: u64,
) -> Result<Vec<U256>> {
    let tasks: Vec<u64> = (0..num_tasks).collect();
    let calls = crate::requester::settle_calls(c, batch_id, log, &tasks, 0).await?;
    let mut sums: BTreeMap<u64, [U256; 2]> = BTreeMap::new();
    for call in calls {
        let words = opt(c)
            .tally(call._0, call._1.clone(), converted(&call._2)?)
            .call()
            .await
            .map_err(c.read_err("tally the batch"))?;
        for (bi, p) in call._2.iter().enumerate() {
            let e = sums.entry(u64::from(p.id)).or_default();
            e[0] += words.get(2 * bi).copied().unwrap_or_default();
            e[1] += words.get(2 * bi + 1).copied().unwrap_or_default();
        }
    }
    let mut out = vec![U256::ZERO; 2 * bundles as usize];
    for (id, [w0, w1]) in sums {
        let Some(b) = log.bundles.get(&id) else {
            continue;
        };
        let i = id as usize;
        if 2 * i + 1 < out.len() {
            out[2 * i] = (U256::from_be_slice(b.bundle.annotator.as_slice()) << 96) | w0;
            out[2 * i + 1] = w1;
        }
    }
    Ok(out)
}

/// Proposes the batch's settlement: expires bundles never committed, carries the reveals handed over under `home`
/// (before the reveal deadline every committed bundle must then be revealed), computes every bundle's credit with the
/// market's `tally`, approves the bond and sends `propose`. Final after the challenge window: then `claim`.
pub async fn propose(c: &Concord, batch_id: u64, home: &Path) -> Result<ProposeReport> {
    let b = batch(c, batch_id).await?;
    let cfg = &b.config;
    let (mut log, now) = tokio::try_join!(market::batch_log(c, batch_id, cfg), c.chain_time())?;
    let mut report = ProposeReport::default();
    let expire = crate::requester::stale_bundles(c, batch_id, &log, now).await?;
    report.bundles_expired = expire.len() as u64;
    report.transactions += expire.len() as u64;
    for r in first_error(c.send_market_many("expire bundle", expire).await)? {
        report.gas_used += r.gas_used;
    }
    let early = now <= cfg.revealDeadline.to::<u64>();
    if early {
        crate::handoff::carry_into(home, c, batch_id, &mut log);
        let missing = log
            .bundles
            .values()
            .filter(|x| x.commit_hash.is_some() && !x.expired && x.words.is_none())
            .count();
        if b.state.committed != market::positions(cfg)
            || b.state.goldRevealed != cfg.goldCount
            || missing > 0
        {
            return Err(ClientError::Input(format!(
                "batch {batch_id} cannot be proposed before its reveal deadline ({}): {} of {} positions committed, \
                 {missing} committed bundles not revealed or handed over, {} of {} gold answers revealed; wait for \
                 them or for the deadline",
                fmt_ts(U256::from(cfg.revealDeadline)),
                b.state.committed,
                market::positions(cfg),
                b.state.goldRevealed,
                cfg.goldCount
            )));
        }
    }
    let proofs = committed_proofs(&log);
    report.bundles = proofs.len() as u64;
    report.reveals_carried = proofs.iter().filter(|p| !p.salt.is_zero()).count() as u64;
    let bundles = b.state.bundles; // expiring bundles above changes no count
    let words = credits(
        c,
        batch_id,
        &log,
        u64::from(cfg.numTasks),
        u64::from(bundles),
    )
    .await?;

    let bond = U256::from(b.state.escrow)
        * opt(c)
            .PROPOSAL_BOND_BPS()
            .call()
            .await
            .map_err(c.read_err("read the bond"))?
        / U256::from(10_000u64);
    if !bond.is_zero()
        && c.ensure_allowance("approve the proposal bond", cfg.rewardToken, bond)
            .await?
    {
        report.transactions += 1;
    }
    let receipt = c
        .send_market(
            "propose",
            O::proposeCall {
                batchId: U256::from(batch_id),
                bundles: converted(&proofs)?,
                credits: words,
            },
        )
        .await?;
    report.transactions += 1;
    report.gas_used += receipt.gas_used;
    let e = market::receipt_event::<O::Proposed>(&receipt).ok_or_else(|| ClientError::Input(format!(
        "the proposal of batch {batch_id} was mined without a Proposed event; is the deployment's market this one?"
    )))?;
    report.rewards = fmt_tokens(e.earned);
    report.slashed = fmt_tokens(e.slashed);
    report.redistributed = fmt_tokens(e.redistributed);
    report.bond = fmt_tokens(e.bond);
    report.challenge_end = e.challengeEnd.to::<u64>();
    Ok(report)
}

/// The tree the market builds over a proposal's credits (one leaf per bundle id), for Merkle proofs of them.
fn credit_tree(batch_id: u64, credits: &[U256]) -> concord_protocol::merkle::MerkleTree {
    concord_protocol::merkle::MerkleTree::new(
        (0..credits.len() / 2)
            .map(|j| {
                concord_protocol::merkle::credit_leaf(
                    batch_id,
                    j as u64,
                    credits[2 * j],
                    credits[2 * j + 1],
                )
            })
            .collect(),
    )
}

/// The credits the batch's live (or final) proposal posted: its last `Proposed` event.
async fn posted(c: &Concord, batch_id: u64) -> Result<Vec<U256>> {
    market::proposed_credits(c, batch_id).await?.ok_or_else(|| {
        ClientError::Input(format!(
            "batch {batch_id} has no proposal; run `concord-requester propose -b {batch_id}`"
        ))
    })
}

/// Finalizes the batch's proposal once its challenge window is over (if nobody did) and claims every bundle not
/// claimed yet in one transaction (anyone may: credits go to each bundle's annotator).
pub async fn claim(c: &Concord, batch_id: u64) -> Result<ClaimReport> {
    let p = proposal(c, batch_id).await?;
    let now = c.chain_time().await?;
    let mut report = ClaimReport::default();
    match p.status {
        Status::None => {
            return Err(ClientError::Input(format!(
                "batch {batch_id} has no proposal (or it was voided by a challenge): propose again, or `settle`"
            )))
        }
        Status::Live if now <= p.challenge_end => {
            return Err(ClientError::Input(format!(
                "batch {batch_id}'s proposal can be challenged until {}; claim after that",
                fmt_ts(U256::from(p.challenge_end))
            )))
        }
        Status::Live => {
            let r = c
                .send_market("finalize", O::finalizeCall { batchId: U256::from(batch_id) })
                .await?;
            report.finalized = true;
            report.transactions += 1;
            report.gas_used += r.gas_used;
        }
        Status::Final => {}
    }
    let credits = posted(c, batch_id).await?;
    let receipts = if credits.len() / 2 <= CLAIM_ALL_MAX {
        vec![
            c.send_market(
                "claim",
                O::claimAllCall {
                    batchId: U256::from(batch_id),
                    credits,
                },
            )
            .await?,
        ]
    } else {
        // A list too long for one transaction's calldata and gas: claims with proofs, in chunks, of the bundles
        // still unclaimed.
        let tree = credit_tree(batch_id, &credits);
        // Bundles still to claim: committed or revealed on-chain (a claim clears the word).
        let statuses: Vec<u8> = futures::stream::iter(0..credits.len() / 2)
            .map(|j| async move {
                c.market
                    .bundleStatus(U256::from(batch_id), U256::from(j))
                    .call()
                    .await
                    .map_err(c.read_err("read a bundle's status"))
            })
            .buffered(16)
            .try_collect()
            .await?;
        let open: Vec<usize> = (0..statuses.len()).filter(|&j| statuses[j] >= 2).collect();
        let calls: Vec<O::claimCall> = open
            .chunks(CLAIM_CHUNK)
            .map(|part| O::claimCall {
                batchId: U256::from(batch_id),
                claims: part
                    .iter()
                    .map(|&j| OT::CreditClaim {
                        id: j as u32,
                        credit: credits[2 * j],
                        amounts: credits[2 * j + 1],
                        proof: tree.proof(j).unwrap_or_default(),
                    })
                    .collect(),
            })
            .collect();
        first_error(c.send_market_many("claim", calls).await)?
    };
    let mut rewards = U256::ZERO;
    for r in receipts {
        report.transactions += 1;
        report.gas_used += r.gas_used;
        for e in market::receipt_events::<O::CreditsClaimed>(&r) {
            report.bundles_claimed += e.bundles.to::<u64>();
            rewards += e.rewards;
        }
        report.payments += market::receipt_events::<O::Collected>(&r).len() as u64;
    }
    report.rewards_paid = fmt_tokens(rewards);
    Ok(report)
}

/// The credits of the batch's live proposal that the settlement code does not give, for the bundles of `annotator`
/// (or every bundle): a watcher runs it before the window closes and challenges what it returns.
pub async fn check(
    c: &Concord,
    batch_id: u64,
    annotator: Option<Address>,
) -> Result<Vec<WrongCredit>> {
    let b = batch(c, batch_id).await?;
    let log = market::batch_log(c, batch_id, &b.config).await?;
    let posted = posted(c, batch_id).await?;
    let recomputed = credits(
        c,
        batch_id,
        &log,
        u64::from(b.config.numTasks),
        (posted.len() / 2) as u64,
    )
    .await?;
    Ok((0..posted.len() / 2)
        .filter_map(|i| {
            let who = log.bundles.get(&(i as u64)).map(|x| x.bundle.annotator)?;
            if annotator.is_some_and(|a| a != who) {
                return None;
            }
            let (p, r) = (
                [posted[2 * i], posted[2 * i + 1]],
                [recomputed[2 * i], recomputed[2 * i + 1]],
            );
            (p != r).then_some(WrongCredit {
                bundle_id: i as u64,
                annotator: who,
                posted: p,
                recomputed: r,
            })
        })
        .collect())
}

/// Challenges the live proposal's credit of `bundle_id` with the bundles of its tasks; the bond comes to the caller.
pub async fn challenge(c: &Concord, batch_id: u64, bundle_id: u64) -> Result<String> {
    let b = batch(c, batch_id).await?;
    let log = market::batch_log(c, batch_id, &b.config).await?;
    let posted = posted(c, batch_id).await?;
    let i = bundle_id as usize;
    if 2 * i + 1 >= posted.len() {
        return Err(ClientError::Input(format!(
            "batch {batch_id} has no bundle {bundle_id}"
        )));
    }
    let proof = credit_tree(batch_id, &posted).proof(i).unwrap_or_default();
    let mut tasks: Vec<u64> = log
        .bundles
        .get(&bundle_id)
        .and_then(|x| x.tasks.clone())
        .unwrap_or_default();
    tasks.sort_unstable();
    let r = c
        .send_market(
            "challenge",
            O::challengeCall {
                batchId: U256::from(batch_id),
                bundleId: U256::from(bundle_id),
                credit: posted[2 * i],
                amounts: posted[2 * i + 1],
                proof,
                tasks: tasks.iter().map(|&t| U256::from(t)).collect(),
                bundles: converted(&log.proofs_for(&tasks))?,
            },
        )
        .await?;
    Ok(market::receipt_event::<O::ProposalVoided>(&r)
        .map(|e| fmt_tokens(e.bond))
        .unwrap_or_default())
}
