//! `recordings/index.sqlite`: a derived cache of the JSON recordings, and the record
//! of which recordings each run used.
//!
//! The JSON files are the truth; the index can always be deleted and is rebuilt from
//! them (it is never committed: binary files conflict in git merges; opening it
//! writes a self-ignoring `recordings/.gitignore` for it, see [`IGNORE_FILE_TEXT`],
//! unless the folder has a `.gitignore` already). It answers
//! `recordings list`, `show` and `prune` without parsing every file, and it can be
//! queried directly:
//!
//! ```text
//! sqlite3 recordings/index.sqlite "SELECT endpoint, model, timestamp FROM recordings"
//! ```
//!
//! # Schema
//! ```sql
//! -- one row per recording file
//! recordings(request_hash, file_path, test_id, endpoint, model, is_streaming, recorded_at,
//!            method, status, size, mtime_ns, occurrence, timestamp)
//! -- files that could not be read, with the reason (not in `recordings`)
//! skipped(file_path, size, mtime_ns, reason)
//! -- the record of use
//! runs(run_id, started_at)                -- one row per run (process, or RECORDER_RUN_ID)
//! test_runs(run_id, test_id, started_at)  -- which tests ran (and finished) in which run
//! usage(run_id, test_id, request_hash)    -- which recordings a test used in a run
//! meta(key, value)                        -- bookkeeping, e.g. the last rebuild
//! ```
//! - `file_path` is relative to the recordings folder, with `/` separators; it is the
//!   key. `request_hash` is the hash the file is named after (several model-list files
//!   share one request hash: one file per model set).
//! - `test_id` is `NULL` for the shared model lists; `model` is the request's `model`.
//! - `is_streaming` is 0 or 1; `recorded_at` is the file's modification time as
//!   RFC 3339 UTC text (`2025-01-31T12:00:00Z`), and `timestamp` the same (the name
//!   OGX's guides query); `size` and `mtime_ns` are what staleness is judged by.
//! - `occurrence` is which time the test made the request (1, 2, ...: `<hash>.json`,
//!   `<hash>.2.json`); all occurrences of a request share its hash.
//! - Times in `runs` and `test_runs` are RFC 3339 UTC with milliseconds, so that they
//!   sort as text.
//!
//! # Staleness
//! The index is fresh when the set of `(relative path, size, mtime)` of the JSON files
//! under the folder equals the set it holds (indexed and skipped files together). A
//! file added, removed or edited (by a recording, by `git checkout`, by hand) changes
//! that set, and [`Index::ensure_fresh`] then rebuilds everything in one transaction.
//!
//! # Runs and use
//! Tests never open the index: each test process appends JSON lines to
//! `recordings/.usage/` ([`recorder_runtime::usage`]): that a test finished, which
//! recordings it replayed, which it recorded (those count as used by it). The commands
//! fold those logs in ([`Index::ingest_usage`]). A run is identified by
//! `RECORDER_RUN_ID` when set (e.g. one id for a whole CI job across test binaries),
//! else by one id per process (time and pid). [`Index::unused_for_latest_runs`] lists
//! what `prune` removes. [`Index::begin_test`], [`Index::mark_used`] and
//! [`Index::record_saved`] write the same facts directly, for tools that run tests
//! their own way.
//!
//! # Many writers
//! The database is in WAL mode with a 30 s busy timeout and `synchronous=NORMAL`;
//! every change is one short transaction, so many threads and test processes write
//! at once. Inside a process an [`Index`] serializes its connection behind a mutex.

use recorder_runtime::error::Error as RuntimeError;
use recorder_runtime::recording::Recording;
use recorder_runtime::store::{RecordingKey, Store, MODELS_DIR};
use recorder_runtime::time::{rfc3339, rfc3339_millis};
use recorder_runtime::usage::{read_usage, UsageLine};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// What can go wrong with the index: SQLite itself, or reading the recordings it
/// describes.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The SQLite file failed; the reason says how to recover (it is a cache).
    #[error("recordings index {path}: {reason}")]
    Sqlite {
        /// The index file.
        path: PathBuf,
        /// What failed, and what to do.
        reason: String,
    },
    /// Reading a recording or a folder failed.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
}

impl Error {
    fn io(action: &'static str, path: &Path, e: std::io::Error) -> Error {
        Error::Runtime(RuntimeError::io(action, path, e))
    }
}

/// Result with the index's [`enum@Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The index's file name inside the recordings folder.
pub const INDEX_FILE: &str = "index.sqlite";
/// What [`Index::open`] writes to `<root>/.gitignore` when the folder has none, so
/// that a user's `git add -A` never commits the index: the index files, and the
/// `.gitignore` itself (like the usage logs' `.usage/.gitignore`, it is the
/// recorder's local business, so `git status` shows nothing new).
pub const IGNORE_FILE_TEXT: &str = "# Written by cargo recordings: the index is rebuilt from the JSON files and never\n# committed (a binary file conflicts in merges). This file ignores itself too.\n/index.sqlite*\n/.gitignore\n";

/// How long a writer waits for another one before giving up.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(30);
/// The schema's version; an index of another version is dropped and rebuilt.
pub const SCHEMA_VERSION: i64 = 2;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta(
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS recordings(
    request_hash TEXT NOT NULL,
    file_path TEXT PRIMARY KEY,
    test_id TEXT,
    endpoint TEXT NOT NULL,
    model TEXT,
    is_streaming INTEGER NOT NULL,
    recorded_at TEXT NOT NULL,
    method TEXT NOT NULL,
    status INTEGER NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    occurrence INTEGER NOT NULL DEFAULT 1,
    timestamp TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS recordings_by_hash ON recordings(request_hash);
CREATE INDEX IF NOT EXISTS recordings_by_test ON recordings(test_id);
CREATE TABLE IF NOT EXISTS skipped(
    file_path TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    reason TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS runs(
    run_id TEXT PRIMARY KEY,
    started_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS test_runs(
    run_id TEXT NOT NULL,
    test_id TEXT NOT NULL,
    started_at TEXT NOT NULL,
    PRIMARY KEY(run_id, test_id)
);
CREATE INDEX IF NOT EXISTS test_runs_by_test ON test_runs(test_id, started_at);
CREATE TABLE IF NOT EXISTS usage(
    run_id TEXT NOT NULL,
    test_id TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    PRIMARY KEY(run_id, test_id, request_hash)
);
CREATE INDEX IF NOT EXISTS usage_by_hash ON usage(request_hash);
";

const DROP_ALL: &str = "
DROP TABLE IF EXISTS meta;
DROP TABLE IF EXISTS recordings;
DROP TABLE IF EXISTS skipped;
DROP TABLE IF EXISTS runs;
DROP TABLE IF EXISTS test_runs;
DROP TABLE IF EXISTS usage;
";

const INSERT_RECORDING: &str = "INSERT OR REPLACE INTO recordings
    (request_hash, file_path, test_id, endpoint, model, is_streaming, recorded_at, method, status, size, mtime_ns, occurrence, timestamp)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?7)";

/// The recordings each test does not need: for every test that has a recorded run,
/// its recordings that neither its latest run nor any run started since used; and the
/// model lists no such test used, once every test with recordings has a recorded run.
const UNUSED_SQL: &str = "
WITH ranked AS (
    SELECT t.test_id, t.run_id, COALESCE(r.started_at, t.started_at) AS run_started,
           ROW_NUMBER() OVER (PARTITION BY t.test_id ORDER BY t.started_at DESC, t.rowid DESC) AS rn
    FROM test_runs t LEFT JOIN runs r ON r.run_id = t.run_id
),
latest AS (SELECT test_id, run_id, run_started FROM ranked WHERE rn = 1),
kept AS (
    SELECT u.test_id, u.request_hash FROM usage u
    JOIN latest l ON l.test_id = u.test_id
    LEFT JOIN runs ru ON ru.run_id = u.run_id
    WHERE u.run_id = l.run_id OR ru.started_at >= l.run_started
)
SELECT rec.file_path FROM recordings rec JOIN latest l ON l.test_id = rec.test_id
WHERE NOT EXISTS (SELECT 1 FROM kept k WHERE k.test_id = rec.test_id AND k.request_hash = rec.request_hash)
UNION
SELECT rec.file_path FROM recordings rec
WHERE rec.test_id IS NULL
  AND EXISTS (SELECT 1 FROM latest)
  AND NOT EXISTS (SELECT 1 FROM kept k WHERE k.request_hash = rec.request_hash)
  AND NOT EXISTS (SELECT 1 FROM usage u WHERE u.request_hash = rec.request_hash
                  AND u.test_id NOT IN (SELECT test_id FROM latest))
  AND NOT EXISTS (SELECT 1 FROM recordings o WHERE o.test_id IS NOT NULL
                  AND o.test_id NOT IN (SELECT test_id FROM latest))
ORDER BY 1";

/// The recordings index of one recordings folder. `Send + Sync`: share it freely.
pub struct Index {
    path: PathBuf,
    root: PathBuf,
    run_id: String,
    conn: Mutex<Connection>,
}

impl std::fmt::Debug for Index {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Index")
            .field("path", &self.path)
            .field("run_id", &self.run_id)
            .finish_non_exhaustive()
    }
}

/// What [`Index::rebuild`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RebuildReport {
    /// Recordings indexed.
    pub indexed: usize,
    /// Files left out because they could not be read, sorted by path.
    pub skipped: Vec<Skipped>,
}

/// A file the index left out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// The file (under the recordings folder).
    pub path: PathBuf,
    /// Why it could not be read.
    pub reason: String,
}

/// One row of the index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The request hash the file is named after.
    pub request_hash: String,
    /// The file, relative to the recordings folder.
    pub file_path: PathBuf,
    /// The test, `None` for shared model lists.
    pub test_id: Option<String>,
    /// HTTP method.
    pub method: String,
    /// Endpoint, query included.
    pub endpoint: String,
    /// The request's `model`.
    pub model: Option<String>,
    /// Whether the response is a stream.
    pub is_streaming: bool,
    /// HTTP status of the response.
    pub status: u16,
    /// The file's modification time, RFC 3339 UTC.
    pub recorded_at: String,
    /// The file's size in bytes.
    pub size: u64,
    /// Which time the test made this request (1 for the first; see [`recorder_runtime::store`]).
    pub occurrence: u32,
}

/// Which rows [`Index::entries`] returns; every field set must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EntryFilter {
    /// Test ids containing this text.
    pub test: Option<String>,
    /// Endpoints containing this text.
    pub endpoint: Option<String>,
    /// This exact model.
    pub model: Option<String>,
    /// Request hashes starting with this (lowercase hex).
    pub hash_prefix: Option<String>,
}

/// Writes [`IGNORE_FILE_TEXT`] to `<root>/.gitignore` unless something is there
/// already (a user's own file is left alone; a symlink, even dangling, is never
/// followed: the file is created only if nothing has that name).
fn ignore_index(root: &Path) -> Result<()> {
    use std::io::Write;
    let path = root.join(".gitignore");
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
    {
        Ok(mut file) => file
            .write_all(IGNORE_FILE_TEXT.as_bytes())
            .map_err(|e| Error::io("cannot write", &path, e)),
        // Something has that name already (the user's own file, or a symlink, never
        // followed), or the folder is read-only (then the index itself reports it).
        Err(_) => Ok(()),
    }
}

impl Index {
    /// Opens (creating it and the folder if needed) `<root>/index.sqlite`, with its
    /// schema, WAL journal, 30 s busy timeout and `synchronous=NORMAL`. An index of
    /// another schema version is dropped and recreated empty. Rows are filled by
    /// [`ensure_fresh`](Self::ensure_fresh), [`rebuild`](Self::rebuild) and the engine.
    pub fn open(root: &Path) -> Result<Index> {
        let path = root.join(INDEX_FILE);
        std::fs::create_dir_all(root)
            .map_err(|e| Error::io("cannot create recordings folder", root, e))?;
        // sqlite follows symlinks: an index (or its journal) that is one, committed
        // or planted, would make it write wherever that points.
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let file = root.join(format!("{INDEX_FILE}{suffix}"));
            if std::fs::symlink_metadata(&file).is_ok_and(|m| !m.is_file()) {
                return Err(Error::io(
                    "refusing to open the index",
                    &file,
                    std::io::Error::other(
                        "it is not a plain file (a symlink, FIFO or device): the index is the recorder's own cache, rebuilt from the recordings; remove it",
                    ),
                ));
            }
        }
        ignore_index(root)?;
        let conn = Connection::open(&path).map_err(|e| sql_error(&path, "cannot open", &e))?;
        let index = Index {
            path,
            root: root.to_path_buf(),
            run_id: recorder_runtime::usage::current_run().0.clone(),
            conn: Mutex::new(conn),
        };
        index.init()?;
        Ok(index)
    }

    /// The same index, recording use under another run id (for tools and tests).
    pub fn with_run_id(mut self, run_id: impl Into<String>) -> Index {
        self.run_id = run_id.into();
        self
    }

    /// The index file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The recordings folder it indexes.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn init(&self) -> Result<()> {
        let mut conn = self.lock();
        conn.busy_timeout(BUSY_TIMEOUT)
            .map_err(|e| self.err("cannot configure", &e))?;
        // Switching to WAL needs a moment of exclusive access; other processes opening
        // the index at the same time may briefly hold it.
        let deadline = std::time::Instant::now() + BUSY_TIMEOUT;
        loop {
            match conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get::<_, String>(0)) {
                Ok(_) => break,
                Err(e) if is_busy(&e) && std::time::Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                Err(e) => return Err(self.err("cannot switch to WAL mode", &e)),
            }
        }
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(|e| self.err("cannot configure", &e))?;
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| self.err("cannot create the schema", &e))?;
        let version: i64 = tx
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| self.err("cannot read the schema version", &e))?;
        if version != SCHEMA_VERSION {
            if version != 0 {
                tx.execute_batch(DROP_ALL)
                    .map_err(|e| self.err("cannot drop an old schema", &e))?;
            }
            tx.execute_batch(SCHEMA)
                .map_err(|e| self.err("cannot create the schema", &e))?;
            tx.pragma_update(None, "user_version", SCHEMA_VERSION)
                .map_err(|e| self.err("cannot create the schema", &e))?;
        }
        tx.commit()
            .map_err(|e| self.err("cannot create the schema", &e))
    }

    /// Rebuilds the index when it is stale (see the [module docs](self)); returns
    /// whether it did. Cheap when fresh: one `stat` per file and one query.
    pub fn ensure_fresh(&self, store: &Store) -> Result<bool> {
        let on_disk = self.scan(store)?;
        let known = self.known_files()?;
        if on_disk == known {
            return Ok(false);
        }
        self.rebuild(store)?;
        Ok(true)
    }

    /// Whether the index differs from the files (without rebuilding).
    pub fn is_stale(&self, store: &Store) -> Result<bool> {
        Ok(self.scan(store)? != self.known_files()?)
    }

    /// Re-reads every JSON file of the store into the index, in one transaction
    /// (other writers wait for it). Unreadable files are reported and left out, never
    /// fatal. The record of use is kept.
    pub fn rebuild(&self, store: &Store) -> Result<RebuildReport> {
        let mut conn = self.lock();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| self.err("cannot start a rebuild", &e))?;
        tx.execute_batch("DELETE FROM recordings; DELETE FROM skipped;")
            .map_err(|e| self.err("cannot clear the index", &e))?;
        let mut report = RebuildReport::default();
        {
            let mut insert = tx
                .prepare(INSERT_RECORDING)
                .map_err(|e| self.err("cannot rebuild", &e))?;
            let mut skip = tx.prepare("INSERT OR REPLACE INTO skipped(file_path, size, mtime_ns, reason) VALUES (?1, ?2, ?3, ?4)").map_err(|e| self.err("cannot rebuild", &e))?;
            for path in store.files()? {
                let rel = relative_key(store.root(), &path);
                // Stat before reading: a file changed in between looks stale next time.
                let (size, mtime_ns) = match std::fs::metadata(&path) {
                    Ok(m) => stat(&m),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(e) => {
                        // Cannot even stat it: report it; it stays stale until fixed.
                        report.skipped.push(Skipped {
                            path,
                            reason: format!("cannot read the file ({e})"),
                        });
                        continue;
                    }
                };
                match store.read_recording(&path) {
                    Ok(rec) => {
                        let hash = file_hash(&path).unwrap_or_else(|| rec.request_hash());
                        let row = Row::new(&rec, &hash, &rel, size, mtime_ns);
                        insert
                            .execute(row.params())
                            .map_err(|e| self.err("cannot rebuild", &e))?;
                        report.indexed += 1;
                    }
                    Err(e) => {
                        let reason = match e {
                            RuntimeError::CorruptRecording { reason, .. } => reason,
                            other => other.to_string(),
                        };
                        skip.execute(params![rel, size, mtime_ns, reason])
                            .map_err(|e| self.err("cannot rebuild", &e))?;
                        report.skipped.push(Skipped { path, reason });
                    }
                }
            }
        }
        tx.execute(
            "INSERT OR REPLACE INTO meta(key, value) VALUES ('rebuilt_at', ?1)",
            [rfc3339_millis(SystemTime::now())],
        )
        .map_err(|e| self.err("cannot rebuild", &e))?;
        tx.commit()
            .map_err(|e| self.err("cannot commit a rebuild", &e))?;
        Ok(report)
    }

    /// Adds or replaces the row of one recording file, given relative to the root
    /// (its size and time are read from the file).
    pub fn upsert(&self, rel_path: &Path, rec: &Recording, hash: &str) -> Result<()> {
        let (rel, size, mtime_ns) = self.stat_rel(rel_path)?;
        let mut conn = self.lock();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| self.err("cannot update", &e))?;
        upsert_row(&tx, &Row::new(rec, hash, &rel, size, mtime_ns))
            .map_err(|e| self.err("cannot update", &e))?;
        tx.commit().map_err(|e| self.err("cannot update", &e))
    }

    /// What the engine calls after writing a recording to `path` (under the root) for
    /// test `test_id`: upserts its row and counts it as used by the test in this run,
    /// in one transaction. With `reread`, the row is read back from the file (when
    /// secrets were scrubbed from the bytes written, so that none reach the index).
    pub fn record_saved(
        &self,
        path: &Path,
        rec: &Recording,
        hash: &str,
        test_id: &str,
        reread: bool,
    ) -> Result<()> {
        let rel_path = path.strip_prefix(&self.root).unwrap_or(path);
        let on_disk;
        let rec = if reread {
            on_disk = crate::store_at(&self.root).read_recording(&self.root.join(rel_path))?;
            &on_disk
        } else {
            rec
        };
        let (rel, size, mtime_ns) = self.stat_rel(rel_path)?;
        let now = rfc3339_millis(SystemTime::now());
        let mut conn = self.lock();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| self.err("cannot update", &e))?;
        upsert_row(&tx, &Row::new(rec, hash, &rel, size, mtime_ns))
            .map_err(|e| self.err("cannot update", &e))?;
        self.ensure_run(&tx, &now)
            .map_err(|e| self.err("cannot record use", &e))?;
        tx.execute(
            "INSERT OR IGNORE INTO usage(run_id, test_id, request_hash) VALUES (?1, ?2, ?3)",
            params![self.run_id, test_id, hash],
        )
        .map_err(|e| self.err("cannot record use", &e))?;
        tx.commit().map_err(|e| self.err("cannot update", &e))
    }

    /// Makes sure this process's run has its row (the first write of a run adds it).
    fn ensure_run(&self, tx: &rusqlite::Transaction<'_>, now: &str) -> rusqlite::Result<usize> {
        tx.execute(
            "INSERT OR IGNORE INTO runs(run_id, started_at) VALUES (?1, ?2)",
            params![self.run_id, now],
        )
    }

    /// Records that `test_id` ran in this run (even if it used nothing). The latest
    /// such run of a test is the one `prune` judges it by; call it when the test
    /// finished, so that a test that stopped half-way does not look like it needs less.
    pub fn begin_test(&self, test_id: &str) -> Result<()> {
        let now = rfc3339_millis(SystemTime::now());
        let mut conn = self.lock();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| self.err("cannot record a test run", &e))?;
        self.ensure_run(&tx, &now)
            .map_err(|e| self.err("cannot record a test run", &e))?;
        tx.execute(
            "INSERT OR IGNORE INTO test_runs(run_id, test_id, started_at) VALUES (?1, ?2, ?3)",
            params![self.run_id, test_id, now],
        )
        .map_err(|e| self.err("cannot record a test run", &e))?;
        tx.commit()
            .map_err(|e| self.err("cannot record a test run", &e))
    }

    /// Records that `test_id` used these recordings (request hashes) in this run.
    pub fn mark_used(&self, test_id: &str, hashes: &[String]) -> Result<()> {
        let now = rfc3339_millis(SystemTime::now());
        let mut conn = self.lock();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| self.err("cannot record use", &e))?;
        self.ensure_run(&tx, &now)
            .map_err(|e| self.err("cannot record use", &e))?;
        {
            let mut insert = tx.prepare("INSERT OR IGNORE INTO usage(run_id, test_id, request_hash) VALUES (?1, ?2, ?3)").map_err(|e| self.err("cannot record use", &e))?;
            for hash in hashes {
                insert
                    .execute(params![self.run_id, test_id, hash])
                    .map_err(|e| self.err("cannot record use", &e))?;
            }
        }
        tx.commit().map_err(|e| self.err("cannot record use", &e))
    }

    /// Folds the tests' usage logs (`<root>/.usage/*.jsonl`, see
    /// [`recorder_runtime::usage`]) into the record of use: the runs, which tests ran
    /// to their end in each, and which recordings they used. Lines already folded are
    /// skipped (the index remembers how many lines of each log it took); a log fully
    /// folded and untouched for an hour is removed. Returns how many lines were folded.
    pub fn ingest_usage(&self) -> Result<usize> {
        let logs = read_usage(&self.root)?;
        let mut folded = 0;
        for (path, lines) in logs {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let key = format!("usage:{name}");
            let done: usize = self.meta(&key)?.and_then(|v| v.parse().ok()).unwrap_or(0);
            if lines.len() > done {
                self.fold(&key, &lines[done..], lines.len())?;
                folded += lines.len() - done;
            }
            let idle = std::fs::metadata(&path)
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age > Duration::from_secs(3600));
            if idle {
                let _ = std::fs::remove_file(&path);
                let conn = self.lock();
                let _ = conn.execute("DELETE FROM meta WHERE key = ?1", [&key]);
            }
        }
        Ok(folded)
    }

    fn fold(&self, key: &str, lines: &[UsageLine], total: usize) -> Result<()> {
        let mut conn = self.lock();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| self.err("cannot fold the usage logs", &e))?;
        let err = |e: rusqlite::Error| self.err("cannot fold the usage logs", &e);
        for line in lines {
            tx.execute(
                "INSERT OR IGNORE INTO runs(run_id, started_at) VALUES (?1, ?2)",
                params![line.run, line.run_started],
            )
            .map_err(err)?;
            if line.finished {
                tx.execute(
                    "INSERT OR IGNORE INTO test_runs(run_id, test_id, started_at) VALUES (?1, ?2, ?3)",
                    params![line.run, line.test, line.at],
                )
                .map_err(err)?;
            }
            for hash in line.used.iter().chain(&line.recorded) {
                tx.execute(
                    "INSERT OR IGNORE INTO usage(run_id, test_id, request_hash) VALUES (?1, ?2, ?3)",
                    params![line.run, line.test, hash],
                )
                .map_err(err)?;
            }
        }
        tx.execute(
            "INSERT OR REPLACE INTO meta(key, value) VALUES (?1, ?2)",
            params![key, total.to_string()],
        )
        .map_err(err)?;
        tx.commit().map_err(err)
    }

    /// Renames request hashes in the record of use (`old -> new`), for
    /// `cargo recordings migrate`, which renames the recordings whose request hash
    /// changed: what the tests used follows its recordings, so that `prune` does not
    /// take them for unused. Returns how many rows changed.
    pub fn rename_hashes(
        &self,
        renamed: &std::collections::BTreeMap<String, String>,
    ) -> Result<usize> {
        let mut conn = self.lock();
        let err = |e: rusqlite::Error| self.err("cannot rename request hashes", &e);
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        let mut changed = 0;
        for (old, new) in renamed {
            changed += tx
                .execute(
                    "UPDATE OR IGNORE usage SET request_hash = ?2 WHERE request_hash = ?1",
                    params![old, new],
                )
                .map_err(err)?;
            // Rows already there under the new hash: the old ones are duplicates.
            tx.execute("DELETE FROM usage WHERE request_hash = ?1", [old])
                .map_err(err)?;
        }
        tx.commit().map_err(err)?;
        Ok(changed)
    }

    /// The rows matching `filter`, ordered by test, endpoint and file.
    pub fn entries(&self, filter: &EntryFilter) -> Result<Vec<Entry>> {
        let mut sql = String::from("SELECT request_hash, file_path, test_id, method, endpoint, model, is_streaming, status, recorded_at, size, occurrence FROM recordings WHERE 1=1");
        let mut args: Vec<String> = Vec::new();
        if let Some(t) = &filter.test {
            args.push(t.clone());
            sql.push_str(&format!(" AND instr(test_id, ?{}) > 0", args.len()));
        }
        if let Some(e) = &filter.endpoint {
            args.push(e.clone());
            sql.push_str(&format!(" AND instr(endpoint, ?{}) > 0", args.len()));
        }
        if let Some(m) = &filter.model {
            args.push(m.clone());
            sql.push_str(&format!(" AND model = ?{}", args.len()));
        }
        if let Some(h) = &filter.hash_prefix {
            args.push(h.to_ascii_lowercase());
            sql.push_str(&format!(
                " AND substr(request_hash, 1, length(?{0})) = ?{0}",
                args.len()
            ));
        }
        sql.push_str(
            " ORDER BY test_id IS NOT NULL, test_id, endpoint, request_hash, occurrence, file_path",
        );
        self.query(&sql, rusqlite::params_from_iter(args.iter()), |r| {
            Ok(Entry {
                request_hash: r.get(0)?,
                file_path: PathBuf::from(r.get::<_, String>(1)?),
                test_id: r.get(2)?,
                method: r.get(3)?,
                endpoint: r.get(4)?,
                model: r.get(5)?,
                is_streaming: r.get::<_, i64>(6)? != 0,
                status: r.get::<_, i64>(7)?.clamp(0, u16::MAX as i64) as u16,
                recorded_at: r.get(8)?,
                size: r.get::<_, i64>(9)?.max(0) as u64,
                occurrence: r.get::<_, i64>(10)?.clamp(1, u32::MAX as i64) as u32,
            })
        })
    }

    /// The files the index skipped at its last rebuild, with the reasons.
    pub fn skipped(&self) -> Result<Vec<Skipped>> {
        self.query(
            "SELECT file_path, reason FROM skipped ORDER BY file_path",
            [],
            |r| {
                Ok(Skipped {
                    path: self.root.join(r.get::<_, String>(0)?),
                    reason: r.get(1)?,
                })
            },
        )
    }

    /// The latest recorded run of every test that has one: `(test_id, run_id)`, by test.
    pub fn latest_runs(&self) -> Result<Vec<(String, String)>> {
        self.query(
            "SELECT test_id, run_id FROM (SELECT test_id, run_id, ROW_NUMBER() OVER (PARTITION BY test_id ORDER BY started_at DESC, rowid DESC) AS rn FROM test_runs) WHERE rn = 1 ORDER BY test_id",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
    }

    /// The recording files (under the root) that `prune` removes: for each test with a
    /// recorded run, the recordings of that test that its latest run did not use (nor
    /// any run started since, e.g. one that recorded them); tests without a recorded
    /// run keep everything. A shared model list goes only when no test used it in its
    /// latest run and every test that has recordings has a recorded run. Run this on a
    /// fresh index ([`ensure_fresh`](Self::ensure_fresh)).
    pub fn unused_for_latest_runs(&self) -> Result<Vec<PathBuf>> {
        self.query(UNUSED_SQL, [], |r| {
            Ok(self.root.join(r.get::<_, String>(0)?))
        })
    }

    /// The rows of a query, each through `row`.
    fn query<T>(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
        row: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Vec<T>> {
        let conn = self.lock();
        let err = |e: rusqlite::Error| self.err("cannot query", &e);
        let mut stmt = conn.prepare(sql).map_err(err)?;
        let rows = stmt.query_map(params, row).map_err(err)?;
        rows.collect::<rusqlite::Result<Vec<T>>>().map_err(err)
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves sqlite consistent (transactions roll back).
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn err(&self, what: &str, e: &rusqlite::Error) -> Error {
        sql_error(&self.path, what, e)
    }

    fn stat_rel(&self, rel_path: &Path) -> Result<(String, i64, i64)> {
        let full = self.root.join(rel_path);
        let meta =
            std::fs::metadata(&full).map_err(|e| Error::io("cannot index recording", &full, e))?;
        let (size, mtime_ns) = stat(&meta);
        Ok((relative_key(&self.root, &full), size, mtime_ns))
    }

    /// `(relative path, size, mtime)` of every JSON file in the store.
    fn scan(&self, store: &Store) -> Result<HashMap<String, (i64, i64)>> {
        let mut out = HashMap::new();
        for path in store.files()? {
            match std::fs::metadata(&path) {
                Ok(m) => {
                    out.insert(relative_key(store.root(), &path), stat(&m));
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io("cannot read recording", &path, e)),
            }
        }
        Ok(out)
    }

    /// `(relative path, size, mtime)` of every file the index knows, indexed or skipped.
    fn known_files(&self) -> Result<HashMap<String, (i64, i64)>> {
        let rows = self.query("SELECT file_path, size, mtime_ns FROM recordings UNION ALL SELECT file_path, size, mtime_ns FROM skipped", [], |r| {
            Ok((r.get::<_, String>(0)?, (r.get::<_, i64>(1)?, r.get::<_, i64>(2)?)))
        })?;
        Ok(rows.into_iter().collect())
    }

    /// The value of a `meta` key (e.g. `rebuilt_at`).
    pub fn meta(&self, key: &str) -> Result<Option<String>> {
        let conn = self.lock();
        conn.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()
            .map_err(|e| self.err("cannot query", &e))
    }
}

/// A row of `recordings`, ready to insert.
struct Row<'a> {
    hash: &'a str,
    rel: &'a str,
    rec: &'a Recording,
    recorded_at: String,
    size: i64,
    mtime_ns: i64,
}

impl<'a> Row<'a> {
    fn new(rec: &'a Recording, hash: &'a str, rel: &'a str, size: i64, mtime_ns: i64) -> Self {
        let recorded_at = rfc3339(UNIX_EPOCH + Duration::from_nanos(mtime_ns.max(0) as u64));
        Row {
            hash,
            rel,
            rec,
            recorded_at,
            size,
            mtime_ns,
        }
    }

    fn params(&self) -> impl rusqlite::Params + '_ {
        let (req, resp) = (&self.rec.request, &self.rec.response);
        (
            self.hash,
            self.rel,
            self.rec.test_id.as_deref(),
            req.endpoint.as_str(),
            req.model.as_deref(),
            i64::from(resp.is_streaming()),
            self.recorded_at.as_str(),
            req.method.as_str(),
            i64::from(resp.status),
            self.size,
            self.mtime_ns,
            i64::from(
                RecordingKey::parse(self.rel.rsplit('/').next().unwrap_or(self.rel))
                    .map_or(1, |k| k.occurrence()),
            ),
        )
    }
}

fn upsert_row(conn: &Connection, row: &Row<'_>) -> rusqlite::Result<()> {
    conn.execute(INSERT_RECORDING, row.params())?;
    conn.execute("DELETE FROM skipped WHERE file_path = ?1", [row.rel])?;
    Ok(())
}

fn stat(meta: &std::fs::Metadata) -> (i64, i64) {
    let size = i64::try_from(meta.len()).unwrap_or(i64::MAX);
    let mtime_ns = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
        .unwrap_or(0);
    (size, mtime_ns)
}

/// A path relative to `root`, with `/` separators (the index's key for a file).
pub fn relative_key(root: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(root).unwrap_or(path);
    let parts: Vec<String> = rel
        .components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
            Component::ParentDir => Some("..".to_owned()),
            _ => None,
        })
        .collect();
    parts.join("/")
}

/// The request hash a file is named after: `<hash>.json`, or
/// `_models/models-<hash>-<digest8>.json` for model lists.
pub fn file_hash(path: &Path) -> Option<String> {
    if let Some(key) = RecordingKey::of_path(path) {
        return Some(key.hash().to_owned());
    }
    let in_models = path
        .parent()
        .and_then(|p| p.file_name())
        .is_some_and(|n| n == MODELS_DIR);
    let name = path.file_name()?.to_str()?;
    let rest = name.strip_prefix("models-")?.strip_suffix(".json")?;
    let (hash, digest) = rest.split_once('-')?;
    let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
    (in_models && hex(hash, 64) && hex(digest, 8)).then(|| hash.to_owned())
}

fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

fn sql_error(path: &Path, what: &str, e: &rusqlite::Error) -> Error {
    let advice = if is_busy(e) {
        format!("another process held the index for more than {}s; retry, or delete {} (it is rebuilt from the JSON files)", BUSY_TIMEOUT.as_secs(), path.display())
    } else {
        format!(
            "delete {}; it is rebuilt from the JSON files",
            path.display()
        )
    };
    Error::Sqlite {
        path: path.to_path_buf(),
        reason: format!("{what}: {e}. To fix: {advice}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        let at = |s: u64| rfc3339(UNIX_EPOCH + Duration::from_secs(s));
        assert_eq!(at(0), "1970-01-01T00:00:00Z");
        assert_eq!(at(86_399), "1970-01-01T23:59:59Z");
        assert_eq!(at(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(at(4_107_542_400), "2100-03-01T00:00:00Z");
        assert_eq!(at(1_709_164_800), "2024-02-29T00:00:00Z");
        assert_eq!(
            rfc3339_millis(UNIX_EPOCH + Duration::from_millis(1_700_000_000_042)),
            "2023-11-14T22:13:20.042Z"
        );
    }

    #[test]
    fn file_hashes() {
        let h = "a".repeat(64);
        assert_eq!(
            file_hash(Path::new(&format!("r/m/t/{h}.json"))),
            Some(h.clone())
        );
        assert_eq!(
            file_hash(Path::new(&format!("r/_models/models-{h}-0123abcd.json"))),
            Some(h.clone())
        );
        assert_eq!(
            file_hash(Path::new(&format!("r/x/models-{h}-0123abcd.json"))),
            None
        );
        assert_eq!(file_hash(Path::new("r/notes.json")), None);
    }

    #[test]
    fn keys_use_slashes() {
        assert_eq!(
            relative_key(Path::new("/r"), Path::new("/r/a/b/c.json")),
            "a/b/c.json"
        );
    }

    #[test]
    fn index_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<Index>();
    }
}
