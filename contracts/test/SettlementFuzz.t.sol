// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {MarketTest} from "./utils/MarketTest.sol";
import {MockERC20} from "./utils/Mocks.sol";
import {ILabelMarket} from "../interfaces/ILabelMarket.sol";
import {LabelPacking} from "../libraries/LabelPacking.sol";

/// @notice Fuzzed settlement of one task against a reference computed in the test: random r, k, classes,
///         threshold, penalties, labels and commit / reveal behaviour. Rewards are paid in a separate token
///         so reward and slash flows can be told apart exactly.
contract SettlementFuzzTest is MarketTest {
    using LabelPacking for uint256;

    MockERC20 internal usd;

    function setUp() public override {
        super.setUp();
        stakeAll(100 * UNIT);
        usd = fundedUsd(18, 1e30);
    }

    struct Case {
        uint256 seed;
        uint256 r;
        uint256 k;
        uint256 classes;
        uint256 threshold;
        uint256 wrong;
        uint256 noReveal;
        uint256 stakePer;
        uint256 committed;
        uint256 revealed;
        uint256 id;
        uint256[] labels;
        // reference outcome
        uint256 decided;
        uint256 result;
        uint256[] reward;
        uint256[] slash;
        uint256[] agreed;
        uint256 agreedTotal;
        uint256 totalSlash;
        uint256 pool;
        uint256 totalReward;
    }

    function _labelsFor(Case memory c, uint256 slot) internal pure returns (uint256 labels) {
        for (uint256 j; j < c.k; ++j) {
            uint256 truth = uint256(keccak256(abi.encode(c.seed, "truth", j))) % c.classes;
            uint256 h = uint256(keccak256(abi.encode(c.seed, slot, j)));
            labels = labels.set(j, h % 3 != 0 ? truth : (h >> 8) % c.classes);
        }
    }

    /// @dev Plurality consensus written independently of LabelPacking: counts per class.
    function _reference(Case memory c) internal pure {
        c.reward = new uint256[](c.r);
        c.slash = new uint256[](c.r);
        c.agreed = new uint256[](c.r);
        for (uint256 j; j < c.k; ++j) {
            uint256[16] memory counts;
            uint256 total;
            for (uint256 s; s < c.r; ++s) {
                if ((c.revealed >> s) & 1 == 1) {
                    counts[c.labels[s].get(j)] += 1;
                    total += 1;
                }
            }
            uint256 top;
            uint256 best;
            for (uint256 cl; cl < c.classes; ++cl) {
                if (counts[cl] > top) {
                    top = counts[cl];
                    best = cl;
                }
            }
            bool tie;
            for (uint256 cl; cl < c.classes; ++cl) {
                if (cl != best && counts[cl] == top) tie = true;
            }
            if (total >= 2 && !tie && top * 10_000 >= c.threshold * total) {
                c.decided |= 1 << j;
                c.result = c.result.set(j, best);
            }
        }
        for (uint256 s; s < c.r; ++s) {
            if ((c.committed >> s) & 1 == 0) continue;
            if ((c.revealed >> s) & 1 == 0) {
                c.slash[s] = c.noReveal;
            } else {
                uint256 dis;
                for (uint256 j; j < c.k; ++j) {
                    if ((c.decided >> j) & 1 == 0) continue;
                    if (c.labels[s].get(j) == c.result.get(j)) c.agreed[s] += 1;
                    else dis += 1;
                }
                c.reward[s] = c.agreed[s] * UNIT;
                c.slash[s] = dis * c.wrong > c.stakePer ? c.stakePer : dis * c.wrong;
                c.pool += c.slash[s]; // only disagreement with consensus feeds the coherence pool
                c.agreedTotal += c.agreed[s];
            }
            c.totalSlash += c.slash[s];
            c.totalReward += c.reward[s];
        }
    }

    function testFuzz_settle_oneTaskAccountingMatchesReference(
        uint256 seed,
        uint256 r,
        uint256 k,
        uint256 classes,
        uint256 threshold,
        uint256 wrong,
        uint256 extra,
        uint256 committed,
        uint256 revealed,
        bool resolveUndecided
    ) public {
        Case memory c;
        c.seed = seed;
        c.r = bound(r, 2, NUM_ANNOTATORS);
        c.k = bound(k, 1, 8);
        c.classes = bound(classes, 2, 4);
        c.threshold = bound(threshold, 1, 10_000);
        c.wrong = bound(wrong, 0, 2 * UNIT);
        c.noReveal = c.wrong * c.k + bound(extra, 1, 5 * UNIT);
        c.stakePer = c.noReveal + (seed % 3) * UNIT;
        uint256 full = (1 << c.r) - 1;
        c.committed = committed & full;
        c.revealed = revealed & c.committed;

        ILabelMarket.BatchParams memory p = defaultParams();
        p.rewardToken = address(usd);
        p.numItems = uint32(c.k);
        p.taskSize = uint16(c.k);
        p.replicas = uint8(c.r);
        p.numClasses = uint8(c.classes);
        p.thresholdBps = uint16(c.threshold);
        p.wrongLabelPenalty = uint128(c.wrong);
        p.noRevealPenalty = uint128(c.noReveal);
        p.stakePerClaim = uint128(c.stakePer);
        p.minStake = 0;
        c.id = createBatch(p);

        // Everyone claims (slot s = annotator s); some commit, some of those reveal.
        c.labels = new uint256[](c.r);
        for (uint256 s; s < c.r; ++s) {
            assertEq(claimAs(ann(s), c.id), 0, "one task");
            c.labels[s] = _labelsFor(c, s);
        }
        for (uint256 s; s < c.r; ++s) {
            if ((c.committed >> s) & 1 == 1) commitAs(ann(s), c.id, 0, c.labels[s]);
        }
        if (c.committed != full) warpPastCommit(c.id);
        for (uint256 s; s < c.r; ++s) {
            if ((c.revealed >> s) & 1 == 1) revealAs(ann(s), c.id, 0, c.labels[s]);
        }
        if (c.revealed != full) warpPastReveal(c.id);

        _reference(c);
        market.settleTask(c.id, 0);

        _checkSettlement(c);
        uint256 paid = _review(c, resolveUndecided);
        _refundAndDrain(c, paid);
    }

    /// @dev Consensus, payouts, slashes and redistribution match the reference.
    function _checkSettlement(Case memory c) internal view {
        ILabelMarket.Task memory t = market.getTask(c.id, 0);
        assertEq(t.decidedMask, c.decided, "decided items");
        for (uint256 j; j < c.k; ++j) {
            if ((c.decided >> j) & 1 == 1) assertEq(uint256(t.resultLabels).get(j), c.result.get(j), "result");
        }
        assertEq(market.getBatch(c.id).state.paid, c.totalReward, "paid == sum of rewards");
        uint256 distributed;
        for (uint256 s; s < c.r; ++s) {
            address a = ann(s);
            ILabelMarket.Stake memory st = market.stakeOf(a);
            assertEq(market.claimable(a, address(usd)), c.reward[s], "reward");
            assertEq(st.amount, 100 * UNIT - c.slash[s], "stake after slash");
            assertEq(st.locked, 0, "nothing locked after settlement");
            assertLe(c.slash[s], c.stakePer, "slash bounded by the locked stake");
            uint256 share = c.agreedTotal == 0 ? 0 : c.pool * c.agreed[s] / c.agreedTotal;
            assertEq(market.claimable(a, address(token)), share, "pro-rata share of the slash");
            distributed += share;
        }
        uint256 dust = market.claimable(treasury, address(token));
        assertEq(distributed + dust, c.totalSlash, "slash redistributed exactly");
        // The treasury gets the no-reveal penalties plus rounding dust (or the whole pool when nobody agreed).
        if (c.agreedTotal != 0) assertLt(dust - (c.totalSlash - c.pool), c.r, "dust below one wei per agreeing annotator");
    }

    /// @dev The reviewer decides every undecided item (when asked to); each agreeing revealed label is paid once.
    function _review(Case memory c, bool resolveUndecided) internal returns (uint256 paid) {
        paid = c.totalReward;
        if (!resolveUndecided) return paid;
        for (uint256 j; j < c.k; ++j) {
            if ((c.decided >> j) & 1 == 1) continue;
            uint256 label = uint256(keccak256(abi.encode(c.seed, "review", j))) % c.classes;
            uint256 expected;
            for (uint256 s; s < c.r; ++s) {
                if ((c.revealed >> s) & 1 == 1 && c.labels[s].get(j) == label) expected += UNIT;
            }
            vm.prank(reviewer);
            market.resolve(c.id, j, uint8(label));
            paid += expected;
            assertEq(market.getBatch(c.id).state.paid, paid, "review pays agreeing labels");
        }
    }

    /// @dev Refund: paid + refunded == escrow, the market keeps exactly what it owes, collecting drains it.
    function _refundAndDrain(Case memory c, uint256 paid) internal {
        uint256 escrow = c.k * c.r * UNIT;
        warpPastReview(c.id);
        uint256 before = usd.balanceOf(requester);
        market.refund(c.id);
        uint256 refunded = usd.balanceOf(requester) - before;
        assertEq(paid + refunded, escrow, "paid + refunded == escrow");
        uint256 owedUsd;
        uint256 owedToken = market.claimable(treasury, address(token));
        for (uint256 s; s < NUM_ANNOTATORS; ++s) {
            owedUsd += market.claimable(ann(s), address(usd));
            owedToken += market.claimable(ann(s), address(token)) + market.stakeOf(ann(s)).amount;
        }
        assertEq(usd.balanceOf(address(market)), owedUsd, "USD: exactly the credited rewards");
        assertEq(token.balanceOf(address(market)), owedToken, "CCD: exactly stakes + slash credits");
        for (uint256 s; s < c.r; ++s) {
            if (market.claimable(ann(s), address(usd)) != 0) {
                vm.prank(ann(s));
                market.collect(address(usd));
            }
        }
        assertEq(usd.balanceOf(address(market)), 0, "nothing stranded");
    }

    /// @dev All-wrong labels slash exactly taskSize * wrongLabelPenalty; _validate keeps that strictly below
    ///      noRevealPenalty <= stakePerClaim, so the stakePerClaim cap is a safety net that never binds.
    function testFuzz_settle_slashPerWrongLabelNeverExceedsStakePerClaim(uint256 k, uint256 wrong, uint256 extra)
        public
    {
        k = bound(k, 1, 32);
        wrong = bound(wrong, 0, 50 * UNIT);
        uint256 noReveal = wrong * k + bound(extra, 1, 10 * UNIT);
        uint256 stakePer = noReveal + extra % UNIT;
        ILabelMarket.BatchParams memory p = defaultParams();
        p.numItems = uint32(k);
        p.taskSize = uint16(k);
        p.numClasses = 2;
        p.wrongLabelPenalty = uint128(wrong);
        p.noRevealPenalty = uint128(noReveal);
        p.stakePerClaim = uint128(stakePer);
        p.minStake = 0;
        uint256 id = createBatch(p);
        for (uint256 i; i < 3; ++i) {
            stakeAs(ann(i), stakePer);
        }
        uint256 ones;
        for (uint256 j; j < k; ++j) {
            ones = ones.set(j, 1);
        }
        claimCommitReveal(id, three(ones, ones, 0));
        uint256 before = market.stakeOf(ann(2)).amount;
        market.settleTask(id, 0);
        uint256 slashed = before - market.stakeOf(ann(2)).amount;
        assertEq(slashed, k * wrong, "wrongLabelPenalty per wrong label");
        assertLt(slashed, stakePer, "below stakePerClaim");
        assertEq(market.reputationOf(ann(2)).rejected, k, "every label rejected");
        assertEq(
            market.claimable(ann(0), address(token)) + market.claimable(ann(1), address(token))
                + market.claimable(treasury, address(token)),
            2 * k * UNIT + slashed,
            "rewards + redistributed slash"
        );
    }
}
