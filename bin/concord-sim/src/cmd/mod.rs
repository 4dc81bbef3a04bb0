//! One module per subcommand.

pub mod generate;
pub mod run;
pub mod sweep;
