//! The safe reader: every file of a recordings folder is read through here. Only a
//! regular file (not a symlink, FIFO, device or folder) no bigger than the store's
//! limit is read, so a crafted folder can neither block a reader nor fill its memory.
//! The file is opened without following a symlink and without waiting on a FIFO, and
//! checked again once open, so that nothing swapped in between is read; and no more
//! than the limit is read from it, even if it grows meanwhile.

use super::{RecordingKey, Store};
use crate::error::{Error, Result};
use crate::identity::sha256_hex;
use crate::recording::version::Version;
use crate::recording::Recording;
use std::path::Path;

impl Store {
    /// Reads a recording file (see [`read_recording`]) under this store's size limit.
    pub fn read_recording(&self, path: &Path) -> Result<Recording> {
        read_recording(path, self.max_file_bytes)
    }

    /// [`Store::read_recording`], and the version the file names (see
    /// [`Recording::from_slice_versioned`]).
    pub fn read_recording_versioned(&self, path: &Path) -> Result<(Recording, Version)> {
        let bytes = read_file(path, self.max_file_bytes)?;
        Recording::from_slice_versioned(&bytes, path)
    }

    /// Reads any file of the folder (see [`read_file`]) under this store's size limit.
    pub fn read_file(&self, path: &Path) -> Result<Vec<u8>> {
        read_file(path, self.max_file_bytes)
    }
}

/// Reads a recording file, if it is a regular file no bigger than `max_bytes` (see
/// [`read_file`]), and parses it. Every error names the file.
///
/// ```
/// use recorder_runtime::store::read_recording;
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("x.json");
/// std::fs::write(&path, "{\"test_id\":").unwrap();
/// let err = read_recording(&path, 1 << 20).unwrap_err().to_string();
/// assert!(err.contains("truncated"), "{err}");
/// ```
pub fn read_recording(path: &Path, max_bytes: u64) -> Result<Recording> {
    let bytes = read_file(path, max_bytes)?;
    Recording::from_slice(&bytes, path)
}

/// Reads a file, if it is a regular file (not a symlink, FIFO or device) no bigger
/// than `max_bytes`: anything else is an error naming the file, never a read that
/// blocks or fills memory.
///
/// ```
/// use recorder_runtime::store::read_file;
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("big.json");
/// std::fs::write(&path, [b' '; 100]).unwrap();
/// assert_eq!(read_file(&path, 100).unwrap().len(), 100);
/// let err = read_file(&path, 99).unwrap_err().to_string();
/// assert!(err.contains("over the limit of 99"), "{err}");
/// ```
pub fn read_file(path: &Path, max_bytes: u64) -> Result<Vec<u8>> {
    use std::io::Read;
    let not_regular = || {
        Error::corrupt(
            path,
            "it is not a regular file (a symlink, folder, FIFO or device); recordings are plain files, so it is not read",
        )
    };
    let over = |len: u64| {
        Error::corrupt(
            path,
            format!(
                "it is {len} bytes, over the limit of {max_bytes} (RECORDER_MAX_RECORDING_BYTES)"
            ),
        )
    };
    let meta =
        std::fs::symlink_metadata(path).map_err(|e| Error::io("cannot read recording", path, e))?;
    if !meta.file_type().is_file() {
        return Err(not_regular());
    }
    if meta.len() > max_bytes {
        return Err(over(meta.len()));
    }
    let file = open_plain(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => Error::io("cannot read recording", path, e),
        _ => not_regular(),
    })?;
    let len = file
        .metadata()
        .map_err(|e| Error::io("cannot read recording", path, e))?
        .len();
    let mut out = Vec::with_capacity(len.min(max_bytes) as usize);
    file.take(max_bytes.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|e| Error::io("cannot read recording", path, e))?;
    if out.len() as u64 > max_bytes {
        return Err(over(out.len() as u64));
    }
    Ok(out)
}

/// Opens a file for reading only if it is a regular file: a symlink is not followed
/// and a FIFO not waited on (`O_NOFOLLOW | O_NONBLOCK` on Unix), and what was opened is
/// checked (an error of kind `InvalidInput` for anything else).
pub(crate) fn open_plain(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
    }
    plain(options.open(path)?)
}

/// `file` if it is a regular file, else an error of kind `InvalidInput`.
pub(crate) fn plain(file: std::fs::File) -> std::io::Result<std::fs::File> {
    if file.metadata()?.file_type().is_file() {
        Ok(file)
    } else {
        Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a regular file (a symlink, folder, FIFO or device)",
        ))
    }
}

/// What is at a recording's path before it is saved again.
pub(super) enum Existing {
    /// Nothing.
    Missing,
    /// Something that is not a plain readable file under the size limit: replaced,
    /// never read.
    NotPlain,
    /// A regular file's bytes.
    Bytes(Vec<u8>),
}

impl Store {
    /// Looks at `path` once (one `symlink_metadata`), reading it only when it is a
    /// regular file no bigger than the store's limit.
    pub(super) fn read_existing(&self, path: &Path) -> Existing {
        match std::fs::symlink_metadata(path) {
            Err(_) => Existing::Missing,
            Ok(_) => self
                .read_file(path)
                .map_or(Existing::NotPlain, Existing::Bytes),
        }
    }
}

/// A recording whose request does not hash to its file name would answer another
/// request than its own: an error naming the file, never a silent wrong answer. (A
/// request with a secret scrubbed from it was hashed scrubbed, so it is checked too.)
/// Returns the request's canonical text.
pub(super) fn check_name(
    rec: Recording,
    key: &RecordingKey,
    path: &Path,
) -> Result<(Recording, String)> {
    let canonical = rec.request.identity(rec.test_id.as_deref()).canonical();
    let actual = sha256_hex(canonical.as_bytes());
    if actual == key.hash() {
        return Ok((rec, canonical));
    }
    Err(Error::corrupt(
        path,
        format!(
            "its request ({} {} of test `{}`) hashes to {actual}, not to its file name: the file was renamed, copied from another test or edited by hand. Rename it to {actual}.json if its request is right, or delete it and re-record",
            rec.request.method,
            rec.request.endpoint,
            rec.test_id.as_deref().unwrap_or("")
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tests::rec;
    use crate::store::Pick;
    use serde_json::json;

    #[test]
    fn the_size_limit_is_the_one_the_store_was_built_with() {
        let dir = tempfile::tempdir().unwrap();
        let r = rec(Some("m::t"), "/v1/x", json!({"a": 1}));
        let key = RecordingKey::first(r.request_hash());
        let path = Store::new(dir.path()).write(&r, &key).unwrap();
        let size = std::fs::metadata(&path).unwrap().len();
        let exact = Store::new(dir.path()).with_max_file_bytes(size);
        assert!(matches!(
            exact.load_scope("m::t").unwrap().get(&key),
            Pick::Found(_)
        ));
        let small = Store::new(dir.path()).with_max_file_bytes(size - 1);
        let Pick::Broken(err) = small.load_scope("m::t").unwrap().get(&key) else {
            panic!("a file over the store's limit is reported")
        };
        let err = err.to_string();
        assert!(
            err.contains(&format!("over the limit of {}", size - 1)),
            "{err}"
        );
        assert!(small.read_recording(&path).is_err());
        assert_eq!(exact.read_recording(&path).unwrap(), r);
    }

    #[test]
    fn only_regular_files_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        let hash = "a".repeat(64);
        let key = RecordingKey::first(hash);
        let path = store.recording_path("m::t", &key);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink("/dev/zero", &path).unwrap();
        #[cfg(not(unix))]
        std::fs::create_dir(&path).unwrap();
        let Pick::Broken(err) = store.load_scope("m::t").unwrap().get(&key) else {
            panic!("a symlink is reported")
        };
        let err = err.to_string();
        assert!(err.contains("not a regular file"), "{err}");
    }

    #[test]
    fn corrupt_files_are_reported_by_name_on_use() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        let hash = "b".repeat(64);
        let key = RecordingKey::first(hash);
        let path = store.recording_path("m::t", &key);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, b"{\"test_id\": ").unwrap();
        let scope = store.load_scope("m::t").unwrap();
        let Pick::Broken(err) = scope.get(&key) else {
            panic!("a broken file")
        };
        let err = err.to_string();
        assert!(
            err.contains(&path.display().to_string()) && err.contains("truncated"),
            "{err}"
        );
    }
}
