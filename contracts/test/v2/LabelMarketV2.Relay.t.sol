// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {V2Fixture} from "../utils/V2Fixture.sol";
import {LabelMarketV2Relay} from "../../LabelMarketV2Relay.sol";
import {LabelMarketV2Settlement} from "../../LabelMarketV2Settlement.sol";
import {LabelMarketV2Tally} from "../../LabelMarketV2Tally.sol";
import {ILabelMarketV2Types, ILabelMarketV2Relay} from "../../interfaces/ILabelMarketV2.sol";
import {Vm} from "../utils/Vm.sol";

/// @notice v2: `relayCommits` — commits (and the next round's joins) annotators signed, sent by someone else in one
///         transaction. Each is exactly its annotator's `commitAndJoin`, with the same checks; a signature binds
///         every field, is the annotator's under the market's EIP-712 domain, and is good once.
contract LabelMarketV2RelayTest is V2Fixture {
    ILabelMarketV2Relay internal opt;
    address internal relayer = address(0x5E1A7);
    bytes32 internal typehash;

    function setUp() public override {
        super.setUp();
        opt = ILabelMarketV2Relay(address(market));
        typehash = LabelMarketV2Relay(LabelMarketV2Settlement(market.SETTLEMENT()).RELAY()).RELAYED_COMMIT_TYPEHASH();
        assertEq(
            typehash,
            keccak256(
                "RelayedCommit(uint256 batchId,uint256 bundleId,bytes32 commitHash,bytes32 backupHash,uint256 maxTasks)"
            ),
            "the documented type"
        );
    }

    /// @dev 16 items in tasks of 4: four tasks, so four positions per lane.
    function relayParams() internal view returns (ILabelMarketV2Types.BatchParams memory p) {
        p = defaultParams();
        p.numItems = 16;
    }

    /// @dev Round 1 of `relayParams` filled by six bundles of two (lanes 0, 1, 2, 0, 1, 2), seed drawn, labelled.
    function sixPairs(uint256 id) internal returns (Held[] memory hs) {
        hs = new Held[](6);
        for (uint256 i; i < 6; ++i) {
            hs[i] = joinAs(ann(i), id, 2);
        }
        seedRound(id, 1);
        for (uint256 i; i < 6; ++i) {
            label(id, hs[i], 0);
        }
    }

    /// @dev The EIP-712 digest an annotator signs for a relayed commit, under `domain`.
    function digestOf(bytes32 domain, uint256 id, ILabelMarketV2Types.RelayedCommit memory rc)
        internal
        view
        returns (bytes32)
    {
        bytes32 structHash =
            keccak256(abi.encode(typehash, id, rc.bundleId, rc.commitHash, keccak256(rc.backup), rc.maxTasks));
        return keccak256(abi.encodePacked("\x19\x01", domain, structHash));
    }

    /// @dev The EIP-712 domain of name "Concord LabelMarket", version "2" on `chainId` at `verifyingContract`.
    function domainOf(uint256 chainId, address verifyingContract) internal pure returns (bytes32) {
        return keccak256(
            abi.encode(
                keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"),
                keccak256("Concord LabelMarket"),
                keccak256("2"),
                chainId,
                verifyingContract
            )
        );
    }

    function signWith(uint256 key, bytes32 digest) internal pure returns (bytes memory) {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, digest);
        return abi.encodePacked(r, s, v);
    }

    /// @dev `h`'s commit, signed by annotator `i`'s key under the market's domain.
    function relayed(uint256 id, Held memory h, uint256 maxTasks, uint256 i)
        internal
        view
        returns (ILabelMarketV2Types.RelayedCommit memory rc)
    {
        rc.bundleId = uint32(h.id);
        rc.maxTasks = uint8(maxTasks);
        // A copy: a memory struct assigned would alias the test's own bundle.
        rc.bundle = ILabelMarketV2Types.Bundle(
            h.bundle.annotator, h.bundle.lane, h.bundle.round, h.bundle.first, h.bundle.size
        );
        rc.commitHash = market.commitHashOf(id, h.id, h.bundle.annotator, h.words, h.salt);
        rc.backup = abi.encode("backup", id, h.id);
        rc.signature = signWith(annKey(i), digestOf(market.domainSeparator(), id, rc));
    }

    function one(ILabelMarketV2Types.RelayedCommit memory rc)
        internal
        pure
        returns (ILabelMarketV2Types.RelayedCommit[] memory rcs)
    {
        rcs = new ILabelMarketV2Types.RelayedCommit[](1);
        rcs[0] = rc;
    }

    function relay(uint256 id, ILabelMarketV2Types.RelayedCommit[] memory rcs) internal {
        vm.prank(relayer);
        opt.relayCommits(id, rcs);
    }

    // ------------------------------------------------------------------------------------------------
    // What a relayed commit does
    // ------------------------------------------------------------------------------------------------

    function test_relayCommits_isTheAnnotatorsOwnCommitAndJoin() public {
        uint256 id = create(relayParams());
        Held[] memory hs = sixPairs(id);
        uint256 snap = vm.snapshotState();

        // Each annotator commits itself; the first three also join round 2.
        uint256[6] memory joins = [uint256(2), 1, 2, 0, 0, 0];
        for (uint256 i; i < 6; ++i) {
            bytes32 ch = market.commitHashOf(id, hs[i].id, ann(i), hs[i].words, hs[i].salt);
            vm.prank(ann(i));
            if (joins[i] != 0) {
                market.commitAndJoin(id, hs[i].id, hs[i].bundle, ch, abi.encode("backup", id, i), joins[i]);
            } else {
                market.commit(id, hs[i].id, hs[i].bundle, ch, abi.encode("backup", id, i));
            }
        }
        uint256[21] memory direct = outcome(id);
        bytes32 directState = stateOf(id);

        // The same six, signed and sent by a relayer in one transaction.
        vm.revertToState(snap);
        ILabelMarketV2Types.RelayedCommit[] memory rcs = new ILabelMarketV2Types.RelayedCommit[](6);
        for (uint256 i; i < 6; ++i) {
            rcs[i] = relayed(id, hs[i], joins[i], i);
        }
        uint256 relayerBalance = token.balanceOf(relayer);
        vm.recordLogs();
        relay(id, rcs);
        Vm.Log[] memory logs = vm.getRecordedLogs();

        assertEq(stateOf(id), directState, "bundles, members, lanes, stake: as the annotators' own calls left them");
        uint256[21] memory relayedOutcome = outcome(id);
        for (uint256 k; k < 21; ++k) {
            assertEq(relayedOutcome[k], direct[k], "balances and accounts as the annotators' own calls left them");
        }
        assertEq(token.balanceOf(relayer), relayerBalance, "the relayer pays gas only");
        uint256 committed;
        uint256 joined;
        for (uint256 k; k < logs.length; ++k) {
            if (logs[k].topics[0] == ILabelMarketV2Types.Committed.selector) {
                assertEq(address(uint160(uint256(logs[k].topics[3]))), ann(committed), "the annotator committed");
                (, bytes memory backup) = abi.decode(logs[k].data, (bytes32, bytes));
                assertEq(keccak256(backup), keccak256(abi.encode("backup", id, committed)), "its backup");
                ++committed;
            }
            if (logs[k].topics[0] == ILabelMarketV2Types.Joined.selector) ++joined;
        }
        assertEq(committed, 6, "six Committed events");
        assertEq(joined, 3, "three Joined events");
        (,, uint256 round) = market.memberOf(id, ann(0));
        assertEq(round, 2, "ann 0 reserved in round 2");
    }

    /// @dev A digest of what the relay can change: every bundle's word, the members, lane rounds 1-2 and stake.
    function stateOf(uint256 id) internal view returns (bytes32 h) {
        ILabelMarketV2Types.Batch memory b = market.getBatch(id);
        h = keccak256(abi.encode(b.state));
        for (uint256 k; k < b.state.bundles; ++k) {
            h = keccak256(abi.encode(h, market.bundleStatus(id, k)));
        }
        for (uint256 i; i < 6; ++i) {
            (bool member, uint256 lane, uint256 round) = market.memberOf(id, ann(i));
            h = keccak256(abi.encode(h, member, lane, round, market.accountOf(ann(i))));
        }
        for (uint256 lane; lane < 3; ++lane) {
            h = keccak256(abi.encode(h, market.getLaneRound(id, 1, lane), market.getLaneRound(id, 2, lane)));
        }
    }

    function test_relayCommits_relayedBundlesSettleLikeAnyOther() public {
        uint256 id = create(defaultParams());
        Held[] memory hs = new Held[](3);
        for (uint256 i; i < 3; ++i) {
            hs[i] = joinAs(ann(i), id, 2);
        }
        seedRound(id, 1);
        ILabelMarketV2Types.RelayedCommit[] memory rcs = new ILabelMarketV2Types.RelayedCommit[](3);
        for (uint256 i; i < 3; ++i) {
            label(id, hs[i], i == 2 ? 1 : 0); // ann 2 gets item 0 of each task wrong
            rcs[i] = relayed(id, hs[i], 0, i);
        }
        relay(id, rcs);
        assertEq(market.getBatch(id).state.committed, 6, "every position committed");
        for (uint256 i; i < 3; ++i) {
            revealAs(id, hs[i]);
        }
        assertEq(settleAll(id, hs), 2, "both tasks settled");
        // 8 agreeing labels, and half of the 4 tokens slashed for the dissenter's 2 wrong labels (coherence shares).
        assertEq(market.claimable(ann(0), address(token)), 10 * UNIT, "ann 0 paid");
        assertEq(market.claimable(ann(1), address(token)), 10 * UNIT, "ann 1 paid");
        assertEq(market.accountOf(ann(2)).locked, 0, "stake unlocked");
        assertLt(market.accountOf(ann(2)).amount, STAKE, "the dissenter slashed");
    }

    // ------------------------------------------------------------------------------------------------
    // Signatures
    // ------------------------------------------------------------------------------------------------

    function test_relayCommits_refusesASignatureNotTheAnnotators() public {
        uint256 id = create(relayParams());
        Held[] memory hs = sixPairs(id);
        ILabelMarketV2Types.RelayedCommit memory rc = relayed(id, hs[0], 2, 0);

        // Another annotator's key, the relayer's own, or a malformed signature.
        rc.signature = signWith(annKey(1), digestOf(market.domainSeparator(), id, rc));
        vm.expectRevert(abi.encodeWithSelector(ILabelMarketV2Types.InvalidRelayedCommit.selector, hs[0].id));
        relay(id, one(rc));
        rc.signature = new bytes(65);
        vm.expectRevert(abi.encodeWithSelector(ILabelMarketV2Types.InvalidRelayedCommit.selector, hs[0].id));
        relay(id, one(rc));
        rc.signature = hex"1234";
        vm.expectRevert(abi.encodeWithSelector(ILabelMarketV2Types.InvalidRelayedCommit.selector, hs[0].id));
        relay(id, one(rc));
        assertEq(
            uint256(market.bundleStatus(id, hs[0].id)), uint256(ILabelMarketV2Types.Status.Joined), "not committed"
        );
    }

    function test_relayCommits_aSignatureBindsEveryField() public {
        uint256 id = create(relayParams());
        Held[] memory hs = sixPairs(id);
        ILabelMarketV2Types.RelayedCommit memory good = relayed(id, hs[0], 2, 0);
        bytes memory err = abi.encodeWithSelector(ILabelMarketV2Types.InvalidRelayedCommit.selector, hs[0].id);

        ILabelMarketV2Types.RelayedCommit memory rc = relayed(id, hs[0], 2, 0);
        rc.commitHash = bytes32(uint256(good.commitHash) ^ 1);
        vm.expectRevert(err);
        relay(id, one(rc));

        rc = relayed(id, hs[0], 2, 0);
        rc.backup = "another backup";
        vm.expectRevert(err);
        relay(id, one(rc));

        rc = relayed(id, hs[0], 2, 0);
        rc.maxTasks = 1;
        vm.expectRevert(err);
        relay(id, one(rc));

        // Another batch: ann 0's bundle 0 there is signed for this one.
        uint256 other = create(relayParams());
        Held memory h2 = joinAs(ann(0), other, 2);
        seedRound(other, 1);
        label(other, h2, 0);
        rc = relayed(id, hs[0], 2, 0);
        rc.bundle = h2.bundle;
        rc.commitHash = market.commitHashOf(other, h2.id, ann(0), h2.words, h2.salt);
        rc.signature = signWith(annKey(0), digestOf(market.domainSeparator(), id, rc));
        vm.expectRevert(abi.encodeWithSelector(ILabelMarketV2Types.InvalidRelayedCommit.selector, h2.id));
        vm.prank(relayer);
        opt.relayCommits(other, one(rc));

        // Another domain: the module's own address, or another chain. (Built here: a via-IR test may read the
        // chain id once, so changing it with a cheatcode would not show.)
        rc = relayed(id, hs[0], 2, 0);
        rc.signature = signWith(annKey(0), digestOf(domainOf(block.chainid, market.SETTLEMENT()), id, rc));
        vm.expectRevert(err);
        relay(id, one(rc));
        rc.signature = signWith(annKey(0), digestOf(domainOf(block.chainid + 1, address(market)), id, rc));
        vm.expectRevert(err);
        relay(id, one(rc));
        assertEq(domainOf(block.chainid, address(market)), market.domainSeparator(), "the market's own domain");

        relay(id, one(good));
        assertEq(
            uint256(market.bundleStatus(id, hs[0].id)), uint256(ILabelMarketV2Types.Status.Committed), "the signed one"
        );
    }

    function test_relayCommits_aSignatureIsGoodOnce() public {
        uint256 id = create(relayParams());
        Held[] memory hs = sixPairs(id);
        ILabelMarketV2Types.RelayedCommit memory rc = relayed(id, hs[0], 2, 0);
        relay(id, one(rc));
        vm.expectRevert(
            abi.encodeWithSelector(
                ILabelMarketV2Types.BundleMismatch.selector, hs[0].id, ILabelMarketV2Types.Status.Joined
            )
        );
        relay(id, one(rc));
        // Nor can the annotator commit it again itself.
        bytes32 ch = rc.commitHash;
        vm.prank(ann(0));
        vm.expectRevert(
            abi.encodeWithSelector(
                ILabelMarketV2Types.BundleMismatch.selector, hs[0].id, ILabelMarketV2Types.Status.Joined
            )
        );
        market.commit(id, hs[0].id, hs[0].bundle, ch, "");
    }

    // ------------------------------------------------------------------------------------------------
    // The commit's own checks, all or nothing
    // ------------------------------------------------------------------------------------------------

    function test_relayCommits_keepsEveryCheckOfCommitAndJoin() public {
        uint256 id = create(relayParams());
        Held[] memory hs = sixPairs(id);

        // A bundle that is not the stored one.
        ILabelMarketV2Types.RelayedCommit memory rc = relayed(id, hs[0], 0, 0);
        rc.bundle.size = 1;
        vm.expectRevert(
            abi.encodeWithSelector(
                ILabelMarketV2Types.BundleMismatch.selector, hs[0].id, ILabelMarketV2Types.Status.Joined
            )
        );
        relay(id, one(rc));

        // Someone else's bundle signed by its signer: the signature must be the bundle's annotator's.
        rc = relayed(id, hs[1], 0, 0);
        vm.expectRevert(abi.encodeWithSelector(ILabelMarketV2Types.InvalidRelayedCommit.selector, hs[1].id));
        relay(id, one(rc));

        // A join over the batch's bundle size.
        rc = relayed(id, hs[0], 3, 0);
        vm.expectRevert(abi.encodeWithSelector(ILabelMarketV2Types.InvalidBundleSize.selector, 3, 2));
        relay(id, one(rc));

        // A join with too little unlocked stake.
        rc = relayed(id, hs[2], 2, 2);
        uint256 free = market.accountOf(ann(2)).amount - market.accountOf(ann(2)).locked;
        vm.prank(ann(2));
        market.requestUnstake(free - 30 * UNIT);
        vm.expectRevert(abi.encodeWithSelector(ILabelMarketV2Types.InsufficientStake.selector, 30 * UNIT, 40 * UNIT));
        relay(id, one(rc));

        // After the commit window.
        rc = relayed(id, hs[3], 0, 3);
        uint256 commitEnd = market.getRound(id, 1).commitEnd;
        vm.warp(commitEnd + 1);
        vm.expectRevert(abi.encodeWithSelector(ILabelMarketV2Types.CommitWindowClosed.selector, 1, commitEnd));
        relay(id, one(rc));
    }

    function test_relayCommits_isAllOrNothing() public {
        uint256 id = create(relayParams());
        Held[] memory hs = sixPairs(id);
        ILabelMarketV2Types.RelayedCommit[] memory rcs = new ILabelMarketV2Types.RelayedCommit[](3);
        rcs[0] = relayed(id, hs[0], 2, 0);
        rcs[1] = relayed(id, hs[1], 0, 1);
        rcs[2] = relayed(id, hs[2], 0, 1); // ann 1 signed ann 2's bundle
        vm.expectRevert(abi.encodeWithSelector(ILabelMarketV2Types.InvalidRelayedCommit.selector, hs[2].id));
        relay(id, rcs);
        for (uint256 i; i < 3; ++i) {
            assertEq(
                uint256(market.bundleStatus(id, hs[i].id)), uint256(ILabelMarketV2Types.Status.Joined), "none committed"
            );
        }
        assertEq(market.accountOf(ann(0)).locked, 40 * UNIT, "no reservation either");
        // Without the bad one, the other two go through.
        ILabelMarketV2Types.RelayedCommit[] memory two = new ILabelMarketV2Types.RelayedCommit[](2);
        (two[0], two[1]) = (rcs[0], rcs[1]);
        relay(id, two);
        assertEq(market.getBatch(id).state.committed, 4, "four positions committed");
        assertEq(market.accountOf(ann(0)).locked, 80 * UNIT, "and ann 0's reservation locked");
    }

    function test_relayCommits_onlyThroughTheMarket() public {
        LabelMarketV2Relay module = LabelMarketV2Relay(LabelMarketV2Settlement(market.SETTLEMENT()).RELAY());
        vm.expectRevert(LabelMarketV2Tally.OnlyDelegated.selector);
        module.relayCommits(0, new ILabelMarketV2Types.RelayedCommit[](0));
    }
}
