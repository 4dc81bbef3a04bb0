//! `concord-devnet`: a local chain with Concord deployed and demo accounts funded; `concord-devnet demo`
//! plays a whole labeling round through the real CLIs.

mod demo;

use alloy::network::EthereumWallet;
use alloy::primitives::{Address, U256};
use alloy::providers::{Provider, ProviderBuilder};
use alloy::signers::local::PrivateKeySigner;
use clap::{Parser, Subcommand};
use concord_client::bindings::ConcordToken;
use concord_client::deploy::{deploy, spawn_anvil};
use eyre::WrapErr;
use serde::Serialize;
use std::path::{Path, PathBuf};

#[derive(Parser)]
#[command(name = "concord-devnet", version, about = "Local Concord chain: anvil + contracts + funded accounts")]
struct Cli {
    #[command(subcommand)]
    cmd: Option<Cmd>,
    #[command(flatten)]
    up: Up,
}

#[derive(Subcommand)]
enum Cmd {
    /// Start anvil, deploy, fund accounts, write the deployment file and wait for Ctrl-C (the default).
    Up(Up),
    /// Play a full labeling round on a fresh devnet through the real CLIs and print the story.
    Demo(demo::Demo),
}

#[derive(Parser, Clone)]
pub struct Up {
    /// Port for anvil.
    #[arg(long, default_value_t = 8545)]
    port: u16,
    /// Seconds per block (0 = mine each transaction instantly).
    #[arg(long, default_value_t = 0)]
    block_time: u64,
    /// Number of annotator accounts to fund (besides deployer, requester and reviewer).
    #[arg(long, default_value_t = 10)]
    annotators: u32,
    /// Deployment file to write.
    #[arg(long, default_value = "deployments/local.json")]
    out: PathBuf,
    /// CCD given to each annotator.
    #[arg(long, default_value = "10000")]
    annotator_tokens: String,
    /// CCD given to the requester.
    #[arg(long, default_value = "1000000")]
    requester_tokens: String,
    /// Unstake cooldown in seconds.
    #[arg(long, default_value_t = 3600)]
    cooldown: u64,
}

/// A devnet account with its key (devnet only: these keys are public anvil keys).
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Account {
    pub address: Address,
    pub private_key: String,
}

/// The accounts file written next to the deployment.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Accounts {
    pub rpc_url: String,
    pub deployer: Account,
    pub requester: Account,
    pub reviewer: Account,
    pub annotators: Vec<Account>,
}

pub fn accounts_path(deployment: &Path) -> PathBuf {
    deployment.with_extension("accounts.json")
}

/// Deploys and funds on a running anvil whose keys are `keys`; writes deployment and accounts files.
pub async fn provision(up: &Up, rpc_url: &str, keys: &[alloy::signers::k256::SecretKey]) -> eyre::Result<Accounts> {
    let need = 3 + up.annotators as usize;
    eyre::ensure!(keys.len() >= need, "anvil has {} accounts, {need} needed", keys.len());
    let signers: Vec<PrivateKeySigner> = keys.iter().map(|k| PrivateKeySigner::from(alloy::signers::k256::ecdsa::SigningKey::from(k.clone()))).collect();
    let account = |s: &PrivateKeySigner| Account { address: s.address(), private_key: format!("0x{}", alloy::hex::encode(s.to_bytes())) };
    let deployer = signers[0].clone();
    let d = deploy(rpc_url, deployer.clone(), deployer.address(), up.cooldown).await.wrap_err("deploying the contracts")?;
    d.save(&up.out).wrap_err_with(|| format!("writing {}", up.out.display()))?;

    // Fund requester and annotators from the treasury (the deployer), pipelined.
    let provider = ProviderBuilder::new().wallet(EthereumWallet::from(deployer)).connect_http(rpc_url.parse()?);
    let token = ConcordToken::new(d.token, &provider);
    let req_amount = concord_client::opts::parse_tokens(&up.requester_tokens)?;
    let ann_amount = concord_client::opts::parse_tokens(&up.annotator_tokens)?;
    let mut pendings = Vec::new();
    let transfers = std::iter::once((signers[1].address(), req_amount))
        .chain(signers[3..need].iter().map(|s| (s.address(), ann_amount)));
    for (to, amount) in transfers {
        pendings.push(token.transfer(to, amount).send().await.wrap_err("funding accounts")?);
    }
    for p in pendings {
        let r = p.get_receipt().await?;
        eyre::ensure!(r.status(), "funding transfer {} reverted", r.transaction_hash);
    }
    let accounts = Accounts {
        rpc_url: rpc_url.to_string(),
        deployer: account(&signers[0]),
        requester: account(&signers[1]),
        reviewer: account(&signers[2]),
        annotators: signers[3..need].iter().map(account).collect(),
    };
    std::fs::write(accounts_path(&up.out), serde_json::to_string_pretty(&accounts)? + "\n")?;
    let _ = provider.get_block_number().await?;
    Ok(accounts)
}

async fn up(up: Up) -> eyre::Result<()> {
    let anvil = spawn_anvil(up.port, 3 + up.annotators, up.block_time)?;
    let rpc_url = anvil.endpoint();
    let accounts = provision(&up, &rpc_url, anvil.keys()).await?;
    println!("anvil      {rpc_url} (chain {}, block time {})", anvil.chain_id(), if up.block_time == 0 { "instant".to_string() } else { format!("{}s", up.block_time) });
    let d = concord_client::Deployment::load(&up.out)?;
    println!("token      {}", d.token);
    println!("market     {}", d.market);
    println!("deployment {}", up.out.display());
    println!("accounts   {} (requester {}, reviewer {}, {} annotators with {} CCD each)", accounts_path(&up.out).display(), accounts.requester.address, accounts.reviewer.address, accounts.annotators.len(), up.annotator_tokens);
    println!("press Ctrl-C to stop");
    wait_for_shutdown().await;
    drop(anvil);
    Ok(())
}

async fn wait_for_shutdown() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(t) => t,
            Err(_) => {
                let _ = ctrl_c.await;
                return;
            }
        };
        tokio::select! { _ = ctrl_c => {}, _ = term.recv() => {} }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

/// Whole tokens as wei.
pub fn tokens(n: u64) -> U256 {
    U256::from(n) * U256::from(10u64).pow(U256::from(18u64))
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    concord_client::cli::run(false, async move {
        match cli.cmd {
            Some(Cmd::Up(u)) => up(u).await,
            Some(Cmd::Demo(d)) => d.run().await,
            None => up(cli.up).await,
        }
    })
}
