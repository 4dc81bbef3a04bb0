// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @notice The tests' only Merkle tree builder: sorted-pair trees matching OpenZeppelin's MerkleProof (odd node
///         promoted), for the manifest and gold roots and proofs. A library rather than fixture functions so the
///         invariant handler, which cannot inherit the fixture, builds the same trees as the unit tests.
library TestMerkle {
    /// @notice Root of the tree over `leaves` (in the given order).
    function root(bytes32[] memory leaves) internal pure returns (bytes32) {
        uint256 n = leaves.length;
        bytes32[] memory level = leaves;
        while (n > 1) {
            level = _parents(level, n);
            n = level.length;
        }
        return level[0];
    }

    /// @notice Proof of leaf `index` for `root(leaves)`, as MerkleProof.verify takes it.
    function proof(bytes32[] memory leaves, uint256 index) internal pure returns (bytes32[] memory out) {
        bytes32[] memory tmp = new bytes32[](32);
        uint256 depth;
        uint256 n = leaves.length;
        bytes32[] memory level = leaves;
        while (n > 1) {
            uint256 sibling = index ^ 1;
            // The promoted odd node has no sibling at this level: nothing to add to the proof.
            if (sibling < n) tmp[depth++] = level[sibling];
            level = _parents(level, n);
            n = level.length;
            index /= 2;
        }
        out = new bytes32[](depth);
        for (uint256 i; i < depth; ++i) {
            out[i] = tmp[i];
        }
    }

    /// @notice The node OpenZeppelin's MerkleProof computes over two children (sorted, so order-free).
    function hashPair(bytes32 a, bytes32 b) internal pure returns (bytes32) {
        return a < b ? keccak256(abi.encode(a, b)) : keccak256(abi.encode(b, a));
    }

    /// @dev The level above the first `n` nodes of `level`: pairs hashed, an odd last node promoted as is.
    function _parents(bytes32[] memory level, uint256 n) private pure returns (bytes32[] memory next) {
        uint256 m = (n + 1) / 2;
        next = new bytes32[](m);
        for (uint256 i; i < m; ++i) {
            next[i] = 2 * i + 1 < n ? hashPair(level[2 * i], level[2 * i + 1]) : level[2 * i];
        }
    }
}
