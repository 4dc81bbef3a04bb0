//! Event reads through a provider-like proxy: `eth_getLogs` capped in block range and in results, and HTTP 429
//! at random, as public RPC providers do. A batch spread over more than 20,000 blocks reads the same through the
//! proxy as from the node directly; a second run reads only new blocks (the event cache); a reorg deeper than
//! the confirmations drops the cache and the answers stay right. A reorg that removes an annotator's commit or
//! reveal is noticed by its next run, which sends it again.

use alloy::primitives::U256;
use alloy::providers::{Provider, ProviderBuilder};
use concord_e2e::proxy::{Limits, Proxy};
use concord_e2e::Devnet;

const REQ: &str = "concord-requester";
const ANN: &str = "concord-annotator";

/// Mines `n` empty blocks (anvil).
async fn mine(d: &Devnet, n: u64) {
    let p = ProviderBuilder::new().connect_http(d.rpc.parse().expect("url"));
    let _: serde_json::Value = p
        .raw_request("anvil_mine".into(), (U256::from(n),))
        .await
        .expect("anvil_mine");
}

/// Replaces the newest `depth` blocks with new, empty ones (anvil).
async fn reorg(d: &Devnet, depth: u64) {
    let p = ProviderBuilder::new().connect_http(d.rpc.parse().expect("url"));
    let _: serde_json::Value = p
        .raw_request("anvil_reorg".into(), (depth, Vec::<()>::new()))
        .await
        .expect("anvil_reorg");
}

/// What the requester reads from events — status, the JSONL export, the quality report — with `home` as
/// `CONCORD_HOME` (where the event cache lives).
fn reads(d: &Devnet, b: &str, home: &str) -> (serde_json::Value, String, serde_json::Value) {
    let home = d.dir.join(home).display().to_string();
    let out = d.dir.join("export.jsonl").display().to_string();
    let run = |args: &[&str]| {
        let mut a = args.to_vec();
        a.push("--json");
        let o = d.cli_env(REQ, None, &a, &[("CONCORD_HOME", &home)]);
        assert!(
            o.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let stdout = String::from_utf8_lossy(&o.stdout).to_string();
        serde_json::from_str::<serde_json::Value>(stdout.lines().last().unwrap_or("null"))
            .expect("json output")
    };
    let mut status = run(&["status", "-b", b]);
    // The chain's clock moves between runs (a block every second); everything else must match.
    status.as_object_mut().map(|o| o.remove("now"));
    run(&["export", "-b", b, "-o", &out]);
    let export = std::fs::read_to_string(&out).expect("export written");
    let report = run(&["report", "-b", b]);
    (status, export, report)
}

#[tokio::test(flavor = "multi_thread")]
async fn status_export_and_report_through_a_capped_rate_limited_provider_match_the_node() {
    let mut d = Devnet::start(3, 0).await;
    let long = [
        "--classes",
        "a,b,c",
        "--task-size",
        "3",
        "--commit-period",
        "2d",
        "--round-period",
        "1d",
        "--commit-window",
        "1d",
        "--reveal-period",
        "2d",
        "--review-period",
        "2d",
    ];
    let b = d.create_batch(6, &long);
    // 5,000 blocks between each step: the batch's events lie more than 20,000 blocks apart.
    mine(&d, 5_000).await;
    d.stake_and_join_all(3, &b);
    for i in 0..3 {
        let key = d.accounts.annotators[i].private_key.clone();
        let labels = if i == 2 { "a,b,c,c,c,c" } else { "a,b,c,c,c,a" };
        let answers = d.file(
            &format!("answers-{i}.csv"),
            &labels
                .split(',')
                .enumerate()
                .fold("id,label\n".to_string(), |acc, (j, l)| {
                    acc + &format!("it-{j},{l}\n")
                }),
        );
        d.json(
            ANN,
            Some(&key),
            &["label", "-b", &b, "--from", &answers, "--commit"],
        );
    }
    mine(&d, 5_000).await;
    for i in 0..3 {
        let key = d.accounts.annotators[i].private_key.clone();
        d.json(ANN, Some(&key), &["reveal", "-b", &b]);
    }
    mine(&d, 5_000).await;
    let s = d.json(
        REQ,
        Some(&d.accounts.requester.private_key),
        &["settle", "-b", &b],
    );
    assert_eq!(s["tasksSettled"], 2, "{s}");
    mine(&d, 5_000).await;

    let direct = reads(&d, &b, "home-direct");
    assert_eq!(direct.1.lines().count(), 6, "six items exported");

    // A provider: at most 1,000 blocks and 5 logs per `eth_getLogs` (a cap scaled to this small batch, as 500 is
    // to a large one), and one request in twenty answered 429. The CLIs ask for 10,000 blocks by default.
    let proxy = Proxy::start(&d.rpc).await;
    proxy.limit(Limits {
        max_range: Some(1_000),
        max_results: Some(5),
        throttle_every: Some(20),
    });
    d.rpc = proxy.url.clone();
    let capped = reads(&d, &b, "home-capped");
    assert_eq!(capped.0, direct.0, "status");
    assert_eq!(capped.1, direct.1, "export");
    assert_eq!(capped.2, direct.2, "report");
    let (answered, refused, throttled) = proxy.log_stats();
    assert!(
        answered >= 3 * 20,
        "three commands, each over 20,000 blocks in ranges of 1,000: {answered} reads"
    );
    assert!(refused > 0, "ranges were halved after refusals");
    assert!(throttled > 0, "some requests were rate limited and retried");

    // A second run with the same CONCORD_HOME reads only the blocks after its cache (the newest 12 blocks, which
    // may still be reorganised, are always read again).
    let again = reads(&d, &b, "home-capped");
    assert_eq!(again, capped, "the same answers from the cache");
    let (answered2, refused2, _) = proxy.log_stats();
    assert!(
        (answered2 - answered) * 10 < answered,
        "the second run asked for the newest blocks only: {} reads after {answered}",
        answered2 - answered
    );
    assert_eq!(refused2, refused, "small ranges: nothing refused");

    // A reorg deeper than the 12 confirmations replaces the block the cache ends at: the cache is dropped, the
    // events are read again, and the answers stay right.
    reorg(&d, 40).await;
    let after_reorg = reads(&d, &b, "home-capped");
    assert_eq!(after_reorg, capped, "the same answers after the reorg");
    let (answered3, _, _) = proxy.log_stats();
    assert!(
        answered3 - answered2 >= 3 * 20,
        "everything read again: {} reads",
        answered3 - answered2
    );
}

/// On-chain status of `bundle` in `batch` (0 none, 1 joined, 2 committed, 3 revealed).
async fn bundle_status(d: &Devnet, batch: &str, bundle: u64) -> u8 {
    let p = ProviderBuilder::new().connect_http(d.rpc.parse().expect("url"));
    concord_client::bindings::LabelMarketV2::new(d.deployment.market, &p)
        .bundleStatus(batch.parse().expect("batch"), U256::from(bundle))
        .call()
        .await
        .expect("bundle status")
}

async fn head(d: &Devnet) -> u64 {
    ProviderBuilder::new()
        .connect_http(d.rpc.parse().expect("url"))
        .get_block_number()
        .await
        .expect("block number")
}

/// A reorg replaces the blocks holding a commit, later a reveal: the annotator's next run notices (its store has
/// them confirmed, the chain does not), sends them again with the stored salt and labels, and is paid in full.
#[tokio::test(flavor = "multi_thread")]
async fn commits_and_reveals_a_reorg_removed_are_noticed_and_sent_again() {
    let d = Devnet::start(3, 0).await;
    let b = d.create_batch(3, &["--classes", "a,b,c", "--task-size", "3"]);
    d.stake_and_join_all(3, &b);
    let key = |i: usize| d.accounts.annotators[i].private_key.clone();
    for i in 0..3 {
        assert_eq!(
            d.my_tasks(&key(i), &b),
            vec![0],
            "annotator {i} holds task 0"
        );
    }
    let label = |i: usize| {
        d.json(
            ANN,
            Some(&key(i)),
            &[
                "label", "-b", &b, "-t", "0", "--labels", "a,b,c", "--commit",
            ],
        )
    };
    label(0);
    label(1);
    let before = head(&d).await;
    let l = label(2);
    assert_eq!(l["commit"]["done"], serde_json::json!([[0, 2]]), "{l}");
    assert_eq!(bundle_status(&d, &b, 2).await, 2, "committed");

    // The blocks since `before` are replaced with empty ones: annotator 2's commit is gone.
    reorg(&d, head(&d).await - before).await;
    assert_eq!(
        bundle_status(&d, &b, 2).await,
        1,
        "the reorg removed the commit (test precondition)"
    );
    let local = d.json(ANN, Some(&key(2)), &["status", "-b", &b]);
    assert_eq!(local["bundles"][0]["status"], "committed", "{local}");

    // `reveal` notices and says what to do, in one line; salt and labels stay.
    let o = d.cli(ANN, Some(&key(2)), &["reveal"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "a missing commit fails the reveal run");
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert!(
        err.contains("batch 0 bundle 2: its commit is no longer on the chain")
            && err.contains("concord-annotator commit"),
        "{err}"
    );
    // `commit` sends it again with the stored salt and labels.
    let before = head(&d).await;
    let c = d.json(ANN, Some(&key(2)), &["commit"]);
    assert_eq!(c["done"], serde_json::json!([[0, 2]]), "{c}");
    assert_eq!(bundle_status(&d, &b, 2).await, 2, "committed again");
    // A second reorg removes it again; this time `commit` itself notices, without a reveal run first.
    reorg(&d, head(&d).await - before).await;
    assert_eq!(bundle_status(&d, &b, 2).await, 1, "removed again");
    let c = d.json(ANN, Some(&key(2)), &["commit"]);
    assert_eq!(c["reorgedCommits"], serde_json::json!([[0, 2]]), "{c}");
    assert_eq!(c["done"], serde_json::json!([[0, 2]]), "{c}");
    assert_eq!(bundle_status(&d, &b, 2).await, 2, "committed again");
    let again = d.json(ANN, Some(&key(2)), &["commit"]);
    assert_eq!(again["reorgedCommits"], serde_json::json!([]), "{again}");

    // Every commit is in: reveals open. Annotator 0's reveal is then replaced by a reorg and sent again.
    let before = head(&d).await;
    for i in 0..3 {
        let r = d.json(ANN, Some(&key(i)), &["reveal"]);
        assert_eq!(r["done"].as_array().map(Vec::len), Some(1), "{r}");
    }
    reorg(&d, head(&d).await - before).await;
    assert_eq!(
        bundle_status(&d, &b, 0).await,
        2,
        "reveal removed (precondition)"
    );
    let r = d.json(ANN, Some(&key(0)), &["reveal"]);
    assert_eq!(r["reorgedReveals"], serde_json::json!([[0, 0]]), "{r}");
    assert_eq!(bundle_status(&d, &b, 0).await, 3, "revealed again");
    for i in 1..3 {
        d.json(ANN, Some(&key(i)), &["reveal"]);
        assert_eq!(bundle_status(&d, &b, i as u64).await, 3, "annotator {i}");
    }
    let s = d.json(
        REQ,
        Some(&d.accounts.requester.private_key),
        &["settle", "-b", &b],
    );
    assert_eq!(s["tasksSettled"], 1, "{s}");
    for i in 0..3 {
        let who = d.accounts.annotators[i].address;
        let before = d.holdings(who).await.0;
        d.json(ANN, Some(&key(i)), &["collect"]);
        assert_eq!(
            d.holdings(who).await.0 - before,
            U256::from(3u64) * U256::from(10u64).pow(U256::from(18u64)),
            "annotator {i}: 3 agreeing labels x 1 CCD, nothing lost"
        );
    }
}

/// A reorg replaces the block of a join: the next `commit` run says so in one line (nothing is locked for it) and
/// a new join of the same round works.
#[tokio::test(flavor = "multi_thread")]
async fn a_join_a_reorg_removed_is_reported_and_joining_again_works() {
    let d = Devnet::start(1, 0).await;
    let b = d.create_batch(6, &["--classes", "a,b", "--task-size", "3"]);
    let key = d.accounts.annotators[0].private_key.clone();
    d.json(ANN, Some(&key), &["stake", "100"]);
    let before = head(&d).await;
    let j = d.join(&key, &b, None);
    assert_eq!(j["joined"]["bundle"], 0, "{j}");
    assert_eq!(bundle_status(&d, &b, 0).await, 1, "joined");
    reorg(&d, head(&d).await - before).await;
    assert_eq!(
        bundle_status(&d, &b, 0).await,
        0,
        "the reorg removed the join (precondition)"
    );

    let o = d.cli(ANN, Some(&key), &["commit"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert!(
        err.contains("batch 0 bundle 0: its join is no longer on the chain")
            && err.contains("concord-annotator join -b 0"),
        "{err}"
    );
    let (_, locked) = d.holdings(d.accounts.annotators[0].address).await;
    assert_eq!(
        locked,
        U256::from(100u64) * U256::from(10u64).pow(U256::from(18u64))
    );
    let again = d.join(&key, &b, None);
    assert_eq!(
        again["joined"]["round"], 1,
        "the same round takes the join again: {again}"
    );
    assert_eq!(bundle_status(&d, &b, 0).await, 1, "joined again");
    let mine = d.json(ANN, Some(&key), &["status", "-b", &b]);
    assert_eq!(
        mine["bundles"][0]["status"], "joined",
        "the store follows the new join: {mine}"
    );
    let c = d.json(ANN, Some(&key), &["commit"]);
    assert_eq!(c["reorgedJoins"], serde_json::json!([]), "{c}");
}
