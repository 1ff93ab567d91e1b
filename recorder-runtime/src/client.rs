//! The fixture client: a small typed client for what tests call most, talking to
//! the engine in process (no HTTP, no socket). In record modes the engine goes
//! upstream itself.
//!
//! Every response type keeps fields it does not name in `extra`, because
//! providers add fields.
//!
//! ```no_run
//! # async fn demo(ctx: recorder_runtime::RecordingContext) -> recorder_runtime::Result<()> {
//! use recorder_runtime::client::{ChatRequest, Message};
//! use futures::StreamExt;
//! let client = ctx.client();
//! let answer = client.chat(&ChatRequest::new("smollm2-135m").message(Message::user("Hi")).max_tokens(16)).await?;
//! println!("{}", answer.text());
//! let mut chunks = client.chat_stream(&ChatRequest::new("smollm2-135m").message(Message::user("Hi"))).await?;
//! while let Some(chunk) = chunks.next().await {
//!     print!("{}", chunk?.text());
//! }
//! # Ok(()) }
//! ```

use crate::engine::{EngineRequest, EngineResponse, ResponseBody, Scope};
use crate::error::{Error, Result};
use crate::stream::{FrameParser, StreamFormat};
use futures::{Stream, StreamExt};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;

/// A stream of typed chunks; dropping it early is fine (a recording still completes).
pub type ChunkStream<T> = Pin<Box<dyn Stream<Item = Result<T>> + Send>>;

/// The fixture client of one test.
#[derive(Clone, Debug)]
pub struct Client {
    scope: Arc<Scope>,
}

/// A chat message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Message {
    /// `system`, `user`, `assistant` or `tool` (empty in stream deltas that omit it).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub role: String,
    /// The text, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// Tool calls the assistant made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<Value>>,
    /// Anything else.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Message {
    /// A message with a role and text.
    pub fn new(role: &str, content: impl Into<String>) -> Self {
        Message {
            role: role.into(),
            content: Some(content.into()),
            ..Default::default()
        }
    }
    /// A user message.
    pub fn user(content: impl Into<String>) -> Self {
        Self::new("user", content)
    }
    /// A system message.
    pub fn system(content: impl Into<String>) -> Self {
        Self::new("system", content)
    }
    /// An assistant message.
    pub fn assistant(content: impl Into<String>) -> Self {
        Self::new("assistant", content)
    }
}

/// `POST /v1/chat/completions` (OpenAI) or `/api/chat` (Ollama) request.
#[derive(Debug, Clone, Serialize, Default)]
pub struct ChatRequest {
    /// The model.
    pub model: String,
    /// The conversation.
    pub messages: Vec<Message>,
    /// Other fields: `max_tokens`, `temperature`, `tools`, `response_format`, `stream`, ...
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl ChatRequest {
    /// A request for `model` with no messages yet.
    pub fn new(model: impl Into<String>) -> Self {
        ChatRequest {
            model: model.into(),
            ..Default::default()
        }
    }
    /// Adds a message.
    pub fn message(mut self, m: Message) -> Self {
        self.messages.push(m);
        self
    }
    /// Sets any field.
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.extra.insert(key.into(), value.into());
        self
    }
    /// `max_tokens`.
    pub fn max_tokens(self, n: u32) -> Self {
        self.with("max_tokens", n)
    }
    /// `temperature`.
    pub fn temperature(self, t: f64) -> Self {
        self.with("temperature", t)
    }
    /// `seed`.
    pub fn seed(self, s: u64) -> Self {
        self.with("seed", s)
    }
    /// `tools` (OpenAI function tools).
    pub fn tools(self, tools: Vec<Value>) -> Self {
        self.with("tools", tools)
    }
    /// `response_format`, e.g. `{"type": "json_object"}`.
    pub fn response_format(self, format: Value) -> Self {
        self.with("response_format", format)
    }
}

/// A chat completion.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChatCompletion {
    /// Normalized to `rec-...` in recordings.
    #[serde(default)]
    pub id: String,
    /// The model that answered.
    #[serde(default)]
    pub model: String,
    /// The choices.
    pub choices: Vec<ChatChoice>,
    /// Token usage.
    #[serde(default)]
    pub usage: Option<Usage>,
    /// Anything else.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl ChatCompletion {
    /// The first choice's text ("" when there is none).
    pub fn text(&self) -> &str {
        self.choices
            .first()
            .and_then(|c| c.message.content.as_deref())
            .unwrap_or("")
    }
}

/// One choice of a chat completion.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChatChoice {
    /// Its index.
    #[serde(default)]
    pub index: u32,
    /// The message.
    pub message: Message,
    /// Why generation stopped.
    #[serde(default)]
    pub finish_reason: Option<String>,
    /// Anything else.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Token usage.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Usage {
    /// Prompt tokens.
    #[serde(default)]
    pub prompt_tokens: u64,
    /// Completion tokens.
    #[serde(default)]
    pub completion_tokens: u64,
    /// Total.
    #[serde(default)]
    pub total_tokens: u64,
    /// Anything else.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One chunk of a streamed chat completion.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChatChunk {
    /// Normalized to `rec-...` in recordings.
    #[serde(default)]
    pub id: String,
    /// Choices (empty in a usage-only chunk).
    #[serde(default)]
    pub choices: Vec<ChunkChoice>,
    /// Usage, in the last chunk when asked for.
    #[serde(default)]
    pub usage: Option<Usage>,
    /// Anything else.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl ChatChunk {
    /// The first choice's text delta.
    pub fn text(&self) -> &str {
        self.choices
            .first()
            .and_then(|c| c.delta.content.as_deref())
            .unwrap_or("")
    }
}

/// A choice of a chunk.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChunkChoice {
    /// Its index.
    #[serde(default)]
    pub index: u32,
    /// What this chunk adds.
    #[serde(default)]
    pub delta: Message,
    /// Set in the last chunk of the choice.
    #[serde(default)]
    pub finish_reason: Option<String>,
    /// Anything else.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `POST /v1/completions` request.
#[derive(Debug, Clone, Serialize, Default)]
pub struct CompletionRequest {
    /// The model.
    pub model: String,
    /// The prompt.
    pub prompt: String,
    /// Other fields.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl CompletionRequest {
    /// A request.
    pub fn new(model: impl Into<String>, prompt: impl Into<String>) -> Self {
        CompletionRequest {
            model: model.into(),
            prompt: prompt.into(),
            extra: Map::new(),
        }
    }
    /// Sets any field.
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.extra.insert(key.into(), value.into());
        self
    }
    /// `max_tokens`.
    pub fn max_tokens(self, n: u32) -> Self {
        self.with("max_tokens", n)
    }
}

/// A completion (or one chunk of a streamed one).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Completion {
    /// Normalized to `rec-...` in recordings.
    #[serde(default)]
    pub id: String,
    /// The choices.
    #[serde(default)]
    pub choices: Vec<CompletionChoice>,
    /// Token usage.
    #[serde(default)]
    pub usage: Option<Usage>,
    /// Anything else.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Completion {
    /// The first choice's text.
    pub fn text(&self) -> &str {
        self.choices.first().map(|c| c.text.as_str()).unwrap_or("")
    }
}

/// A completion choice.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CompletionChoice {
    /// The text.
    #[serde(default)]
    pub text: String,
    /// Its index.
    #[serde(default)]
    pub index: u32,
    /// Why generation stopped.
    #[serde(default)]
    pub finish_reason: Option<String>,
    /// Anything else.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `POST /v1/embeddings` request.
#[derive(Debug, Clone, Serialize)]
pub struct EmbeddingRequest {
    /// The model.
    pub model: String,
    /// One text or several.
    pub input: Value,
    /// Other fields (`encoding_format`, `dimensions`).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl EmbeddingRequest {
    /// Embeds several texts.
    pub fn new<S: Into<String>>(
        model: impl Into<String>,
        input: impl IntoIterator<Item = S>,
    ) -> Self {
        let input = Value::Array(input.into_iter().map(|s| Value::String(s.into())).collect());
        EmbeddingRequest {
            model: model.into(),
            input,
            extra: Map::new(),
        }
    }
}

/// Embeddings.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Embeddings {
    /// One per input, in order.
    pub data: Vec<Embedding>,
    /// The model.
    #[serde(default)]
    pub model: String,
    /// Token usage.
    #[serde(default)]
    pub usage: Option<Value>,
    /// Anything else.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One embedding.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Embedding {
    /// The vector.
    pub embedding: Vec<f64>,
    /// The input's index.
    #[serde(default)]
    pub index: u32,
    /// Anything else.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `GET /v1/models`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModelList {
    /// The models.
    pub data: Vec<ModelInfo>,
    /// Anything else.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One model of a list.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModelInfo {
    /// Its id.
    pub id: String,
    /// Owner, when given.
    #[serde(default)]
    pub owned_by: Option<String>,
    /// Anything else (`created` is missing on some servers).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Ollama `/api/chat` response (or one line of its stream).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OllamaChat {
    /// The model.
    #[serde(default)]
    pub model: String,
    /// The message (a piece of it when streaming).
    #[serde(default)]
    pub message: Message,
    /// Whether this is the last line.
    #[serde(default)]
    pub done: bool,
    /// Anything else (`created_at`, durations, counts).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Ollama `/api/generate` request.
#[derive(Debug, Clone, Serialize, Default)]
pub struct GenerateRequest {
    /// The model.
    pub model: String,
    /// The prompt.
    pub prompt: String,
    /// Other fields (`options`, `format`, `stream`).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl GenerateRequest {
    /// A request.
    pub fn new(model: impl Into<String>, prompt: impl Into<String>) -> Self {
        GenerateRequest {
            model: model.into(),
            prompt: prompt.into(),
            extra: Map::new(),
        }
    }
}

/// Ollama `/api/generate` response (or one line of its stream).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OllamaGenerate {
    /// The model.
    #[serde(default)]
    pub model: String,
    /// The text (a piece of it when streaming).
    #[serde(default)]
    pub response: String,
    /// Whether this is the last line.
    #[serde(default)]
    pub done: bool,
    /// Anything else.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Ollama `/api/embed` response.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OllamaEmbed {
    /// The model.
    #[serde(default)]
    pub model: String,
    /// One vector per input.
    pub embeddings: Vec<Vec<f64>>,
    /// Anything else.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Ollama `/api/tags` response.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OllamaTags {
    /// Local models.
    pub models: Vec<OllamaModel>,
    /// Anything else.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A local Ollama model.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OllamaModel {
    /// Its name, e.g. `llama3.2:3b`.
    pub name: String,
    /// Anything else.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Client {
    /// A client over a scope (normally from [`RecordingContext::client`](crate::RecordingContext::client)).
    pub fn new(scope: Arc<Scope>) -> Self {
        Client { scope }
    }

    /// Sends a raw request through the engine.
    pub async fn send(&self, req: EngineRequest) -> Result<EngineResponse> {
        self.scope.handle(req).await
    }

    /// POSTs a JSON body through the engine.
    async fn post(&self, endpoint: &str, body: &impl Serialize) -> Result<EngineResponse> {
        self.send(EngineRequest::post(endpoint, to_json(body)?))
            .await
    }

    /// POSTs JSON and decodes a JSON answer; an error status is [`Error::Api`].
    pub async fn post_json<T: DeserializeOwned>(
        &self,
        endpoint: &str,
        body: &impl Serialize,
    ) -> Result<T> {
        let resp = self.post(endpoint, body).await?;
        decode(endpoint, resp).await
    }

    /// GETs and decodes a JSON answer.
    pub async fn get_json<T: DeserializeOwned>(&self, endpoint: &str) -> Result<T> {
        let resp = self.send(EngineRequest::get(endpoint)).await?;
        decode(endpoint, resp).await
    }

    /// POSTs JSON and streams typed chunks (SSE or NDJSON, as the server answers);
    /// the SSE `[DONE]` marker ends the stream.
    pub async fn post_stream<T: DeserializeOwned + Send + 'static>(
        &self,
        endpoint: &str,
        body: &impl Serialize,
    ) -> Result<ChunkStream<T>> {
        let resp = self.post(endpoint, body).await?;
        if resp.status >= 400 {
            let status = resp.status;
            let body = resp.bytes().await?;
            return Err(Error::Api {
                status,
                endpoint: endpoint.into(),
                body: String::from_utf8_lossy(&body).into_owned(),
            });
        }
        let endpoint = endpoint.to_owned();
        let (format, chunks) = match resp.body {
            ResponseBody::Stream(format, chunks) => (format, chunks),
            ResponseBody::Full(b) => {
                let format = resp
                    .content_type
                    .as_deref()
                    .and_then(StreamFormat::from_content_type)
                    .unwrap_or(StreamFormat::Ndjson);
                (format, crate::engine::BodyStream::once(b))
            }
        };
        Ok(Box::pin(Typed::<T> {
            chunks,
            parser: Some(FrameParser::new(format).raw_data()),
            ready: VecDeque::new(),
            endpoint,
            item: std::marker::PhantomData,
        }))
    }

    /// Chat completion.
    pub async fn chat(&self, req: &ChatRequest) -> Result<ChatCompletion> {
        self.post_json("/v1/chat/completions", req).await
    }

    /// Streamed chat completion (`stream: true` is set for you).
    pub async fn chat_stream(&self, req: &ChatRequest) -> Result<ChunkStream<ChatChunk>> {
        let req = req.clone().with("stream", true);
        self.post_stream("/v1/chat/completions", &req).await
    }

    /// Text completion.
    pub async fn completion(&self, req: &CompletionRequest) -> Result<Completion> {
        self.post_json("/v1/completions", req).await
    }

    /// Streamed text completion.
    pub async fn completion_stream(
        &self,
        req: &CompletionRequest,
    ) -> Result<ChunkStream<Completion>> {
        let req = req.clone().with("stream", true);
        self.post_stream("/v1/completions", &req).await
    }

    /// Embeddings.
    pub async fn embeddings(&self, req: &EmbeddingRequest) -> Result<Embeddings> {
        self.post_json("/v1/embeddings", req).await
    }

    /// The model list (merged across recorded servers on replay).
    pub async fn models(&self) -> Result<ModelList> {
        self.get_json("/v1/models").await
    }

    /// Ollama chat, not streamed.
    pub async fn ollama_chat(&self, req: &ChatRequest) -> Result<OllamaChat> {
        let req = req.clone().with("stream", false);
        self.post_json("/api/chat", &req).await
    }

    /// Ollama chat, streamed as NDJSON lines.
    pub async fn ollama_chat_stream(&self, req: &ChatRequest) -> Result<ChunkStream<OllamaChat>> {
        let req = req.clone().with("stream", true);
        self.post_stream("/api/chat", &req).await
    }

    /// Ollama generate, not streamed.
    pub async fn ollama_generate(&self, req: &GenerateRequest) -> Result<OllamaGenerate> {
        let mut req = req.clone();
        req.extra.insert("stream".into(), false.into());
        self.post_json("/api/generate", &req).await
    }

    /// Ollama generate, streamed.
    pub async fn ollama_generate_stream(
        &self,
        req: &GenerateRequest,
    ) -> Result<ChunkStream<OllamaGenerate>> {
        let mut req = req.clone();
        req.extra.insert("stream".into(), true.into());
        self.post_stream("/api/generate", &req).await
    }

    /// Ollama embeddings.
    pub async fn ollama_embed<S: Into<String>>(
        &self,
        model: &str,
        input: impl IntoIterator<Item = S>,
    ) -> Result<OllamaEmbed> {
        let input: Vec<String> = input.into_iter().map(Into::into).collect();
        self.post_json(
            "/api/embed",
            &serde_json::json!({ "model": model, "input": input }),
        )
        .await
    }

    /// Ollama's local models.
    pub async fn ollama_tags(&self) -> Result<OllamaTags> {
        self.get_json("/api/tags").await
    }
}

/// A streamed answer's events decoded into `T`; the SSE `[DONE]` marker ends it.
/// A plain struct rather than `stream::unfold`, whose state would be moved in and
/// out of a future for every event.
struct Typed<T> {
    chunks: crate::engine::BodyStream,
    /// `None` once the stream has ended (its end, `[DONE]`, or an error).
    parser: Option<FrameParser>,
    /// Frames parsed from chunks that were not one whole event each.
    ready: VecDeque<crate::stream::Frame>,
    endpoint: String,
    item: std::marker::PhantomData<fn() -> T>,
}

impl<T: DeserializeOwned> Stream for Typed<T> {
    type Item = Result<T>;

    fn poll_next(
        self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<T>>> {
        use std::task::Poll;
        let this = self.get_mut();
        loop {
            if let Some(frame) = this.ready.pop_front() {
                // Raw data text, decoded once, straight into `T`.
                let Some(Value::String(text)) = frame.data else {
                    continue;
                };
                if text == "[DONE]" {
                    this.end();
                    return Poll::Ready(None);
                }
                if let Some(item) = decode_data(text.as_bytes(), &this.endpoint) {
                    return Poll::Ready(Some(item));
                }
                continue;
            }
            let Some(parser) = this.parser.as_mut() else {
                return Poll::Ready(None);
            };
            match std::task::ready!(this.chunks.poll_next_unpin(cx)) {
                Some(Ok(bytes)) => match parser.push_single_data(&bytes) {
                    // One event per chunk, as replay sends them: decoded in place,
                    // no frame built.
                    Some(b"[DONE]") => {
                        this.end();
                        return Poll::Ready(None);
                    }
                    Some(data) => {
                        if let Some(item) = decode_data(data, &this.endpoint) {
                            return Poll::Ready(Some(item));
                        }
                    }
                    None => this.ready.extend(parser.push(&bytes)),
                },
                Some(Err(e)) => {
                    this.parser = None;
                    return Poll::Ready(Some(Err(e)));
                }
                None => match this.parser.take().map(FrameParser::finish) {
                    Some(Ok(Some(last))) => this.ready.push_back(last),
                    Some(Err(e)) => return Poll::Ready(Some(Err(e))),
                    _ => return Poll::Ready(None),
                },
            }
        }
    }
}

impl<T> Typed<T> {
    fn end(&mut self) {
        self.parser = None;
        self.ready.clear();
    }
}

/// A stream event's data decoded into `T`; `None` for data that is not a JSON
/// object or array (a note), which the stream skips. The caller handles `[DONE]`.
fn decode_data<T: DeserializeOwned>(data: &[u8], endpoint: &str) -> Option<Result<T>> {
    if !matches!(data.trim_ascii_start().first(), Some(b'{' | b'[')) {
        return None;
    }
    Some(
        serde_json::from_slice::<T>(data).map_err(|e| Error::Decode {
            endpoint: endpoint.to_owned(),
            reason: e.to_string(),
        }),
    )
}

/// A request body as JSON bytes, into a buffer sized for a typical request (growing
/// one from empty costs several reallocations per request).
fn to_json(body: &impl Serialize) -> Result<Vec<u8>> {
    let mut bytes = Vec::with_capacity(1024);
    serde_json::to_writer(&mut bytes, body).map_err(|e| Error::Other(e.to_string()))?;
    Ok(bytes)
}

async fn decode<T: DeserializeOwned>(endpoint: &str, resp: EngineResponse) -> Result<T> {
    let status = resp.status;
    let body = resp.bytes().await?;
    if status >= 400 {
        return Err(Error::Api {
            status,
            endpoint: endpoint.into(),
            body: String::from_utf8_lossy(&body).into_owned(),
        });
    }
    serde_json::from_slice(&body).map_err(|e| Error::Decode {
        endpoint: endpoint.into(),
        reason: format!(
            "{e} in {}",
            String::from_utf8_lossy(&body[..body.len().min(300)])
        ),
    })
}
