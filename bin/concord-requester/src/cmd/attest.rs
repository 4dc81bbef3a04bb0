//! `concord-requester attest`: an EIP-712 qualification for one annotator, signed with the qualifier key.

use alloy::primitives::Address;
use clap::Args;
use concord_cli::{emit, parse_duration, ConcordArgs};
use concord_client::protocol::time::fmt_unix;
use concord_client::requester;

#[derive(Debug, Args)]
pub struct AttestArgs {
    #[arg(long, short = 'b')]
    pub batch: u64,
    /// Annotator address being qualified.
    #[arg(long)]
    pub annotator: Address,
    /// How long the attestation stays usable.
    #[arg(long, default_value = "7d", value_parser = parse_duration)]
    pub valid_for: u32,
}

impl AttestArgs {
    pub async fn run(self, args: &ConcordArgs) -> eyre::Result<()> {
        let client = args.connect().await?;
        let signer = args.wallet.require_signer()?;
        let deadline = client.chain_time().await? + u64::from(self.valid_for);
        let att = requester::attest(&client, &signer, self.batch, self.annotator, deadline).await?;
        emit(args.json(), &att, |att| {
            println!(
                "attestation for {} on batch {} (valid until {}):",
                att.annotator,
                att.batch_id,
                fmt_unix(att.deadline)
            );
            println!(
                "concord-annotator qualify -b {} --deadline {} --signature {}",
                att.batch_id, att.deadline, att.signature
            );
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::args::Cmd;
    use concord_cli::Tool;

    #[test]
    fn validity_defaults_to_a_week() {
        let who = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";
        let Cmd::Attest(a) = Cmd::parse_line(&["attest", "-b", "0", "--annotator", who]).cmd else {
            panic!("not attest")
        };
        assert_eq!(a.valid_for, 7 * 86_400);
        assert_eq!(a.annotator.to_string(), who);
        assert!(
            Cmd::try_parse_line(&["attest", "-b", "0", "--annotator", "not-an-address"]).is_err()
        );
    }
}
