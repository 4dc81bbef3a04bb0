// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Base} from "./utils/Base.sol";
import {BundlePacking} from "../libraries/BundlePacking.sol";

/// @notice BundlePacking against a reference packer, and against the Rust client on a shared vector.
contract BundlePackingTest is Base {
    /// @dev Calldata entry points (the library reads calldata, as the market will).
    function taskLabels(uint256[] calldata words, uint256 index) external pure returns (uint256) {
        return BundlePacking.taskLabels(words, index);
    }

    function digest(uint256[] calldata words) external pure returns (bytes32) {
        return BundlePacking.digest(words);
    }

    function pack(uint128[] memory tasks) internal pure returns (uint256[] memory words) {
        words = new uint256[](BundlePacking.wordsFor(tasks.length));
        for (uint256 i; i < tasks.length; ++i) {
            words[i / 2] |= uint256(tasks[i]) << (128 * (i % 2));
        }
    }

    function testFuzz_taskLabels_returnsEveryTaskAsPacked(uint128[16] memory all, uint256 n) public view {
        n = bound(n, 1, 16);
        uint128[] memory tasks = new uint128[](n);
        for (uint256 i; i < n; ++i) {
            tasks[i] = all[i];
        }
        uint256[] memory words = pack(tasks);
        assertEq(words.length, (n + 1) / 2, "two tasks per word");
        for (uint256 i; i < n; ++i) {
            assertEq(this.taskLabels(words, i), tasks[i], "task i comes back unchanged");
        }
    }

    function test_taskLabels_revertsPastTheBundle() public {
        uint256[] memory words = new uint256[](2);
        this.taskLabels(words, 3);
        vm.expectRevert(abi.encodeWithSelector(BundlePacking.TaskOutOfBundle.selector, 4, 2));
        this.taskLabels(words, 4);
    }

    function test_wordsFor_roundsUp() public pure {
        assertEq(BundlePacking.wordsFor(1), 1, "1 task");
        assertEq(BundlePacking.wordsFor(2), 1, "2 tasks");
        assertEq(BundlePacking.wordsFor(3), 2, "3 tasks");
        assertEq(BundlePacking.wordsFor(8), 4, "8 tasks");
    }

    /// @dev The vector of `concord_protocol::bundle::tests::matches_the_contract_on_a_shared_vector`: three tasks,
    ///      task i labels item j as (i + j) mod 4 for 32 items.
    function test_digest_matchesTheRustClient() public view {
        uint128[] memory tasks = new uint128[](3);
        for (uint256 i; i < 3; ++i) {
            uint256 packed;
            for (uint256 j; j < 32; ++j) {
                packed |= ((i + j) % 4) << (4 * j);
            }
            tasks[i] = uint128(packed);
        }
        assertEq(this.digest(pack(tasks)), RUST_DIGEST, "same digest as the Rust client");
    }

    bytes32 internal constant RUST_DIGEST = 0x6651e4dc57aebaf046083593c289f8c0858c8295baa2fc4366936e1d96254261;
}
