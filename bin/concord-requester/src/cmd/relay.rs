//! `concord-requester relay`: send the joins and commits annotators handed to `serve --publish DIR --accept-joins
//! --accept-commits`, joins in one `relayJoins` transaction and commits in one `relayCommits` transaction (a few
//! when there are many).

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
        let home = concord_client::concord_home();
        let joins = relay::send_joins(&client, &home, self.batch).await?;
        let commits = relay::send(&client, &home, self.batch).await?;
        let r = Relayed { joins, commits };
        emit(args.json(), &r, |r| {
            let (j, c) = (&r.joins, &r.commits);
            if j.relayed + j.stale + j.refused.len() as u64 > 0 {
                println!(
                    "relayed {} joins of batch {} in {} transactions (staking {} CCD); {} were stale",
                    j.relayed,
                    j.batch,
                    j.transactions,
                    concord_client::protocol::units::fmt_tokens(j.staked),
                    j.stale
                );
            }
            println!(
                "relayed {} commits of batch {} in {} transactions ({} joining the next round); {} were on-chain already",
                c.relayed, c.batch, c.transactions, c.joined, c.already_committed
            );
            for why in j.refused.iter().chain(&c.refused) {
                println!("  not sent: {why}");
            }
        })
    }
}

/// What `relay` sent.
#[derive(serde::Serialize)]
struct Relayed {
    joins: relay::JoinReport,
    commits: relay::RelayReport,
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
