// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {MarketTest} from "./utils/MarketTest.sol";
import {TestMerkle} from "./utils/TestMerkle.sol";
import {ILabelMarket} from "../interfaces/ILabelMarket.sol";

/// @notice settleTask / settleTasks (consensus, payouts, slashing, redistribution, reputation, timing) and
///         revealGold (gold answers settle against the majority).
contract LabelMarketSettleTest is MarketTest {
    uint256 internal constant ALL1 = 0x1111; // pack(1, 1, 1, 1)

    function setUp() public override {
        super.setUp();
        stakeAll(100 * UNIT);
    }

    // ------------------------------------------------------------------------------------------------
    // settleTask: payouts and slashing
    // ------------------------------------------------------------------------------------------------

    function test_settleTask_unanimousPaysEveryLabel() public {
        uint256 id = createBatch(oneTaskParams());
        uint256 labels = pack(1, 0, 2, 1);
        claimCommitReveal(id, three(labels, labels, labels));

        for (uint256 i; i < 3; ++i) {
            vm.expectEmit(address(market));
            emit ILabelMarket.LabelsScored(id, 0, ann(i), 4, 0, true, 4 * UNIT, 0);
        }
        vm.expectEmit(address(market));
        emit ILabelMarket.TaskSettled(id, 0, labels, 0xF, 0, 12 * UNIT, 0);
        market.settleTask(id, 0);

        ILabelMarket.Task memory t = market.getTask(id, 0);
        assertTrue(t.settled, "settled");
        assertEq(t.decidedMask, 0xF, "all decided");
        assertEq(t.resultLabels, labels, "result");
        assertEq(t.claimedMask, 0, "claimed mask cleared");
        ILabelMarket.Batch memory b = market.getBatch(id);
        assertEq(b.state.paid, 12 * UNIT, "paid");
        assertEq(b.state.tasksSettled, 1, "tasks settled");
        for (uint256 i; i < 3; ++i) {
            assertEq(market.claimable(ann(i), address(token)), 4 * UNIT, "reward credited");
            assertEq(market.stakeOf(ann(i)).locked, 0, "stake unlocked");
            assertEq(market.stakeOf(ann(i)).amount, 100 * UNIT, "no slash");
            assertEq(market.reputationOf(ann(i)).accepted, 4, "accepted");
            assertEq(market.reputationScore(ann(i)), int256(4), "score");
        }
        assertEq(market.claimable(treasury, address(token)), 0, "treasury gets nothing");
    }

    function test_settleTask_slashesWrongLabelsAndRedistributesProRataWithDust() public {
        uint256 id = createBatch(oneTaskParams());
        // ann(2) disagrees on items 0..2, agrees on item 3.
        claimCommitReveal(id, three(ALL1, ALL1, pack(2, 2, 2, 1)));
        uint256 slashed = 3 * 2 * UNIT; // 3 wrong labels x wrongLabelPenalty
        // agreeing labels: 4 + 4 + 1 = 9; shares floor(6e18 * a / 9)
        uint256 bigShare = slashed * 4 / 9; // 2666666666666666666
        uint256 smallShare = slashed * 1 / 9; // 666666666666666666
        uint256 dust = slashed - 2 * bigShare - smallShare;
        assertEq(dust, 2, "two wei of rounding dust");

        vm.expectEmit(address(market));
        emit ILabelMarket.LabelsScored(id, 0, ann(0), 4, 0, true, 4 * UNIT, 0);
        vm.expectEmit(address(market));
        emit ILabelMarket.LabelsScored(id, 0, ann(1), 4, 0, true, 4 * UNIT, 0);
        vm.expectEmit(address(market));
        emit ILabelMarket.LabelsScored(id, 0, ann(2), 1, 3, true, 1 * UNIT, slashed);
        vm.expectEmit(address(market));
        emit ILabelMarket.SlashRedistributed(id, 0, ann(0), bigShare);
        vm.expectEmit(address(market));
        emit ILabelMarket.SlashRedistributed(id, 0, ann(1), bigShare);
        vm.expectEmit(address(market));
        emit ILabelMarket.SlashRedistributed(id, 0, ann(2), smallShare);
        vm.expectEmit(address(market));
        emit ILabelMarket.SlashRedistributed(id, 0, treasury, dust);
        vm.expectEmit(address(market));
        emit ILabelMarket.TaskSettled(id, 0, ALL1, 0xF, 0, 9 * UNIT, slashed);
        market.settleTask(id, 0);

        assertEq(market.stakeOf(ann(2)).amount, 100 * UNIT - slashed, "dissenter slashed");
        assertEq(market.stakeOf(ann(2)).locked, 0, "unlocked");
        assertEq(market.stakeOf(ann(0)).amount, 100 * UNIT, "agreeing stake intact");
        assertEq(market.claimable(ann(0), address(token)), 4 * UNIT + bigShare, "reward + share");
        assertEq(market.claimable(ann(1), address(token)), 4 * UNIT + bigShare, "reward + share");
        assertEq(market.claimable(ann(2), address(token)), 1 * UNIT + smallShare, "reward + share");
        assertEq(market.claimable(treasury, address(token)), dust, "dust to treasury");
        assertEq(market.getBatch(id).state.paid, 9 * UNIT, "only agreeing labels paid from escrow");
        ILabelMarket.Reputation memory r2 = market.reputationOf(ann(2));
        assertEq(r2.accepted, 1, "accepted");
        assertEq(r2.rejected, 3, "rejected");
        assertEq(market.reputationScore(ann(2)), int256(-2), "1 - 3");
        // Conservation: market holds exactly stakes + credits + unspent escrow.
        uint256 credits = 2 * (4 * UNIT + bigShare) + 1 * UNIT + smallShare + dust;
        assertEq(token.balanceOf(address(market)), 8 * 100 * UNIT - slashed + credits + (12 - 9) * UNIT, "solvent");
    }

    function test_settleTask_slashIsPenaltyPerWrongLabelAndStaysWithinStakePerClaim() public {
        // Every label of ann(2) is wrong: 4 x 2 = 8, below stakePerClaim (20). _validate makes
        // noRevealPenalty > taskSize * wrongLabelPenalty and stakePerClaim >= noRevealPenalty, so the
        // stakePerClaim cap can never bind for wrong labels.
        uint256 id = createBatch(oneTaskParams());
        claimCommitReveal(id, three(ALL1, ALL1, pack(0, 2, 0, 2)));
        vm.expectEmit(address(market));
        emit ILabelMarket.LabelsScored(id, 0, ann(2), 0, 4, true, 0, 8 * UNIT);
        market.settleTask(id, 0);
        assertEq(market.stakeOf(ann(2)).amount, 92 * UNIT, "4 x wrongLabelPenalty");
        assertLe(100 * UNIT - market.stakeOf(ann(2)).amount, 20 * UNIT, "within stakePerClaim");
        assertEq(market.claimable(ann(2), address(token)), 0, "nothing earned");
        assertEq(market.claimable(ann(0), address(token)), 4 * UNIT + 4 * UNIT, "half of the slash each");
    }

    function test_settleTask_noRevealSlashesNoRevealPenalty() public {
        uint256 id = createBatch(oneTaskParams());
        claimCommit(id, three(ALL1, ALL1, ALL1));
        revealAs(ann(0), id, 0, ALL1);
        revealAs(ann(1), id, 0, ALL1);
        uint256 revealDeadline = market.getBatch(id).config.revealDeadline;
        vm.expectRevert(abi.encodeWithSelector(ILabelMarket.SettlementNotOpen.selector, id, 0, revealDeadline + 1));
        market.settleTask(id, 0);
        warpPastReveal(id);

        vm.expectEmit(address(market));
        emit ILabelMarket.LabelsScored(id, 0, ann(2), 0, 0, false, 0, 10 * UNIT);
        vm.expectEmit(address(market));
        emit ILabelMarket.SlashRedistributed(id, 0, treasury, 10 * UNIT);
        vm.expectEmit(address(market));
        emit ILabelMarket.TaskSettled(id, 0, ALL1, 0xF, 0, 8 * UNIT, 10 * UNIT);
        market.settleTask(id, 0);

        assertEq(market.stakeOf(ann(2)).amount, 90 * UNIT, "noRevealPenalty");
        assertEq(market.stakeOf(ann(2)).locked, 0, "unlocked");
        assertEq(market.reputationOf(ann(2)).unrevealed, 1, "unrevealed counted");
        assertEq(market.reputationScore(ann(2)), int256(-10), "NO_REVEAL_WEIGHT");
        assertEq(market.claimable(ann(0), address(token)), 4 * UNIT, "4 rewards, no share of a no-reveal penalty");
        assertEq(market.claimable(treasury, address(token)), 10 * UNIT, "no-reveal penalty to the treasury");
    }

    function test_settleTask_slashWithoutAgreeingLabelsGoesToTreasury() public {
        uint256 id = createBatch(oneTaskParams());
        claimN(id, 2);
        commitAs(ann(0), id, 0, ALL1); // never revealed; ann(1) claimed but never committed
        warpPastReveal(id);
        vm.expectEmit(address(market));
        emit ILabelMarket.LabelsScored(id, 0, ann(0), 0, 0, false, 0, 10 * UNIT);
        vm.expectEmit(address(market));
        emit ILabelMarket.ClaimReleased(id, 0, ann(1), 1);
        vm.expectEmit(address(market));
        emit ILabelMarket.SlashRedistributed(id, 0, treasury, 10 * UNIT);
        vm.expectEmit(address(market));
        emit ILabelMarket.TaskSettled(id, 0, 0, 0, 0, 0, 10 * UNIT);
        market.settleTask(id, 0);
        assertEq(market.claimable(treasury, address(token)), 10 * UNIT, "treasury");
        assertEq(market.claimable(requester, address(token)), 0, "requester never gains from a slash");
    }

    function test_settleTask_claimedNeverCommittedIsReleasedWithoutPenalty() public {
        uint256 id = createBatch(oneTaskParams());
        claimN(id, 3);
        commitAs(ann(0), id, 0, ALL1);
        commitAs(ann(1), id, 0, ALL1);
        warpPastCommit(id);
        revealAs(ann(0), id, 0, ALL1);
        revealAs(ann(1), id, 0, ALL1);
        warpPastReveal(id);
        vm.expectEmit(address(market));
        emit ILabelMarket.ClaimReleased(id, 0, ann(2), 2);
        vm.expectEmit(address(market));
        emit ILabelMarket.TaskSettled(id, 0, ALL1, 0xF, 0, 8 * UNIT, 0);
        market.settleTask(id, 0);
        assertEq(market.stakeOf(ann(2)).locked, 0, "unlocked");
        assertEq(market.stakeOf(ann(2)).amount, 100 * UNIT, "no penalty");
        assertStatus(id, 0, ann(2), ILabelMarket.Status.Expired, "lapsed");
        assertEq(market.reputationScore(ann(2)), int256(0), "reputation untouched");
    }

    // ------------------------------------------------------------------------------------------------
    // settleTask: consensus
    // ------------------------------------------------------------------------------------------------

    function test_settleTask_noConsensusLeavesItemUndecided() public {
        uint256 id = createBatch(oneTaskParams());
        claimCommitReveal(id, three(pack(0, 1, 1, 1), ALL1, pack(2, 1, 1, 1))); // item 0: 0 / 1 / 2
        vm.expectEmit(address(market));
        emit ILabelMarket.TaskSettled(id, 0, pack(0, 1, 1, 1), 0xE, 0, 9 * UNIT, 0);
        market.settleTask(id, 0);
        assertEq(market.getTask(id, 0).decidedMask, 0xE, "item 0 undecided");
        for (uint256 i; i < 3; ++i) {
            assertEq(market.claimable(ann(i), address(token)), 3 * UNIT, "undecided item neither pays nor slashes");
            assertEq(market.stakeOf(ann(i)).amount, 100 * UNIT, "no slash");
            assertEq(market.reputationOf(ann(i)).rejected, 0, "not rejected");
        }
    }

    function test_settleTask_thresholdNotReachedIsNoConsensus() public {
        ILabelMarket.BatchParams memory p = oneTaskParams();
        p.thresholdBps = 10_000; // unanimity
        uint256 id = createBatch(p);
        claimCommitReveal(id, three(ALL1, ALL1, pack(2, 1, 1, 1)));
        market.settleTask(id, 0);
        assertEq(market.getTask(id, 0).decidedMask, 0xE, "2/3 < 100 %");
        assertEq(market.stakeOf(ann(2)).amount, 100 * UNIT, "minority on an undecided item is not slashed");
        assertEq(market.getBatch(id).state.paid, 9 * UNIT, "three unanimous items");
    }

    function test_settleTask_thresholdExactlyReached() public {
        ILabelMarket.BatchParams memory p = oneTaskParams();
        p.thresholdBps = 6667; // 2/3 = 6666.67 bps < 6667: not reached
        uint256 id = createBatch(p);
        claimCommitReveal(id, three(ALL1, ALL1, pack(2, 1, 1, 1)));
        market.settleTask(id, 0);
        assertEq(market.getTask(id, 0).decidedMask, 0xE, "6667 bps not reached by 2 of 3");

        p.thresholdBps = 6666;
        uint256 id2 = createBatch(p);
        claimN(id2, 3);
        uint256[3] memory l = [ALL1, ALL1, pack(2, 1, 1, 1)];
        for (uint256 i; i < 3; ++i) {
            commitAs(ann(i), id2, 0, l[i]);
        }
        for (uint256 i; i < 3; ++i) {
            revealAs(ann(i), id2, 0, l[i]);
        }
        market.settleTask(id2, 0);
        assertEq(market.getTask(id2, 0).decidedMask, 0xF, "6666 bps reached by 2 of 3");
    }

    function test_settleTask_tieIsNoConsensus() public {
        ILabelMarket.BatchParams memory p = oneTaskParams();
        p.replicas = 4;
        p.thresholdBps = 5000;
        uint256 id = createBatch(p);
        uint256[] memory l = new uint256[](4);
        l[0] = pack(0, 1, 1, 1);
        l[1] = pack(0, 1, 1, 1);
        l[2] = pack(2, 1, 1, 1);
        l[3] = pack(2, 1, 1, 2); // item 0: 2-2 tie; item 3: 3-1
        claimCommitReveal(id, l);
        market.settleTask(id, 0);
        ILabelMarket.Task memory t = market.getTask(id, 0);
        assertEq(t.decidedMask, 0xE, "2-2 tie undecided even at 50 %");
        assertEq(market.stakeOf(ann(3)).amount, 98 * UNIT, "item 3 minority slashed once");
    }

    function test_settleTask_singleRevealedLabelIsNoConsensus() public {
        uint256 id = createBatch(oneTaskParams());
        claimCommit(id, three(ALL1, ALL1, ALL1));
        revealAs(ann(0), id, 0, ALL1);
        warpPastReveal(id);
        vm.expectEmit(address(market));
        emit ILabelMarket.LabelsScored(id, 0, ann(0), 0, 0, true, 0, 0);
        vm.expectEmit(address(market));
        emit ILabelMarket.SlashRedistributed(id, 0, treasury, 20 * UNIT);
        vm.expectEmit(address(market));
        emit ILabelMarket.TaskSettled(id, 0, 0, 0, 0, 0, 20 * UNIT);
        market.settleTask(id, 0);
        assertEq(market.claimable(ann(0), address(token)), 0, "one label is not a consensus");
    }

    function test_settleTask_shortLastTask() public {
        ILabelMarket.BatchParams memory p = oneTaskParams();
        p.numItems = 2;
        uint256 id = createBatch(p);
        uint256 l = pack(1, 2, 0, 0);
        claimCommitReveal(id, three(l, l, l));
        vm.expectEmit(address(market));
        emit ILabelMarket.TaskSettled(id, 0, l, 0x3, 0, 6 * UNIT, 0);
        market.settleTask(id, 0);
        assertEq(market.getBatch(id).state.paid, market.getBatch(id).state.escrow, "whole escrow earned");
    }

    // ------------------------------------------------------------------------------------------------
    // settleTask: timing and errors
    // ------------------------------------------------------------------------------------------------

    function test_settleTask_opensEarlyWhenAllRevealed() public {
        uint256 id = createBatch(oneTaskParams());
        claimCommit(id, three(ALL1, ALL1, ALL1));
        revealAs(ann(0), id, 0, ALL1);
        revealAs(ann(1), id, 0, ALL1);
        uint256 opensAt = uint256(market.getBatch(id).config.revealDeadline) + 1;
        vm.expectRevert(abi.encodeWithSelector(ILabelMarket.SettlementNotOpen.selector, id, 0, opensAt));
        market.settleTask(id, 0);
        revealAs(ann(2), id, 0, ALL1);
        assertLt(vm.getBlockTimestamp(), market.getBatch(id).config.commitDeadline, "still in the commit phase");
        market.settleTask(id, 0);
        assertTrue(market.getTask(id, 0).settled, "settled early");
    }

    function test_settleTask_revertsSettlementNotOpen_committedButUnrevealed() public {
        uint256 id = createBatch(oneTaskParams());
        claimCommit(id, three(ALL1, ALL1, ALL1));
        uint256 opensAt = uint256(market.getBatch(id).config.revealDeadline) + 1;
        vm.warp(opensAt - 1);
        vm.expectRevert(abi.encodeWithSelector(ILabelMarket.SettlementNotOpen.selector, id, 0, opensAt));
        market.settleTask(id, 0);
        vm.warp(opensAt);
        market.settleTask(id, 0);
        assertEq(market.getBatch(id).state.tasksSettled, 1, "open after the reveal deadline");
    }

    function test_settleTask_revertsSettlementNotOpen_emptyTaskBeforeRevealDeadline() public {
        uint256 id = createBatch(oneTaskParams());
        uint256 opensAt = uint256(market.getBatch(id).config.revealDeadline) + 1;
        vm.expectRevert(abi.encodeWithSelector(ILabelMarket.SettlementNotOpen.selector, id, 0, opensAt));
        market.settleTask(id, 0);
    }

    function test_settleTask_revertsAlreadySettled() public {
        uint256 id = createBatch(oneTaskParams());
        claimCommitReveal(id, three(ALL1, ALL1, ALL1));
        market.settleTask(id, 0);
        vm.expectRevert(abi.encodeWithSelector(ILabelMarket.AlreadySettled.selector, id, 0));
        market.settleTask(id, 0);
        assertEq(market.getBatch(id).state.paid, 12 * UNIT, "paid once");
    }

    function test_settleTask_revertsUnknownTask() public {
        uint256 id = createBatch(defaultParams());
        vm.expectRevert(abi.encodeWithSelector(ILabelMarket.UnknownTask.selector, id, 3));
        market.settleTask(id, 3);
    }

    function test_settleTask_revertsUnknownBatch() public {
        vm.expectRevert(abi.encodeWithSelector(ILabelMarket.UnknownBatch.selector, 0));
        market.settleTask(0, 0);
    }

    // ------------------------------------------------------------------------------------------------
    // settleTasks
    // ------------------------------------------------------------------------------------------------

    function test_settleTasks_settlesOnlyOpenUnsettledTasksInRange() public {
        uint256 id = createBatch(defaultParams()); // 3 tasks
        address[3][3] memory holders;
        uint256[3] memory filled;
        for (uint256 i; i < NUM_ANNOTATORS; ++i) {
            vm.prank(ann(i));
            try market.claim(id) returns (uint256 t) {
                holders[t][filled[t]++] = ann(i);
            } catch {}
        }
        // 8 annotators for 9 slots: two tasks are full, one has a free slot.
        uint256 partialTask = filled[0] < 3 ? 0 : filled[1] < 3 ? 1 : 2;
        for (uint256 t; t < 3; ++t) {
            for (uint256 j; j < filled[t]; ++j) {
                commitAs(holders[t][j], id, t, ALL1);
            }
        }
        for (uint256 t; t < 3; ++t) {
            if (t == partialTask) continue;
            for (uint256 j; j < 3; ++j) {
                revealAs(holders[t][j], id, t, ALL1);
            }
        }
        assertEq(market.settleTasks(id, 0, 3), 2, "two fully revealed tasks settle early");
        assertEq(market.getBatch(id).state.tasksSettled, 2, "counted");
        assertFalse(market.getTask(id, partialTask).settled, "partial task waits");
        assertEq(market.settleTasks(id, 0, 3), 0, "nothing left that is open");

        warpPastReveal(id);
        assertEq(market.settleTasks(id, 2, 1), 0, "empty range");
        vm.expectEmit(address(market));
        emit ILabelMarket.TaskSettled(id, partialTask, 0, 0, 0, 0, 2 * 10 * UNIT);
        assertEq(market.settleTasks(id, 0, 100), 1, "range clamped to numTasks");
        assertEq(market.getBatch(id).state.tasksSettled, 3, "all settled");
        assertEq(market.getBatch(id).state.paid, 2 * 12 * UNIT, "two tasks of unanimous labels");
    }

    function test_settleTasks_revertsUnknownBatch() public {
        vm.expectRevert(abi.encodeWithSelector(ILabelMarket.UnknownBatch.selector, 0));
        market.settleTasks(0, 0, 1);
    }

    // ------------------------------------------------------------------------------------------------
    // revealGold and gold settlement
    // ------------------------------------------------------------------------------------------------

    function _goldBatch(uint256[] memory items, uint256[] memory labels, uint256 numItems)
        internal
        returns (uint256 id)
    {
        ILabelMarket.BatchParams memory p = defaultParams();
        p.numItems = uint32(numItems);
        p.goldRoot = TestMerkle.root(goldLeaves(items, labels));
        p.goldCount = uint32(items.length);
        id = createBatch(p);
    }

    function test_revealGold_storesAnswersAndEmits() public {
        uint256 id = _goldBatch(two(1, 6), two(2, 0), 8);
        ILabelMarket.GoldAnswer[] memory answers = goldAnswers(two(1, 6), two(2, 0));
        warpPastCommit(id);
        vm.expectEmit(address(market));
        emit ILabelMarket.GoldRevealed(id, 1, 2);
        vm.expectEmit(address(market));
        emit ILabelMarket.GoldRevealed(id, 6, 0);
        vm.prank(requester);
        market.revealGold(id, answers);
        assertEq(market.getBatch(id).state.goldRevealed, 2, "count");
        ILabelMarket.Task memory t0 = market.getTask(id, 0);
        assertEq(t0.goldMask, 1 << 1, "item 1 is gold in task 0");
        assertEq(t0.resultLabels, uint256(2) << 4, "gold label stored");
        assertEq(market.getTask(id, 1).goldMask, 1 << 2, "item 6 is position 2 of task 1");
    }

    function test_revealGold_subsetPerCallGatesEarlySettlement() public {
        uint256 id = _goldBatch(two(0, 1), two(1, 1), 4);
        ILabelMarket.GoldAnswer[] memory all = goldAnswers(two(0, 1), two(1, 1));
        claimCommitReveal(id, three(ALL1, ALL1, ALL1));
        warpPastCommit(id);
        ILabelMarket.GoldAnswer[] memory first = new ILabelMarket.GoldAnswer[](1);
        first[0] = all[0];
        market.revealGold(id, first);
        uint256 opensAt = uint256(market.getBatch(id).config.revealDeadline) + 1;
        vm.expectRevert(abi.encodeWithSelector(ILabelMarket.SettlementNotOpen.selector, id, 0, opensAt));
        market.settleTask(id, 0);
        first[0] = all[1];
        market.revealGold(id, first);
        market.settleTask(id, 0);
        assertEq(market.getTask(id, 0).goldMask, 0x3, "both gold items");
        assertEq(market.reputationOf(ann(0)).goldCorrect, 2, "gold correct counted");
    }

    function test_settleTask_goldOverridesMajority() public {
        uint256 id = _goldBatch(one(0), one(2), 4); // item 0 is gold with answer 2
        claimCommitReveal(id, three(ALL1, ALL1, pack(2, 1, 1, 1)));
        uint256 opensAt = uint256(market.getBatch(id).config.revealDeadline) + 1;
        vm.expectRevert(abi.encodeWithSelector(ILabelMarket.SettlementNotOpen.selector, id, 0, opensAt));
        market.settleTask(id, 0); // gold not revealed yet
        warpPastCommit(id);
        vm.prank(requester);
        market.revealGold(id, goldAnswers(one(0), one(2)));

        // Majority says 1 on item 0, gold says 2: ann(0), ann(1) are wrong there, ann(2) is right.
        uint256 result = pack(2, 1, 1, 1);
        vm.expectEmit(address(market));
        emit ILabelMarket.LabelsScored(id, 0, ann(0), 3, 1, true, 3 * UNIT, 2 * UNIT);
        vm.expectEmit(address(market));
        emit ILabelMarket.LabelsScored(id, 0, ann(1), 3, 1, true, 3 * UNIT, 2 * UNIT);
        vm.expectEmit(address(market));
        emit ILabelMarket.LabelsScored(id, 0, ann(2), 4, 0, true, 4 * UNIT, 0);
        vm.expectEmit(address(market));
        emit ILabelMarket.SlashRedistributed(id, 0, treasury, 4 * UNIT); // gold slashes never reach annotators
        vm.expectEmit(address(market));
        emit ILabelMarket.TaskSettled(id, 0, result, 0xF, 0x1, 10 * UNIT, 4 * UNIT);
        market.settleTask(id, 0);

        ILabelMarket.Reputation memory r0 = market.reputationOf(ann(0));
        assertEq(r0.accepted, 3, "accepted");
        assertEq(r0.goldWrong, 1, "gold wrong");
        assertEq(r0.goldCorrect, 0, "gold correct");
        ILabelMarket.Reputation memory r2 = market.reputationOf(ann(2));
        assertEq(r2.goldCorrect, 1, "gold correct");
        assertEq(r2.goldWrong, 0, "gold wrong");
        assertEq(market.reputationScore(ann(0)), int256(0), "3 - 3 x 1");
        assertEq(market.reputationScore(ann(2)), int256(6), "3 + 3 x 1");
        assertEq(market.stakeOf(ann(0)).amount, 98 * UNIT, "slashed on gold");
        assertEq(market.claimable(ann(2), address(token)), 4 * UNIT, "minority paid its rewards, no share of gold slashes");
        assertEq(market.claimable(treasury, address(token)), 4 * UNIT, "gold slashes to the treasury");
        assertEq(market.claimable(requester, address(token)), 0, "requester gains nothing from gold slashes");
    }

    function test_settleTask_unrevealedGoldSettlesByConsensusAfterDeadline() public {
        uint256 id = _goldBatch(one(0), one(2), 4);
        claimCommitReveal(id, three(ALL1, ALL1, ALL1));
        warpPastReveal(id);
        market.settleTask(id, 0);
        ILabelMarket.Task memory t = market.getTask(id, 0);
        assertEq(t.goldMask, 0, "no gold revealed");
        assertEq(t.resultLabels, ALL1, "consensus used");
        assertEq(market.reputationOf(ann(0)).goldWrong, 0, "not judged by gold");
    }

    function test_settleTask_partialGoldRevealIsIgnored() public {
        // Two gold items (0 and 1, answer 2); the requester reveals only item 0, which contradicts the majority.
        uint256 id = _goldBatch(two(0, 1), two(2, 2), 4);
        claimCommitReveal(id, three(ALL1, ALL1, ALL1));
        warpPastCommit(id);
        ILabelMarket.GoldAnswer[] memory all = goldAnswers(two(0, 1), two(2, 2));
        ILabelMarket.GoldAnswer[] memory first = new ILabelMarket.GoldAnswer[](1);
        first[0] = all[0];
        vm.prank(requester);
        market.revealGold(id, first);
        warpPastReveal(id);
        // Gold is incomplete: every item settles by consensus and nobody is judged by gold.
        vm.expectEmit(address(market));
        emit ILabelMarket.TaskSettled(id, 0, ALL1, 0xF, 0, 12 * UNIT, 0);
        market.settleTask(id, 0);
        assertEq(market.reputationOf(ann(0)).goldWrong, 0, "not judged by a cherry-picked gold subset");
        assertEq(market.stakeOf(ann(0)).amount, 100 * UNIT, "nobody slashed");
    }

    function test_revealGold_revertsGoldRevealClosed() public {
        uint256 id = _goldBatch(one(0), one(2), 4);
        ILabelMarket.GoldAnswer[] memory answers = goldAnswers(one(0), one(2));
        ILabelMarket.Batch memory b = market.getBatch(id);
        vm.warp(b.config.commitDeadline);
        vm.expectRevert(
            abi.encodeWithSelector(ILabelMarket.GoldRevealClosed.selector, uint256(b.config.commitDeadline) + 1, b.config.revealDeadline)
        );
        market.revealGold(id, answers);
        vm.warp(uint256(b.config.revealDeadline) + 1);
        vm.expectRevert(
            abi.encodeWithSelector(ILabelMarket.GoldRevealClosed.selector, uint256(b.config.commitDeadline) + 1, b.config.revealDeadline)
        );
        market.revealGold(id, answers);
        vm.warp(b.config.revealDeadline);
        market.revealGold(id, answers); // the deadline itself is still open
        assertEq(market.getBatch(id).state.goldRevealed, 1, "revealed");
    }

    function test_revealGold_revertsNoGold() public {
        uint256 id = createBatch(oneTaskParams());
        warpPastCommit(id);
        vm.expectRevert(abi.encodeWithSelector(ILabelMarket.NoGold.selector, id));
        market.revealGold(id, goldAnswers(one(0), one(2)));
    }

    function test_revealGold_revertsUnknownBatch() public {
        vm.expectRevert(abi.encodeWithSelector(ILabelMarket.UnknownBatch.selector, 0));
        market.revealGold(0, goldAnswers(one(0), one(2)));
    }

    function test_revealGold_revertsInvalidGoldProof() public {
        uint256 id = _goldBatch(two(0, 3), two(2, 1), 4);
        ILabelMarket.GoldAnswer[] memory answers = goldAnswers(two(0, 3), two(2, 1));
        warpPastCommit(id);
        answers[1].label = 0; // lie about item 3's answer
        vm.expectRevert(abi.encodeWithSelector(ILabelMarket.InvalidGoldProof.selector, 3));
        market.revealGold(id, answers);
        answers[1].label = 1;
        answers[1].salt = bytes32(0); // wrong salt
        vm.expectRevert(abi.encodeWithSelector(ILabelMarket.InvalidGoldProof.selector, 3));
        market.revealGold(id, answers);
        assertEq(market.getBatch(id).state.goldRevealed, 0, "nothing kept from a reverted call");
    }

    function test_revealGold_revertsGoldAlreadyRevealed() public {
        uint256 id = _goldBatch(two(0, 3), two(2, 1), 4);
        ILabelMarket.GoldAnswer[] memory answers = goldAnswers(two(0, 3), two(2, 1));
        warpPastCommit(id);
        market.revealGold(id, answers);
        vm.expectRevert(abi.encodeWithSelector(ILabelMarket.GoldAlreadyRevealed.selector, 0));
        market.revealGold(id, answers);
        // Duplicates inside one call are caught as well (goldRevealed must not over-count).
        uint256 id2 = _goldBatch(two(0, 3), two(2, 1), 4);
        warpPastCommit(id2);
        ILabelMarket.GoldAnswer[] memory dup = new ILabelMarket.GoldAnswer[](2);
        dup[0] = answers[1];
        dup[1] = answers[1];
        vm.expectRevert(abi.encodeWithSelector(ILabelMarket.GoldAlreadyRevealed.selector, 3));
        market.revealGold(id2, dup);
    }

    function test_revealGold_revertsUnknownItem() public {
        uint256 id = _goldBatch(one(0), one(2), 4);
        ILabelMarket.GoldAnswer[] memory answers = goldAnswers(one(0), one(2));
        answers[0].item = 4;
        warpPastCommit(id);
        vm.expectRevert(abi.encodeWithSelector(ILabelMarket.UnknownItem.selector, id, 4));
        market.revealGold(id, answers);
    }

    function test_revealGold_revertsLabelOutOfRange() public {
        uint256 id = _goldBatch(one(2), one(3), 4); // a committed gold answer that is not a class
        warpPastCommit(id);
        vm.expectRevert(abi.encodeWithSelector(ILabelMarket.LabelOutOfRange.selector, 2, 3, 3));
        market.revealGold(id, goldAnswers(one(2), one(3)));
    }

    function test_revealGold_revertsAlreadySettled() public {
        // The gold tree holds two answers but goldCount says 1: once one is revealed, the task can settle
        // early, and a later answer for that settled task is refused.
        uint256[] memory items = two(0, 1);
        uint256[] memory labels = two(1, 1);
        ILabelMarket.BatchParams memory p = oneTaskParams();
        p.goldRoot = TestMerkle.root(goldLeaves(items, labels));
        p.goldCount = 1;
        uint256 id = createBatch(p);
        ILabelMarket.GoldAnswer[] memory all = goldAnswers(items, labels);
        claimCommitReveal(id, three(ALL1, ALL1, ALL1));
        warpPastCommit(id);
        ILabelMarket.GoldAnswer[] memory one_ = new ILabelMarket.GoldAnswer[](1);
        one_[0] = all[0];
        market.revealGold(id, one_);
        market.settleTask(id, 0);
        one_[0] = all[1];
        vm.expectRevert(abi.encodeWithSelector(ILabelMarket.AlreadySettled.selector, id, 0));
        market.revealGold(id, one_);
    }

    // ------------------------------------------------------------------------------------------------
    // reputationScore
    // ------------------------------------------------------------------------------------------------

    function test_reputationScore_combinesAllCounters() public {
        // ann(3): batch 1 agrees with gold (goldCorrect 1, accepted 3); batch 2 wrong on one item (rejected 1,
        // accepted 3); batch 3 never reveals (unrevealed 1). Score = 6 - 1 + 3 - 10 = -2.
        uint256 idGold = _goldBatch(one(0), one(1), 4);
        uint256 idPlain = createBatch(oneTaskParams());
        uint256 idSilent = createBatch(oneTaskParams());
        address a = ann(3);
        for (uint256 i; i < 2; ++i) {
            claimAs(ann(i), idGold);
            claimAs(ann(i), idPlain);
            claimAs(ann(i), idSilent);
        }
        claimAs(a, idGold);
        claimAs(a, idPlain);
        claimAs(a, idSilent);
        address[3] memory who = [ann(0), ann(1), a];
        for (uint256 i; i < 3; ++i) {
            commitAs(who[i], idGold, 0, ALL1);
            commitAs(who[i], idPlain, 0, i == 2 ? pack(2, 1, 1, 1) : ALL1);
            commitAs(who[i], idSilent, 0, ALL1);
        }
        for (uint256 i; i < 3; ++i) {
            revealAs(who[i], idGold, 0, ALL1);
            revealAs(who[i], idPlain, 0, i == 2 ? pack(2, 1, 1, 1) : ALL1);
            if (i != 2) revealAs(who[i], idSilent, 0, ALL1);
        }
        warpPastCommit(idGold);
        market.revealGold(idGold, goldAnswers(one(0), one(1)));
        market.settleTask(idGold, 0);
        market.settleTask(idPlain, 0);
        warpPastReveal(idSilent);
        market.settleTask(idSilent, 0);
        ILabelMarket.Reputation memory r = market.reputationOf(a);
        assertEq(r.accepted, 3 + 3, "accepted");
        assertEq(r.rejected, 1, "rejected");
        assertEq(r.goldCorrect, 1, "gold correct");
        assertEq(r.goldWrong, 0, "gold wrong");
        assertEq(r.unrevealed, 1, "unrevealed");
        assertEq(market.reputationScore(a), int256(6) - 1 + 3 - 10, "score formula");
    }
}
