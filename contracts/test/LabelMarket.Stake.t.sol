// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC20Errors} from "@openzeppelin/contracts/interfaces/draft-IERC6093.sol";
import {MarketTest} from "./utils/MarketTest.sol";
import {ILabelMarket} from "../interfaces/ILabelMarket.sol";

/// @notice stake, requestUnstake, withdraw, qualify and the claim gates (stake, reputation, qualification).
contract LabelMarketStakeTest is MarketTest {
    uint256 internal constant QUALIFIER_PK = 0x0A11F1E5;

    // ------------------------------------------------------------------------------------------------
    // stake
    // ------------------------------------------------------------------------------------------------

    function test_stake_pullsTokensAndCreditsAmount() public {
        address a = ann(0);
        uint256 balBefore = token.balanceOf(a);
        vm.expectEmit(address(market));
        emit ILabelMarket.Staked(a, 40 * UNIT);
        stakeAs(a, 40 * UNIT);
        ILabelMarket.Stake memory st = market.stakeOf(a);
        assertEq(st.amount, 40 * UNIT, "amount");
        assertEq(st.locked, 0, "nothing locked");
        assertEq(st.pending, 0, "nothing pending");
        assertEq(balBefore - token.balanceOf(a), 40 * UNIT, "tokens pulled");
        assertEq(token.balanceOf(address(market)), 40 * UNIT, "market holds stake");
    }

    function test_stake_accumulates() public {
        stakeAs(ann(0), 10 * UNIT);
        stakeAs(ann(0), 15 * UNIT);
        assertEq(market.stakeOf(ann(0)).amount, 25 * UNIT, "sum of stakes");
    }

    function test_stake_revertsZeroAmount() public {
        vm.prank(ann(0));
        vm.expectRevert(abi.encodeWithSelector(ILabelMarket.ZeroAmount.selector));
        market.stake(0);
    }

    function test_stake_revertsWithoutBalance() public {
        address a = ann(0);
        uint256 bal = token.balanceOf(a);
        vm.prank(a);
        vm.expectRevert(abi.encodeWithSelector(IERC20Errors.ERC20InsufficientBalance.selector, a, bal, bal + 1));
        market.stake(bal + 1);
        assertEq(market.stakeOf(a).amount, 0, "no phantom stake");
    }

    // ------------------------------------------------------------------------------------------------
    // requestUnstake
    // ------------------------------------------------------------------------------------------------

    function test_requestUnstake_movesUnlockedStakeToPending() public {
        address a = ann(0);
        stakeAs(a, 100 * UNIT);
        uint256 unlockAt = vm.getBlockTimestamp() + COOLDOWN;
        vm.expectEmit(address(market));
        emit ILabelMarket.UnstakeRequested(a, 30 * UNIT, unlockAt);
        vm.prank(a);
        market.requestUnstake(30 * UNIT);
        ILabelMarket.Stake memory st = market.stakeOf(a);
        assertEq(st.amount, 70 * UNIT, "amount reduced");
        assertEq(st.pending, 30 * UNIT, "pending");
        assertEq(st.unlockAt, unlockAt, "unlock time");
        assertEq(token.balanceOf(address(market)), 100 * UNIT, "tokens stay until withdraw");
    }

    function test_requestUnstake_revertsZeroAmount() public {
        stakeAs(ann(0), 10 * UNIT);
        vm.prank(ann(0));
        vm.expectRevert(abi.encodeWithSelector(ILabelMarket.ZeroAmount.selector));
        market.requestUnstake(0);
    }

    function test_requestUnstake_revertsStakeLockedByClaim() public {
        address a = ann(0);
        stakeAs(a, 60 * UNIT);
        uint256 id = createBatch(oneTaskParams());
        claimAs(a, id); // locks 20
        vm.prank(a);
        vm.expectRevert(abi.encodeWithSelector(ILabelMarket.StakeLocked.selector, 40 * UNIT, 40 * UNIT + 1));
        market.requestUnstake(40 * UNIT + 1);
        vm.prank(a);
        market.requestUnstake(40 * UNIT); // exactly the unlocked part is fine
        ILabelMarket.Stake memory st = market.stakeOf(a);
        assertEq(st.amount, 20 * UNIT, "locked part stays");
        assertEq(st.locked, 20 * UNIT, "still locked");
    }

    function test_requestUnstake_revertsStakeLockedWithoutStake() public {
        vm.prank(ann(0));
        vm.expectRevert(abi.encodeWithSelector(ILabelMarket.StakeLocked.selector, 0, 1));
        market.requestUnstake(1);
    }

    function test_requestUnstake_secondRequestRestartsCooldown() public {
        address a = ann(0);
        stakeAs(a, 100 * UNIT);
        vm.prank(a);
        market.requestUnstake(10 * UNIT);
        vm.warp(vm.getBlockTimestamp() + 3 days);
        vm.prank(a);
        market.requestUnstake(5 * UNIT);
        ILabelMarket.Stake memory st = market.stakeOf(a);
        assertEq(st.pending, 15 * UNIT, "pending accumulates");
        assertEq(st.unlockAt, vm.getBlockTimestamp() + COOLDOWN, "cooldown restarts from the last request");
    }

    // ------------------------------------------------------------------------------------------------
    // withdraw
    // ------------------------------------------------------------------------------------------------

    function test_withdraw_afterCooldownReturnsPending() public {
        address a = ann(0);
        stakeAs(a, 100 * UNIT);
        vm.prank(a);
        market.requestUnstake(30 * UNIT);
        uint256 unlockAt = market.stakeOf(a).unlockAt;
        vm.warp(unlockAt); // inclusive
        uint256 before = token.balanceOf(a);
        vm.expectEmit(address(market));
        emit ILabelMarket.Withdrawn(a, 30 * UNIT);
        vm.prank(a);
        market.withdraw();
        assertEq(token.balanceOf(a) - before, 30 * UNIT, "tokens back");
        assertEq(market.stakeOf(a).pending, 0, "pending cleared");
        assertEq(market.stakeOf(a).amount, 70 * UNIT, "rest still staked");
        assertEq(token.balanceOf(address(market)), 70 * UNIT, "market keeps the rest");
    }

    function test_withdraw_revertsCooldownActive() public {
        address a = ann(0);
        stakeAs(a, 100 * UNIT);
        vm.prank(a);
        market.requestUnstake(30 * UNIT);
        uint256 unlockAt = vm.getBlockTimestamp() + COOLDOWN;
        vm.warp(unlockAt - 1);
        vm.prank(a);
        vm.expectRevert(abi.encodeWithSelector(ILabelMarket.CooldownActive.selector, unlockAt));
        market.withdraw();
    }

    function test_withdraw_revertsNothingToWithdraw() public {
        stakeAs(ann(0), 100 * UNIT);
        vm.prank(ann(0));
        vm.expectRevert(abi.encodeWithSelector(ILabelMarket.NothingToWithdraw.selector));
        market.withdraw();
    }

    function test_withdraw_revertsNothingToWithdrawTwice() public {
        address a = ann(0);
        stakeAs(a, 100 * UNIT);
        vm.prank(a);
        market.requestUnstake(1 * UNIT);
        vm.warp(vm.getBlockTimestamp() + COOLDOWN);
        vm.prank(a);
        market.withdraw();
        vm.prank(a);
        vm.expectRevert(abi.encodeWithSelector(ILabelMarket.NothingToWithdraw.selector));
        market.withdraw();
    }

    // ------------------------------------------------------------------------------------------------
    // qualify
    // ------------------------------------------------------------------------------------------------

    function _qualifiedBatch() internal returns (uint256 id) {
        ILabelMarket.BatchParams memory p = oneTaskParams();
        p.qualifier = vm.addr(QUALIFIER_PK);
        id = createBatch(p);
    }

    function test_qualify_realEip712SignatureOpensClaim() public {
        stakeAll(100 * UNIT);
        uint256 id = _qualifiedBatch();
        address a = ann(0);
        uint256 deadline = vm.getBlockTimestamp() + 1 days;
        bytes memory sig = signQualification(QUALIFIER_PK, id, a, deadline);

        vm.prank(a);
        vm.expectRevert(abi.encodeWithSelector(ILabelMarket.NotQualified.selector, id, a));
        market.claim(id);

        vm.expectEmit(address(market));
        emit ILabelMarket.Qualified(id, a);
        vm.prank(address(0x4E1A7)); // anyone may relay the attestation
        market.qualify(id, a, deadline, sig);
        assertTrue(market.qualified(id, a), "qualified");
        assertFalse(market.qualified(id, ann(1)), "only that annotator");

        assertEq(claimAs(a, id), 0, "qualified annotator claims");
    }

    function test_qualify_atDeadlineSucceeds() public {
        uint256 id = _qualifiedBatch();
        uint256 deadline = vm.getBlockTimestamp() + 10;
        bytes memory sig = signQualification(QUALIFIER_PK, id, ann(0), deadline);
        vm.warp(deadline);
        market.qualify(id, ann(0), deadline, sig);
        assertTrue(market.qualified(id, ann(0)), "qualified at the deadline");
    }

    function test_qualify_revertsInvalidQualification_wrongSigner() public {
        uint256 id = _qualifiedBatch();
        uint256 deadline = vm.getBlockTimestamp() + 1 days;
        bytes memory sig = signQualification(QUALIFIER_PK + 1, id, ann(0), deadline);
        vm.expectRevert(abi.encodeWithSelector(ILabelMarket.InvalidQualification.selector));
        market.qualify(id, ann(0), deadline, sig);
    }

    function test_qualify_revertsInvalidQualification_signatureForAnotherAnnotator() public {
        uint256 id = _qualifiedBatch();
        uint256 deadline = vm.getBlockTimestamp() + 1 days;
        bytes memory sig = signQualification(QUALIFIER_PK, id, ann(0), deadline);
        vm.expectRevert(abi.encodeWithSelector(ILabelMarket.InvalidQualification.selector));
        market.qualify(id, ann(1), deadline, sig);
    }

    function test_qualify_revertsInvalidQualification_signatureForAnotherBatch() public {
        uint256 id0 = _qualifiedBatch();
        uint256 id1 = _qualifiedBatch();
        uint256 deadline = vm.getBlockTimestamp() + 1 days;
        bytes memory sig = signQualification(QUALIFIER_PK, id0, ann(0), deadline);
        vm.expectRevert(abi.encodeWithSelector(ILabelMarket.InvalidQualification.selector));
        market.qualify(id1, ann(0), deadline, sig);
    }

    function test_qualify_revertsInvalidQualification_extendedDeadline() public {
        uint256 id = _qualifiedBatch();
        uint256 deadline = vm.getBlockTimestamp() + 1 days;
        bytes memory sig = signQualification(QUALIFIER_PK, id, ann(0), deadline);
        vm.expectRevert(abi.encodeWithSelector(ILabelMarket.InvalidQualification.selector));
        market.qualify(id, ann(0), deadline + 1, sig);
    }

    function test_qualify_revertsInvalidQualification_malformedSignature() public {
        uint256 id = _qualifiedBatch();
        vm.expectRevert(abi.encodeWithSelector(ILabelMarket.InvalidQualification.selector));
        market.qualify(id, ann(0), vm.getBlockTimestamp(), hex"deadbeef");
    }

    function test_qualify_revertsInvalidQualification_batchWithoutQualifier() public {
        uint256 id = createBatch(oneTaskParams());
        uint256 deadline = vm.getBlockTimestamp() + 1 days;
        bytes memory sig = signQualification(QUALIFIER_PK, id, ann(0), deadline);
        vm.expectRevert(abi.encodeWithSelector(ILabelMarket.InvalidQualification.selector));
        market.qualify(id, ann(0), deadline, sig);
    }

    function test_qualify_revertsQualificationExpired() public {
        uint256 id = _qualifiedBatch();
        uint256 deadline = vm.getBlockTimestamp() + 1 hours;
        bytes memory sig = signQualification(QUALIFIER_PK, id, ann(0), deadline);
        vm.warp(deadline + 1);
        vm.expectRevert(abi.encodeWithSelector(ILabelMarket.QualificationExpired.selector, deadline));
        market.qualify(id, ann(0), deadline, sig);
    }

    function test_qualify_revertsUnknownBatch() public {
        vm.expectRevert(abi.encodeWithSelector(ILabelMarket.UnknownBatch.selector, 0));
        market.qualify(0, ann(0), vm.getBlockTimestamp(), "");
    }

    // ------------------------------------------------------------------------------------------------
    // Claim gates
    // ------------------------------------------------------------------------------------------------

    function test_claim_revertsNotQualified() public {
        stakeAll(100 * UNIT);
        uint256 id = _qualifiedBatch();
        vm.prank(ann(3));
        vm.expectRevert(abi.encodeWithSelector(ILabelMarket.NotQualified.selector, id, ann(3)));
        market.claim(id);
    }

    function test_claim_revertsInsufficientStake_unlockedBelowStakePerClaim() public {
        stakeAs(ann(0), 19 * UNIT);
        uint256 id = createBatch(oneTaskParams());
        vm.prank(ann(0));
        vm.expectRevert(abi.encodeWithSelector(ILabelMarket.InsufficientStake.selector, 19 * UNIT, 20 * UNIT));
        market.claim(id);
    }

    function test_claim_revertsInsufficientStake_belowMinStake() public {
        stakeAs(ann(0), 49 * UNIT); // enough unlocked for one claim (20) but below minStake (50)
        uint256 id = createBatch(oneTaskParams());
        vm.prank(ann(0));
        vm.expectRevert(abi.encodeWithSelector(ILabelMarket.InsufficientStake.selector, 49 * UNIT, 50 * UNIT));
        market.claim(id);
        stakeAs(ann(0), 1 * UNIT);
        assertEq(claimAs(ann(0), id), 0, "exactly minStake is enough");
    }

    function test_claim_revertsInsufficientStake_whenOtherClaimsLockIt() public {
        ILabelMarket.BatchParams memory p = oneTaskParams();
        p.minStake = 0;
        stakeAs(ann(0), 30 * UNIT);
        uint256 id0 = createBatch(p);
        uint256 id1 = createBatch(p);
        claimAs(ann(0), id0);
        assertEq(market.stakeOf(ann(0)).locked, 20 * UNIT, "first claim locks stakePerClaim");
        vm.prank(ann(0));
        vm.expectRevert(abi.encodeWithSelector(ILabelMarket.InsufficientStake.selector, 10 * UNIT, 20 * UNIT));
        market.claim(id1);
    }

    function test_claim_revertsInsufficientStake_pendingUnstakeDoesNotCount() public {
        stakeAs(ann(0), 100 * UNIT);
        vm.prank(ann(0));
        market.requestUnstake(90 * UNIT);
        uint256 id = createBatch(oneTaskParams());
        vm.prank(ann(0));
        vm.expectRevert(abi.encodeWithSelector(ILabelMarket.InsufficientStake.selector, 10 * UNIT, 20 * UNIT));
        market.claim(id);
    }

    function test_claim_revertsInsufficientReputation_freshAnnotator() public {
        stakeAll(100 * UNIT);
        ILabelMarket.BatchParams memory p = oneTaskParams();
        p.minReputation = 1;
        uint256 id = createBatch(p);
        vm.prank(ann(0));
        vm.expectRevert(abi.encodeWithSelector(ILabelMarket.InsufficientReputation.selector, int256(0), int256(1)));
        market.claim(id);
    }

    function test_claim_revertsInsufficientReputation_afterUnrevealedCommit() public {
        stakeAll(100 * UNIT);
        uint256 id0 = createBatch(oneTaskParams());
        claimCommit(id0, three(pack(1, 1, 1, 1), pack(1, 1, 1, 1), pack(1, 1, 1, 1)));
        revealAs(ann(0), id0, 0, pack(1, 1, 1, 1));
        revealAs(ann(1), id0, 0, pack(1, 1, 1, 1));
        warpPastReveal(id0);
        market.settleTask(id0, 0); // ann(2) never revealed: score -10, ann(0/1) +4
        assertEq(market.reputationScore(ann(2)), int256(-10), "no-reveal weight");
        assertEq(market.reputationScore(ann(0)), int256(4), "4 accepted");

        ILabelMarket.BatchParams memory p = oneTaskParams();
        p.minReputation = 0;
        uint256 id1 = createBatch(p);
        vm.prank(ann(2));
        vm.expectRevert(abi.encodeWithSelector(ILabelMarket.InsufficientReputation.selector, int256(-10), int256(0)));
        market.claim(id1);
        assertEq(claimAs(ann(0), id1), 0, "good annotator still claims");
    }
}
