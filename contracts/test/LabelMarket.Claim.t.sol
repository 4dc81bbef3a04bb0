// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {MarketTest} from "./utils/MarketTest.sol";
import {ILabelMarket} from "../interfaces/ILabelMarket.sol";

/// @notice claim (assignment, no repeats, slot reuse, open set), releaseExpired, commit and reveal.
contract LabelMarketClaimTest is MarketTest {
    function setUp() public override {
        super.setUp();
        stakeAll(100 * UNIT);
    }

    // ------------------------------------------------------------------------------------------------
    // claim
    // ------------------------------------------------------------------------------------------------

    function test_claim_assignsSlotLocksStakeAndEmits() public {
        uint256 id = createBatch(oneTaskParams());
        address a = ann(0);
        uint256 expiry = vm.getBlockTimestamp() + 1 hours;
        vm.expectEmit(address(market));
        emit ILabelMarket.Claimed(id, 0, a, 0, expiry);
        assertEq(claimAs(a, id), 0, "task 0");

        ILabelMarket.Slot memory sl = market.getSlot(id, 0, 0);
        assertEq(sl.annotator, a, "slot holder");
        assertEq(sl.expiry, expiry, "slot expiry");
        (uint8 slot, ILabelMarket.Status status) = market.assignmentOf(id, 0, a);
        assertEq(slot, 0, "slot 0");
        assertEq(uint256(status), uint256(ILabelMarket.Status.Claimed), "claimed");
        assertEq(market.getTask(id, 0).claimedMask, 1, "claimed mask");
        assertEq(market.stakeOf(a).locked, 20 * UNIT, "stakePerClaim locked");
        assertEq(market.stakeOf(a).amount, 100 * UNIT, "amount untouched");

        vm.expectEmit(address(market));
        emit ILabelMarket.Claimed(id, 0, ann(1), 1, expiry);
        claimAs(ann(1), id);
        assertEq(market.getTask(id, 0).claimedMask, 3, "two slots claimed");
    }

    function test_claim_expiryCappedAtCommitDeadline() public {
        ILabelMarket.BatchParams memory p = oneTaskParams();
        p.claimTimeout = 2 days; // longer than the 1 day commit period
        uint256 id = createBatch(p);
        claimAs(ann(0), id);
        assertEq(market.getSlot(id, 0, 0).expiry, market.getBatch(id).config.commitDeadline, "capped");
    }

    function test_claim_atCommitDeadlineSucceeds() public {
        uint256 id = createBatch(oneTaskParams());
        vm.warp(market.getBatch(id).config.commitDeadline);
        claimAs(ann(0), id);
        assertEq(market.getSlot(id, 0, 0).expiry, vm.getBlockTimestamp(), "expiry is the deadline");
    }

    function test_claim_revertsCommitPhaseOver() public {
        uint256 id = createBatch(oneTaskParams());
        uint256 deadline = market.getBatch(id).config.commitDeadline;
        vm.warp(deadline + 1);
        vm.prank(ann(0));
        vm.expectRevert(abi.encodeWithSelector(ILabelMarket.CommitPhaseOver.selector, deadline));
        market.claim(id);
    }

    function test_claim_revertsUnknownBatch() public {
        vm.prank(ann(0));
        vm.expectRevert(abi.encodeWithSelector(ILabelMarket.UnknownBatch.selector, 0));
        market.claim(0);
    }

    function test_claim_revertsNoTaskAvailable_allSlotsTaken() public {
        uint256 id = createBatch(oneTaskParams());
        claimN(id, 3);
        vm.prank(ann(3));
        vm.expectRevert(abi.encodeWithSelector(ILabelMarket.NoTaskAvailable.selector, id));
        market.claim(id);
        assertEq(market.stakeOf(ann(3)).locked, 0, "nothing locked on failure");
    }

    function test_claim_neverSameTaskTwice_whileHoldingIt() public {
        uint256 id = createBatch(oneTaskParams());
        claimAs(ann(0), id);
        vm.prank(ann(0));
        vm.expectRevert(abi.encodeWithSelector(ILabelMarket.NoTaskAvailable.selector, id));
        market.claim(id);
    }

    function test_claim_neverSameTaskTwice_afterReleaseExpired() public {
        uint256 id = createBatch(oneTaskParams());
        claimAs(ann(0), id);
        vm.warp(vm.getBlockTimestamp() + 1 hours + 1);
        market.releaseExpired(id, 0, 0);
        assertStatus(id, 0, ann(0), ILabelMarket.Status.Expired, "expired");
        vm.prank(ann(0));
        vm.expectRevert(abi.encodeWithSelector(ILabelMarket.NoTaskAvailable.selector, id));
        market.claim(id);
        // Someone else takes the freed slot 0.
        vm.expectEmit(address(market));
        emit ILabelMarket.Claimed(id, 0, ann(1), 0, vm.getBlockTimestamp() + 1 hours);
        claimAs(ann(1), id);
    }

    function test_claim_neverSameTaskTwice_afterSlotReusedByOthers() public {
        ILabelMarket.BatchParams memory p = oneTaskParams();
        p.replicas = 2;
        uint256 id = createBatch(p);
        claimAs(ann(0), id);
        claimAs(ann(1), id);
        vm.warp(vm.getBlockTimestamp() + 1 hours + 1);
        claimAs(ann(2), id); // reuses slot 0, releasing ann(0)
        vm.warp(vm.getBlockTimestamp() + 1 hours + 1);
        // Slot 1 (ann(1)) and slot 0 (ann(2)) expired; ann(0) and ann(1) still may never get task 0 back.
        for (uint256 i; i < 3; ++i) {
            vm.prank(ann(i));
            vm.expectRevert(abi.encodeWithSelector(ILabelMarket.NoTaskAvailable.selector, id));
            market.claim(id);
        }
        claimAs(ann(3), id);
        assertEq(market.getSlot(id, 0, 0).annotator, ann(3), "lowest expired slot reused");
    }

    function test_claim_neverSameTaskTwice_multiTask() public {
        ILabelMarket.BatchParams memory p = defaultParams(); // 3 tasks
        uint256 id = createBatch(p);
        address a = ann(0);
        bool[3] memory seen;
        for (uint256 i; i < 3; ++i) {
            uint256 t = claimAs(a, id);
            assertFalse(seen[t], "a task is never handed out twice");
            seen[t] = true;
        }
        assertEq(market.stakeOf(a).locked, 60 * UNIT, "three claims locked");
        vm.warp(vm.getBlockTimestamp() + 1 hours + 1);
        for (uint256 t; t < 3; ++t) {
            market.releaseExpired(id, t, 0);
        }
        assertEq(market.stakeOf(a).locked, 0, "all released");
        vm.prank(a);
        vm.expectRevert(abi.encodeWithSelector(ILabelMarket.NoTaskAvailable.selector, id));
        market.claim(id);
    }

    function test_claim_reusesExpiredSlot() public {
        ILabelMarket.BatchParams memory p = oneTaskParams();
        p.replicas = 2;
        uint256 id = createBatch(p);
        uint256 t0 = vm.getBlockTimestamp();
        claimAs(ann(0), id); // slot 0, expires t0 + 1h
        vm.warp(t0 + 30 minutes);
        claimAs(ann(1), id); // slot 1, expires t0 + 1h30
        vm.warp(t0 + 1 hours + 1);

        vm.expectEmit(address(market));
        emit ILabelMarket.ClaimReleased(id, 0, ann(0), 0);
        vm.expectEmit(address(market));
        emit ILabelMarket.Claimed(id, 0, ann(2), 0, vm.getBlockTimestamp() + 1 hours);
        assertEq(claimAs(ann(2), id), 0, "same task");

        assertEq(market.getSlot(id, 0, 0).annotator, ann(2), "slot 0 reassigned");
        assertEq(market.getSlot(id, 0, 1).annotator, ann(1), "live claim kept");
        assertEq(market.stakeOf(ann(0)).locked, 0, "old holder unlocked");
        assertEq(market.stakeOf(ann(2)).locked, 20 * UNIT, "new holder locked");
        assertStatus(id, 0, ann(0), ILabelMarket.Status.Expired, "old holder expired");
        assertEq(market.getTask(id, 0).claimedMask, 3, "both slots claimed");
    }

    function test_claim_liveClaimNotReusedAtExpiry() public {
        ILabelMarket.BatchParams memory p = oneTaskParams();
        p.replicas = 2;
        uint256 id = createBatch(p);
        claimAs(ann(0), id);
        claimAs(ann(1), id);
        vm.warp(vm.getBlockTimestamp() + 1 hours); // == expiry: still valid
        vm.prank(ann(2));
        vm.expectRevert(abi.encodeWithSelector(ILabelMarket.NoTaskAvailable.selector, id));
        market.claim(id);
    }

    function test_claim_fullyCommittedTasksLeaveOpenSet() public {
        ILabelMarket.BatchParams memory p = defaultParams();
        p.numItems = 8; // 2 tasks
        p.replicas = 2;
        uint256 id = createBatch(p);
        assertEq(market.openTaskCount(id), 2, "both open");
        // Four claims fill both tasks.
        uint256[4] memory tasks;
        for (uint256 i; i < 4; ++i) {
            tasks[i] = claimAs(ann(i), id);
        }
        assertEq(market.openTaskCount(id), 2, "claimed but uncommitted tasks stay open (claims can expire)");
        // Commit the two holders of task 1 first: task 1 leaves and task 0 is swapped into its place.
        for (uint256 i; i < 4; ++i) {
            if (tasks[i] == 1) commitAs(ann(i), id, 1, pack(1, 1, 1, 1));
        }
        assertEq(market.openTaskCount(id), 1, "task 1 left at its last commit");
        for (uint256 i; i < 4; ++i) {
            if (tasks[i] == 0) commitAs(ann(i), id, 0, pack(1, 1, 1, 1));
        }
        assertEq(market.openTaskCount(id), 0, "task 0 left too");
        vm.prank(ann(4));
        vm.expectRevert(abi.encodeWithSelector(ILabelMarket.NoTaskAvailable.selector, id));
        market.claim(id);
    }

    function test_claim_findsTheLastOpenTasksInALargeBatch() public {
        // 40 tasks, 2 replicas: everything but task 37 gets fully committed; a fresh annotator must still find
        // task 37 although it started far from it (only open tasks are ever probed).
        ILabelMarket.BatchParams memory p = defaultParams();
        p.numItems = 160;
        p.replicas = 2;
        uint256 id = createBatch(p);
        for (uint256 round; round < 2; ++round) {
            for (uint256 i; i < 40; ++i) {
                address a = vm.addr(0xB000 + round * 100 + i);
                vm.prank(treasury);
                token.transfer(a, 100 * UNIT);
                vm.prank(a);
                token.approve(address(market), type(uint256).max);
                stakeAs(a, 100 * UNIT);
                uint256 t = claimAs(a, id);
                if (t != 37 || round == 0) commitAs(a, id, t, pack(1, 1, 1, 1));
            }
        }
        assertLe(market.openTaskCount(id), 1, "only task 37 can still be open");
        (, ILabelMarket.Status st) = market.assignmentOf(id, 37, ann(0));
        assertEq(uint256(st), 0, "ann(0) never touched task 37");
        if (market.openTaskCount(id) == 1) {
            // Task 37's second slot is claimed but uncommitted; once that claim expires, ann(0) gets it.
            vm.warp(vm.getBlockTimestamp() + 2 hours);
            assertEq(claimAs(ann(0), id), 37, "the last open task is found");
        }
    }

    // ------------------------------------------------------------------------------------------------
    // releaseExpired
    // ------------------------------------------------------------------------------------------------

    function test_releaseExpired_unlocksStakeAndFreesSlot() public {
        uint256 id = createBatch(oneTaskParams());
        claimN(id, 2);
        vm.warp(vm.getBlockTimestamp() + 1 hours + 1);
        vm.expectEmit(address(market));
        emit ILabelMarket.ClaimReleased(id, 0, ann(1), 1);
        vm.prank(address(0x4EE9E2)); // anyone
        market.releaseExpired(id, 0, 1);
        assertEq(market.getTask(id, 0).claimedMask, 1, "slot 1 free");
        assertEq(market.stakeOf(ann(1)).locked, 0, "unlocked");
        assertEq(market.stakeOf(ann(1)).amount, 100 * UNIT, "no penalty for a lapsed claim");
        assertStatus(id, 0, ann(1), ILabelMarket.Status.Expired, "expired");
        vm.warp(market.getBatch(id).config.commitDeadline);
        claimAs(ann(5), id);
        assertEq(market.getSlot(id, 0, 1).annotator, ann(5), "freed slot handed out");
    }

    function test_releaseExpired_revertsClaimNotExpired_whenClaimStillLive() public {
        uint256 id = createBatch(oneTaskParams());
        claimAs(ann(0), id);
        uint256 expiry = market.getSlot(id, 0, 0).expiry;
        vm.warp(expiry);
        // The claim is valid through `expiry`.
        vm.expectRevert(abi.encodeWithSelector(ILabelMarket.ClaimNotExpired.selector, id, 0, expiry));
        market.releaseExpired(id, 0, 0);
    }

    function test_releaseExpired_revertsNotClaimed_freeSlot() public {
        uint256 id = createBatch(oneTaskParams());
        claimAs(ann(0), id);
        vm.expectRevert(abi.encodeWithSelector(ILabelMarket.NotClaimed.selector, id, 0, address(0)));
        market.releaseExpired(id, 0, 1);
    }

    function test_releaseExpired_revertsNotClaimed_committedSlot() public {
        uint256 id = createBatch(oneTaskParams());
        claimAs(ann(0), id);
        commitAs(ann(0), id, 0, pack(1, 1, 1, 1));
        vm.warp(vm.getBlockTimestamp() + 2 hours);
        vm.expectRevert(abi.encodeWithSelector(ILabelMarket.NotClaimed.selector, id, 0, ann(0)));
        market.releaseExpired(id, 0, 0);
    }

    function test_releaseExpired_revertsNotClaimed_alreadyReleased() public {
        uint256 id = createBatch(oneTaskParams());
        claimAs(ann(0), id);
        vm.warp(vm.getBlockTimestamp() + 2 hours);
        market.releaseExpired(id, 0, 0);
        vm.expectRevert(abi.encodeWithSelector(ILabelMarket.NotClaimed.selector, id, 0, ann(0)));
        market.releaseExpired(id, 0, 0);
    }

    function test_releaseExpired_revertsNotClaimed_slotOutOfRange() public {
        uint256 id = createBatch(oneTaskParams());
        vm.expectRevert(abi.encodeWithSelector(ILabelMarket.NotClaimed.selector, id, 0, address(0)));
        market.releaseExpired(id, 0, 15);
        vm.expectRevert(abi.encodeWithSelector(ILabelMarket.NotClaimed.selector, id, 0, address(0)));
        market.releaseExpired(id, 0, type(uint256).max);
    }

    function test_releaseExpired_revertsUnknownTask() public {
        uint256 id = createBatch(oneTaskParams());
        vm.expectRevert(abi.encodeWithSelector(ILabelMarket.UnknownTask.selector, id, 1));
        market.releaseExpired(id, 1, 0);
    }

    function test_releaseExpired_revertsUnknownBatch() public {
        vm.expectRevert(abi.encodeWithSelector(ILabelMarket.UnknownBatch.selector, 4));
        market.releaseExpired(4, 0, 0);
    }

    // ------------------------------------------------------------------------------------------------
    // commit
    // ------------------------------------------------------------------------------------------------

    function test_commit_storesHashAndEmitsBackup() public {
        uint256 id = createBatch(oneTaskParams());
        address a = ann(0);
        claimAs(a, id);
        bytes32 h = market.commitHashOf(id, 0, a, pack(2, 1, 0, 1), keccak256("salt"));
        bytes memory backup = hex"0badc0ffee";
        vm.expectEmit(address(market));
        emit ILabelMarket.Committed(id, 0, a, h, backup);
        vm.prank(a);
        market.commit(id, 0, h, backup);
        assertEq(market.commitOf(id, 0, 0), h, "hash stored in slot");
        ILabelMarket.Task memory t = market.getTask(id, 0);
        assertEq(t.claimedMask, 0, "no longer just claimed");
        assertEq(t.committedMask, 1, "committed");
        assertStatus(id, 0, a, ILabelMarket.Status.Committed, "status");
        assertEq(market.stakeOf(a).locked, 20 * UNIT, "stake stays locked until settlement");
    }

    function test_commit_atClaimExpirySucceeds() public {
        uint256 id = createBatch(oneTaskParams());
        claimAs(ann(0), id);
        vm.warp(market.getSlot(id, 0, 0).expiry);
        commitAs(ann(0), id, 0, pack(1, 1, 1, 1));
        assertEq(market.getTask(id, 0).committedMask, 1, "committed at expiry");
    }

    function test_commit_revertsClaimExpired() public {
        uint256 id = createBatch(oneTaskParams());
        claimAs(ann(0), id);
        uint256 expiry = market.getSlot(id, 0, 0).expiry;
        vm.warp(expiry + 1);
        vm.prank(ann(0));
        vm.expectRevert(abi.encodeWithSelector(ILabelMarket.ClaimExpired.selector, id, 0, expiry));
        market.commit(id, 0, keccak256("h"), "");
    }

    function test_commit_revertsNotClaimed_neverClaimed() public {
        uint256 id = createBatch(oneTaskParams());
        vm.prank(ann(0));
        vm.expectRevert(abi.encodeWithSelector(ILabelMarket.NotClaimed.selector, id, 0, ann(0)));
        market.commit(id, 0, keccak256("h"), "");
    }

    function test_commit_revertsNotClaimed_afterSlotWasReassigned() public {
        ILabelMarket.BatchParams memory p = oneTaskParams();
        p.replicas = 2;
        uint256 id = createBatch(p);
        claimN(id, 2);
        vm.warp(vm.getBlockTimestamp() + 1 hours + 1);
        claimAs(ann(2), id); // takes slot 0 from ann(0)
        vm.prank(ann(0));
        vm.expectRevert(abi.encodeWithSelector(ILabelMarket.NotClaimed.selector, id, 0, ann(0)));
        market.commit(id, 0, keccak256("h"), "");
    }

    function test_commit_revertsAlreadyCommitted() public {
        uint256 id = createBatch(oneTaskParams());
        claimAs(ann(0), id);
        commitAs(ann(0), id, 0, pack(1, 1, 1, 1));
        vm.prank(ann(0));
        vm.expectRevert(abi.encodeWithSelector(ILabelMarket.AlreadyCommitted.selector, id, 0));
        market.commit(id, 0, keccak256("other"), "");
        assertEq(
            market.commitOf(id, 0, 0),
            market.commitHashOf(id, 0, ann(0), pack(1, 1, 1, 1), saltOf(ann(0), id, 0)),
            "first commit kept"
        );
    }

    function test_commit_revertsAlreadyCommitted_afterReveal() public {
        uint256 id = createBatch(oneTaskParams());
        claimCommitReveal(id, three(pack(1, 1, 1, 1), pack(1, 1, 1, 1), pack(1, 1, 1, 1)));
        vm.prank(ann(0));
        vm.expectRevert(abi.encodeWithSelector(ILabelMarket.AlreadyCommitted.selector, id, 0));
        market.commit(id, 0, keccak256("other"), "");
    }

    function test_commit_revertsCommitPhaseOver() public {
        ILabelMarket.BatchParams memory p = oneTaskParams();
        p.claimTimeout = 2 days;
        uint256 id = createBatch(p);
        claimAs(ann(0), id);
        uint256 deadline = market.getBatch(id).config.commitDeadline;
        vm.warp(deadline + 1);
        vm.prank(ann(0));
        vm.expectRevert(abi.encodeWithSelector(ILabelMarket.CommitPhaseOver.selector, deadline));
        market.commit(id, 0, keccak256("h"), "");
    }

    function test_commit_revertsUnknownBatch() public {
        vm.prank(ann(0));
        vm.expectRevert(abi.encodeWithSelector(ILabelMarket.UnknownBatch.selector, 0));
        market.commit(0, 0, keccak256("h"), "");
    }

    // ------------------------------------------------------------------------------------------------
    // reveal
    // ------------------------------------------------------------------------------------------------

    function test_reveal_storesLabelsAndEmits() public {
        uint256 id = createBatch(oneTaskParams());
        uint256 labels = pack(2, 0, 1, 2);
        claimCommit(id, three(labels, labels, labels));
        vm.expectEmit(address(market));
        emit ILabelMarket.Revealed(id, 0, ann(1), labels);
        revealAs(ann(1), id, 0, labels);
        assertEq(market.labelsOf(id, 0, 1), labels, "labels stored");
        assertEq(market.labelsOf(id, 0, 0), 0, "others not yet");
        assertEq(market.getTask(id, 0).revealedMask, 2, "revealed mask");
        assertStatus(id, 0, ann(1), ILabelMarket.Status.Revealed, "status");
    }

    function test_reveal_opensEarlyWhenAllReplicasCommitted() public {
        uint256 id = createBatch(oneTaskParams());
        claimCommit(id, three(pack(1, 1, 1, 1), pack(1, 1, 1, 1), pack(1, 1, 1, 1)));
        assertLt(vm.getBlockTimestamp(), market.getBatch(id).config.commitDeadline, "still in the commit phase");
        revealAs(ann(0), id, 0, pack(1, 1, 1, 1));
        assertEq(market.getTask(id, 0).revealedMask, 1, "revealed before the commit deadline");
    }

    function test_reveal_revertsRevealNotOpen_untilCommitDeadline() public {
        uint256 id = createBatch(oneTaskParams());
        claimCommit(id, two(pack(1, 1, 1, 1), pack(1, 1, 1, 1))); // 2 of 3 replicas
        vm.prank(ann(0));
        vm.expectRevert(abi.encodeWithSelector(ILabelMarket.RevealNotOpen.selector, id, 0));
        market.reveal(id, 0, pack(1, 1, 1, 1), saltOf(ann(0), id, 0));
        vm.warp(market.getBatch(id).config.commitDeadline); // the deadline itself still belongs to the commit phase
        vm.prank(ann(0));
        vm.expectRevert(abi.encodeWithSelector(ILabelMarket.RevealNotOpen.selector, id, 0));
        market.reveal(id, 0, pack(1, 1, 1, 1), saltOf(ann(0), id, 0));
        vm.warp(vm.getBlockTimestamp() + 1);
        revealAs(ann(0), id, 0, pack(1, 1, 1, 1));
        assertEq(market.getTask(id, 0).revealedMask, 1, "open after the commit deadline");
    }

    function test_reveal_revertsRevealNotOpen_otherTaskFullDoesNotOpenThisOne() public {
        ILabelMarket.BatchParams memory p = defaultParams();
        p.numItems = 8;
        p.replicas = 2;
        uint256 id = createBatch(p);
        uint256[4] memory tasks;
        for (uint256 i; i < 4; ++i) {
            tasks[i] = claimAs(ann(i), id);
        }
        // Commit only the holders of task tasks[0].
        uint256 target = tasks[0];
        address lone;
        for (uint256 i; i < 4; ++i) {
            if (tasks[i] == target) commitAs(ann(i), id, target, pack(1, 1, 1, 1));
            else if (lone == address(0)) lone = ann(i);
        }
        uint256 other = 1 - target;
        commitAs(lone, id, other, pack(1, 1, 1, 1));
        vm.prank(lone);
        vm.expectRevert(abi.encodeWithSelector(ILabelMarket.RevealNotOpen.selector, id, other));
        market.reveal(id, other, pack(1, 1, 1, 1), saltOf(lone, id, other));
    }

    function test_reveal_revertsRevealPhaseOver() public {
        uint256 id = createBatch(oneTaskParams());
        claimCommit(id, three(pack(1, 1, 1, 1), pack(1, 1, 1, 1), pack(1, 1, 1, 1)));
        uint256 deadline = market.getBatch(id).config.revealDeadline;
        vm.warp(deadline);
        revealAs(ann(0), id, 0, pack(1, 1, 1, 1)); // inclusive
        vm.warp(deadline + 1);
        vm.prank(ann(1));
        vm.expectRevert(abi.encodeWithSelector(ILabelMarket.RevealPhaseOver.selector, deadline));
        market.reveal(id, 0, pack(1, 1, 1, 1), saltOf(ann(1), id, 0));
    }

    function test_reveal_revertsNotCommitted_onlyClaimed() public {
        uint256 id = createBatch(oneTaskParams());
        claimAs(ann(0), id);
        warpPastCommit(id);
        vm.prank(ann(0));
        vm.expectRevert(abi.encodeWithSelector(ILabelMarket.NotCommitted.selector, id, 0));
        market.reveal(id, 0, 0, bytes32(0));
    }

    function test_reveal_revertsNotCommitted_stranger() public {
        uint256 id = createBatch(oneTaskParams());
        claimCommit(id, three(pack(1, 1, 1, 1), pack(1, 1, 1, 1), pack(1, 1, 1, 1)));
        vm.prank(ann(7));
        vm.expectRevert(abi.encodeWithSelector(ILabelMarket.NotCommitted.selector, id, 0));
        market.reveal(id, 0, pack(1, 1, 1, 1), saltOf(ann(0), id, 0));
    }

    function test_reveal_revertsAlreadyRevealed() public {
        uint256 id = createBatch(oneTaskParams());
        claimCommitReveal(id, three(pack(1, 1, 1, 1), pack(1, 1, 1, 1), pack(1, 1, 1, 1)));
        vm.prank(ann(0));
        vm.expectRevert(abi.encodeWithSelector(ILabelMarket.AlreadyRevealed.selector, id, 0));
        market.reveal(id, 0, pack(1, 1, 1, 1), saltOf(ann(0), id, 0));
    }

    function test_reveal_revertsCommitMismatch_wrongLabels() public {
        uint256 id = createBatch(oneTaskParams());
        claimCommit(id, three(pack(1, 1, 1, 1), pack(1, 1, 1, 1), pack(1, 1, 1, 1)));
        vm.prank(ann(0));
        vm.expectRevert(abi.encodeWithSelector(ILabelMarket.CommitMismatch.selector));
        market.reveal(id, 0, pack(1, 1, 1, 2), saltOf(ann(0), id, 0));
    }

    function test_reveal_revertsCommitMismatch_wrongSalt() public {
        uint256 id = createBatch(oneTaskParams());
        claimCommit(id, three(pack(1, 1, 1, 1), pack(1, 1, 1, 1), pack(1, 1, 1, 1)));
        vm.prank(ann(0));
        vm.expectRevert(abi.encodeWithSelector(ILabelMarket.CommitMismatch.selector));
        market.reveal(id, 0, pack(1, 1, 1, 1), keccak256("guess"));
    }

    function test_reveal_revertsCommitMismatch_copiedCommit() public {
        // ann(1) copies ann(0)'s commit hash; even knowing ann(0)'s labels and salt it cannot open it,
        // because the hash is bound to the annotator.
        uint256 id = createBatch(oneTaskParams());
        claimN(id, 3);
        commitAs(ann(0), id, 0, pack(2, 2, 0, 1));
        bytes32 copied = market.commitOf(id, 0, 0);
        vm.prank(ann(1));
        market.commit(id, 0, copied, "");
        commitAs(ann(2), id, 0, pack(2, 2, 0, 1));
        vm.prank(ann(1));
        vm.expectRevert(abi.encodeWithSelector(ILabelMarket.CommitMismatch.selector));
        market.reveal(id, 0, pack(2, 2, 0, 1), saltOf(ann(0), id, 0));
    }

    function test_reveal_revertsLabelOutOfRange_classTooHigh() public {
        uint256 id = createBatch(oneTaskParams()); // 3 classes
        uint256 bad = pack(1, 0, 3, 1);
        claimCommit(id, three(bad, pack(1, 1, 1, 1), pack(1, 1, 1, 1)));
        vm.prank(ann(0));
        vm.expectRevert(abi.encodeWithSelector(ILabelMarket.LabelOutOfRange.selector, 2, 3, 3));
        market.reveal(id, 0, bad, saltOf(ann(0), id, 0));
    }

    function test_reveal_revertsLabelOutOfRange_bitsBeyondTask() public {
        ILabelMarket.BatchParams memory p = defaultParams();
        p.numItems = 2; // one short task: 2 items
        uint256 id = createBatch(p);
        uint256 bad = pack(1, 1, 0, 0) | (uint256(7) << 20); // item 5 set
        claimCommit(id, three(bad, pack(1, 1, 0, 0), pack(1, 1, 0, 0)));
        vm.prank(ann(0));
        vm.expectRevert(abi.encodeWithSelector(ILabelMarket.LabelOutOfRange.selector, 5, 7, 3));
        market.reveal(id, 0, bad, saltOf(ann(0), id, 0));
        // Item 2 does not exist in a 2-item task, so even a valid class there is rejected.
        uint256 bad2 = pack(1, 1, 1, 0);
        uint256 id2 = createBatch(p);
        claimN(id2, 3);
        for (uint256 i; i < 3; ++i) {
            commitAs(ann(i), id2, 0, bad2);
        }
        vm.prank(ann(0));
        vm.expectRevert(abi.encodeWithSelector(ILabelMarket.LabelOutOfRange.selector, 2, 1, 3));
        market.reveal(id2, 0, bad2, saltOf(ann(0), id2, 0));
    }

    function test_reveal_revertsUnknownBatch() public {
        vm.prank(ann(0));
        vm.expectRevert(abi.encodeWithSelector(ILabelMarket.UnknownBatch.selector, 0));
        market.reveal(0, 0, 0, bytes32(0));
    }
}
