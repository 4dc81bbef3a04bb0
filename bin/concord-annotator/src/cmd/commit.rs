//! `concord-annotator commit`: commit every labeled task (salt stored locally first, encrypted backup on-chain).

use clap::Args;
use concord_client::annotator;

use crate::opts::AnnotatorArgs;
use crate::print;

#[derive(Debug, Args)]
pub struct CommitArgs {
    /// Only this batch (default: all).
    #[arg(long, short = 'b')]
    pub batch: Option<u64>,
    /// Also join the next round for up to N tasks in the same transaction (one transaction per bundle instead of
    /// two; locks the stake of N tasks now, released for tickets the round turns out not to have).
    #[arg(long, value_name = "N")]
    pub join_next: Option<u64>,
    /// Sign each commit (and its join) and hand it to the requester's server (`serve --publish DIR
    /// --accept-commits`) instead of sending a transaction: the requester sends everyone's in one. Run `commit`
    /// again later: a bundle not on-chain by the last quarter of its window is then sent by you.
    #[arg(long, value_name = "URL")]
    pub via: Option<String>,
}

impl CommitArgs {
    pub async fn run(self, args: &AnnotatorArgs) -> eyre::Result<()> {
        let c = args.connect().await?;
        let store = args.open_store(&c)?;
        let r =
            annotator::commit(&c, &store, self.batch, self.join_next, self.via.as_deref()).await?;
        print::finish_run(args.json(), "committed", &r)
    }
}

#[cfg(test)]
mod tests {
    use crate::args::Cmd;
    use concord_cli::Tool;

    #[test]
    fn batch_is_optional() {
        let Cmd::Commit(c) = Cmd::parse_line(&["commit"]).cmd else {
            panic!("not commit")
        };
        assert_eq!(c.batch, None);
        let Cmd::Commit(c) = Cmd::parse_line(&["commit", "-b", "3", "--json"]).cmd else {
            panic!("not commit")
        };
        assert_eq!(c.batch, Some(3));
        assert_eq!(c.join_next, None);
        let Cmd::Commit(c) = Cmd::parse_line(&["commit", "--join-next", "4"]).cmd else {
            panic!("not commit")
        };
        assert_eq!(c.join_next, Some(4));
        let Cmd::Commit(c) = Cmd::parse_line(&["commit", "--via", "http://h:1/"]).cmd else {
            panic!("not commit")
        };
        assert_eq!(c.via.as_deref(), Some("http://h:1/"));
    }
}
