//! `concord-annotator stake`: stake CCD (approving the market first if needed).

use clap::Args;
use concord_cli::emit;
use concord_client::annotator;
use concord_client::protocol::units::parse_tokens;

use crate::opts::AnnotatorArgs;

#[derive(Debug, Args)]
pub struct StakeArgs {
    /// Amount in tokens (e.g. 100 or 0.5).
    #[arg(allow_hyphen_values = true)]
    pub amount: String,
}

impl StakeArgs {
    pub async fn run(self, args: &AnnotatorArgs) -> eyre::Result<()> {
        let c = args.connect().await?;
        annotator::stake(&c, parse_tokens(&self.amount)?).await?;
        let s = annotator::standing(&c, c.account()?, alloy::primitives::Address::ZERO).await?;
        emit(args.json(), &s, |s| {
            println!(
                "staked {}; total stake {} CCD ({} locked)",
                self.amount, s.staked, s.locked
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::args::Cmd;
    use concord_cli::Tool;

    #[test]
    fn a_negative_amount_reaches_the_amount_check() {
        // Parsed as the amount (not as a flag) so the user gets "is negative", not a clap usage error.
        let Cmd::Stake(s) = Cmd::parse_line(&["stake", "-5"]).cmd else {
            panic!("not stake")
        };
        assert_eq!(s.amount, "-5");
    }
}
