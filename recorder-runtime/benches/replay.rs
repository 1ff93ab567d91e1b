//! Replay latency, measured against the floor.
//!
//! One chat completion is recorded (through async-openai, against the fake upstream),
//! plain and streamed (100 chunks, then `[DONE]`). Then, per request:
//!
//! - `plain/floor`, `stream100/floor`: async-openai against a bare hyper server on
//!   loopback that answers with the same bytes; nothing can be faster over a socket.
//! - `.../proxy`: async-openai against the recorder's loopback proxy (`ctx.base_url()`).
//! - `.../in_process`: async-openai with `ctx.openai_service()` (no socket).
//! - `.../reqwest_middleware`: reqwest-middleware with `ctx.middleware()`, the same
//!   request bytes, body read to the end.
//! - `.../engine`: the engine alone (`Client::send`), body read to the end.
//! - `.../fixture`: the fixture client's typed path (`ctx.client().post_json` /
//!   `post_stream` into async-openai's response types): the request serialized,
//!   replayed by the engine, the answer decoded. In process with parsing included.
//! - `.../stub_service`: async-openai with a tower service that answers the same
//!   bytes at once (no engine, no socket): what the client itself costs in process.
//! - `.../parse_only`: async-openai's typed structs parsing the same response bytes
//!   (for a stream: each event's data), no I/O at all.
//! - `lookup/10`, `lookup/10000`: the engine serving one of 10 or of 10,000
//!   recordings of the same test scope.
//! - `load_scope/10`, `load_scope/10000`: loading that scope into memory (once per test).
//!
//! `cargo bench -p recorder-runtime --bench replay` (add `-- --measurement-time 1
//! --warm-up-time 0.5` for a quick look). Results: docs/performance.md.

#[path = "support/floor.rs"]
mod floor;

use async_openai::config::OpenAIConfig;
use async_openai::types::chat::{
    ChatCompletionRequestUserMessageArgs, CreateChatCompletionRequest,
    CreateChatCompletionRequestArgs, CreateChatCompletionResponse,
    CreateChatCompletionStreamResponse,
};
use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use futures::StreamExt;
use recorder_runtime::engine::{EngineRequest, Target};
use recorder_runtime::identity::RequestIdentity;
use recorder_runtime::recording::{RecordedRequest, RecordedResponse, Recording};
use recorder_runtime::store::{RecordingKey, ReplayBody, Store};
use recorder_runtime::{Mode, RecordingContext};
use recorder_testkit::fake::FakeUpstream;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;
use std::time::Duration;

const TEST_ID: &str = "bench::replay::chat";
const ENDPOINT: &str = "/v1/chat/completions";

/// Everything the benches share, set up once.
struct Setup {
    _dir: tempfile::TempDir,
    root: PathBuf,
    plain_req: CreateChatCompletionRequest,
    stream_req: CreateChatCompletionRequest,
    plain_bytes: Bytes,
    stream_frames: Vec<Bytes>,
    replay: RecordingContext,
    floor: floor::Floor,
}

fn prompt(words: usize) -> String {
    (0..words)
        .map(|i| format!("word{i}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn request(stream: bool) -> CreateChatCompletionRequest {
    let mut args = CreateChatCompletionRequestArgs::default();
    args.model("fake-chat").temperature(0.0).messages([
        ChatCompletionRequestUserMessageArgs::default()
            .content(prompt(100))
            .build()
            .unwrap()
            .into(),
    ]);
    if stream {
        // The role chunk, 98 words and the finish chunk: 100 chunks, then [DONE].
        args.stream(true).max_completion_tokens(98u32);
    }
    args.build().unwrap()
}

fn openai_at(base: &str) -> async_openai::Client<OpenAIConfig> {
    async_openai::Client::with_config(
        OpenAIConfig::new()
            .with_api_base(base)
            .with_api_key("unused"),
    )
}

fn in_process(ctx: &RecordingContext) -> async_openai::Client<OpenAIConfig> {
    openai_at("http://in-process.invalid/v1").with_http_service(ctx.openai_service())
}

fn context(root: &Path, test_id: &str, mode: Mode, target: Target) -> RecordingContext {
    RecordingContext::builder(test_id)
        .mode(mode)
        .dir(root)
        .target(target)
        .build()
        .unwrap()
}

static SETUP: LazyLock<Setup> = LazyLock::new(|| {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("recordings");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let fake = FakeUpstream::start();
    let target = Target {
        base_url: Some(fake.openai_url()),
        ..Default::default()
    };
    let rec = context(&root, TEST_ID, Mode::Record, target);
    let (plain_req, stream_req) = (request(false), request(true));
    rt.block_on(async {
        let client = in_process(&rec);
        client.chat().create(plain_req.clone()).await.unwrap();
        let mut s = client
            .chat()
            .create_stream(stream_req.clone())
            .await
            .unwrap();
        let mut n = 0;
        while let Some(c) = s.next().await {
            c.unwrap();
            n += 1;
        }
        assert_eq!(n, 100, "the recorded stream has 100 chunks");
    });
    assert!(rec.finish().is_empty(), "{:?}", rec.finish());
    fake.stop();

    // The floor serves exactly the bytes a replay serves.
    let scope = Store::new(&root).load_scope(TEST_ID).unwrap();
    let (mut plain_bytes, mut stream_frames) = (Bytes::new(), Vec::new());
    for r in scope.replays() {
        match &r.body {
            ReplayBody::Full(b) => plain_bytes = b.clone(),
            ReplayBody::Frames { frames, .. } => {
                stream_frames = frames.iter().map(|(b, _)| b.clone()).collect()
            }
        }
    }
    assert_eq!(stream_frames.len(), 101);
    let floor = floor::Floor::start(plain_bytes.clone(), stream_frames.clone());
    let replay = context(&root, TEST_ID, Mode::Replay, Target::default());
    write_lookup_scopes(&root);
    Setup {
        _dir: dir,
        root,
        plain_req,
        stream_req,
        plain_bytes,
        stream_frames,
        replay,
        floor,
    }
});

fn lookup_test_id(n: usize) -> String {
    format!("bench::lookup::n{n}")
}

fn lookup_body(i: usize) -> Vec<u8> {
    format!(r#"{{"model":"fake-chat","messages":[{{"role":"user","content":"question number {i}"}}],"temperature":0.0}}"#).into_bytes()
}

/// Scopes of 10 and of 10,000 recordings (plain chat completions).
fn write_lookup_scopes(root: &Path) {
    let store = Store::new(root);
    for n in [10usize, 10_000] {
        let test_id = lookup_test_id(n);
        std::fs::create_dir_all(store.scope_dir(&test_id)).unwrap();
        for i in 0..n {
            let body = lookup_body(i);
            let ident = RequestIdentity::new("POST", ENDPOINT, &body, &[], Some(&test_id));
            let hash = ident.hash();
            let answer = format!(
                r#"{{"id":"rec-{i}","object":"chat.completion","created":0,"model":"fake-chat","choices":[{{"index":0,"message":{{"role":"assistant","content":"answer number {i}"}},"finish_reason":"stop"}}],"usage":{{"prompt_tokens":3,"completion_tokens":3,"total_tokens":6}}}}"#
            );
            let rec = Recording {
                test_id: Some(test_id.clone()),
                request: RecordedRequest {
                    method: "POST".into(),
                    endpoint: ENDPOINT.into(),
                    model: Some("fake-chat".into()),
                    body: ident.body().clone(),
                },
                response: RecordedResponse::plain(200, Some("application/json"), answer.as_bytes()),
            };
            // Plain writes: the atomic write's fsync would only slow the setup down.
            std::fs::write(
                store.recording_path(&test_id, &RecordingKey::first(hash)),
                rec.to_pretty_bytes(),
            )
            .unwrap();
        }
    }
}

/// A tower service for async-openai that answers every request with fixed bytes.
#[derive(Clone)]
struct Stub {
    plain: Bytes,
    frames: std::sync::Arc<Vec<Bytes>>,
}

impl tower::Service<async_openai::middleware::HttpRequestFactory> for Stub {
    type Response = reqwest::Response;
    type Error = async_openai::error::OpenAIError;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<reqwest::Response, Self::Error>> + Send>,
    >;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, factory: async_openai::middleware::HttpRequestFactory) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            let req = factory.build().await?;
            let streamed = req
                .body()
                .and_then(|b| b.as_bytes())
                .is_some_and(|b| b.windows(13).any(|w| w == b"\"stream\":true"));
            let resp = if streamed {
                let frames: Vec<Result<Bytes, std::io::Error>> =
                    this.frames.iter().cloned().map(Ok).collect();
                http::Response::builder()
                    .status(200)
                    .header("content-type", "text/event-stream")
                    .body(reqwest::Body::wrap_stream(futures::stream::iter(frames)))
                    .unwrap()
            } else {
                http::Response::builder()
                    .status(200)
                    .header("content-type", "application/json")
                    .body(reqwest::Body::from(this.plain.clone()))
                    .unwrap()
            };
            Ok(reqwest::Response::from(resp))
        })
    }
}

fn client_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

async fn drain_openai_stream(
    client: &async_openai::Client<OpenAIConfig>,
    req: &CreateChatCompletionRequest,
) -> usize {
    let mut s = client.chat().create_stream(req.clone()).await.unwrap();
    let mut n = 0;
    while let Some(c) = s.next().await {
        black_box(c.unwrap());
        n += 1;
    }
    n
}

fn plain(c: &mut Criterion) {
    let s = &*SETUP;
    let rt = client_runtime();
    let floor = openai_at(&s.floor.url());
    let proxy = openai_at(&s.replay.base_url());
    let inproc = in_process(&s.replay);
    let stub = openai_at("http://in-process.invalid/v1").with_http_service(Stub {
        plain: s.plain_bytes.clone(),
        frames: std::sync::Arc::new(s.stream_frames.clone()),
    });
    let middleware = s.replay.reqwest_client();
    let engine = s.replay.client();
    let body = Bytes::from(serde_json::to_vec(&s.plain_req).unwrap());
    let mut g = c.benchmark_group("plain");
    g.bench_function("stub_service", |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(stub.chat().create(s.plain_req.clone()).await.unwrap()) })
    });
    g.bench_function("floor", |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(floor.chat().create(s.plain_req.clone()).await.unwrap()) })
    });
    g.bench_function("proxy", |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(proxy.chat().create(s.plain_req.clone()).await.unwrap()) })
    });
    g.bench_function("in_process", |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(inproc.chat().create(s.plain_req.clone()).await.unwrap()) })
    });
    g.bench_function("reqwest_middleware", |b| {
        b.to_async(&rt).iter(|| async {
            let resp = middleware
                .post("http://in-process.invalid/v1/chat/completions")
                .header("content-type", "application/json")
                .body(body.clone())
                .send()
                .await
                .unwrap();
            black_box(resp.bytes().await.unwrap())
        })
    });
    g.bench_function("engine", |b| {
        b.to_async(&rt).iter(|| async {
            black_box(
                engine
                    .send(EngineRequest::post(ENDPOINT, body.clone()))
                    .await
                    .unwrap()
                    .bytes()
                    .await
                    .unwrap(),
            )
        })
    });
    g.bench_function("fixture", |b| {
        b.to_async(&rt).iter(|| async {
            black_box(
                engine
                    .post_json::<CreateChatCompletionResponse>(ENDPOINT, &s.plain_req)
                    .await
                    .unwrap(),
            )
        })
    });
    g.bench_function("parse_only", |b| {
        b.iter(|| {
            black_box(
                serde_json::from_slice::<CreateChatCompletionResponse>(&s.plain_bytes).unwrap(),
            )
        })
    });
    g.finish();
    assert!(s.replay.finish().is_empty(), "{:?}", s.replay.finish());
}

fn stream100(c: &mut Criterion) {
    let s = &*SETUP;
    let rt = client_runtime();
    let floor = openai_at(&s.floor.url());
    let proxy = openai_at(&s.replay.base_url());
    let inproc = in_process(&s.replay);
    let stub = openai_at("http://in-process.invalid/v1").with_http_service(Stub {
        plain: s.plain_bytes.clone(),
        frames: std::sync::Arc::new(s.stream_frames.clone()),
    });
    let middleware = s.replay.reqwest_client();
    let engine = s.replay.client();
    let body = Bytes::from(serde_json::to_vec(&s.stream_req).unwrap());
    let mut g = c.benchmark_group("stream100");
    g.bench_function("stub_service", |b| {
        b.to_async(&rt)
            .iter(|| drain_openai_stream(&stub, &s.stream_req))
    });
    g.bench_function("floor", |b| {
        b.to_async(&rt)
            .iter(|| drain_openai_stream(&floor, &s.stream_req))
    });
    g.bench_function("proxy", |b| {
        b.to_async(&rt)
            .iter(|| drain_openai_stream(&proxy, &s.stream_req))
    });
    g.bench_function("in_process", |b| {
        b.to_async(&rt)
            .iter(|| drain_openai_stream(&inproc, &s.stream_req))
    });
    g.bench_function("reqwest_middleware", |b| {
        b.to_async(&rt).iter(|| async {
            let resp = middleware
                .post("http://in-process.invalid/v1/chat/completions")
                .header("content-type", "application/json")
                .body(body.clone())
                .send()
                .await
                .unwrap();
            let mut chunks = resp.bytes_stream();
            let mut n = 0;
            while let Some(c) = chunks.next().await {
                n += black_box(c.unwrap()).len();
            }
            n
        })
    });
    g.bench_function("engine", |b| {
        b.to_async(&rt).iter(|| async {
            black_box(
                engine
                    .send(EngineRequest::post(ENDPOINT, body.clone()))
                    .await
                    .unwrap()
                    .bytes()
                    .await
                    .unwrap(),
            )
        })
    });
    g.bench_function("fixture", |b| {
        b.to_async(&rt).iter(|| async {
            let mut chunks = engine
                .post_stream::<CreateChatCompletionStreamResponse>(ENDPOINT, &s.stream_req)
                .await
                .unwrap();
            let mut n = 0;
            while let Some(c) = chunks.next().await {
                black_box(c.unwrap());
                n += 1;
            }
            assert_eq!(n, 100);
        })
    });
    g.bench_function("parse_only", |b| {
        b.iter(|| {
            for f in &s.stream_frames {
                let data = f.strip_prefix(b"data: ").unwrap_or(f).trim_ascii_end();
                if data != b"[DONE]" {
                    black_box(
                        serde_json::from_slice::<CreateChatCompletionStreamResponse>(data).unwrap(),
                    );
                }
            }
        })
    });
    g.finish();
    assert!(s.replay.finish().is_empty(), "{:?}", s.replay.finish());
}

fn lookup(c: &mut Criterion) {
    let s = &*SETUP;
    let rt = client_runtime();
    let bodies: Vec<Bytes> = (0..10).map(|i| Bytes::from(lookup_body(i))).collect();
    let mut g = c.benchmark_group("lookup");
    for n in [10usize, 10_000] {
        let ctx = context(&s.root, &lookup_test_id(n), Mode::Replay, Target::default());
        let client = ctx.client();
        // Loads the scope (once per test), outside the measurement.
        rt.block_on(client.send(EngineRequest::post(ENDPOINT, bodies[0].clone())))
            .unwrap();
        let mut i = 0;
        g.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.to_async(&rt).iter(|| {
                i = (i + 1) % bodies.len();
                let body = bodies[i].clone();
                let client = &client;
                async move {
                    black_box(
                        client
                            .send(EngineRequest::post(ENDPOINT, body))
                            .await
                            .unwrap()
                            .bytes()
                            .await
                            .unwrap(),
                    )
                }
            })
        });
        assert!(ctx.finish().is_empty(), "{:?}", ctx.finish());
        assert_eq!(ctx.counts().missed, 0);
    }
    g.finish();

    let store = Store::new(&s.root);
    let mut g = c.benchmark_group("load_scope");
    g.sample_size(10);
    for n in [10usize, 10_000] {
        let test_id = lookup_test_id(n);
        g.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter(|| black_box(store.load_scope(&test_id).unwrap().len()))
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1)).sample_size(50);
    targets = plain, stream100, lookup
}
criterion_main!(benches);
