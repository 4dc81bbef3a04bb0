//! Generated datapoints (`GenerationMarket`, docs/generation.md): the normal form the market refuses duplicates on
//! and the commit hash of a submission, equal to what the contract computes (`TextNormalize`,
//! `GenerationMarket.commitHashOf`; both sides are tested on the same vectors).

use alloy_primitives::{keccak256, Address, B256, U256};
use alloy_sol_types::SolValue;

/// A datapoint's normal form: ASCII letters lower-cased, every run of ASCII whitespace (space, tab, line feed,
/// vertical tab, form feed, carriage return) replaced by one space, leading and trailing whitespace removed; every
/// other byte (UTF-8 included) kept.
pub fn normalize(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut pending = false;
    for &c in text {
        if c == b' ' || (0x09..=0x0d).contains(&c) {
            pending = !out.is_empty();
        } else {
            if pending {
                out.push(b' ');
                pending = false;
            }
            out.push(c.to_ascii_lowercase());
        }
    }
    out
}

/// keccak256 of the normal form: the key of the market's duplicate check.
pub fn normalized_hash(text: &[u8]) -> B256 {
    keccak256(normalize(text))
}

/// Where a submission's commitment is bound: chain, market, generation batch and author (not the submission id,
/// which is known only once the commit lands).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SubmissionKey {
    pub chain_id: u64,
    pub market: Address,
    pub generation: u64,
    pub author: Address,
}

impl SubmissionKey {
    /// `keccak256(abi.encode(chainid, market, id, author, keccak256(content), salt))`, as
    /// `GenerationMarket._commitHash`.
    pub fn commit_hash(&self, content: &[u8], salt: B256) -> B256 {
        self.commit_hash_of(keccak256(content), salt)
    }

    /// [`Self::commit_hash`] from the content's hash (content published by URI).
    pub fn commit_hash_of(&self, content_hash: B256, salt: B256) -> B256 {
        keccak256(
            (
                U256::from(self.chain_id),
                self.market,
                U256::from(self.generation),
                self.author,
                content_hash,
                salt,
            )
                .abi_encode_params(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Shared with `contracts/test/generation/TextNormalize.t.sol` (`test_vectors`).
    const VECTORS: [(&[u8], &[u8]); 6] = [
        (b"  Hello,\tWORLD \n", b"hello, world"),
        (b"a\r\n\r\nb\x0b\x0cc", b"a b c"),
        (b"", b""),
        (b" \t\n\r ", b""),
        ("Ünïcode  Straße".as_bytes(), "Ünïcode straße".as_bytes()),
        (b"Q: 2+2?\nA: 4", b"q: 2+2? a: 4"),
    ];

    #[test]
    fn normal_forms_of_the_shared_vectors() {
        for (input, want) in VECTORS {
            assert_eq!(
                normalize(input),
                want,
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn normalizing_twice_changes_nothing_and_variants_collide() {
        for (input, _) in VECTORS {
            let once = normalize(input);
            assert_eq!(normalize(&once), once);
        }
        assert_eq!(
            normalized_hash(b"Name three primes."),
            normalized_hash(b"  name   THREE\tprimes.\n")
        );
        assert_ne!(
            normalized_hash(b"Name three primes."),
            normalized_hash(b"Name three odd primes.")
        );
    }

    /// The contract's `commitHashOf(7, 0x…04, keccak256("datapoint"), 0x…09)` on chain 31337 at market 0x…01
    /// (`test_commitHashVector` in the Solidity test).
    #[test]
    fn commit_hash_vector_and_scope() {
        let key = SubmissionKey {
            chain_id: 31337,
            market: Address::repeat_byte(1),
            generation: 7,
            author: Address::repeat_byte(4),
        };
        let salt = B256::repeat_byte(9);
        let h = key.commit_hash(b"datapoint", salt);
        assert_eq!(h, key.commit_hash_of(keccak256(b"datapoint"), salt));
        assert_eq!(
            h.to_string(),
            "0xfd621e0d0a0ed6c796a7df070425658e3ee2159b7d78f12173f24324fef65071",
        );
        for other in [
            SubmissionKey { chain_id: 1, ..key },
            SubmissionKey {
                generation: 8,
                ..key
            },
            SubmissionKey {
                author: Address::repeat_byte(5),
                ..key
            },
        ] {
            assert_ne!(other.commit_hash(b"datapoint", salt), h);
        }
        assert_ne!(key.commit_hash(b"datapoint!", salt), h);
    }
}
