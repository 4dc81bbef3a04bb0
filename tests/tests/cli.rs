//! End-to-end: the real `concord-requester` / `concord-annotator` binaries against a real anvil chain.

use alloy::primitives::U256;
use concord_e2e::proxy::{Fault, Proxy};
use concord_e2e::Devnet;

const REQ: &str = "concord-requester";
const ANN: &str = "concord-annotator";

/// Publishes a 3-item batch (one task of 3, r = 3, classes a,b,c) and returns its id.
fn one_task_batch(d: &Devnet) -> String {
    d.create_batch(3, &["--classes", "a,b,c", "--task-size", "3"])
}

/// Annotators `0..n` stake 100 CCD and join `b` in that order: each gets one position (the only task) in a lane of
/// its own, bundle `i`; the last join fills round 1 and seals it, so every bundle holds task 0.
fn stake_and_join(d: &Devnet, n: usize, b: &str) {
    for i in 0..n {
        let key = &d.accounts.annotators[i].private_key;
        d.json(ANN, Some(key), &["stake", "100"]);
        let j = d.join(key, b, None);
        assert_eq!(
            j["joined"]["bundle"], i,
            "bundle ids follow join order: {j}"
        );
        assert_eq!(j["joined"]["lane"], i, "one lane per annotator: {j}");
        assert_eq!(
            j["joined"]["size"], 1,
            "a lane of a one-task batch has one position: {j}"
        );
        assert_eq!(
            j["joined"]["stakeLocked"], "40",
            "1 task x 40 CCD stake per task: {j}"
        );
    }
    for i in 0..n {
        assert_eq!(
            d.my_tasks(&d.accounts.annotators[i].private_key, b),
            vec![0],
            "the sealed round gave annotator {i} task 0"
        );
    }
}

// Multi-threaded: the proxy answers while this thread blocks on the CLI processes.
#[tokio::test(flavor = "multi_thread")]
async fn crash_between_commit_and_reveal_then_reveal_still_pays() {
    let mut d = Devnet::start(3, 0).await;
    let proxy = Proxy::start(&d.rpc).await;
    d.rpc = proxy.url.clone();
    let b = one_task_batch(&d);
    stake_and_join(&d, 3, &b);
    for i in 0..2 {
        d.json(
            ANN,
            Some(&d.accounts.annotators[i].private_key),
            &[
                "label", "-b", &b, "-t", "0", "--labels", "a,b,c", "--commit",
            ],
        );
    }
    // Annotator 2 dies right after its commit landed, before its store recorded it: the proxy holds every
    // request after the commit transaction, and the process is killed while it waits for the receipt.
    let key = d.accounts.annotators[2].private_key.clone();
    proxy.arm(Fault::HangAfterSend(0));
    let mut child = d.spawn(
        ANN,
        Some(&key),
        &[
            "label", "-b", &b, "-t", "0", "--labels", "a,b,c", "--commit",
        ],
    );
    let started = std::time::Instant::now();
    while !proxy.is_hanging() {
        assert!(
            started.elapsed().as_secs() < 60,
            "the commit never reached the node"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    child.kill().expect("kill the annotator");
    let crashed = child.wait().expect("wait for the annotator");
    proxy.arm(Fault::None);
    assert!(
        !crashed.success(),
        "the injected crash must kill the process"
    );
    let status = d.json(ANN, Some(&key), &["status"]);
    assert_eq!(
        status["bundles"][0]["status"], "committing",
        "the store kept the salt but not the outcome: {status}"
    );
    assert_eq!(status["bundles"][0]["bundle"], 2, "{status}");
    assert!(status["bundles"][0]["salt"].is_string(), "{status}");

    // Run the CLI again: the reveal goes through with the salt written before the crash (its commit landed, so
    // every position is committed and reveals are open). Reports are (batch, bundle): annotator 2's bundle is 2.
    let r = d.json(ANN, Some(&key), &["reveal"]);
    assert_eq!(r["done"], serde_json::json!([[0, 2]]), "{r}");
    for i in 0..2 {
        d.json(
            ANN,
            Some(&d.accounts.annotators[i].private_key),
            &["reveal"],
        );
    }
    let s = d.json(
        REQ,
        Some(&d.accounts.requester.private_key),
        &["settle", "-b", &b],
    );
    assert_eq!(s["tasksSettled"], 1);
    let who = d.accounts.annotators[2].address;
    let before = d.holdings(who).await.0;
    d.json(ANN, Some(&key), &["collect"]);
    let after = d.holdings(who).await.0;
    assert_eq!(
        after - before,
        U256::from(3u64) * U256::from(10u64).pow(U256::from(18u64)),
        "3 agreeing labels x 1 CCD paid"
    );
}

#[tokio::test]
async fn new_machine_with_only_the_key_recovers_the_reveal_from_the_backup() {
    let d = Devnet::start(3, 0).await;
    let b = one_task_batch(&d);
    stake_and_join(&d, 3, &b);
    for i in 0..3 {
        d.json(
            ANN,
            Some(&d.accounts.annotators[i].private_key),
            &[
                "label", "-b", &b, "-t", "0", "--labels", "b,b,a", "--commit",
            ],
        );
    }
    // Annotator 0 loses its laptop: a fresh, empty store.
    let key = d.accounts.annotators[0].private_key.clone();
    let fresh = d
        .dir
        .as_path()
        .join("new-laptop.sqlite")
        .display()
        .to_string();
    let r = d.json(ANN, Some(&key), &["reveal", "--store", &fresh]);
    assert_eq!(r["recovered"], 1, "{r}");
    assert_eq!(r["done"], serde_json::json!([[0, 0]]), "{r}");
    for i in 1..3 {
        d.json(
            ANN,
            Some(&d.accounts.annotators[i].private_key),
            &["reveal"],
        );
    }
    d.json(
        REQ,
        Some(&d.accounts.requester.private_key),
        &["settle", "-b", &b],
    );
    let one = U256::from(10u64).pow(U256::from(18u64));
    assert_eq!(
        d.claimable(d.accounts.annotators[0].address).await,
        U256::from(3u64) * one,
        "3 agreeing labels paid"
    );
    let st = d.json(ANN, Some(&key), &["status", "--store", &fresh]);
    assert_eq!(st["standing"]["accepted"], 3, "{st}");
    assert_eq!(
        st["standing"]["locked"], "0",
        "settlement unlocked the task's stake: {st}"
    );
    assert_eq!(st["bundles"][0]["status"], "revealed", "{st}");
    assert_eq!(st["bundles"][0]["tasks"], serde_json::json!([0]), "{st}");
}

#[test]
fn demo_plays_a_full_round_and_careful_annotators_profit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = std::process::Command::new(concord_e2e::bin_dir().join("concord-devnet"))
        .args(["demo", "--dir"])
        .arg(dir.path())
        .current_dir(concord_e2e::repo_root())
        .output()
        .expect("run concord-devnet demo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "demo failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = stdout
        .lines()
        .find(|l| l.contains("consensus accuracy vs shipped answers"))
        .expect("accuracy line");
    let pct: f64 = line
        .rsplit("= ")
        .next()
        .and_then(|s| s.trim_end_matches('%').parse().ok())
        .expect("percentage");
    assert!(pct >= 90.0, "consensus accuracy {pct}% < 90%:\n{stdout}");
    let net = |kind: &str| -> f64 {
        let l = stdout
            .lines()
            .find(|l| l.contains(&format!("net per {kind}")))
            .expect("net line");
        l.split_whitespace()
            .find(|w| w.starts_with('+') || w.starts_with('-'))
            .and_then(|w| w.parse().ok())
            .expect("amount")
    };
    assert!(net("careful") > 0.0, "{stdout}");
    assert!(net("never reveals") < 0.0, "{stdout}");
    let exported =
        std::fs::read_to_string(dir.path().join("dataset.jsonl")).expect("export written");
    assert_eq!(exported.lines().count(), 240, "one row per item");
}

#[tokio::test]
async fn qualification_gate_needs_the_qualifiers_attestation() {
    let d = Devnet::start(1, 0).await;
    let qualifier = d.accounts.reviewer.address.to_string();
    let b = d.create_batch(
        3,
        &[
            "--classes",
            "a,b",
            "--task-size",
            "3",
            "--qualifier",
            &qualifier,
        ],
    );
    let key = d.accounts.annotators[0].private_key.clone();
    d.json(ANN, Some(&key), &["stake", "100"]);
    let denied = d.cli(ANN, Some(&key), &["join", "-b", &b]);
    assert!(
        String::from_utf8_lossy(&denied.stderr).contains("requires a qualification"),
        "{denied:?}"
    );

    // The requester's own key is not the qualifier: refused before signing anything.
    let me = d.accounts.annotators[0].address.to_string();
    let wrong = d.cli(
        REQ,
        Some(&d.accounts.requester.private_key),
        &["attest", "-b", &b, "--annotator", &me],
    );
    assert!(
        String::from_utf8_lossy(&wrong.stderr).contains("sign with the qualifier key"),
        "{wrong:?}"
    );

    let att = d.json(
        REQ,
        Some(&d.accounts.reviewer.private_key),
        &["attest", "-b", &b, "--annotator", &me],
    );
    let deadline = att["deadline"].as_u64().expect("deadline").to_string();
    let sig = att["signature"].as_str().expect("signature").to_string();
    d.json(
        ANN,
        Some(&key),
        &[
            "qualify",
            "-b",
            &b,
            "--deadline",
            &deadline,
            "--signature",
            &sig,
        ],
    );
    // Qualified, it joins (`claim` is the old name of `join`): one position of the batch's only task. The round
    // does not fill (one annotator, three lanes), so its tasks are drawn once the join window passes.
    let c = d.json(ANN, Some(&key), &["claim", "-b", &b]);
    assert_eq!(c["joined"]["size"], 1, "{c}");
    assert_eq!(c["tasks"], serde_json::Value::Null, "not sealed yet: {c}");
    assert_eq!(c["pending"]["waitingFor"], "joins", "{c}");
    d.end_join_window(&b).await;
    assert_eq!(d.my_tasks(&key, &b), vec![0]);
}

/// `--max-fee-per-gas` and `--priority-gas-price` (as in cast) set what the transaction may pay.
#[tokio::test]
async fn fee_flags_bound_what_a_transaction_pays() {
    use alloy::consensus::Transaction as _;
    use alloy::providers::{Provider, ProviderBuilder};
    let d = Devnet::start(1, 0).await;
    let key = d.accounts.annotators[0].private_key.clone();
    d.json(
        ANN,
        Some(&key),
        &[
            "stake",
            "5",
            "--max-fee-per-gas",
            "50gwei",
            "--priority-gas-price",
            "3gwei",
        ],
    );
    let p = ProviderBuilder::new().connect_http(d.rpc.parse().expect("url"));
    let block = p
        .get_block_by_number(alloy::eips::BlockNumberOrTag::Latest)
        .full()
        .await
        .expect("block")
        .expect("latest block");
    let tx = block
        .transactions
        .into_transactions()
        .last()
        .expect("the stake transaction");
    assert_eq!(tx.max_priority_fee_per_gas(), Some(3_000_000_000));
    assert!(
        tx.max_fee_per_gas() <= 50_000_000_000,
        "{}",
        tx.max_fee_per_gas()
    );
}

/// `create --dry-run` prices a batch from a simulation and sends and writes nothing; the real create and the
/// first join then cost what it said (same chain state, so within a few percent).
#[tokio::test]
async fn create_dry_run_prices_the_batch_and_sends_nothing() {
    use alloy::providers::{Provider, ProviderBuilder};
    let d = Devnet::start(1, 0).await;
    let p = ProviderBuilder::new().connect_http(d.rpc.parse().expect("url"));
    let req = d.accounts.requester.clone();
    let ds = d.file("items.jsonl", &concord_e2e::dataset(100, None));
    let out = d.dir.join("dry").display().to_string();
    let args = [
        "create",
        &ds,
        "--classes",
        "a,b,c",
        "--task-size",
        "10",
        "--reward",
        "0.5",
        "--out-dir",
        &out,
        "--dry-run",
    ];
    let nonce = p.get_transaction_count(req.address).await.expect("nonce");
    let held = d.holdings(req.address).await;
    let v = d.json(REQ, Some(&req.private_key), &args);
    assert_eq!(
        (
            &v["numTasks"],
            &v["escrow"],
            &v["rewardPerTask"],
            &v["tasksPerJoin"]
        ),
        (&10.into(), &"150".into(), &"5".into(), &8.into()),
        "100 items x 3 labels x 0.5; 10 tasks of 10, joins of 8: {v}"
    );
    assert_eq!(v["balanceCovers"], true, "{v}");
    assert!(v["notSimulated"].is_null(), "anvil simulates: {v}");
    let gas = |k: &str| v["gas"][k].as_u64().unwrap_or(0);
    assert_eq!(
        v["annotatorGasPerTask"].as_u64(),
        Some((gas("join") + gas("commit") + gas("reveal")).div_ceil(8)),
        "{v}"
    );
    assert_eq!(
        v["requesterGas"].as_u64(),
        Some(gas("approve") + gas("create"))
    );
    assert_eq!(
        p.get_transaction_count(req.address).await.expect("nonce"),
        nonce,
        "nothing was sent"
    );
    assert_eq!(d.holdings(req.address).await, held, "nothing escrowed");
    assert!(
        !std::path::Path::new(&out).exists(),
        "no manifest or gold file written"
    );
    let human = d.cli(REQ, Some(&req.private_key), &args);
    let text = String::from_utf8_lossy(&human.stdout);
    assert!(
        human.status.success()
            && text.contains("dry run: nothing was sent")
            && text.contains("an annotator pays per task"),
        "{text}"
    );

    // The same batch for real: the receipts match the simulation.
    let created = d.json(REQ, Some(&req.private_key), &args[..args.len() - 1]);
    let tx: alloy::primitives::B256 = created["tx"].as_str().expect("tx").parse().expect("hash");
    let receipt = p
        .get_transaction_receipt(tx)
        .await
        .expect("receipt")
        .expect("mined");
    let close = |real: u64, sim: u64| real.abs_diff(sim) * 20 <= real;
    assert!(
        close(receipt.gas_used, gas("create")),
        "create: {} real vs {} simulated",
        receipt.gas_used,
        gas("create")
    );
    let ann = &d.accounts.annotators[0].private_key;
    d.json(ANN, Some(ann), &["stake", "400"]);
    let j = d.join(ann, "0", None);
    assert_eq!(j["joined"]["size"], 8, "{j}");
    let joined = p
        .get_logs(
            &alloy::rpc::types::Filter::new()
                .address(d.deployment.market)
                .event_signature(<concord_client::bindings::LabelMarketV2::Joined as alloy::sol_types::SolEvent>::SIGNATURE_HASH)
                .from_block(0),
        )
        .await
        .expect("Joined logs");
    let tx = joined
        .last()
        .and_then(|l| l.transaction_hash)
        .expect("the join's transaction");
    let receipt = p
        .get_transaction_receipt(tx)
        .await
        .expect("receipt")
        .expect("mined");
    assert!(
        close(receipt.gas_used, gas("join")),
        "join: {} real vs {} simulated",
        receipt.gas_used,
        gas("join")
    );
}

/// `commit --join-next`: a commit that also joins the next round in the same transaction. Annotator 0 commits its
/// two tasks of lane 0 and asks for two tasks of round 2 before round 2 opens; the client reserves only what the
/// next round is sure to have — the one lane-0 position nobody joined in round 1. `status` opens round 2 after
/// round 1's commits, the reserved bundle holds that task, and it is committed, revealed, settled and paid like
/// any other. Annotator 1, whose unlocked stake covers no task, commits alone and is told why.
#[tokio::test]
async fn commit_join_next_reserves_in_the_next_round_in_the_same_transaction() {
    let d = Devnet::start(4, 0).await;
    let b = d.create_batch(
        12,
        &[
            "--classes",
            "a,b,c",
            "--task-size",
            "3",
            "--max-bundle",
            "2",
        ],
    );
    let key = |i: usize| d.accounts.annotators[i].private_key.clone();
    let label_all = |i: usize, tasks: &[u64]| {
        for t in tasks {
            d.json(
                ANN,
                Some(&key(i)),
                &["label", "-b", &b, "-t", &t.to_string(), "--labels", "a,b,c"],
            );
        }
    };
    // Lanes fill in turn: annotators 0, 1, 2 take two positions of lanes 0, 1, 2; annotator 3 one of lane 0.
    for (i, n) in [(0, 2), (1, 2), (2, 2), (3, 1)] {
        d.json(ANN, Some(&key(i)), &["stake", "100"]);
        let j = d.join(&key(i), &b, Some(n));
        assert_eq!(j["joined"]["lane"], i % 3, "{j}");
    }
    d.end_join_window(&b).await;
    let tasks: Vec<Vec<u64>> = (0..4).map(|i| d.my_tasks(&key(i), &b)).collect();
    label_all(0, &tasks[0]);
    // 100 CCD staked, 80 locked by the first join: stake more for the next round.
    d.json(ANN, Some(&key(0)), &["stake", "100"]);
    let r = d.json(
        ANN,
        Some(&key(0)),
        &["commit", "-b", &b, "--join-next", "2"],
    );
    assert_eq!(r["done"].as_array().map(Vec::len), Some(1), "{r}");
    let reserved = &r["reserved"][0];
    assert_eq!(reserved["round"], 2, "{r}");
    assert_eq!(
        reserved["size"], 1,
        "one lane-0 position was never joined in round 1: {r}"
    );
    assert_eq!(reserved["stakeLocked"], "40", "1 task x 40 CCD: {r}");
    // Annotator 1 asks for the next round too, but its 20 unlocked CCD cover no task: a plain commit, and why.
    label_all(1, &tasks[1]);
    let r = d.json(
        ANN,
        Some(&key(1)),
        &["commit", "-b", &b, "--join-next", "2"],
    );
    assert_eq!(r["done"].as_array().map(Vec::len), Some(1), "{r}");
    assert_eq!(r["reserved"], serde_json::json!([]), "{r}");
    let why = r["notReserved"][0].as_str().unwrap_or_default();
    assert!(
        why.contains("20 CCD of unlocked stake covers no task"),
        "{r}"
    );
    for (i, t) in tasks.iter().enumerate().skip(2) {
        label_all(i, t);
        d.json(ANN, Some(&key(i)), &["commit", "-b", &b]);
    }

    // Past round 1's commit window (20 min): `status` opens round 2, which takes joins in lanes 1 and 2 (two
    // positions each); annotators 1 and 2 take them, and the last join seals the round.
    d.advance(20 * 60 + 5).await;
    assert!(
        d.my_tasks(&key(0), &b).is_empty(),
        "round 2 still takes joins"
    );
    for i in 1..3 {
        d.json(ANN, Some(&key(i)), &["stake", "100"]);
        let j = d.join(&key(i), &b, Some(2));
        assert_eq!(j["joined"]["round"], 2, "{j}");
    }
    let left: Vec<u64> = (0..4)
        .filter(|t| !tasks[0].contains(t) && !tasks[3].contains(t))
        .collect();
    let second = d.my_tasks(&key(0), &b);
    assert_eq!(
        second, left,
        "the reserved bundle holds the lane-0 task nobody joined"
    );
    label_all(0, &second);
    let r = d.json(ANN, Some(&key(0)), &["commit", "-b", &b]);
    assert_eq!(r["done"].as_array().map(Vec::len), Some(1), "{r}");
    for i in 1..3 {
        let t = d.my_tasks(&key(i), &b);
        assert_eq!(t.len(), 2, "annotator {i} takes its lane's last two tasks");
        label_all(i, &t);
        d.json(ANN, Some(&key(i)), &["commit", "-b", &b]);
    }
    // Every position is committed: reveals open.
    for i in 0..4 {
        d.json(ANN, Some(&key(i)), &["reveal"]);
    }
    let s = d.json(
        REQ,
        Some(&d.accounts.requester.private_key),
        &["settle", "-b", &b],
    );
    assert_eq!(s["tasksSettled"], 4, "{s}");
    assert_eq!(
        d.claimable(d.accounts.annotators[0].address).await,
        U256::from(9u64) * U256::from(10u64).pow(U256::from(18u64)),
        "annotator 0: three tasks x 3 agreeing labels x 1 CCD"
    );
}

/// A join the local store never recorded (the process died between the join's receipt and its record, or the
/// annotator moved to a new machine before committing) is not lost: `status` finds it on-chain, learns its tasks,
/// and the bundle is labeled, committed and paid as usual.
#[tokio::test]
async fn a_join_missing_from_the_store_is_found_by_status() {
    let d = Devnet::start(3, 0).await;
    let b = one_task_batch(&d);
    stake_and_join(&d, 3, &b);
    let key = d.accounts.annotators[0].private_key.clone();
    let fresh = d
        .dir
        .as_path()
        .join("no-record.sqlite")
        .display()
        .to_string();
    let st = d.json(ANN, Some(&key), &["status", "--store", &fresh]);
    assert_eq!(st["bundles"][0]["bundle"], 0, "{st}");
    assert_eq!(st["bundles"][0]["status"], "joined", "{st}");
    assert_eq!(st["bundles"][0]["tasks"], serde_json::json!([0]), "{st}");
    let r = d.json(
        ANN,
        Some(&key),
        &[
            "label", "-b", &b, "-t", "0", "--labels", "a,b,c", "--commit", "--store", &fresh,
        ],
    );
    let st = d.json(ANN, Some(&key), &["status", "--store", &fresh]);
    assert_eq!(st["bundles"][0]["status"], "committed", "{r} {st}");
    for i in 1..3 {
        d.json(
            ANN,
            Some(&d.accounts.annotators[i].private_key),
            &[
                "label", "-b", &b, "-t", "0", "--labels", "a,b,c", "--commit",
            ],
        );
    }
    d.json(ANN, Some(&key), &["reveal", "--store", &fresh]);
    for i in 1..3 {
        d.json(
            ANN,
            Some(&d.accounts.annotators[i].private_key),
            &["reveal"],
        );
    }
    let s = d.json(
        REQ,
        Some(&d.accounts.requester.private_key),
        &["settle", "-b", &b],
    );
    assert_eq!(s["tasksSettled"], 1, "{s}");
    assert_eq!(
        d.claimable(d.accounts.annotators[0].address).await,
        U256::from(3u64) * U256::from(10u64).pow(U256::from(18u64)),
        "3 agreeing labels paid to the bundle the store had lost"
    );
}
