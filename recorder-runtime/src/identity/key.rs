//! [`RecordingKey`]: which recording of a test a file holds (request hash and
//! occurrence), and its file name.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

/// One recording of a test: the request's hash and which time (from 1) the test made
/// that request. Its file is `<hash>.json` for the first occurrence and
/// `<hash>.<n>.json` for the n-th.
///
/// ```
/// use recorder_runtime::store::RecordingKey;
/// let h = "a".repeat(64);
/// assert_eq!(RecordingKey::first(h.as_str()).file_name(), format!("{h}.json"));
/// let third = RecordingKey::new(h.as_str(), 3);
/// assert_eq!(third.file_name(), format!("{h}.3.json"));
/// assert_eq!(RecordingKey::parse(&third.file_name()), Some(third));
/// assert_eq!(RecordingKey::parse("_ids.json"), None);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RecordingKey {
    hash: Arc<str>,
    occurrence: u32,
}

impl RecordingKey {
    /// The `occurrence`-th (from 1; 0 counts as 1) exchange of the request hashed `hash`.
    pub fn new(hash: impl Into<Arc<str>>, occurrence: u32) -> RecordingKey {
        RecordingKey {
            hash: hash.into(),
            occurrence: occurrence.max(1),
        }
    }

    /// The first exchange of a request (also the key of a shared model list, which
    /// has no occurrences).
    pub fn first(hash: impl Into<Arc<str>>) -> RecordingKey {
        RecordingKey::new(hash, 1)
    }

    /// The request hash.
    pub fn hash(&self) -> &str {
        &self.hash
    }

    /// The request hash, shared.
    pub fn shared_hash(&self) -> &Arc<str> {
        &self.hash
    }

    /// Which time the test made the request, from 1.
    pub fn occurrence(&self) -> u32 {
        self.occurrence
    }

    /// The file name: `<hash>.json` for the first occurrence, `<hash>.<n>.json` for
    /// the n-th.
    pub fn file_name(&self) -> String {
        self.to_string()
    }

    /// The key a recording file is named after, or `None` for a name that is not a
    /// recording's (`_ids.json`, a model list, `<hash>.02.json`, ...): 64 hex digits,
    /// then `.<n>` for n >= 2 spelled without leading zeros, then `.json`.
    pub fn parse(name: &str) -> Option<RecordingKey> {
        let stem = name.strip_suffix(".json")?;
        let (hash, occurrence) = match stem.split_once('.') {
            Some((h, n)) => {
                let parsed: u32 = n.parse().ok().filter(|v: &u32| *v >= 2)?;
                // One spelling per occurrence: `.2`, never `.02`.
                if parsed.to_string() != n {
                    return None;
                }
                (h, parsed)
            }
            None => (stem, 1),
        };
        (hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| RecordingKey::new(hash, occurrence))
    }

    /// The key of the file at `path` (see [`RecordingKey::parse`]).
    pub fn of_path(path: &Path) -> Option<RecordingKey> {
        RecordingKey::parse(path.file_name()?.to_str()?)
    }
}

/// The file name (see [`RecordingKey::file_name`]).
impl fmt::Display for RecordingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.occurrence <= 1 {
            write!(f, "{}.json", self.hash)
        } else {
            write!(f, "{}.{}.json", self.hash, self.occurrence)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_back_and_others_are_not_recordings() {
        let h = "0123456789abcdef".repeat(4);
        for n in [1, 2, 10, u32::MAX] {
            let key = RecordingKey::new(h.as_str(), n);
            assert_eq!(RecordingKey::parse(&key.file_name()), Some(key));
        }
        assert_eq!(
            RecordingKey::new(h.as_str(), 0),
            RecordingKey::first(h.as_str())
        );
        for name in [
            format!("{h}.1.json"),
            format!("{h}.02.json"),
            format!("{h}.x.json"),
            format!("{h}.2"),
            format!("{}.json", &h[1..]),
            format!("{}.json", "g".repeat(64)),
            "_ids.json".to_owned(),
            format!("models-{h}-abcdef01.json"),
        ] {
            assert_eq!(RecordingKey::parse(&name), None, "{name}");
        }
        assert_eq!(
            RecordingKey::of_path(&Path::new("a/b").join(format!("{h}.2.json"))),
            Some(RecordingKey::new(h.as_str(), 2))
        );
    }
}
