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

import {ILabelMarket} from "./interfaces/ILabelMarket.sol";
import {LabelPacking} from "./libraries/LabelPacking.sol";
import {Leaves} from "./libraries/Leaves.sol";

/// @title LabelMarket
/// @notice Escrowed labeling batches paid only for labels that agree with an independent consensus.
/// @dev Lifecycle of a batch (all deadlines absolute, fixed at creation):
///        [create .. commitDeadline]      claim tasks, commit labels (a task whose r slots are all committed
///                                        can already be revealed)
///        (commitDeadline .. revealDeadline]  reveal labels, requester reveals gold answers
///        settlement                      per task, as soon as its labels and the gold can no longer change
///        [settlement .. reviewDeadline]  reviewer decides items without consensus
///        after reviewDeadline            refund of unspent escrow once every task is settled
///      Stake slashed for disagreeing with consensus is redistributed to the annotators of the same task whose
///      labels agreed with consensus (Kleros-style coherence), pro rata; slashes for disagreeing with gold and
///      for never revealing go to the treasury. Neither the requester nor an annotator the requester controls
///      can gain from planting wrong gold answers.
contract LabelMarket is ILabelMarket, EIP712, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;
    using LabelPacking for uint256;
    using LabelPacking for uint64;

    // ------------------------------------------------------------------------------------------------
    // Constants and immutables
    // ------------------------------------------------------------------------------------------------

    /// @notice Largest task (items per commit): 32 labels x 4 bits fit the 128-bit result field.
    uint256 public constant MAX_TASK_SIZE = 32;
    /// @notice Largest replication factor: 4-bit vote counters and 16-bit slot masks.
    uint256 public constant MAX_REPLICAS = 15;
    /// @notice Largest number of classes: 4-bit labels.
    uint256 public constant MAX_CLASSES = 16;
    /// @notice Open tasks inspected per claim before giving up: bounds claim gas.
    uint256 public constant MAX_PROBES = 16;
    /// @notice Reputation weight of a gold answer relative to a consensus-checked label.
    int256 public constant GOLD_WEIGHT = 3;
    /// @notice Reputation cost of a commit never revealed.
    int256 public constant NO_REVEAL_WEIGHT = 10;

    /// @notice EIP-712 type of a qualification attestation signed by a batch's qualifier.
    bytes32 public constant QUALIFICATION_TYPEHASH =
        keccak256("Qualification(uint256 batchId,address annotator,uint256 deadline)");

    /// @notice Token annotators stake (the protocol token).
    IERC20 public immutable STAKE_TOKEN;
    /// @notice Receives slashed stake that no agreeing annotator can take.
    address public immutable TREASURY;
    /// @notice Seconds between an unstake request and the withdrawal.
    uint256 public immutable UNSTAKE_COOLDOWN;

    // ------------------------------------------------------------------------------------------------
    // Storage
    // ------------------------------------------------------------------------------------------------

    /// @dev Per (batch, task, annotator): the slot held and how far the annotator got. One word.
    struct Assignment {
        uint8 slot;
        Status status;
    }

    /// @notice Number of batches created; batch ids are 0..batchCount-1.
    uint256 public batchCount;

    // slither-disable-next-line uninitialized-state (written through the storage pointer in _createBatch)
    mapping(uint256 batchId => Batch) internal _batches;
    mapping(uint256 batchId => mapping(uint256 taskId => Task)) internal _tasks;
    mapping(uint256 batchId => mapping(uint256 taskId => mapping(uint256 slot => Slot))) internal _slots;
    mapping(uint256 batchId => mapping(uint256 taskId => mapping(uint256 slot => bytes32))) internal _commits;
    mapping(uint256 batchId => mapping(uint256 taskId => mapping(uint256 slot => uint256))) internal _labels;
    mapping(uint256 batchId => mapping(uint256 taskId => mapping(address annotator => Assignment))) internal
        _assignments;

    /// @dev Open-task set per batch: tasks with at least one uncommitted slot. Stored lazily: an unset position p
    ///      holds task p (and task t sits at position t), so creating a batch costs O(1) whatever its size; a
    ///      task leaves by swap-and-pop when its last replica commits, so claims never probe full tasks.
    mapping(uint256 batchId => uint256) internal _openCount;
    mapping(uint256 batchId => mapping(uint256 position => uint256 taskPlusOne)) internal _openAt;
    mapping(uint256 batchId => mapping(uint256 taskId => uint256 positionPlusOne)) internal _openPos;

    mapping(address annotator => Stake) internal _stakes;
    mapping(address annotator => Reputation) internal _reputation;

    /// @notice Whether an annotator holds a qualification for a batch.
    mapping(uint256 batchId => mapping(address annotator => bool)) public qualified;
    /// @notice Rewards and redistributed stake credited to an account, per token; pulled with `collect`.
    mapping(address account => mapping(address token => uint256)) public claimable;

    /// @param stakeToken The protocol token annotators stake.
    /// @param treasury Receives slashed stake no agreeing annotator can take.
    /// @param unstakeCooldown Seconds between an unstake request and the withdrawal.
    constructor(IERC20 stakeToken, address treasury, uint256 unstakeCooldown) EIP712("Concord LabelMarket", "1") {
        if (address(stakeToken) == address(0)) revert InvalidParams("stakeToken");
        if (treasury == address(0)) revert InvalidParams("treasury");
        STAKE_TOKEN = stakeToken;
        TREASURY = treasury;
        UNSTAKE_COOLDOWN = unstakeCooldown;
    }

    // ------------------------------------------------------------------------------------------------
    // Requester: batches
    // ------------------------------------------------------------------------------------------------

    /// @inheritdoc ILabelMarket
    function createBatch(BatchParams calldata params) external nonReentrant returns (uint256 batchId) {
        return _createBatch(params);
    }

    /// @inheritdoc ILabelMarket
    function createBatchWithPermit(BatchParams calldata params, uint256 deadline, uint8 v, bytes32 r, bytes32 s)
        external
        nonReentrant
        returns (uint256 batchId)
    {
        uint256 escrow = uint256(params.numItems) * params.replicas * params.rewardPerLabel;
        // A front-run permit (same signature already used) must not block the creation: ignore its failure and
        // let the transfer below fail if the allowance is really missing.
        try IERC20Permit(params.rewardToken).permit(msg.sender, address(this), escrow, deadline, v, r, s) {} catch {}
        return _createBatch(params);
    }

    function _createBatch(BatchParams calldata p) internal returns (uint256 batchId) {
        _validate(p);
        uint256 escrow = uint256(p.numItems) * p.replicas * p.rewardPerLabel;
        if (escrow > type(uint128).max) revert InvalidParams("escrow overflows uint128");

        batchId = batchCount++;
        Batch storage b = _batches[batchId];
        uint256 commitDeadline = block.timestamp + p.commitPeriod;
        uint256 revealDeadline = commitDeadline + p.revealPeriod;
        b.config.requester = msg.sender;
        b.config.commitDeadline = uint40(commitDeadline);
        b.config.revealDeadline = uint40(revealDeadline);
        b.config.rewardToken = p.rewardToken;
        b.config.reviewDeadline = uint40(revealDeadline + p.reviewPeriod);
        b.config.claimTimeout = p.claimTimeout;
        b.config.reviewer = p.reviewer;
        b.config.numItems = p.numItems;
        b.config.taskSize = p.taskSize;
        b.config.replicas = p.replicas;
        b.config.numClasses = p.numClasses;
        b.config.thresholdBps = p.thresholdBps;
        b.config.qualifier = p.qualifier;
        uint32 numTasks = uint32((uint256(p.numItems) + p.taskSize - 1) / p.taskSize);
        b.config.numTasks = numTasks;
        b.config.goldCount = p.goldCount;
        b.config.rewardPerLabel = p.rewardPerLabel;
        b.config.stakePerClaim = p.stakePerClaim;
        b.config.wrongLabelPenalty = p.wrongLabelPenalty;
        b.config.noRevealPenalty = p.noRevealPenalty;
        b.config.minStake = p.minStake;
        b.config.minReputation = p.minReputation;
        b.state.escrow = uint128(escrow);
        b.config.manifestRoot = p.manifestRoot;
        b.config.goldRoot = p.goldRoot;
        _openCount[batchId] = numTasks;

        emit BatchCreated(batchId, msg.sender, p.rewardToken, p, escrow);

        // Interaction last; reject tokens that deliver less than asked (fee-on-transfer, rebasing down).
        IERC20 token = IERC20(p.rewardToken);
        uint256 before = token.balanceOf(address(this));
        token.safeTransferFrom(msg.sender, address(this), escrow);
        uint256 received = token.balanceOf(address(this)) - before;
        if (received != escrow) revert TokenShortfall(escrow, received);
    }

    function _validate(BatchParams calldata p) internal pure {
        if (p.rewardToken == address(0)) revert InvalidParams("rewardToken");
        if (p.numItems == 0) revert InvalidParams("numItems");
        if (p.taskSize == 0 || p.taskSize > MAX_TASK_SIZE) revert InvalidParams("taskSize");
        if (p.replicas < 2 || p.replicas > MAX_REPLICAS) revert InvalidParams("replicas");
        if (p.numClasses < 2 || p.numClasses > MAX_CLASSES) revert InvalidParams("numClasses");
        if (p.thresholdBps == 0 || p.thresholdBps > 10_000) revert InvalidParams("thresholdBps");
        if (p.rewardPerLabel == 0) revert InvalidParams("rewardPerLabel");
        if (p.noRevealPenalty <= uint256(p.wrongLabelPenalty) * p.taskSize) revert InvalidParams("noRevealPenalty");
        if (p.stakePerClaim < p.noRevealPenalty) revert InvalidParams("stakePerClaim");
        if (p.commitPeriod == 0) revert InvalidParams("commitPeriod");
        if (p.revealPeriod == 0) revert InvalidParams("revealPeriod");
        if (p.claimTimeout == 0) revert InvalidParams("claimTimeout");
        if (p.manifestRoot == bytes32(0)) revert InvalidParams("manifestRoot");
        if ((p.goldRoot == bytes32(0)) != (p.goldCount == 0) || p.goldCount > p.numItems) {
            revert InvalidParams("goldCount");
        }
    }

    /// @inheritdoc ILabelMarket
    function revealGold(uint256 batchId, GoldAnswer[] calldata answers) external {
        Batch storage b = _batch(batchId);
        if (b.config.goldCount == 0) revert NoGold(batchId);
        if (block.timestamp <= b.config.commitDeadline || block.timestamp > b.config.revealDeadline) {
            revert GoldRevealClosed(uint256(b.config.commitDeadline) + 1, b.config.revealDeadline);
        }
        bytes32 root = b.config.goldRoot;
        uint256 numItems = b.config.numItems;
        uint256 numClasses = b.config.numClasses;
        uint256 taskSize = b.config.taskSize;
        for (uint256 i; i < answers.length; ++i) {
            GoldAnswer calldata a = answers[i];
            if (a.item >= numItems) revert UnknownItem(batchId, a.item);
            if (a.label >= numClasses) revert LabelOutOfRange(a.item, a.label, numClasses);
            if (!MerkleProof.verifyCalldata(a.proof, root, Leaves.goldLeaf(a.item, a.label, a.salt))) {
                revert InvalidGoldProof(a.item);
            }
            Task storage t = _tasks[batchId][a.item / taskSize];
            if (t.settled) revert AlreadySettled(batchId, a.item / taskSize);
            uint256 pos = a.item % taskSize;
            uint32 bit = uint32(1 << pos);
            if (t.goldMask & bit != 0) revert GoldAlreadyRevealed(a.item);
            t.goldMask |= bit;
            t.resultLabels = uint128(uint256(t.resultLabels).set(pos, a.label));
            emit GoldRevealed(batchId, a.item, a.label);
        }
        b.state.goldRevealed += uint32(answers.length);
    }

    /// @inheritdoc ILabelMarket
    function resolve(uint256 batchId, uint256 item, uint8 label) external nonReentrant {
        Batch storage b = _batch(batchId);
        if (msg.sender != b.config.reviewer) revert NotReviewer(msg.sender);
        if (block.timestamp > b.config.reviewDeadline) revert ReviewClosed(b.config.reviewDeadline);
        if (item >= b.config.numItems) revert UnknownItem(batchId, item);
        if (label >= b.config.numClasses) revert LabelOutOfRange(item, label, b.config.numClasses);
        uint256 taskId = item / b.config.taskSize;
        uint256 pos = item % b.config.taskSize;
        Task storage t = _tasks[batchId][taskId];
        if (!t.settled) revert TaskNotSettled(batchId, taskId);
        uint32 bit = uint32(1 << pos);
        if (t.decidedMask & bit != 0) revert ItemNotInReview(batchId, item);
        t.decidedMask |= bit;
        t.resultLabels = uint128(uint256(t.resultLabels).set(pos, label));

        uint256 paid = _payResolved(batchId, taskId, pos, label, t.revealedMask, b.config.rewardPerLabel, b.config.rewardToken);
        b.state.paid += uint128(paid);
        emit ItemResolved(batchId, item, label, paid);
    }

    /// @dev Credits every revealed label of item `pos` that matches the reviewer's `label`.
    function _payResolved(
        uint256 batchId,
        uint256 taskId,
        uint256 pos,
        uint256 label,
        uint256 revealed,
        uint256 reward,
        address token
    ) internal returns (uint256 paid) {
        for (uint256 s; revealed != 0; ++s) {
            if (revealed & 1 != 0 && _labels[batchId][taskId][s].get(pos) == label) {
                address annotator = _slots[batchId][taskId][s].annotator;
                claimable[annotator][token] += reward;
                _reputation[annotator].accepted += 1;
                paid += reward;
            }
            revealed >>= 1;
        }
    }

    /// @inheritdoc ILabelMarket
    function refund(uint256 batchId) external nonReentrant {
        Batch storage b = _batch(batchId);
        if (block.timestamp <= b.config.reviewDeadline || b.state.tasksSettled != b.config.numTasks) {
            revert RefundNotOpen(uint256(b.config.reviewDeadline) + 1, b.state.tasksSettled, b.config.numTasks);
        }
        if (b.state.refunded) revert AlreadyRefunded(batchId);
        b.state.refunded = true;
        uint256 amount = b.state.escrow - b.state.paid;
        address requester = b.config.requester;
        emit Refunded(batchId, requester, amount);
        if (amount != 0) IERC20(b.config.rewardToken).safeTransfer(requester, amount);
    }

    // ------------------------------------------------------------------------------------------------
    // Annotator: stake and qualification
    // ------------------------------------------------------------------------------------------------

    /// @inheritdoc ILabelMarket
    function stake(uint256 amount) external nonReentrant {
        if (amount == 0) revert ZeroAmount();
        _stakes[msg.sender].amount += SafeCast.toUint128(amount);
        emit Staked(msg.sender, amount);
        STAKE_TOKEN.safeTransferFrom(msg.sender, address(this), amount);
    }

    /// @inheritdoc ILabelMarket
    function requestUnstake(uint256 amount) external {
        if (amount == 0) revert ZeroAmount();
        Stake storage st = _stakes[msg.sender];
        uint256 unlocked = st.amount - st.locked;
        if (amount > unlocked) revert StakeLocked(unlocked, amount);
        st.amount -= uint128(amount); // amount <= unlocked < 2^128
        st.pending += uint128(amount);
        uint256 unlockAt = block.timestamp + UNSTAKE_COOLDOWN;
        st.unlockAt = uint40(unlockAt);
        emit UnstakeRequested(msg.sender, amount, unlockAt);
    }

    /// @inheritdoc ILabelMarket
    function withdraw() external nonReentrant {
        Stake storage st = _stakes[msg.sender];
        uint256 amount = st.pending;
        if (amount == 0) revert NothingToWithdraw();
        if (block.timestamp < st.unlockAt) revert CooldownActive(st.unlockAt);
        st.pending = 0;
        emit Withdrawn(msg.sender, amount);
        STAKE_TOKEN.safeTransfer(msg.sender, amount);
    }

    /// @inheritdoc ILabelMarket
    function qualify(uint256 batchId, address annotator, uint256 deadline, bytes calldata signature) external {
        Batch storage b = _batch(batchId);
        if (block.timestamp > deadline) revert QualificationExpired(deadline);
        bytes32 digest = _hashTypedDataV4(keccak256(abi.encode(QUALIFICATION_TYPEHASH, batchId, annotator, deadline)));
        // slither-disable-next-line unused-return (the third value only details a failure that `err` reports)
        (address signer, ECDSA.RecoverError err,) = ECDSA.tryRecover(digest, signature);
        if (err != ECDSA.RecoverError.NoError || signer == address(0) || signer != b.config.qualifier) {
            revert InvalidQualification();
        }
        qualified[batchId][annotator] = true;
        emit Qualified(batchId, annotator);
    }

    /// @inheritdoc ILabelMarket
    function collect(address token) external nonReentrant returns (uint256 amount) {
        amount = claimable[msg.sender][token];
        if (amount == 0) revert NothingToWithdraw();
        claimable[msg.sender][token] = 0;
        emit Collected(msg.sender, token, amount);
        IERC20(token).safeTransfer(msg.sender, amount);
    }

    // ------------------------------------------------------------------------------------------------
    // Annotator: claim, commit, reveal
    // ------------------------------------------------------------------------------------------------

    /// @inheritdoc ILabelMarket
    function claim(uint256 batchId) external returns (uint256 taskId) {
        Batch storage b = _batch(batchId);
        uint256 commitDeadline = b.config.commitDeadline;
        if (block.timestamp > commitDeadline) revert CommitPhaseOver(commitDeadline);
        if (b.config.qualifier != address(0) && !qualified[batchId][msg.sender]) revert NotQualified(batchId, msg.sender);
        int256 score = reputationScore(msg.sender);
        if (score < b.config.minReputation) revert InsufficientReputation(score, b.config.minReputation);
        Stake storage st = _stakes[msg.sender];
        uint256 need = b.config.stakePerClaim;
        uint256 unlocked = st.amount - st.locked;
        if (unlocked < need) revert InsufficientStake(unlocked, need);
        if (st.amount < b.config.minStake) revert InsufficientStake(st.amount, b.config.minStake);

        uint256 slot;
        (taskId, slot) = _pickTask(batchId, b.config.replicas);

        st.locked += uint128(need);
        uint256 expiry = block.timestamp + b.config.claimTimeout;
        if (expiry > commitDeadline) expiry = commitDeadline;
        _slots[batchId][taskId][slot] = Slot(msg.sender, uint40(expiry));
        _tasks[batchId][taskId].claimedMask |= uint16(1 << slot);
        _assignments[batchId][taskId][msg.sender] = Assignment(uint8(slot), Status.Claimed);
        emit Claimed(batchId, taskId, msg.sender, slot, expiry);
    }

    /// @dev Picks a pseudo-random open task the caller never touched that has a free (or expired) slot. Tasks
    ///      whose slots are all committed are dropped from the open set on the way. At most MAX_PROBES steps.
    function _pickTask(uint256 batchId, uint256 replicas) internal returns (uint256 taskId, uint256 slot) {
        uint256 n = _openCount[batchId];
        uint256 full = (1 << replicas) - 1;
        if (n != 0) {
            uint256 pos = uint256(keccak256(abi.encode(block.prevrandao, block.timestamp, msg.sender, batchId, n))) % n;
            uint256 probes = n < MAX_PROBES ? n : MAX_PROBES;
            for (uint256 probe; probe < probes; ++probe) {
                taskId = _openTask(batchId, pos);
                Task storage t = _tasks[batchId][taskId];
                bool found;
                (found, slot) = _freeSlot(batchId, taskId, t.claimedMask, t.committedMask, full);
                if (found) return (taskId, slot);
                pos = pos + 1 == n ? 0 : pos + 1;
            }
        }
        revert NoTaskAvailable(batchId);
    }

    /// @dev Swap-and-pop removal of a fully committed task from the open set.
    function _closeTask(uint256 batchId, uint256 taskId) internal {
        uint256 last = _openCount[batchId] - 1;
        uint256 stored = _openPos[batchId][taskId];
        uint256 pos = stored == 0 ? taskId : stored - 1;
        if (pos != last) {
            uint256 moved = _openTask(batchId, last);
            _openAt[batchId][pos] = moved + 1;
            _openPos[batchId][moved] = pos + 1;
        }
        _openCount[batchId] = last;
    }

    /// @dev A slot of `taskId` the caller may take: never touched by the caller, and free or holding an expired
    ///      claim (which is released here).
    function _freeSlot(uint256 batchId, uint256 taskId, uint256 claimed, uint256 committed, uint256 full)
        internal
        returns (bool found, uint256 slot)
    {
        if (_assignments[batchId][taskId][msg.sender].status != Status.None) return (false, 0);
        uint256 free = full & ~(claimed | committed);
        if (free != 0) return (true, _lowestBit(free));
        for (uint256 s; claimed >> s != 0; ++s) {
            if ((claimed >> s) & 1 != 0 && _slots[batchId][taskId][s].expiry < block.timestamp) {
                _release(batchId, taskId, s);
                return (true, s);
            }
        }
        return (false, 0);
    }

    /// @inheritdoc ILabelMarket
    function releaseExpired(uint256 batchId, uint256 taskId, uint256 slot) external {
        Batch storage b = _batch(batchId);
        if (taskId >= b.config.numTasks) revert UnknownTask(batchId, taskId);
        Slot memory sl = _slots[batchId][taskId][slot];
        if (slot >= MAX_REPLICAS || (_tasks[batchId][taskId].claimedMask >> slot) & 1 == 0) {
            revert NotClaimed(batchId, taskId, sl.annotator);
        }
        if (sl.expiry >= block.timestamp) revert ClaimNotExpired(batchId, taskId, sl.expiry);
        _release(batchId, taskId, slot);
    }

    /// @dev Frees a claimed, uncommitted slot and unlocks its holder's stake. The holder keeps its `Expired`
    ///      assignment, so it can never be handed the same items again.
    function _release(uint256 batchId, uint256 taskId, uint256 slot) internal {
        Task storage t = _tasks[batchId][taskId];
        t.claimedMask &= ~uint16(1 << slot);
        address holder = _slots[batchId][taskId][slot].annotator;
        _stakes[holder].locked -= _batches[batchId].config.stakePerClaim;
        _assignments[batchId][taskId][holder].status = Status.Expired;
        emit ClaimReleased(batchId, taskId, holder, slot);
    }

    /// @inheritdoc ILabelMarket
    function commit(uint256 batchId, uint256 taskId, bytes32 commitHash, bytes calldata backup) external {
        Batch storage b = _batch(batchId);
        if (block.timestamp > b.config.commitDeadline) revert CommitPhaseOver(b.config.commitDeadline);
        Assignment storage a = _assignments[batchId][taskId][msg.sender];
        Status status = a.status;
        if (status == Status.Committed || status == Status.Revealed) revert AlreadyCommitted(batchId, taskId);
        if (status != Status.Claimed) revert NotClaimed(batchId, taskId, msg.sender);
        uint256 slot = a.slot;
        uint256 expiry = _slots[batchId][taskId][slot].expiry;
        if (block.timestamp > expiry) revert ClaimExpired(batchId, taskId, expiry);

        a.status = Status.Committed;
        _commits[batchId][taskId][slot] = commitHash;
        Task storage t = _tasks[batchId][taskId];
        uint16 bit = uint16(1 << slot);
        t.claimedMask &= ~bit;
        uint16 committed = t.committedMask | bit;
        t.committedMask = committed;
        if (committed == (1 << b.config.replicas) - 1) _closeTask(batchId, taskId);
        emit Committed(batchId, taskId, msg.sender, commitHash, backup);
    }

    /// @inheritdoc ILabelMarket
    function reveal(uint256 batchId, uint256 taskId, uint256 labels, bytes32 salt) external {
        Batch storage b = _batch(batchId);
        if (block.timestamp > b.config.revealDeadline) revert RevealPhaseOver(b.config.revealDeadline);
        Task storage t = _tasks[batchId][taskId];
        if (t.committedMask != (1 << b.config.replicas) - 1 && block.timestamp <= b.config.commitDeadline) {
            revert RevealNotOpen(batchId, taskId);
        }
        Assignment storage a = _assignments[batchId][taskId][msg.sender];
        Status status = a.status;
        if (status == Status.Revealed) revert AlreadyRevealed(batchId, taskId);
        if (status != Status.Committed) revert NotCommitted(batchId, taskId);
        uint256 slot = a.slot;
        if (_commits[batchId][taskId][slot] != _commitHash(batchId, taskId, msg.sender, labels, salt)) {
            revert CommitMismatch();
        }
        (bool ok, uint256 position, uint256 label) = labels.validate(_itemsInTask(b, taskId), b.config.numClasses);
        if (!ok) revert LabelOutOfRange(position, label, b.config.numClasses);

        a.status = Status.Revealed;
        _labels[batchId][taskId][slot] = labels;
        t.revealedMask |= uint16(1 << slot);
        emit Revealed(batchId, taskId, msg.sender, labels);
    }

    // ------------------------------------------------------------------------------------------------
    // Settlement
    // ------------------------------------------------------------------------------------------------

    /// @inheritdoc ILabelMarket
    function settleTask(uint256 batchId, uint256 taskId) external nonReentrant {
        Batch storage b = _batch(batchId);
        if (taskId >= b.config.numTasks) revert UnknownTask(batchId, taskId);
        Task storage t = _tasks[batchId][taskId];
        if (t.settled) revert AlreadySettled(batchId, taskId);
        if (!_settleable(b, t)) revert SettlementNotOpen(batchId, taskId, uint256(b.config.revealDeadline) + 1);
        _settle(batchId, taskId, b, t);
    }

    /// @inheritdoc ILabelMarket
    function settleTasks(uint256 batchId, uint256 fromTask, uint256 toTask) external nonReentrant returns (uint256 n) {
        Batch storage b = _batch(batchId);
        if (toTask > b.config.numTasks) toTask = b.config.numTasks;
        for (uint256 taskId = fromTask; taskId < toTask; ++taskId) {
            Task storage t = _tasks[batchId][taskId];
            if (!t.settled && _settleable(b, t)) {
                _settle(batchId, taskId, b, t);
                ++n;
            }
        }
    }

    /// @dev Labels can no longer change once every slot revealed or the reveal deadline passed; gold can no
    ///      longer change once all of it is revealed or the reveal deadline passed.
    function _settleable(Batch storage b, Task storage t) internal view returns (bool) {
        if (block.timestamp > b.config.revealDeadline) return true;
        uint256 full = (1 << b.config.replicas) - 1;
        return b.state.goldRevealed >= b.config.goldCount && t.committedMask == full && t.revealedMask == full;
    }

    /// @dev Scratch space of one settlement (keeps the stack shallow).
    struct Settlement {
        uint256 batchId;
        uint256 taskId;
        uint256 items;
        uint256 result;
        uint256 decided;
        uint256 gold;
        uint256 rewardPerLabel;
        uint256 stakePerClaim;
        address rewardToken;
        uint256 rewardsPaid;
        uint256 slashed;
        uint256 pool;
        uint256 agreedTotal;
        uint256[] labels;
        uint256[] agreed;
        address[] annotators;
    }

    function _settle(uint256 batchId, uint256 taskId, Batch storage b, Task storage t) internal {
        uint256 replicas = b.config.replicas;
        // slither-disable-next-line uninitialized-local (a zeroed accumulator is intended)
        Settlement memory s;
        s.batchId = batchId;
        s.taskId = taskId;
        s.items = _itemsInTask(b, taskId);
        // Gold counts only when all of it was revealed: a requester revealing a chosen subset after seeing
        // the annotators' reveals must not be able to pick which items are judged by gold.
        if (b.state.goldRevealed >= b.config.goldCount) {
            s.gold = t.goldMask;
            s.decided = s.gold;
            s.result = t.resultLabels;
        }
        s.rewardPerLabel = b.config.rewardPerLabel;
        s.stakePerClaim = b.config.stakePerClaim;
        s.rewardToken = b.config.rewardToken;
        s.labels = new uint256[](replicas);
        s.agreed = new uint256[](replicas);
        s.annotators = new address[](replicas);
        uint256 revealed = t.revealedMask;
        for (uint256 slot; slot < replicas; ++slot) {
            if ((revealed >> slot) & 1 != 0) s.labels[slot] = _labels[batchId][taskId][slot];
        }

        // Consensus per item from an in-memory packed tally; gold items keep their gold answer.
        uint256 numClasses = b.config.numClasses;
        uint256 threshold = b.config.thresholdBps;
        for (uint256 i; i < s.items; ++i) {
            if ((s.gold >> i) & 1 != 0) continue;
            // slither-disable-next-line uninitialized-local (a zeroed vote tally is intended)
            uint64 tally;
            for (uint256 slot; slot < replicas; ++slot) {
                if ((revealed >> slot) & 1 != 0) tally = tally.addVote(s.labels[slot].get(i));
            }
            (bool reached, uint256 label) = tally.consensus(numClasses, threshold);
            if (reached) {
                s.decided |= 1 << i;
                s.result = s.result.set(i, label);
            }
        }

        // Score every slot that was ever claimed, committed or revealed.
        uint256 touched = uint256(t.claimedMask) | t.committedMask;
        for (uint256 slot; slot < replicas; ++slot) {
            if ((touched >> slot) & 1 != 0) _scoreSlot(s, b, slot, (revealed >> slot) & 1 != 0, (t.committedMask >> slot) & 1 != 0);
        }
        _redistribute(s);

        t.settled = true;
        t.claimedMask = 0;
        t.decidedMask = uint32(s.decided);
        t.resultLabels = uint128(s.result);
        b.state.paid += uint128(s.rewardsPaid);
        b.state.tasksSettled += 1;
        emit TaskSettled(batchId, taskId, s.result, s.decided, s.gold, s.rewardsPaid, s.slashed);
    }

    function _scoreSlot(Settlement memory s, Batch storage b, uint256 slot, bool revealed, bool committed) internal {
        address annotator = _slots[s.batchId][s.taskId][slot].annotator;
        s.annotators[slot] = annotator;
        Stake storage st = _stakes[annotator];
        st.locked -= uint128(s.stakePerClaim);
        if (!committed) {
            // Claimed, never committed: the claim simply lapses.
            _assignments[s.batchId][s.taskId][annotator].status = Status.Expired;
            emit ClaimReleased(s.batchId, s.taskId, annotator, slot);
            return;
        }
        uint256 slash;
        // slither-disable-next-line uninitialized-local (zeroed accumulators are intended)
        uint256 reward;
        // slither-disable-next-line uninitialized-local
        uint256 agreed;
        // slither-disable-next-line uninitialized-local
        uint256 disagreed;
        if (!revealed) {
            // A missing reveal says nothing about the others' quality: its penalty goes to the treasury.
            slash = b.config.noRevealPenalty;
            _reputation[annotator].unrevealed += 1;
        } else {
            uint256 consensusAgreed;
            uint256 consensusDisagreed;
            (agreed, disagreed, consensusAgreed, consensusDisagreed) = _scoreRevealed(s, annotator, s.labels[slot]);
            reward = agreed * s.rewardPerLabel;
            // No cap needed: _validate enforces taskSize * wrongLabelPenalty < noRevealPenalty <= stakePerClaim.
            slash = disagreed * b.config.wrongLabelPenalty;
            // Only disagreement with an independent consensus feeds the coherence pool; disagreement with gold
            // (a truth the requester set) goes to the treasury, so a requester-controlled annotator matching
            // planted gold earns nothing from honest annotators' stake.
            s.pool += consensusDisagreed * b.config.wrongLabelPenalty;
            s.agreed[slot] = consensusAgreed;
            s.agreedTotal += consensusAgreed;
            if (reward != 0) claimable[annotator][s.rewardToken] += reward;
            s.rewardsPaid += reward;
        }
        if (slash != 0) st.amount -= uint128(slash);
        s.slashed += slash;
        emit LabelsScored(s.batchId, s.taskId, annotator, agreed, disagreed, revealed, reward, slash);
    }

    /// @dev Compares revealed labels with the decided items and updates reputation (gold weighs more through
    ///      `reputationScore`). Returns all agreeing / disagreeing labels (gold included), then the consensus-only
    ///      counts.
    function _scoreRevealed(Settlement memory s, address annotator, uint256 labels)
        internal
        returns (uint256 agreed, uint256 disagreed, uint256 consensusAgreed, uint256 consensusDisagreed)
    {
        (uint256 a, uint256 d, uint256 goldA, uint256 goldD) = _compare(labels, s.result, s.decided, s.gold, s.items);
        Reputation storage rep = _reputation[annotator];
        rep.accepted += uint48(a);
        rep.rejected += uint48(d);
        rep.goldCorrect += uint48(goldA);
        rep.goldWrong += uint48(goldD);
        return (a + goldA, d + goldD, a, d);
    }

    /// @dev Counts a slot's labels that agree / disagree with the decided items, split into non-gold and gold.
    function _compare(uint256 labels, uint256 result, uint256 decided, uint256 gold, uint256 items)
        internal
        pure
        returns (uint256 agreed, uint256 disagreed, uint256 goldAgreed, uint256 goldDisagreed)
    {
        for (uint256 i; i < items; ++i) {
            if ((decided >> i) & 1 == 0) continue;
            bool agrees = labels.get(i) == result.get(i);
            if ((gold >> i) & 1 != 0) {
                if (agrees) ++goldAgreed;
                else ++goldDisagreed;
            } else {
                if (agrees) ++agreed;
                else ++disagreed;
            }
        }
    }

    /// @dev The coherence pool (slashes for disagreeing with consensus) goes to the task's annotators pro rata to
    ///      their labels that agreed with consensus; gold and no-reveal slashes, rounding dust, and the pool when
    ///      nobody agreed go to the treasury, so no token is stranded.
    function _redistribute(Settlement memory s) internal {
        if (s.slashed == 0) return;
        address token = address(STAKE_TOKEN);
        // slither-disable-next-line uninitialized-local (a zeroed accumulator is intended)
        uint256 distributed;
        if (s.agreedTotal != 0 && s.pool != 0) {
            for (uint256 slot; slot < s.agreed.length; ++slot) {
                uint256 a = s.agreed[slot];
                if (a == 0) continue;
                uint256 share = s.pool * a / s.agreedTotal;
                if (share == 0) continue;
                claimable[s.annotators[slot]][token] += share;
                distributed += share;
                emit SlashRedistributed(s.batchId, s.taskId, s.annotators[slot], share);
            }
        }
        uint256 rest = s.slashed - distributed;
        if (rest != 0) {
            claimable[TREASURY][token] += rest;
            emit SlashRedistributed(s.batchId, s.taskId, TREASURY, rest);
        }
    }

    // ------------------------------------------------------------------------------------------------
    // Views
    // ------------------------------------------------------------------------------------------------

    /// @inheritdoc ILabelMarket
    function commitHashOf(uint256 batchId, uint256 taskId, address annotator, uint256 labels, bytes32 salt)
        external
        view
        returns (bytes32)
    {
        return _commitHash(batchId, taskId, annotator, labels, salt);
    }

    /// @inheritdoc ILabelMarket
    function reputationScore(address annotator) public view returns (int256) {
        Reputation memory r = _reputation[annotator];
        return int256(uint256(r.accepted)) - int256(uint256(r.rejected))
            + GOLD_WEIGHT * (int256(uint256(r.goldCorrect)) - int256(uint256(r.goldWrong)))
            - NO_REVEAL_WEIGHT * int256(uint256(r.unrevealed));
    }

    /// @notice A batch's stored parameters and accounting.
    function getBatch(uint256 batchId) external view returns (Batch memory) {
        return _batch(batchId);
    }

    /// @notice A task's masks, gold and result.
    function getTask(uint256 batchId, uint256 taskId) external view returns (Task memory) {
        return _tasks[batchId][taskId];
    }

    /// @notice Who holds `slot` of a task and until when an uncommitted claim is valid.
    function getSlot(uint256 batchId, uint256 taskId, uint256 slot) external view returns (Slot memory) {
        return _slots[batchId][taskId][slot];
    }

    /// @notice Slot and status of `annotator` on a task.
    function assignmentOf(uint256 batchId, uint256 taskId, address annotator)
        external
        view
        returns (uint8 slot, Status status)
    {
        Assignment memory a = _assignments[batchId][taskId][annotator];
        return (a.slot, a.status);
    }

    /// @notice Revealed labels of a slot (zero until revealed).
    function labelsOf(uint256 batchId, uint256 taskId, uint256 slot) external view returns (uint256) {
        return _labels[batchId][taskId][slot];
    }

    /// @notice Commit hash of a slot (zero until committed).
    function commitOf(uint256 batchId, uint256 taskId, uint256 slot) external view returns (bytes32) {
        return _commits[batchId][taskId][slot];
    }

    /// @notice Stake of an annotator.
    function stakeOf(address annotator) external view returns (Stake memory) {
        return _stakes[annotator];
    }

    /// @notice Reputation counters of an annotator.
    function reputationOf(address annotator) external view returns (Reputation memory) {
        return _reputation[annotator];
    }

    /// @notice Number of tasks still in the open set (an upper bound on tasks with a free slot).
    function openTaskCount(uint256 batchId) external view returns (uint256) {
        return _openCount[batchId];
    }

    /// @notice Number of items in a task (the last task may be shorter).
    function itemsInTask(uint256 batchId, uint256 taskId) external view returns (uint256) {
        Batch storage b = _batch(batchId);
        if (taskId >= b.config.numTasks) revert UnknownTask(batchId, taskId);
        return _itemsInTask(b, taskId);
    }

    /// @notice Whether an item (index, content hash, URI) belongs to the batch's manifest.
    function verifyItem(uint256 batchId, uint256 index, bytes32 contentHash, string calldata uri, bytes32[] calldata proof)
        external
        view
        returns (bool)
    {
        return MerkleProof.verifyCalldata(proof, _batch(batchId).config.manifestRoot, Leaves.manifestLeaf(index, contentHash, uri));
    }

    /// @notice EIP-712 domain separator (for qualification signatures).
    function domainSeparator() external view returns (bytes32) {
        return _domainSeparatorV4();
    }

    // ------------------------------------------------------------------------------------------------
    // Internals
    // ------------------------------------------------------------------------------------------------

    function _batch(uint256 batchId) internal view returns (Batch storage b) {
        if (batchId >= batchCount) revert UnknownBatch(batchId);
        return _batches[batchId];
    }

    function _itemsInTask(Batch storage b, uint256 taskId) internal view returns (uint256) {
        uint256 start = taskId * b.config.taskSize;
        uint256 end = start + b.config.taskSize;
        return (end > b.config.numItems ? b.config.numItems : end) - start;
    }

    function _openTask(uint256 batchId, uint256 pos) internal view returns (uint256) {
        uint256 stored = _openAt[batchId][pos];
        return stored == 0 ? pos : stored - 1;
    }

    function _commitHash(uint256 batchId, uint256 taskId, address annotator, uint256 labels, bytes32 salt)
        internal
        view
        returns (bytes32)
    {
        return keccak256(abi.encode(block.chainid, address(this), batchId, taskId, annotator, labels, salt));
    }

    function _lowestBit(uint256 x) internal pure returns (uint256 i) {
        while ((x >> i) & 1 == 0) ++i;
    }
}
