//! `concord-requester status`: a batch's progress per phase, once or refreshed with `--watch`.

use clap::Args;
use concord_cli::{emit, ConcordArgs};
use concord_client::protocol::time::{fmt_unix, relative};
use concord_client::requester::{self, Status};
use std::io::Write;

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[arg(long, short = 'b')]
    pub batch: u64,
    /// Refresh every N seconds until the batch is refunded (Ctrl-C to stop).
    #[arg(long, num_args = 0..=1, default_missing_value = "2")]
    pub watch: Option<u64>,
}

impl StatusArgs {
    pub async fn run(self, args: &ConcordArgs) -> eyre::Result<()> {
        let client = args.connect().await?;
        loop {
            let st = requester::status(&client, self.batch).await?;
            emit(args.json(), &st, print_status)?;
            match self.watch {
                Some(secs) if !st.refunded => {
                    std::io::stdout().flush().ok();
                    tokio::time::sleep(std::time::Duration::from_secs(secs.max(1))).await;
                    if !args.json() {
                        println!();
                    }
                }
                _ => return Ok(()),
            }
        }
    }
}

fn pct(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        100.0 * a as f64 / b as f64
    }
}

fn print_status(s: &Status) {
    println!("batch {}  phase: {}", s.batch_id, s.phase);
    for (name, deadline) in [
        ("commit", s.commit_deadline),
        ("reveal", s.reveal_deadline),
        ("review", s.review_deadline),
    ] {
        println!(
            "  {name} until {} ({})",
            fmt_unix(deadline),
            relative(deadline, s.now)
        );
    }
    println!(
        "  items {} in {} tasks, {} labels each = {} labels",
        s.num_items, s.num_tasks, s.replicas, s.labels_needed
    );
    println!(
        "  round {} ({} positions free, joins until {})",
        s.round,
        s.round_free,
        fmt_unix(s.round_join_end)
    );
    println!(
        "  committed       {:>6} / {} positions in {} bundles (up to {} tasks each)",
        s.positions_committed,
        s.num_tasks * s.replicas,
        s.bundles,
        s.max_bundle
    );
    println!(
        "  committed       {:>6} labels ({:.1}%)",
        s.labels_committed,
        pct(s.labels_committed, s.labels_needed)
    );
    println!(
        "  revealed        {:>6} labels ({:.1}%)",
        s.labels_revealed,
        pct(s.labels_revealed, s.labels_needed)
    );
    println!("  tasks settled   {:>6} / {}", s.tasks_settled, s.num_tasks);
    println!(
        "  items decided   {:>6}, in review {}",
        s.items_decided, s.items_in_review
    );
    if s.gold_count > 0 {
        println!(
            "  gold revealed   {:>6} / {}",
            s.gold_revealed, s.gold_count
        );
    }
    println!(
        "  escrow {} tokens, paid {}{}",
        s.escrow,
        s.paid,
        if s.refunded { ", refunded" } else { "" }
    );
}

#[cfg(test)]
mod tests {
    use crate::args::Cmd;
    use concord_cli::Tool;

    #[test]
    fn watch_defaults_to_two_seconds_when_given_bare() {
        let Cmd::Status(s) = Cmd::parse_line(&["status", "-b", "3", "--watch"]).cmd else {
            panic!("not status")
        };
        assert_eq!((s.batch, s.watch), (3, Some(2)));
        let Cmd::Status(s) = Cmd::parse_line(&["status", "--batch", "0", "--json"]).cmd else {
            panic!("not status")
        };
        assert_eq!(s.watch, None);
    }
}
