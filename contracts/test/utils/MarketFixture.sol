// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Base} from "./Base.sol";
import {TestMerkle} from "./TestMerkle.sol";
import {ConcordToken} from "../../ConcordToken.sol";
import {LabelMarket} from "../../LabelMarket.sol";
import {ILabelMarket} from "../../interfaces/ILabelMarket.sol";
import {Leaves} from "../../libraries/Leaves.sol";
import {LabelPacking} from "../../libraries/LabelPacking.sol";

/// @notice Shared deployment and helpers for market tests: a token, a market, a funded requester and
///         staked annotators, plus one-line helpers for each protocol step.
abstract contract MarketFixture is Base {
    using LabelPacking for uint256;

    uint256 internal constant COOLDOWN = 7 days;
    uint256 internal constant NUM_ANNOTATORS = 8;

    ConcordToken internal token;
    LabelMarket internal market;
    address internal treasury = address(0x7EA5);
    address internal requester = address(0xB0B);
    address internal reviewer = address(0xCAFE);
    address[] internal annotators;

    function setUp() public virtual {
        vm.warp(1_700_000_000);
        token = new ConcordToken(treasury);
        market = new LabelMarket(token, treasury, COOLDOWN);
        vm.prank(treasury);
        token.transfer(requester, 10_000_000 * UNIT);
        for (uint256 i; i < NUM_ANNOTATORS; ++i) {
            address a = vm.addr(0xA000 + i);
            annotators.push(a);
            vm.prank(treasury);
            token.transfer(a, 10_000 * UNIT);
            vm.prank(a);
            token.approve(address(market), type(uint256).max);
        }
        vm.prank(requester);
        token.approve(address(market), type(uint256).max);
    }

    /// @dev 12 items in tasks of 4, r = 3, 3 classes, 2/3 threshold, no gold, no qualifier.
    function defaultParams() internal view returns (ILabelMarket.BatchParams memory p) {
        p.rewardToken = address(token);
        p.reviewer = reviewer;
        p.numItems = 12;
        p.taskSize = 4;
        p.replicas = 3;
        p.numClasses = 3;
        p.thresholdBps = 6600;
        p.rewardPerLabel = 1 * UNIT;
        p.stakePerClaim = 20 * UNIT;
        p.wrongLabelPenalty = 2 * UNIT;
        p.noRevealPenalty = 10 * UNIT;
        p.minStake = 50 * UNIT;
        p.minReputation = -100;
        p.commitPeriod = 1 days;
        p.revealPeriod = 1 days;
        p.reviewPeriod = 1 days;
        p.claimTimeout = 1 hours;
        p.manifestRoot = keccak256("manifest");
        p.manifestURI = "ipfs://manifest";
    }

    function createBatch(ILabelMarket.BatchParams memory p) internal returns (uint256 batchId) {
        vm.prank(requester);
        batchId = market.createBatch(p);
    }

    function stakeAs(address a, uint256 amount) internal {
        vm.prank(a);
        market.stake(amount);
    }

    function stakeAll(uint256 amount) internal {
        for (uint256 i; i < annotators.length; ++i) {
            stakeAs(annotators[i], amount);
        }
    }

    function claimAs(address a, uint256 batchId) internal returns (uint256 taskId) {
        vm.prank(a);
        taskId = market.claim(batchId);
    }

    function saltOf(address a, uint256 batchId, uint256 taskId) internal pure returns (bytes32) {
        return keccak256(abi.encode("salt", a, batchId, taskId));
    }

    function commitAs(address a, uint256 batchId, uint256 taskId, uint256 labels) internal {
        bytes32 h = market.commitHashOf(batchId, taskId, a, labels, saltOf(a, batchId, taskId));
        vm.prank(a);
        market.commit(batchId, taskId, h, "");
    }

    function revealAs(address a, uint256 batchId, uint256 taskId, uint256 labels) internal {
        vm.prank(a);
        market.reveal(batchId, taskId, labels, saltOf(a, batchId, taskId));
    }

    /// @dev Packs the same label for `n` items.
    function uniform(uint256 label, uint256 n) internal pure returns (uint256 labels) {
        for (uint256 i; i < n; ++i) {
            labels = labels.set(i, label);
        }
    }

    /// @dev Gold leaves for `items` with `labels`, salts derived from the item; the gold root is
    ///      `TestMerkle.root(goldLeaves(items, labels))`.
    function goldLeaves(uint256[] memory items, uint256[] memory labels) internal pure returns (bytes32[] memory leaves) {
        leaves = new bytes32[](items.length);
        for (uint256 i; i < items.length; ++i) {
            leaves[i] = Leaves.goldLeaf(items[i], labels[i], keccak256(abi.encode("gold", items[i])));
        }
    }

    /// @dev The answers `goldLeaves(items, labels)` commits to, each with its proof against that root.
    function goldAnswers(uint256[] memory items, uint256[] memory labels)
        internal
        pure
        returns (ILabelMarket.GoldAnswer[] memory answers)
    {
        bytes32[] memory leaves = goldLeaves(items, labels);
        answers = new ILabelMarket.GoldAnswer[](items.length);
        for (uint256 i; i < items.length; ++i) {
            answers[i] = ILabelMarket.GoldAnswer({
                item: uint32(items[i]),
                label: uint8(labels[i]),
                salt: keccak256(abi.encode("gold", items[i])),
                proof: TestMerkle.proof(leaves, i)
            });
        }
    }
}
