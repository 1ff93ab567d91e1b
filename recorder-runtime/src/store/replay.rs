//! A test's recordings in memory, for replay: loaded once per test, every answer
//! pre-serialized, indexed by request hash and occurrence, by the canonical text of
//! its request and by the exact bytes a client sends, so that a replay is a lookup.

use super::layout::entries;
use super::read::check_name;
use super::{check_test_id, RecordingKey, Store};
use crate::error::{Error, Result};
use crate::recording::version::{Version, CHAIN};
use crate::recording::{RecordedRequest, Recording};
use crate::stream::{self, StreamFormat};
use bytes::Bytes;
use serde_json::Value;
use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::path::PathBuf;
use std::sync::Arc;

/// A recording ready to serve: everything pre-serialized, so a replay is a lookup.
#[derive(Debug)]
pub struct Replay {
    /// The file it came from.
    pub path: PathBuf,
    /// The recorded request, for explaining misses.
    pub request: RecordedRequest,
    /// HTTP status.
    pub status: u16,
    /// Content type to answer with.
    pub content_type: Option<String>,
    /// The other response headers to answer with.
    pub headers: Arc<[(http::HeaderName, http::HeaderValue)]>,
    /// The body.
    pub body: ReplayBody,
}

/// A replayable body.
#[derive(Debug, Clone)]
pub enum ReplayBody {
    /// The whole body.
    Full(Bytes),
    /// Frames in wire form, each with its recorded delay (if timing was kept).
    Frames {
        /// SSE or NDJSON.
        format: StreamFormat,
        /// Wire bytes and delay in milliseconds.
        frames: Arc<[(Bytes, Option<u64>)]>,
    },
}

/// One test's recordings, loaded once: request hash -> the recordings of its
/// occurrences (the first, the second, ...), or the reason a file could not be read
/// (reported when that request is made).
#[derive(Debug, Default)]
pub struct ScopeRecordings {
    entries: HashMap<String, Vec<Option<Slot>>, BuildHasherDefault<HashHasher>>,
    /// The request hash of each readable recording by the canonical text of its request
    /// (see [`crate::identity::request_canonical`]): a replay finds its recording
    /// without computing a sha256.
    by_canonical: HashMap<String, Arc<str>, BuildHasherDefault<HashHasher>>,
    /// The same by the exact bytes a serde_json client sends for their request (see
    /// [`ScopeRecordings::index_request_bytes`]), keyed by a hash of method, endpoint and
    /// body: a byte-identical request needs no parsing at all.
    by_bytes: HashMap<u64, Vec<BytesEntry>, BuildHasherDefault<HashHasher>>,
    /// How many times this test has made each request so far.
    asked: HashMap<String, u32, BuildHasherDefault<HashHasher>>,
    /// The files of another version that cannot be matched as they are, and what to
    /// do about each (see [`ScopeRecordings::unmatchable`]).
    unmatchable: Vec<(PathBuf, String)>,
}

/// A recording file, loaded, or why it could not be.
type Slot = std::result::Result<Arc<Replay>, Arc<Error>>;

/// What [`ScopeRecordings::get`] finds for one occurrence of a request.
#[derive(Debug, Clone)]
pub enum Pick {
    /// The recording of that occurrence.
    Found(Arc<Replay>),
    /// None for that occurrence, but an earlier one is recorded: the last of them.
    Last(Arc<Replay>),
    /// The file of that occurrence cannot be read; why.
    Broken(Arc<Error>),
    /// The request was never recorded.
    None,
}

/// One recording in [`ScopeRecordings`]' index by request bytes: the body as
/// serde_json writes it (method and endpoint are the replay's own).
#[derive(Debug)]
struct BytesEntry {
    body: Box<[u8]>,
    hash: Arc<str>,
    replay: Arc<Replay>,
}

fn bytes_key(method: &str, endpoint: &str, body: &[u8]) -> u64 {
    use std::hash::Hasher;
    let mut h = HashHasher::default();
    h.write(method.as_bytes());
    h.write(endpoint.as_bytes());
    h.write(body);
    h.finish()
}

/// A cheap multiplicative hash for the scope's keys (sha256 hex and canonical requests,
/// often a kilobyte); the default SipHash guards against crafted keys, which a
/// recordings folder is not. Four independent lanes, so that long keys are not one
/// chain of dependent multiplications.
#[derive(Debug, Default)]
pub(crate) struct HashHasher(u64);

const MUL: u64 = 0x51_7c_c1_b7_27_22_0a_95;

#[inline]
fn mix(acc: u64, word: u64) -> u64 {
    // Rotate after multiplying: the high bits, where the product gathers the input,
    // feed the low bits of the next step.
    (acc ^ word).wrapping_mul(MUL).rotate_left(26)
}

#[inline]
fn word(bytes: &[u8]) -> u64 {
    u64::from_le_bytes(bytes.try_into().expect("8 bytes"))
}

impl std::hash::Hasher for HashHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut lanes = [self.0, 1, 2, 3];
        let mut blocks = bytes.chunks_exact(32);
        for b in &mut blocks {
            lanes[0] = mix(lanes[0], word(&b[0..8]));
            lanes[1] = mix(lanes[1], word(&b[8..16]));
            lanes[2] = mix(lanes[2], word(&b[16..24]));
            lanes[3] = mix(lanes[3], word(&b[24..32]));
        }
        let mut acc = lanes.iter().fold(0, |acc, &l| mix(acc, l));
        let mut words = blocks.remainder().chunks_exact(8);
        for w in &mut words {
            acc = mix(acc, word(w));
        }
        let rest = words.remainder();
        if !rest.is_empty() {
            let mut last = [0u8; 8];
            last[..rest.len()].copy_from_slice(rest);
            acc = mix(acc, u64::from_le_bytes(last));
        }
        self.0 = mix(acc, bytes.len() as u64);
    }
    fn finish(&self) -> u64 {
        // A multiplication only carries differences upward; fold the high bits back
        // down (murmur3's finalizer) so that the table's bucket bits see all of them.
        let mut z = self.0;
        z ^= z >> 33;
        z = z.wrapping_mul(0xff51_afd7_ed55_8ccd);
        z ^= z >> 33;
        z = z.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        z ^ (z >> 33)
    }
}

impl ScopeRecordings {
    /// The recording of one occurrence of a request: the `key.occurrence()`-th (from 1)
    /// time the test makes it.
    pub fn get(&self, key: &RecordingKey) -> Pick {
        let Some(slots) = self.entries.get(key.hash()) else {
            return Pick::None;
        };
        let occurrence = key.occurrence();
        match slots.get(occurrence.saturating_sub(1) as usize) {
            Some(Some(Ok(r))) => Pick::Found(r.clone()),
            Some(Some(Err(e))) => Pick::Broken(e.clone()),
            _ => match slots[..slots.len().min(occurrence as usize)]
                .iter()
                .rev()
                .find_map(|s| s.as_ref())
            {
                Some(Ok(r)) => Pick::Last(r.clone()),
                Some(Err(e)) => Pick::Broken(e.clone()),
                None => Pick::None,
            },
        }
    }

    /// Counts one more time this test made the request, and returns which time it is
    /// (1 for the first).
    pub fn next_occurrence(&mut self, hash: &str) -> u32 {
        match self.asked.get_mut(hash) {
            Some(n) => {
                *n += 1;
                *n
            }
            None => {
                self.asked.insert(hash.to_owned(), 1);
                1
            }
        }
    }

    /// How many recorded occurrences a request has (those that load or not).
    pub fn occurrences(&self, hash: &str) -> usize {
        self.entries.get(hash).map_or(0, Vec::len)
    }

    /// The hash of the recording whose request has this canonical text.
    pub fn find_by_canonical(&self, canonical: &str) -> Option<Arc<str>> {
        self.by_canonical.get(canonical).cloned()
    }

    /// Indexes the recordings by the bytes of their request as serde_json writes it
    /// (compact, in the recorded key order, which is the client's: what async-openai,
    /// reqwest's `.json()` and most clients send), for [`ScopeRecordings::find_by_bytes`].
    ///
    /// A recording enters the index only if those bytes give, with the scope's
    /// `ignore` fields and `test_id`, exactly the canonical text it is found by, so a
    /// hit by bytes is always the recording the canonical path would have found:
    /// bytes that differ in any way (key order, spacing, a float's spelling, an
    /// ignored field) fall back to the canonical path.
    pub fn index_request_bytes(&mut self, ignore: &[String], test_id: &str) {
        for (canonical, hash) in &self.by_canonical {
            let Some(Some(Ok(replay))) = self.entries.get(&**hash).and_then(|s| s.first()) else {
                continue;
            };
            let req = &replay.request;
            if req.body.get("multipart").is_some() {
                continue;
            }
            let body = match &req.body {
                Value::Null => Vec::new(),
                b => match serde_json::to_vec(b) {
                    Ok(b) => b,
                    Err(_) => continue,
                },
            };
            let canonical_of_bytes = crate::identity::request_canonical(
                &req.method,
                &req.endpoint,
                &body,
                ignore,
                Some(test_id),
            );
            if canonical_of_bytes != *canonical {
                continue;
            }
            self.by_bytes
                .entry(bytes_key(&req.method, &req.endpoint, &body))
                .or_default()
                .push(BytesEntry {
                    body: body.into(),
                    hash: hash.clone(),
                    replay: replay.clone(),
                });
        }
    }

    /// The hash of the recording whose request is exactly these bytes (see
    /// [`ScopeRecordings::index_request_bytes`]).
    pub fn find_by_bytes(&self, method: &str, endpoint: &str, body: &[u8]) -> Option<Arc<str>> {
        self.by_bytes
            .get(&bytes_key(method, endpoint, body))?
            .iter()
            .find(|e| {
                let req = &e.replay.request;
                *e.body == *body && req.method == method && req.endpoint == endpoint
            })
            .map(|e| e.hash.clone())
    }

    /// The files of the scope that this recorder cannot match as they are, each with
    /// what to do: older ones whose request no longer hashes to their name
    /// (`cargo recordings migrate`) and newer ones (upgrade the recorder). A request
    /// that finds no recording in a scope that has some is not a plain miss: one of
    /// them may hold its answer.
    pub fn unmatchable(&self) -> &[(PathBuf, String)] {
        &self.unmatchable
    }

    /// Every readable recording of the scope.
    pub fn replays(&self) -> impl Iterator<Item = &Arc<Replay>> {
        self.entries
            .values()
            .flatten()
            .filter_map(|e| e.as_ref()?.as_ref().ok())
    }
    /// How many files the scope holds.
    pub fn len(&self) -> usize {
        self.entries
            .values()
            .flatten()
            .filter(|s| s.is_some())
            .count()
    }
    /// Whether the scope has no files.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Adds the recording of one occurrence, made during this test (so that a later
    /// identical request can replay it in record-if-missing).
    pub fn insert(&mut self, key: RecordingKey, replay: Arc<Replay>) {
        self.load(key, Ok(replay));
    }

    fn load(&mut self, key: RecordingKey, slot: Slot) {
        let at = key.occurrence() as usize - 1;
        let slots = self.entries.entry(key.hash().to_owned()).or_default();
        if slots.len() <= at {
            slots.resize(at + 1, None);
        }
        slots[at] = Some(slot);
    }
}

impl Replay {
    /// Pre-serializes a recording for replay.
    pub fn from_recording(rec: Recording, path: PathBuf) -> Replay {
        let resp = rec.response;
        let body = match &resp.stream {
            Some(s) => ReplayBody::Frames {
                format: s.format,
                frames: {
                    let mut frames: Vec<(Bytes, Option<u64>)> = s
                        .frames
                        .iter()
                        .map(|f| (stream::frame_bytes(s.format, f), f.delay_ms))
                        .collect();
                    if let Some(first) = frames.iter_mut().find(|(b, _)| !b.is_empty()) {
                        let mut bytes = first.0.to_vec();
                        stream::guard_leading_bom(&mut bytes);
                        first.0 = Bytes::from(bytes);
                    }
                    frames.into()
                },
            },
            None => ReplayBody::Full(Bytes::from(resp.body_bytes())),
        };
        let content_type = resp.content_type.clone().or_else(|| {
            resp.stream
                .as_ref()
                .map(|s| s.format.content_type().to_owned())
        });
        let headers = resp
            .headers
            .iter()
            .filter_map(|(k, v)| {
                Some((
                    http::HeaderName::from_bytes(k.as_bytes()).ok()?,
                    http::HeaderValue::from_str(v).ok()?,
                ))
            })
            .collect();
        Replay {
            path,
            request: rec.request,
            status: resp.status,
            content_type,
            headers,
            body,
        }
    }
}

impl Store {
    /// Loads every recording of a test into memory, keyed by file name (= request hash
    /// and occurrence). Only regular files under the store's size limit are read (see
    /// [`super::read_file`]); a file that is not is reported when its request is made.
    pub fn load_scope(&self, test_id: &str) -> Result<ScopeRecordings> {
        check_test_id(test_id)?;
        let dir = self.scope_dir(test_id);
        self.check_inside(&dir.join("_"))?;
        let mut out = ScopeRecordings::default();
        for entry in entries(&dir, "cannot read recordings folder")? {
            let path = entry.path();
            let Some(key) = RecordingKey::parse(&entry.file_name().to_string_lossy()) else {
                continue;
            };
            let checked = self
                .read_recording_versioned(&path)
                .and_then(|(rec, found)| match check_name(rec, &key, &path) {
                    // Hashed under an older scheme (or named by hand): migrate renames it.
                    Err(_) if found != Version::CURRENT => Err(Error::Format {
                        context: "a recording file cannot be matched".into(),
                        files: vec![(path.clone(), CHAIN.older(found))],
                    }),
                    checked => checked,
                });
            match checked {
                Ok((rec, canonical)) => {
                    let replay = Arc::new(Replay::from_recording(rec, path.clone()));
                    out.by_canonical
                        .entry(canonical)
                        .or_insert_with(|| key.shared_hash().clone());
                    out.load(key, Ok(replay));
                }
                Err(e) => {
                    if let Error::Format { files, .. } = &e {
                        out.unmatchable.extend(files.iter().cloned());
                    }
                    out.load(key, Err(Arc::new(e)))
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tests::rec;
    use serde_json::json;

    #[test]
    fn the_scope_hasher_spreads_keys_that_differ_anywhere() {
        use std::hash::{BuildHasher, BuildHasherDefault};
        let h = |s: &str| BuildHasherDefault::<HashHasher>::default().hash_one(s);
        // 10,000 canonical-looking requests that differ only in a few middle bytes,
        // and keys of every length around the 8- and 32-byte block edges.
        let mut seen = std::collections::HashSet::new();
        for i in 0..10_000 {
            seen.insert(h(&format!(
                "{{\"body\":{{\"input\":\"n{i}\",\"model\":\"m\"}},\"endpoint\":\"/v1/x\"}}"
            )));
        }
        assert_eq!(seen.len(), 10_000);
        let long = "x".repeat(100);
        let by_len: std::collections::HashSet<u64> = (0..=100).map(|n| h(&long[..n])).collect();
        assert_eq!(by_len.len(), 101);
        assert_ne!(h("ab"), h("ba"));
    }

    #[test]
    fn files_of_another_version_that_cannot_be_matched_are_named_with_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        let current = rec(Some("m::t"), "/v1/a", json!({"a": 1}));
        let key = RecordingKey::first(current.request_hash());
        store.write(&current, &key).unwrap();
        let folder = store.scope_dir("m::t");
        let format_1 = |r: &Recording| serde_json::to_vec_pretty(r).unwrap();
        // Format 1 under its request's hash: replays as it is.
        let old = rec(Some("m::t"), "/v1/b", json!({"b": 1}));
        let old_key = RecordingKey::first(old.request_hash());
        std::fs::write(folder.join(old_key.file_name()), format_1(&old)).unwrap();
        // Format 1 under another hash, as an older identity scheme named it.
        let moved = rec(Some("m::t"), "/v1/c", json!({"c": 1}));
        let moved_path = folder.join(format!("{}.json", "1".repeat(64)));
        std::fs::write(&moved_path, format_1(&moved)).unwrap();
        // A newer recorder's, under any name.
        let newer = String::from_utf8(current.to_pretty_bytes())
            .unwrap()
            .replacen("\"format\": 2", "\"format\": 3", 1);
        let newer_path = folder.join(format!("{}.json", "2".repeat(64)));
        std::fs::write(&newer_path, newer).unwrap();
        // A current file under another name is corrupt, as ever, not of another version.
        let renamed = folder.join(format!("{}.json", "3".repeat(64)));
        std::fs::write(&renamed, current.to_pretty_bytes()).unwrap();

        let scope = store.load_scope("m::t").unwrap();
        assert!(matches!(scope.get(&key), Pick::Found(_)));
        assert!(
            matches!(scope.get(&old_key), Pick::Found(_)),
            "format 1 replays"
        );
        let mut unmatchable = scope.unmatchable().to_vec();
        unmatchable.sort();
        assert_eq!(unmatchable.len(), 2, "{unmatchable:?}");
        assert_eq!(unmatchable[0].0, moved_path);
        assert!(
            unmatchable[0].1.contains("cargo recordings migrate"),
            "{unmatchable:?}"
        );
        assert_eq!(unmatchable[1].0, newer_path);
        assert!(
            unmatchable[1].1.contains("upgrade recorder-runtime"),
            "{unmatchable:?}"
        );
        let Pick::Broken(e) = scope.get(&RecordingKey::first("3".repeat(64))) else {
            panic!("a renamed current file is broken")
        };
        assert!(e.to_string().contains("hashes to"), "{e}");
    }

    #[test]
    fn byte_identical_requests_are_found_by_bytes_only_where_the_canonical_path_agrees() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        let (test, endpoint) = ("m::t", "/v1/chat/completions");
        let body = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}], "temperature": 0.7, "user": "u1"});
        let bytes = serde_json::to_vec(&body).unwrap();
        let ident =
            crate::identity::RequestIdentity::new("POST", endpoint, &bytes, &[], Some(test));
        let mut r = rec(Some(test), endpoint, json!({"ok": true}));
        r.request.method = "POST".into();
        r.request.body = ident.body().clone();
        store.write(&r, &RecordingKey::first(ident.hash())).unwrap();
        let canonical_of = |b: &[u8], ignore: &[String]| {
            crate::identity::request_canonical("POST", endpoint, b, ignore, Some(test))
        };

        let mut scope = store.load_scope(test).unwrap();
        scope.index_request_bytes(&[], test);
        let hash = scope.find_by_bytes("POST", endpoint, &bytes).unwrap();
        assert_eq!(&*hash, ident.hash());
        // Any other spelling of the same request is left to the canonical path.
        let reordered = br#"{"user":"u1","temperature":0.7,"model":"m","messages":[{"content":"hi","role":"user"}]}"#;
        assert!(scope.find_by_bytes("POST", endpoint, reordered).is_none());
        assert!(scope
            .find_by_canonical(&canonical_of(reordered, &[]))
            .is_some());
        assert!(scope.find_by_bytes("PUT", endpoint, &bytes).is_none());
        assert!(scope
            .find_by_bytes("POST", "/v1/completions", &bytes)
            .is_none());

        // Once `user` is ignored the recorded bytes no longer give the recording's
        // canonical text, so the bytes must not find it either: both paths miss.
        let ignore = vec!["user".to_string()];
        let mut scope = store.load_scope(test).unwrap();
        scope.index_request_bytes(&ignore, test);
        assert!(scope.find_by_bytes("POST", endpoint, &bytes).is_none());
        assert!(scope
            .find_by_canonical(&canonical_of(&bytes, &ignore))
            .is_none());
        // Nor for another test id whose folder is the same one.
        let mut scope = store.load_scope(test).unwrap();
        scope.index_request_bytes(&[], "m::t ");
        assert!(scope.find_by_bytes("POST", endpoint, &bytes).is_none());
    }

    #[test]
    fn a_file_not_named_after_its_request_is_reported_by_name_on_use() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        let r = rec(Some("m::t"), "/v1/x", json!({"a": 1}));
        let wrong = "e".repeat(64);
        let wrong = RecordingKey::first(wrong);
        let p = store.write(&r, &wrong).unwrap();
        let Pick::Broken(err) = store.load_scope("m::t").unwrap().get(&wrong) else {
            panic!("a misnamed file is reported")
        };
        let err = err.to_string();
        assert!(
            err.contains(&p.display().to_string())
                && err.contains(&format!("hashes to {}", r.request_hash())),
            "{err}"
        );
    }

    #[test]
    fn occurrences_replay_in_order_then_the_last_repeats() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        let r = |status: &str| rec(Some("m::t"), "/v1/files/file-1", json!({"status": status}));
        let hash = r("x").request_hash();
        store
            .write(&r("in_progress"), &RecordingKey::first(hash.as_str()))
            .unwrap();
        let p2 = store
            .write(&r("completed"), &RecordingKey::new(hash.as_str(), 2))
            .unwrap();
        assert!(p2.ends_with(format!("{hash}.2.json")));
        let mut scope = store.load_scope("m::t").unwrap();
        assert_eq!(scope.occurrences(&hash), 2);
        let status = |p: Pick| match p {
            Pick::Found(r) => format!("found {:?}", r.body),
            Pick::Last(r) => format!("last {:?}", r.body),
            other => format!("{other:?}"),
        };
        let seen: Vec<String> = (0..3)
            .map(|_| {
                let n = scope.next_occurrence(&hash);
                status(scope.get(&RecordingKey::new(hash.as_str(), n)))
            })
            .collect();
        assert!(
            seen[0].starts_with("found") && seen[0].contains("in_progress"),
            "{seen:?}"
        );
        assert!(
            seen[1].starts_with("found") && seen[1].contains("completed"),
            "{seen:?}"
        );
        assert!(
            seen[2].starts_with("last") && seen[2].contains("completed"),
            "{seen:?}"
        );
        assert!(matches!(
            scope.get(&RecordingKey::first("0".repeat(64))),
            Pick::None
        ));
    }
}
