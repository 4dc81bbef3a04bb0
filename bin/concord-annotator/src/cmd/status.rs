//! `concord-annotator status`: balance, stake, reputation and the tasks in the local store.

use clap::Args;
use concord_cli::emit;
use concord_client::annotator;
use concord_client::protocol::time::relative;

use crate::opts::AnnotatorArgs;
use crate::print;

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Only this batch (default: all).
    #[arg(long, short = 'b')]
    pub batch: Option<u64>,
}

impl StatusArgs {
    pub async fn run(self, args: &AnnotatorArgs) -> eyre::Result<()> {
        let c = args.connect().await?;
        let me = c.account()?;
        let store = args.open_store(&c)?;
        let s = annotator::standing(&c, me).await?;
        let tasks = store.list(c.chain_id(), c.market_address(), me, self.batch)?;
        let now = c.chain_time().await?;
        emit(
            args.json(),
            &serde_json::json!({ "standing": s, "tasks": tasks }),
            |_| {
                print::standing(&s);
                for t in &tasks {
                    let exp = if t.expiry > 0 {
                        format!(" (claim expires {})", relative(t.expiry, now))
                    } else {
                        String::new()
                    };
                    println!("  batch {} task {}: {:?}{}", t.batch, t.task, t.status, exp);
                }
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use crate::args::Cmd;
    use concord_cli::Tool;

    #[test]
    fn batch_filter_is_optional() {
        let Cmd::Status(s) = Cmd::parse_line(&["status", "-b", "0"]).cmd else {
            panic!("not status")
        };
        assert_eq!(s.batch, Some(0));
    }
}
