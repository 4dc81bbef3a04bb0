// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";

/// @title NaiveLabelMarket
/// @notice Benchmark baseline only (never deployed for real): the straightforward design Concord's market is
///         measured against — one transaction per label for commit and for reveal, one storage slot per
///         label, per-item vote counters, settlement item by item with a transfer per agreeing label.
///         It has no staking, slashing, gold or review, so it is cheaper than a real naive market would be:
///         the gas ratio `make bench-gas` reports is a lower bound of Concord's advantage.
contract NaiveLabelMarket {
    using SafeERC20 for IERC20;

    struct Batch {
        address requester;
        IERC20 token;
        uint32 numItems;
        uint8 replicas;
        uint8 numClasses;
        uint128 reward;
    }

    struct Label {
        bytes32 commitHash;
        uint8 label;
        bool revealed;
    }

    error NotCommitted();
    error Mismatch();
    error Full();
    error Settled();

    uint256 public batchCount;
    mapping(uint256 => Batch) public batches;
    mapping(uint256 => mapping(uint256 => address[])) public labelers;
    mapping(uint256 => mapping(uint256 => mapping(address => Label))) public labels;
    mapping(uint256 => mapping(uint256 => mapping(uint256 => uint256))) public votes;
    mapping(uint256 => mapping(uint256 => bool)) public settled;

    function createBatch(IERC20 token, uint32 numItems, uint8 replicas, uint8 numClasses, uint128 reward)
        external
        returns (uint256 id)
    {
        id = batchCount++;
        batches[id] = Batch(msg.sender, token, numItems, replicas, numClasses, reward);
        token.safeTransferFrom(msg.sender, address(this), uint256(numItems) * replicas * reward);
    }

    function commit(uint256 batchId, uint256 item, bytes32 commitHash) external {
        address[] storage l = labelers[batchId][item];
        if (l.length >= batches[batchId].replicas) revert Full();
        l.push(msg.sender);
        labels[batchId][item][msg.sender].commitHash = commitHash;
    }

    function reveal(uint256 batchId, uint256 item, uint8 label, bytes32 salt) external {
        Label storage s = labels[batchId][item][msg.sender];
        if (s.commitHash == bytes32(0)) revert NotCommitted();
        if (keccak256(abi.encode(batchId, item, msg.sender, label, salt)) != s.commitHash) revert Mismatch();
        s.label = label;
        s.revealed = true;
        votes[batchId][item][label] += 1;
    }

    function settle(uint256 batchId, uint256 item) external {
        if (settled[batchId][item]) revert Settled();
        settled[batchId][item] = true;
        Batch storage b = batches[batchId];
        uint256 best;
        uint256 top;
        for (uint256 c; c < b.numClasses; ++c) {
            uint256 v = votes[batchId][item][c];
            if (v > top) {
                top = v;
                best = c;
            }
        }
        address[] storage l = labelers[batchId][item];
        for (uint256 i; i < l.length; ++i) {
            Label storage s = labels[batchId][item][l[i]];
            if (s.revealed && s.label == best) b.token.safeTransfer(l[i], b.reward);
        }
    }
}
