//! Real-network behaviour: blocks every 2 seconds (no instant mining), and several CLI processes with
//! different keys working on one batch at the same time. Nothing here uses anvil-only RPC methods.

use concord_e2e::Devnet;
use std::thread;

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_annotators_and_requester_complete_a_batch_on_two_second_blocks() {
    let d = Devnet::start(3, 2).await;
    let req = d.accounts.requester.private_key.clone();
    let b = d.create_batch(6, &["--classes", "a,b,c", "--task-size", "3"]);

    // Three annotator processes at once, each: stake, claim two tasks, label and commit them.
    thread::scope(|s| {
        for i in 0..3 {
            let (d, b) = (&d, &b);
            s.spawn(move || {
                let key = d.accounts.annotators[i].private_key.clone();
                d.json("concord-annotator", Some(&key), &["stake", "100"]);
                for _ in 0..2 {
                    let t = d.json("concord-annotator", Some(&key), &["claim", "-b", b])["task"]
                        .as_u64()
                        .expect("task");
                    let labels = if t == 0 { "a,b,c" } else { "c,c,a" };
                    d.json(
                        "concord-annotator",
                        Some(&key),
                        &[
                            "label",
                            "-b",
                            b,
                            "-t",
                            &t.to_string(),
                            "--labels",
                            labels,
                            "--commit",
                        ],
                    );
                }
            });
        }
        // Meanwhile the requester follows the batch.
        s.spawn(|| {
            let st = d.json("concord-requester", None, &["status", "-b", &b]);
            assert_eq!(st["numTasks"], 2);
        });
    });
    // Reveals (every task has all replicas committed, so reveal is open) and settlement, concurrently again.
    thread::scope(|s| {
        for i in 0..3 {
            let (d, b) = (&d, &b);
            s.spawn(move || {
                let r = d.json(
                    "concord-annotator",
                    Some(&d.accounts.annotators[i].private_key),
                    &["reveal", "-b", b],
                );
                assert_eq!(r["done"].as_array().map(Vec::len), Some(2), "{r}");
            });
        }
    });
    let s = d.json("concord-requester", Some(&req), &["settle", "-b", &b]);
    assert_eq!(s["tasksSettled"], 2, "{s}");
    assert_eq!(
        s["rewardsPaid"], "18",
        "6 items x 3 agreeing labels x 1 CCD: {s}"
    );
    let st = d.json("concord-requester", None, &["status", "-b", &b]);
    assert_eq!(st["tasksSettled"], 2);
    assert_eq!(st["itemsDecided"], 6);
}
