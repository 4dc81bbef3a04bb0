// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {V2Fixture} from "../utils/V2Fixture.sol";
import {ILabelMarketV2Types} from "../../interfaces/ILabelMarketV2.sol";
import {BundlePacking} from "../../libraries/BundlePacking.sol";
import {LabelPacking} from "../../libraries/LabelPacking.sol";
import {Leaves} from "../../libraries/Leaves.sol";

/// @notice Fixed-input tests for rules that only random-input tests checked before (scripts/mutants.py): the
///         consensus threshold rounded up, ties, a lone voter, the gold slash taken from the stake, ticket bits
///         at an odd first ticket, and the task field of a bundle word. A random-input run can miss these cases,
///         so the matching mutants did not always die.
contract LabelMarketV2MutantsTest is V2Fixture {
    using LabelPacking for uint256;

    /// @dev Calldata entry point for `BundlePacking.taskLabels` (the library reads calldata).
    function taskLabels(uint256[] calldata words, uint256 index) external pure returns (uint256) {
        return BundlePacking.taskLabels(words, index);
    }

    function revealAll(uint256 id, Held[] memory hs) internal {
        for (uint256 i; i < hs.length; ++i) {
            revealAs(id, hs[i]);
        }
    }

    /// @dev One task of 4 items, 4 lanes, with `thresholdBps`. Annotators 0-3 each join one lane. Item 0 gets the
    ///      truth from annotators 0 and 1 and truth + shift2 / truth + shift3 from annotators 2 and 3. Every
    ///      bundle is committed and revealed.
    function fourLanes(uint256 thresholdBps, uint256 shift2, uint256 shift3)
        internal
        returns (uint256 id, Held[] memory hs)
    {
        ILabelMarketV2Types.BatchParams memory p = defaultParams();
        p.numItems = 4;
        p.replicas = 4;
        p.thresholdBps = uint16(thresholdBps);
        id = create(p);
        hs = new Held[](4);
        for (uint256 i; i < 4; ++i) {
            hs[i] = joinAs(ann(i), id, 1);
            assertEq(hs[i].bundle.lane, i, "one lane each");
        }
        seedRound(id, 1);
        uint256 truth = truthOf(0, 0, 4);
        uint256[4] memory shift = [uint256(0), 0, shift2, shift3];
        for (uint256 i; i < 4; ++i) {
            label(id, hs[i], 0);
            hs[i].words[0] = hs[i].words[0].set(0, (truth + shift[i]) % 4);
            commitAs(id, hs[i]);
        }
        revealAll(id, hs);
    }

    // ------------------------------------------------------------------------------------------------
    // consensus: threshold, ties, a lone voter
    // ------------------------------------------------------------------------------------------------

    /// @dev 2 of 4 votes at 60 %: the winner needs ceil(2.4) = 3 votes, so item 0 stays undecided (rounded down it
    ///      would need 2, and 2 votes lead the other two classes). At 50 % it needs exactly 2 and is decided.
    function test_consensus_thresholdCountRoundsUp() public {
        (uint256 id, Held[] memory hs) = fourLanes(6000, 1, 2);
        settleAll(id, hs);
        assertEq(market.getBatch(id).state.undecided, 1, "item 0: 2 of 4 votes < 60 %");
        assertEq(market.getBatch(id).state.paid, 12 * UNIT, "3 unanimous items x 4 lanes");
        assertEq(market.claimable(ann(0), address(token)), 3 * UNIT, "ann0: 3 rewards, item 0 unpaid");
        assertEq(market.accountOf(ann(2)).amount, STAKE, "no consensus, no slash");

        (id, hs) = fourLanes(5000, 1, 2);
        uint256 before0 = market.claimable(ann(0), address(token));
        uint256 stake2 = market.accountOf(ann(2)).amount;
        settleAll(id, hs);
        assertEq(market.getBatch(id).state.undecided, 0, "item 0: 2 of 4 votes = 50 %");
        assertEq(market.getBatch(id).state.paid, 14 * UNIT, "16 labels - 2 dissents");
        // Each of the two dissents (2 CCD) is shared by the two lanes that agreed: 2 CCD each.
        assertEq(market.claimable(ann(0), address(token)) - before0, 4 * UNIT + 2 * UNIT, "4 rewards + shares");
        assertEq(stake2 - market.accountOf(ann(2)).amount, 2 * UNIT, "ann2 slashed for item 0");
    }

    /// @dev 2 votes against 2 at 50 %: both classes reach the threshold, neither is strictly ahead.
    function test_consensus_aTieIsUndecided() public {
        (uint256 id, Held[] memory hs) = fourLanes(5000, 1, 1);
        settleAll(id, hs);
        assertEq(market.getBatch(id).state.undecided, 1, "item 0 tied 2:2");
        assertEq(market.getBatch(id).state.paid, 12 * UNIT, "3 unanimous items x 4 lanes");
        assertEq(market.claimable(ann(2), address(token)), 3 * UNIT, "ann2 not paid for item 0");
        assertEq(market.accountOf(ann(2)).amount, STAKE, "nor slashed");
        assertEq(market.accountOf(ann(0)).amount, STAKE, "and ann0 neither");
    }

    /// @dev Only lane 0 is held (lanes 1 and 2 stay empty): one revealed vote decides nothing.
    function test_consensus_aLoneVoterDecidesNothing() public {
        uint256 id = create(defaultParams());
        Held[] memory hs = new Held[](1);
        hs[0] = joinAs(ann(0), id, 2);
        seedRound(id, 1);
        label(id, hs[0], 0);
        commitAs(id, hs[0]);
        warpPastCommit(id);
        revealAs(id, hs[0]);
        warpPastReveal(id);
        assertEq(settleAll(id, hs), 2, "both tasks settled");
        assertEq(market.getBatch(id).state.paid, 0, "nothing paid");
        assertEq(market.getBatch(id).state.undecided, 8, "every item left to the reviewer");
        assertEq(market.claimable(ann(0), address(token)), 0, "no reward");
        assertEq(market.accountOf(ann(0)).amount, STAKE, "no slash");
        assertEq(market.accountOf(ann(0)).locked, 0, "stake unlocked");
        assertEq(market.reputationOf(ann(0), requester).accepted, 0, "nothing accepted");
    }

    // ------------------------------------------------------------------------------------------------
    // gold: the slash leaves the annotator's stake
    // ------------------------------------------------------------------------------------------------

    function test_gold_disagreementIsTakenFromTheStake() public {
        uint256 truth = truthOf(0, 0, 4);
        ILabelMarketV2Types.BatchParams memory p = defaultParams();
        p.goldRoot = Leaves.goldLeaf(0, truth, keccak256("gold salt")); // a one-leaf tree
        p.goldCount = 1;
        p.goldBond = 5 * UNIT;
        uint256 id = create(p);
        Held[] memory hs = fullRoundCommitted(id, three(0, 0, 1)); // ann2 wrong on item 0 of both tasks
        revealAll(id, hs);
        warpPastCommit(id);
        ILabelMarketV2Types.GoldAnswer[] memory g = new ILabelMarketV2Types.GoldAnswer[](1);
        g[0] = ILabelMarketV2Types.GoldAnswer(0, uint8(truth), keccak256("gold salt"), new bytes32[](0));
        market.revealGold(id, g);
        settleAll(id, hs);
        // Task 0 item 0 is gold (2 CCD to the treasury), task 1 item 0 is consensus (2 CCD shared by ann0, ann1).
        assertEq(market.accountOf(ann(2)).amount, STAKE - 4 * UNIT, "gold miss + consensus dissent, 2 CCD each");
        assertEq(market.accountOf(ann(2)).locked, 0, "unlocked");
        assertEq(market.claimable(treasury, address(token)), 2 * UNIT, "the gold slash");
        assertEq(market.accountOf(ann(0)).amount, STAKE, "ann0 not slashed");
    }

    // ------------------------------------------------------------------------------------------------
    // tickets: a bundle starting at an odd ticket
    // ------------------------------------------------------------------------------------------------

    /// @dev Lane 0: ann0 holds ticket 0 and abandons it, ann3 holds ticket 1 and commits. Round 2's only position
    ///      in lane 0 is ticket 0's task, never ticket 1's.
    function test_rounds_anOddFirstTicketMarksItsOwnBit() public {
        uint256 id = create(defaultParams());
        Held memory h0 = joinAs(ann(0), id, 1);
        Held[] memory live = new Held[](4);
        live[0] = joinAs(ann(1), id, 2);
        live[1] = joinAs(ann(2), id, 2);
        live[2] = joinAs(ann(3), id, 2);
        assertEq(h0.bundle.lane, 0, "ann0: lane 0");
        assertEq(live[2].bundle.lane, 0, "ann3: lane 0");
        assertEq(live[2].bundle.first, 1, "ann3 starts at ticket 1");
        assertEq(live[2].bundle.size, 1, "one ticket left");
        seedRound(id, 1);
        for (uint256 i; i < 3; ++i) {
            label(id, live[i], 0);
            commitAs(id, live[i]);
        }
        uint256 abandoned = market.taskAt(id, 0, 1, 0);
        uint256 kept = market.taskAt(id, 0, 1, 1);
        vm.warp(uint256(market.getRound(id, 1).commitEnd) + 1);

        live[3] = joinAs(ann(4), id, 2);
        assertEq(live[3].bundle.round, 2, "round 2");
        assertEq(live[3].bundle.lane, 0, "lane 0: its one uncommitted position");
        assertEq(live[3].bundle.size, 1, "one task");
        seedRound(id, 2);
        assertEq(market.taskAt(id, 0, 2, 0), abandoned, "ticket 0's task comes back");
        assertTrue(abandoned != kept, "not the committed ticket's");
        label(id, live[3], 0);
        commitAs(id, live[3]);
        revealAll(id, live);
        assertEq(settleAll(id, live), 2, "both tasks settled");
        assertEq(market.claimable(ann(4), address(token)), 4 * UNIT, "the round-2 holder is paid");
        assertEq(market.claimable(ann(3), address(token)), 4 * UNIT, "and the round-1 holder");
    }

    // ------------------------------------------------------------------------------------------------
    // bundle words
    // ------------------------------------------------------------------------------------------------

    function test_taskLabels_anEvenTaskExcludesItsNeighbour() public view {
        uint256[] memory words = new uint256[](1);
        uint256 low = 0x0123456789ABCDEF0123456789ABCDEF;
        uint256 high = 0xFEDCBA9876543210FEDCBA9876543210;
        words[0] = low | (high << 128);
        assertEq(this.taskLabels(words, 0), low, "task 0: the low half only");
        assertEq(this.taskLabels(words, 1), high, "task 1: the high half");
    }
}
