// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {LabelPacking} from "../../libraries/LabelPacking.sol";
import {BitTally} from "../../libraries/BitTally.sol";
import {BundlePacking} from "../../libraries/BundlePacking.sol";
import {TextNormalize} from "../../libraries/TextNormalize.sol";

/// @notice Halmos symbolic checks (`check_*`, run by `make test-halmos`): properties proven for every input,
///         not sampled. forge ignores `check_` functions; halmos explores them symbolically.
contract PackingSymbolicTest {
    using LabelPacking for uint256;
    using LabelPacking for uint64;

    /// Setting a label then reading it back returns the label, and leaves every other field untouched.
    function check_setGet(uint256 labels, uint8 i, uint8 j, uint8 label) public pure {
        uint256 pos = i % 64;
        uint256 other = j % 64;
        uint256 l = label % 16;
        uint256 out = labels.set(pos, l);
        assert(out.get(pos) == l);
        if (other != pos) assert(out.get(other) == labels.get(other));
    }

    /// Adding votes never loses or invents a vote while counts stay below 16 (the replica cap is 15).
    function check_votesConserved(uint8 a, uint8 b, uint8 c, uint8 cls) public pure {
        uint256 la = a % 4;
        uint256 lb = b % 4;
        uint256 lc = c % 4;
        uint64 t;
        t = t.addVote(la);
        t = t.addVote(lb);
        t = t.addVote(lc);
        uint256 total;
        for (uint256 k; k < 4; ++k) {
            total += t.votes(k);
        }
        assert(total == 3);
        uint256 q = cls % 4;
        uint256 expected = (la == q ? 1 : 0) + (lb == q ? 1 : 0) + (lc == q ? 1 : 0);
        assert(t.votes(q) == expected);
    }

    /// A consensus label always holds a strict plurality, at least two votes and the threshold share.
    function check_consensusSound(uint8 a, uint8 b, uint8 c, uint16 thresholdBps) public pure {
        uint64 t;
        t = t.addVote(a % 3);
        t = t.addVote(b % 3);
        t = t.addVote(c % 3);
        uint256 thr = uint256(thresholdBps) % 10_001;
        (bool reached, uint256 label) = t.consensus(3, thr);
        if (reached) {
            uint256 v = t.votes(label);
            assert(v * 10_000 >= thr * 3);
            for (uint256 k; k < 3; ++k) {
                if (k != label) assert(t.votes(k) < v);
            }
        }
    }

    /// Payout arithmetic of one slot, for every task size the market allows (1..32, unrolled): rewards for
    /// agreeing labels never exceed the escrow of the slot's labels, and the slash for the wrong ones always
    /// fits the locked stake under the market's parameter rules (noReveal > k * wrong, stake >= noReveal).
    function check_payoutWithinEscrowAndStake(
        uint8 agreed,
        uint64 reward,
        uint64 wrongPenalty,
        uint64 noRevealPenalty,
        uint64 stakePerClaim
    ) public pure {
        for (uint256 k = 1; k <= 32; k *= 2) {
            uint256 a = uint256(agreed) % (k + 1);
            uint256 d = k - a;
            if (uint256(noRevealPenalty) <= uint256(wrongPenalty) * k || stakePerClaim < noRevealPenalty) continue;
            assert(a * uint256(reward) <= k * uint256(reward));
            assert(d * uint256(wrongPenalty) < stakePerClaim);
        }
    }

    // ------------------------------------------------------------------------------------------------
    // Protocol v2: word-parallel tally and bundle packing. The whole three-voter consensus does not finish
    // symbolically (nonlinear 256-bit terms); BitTallyTest checks it against the per-item reference by fuzzing.
    // ------------------------------------------------------------------------------------------------

    /// The nibble comparisons BitTally builds on are exact for every pair of tasks and every item.
    function check_flagsAreNibbleComparisons(uint128 a, uint128 b, uint8 item) public pure {
        uint256 i = item % 32;
        uint256 ge = BitTally.geFlags(a, b);
        uint256 eq = BitTally.eqFlags(a, b);
        bool geBit = (ge >> (4 * i + 3)) & 1 != 0;
        bool eqBit = (eq >> (4 * i + 3)) & 1 != 0;
        assert(geBit == (uint256(a).get(i) >= uint256(b).get(i)));
        assert(eqBit == (uint256(a).get(i) == uint256(b).get(i)));
        assert(ge & ~BitTally.FLAGS == 0 && eq & ~BitTally.FLAGS == 0);
    }

    /// Widening a flag set gives exactly the flagged items' nibbles (how winners are written into results).
    function check_widenMasksFlaggedNibbles(uint128 raw, uint8 item) public pure {
        uint256 flags = uint256(raw) & BitTally.FLAGS;
        uint256 i = item % 32;
        uint256 nibble = (BitTally.widen(flags) >> (4 * i)) & 0xF;
        assert(nibble == ((flags >> (4 * i + 3)) & 1 != 0 ? 0xF : 0));
    }

    function extract(uint256[] calldata words, uint256 index) external pure returns (uint256) {
        return BundlePacking.taskLabels(words, index);
    }

    /// Two tasks per word: task 2w is the low half of word w and task 2w + 1 the high half, nothing else leaks.
    function check_bundleHalves(uint128 x, uint128 y, uint128 z) public view {
        uint256[] memory words = new uint256[](2);
        words[0] = uint256(x) | (uint256(y) << 128);
        words[1] = uint256(z);
        assert(this.extract(words, 0) == x);
        assert(this.extract(words, 1) == y);
        assert(this.extract(words, 2) == z);
        assert(this.extract(words, 3) == 0);
    }

    /// The assembly normal form equals the rule written byte by byte, for every 4-byte text: lower case, runs of
    /// whitespace to one space, no leading or trailing space (`TextNormalize`, the generation market's duplicate key).
    function check_normalizeFourBytes(bytes4 x) public pure {
        bytes memory text = abi.encodePacked(x);
        bytes memory got = TextNormalize.normalize(text);
        bytes memory want = new bytes(4);
        uint256 n;
        bool pending;
        for (uint256 i; i < 4; ++i) {
            uint8 c = uint8(text[i]);
            if (c == 0x20 || (c >= 0x09 && c <= 0x0d)) {
                pending = n != 0;
                continue;
            }
            if (pending) {
                want[n++] = 0x20;
                pending = false;
            }
            if (c >= 0x41 && c <= 0x5a) c += 0x20;
            want[n++] = bytes1(c);
        }
        assert(got.length == n);
        for (uint256 i; i < n; ++i) {
            assert(got[i] == want[i]);
        }
    }
}
