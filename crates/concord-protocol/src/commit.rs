//! The commit hash `LabelMarketV2.commit` stores and `reveal` checks: bound to the chain, the market, the batch,
//! the bundle and the annotator, so a commit cannot be replayed anywhere else.

use alloy_primitives::{keccak256, Address, B256, U256};
use alloy_sol_types::SolValue;

/// One bundle of protocol v2 (the tasks one join took) on one market, the scope its commitment is bound to:
/// `keccak256(abi.encode(chainid, market, batch, bundle, annotator, digest(words), salt))`, as
/// `LabelMarketV2._commitHash`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BundleKey {
    pub chain_id: u64,
    pub market: Address,
    pub batch: u64,
    pub bundle: u64,
    pub annotator: Address,
}

impl BundleKey {
    /// The commit hash of a bundle's label words (`crate::bundle::pack_bundle`) with `salt`.
    pub fn commit_hash(&self, words: &[U256], salt: B256) -> B256 {
        keccak256(
            (
                U256::from(self.chain_id),
                self.market,
                U256::from(self.batch),
                U256::from(self.bundle),
                self.annotator,
                crate::bundle::digest(words),
                salt,
            )
                .abi_encode_params(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope() -> BundleKey {
        BundleKey {
            chain_id: 31337,
            market: Address::repeat_byte(1),
            batch: 2,
            bundle: 3,
            annotator: Address::repeat_byte(4),
        }
    }

    #[test]
    fn every_field_of_the_scope_changes_the_hash() {
        let (words, salt) = (vec![U256::from(0x21)], B256::repeat_byte(9));
        let h = scope().commit_hash(&words, salt);
        assert_eq!(h, scope().commit_hash(&words, salt), "deterministic");
        let variants = [
            BundleKey {
                chain_id: 1,
                ..scope()
            },
            BundleKey {
                market: Address::repeat_byte(7),
                ..scope()
            },
            BundleKey {
                batch: 0,
                ..scope()
            },
            BundleKey {
                bundle: 0,
                ..scope()
            },
            BundleKey {
                annotator: Address::repeat_byte(7),
                ..scope()
            },
        ];
        for v in variants {
            assert_ne!(v.commit_hash(&words, salt), h, "{v:?}");
        }
        assert_ne!(scope().commit_hash(&[U256::from(0x12)], salt), h);
        assert_ne!(scope().commit_hash(&words, B256::ZERO), h);
    }
}
