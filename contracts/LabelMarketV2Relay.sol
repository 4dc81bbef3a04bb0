// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {MessageHashUtils} from "@openzeppelin/contracts/utils/cryptography/MessageHashUtils.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {LabelMarketV2Tally} from "./LabelMarketV2Tally.sol";
import {ILabelMarketV2Relay} from "./interfaces/ILabelMarketV2.sol";

/// @title LabelMarketV2Relay
/// @notice Relayed joins and commits of `LabelMarketV2` (`ILabelMarketV2Relay`): joins (with the stake they need,
///         through a permit) and commits — each with the next round's join that rides along — that annotators
///         signed, sent by someone else (typically the requester's server, once per round), so that an annotator
///         pays no transaction at all. Run only through the market's `delegatecall` (the settlement module routes
///         `relayJoins` and `relayCommits` here), in the market's storage.
/// @dev Each relayed join or commit runs the very code of the annotator's own `join` (`_join`) or `commitAndJoin`
///      (`_commit`, `_reserve`), with the annotator named by the signature instead of by `msg.sender`. The EIP-712 domain is the market's: run in
///      its storage through `delegatecall`, `address(this)` is the market, and the name and version are its own.
///      Both are `nonReentrant` with the market's guard (a delegatecall shares the market's transient storage);
///      `relayCommits` makes no external call, `relayJoins` calls the stake token only after every join is recorded.
contract LabelMarketV2Relay is ILabelMarketV2Relay, LabelMarketV2Tally, EIP712, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    /// @notice EIP-712 type of a relayed commit (read it on this module's address: the market does not route it).
    bytes32 public constant RELAYED_COMMIT_TYPEHASH = keccak256(
        "RelayedCommit(uint256 batchId,uint256 bundleId,bytes32 commitHash,bytes32 backupHash,uint256 maxTasks)"
    );
    /// @notice EIP-712 type of a relayed join (read it on this module's address: the market does not route it).
    bytes32 public constant RELAYED_JOIN_TYPEHASH =
        keccak256("RelayedJoin(uint256 batchId,uint256 round,uint256 maxTasks,uint256 stake)");

    /// @param stakeToken The market's stake token.
    /// @param treasury The market's treasury.
    constructor(IERC20 stakeToken, address treasury)
        LabelMarketV2Tally(stakeToken, treasury)
        EIP712("Concord LabelMarket", "2")
    {}

    /// @notice See `ILabelMarketV2Relay.relayCommits`.
    function relayCommits(uint256 batchId, RelayedCommit[] calldata commits) external onlyDelegated nonReentrant {
        // Run through the market's delegatecall, `address(this)` is the market: its domain, built once per call.
        bytes32 domain = _domainSeparatorV4();
        for (uint256 i; i < commits.length; ++i) {
            RelayedCommit calldata rc = commits[i];
            address annotator = rc.bundle.annotator;
            bytes32 digest = MessageHashUtils.toTypedDataHash(
                domain,
                keccak256(
                    abi.encode(
                        RELAYED_COMMIT_TYPEHASH, batchId, rc.bundleId, rc.commitHash, keccak256(rc.backup), rc.maxTasks
                    )
                )
            );
            // slither-disable-next-line unused-return (the third value only details a failure that `err` reports)
            (address signer, ECDSA.RecoverError err,) = ECDSA.tryRecover(digest, rc.signature);
            if (err != ECDSA.RecoverError.NoError || signer != annotator) revert InvalidRelayedCommit(rc.bundleId);
            Batch storage b = _commit(batchId, rc.bundleId, rc.bundle, rc.commitHash, rc.backup, annotator);
            if (rc.maxTasks != 0) {
                // slither-disable-next-line unused-return (the reservation is in its `Joined` event)
                _reserve(batchId, b, uint256(rc.bundle.round) + 1, rc.bundle.lane, rc.maxTasks, annotator);
            }
        }
    }

    /// @notice See `ILabelMarketV2Relay.relayJoins`.
    function relayJoins(uint256 batchId, RelayedJoin[] calldata joins) external onlyDelegated nonReentrant {
        bytes32 domain = _domainSeparatorV4();
        for (uint256 i; i < joins.length; ++i) {
            RelayedJoin calldata rj = joins[i];
            address annotator = rj.annotator;
            if (rj.stake != 0) _addStake(annotator, rj.stake);
            (,, uint256 round) = _join(batchId, rj.maxTasks, annotator);
            // The signature binds the round the join went to, known once it is recorded (a failure reverts it all).
            bytes32 digest = MessageHashUtils.toTypedDataHash(
                domain, keccak256(abi.encode(RELAYED_JOIN_TYPEHASH, batchId, round, rj.maxTasks, rj.stake))
            );
            // slither-disable-next-line unused-return (the third value only details a failure that `err` reports)
            (address signer, ECDSA.RecoverError err,) = ECDSA.tryRecover(digest, rj.signature);
            if (err != ECDSA.RecoverError.NoError || signer != annotator) revert InvalidRelayedJoin(annotator);
        }
        // The stake moves in once every join is recorded.
        for (uint256 i; i < joins.length; ++i) {
            RelayedJoin calldata rj = joins[i];
            if (rj.stake == 0) continue;
            if (rj.v != 0) {
                // A permit someone sent first (it is public once this call is) set the allowance all the same; a
                // missing allowance fails the transfer below.
                // slither-disable-next-line calls-loop (one permit per annotator staking; the batch is bounded by its sender)
                try IERC20Permit(address(STAKE_TOKEN))
                    .permit(rj.annotator, address(this), rj.stake, rj.deadline, rj.v, rj.r, rj.s) {}
                    catch {}
            }
            // slither-disable-next-line calls-loop,arbitrary-send-erc20,arbitrary-send-erc20-permit (the annotator signed this join and stake: see the join loop)
            STAKE_TOKEN.safeTransferFrom(rj.annotator, address(this), rj.stake);
        }
    }
}
