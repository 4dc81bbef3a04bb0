//! `concord-requester serve`: the read-only web view of one batch.

use clap::Args;
use concord_cli::ConcordArgs;
use concord_client::market;
use concord_web::requester::{serve_requester, RequesterView};

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[arg(long, short = 'b')]
    pub batch: u64,
    /// Port (0: any free port).
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// Address to bind.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: std::net::IpAddr,
}

impl ServeArgs {
    pub async fn run(self, args: &ConcordArgs) -> eyre::Result<()> {
        let client = args.connect().await?;
        market::batch(&client, self.batch).await?;
        let view = RequesterView {
            client,
            batch: self.batch,
            token: concord_web::new_token(),
        };
        serve_requester(
            view,
            std::net::SocketAddr::new(self.host, self.port),
            concord_web::announce,
        )
        .await
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
