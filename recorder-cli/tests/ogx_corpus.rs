//! Real data: OGX (formerly Llama Stack) recordings, imported with [`ogx::import_dir`]
//! and replayed through the engine exactly as a client would ask for them.
//!
//! For every imported file the request is rebuilt from the OGX file on its own (not by
//! the converter): `POST <endpoint>` with the compact JSON of the recorded body (the
//! OpenAI SDK's `extra_body` merged in), or `GET` without a body for `/v1/models` and
//! `/api/ps`; ids that an earlier answer of the test gave are sent back as the client
//! got them (placeholders where OGX had left the server's ids). Then: plain bodies
//! equal `__data__` (with those ids), streams equal it chunk for chunk and end with
//! `data: [DONE]`, model lists are the union by id of every list with the same request,
//! errors replay with their status, and the same request recorded with several answers
//! replays them in order.
//!
//! Runs on the committed subset (`tests/data/ogx`) always, and on the whole shared
//! corpus (`../shared/corpus/ogx`) when it exists.

use futures::StreamExt;
use recorder_cli::ogx::{self, ImportReport};
use recorder_runtime::engine::{Engine, EngineRequest, ResponseBody, Scope, Target};
use recorder_runtime::identity::RequestIdentity;
use recorder_runtime::idmap::{contains_token, walk_ids, IdMap};
use recorder_runtime::recording::Recording;
use recorder_runtime::store::{RecordingKey, Store};
use recorder_runtime::stream::{self, Frame, StreamFormat};
use recorder_runtime::Mode;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The full corpus, shared next to the workspace (absent from a plain clone).
const SHARED_CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/corpus/ogx");
/// The curated subset committed with the crate.
const COMMITTED_CORPUS: &str = recorder_testkit::OGX_SUBSET;

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
    duplicates: usize,
    endpoints: BTreeSet<String>,
}

/// The OGX files of a folder, sorted.
fn ogx_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
}

/// The request a client sends for an OGX file: method, endpoint (query included), body.
fn client_request(file: &Value) -> (EngineRequest, bool) {
    let req = &file["request"];
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
            walk_ids(&f["response"], &mut |_, id| {
                if !contains_token(text, id) && !ids.iter().any(|i| i == id) {
                    ids.push(id.to_owned());
                }
            });
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

/// `expected` (an OGX chunk or body) as it replays: each id the import replaced by
/// a placeholder is learned from `replayed` (at the same place) into `ids`, and
/// replaced everywhere in `expected`.
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

/// What a chunk or body of an OGX file replays as: its data, with the timestamps that
/// OGX left (nested ones, Ollama's `expires_at`) normalized as this project does.
fn data(item: &Value) -> Value {
    let mut v = item
        .get("__data__")
        .cloned()
        .unwrap_or_else(|| panic!("no __data__ in {item}"));
    recorder_runtime::normalize::normalize_timestamps(&mut v);
    v
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

    // Every file is imported or skipped with a reason, and nothing twice.
    assert_eq!(
        report.imported + report.model_lists + report.skipped.len(),
        files.len(),
        "{report}"
    );
    for (path, why) in &report.skipped {
        let known = [
            "unsupported endpoint ",
            "non-OpenAI provider type ",
            "not an OGX recording: ",
            "unreadable: ",
            "the same request and response as ",
        ];
        assert!(
            known.iter().any(|k| why.starts_with(k)),
            "{}: unexplained skip {why:?}",
            path.display()
        );
    }
    let skipped: BTreeSet<&PathBuf> = report.skipped.iter().map(|(p, _)| p).collect();

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
    // Model-list request hash -> (endpoint, id -> every recorded item with that id).
    let mut model_lists: BTreeMap<String, (String, BTreeMap<String, Vec<Value>>)> = BTreeMap::new();
    // The files each test replays, in path order (the order occurrences were given in).
    let mut by_test: BTreeMap<String, Vec<(PathBuf, Value)>> = BTreeMap::new();
    for path in &files {
        let file: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        let response = &file["response"];
        let test_id = file["test_id"].as_str();
        let (request, is_model_list) = client_request(&file);
        if skipped.contains(path) {
            continue;
        }
        summary
            .endpoints
            .insert(request.endpoint.split('?').next().unwrap().to_string());
        if is_model_list {
            let hash = RequestIdentity::new("GET", &request.endpoint, b"", &[], None).hash();
            let entry = model_lists
                .entry(hash)
                .or_insert_with(|| (request.endpoint.clone(), BTreeMap::new()));
            for item in response["body"].as_array().unwrap() {
                let item = data(item);
                entry
                    .1
                    .entry(item["id"].as_str().unwrap().to_string())
                    .or_default()
                    .push(item);
            }
            continue;
        }

        by_test
            .entry(test_id.unwrap_or("").to_owned())
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
            if response["is_exception"] == Value::Bool(true) {
                let exc = &response["exception_data"];
                assert_eq!(
                    replayed.status as u64,
                    exc["status_code"].as_u64().unwrap_or(500),
                    "{name}"
                );
                let body: Value = serde_json::from_slice(&replayed.bytes().await.unwrap()).unwrap();
                match exc["body"].get("error") {
                    Some(_) => assert_eq!(body, exc["body"], "{name}: the error body"),
                    None if exc["body"].is_object() => {
                        assert_eq!(body["error"], exc["body"], "{name}: the error body")
                    }
                    None => assert!(body["error"].is_object(), "{name}: the error body"),
                }
                summary.errors += 1;
            } else if response["is_streaming"] == Value::Bool(true) {
                assert_eq!(
                    (replayed.status, replayed.content_type.as_deref()),
                    (200, Some("text/event-stream")),
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
                let recorded: Vec<Value> = response["body"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(data)
                    .collect();
                assert_eq!(frames.len(), recorded.len() + 1, "{name}: frame count");
                for (i, (frame, expected)) in frames.iter().zip(&recorded).enumerate() {
                    let expected = learn(&mut ids, expected, frame.data.as_ref().unwrap());
                    let only_data = Frame {
                        data: Some(expected.clone()),
                        ..Frame::default()
                    };
                    assert!(
                        *frame == only_data,
                        "{name}: chunk {i} differs:\n{frame:?}\nexpected {expected}"
                    );
                }
                assert_eq!(
                    frames.last().unwrap().data,
                    Some(Value::String("[DONE]".into())),
                    "{name}"
                );
                assert!(wire.ends_with(b"data: [DONE]\n\n"), "{name}");
                summary.streams += 1;
                summary.chunks += recorded.len();
            } else {
                assert_eq!(
                    (replayed.status, replayed.content_type.as_deref()),
                    (200, Some("application/json")),
                    "{name}"
                );
                let body: Value = serde_json::from_slice(&replayed.bytes().await.unwrap()).unwrap();
                let expected = learn(&mut ids, &data(&response["body"]), &body);
                assert!(body == expected, "{name}: the body differs");
                summary.plain += 1;
            }
        }
    }
    summary.duplicates = store
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

    // Model lists: the union by id, sorted, of every list recorded for the request.
    for (endpoint, by_id) in model_lists.values() {
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
            "GET {endpoint}: the union of the recorded lists by id, sorted"
        );
        for item in items {
            assert!(
                by_id[item["id"].as_str().unwrap()].contains(item),
                "GET {endpoint}: {item} was never recorded"
            );
        }
        summary.model_list_requests += 1;
    }
    println!(
        "{}: {} files; replayed {} plain, {} streams ({} chunks), {} errors, {} merged model lists, {} duplicates; endpoints {:?}",
        dir.display(),
        summary.files,
        summary.plain,
        summary.streams,
        summary.chunks,
        summary.errors,
        summary.model_list_requests,
        summary.duplicates,
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
        (s.report.skipped.len(), s.duplicates),
        (0, 2),
        "{}",
        s.report
    );
    assert!(s.plain >= 10 && s.streams >= 15 && s.errors == 3, "{s:?}");
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
async fn shared_ogx_corpus_imports_and_replays() {
    if !Path::new(SHARED_CORPUS).is_dir() {
        println!("note: {SHARED_CORPUS} does not exist; only the committed subset was checked");
        return;
    }
    let s = check_folder(Path::new(SHARED_CORPUS), false).await;
    assert!(
        s.report.imported + s.report.model_lists >= 600,
        "{}",
        s.report
    );
    assert!(
        s.report.skipped.is_empty(),
        "nothing is skipped: {}",
        s.report
    );
    assert!(s.duplicates >= 13, "{s:?}");
    assert!(s.streams >= 480 && s.chunks > 10_000, "{s:?}");
}
