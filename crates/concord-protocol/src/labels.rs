//! Packing of a task's labels into the uint256 the contract commits and reveals: item i at bits [4i, 4i+4).

use alloy_primitives::U256;

/// Largest number of classes a label fits (4 bits).
pub const MAX_CLASSES: usize = 16;
/// Largest task the market accepts.
pub const MAX_TASK_SIZE: usize = 32;

/// Packs class indexes (each < 16) into a uint256.
pub fn pack(labels: &[u8]) -> U256 {
    labels.iter().enumerate().fold(U256::ZERO, |acc, (i, &l)| {
        acc | (U256::from(l & 0xF) << (4 * i))
    })
}

/// Items in task `task` of a batch of `num_items` items in tasks of `task_size` (the last task may be shorter;
/// 0 past the end).
pub fn task_len(num_items: u64, task_size: u64, task: u64) -> u64 {
    task_size.min(num_items.saturating_sub(task.saturating_mul(task_size)))
}

/// Unpacks the first `n` labels.
pub fn unpack(packed: U256, n: usize) -> Vec<u8> {
    (0..n)
        .map(|i| ((packed >> (4 * i)) & U256::from(0xF)).to::<u8>())
        .collect()
}

/// A per-item mask from the flags form `LabelMarketV2` emits (`BitTally`: item i at bit 4i + 3) to bit i per item.
pub fn flags_to_mask(flags: U256) -> U256 {
    (0..MAX_TASK_SIZE).fold(U256::ZERO, |m, i| {
        if flags.bit(4 * i + 3) {
            m | (U256::from(1u8) << i)
        } else {
            m
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let labels = vec![0, 1, 2, 15, 7, 0, 3];
        assert_eq!(unpack(pack(&labels), labels.len()), labels);
        assert_eq!(pack(&[1, 2]), U256::from(0x21));
    }

    #[test]
    fn last_task_is_shorter_and_past_the_end_is_empty() {
        assert_eq!(task_len(25, 10, 0), 10);
        assert_eq!(task_len(25, 10, 2), 5);
        assert_eq!(task_len(25, 10, 3), 0);
        assert_eq!(task_len(30, 10, 2), 10);
    }

    #[test]
    fn flags_become_one_bit_per_item() {
        let flags = (U256::from(1u8) << 3)
            | (U256::from(1u8) << (4 * 5 + 3))
            | (U256::from(1u8) << (4 * 31 + 3));
        assert_eq!(
            flags_to_mask(flags),
            U256::from((1u64 << 0) | (1 << 5) | (1 << 31))
        );
        assert_eq!(
            flags_to_mask(U256::from(0x7777u64)),
            U256::ZERO,
            "only bit 3 of a nibble counts"
        );
    }
}
