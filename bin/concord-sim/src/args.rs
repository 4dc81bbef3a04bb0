//! The command line: `run` and `sweep`, and the global `--json`.
//!
//! The simulator shares `--json` with the other CLIs but not their chain and wallet options: it always starts
//! its own anvil and funds its own accounts, so `--rpc-url` or `--private-key` would have nothing to do.

use clap::{Parser, Subcommand};
use concord_cli::OutputArgs;

use crate::cmd;

#[derive(Parser)]
#[command(
    name = "concord-sim",
    version,
    about = "Simulate labeling populations through the real Concord contracts"
)]
pub struct Cli {
    #[command(subcommand)]
    pub cmd: Cmd,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Subcommand)]
pub enum Cmd {
    /// One batch with one population.
    Run(cmd::run::RunArgs),
    /// Adversary share 0..50% x r in {3,5,7}: a table for the README (Markdown) and JSON.
    Sweep(cmd::sweep::SweepArgs),
}

impl Cli {
    /// Parses the process arguments and runs the command; the exit code says whether it worked.
    pub fn run_from_env() -> std::process::ExitCode {
        let cli = Cli::parse();
        let json = cli.output.json;
        concord_cli::run(json, async move {
            match cli.cmd {
                Cmd::Run(r) => r.run(json).await,
                Cmd::Sweep(s) => s.run().await,
            }
        })
    }
}

/// Parses a command line that must be valid.
#[cfg(test)]
pub fn parse(line: &[&str]) -> Cli {
    Cli::try_parse_from(std::iter::once("concord-sim").chain(line.iter().copied()))
        .unwrap_or_else(|e| panic!("{line:?} does not parse: {e}"))
}
