//! The command line: global options and one subcommand per file in `cmd/`.

use clap::{Parser, Subcommand};
use concord_cli::ConcordArgs;

use crate::cmd;

#[derive(Parser)]
#[command(
    name = "concord-requester",
    version,
    about = "Publish labeling batches on Concord and get a labeled dataset back"
)]
pub struct Cli {
    #[command(subcommand)]
    pub cmd: Cmd,
    #[command(flatten)]
    pub args: ConcordArgs,
}

#[derive(Subcommand)]
pub enum Cmd {
    /// Deploy ConcordToken + LabelMarket to the chain at --rpc-url and write the deployment file.
    Deploy(cmd::deploy::DeployArgs),
    /// Validate a dataset, escrow the rewards and publish a batch.
    Create(Box<cmd::create::CreateArgs>),
    /// Progress of a batch per phase.
    Status(cmd::status::StatusArgs),
    /// Reveal the batch's gold answers (after the commit deadline).
    RevealGold(cmd::reveal_gold::RevealGoldArgs),
    /// Settle every settleable task (permissionless), in bounded chunks.
    Settle(cmd::settle::SettleArgs),
    /// List items that settled without consensus, with their votes.
    Review(cmd::review::ReviewArgs),
    /// Decide items without consensus (reviewer key): `--decide ITEM=CLASS`, repeatable.
    Resolve(cmd::resolve::ResolveArgs),
    /// Return unspent escrow after the review window (every task must be settled).
    Refund(cmd::refund::RefundArgs),
    /// Write the labeled dataset (JSONL, CSV, crowd-kit CSV or Label Studio JSON), rebuilt from chain events.
    Export(cmd::export::ExportArgs),
    /// Quality report of a settled batch: text, --json, or a self-contained HTML page with plots.
    Report(cmd::report::ReportArgs),
    /// Sign a qualification attestation for an annotator (qualifier key).
    Attest(cmd::attest::AttestArgs),
    /// Read-only web view of a batch: progress per phase and the quality report (127.0.0.1, token-guarded).
    Serve(cmd::serve::ServeArgs),
    /// Aggregate labels you already have (crowd-kit `task,worker,label` CSV): majority vote and Dawid-Skene.
    Aggregate(cmd::aggregate::AggregateArgs),
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
    async fn run(self, args: ConcordArgs) -> eyre::Result<()> {
        let a = &args;
        match self {
            Cmd::Deploy(c) => c.run(a).await,
            Cmd::Create(c) => c.run(a).await,
            Cmd::Status(c) => c.run(a).await,
            Cmd::RevealGold(c) => c.run(a).await,
            Cmd::Settle(c) => c.run(a).await,
            Cmd::Review(c) => c.run(a).await,
            Cmd::Resolve(c) => c.run(a).await,
            Cmd::Refund(c) => c.run(a).await,
            Cmd::Export(c) => c.run(a).await,
            Cmd::Report(c) => c.run(a).await,
            Cmd::Attest(c) => c.run(a).await,
            Cmd::Serve(c) => c.run(a).await,
            Cmd::Aggregate(c) => c.run(a),
        }
    }
}

/// Parses a command line (for the commands' parse tests).
#[cfg(test)]
pub fn parse(line: &[&str]) -> Cli {
    Cli::try_parse_from(std::iter::once("concord-requester").chain(line.iter().copied()))
        .unwrap_or_else(|e| panic!("{line:?} does not parse: {e}"))
}

/// Parses a command line, keeping clap's error (for the parse tests of bad command lines).
#[cfg(test)]
pub fn try_parse(line: &[&str]) -> Result<Cli, clap::Error> {
    Cli::try_parse_from(std::iter::once("concord-requester").chain(line.iter().copied()))
}
