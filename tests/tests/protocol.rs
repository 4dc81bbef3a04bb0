//! Protocol paths end to end: a squatted bundle (joined, never committed) expires with its squat penalty and its
//! task goes to another annotator in the next round, and a whole batch driven with `cast` only (no Rust client)
//! to show the ABI is usable by any EVM client.

use alloy::primitives::U256;
use concord_e2e::{repo_root, Devnet};
use std::process::Command;

const ANN: &str = "concord-annotator";
const REQ: &str = "concord-requester";

fn tokens(n: u64) -> U256 {
    U256::from(n) * U256::from(10u64).pow(U256::from(18u64))
}

#[tokio::test]
async fn a_squatted_bundle_expires_with_its_penalty_and_its_task_goes_to_another_annotator_next_round(
) {
    let d = Devnet::start(4, 0).await;
    let req = d.accounts.requester.private_key.clone();
    let b = d.create_batch(
        3,
        &[
            "--classes",
            "a,b",
            "--task-size",
            "3",
            "--commit-window",
            "10m",
            "--squat-penalty",
            "7",
        ],
    );
    let key = |i: usize| d.accounts.annotators[i].private_key.clone();
    for i in 0..4 {
        d.json(ANN, Some(&key(i)), &["stake", "100"]);
    }
    // One task, three lanes: three joins fill round 1 and the third seals it.
    for i in 0..3 {
        let j = d.join(&key(i), &b, None);
        assert_eq!(
            (
                &j["joined"]["round"],
                &j["joined"]["lane"],
                &j["joined"]["size"]
            ),
            (&1.into(), &i.into(), &1.into()),
            "{j}"
        );
    }
    let full = d.cli(ANN, Some(&key(3)), &["join", "-b", &b]);
    let err = String::from_utf8_lossy(&full.stderr);
    assert!(
        !full.status.success() && err.contains("round 1 of this batch is sealed"),
        "every position of round 1 is taken: {err}"
    );
    // Annotators 1 and 2 commit; annotator 0 squats its position until the round's commit window is over.
    for i in 1..3 {
        d.json(
            ANN,
            Some(&key(i)),
            &[
                "label", "-b", &b, "-t", "0", "--labels", "a,a,a", "--commit",
            ],
        );
    }
    let st = d.json(REQ, None, &["status", "-b", &b]);
    let (now, commit_end) = (
        st["now"].as_u64().expect("now"),
        st["roundCommitEnd"].as_u64().expect("commit end"),
    );
    assert_eq!(st["positionsCommitted"], 2, "{st}");
    d.advance(commit_end + 1 - now).await;

    let late = d.cli(
        ANN,
        Some(&key(0)),
        &[
            "label", "-b", &b, "-t", "0", "--labels", "a,a,a", "--commit",
        ],
    );
    let err = String::from_utf8_lossy(&late.stderr);
    assert!(
        !late.status.success() && err.contains("commit window closed"),
        "the squatter cannot commit after its round's window: {err}"
    );
    let mine = d.json(ANN, Some(&key(0)), &["status", "-b", &b]);
    assert_eq!(
        mine["bundles"][0]["status"], "expired",
        "marked once, locally: {mine}"
    );
    let again = d.json(ANN, Some(&key(0)), &["commit"]);
    assert_eq!(
        again["expired"],
        serde_json::json!([]),
        "reported once, then left alone: {again}"
    );

    // Annotator 3 joins round 2, whose pool is the one position never committed: lane 0's, task 0. Its join fills
    // the round and seals it.
    let j = d.join(&key(3), &b, None);
    assert_eq!(j["joined"]["round"], 2, "{j}");
    assert_eq!(j["joined"]["lane"], 0, "the squatter's lane: {j}");
    assert_eq!(j["joined"]["size"], 1, "{j}");
    assert_eq!(j["tasks"], serde_json::json!([0]), "the squatted task: {j}");

    // Settlement expires the squatted bundle first: 7 CCD squat penalty to the treasury, the rest unlocked. The
    // task itself waits for annotator 3's commit and the reveals.
    let s = d.json(REQ, Some(&req), &["settle", "-b", &b]);
    assert_eq!(
        (&s["bundlesExpired"], &s["tasksSettled"], &s["tasksWaiting"]),
        (&1.into(), &0.into(), &1.into()),
        "{s}"
    );
    let st = d.json(ANN, Some(&key(0)), &["status", "-b", &b]);
    assert_eq!(
        st["standing"]["staked"], "93",
        "100 staked - 7 squat penalty: {st}"
    );
    assert_eq!(st["standing"]["locked"], "0", "the rest was unlocked: {st}");
    assert_eq!(st["standing"]["squatted"], 1, "{st}");
    assert_eq!(
        d.claimable(d.accounts.deployer.address).await,
        tokens(7),
        "the treasury holds the squat penalty"
    );
    let rep = d.json(ANN, Some(&key(0)), &["reputation", "-b", &b]);
    assert_eq!(rep["squatted"], 1, "{rep}");

    // Annotator 3 labels and commits: every position is committed, reveals open, and the task settles with its
    // three lanes.
    d.json(
        ANN,
        Some(&key(3)),
        &[
            "label", "-b", &b, "-t", "0", "--labels", "a,a,a", "--commit",
        ],
    );
    for i in 1..4 {
        let r = d.json(ANN, Some(&key(i)), &["reveal", "-b", &b]);
        assert_eq!(r["done"].as_array().map(Vec::len), Some(1), "{r}");
    }
    let s = d.json(REQ, Some(&req), &["settle", "-b", &b]);
    assert_eq!(s["tasksSettled"], 1, "{s}");
    assert_eq!(
        s["rewardsPaid"], "9",
        "3 items x 3 agreeing labels x 1 CCD: {s}"
    );
    assert_eq!(
        d.claimable(d.accounts.annotators[3].address).await,
        tokens(3),
        "the annotator who took the squatted task over is paid for its 3 labels"
    );
    assert_eq!(
        d.claimable(d.accounts.annotators[0].address).await,
        U256::ZERO,
        "the squatter earns nothing"
    );
    let st = d.json(REQ, None, &["status", "-b", &b]);
    assert_eq!(
        (&st["round"], &st["itemsDecided"]),
        (&2.into(), &3.into()),
        "{st}"
    );
}

fn cast(args: &[&str]) -> String {
    let bin = repo_root().join("node_modules/@foundry-rs/cast-linux-amd64/bin/cast");
    let out = Command::new(bin).args(args).output().expect("run cast");
    assert!(
        out.status.success(),
        "cast {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The leading number of a `cast` value (`12 [1.2e1]` -> 12).
fn number(s: &str) -> u64 {
    s.split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("not a number: {s}"))
}

#[tokio::test]
async fn a_whole_batch_with_cast_only() {
    let d = Devnet::start(3, 0).await;
    let rpc = d.rpc.clone();
    let market = d.deployment.market.to_string();
    let token = d.deployment.token.to_string();
    let req = d.accounts.requester.private_key.clone();
    let send = |key: &str, to: &str, sig: &str, args: &[&str]| {
        let mut a = vec!["send", "--rpc-url", &rpc, "--private-key", key, to, sig];
        a.extend_from_slice(args);
        cast(&a);
    };
    let call = |to: &str, sig: &str, args: &[&str]| {
        let mut a = vec!["call", "--rpc-url", &rpc, to, sig];
        a.extend_from_slice(args);
        cast(&a)
    };
    // One task of 3 items, 3 replicas, 2 classes, reward 1 token, bundles of 1, no gold, no qualifier. Stake per
    // task 30, wrong label 1, no reveal 25, squat 5, min stake 25; commit 2h, reveal and review 1h, round 5m,
    // commit window 20m.
    let one = "1000000000000000000";
    send(
        &req,
        &token,
        "approve(address,uint256)",
        &[&market, "3000000000000000000000"],
    );
    let params = format!(
        "({token},{},0x0000000000000000000000000000000000000000,3,3,3,2,6600,1,{one},30000000000000000000,{one},25000000000000000000,5000000000000000000,25000000000000000000,-1000,(7200,3600,3600,300,1200),0x{},ipfs://manifest,0x{},0,0)",
        d.accounts.requester.address,
        "11".repeat(32),
        "00".repeat(32)
    );
    send(&req, &market, "createBatch((address,address,address,uint32,uint16,uint8,uint8,uint16,uint8,uint128,uint96,uint96,uint96,uint96,uint96,int64,(uint32,uint32,uint32,uint32,uint32),bytes32,string,bytes32,uint32,uint128))", &[&params]);
    for a in &d.accounts.annotators {
        send(
            &a.private_key,
            &token,
            "approve(address,uint256)",
            &[&market, "100000000000000000000"],
        );
        send(
            &a.private_key,
            &market,
            "stake(uint256)",
            &["100000000000000000000"],
        );
        send(
            &a.private_key,
            &market,
            "join(uint256,uint256)",
            &["0", "1"],
        );
    }
    // The third join filled every lane and sealed round 1; its seed is the hash of the next block, which a commit
    // can use once that block exists.
    let round = call(
        &market,
        "getRound(uint256,uint256)((uint40,uint40,uint64,uint32))",
        &["0", "1"],
    );
    let fields: Vec<&str> = round
        .trim_matches(|c| c == '(' || c == ')')
        .split(", ")
        .collect();
    let seal_block = number(fields[2]);
    assert!(seal_block > 0, "round 1 is sealed: {round}");
    let started = std::time::Instant::now();
    while number(&cast(&["block-number", "--rpc-url", &rpc])) <= seal_block {
        assert!(started.elapsed().as_secs() < 30, "no block after the seal");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }

    // Labels a,b,a packed 4 bits per item in the low half of the bundle's one word: 0x010 = 16.
    let salt = format!("0x{}", "ab".repeat(32));
    let mut bundles = Vec::new();
    for (id, a) in d.accounts.annotators.iter().enumerate() {
        let addr = a.address.to_string();
        let member = call(
            &market,
            "memberOf(uint256,address)(bool,uint256,uint256)",
            &["0", &addr],
        );
        let lane = number(member.lines().nth(1).expect("lane"));
        // (annotator, lane, round, first ticket, size): the bundle as its Joined event states it.
        let bundle = format!("({addr},{lane},1,0,1)");
        let hash = call(
            &market,
            "commitHashOf(uint256,uint256,address,uint256[],bytes32)(bytes32)",
            &["0", &id.to_string(), &addr, "[16]", &salt],
        );
        send(
            &a.private_key,
            &market,
            "commit(uint256,uint256,(address,uint8,uint16,uint32,uint8),bytes32,bytes)",
            &["0", &id.to_string(), &bundle, &hash, "0x"],
        );
        // The first commit stored the round's seed: the ticket maps to the batch's only task.
        let task = call(
            &market,
            "taskAt(uint256,uint256,uint256,uint256)(uint256)",
            &["0", &lane.to_string(), "1", "0"],
        );
        assert_eq!(number(&task), 0, "the only task");
        bundles.push((id, bundle));
    }
    // Every position is committed: reveals are open.
    for ((id, bundle), a) in bundles.iter().zip(&d.accounts.annotators) {
        send(
            &a.private_key,
            &market,
            "reveal(uint256,uint256,(address,uint8,uint16,uint32,uint8),uint256[],bytes32)",
            &["0", &id.to_string(), bundle, "[16]", &salt],
        );
    }
    // Settlement re-supplies every revealed bundle holding the task: (id, positions read, bundle, commit hash,
    // labels); each bundle's one position (mask 1).
    let proofs: Vec<String> = bundles
        .iter()
        // (id, positions, bundle, commitHash, labels, salt): revealed bundles, so no commit hash and no salt.
        .map(|(id, bundle)| {
            let zero = "00".repeat(32);
            format!("({id},1,{bundle},0x{zero},[16],0x{zero})")
        })
        .collect();
    send(
        &req,
        &market,
        "settle(uint256,uint256[],(uint32,uint32,(address,uint8,uint16,uint32,uint8),bytes32,uint256[],bytes32)[])",
        &["0", "[0]", &format!("[{}]", proofs.join(","))],
    );
    for a in &d.accounts.annotators {
        let claimable = call(
            &market,
            "claimable(address,address)(uint256)",
            &[&a.address.to_string(), &token],
        );
        assert!(
            claimable.starts_with("3000000000000000000 "),
            "3 agreeing labels paid: {claimable}"
        );
    }
    // The Rust client reads the same batch as written by cast.
    let st = d.json("concord-requester", None, &["status", "-b", "0"]);
    assert_eq!(st["tasksSettled"], 1, "{st}");
    assert_eq!(st["itemsDecided"], 3, "{st}");
    assert_eq!(st["labelsRevealed"], 9, "{st}");
    assert_eq!(st["paid"], "9", "{st}");
}
