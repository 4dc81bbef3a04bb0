//! `concord-requester aggregate`: majority vote and Dawid–Skene over labels you already have (offline).

use clap::Args;
use concord_cli::{emit, ConcordArgs};
use concord_client::dataset::{read_responses, read_truth_csv, ResponseColumns};
use concord_client::quality::{dawid_skene, majority_vote};
use eyre::WrapErr;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct AggregateArgs {
    /// Responses: crowd-kit `task,worker,label` CSV, `question,worker,answer`, Amazon Mechanical Turk batch
    /// results, Toloka TSV or a Label Studio JSON export (detected from the header or content).
    #[arg(long)]
    pub input: PathBuf,
    /// Column holding the item (overrides the detected layout).
    #[arg(long, value_name = "COLUMN")]
    pub task_col: Option<String>,
    /// Column holding the annotator (overrides the detected layout).
    #[arg(long, value_name = "COLUMN")]
    pub worker_col: Option<String>,
    /// Column holding the label (overrides the detected layout).
    #[arg(long, value_name = "COLUMN")]
    pub label_col: Option<String>,
    /// Optional `task,truth` CSV: prints accuracy of both methods against it.
    #[arg(long)]
    pub truth: Option<PathBuf>,
    /// Output: CSV `task,mv,ds,ds_confidence` (or JSON with posteriors when the name ends in .json).
    #[arg(long, short = 'o')]
    pub out: PathBuf,
    /// Maximum EM iterations.
    #[arg(long, default_value_t = 100)]
    pub iterations: usize,
    /// EM stops when the evidence lower bound per response improves by less than this.
    #[arg(long, default_value_t = 1e-5)]
    pub tol: f64,
}

impl AggregateArgs {
    /// Runs offline: no chain involved.
    pub fn run(self, args: &ConcordArgs) -> eyre::Result<()> {
        let (a, json) = (self, args.json());
        let started = std::time::Instant::now();
        let cols = ResponseColumns {
            task: a.task_col.clone(),
            worker: a.worker_col.clone(),
            label: a.label_col.clone(),
        };
        let (r, layout) = read_responses(&a.input, &cols)?;
        let (mv, _) = majority_vote(&r);
        let ds = dawid_skene(&r, a.iterations, a.tol);
        let elapsed = started.elapsed().as_secs_f64();
        let name = |c: usize| r.classes[c].as_str();
        if a.out.extension().and_then(|e| e.to_str()) == Some("json") {
            let tasks: Vec<_> = (0..r.tasks.len())
                .map(|t| {
                    let post: serde_json::Map<String, serde_json::Value> =
                        r.classes.iter().zip(&ds.probas[t]).map(|(c, p)| (c.clone(), serde_json::json!(p))).collect();
                    serde_json::json!({ "task": r.tasks[t], "mv": name(mv[t]), "ds": name(ds.labels[t]), "posterior": post })
                })
                .collect();
            let doc = serde_json::json!({ "classes": r.classes, "iterations": ds.iterations, "tasks": tasks });
            std::fs::write(&a.out, serde_json::to_string(&doc)? + "\n")
                .wrap_err_with(|| format!("writing {}", a.out.display()))?;
        } else {
            let mut w = String::from("task,mv,ds,ds_confidence\n");
            for (t, task) in r.tasks.iter().enumerate() {
                let (m, d) = (name(mv[t]), name(ds.labels[t]));
                w.push_str(&format!(
                    "{task},{m},{d},{:.6}\n",
                    ds.probas[t][ds.labels[t]]
                ));
            }
            std::fs::write(&a.out, w).wrap_err_with(|| format!("writing {}", a.out.display()))?;
        }
        let mut summary = serde_json::json!({
            "layout": layout, "responses": r.rows.len(), "tasks": r.tasks.len(), "workers": r.workers.len(), "classes": r.classes,
            "iterations": ds.iterations, "seconds": elapsed, "disagreements": (0..r.tasks.len()).filter(|&t| mv[t] != ds.labels[t]).count(),
            "out": a.out,
        });
        if let Some(p) = &a.truth {
            let truth = read_truth_csv(p)?;
            let acc = |labels: &[usize]| {
                let known: Vec<bool> = (0..r.tasks.len())
                    .filter_map(|t| truth.get(&r.tasks[t]).map(|x| x == name(labels[t])))
                    .collect();
                if known.is_empty() {
                    0.0
                } else {
                    known.iter().filter(|&&x| x).count() as f64 / known.len() as f64
                }
            };
            summary["mvAccuracy"] = serde_json::json!(acc(&mv));
            summary["dsAccuracy"] = serde_json::json!(acc(&ds.labels));
        }
        emit(json, &summary, |s| {
            println!(
                "{} responses, {} tasks, {} workers: majority vote and Dawid-Skene ({} EM iterations) in {:.2}s; they disagree on {} tasks",
                s["responses"], s["tasks"], s["workers"], s["iterations"], elapsed, s["disagreements"]
            );
            if let (Some(m), Some(d)) = (s["mvAccuracy"].as_f64(), s["dsAccuracy"].as_f64()) {
                println!(
                    "accuracy vs truth: majority vote {:.2}%, Dawid-Skene {:.2}%",
                    100.0 * m,
                    100.0 * d
                );
            }
            println!("wrote {}", a.out.display());
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::args::Cmd;
    use concord_cli::Tool;

    #[test]
    fn em_defaults_are_crowd_kits() {
        let Cmd::Aggregate(a) =
            Cmd::parse_line(&["aggregate", "--input", "r.csv", "-o", "out.json"]).cmd
        else {
            panic!("not aggregate")
        };
        assert_eq!(a.iterations, concord_client::quality::batch::DS_ITERATIONS);
        assert_eq!(a.tol, concord_client::quality::batch::DS_TOLERANCE);
        assert!(a.truth.is_none());
    }
}
