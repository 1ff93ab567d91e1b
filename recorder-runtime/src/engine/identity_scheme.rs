//! The identity scheme's snapshot: the canonical form and hash of a fixed, varied set
//! of requests, taken the way the engine takes them (what [`super::prepare`] makes of a
//! request, then [`crate::identity::request_canonical`]), compared with
//! `src/identity/snapshots/scheme.json` together with [`crate::identity::SCHEME`].
//!
//! A request's canonical form is what its recording is found by: if it changes while
//! the scheme number does not, every recording made before silently stops matching.
//! So a change fails here until the scheme is bumped and a migration step is written
//! (see [`crate::recording::version`]). Then, and for new cases,
//! `UPDATE_IDENTITY_SNAPSHOT=1 cargo test -p recorder-runtime --lib identity_scheme`
//! rewrites the snapshot; it refuses to when a case changed under the same scheme.

use super::{Engine, EngineRequest, Scope, Target, Upstream};
use crate::engine::prepare::prepare;
use crate::identity::{request_canonical, sha256_hex, SCHEME};
use http::{HeaderName, HeaderValue, Method};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

const SNAPSHOT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/src/identity/snapshots/scheme.json"
);
const TEST_ID: &str = "my_crate::chat::answers[text=smollm2-135m]";
const KEY_VAR: &str = "IDENTITY_SNAPSHOT_API_KEY";
const KEY: &str = "sk-snapshot-0123456789abcdefABCDEF";
const UP_KEY_VAR: &str = "IDENTITY_SNAPSHOT_SEARCH_KEY";
const UP_KEY: &str = "tvly-snapshot-9876543210zyxwvuZYXWVU";
const ISSUED: &str = "resp_68af0a1b2c3d4e5f";
const ISSUED_PLACEHOLDER: &str = "resp_rec-0123456789ab";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Snapshot {
    /// The identity scheme these forms are of.
    scheme: u32,
    /// Case name -> canonical form and its hash.
    cases: BTreeMap<String, Form>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Form {
    canonical: String,
    hash: String,
}

fn header(name: &'static str, value: &str) -> (HeaderName, HeaderValue) {
    (
        HeaderName::from_static(name),
        HeaderValue::from_str(value).unwrap(),
    )
}

fn req(
    method: Method,
    endpoint: &str,
    body: &[u8],
    headers: &[(HeaderName, HeaderValue)],
) -> EngineRequest {
    let mut r = EngineRequest::post(endpoint, body.to_vec());
    r.method = method;
    for (name, value) in headers {
        r = r.header(name.clone(), value.clone());
    }
    r
}

fn post(endpoint: &str, body: &str) -> EngineRequest {
    req(Method::POST, endpoint, body.as_bytes(), &[])
}

/// The cases: every kind of request a recording is matched by.
fn cases() -> Vec<(&'static str, EngineRequest)> {
    let mut multipart = concat!(
        "--XyZ\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nassistants\r\n",
        "--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"notes.txt\"\r\n",
        "Content-Type: text/plain\r\n\r\nhello world\n\r\n",
        "--XyZ\r\nContent-Disposition: form-data; name=\"image\"; filename=\"px.png\"\r\n",
        "Content-Type: image/png\r\n\r\n",
    )
    .as_bytes()
    .to_vec();
    // A file part that is not UTF-8.
    multipart.extend_from_slice(&[0x89, b'P', b'N', b'G', 0x00, 0xff]);
    multipart.extend_from_slice(b"\r\n--XyZ--\r\n");
    let form = header("content-type", "multipart/form-data; boundary=XyZ");
    let other_boundary = header("content-type", "multipart/form-data; boundary=AbC");
    vec![
        (
            "chat: floats, key order, escapes, unicode",
            post(
                "/v1/chat/completions",
                r#"{"temperature":0.70000001,"model":"smollm2-135m","top_p":1.0,"seed":42,"messages":[{"role":"user","content":"Say \"hi\"\n\tin français: é, 日本, 🦀"}],"max_tokens":16}"#,
            ),
        ),
        (
            "chat: the same request, other key order, spacing and float spelling",
            post(
                "/v1/chat/completions",
                r#"{ "max_tokens": 16, "messages": [ { "content": "Say \"hi\"\n\tin fran\u00e7ais: \u00e9, 日本, 🦀", "role": "user" } ],
                    "seed": 42, "top_p": 1, "model": "smollm2-135m", "temperature": 0.7000000 }"#,
            ),
        ),
        (
            "numbers: tiny, negative zero, exponents, big integers, rounding",
            post(
                "/v1/x",
                r#"{"a":1e-9,"b":-0.0000001,"c":-0.0,"d":1.5e3,"e":123456.1234567,"f":18446744073709551615,"g":-9223372036854775808,"h":0.1234565,"i":2.5e-7}"#,
            ),
        ),
        (
            "a repeated key keeps its last value",
            post("/v1/x", r#"{"model":"a","model":"b"}"#),
        ),
        (
            "ignored fields: user and metadata.trace_id",
            post(
                "/v1/embeddings",
                r#"{"input":["a","b"],"model":"e5","user":"u-1","metadata":{"trace_id":"t-9","team":"x"}}"#,
            ),
        ),
        (
            "model list: no test id",
            req(Method::GET, "/v1/models", b"", &[]),
        ),
        ("ollama model list", req(Method::GET, "/api/tags", b"", &[])),
        (
            "model list with a query",
            req(Method::GET, "/v1/models?project_id=p-1", b"", &[]),
        ),
        (
            "ollama chat, lower-case method",
            req(
                Method::from_bytes(b"post").unwrap(),
                "/api/chat",
                br#"{"model":"llama3","messages":[],"stream":false,"options":{"temperature":0}}"#,
                &[],
            ),
        ),
        (
            "multipart upload: fields, a text file and a binary file",
            req(
                Method::POST,
                "/v1/files",
                &multipart,
                std::slice::from_ref(&form),
            ),
        ),
        (
            "multipart upload: the same parts under another boundary",
            req(
                Method::POST,
                "/v1/files",
                &binary_part_with_boundary(&multipart, b"XyZ", b"AbC"),
                &[other_boundary],
            ),
        ),
        ("non-JSON text body", post("/v1/audio/x", "hello, not JSON")),
        (
            "binary body",
            req(
                Method::POST,
                "/v1/audio/transcriptions",
                &[0x00, 0xff, 0x10, 0x80],
                &[],
            ),
        ),
        ("empty body", post("/v1/x", "")),
        ("whitespace body", post("/v1/x", " \n ")),
        (
            "query string kept in order",
            req(
                Method::GET,
                "/v1/files?order=desc&limit=2&after=file-x",
                b"",
                &[],
            ),
        ),
        (
            "query parameters named like credentials",
            req(
                Method::GET,
                "/v1/x?token=tok-abcdef123456&sig=s1&api-version=2024-10-21",
                b"",
                &[],
            ),
        ),
        (
            "query credential of the setup's auth leaves the endpoint",
            req(
                Method::POST,
                &format!("/v1beta/models/m:generateContent?alt=sse&key={KEY}"),
                br#"{"contents":[]}"#,
                &[],
            ),
        ),
        (
            "a known issued id sent back becomes its placeholder, in path and body",
            req(
                Method::POST,
                &format!("/v1/responses/{ISSUED}/cancel"),
                format!(r#"{{"previous_response_id":"{ISSUED}","input":"next"}}"#).as_bytes(),
                &[],
            ),
        ),
        (
            "a placeholder sent back stays as it is",
            post(
                "/v1/responses",
                &format!(r#"{{"previous_response_id":"{ISSUED_PLACEHOLDER}","input":"next"}}"#),
            ),
        ),
        (
            "an id no answer of the test issued is hashed as the placeholder derived from itself",
            post(
                "/v1/chat/completions",
                r#"{"messages":[{"role":"tool","tool_call_id":"call_9f8e7d6c5b4a","content":"42"}]}"#,
            ),
        ),
        (
            "the configured key in a body becomes its variable",
            post("/v1/x", &format!(r#"{{"note":"key is {KEY}"}}"#)),
        ),
        (
            "named upstream: the endpoint names the upstream, never its URL",
            post(
                "/up/mcp",
                r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"add","arguments":{"a":2,"b":40}}}"#,
            ),
        ),
        (
            "named upstream: a path and a trailing slash below it",
            req(Method::GET, "/up/mcp/", b"", &[]),
        ),
        (
            "named upstream: a model list path below it is the test's own",
            req(Method::GET, "/up/second/v1/models", b"", &[]),
        ),
        (
            "named upstream: its query credential leaves the endpoint",
            req(
                Method::GET,
                &format!("/up/search/v1/search?q=rust&subscription-key={UP_KEY}"),
                b"",
                &[],
            ),
        ),
        (
            "named upstream: its configured key in a body becomes its variable",
            post(
                "/up/search/v1/search",
                &format!(r#"{{"query":"x","api_key":"{UP_KEY}"}}"#),
            ),
        ),
        (
            "a credential the client sent is scrubbed from the body",
            req(
                Method::POST,
                "/v1/x",
                br#"{"echo":"sk-client-abcdefghijklmnop0123"}"#,
                &[header(
                    "authorization",
                    "Bearer sk-client-abcdefghijklmnop0123",
                )],
            ),
        ),
    ]
}

/// The same multipart body under another boundary.
fn binary_part_with_boundary(body: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len());
    let mut i = 0;
    while i < body.len() {
        if body[i..].starts_with(from) {
            out.extend_from_slice(to);
            i += from.len();
        } else {
            out.push(body[i]);
            i += 1;
        }
    }
    out
}

/// The canonical forms of [`cases`] under this recorder.
fn current() -> Snapshot {
    let target = Target {
        api_key_env: Some(KEY_VAR.into()),
        auth: crate::engine::Auth::Query("key".into()),
        ignore_fields: vec!["user".into(), "metadata.trace_id".into()],
        env: [
            (KEY_VAR.to_string(), KEY.to_string()),
            (UP_KEY_VAR.to_string(), UP_KEY.to_string()),
        ]
        .into(),
        upstreams: [
            (
                "mcp".to_string(),
                Upstream::new("http://127.0.0.1:8931/mcp"),
            ),
            (
                "second".to_string(),
                Upstream::new("http://127.0.0.1:8000/v1"),
            ),
            (
                "search".to_string(),
                Upstream {
                    api_key_env: Some(UP_KEY_VAR.into()),
                    auth: crate::engine::Auth::Query("subscription-key".into()),
                    ..Upstream::new("https://search.example")
                },
            ),
        ]
        .into(),
        ..Default::default()
    };
    let mut cases = BTreeMap::new();
    for (name, request) in self::cases() {
        // A scope per request: what one request teaches the scope (client credentials)
        // does not change another case.
        let scope = Scope::new(
            Engine::new("recordings"),
            TEST_ID,
            crate::Mode::Replay,
            target.clone(),
        );
        {
            let mut ids = scope.ids();
            ids.insert(ISSUED, ISSUED_PLACEHOLDER.into());
            scope.ids_changed(&ids);
        }
        let p = prepare(&scope, &request).unwrap_or_else(|e| panic!("{name}: {e}"));
        let canonical = request_canonical(
            request.method.as_str(),
            &p.endpoint,
            &p.body,
            &scope.target.ignore_fields,
            Some(TEST_ID),
        );
        let hash = sha256_hex(canonical.as_bytes());
        assert!(
            cases
                .insert(name.to_owned(), Form { canonical, hash })
                .is_none(),
            "two cases named {name}"
        );
    }
    Snapshot {
        scheme: SCHEME,
        cases,
    }
}

fn write(path: &Path, snapshot: &Snapshot) {
    let mut bytes = serde_json::to_vec_pretty(snapshot).unwrap();
    bytes.push(b'\n');
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn the_canonical_form_of_requests_changes_only_with_the_identity_scheme() {
    let now = current();
    let path = Path::new(SNAPSHOT);
    let update = std::env::var_os("UPDATE_IDENTITY_SNAPSHOT").is_some();
    let Ok(text) = std::fs::read_to_string(path) else {
        assert!(update, "no snapshot at {SNAPSHOT}: write it with UPDATE_IDENTITY_SNAPSHOT=1 cargo test -p recorder-runtime --lib identity_scheme");
        write(path, &now);
        return;
    };
    let saved: Snapshot = serde_json::from_str(&text).expect("the snapshot is JSON");
    let changed: Vec<String> = saved
        .cases
        .iter()
        .filter_map(|(name, old)| {
            let new = now.cases.get(name)?;
            (new != old).then(|| {
                format!(
                    "  {name}:\n    snapshot: {}\n    now:      {}",
                    old.canonical, new.canonical
                )
            })
        })
        .collect();
    if !changed.is_empty() && saved.scheme == SCHEME {
        panic!(
            "the canonical form of these requests changed, but identity::SCHEME is still {SCHEME}:\n{}\n\
             Every recording made before would silently stop matching. Bump identity::SCHEME, \
             add a step to recording::version::IDENTITY_STEPS that migrates older recordings \
             (`cargo recordings migrate` runs it; a step that cannot says to record again), \
             then rewrite this snapshot with UPDATE_IDENTITY_SNAPSHOT=1 cargo test -p recorder-runtime --lib identity_scheme",
            changed.join("\n")
        );
    }
    if now == saved {
        return;
    }
    if update {
        write(path, &now);
        return;
    }
    let added: Vec<&String> = now
        .cases
        .keys()
        .filter(|k| !saved.cases.contains_key(*k))
        .collect();
    let removed: Vec<&String> = saved
        .cases
        .keys()
        .filter(|k| !now.cases.contains_key(*k))
        .collect();
    panic!(
        "the identity snapshot is out of date (scheme {} in the snapshot, {SCHEME} now; cases added {added:?}, removed {removed:?}, changed under the new scheme {}): \
         rewrite it with UPDATE_IDENTITY_SNAPSHOT=1 cargo test -p recorder-runtime --lib identity_scheme",
        saved.scheme,
        changed.len()
    );
}

#[test]
fn equal_requests_have_equal_forms_in_the_snapshot() {
    let now = current();
    let form = |name: &str| now.cases[name].clone();
    assert_eq!(
        form("chat: floats, key order, escapes, unicode"),
        form("chat: the same request, other key order, spacing and float spelling")
    );
    assert_eq!(
        form("multipart upload: fields, a text file and a binary file"),
        form("multipart upload: the same parts under another boundary")
    );
    assert_eq!(form("empty body"), form("whitespace body"));
    for (name, f) in &now.cases {
        assert!(
            !f.canonical.contains(KEY),
            "{name}: the key is in {}",
            f.canonical
        );
        assert!(
            !f.canonical.contains(UP_KEY),
            "{name}: the upstream's key is in {}",
            f.canonical
        );
        assert!(
            !f.canonical.contains("sk-client"),
            "{name}: {}",
            f.canonical
        );
    }
    assert!(!form("model list: no test id").canonical.contains("test_id"));
    assert!(
        form("a known issued id sent back becomes its placeholder, in path and body")
            .canonical
            .contains(&format!("/v1/responses/{ISSUED_PLACEHOLDER}/cancel"))
    );
    assert!(form(
        "an id no answer of the test issued is hashed as the placeholder derived from itself"
    )
    .canonical
    .contains(&crate::idmap::derived_placeholder("call_9f8e7d6c5b4a")));
}
