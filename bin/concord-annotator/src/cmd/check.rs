//! `concord-annotator check`: recompute a batch's optimistic proposal for your bundles with the settlement code, and
//! challenge a wrong credit (the proposal's bond comes to you).

use clap::Args;
use concord_cli::emit;
use concord_client::optimistic;

use crate::opts::AnnotatorArgs;

#[derive(Debug, Args)]
pub struct CheckArgs {
    #[arg(long, short = 'b')]
    pub batch: u64,
    /// Challenge the first wrong credit of yours (voids the proposal; its bond is credited to you).
    #[arg(long)]
    pub challenge: bool,
}

impl CheckArgs {
    pub async fn run(self, args: &AnnotatorArgs) -> eyre::Result<()> {
        let c = args.connect().await?;
        let wrong = optimistic::check(&c, self.batch, Some(c.account()?)).await?;
        let bond = match (self.challenge, wrong.first()) {
            (true, Some(w)) => Some(optimistic::challenge(&c, self.batch, w.bundle_id).await?),
            _ => None,
        };
        emit(args.json(), &wrong, |wrong| {
            if wrong.is_empty() {
                println!(
                    "the proposal of batch {} credits each of your bundles what the settlement code gives",
                    self.batch
                );
            }
            for w in wrong {
                println!(
                    "bundle {}: the proposal posted {:#x} / {:#x}, the settlement code gives {:#x} / {:#x}{}",
                    w.bundle_id,
                    w.posted[0],
                    w.posted[1],
                    w.recomputed[0],
                    w.recomputed[1],
                    if bond.is_none() { " (run with --challenge before the window closes)" } else { "" }
                );
            }
            if let Some(b) = &bond {
                println!("challenged: the proposal is void and its bond of {b} is credited to you (`collect`)");
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::args::Cmd;
    use concord_cli::Tool;

    #[test]
    fn check_takes_a_batch_and_a_challenge_flag() {
        let Cmd::Check(c) = Cmd::parse_line(&["check", "-b", "3", "--challenge"]).cmd else {
            panic!("not check")
        };
        assert_eq!((c.batch, c.challenge), (3, true));
    }
}
