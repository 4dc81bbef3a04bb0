// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {V2Fixture} from "../utils/V2Fixture.sol";
import {LabelMarketV2Relay} from "../../LabelMarketV2Relay.sol";
import {LabelMarketV2Settlement} from "../../LabelMarketV2Settlement.sol";
import {LabelMarketV2Tally} from "../../LabelMarketV2Tally.sol";
import {ILabelMarketV2Types, ILabelMarketV2Relay} from "../../interfaces/ILabelMarketV2.sol";
import {IERC20Errors} from "@openzeppelin/contracts/interfaces/draft-IERC6093.sol";
import {Vm} from "../utils/Vm.sol";

/// @notice v2: `relayJoins` — joins (staking first, through a permit) annotators signed, sent by someone else in one
///         transaction, so that an annotator with tokens and no ether can work. Each is exactly its annotator's
///         `stake` + `join`, with the same checks; a signature binds the batch, round, size and stake, is the
///         annotator's under the market's EIP-712 domain, and is good for one round.
contract LabelMarketV2RelayJoinTest is V2Fixture {
    ILabelMarketV2Relay internal opt;
    address internal relayer = address(0x5E1A7);
    bytes32 internal typehash;
    uint256 internal constant NEW_STAKE = 100 * UNIT;

    function setUp() public override {
        super.setUp();
        opt = ILabelMarketV2Relay(address(market));
        typehash = LabelMarketV2Relay(LabelMarketV2Settlement(market.SETTLEMENT()).RELAY()).RELAYED_JOIN_TYPEHASH();
        assertEq(
            typehash,
            keccak256("RelayedJoin(uint256 batchId,uint256 round,uint256 maxTasks,uint256 stake)"),
            "the documented type"
        );
    }

    /// @dev A newcomer's key: it holds 1,000 tokens, no stake, no allowance and no ether.
    function newKey(uint256 i) internal pure returns (uint256) {
        return 0xF000 + i;
    }

    function newcomer(uint256 i) internal returns (address a) {
        a = vm.addr(newKey(i));
        if (token.balanceOf(a) == 0) {
            vm.prank(treasury);
            require(token.transfer(a, 1_000 * UNIT));
        }
    }

    function signWith(uint256 key, bytes32 digest) internal pure returns (bytes memory) {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, digest);
        return abi.encodePacked(r, s, v);
    }

    /// @dev The EIP-712 digest of a relayed join under `domain`.
    function digestOf(bytes32 domain, uint256 id, uint256 round, uint256 maxTasks, uint256 amount)
        internal
        view
        returns (bytes32)
    {
        bytes32 structHash = keccak256(abi.encode(typehash, id, round, maxTasks, amount));
        return keccak256(abi.encodePacked("\x19\x01", domain, structHash));
    }

    /// @dev Key `key`'s join of `maxTasks` in `round`, staking `amount` through a permit (none when zero).
    function relayedJoin(uint256 key, uint256 id, uint256 round, uint256 maxTasks, uint256 amount)
        internal
        view
        returns (ILabelMarketV2Types.RelayedJoin memory rj)
    {
        address a = vm.addr(key);
        rj.annotator = a;
        rj.maxTasks = uint8(maxTasks);
        rj.stake = uint96(amount);
        if (amount != 0) {
            rj.deadline = uint40(block.timestamp + 1 hours);
            (rj.v, rj.r, rj.s) = vm.sign(key, permitDigest(a, amount, rj.deadline));
        }
        rj.signature = signWith(key, digestOf(market.domainSeparator(), id, round, maxTasks, amount));
    }

    /// @dev The token's EIP-2612 digest of `owner`'s permit of `amount` to the market.
    function permitDigest(address owner, uint256 amount, uint256 deadline) internal view returns (bytes32) {
        bytes32 structHash = keccak256(
            abi.encode(
                keccak256("Permit(address owner,address spender,uint256 value,uint256 nonce,uint256 deadline)"),
                owner,
                address(market),
                amount,
                token.nonces(owner),
                deadline
            )
        );
        return keccak256(abi.encodePacked("\x19\x01", token.DOMAIN_SEPARATOR(), structHash));
    }

    function one(ILabelMarketV2Types.RelayedJoin memory rj)
        internal
        pure
        returns (ILabelMarketV2Types.RelayedJoin[] memory rjs)
    {
        rjs = new ILabelMarketV2Types.RelayedJoin[](1);
        rjs[0] = rj;
    }

    function relay(uint256 id, ILabelMarketV2Types.RelayedJoin[] memory rjs) internal {
        vm.prank(relayer);
        opt.relayJoins(id, rjs);
    }

    /// @dev A digest of what joins change: the batch state, every bundle's word, lanes and round 1, and the three
    ///      newcomers' membership, account and tokens.
    function stateOf(uint256 id) internal view returns (bytes32 h) {
        ILabelMarketV2Types.Batch memory b = market.getBatch(id);
        h = keccak256(abi.encode(b.state, market.getRound(id, 1), token.balanceOf(address(market))));
        for (uint256 k; k < b.state.bundles; ++k) {
            h = keccak256(abi.encode(h, market.bundleStatus(id, k)));
        }
        for (uint256 i; i < 3; ++i) {
            address a = vm.addr(newKey(i));
            (bool member, uint256 lane, uint256 round) = market.memberOf(id, a);
            h = keccak256(abi.encode(h, member, lane, round, market.accountOf(a), token.balanceOf(a)));
        }
        for (uint256 lane; lane < 3; ++lane) {
            h = keccak256(abi.encode(h, market.getLaneRound(id, 1, lane)));
        }
    }

    // ------------------------------------------------------------------------------------------------
    // What a relayed join does
    // ------------------------------------------------------------------------------------------------

    function test_relayJoins_isTheNewcomersOwnStakeAndJoin() public {
        uint256 id = create(defaultParams());
        for (uint256 i; i < 3; ++i) {
            newcomer(i);
        }
        uint256 snap = vm.snapshotState();

        // Each newcomer approves, stakes and joins itself.
        uint256[3] memory sizes = [uint256(2), 1, 2];
        for (uint256 i; i < 3; ++i) {
            address a = vm.addr(newKey(i));
            vm.startPrank(a);
            token.approve(address(market), NEW_STAKE);
            market.stake(NEW_STAKE);
            market.join(id, sizes[i]);
            vm.stopPrank();
        }
        bytes32 direct = stateOf(id);

        // The same three, signed and sent by a relayer in one transaction: the newcomers send nothing.
        vm.revertToState(snap);
        ILabelMarketV2Types.RelayedJoin[] memory rjs = new ILabelMarketV2Types.RelayedJoin[](3);
        for (uint256 i; i < 3; ++i) {
            rjs[i] = relayedJoin(newKey(i), id, 1, sizes[i], NEW_STAKE);
        }
        uint256 relayerBalance = token.balanceOf(relayer);
        vm.recordLogs();
        relay(id, rjs);
        Vm.Log[] memory logs = vm.getRecordedLogs();

        assertEq(stateOf(id), direct, "stake, bundles, members, lanes, tokens: as the newcomers' own calls left them");
        assertEq(token.balanceOf(relayer), relayerBalance, "the relayer pays gas only");
        uint256 staked;
        uint256 joined;
        for (uint256 k; k < logs.length; ++k) {
            if (logs[k].topics[0] == ILabelMarketV2Types.Staked.selector) {
                assertEq(address(uint160(uint256(logs[k].topics[1]))), vm.addr(newKey(staked)), "the newcomer staked");
                ++staked;
            }
            if (logs[k].topics[0] == ILabelMarketV2Types.Joined.selector) ++joined;
        }
        assertEq(staked, 3, "three Staked events");
        assertEq(joined, 3, "three Joined events");
        for (uint256 i; i < 3; ++i) {
            assertEq(token.allowance(vm.addr(newKey(i)), address(market)), 0, "the permit spent whole");
        }
    }

    function test_relayJoins_withoutPermitOrStake() public {
        uint256 id = create(defaultParams());
        // A staked annotator (the fixture's) joins with no stake; a newcomer stakes with the allowance it gave.
        ILabelMarketV2Types.RelayedJoin[] memory rjs = new ILabelMarketV2Types.RelayedJoin[](2);
        rjs[0] = relayedJoin(annKey(0), id, 1, 2, 0);
        address a = newcomer(0);
        vm.prank(a);
        token.approve(address(market), NEW_STAKE);
        rjs[1] = relayedJoin(newKey(0), id, 1, 1, NEW_STAKE);
        (rjs[1].v, rjs[1].r, rjs[1].s) = (0, bytes32(0), bytes32(0));
        relay(id, rjs);
        assertEq(market.accountOf(ann(0)).amount, STAKE, "no stake added");
        assertEq(market.accountOf(ann(0)).locked, 2 * 20 * UNIT, "two tasks' stake locked");
        assertEq(market.accountOf(a).amount, NEW_STAKE, "the newcomer staked with its allowance");
        assertEq(market.accountOf(a).locked, 20 * UNIT, "one task's stake locked");
        assertEq(token.balanceOf(a), 1_000 * UNIT - NEW_STAKE, "its tokens moved in");
        (bool member,, uint256 round) = market.memberOf(id, a);
        assertTrue(member && round == 1, "joined round 1");
    }

    function test_relayJoins_aPermitSomeoneUsedFirstIsNoFailure() public {
        uint256 id = create(defaultParams());
        address a = newcomer(0);
        ILabelMarketV2Types.RelayedJoin memory rj = relayedJoin(newKey(0), id, 1, 2, NEW_STAKE);
        // Someone copies the permit out of the pending transaction and sends it first.
        token.permit(a, address(market), NEW_STAKE, rj.deadline, rj.v, rj.r, rj.s);
        relay(id, one(rj));
        assertEq(market.accountOf(a).amount, NEW_STAKE, "staked all the same");
        assertEq(market.accountOf(a).locked, 2 * 20 * UNIT, "and joined");
    }

    // ------------------------------------------------------------------------------------------------
    // Signatures
    // ------------------------------------------------------------------------------------------------

    function test_relayJoins_refusesASignatureNotTheAnnotators() public {
        uint256 id = create(defaultParams());
        address a = newcomer(0);
        ILabelMarketV2Types.RelayedJoin memory rj = relayedJoin(newKey(0), id, 1, 2, NEW_STAKE);
        bytes memory err = abi.encodeWithSelector(ILabelMarketV2Types.InvalidRelayedJoin.selector, a);

        // Another key's signature (with the newcomer's own permit), a zero one, a malformed one.
        rj.signature = signWith(newKey(1), digestOf(market.domainSeparator(), id, 1, 2, NEW_STAKE));
        vm.expectRevert(err);
        relay(id, one(rj));
        rj.signature = new bytes(65);
        vm.expectRevert(err);
        relay(id, one(rj));
        rj.signature = hex"1234";
        vm.expectRevert(err);
        relay(id, one(rj));
        assertEq(market.accountOf(a).amount, 0, "nothing staked");
        assertEq(token.balanceOf(a), 1_000 * UNIT, "no token moved");
        (bool member,,) = market.memberOf(id, a);
        assertFalse(member, "not joined");
    }

    function test_relayJoins_aSignatureBindsBatchRoundSizeStakeAndDomain() public {
        uint256 id = create(defaultParams());
        address a = newcomer(0);
        bytes memory err = abi.encodeWithSelector(ILabelMarketV2Types.InvalidRelayedJoin.selector, a);

        // A relayer that asks for another size or stake than the signed ones.
        ILabelMarketV2Types.RelayedJoin memory rj = relayedJoin(newKey(0), id, 1, 2, NEW_STAKE);
        rj.maxTasks = 1;
        vm.expectRevert(err);
        relay(id, one(rj));
        // (A stake other than the permit's is refused by the signature before the token sees it.)
        vm.prank(a);
        token.approve(address(market), 2 * NEW_STAKE);
        rj = relayedJoin(newKey(0), id, 1, 2, NEW_STAKE);
        rj.stake = uint96(2 * NEW_STAKE);
        vm.expectRevert(err);
        relay(id, one(rj));

        // Another batch, another round, another domain (the module's own address, another chain).
        uint256 other = create(defaultParams());
        rj = relayedJoin(newKey(0), id, 1, 2, NEW_STAKE);
        vm.expectRevert(err);
        relay(other, one(rj));
        rj = relayedJoin(newKey(0), id, 2, 2, NEW_STAKE);
        vm.expectRevert(err);
        relay(id, one(rj));
        rj = relayedJoin(newKey(0), id, 1, 2, NEW_STAKE);
        rj.signature = signWith(newKey(0), digestOf(domainOf(block.chainid, market.SETTLEMENT()), id, 1, 2, NEW_STAKE));
        vm.expectRevert(err);
        relay(id, one(rj));
        rj.signature = signWith(newKey(0), digestOf(domainOf(block.chainid + 1, address(market)), id, 1, 2, NEW_STAKE));
        vm.expectRevert(err);
        relay(id, one(rj));
        assertEq(domainOf(block.chainid, address(market)), market.domainSeparator(), "the market's own domain");

        relay(id, one(relayedJoin(newKey(0), id, 1, 2, NEW_STAKE)));
        assertEq(market.accountOf(a).locked, 2 * 20 * UNIT, "the signed one");
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

    function test_relayJoins_aSignatureIsGoodForOneRound() public {
        ILabelMarketV2Types.BatchParams memory p = defaultParams();
        p.numItems = 16; // four tasks: four positions per lane
        uint256 id = create(p);
        ILabelMarketV2Types.RelayedJoin memory rj = relayedJoin(annKey(0), id, 1, 1, 0);
        relay(id, one(rj));
        // Again in its round: one join per annotator per round.
        vm.expectRevert(abi.encodeWithSelector(ILabelMarketV2Types.AlreadyJoined.selector, id, 1));
        relay(id, one(rj));
        // In the next round: signed for round 1.
        seedRound(id, 1);
        vm.warp(uint256(market.getRound(id, 1).commitEnd) + 1);
        vm.expectRevert(abi.encodeWithSelector(ILabelMarketV2Types.InvalidRelayedJoin.selector, ann(0)));
        relay(id, one(rj));
        relay(id, one(relayedJoin(annKey(0), id, 2, 1, 0)));
        (,, uint256 round) = market.memberOf(id, ann(0));
        assertEq(round, 2, "joined round 2 with a signature for it");
    }

    // ------------------------------------------------------------------------------------------------
    // The join's own checks, all or nothing
    // ------------------------------------------------------------------------------------------------

    function test_relayJoins_keepsEveryCheckOfStakeAndJoin() public {
        uint256 id = create(defaultParams());
        address a = newcomer(0);

        // Over the batch's bundle size.
        ILabelMarketV2Types.RelayedJoin memory rj = relayedJoin(newKey(0), id, 1, 3, NEW_STAKE);
        vm.expectRevert(abi.encodeWithSelector(ILabelMarketV2Types.InvalidBundleSize.selector, 3, 2));
        relay(id, one(rj));
        // Too little stake for two tasks.
        rj = relayedJoin(newKey(0), id, 1, 2, 30 * UNIT);
        vm.expectRevert(abi.encodeWithSelector(ILabelMarketV2Types.InsufficientStake.selector, 30 * UNIT, 40 * UNIT));
        relay(id, one(rj));
        // No permit and no allowance: the stake cannot move.
        rj = relayedJoin(newKey(0), id, 1, 2, NEW_STAKE);
        rj.v = 0;
        vm.expectRevert(
            abi.encodeWithSelector(IERC20Errors.ERC20InsufficientAllowance.selector, address(market), 0, NEW_STAKE)
        );
        relay(id, one(rj));
        // A permit that is not the newcomer's (its nonce spent, or forged): no allowance either.
        rj = relayedJoin(newKey(0), id, 1, 2, NEW_STAKE);
        rj.s = bytes32(uint256(rj.s) ^ 1);
        vm.expectRevert(
            abi.encodeWithSelector(IERC20Errors.ERC20InsufficientAllowance.selector, address(market), 0, NEW_STAKE)
        );
        relay(id, one(rj));
        // More than its wallet holds.
        rj = relayedJoin(newKey(0), id, 1, 2, 2_000 * UNIT);
        vm.expectRevert(
            abi.encodeWithSelector(IERC20Errors.ERC20InsufficientBalance.selector, a, 1_000 * UNIT, 2_000 * UNIT)
        );
        relay(id, one(rj));
        // After the round's join window, before its commits are over: no round takes joins.
        rj = relayedJoin(newKey(0), id, 1, 2, NEW_STAKE);
        uint256 joinEnd = market.getRound(id, 1).joinEnd;
        vm.warp(joinEnd + 1);
        vm.expectRevert(
            abi.encodeWithSelector(
                ILabelMarketV2Types.RoundClosed.selector, 1, uint256(market.getRound(id, 1).commitEnd) + 1
            )
        );
        relay(id, one(rj));
    }

    function test_relayJoins_isAllOrNothing() public {
        uint256 id = create(defaultParams());
        ILabelMarketV2Types.RelayedJoin[] memory rjs = new ILabelMarketV2Types.RelayedJoin[](3);
        for (uint256 i; i < 3; ++i) {
            newcomer(i);
            rjs[i] = relayedJoin(newKey(i), id, 1, 2, NEW_STAKE);
        }
        rjs[2].signature = rjs[1].signature; // newcomer 1 signed for newcomer 2
        vm.expectRevert(abi.encodeWithSelector(ILabelMarketV2Types.InvalidRelayedJoin.selector, vm.addr(newKey(2))));
        relay(id, rjs);
        for (uint256 i; i < 3; ++i) {
            address a = vm.addr(newKey(i));
            assertEq(market.accountOf(a).amount, 0, "no one staked");
            assertEq(token.balanceOf(a), 1_000 * UNIT, "no token moved");
            (bool member,,) = market.memberOf(id, a);
            assertFalse(member, "no one joined");
        }
        // Without the bad one, the other two go through.
        ILabelMarketV2Types.RelayedJoin[] memory two = new ILabelMarketV2Types.RelayedJoin[](2);
        (two[0], two[1]) = (rjs[0], rjs[1]);
        relay(id, two);
        assertEq(market.getBatch(id).state.bundles, 2, "two bundles");
        assertEq(market.accountOf(vm.addr(newKey(1))).locked, 40 * UNIT, "newcomer 1 joined");
    }

    function test_relayJoins_onlyThroughTheMarket() public {
        LabelMarketV2Relay module = LabelMarketV2Relay(LabelMarketV2Settlement(market.SETTLEMENT()).RELAY());
        vm.expectRevert(LabelMarketV2Tally.OnlyDelegated.selector);
        module.relayJoins(0, new ILabelMarketV2Types.RelayedJoin[](0));
    }
}
