// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Base} from "./utils/Base.sol";
import {Permutation} from "../libraries/Permutation.sol";

/// @notice Permutation: a bijection of [0, n) for every n and key (exhaustive for small n), deterministic,
///         key-dependent, and equal to the Rust client's implementation on shared vectors.
contract PermutationTest is Base {
    /// @dev External so reverts can be caught.
    function permute(uint256 x, uint256 n, bytes32 key) external pure returns (uint256) {
        return Permutation.permute(x, n, key);
    }

    function test_permute_isABijectionForEverySizeUpTo64() public pure {
        for (uint256 k; k < 3; ++k) {
            bytes32 key = keccak256(abi.encode("lane", k));
            for (uint256 n = 1; n <= 64; ++n) {
                uint256 seen;
                for (uint256 x; x < n; ++x) {
                    uint256 y = Permutation.permute(x, n, key);
                    assertTrue(y < n, "image inside the domain");
                    assertTrue((seen >> y) & 1 == 0, "no two positions share a task");
                    seen |= 1 << y;
                }
                assertEq(seen, n == 256 ? type(uint256).max : (1 << n) - 1, "every task is hit");
            }
        }
    }

    function test_permute_isABijectionOnALargerDomain() public pure {
        uint256 n = 1000;
        bytes32 key = keccak256("large");
        uint256[4] memory seen;
        for (uint256 x; x < n; ++x) {
            uint256 y = Permutation.permute(x, n, key);
            assertTrue(y < n, "image inside the domain");
            assertTrue((seen[y / 256] >> (y % 256)) & 1 == 0, "no collision");
            seen[y / 256] |= 1 << (y % 256);
        }
    }

    function test_permute_dependsOnTheKey() public pure {
        uint256 n = 100;
        uint256 moved;
        for (uint256 x; x < n; ++x) {
            if (Permutation.permute(x, n, bytes32(uint256(1))) != Permutation.permute(x, n, bytes32(uint256(2)))) {
                ++moved;
            }
        }
        assertTrue(moved > 80, "another key is another permutation");
    }

    function test_permute_revertsOutsideTheDomain() public {
        vm.expectRevert(abi.encodeWithSelector(Permutation.OutOfDomain.selector, 5, 5));
        this.permute(5, 5, bytes32(0));
        vm.expectRevert(abi.encodeWithSelector(Permutation.OutOfDomain.selector, 0, 0));
        this.permute(0, 0, bytes32(0));
    }

    function test_halfBits_coversTheDomain() public pure {
        assertEq(Permutation.halfBits(1), 1, "n = 1");
        assertEq(Permutation.halfBits(4), 1, "n = 4");
        assertEq(Permutation.halfBits(5), 2, "n = 5");
        assertEq(Permutation.halfBits(16), 2, "n = 16");
        assertEq(Permutation.halfBits(17), 3, "n = 17");
        assertEq(Permutation.halfBits(1 << 32), 16, "n = 2^32");
    }

    /// @dev Vectors shared with `concord_protocol::permutation` (crates/concord-protocol/src/permutation.rs).
    function test_permute_matchesTheRustClient() public pure {
        bytes32 key = keccak256("concord-permutation-vector");
        uint256[8] memory expected = [VECTOR_0, VECTOR_1, VECTOR_2, VECTOR_3, VECTOR_4, VECTOR_5, VECTOR_6, VECTOR_7];
        uint256[8] memory xs = [uint256(0), 1, 2, 3, 4, 5, 6, 999];
        for (uint256 i; i < 8; ++i) {
            assertEq(Permutation.permute(xs[i], 1000, key), expected[i], "same image as the Rust client");
        }
    }

    function testFuzz_permute_staysInTheDomain(uint256 x, uint256 n, bytes32 key) public pure {
        n = bound(n, 1, type(uint32).max);
        x = bound(x, 0, n - 1);
        uint256 y = Permutation.permute(x, n, key);
        assertTrue(y < n, "image inside the domain");
        assertEq(y, Permutation.permute(x, n, key), "deterministic");
    }

    function testFuzz_permute_isInjective(uint256 x, uint256 y, uint256 n, bytes32 key) public pure {
        n = bound(n, 2, type(uint32).max);
        x = bound(x, 0, n - 1);
        y = bound(y, 0, n - 1);
        if (x == y) return;
        assertTrue(
            Permutation.permute(x, n, key) != Permutation.permute(y, n, key), "distinct positions, distinct tasks"
        );
    }

    uint256 internal constant VECTOR_0 = 672;
    uint256 internal constant VECTOR_1 = 882;
    uint256 internal constant VECTOR_2 = 196;
    uint256 internal constant VECTOR_3 = 349;
    uint256 internal constant VECTOR_4 = 72;
    uint256 internal constant VECTOR_5 = 546;
    uint256 internal constant VECTOR_6 = 402;
    uint256 internal constant VECTOR_7 = 784;
}
