// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";

import {ILabelMarketV2} from "./interfaces/ILabelMarketV2.sol";
import {LabelMarketV2Storage} from "./LabelMarketV2Storage.sol";
import {LabelMarketV2Settlement} from "./LabelMarketV2Settlement.sol";
import {LabelPacking} from "./libraries/LabelPacking.sol";
import {BundlePacking} from "./libraries/BundlePacking.sol";
import {Permutation} from "./libraries/Permutation.sol";
import {Leaves} from "./libraries/Leaves.sol";

/// @title LabelMarketV2
/// @notice Escrowed labeling batches paid only for labels that agree with an independent consensus, with
///         assignment nobody can steer and bundles of tasks per transaction (protocol v2, docs/protocol-v2.md).
/// @dev Lifecycle of a batch (deadlines absolute, fixed at creation):
///        rounds inside [create .. commitDeadline]: join (stake locked, tasks unknown) until the round seals,
///            seed = hash of the block after the seal, commit bundles until the round's commitEnd; positions
///            never committed form the next round's pool
///        reveal: once every position is committed, or after the commit deadline, until revealDeadline;
///            gold answers after the commit deadline
///        settlement: per task from the re-supplied bundles, as soon as nothing can change
///        review until reviewDeadline; then refund (unspent escrow to the requester; escrow of items the
///            reviewer left undecided and a forfeited gold bond to the treasury)
///      Every state-changing function is `nonReentrant`: none can be re-entered from a token callback.
contract LabelMarketV2 is ILabelMarketV2, LabelMarketV2Storage, EIP712, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;
    using LabelPacking for uint256;
    using LabelPacking for uint64;

    // ------------------------------------------------------------------------------------------------
    // Constants and immutables
    // ------------------------------------------------------------------------------------------------

    /// @notice EIP-712 type of a qualification attestation signed by a batch's qualifier.
    bytes32 public constant QUALIFICATION_TYPEHASH =
        keccak256("Qualification(uint256 batchId,address annotator,uint256 deadline)");

    /// @notice Seconds between an unstake request and the withdrawal.
    uint256 public immutable UNSTAKE_COOLDOWN;
    /// @notice The module this market delegates seeds, `commitAndJoin`, gold, settlement, review, refund and expiry
    ///         to, in its own storage (it routes what it has no code for, `refund` among them, to its own modules). Deployed before the market (the two would not fit one creation's 48 KiB
    ///         initcode limit, EIP-3860) and fixed here.
    address public immutable SETTLEMENT;

    /// @dev Bytes 0x80 - C in every byte of a 128-bit field; see `_labelsInRange`.

    /// @param stakeToken The protocol token annotators stake.
    /// @param treasury Receives slashed stake no agreeing annotator can take.
    /// @param unstakeCooldown Seconds between an unstake request and the withdrawal.
    /// @param settlement The module, deployed with the same stake token and treasury.
    constructor(IERC20 stakeToken, address treasury, uint256 unstakeCooldown, LabelMarketV2Settlement settlement)
        LabelMarketV2Storage(stakeToken, treasury)
        EIP712("Concord LabelMarket", "2")
    {
        if (settlement.STAKE_TOKEN() != stakeToken || settlement.TREASURY() != treasury) {
            revert InvalidParams("settlement");
        }
        UNSTAKE_COOLDOWN = unstakeCooldown;
        SETTLEMENT = address(settlement);
    }

    // ------------------------------------------------------------------------------------------------
    // Requester: batches, gold, review, refund
    // ------------------------------------------------------------------------------------------------

    /// @inheritdoc ILabelMarketV2
    function createBatch(BatchParams calldata params) external nonReentrant returns (uint256 batchId) {
        return _createBatch(params);
    }

    /// @inheritdoc ILabelMarketV2
    function createBatchWithPermit(BatchParams calldata params, uint256 deadline, uint8 v, bytes32 r, bytes32 s)
        external
        nonReentrant
        returns (uint256 batchId)
    {
        uint256 total = uint256(params.numItems) * params.replicas * params.rewardPerLabel + params.goldBond;
        // A front-run permit (same signature already used) must not block the creation: ignore its failure and
        // let the transfer below fail if the allowance is really missing.
        try IERC20Permit(params.rewardToken).permit(msg.sender, address(this), total, deadline, v, r, s) {} catch {}
        return _createBatch(params);
    }

    function _createBatch(BatchParams calldata p) internal returns (uint256 batchId) {
        _validate(p);
        uint256 escrow = uint256(p.numItems) * p.replicas * p.rewardPerLabel;
        if (escrow + p.goldBond > type(uint128).max) revert InvalidParams("escrow overflows uint128");

        batchId = batchCount++;
        Batch storage b = _batches[batchId];
        uint256 commitDeadline = block.timestamp + p.periods.commitPeriod;
        uint256 revealDeadline = commitDeadline + p.periods.revealPeriod;
        uint32 numTasks = uint32((uint256(p.numItems) + p.taskSize - 1) / p.taskSize);
        BatchConfig storage c = b.config;
        c.requester = msg.sender;
        c.commitDeadline = uint40(commitDeadline);
        c.revealDeadline = uint40(revealDeadline);
        c.rewardToken = p.rewardToken;
        c.reviewDeadline = uint40(revealDeadline + p.periods.reviewPeriod);
        c.roundPeriod = p.periods.roundPeriod;
        c.reviewer = p.reviewer;
        c.numItems = p.numItems;
        c.taskSize = p.taskSize;
        c.replicas = p.replicas;
        c.numClasses = p.numClasses;
        c.thresholdBps = p.thresholdBps;
        c.maxBundle = p.maxBundle;
        c.qualifier = p.qualifier;
        c.numTasks = numTasks;
        c.goldCount = p.goldCount;
        c.commitWindow = p.periods.commitWindow;
        c.rewardPerLabel = p.rewardPerLabel;
        c.stakePerTask = p.stakePerTask;
        c.wrongLabelPenalty = p.wrongLabelPenalty;
        c.noRevealPenalty = p.noRevealPenalty;
        c.minReputation = p.minReputation;
        c.squatPenalty = p.squatPenalty;
        c.minStake = p.minStake;
        _shapes[batchId] = uint256(numTasks) | (uint256(p.replicas) << 32) | (uint256(p.maxBundle) << 40)
            | (uint256(p.numClasses) << 48) | (uint256(uint160(p.qualifier)) << 56);
        _joinTerms[batchId] =
            uint256(p.stakePerTask) | (uint256(p.minStake) << 96) | (uint256(uint64(p.minReputation)) << 192);
        b.roots = Roots(p.manifestRoot, p.goldRoot);
        b.state.escrow = uint128(escrow);
        b.state.goldBond = p.goldBond;
        b.state.round = 1;

        // Round 1 opens now over every position of every lane.
        uint256 joinEnd = block.timestamp + p.periods.roundPeriod;
        uint256 commitEnd = joinEnd + p.periods.commitWindow;
        uint256 free = uint256(numTasks) * p.replicas;
        _rounds[batchId][1] = Round(uint40(joinEnd), uint40(commitEnd), 0, uint32(free));

        emit BatchCreated(batchId, msg.sender, p.rewardToken, p, escrow);
        emit RoundOpened(batchId, 1, joinEnd, commitEnd, free);

        // Interaction last; reject tokens that deliver less than asked (fee-on-transfer, rebasing down).
        IERC20 token = IERC20(p.rewardToken);
        uint256 total = escrow + p.goldBond;
        uint256 before = token.balanceOf(address(this));
        token.safeTransferFrom(msg.sender, address(this), total);
        uint256 received = token.balanceOf(address(this)) - before;
        if (received != total) revert TokenShortfall(total, received);
    }

    function _validate(BatchParams calldata p) internal pure {
        if (p.rewardToken == address(0)) revert InvalidParams("rewardToken");
        if (p.numItems == 0) revert InvalidParams("numItems");
        if (p.taskSize == 0 || p.taskSize > MAX_TASK_SIZE) revert InvalidParams("taskSize");
        if (p.replicas < 2 || p.replicas > MAX_REPLICAS) revert InvalidParams("replicas");
        if (p.numClasses < 2 || p.numClasses > MAX_CLASSES) revert InvalidParams("numClasses");
        if (p.thresholdBps == 0 || p.thresholdBps > 10_000) revert InvalidParams("thresholdBps");
        if (p.maxBundle == 0 || p.maxBundle > MAX_BUNDLE) revert InvalidParams("maxBundle");
        if (p.rewardPerLabel == 0) revert InvalidParams("rewardPerLabel");
        if (p.noRevealPenalty <= uint256(p.wrongLabelPenalty) * p.taskSize) revert InvalidParams("noRevealPenalty");
        if (p.stakePerTask < p.noRevealPenalty) revert InvalidParams("stakePerTask");
        if (p.squatPenalty == 0 || p.squatPenalty > p.stakePerTask) revert InvalidParams("squatPenalty");
        if (p.periods.revealPeriod == 0) revert InvalidParams("revealPeriod");
        if (p.periods.roundPeriod == 0) revert InvalidParams("roundPeriod");
        if (p.periods.commitWindow == 0) revert InvalidParams("commitWindow");
        if (uint256(p.periods.roundPeriod) + p.periods.commitWindow > p.periods.commitPeriod) {
            revert InvalidParams("commitPeriod");
        }
        if (p.manifestRoot == bytes32(0)) revert InvalidParams("manifestRoot");
        if ((p.goldRoot == bytes32(0)) != (p.goldCount == 0) || p.goldCount > p.numItems) {
            revert InvalidParams("goldCount");
        }
        if ((p.goldCount == 0) != (p.goldBond == 0)) revert InvalidParams("goldBond");
        if (uint256(p.numItems) * p.replicas > type(uint32).max) revert InvalidParams("numItems");
    }

    // ------------------------------------------------------------------------------------------------
    // Annotator: stake, qualification, collect
    // ------------------------------------------------------------------------------------------------

    /// @inheritdoc ILabelMarketV2
    function stake(uint256 amount) external nonReentrant {
        if (amount == 0) revert ZeroAmount();
        _addStake(msg.sender, amount);
        STAKE_TOKEN.safeTransferFrom(msg.sender, address(this), amount);
    }

    /// @inheritdoc ILabelMarketV2
    function requestUnstake(uint256 amount) external nonReentrant {
        if (amount == 0) revert ZeroAmount();
        Account storage a = _accounts[msg.sender];
        uint256 unlocked = a.amount - a.locked;
        if (amount > unlocked) revert StakeLocked(unlocked, amount);
        a.amount -= uint96(amount); // amount <= unlocked < 2^96
        pendingUnstake[msg.sender] += amount;
        uint256 unlockAt = block.timestamp + UNSTAKE_COOLDOWN;
        a.unlockAt = uint40(unlockAt);
        emit UnstakeRequested(msg.sender, amount, unlockAt);
    }

    /// @inheritdoc ILabelMarketV2
    function withdraw() external nonReentrant {
        uint256 amount = pendingUnstake[msg.sender];
        if (amount == 0) revert NothingToWithdraw();
        uint256 unlockAt = _accounts[msg.sender].unlockAt;
        if (block.timestamp < unlockAt) revert CooldownActive(unlockAt);
        pendingUnstake[msg.sender] = 0;
        emit Withdrawn(msg.sender, amount);
        STAKE_TOKEN.safeTransfer(msg.sender, amount);
    }

    /// @inheritdoc ILabelMarketV2
    function qualify(uint256 batchId, address annotator, uint256 deadline, bytes calldata signature)
        external
        nonReentrant
    {
        address qualifier = _batch(batchId).config.qualifier;
        // The qualifier itself (a contract such as the generation market, or a key sending a transaction) records a
        // qualification directly; anyone else brings its EIP-712 signature.
        if (msg.sender != qualifier) {
            if (block.timestamp > deadline) revert QualificationExpired(deadline);
            bytes32 digest =
                _hashTypedDataV4(keccak256(abi.encode(QUALIFICATION_TYPEHASH, batchId, annotator, deadline)));
            // slither-disable-next-line unused-return (the third value only details a failure that `err` reports)
            (address signer, ECDSA.RecoverError err,) = ECDSA.tryRecover(digest, signature);
            if (err != ECDSA.RecoverError.NoError || signer == address(0) || signer != qualifier) {
                revert InvalidQualification();
            }
        }
        qualified[batchId][annotator] = true;
        emit Qualified(batchId, annotator);
    }

    /// @inheritdoc ILabelMarketV2
    function collect(address token) external nonReentrant returns (uint256 amount) {
        amount = claimable[msg.sender][token];
        if (amount == 0) revert NothingToWithdraw();
        claimable[msg.sender][token] = 0;
        emit Collected(msg.sender, token, amount);
        IERC20(token).safeTransfer(msg.sender, amount);
    }

    // ------------------------------------------------------------------------------------------------
    // Annotator: join, seal, seed, commit, reveal, expire
    // ------------------------------------------------------------------------------------------------

    /// @inheritdoc ILabelMarketV2
    function join(uint256 batchId, uint256 maxTasks) external nonReentrant returns (uint256 bundleId, uint256 size) {
        (bundleId, size,) = _join(batchId, maxTasks, msg.sender);
    }

    /// @inheritdoc ILabelMarketV2
    function seal(uint256 batchId) external nonReentrant {
        Batch storage b = _batch(batchId);
        uint256 round = b.state.round;
        Round storage r = _rounds[batchId][round];
        if (block.timestamp > r.commitEnd) {
            // The round is over: open the next one, whose reserved bundles wait for it.
            _openRound(batchId, b, round + 1);
            return;
        }
        if (r.sealBlock != 0) revert AlreadySealed(round);
        if (block.timestamp <= r.joinEnd) revert RoundStillOpen(round, r.joinEnd);
        r.sealBlock = uint64(block.number);
        emit RoundSealed(batchId, round, block.number);
    }

    /// @inheritdoc ILabelMarketV2
    function drawSeed(uint256, uint256) external nonReentrant {
        _delegate();
    }

    /// @inheritdoc ILabelMarketV2
    function commit(
        uint256 batchId,
        uint256 bundleId,
        Bundle calldata bundle,
        bytes32 commitHash,
        bytes calldata backup
    ) external nonReentrant {
        _commit(batchId, bundleId, bundle, commitHash, backup, msg.sender);
    }

    /// @inheritdoc ILabelMarketV2
    function commitAndJoin(uint256, uint256, Bundle calldata, bytes32, bytes calldata, uint256)
        external
        nonReentrant
        returns (uint256, uint256)
    {
        return abi.decode(_delegate(), (uint256, uint256));
    }

    /// @inheritdoc ILabelMarketV2
    function reveal(uint256 batchId, uint256 bundleId, Bundle calldata bundle, uint256[] calldata labels, bytes32 salt)
        external
        nonReentrant
    {
        Batch storage b = _batch(batchId);
        BatchConfig storage c = b.config;
        if (bundle.annotator != msg.sender) revert NotYourBundle(bundleId, msg.sender);
        if (block.timestamp > c.revealDeadline) revert RevealPhaseOver(c.revealDeadline);
        uint256 shape = _shapes[batchId];
        if (block.timestamp <= c.commitDeadline && b.state.committed != (shape & 0xFFFFFFFF) * ((shape >> 32) & 0xFF)) {
            revert RevealNotOpen(uint256(c.commitDeadline) + 1);
        }
        uint256 stored = _bundles[batchId][bundleId];
        if (stored & STATUS_MASK != uint256(Status.Committed)) revert BundleMismatch(bundleId, Status.Committed);
        bytes32 commitHash = _commitHash(batchId, bundleId, msg.sender, labels, salt);
        if (stored != _word(keccak256(abi.encode(bundle, commitHash)), Status.Committed)) revert CommitMismatch();
        _checkLabels(labels, bundle.size, (shape >> 48) & 0xFF);

        _bundles[batchId][bundleId] =
            _word(keccak256(abi.encode(bundle, BundlePacking.digest(labels))), Status.Revealed);
        emit Revealed(batchId, bundleId, msg.sender, labels);
    }

    // ------------------------------------------------------------------------------------------------
    // Gold, settlement, review, refund, expiry (in the module, run in this market's storage)
    // ------------------------------------------------------------------------------------------------

    /// @inheritdoc ILabelMarketV2
    function settle(uint256, uint256[] calldata, BundleProof[] calldata) external nonReentrant returns (uint256) {
        return abi.decode(_delegate(), (uint256));
    }

    /// @inheritdoc ILabelMarketV2
    function revealGold(uint256, GoldAnswer[] calldata) external nonReentrant {
        _delegate();
    }

    /// @inheritdoc ILabelMarketV2
    function refund(uint256) external nonReentrant {
        _delegate();
    }

    /// @inheritdoc ILabelMarketV2
    /// @dev Parameters named (unlike the other delegated calls) because the ABI, and so the Rust bindings, name them.
    function expire(uint256 batchId, uint256 bundleId, Bundle calldata bundle) external nonReentrant {
        (batchId, bundleId, bundle); // read by the module from msg.data
        _delegate();
    }

    /// @inheritdoc ILabelMarketV2
    function resolve(uint256, uint256, uint8, BundleProof[] calldata) external nonReentrant {
        _delegate();
    }

    /// @notice Calls the market has no function for — optimistic settlement (`ILabelMarketV2Optimistic`) — run in its
    ///         modules, in this storage; the module guards each state-changing one with this market's re-entrancy
    ///         guard (the same transient slot), so its views stay callable from a static call.
    fallback(bytes calldata) external returns (bytes memory) {
        return _delegate();
    }

    /// @dev Runs the current call in the settlement module with this contract's storage; bubbles up its revert.
    function _delegate() internal returns (bytes memory ret) {
        bool ok;
        // slither-disable-next-line low-level-calls (the module is created by the constructor and immutable)
        (ok, ret) = SETTLEMENT.delegatecall(msg.data);
        if (!ok) {
            assembly ("memory-safe") {
                revert(add(ret, 0x20), mload(ret))
            }
        }
    }

    // ------------------------------------------------------------------------------------------------
    // Views
    // ------------------------------------------------------------------------------------------------

    /// @inheritdoc ILabelMarketV2
    function commitHashOf(uint256 batchId, uint256 bundleId, address annotator, uint256[] calldata labels, bytes32 salt)
        external
        view
        returns (bytes32)
    {
        return _commitHash(batchId, bundleId, annotator, labels, salt);
    }

    /// @inheritdoc ILabelMarketV2
    function taskAt(uint256 batchId, uint256 lane, uint256 round, uint256 ticket) external view returns (uint256) {
        Batch storage b = _batch(batchId);
        if (round == 0 || round > b.state.round || _seeds[batchId][round] == 0) revert SeedNotReady(round, 0);
        uint256 pool = _laneRound(batchId, round, lane, b.config.numTasks).pool;
        if (lane >= b.config.replicas || ticket >= pool) revert Permutation.OutOfDomain(ticket, pool);
        return _taskOf(batchId, lane, round, ticket, b.config.numTasks);
    }

    /// @inheritdoc ILabelMarketV2
    function reputationScore(address annotator, address domain) external view returns (int256) {
        return _reputationScore(annotator, domain);
    }

    /// @notice A batch's stored parameters and accounting.
    function getBatch(uint256 batchId) external view returns (Batch memory) {
        return _batch(batchId);
    }

    /// @notice A round of a batch.
    function getRound(uint256 batchId, uint256 round) external view returns (Round memory) {
        return _rounds[batchId][round];
    }

    /// @notice A lane in a round: pool, tickets joined, tickets committed.
    function getLaneRound(uint256 batchId, uint256 round, uint256 lane) external view returns (LaneRound memory) {
        return _laneRound(batchId, round, lane, _batch(batchId).config.numTasks);
    }

    /// @notice The stored seed of a round (zero until drawn).
    function seedOf(uint256 batchId, uint256 round) external view returns (bytes32) {
        return _seeds[batchId][round];
    }

    /// @notice How far a bundle got (None once expired).
    function bundleStatus(uint256 batchId, uint256 bundleId) external view returns (Status) {
        return Status(_bundles[batchId][bundleId] & STATUS_MASK);
    }

    /// @notice The caller-independent lane of an annotator in a batch and the last round it joined.
    function memberOf(uint256 batchId, address annotator)
        external
        view
        returns (bool joined, uint256 lane, uint256 lastRound)
    {
        uint256 m = _members[batchId][annotator];
        return (m != 0, m == 0 ? 0 : (m & 0xff) - 1, m >> 8);
    }

    /// @notice Whether a task is settled.
    function isSettled(uint256 batchId, uint256 taskId) external view returns (bool) {
        return _isSettled(batchId, taskId);
    }

    /// @notice Outcome of a settled task of a batch whose qualifier is a contract: result (a nibble per item) |
    ///         decided (a flag at bit 3 of each item's nibble) << 128 | 1 << 255; zero while unsettled, and for every other batch.
    function outcomeOf(uint256 batchId, uint256 taskId) external view returns (uint256) {
        return _outcomes[batchId][taskId];
    }

    /// @notice Whether the reviewer decided an item.
    function isResolved(uint256 batchId, uint256 item) external view returns (bool) {
        return (_resolved[batchId][item >> 8] >> (item & 255)) & 1 != 0;
    }

    /// @notice Revealed gold of a task: mask of gold items and their packed labels.
    function goldOf(uint256 batchId, uint256 taskId) external view returns (uint256 mask, uint256 labels) {
        uint256 g = _gold[batchId][taskId];
        return (g >> 128, g & type(uint128).max);
    }

    /// @notice Stake of an annotator.
    function accountOf(address annotator) external view returns (Account memory) {
        return _accounts[annotator];
    }

    /// @notice Reputation counters of an annotator in a domain.
    function reputationOf(address annotator, address domain) external view returns (Reputation memory) {
        return _reputation[annotator][domain];
    }

    /// @notice The reputation domain of a batch: its qualifier, or its requester when it has none.
    function domainOf(uint256 batchId) external view returns (address) {
        return _domain(_batch(batchId).config);
    }

    /// @notice Whether an item (index, content hash, URI) belongs to the batch's manifest.
    function verifyItem(
        uint256 batchId,
        uint256 index,
        bytes32 contentHash,
        string calldata uri,
        bytes32[] calldata proof
    ) external view returns (bool) {
        return MerkleProof.verifyCalldata(
            proof, _batch(batchId).roots.manifest, Leaves.manifestLeaf(index, contentHash, uri)
        );
    }

    /// @notice EIP-712 domain separator (for qualification signatures).
    function domainSeparator() external view returns (bytes32) {
        return _domainSeparatorV4();
    }
}
