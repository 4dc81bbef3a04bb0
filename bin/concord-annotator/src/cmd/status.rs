//! `concord-annotator status`: balance, stake, reputation and the bundles in the local store (learning the tasks
//! of bundles whose round has sealed; a round whose join window passed is sealed on the way, as anyone may).

use clap::Args;
use concord_cli::emit;
use concord_client::annotator;

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
        // A round sealed a moment ago gets its tasks with the next block.
        let pending =
            annotator::refresh_waiting(&c, &store, self.batch, std::time::Duration::from_secs(10))
                .await?;
        let bundles = store.list(c.chain_id(), c.market_address(), me, self.batch)?;
        // Reputation lives per domain: the batch asked about, else the last batch worked on.
        let domain = match self.batch.or_else(|| bundles.last().map(|b| b.batch)) {
            Some(b) => annotator::domain_of(&c, b).await?,
            None => alloy::primitives::Address::ZERO,
        };
        let s = annotator::standing(&c, me, domain).await?;
        emit(
            args.json(),
            &serde_json::json!({ "standing": s, "bundles": bundles, "pending": pending }),
            |_| {
                print::standing(&s);
                for b in &bundles {
                    print::bundle(b);
                }
                for (batch, bundle, p) in &pending {
                    let round = bundles
                        .iter()
                        .find(|b| b.batch == *batch && b.bundle == *bundle)
                        .map_or(0, |b| b.tickets.round);
                    print!("  batch {batch} bundle {bundle}: ");
                    print::pending(round, p);
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
