//! `concord-requester resolve`: the reviewer decides items without consensus (`--decide ITEM=CLASS`).

use clap::Args;
use concord_cli::{emit, ConcordArgs};
use concord_client::dataset::{load_manifest, Manifest};
use concord_client::{market, requester};
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct ResolveArgs {
    #[arg(long, short = 'b')]
    pub batch: u64,
    /// ITEM=CLASS (item index or id, class name or index); repeatable.
    #[arg(long = "decide", required = true)]
    pub decisions: Vec<String>,
    /// Manifest (default: the batch's manifest URI).
    #[arg(long)]
    pub manifest: Option<PathBuf>,
}

/// Reads `ITEM=CLASS` (item index or id, class name or index) against the manifest.
fn decision(m: &Manifest, d: &str) -> eyre::Result<(u64, u8)> {
    let (item, class) = d
        .split_once('=')
        .ok_or_else(|| eyre::eyre!("--decide `{d}`: expected ITEM=CLASS"))?;
    let index = item
        .parse::<u64>()
        .ok()
        .filter(|i| (*i as usize) < m.items.len())
        .or_else(|| m.items.iter().find(|i| i.id == item).map(|i| i.index))
        .ok_or_else(|| eyre::eyre!("--decide `{d}`: no item `{item}` in the batch"))?;
    let label = m
        .class_index(class)
        .or_else(|| {
            class
                .parse::<u8>()
                .ok()
                .filter(|c| usize::from(*c) < m.classes.len())
        })
        .ok_or_else(|| {
            eyre::eyre!(
                "--decide `{d}`: `{class}` is not a class ({})",
                m.classes.join(", ")
            )
        })?;
    Ok((index, label))
}

impl ResolveArgs {
    pub async fn run(self, args: &ConcordArgs) -> eyre::Result<()> {
        let client = args.connect().await?;
        let uri = match &self.manifest {
            Some(p) => p.display().to_string(),
            None => market::manifest_uri(&client, self.batch).await?,
        };
        let m = load_manifest(&uri)?;
        let decisions = self
            .decisions
            .iter()
            .map(|d| decision(&m, d))
            .collect::<eyre::Result<Vec<_>>>()?;
        let n = requester::resolve(&client, self.batch, &decisions).await?;
        emit(
            args.json(),
            &serde_json::json!({ "batch": self.batch, "resolved": n }),
            |_| println!("resolved {n} items of batch {}", self.batch),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::Cmd;
    use concord_cli::Tool;
    use concord_client::dataset::Item;

    #[test]
    fn decisions_are_repeatable_and_required() {
        let Cmd::Resolve(r) = Cmd::parse_line(&[
            "resolve", "-b", "1", "--decide", "0=a", "--decide", "it-2=1",
        ])
        .cmd
        else {
            panic!("not resolve")
        };
        assert_eq!(r.decisions, vec!["0=a", "it-2=1"]);
        assert!(Cmd::try_parse_line(&["resolve", "-b", "1"]).is_err());
    }

    #[test]
    fn items_by_index_or_id_and_classes_by_name_or_index() {
        let items: Vec<Item> = (0..3)
            .map(|i| Item {
                id: format!("it-{i}"),
                text: Some("t".into()),
                uri: None,
                meta: None,
                gold: None,
                media: None,
            })
            .collect();
        let m = Manifest::build(&items, &["a".into(), "b".into()]);
        assert_eq!(decision(&m, "0=a").expect("valid"), (0, 0));
        assert_eq!(decision(&m, "it-2=1").expect("valid"), (2, 1));
        let e = decision(&m, "it-9=a").expect_err("no item");
        assert_eq!(
            e.to_string(),
            "--decide `it-9=a`: no item `it-9` in the batch"
        );
        let e = decision(&m, "1=c").expect_err("no class");
        assert_eq!(e.to_string(), "--decide `1=c`: `c` is not a class (a, b)");
        assert!(decision(&m, "1").is_err());
    }
}
