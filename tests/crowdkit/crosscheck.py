#!/usr/bin/env python3
"""Cross-checks Concord's Rust majority vote and Dawid-Skene against crowd-kit (PyPI) on shared fixtures.

Pass criteria (issue #4): Dawid-Skene labels equal on >= 99.5% of tasks and posteriors within 1e-3;
majority vote equal on every task without a tie (crowd-kit breaks ties by pandas order, Concord by the
lowest class index, like the contract).
Usage: crosscheck.py <path to concord-requester> <work dir>
"""
import csv
import json
import random
import subprocess
import sys
from pathlib import Path

import pandas as pd
from crowdkit.aggregation import DawidSkene, MajorityVote


def fixture(seed, tasks, workers, classes, per_task, spammers=0):
    rng = random.Random(seed)
    labels = [f"c{i}" for i in range(classes)]
    skill = {f"w{w}": rng.uniform(0.55, 0.95) for w in range(workers)}
    for s in range(spammers):
        skill[f"w{s}"] = None  # uniform random answers
    rows = []
    truth = {}
    for t in range(tasks):
        true = rng.choice(labels)
        truth[f"t{t}"] = true
        for w in rng.sample(sorted(skill), per_task):
            p = skill[w]
            if p is None:
                ans = rng.choice(labels)
            elif rng.random() < p:
                ans = true
            else:
                ans = rng.choice([l for l in labels if l != true])
            rows.append((f"t{t}", w, ans))
    return rows, truth


def main():
    binary, work = sys.argv[1], Path(sys.argv[2])
    work.mkdir(parents=True, exist_ok=True)
    fixtures = {
        "binary-500x15": fixture(1, 500, 15, 2, 3),
        "three-class-1000x30": fixture(2, 1000, 30, 3, 5, spammers=4),
        "five-class-800x40-sparse": fixture(3, 800, 40, 5, 4, spammers=6),
    }
    failed = False
    for name, (rows, _truth) in fixtures.items():
        path = work / f"{name}.csv"
        with open(path, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["task", "worker", "label"])
            w.writerows(rows)
        out = work / f"{name}.rust.json"
        subprocess.run([binary, "aggregate", "--input", str(path), "--out", str(out)], check=True, stdout=subprocess.DEVNULL)
        rust = {t["task"]: t for t in json.loads(out.read_text())["tasks"]}

        df = pd.DataFrame(rows, columns=["task", "worker", "label"])
        ds = DawidSkene(n_iter=100, tol=1e-5)
        ds_labels = ds.fit_predict(df)
        probas = ds.probas_
        mv_probas = MajorityVote().fit_predict_proba(df)
        mv_labels = MajorityVote().fit_predict(df)

        same_ds = sum(1 for t in ds_labels.index if rust[t]["ds"] == ds_labels[t])
        max_diff = max(abs(rust[t]["posterior"][c] - probas.loc[t, c]) for t in probas.index for c in probas.columns)
        untied = [t for t in mv_probas.index if (mv_probas.loc[t] == mv_probas.loc[t].max()).sum() == 1]
        same_mv = sum(1 for t in untied if rust[t]["mv"] == mv_labels[t])
        share = same_ds / len(ds_labels)
        ok = share >= 0.995 and max_diff <= 1e-3 and same_mv == len(untied)
        failed |= not ok
        print(f"{name:<28} DS labels equal {same_ds}/{len(ds_labels)} ({100*share:.2f}%), max posterior diff {max_diff:.2e}, "
              f"MV equal {same_mv}/{len(untied)} untied tasks ({len(mv_probas) - len(untied)} ties excluded), "
              f"crowd-kit iterations {len(ds.loss_history_)}  {'OK' if ok else 'FAIL'}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
