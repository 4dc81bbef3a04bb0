//! The command line: `up` (the default) and `demo`.

use clap::{Parser, Subcommand};

use crate::cmd;

#[derive(Parser)]
#[command(
    name = "concord-devnet",
    version,
    about = "Local Concord chain: anvil + contracts + funded accounts"
)]
pub struct Cli {
    #[command(subcommand)]
    pub cmd: Option<Cmd>,
    #[command(flatten)]
    pub up: cmd::up::UpArgs,
}

#[derive(Subcommand)]
pub enum Cmd {
    /// Start anvil, deploy, fund accounts, write the deployment file and wait for Ctrl-C (the default).
    Up(cmd::up::UpArgs),
    /// Play a full labeling round on a fresh devnet through the real CLIs and print the story.
    Demo(cmd::demo::DemoArgs),
}

impl Cli {
    /// Runs the parsed command line.
    pub async fn run(self) -> eyre::Result<()> {
        match self.cmd {
            Some(Cmd::Up(u)) => u.run().await,
            Some(Cmd::Demo(d)) => d.run().await,
            None => self.up.run().await,
        }
    }
}

/// Parses a command line (the arguments after the binary's name) that must be valid.
#[cfg(test)]
pub fn parse(line: &[&str]) -> Cli {
    Cli::try_parse_from(std::iter::once("concord-devnet").chain(line.iter().copied()))
        .unwrap_or_else(|e| panic!("{line:?} does not parse: {e}"))
}
