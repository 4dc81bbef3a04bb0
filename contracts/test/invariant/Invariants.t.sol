// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Base} from "../utils/Base.sol";
import {MockERC20} from "../utils/Mocks.sol";
import {Handler} from "./Handler.sol";
import {ConcordToken} from "../../ConcordToken.sol";
import {LabelMarket} from "../../LabelMarket.sol";
import {ILabelMarket} from "../../interfaces/ILabelMarket.sol";

/// @notice Protocol invariants under random sequences of every user action (see Handler). Requester 0 pays
///         rewards in the protocol token (so rewards and stakes share a balance), requester 1 in a second token.
contract InvariantsTest is Base {
    /// @dev ds-test style log event; forge prints it with -vv.
    event log_named_uint(string key, uint256 val);

    uint256 internal constant NUM_ANNOTATORS = 8;

    ConcordToken internal token;
    MockERC20 internal usd;
    LabelMarket internal market;
    Handler internal handler;
    address internal treasury = address(0x7EA5);
    address internal reviewer = address(0xCAFE);
    address[] internal annotators;
    address[] internal requesters;

    function setUp() public {
        vm.warp(1_700_000_000);
        token = new ConcordToken(treasury);
        usd = new MockERC20("USD", "USD", 18);
        market = new LabelMarket(token, treasury, 3 hours);
        for (uint256 i; i < NUM_ANNOTATORS; ++i) {
            address a = vm.addr(0xA11CE + i);
            annotators.push(a);
            vm.prank(treasury);
            assertTrue(token.transfer(a, 1_000 * UNIT), "fund annotator");
            vm.prank(a);
            assertTrue(token.approve(address(market), type(uint256).max), "approve");
        }
        requesters.push(address(0xB0B));
        requesters.push(address(0xB0B2));
        vm.prank(treasury);
        assertTrue(token.transfer(requesters[0], 10_000_000 * UNIT), "fund requester 0");
        usd.mint(requesters[1], 10_000_000 * UNIT);
        vm.prank(requesters[0]);
        assertTrue(token.approve(address(market), type(uint256).max), "approve");
        vm.prank(requesters[1]);
        assertTrue(usd.approve(address(market), type(uint256).max), "approve");

        handler = new Handler(market, token, usd, treasury, reviewer, annotators, requesters);
        // Start every run with staked annotators and one open batch per requester (no gold, no qualifier).
        handler.bootstrap();
        // Seed layout: see Handler.createBatch. Bits 96 / 100 / 136 = 1: no qualifier, a reviewer, no gold.
        uint256 common = (uint256(1) << 96) | (uint256(1) << 100) | (uint256(1) << 136);
        // Requester 0 (CCD): tasks of 4, 10 items, r = 3, 3 classes, 66 %.
        handler.createBatch(common | (3 << 8) | (9 << 16) | (1 << 24) | (1 << 32) | (1 << 40));
        // Requester 1 (USD): tasks of 2, 8 items, r = 4, 2 classes, 75 %, wrong-label penalty 1.
        handler.createBatch(common | 1 | (1 << 8) | (7 << 16) | (2 << 24) | (2 << 40) | (uint256(1) << 56));
        assertEq(market.batchCount(), 2, "two batches to start with");

        bytes4[] memory selectors = new bytes4[](16);
        selectors[0] = Handler.warp.selector;
        selectors[1] = Handler.createBatch.selector;
        selectors[2] = Handler.stake.selector;
        selectors[3] = Handler.requestUnstake.selector;
        selectors[4] = Handler.withdraw.selector;
        selectors[5] = Handler.qualify.selector;
        selectors[6] = Handler.claim.selector;
        selectors[7] = Handler.releaseExpired.selector;
        selectors[8] = Handler.commit.selector;
        selectors[9] = Handler.reveal.selector;
        selectors[10] = Handler.revealGold.selector;
        selectors[11] = Handler.settleTask.selector;
        selectors[12] = Handler.settleTasks.selector;
        selectors[13] = Handler.resolve.selector;
        selectors[14] = Handler.refund.selector;
        selectors[15] = Handler.collect.selector;
        targetContract(address(handler));
        targetSelector(FuzzSelector({addr: address(handler), selectors: selectors}));
    }

    // ------------------------------------------------------------------------------------------------
    // Sums over every account and batch
    // ------------------------------------------------------------------------------------------------

    function _accounts() internal view returns (address[] memory accts) {
        accts = new address[](annotators.length + requesters.length + 2);
        for (uint256 i; i < annotators.length; ++i) {
            accts[i] = annotators[i];
        }
        for (uint256 i; i < requesters.length; ++i) {
            accts[annotators.length + i] = requesters[i];
        }
        accts[accts.length - 2] = treasury;
        accts[accts.length - 1] = reviewer;
    }

    function _credits(address tok) internal view returns (uint256 sum) {
        address[] memory accts = _accounts();
        for (uint256 i; i < accts.length; ++i) {
            sum += market.claimable(accts[i], tok);
        }
    }

    function _stakes() internal view returns (uint256 amount, uint256 pending) {
        for (uint256 i; i < annotators.length; ++i) {
            ILabelMarket.Stake memory st = market.stakeOf(annotators[i]);
            amount += st.amount;
            pending += st.pending;
        }
    }

    /// @dev Unspent escrow of batches not refunded yet, and total paid, in `tok`.
    function _escrow(address tok) internal view returns (uint256 unspent, uint256 paid) {
        uint256 n = market.batchCount();
        for (uint256 id; id < n; ++id) {
            ILabelMarket.Batch memory b = market.getBatch(id);
            if (b.config.rewardToken != tok) continue;
            paid += b.state.paid;
            if (!b.state.refunded) unspent += b.state.escrow - b.state.paid;
        }
    }

    /// @dev What the market owes in `tok`: stakes (protocol token only) + credits + unspent escrow.
    function _liabilities(address tok) internal view returns (uint256 owed) {
        if (tok == address(token)) {
            (uint256 amount, uint256 pending) = _stakes();
            owed = amount + pending;
        }
        (uint256 unspent,) = _escrow(tok);
        owed += _credits(tok) + unspent;
    }

    // ------------------------------------------------------------------------------------------------
    // Invariants
    // ------------------------------------------------------------------------------------------------


    /// @notice Rule 9: token balance held >= all stakes + pending unstakes + credits + unspent escrow.
    function invariant_solvency() public view {
        assertGe(token.balanceOf(address(market)), _liabilities(address(token)), "CCD solvency");
        assertGe(usd.balanceOf(address(market)), _liabilities(address(usd)), "USD solvency");
    }

    /// @notice Stronger: nothing else ever enters or leaves, so the balance is exactly what is owed (no token
    ///         stranded, none created).
    function invariant_exactAccounting() public view {
        assertEq(token.balanceOf(address(market)), _liabilities(address(token)), "CCD exact");
        assertEq(usd.balanceOf(address(market)), _liabilities(address(usd)), "USD exact");
    }

    /// @notice Each (batch, task, slot, item) label is credited at most once, and every batch paid exactly the
    ///         labels the handler computed from revealed labels and results.
    function invariant_noLabelPaidTwice() public view {
        assertFalse(handler.doubleCredit(), "a label was credited twice");
        assertFalse(handler.paidMismatch(), "a settlement or review paid a different amount");
        uint256 n = market.batchCount();
        for (uint256 id; id < n; ++id) {
            assertEq(market.getBatch(id).state.paid, handler.ghostPaid(id), "batch.paid == labels credited");
        }
    }

    /// @notice Everything credited (and collected since) equals what batches paid plus what was slashed.
    function invariant_creditsMatchPaidAndSlashed() public view {
        assertFalse(handler.creditMismatch(), "credit delta mismatch on some step");
        (, uint256 paidUsd) = _escrow(address(usd));
        (, uint256 paidToken) = _escrow(address(token));
        assertEq(_credits(address(usd)) + handler.ghostCollected(address(usd)), paidUsd, "USD credited == paid");
        assertEq(
            _credits(address(token)) + handler.ghostCollected(address(token)),
            paidToken + handler.ghostSlashed(),
            "CCD credited == paid + slashed"
        );
    }

    /// @notice Stake is conserved: staked = held + pending + withdrawn + slashed.
    function invariant_stakeConservation() public view {
        (uint256 amount, uint256 pending) = _stakes();
        assertEq(
            amount + pending + handler.ghostWithdrawn() + handler.ghostSlashed(), handler.ghostStaked(), "stake flow"
        );
    }

    /// @notice Per batch: paid <= escrow == N * r * reward; refunds only after every task settled.
    function invariant_paidWithinEscrow() public view {
        assertFalse(handler.refundMismatch(), "refund paid a different amount");
        uint256 n = market.batchCount();
        for (uint256 id; id < n; ++id) {
            ILabelMarket.Batch memory b = market.getBatch(id);
            assertEq(
                b.state.escrow, uint256(b.config.numItems) * b.config.replicas * b.config.rewardPerLabel, "escrow"
            );
            assertLe(b.state.paid, b.state.escrow, "paid <= escrow");
            if (b.state.refunded) assertEq(b.state.tasksSettled, b.config.numTasks, "refund after settlement");
        }
    }

    /// @notice tasksSettled <= numTasks and equals the number of settled tasks.
    function invariant_tasksSettledBounded() public view {
        uint256 n = market.batchCount();
        for (uint256 id; id < n; ++id) {
            ILabelMarket.Batch memory b = market.getBatch(id);
            assertLe(b.state.tasksSettled, b.config.numTasks, "tasksSettled <= numTasks");
            uint256 settled;
            for (uint256 t; t < b.config.numTasks; ++t) {
                if (market.getTask(id, t).settled) ++settled;
            }
            assertEq(b.state.tasksSettled, settled, "counter matches tasks");
        }
    }

    /// @notice locked <= amount for every annotator, and locked is exactly stakePerClaim per open claim or commit.
    function invariant_lockedCoveredAndExact() public view {
        uint256[] memory expected = new uint256[](annotators.length);
        uint256 n = market.batchCount();
        for (uint256 id; id < n; ++id) {
            ILabelMarket.BatchConfig memory cfg = market.getBatch(id).config;
            for (uint256 t; t < cfg.numTasks; ++t) {
                ILabelMarket.Task memory task = market.getTask(id, t);
                if (task.settled) continue;
                uint256 held = uint256(task.claimedMask) | task.committedMask;
                for (uint256 s; s < cfg.replicas; ++s) {
                    if ((held >> s) & 1 == 0) continue;
                    address holder = market.getSlot(id, t, s).annotator;
                    for (uint256 i; i < annotators.length; ++i) {
                        if (annotators[i] == holder) expected[i] += cfg.stakePerClaim;
                    }
                }
            }
        }
        for (uint256 i; i < annotators.length; ++i) {
            ILabelMarket.Stake memory st = market.stakeOf(annotators[i]);
            assertLe(st.locked, st.amount, "locked <= amount");
            assertEq(st.locked, expected[i], "locked == stakePerClaim x open claims");
        }
    }

    /// @notice Rule 4: nobody is ever handed the same task twice, and claims land only on eligible tasks.
    function invariant_assignmentRules() public view {
        assertFalse(handler.sameTaskTwice(), "an annotator got the same task twice");
        assertFalse(handler.claimOutsidePrediction(), "a claim landed on a task that was not eligible");
    }

    // ------------------------------------------------------------------------------------------------
    // Handler smoke test: a fixed pseudo-random walk must reach every action (guards against a handler
    // that silently skips everything and makes the invariants vacuous).
    // ------------------------------------------------------------------------------------------------

    function test_handler_reachesEveryAction() public {
        for (uint256 i; i < 1500; ++i) {
            uint256 h = uint256(keccak256(abi.encode("walk", i)));
            uint256 a = uint256(keccak256(abi.encode(h, 1)));
            uint256 b = uint256(keccak256(abi.encode(h, 2)));
            uint256 action = h % 16;
            if (action == 0) handler.warp(a % 40 minutes);
            else if (action == 1) handler.createBatch(a);
            else if (action == 2) handler.stake(a, b);
            else if (action == 3) handler.requestUnstake(a, b % (5 * UNIT));
            else if (action == 4) handler.withdraw(a);
            else if (action == 5) handler.qualify(a, b);
            else if (action == 6) handler.claim(a, b);
            else if (action == 7) handler.releaseExpired(a);
            else if (action == 8) handler.commit(a, b);
            else if (action == 9) handler.reveal(a);
            else if (action == 10) handler.revealGold(a);
            else if (action == 11) handler.settleTask(a);
            else if (action == 12) handler.settleTasks(a, b % 3, b % 7);
            else if (action == 13) handler.resolve(a, b);
            else if (action == 14) handler.refund(a);
            else handler.collect(a, b);
        }
        string[16] memory names = [
            "warp",
            "createBatch",
            "stake",
            "requestUnstake",
            "withdraw",
            "qualify",
            "claim",
            "releaseExpired",
            "commit",
            "reveal",
            "revealGold",
            "settleTask",
            "settleTasks",
            "resolve",
            "refund",
            "collect"
        ];
        for (uint256 i; i < names.length; ++i) {
            emit log_named_uint(names[i], handler.calls(names[i]));
        }
        for (uint256 i; i < names.length; ++i) {
            assertGt(handler.calls(names[i]), 0, names[i]);
        }
        invariant_solvency();
        invariant_exactAccounting();
        invariant_noLabelPaidTwice();
        invariant_creditsMatchPaidAndSlashed();
        invariant_stakeConservation();
        invariant_paidWithinEscrow();
        invariant_tasksSettledBounded();
        invariant_lockedCoveredAndExact();
        invariant_assignmentRules();
    }
}
