// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {Hashes} from "@openzeppelin/contracts/utils/cryptography/Hashes.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {TransientSlot} from "@openzeppelin/contracts/utils/TransientSlot.sol";
import {SlotDerivation} from "@openzeppelin/contracts/utils/SlotDerivation.sol";

import {LabelMarketV2Tally} from "./LabelMarketV2Tally.sol";
import {Leaves} from "./libraries/Leaves.sol";

/// @title LabelMarketV2Optimistic
/// @notice Optimistic settlement of `LabelMarketV2` batches (`ILabelMarketV2Optimistic`): a bonded proposal of every
///         bundle's credit, per-bundle challenges that recompute a credit with the settlement code, and claims with
///         a Merkle proof once final. Runs only through the market (`delegatecall` from the settlement module's
///         fallback), in the market's storage and behind its re-entrancy guard.
/// @dev Why it is sound: the credit leaves are hashed here, in bundle order, from the posted words, so every bundle
///      has exactly one leaf and the totals are exact sums (paid <= escrow and redistributed <= slashed are checked
///      before anything is stored). The proposal supplies every committed bundle (checked against its stored word),
///      so each committed bundle's credit is bound to its annotator and task count — a claim unlocks exactly the
///      stake its bundle locked — and every other credit is zero. What is left to get wrong is a credit's counts and
///      amounts, and one wrong credit is enough to void the proposal. Reveals carried by the proposal are checked
///      against their commitments as `settle` checks them, and an early proposal must reveal every position, so
///      nothing a challenge reads can change after it.
///      Every state-changing function is `nonReentrant` with the market's guard: a delegatecall shares the market's
///      transient storage, so this is the slot the market's own functions hold.
contract LabelMarketV2Optimistic is LabelMarketV2Tally, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;
    using TransientSlot for *;
    using SlotDerivation for bytes32;

    /// @dev Transient (ERC-7201 `concord.optimistic.payouts`): what the current call owes each (payee, token), the
    ///      number of such pairs at the root and the pairs in the derived array; `_flush` pays them at the end of the
    ///      call, so an annotator whose bundles are not consecutive still gets one transfer per token.
    bytes32 private constant PAYOUTS = 0xf52e7e798c4886fe77f31444f16e0d996cfea6fc2776fa8b7456a521d6b37b00;

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
    function propose(uint256 batchId, BundleProof[] calldata bundles, uint256[] calldata credits)
        external
        onlyDelegated
        nonReentrant
    {
        Batch storage b = _batch(batchId);
        BatchConfig storage c = b.config;
        _checkOpen(batchId, b, bundles);
        (bytes32 root, Totals memory t) = _creditRoot(batchId, credits, b.state.bundles, bundles, c);
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
    ///      settlement open (everything committed and gold revealed, or after the reveal deadline), and `bundles`
    ///      are every committed bundle — revealed ones with their labels (a reveal handed to the proposer is carried
    ///      here while early), the others with their commit hash — and, while early, all of them revealed.
    function _checkOpen(uint256 batchId, Batch storage b, BundleProof[] calldata bundles) internal {
        BatchConfig storage c = b.config;
        if (_proposals[batchId].status != ProposalStatus.None) revert ProposalPending(batchId);
        if (c.reviewer != address(0) || c.qualifier.code.length != 0 || b.state.tasksSettled != 0) {
            revert OptimisticUnavailable(batchId);
        }
        Ctx memory x = _ctx(batchId, b, block.timestamp <= c.revealDeadline);
        uint256 committed = b.state.committed;
        if (x.early && (committed != x.numTasks * x.replicas || !x.goldOn)) {
            revert SettlementNotOpen(0, uint256(c.revealDeadline) + 1);
        }
        // slither-disable-next-line uninitialized-local (a zeroed accumulator is intended)
        uint256 held;
        // slither-disable-next-line uninitialized-local (a zeroed accumulator is intended)
        uint256 revealed;
        for (uint256 i; i < bundles.length; ++i) {
            BundleProof calldata p = bundles[i];
            if (i != 0 && p.id <= bundles[i - 1].id) revert BundlesNotSorted();
            _verify(x, p);
            held += p.bundle.size;
            if (p.labels.length != 0) revealed += p.bundle.size;
        }
        // Ids strictly increase and each bundle is the stored one, so covering every committed position means every
        // committed bundle is here.
        if (held != committed || (x.early && revealed != committed)) {
            revert BundlesIncomplete(x.early ? revealed : held, committed);
        }
    }

    /// @dev The root over one credit leaf per bundle id (in order: pairs hashed with OpenZeppelin's commutative
    ///      keccak256, an odd node promoted, as `concord_protocol::merkle`), and the totals of the credits. A committed
    ///      bundle's credit names its annotator and every task it holds, and slashes at most what it locked; every
    ///      other bundle's credit is zero.
    function _creditRoot(
        uint256 batchId,
        uint256[] calldata credits,
        uint256 count,
        BundleProof[] calldata bundles,
        BatchConfig storage c
    ) internal view returns (bytes32 root, Totals memory t) {
        if (credits.length != 2 * count) {
            revert WrongCreditCount(credits.length, 2 * count);
        }
        Pay memory pay = Pay(c.rewardPerLabel, c.stakePerTask, address(0), address(0));
        bytes32[] memory nodes = new bytes32[](count);
        // slither-disable-next-line uninitialized-local (the first supplied bundle is the next)
        uint256 next; // the next supplied bundle
        for (uint256 i; i < count; ++i) {
            uint256 expected;
            (expected, next) = _expected(bundles, next, i);
            nodes[i] = _checkedLeaf(batchId, i, credits, expected, pay);
            _add(t, credits[2 * i], credits[2 * i + 1], pay.reward);
        }
        root = _root(nodes);
    }

    /// @dev annotator << 96 | tasks of bundle `i` if it is the next supplied (committed) bundle, else zero.
    function _expected(BundleProof[] calldata bundles, uint256 next, uint256 i)
        internal
        pure
        returns (uint256 expected, uint256)
    {
        if (next < bundles.length && bundles[next].id == i) {
            Bundle calldata bd = bundles[next].bundle;
            return ((uint256(uint160(bd.annotator)) << 96) | bd.size, next + 1);
        }
        return (0, next);
    }

    /// @dev The leaf of bundle `i`'s credit, which must name `expected` (annotator << 96 | tasks; zero for a bundle
    ///      never committed, whose whole credit must then be zero) and slash at most its tasks' stake.
    function _checkedLeaf(uint256 batchId, uint256 i, uint256[] calldata credits, uint256 expected, Pay memory pay)
        internal
        pure
        returns (bytes32)
    {
        uint256 credit = credits[2 * i];
        uint256 amounts = credits[2 * i + 1];
        // Bits 16-95 are the counts; the rest must be the expected annotator and task count.
        if (
            credit & ~uint256(0xFFFFFFFFFFFFFFFFFFFF0000) != expected
                || (amounts >> 128) > (credit & 0xFFFF) * pay.stakePerTask || (expected == 0 && credit | amounts != 0)
        ) revert InvalidCredit(i);
        return Leaves.creditLeaf(batchId, i, credit, amounts);
    }

    /// @dev Adds a credit's rewards, slash and coherence shares to the totals.
    function _add(Totals memory t, uint256 credit, uint256 amounts, uint256 reward) internal pure {
        t.earned += (((credit >> 16) & 0xFFFF) + ((credit >> 48) & 0xFFFF)) * reward;
        t.slashed += amounts >> 128;
        t.redistributed += amounts & type(uint128).max;
    }

    /// @dev Root of `nodes` (overwritten): pairs in order, an odd node promoted; zero for none.
    function _root(bytes32[] memory nodes) internal pure returns (bytes32) {
        uint256 n = nodes.length;
        if (n == 0) return 0;
        for (; n > 1; n = (n + 1) >> 1) {
            for (uint256 i; i < n >> 1; ++i) {
                nodes[i] = Hashes.commutativeKeccak256(nodes[2 * i], nodes[2 * i + 1]);
            }
            if (n & 1 != 0) nodes[n >> 1] = nodes[n - 1];
        }
        return nodes[0];
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
        // slither-disable-next-line incorrect-equality (credit words compared exactly; no balance or time)
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
        _payOut(p.proposer, b.config.rewardToken, p.bond);
        emit ProposalFinalized(batchId, earned, toTreasury);
        _flush();
    }

    /// @notice See `ILabelMarketV2Optimistic.claim`.
    function claim(uint256 batchId, CreditClaim[] calldata claims)
        external
        onlyDelegated
        nonReentrant
        returns (uint256 rewards)
    {
        (Pay memory pay, bytes32 root) = _final(batchId);
        // slither-disable-next-line uninitialized-local (an empty accumulator: no annotator yet)
        Due memory due;
        for (uint256 i; i < claims.length; ++i) {
            CreditClaim calldata cl = claims[i];
            if (!MerkleProof.verifyCalldata(cl.proof, root, Leaves.creditLeaf(batchId, cl.id, cl.credit, cl.amounts))) {
                revert InvalidCreditProof(cl.id);
            }
            if (!_take(batchId, cl.id)) revert NothingToClaim(cl.id);
            rewards += _due(pay, due, cl.credit, cl.amounts);
        }
        rewards += _creditOne(pay, due);
        emit CreditsClaimed(batchId, msg.sender, claims.length, rewards);
        _flush();
    }

    /// @notice See `ILabelMarketV2Optimistic.claimAll`.
    function claimAll(uint256 batchId, uint256[] calldata credits)
        external
        onlyDelegated
        nonReentrant
        returns (uint256 rewards)
    {
        (Pay memory pay, bytes32 root) = _final(batchId);
        uint256 count = credits.length / 2;
        bytes32[] memory nodes = new bytes32[](count);
        for (uint256 i; i < count; ++i) {
            nodes[i] = Leaves.creditLeaf(batchId, i, credits[2 * i], credits[2 * i + 1]);
        }
        if (credits.length % 2 != 0 || _root(nodes) != root) revert InvalidCreditProof(count);
        // slither-disable-next-line uninitialized-local (an empty accumulator: no annotator yet)
        Due memory due;
        // slither-disable-next-line uninitialized-local (a zeroed counter)
        uint256 claimed;
        for (uint256 i; i < count; ++i) {
            if (_take(batchId, i)) {
                rewards += _due(pay, due, credits[2 * i], credits[2 * i + 1]);
                ++claimed;
            }
        }
        rewards += _creditOne(pay, due);
        emit CreditsClaimed(batchId, msg.sender, claimed, rewards);
        _flush();
    }

    /// @dev What claims read: the batch's payout terms and its final proposal's root.
    function _final(uint256 batchId) internal view returns (Pay memory pay, bytes32 root) {
        BatchConfig storage c = _batch(batchId).config;
        Proposal storage p = _proposals[batchId];
        if (p.status != ProposalStatus.Final) revert ProposalNotFinal(batchId);
        pay = Pay(c.rewardPerLabel, c.stakePerTask, c.rewardToken, _domain(c));
        root = p.root;
    }

    /// @dev Marks a committed (or revealed) bundle claimed by clearing its word; false if there is nothing to claim
    ///      (never committed, expired, or claimed already). The proposal vouched for every committed bundle's
    ///      annotator and task count, and gave every other bundle a zero credit.
    function _take(uint256 batchId, uint256 bundleId) internal returns (bool) {
        if (_bundles[batchId][bundleId] & STATUS_MASK < uint256(Status.Committed)) return false;
        delete _bundles[batchId][bundleId];
        return true;
    }

    /// @dev Adds a bundle's credit to `due` (crediting the previous annotator's when the annotator changes); returns
    ///      the rewards credited for the previous annotator. No event per bundle: its credit is in `Proposed`.
    function _due(Pay memory pay, Due memory due, uint256 credit, uint256 amounts) internal returns (uint256 rewards) {
        address annotator = address(uint160(credit >> 96));
        if (annotator != due.annotator) {
            rewards = _creditOne(pay, due);
            due.annotator = annotator;
            (due.counts, due.slashed, due.redistributed) = (0, 0, 0);
        }
        due.counts += _expand(credit);
        due.slashed += amounts >> 128;
        due.redistributed += amounts & type(uint128).max;
    }

    /// @dev Claims pay annotators directly, so no `collect` transaction follows: the amount is added to what the call
    ///      owes `to` in `token` (transient), paid by `_flush` once every state write of the call is done.
    function _payOut(address to, address token, uint256 amount) internal override {
        if (amount == 0) return;
        TransientSlot.Uint256Slot owed = PAYOUTS.deriveMapping(to).deriveMapping(token).asUint256();
        uint256 before = owed.tload();
        if (before == 0) {
            TransientSlot.Uint256Slot count = PAYOUTS.asUint256();
            uint256 n = count.tload();
            bytes32 pairs = PAYOUTS.deriveArray();
            pairs.offset(2 * n).asAddress().tstore(to);
            pairs.offset(2 * n + 1).asAddress().tstore(token);
            count.tstore(n + 1);
        }
        owed.tstore(before + amount);
    }

    /// @dev Pays what the call owes, one transfer per (payee, token), and clears it (`Collected` says what was paid).
    ///      A transfer the token refuses (a recipient it blocks, a `false` return) is credited to the claimable
    ///      balance instead, so one recipient can never block a claim of other annotators' bundles.
    function _flush() internal {
        TransientSlot.Uint256Slot count = PAYOUTS.asUint256();
        uint256 n = count.tload();
        bytes32 pairs = PAYOUTS.deriveArray();
        for (uint256 i; i < n; ++i) {
            address to = pairs.offset(2 * i).asAddress().tload();
            address token = pairs.offset(2 * i + 1).asAddress().tload();
            TransientSlot.Uint256Slot owed = PAYOUTS.deriveMapping(to).deriveMapping(token).asUint256();
            uint256 amount = owed.tload();
            owed.tstore(0);
            // slither-disable-next-line calls-loop,reentrancy-no-eth,reentrancy-benign,reentrancy-events (every entry point is nonReentrant, sharing the market's guard; the call's state is written before)
            if (IERC20(token).trySafeTransfer(to, amount)) {
                emit Collected(to, token, amount);
            } else {
                claimable[to][token] += amount;
            }
        }
        count.tstore(0);
    }

    /// @notice See `ILabelMarketV2.refund` (here for room in the settlement module, whose fallback routes it on).
    /// @dev Not `nonReentrant` itself: reached only through the market's `refund`, which holds the guard.
    function refund(uint256 batchId) external onlyDelegated {
        Batch storage b = _batch(batchId);
        if (block.timestamp <= b.config.reviewDeadline || b.state.tasksSettled != b.config.numTasks) {
            revert RefundNotOpen(uint256(b.config.reviewDeadline) + 1, b.state.tasksSettled, b.config.numTasks);
        }
        if (b.state.refunded) revert AlreadyRefunded(batchId);
        b.state.refunded = true;
        // With a reviewer, items it left undecided keep their escrow away from the requester (inaction must not
        // pay); a gold bond comes back only if every gold answer was revealed.
        uint256 withheld = b.config.reviewer == address(0)
            ? 0
            : uint256(b.state.undecided) * b.config.replicas * b.config.rewardPerLabel;
        uint256 bond = b.state.goldBond;
        bool goldKept = b.state.goldRevealed >= b.config.goldCount;
        uint256 toTreasury = withheld + (goldKept ? 0 : bond);
        uint256 amount = b.state.escrow - b.state.paid - withheld + (goldKept ? bond : 0);
        address requester = b.config.requester;
        address token = b.config.rewardToken;
        if (toTreasury != 0) claimable[TREASURY][token] += toTreasury;
        emit Refunded(batchId, requester, amount, toTreasury);
        if (amount != 0) IERC20(token).safeTransfer(requester, amount);
    }

    /// @notice See `ILabelMarketV2Optimistic.proposalOf`.
    function proposalOf(uint256 batchId) external view returns (Proposal memory) {
        return _proposals[batchId];
    }
}
