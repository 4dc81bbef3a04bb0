// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @title ILabelMarket
/// @notice Public interface of Concord's labeling market: escrowed batches of items, staked annotators,
///         commit-reveal labels, per-item plurality consensus, gold questions, slashing and reputation.
/// @dev A batch has `numItems` items split into tasks of `taskSize` consecutive items. Each task is labeled
///      by `replicas` distinct annotators ("slots"). Labels of a task are packed 4 bits per item into one
///      uint256 (item i of the task at bits [4i, 4i+4)), so a task's labels are one commit and one reveal.
interface ILabelMarket {
    // ------------------------------------------------------------------------------------------------
    // Types
    // ------------------------------------------------------------------------------------------------

    /// @notice Everything a requester chooses when creating a batch.
    /// @param rewardToken ERC-20 the rewards are escrowed and paid in (fee-on-transfer tokens are rejected).
    /// @param reviewer Decides items without consensus during the review window (zero: no review, refund).
    /// @param qualifier If non-zero, annotators need an EIP-712 `Qualification` signed by this key.
    /// @param numItems Number of items N.
    /// @param taskSize Items per task k (1..=32).
    /// @param replicas Independent labels per item r (2..=15).
    /// @param numClasses Number of classes C (2..=16); labels are 0..C-1.
    /// @param thresholdBps Plurality share of revealed labels needed for consensus, in basis points.
    /// @param rewardPerLabel Paid for each label that agrees with the consensus (or gold answer).
    /// @param stakePerClaim Stake locked while a claimed task is open; bounds every penalty.
    /// @param wrongLabelPenalty Stake slashed per label that disagrees with a decided item.
    /// @param noRevealPenalty Stake slashed for a commit never revealed; must exceed taskSize * wrongLabelPenalty.
    /// @param minStake Unlocked stake an annotator must hold to claim.
    /// @param minReputation Reputation score an annotator must have to claim.
    /// @param commitPeriod Seconds from creation during which tasks can be claimed and committed.
    /// @param revealPeriod Seconds after the commit deadline during which reveals are accepted.
    /// @param reviewPeriod Seconds after the reveal deadline during which the reviewer can decide items.
    /// @param claimTimeout Seconds a claim stays valid without a commit.
    /// @param manifestRoot Merkle root of the item manifest (leaf: index, content hash, URI).
    /// @param manifestURI Where annotators fetch the manifest and items.
    /// @param goldRoot Merkle root of the salted gold answers (zero: no gold).
    /// @param goldCount Number of gold items committed under `goldRoot`.
    struct BatchParams {
        address rewardToken;
        address reviewer;
        address qualifier;
        uint32 numItems;
        uint16 taskSize;
        uint8 replicas;
        uint8 numClasses;
        uint16 thresholdBps;
        uint128 rewardPerLabel;
        uint128 stakePerClaim;
        uint128 wrongLabelPenalty;
        uint128 noRevealPenalty;
        uint128 minStake;
        int64 minReputation;
        uint32 commitPeriod;
        uint32 revealPeriod;
        uint32 reviewPeriod;
        uint32 claimTimeout;
        bytes32 manifestRoot;
        string manifestURI;
        bytes32 goldRoot;
        uint32 goldCount;
    }

    /// @notice What a batch was created with; never changes afterwards. Widths: timestamps fit uint40 until
    ///         year 36812; item and task counts fit uint32 (4 billion); token amounts fit uint128 (3.4e38 wei).
    struct BatchConfig {
        // slot 0
        address requester;
        uint40 commitDeadline;
        uint40 revealDeadline;
        // slot 1
        address rewardToken;
        uint40 reviewDeadline;
        uint32 claimTimeout;
        // slot 2
        address reviewer;
        uint32 numItems;
        uint16 taskSize;
        uint8 replicas;
        uint8 numClasses;
        uint16 thresholdBps;
        // slot 3
        address qualifier;
        uint32 numTasks;
        uint32 goldCount;
        // slot 4
        uint128 rewardPerLabel;
        uint128 stakePerClaim;
        // slot 5
        uint128 wrongLabelPenalty;
        uint128 noRevealPenalty;
        // slot 6
        uint128 minStake;
        int64 minReputation;
        // slots 7, 8
        bytes32 manifestRoot;
        bytes32 goldRoot;
    }

    /// @notice Accounting of a batch that changes as it runs.
    struct BatchState {
        // slot 0
        uint128 escrow;
        uint128 paid;
        // slot 1
        uint32 tasksSettled;
        uint32 goldRevealed;
        bool refunded;
    }

    /// @notice A stored batch.
    struct Batch {
        BatchConfig config;
        BatchState state;
    }

    /// @notice Per-task bookkeeping, one storage slot.
    /// @dev Masks are indexed by slot (bit s = slot s). `goldMask`/`goldLabels` hold revealed gold answers of
    ///      the task's items; `resultLabels`/`decidedMask`/`resolvedMask` are written by settlement and review.
    struct Task {
        uint16 claimedMask;
        uint16 committedMask;
        uint16 revealedMask;
        bool settled;
        uint32 goldMask;
        uint32 decidedMask;
        uint32 resolvedMask;
        uint128 resultLabels;
    }

    /// @notice A slot of a task: who holds it and until when an uncommitted claim is valid.
    struct Slot {
        address annotator;
        uint40 expiry;
    }

    /// @notice Stake of an annotator. `locked` is covered by `amount`; `pending` is on its way out.
    struct Stake {
        uint128 amount;
        uint128 locked;
        uint128 pending;
        uint40 unlockAt;
    }

    /// @notice Reputation counters, updated on settlement.
    struct Reputation {
        uint48 accepted;
        uint48 rejected;
        uint48 goldCorrect;
        uint48 goldWrong;
        uint48 unrevealed;
    }

    /// @notice A gold answer revealed by the requester, with its salt and Merkle proof against `goldRoot`.
    struct GoldAnswer {
        uint32 item;
        uint8 label;
        bytes32 salt;
        bytes32[] proof;
    }

    /// @notice Progress of one annotator on one task (status only ever moves forward).
    enum Status {
        None,
        Claimed,
        Committed,
        Revealed,
        Expired
    }

    // ------------------------------------------------------------------------------------------------
    // Errors
    // ------------------------------------------------------------------------------------------------

    /// @notice Thrown when a batch parameter is outside its allowed range; `reason` names it.
    error InvalidParams(string reason);
    /// @notice Thrown when the escrow transfer delivered less than `expected` (fee-on-transfer token).
    error TokenShortfall(uint256 expected, uint256 received);
    /// @notice Thrown when no batch exists with this id.
    error UnknownBatch(uint256 batchId);
    /// @notice Thrown when a task id is not below the batch's task count.
    error UnknownTask(uint256 batchId, uint256 taskId);
    /// @notice Thrown when an item index is not below the batch's item count.
    error UnknownItem(uint256 batchId, uint256 item);
    /// @notice Thrown when claiming or committing after the commit deadline.
    error CommitPhaseOver(uint256 deadline);
    /// @notice Thrown when revealing before the task's replicas are all committed and before the commit deadline.
    error RevealNotOpen(uint256 batchId, uint256 taskId);
    /// @notice Thrown when revealing after the reveal deadline.
    error RevealPhaseOver(uint256 deadline);
    /// @notice Thrown when revealing gold before the commit deadline or after the reveal deadline.
    error GoldRevealClosed(uint256 opensAt, uint256 closesAt);
    /// @notice Thrown when settling a task whose labels or gold answers may still change.
    error SettlementNotOpen(uint256 batchId, uint256 taskId, uint256 opensAt);
    /// @notice Thrown when settling a task twice.
    error AlreadySettled(uint256 batchId, uint256 taskId);
    /// @notice Thrown when resolving outside the review window.
    error ReviewClosed(uint256 deadline);
    /// @notice Thrown when the caller is not the batch's reviewer.
    error NotReviewer(address caller);
    /// @notice Thrown when resolving an item that is decided (consensus or gold) or already resolved.
    error ItemNotInReview(uint256 batchId, uint256 item);
    /// @notice Thrown when resolving an item whose task is not settled yet.
    error TaskNotSettled(uint256 batchId, uint256 taskId);
    /// @notice Thrown when refunding before the review deadline or before every task is settled.
    error RefundNotOpen(uint256 opensAt, uint256 tasksSettled, uint256 numTasks);
    /// @notice Thrown when refunding a batch twice.
    error AlreadyRefunded(uint256 batchId);
    /// @notice Thrown when no open task with a free slot was found for this annotator.
    error NoTaskAvailable(uint256 batchId);
    /// @notice Thrown when the annotator's unlocked stake is below what the claim needs.
    error InsufficientStake(uint256 available, uint256 required);
    /// @notice Thrown when the annotator's reputation score is below the batch minimum.
    error InsufficientReputation(int256 score, int256 required);
    /// @notice Thrown when the batch needs a qualification the annotator does not hold.
    error NotQualified(uint256 batchId, address annotator);
    /// @notice Thrown when a qualification signature is not from the batch's qualifier.
    error InvalidQualification();
    /// @notice Thrown when a qualification's deadline has passed.
    error QualificationExpired(uint256 deadline);
    /// @notice Thrown when the caller holds no live claim on the task (for `releaseExpired`: the slot holds no
    ///         claim; `annotator` is the slot's last holder).
    error NotClaimed(uint256 batchId, uint256 taskId, address annotator);
    /// @notice Thrown when releasing a claim that is still valid (until `expiry`).
    error ClaimNotExpired(uint256 batchId, uint256 taskId, uint256 expiry);
    /// @notice Thrown when the caller's claim on the task expired before the commit.
    error ClaimExpired(uint256 batchId, uint256 taskId, uint256 expiry);
    /// @notice Thrown when committing twice.
    error AlreadyCommitted(uint256 batchId, uint256 taskId);
    /// @notice Thrown when revealing without a commit.
    error NotCommitted(uint256 batchId, uint256 taskId);
    /// @notice Thrown when revealing twice.
    error AlreadyRevealed(uint256 batchId, uint256 taskId);
    /// @notice Thrown when labels and salt do not hash to the commit.
    error CommitMismatch();
    /// @notice Thrown when a label is not a class of the batch, or bits beyond the task's items are set.
    error LabelOutOfRange(uint256 position, uint256 label, uint256 numClasses);
    /// @notice Thrown when a gold answer's proof does not match the gold root.
    error InvalidGoldProof(uint256 item);
    /// @notice Thrown when a gold answer is revealed twice.
    error GoldAlreadyRevealed(uint256 item);
    /// @notice Thrown when the batch has no gold.
    error NoGold(uint256 batchId);
    /// @notice Thrown when a zero amount is staked, unstaked or withdrawn.
    error ZeroAmount();
    /// @notice Thrown when unstaking more than the unlocked stake.
    error StakeLocked(uint256 unlocked, uint256 requested);
    /// @notice Thrown when withdrawing before the unstake cooldown has passed.
    error CooldownActive(uint256 unlockAt);
    /// @notice Thrown when there is nothing to withdraw or collect.
    error NothingToWithdraw();

    // ------------------------------------------------------------------------------------------------
    // Events
    // ------------------------------------------------------------------------------------------------

    /// @notice A batch was created and its full reward budget escrowed.
    event BatchCreated(
        uint256 indexed batchId, address indexed requester, address indexed rewardToken, BatchParams params, uint256 escrow
    );
    /// @notice An annotator qualified for a batch.
    event Qualified(uint256 indexed batchId, address indexed annotator);
    /// @notice Stake was added.
    event Staked(address indexed annotator, uint256 amount);
    /// @notice Stake was moved to the unstake queue; withdrawable at `unlockAt`.
    event UnstakeRequested(address indexed annotator, uint256 amount, uint256 unlockAt);
    /// @notice Pending unstaked tokens were withdrawn.
    event Withdrawn(address indexed annotator, uint256 amount);
    /// @notice An annotator claimed a slot of a task; `stakePerClaim` is locked until settlement.
    event Claimed(uint256 indexed batchId, uint256 indexed taskId, address indexed annotator, uint256 slot, uint256 expiry);
    /// @notice An expired, uncommitted claim was released and its stake unlocked.
    event ClaimReleased(uint256 indexed batchId, uint256 indexed taskId, address indexed annotator, uint256 slot);
    /// @notice Labels were committed; `backup` is an optional encrypted copy readable only by the annotator.
    event Committed(
        uint256 indexed batchId, uint256 indexed taskId, address indexed annotator, bytes32 commitHash, bytes backup
    );
    /// @notice Labels were revealed (packed 4 bits per item).
    event Revealed(uint256 indexed batchId, uint256 indexed taskId, address indexed annotator, uint256 labels);
    /// @notice A gold answer was revealed.
    event GoldRevealed(uint256 indexed batchId, uint256 indexed item, uint256 label);
    /// @notice A task was settled: `resultLabels` packed, `decidedMask` marks items with consensus or gold.
    event TaskSettled(
        uint256 indexed batchId,
        uint256 indexed taskId,
        uint256 resultLabels,
        uint256 decidedMask,
        uint256 goldMask,
        uint256 rewardsPaid,
        uint256 stakeSlashed
    );
    /// @notice One annotator's outcome on a settled task.
    event LabelsScored(
        uint256 indexed batchId,
        uint256 indexed taskId,
        address indexed annotator,
        uint256 agreed,
        uint256 disagreed,
        bool revealed,
        uint256 reward,
        uint256 slashed
    );
    /// @notice The reviewer decided an item without consensus.
    event ItemResolved(uint256 indexed batchId, uint256 indexed item, uint256 label, uint256 rewardsPaid);
    /// @notice Slashed stake was credited to an annotator who agreed with consensus, or to the treasury.
    event SlashRedistributed(uint256 indexed batchId, uint256 indexed taskId, address indexed to, uint256 amount);
    /// @notice Unspent escrow went back to the requester.
    event Refunded(uint256 indexed batchId, address indexed requester, uint256 amount);
    /// @notice Credited rewards / redistributed stake were collected.
    event Collected(address indexed account, address indexed token, uint256 amount);

    // ------------------------------------------------------------------------------------------------
    // Functions
    // ------------------------------------------------------------------------------------------------

    /// @notice Creates a batch and escrows `numItems * replicas * rewardPerLabel` of `rewardToken` (needs approval).
    /// @return batchId The new batch id.
    function createBatch(BatchParams calldata params) external returns (uint256 batchId);

    /// @notice Same as `createBatch`, approving the escrow with an EIP-2612 permit in the same transaction.
    function createBatchWithPermit(BatchParams calldata params, uint256 deadline, uint8 v, bytes32 r, bytes32 s)
        external
        returns (uint256 batchId);

    /// @notice Stakes `amount` of the protocol token (needs approval).
    function stake(uint256 amount) external;

    /// @notice Moves `amount` of unlocked stake to the unstake queue; withdrawable after the cooldown.
    function requestUnstake(uint256 amount) external;

    /// @notice Withdraws queued stake after the cooldown.
    function withdraw() external;

    /// @notice Records a qualification for `batchId` signed (EIP-712) by the batch's qualifier.
    function qualify(uint256 batchId, address annotator, uint256 deadline, bytes calldata signature) external;

    /// @notice Claims a slot on a pseudo-randomly chosen open task; the annotator cannot pick the items.
    /// @return taskId The task claimed.
    function claim(uint256 batchId) external returns (uint256 taskId);

    /// @notice Releases an expired, uncommitted claim so the slot goes back to the pool (anyone may call).
    function releaseExpired(uint256 batchId, uint256 taskId, uint256 slot) external;

    /// @notice Commits `commitHash = commitHashOf(batchId, taskId, msg.sender, labels, salt)`.
    function commit(uint256 batchId, uint256 taskId, bytes32 commitHash, bytes calldata backup) external;

    /// @notice Reveals packed labels and the salt of a commit.
    function reveal(uint256 batchId, uint256 taskId, uint256 labels, bytes32 salt) external;

    /// @notice Reveals gold answers (after the commit deadline, before the reveal deadline). Any subset per call.
    function revealGold(uint256 batchId, GoldAnswer[] calldata answers) external;

    /// @notice Settles one task: consensus, payouts, slashing, reputation. Permissionless.
    function settleTask(uint256 batchId, uint256 taskId) external;

    /// @notice Settles tasks `[fromTask, toTask)` that are not settled yet. Permissionless, gas bounded by the range.
    /// @return settled Number of tasks settled by this call.
    function settleTasks(uint256 batchId, uint256 fromTask, uint256 toTask) external returns (uint256 settled);

    /// @notice The reviewer decides an item that settled without consensus; agreeing labels are paid.
    function resolve(uint256 batchId, uint256 item, uint8 label) external;

    /// @notice Returns unspent escrow to the requester once the review window closed and every task is settled.
    function refund(uint256 batchId) external;

    /// @notice Transfers everything credited to the caller in `token`.
    function collect(address token) external returns (uint256 amount);

    /// @notice The commit hash binding labels to chain, market, batch, task and annotator.
    function commitHashOf(uint256 batchId, uint256 taskId, address annotator, uint256 labels, bytes32 salt)
        external
        view
        returns (bytes32);

    /// @notice Reputation score: accepted - rejected + 3 * (goldCorrect - goldWrong) - 10 * unrevealed.
    function reputationScore(address annotator) external view returns (int256);
}
