// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Vm} from "../contracts/test/utils/Vm.sol";
import {ConcordToken} from "../contracts/ConcordToken.sol";
import {LabelMarketV2} from "../contracts/LabelMarketV2.sol";
import {LabelMarketV2Settlement} from "../contracts/LabelMarketV2Settlement.sol";
import {LabelMarketV2Optimistic} from "../contracts/LabelMarketV2Optimistic.sol";
import {LabelMarketV2Relay} from "../contracts/LabelMarketV2Relay.sol";
import {GenerationMarket} from "../contracts/GenerationMarket.sol";
import {IReviewMarket} from "../contracts/interfaces/IGenerationMarket.sol";

/// @notice Deploys ConcordToken, LabelMarketV2 (with its settlement module) and the GenerationMarket on it, and writes
///         their addresses
///         to `deployments/<chainId>.json` (the format `concord-requester` and `concord-annotator` read with `--deployment`).
/// @dev forge script script/Deploy.s.sol --rpc-url $ETH_RPC_URL --private-key $KEY --broadcast
///      Env: TREASURY (default: the deployer), UNSTAKE_COOLDOWN seconds (default 7 days),
///      DEPLOYMENT_OUT (default deployments/<chainId>.json).
contract Deploy {
    Vm internal constant vm = Vm(address(uint160(uint256(keccak256("hevm cheat code")))));

    function run() external returns (ConcordToken token, LabelMarketV2 market, GenerationMarket generation) {
        vm.startBroadcast();
        address treasury = vm.envOr("TREASURY", msg.sender);
        uint256 cooldown = vm.envOr("UNSTAKE_COOLDOWN", uint256(7 days));
        token = new ConcordToken(treasury);
        market = new LabelMarketV2(
            token,
            treasury,
            cooldown,
            new LabelMarketV2Settlement(
                token, treasury, new LabelMarketV2Optimistic(token, treasury), new LabelMarketV2Relay(token, treasury)
            )
        );
        generation = new GenerationMarket(IReviewMarket(address(market)));
        vm.stopBroadcast();

        string memory out = vm.envOr(
            "DEPLOYMENT_OUT", string.concat(vm.projectRoot(), "/deployments/", vm.toString(block.chainid), ".json")
        );
        vm.serializeUint("d", "chainId", block.chainid);
        vm.serializeUint("d", "deployBlock", block.number);
        vm.serializeAddress("d", "treasury", treasury);
        vm.serializeAddress("d", "token", address(token));
        vm.serializeAddress("d", "generation", address(generation));
        string memory json = vm.serializeAddress("d", "market", address(market));
        vm.writeJson(json, out);
    }
}
