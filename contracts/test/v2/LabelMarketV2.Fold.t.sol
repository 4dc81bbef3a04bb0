// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {V2Fixture} from "../utils/V2Fixture.sol";
import {ILabelMarketV2Types} from "../../interfaces/ILabelMarketV2.sol";

/// @notice v2: `commitAndJoin` — a commit and the next round's join in one transaction. The join reserves tickets of
///         a round that is not open yet; `seal` opens it after the current round's commit end; tickets past its pool
///         are void (the commit shrinks, `expire` releases a bundle that held nothing without penalty).
contract LabelMarketV2FoldTest is V2Fixture {
    /// @dev 16 items in tasks of 4: four tasks, so four positions per lane.
    function foldParams() internal view returns (ILabelMarketV2Types.BatchParams memory p) {
        p = defaultParams();
        p.numItems = 16;
    }

    /// @dev Labels and commits `h`, joining the next round for up to `maxTasks`; returns the reserved bundle.
    function commitJoinAs(uint256 id, Held memory h, uint256 maxTasks) internal returns (Held memory next) {
        label(id, h, 0);
        bytes32 ch = market.commitHashOf(id, h.id, h.bundle.annotator, h.words, h.salt);
        vm.prank(h.bundle.annotator);
        (uint256 bundleId, uint256 size) = market.commitAndJoin(id, h.id, h.bundle, ch, "", maxTasks);
        return heldAfterJoin(id, h.bundle.annotator, bundleId, size);
    }

    /// @dev Round 1 of `foldParams` filled by six bundles of two: lanes 0, 1, 2, 0, 1, 2; seed drawn.
    function sixPairs(uint256 id) internal returns (Held[] memory hs) {
        hs = new Held[](6);
        for (uint256 i; i < 6; ++i) {
            hs[i] = joinAs(ann(i), id, 2);
            assertEq(hs[i].bundle.lane, i % 3, "lanes in turn");
        }
        seedRound(id, 1);
    }

    function labelAndCommit(uint256 id, Held memory h) internal {
        label(id, h, 0);
        commitAs(id, h);
    }

    function sorted2(uint256[] memory t) internal pure returns (uint256, uint256) {
        return t[0] < t[1] ? (t[0], t[1]) : (t[1], t[0]);
    }

    // ------------------------------------------------------------------------------------------------
    // Reservation, opening, the reserved bundle's tasks
    // ------------------------------------------------------------------------------------------------

    function test_commitAndJoin_reservesTheNextRoundAndGetsTheTasksLeftUncommitted() public {
        uint256 id = create(foldParams());
        Held[] memory hs = sixPairs(id);
        uint256 lockedBefore = market.accountOf(ann(0)).locked;
        Held memory r2 = commitJoinAs(id, hs[0], 2);
        assertEq(uint256(market.bundleStatus(id, hs[0].id)), uint256(ILabelMarketV2Types.Status.Committed), "committed");
        assertEq(r2.bundle.round, 2, "reserved in round 2");
        assertEq(r2.bundle.lane, 0, "in its own lane");
        assertEq(r2.bundle.first, 0, "the lane's first reserved tickets");
        assertEq(r2.bundle.size, 2, "as asked: round 1 can leave two positions of lane 0");
        assertEq(market.accountOf(ann(0)).locked - lockedBefore, 40e18, "stake locked before the seed exists");
        assertEq(market.getBatch(id).state.round, 1, "round 2 is not open yet");
        // Lane 0's other bundle is abandoned; every other one commits.
        for (uint256 i = 1; i < 6; ++i) {
            if (i != 3) labelAndCommit(id, hs[i]);
        }
        label(id, hs[3], 0); // the tasks it held, to compare
        // Plain joins still wait for the commit end.
        uint256 commitEnd = market.getRound(id, 1).commitEnd;
        vm.prank(ann(6));
        vm.expectRevert(abi.encodeWithSelector(ILabelMarketV2Types.RoundClosed.selector, 1, commitEnd + 1));
        market.join(id, 1);

        vm.warp(commitEnd + 1);
        vm.roll(500);
        vm.expectEmit(address(market));
        emit ILabelMarketV2Types.RoundSealed(id, 2, 500);
        market.seal(id); // opens round 2, which its reservation fills: sealed as it opens
        assertEq(market.getBatch(id).state.round, 2, "round 2 open");
        ILabelMarketV2Types.LaneRound memory lr = market.getLaneRound(id, 2, 0);
        assertEq(lr.pool, 2, "lane 0's pool: the two abandoned positions");
        assertEq(lr.taken, 2, "both reserved");
        assertEq(market.getLaneRound(id, 2, 1).pool, 0, "lane 1 fully committed");
        assertEq(market.getRound(id, 2).free, 0, "nothing left to join");

        seedRound(id, 2);
        label(id, r2, 0);
        (uint256 a, uint256 b) = sorted2(r2.tasks);
        (uint256 c, uint256 d) = sorted2(hs[3].tasks);
        assertEq(a, c, "the reserved bundle holds the abandoned tasks");
        assertEq(b, d, "both of them");
        commitAs(id, r2);
        assertEq(market.getBatch(id).state.committed, 12, "every position committed");

        // Settled as any other bundle.
        Held[] memory all = new Held[](6);
        (all[0], all[1], all[2], all[3], all[4], all[5]) = (hs[0], hs[1], hs[2], r2, hs[4], hs[5]);
        for (uint256 i; i < 6; ++i) {
            revealAs(id, all[i]);
        }
        assertEq(market.settle(id, allTasks(id), proofsOf(all)), 4, "four tasks settled");
        assertEq(market.accountOf(ann(0)).locked, 0, "stake of both bundles unlocked");
        assertEq(market.claimable(ann(0), address(token)), 16 * UNIT, "16 labels paid");
    }

    function test_commitAndJoin_ticketsPastThePoolShrinkTheCommitAndUnlockTheirStake() public {
        uint256 id = create(foldParams());
        // Lane 0 holds ann 0 (two), ann 3 (one) and ann 6 (one).
        uint256[8] memory sizes = [uint256(2), 2, 2, 1, 1, 2, 1, 1];
        uint256[8] memory lanes = [uint256(0), 1, 2, 0, 1, 2, 0, 1];
        Held[] memory hs = new Held[](8);
        for (uint256 i; i < 8; ++i) {
            hs[i] = joinAs(ann(i), id, sizes[i]);
            assertEq(hs[i].bundle.lane, lanes[i], "lane");
        }
        seedRound(id, 1);
        Held memory r2 = commitJoinAs(id, hs[0], 2);
        assertEq(r2.bundle.size, 2, "two reserved: lane 0 could still leave two");
        for (uint256 i = 1; i < 8; ++i) {
            if (i != 6) labelAndCommit(id, hs[i]);
        }
        label(id, hs[6], 0);
        vm.warp(uint256(market.getRound(id, 1).commitEnd) + 1);
        market.seal(id);
        assertEq(market.getLaneRound(id, 2, 0).pool, 1, "one position left in lane 0");
        seedRound(id, 2);

        // The client labels the one ticket inside the pool and commits the bundle as it joined.
        Held memory held; // a copy of r2 with one task (a memory struct assignment would alias it)
        held.id = r2.id;
        held.salt = r2.salt;
        held.bundle = ILabelMarketV2Types.Bundle(ann(0), r2.bundle.lane, r2.bundle.round, r2.bundle.first, 1);
        label(id, held, 0);
        assertEq(held.tasks[0], hs[6].tasks[0], "the abandoned task");
        bytes32 ch = market.commitHashOf(id, held.id, ann(0), held.words, held.salt);
        uint256 locked = market.accountOf(ann(0)).locked;
        vm.expectEmit(address(market));
        emit ILabelMarketV2Types.BundleShrunk(id, r2.id, 1, 20e18);
        vm.prank(ann(0));
        market.commit(id, r2.id, r2.bundle, ch, "");
        assertEq(locked - market.accountOf(ann(0)).locked, 20e18, "the void ticket's stake unlocked");
        assertEq(market.getLaneRound(id, 2, 0).committed, 1, "one position committed");

        // From here on the bundle is its shrunk self.
        vm.prank(ann(0));
        vm.expectRevert(ILabelMarketV2Types.CommitMismatch.selector);
        market.reveal(id, r2.id, r2.bundle, held.words, held.salt);
        revealAs(id, held);
        Held[] memory all = new Held[](8);
        for (uint256 i; i < 8; ++i) {
            all[i] = i == 6 ? held : hs[i];
            if (i != 6) revealAs(id, hs[i]);
        }
        assertEq(market.settle(id, allTasks(id), proofsOf(all)), 4, "settled with the shrunk bundle");
        assertEq(market.accountOf(ann(0)).locked, 0, "all of ann 0's stake unlocked");
    }

    function test_commitAndJoin_aReservationPastThePoolCannotCommitAndExpiresWithoutPenalty() public {
        uint256 id = create(foldParams());
        Held[] memory hs = sixPairs(id);
        Held memory r2 = commitJoinAs(id, hs[0], 2);
        for (uint256 i = 1; i < 6; ++i) {
            labelAndCommit(id, hs[i]); // lane 0 fully committed: round 2's pool there is empty
        }
        vm.warp(uint256(market.getRound(id, 1).commitEnd) + 1);
        market.seal(id);
        assertEq(market.getLaneRound(id, 2, 0).pool, 0, "empty pool");
        seedRound(id, 2);
        vm.prank(ann(0));
        vm.expectRevert(abi.encodeWithSelector(ILabelMarketV2Types.NoTaskAvailable.selector, id));
        market.commit(id, r2.id, r2.bundle, bytes32(0), "");

        uint256 commitEnd = market.getRound(id, 2).commitEnd;
        vm.expectRevert(abi.encodeWithSelector(ILabelMarketV2Types.CommitWindowOpen.selector, 2, commitEnd));
        market.expire(id, r2.id, r2.bundle);
        vm.warp(commitEnd + 1);
        uint256 amount = market.accountOf(ann(0)).amount;
        vm.expectEmit(address(market));
        emit ILabelMarketV2Types.BundleExpired(id, r2.id, ann(0), 0);
        market.expire(id, r2.id, r2.bundle);
        assertEq(market.accountOf(ann(0)).amount, amount, "nothing forfeited");
        assertEq(market.accountOf(ann(0)).locked, 40e18, "only round 1's bundle still locked");
        assertEq(market.reputationOf(ann(0), requester).squatted, 0, "no squat mark: it held no task");
        assertEq(market.claimable(treasury, address(token)), 0, "nothing to the treasury");
    }

    function test_commitAndJoin_aRoundThatNeverOpensReleasesItsReservationsAfterTheCommitDeadline() public {
        uint256 id = create(foldParams());
        Held[] memory hs = sixPairs(id);
        Held memory r2 = commitJoinAs(id, hs[0], 1);
        labelAndCommit(id, hs[3]);
        uint256 deadline = market.getBatch(id).config.commitDeadline;
        vm.warp(uint256(market.getRound(id, 1).commitEnd) + 1);
        vm.expectRevert(abi.encodeWithSelector(ILabelMarketV2Types.CommitWindowOpen.selector, 2, deadline));
        market.expire(id, r2.id, r2.bundle);
        // Nobody opened round 2; past the commit deadline it never can.
        vm.warp(deadline + 1);
        vm.expectRevert(abi.encodeWithSelector(ILabelMarketV2Types.CommitPhaseOver.selector, deadline));
        market.seal(id);
        uint256 locked = market.accountOf(ann(0)).locked;
        market.expire(id, r2.id, r2.bundle);
        assertEq(locked - market.accountOf(ann(0)).locked, 20e18, "the reservation's stake unlocked");
        assertEq(market.reputationOf(ann(0), requester).squatted, 0, "no squat mark");
        assertEq(uint256(market.bundleStatus(id, r2.id)), uint256(ILabelMarketV2Types.Status.None), "released");
    }

    function test_commitAndJoin_joinsAfterTheOpeningTakeTheTicketsAfterTheReserved() public {
        uint256 id = create(foldParams());
        Held[] memory hs = sixPairs(id);
        Held memory r2 = commitJoinAs(id, hs[0], 1);
        labelAndCommit(id, hs[1]);
        labelAndCommit(id, hs[2]); // lane 0's second bundle and lanes 1, 2's second abandoned
        vm.warp(uint256(market.getRound(id, 1).commitEnd) + 1);
        market.seal(id);
        assertEq(market.getRound(id, 2).free, 5, "lane 0: 2 - 1 reserved, lanes 1 and 2: 2 each");
        assertEq(market.getRound(id, 2).sealBlock, 0, "still taking joins");
        // A plain join from ann 3 (lane 0) takes lane 0's ticket after the reserved one.
        Held memory j = joinAs(ann(3), id, 2);
        assertEq(j.bundle.lane, 0, "its lane");
        assertEq(j.bundle.first, 1, "after the reservation");
        assertEq(j.bundle.size, 1, "the one left");
        // ann 0 already joined round 2 (by reservation).
        vm.prank(ann(0));
        vm.expectRevert(abi.encodeWithSelector(ILabelMarketV2Types.AlreadyJoined.selector, id, 2));
        market.join(id, 1);
        assertEq(r2.bundle.first, 0, "reserved first");
    }

    function test_commitAndJoin_reservesNoMoreThanTheLaneCanLeave() public {
        ILabelMarketV2Types.BatchParams memory p = foldParams();
        p.maxBundle = 4;
        uint256 id = create(p);
        Held memory h = joinAs(ann(0), id, 3); // three of lane 0's four positions
        seedRound(id, 1);
        uint256 locked = market.accountOf(ann(0)).locked;
        Held memory r2 = commitJoinAs(id, h, 4);
        assertEq(r2.bundle.size, 1, "four asked, one position of lane 0 can be left for round 2");
        assertEq(market.accountOf(ann(0)).locked - locked, 20e18, "stake of one task locked");
        assertEq(market.getLaneRound(id, 2, 0).taken, 1, "one ticket reserved");
    }

    function test_join_aLaneReservedPastItsPoolHasNothingToJoin() public {
        uint256 id = create(foldParams());
        Held[] memory hs = sixPairs(id);
        commitJoinAs(id, hs[0], 2);
        labelAndCommit(id, hs[3]); // lane 0 fully committed: its round-2 pool is empty, its 2 tickets void
        labelAndCommit(id, hs[1]);
        labelAndCommit(id, hs[2]); // lanes 1 and 2 leave two positions each
        vm.warp(uint256(market.getRound(id, 1).commitEnd) + 1);
        market.seal(id);
        assertEq(market.getRound(id, 2).free, 4, "lanes 1 and 2 take joins");
        assertEq(market.getLaneRound(id, 2, 0).taken, 2, "lane 0 reserved past its empty pool");
        vm.prank(ann(3)); // a lane-0 member
        vm.expectRevert(abi.encodeWithSelector(ILabelMarketV2Types.NoTaskAvailable.selector, id));
        market.join(id, 1);
        Held memory j = joinAs(ann(4), id, 2); // a lane-1 member
        assertEq(j.bundle.size, 2, "lane 1's two positions");
    }

    // ------------------------------------------------------------------------------------------------
    // Reverts: the commit is undone with the join
    // ------------------------------------------------------------------------------------------------

    function expectFoldRevert(uint256 id, Held memory h, uint256 maxTasks, bytes memory err) internal {
        label(id, h, 0);
        bytes32 ch = market.commitHashOf(id, h.id, h.bundle.annotator, h.words, h.salt);
        vm.prank(h.bundle.annotator);
        vm.expectRevert(err);
        market.commitAndJoin(id, h.id, h.bundle, ch, "", maxTasks);
        assertEq(uint256(market.bundleStatus(id, h.id)), uint256(ILabelMarketV2Types.Status.Joined), "not committed");
    }

    function test_commitAndJoin_revertsOnAnInvalidSize() public {
        uint256 id = create(foldParams());
        Held[] memory hs = sixPairs(id);
        expectFoldRevert(id, hs[0], 0, abi.encodeWithSelector(ILabelMarketV2Types.InvalidBundleSize.selector, 0, 2));
        expectFoldRevert(id, hs[0], 3, abi.encodeWithSelector(ILabelMarketV2Types.InvalidBundleSize.selector, 3, 2));
    }

    function test_commitAndJoin_revertsWhenTheLaneCanLeaveNothing() public {
        uint256 id = create(foldParams());
        Held[] memory hs = sixPairs(id);
        labelAndCommit(id, hs[3]); // with ann 0's commit, all of lane 0 is committed
        expectFoldRevert(id, hs[0], 2, abi.encodeWithSelector(ILabelMarketV2Types.NoTaskAvailable.selector, id));
    }

    function test_commitAndJoin_revertsWhenTheNextRoundCannotFitBeforeTheDeadline() public {
        ILabelMarketV2Types.BatchParams memory p = foldParams();
        p.periods.commitPeriod = 4 hours; // round 1 ends at 3 hours; a second one needs 3 more
        uint256 id = create(p);
        Held[] memory hs = sixPairs(id);
        uint256 deadline = market.getBatch(id).config.commitDeadline;
        expectFoldRevert(id, hs[0], 2, abi.encodeWithSelector(ILabelMarketV2Types.CommitPhaseOver.selector, deadline));
    }

    function test_commitAndJoin_revertsWithoutUnlockedStake() public {
        ILabelMarketV2Types.BatchParams memory p = foldParams();
        p.stakePerTask = uint96(400 * UNIT); // a join of two locks 800 of the 1,000 staked
        uint256 id = create(p);
        Held[] memory hs = sixPairs(id);
        expectFoldRevert(
            id, hs[0], 1, abi.encodeWithSelector(ILabelMarketV2Types.InsufficientStake.selector, 200 * UNIT, 400 * UNIT)
        );
    }

    function test_commitAndJoin_revertsPastTheLastRound() public {
        ILabelMarketV2Types.BatchParams memory p = defaultParams();
        p.periods.roundPeriod = 1;
        p.periods.commitWindow = 1;
        uint256 id = create(p);
        for (uint256 i; i < 2; ++i) {
            vm.prank(ann(i));
            market.stake(3000 * UNIT); // 127 joins each lock 20 CCD that no commit ever frees
        }
        // One join per round, never committed, up to round 255.
        for (uint256 r = 1; r < 255; ++r) {
            joinAs(ann(r % 2), id, 1);
            vm.warp(market.getRound(id, r).commitEnd + 1);
        }
        Held memory h = joinAs(ann(2), id, 1);
        assertEq(h.bundle.round, 255, "the last round");
        seedRound(id, 255);
        expectFoldRevert(id, h, 1, abi.encodeWithSelector(ILabelMarketV2Types.TooManyRounds.selector, 255));
    }

    // ------------------------------------------------------------------------------------------------
    // seal: opening the next round
    // ------------------------------------------------------------------------------------------------

    function test_seal_afterTheCommitWindowOpensTheNextRoundOrRevertsWhenNothingIsLeft() public {
        uint256 id = create(defaultParams());
        Held[] memory hs = fullRoundCommitted(id, three(0, 0, 0));
        assertEq(hs.length, 3, "three bundles");
        vm.warp(uint256(market.getRound(id, 1).commitEnd) + 1);
        vm.expectRevert(abi.encodeWithSelector(ILabelMarketV2Types.NoTaskAvailable.selector, id));
        market.seal(id);

        uint256 id2 = create(defaultParams());
        Held[] memory two = new Held[](2);
        two[0] = joinAs(ann(0), id2, 2);
        two[1] = joinAs(ann(1), id2, 2);
        seedRound(id2, 1);
        labelAndCommit(id2, two[0]);
        vm.warp(uint256(market.getRound(id2, 1).commitEnd) + 1);
        market.seal(id2);
        assertEq(market.getBatch(id2).state.round, 2, "round 2 opened by seal");
        assertEq(market.getRound(id2, 2).free, 4, "lane 1's abandoned two and lane 2's unjoined two");
        assertEq(market.getRound(id2, 2).sealBlock, 0, "open for joins");
    }
}
