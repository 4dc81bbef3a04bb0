// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {Hashes} from "@openzeppelin/contracts/utils/cryptography/Hashes.sol";

import {IGenerationMarket, IReviewMarket} from "./interfaces/IGenerationMarket.sol";
import {ILabelMarketV2Types} from "./interfaces/ILabelMarketV2.sol";
import {Leaves} from "./libraries/Leaves.sol";
import {TextNormalize} from "./libraries/TextNormalize.sol";

/// @title GenerationMarket
/// @notice Contributors create datapoints for a requester's instructions and are paid only for those their peers
///         accept (docs/generation.md). Each datapoint is committed (its hash, bound to its author) before the
///         submit deadline and published after it, so nobody can copy a pending one; a datapoint whose normal form
///         (`TextNormalize`) was already published in the batch is refused. The review is an ordinary
///         `LabelMarketV2` batch over the published datapoints whose requester and qualifier is this contract: it
///         never qualifies a batch's contributors, reads each datapoint's settled outcome from the market, pays the
///         accepted up to the cap and slashes the rejected.
contract GenerationMarket is IGenerationMarket, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    /// @notice Largest datapoint a batch may accept inline, in bytes.
    uint256 public constant MAX_CONTENT_BYTES = 8192;
    /// @notice Most submissions a batch may take (bounds the gas of `openReview`, which hashes every datapoint).
    uint256 public constant MAX_ITEMS = 4096;
    /// @notice How long after the publish deadline the requester may open the review; after that every published
    ///         datapoint is paid up to the cap, so a requester cannot keep datapoints by never having them reviewed.
    uint256 public constant OPEN_GRACE = 1 days;
    /// @notice Review classes: reject = 0, accept = 1.
    uint256 public constant ACCEPT = 1;
    /// @dev Bit of item 0's decided flag in a stored outcome (`LabelMarketV2.outcomeOf`: flags at bit 3 of each
    ///      item's nibble, shifted by 128).
    uint256 internal constant DECIDED_FLAG = 128 + 3;

    /// @notice The labeling market the reviews run on.
    IReviewMarket public immutable MARKET;
    /// @notice The token contributors stake (the market's).
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
    /// @notice Whether an address submitted to a batch (and so may not review it).
    mapping(uint256 id => mapping(address who => bool)) public contributed;
    /// @dev The review manifest's leaf of each published datapoint, by item (publication order).
    mapping(uint256 id => mapping(uint256 item => bytes32 leaf)) internal _leaves;
    /// @notice Tokens an address may collect.
    mapping(address who => mapping(address token => uint256 amount)) public claimable;

    /// @param market The labeling market the reviews run on; its stake token and treasury are this contract's.
    constructor(IReviewMarket market) {
        if (address(market) == address(0)) revert InvalidParams("market");
        MARKET = market;
        STAKE_TOKEN = IERC20(market.STAKE_TOKEN());
        TREASURY = market.TREASURY();
    }

    // ------------------------------------------------------------------------------------------------
    // Requester
    // ------------------------------------------------------------------------------------------------

    /// @inheritdoc IGenerationMarket
    function createGeneration(GenParams calldata p) external nonReentrant returns (uint256 id) {
        _validate(p);
        _validateReview(p.review, p.maxItems);
        uint256 reviewBudget = uint256(p.maxItems) * p.review.replicas * p.review.rewardPerLabel + p.review.goldBond;
        uint256 escrow = uint256(p.cap) * p.rewardPerAccepted + reviewBudget;
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
            reviewBudget: uint128(reviewBudget), // <= escrow < 2^128
            stakePerSubmission: p.stakePerSubmission,
            rejectPenalty: p.rejectPenalty,
            unpublishedPenalty: p.unpublishedPenalty,
            instructionCount: p.instructionCount,
            instructionsRoot: p.instructionsRoot,
            reviewHash: keccak256(abi.encode(p.review))
        });
        g.state.escrow = uint128(escrow);
        emit GenerationCreated(id, msg.sender, p.rewardToken, p, escrow);

        _pullExact(IERC20(p.rewardToken), escrow); // interaction last
    }

    function _validate(GenParams calldata p) internal pure {
        if (p.rewardToken == address(0)) revert InvalidParams("rewardToken");
        if (p.cap == 0) revert InvalidParams("cap");
        if (p.maxItems < p.cap || p.maxItems > MAX_ITEMS) revert InvalidParams("maxItems");
        if (p.instructionCount == 0) revert InvalidParams("instructionCount");
        if (p.maxContentBytes == 0 || p.maxContentBytes > MAX_CONTENT_BYTES) revert InvalidParams("maxContentBytes");
        if (p.rewardPerAccepted == 0) revert InvalidParams("rewardPerAccepted");
        if (p.stakePerSubmission == 0) revert InvalidParams("stakePerSubmission");
        if (p.rejectPenalty > p.stakePerSubmission) revert InvalidParams("rejectPenalty");
        if (p.unpublishedPenalty > p.stakePerSubmission) revert InvalidParams("unpublishedPenalty");
        if (p.submitPeriod == 0) revert InvalidParams("submitPeriod");
        if (p.publishPeriod == 0) revert InvalidParams("publishPeriod");
    }

    /// @dev The market's own checks of the review terms (`LabelMarketV2._validate` with one datapoint per task and two
    ///      classes), made at creation so that `openReview` cannot fail on them later.
    function _validateReview(ReviewParams calldata r, uint256 maxItems) internal pure {
        if (r.replicas < 2 || r.replicas > 15) revert InvalidParams("review.replicas");
        if (r.thresholdBps == 0 || r.thresholdBps > 10_000) revert InvalidParams("review.thresholdBps");
        if (r.maxBundle == 0 || r.maxBundle > 32) revert InvalidParams("review.maxBundle");
        if (r.rewardPerLabel == 0) revert InvalidParams("review.rewardPerLabel");
        if (r.noRevealPenalty <= r.wrongLabelPenalty) revert InvalidParams("review.noRevealPenalty");
        if (r.stakePerTask < r.noRevealPenalty) revert InvalidParams("review.stakePerTask");
        if (r.squatPenalty == 0 || r.squatPenalty > r.stakePerTask) revert InvalidParams("review.squatPenalty");
        ILabelMarketV2Types.Periods calldata t = r.periods;
        if (t.revealPeriod == 0 || t.roundPeriod == 0 || t.commitWindow == 0) revert InvalidParams("review.periods");
        if (uint256(t.roundPeriod) + t.commitWindow > t.commitPeriod) revert InvalidParams("review.commitPeriod");
        if (maxItems * r.replicas > type(uint32).max) revert InvalidParams("review.replicas");
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
    function submit(uint256 id, uint256 instruction, bytes32 commitHash) external nonReentrant returns (uint256 sid) {
        Generation storage g = _generation(id);
        GenConfig storage c = g.config;
        if (block.timestamp > c.submitDeadline) revert SubmitClosed(c.submitDeadline);
        if (instruction >= c.instructionCount) revert UnknownInstruction(instruction, c.instructionCount);
        sid = g.state.submitted;
        if (sid >= c.maxItems) revert GenerationFull(c.maxItems);
        uint256 need = c.stakePerSubmission;
        Deposit storage d = _deposits[msg.sender];
        uint256 unlocked = d.amount - d.locked;
        if (unlocked < need) revert InsufficientStake(unlocked, need);
        d.locked += uint96(need); // need <= unlocked < 2^96
        g.state.submitted = uint32(sid + 1); // sid < maxItems <= 2^32 - 1
        _submissions[id][sid] =
            Submission(msg.sender, SubmissionStatus.Committed, uint32(instruction), 0, Verdict.None, commitHash);
        contributed[id][msg.sender] = true;
        emit Submitted(id, sid, msg.sender, instruction, commitHash);
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
        uint256 item = _publish(id, g, sid, contentHash, normalizedHash, salt);
        emit Published(id, sid, msg.sender, item, normalizedHash, contentHash, content, "");
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
        uint256 item = _publish(id, g, sid, contentHash, normalizedHash, salt);
        emit Published(id, sid, msg.sender, item, normalizedHash, contentHash, "", uri);
    }

    /// @dev The checks and effects of both publish forms: window, author, status, commitment, duplicate; returns the
    ///      datapoint's review item (its place in publication order) and stores its manifest leaf.
    function _publish(
        uint256 id,
        Generation storage g,
        uint256 sid,
        bytes32 contentHash,
        bytes32 normalizedHash,
        bytes32 salt
    ) internal returns (uint256 item) {
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
        item = g.state.published;
        s.status = SubmissionStatus.Published;
        s.item = uint32(item); // item < submitted <= maxItems
        s.hash = normalizedHash;
        g.state.published = uint32(item + 1);
        _leaves[id][item] = Leaves.manifestLeaf(item, contentHash, "");
    }

    /// @inheritdoc IGenerationMarket
    function expireSubmission(uint256 id, uint256 sid) external nonReentrant {
        Generation storage g = _generation(id);
        GenConfig storage c = g.config;
        if (block.timestamp <= c.publishDeadline) revert StillPublishable(c.publishDeadline);
        Submission storage s = _submission(id, g, sid);
        if (s.status != SubmissionStatus.Committed) revert WrongStatus(sid, s.status);
        _expire(id, g, sid, s);
    }

    /// @dev A committed, never published submission: `unpublishedPenalty` to the treasury, the rest unlocked.
    function _expire(uint256 id, Generation storage g, uint256 sid, Submission storage s) internal {
        s.status = SubmissionStatus.Expired;
        ++g.state.expired;
        uint256 forfeit = g.config.unpublishedPenalty;
        _release(s.author, g.config.stakePerSubmission, forfeit);
        emit SubmissionExpired(id, sid, s.author, forfeit);
    }

    /// @dev Unlocks a submission's stake, of which `forfeit` goes to the treasury.
    function _release(address author, uint256 locked, uint256 forfeit) internal {
        Deposit storage d = _deposits[author];
        d.locked -= uint96(locked); // locked at submit, released once
        d.amount -= uint96(forfeit); // forfeit <= stakePerSubmission <= what was locked
        if (forfeit != 0) claimable[TREASURY][address(STAKE_TOKEN)] += forfeit;
    }

    // ------------------------------------------------------------------------------------------------
    // Review, finalization, refund
    // ------------------------------------------------------------------------------------------------

    /// @inheritdoc IGenerationMarket
    function openReview(
        uint256 id,
        ReviewParams calldata review,
        string calldata manifestURI,
        bytes32 goldRoot,
        uint32 goldCount
    ) external nonReentrant returns (uint256 reviewBatch) {
        Generation storage g = _generation(id);
        GenConfig storage c = g.config;
        if (msg.sender != c.requester) revert NotRequester(msg.sender);
        if (block.timestamp <= c.publishDeadline) revert ReviewNotOpenYet(uint256(c.publishDeadline) + 1);
        if (block.timestamp > uint256(c.publishDeadline) + OPEN_GRACE) {
            revert ReviewWindowMissed(uint256(c.publishDeadline) + OPEN_GRACE);
        }
        if (g.state.reviewOpened) revert ReviewAlreadyOpen(id, g.state.reviewBatch);
        if (keccak256(abi.encode(review)) != c.reviewHash) revert ReviewTermsMismatch();
        uint256 items = g.state.published;
        if (items == 0) revert NothingToReview(id);
        bytes32 root = _manifestRoot(id, items);
        uint128 bond = goldCount == 0 ? 0 : review.goldBond;
        uint256 escrow = items * review.replicas * review.rewardPerLabel + bond; // <= reviewBudget
        g.state.reviewOpened = true;
        g.state.reviewEscrow = uint128(escrow);
        address token = c.rewardToken;
        IERC20(token).forceApprove(address(MARKET), escrow);
        ILabelMarketV2Types.BatchParams memory bp = _reviewTerms(review);
        bp.rewardToken = token;
        bp.numItems = uint32(items);
        bp.manifestRoot = root;
        bp.manifestURI = manifestURI;
        bp.goldRoot = goldRoot;
        bp.goldCount = goldCount;
        bp.goldBond = bond;
        reviewBatch = MARKET.createBatch(bp);
        g.state.reviewBatch = uint64(reviewBatch);
        emit ReviewOpened(id, reviewBatch, items, root, escrow);
    }

    /// @dev The market batch of the review terms: one datapoint per task, reject / accept, this contract its qualifier
    ///      (so its reputation domain), no reviewer (undecided datapoints are released unpaid).
    function _reviewTerms(ReviewParams calldata review)
        internal
        view
        returns (ILabelMarketV2Types.BatchParams memory bp)
    {
        bp.qualifier = address(this);
        bp.taskSize = 1;
        bp.replicas = review.replicas;
        bp.numClasses = 2;
        bp.thresholdBps = review.thresholdBps;
        bp.maxBundle = review.maxBundle;
        bp.rewardPerLabel = review.rewardPerLabel;
        bp.stakePerTask = review.stakePerTask;
        bp.wrongLabelPenalty = review.wrongLabelPenalty;
        bp.noRevealPenalty = review.noRevealPenalty;
        bp.squatPenalty = review.squatPenalty;
        bp.minStake = review.minStake;
        bp.minReputation = review.minReputation;
        bp.periods = review.periods;
    }

    /// @dev The review manifest's root over the published datapoints' leaves, built as the client builds it
    ///      (`concord_protocol::merkle::MerkleTree`: sorted pairs, an odd node promoted).
    function _manifestRoot(uint256 id, uint256 n) internal view returns (bytes32) {
        bytes32[] memory level = new bytes32[](n);
        for (uint256 i; i < n; ++i) {
            level[i] = _leaves[id][i];
        }
        while (n > 1) {
            uint256 half = n >> 1;
            for (uint256 i; i < half; ++i) {
                level[i] = Hashes.commutativeKeccak256(level[2 * i], level[2 * i + 1]);
            }
            if (n & 1 != 0) level[half] = level[n - 1];
            n = half + (n & 1);
        }
        return level[0];
    }

    /// @inheritdoc IGenerationMarket
    function qualifyReviewer(uint256 id, address annotator) external nonReentrant {
        Generation storage g = _generation(id);
        if (!g.state.reviewOpened) revert NoReview(id);
        if (contributed[id][annotator] || annotator == g.config.requester) {
            revert ContributorCannotReview(id, annotator);
        }
        MARKET.qualify(g.state.reviewBatch, annotator, 0, "");
    }

    /// @inheritdoc IGenerationMarket
    function finalize(uint256 id, uint256 maxCount) external nonReentrant returns (uint256 done) {
        Generation storage g = _generation(id);
        GenConfig storage c = g.config;
        bool reviewed = g.state.reviewOpened;
        if (!reviewed) {
            // Without a review, finalizing waits for the requester's window to open it to pass (or for the publish
            // deadline when nothing was published, since nothing can be reviewed).
            uint256 opensAt = uint256(c.publishDeadline) + 1 + (g.state.published == 0 ? 0 : OPEN_GRACE);
            if (block.timestamp < opensAt) revert FinalizeNotOpen(opensAt);
        }
        uint256 sid = g.state.finalized;
        uint256 end = sid + maxCount;
        if (end > g.state.submitted) end = g.state.submitted;
        for (; sid < end; ++sid) {
            _finalizeOne(id, g, sid, reviewed);
        }
        done = end - g.state.finalized;
        g.state.finalized = uint32(end);
    }

    /// @dev One submission, in submission order: expire it if never published, else pay, slash or release it by its
    ///      review outcome (accepted when there was no review).
    function _finalizeOne(uint256 id, Generation storage g, uint256 sid, bool reviewed) internal {
        Submission storage s = _submissions[id][sid];
        SubmissionStatus status = s.status;
        if (status == SubmissionStatus.Committed) return _expire(id, g, sid, s);
        if (status != SubmissionStatus.Published) return; // expired earlier
        GenConfig storage c = g.config;
        Verdict verdict = reviewed ? _verdict(g.state.reviewBatch, sid, s.item) : Verdict.Accepted;
        uint256 paid = 0;
        uint256 slashed = 0;
        if (verdict == Verdict.Accepted) {
            if (g.state.accepted < c.cap) {
                paid = c.rewardPerAccepted;
                ++g.state.accepted;
                g.state.paid += uint128(paid); // <= cap * rewardPerAccepted <= escrow
                claimable[s.author][c.rewardToken] += paid;
            } else {
                verdict = Verdict.AcceptedOverCap;
            }
        } else if (verdict == Verdict.Rejected) {
            slashed = c.rejectPenalty;
        }
        s.status = SubmissionStatus.Finalized;
        s.verdict = verdict;
        _release(s.author, c.stakePerSubmission, slashed);
        emit Finalized(id, sid, s.author, verdict, paid, slashed);
    }

    /// @dev A datapoint's review outcome, read from the market (its task `item` of one datapoint).
    function _verdict(uint256 reviewBatch, uint256 sid, uint256 item) internal view returns (Verdict) {
        uint256 w = MARKET.outcomeOf(reviewBatch, item);
        if (w == 0) revert ReviewNotSettled(sid, item);
        // slither-disable-next-line unused-return (only whether the task holds revealed gold matters)
        (uint256 goldMask,) = MARKET.goldOf(reviewBatch, item);
        if (goldMask != 0) return Verdict.Gold;
        if ((w >> DECIDED_FLAG) & 1 == 0) return Verdict.Undecided; // item 0's decided flag
        return w & 0xF == ACCEPT ? Verdict.Accepted : Verdict.Rejected;
    }

    /// @inheritdoc IGenerationMarket
    function refund(uint256 id) external nonReentrant returns (uint256 amount) {
        Generation storage g = _generation(id);
        GenState storage st = g.state;
        if (st.refunded) revert AlreadyRefunded(id);
        if (st.finalized != st.submitted || block.timestamp <= g.config.publishDeadline) {
            revert RefundNotOpen(st.finalized, st.submitted);
        }
        st.refunded = true;
        uint256 returned = st.reviewOpened ? _reviewRefund(st.reviewBatch) : 0;
        amount = st.escrow - st.paid - st.reviewEscrow + returned;
        address requester = g.config.requester;
        claimable[requester][g.config.rewardToken] += amount;
        emit GenerationRefunded(id, requester, amount);
    }

    /// @dev What the review batch sent back to this contract, its requester: refunds it first if nobody did. Its
    ///      reviewer is zero, so nothing is withheld for undecided items (`LabelMarketV2Settlement.refund`).
    function _reviewRefund(uint256 reviewBatch) internal returns (uint256) {
        ILabelMarketV2Types.Batch memory b = MARKET.getBatch(reviewBatch);
        if (!b.state.refunded) {
            MARKET.refund(reviewBatch);
            b = MARKET.getBatch(reviewBatch);
        }
        bool goldKept = b.state.goldRevealed >= b.config.goldCount;
        return b.state.escrow - b.state.paid + (goldKept ? b.state.goldBond : 0);
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
