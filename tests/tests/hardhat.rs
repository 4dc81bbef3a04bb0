//! The happy path on a second EVM implementation: Hardhat's node (npm `hardhat` 2.x pinned in package-lock.json,
//! interval mining, a block every second) instead of anvil. Deployment, create, stake, join, label + commit,
//! reveal, settle, collect, export and report all go through Concord's own client; only the test harness moves
//! time (`evm_increaseTime`, which both nodes have). Nothing outside `concord-devnet` may depend on anvil.

use alloy::primitives::U256;
use concord_e2e::{dataset, Devnet};

const REQ: &str = "concord-requester";
const ANN: &str = "concord-annotator";

fn ccd(n: u64) -> U256 {
    U256::from(n) * U256::from(10u64).pow(U256::from(18u64))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_whole_batch_runs_on_hardhats_node() {
    let d = Devnet::start_hardhat(3).await;
    let chain: serde_json::Value = {
        let p = alloy::providers::ProviderBuilder::new().connect_http(d.rpc.parse().expect("url"));
        alloy::providers::Provider::raw_request(&p, "web3_clientVersion".into(), [(); 0])
            .await
            .expect("client version")
    };
    assert!(
        chain
            .as_str()
            .is_some_and(|v| v.starts_with("HardhatNetwork/2.")),
        "the node is Hardhat's, not anvil: {chain}"
    );
    let req = d.accounts.requester.private_key.clone();
    let ds = d.file("items.jsonl", &dataset(6, None));
    // Hardhat's node has no eth_simulateV1: the dry run still prices the escrow and says why the gas is missing.
    let dry = d.json(
        REQ,
        Some(&req),
        &[
            "create",
            &ds,
            "--classes",
            "a,b,c",
            "--task-size",
            "3",
            "--dry-run",
        ],
    );
    assert_eq!(dry["escrow"], "18", "6 items x 3 labels x 1: {dry}");
    assert!(
        dry["gas"].is_null()
            && dry["notSimulated"]
                .as_str()
                .is_some_and(|w| w.contains("does not support eth_simulateV1")),
        "{dry}"
    );
    let v = d.create(&ds, &["--classes", "a,b,c", "--task-size", "3"]);
    let b = v["batchId"].as_u64().expect("batch id").to_string();
    d.stake_and_join_all(3, &b);

    // Annotators 0 and 1 agree on every item; annotator 2 disagrees on it-4.
    let right = "id,label\nit-0,a\nit-1,b\nit-2,c\nit-3,a\nit-4,b\nit-5,c\n";
    let answers = [right, right, &right.replace("it-4,b", "it-4,c")];
    for (i, text) in answers.iter().enumerate() {
        let key = &d.accounts.annotators[i].private_key;
        let f = d.file(&format!("answers-{i}.csv"), text);
        let l = d.json(
            ANN,
            Some(key),
            &["label", "-b", &b, "--from", &f, "--commit"],
        );
        assert_eq!(
            l["commit"]["done"].as_array().map(Vec::len),
            Some(1),
            "one bundle (both tasks) committed: {l}"
        );
    }
    for a in &d.accounts.annotators[..3] {
        let r = d.json(ANN, Some(&a.private_key), &["reveal"]);
        assert_eq!(r["done"].as_array().map(Vec::len), Some(1), "{r}");
    }
    let s = d.json(REQ, Some(&req), &["settle", "-b", &b]);
    assert_eq!(s["tasksSettled"], 2, "{s}");

    // 1 CCD per agreeing label: the dissenter is paid for 5 labels and slashed for the sixth, which goes to the two
    // annotators that agreed on it-4.
    let mut got = Vec::new();
    for a in &d.accounts.annotators[..3] {
        let before = d.holdings(a.address).await;
        d.json(ANN, Some(&a.private_key), &["collect"]);
        let after = d.holdings(a.address).await;
        got.push((after.0 - before.0, after.1));
    }
    assert_eq!(got[0].0, got[1].0, "the agreeing two are paid alike");
    assert!(
        got[0].0 > ccd(6),
        "6 labels plus a share of the slash: {got:?}"
    );
    assert_eq!(got[2].0, ccd(5), "the dissenter: 5 agreeing labels");
    assert!(got[2].1 < ccd(100), "and its stake was slashed: {got:?}");
    assert_eq!(got[0].1, ccd(100), "the agreeing stake is whole");

    let out = d.dir.join("labels.jsonl").display().to_string();
    d.json(REQ, None, &["export", "-b", &b, "-o", &out]);
    let labels: Vec<(String, String)> = std::fs::read_to_string(&out)
        .expect("exported file")
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("jsonl");
            (
                v["id"].as_str().unwrap_or("").into(),
                v["label"].as_str().unwrap_or("").into(),
            )
        })
        .collect();
    let want: Vec<(String, String)> = right
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once(','))
        .map(|(i, c)| (i.into(), c.into()))
        .collect();
    assert_eq!(labels, want, "the consensus labels, item by item");
    let report = d.json(REQ, None, &["report", "-b", &b]);
    assert_eq!(
        (
            &report["items"],
            &report["labelsAccepted"],
            &report["labelsRejected"]
        ),
        (&6.into(), &17.into(), &1.into()),
        "{report}"
    );
}
