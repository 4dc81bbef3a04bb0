// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {Base} from "../utils/Base.sol";
import {LabelMarketV2Storage} from "../../LabelMarketV2Storage.sol";

/// @dev Exposes the word helpers of the shared storage contract.
contract StorageHarness is LabelMarketV2Storage {
    constructor() LabelMarketV2Storage(IERC20(address(1)), address(2)) {}

    function nthZero(uint256 bits, uint256 index) external pure returns (uint256) {
        return _nthZero(bits, index);
    }

    function find(uint256[] memory list, uint256 value) external pure returns (bool, uint256) {
        return _find(list, value);
    }
}

/// @notice The loop-free select of the n-th uncommitted ticket of a word, and the task-list search, against plain
///         references.
contract LabelMarketV2SelectTest is Base {
    StorageHarness internal h = new StorageHarness();

    function _reference(uint256 bits, uint256 index) internal pure returns (uint256) {
        for (uint256 i; i < 256; ++i) {
            if ((bits >> i) & 1 == 0) {
                if (index == 0) return i;
                --index;
            }
        }
        revert("no such zero");
    }

    function testFuzz_nthZero_equalsTheBitByBitScan(uint256 bits, uint256 index, uint8 density) public view {
        // Dense and sparse words both: clear some bits so that every zero count happens.
        if (density % 3 == 0) bits &= uint256(keccak256(abi.encode(bits)));
        if (density % 3 == 1) bits |= uint256(keccak256(abi.encode(bits)));
        uint256 zeros;
        for (uint256 i; i < 256; ++i) {
            if ((bits >> i) & 1 == 0) ++zeros;
        }
        if (zeros == 0) return;
        index = bound(index, 0, zeros - 1);
        assertEq(h.nthZero(bits, index), _reference(bits, index), "same position");
    }

    function test_nthZero_edges() public view {
        assertEq(h.nthZero(0, 0), 0, "first of an empty word");
        assertEq(h.nthZero(0, 255), 255, "last of an empty word");
        assertEq(h.nthZero(type(uint256).max >> 1, 0), 255, "the only zero at the top");
        assertEq(h.nthZero(type(uint256).max - 1, 0), 0, "the only zero at the bottom");
        assertEq(h.nthZero(0x5555555555555555555555555555555555555555555555555555555555555555, 127), 255, "odd bits");
    }

    function testFuzz_find_equalsALinearScan(uint256 seed, uint256 value) public view {
        uint256 n = seed % 20;
        uint256[] memory list = new uint256[](n);
        uint256 v = (seed >> 8) % 5;
        for (uint256 i; i < n; ++i) {
            list[i] = v;
            v += 1 + ((seed >> (16 + i)) & 1) * ((seed >> (40 + i)) % 3);
        }
        value = bound(value, 0, v + 2);
        (bool found, uint256 index) = h.find(list, value);
        bool expected;
        uint256 at;
        for (uint256 i; i < n; ++i) {
            if (list[i] == value) (expected, at) = (true, i);
        }
        assertEq(found, expected, "found");
        if (found) assertEq(index, at, "index");
    }
}
