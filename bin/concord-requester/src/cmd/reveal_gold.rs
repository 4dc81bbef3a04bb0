//! `concord-requester reveal-gold`: the batch's gold answers, after the commit deadline.

use clap::Args;
use concord_cli::{emit, ConcordArgs};
use concord_client::requester;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct RevealGoldArgs {
    #[arg(long, short = 'b')]
    pub batch: u64,
    /// Private gold file (default: the one `create` wrote for this batch).
    #[arg(long)]
    pub gold: Option<PathBuf>,
    /// Answers per transaction.
    #[arg(long, default_value_t = 40)]
    pub chunk: usize,
}

impl RevealGoldArgs {
    pub async fn run(self, args: &ConcordArgs) -> eyre::Result<()> {
        let client = args.connect().await?;
        let path = match self.gold {
            Some(p) => p,
            None => requester::load_record(&client, self.batch)?
                .gold_path
                .ok_or_else(|| {
                    eyre::eyre!("batch {} was created without gold answers", self.batch)
                })?,
        };
        let n = requester::reveal_gold(&client, self.batch, &path, self.chunk).await?;
        emit(
            args.json(),
            &serde_json::json!({ "batch": self.batch, "revealed": n }),
            |_| println!("revealed {n} gold answers of batch {}", self.batch),
        )
    }
}

#[cfg(test)]
mod tests {
    use crate::args::Cmd;
    use concord_cli::Tool;

    #[test]
    fn parses_gold_file_and_chunk() {
        let Cmd::RevealGold(g) =
            Cmd::parse_line(&["reveal-gold", "-b", "1", "--gold", "g.json", "--chunk", "5"]).cmd
        else {
            panic!("not reveal-gold")
        };
        assert_eq!((g.batch, g.chunk), (1, 5));
        assert_eq!(g.gold.as_deref(), Some(std::path::Path::new("g.json")));
    }
}
