//! `cargo recordings check`: every recording parses, is of the current format and
//! identity scheme (older: migrate; newer: upgrade the recorder), is a regular file
//! named after its request's hash (and occurrence) where replay looks for it, of a
//! test id that can have recordings, is normalized with its test's id map up to date,
//! holds no secret, and sends back only ids that its test issued. Every folder is
//! looked at, hidden ones too; nothing in the folder may be a symlink, FIFO or device
//! (the recorder never reads or writes through one), and `.usage/` holds only usage
//! logs. Nothing is read but plain files under the size limit, so no crafted entry
//! can make it wait or fill memory.

use crate::{display_path, existing_dir, progress, DirArgs, EXIT_OK, EXIT_PROBLEMS};
use recorder_runtime::idmap::{placeholders_in, IdsFile, IDS_FILE};
use recorder_runtime::recording::version::{Version, CHAIN};
use recorder_runtime::recording::Recording;
use recorder_runtime::store::{self, RecordingKey, MODELS_DIR};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The configured API keys' values (from `recorder.toml`'s `api_key_env` variables
/// that are set, in the environment, `RECORDER_ENV` or the setup's `env`, and hold
/// secrets), with their variable names.
fn configured_secrets(dir: &Path) -> Vec<(String, String)> {
    let config = recorder_config::Config::discover(dir)
        .ok()
        .flatten()
        .or_else(|| {
            let cwd = std::env::current_dir().ok()?;
            recorder_config::Config::discover(&cwd).ok().flatten()
        });
    let mut out: Vec<(String, String)> = Vec::new();
    for setup in config.iter().flat_map(|c| c.setups.values()) {
        // Read as the tests read it: the environment, else RECORDER_ENV, else the
        // setup's `env`.
        for (var, value) in recorder_runtime::engine::Target::from_setup(setup).secrets() {
            let value = value.trim();
            if recorder_runtime::secrets::is_secret(value) && !out.iter().any(|(n, _)| *n == var) {
                out.push((var, value.to_owned()));
            }
        }
    }
    out
}

/// One problem [`check_dir`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The file.
    pub path: PathBuf,
    /// What is wrong.
    pub what: String,
}

/// Checks every recording under `dir` (see `cargo recordings check --help`); returns
/// how many files were checked and the problems, by file. `on_file` is called once per
/// file (for progress).
pub fn check_dir(
    dir: &Path,
    on_file: &mut dyn FnMut(usize),
) -> anyhow::Result<(usize, Vec<Problem>)> {
    let store = crate::store_at(dir);
    let files = store.files()?;
    let configured = configured_secrets(dir);
    let mut problems = Vec::new();
    let mut problem = |path: &Path, what: String| {
        problems.push(Problem {
            path: path.to_path_buf(),
            what,
        })
    };
    let mut folders: BTreeMap<PathBuf, Vec<(String, Recording)>> = BTreeMap::new();
    let mut by_key: BTreeMap<RecordingKey, Vec<PathBuf>> = BTreeMap::new();
    for path in &files {
        on_file(files.len());
        let (rec, found) = match store.read_recording_versioned(path) {
            Ok(r) => r,
            // A newer recorder's: what to do, once.
            Err(recorder_runtime::Error::Format { files, .. }) => {
                for (_, advice) in files {
                    problem(path, advice);
                }
                continue;
            }
            Err(e) => {
                problem(path, format!("cannot be read: {e}"));
                continue;
            }
        };
        if let Some(Err(e)) = rec.test_id.as_deref().map(store::check_test_id) {
            problem(path, format!("{e}; replay never serves it"));
        }
        let json = serde_json::to_value(&rec).expect("a recording is JSON");
        let hash = rec.request_hash();
        let name = path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let in_models = path
            .parent()
            .and_then(Path::file_name)
            .is_some_and(|n| n == MODELS_DIR);
        let named = if in_models {
            name.strip_prefix("models-")
                .and_then(|rest| rest.get(..64))
                .map(RecordingKey::first)
        } else {
            RecordingKey::parse(&name)
        };
        if found != Version::CURRENT {
            if named.as_ref().is_some_and(|n| n.hash() != hash) {
                // Its test's other checks would only repeat it: migrate renames it.
                problem(path, CHAIN.older(found));
                continue;
            }
            problem(
                path,
                format!(
                    "is {found}, older than this recorder's {}: run `cargo recordings migrate`",
                    Version::CURRENT
                ),
            );
        }
        match named {
            None => problem(path, format!("is not named after its request's hash ({hash}.json)")),
            Some(named) if named.hash() != hash => problem(
                path,
                format!("is named {} but its request's hash is {hash} (the request was edited, or the file renamed): run `cargo recordings normalize`", named.hash()),
            ),
            Some(named) => {
                let expected = match &rec.test_id {
                    Some(t) => store.recording_path(t, &named),
                    None => store.model_list_path(&hash, &store::model_set_digest(&rec.response)),
                };
                if expected != *path {
                    problem(
                        path,
                        format!("is not where replay looks for it: expected {}", display_path(dir, &expected)),
                    );
                }
                if rec.test_id.is_some() {
                    by_key.entry(named).or_default().push(path.clone());
                }
            }
        }
        if rec.test_id.is_some() == in_models {
            let what = if in_models {
                "a test's recording in the shared model lists folder"
            } else {
                "a shared model list outside _models/"
            };
            problem(path, format!("is {what}"));
        }
        for (at, what) in recorder_runtime::secrets::findings(&rec, &json, &configured) {
            problem(
                path,
                format!("holds {what} at {at}: remove it, rotate the key, and re-record"),
            );
        }
        if in_models {
            let mut normalized = rec.clone();
            normalized
                .response
                .for_each_json_mut(recorder_runtime::normalize::normalize_timestamps);
            if normalized != rec {
                problem(
                    path,
                    "is not normalized: run `cargo recordings normalize`".into(),
                );
            }
        } else if let Some(folder) = path.parent() {
            folders
                .entry(folder.to_path_buf())
                .or_default()
                .push((name, rec));
        }
    }
    for (key, paths) in by_key {
        if paths.len() > 1 {
            let others: Vec<String> = paths.iter().map(|p| display_path(dir, p)).collect();
            for p in &paths {
                problem(
                    p,
                    format!(
                        "is occurrence {} of request hash {}, as are {}",
                        key.occurrence(),
                        key.hash(),
                        others.join(", ")
                    ),
                );
            }
        }
    }
    for (folder, recordings) in folders {
        let test_id = recordings[0].1.test_id.clone().unwrap_or_default();
        let inputs: Vec<(String, String, Value)> = recordings
            .iter()
            .map(|(name, rec)| {
                (
                    name.clone(),
                    store::request_text(&rec.request),
                    serde_json::to_value(rec).expect("a recording is JSON"),
                )
            })
            .collect();
        match recorder_runtime::normalize::normalize_scope(recordings.clone()) {
            Ok(renamed) => {
                for r in renamed {
                    let before = recordings.iter().find(|(n, _)| *n == r.old_name);
                    if r.name != r.old_name || before.is_some_and(|(_, rec)| *rec != r.recording) {
                        problem(
                            &folder.join(&r.old_name),
                            "is not normalized (its ids or volatile fields): run `cargo recordings normalize`".into(),
                        );
                    }
                }
            }
            Err(e) => problem(&folder, e.to_string()),
        }
        // Ids sent back that no recording of the test issued (but for those whose
        // placeholder says so: derived from the id itself, see
        // `recorder_runtime::idmap::derived_placeholder`).
        let ids = IdsFile::scan(&test_id, &inputs);
        let mut issued: BTreeSet<String> = BTreeSet::new();
        for (_, _, v) in &inputs {
            recorder_runtime::idmap::walk_ids(&v["response"], &mut |_, id| {
                issued.insert(id.to_owned());
            });
        }
        for (name, request, _) in &inputs {
            for sent in placeholders_in(request) {
                if !issued.contains(sent) && !recorder_runtime::idmap::is_derived_placeholder(sent)
                {
                    problem(
                        &folder.join(name),
                        format!("sends back {sent}, which no recording of its test issues: re-record the test with RECORD_MODE=record"),
                    );
                }
            }
        }
        let ids_path = folder.join(IDS_FILE);
        let on_disk = match std::fs::symlink_metadata(&ids_path) {
            Err(_) => None,
            // Not a plain file: reported with the folder's other such entries.
            Ok(meta) if !meta.is_file() => continue,
            Ok(_) => match store.read_file(&ids_path) {
                Ok(bytes) => Some(bytes),
                Err(e) => {
                    problem(&ids_path, format!("cannot be read: {e}"));
                    continue;
                }
            },
        };
        let expected = (!ids.ids.is_empty()).then(|| ids.to_pretty_bytes());
        let version = on_disk
            .as_ref()
            .map(|_| super::migrate::read_ids_file(&store, &CHAIN, &ids_path));
        match version {
            Some(Err(why)) => problem(&ids_path, why),
            Some(Ok((older, found))) if found != Version::CURRENT => {
                let also = if Some(older.to_pretty_bytes()) == expected {
                    ""
                } else {
                    " (it does not match the test's recordings either: run `cargo recordings normalize` after)"
                };
                problem(
                    &ids_path,
                    format!(
                        "is {found}, older than this recorder's {}: run `cargo recordings migrate`{also}",
                        Version::CURRENT
                    ),
                );
            }
            _ if on_disk != expected => {
                let what = match (&on_disk, &expected) {
                    (None, Some(_)) => "is missing: the test sends ids back",
                    (Some(_), None) => "lists ids no request of its test sends back",
                    _ => "does not match the test's recordings",
                };
                problem(
                    &ids_path,
                    format!("{what}: run `cargo recordings normalize`"),
                );
            }
            _ => {}
        }
    }
    for path in store.irregular_entries()? {
        problem(&path, irregular(&path));
    }
    usage_problems(&store, &mut problem);
    problems.sort_by(|a, b| a.path.cmp(&b.path));
    Ok((files.len(), problems))
}

/// What is wrong with an entry of the folder that is neither a folder nor a regular
/// file (see [`store::Store::irregular_entries`]).
fn irregular(path: &Path) -> String {
    let is_link = std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
    if is_link {
        "is a symlink: the recorder never follows one in its folder (replay does not read what it points to, recording refuses to write through it); replace it with a plain file or folder, or remove it".into()
    } else {
        "is not a file (a FIFO, device or socket): the recorder never reads it; remove it".into()
    }
}

/// `.usage/` holds the usage logs (`*.jsonl`, plain files the recorder can read) and
/// their `.gitignore`, nothing else. (A symlinked `.usage` is an irregular entry.)
fn usage_problems(store: &store::Store, problem: &mut dyn FnMut(&Path, String)) {
    let dir = store.root().join(recorder_runtime::usage::USAGE_DIR);
    if !std::fs::symlink_metadata(&dir).is_ok_and(|m| m.is_dir()) {
        return;
    }
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return problem(&dir, "cannot be read".into());
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if !kind.is_dir() && !kind.is_file() {
            continue; // an irregular entry, reported as such
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        if kind.is_file() && (name == ".gitignore" || name.ends_with(".jsonl")) {
            if let Err(e) = store.read_file(&path) {
                problem(&path, format!("cannot be read: {e}"));
            }
        } else {
            problem(
                &path,
                "is not a usage log: .usage/ holds only the recorder's usage logs (*.jsonl) and their .gitignore, and is never committed; remove it".into(),
            );
        }
    }
}

/// `cargo recordings check`: lists every problem; exit 1 when there is any.
pub fn check(args: &DirArgs, out: &mut dyn Write, _err: &mut dyn Write) -> anyhow::Result<i32> {
    let dir = existing_dir(args)?;
    // Made at the first file, when the count is known (a bar over fewer than two
    // files is not drawn).
    let mut bar = None;
    let (checked, problems) = check_dir(&dir, &mut |total| {
        bar.get_or_insert_with(|| progress(total, "checking"))
            .inc(1);
    })?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    // Not problems: replay ignores them; said so that they do not pile up unseen.
    let leftovers = crate::store_at(&dir).leftover_temp_files()?;
    for path in &leftovers {
        writeln!(
            out,
            "note: {} is a temporary file left by an interrupted write; replay ignores it, `cargo recordings prune` removes it",
            display_path(&dir, path)
        )?;
    }
    if problems.is_empty() {
        writeln!(out, "OK: {checked} recordings checked in {}", dir.display())?;
        return Ok(EXIT_OK);
    }
    for p in &problems {
        writeln!(out, "{}: {}", display_path(&dir, &p.path), p.what)?;
    }
    let mut files: Vec<&PathBuf> = problems.iter().map(|p| &p.path).collect();
    files.dedup();
    writeln!(
        out,
        "{} problem(s) in {} of {checked} files",
        problems.len(),
        files.len()
    )?;
    Ok(EXIT_PROBLEMS)
}
