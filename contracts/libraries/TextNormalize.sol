// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @title TextNormalize
/// @notice The normal form of a generated datapoint's text, on which the generation market refuses exact
///         duplicates: ASCII letters lower-cased, every run of ASCII whitespace (space, tab, line feed, vertical tab,
///         form feed, carriage return) replaced by one space, leading and trailing whitespace removed; every other
///         byte (UTF-8 included) kept as it is. The Rust client mirrors it (`concord_protocol::generation`) and both
///         are tested against the same vectors.
library TextNormalize {
    /// @notice `text` in normal form.
    /// @dev One pass over the bytes in assembly (≈ 40 gas per byte): a pending space is written only before the next
    ///      non-space byte, so runs collapse and trailing whitespace is dropped; leading whitespace leaves nothing
    ///      pending because nothing was written yet.
    function normalize(bytes memory text) internal pure returns (bytes memory out) {
        assembly ("memory-safe") {
            out := mload(0x40)
            let dst := add(out, 0x20)
            let src := add(text, 0x20)
            let end := add(src, mload(text))
            let pending := 0
            let started := 0
            for {} lt(src, end) { src := add(src, 1) } {
                let c := byte(0, mload(src))
                switch or(eq(c, 0x20), and(gt(c, 0x08), lt(c, 0x0e)))
                case 1 { pending := started }
                default {
                    if pending {
                        mstore8(dst, 0x20)
                        dst := add(dst, 1)
                        pending := 0
                    }
                    if and(gt(c, 0x40), lt(c, 0x5b)) { c := add(c, 0x20) }
                    mstore8(dst, c)
                    dst := add(dst, 1)
                    started := 1
                }
            }
            mstore(out, sub(dst, add(out, 0x20)))
            mstore(0x40, and(add(dst, 0x1f), not(0x1f)))
        }
    }

    /// @notice keccak256 of `text` in normal form: the key of the duplicate check.
    function normalizedHash(bytes memory text) internal pure returns (bytes32) {
        return keccak256(normalize(text));
    }
}
