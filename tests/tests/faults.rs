//! Fault injection: the annotator CLI commits an 8-task pipeline through a proxy that breaks one request the way
//! real networks do. In every case: no label or salt is lost (all 8 tasks reveal in the end, which needs the
//! exact labels and salts of the commits), nothing is committed twice (exactly one `Committed` event per task),
//! a failing run ends with one clear line, and running the same command again finishes the work.

use alloy::primitives::{Address, U256};
use alloy::providers::{Provider, ProviderBuilder};
use concord_e2e::proxy::{Fault, Proxy};
use concord_e2e::Devnet;
use std::collections::BTreeSet;
use std::process::Output;
use std::time::{Duration, Instant};

const ANN: &str = "concord-annotator";
const TASKS: usize = 8;

struct Setup {
    d: Devnet,
    proxy: Proxy,
    batch: String,
    key: String,
    who: Address,
}

/// A devnet behind a proxy, a batch of 8 one-item tasks (r = 2), and one annotator who staked, claimed all 8
/// and labeled them — everything up to the commit.
async fn labeled_tasks() -> Setup {
    let mut d = Devnet::start(1, 0).await;
    let proxy = Proxy::start(&d.rpc).await;
    d.rpc = proxy.url.clone();
    let batch = d.create_batch(
        TASKS,
        &["--classes", "a,b,c", "--task-size", "1", "--replicas", "2"],
    );
    let key = d.accounts.annotators[0].private_key.clone();
    let who = d.accounts.annotators[0].address;
    d.json(ANN, Some(&key), &["stake", "400"]); // 8 claims x 40 CCD locked
    let claims = d.json(ANN, Some(&key), &["claim", "-b", &batch, "-n", "8"]);
    assert_eq!(claims.as_array().map(Vec::len), Some(TASKS), "{claims}");
    for t in 0..TASKS {
        let label = ["a", "b", "c"][t % 3];
        d.json(
            ANN,
            Some(&key),
            &[
                "label",
                "-b",
                &batch,
                "-t",
                &t.to_string(),
                "--labels",
                label,
            ],
        );
    }
    Setup {
        d,
        proxy,
        batch,
        key,
        who,
    }
}

impl Setup {
    fn commit(&self, extra: &[&str]) -> Output {
        let mut args = vec!["commit", "-b", &self.batch, "--json"];
        args.extend_from_slice(extra);
        self.d.cli(ANN, Some(&self.key), &args)
    }

    /// The error of a failed run (`--json`: the per-task report, then one `{"error": ...}` line).
    fn error_of(out: &Output) -> String {
        assert!(!out.status.success(), "the run must fail: {out:?}");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let last = stdout.lines().last().unwrap_or_default();
        let v: serde_json::Value = serde_json::from_str(last).expect("json error line");
        v["error"].as_str().expect("error message").to_string()
    }

    /// Asserts a run succeeded and returns the tasks it committed.
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

    /// Every task committed exactly once on-chain, then revealed with the stored labels and salts.
    async fn assert_nothing_lost_nothing_doubled(&self) {
        let p = ProviderBuilder::new().connect_http(self.proxy.url.parse().expect("url"));
        let market = concord_client::bindings::LabelMarket::new(self.d.deployment.market, &p);
        let events = market
            .Committed_filter()
            .from_block(0)
            .topic3(self.who.into_word())
            .query()
            .await
            .expect("Committed events");
        let tasks: Vec<u64> = events.iter().map(|(e, _)| e.taskId.to::<u64>()).collect();
        let distinct: BTreeSet<u64> = tasks.iter().copied().collect();
        assert_eq!(
            tasks.len(),
            TASKS,
            "one Committed event per task: {tasks:?}"
        );
        assert_eq!(distinct.len(), TASKS, "no task committed twice: {tasks:?}");
        // Reveal opens after the commit deadline (the second replica never came).
        self.d.advance(3601).await;
        let r = self
            .d
            .json(ANN, Some(&self.key), &["reveal", "-b", &self.batch]);
        assert_eq!(
            r["done"].as_array().map(Vec::len),
            Some(TASKS),
            "every commit reveals with its stored labels and salt: {r}"
        );
        for t in 0..TASKS {
            let a = market
                .assignmentOf(self.batch.parse().expect("batch"), U256::from(t), self.who)
                .call()
                .await
                .expect("assignment");
            assert_eq!(a.status, 3, "task {t} revealed on-chain");
        }
    }

    /// One `commit` run finishes all tasks with exactly `extra_txs` transactions besides the 8 commits.
    async fn commits_in_one_run(&self, options: &[&str], extra_txs: u64) {
        let nonce = self.nonce().await;
        assert_eq!(Setup::done(&self.commit(options)), TASKS);
        assert_eq!(
            self.nonce().await,
            nonce + TASKS as u64 + extra_txs,
            "8 commits plus {extra_txs} other transactions, no more"
        );
    }

    /// The first `commit` run fails with a message containing every `expected` part; the fault is disarmed and a
    /// second run re-sends only the one failed commit; nothing is lost or doubled.
    async fn fails_then_the_next_run_finishes(&self, expected: &[&str]) {
        let err = Setup::error_of(&self.commit(&[]));
        assert!(expected.iter().all(|e| err.contains(e)), "{err}");
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
    let s = labeled_tasks().await;
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
    assert_eq!(Setup::done(&s.commit(&[])), TASKS);
    s.assert_nothing_lost_nothing_doubled().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_submission_that_times_out_is_not_sent_twice() {
    let s = labeled_tasks().await;
    // The 4th commit reaches the node, but its answer arrives after the client's 2 s request timeout.
    s.proxy.arm(Fault::Delay(3, Duration::from_secs(5)));
    s.commits_in_one_run(&["--rpc-timeout", "2"], 0).await;
    let sent = s.proxy.forwarded();
    assert_eq!(sent.len(), TASKS, "each commit submitted once: {sent:?}");
    s.assert_nothing_lost_nothing_doubled().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_transaction_is_re_broadcast_with_the_same_nonce() {
    let s = labeled_tasks().await;
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
    let s = labeled_tasks().await;
    // Another process with the same key sends a transaction with the nonce of the 4th commit, just before it.
    s.proxy.arm(Fault::Steal(3, s.key.clone()));
    s.commits_in_one_run(&[], 1).await;
    s.assert_nothing_lost_nothing_doubled().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_transaction_whose_nonce_was_taken_fails_clearly_then_the_next_run_finishes() {
    let s = labeled_tasks().await;
    // The 4th commit is lost and another process spends its nonce: it can never be mined.
    s.proxy.arm(Fault::DropAndSteal(3, s.key.clone()));
    s.fails_then_the_next_run_finishes(&["was used by another transaction", "7 tasks confirmed"])
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_reverting_mid_pipeline_leaves_the_rest_and_the_next_run_finishes() {
    let s = labeled_tasks().await;
    // One commit of the pipeline gets a stale (too low) gas estimate and runs out of gas on-chain.
    s.proxy.arm(Fault::LowEstimate(3));
    s.fails_then_the_next_run_finishes(&["reverted on-chain", "out of gas", "7 tasks confirmed"])
        .await;
}
