//! `concord-requester review`: items that settled without consensus, with their votes.

use clap::Args;
use concord_cli::{emit, ConcordArgs};
use concord_client::market;
use concord_client::protocol::ItemStatus;

#[derive(Debug, Args)]
pub struct ReviewArgs {
    /// Batch id.
    #[arg(long, short = 'b')]
    pub batch: u64,
}

impl ReviewArgs {
    pub async fn run(self, args: &ConcordArgs) -> eyre::Result<()> {
        let client = args.connect().await?;
        let (b, m) = market::verified_manifest(&client, self.batch, None).await?;
        let items: Vec<_> = market::outcomes_of(&client, self.batch, &b.config)
            .await?
            .into_iter()
            .filter(|o| o.status == ItemStatus::NoConsensus)
            .collect();
        emit(args.json(), &items, |items| {
            if items.is_empty() {
                println!("no item of batch {} waits for review", self.batch);
            }
            for o in items {
                let it = &m.items[o.index as usize];
                let votes: Vec<String> = m
                    .classes
                    .iter()
                    .zip(&o.votes)
                    .map(|(c, v)| format!("{c}={v}"))
                    .collect();
                println!(
                    "item {} `{}`: {}  votes {}",
                    o.index,
                    it.id,
                    it.text.as_deref().unwrap_or(&it.uri),
                    votes.join(" ")
                );
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::args::Cmd;
    use concord_cli::Tool;

    #[test]
    fn parses_the_batch() {
        let Cmd::Review(r) = Cmd::parse_line(&["review", "-b", "2"]).cmd else {
            panic!("not review")
        };
        assert_eq!(r.batch, 2);
    }
}
