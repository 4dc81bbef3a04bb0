// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {MarketTest} from "./utils/MarketTest.sol";
import {ILabelMarket} from "../interfaces/ILabelMarket.sol";
import {LabelPacking} from "../libraries/LabelPacking.sol";

/// @notice Deterministic gas measurements of each user-facing step on a realistic batch (tasks of 10 items,
///         r = 3, 3 classes). setUp prepares one batch per step so every test performs exactly one market call;
///         `forge snapshot --match-contract GasTest` records them in .gas-snapshot and `make gas-check` fails
///         when a change moves them. Each test also checks the call did its job and stays under a budget.
contract GasTest is MarketTest {
    using LabelPacking for uint256;

    uint256 internal refundId;
    uint256 internal claimId;
    uint256 internal commitId;
    uint256 internal revealId;
    uint256 internal settleId;
    uint256 internal resolveId;

    uint256 internal agree;
    uint256 internal dissent;
    uint256 internal split;

    function realisticParams() internal view returns (ILabelMarket.BatchParams memory p) {
        p = defaultParams();
        p.numItems = 30;
        p.taskSize = 10;
        p.replicas = 3;
        p.numClasses = 3;
        p.thresholdBps = 6600;
        p.rewardPerLabel = 1 * UNIT;
        p.stakePerClaim = 50 * UNIT;
        p.wrongLabelPenalty = 2 * UNIT;
        p.noRevealPenalty = 25 * UNIT;
        p.minStake = 50 * UNIT;
    }

    function oneTask10() internal view returns (ILabelMarket.BatchParams memory p) {
        p = realisticParams();
        p.numItems = 10;
    }

    function _fullTask(uint256 id, uint256[3] memory l, uint256 reveals) internal {
        for (uint256 i; i < 3; ++i) {
            claimAs(ann(i), id);
        }
        for (uint256 i; i < 3; ++i) {
            commitAs(ann(i), id, 0, l[i]);
        }
        for (uint256 i; i < reveals; ++i) {
            revealAs(ann(i), id, 0, l[i]);
        }
    }

    function setUp() public override {
        super.setUp();
        stakeAll(1_000 * UNIT);
        agree = uniform(1, 10);
        dissent = agree.set(0, 2).set(1, 0); // wrong on 2 of 10 items
        split = agree.set(0, 0); // with `dissent`: item 0 is 1 / 0 / 2, no consensus

        // A finished batch whose review window is over: ready for refund.
        refundId = createBatch(oneTask10());
        _fullTask(refundId, [agree, split, dissent], 3);
        market.settleTask(refundId, 0);
        warpPastReview(refundId);

        claimId = createBatch(realisticParams());
        claimAs(ann(0), claimId);
        claimAs(ann(1), claimId);

        commitId = createBatch(oneTask10());
        claimAs(ann(0), commitId);

        revealId = createBatch(oneTask10());
        _fullTask(revealId, [agree, agree, dissent], 2);

        settleId = createBatch(oneTask10());
        _fullTask(settleId, [agree, agree, dissent], 3);

        resolveId = createBatch(oneTask10());
        _fullTask(resolveId, [agree, split, dissent], 3);
        market.settleTask(resolveId, 0);
    }

    function test_gas_createBatch() public {
        ILabelMarket.BatchParams memory p = realisticParams();
        vm.prank(requester);
        uint256 g = gasleft();
        uint256 id = market.createBatch(p);
        g -= gasleft();
        assertEq(market.getBatch(id).state.escrow, 90 * UNIT, "escrowed");
        assertLt(g, 320_000, "createBatch budget");
    }

    function test_gas_stake() public {
        vm.prank(ann(5));
        uint256 g = gasleft();
        market.stake(100 * UNIT);
        g -= gasleft();
        assertEq(market.stakeOf(ann(5)).amount, 1_100 * UNIT, "staked");
        assertLt(g, 60_000, "stake budget");
    }

    function test_gas_claim() public {
        vm.prank(ann(2));
        uint256 g = gasleft();
        uint256 t = market.claim(claimId);
        g -= gasleft();
        assertStatus(claimId, t, ann(2), ILabelMarket.Status.Claimed, "claimed");
        assertLt(g, 150_000, "claim budget");
    }

    function test_gas_commit() public {
        bytes32 h = market.commitHashOf(commitId, 0, ann(0), agree, saltOf(ann(0), commitId, 0));
        vm.prank(ann(0));
        uint256 g = gasleft();
        market.commit(commitId, 0, h, "");
        g -= gasleft();
        assertEq(market.commitOf(commitId, 0, 0), h, "committed");
        assertLt(g, 60_000, "commit budget");
    }

    function test_gas_reveal() public {
        bytes32 salt = saltOf(ann(2), revealId, 0);
        vm.prank(ann(2));
        uint256 g = gasleft();
        market.reveal(revealId, 0, dissent, salt);
        g -= gasleft();
        assertEq(market.labelsOf(revealId, 0, 2), dissent, "revealed");
        assertLt(g, 80_000, "reveal budget");
    }

    function test_gas_settleTask() public {
        uint256 stakeBefore = market.stakeOf(ann(2)).amount;
        uint256 g = gasleft();
        market.settleTask(settleId, 0);
        g -= gasleft();
        assertEq(market.getBatch(settleId).state.paid, 28 * UNIT, "10 + 10 + 8 agreeing labels paid");
        assertEq(stakeBefore - market.stakeOf(ann(2)).amount, 4 * UNIT, "2 wrong labels slashed");
        assertLt(g, 300_000, "settleTask budget");
    }

    function test_gas_resolve() public {
        vm.prank(reviewer);
        uint256 g = gasleft();
        market.resolve(resolveId, 0, 1);
        g -= gasleft();
        assertEq(market.getTask(resolveId, 0).decidedMask, 0x3FF, "resolved");
        assertLt(g, 80_000, "resolve budget");
    }

    function test_gas_refund() public {
        uint256 before = token.balanceOf(requester);
        uint256 g = gasleft();
        market.refund(refundId);
        g -= gasleft();
        // 30 escrowed; paid: item 0 undecided, item 1: agree/split say 1, dissent 0 -> 2; items 2..9 -> 3 each.
        assertEq(token.balanceOf(requester) - before, 30 * UNIT - (2 + 8 * 3) * UNIT, "refunded");
        assertLt(g, 60_000, "refund budget");
    }

    function test_gas_collect() public {
        uint256 owed = market.claimable(ann(0), address(token));
        vm.prank(ann(0));
        uint256 g = gasleft();
        market.collect(address(token));
        g -= gasleft();
        assertGt(owed, 0, "had a credit");
        assertEq(market.claimable(ann(0), address(token)), 0, "collected");
        assertLt(g, 60_000, "collect budget");
    }
}
