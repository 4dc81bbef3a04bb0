//! Fault injection: the annotator CLI commits a pipeline of 8 bundles (one per batch: v2 takes one join per round,
//! so 8 commit transactions need 8 batches) through a proxy that breaks one request the way real networks do. In
//! every case: no label or salt is lost (all 8 bundles reveal in the end, which needs the exact labels and salts
//! of the commits, and the revealed words are the labels chosen), nothing is committed twice (exactly one
//! `Committed` event per bundle), a failing run ends with one clear line, and running the same command again
//! finishes the work.

use alloy::primitives::Address;
use alloy::providers::{Provider, ProviderBuilder};
use alloy::transports::http::reqwest;
use concord_e2e::proxy::{Fault, Proxy};
use concord_e2e::Devnet;
use concord_protocol::bundle::pack_bundle;
use std::collections::{BTreeMap, BTreeSet};
use std::process::Output;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

const ANN: &str = "concord-annotator";
/// Bundles in the pipeline (one per batch).
const BUNDLES: usize = 8;
/// Tasks per bundle: each batch has 4 items in tasks of 2, two lanes; the annotator's join takes its whole lane.
const TASKS_PER_BUNDLE: usize = 2;
const CLASSES: [&str; 3] = ["a", "b", "c"];

/// The label the annotator gives item `i` of every batch (`answers.csv`): class `i % 3`.
fn label_of(item: u64) -> u8 {
    (item % 3) as u8
}

struct Setup {
    d: Devnet,
    proxy: Proxy,
    batches: Vec<String>,
    key: String,
    who: Address,
}

/// A devnet behind a proxy, 8 batches of 2 tasks of 2 items (r = 2), and one annotator who staked, joined each
/// batch for its lane (a bundle of 2 tasks), learned the tasks once the rounds sealed and labeled them all from an
/// answers file — everything up to the commit.
async fn labeled_bundles() -> Setup {
    let mut d = Devnet::start(1, 0).await;
    let proxy = Proxy::start(&d.rpc).await;
    d.rpc = proxy.url.clone();
    let batches: Vec<String> = (0..BUNDLES)
        .map(|_| {
            d.create_batch(
                2 * TASKS_PER_BUNDLE,
                &["--classes", "a,b,c", "--task-size", "2", "--replicas", "2"],
            )
        })
        .collect();
    let key = d.accounts.annotators[0].private_key.clone();
    let who = d.accounts.annotators[0].address;
    d.json(ANN, Some(&key), &["stake", "640"]); // 8 bundles x 2 tasks x 40 CCD locked
    for b in &batches {
        let j = d.join(&key, b, None);
        assert_eq!(
            j["joined"]["size"], TASKS_PER_BUNDLE,
            "the join takes the lane's 2 tasks: {j}"
        );
    }
    // Nobody joins the second lanes: the rounds seal once their join windows pass (`status` seals them).
    d.end_join_window(&batches[BUNDLES - 1]).await;
    let t0 = Instant::now();
    loop {
        let v = d.json(ANN, Some(&key), &["status"]);
        let drawn = v["bundles"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|b| b["tasks"].is_array())
            .count();
        if drawn == BUNDLES {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "tasks never drawn: {v}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let answers: String = (0..2 * TASKS_PER_BUNDLE as u64)
        .map(|i| format!("it-{i},{}\n", CLASSES[usize::from(label_of(i))]))
        .collect();
    let answers = d.file("answers.csv", &format!("id,label\n{answers}"));
    for b in &batches {
        let l = d.json(ANN, Some(&key), &["label", "-b", b, "--from", &answers]);
        assert_eq!(
            l["tasks"].as_array().map(Vec::len),
            Some(TASKS_PER_BUNDLE),
            "{l}"
        );
    }
    Setup {
        d,
        proxy,
        batches,
        key,
        who,
    }
}

impl Setup {
    /// `commit --json` of every batch (one pipeline of 8 commits).
    fn commit(&self, extra: &[&str]) -> Output {
        self.commit_via(&self.proxy.url, extra)
    }

    /// [`Setup::commit`] through the node at `rpc`.
    fn commit_via(&self, rpc: &str, extra: &[&str]) -> Output {
        let mut args = vec!["commit", "--json"];
        args.extend_from_slice(extra);
        self.d
            .cli_env(ANN, Some(&self.key), &args, &[("ETH_RPC_URL", rpc)])
    }

    /// The error of a failed run (`--json`: the per-bundle report, then one `{"error": ...}` line).
    fn error_of(out: &Output) -> String {
        assert!(!out.status.success(), "the run must fail: {out:?}");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let last = stdout.lines().last().unwrap_or_default();
        let v: serde_json::Value = serde_json::from_str(last).expect("json error line");
        v["error"].as_str().expect("error message").to_string()
    }

    /// Asserts a run succeeded and returns the bundles it committed.
    fn done(out: &Output) -> usize {
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "run failed\nstdout: {stdout}\nstderr: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value =
            serde_json::from_str(stdout.lines().last().unwrap_or("null")).expect("json");
        v["done"].as_array().map(Vec::len).unwrap_or(0)
    }

    /// Every bundle committed exactly once on-chain, then revealed with the stored labels and salts, and the
    /// revealed words are the labels of the answers file for the bundle's tasks.
    async fn assert_nothing_lost_nothing_doubled(&self) {
        let p = ProviderBuilder::new().connect_http(self.proxy.url.parse().expect("url"));
        let market = concord_client::bindings::LabelMarketV2::new(self.d.deployment.market, &p);
        let events = market
            .Committed_filter()
            .from_block(0)
            .topic3(self.who.into_word())
            .query()
            .await
            .expect("Committed events");
        let commits: Vec<(u64, u64)> = events
            .iter()
            .map(|(e, _)| (e.batchId.to::<u64>(), e.bundleId.to::<u64>()))
            .collect();
        let distinct: BTreeSet<(u64, u64)> = commits.iter().copied().collect();
        assert_eq!(
            commits.len(),
            BUNDLES,
            "one Committed event per bundle: {commits:?}"
        );
        assert_eq!(
            distinct.len(),
            BUNDLES,
            "no bundle committed twice: {commits:?}"
        );
        // The tasks of each bundle, as the annotator's store has them.
        let st = self.d.json(ANN, Some(&self.key), &["status"]);
        let tasks: BTreeMap<(u64, u64), Vec<u64>> = st["bundles"]
            .as_array()
            .expect("bundles")
            .iter()
            .map(|b| {
                let id = (
                    b["batch"].as_u64().expect("batch"),
                    b["bundle"].as_u64().expect("bundle"),
                );
                let t = b["tasks"]
                    .as_array()
                    .expect("tasks")
                    .iter()
                    .map(|t| t.as_u64().expect("task"))
                    .collect();
                (id, t)
            })
            .collect();
        assert_eq!(
            tasks.keys().copied().collect::<BTreeSet<_>>(),
            distinct,
            "{st}"
        );
        // Reveals open after the commit deadline (the second lanes never came).
        self.past_commit_deadline().await;
        let r = self.d.json(ANN, Some(&self.key), &["reveal"]);
        assert_eq!(
            r["done"].as_array().map(Vec::len),
            Some(BUNDLES),
            "every commit reveals with its stored labels and salt: {r}"
        );
        let revealed = market
            .Revealed_filter()
            .from_block(0)
            .topic3(self.who.into_word())
            .query()
            .await
            .expect("Revealed events");
        assert_eq!(revealed.len(), BUNDLES, "one reveal per bundle");
        for (e, _) in &revealed {
            let id = (e.batchId.to::<u64>(), e.bundleId.to::<u64>());
            let want: Vec<Vec<u8>> = tasks[&id]
                .iter()
                .map(|t| (2 * t..2 * t + 2).map(label_of).collect())
                .collect();
            assert_eq!(
                Some(e.labels.clone()),
                pack_bundle(&want),
                "bundle {id:?} revealed the labels chosen for its tasks {:?}",
                tasks[&id]
            );
            let s = market
                .bundleStatus(e.batchId, e.bundleId)
                .call()
                .await
                .expect("bundle status");
            assert_eq!(s, 3, "bundle {id:?} revealed on-chain");
        }
    }

    /// Moves chain time past the batches' commit deadline (the last batch's is the latest).
    async fn past_commit_deadline(&self) {
        let b = &self.batches[BUNDLES - 1];
        let v = self.d.json("concord-requester", None, &["status", "-b", b]);
        let (now, end) = (
            v["now"].as_u64().expect("now"),
            v["commitDeadline"].as_u64().expect("deadline"),
        );
        if now <= end {
            self.d.advance(end + 1 - now).await;
        }
    }

    /// One `commit` run finishes all bundles with exactly `extra_txs` transactions besides the 8 commits.
    async fn commits_in_one_run(&self, options: &[&str], extra_txs: u64) {
        let nonce = self.nonce().await;
        assert_eq!(Setup::done(&self.commit(options)), BUNDLES);
        assert_eq!(
            self.nonce().await,
            nonce + BUNDLES as u64 + extra_txs,
            "8 commits plus {extra_txs} other transactions, no more"
        );
    }

    /// The `first` commit run failed with a message containing every `expected` part; the fault is disarmed and
    /// a second run (straight through the proxy) re-sends only the one failed commit; nothing is lost or doubled.
    async fn fails_then_the_next_run_finishes(&self, first: Output, expected: &[&str]) {
        let err = Setup::error_of(&first);
        assert!(expected.iter().all(|e| err.contains(e)), "{err}");
        assert!(
            err.contains("run the same command again"),
            "says what to do: {err}"
        );
        self.proxy.arm(Fault::None);
        assert_eq!(
            Setup::done(&self.commit(&[])),
            1,
            "only the failed commit is re-sent"
        );
        self.assert_nothing_lost_nothing_doubled().await;
    }

    /// Transactions the annotator's account has sent (its nonce).
    async fn nonce(&self) -> u64 {
        let p = ProviderBuilder::new().connect_http(self.proxy.url.parse().expect("url"));
        p.get_transaction_count(self.who).await.expect("nonce")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_restarted_from_a_state_dump_mid_pipeline() {
    let s = labeled_bundles().await;
    // The node dies at the 4th commit and is back 12 s later, restarted from a dump of its state.
    s.proxy.arm(Fault::Crash(3, Duration::from_secs(12)));
    let first = s.commit(&[]);
    let err = Setup::error_of(&first);
    assert!(
        err.contains("cannot reach the RPC") || err.contains("lost the node"),
        "says the node is unreachable: {err}"
    );
    assert!(err.contains("run the same command again"), "{err}");
    let t0 = Instant::now();
    while s.proxy.is_down() && t0.elapsed() < Duration::from_secs(60) {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(!s.proxy.is_down(), "the node came back");
    // The second run checks on-chain which commits the dump kept and re-sends the others with the same salts.
    assert_eq!(Setup::done(&s.commit(&[])), BUNDLES);
    s.assert_nothing_lost_nothing_doubled().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_submission_that_times_out_is_not_sent_twice() {
    let s = labeled_bundles().await;
    // The 4th commit reaches the node, but its answer arrives after the client's 2 s request timeout.
    s.proxy.arm(Fault::Delay(3, Duration::from_secs(5)));
    s.commits_in_one_run(&["--rpc-timeout", "2"], 0).await;
    let sent = s.proxy.forwarded();
    assert_eq!(sent.len(), BUNDLES, "each commit submitted once: {sent:?}");
    s.assert_nothing_lost_nothing_doubled().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_transaction_is_re_broadcast_with_the_same_nonce() {
    let s = labeled_bundles().await;
    // The node accepts the 4th commit and then loses it from its pool.
    s.proxy.arm(Fault::Drop(3));
    s.commits_in_one_run(&[], 0).await;
    let lost = s.proxy.swallowed();
    assert_eq!(lost.len(), 1);
    let sent = s.proxy.forwarded();
    assert_eq!(
        sent.iter().filter(|h| **h == lost[0]).count(),
        1,
        "the very same signed transaction (same nonce, same hash) was sent again"
    );
    s.assert_nothing_lost_nothing_doubled().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nonce_taken_by_another_process_is_re_signed() {
    let s = labeled_bundles().await;
    // Another process with the same key sends a transaction with the nonce of the 4th commit, just before it.
    s.proxy.arm(Fault::Steal(3, s.key.clone()));
    s.commits_in_one_run(&[], 1).await;
    s.assert_nothing_lost_nothing_doubled().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_transaction_whose_nonce_was_taken_fails_clearly_then_the_next_run_finishes() {
    let s = labeled_bundles().await;
    // The 4th commit is lost and another process spends its nonce: it can never be mined.
    s.proxy.arm(Fault::DropAndSteal(3, s.key.clone()));
    let first = s.commit(&[]);
    s.fails_then_the_next_run_finishes(
        first,
        &["was used by another transaction", "7 bundles confirmed"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_reverting_mid_pipeline_leaves_the_rest_and_the_next_run_finishes() {
    let s = labeled_bundles().await;
    // One commit of the pipeline gets a stale (too low) gas estimate and runs out of gas on-chain. (The proxy's
    // `LowEstimate` answers 21,000 gas, below a v2 commit's calldata floor: such a transaction is refused, or
    // silently discarded by anvil, and never runs. A stale estimate is one the state outgrew: 3/5 of the real one.)
    let relay = stale_estimate_relay(&s.proxy.url, 3).await;
    let first = s.commit_via(&relay, &[]);
    s.fails_then_the_next_run_finishes(
        first,
        &["reverted on-chain", "out of gas", "7 bundles confirmed"],
    )
    .await;
}

/// A JSON-RPC relay in front of `upstream` that answers its `nth` `eth_estimateGas` (from 0) with 3/5 of the real
/// estimate and forwards everything else unchanged; returns its URL.
async fn stale_estimate_relay(upstream: &str, nth: usize) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind relay");
    let url = format!(
        "http://127.0.0.1:{}",
        listener.local_addr().expect("relay addr").port()
    );
    let upstream = upstream.to_string();
    let estimates = Arc::new(AtomicUsize::new(0));
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            tokio::spawn(relay_conn(sock, upstream.clone(), estimates.clone(), nth));
        }
    });
    url
}

/// Serves one keep-alive HTTP/1.1 connection of the relay.
async fn relay_conn(
    sock: tokio::net::TcpStream,
    upstream: String,
    estimates: Arc<AtomicUsize>,
    nth: usize,
) {
    let http = reqwest::Client::new();
    let mut r = BufReader::new(sock);
    loop {
        let mut len = 0usize;
        loop {
            let mut line = String::new();
            if r.read_line(&mut line).await.unwrap_or(0) == 0 {
                return;
            }
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':') {
                if k.trim().eq_ignore_ascii_case("content-length") {
                    len = v.trim().parse().unwrap_or(0);
                }
            }
        }
        let mut body = vec![0; len];
        if r.read_exact(&mut body).await.is_err() {
            return;
        }
        let req: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        let Ok(resp) = http
            .post(&upstream)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
        else {
            return;
        };
        let Ok(mut answer) = resp.bytes().await.map(|b| b.to_vec()) else {
            return;
        };
        if req["method"] == "eth_estimateGas" && estimates.fetch_add(1, Ordering::SeqCst) == nth {
            let mut v: serde_json::Value = serde_json::from_slice(&answer).unwrap_or_default();
            let gas = v["result"]
                .as_str()
                .and_then(|h| u64::from_str_radix(h.trim_start_matches("0x"), 16).ok())
                .expect("an estimate");
            v["result"] = format!("{:#x}", gas * 3 / 5).into();
            answer = v.to_string().into_bytes();
        }
        let head = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
            answer.len()
        );
        let w = r.get_mut();
        if w.write_all(head.as_bytes()).await.is_err() || w.write_all(&answer).await.is_err() {
            return;
        }
    }
}
