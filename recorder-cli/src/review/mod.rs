//! What a re-record changed: the recordings that differ from git's `HEAD` (changed,
//! new, removed), grouped by test (a test's recordings and its `_ids.json` go
//! together), each test's exchanges paired old with new and compared in a reader's
//! terms ([`recorder_runtime::compare`]). `cargo recordings review` renders it and
//! accepts or rejects it per test; `cargo recordings report --html` highlights it.
//!
//! Accepting keeps the working tree as it is; rejecting writes `HEAD`'s version of the
//! test's files back and deletes its new ones. Neither stages nor commits anything.

pub mod render;

use crate::git::Repo;
use anyhow::Context;
use recorder_runtime::compare::{self, Change, Severity, Side};
use recorder_runtime::idmap::IDS_FILE;
use recorder_runtime::recording::Recording;
use recorder_runtime::store::{self, Store};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The recordings that differ from `HEAD`, by test.
#[derive(Debug)]
pub struct Review {
    /// The recordings folder.
    pub dir: PathBuf,
    /// The tests with a changed file, by folder.
    pub tests: Vec<TestReview>,
}

/// One test's changed files and exchanges.
#[derive(Debug)]
pub struct TestReview {
    /// The test's folder relative to the recordings folder, `/`-separated.
    pub folder: String,
    /// The test id its recordings name (`None`: shared model lists, or none readable).
    pub test_id: Option<String>,
    /// The exchanges that changed, appeared or went away.
    pub exchanges: Vec<Exchange>,
    /// Every file of the test that differs from `HEAD`, recordings and `_ids.json`.
    pub files: Vec<FileChange>,
}

/// A file that differs from `HEAD`.
#[derive(Debug)]
pub struct FileChange {
    /// Its path relative to the recordings folder.
    pub path: String,
    /// Modified, new or removed.
    pub state: FileState,
    /// `HEAD`'s bytes (for rejecting), or why they cannot be written back.
    head: Option<Result<Vec<u8>, String>>,
}

/// How a file differs from `HEAD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileState {
    /// In `HEAD` and in the working tree, with other contents.
    Modified,
    /// Only in the working tree.
    New,
    /// Only in `HEAD`.
    Removed,
}

impl FileState {
    /// `modified`, `new` or `removed`.
    pub fn name(self) -> &'static str {
        match self {
            FileState::Modified => "modified",
            FileState::New => "new",
            FileState::Removed => "removed",
        }
    }
}

/// One version of an exchange: its file name and recording (or why it is unreadable).
#[derive(Debug)]
pub struct Version {
    /// The file name in the test's folder.
    pub file: String,
    /// The recording, or what is wrong with the file.
    pub recording: Result<Recording, String>,
}

/// One exchange of a test: recorded again, new, or no longer made.
#[derive(Debug)]
pub struct Exchange {
    /// `HEAD`'s version.
    pub old: Option<Version>,
    /// The working tree's version.
    pub new: Option<Version>,
    /// What changed, when both versions are readable.
    pub changes: Vec<Change>,
}

/// Whether an exchange was recorded again, is new or went away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExchangeState {
    /// Both versions exist.
    Changed,
    /// Only the new one.
    New,
    /// Only the old one.
    Removed,
}

impl ExchangeState {
    /// `changed`, `new` or `removed`.
    pub fn name(self) -> &'static str {
        match self {
            ExchangeState::Changed => "changed",
            ExchangeState::New => "new",
            ExchangeState::Removed => "removed",
        }
    }
}

impl Exchange {
    /// Changed, new or removed.
    pub fn state(&self) -> ExchangeState {
        match (&self.old, &self.new) {
            (Some(_), Some(_)) => ExchangeState::Changed,
            (None, _) => ExchangeState::New,
            (_, None) => ExchangeState::Removed,
        }
    }

    /// The newest readable recording of the exchange.
    pub fn recording(&self) -> Option<&Recording> {
        [&self.new, &self.old]
            .into_iter()
            .flatten()
            .find_map(|v| v.recording.as_ref().ok())
    }

    /// The old recording, when readable.
    pub fn old_recording(&self) -> Option<&Recording> {
        self.old.as_ref()?.recording.as_ref().ok()
    }

    /// The new recording, when readable.
    pub fn new_recording(&self) -> Option<&Recording> {
        self.new.as_ref()?.recording.as_ref().ok()
    }

    /// The most severe of its changes.
    pub fn severity(&self) -> Option<Severity> {
        self.changes.iter().map(Change::severity).max()
    }

    /// Why a version cannot be read, if one cannot.
    pub fn unreadable(&self) -> Option<&str> {
        [&self.old, &self.new]
            .into_iter()
            .flatten()
            .find_map(|v| v.recording.as_ref().err().map(String::as_str))
    }
}

impl TestReview {
    /// The test id, else the folder: what a person and `--accept FILTER` go by.
    pub fn name(&self) -> &str {
        self.test_id.as_deref().unwrap_or(&self.folder)
    }

    /// Whether `filter` (a substring of the test id) selects this test.
    pub fn matches(&self, filter: &str) -> bool {
        self.name().contains(filter)
    }

    /// Writes `HEAD`'s version of every changed file of the test back, and deletes
    /// the files `HEAD` does not have. Returns (files restored, files deleted).
    pub fn reject(&self, dir: &Path) -> anyhow::Result<(usize, usize)> {
        let store = Store::new(dir);
        // Every file is checked before any is touched: all or nothing when one cannot
        // be written back.
        for f in &self.files {
            store.check_inside(&dir.join(&f.path))?;
            if let Some(Err(why)) = &f.head {
                anyhow::bail!(
                    "cannot restore {} from HEAD: {why}; restore it with `git restore --source=HEAD -- <file>`",
                    f.path
                );
            }
        }
        let (mut restored, mut deleted) = (0, 0);
        for f in &self.files {
            let path = dir.join(&f.path);
            match &f.head {
                Some(Ok(bytes)) => {
                    store.write_file(&path, bytes)?;
                    restored += 1;
                }
                Some(Err(_)) => unreachable!("checked above"),
                None => {
                    match std::fs::remove_file(&path) {
                        Ok(()) => deleted += 1,
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                        Err(e) => {
                            return Err(e)
                                .with_context(|| format!("cannot remove {}", path.display()))
                        }
                    }
                    crate::commands::prune::remove_empty_parents(dir, &path);
                }
            }
        }
        Ok((restored, deleted))
    }
}

/// Whether a path under the recordings folder is one review looks at: a recording or
/// a test's `_ids.json`, in any folder (hidden ones too: a pull request may hide one
/// there) but the usage logs' `.usage/`.
fn reviewed(path: &str) -> bool {
    let mut parts = path.split('/');
    let name = parts.next_back().unwrap_or_default();
    path.split('/').next() != Some(recorder_runtime::usage::USAGE_DIR)
        && (name == IDS_FILE || store::is_recording_name(name))
}

impl Review {
    /// The recordings under `dir` that differ from `HEAD` of the git repository
    /// holding `dir`.
    pub fn collect(dir: &Path) -> anyhow::Result<Review> {
        let repo = Repo::find(dir)?.with_context(|| {
            format!(
                "{} is not in a git repository: review compares the recordings with git's HEAD (commit them first)",
                dir.display()
            )
        })?;
        Self::collect_in(&repo, dir)
    }

    /// As [`Review::collect`], in a repository already found.
    pub fn collect_in(repo: &Repo, dir: &Path) -> anyhow::Result<Review> {
        let changed: Vec<_> = repo
            .changes(dir)?
            .into_iter()
            .filter(|c| reviewed(&c.path))
            .collect();
        // Files with the same contents share a blob: each is asked for once.
        let oids: std::collections::BTreeSet<&str> = changed
            .iter()
            .filter_map(|c| {
                c.head
                    .as_ref()
                    .filter(|h| h.is_file())
                    .map(|h| h.oid.as_str())
            })
            .collect();
        let limit = recorder_runtime::env::max_recording_bytes();
        let blobs = repo.blobs(&oids.into_iter().collect::<Vec<_>>(), limit)?;
        let mut folders: BTreeMap<String, Vec<FileChange>> = BTreeMap::new();
        for c in changed {
            let exists = std::fs::symlink_metadata(dir.join(&c.path)).is_ok();
            let head = c.head.map(|h| {
                if h.is_file() {
                    blobs
                        .get(&h.oid)
                        .cloned()
                        .unwrap_or_else(|| Err("git did not give HEAD's version".into()))
                } else {
                    Err("in HEAD it is a symlink or a submodule, not a file".into())
                }
            });
            let state = match (&head, exists) {
                (None, _) => FileState::New,
                (Some(_), true) => FileState::Modified,
                (Some(_), false) => FileState::Removed,
            };
            let folder = c.path.rsplit_once('/').map_or("", |(f, _)| f).to_owned();
            folders.entry(folder).or_default().push(FileChange {
                path: c.path,
                state,
                head,
            });
        }
        let tests = folders
            .into_iter()
            .map(|(folder, files)| test_review(dir, folder, files))
            .collect();
        Ok(Review {
            dir: dir.to_path_buf(),
            tests,
        })
    }

    /// How many exchanges are changed, new and removed, and how many have a breaking change.
    pub fn counts(&self) -> Counts {
        let mut c = Counts {
            tests: self.tests.len(),
            ..Counts::default()
        };
        for e in self.tests.iter().flat_map(|t| &t.exchanges) {
            match e.state() {
                ExchangeState::Changed => c.changed += 1,
                ExchangeState::New => c.new += 1,
                ExchangeState::Removed => c.removed += 1,
            }
            if e.severity() == Some(Severity::Breaking) {
                c.breaking += 1;
            }
            if e.unreadable().is_some() {
                c.unreadable += 1;
            }
        }
        c
    }
}

/// Counts over a [`Review`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Tests with a changed file.
    pub tests: usize,
    /// Exchanges recorded again with another answer (or request).
    pub changed: usize,
    /// Exchanges only in the working tree.
    pub new: usize,
    /// Exchanges only in `HEAD`.
    pub removed: usize,
    /// Exchanges with a breaking change (status, finish reason, tool calls).
    pub breaking: usize,
    /// Exchanges with a file that cannot be read.
    pub unreadable: usize,
}

fn test_review(dir: &Path, folder: String, files: Vec<FileChange>) -> TestReview {
    let name_of = |p: &str| p.rsplit('/').next().unwrap_or(p).to_owned();
    let mut old: Vec<Version> = Vec::new();
    let mut new: Vec<Version> = Vec::new();
    for f in files.iter().filter(|f| !f.path.ends_with(IDS_FILE)) {
        let file = name_of(&f.path);
        if let Some(head) = &f.head {
            let recording = match head {
                Ok(bytes) => Recording::from_slice(bytes, Path::new(&f.path))
                    .map_err(|e| format!("HEAD's version: {e}")),
                Err(why) => Err(format!("HEAD's version: {why}")),
            };
            old.push(Version {
                file: file.clone(),
                recording,
            });
        }
        if f.state != FileState::Removed {
            let recording = crate::store_at(dir)
                .read_recording(&dir.join(&f.path))
                .map_err(|e| e.to_string());
            new.push(Version { file, recording });
        }
    }
    let test_id = new
        .iter()
        .chain(&old)
        .find_map(|v| v.recording.as_ref().ok()?.test_id.clone());
    TestReview {
        folder,
        test_id,
        exchanges: exchanges(old, new),
        files,
    }
}

/// Pairs a test's old and new versions (see [`compare::pair`]) and compares them.
/// Unreadable versions pair only with the file of the same name.
fn exchanges(old: Vec<Version>, new: Vec<Version>) -> Vec<Exchange> {
    let mut old: Vec<Option<Version>> = old.into_iter().map(Some).collect();
    let mut new: Vec<Option<Version>> = new.into_iter().map(Some).collect();
    let readable = |v: &Option<Version>| v.as_ref().is_some_and(|v| v.recording.is_ok());
    let mut out = Vec::new();
    for o in old.iter_mut() {
        let Some(j) = new
            .iter()
            .position(|n| n.as_ref().map(|n| &n.file) == o.as_ref().map(|o| &o.file))
        else {
            continue;
        };
        if !readable(o) || !readable(&new[j]) {
            out.push(Exchange {
                old: o.take(),
                new: new[j].take(),
                changes: Vec::new(),
            });
        }
    }
    let (old_sides, new_sides) = (sides(&old), sides(&new));
    let pairs = compare::pair(
        &old_sides.iter().map(|(_, s)| *s).collect::<Vec<_>>(),
        &new_sides.iter().map(|(_, s)| *s).collect::<Vec<_>>(),
    );
    let index: Vec<(Option<usize>, Option<usize>)> = pairs
        .into_iter()
        .map(|(i, j)| (i.map(|i| old_sides[i].0), j.map(|j| new_sides[j].0)))
        .collect();
    for (i, j) in index {
        let o = i.and_then(|i| old[i].take());
        let n = j.and_then(|j| new[j].take());
        let changes = match (&o, &n) {
            (Some(o), Some(n)) => compare::compare(
                o.recording.as_ref().expect("readable"),
                n.recording.as_ref().expect("readable"),
            ),
            _ => Vec::new(),
        };
        out.push(Exchange {
            old: o,
            new: n,
            changes,
        });
    }
    // Unreadable versions without a partner.
    out.extend(old.into_iter().flatten().map(|o| Exchange {
        old: Some(o),
        new: None,
        changes: Vec::new(),
    }));
    out.extend(new.into_iter().flatten().map(|n| Exchange {
        old: None,
        new: Some(n),
        changes: Vec::new(),
    }));
    out.sort_by_key(|e| (e.state() as u8, sort_key(e)));
    out
}

/// The readable versions as sides for [`compare::pair`], with their indexes.
fn sides(vs: &[Option<Version>]) -> Vec<(usize, Side<'_>)> {
    vs.iter()
        .enumerate()
        .filter_map(|(i, v)| {
            let v = v.as_ref()?;
            Some((
                i,
                Side {
                    file: &v.file,
                    recording: v.recording.as_ref().ok()?,
                },
            ))
        })
        .collect()
}

fn sort_key(e: &Exchange) -> (String, String) {
    match e.recording() {
        Some(r) => (r.request.endpoint.clone(), r.request.method.clone()),
        None => Default::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn review_looks_at_recordings_and_id_maps_only() {
        let h = "a".repeat(64);
        assert!(reviewed(&format!("chat/t/{h}.json")));
        assert!(reviewed(&format!("chat/t/{h}.2.json")));
        assert!(reviewed("chat/t/_ids.json"));
        assert!(reviewed("_models/models-x-y.json"));
        assert!(!reviewed(&format!(".usage/{h}.json")));
        // A hidden folder is no hiding place.
        assert!(reviewed(&format!(".hidden/t/{h}.json")));
        assert!(reviewed(&format!("chat/.t/{h}.json")));
        assert!(!reviewed("index.sqlite"));
        assert!(!reviewed("chat/t/notes.json"));
    }
}
