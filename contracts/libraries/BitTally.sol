// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @title BitTally
/// @notice Per-item plurality over the packed labels of one task (32 items x 4 bits in 128 bits, `LabelPacking`'s
///         layout), computed for all items at once: vote counts, comparisons and agreement are nibble-wise
///         arithmetic on whole words, so settling a task costs the same for 1 or 32 items. Results are "flags":
///         bit 4i + 3 set for item i. Equal, item by item, to `LabelPacking.consensus` (differential fuzz test).
library BitTally {
    /// @notice A 1 in every nibble of a task: `c * ONES` repeats class c 32 times.
    uint256 internal constant ONES = 0x11111111111111111111111111111111;
    /// @notice The flag bit (bit 3) of every nibble of a task.
    uint256 internal constant FLAGS = 0x88888888888888888888888888888888;
    uint256 private constant LOW3 = 0x77777777777777777777777777777777;
    uint256 private constant LOW_NIBBLES = 0x0F0F0F0F0F0F0F0F0F0F0F0F0F0F0F0F;
    uint256 private constant BYTE_HIGH = 0x80808080808080808080808080808080;

    /// @notice The outcome of one task's vote.
    /// @param result Packed labels: the winning class of each decided item.
    /// @param decided Flags of the items with consensus.
    /// @param winVotes Packed per-item vote count of the winning class (zero where undecided).
    /// @param voters Revealed lanes that voted.
    struct Outcome {
        uint256 result;
        uint256 decided;
        uint256 winVotes;
        uint256 voters;
    }

    /// @notice Flags of the nibbles of `x` that are zero.
    /// @dev (n & 7) + 7 carries into bit 3 unless n & 7 == 0, and n's own bit 3 covers n >= 8; no nibble carries
    ///      into the next (7 + 7 < 16).
    function zeroFlags(uint256 x) internal pure returns (uint256) {
        return ~(((x & LOW3) + LOW3) | x) & FLAGS;
    }

    /// @notice Flags of the items where `a` and `b` hold the same label.
    function eqFlags(uint256 a, uint256 b) internal pure returns (uint256) {
        return zeroFlags(a ^ b);
    }

    /// @notice Flags of the items where nibble of `a` >= nibble of `b`.
    /// @dev Even and odd nibbles spread into bytes; (0x80 + a) - b keeps bit 7 exactly when a >= b, and never
    ///      borrows from the next byte (0x80 + a >= b for nibbles).
    function geFlags(uint256 a, uint256 b) internal pure returns (uint256) {
        uint256 even = (((a & LOW_NIBBLES) | BYTE_HIGH) - (b & LOW_NIBBLES)) & BYTE_HIGH;
        uint256 odd = ((((a >> 4) & LOW_NIBBLES) | BYTE_HIGH) - ((b >> 4) & LOW_NIBBLES)) & BYTE_HIGH;
        return (even >> 4) | odd;
    }

    /// @notice Every flagged nibble widened to 0xF (a mask over the flagged items' labels).
    function widen(uint256 flags) internal pure returns (uint256) {
        return (flags >> 3) * 0xF;
    }

    /// @notice Flags of the first `items` items.
    function itemFlags(uint256 items) internal pure returns (uint256) {
        return FLAGS & ((1 << (4 * items)) - 1);
    }

    /// @notice Flags of the items set in a plain bit mask (bit i = item i).
    function fromBits(uint256 bits) internal pure returns (uint256 flags) {
        for (uint256 i; bits >> i != 0; ++i) {
            if ((bits >> i) & 1 != 0) flags |= 8 << (4 * i);
        }
    }

    /// @notice Per-item consensus of the lanes set in `revealed`: at least two voters, the winning class strictly
    ///         ahead of every other, and its share of the voters at least `thresholdBps`.
    /// @param labels Packed labels per lane (128 bits each, labels < numClasses).
    /// @param revealed Bit j set when lane j voted.
    /// @param numClasses Classes C (<= 16).
    /// @param thresholdBps Share of the voters the winner needs, in basis points (1..=10,000).
    /// @param items Flags of the items that exist in the task.
    function consensus(
        uint256[] memory labels,
        uint256 revealed,
        uint256 numClasses,
        uint256 thresholdBps,
        uint256 items
    ) internal pure returns (Outcome memory o) {
        uint256 lanes = labels.length;
        uint256 voters = 0;
        for (uint256 lane; lane < lanes; ++lane) {
            if ((revealed >> lane) & 1 != 0) ++voters;
        }
        o.voters = voters;
        if (voters < 2) return o;
        // Every voter votes on every item, so the threshold is one count for the whole task.
        // slither-disable-next-line divide-before-multiply (a rounded-up count, then copied into every nibble)
        uint256 needCount = (thresholdBps * voters + 9_999) / 10_000;
        uint256 need = ONES * needCount;
        if (2 * needCount > voters) return _majority(o, labels, revealed, need, items, voters - needCount + 1);
        uint256[] memory votes = new uint256[](numClasses);
        for (uint256 lane; lane < lanes; ++lane) {
            if ((revealed >> lane) & 1 == 0) continue;
            uint256 l = labels[lane];
            for (uint256 c; c < numClasses; ++c) {
                votes[c] += eqFlags(l, c * ONES) >> 3;
            }
        }
        for (uint256 c; c < numClasses; ++c) {
            uint256 v = votes[c];
            uint256 win = geFlags(v, need) & items;
            for (uint256 other; other < numClasses && win != 0; ++other) {
                if (other != c) win &= ~geFlags(votes[other], v); // strictly ahead of `other`
            }
            if (win == 0) continue;
            uint256 wide = widen(win);
            o.result |= (c * ONES) & wide;
            o.winVotes |= v & wide;
            o.decided |= win;
        }
    }

    /// @dev `consensus` when the threshold is a strict majority of the voters (2 need > voters): a class with `need`
    ///      votes is then strictly ahead of every other, so no class-by-class count is needed. Each voter's label
    ///      gets its count by comparing it with the other voters' (pairs, not classes); a label with `need` votes
    ///      is held by one of the first `candidates` = voters - need + 1 voters, so only those are tried.
    function _majority(
        Outcome memory o,
        uint256[] memory labels,
        uint256 revealed,
        uint256 need,
        uint256 items,
        uint256 candidates
    ) private pure returns (Outcome memory) {
        uint256 lanes = labels.length;
        uint256 decided = 0;
        for (uint256 j; j < lanes && candidates != 0; ++j) {
            if ((revealed >> j) & 1 == 0) continue;
            --candidates;
            uint256 l = labels[j];
            uint256 count = ONES;
            for (uint256 i; i < lanes; ++i) {
                if (i != j && (revealed >> i) & 1 != 0) count += eqFlags(l, labels[i]) >> 3;
            }
            uint256 win = geFlags(count, need) & items & ~decided;
            if (win == 0) continue;
            uint256 wide = widen(win);
            o.result |= l & wide;
            o.winVotes |= count & wide;
            decided |= win;
            if (decided == items) break;
        }
        o.decided = decided;
        return o;
    }
}
