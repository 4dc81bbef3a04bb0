// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {V2Fixture} from "../utils/V2Fixture.sol";
import {ILabelMarketV2Types} from "../../interfaces/ILabelMarketV2.sol";

/// @notice v2 end to end on one batch: join, seal, seed, commit, reveal, settle, collect, refund.
contract LabelMarketV2FlowTest is V2Fixture {
    function test_flow_paysAgreementSlashesDissentAndRedistributesPerItem() public {
        uint256 id = create(defaultParams());
        // Annotator 2 gets item 0 of both its tasks wrong.
        Held[] memory hs = fullRoundCommitted(id, three(0, 0, 1));
        for (uint256 i; i < 3; ++i) {
            revealAs(id, hs[i]);
        }
        assertEq(settleAll(id, hs), 2, "both tasks settled");

        // 2 tasks x 4 items: annotators 0 and 1 agree on 8 labels, annotator 2 on 6 and disagrees on 2.
        // Each dissent (2 CCD) goes to the two annotators who agreed on that item: 1 CCD each, twice.
        assertEq(market.claimable(ann(0), address(token)), 8 * UNIT + 2 * UNIT, "ann0: 8 rewards + 2 shares");
        assertEq(market.claimable(ann(1), address(token)), 10 * UNIT, "ann1: same");
        assertEq(market.claimable(ann(2), address(token)), 6 * UNIT, "ann2: 6 rewards, none of its own slash");
        assertEq(market.accountOf(ann(2)).amount, STAKE - 4 * UNIT, "ann2 slashed 2 x 2 CCD");
        assertEq(market.claimable(treasury, address(token)), 0, "no dust");
        for (uint256 i; i < 3; ++i) {
            assertEq(market.accountOf(ann(i)).locked, 0, "stake unlocked");
        }
        ILabelMarketV2Types.BatchState memory s = market.getBatch(id).state;
        assertEq(s.paid, 22 * UNIT, "22 labels paid");
        assertEq(s.tasksSettled, 2, "tasks settled");
        assertEq(s.undecided, 0, "nothing undecided");
        ILabelMarketV2Types.Reputation memory rep = market.reputationOf(ann(2), requester);
        assertEq(rep.accepted, 6, "accepted in the requester's domain");
        assertEq(rep.rejected, 2, "rejected in the requester's domain");

        warpPastReview(id);
        uint256 before = token.balanceOf(requester);
        vm.prank(ann(7));
        market.refund(id);
        assertEq(token.balanceOf(requester) - before, 2 * UNIT, "24 escrowed - 22 paid");

        vm.prank(ann(0));
        market.collect(address(token));
        assertEq(market.claimable(ann(0), address(token)), 0, "collected");
    }

    function test_flow_everyTaskGetsOneAnnotatorPerLane() public {
        uint256 id = create(defaultParams());
        Held[] memory hs = fullRoundCommitted(id, three(0, 0, 0));
        for (uint256 i; i < 3; ++i) {
            assertEq(hs[i].bundle.lane, i, "one lane each");
            assertEq(hs[i].tasks.length, 2, "whole lane");
            assertTrue(hs[i].tasks[0] != hs[i].tasks[1], "two different tasks");
            assertTrue(hs[i].tasks[0] < 2 && hs[i].tasks[1] < 2, "tasks of the batch");
        }
    }
}
