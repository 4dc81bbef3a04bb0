// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {Hashes} from "@openzeppelin/contracts/utils/cryptography/Hashes.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";

import {LabelMarketV2Tally} from "./LabelMarketV2Tally.sol";
import {Leaves} from "./libraries/Leaves.sol";

/// @title LabelMarketV2Optimistic
/// @notice Optimistic settlement of `LabelMarketV2` batches (`ILabelMarketV2Optimistic`): a bonded proposal of every
///         bundle's credit, per-bundle challenges that recompute a credit with the settlement code, and claims with
///         a Merkle proof once final. Runs only through the market (`delegatecall` from the settlement module's
///         fallback), in the market's storage and behind its re-entrancy guard.
/// @dev Why it is sound: the credit leaves are hashed here, in bundle order, from the posted words, so every bundle
///      has exactly one leaf and the totals are exact sums (paid <= escrow and redistributed <= slashed are checked
///      before anything is stored); the only thing a proposal can get wrong is a leaf's value, and one wrong leaf is
///      enough to void it. Reveals carried by the proposal are checked against their commitments as `settle` checks
///      them, and an early proposal must reveal every position, so nothing a challenge reads can change after it.
///      Every state-changing function is `nonReentrant` with the market's guard: a delegatecall shares the market's
///      transient storage, so this is the slot the market's own functions hold.
contract LabelMarketV2Optimistic is LabelMarketV2Tally, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    /// @notice Share of a batch's escrow a proposer bonds, in basis points.
    uint256 public constant PROPOSAL_BOND_BPS = 1_000;

    /// @param stakeToken The market's stake token.
    /// @param treasury The market's treasury.
    constructor(IERC20 stakeToken, address treasury) LabelMarketV2Tally(stakeToken, treasury) {}

    /// @dev What a proposal's credit words add up to.
    struct Totals {
        uint256 earned;
        uint256 slashed;
        uint256 redistributed;
    }

    /// @notice See `ILabelMarketV2Optimistic.propose`.
    function propose(uint256 batchId, BundleProof[] calldata reveals, uint256[] calldata credits)
        external
        onlyDelegated
        nonReentrant
    {
        Batch storage b = _batch(batchId);
        BatchConfig storage c = b.config;
        _checkOpen(batchId, b, reveals);
        (bytes32 root, Totals memory t) =
            _creditRoot(batchId, credits, b.state.bundles, c.stakePerTask, c.rewardPerLabel);
        uint256 escrow = b.state.escrow;
        if (t.earned > escrow || t.redistributed > t.slashed) {
            revert ProposalInsolvent(t.earned, escrow, t.redistributed, t.slashed);
        }
        uint256 bond = escrow * PROPOSAL_BOND_BPS / 10_000;
        _record(batchId, c, root, t, bond, credits);

        if (bond != 0) {
            IERC20 token = IERC20(c.rewardToken);
            uint256 before = token.balanceOf(address(this));
            token.safeTransferFrom(msg.sender, address(this), bond);
            uint256 received = token.balanceOf(address(this)) - before;
            if (received != bond) revert TokenShortfall(bond, received);
        }
    }

    /// @dev Stores a live proposal; its challenge window is the batch's review period from the later of now and the
    ///      reveal deadline.
    function _record(
        uint256 batchId,
        BatchConfig storage c,
        bytes32 root,
        Totals memory t,
        uint256 bond,
        uint256[] calldata credits
    ) internal {
        uint256 revealDeadline = c.revealDeadline;
        uint256 challengeEnd = (block.timestamp > revealDeadline ? block.timestamp : revealDeadline)
            + (uint256(c.reviewDeadline) - revealDeadline);
        // earned <= escrow < 2^128 (checked at creation); slashed <= bundles * 32 * stakePerTask < 2^128.
        _proposals[batchId] = Proposal(
            msg.sender,
            uint40(challengeEnd),
            ProposalStatus.Live,
            root,
            uint128(bond),
            uint128(t.earned),
            uint128(t.slashed),
            uint128(t.redistributed)
        );
        emit Proposed(batchId, msg.sender, root, challengeEnd, bond, t.earned, t.slashed, t.redistributed, credits);
    }

    /// @dev A batch can take a proposal: none live or final, no reviewer, no contract qualifier, nothing settled,
    ///      and settlement open (everything committed, revealed — `reveals` carried here — and gold revealed, or
    ///      after the reveal deadline).
    function _checkOpen(uint256 batchId, Batch storage b, BundleProof[] calldata reveals) internal {
        BatchConfig storage c = b.config;
        if (_proposals[batchId].status != ProposalStatus.None) revert ProposalPending(batchId);
        if (c.reviewer != address(0) || c.qualifier.code.length != 0 || b.state.tasksSettled != 0) {
            revert OptimisticUnavailable(batchId);
        }
        Ctx memory x = _ctx(batchId, b, block.timestamp <= c.revealDeadline);
        uint256 positions = x.numTasks * x.replicas;
        if (x.early && (b.state.committed != positions || !x.goldOn)) {
            revert SettlementNotOpen(0, uint256(c.revealDeadline) + 1);
        }
        uint256 revealed = _carry(x, reveals);
        if (x.early && revealed != positions) revert RevealsIncomplete(revealed, positions);
    }

    /// @dev Verifies (and, while early, carries) each revealed bundle; returns the positions they hold.
    function _carry(Ctx memory x, BundleProof[] calldata reveals) internal returns (uint256 revealed) {
        for (uint256 i; i < reveals.length; ++i) {
            BundleProof calldata r = reveals[i];
            if (i != 0 && r.id <= reveals[i - 1].id) revert RevealsNotSorted();
            if (r.labels.length == 0) revert BundleMismatch(r.id, Status.Revealed);
            _verify(x, r);
            revealed += r.bundle.size;
        }
    }

    /// @dev The root over one credit leaf per bundle id (in order: pairs hashed with OpenZeppelin's commutative
    ///      keccak256, an odd node promoted, as `concord_protocol::merkle`), and the totals of the credits.
    function _creditRoot(
        uint256 batchId,
        uint256[] calldata credits,
        uint256 bundles,
        uint256 stakePerTask,
        uint256 reward
    ) internal pure returns (bytes32 root, Totals memory t) {
        if (credits.length != 2 * bundles) revert WrongCreditCount(credits.length, 2 * bundles);
        bytes32[] memory nodes = new bytes32[](bundles);
        for (uint256 i; i < bundles; ++i) {
            uint256 credit = credits[2 * i];
            uint256 amounts = credits[2 * i + 1];
            uint256 tasks = credit & 0xFFFF;
            uint256 slashed = amounts >> 128;
            if (tasks > MAX_BUNDLE || slashed > tasks * stakePerTask) revert InvalidCredit(i);
            t.earned += (((credit >> 16) & 0xFFFF) + ((credit >> 48) & 0xFFFF)) * reward;
            t.slashed += slashed;
            t.redistributed += amounts & type(uint128).max;
            nodes[i] = Leaves.creditLeaf(batchId, i, credit, amounts);
        }
        for (uint256 n = bundles; n > 1; n = (n + 1) >> 1) {
            for (uint256 i; i < n >> 1; ++i) {
                nodes[i] = Hashes.commutativeKeccak256(nodes[2 * i], nodes[2 * i + 1]);
            }
            if (n & 1 != 0) nodes[n >> 1] = nodes[n - 1];
        }
        if (bundles != 0) root = nodes[0];
    }

    /// @notice See `ILabelMarketV2Optimistic.challenge`.
    function challenge(
        uint256 batchId,
        uint256 bundleId,
        uint256 credit,
        uint256 amounts,
        bytes32[] calldata proof,
        uint256[] calldata tasks,
        BundleProof[] calldata bundles
    ) external onlyDelegated nonReentrant {
        _checkChallenged(batchId, bundleId, credit, amounts, proof);
        Batch storage b = _batch(batchId);
        (uint256 wantCredit, uint256 wantAmounts) = _recompute(batchId, b, bundleId, tasks, bundles);
        if (credit == wantCredit && amounts == wantAmounts) revert ChallengeFailed(bundleId);

        uint256 bond = _proposals[batchId].bond;
        delete _proposals[batchId];
        claimable[msg.sender][b.config.rewardToken] += bond;
        emit ProposalVoided(batchId, msg.sender, bundleId, bond);
    }

    /// @dev A challenge comes while the batch's proposal is live, with a leaf of it.
    function _checkChallenged(
        uint256 batchId,
        uint256 bundleId,
        uint256 credit,
        uint256 amounts,
        bytes32[] calldata proof
    ) internal view {
        Proposal storage p = _proposals[batchId];
        if (p.status != ProposalStatus.Live) revert NoLiveProposal(batchId);
        if (block.timestamp > p.challengeEnd) revert ChallengeWindowOver(p.challengeEnd);
        if (!MerkleProof.verifyCalldata(proof, p.root, Leaves.creditLeaf(batchId, bundleId, credit, amounts))) {
            revert InvalidCreditProof(bundleId);
        }
    }

    /// @dev The credit words bundle `bundleId` is due: zero unless committed; else its tally over `tasks`, which must
    ///      count every position it holds.
    function _recompute(
        uint256 batchId,
        Batch storage b,
        uint256 bundleId,
        uint256[] calldata tasks,
        BundleProof[] calldata bundles
    ) internal returns (uint256 credit, uint256 amounts) {
        if (_bundles[batchId][bundleId] & STATUS_MASK < uint256(Status.Committed)) {
            return (0, 0);
        }
        uint256[] memory tallies = _tallies(batchId, b, tasks, bundles);
        for (uint256 bi; bi < bundles.length; ++bi) {
            if (bundles[bi].id != bundleId) continue;
            uint256 counts = tallies[3 * bi];
            uint256 size = bundles[bi].bundle.size;
            if (counts & 0xFFFFFFFF != size) revert ChallengeIncomplete(bundleId, counts & 0xFFFFFFFF, size);
            credit = (uint256(uint160(bundles[bi].bundle.annotator)) << 96) | _compact(counts);
            amounts = (tallies[3 * bi + 1] << 128) | tallies[3 * bi + 2];
            return (credit, amounts);
        }
        revert ChallengeIncomplete(bundleId, 0, 0);
    }

    /// @dev Each supplied bundle's tally over `tasks`, as `settle` computes it (three words per bundle).
    function _tallies(uint256 batchId, Batch storage b, uint256[] calldata tasks, BundleProof[] calldata bundles)
        internal
        returns (uint256[] memory)
    {
        Ctx memory x = _ctx(batchId, b, block.timestamp <= b.config.revealDeadline);
        Run memory run = _prepare(x, b, tasks, bundles);
        for (uint256 k; k < tasks.length; ++k) {
            _tallyOne(x, run, k, tasks[k]);
        }
        return run.tallies;
    }

    /// @dev A tally's counts (32-bit fields) as a credit word's 16-bit fields.
    function _compact(uint256 counts) internal pure returns (uint256 c) {
        for (uint256 f; f < 6; ++f) {
            c |= ((counts >> (32 * f)) & 0xFFFF) << (16 * f);
        }
    }

    /// @dev A credit word's 16-bit fields as a tally's counts (32-bit fields).
    function _expand(uint256 credit) internal pure returns (uint256 counts) {
        for (uint256 f; f < 6; ++f) {
            counts |= ((credit >> (16 * f)) & 0xFFFF) << (32 * f);
        }
    }

    /// @notice See `ILabelMarketV2Optimistic.tally`.
    function tally(uint256 batchId, uint256[] calldata tasks, BundleProof[] calldata bundles)
        external
        onlyDelegated
        nonReentrant
        returns (uint256[] memory credits)
    {
        uint256[] memory tallies = _tallies(batchId, _batch(batchId), tasks, bundles);
        credits = new uint256[](2 * bundles.length);
        for (uint256 bi; bi < bundles.length; ++bi) {
            credits[2 * bi] = _compact(tallies[3 * bi]);
            credits[2 * bi + 1] = (tallies[3 * bi + 1] << 128) | tallies[3 * bi + 2];
        }
    }

    /// @notice See `ILabelMarketV2Optimistic.finalize`.
    function finalize(uint256 batchId) external onlyDelegated nonReentrant {
        Batch storage b = _batch(batchId);
        Proposal storage p = _proposals[batchId];
        if (p.status != ProposalStatus.Live) revert NoLiveProposal(batchId);
        if (block.timestamp <= p.challengeEnd) revert ChallengeWindowOpen(p.challengeEnd);
        p.status = ProposalStatus.Final;
        uint256 earned = p.earned;
        uint256 toTreasury = uint256(p.slashed) - p.redistributed;
        b.state.paid += uint128(earned);
        b.state.tasksSettled = b.config.numTasks;
        if (toTreasury != 0) claimable[TREASURY][address(STAKE_TOKEN)] += toTreasury;
        claimable[p.proposer][b.config.rewardToken] += p.bond;
        emit ProposalFinalized(batchId, earned, toTreasury);
    }

    /// @notice See `ILabelMarketV2Optimistic.claim`.
    function claim(uint256 batchId, CreditClaim[] calldata claims)
        external
        onlyDelegated
        nonReentrant
        returns (uint256 rewards)
    {
        BatchConfig storage c = _batch(batchId).config;
        if (_proposals[batchId].status != ProposalStatus.Final) revert ProposalNotFinal(batchId);
        bytes32 root = _proposals[batchId].root;
        Pay memory pay = Pay(c.rewardPerLabel, c.stakePerTask, c.rewardToken, _domain(c));
        // slither-disable-next-line uninitialized-local (an empty accumulator: no annotator yet)
        Due memory due;
        for (uint256 i; i < claims.length; ++i) {
            CreditClaim calldata cl = claims[i];
            uint256 counts = _checkClaim(batchId, root, cl);
            address annotator = cl.bundle.annotator;
            if (annotator != due.annotator) {
                rewards += _creditOne(pay, due);
                due.annotator = annotator;
                (due.counts, due.slashed, due.redistributed) = (0, 0, 0);
            }
            uint256 slashed = cl.amounts >> 128;
            uint256 redistributed = cl.amounts & type(uint128).max;
            due.counts += counts;
            due.slashed += slashed;
            due.redistributed += redistributed;
            uint256 earned = (((counts >> 32) & 0xFFFFFFFF) + ((counts >> 96) & 0xFFFFFFFF)) * pay.reward;
            _emitScored(batchId, cl.id, annotator, counts, earned, slashed, redistributed);
        }
        rewards += _creditOne(pay, due);
    }

    /// @dev A claim's bundle is the stored one, committed or revealed (so not claimed yet), with the credit the
    ///      proposal holds for it, for its annotator and every position it holds; the bundle's word is cleared (so
    ///      it is claimed once). Returns the credit's counts as a tally's.
    function _checkClaim(uint256 batchId, bytes32 root, CreditClaim calldata cl) internal returns (uint256 counts) {
        uint256 stored = _bundles[batchId][cl.id];
        bytes32 h = keccak256(abi.encode(cl.bundle, cl.tail));
        if (stored != _word(h, Status.Revealed) && stored != _word(h, Status.Committed)) revert NothingToClaim(cl.id);
        if (!MerkleProof.verifyCalldata(cl.proof, root, Leaves.creditLeaf(batchId, cl.id, cl.credit, cl.amounts))) {
            revert InvalidCreditProof(cl.id);
        }
        // The leaf's annotator and task count are the bundle's: a credit unlocks exactly what its bundle locked.
        if (cl.credit >> 96 != uint160(cl.bundle.annotator) || cl.credit & 0xFFFF != cl.bundle.size) {
            revert InvalidCredit(cl.id);
        }
        delete _bundles[batchId][cl.id];
        counts = _expand(cl.credit);
    }

    /// @notice See `ILabelMarketV2Optimistic.proposalOf`.
    function proposalOf(uint256 batchId) external view returns (Proposal memory) {
        return _proposals[batchId];
    }
}
