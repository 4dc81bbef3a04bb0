//! `concord-bench`: gas per accepted label against a naive design, and end-to-end throughput against a `cast`
//! loop and a raw transaction flood — each measured next to its baseline in the same run. Arguments in
//! [`args`], one module per benchmark in [`cmd`].

mod args;
mod cmd;

fn main() -> std::process::ExitCode {
    concord_cli::parse_and_run(args::Cli::run)
}
