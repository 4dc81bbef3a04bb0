// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Base} from "./utils/Base.sol";
import {BitTally} from "../libraries/BitTally.sol";
import {LabelPacking} from "../libraries/LabelPacking.sol";

/// @notice BitTally (all items at once) against LabelPacking's per-item tally and consensus: same winners, same
///         decided items, same winning counts, for random labels, voters, class counts, thresholds and task sizes.
contract BitTallyTest is Base {
    using LabelPacking for uint256;
    using LabelPacking for uint64;

    /// @dev Labels reduced into range: each nibble of `raw` taken modulo `numClasses`.
    function _labels(uint256 raw, uint256 numClasses, uint256 items) internal pure returns (uint256 labels) {
        for (uint256 i; i < items; ++i) {
            labels = labels.set(i, ((raw >> (8 * (i % 32))) & 0xFF) % numClasses);
        }
    }

    function testFuzz_consensus_equalsThePerItemReference(
        uint256 seed,
        uint8 lanesRaw,
        uint16 revealedRaw,
        uint8 classesRaw,
        uint16 thresholdRaw,
        uint8 itemsRaw
    ) public pure {
        uint256 lanes = bound(lanesRaw, 2, 15);
        uint256 numClasses = bound(classesRaw, 2, 16);
        uint256 threshold = bound(thresholdRaw, 1, 10_000);
        uint256 items = bound(itemsRaw, 1, 32);
        uint256 revealed = uint256(revealedRaw) & ((1 << lanes) - 1);
        uint256[] memory labels = new uint256[](lanes);
        for (uint256 j; j < lanes; ++j) {
            // Few distinct values so that ties, thresholds and unanimity all happen.
            uint256 raw = uint256(keccak256(abi.encode(seed, j)));
            if (seed % 3 == 0) raw &= 0x0101010101010101010101010101010101010101010101010101010101010101;
            labels[j] = _labels(raw, numClasses, items);
        }
        BitTally.Outcome memory o =
            BitTally.consensus(labels, revealed, numClasses, threshold, BitTally.itemFlags(items));
        for (uint256 i; i < items; ++i) {
            uint64 tally;
            for (uint256 j; j < lanes; ++j) {
                if ((revealed >> j) & 1 != 0) tally = tally.addVote(labels[j].get(i));
            }
            (bool reached, uint256 label) = tally.consensus(numClasses, threshold);
            bool decided = (o.decided >> (4 * i + 3)) & 1 != 0;
            assertEq(decided, reached, "decided item by item");
            if (reached) {
                assertEq(o.result.get(i), label, "same winner");
                assertEq(o.winVotes.get(i), tally.votes(label), "winner's count");
            } else {
                assertEq(o.result.get(i), 0, "undecided items stay empty");
            }
        }
        assertEq(o.decided & ~BitTally.itemFlags(items), 0, "nothing beyond the task");
    }

    function testFuzz_flags_matchNibbleComparisons(uint256 a, uint256 b) public pure {
        a &= type(uint128).max;
        b &= type(uint128).max;
        uint256 ge = BitTally.geFlags(a, b);
        uint256 eq = BitTally.eqFlags(a, b);
        for (uint256 i; i < 32; ++i) {
            assertEq((ge >> (4 * i + 3)) & 1 != 0, a.get(i) >= b.get(i), "ge");
            assertEq((eq >> (4 * i + 3)) & 1 != 0, a.get(i) == b.get(i), "eq");
        }
    }

    function test_fromBits_andWiden() public pure {
        assertEq(BitTally.fromBits(0x5), 0x808, "items 0 and 2");
        assertEq(BitTally.widen(0x808), 0xF0F, "their nibbles");
        assertEq(BitTally.itemFlags(3), 0x888, "three items");
        assertEq(BitTally.itemFlags(32), BitTally.FLAGS, "a full task");
    }
}
