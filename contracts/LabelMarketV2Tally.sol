// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

import {LabelMarketV2Storage} from "./LabelMarketV2Storage.sol";
import {LabelPacking} from "./libraries/LabelPacking.sol";
import {BundlePacking} from "./libraries/BundlePacking.sol";
import {Permutation} from "./libraries/Permutation.sol";
import {BitTally} from "./libraries/BitTally.sol";

/// @title LabelMarketV2Tally
/// @notice What the market's modules share to score a batch: positions mapped to tasks, re-supplied bundles checked
///         against their stored words, votes, consensus and per-bundle tallies, and crediting an annotator. Each
///         module (`LabelMarketV2Settlement`, `LabelMarketV2Optimistic`) runs only through the market's
///         `delegatecall`, in the market's storage and behind its re-entrancy guard.
abstract contract LabelMarketV2Tally is LabelMarketV2Storage {
    using LabelPacking for uint256;
    using LabelPacking for uint64;

    /// @notice Thrown when a module is called directly instead of through the market.
    error OnlyDelegated();

    address private immutable SELF;

    /// @param stakeToken The market's stake token.
    /// @param treasury The market's treasury.
    constructor(IERC20 stakeToken, address treasury) LabelMarketV2Storage(stakeToken, treasury) {
        SELF = address(this);
    }

    modifier onlyDelegated() {
        if (address(this) == SELF) revert OnlyDelegated();
        _;
    }

    /// @dev What settlement and review read from the batch, loaded once per call.
    struct Ctx {
        uint256 batchId;
        uint256 replicas;
        uint256 numClasses;
        uint256 threshold;
        uint256 taskSize;
        uint256 numItems;
        uint256 numTasks;
        uint256 lastRound;
        uint256 revealDeadline;
        bool early;
        bool goldOn;
    }

    /// @dev The position maps of one call: per (round, lane), loaded once, three words at `data[3 i]`,
    ///      i = (round - 1) * replicas + lane: info (0 until loaded; then LOADED | SEEDED if the round has a seed |
    ///      zeros of the first ticket word << 48 | Feistel half width << 32 | pool), the lane's permutation key, and
    ///      the first word of the lane's committed-ticket bitmap.
    struct Lanes {
        uint256[] data;
    }

    uint256 internal constant LOADED = 1 << 255;
    /// @dev Flag of a cover entry whose bundle was supplied revealed (bundle index + 1) << 8 | flag | position.
    uint256 internal constant REVEALED_ENTRY = 0x80;
    uint256 internal constant SEEDED = 1 << 40;

    /// @dev One bundle's totals within a settlement call, three words per bundle: packed counts (32 bits each:
    ///      tasks, agreed, disagreed, goldAgreed, goldDisagreed, unrevealed), stake slashed, coherence shares.
    uint256 internal constant T_TASKS = 1;
    uint256 internal constant T_AGREED = 1 << 32;
    uint256 internal constant T_DISAGREED = 1 << 64;
    uint256 internal constant T_GOLD_AGREED = 1 << 96;
    uint256 internal constant T_GOLD_DISAGREED = 1 << 128;
    uint256 internal constant T_UNREVEALED = 1 << 160;

    /// @dev One settlement call's working set.
    struct Run {
        uint256[] tasks;
        Lanes lanes;
        uint256[] cover;
        uint256[] labels;
        uint256[] tallies;
        uint256[] scratch; // per task: coherence groups [0, 16) and shares [16, 32)
        uint256 toTreasury;
        uint256 undecided;
        bool counted;
        bool hasGold;
        uint256 opensAt;
        uint256 penalty;
        uint256 noReveal;
        uint256 settledWord; // index of the `_settled` word in `settledBits` (max: none yet)
        uint256 settledBits;
        uint256[] outcomes; // the `TasksSettled` words, two per task
        bool keep; // store each outcome (`_outcomes`): the qualifier is a contract
    }

    function _ctx(uint256 batchId, Batch storage b, bool early) internal view returns (Ctx memory x) {
        BatchConfig storage c = b.config;
        x.batchId = batchId;
        x.replicas = c.replicas;
        x.numClasses = c.numClasses;
        x.threshold = c.thresholdBps;
        x.taskSize = c.taskSize;
        x.numItems = c.numItems;
        x.numTasks = c.numTasks;
        x.lastRound = b.state.round;
        x.revealDeadline = c.revealDeadline;
        x.early = early;
        // Gold counts only when all of it was revealed: a requester revealing a chosen subset after seeing the
        // labels must not pick which items gold judges (and it loses its bond).
        x.goldOn = b.state.goldRevealed >= c.goldCount;
    }

    // ------------------------------------------------------------------------------------------------
    // Positions: which task a bundle's ticket holds, whether a committed ticket holds a task
    // ------------------------------------------------------------------------------------------------

    function _lanes(Ctx memory x) internal pure returns (Lanes memory ln) {
        ln.data = new uint256[](3 * x.lastRound * x.replicas);
    }

    /// @dev Pool, Feistel half width, seeded flag, key and first ticket word of `lane` in `round`, read from storage
    ///      once per call (`round` <= lastRound and `lane` < replicas: callers pass verified bundles' or loop values).
    function _lane(Ctx memory x, Lanes memory ln, uint256 round, uint256 lane)
        internal
        view
        returns (uint256 info, bytes32 key, uint256 word0)
    {
        uint256[] memory data = ln.data;
        uint256 slot = 3 * ((round - 1) * x.replicas + lane);
        assembly ("memory-safe") {
            let at := add(add(data, 0x20), shl(5, slot))
            info := mload(at)
            key := mload(add(at, 0x20))
            word0 := mload(add(at, 0x40))
        }
        if (info != 0) return (info, key, word0);
        uint256 pool = _laneRound(x.batchId, round, lane, x.numTasks).pool;
        word0 = _tickets[x.batchId][_laneKey(round, lane) << 32];
        info = LOADED | ((256 - _popcount(word0)) << 48) | (Permutation.halfBits(pool) << 32) | pool;
        bytes32 seed = _seeds[x.batchId][round];
        if (seed != 0) {
            info |= SEEDED;
            key = _laneSeed(seed, lane);
        }
        assembly ("memory-safe") {
            let at := add(add(data, 0x20), shl(5, slot))
            mstore(at, info)
            mstore(add(at, 0x20), key)
            mstore(add(at, 0x40), word0)
        }
    }

    /// @dev Loads the cache of `lane` in rounds 1 to `round` (each (round, lane) read from storage once per call), so
    ///      that `_mapTicket` reads only memory for the bundles of that lane and round.
    function _loadChain(Ctx memory x, Lanes memory ln, uint256 lane, uint256 round) internal view {
        for (uint256 p = round; p != 0; --p) {
            _lane(x, ln, p, lane);
        }
    }

    /// @dev `_taskOf` with the call's cached pools, keys and first ticket words (`_loadChain(lane, round)` called
    ///      before). Each round: the round's permutation (cycle-walking Feistel passes, as `Permutation.permuteWith`,
    ///      inline) maps the ticket into the round's pool; a pool index of round p > 1 is the index-th uncommitted
    ///      ticket of round p - 1, found in the cached first ticket word (`_nthZero`) or, past it, in storage.
    function _mapTicket(Ctx memory x, Lanes memory ln, uint256 lane, uint256 round, uint256 ticket)
        internal
        view
        returns (uint256 index)
    {
        uint256 stride = 0x60 * x.replicas;
        uint256 at;
        uint256[] memory data = ln.data;
        assembly ("memory-safe") {
            at := add(add(add(data, 0x20), mul(stride, sub(round, 1))), mul(0x60, lane))
        }
        index = ticket;
        for (uint256 p = round;; --p) {
            index = _walk(at, index);
            if (p == 1) return index;
            uint256 info;
            uint256 word0;
            assembly ("memory-safe") {
                at := sub(at, stride)
                info := mload(at)
                word0 := mload(add(at, 0x40))
            }
            index = index < (info >> 48) & 0x1FF
                ? _nthZero(word0, index)
                : _selectUncommitted(x.batchId, p - 1, lane, index);
        }
    }

    /// @dev The cached lane at memory `at` applied to `ticket`: its permutation if the round has a seed (an unseeded
    ///      round maps a ticket to itself). A ticket outside the pool reverts as `Permutation.permuteWith` does.
    function _walk(uint256 at, uint256 ticket) internal pure returns (uint256 y) {
        uint256 info;
        assembly ("memory-safe") {
            info := mload(at)
        }
        uint256 pool = info & 0xFFFFFFFF;
        if (ticket >= pool) revert Permutation.OutOfDomain(ticket, pool);
        y = ticket;
        // slither-disable-next-line incorrect-equality (a flag bit tested; no balance or time)
        if (info & SEEDED == 0) return y;
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            mstore(ptr, mload(add(at, 0x20)))
            let half := and(shr(32, info), 0xFF)
            // slither-disable-next-line incorrect-shift (shl(half, 1) is 2^half: the mask of a half, as intended)
            let mask := sub(shl(half, 1), 1)
            let a := add(ptr, 0x20)
            let b := add(ptr, 0x40)
            for {} 1 {} {
                let left := shr(half, y)
                let right := and(y, mask)
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
                y := or(shl(half, left), right)
                if lt(y, pool) { break }
            }
        }
    }

    // slither-disable-start incorrect-equality (a flag bit tested; no balance or time)
    /// @dev Whether a committed bundle holds `taskId` in `lane`: follows the task from round 1 through the pools
    ///      of the later rounds until a committed ticket holds it or the rounds run out.
    function _holderCommitted(Ctx memory x, Lanes memory ln, uint256 lane, uint256 taskId)
        internal
        view
        returns (bool)
    {
        uint256 index = taskId;
        for (uint256 p = 1; p <= x.lastRound; ++p) {
            (uint256 info, bytes32 key,) = _lane(x, ln, p, lane);
            uint256 pool = info & 0xFFFFFFFF;
            if (index >= pool) return false;
            uint256 ticket = info & SEEDED == 0 ? index : Permutation.invertWith(index, pool, (info >> 32) & 0xFF, key);
            if (_ticketCommitted(x.batchId, p, lane, ticket)) return true;
            index = ticket - _committedBelow(x.batchId, p, lane, ticket);
        }
        return false;
    }

    // slither-disable-end incorrect-equality

    // ------------------------------------------------------------------------------------------------
    // Bundles and votes
    // ------------------------------------------------------------------------------------------------

    /// @dev Verifies each supplied bundle against its stored word and records, per (task of `tasks`, lane), which
    ///      bundle holds it: entry (bundle index + 1) << 8 | REVEALED_ENTRY if revealed | position in the bundle,
    ///      and its revealed labels.
    function _cover(Ctx memory x, Lanes memory ln, uint256[] memory tasks, BundleProof[] calldata bundles)
        internal
        returns (uint256[] memory cover, uint256[] memory labels)
    {
        cover = new uint256[](tasks.length * x.replicas);
        labels = new uint256[](tasks.length * x.replicas);
        for (uint256 bi; bi < bundles.length; ++bi) {
            _verify(x, bundles[bi]);
            _place(x, ln, tasks, cover, labels, bi, bundles[bi]);
        }
    }

    /// @dev A supplied bundle must be exactly what the market stored: revealed (with its labels) or committed (with
    ///      its commit hash) — or committed and supplied with its labels and salt, whose reveal this call then
    ///      carries (only up to the reveal deadline: see `BundleProof`).
    function _verify(Ctx memory x, BundleProof calldata p) internal {
        uint256 stored = _bundles[x.batchId][p.id];
        if (p.labels.length == 0) {
            if (stored != _word(keccak256(abi.encode(p.bundle, p.commitHash)), Status.Committed)) {
                revert BundleMismatch(p.id, Status.Committed);
            }
            return;
        }
        bytes32 digest = BundlePacking.digest(p.labels);
        uint256 revealedWord = _word(keccak256(abi.encode(p.bundle, digest)), Status.Revealed);
        // slither-disable-next-line incorrect-equality (a stored hash word matched exactly; no balance or time)
        if (stored == revealedWord) return;
        if (stored & STATUS_MASK != uint256(Status.Committed)) revert BundleMismatch(p.id, Status.Revealed);
        if (!x.early) revert RevealPhaseOver(x.revealDeadline);
        bytes32 commitHash = _commitHash(x.batchId, p.id, p.bundle.annotator, p.labels, p.salt);
        if (stored != _word(keccak256(abi.encode(p.bundle, commitHash)), Status.Committed)) revert CommitMismatch();
        _checkLabels(p.labels, p.bundle.size, x.numClasses);
        _bundles[x.batchId][p.id] = revealedWord;
        emit Revealed(x.batchId, p.id, p.bundle.annotator, p.labels);
    }

    /// @dev Records which of `tasks` bundle `bi` holds, in its lane, among the positions its proof names.
    function _place(
        Ctx memory x,
        Lanes memory ln,
        uint256[] memory tasks,
        uint256[] memory cover,
        uint256[] memory labels,
        uint256 bi,
        BundleProof calldata p
    ) internal view {
        uint256 lane = p.bundle.lane;
        uint256 tag = ((bi + 1) << 8) | (p.labels.length != 0 ? REVEALED_ENTRY : 0);
        // Only the positions the proof names are mapped; one left out that holds a task of the call is found by
        // `_votes` (its committed holder is missing) and reverts, so leaving positions out only saves gas.
        uint256 positions = uint256(p.positions) & ((1 << p.bundle.size) - 1);
        if (positions != 0) _loadChain(x, ln, lane, p.bundle.round);
        for (uint256 m; positions != 0; ++m) {
            if (positions & 1 != 0) {
                (bool found, uint256 k) =
                    _find(tasks, _mapTicket(x, ln, lane, p.bundle.round, uint256(p.bundle.first) + m));
                if (found) {
                    k = k * x.replicas + lane;
                    if (cover[k] != 0) revert DuplicateBundle(p.id);
                    cover[k] = tag | m;
                    if (tag & REVEALED_ENTRY != 0) labels[k] = BundlePacking.taskLabels(p.labels, m);
                }
            }
            positions >>= 1;
        }
    }

    /// @dev The votes of one task: revealed labels per lane, which lanes hold it (committed) and revealed it.
    struct TaskVotes {
        uint256[] labels;
        uint256 held;
        uint256 revealed;
        uint256 items;
        uint256 gold; // flags (bit 4i + 3 for item i)
        uint256 goldLabels;
    }

    // slither-disable-start incorrect-equality (an empty cover entry is exactly zero; no balance or time)
    /// @dev The labels of task `k` per lane. A lane no supplied bundle covers must have no committed holder (after
    ///      the reveal deadline nobody can commit any more, so that is final).
    function _votes(
        Ctx memory x,
        Lanes memory ln,
        uint256 k,
        uint256 taskId,
        uint256[] memory cover,
        uint256[] memory labels
    ) internal view returns (TaskVotes memory v) {
        v.labels = new uint256[](x.replicas);
        uint256 start = taskId * x.taskSize;
        v.items = start + x.taskSize > x.numItems ? x.numItems - start : x.taskSize;
        uint256 fieldMask = (1 << (4 * v.items)) - 1;
        uint256 base = k * x.replicas;
        for (uint256 lane; lane < x.replicas; ++lane) {
            uint256 entry = cover[base + lane];
            if (entry == 0) {
                if (_holderCommitted(x, ln, lane, taskId)) revert MissingBundle(taskId, lane);
                continue;
            }
            v.held |= 1 << lane;
            if (entry & REVEALED_ENTRY != 0) {
                v.revealed |= 1 << lane;
                v.labels[lane] = labels[base + lane] & fieldMask;
            }
        }
    }
    // slither-disable-end incorrect-equality

    function _loadGold(uint256 batchId, uint256 taskId, TaskVotes memory v) internal view {
        uint256 g = _gold[batchId][taskId];
        v.gold = BitTally.fromBits(g >> 128);
        v.goldLabels = g & type(uint128).max;
    }

    /// @dev Per-item plurality over the revealed lanes (`BitTally`, all items at once); gold items keep their gold
    ///      answer and are not consensus items.
    function _consensus(Ctx memory x, TaskVotes memory v) internal pure returns (BitTally.Outcome memory o) {
        o = BitTally.consensus(v.labels, v.revealed, x.numClasses, x.threshold, BitTally.itemFlags(v.items));
        if (v.gold != 0) {
            uint256 wide = BitTally.widen(v.gold);
            o.result = (o.result & ~wide) | (v.goldLabels & wide);
            o.decided |= v.gold;
            o.winVotes &= ~wide;
        }
    }

    // slither-disable-start incorrect-equality (bit tests of masks and exact label matches; no balance or time)
    /// @dev Scores every lane holding the task into its bundle's tally. Slashes for disagreeing with consensus go,
    ///      item by item, to the lanes that agreed on that same item (so a dissenter never gets its own slash
    ///      back): items are grouped by the winner's vote count a, where each of the (voters - a) dissents is
    ///      shared by a agreeing lanes. Gold and no-reveal slashes and rounding dust go to the treasury.
    function _score(Ctx memory x, Run memory run, uint256 k, TaskVotes memory v, BitTally.Outcome memory o)
        internal
        pure
    {
        uint256 cons = o.decided & ~v.gold;
        uint256 toTreasury = _groups(run, o, cons);
        // Counts of consensus and gold items, 16 bits each.
        uint256 counts = _countFlags(cons) | (_countFlags(v.gold) << 16);
        for (uint256 lane; lane < x.replicas; ++lane) {
            if ((v.held >> lane) & 1 == 0) continue;
            uint256 ti = 3 * ((run.cover[k * x.replicas + lane] >> 8) - 1);
            if ((v.revealed >> lane) & 1 == 0) {
                run.tallies[ti] += T_TASKS + T_UNREVEALED;
                run.tallies[ti + 1] += run.noReveal;
                toTreasury += run.noReveal;
                continue;
            }
            toTreasury += _scoreLane(
                run, ti, BitTally.eqFlags(v.labels[lane], o.result) & o.decided, cons, v.gold, counts, o.voters
            );
        }
        run.toTreasury += toTreasury;
    }

    // slither-disable-end incorrect-equality

    // slither-disable-start incorrect-equality (an empty group of items skipped; no balance or time)
    /// @dev The coherence groups of a task into `run.scratch`: [a] the consensus items whose winner had a votes,
    ///      [16 + a] each agreeing lane's share of their dissents. Returns the rounding dust.
    function _groups(Run memory run, BitTally.Outcome memory o, uint256 cons) internal pure returns (uint256 dust) {
        uint256 voters = o.voters;
        uint256 penalty = run.penalty;
        uint256[] memory groups = run.scratch;
        for (uint256 a = 1; a < voters; ++a) {
            uint256 group = cons & BitTally.eqFlags(o.winVotes, a * BitTally.ONES);
            groups[a] = group;
            if (group == 0) continue;
            uint256 pool = (voters - a) * penalty;
            uint256 share = pool / a;
            groups[16 + a] = share;
            // slither-disable-next-line divide-before-multiply (the remainder of the division is the dust, on purpose)
            dust += _countFlags(group) * (pool - share * a);
        }
    }

    // slither-disable-end incorrect-equality

    // slither-disable-start incorrect-equality (no gold is exactly zero; no balance or time)
    /// @dev One revealed lane that agrees on `agree` (flags within decided): its counts, slash and coherence shares
    ///      into tally `ti`; returns its gold slash (it goes to the treasury). `counts`: consensus items | gold
    ///      items << 16. Assembly: it runs once per (task, lane), and the memory reads need no bounds checks (`ti`
    ///      indexes a tally of a supplied bundle, `voters` <= 15 < the 16 group slots).
    function _scoreLane(
        Run memory run,
        uint256 ti,
        uint256 agree,
        uint256 cons,
        uint256 gold,
        uint256 counts,
        uint256 voters
    ) internal pure returns (uint256 goldSlash) {
        uint256[] memory tallies = run.tallies;
        uint256 penalty = run.penalty;
        uint256 consA = _countFlags(agree & cons);
        uint256 goldA = gold == 0 ? 0 : _countFlags(agree & gold);
        uint256 shares = _shares(run.scratch, agree, voters);
        assembly ("memory-safe") {
            let consN := and(counts, 0xFFFF)
            let goldN := shr(16, counts)
            let at := add(add(tallies, 0x20), shl(5, ti))
            // agree, cons and gold are all within decided, so the disagreements are the rest of cons and gold.
            mstore(
                at,
                add(
                    mload(at),
                    or(
                        or(or(1, shl(32, consA)), or(shl(64, sub(consN, consA)), shl(96, goldA))),
                        shl(128, sub(goldN, goldA))
                    )
                )
            )
            let wrong := sub(add(consN, goldN), add(consA, goldA))
            if wrong { mstore(add(at, 0x20), add(mload(add(at, 0x20)), mul(wrong, penalty))) }
            if shares { mstore(add(at, 0x40), add(mload(add(at, 0x40)), shares)) }
            goldSlash := mul(sub(goldN, goldA), penalty)
        }
    }

    // slither-disable-end incorrect-equality

    /// @dev Coherence shares of a lane that agreed on `agree`: its share of each group's dissents per item.
    function _shares(uint256[] memory groups, uint256 agree, uint256 voters) internal pure returns (uint256 shares) {
        for (uint256 a = 1; a < voters; ++a) {
            uint256 group;
            uint256 share;
            assembly ("memory-safe") {
                group := mload(add(groups, shl(5, add(a, 1))))
                share := mload(add(groups, shl(5, add(a, 17))))
            }
            if (group != 0) shares += _countFlags(agree & group) * share;
        }
    }

    /// @dev Set flags (bit 4i + 3, i < 32) of a word: the flags moved to the nibbles' low bits, pairs of nibbles
    ///      summed into bytes (at most 2 each), then one multiplication sums the 16 bytes into byte 15.
    function _countFlags(uint256 flags) internal pure returns (uint256 n) {
        assembly ("memory-safe") {
            let y := and(shr(3, flags), 0x11111111111111111111111111111111)
            y := and(add(y, shr(4, y)), 0x0F0F0F0F0F0F0F0F0F0F0F0F0F0F0F0F)
            n := and(shr(120, mul(y, 0x01010101010101010101010101010101)), 0xFF)
        }
    }

    /// @dev Writes each bundle's tally to its annotator: stake unlocked and slashed, rewards and coherence shares
    ///      credited, reputation in the batch's domain. Consecutive bundles of one annotator are written to its
    ///      account, claimable and reputation words once (callers list an annotator's bundles together to save
    ///      bundle's tally), stake slashed, coherence shares.
    struct Due {
        address annotator;
        uint256 counts;
        uint256 slashed;
        uint256 redistributed;
    }

    /// @dev What `_credit` reads from the config once per call.
    struct Pay {
        uint256 reward;
        uint256 stakePerTask;
        address token;
        address domain;
    }

    /// @dev What an annotator is due to its account, claimable and reputation words; returns its rewards. No-op
    ///      before the first annotator.
    function _creditOne(Pay memory pay, Due memory due) internal returns (uint256 earned) {
        address annotator = due.annotator;
        if (annotator == address(0)) return 0;
        uint256 counts = due.counts;
        Account memory a = _accounts[annotator];
        a.locked -= uint96((counts & 0xFFFFFFFF) * pay.stakePerTask);
        // Each task's slash is at most stakePerTask (validated), and that much per task is locked.
        a.amount -= uint96(due.slashed);
        _accounts[annotator] = a;
        earned = (((counts >> 32) & 0xFFFFFFFF) + ((counts >> 96) & 0xFFFFFFFF)) * pay.reward;
        Reputation memory rep = _reputation[annotator][pay.domain];
        rep.accepted += uint40((counts >> 32) & 0xFFFFFFFF);
        rep.rejected += uint40((counts >> 64) & 0xFFFFFFFF);
        rep.goldCorrect += uint40((counts >> 96) & 0xFFFFFFFF);
        rep.goldWrong += uint40((counts >> 128) & 0xFFFFFFFF);
        rep.unrevealed += uint40((counts >> 160) & 0xFFFFFFFF);
        _reputation[annotator][pay.domain] = rep;
        address stake = address(STAKE_TOKEN);
        if (pay.token == stake) {
            _payOut(annotator, stake, earned + due.redistributed);
        } else {
            _payOut(annotator, pay.token, earned);
            _payOut(annotator, stake, due.redistributed);
        }
    }

    /// @dev Pays `amount` of `token` to `to` (nothing if zero): credited to its claimable balance, for `collect`.
    function _payOut(address to, address token, uint256 amount) internal virtual {
        if (amount != 0) claimable[to][token] += amount;
    }

    function _emitScored(
        uint256 batchId,
        uint256 bundleId,
        address annotator,
        uint256 counts,
        uint256 earned,
        uint256 slashed,
        uint256 redistributed
    ) internal {
        emit BundleScored(
            batchId,
            bundleId,
            annotator,
            counts & 0xFFFFFFFF,
            ((counts >> 32) & 0xFFFFFFFF) + ((counts >> 96) & 0xFFFFFFFF),
            ((counts >> 64) & 0xFFFFFFFF) + ((counts >> 128) & 0xFFFFFFFF),
            earned,
            slashed,
            redistributed
        );
    }

    /// @dev The working set of a call that scores `tasks` from `bundles`: bundles verified and placed (carrying
    ///      reveals while `x.early`), empty tallies, and what scoring reads from the config.
    function _prepare(Ctx memory x, Batch storage b, uint256[] calldata tasks, BundleProof[] calldata bundles)
        internal
        returns (Run memory run)
    {
        for (uint256 i = 1; i < tasks.length; ++i) {
            if (tasks[i] <= tasks[i - 1]) revert TasksNotSorted();
        }
        run.tasks = tasks;
        run.lanes = _lanes(x);
        (run.cover, run.labels) = _cover(x, run.lanes, run.tasks, bundles);
        run.tallies = new uint256[](3 * bundles.length);
        run.counted = b.config.reviewer != address(0);
        run.opensAt = uint256(b.config.revealDeadline) + 1;
        run.penalty = b.config.wrongLabelPenalty;
        run.noReveal = b.config.noRevealPenalty;
        run.hasGold = x.goldOn && b.config.goldCount != 0;
        run.scratch = new uint256[](2 * MAX_REPLICAS + 2);
        run.settledWord = type(uint256).max;
    }

    /// @dev Votes, consensus and scores of task `k` of the call (`taskId`) into the bundles' tallies.
    function _tallyOne(Ctx memory x, Run memory run, uint256 k, uint256 taskId)
        internal
        view
        returns (TaskVotes memory v, BitTally.Outcome memory o)
    {
        if (taskId >= x.numTasks) revert UnknownTask(x.batchId, taskId);
        v = _votes(x, run.lanes, k, taskId, run.cover, run.labels);
        if (x.early && v.revealed != (1 << x.replicas) - 1) revert SettlementNotOpen(taskId, run.opensAt);
        if (run.hasGold) _loadGold(x.batchId, taskId, v);
        o = _consensus(x, v);
        _score(x, run, k, v, o);
    }
}
