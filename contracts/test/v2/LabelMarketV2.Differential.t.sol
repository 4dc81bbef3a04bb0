// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {V2Fixture} from "../utils/V2Fixture.sol";
import {MockERC20} from "../utils/Mocks.sol";
import {ILabelMarketV2Types} from "../../interfaces/ILabelMarketV2.sol";
import {LabelPacking} from "../../libraries/LabelPacking.sol";
import {Leaves} from "../../libraries/Leaves.sol";

/// @notice Differential fuzz: v2 settlement and review (rewards, coherence credits, slashes, reputation, treasury,
///         undecided items) equal a plain per-item reference model, on random label matrices, reveal patterns,
///         thresholds, class counts, gold answers (right or wrong) and review decisions. Rewards are paid in a
///         second token so rewards and redistributed stake are compared separately.
contract LabelMarketV2DifferentialTest is V2Fixture {
    using LabelPacking for uint256;
    using LabelPacking for uint64;

    struct Expect {
        uint256[3] reward;
        uint256[3] credit;
        uint256[3] slash;
        uint256[3] accepted;
        uint256[3] rejected;
        uint256[3] goldCorrect;
        uint256[3] goldWrong;
        uint256[3] unrevealed;
        uint256 treasury;
        uint256 undecided;
    }

    struct Case {
        uint256 numClasses;
        uint256 threshold;
        uint256 revealMask;
        bool hasGold;
        uint256 goldItem;
        uint256 goldLabel;
        bool carry; // every lane reveals, each reveal carried by the settlement (before the reveal deadline)
        uint256[3] laneTasks0; // lane -> labels of task 0 and 1 (by task id, not bundle order)
        uint256[3] laneTasks1;
    }

    MockERC20 internal usd;

    function setUp() public override {
        super.setUp();
        usd = new MockERC20("USD", "USD", 18);
        usd.mint(requester, 1_000_000 * UNIT);
        vm.prank(requester);
        usd.approve(address(market), type(uint256).max);
    }

    function _labels(uint256 seed, uint256 lane, uint256 task, uint256 numClasses) internal pure returns (uint256 l) {
        for (uint256 i; i < 4; ++i) {
            uint256 r = uint256(keccak256(abi.encode(seed, lane, task, i)));
            uint256 truth = (task * 7 + i * 3) % numClasses;
            // About a third wrong, so ties, dissent and no-consensus all happen.
            l = l.set(i, r % 3 == 0 ? (truth + 1 + (r >> 8) % (numClasses - 1)) % numClasses : truth);
        }
    }

    function testFuzz_settlementAndReviewEqualTheReference(uint256 seed) public {
        Case memory k = _case(seed);
        (uint256 id, ILabelMarketV2Types.BundleProof[] memory ps) = _run(k, seed);
        Expect memory e = _reference(k);
        _check(id, e);
        assertEq(market.getBatch(id).state.undecided, e.undecided, "undecided items");

        _review(id, k, e, ps, uint8(seed >> 200));
        _check(id, e);
        assertEq(market.getBatch(id).state.undecided, e.undecided, "undecided: decisions no label gave are refused");
    }

    /// @dev Classes, threshold, which lanes reveal, gold (item, right or wrong label) and labels, all from one seed.
    function _case(uint256 seed) internal pure returns (Case memory k) {
        k.numClasses = 2 + seed % 3;
        k.threshold = 1 + (seed >> 8) % 10_000;
        k.revealMask = (seed >> 32) & 7;
        k.hasGold = (seed >> 40) & 1 != 0;
        k.goldItem = (seed >> 41) % 8;
        k.goldLabel = (seed >> 48) % k.numClasses; // right or wrong, whatever the truth is
        k.carry = k.revealMask == 7 && (seed >> 60) & 1 != 0;
        for (uint256 lane; lane < 3; ++lane) {
            k.laneTasks0[lane] = _labels(seed, lane, 0, k.numClasses);
            k.laneTasks1[lane] = _labels(seed, lane, 1, k.numClasses);
        }
    }

    /// @dev The batch of case `k` through create, join, seed, commit, reveal (per the mask, by the annotators or
    ///      carried by the settlement), gold and settlement.
    function _run(Case memory k, uint256 seed)
        internal
        returns (uint256 id, ILabelMarketV2Types.BundleProof[] memory ps)
    {
        bytes32 goldSalt = keccak256(abi.encode("gold", seed));
        id = _createCase(k, goldSalt);
        Held[] memory hs = _joinAndCommit(id, k);
        if (k.hasGold) _revealGold(id, k, goldSalt);
        if (!k.carry) warpPastReveal(id);
        ps = new ILabelMarketV2Types.BundleProof[](3);
        for (uint256 lane; lane < 3; ++lane) {
            if (k.carry) ps[lane] = carried(hs[lane]);
            else if ((k.revealMask >> lane) & 1 != 0) ps[lane] = revealed(hs[lane]);
            else ps[lane] = unrevealed(id, hs[lane]);
        }
        market.settle(id, allTasks(id), ps);
    }

    function _createCase(Case memory k, bytes32 goldSalt) internal returns (uint256) {
        ILabelMarketV2Types.BatchParams memory p = defaultParams();
        p.rewardToken = address(usd);
        p.numClasses = uint8(k.numClasses);
        p.thresholdBps = uint16(k.threshold);
        if (k.hasGold) {
            p.goldRoot = Leaves.goldLeaf(k.goldItem, k.goldLabel, goldSalt);
            p.goldCount = 1;
            p.goldBond = 1;
        }
        return create(p);
    }

    function _joinAndCommit(uint256 id, Case memory k) internal returns (Held[] memory hs) {
        hs = new Held[](3);
        for (uint256 lane; lane < 3; ++lane) {
            hs[lane] = joinAs(ann(lane), id, 2);
        }
        seedRound(id, 1);
        for (uint256 lane; lane < 3; ++lane) {
            _fill(id, hs[lane], k, lane);
            commitAs(id, hs[lane]);
        }
        for (uint256 lane; lane < 3 && !k.carry; ++lane) {
            if ((k.revealMask >> lane) & 1 != 0) revealAs(id, hs[lane]);
        }
    }

    function _revealGold(uint256 id, Case memory k, bytes32 goldSalt) internal {
        warpPastCommit(id);
        ILabelMarketV2Types.GoldAnswer[] memory g = new ILabelMarketV2Types.GoldAnswer[](1);
        g[0] = ILabelMarketV2Types.GoldAnswer(uint32(k.goldItem), uint8(k.goldLabel), goldSalt, new bytes32[](0));
        market.revealGold(id, g);
    }

    /// @dev Every undecided item gets a decision drawn from the fuzz input; the reference pays the matching labels.
    function _review(
        uint256 id,
        Case memory k,
        Expect memory e,
        ILabelMarketV2Types.BundleProof[] memory ps,
        uint8 reviewRaw
    ) internal {
        for (uint256 item; item < 8; ++item) {
            if (!_undecided(k, item)) continue;
            uint256 decision = uint256(keccak256(abi.encode(reviewRaw, item))) % k.numClasses;
            uint256 agreeing;
            for (uint256 lane; lane < 3; ++lane) {
                if ((k.revealMask >> lane) & 1 != 0 && _laneLabel(k, lane, item) == decision) ++agreeing;
            }
            if (agreeing == 0) {
                // A class nobody gave is refused; the item stays undecided (its escrow goes to the treasury).
                vm.prank(reviewer);
                vm.expectRevert(
                    abi.encodeWithSelector(ILabelMarketV2Types.DecisionWithoutLabel.selector, item, decision)
                );
                market.resolve(id, item, uint8(decision), ps);
                continue;
            }
            _resolveAs(id, item, decision, ps);
            for (uint256 lane; lane < 3; ++lane) {
                if ((k.revealMask >> lane) & 1 == 0) continue;
                if (_laneLabel(k, lane, item) == decision) {
                    e.reward[lane] += 1 * UNIT;
                    e.accepted[lane] += 1;
                }
            }
            e.undecided -= 1;
        }
    }

    function _resolveAs(uint256 id, uint256 item, uint256 decision, ILabelMarketV2Types.BundleProof[] memory ps)
        internal
    {
        vm.prank(reviewer);
        market.resolve(id, item, uint8(decision), ps);
    }

    /// @dev Puts the lane's labels for task 0 and task 1 in the bundle's order (the seed decides which is first).
    function _fill(uint256 id, Held memory h, Case memory k, uint256 lane) internal view {
        h.tasks = new uint256[](2);
        h.words = new uint256[](1);
        for (uint256 m; m < 2; ++m) {
            uint256 t = market.taskAt(id, h.bundle.lane, 1, uint256(h.bundle.first) + m);
            h.tasks[m] = t;
            uint256 labels = t == 0 ? k.laneTasks0[lane] : k.laneTasks1[lane];
            h.words[0] |= labels << (128 * m);
        }
    }

    function _laneLabel(Case memory k, uint256 lane, uint256 item) internal pure returns (uint256) {
        return (item < 4 ? k.laneTasks0[lane] : k.laneTasks1[lane]).get(item % 4);
    }

    function _isGold(Case memory k, uint256 item) internal pure returns (bool) {
        return k.hasGold && item == k.goldItem;
    }

    /// @dev The plain per-item consensus of the revealed lanes.
    function _vote(Case memory k, uint256 item) internal pure returns (bool reached, uint256 label, uint256 votes) {
        uint64 tally;
        for (uint256 lane; lane < 3; ++lane) {
            if ((k.revealMask >> lane) & 1 != 0) tally = tally.addVote(_laneLabel(k, lane, item));
        }
        (reached, label) = tally.consensus(k.numClasses, k.threshold);
        votes = tally.votes(label);
    }

    function _undecided(Case memory k, uint256 item) internal pure returns (bool) {
        if (_isGold(k, item) || k.revealMask == 0) return false;
        (bool reached,,) = _vote(k, item);
        return !reached;
    }

    /// @dev The reference: item by item, lane by lane, with the per-item coherence pool.
    function _reference(Case memory k) internal pure returns (Expect memory e) {
        uint256 penalty = 2 * UNIT;
        for (uint256 lane; lane < 3; ++lane) {
            if ((k.revealMask >> lane) & 1 == 0) {
                e.slash[lane] += 2 * 10 * UNIT; // two tasks never revealed
                e.unrevealed[lane] += 2;
                e.treasury += 2 * 10 * UNIT;
            }
        }
        for (uint256 item; item < 8; ++item) {
            if (_isGold(k, item)) {
                for (uint256 lane; lane < 3; ++lane) {
                    if ((k.revealMask >> lane) & 1 == 0) continue;
                    if (_laneLabel(k, lane, item) == k.goldLabel) {
                        e.reward[lane] += UNIT;
                        e.goldCorrect[lane] += 1;
                    } else {
                        e.slash[lane] += penalty;
                        e.goldWrong[lane] += 1;
                        e.treasury += penalty;
                    }
                }
                continue;
            }
            (bool reached, uint256 label, uint256 agreeing) = _vote(k, item);
            if (!reached) {
                if (k.revealMask != 0) e.undecided += 1;
                continue;
            }
            uint256 dissenting;
            for (uint256 lane; lane < 3; ++lane) {
                if ((k.revealMask >> lane) & 1 == 0) continue;
                if (_laneLabel(k, lane, item) == label) {
                    e.reward[lane] += UNIT;
                    e.accepted[lane] += 1;
                } else {
                    e.slash[lane] += penalty;
                    e.rejected[lane] += 1;
                    ++dissenting;
                }
            }
            if (dissenting == 0) continue;
            uint256 share = dissenting * penalty / agreeing;
            for (uint256 lane; lane < 3; ++lane) {
                if ((k.revealMask >> lane) & 1 != 0 && _laneLabel(k, lane, item) == label) e.credit[lane] += share;
            }
            e.treasury += dissenting * penalty - share * agreeing;
        }
    }

    function _check(uint256 id, Expect memory e) internal view {
        uint256 paid;
        for (uint256 lane; lane < 3; ++lane) {
            address a = ann(lane);
            assertEq(market.claimable(a, address(usd)), e.reward[lane], "rewards");
            assertEq(market.claimable(a, address(token)), e.credit[lane], "coherence credit");
            assertEq(market.accountOf(a).amount, STAKE - e.slash[lane], "slash");
            assertEq(market.accountOf(a).locked, 0, "unlocked");
            ILabelMarketV2Types.Reputation memory r = market.reputationOf(a, requester);
            assertEq(r.accepted, e.accepted[lane], "accepted");
            assertEq(r.rejected, e.rejected[lane], "rejected");
            assertEq(r.goldCorrect, e.goldCorrect[lane], "gold correct");
            assertEq(r.goldWrong, e.goldWrong[lane], "gold wrong");
            assertEq(r.unrevealed, e.unrevealed[lane], "unrevealed");
            paid += e.reward[lane];
        }
        assertEq(market.claimable(treasury, address(token)), e.treasury, "treasury");
        assertEq(market.getBatch(id).state.paid, paid, "paid");
    }
}
