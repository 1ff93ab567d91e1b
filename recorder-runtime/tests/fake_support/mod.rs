//! Helpers shared by the proxy, fixture-client, real-client and timing tests (issue 3):
//! contexts over a fake upstream, file checks, SSE and NDJSON parsing.
#![allow(dead_code)]

use recorder_runtime::engine::Target;
use recorder_runtime::{Mode, RecordingContext};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// reqwest 0.13 (without a bundled TLS provider) needs one installed before any client is built.
pub fn init() {
    recorder_runtime::engine::install_crypto_provider();
}

/// A plain HTTP client for talking to the proxy.
pub fn http() -> reqwest::Client {
    init();
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// A target whose base URL is `base` (an OpenAI-style `.../v1`).
pub fn target(base: &str) -> Target {
    Target {
        base_url: Some(base.to_owned()),
        ..Default::default()
    }
}

/// A context pinned to a mode, folder and target.
pub fn ctx(test_id: &str, mode: Mode, dir: &Path, target: Target) -> RecordingContext {
    init();
    RecordingContext::builder(test_id)
        .mode(mode)
        .dir(dir)
        .target(target)
        .build()
        .expect("the context builds")
}

/// A context pinned to a mode and folder, recording from `fake`'s OpenAI API.
pub fn fake_ctx(
    test_id: &str,
    mode: Mode,
    dir: &Path,
    fake: &recorder_testkit::fake::FakeUpstream,
) -> RecordingContext {
    ctx(test_id, mode, dir, target(&fake.openai_url()))
}

/// The base URL of a loopback port nothing listens on.
pub fn dead_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("http://127.0.0.1:{port}/v1")
}

/// Every file under `dir`, recursively, sorted (none when it does not exist).
pub fn files(dir: &Path) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else {
                out.push(p);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, &mut out);
    out.sort();
    out
}

/// Every file under `dir` with its bytes, by relative path: what would be committed
/// (every file but the local usage logs).
pub fn snapshot(dir: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    files(dir)
        .into_iter()
        .filter(|p| !p.starts_with(dir.join(".usage")))
        .map(|p| {
            (
                p.strip_prefix(dir).unwrap().display().to_string(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect()
}

/// The recording files (`<hash>.json`, `<hash>.<n>.json`, model lists included) under
/// `dir`; not the `_ids.json` id maps.
pub fn recordings(dir: &Path) -> Vec<PathBuf> {
    files(dir)
        .into_iter()
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            recorder_runtime::store::RecordingKey::parse(&name).is_some()
                || (name.starts_with("models-") && name.ends_with(".json"))
        })
        .collect()
}

/// A recording file as JSON.
pub fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// The only recording of a context's scope.
pub fn only_recording(ctx: &RecordingContext) -> (PathBuf, Value) {
    let files = recordings(&ctx.scope_dir());
    assert_eq!(
        files.len(),
        1,
        "one recording expected in {}: {files:?}",
        ctx.scope_dir().display()
    );
    let v = read_json(&files[0]);
    (files[0].clone(), v)
}

/// The `data` payloads of an SSE body, in order.
pub fn sse_data(body: &str) -> Vec<String> {
    body.split("\n\n")
        .filter(|e| !e.trim().is_empty())
        .map(|e| {
            e.lines()
                .filter_map(|l| l.strip_prefix("data:"))
                .map(|d| d.strip_prefix(' ').unwrap_or(d))
                .collect::<Vec<_>>()
                .join("\n")
        })
        .collect()
}

/// The text of OpenAI chat chunks (SSE data payloads), concatenated.
pub fn chat_text(data: &[String]) -> String {
    data.iter()
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .filter_map(|v| {
            v["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_owned)
        })
        .collect()
}

/// The NDJSON lines of a body.
pub fn ndjson(body: &str) -> Vec<Value> {
    body.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Fails with every problem a finished context reports.
pub fn assert_clean(ctx: &RecordingContext) {
    let problems = ctx.finish();
    assert!(
        problems.is_empty(),
        "the context reported problems:\n{}",
        problems.join("\n---\n")
    );
}

/// Polls `cond` until it holds or `timeout` passes.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while !cond() {
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    true
}

/// The frames of a recording's stream.
pub fn frames(rec: &Value) -> Vec<Value> {
    rec["response"]["stream"]["frames"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// A stream's text as a client reassembles it: per JSON path (`/choices/0/delta/content`,
/// a tool call's arguments, ...), the strings of every frame's data joined in order.
#[allow(dead_code)]
pub fn reassembled_texts(rec: &Value) -> Vec<String> {
    fn walk(v: &Value, path: String, out: &mut std::collections::BTreeMap<String, String>) {
        match v {
            Value::String(s) => out.entry(path).or_default().push_str(s),
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    walk(item, format!("{path}/{i}"), out);
                }
            }
            Value::Object(map) => {
                for (k, item) in map {
                    walk(item, format!("{path}/{k}"), out);
                }
            }
            _ => {}
        }
    }
    let mut joined = std::collections::BTreeMap::new();
    for frame in frames(rec) {
        walk(&frame["data"], String::new(), &mut joined);
    }
    joined.into_values().collect()
}
