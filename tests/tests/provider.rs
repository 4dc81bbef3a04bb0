//! Event reads through a provider-like proxy: `eth_getLogs` capped in block range and in results, and HTTP 429
//! at random, as public RPC providers do. A batch spread over more than 20,000 blocks reads the same through the
//! proxy as from the node directly.

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

/// What the requester reads from events: status, the JSONL export, the quality report.
fn reads(d: &Devnet, b: &str, tag: &str) -> (serde_json::Value, String, serde_json::Value) {
    let out = d
        .dir
        .join(format!("export-{tag}.jsonl"))
        .display()
        .to_string();
    let status = d.json(REQ, None, &["status", "-b", b]);
    d.json(REQ, None, &["export", "-b", b, "-o", &out]);
    let export = std::fs::read_to_string(&out).expect("export written");
    let report = d.json(REQ, None, &["report", "-b", b]);
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
    for i in 0..3 {
        let key = d.accounts.annotators[i].private_key.clone();
        d.json(ANN, Some(&key), &["stake", "100"]);
        d.join(&key, &b, None);
    }
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

    let direct = reads(&d, &b, "direct");
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
    let capped = reads(&d, &b, "capped");
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
}
