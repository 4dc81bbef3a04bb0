//! Local chains for everything that is not a real network: the devnet and its demo, the simulator, the
//! benchmarks and the end-to-end tests. Spawns anvil, deploys Concord, funds well-known accounts, moves chain
//! time, drives a crowd of annotators through a batch's rounds ([`crowd`]), and (in [`proxy`]) puts a
//! fault-injecting JSON-RPC proxy in front of a node.
//!
//! Nothing here is reachable from the requester or annotator CLIs: they work against any chain.

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod crowd;
pub mod hardhat;
pub mod proxy;

use alloy::network::EthereumWallet;
use alloy::node_bindings::{Anvil, AnvilInstance};
use alloy::primitives::Address;
use alloy::providers::{Provider, ProviderBuilder};
use alloy::signers::local::PrivateKeySigner;
use concord_client::bindings::ConcordToken;
use concord_client::deploy::deploy;
use concord_client::protocol::units::parse_tokens;
use concord_client::{Concord, Deployment};
use eyre::WrapErr;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Finds the anvil binary: `$CONCORD_ANVIL`, the project's `node_modules`, else `anvil` on PATH.
pub fn anvil_path() -> PathBuf {
    if let Some(p) = std::env::var_os("CONCORD_ANVIL") {
        return PathBuf::from(p);
    }
    let p = find_in_project("node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil");
    if p.is_file() {
        p
    } else {
        PathBuf::from("anvil")
    }
}

/// `rel` under the first ancestor of the working directory or of this executable that holds it (the project
/// root, wherever the binary runs from); `rel` itself when none does.
pub fn find_in_project(rel: &str) -> PathBuf {
    let mut dirs: Vec<PathBuf> = std::env::current_dir().into_iter().collect();
    if let Ok(exe) = std::env::current_exe() {
        dirs.extend(exe.ancestors().map(PathBuf::from));
    }
    for d in dirs {
        for a in d.ancestors() {
            let p = a.join(rel);
            if p.exists() {
                return p;
            }
        }
    }
    PathBuf::from(rel)
}

/// The node a [`LocalChain`] runs on: anvil (everything that is not a real network), or Hardhat's node (the test
/// that nothing outside the devnet depends on anvil).
pub enum Node {
    Anvil(AnvilInstance),
    Hardhat(hardhat::HardhatNode),
}

impl Node {
    /// JSON-RPC URL.
    pub fn endpoint(&self) -> String {
        match self {
            Node::Anvil(a) => a.endpoint(),
            Node::Hardhat(h) => h.endpoint(),
        }
    }

    /// The keys of the node's funded accounts.
    pub fn keys(&self) -> &[alloy::signers::k256::SecretKey] {
        match self {
            Node::Anvil(a) => a.keys(),
            Node::Hardhat(h) => h.keys(),
        }
    }
}

/// Starts anvil on `port` with `accounts` funded accounts. `block_time` 0 means instant mining plus an empty block
/// every second (anvil's mixed mining): a v2 round's seed is the hash of the block after it is sealed, which must
/// come even when nobody sends a transaction. Otherwise blocks come every `block_time` seconds only.
pub fn spawn_anvil(port: u16, accounts: u32, block_time: u64) -> eyre::Result<AnvilInstance> {
    let mut anvil = Anvil::at(anvil_path())
        .port(port)
        .arg("--accounts")
        .arg(accounts.to_string())
        // Keep only recent states in memory: without it anvil keeps a state snapshot per block and slows down
        // (and grows) with every block of a long session. Nothing in Concord reads historical state.
        .args(["--prune-history", "256"])
        // Hundreds of accounts on a busy 2-core machine can take longer than alloy's default wait.
        .timeout(60_000);
    anvil = if block_time > 0 {
        anvil.block_time(block_time)
    } else {
        anvil.block_time(1).arg("--mixed-mining")
    };
    anvil.try_spawn().map_err(|e| {
        eyre::eyre!(
            "cannot start anvil ({}): {e}; run `make deps` first",
            anvil_path().display()
        )
    })
}

/// What to provision on a fresh devnet.
#[derive(Debug, Clone)]
pub struct Provision {
    /// Annotator accounts to fund (besides deployer, requester and reviewer).
    pub annotators: u32,
    /// Deployment file to write (the accounts file goes next to it).
    pub out: PathBuf,
    /// CCD per annotator.
    pub annotator_tokens: String,
    /// CCD for the requester.
    pub requester_tokens: String,
    /// Unstake cooldown in seconds.
    pub cooldown: u64,
}

/// A devnet account with its key (devnet only: these keys are public anvil keys).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Account {
    pub address: Address,
    pub private_key: String,
}

/// The accounts file written next to the deployment.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Accounts {
    pub rpc_url: String,
    pub deployer: Account,
    pub requester: Account,
    pub reviewer: Account,
    pub annotators: Vec<Account>,
}

/// The accounts file written next to a deployment file.
pub fn accounts_path(deployment: &Path) -> PathBuf {
    deployment.with_extension("accounts.json")
}

/// Deploys and funds on a running anvil whose keys are `keys`; writes deployment and accounts files.
pub async fn provision(
    up: &Provision,
    rpc_url: &str,
    keys: &[alloy::signers::k256::SecretKey],
) -> eyre::Result<Accounts> {
    let need = 3 + up.annotators as usize;
    eyre::ensure!(
        keys.len() >= need,
        "anvil has {} accounts, {need} needed",
        keys.len()
    );
    let signers: Vec<PrivateKeySigner> = keys
        .iter()
        .map(|k| PrivateKeySigner::from(alloy::signers::k256::ecdsa::SigningKey::from(k.clone())))
        .collect();
    let account = |s: &PrivateKeySigner| Account {
        address: s.address(),
        private_key: format!("0x{}", alloy::hex::encode(s.to_bytes())),
    };
    let deployer = signers[0].clone();
    let d = deploy(rpc_url, deployer.clone(), deployer.address(), up.cooldown)
        .await
        .wrap_err("deploying the contracts")?;
    d.save(&up.out)
        .wrap_err_with(|| format!("writing {}", up.out.display()))?;

    // Fund requester and annotators from the treasury (the deployer), pipelined.
    let provider = ProviderBuilder::new()
        .wallet(EthereumWallet::from(deployer))
        .connect_http(rpc_url.parse()?);
    let token = ConcordToken::new(d.token, &provider);
    let req_amount = parse_tokens(&up.requester_tokens)?;
    let ann_amount = parse_tokens(&up.annotator_tokens)?;
    let mut pendings = Vec::new();
    let transfers = std::iter::once((signers[1].address(), req_amount))
        .chain(signers[3..need].iter().map(|s| (s.address(), ann_amount)));
    for (to, amount) in transfers {
        pendings.push(
            token
                .transfer(to, amount)
                .send()
                .await
                .wrap_err("funding accounts")?,
        );
    }
    for p in pendings {
        let r = p.get_receipt().await?;
        eyre::ensure!(
            r.status(),
            "funding transfer {} reverted",
            r.transaction_hash
        );
    }
    let accounts = Accounts {
        rpc_url: rpc_url.to_string(),
        deployer: account(&signers[0]),
        requester: account(&signers[1]),
        reviewer: account(&signers[2]),
        annotators: signers[3..need].iter().map(account).collect(),
    };
    std::fs::write(
        accounts_path(&up.out),
        serde_json::to_string_pretty(&accounts)? + "\n",
    )?;
    let _ = provider.get_block_number().await?;
    Ok(accounts)
}

/// A throwaway local chain with Concord deployed and accounts funded (benchmarks, simulations, tests).
pub struct LocalChain {
    pub node: Node,
    pub accounts: Accounts,
    pub deployment: Deployment,
    pub dir: tempfile::TempDir,
}

impl LocalChain {
    /// Starts anvil (instant mining) on a free port and provisions `annotators` accounts with `annotator_tokens`
    /// CCD each and the requester with `requester_tokens`.
    pub async fn start(
        annotators: u32,
        annotator_tokens: &str,
        requester_tokens: &str,
    ) -> eyre::Result<Self> {
        Self::start_with_block_time(annotators, annotator_tokens, requester_tokens, 0).await
    }

    /// [`LocalChain::start`] with a block every `block_time` seconds (0: instant mining).
    pub async fn start_with_block_time(
        annotators: u32,
        annotator_tokens: &str,
        requester_tokens: &str,
        block_time: u64,
    ) -> eyre::Result<Self> {
        let anvil = spawn_anvil(0, 3 + annotators, block_time)?;
        Self::provision_on(
            Node::Anvil(anvil),
            annotators,
            annotator_tokens,
            requester_tokens,
        )
        .await
    }

    /// [`LocalChain::start`] on Hardhat's node (a block every second, no instant mining).
    pub async fn start_on_hardhat(
        annotators: u32,
        annotator_tokens: &str,
        requester_tokens: &str,
    ) -> eyre::Result<Self> {
        let node = Node::Hardhat(hardhat::HardhatNode::spawn()?);
        Self::provision_on(node, annotators, annotator_tokens, requester_tokens).await
    }

    async fn provision_on(
        node: Node,
        annotators: u32,
        annotator_tokens: &str,
        requester_tokens: &str,
    ) -> eyre::Result<Self> {
        let dir = tempfile::tempdir()?;
        let prov = Provision {
            annotators,
            out: dir.path().join("local.json"),
            annotator_tokens: annotator_tokens.into(),
            requester_tokens: requester_tokens.into(),
            cooldown: 3600,
        };
        let accounts = provision(&prov, &node.endpoint(), node.keys()).await?;
        let deployment = Deployment::load(&prov.out)?;
        Ok(Self {
            node,
            accounts,
            deployment,
            dir,
        })
    }

    /// The deployment file (in the chain's temp dir).
    pub fn deployment_path(&self) -> PathBuf {
        self.dir.path().join("local.json")
    }

    /// RPC URL.
    pub fn rpc(&self) -> String {
        self.node.endpoint()
    }

    /// A connected client signing with `private_key`.
    pub async fn client(&self, private_key: &str) -> eyre::Result<Concord> {
        Ok(Concord::connect(
            &self.rpc(),
            self.deployment.clone(),
            Some(signer(private_key)?),
        )
        .await?)
    }

    /// Moves chain time forward by `secs` and mines a block.
    pub async fn advance(&self, secs: u64) -> eyre::Result<()> {
        advance(&self.rpc(), secs).await
    }
}

/// Moves the chain time of the local node at `rpc` forward by `secs` and mines a block (`evm_increaseTime` and
/// `evm_mine`, which anvil and Hardhat both have; local chains are the one place allowed to move time).
pub async fn advance(rpc: &str, secs: u64) -> eyre::Result<()> {
    let p = ProviderBuilder::new().connect_http(rpc.parse()?);
    let _: serde_json::Value = p.raw_request("evm_increaseTime".into(), (secs,)).await?;
    let _: serde_json::Value = p.raw_request("evm_mine".into(), ()).await?;
    Ok(())
}

/// Writes a JSONL dataset of `n` text items (`id` i0, i1, …; `text` "item i") to `path`, with the gold answer
/// `gold(i)` (a class name) where it returns one.
pub fn write_items(
    path: &Path,
    n: u64,
    mut gold: impl FnMut(u64) -> Option<String>,
) -> std::io::Result<()> {
    let mut text = String::new();
    for i in 0..n {
        let gold = gold(i)
            .map(|g| format!(",\"gold\":{}", serde_json::Value::String(g)))
            .unwrap_or_default();
        text.push_str(&format!(
            "{{\"id\":\"i{i}\",\"text\":\"item {i}\"{gold}}}\n"
        ));
    }
    std::fs::write(path, text)
}

/// The signer of a hex private key.
pub fn signer(private_key: &str) -> eyre::Result<PrivateKeySigner> {
    private_key.parse().wrap_err("not a hex private key")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_items_load_as_a_dataset_with_their_gold() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("items.jsonl");
        write_items(&p, 3, |i| (i == 1).then(|| "c2".to_string())).unwrap();
        let items = concord_client::dataset::load_items(&p).unwrap();
        assert_eq!(items.len(), 3);
        assert_eq!(
            (items[1].id.as_str(), items[1].gold.as_deref()),
            ("i1", Some("c2"))
        );
        assert_eq!(items[0].text.as_deref(), Some("item 0"));
        assert_eq!(items[2].gold, None);
    }
}
