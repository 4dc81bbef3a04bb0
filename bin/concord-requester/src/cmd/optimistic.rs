//! `concord-requester propose | claim | check`: optimistic settlement. `propose` posts every bundle's credit with
//! a bond (no per-task work on-chain), `check` recomputes a live proposal's credits and can challenge a wrong one,
//! `claim` finalizes it after its challenge window and credits every bundle in one transaction.

use alloy::primitives::Address;
use clap::Args;
use concord_cli::{emit, ConcordArgs};
use concord_client::optimistic;
use concord_client::protocol::time::fmt_ts;

#[derive(Debug, Args)]
pub struct ProposeArgs {
    #[arg(long, short = 'b')]
    pub batch: u64,
}

impl ProposeArgs {
    pub async fn run(self, args: &ConcordArgs) -> eyre::Result<()> {
        let client = args.connect().await?;
        let home = concord_client::concord_home();
        let r = optimistic::propose(&client, self.batch, &home).await?;
        emit(args.json(), &r, |r| {
            println!(
                "proposed batch {}: {} bundles, rewards {} tokens, slashed {} stake ({} redistributed), bond {} ({} transactions, {} gas)",
                self.batch, r.bundles, r.rewards, r.slashed, r.redistributed, r.bond, r.transactions, r.gas_used
            );
            println!(
                "  anyone may challenge a wrong credit until {}; then `concord-requester claim -b {}`",
                fmt_ts(alloy::primitives::U256::from(r.challenge_end)),
                self.batch
            );
            if r.reveals_carried > 0 {
                println!(
                    "  carried {} reveals handed over by their annotators",
                    r.reveals_carried
                );
            }
        })
    }
}

#[derive(Debug, Args)]
pub struct ClaimArgs {
    #[arg(long, short = 'b')]
    pub batch: u64,
}

impl ClaimArgs {
    pub async fn run(self, args: &ConcordArgs) -> eyre::Result<()> {
        let client = args.connect().await?;
        let r = optimistic::claim(&client, self.batch).await?;
        emit(args.json(), &r, |r| {
            println!(
                "{}claimed {} bundles of batch {}: {} tokens of rewards paid in {} payments to annotators' wallets ({} transactions, {} gas)",
                if r.finalized { "finalized the proposal and " } else { "" },
                r.bundles_claimed,
                self.batch,
                r.rewards_paid,
                r.payments,
                r.transactions,
                r.gas_used
            );
        })
    }
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    #[arg(long, short = 'b')]
    pub batch: u64,
    /// Check only this annotator's bundles (default: every bundle).
    #[arg(long)]
    pub annotator: Option<Address>,
    /// Challenge the first wrong credit found (the proposal's bond comes to this key).
    #[arg(long)]
    pub challenge: bool,
}

impl CheckArgs {
    pub async fn run(self, args: &ConcordArgs) -> eyre::Result<()> {
        let client = args.connect().await?;
        let wrong = optimistic::check(&client, self.batch, self.annotator).await?;
        let voided = match (self.challenge, wrong.first()) {
            (true, Some(w)) => Some(optimistic::challenge(&client, self.batch, w.bundle_id).await?),
            _ => None,
        };
        emit(args.json(), &wrong, |wrong| {
            if wrong.is_empty() {
                println!(
                    "every checked credit of batch {}'s proposal is what the settlement code gives",
                    self.batch
                );
            }
            for w in wrong {
                println!(
                    "bundle {} ({}): the proposal posted {:#x} / {:#x}, the settlement code gives {:#x} / {:#x}",
                    w.bundle_id, w.annotator, w.posted[0], w.posted[1], w.recomputed[0], w.recomputed[1]
                );
            }
            if let Some(bond) = &voided {
                println!("challenged: the proposal is void and its bond of {bond} is credited to you (`collect`)");
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::args::Cmd;
    use concord_cli::Tool;

    #[test]
    fn check_takes_an_annotator_and_a_challenge_flag() {
        let Cmd::Check(c) = Cmd::parse_line(&["check", "-b", "2", "--challenge"]).cmd else {
            panic!("not check")
        };
        assert_eq!((c.batch, c.challenge, c.annotator), (2, true, None));
    }
}
