// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {V2Fixture} from "./V2Fixture.sol";
import {GenerationMarket} from "../../GenerationMarket.sol";
import {IGenerationMarketTypes, IReviewMarket} from "../../interfaces/IGenerationMarket.sol";

/// @notice The v2 market of `V2Fixture` with a generation market on it: the requester funded for both, two
///         contributors (alice, bob) staked in the generation market, and one-line generation steps.
abstract contract GenFixture is V2Fixture {
    GenerationMarket internal gen;
    address internal alice = address(0xA11CE);
    address internal bob = address(0xB0B0);

    /// @dev Stake locked per submission.
    uint96 internal constant SUB_STAKE = 10e18;

    function setUp() public virtual override {
        super.setUp();
        gen = new GenerationMarket(IReviewMarket(address(market)));
        vm.prank(requester);
        token.approve(address(gen), type(uint256).max);
        address[2] memory who = [alice, bob];
        for (uint256 i; i < who.length; ++i) {
            fund(who[i], address(gen));
            vm.prank(who[i]);
            gen.stake(100 * UNIT);
        }
    }

    /// @dev Review terms: r = 3, a 2/3 majority, bundles of up to 8, 0.5 per agreeing review, a gold bond of 10.
    function reviewParams() internal pure returns (IGenerationMarketTypes.ReviewParams memory r) {
        r.replicas = 3;
        r.thresholdBps = 6600;
        r.maxBundle = 8;
        r.rewardPerLabel = 0.5e18;
        r.stakePerTask = 20e18;
        r.wrongLabelPenalty = 2e18;
        r.noRevealPenalty = 10e18;
        r.squatPenalty = 5e18;
        r.minStake = 50e18;
        r.minReputation = -100;
        r.goldBond = 10e18;
        r.periods.commitPeriod = 1 days;
        r.periods.revealPeriod = 1 days;
        r.periods.reviewPeriod = 0;
        r.periods.roundPeriod = 1 hours;
        r.periods.commitWindow = 2 hours;
    }

    /// @dev Cap 10 of at most 20 submissions, 5 per accepted datapoint: escrow 10 x 5 + (20 x 3 x 0.5 + 10) = 90.
    function params() internal view returns (IGenerationMarketTypes.GenParams memory p) {
        p.rewardToken = address(token);
        p.cap = 10;
        p.maxItems = 20;
        p.maxContentBytes = 280;
        p.instructionCount = 3;
        p.rewardPerAccepted = 5e18;
        p.stakePerSubmission = SUB_STAKE;
        p.rejectPenalty = 4e18;
        p.unpublishedPenalty = 3e18;
        p.submitPeriod = 1 days;
        p.publishPeriod = 1 days;
        p.instructionsRoot = keccak256("instructions");
        p.instructionsURI = "ipfs://instructions";
        p.review = reviewParams();
    }

    function createGen() internal returns (uint256 id) {
        vm.prank(requester);
        id = gen.createGeneration(params());
    }

    function submitAs(address who, uint256 id, bytes memory content, bytes32 salt) internal returns (uint256 sid) {
        bytes32 ch = gen.commitHashOf(id, who, keccak256(content), salt);
        vm.prank(who);
        sid = gen.submit(id, 0, ch);
    }

    function toPublish(uint256 id) internal {
        vm.warp(uint256(gen.getGeneration(id).config.submitDeadline) + 1);
    }

    function toReview(uint256 id) internal {
        vm.warp(uint256(gen.getGeneration(id).config.publishDeadline) + 1);
    }
}
