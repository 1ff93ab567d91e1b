//! The safe writer: every file of a recordings folder is written through here,
//! atomically (a temporary file in the same folder, then a rename), so that a reader
//! never sees a partial file and a crash leaves the old file or the new one; never
//! through a symlinked folder ([`Store::check_inside`]); and never bigger than the
//! store's reader takes ([`Store::max_file_bytes`]), so that nothing written is a file
//! replay refuses. And saving a recording made again, which keeps the file when the
//! answer is the same.

use super::read::Existing;
use super::{check_test_id, model_set_digest, RecordingKey, Store};
use crate::error::{Error, Result};
use crate::recording::version::Version;
use crate::recording::Recording;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// What [`Store::save`] did with a recording made again.
#[derive(Debug, Clone, PartialEq)]
pub enum Saved {
    /// There was no file: written.
    New,
    /// The file held another answer: rewritten. Says the first real difference.
    Changed(String),
    /// The file held this very recording: untouched, or, when it was of an older
    /// format (see [`crate::recording::version`]), written again in the current one.
    Identical,
    /// The file held the same answer but for floats within the tolerance: kept as it
    /// was (`kept`): untouched, or written again in the current format when it was of
    /// an older one. `largest` is the largest float difference.
    Equivalent {
        /// The largest absolute difference between an old and a new float.
        largest: f64,
        /// The recording on disk, which replay goes on serving.
        kept: Box<Recording>,
    },
}

/// Decides whether a recording made again holds the same answer as its file's, for
/// [`Store::save`]. The engine's is the setup's [`crate::tolerance::Tolerance`] (floats
/// within it count as the same); the store itself knows no comparison.
pub trait SameAnswer {
    /// `Ok(largest)`: `new` holds `old`'s answer, its floats at most `largest` apart
    /// (`0.0`: the same JSON); `Err(change)`: the first real change, in words.
    fn same_answer(&self, old: &Recording, new: &Recording) -> std::result::Result<f64, String>;
}

impl Store {
    /// Writes a recording atomically (temporary file in the same folder, then
    /// rename) and returns its path. Readers never see a partial file. A model list
    /// (no test id) goes to the file of its model set, whatever the key's occurrence.
    pub fn write(&self, rec: &Recording, key: &RecordingKey) -> Result<PathBuf> {
        let path = self.path_of(rec, key)?;
        let bytes = rec.to_pretty_bytes();
        self.check_size(&path, bytes.len())?;
        write_atomic(&path, &bytes)?;
        Ok(path)
    }

    /// Writes a recording made again, unless the file on disk holds the same answer:
    /// the same bytes, or the same answer as `tolerance` judges it (see [`SameAnswer`]
    /// and [`crate::tolerance`]). A kept file is left untouched, byte for byte and
    /// mtime, unless it is of an older format: then its own content is written again in
    /// the current one (a version is not a change of the recording). A file that cannot
    /// be read or parsed is replaced.
    ///
    /// ```
    /// use recorder_runtime::recording::{RecordedRequest, RecordedResponse, Recording};
    /// use recorder_runtime::store::{RecordingKey, Saved, Store};
    /// use recorder_runtime::tolerance::Tolerance;
    /// let dir = tempfile::tempdir().unwrap();
    /// let store = Store::new(dir.path());
    /// let rec = |body: &[u8]| Recording {
    ///     test_id: Some("t::embeds".into()),
    ///     request: RecordedRequest { method: "POST".into(), endpoint: "/v1/embeddings".into(), model: None, body: serde_json::json!({}) },
    ///     response: RecordedResponse::plain(200, Some("application/json"), body),
    /// };
    /// let (t, key) = (Tolerance::default(), RecordingKey::first("ab"));
    /// let (path, saved) = store.save(&rec(br#"{"e":[0.25]}"#), &key, &t).unwrap();
    /// assert!(matches!(saved, Saved::New));
    /// let before = std::fs::read(&path).unwrap();
    /// let (_, saved) = store.save(&rec(br#"{"e":[0.2512]}"#), &key, &t).unwrap();
    /// assert!(matches!(saved, Saved::Equivalent { .. }));
    /// assert_eq!(std::fs::read(&path).unwrap(), before);
    /// let (_, saved) = store.save(&rec(br#"{"e":[0.5]}"#), &key, &t).unwrap();
    /// assert!(matches!(saved, Saved::Changed(_)));
    /// ```
    pub fn save(
        &self,
        rec: &Recording,
        key: &RecordingKey,
        tolerance: &dyn SameAnswer,
    ) -> Result<(PathBuf, Saved)> {
        let path = self.path_of(rec, key)?;
        let bytes = rec.to_pretty_bytes();
        self.check_size(&path, bytes.len())?;
        let (saved, write) = match self.read_existing(&path) {
            Existing::Missing => (Saved::New, Some(bytes)),
            Existing::NotPlain => (
                Saved::Changed(
                    "the file on disk was not a plain readable file under the size limit".into(),
                ),
                Some(bytes),
            ),
            Existing::Bytes(old) if old == bytes => (Saved::Identical, None),
            Existing::Bytes(old) => match Recording::from_slice_versioned(&old, &path) {
                Err(e) => (
                    Saved::Changed(format!("the file on disk was not a recording ({e})")),
                    Some(bytes),
                ),
                Ok((old, found)) => {
                    // An older format's file keeps its content, in the current format.
                    let restamped = (found != Version::CURRENT).then(|| old.to_pretty_bytes());
                    if restamped.as_ref() == Some(&bytes) {
                        (Saved::Identical, restamped)
                    } else {
                        match tolerance.same_answer(&old, rec) {
                            Err(difference) => (Saved::Changed(difference), Some(bytes)),
                            Ok(largest) => (
                                Saved::Equivalent {
                                    largest,
                                    kept: Box::new(old),
                                },
                                restamped,
                            ),
                        }
                    }
                }
            },
        };
        if let Some(bytes) = write {
            write_atomic(&path, &bytes)?;
        }
        Ok((path, saved))
    }

    /// Writes any file of the folder atomically (see [`write_atomic`]), refusing a
    /// path through a symlinked or non-folder parent (see [`Store::check_inside`]) and
    /// bytes over the store's size limit (see [`Store::check_size`]).
    ///
    /// ```
    /// use recorder_runtime::store::Store;
    /// let dir = tempfile::tempdir().unwrap();
    /// let store = Store::new(dir.path()).with_max_file_bytes(4);
    /// store.write_file(&dir.path().join("t/_ids.json"), b"{}\n").unwrap();
    /// let err = store.write_file(&dir.path().join("t/_ids.json"), b"{ }\n\n").unwrap_err();
    /// assert!(err.to_string().contains("RECORDER_MAX_RECORDING_BYTES"), "{err}");
    /// ```
    pub fn write_file(&self, path: &Path, bytes: &[u8]) -> Result<()> {
        self.check_inside(path)?;
        self.check_size(path, bytes.len())?;
        write_atomic(path, bytes)
    }

    /// Opens a file of the folder for appending, creating it (and its folder) if
    /// needed: never through a symlinked folder ([`Store::check_inside`]), never
    /// following a symlink at the file's own name nor waiting on a FIFO there, and only
    /// if what is opened is a regular file. The usage logs are written through here.
    pub fn open_append(&self, path: &Path) -> Result<std::fs::File> {
        self.check_inside(path)?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| Error::io("cannot create folder", dir, e))?;
        }
        // A folder made between the check and now is the recorder's own.
        self.check_inside(path)?;
        let mut options = std::fs::OpenOptions::new();
        options.create(true).append(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
        }
        options
            .open(path)
            .and_then(super::read::plain)
            .map_err(|e| Error::io("cannot open for appending", path, e))
    }

    /// An error when `size` bytes at `path` would be over the largest file this
    /// store reads ([`Store::max_file_bytes`], `RECORDER_MAX_RECORDING_BYTES`): what
    /// the store writes, replay must be able to load.
    pub fn check_size(&self, path: &Path, size: usize) -> Result<()> {
        if size as u64 <= self.max_file_bytes {
            return Ok(());
        }
        Err(Error::TooLargeToReplay {
            path: path.to_path_buf(),
            size: size as u64,
            limit: self.max_file_bytes,
            answer_limit: None,
        })
    }

    /// Where a recording goes; an error for a test id that names no folder or a
    /// path through a symlink.
    fn path_of(&self, rec: &Recording, key: &RecordingKey) -> Result<PathBuf> {
        let path = match &rec.test_id {
            Some(t) => {
                check_test_id(t)?;
                self.recording_path(t, key)
            }
            None => self.model_list_path(key.hash(), &model_set_digest(&rec.response)),
        };
        self.check_inside(&path)?;
        Ok(path)
    }
}

/// Writes bytes to `path` atomically: a temporary file in the same folder, flushed,
/// then renamed over the target. A crash leaves either the old file or the new one.
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("a/b.json");
/// recorder_runtime::store::write_atomic(&path, b"{}\n").unwrap();
/// assert_eq!(std::fs::read(&path).unwrap(), b"{}\n");
/// ```
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)
        .map_err(|e| Error::io("cannot create recordings folder", dir, e))?;
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("recording");
    let tmp = dir.join(format!(
        ".{name}.{}.{}.tmp",
        std::process::id(),
        TMP_COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        // A new file only: never through something already at the temporary name
        // (a planted symlink).
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_data()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::io("cannot write recording", path, e));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tests::rec;
    use crate::store::Pick;
    use crate::tolerance::Tolerance;
    use serde_json::json;

    #[test]
    fn atomic_write_leaves_no_temporary_files() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        let r = rec(Some("m::t"), "/v1/x", json!({"a": 1}));
        let key = RecordingKey::first(r.request_hash());
        let p = store.write(&r, &key).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), r.to_pretty_bytes());
        let names: Vec<_> = std::fs::read_dir(p.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
        let scope = store.load_scope("m::t").unwrap();
        assert_eq!(scope.len(), 1);
        assert!(matches!(scope.get(&key), Pick::Found(_)));
    }

    /// The bytes format 1 wrote for a recording: no version keys.
    fn format_1(r: &Recording) -> Vec<u8> {
        let mut v = serde_json::to_vec_pretty(r).unwrap();
        v.push(b'\n');
        v
    }

    #[test]
    fn a_recording_made_again_over_an_older_format_is_not_a_change() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        let t = Tolerance::default();
        let r = rec(Some("m::t"), "/v1/x", json!({"e": [0.25], "n": 1}));
        let key = RecordingKey::first(r.request_hash());
        let path = store.recording_path("m::t", &key);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, format_1(&r)).unwrap();
        let (_, saved) = store.save(&r, &key, &t).unwrap();
        assert_eq!(saved, Saved::Identical, "only the version differs");
        assert_eq!(
            std::fs::read(&path).unwrap(),
            r.to_pretty_bytes(),
            "and it is the current one now"
        );

        // Floats within the tolerance: the file's own floats stay, in the current format.
        std::fs::write(&path, format_1(&r)).unwrap();
        let noisy = rec(Some("m::t"), "/v1/x", json!({"e": [0.2512], "n": 1}));
        let (_, saved) = store.save(&noisy, &key, &t).unwrap();
        assert!(matches!(saved, Saved::Equivalent { .. }), "{saved:?}");
        assert_eq!(std::fs::read(&path).unwrap(), r.to_pretty_bytes());

        // A real change is one.
        std::fs::write(&path, format_1(&r)).unwrap();
        let other = rec(Some("m::t"), "/v1/x", json!({"e": [0.25], "n": 2}));
        let (_, saved) = store.save(&other, &key, &t).unwrap();
        assert!(
            matches!(&saved, Saved::Changed(d) if d.contains("/n")),
            "{saved:?}"
        );
        assert_eq!(std::fs::read(&path).unwrap(), other.to_pretty_bytes());
    }

    #[test]
    fn nothing_is_written_that_the_reader_would_refuse() {
        let dir = tempfile::tempdir().unwrap();
        let r = rec(Some("m::t"), "/v1/x", json!({"a": "b".repeat(100)}));
        let key = RecordingKey::first(r.request_hash());
        let size = r.to_pretty_bytes().len() as u64;
        let small = Store::new(dir.path()).with_max_file_bytes(size - 1);
        for err in [
            small.write(&r, &key).unwrap_err(),
            small.save(&r, &key, &Tolerance::default()).unwrap_err(),
        ] {
            let text = err.to_string();
            assert!(
                matches!(err, Error::TooLargeToReplay { .. })
                    && text.contains(&format!(
                        "would be {size} bytes, over the {} bytes",
                        size - 1
                    ))
                    && text.contains("RECORDER_MAX_RECORDING_BYTES")
                    && text.contains("RECORDER_MAX_BODY_BYTES"),
                "{text}"
            );
        }
        assert!(!dir.path().join("m").exists(), "nothing written");
        let exact = Store::new(dir.path()).with_max_file_bytes(size);
        let path = exact.write(&r, &key).unwrap();
        assert_eq!(exact.read_recording(&path).unwrap(), r);
    }

    #[cfg(unix)]
    #[test]
    fn the_safe_writer_refuses_a_symlinked_folder() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("linked")).unwrap();
        let store = Store::new(dir.path());
        let err = store
            .write_file(&dir.path().join("linked/_ids.json"), b"{}")
            .unwrap_err()
            .to_string();
        assert!(err.contains("refusing to follow a symlink"), "{err}");
        assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0);
        store
            .write_file(&dir.path().join("plain/_ids.json"), b"{}")
            .unwrap();
        assert_eq!(
            std::fs::read(dir.path().join("plain/_ids.json")).unwrap(),
            b"{}"
        );
    }
}
