//! Reveals handed to the settler instead of sent as transactions. Once a batch's reveals are open (every position
//! committed), an annotator may give its bundle's labels and salt to the batch's settler — the requester's
//! `serve --publish DIR --accept-reveals` — which checks them against the commitment on-chain and keeps them under
//! `$CONCORD_HOME/reveals`; `settle` then carries them (`LabelMarketV2` reveals a committed bundle supplied with its
//! labels and salt before the reveal deadline), and the annotator pays no reveal transaction. Until the batch
//! settles the annotator can still reveal itself (`reveal` without `--via`): a settler that does not settle costs
//! it that transaction, never its stake.

use crate::market::{self, BatchLog, BundleInfo};
use crate::{ClientError, Concord, Result};
use alloy::primitives::{Address, B256, U256};
use concord_protocol::commit::BundleKey;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// One bundle's reveal, as an annotator hands it over.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Handoff {
    pub chain_id: u64,
    pub market: Address,
    pub batch: u64,
    pub bundle: u64,
    /// The bundle's label words (`concord_protocol::bundle::pack_bundle`).
    pub labels: Vec<U256>,
    pub salt: B256,
}

impl Handoff {
    /// Whether these labels and salt open the commitment of `info` (this bundle) on `c`'s market: the check the
    /// market makes of a carried reveal.
    fn opens(&self, c: &Concord, info: &BundleInfo) -> bool {
        let key = BundleKey {
            chain_id: c.chain_id(),
            market: c.market_address(),
            batch: self.batch,
            bundle: self.bundle,
            annotator: info.bundle.annotator,
        };
        info.commit_hash == Some(key.commit_hash(&self.labels, self.salt))
    }
}

/// Most label words a reveal can have (32 tasks per bundle, two per word).
const MAX_WORDS: usize = 16;

/// Seconds to wait for the settler's server.
const POST_TIMEOUT: Duration = Duration::from_secs(30);

/// Hands `h` to the settler at `base` (`POST {base}/reveals`); returns the server's one-line answer, or the reason
/// it refused (its own line, or the HTTP failure).
pub async fn post(base: &str, h: &Handoff) -> std::result::Result<String, String> {
    post_json(base, "reveals", h).await
}

/// `POST {base}/{path}` with `body` as JSON: the server's one-line answer, or why it refused (its own line, or the
/// HTTP failure). Reveals and signed commits (`crate::relay`) are handed over this way.
pub(crate) async fn post_json<T: Serialize + ?Sized>(
    base: &str,
    path: &str,
    body: &T,
) -> std::result::Result<String, String> {
    let url = format!("{}/{path}", base.trim_end_matches('/'));
    let http = alloy::transports::http::reqwest::Client::builder()
        .timeout(POST_TIMEOUT)
        .build()
        .map_err(|e| e.to_string())?;
    let resp = http
        .post(&url)
        .json(body)
        .send()
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    let status = resp.status();
    let text = resp.text().await.unwrap_or_default();
    let line = text.lines().next().unwrap_or("").trim().to_string();
    if status.is_success() {
        Ok(line)
    } else if line.is_empty() {
        Err(format!("{url}: HTTP {status}"))
    } else {
        Err(format!("{url}: {line}"))
    }
}

/// Writes `body` to `dir/{name}.json` atomically (a temporary name of its own per write, renamed into place, so
/// two hand-overs of one bundle at once cannot interleave).
pub(crate) fn write_atomic(dir: &Path, name: impl std::fmt::Display, body: &[u8]) -> Result<()> {
    let err = |e: std::io::Error| ClientError::Store(format!("{}: {e}", dir.display()));
    std::fs::create_dir_all(dir).map_err(err)?;
    static WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = dir.join(format!(".{name}.{}.{n}.json.tmp", std::process::id()));
    std::fs::write(&tmp, body).map_err(err)?;
    std::fs::rename(&tmp, dir.join(format!("{name}.json"))).map_err(err)
}

/// The folder holding the reveals handed over for one batch of this deployment.
fn batch_dir(home: &Path, c: &Concord, batch: u64) -> PathBuf {
    home.join("reveals")
        .join(format!("{}-{:#x}", c.chain_id(), c.market_address()))
        .join(batch.to_string())
}

/// Checks a reveal handed over against the chain — this deployment, reveals open and not past the deadline, the
/// bundle committed, the labels opening its commitment and all classes of the batch — and keeps it under `home`.
/// Returns a line for the annotator. A reveal that would make a settlement revert is refused here, so one
/// annotator cannot block the settlement of others.
pub async fn accept(c: &Concord, home: &Path, h: &Handoff) -> Result<String> {
    let refuse = |why: String| ClientError::Input(format!("reveal of bundle {}: {why}", h.bundle));
    if h.chain_id != c.chain_id() || h.market != c.market_address() {
        return Err(refuse(format!(
            "this server takes reveals for market {} on chain {}, not {} on chain {}",
            c.market_address(),
            c.chain_id(),
            h.market,
            h.chain_id
        )));
    }
    if h.labels.len() > MAX_WORDS {
        return Err(refuse(format!(
            "{} label words (at most {MAX_WORDS})",
            h.labels.len()
        )));
    }
    let b = market::batch(c, h.batch).await?;
    let now = c.chain_time().await?;
    if now > b.config.revealDeadline.to::<u64>() {
        return Err(refuse(format!(
            "batch {} is past its reveal deadline; settlement cannot carry reveals any more",
            h.batch
        )));
    }
    if !market::reveal_open(&b, now) {
        return Err(refuse(format!(
            "reveals of batch {} are not open yet (not every position is committed); hand it over later",
            h.batch
        )));
    }
    // A settlement carries reveals only before the reveal deadline, when the market settles only batches whose
    // every position is committed: otherwise no settlement could ever carry this one.
    if b.state.committed < market::positions(&b.config) {
        return Err(refuse(format!(
            "not every position of batch {} was committed, so no settlement can carry reveals: reveal it on-chain",
            h.batch
        )));
    }
    let log = market::batch_log(c, h.batch, &b.config).await?;
    let Some(info) = log.bundles.get(&h.bundle) else {
        return Err(refuse(format!(
            "batch {} has no bundle {}",
            h.batch, h.bundle
        )));
    };
    if info.words.is_some() {
        return Ok(format!(
            "bundle {} of batch {} is already revealed on-chain",
            h.bundle, h.batch
        ));
    }
    if info.commit_hash.is_none() {
        return Err(refuse("it was never committed".into()));
    }
    if !h.opens(c, info) {
        return Err(refuse(
            "these labels and salt do not open its commitment on-chain".into(),
        ));
    }
    concord_protocol::bundle::check_words(
        &h.labels,
        usize::from(info.bundle.size),
        b.config.numClasses,
    )
    .map_err(refuse)?;
    save(home, c, h)?;
    Ok(format!(
        "reveal of bundle {} of batch {} accepted: the settlement will carry it",
        h.bundle, h.batch
    ))
}

/// Writes `h` atomically (a reveal opens one commitment, so a bundle's file only ever holds the same content).
fn save(home: &Path, c: &Concord, h: &Handoff) -> Result<()> {
    let body = serde_json::to_vec(h).map_err(|e| ClientError::Store(e.to_string()))?;
    write_atomic(&batch_dir(home, c, h.batch), h.bundle, &body)
}

/// What `write_atomic` kept in `dir` (nothing when the folder does not exist), with each file's path; a file that
/// is not `what` is skipped with a warning.
pub(crate) fn read_kept<T: serde::de::DeserializeOwned>(
    dir: &Path,
    what: &str,
) -> Vec<(PathBuf, T)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut kept = Vec::new();
    for path in entries.flatten().map(|e| e.path()) {
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        match std::fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice::<T>(&b).ok())
        {
            Some(t) => kept.push((path, t)),
            None => tracing::warn!("{}: not {what}; skipped", path.display()),
        }
    }
    kept
}

/// The reveals handed over for `batch` that open their bundle's commitment in `log` and are not on-chain yet,
/// put into `log` so that `settle` carries them (its proofs then give labels and salt); returns how many. Only
/// before the reveal deadline: after it the market refuses carried reveals.
pub fn carry_into(home: &Path, c: &Concord, batch: u64, log: &mut BatchLog) -> usize {
    let mut carried = 0;
    for (_, h) in read_kept::<Handoff>(&batch_dir(home, c, batch), "a handed-over reveal") {
        let Some(info) = log.bundles.get_mut(&h.bundle) else {
            continue;
        };
        if info.words.is_none() && h.batch == batch && h.opens(c, info) {
            info.words = Some(h.labels);
            info.salt = Some(h.salt);
            carried += 1;
        }
    }
    carried
}
