// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @title Leaves
/// @notice Merkle leaf encodings shared by the contracts and the Rust client. Leaves are hashed twice (as in
///         OpenZeppelin's StandardMerkleTree) so a 64-byte internal node can never be passed off as a leaf;
///         proofs are verified with OpenZeppelin's MerkleProof (sorted-pair keccak256).
library Leaves {
    /// @notice Leaf of the item manifest: the item's index, the keccak256 of its canonical content, its URI.
    function manifestLeaf(uint256 index, bytes32 contentHash, string memory uri) internal pure returns (bytes32) {
        return keccak256(bytes.concat(keccak256(abi.encode(index, contentHash, uri))));
    }

    /// @notice Leaf of a gold answer. The per-item salt keeps answers unguessable until revealed.
    function goldLeaf(uint256 item, uint256 label, bytes32 salt) internal pure returns (bytes32) {
        return keccak256(bytes.concat(keccak256(abi.encode(item, label, salt))));
    }

    /// @notice Leaf of a bundle's credit in an optimistic settlement: the batch, the bundle id, and the two credit
    ///         words the proposal posted for it (see `ILabelMarketV2Optimistic.propose`).
    function creditLeaf(uint256 batchId, uint256 bundleId, uint256 credit, uint256 amounts)
        internal
        pure
        returns (bytes32)
    {
        return keccak256(bytes.concat(keccak256(abi.encode(batchId, bundleId, credit, amounts))));
    }
}
