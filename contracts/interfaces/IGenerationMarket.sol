// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {ILabelMarketV2, ILabelMarketV2Types} from "./ILabelMarketV2.sol";

/// @title IReviewMarket
/// @notice What the generation market uses of `LabelMarketV2` beyond `ILabelMarketV2`: its token and treasury, and
///         the views that tell how a review batch's tasks ended.
interface IReviewMarket is ILabelMarketV2 {
    /// @notice The token annotators stake (contributors stake it in the generation market too).
    function STAKE_TOKEN() external view returns (address);
    /// @notice Receives forfeited stake.
    function TREASURY() external view returns (address);
    /// @notice A stored batch.
    function getBatch(uint256 batchId) external view returns (Batch memory);
    /// @notice Outcome of a settled task of a batch whose qualifier is a contract (zero while unsettled).
    function outcomeOf(uint256 batchId, uint256 taskId) external view returns (uint256);
    /// @notice Revealed gold of a task: mask of gold items and their packed labels.
    function goldOf(uint256 batchId, uint256 taskId) external view returns (uint256 mask, uint256 labels);
}

/// @title IGenerationMarketTypes
/// @notice Types, errors and events of `IGenerationMarket`.
interface IGenerationMarketTypes {
    // ------------------------------------------------------------------------------------------------
    // Types
    // ------------------------------------------------------------------------------------------------

    /// @notice Everything a requester chooses when creating a generation batch.
    /// @param rewardToken ERC-20 the rewards and the review budget are escrowed in (fee-on-transfer tokens rejected).
    /// @param cap Most datapoints that will be paid as accepted.
    /// @param maxItems Most submissions the batch takes (its review's size bound; >= cap).
    /// @param maxContentBytes Largest datapoint published inline (1..=`MAX_CONTENT_BYTES`); larger ones by URI.
    /// @param rewardPerAccepted Paid to the author of each accepted datapoint.
    /// @param instructionCount Number of instructions (prompts or categories) in the manifest; each submission names
    ///        one.
    /// @param stakePerSubmission Stake locked per submission until it is reviewed or expires; bounds its penalties.
    /// @param rejectPenalty Stake slashed from the author of a rejected datapoint (<= stakePerSubmission).
    /// @param unpublishedPenalty Stake forfeited per submission committed and never published (<= stake).
    /// @param submitPeriod From creation, during which datapoints are committed.
    /// @param publishPeriod After the submit deadline, during which committed datapoints are published.
    /// @param instructionsRoot Merkle root of the instructions manifest (the prompts or categories).
    /// @param instructionsURI Where contributors fetch the instructions.
    /// @param review The review batch's terms, fixed now so contributors know them before contributing; the review
    ///        budget escrowed is `maxItems * review.replicas * review.rewardPerLabel + review.goldBond`.
    struct GenParams {
        address rewardToken;
        uint32 cap;
        uint32 maxItems;
        uint32 maxContentBytes;
        uint32 instructionCount;
        uint128 rewardPerAccepted;
        uint96 stakePerSubmission;
        uint96 rejectPenalty;
        uint96 unpublishedPenalty;
        uint32 submitPeriod;
        uint32 publishPeriod;
        bytes32 instructionsRoot;
        string instructionsURI;
        ReviewParams review;
    }

    /// @notice The review batch's terms (a `LabelMarketV2` batch of one datapoint per task, classes reject = 0 and
    ///         accept = 1, whose requester and qualifier is the generation market); see `ILabelMarketV2Types.BatchParams`
    ///         for each field. `goldBond` is escrowed only if the review is opened with gold.
    struct ReviewParams {
        uint8 replicas;
        uint16 thresholdBps;
        uint8 maxBundle;
        uint128 rewardPerLabel;
        uint96 stakePerTask;
        uint96 wrongLabelPenalty;
        uint96 noRevealPenalty;
        uint96 squatPenalty;
        uint96 minStake;
        int64 minReputation;
        uint128 goldBond;
        ILabelMarketV2Types.Periods periods;
    }

    /// @notice What a generation batch was created with; never changes afterwards.
    struct GenConfig {
        // slot 0
        address requester;
        uint40 submitDeadline;
        uint40 publishDeadline;
        // slot 1
        address rewardToken;
        uint32 cap;
        uint32 maxItems;
        uint32 maxContentBytes;
        // slot 2
        uint128 rewardPerAccepted;
        uint128 reviewBudget;
        // slot 3
        uint96 stakePerSubmission;
        uint96 rejectPenalty;
        // slot 4
        uint96 unpublishedPenalty;
        uint32 instructionCount;
        // slot 5
        bytes32 instructionsRoot;
        // slot 6
        bytes32 reviewHash; // keccak256(abi.encode(review terms))
    }

    /// @notice Accounting of a generation batch that changes as it runs.
    struct GenState {
        // slot 0
        uint128 escrow;
        uint128 paid;
        // slot 1
        uint32 submitted;
        uint32 published;
        uint32 expired;
        uint32 finalized; // submissions finalized, in submission order
        uint32 accepted; // datapoints paid as accepted (<= cap)
        bool reviewOpened;
        bool refunded;
        // slot 2
        uint64 reviewBatch;
        uint128 reviewEscrow; // sent to the market with the review batch
    }

    /// @notice A stored generation batch.
    struct Generation {
        GenConfig config;
        GenState state;
    }

    /// @notice Where a submission stands.
    enum SubmissionStatus {
        None,
        Committed,
        Published,
        Expired,
        Finalized
    }

    /// @notice How a published datapoint ended.
    enum Verdict {
        None,
        Accepted, // paid rewardPerAccepted
        AcceptedOverCap, // accepted after `cap` were paid: stake unlocked, unpaid
        Rejected, // rejectPenalty slashed to the treasury
        Undecided, // no consensus: stake unlocked, unpaid
        Gold // one of the requester's gold examples: stake unlocked, unpaid
    }

    /// @notice One submission: its author, status, the instruction it answers, its item in the review (its place in
    ///         publication order), its verdict, and its hash (the commit hash until published, then the hash of the
    ///         datapoint's normal form, `TextNormalize`).
    struct Submission {
        address author;
        SubmissionStatus status;
        uint32 instruction;
        uint32 item;
        Verdict verdict;
        bytes32 hash;
    }

    /// @notice A contributor's stake: `amount` held, of which `locked` backs open submissions.
    struct Deposit {
        uint96 amount;
        uint96 locked;
    }

    // ------------------------------------------------------------------------------------------------
    // Errors
    // ------------------------------------------------------------------------------------------------

    /// @notice A creation parameter is out of range; `what` names it.
    error InvalidParams(string what);
    /// @notice The token delivered less than was transferred (fee-on-transfer or rebasing tokens are refused).
    error TokenShortfall(uint256 expected, uint256 received);
    /// @notice No generation batch has this id.
    error UnknownGeneration(uint256 id);
    /// @notice The batch has no submission with this id.
    error UnknownSubmission(uint256 id, uint256 sid);
    /// @notice An amount of zero.
    error ZeroAmount();
    /// @notice Not enough unlocked stake.
    error InsufficientStake(uint256 unlocked, uint256 needed);
    /// @notice Submissions closed at `deadline`.
    error SubmitClosed(uint256 deadline);
    /// @notice The batch already holds `maxItems` submissions.
    error GenerationFull(uint256 maxItems);
    /// @notice Publishing opens after the submit deadline, at `opensAt` (so nobody can copy a published datapoint).
    error PublishNotOpen(uint256 opensAt);
    /// @notice Publishing closed at `deadline`.
    error PublishClosed(uint256 deadline);
    /// @notice Only the author publishes its submission.
    error NotYourSubmission(uint256 sid, address caller);
    /// @notice The submission is not in the status this call needs.
    error WrongStatus(uint256 sid, SubmissionStatus status);
    /// @notice The content, salt and author do not open the submission's commit hash.
    error CommitMismatch(uint256 sid);
    /// @notice Inline content is empty or empty once normalized.
    error EmptyContent(uint256 sid);
    /// @notice Inline content is longer than the batch allows: publish it by URI.
    error ContentTooLarge(uint256 length, uint256 max);
    /// @notice The same datapoint (normal form) was already published in this batch as `firstSid`.
    error DuplicateDatapoint(uint256 sid, uint256 firstSid);
    /// @notice The submission can still be published until `until`.
    error StillPublishable(uint256 until);
    /// @notice Nothing to collect.
    error NothingToWithdraw();
    /// @notice The instruction index is not below the batch's `instructionCount`.
    error UnknownInstruction(uint256 instruction, uint256 count);
    /// @notice Only the batch's requester may do this.
    error NotRequester(address caller);
    /// @notice The review opens after the publish deadline, at `opensAt`.
    error ReviewNotOpenYet(uint256 opensAt);
    /// @notice The requester had until `deadline` to open the review; every published datapoint is now paid up to the
    ///         cap (`finalize`).
    error ReviewWindowMissed(uint256 deadline);
    /// @notice The review batch was already opened.
    error ReviewAlreadyOpen(uint256 id, uint256 reviewBatch);
    /// @notice No review batch was opened for this generation batch.
    error NoReview(uint256 id);
    /// @notice The review terms differ from those fixed at creation.
    error ReviewTermsMismatch();
    /// @notice No datapoint was published: there is nothing to review.
    error NothingToReview(uint256 id);
    /// @notice Contributors (and the requester) of a batch never review it.
    error ContributorCannotReview(uint256 id, address annotator);
    /// @notice Finalizing opens at `opensAt` (once the review is open, or once the requester missed opening it).
    error FinalizeNotOpen(uint256 opensAt);
    /// @notice The review task of datapoint `sid` (`item`) is not settled yet: settle the review batch first.
    error ReviewNotSettled(uint256 sid, uint256 item);
    /// @notice The refund needs every submission finalized (`finalized` of `submitted`).
    error RefundNotOpen(uint256 finalized, uint256 submitted);
    /// @notice The batch was already refunded.
    error AlreadyRefunded(uint256 id);

    // ------------------------------------------------------------------------------------------------
    // Events
    // ------------------------------------------------------------------------------------------------

    /// @notice A generation batch was created and `escrow` (rewards for `cap` datapoints and the review budget)
    ///         escrowed.
    event GenerationCreated(
        uint256 indexed id, address indexed requester, address indexed rewardToken, GenParams params, uint256 escrow
    );
    /// @notice Stake was added.
    event Staked(address indexed contributor, uint256 amount);
    /// @notice Unlocked stake was withdrawn.
    event Unstaked(address indexed contributor, uint256 amount);
    /// @notice A datapoint answering `instruction` was committed (its content stays hidden until the submit deadline).
    event Submitted(
        uint256 indexed id, uint256 indexed sid, address indexed author, uint256 instruction, bytes32 commitHash
    );
    /// @notice A datapoint was published as review item `item`: inline `content` (empty `uri`), or by `uri` with the
    ///         hash of its bytes (`contentHash`) and of its normal form (`normalizedHash`, which fetchers check).
    event Published(
        uint256 indexed id,
        uint256 indexed sid,
        address indexed author,
        uint256 item,
        bytes32 normalizedHash,
        bytes32 contentHash,
        bytes content,
        string uri
    );
    /// @notice A committed datapoint was never published: `forfeited` went to the treasury, the rest of its stake
    ///         was unlocked.
    event SubmissionExpired(uint256 indexed id, uint256 indexed sid, address indexed author, uint256 forfeited);
    /// @notice Claimable tokens were sent out.
    event Collected(address indexed who, address indexed token, uint256 amount);
    /// @notice The review batch `reviewBatch` of `items` published datapoints (manifest `manifestRoot`, leaf i:
    ///         `Leaves.manifestLeaf(i, contentHash, "")`) was created on the market with `escrow` of the review budget.
    event ReviewOpened(
        uint256 indexed id, uint256 indexed reviewBatch, uint256 items, bytes32 manifestRoot, uint256 escrow
    );
    /// @notice A submission was finalized: `paid` reward to its author, `slashed` stake to the treasury, the rest of
    ///         its stake unlocked.
    event Finalized(
        uint256 indexed id, uint256 indexed sid, address indexed author, Verdict verdict, uint256 paid, uint256 slashed
    );
    /// @notice What the batch did not spend (rewards beyond the accepted, and the review batch's refund) was credited
    ///         to the requester.
    event GenerationRefunded(uint256 indexed id, address indexed requester, uint256 amount);
}

/// @title IGenerationMarket
/// @notice "Generate, then review" (docs/generation.md): contributors create datapoints for a requester's
///         instructions, committing each before anyone can see it and publishing it after the submit deadline; exact
///         duplicates (same normal form) are refused. Built so far: creation with escrow, stake, submit, publish,
///         expiry, collect. Next (docs/generation.md "Order of work"): the review batch on `LabelMarketV2`, paying
///         accepted datapoints up to the cap, slashing rejected ones, and the refund.
interface IGenerationMarket is IGenerationMarketTypes {
    /// @notice Creates a generation batch and escrows `cap * rewardPerAccepted + reviewBudget` (needs approval).
    function createGeneration(GenParams calldata params) external returns (uint256 id);

    /// @notice Adds `amount` of the stake token to the caller's deposit (needs approval).
    function stake(uint256 amount) external;

    /// @notice Withdraws `amount` of the caller's unlocked stake.
    function unstake(uint256 amount) external;

    /// @notice Commits a datapoint answering `instruction`: locks `stakePerSubmission` and records `commitHash` (see
    ///         `commitHashOf`).
    /// @return sid The submission's id in the batch.
    function submit(uint256 id, uint256 instruction, bytes32 commitHash) external returns (uint256 sid);

    /// @notice Publishes a committed datapoint inline (after the submit deadline, until the publish deadline).
    function publish(uint256 id, uint256 sid, bytes calldata content, bytes32 salt) external;

    /// @notice Publishes a committed datapoint by URI: `contentHash` is keccak256 of its bytes (what the commit
    ///         covers), `normalizedHash` of its normal form (the duplicate check's key; fetchers verify both).
    function publishURI(
        uint256 id,
        uint256 sid,
        string calldata uri,
        bytes32 contentHash,
        bytes32 normalizedHash,
        bytes32 salt
    ) external;

    /// @notice Releases a submission never published by the publish deadline: `unpublishedPenalty` to the treasury,
    ///         the rest of its stake unlocked (anyone may call).
    function expireSubmission(uint256 id, uint256 sid) external;

    /// @notice Opens the review (requester, after the publish deadline, within `OPEN_GRACE`): creates a
    ///         `LabelMarketV2` batch over the published datapoints in publication order, one per task, classes
    ///         reject = 0 / accept = 1, with the terms fixed at creation, the generation market as requester and
    ///         qualifier, no reviewer, and the manifest root computed here. `goldRoot` and `goldCount` commit the
    ///         salted answers of the requester's known-good and known-bad examples, submitted and published like any
    ///         datapoint (zero and zero: no gold, and no gold bond).
    function openReview(
        uint256 id,
        ReviewParams calldata review,
        string calldata manifestURI,
        bytes32 goldRoot,
        uint32 goldCount
    ) external returns (uint256 reviewBatch);

    /// @notice Qualifies `annotator` to review batch `id` (anyone may call): refused for its contributors and its
    ///         requester, so nobody reviews its own datapoint.
    function qualifyReviewer(uint256 id, address annotator) external;

    /// @notice Finalizes up to `maxCount` submissions in submission order (anyone may call): a committed one never
    ///         published expires; a published one is paid if accepted while fewer than `cap` were paid, slashed
    ///         `rejectPenalty` if rejected, unlocked otherwise. Without a review opened in time, every published
    ///         datapoint counts as accepted.
    /// @return done How many were finalized by this call.
    function finalize(uint256 id, uint256 maxCount) external returns (uint256 done);

    /// @notice After every submission is finalized, credits the requester with what was not spent (anyone may call);
    ///         refunds the review batch on the market first if nobody did.
    function refund(uint256 id) external returns (uint256 amount);

    /// @notice Sends the caller what it may claim of `token`.
    function collect(address token) external returns (uint256 amount);

    /// @notice The commit hash of a datapoint: binds chain, market, batch, author, the keccak256 of the content's
    ///         bytes and a secret salt (not the submission id, which is known only once the commit lands).
    function commitHashOf(uint256 id, address author, bytes32 contentHash, bytes32 salt) external view returns (bytes32);

    /// @notice A generation batch.
    function getGeneration(uint256 id) external view returns (Generation memory);

    /// @notice A submission.
    function submissionOf(uint256 id, uint256 sid) external view returns (Submission memory);

    /// @notice A contributor's stake.
    function depositOf(address contributor) external view returns (Deposit memory);
}
