//! What every Concord command-line tool shares, in the shape of Foundry's `cast`: the option groups
//! ([`ConcordArgs`]: `--rpc-url`, the wallet options, `--json`), the runtime that turns an error into one line
//! ([`run`]), every tool's `main` ([`Tool`]), key-sorted JSON or human output ([`emit`]), progress bars and
//! argument parsers.

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod app;
pub mod opts;
pub mod output;
pub mod progress;

pub use app::{parse_and_run, CommandLine, Tool};
pub use opts::{ConcordArgs, OutputArgs, RpcOpts, WalletOpts};
pub use output::{emit, parse_duration, run};
