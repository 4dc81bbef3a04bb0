//! Which task a ticket of a v2 bundle holds, as `LabelMarketV2Storage._taskOf` computes it, from data a client
//! reads once (seeds, and the tickets committed in earlier rounds from `Committed` events) instead of one
//! `taskAt` call per position.
//!
//! Round 1's pool is every task; the pool of round p > 1 in a lane is the tickets of round p − 1 that were never
//! committed, in ticket order. Ticket q of round p maps to pool index `permute(q, pool_p, lane_key(seed_p, lane))`
//! (the identity in a round that never drew a seed), and pool index i of round p > 1 is the i-th uncommitted ticket
//! of round p − 1, down to round 1 whose pool indices are tasks.

use alloy_primitives::B256;
use std::collections::{BTreeMap, BTreeSet};

use crate::permutation::{lane_key, permute};

/// What one lane did in one round: its seed (`None` when none was drawn) and its committed tickets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LaneRound {
    pub seed: Option<B256>,
    pub committed: BTreeSet<u64>,
}

/// The rounds of one batch, enough to map any ticket of any lane to its task.
#[derive(Debug, Clone, Default)]
pub struct Assignment {
    num_tasks: u64,
    /// Seed of round p at index p − 1.
    seeds: Vec<Option<B256>>,
    /// Committed tickets per (round, lane).
    committed: BTreeMap<(u64, u64), BTreeSet<u64>>,
}

impl Assignment {
    /// A batch of `num_tasks` tasks with no round seeded yet.
    pub fn new(num_tasks: u64) -> Self {
        Self {
            num_tasks,
            ..Self::default()
        }
    }

    /// Sets the seed of `round` (1-based); rounds before it without a seed stay unseeded.
    pub fn set_seed(&mut self, round: u64, seed: B256) {
        let Some(i) = round.checked_sub(1).map(|i| i as usize) else {
            return;
        };
        if self.seeds.len() <= i {
            self.seeds.resize(i + 1, None);
        }
        self.seeds[i] = (seed != B256::ZERO).then_some(seed);
    }

    /// Records that tickets `[first, first + size)` of `lane` in `round` were committed.
    pub fn add_committed(&mut self, round: u64, lane: u64, first: u64, size: u64) {
        self.committed
            .entry((round, lane))
            .or_default()
            .extend(first..first + size);
    }

    /// The pool of `lane` in `round`: every task in round 1, then what the previous round left uncommitted.
    pub fn pool(&self, lane: u64, round: u64) -> u64 {
        (1..round).fold(self.num_tasks, |pool, p| {
            pool - self.committed.get(&(p, lane)).map_or(0, |c| c.len() as u64)
        })
    }

    /// The task held by `ticket` of `lane` in `round`; `None` when the ticket is outside the round's pool or the
    /// round has no seed yet.
    pub fn task_of(&self, lane: u64, round: u64, ticket: u64) -> Option<u64> {
        if round == 0 || ticket >= self.pool(lane, round) {
            return None;
        }
        self.seed(round)?;
        let mut ticket = ticket;
        let mut p = round;
        loop {
            let index = match self.seed(p) {
                Some(seed) => permute(ticket, self.pool(lane, p), lane_key(seed, lane))?,
                None => ticket,
            };
            if p == 1 {
                return Some(index);
            }
            p -= 1;
            ticket = self.nth_uncommitted(p, lane, index);
        }
    }

    /// The tasks of a bundle's tickets `[first, first + size)`, in ticket order.
    pub fn tasks_of(&self, lane: u64, round: u64, first: u64, size: u64) -> Option<Vec<u64>> {
        (first..first + size)
            .map(|t| self.task_of(lane, round, t))
            .collect()
    }

    fn seed(&self, round: u64) -> Option<B256> {
        self.seeds.get(round as usize - 1).copied().flatten()
    }

    /// The `index`-th ticket of `lane` in `round` that was never committed.
    fn nth_uncommitted(&self, round: u64, lane: u64, index: u64) -> u64 {
        let Some(committed) = self.committed.get(&(round, lane)) else {
            return index;
        };
        // Every committed ticket at or below the candidate shifts it up by one.
        let mut ticket = index;
        for &c in committed {
            if c <= ticket {
                ticket += 1;
            } else {
                break;
            }
        }
        ticket
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::permutation::round_one_task;

    #[test]
    fn round_one_is_the_lane_permutation() {
        let seed = B256::repeat_byte(3);
        let mut a = Assignment::new(50);
        assert_eq!(a.task_of(0, 1, 0), None, "no seed yet");
        a.set_seed(1, seed);
        for lane in 0..3 {
            for t in 0..50 {
                assert_eq!(a.task_of(lane, 1, t), round_one_task(seed, lane, t, 50));
            }
        }
        assert_eq!(a.task_of(0, 1, 50), None, "outside the pool");
    }

    #[test]
    fn later_rounds_cover_exactly_the_tasks_never_committed() {
        let mut a = Assignment::new(40);
        a.set_seed(1, B256::repeat_byte(1));
        a.add_committed(1, 2, 0, 10);
        a.add_committed(1, 2, 17, 5);
        let done: BTreeSet<u64> = (0..10)
            .chain(17..22)
            .map(|t| a.task_of(2, 1, t).unwrap())
            .collect();
        assert_eq!(a.pool(2, 2), 25);
        a.set_seed(2, B256::repeat_byte(2));
        let second: BTreeSet<u64> = (0..25).map(|t| a.task_of(2, 2, t).unwrap()).collect();
        assert_eq!(second.len(), 25, "a bijection onto the pool");
        assert!(second.is_disjoint(&done), "committed tasks never come back");
        assert_eq!(second.len() + done.len(), 40);
        // A third round over an unseeded second round: the identity on round 2's tickets.
        let mut b = Assignment::new(40);
        b.set_seed(1, B256::repeat_byte(1));
        b.add_committed(1, 0, 0, 30);
        b.set_seed(3, B256::repeat_byte(5));
        let third: BTreeSet<u64> = (0..10).map(|t| b.task_of(0, 3, t).unwrap()).collect();
        let first: BTreeSet<u64> = (0..30).map(|t| b.task_of(0, 1, t).unwrap()).collect();
        assert!(third.is_disjoint(&first));
        assert_eq!(third.len(), 10);
    }
}
