//! `concord-requester refund`: unspent escrow back after the review window.

use clap::Args;
use concord_cli::{emit, ConcordArgs};
use concord_client::protocol::units::fmt_tokens;
use concord_client::requester;

#[derive(Debug, Args)]
pub struct RefundArgs {
    /// Batch id.
    #[arg(long, short = 'b')]
    pub batch: u64,
}

impl RefundArgs {
    pub async fn run(self, args: &ConcordArgs) -> eyre::Result<()> {
        let client = args.connect().await?;
        let amount = requester::refund(&client, self.batch).await?;
        emit(
            args.json(),
            &serde_json::json!({ "batch": self.batch, "refunded": fmt_tokens(amount) }),
            |_| {
                println!(
                    "refunded {} unspent tokens of batch {}",
                    fmt_tokens(amount),
                    self.batch
                )
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use crate::args::Cmd;
    use concord_cli::Tool;

    #[test]
    fn needs_a_batch() {
        let Cmd::Refund(r) = Cmd::parse_line(&["refund", "--batch", "9"]).cmd else {
            panic!("not refund")
        };
        assert_eq!(r.batch, 9);
        assert!(Cmd::try_parse_line(&["refund"]).is_err());
    }
}
