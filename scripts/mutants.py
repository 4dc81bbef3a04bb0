#!/usr/bin/env python3
"""Mutation check of the core contract and its libraries (`make mutants`).

Each mutant changes one line of the market (contracts/LabelMarketV2*.sol, its settlement, optimistic and relay modules) or of its libraries
(contracts/libraries/{BitTally,Permutation,BundlePacking,LabelPacking}.sol) (a flipped
comparison in a threshold or deadline, a removed `if ... revert`, an off-by-one on a phase boundary, a dropped
slash, transfer or reputation update, a swapped argument), then runs the forge suite on it. A mutant is
*killed* when the suite fails. Prints `killed K/N`, lists survivors with the reason they are equivalent, and
writes target/mutants.json. Exit status 1 if K/N < 95%.

The suite runs on a copy of the repo (the working tree is never touched) and compiles without via-IR, which
is 5-10x faster here; the code-size limit is lifted for that (via-IR is only needed to fit EIP-170).
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
P = "contracts/libraries/LabelPacking.sol"

MUTANTS = []

# Protocol v2: the core contract, its settlement module and storage base, and the libraries they use.
V = "contracts/LabelMarketV2.sol"
S = "contracts/LabelMarketV2Settlement.sol"
ST = "contracts/LabelMarketV2Storage.sol"
TL = "contracts/LabelMarketV2Tally.sol"
O = "contracts/LabelMarketV2Optimistic.sol"
RL = "contracts/LabelMarketV2Relay.sol"
BT = "contracts/libraries/BitTally.sol"
PM = "contracts/libraries/Permutation.sol"
BP = "contracts/libraries/BundlePacking.sol"

MUTANTS += [
    (V, "if (received != total) revert TokenShortfall(total, received);", "", "v2 create: removed fee-on-transfer check"),
    (V, "if (p.squatPenalty == 0 || p.squatPenalty > p.stakePerTask) revert InvalidParams(\"squatPenalty\");", "",
        "v2 create: squat penalty unchecked"),
    (V, "if (uint256(p.periods.roundPeriod) + p.periods.commitWindow > p.periods.commitPeriod) {\n            revert InvalidParams(\"commitPeriod\");\n        }", "",
        "v2 create: a round may outlive the commit phase"),
    (V, "if ((p.goldCount == 0) != (p.goldBond == 0)) revert InvalidParams(\"goldBond\");", "", "v2 create: gold without a bond"),
    (V, "if (amount > unlocked) revert StakeLocked(unlocked, amount);", "", "v2 unstake: locked stake can leave"),
    (V, "if (block.timestamp < unlockAt) revert CooldownActive(unlockAt);", "", "v2 withdraw: removed cooldown"),
    (ST, "if (member >> 8 == round) revert AlreadyJoined(batchId, round);", "", "v2 join: twice in one round"),
    (ST, "lane = lane == 0 ? _pickLane(batchId, round, (shape >> 32) & 0xFF, shape & 0xFFFFFFFF) : lane - 1;",
        "lane = _pickLane(batchId, round, (shape >> 32) & 0xFF, shape & 0xFFFFFFFF);",
        "v2 join: a member may change lane"),
    (ST, "size = maxTasks < lr.pool - lr.taken ? maxTasks : lr.pool - lr.taken;", "size = maxTasks;", "v2 join: more tasks than the lane has"),
    (ST, "if (unlocked < need) revert InsufficientStake(unlocked, need);", "", "v2 join: removed stake check"),
    (ST, "if (score < minReputation) revert InsufficientReputation(score, minReputation);", "", "v2 join: removed reputation gate"),
    (ST, "if (qualifier != address(0) && !qualified[batchId][annotator]) revert NotQualified(batchId, annotator);", "",
        "v2 join: removed qualification gate"),
    (V, "if (msg.sender != qualifier) {", "if (false) {", "v2 qualify: anyone records a qualification"),
    (ST, "acct.locked += uint96(need); // need <= unlocked < 2^96", "", "v2 join: stake not locked"),
    (ST, "        if (left == 0) {\n            r.sealBlock = uint64(block.number);", "        if (false) {\n            r.sealBlock = uint64(block.number);",
        "v2 join: a full round is not sealed"),
    (ST, "if (block.timestamp <= r.commitEnd) revert RoundClosed(round, uint256(r.commitEnd) + 1);", "",
        "v2 join: next round opens while commits run"),
    (ST, "if (commitEnd > c.commitDeadline) revert CommitPhaseOver(c.commitDeadline);", "", "v2 join: round outlives the commit phase"),
    (ST, "pool = prev.pool - prev.committed;", "pool = prev.pool;", "v2 rounds: committed positions offered again"),
    (V, "if (block.timestamp <= r.joinEnd) revert RoundStillOpen(round, r.joinEnd);", "", "v2 seal: before the join window ends"),
    (S, "if (block.number <= sealBlock + 1) revert SeedNotReady(round, sealBlock + 2);\n        bytes32 h = blockhash(sealBlock + 1);",
        "bytes32 h = blockhash(sealBlock);", "v2 drawSeed: seed from the seal block itself"),
    (ST, "if (bundle.annotator != annotator) revert NotYourBundle(bundleId, annotator);\n        _expect(", "_expect(",
        "v2 commit: anyone commits a bundle"),
    (ST, "if (block.timestamp > r.commitEnd) revert CommitWindowClosed(round, r.commitEnd);\n        _seedFor(", "_seedFor(",
        "v2 commit: after the round's window"),
    (ST, "b.state.committed += held.size;", "", "v2 commit: batch count not kept"),
    (V, "if (block.timestamp <= c.commitDeadline && b.state.committed != (shape & 0xFFFFFFFF) * ((shape >> 32) & 0xFF)) {",
        "if (block.timestamp < c.commitDeadline && b.state.committed != (shape & 0xFFFFFFFF) * ((shape >> 32) & 0xFF)) {",
        "v2 reveal: off-by-one at the commit deadline"),
    (V, "if (block.timestamp <= c.commitDeadline && b.state.committed != (shape & 0xFFFFFFFF) * ((shape >> 32) & 0xFF)) {",
        "if (false) {", "v2 reveal: labels public while others can still commit"),
    (V, "if (stored != _word(keccak256(abi.encode(bundle, commitHash)), Status.Committed)) revert CommitMismatch();", "",
        "v2 reveal: commitment not checked"),
    (ST, "if (l >= numClasses) revert LabelOutOfRange(i, item, l);", "", "v2 reveal: out-of-range label accepted"),
    # commitAndJoin: reservations, opening, shrinking, releasing
    (ST, "if (earliest > c.commitDeadline) revert CommitPhaseOver(c.commitDeadline);", "",
        "v2 reserve: a round that cannot fit before the deadline"),
    (ST, "if (first >= bound) revert NoTaskAvailable(batchId);", "", "v2 reserve: past what the lane can leave"),
    (ST, "size = maxTasks < bound - first ? maxTasks : bound - first;", "size = maxTasks;",
        "v2 reserve: more tickets than the lane can leave"),
    (ST, "next.taken = uint32(first + size);", "", "v2 reserve: reservations overlap"),
    (ST, "free += pool > taken ? pool - taken : 0;", "free += pool;", "v2 rounds: reserved tickets offered again"),
    (ST, "        if (free == 0) {\n            _rounds[batchId][next].sealBlock", "        if (false) {\n            _rounds[batchId][next].sealBlock",
        "v2 rounds: a round its reservations fill is not sealed"),
    (ST, "if (lr.taken >= lr.pool) revert NoTaskAvailable(batchId);", "if (lr.taken == lr.pool) revert NoTaskAvailable(batchId);",
        "v2 join: a lane reserved past its pool"),
    (ST, "_accounts[held.annotator].locked -= uint96(unlocked);", "",
        "v2 commit: a shrunk bundle keeps the void tickets' stake locked"),
    (ST, "if (held.first >= pool) revert NoTaskAvailable(batchId);", "", "v2 commit: a void reservation commits"),
    (S, "if (block.timestamp <= c.commitDeadline) revert CommitWindowOpen(round, c.commitDeadline);", "",
        "v2 expire: a reservation released while its round may still open"),
    (S, "held = end <= pool ? bundle.size : (bundle.first < pool ? pool - bundle.first : 0);", "held = bundle.size;",
        "v2 expire: void tickets pay the squat penalty"),
    (S, "if (block.timestamp <= r.commitEnd) revert CommitWindowOpen(round, r.commitEnd);", "",
        "v2 expire: during the commit window"),
    (S, "a.amount -= uint96(forfeit); // forfeit <= lock <= locked <= amount", "", "v2 expire: squat not penalised"),
    (S, "if (x.early && (b.state.committed != x.numTasks * x.replicas || !x.goldOn)) {", "if (false) {",
        "v2 settle: early settlement while gold or commits may come"),
    (TL, "if (tasks[i] <= tasks[i - 1]) revert TasksNotSorted();", "", "v2 settle: unsorted task list"),
    (S, "if ((run.settledBits >> (taskId & 255)) & 1 != 0) revert AlreadySettled(x.batchId, taskId);", "",
        "v2 settle: a task settled twice"),
    (TL, "if (_holderCommitted(x, ln, lane, taskId)) revert MissingBundle(taskId, lane);", "",
        "v2 settle: a committed holder left out"),
    (TL, "if (cover[k] != 0) revert DuplicateBundle(p.id);", "", "v2 settle: the same bundle twice"),
    (TL, "if (stored == revealedWord) return;", "if (stored & STATUS_MASK == uint256(Status.Revealed)) return;",
        "v2 settle: forged labels accepted"),
    (TL, "run.tallies[ti + 1] += run.noReveal;", "", "v2 settle: no-reveal not slashed"),
    (TL, "let wrong := sub(add(consN, goldN), add(consA, goldA))", "let wrong := sub(consN, consA)",
        "v2 settle: gold disagreement not slashed"),
    (TL, "if (group != 0) shares += _countFlags(agree & group) * share;", "",
        "v2 settle: coherence shares dropped"),
    (TL, "uint256 pool = (voters - a) * penalty;", "uint256 pool = voters * penalty;", "v2 settle: dissenters share their own slash"),
    (TL, "a.locked -= uint96((counts & 0xFFFFFFFF) * pay.stakePerTask);", "", "v2 settle: stake stays locked"),
    (TL, "x.goldOn = b.state.goldRevealed >= c.goldCount;", "x.goldOn = true;", "v2 settle: partial gold used"),
    (S, "if (run.counted && v.revealed != 0) run.undecided", "if (false) run.undecided", "v2 settle: undecided items not counted"),
    (S, "if (!_inReview(x, v, item % x.taskSize)) revert ItemNotInReview(batchId, item);", "", "v2 resolve: decided items re-decided"),
    (S, "if (msg.sender != c.reviewer) revert NotReviewer(msg.sender);", "", "v2 resolve: anyone reviews"),
    (O, ": uint256(b.state.undecided) * b.config.replicas * b.config.rewardPerLabel;", ": 0;",
        "v2 refund: undecided escrow back to the requester"),
    (O, "uint256 amount = b.state.escrow - b.state.paid - withheld + (goldKept ? bond : 0);",
        "uint256 amount = b.state.escrow - b.state.paid - withheld + bond;", "v2 refund: bond returned although gold was withheld"),
    (S, "if (_isSettled(batchId, taskId)) revert AlreadySettled(batchId, taskId);\n            uint256 pos", "uint256 pos",
        "v2 revealGold: gold for a settled task"),
    (TL, "index = ticket - _committedBelow(x.batchId, p, lane, ticket);", "index = ticket;", "v2 holder proof: rank ignores commits"),
    (TL, "? _nthZero(word0, index)", "? index", "v2 settle map: a later round's pool index taken as a ticket"),
    (TL, "if lt(y, pool) { break }", "break", "v2 settle map: no cycle walking past the pool"),
    (TL, "if (positions & 1 != 0) {", "if (true) {", "v2 settle masks: positions a proof leaves out are read anyway"),
    (TL, "uint256 positions = uint256(p.positions) & ((1 << p.bundle.size) - 1);", "uint256 positions = uint256(p.positions);",
        "v2 settle masks: bits past the bundle's size read as positions"),
    (S, "(due.counts, due.slashed, due.redistributed) = (0, 0, 0);", "",
        "v2 settle masks: one annotator's dues carried to the next"),
    (S, "        }\n        paid += _creditOne(pay, due);\n    }", "        }\n    }",
        "v2 settle masks: the last annotator of a call not credited"),
    (TL, "if (!x.early) revert RevealPhaseOver(x.revealDeadline);", "", "v2 carried reveal: accepted after the reveal deadline"),
    (TL, "_checkLabels(p.labels, p.bundle.size, x.numClasses);", "", "v2 carried reveal: labels out of range accepted"),
    (TL, "_bundles[x.batchId][p.id] = revealedWord;", "", "v2 carried reveal: the bundle left committed"),
    (TL, "emit Revealed(x.batchId, p.id, p.bundle.annotator, p.labels);", "", "v2 carried reveal: no Revealed event"),
    (TL, "if (stored != _word(keccak256(abi.encode(p.bundle, commitHash)), Status.Committed)) revert CommitMismatch();", "",
        "v2 carried reveal: the commitment not checked"),
    (ST, "uint256 mask = (bits == 256 ? type(uint256).max : ((1 << bits) - 1)) << (t & 255);",
        "uint256 mask = (bits == 256 ? type(uint256).max : ((1 << bits) - 1)) << (t & 254);", "v2 tickets: wrong bits marked"),
    (BT, "uint256 needCount = (thresholdBps * voters + 9_999) / 10_000;", "uint256 needCount = (thresholdBps * voters) / 10_000;",
        "tally: threshold rounded down"),
    (BT, "if (other != c) win &= ~geFlags(votes[other], v); // strictly ahead of `other`", "",
        "tally: ties decided"),
    (BT, "if (voters < 2) return o;", "", "tally: a single vote decides"),
    # The forward pass's rounds 1-3 hash with round index 0 (the four rounds are unrolled in assembly).
    (PM, "mstore(a, 1)\n            mstore(b, left)\n            right := xor(right, and(keccak256(ptr, 0x60), mask))\n            mstore(a, 2)\n            mstore(b, right)\n            left := xor(left, and(keccak256(ptr, 0x60), mask))\n            mstore(a, 3)",
        "mstore(a, 0)\n            mstore(b, left)\n            right := xor(right, and(keccak256(ptr, 0x60), mask))\n            mstore(a, 0)\n            mstore(b, right)\n            left := xor(left, and(keccak256(ptr, 0x60), mask))\n            mstore(a, 0)",
        "permutation: rounds share one key"),
    (BP, "return (words[index / 2] >> (TASK_BITS * (index % 2))) & type(uint128).max;", "return words[index / 2] >> (TASK_BITS * (index % 2));",
        "bundle: task field not masked"),
]

# Generation batches (issue 14, first part): the generation market and the text normal form.
G = "contracts/GenerationMarket.sol"
TN = "contracts/libraries/TextNormalize.sol"

MUTANTS += [
    (G, "if (received != amount) revert TokenShortfall(amount, received);", "", "gen create and stake: removed fee-on-transfer check"),
    (G, "if (p.maxItems < p.cap || p.maxItems > MAX_ITEMS) revert InvalidParams(\"maxItems\");", "", "gen create: fewer items than the cap"),
    (G, "if (amount > unlocked) revert InsufficientStake(unlocked, amount);", "", "gen unstake: locked stake can leave"),
    (G, "if (sid >= c.maxItems) revert GenerationFull(c.maxItems);", "", "gen submit: past maxItems"),
    (G, "d.locked += uint96(need); // need <= unlocked < 2^96", "", "gen submit: stake not locked"),
    (G, "if (block.timestamp <= c.submitDeadline) revert PublishNotOpen(uint256(c.submitDeadline) + 1);", "",
        "gen publish: published while others can still submit a copy"),
    (G, "if (s.author != msg.sender) revert NotYourSubmission(sid, msg.sender);", "", "gen publish: anyone publishes"),
    (G, "if (s.hash != _commitHash(id, msg.sender, contentHash, salt)) revert CommitMismatch(sid);", "",
        "gen publish: content not checked against the commit"),
    (G, "if (first != 0) revert DuplicateDatapoint(sid, first - 1);", "", "gen publish: duplicates accepted"),
    (G, "d.locked -= uint96(locked); // locked at submit, released once", "", "gen expire and finalize: stake stays locked"),
    (G, "d.amount -= uint96(forfeit); // forfeit <= stakePerSubmission <= what was locked", "", "gen expire: penalty not taken"),
    # The review (issue 14, second part): opening it, who may review, finalization, the refund.
    (G, "if (msg.sender != c.requester) revert NotRequester(msg.sender);", "", "gen openReview: anyone opens the review"),
    (G, "if (block.timestamp > uint256(c.publishDeadline) + OPEN_GRACE) {", "if (false) {",
        "gen openReview: opened after the requester's window"),
    (G, "if (keccak256(abi.encode(review)) != c.reviewHash) revert ReviewTermsMismatch();", "",
        "gen openReview: terms changed after the contributions"),
    (G, "if (contributed[id][annotator] || annotator == g.config.requester) {", "if (false) {",
        "gen qualifyReviewer: a contributor reviews its own batch"),
    (G, "uint256 opensAt = uint256(c.publishDeadline) + 1 + (g.state.published == 0 ? 0 : OPEN_GRACE);",
        "uint256 opensAt = uint256(c.publishDeadline) + 1;", "gen finalize: without a review inside the requester's window"),
    (G, "if (status == SubmissionStatus.Committed) return _expire(id, g, sid, s);", "",
        "gen finalize: an unpublished submission left locked"),
    (G, "if (g.state.accepted < c.cap) {", "if (true) {", "gen finalize: paid beyond the cap"),
    (G, "slashed = c.rejectPenalty;", "", "gen finalize: a rejected datapoint not slashed"),
    (G, "if (w == 0) revert ReviewNotSettled(sid, item);", "", "gen finalize: before the review settled"),
    (G, "if (goldMask != 0) return Verdict.Gold;", "", "gen finalize: the requester's gold paid as datapoints"),
    (G, "if ((w >> DECIDED_FLAG) & 1 == 0) return Verdict.Undecided; // item 0's decided flag", "",
        "gen finalize: an undecided datapoint judged"),
    (G, "if (st.refunded) revert AlreadyRefunded(id);", "", "gen refund: twice"),
    (G, "if (st.finalized != st.submitted || block.timestamp <= g.config.publishDeadline) {", "if (false) {",
        "gen refund: before every submission is finalized"),
    (G, "uint256 returned = st.reviewOpened ? _reviewRefund(st.reviewBatch) : 0;", "uint256 returned = 0;",
        "gen refund: the review batch's refund kept"),
    (S, "if (run.keep) _outcomes[x.batchId][taskId] = run.outcomes[2 * k] | (1 << 255);", "",
        "v2 settle: outcome not stored for a contract qualifier"),
    (S, "run.keep = qualifier != address(0) && qualifier.code.length != 0;", "run.keep = qualifier != address(0);",
        "v2 settle: outcomes stored for a key qualifier"),
    (S, "        _reviseOutcome(batchId, item / b.config.taskSize, item % b.config.taskSize, label);\n", "",
        "v2 resolve: stored outcome not revised"),
    (TN, "if and(gt(c, 0x40), lt(c, 0x5b)) { c := add(c, 0x20) }", "", "normalize: case kept"),
    (TN, "case 1 { pending := started }", "case 1 { pending := 1 }", "normalize: leading whitespace kept"),
]

# Optimistic settlement (issue 12): the module that takes a bonded proposal of every bundle's credit, challenges
# that recompute one credit with the settlement code, finalization and claims.
MUTANTS += [
    (O, "if (_proposals[batchId].status != ProposalStatus.None) revert ProposalPending(batchId);", "",
        "optimistic: a proposal over a live one"),
    (O, "if (c.reviewer != address(0) || c.qualifier.code.length != 0 || b.state.tasksSettled != 0) {", "if (false) {",
        "optimistic: a batch with a reviewer or settled tasks proposed"),
    (O, "if (held != committed || (x.early && revealed != committed)) {", "if (held != committed) {",
        "optimistic: an early proposal with a reveal missing"),
    (O, "if (held != committed || (x.early && revealed != committed)) {", "if (x.early && revealed != committed) {",
        "optimistic: a committed bundle left out of the proposal"),
    (O, "credit & ~uint256(0xFFFFFFFFFFFFFFFFFFFF0000) != expected", "false",
        "optimistic: a credit for another annotator or task count"),
    (O, "|| (amounts >> 128) > (credit & 0xFFFF) * pay.stakePerTask ", "",
        "optimistic: a slash above the bundle's lock"),
    (O, " || (expected == 0 && credit | amounts != 0)", "",
        "optimistic: a credit for a bundle never committed"),
    (O, "if (t.earned > escrow || t.redistributed > t.slashed) {", "if (t.earned > escrow) {",
        "optimistic: more redistributed than slashed"),
    (O, "if (t.earned > escrow || t.redistributed > t.slashed) {", "if (t.redistributed > t.slashed) {",
        "optimistic: rewards beyond the escrow"),
    (O, "if (credit == wantCredit && amounts == wantAmounts) revert ChallengeFailed(bundleId);", "",
        "optimistic: a right credit voids the proposal"),
    (O, "if (counts & 0xFFFFFFFF != size) revert ChallengeIncomplete(bundleId, counts & 0xFFFFFFFF, size);", "",
        "optimistic: a challenge that leaves out positions"),
    (O, "if (block.timestamp > p.challengeEnd) revert ChallengeWindowOver(p.challengeEnd);", "",
        "optimistic: a challenge after the window"),
    (O, "if (block.timestamp <= p.challengeEnd) revert ChallengeWindowOpen(p.challengeEnd);", "",
        "optimistic: finalized during the window"),
    (O, "_payOut(p.proposer, b.config.rewardToken, p.bond);", "", "optimistic: the bond kept at finalization"),
    (O, "if (IERC20(token).trySafeTransfer(to, amount)) {", "if (false) {",
        "optimistic: claims credit instead of paying"),
    (O, "            claimable[to][token] += amount;\n", "", "optimistic: a refused payment lost"),
    (O, "            owed.tstore(0);\n", "", "optimistic: a payment owed again in the next call of the transaction"),
    (O, "        owed.tstore(before + amount);", "        owed.tstore(amount);",
        "optimistic: an annotator's non-consecutive bundles paid once"),
    (TL, "_payOut(annotator, stake, earned + due.redistributed);", "_payOut(annotator, stake, earned);",
        "v2 credit: coherence shares dropped when the reward token is the stake token"),
    (O, "if (toTreasury != 0) claimable[TREASURY][address(STAKE_TOKEN)] += toTreasury;", "",
        "optimistic: the treasury's share of the slashes dropped"),
    (O, "b.state.tasksSettled = b.config.numTasks;", "", "optimistic: a final batch never counts as settled"),
    (O, "if (_bundles[batchId][bundleId] & STATUS_MASK < uint256(Status.Committed)) return false;", "",
        "optimistic: a bundle never committed claimed"),
    (O, "        delete _bundles[batchId][bundleId];\n        return true;", "        return true;",
        "optimistic: a bundle claimed twice"),
    (O, "if (credits.length % 2 != 0 || _root(nodes) != root) revert InvalidCreditProof(count);", "",
        "optimistic: claimAll with a list the proposal did not post"),
    # Relayed commits (issue 12): commits annotators signed, sent by someone else.
    (RL, "if (err != ECDSA.RecoverError.NoError || signer != annotator) revert InvalidRelayedCommit(rc.bundleId);", "",
        "relay: a commit without its annotator's signature"),
    (RL, "if (err != ECDSA.RecoverError.NoError || signer != annotator) revert InvalidRelayedCommit(",
        "if (err != ECDSA.RecoverError.NoError) revert InvalidRelayedCommit(",
        "relay: anyone's signature commits any bundle"),
    (RL, "RELAYED_COMMIT_TYPEHASH, batchId, rc.bundleId, rc.commitHash, keccak256(rc.backup), rc.maxTasks",
        "RELAYED_COMMIT_TYPEHASH, batchId, rc.bundleId, rc.commitHash, keccak256(rc.backup), uint256(0)",
        "relay: the join's size not signed"),
    (RL, "RELAYED_COMMIT_TYPEHASH, batchId, rc.bundleId, rc.commitHash, keccak256(rc.backup), rc.maxTasks",
        "RELAYED_COMMIT_TYPEHASH, uint256(0), rc.bundleId, rc.commitHash, keccak256(rc.backup), rc.maxTasks",
        "relay: a signature good in every batch"),
    (RL, "            if (rc.maxTasks != 0) {", "            if (false) {", "relay: the join that rides along dropped"),
    # Relayed joins (issue 12): joins (staking through a permit) annotators signed, sent by someone else.
    (RL, "if (err != ECDSA.RecoverError.NoError || signer != annotator) revert InvalidRelayedJoin(annotator);", "",
        "relay join: a join without its annotator's signature"),
    (RL, "if (err != ECDSA.RecoverError.NoError || signer != annotator) revert InvalidRelayedJoin(",
        "if (err != ECDSA.RecoverError.NoError) revert InvalidRelayedJoin(",
        "relay join: anyone's signature joins anyone"),
    (RL, "RELAYED_JOIN_TYPEHASH, batchId, round, rj.maxTasks, rj.stake",
        "RELAYED_JOIN_TYPEHASH, batchId, uint256(1), rj.maxTasks, rj.stake",
        "relay join: a signature good in every round"),
    (RL, "            if (rj.stake != 0) _addStake(annotator, rj.stake);", "",
        "relay join: the stake not credited"),
    (RL, "            STAKE_TOKEN.safeTransferFrom(rj.annotator, address(this), rj.stake);", "",
        "relay join: stake credited, its tokens never moved"),
    (RL, "            if (rj.v != 0) {", "            if (false) {", "relay join: the permit never used"),
]

# Mutants shown to be equivalent (no test can kill them); each with the reason.
EQUIVALENT = {}


def run_suite(work: Path, env: dict) -> bool:
    forge = ROOT / "node_modules/@foundry-rs/forge-linux-amd64/bin/forge"
    r = subprocess.run([str(forge), "test", "--fail-fast", "-q"], cwd=work, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return r.returncode == 0


def main() -> int:
    global MUTANTS
    # `MUTANTS_ONLY=v2 make mutants` runs the v2 mutants only (files of the v2 market and its libraries).
    if os.environ.get("MUTANTS_ONLY") == "v2":
        MUTANTS = [m for m in MUTANTS if m[0] in (V, S, ST, TL, O, RL, BT, PM, BP)]
    # `MUTANTS_MATCH=text` keeps the mutants whose description contains `text` (to re-check a few; the 20-mutant
    # floor and the 95 % bar apply to full runs only).
    match = os.environ.get("MUTANTS_MATCH")
    if match:
        MUTANTS = [m for m in MUTANTS if match in m[3]]
    if len(MUTANTS) < 20 and not match:
        print("need at least 20 mutants", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="concord-mutants-"))
    for item in ["contracts", "script", "tools", "foundry.toml", "package.json"]:
        src = ROOT / item
        (shutil.copytree if src.is_dir() else shutil.copy)(src, work / item)
    (work / "node_modules").symlink_to(ROOT / "node_modules")
    env = dict(os.environ, FOUNDRY_VIA_IR="false", FOUNDRY_DISABLE_CODE_SIZE_LIMIT="true", FOUNDRY_PROFILE="default",
               FOUNDRY_FUZZ_RUNS="64", FOUNDRY_INVARIANT_RUNS="16", FOUNDRY_INVARIANT_DEPTH="32")
    print("baseline (unmutated) suite ...", flush=True)
    if not run_suite(work, env):
        print("the unmutated suite fails: fix it before running mutants", file=sys.stderr)
        return 2
    results = []
    killed = 0
    for n, (file, original, mutant, desc) in enumerate(MUTANTS, 1):
        path = work / file
        text = path.read_text()
        if text.count(original) != 1:
            print(f"[{n}] {desc}: original snippet found {text.count(original)} times; update scripts/mutants.py", file=sys.stderr)
            return 2
        path.write_text(text.replace(original, mutant))
        started = time.time()
        survived = run_suite(work, env)
        path.write_text(text)
        status = "SURVIVED" if survived else "killed"
        killed += 0 if survived else 1
        print(f"[{n:2}/{len(MUTANTS)}] {status:8} {desc} ({time.time() - started:.0f}s)", flush=True)
        results.append({"file": file, "description": desc, "killed": not survived, "note": EQUIVALENT.get(desc)})
    total = len(MUTANTS)
    print(f"killed {killed}/{total} ({100 * killed / total:.1f}%)")
    for r in results:
        if not r["killed"]:
            print(f"  survivor: {r['description']} — {r['note'] or 'NOT EXPLAINED: add a test that kills it'}")
    out = ROOT / "target" / "mutants.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"killed": killed, "total": total, "mutants": results}, indent=1) + "\n")
    shutil.rmtree(work, ignore_errors=True)
    return 0 if killed / total >= 0.95 else 1


if __name__ == "__main__":
    sys.exit(main())
