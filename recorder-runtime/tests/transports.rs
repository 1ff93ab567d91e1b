//! Every behaviour holds on every in-process transport: the async-openai tower
//! service (`ctx.openai_service()`), the reqwest middleware (`ctx.reqwest_client()`)
//! and the fixture client (`ctx.client()`). For each: plain and streamed replay (a
//! stream comes back frame by frame, while recording too), misses that explain
//! themselves and fail `ctx.finish()`, secrets kept off disk, a client that stops
//! reading early still leaving a full recording, and timing kept only when asked.
//!
//! The upstream is [`FakeUpstream`]; each test has its own, and its own folder.

use async_openai::config::OpenAIConfig;
use async_openai::types::chat::{
    ChatCompletionRequestUserMessageArgs, CreateChatCompletionRequest,
    CreateChatCompletionRequestArgs,
};
use futures::StreamExt;
use recorder_runtime::client::{ChatRequest, Message};
use recorder_runtime::engine::{Target, KEEP_TIMING_VAR, REPLAY_TIMING_VAR};
use recorder_runtime::recording::Recording;
use recorder_runtime::stream::{FrameParser, StreamFormat};
use recorder_runtime::{Mode, RecordingContext};
use recorder_testkit::fake::FakeUpstream;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const MODEL: &str = "fake-chat";
/// Where in-process clients send requests: nothing listens there, and nothing must.
const NOWHERE: &str = "http://in-process.invalid/v1";
/// The key a client sends on its own; it must never reach a file.
const CLIENT_KEY: &str = "client-placeholder-key";

/// Tests that set the timing variables take this lock (the environment is shared).
static ENV: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[derive(Clone, Copy, Debug, PartialEq)]
enum T {
    OpenAi,
    Middleware,
    Fixture,
}

impl T {
    fn name(self) -> &'static str {
        match self {
            T::OpenAi => "async_openai",
            T::Middleware => "reqwest_middleware",
            T::Fixture => "fixture_client",
        }
    }
}

fn target(upstream: Option<&FakeUpstream>, key_env: Option<&str>) -> Target {
    Target {
        setup: Some("fake".into()),
        base_url: upstream.map(|u| u.openai_url()),
        api_key_env: key_env.map(str::to_owned),
        ..Default::default()
    }
}

fn context(test: &str, mode: Mode, dir: &Path, target: Target) -> RecordingContext {
    RecordingContext::builder(test)
        .mode(mode)
        .dir(dir)
        .target(target)
        .test_filter(test.rsplit("::").next().unwrap())
        .build()
        .unwrap()
}

fn openai_request(
    prompt: &str,
    max_tokens: Option<u32>,
    stream: bool,
) -> CreateChatCompletionRequest {
    let mut args = CreateChatCompletionRequestArgs::default();
    args.model(MODEL)
        .messages([ChatCompletionRequestUserMessageArgs::default()
            .content(prompt)
            .build()
            .unwrap()
            .into()]);
    if let Some(n) = max_tokens {
        args.max_completion_tokens(n);
    }
    if stream {
        args.stream(true);
    }
    args.build().unwrap()
}

fn openai(ctx: &RecordingContext) -> async_openai::Client<OpenAIConfig> {
    async_openai::Client::with_config(
        OpenAIConfig::new()
            .with_api_base(NOWHERE)
            .with_api_key(CLIENT_KEY),
    )
    .with_http_service(ctx.openai_service())
}

fn raw_body(prompt: &str, max_tokens: Option<u32>, stream: bool) -> Vec<u8> {
    let mut body = json!({"model": MODEL, "messages": [{"role": "user", "content": prompt}]});
    if let Some(n) = max_tokens {
        body["max_tokens"] = n.into();
    }
    if stream {
        body["stream"] = true.into();
    }
    serde_json::to_vec(&body).unwrap()
}

fn fixture_request(prompt: &str, max_tokens: Option<u32>) -> ChatRequest {
    let req = ChatRequest::new(MODEL).message(Message::user(prompt));
    match max_tokens {
        Some(n) => req.max_tokens(n),
        None => req,
    }
}

/// One plain chat completion; the answer's text, or the error as text.
async fn chat(t: T, ctx: &RecordingContext, prompt: &str) -> Result<String, String> {
    match t {
        T::OpenAi => {
            let resp = openai(ctx)
                .chat()
                .create(openai_request(prompt, None, false))
                .await
                .map_err(|e| e.to_string())?;
            Ok(resp.choices[0].message.content.clone().unwrap_or_default())
        }
        T::Middleware => {
            let resp = ctx
                .reqwest_client()
                .post(format!("{NOWHERE}/chat/completions"))
                .header("content-type", "application/json")
                .header("authorization", format!("Bearer {CLIENT_KEY}"))
                .body(raw_body(prompt, None, false))
                .send()
                .await
                .map_err(|e| e.to_string())?;
            let status = resp.status();
            let body: Value = resp.json().await.map_err(|e| e.to_string())?;
            if !status.is_success() {
                return Err(format!(
                    "{status}: {}",
                    body["error"]["message"].as_str().unwrap_or_default()
                ));
            }
            Ok(body["choices"][0]["message"]["content"]
                .as_str()
                .unwrap_or_default()
                .to_owned())
        }
        T::Fixture => ctx
            .client()
            .chat(&fixture_request(prompt, None))
            .await
            .map(|c| c.text().to_owned())
            .map_err(|e| e.to_string()),
    }
}

/// What a client saw of a stream.
#[derive(Debug, Default)]
struct Seen {
    /// The content of each chunk (JSON data frame) in order.
    texts: Vec<String>,
    /// Body chunks as the transport delivered them (reqwest only: one per frame).
    body_chunks: usize,
    /// Whether the upstream had sent its whole stream when the first chunk arrived.
    upstream_done_at_first: Option<bool>,
    /// How long the first chunk took.
    first_after: Option<Duration>,
}

/// Streams a chat completion, stopping after `take` chunks when given (the stream
/// is then dropped, as a client that stops reading).
async fn chat_stream(
    t: T,
    ctx: &RecordingContext,
    prompt: &str,
    max_tokens: u32,
    take: Option<usize>,
    fake: Option<&FakeUpstream>,
) -> Result<Seen, String> {
    let start = Instant::now();
    let mut seen = Seen::default();
    let enough = |seen: &Seen| take.is_some_and(|n| seen.texts.len() >= n);
    let first = |seen: &mut Seen| {
        if seen.first_after.is_none() {
            seen.first_after = Some(start.elapsed());
            seen.upstream_done_at_first = fake.map(FakeUpstream::stream_finished);
        }
    };
    match t {
        T::OpenAi => {
            let mut s = openai(ctx)
                .chat()
                .create_stream(openai_request(prompt, Some(max_tokens), true))
                .await
                .map_err(|e| e.to_string())?;
            while let Some(item) = s.next().await {
                let item = item.map_err(|e| e.to_string())?;
                first(&mut seen);
                seen.texts.push(
                    item.choices
                        .first()
                        .and_then(|c| c.delta.content.clone())
                        .unwrap_or_default(),
                );
                if enough(&seen) {
                    break;
                }
            }
        }
        T::Middleware => {
            let resp = ctx
                .reqwest_client()
                .post(format!("{NOWHERE}/chat/completions"))
                .header("content-type", "application/json")
                .header("authorization", format!("Bearer {CLIENT_KEY}"))
                .body(raw_body(prompt, Some(max_tokens), true))
                .send()
                .await
                .map_err(|e| e.to_string())?;
            if !resp.status().is_success() {
                return Err(format!(
                    "{}: {}",
                    resp.status(),
                    resp.text().await.unwrap_or_default()
                ));
            }
            let mut parser = FrameParser::new(StreamFormat::Sse);
            let mut body = resp.bytes_stream();
            'read: while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(|e| e.to_string())?;
                first(&mut seen);
                seen.body_chunks += 1;
                for frame in parser.push(&chunk) {
                    if let Some(data) = frame.data.filter(|d| d.is_object()) {
                        seen.texts.push(
                            data["choices"][0]["delta"]["content"]
                                .as_str()
                                .unwrap_or_default()
                                .to_owned(),
                        );
                        if enough(&seen) {
                            break 'read;
                        }
                    }
                }
            }
        }
        T::Fixture => {
            let mut s = ctx
                .client()
                .chat_stream(&fixture_request(prompt, Some(max_tokens)))
                .await
                .map_err(|e| e.to_string())?;
            while let Some(item) = s.next().await {
                let item = item.map_err(|e| e.to_string())?;
                first(&mut seen);
                seen.texts.push(item.text().to_owned());
                if enough(&seen) {
                    break;
                }
            }
        }
    }
    Ok(seen)
}

/// The recording files of a context's test.
fn recordings(ctx: &RecordingContext) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(ctx.scope_dir())
        .map(|d| {
            d.map(|e| e.unwrap().path())
                .filter(|p| p.extension().is_some_and(|x| x == "json"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

fn only_recording(ctx: &RecordingContext) -> (PathBuf, Recording) {
    let files = recordings(ctx);
    assert_eq!(files.len(), 1, "one recording expected: {files:?}");
    let rec = Recording::read(&files[0]).unwrap();
    (files[0].clone(), rec)
}

fn test_id(t: T, name: &str) -> String {
    format!("transports::{}::{name}", t.name())
}

async fn replays_plain_and_stream_frame_by_frame(t: T) {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeUpstream::start();
    let id = test_id(t, "replays");
    let rec = context(
        &id,
        Mode::RecordIfMissing,
        dir.path(),
        target(Some(&fake), None),
    );
    let plain = chat(t, &rec, "What is the capital of France?")
        .await
        .unwrap();
    let streamed = chat_stream(t, &rec, "Count to ten please", 6, None, None)
        .await
        .unwrap();
    assert!(plain.contains("capital of France"), "{plain}");
    assert!(streamed.texts.len() >= 6, "{streamed:?}");
    assert!(rec.finish().is_empty(), "{:?}", rec.finish());
    assert_eq!(rec.counts().recorded, 2);
    assert_eq!(recordings(&rec).len(), 2);
    fake.stop();

    // Replay: no upstream at all, the same answers, the stream frame by frame.
    let replay = context(&id, Mode::Replay, dir.path(), target(None, None));
    assert_eq!(
        chat(t, &replay, "What is the capital of France?")
            .await
            .unwrap(),
        plain
    );
    let again = chat_stream(t, &replay, "Count to ten please", 6, None, None)
        .await
        .unwrap();
    assert_eq!(again.texts, streamed.texts);
    if t == T::Middleware {
        // One body chunk per recorded frame: the data frames and `[DONE]`.
        assert_eq!(again.body_chunks, streamed.texts.len() + 1, "{again:?}");
    }
    assert_eq!(replay.counts().replayed, 2);
    assert!(replay.finish().is_empty(), "{:?}", replay.finish());
    assert_eq!(fake.requests().len(), 2, "replay never calls the upstream");
}

async fn records_streams_frame_by_frame(t: T) {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeUpstream::start();
    fake.set_chunk_delay(Duration::from_millis(60));
    let ctx = context(
        &test_id(t, "passes_through"),
        Mode::Record,
        dir.path(),
        target(Some(&fake), None),
    );
    let seen = chat_stream(t, &ctx, "Tell me a story", 8, None, Some(&fake))
        .await
        .unwrap();
    // The first chunk reached the client while the upstream was still sending.
    assert_eq!(seen.upstream_done_at_first, Some(false), "{seen:?}");
    assert!(seen.texts.len() >= 8, "{seen:?}");
    if t == T::Middleware {
        assert!(seen.body_chunks >= 9, "{seen:?}");
    }
    assert!(ctx.finish().is_empty(), "{:?}", ctx.finish());
    let (_, rec) = only_recording(&ctx);
    assert_eq!(
        rec.response.stream.as_ref().unwrap().frames.len(),
        seen.texts.len() + 1
    );
}

async fn miss_is_explained_and_fails_finish(t: T) {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeUpstream::start();
    let id = test_id(t, "misses");
    let rec = context(
        &id,
        Mode::RecordIfMissing,
        dir.path(),
        target(Some(&fake), None),
    );
    chat(t, &rec, "hello there").await.unwrap();
    assert!(rec.finish().is_empty());

    let replay = context(&id, Mode::Replay, dir.path(), target(None, None));
    let err = chat(t, &replay, "hello where").await.unwrap_err();
    for needle in [
        "no recording for POST /v1/chat/completions",
        id.as_str(),
        "closest recording",
        "hello there",
        "hello where",
        "RECORD_MODE=record-if-missing cargo test misses",
    ] {
        assert!(
            err.contains(needle),
            "{t:?}: the client's error lacks {needle:?}:\n{err}"
        );
    }
    let problems = replay.finish();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].contains("no recording for POST /v1/chat/completions")
            && problems[0].contains("hello where"),
        "{problems:?}"
    );
    assert_eq!(replay.counts().missed, 1);

    // A streamed miss is explained the same way.
    let replay = context(&id, Mode::Replay, dir.path(), target(None, None));
    let err = chat_stream(t, &replay, "never recorded", 3, None, None)
        .await
        .unwrap_err();
    assert!(
        err.contains("no recording for POST /v1/chat/completions"),
        "{err}"
    );
    assert!(!replay.finish().is_empty());
}

async fn secrets_stay_off_disk(t: T) {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeUpstream::start();
    let var = format!("TRANSPORTS_TEST_KEY_{}", t.name().to_uppercase());
    let key = format!("sk-transports-{}-0123456789abcdef", t.name());
    std::env::set_var(&var, &key);
    let ctx = context(
        &test_id(t, "secrets"),
        Mode::Record,
        dir.path(),
        target(Some(&fake), Some(&var)),
    );
    chat(t, &ctx, "Is my key safe?").await.unwrap();
    chat_stream(t, &ctx, "Stream with my key", 4, None, None)
        .await
        .unwrap();
    assert!(ctx.finish().is_empty(), "{:?}", ctx.finish());

    // The upstream got the real key (the client's own was replaced)...
    let sent = fake.requests();
    assert_eq!(sent.len(), 2);
    for r in &sent {
        assert_eq!(
            r.header("authorization"),
            Some(format!("Bearer {key}").as_str()),
            "{t:?}"
        );
    }
    // ...and no file holds it, nor the client's key, nor any auth header.
    let files = recordings(&ctx);
    assert_eq!(files.len(), 2);
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap().to_lowercase();
        assert!(
            !text.contains(&key.to_lowercase()),
            "{} holds the key",
            f.display()
        );
        assert!(
            !text.contains(CLIENT_KEY),
            "{} holds the client's key",
            f.display()
        );
        assert!(
            !text.contains("authorization") && !text.contains("bearer"),
            "{} holds an auth header",
            f.display()
        );
    }
}

async fn early_stop_leaves_a_full_recording(t: T) {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeUpstream::start();
    fake.set_chunk_delay(Duration::from_millis(25));
    let id = test_id(t, "early_stop");
    let ctx = context(&id, Mode::Record, dir.path(), target(Some(&fake), None));
    let seen = chat_stream(t, &ctx, "a long answer please", 12, Some(2), Some(&fake))
        .await
        .unwrap();
    assert_eq!(seen.texts.len(), 2);
    // The client has gone; the recording completes in the background.
    assert!(ctx.finish().is_empty(), "{:?}", ctx.finish());
    assert!(
        fake.stream_finished(),
        "the upstream's stream was read to its end"
    );
    let (_, rec) = only_recording(&ctx);
    let frames = &rec.response.stream.as_ref().unwrap().frames;
    // The role chunk, 12 pieces, the finish chunk and [DONE].
    assert_eq!(frames.len(), 15, "{frames:?}");
    assert_eq!(frames.last().unwrap().data, Some(json!("[DONE]")));

    let replay = context(&id, Mode::Replay, dir.path(), target(None, None));
    let all = chat_stream(t, &replay, "a long answer please", 12, None, None)
        .await
        .unwrap();
    assert_eq!(all.texts.len(), 14);
    assert_eq!(all.texts[..2], seen.texts[..]);
}

async fn timing_is_opt_in(t: T) {
    let _env = ENV.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeUpstream::start();
    fake.set_chunk_delay(Duration::from_millis(40));

    std::env::remove_var(KEEP_TIMING_VAR);
    let plain = context(
        &test_id(t, "untimed"),
        Mode::Record,
        dir.path(),
        target(Some(&fake), None),
    );
    chat_stream(t, &plain, "no timing", 3, None, None)
        .await
        .unwrap();
    assert!(plain.finish().is_empty());
    let (_, rec) = only_recording(&plain);
    assert!(
        rec.response
            .stream
            .unwrap()
            .frames
            .iter()
            .all(|f| f.delay_ms.is_none()),
        "timing is kept only when asked"
    );

    std::env::set_var(KEEP_TIMING_VAR, "1");
    let id = test_id(t, "timed");
    let timed = context(&id, Mode::Record, dir.path(), target(Some(&fake), None));
    chat_stream(t, &timed, "with timing", 3, None, None)
        .await
        .unwrap();
    std::env::remove_var(KEEP_TIMING_VAR);
    assert!(timed.finish().is_empty());
    let (_, rec) = only_recording(&timed);
    let delays: Vec<u64> = rec
        .response
        .stream
        .unwrap()
        .frames
        .iter()
        .map(|f| f.delay_ms.expect("every frame timed"))
        .collect();
    let total: u64 = delays.iter().sum();
    assert!(total >= 150, "{delays:?}");

    // Replayed at full speed by default, at the recorded pace when asked.
    let fast = context(&id, Mode::Replay, dir.path(), target(None, None));
    let start = Instant::now();
    chat_stream(t, &fast, "with timing", 3, None, None)
        .await
        .unwrap();
    assert!(
        start.elapsed() < Duration::from_millis(total / 2),
        "{:?} for {total} ms of recorded delays",
        start.elapsed()
    );
    std::env::set_var(REPLAY_TIMING_VAR, "recorded");
    let paced = context(&id, Mode::Replay, dir.path(), target(None, None));
    let start = Instant::now();
    chat_stream(t, &paced, "with timing", 3, None, None)
        .await
        .unwrap();
    std::env::remove_var(REPLAY_TIMING_VAR);
    assert!(
        start.elapsed() >= Duration::from_millis(total * 8 / 10),
        "{:?} for {total} ms of recorded delays",
        start.elapsed()
    );
}

macro_rules! per_transport {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            use super::T;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn async_openai() {
                super::$name(T::OpenAi).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn reqwest_middleware() {
                super::$name(T::Middleware).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn fixture_client() {
                super::$name(T::Fixture).await
            }
        }
    )*};
}

per_transport!(
    replays_plain_and_stream_frame_by_frame,
    records_streams_frame_by_frame,
    miss_is_explained_and_fails_finish,
    secrets_stay_off_disk,
    early_stop_leaves_a_full_recording,
    timing_is_opt_in
);

/// A streamed request body over the test's `RECORDER_MAX_BODY_BYTES` (here from its
/// setup's `env`) gets the proxy's 413 answer in process too, and fails the test.
#[tokio::test]
async fn an_oversized_streamed_body_is_a_413_and_a_problem() {
    let fake = FakeUpstream::start();
    let dir = tempfile::tempdir().unwrap();
    let target = Target {
        base_url: Some(fake.openai_url()),
        setup: Some("small".into()),
        env: [("RECORDER_MAX_BODY_BYTES".to_string(), "64".to_string())].into(),
        ..Default::default()
    };
    let ctx = context("transports::oversized", Mode::Record, dir.path(), target);
    let chunks = futures::stream::iter(
        (0..4).map(|_| Ok::<_, std::io::Error>(bytes::Bytes::from(vec![b'x'; 32]))),
    );
    let answer = ctx
        .reqwest_client()
        .post(format!("{}/files", fake.openai_url()))
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 413);
    assert!(fake.requests().is_empty(), "nothing went upstream");
    let problems = ctx.finish();
    assert!(
        problems
            .iter()
            .any(|p| p.contains("RECORDER_MAX_BODY_BYTES")),
        "{problems:?}"
    );
}
