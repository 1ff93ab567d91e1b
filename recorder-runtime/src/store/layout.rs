//! Where files live in a recordings folder: a folder per test, a file per recording,
//! the shared model lists, and the checks that keep every path inside the folder.
//!
//! `<root>/<module>/<path>/<test name>/<hash>.json`, one folder per test (the test id
//! split at `::`, each part made safe for every file system), and
//! `<root>/_models/models-<hash>-<digest8>.json` for the shared model lists, one file
//! per distinct model set.

use super::{RecordingKey, Store};
use crate::error::{Error, Result};
use crate::identity::sha256_hex;
use std::path::{Path, PathBuf};

/// The folder of shared model lists.
pub const MODELS_DIR: &str = "_models";
/// The folder of requests made without a test id (e.g. `serve` without the header).
pub const SHARED_SCOPE: &str = "_shared";
/// The folder of the usage logs (see `crate::usage`), the one folder whose files are
/// never recordings.
pub const USAGE_DIR: &str = ".usage";

impl Store {
    /// The folder of a test's recordings.
    pub fn scope_dir(&self, test_id: &str) -> PathBuf {
        let mut dir = self.root.clone();
        for part in scope_parts(test_id) {
            dir.push(part);
        }
        dir
    }

    /// The file of one recording of a test: `<hash>.json` for the first occurrence of
    /// its request, `<hash>.<n>.json` for the n-th.
    pub fn recording_path(&self, test_id: &str, key: &RecordingKey) -> PathBuf {
        self.scope_dir(test_id).join(key.file_name())
    }

    /// The file of one model set of a model-list request.
    pub fn model_list_path(&self, hash: &str, digest8: &str) -> PathBuf {
        self.root
            .join(MODELS_DIR)
            .join(format!("models-{hash}-{digest8}.json"))
    }

    /// An error when a folder between the root and `path` is a symlink (or not a
    /// folder): the recorder reads and writes only inside its folder, and a symlinked
    /// test folder would take it elsewhere.
    pub fn check_inside(&self, path: &Path) -> Result<()> {
        let Ok(rel) = path.strip_prefix(&self.root) else {
            return Ok(());
        };
        let mut cur = self.root.clone();
        let parts: Vec<_> = rel.components().collect();
        for part in &parts[..parts.len().saturating_sub(1)] {
            cur.push(part);
            match std::fs::symlink_metadata(&cur) {
                Ok(m) if m.file_type().is_symlink() => {
                    return Err(Error::io(
                        "refusing to follow a symlink under the recordings folder",
                        &cur,
                        std::io::Error::other(
                            "recordings live in plain folders; replace the link with a folder",
                        ),
                    ))
                }
                Ok(m) if !m.is_dir() => {
                    return Err(Error::io(
                        "cannot use as a recordings folder",
                        &cur,
                        std::io::Error::other("it is a file, not a folder"),
                    ))
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
        Ok(())
    }

    /// Every JSON file under the root that should be a recording (model lists
    /// included; not the tests' `_ids.json`), sorted: in every folder a test's could
    /// be, hidden ones too (a test id cannot start a folder with `.`, but a crafted or
    /// older folder may), except the usage logs' `.usage`. Entries that are neither a
    /// folder nor a regular file are not followed (see [`Store::irregular_entries`]).
    pub fn files(&self) -> Result<Vec<PathBuf>> {
        let mut out = Vec::new();
        walk(&self.root, &self.root, &mut out)?;
        out.sort();
        Ok(out)
    }

    /// Every entry under the root, `.usage` included, that is neither a plain folder
    /// nor a regular file: symlinks (to a file or a folder, dangling or not), FIFOs,
    /// devices, sockets. The recorder never reads or writes through them, so a file
    /// there is never a recording: `cargo recordings check` reports each.
    pub fn irregular_entries(&self) -> Result<Vec<PathBuf>> {
        fn walk_all(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
            for entry in entries(dir, "cannot read recordings folder")? {
                let kind = entry
                    .file_type()
                    .map_err(|e| Error::io("cannot read recordings folder", dir, e))?;
                if kind.is_dir() {
                    walk_all(&entry.path(), out)?;
                } else if !kind.is_file() {
                    out.push(entry.path());
                }
            }
            Ok(())
        }
        let mut out = Vec::new();
        walk_all(&self.root, &mut out)?;
        out.sort();
        Ok(out)
    }

    /// Temporary files that a write interrupted between creating and renaming them
    /// left behind (see [`super::write_atomic`]); everything else ignores them.
    pub fn leftover_temp_files(&self) -> Result<Vec<PathBuf>> {
        fn walk_temp(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
            for entry in entries(dir, "cannot read recordings folder")? {
                let name = entry.file_name();
                let name = name.to_string_lossy();
                if entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                    if !is_usage_dir(root, &entry.path()) {
                        walk_temp(root, &entry.path(), out)?;
                    }
                } else if is_temp_name(&name) {
                    out.push(entry.path());
                }
            }
            Ok(())
        }
        let mut out = Vec::new();
        walk_temp(&self.root, &self.root, &mut out)?;
        out.sort();
        Ok(out)
    }
}

/// `.<file>.json.<pid>.<n>.tmp`, the name [`super::write_atomic`] writes to first.
fn is_temp_name(name: &str) -> bool {
    name.starts_with('.') && name.ends_with(".tmp") && name.contains(".json.")
}

/// Whether a file name is a recording's: `<hash>.json`, `<hash>.<n>.json`, or a model
/// list's `models-<hash>-<digest8>.json` (and not, e.g., a test's `_ids.json`).
pub fn is_recording_name(name: &str) -> bool {
    RecordingKey::parse(name).is_some() || (name.starts_with("models-") && name.ends_with(".json"))
}

/// The entries of a folder, or none when it does not exist (a test that has not
/// recorded anything yet); other failures are errors naming the folder.
pub(super) fn entries(dir: &Path, action: &'static str) -> Result<Vec<std::fs::DirEntry>> {
    match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .collect::<std::io::Result<_>>()
            .map_err(|e| Error::io(action, dir, e)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(Error::io(action, dir, e)),
    }
}

/// Whether `path` is the usage logs' folder of the recordings folder `root`.
fn is_usage_dir(root: &Path, path: &Path) -> bool {
    path.parent() == Some(root) && path.file_name() == Some(USAGE_DIR.as_ref())
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for entry in entries(dir, "cannot read recordings folder")? {
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            if !is_usage_dir(root, &path) {
                walk(root, &path, out)?;
            }
        } else if name.ends_with(".json")
            && name != crate::idmap::IDS_FILE
            && !name.starts_with('.')
        {
            out.push(path);
        }
    }
    Ok(())
}
/// The folder parts of a test id: split at `::` (and `/` in a path-like first part,
/// as OGX's `tests/x.py::test`), each part made safe for file systems.
pub fn scope_parts(test_id: &str) -> Vec<String> {
    if test_id.is_empty() {
        return vec![SHARED_SCOPE.to_string()];
    }
    // Brackets hold the model combination; `::` inside them is not a path separator.
    let (head, params) = match test_id.find('[') {
        Some(i) => test_id.split_at(i),
        None => (test_id, ""),
    };
    let mut parts: Vec<String> = Vec::new();
    for (i, seg) in head.split("::").enumerate() {
        if i == 0 && seg.contains('/') {
            parts.extend(seg.split('/').filter(|s| !s.is_empty()).map(sanitize));
        } else {
            parts.push(sanitize(seg));
        }
    }
    if let Some(last) = parts.last_mut() {
        last.push_str(&sanitize(params));
    }
    parts.retain(|p| !p.is_empty());
    parts
}

fn sanitize(part: &str) -> String {
    let mut s: String = part
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._=,+-[]".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s == "." || s == ".." {
        s = "_".into();
    }
    // Distinct non-ASCII names must not share a folder: keep a digest of the original.
    let digest = || sha256_hex(part.as_bytes())[..8].to_owned();
    if s.len() > 96 {
        s.truncate(87);
        s.push('-');
        s.push_str(&digest());
    } else if !part.is_ascii() {
        s.push('-');
        s.push_str(&digest());
    }
    s
}

/// The names at the top of a recordings folder that are the recorder's own: no test's
/// folder may take one, in any case (`.usage` and `.gitignore` are hidden names, which
/// no test folder takes either).
const RESERVED: [&str; 3] = [MODELS_DIR, SHARED_SCOPE, "index.sqlite"];

/// Whether folder name `name` is reserved name `reserved` on some file system: equal
/// but for ASCII case (non-ASCII names get a digest of their own, see [`sanitize`]),
/// or for the index, one of its journals too (`index.sqlite-wal`, ...).
fn is_reserved(name: &str, reserved: &str) -> bool {
    let n = name.len().min(reserved.len());
    name.is_char_boundary(n)
        && name[..n].eq_ignore_ascii_case(reserved)
        && (name.len() == reserved.len()
            || (reserved == "index.sqlite" && name[n..].starts_with('-')))
}

/// Whether a test id can have recordings: the empty id is the shared scope; any other
/// must name a folder (not `/` or `::` alone) that is not one of the store's own
/// (`_models`, `_shared`, `index.sqlite`, in any case), and none of its folders may start with `.` (a hidden folder,
/// which tools and the recorder's own `.usage` make easy to overlook). The error says
/// why.
///
/// ```
/// use recorder_runtime::store::check_test_id;
/// assert!(check_test_id("my_crate::chat::answers").is_ok());
/// assert!(check_test_id("").is_ok());
/// assert!(check_test_id("::").is_err());
/// assert!(check_test_id("_models").is_err());
/// assert!(check_test_id("_MODELS::x").is_err() && check_test_id("_Shared").is_err());
/// assert!(check_test_id("_models_of_x::t").is_ok());
/// assert!(check_test_id(".hidden::t").is_err() && check_test_id("a::.b").is_err());
/// ```
pub fn check_test_id(test_id: &str) -> Result<()> {
    if test_id.is_empty() {
        return Ok(());
    }
    let parts = scope_parts(test_id);
    let why = match parts.first().map(String::as_str) {
        None => "it names no folder (it is only separators)",
        // In any case: on a case-insensitive file system (macOS, Windows) `_MODELS`
        // is the folder `_models`.
        Some(first) if RESERVED.iter().any(|r| is_reserved(first, r)) => {
            "its folder would be one the recorder keeps for itself (_models, _shared, index.sqlite, in any case: on a case-insensitive file system `_MODELS` is `_models`)"
        }
        _ if test_id.contains('\0') => "it holds a NUL character",
        _ if parts.iter().any(|p| p.starts_with('.')) => {
            "a folder of it would start with `.` (hidden: `ls`, file managers and tools skip it, and a recording there is easily overlooked in review)"
        }
        _ => return Ok(()),
    };
    Err(Error::Routing(
        crate::error::RoutingProblem::UnusableTestId {
            test_id: test_id.to_owned(),
            why,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_folders_are_safe_and_readable() {
        assert_eq!(
            scope_parts("a::b::c[text=Qwen/Qwen3-0.6B]"),
            vec!["a", "b", "c[text=Qwen_Qwen3-0.6B]"]
        );
        assert_eq!(
            scope_parts("tests/integration/x.py::test_y[p-txt=ollama/llama3.2:3b]"),
            vec![
                "tests",
                "integration",
                "x.py",
                "test_y[p-txt=ollama_llama3.2_3b]"
            ]
        );
        assert_eq!(scope_parts(""), vec![SHARED_SCOPE]);
        assert_eq!(scope_parts("../../etc"), vec!["_", "_", "etc"]);
        assert!(scope_parts(&"x".repeat(300))[0].len() <= 96);
    }
}
