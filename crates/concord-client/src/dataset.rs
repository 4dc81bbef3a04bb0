//! Datasets in: JSONL, CSV and Label Studio task JSON, validated with file:line reasons before any transaction;
//! the published manifest read back from its URI; response tables (`task,worker,label`) for `aggregate`.

use serde_json::{Map, Value};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

pub use concord_protocol::manifest::{
    parse_classes, GoldFile, GoldSecret, Item, Manifest, ManifestItem,
};

use crate::ClientError;

/// Longest accepted line / item, in bytes.
pub const MAX_LINE_BYTES: usize = 1 << 20;

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

/// Loads a manifest from a path or a `file://` URI.
pub fn load_manifest(uri: &str) -> Result<Manifest, ClientError> {
    let path = PathBuf::from(uri.strip_prefix("file://").unwrap_or(uri));
    let text = std::fs::read_to_string(&path)
        .map_err(|e| ClientError::Manifest(format!("cannot read manifest `{uri}`: {e}")))?;
    serde_json::from_str(&text)
        .map_err(|e| ClientError::Manifest(format!("manifest `{uri}` is malformed: {e}")))
}

/// Reads a crowd-kit style `task,worker,label` CSV (header required, column order free).
pub fn read_responses_csv(path: &Path) -> Result<concord_quality::Responses, ClientError> {
    let err = |line: usize, reason: String| ClientError::Dataset {
        path: path.to_path_buf(),
        line,
        reason,
    };
    let mut rd = csv::Reader::from_path(path).map_err(|e| err(0, format!("cannot read: {e}")))?;
    let headers = rd
        .headers()
        .map_err(|e| err(1, format!("bad header: {e}")))?
        .clone();
    let col = |name: &str| {
        headers
            .iter()
            .position(|h| h.trim() == name)
            .ok_or_else(|| {
                err(
                    1,
                    format!("missing column `{name}` (need task,worker,label)"),
                )
            })
    };
    let (t, w, l) = (col("task")?, col("worker")?, col("label")?);
    let mut triples = Vec::new();
    for (i, rec) in rd.records().enumerate() {
        let rec = rec.map_err(|e| err(i + 2, format!("bad row: {e}")))?;
        let get = |c: usize| {
            rec.get(c)
                .map(str::to_string)
                .ok_or_else(|| err(i + 2, "missing field".into()))
        };
        triples.push((get(t)?, get(w)?, get(l)?));
    }
    if triples.is_empty() {
        return Err(err(0, "no responses".into()));
    }
    Ok(concord_quality::Responses::from_triples(
        triples
            .iter()
            .map(|(a, b, c)| (a.as_str(), b.as_str(), c.as_str())),
        None,
    ))
}

/// Reads a `task,truth` CSV into a map.
pub fn read_truth_csv(path: &Path) -> Result<HashMap<String, String>, ClientError> {
    let err = |line: usize, reason: String| ClientError::Dataset {
        path: path.to_path_buf(),
        line,
        reason,
    };
    let mut rd = csv::Reader::from_path(path).map_err(|e| err(0, format!("cannot read: {e}")))?;
    let mut out = HashMap::new();
    for (i, rec) in rd.records().enumerate() {
        let rec = rec.map_err(|e| err(i + 2, format!("bad row: {e}")))?;
        match (rec.get(0), rec.get(1)) {
            (Some(t), Some(l)) => out.insert(t.to_string(), l.to_string()),
            _ => return Err(err(i + 2, "expected task,truth".into())),
        };
    }
    Ok(out)
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
}
