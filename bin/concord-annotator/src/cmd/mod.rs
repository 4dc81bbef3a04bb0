//! One module per subcommand: its arguments (`XArgs`), its `run`, and a parse test.

pub mod check;
pub mod collect;
pub mod commit;
pub mod join;
pub mod label;
pub mod qualify;
pub mod reputation;
pub mod reveal;
pub mod serve;
pub mod show;
pub mod stake;
pub mod status;
pub mod submit;
pub mod unstake;
pub mod withdraw;
