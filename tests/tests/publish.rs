//! A requester publishes its batch's folder over HTTP (`create --publish-url`, `serve --publish`) and annotators
//! fetch the manifest from there, verify it against the on-chain root, cache it, label and commit; a swapped
//! manifest on the server is refused, and the private gold file is never served.

use concord_e2e::{dataset, Devnet};
use std::time::Duration;

const REQ: &str = "concord-requester";
const ANN: &str = "concord-annotator";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

#[tokio::test(flavor = "multi_thread")]
async fn annotators_fetch_and_verify_a_published_manifest_and_refuse_a_swapped_one() {
    let d = Devnet::start(3, 0).await;
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}/");
    let ds = d.file("items.jsonl", &dataset(6, Some(3)));
    let v = d.create(
        &ds,
        &[
            "--classes",
            "a,b,c",
            "--task-size",
            "3",
            "--publish-url",
            &base,
        ],
    );
    let b = v["batchId"].as_u64().expect("batch").to_string();
    let uri = v["manifestUri"].as_str().expect("uri").to_string();
    assert!(
        uri.starts_with(&base),
        "the manifest URI is under the publish URL: {uri}"
    );
    let folder = d.dir.join("req");
    let mut server = serve(&d, &folder, port).await;
    let http = reqwest_client();

    // Range requests and caching headers; the private gold file is not served.
    let part = http
        .get(&uri)
        .header("range", "bytes=0-9")
        .send()
        .await
        .expect("range request");
    assert_eq!(part.status().as_u16(), 206);
    assert!(part.headers().contains_key("cache-control"));
    assert_eq!(part.bytes().await.expect("body").len(), 10);
    let gold = v["goldPath"].as_str().expect("gold path");
    let gold_name = std::path::Path::new(gold)
        .file_name()
        .expect("name")
        .to_string_lossy()
        .to_string();
    assert!(
        folder.join(&gold_name).exists(),
        "the gold file is in the folder"
    );
    let secret = http
        .get(format!("{base}{gold_name}"))
        .send()
        .await
        .expect("gold request");
    assert_eq!(
        secret.status().as_u16(),
        404,
        "gold answers are never served"
    );

    // Annotators on their own machines: the manifest comes over HTTP only (the local copy is not theirs).
    let shown = d.json(ANN, None, &["show", "-b", &b, "-t", "0"]);
    assert_eq!(shown["items"].as_array().map(Vec::len), Some(3), "{shown}");
    let root = d.json(REQ, None, &["status", "-b", &b]);
    assert!(root["numItems"] == 6, "{root}");
    let cached = std::fs::read_dir(d.dir.join("home").join("manifests"))
        .expect("manifest cache")
        .count();
    assert_eq!(cached, 1, "the verified manifest is cached");
    let answers = d.file(
        "answers.csv",
        "id,label\nit-0,a\nit-1,b\nit-2,c\nit-3,a\nit-4,b\nit-5,c\n",
    );
    d.stake_and_join_all(3, &b);
    for i in 0..3 {
        let key = d.accounts.annotators[i].private_key.clone();
        let l = d.json(
            ANN,
            Some(&key),
            &["label", "-b", &b, "--from", &answers, "--commit"],
        );
        assert_eq!(l["commit"]["done"].as_array().map(Vec::len), Some(1), "{l}");
    }

    // The requester swaps the manifest on its server: an annotator without a cached copy refuses it.
    let file = folder.join(uri.rsplit('/').next().expect("file name"));
    let text = std::fs::read_to_string(&file).expect("manifest");
    std::fs::write(&file, text.replacen("item number 1", "item number one", 1)).expect("swap");
    assert_ne!(
        std::fs::read_to_string(&file).expect("swapped"),
        text,
        "the test swapped something"
    );
    let fresh = d.dir.join("fresh-home").display().to_string();
    let o = d.cli_env(
        ANN,
        None,
        &["show", "-b", &b, "-t", "0"],
        &[("CONCORD_HOME", &fresh)],
    );
    assert!(!o.status.success(), "a swapped manifest is refused");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert!(
        err.contains("is not the manifest the batch was created with") && err.contains(&uri),
        "{err}"
    );
    // A missing file is one clear line too.
    std::fs::remove_file(&file).expect("remove");
    let o = d.cli_env(
        ANN,
        None,
        &["show", "-b", &b, "-t", "0"],
        &[("CONCORD_HOME", &fresh)],
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("HTTP 404"), "{err}");
    let _ = server.kill();
    let _ = server.wait();
}

/// Annotators hand their reveals to the requester's server (`reveal --via`, `serve --publish --accept-reveals`)
/// instead of sending reveal transactions; the server checks each against its commitment on-chain and refuses
/// anything else in one line; `settle` carries them, so the batch settles before the reveal deadline with every
/// lane revealed, and those annotators paid for no reveal. One annotator reveals on-chain itself: both mix.
#[tokio::test(flavor = "multi_thread")]
async fn reveals_handed_to_the_settler_are_carried_by_the_settlement() {
    use alloy::providers::{Provider, ProviderBuilder};
    let Served {
        d,
        base,
        b,
        answers,
        mut server,
    } = items_served(3, 6, "--accept-reveals").await;
    let post = |body: String| post_to(&base, "reveals", body);
    d.stake_and_join_all(3, &b);
    // Before every position is committed, a reveal handed over is refused (reveals are not open).
    let scope = |bundle: u64, salt: &str| {
        format!(
            r#"{{"chainId":31337,"market":"{:#x}","batch":{b},"bundle":{bundle},"labels":["0x0"],"salt":"{salt}"}}"#,
            d.deployment.market
        )
    };
    let zero = format!("0x{}", "00".repeat(32));
    let (status, line) = post(scope(0, &zero)).await;
    assert_eq!(status, 422, "{line}");
    assert!(line.contains("not open yet"), "{line}");
    for i in 0..3 {
        let key = d.accounts.annotators[i].private_key.clone();
        let l = d.json(
            ANN,
            Some(&key),
            &["label", "-b", &b, "--from", &answers, "--commit"],
        );
        assert_eq!(l["commit"]["done"].as_array().map(Vec::len), Some(1), "{l}");
    }
    // Labels and salt that do not open the commitment, a body that is not a reveal, another market: one line each.
    let (status, line) = post(scope(0, &zero)).await;
    assert_eq!(status, 422, "{line}");
    assert_eq!(line.trim().lines().count(), 1, "{line}");
    assert!(line.contains("do not open its commitment"), "{line}");
    let (status, line) = post("{\"batch\":0}".into()).await;
    assert_eq!(status, 400, "{line}");
    assert!(line.starts_with("not a reveal"), "{line}");
    let other = scope(0, &zero).replace(
        &format!("{:#x}", d.deployment.market),
        &format!("{:#x}", alloy::primitives::Address::ZERO),
    );
    let (status, line) = post(other).await;
    assert!(
        status == 422 && line.contains("this server takes reveals for market"),
        "{line}"
    );

    // Two annotators hand their reveals over and send no transaction; the third reveals on-chain.
    let p = ProviderBuilder::new().connect_http(d.rpc.parse().expect("rpc url"));
    for i in 0..2 {
        let a = &d.accounts.annotators[i];
        let nonce = p.get_transaction_count(a.address).await.expect("nonce");
        let out = d.cli(
            ANN,
            Some(&a.private_key),
            &["reveal", "-b", &b, "--via", &base],
        );
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(text.contains("handed 1 reveal to the settler"), "{text}");
        assert!(
            !text.contains("revealed 1"),
            "nothing revealed on-chain: {text}"
        );
        let after = p.get_transaction_count(a.address).await.expect("nonce");
        assert_eq!(after, nonce, "a hand-over sends no transaction");
    }
    let kept = std::fs::read_dir(d.dir.join("home").join("reveals"))
        .expect("the server keeps what it accepted under CONCORD_HOME/reveals")
        .count();
    assert_eq!(kept, 1, "one folder per deployment");
    // Late in the reveal window (its last quarter) a hand-over is not left to the settler any more: `reveal --via`
    // reveals on-chain, so an annotator that runs it late is never slashed for a settler that does not settle.
    let st = d.json(REQ, None, &["status", "-b", &b]);
    let (now, commit, reveal) = (
        st["now"].as_u64().expect("now"),
        st["commitDeadline"].as_u64().expect("commit deadline"),
        st["revealDeadline"].as_u64().expect("reveal deadline"),
    );
    d.advance(reveal - (reveal - commit) / 4 - now + 1).await;
    let key2 = d.accounts.annotators[2].private_key.clone();
    let out = d.cli(ANN, Some(&key2), &["reveal", "-b", &b, "--via", &base]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("the reveal deadline is near"), "{text}");
    assert!(text.contains("revealed 1 bundle"), "{text}");

    // Before the reveal deadline the settlement carries the two reveals: every lane is revealed.
    let req_key = d.accounts.requester.private_key.clone();
    let s = d.json(REQ, Some(&req_key), &["settle", "-b", &b]);
    assert_eq!(s["tasksSettled"], 2, "{s}");
    assert_eq!(s["revealsCarried"], 2, "{s}");
    let st = d.json(REQ, None, &["status", "-b", &b]);
    assert_eq!(
        st["labelsRevealed"], 18,
        "every label revealed on-chain, 12 of them by the settlement: {st}"
    );
    // The annotators' own `reveal` then finds their bundles revealed and sends nothing.
    let a0 = &d.accounts.annotators[0];
    let nonce = p.get_transaction_count(a0.address).await.expect("nonce");
    let r = d.json(ANN, Some(&a0.private_key), &["reveal", "-b", &b]);
    assert_eq!(r["done"].as_array().map(Vec::len), Some(0), "{r}");
    assert_eq!(
        p.get_transaction_count(a0.address).await.expect("nonce"),
        nonce
    );
    let out = d.dir.join("labels.jsonl");
    d.json(
        REQ,
        None,
        &["export", "-b", &b, "-o", &out.display().to_string()],
    );
    let rows = std::fs::read_to_string(&out).expect("export");
    assert_eq!(rows.lines().count(), 6, "{rows}");
    for (i, want) in ["a", "b", "c", "a", "b", "c"].iter().enumerate() {
        let row: serde_json::Value =
            serde_json::from_str(rows.lines().nth(i).expect("row")).expect("json");
        assert_eq!(row["label"], *want, "{row}");
        assert_eq!(row["numLabels"], 3, "all three labels count: {row}");
    }
    for i in 0..3 {
        let c = d.claimable(d.accounts.annotators[i].address).await;
        assert!(!c.is_zero(), "annotator {i} was paid");
    }
    let _ = server.kill();
    let _ = server.wait();
}

/// Annotators sign their commits and hand them to the requester's server (`commit --via`, `serve --publish
/// --accept-commits`) instead of sending commit transactions; the server checks each by a dry run on-chain and
/// refuses anything else in one line; `concord-requester relay` sends them all in one transaction. The batch then
/// reveals and settles as usual, and the annotators' stores know their bundles committed.
#[tokio::test(flavor = "multi_thread")]
async fn commits_handed_to_the_requester_are_relayed_in_one_transaction() {
    use alloy::providers::{Provider, ProviderBuilder};
    let Served {
        d,
        base,
        b,
        answers,
        mut server,
    } = items_served(3, 6, "--accept-commits").await;
    d.stake_and_join_all(3, &b);
    let p = ProviderBuilder::new().connect_http(d.rpc.parse().expect("rpc url"));
    for i in 0..3 {
        let a = &d.accounts.annotators[i];
        d.json(
            ANN,
            Some(&a.private_key),
            &["label", "-b", &b, "--from", &answers],
        );
        let nonce = p.get_transaction_count(a.address).await.expect("nonce");
        let out = d.cli(
            ANN,
            Some(&a.private_key),
            &["commit", "-b", &b, "--via", &base],
        );
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(text.contains("handed 1 commit to the settler"), "{text}");
        assert_eq!(
            p.get_transaction_count(a.address).await.expect("nonce"),
            nonce,
            "a hand-over sends no transaction"
        );
    }
    // A body that is not a list of commits, and a commit whose signature is not its annotator's: one line each.
    let post = |body: String| post_to(&base, "commits", body);
    let (status, line) = post("{\"batch\":0}".into()).await;
    assert_eq!(status, 400, "{line}");
    assert!(line.starts_with("not a list of signed commits"), "{line}");
    let kept = d
        .dir
        .join("home")
        .join("commits")
        .join(format!("31337-{:#x}", d.deployment.market))
        .join(&b);
    let first =
        std::fs::read_to_string(kept.join("0.json")).expect("the server keeps bundle 0's commit");
    let mut forged: serde_json::Value = serde_json::from_str(&first).expect("a signed commit");
    forged["maxTasks"] = 1.into(); // a field the annotator did not sign
    let (status, line) = post(format!("[{forged}]")).await;
    assert_eq!(status, 422, "{line}");
    assert_eq!(line.trim().lines().count(), 1, "{line}");
    assert!(line.contains("not the bundle's annotator's"), "{line}");
    assert_eq!(
        std::fs::read_dir(&kept).expect("kept").count(),
        3,
        "the three commits handed over, nothing else"
    );

    // The requester sends the three in one transaction.
    let req_key = d.accounts.requester.private_key.clone();
    let r = d.json(REQ, Some(&req_key), &["relay", "-b", &b]);
    assert_eq!(r["commits"]["relayed"], 3, "{r}");
    assert_eq!(r["commits"]["transactions"], 1, "{r}");
    let st = d.json(REQ, None, &["status", "-b", &b]);
    assert_eq!(st["labelsCommitted"], 18, "every position committed: {st}");
    let again = d.json(REQ, Some(&req_key), &["relay", "-b", &b]);
    assert_eq!(
        again["commits"]["relayed"], 0,
        "nothing left to send: {again}"
    );

    // The annotators' own `commit` finds them on-chain; they reveal, and the batch settles as usual.
    for i in 0..3 {
        let a = &d.accounts.annotators[i];
        let c = d.json(ANN, Some(&a.private_key), &["commit", "-b", &b]);
        assert_eq!(
            c["done"].as_array().map(Vec::len),
            Some(1),
            "seen committed: {c}"
        );
        let r = d.json(ANN, Some(&a.private_key), &["reveal", "-b", &b]);
        assert_eq!(r["done"].as_array().map(Vec::len), Some(1), "revealed: {r}");
    }
    let s = d.json(REQ, Some(&req_key), &["settle", "-b", &b]);
    assert_eq!(s["tasksSettled"], 2, "{s}");
    for i in 0..3 {
        let c = d.claimable(d.accounts.annotators[i].address).await;
        assert!(!c.is_zero(), "annotator {i} was paid");
    }
    let _ = server.kill();
    let _ = server.wait();
}

/// A newcomer holding tokens and no ether signs its join, with a permit of the stake it needs, and hands it to
/// the requester's server (`join --via`); the requester's `relay` stakes and joins it in one transaction; the
/// newcomer's `status` then shows the bundle. A join the server is handed with a field the newcomer did not sign is
/// refused in one line, and nothing moves.
#[tokio::test(flavor = "multi_thread")]
async fn a_newcomer_without_ether_stakes_and_joins_through_the_requester() {
    use alloy::network::EthereumWallet;
    use alloy::primitives::U256;
    use alloy::providers::{Provider, ProviderBuilder};
    use alloy::signers::local::PrivateKeySigner;
    let Served {
        d,
        base,
        b,
        answers: _,
        mut server,
    } = items_served(3, 6, "--accept-joins").await;
    // The newcomer: 1,000 tokens from annotator 2, no ether.
    let newcomer = PrivateKeySigner::random();
    let key = format!("0x{}", alloy::hex::encode(newcomer.to_bytes()));
    let me = newcomer.address();
    let giver: PrivateKeySigner = d.accounts.annotators[2].private_key.parse().expect("key");
    let p = ProviderBuilder::new()
        .wallet(EthereumWallet::from(giver))
        .connect_http(d.rpc.parse().expect("rpc url"));
    let token = concord_client::bindings::ConcordToken::new(d.deployment.token, &p);
    let thousand = U256::from(1_000u64) * U256::from(10u64).pow(U256::from(18u64));
    token
        .transfer(me, thousand)
        .send()
        .await
        .expect("send tokens")
        .get_receipt()
        .await
        .expect("mined");
    assert!(
        p.get_balance(me).await.expect("ether").is_zero(),
        "no ether"
    );

    // A join of two tasks needs 2 x 3-item tasks' stake; the newcomer has none and gave no allowance: a permit.
    let out = d.cli(ANN, Some(&key), &["join", "-b", &b, "--via", &base]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("handed the join of batch"), "{text}");
    assert!(text.contains("through a permit"), "{text}");
    assert!(text.contains("1 join accepted"), "{text}");

    // A kept join with a field changed (the size): refused in one line.
    let kept = d
        .dir
        .join("home")
        .join("joins")
        .join(format!("31337-{:#x}", d.deployment.market))
        .join(&b);
    let file = std::fs::read_dir(&kept)
        .expect("the server keeps the join")
        .flatten()
        .map(|e| e.path())
        .next()
        .expect("one join kept");
    let mut forged: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).expect("read"))
            .expect("a signed join");
    forged["maxTasks"] = 1.into();
    let (status, line) = post_to(&base, "joins", format!("[{forged}]")).await;
    assert_eq!(status, 422, "{line}");
    assert_eq!(line.trim().lines().count(), 1, "{line}");
    assert!(line.contains("not the annotator's"), "{line}");
    let (status, line) = post_to(&base, "joins", "{}".into()).await;
    assert_eq!(status, 400, "{line}");
    assert!(line.starts_with("not a list of signed joins"), "{line}");

    // The requester relays it: the newcomer's tokens are staked and it holds a bundle; it sent nothing.
    let req_key = d.accounts.requester.private_key.clone();
    let r = d.json(REQ, Some(&req_key), &["relay", "-b", &b]);
    assert_eq!(r["joins"]["relayed"], 1, "{r}");
    assert_eq!(r["joins"]["transactions"], 1, "{r}");
    assert!(
        p.get_balance(me).await.expect("ether").is_zero(),
        "still no ether spent"
    );
    let (wallet, staked) = d.holdings(me).await;
    assert!(!staked.is_zero(), "staked through the permit");
    assert_eq!(
        wallet + staked,
        thousand,
        "every token is in the wallet or the stake"
    );
    let st = d.json(ANN, Some(&key), &["status", "-b", &b]);
    let bundles = st["bundles"].as_array().cloned().unwrap_or_default();
    assert_eq!(
        bundles.len(),
        1,
        "the relayed join is in the newcomer's store: {st}"
    );
    let again = d.json(REQ, Some(&req_key), &["relay", "-b", &b]);
    assert_eq!(
        again["joins"]["relayed"], 0,
        "nothing left to send: {again}"
    );
    let _ = server.kill();
    let _ = server.wait();
}

/// Two members of one lane sign commits that each join the next round for its one spare position: each passes its
/// own dry run, but not both in one transaction. `relay` sends the first and reports the second (nothing else is
/// held back), whose annotator then commits it itself: nothing is lost.
#[tokio::test(flavor = "multi_thread")]
async fn relay_leaves_out_a_join_that_fails_with_the_others() {
    let Served {
        d,
        base,
        b,
        answers,
        mut server,
    } = items_served(4, 9, "--accept-commits").await;
    // Three tasks per lane: annotators 0 and 1 fill lanes 0 and 1; 2 and 3 take one task each of lane 2.
    let keys: Vec<String> = (0..4)
        .map(|i| d.accounts.annotators[i].private_key.clone())
        .collect();
    let mut lanes = Vec::new();
    for (i, n) in [3u64, 3, 1, 1].into_iter().enumerate() {
        d.json(ANN, Some(&keys[i]), &["stake", "200"]);
        let j = d.join(&keys[i], &b, Some(n));
        assert_eq!(j["joined"]["size"], n, "{j}");
        lanes.push(j["joined"]["lane"].clone());
    }
    assert_eq!(
        lanes[2], lanes[3],
        "annotators 2 and 3 share a lane: {lanes:?}"
    );
    d.end_join_window(&b).await;
    for k in &keys {
        d.json(ANN, Some(k), &["label", "-b", &b, "--from", &answers]);
    }
    for k in &keys[2..] {
        let out = d.cli(
            ANN,
            Some(k),
            &["commit", "-b", &b, "--via", &base, "--join-next", "1"],
        );
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("handed 1 commit"), "{text}");
    }
    for k in &keys[..2] {
        d.json(ANN, Some(k), &["commit", "-b", &b]);
    }
    let req_key = d.accounts.requester.private_key.clone();
    let r = d.json(REQ, Some(&req_key), &["relay", "-b", &b]);
    assert_eq!(r["commits"]["relayed"], 1, "{r}");
    assert_eq!(r["commits"]["joined"], 1, "the first one's join: {r}");
    let refused = r["commits"]["refused"].as_array().expect("refused");
    assert_eq!(refused.len(), 1, "{r}");
    assert!(
        refused[0]
            .as_str()
            .unwrap_or("")
            .contains("with the others before it"),
        "{r}"
    );
    // Their next `commit`: the relayed one is seen on-chain, the one left out is sent by its annotator. Every
    // labeled position is committed.
    for k in &keys[2..] {
        let c = d.json(ANN, Some(k), &["commit", "-b", &b]);
        assert_eq!(c["done"].as_array().map(Vec::len), Some(1), "{c}");
    }
    let st = d.json(REQ, None, &["status", "-b", &b]);
    assert_eq!(st["positionsCommitted"], 8, "{st}");
    let _ = server.kill();
    let _ = server.wait();
}

/// A batch of `items` items (tasks of 3, classes a, b, c; item i's answer is the (i mod 3)-th class) on a devnet with
/// `annotators` annotators, published by a requester whose server takes what `accept` says (`--accept-reveals`,
/// `--accept-commits`), and the answers to label it with.
struct Served {
    d: Devnet,
    base: String,
    b: String,
    answers: String,
    server: std::process::Child,
}

async fn items_served(annotators: u32, items: usize, accept: &str) -> Served {
    let d = Devnet::start(annotators, 0).await;
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}/");
    let ds = d.file("items.jsonl", &dataset(items, None));
    let v = d.create(
        &ds,
        &[
            "--classes",
            "a,b,c",
            "--task-size",
            "3",
            "--publish-url",
            &base,
        ],
    );
    let b = v["batchId"].as_u64().expect("batch").to_string();
    let server = serve_with(&d, &d.dir.join("req"), port, &[accept]).await;
    let rows: String = (0..items)
        .map(|i| format!("it-{i},{}\n", ["a", "b", "c"][i % 3]))
        .collect();
    let answers = d.file("answers.csv", &format!("id,label\n{rows}"));
    Served {
        d,
        base,
        b,
        answers,
        server,
    }
}

/// `POST {base}{path}` with a JSON body: the status and the answer.
async fn post_to(base: &str, path: &str, body: String) -> (u16, String) {
    let r = reqwest_client()
        .post(format!("{base}{path}"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("post");
    (r.status().as_u16(), r.text().await.unwrap_or_default())
}

/// `concord-requester serve --publish <folder>` on `port`, once it answers.
async fn serve(d: &Devnet, folder: &std::path::Path, port: u16) -> std::process::Child {
    serve_with(d, folder, port, &[]).await
}

/// [`serve`] with more options (`--accept-reveals`).
async fn serve_with(
    d: &Devnet,
    folder: &std::path::Path,
    port: u16,
    more: &[&str],
) -> std::process::Child {
    let folder = folder.display().to_string();
    let port_arg = port.to_string();
    let mut args = vec!["serve", "--publish", &folder, "--port", &port_arg];
    args.extend_from_slice(more);
    let mut server = d.spawn(REQ, Some(&d.accounts.requester.private_key), &args);
    let http = reqwest_client();
    for _ in 0..100 {
        if http
            .get(format!("http://127.0.0.1:{port}/"))
            .send()
            .await
            .is_ok()
        {
            return server;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = server.kill();
    let _ = server.wait();
    panic!("the publication server never answered on port {port}");
}

fn reqwest_client() -> alloy::transports::http::reqwest::Client {
    alloy::transports::http::reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("http client")
}

/// Items whose `uri` is a media file: `create` hashes the bytes into the item (so the on-chain root binds them),
/// copies them into the publication folder by hash, and points the manifest at the published copies. Annotators
/// fetch each file over HTTP, check it against its SHA-256 before showing it and keep the verified copy; a file
/// swapped on the server afterwards is refused, in one line naming the item.
#[tokio::test(flavor = "multi_thread")]
async fn media_files_are_hashed_at_creation_and_verified_before_an_annotator_sees_them() {
    let d = Devnet::start(0, 0).await;
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}/");
    let src = d.dir.join("pics");
    std::fs::create_dir_all(&src).expect("pics dir");
    let mut lines = String::new();
    for i in 0..3 {
        std::fs::write(src.join(format!("p{i}.png")), format!("picture {i} bytes")).expect("pic");
        lines.push_str(&format!(
            "{{\"id\":\"pic-{i}\",\"uri\":\"pics/p{i}.png\"}}\n"
        ));
    }
    let ds = d.file("pics.jsonl", &lines);
    let v = d.create(
        &ds,
        &[
            "--classes",
            "cat,dog",
            "--task-size",
            "3",
            "--publish-url",
            &base,
        ],
    );
    let b = v["batchId"].as_u64().expect("batch").to_string();
    let folder = d.dir.join("req");
    let media_dir = folder.join("media");
    let published: Vec<String> = std::fs::read_dir(&media_dir)
        .expect("media folder")
        .map(|e| e.expect("entry").file_name().to_string_lossy().to_string())
        .collect();
    assert_eq!(published.len(), 3, "{published:?}");
    let mut server = serve(&d, &folder, port).await;

    let shown = d.json(ANN, None, &["show", "-b", &b, "-t", "0"]);
    let items = shown["items"].as_array().cloned().unwrap_or_default();
    assert_eq!(items.len(), 3, "{shown}");
    for (i, it) in items.iter().enumerate() {
        let uri = it["uri"].as_str().expect("uri");
        assert!(
            uri.starts_with(&format!("{base}media/")),
            "published copy: {uri}"
        );
        let sha = it["media"]["sha256"].as_str().expect("sha256");
        assert!(
            uri.contains(sha.trim_start_matches("0x")),
            "named by hash: {uri}"
        );
        assert!(it["media"]["cid"]
            .as_str()
            .is_some_and(|c| c.starts_with("bafkrei")));
        let copy = shown["media"][i].as_str().expect("a verified copy");
        assert_eq!(
            std::fs::read_to_string(copy).expect("copy"),
            format!("picture {i} bytes")
        );
        assert!(copy.starts_with(&d.dir.join("home").join("media").display().to_string()));
    }

    // The requester swaps one picture on its server: a fresh annotator refuses it, naming the item; the one that
    // verified it before still has its copy.
    let victim = items[1]["uri"]
        .as_str()
        .expect("uri")
        .rsplit('/')
        .next()
        .expect("name")
        .to_string();
    std::fs::write(media_dir.join(&victim), "another picture").expect("swap");
    let fresh = d.dir.join("fresh-home").display().to_string();
    let o = d.cli_env(
        ANN,
        None,
        &["show", "-b", &b, "-t", "0"],
        &[("CONCORD_HOME", &fresh)],
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "a swapped media file is refused");
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert!(
        err.contains("item `pic-1`") && err.contains("is not the file the batch was created with"),
        "{err}"
    );
    assert!(
        !std::path::Path::new(&fresh)
            .join("media")
            .join(&victim)
            .exists(),
        "nothing unverified is kept"
    );
    let again = d.json(ANN, None, &["show", "-b", &b, "-t", "0"]);
    assert!(
        again["media"][1].is_string(),
        "the verified copy serves: {again}"
    );
    // A file the server no longer has: one line, naming the item.
    std::fs::remove_file(media_dir.join(&victim)).expect("remove");
    let o = d.cli_env(
        ANN,
        None,
        &["show", "-b", &b, "-t", "0"],
        &[("CONCORD_HOME", &fresh)],
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("item `pic-1`") && err.contains("HTTP 404"),
        "{err}"
    );
    let _ = server.kill();
    let _ = server.wait();
}

/// A publication on IPFS (`--publish-url ipfs://<cid>/`): manifest and pictures are named by `ipfs://` URIs and
/// fetched through the gateway the annotator configures (`CONCORD_IPFS_GATEWAY`); what a lying gateway returns is
/// refused like anything else that does not match its hash.
#[tokio::test(flavor = "multi_thread")]
async fn an_ipfs_publication_is_read_through_the_gateway_and_checked() {
    let d = Devnet::start(0, 0).await;
    let src = d.dir.join("pics");
    std::fs::create_dir_all(&src).expect("pics dir");
    let mut lines = String::new();
    for i in 0..3 {
        std::fs::write(src.join(format!("p{i}.jpg")), format!("photo {i}")).expect("pic");
        lines.push_str(&format!(
            "{{\"id\":\"ph-{i}\",\"text\":\"photo {i}\",\"uri\":\"pics/p{i}.jpg\"}}\n"
        ));
    }
    let ds = d.file("photos.jsonl", &lines);
    let root = "bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi";
    let v = d.create(
        &ds,
        &[
            "--classes",
            "cat,dog",
            "--task-size",
            "3",
            "--publish-url",
            &format!("ipfs://{root}/"),
        ],
    );
    let b = v["batchId"].as_u64().expect("batch").to_string();
    assert!(
        v["manifestUri"]
            .as_str()
            .is_some_and(|u| u.starts_with(&format!("ipfs://{root}/manifest-"))),
        "{v}"
    );
    // The gateway: the folder under /ipfs/<cid>/, as `ipfs add -r` and a public gateway would serve it.
    let gw = d.dir.join("gateway");
    let under = gw.join("ipfs").join(root);
    std::fs::create_dir_all(under.join("media")).expect("gateway dirs");
    let folder = d.dir.join("req");
    for entry in std::fs::read_dir(&folder).expect("folder") {
        let p = entry.expect("entry").path();
        if p.is_file() && !p.to_string_lossy().contains(".secret.") {
            std::fs::copy(&p, under.join(p.file_name().expect("name"))).expect("copy");
        }
    }
    for entry in std::fs::read_dir(folder.join("media")).expect("media") {
        let p = entry.expect("entry").path();
        std::fs::copy(&p, under.join("media").join(p.file_name().expect("name"))).expect("copy");
    }
    let port = free_port();
    let mut server = serve(&d, &gw, port).await;
    let gateway = format!("http://127.0.0.1:{port}");
    let home = d.dir.join("ipfs-home").display().to_string();
    let env = [
        ("CONCORD_IPFS_GATEWAY", gateway.as_str()),
        ("CONCORD_HOME", home.as_str()),
    ];
    let o = d.cli_env(ANN, None, &["show", "-b", &b, "-t", "0", "--json"], &env);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let shown: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    for i in 0..3 {
        let it = &shown["items"][i];
        assert!(
            it["uri"]
                .as_str()
                .is_some_and(|u| u.starts_with(&format!("ipfs://{root}/media/"))),
            "{it}"
        );
        let copy = shown["media"][i].as_str().expect("verified copy");
        assert_eq!(
            std::fs::read_to_string(copy).expect("copy"),
            format!("photo {i}")
        );
    }
    // A dataset that names files already on the network: `create` fetches and hashes them and keeps their URIs.
    let names: Vec<String> = (0..3)
        .map(|i| {
            shown["items"][i]["uri"]
                .as_str()
                .and_then(|u| u.rsplit('/').next())
                .expect("name")
                .to_string()
        })
        .collect();
    let remote: String = names
        .iter()
        .enumerate()
        .map(|(i, n)| {
            format!(
                "{{\"id\":\"r-{i}\",\"text\":\"r\",\"uri\":\"{gateway}/ipfs/{root}/media/{n}\"}}\n"
            )
        })
        .collect();
    let ds = d.file("remote.jsonl", &remote);
    let r = d.create(&ds, &["--classes", "cat,dog", "--task-size", "3"]);
    let rb = r["batchId"].as_u64().expect("batch").to_string();
    let o = d.cli_env(ANN, None, &["show", "-b", &rb, "-t", "0", "--json"], &env);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let again: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    for i in 0..3 {
        assert_eq!(
            again["items"][i]["uri"].as_str(),
            Some(&*format!("{gateway}/ipfs/{root}/media/{}", names[i])),
            "a file already on the network keeps its URI"
        );
        assert_eq!(
            again["items"][i]["media"]["sha256"], shown["items"][i]["media"]["sha256"],
            "and is hashed from the bytes fetched at creation"
        );
    }

    // The gateway lies about one picture: refused, naming the item and the gateway URL it came from.
    let victim = shown["items"][2]["uri"]
        .as_str()
        .and_then(|u| u.rsplit('/').next())
        .expect("name")
        .to_string();
    std::fs::write(under.join("media").join(&victim), "photo X").expect("lie");
    let fresh = d.dir.join("ipfs-fresh").display().to_string();
    let env = [
        ("CONCORD_IPFS_GATEWAY", gateway.as_str()),
        ("CONCORD_HOME", fresh.as_str()),
    ];
    let o = d.cli_env(ANN, None, &["show", "-b", &b, "-t", "0"], &env);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success()
            && err.contains("item `ph-2`")
            && err.contains(&format!("{gateway}/ipfs/{root}/media/"))
            && err.contains("is not the file the batch was created with"),
        "{err}"
    );
    let _ = server.kill();
    let _ = server.wait();
}
