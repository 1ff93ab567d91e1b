//! The loopback proxy: one server per process, a base URL per context, both
//! API styles; record forwards with the setup's key and passes streams through as they
//! arrive; early stops still record everything; unreachable upstreams, misses, upstream
//! errors, secrets and isolation. Every test records from a fake upstream into a fresh
//! folder, then replays with the fake stopped.

mod fake_support;

use fake_support::*;
use recorder_runtime::engine::Target;
use recorder_runtime::identity::RequestIdentity;
use recorder_runtime::proxy::Proxy;
use recorder_runtime::Mode;
use recorder_testkit::fake::FakeUpstream;
use serde_json::{json, Value};
use std::path::Path;
use std::time::Duration;

fn chat_body(text: &str, stream: bool) -> Value {
    json!({"model": "fake-chat", "stream": stream, "messages": [{"role": "user", "content": text}]})
}

/// Reads an SSE body chunk by chunk: (number of chunks, data payloads).
async fn read_sse(resp: reqwest::Response) -> (usize, Vec<String>) {
    let (chunks, text) = read_text(resp).await;
    (chunks, sse_data(&text))
}

/// Reads a body chunk by chunk: (number of chunks, text).
async fn read_text(mut resp: reqwest::Response) -> (usize, String) {
    let mut chunks = 0;
    let mut text = String::new();
    while let Some(c) = resp.chunk().await.unwrap() {
        chunks += 1;
        text.push_str(std::str::from_utf8(&c).unwrap());
    }
    (chunks, text)
}

#[tokio::test]
async fn one_server_per_process_and_a_base_url_per_context() {
    let dir = tempfile::tempdir().unwrap();
    let a = ctx(
        "proxy::urls::a",
        Mode::Replay,
        dir.path(),
        Target::default(),
    );
    let b = ctx(
        "proxy::urls::b",
        Mode::Replay,
        dir.path(),
        Target::default(),
    );
    let port = Proxy::global().addr().port();
    for c in [&a, &b] {
        assert!(
            c.ollama_url()
                .starts_with(&format!("http://127.0.0.1:{port}/s/")),
            "{}",
            c.ollama_url()
        );
        assert_eq!(c.base_url(), format!("{}v1", c.ollama_url()));
    }
    assert_ne!(a.ollama_url(), b.ollama_url());
    assert_eq!(a.ollama_url(), a.ollama_url(), "stable per context");
}

#[tokio::test]
async fn both_api_styles_record_then_replay_offline() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeUpstream::start();
    let http = http();
    let id = "proxy::styles::both";
    let ollama_chat =
        json!({"model": "fake-chat", "messages": [{"role": "user", "content": "hello ollama"}]});

    // Recording: the target is an OpenAI-style base URL (`.../v1`), as the `ollama` setup
    // of recorder.toml has it; Ollama's own `/api/...` endpoints go to the server root.
    let rec = fake_ctx(id, Mode::Record, dir.path(), &fake);
    let r = http
        .post(format!("{}/chat/completions", rec.base_url()))
        .json(&chat_body("hello openai", false))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .contains("json"));
    let recorded_chat: Value = r.json().await.unwrap();
    let r = http
        .post(format!("{}api/chat", rec.ollama_url()))
        .json(&ollama_chat)
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["content-type"], "application/x-ndjson");
    let recorded_lines = ndjson(&r.text().await.unwrap());
    let recorded_models: Value = http
        .get(format!("{}/models", rec.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let recorded_tags: Value = http
        .get(format!("{}api/tags", rec.ollama_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_clean(&rec);
    assert_eq!(rec.counts().recorded, 4);
    let paths: Vec<String> = fake.requests().iter().map(|r| r.path.clone()).collect();
    assert_eq!(
        paths,
        [
            "/v1/chat/completions",
            "/api/chat",
            "/v1/models",
            "/api/tags"
        ]
    );

    // The files: normalized volatile fields, model lists shared.
    assert_eq!(recordings(&rec.scope_dir()).len(), 2);
    assert_eq!(recordings(&dir.path().join("_models")).len(), 2);
    for file in recordings(&rec.scope_dir()) {
        let v = read_json(&file);
        if v["request"]["endpoint"] == "/api/chat" {
            let frames = frames(&v);
            assert_eq!(frames.len(), recorded_lines.len());
            assert!(frames
                .iter()
                .all(|f| f["data"]["created_at"] == "1970-01-01T00:00:00.000000Z"));
            assert_eq!(frames.last().unwrap()["data"]["total_duration"], 0);
        } else {
            assert!(v["response"]["body"]["id"]
                .as_str()
                .unwrap()
                .starts_with("rec-"));
            assert_eq!(v["response"]["body"]["created"], 0);
        }
    }

    fake.stop();
    let rep = fake_ctx(id, Mode::Replay, dir.path(), &fake);
    let r = http
        .post(format!("{}/chat/completions", rep.base_url()))
        .json(&chat_body("hello openai", false))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let chat: Value = r.json().await.unwrap();
    assert_eq!(chat["choices"], recorded_chat["choices"]);
    assert!(chat["id"].as_str().unwrap().starts_with("rec-"));
    let r = http
        .post(format!("{}api/chat", rep.ollama_url()))
        .json(&ollama_chat)
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["content-type"], "application/x-ndjson");
    let lines = ndjson(&r.text().await.unwrap());
    let text = |ls: &[Value]| {
        ls.iter()
            .map(|l| l["message"]["content"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(text(&lines), text(&recorded_lines));
    let models: Value = http
        .get(format!("{}/models", rep.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(models["data"], recorded_models["data"]);
    let tags: Value = http
        .get(format!("{}api/tags", rep.ollama_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(tags["models"], recorded_tags["models"]);
    assert_clean(&rep);
    assert_eq!(rep.counts().replayed, 4);
    assert_eq!(fake.requests().len(), 4, "replay never went upstream");
}

/// `ctx.base_url()` ends in `/v1`; a client that appends `/v1/chat/completions` to
/// it sends `/v1/v1/chat/completions`. In record mode that was forwarded, and the
/// upstream's 404 recorded and replayed ever after with nothing saying why. Now it is
/// refused in every mode, nothing is sent or recorded, the answer says what to give
/// the client instead, and the test fails with the same words even if the client
/// swallows the 404.
#[tokio::test]
async fn a_path_that_repeats_v1_is_refused_saying_which_base_url_to_give() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeUpstream::start();
    let http = http();
    let chat = json!({"model": "fake-chat", "messages": [{"role": "user", "content": "hello"}]});
    for mode in [Mode::Record, Mode::Replay] {
        let ctx = fake_ctx("proxy::paths::doubled_v1", mode, dir.path(), &fake);
        let url = format!("{}/v1/chat/completions", ctx.base_url());
        let r = http.post(&url).json(&chat).send().await.unwrap();
        assert_eq!(r.status(), 404, "{mode:?}");
        let body: Value = r.json().await.unwrap();
        let msg = body["error"]["message"].as_str().unwrap();
        assert!(
            msg.starts_with("POST /v1/v1/chat/completions repeats `/v1`"),
            "{mode:?}: {msg}"
        );
        assert!(msg.contains("`ctx.base_url()`"), "{msg}");
        assert_eq!(body["error"]["type"], "recorder_doubled_prefix");
        let problems = ctx.finish();
        assert_eq!(problems.len(), 1, "{mode:?}: {problems:?}");
        assert!(problems[0].contains("repeats `/v1`"), "{problems:?}");
    }
    assert!(fake.requests().is_empty(), "nothing went upstream");
    assert!(recordings(dir.path()).is_empty(), "nothing was recorded");
}

/// `ctx.ollama_url()` ends in `/` (ollama-rs appends `api/chat`); a client that
/// appends `/api/chat` sends `//api/chat`. The proxy reads it as `/api/chat`:
/// forwarded, recorded and replayed as the endpoint it is (it used to be forwarded
/// as is and the upstream's 404 recorded as a normal answer). The query is kept.
#[tokio::test]
async fn repeated_slashes_in_the_path_are_one() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeUpstream::start();
    let http = http();
    let id = "proxy::paths::double_slash";
    let chat = json!({"model": "fake-chat", "messages": [{"role": "user", "content": "hello"}]});
    let rec = fake_ctx(id, Mode::Record, dir.path(), &fake);
    let doubled = format!("{}/api/chat", rec.ollama_url());
    assert!(doubled.contains("//api/chat"), "{doubled}");
    let r = http.post(&doubled).json(&chat).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let said = |text: &str| -> Vec<Value> {
        ndjson(text)
            .iter()
            .map(|l| l["message"]["content"].clone())
            .collect()
    };
    let recorded = said(&r.text().await.unwrap());
    let r = http
        .get(format!("{}//api//tags?name=a//b", rec.ollama_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_clean(&rec);
    let paths: Vec<String> = fake.requests().iter().map(|r| r.path.clone()).collect();
    assert_eq!(paths, ["/api/chat", "/api/tags?name=a//b"]);
    let files = recordings(&rec.scope_dir());
    let [file] = &files[..] else {
        panic!("one recording of the chat expected: {files:?}")
    };
    let v = read_json(file);
    assert_eq!(v["request"]["endpoint"], "/api/chat");
    assert_eq!(v["response"]["status"], 200);

    // Offline, both spellings find that recording.
    fake.stop();
    let rep = fake_ctx(id, Mode::Replay, dir.path(), &fake);
    for url in [
        format!("{}/api/chat", rep.ollama_url()),
        format!("{}api/chat", rep.ollama_url()),
    ] {
        let r = http.post(&url).json(&chat).send().await.unwrap();
        assert_eq!(r.status(), 200, "{url}");
        assert_eq!(said(&r.text().await.unwrap()), recorded, "{url}");
    }
    assert_clean(&rep);
}

#[tokio::test]
async fn stream_reaches_the_client_before_the_upstream_finishes() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeUpstream::start();
    fake.set_chunk_delay(Duration::from_millis(15));
    let http = http();
    let rec = fake_ctx(
        "proxy::streaming::first_chunk",
        Mode::Record,
        dir.path(),
        &fake,
    );
    let mut resp = http
        .post(format!("{}/chat/completions", rec.base_url()))
        .json(&chat_body("stream me", true))
        .send()
        .await
        .unwrap();
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let first = resp.chunk().await.unwrap().unwrap();
    assert!(
        !fake.stream_finished(),
        "the first chunk arrived while the upstream was still sending"
    );
    assert!(first.starts_with(b"data: {"), "{first:?}");
    let (chunks, rest) = read_text(resp).await;
    assert!(
        chunks >= 10,
        "frames arrive one by one, not as one body: {chunks} chunks"
    );
    let data = sse_data(&(String::from_utf8(first.to_vec()).unwrap() + &rest));
    assert_eq!(data.last().unwrap(), "[DONE]");
    assert_clean(&rec);
    let (_, file) = only_recording(&rec);
    assert_eq!(frames(&file).len(), data.len());
}

/// The same request straight to the fake: the reference stream.
async fn reference_stream(fake: &FakeUpstream, body: &Value) -> Vec<String> {
    let resp = http()
        .post(format!("{}/chat/completions", fake.openai_url()))
        .json(body)
        .send()
        .await
        .unwrap();
    sse_data(&resp.text().await.unwrap())
}

async fn check_complete_and_replay(
    id: &str,
    dir: &Path,
    fake: &FakeUpstream,
    reference: &[String],
    body: &Value,
) {
    let files = recordings(&recorder_runtime::store::Store::new(dir).scope_dir(id));
    assert_eq!(files.len(), 1);
    let frames = frames(&read_json(&files[0]));
    assert_eq!(frames.len(), reference.len(), "every frame was recorded");
    assert_eq!(frames.last().unwrap()["data"], "[DONE]");

    fake.stop();
    let rep = fake_ctx(id, Mode::Replay, dir, fake);
    let resp = http()
        .post(format!("{}/chat/completions", rep.base_url()))
        .json(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let (_, data) = read_sse(resp).await;
    assert_eq!(data.len(), reference.len());
    assert_eq!(chat_text(&data), chat_text(reference));
    assert_clean(&rep);
}

#[tokio::test]
async fn a_client_that_disconnects_mid_stream_leaves_a_complete_recording() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeUpstream::start();
    let body = chat_body("disconnect early", true);
    let reference = reference_stream(&fake, &body).await;
    fake.set_chunk_delay(Duration::from_millis(10));
    let id = "proxy::early_stop::disconnects";
    let rec = fake_ctx(id, Mode::Record, dir.path(), &fake);
    let mut resp = http()
        .post(format!("{}/chat/completions", rec.base_url()))
        .json(&body)
        .send()
        .await
        .unwrap();
    resp.chunk().await.unwrap().unwrap();
    drop(resp); // closes the connection: the body was not read to its end
    assert!(!fake.stream_finished());
    assert_clean(&rec); // waits for the background recording
    assert!(fake.stream_finished(), "the proxy drained the upstream");
    assert_eq!(rec.counts().recorded, 1);
    check_complete_and_replay(id, dir.path(), &fake, &reference, &body).await;
}

#[tokio::test]
async fn a_client_that_stops_reading_leaves_a_complete_recording() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeUpstream::start();
    let body = chat_body("stop reading", true);
    let reference = reference_stream(&fake, &body).await;
    fake.set_chunk_delay(Duration::from_millis(5));
    let id = "proxy::early_stop::stalls";
    let rec = fake_ctx(id, Mode::Record, dir.path(), &fake);
    let mut resp = http()
        .post(format!("{}/chat/completions", rec.base_url()))
        .json(&body)
        .send()
        .await
        .unwrap();
    resp.chunk().await.unwrap().unwrap();
    // The client holds the response without reading it; the recording completes anyway.
    assert_clean(&rec);
    assert!(fake.stream_finished());
    drop(resp);
    check_complete_and_replay(id, dir.path(), &fake, &reference, &body).await;
}

#[tokio::test]
async fn an_unreachable_upstream_is_a_502_with_the_reason_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let dead = dead_url();
    let port = dead
        .trim_start_matches("http://127.0.0.1:")
        .trim_end_matches("/v1")
        .to_owned();
    let http = http();
    let rec = ctx(
        "proxy::unreachable::fails",
        Mode::Record,
        dir.path(),
        target(&dead),
    );
    for (url, body) in [
        (
            format!("{}/chat/completions", rec.base_url()),
            chat_body("anyone?", true),
        ),
        (
            format!("{}api/chat", rec.ollama_url()),
            chat_body("anyone?", true),
        ),
    ] {
        let r = http.post(url).json(&body).send().await.unwrap();
        assert_eq!(r.status(), 502);
        let err: Value = r.json().await.unwrap();
        let msg = err["error"]["message"].as_str().unwrap();
        assert_eq!(err["error"]["type"], "upstream_unreachable");
        assert!(
            msg.contains(&format!("127.0.0.1:{port}")) && msg.contains("unreachable"),
            "{msg}"
        );
        assert!(
            msg.to_lowercase().contains("connect"),
            "the reason is given: {msg}"
        );
        assert!(msg.contains("nothing was recorded"), "{msg}");
    }
    let _ = rec.finish();
    assert_eq!(rec.counts().recorded, 0);
    assert!(
        files(dir.path()).is_empty(),
        "nothing written: {:?}",
        files(dir.path())
    );
}

#[tokio::test]
async fn a_replay_miss_names_everything_needed_to_fix_it() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeUpstream::start();
    let http = http();
    let id = "proxy_tests::misses::asks_politely";
    let rec = fake_ctx(id, Mode::Record, dir.path(), &fake);
    http.post(format!("{}/chat/completions", rec.base_url()))
        .json(&chat_body("hello", false))
        .send()
        .await
        .unwrap();
    assert_clean(&rec);
    let (recorded_path, _) = only_recording(&rec);
    fake.stop();

    let rep = fake_ctx(id, Mode::Replay, dir.path(), &fake);
    let body = serde_json::to_vec(&chat_body("goodbye", false)).unwrap();
    let hash = RequestIdentity::new("POST", "/v1/chat/completions", &body, &[], Some(id)).hash();
    let r = http
        .post(format!("{}/chat/completions", rep.base_url()))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let err: Value = r.json().await.unwrap();
    assert_eq!(err["error"]["type"], "recording_not_found");
    let msg = err["error"]["message"].as_str().unwrap();
    for needle in [
        id.to_string(),
        "POST /v1/chat/completions".to_string(),
        hash[..16].to_string(),
        recorded_path.display().to_string(),
        r#"/messages/0/content: recorded "hello" | requested "goodbye""#.to_string(),
        "RECORD_MODE=record-if-missing cargo test asks_politely".to_string(),
    ] {
        assert!(
            msg.contains(&needle),
            "the miss message lacks {needle:?}:\n{msg}"
        );
    }
    // The test fails at its end with the same message, whatever the client did with it.
    assert_eq!(rep.finish(), vec![msg.to_string()]);
    assert_eq!(rep.counts().missed, 1);
}

#[tokio::test]
async fn the_setup_key_replaces_the_client_authorization_and_never_reaches_disk() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeUpstream::start();
    let var = format!("RECORDER_PROXY_TEST_KEY_{}", std::process::id());
    let key = format!(
        "sk-proxy-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    let client_secret = "client-secret-xyz";
    std::env::set_var(&var, &key);
    let target = Target {
        base_url: Some(fake.openai_url()),
        api_key_env: Some(var.clone()),
        ..Default::default()
    };
    let http = http();
    let id = "proxy::secrets::kept_off_disk";
    let rec = ctx(id, Mode::Record, dir.path(), target.clone());
    let send = |url: String, body: Value| {
        http.post(url)
            .bearer_auth(client_secret)
            .header("x-api-key", client_secret)
            .header("cookie", format!("session={client_secret}"))
            .json(&body)
            .send()
    };
    let mut answers = Vec::new();
    answers.push(
        send(
            format!("{}/chat/completions", rec.base_url()),
            chat_body("plain", false),
        )
        .await
        .unwrap()
        .text()
        .await
        .unwrap(),
    );
    answers.push(
        send(
            format!("{}/chat/completions", rec.base_url()),
            chat_body("streamed", true),
        )
        .await
        .unwrap()
        .text()
        .await
        .unwrap(),
    );
    answers.push(
        send(
            format!("{}api/chat", rec.ollama_url()),
            chat_body("ollama", true),
        )
        .await
        .unwrap()
        .text()
        .await
        .unwrap(),
    );
    answers.push(
        send(
            format!("{}/embeddings", rec.base_url()),
            json!({"model": "fake-embed", "input": "x"}),
        )
        .await
        .unwrap()
        .text()
        .await
        .unwrap(),
    );
    // A prompt that carries the key, echoed back by the fake: scrubbed from the file.
    answers.push(
        send(
            format!("{}/chat/completions", rec.base_url()),
            chat_body(&format!("my key is {key}"), false),
        )
        .await
        .unwrap()
        .text()
        .await
        .unwrap(),
    );
    // The key in a streamed tool call's arguments, which the fake (like a model,
    // token by token) splits across frames: no one frame holds the whole key.
    answers.push(
        send(
            format!("{}/chat/completions", rec.base_url()),
            json!({
                "model": "fake-chat",
                "stream": true,
                "messages": [{"role": "user", "content": format!("look up {key}")}],
                "tools": [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}],
            }),
        )
        .await
        .unwrap()
        .text()
        .await
        .unwrap(),
    );
    assert!(
        !sse_data(answers.last().unwrap())
            .iter()
            .any(|d| d.contains(key.as_str())),
        "the key is split across frames, as the test means it to be"
    );
    assert_clean(&rec);
    assert_eq!(rec.counts().recorded, 6);

    let seen = fake.requests();
    assert_eq!(seen.len(), 6);
    for r in &seen {
        assert_eq!(
            r.header("authorization"),
            Some(format!("Bearer {key}").as_str()),
            "the setup's key replaced the client's on {}",
            r.path
        );
        assert!(
            r.header("x-api-key").is_none() && r.header("cookie").is_none(),
            "{:?}",
            r.headers
        );
    }
    let all = files(dir.path());
    assert!(all.len() >= 5, "{all:?}");
    let mut redacted_streams = 0;
    for file in &all {
        let bytes = std::fs::read(file).unwrap();
        for secret in [key.as_str(), client_secret] {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "{} holds a secret ({secret})",
                file.display()
            );
        }
        // Nor can the key be put together again from a stream's frames.
        if file.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let texts = reassembled_texts(&read_json(file));
        assert!(
            !texts.iter().any(|t| t.contains(key.as_str())),
            "{} spells the key across its frames",
            file.display()
        );
        redacted_streams += texts
            .iter()
            .filter(|t| t.contains(&format!("<redacted:{var}>")))
            .count();
    }
    assert_eq!(redacted_streams, 1, "the split key was replaced, once");

    // Replay needs no key at all.
    fake.stop();
    std::env::remove_var(&var);
    let target_with_key = target.clone();
    let rep = ctx(id, Mode::Replay, dir.path(), target);
    let r = http
        .post(format!("{}/chat/completions", rep.base_url()))
        .json(&chat_body("plain", false))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // A request that carries the key itself was stored (and named) with the key
    // scrubbed: it replays where the key is known again, as when it was recorded.
    std::env::set_var(&var, &key);
    let rep = ctx(id, Mode::Replay, dir.path(), target_with_key);
    let r = http
        .post(format!("{}/chat/completions", rep.base_url()))
        .json(&chat_body(&format!("my key is {key}"), false))
        .send()
        .await
        .unwrap();
    std::env::remove_var(&var);
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    assert!(
        !text.contains(&key) && text.contains(&format!("<redacted:{var}>")),
        "{text}"
    );
    assert_clean(&rep);
}

async fn isolated_exchange(
    i: usize,
    mode: Mode,
    dir: std::path::PathBuf,
    upstream: String,
) -> (String, Vec<f64>) {
    let id = format!("proxy::isolation::ctx{i:02}");
    let c = ctx(&id, mode, &dir, target(&upstream));
    let http = http();
    let marker = format!("marker-{i:02}-end");
    let resp = http
        .post(format!("{}/chat/completions", c.base_url()))
        .json(&chat_body(&marker, true))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{id}");
    let (_, data) = read_sse(resp).await;
    let emb: Value = http
        .post(format!("{}/embeddings", c.base_url()))
        .json(&json!({"model": "fake-embed", "input": marker}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let vector = emb["data"][0]["embedding"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert_clean(&c);
    (chat_text(&data), vector)
}

#[test]
fn sixteen_contexts_at_once_never_mix() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeUpstream::start();
    fake.set_chunk_delay(Duration::from_millis(1));
    let run_all = |mode: Mode, upstream: String| {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(4)
            .enable_all()
            .build()
            .unwrap();
        let tasks: Vec<_> = (0..8)
            .map(|i| {
                rt.spawn(isolated_exchange(
                    i,
                    mode,
                    dir.path().to_owned(),
                    upstream.clone(),
                ))
            })
            .collect();
        let threads: Vec<_> = (8..16)
            .map(|i| {
                let (dir, upstream) = (dir.path().to_owned(), upstream.clone());
                std::thread::spawn(move || {
                    tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .unwrap()
                        .block_on(isolated_exchange(i, mode, dir, upstream))
                })
            })
            .collect();
        let mut out: Vec<(String, Vec<f64>)> =
            tasks.into_iter().map(|t| rt.block_on(t).unwrap()).collect();
        out.extend(threads.into_iter().map(|t| t.join().unwrap()));
        out
    };
    let recorded = run_all(Mode::Record, fake.openai_url());
    assert_eq!(fake.requests().len(), 32);
    fake.stop();
    let replayed = run_all(Mode::Replay, fake.openai_url());
    assert_eq!(recorded, replayed);
    let store = recorder_runtime::store::Store::new(dir.path());
    for (i, (text, _)) in recorded.iter().enumerate() {
        let marker = format!("marker-{i:02}-end");
        assert!(
            text.contains(&marker),
            "context {i} got its own answer: {text}"
        );
        assert_eq!(text.matches("marker-").count(), 1, "{text}");
        let id = format!("proxy::isolation::ctx{i:02}");
        let files = recordings(&store.scope_dir(&id));
        assert_eq!(files.len(), 2, "{id}: {files:?}");
        for f in files {
            let v = read_json(&f);
            assert_eq!(v["test_id"], id.as_str());
            assert!(
                v.to_string().contains(&marker)
                    && v.to_string().matches("marker-").count()
                        == v.to_string().matches(&marker).count()
            );
        }
    }
    assert_eq!(recordings(dir.path()).len(), 32);
}

#[tokio::test]
async fn upstream_errors_are_recorded_and_replayed_with_their_status() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeUpstream::start();
    let http = http();
    let id = "proxy::errors::statuses";
    let missing = json!({"model": "missing-model", "stream": true, "messages": [{"role": "user", "content": "x"}]});
    let rec = fake_ctx(id, Mode::Record, dir.path(), &fake);
    let r = http
        .post(format!("{}/chat/completions", rec.base_url()))
        .json(&missing)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let recorded_404: Value = r.json().await.unwrap();
    let r = http
        .post(format!("{}api/chat", rec.ollama_url()))
        .json(&missing)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    fake.set_status(500);
    let r = http
        .post(format!("{}/embeddings", rec.base_url()))
        .json(&json!({"model": "fake-embed", "input": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 500);
    assert_clean(&rec);
    assert_eq!(rec.counts().recorded, 3);
    let statuses: Vec<u64> = recordings(&rec.scope_dir())
        .iter()
        .map(|f| read_json(f)["response"]["status"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses.iter().filter(|s| **s == 404).count(), 2);
    assert!(statuses.contains(&500));

    fake.stop();
    let rep = fake_ctx(id, Mode::Replay, dir.path(), &fake);
    let r = http
        .post(format!("{}/chat/completions", rep.base_url()))
        .json(&missing)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(r.json::<Value>().await.unwrap(), recorded_404);
    let r = http
        .post(format!("{}api/chat", rep.ollama_url()))
        .json(&missing)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert!(r.json::<Value>().await.unwrap()["error"]
        .as_str()
        .unwrap()
        .contains("not found"));
    let r = http
        .post(format!("{}/embeddings", rep.base_url()))
        .json(&json!({"model": "fake-embed", "input": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 500);
    assert_clean(&rep);
    assert_eq!(rep.counts().replayed, 3);
}

#[tokio::test]
async fn an_upstream_that_fails_mid_stream_records_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeUpstream::start();
    fake.set_fail_mid_stream(true);
    let rec = fake_ctx("proxy::errors::cut_stream", Mode::Record, dir.path(), &fake);
    let mut resp = http()
        .post(format!("{}/chat/completions", rec.base_url()))
        .json(&chat_body("cut", true))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let failed = loop {
        match resp.chunk().await {
            Ok(Some(_)) => continue,
            Ok(None) => break false,
            Err(_) => break true,
        }
    };
    assert!(failed, "the client sees the stream break");
    let problems = rec.finish();
    assert!(
        problems.iter().any(|p| p.contains("failed mid-response")),
        "{problems:?}"
    );
    assert!(files(dir.path()).is_empty(), "{:?}", files(dir.path()));
}

#[tokio::test]
async fn without_a_configured_key_the_client_authorization_passes_through_unstored() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeUpstream::start();
    let secret = "client-secret-xyz";
    let rec = fake_ctx(
        "proxy::secrets::client_key",
        Mode::Record,
        dir.path(),
        &fake,
    );
    let r = http()
        .post(format!("{}/chat/completions", rec.base_url()))
        .bearer_auth(secret)
        .json(&chat_body("streamed", true))
        .send()
        .await
        .unwrap();
    r.text().await.unwrap();
    assert_clean(&rec);
    assert_eq!(
        fake.requests()[0].header("authorization"),
        Some(format!("Bearer {secret}").as_str())
    );
    let all = files(dir.path());
    assert!(!all.is_empty());
    for file in all {
        let text = String::from_utf8_lossy(&std::fs::read(&file).unwrap()).into_owned();
        assert!(
            !text.contains(secret) && !text.to_lowercase().contains("authorization"),
            "{}",
            file.display()
        );
    }
}
