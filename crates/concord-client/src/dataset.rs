//! Datasets in: JSONL, CSV and Label Studio task JSON, validated with file:line reasons before any transaction;
//! the published manifest read back from its URI; response tables (`task,worker,label`) for `aggregate`.

use serde_json::{Map, Value};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

pub use concord_protocol::manifest::{
    parse_classes, GoldFile, GoldSecret, Item, Manifest, ManifestItem, Media,
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
        media: None,
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

/// Default IPFS gateway for `ipfs://` manifest URIs (`--ipfs-gateway`, `CONCORD_IPFS_GATEWAY`).
pub const DEFAULT_IPFS_GATEWAY: &str = "https://ipfs.io";

/// Largest manifest fetched over the network.
const MAX_MANIFEST_BYTES: usize = 256 << 20;

pub use crate::media::http_location;

/// A batch's manifest from its URI — a local path or `file://` URI, `http(s)://`, or `ipfs://` through `gateway` —
/// verified against the on-chain `root` before it is returned. What came over the network is kept under
/// `cache_dir` (named by its root) once verified, and read from there next time; nothing unverified is kept.
pub async fn fetch_manifest(
    uri: &str,
    root: alloy::primitives::B256,
    gateway: &str,
    cache_dir: &Path,
) -> Result<Manifest, ClientError> {
    let Some(url) = http_location(uri, gateway) else {
        let m = load_manifest(uri)?;
        m.verify(root)?;
        return Ok(m);
    };
    let cached = cache_dir.join(format!("{root}.json"));
    if let Ok(m) = load_manifest(&cached.display().to_string()) {
        if m.verify(root).is_ok() {
            return Ok(m);
        }
    }
    let body = crate::media::fetch_limited(&url, MAX_MANIFEST_BYTES as u64)
        .await
        .map_err(|reason| {
            ClientError::Manifest(format!("cannot fetch the manifest {url}: {reason}"))
        })?;
    let m: Manifest = serde_json::from_slice(&body)
        .map_err(|e| ClientError::Manifest(format!("the manifest at {url} is malformed: {e}")))?;
    m.verify(root).map_err(|e| {
        let reason = match e {
            concord_protocol::ProtocolError::Manifest(m) => m,
            other => other.to_string(),
        };
        ClientError::Manifest(format!(
            "{url} is not the manifest the batch was created with ({reason}); refusing its content"
        ))
    })?;
    // Best effort: a cache that cannot be written only means fetching again next time.
    if std::fs::create_dir_all(cache_dir).is_ok() {
        let tmp = cached.with_extension("part");
        if std::fs::write(&tmp, &body).is_ok() {
            let _ = std::fs::rename(&tmp, &cached);
        }
    }
    Ok(m)
}

/// Loads a manifest from a path or a `file://` URI.
pub fn load_manifest(uri: &str) -> Result<Manifest, ClientError> {
    let path = PathBuf::from(uri.strip_prefix("file://").unwrap_or(uri));
    let text = std::fs::read_to_string(&path)
        .map_err(|e| ClientError::Manifest(format!("cannot read manifest `{uri}`: {e}")))?;
    serde_json::from_str(&text)
        .map_err(|e| ClientError::Manifest(format!("manifest `{uri}` is malformed: {e}")))
}

/// Columns to read responses from, named by the user (`--task-col`, `--worker-col`, `--label-col`); a column
/// left `None` is taken from the detected layout.
#[derive(Debug, Clone, Default)]
pub struct ResponseColumns {
    pub task: Option<String>,
    pub worker: Option<String>,
    pub label: Option<String>,
}

/// The layouts [`read_responses`] recognises.
pub const RESPONSE_LAYOUTS: &str =
    "crowd-kit `task,worker,label`; `question,worker,answer`; Amazon Mechanical Turk \
     batch results (`WorkerId`, `Input.*`, `Answer.*`); Toloka TSV (`INPUT:*`, `OUTPUT:*`, \
     `ASSIGNMENT:worker_id`); Label Studio JSON export";

/// Reads a crowd-kit style `task,worker,label` CSV (header required, column order free).
pub fn read_responses_csv(path: &Path) -> Result<concord_quality::Responses, ClientError> {
    read_responses(path, &ResponseColumns::default()).map(|(r, _)| r)
}

/// Reads crowd responses in any of the [`RESPONSE_LAYOUTS`], detected from the header (or from JSON content),
/// with `cols` overriding the detected columns. Returns the responses and the layout's name.
pub fn read_responses(
    path: &Path,
    cols: &ResponseColumns,
) -> Result<(concord_quality::Responses, &'static str), ClientError> {
    let err = |line: usize, reason: String| ClientError::Dataset {
        path: path.to_path_buf(),
        line,
        reason,
    };
    let bytes = std::fs::read(path).map_err(|e| err(0, format!("cannot read: {e}")))?;
    let text = String::from_utf8_lossy(&bytes);
    let first = text.trim_start().chars().next();
    let (triples, layout) = if matches!(first, Some('[') | Some('{')) {
        (
            label_studio_triples(&text).map_err(|r| err(0, r))?,
            "label-studio",
        )
    } else {
        delimited_triples(&text, cols, err)?
    };
    if triples.is_empty() {
        return Err(err(0, "no responses".into()));
    }
    Ok((
        concord_quality::Responses::from_triples(
            triples
                .iter()
                .map(|(a, b, c)| (a.as_str(), b.as_str(), c.as_str())),
            None,
        ),
        layout,
    ))
}

type Triples = Vec<(String, String, String)>;

/// A CSV, or a TSV when the header has tabs (Toloka), in one of the header layouts.
fn delimited_triples(
    text: &str,
    cols: &ResponseColumns,
    err: impl Fn(usize, String) -> ClientError,
) -> Result<(Triples, &'static str), ClientError> {
    let header_line = text.lines().next().unwrap_or_default();
    let delimiter = if header_line.contains('\t') {
        b'\t'
    } else {
        b','
    };
    let mut rd = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .from_reader(text.as_bytes());
    let headers: Vec<String> = rd
        .headers()
        .map_err(|e| err(1, format!("bad header: {e}")))?
        .iter()
        .map(|h| h.trim().to_string())
        .collect();
    let (layout, detected) = detect_layout(&headers);
    let pick = |given: &Option<String>, found: Option<String>, what: &str| {
        given.clone().or(found).ok_or_else(|| {
            err(
                1,
                format!(
                    "unrecognised column layout (header: {}); expected {RESPONSE_LAYOUTS}, or name the {what} \
                     column with --{what}-col",
                    headers.join(",")
                ),
            )
        })
    };
    let (t, w, l) = detected.unwrap_or_default();
    let names = [
        pick(&cols.task, t, "task")?,
        pick(&cols.worker, w, "worker")?,
        pick(&cols.label, l, "label")?,
    ];
    let mut idx = [0usize; 3];
    for (k, name) in names.iter().enumerate() {
        idx[k] = headers.iter().position(|h| h == name).ok_or_else(|| {
            err(
                1,
                format!("no column `{name}` (columns: {})", headers.join(",")),
            )
        })?;
    }
    let layout = if cols.task.is_some() || cols.worker.is_some() || cols.label.is_some() {
        "named columns"
    } else {
        layout
    };
    let mut triples = Vec::new();
    for (i, rec) in rd.records().enumerate() {
        let rec = rec.map_err(|e| err(i + 2, format!("bad row: {e}")))?;
        let get = |c: usize| {
            rec.get(c)
                .map(|v| v.trim().to_string())
                .ok_or_else(|| err(i + 2, "missing field".into()))
        };
        let (task, worker, label) = (get(idx[0])?, get(idx[1])?, get(idx[2])?);
        // Exports hold rows without an answer (rejected or skipped assignments): not responses.
        if label.is_empty() {
            continue;
        }
        triples.push((task, worker, label));
    }
    Ok((triples, layout))
}

/// The layout of a header and its (task, worker, label) columns, where it says them unambiguously.
#[allow(clippy::type_complexity)]
fn detect_layout(
    headers: &[String],
) -> (
    &'static str,
    Option<(Option<String>, Option<String>, Option<String>)>,
) {
    let has = |n: &str| headers.iter().any(|h| h == n);
    let only = |prefix: &str| {
        let v: Vec<&String> = headers.iter().filter(|h| h.starts_with(prefix)).collect();
        (v.len() == 1).then(|| v[0].clone())
    };
    let first_of = |names: &[&str]| names.iter().find(|n| has(n)).map(|n| n.to_string());
    if has("task") && has("worker") && has("label") {
        return (
            "crowd-kit",
            Some((
                Some("task".into()),
                Some("worker".into()),
                Some("label".into()),
            )),
        );
    }
    if has("question") && has("worker") && has("answer") {
        return (
            "question-worker-answer",
            Some((
                Some("question".into()),
                Some("worker".into()),
                Some("answer".into()),
            )),
        );
    }
    if has("WorkerId") && headers.iter().any(|h| h.starts_with("Answer.")) {
        let task = first_of(&["Input.id", "Input.item_id"])
            .or_else(|| only("Input."))
            .or_else(|| first_of(&["HITId"]));
        return (
            "mturk",
            Some((task, Some("WorkerId".into()), only("Answer."))),
        );
    }
    if has("ASSIGNMENT:worker_id") && headers.iter().any(|h| h.starts_with("OUTPUT:")) {
        let task = first_of(&["INPUT:id", "INPUT:item_id"])
            .or_else(|| only("INPUT:"))
            .or_else(|| first_of(&["ASSIGNMENT:task_id"]));
        return (
            "toloka",
            Some((task, Some("ASSIGNMENT:worker_id".into()), only("OUTPUT:"))),
        );
    }
    ("unknown", None)
}

/// A Label Studio JSON export: tasks with several annotations each; the task is its `data.id` (else its `id`),
/// the worker its annotation's `completed_by` (an id, or an object with `email` or `id`), the label the first
/// choice (or label, or rating) of the annotation's first result.
fn label_studio_triples(text: &str) -> Result<Triples, String> {
    let doc: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("not valid JSON: {e}"))?;
    let tasks = match &doc {
        serde_json::Value::Array(a) => a.clone(),
        v => vec![v.clone()],
    };
    let scalar = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    let mut out = Vec::new();
    for (i, t) in tasks.iter().enumerate() {
        let task = scalar(&t["data"]["id"])
            .or_else(|| scalar(&t["id"]))
            .ok_or_else(|| {
                format!("task {i} has neither data.id nor id (not a Label Studio export?)")
            })?;
        let Some(annotations) = t["annotations"].as_array() else {
            return Err(format!(
                "task {task} has no `annotations` list (not a Label Studio export?)"
            ));
        };
        for a in annotations {
            if a["was_cancelled"].as_bool() == Some(true) {
                continue;
            }
            let by = &a["completed_by"];
            let worker = scalar(by)
                .or_else(|| scalar(&by["email"]))
                .or_else(|| scalar(&by["id"]))
                .ok_or_else(|| format!("an annotation of task {task} has no completed_by"))?;
            let value = &a["result"][0]["value"];
            let label = ["choices", "labels"]
                .iter()
                .find_map(|k| value[k][0].as_str().map(str::to_string))
                .or_else(|| scalar(&value["rating"]));
            if let Some(label) = label {
                out.push((task.clone(), worker, label));
            }
        }
    }
    Ok(out)
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

    /// The same 4 responses (2 items x 2 workers: w1 says cat, dog; w2 says cat, cat) in a layout; each reads to
    /// the same (task, worker, label) set.
    fn same_responses(name: &str, content: &str, layout: &str) {
        let (_d, p) = write(name, content.as_bytes());
        let (r, got) = read_responses(&p, &ResponseColumns::default()).expect(layout);
        assert_eq!(got, layout, "{name}");
        let mut triples: Vec<(String, String, String)> = r
            .rows
            .iter()
            .map(|&(t, w, l)| {
                (
                    r.tasks[t].clone(),
                    r.workers[w].clone(),
                    r.classes[l].clone(),
                )
            })
            .collect();
        triples.sort();
        let want: Vec<(String, String, String)> = [
            ("i1", "w1", "cat"),
            ("i1", "w2", "cat"),
            ("i2", "w1", "dog"),
            ("i2", "w2", "cat"),
        ]
        .iter()
        .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
        .collect();
        assert_eq!(triples, want, "{name}");
    }

    #[test]
    fn manifest_uris_map_to_http_through_the_gateway() {
        let g = "https://gw.example/";
        assert_eq!(
            http_location("https://host/b/manifest-1.json", g).as_deref(),
            Some("https://host/b/manifest-1.json")
        );
        assert_eq!(
            http_location("ipfs://bafyCID/manifest-1.json", g).as_deref(),
            Some("https://gw.example/ipfs/bafyCID/manifest-1.json")
        );
        assert_eq!(http_location("file:///tmp/m.json", g), None);
        assert_eq!(http_location("/tmp/m.json", g), None);
    }

    #[test]
    fn reads_every_crowd_layout_from_its_header() {
        same_responses(
            "ck.csv",
            "task,worker,label\ni1,w1,cat\ni2,w1,dog\ni1,w2,cat\ni2,w2,cat\n",
            "crowd-kit",
        );
        same_responses(
            "qwa.csv",
            "worker,question,answer\nw1,i1,cat\nw1,i2,dog\nw2,i1,cat\nw2,i2,cat\n",
            "question-worker-answer",
        );
        // MTurk batch results: one row per assignment; a rejected one without an answer is skipped.
        same_responses(
            "Batch_123_batch_results.csv",
            "HITId,HITTypeId,AssignmentId,WorkerId,AssignmentStatus,Input.id,Input.image_url,Answer.category\n\
             H1,T,A1,w1,Approved,i1,http://x/1.jpg,cat\n\
             H2,T,A2,w1,Approved,i2,http://x/2.jpg,dog\n\
             H1,T,A3,w2,Approved,i1,http://x/1.jpg,cat\n\
             H2,T,A4,w2,Approved,i2,http://x/2.jpg,cat\n\
             H2,T,A5,w3,Rejected,i2,http://x/2.jpg,\n",
            "mturk",
        );
        same_responses(
            "toloka.tsv",
            "INPUT:id\tINPUT:image\tOUTPUT:result\tGOLDEN:result\tASSIGNMENT:worker_id\tASSIGNMENT:status\n\
             i1\thttp://x/1.jpg\tcat\t\tw1\tACCEPTED\n\
             i2\thttp://x/2.jpg\tdog\t\tw1\tACCEPTED\n\
             i1\thttp://x/1.jpg\tcat\t\tw2\tACCEPTED\n\
             i2\thttp://x/2.jpg\tcat\t\tw2\tACCEPTED\n",
            "toloka",
        );
        // Label Studio: several annotations per task, completed_by as an id or an object; a cancelled one skipped.
        same_responses(
            "project-1-at-2026.json",
            r#"[
              {"id": 101, "data": {"id": "i1", "image": "http://x/1.jpg"}, "annotations": [
                {"completed_by": {"id": 7, "email": "w1"}, "result": [{"type": "choices", "value": {"choices": ["cat"]}}]},
                {"completed_by": "w2", "result": [{"type": "choices", "value": {"choices": ["cat"]}}]}]},
              {"id": 102, "data": {"id": "i2"}, "annotations": [
                {"completed_by": {"email": "w1"}, "result": [{"value": {"choices": ["dog"]}}]},
                {"completed_by": "w2", "result": [{"value": {"choices": ["cat"]}}]},
                {"completed_by": "w3", "was_cancelled": true, "result": []}]}
            ]"#,
            "label-studio",
        );
    }

    #[test]
    fn named_columns_override_and_unknown_layouts_say_what_is_expected() {
        let (_d, p) = write(
            "mine.csv",
            b"item,annotator,choice,seconds\ni1,w1,cat,3\ni2,w1,dog,4\n",
        );
        let e = read_responses(&p, &ResponseColumns::default())
            .expect_err("unknown layout")
            .to_string();
        assert!(e.contains("unrecognised column layout"), "{e}");
        assert!(e.contains("--task-col"), "{e}");
        assert!(e.contains("Toloka"), "{e}");
        let cols = ResponseColumns {
            task: Some("item".into()),
            worker: Some("annotator".into()),
            label: Some("choice".into()),
        };
        let (r, layout) = read_responses(&p, &cols).expect("named");
        assert_eq!((layout, r.rows.len()), ("named columns", 2));
        let wrong = ResponseColumns {
            label: Some("verdict".into()),
            ..cols
        };
        let e = read_responses(&p, &wrong)
            .expect_err("no such column")
            .to_string();
        assert!(e.contains("no column `verdict`"), "{e}");
        // Two answer columns in an MTurk file: the label column must be named.
        let (_d2, p2) = write(
            "mturk2.csv",
            b"HITId,WorkerId,Input.id,Answer.category,Answer.comment\nH1,w1,i1,cat,nice\n",
        );
        let e = read_responses(&p2, &ResponseColumns::default())
            .expect_err("ambiguous")
            .to_string();
        assert!(e.contains("--label-col"), "{e}");
        let (r, layout) = read_responses(
            &p2,
            &ResponseColumns {
                label: Some("Answer.category".into()),
                ..ResponseColumns::default()
            },
        )
        .expect("named label");
        assert_eq!(
            (layout, r.classes.clone()),
            ("named columns", vec!["cat".to_string()])
        );
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
