//! `concord-annotator qualify`: record a qualification attestation signed by the batch's qualifier.

use clap::Args;
use concord_cli::emit;
use concord_client::annotator;

use crate::opts::AnnotatorArgs;

#[derive(Debug, Args)]
pub struct QualifyArgs {
    #[arg(long, short = 'b')]
    pub batch: u64,
    /// Attestation deadline (unix seconds) as signed by the qualifier.
    #[arg(long)]
    pub deadline: u64,
    /// Qualifier's EIP-712 signature (hex).
    #[arg(long)]
    pub signature: String,
}

impl QualifyArgs {
    pub async fn run(self, args: &AnnotatorArgs) -> eyre::Result<()> {
        let c = args.connect().await?;
        let sig: alloy::primitives::Bytes = self
            .signature
            .parse()
            .map_err(|_| eyre::eyre!("--signature is not hex"))?;
        annotator::qualify(&c, self.batch, self.deadline, sig).await?;
        emit(
            args.json(),
            &serde_json::json!({ "batch": self.batch, "qualified": true }),
            |_| println!("qualified for batch {}", self.batch),
        )
    }
}

#[cfg(test)]
mod tests {
    use crate::args::Cmd;
    use concord_cli::Tool;

    #[test]
    fn parses_what_attest_prints() {
        let Cmd::Qualify(q) = Cmd::parse_line(&[
            "qualify",
            "-b",
            "0",
            "--deadline",
            "1700000000",
            "--signature",
            "0xabcd",
        ])
        .cmd
        else {
            panic!("not qualify")
        };
        assert_eq!(
            (q.batch, q.deadline, q.signature.as_str()),
            (0, 1_700_000_000, "0xabcd")
        );
    }
}
