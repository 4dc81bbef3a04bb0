//! The command line: the global options ([`AnnotatorArgs`]) and one subcommand per file in `cmd/`.

use clap::Subcommand;
use concord_cli::Tool;

use crate::cmd;
use crate::opts::AnnotatorArgs;

#[derive(Subcommand)]
pub enum Cmd {
    /// Stake CCD (approves the market if needed).
    Stake(cmd::stake::StakeArgs),
    /// Queue unlocked stake for withdrawal after the cooldown.
    Unstake(cmd::unstake::UnstakeArgs),
    /// Withdraw queued stake after the cooldown.
    Withdraw(cmd::withdraw::WithdrawArgs),
    /// Record a qualification attestation signed by the batch's qualifier.
    Qualify(cmd::qualify::QualifyArgs),
    /// Join a batch for a bundle of tasks (-n, up to the batch's limit); a later block decides which tasks.
    #[command(alias = "claim")]
    Join(cmd::join::JoinArgs),
    /// Show the items of a task of your bundles, verified against the batch's manifest root.
    Show(cmd::show::ShowArgs),
    /// Label a task (-t) or every task of your bundles (--from a file of answers), or interactively.
    Label(cmd::label::LabelArgs),
    /// Commit every bundle whose tasks are all labeled (salt stored locally first, encrypted backup on-chain).
    Commit(cmd::commit::CommitArgs),
    /// Reveal every committed bundle whose reveal is open (recovers lost salts from the backup).
    Reveal(cmd::reveal::RevealArgs),
    /// Check a batch's optimistic proposal for your bundles against the settlement code (--challenge a wrong one).
    Check(cmd::check::CheckArgs),
    /// Collect rewards and redistributed stake.
    Collect(cmd::collect::CollectArgs),
    /// Balance, stake, reputation and your bundles (learns the tasks of bundles whose round has sealed).
    Status(cmd::status::StatusArgs),
    /// Reputation counters and score in a batch's domain.
    Reputation(cmd::reputation::ReputationArgs),
    /// Label in the browser: a local page (127.0.0.1) backed by this CLI's key and store.
    Serve(cmd::serve::ServeArgs),
    /// Commit datapoints for a generation batch (--file JSONL, --text, or on the terminal); text and salt are kept
    /// locally before each commit.
    Submit(cmd::submit::SubmitArgs),
    /// Publish your committed datapoints of a generation batch (after its submit deadline).
    Publish(cmd::submit::PublishArgs),
    /// The instructions of a generation batch, fetched and checked against its on-chain root.
    Instructions(cmd::submit::InstructionsArgs),
}

impl Tool for Cmd {
    const NAME: &'static str = "concord-annotator";
    const ABOUT: &'static str =
        "Label data on Concord: stake, join, label, commit, reveal, collect";
    type Args = AnnotatorArgs;

    fn json(args: &AnnotatorArgs) -> bool {
        args.json()
    }

    async fn run(self, args: AnnotatorArgs) -> eyre::Result<()> {
        match self {
            Cmd::Stake(c) => c.run(&args).await,
            Cmd::Unstake(c) => c.run(&args).await,
            Cmd::Withdraw(c) => c.run(&args).await,
            Cmd::Qualify(c) => c.run(&args).await,
            Cmd::Join(c) => c.run(&args).await,
            Cmd::Show(c) => c.run(&args).await,
            Cmd::Label(c) => c.run(&args).await,
            Cmd::Commit(c) => c.run(&args).await,
            Cmd::Reveal(c) => c.run(&args).await,
            Cmd::Collect(c) => c.run(&args).await,
            Cmd::Status(c) => c.run(&args).await,
            Cmd::Reputation(c) => c.run(&args).await,
            Cmd::Check(c) => c.run(&args).await,
            Cmd::Serve(c) => c.run(&args).await,
            Cmd::Submit(c) => c.run(&args).await,
            Cmd::Publish(c) => c.run(&args).await,
            Cmd::Instructions(c) => c.run(&args).await,
        }
    }
}
