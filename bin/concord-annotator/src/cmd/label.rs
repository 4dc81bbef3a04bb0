//! `concord-annotator label`: labels for one task of your bundles (`-t`) from `--labels`, a file of answers, or the
//! terminal; without `-t`, every task of your uncommitted bundles in the batch.

use clap::Args;
use concord_cli::emit;
use concord_client::dataset::{Manifest, ManifestItem};
use concord_client::store::LocalStatus;
use concord_client::{annotator, market};
use eyre::WrapErr;
use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use crate::opts::AnnotatorArgs;
use crate::print;

#[derive(Debug, Args)]
pub struct LabelArgs {
    #[arg(long, short = 'b')]
    pub batch: u64,
    /// The task to label (default: every task of your uncommitted bundles in the batch).
    #[arg(long, short = 't')]
    pub task: Option<u64>,
    /// Labels in item order, comma separated (class names or indexes); needs -t.
    #[arg(long, conflicts_with = "from", requires = "task")]
    pub labels: Option<String>,
    /// File of answers by item id: JSONL `{"id":..,"label":..}` or CSV `id,label`.
    #[arg(long)]
    pub from: Option<PathBuf>,
    /// Commit right after labeling.
    #[arg(long)]
    pub commit: bool,
}

impl LabelArgs {
    pub async fn run(self, args: &AnnotatorArgs) -> eyre::Result<()> {
        let c = args.connect().await?;
        let store = args.open_store(&c)?;
        // A round sealed a moment ago gets its tasks with the next block.
        annotator::refresh_waiting(
            &c,
            &store,
            Some(self.batch),
            std::time::Duration::from_secs(10),
        )
        .await?;
        let (b, m) = market::verified_manifest(&c, self.batch, None).await?;
        let tasks: Vec<u64> = match self.task {
            Some(t) => vec![t],
            None => {
                let me = c.account()?;
                let mine: Vec<u64> = store
                    .list(c.chain_id(), c.market_address(), me, Some(self.batch))?
                    .into_iter()
                    .filter(|r| r.status == LocalStatus::Joined)
                    .filter_map(|r| r.tasks)
                    .flatten()
                    .collect();
                if mine.is_empty() {
                    eyre::bail!(
                        "no uncommitted bundle of yours in batch {} has its tasks drawn yet; run `concord-annotator join -b {}` or `status`",
                        self.batch,
                        self.batch
                    );
                }
                mine
            }
        };
        let answers = self.from.as_deref().map(read_answers).transpose()?;
        let k = usize::from(b.config.taskSize);
        let mut labeled = Vec::new();
        for &task in &tasks {
            if task >= u64::from(b.config.numTasks) {
                eyre::bail!(
                    "batch {} has tasks 0..{}, not {task}",
                    self.batch,
                    b.config.numTasks
                );
            }
            let start = task as usize * k;
            let items = &m.items[start..(start + k).min(m.items.len())];
            let labels: Vec<u8> = if let Some(spec) = &self.labels {
                spec.split(',')
                    .map(|s| class_of(&m, s))
                    .collect::<eyre::Result<_>>()?
            } else if let (Some(answers), Some(path)) = (&answers, &self.from) {
                items
                    .iter()
                    .map(|it| {
                        let a = answers.get(&it.id).ok_or_else(|| {
                            eyre::eyre!("{} has no answer for item `{}`", path.display(), it.id)
                        })?;
                        class_of(&m, a)
                    })
                    .collect::<eyre::Result<_>>()?
            } else {
                let media = concord_client::media::verified_media_all(
                    items,
                    &c.ipfs_gateway,
                    &annotator::media_cache(),
                )
                .await?;
                println!("task {task} of batch {}", self.batch);
                interactive(&m, items, &media)?
            };
            labeled.push((task, labels));
        }
        annotator::label_many(&c, &store, self.batch, &labeled).await?;
        let report = if self.commit {
            Some(annotator::commit(&c, &store, Some(self.batch), None, None).await?)
        } else {
            None
        };
        let out: Vec<serde_json::Value> = labeled
            .iter()
            .map(|(t, l)| serde_json::json!({ "task": t, "labels": l }))
            .collect();
        emit(
            args.json(),
            &serde_json::json!({ "batch": self.batch, "tasks": out, "commit": report }),
            |_| {
                for (task, labels) in &labeled {
                    let names: Vec<&str> = labels
                        .iter()
                        .map(|&x| m.classes[usize::from(x)].as_str())
                        .collect();
                    println!(
                        "labeled task {task} of batch {}: {}",
                        self.batch,
                        names.join(", ")
                    );
                }
                if let Some(r) = &report {
                    print::run("committed", r);
                }
            },
        )?;
        print::fail_if_any(report.as_ref())
    }
}

/// Resolves a label given as a class name or index.
fn class_of(m: &Manifest, s: &str) -> eyre::Result<u8> {
    let s = s.trim();
    m.class_index(s)
        .or_else(|| {
            s.parse::<u8>()
                .ok()
                .filter(|c| usize::from(*c) < m.classes.len())
        })
        .ok_or_else(|| {
            eyre::eyre!(
                "label `{s}` is not a class of this batch ({})",
                m.classes.join(", ")
            )
        })
}

/// Reads `id -> label` answers from JSONL or CSV.
fn read_answers(path: &Path) -> eyre::Result<HashMap<String, String>> {
    let text = std::fs::read_to_string(path)
        .wrap_err_with(|| format!("reading answers {}", path.display()))?;
    let mut out = HashMap::new();
    if path.extension().and_then(|e| e.to_str()) == Some("csv") {
        let mut r = csv::Reader::from_reader(text.as_bytes());
        for (i, rec) in r.records().enumerate() {
            let rec = rec.wrap_err_with(|| format!("{}:{}: bad CSV row", path.display(), i + 2))?;
            let (Some(id), Some(label)) = (rec.get(0), rec.get(1)) else {
                eyre::bail!("{}:{}: expected `id,label`", path.display(), i + 2);
            };
            out.insert(id.to_string(), label.to_string());
        }
    } else {
        for (i, line) in text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
        {
            let v: serde_json::Value = serde_json::from_str(line)
                .wrap_err_with(|| format!("{}:{}: not JSON", path.display(), i + 1))?;
            let id = match &v["id"] {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Number(n) => n.to_string(),
                _ => eyre::bail!("{}:{}: missing `id`", path.display(), i + 1),
            };
            let label = match &v["label"] {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Number(n) => n.to_string(),
                _ => eyre::bail!("{}:{}: missing `label`", path.display(), i + 1),
            };
            out.insert(id, label);
        }
    }
    Ok(out)
}

/// Asks for one label per item on the terminal (class number 1..C or name; `b` goes back).
fn interactive(
    m: &Manifest,
    items: &[ManifestItem],
    media: &[Option<std::path::PathBuf>],
) -> eyre::Result<Vec<u8>> {
    let stdin = std::io::stdin();
    let mut lines = stdin.lock().lines();
    let mut labels: Vec<u8> = Vec::with_capacity(items.len());
    while labels.len() < items.len() {
        let i = labels.len();
        print::item(
            m,
            &items[i],
            media.get(i).cloned().flatten().as_deref(),
            i + 1,
            items.len(),
        );
        print!("    label (1..{}, name, b = back): ", m.classes.len());
        std::io::stdout().flush().ok();
        let Some(line) = lines.next() else {
            eyre::bail!(
                "input ended after {i} of {} items; nothing was stored",
                items.len()
            );
        };
        let line = line?;
        let answer = line.trim();
        if answer == "b" {
            labels.pop();
            continue;
        }
        let by_number = answer
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=m.classes.len()).contains(n))
            .map(|n| (n - 1) as u8);
        match by_number.or_else(|| m.class_index(answer)) {
            Some(l) => labels.push(l),
            None => println!(
                "    `{answer}` is not a class; type 1..{} or a class name",
                m.classes.len()
            ),
        }
    }
    Ok(labels)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::Cmd;
    use concord_cli::Tool;
    use concord_client::dataset::Item;

    #[test]
    fn labels_and_from_exclude_each_other() {
        let Cmd::Label(l) =
            Cmd::parse_line(&["label", "-b", "0", "-t", "1", "--labels", "a,b", "--commit"]).cmd
        else {
            panic!("not label")
        };
        assert_eq!(l.labels.as_deref(), Some("a,b"));
        assert_eq!(l.task, Some(1));
        assert!(l.commit);
        assert!(
            Cmd::try_parse_line(&["label", "-b", "0", "--labels", "a"]).is_err(),
            "--labels needs -t"
        );
        let Cmd::Label(l) = Cmd::parse_line(&["label", "-b", "0", "--from", "a.csv"]).cmd else {
            panic!("not label")
        };
        assert_eq!(l.task, None, "every task of the bundles");
        assert!(Cmd::try_parse_line(&[
            "label", "-b", "0", "-t", "1", "--labels", "a", "--from", "x.csv"
        ])
        .is_err());
    }

    #[test]
    fn classes_by_name_or_index_and_answers_from_csv_or_jsonl() {
        let items = [Item {
            id: "x".into(),
            text: Some("t".into()),
            uri: None,
            meta: None,
            gold: None,
            media: None,
        }];
        let m = Manifest::build(&items, &["neg".into(), "pos".into()]);
        assert_eq!(class_of(&m, " pos ").expect("name"), 1);
        assert_eq!(class_of(&m, "0").expect("index"), 0);
        assert_eq!(
            class_of(&m, "2").expect_err("out of range").to_string(),
            "label `2` is not a class of this batch (neg, pos)"
        );
        let dir = std::env::temp_dir().join(format!("concord-answers-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let csv = dir.join("a.csv");
        std::fs::write(&csv, "id,label\nx,pos\n7,neg\n").expect("write");
        let a = read_answers(&csv).expect("csv");
        assert_eq!((a["x"].as_str(), a["7"].as_str()), ("pos", "neg"));
        let jl = dir.join("a.jsonl");
        std::fs::write(
            &jl,
            "{\"id\":\"x\",\"label\":\"pos\"}\n\n{\"id\":7,\"label\":1}\n",
        )
        .expect("write");
        let a = read_answers(&jl).expect("jsonl");
        assert_eq!((a["x"].as_str(), a["7"].as_str()), ("pos", "1"));
        std::fs::write(&jl, "{\"label\":\"pos\"}\n").expect("write");
        assert!(read_answers(&jl)
            .expect_err("no id")
            .to_string()
            .ends_with("a.jsonl:1: missing `id`"));
        let _ = std::fs::remove_dir_all(dir);
    }
}
