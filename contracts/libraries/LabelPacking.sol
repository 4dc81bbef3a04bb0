// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @title LabelPacking
/// @notice Packing of a task's labels and of per-item vote tallies, 4 bits per field.
/// @dev Labels: item i of a task sits at bits [4i, 4i+4) of a uint256 (up to 64 items, the market uses <= 32).
///      Tally: class c of one item sits at bits [4c, 4c+4) of a uint64 (up to 16 classes, counts up to 15,
///      so at most 15 replicas). Adding one vote is `tally + (1 << 4c)`: no carry as long as count < 16.
library LabelPacking {
    uint256 internal constant BITS = 4;
    uint256 internal constant MASK = 0xF;
    uint256 internal constant MAX_ITEMS = 64;
    uint256 internal constant MAX_CLASSES = 16;
    uint256 internal constant MAX_VOTES = 15;

    /// @notice Label of item `i` in `labels`.
    function get(uint256 labels, uint256 i) internal pure returns (uint256) {
        return (labels >> (i * BITS)) & MASK;
    }

    /// @notice `labels` with item `i` set to `label` (label must be < 16).
    function set(uint256 labels, uint256 i, uint256 label) internal pure returns (uint256) {
        uint256 shift = i * BITS;
        return (labels & ~(MASK << shift)) | ((label & MASK) << shift);
    }

    /// @notice Returns (true, 0, 0) when every one of the first `count` labels is < `numClasses` and no bit beyond
    ///         them is set; otherwise (false, position, label) of the first offending field.
    function validate(uint256 labels, uint256 count, uint256 numClasses)
        internal
        pure
        returns (bool ok, uint256 position, uint256 label)
    {
        for (uint256 i; i < count; ++i) {
            uint256 l = get(labels, i);
            if (l >= numClasses) return (false, i, l);
        }
        if (count < MAX_ITEMS && (labels >> (count * BITS)) != 0) {
            // Report the first non-zero field beyond the task.
            for (uint256 i = count; i < MAX_ITEMS; ++i) {
                uint256 l = get(labels, i);
                if (l != 0) return (false, i, l);
            }
        }
        return (true, 0, 0);
    }

    /// @notice Adds one vote for `label` to an item's packed tally.
    function addVote(uint64 tally, uint256 label) internal pure returns (uint64) {
        return tally + uint64(1 << (label * BITS));
    }

    /// @notice Number of votes for `label` in `tally`.
    function votes(uint64 tally, uint256 label) internal pure returns (uint256) {
        return (uint256(tally) >> (label * BITS)) & MASK;
    }

    /// @notice Plurality of a tally over `numClasses` classes.
    /// @return best The lowest class with the most votes.
    /// @return top Votes for `best`.
    /// @return runnerUp Most votes of any other class (equal to `top` on a tie).
    /// @return total Total votes.
    function plurality(uint64 tally, uint256 numClasses)
        internal
        pure
        returns (uint256 best, uint256 top, uint256 runnerUp, uint256 total)
    {
        for (uint256 c; c < numClasses; ++c) {
            uint256 v = votes(tally, c);
            total += v;
            if (v > top) {
                runnerUp = top;
                top = v;
                best = c;
            } else if (v > runnerUp) {
                runnerUp = v;
            }
        }
    }

    /// @notice Consensus rule: at least two votes, the plurality strictly beats the runner-up, and its share of
    ///         all votes reaches `thresholdBps`.
    function consensus(uint64 tally, uint256 numClasses, uint256 thresholdBps)
        internal
        pure
        returns (bool reached, uint256 label)
    {
        (uint256 best, uint256 top, uint256 runnerUp, uint256 total) = plurality(tally, numClasses);
        reached = total >= 2 && top > runnerUp && top * 10_000 >= thresholdBps * total;
        label = best;
    }

    /// @notice Number of set bits of a 16-bit slot mask.
    function popcount16(uint16 mask) internal pure returns (uint256 n) {
        uint256 m = mask;
        while (m != 0) {
            m &= m - 1;
            ++n;
        }
    }
}
