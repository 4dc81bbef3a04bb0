// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Base} from "../../utils/Base.sol";
import {ConcordToken} from "../../../ConcordToken.sol";
import {LabelMarketV2} from "../../../LabelMarketV2.sol";
import {LabelMarketV2Settlement} from "../../../LabelMarketV2Settlement.sol";
import {LabelMarketV2Optimistic} from "../../../LabelMarketV2Optimistic.sol";
import {LabelMarketV2Relay} from "../../../LabelMarketV2Relay.sol";
import {ILabelMarketV2Types, ILabelMarketV2Optimistic} from "../../../interfaces/ILabelMarketV2.sol";
import {HandlerV2} from "./HandlerV2.sol";

/// @notice v2 invariants over random action sequences (HandlerV2): exact solvency, paid within escrow, locked stake
///         exact and covered, one holder per (lane, task), one lane per annotator per batch, ticket accounting.
///         `FOUNDRY_PROFILE=ci` runs >= 10,000 calls per invariant.
contract InvariantsV2Test is Base {
    ConcordToken internal token;
    LabelMarketV2 internal market;
    HandlerV2 internal handler;
    address internal treasury = address(0x7EA5);
    address internal requester = address(0xB0B);
    address internal reviewer = address(0xCAFE);

    function setUp() public {
        vm.warp(1_700_000_000);
        vm.roll(1_000);
        token = new ConcordToken(treasury);
        market = new LabelMarketV2(
            token,
            treasury,
            1 days,
            new LabelMarketV2Settlement(
                token, treasury, new LabelMarketV2Optimistic(token, treasury), new LabelMarketV2Relay(token, treasury)
            )
        );
        handler = new HandlerV2(market, token, treasury, reviewer, requester);
        vm.prank(treasury);
        require(token.transfer(requester, 1_000_000 * UNIT));
        vm.prank(requester);
        token.approve(address(market), type(uint256).max);
        for (uint256 i; i < handler.annotatorCount(); ++i) {
            address a = handler.annotators(i);
            vm.prank(treasury);
            require(token.transfer(a, 10_000 * UNIT));
            vm.startPrank(a);
            token.approve(address(market), type(uint256).max);
            market.stake(2_000 * UNIT);
            vm.stopPrank();
        }
        // Two batches: with a reviewer and a 2/3 threshold, and without a reviewer and unanimity; a short last task.
        handler.addBatch(_create(reviewer, 6600, 46, 12 hours, 6 hours));
        handler.addBatch(_create(address(0), 10_000, 24, 12 hours, 6 hours));
        // A third, short one without a reviewer, mostly for optimistic settlement: its proposals and their challenge
        // windows come within a campaign's clock.
        handler.addBatch(_create(address(0), 6600, 12, 6 hours, 2 hours));

        bytes4[] memory selectors = new bytes4[](18);
        selectors[0] = handler.advance.selector;
        selectors[1] = handler.join.selector;
        selectors[2] = handler.sealAndSeed.selector;
        selectors[3] = handler.commit.selector;
        selectors[4] = handler.reveal.selector;
        selectors[5] = handler.expire.selector;
        selectors[6] = handler.settle.selector;
        selectors[7] = handler.resolve.selector;
        selectors[8] = handler.refund.selector;
        selectors[9] = handler.collect.selector;
        selectors[10] = handler.join.selector; // joins twice as often: they feed everything else
        selectors[11] = handler.settleCarrying.selector;
        selectors[12] = handler.commitAndJoin.selector;
        selectors[13] = handler.propose.selector;
        selectors[14] = handler.challenge.selector;
        selectors[15] = handler.finalize.selector;
        selectors[16] = handler.claimAll.selector;
        selectors[17] = handler.advance.selector; // time twice as often: proposals need their windows to pass
        targetContract(address(handler));
        targetSelector(FuzzSelector({addr: address(handler), selectors: selectors}));
    }

    function _create(address rev, uint16 threshold, uint32 numItems, uint32 commitPeriod, uint32 revealPeriod)
        internal
        returns (uint256 id)
    {
        ILabelMarketV2Types.BatchParams memory p;
        p.rewardToken = address(token);
        p.reviewer = rev;
        p.numItems = numItems;
        p.taskSize = 4;
        p.replicas = 3;
        p.numClasses = 3;
        p.thresholdBps = threshold;
        p.maxBundle = 3;
        p.rewardPerLabel = 1e18;
        p.stakePerTask = 20e18;
        p.wrongLabelPenalty = 2e18;
        p.noRevealPenalty = 10e18;
        p.squatPenalty = 5e18;
        p.minStake = 50e18;
        p.minReputation = -1_000;
        p.periods.commitPeriod = commitPeriod;
        p.periods.revealPeriod = revealPeriod;
        p.periods.reviewPeriod = revealPeriod;
        p.periods.roundPeriod = 1 hours;
        p.periods.commitWindow = 1 hours;
        p.manifestRoot = keccak256("manifest");
        p.manifestURI = "ipfs://m";
        vm.prank(requester);
        id = market.createBatch(p);
    }

    function _accounts() internal view returns (address[] memory a) {
        uint256 n = handler.annotatorCount();
        a = new address[](n + 3);
        for (uint256 i; i < n; ++i) {
            a[i] = handler.annotators(i);
        }
        (a[n], a[n + 1], a[n + 2]) = (treasury, requester, reviewer);
    }

    /// @notice Every token the market holds is owed to someone, to the wei: unspent escrow and bonds of batches
    ///         not refunded, stake, queued unstakes, credits, the bonds of live proposals, and what final proposals'
    ///         unclaimed credits will still move (rewards and coherence shares to credit, slashes still in stake).
    function invariant_solvencyExact() public view {
        uint256 owed;
        ILabelMarketV2Optimistic opt = ILabelMarketV2Optimistic(address(market));
        for (uint256 i; i < handler.batchCount(); ++i) {
            uint256 id = handler.batches(i);
            ILabelMarketV2Types.BatchState memory s = market.getBatch(id).state;
            if (!s.refunded) owed += uint256(s.escrow) + s.goldBond - s.paid;
            ILabelMarketV2Types.Proposal memory p = opt.proposalOf(id);
            if (p.status == ILabelMarketV2Types.ProposalStatus.Live) owed += p.bond;
        }
        owed = uint256(int256(owed) + handler.ghostPendingClaims());
        address[] memory accts = _accounts();
        for (uint256 i; i < accts.length; ++i) {
            ILabelMarketV2Types.Account memory a = market.accountOf(accts[i]);
            owed += uint256(a.amount) + market.pendingUnstake(accts[i]) + market.claimable(accts[i], address(token));
        }
        assertEq(token.balanceOf(address(market)), owed, "balance == everything owed");
    }

    /// @notice No batch pays more than it escrowed; settled tasks never exceed the batch.
    function invariant_paidWithinEscrow() public view {
        for (uint256 i; i < handler.batchCount(); ++i) {
            ILabelMarketV2Types.Batch memory b = market.getBatch(handler.batches(i));
            assertLe(b.state.paid, b.state.escrow, "paid <= escrow");
            assertLe(b.state.tasksSettled, b.config.numTasks, "settled <= tasks");
            assertLe(b.state.undecided, b.config.numItems, "undecided <= items");
        }
    }

    /// @notice Locked stake is covered and equals stakePerTask for every task of a live bundle not yet settled.
    function invariant_lockedExact() public view {
        for (uint256 i; i < handler.annotatorCount(); ++i) {
            address a = handler.annotators(i);
            ILabelMarketV2Types.Account memory acct = market.accountOf(a);
            assertLe(acct.locked, acct.amount, "locked <= staked");
            assertEq(acct.locked, handler.ghostLockedTasks(a) * 20e18, "locked == open tasks x stakePerTask");
        }
    }

    /// @notice Each (lane, task) has at most one committed holder, and an annotator never changes lane in a batch.
    function invariant_oneHolderPerLaneTask() public view {
        assertTrue(!handler.doubleHold(), "two committed bundles hold one task in one lane");
        assertTrue(!handler.laneChanged(), "an annotator moved to another lane");
        assertTrue(!handler.sizeMismatch(), "a reservation took another size than the rules give");
    }

    /// @notice Optimistic settlement: a proposal with one wrong credit is voided by the challenge of that credit, an
    ///         honest one never is; a claim credits annotators exactly the rewards and coherence shares its final
    ///         proposal holds (pending claims net of slashes may be negative: a batch can slash more than it pays).
    function invariant_optimisticChallenges() public view {
        assertTrue(!handler.honestVoided(), "a right credit was challenged successfully");
        assertTrue(!handler.wrongSurvived(), "a wrong credit survived its challenge");
        assertTrue(!handler.claimMiscredited(), "claims credit exactly what final proposals hold");
        assertLe(handler.ghostVoided(), handler.ghostProposals(), "voided <= proposed");
    }

    /// @notice Tickets: per batch, the committed count equals the committed bundles' sizes, and a lane never has
    ///         more committed positions than tasks.
    function invariant_ticketAccounting() public view {
        for (uint256 i; i < handler.batchCount(); ++i) {
            uint256 id = handler.batches(i);
            ILabelMarketV2Types.Batch memory b = market.getBatch(id);
            uint256 sum;
            for (uint256 lane; lane < b.config.replicas; ++lane) {
                uint256 laneSum;
                for (uint256 r = 1; r <= b.state.round; ++r) {
                    laneSum += market.getLaneRound(id, r, lane).committed;
                }
                assertLe(laneSum, b.config.numTasks, "a lane commits each task at most once");
                sum += laneSum;
            }
            assertEq(sum, b.state.committed, "batch count == lane counts");
            uint256 ghost;
            for (uint256 h; h < handler.heldCount(); ++h) {
                (uint256 batchId,, uint256 size, uint8 status) = handler.heldStatus(h);
                if (batchId == id && (status == 2 || status == 3)) ghost += size;
            }
            assertEq(ghost, b.state.committed, "committed bundles' sizes");
        }
    }

    /// @dev A fixed sequence reaches a commit that reserves in the next round, the round opened by `seal`, the
    ///      reservation shrunk to the one position its lane has left, and an early settlement that carries it.
    function test_handler_reachesAShrunkReservationAndSettlesIt() public {
        _shrunkReservation(3, 0);
        assertEq(handler.ghostRelayed(), 0, "sent by the annotator");
        assertEq(handler.ghostRelayedJoins(), 0, "joined by the annotators");
    }

    /// @dev The same sequence with the reserving commit signed by its annotator and sent by a relayer
    ///      (`relayCommits`: the handler's `commitAndJoin` with the top bit of its size seed set).
    function test_handler_reachesARelayedCommitAndJoin() public {
        _shrunkReservation((1 << 255) | 3, 0);
        assertEq(handler.ghostRelayed(), 1, "sent by a relayer");
    }

    /// @dev The same sequence with every other first join signed by its annotator and sent by a relayer
    ///      (`relayJoins`: the handler's `join` with the top bit of its size seed set).
    function test_handler_reachesRelayedJoins() public {
        _shrunkReservation(3, 1 << 255);
        assertEq(handler.ghostRelayedJoins(), 3, "three joins sent by a relayer");
    }

    /// @dev `joinBit` is or-ed into the size seed of the odd annotators' joins.
    function _shrunkReservation(uint256 mSeed, uint256 joinBit) internal {
        uint256 id = handler.batches(1); // 6 tasks per lane, bundles of up to 3
        uint256[6] memory sizes = [uint256(3), 3, 3, 2, 3, 3]; // lane 0: 3 + 2, one position left unjoined
        for (uint256 i; i < 6; ++i) {
            handler.join(i, 1, sizes[i] | (i % 2 == 1 ? joinBit : 0));
        }
        assertEq(handler.heldCount(), 6, "six joins");
        handler.advance(2 hours, 5);
        handler.sealAndSeed(1);
        handler.commitAndJoin(0, 0, mSeed); // annotator 0 commits and reserves 3 of lane 0 in round 2
        assertEq(handler.heldCount(), 7, "a reserved bundle");
        for (uint256 i = 1; i < 6; ++i) {
            handler.commit(i, i); // lane 0 leaves one position for round 2
        }
        handler.advance(1 hours + 1, 5);
        handler.sealAndSeed(1); // opens round 2: its reservation fills it, so it is sealed
        assertEq(handler.ghostOpenedBySeal(), 1, "round 2 opened by seal");
        assertEq(market.getBatch(id).state.round, 2, "round 2");
        handler.sealAndSeed(1); // its seed
        handler.commit(6, 6);
        assertEq(handler.ghostShrunk(), 1, "the reservation shrank to one task");
        (,, uint256 size, uint8 status) = handler.heldStatus(6);
        assertEq(size, 1, "one task");
        assertEq(status, 2, "committed");
        assertEq(market.getBatch(id).state.committed, 18, "every position committed");
        handler.settleCarrying(1);
        assertEq(handler.ghostCarriedSettles(), 1, "settled early, the shrunk bundle's reveal carried");
        assertEq(market.getBatch(id).state.tasksSettled, 6, "all six tasks");
        invariant_lockedExact();
        invariant_ticketAccounting();
    }

    /// @dev The campaign is not vacuous: a fixed sequence reaches join, commit, reveal, settle and refund.
    function test_handler_reachesASettlementCarryingEveryReveal() public {
        for (uint256 i; i < 6; ++i) {
            handler.join(i, 0, 3);
            handler.join(i, 1, 3);
        }
        handler.advance(2 hours, 5);
        handler.sealAndSeed(0);
        handler.sealAndSeed(1);
        for (uint256 i; i < handler.heldCount(); ++i) {
            handler.commit(i, i);
        }
        handler.settleCarrying(1); // batch 1's 18 positions are all committed in round 1
        assertEq(handler.ghostCarriedSettles(), 1, "batch 1 settled early");
        handler.settleCarrying(0);
        assertEq(handler.ghostCarriedSettles(), 1, "batch 0 still has open positions");
        handler.advance(1 hours + 1, 5);
        for (uint256 r; r < 3 && market.getBatch(handler.batches(0)).state.committed < 36; ++r) {
            for (uint256 i; i < 6; ++i) {
                handler.join(i, 0, 3);
            }
            handler.advance(1 hours + 1, 5);
            handler.sealAndSeed(0);
            for (uint256 i; i < handler.heldCount(); ++i) {
                handler.commit(i, i);
            }
            handler.advance(1 hours + 1, 5);
        }
        handler.settleCarrying(0);
        assertEq(handler.ghostCarriedSettles(), 2, "both batches settled early, every reveal carried");
        for (uint256 i; i < 2; ++i) {
            ILabelMarketV2Types.Batch memory b = market.getBatch(handler.batches(i));
            assertEq(b.state.tasksSettled, b.config.numTasks, "all settled");
            assertGt(b.state.paid, 0, "rewards paid");
        }
        invariant_solvencyExact();
        invariant_paidWithinEscrow();
        invariant_lockedExact();
    }

    function test_handler_reachesSettlementAndRefund() public {
        for (uint256 i; i < 6; ++i) {
            handler.join(i, 0, 3);
            handler.join(i, 1, 3);
        }
        handler.advance(2 hours, 5);
        handler.sealAndSeed(0);
        handler.sealAndSeed(1);
        for (uint256 i; i < handler.heldCount(); ++i) {
            handler.commit(i, i);
        }
        handler.advance(3 hours, 5);
        for (uint256 r; r < 3; ++r) {
            for (uint256 i; i < 6; ++i) {
                handler.join(i, r, 3);
            }
            handler.advance(1 hours + 1, 5);
            handler.sealAndSeed(r);
            for (uint256 i; i < handler.heldCount(); ++i) {
                handler.commit(i, i);
            }
            handler.advance(1 hours + 1, 5);
        }
        handler.advance(3 hours, 5); // past the commit deadline (12 h), before the reveal deadline (18 h)
        for (uint256 i; i < handler.heldCount(); ++i) {
            handler.reveal(i);
        }
        handler.advance(3 hours, 5);
        handler.advance(3 hours, 5);
        handler.settle(0, 0, 6); // tasks 0..5 of batch 0 (len is bounded into 1..12)
        handler.settle(0, 6, 6); // tasks 6..11
        handler.settle(1, 0, 6); // all 6 tasks of batch 1
        handler.advance(3 hours, 5);
        handler.advance(3 hours, 5);
        handler.refund(0);
        handler.refund(1);
        for (uint256 i; i < 2; ++i) {
            ILabelMarketV2Types.Batch memory b = market.getBatch(handler.batches(i));
            assertEq(b.state.tasksSettled, b.config.numTasks, "all settled");
            assertTrue(b.state.refunded, "refunded");
            assertGt(b.state.paid, 0, "rewards paid");
        }
        invariant_solvencyExact();
        invariant_lockedExact();
        invariant_ticketAccounting();
    }

    /// @dev A fixed sequence reaches a wrong proposal voided by its challenge, an honest one that a challenge cannot
    ///      void, its finalization, one claim of every bundle, and the refund.
    function test_handler_reachesOptimisticSettlement() public {
        for (uint256 r; r < 2; ++r) {
            for (uint256 i; i < 6; ++i) {
                handler.join(i, 1, 3);
            }
            handler.advance(1 hours + 1, 5);
            handler.sealAndSeed(1);
            for (uint256 i; i < handler.heldCount(); ++i) {
                handler.commit(i, i);
            }
            handler.advance(1 hours + 1, 5);
        }
        handler.advance(3 hours, 5);
        handler.advance(3 hours, 5);
        handler.advance(3 hours, 5); // past the commit deadline (12 h), before the reveal deadline (18 h)
        for (uint256 i; i < handler.heldCount(); ++i) {
            handler.reveal(i);
        }
        handler.advance(3 hours, 5);
        handler.advance(3 hours, 5);
        handler.propose(1, 0); // one credit wrong
        assertGt(handler.wrongBundlePlusOne(1), 0, "a wrong proposal");
        handler.challenge(1, 0); // its wrong credit
        assertEq(handler.ghostVoided(), 1, "voided");
        handler.propose(1, 1); // honest
        handler.challenge(1, 1);
        handler.challenge(1, 3);
        assertEq(handler.ghostVoided(), 1, "an honest proposal stands");
        handler.advance(3 hours, 5);
        handler.advance(3 hours, 5);
        handler.advance(1 hours, 5); // past the challenge window (the review period, 6 h, from the proposal)
        handler.finalize(1);
        assertTrue(handler.ghostPendingClaims() > 0, "claims pending");
        invariant_solvencyExact();
        handler.claimAll(1);
        assertEq(handler.ghostPendingClaims(), int256(0), "all claimed");
        handler.refund(1);
        ILabelMarketV2Types.Batch memory b = market.getBatch(1);
        assertEq(b.state.tasksSettled, b.config.numTasks, "all settled");
        assertTrue(b.state.refunded, "refunded");
        assertGt(b.state.paid, 0, "rewards paid");
        invariant_solvencyExact();
        invariant_lockedExact();
        invariant_optimisticChallenges();
        invariant_ticketAccounting();
    }

    /// @dev Regression (CI campaign, seed 0xbb84…4d88, shrunk): a batch whose only bundle was committed and never
    ///      revealed is proposed after its reveal deadline with a slash and no reward, so the final proposal's
    ///      pending claims are negative; the claim then takes the slash and credits nothing.
    function test_handler_aFinalProposalCanSlashMoreThanItPays() public {
        handler.join(
            1703109754881517953170277056921140594622456147722854481053648476646011401,
            6155186080729756830442448570234,
            2
        );
        handler.advance(4421681965215507389644706183043716240483316513, 1);
        handler.sealAndSeed(12174100576427834399375440717690186231802222444221835153);
        handler.commitAndJoin(
            111356187098697811857780378073482047, 174199907232307246739057906537776318817553314286, 162108
        );
        handler.advance(
            155489509862199550931976356678380083221450035421438049197483032464284038,
            24213245602140868348588058986686742507274841726603
        );
        handler.advance(3423127625997715219257802180132159031627453355, 29470094463410972627611561);
        handler.advance(3790702490053136564696027294431644522007839717871787, 215);
        handler.propose(9118682533436870216504, type(uint256).max - 3);
        handler.advance(type(uint256).max - 1, 3154649);
        handler.finalize(5501858896413335420162671982);
        assertEq(handler.ghostFinalized(), 1, "finalized");
        assertTrue(handler.ghostPendingClaims() < 0, "the final proposal slashes more than it pays");
        invariant_solvencyExact();
        invariant_optimisticChallenges();
        uint256 id = handler.batches(5501858896413335420162671982 % handler.batchCount());
        handler.claimAll(id);
        assertEq(handler.ghostClaimed(), 1, "claimed");
        assertEq(handler.ghostPendingClaims(), int256(0), "nothing pending");
        invariant_solvencyExact();
        invariant_lockedExact();
        invariant_optimisticChallenges();
    }
}
