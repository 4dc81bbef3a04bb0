//! The command line: `run` and `sweep`, and the global `--json`.
//!
//! The simulator shares `--json` with the other CLIs but not their chain and wallet options: it always starts
//! its own anvil and funds its own accounts, so `--rpc-url` or `--private-key` would have nothing to do.

use clap::Subcommand;
use concord_cli::{OutputArgs, Tool};

use crate::cmd;

#[derive(Subcommand)]
pub enum Cmd {
    /// One batch with one population.
    Run(cmd::run::RunArgs),
    /// Adversary share 0..50% x r in {3,5,7}: a table for the README (Markdown) and JSON.
    Sweep(cmd::sweep::SweepArgs),
    /// Generation batches: generators (careful, low-effort, spammers, copiers) and reviewers (careful,
    /// approve-all, reject-all, colluding), over --seeds seeds: the README's table.
    Generate(cmd::generate::GenerateArgs),
}

impl Tool for Cmd {
    const NAME: &'static str = "concord-sim";
    const ABOUT: &'static str = "Simulate labeling populations through the real Concord contracts";
    type Args = OutputArgs;

    fn json(args: &OutputArgs) -> bool {
        args.json
    }

    async fn run(self, args: OutputArgs) -> eyre::Result<()> {
        match self {
            Cmd::Run(r) => r.run(args.json).await,
            Cmd::Sweep(s) => s.run().await,
            Cmd::Generate(g) => g.run(args.json).await,
        }
    }
}
