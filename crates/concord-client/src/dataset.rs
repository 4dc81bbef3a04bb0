//! Datasets in: JSONL, CSV and Label Studio task JSON, validated before any transaction; the item manifest
//! (index, id, content hash, URI) and its Merkle root; gold answers with their salts.

use alloy::primitives::{keccak256, B256};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::merkle::{gold_leaf, manifest_leaf, MerkleTree};
use crate::ClientError;

/// Longest accepted line / item, in bytes.
pub const MAX_LINE_BYTES: usize = 1 << 20;

/// One item to label.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Item {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<Value>,
    /// Gold answer (class name); never published in the manifest.
    #[serde(default, skip_serializing)]
    pub gold: Option<String>,
}

impl Item {
    /// keccak256 of the canonical JSON (sorted keys, no whitespace) of id, text, uri and meta.
    pub fn content_hash(&self) -> B256 {
        let mut m = Map::new();
        m.insert("id".into(), Value::String(self.id.clone()));
        if let Some(t) = &self.text {
            m.insert("text".into(), Value::String(t.clone()));
        }
        if let Some(u) = &self.uri {
            m.insert("uri".into(), Value::String(u.clone()));
        }
        if let Some(meta) = &self.meta {
            m.insert("meta".into(), meta.clone());
        }
        keccak256(Value::Object(m).to_string())
    }
}

fn err(path: &Path, line: usize, reason: impl Into<String>) -> ClientError {
    ClientError::Dataset {
        path: path.to_path_buf(),
        line,
        reason: reason.into(),
    }
}

/// Loads items from `path`, choosing the format by extension (`.jsonl`/`.ndjson`, `.csv`, `.json` = Label Studio).
pub fn load_items(path: &Path) -> Result<Vec<Item>, ClientError> {
    let bytes = std::fs::read(path).map_err(|e| err(path, 0, format!("cannot read: {e}")))?;
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    let items = match ext.as_str() {
        "jsonl" | "ndjson" => parse_jsonl(path, &bytes)?,
        "csv" => parse_csv(path, &bytes)?,
        "json" => parse_label_studio(path, &bytes)?,
        _ => {
            return Err(err(
                path,
                0,
                "unknown format: use .jsonl, .csv or Label Studio .json",
            ))
        }
    };
    check_items(path, &items)?;
    Ok(items.into_iter().map(|(_, i)| i).collect())
}

fn utf8_line<'a>(path: &Path, line_no: usize, raw: &'a [u8]) -> Result<&'a str, ClientError> {
    if raw.len() > MAX_LINE_BYTES {
        return Err(err(
            path,
            line_no,
            format!("line is {} bytes, the limit is {MAX_LINE_BYTES}", raw.len()),
        ));
    }
    std::str::from_utf8(raw).map_err(|e| {
        err(
            path,
            line_no,
            format!("invalid UTF-8 at byte {}", e.valid_up_to()),
        )
    })
}

fn item_from_object(
    path: &Path,
    line: usize,
    obj: &Map<String, Value>,
) -> Result<Item, ClientError> {
    let id = match obj.get("id") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        Some(_) => {
            return Err(err(
                path,
                line,
                "field `id` must be a non-empty string or a number",
            ))
        }
        None => return Err(err(path, line, "missing field `id`")),
    };
    let text = match obj.get("text") {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Null) | None => None,
        Some(_) => return Err(err(path, line, "field `text` must be a string")),
    };
    let uri = match obj
        .get("uri")
        .or_else(|| obj.get("image"))
        .or_else(|| obj.get("url"))
    {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Null) | None => None,
        Some(_) => return Err(err(path, line, "field `uri` must be a string")),
    };
    if text.is_none() && uri.is_none() {
        return Err(err(path, line, "item has neither `text` nor `uri`"));
    }
    let gold = match obj.get("gold") {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        Some(Value::Null) | None => None,
        Some(Value::String(_)) => None,
        Some(_) => return Err(err(path, line, "field `gold` must be a class name")),
    };
    Ok(Item {
        id,
        text,
        uri,
        meta: obj.get("meta").cloned(),
        gold,
    })
}

fn parse_jsonl(path: &Path, bytes: &[u8]) -> Result<Vec<(usize, Item)>, ClientError> {
    let mut items = Vec::new();
    for (i, raw) in bytes.split(|&b| b == b'\n').enumerate() {
        let line_no = i + 1;
        let line = utf8_line(path, line_no, raw)?.trim();
        if line.is_empty() {
            continue;
        }
        let value: Value = serde_json::from_str(line)
            .map_err(|e| err(path, line_no, format!("not valid JSON: {e}")))?;
        let Value::Object(obj) = value else {
            return Err(err(path, line_no, "each line must be a JSON object"));
        };
        items.push((line_no, item_from_object(path, line_no, &obj)?));
    }
    Ok(items)
}

fn parse_csv(path: &Path, bytes: &[u8]) -> Result<Vec<(usize, Item)>, ClientError> {
    if let Some(pos) = bytes
        .split(|&b| b == b'\n')
        .position(|l| l.len() > MAX_LINE_BYTES)
    {
        return Err(err(
            path,
            pos + 1,
            format!("line is longer than {MAX_LINE_BYTES} bytes"),
        ));
    }
    let mut reader = csv::ReaderBuilder::new().flexible(false).from_reader(bytes);
    let headers = reader
        .headers()
        .map_err(|e| err(path, 1, format!("bad CSV header: {e}")))?
        .clone();
    let mut items = Vec::new();
    for record in reader.byte_records() {
        let record = record.map_err(|e| {
            let line = e.position().map(|p| p.line() as usize).unwrap_or(0);
            err(path, line, format!("bad CSV row: {e}"))
        })?;
        let line_no = record.position().map(|p| p.line() as usize).unwrap_or(0);
        let mut obj = Map::new();
        for (h, v) in headers.iter().zip(record.iter()) {
            let v = std::str::from_utf8(v).map_err(|e| {
                err(
                    path,
                    line_no,
                    format!("invalid UTF-8 at byte {}", e.valid_up_to()),
                )
            })?;
            if !v.is_empty() {
                obj.insert(h.to_string(), Value::String(v.to_string()));
            }
        }
        items.push((line_no, item_from_object(path, line_no, &obj)?));
    }
    Ok(items)
}

/// Label Studio task export: `[{"id": 1, "data": {"text": "..."} | {"image": "..."}, ...}]`.
fn parse_label_studio(path: &Path, bytes: &[u8]) -> Result<Vec<(usize, Item)>, ClientError> {
    let text = utf8_line(path, 1, bytes).or_else(|_| {
        std::str::from_utf8(bytes).map_err(|e| {
            err(
                path,
                0,
                format!("invalid UTF-8 at byte {}", e.valid_up_to()),
            )
        })
    })?;
    let value: Value = serde_json::from_str(text)
        .map_err(|e| err(path, e.line(), format!("not valid JSON: {e}")))?;
    let Value::Array(tasks) = value else {
        return Err(err(path, 1, "a Label Studio file is a JSON array of tasks"));
    };
    let mut items = Vec::new();
    for (i, task) in tasks.iter().enumerate() {
        let n = i + 1;
        let Some(obj) = task.as_object() else {
            return Err(err(path, n, format!("task #{n} is not an object")));
        };
        let mut flat = obj
            .get("data")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        if let Some(id) = obj.get("id") {
            flat.entry("id").or_insert(id.clone());
        }
        if let Some(meta) = obj.get("meta") {
            flat.entry("meta").or_insert(meta.clone());
        }
        items.push((
            n,
            item_from_object(path, n, &flat).map_err(|e| match e {
                ClientError::Dataset { path, reason, .. } => ClientError::Dataset {
                    path,
                    line: n,
                    reason: format!("task #{n}: {reason}"),
                },
                other => other,
            })?,
        ));
    }
    Ok(items)
}

fn check_items(path: &Path, items: &[(usize, Item)]) -> Result<(), ClientError> {
    if items.is_empty() {
        return Err(err(path, 0, "the dataset has no items"));
    }
    let mut seen: HashMap<&str, usize> = HashMap::new();
    let text_kind = items[0].1.text.is_some();
    for (line, item) in items {
        if let Some(first) = seen.insert(item.id.as_str(), *line) {
            return Err(err(
                path,
                *line,
                format!("duplicate item id `{}` (first on line {first})", item.id),
            ));
        }
        if item.text.is_some() != text_kind {
            return Err(err(
                path,
                *line,
                "mixed schemas: some items have `text`, others only `uri`; split them into separate batches",
            ));
        }
    }
    Ok(())
}

/// Parses a class list `a,b,c` (2..=16 distinct names).
pub fn parse_classes(spec: &str) -> Result<Vec<String>, ClientError> {
    let classes: Vec<String> = spec
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    if classes.len() < 2 || classes.len() > crate::labels::MAX_CLASSES {
        return Err(ClientError::Input(format!(
            "need 2 to 16 classes, got {} in `{spec}`",
            classes.len()
        )));
    }
    let mut sorted = classes.clone();
    sorted.sort();
    sorted.dedup();
    if sorted.len() != classes.len() {
        return Err(ClientError::Input(format!(
            "class names must be distinct: `{spec}`"
        )));
    }
    Ok(classes)
}

/// An item as published in the manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManifestItem {
    pub index: u64,
    pub id: String,
    pub content_hash: B256,
    pub uri: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<Value>,
}

/// The public manifest annotators fetch: classes, items and the Merkle root that goes on-chain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    pub version: u32,
    pub classes: Vec<String>,
    pub root: B256,
    pub items: Vec<ManifestItem>,
}

impl Manifest {
    /// Builds the manifest of `items` in order.
    pub fn build(items: &[Item], classes: &[String]) -> Self {
        let items: Vec<ManifestItem> = items
            .iter()
            .enumerate()
            .map(|(i, it)| ManifestItem {
                index: i as u64,
                id: it.id.clone(),
                content_hash: it.content_hash(),
                uri: it.uri.clone().unwrap_or_default(),
                text: it.text.clone(),
                meta: it.meta.clone(),
            })
            .collect();
        let root = Self::tree_of(&items).root();
        Self {
            version: 1,
            classes: classes.to_vec(),
            root,
            items,
        }
    }

    fn tree_of(items: &[ManifestItem]) -> MerkleTree {
        MerkleTree::new(
            items
                .iter()
                .map(|i| manifest_leaf(i.index, i.content_hash, &i.uri))
                .collect(),
        )
    }

    /// Recomputes every content hash and the root; fails if anything was altered.
    pub fn verify(&self, expected_root: B256) -> Result<(), ClientError> {
        for (pos, item) in self.items.iter().enumerate() {
            if item.index != pos as u64 {
                return Err(ClientError::Manifest(format!(
                    "item {} is out of order (position {pos})",
                    item.index
                )));
            }
            let recomputed = Item {
                id: item.id.clone(),
                text: item.text.clone(),
                uri: Some(item.uri.clone()).filter(|u| !u.is_empty()),
                meta: item.meta.clone(),
                gold: None,
            }
            .content_hash();
            if recomputed != item.content_hash {
                return Err(ClientError::Manifest(format!(
                    "item {} (`{}`) does not match its content hash",
                    item.index, item.id
                )));
            }
        }
        let root = Self::tree_of(&self.items).root();
        if root != expected_root {
            return Err(ClientError::Manifest(format!(
                "manifest root {root} does not match the batch's on-chain root {expected_root}: the items you were served are not the ones the requester committed"
            )));
        }
        Ok(())
    }

    /// Merkle proof of item `index` (for `LabelMarket.verifyItem`).
    pub fn proof(&self, index: usize) -> Option<Vec<B256>> {
        Self::tree_of(&self.items).proof(index)
    }

    /// Index of a class name.
    pub fn class_index(&self, name: &str) -> Option<u8> {
        self.classes.iter().position(|c| c == name).map(|i| i as u8)
    }

    /// Loads a manifest from a path or a `file://` URI.
    pub fn load(uri: &str) -> Result<Self, ClientError> {
        let path = PathBuf::from(uri.strip_prefix("file://").unwrap_or(uri));
        let text = std::fs::read_to_string(&path)
            .map_err(|e| ClientError::Manifest(format!("cannot read manifest `{uri}`: {e}")))?;
        serde_json::from_str(&text)
            .map_err(|e| ClientError::Manifest(format!("manifest `{uri}` is malformed: {e}")))
    }
}

/// One gold answer with the salt that hides it until revealed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GoldSecret {
    pub item: u64,
    pub label: u8,
    pub salt: B256,
}

/// The requester's private gold file: answers, salts and the root committed on-chain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GoldFile {
    pub root: B256,
    pub answers: Vec<GoldSecret>,
}

impl GoldFile {
    /// Collects gold answers from the items, with fresh random salts. `None` when no item has gold.
    pub fn from_items(items: &[Item], classes: &[String]) -> Result<Option<Self>, ClientError> {
        let mut answers = Vec::new();
        for (i, item) in items.iter().enumerate() {
            if let Some(g) = &item.gold {
                let label = classes.iter().position(|c| c == g).ok_or_else(|| {
                    ClientError::Input(format!(
                        "gold answer `{g}` of item `{}` is not one of the classes {classes:?}",
                        item.id
                    ))
                })?;
                answers.push(GoldSecret {
                    item: i as u64,
                    label: label as u8,
                    salt: B256::from(rand::random::<[u8; 32]>()),
                });
            }
        }
        if answers.is_empty() {
            return Ok(None);
        }
        let root = Self::tree(&answers).root();
        Ok(Some(Self { root, answers }))
    }

    fn tree(answers: &[GoldSecret]) -> MerkleTree {
        MerkleTree::new(
            answers
                .iter()
                .map(|a| gold_leaf(a.item, a.label, a.salt))
                .collect(),
        )
    }

    /// Proof of the answer at position `i`.
    pub fn proof(&self, i: usize) -> Option<Vec<B256>> {
        Self::tree(&self.answers).proof(i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn write(name: &str, content: &[u8]) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join(name);
        std::fs::File::create(&p)
            .and_then(|mut f| f.write_all(content))
            .expect("write");
        (dir, p)
    }

    fn reason(r: Result<Vec<Item>, ClientError>) -> String {
        r.expect_err("must fail").to_string()
    }

    #[test]
    fn loads_all_three_formats_to_the_same_items() {
        let (_a, jl) = write(
            "d.jsonl",
            b"{\"id\":\"a\",\"text\":\"hi\"}\n{\"id\":\"b\",\"text\":\"yo\",\"gold\":\"pos\"}\n",
        );
        let (_b, csv) = write("d.csv", b"id,text,gold\na,hi,\nb,yo,pos\n");
        let (_c, ls) = write(
            "d.json",
            br#"[{"id":"a","data":{"text":"hi"}},{"id":"b","data":{"text":"yo","gold":"pos"}}]"#,
        );
        let x = load_items(&jl).expect("jsonl");
        assert_eq!(x, load_items(&csv).expect("csv"));
        assert_eq!(x, load_items(&ls).expect("label studio"));
        assert_eq!(x[1].gold.as_deref(), Some("pos"));
    }

    #[test]
    fn bad_datasets_fail_with_line_and_reason() {
        assert!(reason(load_items(&write("e.jsonl", b"\n\n").1)).contains("no items"));
        let dup = reason(load_items(
            &write(
                "d.jsonl",
                b"{\"id\":\"a\",\"text\":\"x\"}\n{\"id\":\"a\",\"text\":\"y\"}\n",
            )
            .1,
        ));
        assert!(
            dup.contains("d.jsonl:2:") && dup.contains("duplicate item id `a` (first on line 1)"),
            "{dup}"
        );
        let missing = reason(load_items(&write("m.jsonl", b"{\"text\":\"x\"}\n").1));
        assert!(
            missing.contains("m.jsonl:1:") && missing.contains("missing field `id`"),
            "{missing}"
        );
        let mixed = reason(load_items(
            &write(
                "x.jsonl",
                b"{\"id\":\"a\",\"text\":\"x\"}\n{\"id\":\"b\",\"uri\":\"http://i\"}\n",
            )
            .1,
        ));
        assert!(mixed.contains("mixed schemas"), "{mixed}");
        let utf = reason(load_items(
            &write(
                "u.jsonl",
                b"{\"id\":\"a\",\"text\":\"x\"}\n{\"id\":\"b\",\"text\":\"\xff\"}\n",
            )
            .1,
        ));
        assert!(utf.contains("u.jsonl:2:") && utf.contains("UTF-8"), "{utf}");
        let mut huge = b"{\"id\":\"a\",\"text\":\"".to_vec();
        huge.extend(std::iter::repeat_n(b'x', MAX_LINE_BYTES + 1));
        huge.extend(b"\"}\n");
        assert!(reason(load_items(&write("h.jsonl", &huge).1)).contains("limit"));
        assert!(
            reason(load_items(&write("n.jsonl", b"{\"id\":\"a\"\n").1)).contains("not valid JSON")
        );
    }

    #[test]
    fn unknown_gold_class_is_rejected() {
        let items = vec![Item {
            id: "a".into(),
            text: Some("t".into()),
            uri: None,
            meta: None,
            gold: Some("maybe".into()),
        }];
        let e =
            GoldFile::from_items(&items, &["yes".into(), "no".into()]).expect_err("unknown class");
        assert!(e.to_string().contains("`maybe`"));
    }

    #[test]
    fn manifest_verifies_and_detects_tampering() {
        let items: Vec<Item> = (0..10)
            .map(|i| Item {
                id: format!("i{i}"),
                text: Some(format!("text {i}")),
                uri: None,
                meta: None,
                gold: None,
            })
            .collect();
        let m = Manifest::build(&items, &["a".into(), "b".into()]);
        m.verify(m.root).expect("untouched manifest verifies");
        let mut bad = m.clone();
        bad.items[3].text = Some("changed".into());
        assert!(bad.verify(m.root).is_err());
        assert!(m.verify(B256::ZERO).is_err());
    }
}
