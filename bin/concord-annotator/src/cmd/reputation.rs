//! `concord-annotator reputation`: reputation counters and score.

use clap::Args;
use concord_cli::emit;
use concord_client::annotator;

use crate::opts::AnnotatorArgs;
use crate::print;

#[derive(Debug, Args)]
pub struct ReputationArgs {}

impl ReputationArgs {
    pub async fn run(self, args: &AnnotatorArgs) -> eyre::Result<()> {
        let c = args.connect().await?;
        let s = annotator::standing(&c, c.account()?).await?;
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
            Cmd::parse_line(&["reputation"]).cmd,
            Cmd::Reputation(_)
        ));
    }
}
