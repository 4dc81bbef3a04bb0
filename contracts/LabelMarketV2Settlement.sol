// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";

import {LabelMarketV2Tally} from "./LabelMarketV2Tally.sol";
import {ILabelMarketV2Relay} from "./interfaces/ILabelMarketV2.sol";
import {LabelPacking} from "./libraries/LabelPacking.sol";
import {BundlePacking} from "./libraries/BundlePacking.sol";
import {Permutation} from "./libraries/Permutation.sol";
import {Leaves} from "./libraries/Leaves.sol";
import {BitTally} from "./libraries/BitTally.sol";

/// @title LabelMarketV2Settlement
/// @notice Seeds, the join folded into a commit, gold reveals, settlement, review and expiry of `LabelMarketV2`,
///         run only through the market's `delegatecall` (in the market's storage, behind its re-entrancy guard).
///         Selectors neither the market nor this module has go on to `LabelMarketV2Optimistic` (which also holds
///         `refund`), the relay's to `LabelMarketV2Relay`.
contract LabelMarketV2Settlement is LabelMarketV2Tally {
    using LabelPacking for uint256;
    using LabelPacking for uint64;

    /// @notice The module of optimistic settlement (`LabelMarketV2Optimistic`), run in the market's storage for every
    ///         selector neither the market nor this module has, but the relay's.
    address public immutable OPTIMISTIC;
    /// @notice The module of relayed joins and commits (`LabelMarketV2Relay`), run in the market's storage for
    ///         `relayJoins` and `relayCommits`.
    address public immutable RELAY;

    /// @param stakeToken The market's stake token.
    /// @param treasury The market's treasury.
    /// @param optimistic The optimistic module, deployed with the same stake token and treasury.
    /// @param relay The relayed-commit module, deployed with the same stake token and treasury.
    constructor(IERC20 stakeToken, address treasury, LabelMarketV2Tally optimistic, LabelMarketV2Tally relay)
        LabelMarketV2Tally(stakeToken, treasury)
    {
        if (optimistic.STAKE_TOKEN() != stakeToken || optimistic.TREASURY() != treasury) {
            revert InvalidParams("optimistic");
        }
        if (relay.STAKE_TOKEN() != stakeToken || relay.TREASURY() != treasury) revert InvalidParams("relay");
        OPTIMISTIC = address(optimistic);
        RELAY = address(relay);
    }

    /// @notice Runs a call meant for the optimistic or the relay module in the market's storage; bubbles up its
    ///         revert.
    fallback() external onlyDelegated {
        address target = msg.sig == ILabelMarketV2Relay.relayCommits.selector
            || msg.sig == ILabelMarketV2Relay.relayJoins.selector
            ? RELAY
            : OPTIMISTIC;
        assembly ("memory-safe") {
            calldatacopy(0, 0, calldatasize())
            let ok := delegatecall(gas(), target, 0, calldatasize(), 0, 0)
            returndatacopy(0, 0, returndatasize())
            if iszero(ok) { revert(0, returndatasize()) }
            return(0, returndatasize())
        }
    }

    /// @notice See `ILabelMarketV2.settle`.
    function settle(uint256 batchId, uint256[] calldata tasks, BundleProof[] calldata bundles)
        external
        onlyDelegated
        returns (uint256 settled)
    {
        Batch storage b = _batch(batchId);
        if (_proposals[batchId].status != ProposalStatus.None) revert ProposalPending(batchId);
        Ctx memory x = _ctx(batchId, b, block.timestamp <= b.config.revealDeadline);
        if (x.early && (b.state.committed != x.numTasks * x.replicas || !x.goldOn)) {
            revert SettlementNotOpen(tasks.length == 0 ? 0 : tasks[0], uint256(b.config.revealDeadline) + 1);
        }
        Run memory run = _prepare(x, b, tasks, bundles);
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

    function _settleOne(Ctx memory x, Run memory run, uint256 k) internal {
        uint256 taskId = run.tasks[k];
        uint256 word = taskId >> 8;
        if (word != run.settledWord) {
            _flushSettled(x.batchId, run);
            run.settledWord = word;
            run.settledBits = _settled[x.batchId][word];
        }
        if ((run.settledBits >> (taskId & 255)) & 1 != 0) revert AlreadySettled(x.batchId, taskId);
        run.settledBits |= 1 << (taskId & 255);
        (TaskVotes memory v, BitTally.Outcome memory o) = _tallyOne(x, run, k, taskId);
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
        Batch storage b = _commit(batchId, bundleId, bundle, commitHash, backup, msg.sender);
        // A commit is in the batch's current round (the next one opens after its commit end), so the next is not
        // open yet: the join reserves in it.
        return _reserve(batchId, b, uint256(bundle.round) + 1, bundle.lane, maxTasks, msg.sender);
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
}
