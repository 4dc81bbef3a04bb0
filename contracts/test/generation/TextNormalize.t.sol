// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Base} from "../utils/Base.sol";
import {ConcordToken} from "../../ConcordToken.sol";
import {GenerationMarket} from "../../GenerationMarket.sol";
import {IReviewMarket} from "../../interfaces/IGenerationMarket.sol";
import {TextNormalize} from "../../libraries/TextNormalize.sol";

/// @notice `TextNormalize` (the normal form duplicates are refused on): the vectors shared with the Rust twin
///         (`concord_protocol::generation`), a differential fuzz against a plain byte loop, idempotence, and the
///         commit-hash vector the client computes.
contract TextNormalizeTest is Base {
    function norm(bytes memory text) external pure returns (bytes memory) {
        return TextNormalize.normalize(text);
    }

    /// @dev The rule written as plainly as possible: the reference the assembly is checked against.
    function plain(bytes memory text) internal pure returns (bytes memory) {
        bytes memory out = new bytes(text.length);
        uint256 n;
        bool pending;
        for (uint256 i; i < text.length; ++i) {
            uint8 c = uint8(text[i]);
            bool space = c == 0x20 || (c >= 0x09 && c <= 0x0d);
            if (space) {
                pending = n != 0;
                continue;
            }
            if (pending) {
                out[n++] = " ";
                pending = false;
            }
            if (c >= 0x41 && c <= 0x5a) c += 0x20;
            out[n++] = bytes1(c);
        }
        assembly ("memory-safe") {
            mstore(out, n)
        }
        return out;
    }

    function assertSame(bytes memory a, bytes memory b, string memory err) internal pure {
        assertEq(a.length, b.length, err);
        assertEq(keccak256(a), keccak256(b), err);
    }

    /// @dev Shared with `crates/concord-protocol/src/generation.rs` (`VECTORS`).
    function test_vectors() public pure {
        assertSame(TextNormalize.normalize("  Hello,\tWORLD \n"), "hello, world", "case, tab, trim");
        assertSame(TextNormalize.normalize("a\r\n\r\nb\x0b\x0cc"), "a b c", "runs of every whitespace byte");
        assertSame(TextNormalize.normalize(""), "", "empty");
        assertSame(TextNormalize.normalize(" \t\n\r "), "", "only whitespace");
        assertSame(TextNormalize.normalize(unicode"Ünïcode  Straße"), unicode"Ünïcode straße", "UTF-8 bytes kept");
        assertSame(TextNormalize.normalize("Q: 2+2?\nA: 4"), "q: 2+2? a: 4", "punctuation kept");
    }

    function testFuzz_equalsTheReference(bytes memory text) public view {
        assertSame(this.norm(text), plain(text), "assembly == reference");
    }

    /// @dev Bytes drawn mostly from letters and whitespace, where the rule does its work.
    function testFuzz_equalsTheReferenceOnWordsAndSpaces(uint256 seed, uint8 len) public view {
        bytes memory alphabet = "aZ \t\n\r\x0b\x0c.Q";
        bytes memory text = new bytes(len);
        for (uint256 i; i < len; ++i) {
            text[i] = alphabet[uint256(keccak256(abi.encode(seed, i))) % alphabet.length];
        }
        bytes memory once = this.norm(text);
        assertSame(once, plain(text), "assembly == reference");
        assertSame(this.norm(once), once, "idempotent");
    }

    function test_normalizeDoesNotCorruptMemoryAfterIt() public pure {
        bytes memory text = "  A  B  ";
        bytes memory out = TextNormalize.normalize(text);
        bytes memory next = new bytes(3);
        next[0] = "x";
        assertSame(out, "a b", "result intact after the next allocation");
        assertSame(text, "  A  B  ", "input untouched");
    }

    /// @dev Shared with `commit_hash_vector_and_scope` in the Rust crate: chain 31337, market 0x…01, batch 7,
    ///      author 0x…04, content "datapoint", salt 0x…09.
    function test_commitHashVector() public {
        GenerationMarket gen = new GenerationMarket(IReviewMarket(address(new StakeAndTreasury())));
        address at = address(0x0101010101010101010101010101010101010101);
        vm.etch(at, address(gen).code);
        vm.chainId(31337);
        bytes32 h = GenerationMarket(at)
            .commitHashOf(
                7,
                address(0x0404040404040404040404040404040404040404),
                keccak256("datapoint"),
                0x0909090909090909090909090909090909090909090909090909090909090909
            );
        assertEq(h, 0xfd621e0d0a0ed6c796a7df070425658e3ee2159b7d78f12173f24324fef65071, "same as the Rust client");
    }
}

/// @dev The two views the generation market's constructor reads from its market.
contract StakeAndTreasury {
    ConcordToken public immutable STAKE_TOKEN = new ConcordToken(address(0x7EA5));
    address public constant TREASURY = address(0x7EA5);
}
