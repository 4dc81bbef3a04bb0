// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {V2Fixture} from "../utils/V2Fixture.sol";
import {FeeOnTransferToken} from "../utils/Mocks.sol";
import {ILabelMarketV2Types} from "../../interfaces/ILabelMarketV2.sol";
import {LabelMarketV2} from "../../LabelMarketV2.sol";
import {LabelMarketV2Settlement} from "../../LabelMarketV2Settlement.sol";
import {LabelMarketV2Optimistic} from "../../LabelMarketV2Optimistic.sol";
import {LabelMarketV2Relay} from "../../LabelMarketV2Relay.sol";
import {LabelMarketV2Tally} from "../../LabelMarketV2Tally.sol";
import {ConcordToken} from "../../ConcordToken.sol";

/// @notice v2: createBatch, join, seal, drawSeed, commit, reveal, expire and the rounds that return abandoned
///         positions to the pool — every revert path.
contract LabelMarketV2JoinTest is V2Fixture {
    // ------------------------------------------------------------------------------------------------
    // createBatch
    // ------------------------------------------------------------------------------------------------

    function test_create_escrowsRewardsAndBondAndOpensRoundOne() public {
        ILabelMarketV2Types.BatchParams memory p = defaultParams();
        p.goldRoot = keccak256("gold");
        p.goldCount = 1;
        p.goldBond = 5 * UNIT;
        uint256 before = token.balanceOf(requester);
        uint256 id = create(p);
        assertEq(before - token.balanceOf(requester), 24 * UNIT + 5 * UNIT, "8 items x 3 x 1 CCD + bond");
        ILabelMarketV2Types.Batch memory b = market.getBatch(id);
        assertEq(b.state.escrow, 24 * UNIT, "escrow");
        assertEq(b.state.goldBond, 5 * UNIT, "bond");
        assertEq(b.state.round, 1, "round 1");
        assertEq(b.config.numTasks, 2, "two tasks");
        assertEq(b.config.requester, requester, "requester");
        assertEq(b.config.commitDeadline, vm.getBlockTimestamp() + 1 days, "commit deadline");
        ILabelMarketV2Types.Round memory r = market.getRound(id, 1);
        assertEq(r.joinEnd, vm.getBlockTimestamp() + 1 hours, "join window");
        assertEq(r.commitEnd, vm.getBlockTimestamp() + 3 hours, "commit window after it");
        assertEq(r.free, 6, "2 tasks x 3 lanes");
        assertEq(market.getLaneRound(id, 1, 2).pool, 2, "every lane holds every task");
        assertEq(market.domainOf(id), requester, "reputation domain: the requester");
    }

    function expectInvalid(ILabelMarketV2Types.BatchParams memory p, string memory reason) internal {
        vm.prank(requester);
        vm.expectRevert(abi.encodeWithSelector(ILabelMarketV2Types.InvalidParams.selector, reason));
        market.createBatch(p);
    }

    function test_create_rejectsEachInvalidParameter() public {
        ILabelMarketV2Types.BatchParams memory p;
        p = defaultParams();
        p.rewardToken = address(0);
        expectInvalid(p, "rewardToken");
        p = defaultParams();
        p.numItems = 0;
        expectInvalid(p, "numItems");
        p = defaultParams();
        p.taskSize = 33;
        expectInvalid(p, "taskSize");
        p = defaultParams();
        p.replicas = 1;
        expectInvalid(p, "replicas");
        p = defaultParams();
        p.numClasses = 17;
        expectInvalid(p, "numClasses");
        p = defaultParams();
        p.thresholdBps = 10_001;
        expectInvalid(p, "thresholdBps");
        p = defaultParams();
        p.maxBundle = 33;
        expectInvalid(p, "maxBundle");
        p = defaultParams();
        p.rewardPerLabel = 0;
        expectInvalid(p, "rewardPerLabel");
        p = defaultParams();
        p.noRevealPenalty = 8e18; // = taskSize x wrongLabelPenalty
        expectInvalid(p, "noRevealPenalty");
        p = defaultParams();
        p.stakePerTask = 9e18;
        expectInvalid(p, "stakePerTask");
        p = defaultParams();
        p.squatPenalty = 0;
        expectInvalid(p, "squatPenalty");
        p = defaultParams();
        p.squatPenalty = 21e18;
        expectInvalid(p, "squatPenalty");
        p = defaultParams();
        p.periods.revealPeriod = 0;
        expectInvalid(p, "revealPeriod");
        p = defaultParams();
        p.periods.roundPeriod = 0;
        expectInvalid(p, "roundPeriod");
        p = defaultParams();
        p.periods.commitWindow = 0;
        expectInvalid(p, "commitWindow");
        p = defaultParams();
        p.periods.commitPeriod = 3 hours - 1; // a round (1 h) and its commits (2 h) must fit
        expectInvalid(p, "commitPeriod");
        p = defaultParams();
        p.manifestRoot = 0;
        expectInvalid(p, "manifestRoot");
        p = defaultParams();
        p.goldCount = 1;
        expectInvalid(p, "goldCount");
        p = defaultParams();
        p.goldRoot = keccak256("gold");
        p.goldCount = 1;
        expectInvalid(p, "goldBond"); // gold without a bond
    }

    function test_create_rejectsFeeOnTransferToken() public {
        FeeOnTransferToken fot = new FeeOnTransferToken(100);
        fot.mint(requester, 1_000 * UNIT);
        vm.prank(requester);
        fot.approve(address(market), type(uint256).max);
        ILabelMarketV2Types.BatchParams memory p = defaultParams();
        p.rewardToken = address(fot);
        vm.prank(requester);
        vm.expectRevert(
            abi.encodeWithSelector(ILabelMarketV2Types.TokenShortfall.selector, 24 * UNIT, 24 * UNIT * 99 / 100)
        );
        market.createBatch(p);
    }

    function test_create_withPermitNeedsNoApproval() public {
        uint256 pk = 0xB0B0;
        address owner = vm.addr(pk);
        vm.prank(treasury);
        require(token.transfer(owner, 100 * UNIT));
        ILabelMarketV2Types.BatchParams memory p = defaultParams();
        bytes32 structHash = keccak256(
            abi.encode(
                keccak256("Permit(address owner,address spender,uint256 value,uint256 nonce,uint256 deadline)"),
                owner,
                address(market),
                24 * UNIT,
                0,
                vm.getBlockTimestamp() + 1
            )
        );
        (uint8 v, bytes32 r, bytes32 s) =
            vm.sign(pk, keccak256(abi.encodePacked("\x19\x01", token.DOMAIN_SEPARATOR(), structHash)));
        vm.prank(owner);
        uint256 id = market.createBatchWithPermit(p, vm.getBlockTimestamp() + 1, v, r, s);
        assertEq(market.getBatch(id).config.requester, owner, "created");
        assertEq(token.balanceOf(owner), 76 * UNIT, "escrow pulled through the permit");
    }

    // ------------------------------------------------------------------------------------------------
    // join
    // ------------------------------------------------------------------------------------------------

    function test_join_locksStakeBindsALaneAndStoresTheBundle() public {
        uint256 id = create(defaultParams());
        vm.expectEmit(address(market));
        emit ILabelMarketV2Types.Joined(id, 0, ann(0), ILabelMarketV2Types.Bundle(ann(0), 0, 1, 0, 2), 40 * UNIT);
        Held memory h = joinAs(ann(0), id, 2);
        assertEq(h.bundle.size, 2, "two tasks");
        assertEq(market.accountOf(ann(0)).locked, 40 * UNIT, "2 x stakePerTask locked");
        assertEq(uint256(market.bundleStatus(id, h.id)), uint256(ILabelMarketV2Types.Status.Joined), "joined");
        (bool joined, uint256 lane, uint256 round) = market.memberOf(id, ann(0));
        assertTrue(joined, "member");
        assertEq(lane, 0, "lane 0");
        assertEq(round, 1, "round 1");
        // Lane 0 is full: the next newcomer goes to the lane with the most free positions.
        Held memory h1 = joinAs(ann(1), id, 1);
        assertEq(h1.bundle.lane, 1, "lane 1");
        Held memory h2 = joinAs(ann(2), id, 2);
        assertEq(h2.bundle.lane, 2, "lane 2 has two free, lane 1 one");
        assertEq(market.getRound(id, 1).free, 1, "one position left");
    }

    function test_join_takesWhatTheLaneHasLeft() public {
        uint256 id = create(defaultParams());
        joinAs(ann(0), id, 1); // lane 0, one of its two tasks
        joinAs(ann(1), id, 2); // lane 1
        joinAs(ann(2), id, 2); // lane 2
        Held memory h = joinAs(ann(3), id, 2); // lane 0 again: one position left
        assertEq(h.bundle.lane, 0, "lane 0");
        assertEq(h.bundle.first, 1, "its second ticket");
        assertEq(h.bundle.size, 1, "one task, not two");
        assertEq(market.accountOf(ann(3)).locked, 20 * UNIT, "stake for one task");
    }

    function test_join_revertsAlreadyJoinedInTheRound() public {
        uint256 id = create(defaultParams());
        joinAs(ann(0), id, 1);
        vm.prank(ann(0));
        vm.expectRevert(abi.encodeWithSelector(ILabelMarketV2Types.AlreadyJoined.selector, id, 1));
        market.join(id, 1);
    }

    function test_join_revertsInvalidBundleSize() public {
        uint256 id = create(defaultParams());
        vm.startPrank(ann(0));
        vm.expectRevert(abi.encodeWithSelector(ILabelMarketV2Types.InvalidBundleSize.selector, 0, 2));
        market.join(id, 0);
        vm.expectRevert(abi.encodeWithSelector(ILabelMarketV2Types.InvalidBundleSize.selector, 3, 2));
        market.join(id, 3);
        vm.stopPrank();
    }

    function test_join_revertsUnknownBatch() public {
        vm.prank(ann(0));
        vm.expectRevert(abi.encodeWithSelector(ILabelMarketV2Types.UnknownBatch.selector, 5));
        market.join(5, 1);
    }

    function test_join_revertsInsufficientStake() public {
        uint256 id = create(defaultParams());
        address poor = vm.addr(0xD00D);
        vm.prank(treasury);
        require(token.transfer(poor, 100 * UNIT));
        vm.startPrank(poor);
        token.approve(address(market), type(uint256).max);
        market.stake(30 * UNIT);
        vm.expectRevert(abi.encodeWithSelector(ILabelMarketV2Types.InsufficientStake.selector, 30 * UNIT, 40 * UNIT));
        market.join(id, 2);
        // Enough for one task (20) but below minStake (50).
        vm.expectRevert(abi.encodeWithSelector(ILabelMarketV2Types.InsufficientStake.selector, 30 * UNIT, 50 * UNIT));
        market.join(id, 1);
        vm.stopPrank();
        assertEq(market.accountOf(poor).locked, 0, "nothing locked");
    }

    function test_join_revertsInsufficientReputation() public {
        ILabelMarketV2Types.BatchParams memory p = defaultParams();
        p.minReputation = 1;
        uint256 id = create(p);
        vm.prank(ann(0));
        vm.expectRevert(abi.encodeWithSelector(ILabelMarketV2Types.InsufficientReputation.selector, 0, 1));
        market.join(id, 1);
    }

    function test_join_qualificationSignedByTheQualifier() public {
        uint256 qk = 0x9A1;
        ILabelMarketV2Types.BatchParams memory p = defaultParams();
        p.qualifier = vm.addr(qk);
        uint256 id = create(p);
        assertEq(market.domainOf(id), vm.addr(qk), "the qualifier is the domain");
        vm.prank(ann(0));
        vm.expectRevert(abi.encodeWithSelector(ILabelMarketV2Types.NotQualified.selector, id, ann(0)));
        market.join(id, 1);

        uint256 deadline = vm.getBlockTimestamp() + 1 days;
        bytes32 structHash = keccak256(
            abi.encode(
                keccak256("Qualification(uint256 batchId,address annotator,uint256 deadline)"), id, ann(0), deadline
            )
        );
        bytes32 digest = keccak256(abi.encodePacked("\x19\x01", market.domainSeparator(), structHash));
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(0xBAD, digest);
        vm.expectRevert(ILabelMarketV2Types.InvalidQualification.selector);
        market.qualify(id, ann(0), deadline, abi.encodePacked(r, s, v));
        (v, r, s) = vm.sign(qk, digest);
        vm.expectEmit(address(market));
        emit ILabelMarketV2Types.Qualified(id, ann(0));
        market.qualify(id, ann(0), deadline, abi.encodePacked(r, s, v));
        joinAs(ann(0), id, 1);

        vm.warp(deadline + 1);
        vm.expectRevert(abi.encodeWithSelector(ILabelMarketV2Types.QualificationExpired.selector, deadline));
        market.qualify(id, ann(1), deadline, abi.encodePacked(r, s, v));
    }

    /// @dev A contract qualifier (the generation market gating its review batches) records qualifications by calling
    ///      `qualify` itself: no signature, no deadline; nobody else can without the qualifier's signature.
    function test_qualify_theQualifierItselfRecordsAQualificationWithoutASignature() public {
        address gate = address(0x6A7E);
        ILabelMarketV2Types.BatchParams memory p = defaultParams();
        p.qualifier = gate;
        uint256 id = create(p);
        vm.prank(ann(1));
        vm.expectRevert(ILabelMarketV2Types.InvalidQualification.selector);
        market.qualify(id, ann(1), vm.getBlockTimestamp() + 1 days, "");
        vm.expectEmit(address(market));
        emit ILabelMarketV2Types.Qualified(id, ann(0));
        vm.prank(gate);
        market.qualify(id, ann(0), 0, "");
        assertTrue(market.qualified(id, ann(0)), "recorded");
        assertFalse(market.qualified(id, ann(1)), "only the one the qualifier named");
        joinAs(ann(0), id, 1);
        vm.prank(ann(1));
        vm.expectRevert(abi.encodeWithSelector(ILabelMarketV2Types.NotQualified.selector, id, ann(1)));
        market.join(id, 1);
    }

    function test_join_fillingTheLastPositionSealsTheRound() public {
        uint256 id = create(defaultParams());
        joinAs(ann(0), id, 2);
        joinAs(ann(1), id, 2);
        vm.roll(500);
        vm.expectEmit(address(market));
        emit ILabelMarketV2Types.RoundSealed(id, 1, 500);
        joinAs(ann(2), id, 2);
        assertEq(market.getRound(id, 1).sealBlock, 500, "sealed by the last join");
        // While the round's commits run, nobody can join.
        uint256 commitEnd = market.getRound(id, 1).commitEnd;
        vm.prank(ann(3));
        vm.expectRevert(abi.encodeWithSelector(ILabelMarketV2Types.RoundClosed.selector, 1, commitEnd + 1));
        market.join(id, 1);
    }

    function test_join_revertsWhenTheNextRoundWouldOutliveTheCommitPhase() public {
        uint256 id = create(defaultParams());
        joinAs(ann(0), id, 1);
        // Round 1 ends without commits; a round opened 22 h in would need commits until 25 h > 24 h.
        vm.warp(vm.getBlockTimestamp() + 22 hours);
        vm.prank(ann(1));
        vm.expectRevert(
            abi.encodeWithSelector(
                ILabelMarketV2Types.CommitPhaseOver.selector, market.getBatch(id).config.commitDeadline
            )
        );
        market.join(id, 1);
    }

    function test_join_revertsPastTheLastRound() public {
        ILabelMarketV2Types.BatchParams memory p = defaultParams();
        p.periods.roundPeriod = 1;
        p.periods.commitWindow = 1;
        uint256 id = create(p);
        for (uint256 i; i < 2; ++i) {
            vm.prank(ann(i));
            market.stake(3000 * UNIT); // 128 joins each lock 20 CCD that no commit ever frees
        }
        // One join per round, never committed: every round's leftovers open the next one, up to 255 rounds.
        for (uint256 r = 1; r <= 255; ++r) {
            vm.prank(ann(r % 2));
            market.join(id, 1);
            assertEq(uint256(market.getBatch(id).state.round), r, "one round per join");
            vm.warp(market.getRound(id, r).commitEnd + 1);
        }
        vm.prank(ann(0));
        vm.expectRevert(abi.encodeWithSelector(ILabelMarketV2Types.TooManyRounds.selector, 255));
        market.join(id, 1);
    }

    // ------------------------------------------------------------------------------------------------
    // seal, drawSeed
    // ------------------------------------------------------------------------------------------------

    function test_seal_onlyAfterTheJoinWindowAndOnce() public {
        uint256 id = create(defaultParams());
        joinAs(ann(0), id, 1);
        uint256 joinEnd = market.getRound(id, 1).joinEnd;
        vm.expectRevert(abi.encodeWithSelector(ILabelMarketV2Types.RoundStillOpen.selector, 1, joinEnd));
        market.seal(id);
        vm.warp(joinEnd + 1);
        vm.roll(700);
        vm.expectEmit(address(market));
        emit ILabelMarketV2Types.RoundSealed(id, 1, 700);
        market.seal(id);
        vm.expectRevert(abi.encodeWithSelector(ILabelMarketV2Types.AlreadySealed.selector, 1));
        market.seal(id);
    }

    function test_drawSeed_isTheHashOfTheBlockAfterTheSeal() public {
        uint256 id = create(defaultParams());
        joinAs(ann(0), id, 2);
        joinAs(ann(1), id, 2);
        vm.roll(300);
        joinAs(ann(2), id, 2); // seals at 300
        vm.expectRevert(abi.encodeWithSelector(ILabelMarketV2Types.SeedNotReady.selector, 1, 302));
        market.drawSeed(id, 1);
        vm.roll(301);
        vm.expectRevert(abi.encodeWithSelector(ILabelMarketV2Types.SeedNotReady.selector, 1, 302));
        market.drawSeed(id, 1);
        vm.roll(302);
        vm.setBlockhash(301, keccak256("block 301"));
        vm.expectEmit(address(market));
        emit ILabelMarketV2Types.SeedDrawn(id, 1, keccak256("block 301"));
        market.drawSeed(id, 1);
        assertEq(market.seedOf(id, 1), keccak256("block 301"), "stored");
        market.drawSeed(id, 1); // idempotent
        vm.expectRevert(abi.encodeWithSelector(ILabelMarketV2Types.SeedNotReady.selector, 2, 0));
        market.drawSeed(id, 2);
    }

    function test_drawSeed_reArmsWhenTheSeedBlockIsOutOfReach() public {
        uint256 id = create(defaultParams());
        joinAs(ann(0), id, 2);
        joinAs(ann(1), id, 2);
        vm.roll(300);
        joinAs(ann(2), id, 2);
        vm.roll(300 + 258); // blockhash(301) is no longer readable
        vm.expectEmit(address(market));
        emit ILabelMarketV2Types.RoundSealed(id, 1, 558);
        market.drawSeed(id, 1);
        assertEq(market.seedOf(id, 1), bytes32(0), "no seed from an old block");
        assertEq(market.getRound(id, 1).sealBlock, 558, "sealed again from now");
    }

    // ------------------------------------------------------------------------------------------------
    // commit
    // ------------------------------------------------------------------------------------------------

    function test_commit_marksTheTicketsAndStoresTheSeed() public {
        uint256 id = create(defaultParams());
        Held memory h = joinAs(ann(0), id, 2);
        joinAs(ann(1), id, 2);
        joinAs(ann(2), id, 2);
        uint256 sealBlock = market.getRound(id, 1).sealBlock;
        vm.roll(sealBlock + 2);
        vm.setBlockhash(sealBlock + 1, keccak256("seed"));
        // The annotator computes its tasks off-chain from the block hash; the commit stores the seed.
        h.tasks = new uint256[](0);
        h.words = new uint256[](1);
        h.words[0] = 1;
        bytes32 ch = market.commitHashOf(id, h.id, ann(0), h.words, h.salt);
        vm.expectEmit(address(market));
        emit ILabelMarketV2Types.Committed(id, h.id, ann(0), ch, "backup");
        vm.prank(ann(0));
        market.commit(id, h.id, h.bundle, ch, "backup");
        assertEq(market.seedOf(id, 1), keccak256("seed"), "seed stored by the commit");
        assertEq(uint256(market.bundleStatus(id, h.id)), uint256(ILabelMarketV2Types.Status.Committed), "committed");
        assertEq(market.getLaneRound(id, 1, 0).committed, 2, "two tickets committed");
        assertEq(market.getBatch(id).state.committed, 2, "batch count");

        vm.prank(ann(0));
        vm.expectRevert(
            abi.encodeWithSelector(ILabelMarketV2Types.BundleMismatch.selector, h.id, ILabelMarketV2Types.Status.Joined)
        );
        market.commit(id, h.id, h.bundle, ch, "");
    }

    function test_commit_revertsForAnotherAnnotatorOrForgedData() public {
        uint256 id = create(defaultParams());
        Held memory h = joinAs(ann(0), id, 2);
        vm.prank(ann(1));
        vm.expectRevert(abi.encodeWithSelector(ILabelMarketV2Types.NotYourBundle.selector, h.id, ann(1)));
        market.commit(id, h.id, h.bundle, bytes32(0), "");
        h.bundle.first = 1; // pretend to hold other tickets
        vm.prank(ann(0));
        vm.expectRevert(
            abi.encodeWithSelector(ILabelMarketV2Types.BundleMismatch.selector, h.id, ILabelMarketV2Types.Status.Joined)
        );
        market.commit(id, h.id, h.bundle, bytes32(0), "");
    }

    function test_commit_revertsBeforeTheSeedAndAfterTheWindow() public {
        uint256 id = create(defaultParams());
        Held memory h = joinAs(ann(0), id, 2);
        vm.prank(ann(0));
        vm.expectRevert(abi.encodeWithSelector(ILabelMarketV2Types.SeedNotReady.selector, 1, 0));
        market.commit(id, h.id, h.bundle, bytes32(0), "");
        uint256 commitEnd = market.getRound(id, 1).commitEnd;
        vm.warp(commitEnd + 1);
        vm.prank(ann(0));
        vm.expectRevert(abi.encodeWithSelector(ILabelMarketV2Types.CommitWindowClosed.selector, 1, commitEnd));
        market.commit(id, h.id, h.bundle, bytes32(0), "");
    }

    // ------------------------------------------------------------------------------------------------
    // reveal
    // ------------------------------------------------------------------------------------------------

    function test_reveal_opensWhenEveryPositionIsCommitted() public {
        uint256 id = create(defaultParams());
        Held[] memory hs = new Held[](3);
        for (uint256 i; i < 3; ++i) {
            hs[i] = joinAs(ann(i), id, 2);
        }
        seedRound(id, 1);
        for (uint256 i; i < 2; ++i) {
            label(id, hs[i], 0);
            commitAs(id, hs[i]);
        }
        uint256 commitDeadline = market.getBatch(id).config.commitDeadline;
        vm.prank(ann(0));
        vm.expectRevert(abi.encodeWithSelector(ILabelMarketV2Types.RevealNotOpen.selector, commitDeadline + 1));
        market.reveal(id, hs[0].id, hs[0].bundle, hs[0].words, hs[0].salt);
        label(id, hs[2], 0);
        commitAs(id, hs[2]);
        vm.expectEmit(address(market));
        emit ILabelMarketV2Types.Revealed(id, hs[0].id, ann(0), hs[0].words);
        revealAs(id, hs[0]);
        assertEq(uint256(market.bundleStatus(id, hs[0].id)), uint256(ILabelMarketV2Types.Status.Revealed), "revealed");
        vm.prank(ann(0));
        vm.expectRevert(
            abi.encodeWithSelector(
                ILabelMarketV2Types.BundleMismatch.selector, hs[0].id, ILabelMarketV2Types.Status.Committed
            )
        );
        market.reveal(id, hs[0].id, hs[0].bundle, hs[0].words, hs[0].salt);
    }

    function test_reveal_opensAfterTheCommitDeadlineAndClosesAtTheRevealDeadline() public {
        uint256 id = create(defaultParams());
        Held memory h = joinAs(ann(0), id, 2);
        seedRound(id, 1);
        label(id, h, 0);
        commitAs(id, h);
        warpPastCommit(id);
        revealAs(id, h);
        Held memory late = h;
        late.id = 99;
        warpPastReveal(id);
        uint256 revealDeadline = market.getBatch(id).config.revealDeadline;
        vm.prank(ann(0));
        vm.expectRevert(abi.encodeWithSelector(ILabelMarketV2Types.RevealPhaseOver.selector, revealDeadline));
        market.reveal(id, late.id, late.bundle, late.words, late.salt);
    }

    function test_reveal_revertsOnWrongSaltWrongLengthAndOutOfRangeLabels() public {
        uint256 id = create(defaultParams());
        Held memory h = joinAs(ann(0), id, 2);
        seedRound(id, 1);
        label(id, h, 0);
        commitAs(id, h);
        warpPastCommit(id);
        vm.startPrank(ann(0));
        vm.expectRevert(ILabelMarketV2Types.CommitMismatch.selector);
        market.reveal(id, h.id, h.bundle, h.words, keccak256("other salt"));
        vm.expectRevert(abi.encodeWithSelector(ILabelMarketV2Types.NotYourBundle.selector, h.id, ann(0)));
        ILabelMarketV2Types.Bundle memory other = h.bundle;
        other.annotator = ann(1);
        market.reveal(id, h.id, other, h.words, h.salt);
        vm.stopPrank();

        // Commitments to malformed words: the commit hash matches, the check after it does not.
        uint256[] memory long = new uint256[](2);
        _commitAndExpect(id, long, abi.encodeWithSelector(ILabelMarketV2Types.WrongBundleLength.selector, 2, 1));
        uint256[] memory badClass = new uint256[](1);
        badClass[0] = uint256(5) << (4 * 3); // task 0, item 3: class 5 of 4
        _commitAndExpect(id, badClass, abi.encodeWithSelector(ILabelMarketV2Types.LabelOutOfRange.selector, 0, 3, 5));
        uint256[] memory badSecond = new uint256[](1);
        badSecond[0] = uint256(4) << 128; // task 1, item 0: class 4
        _commitAndExpect(id, badSecond, abi.encodeWithSelector(ILabelMarketV2Types.LabelOutOfRange.selector, 1, 0, 4));
    }

    /// @dev A fresh batch where ann(1) commits `words`, then its reveal reverts with `err`.
    function _commitAndExpect(uint256 id, uint256[] memory words, bytes memory err) internal {
        id = create(defaultParams());
        Held memory h = joinAs(ann(1), id, 2);
        seedRound(id, 1);
        h.words = words;
        commitAs(id, h);
        warpPastCommit(id);
        vm.prank(ann(1));
        vm.expectRevert(err);
        market.reveal(id, h.id, h.bundle, h.words, h.salt);
    }

    // ------------------------------------------------------------------------------------------------
    // expire and the next round
    // ------------------------------------------------------------------------------------------------

    function test_expire_forfeitsTheSquatPenaltyAndTheNextRoundReassignsTheTasks() public {
        uint256 id = create(defaultParams());
        Held[] memory hs = new Held[](3);
        for (uint256 i; i < 3; ++i) {
            hs[i] = joinAs(ann(i), id, 2);
        }
        seedRound(id, 1);
        for (uint256 i; i < 2; ++i) {
            label(id, hs[i], 0);
            commitAs(id, hs[i]);
        }
        // ann(2) squats lane 2 and never commits.
        uint256 commitEnd = market.getRound(id, 1).commitEnd;
        vm.expectRevert(abi.encodeWithSelector(ILabelMarketV2Types.CommitWindowOpen.selector, 1, commitEnd));
        market.expire(id, hs[2].id, hs[2].bundle);
        vm.warp(commitEnd + 1);
        vm.expectEmit(address(market));
        emit ILabelMarketV2Types.BundleExpired(id, hs[2].id, ann(2), 10 * UNIT);
        vm.prank(ann(9));
        market.expire(id, hs[2].id, hs[2].bundle);
        assertEq(market.accountOf(ann(2)).amount, STAKE - 10 * UNIT, "2 tasks x 5 CCD forfeited");
        assertEq(market.accountOf(ann(2)).locked, 0, "the rest unlocked");
        assertEq(market.claimable(treasury, address(token)), 10 * UNIT, "to the treasury");
        assertEq(market.reputationOf(ann(2), requester).squatted, 1, "squat on record");
        assertEq(uint256(market.bundleStatus(id, hs[2].id)), 0, "gone");
        vm.expectRevert(
            abi.encodeWithSelector(
                ILabelMarketV2Types.BundleMismatch.selector, hs[2].id, ILabelMarketV2Types.Status.Joined
            )
        );
        market.expire(id, hs[2].id, hs[2].bundle);

        // Round 2 opens with lane 2's two positions; a newcomer gets them.
        // A member of a full lane gets nothing in round 2, even though lane 2 has room.
        vm.prank(ann(0));
        vm.expectRevert(abi.encodeWithSelector(ILabelMarketV2Types.NoTaskAvailable.selector, id));
        market.join(id, 2);
        Held memory h3 = joinAs(ann(3), id, 2);
        assertEq(h3.bundle.round, 2, "round 2");
        assertEq(h3.bundle.lane, 2, "the lane with free positions");
        assertEq(market.getLaneRound(id, 2, 0).pool, 0, "lane 0 fully committed");
        assertEq(market.getLaneRound(id, 2, 2).pool, 2, "lane 2's pool");
        seedRound(id, 2);
        label(id, h3, 0);
        commitAs(id, h3);
        assertTrue(h3.tasks[0] != h3.tasks[1] && h3.tasks[0] < 2 && h3.tasks[1] < 2, "both tasks of lane 2");
        // Every position is committed now: reveals open, and settlement finds lane 2 in round 2.
        revealAs(id, hs[0]);
        revealAs(id, hs[1]);
        revealAs(id, h3);
        Held[] memory live = new Held[](3);
        (live[0], live[1], live[2]) = (hs[0], hs[1], h3);
        assertEq(settleAll(id, live), 2, "settled");
        assertEq(market.claimable(ann(3), address(token)), 8 * UNIT, "the round-2 annotator is paid");
    }

    function test_rounds_abandonedTicketsFlowThroughSeveralRounds() public {
        ILabelMarketV2Types.BatchParams memory p = defaultParams();
        p.numItems = 4 * 300; // 300 tasks: ticket bitmaps span two words
        p.replicas = 2;
        p.maxBundle = 32;
        p.stakePerTask = 10e18; // 320 CCD per bundle: three rounds of joins fit a 1,000 CCD stake
        p.periods.roundPeriod = 10 minutes;
        p.periods.commitWindow = 10 minutes;
        uint256 id = create(p);
        // Round 1: ten annotators take 32 tickets each in two lanes; odd ones abandon.
        Held[] memory live = new Held[](40);
        uint256 n;
        for (uint256 round = 1; round <= 4; ++round) {
            Held[] memory hs = new Held[](10);
            uint256 joined;
            for (uint256 i; i < 10; ++i) {
                vm.prank(ann(i));
                try market.join(id, 32) returns (uint256 bundleId, uint256 size) {
                    hs[joined] = heldAfterJoin(id, ann(i), bundleId, size);
                    assertEq(hs[joined].bundle.round, round, "joined this round");
                    ++joined;
                } catch {}
            }
            if (joined == 0) break;
            seedRound(id, round);
            for (uint256 i; i < joined; ++i) {
                label(id, hs[i], 0);
                if ((i + round) % 3 == 0) continue; // abandoned
                commitAs(id, hs[i]);
                live[n++] = hs[i];
            }
            vm.warp(uint256(market.getRound(id, round).commitEnd) + 1);
        }
        assertGe(market.getBatch(id).state.round, 3, "several rounds ran");
        uint256 later;
        for (uint256 i; i < n; ++i) {
            if (live[i].bundle.round >= 3) ++later;
        }
        assertGt(later, 0, "bundles committed in round 3 or later, mapped through two pools");
        // Per lane, the committed bundles hold distinct tasks.
        for (uint256 lane; lane < 2; ++lane) {
            uint256[2] memory seen;
            for (uint256 i; i < n; ++i) {
                if (live[i].bundle.lane != lane) continue;
                for (uint256 m; m < live[i].tasks.length; ++m) {
                    uint256 t = live[i].tasks[m];
                    assertTrue((seen[t / 256] >> (t % 256)) & 1 == 0, "a task twice in one lane");
                    seen[t / 256] |= 1 << (t % 256);
                }
            }
        }
        warpPastCommit(id);
        for (uint256 i; i < n; ++i) {
            revealAs(id, live[i]);
        }
        warpPastReveal(id);
        Held[] memory all = new Held[](n);
        for (uint256 i; i < n; ++i) {
            all[i] = live[i];
        }
        // Settlement accepts exactly the committed holders (MissingBundle / DuplicateBundle otherwise).
        assertEq(settleAll(id, all), 300, "every task settled");
    }

    function test_reveal_staysClosedAtTheCommitDeadlineItself() public {
        uint256 id = create(defaultParams());
        Held memory h = joinAs(ann(0), id, 2);
        seedRound(id, 1);
        label(id, h, 0);
        commitAs(id, h);
        uint256 deadline = market.getBatch(id).config.commitDeadline;
        vm.warp(deadline); // others could still commit in this second
        vm.prank(ann(0));
        vm.expectRevert(abi.encodeWithSelector(ILabelMarketV2Types.RevealNotOpen.selector, deadline + 1));
        market.reveal(id, h.id, h.bundle, h.words, h.salt);
        vm.warp(deadline + 1);
        revealAs(id, h);
    }

    /// @dev Round 1 of lane 0: tickets 0-1 committed, 2-3 abandoned; round 2 re-offers those two and a newcomer
    ///      commits them. Leaving the round-2 holder out must fail: the proof ranks a task among round 1's
    ///      uncommitted tickets to find it in round 2's pool.
    function test_settle_findsALeftOutHolderFromALaterRound() public {
        ILabelMarketV2Types.BatchParams memory p = defaultParams();
        p.numItems = 16; // 4 tasks
        uint256 id = create(p);
        Held[] memory r1 = new Held[](6);
        for (uint256 i; i < 6; ++i) {
            r1[i] = joinAs(ann(i), id, 2); // lanes 0, 1, 2, 0, 1, 2
        }
        assertEq(r1[3].bundle.lane, 0, "ann(3) holds lane 0's tickets 2-3");
        seedRound(id, 1);
        for (uint256 i; i < 6; ++i) {
            label(id, r1[i], 0);
            if (i != 3) commitAs(id, r1[i]);
        }
        vm.warp(uint256(market.getRound(id, 1).commitEnd) + 1);
        Held memory late = joinAs(ann(6), id, 2);
        assertEq(late.bundle.lane, 0, "round 2 offers lane 0's two abandoned positions");
        seedRound(id, 2);
        label(id, late, 0);
        commitAs(id, late);
        Held[] memory live = new Held[](6);
        (live[0], live[1], live[2], live[3], live[4]) = (r1[0], r1[1], r1[2], r1[4], r1[5]);
        live[5] = late;
        for (uint256 i; i < 6; ++i) {
            revealAs(id, live[i]);
        }
        warpPastReveal(id);
        Held[] memory without = new Held[](5);
        for (uint256 i; i < 5; ++i) {
            without[i] = live[i];
        }
        uint256[] memory tasks = new uint256[](1);
        tasks[0] = late.tasks[0];
        ILabelMarketV2Types.BundleProof[] memory ps = proofsOf(without);
        vm.expectRevert(abi.encodeWithSelector(ILabelMarketV2Types.MissingBundle.selector, late.tasks[0], 0));
        market.settle(id, tasks, ps);
        assertEq(settleAll(id, live), 4, "with the round-2 holder every task settles");
    }

    // ------------------------------------------------------------------------------------------------
    // the module
    // ------------------------------------------------------------------------------------------------

    function test_module_refusesDirectCalls() public {
        LabelMarketV2Settlement module = LabelMarketV2Settlement(market.SETTLEMENT());
        LabelMarketV2Optimistic optimistic = LabelMarketV2Optimistic(module.OPTIMISTIC());
        vm.expectRevert(LabelMarketV2Tally.OnlyDelegated.selector);
        optimistic.refund(0);
        vm.expectRevert(LabelMarketV2Tally.OnlyDelegated.selector);
        module.drawSeed(0, 1);
        ILabelMarketV2Types.Bundle memory b;
        vm.expectRevert(LabelMarketV2Tally.OnlyDelegated.selector);
        module.commitAndJoin(0, 0, b, 0, "", 1);
    }

    function test_constructor_refusesAModuleOfAnotherTokenOrTreasury() public {
        LabelMarketV2Settlement otherTreasury = new LabelMarketV2Settlement(
            token,
            address(0xBEEF),
            new LabelMarketV2Optimistic(token, address(0xBEEF)),
            new LabelMarketV2Relay(token, address(0xBEEF))
        );
        vm.expectRevert(abi.encodeWithSelector(ILabelMarketV2Types.InvalidParams.selector, "settlement"));
        new LabelMarketV2(token, treasury, COOLDOWN, otherTreasury);
        ConcordToken other = new ConcordToken(treasury);
        LabelMarketV2Settlement otherToken = new LabelMarketV2Settlement(
            other, treasury, new LabelMarketV2Optimistic(other, treasury), new LabelMarketV2Relay(other, treasury)
        );
        vm.expectRevert(abi.encodeWithSelector(ILabelMarketV2Types.InvalidParams.selector, "settlement"));
        new LabelMarketV2(token, treasury, COOLDOWN, otherToken);
        LabelMarketV2 ok = new LabelMarketV2(
            token,
            treasury,
            COOLDOWN,
            new LabelMarketV2Settlement(
                token, treasury, new LabelMarketV2Optimistic(token, treasury), new LabelMarketV2Relay(token, treasury)
            )
        );
        assertEq(address(ok.STAKE_TOKEN()), address(token), "a matching module is taken");
    }

    function test_constructor_settlementRefusesModulesOfAnotherTokenOrTreasury() public {
        ConcordToken other = new ConcordToken(treasury);
        LabelMarketV2Optimistic opt = new LabelMarketV2Optimistic(token, treasury);
        LabelMarketV2Relay relay = new LabelMarketV2Relay(token, treasury);
        LabelMarketV2Relay relayOfOtherToken = new LabelMarketV2Relay(other, treasury);
        LabelMarketV2Relay relayOfOtherTreasury = new LabelMarketV2Relay(token, address(0xBEEF));
        LabelMarketV2Optimistic optOfOtherToken = new LabelMarketV2Optimistic(other, treasury);
        vm.expectRevert(abi.encodeWithSelector(ILabelMarketV2Types.InvalidParams.selector, "relay"));
        new LabelMarketV2Settlement(token, treasury, opt, relayOfOtherToken);
        vm.expectRevert(abi.encodeWithSelector(ILabelMarketV2Types.InvalidParams.selector, "relay"));
        new LabelMarketV2Settlement(token, treasury, opt, relayOfOtherTreasury);
        vm.expectRevert(abi.encodeWithSelector(ILabelMarketV2Types.InvalidParams.selector, "optimistic"));
        new LabelMarketV2Settlement(token, treasury, optOfOtherToken, relay);
        LabelMarketV2Settlement ok = new LabelMarketV2Settlement(token, treasury, opt, relay);
        assertEq(ok.RELAY(), address(relay), "the relay module kept");
        assertEq(ok.OPTIMISTIC(), address(opt), "the optimistic module kept");
    }
}
