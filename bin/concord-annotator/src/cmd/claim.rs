//! `concord-annotator claim`: the next task of a batch (or several with `--count`, in one pipeline).

use clap::Args;
use concord_cli::emit;
use concord_client::annotator;

use crate::opts::AnnotatorArgs;
use crate::print;

#[derive(Debug, Args)]
pub struct ClaimArgs {
    #[arg(long, short = 'b')]
    pub batch: u64,
    /// How many tasks to claim (stops early when the batch has no open task left for you).
    #[arg(long, short = 'n', default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub count: u32,
}

impl ClaimArgs {
    pub async fn run(self, args: &AnnotatorArgs) -> eyre::Result<()> {
        let c = args.connect().await?;
        let store = args.open_store(&c)?;
        if self.count == 1 {
            let claim = annotator::claim(&c, &store, self.batch).await?;
            return emit(args.json(), &claim, |cl| {
                print::claim(cl);
                println!(
                    "next: concord-annotator show -b {} -t {}",
                    cl.batch, cl.task
                );
            });
        }
        let (claims, stopped) =
            annotator::claim_up_to(&c, &store, self.batch, self.count as usize).await?;
        if let (true, Some(e)) = (claims.is_empty(), &stopped) {
            eyre::bail!("{e}");
        }
        emit(args.json(), &claims, |cls| {
            cls.iter().for_each(print::claim);
            if let Some(e) = &stopped {
                println!(
                    "{} of {} claimed; the rest failed: {e}",
                    cls.len(),
                    self.count
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
    fn count_is_between_1_and_1000() {
        let Cmd::Claim(c) = Cmd::parse_line(&["claim", "-b", "2"]).cmd else {
            panic!("not claim")
        };
        assert_eq!((c.batch, c.count), (2, 1));
        let Cmd::Claim(c) = Cmd::parse_line(&["claim", "-b", "2", "-n", "8"]).cmd else {
            panic!("not claim")
        };
        assert_eq!(c.count, 8);
        assert!(Cmd::try_parse_line(&["claim", "-b", "2", "-n", "0"]).is_err());
        assert!(Cmd::try_parse_line(&["claim", "-b", "2", "-n", "1001"]).is_err());
    }
}
