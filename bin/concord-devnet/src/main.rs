//! `concord-devnet`: a local chain with Concord deployed and demo accounts funded; `concord-devnet demo`
//! plays a whole labeling round through the real CLIs.

mod demo;

use alloy::primitives::U256;
use clap::{Parser, Subcommand};
use concord_client::deploy::{accounts_path, provision, spawn_anvil, Provision};
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "concord-devnet",
    version,
    about = "Local Concord chain: anvil + contracts + funded accounts"
)]
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

impl Up {
    pub fn provision(&self) -> Provision {
        Provision {
            annotators: self.annotators,
            out: self.out.clone(),
            annotator_tokens: self.annotator_tokens.clone(),
            requester_tokens: self.requester_tokens.clone(),
            cooldown: self.cooldown,
        }
    }
}

async fn up(up: Up) -> eyre::Result<()> {
    let anvil = spawn_anvil(up.port, 3 + up.annotators, up.block_time)?;
    let rpc_url = anvil.endpoint();
    let accounts = provision(&up.provision(), &rpc_url, anvil.keys()).await?;
    println!(
        "anvil      {rpc_url} (chain {}, block time {})",
        anvil.chain_id(),
        if up.block_time == 0 {
            "instant".to_string()
        } else {
            format!("{}s", up.block_time)
        }
    );
    let d = concord_client::Deployment::load(&up.out)?;
    println!("token      {}", d.token);
    println!("market     {}", d.market);
    println!("deployment {}", up.out.display());
    println!(
        "accounts   {} (requester {}, reviewer {}, {} annotators with {} CCD each)",
        accounts_path(&up.out).display(),
        accounts.requester.address,
        accounts.reviewer.address,
        accounts.annotators.len(),
        up.annotator_tokens
    );
    println!("press Ctrl-C to stop");
    wait_for_shutdown().await;
    drop(anvil);
    Ok(())
}

async fn wait_for_shutdown() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
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
