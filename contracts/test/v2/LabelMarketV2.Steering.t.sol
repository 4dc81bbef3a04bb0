// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {V2Fixture} from "../utils/V2Fixture.sol";
import {LabelMarketV2} from "../../LabelMarketV2.sol";
import {ILabelMarketV2Types} from "../../interfaces/ILabelMarketV2.sol";

/// @notice An identity that is a contract: it joins and reverts unless the join landed it on `target` — the attack
///         that steered v1's `claim`.
contract Steerer {
    function stake(LabelMarketV2 m, IERC20 token, uint256 amount) external {
        token.approve(address(m), amount);
        m.stake(amount);
    }

    function joinIfTarget(LabelMarketV2 m, uint256 id, uint256 target) external {
        (, uint256 size) = m.join(id, 2);
        (, uint256 lane, uint256 round) = m.memberOf(id, address(this));
        uint256 first = m.getLaneRound(id, round, lane).taken - size;
        m.drawSeed(id, round); // the seed is the hash of a block after the seal: not there yet
        for (uint256 i; i < size; ++i) {
            if (m.taskAt(id, lane, round, first + i) == target) return;
        }
        revert("not the target");
    }
}

/// @notice Assignment cannot be steered: a join learns nothing about its tasks inside its own transaction (so
///         "join and revert unless" has nothing to test against, in any block), and over many seeds two colluding
///         identities share a task as often as independent uniform lanes predict.
contract LabelMarketV2SteeringTest is V2Fixture {
    function test_steering_aContractCannotSeeItsTasksInsideTheJoin() public {
        uint256 id = create(defaultParams());
        Steerer s = new Steerer();
        vm.prank(treasury);
        require(token.transfer(address(s), 1_000 * UNIT));
        s.stake(market, token, 1_000 * UNIT);
        // Retried in many blocks of the join window, before and after honest joins: the seed never exists yet.
        for (uint256 b; b < 20; ++b) {
            vm.roll(1_000 + b);
            if (b == 10) joinAs(ann(0), id, 2);
            vm.expectRevert(abi.encodeWithSelector(ILabelMarketV2Types.SeedNotReady.selector, 1, 0));
            s.joinIfTarget(market, id, 1);
        }
        // Even the join that fills the round (and seals it) cannot read the seed: it is the next block's hash.
        joinAs(ann(1), id, 2);
        vm.roll(2_000);
        vm.expectRevert(abi.encodeWithSelector(ILabelMarketV2Types.SeedNotReady.selector, 1, 2_002));
        s.joinIfTarget(market, id, 1);
        assertEq(market.accountOf(address(s)).locked, 0, "every attempt reverted: nothing joined");
    }

    /// @notice Two colluders (lanes 0 and 1) each take M = 2 of T = 50 tasks. With the seed unknown at join time,
    ///         their lanes are independent uniform permutations, so P(share a task) = 1 - C(48,2)/C(50,2) = 97/1225
    ///         (0.0792). Over 400 seeds: expected 31.7 shares, sigma 5.4; the count must stay within 3 sigma.
    function test_steering_collidersShareATaskOnlyAsOftenAsChance() public {
        ILabelMarketV2Types.BatchParams memory p = defaultParams();
        p.numItems = 50 * 4; // T = 50
        p.replicas = 2;
        p.squatPenalty = 1; // the trials expire their bundles to free the stake for the next one
        p.minReputation = type(int64).min;
        uint256 trials = 400;
        uint256 shared;
        for (uint256 k; k < trials; ++k) {
            uint256 id = create(p);
            // The colluders join in a block of their choosing; it cannot matter.
            vm.roll(vm.getBlockNumber() + 1 + (k % 7));
            Held memory a = joinAs(ann(8), id, 2);
            vm.roll(vm.getBlockNumber() + 1 + (k % 3));
            Held memory b = joinAs(ann(9), id, 2);
            assertTrue(a.bundle.lane != b.bundle.lane, "different lanes");
            ILabelMarketV2Types.Round memory r = market.getRound(id, 1);
            vm.warp(uint256(r.joinEnd) + 1);
            market.seal(id);
            uint256 sealBlock = vm.getBlockNumber();
            vm.roll(sealBlock + 2);
            vm.setBlockhash(sealBlock + 1, keccak256(abi.encode("trial", k)));
            market.drawSeed(id, 1);
            uint256 a0 = market.taskAt(id, a.bundle.lane, 1, a.bundle.first);
            uint256 a1 = market.taskAt(id, a.bundle.lane, 1, uint256(a.bundle.first) + 1);
            uint256 b0 = market.taskAt(id, b.bundle.lane, 1, b.bundle.first);
            uint256 b1 = market.taskAt(id, b.bundle.lane, 1, uint256(b.bundle.first) + 1);
            if (a0 == b0 || a0 == b1 || a1 == b0 || a1 == b1) ++shared;
            // Next trial from a clean slate: unlock by expiring after the commit window.
            vm.warp(uint256(r.commitEnd) + 1);
            market.expire(id, a.id, a.bundle);
            market.expire(id, b.id, b.bundle);
        }
        // expected = 400 x 97/1225 = 31.67; sigma = sqrt(400 x 0.0792 x 0.9208) = 5.40
        assertLe(shared, 48, "at most expected + 3 sigma: no steering");
        assertGe(shared, 16, "at least expected - 3 sigma: the permutation spreads tasks");
    }
}
