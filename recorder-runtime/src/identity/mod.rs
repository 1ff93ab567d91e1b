//! Request identity: the canonical JSON of a request and its sha256.
//!
//! The identity of a request is the lowercase hex sha256 of this canonical JSON
//! text, with no whitespace and object keys sorted by their UTF-8 bytes:
//!
//! ```text
//! {"body":<body>,"endpoint":"/v1/chat/completions","method":"POST","test_id":"<test id>"}
//! ```
//!
//! - `method` is upper case.
//! - `endpoint` is the path the client asked for below the setup's base URL root,
//!   query included, e.g. `/v1/chat/completions` or `/api/chat` (host, port, scheme
//!   and headers never count). A request to a setup's named upstream keeps the
//!   upstream's name, never its URL: `/up/mcp`, `/up/search/v1/search?q=x`.
//! - `body`: `null` when the request has no body; the parsed JSON when it is JSON,
//!   with the setup's ignored fields removed (dotted paths such as `metadata.trace_id`);
//!   otherwise `{"raw_sha256":"<hex sha256 of the bytes>"}`.
//! - Numbers: integers are written as integers; every other number is rounded to
//!   6 decimal places and written as the shortest text of that rounding, so
//!   `0.7`, `0.70000001` and `0.7000000` all become `0.7`, `1.0` becomes `1`
//!   and `-0.0000001` becomes `0` (Python: `('%.6f' % x).rstrip('0').rstrip('.')`,
//!   with `-0` written `0`).
//! - Strings are JSON-escaped as RFC 8259 requires and no more: `"` and `\` are
//!   escaped, control characters become `\n`, `\t`, `\r`, `\b`, `\f` or `\u00XX`,
//!   everything else (non-ASCII included) is written as UTF-8.
//! - `test_id` is left out (the key is absent) for model-list endpoints
//!   (`GET /v1/models`, `GET /api/tags`), whose recordings all tests share.
//!
//! # The scheme
//! Everything that decides the canonical text of a request (the rules above, and what
//! the engine makes of a request before them: multipart parts, query credentials,
//! placeholders, scrubbed secrets) is identity scheme [`SCHEME`]. A recording names the
//! scheme its file name was hashed with (`"identity": 3`, see
//! [`crate::recording::version`]), so that a change of canonicalization never turns
//! committed recordings into silent misses: any such change bumps [`SCHEME`] and adds a
//! migration step, and a snapshot test of the canonical forms of a fixed set of
//! requests fails until it does.
//!
//! ```
//! use recorder_runtime::identity::RequestIdentity;
//! use serde_json::json;
//! let a = RequestIdentity::json("POST", "/v1/chat/completions", &json!({"model": "m", "temperature": 0.7}), Some("t"));
//! let b = RequestIdentity::json("POST", "/v1/chat/completions", &json!({"temperature": 0.70000001, "model": "m"}), Some("t"));
//! assert_eq!(a.hash(), b.hash());
//! assert_eq!(a.canonical(), r#"{"body":{"model":"m","temperature":0.7},"endpoint":"/v1/chat/completions","method":"POST","test_id":"t"}"#);
//! ```

mod key;
pub use key::RecordingKey;

use serde_json::Value;

use std::borrow::Cow;
use std::fmt::Write as _;

/// Decimal places kept when floats are compared.
pub const FLOAT_PRECISION: usize = 6;

/// The request-identity scheme: bumped by every change of the canonical form of a
/// request (see [the module docs](self#the-scheme)). Scheme 1 is the canonicalization
/// of every recorder before schemes were numbered; scheme 2 hashes a server-issued id
/// that a request sends back, and no answer of its test issued, as the placeholder
/// derived from the id itself ([`crate::idmap::derived_placeholder`]); scheme 3 takes
/// every query parameter named like a credential out of the endpoint, in any case
/// (`token`, `sig`, `password`, `X-Amz-Signature`, ...: [`crate::headers::CREDENTIAL_PARAMS`];
/// scheme 2 took out `key`, `api_key` and a few others, in lower case).
///
/// ```
/// assert_eq!(recorder_runtime::identity::SCHEME, 3);
/// ```
pub const SCHEME: u32 = 3;

/// Whether a request lists models: shared by all tests and merged on replay.
///
/// ```
/// use recorder_runtime::identity::is_model_list;
/// assert!(is_model_list("GET", "/v1/models"));
/// assert!(is_model_list("GET", "/api/tags"));
/// assert!(!is_model_list("POST", "/v1/chat/completions"));
/// ```
pub fn is_model_list(method: &str, endpoint: &str) -> bool {
    if !method.eq_ignore_ascii_case("GET") {
        return false;
    }
    let path = endpoint
        .split('?')
        .next()
        .unwrap_or(endpoint)
        .trim_end_matches('/');
    path == "/v1/models" || path == "/api/tags"
}

/// A request reduced to what identifies it.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestIdentity {
    method: String,
    endpoint: String,
    body: Value,
    test_id: Option<String>,
}

impl RequestIdentity {
    /// Identity of a request with raw body bytes: JSON bodies are parsed, others hashed.
    /// `ignore` lists body fields (dotted paths) left out of the identity.
    ///
    /// ```
    /// use recorder_runtime::identity::RequestIdentity;
    /// let a = RequestIdentity::new("POST", "/v1/embeddings", br#"{"input":"hi","user":"u1"}"#, &["user".into()], Some("t"));
    /// let b = RequestIdentity::new("POST", "/v1/embeddings", br#"{"input":"hi","user":"u2"}"#, &["user".into()], Some("t"));
    /// assert_eq!(a.hash(), b.hash());
    /// ```
    pub fn new(
        method: &str,
        endpoint: &str,
        body: &[u8],
        ignore: &[String],
        test_id: Option<&str>,
    ) -> Self {
        let body = body_value(body, ignore);
        Self::from_value(method, endpoint, body, test_id)
    }

    /// Identity of a request whose body is already parsed JSON.
    pub fn json(method: &str, endpoint: &str, body: &Value, test_id: Option<&str>) -> Self {
        Self::from_value(method, endpoint, body.clone(), test_id)
    }

    fn from_value(method: &str, endpoint: &str, body: Value, test_id: Option<&str>) -> Self {
        let method = method.to_ascii_uppercase();
        let test_id = if is_model_list(&method, endpoint) {
            None
        } else {
            test_id.map(str::to_owned)
        };
        RequestIdentity {
            method,
            endpoint: endpoint.to_owned(),
            body,
            test_id,
        }
    }

    /// The canonical JSON text that is hashed.
    pub fn canonical(&self) -> String {
        let mut out = String::with_capacity(256);
        out.push_str("{\"body\":");
        write_canonical(&self.body, &mut out);
        out.push_str(",\"endpoint\":");
        write_string(&self.endpoint, &mut out);
        out.push_str(",\"method\":");
        write_string(&self.method, &mut out);
        if let Some(t) = &self.test_id {
            out.push_str(",\"test_id\":");
            write_string(t, &mut out);
        }
        out.push('}');
        out
    }

    /// The request hash: lowercase hex sha256 of [`canonical`](Self::canonical).
    pub fn hash(&self) -> String {
        sha256_hex(self.canonical().as_bytes())
    }

    /// The method, upper case.
    pub fn method(&self) -> &str {
        &self.method
    }
    /// The endpoint, query included.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }
    /// The body as it counts for identity.
    pub fn body(&self) -> &Value {
        &self.body
    }
    /// The test id, `None` for model-list requests.
    pub fn test_id(&self) -> Option<&str> {
        self.test_id.as_deref()
    }
    /// Whether this is a model-list request.
    pub fn is_model_list(&self) -> bool {
        is_model_list(&self.method, &self.endpoint)
    }
}

/// Lowercase hex sha256 of some bytes.
///
/// ```
/// use recorder_runtime::identity::sha256_hex;
/// assert_eq!(sha256_hex(b"abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
/// ```
pub fn sha256_hex(bytes: &[u8]) -> String {
    // ring's SHA-256 (assembly, SHA extensions where the CPU has them): the TLS stack
    // links ring already, so hashing costs users no extra crates.
    crate::hex::encode(ring::digest::digest(&ring::digest::SHA256, bytes).as_ref())
}

/// The body as identity sees it: `null` for no body, parsed JSON minus ignored
/// fields, or the sha256 of raw bytes.
pub fn body_value(body: &[u8], ignore: &[String]) -> Value {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Value::Null;
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(mut v) => {
            for path in ignore {
                remove_path(&mut v, path);
            }
            v
        }
        Err(_) => serde_json::json!({ "raw_sha256": sha256_hex(body) }),
    }
}

/// Removes a dotted path (`metadata.trace_id`) from a JSON value, if present.
pub fn remove_path(v: &mut Value, path: &str) {
    let mut parts = path.split('.').peekable();
    let mut cur = v;
    while let Some(p) = parts.next() {
        let Value::Object(map) = cur else { return };
        if parts.peek().is_none() {
            map.shift_remove(p);
            return;
        }
        match map.get_mut(p) {
            Some(next) => cur = next,
            None => return,
        }
    }
}

/// Writes the canonical form of a JSON value (sorted keys, rounded floats). The
/// same writer as the replay hot path's [`request_canonical`], so the two agree.
pub fn write_canonical(v: &Value, out: &mut String) {
    Canon::from_value(v).write(out);
}

fn write_number(n: &serde_json::Number, out: &mut String) {
    if let Some(i) = n.as_i64() {
        let _ = write!(out, "{i}");
    } else if let Some(u) = n.as_u64() {
        let _ = write!(out, "{u}");
    } else {
        let f = n.as_f64().unwrap_or(0.0);
        let mut s = format!("{:.*}", FLOAT_PRECISION, f);
        if s.contains('.') {
            let trimmed = s.trim_end_matches('0').trim_end_matches('.').len();
            s.truncate(trimmed);
        }
        if s == "-0" {
            s = "0".into();
        }
        out.push_str(&s);
    }
}

/// The bytes a JSON string must escape: `"`, `\\` and the control characters.
static ESCAPED: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 0x20 {
        t[b] = true;
        b += 1;
    }
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t
};

/// The index of the first byte at or after `from` that must be escaped. Eight bytes
/// at a time while none is (the bit tricks of "Bit Twiddling Hacks": a byte below
/// 0x20, or equal to `"` or `\\`, sets its high bit in `hit`, exactly).
fn next_escaped(bytes: &[u8], from: usize) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let mut i = from;
    // 32 bytes at a time first: without an early exit inside, the compiler turns
    // this test into a few vector compares.
    while i + 32 <= bytes.len() {
        let block: &[u8; 32] = bytes[i..i + 32].try_into().unwrap();
        let any = block.iter().fold(false, |any, &b| {
            any | (b < 0x20) | (b == b'"') | (b == b'\\')
        });
        if any {
            break;
        }
        i += 32;
    }
    while i + 8 <= bytes.len() {
        let w = u64::from_le_bytes(bytes[i..i + 8].try_into().unwrap());
        let quote = w ^ (ONES * b'"' as u64);
        let backslash = w ^ (ONES * b'\\' as u64);
        let hit =
            (w.wrapping_sub(ONES * 0x20) | quote.wrapping_sub(ONES) | backslash.wrapping_sub(ONES))
                & !w
                & HIGH;
        if hit != 0 {
            break;
        }
        i += 8;
    }
    bytes[i..]
        .iter()
        .position(|&b| ESCAPED[b as usize])
        .map(|p| i + p)
}

fn write_string(s: &str, out: &mut String) {
    out.push('"');
    let bytes = s.as_bytes();
    let mut start = 0;
    while let Some(i) = next_escaped(bytes, start) {
        // An escaped byte is ASCII: a char boundary.
        out.push_str(&s[start..i]);
        match bytes[i] {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            0x08 => out.push_str("\\b"),
            0x0c => out.push_str("\\f"),
            b => {
                let _ = write!(out, "\\u{:04x}", b);
            }
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

/// The request hash straight from the raw request: exactly
/// `RequestIdentity::new(method, endpoint, body, ignore, test_id).hash()`, without
/// building a `serde_json::Value` (whose ordered map hashes every key). The replay hot
/// path uses it; a miss or a recording builds the full [`RequestIdentity`].
///
/// ```
/// use recorder_runtime::identity::{request_hash, RequestIdentity};
/// let body = br#"{"temperature":0.70000001,"model":"m","user":"u","messages":[{"role":"user","content":"hi\n"}]}"#;
/// let ignore = vec!["user".to_string()];
/// assert_eq!(request_hash("post", "/v1/chat/completions", body, &ignore, Some("t")), RequestIdentity::new("POST", "/v1/chat/completions", body, &ignore, Some("t")).hash());
/// ```
pub fn request_hash(
    method: &str,
    endpoint: &str,
    body: &[u8],
    ignore: &[String],
    test_id: Option<&str>,
) -> String {
    sha256_hex(request_canonical(method, endpoint, body, ignore, test_id).as_bytes())
}

/// The canonical text [`request_hash`] hashes: exactly
/// `RequestIdentity::new(method, endpoint, body, ignore, test_id).canonical()`, built
/// straight from the raw request. A loaded test scope also finds its recordings by this
/// text, so that a replay needs no sha256 at all.
///
/// ```
/// use recorder_runtime::identity::{request_canonical, RequestIdentity};
/// let body = br#"{"b":[1.0,{"y":null,"x":"\u00e9"}],"a":0.70000001}"#;
/// assert_eq!(request_canonical("POST", "/v1/x", body, &[], Some("t")), RequestIdentity::new("POST", "/v1/x", body, &[], Some("t")).canonical());
/// ```
pub fn request_canonical(
    method: &str,
    endpoint: &str,
    body: &[u8],
    ignore: &[String],
    test_id: Option<&str>,
) -> String {
    let mut out = String::with_capacity(body.len() + endpoint.len() + 128);
    out.push_str("{\"body\":");
    if body.iter().all(u8::is_ascii_whitespace) {
        out.push_str("null");
    } else {
        match serde_json::from_slice::<Canon>(body) {
            Ok(c) => c.write_body(ignore, &mut out),
            Err(_) => {
                out.push_str("{\"raw_sha256\":");
                write_string(&sha256_hex(body), &mut out);
                out.push('}');
            }
        }
    }
    finish_canonical(method, endpoint, test_id, out)
}

/// The rest of a canonical request after its body: endpoint, method, test id.
fn finish_canonical(
    method: &str,
    endpoint: &str,
    test_id: Option<&str>,
    mut out: String,
) -> String {
    out.push_str(",\"endpoint\":");
    write_string(endpoint, &mut out);
    out.push_str(",\"method\":");
    if method.bytes().any(|b| b.is_ascii_lowercase()) {
        write_string(&method.to_ascii_uppercase(), &mut out);
    } else {
        write_string(method, &mut out);
    }
    if let Some(t) = test_id.filter(|_| !is_model_list(method, endpoint)) {
        out.push_str(",\"test_id\":");
        write_string(t, &mut out);
    }
    out.push('}');
    out
}

/// A JSON value as identity sees it: objects sorted by key bytes, a repeated key
/// keeping its last value (as `serde_json::Value` does).
/// Strings borrow from the request bytes when they hold no escapes.
enum Canon<'a> {
    Null,
    Bool(bool),
    Num(serde_json::Number),
    Str(Cow<'a, str>),
    /// A string borrowed from JSON text where it had no escape sequence. Valid JSON
    /// text holds no character that would need one (serde_json rejects raw control
    /// characters), so it is written as it is, without scanning it again. Only the
    /// JSON-text parse makes these (`Canon` is deserialized from nothing else).
    Raw(&'a str),
    Arr(Vec<Canon<'a>>),
    Obj(Vec<(Cow<'a, str>, Canon<'a>)>),
}

impl<'a> Canon<'a> {
    /// An object from its entries in any order: sorted by key bytes, a repeated key
    /// keeping its last value.
    fn object(mut entries: Vec<(Cow<'a, str>, Canon<'a>)>) -> Canon<'a> {
        // Stable: a repeated key's occurrences stay in order, and the last one wins
        // (the later value is swapped into the kept slot before the duplicate goes).
        entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        entries.dedup_by(|later, kept| {
            let same = later.0 == kept.0;
            if same {
                std::mem::swap(later, kept);
            }
            same
        });
        Canon::Obj(entries)
    }

    /// The tree of a parsed value, borrowing its strings (a direct walk: going
    /// through serde's `Deserializer for &Value` cost half as much again).
    fn from_value(v: &'a Value) -> Canon<'a> {
        match v {
            Value::Null => Canon::Null,
            Value::Bool(b) => Canon::Bool(*b),
            Value::Number(n) => Canon::Num(n.clone()),
            Value::String(s) => Canon::Str(Cow::Borrowed(s)),
            Value::Array(items) => Canon::Arr(items.iter().map(Canon::from_value).collect()),
            Value::Object(map) => Canon::object(
                map.iter()
                    .map(|(k, v)| (Cow::Borrowed(k.as_str()), Canon::from_value(v)))
                    .collect(),
            ),
        }
    }

    fn write(&self, out: &mut String) {
        match self {
            Canon::Null => out.push_str("null"),
            Canon::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Canon::Num(n) => write_number(n, out),
            Canon::Str(s) => write_string(s, out),
            Canon::Raw(s) => {
                debug_assert_eq!(next_escaped(s.as_bytes(), 0), None, "{s:?} needs escaping");
                out.push('"');
                out.push_str(s);
                out.push('"');
            }
            Canon::Arr(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    item.write(out);
                }
                out.push(']');
            }
            Canon::Obj(entries) => {
                out.push('{');
                for (i, (k, v)) in entries.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write_string(k, out);
                    out.push(':');
                    v.write(out);
                }
                out.push('}');
            }
        }
    }

    /// Writes this value as a request body, the ignored fields left out.
    fn write_body(mut self, ignore: &[String], out: &mut String) {
        for path in ignore {
            self.remove_path(path);
        }
        self.write(out);
    }

    /// [`remove_path`] on this value.
    fn remove_path(&mut self, path: &str) {
        let mut parts = path.split('.').peekable();
        let mut cur = self;
        while let Some(p) = parts.next() {
            let Canon::Obj(entries) = cur else { return };
            let Ok(i) = entries.binary_search_by(|(k, _)| k.as_bytes().cmp(p.as_bytes())) else {
                return;
            };
            if parts.peek().is_none() {
                entries.remove(i);
                return;
            }
            cur = &mut entries[i].1;
        }
    }
}

impl<'de> serde::Deserialize<'de> for Canon<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Canon<'de>, D::Error> {
        d.deserialize_any(CanonVisitor)
    }
}

/// An object key, borrowed when it can be.
struct Key<'a>(Cow<'a, str>);

impl<'de> serde::Deserialize<'de> for Key<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Key<'de>, D::Error> {
        d.deserialize_str(CanonVisitor).and_then(|c| match c {
            Canon::Str(s) => Ok(Key(s)),
            Canon::Raw(s) => Ok(Key(Cow::Borrowed(s))),
            _ => Err(serde::de::Error::custom("an object key is a string")),
        })
    }
}

struct CanonVisitor;

impl<'de> serde::de::Visitor<'de> for CanonVisitor {
    type Value = Canon<'de>;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Canon<'de>, E> {
        Ok(Canon::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Canon<'de>, E> {
        Ok(Canon::Num(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Canon<'de>, E> {
        Ok(Canon::Num(v.into()))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Canon<'de>, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Canon::Null, Canon::Num))
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Canon<'de>, E> {
        Ok(Canon::Raw(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Canon<'de>, E> {
        Ok(Canon::Str(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E>(self, v: String) -> Result<Canon<'de>, E> {
        Ok(Canon::Str(Cow::Owned(v)))
    }
    fn visit_none<E>(self) -> Result<Canon<'de>, E> {
        Ok(Canon::Null)
    }
    fn visit_unit<E>(self) -> Result<Canon<'de>, E> {
        Ok(Canon::Null)
    }
    fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Canon<'de>, D::Error> {
        serde::Deserialize::deserialize(d)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Canon<'de>, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Canon::Arr(items))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Canon<'de>, A::Error> {
        let mut entries: Vec<(Cow<'de, str>, Canon<'de>)> =
            Vec::with_capacity(map.size_hint().unwrap_or(0));
        while let Some((Key(k), v)) = map.next_entry::<Key<'de>, Canon<'de>>()? {
            entries.push((k, v));
        }
        Ok(Canon::object(entries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn id(body: Value, test: &str) -> String {
        RequestIdentity::json("POST", "/v1/chat/completions", &body, Some(test)).hash()
    }

    #[test]
    fn key_order_does_not_matter() {
        let a =
            json!({"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": false});
        let b: Value = serde_json::from_str(
            r#"{"stream":false,"messages":[{"content":"hi","role":"user"}],"model":"m"}"#,
        )
        .unwrap();
        assert_eq!(id(a, "t"), id(b, "t"));
    }

    #[test]
    fn float_noise_does_not_matter() {
        assert_eq!(
            id(json!({"temperature": 0.7}), "t"),
            id(json!({"temperature": 0.70000001}), "t")
        );
        assert_eq!(id(json!({"top_p": 1.0}), "t"), id(json!({"top_p": 1}), "t"));
        assert_ne!(
            id(json!({"temperature": 0.7}), "t"),
            id(json!({"temperature": 0.71}), "t")
        );
    }

    #[test]
    fn test_body_and_endpoint_count() {
        let body = json!({"model": "m"});
        let base = id(body.clone(), "a");
        assert_ne!(base, id(body.clone(), "b"), "another test");
        assert_ne!(base, id(json!({"model": "n"}), "a"), "another body");
        let other = RequestIdentity::json("POST", "/v1/completions", &body, Some("a")).hash();
        assert_ne!(base, other, "another endpoint");
        let get = RequestIdentity::json("GET", "/v1/chat/completions", &body, Some("a")).hash();
        assert_ne!(base, get, "another method");
    }

    #[test]
    fn model_lists_leave_the_test_out() {
        let a = RequestIdentity::new("GET", "/v1/models", b"", &[], Some("a"));
        let b = RequestIdentity::new("get", "/v1/models", b"", &[], Some("b"));
        assert_eq!(a.hash(), b.hash());
        assert_eq!(
            a.canonical(),
            r#"{"body":null,"endpoint":"/v1/models","method":"GET"}"#
        );
        let tags_a = RequestIdentity::new("GET", "/api/tags", b"", &[], Some("a"));
        assert!(tags_a.test_id().is_none());
    }

    #[test]
    fn ignored_fields_and_nested_paths() {
        let ignore = vec!["user".to_string(), "metadata.trace_id".to_string()];
        let a = RequestIdentity::new(
            "POST",
            "/v1/x",
            br#"{"a":1,"user":"x","metadata":{"trace_id":"1","k":2}}"#,
            &ignore,
            Some("t"),
        );
        let b = RequestIdentity::new(
            "POST",
            "/v1/x",
            br#"{"a":1,"metadata":{"k":2,"trace_id":"2"}}"#,
            &ignore,
            Some("t"),
        );
        assert_eq!(a.hash(), b.hash());
        assert_eq!(
            a.canonical(),
            r#"{"body":{"a":1,"metadata":{"k":2}},"endpoint":"/v1/x","method":"POST","test_id":"t"}"#
        );
    }

    #[test]
    fn canonical_numbers_and_strings() {
        let mut s = String::new();
        write_canonical(
            &json!([
                1,
                -2,
                0.5,
                1e-9,
                -1e-9,
                123456.1234567,
                u64::MAX,
                "a\"b\\c\n\u{1}é"
            ]),
            &mut s,
        );
        assert_eq!(
            s,
            "[1,-2,0.5,0,0,123456.123457,18446744073709551615,\"a\\\"b\\\\c\\n\\u0001é\"]"
        );
    }

    #[test]
    fn raw_bodies_are_hashed_and_empty_is_null() {
        let a = RequestIdentity::new("POST", "/upload", b"\x00\x01binary", &[], Some("t"));
        assert!(a.canonical().contains("raw_sha256"));
        assert_eq!(
            RequestIdentity::new("POST", "/x", b"  ", &[], None).body(),
            &Value::Null
        );
    }

    #[test]
    fn hash_is_sha256_of_canonical() {
        let a = RequestIdentity::json("GET", "/v1/models", &Value::Null, None);
        assert_eq!(a.hash(), sha256_hex(a.canonical().as_bytes()));
        assert_eq!(a.hash().len(), 64);
    }
}
