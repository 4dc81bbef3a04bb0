// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";

import {LabelMarketV2Storage} from "./LabelMarketV2Storage.sol";
import {LabelPacking} from "./libraries/LabelPacking.sol";
import {BundlePacking} from "./libraries/BundlePacking.sol";
import {Permutation} from "./libraries/Permutation.sol";
import {Leaves} from "./libraries/Leaves.sol";
import {BitTally} from "./libraries/BitTally.sol";

/// @title LabelMarketV2Settlement
/// @notice Seeds, the join folded into a commit, gold reveals, settlement, review, refund and expiry of
///         `LabelMarketV2`, run only through the market's `delegatecall` (in the market's
///         storage, behind its re-entrancy guard). Created by the market's constructor; calling it directly reverts.
contract LabelMarketV2Settlement is LabelMarketV2Storage {
    using SafeERC20 for IERC20;
    using LabelPacking for uint256;
    using LabelPacking for uint64;

    /// @notice Thrown when the module is called directly instead of through the market.
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

    uint256 private constant LOADED = 1 << 255;
    /// @dev Flag of a cover entry whose bundle was supplied revealed (bundle index + 1) << 8 | flag | position.
    uint256 private constant REVEALED_ENTRY = 0x80;
    uint256 private constant SEEDED = 1 << 40;

    /// @dev One bundle's totals within a settlement call, three words per bundle: packed counts (32 bits each:
    ///      tasks, agreed, disagreed, goldAgreed, goldDisagreed, unrevealed), stake slashed, coherence shares.
    uint256 private constant T_TASKS = 1;
    uint256 private constant T_AGREED = 1 << 32;
    uint256 private constant T_DISAGREED = 1 << 64;
    uint256 private constant T_GOLD_AGREED = 1 << 96;
    uint256 private constant T_GOLD_DISAGREED = 1 << 128;
    uint256 private constant T_UNREVEALED = 1 << 160;

    /// @notice See `ILabelMarketV2.settle`.
    function settle(uint256 batchId, uint256[] calldata tasks, BundleProof[] calldata bundles)
        external
        onlyDelegated
        returns (uint256 settled)
    {
        Batch storage b = _batch(batchId);
        Ctx memory x = _ctx(batchId, b, block.timestamp <= b.config.revealDeadline);
        if (x.early && (b.state.committed != x.numTasks * x.replicas || !x.goldOn)) {
            revert SettlementNotOpen(tasks.length == 0 ? 0 : tasks[0], uint256(b.config.revealDeadline) + 1);
        }
        for (uint256 i = 1; i < tasks.length; ++i) {
            if (tasks[i] <= tasks[i - 1]) revert TasksNotSorted();
        }
        // slither-disable-next-line uninitialized-local (filled field by field just below)
        Run memory run;
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
        run.outcomes = new uint256[](2 * tasks.length);
        address qualifier = b.config.qualifier;
        run.keep = qualifier != address(0) && qualifier.code.length != 0;
        for (uint256 k; k < tasks.length; ++k) {
            _settleOne(x, run, k);
        }
        _flushSettled(x.batchId, run);
        emit TasksSettled(batchId, run.outcomes);
        settled = tasks.length;
        uint256 paid = _credit(b.config, batchId, bundles, run.tallies);
        b.state.paid += uint128(paid);
        b.state.tasksSettled += uint32(settled);
        b.state.undecided += uint32(run.undecided);
        if (run.toTreasury != 0) claimable[TREASURY][address(STAKE_TOKEN)] += run.toTreasury;
    }

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

    function _settleOne(Ctx memory x, Run memory run, uint256 k) internal {
        uint256 taskId = run.tasks[k];
        if (taskId >= x.numTasks) revert UnknownTask(x.batchId, taskId);
        uint256 word = taskId >> 8;
        if (word != run.settledWord) {
            _flushSettled(x.batchId, run);
            run.settledWord = word;
            run.settledBits = _settled[x.batchId][word];
        }
        if ((run.settledBits >> (taskId & 255)) & 1 != 0) revert AlreadySettled(x.batchId, taskId);
        run.settledBits |= 1 << (taskId & 255);
        TaskVotes memory v = _votes(x, run.lanes, k, taskId, run.cover, run.labels);
        if (x.early && v.revealed != (1 << x.replicas) - 1) revert SettlementNotOpen(taskId, run.opensAt);
        if (run.hasGold) _loadGold(x.batchId, taskId, v);
        BitTally.Outcome memory o = _consensus(x, v);
        _score(x, run, k, v, o);
        if (run.counted && v.revealed != 0) run.undecided += _countFlags(BitTally.itemFlags(v.items) & ~o.decided);
        // result and decided are 128-bit (32 nibbles), gold too; revealed < 2^15, taskId < 2^32 (validated sizes).
        run.outcomes[2 * k] = o.result | (o.decided << 128);
        if (run.keep) _outcomes[x.batchId][taskId] = run.outcomes[2 * k] | (1 << 255);
        run.outcomes[2 * k + 1] = taskId | (v.revealed << 32) | (v.gold << 128);
    }

    /// @dev Writes the settled bits gathered for one `_settled` word (tasks come sorted, so each word once).
    function _flushSettled(uint256 batchId, Run memory run) internal {
        if (run.settledWord != type(uint256).max) _settled[batchId][run.settledWord] = run.settledBits;
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
    ///      those writes; any order settles the same). Returns the rewards paid.
    function _credit(BatchConfig storage c, uint256 batchId, BundleProof[] calldata bundles, uint256[] memory tallies)
        internal
        returns (uint256 paid)
    {
        Pay memory pay = Pay(c.rewardPerLabel, c.stakePerTask, c.rewardToken, _domain(c));
        // slither-disable-next-line uninitialized-local (an empty accumulator: no annotator yet)
        Due memory due;
        for (uint256 bi; bi < bundles.length; ++bi) {
            uint256 counts = tallies[3 * bi];
            // slither-disable-next-line incorrect-equality (a bundle with no task in this call is skipped)
            if (counts == 0) continue;
            address annotator = bundles[bi].bundle.annotator;
            if (annotator != due.annotator) {
                paid += _creditOne(pay, due);
                due.annotator = annotator;
                (due.counts, due.slashed, due.redistributed) = (0, 0, 0);
            }
            due.counts += counts;
            due.slashed += tallies[3 * bi + 1];
            due.redistributed += tallies[3 * bi + 2];
            uint256 earned = (((counts >> 32) & 0xFFFFFFFF) + ((counts >> 96) & 0xFFFFFFFF)) * pay.reward;
            _emitScored(batchId, bundles[bi].id, annotator, counts, earned, tallies[3 * bi + 1], tallies[3 * bi + 2]);
        }
        paid += _creditOne(pay, due);
    }

    /// @dev What one annotator is due from consecutive bundles of a settlement call: packed counts (as in a
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
        if (earned != 0) claimable[annotator][pay.token] += earned;
        if (due.redistributed != 0) claimable[annotator][address(STAKE_TOKEN)] += due.redistributed;
        Reputation memory rep = _reputation[annotator][pay.domain];
        rep.accepted += uint40((counts >> 32) & 0xFFFFFFFF);
        rep.rejected += uint40((counts >> 64) & 0xFFFFFFFF);
        rep.goldCorrect += uint40((counts >> 96) & 0xFFFFFFFF);
        rep.goldWrong += uint40((counts >> 128) & 0xFFFFFFFF);
        rep.unrevealed += uint40((counts >> 160) & 0xFFFFFFFF);
        _reputation[annotator][pay.domain] = rep;
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

    // slither-disable-start incorrect-equality (bit tests of masks and exact label matches; no balance or time)
    /// @notice See `ILabelMarketV2.resolve`.
    function resolve(uint256 batchId, uint256 item, uint8 label, BundleProof[] calldata bundles)
        external
        onlyDelegated
    {
        Batch storage b = _batch(batchId);
        uint256[] memory cover;
        TaskVotes memory v;
        {
            uint256 taskId = _checkReview(batchId, b.config, item, label);
            Ctx memory x = _ctx(batchId, b, false);
            uint256[] memory one = new uint256[](1);
            one[0] = taskId;
            Lanes memory ln = _lanes(x);
            uint256[] memory labels;
            (cover, labels) = _cover(x, ln, one, bundles);
            v = _votes(x, ln, 0, taskId, cover, labels);
            if (x.goldOn) _loadGold(batchId, taskId, v);
            if (!_inReview(x, v, item % x.taskSize)) revert ItemNotInReview(batchId, item);
        }
        _resolved[batchId][item >> 8] |= 1 << (item & 255);
        _reviseOutcome(batchId, item / b.config.taskSize, item % b.config.taskSize, label);
        b.state.undecided -= 1;
        uint256 paid = _payResolved(b.config, v, cover, bundles, item % b.config.taskSize, label);
        if (paid == 0) revert DecisionWithoutLabel(item, label);
        b.state.paid += uint128(paid);
        emit ItemResolved(batchId, item, label, paid);
    }

    /// @dev A stored outcome (`_outcomes`) takes the reviewer's decision of item `pos`.
    function _reviseOutcome(uint256 batchId, uint256 taskId, uint256 pos, uint256 label) internal {
        uint256 w = _outcomes[batchId][taskId];
        if (w != 0) {
            _outcomes[batchId][taskId] = (w & ~(0xF << (4 * pos))) | (label << (4 * pos)) | (8 << (128 + 4 * pos));
        }
    }

    /// @dev Who may resolve what, and when; returns the item's task.
    function _checkReview(uint256 batchId, BatchConfig storage c, uint256 item, uint256 label)
        internal
        view
        returns (uint256 taskId)
    {
        if (msg.sender != c.reviewer) revert NotReviewer(msg.sender);
        if (block.timestamp > c.reviewDeadline) revert ReviewClosed(c.reviewDeadline);
        if (item >= c.numItems) revert UnknownItem(batchId, item);
        if (label >= c.numClasses) revert LabelOutOfRange(item / c.taskSize, item % c.taskSize, label);
        taskId = item / c.taskSize;
        if (!_isSettled(batchId, taskId)) revert TaskNotSettled(batchId, taskId);
        if ((_resolved[batchId][item >> 8] >> (item & 255)) & 1 != 0) revert ItemNotInReview(batchId, item);
    }

    /// @dev An item is in review when it is not gold, somebody revealed a label for it, and there was no consensus.
    function _inReview(Ctx memory x, TaskVotes memory v, uint256 pos) internal pure returns (bool) {
        if ((v.gold >> (4 * pos + 3)) & 1 != 0 || v.revealed == 0) return false;
        // slither-disable-next-line uninitialized-local (a zeroed tally is intended)
        uint64 tally;
        for (uint256 lane; lane < x.replicas; ++lane) {
            if ((v.revealed >> lane) & 1 != 0) tally = tally.addVote(v.labels[lane].get(pos));
        }
        // slither-disable-next-line unused-return (only whether a consensus exists matters here)
        (bool reached,) = tally.consensus(x.numClasses, x.threshold);
        return !reached;
    }

    /// @dev Credits every revealed label of item `pos` equal to the reviewer's `label`.
    function _payResolved(
        BatchConfig storage c,
        TaskVotes memory v,
        uint256[] memory cover,
        BundleProof[] calldata bundles,
        uint256 pos,
        uint256 label
    ) internal returns (uint256 paid) {
        uint256 reward = c.rewardPerLabel;
        address token = c.rewardToken;
        address domain = _domain(c);
        for (uint256 lane; lane < v.labels.length; ++lane) {
            if ((v.revealed >> lane) & 1 == 0 || v.labels[lane].get(pos) != label) continue;
            address annotator = bundles[(cover[lane] >> 8) - 1].bundle.annotator;
            claimable[annotator][token] += reward;
            _reputation[annotator][domain].accepted += 1;
            paid += reward;
        }
    }

    // slither-disable-end incorrect-equality

    /// @notice See `ILabelMarketV2.revealGold`.
    function revealGold(uint256 batchId, GoldAnswer[] calldata answers) external onlyDelegated {
        Batch storage b = _batch(batchId);
        if (b.config.goldCount == 0) revert NoGold(batchId);
        if (block.timestamp <= b.config.commitDeadline || block.timestamp > b.config.revealDeadline) {
            revert GoldRevealClosed(uint256(b.config.commitDeadline) + 1, b.config.revealDeadline);
        }
        bytes32 root = b.roots.gold;
        uint256 numItems = b.config.numItems;
        uint256 numClasses = b.config.numClasses;
        uint256 taskSize = b.config.taskSize;
        for (uint256 i; i < answers.length; ++i) {
            GoldAnswer calldata a = answers[i];
            if (a.item >= numItems) revert UnknownItem(batchId, a.item);
            if (a.label >= numClasses) revert LabelOutOfRange(a.item / taskSize, a.item % taskSize, a.label);
            if (!MerkleProof.verifyCalldata(a.proof, root, Leaves.goldLeaf(a.item, a.label, a.salt))) {
                revert InvalidGoldProof(a.item);
            }
            uint256 taskId = a.item / taskSize;
            if (_isSettled(batchId, taskId)) revert AlreadySettled(batchId, taskId);
            uint256 pos = a.item % taskSize;
            uint256 g = _gold[batchId][taskId];
            if ((g >> (128 + pos)) & 1 != 0) revert GoldAlreadyRevealed(a.item);
            _gold[batchId][taskId] = (g | (1 << (128 + pos))).set(pos, a.label);
            emit GoldRevealed(batchId, a.item, a.label);
        }
        b.state.goldRevealed += uint32(answers.length);
    }

    // ------------------------------------------------------------------------------------------------
    // Seeds, and the next round's join folded into a commit
    // ------------------------------------------------------------------------------------------------

    /// @notice See `ILabelMarketV2.drawSeed`.
    function drawSeed(uint256 batchId, uint256 round) external onlyDelegated {
        Batch storage b = _batch(batchId);
        if (round == 0 || round > b.state.round) revert SeedNotReady(round, 0);
        if (_seeds[batchId][round] != 0) return;
        Round storage r = _rounds[batchId][round];
        if (block.timestamp > r.commitEnd) revert CommitWindowClosed(round, r.commitEnd);
        uint256 sealBlock = r.sealBlock;
        if (sealBlock == 0) revert SeedNotReady(round, 0);
        if (block.number <= sealBlock + 1) revert SeedNotReady(round, sealBlock + 2);
        bytes32 h = blockhash(sealBlock + 1);
        if (h == 0) {
            // Nobody stored the seed while its block was readable: seal again from here, never from a hash the
            // caller already knows.
            r.sealBlock = uint64(block.number);
            emit RoundSealed(batchId, round, block.number);
            return;
        }
        _seeds[batchId][round] = h;
        emit SeedDrawn(batchId, round, h);
    }

    /// @notice See `ILabelMarketV2.commitAndJoin`.
    function commitAndJoin(
        uint256 batchId,
        uint256 bundleId,
        Bundle calldata bundle,
        bytes32 commitHash,
        bytes calldata backup,
        uint256 maxTasks
    ) external onlyDelegated returns (uint256 nextBundleId, uint256 size) {
        Batch storage b = _commit(batchId, bundleId, bundle, commitHash, backup);
        // A commit is in the batch's current round (the next one opens after its commit end), so the next is not
        // open yet: the join reserves in it.
        return _reserve(batchId, b, uint256(bundle.round) + 1, bundle.lane, maxTasks);
    }

    /// @dev Reserves up to `maxTasks` tickets of `lane` in `round`, which has not opened yet (the caller's bundle of
    ///      round - 1 was just committed): they follow the tickets reserved before, up to what round - 1 can still
    ///      leave uncommitted in the lane; how many hold tasks is known when the round opens.
    function _reserve(uint256 batchId, Batch storage b, uint256 round, uint256 lane, uint256 maxTasks)
        internal
        returns (uint256 bundleId, uint256 size)
    {
        if (round > MAX_ROUNDS) revert TooManyRounds(MAX_ROUNDS);
        uint256 terms = _joinTerms[batchId];
        // No second join of `round` is possible: it is not open, and its only reservation by the caller is this one
        // (from its one bundle of round - 1).
        _checkJoiner(batchId, b.config, _shapes[batchId], terms, maxTasks);
        // The round opens after this one's commit end at the earliest; it must still fit before the deadline.
        BatchConfig storage c = b.config;
        uint256 earliest = uint256(_rounds[batchId][round - 1].commitEnd) + 1 + c.roundPeriod + c.commitWindow;
        if (earliest > c.commitDeadline) revert CommitPhaseOver(c.commitDeadline);
        uint256 first;
        (first, size) = _reserveTickets(batchId, round, lane, maxTasks);
        uint256 need = _lockStake(terms, size);
        Bundle memory bundle = Bundle(msg.sender, uint8(lane), uint16(round), uint32(first), uint8(size));
        bundleId = b.state.bundles++;
        _bundles[batchId][bundleId] = _word(keccak256(abi.encode(bundle)), Status.Joined);
        _members[batchId][msg.sender] = (round << 8) | (lane + 1);
        emit Joined(batchId, bundleId, msg.sender, bundle, need);
    }

    /// @dev Takes the next `maxTasks` (or fewer) tickets of `lane` in the unopened `round`: at most what round - 1
    ///      can still leave uncommitted in the lane, counting the tickets reserved before.
    function _reserveTickets(uint256 batchId, uint256 round, uint256 lane, uint256 maxTasks)
        internal
        returns (uint256 first, uint256 size)
    {
        LaneRound memory cur = _laneRounds[batchId][_laneKey(round - 1, lane)];
        uint256 bound = cur.pool - cur.committed;
        LaneRound storage next = _laneRounds[batchId][_laneKey(round, lane)];
        first = next.taken;
        if (first >= bound) revert NoTaskAvailable(batchId);
        size = maxTasks < bound - first ? maxTasks : bound - first;
        next.taken = uint32(first + size);
    }

    /// @notice See `ILabelMarketV2.expire`.
    function expire(uint256 batchId, uint256 bundleId, Bundle calldata bundle) external onlyDelegated {
        Batch storage b = _batch(batchId);
        _expect(batchId, bundleId, keccak256(abi.encode(bundle)), Status.Joined);
        BatchConfig storage c = b.config;
        uint256 round = bundle.round;
        // Tasks the bundle held (and squatted): its tickets inside the round's pool.
        uint256 held = 0;
        if (round > b.state.round) {
            // Reserved in a round that never opened: after the commit deadline it never will.
            if (block.timestamp <= c.commitDeadline) revert CommitWindowOpen(round, c.commitDeadline);
        } else {
            Round storage r = _rounds[batchId][round];
            if (block.timestamp <= r.commitEnd) revert CommitWindowOpen(round, r.commitEnd);
            uint256 pool = _laneRounds[batchId][_laneKey(round, bundle.lane)].pool;
            uint256 end = uint256(bundle.first) + bundle.size;
            held = end <= pool ? bundle.size : (bundle.first < pool ? pool - bundle.first : 0);
        }
        delete _bundles[batchId][bundleId];
        uint256 lock = uint256(bundle.size) * c.stakePerTask;
        uint256 forfeit = held * c.squatPenalty;
        Account storage a = _accounts[bundle.annotator];
        a.locked -= uint96(lock);
        a.amount -= uint96(forfeit); // forfeit <= lock <= locked <= amount
        if (held != 0) {
            claimable[TREASURY][address(STAKE_TOKEN)] += forfeit;
            _reputation[bundle.annotator][_domain(c)].squatted += 1;
        }
        emit BundleExpired(batchId, bundleId, bundle.annotator, forfeit);
    }

    /// @notice See `ILabelMarketV2.refund`.
    function refund(uint256 batchId) external onlyDelegated {
        Batch storage b = _batch(batchId);
        if (block.timestamp <= b.config.reviewDeadline || b.state.tasksSettled != b.config.numTasks) {
            revert RefundNotOpen(uint256(b.config.reviewDeadline) + 1, b.state.tasksSettled, b.config.numTasks);
        }
        if (b.state.refunded) revert AlreadyRefunded(batchId);
        b.state.refunded = true;
        // With a reviewer, items it left undecided keep their escrow away from the requester (inaction must not
        // pay); a gold bond comes back only if every gold answer was revealed.
        uint256 withheld = b.config.reviewer == address(0)
            ? 0
            : uint256(b.state.undecided) * b.config.replicas * b.config.rewardPerLabel;
        uint256 bond = b.state.goldBond;
        bool goldKept = b.state.goldRevealed >= b.config.goldCount;
        uint256 toTreasury = withheld + (goldKept ? 0 : bond);
        uint256 amount = b.state.escrow - b.state.paid - withheld + (goldKept ? bond : 0);
        address requester = b.config.requester;
        address token = b.config.rewardToken;
        if (toTreasury != 0) claimable[TREASURY][token] += toTreasury;
        emit Refunded(batchId, requester, amount, toTreasury);
        if (amount != 0) IERC20(token).safeTransfer(requester, amount);
    }
}
