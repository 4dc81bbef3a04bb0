// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {V2Fixture} from "../utils/V2Fixture.sol";
import {LabelMarketV2} from "../../LabelMarketV2.sol";
import {ILabelMarketV2Types, ILabelMarketV2Optimistic, ILabelMarketV2Relay} from "../../interfaces/ILabelMarketV2.sol";
import {Leaves} from "../../libraries/Leaves.sol";
import {Vm} from "../utils/Vm.sol";

/// @notice A reward token that, while armed, calls back every state-changing function of the market from inside
///         its transfers and records whether each call was refused by the re-entrancy guard.
contract ReentrantToken is ERC20 {
    LabelMarketV2 internal market;
    bool public armed;
    uint256 public attempts;
    uint256 public refused;

    constructor() ERC20("Reenter", "RE") {}

    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    function arm(LabelMarketV2 m) external {
        market = m;
        armed = true;
    }

    function _update(address from, address to, uint256 value) internal override {
        super._update(from, to, value);
        if (!armed || from == address(0)) return;
        armed = false;
        bytes[] memory calls = _calls();
        for (uint256 i; i < calls.length; ++i) {
            ++attempts;
            (bool ok, bytes memory ret) = address(market).call(calls[i]);
            if (!ok && ret.length >= 4 && bytes4(ret) == bytes4(keccak256("ReentrancyGuardReentrantCall()"))) {
                ++refused;
            }
        }
        armed = true;
    }

    function _calls() internal view returns (bytes[] memory c) {
        ILabelMarketV2Types.BatchParams memory p;
        ILabelMarketV2Types.Bundle memory b;
        ILabelMarketV2Types.BundleProof[] memory proofs;
        ILabelMarketV2Types.GoldAnswer[] memory gold;
        uint256[] memory words;
        ILabelMarketV2Types.CreditClaim[] memory claims;
        ILabelMarketV2Types.RelayedCommit[] memory relayed = new ILabelMarketV2Types.RelayedCommit[](1);
        ILabelMarketV2Types.RelayedJoin[] memory joins = new ILabelMarketV2Types.RelayedJoin[](1);
        ILabelMarketV2Optimistic opt = ILabelMarketV2Optimistic(address(market));
        c = new bytes[](26);
        c[0] = abi.encodeCall(market.createBatch, (p));
        c[1] = abi.encodeCall(market.createBatchWithPermit, (p, 0, 0, 0, 0));
        c[2] = abi.encodeCall(market.stake, (1));
        c[3] = abi.encodeCall(market.requestUnstake, (1));
        c[4] = abi.encodeCall(market.withdraw, ());
        c[5] = abi.encodeCall(market.qualify, (0, address(this), 0, ""));
        c[6] = abi.encodeCall(market.join, (0, 1));
        c[7] = abi.encodeCall(market.seal, (0));
        c[8] = abi.encodeCall(market.drawSeed, (0, 1));
        c[9] = abi.encodeCall(market.commit, (0, 0, b, 0, ""));
        c[10] = abi.encodeCall(market.reveal, (0, 0, b, words, 0));
        c[11] = abi.encodeCall(market.expire, (0, 0, b));
        c[12] = abi.encodeCall(market.revealGold, (0, gold));
        c[13] = abi.encodeCall(market.settle, (0, words, proofs));
        c[14] = abi.encodeCall(market.resolve, (0, 0, 0, proofs));
        c[15] = abi.encodeCall(market.refund, (0));
        c[16] = abi.encodeCall(market.collect, (address(this)));
        c[17] = abi.encodeCall(market.commitAndJoin, (0, 0, b, 0, "", 1));
        c[18] = abi.encodeCall(opt.propose, (0, proofs, words));
        c[19] = abi.encodeCall(opt.challenge, (0, 0, 0, 0, new bytes32[](0), words, proofs));
        c[20] = abi.encodeCall(opt.finalize, (0));
        c[21] = abi.encodeCall(opt.claim, (0, claims));
        c[22] = abi.encodeCall(opt.tally, (0, words, proofs));
        c[23] = abi.encodeCall(opt.claimAll, (0, words));
        c[24] = abi.encodeCall(ILabelMarketV2Relay(address(market)).relayCommits, (0, relayed));
        c[25] = abi.encodeCall(ILabelMarketV2Relay(address(market)).relayJoins, (0, joins));
    }
}

/// @notice v2: settle (coverage, timing, unrevealed, empty lanes), gold and its bond, review and what inaction
///         costs, refund, reputation domains, stake queue, collect, and re-entrancy from a token callback.
contract LabelMarketV2SettleTest is V2Fixture {
    function revealAll(uint256 id, Held[] memory hs) internal {
        for (uint256 i; i < hs.length; ++i) {
            revealAs(id, hs[i]);
        }
    }

    // ------------------------------------------------------------------------------------------------
    // settle: what must be supplied, and when
    // ------------------------------------------------------------------------------------------------

    function test_settle_revertsBeforeEveryLaneIsRevealed() public {
        uint256 id = create(defaultParams());
        Held[] memory hs = fullRoundCommitted(id, three(0, 0, 0));
        revealAs(id, hs[0]);
        revealAs(id, hs[1]);
        ILabelMarketV2Types.BundleProof[] memory ps = proofsOf(hs);
        ps[2] = unrevealed(id, hs[2]);
        uint256[] memory tasks = allTasks(id);
        uint256 opensAt = uint256(market.getBatch(id).config.revealDeadline) + 1;
        vm.expectRevert(abi.encodeWithSelector(ILabelMarketV2Types.SettlementNotOpen.selector, 0, opensAt));
        market.settle(id, tasks, ps);
    }

    function test_settle_revertsWhenACommittedHolderIsLeftOut() public {
        uint256 id = create(defaultParams());
        Held[] memory hs = fullRoundCommitted(id, three(0, 0, 0));
        revealAll(id, hs);
        Held[] memory two = new Held[](2);
        (two[0], two[1]) = (hs[0], hs[1]);
        uint256[] memory tasks = allTasks(id);
        vm.expectRevert(abi.encodeWithSelector(ILabelMarketV2Types.MissingBundle.selector, 0, 2));
        market.settle(id, tasks, proofsOf(two));
        // Also after the reveal deadline: a committed holder can never be skipped.
        warpPastReveal(id);
        vm.expectRevert(abi.encodeWithSelector(ILabelMarketV2Types.MissingBundle.selector, 0, 2));
        market.settle(id, tasks, proofsOf(two));
    }

    /// @dev A proof of `h` naming only its positions that hold `task`.
    function onlyTask(Held memory h, uint256 task) internal pure returns (ILabelMarketV2Types.BundleProof memory p) {
        p = revealed(h);
        p.positions = 0;
        for (uint256 m; m < h.tasks.length; ++m) {
            if (h.tasks[m] == task) p.positions |= uint32(1 << m);
        }
    }

    function test_settle_revertsWhenAProofLeavesOutAPositionOfTheCall() public {
        uint256 id = create(defaultParams());
        Held[] memory hs = fullRoundCommitted(id, three(0, 0, 0));
        revealAll(id, hs);
        ILabelMarketV2Types.BundleProof[] memory ps = proofsOf(hs);
        // Lane 2's proof names only its position of task 0, but the call settles task 1 too.
        ps[2] = onlyTask(hs[2], 0);
        uint256[] memory tasks = allTasks(id);
        vm.expectRevert(abi.encodeWithSelector(ILabelMarketV2Types.MissingBundle.selector, 1, hs[2].bundle.lane));
        market.settle(id, tasks, ps);
        // A proof naming no position at all counts as left out as well.
        ps[2].positions = 0;
        vm.expectRevert(abi.encodeWithSelector(ILabelMarketV2Types.MissingBundle.selector, 0, hs[2].bundle.lane));
        market.settle(id, tasks, ps);
    }

    // ------------------------------------------------------------------------------------------------
    // settle carrying reveals: labels and salts handed to the settler, no reveal transaction
    // ------------------------------------------------------------------------------------------------

    function carriedAll(Held[] memory hs) internal pure returns (ILabelMarketV2Types.BundleProof[] memory ps) {
        ps = new ILabelMarketV2Types.BundleProof[](hs.length);
        for (uint256 i; i < hs.length; ++i) {
            ps[i] = carried(hs[i]);
        }
    }

    function test_settle_carriedRevealsPayAsIfEachAnnotatorHadRevealed() public {
        uint256 id = create(defaultParams());
        Held[] memory hs = fullRoundCommitted(id, three(0, 0, 5)); // ann2 wrong on items 0 and 2
        uint256 snap = vm.snapshotState();
        revealAll(id, hs);
        settleAll(id, hs);
        uint256[21] memory viaReveals = outcome(id);
        uint256 paid = market.getBatch(id).state.paid;
        vm.revertToState(snap);

        for (uint256 i; i < 3; ++i) {
            vm.expectEmit(address(market));
            emit ILabelMarketV2Types.Revealed(id, hs[i].id, hs[i].bundle.annotator, hs[i].words);
        }
        vm.prank(address(0xA11CE));
        assertEq(market.settle(id, allTasks(id), carriedAll(hs)), 2, "both tasks");
        uint256[21] memory viaSettle = outcome(id);
        for (uint256 k; k < 18; ++k) {
            assertEq(viaSettle[k], viaReveals[k], "same payouts, stake and reputation");
        }
        assertGt(viaSettle[12 + 5], 0, "ann2 had labels rejected");
        assertEq(market.getBatch(id).state.paid, paid, "same rewards paid");
        for (uint256 i; i < 3; ++i) {
            assertEq(
                uint256(market.bundleStatus(id, hs[i].id)), uint256(ILabelMarketV2Types.Status.Revealed), "revealed"
            );
            vm.prank(hs[i].bundle.annotator);
            vm.expectRevert(
                abi.encodeWithSelector(
                    ILabelMarketV2Types.BundleMismatch.selector, hs[i].id, ILabelMarketV2Types.Status.Committed
                )
            );
            market.reveal(id, hs[i].id, hs[i].bundle, hs[i].words, hs[i].salt);
        }
    }

    function test_settle_aCarriedRevealMustOpenItsCommitment() public {
        uint256 id = create(defaultParams());
        Held[] memory hs = fullRoundCommitted(id, three(0, 0, 0));
        uint256[] memory tasks = allTasks(id);
        ILabelMarketV2Types.BundleProof[] memory ps = carriedAll(hs);
        ps[1].salt = keccak256("another salt");
        vm.expectRevert(ILabelMarketV2Types.CommitMismatch.selector);
        market.settle(id, tasks, ps);

        ps = carriedAll(hs);
        uint256[] memory other = new uint256[](hs[1].words.length);
        for (uint256 w; w < other.length; ++w) {
            other[w] = hs[1].words[w];
        }
        other[0] ^= 1; // item 0 of the first task: another class
        ps[1].labels = other;
        vm.expectRevert(ILabelMarketV2Types.CommitMismatch.selector);
        market.settle(id, tasks, ps);

        // Nor can another annotator's name be put on the bundle.
        ps = carriedAll(hs);
        ps[1].bundle = ILabelMarketV2Types.Bundle(ann(5), hs[1].bundle.lane, 1, hs[1].bundle.first, hs[1].bundle.size);
        vm.expectRevert(ILabelMarketV2Types.CommitMismatch.selector);
        market.settle(id, tasks, ps);

        // Carrying only some reveals is not enough to settle before the deadline: every lane must be revealed.
        ps = carriedAll(hs);
        ps[2] = unrevealed(id, hs[2]);
        uint256 opensAt = uint256(market.getBatch(id).config.revealDeadline) + 1;
        vm.expectRevert(abi.encodeWithSelector(ILabelMarketV2Types.SettlementNotOpen.selector, 0, opensAt));
        market.settle(id, tasks, ps);
    }

    function test_settle_carriedRevealsAreRefusedAfterTheRevealDeadline() public {
        uint256 id = create(defaultParams());
        Held[] memory hs = fullRoundCommitted(id, three(0, 0, 0));
        revealAs(id, hs[0]);
        revealAs(id, hs[1]);
        warpPastReveal(id);
        // After the deadline a settler could pick which reveals count: only the annotators' own do.
        ILabelMarketV2Types.BundleProof[] memory ps = proofsOf(hs);
        ps[2] = carried(hs[2]);
        uint256 deadline = market.getBatch(id).config.revealDeadline;
        uint256[] memory tasks = allTasks(id);
        vm.expectRevert(abi.encodeWithSelector(ILabelMarketV2Types.RevealPhaseOver.selector, deadline));
        market.settle(id, tasks, ps);
        ps[2] = unrevealed(id, hs[2]);
        assertEq(market.settle(id, tasks, ps), 2, "settles with lane 2 unrevealed");
        assertEq(market.reputationOf(ann(2), market.domainOf(id)).unrevealed, 2, "both tasks unrevealed");
    }

    function test_settle_aCarriedRevealWithLabelsOutOfRangeIsRefused() public {
        uint256 id = create(defaultParams());
        uint256 maxBundle = market.getBatch(id).config.maxBundle;
        Held[] memory hs = new Held[](3);
        for (uint256 i; i < 3; ++i) {
            hs[i] = joinAs(ann(i), id, maxBundle);
        }
        seedRound(id, 1);
        for (uint256 i; i < 3; ++i) {
            label(id, hs[i], 0);
        }
        hs[2].words[0] = (hs[2].words[0] & ~uint256(0xF << 12)) | (uint256(5) << 12); // task 0, item 3: class 5 of 4
        for (uint256 i; i < 3; ++i) {
            commitAs(id, hs[i]);
        }
        uint256[] memory tasks = allTasks(id);
        vm.expectRevert(abi.encodeWithSelector(ILabelMarketV2Types.LabelOutOfRange.selector, 0, 3, 5));
        market.settle(id, tasks, carriedAll(hs));
    }

    function test_settle_revealedAndCarriedBundlesMix() public {
        uint256 id = create(defaultParams());
        Held[] memory hs = fullRoundCommitted(id, three(0, 1, 0));
        revealAs(id, hs[0]);
        ILabelMarketV2Types.BundleProof[] memory ps = carriedAll(hs); // hs[0]'s salt is ignored: it is revealed
        vm.recordLogs();
        assertEq(market.settle(id, allTasks(id), ps), 2, "both tasks");
        bytes32 topic = ILabelMarketV2Types.Revealed.selector;
        uint256 reveals;
        Vm.Log[] memory logs = vm.getRecordedLogs();
        for (uint256 i; i < logs.length; ++i) {
            if (logs[i].topics[0] == topic) ++reveals;
        }
        assertEq(reveals, 2, "one Revealed per carried reveal, none for the bundle already revealed");
    }

    function test_resolve_refusesACarriedReveal() public {
        ILabelMarketV2Types.BatchParams memory p = defaultParams();
        p.thresholdBps = 10_000; // unanimity: one dissent leaves the item undecided
        uint256 id = create(p);
        Held[] memory hs = fullRoundCommitted(id, three(0, 2, 0)); // ann1 wrong on item 1
        revealAs(id, hs[1]);
        revealAs(id, hs[2]);
        warpPastReveal(id);
        ILabelMarketV2Types.BundleProof[] memory ps = proofsOf(hs);
        ps[0] = unrevealed(id, hs[0]);
        settleInReview(id, ps);
        ps[0] = carried(hs[0]);
        uint256 deadline = market.getBatch(id).config.revealDeadline;
        vm.expectRevert(abi.encodeWithSelector(ILabelMarketV2Types.RevealPhaseOver.selector, deadline));
        vm.prank(reviewer);
        market.resolve(id, 1, uint8(truthOf(0, 1, 4)), ps);
    }

    function settleInReview(uint256 id, ILabelMarketV2Types.BundleProof[] memory ps) internal {
        assertEq(market.settle(id, allTasks(id), ps), 2, "both tasks");
        assertEq(market.getBatch(id).state.undecided, 2, "item 1 of both tasks in review");
    }

    function test_settle_inPartsReadsEachPositionOnceAndPaysAsOneCall() public {
        uint256 id = create(defaultParams());
        Held[] memory hs = fullRoundCommitted(id, three(0, 0, 1));
        revealAll(id, hs);
        warpPastReveal(id);
        for (uint256 t; t < 2; ++t) {
            ILabelMarketV2Types.BundleProof[] memory ps = new ILabelMarketV2Types.BundleProof[](3);
            for (uint256 i; i < 3; ++i) {
                ps[i] = onlyTask(hs[i], t);
            }
            uint256[] memory one = new uint256[](1);
            one[0] = t;
            assertEq(market.settle(id, one, ps), 1, "one task per call");
        }
        // Lane 2 got item 0 of both tasks wrong: 2 slashes shared by the two agreeing lanes, everything unlocked.
        for (uint256 i; i < 3; ++i) {
            assertEq(market.accountOf(ann(i)).locked, 0, "all unlocked");
        }
        assertEq(market.reputationOf(ann(2), requester).rejected, 2, "two wrong labels over the two calls");
        assertEq(market.reputationOf(ann(0), requester).accepted, 8, "eight agreeing labels over the two calls");
        assertEq(
            market.accountOf(ann(2)).amount, STAKE - 2 * market.getBatch(id).config.wrongLabelPenalty, "slashed twice"
        );
    }

    /// @dev Three annotators, one per lane, each holding one bundle of one task in each of two rounds (ann(2) gets
    ///      item 0 wrong), all revealed. Returns the six bundles: round 1's three, then round 2's.
    function twoRoundsEach() internal returns (uint256 id, Held[] memory hs) {
        ILabelMarketV2Types.BatchParams memory p = defaultParams();
        p.maxBundle = 1;
        id = create(p);
        hs = new Held[](6);
        for (uint256 round = 1; round <= 2; ++round) {
            if (round == 2) vm.warp(uint256(market.getRound(id, 1).commitEnd) + 1);
            for (uint256 i; i < 3; ++i) {
                hs[3 * (round - 1) + i] = joinAs(ann(i), id, 1);
            }
            seedRound(id, round);
            for (uint256 i; i < 3; ++i) {
                Held memory h = hs[3 * (round - 1) + i];
                label(id, h, i == 2 ? 1 : 0);
                commitAs(id, h);
            }
        }
        revealAll(id, hs);
    }

    function test_settle_anAnnotatorsBundlesTogetherOrApartCreditTheSame() public {
        (uint256 a, Held[] memory grouped) = twoRoundsEach();
        (uint256 b, Held[] memory apart) = twoRoundsEach();
        assertEq(grouped[3].bundle.round, 2, "two rounds");
        assertEq(grouped[3].bundle.annotator, ann(0), "the same annotators in round 2");
        // Batch a: each annotator's two bundles next to each other; batch b: round by round.
        Held[] memory order = new Held[](6);
        for (uint256 i; i < 3; ++i) {
            (order[2 * i], order[2 * i + 1]) = (grouped[i], grouped[3 + i]);
        }
        uint256[] memory before = snapshot();
        assertEq(settleAll(a, order), 2, "batch a settled");
        uint256[] memory afterGrouped = snapshot();
        assertEq(settleAll(b, apart), 2, "batch b settled");
        uint256[] memory afterApart = snapshot();
        for (uint256 k; k < before.length; ++k) {
            assertEq(afterGrouped[k] - before[k], afterApart[k] - afterGrouped[k], "same credit either way");
        }
        assertEq(afterGrouped[6] - before[6], 2 * market.getBatch(a).config.wrongLabelPenalty, "ann(2) slashed twice");
        // ann(0): 8 agreeing labels at 1 CCD, and half of each of ann(2)'s two 2-CCD slashes.
        assertEq(afterGrouped[0] - before[0], 10 * UNIT, "ann(0): rewards and its share of the slashes");
    }

    /// @dev What settlement credits, as numbers that only grow: claimable (reward and stake token are one here) of
    ///      ann(0..2), ann(2)'s accepted and rejected labels, ann(0)'s accepted labels, ann(2)'s stake slashed, and
    ///      the stake unlocked from the three.
    function snapshot() internal view returns (uint256[] memory s) {
        s = new uint256[](8);
        for (uint256 i; i < 2; ++i) {
            s[i] = market.claimable(ann(i), address(token));
        }
        s[2] = market.claimable(ann(2), address(token));
        ILabelMarketV2Types.Reputation memory r2 = market.reputationOf(ann(2), requester);
        s[3] = r2.accepted;
        s[4] = r2.rejected;
        s[5] = market.reputationOf(ann(0), requester).accepted;
        s[6] = STAKE - market.accountOf(ann(2)).amount;
        s[7] = 3 * 1e30 - market.accountOf(ann(0)).locked - market.accountOf(ann(1)).locked
            - market.accountOf(ann(2)).locked;
    }

    function test_settle_revertsOnTheSameBundleTwiceOrTamperedLabels() public {
        uint256 id = create(defaultParams());
        Held[] memory hs = fullRoundCommitted(id, three(0, 0, 0));
        revealAll(id, hs);
        Held[] memory dup = new Held[](4);
        (dup[0], dup[1], dup[2], dup[3]) = (hs[0], hs[1], hs[2], hs[0]);
        uint256[] memory tasks = allTasks(id);
        vm.expectRevert(abi.encodeWithSelector(ILabelMarketV2Types.DuplicateBundle.selector, hs[0].id));
        market.settle(id, tasks, proofsOf(dup));
        ILabelMarketV2Types.BundleProof[] memory ps = proofsOf(hs);
        uint256[] memory forged = new uint256[](1);
        forged[0] = hs[1].words[0] ^ 1;
        ps[1].labels = forged;
        vm.expectRevert(
            abi.encodeWithSelector(
                ILabelMarketV2Types.BundleMismatch.selector, hs[1].id, ILabelMarketV2Types.Status.Revealed
            )
        );
        market.settle(id, tasks, ps);
    }

    function test_settle_revertsOnUnsortedOrAlreadySettledTasks() public {
        uint256 id = create(defaultParams());
        Held[] memory hs = fullRoundCommitted(id, three(0, 0, 0));
        revealAll(id, hs);
        uint256[] memory tasks = new uint256[](2);
        (tasks[0], tasks[1]) = (1, 0);
        vm.expectRevert(ILabelMarketV2Types.TasksNotSorted.selector);
        market.settle(id, tasks, proofsOf(hs));
        uint256[] memory one = new uint256[](1);
        one[0] = 1;
        market.settle(id, one, proofsOf(hs));
        for (uint256 i; i < 3; ++i) {
            assertEq(market.accountOf(ann(i)).locked, 20 * UNIT, "one task's stake still locked");
        }
        uint256[] memory both = allTasks(id);
        vm.expectRevert(abi.encodeWithSelector(ILabelMarketV2Types.AlreadySettled.selector, id, 1));
        market.settle(id, both, proofsOf(hs));
        one[0] = 0;
        market.settle(id, one, proofsOf(hs));
        for (uint256 i; i < 3; ++i) {
            assertEq(market.accountOf(ann(i)).locked, 0, "all unlocked");
        }
        assertTrue(market.isSettled(id, 0) && market.isSettled(id, 1), "both settled");
    }

    function test_settle_revertsUnknownTask() public {
        uint256 id = create(defaultParams());
        Held[] memory hs = fullRoundCommitted(id, three(0, 0, 0));
        revealAll(id, hs);
        warpPastReveal(id);
        uint256[] memory tasks = new uint256[](1);
        tasks[0] = 2; // the batch has tasks 0 and 1
        ILabelMarketV2Types.BundleProof[] memory ps = proofsOf(hs);
        vm.expectRevert(abi.encodeWithSelector(ILabelMarketV2Types.UnknownTask.selector, id, 2));
        market.settle(id, tasks, ps);
    }

    function test_settle_unrevealedCommitIsSlashedAfterTheRevealDeadline() public {
        uint256 id = create(defaultParams());
        Held[] memory hs = fullRoundCommitted(id, three(0, 0, 0));
        revealAs(id, hs[0]);
        revealAs(id, hs[1]);
        warpPastReveal(id);
        ILabelMarketV2Types.BundleProof[] memory ps = proofsOf(hs);
        ps[2] = unrevealed(id, hs[2]);
        market.settle(id, allTasks(id), ps);
        assertEq(market.accountOf(ann(2)).amount, STAKE - 20 * UNIT, "2 tasks x noRevealPenalty");
        assertEq(market.accountOf(ann(2)).locked, 0, "unlocked");
        assertEq(market.reputationOf(ann(2), requester).unrevealed, 2, "two no-shows");
        assertEq(market.claimable(treasury, address(token)), 20 * UNIT, "no-reveal slashes to the treasury");
        assertEq(market.claimable(ann(0), address(token)), 8 * UNIT, "two agreeing votes still decide");
    }

    function test_settle_anEmptyLaneNeedsNoBundleAfterTheRevealDeadline() public {
        uint256 id = create(defaultParams());
        Held[] memory hs = new Held[](2);
        hs[0] = joinAs(ann(0), id, 2);
        hs[1] = joinAs(ann(1), id, 2);
        seedRound(id, 1);
        for (uint256 i; i < 2; ++i) {
            label(id, hs[i], 0);
            commitAs(id, hs[i]);
        }
        warpPastCommit(id);
        revealAll(id, hs);
        uint256[] memory tasks = allTasks(id);
        uint256 opensAt = uint256(market.getBatch(id).config.revealDeadline) + 1;
        vm.expectRevert(abi.encodeWithSelector(ILabelMarketV2Types.SettlementNotOpen.selector, 0, opensAt));
        market.settle(id, tasks, proofsOf(hs));
        warpPastReveal(id);
        assertEq(settleAll(id, hs), 2, "lane 2 proven empty");
        assertEq(market.getBatch(id).state.paid, 16 * UNIT, "two lanes x 8 labels");
    }

    // ------------------------------------------------------------------------------------------------
    // review, refund: inaction does not pay the requester
    // ------------------------------------------------------------------------------------------------

    /// @dev The generation market reads each review datapoint's outcome from the market: stored (22.1k a task) only
    ///      for batches whose qualifier is a contract, and revised when the reviewer decides an item.
    function test_outcomeOf_storedOnlyForAContractQualifierAndRevisedByTheReviewer() public {
        address gate = address(0x6A7E);
        address key = address(0x6B7E);
        vm.etch(gate, hex"00"); // a contract qualifier
        uint256[2] memory ids;
        for (uint256 b; b < 2; ++b) {
            ILabelMarketV2Types.BatchParams memory p = defaultParams();
            p.thresholdBps = 10_000; // unanimity: ann1's dissent leaves item 1 undecided
            p.qualifier = b == 0 ? gate : key;
            ids[b] = create(p);
            for (uint256 i; i < 3; ++i) {
                vm.prank(p.qualifier);
                market.qualify(ids[b], ann(i), 0, "");
            }
            Held[] memory hs = fullRoundCommitted(ids[b], three(0, 2, 0));
            revealAll(ids[b], hs);
            assertEq(market.outcomeOf(ids[b], 0), 0, "nothing before settlement");
            settleAll(ids[b], hs);
            if (b == 0) {
                uint256 w = market.outcomeOf(ids[b], 0);
                assertEq(w >> 255, 1, "settled flag");
                assertEq((w >> 128) & 0xFFFF, 0x8808, "items 0, 2, 3 decided; item 1 not");
                assertEq(w & 0xFFFF, truthTask(ids[b], 0) & 0xFF0F, "the consensus of the decided items");
                uint256 truth = truthOf(0, 1, 4);
                vm.prank(reviewer);
                market.resolve(ids[b], 1, uint8(truth), proofsOf(hs));
                w = market.outcomeOf(ids[b], 0);
                assertEq((w >> 128) & 0xFFFF, 0x8888, "item 1 decided by the reviewer");
                assertEq(w & 0xFFFF, truthTask(ids[b], 0), "with the reviewer's label");
                assertEq(market.outcomeOf(ids[b], 1) >> 255, 1, "the other task too");
            } else {
                assertEq(market.outcomeOf(ids[b], 0), 0, "not stored for a key qualifier");
                assertEq(market.outcomeOf(ids[b], 1), 0, "nor its other task");
            }
        }
    }

    function test_resolve_paysAgreeingLabelsAndLeftoversGoToTheTreasury() public {
        ILabelMarketV2Types.BatchParams memory p = defaultParams();
        p.thresholdBps = 10_000; // unanimity: one dissent leaves the item undecided
        uint256 id = create(p);
        Held[] memory hs = fullRoundCommitted(id, three(0, 2, 0)); // ann1 wrong on item 1 of both tasks
        revealAll(id, hs);
        vm.expectRevert(abi.encodeWithSelector(ILabelMarketV2Types.TaskNotSettled.selector, id, 0));
        vm.prank(reviewer);
        market.resolve(id, 1, 0, proofsOf(hs));
        settleAll(id, hs);
        assertEq(market.getBatch(id).state.undecided, 2, "item 1 of both tasks");
        assertEq(market.getBatch(id).state.paid, 18 * UNIT, "3 decided items x 3 lanes x 2 tasks");

        uint256 truth = truthOf(0, 1, 4);
        vm.expectRevert(abi.encodeWithSelector(ILabelMarketV2Types.NotReviewer.selector, requester));
        vm.prank(requester);
        market.resolve(id, 1, uint8(truth), proofsOf(hs));
        vm.expectRevert(abi.encodeWithSelector(ILabelMarketV2Types.ItemNotInReview.selector, id, 0));
        vm.prank(reviewer);
        market.resolve(id, 0, uint8(truthOf(0, 0, 4)), proofsOf(hs));
        Held[] memory two = new Held[](2);
        (two[0], two[1]) = (hs[0], hs[2]);
        vm.expectRevert(abi.encodeWithSelector(ILabelMarketV2Types.MissingBundle.selector, 0, 1));
        vm.prank(reviewer);
        market.resolve(id, 1, uint8(truth), proofsOf(two));
        // A class nobody gave would pay nobody and hand the item's escrow back to the requester at refund.
        uint256 nobody = (truth + 2) % 4;
        vm.expectRevert(abi.encodeWithSelector(ILabelMarketV2Types.DecisionWithoutLabel.selector, 1, nobody));
        vm.prank(reviewer);
        market.resolve(id, 1, uint8(nobody), proofsOf(hs));

        vm.expectEmit(address(market));
        emit ILabelMarketV2Types.ItemResolved(id, 1, truth, 2 * UNIT);
        vm.prank(reviewer);
        market.resolve(id, 1, uint8(truth), proofsOf(hs));
        assertTrue(market.isResolved(id, 1), "resolved");
        assertEq(market.getBatch(id).state.undecided, 1, "one left");
        vm.expectRevert(abi.encodeWithSelector(ILabelMarketV2Types.ItemNotInReview.selector, id, 1));
        vm.prank(reviewer);
        market.resolve(id, 1, uint8(truth), proofsOf(hs));

        // The reviewer lets the other item lapse: its escrow (3 labels) goes to the treasury, not back.
        warpPastReview(id);
        vm.expectRevert(
            abi.encodeWithSelector(ILabelMarketV2Types.ReviewClosed.selector, market.getBatch(id).config.reviewDeadline)
        );
        vm.prank(reviewer);
        market.resolve(id, 5, 0, proofsOf(hs));
        uint256 before = token.balanceOf(requester);
        vm.expectEmit(address(market));
        emit ILabelMarketV2Types.Refunded(id, requester, 1 * UNIT, 3 * UNIT);
        market.refund(id);
        assertEq(token.balanceOf(requester) - before, 1 * UNIT, "24 - 20 paid - 3 withheld");
        assertEq(market.claimable(treasury, address(token)), 3 * UNIT, "withheld escrow");
        vm.expectRevert(abi.encodeWithSelector(ILabelMarketV2Types.AlreadyRefunded.selector, id));
        market.refund(id);
    }

    function test_refund_waitsForTheReviewWindowAndEveryTask() public {
        ILabelMarketV2Types.BatchParams memory p = defaultParams();
        p.reviewer = address(0);
        p.thresholdBps = 10_000;
        uint256 id = create(p);
        Held[] memory hs = fullRoundCommitted(id, three(0, 2, 0));
        revealAll(id, hs);
        uint256 reviewDeadline = market.getBatch(id).config.reviewDeadline;
        vm.expectRevert(abi.encodeWithSelector(ILabelMarketV2Types.RefundNotOpen.selector, reviewDeadline + 1, 0, 2));
        market.refund(id);
        warpPastReview(id);
        vm.expectRevert(abi.encodeWithSelector(ILabelMarketV2Types.RefundNotOpen.selector, reviewDeadline + 1, 0, 2));
        market.refund(id);
        settleAll(id, hs);
        assertEq(market.getBatch(id).state.undecided, 0, "no reviewer: nothing held for review");
        uint256 before = token.balanceOf(requester);
        market.refund(id);
        assertEq(token.balanceOf(requester) - before, 6 * UNIT, "without a reviewer undecided escrow is refunded");
    }

    // ------------------------------------------------------------------------------------------------
    // gold
    // ------------------------------------------------------------------------------------------------

    function goldParams(uint256 item, uint256 goldLabel)
        internal
        view
        returns (ILabelMarketV2Types.BatchParams memory p)
    {
        p = defaultParams();
        p.goldRoot = Leaves.goldLeaf(item, goldLabel, keccak256("gold salt")); // a one-leaf tree
        p.goldCount = 1;
        p.goldBond = 5 * UNIT;
    }

    function goldAnswer(uint256 item, uint256 goldLabel)
        internal
        pure
        returns (ILabelMarketV2Types.GoldAnswer[] memory g)
    {
        g = new ILabelMarketV2Types.GoldAnswer[](1);
        g[0] = ILabelMarketV2Types.GoldAnswer(uint32(item), uint8(goldLabel), keccak256("gold salt"), new bytes32[](0));
    }

    function test_gold_disagreementIsSlashedToTheTreasuryAndTheBondComesBack() public {
        uint256 id = create(goldParams(0, truthOf(0, 0, 4)));
        Held[] memory hs = fullRoundCommitted(id, three(0, 0, 1)); // ann2 wrong on item 0 of both tasks
        revealAll(id, hs);
        vm.expectRevert(
            abi.encodeWithSelector(
                ILabelMarketV2Types.GoldRevealClosed.selector,
                uint256(market.getBatch(id).config.commitDeadline) + 1,
                market.getBatch(id).config.revealDeadline
            )
        );
        vm.prank(requester);
        market.revealGold(id, goldAnswer(0, truthOf(0, 0, 4)));
        warpPastCommit(id);
        vm.expectRevert(abi.encodeWithSelector(ILabelMarketV2Types.InvalidGoldProof.selector, 0));
        market.revealGold(id, goldAnswer(0, (truthOf(0, 0, 4) + 1) % 4));
        vm.expectRevert(abi.encodeWithSelector(ILabelMarketV2Types.UnknownItem.selector, id, 8));
        market.revealGold(id, goldAnswer(8, 0));
        vm.expectRevert(abi.encodeWithSelector(ILabelMarketV2Types.LabelOutOfRange.selector, 0, 0, 4));
        market.revealGold(id, goldAnswer(0, 4));
        vm.expectEmit(address(market));
        emit ILabelMarketV2Types.GoldRevealed(id, 0, truthOf(0, 0, 4));
        market.revealGold(id, goldAnswer(0, truthOf(0, 0, 4)));
        vm.expectRevert(abi.encodeWithSelector(ILabelMarketV2Types.GoldAlreadyRevealed.selector, 0));
        market.revealGold(id, goldAnswer(0, truthOf(0, 0, 4)));
        (uint256 mask,) = market.goldOf(id, 0);
        assertEq(mask, 1, "gold on item 0 of task 0");

        settleAll(id, hs);
        // Task 0 item 0 is gold: ann2's slash goes to the treasury. Task 1 item 0 is consensus: shared by ann0, ann1.
        assertEq(market.claimable(treasury, address(token)), 2 * UNIT, "gold slash");
        assertEq(market.claimable(ann(0), address(token)), 8 * UNIT + 1 * UNIT, "rewards + one coherence share");
        assertEq(market.reputationOf(ann(2), requester).goldWrong, 1, "gold miss on record");
        assertEq(market.reputationOf(ann(0), requester).goldCorrect, 1, "gold hit on record");
        vm.expectRevert(abi.encodeWithSelector(ILabelMarketV2Types.AlreadySettled.selector, id, 0));
        market.revealGold(id, goldAnswer(0, truthOf(0, 0, 4)));

        warpPastReview(id);
        uint256 before = token.balanceOf(requester);
        market.refund(id);
        assertEq(token.balanceOf(requester) - before, 24 * UNIT - 22 * UNIT + 5 * UNIT, "unspent + bond");
    }

    /// @dev One `TasksSettled` per call, two words per task in the call's order: result | decided << 128, then
    ///      taskId | revealed lanes << 32 | gold << 128.
    function test_settle_emitsOneTasksSettledWithEachTasksOutcome() public {
        uint256 id = create(goldParams(0, truthOf(0, 0, 4)));
        Held[] memory hs = fullRoundCommitted(id, three(0, 0, 1)); // ann2 wrong on item 0 of both tasks
        revealAll(id, hs);
        warpPastCommit(id);
        market.revealGold(id, goldAnswer(0, truthOf(0, 0, 4)));
        vm.recordLogs();
        settleAll(id, hs);
        Vm.Log[] memory logs = vm.getRecordedLogs();
        uint256[] memory words;
        uint256 found;
        for (uint256 i; i < logs.length; ++i) {
            if (logs[i].topics[0] != ILabelMarketV2Types.TasksSettled.selector) continue;
            ++found;
            assertEq(uint256(logs[i].topics[1]), id, "indexed by batch");
            words = abi.decode(logs[i].data, (uint256[]));
        }
        assertEq(found, 1, "one event for the call");
        assertEq(words.length, 4, "two words per task");
        for (uint256 t; t < 2; ++t) {
            // Every item decided (item 0: gold in task 0, 2 of 3 in task 1), each at its true label.
            assertEq(words[2 * t], truthTask(id, t) | (uint256(0x8888) << 128), "result | decided");
            assertEq(words[2 * t + 1], t | (7 << 32) | (uint256(t == 0 ? 8 : 0) << 128), "task | lanes | gold");
        }
    }

    function test_gold_withheldGoldIsIgnoredAndForfeitsTheBond() public {
        uint256 id = create(goldParams(0, truthOf(0, 0, 4)));
        Held[] memory hs = fullRoundCommitted(id, three(0, 0, 1));
        revealAll(id, hs);
        uint256[] memory tasks = allTasks(id);
        uint256 opensAt = uint256(market.getBatch(id).config.revealDeadline) + 1;
        vm.expectRevert(abi.encodeWithSelector(ILabelMarketV2Types.SettlementNotOpen.selector, 0, opensAt));
        market.settle(id, tasks, proofsOf(hs)); // gold may still come
        warpPastReveal(id);
        settleAll(id, hs);
        assertEq(market.claimable(treasury, address(token)), 0, "no gold slash: gold was never revealed");
        assertEq(market.claimable(ann(0), address(token)), 8 * UNIT + 2 * UNIT, "consensus on both item 0s");
        warpPastReview(id);
        uint256 before = token.balanceOf(requester);
        market.refund(id);
        assertEq(token.balanceOf(requester) - before, 2 * UNIT, "unspent only");
        assertEq(market.claimable(treasury, address(token)), 5 * UNIT, "the bond went to the treasury");
    }

    function test_revealGold_revertsWithoutGold() public {
        uint256 id = create(defaultParams());
        vm.expectRevert(abi.encodeWithSelector(ILabelMarketV2Types.NoGold.selector, id));
        market.revealGold(id, goldAnswer(0, 0));
    }

    // ------------------------------------------------------------------------------------------------
    // reputation is scoped to its domain
    // ------------------------------------------------------------------------------------------------

    function test_reputation_earnedForOneRequesterDoesNotCountForAnother() public {
        uint256 id = create(defaultParams());
        Held[] memory hs = fullRoundCommitted(id, three(0, 0, 0));
        revealAll(id, hs);
        settleAll(id, hs);
        assertEq(market.reputationScore(ann(0), requester), 8, "8 accepted labels with this requester");

        ILabelMarketV2Types.BatchParams memory p = defaultParams();
        p.minReputation = 1;
        address stranger = address(0x5757);
        vm.prank(treasury);
        require(token.transfer(stranger, 1_000 * UNIT));
        vm.startPrank(stranger);
        token.approve(address(market), type(uint256).max);
        uint256 theirs = market.createBatch(p);
        vm.stopPrank();
        vm.prank(ann(0));
        vm.expectRevert(abi.encodeWithSelector(ILabelMarketV2Types.InsufficientReputation.selector, 0, 1));
        market.join(theirs, 1);

        uint256 ours = create(p);
        joinAs(ann(0), ours, 1);
    }

    // ------------------------------------------------------------------------------------------------
    // stake queue, collect
    // ------------------------------------------------------------------------------------------------

    function test_stake_unstakeAfterCooldownOnlyWhatIsUnlocked() public {
        uint256 id = create(defaultParams());
        joinAs(ann(0), id, 2); // 40 locked
        vm.startPrank(ann(0));
        vm.expectRevert(ILabelMarketV2Types.ZeroAmount.selector);
        market.stake(0);
        vm.expectRevert(ILabelMarketV2Types.ZeroAmount.selector);
        market.requestUnstake(0);
        vm.expectRevert(abi.encodeWithSelector(ILabelMarketV2Types.StakeLocked.selector, 960 * UNIT, 961 * UNIT));
        market.requestUnstake(961 * UNIT);
        vm.expectRevert(ILabelMarketV2Types.NothingToWithdraw.selector);
        market.withdraw();
        market.requestUnstake(960 * UNIT);
        uint256 unlockAt = vm.getBlockTimestamp() + COOLDOWN;
        vm.expectRevert(abi.encodeWithSelector(ILabelMarketV2Types.CooldownActive.selector, unlockAt));
        market.withdraw();
        vm.warp(unlockAt);
        uint256 before = token.balanceOf(ann(0));
        market.withdraw();
        assertEq(token.balanceOf(ann(0)) - before, 960 * UNIT, "withdrawn");
        assertEq(market.accountOf(ann(0)).amount, 40 * UNIT, "the locked part stays");
        vm.expectRevert(ILabelMarketV2Types.NothingToWithdraw.selector);
        market.collect(address(token));
        vm.stopPrank();
    }

    // ------------------------------------------------------------------------------------------------
    // re-entrancy from a token callback
    // ------------------------------------------------------------------------------------------------

    function test_reentrancy_aTokenCallbackCannotReenterAnyFunction() public {
        ReentrantToken evil = new ReentrantToken();
        evil.mint(requester, 1_000 * UNIT);
        vm.prank(requester);
        evil.approve(address(market), type(uint256).max);
        ILabelMarketV2Types.BatchParams memory p = defaultParams();
        p.rewardToken = address(evil);
        evil.arm(market);
        uint256 id = create(p); // transferFrom: 26 re-entries
        assertEq(evil.attempts(), 26, "every function tried from createBatch");
        assertEq(evil.refused(), 26, "every one refused by the guard");

        Held[] memory hs = fullRoundCommitted(id, three(0, 0, 1));
        revealAll(id, hs);
        settleAll(id, hs);
        vm.prank(ann(0));
        market.collect(address(evil)); // transfer: 26 more
        assertEq(evil.attempts(), 52, "every function tried from collect");
        assertEq(evil.refused(), 52, "refused");
        warpPastReview(id);
        market.refund(id); // transfer to the requester: 26 more
        assertEq(evil.refused(), 78, "refused from refund too");
        assertEq(evil.balanceOf(ann(0)), 8 * UNIT, "the outer calls completed (rewards in the evil token)");
    }
}
