//! Server-issued ids and the placeholders that replace them in recordings.
//!
//! APIs that keep state hand out ids (`resp_…`, `file-…`, `vs_…`, `msg_…`, `call_…`)
//! that later requests send back: `previous_response_id`, `GET /v1/responses/{id}`,
//! `/v1/vector_stores/{id}/files`. The server picks a new random id on every call, so a
//! recording keeps a stable placeholder instead, and every later request of the same
//! test is matched with its real ids replaced by their placeholders:
//!
//! - **Record.** The client sees the real ids and sends them back. Each id a response
//!   issues gets a placeholder ([`placeholder`]); before a later request is hashed and
//!   stored, known real ids in its body, path and query become their placeholders
//!   ([`IdMap::substitute`]). The request sent upstream keeps the real ids.
//! - **Replay.** The client sees the placeholders and sends them back: the requests are
//!   the stored ones.
//!
//! # Which values are ids
//! A string under a key `id`, `*_id` or `*_ids` (a list), anywhere in a response body or
//! stream event, that looks like an id (8 to 200 characters of letters, digits and
//! `-_.:`, with a letter and a digit, or a known prefix), that the exchange's own
//! request does not contain (a client's own ids are left alone), outside `metadata`,
//! and not a model's name (keys naming a model or provider, objects with
//! `"object": "model"`).
//!
//! # Placeholders
//! `<prefix>rec-<first 12 hex of the request hash>`, where the prefix is kept when it
//! is one of [`KEPT_PREFIXES`] (so clients that check `resp_` or `file-` still work), and
//! `-<n>` is added for the n-th further id of the same exchange, `.<k>` before it for the
//! k-th occurrence of a repeated request. A chat completion's `chatcmpl-…` becomes
//! `rec-<hash>`, as it always did.
//!
//! A request may send back an id that no answer of its test issued: a tool call id of a
//! turn a partial corpus left out, an id another test created. Such an id, when it
//! carries a prefix servers issue ([`sends_back`]), gets a placeholder derived from
//! the id itself ([`derived_placeholder`]: `<prefix>rec-<first 12 hex of its
//! sha256>-ext`), the same wherever it is met: on import and `normalize`, and when a
//! request carries it in record or replay. So the request replays whether the client
//! sends the raw id (it never saw it issued) or its placeholder (a later answer showed
//! it), and every answer that shows it lines up.
//!
//! ```
//! use recorder_runtime::idmap::{placeholder, IdMap, Issuer};
//! use serde_json::json;
//! let hash = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
//! assert_eq!(placeholder("resp_68af01", hash, 1, 0), "resp_rec-0123456789ab");
//! assert_eq!(placeholder("msg_99", hash, 1, 2), "msg_rec-0123456789ab-2");
//! assert_eq!(placeholder("file-abc123", hash, 3, 0), "file-rec-0123456789ab.3");
//!
//! let mut ids = IdMap::default();
//! let mut issuer = Issuer::new(hash, 1, r#"{"input":"hi"}"#);
//! issuer.absorb(&mut ids, &json!({"id": "resp_68af0a1b2c", "output": [{"id": "msg_1f2e3d4c5b"}]}));
//! assert_eq!(ids.substitute(r#"{"previous_response_id":"resp_68af0a1b2c"}"#),
//!            r#"{"previous_response_id":"resp_rec-0123456789ab"}"#);
//! ```

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet};

/// Id prefixes kept in placeholders, by API (the longest match wins):
/// OpenAI Responses (`resp_`, `msg_`, `fc_`, `rs_`, `ws_`, `fs_`, `ci_`, `ig_`, `mcp_`,
/// `mcpl_`, `mcpr_`, `lsh_`, `cu_`, `ctc_`), tool calls (`call_`), files, vector stores,
/// uploads and batches (`file-`, `file_`, `vs_`, `vsfb_`, `upload_`, `part_`, `batch_`,
/// `ftjob-`), conversations (`conv_`), assistants (`asst_`, `thread_`, `run_`, `step_`),
/// Anthropic (`msg_`, `toolu_`, `srvtoolu_`, `msgbatch_`).
pub const KEPT_PREFIXES: &[&str] = &[
    "resp_",
    "msg_",
    "fc_",
    "rs_",
    "ws_",
    "fs_",
    "ci_",
    "ig_",
    "mcp_",
    "mcpl_",
    "mcpr_",
    "lsh_",
    "cu_",
    "ctc_",
    "call_",
    "file-",
    "file_",
    "vs_",
    "vsfb_",
    "upload_",
    "part_",
    "batch_",
    "ftjob-",
    "conv_",
    "asst_",
    "thread_",
    "run_",
    "step_",
    "toolu_",
    "srvtoolu_",
    "msgbatch_",
    "item_",
];

/// What every placeholder holds, followed by 12 hex digits.
pub const MARKER: &str = "rec-";

/// The name of the id map kept in each test's folder (see [`IdsFile`]).
pub const IDS_FILE: &str = "_ids.json";

/// The kept prefix of an id, or `""`.
///
/// ```
/// use recorder_runtime::idmap::prefix_of;
/// assert_eq!(prefix_of("msgbatch_01abc"), "msgbatch_");
/// assert_eq!(prefix_of("chatcmpl-123"), "");
/// ```
pub fn prefix_of(id: &str) -> &'static str {
    KEPT_PREFIXES
        .iter()
        .filter(|p| id.len() > p.len() && id.starts_with(**p))
        .max_by_key(|p| p.len())
        .copied()
        .unwrap_or("")
}

/// The placeholder of the `ordinal`-th id (from 0) that the `occurrence`-th (from 1)
/// exchange of a request with this hash issued (see the [module docs](self)).
pub fn placeholder(id: &str, request_hash: &str, occurrence: u32, ordinal: usize) -> String {
    let mut out = String::with_capacity(32);
    out.push_str(prefix_of(id));
    out.push_str(MARKER);
    out.push_str(&request_hash[..request_hash.len().min(12)]);
    if occurrence > 1 {
        out.push('.');
        out.push_str(&occurrence.to_string());
    }
    if ordinal > 0 {
        out.push('-');
        out.push_str(&ordinal.to_string());
    }
    out
}

/// The id a request hash stands for where a response names its request: a request-id
/// header, a top-level `id` too short to look like an id (see [`crate::normalize`]):
/// `rec-<first 12 hex of the hash>`.
pub fn normalized_id(request_hash: &str) -> String {
    format!("rec-{}", &request_hash[..request_hash.len().min(12)])
}

/// The suffix of a placeholder derived from the id itself ([`derived_placeholder`]).
pub const DERIVED_SUFFIX: &str = "-ext";

/// The placeholder of a server-issued id that a request sends back but no answer of
/// its test issued: derived from the id itself, so that the same id gets the same
/// placeholder wherever it is met (see the [module docs](self)).
///
/// ```
/// use recorder_runtime::idmap::{derived_placeholder, is_derived_placeholder, is_placeholder};
/// let p = derived_placeholder("call_BfIHr9Q2Epbe6bziZ15y7OwM");
/// assert!(p.starts_with("call_rec-") && p.ends_with("-ext"));
/// assert_eq!(p, derived_placeholder("call_BfIHr9Q2Epbe6bziZ15y7OwM"));
/// assert!(is_placeholder(&p) && is_derived_placeholder(&p));
/// ```
pub fn derived_placeholder(id: &str) -> String {
    let mut out = placeholder(id, &crate::identity::sha256_hex(id.as_bytes()), 1, 0);
    out.push_str(DERIVED_SUFFIX);
    out
}

/// Whether `s` is a placeholder derived from an id itself ([`derived_placeholder`]):
/// no recording issued it.
pub fn is_derived_placeholder(s: &str) -> bool {
    s.ends_with(DERIVED_SUFFIX) && is_placeholder(s)
}

/// Whether a string that a request carries under an id key is a server-issued id it
/// sends back: it looks like an id, carries a prefix servers issue ([`KEPT_PREFIXES`]),
/// and is no placeholder. (A client's own ids rarely carry such a prefix; one that does
/// is treated alike in record and replay, so it still replays.)
///
/// ```
/// use recorder_runtime::idmap::sends_back;
/// assert!(sends_back("call_j2jdmkk1") && sends_back("toolu_01A09q90qw90lq917835lq9"));
/// assert!(!sends_back("call_rec-0123456789ab"), "a placeholder");
/// assert!(!sends_back("1461945d-7925-4b82-b90b-ecd907a98d77"), "no server prefix");
/// ```
pub fn sends_back(s: &str) -> bool {
    s.len() >= SHORTEST_SENT_BACK
        && !prefix_of(s).is_empty()
        && is_id_like(s)
        && !is_placeholder(s)
}

/// The shortest id [`sends_back`] takes (its shortest prefix and four characters,
/// see [`is_id_like`]): every request's path words are checked, and most are shorter.
const SHORTEST_SENT_BACK: usize = {
    let mut shortest = usize::MAX;
    let mut i = 0;
    while i < KEPT_PREFIXES.len() {
        let p = KEPT_PREFIXES[i].as_bytes();
        // `unknown_sent_back` skips paths without `_` or `-`: every prefix ends in one.
        assert!(matches!(p[p.len() - 1], b'_' | b'-'), "a kept prefix ends in _ or -");
        if p.len() < shortest {
            shortest = p.len();
        }
        i += 1;
    }
    shortest + 4
};

/// The server-issued ids a request sends back ([`sends_back`]) that `known` does not
/// map, each with its [`derived_placeholder`]: under the id keys of its JSON body
/// ([`walk_ids`]), and in its path segments and query values when they also hold a
/// digit (a path word such as `file_search` is no id). Empty, cheaply, for a body
/// without an id key.
pub fn unknown_sent_back(endpoint: &str, body: &[u8], known: &IdMap) -> IdMap {
    let mut out = IdMap::default();
    let mut add = |id: &str| {
        if sends_back(id) && known.get(id).is_none() && out.get(id).is_none() {
            out.insert(id, derived_placeholder(id));
        }
    };
    // Every kept prefix ends in `_` or `-`: a path without either (most) sends none.
    if memchr::memchr2(b'_', b'-', endpoint.as_bytes()).is_some() {
        for token in endpoint.split(['/', '?', '&', '=']) {
            if token.len() >= SHORTEST_SENT_BACK && token.bytes().any(|b| b.is_ascii_digit()) {
                add(token);
            }
        }
    }
    // Every request of every test passes here: one search for `id` (its finder built
    // once), then a look at what follows, rather than one search per key spelling.
    static ID: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
        std::sync::LazyLock::new(|| memchr::memmem::Finder::new(b"id"));
    let has_id_key = ID.find_iter(body).any(|at| {
        let rest = &body[at + 2..];
        rest.starts_with(b"\"") || rest.starts_with(b"s\"")
    });
    if has_id_key {
        if let Ok(value) = serde_json::from_slice::<Value>(body) {
            walk_ids(&value, &mut |_, id| add(id));
        }
    }
    out
}

/// Whether `s` holds a placeholder (`rec-` and 12 lowercase hex digits).
///
/// ```
/// assert!(recorder_runtime::idmap::is_placeholder("resp_rec-0123456789ab"));
/// assert!(!recorder_runtime::idmap::is_placeholder("resp_68af0a1b2c"));
/// ```
pub fn is_placeholder(s: &str) -> bool {
    placeholders_in(s).next().is_some()
}

/// The 12 hex digits after the first placeholder marker in `s` (the start of the
/// hash of the recording that issued it), if there is one.
pub(crate) fn placeholder_hash(s: &str) -> Option<&str> {
    let at = s.find(MARKER)? + MARKER.len();
    s.get(at..at + 12)
}

/// The placeholder tokens in a text: each `rec-` + 12 hex, widened to the id
/// characters around it (`resp_rec-0123456789ab-2`).
pub fn placeholders_in(s: &str) -> impl Iterator<Item = &str> {
    let bytes = s.as_bytes();
    memchr::memmem::find_iter(bytes, MARKER.as_bytes()).filter_map(move |at| {
        let hex = bytes.get(at + 4..at + 16)?;
        if !hex
            .iter()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b))
        {
            return None;
        }
        let start = bytes[..at]
            .iter()
            .rposition(|b| !is_id_byte(*b))
            .map_or(0, |i| i + 1);
        let end = bytes[at..]
            .iter()
            .position(|b| !is_id_byte(*b))
            .map_or(bytes.len(), |i| at + i);
        Some(&s[start..end])
    })
}

/// Whether `text` holds `id` as a whole token (not inside a longer id).
pub fn contains_token(text: &str, id: &str) -> bool {
    let bytes = text.as_bytes();
    memchr::memmem::find_iter(bytes, id.as_bytes()).any(|at| {
        let before = at.checked_sub(1).map(|i| bytes[i]);
        let after = bytes.get(at + id.len()).copied();
        !before.is_some_and(is_id_byte) && !after.is_some_and(is_id_byte)
    })
}

fn is_id_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':')
}

/// Whether a key names an id (or a list of them).
pub fn is_id_key(key: &str) -> bool {
    let lower = key.to_ascii_lowercase();
    (lower == "id" || lower == "ids" || lower.ends_with("_id") || lower.ends_with("_ids"))
        && !lower.contains("model")
        && !lower.contains("provider")
}

/// Whether a string looks like a server-issued id (see the [module docs](self)).
pub fn is_id_like(s: &str) -> bool {
    if s.len() > 200 || !s.bytes().all(is_id_byte) {
        return false;
    }
    let prefix = prefix_of(s);
    if !prefix.is_empty() {
        return s.len() >= prefix.len() + 4;
    }
    s.len() >= 8
        && s.bytes().any(|b| b.is_ascii_digit())
        && s.bytes().any(|b| b.is_ascii_alphabetic())
}

/// Calls `f(json_pointer, id)` for every id-keyed string of `v`, in document order
/// (see the [module docs](self) for which keys count and which subtrees are skipped).
pub fn walk_ids(v: &Value, f: &mut dyn FnMut(&str, &str)) {
    fn go(v: &Value, ptr: &mut String, f: &mut dyn FnMut(&str, &str)) {
        match v {
            Value::Object(map) => {
                let model_object = map.get("object").and_then(Value::as_str) == Some("model");
                for (k, child) in map {
                    if k == "metadata" {
                        continue;
                    }
                    let len = ptr.len();
                    ptr.push('/');
                    ptr.push_str(&crate::json::escape(k));
                    if is_id_key(k) && !(model_object && k == "id") {
                        match child {
                            Value::String(s) => f(ptr, s),
                            Value::Array(items) => {
                                for (i, item) in items.iter().enumerate() {
                                    if let Value::String(s) = item {
                                        f(&format!("{ptr}/{i}"), s);
                                    }
                                }
                            }
                            _ => {}
                        }
                    }
                    if child.is_object() || child.is_array() {
                        go(child, ptr, f);
                    }
                    ptr.truncate(len);
                }
            }
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    let len = ptr.len();
                    ptr.push('/');
                    ptr.push_str(&i.to_string());
                    go(item, ptr, f);
                    ptr.truncate(len);
                }
            }
            _ => {}
        }
    }
    go(v, &mut String::new(), f)
}

/// Real ids and their placeholders, for one test.
#[derive(Debug, Default, Clone)]
pub struct IdMap {
    to_placeholder: HashMap<String, String>,
    placeholders: HashSet<String>,
    /// Real ids, longest first, so that an id that contains another is replaced whole.
    order: Vec<String>,
}

impl IdMap {
    /// Whether no id is known.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }
    /// How many ids are known.
    pub fn len(&self) -> usize {
        self.order.len()
    }
    /// The placeholder of a real id.
    pub fn get(&self, real: &str) -> Option<&str> {
        self.to_placeholder.get(real).map(String::as_str)
    }
    /// Whether `s` is the placeholder of an id known here.
    pub fn is_known_placeholder(&self, s: &str) -> bool {
        self.placeholders.contains(s)
    }
    /// Maps a real id to a placeholder (the first mapping of an id wins).
    pub fn insert(&mut self, real: &str, placeholder: String) {
        if self.to_placeholder.contains_key(real) {
            return;
        }
        self.placeholders.insert(placeholder.clone());
        self.to_placeholder.insert(real.to_owned(), placeholder);
        let at = self
            .order
            .partition_point(|known| known.len() >= real.len());
        self.order.insert(at, real.to_owned());
    }

    /// Every real id and its placeholder, longest id first.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.order
            .iter()
            .map(|real| (real.as_str(), self.to_placeholder[real].as_str()))
    }

    /// Adds every mapping of `other` (the first mapping of an id wins).
    pub fn extend_from(&mut self, other: &IdMap) {
        for (real, placeholder) in other.iter() {
            self.insert(real, placeholder.to_owned());
        }
    }

    /// `s` with every known real id replaced by its placeholder.
    pub fn substitute<'a>(&self, s: &'a str) -> Cow<'a, str> {
        let mut out = Cow::Borrowed(s);
        for real in &self.order {
            if out.contains(real.as_str()) {
                out = Cow::Owned(out.replace(real.as_str(), &self.to_placeholder[real]));
            }
        }
        out
    }

    /// Bytes with every known real id replaced by its placeholder.
    pub fn substitute_bytes<'a>(&self, b: &'a [u8]) -> Cow<'a, [u8]> {
        let mut out = Cow::Borrowed(b);
        for real in &self.order {
            if memchr::memmem::find(&out, real.as_bytes()).is_some() {
                let ph = self.to_placeholder[real].as_bytes();
                let mut next = Vec::with_capacity(out.len());
                let mut last = 0;
                for at in memchr::memmem::find_iter(&out, real.as_bytes()) {
                    if at < last {
                        continue;
                    }
                    next.extend_from_slice(&out[last..at]);
                    next.extend_from_slice(ph);
                    last = at + real.len();
                }
                next.extend_from_slice(&out[last..]);
                out = Cow::Owned(next);
            }
        }
        out
    }

    /// `s` with every known id replaced where it stands as a whole token (not inside
    /// a longer id): for rewriting placeholders, which contain one another
    /// (`rec-…` is inside `resp_rec-…`).
    pub fn substitute_tokens<'a>(&self, s: &'a str) -> Cow<'a, str> {
        let bytes = s.as_bytes();
        let mut out = String::new();
        let mut last = 0;
        let mut i = 0;
        while i < bytes.len() {
            let starts_token = i == 0 || !is_id_byte(bytes[i - 1]);
            if starts_token && is_id_byte(bytes[i]) {
                let end = bytes[i..]
                    .iter()
                    .position(|b| !is_id_byte(*b))
                    .map_or(bytes.len(), |n| i + n);
                if let Some(ph) = self.to_placeholder.get(&s[i..end]) {
                    out.push_str(&s[last..i]);
                    out.push_str(ph);
                    last = end;
                }
                i = end;
            } else {
                i += 1;
            }
        }
        if last == 0 {
            return Cow::Borrowed(s);
        }
        out.push_str(&s[last..]);
        Cow::Owned(out)
    }

    /// [`IdMap::substitute_tokens`] in every string of `v`.
    pub fn apply_tokens(&self, v: &mut Value) {
        match v {
            Value::String(s) => {
                if let Cow::Owned(new) = self.substitute_tokens(s) {
                    *s = new;
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|i| self.apply_tokens(i)),
            Value::Object(map) => map.values_mut().for_each(|i| self.apply_tokens(i)),
            _ => {}
        }
    }

    /// Replaces known real ids in every string of `v` (not in object keys).
    pub fn apply(&self, v: &mut Value) {
        if self.is_empty() {
            return;
        }
        match v {
            Value::String(s) => {
                if let Cow::Owned(new) = self.substitute(s) {
                    *s = new;
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|i| self.apply(i)),
            Value::Object(map) => map.values_mut().for_each(|i| self.apply(i)),
            _ => {}
        }
    }

    /// The placeholders in `text` that are not known here: ids a replayed answer gave
    /// the client, which the real API never issued.
    pub fn foreign_placeholders<'a>(&self, text: &'a str) -> Vec<&'a str> {
        let mut out: Vec<&str> = placeholders_in(text)
            .filter(|p| !self.placeholders.contains(*p))
            .collect();
        out.dedup();
        out
    }
}

/// Assigns placeholders to the ids one exchange's response issues, in document order:
/// feed it the body, or every stream event in order.
#[derive(Debug, Clone)]
pub struct Issuer {
    hash: String,
    occurrence: u32,
    ordinal: usize,
    request: String,
}

impl Issuer {
    /// An issuer for the `occurrence`-th exchange of a request with this hash; `request`
    /// is the text the client sent (endpoint and body), whose ids are its own.
    pub fn new(request_hash: &str, occurrence: u32, request: impl Into<String>) -> Self {
        Issuer {
            hash: request_hash.to_owned(),
            occurrence,
            ordinal: 0,
            request: request.into(),
        }
    }

    /// Maps every new id of `v` to its placeholder in `ids`; returns how many were new.
    pub fn absorb(&mut self, ids: &mut IdMap, v: &Value) -> usize {
        let mut new = 0;
        walk_ids(v, &mut |_, id| {
            if is_id_like(id)
                && !is_placeholder(id)
                && ids.get(id).is_none()
                && !contains_token(&self.request, id)
            {
                let ph = placeholder(id, &self.hash, self.occurrence, self.ordinal);
                self.ordinal += 1;
                ids.insert(id, ph);
                new += 1;
            }
        });
        new
    }

    /// Maps one id the response carries outside its JSON (an `Mcp-Session-Id`
    /// header, an SSE event's `id:` field), in order with the ids of
    /// [`absorb`](Self::absorb): its placeholder, new or already known; `None` for a
    /// placeholder or an id the request itself holds (the client's own). The caller
    /// decides what counts as an id there.
    ///
    /// ```
    /// use recorder_runtime::idmap::{IdMap, Issuer};
    /// let hash = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    /// let mut ids = IdMap::default();
    /// let mut issuer = Issuer::new(hash, 1, r#"{"method":"initialize"}"#);
    /// let session = "7b6b0f5c2e9a4d51a3c8e0d2f4b6a8c1";
    /// assert_eq!(issuer.absorb_id(&mut ids, session).as_deref(), Some("rec-0123456789ab"));
    /// assert_eq!(issuer.absorb_id(&mut ids, session).as_deref(), Some("rec-0123456789ab"));
    /// ```
    pub fn absorb_id(&mut self, ids: &mut IdMap, id: &str) -> Option<String> {
        if is_placeholder(id) {
            return None;
        }
        if let Some(known) = ids.get(id) {
            return Some(known.to_owned());
        }
        if contains_token(&self.request, id) {
            return None;
        }
        let ph = placeholder(id, &self.hash, self.occurrence, self.ordinal);
        self.ordinal += 1;
        ids.insert(id, ph.clone());
        Some(ph)
    }
}

/// The readable record of a test's chained ids, `_ids.json` in its folder: each
/// placeholder that a later request of the test sends back, the recording that issued
/// it and where in it, and the recordings that send it back. Rebuilt from the
/// recordings whenever such a test records (and by `recordings normalize`), so it
/// always agrees with them; real ids are never stored. Ids sent back in headers (an
/// MCP `Mcp-Session-Id`, a `Last-Event-ID`) are not listed: headers are not stored
/// and never count for matching, so no recording depends on them.
///
/// ```json
/// {
///   "format": 2,
///   "test_id": "examples::responses::chains[text=smollm2-135m]",
///   "ids": {
///     "resp_rec-0123456789ab": {
///       "recording": "0123…cdef.json",
///       "at": "/response/body/id",
///       "sent_in": ["9f8e…1a2b.json"]
///     }
///   }
/// }
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdsFile {
    /// The test.
    pub test_id: String,
    /// Placeholder -> where it was issued, sorted by placeholder.
    pub ids: BTreeMap<String, IssuedAt>,
}

/// Where a placeholder was issued, and where it is sent back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssuedAt {
    /// The recording's file name.
    pub recording: String,
    /// A JSON pointer into that file (`/response/body/id`,
    /// `/response/stream/frames/0/data/response/id`).
    pub at: String,
    /// The recordings whose request sends it back, sorted.
    pub sent_in: Vec<String>,
}

impl IdsFile {
    /// The chained placeholders of a test's recordings: each one found under an id
    /// key of a response but not in that recording's request, that another
    /// recording's request contains. When several responses show one placeholder, the
    /// recording whose hash it names wins. `recordings` are `(file name, request text,
    /// recording as JSON)`.
    pub fn scan(test_id: &str, recordings: &[(String, String, Value)]) -> IdsFile {
        let names_file =
            |id: &str, file: &str| placeholder_hash(id).is_some_and(|h| file.starts_with(h));
        let mut ids: BTreeMap<String, IssuedAt> = BTreeMap::new();
        for (file, request, recording) in recordings {
            let Some(response) = recording.get("response") else {
                continue;
            };
            walk_ids(response, &mut |ptr, id| {
                // A derived placeholder was issued by no recording.
                if !is_placeholder(id) || is_derived_placeholder(id) || contains_token(request, id)
                {
                    return;
                }
                let at = IssuedAt {
                    recording: file.clone(),
                    at: format!("/response{ptr}"),
                    sent_in: Vec::new(),
                };
                let better = match ids.get(id) {
                    None => true,
                    Some(prev) => {
                        let (named, prev_named) =
                            (names_file(id, file), names_file(id, &prev.recording));
                        (named && !prev_named)
                            || (named == prev_named
                                && (&at.recording, &at.at) < (&prev.recording, &prev.at))
                    }
                };
                if better {
                    ids.insert(id.to_owned(), at);
                }
            });
        }
        for (id, at) in ids.iter_mut() {
            at.sent_in = recordings
                .iter()
                .filter(|(file, request, _)| *file != at.recording && contains_token(request, id))
                .map(|(file, _, _)| file.clone())
                .collect();
            at.sent_in.sort();
        }
        ids.retain(|_, at| !at.sent_in.is_empty());
        IdsFile {
            test_id: test_id.to_owned(),
            ids,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const H: &str = "abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789";

    #[test]
    fn placeholders_keep_known_prefixes_and_count_ids_and_occurrences() {
        assert_eq!(placeholder("chatcmpl-x1y2", H, 1, 0), "rec-abcdef012345");
        assert_eq!(placeholder("vs_9f8e7d", H, 1, 1), "vs_rec-abcdef012345-1");
        assert_eq!(
            placeholder("toolu_01A", H, 2, 3),
            "toolu_rec-abcdef012345.2-3"
        );
        let all: Vec<&str> = placeholders_in(
            "GET /v1/vector_stores/vs_rec-abcdef012345-1/files?after=file-rec-abcdef012345.2",
        )
        .collect();
        assert_eq!(all, ["vs_rec-abcdef012345-1", "file-rec-abcdef012345.2"]);
        assert!(!is_placeholder("rec-ABCDEF012345"), "lower-case hex only");
    }

    #[test]
    fn which_strings_are_ids() {
        assert!(is_id_like("resp_68af"));
        assert!(is_id_like("chatcmpl-8f2c1b"));
        assert!(is_id_like("550e8400-e29b-41d4-a716-446655440000"));
        assert!(!is_id_like("gpt-4o"), "too short");
        assert!(!is_id_like("assistant"), "no digit");
        assert!(!is_id_like("has space 12345"));
        assert!(is_id_key("previous_response_id") && is_id_key("file_ids"));
        assert!(!is_id_key("model_id") && !is_id_key("provider_resource_id"));
        assert!(!is_id_key("identifier"));
    }

    #[test]
    fn ids_are_found_nested_in_lists_and_events_but_not_in_metadata_or_model_objects() {
        let v = json!({
            "type": "response.output_item.added",
            "item": {"id": "msg_1a2b3c4d", "content": [{"annotations": [{"file_id": "file-9z8y7x6w"}]}]},
            "metadata": {"trace_id": "trace-12345678"},
            "data": [{"id": "smollm2-135m-1", "object": "model"}],
            "file_ids": ["file-aaaa1111", "file-bbbb2222"],
        });
        let mut seen = Vec::new();
        walk_ids(&v, &mut |ptr, id| {
            seen.push((ptr.to_owned(), id.to_owned()))
        });
        assert_eq!(
            seen,
            [
                ("/item/id".into(), "msg_1a2b3c4d".into()),
                (
                    "/item/content/0/annotations/0/file_id".into(),
                    "file-9z8y7x6w".into()
                ),
                ("/file_ids/0".into(), "file-aaaa1111".into()),
                ("/file_ids/1".into(), "file-bbbb2222".into()),
            ]
        );
    }

    #[test]
    fn an_issuer_maps_new_ids_in_order_and_leaves_the_clients_own_alone() {
        let mut ids = IdMap::default();
        let mut issuer = Issuer::new(H, 1, r#"{"conversation_id":"my-conv-0001"}"#);
        let events = [
            json!({"type": "response.created", "response": {"id": "resp_aaa111", "conversation_id": "my-conv-0001"}}),
            json!({"type": "response.output_item.added", "item": {"id": "msg_bbb222"}, "response_id": "resp_aaa111"}),
        ];
        let new: usize = events.iter().map(|e| issuer.absorb(&mut ids, e)).sum();
        assert_eq!(new, 2);
        assert_eq!(ids.get("resp_aaa111"), Some("resp_rec-abcdef012345"));
        assert_eq!(ids.get("msg_bbb222"), Some("msg_rec-abcdef012345-1"));
        assert_eq!(ids.get("my-conv-0001"), None);
        let mut later = json!({"previous_response_id": "resp_aaa111", "note": "see msg_bbb222"});
        ids.apply(&mut later);
        assert_eq!(
            later,
            json!({"previous_response_id": "resp_rec-abcdef012345", "note": "see msg_rec-abcdef012345-1"})
        );
        assert_eq!(
            &*ids.substitute_bytes(b"/v1/responses/resp_aaa111/input_items"),
            b"/v1/responses/resp_rec-abcdef012345/input_items"
        );
        assert_eq!(
            ids.foreign_placeholders("resp_rec-abcdef012345 and resp_rec-000000000000"),
            ["resp_rec-000000000000"]
        );
    }

    #[test]
    fn ids_sent_back_unknown_to_the_test_get_placeholders_of_their_own() {
        let mut known = IdMap::default();
        known.insert("resp_known1234", "resp_rec-111111111111".into());
        let body = br#"{"previous_response_id":"resp_known1234","input":[{"call_id":"call_NoDigitsHereAtAll","type":"function_call_output"}],"metadata":{"session_id":"sess_abc12345"},"user":"call_notanid9"}"#;
        let found = unknown_sent_back(
            "/v1/file_search/files/file-9z8y7x?after=msg_0a1b2c3d",
            body,
            &known,
        );
        let got: BTreeMap<String, String> = found
            .iter()
            .map(|(id, p)| (id.to_owned(), p.to_owned()))
            .collect();
        let want: BTreeMap<String, String> =
            ["call_NoDigitsHereAtAll", "file-9z8y7x", "msg_0a1b2c3d"]
                .iter()
                .map(|id| (id.to_string(), derived_placeholder(id)))
                .collect();
        assert_eq!(
            got, want,
            "known ids, metadata, values outside id keys and path words are left alone"
        );
        assert!(
            unknown_sent_back("/v1/chat/completions", br#"{"messages":[]}"#, &known).is_empty()
        );
    }

    #[test]
    fn placeholders_are_rewritten_as_whole_tokens() {
        let mut ids = IdMap::default();
        ids.insert("rec-111111111111", "rec-222222222222".into());
        assert_eq!(
            ids.substitute_tokens(
                "rec-111111111111 resp_rec-111111111111 /v1/x/rec-111111111111?a=1"
            ),
            "rec-222222222222 resp_rec-111111111111 /v1/x/rec-222222222222?a=1"
        );
    }

    #[test]
    fn a_longer_id_is_replaced_whole_before_one_it_contains() {
        let mut ids = IdMap::default();
        ids.insert("file-abc123", "file-rec-111111111111".into());
        ids.insert("file-abc1234567", "file-rec-222222222222".into());
        assert_eq!(
            ids.substitute("file-abc1234567 file-abc123"),
            "file-rec-222222222222 file-rec-111111111111"
        );
    }

    #[test]
    fn the_ids_file_names_the_issuing_recording() {
        let issuer = format!("{H}.json");
        let lister = format!("{}.json", "f".repeat(64));
        let user = format!("{}.json", "0".repeat(64));
        let recs = vec![
            (
                lister.clone(),
                "GET /v1/vector_stores/vs_rec-ffffffffffff/files".to_string(),
                json!({"response": {"body": {"data": [{"id": "file-rec-abcdef012345"}]}}}),
            ),
            (
                issuer.clone(),
                "POST /v1/files".to_string(),
                json!({"response": {"body": {"id": "file-rec-abcdef012345", "x_id": "rec-abcdef012345"}}}),
            ),
            (
                user.clone(),
                "GET /v1/files/file-rec-abcdef012345".to_string(),
                json!({"response": {"body": {"id": "file-rec-abcdef012345"}}}),
            ),
        ];
        let file = IdsFile::scan("t", &recs);
        let at = &file.ids["file-rec-abcdef012345"];
        assert_eq!(at.recording, issuer);
        assert_eq!(at.at, "/response/body/id");
        assert_eq!(at.sent_in, [user]);
        assert_eq!(
            file.ids.len(),
            1,
            "ids no request sends back are left out: {file:?}"
        );
        assert_eq!(
            file.to_pretty_bytes(),
            IdsFile::scan("t", &recs).to_pretty_bytes()
        );
    }
}
