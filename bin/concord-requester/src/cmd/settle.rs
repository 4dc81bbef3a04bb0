//! `concord-requester settle`: settle every settleable task (anyone may), in bounded chunks.

use clap::Args;
use concord_cli::{emit, ConcordArgs};
use concord_client::requester;

#[derive(Debug, Args)]
pub struct SettleArgs {
    #[arg(long, short = 'b')]
    pub batch: u64,
    /// Tasks per transaction (bounds gas per call).
    #[arg(long, default_value_t = 10)]
    pub chunk: u64,
}

impl SettleArgs {
    pub async fn run(self, args: &ConcordArgs) -> eyre::Result<()> {
        let client = args.connect().await?;
        let r = requester::settle(&client, self.batch, self.chunk).await?;
        emit(args.json(), &r, |r| {
            println!(
                "settled {} tasks in {} transactions ({} gas): paid {} tokens, slashed {} stake",
                r.tasks_settled, r.transactions, r.gas_used, r.rewards_paid, r.stake_slashed
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::args::Cmd;
    use concord_cli::Tool;

    #[test]
    fn chunk_defaults_to_ten_tasks() {
        let Cmd::Settle(s) = Cmd::parse_line(&["settle", "-b", "4"]).cmd else {
            panic!("not settle")
        };
        assert_eq!((s.batch, s.chunk), (4, 10));
    }
}
