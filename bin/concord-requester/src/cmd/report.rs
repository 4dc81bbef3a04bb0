//! `concord-requester report`: the quality report of a settled batch (text, `--json`, or an HTML page).

use clap::Args;
use concord_cli::{emit, ConcordArgs};
use concord_client::quality::html::render_html;
use concord_client::quality::report::render_text;
use concord_client::report;
use eyre::WrapErr;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct ReportArgs {
    #[arg(long, short = 'b')]
    pub batch: u64,
    /// Also write a self-contained HTML page with plots.
    #[arg(long)]
    pub html: Option<PathBuf>,
    /// Manifest (default: the batch's manifest URI).
    #[arg(long)]
    pub manifest: Option<PathBuf>,
}

impl ReportArgs {
    pub async fn run(self, args: &ConcordArgs) -> eyre::Result<()> {
        let client = args.connect().await?;
        let report = report::build(&client, self.batch, self.manifest.as_deref()).await?;
        if let Some(p) = &self.html {
            std::fs::write(p, render_html(&report))
                .wrap_err_with(|| format!("writing {}", p.display()))?;
        }
        emit(args.json(), &report, |rep| {
            print!("{}", render_text(rep));
            if let Some(p) = &self.html {
                println!("\nwrote {}", p.display());
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::args::Cmd;
    use concord_cli::Tool;

    #[test]
    fn parses_html_and_manifest() {
        let Cmd::Report(r) = Cmd::parse_line(&[
            "report",
            "-b",
            "0",
            "--html",
            "r.html",
            "--manifest",
            "m.json",
        ])
        .cmd
        else {
            panic!("not report")
        };
        assert_eq!(r.batch, 0);
        assert!(r.html.is_some() && r.manifest.is_some());
    }
}
