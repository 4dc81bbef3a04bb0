//! The command line: global options (the shared chain/wallet/JSON options plus the local store) and one
//! subcommand per file in `cmd/`.

use clap::{Args, Parser, Subcommand};
use concord_cli::ConcordArgs;
use concord_client::store::Store;
use concord_client::Concord;
use std::path::PathBuf;

use crate::cmd;

#[derive(Parser)]
#[command(
    name = "concord-annotator",
    version,
    about = "Label data on Concord: stake, claim, label, commit, reveal, collect"
)]
pub struct Cli {
    #[command(subcommand)]
    pub cmd: Cmd,
    #[command(flatten)]
    pub args: AnnotatorArgs,
}

/// The options every annotator command takes.
#[derive(Debug, Clone, Args)]
pub struct AnnotatorArgs {
    #[command(flatten)]
    pub concord: ConcordArgs,
    /// Local store of claims, labels and salts (default: $CONCORD_HOME/annotator-<address>.sqlite).
    #[arg(long, global = true, env = "CONCORD_STORE")]
    pub store: Option<PathBuf>,
}

impl AnnotatorArgs {
    /// Whether `--json` was given.
    pub fn json(&self) -> bool {
        self.concord.json()
    }

    /// Connects with progress bars unless `--json`.
    pub async fn connect(&self) -> eyre::Result<Concord> {
        Ok(self.concord.connect().await?)
    }

    /// Opens the local store of the signing account.
    pub fn open_store(&self, c: &Concord) -> eyre::Result<Store> {
        let me = c.account()?;
        let p = self.store.clone().unwrap_or_else(|| {
            concord_client::concord_home().join(format!("annotator-{me}.sqlite"))
        });
        Ok(Store::open(&p)?)
    }
}

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
    /// Claim the next task of a batch (you cannot choose the items); --count claims several in one pipeline.
    Claim(cmd::claim::ClaimArgs),
    /// Show the items of a claimed task, verified against the batch's manifest root.
    Show(cmd::show::ShowArgs),
    /// Label a claimed task: --labels, --from a file of answers, or interactively.
    Label(cmd::label::LabelArgs),
    /// Commit every labeled task (salt stored locally first, encrypted backup on-chain).
    Commit(cmd::commit::CommitArgs),
    /// Reveal every committed task whose reveal is open (recovers lost salts from the backup).
    Reveal(cmd::reveal::RevealArgs),
    /// Collect rewards and redistributed stake.
    Collect(cmd::collect::CollectArgs),
    /// Balance, stake, reputation and local tasks.
    Status(cmd::status::StatusArgs),
    /// Reputation counters and score.
    Reputation(cmd::reputation::ReputationArgs),
    /// Label in the browser: a local page (127.0.0.1) backed by this CLI's key and store.
    Serve(cmd::serve::ServeArgs),
}

impl Cli {
    /// Parses the process arguments and runs the command; the exit code says whether it worked.
    pub fn run_from_env() -> std::process::ExitCode {
        let cli = Cli::parse();
        let json = cli.args.json();
        concord_cli::run(json, cli.cmd.run(cli.args))
    }
}

impl Cmd {
    async fn run(self, args: AnnotatorArgs) -> eyre::Result<()> {
        let a = &args;
        match self {
            Cmd::Stake(c) => c.run(a).await,
            Cmd::Unstake(c) => c.run(a).await,
            Cmd::Withdraw(c) => c.run(a).await,
            Cmd::Qualify(c) => c.run(a).await,
            Cmd::Claim(c) => c.run(a).await,
            Cmd::Show(c) => c.run(a).await,
            Cmd::Label(c) => c.run(a).await,
            Cmd::Commit(c) => c.run(a).await,
            Cmd::Reveal(c) => c.run(a).await,
            Cmd::Collect(c) => c.run(a).await,
            Cmd::Status(c) => c.run(a).await,
            Cmd::Reputation(c) => c.run(a).await,
            Cmd::Serve(c) => c.run(a).await,
        }
    }
}

/// Parses a command line, keeping clap's error.
#[cfg(test)]
pub fn try_parse(line: &[&str]) -> Result<Cli, clap::Error> {
    Cli::try_parse_from(std::iter::once("concord-annotator").chain(line.iter().copied()))
}

/// Parses a command line that must be valid.
#[cfg(test)]
pub fn parse(line: &[&str]) -> Cli {
    try_parse(line).unwrap_or_else(|e| panic!("{line:?} does not parse: {e}"))
}
