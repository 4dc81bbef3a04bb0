//! The command line: global options and one subcommand per file in `cmd/`.

use clap::Subcommand;
use concord_cli::ConcordArgs;
use concord_cli::Tool;

use crate::cmd;

#[derive(Subcommand)]
pub enum Cmd {
    /// Deploy ConcordToken, LabelMarketV2 and the GenerationMarket to the chain at --rpc-url and write the
    /// deployment file.
    Deploy(cmd::deploy::DeployArgs),
    /// Validate a dataset, escrow the rewards and publish a batch.
    Create(Box<cmd::create::CreateArgs>),
    /// Progress of a batch per phase.
    Status(cmd::status::StatusArgs),
    /// Reveal the batch's gold answers (after the commit deadline).
    RevealGold(cmd::reveal_gold::RevealGoldArgs),
    /// Settle every settleable task (permissionless), in bounded chunks.
    Settle(cmd::settle::SettleArgs),
    /// Settle optimistically (batches without a reviewer): post every bundle's credit with a bond; anyone may
    /// challenge a wrong one until the window closes, then `claim`.
    Propose(cmd::optimistic::ProposeArgs),
    /// Finalize a proposal after its challenge window and credit every bundle in one transaction.
    Claim(cmd::optimistic::ClaimArgs),
    /// Send the joins and commits annotators handed to `serve --publish DIR --accept-joins --accept-commits`, in
    /// one transaction per hundred each (run once per round: in its join window, and before its commit window ends).
    Relay(cmd::relay::RelayArgs),
    /// Recompute a live proposal's credits with the settlement code (`--challenge`: challenge a wrong one).
    Check(cmd::optimistic::CheckArgs),
    /// List items that settled without consensus, with their votes.
    Review(cmd::review::ReviewArgs),
    /// Decide items without consensus (reviewer key): `--decide ITEM=CLASS`, repeatable.
    Resolve(cmd::resolve::ResolveArgs),
    /// Return unspent escrow after the review window (every task must be settled).
    Refund(cmd::refund::RefundArgs),
    /// Write the labeled dataset (JSONL, CSV, crowd-kit CSV or Label Studio JSON), rebuilt from chain events.
    Export(cmd::export::ExportArgs),
    /// Quality report of a settled batch: text, --json, or a self-contained HTML page with plots.
    Report(cmd::report::ReportArgs),
    /// Sign a qualification attestation for an annotator (qualifier key).
    Attest(cmd::attest::AttestArgs),
    /// Read-only web view of a batch: progress per phase and the quality report (127.0.0.1, token-guarded).
    Serve(cmd::serve::ServeArgs),
    /// Aggregate labels you already have (crowd-kit `task,worker,label` CSV): majority vote and Dawid-Skene.
    Aggregate(cmd::aggregate::AggregateArgs),
    /// Generation batches: contributors write datapoints for your instructions, peers review them, you pay the
    /// accepted (`generate create | review | finalize | refund | export`).
    Generate(cmd::generate::GenerateArgs),
}

impl Tool for Cmd {
    const NAME: &'static str = "concord-requester";
    const ABOUT: &'static str =
        "Publish labeling batches on Concord and get a labeled dataset back";
    type Args = ConcordArgs;

    fn json(args: &ConcordArgs) -> bool {
        args.json()
    }

    async fn run(self, args: ConcordArgs) -> eyre::Result<()> {
        match self {
            Cmd::Deploy(c) => c.run(&args).await,
            Cmd::Create(c) => c.run(&args).await,
            Cmd::Status(c) => c.run(&args).await,
            Cmd::RevealGold(c) => c.run(&args).await,
            Cmd::Settle(c) => c.run(&args).await,
            Cmd::Propose(c) => c.run(&args).await,
            Cmd::Claim(c) => c.run(&args).await,
            Cmd::Check(c) => c.run(&args).await,
            Cmd::Relay(c) => c.run(&args).await,
            Cmd::Review(c) => c.run(&args).await,
            Cmd::Resolve(c) => c.run(&args).await,
            Cmd::Refund(c) => c.run(&args).await,
            Cmd::Export(c) => c.run(&args).await,
            Cmd::Report(c) => c.run(&args).await,
            Cmd::Attest(c) => c.run(&args).await,
            Cmd::Serve(c) => c.run(&args).await,
            Cmd::Aggregate(c) => c.run(&args),
            Cmd::Generate(c) => c.run(&args).await,
        }
    }
}
