//! Real data: OGX (formerly Llama Stack) recordings of every format OGX writes,
//! imported with [`ogx::import_dir`] and replayed through the engine exactly as a
//! client would ask for them.
//!
//! For every imported file the request is rebuilt from the OGX file on its own (not by
//! the converter): `POST <endpoint>` with the compact JSON of the recorded body (the
//! OpenAI SDK's `extra_body` merged in), `GET` without a body for `/v1/models` and
//! `/api/ps`, the URL's path and the payload for raw HTTP exchanges, the recorder's
//! tool-runtime route and the kwargs for tool calls. (A google-genai call's request is
//! the SDK's, which only the SDK itself can tell: `python_clients_replay_every_format`
//! proves those with google-genai; here they take the converter's.) Ids that an
//! earlier answer of the test gave are sent back as the client got them (placeholders
//! where OGX had left the server's ids); an id no imported answer gave is sent as
//! recorded. Then: plain bodies equal what OGX recorded (with those ids), streams equal
//! it chunk for chunk, model lists are the union by id of every list recorded at their
//! path (whatever the query), errors replay with their status, and the same request
//! recorded with several answers replays them in order.
//!
//! Runs on the committed subsets (`recorder-testkit/data/ogx` and `data/ogx-formats`)
//! always, on the shared corpus (`../shared/corpus/ogx` and `ogx-formats`) when it
//! exists, and on the folder in `OGX_CORPUS` when that is set (any OGX recordings
//! folder: `OGX_CORPUS=path/to/ogx/tests/integration cargo test -p recorder-cli --test
//! integration ogx_corpus::`).

use crate::support::{cli, s, Serve};
use futures::StreamExt;
use recorder_cli::ogx::{self, Format, ImportReport};
use recorder_runtime::engine::{Engine, EngineRequest, ResponseBody, Scope, Target};
use recorder_runtime::idmap::{contains_token, walk_ids, IdMap};
use recorder_runtime::recording::Recording;
use recorder_runtime::store::{model_list_key, RecordingKey, Store};
use recorder_runtime::stream::{self, Frame, StreamFormat};
use recorder_runtime::Mode;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The shared corpora, next to the workspace (absent from a plain clone).
const SHARED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/corpus");
/// The curated subset of OpenAI and Ollama SDK calls committed with the testkit.
const COMMITTED_CORPUS: &str = recorder_testkit::OGX_SUBSET;
/// The real files of every other format committed with the testkit.
const COMMITTED_FORMATS: &str = recorder_testkit::OGX_FORMATS;

/// What one folder gave.
#[derive(Debug, Default)]
struct Summary {
    files: usize,
    report: ImportReport,
    plain: usize,
    streams: usize,
    chunks: usize,
    errors: usize,
    model_list_requests: usize,
    occurrences: usize,
    endpoints: BTreeSet<String>,
}

/// The OGX files under a folder (sub-folders too), sorted.
fn ogx_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                todo.push(p);
            } else if p.extension().is_some_and(|e| e == "json") {
                files.push(p);
            }
        }
    }
    files.sort();
    files
}

/// The format of an OGX file, told by the shape of its request.
fn format_of(file: &Value) -> Format {
    let req = &file["request"];
    if req.get("payload").is_some() {
        Format::RawHttp
    } else if req.get("tool_name").is_some() {
        Format::ToolRuntime
    } else if req["url"]
        .as_str()
        .is_some_and(|u| u.starts_with("vertexai://"))
    {
        Format::GoogleGenai
    } else if req["endpoint"]
        .as_str()
        .is_some_and(|e| e.starts_with("/api/"))
    {
        Format::OllamaSdk
    } else {
        Format::OpenAiSdk
    }
}

/// The request a client sends for an OGX file: method, endpoint (query included),
/// body; and whether it is a model list.
fn client_request(file: &Value) -> (EngineRequest, bool) {
    let req = &file["request"];
    match format_of(file) {
        Format::RawHttp => {
            let url = req["url"].as_str().unwrap();
            let path = format!("/{}", url.splitn(4, '/').nth(3).unwrap_or(""));
            let body = serde_json::to_vec(&req["payload"]).unwrap();
            let method = req["method"].as_str().unwrap_or("POST");
            let mut r = EngineRequest::post(&path, body);
            r.method = method.parse().unwrap();
            (r, false)
        }
        Format::ToolRuntime => {
            let path = format!(
                "/recorder/tool-runtime/{}/{}",
                req["provider"].as_str().unwrap(),
                req["tool_name"].as_str().unwrap()
            );
            (
                EngineRequest::post(&path, serde_json::to_vec(&req["kwargs"]).unwrap()),
                false,
            )
        }
        Format::GoogleGenai => {
            let r = ogx::convert(file).unwrap().recording.request;
            (
                EngineRequest::post(&r.endpoint, serde_json::to_vec(&r.body).unwrap()),
                false,
            )
        }
        Format::OpenAiSdk | Format::OllamaSdk => sdk_request(req),
    }
}

fn sdk_request(req: &Value) -> (EngineRequest, bool) {
    let endpoint = req["endpoint"].as_str().unwrap();
    let mut body: Map<String, Value> = req["body"].as_object().cloned().unwrap_or_default();
    let extra_body = body.shift_remove("extra_body");
    let extra_query = body.shift_remove("extra_query");
    if let Some(Value::Object(extra)) = extra_body {
        body.extend(extra);
    }
    match endpoint {
        "/v1/models" | "/api/ps" => {
            let mut endpoint = endpoint.to_string();
            if let Some(Value::Object(q)) = extra_query {
                // The one case in the corpus: a WatsonX project id, a plain UUID.
                let pairs: Vec<String> = q
                    .iter()
                    .map(|(k, v)| format!("{k}={}", v.as_str().unwrap()))
                    .collect();
                endpoint = format!("{endpoint}?{}", pairs.join("&"));
            }
            (
                EngineRequest::get(&endpoint),
                endpoint.starts_with("/v1/models"),
            )
        }
        _ => (
            EngineRequest::post(endpoint, serde_json::to_vec(&Value::Object(body)).unwrap()),
            false,
        ),
    }
}

/// The JSON values of what OGX recorded as the answer, as the server sent them: an
/// SDK object's `__data__` (nested timestamps normalized as this project does), each
/// chunk of a stream, each `data:` of a raw SSE stream; a google-genai answer with its
/// SDK-only fields left out.
fn answer_values(file: &Value) -> Vec<Value> {
    if file["response"]["is_exception"] == Value::Bool(true) {
        return Vec::new();
    }
    let body = &file["response"]["body"];
    let items: Vec<&Value> = match body {
        Value::Array(items) => items.iter().collect(),
        one => vec![one],
    };
    match format_of(file) {
        Format::RawHttp if file["response"]["is_streaming"] == Value::Bool(true) => {
            let wire = items
                .iter()
                .map(|l| l.as_str().unwrap())
                .collect::<Vec<_>>()
                .join("\n")
                + "\n";
            stream::parse(StreamFormat::Sse, wire.as_bytes())
                .unwrap()
                .into_iter()
                .map(|f| {
                    let mut v = f.data.unwrap_or(Value::Null);
                    recorder_runtime::normalize::normalize_timestamps(&mut v);
                    v
                })
                .collect()
        }
        Format::RawHttp => {
            let mut v = body.clone();
            recorder_runtime::normalize::normalize_timestamps(&mut v);
            vec![v]
        }
        Format::GoogleGenai => items
            .into_iter()
            .map(|i| {
                let mut v = i.clone();
                for k in ["sdk_http_response", "automatic_function_calling_history"] {
                    v.as_object_mut().unwrap().shift_remove(k);
                }
                v
            })
            .collect(),
        _ => items.into_iter().map(data).collect(),
    }
}

/// `files` of one test in an order a client could have made them: each after the
/// files whose answers issued an id its request sends back (path order otherwise).
fn in_client_order(files: Vec<(PathBuf, Value)>) -> Vec<(PathBuf, Value)> {
    let texts: Vec<String> = files
        .iter()
        .map(|(_, f)| f["request"].to_string())
        .collect();
    let issued: Vec<Vec<String>> = files
        .iter()
        .zip(&texts)
        .map(|((_, f), text)| {
            let mut ids = Vec::new();
            for answer in answer_values(f) {
                walk_ids(&answer, &mut |_, id| {
                    if !contains_token(text, id) && !ids.iter().any(|i| i == id) {
                        ids.push(id.to_owned());
                    }
                });
            }
            ids
        })
        .collect();
    let mut done = vec![false; files.len()];
    let mut order = Vec::new();
    while order.len() < files.len() {
        let next = (0..files.len())
            .find(|&j| {
                !done[j]
                    && (0..files.len()).all(|i| {
                        done[i]
                            || i == j
                            || !issued[i].iter().any(|id| contains_token(&texts[j], id))
                    })
            })
            .unwrap_or_else(|| (0..files.len()).find(|&j| !done[j]).unwrap());
        done[next] = true;
        order.push(next);
    }
    let mut files: Vec<Option<(PathBuf, Value)>> = files.into_iter().map(Some).collect();
    order
        .into_iter()
        .map(|i| files[i].take().unwrap())
        .collect()
}

/// `expected` (what OGX recorded) as it replays: each id the import replaced by a
/// placeholder is learned from `replayed` (at the same place) into `ids`, and replaced
/// everywhere in `expected`.
fn learn(ids: &mut IdMap, expected: &Value, replayed: &Value) -> Value {
    walk_ids(expected, &mut |ptr, id| {
        if let Some(got) = replayed.pointer(ptr).and_then(Value::as_str) {
            if got != id {
                ids.insert(id, got.to_owned());
            }
        }
    });
    let mut out = expected.clone();
    ids.apply_tokens(&mut out);
    out
}

/// What a chunk or body of an OGX SDK file replays as: its data, with the timestamps
/// that OGX left (nested ones, Ollama's `expires_at`) normalized as this project does.
fn data(item: &Value) -> Value {
    let mut v = item
        .get("__data__")
        .cloned()
        .unwrap_or_else(|| panic!("no __data__ in {item}"));
    recorder_runtime::normalize::normalize_timestamps(&mut v);
    v
}

/// A Gemini API answer's field names back in the SDK's snake_case, but inside what the
/// SDK passes through as it is (function-call arguments, function responses).
fn snake_keys(v: &Value) -> Value {
    match v {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let mut name = String::new();
                    for c in k.chars() {
                        if c.is_ascii_uppercase() {
                            name.push('_');
                            name.push(c.to_ascii_lowercase());
                        } else {
                            name.push(c);
                        }
                    }
                    let v = if matches!(k.as_str(), "args" | "response") {
                        v.clone()
                    } else {
                        snake_keys(v)
                    };
                    (name, v)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(snake_keys).collect()),
        other => other.clone(),
    }
}

/// Imports `dir` into a fresh store and replays every imported file. `elsewhere`
/// also imports it into a second folder and compares the bytes (imports are fsync-bound).
async fn check_folder(dir: &Path, elsewhere: bool) -> Summary {
    let out = tempfile::tempdir().unwrap();
    let store = Store::new(out.path());
    let report = ogx::import_dir(dir, &store).unwrap();
    let files = ogx_files(dir);
    let mut summary = Summary {
        files: files.len(),
        ..Summary::default()
    };
    println!("{}: {report}", dir.display());

    // Every file is taken or skipped with a reason, and nothing twice.
    assert_eq!(
        report.taken_total() + report.skipped.len(),
        files.len(),
        "{report}"
    );
    for (path, why) in &report.skipped {
        let known = [
            "unsupported endpoint ",
            "unsupported provider type ",
            "not an OGX recording: ",
            "unreadable: ",
        ];
        assert!(
            known.iter().any(|k| why.starts_with(k)),
            "{}: unexplained skip {why:?}",
            path.display()
        );
    }
    let skipped: BTreeSet<&PathBuf> = report.skipped.iter().map(|(p, _)| p).collect();
    let repeats: BTreeSet<&PathBuf> = report.repeats.iter().map(|(p, _)| p).collect();

    // Every written file is named after its request hash and sits where the store puts it.
    for path in store.files().unwrap() {
        let rec = Recording::read(&path).unwrap();
        let hash = rec.request_hash();
        let name = path.file_name().unwrap().to_str().unwrap();
        match &rec.test_id {
            Some(t) => {
                let named = RecordingKey::parse(name).unwrap();
                assert_eq!(named.hash(), hash, "{name}");
                assert_eq!(path, store.recording_path(t, &named), "{name}");
            }
            None => assert!(
                name.starts_with(&format!("models-{hash}-"))
                    && path.parent().unwrap().ends_with("_models"),
                "{}",
                path.display()
            ),
        }
    }

    // Determinism: importing again into the same folder (and, if `elsewhere`, into
    // another one) gives the same bytes.
    let snapshot = |root: &Path| -> BTreeMap<PathBuf, Vec<u8>> {
        Store::new(root)
            .files()
            .unwrap()
            .into_iter()
            .map(|p| {
                (
                    p.strip_prefix(root).unwrap().to_path_buf(),
                    std::fs::read(&p).unwrap(),
                )
            })
            .collect()
    };
    let first = snapshot(out.path());
    assert_eq!(ogx::import_dir(dir, &store).unwrap(), report);
    assert!(
        snapshot(out.path()) == first,
        "a second import into the same folder changed files"
    );
    if elsewhere {
        let other = tempfile::tempdir().unwrap();
        ogx::import_dir(dir, &Store::new(other.path())).unwrap();
        assert!(
            snapshot(other.path()) == first,
            "an import into another folder gave other bytes"
        );
    }

    let engine = Engine::new(out.path());
    // One scope per test, as a test run has: its recordings are loaded once.
    let mut scopes: BTreeMap<String, Arc<Scope>> = BTreeMap::new();
    let mut scope_of = |test_id: &str| {
        let scope = scopes.entry(test_id.to_string()).or_insert_with(|| {
            Scope::new(engine.clone(), test_id, Mode::Replay, Target::default())
        });
        scope.clone()
    };
    // Model-list path -> (the endpoints recorded, id -> every recorded item with that id).
    type Lists = BTreeMap<String, (BTreeSet<String>, BTreeMap<String, Vec<Value>>)>;
    let mut model_lists: Lists = BTreeMap::new();
    // The files each test replays, in path order (the order occurrences were given in).
    let mut by_test: BTreeMap<String, Vec<(PathBuf, Value)>> = BTreeMap::new();
    for path in &files {
        let file: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        if skipped.contains(path) {
            continue;
        }
        let (request, is_model_list) = client_request(&file);
        summary
            .endpoints
            .insert(request.endpoint.split('?').next().unwrap().to_string());
        if is_model_list {
            let entry = model_lists
                .entry(model_list_key(&request.endpoint).to_owned())
                .or_default();
            entry.0.insert(request.endpoint.clone());
            for item in file["response"]["body"].as_array().unwrap() {
                let item = data(item);
                entry
                    .1
                    .entry(item["id"].as_str().unwrap().to_string())
                    .or_default()
                    .push(item);
            }
            continue;
        }
        // A file that repeats another replays from that one: asked once.
        if repeats.contains(path) {
            continue;
        }
        by_test
            .entry(file["test_id"].as_str().unwrap_or("").to_owned())
            .or_default()
            .push((path.clone(), file));
    }
    for (test_id, test_files) in by_test {
        // As a client makes them: a request that sends back an id comes after the
        // answer that gave it, and sends what that answer gave (a placeholder where
        // OGX had left the server's id).
        let mut ids = IdMap::default();
        for (path, file) in in_client_order(test_files) {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let response = &file["response"];
            let format = format_of(&file);
            let (mut request, _) = client_request(&file);
            request.endpoint = ids.substitute_tokens(&request.endpoint).into_owned();
            if !request.body.is_empty() {
                let mut body: Value = serde_json::from_slice(&request.body).unwrap();
                ids.apply_tokens(&mut body);
                request.body = serde_json::to_vec(&body).unwrap().into();
            }
            let scope = scope_of(&test_id);
            let before = scope.counts().replayed;
            let replayed = scope
                .handle(request)
                .await
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(scope.counts().replayed, before + 1, "{name}");
            let status = match format {
                Format::RawHttp => response["status"].as_u64().unwrap_or(200),
                _ if response["is_exception"] == Value::Bool(true) => response["exception_data"]
                    ["status_code"]
                    .as_u64()
                    .unwrap_or(500),
                _ => 200,
            };
            assert_eq!(replayed.status as u64, status, "{name}: status");
            if status >= 400 {
                summary.errors += 1;
            }
            if response["is_exception"] == Value::Bool(true) {
                let exc = &response["exception_data"];
                let body: Value = serde_json::from_slice(&replayed.bytes().await.unwrap()).unwrap();
                match exc["body"].get("error") {
                    Some(_) => assert_eq!(body, exc["body"], "{name}: the error body"),
                    None if exc["body"].is_object() => {
                        assert_eq!(body["error"], exc["body"], "{name}: the error body")
                    }
                    None => assert!(body["error"].is_object(), "{name}: the error body"),
                }
                continue;
            }
            let expected = answer_values(&file);
            if response["is_streaming"] == Value::Bool(true) {
                assert_eq!(
                    replayed.content_type.as_deref(),
                    Some("text/event-stream"),
                    "{name}"
                );
                let ResponseBody::Stream(StreamFormat::Sse, mut chunks) = replayed.body else {
                    panic!("{name}: not an SSE stream")
                };
                let mut wire = Vec::new();
                let mut per_chunk = Vec::new();
                while let Some(chunk) = chunks.next().await {
                    let chunk = chunk.unwrap();
                    // One chunk on the wire per recorded chunk: each parses to exactly one frame.
                    let frames = stream::parse(StreamFormat::Sse, &chunk).unwrap();
                    assert_eq!(
                        frames.len(),
                        1,
                        "{name}: chunk {} holds {} frames",
                        per_chunk.len(),
                        frames.len()
                    );
                    per_chunk.extend(frames);
                    wire.extend_from_slice(&chunk);
                }
                let frames = stream::parse(StreamFormat::Sse, &wire).unwrap();
                assert!(
                    frames == per_chunk,
                    "{name}: the whole stream parses otherwise than chunk by chunk"
                );
                let sdk = matches!(format, Format::OpenAiSdk | Format::OllamaSdk);
                // OpenAI's chat and completion streams end with `data: [DONE]`, which OGX
                // did not record; the Responses API's and the others' end as recorded.
                let typed = file["request"]["endpoint"] == "/v1/responses";
                let done = sdk && !typed;
                assert_eq!(
                    frames.len(),
                    expected.len() + usize::from(done),
                    "{name}: frame count"
                );
                let recorded_events: Vec<Option<String>> = match format {
                    Format::RawHttp => {
                        let lines: Vec<&str> = response["body"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .map(|l| l.as_str().unwrap())
                            .collect();
                        stream::parse(StreamFormat::Sse, (lines.join("\n") + "\n").as_bytes())
                            .unwrap()
                            .into_iter()
                            .map(|f| f.event)
                            .collect()
                    }
                    _ if typed => expected
                        .iter()
                        .map(|e| e["type"].as_str().map(str::to_owned))
                        .collect(),
                    _ => vec![None; expected.len()],
                };
                for (i, (frame, expected)) in frames.iter().zip(&expected).enumerate() {
                    let got = frame.data.clone().unwrap();
                    let (expected, got) = match format {
                        Format::GoogleGenai => (expected.clone(), snake_keys(&got)),
                        _ => (learn(&mut ids, expected, &got), got),
                    };
                    let only = Frame {
                        event: recorded_events[i].clone(),
                        data: Some(expected.clone()),
                        ..Frame::default()
                    };
                    let frame = Frame {
                        data: Some(got),
                        ..frame.clone()
                    };
                    assert!(
                        frame == only,
                        "{name}: chunk {i} differs:\n{frame:?}\nexpected {expected}"
                    );
                }
                if done {
                    assert_eq!(
                        frames.last().unwrap().data,
                        Some(Value::String("[DONE]".into())),
                        "{name}"
                    );
                    assert!(wire.ends_with(b"data: [DONE]\n\n"), "{name}");
                }
                summary.streams += 1;
                summary.chunks += expected.len();
            } else {
                assert_eq!(
                    replayed.content_type.as_deref(),
                    Some("application/json"),
                    "{name}"
                );
                let body: Value = serde_json::from_slice(&replayed.bytes().await.unwrap()).unwrap();
                let (expected, body) = match format {
                    Format::GoogleGenai => (expected[0].clone(), snake_keys(&body)),
                    _ => (learn(&mut ids, &expected[0], &body), body),
                };
                assert!(
                    body == expected,
                    "{name}: the body differs:\n{body}\nexpected {expected}"
                );
                if status < 400 {
                    summary.plain += 1;
                }
            }
        }
    }
    summary.occurrences = store
        .files()
        .unwrap()
        .iter()
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            RecordingKey::parse(&name).is_some_and(|k| k.occurrence() > 1)
        })
        .count();

    for (test_id, scope) in &scopes {
        let problems = scope.finish(std::time::Duration::from_secs(1));
        assert!(problems.is_empty(), "{test_id}: {problems:?}");
    }

    // Model lists: whatever the query it is asked with, the union by id, sorted, of
    // every list recorded at that path.
    for (path, (endpoints, by_id)) in &model_lists {
        for endpoint in endpoints {
            let scope = Scope::new(
                engine.clone(),
                "ogx::model_lists",
                Mode::Replay,
                Target::default(),
            );
            let replayed = scope
                .handle(EngineRequest::get(endpoint))
                .await
                .unwrap_or_else(|e| panic!("GET {endpoint}: {e}"));
            assert_eq!(replayed.status, 200);
            let body: Value = serde_json::from_slice(&replayed.bytes().await.unwrap()).unwrap();
            assert_eq!(body["object"], "list", "GET {endpoint}");
            let items = body["data"].as_array().unwrap();
            let ids: Vec<&str> = items.iter().map(|i| i["id"].as_str().unwrap()).collect();
            let expected: Vec<&str> = by_id.keys().map(String::as_str).collect();
            assert_eq!(
                ids, expected,
                "GET {endpoint}: the union of the lists recorded at {path} by id, sorted"
            );
            for item in items {
                assert!(
                    by_id[item["id"].as_str().unwrap()].contains(item),
                    "GET {endpoint}: {item} was never recorded"
                );
            }
            summary.model_list_requests += 1;
        }
    }
    println!(
        "{}: {} files; replayed {} plain, {} streams ({} chunks), {} errors, {} model-list requests, {} later occurrences; endpoints {:?}",
        dir.display(),
        summary.files,
        summary.plain,
        summary.streams,
        summary.chunks,
        summary.errors,
        summary.model_list_requests,
        summary.occurrences,
        summary.endpoints
    );
    summary.report = report;
    summary
}

#[tokio::test]
async fn committed_ogx_subset_imports_and_replays() {
    let s = check_folder(Path::new(COMMITTED_CORPUS), true).await;
    // Two pairs of completions differ only by `extra_body: {}` (one request on the
    // wire) and in their answers: each pair replays as two occurrences, in order.
    assert_eq!(
        (s.report.skipped.len(), s.occurrences),
        (0, 2),
        "{}",
        s.report
    );
    assert!(s.plain >= 10 && s.streams >= 15 && s.errors == 3, "{s:?}");
    // Lists at `/v1/models` and `/v1/models?project_id=` (WatsonX) answer as one.
    assert!(
        s.report.model_lists >= 6 && s.model_list_requests == 2,
        "{s:?}"
    );
    let all = [
        "/api/ps",
        "/v1/chat/completions",
        "/v1/completions",
        "/v1/embeddings",
        "/v1/models",
    ];
    assert_eq!(
        s.endpoints,
        all.iter().map(|e| e.to_string()).collect(),
        "every variant is covered"
    );
    let size: u64 = std::fs::read_dir(COMMITTED_CORPUS)
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum();
    assert!(size <= 3 << 20, "the committed subset is {size} bytes");
}

#[tokio::test]
async fn committed_ogx_formats_import_and_replay() {
    let s = check_folder(Path::new(COMMITTED_FORMATS), true).await;
    let r = &s.report;
    assert!(r.skipped.is_empty(), "every file is taken: {r}");
    assert_eq!(
        Format::ALL.map(|f| r.taken_in(f)),
        [3, 0, 4, 4, 2],
        "OpenAI SDK (two without a test id, a model list), raw HTTP (Messages and Interactions, streamed and 400), google-genai (two real, two derived), tool-runtime: {r}"
    );
    assert_eq!((s.streams, s.errors), (6, 2), "{s:?}");
    let all = [
        "/recorder/tool-runtime/tavily/web_search",
        "/v1/chat/completions",
        "/v1/messages",
        "/v1/models",
        "/v1beta/interactions",
        "/v1beta/models/gemini-2.0-flash:generateContent",
        "/v1beta/models/gemini-2.0-flash:streamGenerateContent",
    ];
    assert_eq!(
        s.endpoints,
        all.iter().map(|e| e.to_string()).collect(),
        "every format is covered"
    );
}

/// A tool call id sent back whose issuing turn is not among the imported files (OGX's
/// corpus left it out) replays with the id the client holds, the raw one.
#[tokio::test]
async fn a_turn_whose_issuing_answer_was_not_imported_replays() {
    use recorder_runtime::idmap::derived_placeholder;
    let src = tempfile::tempdir().unwrap();
    let name = "agents__610695da59ffcce0a03a4d4b1ffbf61cf698f39fd41628173fb864e14b3a71c5.json";
    std::fs::copy(
        Path::new(COMMITTED_FORMATS).join(name),
        src.path().join(name),
    )
    .unwrap();
    let out = tempfile::tempdir().unwrap();
    let report = ogx::import_dir(src.path(), &Store::new(out.path())).unwrap();
    assert_eq!(report.taken_total(), 1, "{report}");
    let files = Store::new(out.path()).files().unwrap();
    let stored = Recording::read(&files[0]).unwrap();
    let placeholder = derived_placeholder("call_j2jdmkk1");
    assert_eq!(
        stored.request.body["messages"][3]["tool_call_id"],
        placeholder.as_str()
    );
    // The whole committed folder replays it too (check_folder sends the raw id).
    let s = check_folder(src.path(), false).await;
    assert_eq!(s.streams, 1);
}

/// The committed files replayed to the clients of their APIs through `cargo recordings
/// serve`: google-genai, anthropic, plain HTTP (`tests/ogx_clients.py`). Needs a Python
/// with `google-genai` and `anthropic`: the first of `$RECORDER_PYTHON`,
/// `target/tmp/ogx-clients/bin/python` (the venv `.ci/run` makes, in this build's
/// target dir) and `python3` that imports both; without one it says so and passes, unless
/// `RECORDER_REQUIRE_PYTHON_CLIENTS=1` (CI) makes that a failure.
#[test]
fn python_clients_replay_every_format() {
    let Some(python) = python_with_clients() else {
        let msg = "no Python with google-genai and anthropic (set RECORDER_PYTHON, or: python3 -m venv target/tmp/ogx-clients && target/tmp/ogx-clients/bin/pip install google-genai==3.6.1 anthropic==2.17.0)";
        if std::env::var("RECORDER_REQUIRE_PYTHON_CLIENTS").is_ok_and(|v| v == "1") {
            panic!("{msg}");
        }
        eprintln!("SKIPPED: {msg}");
        return;
    };
    let mut folders = vec![PathBuf::from(COMMITTED_FORMATS)];
    let shared = Path::new(SHARED).join("ogx-formats");
    if shared.is_dir() {
        folders.push(shared);
    }
    if let Ok(extra) = std::env::var("OGX_CORPUS") {
        folders.push(extra.into());
    }
    for folder in folders {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("recordings");
        ogx::import_dir(&folder, &Store::new(&dir)).unwrap();
        let server = Serve::replaying(&dir);
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ogx_clients.py");
        let output = std::process::Command::new(&python)
            .arg(&script)
            .arg(&server.url)
            .args(ogx_files(&folder))
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            output.status.success(),
            "{}: {stdout}{stderr}\nserve said:\n{}",
            folder.display(),
            server.stderr()
        );
        println!("{}:\n{stdout}", folder.display());
        if folder == Path::new(COMMITTED_FORMATS) {
            assert_eq!(
                stdout,
                "google-genai: 4 replayed\nmessages: 2 replayed\nraw-http: 2 replayed\ntool-runtime: 2 replayed\n"
            );
        }
        assert!(
            !server.stderr().contains("no recording"),
            "{}",
            server.stderr()
        );
    }
}

/// A Python that imports google-genai and anthropic.
fn python_with_clients() -> Option<PathBuf> {
    let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join("ogx-clients/bin/python");
    let candidates: Vec<PathBuf> = match std::env::var_os("RECORDER_PYTHON") {
        Some(p) => vec![p.into()],
        None => vec![venv, "python3".into()],
    };
    candidates.into_iter().find(|p| {
        std::process::Command::new(p)
            .args(["-c", "import google.genai, anthropic"])
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

#[tokio::test]
async fn shared_ogx_corpus_imports_and_replays() {
    let corpus = Path::new(SHARED).join("ogx");
    if !corpus.is_dir() {
        println!(
            "note: {} does not exist; only the committed subset was checked",
            corpus.display()
        );
        return;
    }
    let s = check_folder(&corpus, false).await;
    assert!(s.report.taken_total() >= 600, "{}", s.report);
    assert!(
        s.report.skipped.is_empty(),
        "nothing is skipped: {}",
        s.report
    );
    assert!(s.occurrences >= 13, "{s:?}");
    assert!(s.streams >= 480 && s.chunks > 10_000, "{s:?}");
}

#[tokio::test]
async fn shared_ogx_formats_import_and_replay() {
    let corpus = Path::new(SHARED).join("ogx-formats");
    if !corpus.is_dir() {
        println!("note: {} does not exist; skipped", corpus.display());
        return;
    }
    let s = check_folder(&corpus, false).await;
    assert!(
        s.report.skipped.is_empty(),
        "nothing is skipped: {}",
        s.report
    );
    for format in Format::ALL {
        if format != Format::OllamaSdk {
            assert!(s.report.taken_in(format) > 0, "{format}: {}", s.report);
        }
    }
}

/// Any OGX recordings folder named in `OGX_CORPUS` (e.g. OGX's own
/// `tests/integration`): everything is taken and replays.
#[tokio::test]
async fn ogx_corpus_from_the_environment_imports_and_replays() {
    let Ok(dir) = std::env::var("OGX_CORPUS") else {
        return;
    };
    let s = check_folder(Path::new(&dir), false).await;
    assert!(
        s.report.skipped.is_empty(),
        "nothing is skipped: {}",
        s.report
    );
    println!("{dir}: {}", s.report);
}

#[test]
fn the_command_reports_per_format_and_exits_0_when_it_took_everything() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("recordings");
    let (code, out, err) = cli(&["import", "ogx", COMMITTED_FORMATS, "--dir", s(&dir)]);
    assert_eq!(code, recorder_cli::EXIT_OK, "{out}{err}");
    assert_eq!(
        out,
        format!(
            "Imported 13 of 13 files from {COMMITTED_FORMATS} into {}:\n       3  OpenAI SDK calls\n       4  raw HTTP exchanges\n       4  google-genai calls\n       2  tool-runtime calls\n  of them 1 model list (shared by all tests, merged on replay)\n",
            dir.display()
        )
    );
    assert!(err.is_empty(), "{err}");
    assert_eq!(
        cli(&["check", "--dir", s(&dir)]).0,
        recorder_cli::EXIT_OK,
        "imported recordings pass check"
    );
    // A file of no known format, and an embed_content call: skipped, named, exit 1.
    let src = tempfile::tempdir().unwrap();
    for f in ogx_files(Path::new(COMMITTED_FORMATS)) {
        std::fs::copy(&f, src.path().join(f.file_name().unwrap())).unwrap();
    }
    std::fs::write(
        src.path().join("x__odd.json"),
        r#"{"test_id": null, "request": {"url": "http://h/"}, "response": {}}"#,
    )
    .unwrap();
    std::fs::write(
        src.path().join("x__embed.json"),
        r#"{"test_id": null, "request": {"url": "vertexai:///embed_content", "body": {}}, "response": {"body": {}}}"#,
    )
    .unwrap();
    let (code, out, err) = cli(&["import", "ogx", s(src.path()), "--dir", s(&dir)]);
    assert_eq!(code, recorder_cli::EXIT_PROBLEMS, "{out}{err}");
    assert!(out.starts_with("Imported 13 of 15 files"), "{out}");
    assert!(
        err.contains("x__embed.json: unsupported endpoint vertexai:///embed_content")
            && err.contains("x__odd.json: not an OGX recording: a `request` with neither")
            && err.ends_with("2 file(s) skipped: they will not replay (nothing else was lost)\n"),
        "{err}"
    );
}
