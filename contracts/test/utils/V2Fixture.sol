// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Base} from "./Base.sol";
import {ConcordToken} from "../../ConcordToken.sol";
import {LabelMarketV2} from "../../LabelMarketV2.sol";
import {LabelMarketV2Settlement} from "../../LabelMarketV2Settlement.sol";
import {LabelMarketV2Optimistic} from "../../LabelMarketV2Optimistic.sol";
import {LabelMarketV2Relay} from "../../LabelMarketV2Relay.sol";
import {ILabelMarketV2, ILabelMarketV2Types} from "../../interfaces/ILabelMarketV2.sol";
import {LabelPacking} from "../../libraries/LabelPacking.sol";

/// @notice Deployment and one-line protocol steps for the v2 market tests: a token, a market, a funded requester,
///         ten staked annotators, and helpers that join, draw the seed, label by a rule, commit, reveal and settle.
abstract contract V2Fixture is Base {
    using LabelPacking for uint256;

    uint256 internal constant COOLDOWN = 7 days;
    uint256 internal constant NUM_ANNOTATORS = 10;
    uint256 internal constant STAKE = 1_000 * UNIT;
    /// @dev A proof's position mask naming every position of its bundle.
    uint32 internal constant ALL_POSITIONS = type(uint32).max;

    ConcordToken internal token;
    LabelMarketV2 internal market;
    address internal treasury = address(0x7EA5);
    address internal requester = address(0xB0B);
    address internal reviewer = address(0xCAFE);
    address[] internal annotators;

    /// @dev A bundle as the tests keep it: id, data, the tasks it holds, its label words and salt.
    struct Held {
        uint256 id;
        ILabelMarketV2Types.Bundle bundle;
        uint256[] tasks;
        uint256[] words;
        bytes32 salt;
    }

    function setUp() public virtual {
        vm.warp(1_700_000_000);
        vm.roll(100);
        token = new ConcordToken(treasury);
        market = new LabelMarketV2(
            token,
            treasury,
            COOLDOWN,
            new LabelMarketV2Settlement(
                token, treasury, new LabelMarketV2Optimistic(token, treasury), new LabelMarketV2Relay(token, treasury)
            )
        );
        vm.prank(treasury);
        require(token.transfer(requester, 10_000_000 * UNIT));
        vm.prank(requester);
        token.approve(address(market), type(uint256).max);
        for (uint256 i; i < NUM_ANNOTATORS; ++i) {
            address a = vm.addr(annKey(i));
            annotators.push(a);
            fund(a, address(market));
            vm.prank(a);
            market.stake(STAKE);
        }
    }

    /// @dev Sends `who` 10,000 tokens from the treasury and approves `spender` for all of its tokens.
    function fund(address who, address spender) internal {
        vm.prank(treasury);
        require(token.transfer(who, 10_000 * UNIT));
        vm.prank(who);
        token.approve(spender, type(uint256).max);
    }

    function ann(uint256 i) internal view returns (address) {
        return annotators[i];
    }

    /// @dev Annotator `i`'s private key (for what it signs).
    function annKey(uint256 i) internal pure returns (uint256) {
        return 0xA000 + i;
    }

    // ------------------------------------------------------------------------------------------------
    // Parameters
    // ------------------------------------------------------------------------------------------------

    /// @dev 8 items in tasks of 4 (2 tasks), r = 3, 4 classes, 2/3 threshold, bundles of up to 2, no gold.
    function defaultParams() internal view returns (ILabelMarketV2Types.BatchParams memory p) {
        p.rewardToken = address(token);
        p.reviewer = reviewer;
        p.numItems = 8;
        p.taskSize = 4;
        p.replicas = 3;
        p.numClasses = 4;
        p.thresholdBps = 6600;
        p.maxBundle = 2;
        p.rewardPerLabel = 1 * UNIT;
        p.stakePerTask = 20e18;
        p.wrongLabelPenalty = 2e18;
        p.noRevealPenalty = 10e18;
        p.squatPenalty = 5e18;
        p.minStake = 50e18;
        p.minReputation = -100;
        p.periods.commitPeriod = 1 days;
        p.periods.revealPeriod = 1 days;
        p.periods.reviewPeriod = 1 days;
        p.periods.roundPeriod = 1 hours;
        p.periods.commitWindow = 2 hours;
        p.manifestRoot = keccak256("manifest");
        p.manifestURI = "ipfs://manifest";
    }

    function escrowOf(ILabelMarketV2Types.BatchParams memory p) internal pure returns (uint256) {
        return uint256(p.numItems) * p.replicas * p.rewardPerLabel;
    }

    function create(ILabelMarketV2Types.BatchParams memory p) internal returns (uint256 id) {
        vm.prank(requester);
        id = market.createBatch(p);
    }

    // ------------------------------------------------------------------------------------------------
    // Labels: the truth of item i of task t, and rules that deviate from it
    // ------------------------------------------------------------------------------------------------

    function truthOf(uint256 task, uint256 item, uint256 numClasses) internal pure returns (uint256) {
        return (task * 7 + item * 3) % numClasses;
    }

    /// @dev The true labels of a task, packed.
    function truthTask(uint256 id, uint256 task) internal view returns (uint256 labels) {
        ILabelMarketV2Types.BatchConfig memory c = market.getBatch(id).config;
        uint256 start = task * c.taskSize;
        for (uint256 i; i < c.taskSize && start + i < c.numItems; ++i) {
            labels = labels.set(i, truthOf(task, i, c.numClasses));
        }
    }

    // ------------------------------------------------------------------------------------------------
    // Steps
    // ------------------------------------------------------------------------------------------------

    /// @dev Joins for up to `maxTasks` and returns the bundle as the `Joined` event describes it.
    function joinAs(address a, uint256 id, uint256 maxTasks) internal returns (Held memory h) {
        vm.prank(a);
        (uint256 bundleId, uint256 size) = market.join(id, maxTasks);
        return heldAfterJoin(id, a, bundleId, size);
    }

    /// @dev The bundle `a` just joined: its tickets end at its lane's `taken` counter.
    function heldAfterJoin(uint256 id, address a, uint256 bundleId, uint256 size)
        internal
        view
        returns (Held memory h)
    {
        (, uint256 lane, uint256 round) = market.memberOf(id, a);
        uint256 taken = market.getLaneRound(id, round, lane).taken;
        h.id = bundleId;
        h.bundle = ILabelMarketV2Types.Bundle(a, uint8(lane), uint16(round), uint32(taken - size), uint8(size));
        h.salt = keccak256(abi.encode("salt", id, bundleId));
    }

    /// @dev Seals the current round if its window passed, mines past the seal block with a fixed hash for the
    ///      seed block, and draws the seed.
    function seedRound(uint256 id, uint256 round) internal {
        ILabelMarketV2Types.Round memory r = market.getRound(id, round);
        if (r.sealBlock == 0) {
            if (vm.getBlockTimestamp() <= r.joinEnd) vm.warp(uint256(r.joinEnd) + 1);
            market.seal(id);
            r = market.getRound(id, round);
        }
        vm.roll(uint256(r.sealBlock) + 2);
        vm.setBlockhash(uint256(r.sealBlock) + 1, keccak256(abi.encode("block", id, round, r.sealBlock)));
        market.drawSeed(id, round);
    }

    /// @dev The bundle's tasks from the market (seed drawn), and labels: the truth, with `wrongItems` (bit i: item i
    ///      of every task) shifted to another class.
    function label(uint256 id, Held memory h, uint256 wrongItems) internal view {
        h.tasks = new uint256[](h.bundle.size);
        h.words = new uint256[]((uint256(h.bundle.size) + 1) / 2);
        uint256 numClasses = market.getBatch(id).config.numClasses;
        for (uint256 m; m < h.bundle.size; ++m) {
            uint256 t = market.taskAt(id, h.bundle.lane, h.bundle.round, uint256(h.bundle.first) + m);
            h.tasks[m] = t;
            uint256 labels = truthTask(id, t);
            for (uint256 i; i < 32; ++i) {
                if ((wrongItems >> i) & 1 != 0) labels = labels.set(i, (labels.get(i) + 1) % numClasses);
            }
            h.words[m / 2] |= labels << (128 * (m % 2));
        }
    }

    function commitAs(uint256 id, Held memory h) internal {
        bytes32 ch = market.commitHashOf(id, h.id, h.bundle.annotator, h.words, h.salt);
        vm.prank(h.bundle.annotator);
        market.commit(id, h.id, h.bundle, ch, "");
    }

    function revealAs(uint256 id, Held memory h) internal {
        vm.prank(h.bundle.annotator);
        market.reveal(id, h.id, h.bundle, h.words, h.salt);
    }

    function revealed(Held memory h) internal pure returns (ILabelMarketV2Types.BundleProof memory p) {
        p.id = uint32(h.id);
        p.positions = ALL_POSITIONS;
        p.bundle = h.bundle;
        p.labels = h.words;
    }

    function unrevealed(uint256 id, Held memory h) internal view returns (ILabelMarketV2Types.BundleProof memory p) {
        p.id = uint32(h.id);
        p.positions = ALL_POSITIONS;
        p.bundle = h.bundle;
        p.commitHash = market.commitHashOf(id, h.id, h.bundle.annotator, h.words, h.salt);
    }

    /// @dev A proof carrying `h`'s reveal: its labels and salt, handed to the settler while the bundle is only
    ///      committed.
    function carried(Held memory h) internal pure returns (ILabelMarketV2Types.BundleProof memory p) {
        p = revealed(h);
        p.salt = h.salt;
    }

    function proofsOf(Held[] memory hs) internal pure returns (ILabelMarketV2Types.BundleProof[] memory ps) {
        ps = new ILabelMarketV2Types.BundleProof[](hs.length);
        for (uint256 i; i < hs.length; ++i) {
            ps[i] = revealed(hs[i]);
        }
    }

    function allTasks(uint256 id) internal view returns (uint256[] memory tasks) {
        tasks = new uint256[](market.getBatch(id).config.numTasks);
        for (uint256 t; t < tasks.length; ++t) {
            tasks[t] = t;
        }
    }

    /// @dev Annotators 0..r-1 each join for the whole lane (2 tasks), the round seals, the seed is drawn, each labels
    ///      (annotator i gets wrongItems[i]) and commits.
    function fullRoundCommitted(uint256 id, uint256[] memory wrong) internal returns (Held[] memory hs) {
        uint256 r = market.getBatch(id).config.replicas;
        uint256 maxBundle = market.getBatch(id).config.maxBundle;
        hs = new Held[](r);
        for (uint256 i; i < r; ++i) {
            hs[i] = joinAs(ann(i), id, maxBundle);
        }
        seedRound(id, 1);
        for (uint256 i; i < r; ++i) {
            label(id, hs[i], wrong[i]);
            commitAs(id, hs[i]);
        }
    }

    function three(uint256 a, uint256 b, uint256 c) internal pure returns (uint256[] memory out) {
        out = new uint256[](3);
        (out[0], out[1], out[2]) = (a, b, c);
    }

    function settleAll(uint256 id, Held[] memory hs) internal returns (uint256) {
        return market.settle(id, allTasks(id), proofsOf(hs));
    }

    function warpPastCommit(uint256 id) internal {
        vm.warp(uint256(market.getBatch(id).config.commitDeadline) + 1);
    }

    function warpPastReveal(uint256 id) internal {
        vm.warp(uint256(market.getBatch(id).config.revealDeadline) + 1);
    }

    function warpPastReview(uint256 id) internal {
        vm.warp(uint256(market.getBatch(id).config.reviewDeadline) + 1);
    }

    /// @dev What a batch's settlement left the first three annotators (rewards and stake shares paid or claimable, stake,
    ///      locked stake, accepted and rejected labels in the batch's domain: six each), the treasury's claimable
    ///      rewards, and the batch's paid and settled tasks.
    function outcome(uint256 id) internal view returns (uint256[21] memory o) {
        address domain = market.domainOf(id);
        address stake = address(market.STAKE_TOKEN());
        for (uint256 i; i < 3; ++i) {
            ILabelMarketV2Types.Account memory a = market.accountOf(ann(i));
            ILabelMarketV2Types.Reputation memory r = market.reputationOf(ann(i), domain);
            // What the annotator was paid or can collect (`settle` credits, an optimistic claim pays directly).
            o[6 * i] = market.claimable(ann(i), address(token)) + token.balanceOf(ann(i));
            o[6 * i + 1] =
                stake == address(token) ? 0 : market.claimable(ann(i), stake) + ConcordToken(stake).balanceOf(ann(i));
            (o[6 * i + 2], o[6 * i + 3]) = (a.amount, a.locked);
            (o[6 * i + 4], o[6 * i + 5]) = (r.accepted, r.rejected);
        }
        o[18] = market.claimable(treasury, address(token));
        o[19] = market.getBatch(id).state.paid;
        o[20] = market.getBatch(id).state.tasksSettled;
    }
}
