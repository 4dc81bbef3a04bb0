// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";

import {IGenerationMarket} from "./interfaces/IGenerationMarket.sol";
import {TextNormalize} from "./libraries/TextNormalize.sol";

/// @title GenerationMarket
/// @notice Contributors create datapoints for a requester's instructions and are paid only for those their peers
///         accept (docs/generation.md). Each datapoint is committed (its hash, bound to its author) before the
///         submit deadline and published after it, so nobody can copy a pending one; a datapoint whose normal form
///         (`TextNormalize`) was already published in the batch is refused. Built so far: creation with escrow,
///         stake, submit, publish, expiry and collect; the review on `LabelMarketV2`, payment up to the cap,
///         slashing and the refund come next ("Order of work").
contract GenerationMarket is IGenerationMarket, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    /// @notice Largest datapoint a batch may accept inline, in bytes.
    uint256 public constant MAX_CONTENT_BYTES = 8192;

    /// @notice The token contributors stake.
    IERC20 public immutable STAKE_TOKEN;
    /// @notice Receives forfeited stake.
    address public immutable TREASURY;

    /// @notice Number of generation batches created (ids are 0..generationCount-1).
    uint256 public generationCount;

    mapping(uint256 id => Generation) internal _generations;
    mapping(uint256 id => mapping(uint256 sid => Submission)) internal _submissions;
    /// @notice The first submission (id + 1) published with a normal form's hash in a batch; 0 if none.
    mapping(uint256 id => mapping(bytes32 normalizedHash => uint256 sidPlusOne)) public firstWith;
    mapping(address contributor => Deposit) internal _deposits;
    /// @notice Tokens an address may collect.
    mapping(address who => mapping(address token => uint256 amount)) public claimable;

    /// @param stakeToken The token contributors stake.
    /// @param treasury Receives forfeited stake.
    constructor(IERC20 stakeToken, address treasury) {
        if (address(stakeToken) == address(0)) revert InvalidParams("stakeToken");
        if (treasury == address(0)) revert InvalidParams("treasury");
        STAKE_TOKEN = stakeToken;
        TREASURY = treasury;
    }

    // ------------------------------------------------------------------------------------------------
    // Requester
    // ------------------------------------------------------------------------------------------------

    /// @inheritdoc IGenerationMarket
    function createGeneration(GenParams calldata p) external nonReentrant returns (uint256 id) {
        _validate(p);
        uint256 escrow = uint256(p.cap) * p.rewardPerAccepted + p.reviewBudget;
        if (escrow > type(uint128).max) revert InvalidParams("escrow overflows uint128");
        id = generationCount++;
        Generation storage g = _generations[id];
        uint256 submitDeadline = block.timestamp + p.submitPeriod;
        g.config = GenConfig({
            requester: msg.sender,
            submitDeadline: uint40(submitDeadline),
            publishDeadline: uint40(submitDeadline + p.publishPeriod),
            rewardToken: p.rewardToken,
            cap: p.cap,
            maxItems: p.maxItems,
            maxContentBytes: p.maxContentBytes,
            rewardPerAccepted: p.rewardPerAccepted,
            reviewBudget: p.reviewBudget,
            stakePerSubmission: p.stakePerSubmission,
            rejectPenalty: p.rejectPenalty,
            unpublishedPenalty: p.unpublishedPenalty,
            instructionsRoot: p.instructionsRoot
        });
        g.state.escrow = uint128(escrow);
        emit GenerationCreated(id, msg.sender, p.rewardToken, p, escrow);

        _pullExact(IERC20(p.rewardToken), escrow); // interaction last
    }

    function _validate(GenParams calldata p) internal pure {
        if (p.rewardToken == address(0)) revert InvalidParams("rewardToken");
        if (p.cap == 0) revert InvalidParams("cap");
        if (p.maxItems < p.cap) revert InvalidParams("maxItems");
        if (p.maxContentBytes == 0 || p.maxContentBytes > MAX_CONTENT_BYTES) revert InvalidParams("maxContentBytes");
        if (p.rewardPerAccepted == 0) revert InvalidParams("rewardPerAccepted");
        if (p.stakePerSubmission == 0) revert InvalidParams("stakePerSubmission");
        if (p.rejectPenalty > p.stakePerSubmission) revert InvalidParams("rejectPenalty");
        if (p.unpublishedPenalty > p.stakePerSubmission) revert InvalidParams("unpublishedPenalty");
        if (p.submitPeriod == 0) revert InvalidParams("submitPeriod");
        if (p.publishPeriod == 0) revert InvalidParams("publishPeriod");
    }

    // ------------------------------------------------------------------------------------------------
    // Contributor: stake, submit, publish
    // ------------------------------------------------------------------------------------------------

    /// @inheritdoc IGenerationMarket
    function stake(uint256 amount) external nonReentrant {
        if (amount == 0) revert ZeroAmount();
        Deposit storage d = _deposits[msg.sender];
        d.amount = SafeCast.toUint96(uint256(d.amount) + amount);
        emit Staked(msg.sender, amount);
        _pullExact(STAKE_TOKEN, amount);
    }

    /// @inheritdoc IGenerationMarket
    function unstake(uint256 amount) external nonReentrant {
        if (amount == 0) revert ZeroAmount();
        Deposit storage d = _deposits[msg.sender];
        uint256 unlocked = d.amount - d.locked;
        if (amount > unlocked) revert InsufficientStake(unlocked, amount);
        d.amount -= uint96(amount); // amount <= unlocked < 2^96
        emit Unstaked(msg.sender, amount);
        STAKE_TOKEN.safeTransfer(msg.sender, amount);
    }

    /// @inheritdoc IGenerationMarket
    function submit(uint256 id, bytes32 commitHash) external nonReentrant returns (uint256 sid) {
        Generation storage g = _generation(id);
        GenConfig storage c = g.config;
        if (block.timestamp > c.submitDeadline) revert SubmitClosed(c.submitDeadline);
        sid = g.state.submitted;
        if (sid >= c.maxItems) revert GenerationFull(c.maxItems);
        uint256 need = c.stakePerSubmission;
        Deposit storage d = _deposits[msg.sender];
        uint256 unlocked = d.amount - d.locked;
        if (unlocked < need) revert InsufficientStake(unlocked, need);
        d.locked += uint96(need); // need <= unlocked < 2^96
        g.state.submitted = uint32(sid + 1); // sid < maxItems <= 2^32 - 1
        _submissions[id][sid] = Submission(msg.sender, SubmissionStatus.Committed, commitHash);
        emit Submitted(id, sid, msg.sender, commitHash);
    }

    /// @inheritdoc IGenerationMarket
    function publish(uint256 id, uint256 sid, bytes calldata content, bytes32 salt) external nonReentrant {
        Generation storage g = _generation(id);
        if (content.length > g.config.maxContentBytes) {
            revert ContentTooLarge(content.length, g.config.maxContentBytes);
        }
        bytes32 contentHash = keccak256(content);
        bytes memory normal = TextNormalize.normalize(content);
        if (normal.length == 0) revert EmptyContent(sid);
        bytes32 normalizedHash = keccak256(normal);
        _publish(id, g, sid, contentHash, normalizedHash, salt);
        emit Published(id, sid, msg.sender, normalizedHash, contentHash, content, "");
    }

    /// @inheritdoc IGenerationMarket
    function publishURI(
        uint256 id,
        uint256 sid,
        string calldata uri,
        bytes32 contentHash,
        bytes32 normalizedHash,
        bytes32 salt
    ) external nonReentrant {
        Generation storage g = _generation(id);
        if (bytes(uri).length == 0) revert EmptyContent(sid);
        _publish(id, g, sid, contentHash, normalizedHash, salt);
        emit Published(id, sid, msg.sender, normalizedHash, contentHash, "", uri);
    }

    /// @dev The checks and effects of both publish forms: window, author, status, commitment, duplicate.
    function _publish(
        uint256 id,
        Generation storage g,
        uint256 sid,
        bytes32 contentHash,
        bytes32 normalizedHash,
        bytes32 salt
    ) internal {
        GenConfig storage c = g.config;
        if (block.timestamp <= c.submitDeadline) revert PublishNotOpen(uint256(c.submitDeadline) + 1);
        if (block.timestamp > c.publishDeadline) revert PublishClosed(c.publishDeadline);
        Submission storage s = _submission(id, g, sid);
        if (s.author != msg.sender) revert NotYourSubmission(sid, msg.sender);
        if (s.status != SubmissionStatus.Committed) revert WrongStatus(sid, s.status);
        if (s.hash != _commitHash(id, msg.sender, contentHash, salt)) revert CommitMismatch(sid);
        uint256 first = firstWith[id][normalizedHash];
        if (first != 0) revert DuplicateDatapoint(sid, first - 1);
        firstWith[id][normalizedHash] = sid + 1;
        s.status = SubmissionStatus.Published;
        s.hash = normalizedHash;
        ++g.state.published;
    }

    /// @inheritdoc IGenerationMarket
    function expireSubmission(uint256 id, uint256 sid) external nonReentrant {
        Generation storage g = _generation(id);
        GenConfig storage c = g.config;
        if (block.timestamp <= c.publishDeadline) revert StillPublishable(c.publishDeadline);
        Submission storage s = _submission(id, g, sid);
        if (s.status != SubmissionStatus.Committed) revert WrongStatus(sid, s.status);
        s.status = SubmissionStatus.Expired;
        ++g.state.expired;
        uint256 forfeit = c.unpublishedPenalty;
        Deposit storage d = _deposits[s.author];
        d.locked -= c.stakePerSubmission; // locked at submit, released once
        d.amount -= uint96(forfeit); // forfeit <= stakePerSubmission <= what was locked
        if (forfeit != 0) claimable[TREASURY][address(STAKE_TOKEN)] += forfeit;
        emit SubmissionExpired(id, sid, s.author, forfeit);
    }

    /// @inheritdoc IGenerationMarket
    function collect(address token) external nonReentrant returns (uint256 amount) {
        amount = claimable[msg.sender][token];
        if (amount == 0) revert NothingToWithdraw();
        claimable[msg.sender][token] = 0;
        emit Collected(msg.sender, token, amount);
        IERC20(token).safeTransfer(msg.sender, amount);
    }

    // ------------------------------------------------------------------------------------------------
    // Views
    // ------------------------------------------------------------------------------------------------

    /// @inheritdoc IGenerationMarket
    function commitHashOf(uint256 id, address author, bytes32 contentHash, bytes32 salt)
        external
        view
        returns (bytes32)
    {
        return _commitHash(id, author, contentHash, salt);
    }

    /// @inheritdoc IGenerationMarket
    function getGeneration(uint256 id) external view returns (Generation memory) {
        return _generation(id);
    }

    /// @inheritdoc IGenerationMarket
    function submissionOf(uint256 id, uint256 sid) external view returns (Submission memory) {
        return _submissions[id][sid];
    }

    /// @inheritdoc IGenerationMarket
    function depositOf(address contributor) external view returns (Deposit memory) {
        return _deposits[contributor];
    }

    // ------------------------------------------------------------------------------------------------
    // Internal
    // ------------------------------------------------------------------------------------------------

    /// @dev Pulls `amount` of `token` from the caller and refuses a token that delivers less (fee-on-transfer,
    ///      rebasing down), so every obligation is backed by what actually arrived.
    function _pullExact(IERC20 token, uint256 amount) internal {
        uint256 before = token.balanceOf(address(this));
        token.safeTransferFrom(msg.sender, address(this), amount);
        uint256 received = token.balanceOf(address(this)) - before;
        if (received != amount) revert TokenShortfall(amount, received);
    }

    function _generation(uint256 id) internal view returns (Generation storage g) {
        g = _generations[id];
        if (g.config.requester == address(0)) revert UnknownGeneration(id);
    }

    function _submission(uint256 id, Generation storage g, uint256 sid) internal view returns (Submission storage) {
        if (sid >= g.state.submitted) revert UnknownSubmission(id, sid);
        return _submissions[id][sid];
    }

    function _commitHash(uint256 id, address author, bytes32 contentHash, bytes32 salt)
        internal
        view
        returns (bytes32)
    {
        return keccak256(abi.encode(block.chainid, address(this), id, author, contentHash, salt));
    }
}
