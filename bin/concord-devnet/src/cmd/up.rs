//! `concord-devnet up`: anvil with Concord deployed and accounts funded, until Ctrl-C.

use clap::Parser;
use concord_client::Deployment;
use concord_testkit::{accounts_path, provision, spawn_anvil, Provision};
use std::path::PathBuf;

#[derive(Debug, Parser, Clone)]
pub struct UpArgs {
    /// Port for anvil.
    #[arg(long, default_value_t = 8545)]
    pub port: u16,
    /// Seconds per block (0 = mine each transaction instantly, plus an empty block every second: a round's
    /// seed is a later block's hash, which must come even when nobody transacts).
    #[arg(long, default_value_t = 0)]
    pub block_time: u64,
    /// Number of annotator accounts to fund (besides deployer, requester and reviewer).
    #[arg(long, default_value_t = 10)]
    pub annotators: u32,
    /// Deployment file to write.
    #[arg(long, default_value = "deployments/local.json")]
    pub out: PathBuf,
    /// CCD given to each annotator.
    #[arg(long, default_value = "10000")]
    pub annotator_tokens: String,
    /// CCD given to the requester.
    #[arg(long, default_value = "1000000")]
    pub requester_tokens: String,
    /// Unstake cooldown in seconds.
    #[arg(long, default_value_t = 3600)]
    pub cooldown: u64,
}

impl UpArgs {
    /// What to provision on the new chain.
    pub fn provision(&self) -> Provision {
        Provision {
            annotators: self.annotators,
            out: self.out.clone(),
            annotator_tokens: self.annotator_tokens.clone(),
            requester_tokens: self.requester_tokens.clone(),
            cooldown: self.cooldown,
        }
    }

    pub async fn run(self) -> eyre::Result<()> {
        let up = self;
        let anvil = spawn_anvil(up.port, 3 + up.annotators, up.block_time)?;
        let rpc_url = anvil.endpoint();
        let accounts = provision(&up.provision(), &rpc_url, anvil.keys()).await?;
        println!(
            "anvil      {rpc_url} (chain {}, block time {})",
            anvil.chain_id(),
            if up.block_time == 0 {
                "instant, plus an empty block every second".to_string()
            } else {
                format!("{}s", up.block_time)
            }
        );
        let d = Deployment::load(&up.out)?;
        println!("token      {}", d.token);
        println!("market     {}", d.market);
        if let Some(g) = d.generation {
            println!("generation {g}");
        }
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

#[cfg(test)]
mod tests {
    use crate::args::{parse, Cmd};

    #[test]
    fn up_is_the_default_and_takes_its_options_at_top_level() {
        let cli = parse(&["--port", "9545", "--block-time", "2"]);
        assert!(cli.cmd.is_none());
        assert_eq!(
            (cli.up.port, cli.up.block_time, cli.up.annotators),
            (9545, 2, 10)
        );
        let Some(Cmd::Up(u)) = parse(&["up", "--annotators", "3"]).cmd else {
            panic!("not up")
        };
        assert_eq!(u.annotators, 3);
        assert_eq!(u.provision().annotators, 3);
    }
}
