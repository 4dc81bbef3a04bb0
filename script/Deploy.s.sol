// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Vm} from "../contracts/test/utils/Vm.sol";
import {ConcordToken} from "../contracts/ConcordToken.sol";
import {LabelMarket} from "../contracts/LabelMarket.sol";

/// @notice Deploys ConcordToken and LabelMarket and writes their addresses to `deployments/<chainId>.json`
///         (the format `concord-requester` and `concord-annotator` read with `--deployment`).
/// @dev forge script script/Deploy.s.sol --rpc-url $ETH_RPC_URL --private-key $KEY --broadcast
///      Env: TREASURY (default: the deployer), UNSTAKE_COOLDOWN seconds (default 7 days),
///      DEPLOYMENT_OUT (default deployments/<chainId>.json).
contract Deploy {
    Vm internal constant vm = Vm(address(uint160(uint256(keccak256("hevm cheat code")))));

    function run() external returns (ConcordToken token, LabelMarket market) {
        vm.startBroadcast();
        address treasury = vm.envOr("TREASURY", msg.sender);
        uint256 cooldown = vm.envOr("UNSTAKE_COOLDOWN", uint256(7 days));
        token = new ConcordToken(treasury);
        market = new LabelMarket(token, treasury, cooldown);
        vm.stopBroadcast();

        string memory out = vm.envOr(
            "DEPLOYMENT_OUT",
            string.concat(vm.projectRoot(), "/deployments/", vm.toString(block.chainid), ".json")
        );
        vm.serializeUint("d", "chainId", block.chainid);
        vm.serializeUint("d", "deployBlock", block.number);
        vm.serializeAddress("d", "treasury", treasury);
        vm.serializeAddress("d", "token", address(token));
        string memory json = vm.serializeAddress("d", "market", address(market));
        vm.writeJson(json, out);
    }
}
