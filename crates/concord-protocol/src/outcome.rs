//! An item's final outcome, rebuilt from what a batch's events say (who revealed what, how each task settled,
//! what the reviewer decided) — plain data in, so the rule is testable without a chain.

use alloy_primitives::{Address, U256};
use serde::Serialize;
use std::collections::BTreeMap;

use crate::consensus::decide;
use crate::labels::{flags_to_mask, unpack};
use crate::status::ItemStatus;

/// The shape of a batch, from its on-chain config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchShape {
    pub num_items: u64,
    pub task_size: u64,
    pub num_classes: usize,
    pub threshold_bps: u32,
}

/// A revealed label vector (`Revealed` event).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reveal {
    pub task: u64,
    pub annotator: Address,
    pub labels: U256,
}

/// How a task settled (its words of a `TasksSettled` event, [`settled_tasks`]): bit i of a mask is item i of the
/// task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settlement {
    pub result_labels: U256,
    pub decided_mask: U256,
    pub gold_mask: U256,
    pub block: Option<u64>,
}

/// The tasks of one `TasksSettled` event (`LabelMarketV2` emits one per `settle` call): two words per task, the
/// first `resultLabels | decidedFlags << 128`, the second `taskId | revealedLanes << 32 | goldFlags << 128`
/// (flags: item i at bit 4i + 3). A trailing odd word is ignored. `block` is the event's block.
pub fn settled_tasks(words: &[U256], block: Option<u64>) -> Vec<(u64, Settlement)> {
    let low128 = (U256::from(1u8) << 128) - U256::from(1u8);
    words
        .chunks_exact(2)
        .map(|w| {
            let task = (w[1] & U256::from(u32::MAX)).to::<u64>();
            let s = Settlement {
                result_labels: w[0] & low128,
                decided_mask: flags_to_mask(w[0] >> 128),
                gold_mask: flags_to_mask(w[1] >> 128),
                block,
            };
            (task, s)
        })
        .collect()
}

/// One item's final outcome.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ItemOutcome {
    pub index: u64,
    pub label: Option<u8>,
    pub status: ItemStatus,
    pub votes: Vec<u32>,
    pub agreement: f64,
    pub num_labels: u32,
    pub annotators: Vec<Address>,
    pub annotator_labels: Vec<u8>,
    pub settled_block: Option<u64>,
}

/// How each of `num_tasks` tasks settles, rebuilt off-chain with the contract's rule (`consensus::decide` per item
/// over the revealed labels; a revealed gold answer decides its item) — for a batch settled optimistically, which
/// emits no `TasksSettled`: its final proposal's credits are what the settlement code gives for these outcomes.
/// `gold` holds the gold answers only if every one of them was revealed (otherwise gold does not count).
pub fn settle_locally(
    shape: &BatchShape,
    num_tasks: u64,
    reveals: &[Reveal],
    gold: &BTreeMap<u64, u8>,
    block: Option<u64>,
) -> BTreeMap<u64, Settlement> {
    let k = shape.task_size.max(1);
    let mut per_task: BTreeMap<u64, Vec<U256>> = BTreeMap::new();
    for r in reveals {
        per_task.entry(r.task).or_default().push(r.labels);
    }
    (0..num_tasks)
        .map(|t| {
            let n = k.min(shape.num_items.saturating_sub(t * k)) as usize;
            let labels = per_task.get(&t).map(Vec::as_slice).unwrap_or_default();
            let (mut result, mut decided, mut gold_mask) = (vec![0u8; n], U256::ZERO, U256::ZERO);
            for (pos, r) in result.iter_mut().enumerate() {
                let bit = U256::from(1u64) << pos;
                if let Some(&g) = gold.get(&(t * k + pos as u64)) {
                    *r = g;
                    decided |= bit;
                    gold_mask |= bit;
                    continue;
                }
                let votes: Vec<u8> = labels.iter().map(|l| unpack(*l, pos + 1)[pos]).collect();
                if let Some(c) = decide(&votes, shape.num_classes, shape.threshold_bps).consensus {
                    *r = c;
                    decided |= bit;
                }
            }
            let s = Settlement {
                result_labels: crate::labels::pack(&result),
                decided_mask: decided,
                gold_mask,
                block,
            };
            (t, s)
        })
        .collect()
}

/// Every item's outcome: votes from the reveals, label and status from the task's settlement (gold first, then
/// consensus), else the reviewer's decision `resolved[item]`, else no consensus; `Pending` while unsettled.
pub fn outcomes(
    shape: &BatchShape,
    reveals: &[Reveal],
    settled: &BTreeMap<u64, Settlement>,
    resolved: &BTreeMap<u64, u8>,
) -> Vec<ItemOutcome> {
    let k = shape.task_size.max(1);
    let mut per_task: BTreeMap<u64, Vec<(Address, U256)>> = BTreeMap::new();
    for r in reveals {
        per_task
            .entry(r.task)
            .or_default()
            .push((r.annotator, r.labels));
    }
    (0..shape.num_items)
        .map(|index| {
            let t = index / k;
            let pos = (index % k) as usize;
            let labels = per_task.get(&t).map(Vec::as_slice).unwrap_or_default();
            let annotator_labels: Vec<u8> = labels
                .iter()
                .map(|(_, l)| unpack(*l, pos + 1)[pos])
                .collect();
            let v = decide(&annotator_labels, shape.num_classes, shape.threshold_bps);
            let (label, status, block) = match settled.get(&t) {
                None => (None, ItemStatus::Pending, None),
                Some(s) => {
                    let bit = U256::from(1u64) << pos;
                    let result = unpack(s.result_labels, pos + 1)[pos];
                    if s.gold_mask & bit != U256::ZERO {
                        (Some(result), ItemStatus::Gold, s.block)
                    } else if s.decided_mask & bit != U256::ZERO {
                        (Some(result), ItemStatus::Accepted, s.block)
                    } else if let Some(l) = resolved.get(&index) {
                        (Some(*l), ItemStatus::Reviewed, s.block)
                    } else {
                        (None, ItemStatus::NoConsensus, s.block)
                    }
                }
            };
            ItemOutcome {
                index,
                label,
                status,
                agreement: v.agreement,
                num_labels: annotator_labels.len() as u32,
                votes: v.votes,
                annotators: labels.iter().map(|(a, _)| *a).collect(),
                annotator_labels,
                settled_block: block,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labels::pack;

    const SHAPE: BatchShape = BatchShape {
        num_items: 5,
        task_size: 3,
        num_classes: 3,
        threshold_bps: 6600,
    };

    fn reveal(task: u64, who: u8, labels: &[u8]) -> Reveal {
        Reveal {
            task,
            annotator: Address::repeat_byte(who),
            labels: pack(labels),
        }
    }

    #[test]
    fn settle_locally_decides_as_the_contract_and_gold_overrides() {
        let reveals = [
            reveal(0, 1, &[1, 2, 0]),
            reveal(0, 2, &[1, 0, 0]),
            reveal(0, 3, &[2, 1, 0]),
            reveal(1, 1, &[2, 2]),
            reveal(1, 2, &[2, 1]),
        ];
        let gold = BTreeMap::from([(4u64, 0u8)]);
        let s = settle_locally(&SHAPE, 2, &reveals, &gold, Some(9));
        // Task 0: item 0 two of three for 1 (>= 66 %), item 1 one vote each, item 2 unanimous 0.
        assert_eq!(s[&0].decided_mask, U256::from(0b101u64));
        assert_eq!(unpack(s[&0].result_labels, 3), vec![1, 0, 0]);
        // Task 1 (items 3 and 4 of 5): item 3 two for 2; item 4 is gold (answer 0) whatever the votes.
        assert_eq!(s[&1].decided_mask, U256::from(0b11u64));
        assert_eq!(s[&1].gold_mask, U256::from(0b10u64));
        assert_eq!(unpack(s[&1].result_labels, 2), vec![2, 0]);
        assert_eq!(s[&1].block, Some(9));
    }

    #[test]
    fn settled_tasks_unpack_the_events_two_words_per_task() {
        // Task 7: labels [1, 2, 0], items 0 and 1 decided (flags 0x88), item 1 gold (0x80), lanes 0b101.
        let one = U256::from(1u8);
        let words = [
            pack(&[1, 2, 0]) | (U256::from(0x88u32) << 128),
            U256::from(7u32) | (U256::from(0b101u32) << 32) | (U256::from(0x80u32) << 128),
            pack(&[3]),
            U256::from(9u32),
        ];
        let got = settled_tasks(&words, Some(42));
        assert_eq!(got.len(), 2);
        let (task, s) = got[0];
        assert_eq!(task, 7);
        assert_eq!(s.result_labels, pack(&[1, 2, 0]));
        assert_eq!(s.decided_mask, one | (one << 1));
        assert_eq!(s.gold_mask, one << 1);
        assert_eq!(s.block, Some(42));
        let (task, s) = got[1];
        assert_eq!(task, 9);
        assert_eq!(s.result_labels, pack(&[3]));
        assert_eq!(s.decided_mask, U256::ZERO);
        assert_eq!(s.gold_mask, U256::ZERO);
        assert!(
            settled_tasks(&words[..1], None).is_empty(),
            "a lone word holds no task"
        );
    }

    #[test]
    fn statuses_come_from_settlement_gold_first_then_consensus_then_review() {
        let reveals = [
            reveal(0, 1, &[1, 2, 0]),
            reveal(0, 2, &[1, 0, 0]),
            reveal(0, 3, &[1, 1, 2]),
            reveal(1, 1, &[2, 2]),
        ];
        let settled = BTreeMap::from([(
            0,
            Settlement {
                // item 0 by consensus (class 1), item 1 gold (class 2), item 2 undecided
                result_labels: pack(&[1, 2, 0]),
                decided_mask: U256::from(0b001u64),
                gold_mask: U256::from(0b010u64),
                block: Some(7),
            },
        )]);
        let resolved = BTreeMap::from([(2, 0u8)]);
        let out = outcomes(&SHAPE, &reveals, &settled, &resolved);
        assert_eq!(out.len(), 5);
        assert_eq!(
            (out[0].status, out[0].label),
            (ItemStatus::Accepted, Some(1))
        );
        assert_eq!(out[0].votes, vec![0, 3, 0]);
        assert_eq!(out[0].annotator_labels, vec![1, 1, 1]);
        assert_eq!((out[1].status, out[1].label), (ItemStatus::Gold, Some(2)));
        assert_eq!(
            (out[2].status, out[2].label),
            (ItemStatus::Reviewed, Some(0))
        );
        assert_eq!(out[2].settled_block, Some(7));
        // task 1 (items 3, 4) is not settled: pending, votes still counted from its reveal
        assert_eq!((out[3].status, out[3].label), (ItemStatus::Pending, None));
        assert_eq!(out[4].annotator_labels, vec![2]);
        assert_eq!(out[4].num_labels, 1);

        let unresolved = outcomes(&SHAPE, &reveals, &settled, &BTreeMap::new());
        assert_eq!(unresolved[2].status, ItemStatus::NoConsensus);
        assert_eq!(unresolved[2].label, None);
    }
}
