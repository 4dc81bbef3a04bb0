//! `concord-annotator`: the contributor's CLI. Thin: arguments in [`args`], one module per command in [`cmd`],
//! the shared options in [`opts`] and printing in [`print`], the work in `concord-client`.

mod args;
mod cmd;
mod opts;
mod print;

fn main() -> std::process::ExitCode {
    <args::Cmd as concord_cli::Tool>::main()
}
