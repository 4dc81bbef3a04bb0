// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @title Permutation
/// @notice A keyed pseudo-random permutation of [0, n): the map from a lane's positions to its tasks in protocol
///         v2 (see docs/protocol-v2.md). A balanced Feistel network on the smallest even number of bits that
///         covers n, with cycle walking for the values it maps outside [0, n). A Feistel network is a
///         bijection whatever its round function, so every key gives a permutation; the key (a seed from a
///         later block) decides which one. Computed, never stored. The Rust client mirrors it
///         (`concord_protocol::permutation`) and both are tested against the same vectors.
library Permutation {
    /// @notice Thrown when the value is not in the domain [0, n).
    error OutOfDomain(uint256 x, uint256 n);

    /// @notice Feistel rounds: four make a pseudo-random permutation from a pseudo-random round function.
    uint256 internal constant ROUNDS = 4;

    /// @notice The image of `x` under the permutation of [0, `n`) that `key` selects.
    /// @dev Cycle walking applies the Feistel permutation of [0, 4^h) until the value lands in [0, n). Since
    ///      4^h < 4n, fewer than 4 steps are expected; the walk ends because x's cycle returns to x < n.
    function permute(uint256 x, uint256 n, bytes32 key) internal pure returns (uint256 y) {
        if (x >= n) revert OutOfDomain(x, n);
        uint256 half = halfBits(n);
        y = x;
        do {
            y = feistel(y, half, key);
        } while (y >= n);
    }

    /// @notice The preimage of `y` under the permutation of [0, `n`) that `key` selects: `permute(invert(y)) == y`.
    /// @dev Cycle walking backwards with the inverse Feistel pass; ends for the same reason `permute` does.
    function invert(uint256 y, uint256 n, bytes32 key) internal pure returns (uint256 x) {
        if (y >= n) revert OutOfDomain(y, n);
        uint256 half = halfBits(n);
        x = y;
        do {
            x = feistelInverse(x, half, key);
        } while (x >= n);
    }

    /// @notice `permute` with `half == halfBits(n)` already known (a caller mapping many values of one domain).
    function permuteWith(uint256 x, uint256 n, uint256 half, bytes32 key) internal pure returns (uint256 y) {
        if (x >= n) revert OutOfDomain(x, n);
        y = x;
        do {
            y = feistel(y, half, key);
        } while (y >= n);
    }

    /// @notice `invert` with `half == halfBits(n)` already known.
    function invertWith(uint256 y, uint256 n, uint256 half, bytes32 key) internal pure returns (uint256 x) {
        if (y >= n) revert OutOfDomain(y, n);
        x = y;
        do {
            x = feistelInverse(x, half, key);
        } while (x >= n);
    }

    /// @notice Half the width of the Feistel domain for [0, `n`): the smallest h >= 1 with 4^h >= n.
    function halfBits(uint256 n) internal pure returns (uint256 h) {
        h = 1;
        while ((1 << (2 * h)) < n) ++h;
    }

    /// @notice One pass of the Feistel network on a value of 2 * `half` bits.
    /// @dev Round i: (left, right) -> (right, left ^ (keccak256(abi.encode(key, i, right)) & mask)), hashed in the
    ///      free memory without allocating (the key written once per pass).
    function feistel(uint256 x, uint256 half, bytes32 key) internal pure returns (uint256 y) {
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            mstore(ptr, key)
            // slither-disable-next-line incorrect-shift (shl(half, 1) is 2^half: the mask of a half, as intended)
            let mask := sub(shl(half, 1), 1)
            let left := shr(half, x)
            let right := and(x, mask)
            let a := add(ptr, 0x20)
            let b := add(ptr, 0x40)
            mstore(a, 0)
            mstore(b, right)
            left := xor(left, and(keccak256(ptr, 0x60), mask))
            mstore(a, 1)
            mstore(b, left)
            right := xor(right, and(keccak256(ptr, 0x60), mask))
            mstore(a, 2)
            mstore(b, right)
            left := xor(left, and(keccak256(ptr, 0x60), mask))
            mstore(a, 3)
            mstore(b, left)
            right := xor(right, and(keccak256(ptr, 0x60), mask))
            // Updated in place, `left` and `right` take turns: after the four rounds they hold the reference
            // loop's (left, right) = (R3, R4).
            y := or(shl(half, left), right)
        }
    }

    /// @notice The inverse of `feistel`: the rounds undone in reverse order.
    function feistelInverse(uint256 y, uint256 half, bytes32 key) internal pure returns (uint256 x) {
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            mstore(ptr, key)
            // slither-disable-next-line incorrect-shift (shl(half, 1) is 2^half: the mask of a half, as intended)
            let mask := sub(shl(half, 1), 1)
            let left := shr(half, y)
            let right := and(y, mask)
            let a := add(ptr, 0x20)
            let b := add(ptr, 0x40)
            mstore(a, 3)
            mstore(b, left)
            right := xor(right, and(keccak256(ptr, 0x60), mask))
            mstore(a, 2)
            mstore(b, right)
            left := xor(left, and(keccak256(ptr, 0x60), mask))
            mstore(a, 1)
            mstore(b, left)
            right := xor(right, and(keccak256(ptr, 0x60), mask))
            mstore(a, 0)
            mstore(b, right)
            left := xor(left, and(keccak256(ptr, 0x60), mask))
            x := or(shl(half, left), right)
        }
    }
}
