//! Import of OGX (formerly Llama Stack) recordings into this project's format.
//!
//! OGX's Python record-replay system stores one JSON file per call it intercepted,
//! `{"test_id", "request", "response"}`, in one of four formats, told apart by the
//! shape of `request` ([`Format`]):
//!
//! | format | OGX's `request` | imported as |
//! |---|---|---|
//! | [OpenAI and Ollama SDK calls](sdk) | `{method, url, endpoint, model, body}`, answers as `{"__type__", "__data__"}` SDK objects | the same API call on the wire: `POST /v1/chat/completions`, `GET /v1/models`, ... |
//! | [raw HTTP exchanges](raw_http) | `{test_id, url, method, payload}`, answers `{status, body, is_streaming}` | the same exchange at the URL's path: `POST /v1/messages` (Anthropic), `POST /v1beta/interactions` (Gemini), status and all |
//! | [google-genai SDK calls](genai) | `{url: "vertexai:///generate_content[_stream]", body: {model, contents, config}}` | the exchange the same SDK call makes on the Gemini API: `POST /v1beta/models/<m>:generateContent` (`:streamGenerateContent?alt=sse`) |
//! | [tool-runtime calls](tool_runtime) | `{test_id, provider, tool_name, kwargs}`, answers `ToolInvocationResult` | `POST /recorder/tool-runtime/<provider>/<tool_name>` with the kwargs as body, a route of the recorder's own |
//!
//! A file without a `test_id` key (written before OGX had test ids) means what
//! `"test_id": null` means: a call made outside any test. It goes into the shared
//! scope (test id `""`, folder `_shared/`), which serves requests that carry no test id
//! (`recordings serve` without `X-Recorder-Test-Id`).
//!
//! A recorded exception (`"is_exception": true`, in the SDK and tool-runtime formats)
//! replays as the error the server sent: `exception_data.status_code` (500 when absent
//! or not an error status) and a JSON body rebuilt from `exception_data.body`. SDKs keep
//! only the `error` member of an error body, so an object without an `error` key is
//! wrapped back into `{"error": ...}`; a string holding JSON is parsed first; anything
//! else becomes `{"error": {"message": <message>, "type": <type>}}`.
//!
//! [`convert`] turns one file into a [`Recording`] keyed by this project's
//! [identity](recorder_runtime::identity) of the request the client sends on the wire;
//! [`import_dir`] converts a folder into a [`Store`], giving the ids that OGX left raw
//! their placeholders test by test ([`recorder_runtime::normalize::normalize_scope`]).
//!
//! # What is not imported, and why ([`Skip`])
//! Only what cannot be replayed faithfully: an endpoint or SDK object this importer
//! does not know ([`Skip::UnsupportedEndpoint`], [`Skip::ProviderType`]), a file that is
//! not an OGX recording or lacks what the conversion needs ([`Skip::Invalid`]), or
//! cannot be read ([`Skip::Unreadable`]). A file whose request and answer repeat an
//! earlier file's (OGX wrote some calls twice, under two versions of its own hash) is
//! taken: one recording replays both ([`ImportReport::repeats`]).
//!
//! ```
//! use recorder_cli::ogx::{convert, Format};
//! use serde_json::json;
//! let file = json!({
//!     "test_id": "tests/t.py::test_hi",
//!     "request": {"method": "POST", "endpoint": "/v1/chat/completions", "model": "m",
//!                 "body": {"model": "m", "messages": [{"role": "user", "content": "hi"}]}},
//!     "response": {"is_streaming": false, "body": {
//!         "__type__": "openai.types.chat.chat_completion.ChatCompletion",
//!         "__data__": {"id": "rec-0123456789ab", "object": "chat.completion", "choices": []}}}
//! });
//! let c = convert(&file).unwrap();
//! assert_eq!(c.format, Format::OpenAiSdk);
//! assert_eq!(c.recording.test_id.as_deref(), Some("tests/t.py::test_hi"));
//! assert_eq!(c.recording.response.body.as_ref().unwrap()["id"], "rec-0123456789ab");
//! assert_eq!(c.hash, c.recording.request_hash());
//! ```

pub mod genai;
pub mod raw_http;
pub mod sdk;
pub mod tool_runtime;

use recorder_runtime::error::{Error, Result};
use recorder_runtime::recording::{RecordedResponse, Recording};
use recorder_runtime::store::{model_set_digest, RecordingKey, Store};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};

pub use sdk::SUPPORTED_ENDPOINTS;

/// The formats of OGX recording files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Format {
    /// OpenAI SDK calls, answered with `openai.types.*` objects: chat completions,
    /// completions, embeddings, Responses, model lists.
    OpenAiSdk,
    /// Ollama SDK calls, answered with `ollama._types.*` objects: `/api/ps`, `/api/tags`.
    OllamaSdk,
    /// Raw HTTP exchanges (`request.payload`): Anthropic Messages, Gemini Interactions.
    RawHttp,
    /// google-genai SDK calls (`vertexai:///generate_content[_stream]`).
    GoogleGenai,
    /// Tool-runtime calls (`request.tool_name`), answered with `ToolInvocationResult`.
    ToolRuntime,
}

impl Format {
    /// Every format, in report order.
    pub const ALL: [Format; 5] = [
        Format::OpenAiSdk,
        Format::OllamaSdk,
        Format::RawHttp,
        Format::GoogleGenai,
        Format::ToolRuntime,
    ];
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::OpenAiSdk => "OpenAI SDK calls",
            Format::OllamaSdk => "Ollama SDK calls",
            Format::RawHttp => "raw HTTP exchanges",
            Format::GoogleGenai => "google-genai calls",
            Format::ToolRuntime => "tool-runtime calls",
        })
    }
}

/// One OGX file, converted.
#[derive(Debug, Clone, PartialEq)]
pub struct Converted {
    /// The recording, in this project's format.
    pub recording: Recording,
    /// Its request hash (this project's identity), i.e. [`Recording::request_hash`].
    pub hash: String,
    /// What kind of exchange it is.
    pub kind: Kind,
    /// The OGX format it came in.
    pub format: Format,
}

/// The kinds of exchange an OGX file can hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A plain JSON response.
    Plain,
    /// A streamed (SSE) response.
    Stream,
    /// A recorded error (4xx, 5xx).
    Error,
    /// A model list, shared by all tests and merged with the others on replay.
    ModelList,
}

impl Converted {
    /// Whether this is a shared model list (stored under `_models/`, no test id);
    /// a model list that recorded an error is one too, of kind [`Kind::Error`].
    pub fn is_model_list(&self) -> bool {
        self.recording.test_id.is_none()
    }
}

/// Why an OGX file is not imported. The `Display` text is the reason shown to users.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Skip {
    /// An endpoint or call this importer does not know.
    #[error("unsupported endpoint {endpoint} (imported: {})", supported())]
    UnsupportedEndpoint {
        /// The file's endpoint, URL or call.
        endpoint: String,
    },
    /// The answer was recorded as an SDK object this importer cannot turn back into
    /// the JSON the server sent.
    #[error("unsupported provider type {type_name}: its data is that SDK's object, not the JSON the server sent")]
    ProviderType {
        /// The `__type__` of the response (or of its first such chunk).
        type_name: String,
    },
    /// The file is JSON but not an OGX recording, or lacks something the conversion needs.
    #[error("not an OGX recording: {0}")]
    Invalid(String),
    /// The file's `test_id` is one replay refuses (see
    /// [`recorder_runtime::store::check_test_id`]): the store's own folders
    /// (`_models::x`, `_Shared`), only separators, a hidden folder (`.hidden::t`).
    #[error("{0}; not imported")]
    TestId(String),
    /// The file could not be read or is not JSON.
    #[error("unreadable: {0}")]
    Unreadable(String),
}

/// What every format imports, for [`Skip::UnsupportedEndpoint`]'s message.
fn supported() -> String {
    format!(
        "{}; raw HTTP at any URL; google-genai generate_content and generate_content_stream; tool-runtime calls",
        SUPPORTED_ENDPOINTS.join(", ")
    )
}

/// What [`import_dir`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// Files taken, per format (a file that repeats another counts: it is replayed).
    pub taken: BTreeMap<Format, usize>,
    /// Of the files taken, the model lists (shared by all tests). Lists with the same
    /// request and the same set of model ids share one stored file.
    pub model_lists: usize,
    /// Of the files taken, those whose request and answer are, by this project's
    /// identity, those of an earlier file of the same test (OGX's own hash tells such
    /// files apart: it hashes the SDK call's arguments, where `extra_body: {}` counts):
    /// `(file, the earlier file)`. One recording replays both. The same request with
    /// another answer is not a repeat: it is the request's next occurrence.
    pub repeats: Vec<(PathBuf, PathBuf)>,
    /// Files not imported, sorted by path, with the reason.
    pub skipped: Vec<(PathBuf, String)>,
}

impl ImportReport {
    /// How many files were taken, all formats together.
    pub fn taken_total(&self) -> usize {
        self.taken.values().sum()
    }
    /// How many files were taken in one format.
    pub fn taken_in(&self, format: Format) -> usize {
        self.taken.get(&format).copied().unwrap_or(0)
    }
}

impl ImportReport {
    /// What was taken, one line per format that had files, then how many of them are
    /// model lists and repeats (what `cargo recordings import ogx` prints).
    ///
    /// ```
    /// use recorder_cli::ogx::{Format, ImportReport};
    /// let mut report = ImportReport::default();
    /// report.taken.insert(Format::RawHttp, 4);
    /// report.taken.insert(Format::OpenAiSdk, 3);
    /// report.model_lists = 1;
    /// assert_eq!(report.taken_lines(), [
    ///     "       3  OpenAI SDK calls",
    ///     "       4  raw HTTP exchanges",
    ///     "  of them 1 model list (shared by all tests, merged on replay)",
    /// ]);
    /// ```
    pub fn taken_lines(&self) -> Vec<String> {
        let mut out: Vec<String> = Format::ALL
            .iter()
            .map(|f| (self.taken_in(*f), f))
            .filter(|(n, _)| *n > 0)
            .map(|(n, f)| format!("  {n:>6}  {f}"))
            .collect();
        let plural =
            |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
        if self.model_lists > 0 {
            out.push(format!(
                "  of them {} (shared by all tests, merged on replay)",
                plural(self.model_lists, "model list", "model lists")
            ));
        }
        if !self.repeats.is_empty() {
            out.push(format!(
                "  of them {} an earlier file's request and answer (imported once, replayed for both)",
                plural(self.repeats.len(), "repeats", "repeat")
            ));
        }
        out
    }
}

impl fmt::Display for ImportReport {
    /// How many files were taken, [`ImportReport::taken_lines`], then what was
    /// skipped and why.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let total = self.taken_total();
        write!(f, "took {total} of {} files", total + self.skipped.len())?;
        for line in self.taken_lines() {
            write!(f, "\n{line}")?;
        }
        if !self.skipped.is_empty() {
            write!(f, "\nskipped {}:", self.skipped.len())?;
            for (path, why) in &self.skipped {
                write!(f, "\n  {}: {why}", path.display())?;
            }
        }
        Ok(())
    }
}

/// Converts one OGX recording (the parsed file).
pub fn convert(value: &Value) -> Result<Converted, Skip> {
    let req = value
        .get("request")
        .and_then(Value::as_object)
        .ok_or_else(|| Skip::Invalid("no `request` object".into()))?;
    let resp = value
        .get("response")
        .and_then(Value::as_object)
        .ok_or_else(|| Skip::Invalid("no `response` object".into()))?;
    // No `test_id` key (files from before OGX had test ids) means `null`: a call made
    // outside any test, which the shared scope (test id "") answers.
    let test_id = match value.get("test_id") {
        Some(Value::String(t)) => {
            // An id replay would refuse (`_models::x`, `::`, `.hidden::t`) would write
            // where the recorder keeps its own files, or where no test reads.
            recorder_runtime::store::check_test_id(t).map_err(|e| Skip::TestId(e.to_string()))?;
            t.clone()
        }
        None | Some(Value::Null) => String::new(),
        Some(other) => {
            return Err(Skip::Invalid(format!(
                "`test_id` is {other}, neither a string nor null"
            )))
        }
    };
    let (format, mut recording, kind) = if req.contains_key("payload") {
        let (rec, kind) = raw_http::convert(req, resp, test_id)?;
        (Format::RawHttp, rec, kind)
    } else if req.contains_key("tool_name") {
        let (rec, kind) = tool_runtime::convert(req, resp, test_id)?;
        (Format::ToolRuntime, rec, kind)
    } else if genai::is_genai(req) {
        let (rec, kind) = genai::convert(req, resp, test_id)?;
        (Format::GoogleGenai, rec, kind)
    } else if req.contains_key("endpoint") {
        sdk::convert(req, resp, test_id)?
    } else {
        return Err(Skip::Invalid(
            "a `request` with neither `endpoint`, `payload`, `tool_name` nor a `vertexai://` url"
                .into(),
        ));
    };
    let hash = recording.request_hash();
    // OGX normalized the ids and top-level timestamps of SDK answers already (its ids
    // are kept); the rest of this project's rules (nested timestamps, Ollama's
    // `expires_at`) apply to every format.
    recording
        .response
        .for_each_json_mut(recorder_runtime::normalize::normalize_timestamps);
    Ok(Converted {
        recording,
        hash,
        kind,
        format,
    })
}

/// Reads and converts one OGX recording file, through the store's safe reader: only a
/// regular file (a symlink, FIFO or device is skipped, never followed or waited on) of
/// at most `max_bytes` (see [`Store::max_file_bytes`]).
pub fn convert_file(path: &Path, max_bytes: u64) -> Result<Converted, Skip> {
    let bytes = recorder_runtime::store::read_file(path, max_bytes)
        .map_err(|e| Skip::Unreadable(e.to_string()))?;
    let value: Value =
        serde_json::from_slice(&bytes).map_err(|e| Skip::Unreadable(format!("not JSON ({e})")))?;
    convert(&value)
}

/// Converts every OGX recording (`*.json`, in sub-folders too, hidden ones left out)
/// under `src` and writes them into `store`, in path order. Files that cannot be
/// converted are reported in [`ImportReport::skipped`]; only a missing `src` or a failed
/// write is an error. Importing the same folder again writes the same bytes.
///
/// Per test: a file whose request and response equal an earlier file's is taken
/// without a file of its own ([`ImportReport::repeats`]); one with the same request and
/// another response is the next occurrence of that request (`<hash>.2.json`, ...),
/// replayed in path order. The test's recordings then go through the id map
/// ([`recorder_runtime::normalize::normalize_scope`]): ids that OGX left raw (nested
/// ids of Responses, tool call ids, raw HTTP answers) get placeholders, and the
/// requests that send them back follow.
pub fn import_dir(src: &Path, store: &Store) -> Result<ImportReport> {
    let mut files = Vec::new();
    json_files(src, &mut files)?;
    files.sort();
    let mut report = ImportReport::default();
    let mut lists: HashMap<PathBuf, PathBuf> = HashMap::new();
    let mut scopes: BTreeMap<String, Vec<(PathBuf, Converted)>> = BTreeMap::new();
    for file in files {
        let converted = match convert_file(&file, store.max_file_bytes()) {
            Ok(c) => c,
            Err(skip) => {
                report.skipped.push((file, skip.to_string()));
                continue;
            }
        };
        *report.taken.entry(converted.format).or_default() += 1;
        let rec = &converted.recording;
        match &rec.test_id {
            Some(t) => scopes.entry(t.clone()).or_default().push((file, converted)),
            None => {
                // Same model set from another file: the first one (in path order) is
                // kept, as the merge on replay keeps the first item of each id.
                let target =
                    store.model_list_path(&converted.hash, &model_set_digest(&rec.response));
                if let std::collections::hash_map::Entry::Vacant(slot) = lists.entry(target) {
                    store.write(rec, &RecordingKey::first(converted.hash.as_str()))?;
                    slot.insert(file);
                }
                report.model_lists += 1;
            }
        }
    }
    for (test_id, items) in scopes {
        // Request hash -> the distinct responses so far, with the file that had each.
        let mut seen: HashMap<String, Vec<(PathBuf, RecordedResponse)>> = HashMap::new();
        let mut named = Vec::new();
        for (file, converted) in items {
            let responses = seen.entry(converted.hash.clone()).or_default();
            if let Some((first, _)) = responses
                .iter()
                .find(|(_, r)| *r == converted.recording.response)
            {
                report.repeats.push((file, first.clone()));
                continue;
            }
            responses.push((file, converted.recording.response.clone()));
            let occurrence = responses.len() as u32;
            named.push((
                RecordingKey::new(converted.hash.as_str(), occurrence).file_name(),
                converted.recording,
            ));
        }
        let renamed = recorder_runtime::normalize::normalize_scope(named)?;
        let dir = store.scope_dir(&test_id);
        for r in &renamed {
            // The safe writer: never through a symlinked folder, never over the limit.
            store.write_file(&dir.join(&r.name), &r.recording.to_pretty_bytes())?;
        }
        store.refresh_ids_file(&dir)?;
    }
    report.skipped.sort();
    report.repeats.sort();
    Ok(report)
}

fn json_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| Error::io("cannot read OGX recordings folder", dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io("cannot read OGX recordings folder", dir, e))?;
        let name = entry.file_name();
        if name.to_string_lossy().starts_with('.') {
            continue;
        }
        let path = entry.path();
        if entry
            .file_type()
            .map_err(|e| Error::io("cannot read OGX recordings folder", &path, e))?
            .is_dir()
        {
            json_files(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "json") {
            out.push(path);
        }
    }
    Ok(())
}

/// A 200 answer with a JSON body.
fn json_response(body: Value) -> RecordedResponse {
    json_with_status(200, body)
}

fn json_with_status(status: u16, body: Value) -> RecordedResponse {
    let mut r = RecordedResponse::plain(status, None, b"");
    r.content_type = Some("application/json".into());
    r.body = Some(body);
    r
}

/// A recorded exception (`"is_exception": true`) as the error answer the server sent:
/// `exception_data.status_code` (500 when absent or not an error status) and a JSON
/// body rebuilt from `exception_data.body`. SDKs keep only the `error` member of an
/// error body, so an object without an `error` key is wrapped back into
/// `{"error": ...}`; a string holding JSON is parsed first; anything else becomes
/// `{"error": {"message": <message>, "type": <type>}}`.
fn error_response(resp: &Map<String, Value>) -> RecordedResponse {
    let data = resp.get("exception_data").and_then(Value::as_object);
    let field = |k: &str| data.and_then(|d| d.get(k));
    let status = field("status_code")
        .and_then(Value::as_u64)
        .filter(|s| (400..=599).contains(s))
        .unwrap_or(500) as u16;
    let parsed = match field("body") {
        Some(Value::String(s)) => serde_json::from_str::<Value>(s)
            .ok()
            .filter(Value::is_object),
        Some(v @ Value::Object(_)) => Some(v.clone()),
        _ => None,
    };
    let body = match parsed {
        Some(v) if v.get("error").is_some() => v,
        Some(v) => serde_json::json!({ "error": v }),
        None => {
            let message = field("message")
                .and_then(Value::as_str)
                .or_else(|| resp.get("exception_message").and_then(Value::as_str))
                .unwrap_or("recorded error");
            let kind = field("type").and_then(Value::as_str).unwrap_or("error");
            serde_json::json!({ "error": { "message": message, "type": kind } })
        }
    };
    json_with_status(status, body)
}

/// Whether OGX recorded an exception instead of an answer.
fn is_exception(resp: &Map<String, Value>) -> bool {
    resp.get("is_exception")
        .and_then(Value::as_bool)
        .unwrap_or(false)
}

/// Whether OGX recorded a streamed answer.
fn is_streaming(resp: &Map<String, Value>) -> bool {
    resp.get("is_streaming")
        .and_then(Value::as_bool)
        .unwrap_or(false)
}

/// Percent-encodes `s` for a URL path segment or query value (RFC 3986 unreserved
/// characters stay as they are).
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use recorder_runtime::identity::RequestIdentity;
    use serde_json::json;

    pub(super) const TEST: &str =
        "tests/integration/inference/test_x.py::test_y[txt=ollama/llama3.2:3b]";
    const COMPLETION: &str = "openai.types.chat.chat_completion.ChatCompletion";

    /// An OGX SDK-call file of test [`TEST`] (shared with the formats' tests).
    pub(super) fn file(endpoint: &str, body: Value, response: Value) -> Value {
        json!({
            "test_id": TEST,
            "request": {"method": "POST", "url": format!("http://localhost:11434{endpoint}"), "headers": {}, "body": body, "endpoint": endpoint, "model": body.get("model").cloned().unwrap_or(json!(""))},
            "response": response,
            "id_normalization_mapping": {}
        })
    }

    pub(super) fn wrap(t: &str, data: Value) -> Value {
        json!({"__type__": t, "__data__": data})
    }

    #[test]
    fn a_recording_made_outside_a_test_goes_to_the_shared_scope() {
        let ok = json!({"body": wrap(COMPLETION, json!({})), "is_streaming": false});
        let mut outside = file("/v1/chat/completions", json!({"model": "m"}), ok);
        outside["test_id"] = Value::Null;
        let c = convert(&outside).unwrap();
        assert_eq!(c.recording.test_id.as_deref(), Some(""));
        assert!(!c.is_model_list());
        assert!(Store::new("r").scope_dir("").ends_with("_shared"));
        // A file from before OGX had test ids means the same.
        outside.as_object_mut().unwrap().remove("test_id");
        assert_eq!(convert(&outside).unwrap(), c);
        // Anything else is not a test id.
        outside["test_id"] = json!(7);
        let e = convert(&outside).unwrap_err();
        assert!(e.to_string().contains("`test_id` is 7"), "{e}");
    }

    #[test]
    fn a_request_of_no_known_shape_is_not_an_ogx_recording() {
        let e = convert(&json!({"request": {"url": "http://x/"}, "response": {}})).unwrap_err();
        assert!(
            e.to_string()
                .contains("neither `endpoint`, `payload`, `tool_name` nor a `vertexai://` url"),
            "{e}"
        );
        assert!(matches!(
            convert(&json!({"a": 1})).unwrap_err(),
            Skip::Invalid(_)
        ));
    }

    #[test]
    fn import_dir_writes_reports_and_is_deterministic() {
        let src = tempfile::tempdir().unwrap();
        let chat = |content: &str| {
            file(
                "/v1/chat/completions",
                json!({"model": "m"}),
                json!({"body": wrap(COMPLETION, json!({"content": content})), "is_streaming": false}),
            )
        };
        let models = |ids: &[&str]| {
            file(
                "/v1/models",
                json!({}),
                json!({"body": ids.iter().map(|i| wrap("openai.types.model.Model", json!({"id": i, "object": "model"}))).collect::<Vec<_>>(), "is_streaming": false}),
            )
        };
        let put = |name: &str, v: Value| {
            std::fs::write(
                src.path().join(name),
                serde_json::to_vec_pretty(&v).unwrap(),
            )
            .unwrap()
        };
        put("a__1.json", chat("x"));
        put("a__2.json", chat("y"));
        put("m__models-1-a.json", models(&["a", "b"]));
        put("m__models-2-b.json", models(&["c"]));
        put("a__3.json", chat("x"));
        put("r__3.json", file("/v1/responses", json!({}), json!({})));
        put("broken.json", json!(null));
        std::fs::write(src.path().join("LICENSE"), "MIT").unwrap();
        std::fs::write(src.path().join("bad.json"), "{").unwrap();

        let out = tempfile::tempdir().unwrap();
        let store = Store::new(out.path());
        let report = import_dir(src.path(), &store).unwrap();
        assert_eq!(
            (report.taken_in(Format::OpenAiSdk), report.model_lists),
            (5, 2),
            "{report}"
        );
        assert_eq!(report.taken_total(), 5, "{report}");
        // a__3 repeats a__1: taken, replayed from a__1's recording.
        let name = |p: &PathBuf| p.file_name().unwrap().to_str().unwrap().to_owned();
        let repeats: Vec<_> = report
            .repeats
            .iter()
            .map(|(a, b)| (name(a), name(b)))
            .collect();
        assert_eq!(repeats, [("a__3.json".into(), "a__1.json".into())]);
        let why: Vec<_> = report
            .skipped
            .iter()
            .map(|(p, w)| (name(p), w.split(' ').next().unwrap().to_owned()))
            .collect();
        assert_eq!(
            why,
            vec![
                ("bad.json".into(), "unreadable:".into()),
                ("broken.json".into(), "not".into()),
                ("r__3.json".into(), "not".into())
            ]
        );
        let text = report.to_string();
        assert!(
            text.starts_with("took 5 of 8 files\n       5  OpenAI SDK calls\n"),
            "{text}"
        );
        assert!(
            text.contains("of them 2 model lists") && text.contains("of them 1 repeats"),
            "{text}"
        );
        assert!(text.contains("skipped 3:\n  "), "{text}");
        let files = store.files().unwrap();
        assert_eq!(
            files.len(),
            4,
            "two occurrences of one request, two model lists"
        );
        assert!(files
            .iter()
            .any(|f| f.to_string_lossy().ends_with(".2.json")));
        let snapshot = |s: &Store| {
            s.files()
                .unwrap()
                .into_iter()
                .map(|p| (p.clone(), std::fs::read(p).unwrap()))
                .collect::<Vec<_>>()
        };
        let before = snapshot(&store);
        assert_eq!(import_dir(src.path(), &store).unwrap(), report);
        assert_eq!(snapshot(&store), before);
        let hash = RequestIdentity::new("GET", "/v1/models", b"", &[], None).hash();
        assert_eq!(store.model_lists(&hash).unwrap().len(), 2);
        assert!(import_dir(&src.path().join("nope"), &store).is_err());
    }
}
