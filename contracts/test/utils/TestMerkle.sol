// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @notice Sorted-pair Merkle trees matching OpenZeppelin's MerkleProof (odd node promoted), for contracts
///         that cannot inherit MarketFixture (the invariant handler).
library TestMerkle {
    function root(bytes32[] memory leaves) internal pure returns (bytes32) {
        uint256 n = leaves.length;
        bytes32[] memory level = leaves;
        while (n > 1) {
            uint256 m = (n + 1) / 2;
            bytes32[] memory next = new bytes32[](m);
            for (uint256 i; i < m; ++i) {
                next[i] = 2 * i + 1 < n ? hashPair(level[2 * i], level[2 * i + 1]) : level[2 * i];
            }
            level = next;
            n = m;
        }
        return level[0];
    }

    function proof(bytes32[] memory leaves, uint256 index) internal pure returns (bytes32[] memory out) {
        bytes32[] memory tmp = new bytes32[](32);
        uint256 depth;
        uint256 n = leaves.length;
        bytes32[] memory level = leaves;
        while (n > 1) {
            uint256 sibling = index ^ 1;
            if (sibling < n) tmp[depth++] = level[sibling];
            uint256 m = (n + 1) / 2;
            bytes32[] memory next = new bytes32[](m);
            for (uint256 i; i < m; ++i) {
                next[i] = 2 * i + 1 < n ? hashPair(level[2 * i], level[2 * i + 1]) : level[2 * i];
            }
            level = next;
            n = m;
            index /= 2;
        }
        out = new bytes32[](depth);
        for (uint256 i; i < depth; ++i) {
            out[i] = tmp[i];
        }
    }

    function hashPair(bytes32 a, bytes32 b) internal pure returns (bytes32) {
        return a < b ? keccak256(abi.encode(a, b)) : keccak256(abi.encode(b, a));
    }
}
