// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @title ILabelMarketV2Types
/// @notice Types, errors and events of `ILabelMarketV2`, shared by the market and its settlement module.
/// @dev See `ILabelMarketV2`.
interface ILabelMarketV2Types {
    // ------------------------------------------------------------------------------------------------
    // Types
    // ------------------------------------------------------------------------------------------------

    /// @notice Everything a requester chooses when creating a batch.
    /// @param rewardToken ERC-20 rewards and the gold bond are escrowed in (fee-on-transfer tokens are rejected).
    /// @param reviewer Decides items without consensus during the review window (zero: no review; those items'
    ///        escrow is refunded). With a reviewer, escrow of items left undecided goes to the treasury.
    /// @param qualifier If non-zero, annotators need an EIP-712 `Qualification` signed by this key; it is also the
    ///        batch's reputation domain (otherwise the requester is).
    /// @param numItems Number of items N.
    /// @param taskSize Items per task k (1..=32).
    /// @param replicas Lanes r: independent labels per item (2..=15).
    /// @param numClasses Number of classes C (2..=16); labels are 0..C-1.
    /// @param thresholdBps Plurality share of revealed labels needed for consensus, in basis points.
    /// @param maxBundle Most tasks one join may take (1..=32).
    /// @param rewardPerLabel Paid for each label that agrees with the consensus, the gold answer or the reviewer.
    /// @param stakePerTask Stake locked per task of a bundle until the task settles; bounds every penalty.
    /// @param wrongLabelPenalty Stake slashed per label that disagrees with a decided item.
    /// @param noRevealPenalty Stake slashed per task committed and never revealed; > taskSize * wrongLabelPenalty.
    /// @param squatPenalty Stake forfeited per task of a bundle never committed in its round's commit window.
    /// @param minStake Stake an annotator must hold to join.
    /// @param minReputation Reputation in the batch's domain an annotator needs to join.
    /// @param periods The batch's clock (see `Periods`).
    /// @param manifestRoot Merkle root of the item manifest (leaf: index, content hash, URI).
    /// @param manifestURI Where annotators fetch the manifest and items.
    /// @param goldRoot Merkle root of the salted gold answers (zero: no gold).
    /// @param goldCount Number of gold items committed under `goldRoot`.
    /// @param goldBond Escrowed with gold; returned only if every gold answer is revealed in time.
    struct BatchParams {
        address rewardToken;
        address reviewer;
        address qualifier;
        uint32 numItems;
        uint16 taskSize;
        uint8 replicas;
        uint8 numClasses;
        uint16 thresholdBps;
        uint8 maxBundle;
        uint128 rewardPerLabel;
        uint96 stakePerTask;
        uint96 wrongLabelPenalty;
        uint96 noRevealPenalty;
        uint96 squatPenalty;
        uint96 minStake;
        int64 minReputation;
        Periods periods;
        bytes32 manifestRoot;
        string manifestURI;
        bytes32 goldRoot;
        uint32 goldCount;
        uint128 goldBond;
    }

    /// @notice The clock of a batch, in seconds (a struct of its own: ABI tuples stop at 24 fields).
    /// @param commitPeriod From creation until the last commit; every round ends inside it.
    /// @param revealPeriod After the commit deadline, during which reveals are accepted.
    /// @param reviewPeriod After the reveal deadline, during which the reviewer can decide items.
    /// @param roundPeriod How long a round accepts joins (it seals earlier when every lane is full).
    /// @param commitWindow After a round's join window, for its bundles to be committed.
    struct Periods {
        uint32 commitPeriod;
        uint32 revealPeriod;
        uint32 reviewPeriod;
        uint32 roundPeriod;
        uint32 commitWindow;
    }

    /// @notice What a batch was created with; never changes afterwards.
    struct BatchConfig {
        // slot 0
        address requester;
        uint40 commitDeadline;
        uint40 revealDeadline;
        // slot 1
        address rewardToken;
        uint40 reviewDeadline;
        uint32 roundPeriod;
        // slot 2
        address reviewer;
        uint32 numItems;
        uint16 taskSize;
        uint8 replicas;
        uint8 numClasses;
        uint16 thresholdBps;
        uint8 maxBundle;
        // slot 3
        address qualifier;
        uint32 numTasks;
        uint32 goldCount;
        uint32 commitWindow;
        // slot 4
        uint128 rewardPerLabel;
        uint96 stakePerTask;
        // slot 5
        uint96 wrongLabelPenalty;
        uint96 noRevealPenalty;
        int64 minReputation;
        // slot 6
        uint96 squatPenalty;
        uint96 minStake;
    }

    /// @notice The Merkle roots a batch commits to at creation (beside `BatchConfig`: ABI tuples stop at 24 fields).
    struct Roots {
        bytes32 manifest;
        bytes32 gold;
    }

    /// @notice Accounting of a batch that changes as it runs.
    struct BatchState {
        // slot 0
        uint128 escrow;
        uint128 paid;
        // slot 1
        uint128 goldBond;
        uint32 tasksSettled;
        uint32 goldRevealed;
        uint32 undecided;
        uint16 round;
        bool refunded;
        // slot 2
        uint64 committed;
        uint32 bundles;
    }

    /// @notice A stored batch.
    struct Batch {
        BatchConfig config;
        BatchState state;
        Roots roots;
    }

    /// @notice A join round: joins until `joinEnd` (or until every lane is full), seed from block `sealBlock + 1`,
    ///         commits until `commitEnd`. `free` counts the positions still free in all lanes together.
    struct Round {
        uint40 joinEnd;
        uint40 commitEnd;
        uint64 sealBlock;
        uint32 free;
    }

    /// @notice One lane in one round: the pool of tickets, how many were joined and how many committed.
    struct LaneRound {
        uint32 pool;
        uint32 taken;
        uint32 committed;
        bool open;
    }

    /// @notice A join: `size` tickets `[first, first + size)` of lane `lane` in round `round`. Only its hash is
    ///         stored (with the commitment and the revealed labels folded in as the bundle advances), so every
    ///         call about a bundle re-supplies it; the `Joined` event carries it.
    struct Bundle {
        address annotator;
        uint8 lane;
        uint16 round;
        uint32 first;
        uint8 size;
    }

    /// @notice A bundle re-supplied for settlement or review: its labels (revealed) or its commit hash (committed,
    ///         never revealed), and which of its positions the call reads (`positions` bit m: position m; bits at or
    ///         above the bundle's size are ignored). A call that settles in parts supplies each position once over
    ///         all its calls; a position holding one of the call's tasks that is left out reverts `MissingBundle`.
    ///         A bundle still only committed may come with its labels and `salt` (handed to the settler off-chain):
    ///         the settlement then carries its reveal — the labels must open the stored commitment, and it is
    ///         accepted only up to the reveal deadline, when every lane of every task settled must be revealed, so a
    ///         settler can never leave a carried reveal out to change a result. `salt` is ignored otherwise.
    struct BundleProof {
        uint32 id;
        uint32 positions;
        Bundle bundle;
        bytes32 commitHash;
        uint256[] labels;
        bytes32 salt;
    }

    /// @notice How far a bundle got.
    enum Status {
        None,
        Joined,
        Committed,
        Revealed
    }

    /// @notice Stake of an annotator (global); `locked` is covered by `amount`.
    struct Account {
        uint96 amount;
        uint96 locked;
        uint40 unlockAt;
    }

    /// @notice Reputation counters of an annotator within one domain (a qualifier, or a requester).
    struct Reputation {
        uint40 accepted;
        uint40 rejected;
        uint40 goldCorrect;
        uint40 goldWrong;
        uint40 unrevealed;
        uint40 squatted;
    }

    /// @notice A gold answer revealed by the requester, with its salt and Merkle proof against `goldRoot`.
    struct GoldAnswer {
        uint32 item;
        uint8 label;
        bytes32 salt;
        bytes32[] proof;
    }

    /// @notice Where a batch's optimistic settlement stands: none (or voided), live (challengeable), final.
    enum ProposalStatus {
        None,
        Live,
        Final
    }

    /// @notice An optimistic settlement of a batch (`ILabelMarketV2Optimistic.propose`): one credit leaf per bundle
    ///         under `root`, challengeable until `challengeEnd`, with the totals its leaves add up to.
    struct Proposal {
        // slot 0
        address proposer;
        uint40 challengeEnd;
        ProposalStatus status;
        // slot 1
        bytes32 root;
        // slot 2
        uint128 bond;
        uint128 earned;
        // slot 3
        uint128 slashed;
        uint128 redistributed;
    }

    /// @notice A bundle's credit brought to `ILabelMarketV2Optimistic.claim`: the two credit words the proposal posted
    ///         for it and their Merkle proof against the proposal's root.
    struct CreditClaim {
        uint32 id;
        uint256 credit;
        uint256 amounts;
        bytes32[] proof;
    }

    /// @notice A commit an annotator signed for someone else to send (`ILabelMarketV2Relay.relayCommits`): the
    ///         arguments of `commitAndJoin` (`maxTasks` zero: a plain `commit`) and the annotator's EIP-712 signature
    ///         of `RelayedCommit(batchId, bundleId, commitHash, keccak256(backup), maxTasks)` under the market's
    ///         domain.
    struct RelayedCommit {
        uint32 bundleId;
        uint8 maxTasks;
        Bundle bundle;
        bytes32 commitHash;
        bytes backup;
        bytes signature;
    }

    /// @notice A join an annotator signed for someone else to send (`ILabelMarketV2Relay.relayJoins`): its
    ///         `join(batchId, maxTasks)` of the batch's joinable round, after staking `stake` (zero: none) from its
    ///         wallet, with the annotator's EIP-712 signature of `RelayedJoin(batchId, round, maxTasks, stake)` under
    ///         the market's domain. `v` nonzero: the stake is pulled with the token's EIP-2612 permit (`deadline`,
    ///         `v`, `r`, `s`) to the market; zero: with the allowance the annotator gave.
    struct RelayedJoin {
        address annotator;
        uint8 maxTasks;
        uint96 stake;
        uint8 v;
        uint40 deadline;
        bytes32 r;
        bytes32 s;
        bytes signature;
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
    /// @notice Thrown when a re-supplied bundle does not match what the market stored for it (or is not at `status`).
    error BundleMismatch(uint256 bundleId, Status status);
    /// @notice Thrown when someone other than the bundle's annotator commits or reveals it.
    error NotYourBundle(uint256 bundleId, address caller);
    /// @notice Thrown when a relayed commit's signature is not its bundle's annotator's.
    error InvalidRelayedCommit(uint256 bundleId);
    /// @notice A relayed join's signature is not its annotator's (for this batch, round, size and stake).
    error InvalidRelayedJoin(address annotator);
    /// @notice Thrown when joining after the commit deadline, or joining a round whose commits could not end by it.
    error CommitPhaseOver(uint256 deadline);
    /// @notice Thrown when joining while the current round is sealed and the next one cannot open before `opensAt`.
    error RoundClosed(uint256 round, uint256 opensAt);
    /// @notice Thrown when joining twice in one round.
    error AlreadyJoined(uint256 batchId, uint256 round);
    /// @notice Thrown when the caller's lane has no free position in the current round.
    error NoTaskAvailable(uint256 batchId);
    /// @notice Thrown when asking a join for zero tasks or more than the batch's bundle limit.
    error InvalidBundleSize(uint256 requested, uint256 maxBundle);
    /// @notice Thrown when sealing a round whose join window is still open (until `joinEnd`) and not full.
    error RoundStillOpen(uint256 round, uint256 joinEnd);
    /// @notice Thrown when sealing a round twice.
    error AlreadySealed(uint256 round);
    /// @notice Thrown when the seed of `round` is not in a block yet; it can be drawn from block `readyAt`.
    error SeedNotReady(uint256 round, uint256 readyAt);
    /// @notice Thrown when the seed block fell out of the 256-block window: `drawSeed` re-arms the round.
    error SeedExpired(uint256 round);
    /// @notice Thrown when committing outside the bundle's round window (it closed at `commitEnd`).
    error CommitWindowClosed(uint256 round, uint256 commitEnd);
    /// @notice Thrown when expiring a bundle whose commit window is still open (until `commitEnd`).
    error CommitWindowOpen(uint256 round, uint256 commitEnd);
    /// @notice Thrown when revealing before every position is committed and before the commit deadline.
    error RevealNotOpen(uint256 opensAt);
    /// @notice Thrown when revealing after the reveal deadline.
    error RevealPhaseOver(uint256 deadline);
    /// @notice Thrown when revealed labels and salt do not hash to the commitment.
    error CommitMismatch();
    /// @notice Thrown when a label is not a class of the batch, or a bundle's words do not fit its size.
    error LabelOutOfRange(uint256 task, uint256 item, uint256 label);
    /// @notice Thrown when a bundle's label words are not `expected` long (two tasks per word, the unused half of
    ///         an odd bundle's last word empty).
    error WrongBundleLength(uint256 words, uint256 expected);
    /// @notice Thrown when revealing gold before the commit deadline or after the reveal deadline.
    error GoldRevealClosed(uint256 opensAt, uint256 closesAt);
    /// @notice Thrown when a gold answer's proof does not match the gold root.
    error InvalidGoldProof(uint256 item);
    /// @notice Thrown when a gold answer is revealed twice.
    error GoldAlreadyRevealed(uint256 item);
    /// @notice Thrown when the batch has no gold.
    error NoGold(uint256 batchId);
    /// @notice Thrown when settling a task whose labels or gold may still change (settlement opens at `opensAt`).
    error SettlementNotOpen(uint256 taskId, uint256 opensAt);
    /// @notice Thrown when settling a task twice.
    error AlreadySettled(uint256 batchId, uint256 taskId);
    /// @notice Thrown when a committed bundle holding `taskId` in `lane` was left out of a settlement or review.
    error MissingBundle(uint256 taskId, uint256 lane);
    /// @notice Thrown when two supplied bundles cover the same task in the same lane (the same bundle twice).
    error DuplicateBundle(uint256 bundleId);
    /// @notice Thrown when the task list of a settlement is not strictly increasing.
    error TasksNotSorted();
    /// @notice Thrown when resolving outside the review window.
    error ReviewClosed(uint256 deadline);
    /// @notice Thrown when a batch already had `max` join rounds (the last round's leftovers stay unassigned).
    error TooManyRounds(uint256 max);
    /// @notice Thrown when the reviewer decides a class that no revealed label of the item gave (it would pay nobody
    ///         and hand the item's escrow back to the requester).
    error DecisionWithoutLabel(uint256 item, uint256 label);
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
    /// @notice Thrown when the annotator's unlocked stake is below what the join needs.
    error InsufficientStake(uint256 available, uint256 required);
    /// @notice Thrown when the annotator's reputation in the batch's domain is below the batch minimum.
    error InsufficientReputation(int256 score, int256 required);
    /// @notice Thrown when the batch needs a qualification the annotator does not hold.
    error NotQualified(uint256 batchId, address annotator);
    /// @notice Thrown when a qualification signature is not from the batch's qualifier.
    error InvalidQualification();
    /// @notice Thrown when a qualification's deadline has passed.
    error QualificationExpired(uint256 deadline);
    /// @notice Thrown when a zero amount is staked or unstaked.
    error ZeroAmount();
    /// @notice Thrown when unstaking more than the unlocked stake.
    error StakeLocked(uint256 unlocked, uint256 requested);
    /// @notice Thrown when withdrawing before the unstake cooldown has passed.
    error CooldownActive(uint256 unlockAt);
    /// @notice Thrown when there is nothing to withdraw or collect.
    error NothingToWithdraw();

    /// @notice Thrown when settling, or proposing, while a proposal of the batch is live or final.
    error ProposalPending(uint256 batchId);
    /// @notice Thrown when proposing for a batch with a reviewer, a contract as qualifier, or a task already settled:
    ///         those settle with `settle`.
    error OptimisticUnavailable(uint256 batchId);
    /// @notice Thrown when a proposal's bundles are not in strictly increasing bundle order.
    error BundlesNotSorted();
    /// @notice Thrown when a proposal's bundles do not hold every committed position (`supplied` of `committed`), or,
    ///         before the reveal deadline, do not reveal every one of them.
    error BundlesIncomplete(uint256 supplied, uint256 committed);
    /// @notice Thrown when a proposal does not post two credit words for each of the batch's bundles.
    error WrongCreditCount(uint256 words, uint256 expected);
    /// @notice Thrown when a posted credit is not for its bundle's annotator and task count, slashes more than the
    ///         bundle locked, or is not zero for a bundle never committed.
    error InvalidCredit(uint256 bundleId);
    /// @notice Thrown when a proposal's rewards exceed the batch's escrow, or its redistribution its slashes.
    error ProposalInsolvent(uint256 earned, uint256 escrow, uint256 redistributed, uint256 slashed);
    /// @notice Thrown when challenging or finalizing a batch with no live proposal.
    error NoLiveProposal(uint256 batchId);
    /// @notice Thrown when challenging after the challenge window closed (at `challengeEnd`).
    error ChallengeWindowOver(uint256 challengeEnd);
    /// @notice Thrown when finalizing before the challenge window closed (at `challengeEnd`).
    error ChallengeWindowOpen(uint256 challengeEnd);
    /// @notice Thrown when a credit leaf and its proof do not match the proposal's root.
    error InvalidCreditProof(uint256 bundleId);
    /// @notice Thrown when a challenged credit leaf is what the bundles recompute: the proposal stands.
    error ChallengeFailed(uint256 bundleId);
    /// @notice Thrown when a challenge's bundles do not cover every position of the challenged bundle.
    error ChallengeIncomplete(uint256 bundleId, uint256 counted, uint256 size);
    /// @notice Thrown when claiming from a batch whose proposal is not final.
    error ProposalNotFinal(uint256 batchId);
    /// @notice Thrown when claiming a bundle that holds nothing to claim (never committed, expired or claimed).
    error NothingToClaim(uint256 bundleId);

    // ------------------------------------------------------------------------------------------------
    // Events
    // ------------------------------------------------------------------------------------------------

    /// @notice A batch was created; `escrow` (rewards) and `goldBond` were transferred in.
    event BatchCreated(
        uint256 indexed batchId,
        address indexed requester,
        address indexed rewardToken,
        BatchParams params,
        uint256 escrow
    );
    /// @notice An annotator qualified for a batch.
    event Qualified(uint256 indexed batchId, address indexed annotator);
    /// @notice Stake was added.
    event Staked(address indexed annotator, uint256 amount);
    /// @notice Stake was moved to the unstake queue; withdrawable at `unlockAt`.
    event UnstakeRequested(address indexed annotator, uint256 amount, uint256 unlockAt);
    /// @notice Pending unstaked tokens were withdrawn.
    event Withdrawn(address indexed annotator, uint256 amount);
    /// @notice A round opened for joins until `joinEnd`; its bundles commit until `commitEnd`.
    event RoundOpened(uint256 indexed batchId, uint256 indexed round, uint256 joinEnd, uint256 commitEnd, uint256 free);
    /// @notice An annotator joined: `bundle` is what every later call about `bundleId` re-supplies.
    event Joined(
        uint256 indexed batchId, uint256 indexed bundleId, address indexed annotator, Bundle bundle, uint256 stakeLocked
    );
    /// @notice A round stopped taking joins; its seed is the hash of block `sealBlock + 1`.
    event RoundSealed(uint256 indexed batchId, uint256 indexed round, uint256 sealBlock);
    /// @notice A round's seed was stored; it keys the round's permutations.
    event SeedDrawn(uint256 indexed batchId, uint256 indexed round, bytes32 seed);
    /// @notice A bundle's labels were committed; `backup` is an optional encrypted copy only the annotator reads.
    event Committed(
        uint256 indexed batchId, uint256 indexed bundleId, address indexed annotator, bytes32 commitHash, bytes backup
    );
    /// @notice A bundle reserved in a round before its pool was known held tickets past the pool: it was committed
    ///         with its first `size` tickets, and the stake of the rest (`unlocked`) was unlocked. Later calls about
    ///         the bundle re-supply it with this size.
    event BundleShrunk(uint256 indexed batchId, uint256 indexed bundleId, uint256 size, uint256 unlocked);
    /// @notice A bundle's labels were revealed (`BundlePacking` words), by its annotator or carried by a settlement.
    event Revealed(uint256 indexed batchId, uint256 indexed bundleId, address indexed annotator, uint256[] labels);
    /// @notice A bundle was never committed in its window: `forfeited` stake went to the treasury, its tasks back
    ///         to the pool of the next round.
    event BundleExpired(
        uint256 indexed batchId, uint256 indexed bundleId, address indexed annotator, uint256 forfeited
    );
    /// @notice A gold answer was revealed.
    event GoldRevealed(uint256 indexed batchId, uint256 indexed item, uint256 label);
    /// @notice Tasks were settled by one `settle` call, two words per task in the call's order:
    ///         `outcomes[2j]` = resultLabels | decidedMask << 128 and `outcomes[2j + 1]` = taskId | revealedLanes << 32
    ///         | goldMask << 128. `resultLabels` is packed (4 bits per item); `decidedMask` (consensus or gold) and
    ///         `goldMask` are flags, bit 4i + 3 for item i (the `BitTally` form); `revealedLanes` has bit j set when
    ///         lane j's labels were counted. One event per call: a log per task cost ~2.5k gas more.
    event TasksSettled(uint256 indexed batchId, uint256[] outcomes);
    /// @notice One bundle's outcome in one settlement call (tasks of the bundle settled by the call only).
    event BundleScored(
        uint256 indexed batchId,
        uint256 indexed bundleId,
        address indexed annotator,
        uint256 tasks,
        uint256 agreed,
        uint256 disagreed,
        uint256 reward,
        uint256 slashed,
        uint256 redistributed
    );
    /// @notice The reviewer decided an item without consensus; agreeing labels were paid.
    event ItemResolved(uint256 indexed batchId, uint256 indexed item, uint256 label, uint256 rewardsPaid);
    /// @notice Unspent escrow went back to the requester; `toTreasury` is the escrow of items the reviewer left
    ///         undecided plus a forfeited gold bond.
    event Refunded(uint256 indexed batchId, address indexed requester, uint256 amount, uint256 toTreasury);
    /// @notice Rewards / redistributed stake were paid out to `account`: credited ones by its `collect`, or directly
    ///         by an optimistic claim (`ILabelMarketV2Optimistic.claim`) or finalization (the bond).
    event Collected(address indexed account, address indexed token, uint256 amount);
    /// @notice An optimistic settlement was proposed with a `bond` in the reward token; `credits` holds two words
    ///         per bundle (see `ILabelMarketV2Optimistic.propose`), and the totals are what they add up to.
    event Proposed(
        uint256 indexed batchId,
        address indexed proposer,
        bytes32 root,
        uint256 challengeEnd,
        uint256 bond,
        uint256 earned,
        uint256 slashed,
        uint256 redistributed,
        uint256[] credits
    );
    /// @notice A challenge proved the leaf of `bundleId` wrong: the proposal is void and its bond credited to the
    ///         challenger; the batch settles with `settle` (or a new proposal).
    event ProposalVoided(uint256 indexed batchId, address indexed challenger, uint256 bundleId, uint256 bond);
    /// @notice A proposal became final: its rewards count as paid, `toTreasury` of the slashes went to the treasury,
    ///         and the bond was paid back to its proposer.
    event ProposalFinalized(uint256 indexed batchId, uint256 earned, uint256 toTreasury);
    /// @notice `bundles` bundles of a final proposal were claimed by `caller`, paying `rewards` in the reward token.
    ///         Each bundle's counts and amounts are its credit in the final proposal's `Proposed` event; one event per
    ///         call (a `BundleScored` per bundle cost ~3.4k gas more each).
    event CreditsClaimed(uint256 indexed batchId, address indexed caller, uint256 bundles, uint256 rewards);
}

/// @title ILabelMarketV2
/// @notice Concord's labeling market, protocol v2 (docs/protocol-v2.md): escrowed batches, staked annotators who
///         join for bundles of tasks whose identity is fixed by a later block's hash, one commit and one reveal per
///         bundle, settlement from re-supplied bundles, per-domain reputation.
/// @dev A batch has `numItems` items in tasks of `taskSize` consecutive items and `replicas` lanes. Lane j holds
///      one position per task; an annotator is bound to one lane per batch, so it never labels a task twice.
///      Joins happen in rounds: a join takes the next free tickets of its lane in the current round and locks
///      stake; the round's seed is the hash of the block after the round is sealed, and a keyed permutation of
///      the round's pool (the tickets of the previous round that were never committed) maps tickets to tasks.
///      Labels of a task are packed 4 bits per item into 128 bits, two tasks per word (`BundlePacking`).
interface ILabelMarketV2 is ILabelMarketV2Types {
    // ------------------------------------------------------------------------------------------------
    // Functions
    // ------------------------------------------------------------------------------------------------

    /// @notice Creates a batch and escrows `numItems * replicas * rewardPerLabel + goldBond` (needs approval).
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

    /// @notice Records a qualification for `batchId`: signed (EIP-712) by the batch's qualifier, or sent by the
    ///         qualifier itself (then `deadline` and `signature` are ignored) — so a contract can be a qualifier.
    function qualify(uint256 batchId, address annotator, uint256 deadline, bytes calldata signature) external;

    /// @notice Joins the current round for up to `maxTasks` tasks of the caller's lane, locking
    ///         `stakePerTask` per task. Which tasks they are is fixed only by the seed drawn after the round seals.
    /// @return bundleId The new bundle.
    /// @return size Tasks in it (fewer than asked when the lane has fewer free positions).
    function join(uint256 batchId, uint256 maxTasks) external returns (uint256 bundleId, uint256 size);

    /// @notice Seals the current round once its join window has passed; once its commit window has passed too,
    ///         opens the next round instead, so that the bundles reserved in it (`commitAndJoin`) get their tasks
    ///         (anyone may call).
    function seal(uint256 batchId) external;

    /// @notice Stores the seed of a sealed round, or re-arms the round when its seed block is older than 256
    ///         blocks and nobody stored it (anyone may call).
    function drawSeed(uint256 batchId, uint256 round) external;

    /// @notice Commits a bundle: `commitHash = commitHashOf(batchId, bundleId, msg.sender, labels, salt)`.
    function commit(
        uint256 batchId,
        uint256 bundleId,
        Bundle calldata bundle,
        bytes32 commitHash,
        bytes calldata backup
    ) external;

    /// @notice `commit`, then a join of the next round in the same transaction: up to `maxTasks` tasks of the
    ///         caller's lane, reserved before the next round opens (its pool, what this round leaves uncommitted, is
    ///         known only at this round's commit end). The reservation takes the lane's next tickets and locks
    ///         `stakePerTask` per ticket; tickets past the pool turn out void, and the bundle's commit shrinks to the
    ///         ones that hold tasks (`BundleShrunk`, their stake unlocked). As `join`, the tasks are fixed only by the
    ///         seed drawn after the next round seals.
    /// @return nextBundleId The reserved bundle.
    /// @return size Tickets reserved (at most what this round can leave uncommitted in the lane).
    function commitAndJoin(
        uint256 batchId,
        uint256 bundleId,
        Bundle calldata bundle,
        bytes32 commitHash,
        bytes calldata backup,
        uint256 maxTasks
    ) external returns (uint256 nextBundleId, uint256 size);

    /// @notice Reveals a bundle's labels and the salt of its commit.
    function reveal(uint256 batchId, uint256 bundleId, Bundle calldata bundle, uint256[] calldata labels, bytes32 salt)
        external;

    /// @notice Releases a bundle never committed in its window: `squatPenalty` per task is forfeited, the rest of
    ///         its stake unlocked, its positions go to the next round's pool (anyone may call). A reserved bundle
    ///         whose tickets all fell past its round's pool, or whose round never opened (released after the commit
    ///         deadline), held no task: its stake is unlocked without penalty.
    function expire(uint256 batchId, uint256 bundleId, Bundle calldata bundle) external;

    /// @notice Reveals gold answers (after the commit deadline, before the reveal deadline). Any subset per call.
    function revealGold(uint256 batchId, GoldAnswer[] calldata answers) external;

    /// @notice Settles `tasks` (strictly increasing) from the bundles that hold them: consensus, payouts,
    ///         slashing, reputation. Every committed bundle holding one of the tasks must be supplied. Before the
    ///         reveal deadline a committed bundle may be supplied with its labels and salt: its reveal is carried by
    ///         this call (checked against its commitment, `Revealed` emitted) and the annotator sends no reveal.
    /// @return settled Number of tasks settled.
    function settle(uint256 batchId, uint256[] calldata tasks, BundleProof[] calldata bundles)
        external
        returns (uint256 settled);

    /// @notice The reviewer decides an item that settled without consensus; the bundles holding its task are
    ///         re-supplied and every revealed label equal to `label` is paid.
    function resolve(uint256 batchId, uint256 item, uint8 label, BundleProof[] calldata bundles) external;

    /// @notice After the review window, once every task is settled: unspent escrow to the requester, the escrow
    ///         of items the reviewer left undecided and a forfeited gold bond to the treasury.
    function refund(uint256 batchId) external;

    /// @notice Transfers everything credited to the caller in `token`.
    function collect(address token) external returns (uint256 amount);

    /// @notice The commit hash binding a bundle's labels to chain, market, batch, bundle and annotator.
    function commitHashOf(uint256 batchId, uint256 bundleId, address annotator, uint256[] calldata labels, bytes32 salt)
        external
        view
        returns (bytes32);

    /// @notice The task held by ticket `ticket` of `lane` in `round` (the round's seed must be drawn).
    function taskAt(uint256 batchId, uint256 lane, uint256 round, uint256 ticket) external view returns (uint256);

    /// @notice Reputation score in a domain: accepted - rejected + 3 (goldCorrect - goldWrong)
    ///         - 10 (unrevealed + squatted).
    function reputationScore(address annotator, address domain) external view returns (int256);
}

/// @title ILabelMarketV2Optimistic
/// @notice Optimistic settlement of a `LabelMarketV2` batch, called on the market's address (the market routes these
///         selectors to its `LabelMarketV2Optimistic` module). A proposer posts, with a bond, every bundle's credit
///         (counts, stake slashed, coherence shares); anyone may prove one credit wrong during the challenge window
///         by re-supplying the bundles of its tasks (the settlement code recomputes it); once final, each bundle's
///         credit is claimed with a Merkle proof. Batches with a reviewer or a contract as qualifier settle with
///         `settle` only. See docs/protocol-v2.md, "Optimistic settlement".
interface ILabelMarketV2Optimistic is ILabelMarketV2Types {
    /// @notice Share of a batch's escrow a proposer bonds, in basis points.
    function PROPOSAL_BOND_BPS() external view returns (uint256);

    /// @notice Proposes the batch's settlement once it could be settled (every position committed and all gold
    ///         revealed, or after the reveal deadline). `bundles` are every committed bundle in strictly increasing id
    ///         order: revealed ones with their labels (a reveal handed to the proposer is carried here before the
    ///         reveal deadline, and then every one must be revealed), the others with their commit hash. `credits`
    ///         holds two words per bundle id 0..bundles-1: `uint160(annotator) << 96 | unrevealed << 80 |
    ///         goldDisagreed << 64 | goldAgreed << 48 | disagreed << 32 | agreed << 16 | tasks` and `slashed << 128 |
    ///         redistributed` (both zero for a bundle never committed). Pulls `PROPOSAL_BOND_BPS` of the escrow from
    ///         the caller in the reward token; the challenge window lasts the batch's review period from the later of
    ///         now and the reveal deadline.
    function propose(uint256 batchId, BundleProof[] calldata bundles, uint256[] calldata credits) external;

    /// @notice Proves the proposal's credit of `bundleId` wrong: `tasks` and `bundles` as for `settle`, covering every
    ///         position of the bundle. Voids the proposal and credits its bond to the caller; reverts
    ///         `ChallengeFailed` if the credit is right.
    function challenge(
        uint256 batchId,
        uint256 bundleId,
        uint256 credit,
        uint256 amounts,
        bytes32[] calldata proof,
        uint256[] calldata tasks,
        BundleProof[] calldata bundles
    ) external;

    /// @notice Makes a live proposal final after its challenge window: rewards count as paid, the slashes not
    ///         redistributed go to the treasury (credited), the bond is paid back to the proposer (credited instead if
    ///         the token refuses the transfer).
    function finalize(uint256 batchId) external;

    /// @notice Settles bundles of a final proposal with their annotators (anyone may claim for anyone): stake unlocked
    ///         and slashed, reputation counted, rewards and coherence shares paid to the annotator directly (one
    ///         transfer and one `Collected` per consecutive run of one annotator's bundles; a transfer the token
    ///         refuses is credited for `collect` instead); emits one `CreditsClaimed`. Returns the rewards paid.
    function claim(uint256 batchId, CreditClaim[] calldata claims) external returns (uint256 rewards);

    /// @notice `claim` for every bundle not claimed yet, without proofs: `credits` is the whole list the proposal
    ///         posted (its `Proposed` event), hashed again to the root. Returns the rewards paid.
    function claimAll(uint256 batchId, uint256[] calldata credits) external returns (uint256 rewards);

    /// @notice What `settle` would credit each supplied bundle for `tasks`, for a proposer or a watcher to call
    ///         off-chain (`eth_call`; sent as a transaction it only carries reveals, as `settle` would): two words per
    ///         bundle, the credit words without the annotator. Sum them per bundle over calls covering parts of a batch.
    function tally(uint256 batchId, uint256[] calldata tasks, BundleProof[] calldata bundles)
        external
        returns (uint256[] memory credits);

    /// @notice A batch's proposal.
    function proposalOf(uint256 batchId) external view returns (Proposal memory);
}

/// @title ILabelMarketV2Relay
/// @notice Relayed commits of `LabelMarketV2` (called on the market's address, which routes them to its
///         `LabelMarketV2Relay` module): an annotator signs its commit and hands it over; anyone sends many in one
///         transaction. The EIP-712 type an annotator signs (under the market's domain) is
///         `RelayedCommit(uint256 batchId,uint256 bundleId,bytes32 commitHash,bytes32 backupHash,uint256 maxTasks)`
///         (`LabelMarketV2Relay.RELAYED_COMMIT_TYPEHASH`). See docs/protocol-v2.md, "Relayed commits".
interface ILabelMarketV2Relay is ILabelMarketV2Types {
    /// @notice Sends commits annotators signed (anyone may send them, typically the requester's server once per
    ///         round, so an annotator needs no transaction of its own per bundle): each is exactly the bundle's
    ///         annotator's `commitAndJoin(batchId, bundleId, bundle, commitHash, backup, maxTasks)` (`commit` when
    ///         `maxTasks` is zero) with the same checks, events and stake locked. A signature is good for its one
    ///         bundle once (the bundle is committed after it). All or nothing: any commit that fails reverts the call
    ///         with its error (`InvalidRelayedCommit` for a signature not the annotator's).
    function relayCommits(uint256 batchId, RelayedCommit[] calldata commits) external;

    /// @notice Sends joins annotators signed (anyone may send them, typically the requester's server once per round,
    ///         so an annotator needs no transaction — and no ether — to stake and join): each stakes the join's
    ///         `stake` from the annotator's wallet (`Staked`; through its permit when given), then is exactly the
    ///         annotator's `join(batchId, maxTasks)` in the batch's joinable round, with the same checks and events.
    ///         A signature is good for one round (one join per annotator per round). All or nothing: any join that
    ///         fails reverts the call with its error (`InvalidRelayedJoin` for a signature not the annotator's).
    ///         The tokens move after every join is recorded; a permit someone else already used is no failure.
    function relayJoins(uint256 batchId, RelayedJoin[] calldata joins) external;
}
