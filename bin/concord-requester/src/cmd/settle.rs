//! `concord-requester settle`: settle every settleable task (anyone may), in bounded chunks.

use clap::Args;
use concord_cli::{emit, ConcordArgs};
use concord_client::requester;

#[derive(Debug, Args)]
pub struct SettleArgs {
    #[arg(long, short = 'b')]
    pub batch: u64,
    /// Most tasks per transaction (0: as many as fit 15M gas). Fewer, larger calls are cheaper: each call
    /// re-supplies every bundle holding one of its tasks.
    #[arg(long, default_value_t = 0)]
    pub chunk: u64,
}

impl SettleArgs {
    pub async fn run(self, args: &ConcordArgs) -> eyre::Result<()> {
        let client = args.connect().await?;
        let home = concord_client::concord_home();
        let r = requester::settle(&client, self.batch, self.chunk, &home).await?;
        emit(args.json(), &r, |r| {
            println!(
                "settled {} tasks in {} transactions ({} gas): paid {} tokens, slashed {} stake",
                r.tasks_settled, r.transactions, r.gas_used, r.rewards_paid, r.stake_slashed
            );
            if r.reveals_carried > 0 {
                println!(
                    "  carried {} reveals handed over by their annotators (they sent no reveal transaction)",
                    r.reveals_carried
                );
            }
            if r.bundles_expired > 0 {
                println!(
                    "  {} bundles never committed in their round were expired first (squat penalty to the treasury)",
                    r.bundles_expired
                );
            }
            if r.tasks_waiting > 0 {
                println!(
                    "  {} tasks wait for reveals or gold (or the reveal deadline); run `settle` again later",
                    r.tasks_waiting
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
    fn chunk_defaults_to_what_fits_one_transaction() {
        let Cmd::Settle(s) = Cmd::parse_line(&["settle", "-b", "4"]).cmd else {
            panic!("not settle")
        };
        assert_eq!((s.batch, s.chunk), (4, 0));
    }
}
