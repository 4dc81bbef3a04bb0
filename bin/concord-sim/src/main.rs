//! `concord-sim`: runs whole batches through the real contracts on a local anvil with a configurable
//! population and reports label accuracy and who earned what; `concord-sim sweep` varies the adversary share
//! and r; `concord-sim generate` runs generation batches with generator and reviewer populations. Arguments in
//! [`args`], one module per command in [`cmd`], the simulations in [`sim`] and [`gensim`].

mod args;
mod cmd;
mod gensim;
mod sim;

fn main() -> std::process::ExitCode {
    <args::Cmd as concord_cli::Tool>::main()
}
