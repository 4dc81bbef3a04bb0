//! Optimistic settlement through the real CLIs on anvil: a batch without a reviewer is proposed (its credits come
//! from the market's own `tally`), checked, refused to `settle` and to an early `claim`, claimed after its challenge
//! window, and exported from the outcomes rebuilt off-chain.

use alloy::primitives::U256;
use concord_e2e::{dataset, Devnet};

const REQ: &str = "concord-requester";
const ANN: &str = "concord-annotator";

#[tokio::test(flavor = "multi_thread")]
async fn a_batch_settles_optimistically_through_propose_check_and_claim() {
    let d = Devnet::start(3, 0).await;
    let ds = d.file("items.jsonl", &dataset(6, None));
    let v = d.create(
        &ds,
        &["--classes", "a,b,c", "--task-size", "3", "--no-reviewer"],
    );
    let b = v["batchId"].as_u64().expect("batch").to_string();
    let right = d.file(
        "right.csv",
        "id,label\nit-0,a\nit-1,b\nit-2,c\nit-3,a\nit-4,b\nit-5,c\n",
    );
    // The third annotator gets item 0 wrong: slashed, its slash shared by the two who agreed.
    let wrong = d.file(
        "wrong.csv",
        "id,label\nit-0,b\nit-1,b\nit-2,c\nit-3,a\nit-4,b\nit-5,c\n",
    );
    d.stake_and_join_all(3, &b);
    for i in 0..3 {
        let key = d.accounts.annotators[i].private_key.clone();
        let from = if i == 2 { &wrong } else { &right };
        let l = d.json(
            ANN,
            Some(&key),
            &["label", "-b", &b, "--from", from, "--commit"],
        );
        assert_eq!(l["commit"]["done"].as_array().map(Vec::len), Some(1), "{l}");
    }
    // Every position is committed: reveals are open.
    for a in &d.accounts.annotators[..3] {
        let r = d.json(ANN, Some(&a.private_key), &["reveal", "-b", &b]);
        assert_eq!(r["done"].as_array().map(Vec::len), Some(1), "{r}");
    }
    let req = d.accounts.requester.private_key.clone();
    let p = d.json(REQ, Some(&req), &["propose", "-b", &b]);
    assert_eq!(p["bundles"], 3, "{p}");
    assert_eq!(p["rewards"], "17", "17 of 18 labels agree: {p}");
    assert_eq!(
        p["slashed"], p["redistributed"],
        "one wrong label, its slash shared: {p}"
    );

    // A watcher finds nothing wrong; settle and an early claim are refused with one line each.
    let c = d.json(REQ, None, &["check", "-b", &b]);
    assert_eq!(c.as_array().map(Vec::len), Some(0), "{c}");
    let a2 = d.accounts.annotators[2].private_key.clone();
    let c = d.json(ANN, Some(&a2), &["check", "-b", &b, "--challenge"]);
    assert_eq!(
        c.as_array().map(Vec::len),
        Some(0),
        "its own credit is right, nothing challenged: {c}"
    );
    for (args, says) in [
        (
            ["settle", "-b", &b],
            "has a live or final optimistic proposal",
        ),
        (["claim", "-b", &b], "can be challenged until"),
    ] {
        let out = d.cli(REQ, Some(&req), &args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{err}");
        assert!(err.contains(says), "{err}");
        assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    }

    let st = d.json(REQ, None, &["status", "-b", &b]);
    let (now, end) = (
        st["now"].as_u64().expect("now"),
        p["challengeEnd"].as_u64().expect("challenge end"),
    );
    d.advance(end + 1 - now.min(end)).await;
    let first = d.accounts.annotators[0].address;
    let before = d.balance(first).await;
    let c = d.json(REQ, Some(&req), &["claim", "-b", &b]);
    assert_eq!(c["finalized"], true, "{c}");
    assert_eq!(c["bundlesClaimed"], 3, "{c}");
    assert_eq!(c["rewardsPaid"], "17", "{c}");
    assert_eq!(c["payments"], 3, "one payment per annotator: {c}");
    assert!(
        d.balance(first).await > before,
        "the first annotator's rewards are in its wallet"
    );
    assert_eq!(
        d.claimable(first).await,
        U256::ZERO,
        "nothing left to collect"
    );
    // So the annotator's `collect` has nothing to send.
    let col = d.json(
        ANN,
        Some(&d.accounts.annotators[0].private_key),
        &["collect"],
    );
    assert_eq!(col.as_array().map(Vec::len), Some(0), "{col}");
    let st = d.json(REQ, None, &["status", "-b", &b]);
    assert_eq!(st["tasksSettled"], 2, "every task counts as settled: {st}");

    // The dataset: the outcomes are rebuilt from the reveals with the contract's rule.
    let out = d.dir.join("labels.jsonl");
    d.json(
        REQ,
        None,
        &["export", "-b", &b, "-o", &out.display().to_string()],
    );
    let rows = std::fs::read_to_string(&out).expect("export");
    assert_eq!(rows.lines().count(), 6, "{rows}");
    for (i, want) in ["a", "b", "c", "a", "b", "c"].iter().enumerate() {
        let row: serde_json::Value =
            serde_json::from_str(rows.lines().nth(i).expect("row")).expect("json");
        assert_eq!(row["label"], *want, "{row}");
    }
    // The quality report counts the final proposal's credits (claims emit one event per call, none per bundle).
    let report = d.json(REQ, None, &["report", "-b", &b]);
    assert_eq!(
        (&report["labelsAccepted"], &report["labelsRejected"]),
        (&17.into(), &1.into()),
        "{report}"
    );
    // Claimed once: a second claim finds nothing to credit.
    let again = d.json(REQ, Some(&req), &["claim", "-b", &b]);
    assert_eq!(again["bundlesClaimed"], 0, "{again}");
}
