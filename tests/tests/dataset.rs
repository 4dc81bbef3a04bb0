//! Datasets in and out against a real chain: manifest proofs verified by the contract, exports in every
//! format rebuilt from chain events only, and the quality report.

use alloy::primitives::U256;
use alloy::providers::ProviderBuilder;
use concord_client::bindings::LabelMarketV2;
use concord_client::dataset::{load_items, load_manifest, Manifest};
use concord_e2e::{dataset, Devnet};

const REQ: &str = "concord-requester";
const ANN: &str = "concord-annotator";

#[tokio::test]
async fn rust_merkle_proofs_verify_on_chain_and_tampering_fails() {
    let d = Devnet::start(0, 0).await;
    let ds = d.file("items.jsonl", &dataset(37, None));
    let v = d.create(&ds, &["--classes", "a,b"]);
    let manifest =
        load_manifest(v["manifestPath"].as_str().expect("manifest path")).expect("manifest");
    let p = ProviderBuilder::new().connect_http(d.rpc.parse().expect("url"));
    let market = LabelMarketV2::new(d.deployment.market, &p);
    for item in &manifest.items {
        let proof = manifest.proof(item.index as usize).expect("proof");
        let ok = market
            .verifyItem(
                U256::ZERO,
                U256::from(item.index),
                item.content_hash,
                item.uri.clone(),
                proof.clone(),
            )
            .call()
            .await
            .expect("call");
        assert!(ok, "item {} must verify", item.index);
        let tampered = market
            .verifyItem(
                U256::ZERO,
                U256::from(item.index + 1),
                item.content_hash,
                item.uri.clone(),
                proof,
            )
            .call()
            .await
            .expect("call");
        assert!(!tampered, "a proof must not verify for another index");
    }
    // The root the client computes from the raw file equals the one stored on-chain.
    let items = load_items(std::path::Path::new(&ds)).expect("items");
    let b = market.getBatch(U256::ZERO).call().await.expect("batch");
    assert_eq!(
        Manifest::build(&items, &["a".into(), "b".into()]).root,
        b.roots.manifest
    );
}

#[tokio::test]
async fn exports_and_report_come_from_chain_events_alone() {
    let d = Devnet::start(3, 0).await;
    let req = d.accounts.requester.private_key.clone();
    let ds = d.file("items.jsonl", &dataset(6, Some(3)));
    let v = d.create(&ds, &["--classes", "a,b,c", "--task-size", "3"]);
    let b = v["batchId"].as_u64().expect("batch").to_string();
    // Everyone labels item i as class i % 3 except annotator 2, who always says "c". Each annotator joins once:
    // its lane's two tasks in one bundle; the third join fills the round and seals it.
    let right = d.file(
        "right.jsonl",
        &(0..6)
            .map(|i| {
                format!(
                    "{{\"id\":\"it-{i}\",\"label\":\"{}\"}}\n",
                    ["a", "b", "c"][i % 3]
                )
            })
            .collect::<String>(),
    );
    let all_c = d.file(
        "all-c.csv",
        &format!(
            "id,label\n{}",
            (0..6).map(|i| format!("it-{i},c\n")).collect::<String>()
        ),
    );
    for i in 0..3 {
        let key = d.accounts.annotators[i].private_key.clone();
        d.json(ANN, Some(&key), &["stake", "100"]);
        let j = d.join(&key, &b, None);
        assert_eq!(j["joined"]["size"], 2, "{j}");
    }
    for i in 0..3 {
        let key = d.accounts.annotators[i].private_key.clone();
        let answers = if i == 2 { &all_c } else { &right };
        let l = d.json(
            ANN,
            Some(&key),
            &["label", "-b", &b, "--from", answers, "--commit"],
        );
        assert_eq!(l["commit"]["done"], serde_json::json!([[0, i]]), "{l}");
    }
    for i in 0..3 {
        d.json(
            ANN,
            Some(&d.accounts.annotators[i].private_key),
            &["reveal"],
        );
    }
    // Gold is revealed after the commit deadline.
    let st = d.json(REQ, None, &["status", "-b", &b]);
    let (now, commit_deadline) = (
        st["now"].as_u64().expect("now"),
        st["commitDeadline"].as_u64().expect("commit deadline"),
    );
    d.advance(commit_deadline + 1 - now).await;
    d.json(REQ, Some(&req), &["reveal-gold", "-b", &b]);
    let s = d.json(REQ, Some(&req), &["settle", "-b", &b]);
    assert_eq!(s["tasksSettled"], 2, "{s}");
    // Rewards (1 CCD per label agreeing with consensus or gold): annotators 0 and 1 agree on all 6 items,
    // annotator 2 on items 2 and 5 only. Slashes (3 CCD per wrong label): annotator 2 disagrees with consensus on
    // items 1 and 4 (each slash shared by the 2 lanes that agreed: 1.5 CCD to annotators 0 and 1) and with gold
    // on items 0 and 3 (to the treasury).
    assert_eq!(s["rewardsPaid"], "14", "6 + 6 + 2: {s}");
    assert_eq!(s["stakeSlashed"], "12", "4 wrong labels x 3 CCD: {s}");
    let ccd = |milli: u64| U256::from(milli) * U256::from(10u64).pow(U256::from(15u64));
    for (i, expected) in [(0, 9_000), (1, 9_000), (2, 2_000)] {
        assert_eq!(
            d.claimable(d.accounts.annotators[i].address).await,
            ccd(expected),
            "annotator {i}: rewards + coherence shares"
        );
    }
    assert_eq!(
        d.claimable(d.accounts.deployer.address).await,
        ccd(6_000),
        "the treasury gets the 2 gold slashes"
    );
    let wrong = d.json(
        ANN,
        Some(&d.accounts.annotators[2].private_key),
        &["reputation", "-b", &b],
    );
    assert_eq!(wrong["staked"], "88", "100 - 12 slashed: {wrong}");
    assert_eq!(wrong["locked"], "0", "{wrong}");
    assert_eq!(
        (
            &wrong["accepted"],
            &wrong["rejected"],
            &wrong["goldCorrect"],
            &wrong["goldWrong"]
        ),
        (&2.into(), &2.into(), &0.into(), &2.into()),
        "{wrong}"
    );
    let right_rep = d.json(
        ANN,
        Some(&d.accounts.annotators[0].private_key),
        &["reputation", "-b", &b],
    );
    assert_eq!(
        (
            &right_rep["accepted"],
            &right_rep["rejected"],
            &right_rep["goldCorrect"],
            &right_rep["staked"]
        ),
        (&4.into(), &0.into(), &2.into(), &"100".into()),
        "{right_rep}"
    );

    // Export from a fresh CONCORD_HOME: no local state is needed.
    let jsonl = d.dir.as_path().join("out.jsonl").display().to_string();
    for (fmt, file) in [
        ("jsonl", jsonl.clone()),
        ("csv", d.dir.as_path().join("out.csv").display().to_string()),
        (
            "crowdkit",
            d.dir.as_path().join("ck.csv").display().to_string(),
        ),
        (
            "labelstudio",
            d.dir.as_path().join("ls.json").display().to_string(),
        ),
    ] {
        let o = d.cli_env(
            REQ,
            None,
            &["export", "-b", &b, "--format", fmt, "-o", &file],
            &[("CONCORD_HOME", "/nonexistent")],
        );
        assert!(
            o.status.success(),
            "{fmt}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    let rows: Vec<serde_json::Value> = std::fs::read_to_string(&jsonl)
        .expect("jsonl")
        .lines()
        .map(|l| serde_json::from_str(l).expect("row"))
        .collect();
    assert_eq!(rows.len(), 6);
    for (i, r) in rows.iter().enumerate() {
        let expected = ["a", "b", "c"][i % 3];
        assert_eq!(r["label"], expected, "row {i}: {r}");
        assert_eq!(
            r["status"],
            if i % 3 == 0 { "gold" } else { "accepted" },
            "row {i}"
        );
        assert_eq!(r["numLabels"], 3);
        assert_eq!(r["dsLabel"], expected, "Dawid-Skene agrees on row {i}");
        assert_eq!(r["provenance"]["batchId"], 0);
        assert!(r["provenance"]["settledBlock"].as_u64().is_some());
    }
    let ck = std::fs::read_to_string(d.dir.as_path().join("ck.csv")).expect("crowdkit csv");
    assert_eq!(ck.lines().count(), 1 + 18, "header + 6 items x 3 labels");
    let ls: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(d.dir.as_path().join("ls.json")).expect("ls"),
    )
    .expect("ls json");
    assert_eq!(
        ls[1]["annotations"][0]["result"][0]["value"]["choices"][0],
        "b"
    );

    let html = d.dir.as_path().join("report.html").display().to_string();
    let rep = d.json(REQ, None, &["report", "-b", &b, "--html", &html]);
    assert_eq!(
        rep["labelsAccepted"].as_u64().expect("accepted")
            + rep["labelsRejected"].as_u64().expect("rejected"),
        18
    );
    assert_eq!(
        rep["labelsRejected"], 4,
        "annotator 2 is wrong on the 4 items whose answer is not c: {rep}"
    );
    let page = std::fs::read_to_string(&html).expect("html");
    assert!(
        page.starts_with("<!doctype html>") && page.contains("<svg"),
        "self-contained page with plots"
    );
}

/// `aggregate` through the real CLI on a Toloka TSV and an MTurk CSV (layouts detected from the header), and one
/// clear line for a header it does not know.
#[test]
fn aggregate_reads_toloka_and_mturk_exports_and_names_an_unknown_layout() {
    let dir = tempfile::tempdir().expect("tmp");
    let run = |args: &[&str]| {
        std::process::Command::new(concord_e2e::bin_dir().join(REQ))
            .args(args)
            .output()
            .expect("run concord-requester")
    };
    let toloka = dir.path().join("assignments.tsv");
    std::fs::write(
        &toloka,
        "INPUT:id\tOUTPUT:result\tASSIGNMENT:worker_id\n\
         i1\tcat\tw1\ni1\tcat\tw2\ni1\tdog\tw3\ni2\tdog\tw1\ni2\tdog\tw2\ni2\tdog\tw3\n",
    )
    .expect("write");
    let mturk = dir.path().join("Batch_1_batch_results.csv");
    std::fs::write(
        &mturk,
        "HITId,WorkerId,Input.id,Answer.category\nH1,w1,i1,cat\nH1,w2,i1,cat\nH1,w3,i1,dog\n\
         H2,w1,i2,dog\nH2,w2,i2,dog\nH2,w3,i2,dog\n",
    )
    .expect("write");
    for (input, layout) in [(&toloka, "toloka"), (&mturk, "mturk")] {
        let out = dir.path().join(format!("{layout}.csv"));
        let o = run(&[
            "aggregate",
            "--input",
            &input.display().to_string(),
            "-o",
            &out.display().to_string(),
            "--json",
        ]);
        assert!(
            o.status.success(),
            "{layout}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let stdout = String::from_utf8_lossy(&o.stdout);
        let v: serde_json::Value =
            serde_json::from_str(stdout.lines().last().unwrap_or("null")).expect("json");
        assert_eq!(v["layout"], layout, "{v}");
        assert_eq!(
            (v["responses"].as_u64(), v["tasks"].as_u64()),
            (Some(6), Some(2)),
            "{v}"
        );
        let csv = std::fs::read_to_string(&out).expect("out");
        assert!(csv.contains("i1,cat,cat"), "{csv}");
        assert!(csv.contains("i2,dog,dog"), "{csv}");
    }
    let odd = dir.path().join("odd.csv");
    std::fs::write(&odd, "item,rater,verdict\ni1,w1,cat\n").expect("write");
    let o = run(&[
        "aggregate",
        "--input",
        &odd.display().to_string(),
        "-o",
        &dir.path().join("x.csv").display().to_string(),
    ]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert!(
        err.contains("unrecognised column layout") && err.contains("--task-col"),
        "{err}"
    );
    let o = run(&[
        "aggregate",
        "--input",
        &odd.display().to_string(),
        "-o",
        &dir.path().join("x.csv").display().to_string(),
        "--task-col",
        "item",
        "--worker-col",
        "rater",
        "--label-col",
        "verdict",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// A reader that closes the pipe early (`| head`) ends the CLI quietly: no panic, exit 0.
#[test]
fn a_closed_stdout_pipe_ends_the_cli_quietly() {
    let dir = tempfile::tempdir().expect("tmp");
    let input = dir.path().join("r.csv");
    std::fs::write(&input, "task,worker,label\ni1,w1,a\ni1,w2,a\n").expect("write");
    let mut child = std::process::Command::new(concord_e2e::bin_dir().join(REQ))
        .args([
            "aggregate",
            "--input",
            &input.display().to_string(),
            "-o",
            &dir.path().join("o.csv").display().to_string(),
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    drop(child.stdout.take()); // the reader is gone before the program prints
    let out = child.wait_with_output().expect("wait");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert!(out.status.success(), "{:?} {err}", out.status);
}
