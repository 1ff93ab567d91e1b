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
//! use futures_util::StreamExt;
//! let client = ctx.client();
//! let answer = client.chat(&ChatRequest::new("smollm2-135m").message(Message::user("Hi")).max_tokens(16)).await?;
//! println!("{}", answer.text());
//! let mut chunks = client.chat_stream(&ChatRequest::new("smollm2-135m").message(Message::user("Hi"))).await?;
//! while let Some(chunk) = chunks.next().await {
//!     print!("{}", chunk?.text());
//! }
//! # Ok(()) }
//! ```

mod chat;
mod files;
mod misc;
#[cfg(feature = "ollama")]
mod ollama;
mod responses;

pub use chat::*;
pub use files::*;
pub use misc::*;
#[cfg(feature = "ollama")]
pub use ollama::*;
pub use responses::*;

use crate::engine::{EngineRequest, EngineResponse, ResponseBody, Scope};
use crate::error::{Error, Result};
use crate::stream::{FrameParser, StreamFormat};
use futures_util::stream::{Stream, StreamExt};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
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

impl Client {
    support! {
        /// A client over a scope (normally from [`RecordingContext::client`](crate::RecordingContext::client)).
        pub fn new(scope: Arc<Scope>) -> Self {
            Client { scope }
        }
    }

    support! {
        /// The engine scope the client talks to.
        pub fn scope(&self) -> &Arc<Scope> {
            &self.scope
        }
    }

    support! {
        /// Sends a raw request through the engine.
        pub async fn send(&self, req: EngineRequest) -> Result<EngineResponse> {
            self.scope.handle(req).await
        }
    }

    /// POSTs a JSON body through the engine.
    async fn post(&self, endpoint: &str, body: &impl Serialize) -> Result<EngineResponse> {
        self.send(EngineRequest::post(endpoint, to_json(endpoint, body)?))
            .await
    }

    /// POSTs JSON and decodes a JSON answer; an error status is [`Error::Api`].
    pub async fn post_json<T: DeserializeOwned>(
        &self,
        endpoint: &str,
        body: &impl Serialize,
    ) -> Result<T> {
        let resp = self.post(endpoint, body).await?;
        decode(endpoint, resp)
            .await
            .map_err(|e| self.scope.redact(e))
    }

    /// GETs and decodes a JSON answer.
    pub async fn get_json<T: DeserializeOwned>(&self, endpoint: &str) -> Result<T> {
        let resp = self.send(EngineRequest::get(endpoint)).await?;
        decode(endpoint, resp)
            .await
            .map_err(|e| self.scope.redact(e))
    }

    /// DELETEs and decodes a JSON answer.
    pub async fn delete_json<T: DeserializeOwned>(&self, endpoint: &str) -> Result<T> {
        let resp = self.send(EngineRequest::delete(endpoint)).await?;
        decode(endpoint, resp)
            .await
            .map_err(|e| self.scope.redact(e))
    }

    /// POSTs JSON and streams typed chunks (SSE or NDJSON, as the server answers);
    /// the SSE `[DONE]` marker ends the stream.
    pub async fn post_stream<T: DeserializeOwned + Send + 'static>(
        &self,
        endpoint: &str,
        body: &impl Serialize,
    ) -> Result<ChunkStream<T>> {
        self.send_stream(EngineRequest::post(endpoint, to_json(endpoint, body)?))
            .await
    }

    /// Sends a request and streams its answer's events as typed chunks (an event
    /// whose data is not a JSON object or array is skipped; `[DONE]` ends the stream);
    /// an error status is [`Error::Api`].
    pub async fn send_stream<T: DeserializeOwned + Send + 'static>(
        &self,
        req: EngineRequest,
    ) -> Result<ChunkStream<T>> {
        let endpoint = req.endpoint.clone();
        let resp = self.send(req).await?;
        if resp.status >= 400 {
            let status = resp.status;
            let body = resp.bytes().await?;
            return Err(self.scope.redact(Error::Api {
                status,
                endpoint,
                body: String::from_utf8_lossy(&body).into_owned(),
            }));
        }
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

    support! {
        /// Sends a request and decodes its JSON answer; an error status is [`Error::Api`].
        pub async fn send_json<T: DeserializeOwned>(&self, req: EngineRequest) -> Result<T> {
            let endpoint = req.endpoint.clone();
            let resp = self.send(req).await?;
            decode(&endpoint, resp)
                .await
                .map_err(|e| self.scope.redact(e))
        }
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
fn to_json(endpoint: &str, body: &impl Serialize) -> Result<Vec<u8>> {
    let mut bytes = Vec::with_capacity(1024);
    serde_json::to_writer(&mut bytes, body).map_err(|source| Error::Serialize {
        endpoint: endpoint.to_owned(),
        source,
    })?;
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
