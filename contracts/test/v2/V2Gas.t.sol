// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {V2Fixture} from "../utils/V2Fixture.sol";
import {CreditTree} from "../utils/CreditTree.sol";
import {Vm} from "../utils/Vm.sol";
import {ILabelMarketV2Types, ILabelMarketV2Optimistic, ILabelMarketV2Relay} from "../../interfaces/ILabelMarketV2.sol";
import {LabelMarketV2Settlement} from "../../LabelMarketV2Settlement.sol";

/// @notice Gas of protocol v2 at the shape of the issue's target (k = 32 items per task, r = 3, C = 4, bundles of
///         M = 8 tasks):
///         - fixed-input tests, one market call each on a batch of 8 tasks prepared in `setUp`, recorded by
///           `forge snapshot --match-contract GasTest` in .gas-snapshot (`make gas-check` fails when they move);
///         - `test_gas_v2_workload`: a whole batch of 96 tasks (9,216 labels) done by 9 annotators with 4 bundles
///           each (4 join rounds), ~9 % wrong labels, logging the all-in gas per label of each phase: every
///           transaction's 21,000 base, its calldata (EIP-7623: max(4 gas per token + execution, 10 gas per token),
///           a token per zero byte and 4 per non-zero byte) and its execution gas, measured with `gasleft()` around
///           the call after `vm.cool` (so storage is as cold as in a transaction of its own; the callee's cold
///           account surcharge, which a transaction's intrinsic cost covers, is taken off). Gas refunds (a cleared
///           slot) are not deducted, so the numbers are an upper bound of what receipts show. Run it with
///           `forge test --match-test test_gas_v2_workload -vv` to see the log.
contract V2GasTest is V2Fixture {
    bytes32 internal constant _RELAYED_JOIN_TYPEHASH =
        keccak256("RelayedJoin(uint256 batchId,uint256 round,uint256 maxTasks,uint256 stake)");
    bytes32 internal constant _RELAYED_COMMIT_TYPEHASH = keccak256(
        "RelayedCommit(uint256 batchId,uint256 bundleId,bytes32 commitHash,bytes32 backupHash,uint256 maxTasks)"
    );

    event log_named_uint(string key, uint256 val);

    uint256 internal constant K = 32;
    uint256 internal constant R = 3;
    uint256 internal constant M = 8;

    uint256 internal joinId;
    uint256 internal commitId;
    uint256 internal revealId;
    uint256 internal settleId;
    uint256 internal expireId;
    uint256 internal collectId;
    Held internal commitHeld;
    Held internal revealHeld;
    Held internal expireHeld;
    Held[] internal settleHelds;
    address internal fresh = address(0xF2E5);

    /// @dev k = 32, r = 3, C = 4, M = 8 over `numTasks` tasks; stake and penalties sized for 32 items per task.
    function gasParams(uint256 numTasks) internal view returns (ILabelMarketV2Types.BatchParams memory p) {
        p = defaultParams();
        p.numItems = uint32(numTasks * K);
        p.taskSize = uint16(K);
        p.replicas = uint8(R);
        p.numClasses = 4;
        p.maxBundle = uint8(M);
        p.stakePerTask = 5e18;
        p.wrongLabelPenalty = 0.1e18;
        p.noRevealPenalty = 4e18;
        p.squatPenalty = 1e18;
        p.minStake = 10e18;
    }

    function setUp() public override {
        super.setUp();
        // Expire first: its window must be over before the other batches start their clocks.
        expireId = create(gasParams(8));
        expireHeld = joinAs(ann(0), expireId, M);
        vm.warp(uint256(market.getRound(expireId, 1).commitEnd) + 1);

        joinId = create(gasParams(8));

        commitId = create(gasParams(8));
        Held memory h = joinAs(ann(0), commitId, M);
        joinAs(ann(1), commitId, M);
        joinAs(ann(2), commitId, M);
        seedRound(commitId, 1);
        label(commitId, h, 0);
        commitHeld = h;

        revealId = create(gasParams(8));
        Held[] memory hs = fullRoundCommitted(revealId, three(0, 0, 0x21));
        revealHeld = hs[0];

        settleId = create(gasParams(8));
        hs = fullRoundCommitted(settleId, three(0, 0x400, 0x21));
        for (uint256 i; i < R; ++i) {
            revealAs(settleId, hs[i]);
            settleHelds.push(hs[i]);
        }

        collectId = create(gasParams(8));
        hs = fullRoundCommitted(collectId, three(0, 0, 0x21));
        for (uint256 i; i < R; ++i) {
            revealAs(collectId, hs[i]);
        }
        settleAll(collectId, hs);

        vm.prank(treasury);
        require(token.transfer(fresh, 1_000 * UNIT));
        vm.prank(fresh);
        token.approve(address(market), type(uint256).max);
    }

    // ------------------------------------------------------------------------------------------------
    // One call each (recorded in .gas-snapshot)
    // ------------------------------------------------------------------------------------------------

    function test_gas_v2_stake() public {
        vm.prank(fresh);
        market.stake(100 * UNIT);
        assertEq(market.accountOf(fresh).amount, 100 * UNIT, "staked");
    }

    /// @dev The batch's first join: the annotator's first in the batch.
    function test_gas_v2_join() public {
        vm.prank(ann(0));
        (, uint256 size) = market.join(joinId, M);
        assertEq(size, M, "a full bundle");
    }

    /// @dev The round's first commit (its seed already drawn).
    function test_gas_v2_commit() public {
        commitAs(commitId, commitHeld);
        assertEq(uint256(market.bundleStatus(commitId, commitHeld.id)), 2, "committed");
    }

    function test_gas_v2_reveal() public {
        revealAs(revealId, revealHeld);
        assertEq(uint256(market.bundleStatus(revealId, revealHeld.id)), 3, "revealed");
    }

    /// @dev 8 tasks from the 3 bundles holding them (one whole lane each), some labels wrong.
    function test_gas_v2_settle() public {
        Held[] memory hs = settleHelds;
        assertEq(settleAll(settleId, hs), 8, "8 tasks");
    }

    function test_gas_v2_expire() public {
        market.expire(expireId, expireHeld.id, expireHeld.bundle);
        assertEq(uint256(market.bundleStatus(expireId, expireHeld.id)), 0, "expired");
    }

    function test_gas_v2_collect() public {
        vm.prank(ann(0));
        assertGt(market.collect(address(token)), 0, "collected");
    }

    // ------------------------------------------------------------------------------------------------
    // A whole batch: all-in gas per label by phase
    // ------------------------------------------------------------------------------------------------

    uint256 internal constant W_TASKS = 96;
    uint256 internal constant W_ANNOTATORS = 9;

    enum Phase {
        Approve,
        Stake,
        Join,
        Seal,
        Commit,
        Reveal,
        Settle,
        Collect
    }

    uint256[8] internal phaseGas;
    uint256[8] internal phaseExec;
    uint256[8] internal phaseTxs;
    address[] internal workers;
    Held[] internal work;

    /// @dev Runs `data` from `from` to `to` as if it were a transaction of its own and books its all-in gas.
    function _tx(Phase phase, address from, address to, bytes memory data) internal returns (bytes memory ret) {
        vm.cool(address(market));
        vm.cool(market.SETTLEMENT());
        vm.cool(LabelMarketV2Settlement(market.SETTLEMENT()).OPTIMISTIC());
        vm.cool(LabelMarketV2Settlement(market.SETTLEMENT()).RELAY());
        vm.cool(address(token));
        vm.prank(from);
        uint256 g = gasleft();
        bool ok;
        (ok, ret) = to.call(data);
        uint256 used = g - gasleft();
        if (!ok) {
            assembly ("memory-safe") {
                revert(add(ret, 0x20), mload(ret))
            }
        }
        uint256 exec = used - 2600; // the callee's cold account access: in a transaction, `to` is warm
        uint256 tokens;
        for (uint256 i; i < data.length; ++i) {
            tokens += data[i] == 0 ? 1 : 4;
        }
        uint256 standard = 4 * tokens + exec;
        uint256 floor = 10 * tokens;
        phaseGas[uint256(phase)] += 21_000 + (standard > floor ? standard : floor);
        phaseExec[uint256(phase)] += exec;
        phaseTxs[uint256(phase)] += 1;
    }

    /// @dev ~9 % wrong: 3 of the 32 items of every task of a bundle, different per annotator and round.
    function _wrong(uint256 i, uint256 round) internal pure returns (uint256) {
        uint256 s = i * 7 + round * 5;
        return (1 << (s % 32)) | (1 << ((s + 11) % 32)) | (1 << ((s + 22) % 32));
    }

    function test_gas_v2_workload() public {
        _workload(false, false);
    }

    /// @dev The same batch with every reveal carried by the settlement (labels and salts handed to the settler):
    ///      no reveal transactions.
    function test_gas_v2_workload_carriedReveals() public {
        _workload(true, false);
    }

    /// @dev Reveals carried, and every commit but the last round's joins the next round in the same transaction
    ///      (`commitAndJoin`, booked under "commit"; "join" is round 1's joins only, "seal" includes the calls that
    ///      open rounds 2-4).
    function test_gas_v2_workload_folded() public {
        _workload(true, true);
    }

    /// @dev The folded batch settled optimistically (booked under "settle"): the requester proposes every bundle's
    ///      credit with the carried reveals, finalizes after the challenge window, and claims every bundle in one
    ///      transaction (`claimAll`). The batch has no reviewer (optimistic settlement
    ///      is for batches without one).
    function test_gas_v2_workload_optimistic() public {
        optimistic = true;
        _workload(true, true);
    }

    /// @dev The optimistic batch with every round's commits (each but the last round's joining the next round)
    ///      signed by their annotators and sent by the requester in one `relayCommits` transaction per round
    ///      (booked under "commit"), and the first joins, each staking through a permit, in one `relayJoins`
    ///      (booked under "join": the workers send no approve or stake).
    function test_gas_v2_workload_relayed() public {
        optimistic = true;
        relayed = true;
        _workload(true, true);
    }

    bool internal optimistic;
    bool internal relayed;

    function _workload(bool carry, bool fold) internal {
        ILabelMarketV2Types.BatchParams memory params = gasParams(W_TASKS);
        if (optimistic) params.reviewer = address(0);
        uint256 id = create(params);
        for (uint256 i; i < W_ANNOTATORS; ++i) {
            address a = vm.addr(0xB000 + i);
            workers.push(a);
            vm.prank(treasury);
            require(token.transfer(a, 1_000 * UNIT));
            // Relayed: each worker stakes with its first join, through a permit (`_relayJoinStep`).
            if (relayed) continue;
            _tx(Phase.Approve, a, address(token), abi.encodeCall(token.approve, (address(market), type(uint256).max)));
            _tx(Phase.Stake, a, address(market), abi.encodeCall(market.stake, (200 * UNIT)));
        }
        uint256 rounds = W_TASKS * R / (W_ANNOTATORS * M);
        for (uint256 round = 1; round <= rounds; ++round) {
            uint256 firstOfRound = (round - 1) * W_ANNOTATORS;
            if (round == 1 && relayed) {
                _relayJoinStep(id);
            } else if (round == 1 || !fold) {
                for (uint256 i; i < W_ANNOTATORS; ++i) {
                    bytes memory ret =
                        _tx(Phase.Join, workers[i], address(market), abi.encodeCall(market.join, (id, M)));
                    (uint256 bundleId, uint256 size) = abi.decode(ret, (uint256, uint256));
                    work.push(heldAfterJoin(id, workers[i], bundleId, size));
                }
            } else {
                // Every member reserved in this round with its last commit: open it.
                _tx(Phase.Seal, workers[0], address(market), abi.encodeCall(market.seal, (id)));
            }
            ILabelMarketV2Types.Round memory r = market.getRound(id, round);
            if (r.sealBlock == 0) {
                vm.warp(uint256(r.joinEnd) + 1);
                _tx(Phase.Seal, workers[0], address(market), abi.encodeCall(market.seal, (id)));
                r = market.getRound(id, round);
            }
            vm.roll(uint256(r.sealBlock) + 2);
            vm.setBlockhash(uint256(r.sealBlock) + 1, keccak256(abi.encode("block", id, round)));
            // The client maps its tickets off-chain; here the market does, on a state thrown away afterwards so
            // that the round's first commit still stores the seed.
            Held[] memory hs = new Held[](W_ANNOTATORS);
            uint256 snap = vm.snapshotState();
            market.drawSeed(id, round);
            for (uint256 i; i < W_ANNOTATORS; ++i) {
                hs[i] = work[firstOfRound + i];
                label(id, hs[i], _wrong(i, round));
            }
            vm.revertToState(snap);
            for (uint256 i; i < W_ANNOTATORS; ++i) {
                work[firstOfRound + i] = hs[i];
                if (!relayed) _commitStep(id, hs[i], fold && round < rounds);
            }
            if (relayed) _relayStep(id, hs, round < rounds);
            if (round < rounds) vm.warp(uint256(r.commitEnd) + 1);
        }
        assertEq(market.getBatch(id).state.committed, W_TASKS * R, "every position committed");
        for (uint256 b; b < work.length && !carry; ++b) {
            Held memory h = work[b];
            _tx(
                Phase.Reveal,
                h.bundle.annotator,
                address(market),
                abi.encodeCall(market.reveal, (id, h.id, h.bundle, h.words, h.salt))
            );
        }
        // As the client sends them: each annotator's bundles side by side (its account written once).
        Held[] memory byAnnotator = new Held[](work.length);
        uint256 n;
        for (uint256 i; i < W_ANNOTATORS; ++i) {
            for (uint256 b; b < work.length; ++b) {
                if (work[b].bundle.annotator == workers[i]) byAnnotator[n++] = work[b];
            }
        }
        ILabelMarketV2Types.BundleProof[] memory proofs = proofsOf(byAnnotator);
        for (uint256 b; b < proofs.length && carry; ++b) {
            proofs[b].salt = byAnnotator[b].salt;
        }
        if (optimistic) {
            _settleOptimistic(id);
        } else {
            _tx(Phase.Settle, requester, address(market), abi.encodeCall(market.settle, (id, allTasks(id), proofs)));
        }
        assertEq(market.getBatch(id).state.tasksSettled, W_TASKS, "every task settled");
        // An optimistic claim pays annotators directly: nothing is left to collect.
        for (uint256 i; i < W_ANNOTATORS; ++i) {
            if (market.claimable(workers[i], address(token)) == 0) {
                assertTrue(optimistic, "settle credits every annotator");
                continue;
            }
            _tx(Phase.Collect, workers[i], address(market), abi.encodeCall(market.collect, (address(token))));
        }
        _report(id);
    }

    /// @dev Propose (credits from `tally`, computed off-chain), finalize, and one `claimAll`.
    function _settleOptimistic(uint256 id) internal {
        ILabelMarketV2Optimistic opt = ILabelMarketV2Optimistic(address(market));
        ILabelMarketV2Types.BundleProof[] memory reveals = new ILabelMarketV2Types.BundleProof[](work.length);
        for (uint256 b; b < work.length; ++b) {
            reveals[b] = carried(work[b]); // `work` is in bundle order
        }
        uint256 snap = vm.snapshotState();
        uint256[] memory t = opt.tally(id, allTasks(id), reveals);
        vm.revertToState(snap);
        uint256[] memory credits = new uint256[](2 * market.getBatch(id).state.bundles);
        for (uint256 b; b < reveals.length; ++b) {
            uint256 i = reveals[b].id;
            credits[2 * i] = (uint256(uint160(reveals[b].bundle.annotator)) << 96) | t[2 * b];
            credits[2 * i + 1] = t[2 * b + 1];
        }
        uint256 g = phaseGas[uint256(Phase.Settle)];
        _tx(Phase.Settle, requester, address(market), abi.encodeCall(opt.propose, (id, reveals, credits)));
        emit log_named_uint("propose all-in gas", phaseGas[uint256(Phase.Settle)] - g);
        vm.warp(uint256(opt.proposalOf(id).challengeEnd) + 1);
        g = phaseGas[uint256(Phase.Settle)];
        _tx(Phase.Settle, requester, address(market), abi.encodeCall(opt.finalize, (id)));
        emit log_named_uint("finalize all-in gas", phaseGas[uint256(Phase.Settle)] - g);
        g = phaseGas[uint256(Phase.Settle)];
        uint256 reward = market.getBatch(id).config.rewardPerLabel;
        uint256[] memory owed = new uint256[](W_ANNOTATORS);
        uint256[] memory before = new uint256[](W_ANNOTATORS);
        for (uint256 i; i < W_ANNOTATORS; ++i) {
            before[i] = token.balanceOf(workers[i]);
        }
        vm.recordLogs();
        _tx(Phase.Settle, requester, address(market), abi.encodeCall(opt.claimAll, (id, credits)));
        // Each annotator got exactly its bundles' rewards and coherence shares, summed over its bundles.
        for (uint256 b; b < credits.length / 2; ++b) {
            uint256 c = credits[2 * b];
            for (uint256 i; i < W_ANNOTATORS; ++i) {
                if (address(uint160(c >> 96)) != workers[i]) continue;
                uint256 accepted = ((c >> 16) & 0xFFFF) + ((c >> 48) & 0xFFFF);
                owed[i] += accepted * reward + (credits[2 * b + 1] & type(uint128).max);
            }
        }
        for (uint256 i; i < W_ANNOTATORS; ++i) {
            assertEq(token.balanceOf(workers[i]) - before[i], owed[i], "paid its bundles' credits");
        }
        emit log_named_uint("claim all-in gas", phaseGas[uint256(Phase.Settle)] - g);
        Vm.Log[] memory logs = vm.getRecordedLogs();
        uint256 payments;
        for (uint256 i; i < logs.length; ++i) {
            if (logs[i].topics[0] == ILabelMarketV2Types.Collected.selector) ++payments;
        }
        // Bundle ids interleave annotators (each joins once per round): still one payment per annotator.
        assertGt(credits.length / 2, W_ANNOTATORS, "annotators hold several bundles");
        assertEq(payments, W_ANNOTATORS, "one payment per annotator");
    }

    /// @dev Commits `h`; with `joinNext`, joins the next round in the same transaction and keeps the new bundle.
    function _commitStep(uint256 id, Held memory h, bool joinNext) internal {
        bytes32 ch = market.commitHashOf(id, h.id, h.bundle.annotator, h.words, h.salt);
        bytes memory data = joinNext
            ? abi.encodeCall(market.commitAndJoin, (id, h.id, h.bundle, ch, "", M))
            : abi.encodeCall(market.commit, (id, h.id, h.bundle, ch, ""));
        bytes memory ret = _tx(Phase.Commit, h.bundle.annotator, address(market), data);
        if (!joinNext) return;
        (uint256 nextId, uint256 size) = abi.decode(ret, (uint256, uint256));
        work.push(heldAfterJoin(id, h.bundle.annotator, nextId, size));
    }

    /// @dev One transaction from the requester with every annotator's signed commit of the round (and its join of
    ///      the next round); the reserved bundles are read from the `Joined` events.
    function _relayStep(uint256 id, Held[] memory hs, bool joinNext) internal {
        ILabelMarketV2Types.RelayedCommit[] memory rcs = new ILabelMarketV2Types.RelayedCommit[](hs.length);
        ILabelMarketV2Relay opt = ILabelMarketV2Relay(address(market));
        for (uint256 i; i < hs.length; ++i) {
            Held memory h = hs[i];
            ILabelMarketV2Types.RelayedCommit memory rc = rcs[i];
            rc.bundleId = uint32(h.id);
            rc.maxTasks = joinNext ? uint8(M) : 0;
            rc.bundle = h.bundle;
            rc.commitHash = market.commitHashOf(id, h.id, h.bundle.annotator, h.words, h.salt);
            bytes32 digest = keccak256(
                abi.encodePacked(
                    "\x19\x01",
                    market.domainSeparator(),
                    keccak256(
                        abi.encode(_RELAYED_COMMIT_TYPEHASH, id, h.id, rc.commitHash, keccak256(rc.backup), rc.maxTasks)
                    )
                )
            );
            (uint8 v, bytes32 r, bytes32 sig) = vm.sign(_workerKey(h.bundle.annotator), digest);
            rc.signature = abi.encodePacked(r, sig, v);
        }
        vm.recordLogs();
        _tx(Phase.Commit, requester, address(market), abi.encodeCall(opt.relayCommits, (id, rcs)));
        _pushJoined(id, vm.getRecordedLogs());
    }

    /// @dev Every worker's first join, staking 200 tokens through its permit, signed by it and sent by the
    ///      requester in one `relayJoins` transaction (booked under "join").
    function _relayJoinStep(uint256 id) internal {
        ILabelMarketV2Types.RelayedJoin[] memory rjs = new ILabelMarketV2Types.RelayedJoin[](W_ANNOTATORS);
        uint256 round = market.getBatch(id).state.round;
        for (uint256 i; i < W_ANNOTATORS; ++i) {
            ILabelMarketV2Types.RelayedJoin memory rj = rjs[i];
            (rj.annotator, rj.maxTasks, rj.stake) = (workers[i], uint8(M), uint96(200 * UNIT));
            rj.deadline = uint40(block.timestamp + 1 days);
            bytes32 permit = keccak256(
                abi.encode(
                    keccak256("Permit(address owner,address spender,uint256 value,uint256 nonce,uint256 deadline)"),
                    workers[i],
                    address(market),
                    200 * UNIT,
                    token.nonces(workers[i]),
                    rj.deadline
                )
            );
            (rj.v, rj.r, rj.s) =
                vm.sign(0xB000 + i, keccak256(abi.encodePacked("\x19\x01", token.DOMAIN_SEPARATOR(), permit)));
            bytes32 digest = keccak256(
                abi.encodePacked(
                    "\x19\x01",
                    market.domainSeparator(),
                    keccak256(abi.encode(_RELAYED_JOIN_TYPEHASH, id, round, M, 200 * UNIT))
                )
            );
            (uint8 v, bytes32 r, bytes32 sig) = vm.sign(0xB000 + i, digest);
            rj.signature = abi.encodePacked(r, sig, v);
        }
        vm.recordLogs();
        _tx(
            Phase.Join,
            requester,
            address(market),
            abi.encodeCall(ILabelMarketV2Relay(address(market)).relayJoins, (id, rjs))
        );
        _pushJoined(id, vm.getRecordedLogs());
    }

    /// @dev The bundles `Joined` events of `logs` hold, appended to the work list.
    function _pushJoined(uint256 id, Vm.Log[] memory logs) internal {
        for (uint256 k; k < logs.length; ++k) {
            if (logs[k].topics[0] != ILabelMarketV2Types.Joined.selector) continue;
            Held memory next;
            next.id = uint256(logs[k].topics[2]);
            (next.bundle,) = abi.decode(logs[k].data, (ILabelMarketV2Types.Bundle, uint256));
            next.salt = keccak256(abi.encode("salt", id, next.id));
            work.push(next);
        }
    }

    function _workerKey(address a) internal view returns (uint256) {
        for (uint256 i; i < W_ANNOTATORS; ++i) {
            if (workers[i] == a) return 0xB000 + i;
        }
        revert("not a worker");
    }

    function _report(uint256 id) internal {
        uint256 labels = W_TASKS * K * R;
        uint256 accepted;
        for (uint256 i; i < W_ANNOTATORS; ++i) {
            accepted += market.reputationOf(workers[i], requester).accepted;
        }
        string[8] memory names = ["approve", "stake", "join", "seal", "commit", "reveal", "settle", "collect"];
        uint256 total;
        emit log_named_uint("labels", labels);
        emit log_named_uint("accepted labels", accepted);
        emit log_named_uint("annotators", W_ANNOTATORS);
        emit log_named_uint("bundles", work.length);
        for (uint256 p; p < 8; ++p) {
            total += phaseGas[p];
            emit log_named_uint(string.concat(names[p], " txs"), phaseTxs[p]);
            if (phaseTxs[p] != 0) {
                emit log_named_uint(string.concat(names[p], " execution gas per tx"), phaseExec[p] / phaseTxs[p]);
            }
            emit log_named_uint(string.concat(names[p], " all-in gas per label x100"), phaseGas[p] * 100 / labels);
        }
        emit log_named_uint("TOTAL all-in gas per label x100", total * 100 / labels);
        emit log_named_uint("TOTAL all-in gas per accepted label x100", total * 100 / accepted);
        assertEq(market.getBatch(id).state.tasksSettled, W_TASKS, "settled");
    }
}
