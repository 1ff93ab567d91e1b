//! The recordings folder: where files live, atomic writes, and loading a test's
//! scope into memory for replay.
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

use crate::error::{Error, Result};
use crate::identity::sha256_hex;
use crate::recording::{RecordedRequest, RecordedResponse, Recording};
use crate::stream::{self, StreamFormat};
use bytes::Bytes;
use serde_json::Value;
use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// The folder of shared model lists.
pub const MODELS_DIR: &str = "_models";
/// The folder of requests made without a test id (e.g. `serve` without the header).
pub const SHARED_SCOPE: &str = "_shared";

/// A recordings folder.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

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
    /// The recording of the `occurrence`-th (from 1) time this request is made.
    pub fn get(&self, hash: &str, occurrence: u32) -> Pick {
        let Some(slots) = self.entries.get(hash) else {
            return Pick::None;
        };
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
    pub fn insert(&mut self, hash: String, occurrence: u32, replay: Arc<Replay>) {
        let slots = self.entries.entry(hash).or_default();
        let at = occurrence.max(1) as usize - 1;
        if slots.len() <= at {
            slots.resize(at + 1, None);
        }
        slots[at] = Some(Ok(replay));
    }

    fn load(&mut self, hash: String, occurrence: u32, slot: Slot) {
        let slots = self.entries.entry(hash).or_default();
        let at = occurrence.max(1) as usize - 1;
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

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// What [`Store::save_at`] did with a recording made again.
#[derive(Debug, Clone, PartialEq)]
pub enum Saved {
    /// There was no file: written.
    New,
    /// The file held another answer: rewritten. Says the first real difference.
    Changed(String),
    /// The file held these very bytes: untouched.
    Identical,
    /// The file held the same answer but for floats within the tolerance: kept as it
    /// was (`kept`), untouched. `largest` is the largest float difference.
    Equivalent {
        /// The largest absolute difference between an old and a new float.
        largest: f64,
        /// The recording on disk, which replay goes on serving.
        kept: Box<Recording>,
    },
}

/// What is at a recording's path before it is saved again.
enum Existing {
    /// Nothing.
    Missing,
    /// Something that is not a plain readable file under the size limit: replaced,
    /// never read.
    NotPlain,
    /// A regular file's bytes.
    Bytes(Vec<u8>),
}

/// Looks at `path` once (one `symlink_metadata`), reading it only when it is a
/// regular file no bigger than the recording limit.
fn read_existing(path: &Path) -> Existing {
    match std::fs::symlink_metadata(path) {
        Err(_) => Existing::Missing,
        Ok(meta)
            if !meta.file_type().is_file() || meta.len() > crate::env::max_recording_bytes() =>
        {
            Existing::NotPlain
        }
        Ok(_) => std::fs::read(path).map_or(Existing::NotPlain, Existing::Bytes),
    }
}

impl Store {
    /// A store rooted at `root` (need not exist yet).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Store { root: root.into() }
    }

    /// The root folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The folder of a test's recordings.
    pub fn scope_dir(&self, test_id: &str) -> PathBuf {
        let mut dir = self.root.clone();
        for part in scope_parts(test_id) {
            dir.push(part);
        }
        dir
    }

    /// The file of a recording (the first occurrence of its request).
    pub fn recording_path(&self, test_id: &str, hash: &str) -> PathBuf {
        self.recording_path_at(test_id, hash, 1)
    }

    /// The file of the `occurrence`-th exchange of a request: `<hash>.json` for the
    /// first, `<hash>.<n>.json` for the n-th.
    pub fn recording_path_at(&self, test_id: &str, hash: &str, occurrence: u32) -> PathBuf {
        self.scope_dir(test_id).join(file_name(hash, occurrence))
    }

    /// Writes a recording atomically (temporary file in the same folder, then
    /// rename) and returns its path. Readers never see a partial file.
    pub fn write(&self, rec: &Recording, hash: &str) -> Result<PathBuf> {
        self.write_at(rec, hash, 1)
    }

    /// [`Store::write`] for the `occurrence`-th exchange of a request.
    pub fn write_at(&self, rec: &Recording, hash: &str, occurrence: u32) -> Result<PathBuf> {
        let path = self.path_of(rec, hash, occurrence)?;
        write_atomic(&path, &rec.to_pretty_bytes())?;
        Ok(path)
    }

    /// Writes a recording made again, unless the file on disk holds the same answer:
    /// the same bytes, or the same JSON but for floats within `tolerance` (see
    /// [`crate::tolerance`]). A kept file is left untouched, byte for byte and
    /// mtime; a file that cannot be read or parsed is replaced.
    ///
    /// ```
    /// use recorder_runtime::recording::{RecordedRequest, RecordedResponse, Recording};
    /// use recorder_runtime::store::{Saved, Store};
    /// use recorder_runtime::tolerance::Tolerance;
    /// let dir = tempfile::tempdir().unwrap();
    /// let store = Store::new(dir.path());
    /// let rec = |body: &[u8]| Recording {
    ///     test_id: Some("t::embeds".into()),
    ///     request: RecordedRequest { method: "POST".into(), endpoint: "/v1/embeddings".into(), model: None, body: serde_json::json!({}) },
    ///     response: RecordedResponse::plain(200, Some("application/json"), body),
    /// };
    /// let t = Tolerance::default();
    /// let (path, saved) = store.save_at(&rec(br#"{"e":[0.25]}"#), "ab", 1, &t).unwrap();
    /// assert!(matches!(saved, Saved::New));
    /// let before = std::fs::read(&path).unwrap();
    /// let (_, saved) = store.save_at(&rec(br#"{"e":[0.2512]}"#), "ab", 1, &t).unwrap();
    /// assert!(matches!(saved, Saved::Equivalent { .. }));
    /// assert_eq!(std::fs::read(&path).unwrap(), before);
    /// let (_, saved) = store.save_at(&rec(br#"{"e":[0.5]}"#), "ab", 1, &t).unwrap();
    /// assert!(matches!(saved, Saved::Changed(_)));
    /// ```
    pub fn save_at(
        &self,
        rec: &Recording,
        hash: &str,
        occurrence: u32,
        tolerance: &crate::tolerance::Tolerance,
    ) -> Result<(PathBuf, Saved)> {
        use crate::tolerance::{compare_recordings, Verdict};
        let path = self.path_of(rec, hash, occurrence)?;
        let bytes = rec.to_pretty_bytes();
        let saved = match read_existing(&path) {
            Existing::Missing => Saved::New,
            Existing::NotPlain => Saved::Changed(
                "the file on disk was not a plain readable file under the size limit".into(),
            ),
            Existing::Bytes(old) if old == bytes => Saved::Identical,
            Existing::Bytes(old) => match Recording::from_slice(&old, &path) {
                Err(e) => Saved::Changed(format!("the file on disk was not a recording ({e})")),
                Ok(old) => match compare_recordings(&old, rec, tolerance) {
                    Verdict::Changed(difference) => Saved::Changed(difference.to_string()),
                    Verdict::Equal => Saved::Equivalent {
                        largest: 0.0,
                        kept: Box::new(old),
                    },
                    Verdict::Within { largest } => Saved::Equivalent {
                        largest,
                        kept: Box::new(old),
                    },
                },
            },
        };
        if matches!(saved, Saved::New | Saved::Changed(_)) {
            write_atomic(&path, &bytes)?;
        }
        Ok((path, saved))
    }

    /// Where a recording goes; an error for a test id that names no folder or a
    /// path through a symlink.
    fn path_of(&self, rec: &Recording, hash: &str, occurrence: u32) -> Result<PathBuf> {
        let path = match &rec.test_id {
            Some(t) => {
                check_test_id(t)?;
                self.recording_path_at(t, hash, occurrence)
            }
            None => self.model_list_path(hash, &model_set_digest(&rec.response)),
        };
        self.check_inside(&path)?;
        Ok(path)
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

    /// Loads every recording of a test into memory, keyed by file name (= request hash
    /// and occurrence). Only regular files count (see [`read_recording_file`]).
    pub fn load_scope(&self, test_id: &str) -> Result<ScopeRecordings> {
        check_test_id(test_id)?;
        let dir = self.scope_dir(test_id);
        self.check_inside(&dir.join("_"))?;
        let mut out = ScopeRecordings::default();
        for entry in entries(&dir, "cannot read recordings folder")? {
            let path = entry.path();
            let Some((hash, occurrence)) = parse_file_name(&entry.file_name().to_string_lossy())
            else {
                continue;
            };
            match read_recording_file(&path).and_then(|rec| check_name(rec, &hash, &path)) {
                Ok((rec, canonical)) => {
                    let replay = Arc::new(Replay::from_recording(rec, path.clone()));
                    out.by_canonical
                        .entry(canonical)
                        .or_insert_with(|| Arc::from(hash.as_str()));
                    out.load(hash, occurrence, Ok(replay));
                }
                Err(e) => out.load(hash, occurrence, Err(Arc::new(e))),
            }
        }
        Ok(out)
    }

    /// The file of one model set of a model-list request.
    pub fn model_list_path(&self, hash: &str, digest8: &str) -> PathBuf {
        self.root
            .join(MODELS_DIR)
            .join(format!("models-{hash}-{digest8}.json"))
    }

    /// Every recorded model list for a request hash.
    pub fn model_lists(&self, hash: &str) -> Result<Vec<(PathBuf, Recording)>> {
        let dir = self.root.join(MODELS_DIR);
        let prefix = format!("models-{hash}-");
        let mut out = Vec::new();
        for entry in entries(&dir, "cannot read model lists")? {
            let path = entry.path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if name.starts_with(&prefix) && name.ends_with(".json") {
                out.push((path.clone(), read_recording_file(&path)?));
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    /// Every recorded model list at the path of a model-list `endpoint`, whatever its
    /// query ([`model_list_key`]), sorted by file.
    pub fn model_lists_at(&self, endpoint: &str) -> Result<Vec<(PathBuf, Recording)>> {
        let key = model_list_key(endpoint);
        let mut out = Vec::new();
        for entry in entries(&self.root.join(MODELS_DIR), "cannot read model lists")? {
            let path = entry.path();
            if model_list_file_hash(&path).is_none() {
                continue;
            }
            let rec = read_recording_file(&path)?;
            if rec.request.method.eq_ignore_ascii_case("GET")
                && model_list_key(&rec.request.endpoint) == key
            {
                out.push((path, rec));
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    /// The merged model list for a model-list `endpoint`: the union by model id of
    /// every list recorded at its path, whatever their query (a list recorded with
    /// `?project_id=...` merges with the plain one), sorted, in the endpoint's own
    /// shape, and the request hashes of the lists merged. `None` when nothing is recorded.
    pub fn merged_model_list(&self, endpoint: &str) -> Result<Option<MergedModelList>> {
        let lists = self.model_lists_at(endpoint)?;
        let mut hashes: Vec<String> = lists
            .iter()
            .filter_map(|(p, _)| model_list_file_hash(p))
            .collect();
        hashes.dedup();
        Ok(merge_model_lists(lists).map(|replay| MergedModelList { replay, hashes }))
    }

    /// Every JSON file under the root that should be a recording (model lists
    /// included; not the tests' `_ids.json`), sorted.
    pub fn files(&self) -> Result<Vec<PathBuf>> {
        let mut out = Vec::new();
        walk(&self.root, &mut out)?;
        out.sort();
        Ok(out)
    }

    /// Temporary files that a write interrupted between creating and renaming them
    /// left behind (see [`write_atomic`]); everything else ignores them.
    pub fn leftover_temp_files(&self) -> Result<Vec<PathBuf>> {
        fn walk_temp(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
            for entry in entries(dir, "cannot read recordings folder")? {
                let name = entry.file_name();
                let name = name.to_string_lossy();
                if entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                    if !name.starts_with('.') {
                        walk_temp(&entry.path(), out)?;
                    }
                } else if is_temp_name(&name) {
                    out.push(entry.path());
                }
            }
            Ok(())
        }
        let mut out = Vec::new();
        walk_temp(&self.root, &mut out)?;
        out.sort();
        Ok(out)
    }
}

/// `.<file>.json.<pid>.<n>.tmp`, the name [`write_atomic`] writes to first.
fn is_temp_name(name: &str) -> bool {
    name.starts_with('.') && name.ends_with(".tmp") && name.contains(".json.")
}

/// The model lists of one path merged (see [`Store::merged_model_list`]).
#[derive(Debug)]
pub struct MergedModelList {
    /// The merged list, ready to serve.
    pub replay: Replay,
    /// The request hashes of the recorded lists it merges: a replay uses each of them.
    pub hashes: Vec<String>,
}

/// What model lists merge by: the endpoint's path without its query or a trailing `/`.
///
/// ```
/// use recorder_runtime::store::model_list_key;
/// assert_eq!(model_list_key("/v1/models?project_id=p"), "/v1/models");
/// assert_eq!(model_list_key("/api/tags/"), "/api/tags");
/// ```
pub fn model_list_key(endpoint: &str) -> &str {
    endpoint
        .split('?')
        .next()
        .unwrap_or(endpoint)
        .trim_end_matches('/')
}

/// The request hash in a model list's file name (`models-<hash>-<digest8>.json`).
fn model_list_file_hash(path: &Path) -> Option<String> {
    let name = path.file_name()?.to_str()?;
    let rest = name.strip_prefix("models-")?.strip_suffix(".json")?;
    let (hash, digest) = rest.split_once('-')?;
    let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
    (hex(hash, 64) && hex(digest, 8)).then(|| hash.to_owned())
}

/// Merges model lists (see [`Store::merged_model_list`]).
pub fn merge_model_lists(lists: Vec<(PathBuf, Recording)>) -> Option<Replay> {
    let (first_path, first) = lists.first()?.clone();
    let ok: Vec<_> = lists
        .iter()
        .filter(|(_, r)| r.response.status < 400)
        .collect();
    if ok.is_empty() {
        return Some(Replay::from_recording(first, first_path));
    }
    let ollama = first.request.endpoint.starts_with("/api/");
    let mut by_id: std::collections::BTreeMap<String, Value> = Default::default();
    for (_, rec) in &ok {
        for item in model_items(&rec.response) {
            by_id.entry(model_id(item)).or_insert_with(|| item.clone());
        }
    }
    let items: Vec<Value> = by_id.into_values().collect();
    let body = if ollama {
        serde_json::json!({ "models": items })
    } else {
        serde_json::json!({ "object": "list", "data": items })
    };
    let (path, rec) = ok[0];
    let mut merged = (*rec).clone();
    merged.response = RecordedResponse::plain(
        200,
        Some("application/json"),
        &serde_json::to_vec(&body).expect("json"),
    );
    Some(Replay::from_recording(merged, path.clone()))
}

/// The items of a model-list body (`data` for OpenAI, `models` for Ollama, or a bare list).
pub fn model_items(resp: &RecordedResponse) -> Vec<&Value> {
    match &resp.body {
        Some(Value::Array(items)) => items.iter().collect(),
        Some(Value::Object(map)) => map
            .get("data")
            .or_else(|| map.get("models"))
            .and_then(Value::as_array)
            .map(|a| a.iter().collect())
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

fn model_id(item: &Value) -> String {
    ["id", "name", "model"]
        .iter()
        .find_map(|k| item.get(*k).and_then(Value::as_str))
        .map(str::to_owned)
        .unwrap_or_else(|| item.to_string())
}

/// First 8 hex of the sha256 of the sorted model ids, one per line.
pub fn model_set_digest(resp: &RecordedResponse) -> String {
    let mut ids: Vec<String> = model_items(resp).into_iter().map(model_id).collect();
    ids.sort();
    ids.dedup();
    sha256_hex(ids.join("\n").as_bytes())[..8].to_string()
}

/// A recording whose request does not hash to its file name would answer another
/// request than its own: an error naming the file, never a silent wrong answer. (A
/// request with a secret scrubbed from it was hashed scrubbed, so it is checked too.)
/// Returns the request's canonical text.
fn check_name(rec: Recording, hash: &str, path: &Path) -> Result<(Recording, String)> {
    let canonical = rec.request.identity(rec.test_id.as_deref()).canonical();
    let actual = sha256_hex(canonical.as_bytes());
    if actual == hash {
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

/// Reads a recording file, if it is a regular file (not a symlink, FIFO or device) no
/// bigger than [`crate::env::max_recording_bytes`]: anything else is an error naming the file,
/// never a read that blocks or fills memory.
pub fn read_recording_file(path: &Path) -> Result<Recording> {
    let meta =
        std::fs::symlink_metadata(path).map_err(|e| Error::io("cannot read recording", path, e))?;
    if !meta.file_type().is_file() {
        return Err(Error::corrupt(
            path,
            "it is not a regular file (a symlink, folder, FIFO or device); recordings are plain files, so it is not read",
        ));
    }
    let limit = crate::env::max_recording_bytes();
    if meta.len() > limit {
        return Err(Error::corrupt(
            path,
            format!(
                "it is {} bytes, over the limit of {limit} (RECORDER_MAX_RECORDING_BYTES)",
                meta.len()
            ),
        ));
    }
    Recording::read(path)
}

/// The inputs of [`crate::idmap::IdsFile::scan`] for a test's folder: each readable
/// recording's file name, request text (method, endpoint and body) and JSON, sorted by
/// file name.
pub fn scan_inputs(dir: &Path) -> Result<Vec<(String, String, Value)>> {
    let mut out = Vec::new();
    for entry in entries(dir, "cannot read recordings folder")? {
        let name = entry.file_name().to_string_lossy().into_owned();
        if parse_file_name(&name).is_none() {
            continue;
        }
        let Ok(rec) = read_recording_file(&entry.path()) else {
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

/// What a test's `_ids.json` holds for its recordings (in [`scan_inputs`]' form):
/// `None` when no request sends an id back, and the file should not exist.
pub fn ids_file_bytes(test_id: &str, inputs: &[(String, String, Value)]) -> Option<Vec<u8>> {
    let file = crate::idmap::IdsFile::scan(test_id, inputs);
    (!file.ids.is_empty()).then(|| file.to_pretty_bytes())
}

/// Brings a test folder's `_ids.json` in line with the recordings in it: rewritten
/// when it differs, removed when no request sends an id back (or none is left). The
/// engine calls it after recording, `cargo recordings` after normalizing, importing
/// or pruning.
pub fn refresh_ids_file(dir: &Path) -> Result<()> {
    let inputs = scan_inputs(dir)?;
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
        Some(bytes) if std::fs::read(&path).ok().as_deref() == Some(&bytes[..]) => Ok(()),
        Some(bytes) => write_atomic(&path, &bytes),
    }
}

/// A request as one text (method, endpoint, body), for finding ids it sends.
pub fn request_text(req: &RecordedRequest) -> String {
    format!("{} {} {}", req.method, req.endpoint, req.body)
}

/// Whether a file name is a recording's: `<hash>.json`, `<hash>.<n>.json`, or a model
/// list's `models-<hash>-<digest8>.json` (and not, e.g., a test's `_ids.json`).
pub fn is_recording_name(name: &str) -> bool {
    parse_file_name(name).is_some() || (name.starts_with("models-") && name.ends_with(".json"))
}

/// The file name of the `occurrence`-th exchange of a request.
///
/// ```
/// use recorder_runtime::store::{file_name, parse_file_name};
/// let h = "a".repeat(64);
/// assert_eq!(file_name(&h, 1), format!("{h}.json"));
/// assert_eq!(file_name(&h, 3), format!("{h}.3.json"));
/// assert_eq!(parse_file_name(&file_name(&h, 3)), Some((h.clone(), 3)));
/// assert_eq!(parse_file_name("_ids.json"), None);
/// ```
pub fn file_name(hash: &str, occurrence: u32) -> String {
    if occurrence <= 1 {
        format!("{hash}.json")
    } else {
        format!("{hash}.{occurrence}.json")
    }
}

/// The request hash and occurrence a recording file is named after, or `None` for
/// files that are not recordings.
pub fn parse_file_name(name: &str) -> Option<(String, u32)> {
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
        .then(|| (hash.to_string(), occurrence))
}

/// The hash a recording file is named after, or `None` for files that are not recordings.
pub fn recording_file_hash(path: &Path) -> Option<String> {
    parse_file_name(path.file_name()?.to_str()?).map(|(h, _)| h)
}

/// The entries of a folder, or none when it does not exist (a test that has not
/// recorded anything yet); other failures are errors naming the folder.
fn entries(dir: &Path, action: &'static str) -> Result<Vec<std::fs::DirEntry>> {
    match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .collect::<std::io::Result<_>>()
            .map_err(|e| Error::io(action, dir, e)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(Error::io(action, dir, e)),
    }
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for entry in entries(dir, "cannot read recordings folder")? {
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') {
            continue;
        }
        if entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            walk(&path, out)?;
        } else if name.ends_with(".json") && name != crate::idmap::IDS_FILE {
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

/// Whether a test id can have recordings: the empty id is the shared scope; any other
/// must name a folder (not `/` or `::` alone) that is not one of the store's own
/// (`_models`, `_shared`). The error says why.
///
/// ```
/// use recorder_runtime::store::check_test_id;
/// assert!(check_test_id("my_crate::chat::answers").is_ok());
/// assert!(check_test_id("").is_ok());
/// assert!(check_test_id("::").is_err());
/// assert!(check_test_id("_models").is_err());
/// ```
pub fn check_test_id(test_id: &str) -> Result<()> {
    if test_id.is_empty() {
        return Ok(());
    }
    let parts = scope_parts(test_id);
    let why = match parts.first().map(String::as_str) {
        None => "it names no folder (it is only separators)",
        Some(MODELS_DIR) | Some(SHARED_SCOPE) => {
            "its folder would be one the recorder keeps for itself (_models, _shared)"
        }
        _ if test_id.contains('\0') => "it holds a NUL character",
        _ => return Ok(()),
    };
    Err(Error::Routing(format!(
        "test id `{}` cannot have recordings: {why}. Use a test's path, such as `my_crate::module::test_name`",
        test_id.escape_debug()
    )))
}

/// Writes bytes to `path` atomically: a temporary file in the same folder, flushed,
/// then renamed over the target. A crash leaves either the old file or the new one.
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
        let mut f = std::fs::File::create(&tmp)?;
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
    use crate::recording::RecordedRequest;
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

    fn rec(test: Option<&str>, endpoint: &str, body: Value) -> Recording {
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
        store.write(&r, &ident.hash()).unwrap();
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

    #[test]
    fn atomic_write_leaves_no_temporary_files() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        let r = rec(Some("m::t"), "/v1/x", json!({"a": 1}));
        let hash = r.request_hash();
        let p = store.write(&r, &hash).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), r.to_pretty_bytes());
        let names: Vec<_> = std::fs::read_dir(p.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
        let scope = store.load_scope("m::t").unwrap();
        assert_eq!(scope.len(), 1);
        assert!(matches!(scope.get(&hash, 1), Pick::Found(_)));
    }

    #[test]
    fn a_file_not_named_after_its_request_is_reported_by_name_on_use() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        let r = rec(Some("m::t"), "/v1/x", json!({"a": 1}));
        let wrong = "e".repeat(64);
        let p = store.write(&r, &wrong).unwrap();
        let Pick::Broken(err) = store.load_scope("m::t").unwrap().get(&wrong, 1) else {
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
        store.write_at(&r("in_progress"), &hash, 1).unwrap();
        let p2 = store.write_at(&r("completed"), &hash, 2).unwrap();
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
                status(scope.get(&hash, n))
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
        assert!(matches!(scope.get(&"0".repeat(64), 1), Pick::None));
    }

    #[test]
    fn only_regular_files_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        let hash = "a".repeat(64);
        let path = store.recording_path("m::t", &hash);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink("/dev/zero", &path).unwrap();
        #[cfg(not(unix))]
        std::fs::create_dir(&path).unwrap();
        let Pick::Broken(err) = store.load_scope("m::t").unwrap().get(&hash, 1) else {
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
        let path = store.recording_path("m::t", &hash);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, b"{\"test_id\": ").unwrap();
        let scope = store.load_scope("m::t").unwrap();
        let Pick::Broken(err) = scope.get(&hash, 1) else {
            panic!("a broken file")
        };
        let err = err.to_string();
        assert!(
            err.contains(&path.display().to_string()) && err.contains("truncated"),
            "{err}"
        );
    }

    #[test]
    fn model_lists_merge_by_id_sorted() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        let a = rec(
            None,
            "/v1/models",
            json!({"object": "list", "data": [{"id": "b", "object": "model"}, {"id": "a", "object": "model"}]}),
        );
        let b = rec(
            None,
            "/v1/models",
            json!({"object": "list", "data": [{"id": "c", "object": "model"}, {"id": "a", "object": "model"}]}),
        );
        let hash = "c".repeat(64);
        let pa = store.write(&a, &hash).unwrap();
        let pb = store.write(&b, &hash).unwrap();
        assert_ne!(pa, pb, "one file per model set");
        assert_eq!(store.write(&a, &hash).unwrap(), pa, "same set, same file");
        let merged = store.merged_model_list("/v1/models").unwrap().unwrap();
        let ReplayBody::Full(body) = merged.replay.body else {
            panic!()
        };
        let v: Value = serde_json::from_slice(&body).unwrap();
        let ids: Vec<_> = v["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, ["a", "b", "c"]);
        assert_eq!(v["object"], "list");
    }

    #[test]
    fn model_lists_merge_whatever_their_query() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        let list = |endpoint: &str, id: &str| {
            let rec = rec(
                None,
                endpoint,
                json!({"object": "list", "data": [{"id": id, "object": "model"}]}),
            );
            let hash = rec.request_hash();
            store.write(&rec, &hash).unwrap();
            hash
        };
        let plain = list("/v1/models", "gpt-4o");
        let watsonx = list("/v1/models?project_id=p-1", "ibm/granite-3-8b-instruct");
        list("/api/tags", "llama3:8b");
        for asked in [
            "/v1/models",
            "/v1/models?project_id=p-1",
            "/v1/models?other=1",
        ] {
            let merged = store.merged_model_list(asked).unwrap().unwrap();
            let ReplayBody::Full(body) = &merged.replay.body else {
                panic!()
            };
            let v: Value = serde_json::from_slice(body).unwrap();
            let ids: Vec<_> = v["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["id"].as_str().unwrap())
                .collect();
            assert_eq!(ids, ["gpt-4o", "ibm/granite-3-8b-instruct"], "{asked}");
            let mut expected = vec![plain.clone(), watsonx.clone()];
            expected.sort();
            let mut hashes = merged.hashes.clone();
            hashes.sort();
            assert_eq!(hashes, expected, "{asked}: every merged list is used");
        }
        assert!(store.merged_model_list("/v1/other").unwrap().is_none());
    }

    #[test]
    fn ollama_tags_merge_in_their_shape() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        let hash = "d".repeat(64);
        store
            .write(
                &rec(
                    None,
                    "/api/tags",
                    json!({"models": [{"name": "llama3:8b"}]}),
                ),
                &hash,
            )
            .unwrap();
        store
            .write(
                &rec(
                    None,
                    "/api/tags",
                    json!({"models": [{"name": "all-minilm"}]}),
                ),
                &hash,
            )
            .unwrap();
        let ReplayBody::Full(body) = store
            .merged_model_list("/api/tags")
            .unwrap()
            .unwrap()
            .replay
            .body
        else {
            panic!()
        };
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            v,
            json!({"models": [{"name": "all-minilm"}, {"name": "llama3:8b"}]})
        );
    }
}
