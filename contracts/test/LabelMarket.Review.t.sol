// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {MarketTest} from "./utils/MarketTest.sol";
import {TestMerkle} from "./utils/TestMerkle.sol";
import {MockERC20} from "./utils/Mocks.sol";
import {ILabelMarket} from "../interfaces/ILabelMarket.sol";

/// @notice resolve (expert review of items without consensus), refund of unspent escrow, collect.
contract LabelMarketReviewTest is MarketTest {
    uint256 internal constant ALL1 = 0x1111;

    function setUp() public override {
        super.setUp();
        stakeAll(100 * UNIT);
    }

    /// @dev One task, item 0 without consensus (labels 0 / 1 / 2), items 1..3 unanimous 1. Settled.
    function _settledWithDispute() internal returns (uint256 id) {
        id = createBatch(oneTaskParams());
        claimCommitReveal(id, three(pack(0, 1, 1, 1), ALL1, pack(2, 1, 1, 1)));
        market.settleTask(id, 0);
        assertEq(market.getTask(id, 0).decidedMask, 0xE, "item 0 in review");
    }

    // ------------------------------------------------------------------------------------------------
    // resolve
    // ------------------------------------------------------------------------------------------------

    function test_resolve_paysAgreeingLabelsAndEmits() public {
        uint256 id = _settledWithDispute();
        uint256 before = market.claimable(ann(1), address(token));
        vm.expectEmit(address(market));
        emit ILabelMarket.ItemResolved(id, 0, 1, 1 * UNIT);
        vm.prank(reviewer);
        market.resolve(id, 0, 1);
        assertEq(market.claimable(ann(1), address(token)) - before, 1 * UNIT, "agreeing label paid");
        assertEq(market.claimable(ann(0), address(token)), 3 * UNIT, "disagreeing label unpaid");
        assertEq(market.claimable(ann(2), address(token)), 3 * UNIT, "disagreeing label unpaid");
        assertEq(market.stakeOf(ann(0)).amount, 100 * UNIT, "review does not slash");
        assertEq(market.reputationOf(ann(1)).accepted, 4, "accepted +1");
        ILabelMarket.Task memory t = market.getTask(id, 0);
        assertEq(t.decidedMask, 0xF, "now decided");
        assertEq(t.resultLabels, ALL1, "label recorded");
        assertEq(market.getBatch(id).state.paid, 10 * UNIT, "batch paid");
    }

    function test_resolve_paysEveryAgreeingReplica() public {
        ILabelMarket.BatchParams memory p = oneTaskParams();
        p.replicas = 4;
        uint256 id = createBatch(p);
        uint256[] memory l = new uint256[](4);
        l[0] = pack(0, 1, 1, 1);
        l[1] = pack(0, 1, 1, 1);
        l[2] = pack(2, 1, 1, 1);
        l[3] = pack(2, 1, 1, 1);
        claimCommitReveal(id, l);
        market.settleTask(id, 0);
        vm.expectEmit(address(market));
        emit ILabelMarket.ItemResolved(id, 0, 2, 2 * UNIT);
        vm.prank(reviewer);
        market.resolve(id, 0, 2);
        assertEq(market.claimable(ann(2), address(token)), 4 * UNIT, "3 + 1");
        assertEq(market.claimable(ann(3), address(token)), 4 * UNIT, "3 + 1");
        assertEq(market.claimable(ann(0), address(token)), 3 * UNIT, "unchanged");
    }

    function test_resolve_labelNobodyChosePaysNothing() public {
        ILabelMarket.BatchParams memory p = oneTaskParams();
        p.numClasses = 4;
        uint256 id = createBatch(p);
        claimCommitReveal(id, three(pack(0, 1, 1, 1), ALL1, pack(2, 1, 1, 1)));
        market.settleTask(id, 0);
        vm.expectEmit(address(market));
        emit ILabelMarket.ItemResolved(id, 0, 3, 0);
        vm.prank(reviewer);
        market.resolve(id, 0, 3);
        assertEq(market.getBatch(id).state.paid, 9 * UNIT, "nothing more paid");
    }

    function test_resolve_revertsNotReviewer() public {
        uint256 id = _settledWithDispute();
        vm.prank(requester);
        vm.expectRevert(abi.encodeWithSelector(ILabelMarket.NotReviewer.selector, requester));
        market.resolve(id, 0, 1);
    }

    function test_resolve_revertsNotReviewer_batchWithoutReviewer() public {
        ILabelMarket.BatchParams memory p = oneTaskParams();
        p.reviewer = address(0);
        uint256 id = createBatch(p);
        claimCommitReveal(id, three(pack(0, 1, 1, 1), ALL1, pack(2, 1, 1, 1)));
        market.settleTask(id, 0);
        vm.prank(reviewer);
        vm.expectRevert(abi.encodeWithSelector(ILabelMarket.NotReviewer.selector, reviewer));
        market.resolve(id, 0, 1);
    }

    function test_resolve_revertsReviewClosed() public {
        uint256 id = _settledWithDispute();
        uint256 deadline = market.getBatch(id).config.reviewDeadline;
        vm.warp(deadline + 1);
        vm.prank(reviewer);
        vm.expectRevert(abi.encodeWithSelector(ILabelMarket.ReviewClosed.selector, deadline));
        market.resolve(id, 0, 1);
    }

    function test_resolve_atReviewDeadlineSucceeds() public {
        uint256 id = _settledWithDispute();
        vm.warp(market.getBatch(id).config.reviewDeadline);
        vm.prank(reviewer);
        market.resolve(id, 0, 1);
        assertEq(market.getTask(id, 0).decidedMask, 0xF, "resolved at the deadline");
    }

    function test_resolve_revertsItemNotInReview_consensusItem() public {
        uint256 id = _settledWithDispute();
        vm.prank(reviewer);
        vm.expectRevert(abi.encodeWithSelector(ILabelMarket.ItemNotInReview.selector, id, 1));
        market.resolve(id, 1, 2);
    }

    function test_resolve_revertsItemNotInReview_alreadyResolved() public {
        uint256 id = _settledWithDispute();
        vm.prank(reviewer);
        market.resolve(id, 0, 1);
        vm.prank(reviewer);
        vm.expectRevert(abi.encodeWithSelector(ILabelMarket.ItemNotInReview.selector, id, 0));
        market.resolve(id, 0, 2);
        assertEq(market.getBatch(id).state.paid, 10 * UNIT, "paid once");
    }

    function test_resolve_revertsItemNotInReview_goldItem() public {
        ILabelMarket.BatchParams memory p = oneTaskParams();
        p.goldRoot = TestMerkle.root(goldLeaves(one(0), one(1)));
        p.goldCount = 1;
        uint256 id = createBatch(p);
        claimCommitReveal(id, three(pack(0, 1, 1, 1), ALL1, pack(2, 1, 1, 1)));
        warpPastCommit(id);
        market.revealGold(id, goldAnswers(one(0), one(1)));
        market.settleTask(id, 0);
        vm.prank(reviewer);
        vm.expectRevert(abi.encodeWithSelector(ILabelMarket.ItemNotInReview.selector, id, 0));
        market.resolve(id, 0, 2);
    }

    function test_resolve_revertsTaskNotSettled() public {
        uint256 id = createBatch(oneTaskParams());
        vm.prank(reviewer);
        vm.expectRevert(abi.encodeWithSelector(ILabelMarket.TaskNotSettled.selector, id, 0));
        market.resolve(id, 2, 1);
    }

    function test_resolve_revertsUnknownItem() public {
        uint256 id = _settledWithDispute();
        vm.prank(reviewer);
        vm.expectRevert(abi.encodeWithSelector(ILabelMarket.UnknownItem.selector, id, 4));
        market.resolve(id, 4, 1);
    }

    function test_resolve_revertsLabelOutOfRange() public {
        uint256 id = _settledWithDispute();
        vm.prank(reviewer);
        vm.expectRevert(abi.encodeWithSelector(ILabelMarket.LabelOutOfRange.selector, 0, 3, 3));
        market.resolve(id, 0, 3);
    }

    function test_resolve_revertsUnknownBatch() public {
        vm.prank(reviewer);
        vm.expectRevert(abi.encodeWithSelector(ILabelMarket.UnknownBatch.selector, 0));
        market.resolve(0, 0, 1);
    }

    // ------------------------------------------------------------------------------------------------
    // refund
    // ------------------------------------------------------------------------------------------------

    function test_refund_returnsUnresolvedEscrowAfterReview() public {
        uint256 id = _settledWithDispute(); // item 0 never resolved: its 3 labels' reward comes back
        warpPastReview(id);
        uint256 before = token.balanceOf(requester);
        vm.expectEmit(address(market));
        emit ILabelMarket.Refunded(id, requester, 3 * UNIT);
        vm.prank(address(0xC0FFEE)); // anyone may trigger it; the requester is paid
        market.refund(id);
        assertEq(token.balanceOf(requester) - before, 3 * UNIT, "12 escrowed - 9 paid");
        ILabelMarket.Batch memory b = market.getBatch(id);
        assertTrue(b.state.refunded, "flag");
        assertEq(uint256(b.state.paid) + 3 * UNIT, b.state.escrow, "paid + refunded == escrow");
        // What stays in the market is exactly stakes + credits.
        uint256 credits;
        for (uint256 i; i < NUM_ANNOTATORS; ++i) {
            credits += market.claimable(ann(i), address(token));
        }
        assertEq(token.balanceOf(address(market)), NUM_ANNOTATORS * 100 * UNIT + credits, "nothing stranded");
    }

    function test_refund_afterPartialResolve() public {
        ILabelMarket.BatchParams memory p = oneTaskParams();
        uint256 id = createBatch(p);
        claimCommitReveal(id, three(pack(0, 0, 1, 1), pack(1, 1, 1, 1), pack(2, 2, 1, 1))); // items 0, 1 disputed
        market.settleTask(id, 0);
        vm.prank(reviewer);
        market.resolve(id, 1, 2);
        warpPastReview(id);
        uint256 before = token.balanceOf(requester);
        market.refund(id);
        // paid: 2 items x 3 = 6 at settlement + 1 on review; escrow 12.
        assertEq(token.balanceOf(requester) - before, 12 * UNIT - 7 * UNIT, "unresolved item 0 refunded");
    }

    function test_refund_untouchedBatchReturnsEverything() public {
        uint256 id = createBatch(defaultParams());
        warpPastReveal(id);
        assertEq(market.settleTasks(id, 0, 3), 3, "empty tasks settle after the reveal deadline");
        warpPastReview(id);
        uint256 before = token.balanceOf(requester);
        market.refund(id);
        assertEq(token.balanceOf(requester) - before, 36 * UNIT, "full escrow back");
        assertEq(token.balanceOf(address(market)), NUM_ANNOTATORS * 100 * UNIT, "only stakes left");
    }

    function test_refund_nothingLeftStillMarksRefunded() public {
        ILabelMarket.BatchParams memory p = oneTaskParams();
        p.numItems = 2;
        uint256 id = createBatch(p);
        uint256 l = pack(1, 2, 0, 0);
        claimCommitReveal(id, three(l, l, l));
        market.settleTask(id, 0);
        warpPastReview(id);
        uint256 before = token.balanceOf(requester);
        vm.expectEmit(address(market));
        emit ILabelMarket.Refunded(id, requester, 0);
        market.refund(id);
        assertEq(token.balanceOf(requester), before, "nothing to return");
        assertTrue(market.getBatch(id).state.refunded, "refunded");
    }

    function test_refund_revertsRefundNotOpen_beforeReviewDeadline() public {
        uint256 id = _settledWithDispute();
        uint256 opensAt = uint256(market.getBatch(id).config.reviewDeadline) + 1;
        vm.warp(opensAt - 1);
        vm.expectRevert(abi.encodeWithSelector(ILabelMarket.RefundNotOpen.selector, opensAt, 1, 1));
        market.refund(id);
    }

    function test_refund_revertsRefundNotOpen_unsettledTasks() public {
        uint256 id = createBatch(defaultParams());
        uint256 opensAt = uint256(market.getBatch(id).config.reviewDeadline) + 1;
        vm.warp(opensAt);
        market.settleTask(id, 1);
        vm.expectRevert(abi.encodeWithSelector(ILabelMarket.RefundNotOpen.selector, opensAt, 1, 3));
        market.refund(id);
    }

    function test_refund_revertsAlreadyRefunded() public {
        uint256 id = _settledWithDispute();
        warpPastReview(id);
        market.refund(id);
        uint256 before = token.balanceOf(requester);
        vm.expectRevert(abi.encodeWithSelector(ILabelMarket.AlreadyRefunded.selector, id));
        market.refund(id);
        assertEq(token.balanceOf(requester), before, "no second payment");
    }

    function test_refund_revertsUnknownBatch() public {
        vm.expectRevert(abi.encodeWithSelector(ILabelMarket.UnknownBatch.selector, 0));
        market.refund(0);
    }

    // ------------------------------------------------------------------------------------------------
    // collect
    // ------------------------------------------------------------------------------------------------

    function test_collect_transfersCreditAndEmits() public {
        uint256 id = createBatch(oneTaskParams());
        claimCommitReveal(id, three(ALL1, ALL1, ALL1));
        market.settleTask(id, 0);
        address a = ann(0);
        uint256 before = token.balanceOf(a);
        vm.expectEmit(address(market));
        emit ILabelMarket.Collected(a, address(token), 4 * UNIT);
        vm.prank(a);
        uint256 amount = market.collect(address(token));
        assertEq(amount, 4 * UNIT, "returned amount");
        assertEq(token.balanceOf(a) - before, 4 * UNIT, "transferred");
        assertEq(market.claimable(a, address(token)), 0, "credit cleared");
        assertEq(market.stakeOf(a).amount, 100 * UNIT, "stake untouched by collect");
    }

    function test_collect_revertsNothingToWithdraw() public {
        vm.prank(ann(0));
        vm.expectRevert(abi.encodeWithSelector(ILabelMarket.NothingToWithdraw.selector));
        market.collect(address(token));
    }

    function test_collect_revertsNothingToWithdraw_second() public {
        uint256 id = createBatch(oneTaskParams());
        claimCommitReveal(id, three(ALL1, ALL1, ALL1));
        market.settleTask(id, 0);
        vm.prank(ann(0));
        market.collect(address(token));
        vm.prank(ann(0));
        vm.expectRevert(abi.encodeWithSelector(ILabelMarket.NothingToWithdraw.selector));
        market.collect(address(token));
    }

    function test_collect_treasuryCollectsSlashesAndDust() public {
        uint256 id = createBatch(oneTaskParams());
        claimCommitReveal(id, three(ALL1, ALL1, pack(2, 2, 2, 1)));
        market.settleTask(id, 0);
        vm.expectEmit(address(market));
        emit ILabelMarket.Collected(treasury, address(token), 2);
        uint256 before = token.balanceOf(treasury);
        vm.prank(treasury);
        market.collect(address(token));
        assertEq(token.balanceOf(treasury) - before, 2, "dust collected");
    }

    function test_collect_rewardsAndSlashSharesArePerToken() public {
        MockERC20 usd = fundedUsd(6, 1_000e6);
        ILabelMarket.BatchParams memory p = oneTaskParams();
        p.rewardToken = address(usd);
        p.rewardPerLabel = 1e6;
        uint256 id = createBatch(p);
        claimCommitReveal(id, three(ALL1, ALL1, pack(0, 0, 1, 1)));
        market.settleTask(id, 0);
        // ann(0): 4 USD reward; slash of ann(2) = 4 UNIT CCD, split 4:4:2 of agreeing labels.
        assertEq(market.claimable(ann(0), address(usd)), 4e6, "reward in USD");
        assertEq(market.claimable(ann(0), address(token)), 4 * UNIT * 4 / 10, "slash share in CCD");
        vm.prank(ann(0));
        assertEq(market.collect(address(usd)), 4e6, "USD collected");
        assertEq(usd.balanceOf(ann(0)), 4e6, "USD received");
        assertEq(market.claimable(ann(0), address(token)), 4 * UNIT * 4 / 10, "CCD credit untouched");
        uint256 before = token.balanceOf(ann(0));
        vm.prank(ann(0));
        market.collect(address(token));
        assertEq(token.balanceOf(ann(0)) - before, 4 * UNIT * 4 / 10, "CCD received");
        assertEq(usd.balanceOf(address(market)), 12e6 - 10e6 + 4e6 + 2e6, "USD left: unspent escrow + others' rewards");
    }
}
