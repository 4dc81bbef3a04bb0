// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Hashes} from "@openzeppelin/contracts/utils/cryptography/Hashes.sol";
import {Leaves} from "../../libraries/Leaves.sol";

/// @notice The credit tree of an optimistic settlement as the market builds it (one leaf per bundle id, pairs in
///         order, an odd node promoted), for tests that propose, challenge and claim.
library CreditTree {
    function leavesOf(uint256 id, uint256[] memory credits) internal pure returns (bytes32[] memory leaves) {
        leaves = new bytes32[](credits.length / 2);
        for (uint256 i; i < leaves.length; ++i) {
            leaves[i] = Leaves.creditLeaf(id, i, credits[2 * i], credits[2 * i + 1]);
        }
    }

    /// @dev Proof of leaf `index` in the tree the market builds (pairs in order, an odd node promoted).
    function proofOf(bytes32[] memory leaves, uint256 index) internal pure returns (bytes32[] memory proof) {
        bytes32[] memory level = leaves;
        bytes32[] memory buf = new bytes32[](32);
        uint256 len;
        while (level.length > 1) {
            if (index ^ 1 < level.length) buf[len++] = level[index ^ 1];
            bytes32[] memory next = new bytes32[]((level.length + 1) / 2);
            for (uint256 i; i < level.length / 2; ++i) {
                next[i] = Hashes.commutativeKeccak256(level[2 * i], level[2 * i + 1]);
            }
            if (level.length % 2 == 1) next[next.length - 1] = level[level.length - 1];
            level = next;
            index /= 2;
        }
        proof = new bytes32[](len);
        for (uint256 i; i < len; ++i) {
            proof[i] = buf[i];
        }
    }

    function rootOf(bytes32[] memory leaves) internal pure returns (bytes32) {
        bytes32[] memory level = leaves;
        while (level.length > 1) {
            bytes32[] memory next = new bytes32[]((level.length + 1) / 2);
            for (uint256 i; i < level.length / 2; ++i) {
                next[i] = Hashes.commutativeKeccak256(level[2 * i], level[2 * i + 1]);
            }
            if (level.length % 2 == 1) next[next.length - 1] = level[level.length - 1];
            level = next;
        }
        return level.length == 0 ? bytes32(0) : level[0];
    }
}
