//! An incremental cache of event logs (SQLite, under `$CONCORD_HOME`), so that re-running `status`, `export` or
//! `report` reads only blocks it has not read before. Per filter (chain, market, event, topics) it keeps the logs
//! up to a block at least `confirmations` deep, and that block's hash: a later read first checks the hash (a
//! reorg deeper than the confirmations drops the filter's cache and reads everything again) and then asks the
//! node only for the blocks after it. The newest `confirmations` blocks are never cached, so a shallow reorg
//! replaces them on the next read.

use alloy::primitives::B256;
use alloy::rpc::types::Log;
use rusqlite::{params, Connection, OptionalExtension};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::ClientError;

/// How far a filter's cached logs go: every log up to block `to`, whose hash was `hash`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scanned {
    pub to: u64,
    pub hash: B256,
}

/// A cache file shared by clones of one client (and, through SQLite's locking, by processes).
#[derive(Clone)]
pub struct LogCache {
    path: PathBuf,
    conn: Arc<Mutex<Connection>>,
}

impl std::fmt::Debug for LogCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogCache")
            .field("path", &self.path)
            .finish()
    }
}

fn db_err(path: &Path) -> impl Fn(rusqlite::Error) -> ClientError + '_ {
    move |e| ClientError::Store(format!("log cache {}: {e}", path.display()))
}

impl LogCache {
    /// Opens (creating) the cache at `path`.
    pub fn open(path: &Path) -> Result<Self, ClientError> {
        let conn = crate::store::open_wal(path)?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS scans (
                filter TEXT PRIMARY KEY, scanned_to INTEGER NOT NULL, block_hash TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS logs (
                filter TEXT NOT NULL, block INTEGER NOT NULL, log_index INTEGER NOT NULL, log TEXT NOT NULL,
                PRIMARY KEY (filter, block, log_index));",
        )
        .map_err(db_err(path))?;
        Ok(Self {
            path: path.to_path_buf(),
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    fn with<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>,
    ) -> Result<T, ClientError> {
        let mut conn = self.conn.lock().map_err(|_| {
            ClientError::Store(format!("log cache {}: poisoned", self.path.display()))
        })?;
        f(&mut conn).map_err(db_err(&self.path))
    }

    /// How far `filter`'s logs are cached, if at all.
    pub fn scanned(&self, filter: &str) -> Result<Option<Scanned>, ClientError> {
        let row: Option<(i64, String)> = self.with(|c| {
            c.query_row(
                "SELECT scanned_to, block_hash FROM scans WHERE filter = ?1",
                params![filter],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
        })?;
        Ok(row.and_then(|(to, hash)| {
            Some(Scanned {
                to: u64::try_from(to).ok()?,
                hash: hash.parse().ok()?,
            })
        }))
    }

    /// `filter`'s cached logs, in chain order.
    pub fn logs(&self, filter: &str) -> Result<Vec<Log>, ClientError> {
        let rows: Vec<String> = self.with(|c| {
            let mut st =
                c.prepare("SELECT log FROM logs WHERE filter = ?1 ORDER BY block, log_index")?;
            let rows = st.query_map(params![filter], |r| r.get(0))?;
            rows.collect()
        })?;
        rows.iter()
            .map(|s| {
                serde_json::from_str(s).map_err(|e| {
                    ClientError::Store(format!(
                        "log cache {}: unreadable log ({e}); delete the file to rebuild it",
                        self.path.display()
                    ))
                })
            })
            .collect()
    }

    /// Adds `logs` (all at or below `to`) to `filter`'s cache and moves its mark to `to` (hash `hash`), in one
    /// transaction.
    pub fn extend(
        &self,
        filter: &str,
        logs: &[Log],
        to: u64,
        hash: B256,
    ) -> Result<(), ClientError> {
        let rows: Vec<(i64, i64, String)> = logs
            .iter()
            .map(|l| {
                let json = serde_json::to_string(l)
                    .map_err(|e| ClientError::Store(format!("cannot cache a log: {e}")))?;
                Ok((
                    l.block_number.unwrap_or_default() as i64,
                    l.log_index.unwrap_or_default() as i64,
                    json,
                ))
            })
            .collect::<Result<_, ClientError>>()?;
        self.with(|c| {
            let tx = c.transaction()?;
            for (block, index, json) in &rows {
                tx.execute(
                    "INSERT OR IGNORE INTO logs (filter, block, log_index, log) VALUES (?1, ?2, ?3, ?4)",
                    params![filter, block, index, json],
                )?;
            }
            tx.execute(
                "INSERT INTO scans (filter, scanned_to, block_hash) VALUES (?1, ?2, ?3)
                 ON CONFLICT (filter) DO UPDATE SET scanned_to = excluded.scanned_to, block_hash = excluded.block_hash
                 WHERE excluded.scanned_to > scans.scanned_to",
                params![filter, to as i64, hash.to_string()],
            )?;
            tx.commit()
        })
    }

    /// Forgets `filter`'s cache (its mark block was reorganised away).
    pub fn reset(&self, filter: &str) -> Result<(), ClientError> {
        self.with(|c| {
            let tx = c.transaction()?;
            tx.execute("DELETE FROM logs WHERE filter = ?1", params![filter])?;
            tx.execute("DELETE FROM scans WHERE filter = ?1", params![filter])?;
            tx.commit()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log(block: u64, index: u64) -> Log {
        Log {
            block_number: Some(block),
            log_index: Some(index),
            ..Log::default()
        }
    }

    #[test]
    fn keeps_logs_in_chain_order_moves_the_mark_forward_only_and_resets() {
        let dir = tempfile::tempdir().expect("tmp");
        let c = LogCache::open(&dir.path().join("logs.sqlite")).expect("open");
        assert_eq!(c.scanned("f").expect("scanned"), None);
        let h1 = B256::repeat_byte(1);
        c.extend("f", &[log(5, 1), log(3, 0)], 10, h1)
            .expect("extend");
        // The same logs again (another process read them too) and an older mark: no duplicates, mark kept.
        c.extend("f", &[log(3, 0)], 8, B256::repeat_byte(9))
            .expect("extend");
        assert_eq!(
            c.scanned("f").expect("scanned"),
            Some(Scanned { to: 10, hash: h1 })
        );
        let blocks: Vec<_> = c
            .logs("f")
            .expect("logs")
            .iter()
            .map(|l| l.block_number)
            .collect();
        assert_eq!(blocks, vec![Some(3), Some(5)]);
        assert!(c.logs("g").expect("other filter").is_empty());
        c.reset("f").expect("reset");
        assert_eq!(c.scanned("f").expect("scanned"), None);
        assert!(c.logs("f").expect("logs").is_empty());
    }
}
