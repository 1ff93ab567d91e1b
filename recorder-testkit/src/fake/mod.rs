//! A fake OpenAI-compatible, Ollama and Anthropic server, in process, for tests.
//!
//! [`FakeUpstream`] listens on `127.0.0.1` (an OS-chosen port, on its own thread and
//! tokio runtime) and answers with the real wire formats: JSON bodies, Server-Sent
//! Events (plain `data:` lines for chat, typed `event:` lines for the Responses and
//! Messages APIs), newline-delimited JSON for Ollama, `multipart/form-data` uploads.
//! Answers are deterministic (an echo of the prompt, one word per stream chunk;
//! embeddings derived from the text) except for what real servers make volatile: ids
//! are random on every call (`chatcmpl-…`, `resp_…`, `file-…`, `vs_…`, `msg_…`,
//! `call_…`, `toolu_…`), timestamps are the current time, Ollama's durations are
//! non-zero, every answer carries a random `x-request-id`. Ids are enforced: a
//! request naming an id the fake never issued (or deleted) gets the provider's 404 or
//! 400. Recording the same exchange twice therefore shows what the recorder must
//! normalize and map, and nothing else.
//!
//! | endpoint | answer |
//! |---|---|
//! | `POST /v1/chat/completions` | a `chat.completion`; SSE chunks with `"stream": true`; a `tool_calls` message when `tools` are given; JSON text for a JSON `response_format` |
//! | `POST /v1/chat/completions` with `image_url` parts | `data:` images are decoded and checked (PNG, JPEG, GIF, WebP; a broken one is OpenAI's 400 `image_parse_error`); the answer says what the fake "sees" without a model: format, size, and an 8-bit PNG's average colour ("a 16x16 PNG, mostly red") |
//! | `POST /v1/completions` | a `text_completion`, or SSE chunks |
//! | `POST /v1/embeddings` | one 8-dimensional vector per input, derived from its text |
//! | `POST /v1/moderations` | `omni-moderation-latest`'s shape: one result per input string, 13 categories, flagged by a few keywords per category (no model) |
//! | `GET /v1/models` | `{"object":"list","data":[{"id","object":"model","created","owned_by"}]}` |
//! | `POST /v1/responses` | a `response` (a message, a `function_call` when function tools are given, a `file_search_call` and a cited message for `file_search`); typed SSE events with `"stream": true`; `previous_response_id` and `function_call_output` call ids must be known |
//! | `GET`, `DELETE /v1/responses/{id}`, `GET /v1/responses/{id}/input_items` | the stored response, its deletion, its input items |
//! | `POST /v1/files` (multipart), `GET /v1/files[/{id}[/content]]`, `DELETE /v1/files/{id}` | file objects, the raw content |
//! | `POST /v1/vector_stores`, `POST /v1/vector_stores/{id}/files`, `GET /v1/vector_stores/{id}/files[/{file}]`, `POST /v1/vector_stores/{id}/search`, `DELETE /v1/vector_stores/{id}` | vector stores; a file is `in_progress` for [`FakeUpstream::set_polls_before_completed`] polls, then `completed` |
//! | `POST /v1/messages` | an Anthropic `message` (a `tool_use` block when tools are given); typed SSE events with `"stream": true`; needs `anthropic-version`; `tool_result` ids must be known |
//! | `POST /api/chat`, `POST /api/generate` | NDJSON lines (`application/x-ndjson`), or one JSON object with `"stream": false` |
//! | `POST /api/embed` (and the older `/api/embeddings`) | `{"model","embeddings":[[...]]}` |
//! | `GET /api/tags` | `{"models":[{"name","model","modified_at","size","digest","details"}]}` |
//! | `POST`, `GET`, `DELETE /mcp` | an MCP server over Streamable HTTP: sessions (a random `Mcp-Session-Id`, enforced), JSON-RPC answers as SSE `event: message` (or JSON), `202` for notifications, a session's open `GET` stream with keep-alive comments, `DELETE` ending it (see [`mcp`]) |
//!
//! The model `missing-model` answers 404 with the provider's error body. Knobs change
//! the behaviour of the following requests: [`FakeUpstream::set_chunk_delay`],
//! [`FakeUpstream::set_fail_mid_stream`], [`FakeUpstream::set_status`] (a 429 comes
//! with `retry-after` and rate-limit headers), [`FakeUpstream::set_models`],
//! [`FakeUpstream::set_encoding`] (gzip, deflate, br or zstd answers),
//! [`FakeUpstream::require_key`] (401 without the key where a provider expects it),
//! [`FakeUpstream::set_polls_before_completed`], [`FakeUpstream::set_embedding_noise`]
//! (embeddings that move a little on every call, as across machines),
//! [`FakeUpstream::set_redirect`] (a 3xx to another server, as an API that moved). A request body sent with a
//! `Content-Encoding` is decoded. Every request is kept for inspection
//! ([`FakeUpstream::requests`]).
//!
//! ```
//! use recorder_testkit::FakeUpstream;
//! let fake = FakeUpstream::start();
//! assert!(fake.openai_url().starts_with("http://127.0.0.1:"));
//! assert!(fake.openai_url().ends_with("/v1"));
//! fake.stop(); // the port now refuses connections
//! ```

mod anthropic;
mod files;
pub mod mcp;
mod moderation;
mod ollama;
mod openai;
mod responses;
mod text;
mod vision;

pub use text::embedding;

use bytes::Bytes;
use futures::StreamExt;
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::{combinators::UnsyncBoxBody, BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

type Body = UnsyncBoxBody<Bytes, std::io::Error>;

/// The model name that answers 404 "model not found" on every endpoint.
pub const MISSING_MODEL: &str = "missing-model";

/// How many frames a stream sends before [`FakeUpstream::set_fail_mid_stream`] cuts it.
pub const FRAMES_BEFORE_FAILURE: usize = 3;

/// A request the fake received.
#[derive(Debug, Clone)]
pub struct SeenRequest {
    /// HTTP method.
    pub method: Method,
    /// Path and query, e.g. `/v1/chat/completions`.
    pub path: String,
    /// Every header, as received.
    pub headers: HeaderMap,
    /// The body, as received (compressed if it was sent so).
    pub body: Bytes,
}

impl SeenRequest {
    /// A header's value as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
    /// The body parsed as JSON (`Value::Null` when it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

/// Where [`FakeUpstream::require_key`] expects the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyIn {
    /// `Authorization: Bearer <key>` (OpenAI).
    Bearer,
    /// A header holding the key (`x-api-key` for Anthropic, `api-key` for Azure).
    Header(String),
    /// A query parameter holding the key (`key` for Gemini).
    Query(String),
}

/// A running fake upstream. Stopped by [`stop`](Self::stop) or on drop.
#[derive(Debug)]
pub struct FakeUpstream {
    addr: SocketAddr,
    state: Arc<State>,
    stop: Mutex<Option<tokio::sync::oneshot::Sender<()>>>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

/// What the fake remembers between requests.
#[derive(Debug)]
struct State {
    requests: Mutex<Vec<SeenRequest>>,
    chunk_delay_us: AtomicU64,
    fail_mid_stream: AtomicBool,
    status: AtomicU16,
    models: Mutex<Vec<String>>,
    latest_stream: AtomicU64,
    finished_stream: AtomicU64,
    encoding: Mutex<Option<String>>,
    key: Mutex<Option<(KeyIn, String)>>,
    redirect: Mutex<Option<(u16, String)>>,
    polls_before_completed: AtomicU32,
    /// The amplitude of the noise added to every embedding value (`f64` bits).
    embedding_noise: AtomicU64,
    rng: Mutex<u64>,
    /// Stored responses of the Responses API, by id.
    responses: Mutex<HashMap<String, Value>>,
    /// How many turns each stored response's chain has, by response id.
    turns: Mutex<HashMap<String, u64>>,
    /// Input items of stored responses, by response id.
    input_items: Mutex<HashMap<String, Vec<Value>>>,
    /// Function calls issued, by call id: the function's name.
    calls: Mutex<HashMap<String, String>>,
    /// Uploaded files: id -> (object, content).
    files: Mutex<HashMap<String, (Value, Bytes)>>,
    /// Vector stores: id -> object, and their files: (store, file) -> polls so far.
    stores: Mutex<HashMap<String, Value>>,
    store_files: Mutex<HashMap<(String, String), u32>>,
    /// Anthropic tool uses issued, by id.
    tool_uses: Mutex<HashMap<String, String>>,
    /// MCP: answers as JSON rather than SSE, event ids, the keep-alive interval.
    mcp_json: AtomicBool,
    mcp_event_ids: AtomicBool,
    mcp_ping_us: AtomicU64,
    /// MCP sessions alive, by id: what ends their open streams.
    mcp_sessions: Mutex<HashMap<String, tokio::sync::watch::Sender<bool>>>,
    /// MCP streams being served.
    mcp_streams: std::sync::atomic::AtomicUsize,
}

impl FakeUpstream {
    /// Starts a fake on `127.0.0.1` with an OS-chosen port.
    ///
    /// # Panics
    /// When no loopback port can be bound; see [`try_start`](Self::try_start).
    pub fn start() -> FakeUpstream {
        Self::try_start().expect("the fake upstream binds 127.0.0.1")
    }

    /// Starts a fake on `127.0.0.1` with an OS-chosen port.
    pub fn try_start() -> std::io::Result<FakeUpstream> {
        Self::try_start_on(SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    /// Starts a fake on a given address (port 0: one the OS chooses), for a fake that
    /// other processes reach at a known port (the `fake-upstream` binary).
    ///
    /// ```
    /// use recorder_testkit::FakeUpstream;
    /// let fake = FakeUpstream::try_start_on(([127, 0, 0, 1], 0).into()).unwrap();
    /// assert!(fake.addr().ip().is_loopback());
    /// ```
    pub fn try_start_on(addr: SocketAddr) -> std::io::Result<FakeUpstream> {
        let listener = std::net::TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1)
            ^ (u64::from(addr.port()) << 32)
            | 1;
        let state = Arc::new(State {
            requests: Mutex::default(),
            chunk_delay_us: AtomicU64::new(0),
            fail_mid_stream: AtomicBool::new(false),
            status: AtomicU16::new(0),
            models: Mutex::new(vec!["fake-chat".into(), "fake-embed".into()]),
            latest_stream: AtomicU64::new(0),
            finished_stream: AtomicU64::new(0),
            encoding: Mutex::default(),
            key: Mutex::default(),
            redirect: Mutex::default(),
            polls_before_completed: AtomicU32::new(2),
            embedding_noise: AtomicU64::new(0f64.to_bits()),
            rng: Mutex::new(seed),
            responses: Mutex::default(),
            turns: Mutex::default(),
            input_items: Mutex::default(),
            calls: Mutex::default(),
            files: Mutex::default(),
            stores: Mutex::default(),
            store_files: Mutex::default(),
            tool_uses: Mutex::default(),
            mcp_json: AtomicBool::new(false),
            mcp_event_ids: AtomicBool::new(false),
            mcp_ping_us: AtomicU64::new(50_000),
            mcp_sessions: Mutex::default(),
            mcp_streams: Default::default(),
        });
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let served = state.clone();
        let thread = std::thread::Builder::new()
            .name(format!("fake-upstream-{}", addr.port()))
            .spawn(move || {
                runtime.block_on(serve(listener, served, stop_rx));
                // Dropping the runtime drops every connection task: open sockets close.
                runtime.shutdown_timeout(Duration::from_millis(200));
            })?;
        Ok(FakeUpstream {
            addr,
            state,
            stop: Mutex::new(Some(stop_tx)),
            thread: Mutex::new(Some(thread)),
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The root URL, `http://127.0.0.1:<port>` (Ollama clients use it as is).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The OpenAI base URL, `http://127.0.0.1:<port>/v1`.
    pub fn openai_url(&self) -> String {
        format!("{}/v1", self.url())
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<SeenRequest> {
        self.state.requests.lock().unwrap().clone()
    }

    /// Forgets the requests received so far.
    pub fn clear_requests(&self) {
        self.state.requests.lock().unwrap().clear();
    }

    /// The delay before each frame of the following streams (default: none).
    pub fn set_chunk_delay(&self, delay: Duration) {
        self.state
            .chunk_delay_us
            .store(delay.as_micros() as u64, Ordering::Relaxed);
    }

    /// When true, the following streams send [`FRAMES_BEFORE_FAILURE`] frames and then
    /// close the connection without finishing the body.
    pub fn set_fail_mid_stream(&self, fail: bool) {
        self.state.fail_mid_stream.store(fail, Ordering::Relaxed);
    }

    /// The status of the following responses. A status of 400 or more answers every
    /// request with that status and the provider's error body (OpenAI's
    /// `{"error":{"message",...}}` under `/v1`, Ollama's `{"error":"..."}` under
    /// `/api`), and a 429 with `retry-after: 2` and `x-ratelimit-*` headers; `0` or any
    /// status below 400 restores the normal answers.
    pub fn set_status(&self, status: u16) {
        self.state.status.store(status, Ordering::Relaxed);
    }

    /// The models `GET /v1/models` and `GET /api/tags` list (default: `fake-chat`,
    /// `fake-embed`).
    pub fn set_models<S: Into<String>>(&self, models: impl IntoIterator<Item = S>) {
        *self.state.models.lock().unwrap() = models.into_iter().map(Into::into).collect();
    }

    /// Compresses the following answers with this `Content-Encoding` (`gzip`,
    /// `deflate`, `br` or `zstd`; streams too, frame by frame where the coding can),
    /// whatever the client accepts; `None` restores plain answers.
    pub fn set_encoding(&self, coding: Option<&str>) {
        *self.state.encoding.lock().unwrap() = coding.map(str::to_owned);
    }

    /// Requires this key on every following request, where `at` says (401 with the
    /// provider's error body without it); `None` accepts anything (the default).
    pub fn require_key(&self, key: Option<(KeyIn, &str)>) {
        *self.state.key.lock().unwrap() = key.map(|(at, k)| (at, k.to_owned()));
    }

    /// Answers every following request with this redirect status and a `Location` of
    /// `base` + the request's path and query (e.g. `(307, other.url())`: an API that
    /// moved to another server), before anything else; `None` restores the normal
    /// answers.
    ///
    /// ```
    /// use recorder_testkit::FakeUpstream;
    /// let (fake, moved) = (FakeUpstream::start(), FakeUpstream::start());
    /// fake.set_redirect(Some((307, &moved.url())));
    /// ```
    pub fn set_redirect(&self, redirect: Option<(u16, &str)>) {
        *self.state.redirect.lock().unwrap() =
            redirect.map(|(status, base)| (status, base.trim_end_matches('/').to_owned()));
    }

    /// How many polls of a vector store file answer `in_progress` before it is
    /// `completed` (default 2).
    pub fn set_polls_before_completed(&self, polls: u32) {
        self.state
            .polls_before_completed
            .store(polls, Ordering::Relaxed);
    }

    /// Adds noise to every value of the following embeddings (OpenAI's and Ollama's):
    /// each value moves by a fresh random amount in `-amplitude..=amplitude`, as the
    /// same model moves them on different machines. `0.0` (the default) gives the
    /// exact vectors of [`embedding`].
    ///
    /// ```
    /// use recorder_testkit::FakeUpstream;
    /// let fake = FakeUpstream::start();
    /// fake.set_embedding_noise(1e-4);
    /// ```
    pub fn set_embedding_noise(&self, amplitude: f64) {
        self.state
            .embedding_noise
            .store(amplitude.abs().to_bits(), Ordering::Relaxed);
    }

    /// Whether every frame of the latest stream has been sent (false while it is still
    /// being sent, when it was cut short, and before any stream).
    pub fn stream_finished(&self) -> bool {
        let latest = self.state.latest_stream.load(Ordering::SeqCst);
        latest > 0 && self.state.finished_stream.load(Ordering::SeqCst) >= latest
    }

    /// How many streams have been started.
    pub fn streams_started(&self) -> u64 {
        self.state.latest_stream.load(Ordering::SeqCst)
    }

    /// Polls [`stream_finished`](Self::stream_finished) until it holds or `timeout` passes.
    pub fn wait_stream_finished(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while !self.stream_finished() {
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        true
    }

    /// Stops the server: it accepts nothing more, open connections are closed, and
    /// the port refuses connections. [`requests`](Self::requests) stays readable.
    pub fn stop(&self) {
        if let Some(tx) = self.stop.lock().unwrap().take() {
            let _ = tx.send(());
        }
        if let Some(thread) = self.thread.lock().unwrap().take() {
            let _ = thread.join();
        }
    }
}

impl Drop for FakeUpstream {
    fn drop(&mut self) {
        self.stop();
    }
}

impl State {
    /// The next pseudo-random number (xorshift64*: plenty for ids that only need to
    /// differ, and for noise).
    fn random(&self) -> u64 {
        let mut rng = self.rng.lock().unwrap();
        *rng ^= *rng >> 12;
        *rng ^= *rng << 25;
        *rng ^= *rng >> 27;
        rng.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A random id: the prefix and 24 letters and digits.
    fn id(&self, prefix: &str) -> String {
        const ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
        let mut out = String::from(prefix);
        for _ in 0..24 {
            let v = self.random();
            out.push(ALPHABET[(v >> 58) as usize % ALPHABET.len()] as char);
        }
        out
    }

    /// The embedding of `text`, with the noise of [`FakeUpstream::set_embedding_noise`].
    fn embedding(&self, text: &str) -> Vec<f64> {
        let amplitude = f64::from_bits(self.embedding_noise.load(Ordering::Relaxed));
        let mut vector = embedding(text);
        if amplitude > 0.0 {
            for v in &mut vector {
                // A uniform value in -1..=1 from the top 53 bits.
                let unit = (self.random() >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0;
                *v += unit * amplitude;
            }
        }
        vector
    }
}

async fn serve(
    listener: std::net::TcpListener,
    state: Arc<State>,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) {
    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
        return;
    };
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = &mut stop => return,
        };
        let Ok((stream, _)) = accepted else { continue };
        let _ = stream.set_nodelay(true);
        let state = state.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let state = state.clone();
                async move { Ok::<_, std::convert::Infallible>(handle(state, req).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn handle(state: Arc<State>, req: Request<Incoming>) -> Response<Body> {
    let started = Instant::now();
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "/".into());
    state.requests.lock().unwrap().push(SeenRequest {
        method: parts.method.clone(),
        path: path.clone(),
        headers: parts.headers.clone(),
        body: body.clone(),
    });
    let mut resp = answer(&state, &parts, &path, body, started).await;
    let headers = resp.headers_mut();
    headers.insert("x-request-id", state.id("req_").parse().unwrap());
    headers.insert("openai-processing-ms", "17".parse().unwrap());
    headers.insert("date", "Tue, 01 Dec 2026 10:00:00 GMT".parse().unwrap());
    let coding = state.encoding.lock().unwrap().clone();
    match coding {
        Some(coding) => encode(resp, &coding),
        None => resp,
    }
}

async fn answer(
    state: &Arc<State>,
    parts: &http::request::Parts,
    path: &str,
    body: Bytes,
    started: Instant,
) -> Response<Body> {
    let route = path
        .split('?')
        .next()
        .unwrap_or("/")
        .trim_end_matches('/')
        .to_owned();
    let ollama = route.starts_with("/api/");
    let anthropic = route == "/v1/messages";

    if let Some((status, base)) = state.redirect.lock().unwrap().clone() {
        return Response::builder()
            .status(status)
            .header(http::header::LOCATION, format!("{base}{path}"))
            .body(full(Bytes::new()))
            .expect("a valid response");
    }
    if let Some(resp) = check_key(state, parts, path, ollama, anthropic) {
        return resp;
    }
    let forced = state.status.load(Ordering::Relaxed);
    if forced >= 400 {
        let status = StatusCode::from_u16(forced).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let message = format!("the fake upstream was told to answer {forced}");
        let mut resp = if ollama {
            ollama_error(status, &message)
        } else {
            openai_error(status, &message, "server_error", None)
        };
        if forced == 429 {
            let h = resp.headers_mut();
            h.insert("retry-after", "2".parse().unwrap());
            h.insert("x-ratelimit-limit-requests", "500".parse().unwrap());
            h.insert("x-ratelimit-remaining-requests", "0".parse().unwrap());
            h.insert("x-ratelimit-reset-requests", "2s".parse().unwrap());
        }
        return resp;
    }

    let body = match decode_request(&parts.headers, &body) {
        Ok(b) => b,
        Err(message) => {
            return openai_error(
                StatusCode::BAD_REQUEST,
                &message,
                "invalid_request_error",
                None,
            )
        }
    };
    let content_type = parts
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let multipart = content_type.starts_with("multipart/form-data");
    let req_body: Value = if body.is_empty() || multipart {
        Value::Null
    } else {
        match serde_json::from_slice(&body) {
            Ok(v) => v,
            Err(e) => {
                let message = format!("invalid JSON body: {e}");
                return if ollama {
                    ollama_error(StatusCode::BAD_REQUEST, &message)
                } else {
                    openai_error(
                        StatusCode::BAD_REQUEST,
                        &message,
                        "invalid_request_error",
                        None,
                    )
                };
            }
        }
    };
    let model = req_body
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    if model == MISSING_MODEL {
        return if ollama {
            ollama_error(
                StatusCode::NOT_FOUND,
                &format!("model \"{model}\" not found, try pulling it first"),
            )
        } else {
            openai_error(
                StatusCode::NOT_FOUND,
                &format!("The model `{model}` does not exist or you do not have access to it."),
                "invalid_request_error",
                Some("model_not_found"),
            )
        };
    }

    let call = Call {
        state,
        body: &req_body,
        model,
        started,
    };
    let segments: Vec<&str> = route.trim_start_matches('/').split('/').collect();
    match (parts.method.clone(), segments.as_slice()) {
        (Method::POST, ["v1", "chat", "completions"]) => call.openai_chat(),
        (Method::POST, ["v1", "completions"]) => call.openai_completion(),
        (Method::POST, ["v1", "embeddings"]) => call.openai_embeddings(),
        (Method::POST, ["v1", "moderations"]) => call.openai_moderation(),
        (Method::GET, ["v1", "models"]) => call.openai_models(),
        (Method::POST, ["v1", "responses"]) => call.create_response(),
        (Method::GET, ["v1", "responses", id]) => call.get_response(id),
        (Method::DELETE, ["v1", "responses", id]) => call.delete_response(id),
        (Method::GET, ["v1", "responses", id, "input_items"]) => call.input_items(id),
        (Method::POST, ["v1", "files"]) => call.upload_file(&content_type, &body).await,
        (Method::GET, ["v1", "files"]) => call.list_files(),
        (Method::GET, ["v1", "files", id]) => call.get_file(id),
        (Method::GET, ["v1", "files", id, "content"]) => call.file_content(id),
        (Method::DELETE, ["v1", "files", id]) => call.delete_file(id),
        (Method::POST, ["v1", "vector_stores"]) => call.create_store(),
        (Method::DELETE, ["v1", "vector_stores", vs]) => call.delete_store(vs),
        (Method::POST, ["v1", "vector_stores", vs, "files"]) => call.add_store_file(vs),
        (Method::GET, ["v1", "vector_stores", vs, "files"]) => call.list_store_files(vs),
        (Method::GET, ["v1", "vector_stores", vs, "files", file]) => call.get_store_file(vs, file),
        (Method::POST, ["v1", "vector_stores", vs, "search"]) => call.search_store(vs),
        (Method::POST, ["v1", "messages"]) => call.anthropic_messages(&parts.headers),
        (Method::POST, ["api", "chat"]) => call.ollama_chat(),
        (Method::POST, ["api", "generate"]) => call.ollama_generate(),
        (Method::POST, ["api", "embed"]) => call.ollama_embed(),
        (Method::POST, ["api", "embeddings"]) => call.ollama_embeddings_legacy(),
        (Method::GET, ["api", "tags"]) => call.ollama_tags(),
        (method, ["mcp"]) => mcp::answer(state, &method, &parts.headers, &req_body),
        (_, _) if ollama => text_response(StatusCode::NOT_FOUND, "404 page not found"),
        (method, _) => openai_error(
            StatusCode::NOT_FOUND,
            &format!("Invalid URL ({method} {path})"),
            "invalid_request_error",
            None,
        ),
    }
}

/// The 401 a provider answers when the required key is missing or wrong.
fn check_key(
    state: &State,
    parts: &http::request::Parts,
    path: &str,
    ollama: bool,
    anthropic: bool,
) -> Option<Response<Body>> {
    let (at, key) = state.key.lock().unwrap().clone()?;
    let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
    let given = match &at {
        // The scheme in any case, as real servers read it (RFC 9110).
        KeyIn::Bearer => header("authorization")
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim()),
        KeyIn::Header(name) => header(name),
        KeyIn::Query(name) => path.split_once('?').and_then(|(_, q)| {
            q.split('&')
                .filter_map(|p| p.split_once('='))
                .find(|(n, _)| n == name)
                .map(|(_, v)| v)
        }),
    };
    if given == Some(key.as_str()) {
        return None;
    }
    let message = "Invalid API key provided.";
    Some(if ollama {
        ollama_error(StatusCode::UNAUTHORIZED, message)
    } else if anthropic {
        json_response(
            StatusCode::UNAUTHORIZED,
            "application/json",
            &json!({"type": "error", "error": {"type": "authentication_error", "message": "invalid x-api-key"}}),
        )
    } else {
        openai_error(
            StatusCode::UNAUTHORIZED,
            message,
            "invalid_request_error",
            Some("invalid_api_key"),
        )
    })
}

/// A request body with its `Content-Encoding` undone.
fn decode_request(headers: &HeaderMap, body: &Bytes) -> Result<Bytes, String> {
    let Some(coding) = headers
        .get(http::header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
    else {
        return Ok(body.clone());
    };
    let mut out = Vec::new();
    let read = match coding.trim() {
        "gzip" => {
            std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&body[..]), &mut out)
        }
        "deflate" => {
            std::io::Read::read_to_end(&mut flate2::read::ZlibDecoder::new(&body[..]), &mut out)
        }
        "br" => {
            std::io::Read::read_to_end(&mut brotli::Decompressor::new(&body[..], 4096), &mut out)
        }
        "identity" => return Ok(body.clone()),
        other => return Err(format!("unsupported Content-Encoding {other}")),
    };
    read.map_err(|e| format!("the {coding} body does not decode: {e}"))?;
    Ok(Bytes::from(out))
}

/// Compresses a response's body with `coding` and says so in its headers.
fn encode(resp: Response<Body>, coding: &str) -> Response<Body> {
    let (mut parts, body) = resp.into_parts();
    parts
        .headers
        .insert(http::header::CONTENT_ENCODING, coding.parse().unwrap());
    parts.headers.remove(http::header::CONTENT_LENGTH);
    let chunks = body.into_data_stream();
    let encoded = futures::stream::unfold(
        (chunks, Some(Encoder::new(coding))),
        |(mut chunks, enc)| async move {
            let mut enc = enc?;
            match chunks.next().await {
                Some(Ok(bytes)) => {
                    let out = enc.push(&bytes);
                    Some((Ok(Frame::data(Bytes::from(out))), (chunks, Some(enc))))
                }
                Some(Err(e)) => Some((Err(e), (chunks, None))),
                None => Some((Ok(Frame::data(Bytes::from(enc.finish()))), (chunks, None))),
            }
        },
    );
    Response::from_parts(
        parts,
        BodyExt::boxed_unsync(StreamBody::new(encoded.boxed())),
    )
}

/// An incremental compressor: each chunk comes out flushed, so streams stay streams.
enum Encoder {
    Gzip(flate2::write::GzEncoder<Vec<u8>>),
    Zlib(flate2::write::ZlibEncoder<Vec<u8>>),
    Brotli(Box<brotli::CompressorWriter<Vec<u8>>>),
    /// zstd: the whole body in one frame at the end.
    Zstd(Vec<u8>),
}

impl Encoder {
    fn new(coding: &str) -> Encoder {
        match coding {
            "gzip" => Encoder::Gzip(flate2::write::GzEncoder::new(
                Vec::new(),
                flate2::Compression::fast(),
            )),
            "deflate" => Encoder::Zlib(flate2::write::ZlibEncoder::new(
                Vec::new(),
                flate2::Compression::fast(),
            )),
            "br" => Encoder::Brotli(Box::new(brotli::CompressorWriter::new(
                Vec::new(),
                4096,
                5,
                22,
            ))),
            "zstd" => Encoder::Zstd(Vec::new()),
            other => panic!("the fake cannot encode {other}"),
        }
    }
    fn push(&mut self, chunk: &[u8]) -> Vec<u8> {
        match self {
            Encoder::Gzip(e) => {
                e.write_all(chunk).unwrap();
                e.flush().unwrap();
                std::mem::take(e.get_mut())
            }
            Encoder::Zlib(e) => {
                e.write_all(chunk).unwrap();
                e.flush().unwrap();
                std::mem::take(e.get_mut())
            }
            Encoder::Brotli(e) => {
                e.write_all(chunk).unwrap();
                e.flush().unwrap();
                std::mem::take(e.get_mut())
            }
            Encoder::Zstd(buf) => {
                buf.extend_from_slice(chunk);
                Vec::new()
            }
        }
    }
    fn finish(self) -> Vec<u8> {
        match self {
            Encoder::Gzip(e) => e.finish().unwrap(),
            Encoder::Zlib(e) => e.finish().unwrap(),
            Encoder::Brotli(e) => e.into_inner(),
            Encoder::Zstd(buf) => ruzstd::encoding::compress_to_vec(
                &buf[..],
                ruzstd::encoding::CompressionLevel::Fastest,
            ),
        }
    }
}

/// One request being answered.
struct Call<'a> {
    state: &'a Arc<State>,
    body: &'a Value,
    model: String,
    started: Instant,
}

impl Call<'_> {
    fn stream_requested(&self, default: bool) -> bool {
        self.body
            .get("stream")
            .and_then(Value::as_bool)
            .unwrap_or(default)
    }

    /// The generation limit the request sets, if any.
    fn limit(&self) -> Option<usize> {
        let b = self.body;
        b.get("max_tokens")
            .or_else(|| b.get("max_completion_tokens"))
            .or_else(|| b.get("max_output_tokens"))
            .or_else(|| b.get("options").and_then(|o| o.get("num_predict")))
            .and_then(Value::as_u64)
            .map(|n| n as usize)
    }

    /// The answer's pieces (one per stream chunk) and its finish reason.
    fn answer(&self, prompt: &str, json_output: bool) -> (Vec<String>, &'static str) {
        self.answer_with(text::answer_text(prompt), json_output)
    }

    /// [`answer`](Self::answer) for a given text.
    fn answer_with(&self, text: String, json_output: bool) -> (Vec<String>, &'static str) {
        let text = if json_output {
            json!({ "answer": text }).to_string()
        } else {
            text
        };
        let mut pieces = text::pieces(&text);
        match self.limit() {
            Some(n) if n < pieces.len() => {
                pieces.truncate(n.max(1));
                (pieces, "length")
            }
            _ => (pieces, "stop"),
        }
    }

    /// SSE with data lines only, then `data: [DONE]` (chat and completions).
    fn sse(&self, events: Vec<Value>) -> Response<Body> {
        let mut frames: Vec<Bytes> = events
            .iter()
            .map(|e| Bytes::from(format!("data: {e}\n\n")))
            .collect();
        frames.push(Bytes::from_static(b"data: [DONE]\n\n"));
        self.stream("text/event-stream; charset=utf-8", frames)
    }

    /// SSE with an `event:` line per event, named by its `type` (Responses, Messages).
    fn typed_sse(&self, events: Vec<Value>) -> Response<Body> {
        let frames = events
            .iter()
            .map(|e| {
                let kind = e.get("type").and_then(Value::as_str).unwrap_or("message");
                Bytes::from(format!("event: {kind}\ndata: {e}\n\n"))
            })
            .collect();
        self.stream("text/event-stream; charset=utf-8", frames)
    }

    fn ndjson(&self, lines: Vec<Value>) -> Response<Body> {
        self.stream(
            "application/x-ndjson",
            lines
                .iter()
                .map(|l| Bytes::from(format!("{l}\n")))
                .collect(),
        )
    }

    /// A streamed body: the frames one by one, each after the chunk delay; cut after
    /// a few frames when told to fail.
    fn stream(&self, content_type: &str, frames: Vec<Bytes>) -> Response<Body> {
        let state = self.state.clone();
        let seq = state.latest_stream.fetch_add(1, Ordering::SeqCst) + 1;
        let delay = Duration::from_micros(state.chunk_delay_us.load(Ordering::Relaxed));
        let fail = state.fail_mid_stream.load(Ordering::Relaxed);
        let s = futures::stream::unfold(
            (0usize, frames, state),
            move |(i, frames, state)| async move {
                if fail && i == FRAMES_BEFORE_FAILURE.min(frames.len().saturating_sub(1)) {
                    // Pause first, so that hyper flushes the head and the frames so far:
                    // the client sees a stream that starts well and then breaks.
                    tokio::time::sleep(delay.max(Duration::from_millis(10))).await;
                    return Some((
                        Err(std::io::Error::other(
                            "the fake upstream was told to fail mid-stream",
                        )),
                        (usize::MAX, frames, state),
                    ));
                }
                if i >= frames.len() {
                    if i == frames.len() {
                        state.finished_stream.fetch_max(seq, Ordering::SeqCst);
                    }
                    return None;
                }
                if !delay.is_zero() {
                    tokio::time::sleep(delay).await;
                }
                let frame = frames[i].clone();
                Some((Ok(Frame::data(frame)), (i + 1, frames, state)))
            },
        );
        Response::builder()
            .status(StatusCode::OK)
            .header(http::header::CONTENT_TYPE, content_type)
            .header(http::header::CACHE_CONTROL, "no-cache")
            .body(BodyExt::boxed_unsync(StreamBody::new(s.boxed())))
            .expect("a valid response")
    }
}

fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

fn json_response(status: StatusCode, content_type: &str, body: &Value) -> Response<Body> {
    Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, content_type)
        .body(full(body.to_string()))
        .expect("a valid response")
}

fn ok_json(body: &Value) -> Response<Body> {
    json_response(StatusCode::OK, "application/json", body)
}

fn text_response(status: StatusCode, text: &'static str) -> Response<Body> {
    Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, "text/plain")
        .body(full(text))
        .expect("a valid response")
}

fn openai_error(
    status: StatusCode,
    message: &str,
    kind: &str,
    code: Option<&str>,
) -> Response<Body> {
    json_response(
        status,
        "application/json",
        &json!({ "error": { "message": message, "type": kind, "param": null, "code": code } }),
    )
}

/// OpenAI's 404 for an id it does not know.
fn not_found(what: &str, id: &str) -> Response<Body> {
    openai_error(
        StatusCode::NOT_FOUND,
        &format!("No {what} found with id '{id}'."),
        "invalid_request_error",
        Some("not_found"),
    )
}

fn ollama_error(status: StatusCode, message: &str) -> Response<Body> {
    json_response(
        status,
        "application/json; charset=utf-8",
        &json!({ "error": message }),
    )
}
