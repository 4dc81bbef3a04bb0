//! One module per subcommand: its arguments (`XArgs`), its `run`, and a parse test.

pub mod aggregate;
pub mod attest;
pub mod create;
pub mod deploy;
pub mod export;
pub mod generate;
pub mod optimistic;
pub mod refund;
pub mod relay;
pub mod report;
pub mod resolve;
pub mod reveal_gold;
pub mod review;
pub mod serve;
pub mod settle;
pub mod status;
