//! The annotator's local store (SQLite, WAL, `synchronous=FULL`): the bundles it joined (as the `Joined` event
//! gave them), the tasks they hold, the labels chosen per task, and the words, salt and hash of every commit —
//! written and fsynced *before* the commit transaction is sent, so a crash never loses a reveal.

use alloy::primitives::{Address, B256, U256};
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use std::path::{Path, PathBuf};

use crate::ClientError;

pub use concord_protocol::commit::BundleKey;

/// Where an annotator's bundle is, locally.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LocalStatus {
    /// Joined on-chain; its tasks are known once the round's seed block exists.
    Joined,
    /// Words, salt and hash stored; the commit transaction may or may not have landed.
    Committing,
    /// Commit confirmed on-chain.
    Committed,
    /// Reveal confirmed on-chain.
    Revealed,
    /// Never committed in its round's window: released (squat penalty), its tasks went back to the pool.
    Expired,
}

impl LocalStatus {
    /// Lowercase name, as stored and printed.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Joined => "joined",
            Self::Committing => "committing",
            Self::Committed => "committed",
            Self::Revealed => "revealed",
            Self::Expired => "expired",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "joined" => Self::Joined,
            "committing" => Self::Committing,
            "committed" => Self::Committed,
            "revealed" => Self::Revealed,
            "expired" => Self::Expired,
            _ => return None,
        })
    }
}

/// The tickets a join took, as the `Joined` event states them (every later call re-supplies them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Tickets {
    pub lane: u64,
    pub round: u64,
    pub first: u64,
    pub size: u64,
}

/// One stored bundle, with the labels chosen so far for each of its tasks (in ticket order).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BundleRecord {
    pub batch: u64,
    pub bundle: u64,
    pub tickets: Tickets,
    pub status: LocalStatus,
    /// Until this chain time the bundle can be committed.
    pub commit_end: u64,
    /// The tasks of the tickets, once the round's seed is known.
    pub tasks: Option<Vec<u64>>,
    /// The seed the tasks were computed from.
    pub seed: Option<B256>,
    /// Labels per task (same order as `tasks`); `None` for a task not labeled yet.
    pub labels: Vec<Option<Vec<u8>>>,
    /// The committed label words (`concord_protocol::bundle::pack_bundle`).
    pub words: Option<Vec<U256>>,
    pub salt: Option<B256>,
    pub commit_hash: Option<B256>,
}

/// `commit_end` of a bundle reserved in a round that has not opened yet (its window is set when it opens).
pub const COMMIT_END_UNKNOWN: u64 = i64::MAX as u64;

impl BundleRecord {
    /// The tickets that hold tasks, as every call after the commit re-supplies them: a bundle reserved before its
    /// round opened and committed with fewer tasks (`BundleShrunk`) is that smaller bundle.
    pub fn held_tickets(&self) -> Tickets {
        let size = self
            .tasks
            .as_ref()
            .map_or(self.tickets.size, |t| t.len() as u64);
        Tickets {
            size: size.min(self.tickets.size),
            ..self.tickets
        }
    }

    /// Every task labeled: the labels in ticket order.
    pub fn complete_labels(&self) -> Option<Vec<Vec<u8>>> {
        self.tasks.as_ref()?;
        self.labels.iter().cloned().collect()
    }
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

fn now() -> i64 {
    concord_protocol::time::now_unix() as i64
}

/// Opens (creating it and its folder) a SQLite file in WAL mode that waits up to 10 s for another process's lock.
pub(crate) fn open_wal(path: &Path) -> Result<Connection, ClientError> {
    if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| ClientError::Store(format!("cannot create {}: {e}", dir.display())))?;
    }
    let conn = Connection::open(path).map_err(db_err(path))?;
    conn.busy_timeout(std::time::Duration::from_secs(10))
        .map_err(db_err(path))?;
    conn.pragma_update(None, "journal_mode", "WAL")
        .map_err(db_err(path))?;
    Ok(conn)
}

fn json<T: Serialize + ?Sized>(v: &T) -> Result<String, ClientError> {
    serde_json::to_string(v).map_err(|e| ClientError::Store(e.to_string()))
}

const COLUMNS: &str = "batch, bundle, lane, round, first, size, status, commit_end, tasks, seed, words, salt, commit_hash";

impl Store {
    /// Opens (creating if needed) the store at `path`.
    pub fn open(path: &Path) -> Result<Self, ClientError> {
        let conn = open_wal(path)?;
        // FULL: every transaction's WAL frames are fsynced before COMMIT returns.
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(db_err(path))?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS bundles (
                chain_id INTEGER NOT NULL, market TEXT NOT NULL, batch INTEGER NOT NULL, bundle INTEGER NOT NULL,
                annotator TEXT NOT NULL, lane INTEGER NOT NULL, round INTEGER NOT NULL, first INTEGER NOT NULL,
                size INTEGER NOT NULL, status TEXT NOT NULL, commit_end INTEGER NOT NULL, tasks TEXT, seed TEXT,
                words TEXT, salt TEXT, commit_hash TEXT, updated_at INTEGER NOT NULL,
                PRIMARY KEY (chain_id, market, batch, bundle, annotator));
             CREATE TABLE IF NOT EXISTS labels (
                chain_id INTEGER NOT NULL, market TEXT NOT NULL, batch INTEGER NOT NULL, annotator TEXT NOT NULL,
                task INTEGER NOT NULL, labels TEXT NOT NULL, updated_at INTEGER NOT NULL,
                PRIMARY KEY (chain_id, market, batch, annotator, task));",
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

    fn key_params(k: &BundleKey) -> (i64, String, i64, i64, String) {
        (
            k.chain_id as i64,
            k.market.to_string(),
            k.batch as i64,
            k.bundle as i64,
            k.annotator.to_string(),
        )
    }

    /// Records a join (no-op if the bundle is already known).
    pub fn record_join(
        &self,
        k: &BundleKey,
        t: Tickets,
        commit_end: u64,
    ) -> Result<(), ClientError> {
        let (c, m, b, id, a) = Self::key_params(k);
        self.conn()?
            .execute(
                "INSERT OR IGNORE INTO bundles (chain_id, market, batch, bundle, annotator, lane, round, first, size,
                    status, commit_end, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 'joined', ?10, ?11)",
                params![c, m, b, id, a, t.lane as i64, t.round as i64, t.first as i64, t.size as i64,
                    commit_end as i64, now()],
            )
            .map_err(db_err(&self.path))?;
        // Bundle ids are never reused on one chain, so a join that finds its id stored as expired, never committed,
        // replaces a join a reorg removed. A record with a salt is never replaced.
        self.conn()?
            .execute(
                "UPDATE bundles SET lane = ?6, round = ?7, first = ?8, size = ?9, status = 'joined', commit_end = ?10,
                    tasks = NULL, seed = NULL, words = NULL, commit_hash = NULL, updated_at = ?11
                 WHERE chain_id = ?1 AND market = ?2 AND batch = ?3 AND bundle = ?4 AND annotator = ?5
                    AND status = 'expired' AND salt IS NULL",
                params![c, m, b, id, a, t.lane as i64, t.round as i64, t.first as i64, t.size as i64,
                    commit_end as i64, now()],
            )
            .map_err(db_err(&self.path))?;
        Ok(())
    }

    /// Sets the commit window's end of a bundle (known for a reserved bundle once its round opens).
    pub fn set_commit_end(&self, k: &BundleKey, commit_end: u64) -> Result<(), ClientError> {
        let (c, m, b, id, a) = Self::key_params(k);
        self.conn()?
            .execute(
                "UPDATE bundles SET commit_end = ?6, updated_at = ?7
                 WHERE chain_id = ?1 AND market = ?2 AND batch = ?3 AND bundle = ?4 AND annotator = ?5",
                params![c, m, b, id, a, commit_end as i64, now()],
            )
            .map_err(db_err(&self.path))?;
        Ok(())
    }

    /// Stores the tasks a bundle's tickets hold and the seed they came from (only while nothing is committed).
    pub fn set_tasks(&self, k: &BundleKey, tasks: &[u64], seed: B256) -> Result<(), ClientError> {
        let (c, m, b, id, a) = Self::key_params(k);
        self.conn()?
            .execute(
                "UPDATE bundles SET tasks = ?6, seed = ?7, updated_at = ?8
                 WHERE chain_id = ?1 AND market = ?2 AND batch = ?3 AND bundle = ?4 AND annotator = ?5 AND salt IS NULL",
                params![c, m, b, id, a, json(tasks)?, seed.to_string(), now()],
            )
            .map_err(db_err(&self.path))?;
        Ok(())
    }

    /// Stores labels for `task` of a batch; refused unless the task is in one of `annotator`'s bundles that is not
    /// committed yet (a commit is never re-labeled).
    pub fn set_labels(
        &self,
        chain_id: u64,
        market: Address,
        annotator: Address,
        batch: u64,
        task: u64,
        labels: &[u8],
    ) -> Result<(), ClientError> {
        let holder = self
            .list(chain_id, market, annotator, Some(batch))?
            .into_iter()
            .filter(|r| r.status != LocalStatus::Expired)
            .find(|r| r.tasks.as_ref().is_some_and(|t| t.contains(&task)))
            .ok_or_else(|| {
                ClientError::Input(format!(
                    "task {task} of batch {batch} is not in any bundle of {annotator}; run `join` (and `show` once its round is sealed) first"
                ))
            })?;
        if holder.salt.is_some() || holder.status != LocalStatus::Joined {
            return Err(ClientError::Input(format!(
                "task {task} of batch {batch} is in bundle {} which is already {}; its labels can no longer change",
                holder.bundle,
                holder.status.as_str()
            )));
        }
        self.conn()?
            .execute(
                "INSERT INTO labels (chain_id, market, batch, annotator, task, labels, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT DO UPDATE SET labels = ?6, updated_at = ?7",
                params![
                    chain_id as i64,
                    market.to_string(),
                    batch as i64,
                    annotator.to_string(),
                    task as i64,
                    json(labels)?,
                    now()
                ],
            )
            .map_err(db_err(&self.path))?;
        Ok(())
    }

    /// Durably stores a bundle's label words, salt and commit hash *before* the commit is sent, with the labels of
    /// its tasks (`tasks`, when given, for a bundle restored from its backup). Keeps an existing salt
    /// (idempotent): read the record back for the words, salt and hash to send.
    pub fn prepare_commit(
        &self,
        k: &BundleKey,
        words: &[U256],
        salt: B256,
        restored: Option<(&[u64], &[Vec<u8>])>,
    ) -> Result<(), ClientError> {
        let hash = k.commit_hash(words, salt);
        let (c, m, b, id, a) = Self::key_params(k);
        let mut conn = self.conn()?;
        let tx = conn.transaction().map_err(db_err(&self.path))?;
        if let Some((tasks, labels)) = restored {
            for (t, l) in tasks.iter().zip(labels) {
                tx.execute(
                    "INSERT INTO labels (chain_id, market, batch, annotator, task, labels, updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT DO UPDATE SET labels = ?6, updated_at = ?7",
                    params![c, m, b, a, *t as i64, json(l)?, now()],
                )
                .map_err(db_err(&self.path))?;
            }
            tx.execute(
                "UPDATE bundles SET tasks = ?6 WHERE chain_id = ?1 AND market = ?2 AND batch = ?3 AND bundle = ?4
                 AND annotator = ?5",
                params![c, m, b, id, a, json(tasks)?],
            )
            .map_err(db_err(&self.path))?;
        }
        let words_json = json(&words.iter().map(|w| format!("{w:#x}")).collect::<Vec<_>>())?;
        tx.execute(
            "UPDATE bundles SET status = 'committing', words = ?6, salt = ?7, commit_hash = ?8, updated_at = ?9
             WHERE chain_id = ?1 AND market = ?2 AND batch = ?3 AND bundle = ?4 AND annotator = ?5 AND salt IS NULL",
            params![c, m, b, id, a, words_json, salt.to_string(), hash.to_string(), now()],
        )
        .map_err(db_err(&self.path))?;
        tx.commit().map_err(db_err(&self.path))
    }

    /// Moves a bundle to `status`.
    pub fn set_status(&self, k: &BundleKey, status: LocalStatus) -> Result<(), ClientError> {
        let (c, m, b, id, a) = Self::key_params(k);
        self.conn()?
            .execute(
                "UPDATE bundles SET status = ?6, updated_at = ?7
                 WHERE chain_id = ?1 AND market = ?2 AND batch = ?3 AND bundle = ?4 AND annotator = ?5",
                params![c, m, b, id, a, status.as_str(), now()],
            )
            .map_err(db_err(&self.path))?;
        Ok(())
    }

    fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<BundleRecord> {
        let u = |i: usize| r.get::<_, i64>(i).map(|v| v as u64);
        let text = |i: usize| r.get::<_, Option<String>>(i);
        let status: String = r.get(6)?;
        let words: Option<Vec<String>> = text(10)?.and_then(|w| serde_json::from_str(&w).ok());
        Ok(BundleRecord {
            batch: u(0)?,
            bundle: u(1)?,
            tickets: Tickets {
                lane: u(2)?,
                round: u(3)?,
                first: u(4)?,
                size: u(5)?,
            },
            status: LocalStatus::parse(&status).unwrap_or(LocalStatus::Joined),
            commit_end: u(7)?,
            tasks: text(8)?.and_then(|t| serde_json::from_str(&t).ok()),
            seed: text(9)?.and_then(|s| s.parse().ok()),
            labels: Vec::new(),
            words: words.map(|w| w.iter().filter_map(|x| x.parse().ok()).collect()),
            salt: text(11)?.and_then(|s| s.parse().ok()),
            commit_hash: text(12)?.and_then(|s| s.parse().ok()),
        })
    }

    /// Fills a record's labels from the labels table.
    fn with_labels(
        &self,
        conn: &Connection,
        k: &BundleKey,
        mut rec: BundleRecord,
    ) -> Result<BundleRecord, ClientError> {
        if let Some(tasks) = &rec.tasks {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT labels FROM labels WHERE chain_id = ?1 AND market = ?2 AND batch = ?3 AND annotator = ?4
                     AND task = ?5",
                )
                .map_err(db_err(&self.path))?;
            rec.labels = tasks
                .iter()
                .map(|t| {
                    stmt.query_row(
                        params![
                            k.chain_id as i64,
                            k.market.to_string(),
                            k.batch as i64,
                            k.annotator.to_string(),
                            *t as i64
                        ],
                        |r| r.get::<_, String>(0),
                    )
                    .optional()
                    .map(|l| l.and_then(|l| serde_json::from_str(&l).ok()))
                })
                .collect::<Result<_, _>>()
                .map_err(db_err(&self.path))?;
        }
        Ok(rec)
    }

    /// One bundle.
    pub fn get(&self, k: &BundleKey) -> Result<Option<BundleRecord>, ClientError> {
        let (c, m, b, id, a) = Self::key_params(k);
        let conn = self.conn()?;
        let rec = conn
            .query_row(
                &format!("SELECT {COLUMNS} FROM bundles WHERE chain_id = ?1 AND market = ?2 AND batch = ?3 AND bundle = ?4 AND annotator = ?5"),
                params![c, m, b, id, a],
                Self::row,
            )
            .optional()
            .map_err(db_err(&self.path))?;
        rec.map(|r| self.with_labels(&conn, k, r)).transpose()
    }

    /// Every bundle of `annotator` on a market, optionally of one batch, ordered by batch and bundle.
    pub fn list(
        &self,
        chain_id: u64,
        market: Address,
        annotator: Address,
        batch: Option<u64>,
    ) -> Result<Vec<BundleRecord>, ClientError> {
        let conn = self.conn()?;
        let mut stmt = conn
            .prepare(&format!(
                "SELECT {COLUMNS} FROM bundles
                 WHERE chain_id = ?1 AND market = ?2 AND annotator = ?3 AND (?4 < 0 OR batch = ?4) ORDER BY batch, bundle"
            ))
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
            .map_err(db_err(&self.path))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(db_err(&self.path))?;
        rows.into_iter()
            .map(|r| {
                let k = BundleKey {
                    chain_id,
                    market,
                    batch: r.batch,
                    bundle: r.bundle,
                    annotator,
                };
                self.with_labels(&conn, &k, r)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(bundle: u64) -> BundleKey {
        BundleKey {
            chain_id: 31337,
            market: Address::repeat_byte(1),
            batch: 0,
            bundle,
            annotator: Address::repeat_byte(2),
        }
    }

    const T: Tickets = Tickets {
        lane: 1,
        round: 1,
        first: 4,
        size: 2,
    };

    fn label(s: &Store, task: u64, labels: &[u8]) -> Result<(), ClientError> {
        s.set_labels(
            31337,
            Address::repeat_byte(1),
            Address::repeat_byte(2),
            0,
            task,
            labels,
        )
    }

    #[test]
    fn salt_survives_reopen_and_is_never_replaced() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("a.sqlite");
        let salt = B256::repeat_byte(7);
        let words = vec![U256::from(0x1234)];
        {
            let s = Store::open(&path).expect("open");
            s.record_join(&key(3), T, 500).expect("join");
            assert!(label(&s, 9, &[1]).is_err(), "tasks not known yet");
            s.set_tasks(&key(3), &[9, 2], B256::repeat_byte(1))
                .expect("tasks");
            label(&s, 9, &[1, 2, 0]).expect("labels");
            assert_eq!(
                s.get(&key(3)).unwrap().unwrap().complete_labels(),
                None,
                "task 2 unlabeled"
            );
            label(&s, 2, &[0, 0, 1]).expect("labels");
            s.prepare_commit(&key(3), &words, salt, None)
                .expect("prepare");
            // A second prepare (e.g. a retry with a fresh salt) must not overwrite the stored one.
            s.prepare_commit(&key(3), &[U256::ZERO], B256::repeat_byte(8), None)
                .expect("idempotent");
        }
        let s = Store::open(&path).expect("reopen");
        let r = s.get(&key(3)).expect("get").expect("exists");
        assert_eq!(r.status, LocalStatus::Committing);
        assert_eq!(r.salt, Some(salt));
        assert_eq!(r.words, Some(words.clone()));
        assert_eq!(r.tickets, T);
        assert_eq!(r.commit_end, 500);
        assert_eq!(
            r.complete_labels(),
            Some(vec![vec![1, 2, 0], vec![0, 0, 1]])
        );
        assert_eq!(r.commit_hash, Some(key(3).commit_hash(&words, salt)));
        assert!(
            label(&s, 9, &[0, 0, 0]).is_err(),
            "committed labels are frozen"
        );
        assert!(label(&s, 4, &[0]).is_err(), "a task in no bundle");
        s.set_tasks(&key(3), &[5, 6], B256::ZERO).expect("no-op");
        assert_eq!(
            s.get(&key(3)).unwrap().unwrap().tasks,
            Some(vec![9, 2]),
            "tasks frozen with the salt"
        );
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

    #[test]
    fn a_restored_commit_brings_its_tasks_and_labels() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = Store::open(&dir.path().join("b.sqlite")).expect("open");
        s.record_join(&key(0), T, 9).expect("join");
        let labels = vec![vec![3u8, 1], vec![0, 2]];
        s.prepare_commit(
            &key(0),
            &[U256::from(7)],
            B256::repeat_byte(3),
            Some((&[5, 8], &labels)),
        )
        .expect("restore");
        let r = s.get(&key(0)).unwrap().unwrap();
        assert_eq!(r.tasks, Some(vec![5, 8]));
        assert_eq!(r.complete_labels(), Some(labels));
    }
}
