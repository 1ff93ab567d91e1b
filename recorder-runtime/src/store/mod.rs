//! The recordings folder: where files live, how they are read and written, and a
//! test's recordings loaded into memory for replay.
//!
//! A file is named by its [`RecordingKey`] (defined with the request identity in
//! [`crate::identity`]): `<hash>.json` or `<hash>.<n>.json`. One job per module:
//! - `layout`: where files live (a folder per test, `_models/` for the shared model
//!   lists) and the checks that keep every path inside the folder;
//! - `read`: the safe reader, regular files under a size limit only;
//! - `write`: the safe writer, atomic, and [`Store::save`], which keeps a file whose
//!   answer did not change;
//! - `replay`: [`ScopeRecordings`], a test's recordings in memory, indexed for replay;
//! - `models`: the shared model lists, one file per model set, merged on replay;
//! - `ids`: a test folder's `_ids.json`, derived from its recordings.
//!
//! Whoever builds a [`Store`] decides its limits ([`Store::with_max_file_bytes`]): the
//! store itself reads no variable.
//!
//! Layout: `<root>/<module>/<path>/<test name>/<hash>.json`, one folder per test
//! (the test id split at `::`, each part made safe for every file system), and
//! `<root>/_models/models-<hash>-<digest8>.json` for the shared model lists, one file
//! per distinct model set.
//!
//! ```
//! use recorder_runtime::store::Store;
//! let store = Store::new("recordings");
//! assert_eq!(
//!     store.scope_dir("examples::chat::answers[text=smollm2-135m]"),
//!     std::path::Path::new("recordings/examples/chat/answers[text=smollm2-135m]")
//! );
//! ```

mod ids;
mod layout;
mod models;
mod read;
mod replay;
mod write;

pub use crate::identity::RecordingKey;
pub use ids::{ids_file_bytes, request_text};
pub use layout::{
    check_test_id, is_recording_name, scope_parts, MODELS_DIR, SHARED_SCOPE, USAGE_DIR,
};
pub use models::{
    merge_model_lists, model_items, model_list_key, model_set_digest, MergedModelList,
};
pub use read::{read_file, read_recording};
pub(crate) use replay::HashHasher;
pub use replay::{Pick, Replay, ReplayBody, ScopeRecordings};
pub use write::{write_atomic, SameAnswer, Saved};

use std::path::{Path, PathBuf};

/// The largest file a [`Store`] reads unless told otherwise: 256 MiB.
pub const DEFAULT_MAX_FILE_BYTES: u64 = 256 << 20;

/// A recordings folder, and the limits of reading it.
///
/// ```
/// use recorder_runtime::store::Store;
/// let store = Store::new("recordings").with_max_file_bytes(1 << 20);
/// assert_eq!(store.max_file_bytes(), 1 << 20);
/// assert_eq!(Store::new("recordings").max_file_bytes(), 256 << 20);
/// ```
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
    max_file_bytes: u64,
}

impl Store {
    /// A store rooted at `root` (need not exist yet) that reads files up to
    /// [`DEFAULT_MAX_FILE_BYTES`].
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Store {
            root: root.into(),
            max_file_bytes: DEFAULT_MAX_FILE_BYTES,
        }
    }

    /// The same store, reading no file bigger than `bytes` (a bigger one is reported,
    /// never read): `RECORDER_MAX_RECORDING_BYTES` for the engine and the command.
    pub fn with_max_file_bytes(mut self, bytes: u64) -> Self {
        self.max_file_bytes = bytes;
        self
    }

    /// The root folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The largest file this store reads.
    pub fn max_file_bytes(&self) -> u64 {
        self.max_file_bytes
    }
}

#[cfg(test)]
mod tests {
    use crate::recording::{RecordedRequest, RecordedResponse, Recording};
    use serde_json::Value;

    pub(super) fn rec(test: Option<&str>, endpoint: &str, body: Value) -> Recording {
        Recording {
            test_id: test.map(Into::into),
            request: RecordedRequest {
                method: "GET".into(),
                endpoint: endpoint.into(),
                model: None,
                body: Value::Null,
            },
            response: RecordedResponse::plain(
                200,
                Some("application/json"),
                &serde_json::to_vec(&body).unwrap(),
            ),
        }
    }
}
