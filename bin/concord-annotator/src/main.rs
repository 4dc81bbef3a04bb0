//! `concord-annotator`: the contributor's CLI. Thin: arguments in [`args`], one module per command in [`cmd`],
//! shared printing in [`print`], the work in `concord-client`.

mod args;
mod cmd;
mod print;

fn main() -> std::process::ExitCode {
    args::Cli::run_from_env()
}
