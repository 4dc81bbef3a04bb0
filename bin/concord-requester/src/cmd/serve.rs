//! `concord-requester serve`: the read-only web view of one batch.

use clap::Args;
use concord_cli::ConcordArgs;
use concord_client::market;
use concord_web::requester::{serve_requester, RequesterView};

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The batch whose read-only web view to serve.
    #[arg(long, short = 'b', required_unless_present = "publish")]
    pub batch: Option<u64>,
    /// Serve this publication folder instead (the --out-dir of `create`: manifest and media, never the private
    /// gold file), for annotators on other machines; pair with `create --publish-url http://<this host>:<port>/`.
    #[arg(long, value_name = "DIR", conflicts_with = "batch")]
    pub publish: Option<std::path::PathBuf>,
    /// With --publish, also take annotators' reveals (`concord-annotator reveal --via http://<this host>:<port>/`):
    /// each is checked against its commitment on-chain and kept in $CONCORD_HOME/reveals, and `settle` carries
    /// them before the reveal deadline, so those annotators send no reveal transaction.
    #[arg(long, requires = "publish")]
    pub accept_reveals: bool,
    /// With --publish, also take annotators' signed commits (`concord-annotator commit --via
    /// http://<this host>:<port>/`): each is checked by a dry run on-chain and kept in $CONCORD_HOME/commits, and
    /// `relay` sends them in one transaction, so those annotators send no commit transaction.
    #[arg(long, requires = "publish")]
    pub accept_commits: bool,
    /// With --publish, also take annotators' signed joins (`concord-annotator join --via http://<this host>:<port>/`,
    /// with a permit of the stake they add): each is checked by a dry run on-chain and kept in $CONCORD_HOME/joins,
    /// and `relay` sends them in one transaction, so those annotators need no ether to stake and join.
    #[arg(long, requires = "publish")]
    pub accept_joins: bool,
    /// Port (0: any free port).
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// Address to bind.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: std::net::IpAddr,
}

impl ServeArgs {
    pub async fn run(self, args: &ConcordArgs) -> eyre::Result<()> {
        let addr = std::net::SocketAddr::new(self.host, self.port);
        let batch = match (self.batch, self.publish) {
            (_, Some(dir)) => {
                let intake = match self.accept_reveals || self.accept_commits || self.accept_joins {
                    true => Some(concord_web::publish::Intake {
                        client: args.connect().await?,
                        home: concord_client::concord_home(),
                        reveals: self.accept_reveals,
                        commits: self.accept_commits,
                        joins: self.accept_joins,
                    }),
                    false => None,
                };
                let taking: Vec<(&str, std::path::PathBuf)> = intake
                    .iter()
                    .flat_map(|i| {
                        [
                            ("reveals", i.reveals),
                            ("commits", i.commits),
                            ("joins", i.joins),
                        ]
                        .into_iter()
                        .filter(|(_, on)| *on)
                        .map(|(what, _)| (what, i.home.join(what)))
                    })
                    .collect();
                return concord_web::publish::serve_publication(dir, addr, intake, |a| {
                    use std::io::Write;
                    if taking.is_empty() {
                        println!(
                            "serving the publication folder at http://{a}/ (read-only; Ctrl-C to stop)"
                        );
                    } else {
                        let what: Vec<String> = taking
                            .iter()
                            .map(|(w, kept)| {
                                format!("{w} at http://{a}/{w} (checked on-chain, kept in {})", kept.display())
                            })
                            .collect();
                        println!(
                            "serving the publication folder at http://{a}/ (read-only) and taking {} (Ctrl-C to stop)",
                            what.join(" and ")
                        );
                    }
                    let _ = std::io::stdout().flush();
                })
                .await;
            }
            (Some(b), None) => b,
            (None, None) => eyre::bail!("give a batch (-b) or a publication folder (--publish)"),
        };
        let client = args.connect().await?;
        market::batch(&client, batch).await?;
        let view = RequesterView {
            client,
            batch,
            token: concord_web::new_token(),
        };
        serve_requester(view, addr, concord_web::announce).await
    }
}

#[cfg(test)]
mod tests {
    use crate::args::Cmd;
    use concord_cli::Tool;

    #[test]
    fn binds_loopback_on_a_free_port_by_default() {
        let Cmd::Serve(s) = Cmd::parse_line(&["serve", "-b", "1"]).cmd else {
            panic!("not serve")
        };
        assert!(s.host.is_loopback());
        assert_eq!(s.port, 0);
    }
}
