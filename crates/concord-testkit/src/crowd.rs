//! Drives a crowd of annotator clients through a v2 batch on a local chain: rounds of joins, the seal (moving
//! chain time past a round's join window when it did not fill), learning the tasks, labeling and committing —
//! until every position is committed or nobody can join any more. Used by the simulator, the benchmarks, the
//! demo and the tests; the CLIs do the same steps one command at a time.

use concord_client::store::{LocalStatus, Store};
use concord_client::{annotator, market, ClientError, Concord};
use std::time::Duration;

/// What driving a batch did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rounds {
    pub rounds: u64,
    pub joins: u64,
    pub bundles_committed: u64,
}

/// Works batch `batch_id` with `crowd` (a client and its store each): each round every member joins for up to
/// `tasks` tasks (the batch's limit when `None`), labels each task with `label(member, task)` and commits. The
/// members listed in `idle` join but never commit (squatters). `advance(secs)` moves chain time.
pub async fn work<L, A, Fut>(
    crowd: &[(Concord, Store)],
    batch_id: u64,
    tasks: Option<u64>,
    idle: &[usize],
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
        // One after the other: joins racing for the last positions of a round would revert on-chain.
        let mut joined = 0;
        for (c, store) in crowd {
            match annotator::join(c, store, batch_id, tasks).await {
                Ok(_) => joined += 1,
                // Nothing left for this member in this round (or ever): not an error of the drive.
                Err(ClientError::Revert { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        if joined == 0 {
            return Ok(out);
        }
        out.rounds += 1;
        out.joins += joined;
        // A round that did not fill seals after its join window.
        let b = market::batch(first, batch_id).await?;
        let rd = market::round(first, batch_id, u64::from(b.state.round)).await?;
        let now = first.chain_time().await?;
        if rd.sealBlock == 0 && now <= rd.joinEnd.to::<u64>() {
            advance(rd.joinEnd.to::<u64>() + 1 - now).await?;
        }
        for (i, (c, store)) in crowd.iter().enumerate() {
            let me = c.account()?;
            // The seed block comes with the next block (anvil's mixed mining: at most a second).
            for _ in 0..60 {
                if annotator::refresh(c, store, Some(batch_id)).await?.is_empty() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            if idle.contains(&i) {
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
        let commits = futures::future::join_all(
            crowd
                .iter()
                .enumerate()
                .filter(|(i, _)| !idle.contains(i))
                .map(|(_, (c, store))| annotator::commit(c, store, Some(batch_id))),
        )
        .await;
        for r in commits {
            let r = r?;
            eyre::ensure!(r.failed.is_empty(), "commit failed: {:?}", r.failed);
            out.bundles_committed += r.done.len() as u64;
        }
    }
}
