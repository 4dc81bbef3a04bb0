//! Protocol paths end to end: an expired claim's slot is reused, and a whole batch driven with `cast` only
//! (no Rust client) to show the ABI is usable by any EVM client.

use concord_e2e::{repo_root, Devnet};
use std::process::Command;

#[tokio::test]
async fn an_expired_claim_frees_its_slot_for_another_annotator() {
    let d = Devnet::start(4, 0).await;
    let b = d.create_batch(
        3,
        &[
            "--classes",
            "a,b",
            "--task-size",
            "3",
            "--claim-timeout",
            "10m",
        ],
    );
    for i in 0..4 {
        d.json(
            "concord-annotator",
            Some(&d.accounts.annotators[i].private_key),
            &["stake", "100"],
        );
    }
    for i in 0..3 {
        d.json(
            "concord-annotator",
            Some(&d.accounts.annotators[i].private_key),
            &["claim", "-b", &b],
        );
    }
    let full = d.cli(
        "concord-annotator",
        Some(&d.accounts.annotators[3].private_key),
        &["claim", "-b", &b],
    );
    assert!(
        String::from_utf8_lossy(&full.stderr).contains("no open task"),
        "all three slots are taken"
    );
    d.advance(11 * 60).await;
    // Annotator 3 now gets the task: the first expired slot is released and reused.
    let c = d.json(
        "concord-annotator",
        Some(&d.accounts.annotators[3].private_key),
        &["claim", "-b", &b],
    );
    assert_eq!(c["task"], 0);
    assert_eq!(
        c["slot"], 0,
        "slot 0 (annotator 0's expired claim) is reused"
    );
    let late = d.cli(
        "concord-annotator",
        Some(&d.accounts.annotators[0].private_key),
        &[
            "label", "-b", &b, "-t", "0", "--labels", "a,a,a", "--commit",
        ],
    );
    let err = String::from_utf8_lossy(&late.stderr);
    assert!(
        !late.status.success() && err.contains("holds no live claim"),
        "the expired claimer cannot commit: {err}"
    );
    let st = d.json(
        "concord-annotator",
        Some(&d.accounts.annotators[0].private_key),
        &["status"],
    );
    assert_eq!(
        st["standing"]["locked"], "0",
        "its stake was unlocked when the slot was released"
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
    // One task of 3 items, 3 replicas, 2 classes, reward 1 token, no gold, no qualifier.
    let one = "1000000000000000000";
    send(
        &req,
        &token,
        "approve(address,uint256)",
        &[&market, "3000000000000000000000"],
    );
    let params = format!(
        "({token},{},0x0000000000000000000000000000000000000000,3,3,3,2,6600,{one},30000000000000000000,1000000000000000000,25000000000000000000,0,-1000,3600,3600,3600,1800,0x{},ipfs://manifest,0x{},0)",
        d.accounts.requester.address,
        "11".repeat(32),
        "00".repeat(32)
    );
    send(&req, &market, "createBatch((address,address,address,uint32,uint16,uint8,uint8,uint16,uint128,uint128,uint128,uint128,uint128,int64,uint32,uint32,uint32,uint32,bytes32,string,bytes32,uint32))", &[&params]);
    let salt = format!("0x{}", "ab".repeat(32));
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
        send(&a.private_key, &market, "claim(uint256)", &["0"]);
        // labels a,b,a packed 4 bits per item: 0x010 = 16
        let hash = call(
            &market,
            "commitHashOf(uint256,uint256,address,uint256,bytes32)(bytes32)",
            &["0", "0", &a.address.to_string(), "16", &salt],
        );
        send(
            &a.private_key,
            &market,
            "commit(uint256,uint256,bytes32,bytes)",
            &["0", "0", &hash, "0x"],
        );
    }
    for a in &d.accounts.annotators {
        send(
            &a.private_key,
            &market,
            "reveal(uint256,uint256,uint256,bytes32)",
            &["0", "0", "16", &salt],
        );
    }
    send(&req, &market, "settleTask(uint256,uint256)", &["0", "0"]);
    let a0 = d.accounts.annotators[0].address.to_string();
    let claimable = call(
        &market,
        "claimable(address,address)(uint256)",
        &[&a0, &token],
    );
    assert!(
        claimable.starts_with("3000000000000000000"),
        "3 agreeing labels paid: {claimable}"
    );
    // The Rust client reads the same batch as written by cast.
    let st = d.json("concord-requester", None, &["status", "-b", "0"]);
    assert_eq!(st["tasksSettled"], 1);
    assert_eq!(st["itemsDecided"], 3);
}
