//! What every Concord command-line tool's `main` is: parse [`CommandLine`] (the tool's subcommands and global
//! options), run the subcommand in [`crate::run`], exit with its code.

use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use std::future::Future;
use std::process::ExitCode;

/// A tool's command line: one of its subcommands and its global options.
#[derive(Debug, Parser)]
pub struct CommandLine<C: Subcommand, A: Args> {
    #[command(subcommand)]
    pub cmd: C,
    #[command(flatten)]
    pub args: A,
}

/// A tool's subcommands: the tool's name and description, its global options, and how to run.
pub trait Tool: Subcommand + Sized {
    /// Binary name, as in usage lines.
    const NAME: &'static str;
    /// One line for `--help`.
    const ABOUT: &'static str;
    /// The options every subcommand takes.
    type Args: Args;

    /// Whether errors are printed as `{"error": ...}` (the global `--json`).
    fn json(args: &Self::Args) -> bool;

    /// Runs the subcommand.
    fn run(self, args: Self::Args) -> impl Future<Output = eyre::Result<()>>;

    /// The clap command with this tool's name, description and version.
    fn command() -> clap::Command {
        CommandLine::<Self, Self::Args>::command()
            .name(Self::NAME)
            .bin_name(Self::NAME)
            .about(Self::ABOUT)
            .version(env!("CARGO_PKG_VERSION"))
    }

    /// Parses `argv` (the binary's name first).
    fn try_parse_from<I, T>(argv: I) -> Result<CommandLine<Self, Self::Args>, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        let mut matches = Self::command().try_get_matches_from(argv)?;
        CommandLine::from_arg_matches_mut(&mut matches)
    }

    /// Parses `line` (the arguments after the binary's name); for parse tests.
    fn try_parse_line(line: &[&str]) -> Result<CommandLine<Self, Self::Args>, clap::Error> {
        Self::try_parse_from(std::iter::once(Self::NAME).chain(line.iter().copied()))
    }

    /// Parses a `line` that must be valid; for parse tests.
    fn parse_line(line: &[&str]) -> CommandLine<Self, Self::Args> {
        Self::try_parse_line(line).unwrap_or_else(|e| panic!("{line:?} does not parse: {e}"))
    }

    /// Parses the process arguments, runs, prints an error as one line and returns the exit code.
    fn main() -> ExitCode {
        let cli = Self::try_parse_from(std::env::args_os()).unwrap_or_else(|e| e.exit());
        let json = Self::json(&cli.args);
        crate::run(json, cli.cmd.run(cli.args))
    }
}

/// `main` of a tool with a command line of its own (no global `--json`): parse `P`, run, exit with the code.
pub fn parse_and_run<P, F>(run: impl FnOnce(P) -> F) -> ExitCode
where
    P: Parser,
    F: Future<Output = eyre::Result<()>>,
{
    crate::run(false, run(P::parse()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Subcommand)]
    enum Demo {
        /// Says hello.
        Hello { name: String },
    }

    impl Tool for Demo {
        const NAME: &'static str = "concord-demo-tool";
        const ABOUT: &'static str = "A tool for the test";
        type Args = crate::OutputArgs;

        fn json(args: &crate::OutputArgs) -> bool {
            args.json
        }

        async fn run(self, _: crate::OutputArgs) -> eyre::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn the_tool_names_itself_and_parses_global_options_anywhere() {
        let cli = Demo::parse_line(&["hello", "ann", "--json"]);
        assert!(cli.args.json);
        let Demo::Hello { name } = cli.cmd;
        assert_eq!(name, "ann");
        let help = Demo::command().render_help().to_string();
        assert!(help.contains("A tool for the test"), "{help}");
        assert!(help.contains("Usage: concord-demo-tool"), "{help}");
        assert!(Demo::try_parse_line(&["bye"]).is_err());
    }
}
