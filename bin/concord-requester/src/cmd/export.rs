//! `concord-requester export`: the labeled dataset, rebuilt from chain events and the verified manifest.

use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use clap::Args;
use concord_cli::{emit, ConcordArgs};
use concord_client::quality::export::{render, ExportFormat};
use concord_client::report;
use eyre::WrapErr;
use std::path::PathBuf;

/// `--format`: the export formats with their descriptions.
fn formats() -> impl TypedValueParser<Value = ExportFormat> {
    PossibleValuesParser::new(
        ExportFormat::ALL.map(|(_, name, help)| PossibleValue::new(name).help(help)),
    )
    .try_map(|s| s.parse::<ExportFormat>())
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    #[arg(long, short = 'b')]
    pub batch: u64,
    /// Output file (default: stdout).
    #[arg(long, short = 'o')]
    pub out: Option<PathBuf>,
    /// Manifest (default: the batch's manifest URI).
    #[arg(long)]
    pub manifest: Option<PathBuf>,
    /// Output format.
    #[arg(long, default_value = "jsonl", value_parser = formats())]
    pub format: ExportFormat,
}

impl ExportArgs {
    pub async fn run(self, args: &ConcordArgs) -> eyre::Result<()> {
        // Quiet: stdout may be the dataset itself.
        let client = args.connect_quiet().await?;
        let rows = report::export(&client, self.batch, self.manifest.as_deref()).await?;
        let text = render(&rows, self.format)?;
        let Some(p) = &self.out else {
            print!("{text}");
            return Ok(());
        };
        std::fs::write(p, &text).wrap_err_with(|| format!("writing {}", p.display()))?;
        let labeled = rows.iter().filter(|r| r.label.is_some()).count();
        emit(
            args.json(),
            &serde_json::json!({ "batch": self.batch, "items": rows.len(), "labeled": labeled, "out": p }),
            |_| {
                println!(
                    "wrote {} items ({labeled} with a label) to {}",
                    rows.len(),
                    p.display()
                )
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::Cmd;
    use concord_cli::Tool;

    #[test]
    fn every_format_parses_by_name_and_jsonl_is_the_default() {
        let Cmd::Export(e) = Cmd::parse_line(&["export", "-b", "1"]).cmd else {
            panic!("not export")
        };
        assert_eq!(e.format, ExportFormat::Jsonl);
        for (f, name, _) in ExportFormat::ALL {
            let Cmd::Export(e) =
                Cmd::parse_line(&["export", "-b", "1", "--format", name, "-o", "x"]).cmd
            else {
                panic!("not export")
            };
            assert_eq!(e.format, f);
        }
        assert!(Cmd::try_parse_line(&["export", "-b", "1", "--format", "xml"]).is_err());
    }
}
