// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Base} from "../utils/Base.sol";
import {GenFixture} from "../utils/GenFixture.sol";
import {ConcordToken} from "../../ConcordToken.sol";
import {GenerationMarket} from "../../GenerationMarket.sol";
import {IGenerationMarketTypes} from "../../interfaces/IGenerationMarket.sol";
import {TextNormalize} from "../../libraries/TextNormalize.sol";
import {LabelMarketV2} from "../../LabelMarketV2.sol";
import {ILabelMarketV2Types} from "../../interfaces/ILabelMarketV2.sol";

/// @notice Random contributors staking, submitting, publishing (duplicates and near-duplicates included), expiring
///         and collecting across two generation batches; the requester opening the review (or missing its window),
///         three reviewers labeling it on the market (a quarter of their labels wrong), finalization in parts,
///         refunds, and contributors trying to qualify as reviewers of their own batch. Every call is meant to
///         succeed (fail_on_revert), so each action only does what the rules allow and the ghosts mirror the market.
contract GenerationHandler is Base {
    GenerationMarket internal gen;
    ConcordToken internal token;
    address internal treasury;
    LabelMarketV2 internal market;
    address internal requester;
    IGenerationMarketTypes.ReviewParams internal terms;
    uint256[] public ids;
    address[] public contributors;
    address[] public reviewers;

    /// @notice Rewards each contributor earned by the verdicts of its finalized submissions (one per verdict), and
    ///         what each address collected.
    mapping(address => uint256) public rewarded;
    mapping(address => uint256) public collected;
    uint256 public reviewsRun;
    uint256 public finalizedWithoutReview;
    uint256 public selfReviewsRefused;
    uint256 public refunds;

    struct Ghost {
        uint256 id;
        uint256 sid;
        address author;
        bytes content;
        bytes32 salt;
    }

    Ghost[] public subs;
    uint256 public duplicatesRefused;
    uint256 public publishedCount;

    /// @dev Short texts that collide after normalization (case and whitespace variants) and some that do not.
    bytes[6] internal texts =
        [bytes("Name a prime."), "  name A PRIME. ", "name a\tprime.", "Name an odd prime.", "Why?", "why?"];

    constructor(
        GenerationMarket g,
        ConcordToken t,
        address treasury_,
        address requester_,
        IGenerationMarketTypes.ReviewParams memory terms_
    ) {
        gen = g;
        token = t;
        treasury = treasury_;
        market = LabelMarketV2(address(g.MARKET()));
        requester = requester_;
        terms = terms_;
        for (uint256 i; i < 4; ++i) {
            contributors.push(address(uint160(0xC000 + i)));
        }
        for (uint256 i; i < 3; ++i) {
            reviewers.push(address(uint160(0xD000 + i)));
        }
    }

    function reviewerCount() external view returns (uint256) {
        return reviewers.length;
    }

    function addGeneration(uint256 id) external {
        ids.push(id);
    }

    function contributorCount() external view returns (uint256) {
        return contributors.length;
    }

    function subCount() external view returns (uint256) {
        return subs.length;
    }

    function stake(uint256 who, uint256 amount) external {
        address a = contributors[who % contributors.length];
        amount = bound(amount, 1, 50 * UNIT);
        vm.prank(a);
        gen.stake(amount);
    }

    function unstake(uint256 who, uint256 amount) external {
        address a = contributors[who % contributors.length];
        IGenerationMarketTypes.Deposit memory d = gen.depositOf(a);
        uint256 unlocked = d.amount - d.locked;
        if (unlocked == 0) return;
        vm.prank(a);
        gen.unstake(bound(amount, 1, unlocked));
    }

    function submit(uint256 which, uint256 who, uint256 text, bytes32 salt) external {
        uint256 id = ids[which % ids.length];
        address a = contributors[who % contributors.length];
        IGenerationMarketTypes.Generation memory g = gen.getGeneration(id);
        if (block.timestamp > g.config.submitDeadline || g.state.submitted >= g.config.maxItems) return;
        IGenerationMarketTypes.Deposit memory d = gen.depositOf(a);
        if (d.amount - d.locked < g.config.stakePerSubmission) return;
        bytes memory content = texts[text % texts.length];
        bytes32 ch = gen.commitHashOf(id, a, keccak256(content), salt);
        vm.prank(a);
        uint256 sid = gen.submit(id, 0, ch);
        subs.push(Ghost(id, sid, a, content, salt));
    }

    /// @dev Publishes a committed submission, or checks that the market refuses it as a duplicate.
    function publish(uint256 k) external {
        if (subs.length == 0) return;
        // The first submission from k on that can be published now.
        Ghost memory s;
        bool found;
        for (uint256 j; j < subs.length && !found; ++j) {
            s = subs[(k % subs.length + j) % subs.length];
            IGenerationMarketTypes.Generation memory g = gen.getGeneration(s.id);
            found = block.timestamp > g.config.submitDeadline && block.timestamp <= g.config.publishDeadline
                && gen.submissionOf(s.id, s.sid).status == IGenerationMarketTypes.SubmissionStatus.Committed;
        }
        if (!found) return;
        uint256 first = gen.firstWith(s.id, TextNormalize.normalizedHash(s.content));
        vm.prank(s.author);
        if (first != 0) {
            vm.expectRevert(
                abi.encodeWithSelector(IGenerationMarketTypes.DuplicateDatapoint.selector, s.sid, first - 1)
            );
            gen.publish(s.id, s.sid, s.content, s.salt);
            ++duplicatesRefused;
            return;
        }
        gen.publish(s.id, s.sid, s.content, s.salt);
        ++publishedCount;
    }

    function expire(uint256 k) external {
        if (subs.length == 0) return;
        Ghost memory s = subs[k % subs.length];
        IGenerationMarketTypes.Generation memory g = gen.getGeneration(s.id);
        if (block.timestamp <= g.config.publishDeadline) return;
        if (gen.submissionOf(s.id, s.sid).status != IGenerationMarketTypes.SubmissionStatus.Committed) return;
        gen.expireSubmission(s.id, s.sid);
    }

    function advance(uint256 secs) external {
        vm.warp(block.timestamp + bound(secs, 1, 12 hours));
    }

    /// @dev Jumps to just past a batch's submit or publish deadline, or its review-opening window, when still ahead
    ///      (so a run of 64 calls reaches every phase).
    function skipTo(uint256 which, uint256 phase) external {
        IGenerationMarketTypes.GenConfig memory c = gen.getGeneration(ids[which % ids.length]).config;
        uint256 grace = c.publishDeadline + gen.OPEN_GRACE();
        uint256[5] memory at =
            [uint256(c.submitDeadline), c.publishDeadline, c.publishDeadline, c.publishDeadline, grace];
        uint256 t = at[phase % 5] + 1;
        if (t > block.timestamp) vm.warp(t);
    }

    function collect(uint256 who) external {
        address a = who % 3 == 0 ? treasury : who % 3 == 1 ? requester : contributors[who % contributors.length];
        uint256 amount = gen.claimable(a, address(token));
        if (amount == 0) return;
        vm.prank(a);
        gen.collect(address(token));
        collected[a] += amount;
    }

    /// @dev The requester opens the review within its window, and the whole review runs on the market: three
    ///      reviewers qualify and join a lane each, label (a quarter of their labels wrong), commit and reveal; the
    ///      batch is settled.
    function openAndReview(uint256 which, uint256 seed) external {
        uint256 id = ids[which % ids.length];
        IGenerationMarketTypes.Generation memory g = gen.getGeneration(id);
        uint256 pd = g.config.publishDeadline;
        if (g.state.reviewOpened || g.state.published == 0) return;
        if (block.timestamp <= pd || block.timestamp > pd + gen.OPEN_GRACE()) return;
        vm.prank(requester);
        uint256 batch = gen.openReview(id, terms, "ipfs://review", bytes32(0), 0);
        ILabelMarketV2Types.BundleProof[] memory proofs = new ILabelMarketV2Types.BundleProof[](3);
        for (uint256 i; i < 3; ++i) {
            gen.qualifyReviewer(id, reviewers[i]);
            proofs[i] = _join(batch, reviewers[i]);
        }
        _seed(batch);
        for (uint256 i; i < 3; ++i) {
            _label(batch, proofs[i], seed, i);
            ILabelMarketV2Types.BundleProof memory p = proofs[i];
            bytes32 ch = market.commitHashOf(batch, p.id, p.bundle.annotator, p.labels, p.salt);
            vm.prank(p.bundle.annotator);
            market.commit(batch, p.id, p.bundle, ch, "");
        }
        vm.warp(uint256(market.getBatch(batch).config.commitDeadline) + 1);
        for (uint256 i; i < 3; ++i) {
            ILabelMarketV2Types.BundleProof memory p = proofs[i];
            vm.prank(p.bundle.annotator);
            market.reveal(batch, p.id, p.bundle, p.labels, p.salt);
        }
        vm.warp(uint256(market.getBatch(batch).config.revealDeadline) + 1);
        uint256[] memory tasks = new uint256[](g.state.published);
        for (uint256 t; t < tasks.length; ++t) {
            tasks[t] = t;
        }
        market.settle(batch, tasks, proofs);
        ++reviewsRun;
    }

    function _join(uint256 batch, address a) internal returns (ILabelMarketV2Types.BundleProof memory p) {
        vm.prank(a);
        (uint256 bundleId, uint256 size) = market.join(batch, 32);
        (, uint256 lane, uint256 round) = market.memberOf(batch, a);
        uint256 taken = market.getLaneRound(batch, round, lane).taken;
        p.id = uint32(bundleId);
        p.positions = type(uint32).max;
        p.bundle = ILabelMarketV2Types.Bundle(a, uint8(lane), uint16(round), uint32(taken - size), uint8(size));
        p.salt = keccak256(abi.encode("salt", batch, bundleId));
    }

    function _seed(uint256 batch) internal {
        ILabelMarketV2Types.Round memory r = market.getRound(batch, 1);
        if (r.sealBlock == 0) {
            if (block.timestamp <= r.joinEnd) vm.warp(uint256(r.joinEnd) + 1);
            market.seal(batch);
            r = market.getRound(batch, 1);
        }
        vm.roll(uint256(r.sealBlock) + 2);
        vm.setBlockhash(uint256(r.sealBlock) + 1, keccak256(abi.encode("block", batch, r.sealBlock)));
        market.drawSeed(batch, 1);
    }

    /// @dev Datapoint t is good when keccak(id, t) is odd; reviewer i gets a quarter of its verdicts wrong.
    function _label(uint256 batch, ILabelMarketV2Types.BundleProof memory p, uint256 seed, uint256 i) internal view {
        uint256 size = p.bundle.size;
        p.labels = new uint256[]((size + 1) / 2);
        for (uint256 m; m < size; ++m) {
            uint256 t = market.taskAt(batch, p.bundle.lane, p.bundle.round, uint256(p.bundle.first) + m);
            uint256 verdict = uint256(keccak256(abi.encode(batch, t))) & 1;
            if (uint256(keccak256(abi.encode(seed, i, t))) % 4 == 0) verdict ^= 1;
            p.labels[m / 2] |= verdict << (128 * (m % 2));
        }
    }

    /// @dev Finalizes up to `count` submissions when it may: after the review settled, or once the requester missed
    ///      opening it; credits the ghost with one reward per `Accepted` verdict.
    function finalize(uint256 which, uint256 count) external {
        uint256 id = ids[which % ids.length];
        IGenerationMarketTypes.Generation memory g = gen.getGeneration(id);
        uint256 pd = g.config.publishDeadline;
        if (g.state.finalized == g.state.submitted) return;
        if (g.state.reviewOpened) {
            // settled by `openAndReview`, unless the review is still running (never: it runs in one call)
        } else if (block.timestamp <= pd + (g.state.published == 0 ? 0 : gen.OPEN_GRACE())) {
            return;
        } else {
            ++finalizedWithoutReview;
        }
        uint256 from = g.state.finalized;
        uint256 done = gen.finalize(id, bound(count, 1, 8));
        for (uint256 sid = from; sid < from + done; ++sid) {
            IGenerationMarketTypes.Submission memory s = gen.submissionOf(id, sid);
            if (s.verdict == IGenerationMarketTypes.Verdict.Accepted) rewarded[s.author] += g.config.rewardPerAccepted;
        }
    }

    function refund(uint256 which) external {
        uint256 id = ids[which % ids.length];
        IGenerationMarketTypes.Generation memory g = gen.getGeneration(id);
        if (g.state.refunded || g.state.finalized != g.state.submitted) return;
        if (block.timestamp <= g.config.publishDeadline) return;
        gen.refund(id);
        ++refunds;
    }

    /// @dev A contributor asks to review its own batch: always refused.
    function qualifySelf(uint256 which, uint256 who) external {
        uint256 id = ids[which % ids.length];
        if (!gen.getGeneration(id).state.reviewOpened) id = ids[(which % ids.length + 1) % ids.length];
        if (!gen.getGeneration(id).state.reviewOpened) return;
        address a;
        for (uint256 k; k < contributors.length && a == address(0); ++k) {
            address c = contributors[(who % contributors.length + k) % contributors.length];
            if (gen.contributed(id, c)) a = c;
        }
        if (a == address(0)) return;
        vm.expectRevert(abi.encodeWithSelector(IGenerationMarketTypes.ContributorCannotReview.selector, id, a));
        gen.qualifyReviewer(id, a);
        ++selfReviewsRefused;
    }
}

/// @notice Generation invariants (ci profile: >= 10,000 calls each): exact solvency (escrows less payments and the
///         review budget sent, deposits, claims), locked stake exact and covered, no two published datapoints of a
///         batch with one normal form, every submission accounted for, nothing paid beyond the cap or twice, and no
///         contributor qualified to review its own batch.
contract GenerationInvariantsTest is GenFixture {
    GenerationHandler internal handler;

    function setUp() public override {
        super.setUp();
        IGenerationMarketTypes.ReviewParams memory terms = reviewParams();
        terms.maxBundle = 32; // as `_create` fixes them
        handler = new GenerationHandler(gen, token, treasury, requester, terms);
        for (uint256 i; i < handler.reviewerCount(); ++i) {
            address a = handler.reviewers(i);
            fund(a, address(market));
            vm.prank(a);
            market.stake(STAKE);
        }
        for (uint256 i; i < handler.contributorCount(); ++i) {
            fund(handler.contributors(i), address(gen));
        }
        handler.addGeneration(_create(1 days, 30));
        handler.addGeneration(_create(2 days, 8));
        for (uint256 i; i < handler.contributorCount(); ++i) {
            handler.stake(i, 50 * UNIT); // every contributor can submit from the first call
        }

        bytes4[] memory selectors = new bytes4[](15);
        selectors[0] = handler.stake.selector;
        selectors[1] = handler.unstake.selector;
        selectors[2] = handler.submit.selector;
        selectors[3] = handler.publish.selector;
        selectors[4] = handler.expire.selector;
        selectors[5] = handler.advance.selector;
        selectors[6] = handler.collect.selector;
        selectors[7] = handler.submit.selector;
        selectors[8] = handler.openAndReview.selector;
        selectors[9] = handler.openAndReview.selector;
        selectors[10] = handler.finalize.selector;
        selectors[11] = handler.refund.selector;
        selectors[12] = handler.qualifySelf.selector;
        selectors[13] = handler.skipTo.selector;
        selectors[14] = handler.openAndReview.selector;
        targetContract(address(handler));
        targetSelector(FuzzSelector({addr: address(handler), selectors: selectors}));
    }

    function _create(uint32 period, uint32 maxItems) internal returns (uint256 id) {
        IGenerationMarketTypes.GenParams memory p = params();
        p.cap = 5;
        p.maxItems = maxItems;
        p.maxContentBytes = 64;
        p.rewardPerAccepted = 3e18;
        p.review.maxBundle = 32; // a reviewer takes a whole lane (maxItems <= 30)
        p.submitPeriod = period;
        p.publishPeriod = period;
        vm.prank(requester);
        id = gen.createGeneration(p);
    }

    /// @notice Every token the generation market holds is owed, to the wei: each batch's escrow less what it paid
    ///         and what it sent to its review (until refunded), deposits, and every claim.
    function invariant_solvencyExact() public view {
        uint256 owed;
        for (uint256 i; i < 2; ++i) {
            IGenerationMarketTypes.Generation memory g = gen.getGeneration(handler.ids(i));
            if (!g.state.refunded) owed += g.state.escrow - g.state.paid - g.state.reviewEscrow;
            assertLe(g.state.reviewEscrow, g.config.reviewBudget, "the review never takes more than its budget");
        }
        for (uint256 i; i < handler.contributorCount(); ++i) {
            owed += gen.depositOf(handler.contributors(i)).amount;
            owed += gen.claimable(handler.contributors(i), address(token));
        }
        owed += gen.depositOf(alice).amount + gen.depositOf(bob).amount;
        owed += gen.claimable(treasury, address(token)) + gen.claimable(requester, address(token));
        assertEq(token.balanceOf(address(gen)), owed, "balance == escrows + deposits + claims");
    }

    /// @notice Nothing is paid beyond the cap, each accepted datapoint is paid once, and every contributor's claims
    ///         and collections add up to one reward per `Accepted` verdict of its own.
    function invariant_paidOnceWithinTheCap() public view {
        uint256[2] memory accepted;
        for (uint256 k; k < handler.subCount(); ++k) {
            (uint256 id, uint256 sid,,,) = handler.subs(k);
            if (gen.submissionOf(id, sid).verdict == IGenerationMarketTypes.Verdict.Accepted) {
                accepted[id == handler.ids(0) ? 0 : 1] += 1;
            }
        }
        for (uint256 i; i < 2; ++i) {
            IGenerationMarketTypes.Generation memory g = gen.getGeneration(handler.ids(i));
            assertLe(g.state.accepted, g.config.cap, "accepted and paid <= cap");
            assertEq(g.state.accepted, accepted[i], "one paid per Accepted verdict");
            assertEq(g.state.paid, uint256(g.state.accepted) * g.config.rewardPerAccepted, "paid == accepted x reward");
        }
        for (uint256 i; i < handler.contributorCount(); ++i) {
            address a = handler.contributors(i);
            assertEq(gen.claimable(a, address(token)) + handler.collected(a), handler.rewarded(a), "paid once each");
        }
    }

    /// @notice No contributor of a batch is ever qualified to review it (nor its requester), and the reviewers who
    ///         did review contributed nothing to it.
    function invariant_noSelfReview() public view {
        for (uint256 i; i < 2; ++i) {
            uint256 id = handler.ids(i);
            IGenerationMarketTypes.GenState memory s = gen.getGeneration(id).state;
            if (!s.reviewOpened) continue;
            for (uint256 c; c < handler.contributorCount(); ++c) {
                address a = handler.contributors(c);
                if (gen.contributed(id, a)) assertFalse(market.qualified(s.reviewBatch, a), "contributor qualified");
            }
            assertFalse(market.qualified(s.reviewBatch, requester), "requester qualified");
            for (uint256 r; r < handler.reviewerCount(); ++r) {
                assertFalse(gen.contributed(id, handler.reviewers(r)), "a reviewer contributed");
            }
        }
    }

    /// @notice A contributor's locked stake is exactly one stake per submission not yet released, and held.
    function invariant_lockedExact() public view {
        uint256 n = handler.contributorCount();
        uint256[] memory open = new uint256[](n);
        for (uint256 k; k < handler.subCount(); ++k) {
            (uint256 id, uint256 sid, address author,,) = handler.subs(k);
            IGenerationMarketTypes.SubmissionStatus st = gen.submissionOf(id, sid).status;
            if (st == IGenerationMarketTypes.SubmissionStatus.Expired) continue;
            if (st == IGenerationMarketTypes.SubmissionStatus.Finalized) continue;
            for (uint256 i; i < n; ++i) {
                if (handler.contributors(i) == author) open[i] += 10e18;
            }
        }
        for (uint256 i; i < n; ++i) {
            IGenerationMarketTypes.Deposit memory d = gen.depositOf(handler.contributors(i));
            assertEq(d.locked, open[i], "locked == stake x open submissions");
            assertLe(d.locked, d.amount, "locked <= staked");
        }
    }

    /// @notice No two published submissions of a batch share a normal form, and the first-with map points at the
    ///         published one.
    function invariant_noPublishedDuplicates() public view {
        uint256 count = handler.subCount();
        for (uint256 a; a < count; ++a) {
            (uint256 id, uint256 sid,,,) = handler.subs(a);
            IGenerationMarketTypes.Submission memory s = gen.submissionOf(id, sid);
            if (s.status != IGenerationMarketTypes.SubmissionStatus.Published) continue;
            assertEq(gen.firstWith(id, s.hash), sid + 1, "first-with points at it");
            for (uint256 b = a + 1; b < count; ++b) {
                (uint256 id2, uint256 sid2,,,) = handler.subs(b);
                if (id2 != id) continue;
                IGenerationMarketTypes.Submission memory t = gen.submissionOf(id2, sid2);
                if (t.status == IGenerationMarketTypes.SubmissionStatus.Published) {
                    assertNotEq(s.hash, t.hash, "two published with one normal form");
                }
            }
        }
    }

    /// @notice Every submission is committed, published or expired, and the counters say so.
    function invariant_submissionsAccounted() public view {
        uint256 published;
        uint256 total;
        for (uint256 i; i < 2; ++i) {
            IGenerationMarketTypes.GenState memory s = gen.getGeneration(handler.ids(i)).state;
            published += s.published;
            total += s.submitted;
        }
        assertEq(total, handler.subCount(), "every submission mirrored");
        assertEq(published, handler.publishedCount(), "published counted once each");
    }

    /// @dev The handler reaches the interesting states: a refused duplicate, a publication and an expiry.
    function test_handler_reachesDuplicatesExpiryReviewFinalizeAndRefund() public {
        for (uint256 i; i < 4; ++i) {
            handler.stake(i, 50 * UNIT);
        }
        handler.submit(0, 0, 0, "a"); // "Name a prime."
        handler.submit(0, 1, 1, "b"); // its case/space variant
        handler.submit(0, 2, 3, "c"); // another question
        handler.advance(12 hours);
        handler.advance(12 hours);
        handler.advance(1);
        handler.publish(0);
        handler.publish(1);
        assertEq(handler.duplicatesRefused(), 1, "the variant refused");
        assertEq(handler.publishedCount(), 1, "one published");
        handler.advance(12 hours);
        handler.advance(12 hours);
        handler.expire(2);
        assertEq(gen.claimable(treasury, address(token)), 3e18, "the unpublished one forfeited");
        invariant_solvencyExact();
        invariant_lockedExact();
        invariant_noPublishedDuplicates();
        invariant_submissionsAccounted();

        handler.openAndReview(0, 42);
        assertEq(handler.reviewsRun(), 1, "the review ran on the market");
        handler.qualifySelf(0, 0);
        assertEq(handler.selfReviewsRefused(), 1, "a contributor refused as its batch's reviewer");
        handler.finalize(0, 8);
        assertEq(gen.getGeneration(handler.ids(0)).state.finalized, 3, "all three finalized");
        handler.refund(0);
        assertEq(handler.refunds(), 1, "refunded");
        handler.collect(1); // the requester
        invariant_solvencyExact();
        invariant_lockedExact();
        invariant_paidOnceWithinTheCap();
        invariant_noSelfReview();
    }
}
