//! A table of bad inputs: each must fail with one clear line naming the problem, exit non-zero, and move no
//! tokens (requester and annotator holdings are compared before and after every case).

use concord_e2e::{dataset, Devnet};

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

#[tokio::test]
async fn bad_inputs_fail_with_one_clear_line_and_move_no_tokens() {
    let d = Devnet::start(2, 0).await;
    let req = d.accounts.requester.private_key.clone();
    let ann = d.accounts.annotators[0].private_key.clone();
    let fresh = d.accounts.annotators[1].private_key.clone();
    let out = d.dir.as_path().join("req").display().to_string();

    // A live batch (6 items, 2 tasks of 3) with annotator 0 staked and holding a claim.
    let b = d.create_batch(6, &["--classes", "a,b,c", "--task-size", "3"]);
    let good = d.file("good.jsonl", &dataset(6, None));
    d.json("concord-annotator", Some(&ann), &["stake", "100"]);
    let claimed = d.json("concord-annotator", Some(&ann), &["claim", "-b", &b]);
    let t = claimed["task"].as_u64().expect("task").to_string();
    let other_task = if t == "0" { "1" } else { "0" };

    let empty = d.file("empty.jsonl", "\n");
    let dup = d.file(
        "dup.jsonl",
        "{\"id\":\"x\",\"text\":\"a\"}\n{\"id\":\"x\",\"text\":\"b\"}\n",
    );
    let broken = d.file("broken.jsonl", "{\"id\":\"x\",\"text\":\"a\"}\n{\"id\":\n");
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
    let c = |a: &str| a.to_string();

    let mut cases = vec![
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
            &["claim", "-b", "99"],
            "batch 99 does not exist on this market",
        ),
        case(
            "claim without stake",
            "concord-annotator",
            Some(&fresh),
            &["claim", "-b", &b],
            "your unlocked stake is 0 CCD but this needs 40 CCD",
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
            "task ",
        ),
        case(
            "label a task not claimed",
            "concord-annotator",
            Some(&ann),
            &["label", "-b", &b, "-t", other_task, "--labels", "a,b,c"],
            "is not claimed by this account; run `claim` first",
        ),
        case(
            "unstake locked stake",
            "concord-annotator",
            Some(&ann),
            &["unstake", "100"],
            "CCD of your stake is unlocked",
        ),
        case(
            "withdraw nothing",
            "concord-annotator",
            Some(&ann),
            &["withdraw"],
            "there is nothing to withdraw or collect",
        ),
        case(
            "gold reveal before the commit deadline",
            "concord-requester",
            Some(&req),
            &["reveal-gold", "-b", &b],
            "was created without gold answers",
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
    ];
    let mut env_case = |name, args: &[&str], env: Vec<(String, String)>, expect| {
        let mut k = case(name, "concord-annotator", Some(&ann), args, expect);
        k.env = env;
        cases.push(k);
    };
    env_case(
        "wrong chain",
        &["status"],
        vec![(c("CONCORD_DEPLOYMENT"), wrong_chain)],
        "wrong chain: the RPC is chain 31337 but the deployment is for chain 1",
    );
    env_case(
        "stale deployment",
        &["status"],
        vec![(c("CONCORD_DEPLOYMENT"), stale)],
        "no contract at 0x000000000000000000000000000000000000dEaD",
    );
    env_case(
        "missing deployment",
        &["status"],
        vec![(c("CONCORD_DEPLOYMENT"), missing_dep)],
        "start a devnet with `concord-devnet` or pass --deployment",
    );
    env_case(
        "RPC down",
        &["status"],
        vec![(c("ETH_RPC_URL"), c("http://127.0.0.1:1"))],
        "cannot reach the RPC at http://127.0.0.1:1",
    );

    assert!(
        cases.len() >= 20,
        "the table must hold at least 20 bad inputs"
    );
    let watched = [
        d.accounts.requester.address,
        d.accounts.annotators[0].address,
        d.accounts.annotators[1].address,
    ];
    for k in &cases {
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
        assert!(
            !out.status.success(),
            "[{}] must fail, got success: {}",
            k.name,
            String::from_utf8_lossy(&out.stdout)
        );
        let lines: Vec<&str> = stderr.lines().collect();
        assert_eq!(
            lines.len(),
            1,
            "[{}] must print exactly one line, got: {stderr}",
            k.name
        );
        assert!(
            lines[0].starts_with("error: ") && lines[0].contains(k.expect),
            "[{}] expected `{}` in: {}",
            k.name,
            k.expect,
            lines[0]
        );
        for (w, b) in watched.iter().zip(&before) {
            assert_eq!(&d.holdings(*w).await, b, "[{}] moved tokens of {w}", k.name);
        }
    }
}
