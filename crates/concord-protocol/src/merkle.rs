//! Merkle trees that OpenZeppelin's `MerkleProof.verify` accepts: sorted-pair keccak256, odd nodes promoted,
//! leaves double-hashed (see `contracts/libraries/Leaves.sol`).

use alloy_primitives::{keccak256, Address, B256, U256};
use alloy_sol_types::SolValue;

/// Leaf of the item manifest: `keccak256(keccak256(abi.encode(index, contentHash, uri)))`.
pub fn manifest_leaf(index: u64, content_hash: B256, uri: &str) -> B256 {
    keccak256(keccak256(
        (U256::from(index), content_hash, uri.to_string()).abi_encode_params(),
    ))
}

/// Leaf of a gold answer: `keccak256(keccak256(abi.encode(item, label, salt)))`.
pub fn gold_leaf(item: u64, label: u8, salt: B256) -> B256 {
    keccak256(keccak256(
        (U256::from(item), U256::from(label), salt).abi_encode_params(),
    ))
}

/// Leaf of a bundle's credit in an optimistic settlement:
/// `keccak256(keccak256(abi.encode(batchId, bundleId, credit, amounts)))` (`Leaves.creditLeaf`).
pub fn credit_leaf(batch_id: u64, bundle_id: u64, credit: U256, amounts: U256) -> B256 {
    keccak256(keccak256(
        (U256::from(batch_id), U256::from(bundle_id), credit, amounts).abi_encode_params(),
    ))
}

/// A bundle's credit as an optimistic proposal posts it: the words `uint160(annotator) << 96 | unrevealed << 80 |
/// goldDisagreed << 64 | goldAgreed << 48 | disagreed << 32 | agreed << 16 | tasks` and `slashed << 128 |
/// redistributed` (`ILabelMarketV2Optimistic.propose`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Credit {
    pub annotator: Address,
    pub tasks: u64,
    pub agreed: u64,
    pub disagreed: u64,
    pub gold_agreed: u64,
    pub gold_disagreed: u64,
    pub unrevealed: u64,
    pub slashed: U256,
    pub redistributed: U256,
}

impl Credit {
    /// Reads the two words of a credit.
    pub fn decode(credit: U256, amounts: U256) -> Self {
        let field = |f: usize| ((credit >> (16 * f)) & U256::from(0xFFFFu64)).to::<u64>();
        Self {
            annotator: Address::from_word(B256::from(credit >> 96)),
            tasks: field(0),
            agreed: field(1),
            disagreed: field(2),
            gold_agreed: field(3),
            gold_disagreed: field(4),
            unrevealed: field(5),
            slashed: amounts >> 128,
            redistributed: amounts & U256::from(u128::MAX),
        }
    }

    /// Labels the credit pays for: agreeing with the consensus or with a gold answer.
    pub fn accepted(&self) -> u64 {
        self.agreed + self.gold_agreed
    }

    /// Labels the credit slashes for: against the consensus or a gold answer.
    pub fn rejected(&self) -> u64 {
        self.disagreed + self.gold_disagreed
    }
}

fn hash_pair(a: B256, b: B256) -> B256 {
    let (lo, hi) = if a < b { (a, b) } else { (b, a) };
    let mut buf = [0u8; 64];
    buf[..32].copy_from_slice(lo.as_slice());
    buf[32..].copy_from_slice(hi.as_slice());
    keccak256(buf)
}

/// A full tree kept level by level, so proofs are O(log n) lookups.
#[derive(Debug, Clone)]
pub struct MerkleTree {
    levels: Vec<Vec<B256>>,
}

impl MerkleTree {
    /// Builds the tree over `leaves` in the given order. An empty tree has root zero.
    pub fn new(leaves: Vec<B256>) -> Self {
        let mut levels = vec![leaves];
        while levels.last().map(|l| l.len()).unwrap_or(0) > 1 {
            let prev = levels.last().map(Vec::as_slice).unwrap_or_default();
            let next = prev
                .chunks(2)
                .map(|pair| {
                    if pair.len() == 2 {
                        hash_pair(pair[0], pair[1])
                    } else {
                        pair[0]
                    }
                })
                .collect();
            levels.push(next);
        }
        Self { levels }
    }

    /// The root (zero for an empty tree).
    pub fn root(&self) -> B256 {
        self.levels
            .last()
            .and_then(|l| l.first())
            .copied()
            .unwrap_or(B256::ZERO)
    }

    /// Proof for the leaf at `index`, or `None` if out of range.
    pub fn proof(&self, mut index: usize) -> Option<Vec<B256>> {
        if index >= self.levels.first()?.len() {
            return None;
        }
        let mut proof = Vec::new();
        for level in &self.levels[..self.levels.len() - 1] {
            if let Some(sibling) = level.get(index ^ 1) {
                proof.push(*sibling);
            }
            index /= 2;
        }
        Some(proof)
    }
}

/// What OpenZeppelin's `MerkleProof.verify` computes.
pub fn verify(proof: &[B256], root: B256, leaf: B256) -> bool {
    proof.iter().fold(leaf, |acc, p| hash_pair(acc, *p)) == root
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credit_leaf_matches_the_contract_on_a_shared_vector() {
        // `LabelMarketV2OptimisticTest.test_creditLeaf_sharedVector`: batch 7, bundle 3, annotator 0xA11CE with
        // counts 1..6, 5 tokens slashed and 3 redistributed.
        let credit =
            (U256::from(0xA11CEu64) << 96) | U256::from(0x0006_0005_0004_0003_0002_0001u128);
        let amounts = (U256::from(5_000_000_000_000_000_000u128) << 128)
            | U256::from(3_000_000_000_000_000_000u128);
        assert_eq!(
            credit_leaf(7, 3, credit, amounts),
            "0x67e64f811e8d9620814d6c1c4b59f7053eba6f170b51b2a396c7168857bcced8"
                .parse::<B256>()
                .unwrap()
        );
    }

    #[test]
    fn a_credit_decodes_every_field_of_its_two_words() {
        let credit =
            (U256::from(0xA11CEu64) << 96) | U256::from(0x0006_0005_0004_0003_0002_0001u128);
        let amounts = (U256::from(5u64) << 128) | U256::from(3u64);
        let c = Credit::decode(credit, amounts);
        assert_eq!(
            c,
            Credit {
                annotator: Address::from_word(B256::from(U256::from(0xA11CEu64))),
                tasks: 1,
                agreed: 2,
                disagreed: 3,
                gold_agreed: 4,
                gold_disagreed: 5,
                unrevealed: 6,
                slashed: U256::from(5u64),
                redistributed: U256::from(3u64),
            }
        );
        assert_eq!((c.accepted(), c.rejected()), (6, 8));
        // The full 16 bits of a field, and nothing of its neighbours.
        let c = Credit::decode(U256::from(0xFFFFu64) << 32, U256::ZERO);
        assert_eq!((c.agreed, c.disagreed, c.gold_agreed), (0, 0xFFFF, 0));
    }

    #[test]
    fn every_proof_verifies_for_many_sizes() {
        for n in 1..40u64 {
            let leaves: Vec<B256> = (0..n)
                .map(|i| manifest_leaf(i, keccak256(i.to_be_bytes()), "u"))
                .collect();
            let tree = MerkleTree::new(leaves.clone());
            for (i, leaf) in leaves.iter().enumerate() {
                let proof = tree.proof(i).expect("in range");
                assert!(verify(&proof, tree.root(), *leaf), "n={n} i={i}");
                assert!(!verify(&proof, tree.root(), keccak256(b"other")));
            }
            assert!(tree.proof(n as usize).is_none());
        }
    }
}
