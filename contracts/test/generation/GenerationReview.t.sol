// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {GenFixture} from "../utils/GenFixture.sol";
import {TestMerkle} from "../utils/TestMerkle.sol";
import {IGenerationMarketTypes} from "../../interfaces/IGenerationMarket.sol";
import {ILabelMarketV2Types} from "../../interfaces/ILabelMarketV2.sol";
import {Leaves} from "../../libraries/Leaves.sol";

/// @notice The review of a generation batch (docs/generation.md): `openReview` creates a `LabelMarketV2` batch over the
///         published datapoints whose requester and qualifier is the generation market; reviewers qualify (never the
///         batch's contributors), join, commit and reveal as in any batch, with the requester's known-good and
///         known-bad datapoints as gold; `finalize` pays the accepted up to the cap, slashes the rejected and
///         releases the rest; `refund` returns what was not spent.
contract GenerationReviewTest is GenFixture {
    uint256 internal constant REJECT = 0;
    uint256 internal constant ACCEPT = 1;

    address internal goldAuthor = address(0x601D);

    /// @dev The datapoints of the walkthrough, in submission order, and whether each is good.
    bytes[5] internal texts = [
        bytes("Q: What is 17 * 23? A: 391."),
        "asdf asdf asdf",
        "Q: Which planet has the most moons? A: Saturn.",
        "Q: What is 2 + 2? A: 4.", // gold, known good
        "buy cheap watches" // gold, known bad
    ];
    bool[5] internal good = [true, false, true, true, false];

    function setUp() public override {
        super.setUp();
        vm.prank(treasury);
        require(token.transfer(goldAuthor, 1_000 * UNIT));
        vm.startPrank(goldAuthor);
        token.approve(address(gen), type(uint256).max);
        gen.stake(100 * UNIT);
        vm.stopPrank();
    }

    // ------------------------------------------------------------------------------------------------
    // Steps
    // ------------------------------------------------------------------------------------------------

    /// @dev alice: texts 0 and 2 and one never published; bob: text 1; the requester's gold author: texts 3 and 4.
    ///      Submitted in that order (sids 0..5), published in sid order except the one never published (sid 2), so
    ///      items are [0, 1, 3, 4, 5] -> texts [0, 1, 2, 3, 4].
    function submitAndPublish(uint256 id) internal returns (uint256[6] memory sids) {
        address[6] memory by = [alice, bob, alice, alice, goldAuthor, goldAuthor];
        bytes[6] memory what = [texts[0], texts[1], bytes("never shown"), texts[2], texts[3], texts[4]];
        for (uint256 i; i < 6; ++i) {
            sids[i] = submitAs(by[i], id, what[i], bytes32(i));
        }
        toPublish(id);
        for (uint256 i; i < 6; ++i) {
            if (i == 2) continue;
            vm.prank(by[i]);
            gen.publish(id, sids[i], what[i], bytes32(i));
        }
    }

    function goldLeaves() internal pure returns (bytes32[] memory leaves) {
        leaves = new bytes32[](2);
        leaves[0] = Leaves.goldLeaf(3, ACCEPT, "g3");
        leaves[1] = Leaves.goldLeaf(4, REJECT, "g4");
    }

    function openWithGold(uint256 id) internal returns (uint256 batch) {
        toReview(id);
        vm.prank(requester);
        batch = gen.openReview(id, reviewParams(), "ipfs://review", TestMerkle.root(goldLeaves()), 2);
    }

    function revealGold(uint256 batch) internal {
        bytes32[] memory leaves = goldLeaves();
        ILabelMarketV2Types.GoldAnswer[] memory answers = new ILabelMarketV2Types.GoldAnswer[](2);
        answers[0] = ILabelMarketV2Types.GoldAnswer(3, uint8(ACCEPT), "g3", TestMerkle.proof(leaves, 0));
        answers[1] = ILabelMarketV2Types.GoldAnswer(4, uint8(REJECT), "g4", TestMerkle.proof(leaves, 1));
        vm.prank(requester);
        market.revealGold(batch, answers);
    }

    /// @dev Reviewers 0..2 (the fixture's annotators) qualify, each joins a whole lane, labels every datapoint by
    ///      its truth (or accepts all when `approveAll[i]`), commits and reveals; then the gold is revealed and the
    ///      batch settled.
    function review(uint256 id, uint256 batch, bool[3] memory approveAll) internal returns (Held[] memory hs) {
        hs = joinReview(id, batch);
        for (uint256 i; i < 3; ++i) {
            labelReview(batch, hs[i], approveAll[i]);
            commitAs(batch, hs[i]);
        }
        warpPastCommit(batch);
        for (uint256 i; i < 3; ++i) {
            revealAs(batch, hs[i]);
        }
        revealGold(batch);
        warpPastReveal(batch);
        settleAll(batch, hs);
    }

    function openWithoutGold(uint256 id) internal returns (uint256 batch) {
        toReview(id);
        vm.prank(requester);
        batch = gen.openReview(id, reviewParams(), "ipfs://review", bytes32(0), 0);
    }

    /// @dev Reviewers 0..2 qualify and join a whole lane each; the round seals and its seed is drawn.
    function joinReview(uint256 id, uint256 batch) internal returns (Held[] memory hs) {
        hs = new Held[](3);
        for (uint256 i; i < 3; ++i) {
            gen.qualifyReviewer(id, ann(i));
            hs[i] = joinAs(ann(i), batch, 8);
        }
        seedRound(batch, 1);
    }

    function labelReview(uint256 batch, Held memory h, bool approveAll) internal view {
        h.tasks = new uint256[](h.bundle.size);
        h.words = new uint256[]((uint256(h.bundle.size) + 1) / 2);
        for (uint256 m; m < h.bundle.size; ++m) {
            uint256 t = market.taskAt(batch, h.bundle.lane, h.bundle.round, uint256(h.bundle.first) + m);
            h.tasks[m] = t;
            uint256 verdict = approveAll || good[t] ? ACCEPT : REJECT;
            h.words[m / 2] |= verdict << (128 * (m % 2));
        }
    }

    function verdictOf(uint256 id, uint256 sid) internal view returns (IGenerationMarketTypes.Verdict) {
        return gen.submissionOf(id, sid).verdict;
    }

    // ------------------------------------------------------------------------------------------------
    // openReview
    // ------------------------------------------------------------------------------------------------

    function test_openReview_createsTheReviewBatchOverThePublishedDatapoints() public {
        uint256 id = createGen();
        submitAndPublish(id);
        bytes32[] memory leaves = new bytes32[](5);
        for (uint256 i; i < 5; ++i) {
            leaves[i] = Leaves.manifestLeaf(i, keccak256(texts[i]), "");
        }
        uint256 before = token.balanceOf(address(gen));
        uint256 batch = openWithGold(id);

        ILabelMarketV2Types.Batch memory b = market.getBatch(batch);
        assertEq(b.config.requester, address(gen), "the generation market is the requester");
        assertEq(b.config.qualifier, address(gen), "and the qualifier");
        assertEq(b.config.reviewer, address(0), "no reviewer");
        assertEq(b.config.numItems, 5, "the published datapoints");
        assertEq(b.config.taskSize, 1, "one per task");
        assertEq(b.config.numClasses, 2, "reject / accept");
        assertEq(b.config.replicas, 3, "terms fixed at creation");
        assertEq(b.roots.manifest, TestMerkle.root(leaves), "manifest root over (item, content hash, '')");
        assertEq(
            b.roots.manifest,
            0x54806d7d29ddf1a9b49dcda7babbae484261602679faae12c28e694857e4119b,
            "the Rust client's root (concord_protocol::manifest, datapoints_hash_as_raw_bytes_...)"
        );
        assertEq(b.roots.gold, TestMerkle.root(goldLeaves()), "gold root");
        assertEq(b.config.goldCount, 2, "gold count");
        uint256 escrow = 5 * 3 * 0.5e18 + 10e18;
        assertEq(before - token.balanceOf(address(gen)), escrow, "items x r x reward + gold bond to the market");
        IGenerationMarketTypes.GenState memory s = gen.getGeneration(id).state;
        assertTrue(s.reviewOpened, "opened");
        assertEq(s.reviewBatch, batch, "batch kept");
        assertEq(s.reviewEscrow, escrow, "escrow kept");
        assertEq(token.allowance(address(gen), address(market)), 0, "no allowance left");
    }

    function test_openReview_reverts() public {
        uint256 id = createGen();
        submitAndPublish(id);
        IGenerationMarketTypes.ReviewParams memory r = reviewParams();
        uint256 opensAt = uint256(gen.getGeneration(id).config.publishDeadline) + 1;
        vm.expectRevert(abi.encodeWithSelector(IGenerationMarketTypes.ReviewNotOpenYet.selector, opensAt));
        vm.prank(requester);
        gen.openReview(id, r, "u", bytes32(0), 0);
        toReview(id);
        vm.expectRevert(abi.encodeWithSelector(IGenerationMarketTypes.NotRequester.selector, alice));
        vm.prank(alice);
        gen.openReview(id, r, "u", bytes32(0), 0);
        r.rewardPerLabel = 1; // cheaper terms than those fixed at creation
        vm.expectRevert(IGenerationMarketTypes.ReviewTermsMismatch.selector);
        vm.prank(requester);
        gen.openReview(id, r, "u", bytes32(0), 0);
        vm.prank(requester);
        uint256 batch = gen.openReview(id, reviewParams(), "u", bytes32(0), 0);
        assertEq(market.getBatch(batch).state.goldBond, 0, "no gold, no bond");
        vm.expectRevert(abi.encodeWithSelector(IGenerationMarketTypes.ReviewAlreadyOpen.selector, id, batch));
        vm.prank(requester);
        gen.openReview(id, reviewParams(), "u", bytes32(0), 0);

        uint256 empty = createGen();
        toReview(empty);
        vm.expectRevert(abi.encodeWithSelector(IGenerationMarketTypes.NothingToReview.selector, empty));
        vm.prank(requester);
        gen.openReview(empty, reviewParams(), "u", bytes32(0), 0);
        uint256 deadline = uint256(gen.getGeneration(empty).config.publishDeadline) + gen.OPEN_GRACE();
        vm.warp(deadline + 1);
        vm.expectRevert(abi.encodeWithSelector(IGenerationMarketTypes.ReviewWindowMissed.selector, deadline));
        vm.prank(requester);
        gen.openReview(empty, reviewParams(), "u", bytes32(0), 0);
    }

    // ------------------------------------------------------------------------------------------------
    // qualifyReviewer
    // ------------------------------------------------------------------------------------------------

    function test_qualifyReviewer_neverQualifiesAContributorOrTheRequester() public {
        uint256 id = createGen();
        submitAndPublish(id);
        vm.expectRevert(abi.encodeWithSelector(IGenerationMarketTypes.NoReview.selector, id));
        gen.qualifyReviewer(id, ann(0));
        uint256 batch = openWithGold(id);
        address[3] memory barred = [alice, goldAuthor, requester];
        for (uint256 i; i < barred.length; ++i) {
            vm.expectRevert(
                abi.encodeWithSelector(IGenerationMarketTypes.ContributorCannotReview.selector, id, barred[i])
            );
            gen.qualifyReviewer(id, barred[i]);
        }
        // Without the generation market's qualification nobody joins the review, so a contributor cannot.
        vm.prank(treasury);
        require(token.transfer(alice, 1_000 * UNIT));
        vm.startPrank(alice);
        token.approve(address(market), type(uint256).max);
        market.stake(100 * UNIT);
        vm.expectRevert(abi.encodeWithSelector(ILabelMarketV2Types.NotQualified.selector, batch, alice));
        market.join(batch, 8);
        vm.stopPrank();
        gen.qualifyReviewer(id, ann(0));
        assertTrue(market.qualified(batch, ann(0)), "a stranger is qualified");
        joinAs(ann(0), batch, 8);
    }

    // ------------------------------------------------------------------------------------------------
    // finalize, refund
    // ------------------------------------------------------------------------------------------------

    /// @dev The whole flow, with one reviewer accepting everything: the good datapoints are paid, the spam slashed,
    ///      the gold released unpaid, the unpublished expired; the approve-all reviewer loses on the spam and the
    ///      known-bad gold; the refund returns exactly what was not spent.
    function test_finalize_paysAcceptedSlashesRejectedAndRefundsTheRest() public {
        uint256 id = createGen();
        uint256[6] memory sids = submitAndPublish(id);
        uint256 batch = openWithGold(id);
        uint256 before = token.balanceOf(address(gen));
        Held[] memory hs = review(id, batch, [false, false, true]);

        vm.expectEmit(address(gen));
        emit IGenerationMarketTypes.Finalized(id, sids[0], alice, IGenerationMarketTypes.Verdict.Accepted, 5e18, 0);
        assertEq(gen.finalize(id, 100), 6, "all six");
        IGenerationMarketTypes.Verdict[6] memory want = [
            IGenerationMarketTypes.Verdict.Accepted,
            IGenerationMarketTypes.Verdict.Rejected,
            IGenerationMarketTypes.Verdict.None, // never published: expired
            IGenerationMarketTypes.Verdict.Accepted,
            IGenerationMarketTypes.Verdict.Gold,
            IGenerationMarketTypes.Verdict.Gold
        ];
        for (uint256 i; i < 6; ++i) {
            assertEq(uint256(verdictOf(id, sids[i])), uint256(want[i]), "verdict");
        }
        assertEq(
            uint256(gen.submissionOf(id, sids[2]).status),
            uint256(IGenerationMarketTypes.SubmissionStatus.Expired),
            "expired inline"
        );
        assertEq(gen.claimable(alice, address(token)), 10e18, "two accepted x 5");
        assertEq(gen.claimable(bob, address(token)), 0, "spam unpaid");
        assertEq(gen.depositOf(bob).amount, 100 * UNIT - 4e18, "spam slashed rejectPenalty");
        assertEq(gen.depositOf(alice).amount, 100 * UNIT - 3e18, "the unpublished one forfeited");
        assertEq(gen.depositOf(goldAuthor).amount, 100 * UNIT, "gold released untouched");
        assertEq(gen.depositOf(alice).locked + gen.depositOf(bob).locked + gen.depositOf(goldAuthor).locked, 0, "all");
        assertEq(gen.claimable(treasury, address(token)), 7e18, "slash + forfeit to the treasury");
        IGenerationMarketTypes.GenState memory s = gen.getGeneration(id).state;
        assertEq(s.accepted, 2, "two paid");
        assertEq(s.paid, 10e18, "paid");
        assertEq(s.finalized, 6, "cursor at the end");

        // Reviewers: the two careful ones agree on all five; the approve-all one is paid for three and slashed on
        // the spam and the known-bad gold.
        assertEq(market.claimable(ann(0), address(token)) > market.claimable(ann(2), address(token)), true, "paid");
        assertLt(market.accountOf(ann(2)).amount, STAKE, "approve-all slashed");
        assertEq(market.accountOf(ann(0)).amount, STAKE, "careful never slashed");
        hs; // the bundles settled

        // Refund: the review batch sends back its unspent escrow and the bond to this market, which credits it.
        uint256 returned = market.getBatch(batch).state.escrow - market.getBatch(batch).state.paid + 10e18;
        vm.expectEmit(address(gen));
        emit IGenerationMarketTypes.GenerationRefunded(id, requester, 90e18 - 10e18 - 17.5e18 + returned);
        uint256 amount = gen.refund(id);
        assertEq(token.balanceOf(address(gen)) - before, returned, "the market's refund arrived");
        assertEq(gen.claimable(requester, address(token)), amount, "credited to the requester");
        vm.expectRevert(abi.encodeWithSelector(IGenerationMarketTypes.AlreadyRefunded.selector, id));
        gen.refund(id);
        // Everything the generation market holds is owed: deposits and claims.
        uint256 owed = gen.claimable(alice, address(token)) + gen.claimable(treasury, address(token)) + amount;
        owed += gen.depositOf(alice).amount + gen.depositOf(bob).amount + gen.depositOf(goldAuthor).amount;
        assertEq(token.balanceOf(address(gen)), owed, "solvent to the wei");
    }

    /// @dev One reviewer accepts everything, one rejects everything, the third never reveals: no datapoint reaches
    ///      the 2/3 majority, so each is released unpaid and unslashed.
    function test_finalize_releasesAnUndecidedDatapointUnpaidAndUnslashed() public {
        uint256 id = createGen();
        uint256[6] memory sids = submitAndPublish(id);
        uint256 batch = openWithoutGold(id);
        Held[] memory hs = joinReview(id, batch);
        for (uint256 i; i < 3; ++i) {
            labelReview(batch, hs[i], i == 0);
            if (i == 1) {
                for (uint256 w; w < hs[i].words.length; ++w) {
                    hs[i].words[w] = 0; // reject everything
                }
            }
            commitAs(batch, hs[i]);
        }
        warpPastCommit(batch);
        revealAs(batch, hs[0]);
        revealAs(batch, hs[1]);
        warpPastReveal(batch);
        ILabelMarketV2Types.BundleProof[] memory proofs = new ILabelMarketV2Types.BundleProof[](3);
        proofs[0] = revealed(hs[0]);
        proofs[1] = revealed(hs[1]);
        proofs[2] = unrevealed(batch, hs[2]);
        market.settle(batch, allTasks(batch), proofs);
        gen.finalize(id, 100);
        assertEq(uint256(verdictOf(id, sids[0])), uint256(IGenerationMarketTypes.Verdict.Undecided), "a good one");
        assertEq(uint256(verdictOf(id, sids[1])), uint256(IGenerationMarketTypes.Verdict.Undecided), "the spam");
        assertEq(gen.claimable(alice, address(token)), 0, "nothing paid");
        assertEq(gen.depositOf(bob).amount, 100 * UNIT, "nothing slashed");
        assertEq(gen.depositOf(bob).locked, 0, "released");
        assertEq(gen.getGeneration(id).state.paid, 0, "the reward escrow stays for the refund");
    }

    /// @dev Any cap and any reviews: each datapoint's verdict follows its review outcome, at most `cap` are paid and
    ///      in submission order, each rejected one is slashed once, and after the refund the generation market holds
    ///      exactly what it owes.
    function testFuzz_finalize_paysInOrderUpToTheCapAndStaysSolvent(uint8 capSeed, uint256 votes) public {
        IGenerationMarketTypes.GenParams memory p = params();
        p.cap = uint32(bound(capSeed, 1, 5));
        vm.prank(requester);
        uint256 id = gen.createGeneration(p);
        uint256[6] memory sids = submitAndPublish(id);
        uint256 batch = openWithoutGold(id);
        Held[] memory hs = joinReview(id, batch);
        for (uint256 i; i < 3; ++i) {
            labelReview(batch, hs[i], false);
            for (uint256 m; m < hs[i].bundle.size; ++m) {
                // Reviewer i's verdict on its m-th datapoint: a bit of `votes`.
                uint256 v = (votes >> (8 * i + m)) & 1;
                hs[i].words[m / 2] = (hs[i].words[m / 2] & ~(uint256(0xF) << (128 * (m % 2)))) | (v << (128 * (m % 2)));
            }
            commitAs(batch, hs[i]);
        }
        warpPastCommit(batch);
        for (uint256 i; i < 3; ++i) {
            revealAs(batch, hs[i]);
        }
        warpPastReveal(batch);
        settleAll(batch, hs);
        gen.finalize(id, 100);

        uint256 paidCount;
        uint256 rejected;
        for (uint256 k; k < 6; ++k) {
            if (k == 2) continue; // never published: expired
            IGenerationMarketTypes.Submission memory s = gen.submissionOf(id, sids[k]);
            uint256 w = market.outcomeOf(batch, s.item);
            bool accept = w & 0xF == 1;
            IGenerationMarketTypes.Verdict v = s.verdict;
            if (accept && paidCount < p.cap) {
                assertEq(uint256(v), uint256(IGenerationMarketTypes.Verdict.Accepted), "paid in submission order");
                ++paidCount;
            } else if (accept) {
                assertEq(uint256(v), uint256(IGenerationMarketTypes.Verdict.AcceptedOverCap), "over the cap");
            } else {
                assertEq(uint256(v), uint256(IGenerationMarketTypes.Verdict.Rejected), "rejected by the review");
                ++rejected;
            }
        }
        IGenerationMarketTypes.GenState memory st = gen.getGeneration(id).state;
        assertEq(st.accepted, paidCount, "accepted counter");
        assertLe(st.accepted, p.cap, "never beyond the cap");
        assertEq(st.paid, paidCount * 5e18, "paid == accepted x reward");
        assertEq(gen.claimable(treasury, address(token)), rejected * 4e18 + 3e18, "slashes and the forfeit");
        uint256 amount = gen.refund(id);
        uint256 owed = amount + gen.claimable(treasury, address(token)) + gen.claimable(alice, address(token))
            + gen.claimable(bob, address(token)) + gen.claimable(goldAuthor, address(token));
        owed += gen.depositOf(alice).amount + gen.depositOf(bob).amount + gen.depositOf(goldAuthor).amount;
        assertEq(token.balanceOf(address(gen)), owed, "solvent to the wei");
    }

    function test_finalize_neverPaysBeyondTheCap() public {
        IGenerationMarketTypes.GenParams memory p = params();
        p.cap = 1;
        vm.prank(requester);
        uint256 id = gen.createGeneration(p);
        uint256[6] memory sids = submitAndPublish(id);
        uint256 batch = openWithGold(id);
        review(id, batch, [false, false, false]);
        gen.finalize(id, 100);
        assertEq(uint256(verdictOf(id, sids[0])), uint256(IGenerationMarketTypes.Verdict.Accepted), "first paid");
        assertEq(
            uint256(verdictOf(id, sids[3])), uint256(IGenerationMarketTypes.Verdict.AcceptedOverCap), "over the cap"
        );
        assertEq(gen.claimable(alice, address(token)), 5e18, "one reward");
        assertEq(gen.depositOf(alice).locked, 0, "stake released all the same");
    }

    function test_finalize_inPartsInSubmissionOrderAndOnlyOnceSettled() public {
        uint256 id = createGen();
        uint256[6] memory sids = submitAndPublish(id);
        vm.expectRevert(
            abi.encodeWithSelector(
                IGenerationMarketTypes.FinalizeNotOpen.selector,
                uint256(gen.getGeneration(id).config.publishDeadline) + 1 + gen.OPEN_GRACE()
            )
        );
        gen.finalize(id, 1);
        uint256 batch = openWithGold(id);
        vm.expectRevert(abi.encodeWithSelector(IGenerationMarketTypes.ReviewNotSettled.selector, sids[0], 0));
        gen.finalize(id, 1);
        review(id, batch, [false, false, false]);
        assertEq(gen.finalize(id, 2), 2, "two");
        assertEq(gen.getGeneration(id).state.finalized, 2, "cursor");
        vm.expectRevert(abi.encodeWithSelector(IGenerationMarketTypes.RefundNotOpen.selector, 2, 6));
        gen.refund(id);
        assertEq(gen.finalize(id, 100), 4, "the rest");
        assertEq(gen.finalize(id, 100), 0, "nothing twice");
        assertEq(gen.claimable(alice, address(token)), 10e18, "each paid once");
    }

    /// @dev A requester that never opens the review cannot keep the datapoints unpaid: after its window every
    ///      published one counts as accepted, up to the cap.
    function test_finalize_withoutAReviewPaysEveryPublishedDatapointUpToTheCap() public {
        IGenerationMarketTypes.GenParams memory p = params();
        p.cap = 4;
        vm.prank(requester);
        uint256 id = gen.createGeneration(p);
        uint256[6] memory sids = submitAndPublish(id);
        vm.warp(uint256(gen.getGeneration(id).config.publishDeadline) + gen.OPEN_GRACE() + 1);
        gen.finalize(id, 100);
        assertEq(uint256(verdictOf(id, sids[1])), uint256(IGenerationMarketTypes.Verdict.Accepted), "spam too");
        assertEq(
            uint256(verdictOf(id, sids[5])), uint256(IGenerationMarketTypes.Verdict.AcceptedOverCap), "fifth: over"
        );
        assertEq(gen.getGeneration(id).state.paid, 20e18, "cap x reward");
        uint256 amount = gen.refund(id);
        assertEq(amount, 4 * 5e18 + 40e18 - 20e18, "the review budget comes back, and nothing of the cap");
    }

    function test_finalize_andRefundOfABatchWithNothingPublished() public {
        uint256 id = createGen();
        submitAs(alice, id, "never shown", "s");
        vm.expectRevert(abi.encodeWithSelector(IGenerationMarketTypes.RefundNotOpen.selector, 0, 1));
        gen.refund(id);
        toReview(id);
        assertEq(gen.finalize(id, 10), 1, "expired without waiting for a review");
        assertEq(gen.refund(id), 90e18, "all of the escrow");
        vm.prank(requester);
        gen.collect(address(token));
    }
}
