// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Vm} from "./Vm.sol";

/// @notice Minimal project-owned base test: the cheatcode handle, `bound`, the assertion helpers, and the
///         invariant-target hooks forge reads (`targetContracts`, `targetSelectors`). Stands in for forge-std's Test.
abstract contract Base {
    Vm internal constant vm = Vm(address(uint160(uint256(keccak256("hevm cheat code")))));

    /// @notice One whole token (18 decimals, like ConcordToken): the unit of every amount in the tests.
    uint128 internal constant UNIT = 1e18;

    /// @dev forge looks for this flag to know the contract is a test contract.
    bool public IS_TEST = true;

    struct FuzzSelector {
        address addr;
        bytes4[] selectors;
    }

    address[] internal _targetedContracts;
    FuzzSelector[] internal _targetedSelectors;

    function targetContracts() public view returns (address[] memory) {
        return _targetedContracts;
    }

    function targetSelectors() public view returns (FuzzSelector[] memory) {
        return _targetedSelectors;
    }

    function targetContract(address target) internal {
        _targetedContracts.push(target);
    }

    function targetSelector(FuzzSelector memory selector) internal {
        _targetedSelectors.push(selector);
    }

    /// @dev Maps `x` into [min, max] uniformly enough for fuzzing, keeping small inputs stable (forge-std's rule).
    function bound(uint256 x, uint256 min, uint256 max) internal pure returns (uint256) {
        require(min <= max, "bound: min > max");
        if (x >= min && x <= max) return x;
        uint256 size = max - min + 1;
        if (x <= 3 && size > x) return min + x;
        if (x >= type(uint256).max - 3 && size > type(uint256).max - x) return max - (type(uint256).max - x);
        return min + (x % size);
    }

    // ------------------------------------------------------------------------------------------------
    // Assertions: every test's helpers live here, so a contract that derives only from Base (the token and
    // packing tests, the invariant suite) asserts with the same names as the market tests. Each forwards to
    // the cheatcode of the same name, which reports `err` on failure.
    // ------------------------------------------------------------------------------------------------

    /// @notice Fails with `err` unless `a == b`.
    function assertEq(uint256 a, uint256 b, string memory err) internal pure {
        vm.assertEq(a, b, err);
    }

    /// @notice Fails with `err` unless `a == b`.
    function assertEq(int256 a, int256 b, string memory err) internal pure {
        vm.assertEq(a, b, err);
    }

    /// @notice Fails with `err` unless `a == b`.
    function assertEq(address a, address b, string memory err) internal pure {
        vm.assertEq(a, b, err);
    }

    /// @notice Fails with `err` unless `a == b`.
    function assertEq(bytes32 a, bytes32 b, string memory err) internal pure {
        vm.assertEq(a, b, err);
    }

    /// @notice Fails with `err` unless `a == b`.
    function assertEq(bool a, bool b, string memory err) internal pure {
        vm.assertEq(a, b, err);
    }

    /// @notice Fails with `err` if `a == b`.
    function assertNotEq(bytes32 a, bytes32 b, string memory err) internal pure {
        vm.assertNotEq(a, b, err);
    }

    /// @notice Fails with `err` unless the strings are equal. Named apart from assertEq so that string
    ///         literals, which also convert to bytes32, never make a call ambiguous.
    function assertEqStr(string memory a, string memory b, string memory err) internal pure {
        vm.assertEq(a, b, err);
    }

    /// @notice Fails with `err` unless `c` holds.
    function assertTrue(bool c, string memory err) internal pure {
        vm.assertTrue(c, err);
    }

    /// @notice Fails with `err` if `c` holds.
    function assertFalse(bool c, string memory err) internal pure {
        vm.assertFalse(c, err);
    }

    /// @notice Fails with `err` unless `a >= b`.
    function assertGe(uint256 a, uint256 b, string memory err) internal pure {
        vm.assertGe(a, b, err);
    }

    /// @notice Fails with `err` unless `a <= b`.
    function assertLe(uint256 a, uint256 b, string memory err) internal pure {
        vm.assertLe(a, b, err);
    }

    /// @notice Fails with `err` unless `a > b`.
    function assertGt(uint256 a, uint256 b, string memory err) internal pure {
        vm.assertGt(a, b, err);
    }

    /// @notice Fails with `err` unless `a < b`.
    function assertLt(uint256 a, uint256 b, string memory err) internal pure {
        vm.assertLt(a, b, err);
    }
}
