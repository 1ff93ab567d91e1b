//! A test folder's `_ids.json` (see [`crate::idmap::IdsFile`]): derived from the
//! recordings in the folder, rewritten when they change, removed when no request of
//! the test sends an id back.

use super::layout::entries;
use super::{RecordingKey, Store};
use crate::error::{Error, Result};
pub use crate::recording::request_text;
use serde_json::Value;
use std::path::Path;

// The file format is the store's to write: the id map itself (`idmap`) is below
// `recording`, whose version steps find ids with it.
impl crate::idmap::IdsFile {
    /// The bytes written to disk: the file format (see
    /// [`crate::recording::version`]), then the map; pretty JSON and a trailing newline.
    pub fn to_pretty_bytes(&self) -> Vec<u8> {
        crate::recording::version::file_bytes(crate::recording::version::FileKind::Ids, self)
    }
}

impl Store {
    /// The inputs of [`crate::idmap::IdsFile::scan`] for a test's folder: each readable
    /// recording's file name, request text (method, endpoint and body) and JSON, sorted
    /// by file name.
    pub fn scan_inputs(&self, dir: &Path) -> Result<Vec<(String, String, Value)>> {
        let mut out = Vec::new();
        for entry in entries(dir, "cannot read recordings folder")? {
            let name = entry.file_name().to_string_lossy().into_owned();
            if RecordingKey::parse(&name).is_none() {
                continue;
            }
            let Ok(rec) = self.read_recording(&entry.path()) else {
                continue;
            };
            out.push((
                name,
                request_text(&rec.request),
                serde_json::to_value(&rec).expect("a recording is JSON"),
            ));
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    /// Brings a test folder's `_ids.json` in line with the recordings in it: rewritten
    /// when it differs, removed when no request sends an id back (or none is left). The
    /// engine calls it after recording, `cargo recordings` after normalizing, importing
    /// or pruning.
    pub fn refresh_ids_file(&self, dir: &Path) -> Result<()> {
        let inputs = self.scan_inputs(dir)?;
        // Every recording of a folder has the folder's test id.
        let test_id = inputs
            .iter()
            .find_map(|(_, _, rec)| rec.get("test_id")?.as_str())
            .unwrap_or_default()
            .to_owned();
        let path = dir.join(crate::idmap::IDS_FILE);
        match ids_file_bytes(&test_id, &inputs) {
            None => match std::fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    Err(Error::io("cannot remove", path, e))
                }
                _ => Ok(()),
            },
            Some(bytes) if self.read_file(&path).ok().as_deref() == Some(&bytes[..]) => Ok(()),
            Some(bytes) => self.write_file(&path, &bytes),
        }
    }
}

/// What a test's `_ids.json` holds for its recordings (in [`Store::scan_inputs`]'
/// form): `None` when no request sends an id back, and the file should not exist.
pub fn ids_file_bytes(test_id: &str, inputs: &[(String, String, Value)]) -> Option<Vec<u8>> {
    let file = crate::idmap::IdsFile::scan(test_id, inputs);
    (!file.ids.is_empty()).then(|| file.to_pretty_bytes())
}
