//! The annotator's local store (SQLite, WAL, `synchronous=FULL`): claimed tasks, labels and the salt of every
//! commit, written and fsynced *before* the commit transaction is sent, so a crash never loses a reveal.

use alloy::primitives::{Address, B256};
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use std::path::{Path, PathBuf};

use crate::ClientError;

pub use concord_protocol::commit::TaskKey;

/// Where an annotator's task is, locally.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LocalStatus {
    /// Claimed on-chain, no labels yet.
    Claimed,
    /// Labels chosen, not committed.
    Labeled,
    /// Salt and hash stored; the commit transaction may or may not have landed.
    Committing,
    /// Commit confirmed on-chain.
    Committed,
    /// Reveal confirmed on-chain.
    Revealed,
}

impl LocalStatus {
    /// Lowercase name, as stored and printed.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Claimed => "claimed",
            Self::Labeled => "labeled",
            Self::Committing => "committing",
            Self::Committed => "committed",
            Self::Revealed => "revealed",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "claimed" => Self::Claimed,
            "labeled" => Self::Labeled,
            "committing" => Self::Committing,
            "committed" => Self::Committed,
            "revealed" => Self::Revealed,
            _ => return None,
        })
    }
}

/// One stored task.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TaskRecord {
    pub batch: u64,
    pub task: u64,
    pub status: LocalStatus,
    pub labels: Option<Vec<u8>>,
    pub salt: Option<B256>,
    pub commit_hash: Option<B256>,
    pub expiry: u64,
}

/// The SQLite store. The connection sits behind a mutex so the store can be shared across tasks (the web
/// server); every method holds it only for its own statement.
pub struct Store {
    conn: std::sync::Mutex<Connection>,
    path: PathBuf,
}

fn db_err(path: &Path) -> impl Fn(rusqlite::Error) -> ClientError + '_ {
    move |e| ClientError::Store(format!("{}: {e}", path.display()))
}

impl Store {
    /// Opens (creating if needed) the store at `path`.
    pub fn open(path: &Path) -> Result<Self, ClientError> {
        if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| ClientError::Store(format!("cannot create {}: {e}", dir.display())))?;
        }
        let conn = Connection::open(path).map_err(db_err(path))?;
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(db_err(path))?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(db_err(path))?;
        // FULL: every transaction's WAL frames are fsynced before COMMIT returns.
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(db_err(path))?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS tasks (
                chain_id INTEGER NOT NULL, market TEXT NOT NULL, batch INTEGER NOT NULL, task INTEGER NOT NULL,
                annotator TEXT NOT NULL, status TEXT NOT NULL, labels TEXT, salt TEXT, commit_hash TEXT,
                expiry INTEGER NOT NULL DEFAULT 0, updated_at INTEGER NOT NULL,
                PRIMARY KEY (chain_id, market, batch, task, annotator));",
        )
        .map_err(db_err(path))?;
        Ok(Self {
            conn: std::sync::Mutex::new(conn),
            path: path.to_path_buf(),
        })
    }

    fn conn(&self) -> Result<std::sync::MutexGuard<'_, Connection>, ClientError> {
        self.conn.lock().map_err(|_| {
            ClientError::Store(format!(
                "{}: a previous operation panicked",
                self.path.display()
            ))
        })
    }

    /// Path of the database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn key_params(k: &TaskKey) -> (i64, String, i64, i64, String) {
        (
            k.chain_id as i64,
            k.market.to_string(),
            k.batch as i64,
            k.task as i64,
            k.annotator.to_string(),
        )
    }

    /// Records a claim (no-op if the task is already known).
    pub fn record_claim(&self, k: &TaskKey, expiry: u64) -> Result<(), ClientError> {
        let (c, m, b, t, a) = Self::key_params(k);
        self.conn()?
            .execute(
                "INSERT OR IGNORE INTO tasks (chain_id, market, batch, task, annotator, status, expiry, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, 'claimed', ?6, ?7)",
                params![c, m, b, t, a, expiry as i64, concord_protocol::time::now_unix() as i64],
            )
            .map_err(db_err(&self.path))?;
        Ok(())
    }

    /// Stores chosen labels; refused once salt and hash exist (a commit is never re-labeled).
    pub fn set_labels(&self, k: &TaskKey, labels: &[u8]) -> Result<(), ClientError> {
        let rec = self.get(k)?.ok_or_else(|| {
            ClientError::Input(format!(
                "task {} of batch {} is not claimed by this account; run `claim` first",
                k.task, k.batch
            ))
        })?;
        if !matches!(rec.status, LocalStatus::Claimed | LocalStatus::Labeled) {
            return Err(ClientError::Input(format!(
                "task {} of batch {} is already {}; its labels can no longer change",
                k.task,
                k.batch,
                rec.status.as_str()
            )));
        }
        let (c, m, b, t, a) = Self::key_params(k);
        let json = serde_json::to_string(labels).map_err(|e| ClientError::Store(e.to_string()))?;
        self.conn()?
            .execute(
                "UPDATE tasks SET labels = ?6, status = 'labeled', updated_at = ?7
                 WHERE chain_id = ?1 AND market = ?2 AND batch = ?3 AND task = ?4 AND annotator = ?5",
                params![c, m, b, t, a, json, concord_protocol::time::now_unix() as i64],
            )
            .map_err(db_err(&self.path))?;
        Ok(())
    }

    /// Durably stores labels, salt and their commit hash *before* the commit is sent. Keeps an existing salt
    /// (idempotent): read the record back for the salt and hash to send.
    pub fn prepare_commit(
        &self,
        k: &TaskKey,
        labels: &[u8],
        salt: B256,
    ) -> Result<(), ClientError> {
        let hash = k.commit_hash(concord_protocol::labels::pack(labels), salt);
        let (c, m, b, t, a) = Self::key_params(k);
        let json = serde_json::to_string(labels).map_err(|e| ClientError::Store(e.to_string()))?;
        self.conn()?
            .execute(
                "INSERT INTO tasks (chain_id, market, batch, task, annotator, status, labels, salt, commit_hash, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, 'committing', ?6, ?7, ?8, ?9)
                 ON CONFLICT DO UPDATE SET status = 'committing', labels = ?6, salt = ?7, commit_hash = ?8, updated_at = ?9
                 WHERE salt IS NULL",
                params![c, m, b, t, a, json, salt.to_string(), hash.to_string(), concord_protocol::time::now_unix() as i64],
            )
            .map_err(db_err(&self.path))?;
        Ok(())
    }

    /// Moves a task to `status`.
    pub fn set_status(&self, k: &TaskKey, status: LocalStatus) -> Result<(), ClientError> {
        let (c, m, b, t, a) = Self::key_params(k);
        self.conn()?
            .execute(
                "UPDATE tasks SET status = ?6, updated_at = ?7
                 WHERE chain_id = ?1 AND market = ?2 AND batch = ?3 AND task = ?4 AND annotator = ?5",
                params![c, m, b, t, a, status.as_str(), concord_protocol::time::now_unix() as i64],
            )
            .map_err(db_err(&self.path))?;
        Ok(())
    }

    /// Removes a task that was lost on-chain (expired claim, never committed).
    pub fn forget(&self, k: &TaskKey) -> Result<(), ClientError> {
        let (c, m, b, t, a) = Self::key_params(k);
        self.conn()?
            .execute(
                "DELETE FROM tasks WHERE chain_id = ?1 AND market = ?2 AND batch = ?3 AND task = ?4 AND annotator = ?5 AND salt IS NULL",
                params![c, m, b, t, a],
            )
            .map_err(db_err(&self.path))?;
        Ok(())
    }

    fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<TaskRecord> {
        let status: String = r.get(2)?;
        let labels: Option<String> = r.get(3)?;
        let salt: Option<String> = r.get(4)?;
        let hash: Option<String> = r.get(5)?;
        Ok(TaskRecord {
            batch: r.get::<_, i64>(0)? as u64,
            task: r.get::<_, i64>(1)? as u64,
            status: LocalStatus::parse(&status).unwrap_or(LocalStatus::Claimed),
            labels: labels.and_then(|l| serde_json::from_str(&l).ok()),
            salt: salt.and_then(|s| s.parse().ok()),
            commit_hash: hash.and_then(|s| s.parse().ok()),
            expiry: r.get::<_, i64>(6)? as u64,
        })
    }

    /// One task.
    pub fn get(&self, k: &TaskKey) -> Result<Option<TaskRecord>, ClientError> {
        let (c, m, b, t, a) = Self::key_params(k);
        self.conn()?
            .query_row(
                "SELECT batch, task, status, labels, salt, commit_hash, expiry FROM tasks
                 WHERE chain_id = ?1 AND market = ?2 AND batch = ?3 AND task = ?4 AND annotator = ?5",
                params![c, m, b, t, a],
                Self::row,
            )
            .optional()
            .map_err(db_err(&self.path))
    }

    /// Every task of `annotator` on a market, optionally of one batch, ordered by batch and task.
    pub fn list(
        &self,
        chain_id: u64,
        market: Address,
        annotator: Address,
        batch: Option<u64>,
    ) -> Result<Vec<TaskRecord>, ClientError> {
        let conn = self.conn()?;
        let mut stmt = conn
            .prepare(
                "SELECT batch, task, status, labels, salt, commit_hash, expiry FROM tasks
                 WHERE chain_id = ?1 AND market = ?2 AND annotator = ?3 AND (?4 < 0 OR batch = ?4) ORDER BY batch, task",
            )
            .map_err(db_err(&self.path))?;
        let rows = stmt
            .query_map(
                params![
                    chain_id as i64,
                    market.to_string(),
                    annotator.to_string(),
                    batch.map(|b| b as i64).unwrap_or(-1)
                ],
                Self::row,
            )
            .map_err(db_err(&self.path))?;
        rows.collect::<Result<Vec<_>, _>>()
            .map_err(db_err(&self.path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(task: u64) -> TaskKey {
        TaskKey {
            chain_id: 31337,
            market: Address::repeat_byte(1),
            batch: 0,
            task,
            annotator: Address::repeat_byte(2),
        }
    }

    #[test]
    fn salt_survives_reopen_and_is_never_replaced() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("a.sqlite");
        let salt = B256::repeat_byte(7);
        {
            let s = Store::open(&path).expect("open");
            s.record_claim(&key(3), 100).expect("claim");
            s.set_labels(&key(3), &[1, 2, 0]).expect("labels");
            s.prepare_commit(&key(3), &[1, 2, 0], salt)
                .expect("prepare");
            // A second prepare (e.g. a retry with a fresh salt) must not overwrite the stored one.
            s.prepare_commit(&key(3), &[0, 0, 0], B256::repeat_byte(8))
                .expect("idempotent");
        }
        let s = Store::open(&path).expect("reopen");
        let r = s.get(&key(3)).expect("get").expect("exists");
        assert_eq!(r.status, LocalStatus::Committing);
        assert_eq!(r.salt, Some(salt));
        assert_eq!(r.labels, Some(vec![1, 2, 0]));
        assert_eq!(
            r.commit_hash,
            Some(key(3).commit_hash(concord_protocol::labels::pack(&[1, 2, 0]), salt))
        );
        assert!(
            s.set_labels(&key(3), &[0, 0, 0]).is_err(),
            "committed labels are frozen"
        );
        assert!(s.set_labels(&key(4), &[0]).is_err(), "unclaimed task");
        assert_eq!(
            s.list(
                31337,
                Address::repeat_byte(1),
                Address::repeat_byte(2),
                Some(0)
            )
            .expect("list")
            .len(),
            1
        );
    }
}
