// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Errors} from "@openzeppelin/contracts/interfaces/draft-IERC6093.sol";
import {MarketTest} from "./utils/MarketTest.sol";
import {TestMerkle} from "./utils/TestMerkle.sol";
import {MockERC20, FeeOnTransferToken} from "./utils/Mocks.sol";
import {LabelMarket} from "../LabelMarket.sol";
import {ILabelMarket} from "../interfaces/ILabelMarket.sol";
import {Leaves} from "../libraries/Leaves.sol";

/// @notice Constructor, createBatch, createBatchWithPermit (every InvalidParams reason, TokenShortfall) and the
///         batch views (getBatch, itemsInTask, openTaskCount, verifyItem, domainSeparator, commitHashOf).
contract LabelMarketCreateTest is MarketTest {
    // ------------------------------------------------------------------------------------------------
    // constructor
    // ------------------------------------------------------------------------------------------------

    function test_constructor_setsImmutablesAndConstants() public view {
        assertEq(address(market.STAKE_TOKEN()), address(token), "stake token");
        assertEq(market.TREASURY(), treasury, "treasury");
        assertEq(market.UNSTAKE_COOLDOWN(), COOLDOWN, "cooldown");
        assertEq(market.batchCount(), 0, "no batch yet");
        assertEq(market.MAX_TASK_SIZE(), 32, "max task size");
        assertEq(market.MAX_REPLICAS(), 15, "max replicas");
        assertEq(market.MAX_CLASSES(), 16, "max classes");
        assertEq(market.MAX_PROBES(), 16, "max probes");
        assertEq(market.GOLD_WEIGHT(), int256(3), "gold weight");
        assertEq(market.NO_REVEAL_WEIGHT(), int256(10), "no-reveal weight");
        assertEq(market.QUALIFICATION_TYPEHASH(), QUALIFICATION_TYPEHASH, "qualification typehash");
    }

    function test_constructor_revertsInvalidParams_stakeToken() public {
        vm.expectRevert(abi.encodeWithSelector(ILabelMarket.InvalidParams.selector, "stakeToken"));
        new LabelMarket(IERC20(address(0)), treasury, COOLDOWN);
    }

    function test_constructor_revertsInvalidParams_treasury() public {
        vm.expectRevert(abi.encodeWithSelector(ILabelMarket.InvalidParams.selector, "treasury"));
        new LabelMarket(token, address(0), COOLDOWN);
    }

    // ------------------------------------------------------------------------------------------------
    // createBatch: success
    // ------------------------------------------------------------------------------------------------

    function test_createBatch_escrowsFullBudgetAndStoresEverything() public {
        ILabelMarket.BatchParams memory p = defaultParams();
        p.numItems = 10; // tasks of 4: 4 + 4 + 2
        p.qualifier = address(0x9A1);
        p.goldRoot = keccak256("gold");
        p.goldCount = 2;
        uint256 escrow = 10 * 3 * UNIT;
        uint256 reqBefore = token.balanceOf(requester);
        uint256 mktBefore = token.balanceOf(address(market));

        uint256 id = createBatch(p);

        assertEq(id, 0, "first id");
        assertEq(market.batchCount(), 1, "batch count");
        assertEq(reqBefore - token.balanceOf(requester), escrow, "requester paid N*r*reward");
        assertEq(token.balanceOf(address(market)) - mktBefore, escrow, "market holds escrow");

        ILabelMarket.Batch memory b = market.getBatch(id);
        assertEq(b.config.requester, requester, "requester");
        assertEq(b.config.commitDeadline, vm.getBlockTimestamp() + 1 days, "commit deadline");
        assertEq(b.config.revealDeadline, vm.getBlockTimestamp() + 2 days, "reveal deadline");
        assertEq(b.config.reviewDeadline, vm.getBlockTimestamp() + 3 days, "review deadline");
        assertEq(b.config.rewardToken, address(token), "reward token");
        assertEq(b.config.claimTimeout, 1 hours, "claim timeout");
        assertFalse(b.state.refunded, "not refunded");
        assertEq(b.config.reviewer, reviewer, "reviewer");
        assertEq(b.config.numItems, 10, "items");
        assertEq(b.config.taskSize, 4, "task size");
        assertEq(b.config.replicas, 3, "replicas");
        assertEq(b.config.numClasses, 3, "classes");
        assertEq(b.config.thresholdBps, 6600, "threshold");
        assertEq(b.config.qualifier, address(0x9A1), "qualifier");
        assertEq(b.config.numTasks, 3, "ceil(10/4) tasks");
        assertEq(b.state.tasksSettled, 0, "none settled");
        assertEq(b.config.goldCount, 2, "gold count");
        assertEq(b.config.rewardPerLabel, UNIT, "reward");
        assertEq(b.config.stakePerClaim, 20 * UNIT, "stake per claim");
        assertEq(b.config.wrongLabelPenalty, 2 * UNIT, "wrong penalty");
        assertEq(b.config.noRevealPenalty, 10 * UNIT, "no-reveal penalty");
        assertEq(b.config.minStake, 50 * UNIT, "min stake");
        assertEq(int256(b.config.minReputation), int256(-100), "min reputation");
        assertEq(b.state.goldRevealed, 0, "no gold revealed");
        assertEq(b.state.escrow, escrow, "escrow");
        assertEq(b.state.paid, 0, "nothing paid");
        assertEq(b.config.manifestRoot, keccak256("manifest"), "manifest root");
        assertEq(b.config.goldRoot, keccak256("gold"), "gold root");

        assertEq(market.openTaskCount(id), 3, "all tasks open");
        assertEq(market.itemsInTask(id, 0), 4, "task 0 items");
        assertEq(market.itemsInTask(id, 1), 4, "task 1 items");
        assertEq(market.itemsInTask(id, 2), 2, "last task shorter");
    }

    function test_createBatch_emitsBatchCreated() public {
        ILabelMarket.BatchParams memory p = defaultParams();
        vm.expectEmit(address(market));
        emit ILabelMarket.BatchCreated(0, requester, address(token), p, escrowOf(p));
        createBatch(p);
    }

    function test_createBatch_idsIncrement() public {
        assertEq(createBatch(defaultParams()), 0, "id 0");
        assertEq(createBatch(defaultParams()), 1, "id 1");
        assertEq(createBatch(oneTaskParams()), 2, "id 2");
        assertEq(market.batchCount(), 3, "count");
        assertEq(market.getBatch(2).config.numTasks, 1, "third batch has one task");
    }

    function test_createBatch_inAnotherRewardToken() public {
        MockERC20 usd = fundedUsd(6, 1_000e6);
        ILabelMarket.BatchParams memory p = defaultParams();
        p.rewardToken = address(usd);
        p.rewardPerLabel = 5e5; // 0.5 USD
        uint256 id = createBatch(p);
        assertEq(usd.balanceOf(address(market)), 12 * 3 * 5e5, "escrow in USD");
        assertEq(usd.balanceOf(requester), 1_000e6 - 18e6, "requester debited");
        assertEq(market.getBatch(id).config.rewardToken, address(usd), "token stored");
        assertEq(token.balanceOf(address(market)), 0, "no protocol token moved");
    }

    function test_createBatch_acceptsExtremeValidParams() public {
        ILabelMarket.BatchParams memory p = defaultParams();
        p.numItems = 64;
        p.taskSize = 32;
        p.replicas = 15;
        p.numClasses = 16;
        p.thresholdBps = 10_000;
        p.wrongLabelPenalty = 1;
        p.noRevealPenalty = 33; // > 1 * 32
        p.stakePerClaim = 33; // == noRevealPenalty
        p.goldRoot = keccak256("g");
        p.goldCount = 64; // == numItems
        uint256 id = createBatch(p);
        assertEq(market.getBatch(id).config.numTasks, 2, "two tasks of 32");
        assertEq(market.getBatch(id).state.escrow, 64 * 15 * UNIT, "escrow");
    }

    function test_createBatch_revertsWithoutAllowance() public {
        address poor = address(0xD00D);
        vm.prank(treasury);
        assertTrue(token.transfer(poor, 1_000 * UNIT), "transfer");
        ILabelMarket.BatchParams memory p = defaultParams();
        vm.prank(poor);
        vm.expectRevert(
            abi.encodeWithSelector(IERC20Errors.ERC20InsufficientAllowance.selector, address(market), 0, escrowOf(p))
        );
        market.createBatch(p);
        assertEq(market.batchCount(), 0, "no batch created");
    }

    function test_createBatch_revertsTokenShortfall_feeOnTransfer() public {
        FeeOnTransferToken fot = new FeeOnTransferToken(100); // 1 %
        fot.mint(requester, 1_000 * UNIT);
        vm.prank(requester);
        fot.approve(address(market), type(uint256).max);
        ILabelMarket.BatchParams memory p = defaultParams();
        p.rewardToken = address(fot);
        uint256 escrow = escrowOf(p);
        vm.prank(requester);
        vm.expectRevert(abi.encodeWithSelector(ILabelMarket.TokenShortfall.selector, escrow, escrow * 99 / 100));
        market.createBatch(p);
        assertEq(market.batchCount(), 0, "nothing created");
        assertEq(fot.balanceOf(address(market)), 0, "nothing kept");
        assertEq(fot.balanceOf(requester), 1_000 * UNIT, "requester untouched (whole tx reverted)");
    }

    // ------------------------------------------------------------------------------------------------
    // createBatch: InvalidParams, one test per reason
    // ------------------------------------------------------------------------------------------------

    function _expectInvalid(ILabelMarket.BatchParams memory p, string memory reason) internal {
        vm.prank(requester);
        vm.expectRevert(abi.encodeWithSelector(ILabelMarket.InvalidParams.selector, reason));
        market.createBatch(p);
    }

    function test_createBatch_revertsInvalidParams_rewardToken() public {
        ILabelMarket.BatchParams memory p = defaultParams();
        p.rewardToken = address(0);
        _expectInvalid(p, "rewardToken");
    }

    function test_createBatch_revertsInvalidParams_numItems() public {
        ILabelMarket.BatchParams memory p = defaultParams();
        p.numItems = 0;
        _expectInvalid(p, "numItems");
    }

    function test_createBatch_revertsInvalidParams_taskSizeZero() public {
        ILabelMarket.BatchParams memory p = defaultParams();
        p.taskSize = 0;
        _expectInvalid(p, "taskSize");
    }

    function test_createBatch_revertsInvalidParams_taskSizeAboveMax() public {
        ILabelMarket.BatchParams memory p = defaultParams();
        p.taskSize = 33;
        p.wrongLabelPenalty = 0; // keep the penalty rule satisfied: the task size must be what fails
        _expectInvalid(p, "taskSize");
    }

    function test_createBatch_revertsInvalidParams_replicasBelowTwo() public {
        ILabelMarket.BatchParams memory p = defaultParams();
        p.replicas = 1;
        _expectInvalid(p, "replicas");
    }

    function test_createBatch_revertsInvalidParams_replicasAboveMax() public {
        ILabelMarket.BatchParams memory p = defaultParams();
        p.replicas = 16;
        _expectInvalid(p, "replicas");
    }

    function test_createBatch_revertsInvalidParams_numClassesBelowTwo() public {
        ILabelMarket.BatchParams memory p = defaultParams();
        p.numClasses = 1;
        _expectInvalid(p, "numClasses");
    }

    function test_createBatch_revertsInvalidParams_numClassesAboveMax() public {
        ILabelMarket.BatchParams memory p = defaultParams();
        p.numClasses = 17;
        _expectInvalid(p, "numClasses");
    }

    function test_createBatch_revertsInvalidParams_thresholdZero() public {
        ILabelMarket.BatchParams memory p = defaultParams();
        p.thresholdBps = 0;
        _expectInvalid(p, "thresholdBps");
    }

    function test_createBatch_revertsInvalidParams_thresholdAbove100Percent() public {
        ILabelMarket.BatchParams memory p = defaultParams();
        p.thresholdBps = 10_001;
        _expectInvalid(p, "thresholdBps");
    }

    function test_createBatch_revertsInvalidParams_rewardPerLabel() public {
        ILabelMarket.BatchParams memory p = defaultParams();
        p.rewardPerLabel = 0;
        _expectInvalid(p, "rewardPerLabel");
    }

    function test_createBatch_revertsInvalidParams_noRevealPenaltyNotAboveTaskWrong() public {
        ILabelMarket.BatchParams memory p = defaultParams();
        p.noRevealPenalty = 8 * UNIT; // == taskSize 4 * wrong 2: must be strictly larger
        _expectInvalid(p, "noRevealPenalty");
    }

    function test_createBatch_revertsInvalidParams_stakePerClaimBelowNoRevealPenalty() public {
        ILabelMarket.BatchParams memory p = defaultParams();
        p.stakePerClaim = 10 * UNIT - 1;
        _expectInvalid(p, "stakePerClaim");
    }

    function test_createBatch_revertsInvalidParams_commitPeriod() public {
        ILabelMarket.BatchParams memory p = defaultParams();
        p.commitPeriod = 0;
        _expectInvalid(p, "commitPeriod");
    }

    function test_createBatch_revertsInvalidParams_revealPeriod() public {
        ILabelMarket.BatchParams memory p = defaultParams();
        p.revealPeriod = 0;
        _expectInvalid(p, "revealPeriod");
    }

    function test_createBatch_revertsInvalidParams_claimTimeout() public {
        ILabelMarket.BatchParams memory p = defaultParams();
        p.claimTimeout = 0;
        _expectInvalid(p, "claimTimeout");
    }

    function test_createBatch_revertsInvalidParams_manifestRoot() public {
        ILabelMarket.BatchParams memory p = defaultParams();
        p.manifestRoot = bytes32(0);
        _expectInvalid(p, "manifestRoot");
    }

    function test_createBatch_revertsInvalidParams_goldRootWithoutCount() public {
        ILabelMarket.BatchParams memory p = defaultParams();
        p.goldRoot = keccak256("gold");
        _expectInvalid(p, "goldCount");
    }

    function test_createBatch_revertsInvalidParams_goldCountWithoutRoot() public {
        ILabelMarket.BatchParams memory p = defaultParams();
        p.goldCount = 1;
        _expectInvalid(p, "goldCount");
    }

    function test_createBatch_revertsInvalidParams_goldCountAboveItems() public {
        ILabelMarket.BatchParams memory p = defaultParams();
        p.goldRoot = keccak256("gold");
        p.goldCount = 13;
        _expectInvalid(p, "goldCount");
    }

    function test_createBatch_revertsInvalidParams_escrowOverflowsUint128() public {
        ILabelMarket.BatchParams memory p = defaultParams();
        p.numItems = 1;
        p.replicas = 2;
        p.rewardPerLabel = uint128(1) << 127; // 1 * 2 * 2^127 = 2^128
        _expectInvalid(p, "escrow overflows uint128");
    }

    // ------------------------------------------------------------------------------------------------
    // createBatchWithPermit
    // ------------------------------------------------------------------------------------------------

    uint256 internal constant PERMIT_PK = 0x5EC12E7;

    function _permitRequester() internal returns (address owner) {
        owner = vm.addr(PERMIT_PK);
        vm.prank(treasury);
        assertTrue(token.transfer(owner, 1_000 * UNIT), "transfer");
    }

    function test_createBatchWithPermit_realPermitEscrowsWithoutApprove() public {
        address owner = _permitRequester();
        ILabelMarket.BatchParams memory p = defaultParams();
        uint256 escrow = escrowOf(p);
        uint256 deadline = vm.getBlockTimestamp() + 1 hours;
        (uint8 v, bytes32 r, bytes32 s) =
            signPermit(PERMIT_PK, token.DOMAIN_SEPARATOR(), address(market), escrow, token.nonces(owner), deadline);
        assertEq(token.allowance(owner, address(market)), 0, "no approval beforehand");

        vm.expectEmit(address(market));
        emit ILabelMarket.BatchCreated(0, owner, address(token), p, escrow);
        vm.prank(owner);
        uint256 id = market.createBatchWithPermit(p, deadline, v, r, s);

        assertEq(id, 0, "id");
        assertEq(token.nonces(owner), 1, "permit consumed");
        assertEq(token.allowance(owner, address(market)), 0, "allowance spent exactly");
        assertEq(token.balanceOf(owner), 1_000 * UNIT - escrow, "owner paid escrow");
        assertEq(token.balanceOf(address(market)), escrow, "market holds escrow");
        assertEq(market.getBatch(id).config.requester, owner, "permit signer is the requester");
    }

    function test_createBatchWithPermit_frontRunPermitStillCreates() public {
        address owner = _permitRequester();
        ILabelMarket.BatchParams memory p = defaultParams();
        uint256 escrow = escrowOf(p);
        uint256 deadline = vm.getBlockTimestamp() + 1 hours;
        (uint8 v, bytes32 r, bytes32 s) =
            signPermit(PERMIT_PK, token.DOMAIN_SEPARATOR(), address(market), escrow, 0, deadline);
        // A griefer submits the permit first: the signature is now spent, the allowance is in place.
        vm.prank(address(0xBAD));
        token.permit(owner, address(market), escrow, deadline, v, r, s);

        vm.prank(owner);
        uint256 id = market.createBatchWithPermit(p, deadline, v, r, s);
        assertEq(market.getBatch(id).state.escrow, escrow, "created despite the spent permit");
        assertEq(token.balanceOf(address(market)), escrow, "escrow pulled");
    }

    function test_createBatchWithPermit_badSignatureWithoutAllowanceReverts() public {
        address owner = _permitRequester();
        ILabelMarket.BatchParams memory p = defaultParams();
        uint256 escrow = escrowOf(p);
        uint256 deadline = vm.getBlockTimestamp() + 1 hours;
        // Signed by the wrong key: the permit fails silently, then the transfer lacks allowance.
        (uint8 v, bytes32 r, bytes32 s) =
            signPermit(PERMIT_PK + 1, token.DOMAIN_SEPARATOR(), address(market), escrow, 0, deadline);
        vm.prank(owner);
        vm.expectRevert(
            abi.encodeWithSelector(IERC20Errors.ERC20InsufficientAllowance.selector, address(market), 0, escrow)
        );
        market.createBatchWithPermit(p, deadline, v, r, s);
        assertEq(token.nonces(owner), 0, "permit not consumed");
    }

    function test_createBatchWithPermit_permitForLessThanEscrowReverts() public {
        address owner = _permitRequester();
        ILabelMarket.BatchParams memory p = defaultParams();
        uint256 escrow = escrowOf(p);
        uint256 deadline = vm.getBlockTimestamp() + 1 hours;
        (uint8 v, bytes32 r, bytes32 s) =
            signPermit(PERMIT_PK, token.DOMAIN_SEPARATOR(), address(market), escrow - 1, 0, deadline);
        vm.prank(owner);
        vm.expectRevert(
            abi.encodeWithSelector(IERC20Errors.ERC20InsufficientAllowance.selector, address(market), 0, escrow)
        );
        market.createBatchWithPermit(p, deadline, v, r, s);
    }

    function test_createBatchWithPermit_revertsInvalidParams() public {
        address owner = _permitRequester();
        ILabelMarket.BatchParams memory p = defaultParams();
        p.replicas = 1;
        vm.prank(owner);
        vm.expectRevert(abi.encodeWithSelector(ILabelMarket.InvalidParams.selector, "replicas"));
        market.createBatchWithPermit(p, vm.getBlockTimestamp(), 27, bytes32(0), bytes32(0));
    }

    // ------------------------------------------------------------------------------------------------
    // Views
    // ------------------------------------------------------------------------------------------------

    function test_getBatch_revertsUnknownBatch() public {
        createBatch(defaultParams());
        vm.expectRevert(abi.encodeWithSelector(ILabelMarket.UnknownBatch.selector, 1));
        market.getBatch(1);
    }

    function test_itemsInTask_revertsUnknownTask() public {
        uint256 id = createBatch(defaultParams());
        vm.expectRevert(abi.encodeWithSelector(ILabelMarket.UnknownTask.selector, id, 3));
        market.itemsInTask(id, 3);
    }

    function test_itemsInTask_revertsUnknownBatch() public {
        vm.expectRevert(abi.encodeWithSelector(ILabelMarket.UnknownBatch.selector, 0));
        market.itemsInTask(0, 0);
    }

    function test_verifyItem_checksManifestProofs() public {
        bytes32[] memory leaves = new bytes32[](5);
        string[5] memory uris = ["ipfs://a", "ipfs://b", "ipfs://c", "ipfs://d", "ipfs://e"];
        for (uint256 i; i < 5; ++i) {
            leaves[i] = Leaves.manifestLeaf(i, keccak256(bytes(uris[i])), uris[i]);
        }
        ILabelMarket.BatchParams memory p = defaultParams();
        p.manifestRoot = TestMerkle.root(leaves);
        p.numItems = 5;
        uint256 id = createBatch(p);
        for (uint256 i; i < 5; ++i) {
            bytes32[] memory proof = TestMerkle.proof(leaves, i);
            assertTrue(market.verifyItem(id, i, keccak256(bytes(uris[i])), uris[i], proof), "item in manifest");
            assertFalse(market.verifyItem(id, i + 1, keccak256(bytes(uris[i])), uris[i], proof), "wrong index");
            assertFalse(market.verifyItem(id, i, keccak256("tampered"), uris[i], proof), "wrong content");
            assertFalse(market.verifyItem(id, i, keccak256(bytes(uris[i])), "ipfs://evil", proof), "wrong uri");
        }
        vm.expectRevert(abi.encodeWithSelector(ILabelMarket.UnknownBatch.selector, 1));
        market.verifyItem(1, 0, bytes32(0), "", new bytes32[](0));
    }

    function test_domainSeparator_isEip712OfMarket() public view {
        bytes32 expected = keccak256(
            abi.encode(
                EIP712_DOMAIN_TYPEHASH,
                keccak256("Concord LabelMarket"),
                keccak256("1"),
                block.chainid,
                address(market)
            )
        );
        assertEq(market.domainSeparator(), expected, "domain separator");
    }

    function test_commitHashOf_bindsChainMarketBatchTaskAnnotatorLabelsSalt() public {
        address a = ann(0);
        bytes32 salt = keccak256("s");
        bytes32 h = market.commitHashOf(1, 2, a, 0x21, salt);
        assertEq(h, keccak256(abi.encode(block.chainid, address(market), 1, 2, a, 0x21, salt)), "encoding");
        assertTrue(h != market.commitHashOf(0, 2, a, 0x21, salt), "batch bound");
        assertTrue(h != market.commitHashOf(1, 3, a, 0x21, salt), "task bound");
        assertTrue(h != market.commitHashOf(1, 2, ann(1), 0x21, salt), "annotator bound");
        assertTrue(h != market.commitHashOf(1, 2, a, 0x22, salt), "labels bound");
        assertTrue(h != market.commitHashOf(1, 2, a, 0x21, keccak256("t")), "salt bound");
        LabelMarket other = new LabelMarket(token, treasury, COOLDOWN);
        assertTrue(h != other.commitHashOf(1, 2, a, 0x21, salt), "market bound");
        vm.chainId(999);
        assertTrue(h != market.commitHashOf(1, 2, a, 0x21, salt), "chain bound");
    }

    function test_openTaskCount_unknownBatchIsZero() public view {
        assertEq(market.openTaskCount(7), 0, "no batch, no open task");
    }
}
