//! `concord-requester deploy`: ConcordToken + LabelMarketV2 on any chain, and the deployment file.

use alloy::primitives::Address;
use clap::Args;
use concord_cli::{emit, parse_duration, ConcordArgs};
use eyre::WrapErr;

#[derive(Debug, Args)]
pub struct DeployArgs {
    /// Receives the whole token supply and slashed stake nobody can take (default: the deployer).
    #[arg(long)]
    pub treasury: Option<Address>,
    /// Unstake cooldown.
    #[arg(long, default_value = "7d", value_parser = parse_duration)]
    pub cooldown: u32,
}

impl DeployArgs {
    pub async fn run(self, args: &ConcordArgs) -> eyre::Result<()> {
        let rpc = &args.rpc;
        let signer = args.wallet.require_signer()?;
        let treasury = self.treasury.unwrap_or(signer.address());
        let dep = concord_client::deploy::deploy(
            &rpc.rpc_url,
            signer,
            treasury,
            u64::from(self.cooldown),
        )
        .await?;
        dep.save(&rpc.deployment)
            .wrap_err_with(|| format!("writing {}", rpc.deployment.display()))?;
        emit(args.json(), &dep, |d| {
            println!(
                "token  {}\nmarket {}\nwrote  {}",
                d.token,
                d.market,
                rpc.deployment.display()
            );
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::args::Cmd;
    use concord_cli::Tool;

    #[test]
    fn parses_treasury_and_cooldown() {
        let cli = Cmd::parse_line(&[
            "deploy",
            "--cooldown",
            "2h",
            "--rpc-url",
            "http://node:8545",
        ]);
        let Cmd::Deploy(d) = cli.cmd else {
            panic!("not deploy")
        };
        assert_eq!(d.cooldown, 7200);
        assert_eq!(d.treasury, None);
        assert_eq!(cli.args.rpc.rpc_url, "http://node:8545");
    }
}
