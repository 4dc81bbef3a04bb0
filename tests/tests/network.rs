//! Real-network behaviour: blocks every 2 seconds (no instant mining), and several CLI processes with
//! different keys working on one batch at the same time. Nothing here uses anvil-only RPC methods.

use concord_e2e::Devnet;
use std::sync::Barrier;
use std::thread;

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_annotators_and_requester_complete_a_batch_on_two_second_blocks() {
    let d = Devnet::start(3, 2).await;
    let req = d.accounts.requester.private_key.clone();
    let b = d.create_batch(6, &["--classes", "a,b,c", "--task-size", "3"]);
    // Task 0 is a,b,c and task 1 is c,c,a for everyone.
    let answers = d.file(
        "answers.csv",
        "id,label\nit-0,a\nit-1,b\nit-2,c\nit-3,c\nit-4,c\nit-5,a\n",
    );

    // Three annotator processes at once, each: stake, join (its lane's two tasks in one bundle), then — once all
    // three joined, which fills and seals the round — label both tasks from the answers file and commit.
    let joined = Barrier::new(3);
    let bundles: Vec<u64> = thread::scope(|s| {
        let workers: Vec<_> = (0..3)
            .map(|i| {
                let (d, b, answers, joined) = (&d, &b, &answers, &joined);
                s.spawn(move || {
                    let key = d.accounts.annotators[i].private_key.clone();
                    d.json("concord-annotator", Some(&key), &["stake", "100"]);
                    let j = d.join(&key, b, None);
                    assert_eq!(j["joined"]["size"], 2, "a lane holds both tasks: {j}");
                    assert_eq!(j["joined"]["round"], 1, "{j}");
                    joined.wait();
                    let l = d.json(
                        "concord-annotator",
                        Some(&key),
                        &["label", "-b", b, "--from", answers, "--commit"],
                    );
                    let tasks: Vec<u64> = l["tasks"]
                        .as_array()
                        .expect("tasks")
                        .iter()
                        .filter_map(|t| t["task"].as_u64())
                        .collect();
                    assert_eq!(tasks.len(), 2, "{l}");
                    assert!(tasks.contains(&0) && tasks.contains(&1), "{l}");
                    let bundle = j["joined"]["bundle"].as_u64().expect("bundle");
                    assert_eq!(
                        l["commit"]["done"],
                        serde_json::json!([[0, bundle]]),
                        "one commit for the bundle: {l}"
                    );
                    (bundle, j["joined"]["lane"].as_u64().expect("lane"))
                })
            })
            .collect();
        // Meanwhile the requester follows the batch.
        s.spawn(|| {
            let st = d.json("concord-requester", None, &["status", "-b", &b]);
            assert_eq!(st["numTasks"], 2);
        });
        let done: Vec<(u64, u64)> = workers
            .into_iter()
            .map(|w| w.join().expect("annotator process"))
            .collect();
        let mut lanes: Vec<u64> = done.iter().map(|&(_, lane)| lane).collect();
        lanes.sort_unstable();
        assert_eq!(lanes, vec![0, 1, 2], "one lane per annotator");
        done.into_iter().map(|(bundle, _)| bundle).collect()
    });
    let mut ids = bundles.clone();
    ids.sort_unstable();
    assert_eq!(ids, vec![0, 1, 2], "three bundles, ids in join order");
    // Reveals (every position is committed, so reveal is open) and settlement, concurrently again.
    thread::scope(|s| {
        for (i, &bundle) in bundles.iter().enumerate() {
            let (d, b) = (&d, &b);
            s.spawn(move || {
                let r = d.json(
                    "concord-annotator",
                    Some(&d.accounts.annotators[i].private_key),
                    &["reveal", "-b", b],
                );
                assert_eq!(r["done"], serde_json::json!([[0, bundle]]), "{r}");
            });
        }
    });
    let s = d.json("concord-requester", Some(&req), &["settle", "-b", &b]);
    assert_eq!(s["tasksSettled"], 2, "{s}");
    assert_eq!(
        s["rewardsPaid"], "18",
        "6 items x 3 agreeing labels x 1 CCD: {s}"
    );
    assert_eq!(s["stakeSlashed"], "0", "{s}");
    let st = d.json("concord-requester", None, &["status", "-b", &b]);
    assert_eq!(st["tasksSettled"], 2);
    assert_eq!(st["itemsDecided"], 6);
}
