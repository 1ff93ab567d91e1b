//! Import of OGX (formerly Llama Stack) recordings into this project's format.
//!
//! OGX's Python record-replay system stores one JSON file per request:
//!
//! ```text
//! { "test_id": "tests/integration/x.py::test_y[txt=ollama/llama3.2:3b]",
//!   "request":  { "method": "POST", "url": "...", "endpoint": "/v1/chat/completions",
//!                 "model": "...", "body": { ... } },
//!   "response": { "body": {"__type__": "<python class>", "__data__": <JSON>} | [ ...one per chunk... ],
//!                 "is_streaming": false, "is_exception": false, "exception_data": { ... } } }
//! ```
//!
//! [`convert`] turns one such file into a [`Recording`] keyed by this project's
//! [identity](recorder_runtime::identity) of the same request, as a client sends it on the wire,
//! under the file's own `test_id`; [`import_dir`] converts a folder into a [`Store`].
//!
//! # What maps
//!
//! | OGX `request.endpoint` | our request | our response |
//! |---|---|---|
//! | `/v1/chat/completions`, `/v1/completions` | `POST`, the body | `__data__` as JSON; a stream as SSE, one `data:` frame per chunk, then `data: [DONE]` |
//! | `/v1/embeddings` | `POST`, the body | `__data__` as JSON |
//! | `/v1/models` | `GET`, no body, shared (no test id) | `{"object":"list","data":[each __data__]}` |
//! | `/api/tags` (Ollama) | `GET`, no body, shared (no test id) | `__data__` (`{"models":[...]}`) |
//! | `/api/ps` (Ollama) | `GET`, no body, under the test id | `__data__` as JSON |
//! | `/v1/responses` | `POST`, the body | `__data__` as JSON; a stream as SSE, one event per chunk named by its `type` (no `[DONE]`) |
//!
//! A recording OGX made outside any test (`"test_id": null`) goes into the shared
//! scope (test id `""`, folder `_shared/`), which serves requests that carry no test
//! id (`recordings serve` without `X-Recorder-Test-Id`). Ids that OGX left raw in
//! responses (nested ids of Responses, tool call ids) go through the id map: they get
//! placeholders, and later requests of the same test that send them back follow (see
//! [`import_dir`]).
//!
//! OGX writes every request as `POST` (model lists and `/api/ps` with the body `{}`):
//! the method comes from the table above instead. The body is what the OpenAI SDK puts
//! on the wire: the keys of `extra_body` are merged into it, `extra_query` becomes the
//! endpoint's query string (`/v1/models?project_id=...`), and `extra_headers` and
//! `timeout` (SDK options, never sent as body) are dropped. Nothing else is changed.
//!
//! Recorded errors (`"is_exception": true`) replay with `exception_data.status_code`
//! (500 when absent or not an error status) and a JSON body rebuilt from `exception_data.body`: the OpenAI
//! SDK keeps only the `error` member of an error body, so an object without an `error`
//! key is wrapped back into `{"error": ...}`; a string holding JSON is parsed first;
//! anything else becomes `{"error": {"message": <message>, "type": <type>}}`.
//!
//! Response bodies are kept as recorded, ids included: OGX already normalized their
//! top-level `id` (`rec-<their hash[:12]>`) and `created`, so those ids are not
//! re-normalized to our hash. The timestamps OGX leaves (nested ones, Ollama's
//! `expires_at`) are normalized by this project's rules, so that imported
//! recordings pass `recordings check`.
//!
//! # What is skipped, and why ([`Skip`])
//! - any other endpoint: [`Skip::UnsupportedEndpoint`];
//! - a `__type__` from another SDK than `openai` (for `/v1/...`) or `ollama` (for
//!   `/api/...`): its `__data__` is that SDK's object, not the JSON on the wire:
//!   [`Skip::ProviderType`];
//! - files that are not OGX recordings or cannot be read: [`Skip::Invalid`], [`Skip::Unreadable`];
//! - in [`import_dir`], a file whose request and response are, by this project's
//!   identity, the same as an earlier file's: [`Skip::Duplicate`]. (OGX's own hash can
//!   tell such files apart: it hashes the SDK call's arguments, where `extra_body: {}`
//!   counts.) The same request with another response is not skipped: it is the
//!   request's next occurrence, replayed after the first.
//!
//! ```
//! use recorder_cli::ogx::convert;
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
//! assert_eq!(c.recording.test_id.as_deref(), Some("tests/t.py::test_hi"));
//! assert_eq!(c.recording.response.body.as_ref().unwrap()["id"], "rec-0123456789ab");
//! assert_eq!(c.hash, c.recording.request_hash());
//! ```

use recorder_runtime::error::{Error, Result};
use recorder_runtime::identity::is_model_list;
use recorder_runtime::recording::{RecordedRequest, RecordedResponse, RecordedStream, Recording};
use recorder_runtime::store::{model_set_digest, RecordingKey, Store};
use recorder_runtime::stream::{Frame, StreamFormat};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};

/// The endpoints that are imported (paths, without query).
pub const SUPPORTED_ENDPOINTS: &[&str] = &[
    "/v1/chat/completions",
    "/v1/completions",
    "/v1/embeddings",
    "/v1/responses",
    "/v1/models",
    "/api/tags",
    "/api/ps",
];

/// SDK options that OGX records among the body's keys but that are never sent as body.
const SDK_OPTIONS: &[&str] = &["extra_body", "extra_query", "extra_headers", "timeout"];

/// One OGX file, converted.
#[derive(Debug, Clone, PartialEq)]
pub struct Converted {
    /// The recording, in this project's format.
    pub recording: Recording,
    /// Its request hash (this project's identity), i.e. [`Recording::request_hash`].
    pub hash: String,
    /// What kind of exchange it is.
    pub kind: Kind,
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
    /// The endpoint is not one of [`SUPPORTED_ENDPOINTS`].
    #[error("unsupported endpoint {endpoint} (imported: {})", SUPPORTED_ENDPOINTS.join(", "))]
    UnsupportedEndpoint {
        /// The file's `request.endpoint`.
        endpoint: String,
    },
    /// The response was recorded from another SDK's objects, not the wire JSON.
    #[error("non-OpenAI provider type {type_name}: its data is that SDK's object, not the JSON the server sent")]
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
    /// An earlier file of the same import has the same request by this project's
    /// identity (method, endpoint, wire body, test id) and the same response: one file
    /// replays both. (The same request with another response is imported as the
    /// request's next occurrence.)
    #[error("the same request and response as {}; imported once", first.display())]
    Duplicate {
        /// The file that was imported.
        first: PathBuf,
    },
}

/// What [`import_dir`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// Files imported as test-scoped exchanges (plain, streamed or errors).
    pub imported: usize,
    /// Files imported as shared model lists. Lists with the same request and the same
    /// set of model ids share one stored file (the first, in path order, is kept).
    pub model_lists: usize,
    /// Files not imported, sorted by path, with the reason.
    pub skipped: Vec<(PathBuf, String)>,
}

impl fmt::Display for ImportReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "imported {} exchanges and {} model lists; skipped {}",
            self.imported,
            self.model_lists,
            self.skipped.len()
        )?;
        for (path, why) in &self.skipped {
            write!(f, "\n  {}: {why}", path.display())?;
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
    let endpoint = req
        .get("endpoint")
        .and_then(Value::as_str)
        .ok_or_else(|| Skip::Invalid("no `request.endpoint`".into()))?;
    let path = endpoint.split('?').next().unwrap_or(endpoint);
    if !SUPPORTED_ENDPOINTS.contains(&path) {
        return Err(Skip::UnsupportedEndpoint {
            endpoint: endpoint.to_owned(),
        });
    }
    let ollama = path.starts_with("/api/");
    let get = matches!(path, "/v1/models" | "/api/tags" | "/api/ps");
    let method = if get { "GET" } else { "POST" };

    let (body, query) = wire_body(req.get("body").unwrap_or(&Value::Null))?;
    let endpoint = with_query(endpoint, &query);
    let model_list = is_model_list(method, &endpoint);
    // A recording OGX made outside a test (`"test_id": null`) answers requests that
    // carry no test id: the shared scope, test id "".
    let test_id = if model_list {
        None
    } else {
        match value.get("test_id") {
            Some(Value::String(t)) => {
                // An id replay would refuse (`_models::x`, `::`, `.hidden::t`) would
                // write where the recorder keeps its own files, or where no test
                // reads: not imported.
                recorder_runtime::store::check_test_id(t)
                    .map_err(|e| Skip::TestId(e.to_string()))?;
                Some(t.clone())
            }
            Some(Value::Null) => Some(String::new()),
            _ => return Err(Skip::Invalid("no `test_id`".into())),
        }
    };
    let body = if get { Value::Null } else { body };
    let model = req
        .get("model")
        .and_then(Value::as_str)
        .filter(|m| !m.is_empty())
        .or_else(|| body.get("model").and_then(Value::as_str))
        .filter(|_| !model_list)
        .map(str::to_owned);
    let request = RecordedRequest {
        method: method.to_owned(),
        endpoint,
        model,
        body,
    };

    let (response, kind) = if resp
        .get("is_exception")
        .and_then(Value::as_bool)
        .unwrap_or(false)
    {
        (error_response(resp), Kind::Error)
    } else {
        let body = resp
            .get("body")
            .ok_or_else(|| Skip::Invalid("no `response.body`".into()))?;
        let streaming = resp
            .get("is_streaming")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        if model_list {
            (
                json_response(model_list_body(body, ollama)?),
                Kind::ModelList,
            )
        } else if streaming {
            if ollama {
                return Err(Skip::Invalid(format!(
                    "a streamed response from {path}, which does not stream"
                )));
            }
            let items = body
                .as_array()
                .ok_or_else(|| Skip::Invalid("a streamed body is not a list of chunks".into()))?;
            // The Responses API names each event (`event: response.created`) and
            // ends without `[DONE]`; chat and completion chunks are bare `data:`.
            let typed = path == "/v1/responses";
            let mut frames = items
                .iter()
                .map(|item| {
                    let data = unwrap_data(item, ollama)?;
                    let event = typed
                        .then(|| data.get("type").and_then(Value::as_str).map(str::to_owned))
                        .flatten();
                    Ok(Frame {
                        event,
                        data: Some(frame_data(data)),
                        ..Frame::default()
                    })
                })
                .collect::<Result<Vec<_>, Skip>>()?;
            if !typed {
                frames.push(Frame {
                    data: Some(Value::String("[DONE]".into())),
                    ..Frame::default()
                });
            }
            let format = StreamFormat::Sse;
            let stream = RecordedStream { format, frames };
            (
                RecordedResponse {
                    status: 200,
                    content_type: Some(format.content_type().to_owned()),
                    body: None,
                    body_text: None,
                    body_hex: None,
                    stream: Some(stream),
                    headers: Default::default(),
                },
                Kind::Stream,
            )
        } else {
            (json_response(unwrap_data(body, ollama)?), Kind::Plain)
        }
    };
    let mut recording = Recording {
        test_id,
        request,
        response,
    };
    let hash = recording.request_hash();
    // OGX normalized ids and top-level timestamps already (its ids are kept); the
    // rest of this project's rules (nested timestamps, Ollama's `expires_at`) apply.
    recording
        .response
        .for_each_json_mut(recorder_runtime::normalize::normalize_timestamps);
    Ok(Converted {
        recording,
        hash,
        kind,
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
/// Per test: a file whose request and response equal an earlier file's is skipped
/// ([`Skip::Duplicate`]); one with the same request and another response is the next
/// occurrence of that request (`<hash>.2.json`, ...), replayed in path order. The
/// test's recordings then go through the id map
/// ([`recorder_runtime::normalize::normalize_scope`]): ids that OGX left raw (nested
/// ids of Responses, tool call ids) get placeholders, and the requests that send them
/// back follow.
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
                let skip = Skip::Duplicate {
                    first: first.clone(),
                };
                report.skipped.push((file, skip.to_string()));
                continue;
            }
            responses.push((file, converted.recording.response.clone()));
            let occurrence = responses.len() as u32;
            named.push((
                RecordingKey::new(converted.hash.as_str(), occurrence).file_name(),
                converted.recording,
            ));
        }
        let count = named.len();
        let renamed = recorder_runtime::normalize::normalize_scope(named)?;
        let dir = store.scope_dir(&test_id);
        for r in &renamed {
            // The safe writer: never through a symlinked folder, never over the limit.
            store.write_file(&dir.join(&r.name), &r.recording.to_pretty_bytes())?;
        }
        store.refresh_ids_file(&dir)?;
        report.imported += count;
    }
    report.skipped.sort();
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

/// The body as the OpenAI SDK sends it, and the query from `extra_query`.
fn wire_body(body: &Value) -> Result<(Value, Vec<(String, String)>), Skip> {
    let Value::Object(map) = body else {
        return Ok((body.clone(), Vec::new()));
    };
    let mut out = Map::new();
    for (k, v) in map {
        if !SDK_OPTIONS.contains(&k.as_str()) {
            out.insert(k.clone(), v.clone());
        }
    }
    match map.get("extra_body") {
        Some(Value::Object(extra)) => {
            for (k, v) in extra {
                out.insert(k.clone(), v.clone());
            }
        }
        None | Some(Value::Null) => {}
        Some(_) => return Err(Skip::Invalid("`extra_body` is not an object".into())),
    }
    let query = match map.get("extra_query") {
        Some(Value::Object(q)) => q
            .iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| {
                (
                    k.clone(),
                    v.as_str().map_or_else(|| v.to_string(), str::to_owned),
                )
            })
            .collect(),
        None | Some(Value::Null) => Vec::new(),
        Some(_) => return Err(Skip::Invalid("`extra_query` is not an object".into())),
    };
    Ok((Value::Object(out), query))
}

fn with_query(endpoint: &str, query: &[(String, String)]) -> String {
    if query.is_empty() {
        return endpoint.to_owned();
    }
    let mut out = endpoint.to_owned();
    out.push(if endpoint.contains('?') { '&' } else { '?' });
    let pairs: Vec<String> = query
        .iter()
        .map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v)))
        .collect();
    out.push_str(&pairs.join("&"));
    out
}

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

/// The `__data__` of a `{"__type__", "__data__"}` wrapper, if its type is wire JSON.
fn unwrap_data(item: &Value, ollama: bool) -> Result<Value, Skip> {
    let type_name = item
        .get("__type__")
        .and_then(Value::as_str)
        .ok_or_else(|| Skip::Invalid("a response body without `__type__`".into()))?;
    let sdk = if ollama { "ollama." } else { "openai." };
    if !type_name.starts_with(sdk) {
        return Err(Skip::ProviderType {
            type_name: type_name.to_owned(),
        });
    }
    item.get("__data__")
        .cloned()
        .ok_or_else(|| Skip::Invalid(format!("a `{type_name}` without `__data__`")))
}

/// A chunk as [`Frame::data`] holds it: JSON as is, except that a JSON string is
/// kept as the raw text of the `data:` line (its quoted form), per the stream rule.
fn frame_data(chunk: Value) -> Value {
    match chunk {
        Value::String(s) => Value::String(Value::String(s).to_string()),
        other => other,
    }
}

fn model_list_body(body: &Value, ollama: bool) -> Result<Value, Skip> {
    match body {
        // OGX stores the items of an OpenAI model list, one wrapper per model.
        Value::Array(items) => {
            let data = items
                .iter()
                .map(|i| unwrap_data(i, ollama))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(if ollama {
                serde_json::json!({ "models": data })
            } else {
                serde_json::json!({ "object": "list", "data": data })
            })
        }
        // A whole list response (e.g. Ollama's `ListResponse`).
        other => unwrap_data(other, ollama),
    }
}

fn json_response(body: Value) -> RecordedResponse {
    json_with_status(200, body)
}

fn json_with_status(status: u16, body: Value) -> RecordedResponse {
    let mut r = RecordedResponse::plain(status, None, b"");
    r.content_type = Some("application/json".into());
    r.body = Some(body);
    r
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use recorder_runtime::identity::RequestIdentity;
    use serde_json::json;

    const TEST: &str = "tests/integration/inference/test_x.py::test_y[txt=ollama/llama3.2:3b]";

    fn file(endpoint: &str, body: Value, response: Value) -> Value {
        json!({
            "test_id": TEST,
            "request": {"method": "POST", "url": format!("http://localhost:11434{endpoint}"), "headers": {}, "body": body, "endpoint": endpoint, "model": body.get("model").cloned().unwrap_or(json!(""))},
            "response": response,
            "id_normalization_mapping": {}
        })
    }

    fn wrap(t: &str, data: Value) -> Value {
        json!({"__type__": t, "__data__": data})
    }

    const COMPLETION: &str = "openai.types.chat.chat_completion.ChatCompletion";
    const CHUNK: &str = "openai.types.chat.chat_completion_chunk.ChatCompletionChunk";

    #[test]
    fn plain_chat_completion() {
        let body = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}], "temperature": 0.7, "stream": false});
        let data = json!({"id": "rec-aaaaaaaaaaaa", "object": "chat.completion", "created": 0, "choices": [{"index": 0, "message": {"role": "assistant", "content": "hello"}}]});
        let c = convert(&file(
            "/v1/chat/completions",
            body.clone(),
            json!({"body": wrap(COMPLETION, data.clone()), "is_streaming": false}),
        ))
        .unwrap();
        assert_eq!(c.kind, Kind::Plain);
        let r = &c.recording;
        assert_eq!(r.test_id.as_deref(), Some(TEST));
        assert_eq!(
            (
                r.request.method.as_str(),
                r.request.endpoint.as_str(),
                r.request.model.as_deref()
            ),
            ("POST", "/v1/chat/completions", Some("m"))
        );
        assert_eq!(r.request.body, body);
        assert_eq!(
            (r.response.status, r.response.content_type.as_deref()),
            (200, Some("application/json"))
        );
        assert_eq!(
            r.response.body.as_ref(),
            Some(&data),
            "kept exactly, ids not renormalized"
        );
        let wire = serde_json::to_vec(&body).unwrap();
        assert_eq!(
            c.hash,
            RequestIdentity::new("POST", "/v1/chat/completions", &wire, &[], Some(TEST)).hash()
        );
    }

    #[test]
    fn streams_become_sse_frames_ending_with_done() {
        let chunks = [
            json!({"id": "rec-1", "object": "chat.completion.chunk", "choices": [{"delta": {"tool_calls": [{"index": 0, "id": "call_1", "function": {"name": "f", "arguments": ""}}]}}]}),
            json!({"id": "rec-1", "object": "chat.completion.chunk", "choices": [{"delta": {"tool_calls": [{"index": 0, "function": {"arguments": "{}"}}]}, "finish_reason": "tool_calls"}]}),
        ];
        let body: Vec<Value> = chunks.iter().map(|c| wrap(CHUNK, c.clone())).collect();
        let c = convert(&file(
            "/v1/chat/completions",
            json!({"model": "m", "stream": true}),
            json!({"body": body, "is_streaming": true}),
        ))
        .unwrap();
        assert_eq!(c.kind, Kind::Stream);
        let resp = &c.recording.response;
        assert_eq!(resp.content_type.as_deref(), Some("text/event-stream"));
        let stream = resp.stream.as_ref().unwrap();
        assert_eq!(stream.format, StreamFormat::Sse);
        let data: Vec<_> = stream
            .frames
            .iter()
            .map(|f| f.data.clone().unwrap())
            .collect();
        assert_eq!(
            data,
            vec![chunks[0].clone(), chunks[1].clone(), json!("[DONE]")]
        );
        assert!(stream
            .frames
            .iter()
            .all(|f| f.event.is_none() && f.id.is_none()));
    }

    #[test]
    fn stream_edge_cases() {
        // A chunk that is a JSON string goes on the wire quoted, as the server sent it.
        let c = convert(&file(
            "/v1/completions",
            json!({"model": "m", "stream": true}),
            json!({"body": [wrap("openai.types.x.X", json!("hi"))], "is_streaming": true}),
        ))
        .unwrap();
        let stream = c.recording.response.stream.unwrap();
        assert_eq!(
            recorder_runtime::stream::to_wire(stream.format, &stream.frames),
            b"data: \"hi\"\n\ndata: [DONE]\n\n"
        );
        // Ollama's /api/ps and /api/tags never stream.
        let e = convert(&file(
            "/api/ps",
            json!({}),
            json!({"body": [], "is_streaming": true}),
        ))
        .unwrap_err();
        assert!(matches!(e, Skip::Invalid(_)), "{e}");
        // A model list that recorded an error is still a shared model list.
        let c = convert(&file("/v1/models", json!({}), json!({"body": null, "is_streaming": false, "is_exception": true, "exception_data": {"status_code": 401, "body": {"message": "no key"}}}))).unwrap();
        assert_eq!(
            (c.kind, c.is_model_list(), c.recording.response.status),
            (Kind::Error, true, 401)
        );
    }

    #[test]
    fn completions_and_embeddings() {
        let data = json!({"id": "rec-x", "object": "text_completion", "choices": [{"text": "4"}]});
        let c = convert(&file("/v1/completions", json!({"model": "m", "prompt": "2+2="}), json!({"body": wrap("openai.types.completion.Completion", data.clone()), "is_streaming": false}))).unwrap();
        assert_eq!(c.recording.response.body, Some(data));
        let c = convert(&file("/v1/completions", json!({"model": "m", "prompt": "2+2=", "stream": true}), json!({"body": [wrap("openai.types.completion.Completion", json!({"choices": [{"text": "4"}]}))], "is_streaming": true}))).unwrap();
        assert_eq!(c.recording.response.stream.unwrap().frames.len(), 2);
        let data = json!({"object": "list", "data": [{"object": "embedding", "index": 0, "embedding": [0.1, -0.2]}], "model": "e"});
        let c = convert(&file("/v1/embeddings", json!({"model": "e", "input": "x", "encoding_format": "float"}), json!({"body": wrap("openai.types.create_embedding_response.CreateEmbeddingResponse", data.clone()), "is_streaming": false}))).unwrap();
        assert_eq!(c.recording.response.body, Some(data));
        assert_eq!(c.recording.request.endpoint, "/v1/embeddings");
    }

    #[test]
    fn model_lists_are_get_shared_and_wrapped() {
        let items = vec![
            json!({"id": "gpt-4", "object": "model", "created": 1686588896, "owned_by": "openai"}),
            json!({"id": "gpt-3.5-turbo", "object": "model", "created": 1677610602, "owned_by": "openai"}),
        ];
        let body: Vec<Value> = items
            .iter()
            .map(|i| wrap("openai.types.model.Model", i.clone()))
            .collect();
        let c = convert(&file(
            "/v1/models",
            json!({}),
            json!({"body": body, "is_streaming": false}),
        ))
        .unwrap();
        assert_eq!(c.kind, Kind::ModelList);
        let r = &c.recording;
        assert_eq!(r.test_id, None);
        assert_eq!(
            (
                r.request.method.as_str(),
                &r.request.body,
                r.request.model.as_deref()
            ),
            ("GET", &Value::Null, None)
        );
        assert_eq!(
            r.response.body,
            Some(json!({"object": "list", "data": items}))
        );
        assert_eq!(
            c.hash,
            RequestIdentity::new("GET", "/v1/models", b"", &[], None).hash()
        );
    }

    #[test]
    fn extra_body_and_extra_query_go_where_the_sdk_puts_them() {
        let c = convert(&file(
            "/v1/models",
            json!({"extra_query": {"project_id": "p 1/2"}}),
            json!({"body": [], "is_streaming": false}),
        ))
        .unwrap();
        assert_eq!(
            c.recording.request.endpoint,
            "/v1/models?project_id=p%201%2F2"
        );
        assert_eq!(c.recording.test_id, None, "still a shared model list");
        let body =
            json!({"model": "m", "messages": [], "extra_body": {"project_id": "p"}, "timeout": 30});
        let c = convert(&file(
            "/v1/chat/completions",
            body,
            json!({"body": wrap(COMPLETION, json!({})), "is_streaming": false}),
        ))
        .unwrap();
        assert_eq!(
            c.recording.request.body,
            json!({"model": "m", "messages": [], "project_id": "p"})
        );
        let c = convert(&file(
            "/v1/chat/completions",
            json!({"model": "m", "extra_body": {}}),
            json!({"body": wrap(COMPLETION, json!({})), "is_streaming": false}),
        ))
        .unwrap();
        assert_eq!(c.recording.request.body, json!({"model": "m"}));
    }

    #[test]
    fn ollama_ps_and_tags() {
        let data = json!({"models": [{"model": "llama3.2:3b", "name": "llama3.2:3b", "size": 3367856128u64}]});
        let c = convert(&file("/api/ps", json!({}), json!({"body": wrap("ollama._types.ProcessResponse", data.clone()), "is_streaming": false}))).unwrap();
        assert_eq!(c.kind, Kind::Plain);
        let r = &c.recording;
        assert_eq!(
            (
                r.request.method.as_str(),
                &r.request.body,
                r.test_id.as_deref()
            ),
            ("GET", &Value::Null, Some(TEST))
        );
        assert_eq!(r.response.body, Some(data.clone()));
        assert_eq!(
            c.hash,
            RequestIdentity::new("GET", "/api/ps", b"", &[], Some(TEST)).hash()
        );
        let c = convert(&file("/api/tags", json!({}), json!({"body": wrap("ollama._types.ListResponse", data.clone()), "is_streaming": false}))).unwrap();
        assert_eq!(
            (
                c.kind,
                c.recording.test_id.clone(),
                c.recording.response.body.clone()
            ),
            (Kind::ModelList, None, Some(data))
        );
    }

    #[test]
    fn errors_keep_status_and_rebuild_the_wire_body() {
        let exc = |body: Value, status: Value| json!({"body": null, "is_streaming": false, "is_exception": true, "exception_data": {"category": "provider_sdk", "provider": "openai", "type": "BadRequestError", "message": "Error code: 400 - ...", "status_code": status, "body": body}, "exception_message": "Error code: 400 - ..."});
        let req = json!({"model": "m", "messages": [], "stream": true});
        let inner =
            json!({"message": "bad", "type": "invalid_request_error", "param": null, "code": "x"});
        let c = convert(&file(
            "/v1/chat/completions",
            req.clone(),
            exc(inner.clone(), json!(400)),
        ))
        .unwrap();
        assert_eq!(c.kind, Kind::Error);
        let r = &c.recording.response;
        assert_eq!(
            (r.status, r.content_type.as_deref(), r.stream.is_none()),
            (400, Some("application/json"), true)
        );
        assert_eq!(
            r.body,
            Some(json!({"error": inner})),
            "the SDK unwrapped `error`: wrapped back"
        );
        let c = convert(&file(
            "/v1/chat/completions",
            req.clone(),
            exc(json!({"error": "model not found"}), json!(404)),
        ))
        .unwrap();
        assert_eq!(
            (c.recording.response.status, c.recording.response.body),
            (404, Some(json!({"error": "model not found"})))
        );
        let c = convert(&file(
            "/v1/chat/completions",
            req.clone(),
            exc(json!("{\"error\":{\"message\":\"m\"}}"), json!(422)),
        ))
        .unwrap();
        assert_eq!(
            c.recording.response.body,
            Some(json!({"error": {"message": "m"}})),
            "a JSON string is parsed"
        );
        let c = convert(&file(
            "/v1/chat/completions",
            req,
            exc(json!("upstream timed out"), Value::Null),
        ))
        .unwrap();
        assert_eq!(c.recording.response.status, 500);
        assert_eq!(
            c.recording.response.body,
            Some(json!({"error": {"message": "Error code: 400 - ...", "type": "BadRequestError"}}))
        );
    }

    #[test]
    fn skips_say_why() {
        let ok = json!({"body": wrap(COMPLETION, json!({})), "is_streaming": false});
        let e = convert(&file("/v1/audio/speech", json!({"model": "m"}), ok.clone())).unwrap_err();
        assert_eq!(
            e,
            Skip::UnsupportedEndpoint {
                endpoint: "/v1/audio/speech".into()
            }
        );
        assert!(
            e.to_string()
                .starts_with("unsupported endpoint /v1/audio/speech"),
            "{e}"
        );
        let e = convert(&file("/v1/chat/completions", json!({"model": "m"}), json!({"body": wrap("anthropic.types.message.Message", json!({})), "is_streaming": false}))).unwrap_err();
        assert_eq!(
            e,
            Skip::ProviderType {
                type_name: "anthropic.types.message.Message".into()
            }
        );
        assert!(
            e.to_string()
                .contains("non-OpenAI provider type anthropic.types.message.Message"),
            "{e}"
        );
        let e = convert(&file(
            "/v1/chat/completions",
            json!({"model": "m", "stream": true}),
            json!({"body": [wrap("google.genai.types.Chunk", json!({}))], "is_streaming": true}),
        ))
        .unwrap_err();
        assert!(matches!(e, Skip::ProviderType { .. }), "{e}");
        assert!(matches!(
            convert(&json!({"a": 1})).unwrap_err(),
            Skip::Invalid(_)
        ));
        let mut no_test = file("/v1/chat/completions", json!({"model": "m"}), ok);
        no_test.as_object_mut().unwrap().remove("test_id");
        assert!(matches!(convert(&no_test).unwrap_err(), Skip::Invalid(_)));
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
    }

    #[test]
    fn responses_streams_name_their_events_and_end_without_done() {
        let events = [
            "response.created",
            "response.output_text.delta",
            "response.completed",
        ]
        .iter()
        .map(|t| {
            wrap(
                "openai.types.responses.response_stream_event.ResponseStreamEvent",
                json!({"type": t, "response": {"id": "resp_1a2b3c4d"}}),
            )
        })
        .collect::<Vec<_>>();
        let c = convert(&file(
            "/v1/responses",
            json!({"model": "m", "input": "hi", "stream": true}),
            json!({"body": events, "is_streaming": true}),
        ))
        .unwrap();
        let frames = &c.recording.response.stream.as_ref().unwrap().frames;
        assert_eq!(frames.len(), 3);
        assert_eq!(frames[0].event.as_deref(), Some("response.created"));
        assert_eq!(frames[2].event.as_deref(), Some("response.completed"));
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
        assert_eq!((report.imported, report.model_lists), (2, 2), "{report}");
        let why: Vec<_> = report
            .skipped
            .iter()
            .map(|(p, w)| {
                (
                    p.file_name().unwrap().to_str().unwrap(),
                    w.split(' ').next().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            why,
            vec![
                ("a__3.json", "the"),
                ("bad.json", "unreadable:"),
                ("broken.json", "not"),
                ("r__3.json", "not")
            ]
        );
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
