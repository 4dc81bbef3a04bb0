#!/usr/bin/env python3
"""Mutation check of the core contract and its libraries (`make mutants`).

Each mutant changes one line of contracts/LabelMarket.sol or contracts/libraries/LabelPacking.sol (a flipped
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
M = "contracts/LabelMarket.sol"
P = "contracts/libraries/LabelPacking.sol"

# (file, original, mutant, description). Every original must occur exactly once in its file.
MUTANTS = [
    (M, "if (block.timestamp > commitDeadline) revert CommitPhaseOver(commitDeadline);",
        "if (block.timestamp >= commitDeadline) revert CommitPhaseOver(commitDeadline);", "claim: off-by-one at the commit deadline"),
    (M, "if (block.timestamp > b.config.revealDeadline) revert RevealPhaseOver(b.config.revealDeadline);",
        "if (block.timestamp >= b.config.revealDeadline) revert RevealPhaseOver(b.config.revealDeadline);", "reveal: off-by-one at the reveal deadline"),
    (M, "if (block.timestamp > b.config.reviewDeadline) revert ReviewClosed(b.config.reviewDeadline);",
        "if (block.timestamp >= b.config.reviewDeadline) revert ReviewClosed(b.config.reviewDeadline);", "resolve: off-by-one at the review deadline"),
    (M, "if (t.settled) revert AlreadySettled(batchId, taskId);\n        if (!_settleable",
        "if (!_settleable", "settleTask: removed double-settlement check"),
    (M, "if (b.config.qualifier != address(0) && !qualified[batchId][msg.sender]) revert NotQualified(batchId, msg.sender);",
        "", "claim: removed qualification gate"),
    (M, "if (score < b.config.minReputation) revert InsufficientReputation(score, b.config.minReputation);",
        "", "claim: removed reputation gate"),
    (M, "if (unlocked < need) revert InsufficientStake(unlocked, need);",
        "", "claim: removed stake check"),
    (P, "top > runnerUp && top * 10_000 >= thresholdBps * total",
        "top >= runnerUp && top * 10_000 >= thresholdBps * total", "consensus: ties accepted"),
    (P, "top > runnerUp && top * 10_000 >= thresholdBps * total",
        "top > runnerUp && top * 10_000 > thresholdBps * total", "consensus: threshold boundary flipped"),
    (P, "reached = total >= 2 &&", "reached = total >= 1 &&", "consensus: a single vote counts"),
    (M, "if (slash != 0) st.amount -= uint128(slash);", "", "settlement: dropped slash"),
    (M, "emit Collected(msg.sender, token, amount);\n        IERC20(token).safeTransfer(msg.sender, amount);",
        "emit Collected(msg.sender, token, amount);", "collect: dropped transfer"),
    (M, "rep.accepted += uint48(a);", "", "settlement: dropped reputation update"),
    (M, "_commits[batchId][taskId][slot] != _commitHash(batchId, taskId, msg.sender, labels, salt)",
        "_commits[batchId][taskId][slot] != _commitHash(taskId, batchId, msg.sender, labels, salt)", "reveal: swapped batch and task"),
    (M, "if (received != escrow) revert TokenShortfall(escrow, received);", "", "create: removed fee-on-transfer check"),
    (M, "if (block.timestamp <= b.config.reviewDeadline || b.state.tasksSettled != b.config.numTasks) {",
        "if (block.timestamp <= b.config.reviewDeadline) {", "refund: allowed with unsettled tasks"),
    (M, "uint256 amount = b.state.escrow - b.state.paid;", "uint256 amount = b.state.escrow;", "refund: returns paid escrow too"),
    (M, "if (block.timestamp < st.unlockAt) revert CooldownActive(st.unlockAt);", "", "withdraw: removed cooldown"),
    (M, "if (amount > unlocked) revert StakeLocked(unlocked, amount);",
        "if (amount > st.amount) revert StakeLocked(unlocked, amount);", "unstake: locked stake can leave"),
    (M, "slash = b.config.noRevealPenalty;", "slash = b.config.wrongLabelPenalty;", "settlement: wrong no-reveal penalty"),
    (P, "return (labels >> (i * BITS)) & MASK;", "return (labels >> (i * BITS));", "packing: label not masked"),
    (P, "if (l >= numClasses) return (false, i, l);", "if (l > numClasses) return (false, i, l);", "packing: class range off by one"),
    (M, "_stakes[holder].locked -= _batches[batchId].config.stakePerClaim;", "", "release: stake stays locked"),
    (M, "if (expiry > commitDeadline) expiry = commitDeadline;", "", "claim: expiry not capped at the commit deadline"),
    (M, "if (t.committedMask != (1 << b.config.replicas) - 1 && block.timestamp <= b.config.commitDeadline) {",
        "if (t.committedMask != (1 << b.config.replicas) - 1 || block.timestamp <= b.config.commitDeadline) {", "reveal: early reveal never opens"),
    (M, "if (b.state.goldRevealed >= b.config.goldCount) {\n            s.gold = t.goldMask;",
        "if (true) {\n            s.gold = t.goldMask;", "settlement: partial gold used"),
    (M, "s.pool += consensusDisagreed * b.config.wrongLabelPenalty;", "s.pool += disagreed * b.config.wrongLabelPenalty;", "settlement: gold slashes redistributed"),
    (M, "if (t.goldMask & bit != 0) revert GoldAlreadyRevealed(a.item);", "", "revealGold: double reveal accepted"),
]

# Mutants shown to be equivalent (no test can kill them); each with the reason.
EQUIVALENT = {}


def run_suite(work: Path, env: dict) -> bool:
    forge = ROOT / "node_modules/@foundry-rs/forge-linux-amd64/bin/forge"
    r = subprocess.run([str(forge), "test", "--fail-fast", "-q"], cwd=work, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return r.returncode == 0


def main() -> int:
    if len(MUTANTS) < 20:
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
