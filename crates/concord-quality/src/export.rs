//! The labeled dataset out: one row per item with its final label, votes, agreement, every annotator's label,
//! the Dawid–Skene estimate and provenance; rendered as JSONL, CSV, crowd-kit CSV or Label Studio JSON.

use alloy_primitives::Address;
use concord_protocol::ItemStatus;
use serde::Serialize;
use std::collections::BTreeMap;

use crate::{BatchQuality, RenderError};

/// One exported row (JSONL).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExportRow {
    pub id: String,
    pub index: u64,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub uri: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    pub label: Option<String>,
    pub status: ItemStatus,
    pub votes: BTreeMap<String, u32>,
    pub agreement: f64,
    pub num_labels: u32,
    pub annotators: Vec<Address>,
    /// Label of each annotator, in the order of `annotators`.
    pub annotator_labels: Vec<String>,
    pub ds_label: Option<String>,
    pub ds_posterior: Option<f64>,
    pub provenance: Provenance,
}

/// Where a label came from.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Provenance {
    pub chain_id: u64,
    pub market: Address,
    pub batch_id: u64,
    pub settled_block: Option<u64>,
}

/// Joins a batch's outcomes with its manifest and Dawid–Skene fit into export rows (`provenance` names the
/// chain, market and batch; each row adds the block its task settled in).
pub fn rows(q: &BatchQuality, provenance: &Provenance) -> Vec<ExportRow> {
    let m = &q.manifest;
    q.outcomes
        .iter()
        .enumerate()
        .map(|(i, o)| {
            let item = &m.items[i];
            let ds = q.ds_of(i);
            let name = |l: u8| m.classes.get(usize::from(l)).cloned();
            ExportRow {
                id: item.id.clone(),
                index: o.index,
                uri: item.uri.clone(),
                text: item.text.clone(),
                label: o.label.and_then(name),
                status: o.status,
                votes: m
                    .classes
                    .iter()
                    .cloned()
                    .zip(o.votes.iter().copied())
                    .collect(),
                agreement: o.agreement,
                num_labels: o.num_labels,
                annotators: o.annotators.clone(),
                annotator_labels: o.annotator_labels.iter().filter_map(|l| name(*l)).collect(),
                ds_label: ds.and_then(|(l, _)| name(l)),
                ds_posterior: ds.map(|(_, p)| p),
                provenance: Provenance {
                    settled_block: o.settled_block,
                    ..provenance.clone()
                },
            }
        })
        .collect()
}

/// Export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// One JSON object per item (Hugging Face style).
    Jsonl,
    /// id,uri,text,label,status,agreement,num_labels,ds_label,ds_posterior.
    Csv,
    /// crowd-kit's `task,worker,label` (every revealed label).
    Crowdkit,
    /// Label Studio tasks with one annotation (the final label) each.
    Labelstudio,
}

impl ExportFormat {
    /// Every format with its command-line name and a one-line description (for `--format`).
    pub const ALL: [(Self, &'static str, &'static str); 4] = [
        (
            Self::Jsonl,
            "jsonl",
            "One JSON object per item (Hugging Face style)",
        ),
        (
            Self::Csv,
            "csv",
            "id,uri,text,label,status,agreement,num_labels,ds_label,ds_posterior",
        ),
        (
            Self::Crowdkit,
            "crowdkit",
            "crowd-kit's `task,worker,label` (every revealed label)",
        ),
        (
            Self::Labelstudio,
            "labelstudio",
            "Label Studio tasks with one annotation (the final label) each",
        ),
    ];
}

impl std::str::FromStr for ExportFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .iter()
            .find(|(_, name, _)| *name == s)
            .map(|(f, _, _)| *f)
            .ok_or_else(|| format!("unknown export format `{s}`"))
    }
}

fn csv_line(fields: &[String]) -> String {
    let mut w = csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(Vec::new());
    let _ = w.write_record(fields);
    String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default()
}

/// Renders export rows in `format`.
pub fn render(rows: &[ExportRow], format: ExportFormat) -> Result<String, RenderError> {
    let mut out = String::new();
    match format {
        ExportFormat::Jsonl => {
            for r in rows {
                let v = serde_json::to_value(r).map_err(|e| RenderError(e.to_string()))?;
                out.push_str(&v.to_string());
                out.push('\n');
            }
        }
        ExportFormat::Csv => {
            out += &csv_line(
                &[
                    "id",
                    "uri",
                    "text",
                    "label",
                    "status",
                    "agreement",
                    "num_labels",
                    "ds_label",
                    "ds_posterior",
                ]
                .map(String::from),
            );
            for r in rows {
                out += &csv_line(&[
                    r.id.clone(),
                    r.uri.clone(),
                    r.text.clone().unwrap_or_default(),
                    r.label.clone().unwrap_or_default(),
                    r.status.to_string(),
                    format!("{:.4}", r.agreement),
                    r.num_labels.to_string(),
                    r.ds_label.clone().unwrap_or_default(),
                    r.ds_posterior
                        .map(|p| format!("{p:.6}"))
                        .unwrap_or_default(),
                ]);
            }
        }
        ExportFormat::Crowdkit => {
            out += "task,worker,label\n";
            for r in rows {
                for (a, l) in r.annotators.iter().zip(&r.annotator_labels) {
                    out += &csv_line(&[r.id.clone(), a.to_string(), l.clone()]);
                }
            }
        }
        ExportFormat::Labelstudio => {
            let tasks: Vec<serde_json::Value> = rows
                .iter()
                .map(|r| {
                    let mut data = serde_json::Map::new();
                    data.insert("id".into(), r.id.clone().into());
                    if let Some(t) = &r.text {
                        data.insert("text".into(), t.clone().into());
                    }
                    if !r.uri.is_empty() {
                        data.insert("uri".into(), r.uri.clone().into());
                    }
                    let result: Vec<serde_json::Value> = r
                        .label
                        .iter()
                        .map(|l| serde_json::json!({ "from_name": "label", "to_name": if r.text.is_some() { "text" } else { "image" }, "type": "choices", "value": { "choices": [l] } }))
                        .collect();
                    serde_json::json!({
                        "data": data,
                        "annotations": [{ "result": result, "ground_truth": r.status == ItemStatus::Gold }],
                        "meta": { "status": r.status, "agreement": r.agreement, "votes": r.votes, "provenance": r.provenance },
                    })
                })
                .collect();
            out = serde_json::to_string_pretty(&tasks).map_err(|e| RenderError(e.to_string()))?
                + "\n";
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_rows() -> Vec<ExportRow> {
        let q = crate::sample_batch();
        let prov = Provenance {
            chain_id: 31337,
            market: Address::repeat_byte(0xaa),
            batch_id: 3,
            settled_block: None,
        };
        rows(&q, &prov)
    }

    #[test]
    fn rows_carry_labels_votes_and_provenance() {
        let r = sample_rows();
        assert_eq!(r.len(), 4);
        assert_eq!(r[0].id, "it-0");
        assert_eq!(r[0].label.as_deref(), Some("a"));
        assert_eq!(r[0].status, ItemStatus::Accepted);
        assert_eq!(r[0].votes.get("a"), Some(&2));
        assert_eq!(r[0].votes.get("b"), Some(&1));
        assert_eq!(r[0].annotator_labels, vec!["a", "a", "b"]);
        assert_eq!(r[1].status, ItemStatus::Gold);
        assert_eq!(r[2].label, None);
        assert_eq!(r[3].label.as_deref(), Some("c"));
        assert_eq!(r[3].provenance.settled_block, Some(42));
        assert_eq!(r[3].provenance.batch_id, 3);
        assert!(r
            .iter()
            .all(|x| x.ds_label.is_some() && x.ds_posterior.is_some()));
    }

    #[test]
    fn every_format_renders_every_row() {
        let r = sample_rows();
        let jsonl = render(&r, ExportFormat::Jsonl).unwrap();
        let lines: Vec<serde_json::Value> = jsonl
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 4);
        assert_eq!(lines[2]["status"], "no-consensus");
        assert_eq!(lines[0]["provenance"]["chainId"], 31337);

        let csv = render(&r, ExportFormat::Csv).unwrap();
        let mut csv_lines = csv.lines();
        assert_eq!(
            csv_lines.next(),
            Some("id,uri,text,label,status,agreement,num_labels,ds_label,ds_posterior")
        );
        let first = csv_lines.next().unwrap();
        assert!(
            first.starts_with("it-0,,<b>item 0</b>,a,accepted,0.6667,3,"),
            "{first}"
        );
        assert_eq!(csv.lines().count(), 5);

        let ck = render(&r, ExportFormat::Crowdkit).unwrap();
        assert_eq!(ck.lines().next(), Some("task,worker,label"));
        assert_eq!(ck.lines().count(), 1 + 12, "one line per revealed label");

        let ls: serde_json::Value =
            serde_json::from_str(&render(&r, ExportFormat::Labelstudio).unwrap()).unwrap();
        assert_eq!(ls.as_array().map(Vec::len), Some(4));
        assert_eq!(ls[1]["annotations"][0]["ground_truth"], true);
        assert_eq!(
            ls[0]["annotations"][0]["result"][0]["value"]["choices"][0],
            "a"
        );
        assert_eq!(ls[2]["annotations"][0]["result"], serde_json::json!([]));
    }

    #[test]
    fn formats_parse_by_name() {
        for (f, name, _) in ExportFormat::ALL {
            assert_eq!(name.parse::<ExportFormat>(), Ok(f));
        }
        assert!("xml".parse::<ExportFormat>().is_err());
    }
}
