//! A table of bad inputs: each must fail with one clear line naming the problem, exit non-zero, and move no
//! tokens (requester and annotator holdings are compared before and after every case). Labels stored before the
//! table survive every failing case (a bad `label` never clobbers them, a late `commit` never loses them).

use concord_e2e::{dataset, Devnet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;

struct Case {
    name: &'static str,
    bin: &'static str,
    key: Option<String>,
    args: Vec<String>,
    env: Vec<(String, String)>,
    expect: &'static str,
}

fn case(
    name: &'static str,
    bin: &'static str,
    key: Option<&str>,
    args: &[&str],
    expect: &'static str,
) -> Case {
    Case {
        name,
        bin,
        key: key.map(String::from),
        args: args.iter().map(|s| s.to_string()).collect(),
        env: vec![],
        expect,
    }
}

/// A case run with extra environment variables (another deployment file, another RPC).
fn env_case(
    name: &'static str,
    key: &str,
    args: &[&str],
    env: &[(&str, &str)],
    expect: &'static str,
) -> Case {
    let mut k = case(name, "concord-annotator", Some(key), args, expect);
    k.env = env
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    k
}

/// Runs every case: it fails, prints exactly one `error: ` line containing its expectation, and no watched
/// account's holdings (balance, stake, pending unstake) move. Returns the cases that broke a rule, each with
/// what it did (every case runs, so one failing test run lists them all).
async fn run_cases(d: &Devnet, cases: &[Case]) -> Vec<String> {
    let watched = [
        d.accounts.requester.address,
        d.accounts.annotators[0].address,
        d.accounts.annotators[1].address,
    ];
    let mut broken = Vec::new();
    for k in cases {
        let mut before = Vec::new();
        for w in watched {
            before.push(d.holdings(w).await);
        }
        let args: Vec<&str> = k.args.iter().map(String::as_str).collect();
        let env: Vec<(&str, &str)> = k
            .env
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        let out = d.cli_env(k.bin, k.key.as_deref(), &args, &env);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let lines: Vec<&str> = stderr.lines().collect();
        if out.status.success() {
            broken.push(format!(
                "[{}] must fail, got success: {}",
                k.name,
                String::from_utf8_lossy(&out.stdout)
            ));
        } else if lines.len() != 1 {
            broken.push(format!(
                "[{}] must print exactly one line, got: {stderr}",
                k.name
            ));
        } else if !(lines[0].starts_with("error: ") && lines[0].contains(k.expect)) {
            broken.push(format!(
                "[{}] expected `{}` in: {}",
                k.name, k.expect, lines[0]
            ));
        }
        for (w, b) in watched.iter().zip(&before) {
            if &d.holdings(*w).await != b {
                broken.push(format!("[{}] moved tokens of {w}", k.name));
            }
        }
    }
    broken
}

/// `key`'s bundles of `batch` as `concord-annotator status --json` lists them.
fn bundles(d: &Devnet, key: &str, batch: &str) -> Vec<serde_json::Value> {
    let v = d.json("concord-annotator", Some(key), &["status", "-b", batch]);
    v["bundles"].as_array().cloned().unwrap_or_default()
}

/// What a fake JSON-RPC server answers.
#[derive(Clone, Copy)]
enum Lie {
    /// Every call answers `0x1`: it claims to be chain 1 (mainnet).
    ChainOne,
    /// HTTP 200 with an HTML page instead of JSON-RPC (a web server, a captive portal).
    Html,
    /// The right chain id, but no contract anywhere (a fresh node of the same chain id).
    EmptyChain,
}

/// A server on 127.0.0.1 that answers every request the way `lie` says; returns its URL. Blocking I/O on its own
/// thread: the CLIs run as blocking child processes of the test's runtime.
fn lying_rpc(lie: Lie) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!(
        "http://127.0.0.1:{}",
        listener.local_addr().expect("addr").port()
    );
    std::thread::spawn(move || {
        for sock in listener.incoming() {
            let Ok(sock) = sock else { return };
            std::thread::spawn(move || serve_lies(sock, lie));
        }
    });
    url
}

fn serve_lies(sock: std::net::TcpStream, lie: Lie) {
    let mut w = match sock.try_clone() {
        Ok(w) => w,
        Err(_) => return,
    };
    let mut r = BufReader::new(sock);
    loop {
        let mut len = 0usize;
        loop {
            let mut line = String::new();
            if r.read_line(&mut line).unwrap_or(0) == 0 {
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
        if r.read_exact(&mut body).is_err() {
            return;
        }
        let req: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        let result = |v: &str| serde_json::json!({"jsonrpc": "2.0", "id": req["id"], "result": v});
        let (kind, answer) = match lie {
            Lie::ChainOne => ("application/json", result("0x1").to_string()),
            Lie::Html => (
                "text/html",
                "<html><body>Welcome! Please log in.</body></html>".to_string(),
            ),
            Lie::EmptyChain => match req["method"].as_str() {
                Some("eth_chainId") => ("application/json", result("0x7a69").to_string()),
                _ => ("application/json", result("0x").to_string()),
            },
        };
        let head = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: {kind}\r\ncontent-length: {}\r\n\r\n",
            answer.len()
        );
        if w.write_all(head.as_bytes()).is_err() || w.write_all(answer.as_bytes()).is_err() {
            return;
        }
    }
}

#[tokio::test]
async fn bad_inputs_fail_with_one_clear_line_and_move_no_tokens() {
    let d = Devnet::start(2, 0).await;
    let req = d.accounts.requester.private_key.clone();
    let ann = d.accounts.annotators[0].private_key.clone();
    let fresh = d.accounts.annotators[1].private_key.clone();
    let out = d.dir.as_path().join("req").display().to_string();

    // Batch `b`: 6 items, 2 tasks of 3, 3 lanes. Annotator 0 stakes and joins for one task; the round's join
    // window passes, `status` seals it and the tasks are drawn: annotator 0 holds task `t`, not `other_task`.
    let b = d.create_batch(6, &["--classes", "a,b,c", "--task-size", "3"]);
    let good = d.file("good.jsonl", &dataset(6, None));
    d.json("concord-annotator", Some(&ann), &["stake", "100"]);
    let joined = d.join(&ann, &b, Some(1));
    assert_eq!(joined["joined"]["size"], 1, "{joined}");
    d.end_join_window(&b).await;
    let mine = d.my_tasks(&ann, &b);
    assert_eq!(mine.len(), 1, "one task: {mine:?}");
    let t = mine[0].to_string();
    let other_task = if t == "0" { "1" } else { "0" };
    // The labels of `t` are stored before the table; no failing case may change them.
    d.json(
        "concord-annotator",
        Some(&ann),
        &["label", "-b", &b, "-t", &t, "--labels", "a,b,c"],
    );

    // Batch `b2`, created after `b`'s round sealed: its round 1 still takes joins; bundles of at most 2 tasks.
    // Annotator 0 joined it for one task (80 of its 100 CCD are now locked).
    let b2 = d.create_batch(
        6,
        &[
            "--classes",
            "a,b,c",
            "--task-size",
            "3",
            "--max-bundle",
            "2",
        ],
    );
    let j2 = d.join(&ann, &b2, Some(1));
    assert_eq!(j2["joined"]["round"], 1, "{j2}");

    // A batch with gold answers: they can be revealed only after its commit deadline.
    let gold_items = d.file("gold-items.jsonl", &dataset(6, Some(3)));
    let bg = d.create(&gold_items, &["--classes", "a,b,c", "--task-size", "3"])["batchId"]
        .as_u64()
        .expect("batch id")
        .to_string();

    let empty = d.file("empty.jsonl", "\n");
    let dup = d.file(
        "dup.jsonl",
        "{\"id\":\"x\",\"text\":\"a\"}\n{\"id\":\"x\",\"text\":\"b\"}\n",
    );
    let broken = d.file("broken.jsonl", "{\"id\":\"x\",\"text\":\"a\"}\n{\"id\":\n");
    let no_media = d.file(
        "no-media.jsonl",
        "{\"id\":\"x\",\"uri\":\"x.png\"}\n{\"id\":\"y\",\"uri\":\"missing.png\"}\n",
    );
    std::fs::write(d.dir.join("x.png"), b"x").expect("x.png");
    let gold = d.file(
        "gold.jsonl",
        "{\"id\":\"x\",\"text\":\"a\",\"gold\":\"maybe\"}\n{\"id\":\"y\",\"text\":\"b\"}\n",
    );
    let unknown = d.file("items.xml", "<items/>");
    let wrong_chain = d.file(
        "wrong-chain.json",
        &format!(
            "{{\"chainId\":1,\"token\":\"{}\",\"market\":\"{}\"}}",
            d.deployment.token, d.deployment.market
        ),
    );
    let stale = d.file(
        "stale.json",
        &format!("{{\"chainId\":31337,\"token\":\"{}\",\"market\":\"0x000000000000000000000000000000000000dEaD\"}}", d.deployment.token),
    );
    let missing_dep = d.dir.as_path().join("nope.json").display().to_string();
    let (chain_one, html, empty_chain) = (
        lying_rpc(Lie::ChainOne),
        lying_rpc(Lie::Html),
        lying_rpc(Lie::EmptyChain),
    );

    let cases = vec![
        case(
            "empty dataset",
            "concord-requester",
            Some(&req),
            &["create", &empty, "--classes", "a,b"],
            "the dataset has no items",
        ),
        case(
            "duplicate ids",
            "concord-requester",
            Some(&req),
            &["create", &dup, "--classes", "a,b"],
            "dup.jsonl:2: duplicate item id `x` (first on line 1)",
        ),
        case(
            "malformed JSON line",
            "concord-requester",
            Some(&req),
            &["create", &broken, "--classes", "a,b"],
            "broken.jsonl:2: not valid JSON",
        ),
        case(
            "media file missing",
            "concord-requester",
            Some(&req),
            &["create", &no_media, "--classes", "a,b"],
            "item `y`: cannot read its media missing.png: cannot read",
        ),
        case(
            "unknown gold class",
            "concord-requester",
            Some(&req),
            &["create", &gold, "--classes", "a,b"],
            "gold answer `maybe` of item `x` is not one of the classes",
        ),
        case(
            "one class",
            "concord-requester",
            Some(&req),
            &["create", &good, "--classes", "a"],
            "need 2 to 16 classes",
        ),
        case(
            "unknown file format",
            "concord-requester",
            Some(&req),
            &["create", &unknown, "--classes", "a,b"],
            "unknown format",
        ),
        case(
            "missing dataset file",
            "concord-requester",
            Some(&req),
            &["create", "/nonexistent/items.jsonl", "--classes", "a,b"],
            "cannot read",
        ),
        case(
            "replicas below 2",
            "concord-requester",
            Some(&req),
            &[
                "create",
                &good,
                "--classes",
                "a,b",
                "--replicas",
                "1",
                "--out-dir",
                &out,
            ],
            "batch parameter `replicas` is out of range",
        ),
        case(
            "task size above 32",
            "concord-requester",
            Some(&req),
            &[
                "create",
                &good,
                "--classes",
                "a,b",
                "--task-size",
                "40",
                "--out-dir",
                &out,
            ],
            "batch parameter `taskSize` is out of range",
        ),
        case(
            "bundle limit above 32",
            "concord-requester",
            Some(&req),
            &[
                "create",
                &good,
                "--classes",
                "a,b",
                "--max-bundle",
                "40",
                "--out-dir",
                &out,
            ],
            "batch parameter `maxBundle` is out of range",
        ),
        case(
            "squat penalty above the stake per task",
            "concord-requester",
            Some(&req),
            &[
                "create",
                &good,
                "--classes",
                "a,b",
                "--squat-penalty",
                "50",
                "--out-dir",
                &out,
            ],
            "batch parameter `squatPenalty` is out of range",
        ),
        case(
            "round and commit window longer than the commit period",
            "concord-requester",
            Some(&req),
            &[
                "create",
                &good,
                "--classes",
                "a,b",
                "--commit-period",
                "30m",
                "--round-period",
                "20m",
                "--commit-window",
                "20m",
                "--out-dir",
                &out,
            ],
            "batch parameter `commitPeriod` is out of range",
        ),
        case(
            "threshold above 1",
            "concord-requester",
            Some(&req),
            &["create", &good, "--classes", "a,b", "--threshold", "1.5"],
            "--threshold must be in (0, 1]",
        ),
        case(
            "escrow above balance",
            "concord-requester",
            Some(&fresh),
            &[
                "create",
                &good,
                "--classes",
                "a,b",
                "--reward",
                "1000",
                "--out-dir",
                &out,
            ],
            "insufficient reward-token balance",
        ),
        case(
            "fee cap under the base fee",
            "concord-annotator",
            Some(&fresh),
            &["stake", "5", "--max-fee-per-gas", "1wei"],
            "above --max-fee-per-gas",
        ),
        case(
            "stake above balance",
            "concord-annotator",
            Some(&fresh),
            &["stake", "5000"],
            "insufficient CCD balance",
        ),
        case(
            "negative stake",
            "concord-annotator",
            Some(&fresh),
            &["stake", "-5"],
            "is negative",
        ),
        case(
            "no key for a transaction",
            "concord-annotator",
            None,
            &["stake", "5"],
            "pass --private-key, --keystore or --account",
        ),
        case(
            "malformed private key",
            "concord-annotator",
            Some("0x1234"),
            &["stake", "5"],
            "--private-key is not a 32-byte hex private key",
        ),
        case(
            "unknown batch",
            "concord-annotator",
            Some(&ann),
            &["join", "-b", "99"],
            "batch 99 does not exist on this market",
        ),
        case(
            "join without stake",
            "concord-annotator",
            Some(&fresh),
            &["join", "-b", &b2],
            // Both tasks of the emptiest lane, 40 CCD each.
            "your unlocked stake is 0 CCD but this needs 80 CCD",
        ),
        case(
            "join for more tasks than the batch's bundle limit",
            "concord-annotator",
            Some(&fresh),
            &["join", "-b", &b2, "-n", "3"],
            "a join of this batch takes 1..=2 tasks, not 3",
        ),
        case(
            "join twice in one round",
            "concord-annotator",
            Some(&ann),
            &["join", "-b", &b2, "-n", "1"],
            "you already joined round 1 of batch",
        ),
        case(
            "join a sealed round",
            "concord-annotator",
            Some(&fresh),
            &["join", "-b", &b, "-n", "1"],
            "round 1 of this batch is sealed; the next round opens for joins at",
        ),
        case(
            "label outside the classes",
            "concord-annotator",
            Some(&ann),
            &["label", "-b", &b, "-t", &t, "--labels", "a,b,z"],
            "label `z` is not a class of this batch (a, b, c)",
        ),
        case(
            "label index out of range",
            "concord-annotator",
            Some(&ann),
            &["label", "-b", &b, "-t", &t, "--labels", "0,1,7"],
            "label `7` is not a class of this batch",
        ),
        case(
            "wrong number of labels",
            "concord-annotator",
            Some(&ann),
            &["label", "-b", &b, "-t", &t, "--labels", "a,b"],
            "has 3 items but 2 labels were given",
        ),
        case(
            "label a task not in your bundles",
            "concord-annotator",
            Some(&ann),
            &["label", "-b", &b, "-t", other_task, "--labels", "a,b,c"],
            "is not in any bundle of",
        ),
        case(
            "label a task past the batch",
            "concord-annotator",
            Some(&ann),
            &["label", "-b", &b, "-t", "7", "--labels", "a,b,c"],
            "has tasks 0..2, not 7",
        ),
        case(
            "label a batch where you hold no bundle",
            "concord-annotator",
            Some(&fresh),
            &["label", "-b", &b, "--from", &good],
            "no uncommitted bundle of yours in batch",
        ),
        case(
            "unstake locked stake",
            "concord-annotator",
            Some(&ann),
            &["unstake", "100"],
            "only 20 CCD of your stake is unlocked",
        ),
        case(
            "withdraw nothing",
            "concord-annotator",
            Some(&ann),
            &["withdraw"],
            "there is nothing to withdraw or collect",
        ),
        case(
            "gold reveal of a batch without gold",
            "concord-requester",
            Some(&req),
            &["reveal-gold", "-b", &b],
            "was created without gold answers",
        ),
        case(
            "gold reveal before the commit deadline",
            "concord-requester",
            Some(&req),
            &["reveal-gold", "-b", &bg],
            "gold answers can only be revealed between",
        ),
        case(
            "refund while the batch runs",
            "concord-requester",
            Some(&req),
            &["refund", "-b", &b],
            "refund opens after",
        ),
        case(
            "resolve by a non-reviewer",
            "concord-requester",
            Some(&ann),
            &["resolve", "-b", &b, "--decide", "0=a"],
            "is not this batch's reviewer",
        ),
        case(
            "resolve an unknown class",
            "concord-requester",
            Some(&req),
            &["resolve", "-b", &b, "--decide", "0=zebra"],
            "`zebra` is not a class",
        ),
        env_case(
            "wrong chain",
            &ann,
            &["status"],
            &[("CONCORD_DEPLOYMENT", &wrong_chain)],
            "wrong chain: the RPC is chain 31337 but the deployment is for chain 1",
        ),
        env_case(
            "stale deployment",
            &ann,
            &["status"],
            &[("CONCORD_DEPLOYMENT", &stale)],
            "no contract at 0x000000000000000000000000000000000000dEaD",
        ),
        env_case(
            "missing deployment",
            &ann,
            &["status"],
            &[("CONCORD_DEPLOYMENT", &missing_dep)],
            "start a devnet with `concord-devnet` or pass --deployment",
        ),
        env_case(
            "RPC down",
            &ann,
            &["status"],
            &[("ETH_RPC_URL", "http://127.0.0.1:1")],
            "cannot reach the RPC at http://127.0.0.1:1",
        ),
        env_case(
            "RPC lies about its chain",
            &ann,
            &["join", "-b", &b2],
            &[("ETH_RPC_URL", &chain_one)],
            "wrong chain: the RPC is chain 1 but the deployment is for chain 31337",
        ),
        env_case(
            "RPC answers with a web page",
            &ann,
            &["join", "-b", &b2],
            &[("ETH_RPC_URL", &html)],
            "answered, but not as a JSON-RPC node",
        ),
        env_case(
            "RPC of the right chain without the contracts",
            &ann,
            &["join", "-b", &b2],
            &[("ETH_RPC_URL", &empty_chain)],
            "no contract at",
        ),
    ];
    assert!(
        cases.len() >= 20,
        "the table must hold at least 20 bad inputs"
    );
    let mut failures = run_cases(&d, &cases).await;

    // Every failing `label` left the stored labels alone.
    let held = bundles(&d, &ann, &b);
    assert_eq!(held.len(), 1, "{held:?}");
    assert_eq!(held[0]["status"], "joined", "{held:?}");
    assert_eq!(
        held[0]["labels"],
        serde_json::json!([[0, 1, 2]]),
        "{held:?}"
    );

    // Past the round's commit window the bundle can no longer be committed (v2's successor of v1's expired
    // claim): the commit fails once with one clear line, no tokens move, the bundle is marked expired locally and
    // its labels stay stored.
    let commit_end = held[0]["commitEnd"].as_u64().expect("commitEnd");
    let now = chain_now(&d, &b);
    d.advance(commit_end + 1 - now).await;
    failures.extend(
        run_cases(
            &d,
            &[case(
                "label and commit after the round's commit window",
                "concord-annotator",
                Some(&ann),
                &["label", "-b", &b, "-t", &t, "--labels", "a,b,c", "--commit"],
                "its round's commit window closed before it was committed, so it expired",
            )],
        )
        .await,
    );
    let held = bundles(&d, &ann, &b);
    assert_eq!(held.len(), 1, "{held:?}");
    assert_eq!(held[0]["status"], "expired", "{held:?}");
    assert_eq!(held[0]["tasks"], serde_json::json!([mine[0]]), "{held:?}");
    assert_eq!(
        held[0]["labels"],
        serde_json::json!([[0, 1, 2]]),
        "{held:?}"
    );
    // Reported once: a later run leaves it alone (nothing to commit, nothing sent).
    let again = d.json("concord-annotator", Some(&ann), &["commit", "-b", &b]);
    assert_eq!(
        (&again["done"], &again["expired"], &again["failed"]),
        (
            &serde_json::json!([]),
            &serde_json::json!([]),
            &serde_json::json!([])
        ),
        "{again}"
    );

    // Settling expires the squatted bundle on-chain (anyone may): the squat penalty (5 CCD per task) is forfeited,
    // the rest of its stake unlocked, and the annotator marked in the batch's domain.
    let s = d.json("concord-requester", Some(&req), &["settle", "-b", &b]);
    assert_eq!(s["bundlesExpired"], 1, "{s}");
    let st = d.json("concord-annotator", Some(&ann), &["status", "-b", &b]);
    assert_eq!(
        (
            &st["standing"]["staked"],
            &st["standing"]["locked"],
            &st["standing"]["squatted"]
        ),
        (&"95".into(), &"40".into(), &1.into()),
        "{st}"
    );
    failures.extend(
        run_cases(
            &d,
            &[case(
                "label a task of an expired bundle",
                "concord-annotator",
                Some(&ann),
                &["label", "-b", &b, "-t", &t, "--labels", "c,c,c"],
                "is not in any bundle of",
            )],
        )
        .await,
    );
    assert_eq!(
        bundles(&d, &ann, &b)[0]["labels"],
        serde_json::json!([[0, 1, 2]]),
        "the expired bundle's labels are kept"
    );

    // Past the batch's commit deadline no round can open any more.
    let deadline = d.json("concord-requester", None, &["status", "-b", &b])["commitDeadline"]
        .as_u64()
        .expect("commitDeadline");
    let now = chain_now(&d, &b);
    d.advance(deadline + 1 - now).await;
    failures.extend(
        run_cases(
            &d,
            &[case(
                "join after the commit phase",
                "concord-annotator",
                Some(&fresh),
                &["join", "-b", &b, "-n", "1"],
                "no more joins for this batch",
            )],
        )
        .await,
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Chain time, as `concord-requester status` reads it.
fn chain_now(d: &Devnet, batch: &str) -> u64 {
    d.json("concord-requester", None, &["status", "-b", batch])["now"]
        .as_u64()
        .expect("now")
}
