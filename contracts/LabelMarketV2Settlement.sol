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
/// @notice Gold reveals, settlement, review and refund of `LabelMarketV2`, run only through the market's `delegatecall` (in the market's
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
        bool early;
        bool goldOn;
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

    /// @dev One bundle's totals within a settlement call.
    struct Tally {
        uint256 tasks;
        uint256 agreed;
        uint256 disagreed;
        uint256 goldAgreed;
        uint256 goldDisagreed;
        uint256 unrevealed;
        uint256 slashed;
        uint256 redistributed;
    }

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
        run.cover = _cover(x, run.tasks, bundles);
        run.tallies = new Tally[](bundles.length);
        run.counted = b.config.reviewer != address(0);
        run.opensAt = uint256(b.config.revealDeadline) + 1;
        for (uint256 k; k < tasks.length; ++k) {
            _settleOne(b.config, x, run, k, bundles);
        }
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
        uint256[] cover;
        Tally[] tallies;
        uint256 toTreasury;
        uint256 undecided;
        bool counted;
        uint256 opensAt;
    }

    function _settleOne(BatchConfig storage c, Ctx memory x, Run memory run, uint256 k, BundleProof[] calldata bundles)
        internal
    {
        uint256 taskId = run.tasks[k];
        if (taskId >= x.numTasks) revert UnknownTask(x.batchId, taskId);
        if (_isSettled(x.batchId, taskId)) revert AlreadySettled(x.batchId, taskId);
        TaskVotes memory v = _votes(x, k, taskId, run.cover, bundles);
        if (x.early && v.revealed != (1 << x.replicas) - 1) revert SettlementNotOpen(taskId, run.opensAt);
        BitTally.Outcome memory o = _consensus(x, v);
        run.toTreasury += _score(c, x, run, k, v, o);
        if (run.counted && v.revealed != 0) run.undecided += _popcount(BitTally.itemFlags(v.items) & ~o.decided);
        _settled[x.batchId][taskId >> 8] |= 1 << (taskId & 255);
        emit TaskSettled(x.batchId, taskId, o.result, o.decided, v.gold, v.revealed);
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
        x.early = early;
        // Gold counts only when all of it was revealed: a requester revealing a chosen subset after seeing the
        // labels must not pick which items gold judges (and it loses its bond).
        x.goldOn = b.state.goldRevealed >= c.goldCount;
    }

    /// @dev Verifies each supplied bundle against its stored word and records, per (task of `tasks`, lane), which
    ///      bundle holds it: entry (bundle index + 1) << 8 | position in the bundle.
    function _cover(Ctx memory x, uint256[] memory tasks, BundleProof[] calldata bundles)
        internal
        view
        returns (uint256[] memory cover)
    {
        cover = new uint256[](tasks.length * x.replicas);
        for (uint256 bi; bi < bundles.length; ++bi) {
            _verify(x.batchId, bundles[bi]);
            _place(x, tasks, cover, bi, bundles[bi]);
        }
    }

    /// @dev A supplied bundle must be exactly what the market stored: revealed (with its labels) or committed (with
    ///      its commit hash).
    function _verify(uint256 batchId, BundleProof calldata p) internal view {
        bool open = p.labels.length != 0;
        bytes32 h = open
            ? keccak256(abi.encode(p.bundle, BundlePacking.digest(p.labels)))
            : keccak256(abi.encode(p.bundle, p.commitHash));
        Status status = open ? Status.Revealed : Status.Committed;
        if (_bundles[batchId][p.id] != _word(h, status)) revert BundleMismatch(p.id, status);
    }

    /// @dev Records which of `tasks` bundle `bi` holds, in its lane.
    function _place(Ctx memory x, uint256[] memory tasks, uint256[] memory cover, uint256 bi, BundleProof calldata p)
        internal
        view
    {
        uint256 lane = p.bundle.lane;
        for (uint256 m; m < p.bundle.size; ++m) {
            uint256 taskId = _taskOf(x.batchId, lane, p.bundle.round, uint256(p.bundle.first) + m, x.numTasks);
            (bool found, uint256 k) = _find(tasks, taskId);
            if (!found) continue;
            k = k * x.replicas + lane;
            if (cover[k] != 0) revert DuplicateBundle(p.id);
            cover[k] = ((bi + 1) << 8) | m;
        }
    }

    // slither-disable-start incorrect-equality (an empty cover entry is exactly zero; no balance or time)
    /// @dev The labels of task `k` per lane. A lane no supplied bundle covers must have no committed holder (after
    ///      the reveal deadline nobody can commit any more, so that is final).
    function _votes(Ctx memory x, uint256 k, uint256 taskId, uint256[] memory cover, BundleProof[] calldata bundles)
        internal
        view
        returns (TaskVotes memory v)
    {
        v.labels = new uint256[](x.replicas);
        uint256 start = taskId * x.taskSize;
        v.items = start + x.taskSize > x.numItems ? x.numItems - start : x.taskSize;
        uint256 fieldMask = (1 << (4 * v.items)) - 1;
        for (uint256 lane; lane < x.replicas; ++lane) {
            uint256 entry = cover[k * x.replicas + lane];
            if (entry == 0) {
                if (_holderCommitted(x, lane, taskId)) revert MissingBundle(taskId, lane);
                continue;
            }
            v.held |= 1 << lane;
            BundleProof calldata p = bundles[(entry >> 8) - 1];
            if (p.labels.length != 0) {
                v.revealed |= 1 << lane;
                v.labels[lane] = BundlePacking.taskLabels(p.labels, entry & 0xff) & fieldMask;
            }
        }
        if (x.goldOn) {
            uint256 g = _gold[x.batchId][taskId];
            v.gold = BitTally.fromBits(g >> 128);
            v.goldLabels = g & type(uint128).max;
        }
    }

    // slither-disable-end incorrect-equality

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
    ///      shared by a agreeing lanes. Gold and no-reveal slashes and rounding dust go to the treasury (returned).
    function _score(BatchConfig storage c, Ctx memory x, Run memory run, uint256 k, TaskVotes memory v, BitTally.Outcome memory o)
        internal
        view
        returns (uint256 toTreasury)
    {
        Coherence memory h = _coherence(o, v.gold, c.wrongLabelPenalty);
        toTreasury = h.dust;
        for (uint256 lane; lane < x.replicas; ++lane) {
            if ((v.held >> lane) & 1 == 0) continue;
            Tally memory t = run.tallies[(run.cover[k * x.replicas + lane] >> 8) - 1];
            t.tasks += 1;
            if ((v.revealed >> lane) & 1 == 0) {
                t.unrevealed += 1;
                t.slashed += c.noRevealPenalty;
                toTreasury += c.noRevealPenalty;
            } else {
                toTreasury += _scoreLane(t, h, v.labels[lane], o, v.gold);
            }
        }
    }

    /// @dev The per-item coherence pools of a task: consensus items grouped by the winner's vote count a, where each
    ///      of the (voters - a) dissents is shared by the a agreeing lanes; `dust` is what the shares leave over.
    struct Coherence {
        uint256 penalty;
        uint256 cons;
        uint256[] groups;
        uint256[] shares;
        uint256 dust;
    }

    function _coherence(BitTally.Outcome memory o, uint256 gold, uint256 penalty)
        internal
        pure
        returns (Coherence memory h)
    {
        h.penalty = penalty;
        h.cons = o.decided & ~gold;
        h.groups = new uint256[](o.voters);
        h.shares = new uint256[](o.voters);
        for (uint256 a = 1; a < o.voters; ++a) {
            uint256 group = h.cons & BitTally.eqFlags(o.winVotes, a * BitTally.ONES);
            if (group == 0) continue;
            uint256 pool = (o.voters - a) * penalty;
            uint256 share = pool / a;
            (h.groups[a], h.shares[a]) = (group, share);
            // slither-disable-next-line divide-before-multiply (the remainder of the division is the dust, on purpose)
            h.dust += _popcount(group) * (pool - share * a);
        }
    }

    /// @dev One revealed lane: agreement with consensus and gold, slashes, coherence shares. Returns the gold slash
    ///      (it goes to the treasury).
    function _scoreLane(Tally memory t, Coherence memory h, uint256 labels, BitTally.Outcome memory o, uint256 gold)
        internal
        pure
        returns (uint256 goldSlash)
    {
        uint256 agree = BitTally.eqFlags(labels, o.result) & o.decided;
        uint256 goldD = _popcount(gold & ~agree);
        uint256 consD = _popcount(h.cons & ~agree);
        t.goldAgreed += _popcount(agree & gold);
        t.goldDisagreed += goldD;
        t.agreed += _popcount(agree & h.cons);
        t.disagreed += consD;
        t.slashed += (goldD + consD) * h.penalty;
        goldSlash = goldD * h.penalty;
        for (uint256 a = 1; a < h.groups.length; ++a) {
            if (h.groups[a] != 0) t.redistributed += _popcount(agree & h.groups[a]) * h.shares[a];
        }
    }

    // slither-disable-end incorrect-equality

    /// @dev Writes each bundle's tally to its annotator: stake unlocked and slashed, rewards and coherence shares
    ///      credited, reputation in the batch's domain. Returns the rewards paid.
    function _credit(BatchConfig storage c, uint256 batchId, BundleProof[] calldata bundles, Tally[] memory tallies)
        internal
        returns (uint256 paid)
    {
        uint256 reward = c.rewardPerLabel;
        uint256 stakePerTask = c.stakePerTask;
        address token = c.rewardToken;
        address domain = _domain(c);
        for (uint256 bi; bi < bundles.length; ++bi) {
            Tally memory t = tallies[bi];
            // slither-disable-next-line incorrect-equality (a bundle with no task in this call is skipped)
            if (t.tasks == 0) continue;
            address annotator = bundles[bi].bundle.annotator;
            Account storage a = _accounts[annotator];
            a.locked -= uint96(t.tasks * stakePerTask);
            // Each task's slash is at most stakePerTask (validated), and that much per task is locked.
            a.amount -= uint96(t.slashed);
            uint256 earned = (t.agreed + t.goldAgreed) * reward;
            if (earned != 0) claimable[annotator][token] += earned;
            if (t.redistributed != 0) claimable[annotator][address(STAKE_TOKEN)] += t.redistributed;
            Reputation storage rep = _reputation[annotator][domain];
            rep.accepted += uint40(t.agreed);
            rep.rejected += uint40(t.disagreed);
            rep.goldCorrect += uint40(t.goldAgreed);
            rep.goldWrong += uint40(t.goldDisagreed);
            rep.unrevealed += uint40(t.unrevealed);
            paid += earned;
            _emitScored(batchId, bundles[bi].id, annotator, t, earned);
        }
    }

    function _emitScored(uint256 batchId, uint256 bundleId, address annotator, Tally memory t, uint256 earned) internal {
        emit BundleScored(
            batchId,
            bundleId,
            annotator,
            t.tasks,
            t.agreed + t.goldAgreed,
            t.disagreed + t.goldDisagreed,
            earned,
            t.slashed,
            t.redistributed
        );
    }

    /// @dev Whether a committed bundle holds `taskId` in `lane`: follows the task from round 1 through the pools
    ///      of the later rounds until a committed ticket holds it or the rounds run out.
    function _holderCommitted(Ctx memory x, uint256 lane, uint256 taskId) internal view returns (bool) {
        uint256 index = taskId;
        for (uint256 p = 1; p <= x.lastRound; ++p) {
            LaneRound memory lr = _laneRound(x.batchId, p, lane, x.numTasks);
            if (index >= lr.pool) return false;
            bytes32 seed = _seeds[x.batchId][p];
            uint256 ticket = seed == 0 ? index : Permutation.invert(index, lr.pool, _laneSeed(seed, lane));
            if (_ticketCommitted(x.batchId, p, lane, ticket)) return true;
            index = ticket - _committedBelow(x.batchId, p, lane, ticket);
        }
        return false;
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
            cover = _cover(x, one, bundles);
            v = _votes(x, 0, taskId, cover, bundles);
            if (!_inReview(x, v, item % x.taskSize)) revert ItemNotInReview(batchId, item);
        }
        _resolved[batchId][item >> 8] |= 1 << (item & 255);
        b.state.undecided -= 1;
        uint256 paid = _payResolved(b.config, v, cover, bundles, item % b.config.taskSize, label);
        b.state.paid += uint128(paid);
        emit ItemResolved(batchId, item, label, paid);
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
