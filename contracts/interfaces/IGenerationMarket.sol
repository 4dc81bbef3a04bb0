// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

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
    /// @param reviewBudget Escrowed for the review batch (reviewers' rewards and its gold bond).
    /// @param stakePerSubmission Stake locked per submission until it is reviewed or expires; bounds its penalties.
    /// @param rejectPenalty Stake slashed from the author of a rejected datapoint (<= stakePerSubmission).
    /// @param unpublishedPenalty Stake forfeited per submission committed and never published (<= stake).
    /// @param submitPeriod From creation, during which datapoints are committed.
    /// @param publishPeriod After the submit deadline, during which committed datapoints are published.
    /// @param instructionsRoot Merkle root of the instructions manifest (the prompts or categories).
    /// @param instructionsURI Where contributors fetch the instructions.
    struct GenParams {
        address rewardToken;
        uint32 cap;
        uint32 maxItems;
        uint32 maxContentBytes;
        uint128 rewardPerAccepted;
        uint128 reviewBudget;
        uint96 stakePerSubmission;
        uint96 rejectPenalty;
        uint96 unpublishedPenalty;
        uint32 submitPeriod;
        uint32 publishPeriod;
        bytes32 instructionsRoot;
        string instructionsURI;
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
        // slot 5
        bytes32 instructionsRoot;
    }

    /// @notice Accounting of a generation batch that changes as it runs.
    struct GenState {
        uint128 escrow;
        uint128 paid;
        uint32 submitted;
        uint32 published;
        uint32 expired;
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
        Expired
    }

    /// @notice One submission: its author, status and hash (the commit hash until published, then the hash of the
    ///         datapoint's normal form, `TextNormalize`).
    struct Submission {
        address author;
        SubmissionStatus status;
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
    /// @notice A datapoint was committed (its content stays hidden until the submit deadline).
    event Submitted(uint256 indexed id, uint256 indexed sid, address indexed author, bytes32 commitHash);
    /// @notice A datapoint was published: inline `content` (empty `uri`), or by `uri` with the hash of its bytes
    ///         (`contentHash`) and of its normal form (`normalizedHash`, which fetchers check).
    event Published(
        uint256 indexed id,
        uint256 indexed sid,
        address indexed author,
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

    /// @notice Commits a datapoint: locks `stakePerSubmission` and records `commitHash` (see `commitHashOf`).
    /// @return sid The submission's id in the batch.
    function submit(uint256 id, bytes32 commitHash) external returns (uint256 sid);

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
