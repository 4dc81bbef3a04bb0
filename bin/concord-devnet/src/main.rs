//! `concord-devnet`: a local chain with Concord deployed and demo accounts funded; `concord-devnet demo` plays
//! a whole labeling round through the real CLIs. Arguments in [`args`], one module per command in [`cmd`].

mod args;
mod cmd;

fn main() -> std::process::ExitCode {
    concord_cli::parse_and_run(args::Cli::run)
}
