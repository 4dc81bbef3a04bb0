//! `concord-annotator collect`: rewards and redistributed stake, in every token owed.

use clap::Args;
use concord_cli::emit;
use concord_client::annotator;
use concord_client::protocol::units::fmt_tokens;

use crate::opts::AnnotatorArgs;

#[derive(Debug, Args)]
pub struct CollectArgs {}

impl CollectArgs {
    pub async fn run(self, args: &AnnotatorArgs) -> eyre::Result<()> {
        let c = args.connect().await?;
        let store = args.open_store(&c)?;
        let mut got = annotator::collect(&c, &store).await?;
        // Rewards of accepted datapoints wait in the generation market.
        if c.deployment.generation.is_some() {
            let paid = concord_client::generation::collect(&c).await?;
            if !paid.is_zero() {
                got.push((c.deployment.token, paid));
            }
        }
        let total: Vec<_> = got
            .iter()
            .map(|(t, a)| serde_json::json!({ "token": t, "amount": fmt_tokens(*a) }))
            .collect();
        emit(args.json(), &total, |_| {
            if got.is_empty() {
                println!("nothing to collect (claims of optimistically settled batches pay your wallet directly)");
            }
            for (t, a) in &got {
                println!("collected {} of token {t}", fmt_tokens(*a));
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::args::Cmd;
    use concord_cli::Tool;

    #[test]
    fn takes_the_global_options() {
        let cli = Cmd::parse_line(&["collect", "--json", "--private-key", "0x01"]);
        assert!(matches!(cli.cmd, Cmd::Collect(_)));
        assert!(cli.args.json());
        assert_eq!(cli.args.concord.wallet.private_key.as_deref(), Some("0x01"));
    }
}
