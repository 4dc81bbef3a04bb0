//! Requester and annotators on different hosts: Linux network namespaces joined by a bridge (needs root, as `make
//! test` has on CI). The chain node runs in one namespace, the requester in another — it creates a batch of
//! pictures, publishes the folder and serves it itself — and two annotators in two more, each with its own
//! `CONCORD_HOME`: they fetch the manifest and the pictures over the network, verify them, label, commit, reveal
//! and collect; the requester settles and exports. A picture swapped on the requester's server afterwards is
//! refused by an annotator that had not verified it yet.

use alloy::primitives::U256;
use alloy::providers::{Provider, ProviderBuilder};
use alloy::signers::k256::SecretKey;
use concord_e2e::bin_dir;
use concord_testkit::{anvil_path, provision, Provision};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const SUBNET: &str = "10.231.77";

/// Network namespaces `<prefix><host>` with one veth each into a bridge in the test's own namespace (which reaches
/// every host at `10.231.77.<n>`, as the machine running the test would); all removed when dropped.
struct Hosts {
    prefix: String,
    names: Vec<String>,
    bridge: String,
}

fn ip(args: &[&str]) {
    let o = Command::new("ip").args(args).output().expect("run ip");
    assert!(
        o.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

impl Hosts {
    fn new(names: &[&str]) -> Self {
        let prefix = format!("cc{}", std::process::id());
        let bridge = format!("{prefix}br");
        let hosts = Hosts {
            prefix: prefix.clone(),
            names: names.iter().map(|n| n.to_string()).collect(),
            bridge: bridge.clone(),
        };
        ip(&["link", "add", &bridge, "type", "bridge"]);
        ip(&["addr", "add", &format!("{SUBNET}.254/24"), "dev", &bridge]);
        ip(&["link", "set", &bridge, "up"]);
        for (i, name) in names.iter().enumerate() {
            let ns = hosts.ns(name);
            let (outer, inner) = (format!("{prefix}v{i}"), format!("{prefix}p{i}"));
            ip(&["netns", "add", &ns]);
            ip(&[
                "link", "add", &outer, "type", "veth", "peer", "name", &inner,
            ]);
            ip(&["link", "set", &inner, "netns", &ns]);
            ip(&["link", "set", &outer, "master", &bridge]);
            ip(&["link", "set", &outer, "up"]);
            let addr = format!("{SUBNET}.{}/24", i + 1);
            ip(&["-n", &ns, "addr", "add", &addr, "dev", &inner]);
            ip(&["-n", &ns, "link", "set", &inner, "up"]);
            ip(&["-n", &ns, "link", "set", "lo", "up"]);
        }
        hosts
    }

    fn ns(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    /// The address of host `name`.
    fn addr(&self, name: &str) -> String {
        let i = self.names.iter().position(|n| n == name).expect("a host");
        format!("{SUBNET}.{}", i + 1)
    }

    /// `program args…` inside host `name`'s namespace.
    fn command(&self, name: &str, program: &Path) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.ns(name)]).arg(program);
        c
    }
}

impl Drop for Hosts {
    fn drop(&mut self) {
        for name in &self.names {
            let _ = Command::new("ip")
                .args(["netns", "del", &self.ns(name)])
                .output();
        }
        let _ = Command::new("ip")
            .args(["link", "del", &self.bridge])
            .output();
    }
}

/// One party: a host, a key and its own `CONCORD_HOME`, pointed at the chain over the network.
struct Party<'a> {
    hosts: &'a Hosts,
    host: &'static str,
    key: Option<String>,
    home: PathBuf,
    rpc: String,
    deployment: PathBuf,
}

impl Party<'_> {
    fn command(&self, bin: &str, args: &[&str]) -> Command {
        let mut c = self.hosts.command(self.host, &bin_dir().join(bin));
        c.args(args)
            .env("ETH_RPC_URL", &self.rpc)
            .env("CONCORD_DEPLOYMENT", &self.deployment)
            .env("CONCORD_HOME", &self.home)
            .env_remove("ETH_PRIVATE_KEY");
        if let Some(k) = &self.key {
            c.env("ETH_PRIVATE_KEY", k);
        }
        c
    }

    fn run(&self, bin: &str, args: &[&str]) -> Output {
        self.command(bin, args).output().expect("run a CLI")
    }

    fn json(&self, bin: &str, args: &[&str]) -> serde_json::Value {
        let mut a = args.to_vec();
        a.push("--json");
        let o = self.run(bin, &a);
        assert!(
            o.status.success(),
            "{} on {}: {bin} {args:?}: {}{}",
            self.home.display(),
            self.host,
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        serde_json::from_slice(
            o.stdout
                .split(|&b| b == b'\n')
                .rfind(|l| !l.is_empty())
                .unwrap_or(b"null"),
        )
        .expect("json")
    }

    /// Waits until this annotator's bundle in `batch` has its tasks drawn; returns them.
    fn tasks(&self, batch: &str) -> Vec<u64> {
        let started = Instant::now();
        loop {
            let v = self.json("concord-annotator", &["status", "-b", batch]);
            let tasks: Vec<u64> = v["bundles"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|b| b["tasks"].as_array().cloned().unwrap_or_default())
                .filter_map(|t| t.as_u64())
                .collect();
            if !tasks.is_empty() {
                return tasks;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "no tasks drawn: {v}"
            );
            std::thread::sleep(Duration::from_millis(300));
        }
    }
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn requester_and_annotators_on_separate_hosts_fetch_verify_label_and_get_paid() {
    let hosts = Hosts::new(&["chain", "req", "ann1", "ann2"]);
    let dir = tempfile::tempdir().expect("tmp");
    // The chain host: anvil listening on its network address; its keys from the file it writes at start.
    let config = dir.path().join("anvil.json");
    let anvil = Killed(
        hosts
            .command("chain", &anvil_path())
            .args(["--host", "0.0.0.0", "--port", "8545", "--accounts", "6"])
            .args(["--block-time", "1", "--mixed-mining", "--config-out"])
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("anvil on the chain host"),
    );
    let rpc = format!("http://{}:8545", hosts.addr("chain"));
    let p = ProviderBuilder::new().connect_http(rpc.parse().expect("url"));
    let started = Instant::now();
    while p.get_block_number().await.is_err() || !config.exists() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "anvil never answered at {rpc}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&config).expect("anvil config"))
            .expect("json");
    let keys: Vec<SecretKey> = cfg["private_keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| {
            let hex = k.as_str().expect("key").trim_start_matches("0x");
            SecretKey::from_slice(&alloy::hex::decode(hex).expect("hex")).expect("key")
        })
        .collect();
    let deployment = dir.path().join("chain.json");
    let prov = Provision {
        annotators: 3,
        out: deployment.clone(),
        annotator_tokens: "1000".into(),
        requester_tokens: "1000".into(),
        cooldown: 3600,
    };
    let accounts = provision(&prov, &rpc, &keys)
        .await
        .expect("deployed over the network");
    let party = |host: &'static str, key: Option<&str>, home: &str| Party {
        hosts: &hosts,
        host,
        key: key.map(String::from),
        home: dir.path().join(home),
        rpc: rpc.clone(),
        deployment: deployment.clone(),
    };
    let req = party("req", Some(&accounts.requester.private_key), "req-home");
    let ann = [
        party(
            "ann1",
            Some(&accounts.annotators[0].private_key),
            "ann1-home",
        ),
        party(
            "ann2",
            Some(&accounts.annotators[1].private_key),
            "ann2-home",
        ),
    ];

    // The requester's host: six pictures, published at its own address and served by its CLI.
    let pics = dir.path().join("pics");
    std::fs::create_dir_all(&pics).expect("pics");
    let mut lines = String::new();
    for i in 0..6 {
        std::fs::write(pics.join(format!("{i}.png")), format!("picture {i}")).expect("pic");
        lines.push_str(&format!(
            "{{\"id\":\"pic-{i}\",\"uri\":\"pics/{i}.png\"}}\n"
        ));
    }
    let ds = dir.path().join("pics.jsonl");
    std::fs::write(&ds, lines).expect("dataset");
    let publish = dir.path().join("publish");
    let base = format!("http://{}:8700/", hosts.addr("req"));
    let created = req.json(
        "concord-requester",
        &[
            "create",
            &ds.display().to_string(),
            "--classes",
            "cat,dog",
            "--task-size",
            "3",
            "-k",
            "2",
            "--out-dir",
            &publish.display().to_string(),
            "--publish-url",
            &base,
        ],
    );
    let b = created["batchId"].as_u64().expect("batch").to_string();
    let server = Killed(
        req.command(
            "concord-requester",
            &[
                "serve",
                "--publish",
                &publish.display().to_string(),
                "--host",
                "0.0.0.0",
                "--port",
                "8700",
            ],
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("serve"),
    );
    let http = alloy::transports::http::reqwest::Client::new();
    let manifest = created["manifestUri"].as_str().expect("uri").to_string();
    let started = Instant::now();
    while http.get(&manifest).send().await.is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the requester's server never answered"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The hosts are separate machines as far as the network goes: no chain on an annotator host's own loopback.
    let local = Party {
        rpc: "http://127.0.0.1:8545".into(),
        ..party("ann1", None, "ann1-home")
    };
    let o = local.run("concord-annotator", &["status", "-b", &b]);
    assert!(
        !o.status.success(),
        "an annotator host reaches the chain only over the network"
    );

    // Each annotator host: stake, join, fetch and verify its tasks' pictures, label, commit.
    let answers = dir.path().join("answers.csv");
    let text: String = (0..6)
        .map(|i| format!("pic-{i},{}\n", ["cat", "dog"][i % 2]))
        .collect();
    std::fs::write(&answers, format!("id,label\n{text}")).expect("answers");
    for a in &ann {
        a.json("concord-annotator", &["stake", "100"]);
        a.json("concord-annotator", &["join", "-b", &b]);
    }
    for a in &ann {
        let tasks = a.tasks(&b);
        assert_eq!(tasks.len(), 2, "one lane of two tasks each");
        for t in tasks {
            let shown = a.json(
                "concord-annotator",
                &["show", "-b", &b, "-t", &t.to_string()],
            );
            for (i, copy) in shown["media"].as_array().expect("media").iter().enumerate() {
                let copy = copy.as_str().expect("a verified copy");
                assert!(copy.starts_with(&a.home.display().to_string()), "{copy}");
                assert_eq!(
                    std::fs::read_to_string(copy).expect("copy"),
                    format!("picture {}", t * 3 + i as u64)
                );
            }
        }
        let l = a.json(
            "concord-annotator",
            &[
                "label",
                "-b",
                &b,
                "--from",
                &answers.display().to_string(),
                "--commit",
            ],
        );
        assert_eq!(l["commit"]["done"].as_array().map(Vec::len), Some(1), "{l}");
    }
    for a in &ann {
        let r = a.json("concord-annotator", &["reveal"]);
        assert_eq!(r["done"].as_array().map(Vec::len), Some(1), "{r}");
    }
    let s = req.json("concord-requester", &["settle", "-b", &b]);
    assert_eq!(s["tasksSettled"], 2, "{s}");
    let token = concord_client::bindings::ConcordToken::new(
        concord_client::Deployment::load(&deployment)
            .expect("deployment")
            .token,
        &p,
    );
    for (i, a) in ann.iter().enumerate() {
        let who = accounts.annotators[i].address;
        let before = token.balanceOf(who).call().await.expect("balance");
        a.json("concord-annotator", &["collect"]);
        let after = token.balanceOf(who).call().await.expect("balance");
        assert_eq!(
            after - before,
            U256::from(6u64) * U256::from(10u64).pow(U256::from(18u64)),
            "annotator {i}: 6 agreeing labels x 1 CCD"
        );
    }
    let out = dir.path().join("labels.jsonl");
    req.json(
        "concord-requester",
        &["export", "-b", &b, "-o", &out.display().to_string()],
    );
    let exported: Vec<String> = std::fs::read_to_string(&out)
        .expect("export")
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("jsonl");
            format!(
                "{},{}",
                v["id"].as_str().unwrap_or(""),
                v["label"].as_str().unwrap_or("")
            )
        })
        .collect();
    assert_eq!(
        exported,
        text.lines().collect::<Vec<_>>(),
        "the labeled pictures"
    );

    // The requester swaps a picture on its server: a third annotator machine (fresh home) refuses it.
    let listed: Vec<PathBuf> = std::fs::read_dir(publish.join("media"))
        .expect("media")
        .map(|e| e.expect("entry").path())
        .collect();
    let swapped = listed
        .iter()
        .find(|p| std::fs::read_to_string(p).is_ok_and(|t| t == "picture 1"))
        .expect("picture 1 published");
    std::fs::write(swapped, "picture 9").expect("swap: same size, other bytes");
    let third = party("ann2", None, "ann3-home");
    let o = third.run("concord-annotator", &["show", "-b", &b, "-t", "0"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "a swapped picture is refused");
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert!(
        err.contains("item `pic-1`")
            && err.contains(&base)
            && err.contains("not the file the batch was created with"),
        "{err}"
    );
    drop(server);
    drop(anvil);
}
