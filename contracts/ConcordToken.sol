// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";

/// @title ConcordToken
/// @notice The protocol token annotators stake (and requesters may pay rewards in). ERC-20 with
///         EIP-2612 permit. The whole capped supply is minted once, at deployment, to a treasury;
///         there is no mint function, so the supply can never grow.
contract ConcordToken is ERC20, ERC20Permit {
    /// @notice Hard cap and total supply: 1,000,000,000 tokens with 18 decimals.
    uint256 public constant MAX_SUPPLY = 1_000_000_000e18;

    /// @notice Thrown when the treasury receiving the supply is the zero address.
    error ZeroTreasury();

    /// @param treasury Receives the entire supply.
    constructor(address treasury) ERC20("Concord", "CCD") ERC20Permit("Concord") {
        if (treasury == address(0)) revert ZeroTreasury();
        _mint(treasury, MAX_SUPPLY);
    }
}
