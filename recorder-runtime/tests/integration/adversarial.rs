//! The recorder as an attacker and a careless user would try it: through
//! the per-test loopback proxy and the engine. Keys must reach no file and no message
//! by any route; no crafted file or client may mislead or stop the recorder. The
//! attacks that held before are kept here too, so that they keep holding.
//! (`recorder-cli/tests/integration/adversarial_serve.rs` does the same for `cargo recordings serve`.)

use crate::fake_support::*;
use recorder_runtime::engine::{Auth, Engine, EngineRequest, ResponseBody, Scope, Target};
use recorder_runtime::registry::Registry;
use recorder_runtime::store::{RecordingKey, Store};
use recorder_runtime::{Mode, RecordingContext};
use recorder_testkit::fake::FakeUpstream;
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::path::Path;
use std::time::Duration;

/// Every byte under `dir` (the index included) as text, for "appears nowhere".
fn everything(dir: &Path) -> Vec<u8> {
    files(dir)
        .iter()
        .flat_map(|p| std::fs::read(p).unwrap_or_default())
        .collect()
}

fn holds(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

/// A key unique to this test process, under a variable of its own.
fn key_var(name: &str) -> (String, String) {
    let var = format!("RECORDER_ADV_{name}_{}", std::process::id());
    let key = format!("sk-adv-{name}-{}-0123456789abcdef", std::process::id());
    std::env::set_var(&var, &key);
    (var, key)
}

fn keyed_target(fake: &FakeUpstream, var: &str) -> Target {
    Target {
        base_url: Some(fake.openai_url()),
        api_key_env: Some(var.into()),
        ..Default::default()
    }
}

/// One raw HTTP/1.1 exchange with the proxy; returns the status line and the rest.
fn raw(addr: &str, request: &[u8]) -> (String, String) {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(request).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text.lines().next().unwrap_or("").to_owned();
    (status, text)
}

fn host_port(base: &str) -> String {
    base.trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap()
        .to_owned()
}

fn path_of(base: &str) -> String {
    let rest = base.trim_start_matches("http://");
    rest[rest.find('/').unwrap()..].to_owned()
}

#[tokio::test]
async fn a_key_in_binary_and_compressed_answers_is_scrubbed_from_the_decoded_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let (var, key) = key_var("BINARY");
    for coding in [None, Some("gzip")] {
        let fake = FakeUpstream::start();
        fake.set_encoding(coding);
        let id = format!("adv::binary::{}", coding.unwrap_or("plain"));
        let ctx = ctx(&id, Mode::Record, dir.path(), keyed_target(&fake, &var));
        let client = ctx.client();
        // A binary file holding the key, fetched back as application/octet-stream.
        let mut content = vec![0u8, 159, 146, 150];
        content.extend_from_slice(key.as_bytes());
        content.push(255);
        let file = client
            .upload_file("assistants", "k.bin", "application/octet-stream", content)
            .await
            .unwrap();
        let back = client.file_content(&file.id).await.unwrap();
        assert!(
            holds(&back, &key),
            "recording, the client gets the real bytes"
        );
        assert_clean(&ctx);
    }
    let all = everything(dir.path());
    assert!(!holds(&all, &key), "the key is in a recording");
    assert!(
        holds(
            &all,
            &format!("<redacted:{var}>")
                .bytes()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        ),
        "the binary body holds the placeholder, hex encoded"
    );
    std::env::remove_var(&var);
}

#[tokio::test]
async fn a_key_the_client_holds_itself_is_kept_off_disk_and_out_of_the_endpoint() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeUpstream::start();
    let client_key = format!("sk-client-own-{}-abcdef0123", std::process::id());
    let query_key = format!("AIzaQueryKey{}xyz", std::process::id());
    let ctx = fake_ctx("adv::client_key", Mode::Record, dir.path(), &fake);
    // First its own bearer key (echoed back), then a query key as well (both echoed):
    // each is a secret from the request that carries it on.
    for (auth, url, prompt) in [
        (
            true,
            format!("{}/chat/completions", ctx.base_url()),
            format!("echo {client_key}"),
        ),
        (
            false,
            format!(
                "{}/chat/completions?key={query_key}&stream=false",
                ctx.base_url()
            ),
            format!("echo {client_key} and {query_key}"),
        ),
    ] {
        let mut req = http().post(url).json(&json!({
            "model": "fake-chat",
            "messages": [{"role": "user", "content": prompt}],
        }));
        if auth {
            req = req
                .bearer_auth(&client_key)
                .header("x-api-key", &client_key);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), 200);
        let text = r.text().await.unwrap();
        assert!(text.contains(&client_key), "the client sees its own echo");
    }
    assert_clean(&ctx);
    // The client's own credentials went upstream (no setup key), and only there.
    assert!(fake.requests()[0]
        .header("authorization")
        .unwrap()
        .ends_with(&client_key));
    let all = everything(dir.path());
    for secret in [&client_key, &query_key] {
        assert!(
            !holds(&all, secret),
            "{secret} reached disk (files or index)"
        );
    }
    let stored: Vec<Value> = recordings(&ctx.scope_dir())
        .iter()
        .map(|p| read_json(p))
        .collect();
    assert!(stored
        .iter()
        .any(|r| r["request"]["endpoint"] == "/v1/chat/completions?stream=false"));
}

#[tokio::test]
async fn a_short_or_placeholder_key_is_not_a_secret_and_mangles_nothing() {
    for value in ["user", "test", "EMPTY", "sk-no-key-required"] {
        let dir = tempfile::tempdir().unwrap();
        let fake = FakeUpstream::start();
        let var = format!("RECORDER_ADV_SHORT_{}", std::process::id());
        std::env::set_var(&var, value);
        let id = "adv::short_key::test_user_id";
        let rec = ctx(id, Mode::Record, dir.path(), keyed_target(&fake, &var));
        let chat = recorder_runtime::client::ChatRequest::new("fake-chat").message(
            recorder_runtime::client::Message::user("a test for the user"),
        );
        let answer = rec.client().chat(&chat).await.unwrap();
        assert_clean(&rec);
        assert!(
            fake.requests()[0]
                .header("authorization")
                .unwrap()
                .ends_with(value),
            "still sent"
        );
        let (path, v) = only_recording(&rec);
        assert!(
            path.starts_with(dir.path().join("adv/short_key/test_user_id")),
            "{}",
            path.display()
        );
        assert_eq!(v["test_id"], id);
        assert_eq!(
            v["request"]["body"]["messages"][0]["role"], "user",
            "{value}"
        );
        assert!(
            !String::from_utf8_lossy(&std::fs::read(&path).unwrap()).contains("<redacted:"),
            "{value}"
        );
        fake.stop();
        let rep = ctx(id, Mode::Replay, dir.path(), keyed_target(&fake, &var));
        assert_eq!(
            rep.client().chat(&chat).await.unwrap().text(),
            answer.text(),
            "{value}"
        );
        assert_clean(&rep);
        std::env::remove_var(&var);
    }
}

#[tokio::test]
async fn a_miss_message_never_quotes_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeUpstream::start();
    let (var, key) = key_var("MISS");
    let id = "adv::miss_key";
    let rec = ctx(id, Mode::Record, dir.path(), keyed_target(&fake, &var));
    rec.client()
        .send(EngineRequest::post(
            "/v1/embeddings",
            serde_json::to_vec(&json!({"model": "fake-embed", "input": format!("first {key}")}))
                .unwrap(),
        ))
        .await
        .unwrap();
    assert_clean(&rec);
    let rep = ctx(id, Mode::Replay, dir.path(), keyed_target(&fake, &var));
    let r = http()
        .post(format!("{}/embeddings", rep.base_url()))
        .json(&json!({"model": "fake-embed", "input": format!("second {key}")}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let body = r.text().await.unwrap();
    assert!(
        body.contains("no recording") && body.contains("<redacted:"),
        "{body}"
    );
    assert!(!body.contains(&key), "{body}");
    let problems = rep.finish();
    assert!(
        !problems.is_empty() && problems.iter().all(|p| !p.contains(&key)),
        "{problems:?}"
    );
    std::env::remove_var(&var);
}

#[tokio::test]
async fn a_file_not_named_after_its_scrubbed_request_is_never_served() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeUpstream::start();
    let (var, key) = key_var("CRAFT");
    let id = "adv::crafted";
    let rec = ctx(id, Mode::Record, dir.path(), keyed_target(&fake, &var));
    let ask = |text: &str| {
        EngineRequest::post(
            "/v1/embeddings",
            serde_json::to_vec(&json!({"model": "fake-embed", "input": text})).unwrap(),
        )
    };
    rec.client()
        .send(ask(&format!("with {key}")))
        .await
        .unwrap();
    rec.client().send(ask("innocent")).await.unwrap();
    assert_clean(&rec);
    // The attacker renames the key-bearing recording after the innocent request's hash.
    let files = recordings(&rec.scope_dir());
    let (keyed, innocent): (Vec<_>, Vec<_>) = files
        .iter()
        .partition(|p| std::fs::read_to_string(p).unwrap().contains("<redacted:"));
    std::fs::copy(keyed[0], innocent[0]).unwrap();
    fake.stop();
    let rep = ctx(id, Mode::Replay, dir.path(), keyed_target(&fake, &var));
    let err = rep
        .client()
        .send(ask("innocent"))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("hashes to") && err.contains("not to its file name"),
        "{err}"
    );
    assert!(!rep.finish().is_empty(), "the test fails");
    std::env::remove_var(&var);
}

#[cfg(unix)]
#[tokio::test]
async fn fifos_devices_symlinks_and_huge_files_stop_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path());
    let hash = |c: char| c.to_string().repeat(64);
    let traps = [
        ("adv::trap::fifo", 'a'),
        ("adv::trap::zero", 'b'),
        ("adv::trap::passwd", 'c'),
        ("adv::trap::huge", 'd'),
    ];
    for (test, c) in traps {
        let path = store.recording_path(test, &RecordingKey::first(hash(c)));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        match c {
            'a' => assert!(std::process::Command::new("mkfifo")
                .arg(&path)
                .status()
                .unwrap()
                .success()),
            'b' => std::os::unix::fs::symlink("/dev/zero", &path).unwrap(),
            'c' => std::os::unix::fs::symlink("/etc/passwd", &path).unwrap(),
            _ => std::fs::File::create(&path)
                .unwrap()
                .set_len(300 << 20)
                .unwrap(), // sparse
        }
    }
    // A symlinked test folder pointing outside the recordings folder.
    let outside = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("adv/trap")).unwrap();
    std::os::unix::fs::symlink(outside.path(), dir.path().join("adv/trap/linked")).unwrap();

    let fake = FakeUpstream::start();
    let started = std::time::Instant::now();
    for (test, _) in traps {
        let c = fake_ctx(test, Mode::Replay, dir.path(), &fake);
        let r = http()
            .post(format!("{}/embeddings", c.base_url()))
            .json(&json!({"model": "m", "input": "x"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 404, "{test}: a miss, the trap ignored");
        let _ = c.finish();
    }
    // Reading a file that is not a regular file is refused by name, never opened.
    let err = store
        .read_recording(&store.recording_path("adv::trap::fifo", &RecordingKey::first(hash('a'))))
        .unwrap_err()
        .to_string();
    assert!(err.contains("not a regular file"), "{err}");
    let err = store
        .read_recording(&store.recording_path("adv::trap::huge", &RecordingKey::first(hash('d'))))
        .unwrap_err()
        .to_string();
    assert!(err.contains("over the limit"), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "nothing blocked"
    );
    // Recording into the symlinked folder is refused: nothing lands outside.
    let rec = fake_ctx("adv::trap::linked", Mode::Record, dir.path(), &fake);
    let err = rec
        .client()
        .send(EngineRequest::post(
            "/v1/embeddings",
            br#"{"model":"m","input":"x"}"#.to_vec(),
        ))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("symlink"), "{err}");
    let problems = rec.finish();
    assert!(
        problems.iter().any(|p| p.contains("symlink")),
        "{problems:?}"
    );
    assert!(
        files(outside.path()).is_empty(),
        "written outside the recordings folder"
    );
}

#[tokio::test]
async fn a_standalone_recorder_keeps_a_bounded_number_of_tests() {
    let dir = tempfile::tempdir().unwrap();
    let recorder = Registry::with_limits(dir.path(), Mode::Replay, Target::default(), 8, None);
    for i in 0..2000 {
        let scope = recorder.scope_for_id(&format!("adv::many::t{i}")).unwrap();
        drop(scope);
        assert!(
            recorder.scope_count() <= 8,
            "at {i}: {}",
            recorder.scope_count()
        );
    }
    // A scope still in use is never dropped.
    let held = recorder.scope_for_id("adv::many::held").unwrap();
    for i in 0..50 {
        recorder.scope_for_id(&format!("adv::many::u{i}")).unwrap();
    }
    assert!(std::sync::Arc::ptr_eq(
        &held,
        &recorder.scope_for_id("adv::many::held").unwrap()
    ));
}

#[tokio::test]
async fn foreign_hosts_and_web_origins_are_refused_and_tokens_are_unguessable() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeUpstream::start();
    let (var, key) = key_var("HOST");
    let a = ctx(
        "adv::host::a",
        Mode::Record,
        dir.path(),
        keyed_target(&fake, &var),
    );
    let b = ctx(
        "adv::host::b",
        Mode::Record,
        dir.path(),
        keyed_target(&fake, &var),
    );
    let addr = host_port(&a.base_url());
    let path = path_of(&a.base_url());
    let body = r#"{"model":"fake-embed","input":"x"}"#;
    let send = |host: &str, extra: &str| {
        raw(
            &addr,
            format!(
                "POST {path}/embeddings HTTP/1.1\r\nHost: {host}\r\nContent-Type: text/plain\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        )
    };
    let (status, text) = send("evil.example", "");
    assert!(status.contains("403"), "{status}");
    assert!(text.contains("not this machine's loopback"), "{text}");
    let (status, _) = send(&addr, "Origin: http://evil.example\r\n");
    assert!(status.contains("403"), "{status}");
    let (status, _) = send(
        &format!(
            "rebind.attacker.example:{}",
            addr.split(':').nth(1).unwrap()
        ),
        "",
    );
    assert!(status.contains("403"), "DNS rebinding: {status}");
    // What Chromium sends for `<img src=...>` on another site: a GET without Origin.
    let (status, text) = raw(
        &addr,
        format!(
            "GET {path}/models HTTP/1.1\r\nHost: {addr}\r\nAccept: image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8\r\nSec-Fetch-Site: cross-site\r\nSec-Fetch-Mode: no-cors\r\nSec-Fetch-Dest: image\r\nReferer: http://evil.example/\r\nConnection: close\r\n\r\n"
        )
        .as_bytes(),
    );
    assert!(status.contains("403"), "an <img> of another site: {text}");
    assert!(
        fake.requests().is_empty(),
        "nothing reached the upstream with the key"
    );
    // Loopback names and a loopback origin are fine.
    for host in [addr.clone(), addr.replace("127.0.0.1", "localhost")] {
        let (status, _) = send(&host, "Origin: http://localhost:3000\r\n");
        assert!(status.contains("200"), "{host}: {status}");
    }
    // Tokens: 32 hex digits, nothing alike between tests.
    let token = |c: &RecordingContext| {
        path_of(&c.base_url())
            .trim_start_matches("/s/")
            .trim_end_matches("/v1")
            .to_owned()
    };
    let (ta, tb) = (token(&a), token(&b));
    assert_eq!(ta.len(), 32, "{ta}");
    assert!(ta.bytes().all(|c| c.is_ascii_hexdigit()));
    assert_ne!(ta[..8], tb[..8]);
    assert!(!holds(&everything(dir.path()), &key));
    let _ = (a.finish(), b.finish());
    std::env::remove_var(&var);
}

#[tokio::test]
async fn oversized_bodies_are_413_and_slow_headers_are_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeUpstream::start();
    let c = fake_ctx("adv::limits", Mode::Record, dir.path(), &fake);
    let addr = host_port(&c.base_url());
    let path = path_of(&c.base_url());
    // Declared too big: refused before a byte of it is read.
    let (status, text) = raw(
        &addr,
        format!("POST {path}/embeddings HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 400000000\r\nConnection: close\r\n\r\n").as_bytes(),
    );
    assert!(status.contains("413"), "{status}");
    assert!(text.contains("RECORDER_MAX_BODY_BYTES"), "{text}");
    // Streamed (chunked) past the limit: refused once the limit is passed.
    let chunk = bytes::Bytes::from(vec![b'x'; 1 << 20]);
    let stream =
        futures::stream::iter((0..70).map(move |_| Ok::<_, std::io::Error>(chunk.clone())));
    let r = http()
        .post(format!("{}/embeddings", c.base_url()))
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await;
    match r {
        Ok(r) => assert_eq!(r.status(), 413),
        Err(e) => assert!(e.is_request() || e.is_body(), "{e}"),
    }
    assert!(fake.requests().is_empty());
    assert!(recordings(dir.path()).is_empty());
    // Half the headers, then silence: the connection is closed, not kept forever.
    let mut s = std::net::TcpStream::connect(&addr).unwrap();
    s.write_all(format!("GET {path}/models HTTP/1.1\r\nHost: {addr}\r\n").as_bytes())
        .unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let started = std::time::Instant::now();
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    assert!(
        started.elapsed() < Duration::from_secs(25),
        "closed after the header timeout"
    );
    let _ = c.finish();
}

#[tokio::test]
async fn an_upstream_answer_over_the_limit_is_an_error_never_a_partial_recording() {
    // The engine reads the limit from the environment; a scope of its own here uses
    // the default (64 MiB), so the fake answers with more.
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeUpstream::start();
    let rec = fake_ctx("adv::big_answer", Mode::Record, dir.path(), &fake);
    let client = rec.client();
    let big = vec![b'y'; 65 << 20];
    let file = client
        .upload_file("assistants", "big.bin", "application/octet-stream", big)
        .await;
    // The upload itself is within the limit (its identity is its hash); its content
    // coming back is over it.
    let file = file.unwrap();
    let err = client.file_content(&file.id).await.unwrap_err().to_string();
    assert!(err.contains("RECORDER_MAX_BODY_BYTES"), "{err}");
    let problems = rec.finish();
    assert!(problems.iter().any(|p| p.contains("over")), "{problems:?}");
    let stored: Vec<Value> = recordings(&rec.scope_dir())
        .iter()
        .map(|p| read_json(p))
        .collect();
    assert!(stored.iter().all(|r| !r["request"]["endpoint"]
        .as_str()
        .unwrap()
        .ends_with("/content")));
}

#[tokio::test]
async fn odd_test_ids_are_refused_or_kept_apart() {
    let dir = tempfile::tempdir().unwrap();
    for id in [
        "/",
        "//",
        "::",
        "_models",
        "_shared::x",
        "_MODELS::x",
        "_Shared",
        "a\0b",
        ".hidden::t",
        "a::.b",
        "tests/.ci/x.py::t",
    ] {
        let err = RecordingContext::builder(id)
            .mode(Mode::Replay)
            .dir(dir.path())
            .target(Target::default())
            .build()
            .unwrap_err()
            .to_string();
        assert!(err.contains("cannot have recordings"), "{id:?}: {err}");
    }
    let store = Store::new(dir.path());
    let (a, b) = (
        store.scope_dir("tests::тест"),
        store.scope_dir("tests::ёжик"),
    );
    assert_ne!(a, b, "two non-ASCII ids, two folders");
    // Path traversal, absolute paths, very long and odd ids stay inside the folder.
    for id in [
        "../../etc",
        "/etc/passwd",
        "..\\..\\x",
        "%2e%2e/%2e%2e",
        &"x".repeat(10_000),
    ] {
        let d = store.scope_dir(id);
        assert!(d.starts_with(dir.path()), "{id}: {}", d.display());
        assert!(
            d.components().all(|c| c.as_os_str() != ".."),
            "{id}: {}",
            d.display()
        );
    }
}

#[tokio::test]
async fn what_already_held_keeps_holding() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeUpstream::start();
    let c = fake_ctx("adv::held", Mode::Record, dir.path(), &fake);
    let addr = host_port(&c.base_url());
    // Malformed HTTP: refused, and the proxy still serves.
    let (status, _) = raw(&addr, b"\x16\x03\x01 garbage \r\n\r\n");
    assert!(status.is_empty() || status.contains("400"), "{status}");
    // An absolute-form target names another host: the request still goes to the
    // setup's upstream only (no SSRF).
    let (status, _) = raw(
        &addr,
        format!("GET http://169.254.169.254{}/models HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n", path_of(&c.base_url())).as_bytes(),
    );
    assert!(status.contains("200"), "{status}");
    assert_eq!(fake.requests().len(), 1, "the one upstream got it");
    // Concurrent identical requests in one test: each its own occurrence, no torn file.
    let futs = (0..8).map(|_| {
        http()
            .post(format!("{}/embeddings", c.base_url()))
            .json(&json!({"model": "fake-embed", "input": "same"}))
            .send()
    });
    for r in futures::future::join_all(futs).await {
        assert_eq!(r.unwrap().status(), 200);
    }
    assert_clean(&c);
    let store = Store::new(dir.path());
    for f in recordings(&c.scope_dir()) {
        store.read_recording(&f).unwrap();
    }
    // A truncated file and deeply nested JSON are clean errors, by name.
    let bad = store.recording_path("adv::held::bad", &RecordingKey::first("e".repeat(64)));
    std::fs::create_dir_all(bad.parent().unwrap()).unwrap();
    std::fs::write(&bad, "{\"test_id\":").unwrap();
    let err = store.read_recording(&bad).unwrap_err().to_string();
    assert!(
        err.contains("truncated") && err.contains(&bad.display().to_string()),
        "{err}"
    );
    std::fs::write(&bad, "[".repeat(100_000)).unwrap();
    let err = store.read_recording(&bad).unwrap_err().to_string();
    assert!(
        err.contains("recursion") || err.contains("invalid"),
        "{err}"
    );
    // The engine over a folder of such files still answers other tests.
    let scope = Scope::new(
        Engine::new(dir.path()),
        "adv::held::bad",
        Mode::Replay,
        Target::default(),
    );
    let e = scope
        .handle(EngineRequest::get("/v1/x"))
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("no recording"), "{e}");
    let _ = Auth::Bearer; // (the auth kinds are covered in agent_traffic.rs)
}

#[tokio::test]
async fn a_key_in_every_place_and_every_mode_reaches_no_file_and_no_message() {
    let (var, key) = key_var("EVERY");
    for mode in [
        Mode::Record,
        Mode::RecordIfMissing,
        Mode::Live,
        Mode::Replay,
    ] {
        let dir = tempfile::tempdir().unwrap();
        let fake = FakeUpstream::start();
        fake.set_encoding(Some("gzip"));
        let id = format!("adv::every::{mode}");
        let c = ctx(&id, mode, dir.path(), keyed_target(&fake, &var));
        let prompt = format!("body {key} end");
        // The key in the JSON body, a header of the client's, the query, and echoed
        // back (compressed) by the upstream; then a miss (replay) that quotes it.
        let r = http()
            .post(format!("{}/chat/completions?api_key={key}", c.base_url()))
            .header("x-api-key", &key)
            .json(&json!({"model": "fake-chat", "messages": [{"role": "user", "content": prompt}]}))
            .send()
            .await
            .unwrap();
        let status = r.status();
        let text = r.text().await.unwrap();
        if mode == Mode::Replay {
            assert_eq!(status, 404);
            assert!(
                !text.contains(&key),
                "{mode}: the miss quotes the key: {text}"
            );
        } else {
            assert_eq!(status, 200, "{mode}: {text}");
        }
        let problems = c.finish();
        assert!(
            problems.iter().all(|p| !p.contains(&key)),
            "{mode}: {problems:?}"
        );
        let all = everything(dir.path());
        assert!(!holds(&all, &key), "{mode}: the key is on disk");
        if mode.writes() {
            assert!(
                !recordings(dir.path()).is_empty(),
                "{mode}: something was recorded"
            );
        }
    }
    std::env::remove_var(&var);
}

/// Every text a recording under `dir` holds (its JSON strings, binary bodies decoded
/// from hex), as it is, percent-decoded, and with every base64 run decoded from each of
/// its first four characters: where a key would show to someone who decodes it.
fn decoded_everything(dir: &Path) -> Vec<u8> {
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    use base64::Engine as _;
    fn strings(v: &Value, out: &mut Vec<Vec<u8>>) {
        match v {
            Value::String(s) => out.push(s.as_bytes().to_vec()),
            Value::Array(items) => items.iter().for_each(|i| strings(i, out)),
            Value::Object(map) => map.values().for_each(|i| strings(i, out)),
            _ => {}
        }
    }
    let mut texts = Vec::new();
    for path in recordings(dir) {
        let v = read_json(&path);
        strings(&v, &mut texts);
        if let Some(hex) = v["response"]["body_hex"].as_str() {
            texts.push(
                (0..hex.len() / 2)
                    .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap())
                    .collect(),
            );
        }
    }
    let config = GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true);
    let mut out = Vec::new();
    for text in texts {
        out.extend_from_slice(&text);
        out.extend(crate::fuzz::props::percent_decoded(&text));
        for (alphabet, specials) in [
            (&base64::alphabet::STANDARD, b"+/"),
            (&base64::alphabet::URL_SAFE, b"-_"),
        ] {
            let engine = GeneralPurpose::new(alphabet, config);
            for run in text.split(|b| !(b.is_ascii_alphanumeric() || specials.contains(b))) {
                for skip in 0..4.min(run.len()) {
                    let run = &run[skip..];
                    let whole = run.len() - run.len() % 4 % 3 % 2; // drop a lone last char
                    if let Ok(bytes) = engine.decode(&run[..whole]) {
                        out.extend(bytes);
                    }
                }
            }
        }
    }
    out
}

/// A multipart body of `parts` (name, file name, content), and its content type.
fn multipart(parts: &[(&str, Option<&str>, &[u8])]) -> (Vec<u8>, String) {
    let boundary = "adv-boundary-7e1f";
    let mut body = Vec::new();
    for (name, file, content) in parts {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"").as_bytes(),
        );
        if let Some(f) = file {
            body.extend_from_slice(format!("; filename=\"{f}\"").as_bytes());
        }
        body.extend_from_slice(b"\r\n\r\n");
        body.extend_from_slice(content);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (body, format!("multipart/form-data; boundary={boundary}"))
}

#[tokio::test]
async fn a_key_inside_an_uploaded_file_text_or_binary_is_neither_stored_nor_hashed() {
    use base64::Engine as _;
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeUpstream::start();
    let (var, key) = key_var("UPLOAD");
    let id = "adv::upload_key";
    let mut binary = vec![0u8, 159, 146, 150];
    binary.extend_from_slice(key.as_bytes());
    binary.push(255);
    let text = format!("config:\n  api_key: {key}\n");
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("token={key};"));
    let uploads: [(&str, &str, Vec<u8>); 3] = [
        ("k.bin", "application/octet-stream", binary),
        ("k.yaml", "text/yaml", text.into_bytes()),
        ("k.b64", "text/plain", encoded.into_bytes()),
    ];
    let rec = ctx(id, Mode::Record, dir.path(), keyed_target(&fake, &var));
    for (name, ct, content) in &uploads {
        rec.client()
            .upload_file("assistants", name, ct, content.clone())
            .await
            .unwrap();
    }
    assert_clean(&rec);
    // What the upstream got is the real file.
    assert!(fake.requests()[..2].iter().all(|r| holds(&r.body, &key)));
    assert!(!holds(&everything(dir.path()), &key));
    assert!(
        !holds(&decoded_everything(dir.path()), &key),
        "the key is stored encoded in a file part"
    );
    // Each part is described as stored: its size and sha256 are those of the stored,
    // scrubbed content.
    let placeholder = format!("<redacted:{var}>");
    let mut described = 0;
    for path in recordings(dir.path()) {
        let v = read_json(&path);
        for part in v["request"]["body"]["multipart"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let content = match (part["text"].as_str(), part["base64"].as_str()) {
                (Some(t), _) => t.as_bytes().to_vec(),
                (_, Some(b)) => base64::engine::general_purpose::STANDARD.decode(b).unwrap(),
                _ => continue,
            };
            if part["filename"].is_null() {
                continue;
            }
            described += 1;
            assert_eq!(part["size"], content.len(), "{part}");
            assert_eq!(
                part["sha256"],
                recorder_runtime::identity::sha256_hex(&content),
                "{part}"
            );
            let readable = String::from_utf8_lossy(&content).into_owned();
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(content.trim_ascii())
                .map(|d| String::from_utf8_lossy(&d).into_owned())
                .unwrap_or_default();
            assert!(
                readable.contains(&placeholder) || decoded.contains(&placeholder),
                "{part}"
            );
        }
    }
    assert_eq!(described, 3);
    // The same uploads replay: the request is hashed as it is stored.
    fake.stop();
    let rep = ctx(id, Mode::Replay, dir.path(), keyed_target(&fake, &var));
    for (name, ct, content) in &uploads {
        rep.client()
            .upload_file("assistants", name, ct, content.clone())
            .await
            .unwrap();
    }
    assert_clean(&rep);
    std::env::remove_var(&var);
}

#[tokio::test]
async fn a_key_echoed_in_base64_or_percent_encoded_is_scrubbed_without_breaking_the_encoding() {
    use base64::Engine as _;
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeUpstream::start();
    // A key with characters that percent-encoding and base64 both change.
    let var = format!("RECORDER_ADV_ENCODED_{}", std::process::id());
    let key = format!("sk-adv/enc+{}=0123456789abcdef", std::process::id());
    std::env::set_var(&var, &key);
    let b64 = base64::engine::general_purpose::STANDARD;
    let url_safe = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let percent: String = key
        .bytes()
        .map(|b| match b {
            b'/' | b'+' | b'=' => format!("%{b:02X}"),
            b => (b as char).to_string(),
        })
        .collect();
    let prompts = [
        format!(
            "data:text/plain;base64,{}",
            b64.encode(format!("my key: {key}!"))
        ),
        format!(
            "jwt.{}.sig",
            url_safe.encode(format!("{{\"k\":\"{key}\"}}"))
        ),
        format!("https://example.com/cb?next=1&k={percent}&x=2"),
    ];
    let rec = ctx(
        "adv::encoded_echo",
        Mode::Record,
        dir.path(),
        keyed_target(&fake, &var),
    );
    for (i, prompt) in prompts.iter().enumerate() {
        // Plain and streamed (the fake echoes the prompt, a word per frame).
        for stream in [false, true] {
            let r = http()
                .post(format!("{}/chat/completions", rec.base_url()))
                .json(&json!({
                    "model": "fake-chat",
                    "stream": stream,
                    "messages": [{"role": "user", "content": format!("{i} {prompt}")}],
                }))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            assert!(r.text().await.unwrap().contains(&prompt[..20]));
        }
        // A text body (a file's content fetched back).
        let file = rec
            .client()
            .upload_file(
                "assistants",
                "p.txt",
                "text/plain",
                prompt.clone().into_bytes(),
            )
            .await
            .unwrap();
        rec.client().file_content(&file.id).await.unwrap();
    }
    assert_clean(&rec);
    let all = everything(dir.path());
    assert!(!holds(&all, &key));
    assert!(
        !holds(&decoded_everything(dir.path()), &key),
        "an encoded key reached disk"
    );
    // The encodings are intact: the placeholder decodes out of them.
    let placeholder = format!("<redacted:{var}>");
    assert!(holds(&decoded_everything(dir.path()), &placeholder));
    assert!(holds(&all, &b64.encode(format!("my key: {placeholder}!"))));
    assert!(holds(&all, &format!("k={placeholder}&x=2")));
    std::env::remove_var(&var);
}

#[tokio::test]
async fn a_bearer_scheme_in_capitals_or_basic_credentials_keep_the_bare_secret_off_disk() {
    use base64::Engine as _;
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeUpstream::start();
    let token = format!("sk-caps-{}-0123456789abcdef", std::process::id());
    let password = format!("pa55-{}-basic-word", std::process::id());
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("me:{password}"));
    let c = fake_ctx("adv::auth_case", Mode::Record, dir.path(), &fake);
    for (authorization, echoed) in [
        (format!("BEARER {token}"), &token),
        (format!("bearer {token}"), &token),
        (format!("BASIC {basic}"), &password),
    ] {
        let r = http()
            .post(format!("{}/chat/completions", c.base_url()))
            .header("authorization", &authorization)
            .json(&json!({
                "model": "fake-chat",
                "messages": [{"role": "user", "content": format!("echo {echoed} please")}],
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert!(r.text().await.unwrap().contains(echoed.as_str()));
    }
    assert_clean(&c);
    let all = everything(dir.path());
    for secret in [&token, &password, &basic] {
        assert!(!holds(&all, secret), "{secret} reached disk");
    }
}

#[tokio::test]
async fn token_and_signature_query_parameters_are_secrets_and_leave_the_endpoint() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeUpstream::start();
    let token = format!("tok-{}-0123456789", std::process::id());
    let sig = format!("c2lnbmF0dXJl{}abcdef", std::process::id());
    let id = "adv::query_token";
    let c = fake_ctx(id, Mode::Record, dir.path(), &fake);
    let r = http()
        .post(format!(
            "{}/embeddings?token={token}&sig={sig}&X-Amz-Signature=abcdef0123456789&page_token=p2",
            c.base_url()
        ))
        .json(&json!({"model": "fake-embed", "input": format!("signed with {sig}")}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_clean(&c);
    assert!(
        fake.requests()[0].path.contains(&format!("token={token}")),
        "the upstream still gets them"
    );
    let all = everything(dir.path());
    for secret in [&token, &sig, &"abcdef0123456789".to_string()] {
        assert!(!holds(&all, secret), "{secret} reached disk");
    }
    let (_, v) = only_recording(&c);
    assert_eq!(v["request"]["endpoint"], "/v1/embeddings?page_token=p2");
    // Another token for the same request replays the same recording.
    fake.stop();
    let rep = fake_ctx(id, Mode::Replay, dir.path(), &fake);
    let r = http()
        .post(format!(
            "{}/embeddings?token=tok-other-0123456789&sig={sig}&X-Amz-Signature=abcdef0123456789&page_token=p2",
            rep.base_url()
        ))
        .json(&json!({"model": "fake-embed", "input": format!("signed with {sig}")}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    assert_clean(&rep);
}

#[tokio::test]
async fn credentials_a_setup_env_carries_are_secrets_of_its_tests() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeUpstream::start();
    let pid = std::process::id();
    let token = format!("hf_adv{pid}setupenvtoken");
    let password = format!("db-pw-{pid}-adv");
    let target = Target {
        setup: Some("adv".into()),
        base_url: Some(fake.openai_url()),
        env: [
            (format!("ADV_HF_TOKEN_{pid}"), token.clone()),
            (
                format!("ADV_DB_URL_{pid}"),
                format!("postgres://app:{password}@db:5432/x"),
            ),
        ]
        .into(),
        ..Default::default()
    };
    let c = ctx("adv::env_credentials", Mode::Record, dir.path(), target);
    let r = http()
        .post(format!("{}/chat/completions", c.base_url()))
        .json(&json!({
            "model": "fake-chat",
            "messages": [{"role": "user", "content": format!("the service saw {token} and {password}")}],
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_clean(&c);
    let all = everything(dir.path());
    assert!(!holds(&all, &token) && !holds(&all, &password));
    assert!(holds(&all, &format!("<redacted:ADV_HF_TOKEN_{pid}>")));
    assert!(holds(&all, &format!("<redacted:ADV_DB_URL_{pid}>")));
}

#[tokio::test]
async fn an_answer_that_decodes_past_the_limit_is_a_502_saying_so() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeUpstream::start();
    fake.set_encoding(Some("gzip"));
    let target = Target {
        setup: Some("adv".into()),
        base_url: Some(fake.openai_url()),
        // Small enough that the compressed answer fits and the decoded one does not.
        env: [("RECORDER_MAX_BODY_BYTES".to_string(), "4096".to_string())].into(),
        ..Default::default()
    };
    let c = ctx("adv::decoded_limit", Mode::Record, dir.path(), target);
    let inputs = vec!["x"; 200];
    let r = http()
        .post(format!("{}/embeddings", c.base_url()))
        .json(&json!({"model": "fake-embed", "input": inputs}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 502);
    let body = r.text().await.unwrap();
    assert!(
        body.contains("decodes (Gzip) to more than 4096 bytes")
            && body.contains("RECORDER_MAX_BODY_BYTES")
            && body.contains("nothing was recorded"),
        "{body}"
    );
    let problems = c.finish();
    assert!(
        problems.iter().any(|p| p.contains("more than 4096 bytes")),
        "{problems:?}"
    );
    assert!(recordings(dir.path()).is_empty());
}

#[tokio::test]
async fn a_multipart_body_of_too_many_parts_is_refused_before_it_costs_anything() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeUpstream::start();
    let many: Vec<(&str, Option<&str>, &[u8])> =
        (0..1001).map(|_| ("f", None, &b"x"[..])).collect();
    let (body, content_type) = multipart(&many);
    let c = fake_ctx("adv::many_parts", Mode::Record, dir.path(), &fake);
    let r = http()
        .post(format!("{}/files", c.base_url()))
        .header("content-type", &content_type)
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    let text = r.text().await.unwrap();
    assert!(
        text.contains("more than 1000 parts") && text.contains("RECORDER_MAX_MULTIPART_PARTS"),
        "{text}"
    );
    let _ = c.finish();
    assert!(fake.requests().is_empty() && recordings(dir.path()).is_empty());
    // Raised for a setup that needs it, the same body goes through.
    let target = Target {
        setup: Some("adv".into()),
        base_url: Some(fake.openai_url()),
        env: [(
            "RECORDER_MAX_MULTIPART_PARTS".to_string(),
            "2000".to_string(),
        )]
        .into(),
        ..Default::default()
    };
    let c = ctx("adv::many_parts_raised", Mode::Record, dir.path(), target);
    let r = http()
        .post(format!("{}/files", c.base_url()))
        .header("content-type", &content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_ne!(r.status(), 413, "{}", r.text().await.unwrap());
    let _ = c.finish();
}

/// The three ways a setup sends its key.
fn auth_styles() -> [Auth; 3] {
    [
        Auth::Bearer,
        Auth::Header("x-api-key".into()),
        Auth::Query("key".into()),
    ]
}

/// Every text a test or a CI log can show of an error holds no `key`, and says `what`.
fn assert_keyless(label: &str, e: &recorder_runtime::Error, key: &str, what: &str) {
    let (shown, debug) = (e.to_string(), format!("{e:?}"));
    let body = String::from_utf8(e.json_body()).unwrap();
    for text in [&shown, &debug, &body] {
        assert!(!text.contains(key), "{label}: the key is in {text}");
    }
    assert!(shown.contains(what), "{label}: {shown}");
}

#[tokio::test]
async fn errors_carry_no_key_whatever_the_auth_and_the_failure() {
    let (var, key) = key_var("ERRKEY");
    let chat = |prompt: &str| {
        EngineRequest::post(
            "/v1/chat/completions",
            serde_json::to_vec(&json!({"model": "fake-chat", "stream": true, "messages": [{"role": "user", "content": prompt}]})).unwrap(),
        )
    };
    for auth in auth_styles() {
        let dir = tempfile::tempdir().unwrap();
        let fake = FakeUpstream::start();
        fake.set_models((0..400).map(|i| format!("model-with-a-long-name-{i}")));
        let target = |base: String| Target {
            base_url: Some(base),
            api_key_env: Some(var.clone()),
            auth: auth.clone(),
            // Small enough for the model list to go over it.
            env: [("RECORDER_MAX_BODY_BYTES".to_string(), "8000".to_string())].into(),
            ..Default::default()
        };
        let tls = format!("https://{}/v1", fake.addr());
        for (failure, base, what) in [
            ("unreachable", dead_url(), "is unreachable"),
            ("TLS", tls, "is unreachable"),
            (
                "over the limit",
                fake.openai_url(),
                "RECORDER_MAX_BODY_BYTES",
            ),
        ] {
            let label = format!("{auth:?}, {failure}");
            let id = format!("adv::errkey::{}", failure.replace(' ', "_"));
            let c = ctx(&id, Mode::Record, dir.path(), target(base));
            // In process: what `unwrap()` would print.
            let e = c.client().models().await.unwrap_err();
            assert_keyless(&label, &e, &key, what);
            // Through the proxy: the 502's body.
            let r = http()
                .get(format!("{}/models", c.base_url()))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 502, "{label}");
            let body = r.text().await.unwrap();
            assert!(
                !body.contains(&key) && body.contains(what),
                "{label}: {body}"
            );
            // What fails the test.
            let problems = c.finish();
            assert!(!problems.is_empty(), "{label}");
            assert!(
                problems.iter().all(|p| !p.contains(&key)),
                "{label}: {problems:?}"
            );
        }
        // A stream cut short: the error its stream ends in.
        fake.set_fail_mid_stream(true);
        let c = ctx(
            "adv::errkey::cut",
            Mode::Record,
            dir.path(),
            target(fake.openai_url()),
        );
        let resp = c.client().send(chat("cut me short")).await.unwrap();
        let ResponseBody::Stream(_, mut body) = resp.body else {
            panic!("{auth:?}: a stream")
        };
        let e = loop {
            match futures::StreamExt::next(&mut body).await {
                Some(Ok(_)) => continue,
                Some(Err(e)) => break e,
                None => panic!("{auth:?}: the cut stream ended cleanly"),
            }
        };
        assert_keyless(&format!("{auth:?}, cut"), &e, &key, "failed mid-response");
        let problems = c.finish();
        assert!(problems.iter().all(|p| !p.contains(&key)), "{problems:?}");
        fake.set_fail_mid_stream(false);
        // An error the fixture client makes of an answer that quotes the key.
        let c = ctx(
            "adv::errkey::decode",
            Mode::Record,
            dir.path(),
            target(fake.openai_url()),
        );
        let e = c
            .client()
            .send_json::<Vec<u32>>(EngineRequest::post(
                "/v1/chat/completions",
                serde_json::to_vec(&json!({"model": "fake-chat", "messages": [{"role": "user", "content": format!("echo {key}")}]})).unwrap(),
            ))
            .await
            .unwrap_err();
        assert_keyless(&format!("{auth:?}, decode"), &e, &key, "<redacted:");
        assert_clean(&c);
        assert!(!holds(&everything(dir.path()), &key), "{auth:?}");
    }
    std::env::remove_var(&var);
}

#[tokio::test]
async fn a_redirect_to_another_origin_is_the_answer_and_the_key_never_goes_there() {
    let (var, key) = key_var("REDIRECT");
    for auth in auth_styles() {
        for status in [307, 302] {
            let dir = tempfile::tempdir().unwrap();
            let (fake, elsewhere) = (FakeUpstream::start(), FakeUpstream::start());
            fake.set_redirect(Some((status, &elsewhere.url())));
            let label = format!("{auth:?} {status}");
            let c = ctx(
                "adv::redirect",
                Mode::Record,
                dir.path(),
                Target {
                    auth: auth.clone(),
                    ..keyed_target(&fake, &var)
                },
            );
            // Through the proxy, with a client that follows nothing: the 3xx as it came.
            let r = reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap()
                .post(format!("{}/embeddings", c.base_url()))
                .json(&json!({"model": "fake-embed", "input": "where are you"}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), status, "{label}");
            let location = r.headers()["location"].to_str().unwrap().to_owned();
            assert!(
                location.starts_with(&elsewhere.url()) && !location.contains(&key),
                "{label}: {location}"
            );
            assert!(
                elsewhere.requests().is_empty(),
                "{label}: the other origin got {:?}",
                elsewhere.requests()
            );
            let seen = &fake.requests()[0];
            assert!(
                seen.path.contains(&key)
                    || seen
                        .header("authorization")
                        .is_some_and(|v| v.contains(&key))
                    || seen.header("x-api-key") == Some(&key),
                "{label}: the upstream itself gets the key"
            );
            // Recorded with its Location, scrubbed; the test fails saying what happened.
            let (_, rec) = only_recording(&c);
            assert_eq!(rec["response"]["status"], status, "{label}");
            let stored = rec["response"]["headers"]["location"].as_str().unwrap();
            assert!(stored.starts_with(&elsewhere.url()), "{label}: {rec}");
            let problems = c.finish();
            assert!(
                problems
                    .iter()
                    .any(|p| p.contains("redirecting to another origin")
                        && p.contains(&elsewhere.url())
                        && p.contains("base_url")),
                "{label}: {problems:?}"
            );
            assert!(problems.iter().all(|p| !p.contains(&key)), "{problems:?}");
            assert!(!holds(&everything(dir.path()), &key), "{label}");
        }
    }
    // A redirect within the upstream's origin is followed, key and all, up to 10.
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeUpstream::start();
    fake.set_redirect(Some((307, &fake.url())));
    let c = ctx(
        "adv::redirect::same",
        Mode::Record,
        dir.path(),
        keyed_target(&fake, &var),
    );
    let e = c
        .client()
        .send(EngineRequest::post(
            "/v1/embeddings",
            br#"{"model":"fake-embed","input":"x"}"#.to_vec(),
        ))
        .await
        .unwrap_err();
    assert_keyless("same origin", &e, &key, "more than 10 redirects");
    let seen = fake.requests();
    assert_eq!(seen.len(), 11, "followed 10 times");
    assert!(seen
        .iter()
        .all(|r| r.header("authorization") == Some(&format!("Bearer {key}"))));
    let _ = c.finish();
    std::env::remove_var(&var);
}

#[cfg(unix)]
#[tokio::test]
async fn usage_logs_are_never_written_through_a_symlink() {
    let fake = FakeUpstream::start();
    let record = |dir: &Path| {
        let c = fake_ctx("adv::usage", Mode::Record, dir, &fake);
        async move {
            c.client()
                .send(EngineRequest::post(
                    "/v1/embeddings",
                    br#"{"model":"fake-embed","input":"x"}"#.to_vec(),
                ))
                .await
                .unwrap();
            c
        }
    };
    // A committed `.usage` that is a symlink: replay (and recording) write nothing there.
    let dir = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(outside.path(), dir.path().join(".usage")).unwrap();
    let rep = fake_ctx("adv::usage", Mode::Replay, dir.path(), &fake);
    let err = rep.scope().record_use().unwrap_err().to_string();
    assert!(err.contains("symlink") && err.contains(".usage"), "{err}");
    let _ = rep.finish();
    let rec = record(dir.path()).await;
    let problems = rec.finish();
    assert!(
        problems.iter().any(|p| p.contains("symlink")),
        "the record of use is behind: {problems:?}"
    );
    assert_eq!(
        recordings(dir.path()).len(),
        1,
        "the recording itself was written"
    );
    assert!(files(outside.path()).is_empty(), "written through the link");
    // A dangling `.usage/.gitignore` link: not followed, the log goes in `.usage`.
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join(".usage")).unwrap();
    let target = outside.path().join("created-by-the-recorder");
    std::os::unix::fs::symlink(&target, dir.path().join(".usage/.gitignore")).unwrap();
    let c = record(dir.path()).await;
    assert_clean(&c);
    c.scope().record_use().unwrap();
    assert!(!target.exists(), "the dangling link was followed");
    assert!(files(&dir.path().join(".usage"))
        .iter()
        .any(|p| p.extension().is_some_and(|e| e == "jsonl")));
    // A symlink where this process's log goes: refused, not followed.
    let dir = tempfile::tempdir().unwrap();
    let c = record(dir.path()).await;
    assert_clean(&c);
    let log = files(&dir.path().join(".usage"))
        .into_iter()
        .find(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .unwrap();
    std::fs::remove_file(&log).unwrap();
    std::os::unix::fs::symlink(&target, &log).unwrap();
    let fresh = recorder_runtime::usage::UsageLog::new(dir.path());
    let err = fresh
        .test_finished("adv::usage", &[])
        .unwrap_err()
        .to_string();
    assert!(err.contains("cannot open"), "{err}");
    assert!(!target.exists(), "the log's link was followed");
}
