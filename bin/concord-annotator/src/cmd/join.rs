//! `concord-annotator join`: join a batch's current round for a bundle of tasks (one commit and one reveal for all
//! of them). Which tasks they are is fixed by a block after the round seals, never by the join itself.

use clap::Args;
use concord_cli::emit;
use concord_client::annotator;
use concord_client::market;
use concord_client::protocol::units::{fmt_tokens, parse_tokens};
use std::time::Duration;

use crate::opts::AnnotatorArgs;
use crate::print;

#[derive(Debug, Args)]
pub struct JoinArgs {
    #[arg(long, short = 'b')]
    pub batch: u64,
    /// How many tasks to ask for (default: the batch's bundle limit); fewer when your lane has fewer free.
    #[arg(long, short = 'n', value_parser = clap::value_parser!(u64).range(1..=32))]
    pub tasks: Option<u64>,
    /// How long to wait for the round's seed block when the join sealed the round (seconds).
    #[arg(long, default_value_t = 10)]
    pub wait: u64,
    /// Print what the join would ask for and lock, and send nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Hand the signed join to the requester's server (`concord-requester serve --publish DIR --accept-joins`)
    /// instead of sending a transaction: the requester sends everyone's in one, staking from your wallet through a
    /// permit you sign — no ether needed. `status` shows the bundle once it is on-chain.
    #[arg(long, value_name = "URL")]
    pub via: Option<String>,
    /// With --via: tokens to stake with the join (default: what the join needs beyond your unlocked stake, and
    /// at least the batch's minimum; stake more to cover the joins that ride along with your commits).
    #[arg(long, requires = "via", value_name = "TOKENS")]
    pub stake: Option<String>,
}

impl JoinArgs {
    pub async fn run(self, args: &AnnotatorArgs) -> eyre::Result<()> {
        let c = args.connect().await?;
        let store = args.open_store(&c)?;
        let b = market::batch(&c, self.batch).await?;
        let (n, stake) = annotator::join_terms(&b, self.tasks)?;
        if self.dry_run {
            let terms = serde_json::json!({
                "batch": self.batch, "tasks": n, "taskSize": b.config.taskSize, "stakeLocked": fmt_tokens(stake),
                "stakePerTask": fmt_tokens(alloy::primitives::U256::from(b.config.stakePerTask)),
            });
            return emit(args.json(), &terms, |_| {
                println!(
                    "a join of batch {} asks for up to {n} tasks of {} items and locks up to {} CCD of stake ({} per task) until they settle; nothing sent",
                    self.batch,
                    b.config.taskSize,
                    fmt_tokens(stake),
                    fmt_tokens(alloy::primitives::U256::from(b.config.stakePerTask))
                )
            });
        }
        if let Some(via) = &self.via {
            let stake = self.stake.as_deref().map(parse_tokens).transpose()?;
            let h = annotator::join_via(&c, self.batch, Some(n), stake, via).await?;
            return emit(args.json(), &h, |h| {
                println!(
                    "handed the join of batch {} round {} (up to {} tasks, staking {} CCD{}) to the requester: {}",
                    h.batch,
                    h.round,
                    h.max_tasks,
                    h.stake_added,
                    if h.permit { " through a permit" } else { "" },
                    h.server
                )
            });
        }
        let joined = annotator::join(&c, &store, self.batch, Some(n)).await?;
        // The join that fills the round seals it: its tasks are known one block later.
        let pending = annotator::refresh_waiting(
            &c,
            &store,
            Some(self.batch),
            Duration::from_secs(self.wait),
        )
        .await?
        .into_iter()
        .find(|(_, id, _)| *id == joined.bundle)
        .map(|(_, _, p)| p);
        let key = annotator::bundle_key(&c, c.account()?, self.batch, joined.bundle);
        let tasks = store.get(&key)?.and_then(|r| r.tasks);
        emit(
            args.json(),
            &serde_json::json!({ "joined": joined, "tasks": tasks, "pending": pending }),
            |_| {
                print::joined(&joined, n);
                match (&tasks, &pending) {
                    (Some(t), _) => print::tasks_next(self.batch, t),
                    (None, Some(p)) => print::pending(joined.round, p),
                    (None, None) => {}
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
    fn task_count_is_optional_and_between_1_and_32() {
        let Cmd::Join(j) = Cmd::parse_line(&["join", "-b", "2"]).cmd else {
            panic!("not join")
        };
        assert_eq!((j.batch, j.tasks, j.wait, j.dry_run), (2, None, 10, false));
        assert_eq!((j.via, j.stake), (None, None));
        let Cmd::Join(j) =
            Cmd::parse_line(&["join", "-b", "2", "--via", "http://h:1/", "--stake", "50"]).cmd
        else {
            panic!("not join")
        };
        assert_eq!(
            (j.via.as_deref(), j.stake.as_deref()),
            (Some("http://h:1/"), Some("50"))
        );
        assert!(
            Cmd::try_parse_line(&["join", "-b", "2", "--stake", "50"]).is_err(),
            "--stake only with --via (without it, `stake` first)"
        );
        let Cmd::Join(j) = Cmd::parse_line(&["join", "-b", "2", "-n", "8"]).cmd else {
            panic!("not join")
        };
        assert_eq!(j.tasks, Some(8));
        assert!(Cmd::try_parse_line(&["join", "-b", "2", "-n", "0"]).is_err());
        assert!(Cmd::try_parse_line(&["join", "-b", "2", "-n", "33"]).is_err());
        assert!(
            matches!(Cmd::parse_line(&["claim", "-b", "2"]).cmd, Cmd::Join(_)),
            "`claim` still works"
        );
    }
}
