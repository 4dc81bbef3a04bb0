//! The command line: `gas` and `throughput`.

use clap::{Parser, Subcommand};

use crate::cmd;

#[derive(Parser)]
#[command(name = "concord-bench", about = "Concord benchmarks")]
pub struct Cli {
    #[command(subcommand)]
    pub cmd: Cmd,
}

#[derive(Subcommand)]
pub enum Cmd {
    /// End-to-end labels/s through the client vs a cast loop and a raw flood, same run.
    Throughput(cmd::throughput::ThroughputArgs),
    /// Gas per accepted label: Concord vs a naive one-tx-per-label market.
    Gas(cmd::gas::GasArgs),
}

impl Cli {
    /// Runs the parsed command line.
    pub async fn run(self) -> eyre::Result<()> {
        match self.cmd {
            Cmd::Gas(g) => g.run().await,
            Cmd::Throughput(t) => t.run().await,
        }
    }
}

/// Parses a command line (the arguments after the binary's name) that must be valid.
#[cfg(test)]
pub fn parse(line: &[&str]) -> Cli {
    Cli::try_parse_from(std::iter::once("concord-bench").chain(line.iter().copied()))
        .unwrap_or_else(|e| panic!("{line:?} does not parse: {e}"))
}
