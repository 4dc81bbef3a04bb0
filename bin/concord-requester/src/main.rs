//! `concord-requester`: the ML team's CLI. Thin: arguments in [`args`], one module per command in [`cmd`], the
//! work in `concord-client`.

mod args;
mod cmd;

fn main() -> std::process::ExitCode {
    <args::Cmd as concord_cli::Tool>::main()
}
