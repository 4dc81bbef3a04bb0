//! Packing of a task's labels into the uint256 the contract commits and reveals: item i at bits [4i, 4i+4).

use alloy::primitives::U256;

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

/// Unpacks the first `n` labels.
pub fn unpack(packed: U256, n: usize) -> Vec<u8> {
    (0..n)
        .map(|i| ((packed >> (4 * i)) & U256::from(0xF)).to::<u8>())
        .collect()
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
}
