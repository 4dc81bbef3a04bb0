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

/// Whether `words` are labels a reveal of a bundle of `size` tasks may carry, as `LabelMarketV2Storage._checkLabels`
/// checks them: one word per two tasks, the unused half of an odd bundle's last word empty, and every 4-bit field
/// of every task (all 32, used items or not) a class below `num_classes`. The error says which rule failed.
pub fn check_words(words: &[U256], size: usize, num_classes: u8) -> Result<(), String> {
    let expected = size.div_ceil(2);
    if words.len() != expected {
        return Err(format!(
            "{} label words for a bundle of {size} tasks (expected {expected})",
            words.len()
        ));
    }
    if size % 2 == 1 && words[expected - 1] >> 128 != U256::ZERO {
        return Err("the unused half of the last label word is not empty".into());
    }
    for task in 0..size {
        let field = task_labels(words, task).unwrap_or_default();
        for item in 0..MAX_TASK_SIZE {
            let class = ((field >> (4 * item)) & U256::from(0xF)).to::<u8>();
            if class >= num_classes {
                return Err(format!(
                    "task {task} of the bundle, item {item}: class {class} of {num_classes}"
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labels::unpack;

    #[test]
    fn label_words_are_checked_as_the_contract_checks_them() {
        let words = pack_bundle(&[vec![0, 1, 2], vec![2, 2, 0], vec![1]]).expect("packs");
        assert_eq!(check_words(&words, 3, 3), Ok(()));
        assert!(
            check_words(&words, 3, 2).is_err_and(|e| e.contains("class 2 of 2")),
            "class out of range"
        );
        assert!(
            check_words(&words[..1], 3, 3).is_err_and(|e| e.contains("expected 2")),
            "too few words"
        );
        let mut odd = words.clone();
        odd[1] |= U256::from(1) << 200;
        assert!(
            check_words(&odd, 3, 16).is_err_and(|e| e.contains("unused half")),
            "odd bundle's spare half"
        );
        // Unused items of a task count too (the contract reads all 32 fields).
        let mut spare = words.clone();
        spare[0] |= U256::from(9) << (4 * 31);
        assert!(check_words(&spare, 3, 3).is_err_and(|e| e.contains("item 31: class 9")));
    }

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
