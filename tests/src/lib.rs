//! Harness for end-to-end tests: a fresh anvil with Concord deployed and accounts funded, and a way to run
//! the real CLI binaries against it (as a user would, with environment variables like `ETH_RPC_URL`).
//!
//! The binaries are taken from the target folder this test binary lives in (`make test` builds them first
//! with `cargo build --bins`).

use alloy::node_bindings::AnvilInstance;
use alloy::primitives::{Address, U256};
use alloy::providers::{Provider, ProviderBuilder};
use concord_client::deploy::{provision, spawn_anvil, Accounts, Provision};
use concord_client::Deployment;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub mod proxy;

/// A running devnet with its files in a temp dir.
pub struct Devnet {
    pub anvil: AnvilInstance,
    pub rpc: String,
    pub accounts: Accounts,
    pub deployment: Deployment,
    pub deployment_path: PathBuf,
    pub dir: tempfile::TempDir,
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
        let dir = tempfile::tempdir().expect("tempdir");
        let deployment_path = dir.path().join("local.json");
        let anvil = spawn_anvil(0, 3 + annotators, block_time).expect("anvil starts");
        let rpc = anvil.endpoint();
        let p = Provision {
            annotators,
            out: deployment_path.clone(),
            annotator_tokens: "1000".into(),
            requester_tokens: "100000".into(),
            cooldown: 3600,
        };
        let accounts = provision(&p, &rpc, anvil.keys()).await.expect("provision");
        let deployment = Deployment::load(&deployment_path).expect("deployment written");
        Self {
            anvil,
            rpc,
            accounts,
            deployment,
            deployment_path,
            dir,
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
        let mut cmd = Command::new(bin_dir().join(bin));
        cmd.args(args)
            .current_dir(repo_root())
            .env("ETH_RPC_URL", &self.rpc)
            .env("CONCORD_DEPLOYMENT", &self.deployment_path)
            .env("CONCORD_HOME", self.dir.path().join("home"))
            .env_remove("ETH_PRIVATE_KEY")
            .envs(env.iter().copied());
        if let Some(k) = key {
            cmd.env("ETH_PRIVATE_KEY", k);
        }
        cmd.output().unwrap_or_else(|e| {
            panic!("cannot run {bin} (build the binaries first: cargo build --bins): {e}")
        })
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
        let p = ProviderBuilder::new().connect_http(self.rpc.parse().expect("url"));
        let _: serde_json::Value = p
            .raw_request("evm_increaseTime".into(), (secs,))
            .await
            .expect("increaseTime");
        let _: serde_json::Value = p.raw_request("evm_mine".into(), ()).await.expect("mine");
    }

    /// Token balance + staked + pending of `who`: what must not move when a command fails.
    pub async fn holdings(&self, who: Address) -> (U256, U256) {
        let p = ProviderBuilder::new().connect_http(self.rpc.parse().expect("url"));
        let token = concord_client::bindings::ConcordToken::new(self.deployment.token, &p);
        let market = concord_client::bindings::LabelMarket::new(self.deployment.market, &p);
        let bal = token.balanceOf(who).call().await.expect("balance");
        let st = market.stakeOf(who).call().await.expect("stake");
        (bal, U256::from(st.amount) + U256::from(st.pending))
    }

    /// Claimable protocol tokens of `who`.
    pub async fn claimable(&self, who: Address) -> U256 {
        let p = ProviderBuilder::new().connect_http(self.rpc.parse().expect("url"));
        let market = concord_client::bindings::LabelMarket::new(self.deployment.market, &p);
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
        let out = self.dir.path().join("req").display().to_string();
        let mut args = vec!["create", ds.as_str()];
        args.extend_from_slice(options);
        args.extend_from_slice(&["--out-dir", &out]);
        let v = self.json(
            "concord-requester",
            Some(&self.accounts.requester.private_key),
            &args,
        );
        v["batchId"].as_u64().expect("batch id").to_string()
    }

    /// Writes a file in the devnet's temp dir and returns its path.
    pub fn file(&self, name: &str, content: &str) -> String {
        let p = self.dir.path().join(name);
        std::fs::write(&p, content).expect("write file");
        p.display().to_string()
    }
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
