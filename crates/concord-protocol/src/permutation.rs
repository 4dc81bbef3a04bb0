//! The keyed pseudo-random permutation of [0, n) that maps a lane's positions to its tasks in protocol v2,
//! bit for bit as `contracts/libraries/Permutation.sol` computes it: a balanced four-round Feistel network on
//! the smallest even number of bits covering n, round function `keccak256(abi.encode(key, round, right))`,
//! with cycle walking back into [0, n).

use alloy_primitives::{keccak256, B256, U256};
use alloy_sol_types::SolValue;

/// Feistel rounds (as `Permutation.ROUNDS`).
pub const ROUNDS: u64 = 4;

/// Half the width of the Feistel domain for [0, n): the smallest h >= 1 with 4^h >= n.
pub fn half_bits(n: u64) -> u32 {
    let mut h = 1u32;
    while (1u128 << (2 * h)) < u128::from(n) {
        h += 1;
    }
    h
}

fn feistel(x: u64, half: u32, key: B256) -> u64 {
    let mask = (1u64 << half) - 1;
    let (mut left, mut right) = (x >> half, x & mask);
    for i in 0..ROUNDS {
        let f = keccak256((key, U256::from(i), U256::from(right)).abi_encode());
        let f = U256::from_be_bytes(f.0) & U256::from(mask);
        (left, right) = (right, left ^ f.to::<u64>());
    }
    (left << half) | right
}

/// The image of `x` under the permutation of [0, `n`) that `key` selects; `None` when `x` is outside it.
pub fn permute(x: u64, n: u64, key: B256) -> Option<u64> {
    if x >= n {
        return None;
    }
    let half = half_bits(n);
    let mut y = x;
    loop {
        y = feistel(y, half, key);
        if y < n {
            return Some(y);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bijection_for_every_size_up_to_100() {
        for lane in 0..3u8 {
            let key = keccak256([lane]);
            for n in 1..=100u64 {
                let mut seen = vec![false; n as usize];
                for x in 0..n {
                    let y = permute(x, n, key).unwrap();
                    assert!(y < n);
                    assert!(!seen[y as usize], "n={n} x={x} collides");
                    seen[y as usize] = true;
                }
            }
        }
        assert_eq!(permute(5, 5, B256::ZERO), None);
        assert_eq!(permute(0, 0, B256::ZERO), None);
    }

    #[test]
    fn half_bits_cover_the_domain() {
        assert_eq!(
            [1, 4, 5, 16, 17, 1 << 32].map(half_bits),
            [1, 1, 2, 2, 3, 16]
        );
    }

    /// The vectors `contracts/test/Permutation.t.sol` checks the Solidity library against.
    #[test]
    fn matches_the_contract_on_shared_vectors() {
        let key = keccak256("concord-permutation-vector");
        let got: Vec<u64> = [0, 1, 2, 3, 4, 5, 6, 999]
            .iter()
            .map(|&x| permute(x, 1000, key).unwrap())
            .collect();
        assert_eq!(got, VECTORS.to_vec());
    }

    const VECTORS: [u64; 8] = [672, 882, 196, 349, 72, 546, 402, 784];
}
