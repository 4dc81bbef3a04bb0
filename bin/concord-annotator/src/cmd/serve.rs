//! `concord-annotator serve`: label in the browser, on a local page backed by this CLI's key and store.

use clap::Args;
use concord_web::annotator::{serve, App};

use crate::opts::AnnotatorArgs;

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Port (0: any free port).
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// Address to bind. Anything other than loopback exposes the page (still token-protected) to the network.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: std::net::IpAddr,
    /// Reveal open tasks automatically every few seconds while the server runs.
    #[arg(long)]
    pub auto_reveal: bool,
}

impl ServeArgs {
    pub async fn run(self, args: &AnnotatorArgs) -> eyre::Result<()> {
        let c = args.connect().await?;
        let store = args.open_store(&c)?;
        if !self.host.is_loopback() {
            eprintln!("warning: serving on {} makes the page reachable from the network (the session token still guards it)", self.host);
        }
        let app = App {
            client: c,
            store,
            token: concord_web::new_token(),
            generation_home: args.generation_home(),
        };
        serve(
            app,
            std::net::SocketAddr::new(self.host, self.port),
            self.auto_reveal,
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
    fn loopback_without_auto_reveal_by_default() {
        let Cmd::Serve(s) = Cmd::parse_line(&["serve"]).cmd else {
            panic!("not serve")
        };
        assert!(s.host.is_loopback() && !s.auto_reveal);
        let Cmd::Serve(s) = Cmd::parse_line(&["serve", "--port", "8080", "--auto-reveal"]).cmd
        else {
            panic!("not serve")
        };
        assert!(s.port == 8080 && s.auto_reveal);
    }
}
