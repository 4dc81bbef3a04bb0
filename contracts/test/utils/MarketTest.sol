// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {MarketFixture} from "./MarketFixture.sol";
import {MockERC20} from "./Mocks.sol";
import {ILabelMarket} from "../../interfaces/ILabelMarket.sol";
import {LabelPacking} from "../../libraries/LabelPacking.sol";

/// @notice MarketFixture plus the step helpers (and the market-state assertion) the unit tests share; the
///         generic assertions are in Base.
abstract contract MarketTest is MarketFixture {
    using LabelPacking for uint256;

    bytes32 internal constant PERMIT_TYPEHASH =
        keccak256("Permit(address owner,address spender,uint256 value,uint256 nonce,uint256 deadline)");
    bytes32 internal constant EIP712_DOMAIN_TYPEHASH =
        keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");
    /// @dev Written out rather than read from `market.QUALIFICATION_TYPEHASH()`: the tests check the market's
    ///      constant and its signature check against this independent copy of the EIP-712 type.
    bytes32 internal constant QUALIFICATION_TYPEHASH =
        keccak256("Qualification(uint256 batchId,address annotator,uint256 deadline)");

    // ------------------------------------------------------------------------------------------------
    // Assertions on market state (the generic ones are in Base)
    // ------------------------------------------------------------------------------------------------

    /// @notice Fails with `err` unless annotator `a` is at `expected` on (batch `id`, task `taskId`). Kept here,
    ///         not in Base, because it reads the fixture's market.
    function assertStatus(uint256 id, uint256 taskId, address a, ILabelMarket.Status expected, string memory err)
        internal
        view
    {
        (, ILabelMarket.Status status) = market.assignmentOf(id, taskId, a);
        assertEq(uint256(status), uint256(expected), err);
    }

    // ------------------------------------------------------------------------------------------------
    // Parameters
    // ------------------------------------------------------------------------------------------------

    /// @dev defaultParams with a single task of 4 items: claims land deterministically on task 0, slots 0,1,2.
    function oneTaskParams() internal view returns (ILabelMarket.BatchParams memory p) {
        p = defaultParams();
        p.numItems = 4;
    }

    function escrowOf(ILabelMarket.BatchParams memory p) internal pure returns (uint256) {
        return uint256(p.numItems) * p.replicas * p.rewardPerLabel;
    }

    /// @notice A second reward token ("USD" with `decimals`), `amount` of it minted to the requester and the
    ///         market approved: for batches paid in something other than the stake token.
    function fundedUsd(uint8 decimals, uint256 amount) internal returns (MockERC20 usd) {
        usd = new MockERC20("USD", "USD", decimals);
        usd.mint(requester, amount);
        vm.prank(requester);
        usd.approve(address(market), type(uint256).max);
    }

    // ------------------------------------------------------------------------------------------------
    // Labels
    // ------------------------------------------------------------------------------------------------

    function pack(uint256 l0, uint256 l1, uint256 l2, uint256 l3) internal pure returns (uint256 labels) {
        labels = labels.set(0, l0).set(1, l1).set(2, l2).set(3, l3);
    }

    function ann(uint256 i) internal view returns (address) {
        return annotators[i];
    }

    // ------------------------------------------------------------------------------------------------
    // Steps
    // ------------------------------------------------------------------------------------------------

    /// @dev Annotators 0..n-1 claim the single task of a one-task batch (slots 0..n-1).
    function claimN(uint256 id, uint256 n) internal {
        for (uint256 i; i < n; ++i) {
            uint256 t = claimAs(annotators[i], id);
            assertEq(t, 0, "one-task batch: task 0");
        }
    }

    /// @dev Annotators 0..labels.length-1 claim and commit `labels[i]` on task 0 of a one-task batch.
    function claimCommit(uint256 id, uint256[] memory labels) internal {
        claimN(id, labels.length);
        for (uint256 i; i < labels.length; ++i) {
            commitAs(annotators[i], id, 0, labels[i]);
        }
    }

    /// @dev claimCommit, then every annotator reveals.
    function claimCommitReveal(uint256 id, uint256[] memory labels) internal {
        claimCommit(id, labels);
        for (uint256 i; i < labels.length; ++i) {
            revealAs(annotators[i], id, 0, labels[i]);
        }
    }

    function three(uint256 a, uint256 b, uint256 c) internal pure returns (uint256[] memory out) {
        out = new uint256[](3);
        out[0] = a;
        out[1] = b;
        out[2] = c;
    }

    function two(uint256 a, uint256 b) internal pure returns (uint256[] memory out) {
        out = new uint256[](2);
        out[0] = a;
        out[1] = b;
    }

    function one(uint256 a) internal pure returns (uint256[] memory out) {
        out = new uint256[](1);
        out[0] = a;
    }

    // ------------------------------------------------------------------------------------------------
    // Time
    // ------------------------------------------------------------------------------------------------

    function warpPastCommit(uint256 id) internal {
        vm.warp(uint256(market.getBatch(id).config.commitDeadline) + 1);
    }

    function warpPastReveal(uint256 id) internal {
        vm.warp(uint256(market.getBatch(id).config.revealDeadline) + 1);
    }

    function warpPastReview(uint256 id) internal {
        vm.warp(uint256(market.getBatch(id).config.reviewDeadline) + 1);
    }

    // ------------------------------------------------------------------------------------------------
    // Signatures
    // ------------------------------------------------------------------------------------------------

    function signPermit(uint256 pk, bytes32 domain, address spender, uint256 value, uint256 nonce, uint256 deadline)
        internal
        pure
        returns (uint8 v, bytes32 r, bytes32 s)
    {
        bytes32 structHash = keccak256(abi.encode(PERMIT_TYPEHASH, vm.addr(pk), spender, value, nonce, deadline));
        (v, r, s) = vm.sign(pk, keccak256(abi.encodePacked("\x19\x01", domain, structHash)));
    }

    function qualificationDigest(uint256 batchId, address annotator, uint256 deadline) internal view returns (bytes32) {
        bytes32 structHash = keccak256(abi.encode(QUALIFICATION_TYPEHASH, batchId, annotator, deadline));
        return keccak256(abi.encodePacked("\x19\x01", market.domainSeparator(), structHash));
    }

    function signQualification(uint256 pk, uint256 batchId, address annotator, uint256 deadline)
        internal
        view
        returns (bytes memory)
    {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(pk, qualificationDigest(batchId, annotator, deadline));
        return abi.encodePacked(r, s, v);
    }
}
