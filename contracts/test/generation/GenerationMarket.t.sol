// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {Base} from "../utils/Base.sol";
import {FeeOnTransferToken} from "../utils/Mocks.sol";
import {ConcordToken} from "../../ConcordToken.sol";
import {GenerationMarket} from "../../GenerationMarket.sol";
import {IGenerationMarketTypes} from "../../interfaces/IGenerationMarket.sol";

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
        bytes[] memory calls = new bytes[](8);
        calls[0] = abi.encodeCall(market.createGeneration, (p));
        calls[1] = abi.encodeCall(market.stake, (1));
        calls[2] = abi.encodeCall(market.unstake, (1));
        calls[3] = abi.encodeCall(market.submit, (0, bytes32(0)));
        calls[4] = abi.encodeCall(market.publish, (0, 0, "x", bytes32(0)));
        calls[5] = abi.encodeCall(market.publishURI, (0, 0, "u", bytes32(0), bytes32(0), bytes32(0)));
        calls[6] = abi.encodeCall(market.expireSubmission, (0, 0));
        calls[7] = abi.encodeCall(market.collect, (address(this)));
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

/// @notice Generation batches, first part (docs/generation.md): creation and escrow, stake, submit, publish (inline
///         and by URI, duplicates refused on the normal form), expiry of unpublished submissions, collect, and
///         re-entrancy from a token callback.
contract GenerationMarketTest is Base {
    ConcordToken internal token;
    GenerationMarket internal gen;
    address internal treasury = address(0x7EA5);
    address internal requester = address(0xB0B);
    address internal alice = address(0xA11CE);
    address internal bob = address(0xB0B0);

    uint96 internal constant STAKE = 10e18;

    function setUp() public {
        vm.warp(1_700_000_000);
        token = new ConcordToken(treasury);
        gen = new GenerationMarket(token, treasury);
        address[3] memory who = [requester, alice, bob];
        for (uint256 i; i < who.length; ++i) {
            vm.prank(treasury);
            require(token.transfer(who[i], 10_000 * UNIT));
            vm.prank(who[i]);
            token.approve(address(gen), type(uint256).max);
        }
        vm.prank(alice);
        gen.stake(100 * UNIT);
        vm.prank(bob);
        gen.stake(100 * UNIT);
    }

    function params() internal view returns (IGenerationMarketTypes.GenParams memory p) {
        p.rewardToken = address(token);
        p.cap = 10;
        p.maxItems = 20;
        p.maxContentBytes = 280;
        p.rewardPerAccepted = 5e18;
        p.reviewBudget = 30e18;
        p.stakePerSubmission = STAKE;
        p.rejectPenalty = 4e18;
        p.unpublishedPenalty = 3e18;
        p.submitPeriod = 1 days;
        p.publishPeriod = 1 days;
        p.instructionsRoot = keccak256("instructions");
        p.instructionsURI = "ipfs://instructions";
    }

    function create() internal returns (uint256 id) {
        vm.prank(requester);
        id = gen.createGeneration(params());
    }

    function submitAs(address who, uint256 id, bytes memory content, bytes32 salt) internal returns (uint256 sid) {
        bytes32 ch = gen.commitHashOf(id, who, keccak256(content), salt);
        vm.prank(who);
        sid = gen.submit(id, ch);
    }

    function toPublish(uint256 id) internal {
        vm.warp(uint256(gen.getGeneration(id).config.submitDeadline) + 1);
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
        assertEq(g.state.escrow, 10 * 5e18 + 30e18, "cap x reward + review budget");
        assertEq(before - token.balanceOf(requester), 80e18, "pulled from the requester");
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

    function test_create_refusesAFeeOnTransferToken() public {
        FeeOnTransferToken fee = new FeeOnTransferToken(100);
        fee.mint(requester, 1_000 * UNIT);
        vm.prank(requester);
        fee.approve(address(gen), type(uint256).max);
        IGenerationMarketTypes.GenParams memory p = params();
        p.rewardToken = address(fee);
        vm.expectRevert(abi.encodeWithSelector(IGenerationMarketTypes.TokenShortfall.selector, 80e18, 79.2e18));
        vm.prank(requester);
        gen.createGeneration(p);
    }

    function test_constructor_refusesZeroAddresses() public {
        vm.expectRevert(abi.encodeWithSelector(IGenerationMarketTypes.InvalidParams.selector, "stakeToken"));
        new GenerationMarket(ConcordToken(address(0)), treasury);
        vm.expectRevert(abi.encodeWithSelector(IGenerationMarketTypes.InvalidParams.selector, "treasury"));
        new GenerationMarket(token, address(0));
    }

    // ------------------------------------------------------------------------------------------------
    // stake
    // ------------------------------------------------------------------------------------------------

    function test_stake_unstakeOnlyWhatNoSubmissionHolds() public {
        uint256 id = create();
        submitAs(alice, id, "a question", "s");
        assertEq(gen.depositOf(alice).locked, STAKE, "one submission locked");
        vm.expectRevert(abi.encodeWithSelector(IGenerationMarketTypes.InsufficientStake.selector, 90 * UNIT, 91 * UNIT));
        vm.prank(alice);
        gen.unstake(91 * UNIT);
        uint256 before = token.balanceOf(alice);
        vm.prank(alice);
        gen.unstake(90 * UNIT);
        assertEq(token.balanceOf(alice) - before, 90 * UNIT, "unlocked part withdrawn");
        assertEq(gen.depositOf(alice).amount, STAKE, "the locked part stays");
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
        uint256 sid = gen.submit(id, ch);
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
        gen.submit(7, "h");

        IGenerationMarketTypes.GenParams memory p = params();
        p.cap = 1;
        p.maxItems = 2;
        vm.prank(requester);
        uint256 id = gen.createGeneration(p);
        submitAs(alice, id, "a", "s");
        submitAs(bob, id, "b", "s");
        vm.expectRevert(abi.encodeWithSelector(IGenerationMarketTypes.GenerationFull.selector, 2));
        vm.prank(alice);
        gen.submit(id, "h");

        id = create();
        address poor = address(0x9009);
        vm.expectRevert(abi.encodeWithSelector(IGenerationMarketTypes.InsufficientStake.selector, 0, STAKE));
        vm.prank(poor);
        gen.submit(id, "h");

        uint256 deadline = gen.getGeneration(id).config.submitDeadline;
        vm.warp(deadline + 1);
        vm.expectRevert(abi.encodeWithSelector(IGenerationMarketTypes.SubmitClosed.selector, deadline));
        vm.prank(alice);
        gen.submit(id, "h");
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
        emit IGenerationMarketTypes.Published(id, sid, alice, normal, keccak256(content), content, "");
        vm.prank(alice);
        gen.publish(id, sid, content, "salt");
        IGenerationMarketTypes.Submission memory s = gen.submissionOf(id, sid);
        assertEq(uint256(s.status), uint256(IGenerationMarketTypes.SubmissionStatus.Published), "published");
        assertEq(s.hash, normal, "normal form's hash kept");
        assertEq(gen.firstWith(id, normal), sid + 1, "first with that normal form");
        assertEq(gen.getGeneration(id).state.published, 1, "counted");
        assertEq(gen.depositOf(alice).locked, STAKE, "stake stays locked until the review");
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
        uint256 sid = gen.submit(id, ch);
        uint256 dup = submitAs(bob, id, "a long essay (normalized)", "b");
        toPublish(id);
        vm.expectRevert(abi.encodeWithSelector(IGenerationMarketTypes.EmptyContent.selector, sid));
        vm.prank(alice);
        gen.publishURI(id, sid, "", raw, normal, "s");
        vm.expectRevert(abi.encodeWithSelector(IGenerationMarketTypes.CommitMismatch.selector, sid));
        vm.prank(alice);
        gen.publishURI(id, sid, "ipfs://essay", keccak256("other"), normal, "s");
        vm.expectEmit(address(gen));
        emit IGenerationMarketTypes.Published(id, sid, alice, normal, raw, "", "ipfs://essay");
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
        assertEq(bad.attempts(), 8, "every external function tried");
        assertEq(bad.refused(), 8, "every one refused by the guard");
    }
}
