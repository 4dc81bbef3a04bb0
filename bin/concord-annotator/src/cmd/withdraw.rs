//! `concord-annotator withdraw`: queued stake back after the cooldown.

use clap::Args;
use concord_cli::emit;
use concord_client::annotator;
use concord_client::protocol::units::fmt_tokens;

use crate::opts::AnnotatorArgs;

#[derive(Debug, Args)]
pub struct WithdrawArgs {}

impl WithdrawArgs {
    pub async fn run(self, args: &AnnotatorArgs) -> eyre::Result<()> {
        let c = args.connect().await?;
        let x = annotator::withdraw(&c).await?;
        emit(
            args.json(),
            &serde_json::json!({ "withdrawn": fmt_tokens(x) }),
            |_| println!("withdrew {} CCD", fmt_tokens(x)),
        )
    }
}

#[cfg(test)]
mod tests {
    use crate::args::Cmd;
    use concord_cli::Tool;

    #[test]
    fn takes_no_argument() {
        assert!(matches!(
            Cmd::parse_line(&["withdraw"]).cmd,
            Cmd::Withdraw(_)
        ));
        assert!(Cmd::try_parse_line(&["withdraw", "5"]).is_err());
    }
}
