// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {MarketFixture} from "./utils/MarketFixture.sol";
import {ILabelMarket} from "../interfaces/ILabelMarket.sol";

/// @notice End-to-end protocol flows on one batch.
contract FlowTest is MarketFixture {
    function test_flow_fullBatch_paysAgreeingAndSlashesDissent() public {
        stakeAll(100 * UNIT);
        uint256 id = createBatch(defaultParams());
        // 3 tasks x 3 replicas = 9 claims; annotator 0..7 claim round robin until every slot is taken.
        uint256[3][3] memory holders;
        uint256[3] memory filled;
        uint256 claims;
        for (uint256 round; claims < 9; ++round) {
            address a = annotators[round % NUM_ANNOTATORS];
            uint256 t = claimAs(a, id);
            holders[t][filled[t]++] = round % NUM_ANNOTATORS;
            ++claims;
        }
        // Everyone labels class 1 except the third holder of each task, who labels 2 everywhere.
        for (uint256 t; t < 3; ++t) {
            for (uint256 j; j < 3; ++j) {
                commitAs(annotators[holders[t][j]], id, t, uniform(j == 2 ? 2 : 1, 4));
            }
        }
        for (uint256 t; t < 3; ++t) {
            for (uint256 j; j < 3; ++j) {
                revealAs(annotators[holders[t][j]], id, t, uniform(j == 2 ? 2 : 1, 4));
            }
            market.settleTask(id, t);
        }
        ILabelMarket.Batch memory b = market.getBatch(id);
        assertEq(b.state.paid, 3 * 2 * 4 * UNIT, "two agreeing labels x 4 items x 3 tasks paid");
        assertEq(b.state.tasksSettled, 3, "all tasks settled");
        vm.warp(b.config.reviewDeadline + 1);
        uint256 before = token.balanceOf(requester);
        market.refund(id);
        assertEq(token.balanceOf(requester) - before, 36 * UNIT - 24 * UNIT, "unspent escrow refunded");
    }
}
