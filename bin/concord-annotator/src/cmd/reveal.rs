//! `concord-annotator reveal`: reveal every committed task whose reveal is open (lost salts are recovered from
//! their encrypted on-chain backup first).

use clap::Args;
use concord_client::annotator;

use crate::opts::AnnotatorArgs;
use crate::print;

#[derive(Debug, Args)]
pub struct RevealArgs {
    /// Only this batch (default: all).
    #[arg(long, short = 'b')]
    pub batch: Option<u64>,
    /// Hand each reveal to the batch's settler at this URL (the requester's `serve --publish DIR
    /// --accept-reveals`) instead of sending a transaction: the settlement carries it. One the settler refuses is
    /// revealed on-chain. Until the batch settles, `reveal` without --via still reveals on-chain.
    #[arg(long, value_name = "URL")]
    pub via: Option<String>,
}

impl RevealArgs {
    pub async fn run(self, args: &AnnotatorArgs) -> eyre::Result<()> {
        let c = args.connect().await?;
        let store = args.open_store(&c)?;
        let r = annotator::reveal(&c, &store, self.batch, self.via.as_deref()).await?;
        print::finish_run(args.json(), "revealed", &r)
    }
}

#[cfg(test)]
mod tests {
    use crate::args::Cmd;
    use concord_cli::Tool;

    #[test]
    fn store_is_a_global_option() {
        let cli = Cmd::parse_line(&["reveal", "--store", "/tmp/s.sqlite", "-b", "1"]);
        let Cmd::Reveal(r) = cli.cmd else {
            panic!("not reveal")
        };
        assert_eq!(r.batch, Some(1));
        assert_eq!(
            cli.args.store.as_deref(),
            Some(std::path::Path::new("/tmp/s.sqlite"))
        );
    }
}
