//! A fake OpenAI-compatible and Ollama server, in process, for tests.
//!
//! [`FakeUpstream`] listens on `127.0.0.1` (an OS-chosen port, on its own thread and
//! tokio runtime) and answers the endpoints tests use most with the real wire
//! formats: JSON bodies, Server-Sent Events for OpenAI streams and newline-delimited
//! JSON for Ollama streams. Answers are deterministic (an echo of the prompt, one word
//! per stream chunk; embeddings derived from the text) except for the fields real
//! servers make volatile: ids (`chatcmpl-<n>`, `cmpl-<n>`) change on every call,
//! `created` is the current Unix time, Ollama's `created_at` the current time and its
//! durations are non-zero. Recording the same exchange twice therefore shows what
//! normalization must remove, and nothing else.
//!
//! | endpoint | answer |
//! |---|---|
//! | `POST /v1/chat/completions` | a `chat.completion`; SSE chunks with `"stream": true`; a `tool_calls` message when `tools` are given; JSON text for a JSON `response_format` |
//! | `POST /v1/completions` | a `text_completion`, or SSE chunks |
//! | `POST /v1/embeddings` | one 8-dimensional vector per input, derived from its text |
//! | `GET /v1/models` | `{"object":"list","data":[{"id","object":"model","created","owned_by"}]}` |
//! | `POST /api/chat`, `POST /api/generate` | NDJSON lines (`application/x-ndjson`), or one JSON object with `"stream": false` |
//! | `POST /api/embed` (and the older `/api/embeddings`) | `{"model","embeddings":[[...]]}` |
//! | `GET /api/tags` | `{"models":[{"name","model","modified_at","size","digest","details"}]}` |
//!
//! The model `missing-model` answers 404 with the provider's error body. Knobs change
//! the behaviour of the following requests: [`FakeUpstream::set_chunk_delay`],
//! [`FakeUpstream::set_fail_mid_stream`], [`FakeUpstream::set_status`],
//! [`FakeUpstream::set_models`]. Every request is kept for inspection
//! ([`FakeUpstream::requests`]).
//!
//! ```
//! use recorder_runtime::fake::FakeUpstream;
//! let fake = FakeUpstream::start();
//! assert!(fake.openai_url().starts_with("http://127.0.0.1:"));
//! assert!(fake.openai_url().ends_with("/v1"));
//! fake.stop(); // the port now refuses connections
//! ```
//!
//! Recording a test against it, then replaying without it:
//!
//! ```no_run
//! # async fn demo() -> recorder_runtime::Result<()> {
//! use recorder_runtime::client::{ChatRequest, Message};
//! use recorder_runtime::engine::Target;
//! use recorder_runtime::fake::FakeUpstream;
//! use recorder_runtime::{Mode, RecordingContext};
//! let fake = FakeUpstream::start();
//! let target = Target { base_url: Some(fake.openai_url()), ..Default::default() };
//! let ctx = RecordingContext::builder("my_tests::chat").mode(Mode::Record).dir("target/rec").target(target.clone()).build()?;
//! let answer = ctx.client().chat(&ChatRequest::new("fake-chat").message(Message::user("Hi"))).await?;
//! assert!(answer.text().contains("Hi"));
//! assert!(ctx.finish().is_empty());
//! fake.stop();
//! let ctx = RecordingContext::builder("my_tests::chat").mode(Mode::Replay).dir("target/rec").target(target).build()?;
//! let again = ctx.client().chat(&ChatRequest::new("fake-chat").message(Message::user("Hi"))).await?;
//! assert_eq!(again.text(), answer.text());
//! # Ok(()) }
//! ```

use bytes::Bytes;
use futures::StreamExt;
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::{combinators::UnsyncBoxBody, BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper_util::rt::TokioIo;
use serde_json::{json, Map, Value};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

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
    /// The body.
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

/// A running fake OpenAI + Ollama server. Stopped by [`stop`](Self::stop) or on drop.
#[derive(Debug)]
pub struct FakeUpstream {
    addr: SocketAddr,
    state: Arc<State>,
    stop: Mutex<Option<tokio::sync::oneshot::Sender<()>>>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

#[derive(Debug)]
struct State {
    requests: Mutex<Vec<SeenRequest>>,
    chunk_delay_us: AtomicU64,
    fail_mid_stream: AtomicBool,
    status: AtomicU16,
    models: Mutex<Vec<String>>,
    next_id: AtomicU64,
    latest_stream: AtomicU64,
    finished_stream: AtomicU64,
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
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let state = Arc::new(State {
            requests: Mutex::default(),
            chunk_delay_us: AtomicU64::new(0),
            fail_mid_stream: AtomicBool::new(false),
            status: AtomicU16::new(0),
            models: Mutex::new(vec!["fake-chat".into(), "fake-embed".into()]),
            next_id: AtomicU64::new(0),
            latest_stream: AtomicU64::new(0),
            finished_stream: AtomicU64::new(0),
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
    /// `/api`); `0` or any status below 400 restores the normal answers.
    pub fn set_status(&self, status: u16) {
        self.state.status.store(status, Ordering::Relaxed);
    }

    /// The models `GET /v1/models` and `GET /api/tags` list (default: `fake-chat`,
    /// `fake-embed`).
    pub fn set_models<S: Into<String>>(&self, models: impl IntoIterator<Item = S>) {
        *self.state.models.lock().unwrap() = models.into_iter().map(Into::into).collect();
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
    let route = path
        .split('?')
        .next()
        .unwrap_or("/")
        .trim_end_matches('/')
        .to_owned();
    let ollama = route.starts_with("/api/");

    let forced = state.status.load(Ordering::Relaxed);
    if forced >= 400 {
        let status = StatusCode::from_u16(forced).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let message = format!("the fake upstream was told to answer {forced}");
        return if ollama {
            ollama_error(status, &message)
        } else {
            openai_error(status, &message, "server_error", None)
        };
    }

    let req_body: Value = if body.is_empty() {
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
        state: &state,
        body: &req_body,
        model,
        started,
    };
    match (parts.method.clone(), route.as_str()) {
        (Method::POST, "/v1/chat/completions") => call.openai_chat(),
        (Method::POST, "/v1/completions") => call.openai_completion(),
        (Method::POST, "/v1/embeddings") => call.openai_embeddings(),
        (Method::GET, "/v1/models") => call.openai_models(),
        (Method::POST, "/api/chat") => call.ollama_chat(),
        (Method::POST, "/api/generate") => call.ollama_generate(),
        (Method::POST, "/api/embed") => call.ollama_embed(),
        (Method::POST, "/api/embeddings") => call.ollama_embeddings_legacy(),
        (Method::GET, "/api/tags") => call.ollama_tags(),
        (_, _) if ollama => text_response(StatusCode::NOT_FOUND, "404 page not found"),
        (method, _) => openai_error(
            StatusCode::NOT_FOUND,
            &format!("Invalid URL ({method} {path})"),
            "invalid_request_error",
            None,
        ),
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
    fn next_id(&self) -> u64 {
        self.state.next_id.fetch_add(1, Ordering::Relaxed) + 1
    }

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
            .or_else(|| b.get("options").and_then(|o| o.get("num_predict")))
            .and_then(Value::as_u64)
            .map(|n| n as usize)
    }

    /// The answer's pieces (one per stream chunk) and its finish reason.
    fn answer(&self, prompt: &str, json_output: bool) -> (Vec<String>, &'static str) {
        let text = answer_text(prompt);
        let text = if json_output {
            json!({ "answer": text }).to_string()
        } else {
            text
        };
        let mut pieces = pieces(&text);
        match self.limit() {
            Some(n) if n < pieces.len() => {
                pieces.truncate(n.max(1));
                (pieces, "length")
            }
            _ => (pieces, "stop"),
        }
    }

    fn openai_chat(&self) -> Response<Body> {
        let prompt = last_user_text(self.body);
        let json_output = self
            .body
            .get("response_format")
            .and_then(|f| f.get("type"))
            .and_then(Value::as_str)
            .is_some_and(|t| t == "json_object" || t == "json_schema");
        let tool = first_tool_name(self.body);
        let (pieces, finish) = self.answer(&prompt, json_output);
        let id = format!("chatcmpl-{}", self.next_id());
        let created = unix_now();
        let prompt_tokens = word_count(
            &self
                .body
                .get("messages")
                .map(Value::to_string)
                .unwrap_or_default(),
        ) as u64;
        let usage = json!({ "prompt_tokens": prompt_tokens, "completion_tokens": pieces.len(), "total_tokens": prompt_tokens + pieces.len() as u64 });
        let tool_call = tool.map(|name| {
            let arguments = json!({ "query": prompt }).to_string();
            let id = format!(
                "call_{}",
                &hex64(fnv1a(format!("{name}\n{arguments}").as_bytes()))[..12]
            );
            (id, name, arguments)
        });

        if !self.stream_requested(false) {
            let (message, finish) = match &tool_call {
                Some((id, name, arguments)) => (
                    json!({ "role": "assistant", "content": null, "tool_calls": [{ "id": id, "type": "function", "function": { "name": name, "arguments": arguments } }], "refusal": null }),
                    "tool_calls",
                ),
                None => (
                    json!({ "role": "assistant", "content": pieces.concat(), "refusal": null }),
                    finish,
                ),
            };
            let body = json!({
                "id": id,
                "object": "chat.completion",
                "created": created,
                "model": self.model,
                "choices": [{ "index": 0, "message": message, "logprobs": null, "finish_reason": finish }],
                "usage": usage,
                "system_fingerprint": "fp_fake",
                "x_fake": { "note": "a field no client knows" },
            });
            return json_response(StatusCode::OK, "application/json", &body);
        }

        let include_usage = self
            .body
            .get("stream_options")
            .and_then(|o| o.get("include_usage"))
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let chunk = |delta: Value, finish: Option<&str>| {
            let mut c = json!({
                "id": id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": self.model,
                "system_fingerprint": "fp_fake",
                "choices": [{ "index": 0, "delta": delta, "logprobs": null, "finish_reason": finish }],
            });
            if include_usage {
                c["usage"] = Value::Null;
            }
            c
        };
        let mut frames = Vec::new();
        match &tool_call {
            Some((call_id, name, arguments)) => {
                frames.push(chunk(json!({ "role": "assistant", "content": null, "tool_calls": [{ "index": 0, "id": call_id, "type": "function", "function": { "name": name, "arguments": "" } }] }), None));
                for piece in split_even(arguments, 10) {
                    frames.push(chunk(json!({ "tool_calls": [{ "index": 0, "function": { "arguments": piece } }] }), None));
                }
                frames.push(chunk(json!({}), Some("tool_calls")));
            }
            None => {
                frames.push(chunk(json!({ "role": "assistant", "content": "" }), None));
                for piece in &pieces {
                    frames.push(chunk(json!({ "content": piece }), None));
                }
                frames.push(chunk(json!({}), Some(finish)));
            }
        }
        if include_usage {
            frames.push(json!({ "id": id, "object": "chat.completion.chunk", "created": created, "model": self.model, "system_fingerprint": "fp_fake", "choices": [], "usage": usage }));
        }
        self.sse(frames)
    }

    fn openai_completion(&self) -> Response<Body> {
        let prompt = match self.body.get("prompt") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(" "),
            _ => String::new(),
        };
        let (pieces, finish) = self.answer(&prompt, false);
        let id = format!("cmpl-{}", self.next_id());
        let created = unix_now();
        let prompt_tokens = word_count(&prompt) as u64;
        let usage = json!({ "prompt_tokens": prompt_tokens, "completion_tokens": pieces.len(), "total_tokens": prompt_tokens + pieces.len() as u64 });
        let chunk = |text: &str, finish: Option<&str>| {
            json!({
                "id": id,
                "object": "text_completion",
                "created": created,
                "model": self.model,
                "system_fingerprint": "fp_fake",
                "choices": [{ "text": text, "index": 0, "logprobs": null, "finish_reason": finish }],
            })
        };
        if !self.stream_requested(false) {
            let mut body = chunk(&pieces.concat(), Some(finish));
            body["usage"] = usage;
            return json_response(StatusCode::OK, "application/json", &body);
        }
        let mut frames: Vec<Value> = pieces.iter().map(|p| chunk(p, None)).collect();
        frames.push(chunk("", Some(finish)));
        self.sse(frames)
    }

    fn openai_embeddings(&self) -> Response<Body> {
        let inputs = texts(self.body.get("input"));
        let data: Vec<Value> = inputs
            .iter()
            .enumerate()
            .map(|(i, t)| json!({ "object": "embedding", "index": i, "embedding": embedding(t) }))
            .collect();
        let tokens: usize = inputs.iter().map(|t| word_count(t)).sum();
        let body = json!({ "object": "list", "data": data, "model": self.model, "usage": { "prompt_tokens": tokens, "total_tokens": tokens } });
        json_response(StatusCode::OK, "application/json", &body)
    }

    fn openai_models(&self) -> Response<Body> {
        let models = self.state.models.lock().unwrap().clone();
        let data: Vec<Value> = models.iter().enumerate().map(|(i, m)| json!({ "id": m, "object": "model", "created": 1_700_000_000 + i as u64, "owned_by": "fake" })).collect();
        json_response(
            StatusCode::OK,
            "application/json",
            &json!({ "object": "list", "data": data }),
        )
    }

    /// The final fields of an Ollama answer: durations (non-zero, volatile) and counts.
    fn ollama_final(&self, prompt: &str, pieces: usize, done_reason: &str) -> Map<String, Value> {
        let elapsed = self.started.elapsed().as_nanos() as u64 + 1_000_000;
        let mut m = Map::new();
        m.insert("done_reason".into(), done_reason.into());
        m.insert("done".into(), true.into());
        m.insert("total_duration".into(), (elapsed + 3_000_000).into());
        m.insert("load_duration".into(), (elapsed / 3 + 1).into());
        m.insert(
            "prompt_eval_count".into(),
            (word_count(prompt) as u64 + 1).into(),
        );
        m.insert("prompt_eval_duration".into(), (elapsed / 3 + 2).into());
        m.insert("eval_count".into(), (pieces as u64).into());
        m.insert("eval_duration".into(), (elapsed / 3 + 3).into());
        m
    }

    fn ollama_chat(&self) -> Response<Body> {
        let prompt = last_user_text(self.body);
        let json_output = self.body.get("format").is_some_and(|f| !f.is_null());
        let (pieces, finish) = self.answer(&prompt, json_output);
        let tool_calls = first_tool_name(self.body).map(
            |name| json!([{ "function": { "name": name, "arguments": { "query": prompt } } }]),
        );
        let line = |message: Value| json!({ "model": self.model, "created_at": rfc3339_now(), "message": message, "done": false });
        let last = |content: String| {
            let mut v = line(json!({ "role": "assistant", "content": content }));
            v.as_object_mut()
                .unwrap()
                .extend(self.ollama_final(&prompt, pieces.len(), finish));
            v
        };
        if !self.stream_requested(true) {
            let mut v = last(if tool_calls.is_some() {
                String::new()
            } else {
                pieces.concat()
            });
            if let Some(calls) = tool_calls {
                v["message"]["tool_calls"] = calls;
            }
            return json_response(StatusCode::OK, "application/json; charset=utf-8", &v);
        }
        let mut frames = Vec::new();
        match tool_calls {
            Some(calls) => frames.push(line(
                json!({ "role": "assistant", "content": "", "tool_calls": calls }),
            )),
            None => frames.extend(
                pieces
                    .iter()
                    .map(|p| line(json!({ "role": "assistant", "content": p }))),
            ),
        }
        frames.push(last(String::new()));
        self.ndjson(frames)
    }

    fn ollama_generate(&self) -> Response<Body> {
        let prompt = self
            .body
            .get("prompt")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        let json_output = self.body.get("format").is_some_and(|f| !f.is_null());
        let (pieces, finish) = self.answer(&prompt, json_output);
        let line = |response: &str| json!({ "model": self.model, "created_at": rfc3339_now(), "response": response, "done": false });
        let last = |response: String| {
            let mut v = line(&response);
            let map = v.as_object_mut().unwrap();
            map.extend(self.ollama_final(&prompt, pieces.len(), finish));
            map.insert("context".into(), json!([1, 2, 3]));
            v
        };
        if !self.stream_requested(true) {
            return json_response(
                StatusCode::OK,
                "application/json; charset=utf-8",
                &last(pieces.concat()),
            );
        }
        let mut frames: Vec<Value> = pieces.iter().map(|p| line(p)).collect();
        frames.push(last(String::new()));
        self.ndjson(frames)
    }

    fn ollama_embed(&self) -> Response<Body> {
        let inputs = texts(self.body.get("input"));
        let vectors: Vec<Vec<f64>> = inputs.iter().map(|t| embedding(t)).collect();
        let elapsed = self.started.elapsed().as_nanos() as u64 + 1_000_000;
        let tokens: usize = inputs.iter().map(|t| word_count(t)).sum();
        let body = json!({ "model": self.model, "embeddings": vectors, "total_duration": elapsed + 2_000_000, "load_duration": elapsed / 2 + 1, "prompt_eval_count": tokens });
        json_response(StatusCode::OK, "application/json; charset=utf-8", &body)
    }

    fn ollama_embeddings_legacy(&self) -> Response<Body> {
        let text = self
            .body
            .get("prompt")
            .and_then(Value::as_str)
            .unwrap_or("");
        json_response(
            StatusCode::OK,
            "application/json; charset=utf-8",
            &json!({ "embedding": embedding(text) }),
        )
    }

    fn ollama_tags(&self) -> Response<Body> {
        let models = self.state.models.lock().unwrap().clone();
        let items: Vec<Value> = models
            .iter()
            .enumerate()
            .map(|(i, m)| {
                let name = if m.contains(':') { m.clone() } else { format!("{m}:latest") };
                json!({
                    "name": name,
                    "model": name,
                    "modified_at": "2024-06-01T12:00:00.000000000Z",
                    "size": 1_000_000 + i as u64,
                    "digest": format!("{}{}", hex64(fnv1a(name.as_bytes())), hex64(fnv1a(format!("{name}!").as_bytes()))),
                    "details": { "parent_model": "", "format": "gguf", "family": "fake", "families": ["fake"], "parameter_size": "1M", "quantization_level": "Q4_0" },
                })
            })
            .collect();
        json_response(
            StatusCode::OK,
            "application/json; charset=utf-8",
            &json!({ "models": items }),
        )
    }

    fn sse(&self, events: Vec<Value>) -> Response<Body> {
        let mut frames: Vec<Bytes> = events
            .iter()
            .map(|e| Bytes::from(format!("data: {e}\n\n")))
            .collect();
        frames.push(Bytes::from_static(b"data: [DONE]\n\n"));
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

fn ollama_error(status: StatusCode, message: &str) -> Response<Body> {
    json_response(
        status,
        "application/json; charset=utf-8",
        &json!({ "error": message }),
    )
}

/// The text of the last user message (string content, or the text parts of a list).
fn last_user_text(body: &Value) -> String {
    let messages = body
        .get("messages")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let Some(msg) = messages
        .iter()
        .rev()
        .find(|m| m.get("role").and_then(Value::as_str) == Some("user"))
        .or(messages.last())
    else {
        return String::new();
    };
    match msg.get("content") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join(" "),
        _ => String::new(),
    }
}

fn first_tool_name(body: &Value) -> Option<String> {
    let tool = body.get("tools")?.as_array()?.first()?;
    let name = tool
        .get("function")
        .and_then(|f| f.get("name"))
        .or_else(|| tool.get("name"))?;
    name.as_str().map(str::to_owned)
}

/// The echo answer to a prompt: at least 14 words.
fn answer_text(prompt: &str) -> String {
    format!(
        "Fake answer to \"{}\": this reply comes from the fake upstream, one word at a time.",
        prompt.trim()
    )
}

/// Words with their trailing space, so that the pieces concatenate to the text.
fn pieces(text: &str) -> Vec<String> {
    text.split_inclusive(' ').map(str::to_owned).collect()
}

/// `text` cut into at most `n` pieces of about equal length (on char boundaries).
fn split_even(text: &str, n: usize) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let size = chars.len().div_ceil(n.max(1)).max(1);
    chars.chunks(size).map(|c| c.iter().collect()).collect()
}

fn word_count(text: &str) -> usize {
    text.split_whitespace().count()
}

/// The texts of an embedding input: a string, a list of strings (or of anything else,
/// as JSON text).
fn texts(input: Option<&Value>) -> Vec<String> {
    match input {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|| v.to_string())
            })
            .collect(),
        Some(other) => vec![other.to_string()],
        None => vec![String::new()],
    }
}

/// A deterministic 8-dimensional vector for a text. Each value is `k / 128` with
/// `k` in -128..128, so it survives f32 and JSON round trips exactly.
pub fn embedding(text: &str) -> Vec<f64> {
    let h = fnv1a(text.as_bytes());
    let h2 = fnv1a(&h.to_le_bytes());
    (0..8)
        .map(|i| {
            if i < 4 {
                (h >> (i * 16)) & 0xff
            } else {
                (h2 >> ((i - 4) * 16)) & 0xff
            }
        })
        .map(|b| (b as f64 - 128.0) / 128.0)
        .collect()
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ *b as u64).wrapping_mul(0x0100_0000_01b3)
    })
}

fn hex64(v: u64) -> String {
    format!("{v:016x}")
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The current time as Ollama writes it: RFC 3339, UTC, nanoseconds.
fn rfc3339_now() -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs() as i64;
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let rem = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:09}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        now.subsec_nanos()
    )
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = (if mp < 10 { mp + 3 } else { mp - 9 }) as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
        assert!(rfc3339_now().ends_with('Z'));
    }

    #[test]
    fn answers_are_long_and_concatenate() {
        let p = pieces(&answer_text("hi"));
        assert!(p.len() >= 10);
        assert_eq!(p.concat(), answer_text("hi"));
        assert_eq!(split_even("abcdefghijk", 4).concat(), "abcdefghijk");
    }

    #[test]
    fn embeddings_are_deterministic_and_exact_in_f32() {
        let a = embedding("hello");
        assert_eq!(a, embedding("hello"));
        assert_ne!(a, embedding("hello!"));
        assert_eq!(a.len(), 8);
        assert!(a
            .iter()
            .all(|v| (*v as f32) as f64 == *v && (-1.0..1.0).contains(v)));
    }
}
