//! The Rust side of `scripts/compare-peers.sh`: one recorded chat completion (plain,
//! and streamed as 100 chunks), replayed by every peer in one run.
//!
//! - the floor: async-openai against a bare hyper server answering the same bytes;
//! - ours through the loopback proxy (async-openai at `ctx.base_url()`);
//! - ours in process: async-openai with `ctx.openai_service()`, and reqwest-middleware
//!   with `ctx.middleware()`;
//! - reqwest-vcr 0.4 (reqwest-middleware, a cassette recorded from the floor);
//! - vcrpy + openai-python, run by `vcrpy_bench.py` when `--python` is given.
//!
//! Each peer sends requests one after another for `--seconds`; peers compared with each
//! other run in alternating 200 ms slices. The output is one line per measurement
//! (requests per second and p50 latency), then the ratios.
//!
//! `recorder-peers memory <N> <dir>` is a child mode: it replays one test's recording
//! 2,000 times with `N` other recordings in the folder and prints its peak RSS.

#[path = "../../../recorder-runtime/benches/support/floor.rs"]
mod floor;

use async_openai::config::OpenAIConfig;
use async_openai::types::chat::{
    ChatCompletionRequestSystemMessageArgs, ChatCompletionRequestUserMessageArgs,
    CreateChatCompletionRequest, CreateChatCompletionRequestArgs, CreateChatCompletionResponse,
    CreateChatCompletionStreamResponse,
};
use bytes::Bytes;
use futures::StreamExt;
use recorder_runtime::engine::{EngineRequest, Target};
use recorder_runtime::identity::RequestIdentity;
use recorder_runtime::recording::{RecordedRequest, RecordedResponse, Recording};
use recorder_runtime::store::{RecordingKey, ReplayBody, Store};
use recorder_runtime::stream::{parse, StreamFormat};
use recorder_runtime::{Mode, RecordingContext};
use reqwest_middleware::ClientWithMiddleware;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const TEST_ID: &str = "peers::replay::chat";
const ENDPOINT: &str = "/v1/chat/completions";
const MODEL: &str = "gpt-4o-mini";

fn request(stream: bool) -> CreateChatCompletionRequest {
    let mut args = CreateChatCompletionRequestArgs::default();
    args.model(MODEL)
        .temperature(0.0)
        .max_completion_tokens(128u32)
        .messages([
            ChatCompletionRequestSystemMessageArgs::default()
                .content("You are a concise assistant.")
                .build()
                .unwrap()
                .into(),
            ChatCompletionRequestUserMessageArgs::default()
                .content("Name the three primary colors and say one thing about each.")
                .build()
                .unwrap()
                .into(),
        ]);
    if stream {
        args.stream(true);
    }
    args.build().unwrap()
}

const ANSWER: &str = "Red, yellow and blue. Red is the color of warning signs and ripe strawberries; yellow is the brightest of the three and the color of sunflowers; blue is the color of a clear sky and of deep water.";

fn completion() -> serde_json::Value {
    serde_json::json!({
        "id": "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT",
        "object": "chat.completion",
        "created": 1741569952,
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": ANSWER, "refusal": null, "annotations": []},
            "logprobs": null,
            "finish_reason": "stop"
        }],
        "usage": {
            "prompt_tokens": 27, "completion_tokens": 45, "total_tokens": 72,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0, "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}
        },
        "service_tier": "default",
        "system_fingerprint": "fp_06737a9306"
    })
}

/// 100 chunks (the role, 98 pieces of text, the finish) and `[DONE]`, as SSE.
fn stream_wire() -> Vec<u8> {
    let words: Vec<String> = ANSWER.split_inclusive(' ').map(str::to_owned).collect();
    let chunk = |delta: serde_json::Value, finish: serde_json::Value| serde_json::json!({"id": "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT", "object": "chat.completion.chunk", "created": 1741569952, "model": "gpt-4o-mini-2024-07-18", "service_tier": "default", "system_fingerprint": "fp_06737a9306", "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]});
    let mut events = vec![chunk(
        serde_json::json!({"role": "assistant", "content": "", "refusal": null}),
        serde_json::Value::Null,
    )];
    for i in 0..98 {
        events.push(chunk(
            serde_json::json!({"content": words[i % words.len()]}),
            serde_json::Value::Null,
        ));
    }
    events.push(chunk(serde_json::json!({}), "stop".into()));
    let mut wire = Vec::new();
    for e in events {
        wire.extend_from_slice(format!("data: {e}\n\n").as_bytes());
    }
    wire.extend_from_slice(b"data: [DONE]\n\n");
    wire
}

/// Writes this recorder's recordings of both requests; returns what a replay serves.
fn write_ours(root: &Path) -> (Bytes, Vec<Bytes>) {
    let store = Store::new(root);
    for stream in [false, true] {
        let body = serde_json::to_vec(&request(stream)).unwrap();
        let ident = RequestIdentity::new("POST", ENDPOINT, &body, &[], Some(TEST_ID));
        let response = if stream {
            let frames = parse(StreamFormat::Sse, &stream_wire()).unwrap();
            RecordedResponse::streamed(200, StreamFormat::Sse, frames)
        } else {
            RecordedResponse::plain(
                200,
                Some("application/json"),
                completion().to_string().as_bytes(),
            )
        };
        let rec = Recording {
            test_id: Some(TEST_ID.into()),
            request: RecordedRequest {
                method: "POST".into(),
                endpoint: ENDPOINT.into(),
                model: Some(MODEL.into()),
                body: ident.body().clone(),
            },
            response,
        };
        store
            .write(&rec, &RecordingKey::first(ident.hash()))
            .unwrap();
    }
    let scope = store.load_scope(TEST_ID).unwrap();
    let (mut plain, mut frames) = (Bytes::new(), Vec::new());
    for r in scope.replays() {
        match &r.body {
            ReplayBody::Full(b) => plain = b.clone(),
            ReplayBody::Frames { frames: f, .. } => {
                frames = f.iter().map(|(b, _)| b.clone()).collect()
            }
        }
    }
    assert_eq!(frames.len(), 101);
    (plain, frames)
}

fn openai_at(base: &str) -> async_openai::Client<OpenAIConfig> {
    async_openai::Client::with_config(
        OpenAIConfig::new()
            .with_api_base(base)
            .with_api_key("unused"),
    )
}

/// One measurement: requests per second and latency percentiles.
#[derive(Debug, Clone, Copy)]
struct Measured {
    rps: f64,
    p50_us: f64,
    p99_us: f64,
}

/// Measures two peers in alternating slices of 200 ms for `secs` each, so that a change
/// in the machine's load during the run weighs on both alike, and prints a line for each.
async fn measure_pair<FA, FutA, FB, FutB>(
    secs: f64,
    names: [&str; 2],
    mut a: FA,
    mut b: FB,
) -> (Measured, Measured)
where
    FA: FnMut() -> FutA,
    FutA: Future<Output = usize>,
    FB: FnMut() -> FutB,
    FutB: Future<Output = usize>,
{
    let warm = Instant::now();
    while warm.elapsed() < Duration::from_millis(300) {
        a().await;
        b().await;
    }
    let slice = Duration::from_millis(200);
    let rounds = ((secs / slice.as_secs_f64()).ceil() as usize).max(1);
    let (mut la, mut lb) = (Vec::new(), Vec::new());
    let (mut ta, mut tb) = (Duration::ZERO, Duration::ZERO);
    for _ in 0..rounds {
        let start = Instant::now();
        while start.elapsed() < slice {
            let t = Instant::now();
            std::hint::black_box(a().await);
            la.push(t.elapsed());
        }
        ta += start.elapsed();
        let start = Instant::now();
        while start.elapsed() < slice {
            let t = Instant::now();
            std::hint::black_box(b().await);
            lb.push(t.elapsed());
        }
        tb += start.elapsed();
    }
    let (ma, mb) = (summarize(la, ta), summarize(lb, tb));
    line(names[0], ma);
    line(names[1], mb);
    (ma, mb)
}

fn summarize(mut lat: Vec<Duration>, total: Duration) -> Measured {
    lat.sort();
    let pct =
        |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)].as_secs_f64() * 1e6;
    Measured {
        rps: lat.len() as f64 / total.as_secs_f64(),
        p50_us: pct(0.5),
        p99_us: pct(0.99),
    }
}

async fn create_openai(
    client: &async_openai::Client<OpenAIConfig>,
    req: &CreateChatCompletionRequest,
) -> usize {
    client
        .chat()
        .create(req.clone())
        .await
        .unwrap()
        .choices
        .len()
}

async fn drain_openai(
    client: &async_openai::Client<OpenAIConfig>,
    req: &CreateChatCompletionRequest,
) -> usize {
    let mut s = client.chat().create_stream(req.clone()).await.unwrap();
    let mut n = 0;
    while let Some(c) = s.next().await {
        c.unwrap();
        n += 1;
    }
    assert_eq!(n, 100);
    n
}

/// POSTs the JSON body; the answer must be a 200.
async fn post_json(client: &ClientWithMiddleware, url: &str, body: &Bytes) -> reqwest::Response {
    let resp = client
        .post(url)
        .header("content-type", "application/json")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    resp
}

/// A reqwest-middleware request; the whole body read, chunk by chunk. Returns the
/// number of newlines in a stream (or bytes, for a plain body).
async fn middleware_call(
    client: &ClientWithMiddleware,
    url: &str,
    body: &Bytes,
    stream: bool,
) -> usize {
    let resp = post_json(client, url, body).await;
    if !stream {
        return resp.bytes().await.unwrap().len();
    }
    // Newlines counted, not "\n\n" pairs: `windows(2)` over one 30 KB chunk ran at
    // 0.3 or 1 ns a byte from one process to the next (reqwest-vcr's stream measured
    // 30,000 or 101,000 req/s with the same code), which swamped what is compared
    // here. A byte count is cheap and steady, and the same work on both sides.
    let mut chunks = resp.bytes_stream();
    let mut newlines = 0;
    while let Some(c) = chunks.next().await {
        newlines += c.unwrap().iter().filter(|&&b| b == b'\n').count();
    }
    assert_eq!(newlines, 202, "101 events of one data line each");
    newlines
}

/// A reqwest-middleware streamed request, only until its first chunk arrives (what a
/// streaming test waits for before it can act); the rest is dropped.
async fn first_chunk(client: &ClientWithMiddleware, url: &str, body: &Bytes) -> usize {
    let resp = post_json(client, url, body).await;
    let first = resp.bytes_stream().next().await.unwrap().unwrap();
    assert!(first.starts_with(b"data: "));
    first.len()
}

/// A reqwest-middleware streamed request read the way SSE clients read one: the
/// chunks through eventsource-stream (the parser under async-openai and
/// reqwest-eventsource), each event's data parsed into async-openai's chunk type.
async fn sse_events(client: &ClientWithMiddleware, url: &str, body: &Bytes) -> usize {
    use eventsource_stream::Eventsource;
    let resp = post_json(client, url, body).await;
    let mut events = resp.bytes_stream().eventsource();
    let mut n = 0;
    while let Some(event) = events.next().await {
        let event = event.unwrap();
        if event.data == "[DONE]" {
            break;
        }
        serde_json::from_str::<CreateChatCompletionStreamResponse>(&event.data).unwrap();
        n += 1;
    }
    assert_eq!(n, 100);
    n
}

/// A reqwest-middleware client as async-openai's HTTP service, so that the same typed
/// client runs over reqwest-vcr as over ours (`ctx.openai_service()`).
#[derive(Clone)]
struct MiddlewareService(ClientWithMiddleware);

impl tower::Service<async_openai::middleware::HttpRequestFactory> for MiddlewareService {
    type Response = reqwest::Response;
    type Error = async_openai::error::OpenAIError;
    type Future =
        std::pin::Pin<Box<dyn Future<Output = Result<reqwest::Response, Self::Error>> + Send>>;

    fn poll_ready(
        &mut self,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, factory: async_openai::middleware::HttpRequestFactory) -> Self::Future {
        let client = self.0.clone();
        Box::pin(async move {
            let req = factory.build().await?;
            client
                .execute(req)
                .await
                .map_err(|e| async_openai::error::OpenAIError::InvalidArgument(e.to_string()))
        })
    }
}

/// async-openai over reqwest-vcr: records both requests from the floor into one
/// cassette (reqwest-vcr matches headers too, so it must be async-openai's own
/// requests), then a client replaying it.
fn vcr_openai(
    path: &Path,
    floor_url: &str,
    reqs: [&CreateChatCompletionRequest; 2],
    rt: &tokio::runtime::Runtime,
) -> async_openai::Client<OpenAIConfig> {
    let mw = reqwest_vcr::VCRMiddleware::try_from(path.to_path_buf())
        .unwrap()
        .with_mode(reqwest_vcr::VCRMode::Record);
    let recorder = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(mw)
        .build();
    let openai = openai_at(floor_url).with_http_service(MiddlewareService(recorder));
    rt.block_on(async {
        openai.chat().create(reqs[0].clone()).await.unwrap();
        drain_openai(&openai, reqs[1]).await;
    });
    drop(openai); // writes the cassette
    assert!(path.is_file());
    openai_at(floor_url).with_http_service(MiddlewareService(vcr_replay(path)))
}

/// async-openai's typed structs parsing the recorded answer, no I/O: the floor of
/// any in-process replay that hands the client typed values.
fn parse_only(plain: &[u8], frames: &[Bytes], stream: bool) -> usize {
    if !stream {
        return serde_json::from_slice::<CreateChatCompletionResponse>(plain)
            .unwrap()
            .choices
            .len();
    }
    let mut n = 0;
    for f in frames {
        let data = f.strip_prefix(b"data: ").unwrap_or(f).trim_ascii_end();
        if data != b"[DONE]" {
            serde_json::from_slice::<CreateChatCompletionStreamResponse>(data).unwrap();
            n += 1;
        }
    }
    assert_eq!(n, 100);
    n
}

/// The fixture client's typed replay (`ctx.client()`): the request value in, typed
/// answers out, streams event by event.
async fn fixture_call(
    client: &recorder_runtime::Client,
    req: &CreateChatCompletionRequest,
    stream: bool,
) -> usize {
    if !stream {
        let answer: CreateChatCompletionResponse = client.post_json(ENDPOINT, req).await.unwrap();
        return answer.choices.len();
    }
    let mut chunks = client
        .post_stream::<CreateChatCompletionStreamResponse>(ENDPOINT, req)
        .await
        .unwrap();
    let mut n = 0;
    while let Some(c) = chunks.next().await {
        c.unwrap();
        n += 1;
    }
    assert_eq!(n, 100);
    n
}

/// reqwest-middleware with no recorder at all: answers every request with the same
/// stream at once, as 101 chunks (one per frame, as ours) or as one buffered piece
/// (as reqwest-vcr). Their difference is what reqwest's own body layers cost per chunk.
struct StubMiddleware {
    frames: std::sync::Arc<[(Bytes, Option<u64>)]>,
    whole: Bytes,
    per_frame: bool,
}

#[async_trait::async_trait]
impl reqwest_middleware::Middleware for StubMiddleware {
    async fn handle(
        &self,
        _req: reqwest::Request,
        _ext: &mut http::Extensions,
        _next: reqwest_middleware::Next<'_>,
    ) -> reqwest_middleware::Result<reqwest::Response> {
        let body = if self.per_frame {
            reqwest::Body::wrap(recorder_runtime::engine::BodyStream::stored(
                self.frames.clone(),
            ))
        } else {
            reqwest::Body::from(self.whole.clone())
        };
        let resp = http::Response::builder()
            .header("content-type", "text/event-stream")
            .body(body)
            .unwrap();
        Ok(reqwest::Response::from(resp))
    }
}

fn stub_client(frames: &[Bytes], per_frame: bool) -> ClientWithMiddleware {
    reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(StubMiddleware {
            frames: frames.iter().map(|f| (f.clone(), None)).collect(),
            whole: frames.concat().into(),
            per_frame,
        })
        .build()
}

fn vcr_cassette(path: &Path, url: &str, body: &Bytes, rt: &tokio::runtime::Runtime) {
    let mw = reqwest_vcr::VCRMiddleware::try_from(path.to_path_buf())
        .unwrap()
        .with_mode(reqwest_vcr::VCRMode::Record);
    let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(mw)
        .build();
    rt.block_on(async {
        let resp = client
            .post(url)
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        resp.bytes().await.unwrap();
    });
    drop(client); // writes the cassette
    assert!(path.is_file());
}

fn vcr_replay(path: &Path) -> ClientWithMiddleware {
    let mw = reqwest_vcr::VCRMiddleware::try_from(path.to_path_buf())
        .unwrap()
        .with_mode(reqwest_vcr::VCRMode::Replay)
        .with_search(reqwest_vcr::VCRReplaySearch::SearchAll);
    reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(mw)
        .build()
}

fn line(name: &str, m: Measured) {
    println!(
        "{name:<34} {:>10.0} req/s   p50 {:>8.1} us   p99 {:>8.1} us",
        m.rps, m.p50_us, m.p99_us
    );
}

fn peak_rss_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Child mode: peak RSS of replaying one test 2,000 times with `others` recordings
/// of other tests in the same folder.
fn memory_child(others: usize, dir: &Path) {
    let root = dir.join(format!("recordings-{others}"));
    write_ours(&root);
    let store = Store::new(&root);
    let answer = completion().to_string();
    for i in 0..others {
        let test = format!("peers::others::test_{}::case_{}", i / 100, i % 100);
        let body =
            format!(r#"{{"model":"m","messages":[{{"role":"user","content":"question {i}"}}]}}"#);
        let ident = RequestIdentity::new("POST", ENDPOINT, body.as_bytes(), &[], Some(&test));
        let rec = Recording {
            test_id: Some(test.clone()),
            request: RecordedRequest {
                method: "POST".into(),
                endpoint: ENDPOINT.into(),
                model: Some("m".into()),
                body: ident.body().clone(),
            },
            response: RecordedResponse::plain(200, Some("application/json"), answer.as_bytes()),
        };
        let path = store.recording_path(&test, &RecordingKey::first(ident.hash()));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, rec.to_pretty_bytes()).unwrap();
    }
    let before = peak_rss_kb();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let ctx = RecordingContext::builder(TEST_ID)
        .mode(Mode::Replay)
        .dir(&root)
        .target(Target::default())
        .build()
        .unwrap();
    let client = ctx.client();
    let plain = Bytes::from(serde_json::to_vec(&request(false)).unwrap());
    let streamed = Bytes::from(serde_json::to_vec(&request(true)).unwrap());
    rt.block_on(async {
        for i in 0..2000 {
            let body = if i % 2 == 0 {
                plain.clone()
            } else {
                streamed.clone()
            };
            client
                .send(EngineRequest::post(ENDPOINT, body))
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap();
        }
    });
    assert!(ctx.finish().is_empty(), "{:?}", ctx.finish());
    println!(
        "memory others={others} before_replay_kb={before} peak_kb={}",
        peak_rss_kb()
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("memory") {
        memory_child(args[2].parse().unwrap(), Path::new(&args[3]));
        return;
    }
    let mut secs = 3.0;
    let mut python: Option<String> = None;
    let mut vcrpy_script: Option<String> = None;
    let mut work: Option<PathBuf> = None;
    let mut i = 1;
    while i < args.len() {
        match args[i].as_str() {
            "--seconds" => secs = args[i + 1].parse().unwrap(),
            "--python" => python = Some(args[i + 1].clone()),
            "--vcrpy" => vcrpy_script = Some(args[i + 1].clone()),
            "--work" => work = Some(PathBuf::from(&args[i + 1])),
            other => panic!("unknown argument {other}"),
        }
        i += 2;
    }
    let tmp = tempfile::tempdir().unwrap();
    let work = work.unwrap_or_else(|| tmp.path().to_path_buf());
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).unwrap();
    recorder_runtime::engine::install_crypto_provider();

    let root = work.join("recordings");
    let (plain_bytes, frames) = write_ours(&root);
    let (parse_plain, parse_frames) = (plain_bytes.clone(), frames.clone());
    let floor = floor::Floor::start(plain_bytes, frames);
    let floor_url = floor.url();
    let url = format!("{floor_url}/chat/completions");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (plain_req, stream_req) = (request(false), request(true));
    let plain_body = Bytes::from(serde_json::to_vec(&plain_req).unwrap());
    let stream_body = Bytes::from(serde_json::to_vec(&stream_req).unwrap());

    // reqwest-vcr records its cassettes from the floor, as it would from a server.
    let (vcr_plain_path, vcr_stream_path) =
        (work.join("vcr-plain.json"), work.join("vcr-stream.json"));
    vcr_cassette(&vcr_plain_path, &url, &plain_body, &rt);
    vcr_cassette(&vcr_stream_path, &url, &stream_body, &rt);

    let ctx = RecordingContext::builder(TEST_ID)
        .mode(Mode::Replay)
        .dir(&root)
        .target(Target::default())
        .build()
        .unwrap();
    let floor_openai = openai_at(&floor_url);
    let proxy_openai = openai_at(&ctx.base_url());
    let inproc_openai =
        openai_at("http://in-process.invalid/v1").with_http_service(ctx.openai_service());
    let ours_mw = ctx.reqwest_client();
    let (vcr_plain, vcr_stream) = (vcr_replay(&vcr_plain_path), vcr_replay(&vcr_stream_path));

    println!(
        "each peer: sequential requests for {secs} s on one thread (machine: {} cores)",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0)
    );
    let (floor_plain, proxy_plain) = rt.block_on(measure_pair(
        secs,
        ["floor (bare hyper) plain", "ours proxy plain"],
        || create_openai(&floor_openai, &plain_req),
        || create_openai(&proxy_openai, &plain_req),
    ));
    let (floor_stream, proxy_stream) = rt.block_on(measure_pair(
        secs,
        ["floor (bare hyper) stream", "ours proxy stream"],
        || drain_openai(&floor_openai, &stream_req),
        || drain_openai(&proxy_openai, &stream_req),
    ));
    let (mw_plain, vcr_p) = rt.block_on(measure_pair(
        secs,
        ["ours in-process middleware plain", "reqwest-vcr plain"],
        || middleware_call(&ours_mw, &url, &plain_body, false),
        || middleware_call(&vcr_plain, &url, &plain_body, false),
    ));
    let (mw_stream, vcr_s) = rt.block_on(measure_pair(
        secs,
        ["ours in-process middleware stream", "reqwest-vcr stream"],
        || middleware_call(&ours_mw, &url, &stream_body, true),
        || middleware_call(&vcr_stream, &url, &stream_body, true),
    ));
    let (mw_first, vcr_first) = rt.block_on(measure_pair(
        secs,
        [
            "ours middleware stream, 1st chunk",
            "reqwest-vcr stream, 1st chunk",
        ],
        || first_chunk(&ours_mw, &url, &stream_body),
        || first_chunk(&vcr_stream, &url, &stream_body),
    ));
    let (mw_sse, vcr_sse) = rt.block_on(measure_pair(
        secs,
        [
            "ours middleware stream, SSE events",
            "reqwest-vcr stream, SSE events",
        ],
        || sse_events(&ours_mw, &url, &stream_body),
        || sse_events(&vcr_stream, &url, &stream_body),
    ));
    let vcr_openai = vcr_openai(
        &work.join("vcr-openai.json"),
        &floor_url,
        [&plain_req, &stream_req],
        &rt,
    );
    let (inproc_plain, vcr_openai_p) = rt.block_on(measure_pair(
        secs,
        [
            "ours in-process async-openai plain",
            "async-openai on reqwest-vcr plain",
        ],
        || create_openai(&inproc_openai, &plain_req),
        || create_openai(&vcr_openai, &plain_req),
    ));
    let (inproc_stream, vcr_openai_s) = rt.block_on(measure_pair(
        secs,
        [
            "ours in-process async-openai stream",
            "async-openai on reqwest-vcr stream",
        ],
        || drain_openai(&inproc_openai, &stream_req),
        || drain_openai(&vcr_openai, &stream_req),
    ));
    let (stub_frames, stub_whole) = (
        stub_client(&parse_frames, true),
        stub_client(&parse_frames, false),
    );
    let (stub_f, stub_w) = rt.block_on(measure_pair(
        secs,
        ["no recorder, 101 chunks", "no recorder, 1 chunk"],
        || middleware_call(&stub_frames, &url, &stream_body, true),
        || middleware_call(&stub_whole, &url, &stream_body, true),
    ));
    let fixture = ctx.client();
    let mut typed = Vec::new();
    for stream in [false, true] {
        let kind = if stream { "stream" } else { "plain" };
        let req = if stream { &stream_req } else { &plain_req };
        let (ours, parse) = rt.block_on(measure_pair(
            secs,
            [
                &format!("ours in-process fixture {kind}"),
                &format!("parsing alone {kind}"),
            ],
            || fixture_call(&fixture, req, stream),
            || async { parse_only(&parse_plain, &parse_frames, stream) },
        ));
        typed.push((ours, parse));
    }
    assert!(ctx.finish().is_empty(), "{:?}", ctx.finish());
    assert_eq!(ctx.counts().missed, 0);

    let vcrpy = match (python, vcrpy_script) {
        (Some(py), Some(script)) => {
            let out = std::process::Command::new(py)
                .arg(script)
                .arg(&floor_url)
                .arg(work.join("vcrpy-cassette.json"))
                .arg(secs.to_string())
                .output()
                .expect("python runs");
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success(),
                "vcrpy_bench.py failed:\n{stdout}\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let v: serde_json::Value =
                serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
            let vm = Measured {
                rps: v["rps"].as_f64().unwrap(),
                p50_us: v["p50_us"].as_f64().unwrap(),
                p99_us: v["p99_us"].as_f64().unwrap(),
            };
            line(
                &format!(
                    "vcrpy {} + openai-python {}",
                    v["vcrpy"].as_str().unwrap_or("?"),
                    v["openai"].as_str().unwrap_or("?")
                ),
                vm,
            );
            Some(vm)
        }
        _ => None,
    };

    // Memory: the same replay with 0 and with 10,000 other recordings in the folder.
    let exe = std::env::current_exe().unwrap();
    let mut peaks = Vec::new();
    for others in [0usize, 10_000] {
        let out = std::process::Command::new(&exe)
            .arg("memory")
            .arg(others.to_string())
            .arg(&work)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(
            out.status.success(),
            "{text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        print!("{text}");
        let peak: f64 = text
            .split("peak_kb=")
            .nth(1)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        peaks.push(peak);
    }

    println!();
    println!(
        "in-process async-openai over proxy (req/s): plain {:.2}x, stream {:.2}x",
        inproc_plain.rps / proxy_plain.rps,
        inproc_stream.rps / proxy_stream.rps
    );
    println!(
        "proxy p50 over floor p50 (stream): {:.2}x",
        proxy_stream.p50_us / floor_stream.p50_us
    );
    println!(
        "replay peak memory, 10,000 other recordings over none: {:.2}x",
        peaks[1] / peaks[0]
    );
    if let Some(v) = vcrpy {
        println!("vs vcrpy: {:.1}x", proxy_plain.rps / v.rps);
        println!("vs vcrpy (in-process): {:.1}x", inproc_plain.rps / v.rps);
    }
    println!(
        "vs bare hyper: {:.2}x",
        proxy_plain.p50_us / floor_plain.p50_us
    );
    println!("vs reqwest-vcr: {:.2}x", mw_plain.rps / vcr_p.rps);
    println!("vs reqwest-vcr (stream): {:.2}x", mw_stream.rps / vcr_s.rps);
    println!(
        "vs reqwest-vcr (stream, SSE events typed): {:.2}x",
        mw_sse.rps / vcr_sse.rps
    );
    println!(
        "vs reqwest-vcr (async-openai client): plain {:.2}x, stream {:.2}x",
        inproc_plain.rps / vcr_openai_p.rps,
        inproc_stream.rps / vcr_openai_s.rps
    );
    println!(
        "reqwest's own cost of 101 chunks over 1 (no recorder): {:.2}x ({:.1} us a request)",
        stub_w.rps / stub_f.rps,
        stub_f.p50_us - stub_w.p50_us
    );
    println!(
        "vs reqwest-vcr (stream, time to first chunk, p50): {:.2}x",
        vcr_first.p50_us / mw_first.p50_us
    );
    println!(
        "in-process (fixture client) over parsing alone: plain {:.2}x, stream {:.2}x",
        typed[0].1.rps / typed[0].0.rps,
        typed[1].1.rps / typed[1].0.rps
    );
}
