//! `concord-requester relay`: send the commits annotators handed to `serve --publish DIR --accept-commits`, in one
//! `relayCommits` transaction (a few when there are many).

use clap::Args;
use concord_cli::{emit, ConcordArgs};
use concord_client::relay;

#[derive(Debug, Args)]
pub struct RelayArgs {
    #[arg(long, short = 'b')]
    pub batch: u64,
}

impl RelayArgs {
    pub async fn run(self, args: &ConcordArgs) -> eyre::Result<()> {
        let client = args.connect().await?;
        let r = relay::send(&client, &concord_client::concord_home(), self.batch).await?;
        emit(args.json(), &r, |r| {
            println!(
                "relayed {} commits of batch {} in {} transactions ({} joining the next round); {} were on-chain already",
                r.relayed, r.batch, r.transactions, r.joined, r.already_committed
            );
            for why in &r.refused {
                println!("  not sent: {why}");
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::args::Cmd;
    use concord_cli::Tool;

    #[test]
    fn batch_is_required() {
        let Cmd::Relay(r) = Cmd::parse_line(&["relay", "-b", "4"]).cmd else {
            panic!("not relay")
        };
        assert_eq!(r.batch, 4);
        assert!(Cmd::try_parse_line(&["relay"]).is_err());
    }
}
