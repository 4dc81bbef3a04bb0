//! Harness for end-to-end tests: a fresh anvil with Concord deployed and accounts funded, and a way to run
//! the real CLI binaries against it (as a user would, with environment variables like `ETH_RPC_URL`).
//!
//! The binaries are taken from the target folder this test binary lives in (`make test` builds them first
//! with `cargo build --bins`).

use alloy::primitives::{Address, U256};
use alloy::providers::ProviderBuilder;
use concord_client::Deployment;
use concord_testkit::{Accounts, LocalChain};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

pub use concord_testkit::proxy;

/// A running devnet with its files in a temp dir; `rpc` is where the CLIs are pointed (a proxy may stand in
/// front of the chain).
pub struct Devnet {
    pub chain: LocalChain,
    pub rpc: String,
    pub accounts: Accounts,
    pub deployment: Deployment,
    pub deployment_path: PathBuf,
    pub dir: PathBuf,
}

/// Folder holding the workspace's built binaries (`target/<profile>`).
pub fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test exe path");
    // target/<profile>/deps/<test-binary>
    exe.parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .expect("target dir")
}

/// Repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .expect("repo root")
}

impl Devnet {
    /// Starts anvil (instant mining, or `block_time` seconds per block) and provisions `annotators` accounts.
    pub async fn start(annotators: u32, block_time: u64) -> Self {
        let chain = LocalChain::start_with_block_time(annotators, "1000", "100000", block_time)
            .await
            .expect("anvil starts and Concord is provisioned");
        Self::on(chain)
    }

    /// [`Devnet::start`] on Hardhat's node instead of anvil (interval mining: a block every second).
    pub async fn start_hardhat(annotators: u32) -> Self {
        let chain = LocalChain::start_on_hardhat(annotators, "1000", "100000")
            .await
            .expect("hardhat's node starts and Concord is provisioned");
        Self::on(chain)
    }

    fn on(chain: LocalChain) -> Self {
        Self {
            rpc: chain.rpc(),
            accounts: chain.accounts.clone(),
            deployment: chain.deployment.clone(),
            deployment_path: chain.deployment_path(),
            dir: chain.dir.path().to_path_buf(),
            chain,
        }
    }

    /// Runs `bin` with `args`, signing with `key` (if any), against this devnet.
    pub fn cli(&self, bin: &str, key: Option<&str>, args: &[&str]) -> Output {
        self.cli_env(bin, key, args, &[])
    }

    /// Same as [`Devnet::cli`] with extra environment variables.
    pub fn cli_env(
        &self,
        bin: &str,
        key: Option<&str>,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Output {
        self.command(bin, key, args, env)
            .output()
            .unwrap_or_else(|e| {
                panic!("cannot run {bin} (build the binaries first: cargo build --bins): {e}")
            })
    }

    /// Starts `bin` without waiting for it (to stop it from outside).
    pub fn spawn(&self, bin: &str, key: Option<&str>, args: &[&str]) -> Child {
        self.command(bin, key, args, &[])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| cannot_run(bin, e))
    }

    /// The command line of `bin` against this devnet, signing with `key` (if any).
    fn command(
        &self,
        bin: &str,
        key: Option<&str>,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Command {
        let mut cmd = Command::new(bin_dir().join(bin));
        cmd.args(args)
            .current_dir(repo_root())
            .env("ETH_RPC_URL", &self.rpc)
            .env("CONCORD_DEPLOYMENT", &self.deployment_path)
            .env("CONCORD_HOME", self.dir.join("home"))
            .env_remove("ETH_PRIVATE_KEY")
            .envs(env.iter().copied());
        if let Some(k) = key {
            cmd.env("ETH_PRIVATE_KEY", k);
        }
        cmd
    }

    /// Runs a CLI with `--json`, asserts success and parses the last stdout line.
    pub fn json(&self, bin: &str, key: Option<&str>, args: &[&str]) -> serde_json::Value {
        let mut a = args.to_vec();
        a.push("--json");
        let out = self.cli(bin, key, &a);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{bin} {args:?} failed\nstdout: {stdout}\nstderr: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_str(stdout.lines().last().unwrap_or("null")).expect("json output")
    }

    /// Moves chain time forward and mines a block (devnet only).
    pub async fn advance(&self, secs: u64) {
        concord_testkit::advance(&self.rpc, secs)
            .await
            .expect("evm_increaseTime + evm_mine");
    }

    /// Token balance + staked + pending of `who`: what must not move when a command fails.
    pub async fn holdings(&self, who: Address) -> (U256, U256) {
        let p = ProviderBuilder::new().connect_http(self.rpc.parse().expect("url"));
        let token = concord_client::bindings::ConcordToken::new(self.deployment.token, &p);
        let market = concord_client::bindings::LabelMarketV2::new(self.deployment.market, &p);
        let bal = token.balanceOf(who).call().await.expect("balance");
        let st = market.accountOf(who).call().await.expect("stake");
        let pending = market.pendingUnstake(who).call().await.expect("pending");
        (bal, U256::from(st.amount) + pending)
    }

    /// Protocol tokens in `who`'s wallet.
    pub async fn balance(&self, who: Address) -> U256 {
        self.holdings(who).await.0
    }

    /// Claimable protocol tokens of `who`.
    pub async fn claimable(&self, who: Address) -> U256 {
        let p = ProviderBuilder::new().connect_http(self.rpc.parse().expect("url"));
        let market = concord_client::bindings::LabelMarketV2::new(self.deployment.market, &p);
        market
            .claimable(who, self.deployment.token)
            .call()
            .await
            .expect("claimable")
    }

    /// Publishes a batch of `items` generated items (`dataset(items, None)`) with the requester's key and the
    /// given `create` options; returns the batch id.
    pub fn create_batch(&self, items: usize, options: &[&str]) -> String {
        let ds = self.file("items.jsonl", &dataset(items, None));
        let v = self.create(&ds, options);
        v["batchId"].as_u64().expect("batch id").to_string()
    }

    /// Publishes a batch of the dataset file `ds` with the requester's key and the given `create` options
    /// (manifest and gold file under `<dir>/req`); returns `create --json`'s output.
    pub fn create(&self, ds: &str, options: &[&str]) -> serde_json::Value {
        let out = self.dir.join("req").display().to_string();
        let mut args = vec!["create", ds];
        args.extend_from_slice(options);
        args.extend_from_slice(&["--out-dir", &out]);
        self.json(
            "concord-requester",
            Some(&self.accounts.requester.private_key),
            &args,
        )
    }

    /// The tasks of `key`'s uncommitted bundles in `batch`, from `concord-annotator status` (which learns the
    /// tasks of bundles whose round has sealed, sealing one whose join window passed). `status` does not wait for
    /// the seed block of a round it just sealed: while a bundle waits for one, it is asked again (up to 15 s).
    pub fn my_tasks(&self, key: &str, batch: &str) -> Vec<u64> {
        let started = std::time::Instant::now();
        let v = loop {
            let v = self.json("concord-annotator", Some(key), &["status", "-b", batch]);
            let seed_soon = v["pending"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|p| p[2]["waitingFor"] == "seedBlock");
            if !seed_soon || started.elapsed() > std::time::Duration::from_secs(15) {
                break v;
            }
            std::thread::sleep(std::time::Duration::from_millis(300));
        };
        v["bundles"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|b| b["status"] == "joined")
            .flat_map(|b| b["tasks"].as_array().cloned().unwrap_or_default())
            .filter_map(|t| t.as_u64())
            .collect()
    }

    /// `key` joins `batch` for up to `tasks` tasks (the batch's limit when `None`); returns `join --json`.
    pub fn join(&self, key: &str, batch: &str, tasks: Option<u64>) -> serde_json::Value {
        let n = tasks.map(|n| n.to_string());
        let mut args = vec!["join", "-b", batch];
        if let Some(n) = &n {
            args.extend_from_slice(&["-n", n]);
        }
        self.json("concord-annotator", Some(key), &args)
    }

    /// Annotators `0..n` each stake 100 CCD and join `batch` for as many tasks as it allows.
    pub fn stake_and_join_all(&self, n: usize, batch: &str) {
        for a in &self.accounts.annotators[..n] {
            self.json("concord-annotator", Some(&a.private_key), &["stake", "100"]);
            self.join(&a.private_key, batch, None);
        }
    }

    /// Moves chain time past the current round's join window of `batch` (a round that did not fill seals then).
    pub async fn end_join_window(&self, batch: &str) {
        let v = self.json("concord-requester", None, &["status", "-b", batch]);
        let (now, end) = (
            v["now"].as_u64().expect("now"),
            v["roundJoinEnd"].as_u64().expect("join end"),
        );
        if now <= end {
            self.advance(end + 1 - now).await;
        }
    }

    /// Writes a file in the devnet's temp dir and returns its path.
    pub fn file(&self, name: &str, content: &str) -> String {
        let p = self.dir.join(name);
        std::fs::write(&p, content).expect("write file");
        p.display().to_string()
    }
}

fn cannot_run(bin: &str, e: std::io::Error) -> ! {
    panic!("cannot run {bin} (build the binaries first: cargo build --bins): {e}")
}

/// A small dataset: `n` text items, ids `it-<i>`.
pub fn dataset(n: usize, gold_every: Option<usize>) -> String {
    let mut s = String::new();
    for i in 0..n {
        let gold = match gold_every {
            Some(g) if i % g == 0 => format!(",\"gold\":\"{}\"", ["a", "b", "c"][i % 3]),
            _ => String::new(),
        };
        s.push_str(&format!(
            "{{\"id\":\"it-{i}\",\"text\":\"item number {i}\"{gold}}}\n"
        ));
    }
    s
}
