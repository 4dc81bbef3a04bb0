// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Base} from "./utils/Base.sol";
import {LabelPacking} from "../libraries/LabelPacking.sol";
import {Leaves} from "../libraries/Leaves.sol";

/// @notice LabelPacking and Leaves against straightforward reference implementations.
contract LabelPackingTest is Base {
    using LabelPacking for uint256;
    using LabelPacking for uint64;

    // ------------------------------------------------------------------------------------------------
    // References
    // ------------------------------------------------------------------------------------------------

    function refGet(uint256 labels, uint256 i) internal pure returns (uint256) {
        return (labels / (16 ** i)) % 16;
    }

    /// @dev The first offending field in ascending order: a label >= numClasses inside the task, or any
    ///      non-zero field beyond it.
    function refValidate(uint256 labels, uint256 count, uint256 numClasses)
        internal
        pure
        returns (bool, uint256, uint256)
    {
        for (uint256 i; i < 64; ++i) {
            uint256 l = refGet(labels, i);
            if (i < count ? l >= numClasses : l != 0) return (false, i, l);
        }
        return (true, 0, 0);
    }

    /// @dev Counts per class, the plurality (lowest class among the maxima), runner-up, total.
    function refPlurality(uint256[16] memory counts, uint256 numClasses)
        internal
        pure
        returns (uint256 best, uint256 top, uint256 runnerUp, uint256 total)
    {
        for (uint256 c; c < numClasses; ++c) {
            total += counts[c];
            if (counts[c] > top) top = counts[c];
        }
        for (uint256 c; c < numClasses; ++c) {
            if (counts[c] == top) {
                best = c;
                break;
            }
        }
        for (uint256 c; c < numClasses; ++c) {
            if (c != best && counts[c] > runnerUp) runnerUp = counts[c];
        }
    }

    /// @dev Random votes: `n` labels below `numClasses`, as a tally and as counts.
    function randomTally(uint256 seed, uint256 n, uint256 numClasses)
        internal
        pure
        returns (uint64 tally, uint256[16] memory counts)
    {
        // Skew towards a few classes so pluralities and ties both happen.
        uint256 skew = 1 + seed % numClasses;
        for (uint256 k; k < n; ++k) {
            uint256 label = uint256(keccak256(abi.encode(seed, k))) % skew;
            tally = tally.addVote(label);
            counts[label] += 1;
        }
    }

    // ------------------------------------------------------------------------------------------------
    // get / set
    // ------------------------------------------------------------------------------------------------

    function testFuzz_setGet_roundTrip(uint256 labels, uint256 i, uint256 label) public pure {
        i = bound(i, 0, 63);
        label = bound(label, 0, 15);
        uint256 out = labels.set(i, label);
        assertEq(out.get(i), label, "round trip");
        assertEq(refGet(out, i), label, "reference get");
        for (uint256 j; j < 64; ++j) {
            if (j != i) assertEq(out.get(j), labels.get(j), "other fields untouched");
        }
    }

    function testFuzz_get_matchesReference(uint256 labels, uint256 i) public pure {
        i = bound(i, 0, 63);
        assertEq(labels.get(i), refGet(labels, i), "get");
    }

    function testFuzz_set_keepsOnlyLowFourBitsOfLabel(uint256 labels, uint256 i, uint256 label) public pure {
        i = bound(i, 0, 63);
        uint256 out = labels.set(i, label);
        assertEq(out.get(i), label & 0xF, "masked");
        assertEq(out & ~(uint256(0xF) << (4 * i)), labels & ~(uint256(0xF) << (4 * i)), "rest identical");
    }

    function testFuzz_set_isIdempotentAndLastWriteWins(uint256 labels, uint256 i, uint256 a, uint256 b) public pure {
        i = bound(i, 0, 63);
        a = bound(a, 0, 15);
        b = bound(b, 0, 15);
        assertEq(labels.set(i, a).set(i, b), labels.set(i, b), "last write wins");
        assertEq(labels.set(i, labels.get(i)), labels, "writing the same value is a no-op");
    }

    // ------------------------------------------------------------------------------------------------
    // validate
    // ------------------------------------------------------------------------------------------------

    function testFuzz_validate_matchesReference(uint256 labels, uint256 count, uint256 numClasses) public pure {
        count = bound(count, 0, 64);
        numClasses = bound(numClasses, 1, 16);
        (bool ok, uint256 pos, uint256 label) = labels.validate(count, numClasses);
        (bool rok, uint256 rpos, uint256 rlabel) = refValidate(labels, count, numClasses);
        assertEq(ok, rok, "ok");
        assertEq(pos, rpos, "position");
        assertEq(label, rlabel, "label");
    }

    function testFuzz_validate_acceptsWellFormedLabels(uint256 seed, uint256 count, uint256 numClasses) public pure {
        count = bound(count, 0, 32);
        numClasses = bound(numClasses, 2, 16);
        uint256 labels;
        for (uint256 i; i < count; ++i) {
            labels = labels.set(i, uint256(keccak256(abi.encode(seed, i))) % numClasses);
        }
        (bool ok, uint256 pos, uint256 label) = labels.validate(count, numClasses);
        assertTrue(ok, "valid labels pass");
        assertEq(pos, 0, "no position");
        assertEq(label, 0, "no label");
    }

    function testFuzz_validate_rejectsOneBadField(uint256 seed, uint256 count, uint256 numClasses, uint256 where)
        public
        pure
    {
        count = bound(count, 1, 32);
        numClasses = bound(numClasses, 2, 15);
        uint256 labels;
        for (uint256 i; i < count; ++i) {
            labels = labels.set(i, uint256(keccak256(abi.encode(seed, i))) % numClasses);
        }
        where = bound(where, 0, 63);
        // Inside the task: a class >= numClasses; beyond it: any non-zero value.
        uint256 bad = where < count ? bound(seed, numClasses, 15) : bound(seed, 1, 15);
        labels = labels.set(where, bad);
        (bool ok, uint256 pos, uint256 label) = labels.validate(count, numClasses);
        assertFalse(ok, "rejected");
        assertEq(pos, where, "position of the bad field");
        assertEq(label, bad, "its value");
    }

    function test_validate_fullWidth64Items() public pure {
        uint256 labels = type(uint256).max; // every field 15
        (bool ok,,) = labels.validate(64, 16);
        assertTrue(ok, "64 fields of class 15 with 16 classes");
        (bool ok2, uint256 pos, uint256 l) = labels.validate(64, 15);
        assertFalse(ok2, "15 is not a class of 15");
        assertEq(pos, 0, "first");
        assertEq(l, 15, "label");
    }

    // ------------------------------------------------------------------------------------------------
    // addVote / votes / plurality / consensus
    // ------------------------------------------------------------------------------------------------

    function testFuzz_addVote_conservesVotes(uint256 seed, uint256 n, uint256 numClasses) public pure {
        n = bound(n, 0, 15);
        numClasses = bound(numClasses, 2, 16);
        (uint64 tally, uint256[16] memory counts) = randomTally(seed, n, numClasses);
        uint256 sum;
        for (uint256 c; c < 16; ++c) {
            assertEq(tally.votes(c), counts[c], "per-class count");
            sum += tally.votes(c);
        }
        assertEq(sum, n, "sum of votes == votes added");
    }

    function testFuzz_addVote_fifteenVotesOneClassNoCarry(uint256 label) public pure {
        label = bound(label, 0, 15);
        uint64 tally;
        for (uint256 k; k < 15; ++k) {
            tally = tally.addVote(label);
        }
        assertEq(tally.votes(label), 15, "15 fits");
        for (uint256 c; c < 16; ++c) {
            if (c != label) assertEq(tally.votes(c), 0, "no carry into neighbours");
        }
    }

    function testFuzz_plurality_matchesReference(uint256 seed, uint256 n, uint256 numClasses) public pure {
        n = bound(n, 0, 15);
        numClasses = bound(numClasses, 2, 16);
        (uint64 tally, uint256[16] memory counts) = randomTally(seed, n, numClasses);
        (uint256 best, uint256 top, uint256 runnerUp, uint256 total) = tally.plurality(numClasses);
        (uint256 rb, uint256 rt, uint256 rr, uint256 rtot) = refPlurality(counts, numClasses);
        assertEq(total, rtot, "total");
        assertEq(top, rt, "top");
        assertEq(runnerUp, rr, "runner-up");
        if (n != 0) assertEq(best, rb, "best (lowest of the maxima)");
        else assertEq(best, 0, "no votes: class 0");
    }

    function testFuzz_consensus_matchesReference(uint256 seed, uint256 n, uint256 numClasses, uint256 thresholdBps)
        public
        pure
    {
        n = bound(n, 0, 15);
        numClasses = bound(numClasses, 2, 16);
        thresholdBps = bound(thresholdBps, 1, 10_000);
        (uint64 tally, uint256[16] memory counts) = randomTally(seed, n, numClasses);
        (bool reached, uint256 label) = tally.consensus(numClasses, thresholdBps);
        (uint256 rb, uint256 rt, uint256 rr, uint256 rtot) = refPlurality(counts, numClasses);
        bool rReached = rtot >= 2 && rt > rr && rt * 10_000 >= thresholdBps * rtot;
        assertEq(reached, rReached, "reached");
        if (reached) {
            assertEq(label, rb, "label");
            assertEq(counts[label], rt, "winner has the most votes");
        }
    }

    function test_consensus_examples() public pure {
        uint64 twoOfThree = uint64(0).addVote(1).addVote(1).addVote(2);
        (bool r1, uint256 l1) = twoOfThree.consensus(3, 6600);
        assertTrue(r1, "2/3 >= 66 %");
        assertEq(l1, 1, "label 1");
        (bool r2,) = twoOfThree.consensus(3, 6700);
        assertFalse(r2, "2/3 < 67 %");
        (bool r3,) = uint64(0).addVote(2).consensus(3, 1);
        assertFalse(r3, "one vote is never a consensus");
        (bool r4,) = uint64(0).addVote(0).addVote(1).consensus(2, 1);
        assertFalse(r4, "tie");
        (bool r5,) = uint64(0).addVote(3).addVote(3).addVote(0).addVote(0).addVote(1).consensus(4, 1);
        assertFalse(r5, "2-2-1: tie at the top");
        (bool r6, uint256 l6) = uint64(0).addVote(15).addVote(15).consensus(16, 10_000);
        assertTrue(r6, "class 15 unanimous");
        assertEq(l6, 15, "label 15");
        (bool r7,) = uint64(0).addVote(15).addVote(15).consensus(15, 1);
        assertFalse(r7, "votes outside numClasses are not counted");
    }

    function testFuzz_popcount16_matchesReference(uint16 mask) public pure {
        uint256 n;
        for (uint256 i; i < 16; ++i) {
            if ((mask >> i) & 1 != 0) ++n;
        }
        assertEq(LabelPacking.popcount16(mask), n, "popcount");
    }

    // ------------------------------------------------------------------------------------------------
    // Leaves
    // ------------------------------------------------------------------------------------------------

    function testFuzz_leaves_doubleHashedAbiEncoding(uint256 item, uint256 label, bytes32 salt, bytes32 content)
        public
        pure
    {
        assertEq(
            Leaves.goldLeaf(item, label, salt),
            keccak256(bytes.concat(keccak256(abi.encode(item, label, salt)))),
            "gold leaf"
        );
        string memory uri = "ipfs://x";
        assertEq(
            Leaves.manifestLeaf(item, content, uri),
            keccak256(bytes.concat(keccak256(abi.encode(item, content, uri)))),
            "manifest leaf"
        );
        assertNotEq(Leaves.goldLeaf(item, label, salt), Leaves.goldLeaf(item, label ^ 1, salt), "label bound");
    }
}
