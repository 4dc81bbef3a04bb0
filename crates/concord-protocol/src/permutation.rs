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

/// The preimage of `y` under the permutation of [0, `n`) that `key` selects (as `Permutation.invert`); `None` when
/// `y` is outside it.
pub fn invert(y: u64, n: u64, key: B256) -> Option<u64> {
    if y >= n {
        return None;
    }
    let half = half_bits(n);
    let mask = (1u64 << half) - 1;
    let mut x = y;
    loop {
        let (mut left, mut right) = (x >> half, x & mask);
        for i in (0..ROUNDS).rev() {
            let f = keccak256((key, U256::from(i), U256::from(left)).abi_encode());
            let f = U256::from_be_bytes(f.0) & U256::from(mask);
            (left, right) = (right ^ f.to::<u64>(), left);
        }
        x = (left << half) | right;
        if x < n {
            return Some(x);
        }
    }
}

/// The key of lane `lane`'s permutation in a round with seed `seed`: `keccak256(abi.encode(seed, lane))`, as
/// `LabelMarketV2Storage._laneSeed`.
pub fn lane_key(seed: B256, lane: u64) -> B256 {
    keccak256((seed, U256::from(lane)).abi_encode())
}

/// The task of ticket `ticket` of `lane` in round 1 of a batch of `num_tasks` tasks (round 1's pool is every task,
/// so no chain state beyond the seed is needed); later rounds also need the earlier rounds' committed tickets.
pub fn round_one_task(seed: B256, lane: u64, ticket: u64, num_tasks: u64) -> Option<u64> {
    permute(ticket, num_tasks, lane_key(seed, lane))
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
    fn invert_undoes_permute() {
        for n in [1u64, 2, 3, 17, 64, 100, 1000] {
            let key = keccak256(n.to_be_bytes());
            for x in 0..n {
                assert_eq!(
                    invert(permute(x, n, key).unwrap(), n, key),
                    Some(x),
                    "n={n} x={x}"
                );
            }
        }
        assert_eq!(invert(5, 5, B256::ZERO), None);
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
