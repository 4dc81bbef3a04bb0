//! Drives a crowd of annotator clients through a v2 batch on a local chain: rounds of joins, the seal (moving
//! chain time past a round's join window when it did not fill), learning the tasks, labeling and committing —
//! until every position is committed or nobody can join any more. Used by the simulator, the benchmarks, the
//! demo and the tests; the CLIs do the same steps one command at a time.

use concord_client::store::{LocalStatus, Store};
use concord_client::{annotator, market, ClientError, Concord};
use std::time::Duration;

/// How a crowd works a batch.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// Tasks each join asks for (`None`: the batch's limit).
    pub tasks: Option<u64>,
    /// Members that join but never commit (squatters).
    pub idle: Vec<usize>,
    /// Members that always join one right after another, trying to land together (colluders steering).
    pub together: Vec<usize>,
    /// Seed of the join order, shuffled every round (joins arrive in no fixed order).
    pub seed: u64,
    /// Members join the next round with each commit (`commit --join-next`, one transaction for both) instead of
    /// joining on their own after the round's commits.
    pub fold: bool,
    /// Members hand their signed joins (`join --via`, staking through a permit) and commits (`commit --via`) to the
    /// requester's server, which sends each round's in one transaction each (`concord-requester relay`) instead of
    /// each member sending its own.
    pub relay: Option<Relay>,
}

/// The requester's side of relayed joins and commits: its server's URL, its client, and the folder the server
/// keeps them in; and what a member with no stake stakes with its first relayed join.
#[derive(Clone)]
pub struct Relay {
    pub url: String,
    pub requester: Concord,
    pub home: std::path::PathBuf,
    pub stake: alloy::primitives::U256,
}

impl std::fmt::Debug for Relay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Relay")
            .field("url", &self.url)
            .field("home", &self.home)
            .finish_non_exhaustive()
    }
}

impl Plan {
    /// The join order of round `round` of `n` members: a seeded shuffle, with the `together` members in one block
    /// at a seeded position.
    pub fn order(&self, n: usize, round: u64) -> Vec<usize> {
        use rand::seq::SliceRandom;
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(
            self.seed ^ round.wrapping_mul(0x9E37_79B9_7F4A_7C15),
        );
        let mut rest: Vec<usize> = (0..n).filter(|i| !self.together.contains(i)).collect();
        rest.shuffle(&mut rng);
        let at = rng.gen_range(0..=rest.len());
        let block: Vec<usize> = self.together.iter().copied().filter(|&i| i < n).collect();
        rest.splice(at..at, block);
        rest
    }
}

/// What driving a batch did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rounds {
    pub rounds: u64,
    pub joins: u64,
    pub bundles_committed: u64,
    /// Commits the requester relayed (`Plan::relay`), and its `relayCommits` transactions.
    pub relayed: u64,
    pub relay_transactions: u64,
    /// Joins the requester relayed, and its `relayJoins` transactions.
    pub relayed_joins: u64,
    pub join_transactions: u64,
}

/// Works batch `batch_id` with `crowd` (a client and its store each) as `plan` says: each round every member joins
/// (in the plan's order), labels each of its tasks with `label(member, task)` and commits. `advance(secs)` moves
/// chain time.
pub async fn work<L, A, Fut>(
    crowd: &[(Concord, Store)],
    batch_id: u64,
    plan: &Plan,
    mut label: L,
    advance: A,
) -> eyre::Result<Rounds>
where
    L: FnMut(usize, u64) -> Vec<u8>,
    A: Fn(u64) -> Fut,
    Fut: std::future::Future<Output = eyre::Result<()>>,
{
    let Some((first, _)) = crowd.first() else {
        return Ok(Rounds::default());
    };
    let mut out = Rounds::default();
    // Bundles of the next round reserved by the last round's commits (`plan.fold`).
    let mut reserved = 0u64;
    loop {
        let b = market::batch(first, batch_id).await?;
        if b.state.committed >= market::positions(&b.config) {
            return Ok(out);
        }
        // A sealed round whose commits are over: move time so the next round can open.
        let rd = market::round(first, batch_id, u64::from(b.state.round)).await?;
        let now = first.chain_time().await?;
        if out.rounds > 0 || rd.sealBlock != 0 || now > rd.joinEnd.to::<u64>() {
            let end = rd.commitEnd.to::<u64>();
            if now <= end {
                advance(end + 1 - now).await?;
            }
        }
        // The round the last commits reserved in opens now that their round's commits are over (anyone may).
        if reserved > 0 {
            let open = concord_client::bindings::LabelMarketV2::sealCall {
                batchId: alloy::primitives::U256::from(batch_id),
            };
            match first.send_market("open round", open).await {
                // Refused when there is nothing to open (every reservation void and nothing left).
                Ok(_) | Err(ClientError::Revert { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        // One after the other: joins racing for the last positions of a round would revert on-chain.
        let mut joined = 0;
        for i in plan.order(crowd.len(), out.rounds) {
            let (c, store) = &crowd[i];
            let Some(relay) = &plan.relay else {
                match annotator::join(c, store, batch_id, plan.tasks).await {
                    Ok(_) => joined += 1,
                    // Nothing left for this member in this round (or ever), or it joined by reservation: not an
                    // error of the drive.
                    Err(ClientError::Revert { .. }) => {}
                    Err(e) => return Err(e.into()),
                }
                continue;
            };
            // Relayed: a member with no stake stakes with its first join (through a permit).
            let acct = c
                .market
                .accountOf(c.account()?)
                .call()
                .await
                .map_err(|e| eyre::eyre!("read stake: {e}"))?;
            let stake = (acct.amount == 0).then_some(relay.stake);
            match annotator::join_via(c, batch_id, plan.tasks, stake, &relay.url).await {
                Ok(_) => {}
                // The server's dry run refused it: nothing left for this member now, or it joined by reservation.
                // (A hand-over that failed for another reason is skipped too: callers check how many joins were
                // relayed — `Rounds::relayed_joins` — as the gas benchmark does.)
                Err(ClientError::Input(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        if let Some(relay) = &plan.relay {
            let r =
                concord_client::relay::send_joins(&relay.requester, &relay.home, batch_id).await?;
            joined += r.relayed;
            out.relayed_joins += r.relayed;
            out.join_transactions += r.transactions;
        }
        if joined + reserved == 0 {
            return Ok(out);
        }
        out.rounds += 1;
        out.joins += joined + reserved;
        // A round that did not fill seals after its join window (anyone may seal it: the first member does).
        let b = market::batch(first, batch_id).await?;
        let rd = market::round(first, batch_id, u64::from(b.state.round)).await?;
        if rd.sealBlock == 0 {
            let now = first.chain_time().await?;
            if now <= rd.joinEnd.to::<u64>() {
                advance(rd.joinEnd.to::<u64>() + 1 - now).await?;
            }
            let seal = concord_client::bindings::LabelMarketV2::sealCall {
                batchId: alloy::primitives::U256::from(batch_id),
            };
            first.send_market("seal round", seal).await?;
        }
        // The seed is the next block's hash: mine it rather than wait for the interval block.
        advance(0).await?;
        for (i, (c, store)) in crowd.iter().enumerate() {
            let me = c.account()?;
            // The seed block comes with the next block (anvil's mixed mining: at most a second).
            for _ in 0..60 {
                if annotator::refresh(c, store, Some(batch_id))
                    .await?
                    .is_empty()
                {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            if plan.idle.contains(&i) {
                continue;
            }
            let labeled: Vec<(u64, Vec<u8>)> = store
                .list(c.chain_id(), c.market_address(), me, Some(batch_id))?
                .into_iter()
                .filter(|r| r.status == LocalStatus::Joined)
                .filter_map(|r| r.tasks)
                .flatten()
                .map(|t| (t, label(i, t)))
                .collect();
            annotator::label_many(c, store, batch_id, &labeled).await?;
        }
        let join_next = if plan.fold {
            Some(match plan.tasks {
                Some(n) => n,
                None => u64::from(market::batch(first, batch_id).await?.config.maxBundle),
            })
        } else {
            None
        };
        let commits = futures::future::join_all(
            crowd
                .iter()
                .enumerate()
                .filter(|(i, _)| !plan.idle.contains(i))
                .map(|(_, (c, store))| {
                    let via = plan.relay.as_ref().map(|r| r.url.as_str());
                    annotator::commit(c, store, Some(batch_id), join_next, via)
                }),
        )
        .await;
        reserved = 0;
        for r in commits {
            let r = r?;
            eyre::ensure!(r.failed.is_empty(), "commit failed: {:?}", r.failed);
            eyre::ensure!(
                r.handoff_refused.is_empty(),
                "a commit was not handed over: {:?}",
                r.handoff_refused
            );
            out.bundles_committed += r.done.len() as u64;
            reserved += r.reserved.len() as u64;
        }
        if let Some(relay) = &plan.relay {
            let r = concord_client::relay::send(&relay.requester, &relay.home, batch_id).await?;
            eyre::ensure!(
                r.refused.is_empty(),
                "relayed commits refused: {:?}",
                r.refused
            );
            out.bundles_committed += r.relayed;
            out.relayed += r.relayed;
            out.relay_transactions += r.transactions;
            reserved += r.joined;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_round_is_a_shuffle_with_the_block_kept_together() {
        let plan = Plan {
            together: vec![2, 5],
            seed: 9,
            ..Plan::default()
        };
        let a = plan.order(10, 0);
        let b = plan.order(10, 1);
        for o in [&a, &b] {
            let mut sorted = o.clone();
            sorted.sort();
            assert_eq!(sorted, (0..10).collect::<Vec<_>>(), "a permutation");
            let at = o.iter().position(|&i| i == 2).unwrap();
            assert_eq!(o[at + 1], 5, "the block stays adjacent: {o:?}");
        }
        assert_ne!(a, b, "a new order every round");
        assert_eq!(plan.order(10, 0), a, "seeded");
    }
}
