// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {GenFixture} from "../utils/GenFixture.sol";
import {FeeOnTransferToken} from "../utils/Mocks.sol";
import {GenerationMarket} from "../../GenerationMarket.sol";
import {IGenerationMarketTypes, IReviewMarket} from "../../interfaces/IGenerationMarket.sol";

/// @notice A reward token that, while armed, calls back every state-changing function of the generation market from
///         inside its transfers and counts the calls the re-entrancy guard refused.
contract GenReentrantToken is ERC20 {
    GenerationMarket internal market;
    bool public armed;
    uint256 public attempts;
    uint256 public refused;

    constructor() ERC20("Reenter", "RE") {}

    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    function arm(GenerationMarket m) external {
        market = m;
        armed = true;
    }

    function _update(address from, address to, uint256 value) internal override {
        super._update(from, to, value);
        if (!armed || from == address(0)) return;
        armed = false;
        IGenerationMarketTypes.GenParams memory p;
        IGenerationMarketTypes.ReviewParams memory r;
        bytes[] memory calls = new bytes[](12);
        calls[0] = abi.encodeCall(market.createGeneration, (p));
        calls[1] = abi.encodeCall(market.stake, (1));
        calls[2] = abi.encodeCall(market.unstake, (1));
        calls[3] = abi.encodeCall(market.submit, (0, 0, bytes32(0)));
        calls[4] = abi.encodeCall(market.publish, (0, 0, "x", bytes32(0)));
        calls[5] = abi.encodeCall(market.publishURI, (0, 0, "u", bytes32(0), bytes32(0), bytes32(0)));
        calls[6] = abi.encodeCall(market.expireSubmission, (0, 0));
        calls[7] = abi.encodeCall(market.collect, (address(this)));
        calls[8] = abi.encodeCall(market.openReview, (0, r, "", bytes32(0), 0));
        calls[9] = abi.encodeCall(market.qualifyReviewer, (0, address(this)));
        calls[10] = abi.encodeCall(market.finalize, (0, 1));
        calls[11] = abi.encodeCall(market.refund, (0));
        for (uint256 i; i < calls.length; ++i) {
            ++attempts;
            (bool ok, bytes memory ret) = address(market).call(calls[i]);
            if (!ok && ret.length >= 4 && bytes4(ret) == bytes4(keccak256("ReentrancyGuardReentrantCall()"))) {
                ++refused;
            }
        }
        armed = true;
    }
}

/// @notice Generation batches (docs/generation.md): creation and escrow, stake, submit, publish (inline and by URI,
///         duplicates refused on the normal form), expiry of unpublished submissions, collect, and re-entrancy from a
///         token callback. The review, finalization and refund: `GenerationReview.t.sol`.
contract GenerationMarketTest is GenFixture {
    function create() internal returns (uint256 id) {
        return createGen();
    }

    // ------------------------------------------------------------------------------------------------
    // create
    // ------------------------------------------------------------------------------------------------

    function test_create_escrowsTheRewardsOfTheCapAndTheReviewBudget() public {
        uint256 before = token.balanceOf(requester);
        uint256 id = create();
        assertEq(id, 0, "first id");
        assertEq(gen.generationCount(), 1, "counted");
        IGenerationMarketTypes.Generation memory g = gen.getGeneration(id);
        assertEq(g.state.escrow, 10 * 5e18 + 20 * 3 * 0.5e18 + 10e18, "cap x reward + review budget");
        assertEq(g.config.reviewBudget, 40e18, "maxItems x replicas x review reward + gold bond");
        assertEq(before - token.balanceOf(requester), 90e18, "pulled from the requester");
        assertEq(g.config.requester, requester, "requester");
        assertEq(g.config.submitDeadline, block.timestamp + 1 days, "submit deadline");
        assertEq(g.config.publishDeadline, block.timestamp + 2 days, "publish deadline");
        assertEq(g.config.instructionsRoot, keccak256("instructions"), "instructions");
    }

    function test_create_refusesEachParameterOutOfRange() public {
        IGenerationMarketTypes.GenParams memory p;
        string[10] memory what = [
            "rewardToken",
            "cap",
            "maxItems",
            "maxContentBytes",
            "maxContentBytes",
            "rewardPerAccepted",
            "stakePerSubmission",
            "rejectPenalty",
            "unpublishedPenalty",
            "submitPeriod"
        ];
        for (uint256 i; i < what.length + 1; ++i) {
            p = params();
            if (i == 0) p.rewardToken = address(0);
            if (i == 1) p.cap = 0;
            if (i == 2) p.maxItems = p.cap - 1;
            if (i == 3) p.maxContentBytes = 0;
            if (i == 4) p.maxContentBytes = uint32(gen.MAX_CONTENT_BYTES() + 1);
            if (i == 5) p.rewardPerAccepted = 0;
            if (i == 6) p.stakePerSubmission = 0;
            if (i == 7) p.rejectPenalty = p.stakePerSubmission + 1;
            if (i == 8) p.unpublishedPenalty = p.stakePerSubmission + 1;
            if (i == 9) p.submitPeriod = 0;
            if (i == 10) p.publishPeriod = 0;
            string memory w = i < what.length ? what[i] : "publishPeriod";
            vm.expectRevert(abi.encodeWithSelector(IGenerationMarketTypes.InvalidParams.selector, w));
            vm.prank(requester);
            gen.createGeneration(p);
        }
        p = params();
        p.rewardPerAccepted = type(uint128).max;
        vm.expectRevert(
            abi.encodeWithSelector(IGenerationMarketTypes.InvalidParams.selector, "escrow overflows uint128")
        );
        vm.prank(requester);
        gen.createGeneration(p);
    }

    /// @dev Terms the market would refuse are refused at creation, so `openReview` cannot fail on them later.
    function test_create_refusesInstructionsItemsAndReviewTermsOutOfRange() public {
        string[11] memory what = [
            "instructionCount",
            "maxItems",
            "review.replicas",
            "review.thresholdBps",
            "review.maxBundle",
            "review.rewardPerLabel",
            "review.noRevealPenalty",
            "review.stakePerTask",
            "review.squatPenalty",
            "review.periods",
            "review.commitPeriod"
        ];
        for (uint256 i; i < what.length; ++i) {
            IGenerationMarketTypes.GenParams memory p = params();
            if (i == 0) p.instructionCount = 0;
            if (i == 1) p.maxItems = uint32(gen.MAX_ITEMS() + 1);
            if (i == 2) p.review.replicas = 16;
            if (i == 3) p.review.thresholdBps = 10_001;
            if (i == 4) p.review.maxBundle = 33;
            if (i == 5) p.review.rewardPerLabel = 0;
            if (i == 6) p.review.noRevealPenalty = p.review.wrongLabelPenalty;
            if (i == 7) p.review.stakePerTask = p.review.noRevealPenalty - 1;
            if (i == 8) p.review.squatPenalty = 0;
            if (i == 9) p.review.periods.revealPeriod = 0;
            if (i == 10) p.review.periods.commitPeriod = 1 hours;
            vm.expectRevert(abi.encodeWithSelector(IGenerationMarketTypes.InvalidParams.selector, what[i]));
            vm.prank(requester);
            gen.createGeneration(p);
        }
    }

    function test_create_refusesAFeeOnTransferToken() public {
        FeeOnTransferToken fee = new FeeOnTransferToken(100);
        fee.mint(requester, 1_000 * UNIT);
        vm.prank(requester);
        fee.approve(address(gen), type(uint256).max);
        IGenerationMarketTypes.GenParams memory p = params();
        p.rewardToken = address(fee);
        vm.expectRevert(abi.encodeWithSelector(IGenerationMarketTypes.TokenShortfall.selector, 90e18, 89.1e18));
        vm.prank(requester);
        gen.createGeneration(p);
    }

    function test_constructor_refusesZeroAddresses() public {
        vm.expectRevert(abi.encodeWithSelector(IGenerationMarketTypes.InvalidParams.selector, "market"));
        new GenerationMarket(IReviewMarket(address(0)));
        assertEq(address(gen.STAKE_TOKEN()), address(token), "the market's stake token");
        assertEq(gen.TREASURY(), treasury, "the market's treasury");
        assertEq(address(gen.MARKET()), address(market), "the market");
    }

    // ------------------------------------------------------------------------------------------------
    // stake
    // ------------------------------------------------------------------------------------------------

    function test_stake_unstakeOnlyWhatNoSubmissionHolds() public {
        uint256 id = create();
        submitAs(alice, id, "a question", "s");
        assertEq(gen.depositOf(alice).locked, SUB_STAKE, "one submission locked");
        vm.expectRevert(abi.encodeWithSelector(IGenerationMarketTypes.InsufficientStake.selector, 90 * UNIT, 91 * UNIT));
        vm.prank(alice);
        gen.unstake(91 * UNIT);
        uint256 before = token.balanceOf(alice);
        vm.prank(alice);
        gen.unstake(90 * UNIT);
        assertEq(token.balanceOf(alice) - before, 90 * UNIT, "unlocked part withdrawn");
        assertEq(gen.depositOf(alice).amount, SUB_STAKE, "the locked part stays");
        vm.expectRevert(IGenerationMarketTypes.ZeroAmount.selector);
        vm.prank(alice);
        gen.unstake(0);
        vm.expectRevert(IGenerationMarketTypes.ZeroAmount.selector);
        vm.prank(alice);
        gen.stake(0);
    }

    // ------------------------------------------------------------------------------------------------
    // submit
    // ------------------------------------------------------------------------------------------------

    function test_submit_locksStakeAndRecordsTheCommit() public {
        uint256 id = create();
        bytes32 ch = gen.commitHashOf(id, alice, keccak256("x"), "s");
        vm.prank(alice);
        uint256 sid = gen.submit(id, 0, ch);
        assertEq(sid, 0, "first submission");
        IGenerationMarketTypes.Submission memory s = gen.submissionOf(id, sid);
        assertEq(s.author, alice, "author");
        assertEq(uint256(s.status), uint256(IGenerationMarketTypes.SubmissionStatus.Committed), "committed");
        assertEq(s.hash, ch, "commit hash kept");
        assertEq(gen.getGeneration(id).state.submitted, 1, "counted");
        assertNotEq(ch, gen.commitHashOf(id, bob, keccak256("x"), "s"), "the hash binds the author");
    }

    function test_submit_revertsWhenClosedFullUnfundedOrUnknown() public {
        vm.expectRevert(abi.encodeWithSelector(IGenerationMarketTypes.UnknownGeneration.selector, 7));
        gen.submit(7, 0, "h");

        IGenerationMarketTypes.GenParams memory p = params();
        p.cap = 1;
        p.maxItems = 2;
        vm.prank(requester);
        uint256 id = gen.createGeneration(p);
        submitAs(alice, id, "a", "s");
        submitAs(bob, id, "b", "s");
        vm.expectRevert(abi.encodeWithSelector(IGenerationMarketTypes.GenerationFull.selector, 2));
        vm.prank(alice);
        gen.submit(id, 0, "h");

        id = create();
        address poor = address(0x9009);
        vm.expectRevert(abi.encodeWithSelector(IGenerationMarketTypes.InsufficientStake.selector, 0, SUB_STAKE));
        vm.prank(poor);
        gen.submit(id, 0, "h");

        vm.expectRevert(abi.encodeWithSelector(IGenerationMarketTypes.UnknownInstruction.selector, 3, 3));
        vm.prank(alice);
        gen.submit(id, 3, "h");

        uint256 deadline = gen.getGeneration(id).config.submitDeadline;
        vm.warp(deadline + 1);
        vm.expectRevert(abi.encodeWithSelector(IGenerationMarketTypes.SubmitClosed.selector, deadline));
        vm.prank(alice);
        gen.submit(id, 0, "h");
    }

    // ------------------------------------------------------------------------------------------------
    // publish
    // ------------------------------------------------------------------------------------------------

    function test_publish_opensTheCommitAfterTheSubmitDeadlineAndEmitsTheContent() public {
        uint256 id = create();
        bytes memory content = "What is the capital of Australia?  Canberra.";
        uint256 sid = submitAs(alice, id, content, "salt");
        uint256 opensAt = uint256(gen.getGeneration(id).config.submitDeadline) + 1;
        vm.expectRevert(abi.encodeWithSelector(IGenerationMarketTypes.PublishNotOpen.selector, opensAt));
        vm.prank(alice);
        gen.publish(id, sid, content, "salt");

        toPublish(id);
        bytes32 normal = keccak256("what is the capital of australia? canberra.");
        vm.expectEmit(address(gen));
        emit IGenerationMarketTypes.Published(id, sid, alice, 0, normal, keccak256(content), content, "");
        vm.prank(alice);
        gen.publish(id, sid, content, "salt");
        IGenerationMarketTypes.Submission memory s = gen.submissionOf(id, sid);
        assertEq(uint256(s.status), uint256(IGenerationMarketTypes.SubmissionStatus.Published), "published");
        assertEq(s.hash, normal, "normal form's hash kept");
        assertEq(gen.firstWith(id, normal), sid + 1, "first with that normal form");
        assertEq(gen.getGeneration(id).state.published, 1, "counted");
        assertEq(gen.depositOf(alice).locked, SUB_STAKE, "stake stays locked until the review");
    }

    function test_publish_refusesAnExactDuplicateUpToCaseAndWhitespace() public {
        uint256 id = create();
        uint256 first = submitAs(alice, id, "Name three primes.", "a");
        uint256 copy = submitAs(bob, id, "  name   THREE\tprimes.\n", "b");
        uint256 other = submitAs(bob, id, "Name three odd primes.", "c");
        toPublish(id);
        vm.prank(alice);
        gen.publish(id, first, "Name three primes.", "a");
        vm.expectRevert(abi.encodeWithSelector(IGenerationMarketTypes.DuplicateDatapoint.selector, copy, first));
        vm.prank(bob);
        gen.publish(id, copy, "  name   THREE\tprimes.\n", "b");
        vm.prank(bob);
        gen.publish(id, other, "Name three odd primes.", "c");
        // The same normal form in another batch is not a duplicate there.
        vm.warp(block.timestamp - 1 days);
        uint256 id2 = create();
        uint256 again = submitAs(bob, id2, "Name three primes.", "d");
        toPublish(id2);
        vm.prank(bob);
        gen.publish(id2, again, "Name three primes.", "d");
    }

    function test_publish_revertsOnWrongAuthorContentSaltStatusSizeOrWindow() public {
        uint256 id = create();
        uint256 sid = submitAs(alice, id, "fine", "s");
        uint256 blank = submitAs(alice, id, " \t\n ", "s");
        uint256 big = submitAs(alice, id, new bytes(281), "s");
        uint256 late = submitAs(alice, id, "late", "s");
        toPublish(id);
        vm.expectRevert(abi.encodeWithSelector(IGenerationMarketTypes.NotYourSubmission.selector, sid, bob));
        vm.prank(bob);
        gen.publish(id, sid, "fine", "s");
        vm.expectRevert(abi.encodeWithSelector(IGenerationMarketTypes.CommitMismatch.selector, sid));
        vm.prank(alice);
        gen.publish(id, sid, "fine!", "s");
        vm.expectRevert(abi.encodeWithSelector(IGenerationMarketTypes.CommitMismatch.selector, sid));
        vm.prank(alice);
        gen.publish(id, sid, "fine", "t");
        vm.expectRevert(abi.encodeWithSelector(IGenerationMarketTypes.EmptyContent.selector, blank));
        vm.prank(alice);
        gen.publish(id, blank, " \t\n ", "s");
        vm.expectRevert(abi.encodeWithSelector(IGenerationMarketTypes.ContentTooLarge.selector, 281, 280));
        vm.prank(alice);
        gen.publish(id, big, new bytes(281), "s");
        vm.expectRevert(abi.encodeWithSelector(IGenerationMarketTypes.UnknownSubmission.selector, id, 9));
        vm.prank(alice);
        gen.publish(id, 9, "fine", "s");
        vm.prank(alice);
        gen.publish(id, sid, "fine", "s");
        vm.expectRevert(
            abi.encodeWithSelector(
                IGenerationMarketTypes.WrongStatus.selector, sid, IGenerationMarketTypes.SubmissionStatus.Published
            )
        );
        vm.prank(alice);
        gen.publish(id, sid, "fine", "s");
        uint256 deadline = gen.getGeneration(id).config.publishDeadline;
        vm.warp(deadline + 1);
        vm.expectRevert(abi.encodeWithSelector(IGenerationMarketTypes.PublishClosed.selector, deadline));
        vm.prank(alice);
        gen.publish(id, late, "late", "s");
    }

    function test_publishURI_checksTheCommitAndRefusesAKnownNormalForm() public {
        uint256 id = create();
        bytes32 raw = keccak256("a long essay");
        bytes32 normal = keccak256("a long essay (normalized)");
        bytes32 ch = gen.commitHashOf(id, alice, raw, "s");
        vm.prank(alice);
        uint256 sid = gen.submit(id, 0, ch);
        uint256 dup = submitAs(bob, id, "a long essay (normalized)", "b");
        toPublish(id);
        vm.expectRevert(abi.encodeWithSelector(IGenerationMarketTypes.EmptyContent.selector, sid));
        vm.prank(alice);
        gen.publishURI(id, sid, "", raw, normal, "s");
        vm.expectRevert(abi.encodeWithSelector(IGenerationMarketTypes.CommitMismatch.selector, sid));
        vm.prank(alice);
        gen.publishURI(id, sid, "ipfs://essay", keccak256("other"), normal, "s");
        vm.expectEmit(address(gen));
        emit IGenerationMarketTypes.Published(id, sid, alice, 0, normal, raw, "", "ipfs://essay");
        vm.prank(alice);
        gen.publishURI(id, sid, "ipfs://essay", raw, normal, "s");
        // Inline content whose normal form was published by URI is a duplicate too.
        vm.expectRevert(abi.encodeWithSelector(IGenerationMarketTypes.DuplicateDatapoint.selector, dup, sid));
        vm.prank(bob);
        gen.publish(id, dup, "a long essay (normalized)", "b");
    }

    // ------------------------------------------------------------------------------------------------
    // expire, collect
    // ------------------------------------------------------------------------------------------------

    function test_expire_forfeitsTheUnpublishedPenaltyAndUnlocksTheRest() public {
        uint256 id = create();
        uint256 sid = submitAs(alice, id, "never shown", "s");
        uint256 pub = submitAs(bob, id, "shown", "s");
        toPublish(id);
        vm.prank(bob);
        gen.publish(id, pub, "shown", "s");
        uint256 deadline = gen.getGeneration(id).config.publishDeadline;
        vm.expectRevert(abi.encodeWithSelector(IGenerationMarketTypes.StillPublishable.selector, deadline));
        gen.expireSubmission(id, sid);
        vm.warp(deadline + 1);
        vm.expectEmit(address(gen));
        emit IGenerationMarketTypes.SubmissionExpired(id, sid, alice, 3e18);
        gen.expireSubmission(id, sid); // anyone may call
        assertEq(gen.depositOf(alice).locked, 0, "unlocked");
        assertEq(gen.depositOf(alice).amount, 100 * UNIT - 3e18, "penalty taken");
        assertEq(gen.claimable(treasury, address(token)), 3e18, "to the treasury");
        assertEq(gen.getGeneration(id).state.expired, 1, "counted");
        vm.expectRevert(
            abi.encodeWithSelector(
                IGenerationMarketTypes.WrongStatus.selector, sid, IGenerationMarketTypes.SubmissionStatus.Expired
            )
        );
        gen.expireSubmission(id, sid);
        vm.expectRevert(
            abi.encodeWithSelector(
                IGenerationMarketTypes.WrongStatus.selector, pub, IGenerationMarketTypes.SubmissionStatus.Published
            )
        );
        gen.expireSubmission(id, pub);

        uint256 before = token.balanceOf(treasury);
        vm.prank(treasury);
        assertEq(gen.collect(address(token)), 3e18, "collected");
        assertEq(token.balanceOf(treasury) - before, 3e18, "sent");
        vm.expectRevert(IGenerationMarketTypes.NothingToWithdraw.selector);
        vm.prank(treasury);
        gen.collect(address(token));
    }

    // ------------------------------------------------------------------------------------------------
    // re-entrancy
    // ------------------------------------------------------------------------------------------------

    function test_reentrancy_aTokenCallbackCannotReenterAnyFunction() public {
        GenReentrantToken bad = new GenReentrantToken();
        bad.mint(requester, 1_000 * UNIT);
        vm.prank(requester);
        bad.approve(address(gen), type(uint256).max);
        bad.arm(gen);
        IGenerationMarketTypes.GenParams memory p = params();
        p.rewardToken = address(bad);
        vm.prank(requester);
        gen.createGeneration(p);
        assertEq(bad.attempts(), 12, "every state-changing function tried");
        assertEq(bad.refused(), 12, "every one refused by the guard");
    }
}
