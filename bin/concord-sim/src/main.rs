//! `concord-sim`: runs whole batches through the real contracts on a local anvil with a configurable
//! population and reports label accuracy and who earned what; `concord-sim sweep` varies the adversary share
//! and r. Arguments in [`args`], one module per command in [`cmd`], the simulation in [`sim`].

mod args;
mod cmd;
mod sim;

fn main() -> std::process::ExitCode {
    <args::Cmd as concord_cli::Tool>::main()
}
