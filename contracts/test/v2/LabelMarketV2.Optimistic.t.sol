// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {V2Fixture} from "../utils/V2Fixture.sol";
import {Vm} from "../utils/Vm.sol";
import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {CreditTree} from "../utils/CreditTree.sol";
import {Leaves} from "../../libraries/Leaves.sol";
import {ReentrantToken} from "./LabelMarketV2.Settle.t.sol";
import {ILabelMarketV2Types, ILabelMarketV2Optimistic} from "../../interfaces/ILabelMarketV2.sol";

/// @notice Optimistic settlement: a proposal built from `tally` pays exactly what `settle` pays; one wrong credit
///         voids it and pays the bond to the challenger; a right one cannot be challenged; claims once final,
///         once per bundle; every revert path of propose, challenge, finalize and claim.
contract LabelMarketV2OptimisticTest is V2Fixture {
    ILabelMarketV2Optimistic internal opt;
    address internal proposer = address(0xB0B);
    address internal watcher = address(0xD06);

    function setUp() public override {
        super.setUp();
        opt = ILabelMarketV2Optimistic(address(market));
    }

    // ------------------------------------------------------------------------------------------------
    // Helpers: credits from `tally`, the tree the market builds, claims
    // ------------------------------------------------------------------------------------------------

    /// @dev The default batch without a reviewer (optimistic settlement is for batches without one).
    function optParams() internal view returns (ILabelMarketV2Types.BatchParams memory p) {
        p = defaultParams();
        p.reviewer = address(0);
    }

    function carriedAll(Held[] memory hs) internal pure returns (ILabelMarketV2Types.BundleProof[] memory ps) {
        ps = new ILabelMarketV2Types.BundleProof[](hs.length);
        for (uint256 i; i < hs.length; ++i) {
            ps[i] = carried(hs[i]);
        }
    }

    /// @dev Two credit words per bundle id of the batch, computed by `tally` over every task from `ps` (in a
    ///      snapshot: `tally` carries reveals the way `settle` would).
    function creditsFrom(uint256 id, ILabelMarketV2Types.BundleProof[] memory ps)
        internal
        returns (uint256[] memory credits)
    {
        uint256 snap = vm.snapshotState();
        uint256[] memory t = opt.tally(id, allTasks(id), ps);
        vm.revertToState(snap);
        credits = new uint256[](2 * market.getBatch(id).state.bundles);
        for (uint256 bi; bi < ps.length; ++bi) {
            uint256 i = ps[bi].id;
            credits[2 * i] += (uint256(uint160(ps[bi].bundle.annotator)) << 96) | t[2 * bi];
            credits[2 * i + 1] += t[2 * bi + 1];
        }
    }

    /// @dev The claim of `h` under `credits`.
    function claimOf(uint256 id, Held memory h, uint256[] memory credits)
        internal
        pure
        returns (ILabelMarketV2Types.CreditClaim memory c)
    {
        c.id = uint32(h.id);
        c.credit = credits[2 * h.id];
        c.amounts = credits[2 * h.id + 1];
        c.proof = CreditTree.proofOf(CreditTree.leavesOf(id, credits), h.id);
    }

    function claimsOf(uint256 id, Held[] memory hs, uint256[] memory credits)
        internal
        pure
        returns (ILabelMarketV2Types.CreditClaim[] memory cs)
    {
        cs = new ILabelMarketV2Types.CreditClaim[](hs.length);
        for (uint256 i; i < hs.length; ++i) {
            cs[i] = claimOf(id, hs[i], credits);
        }
    }

    function propose(uint256 id, ILabelMarketV2Types.BundleProof[] memory reveals, uint256[] memory credits) internal {
        vm.prank(proposer);
        opt.propose(id, reveals, credits);
    }

    /// @dev Both tasks of the default batch (a pure `allTasks`, so that it makes no call after `vm.expectRevert`).
    function bothTasks() internal pure returns (uint256[] memory tasks) {
        tasks = new uint256[](2);
        tasks[1] = 1;
    }

    function challengeAs(address who, uint256 id, Held[] memory hs, uint256 i, uint256[] memory credits) internal {
        uint256 b = hs[i].id;
        vm.prank(who);
        opt.challenge(
            id,
            b,
            credits[2 * b],
            credits[2 * b + 1],
            CreditTree.proofOf(CreditTree.leavesOf(id, credits), b),
            bothTasks(),
            proofsOf(hs)
        );
    }

    /// @dev A batch of three annotators over both tasks (ann2 wrong on items 0 and 2), committed, the reveals held
    ///      by the proposer.
    function committedBatch() internal returns (uint256 id, Held[] memory hs) {
        id = create(optParams());
        hs = fullRoundCommitted(id, three(0, 0, 5));
    }

    function challengeEnd(uint256 id) internal view returns (uint256) {
        return opt.proposalOf(id).challengeEnd;
    }

    // ------------------------------------------------------------------------------------------------
    // The whole path
    // ------------------------------------------------------------------------------------------------

    function test_optimistic_proposeFinalizeClaimPaysExactlyWhatSettlePays() public {
        (uint256 id, Held[] memory hs) = committedBatch();
        uint256 snap = vm.snapshotState();
        market.settle(id, allTasks(id), carriedAll(hs));
        uint256[21] memory viaSettle = outcome(id);
        uint256 treasuryStake = market.claimable(treasury, address(market.STAKE_TOKEN()));
        vm.revertToState(snap);

        uint256[] memory credits = creditsFrom(id, carriedAll(hs));
        uint256 bond = escrowOf(optParams()) * opt.PROPOSAL_BOND_BPS() / 10_000;
        uint256 before = token.balanceOf(proposer);
        vm.expectEmit(address(market));
        emit ILabelMarketV2Types.Proposed(
            id,
            proposer,
            CreditTree.rootOf(CreditTree.leavesOf(id, credits)),
            market.getBatch(id).config.reviewDeadline,
            bond,
            viaSettle[19],
            8e18,
            8e18,
            credits
        );
        propose(id, carriedAll(hs), credits);
        assertEq(before - token.balanceOf(proposer), bond, "bond pulled");
        assertEq(uint256(market.bundleStatus(id, hs[2].id)), uint256(ILabelMarketV2Types.Status.Revealed), "carried");
        vm.expectRevert(abi.encodeWithSelector(ILabelMarketV2Types.ProposalPending.selector, id));
        market.settle(id, bothTasks(), proofsOf(hs));

        vm.warp(challengeEnd(id) + 1);
        vm.prank(watcher);
        vm.expectEmit(address(market));
        emit ILabelMarketV2Types.Collected(proposer, address(token), bond);
        opt.finalize(id);
        assertEq(token.balanceOf(proposer), before, "the bond paid back to the proposer");
        vm.prank(watcher); // anyone may claim for anyone
        assertEq(opt.claim(id, claimsOf(id, hs, credits)), viaSettle[19], "rewards credited");
        uint256[21] memory viaProposal = outcome(id);
        for (uint256 k; k < 21; ++k) {
            assertEq(viaProposal[k], viaSettle[k], "same payouts, stake, reputation, paid and settled tasks");
        }
        assertGt(viaProposal[12 + 5], 0, "ann2 had labels rejected");
        assertEq(market.claimable(treasury, address(market.STAKE_TOKEN())), treasuryStake, "same treasury share");
        assertEq(market.claimable(proposer, address(token)), 0, "nothing left to collect");
        assertEq(uint256(opt.proposalOf(id).status), uint256(ILabelMarketV2Types.ProposalStatus.Final), "final");

        // Refund opens (every task counts as settled) and returns exactly the unpaid escrow.
        warpPastReview(id);
        uint256 req = token.balanceOf(requester);
        market.refund(id);
        assertEq(token.balanceOf(requester) - req, escrowOf(optParams()) - viaSettle[19], "unpaid escrow back");
    }

    function test_propose_afterTheRevealDeadlineTakesOnChainRevealsAndSlashesTheRest() public {
        (uint256 id, Held[] memory hs) = committedBatch();
        revealAs(id, hs[0]);
        revealAs(id, hs[1]);
        warpPastReveal(id);
        ILabelMarketV2Types.BundleProof[] memory ps = new ILabelMarketV2Types.BundleProof[](3);
        (ps[0], ps[1], ps[2]) = (revealed(hs[0]), revealed(hs[1]), unrevealed(id, hs[2]));
        uint256 snap = vm.snapshotState();
        market.settle(id, allTasks(id), ps);
        uint256[21] memory viaSettle = outcome(id);
        vm.revertToState(snap);

        uint256[] memory credits = creditsFrom(id, ps);
        assertEq((credits[2 * hs[2].id] >> 80) & 0xFFFF, 2, "ann2's two tasks unrevealed");
        ILabelMarketV2Types.BundleProof[] memory two = new ILabelMarketV2Types.BundleProof[](2);
        (two[0], two[1]) = (ps[0], ps[1]);
        vm.expectRevert(abi.encodeWithSelector(ILabelMarketV2Types.BundlesIncomplete.selector, 4, 6));
        propose(id, two, credits); // the committed-only bundle must be there too
        propose(id, ps, credits);
        assertEq(challengeEnd(id), block.timestamp + 1 days, "a review period from now");
        vm.warp(challengeEnd(id) + 1);
        opt.finalize(id);
        opt.claim(id, claimsOf(id, hs, credits));
        uint256[21] memory viaProposal = outcome(id);
        for (uint256 k; k < 21; ++k) {
            assertEq(viaProposal[k], viaSettle[k], "same as settle");
        }
    }

    // ------------------------------------------------------------------------------------------------
    // Challenges
    // ------------------------------------------------------------------------------------------------

    function test_challenge_aWrongCreditVoidsTheProposalPaysTheBondAndSettleTakesOver() public {
        (uint256 id, Held[] memory hs) = committedBatch();
        uint256[] memory credits = creditsFrom(id, carriedAll(hs));
        // The proposer pays ann0 for one more agreeing label than it gave, and ann2 the same.
        credits[2 * hs[0].id] += 1 << 16;
        uint256 bond = escrowOf(optParams()) * opt.PROPOSAL_BOND_BPS() / 10_000;
        propose(id, carriedAll(hs), credits);

        // ann2's credit is right: challenging it fails.
        vm.expectRevert(abi.encodeWithSelector(ILabelMarketV2Types.ChallengeFailed.selector, hs[2].id));
        challengeAs(watcher, id, hs, 2, credits);

        vm.expectEmit(address(market));
        emit ILabelMarketV2Types.ProposalVoided(id, watcher, hs[0].id, bond);
        challengeAs(watcher, id, hs, 0, credits);
        assertEq(market.claimable(watcher, address(token)), bond, "bond to the challenger");
        assertEq(uint256(opt.proposalOf(id).status), uint256(ILabelMarketV2Types.ProposalStatus.None), "void");

        // The carried reveals stay; the batch settles on-chain.
        assertEq(market.settle(id, allTasks(id), proofsOf(hs)), 2, "settled by settle");
        assertEq(market.getBatch(id).state.tasksSettled, 2, "every task");
    }

    function test_challenge_eachFieldOfACreditIsChecked() public {
        (uint256 id, Held[] memory hs) = committedBatch();
        uint256[] memory good = creditsFrom(id, carriedAll(hs));
        uint256 b = hs[2].id;
        uint256[5] memory credit = [
            good[2 * b] + (1 << 48), // one more agreeing gold label
            good[2 * b] + (1 << 32), // one more disagreement
            good[2 * b] + (1 << 80), // one more unrevealed task
            good[2 * b],
            good[2 * b]
        ];
        uint256[5] memory amounts = [
            good[2 * b + 1],
            good[2 * b + 1],
            good[2 * b + 1],
            good[2 * b + 1] + (1 << 128), // one more wei slashed
            good[2 * b + 1] + (1 << 128) + 1 // and one more redistributed
        ];
        for (uint256 v; v < 5; ++v) {
            uint256 snap = vm.snapshotState();
            uint256[] memory credits = creditsFrom(id, carriedAll(hs));
            (credits[2 * b], credits[2 * b + 1]) = (credit[v], amounts[v]);
            propose(id, carriedAll(hs), credits);
            challengeAs(watcher, id, hs, 2, credits);
            assertEq(uint256(opt.proposalOf(id).status), 0, "voided");
            vm.revertToState(snap);
        }
    }

    function test_propose_aBundleNeverCommittedHasAZeroCreditNobodyCanChallenge() public {
        uint256 id = create(optParams());
        Held[] memory hs = new Held[](6);
        for (uint256 i; i < 6; ++i) {
            hs[i] = joinAs(ann(i), id, 1);
        }
        seedRound(id, 1);
        for (uint256 i; i < 5; ++i) {
            label(id, hs[i], 0);
            commitAs(id, hs[i]);
        }
        warpPastCommit(id);
        for (uint256 i; i < 5; ++i) {
            revealAs(id, hs[i]);
        }
        warpPastReveal(id); // ann5 never committed: its task has an empty lane
        Held[] memory committed = new Held[](5);
        for (uint256 i; i < 5; ++i) {
            committed[i] = hs[i];
        }
        uint256[] memory credits = creditsFrom(id, proofsOf(committed));
        uint256 b = hs[5].id;
        assertEq(credits[2 * b] | credits[2 * b + 1], 0, "no credit for the squatter");
        credits[2 * b] = (uint256(uint160(ann(5))) << 96) | 1;
        vm.expectRevert(abi.encodeWithSelector(ILabelMarketV2Types.InvalidCredit.selector, b));
        propose(id, proofsOf(committed), credits);
        credits[2 * b] = 1 << 16; // no annotator, no task, one agreeing label: still not zero
        vm.expectRevert(abi.encodeWithSelector(ILabelMarketV2Types.InvalidCredit.selector, b));
        propose(id, proofsOf(committed), credits);
        credits[2 * b] = 0;
        propose(id, proofsOf(committed), credits);
        bytes32[] memory proof = CreditTree.proofOf(CreditTree.leavesOf(id, credits), b);
        vm.expectRevert(abi.encodeWithSelector(ILabelMarketV2Types.ChallengeFailed.selector, b));
        vm.prank(watcher);
        opt.challenge(id, b, 0, 0, proof, new uint256[](0), new ILabelMarketV2Types.BundleProof[](0));

        // Once final, its zero credit cannot be claimed (its stake stays locked until `expire`).
        vm.warp(challengeEnd(id) + 1);
        opt.finalize(id);
        ILabelMarketV2Types.CreditClaim[] memory one = new ILabelMarketV2Types.CreditClaim[](1);
        one[0] = ILabelMarketV2Types.CreditClaim(uint32(b), 0, 0, proof);
        vm.expectRevert(abi.encodeWithSelector(ILabelMarketV2Types.NothingToClaim.selector, b));
        opt.claim(id, one);
        market.expire(id, b, hs[5].bundle);
        assertEq(market.accountOf(ann(5)).locked, 0, "the squatter's lock released by expire");
    }

    function test_challenge_reverts() public {
        (uint256 id, Held[] memory hs) = committedBatch();
        uint256[] memory credits = creditsFrom(id, carriedAll(hs));
        vm.expectRevert(abi.encodeWithSelector(ILabelMarketV2Types.NoLiveProposal.selector, id));
        challengeAs(watcher, id, hs, 0, credits);
        propose(id, carriedAll(hs), credits);
        uint256 b = hs[0].id;
        bytes32[] memory proof = CreditTree.proofOf(CreditTree.leavesOf(id, credits), b);

        // A leaf the root does not hold.
        vm.expectRevert(abi.encodeWithSelector(ILabelMarketV2Types.InvalidCreditProof.selector, b));
        opt.challenge(id, b, credits[2 * b] + 1, credits[2 * b + 1], proof, bothTasks(), proofsOf(hs));
        // Bundles that leave out a position of the challenged bundle.
        ILabelMarketV2Types.BundleProof[] memory ps = proofsOf(hs);
        uint256[] memory one = new uint256[](1);
        one[0] = hs[0].tasks[0];
        vm.expectRevert(abi.encodeWithSelector(ILabelMarketV2Types.ChallengeIncomplete.selector, b, 1, 2));
        opt.challenge(id, b, credits[2 * b], credits[2 * b + 1], proof, one, ps);
        // The challenged bundle not supplied at all.
        ILabelMarketV2Types.BundleProof[] memory others = new ILabelMarketV2Types.BundleProof[](0);
        vm.expectRevert(abi.encodeWithSelector(ILabelMarketV2Types.ChallengeIncomplete.selector, b, 0, 0));
        opt.challenge(id, b, credits[2 * b], credits[2 * b + 1], proof, new uint256[](0), others);
        // After the window.
        vm.warp(challengeEnd(id) + 1);
        vm.expectRevert(abi.encodeWithSelector(ILabelMarketV2Types.ChallengeWindowOver.selector, challengeEnd(id)));
        challengeAs(watcher, id, hs, 0, credits);
    }

    // ------------------------------------------------------------------------------------------------
    // propose: when, for which batches, and what it accepts
    // ------------------------------------------------------------------------------------------------

    function test_propose_revertsForBatchesThatSettleOnChainOnly() public {
        ILabelMarketV2Types.BatchParams memory p = optParams();
        p.reviewer = reviewer;
        uint256 id = create(p);
        Held[] memory hs = fullRoundCommitted(id, three(0, 0, 0));
        vm.expectRevert(abi.encodeWithSelector(ILabelMarketV2Types.OptimisticUnavailable.selector, id));
        propose(id, carriedAll(hs), new uint256[](6));

        (uint256 id2, Held[] memory hs2) = committedBatch();
        uint256[] memory tasks = new uint256[](1);
        market.settle(id2, tasks, carriedAll(hs2)); // task 0 settled on-chain
        vm.expectRevert(abi.encodeWithSelector(ILabelMarketV2Types.OptimisticUnavailable.selector, id2));
        propose(id2, new ILabelMarketV2Types.BundleProof[](0), new uint256[](12));
    }

    function test_propose_revertsBeforeSettlementOpensOrWithoutEveryReveal() public {
        uint256 id = create(optParams());
        Held memory h = joinAs(ann(0), id, 2);
        seedRound(id, 1);
        label(id, h, 0);
        commitAs(id, h);
        ILabelMarketV2Types.BundleProof[] memory ps = new ILabelMarketV2Types.BundleProof[](1);
        ps[0] = carried(h);
        uint256 opensAt = uint256(market.getBatch(id).config.revealDeadline) + 1;
        vm.expectRevert(abi.encodeWithSelector(ILabelMarketV2Types.SettlementNotOpen.selector, 0, opensAt));
        propose(id, ps, new uint256[](2));

        (uint256 id2, Held[] memory hs) = committedBatch();
        ILabelMarketV2Types.BundleProof[] memory all = carriedAll(hs);
        all[2] = unrevealed(id2, hs[2]); // committed, its reveal not handed over
        vm.expectRevert(abi.encodeWithSelector(ILabelMarketV2Types.BundlesIncomplete.selector, 4, 6));
        propose(id2, all, new uint256[](6));
        ILabelMarketV2Types.BundleProof[] memory two = new ILabelMarketV2Types.BundleProof[](2);
        (two[0], two[1]) = (carried(hs[0]), carried(hs[1]));
        vm.expectRevert(abi.encodeWithSelector(ILabelMarketV2Types.BundlesIncomplete.selector, 4, 6));
        propose(id2, two, new uint256[](6));
        (two[0], two[1]) = (carried(hs[1]), carried(hs[0]));
        vm.expectRevert(ILabelMarketV2Types.BundlesNotSorted.selector);
        propose(id2, two, new uint256[](6));
        two[0] = carried(hs[0]);
        two[0].salt = bytes32(uint256(1));
        vm.expectRevert(ILabelMarketV2Types.CommitMismatch.selector);
        propose(id2, two, new uint256[](6));
    }

    function test_propose_revertsOnCreditsThatCannotBeRight() public {
        (uint256 id, Held[] memory hs) = committedBatch();
        uint256[] memory good = creditsFrom(id, carriedAll(hs));
        ILabelMarketV2Types.BundleProof[] memory ps = carriedAll(hs);

        vm.expectRevert(abi.encodeWithSelector(ILabelMarketV2Types.WrongCreditCount.selector, 4, 6));
        propose(id, ps, new uint256[](4));

        uint256[] memory c = creditsFrom(id, ps);
        c[2 * 1 + 1] = (2 * 20e18 + 1) << 128; // slashes more than its two tasks locked
        vm.expectRevert(abi.encodeWithSelector(ILabelMarketV2Types.InvalidCredit.selector, 1));
        propose(id, ps, c);
        c = creditsFrom(id, ps);
        c[0] -= 1; // one task fewer than the bundle holds: it would unlock less than it locked
        vm.expectRevert(abi.encodeWithSelector(ILabelMarketV2Types.InvalidCredit.selector, 0));
        propose(id, ps, c);
        c = creditsFrom(id, ps);
        c[2 * 2] = (c[2 * 2] & ((1 << 96) - 1)) | (uint256(uint160(ann(7))) << 96); // paid to a stranger
        vm.expectRevert(abi.encodeWithSelector(ILabelMarketV2Types.InvalidCredit.selector, 2));
        propose(id, ps, c);

        uint256 escrow = escrowOf(optParams());
        c = creditsFrom(id, ps);
        c[0] += 20 << 16; // 20 more agreeing labels: 40 in all, above the 24 escrowed
        vm.expectRevert(
            abi.encodeWithSelector(ILabelMarketV2Types.ProposalInsolvent.selector, 40e18, escrow, 8e18, 8e18)
        );
        propose(id, ps, c);
        c = creditsFrom(id, ps);
        c[1] += 5e18; // redistributes more than was slashed
        vm.expectRevert(
            abi.encodeWithSelector(ILabelMarketV2Types.ProposalInsolvent.selector, 20e18, escrow, 13e18, 8e18)
        );
        propose(id, ps, c);

        propose(id, ps, good);
        vm.expectRevert(abi.encodeWithSelector(ILabelMarketV2Types.ProposalPending.selector, id));
        propose(id, new ILabelMarketV2Types.BundleProof[](0), good);
    }

    // ------------------------------------------------------------------------------------------------
    // finalize and claim
    // ------------------------------------------------------------------------------------------------

    function test_finalize_onlyALiveProposalAfterItsWindow() public {
        (uint256 id, Held[] memory hs) = committedBatch();
        vm.expectRevert(abi.encodeWithSelector(ILabelMarketV2Types.NoLiveProposal.selector, id));
        opt.finalize(id);
        uint256[] memory credits = creditsFrom(id, carriedAll(hs));
        propose(id, carriedAll(hs), credits);
        uint256 end = challengeEnd(id);
        vm.warp(end);
        vm.expectRevert(abi.encodeWithSelector(ILabelMarketV2Types.ChallengeWindowOpen.selector, end));
        opt.finalize(id);
        vm.warp(end + 1);
        vm.expectEmit(address(market));
        emit ILabelMarketV2Types.ProposalFinalized(id, 20e18, 0);
        opt.finalize(id);
        vm.expectRevert(abi.encodeWithSelector(ILabelMarketV2Types.NoLiveProposal.selector, id));
        opt.finalize(id);
        vm.expectRevert(abi.encodeWithSelector(ILabelMarketV2Types.ProposalPending.selector, id));
        market.settle(id, bothTasks(), proofsOf(hs));
    }

    function test_claim_onceFinalOncePerBundleWithTheBundlesOwnCredit() public {
        (uint256 id, Held[] memory hs) = committedBatch();
        uint256[] memory credits = creditsFrom(id, carriedAll(hs));
        propose(id, carriedAll(hs), credits);
        ILabelMarketV2Types.CreditClaim[] memory one = new ILabelMarketV2Types.CreditClaim[](1);
        one[0] = claimOf(id, hs[0], credits);
        vm.expectRevert(abi.encodeWithSelector(ILabelMarketV2Types.ProposalNotFinal.selector, id));
        opt.claim(id, one);
        vm.warp(challengeEnd(id) + 1);
        opt.finalize(id);

        ILabelMarketV2Types.CreditClaim memory bad = claimOf(id, hs[0], credits);
        bad.amounts += 1;
        one[0] = bad;
        vm.expectRevert(abi.encodeWithSelector(ILabelMarketV2Types.InvalidCreditProof.selector, hs[0].id));
        opt.claim(id, one);

        one[0] = claimOf(id, hs[0], credits);
        vm.expectEmit(address(market));
        emit ILabelMarketV2Types.CreditsClaimed(id, address(this), 1, 8e18);
        uint256 before = token.balanceOf(ann(0));
        vm.recordLogs();
        assertEq(opt.claim(id, one), 8e18, "ann0's rewards");
        Vm.Log[] memory logs = vm.getRecordedLogs();
        // CreditsClaimed, then the payment (rewards and coherence shares at once): the token's Transfer, Collected.
        assertEq(logs.length, 3, "one payment and one event per claim call, none per bundle");
        assertEq(logs[0].topics[0], ILabelMarketV2Types.CreditsClaimed.selector, "claimed");
        assertEq(logs[2].topics[0], ILabelMarketV2Types.Collected.selector, "paid");
        assertEq(token.balanceOf(ann(0)) - before, 12e18, "8 rewards + 4 of the slash, paid to the annotator");
        assertEq(market.claimable(ann(0), address(token)), 0, "nothing left to collect");
        assertEq(uint256(market.bundleStatus(id, hs[0].id)), 0, "claimed: the bundle word is cleared");
        vm.expectRevert(abi.encodeWithSelector(ILabelMarketV2Types.NothingToClaim.selector, hs[0].id));
        opt.claim(id, one);
    }

    function test_claimAll_creditsEveryBundleLeftOnceWithoutProofs() public {
        (uint256 id, Held[] memory hs) = committedBatch();
        uint256[] memory credits = creditsFrom(id, carriedAll(hs));
        propose(id, carriedAll(hs), credits);
        vm.expectRevert(abi.encodeWithSelector(ILabelMarketV2Types.ProposalNotFinal.selector, id));
        opt.claimAll(id, credits);
        vm.warp(challengeEnd(id) + 1);
        opt.finalize(id);
        uint256 snap = vm.snapshotState();
        opt.claim(id, claimsOf(id, hs, credits));
        uint256[21] memory oneByOne = outcome(id);
        vm.revertToState(snap);

        ILabelMarketV2Types.CreditClaim[] memory one = new ILabelMarketV2Types.CreditClaim[](1);
        one[0] = claimOf(id, hs[1], credits);
        assertEq(opt.claim(id, one), 8e18, "ann1 claims its own first");
        uint256[] memory tampered = new uint256[](credits.length);
        for (uint256 i; i < credits.length; ++i) {
            tampered[i] = credits[i];
        }
        tampered[0] += 1 << 16;
        vm.expectRevert(abi.encodeWithSelector(ILabelMarketV2Types.InvalidCreditProof.selector, 3));
        opt.claimAll(id, tampered);
        vm.prank(watcher);
        vm.expectEmit(address(market));
        emit ILabelMarketV2Types.CreditsClaimed(id, watcher, 2, 12e18);
        assertEq(opt.claimAll(id, credits), 12e18, "the other two bundles");
        uint256[21] memory all = outcome(id);
        for (uint256 k; k < 21; ++k) {
            assertEq(all[k], oneByOne[k], "same as claiming one by one");
        }
        vm.expectEmit(address(market));
        emit ILabelMarketV2Types.CreditsClaimed(id, address(this), 0, 0);
        assertEq(opt.claimAll(id, credits), 0, "nothing left");
    }

    /// @dev A batch of the first three annotators, every position committed (`wrong` labels as in `three`), paying
    ///      in the test token `t` (minted to the requester and approved), and the credits `settle` would give.
    function batchRewardedIn(address t, uint256[] memory wrong)
        internal
        returns (uint256 id, Held[] memory hs, uint256[] memory credits)
    {
        BlockingToken(t).mint(requester, 1_000 * UNIT); // both test tokens have `mint(address,uint256)`
        vm.prank(requester);
        ERC20(t).approve(address(market), type(uint256).max);
        ILabelMarketV2Types.BatchParams memory p = optParams();
        p.rewardToken = t;
        id = create(p);
        hs = fullRoundCommitted(id, wrong);
        credits = creditsFrom(id, carriedAll(hs));
    }

    function test_reentrancy_theBondPullCannotReenterAnyFunction() public {
        ReentrantToken evil = new ReentrantToken();
        (uint256 id, Held[] memory hs, uint256[] memory credits) = batchRewardedIn(address(evil), three(0, 0, 5));
        evil.arm(market);
        vm.prank(requester);
        opt.propose(id, carriedAll(hs), credits); // transferFrom of the bond: every function tried
        assertEq(evil.attempts(), evil.refused(), "every re-entry refused by the guard");
        assertEq(evil.attempts(), 26, "all 26 state-changing functions tried");
        assertEq(uint256(opt.proposalOf(id).status), 1, "the outer call completed");

        // The payments of finalize (the bond back) and of claims (rewards) cannot re-enter either.
        vm.warp(challengeEnd(id) + 1);
        opt.finalize(id);
        assertEq(evil.attempts(), 52, "the bond's payment tried every function");
        assertGt(opt.claimAll(id, credits), 0, "rewards paid");
        assertEq(evil.attempts(), 52 + 26 * 3, "each annotator's payment tried every function");
        assertEq(evil.attempts(), evil.refused(), "every re-entry refused by the guard");
        assertEq(market.claimable(ann(0), address(evil)), 0, "paid, not credited");
    }

    /// @dev Claims of two batches in one transaction (as a contract claiming for its users would) pay each batch's
    ///      rewards: nothing owed by the first call lingers into the second.
    function test_claimAll_twoBatchesInOneTransactionPayEach() public {
        uint256[2] memory ids;
        uint256[][2] memory credits;
        for (uint256 k; k < 2; ++k) {
            ids[k] = create(optParams());
            Held[] memory hs = fullRoundCommitted(ids[k], three(0, 0, 0));
            credits[k] = creditsFrom(ids[k], carriedAll(hs));
            propose(ids[k], carriedAll(hs), credits[k]);
        }
        vm.warp(challengeEnd(ids[1]) + 1);
        uint256 before = token.balanceOf(ann(0));
        for (uint256 k; k < 2; ++k) {
            opt.finalize(ids[k]);
            assertEq(opt.claimAll(ids[k], credits[k]), 24e18, "3 x 8 labels");
            assertEq(token.balanceOf(ann(0)) - before, (k + 1) * 8e18, "ann0 paid for each batch");
        }
        assertEq(market.claimable(ann(0), address(token)), 0, "nothing credited instead");
    }

    /// @dev A reward token that refuses one annotator (a blocklist) cannot block a claim, and loses nothing: that
    ///      annotator's rewards are credited for `collect`, the others are paid.
    function test_claim_aPaymentTheTokenRefusesIsCreditedInstead() public {
        BlockingToken bt = new BlockingToken();
        (uint256 id, Held[] memory hs, uint256[] memory credits) = batchRewardedIn(address(bt), three(0, 0, 0));
        propose(id, carriedAll(hs), credits);
        vm.warp(challengeEnd(id) + 1);
        opt.finalize(id);
        bt.setBlocked(ann(0), true);
        uint256 paid = opt.claimAll(id, credits);
        assertEq(paid, 24e18, "every bundle's rewards: 3 x 8 labels");
        assertEq(bt.balanceOf(ann(0)), 0, "the blocked annotator got no transfer");
        assertEq(market.claimable(ann(0), address(bt)), 8e18, "its rewards are credited instead");
        assertEq(bt.balanceOf(ann(1)), 8e18, "the others are paid");
        assertEq(bt.balanceOf(ann(2)), 8e18, "the others are paid");
        vm.prank(ann(0));
        vm.expectRevert(); // still refused by the token: the credit stays
        market.collect(address(bt));
        bt.setBlocked(ann(0), false);
        vm.prank(ann(0));
        assertEq(market.collect(address(bt)), 8e18, "collected once the token allows it");
    }

    /// @dev The vector of `concord_protocol::merkle::tests::credit_leaf_matches_the_contract_on_a_shared_vector`.
    function test_creditLeaf_sharedVector() public pure {
        uint256 credit = (uint256(0xA11CE) << 96) | 0x000600050004000300020001;
        uint256 amounts = (uint256(5e18) << 128) | 3e18;
        assertEq(
            Leaves.creditLeaf(7, 3, credit, amounts),
            0x67e64f811e8d9620814d6c1c4b59f7053eba6f170b51b2a396c7168857bcced8,
            "same leaf as the Rust client"
        );
    }

    function test_modules_refuseDirectCalls() public {
        LabelMarketV2OptimisticProbe probe = new LabelMarketV2OptimisticProbe();
        assertTrue(probe.refused(market), "direct calls to the optimistic module revert");
    }
}

/// @notice Calls the optimistic module at its own address (not through the market).
/// @dev A reward token with a blocklist (as some stablecoins have): transfers to a blocked address revert.
contract BlockingToken is ERC20 {
    mapping(address => bool) public blocked;

    constructor() ERC20("Blocking", "BLK") {}

    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    function setBlocked(address a, bool b) external {
        blocked[a] = b;
    }

    function _update(address from, address to, uint256 value) internal override {
        require(!blocked[to], "blocked");
        super._update(from, to, value);
    }
}

contract LabelMarketV2OptimisticProbe {
    function refused(ILabelMarketV2Types m) external returns (bool) {
        (bool ok, bytes memory ret) = address(m).staticcall(abi.encodeWithSignature("SETTLEMENT()"));
        require(ok, "market");
        address settlement = abi.decode(ret, (address));
        (ok, ret) = settlement.staticcall(abi.encodeWithSignature("OPTIMISTIC()"));
        require(ok, "settlement");
        address optimistic = abi.decode(ret, (address));
        (ok,) = optimistic.call(abi.encodeWithSignature("finalize(uint256)", 0));
        return !ok;
    }
}
