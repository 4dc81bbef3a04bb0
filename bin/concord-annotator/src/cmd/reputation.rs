//! `concord-annotator reputation`: reputation counters and score.

use clap::Args;
use concord_cli::emit;
use concord_client::annotator;

use crate::opts::AnnotatorArgs;
use crate::print;

#[derive(Debug, Args)]
pub struct ReputationArgs {
    /// Reputation in this batch's domain (its qualifier, or its requester).
    #[arg(long, short = 'b', conflicts_with = "domain")]
    pub batch: Option<u64>,
    /// Reputation in this domain (an address).
    #[arg(long)]
    pub domain: Option<alloy::primitives::Address>,
}

impl ReputationArgs {
    pub async fn run(self, args: &AnnotatorArgs) -> eyre::Result<()> {
        let c = args.connect().await?;
        let domain = match (self.batch, self.domain) {
            (Some(b), _) => annotator::domain_of(&c, b).await?,
            (None, Some(d)) => d,
            (None, None) => eyre::bail!(
                "reputation is kept per domain (a batch's qualifier or requester): pass --batch <id> or --domain <address>"
            ),
        };
        let s = annotator::standing(&c, c.account()?, domain).await?;
        emit(args.json(), &s, print::standing)
    }
}

#[cfg(test)]
mod tests {
    use crate::args::Cmd;
    use concord_cli::Tool;

    #[test]
    fn parses() {
        assert!(matches!(
            Cmd::parse_line(&["reputation", "-b", "0"]).cmd,
            Cmd::Reputation(_)
        ));
        assert!(Cmd::try_parse_line(&[
            "reputation",
            "-b",
            "0",
            "--domain",
            "0x0000000000000000000000000000000000000001"
        ])
        .is_err());
    }
}
