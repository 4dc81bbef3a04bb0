//! `concord-annotator unstake`: queue unlocked stake for withdrawal after the cooldown.

use clap::Args;
use concord_cli::emit;
use concord_client::annotator;
use concord_client::protocol::time::fmt_unix;
use concord_client::protocol::units::parse_tokens;

use crate::opts::AnnotatorArgs;

#[derive(Debug, Args)]
pub struct UnstakeArgs {
    /// Amount in tokens (e.g. 100 or 0.5).
    #[arg(allow_hyphen_values = true)]
    pub amount: String,
}

impl UnstakeArgs {
    pub async fn run(self, args: &AnnotatorArgs) -> eyre::Result<()> {
        let c = args.connect().await?;
        let at = annotator::request_unstake(&c, parse_tokens(&self.amount)?).await?;
        emit(args.json(), &serde_json::json!({ "unlockAt": at }), |_| {
            println!(
                "{} CCD unlock at {}; then run `withdraw`",
                self.amount,
                fmt_unix(at)
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::args::Cmd;
    use concord_cli::Tool;

    #[test]
    fn takes_one_amount() {
        let Cmd::Unstake(u) = Cmd::parse_line(&["unstake", "2.5"]).cmd else {
            panic!("not unstake")
        };
        assert_eq!(u.amount, "2.5");
        assert!(Cmd::try_parse_line(&["unstake"]).is_err());
    }
}
