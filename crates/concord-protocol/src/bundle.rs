//! The labels of a bundle (protocol v2: the M tasks one join covers) as they travel in calldata, bit for bit as
//! `contracts/libraries/BundlePacking.sol` reads them: task i in the low (even i) or high (odd i) 128 bits of
//! word i / 2, each task packed as [`crate::labels::pack`] packs it (up to 32 items of 4 bits).

use alloy_primitives::{keccak256, B256, U256};

use crate::labels::{pack, MAX_TASK_SIZE};

/// Packs the labels of each task of a bundle; `None` when a task has more than 32 items.
pub fn pack_bundle(tasks: &[Vec<u8>]) -> Option<Vec<U256>> {
    let mut words = vec![U256::ZERO; tasks.len().div_ceil(2)];
    for (i, labels) in tasks.iter().enumerate() {
        if labels.len() > MAX_TASK_SIZE {
            return None;
        }
        words[i / 2] |= pack(labels) << (128 * (i % 2));
    }
    Some(words)
}

/// The packed labels of task `index` of a bundle, as `BundlePacking.taskLabels`; `None` past the bundle.
pub fn task_labels(words: &[U256], index: usize) -> Option<U256> {
    let word = words.get(index / 2)?;
    Some((*word >> (128 * (index % 2))) & U256::from(u128::MAX))
}

/// What a bundle's commitment covers, as `BundlePacking.digest`: keccak256 of the words, packed.
pub fn digest(words: &[U256]) -> B256 {
    let mut buf = Vec::with_capacity(32 * words.len());
    for w in words {
        buf.extend_from_slice(&w.to_be_bytes::<32>());
    }
    keccak256(buf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labels::unpack;

    #[test]
    fn every_task_comes_back_as_packed() {
        let tasks: Vec<Vec<u8>> = (0..5u8)
            .map(|i| (0..32).map(|j| (i + j) % 16).collect())
            .collect();
        let words = pack_bundle(&tasks).unwrap();
        assert_eq!(words.len(), 3, "two tasks per word");
        for (i, t) in tasks.iter().enumerate() {
            assert_eq!(unpack(task_labels(&words, i).unwrap(), 32), *t);
        }
        assert_eq!(task_labels(&words, 6), None);
        assert!(pack_bundle(&[vec![0; 33]]).is_none());
    }

    /// The vector `contracts/test/BundlePacking.t.sol` checks the Solidity library against.
    #[test]
    fn matches_the_contract_on_a_shared_vector() {
        let tasks: Vec<Vec<u8>> = (0..3u8)
            .map(|i| (0..32u8).map(|j| (i + j) % 4).collect())
            .collect();
        let d = digest(&pack_bundle(&tasks).unwrap());
        assert_eq!(d.to_string(), RUST_DIGEST);
    }

    const RUST_DIGEST: &str = "0x6651e4dc57aebaf046083593c289f8c0858c8295baa2fc4366936e1d96254261";
}
