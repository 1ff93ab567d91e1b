//! The recording file format: one exchange, pretty JSON, keys in a stable order.
//!
//! ```json
//! {
//!   "format": 2,
//!   "identity": 3,
//!   "test_id": "examples::chat::answers[text=smollm2-135m]",
//!   "request": {
//!     "method": "POST",
//!     "endpoint": "/v1/chat/completions",
//!     "model": "smollm2-135m",
//!     "body": { "model": "smollm2-135m", "messages": [ ... ] }
//!   },
//!   "response": {
//!     "status": 200,
//!     "content_type": "text/event-stream",
//!     "stream": { "format": "sse", "frames": [ { "data": { ... } }, { "data": "[DONE]" } ] }
//!   }
//! }
//! ```
//!
//! `format` is the file format and `identity` the request-identity scheme the file's
//! name was hashed with (see [`version`]): files of older versions are read through
//! [`version::CHAIN`], files of newer ones are refused with a message saying so.
//!
//! `request.body` is the body as identity sees it (ignored fields removed), so the
//! file's name is always `sha256` of its request's canonical form. A plain response
//! has `body` (JSON), `body_text` (other UTF-8) or `body_hex` (binary) instead of
//! `stream`; compressed bodies are stored decoded. `headers` holds the response
//! headers a client may read (see [`crate::headers`]). Model lists have
//! `"test_id": null`.
//!
//! A multipart request's body is its parsed parts (see [`crate::multipart`]). A request
//! made again by the same test is its own exchange: the n-th one (n >= 2) is stored as
//! `<hash>.<n>.json` next to the first, `<hash>.json` (see [`crate::store`]).

pub mod version;

use crate::error::{Error, Result};
use crate::identity::RequestIdentity;
use crate::stream::{Frame, StreamFormat};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use version::{Age, FileKind, Version, CHAIN};

/// One recorded exchange, as stored in `<hash>.json`.
///
/// ```
/// use recorder_runtime::recording::Recording;
/// let text = r#"{"test_id":"t","request":{"method":"GET","endpoint":"/v1/models","body":null},
///   "response":{"status":200,"content_type":"application/json","body":{"object":"list","data":[]}}}"#;
/// let rec = Recording::from_slice(text.as_bytes(), "x.json".as_ref()).unwrap();
/// assert_eq!(rec.response.status, 200);
/// assert!(rec.to_pretty_bytes().ends_with(b"}\n"));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recording {
    /// The test that made the request; `null` for shared model lists.
    pub test_id: Option<String>,
    /// What was asked.
    pub request: RecordedRequest,
    /// What came back.
    pub response: RecordedResponse,
}

/// The request half of a recording.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordedRequest {
    /// HTTP method, upper case.
    pub method: String,
    /// Path below the base URL root, query included.
    pub endpoint: String,
    /// The body's `model`, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// The body as identity sees it.
    pub body: Value,
}

/// The response half of a recording.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordedResponse {
    /// HTTP status; errors (4xx, 5xx) are recorded and replayed as such.
    pub status: u16,
    /// The response's content type, without parameters when it is JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// A JSON body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
    /// A non-JSON UTF-8 body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_text: Option<String>,
    /// A binary body, hex encoded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_hex: Option<String>,
    /// A streamed body, frame by frame.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<RecordedStream>,
    /// The response headers a client may read (request ids, retry hints, rate limits on
    /// errors; see [`crate::headers`]), by lower-case name. Replayed as they are.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
}

/// A streamed response body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordedStream {
    /// SSE or NDJSON.
    pub format: StreamFormat,
    /// Every frame, in order.
    pub frames: Vec<Frame>,
}

impl RecordedRequest {
    /// The identity of this request.
    pub fn identity(&self, test_id: Option<&str>) -> RequestIdentity {
        RequestIdentity::json(&self.method, &self.endpoint, &self.body, test_id)
    }
}

impl RecordedResponse {
    /// A streamed response: its frames, with the format's content type.
    ///
    /// ```
    /// use recorder_runtime::recording::RecordedResponse;
    /// use recorder_runtime::stream::{Frame, StreamFormat};
    /// let r = RecordedResponse::streamed(200, StreamFormat::Sse, vec![Frame::default()]);
    /// assert_eq!(r.content_type.as_deref(), Some("text/event-stream"));
    /// ```
    pub fn streamed(status: u16, format: StreamFormat, frames: Vec<Frame>) -> Self {
        RecordedResponse {
            status,
            content_type: Some(format.content_type().to_owned()),
            body: None,
            body_text: None,
            body_hex: None,
            stream: Some(RecordedStream { format, frames }),
            headers: BTreeMap::new(),
        }
    }

    /// A plain response from its status, content type and raw body bytes.
    pub fn plain(status: u16, content_type: Option<&str>, body: &[u8]) -> Self {
        let mut r = RecordedResponse {
            status,
            content_type: content_type.map(str::to_owned),
            body: None,
            body_text: None,
            body_hex: None,
            stream: None,
            headers: BTreeMap::new(),
        };
        if body.is_empty() {
            return r;
        }
        let looks_json = content_type.is_none_or(|ct| ct.contains("json"));
        match serde_json::from_slice::<Value>(body) {
            Ok(v) if looks_json => r.body = Some(v),
            _ => match std::str::from_utf8(body) {
                Ok(s) => r.body_text = Some(s.to_owned()),
                Err(_) => r.body_hex = Some(crate::hex::encode(body)),
            },
        }
        r
    }

    /// Whether the body is a stream.
    pub fn is_streaming(&self) -> bool {
        self.stream.is_some()
    }

    /// The plain body's bytes, as served on replay (compact JSON, text or binary).
    pub fn body_bytes(&self) -> Vec<u8> {
        if let Some(v) = &self.body {
            serde_json::to_vec(v).expect("a JSON value serializes")
        } else if let Some(t) = &self.body_text {
            t.as_bytes().to_vec()
        } else if let Some(h) = &self.body_hex {
            crate::hex::decode(h).unwrap_or_default()
        } else {
            Vec::new()
        }
    }

    /// Applies `f` to the JSON body and to every JSON frame.
    pub fn for_each_json_mut(&mut self, mut f: impl FnMut(&mut Value)) {
        if let Some(v) = &mut self.body {
            f(v);
        }
        if let Some(s) = &mut self.stream {
            crate::stream::for_each_data_mut(&mut s.frames, f);
        }
    }
}

/// A recording file as stored: the recording after its version keys (absent in
/// format 1).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OnDisk {
    #[serde(default)]
    format: Option<u64>,
    #[serde(default)]
    identity: Option<u64>,
    test_id: Option<String>,
    request: RecordedRequest,
    response: RecordedResponse,
}

/// Only the version keys of a file, whatever else it holds.
#[derive(Deserialize)]
struct VersionKeys {
    #[serde(default)]
    format: Option<Value>,
    #[serde(default)]
    identity: Option<Value>,
}

impl VersionKeys {
    fn version(self) -> std::result::Result<Version, String> {
        let mut file = serde_json::Map::new();
        file.extend(self.format.map(|v| ("format".to_owned(), v)));
        file.extend(self.identity.map(|v| ("identity".to_owned(), v)));
        CHAIN.version_of(FileKind::Recording, &file)
    }
}

impl Recording {
    /// The exact bytes written to disk: the current version keys (see [`version`]),
    /// then the recording; pretty JSON, two-space indent, trailing newline.
    pub fn to_pretty_bytes(&self) -> Vec<u8> {
        version::file_bytes(FileKind::Recording, self)
    }

    /// Parses a recording of the current version or an older one; errors name the file
    /// and say what is wrong (a file of a newer version: that the recorder needs
    /// upgrading).
    pub fn from_slice(bytes: &[u8], path: &Path) -> Result<Recording> {
        Self::from_slice_versioned(bytes, path).map(|(rec, _)| rec)
    }

    /// [`Recording::from_slice`], and the version the file names. A file of an older
    /// version comes back upgraded (in memory) to the current one; whether its request
    /// still hashes to its file name is for the caller to see.
    ///
    /// ```
    /// use recorder_runtime::recording::Recording;
    /// use recorder_runtime::recording::version::Version;
    /// let v1 = r#"{"test_id":"t","request":{"method":"GET","endpoint":"/v1/x","body":null},
    ///   "response":{"status":204}}"#;
    /// let (rec, found) = Recording::from_slice_versioned(v1.as_bytes(), "a.json".as_ref()).unwrap();
    /// assert_eq!(found, Version { format: 1, identity: 1 });
    /// let (again, found) = Recording::from_slice_versioned(&rec.to_pretty_bytes(), "a.json".as_ref()).unwrap();
    /// assert_eq!((again, found), (rec, Version::CURRENT));
    /// let v9 = v1.replacen('{', r#"{"format":9,"#, 1);
    /// let err = Recording::from_slice(v9.as_bytes(), "a.json".as_ref()).unwrap_err().to_string();
    /// assert!(err.contains("newer recorder") && err.contains("a.json"), "{err}");
    /// ```
    pub fn from_slice_versioned(bytes: &[u8], path: &Path) -> Result<(Recording, Version)> {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(Error::corrupt(path, "the file is empty"));
        }
        let found = match serde_json::from_slice::<OnDisk>(bytes) {
            Ok(d) => {
                let found = VersionKeys {
                    format: d.format.map(Value::from),
                    identity: d.identity.map(Value::from),
                }
                .version()
                .map_err(|why| Error::corrupt(path, why))?;
                match CHAIN.age(found) {
                    Age::Newer => return Err(version::newer_file(path, found)),
                    // The common case: read as it is, in one pass.
                    _ if CHAIN.reads_as_is(found) => {
                        let rec = Recording {
                            test_id: d.test_id,
                            request: d.request,
                            response: d.response,
                        };
                        return rec.answerable(path).map(|rec| (rec, found));
                    }
                    _ => found,
                }
            }
            Err(e) => {
                match serde_json::from_slice::<VersionKeys>(bytes).map(VersionKeys::version) {
                    // Another version may have another shape.
                    Ok(Ok(found)) if CHAIN.age(found) == Age::Newer => {
                        return Err(version::newer_file(path, found))
                    }
                    Ok(Ok(found)) if !CHAIN.reads_as_is(found) => found,
                    _ => return Err(parse_error(path, &e)),
                }
            }
        };
        // An older version with another shape: upgraded step by step.
        let mut value: Value = serde_json::from_slice(bytes).map_err(|e| parse_error(path, &e))?;
        let file = value
            .as_object_mut()
            .ok_or_else(|| Error::corrupt(path, "a recording is a JSON object"))?;
        CHAIN
            .upgrade(FileKind::Recording, file)
            .map_err(|why| Error::corrupt(path, format!("{found}: {why}")))?;
        let rec: Recording = serde_json::from_value(value).map_err(|e| {
            Error::corrupt(
                path,
                format!("invalid recording JSON once upgraded from {found} ({e})"),
            )
        })?;
        rec.answerable(path).map(|rec| (rec, found))
    }

    /// The recording, if its answer can be given as an HTTP response: a status of
    /// 100 to 999, and a content type and headers that are valid header values. Only a
    /// file edited by hand can break this; refused here, naming the file, instead of
    /// failing when a transport builds the answer.
    fn answerable(self, path: &Path) -> Result<Recording> {
        let r = &self.response;
        let why = if http::StatusCode::from_u16(r.status).is_err() {
            Some(format!("its status {} is not an HTTP status (100 to 999)", r.status))
        } else if let Some(ct) = r.content_type.as_deref().filter(|ct| http::HeaderValue::from_str(ct).is_err()) {
            Some(format!("its content type {ct:?} is not a valid header value"))
        } else {
            r.headers.iter().find_map(|(name, value)| {
                if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
                    Some(format!("its header name {name:?} is not a valid header name"))
                } else if http::HeaderValue::from_str(value).is_err() {
                    Some(format!("its header {name}'s value {value:?} is not a valid header value"))
                } else {
                    None
                }
            })
        };
        match why {
            Some(why) => Err(Error::corrupt(path, why)),
            None => Ok(self),
        }
    }

    /// Reads and parses a recording file, as it is, for tests and tools on files
    /// they made. The recorder and its commands read through the store's safe reader
    /// instead ([`crate::store::read_recording`]: regular files under a size limit).
    pub fn read(path: &Path) -> Result<Recording> {
        let bytes = std::fs::read(path).map_err(|e| Error::io("cannot read recording", path, e))?;
        Self::from_slice(&bytes, path)
    }

    /// The request hash this recording is stored under.
    pub fn request_hash(&self) -> String {
        self.request.identity(self.test_id.as_deref()).hash()
    }
}

/// Why a file is not a recording: empty, truncated, or not its JSON.
fn parse_error(path: &Path, e: &serde_json::Error) -> Error {
    let reason = if e.is_eof() {
        format!("the file is truncated ({e})")
    } else {
        format!("invalid recording JSON ({e})")
    };
    Error::corrupt(path, reason)
}

/// A request as one text (method, endpoint, body), for finding the ids it sends (see
/// [`crate::idmap`]).
///
/// ```
/// use recorder_runtime::recording::{request_text, RecordedRequest};
/// let req = RecordedRequest { method: "GET".into(), endpoint: "/v1/files/file-rec-0123456789ab".into(), model: None, body: serde_json::Value::Null };
/// assert_eq!(request_text(&req), "GET /v1/files/file-rec-0123456789ab null");
/// ```
pub fn request_text(req: &RecordedRequest) -> String {
    format!("{} {} {}", req.method, req.endpoint, req.body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn empty_and_truncated_files_name_the_file() {
        let p = Path::new("recordings/a/b.json");
        let e = Recording::from_slice(b"", p).unwrap_err().to_string();
        assert!(
            e.contains("recordings/a/b.json") && e.contains("empty"),
            "{e}"
        );
        let e = Recording::from_slice(br#"{"test_id": "t", "request": {"#, p)
            .unwrap_err()
            .to_string();
        assert!(e.contains("truncated"), "{e}");
        let e = Recording::from_slice(br#"{"nope": 1}"#, p)
            .unwrap_err()
            .to_string();
        assert!(e.contains("invalid recording"), "{e}");
    }

    /// A recording as format 1 wrote it: no version keys.
    const FORMAT_1: &str = r#"{
  "test_id": "t",
  "request": {
    "method": "POST",
    "endpoint": "/v1/x",
    "body": {"a": 1}
  },
  "response": {
    "status": 200,
    "content_type": "application/json",
    "body": {"ok": true}
  }
}
"#;

    #[test]
    fn files_name_their_version_and_older_ones_read_as_current() {
        let p = Path::new("recordings/a/b.json");
        let (rec, found) = Recording::from_slice_versioned(FORMAT_1.as_bytes(), p).unwrap();
        assert_eq!(
            found,
            Version {
                format: 1,
                identity: 1
            }
        );
        let bytes = String::from_utf8(rec.to_pretty_bytes()).unwrap();
        assert!(
            bytes.starts_with(&format!(
                "{{\n  \"format\": 2,\n  \"identity\": {},\n  \"test_id\": \"t\",",
                crate::identity::SCHEME
            )),
            "{bytes}"
        );
        // Format 2 is format 1 and the two keys, nothing else.
        let unversioned: String = bytes
            .lines()
            .filter(|l| !l.starts_with("  \"format\"") && !l.starts_with("  \"identity\""))
            .map(|l| format!("{l}\n"))
            .collect();
        let v1: Value = serde_json::from_str(FORMAT_1).unwrap();
        assert_eq!(
            unversioned,
            format!("{}\n", serde_json::to_string_pretty(&v1).unwrap())
        );
        let (again, found) = Recording::from_slice_versioned(bytes.as_bytes(), p).unwrap();
        assert_eq!((again, found), (rec, Version::CURRENT));
    }

    #[test]
    fn newer_files_say_to_upgrade_and_bad_versions_are_named() {
        let p = Path::new("recordings/a/b.json");
        let with = |keys: &str| FORMAT_1.replacen('{', &format!("{{{keys}"), 1);
        let newer_scheme = format!(
            r#""format": 2, "identity": {},"#,
            crate::identity::SCHEME + 1
        );
        for keys in [
            r#""format": 3,"#,
            newer_scheme.as_str(),
            // A newer format may hold keys this one does not know.
            r#""format": 3, "identity": 1, "annotations": [],"#,
        ] {
            let e = Recording::from_slice(with(keys).as_bytes(), p)
                .unwrap_err()
                .to_string();
            assert!(
                e.contains("recordings/a/b.json")
                    && e.contains("newer recorder")
                    && e.contains("upgrade recorder-runtime"),
                "{keys}: {e}"
            );
        }
        for keys in [r#""format": 0,"#, r#""identity": "one","#] {
            let e = Recording::from_slice(with(keys).as_bytes(), p)
                .unwrap_err()
                .to_string();
            assert!(e.contains("recordings/a/b.json"), "{keys}: {e}");
        }
        // An unknown key in a current file is still an error, not a newer format.
        let e = Recording::from_slice(with(r#""format": 2, "annotations": [],"#).as_bytes(), p)
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown field `annotations`"), "{e}");
    }

    #[test]
    fn answers_no_transport_could_give_are_refused_naming_the_file() {
        let good = r#"{"request":{"method":"GET","endpoint":"/v1/models","body":null},"response":{"status":200,"content_type":"application/json","headers":{"x-request-id":"req-1"}}}"#;
        Recording::from_slice(good.as_bytes(), Path::new("ok.json")).unwrap();
        for (bad, says) in [
            (good.replace("200", "1000"), "status 1000 is not an HTTP status"),
            (good.replace("200", "42"), "status 42 is not an HTTP status"),
            (
                good.replace("application/json", "application/json\\u0000"),
                "content type",
            ),
            (good.replace("x-request-id", "x request id"), "header name \"x request id\""),
            (good.replace("req-1", "req\\n1"), "header x-request-id's value"),
        ] {
            let err = Recording::from_slice(bad.as_bytes(), Path::new("tests/t/edited.json"))
                .unwrap_err()
                .to_string();
            assert!(err.contains("tests/t/edited.json") && err.contains(says), "{bad}\n{err}");
            assert!(err.contains("re-record"), "says what to do: {err}");
        }
    }

    #[test]
    fn plain_bodies_keep_their_kind() {
        let r = RecordedResponse::plain(200, Some("application/json"), br#"{"a":1.5}"#);
        assert_eq!(r.body, Some(json!({"a": 1.5})));
        assert_eq!(r.body_bytes(), br#"{"a":1.5}"#);
        let r = RecordedResponse::plain(500, Some("text/plain"), b"{oops");
        assert_eq!(r.body_text.as_deref(), Some("{oops"));
        let r = RecordedResponse::plain(200, Some("application/octet-stream"), &[0xff, 0x00]);
        assert_eq!(r.body_bytes(), vec![0xff, 0x00]);
    }

    #[test]
    fn same_exchange_same_bytes() {
        let mk = || Recording {
            test_id: Some("t".into()),
            request: RecordedRequest {
                method: "POST".into(),
                endpoint: "/v1/x".into(),
                model: Some("m".into()),
                body: json!({"model": "m", "temperature": 0.7}),
            },
            response: RecordedResponse::plain(
                200,
                Some("application/json"),
                br#"{"z":1,"a":[0.1,-0.007134478]}"#,
            ),
        };
        assert_eq!(mk().to_pretty_bytes(), mk().to_pretty_bytes());
        let parsed = Recording::from_slice(&mk().to_pretty_bytes(), Path::new("x")).unwrap();
        assert_eq!(parsed.to_pretty_bytes(), mk().to_pretty_bytes());
    }
}
