//! End-to-end: a generation batch (docs/generation.md) through the real CLIs on anvil — a requester, five
//! contributors (four careful, one spammer), the requester's own gold author, and three reviewers (two careful, one
//! who accepts everything) — from instructions to the exported dataset of accepted datapoints.

use alloy::primitives::{Address, U256};
use alloy::providers::ProviderBuilder;
use concord_client::bindings::generation::GenerationMarket;
use concord_e2e::Devnet;
use serde_json::json;

const REQ: &str = "concord-requester";
const ANN: &str = "concord-annotator";

/// Token balance plus what `who` holds in both markets (stake and claims): its wealth in the protocol.
async fn wealth(d: &Devnet, who: Address) -> U256 {
    let p = ProviderBuilder::new().connect_http(d.rpc.parse().expect("url"));
    let g = GenerationMarket::new(
        d.deployment.generation.expect("generation market deployed"),
        &p,
    );
    let deposit = g.depositOf(who).call().await.expect("deposit");
    let gen_claims = g
        .claimable(who, d.deployment.token)
        .call()
        .await
        .expect("claims");
    let (balance, staked) = d.holdings(who).await;
    balance + staked + d.claimable(who).await + U256::from(deposit.amount) + gen_claims
}

fn tokens(milli: u64) -> U256 {
    U256::from(milli) * U256::from(10u64).pow(U256::from(15u64))
}

#[tokio::test]
async fn a_generation_batch_runs_from_instructions_to_an_exported_dataset() {
    let d = Devnet::start(9, 0).await;
    let key = |i: usize| d.accounts.annotators[i].private_key.clone();
    let addr = |i: usize| d.accounts.annotators[i].address;
    let req = d.accounts.requester.private_key.clone();

    let instructions = d.file(
        "instructions.jsonl",
        "{\"id\":\"arith\",\"text\":\"Write an arithmetic question with its answer.\"}\n\
         {\"id\":\"geo\",\"text\":\"Write a geography question with its answer.\"}\n",
    );
    let g = d.json(
        REQ,
        Some(&req),
        &[
            "generate",
            "create",
            &instructions,
            "--cap",
            "10",
            "--max-items",
            "12",
        ],
    );
    let gid = g["generation"].as_u64().expect("generation id").to_string();
    assert_eq!(
        g["escrow"], "73",
        "10 x 5 + 12 x 3 x 0.5 + 5 gold bond: {g}"
    );
    // A second batch on the same clock, reviewed after the first: its review bars the reviewer the first one
    // found disagreeing more than agreeing (the review's default minimum reputation is 0 in the generation
    // market's domain).
    let g2 = d.json(
        REQ,
        Some(&req),
        &["generate", "create", &instructions, "--cap", "2"],
    );
    let gid2 = g2["generation"]
        .as_u64()
        .expect("generation id")
        .to_string();
    d.json(
        ANN,
        Some(&key(0)),
        &[
            "submit",
            "-g",
            &gid2,
            "--text",
            "Q: What is 9 * 9? A: 81.",
            "--instruction",
            "0",
        ],
    );

    let listed = d.json(ANN, Some(&key(0)), &["instructions", "-g", &gid]);
    assert_eq!(
        listed[1]["id"], "geo",
        "fetched and checked against the root: {listed}"
    );

    // Contributors 0..3 write one good datapoint each, 4 spams twice, 5 (the requester's) writes the gold.
    let good = [
        (0, "Q: What is 17 * 23? A: 391."),
        (1, "Q: Which river flows through Cairo? A: The Nile."),
        (0, "Q: What is the square root of 144? A: 12."),
        (1, "Q: What is the capital of Canada? A: Ottawa."),
    ];
    // Contributor 3 hosts its datapoint and publishes it by reference: the review fetches it from there and checks
    // it against the committed hash.
    let hosted = d.file("essay.txt", good[3].1);
    for (i, (instruction, text)) in good.iter().enumerate() {
        let instruction = instruction.to_string();
        let mut args = vec![
            "submit",
            "-g",
            &gid,
            "--text",
            text,
            "--instruction",
            &instruction,
        ];
        if i == 3 {
            args.extend_from_slice(&["--uri", &hosted]);
        }
        d.json(ANN, Some(&key(i)), &args);
    }
    let spam = d.file(
        "spam.jsonl",
        "{\"instruction\":0,\"text\":\"asdf asdf\"}\n{\"instruction\":1,\"text\":\"buy cheap watches\"}\n",
    );
    let s = d.json(ANN, Some(&key(4)), &["submit", "-g", &gid, "--file", &spam]);
    assert_eq!(s["submissions"], json!([4, 5]), "{s}");
    let gold_src = d.file(
        "gold-src.jsonl",
        "{\"instruction\":0,\"text\":\"Q: What is 2 + 2? A: 4.\"}\n{\"instruction\":1,\"text\":\"Q: Capital of France? A: Berlin.\"}\n",
    );
    d.json(
        ANN,
        Some(&key(5)),
        &["submit", "-g", &gid, "--file", &gold_src],
    );

    // Publishing opens only after the submit deadline, so nobody copies a pending datapoint.
    let early = d.cli(ANN, Some(&key(0)), &["publish", "-g", &gid]);
    assert!(!early.status.success());
    let err = String::from_utf8_lossy(&early.stderr);
    assert!(err.contains("publishing opens at"), "one clear line: {err}");
    d.advance(3601).await;
    for i in 0..6 {
        d.json(ANN, Some(&key(i)), &["publish", "-g", &gid]);
    }
    d.json(ANN, Some(&key(0)), &["publish", "-g", &gid2]);
    d.advance(1801).await;

    let gold = d.file(
        "gold.jsonl",
        "{\"text\":\"Q: What is 2 + 2? A: 4.\",\"accept\":true}\n{\"text\":\"Q: Capital of France? A: Berlin.\",\"accept\":false}\n",
    );
    let manifest = d.dir.join("review.json").display().to_string();
    let r = d.json(
        REQ,
        Some(&req),
        &[
            "generate", "review", "-g", &gid, "--gold", &gold, "--out", &manifest,
        ],
    );
    assert_eq!(r["items"], 8, "{r}");
    assert_eq!(r["gold"], 2, "{r}");
    let rb = r["reviewBatch"].as_u64().expect("review batch").to_string();

    // A contributor cannot review its own batch: the join is refused with one clear line.
    d.json(ANN, Some(&key(0)), &["stake", "100"]);
    let own = d.cli(ANN, Some(&key(0)), &["join", "-b", &rb]);
    assert!(!own.status.success(), "a contributor joined its own review");
    let err = String::from_utf8_lossy(&own.stderr);
    assert!(
        err.contains("nobody reviews its own batch"),
        "one clear line: {err}"
    );

    // Reviewer 6 is careful, 7 rejects everything, 8 accepts everything; each takes a whole lane of the 8
    // datapoints. Two of three decide: 6 and one of the others agree on every datapoint.
    let bad: Vec<&str> = vec![
        "asdf asdf",
        "buy cheap watches",
        "Q: Capital of France? A: Berlin.",
    ];
    let items: Vec<serde_json::Value> = serde_json::from_str::<serde_json::Value>(
        &std::fs::read_to_string(&manifest).expect("review manifest written"),
    )
    .expect("manifest json")["items"]
        .as_array()
        .cloned()
        .expect("items");
    let answers = |all: Option<bool>| {
        items
            .iter()
            .map(|it| {
                let text = it["text"].as_str().unwrap_or_default();
                let accept = all.unwrap_or(!bad.contains(&text));
                json!({"id": it["id"], "label": if accept { "accept" } else { "reject" }})
                    .to_string()
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    let before: Vec<U256> = futures_wealth(&d, &[addr(4), addr(8), addr(0), addr(6)]).await;
    for i in 6..9 {
        d.json(ANN, Some(&key(i)), &["stake", "100"]);
        let j = d.join(&key(i), &rb, None);
        assert_eq!(j["joined"]["size"], 8, "a whole lane: {j}");
    }
    for (i, all) in [(6, None), (7, Some(false)), (8, Some(true))] {
        assert_eq!(d.my_tasks(&key(i), &rb).len(), 8);
        let file = d.file(&format!("answers-{i}.jsonl"), &answers(all));
        d.json(
            ANN,
            Some(&key(i)),
            &["label", "-b", &rb, "--from", &file, "--commit"],
        );
    }
    d.advance(2 * 3600 + 1).await;
    d.json(
        REQ,
        Some(&req),
        &[
            "reveal-gold",
            "-b",
            &rb,
            "--gold",
            &manifest.replace(".json", ".gold.json"),
        ],
    );
    for i in 6..9 {
        d.json(ANN, Some(&key(i)), &["reveal"]);
    }
    d.advance(3601).await;
    d.json(REQ, Some(&req), &["settle", "-b", &rb]);

    // The second batch's review: the reject-all reviewer (agreed 2 times, disagreed 4, one gold right, one wrong:
    // score -2) is barred; the careful one joins.
    let manifest2 = d.dir.join("review-2.json").display().to_string();
    let r2 = d.json(
        REQ,
        Some(&req),
        &["generate", "review", "-g", &gid2, "--out", &manifest2],
    );
    let rb2 = r2["reviewBatch"]
        .as_u64()
        .expect("review batch")
        .to_string();
    let barred = d.cli(ANN, Some(&key(7)), &["join", "-b", &rb2]);
    assert!(
        !barred.status.success(),
        "a reviewer who mostly disagreed joined again"
    );
    let err = String::from_utf8_lossy(&barred.stderr);
    assert!(err.contains("reputation score -2"), "one clear line: {err}");
    let again = d.join(&key(6), &rb2, None);
    assert_eq!(
        again["joined"]["size"], 1,
        "the careful reviewer reviews again: {again}"
    );

    let f = d.json(REQ, Some(&req), &["generate", "finalize", "-g", &gid]);
    assert_eq!(f["accepted"], 4, "the four careful datapoints: {f}");
    assert_eq!(f["rejected"], 2, "the spam: {f}");
    assert_eq!(f["gold"], 2, "the requester's examples: {f}");
    let refund = d.json(REQ, Some(&req), &["generate", "refund", "-g", &gid]);
    assert!(refund["refunded"].is_string(), "{refund}");

    let out = d.dir.join("accepted.jsonl");
    let out_s = out.display().to_string();
    d.cli(
        REQ,
        Some(&req),
        &[
            "generate",
            "export",
            "-g",
            &gid,
            "--instructions",
            &instructions,
            "-o",
            &out_s,
        ],
    );
    let rows: Vec<serde_json::Value> = std::fs::read_to_string(&out)
        .expect("export written")
        .lines()
        .map(|l| serde_json::from_str(l).expect("jsonl row"))
        .collect();
    assert_eq!(rows.len(), 4, "the accepted datapoints only");
    for row in &rows {
        assert_eq!(row["verdict"], "accepted", "{row}");
        assert!(good.iter().any(|(_, t)| row["content"] == *t), "{row}");
        assert_eq!(row["reviewers"].as_array().map(Vec::len), Some(3), "{row}");
        assert_eq!(row["votes"].as_array().map(Vec::len), Some(3), "{row}");
        assert!(
            row["instruction_text"]
                .as_str()
                .is_some_and(|t| t.starts_with("Write")),
            "{row}"
        );
        assert!(row["provenance"]["published"].is_string(), "{row}");
        assert_eq!(
            row["uri"].as_str(),
            (row["content"] == good[3].1).then_some(hosted.as_str()),
            "the hosted datapoint, fetched and checked: {row}"
        );
    }

    let q = d.json(REQ, Some(&req), &["generate", "report", "-g", &gid]);
    assert_eq!(q["accepted"], 4, "{q}");
    assert_eq!(q["rejected"], 2, "{q}");
    assert!(
        (q["filtered_share"].as_f64().expect("share") - 2.0 / 6.0).abs() < 1e-9,
        "{q}"
    );
    assert_eq!(
        q["authors"][0]["author"],
        addr(4).to_string(),
        "the spammer is most rejected: {q}"
    );
    assert!(q["reviewer_kappa"].as_f64().is_some(), "{q}");

    // Everyone collects; then the careful end positive, the spammer and the approve-all reviewer negative.
    for i in [0, 4, 6, 8] {
        d.json(ANN, Some(&key(i)), &["collect"]);
    }
    let after = futures_wealth(&d, &[addr(4), addr(8), addr(0), addr(6)]).await;
    assert!(
        after[0] < before[0],
        "the spammer lost: {} -> {}",
        before[0],
        after[0]
    );
    assert_eq!(
        before[0] - after[0],
        tokens(16_000),
        "2 rejected x 8 slashed"
    );
    assert!(
        after[1] < before[1],
        "the approve-all reviewer lost: {} -> {}",
        before[1],
        after[1]
    );
    assert!(after[2] > before[2], "a careful contributor gained");
    assert_eq!(
        after[2] - before[2],
        tokens(5_000),
        "one accepted datapoint x 5"
    );
    assert!(after[3] > before[3], "a careful reviewer gained");
}

async fn futures_wealth(d: &Devnet, who: &[Address]) -> Vec<U256> {
    let mut out = Vec::new();
    for w in who {
        out.push(wealth(d, *w).await);
    }
    out
}
