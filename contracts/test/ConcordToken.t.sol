// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";
import {Base} from "./utils/Base.sol";
import {ConcordToken} from "../ConcordToken.sol";

/// @notice ConcordToken: fixed capped supply minted once, no mint entry point, EIP-2612 permit.
contract ConcordTokenTest is Base {
    bytes32 internal constant PERMIT_TYPEHASH =
        keccak256("Permit(address owner,address spender,uint256 value,uint256 nonce,uint256 deadline)");
    uint256 internal constant OWNER_PK = 0x0DDBA11;

    ConcordToken internal token;
    address internal treasury = address(0x7EA5);

    function setUp() public {
        token = new ConcordToken(treasury);
    }

    function test_constructor_mintsCapToTreasury() public view {
        assertEq(token.MAX_SUPPLY(), 1_000_000_000e18, "cap");
        assertEq(token.totalSupply(), token.MAX_SUPPLY(), "supply == cap");
        assertEq(token.balanceOf(treasury), 1_000_000_000e18, "all to treasury");
        assertEq(token.decimals(), 18, "decimals");
        assertEqStr(token.name(), "Concord", "name");
        assertEqStr(token.symbol(), "CCD", "symbol");
    }

    function test_constructor_revertsZeroTreasury() public {
        vm.expectRevert(abi.encodeWithSelector(ConcordToken.ZeroTreasury.selector));
        new ConcordToken(address(0));
    }

    function test_noMintSelector() public {
        bytes[5] memory calls = [
            abi.encodeWithSignature("mint(address,uint256)", address(this), 1),
            abi.encodeWithSignature("mint(uint256)", 1),
            abi.encodeWithSignature("_mint(address,uint256)", address(this), 1),
            abi.encodeWithSignature("mintTo(address,uint256)", address(this), 1),
            abi.encodeWithSignature("issue(address,uint256)", address(this), 1)
        ];
        for (uint256 i; i < calls.length; ++i) {
            vm.prank(treasury);
            (bool ok,) = address(token).call(calls[i]);
            assertFalse(ok, "no such entry point");
        }
        assertEq(token.totalSupply(), token.MAX_SUPPLY(), "supply unchanged");
        assertEq(token.balanceOf(address(this)), 0, "nothing minted");
    }

    function testFuzz_transfers_neverChangeSupply(address to, uint256 amount, address to2, uint256 amount2) public {
        vm.assume(to != address(0) && to2 != address(0));
        amount = bound(amount, 0, token.MAX_SUPPLY());
        vm.prank(treasury);
        assertTrue(token.transfer(to, amount), "transfer");
        amount2 = bound(amount2, 0, token.balanceOf(to));
        vm.prank(to);
        assertTrue(token.transfer(to2, amount2), "transfer");
        assertEq(token.totalSupply(), token.MAX_SUPPLY(), "supply fixed");
        if (to != treasury && to2 != treasury && to != to2) {
            assertEq(token.balanceOf(to2), amount2, "received");
            assertEq(token.balanceOf(to), amount - amount2, "sent");
        }
    }

    function _sign(uint256 pk, address spender, uint256 value, uint256 nonce, uint256 deadline)
        internal
        view
        returns (uint8 v, bytes32 r, bytes32 s)
    {
        // The struct always names OWNER_PK's address as owner; signing with another key forges it.
        bytes32 structHash =
            keccak256(abi.encode(PERMIT_TYPEHASH, vm.addr(OWNER_PK), spender, value, nonce, deadline));
        (v, r, s) = vm.sign(pk, keccak256(abi.encodePacked("\x19\x01", token.DOMAIN_SEPARATOR(), structHash)));
    }

    function test_permit_setsAllowanceFromSignature() public {
        address owner = vm.addr(OWNER_PK);
        address spender = address(0x5E1D);
        vm.prank(treasury);
        assertTrue(token.transfer(owner, 100e18), "transfer");
        uint256 deadline = vm.getBlockTimestamp() + 1 hours;
        (uint8 v, bytes32 r, bytes32 s) = _sign(OWNER_PK, spender, 40e18, 0, deadline);
        vm.prank(address(0xBEEF)); // anyone relays
        token.permit(owner, spender, 40e18, deadline, v, r, s);
        assertEq(token.allowance(owner, spender), 40e18, "allowance");
        assertEq(token.nonces(owner), 1, "nonce used");
        vm.prank(spender);
        assertTrue(token.transferFrom(owner, spender, 40e18), "transferFrom");
        assertEq(token.balanceOf(spender), 40e18, "spent via permit allowance");
    }

    function test_permit_domainSeparator() public view {
        bytes32 expected = keccak256(
            abi.encode(
                keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"),
                keccak256("Concord"),
                keccak256("1"),
                block.chainid,
                address(token)
            )
        );
        assertEq(token.DOMAIN_SEPARATOR(), expected, "domain");
    }

    function test_permit_revertsOnReplay() public {
        address owner = vm.addr(OWNER_PK);
        uint256 deadline = vm.getBlockTimestamp() + 1 hours;
        (uint8 v, bytes32 r, bytes32 s) = _sign(OWNER_PK, address(0x5E1D), 1e18, 0, deadline);
        token.permit(owner, address(0x5E1D), 1e18, deadline, v, r, s);
        // With nonce 1 the same signature recovers to some other address.
        bytes32 structHash = keccak256(abi.encode(PERMIT_TYPEHASH, owner, address(0x5E1D), 1e18, 1, deadline));
        address recovered =
            ecrecover(keccak256(abi.encodePacked("\x19\x01", token.DOMAIN_SEPARATOR(), structHash)), v, r, s);
        vm.expectRevert(abi.encodeWithSelector(ERC20Permit.ERC2612InvalidSigner.selector, recovered, owner));
        token.permit(owner, address(0x5E1D), 1e18, deadline, v, r, s);
    }

    function test_permit_revertsExpired() public {
        address owner = vm.addr(OWNER_PK);
        uint256 deadline = vm.getBlockTimestamp() + 1 hours;
        (uint8 v, bytes32 r, bytes32 s) = _sign(OWNER_PK, address(0x5E1D), 1e18, 0, deadline);
        vm.warp(deadline + 1);
        vm.expectRevert(abi.encodeWithSelector(ERC20Permit.ERC2612ExpiredSignature.selector, deadline));
        token.permit(owner, address(0x5E1D), 1e18, deadline, v, r, s);
    }

    function test_permit_revertsWrongSigner() public {
        address owner = vm.addr(OWNER_PK);
        uint256 deadline = vm.getBlockTimestamp() + 1 hours;
        (uint8 v, bytes32 r, bytes32 s) = _sign(OWNER_PK + 1, address(0x5E1D), 1e18, 0, deadline);
        vm.expectRevert(
            abi.encodeWithSelector(ERC20Permit.ERC2612InvalidSigner.selector, vm.addr(OWNER_PK + 1), owner)
        );
        token.permit(owner, address(0x5E1D), 1e18, deadline, v, r, s);
    }
}
