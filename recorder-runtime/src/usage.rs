//! The record of use: which recordings each test used, run by run, so that
//! `cargo recordings prune` can remove what no test needs any more.
//!
//! Tests only append JSON lines, one file per test process, to
//! `<recordings>/.usage/<start time>-<pid>.jsonl` (cheap, no lock, no database in the test
//! binary); `cargo recordings` folds them into `recordings/index.sqlite` when it needs
//! them. The folder ignores itself in git (a `.gitignore` of `*` is written in it).
//! It also holds the token count of each run of several processes that has a budget
//! (`budget-<run>.tokens`, see `RECORDER_BUDGET_TOKENS`).
//!
//! Every read and write goes through the store's safe reader and writer: a `.usage`
//! that is a symlink (say, committed to a repository), a symlink at a log's or at
//! `.gitignore`'s name, or a FIFO among the logs is refused by name, never followed or
//! waited on.
//!
//! ```text
//! {"run":"2026-12-02T10:00:00.000Z-4242","test":"examples::chat::answers[text=m]","recorded":"3fa9…","saved":"equivalent"}
//! {"run":"2026-12-02T10:00:00.000Z-4242","test":"examples::chat::answers[text=m]","finished":true,"used":["3fa9…"]}
//! ```
//!
//! A run is named by `RECORDER_RUN_ID` when set (one name for a whole CI job across
//! test binaries), else by the process's start time and pid. A `finished` line says
//! the test ran to its end in that run (the latest such run of a test is what prune
//! judges it by) and which recordings it replayed; a `recorded` line counts a
//! recording the test made as used by it in that run, and says in `saved` what that
//! did to the file (`new`, `changed`, or kept: `identical`, `equivalent` within the
//! float tolerance; see [`crate::report`]).
//!
//! ```
//! use recorder_runtime::usage::{read_usage, UsageLog};
//! let dir = std::env::temp_dir().join(format!("usage-doc-{}", std::process::id()));
//! let log = UsageLog::new(&dir);
//! log.test_finished("my::test", &["ab".repeat(32)]).unwrap();
//! let lines: Vec<_> = read_usage(&dir).unwrap().into_iter().flat_map(|(_, l)| l).collect();
//! assert!(lines.iter().any(|l| l.test == "my::test" && l.finished));
//! ```

use crate::error::{Error, Result};
use crate::time::rfc3339_millis;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::SystemTime;

/// The folder of usage logs inside a recordings folder.
pub use crate::store::USAGE_DIR;

/// One line of a usage log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageLine {
    /// The run.
    pub run: String,
    /// When the run started (RFC 3339 UTC, milliseconds): runs sort by it.
    pub run_started: String,
    /// The test.
    pub test: String,
    /// When this was written (RFC 3339 UTC, milliseconds).
    pub at: String,
    /// The test ran to its end in this run.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub finished: bool,
    /// Request hashes of the recordings it replayed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub used: Vec<String>,
    /// The request hash of a recording it wrote.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recorded: Option<String>,
    /// What recording it did to the file: `new`, `changed`, `identical`, or
    /// `equivalent` (kept: the same answer but for floats within the tolerance).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub saved: Option<String>,
}

/// The current run: `RECORDER_RUN_ID` when set, else the process's start time and pid
/// (`2025-01-31T12:00:00.123Z-4242`); and when it started.
pub fn current_run() -> &'static (String, String) {
    static RUN: OnceLock<(String, String)> = OnceLock::new();
    RUN.get_or_init(|| {
        let started = rfc3339_millis(SystemTime::now());
        let id = crate::env::run_id()
            .map(|v| v.trim().to_owned())
            .unwrap_or_else(|| format!("{started}-{}", std::process::id()));
        (id, started)
    })
}

/// This process's usage log in a recordings folder.
#[derive(Debug)]
pub struct UsageLog {
    /// The recordings folder, whose safe writer writes the log.
    store: crate::store::Store,
    dir: PathBuf,
    file: Mutex<Option<std::fs::File>>,
}

impl UsageLog {
    /// The log of recordings folder `root` (nothing is written until a line is).
    pub fn new(root: &Path) -> UsageLog {
        UsageLog {
            store: crate::store::Store::new(root),
            dir: dir(root),
            file: Mutex::new(None),
        }
    }

    /// Records that `test` ran to its end, replaying the recordings of `used`.
    pub fn test_finished(&self, test: &str, used: &[String]) -> Result<()> {
        self.write(UsageLine {
            finished: true,
            used: used.to_vec(),
            ..self.line(test)
        })
    }

    /// Records that `test` recorded request hash `hash`, and what that did to its
    /// file.
    pub fn recorded(&self, test: &str, hash: &str, saved: &crate::store::Saved) -> Result<()> {
        use crate::store::Saved;
        let saved = match saved {
            Saved::New => "new",
            Saved::Changed(_) => "changed",
            Saved::Identical => "identical",
            Saved::Equivalent { .. } => "equivalent",
        };
        self.write(UsageLine {
            recorded: Some(hash.to_owned()),
            saved: Some(saved.to_owned()),
            ..self.line(test)
        })
    }

    fn line(&self, test: &str) -> UsageLine {
        let (run, run_started) = current_run().clone();
        UsageLine {
            run,
            run_started,
            test: test.to_owned(),
            at: rfc3339_millis(SystemTime::now()),
            finished: false,
            used: Vec::new(),
            recorded: None,
            saved: None,
        }
    }

    fn write(&self, line: UsageLine) -> Result<()> {
        let mut text = serde_json::to_vec(&line).expect("a usage line serializes");
        text.push(b'\n');
        let mut file = self.file.lock().unwrap();
        if file.is_none() {
            create_dir(&self.dir)?;
            // Named by start time and pid: one file per process, sorted by time.
            let started: String = current_run()
                .1
                .chars()
                .map(|c| if c.is_ascii_digit() { c } else { '-' })
                .collect();
            let path = self
                .dir
                .join(format!("{started}{}.jsonl", std::process::id()));
            *file = Some(self.store.open_append(&path)?);
        }
        // One write of a whole line: lines of concurrent writers never interleave.
        file.as_mut()
            .expect("opened above")
            .write_all(&text)
            .map_err(|e| Error::io("cannot write the usage log", &self.dir, e))
    }
}

/// The folder of usage logs (and of runs' token counts) of recordings folder `root`.
pub(crate) fn dir(root: &Path) -> PathBuf {
    root.join(USAGE_DIR)
}

/// Creates the usage folder `dir` (see [`dir`]) if needed, with the `.gitignore` that
/// keeps it out of git.
pub(crate) fn create_dir(dir: &Path) -> Result<()> {
    // A `.usage` that is a symlink (say, committed) is never written through.
    if std::fs::symlink_metadata(dir).is_ok_and(|m| m.file_type().is_symlink()) {
        return Err(Error::io(
            "cannot write the usage log",
            dir,
            std::io::Error::other(
                "it is a symlink: the recorder keeps its usage logs in a folder of its own and never follows a link there; remove it",
            ),
        ));
    }
    std::fs::create_dir_all(dir)
        .map_err(|e| Error::io("cannot create the usage log folder", dir, e))?;
    let ignore = dir.join(".gitignore");
    // Written only where nothing is: `create_new` never follows a symlink there (a
    // dangling one is left alone, and `check` reports it).
    if std::fs::symlink_metadata(&ignore).is_err() {
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&ignore)
        {
            let _ = f.write_all(
                b"# The record of use of `cargo recordings prune` and runs' token counts: local, never committed.\n*\n",
            );
        }
    }
    Ok(())
}

/// Every usage log of a recordings folder, with its lines, sorted by file (a line that
/// does not parse, such as one cut by a crash, is left out).
pub fn read_usage(root: &Path) -> Result<Vec<(PathBuf, Vec<UsageLine>)>> {
    let dir = root.join(USAGE_DIR);
    match std::fs::symlink_metadata(&dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io("cannot read the usage logs", &dir, e)),
        Ok(meta) if !meta.is_dir() => {
            return Err(Error::io(
                "cannot read the usage logs",
                &dir,
                std::io::Error::other(
                    "it is not a plain folder (a symlink, or a file): the recorder keeps its usage logs in a folder of its own; remove it",
                ),
            ))
        }
        Ok(_) => {}
    }
    let entries =
        std::fs::read_dir(&dir).map_err(|e| Error::io("cannot read the usage logs", &dir, e))?;
    let store = crate::store::Store::new(root);
    let mut out = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().is_none_or(|e| e != "jsonl") {
            continue;
        }
        let text = store.read_file(&path)?;
        let text = String::from_utf8_lossy(&text);
        let lines = text
            .lines()
            .filter_map(|l| serde_json::from_str::<UsageLine>(l).ok())
            .collect();
        out.push((path, lines));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// Renames request hashes (`old -> new`) in every usage log of a recordings folder,
/// each log rewritten atomically with its lines in place (a line that does not parse is
/// kept as it is): for `cargo recordings migrate`, which renames the recordings whose
/// request hash changed, so that the record of use follows them. Returns the logs
/// rewritten. No test may be writing to the folder meanwhile.
///
/// ```
/// use recorder_runtime::usage::{read_usage, rename_hashes, UsageLog};
/// let dir = tempfile::tempdir().unwrap();
/// UsageLog::new(dir.path()).test_finished("t", &["old".into(), "kept".into()]).unwrap();
/// let renamed = [("old".to_string(), "new".to_string())].into();
/// assert_eq!(rename_hashes(dir.path(), &renamed).unwrap().len(), 1);
/// let (_, lines) = &read_usage(dir.path()).unwrap()[0];
/// assert_eq!(lines[0].used, ["new", "kept"]);
/// assert!(rename_hashes(dir.path(), &renamed).unwrap().is_empty(), "nothing left to rename");
/// ```
pub fn rename_hashes(
    root: &Path,
    renamed: &std::collections::BTreeMap<String, String>,
) -> Result<Vec<PathBuf>> {
    let mut rewritten = Vec::new();
    for (path, _) in read_usage(root)? {
        let text = crate::store::read_file(&path, crate::store::DEFAULT_MAX_FILE_BYTES)?;
        let text = String::from_utf8_lossy(&text);
        let mut changed = false;
        let mut out = String::with_capacity(text.len());
        for line in text.split_inclusive('\n') {
            let (body, end) = match line.strip_suffix('\n') {
                Some(body) => (body, "\n"),
                None => (line, ""),
            };
            let Ok(mut parsed) = serde_json::from_str::<UsageLine>(body) else {
                out.push_str(line);
                continue;
            };
            let mut hit = false;
            for hash in parsed.used.iter_mut().chain(parsed.recorded.iter_mut()) {
                if let Some(new) = renamed.get(hash.as_str()) {
                    *hash = new.clone();
                    hit = true;
                }
            }
            if hit {
                changed = true;
                out.push_str(&serde_json::to_string(&parsed).expect("a usage line serializes"));
                out.push_str(end);
            } else {
                out.push_str(line);
            }
        }
        if changed {
            crate::store::Store::new(root).write_file(&path, out.as_bytes())?;
            rewritten.push(path);
        }
    }
    Ok(rewritten)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_round_trip_and_the_folder_ignores_itself() {
        let dir = tempfile::tempdir().unwrap();
        let log = UsageLog::new(dir.path());
        log.recorded("t::a", "h1", &crate::store::Saved::Identical)
            .unwrap();
        log.test_finished("t::a", &["h2".into()]).unwrap();
        let all = read_usage(dir.path()).unwrap();
        assert_eq!(all.len(), 1);
        let lines = &all[0].1;
        assert_eq!(lines[0].recorded.as_deref(), Some("h1"));
        assert_eq!(lines[0].saved.as_deref(), Some("identical"));
        assert!(lines[1].finished && lines[1].used == ["h2"]);
        assert_eq!(
            std::fs::read_to_string(dir.path().join(".usage/.gitignore"))
                .unwrap()
                .lines()
                .last(),
            Some("*")
        );
    }
}
