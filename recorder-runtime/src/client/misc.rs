//! The rest of what tests call: rerank, moderation, and Anthropic's Messages API.
//!
//! ```no_run
//! # async fn demo(ctx: recorder_runtime::RecordingContext) -> recorder_runtime::Result<()> {
//! use recorder_runtime::client::{Message, MessagesRequest, RerankRequest};
//! let client = ctx.client();
//! let ranked = client.rerank(&RerankRequest::new("reranker", "capital of France", ["Paris", "Berlin"])).await?;
//! println!("best: {}", ranked.results[0].index);
//! let flagged = client.moderate("omni-moderation-latest", "I like kittens").await?;
//! println!("flagged: {}", flagged.results[0].flagged);
//! let answer = client.messages(&MessagesRequest::new("claude-sonnet-4-5", 64).message(Message::user("Hi"))).await?;
//! println!("{}", answer.text());
//! # Ok(()) }
//! ```

use super::{ChunkStream, Client, Message};
use crate::engine::EngineRequest;
use crate::error::Result;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

/// A rerank request (`POST /v1/rerank`: vLLM, Jina, Cohere-compatible servers).
#[derive(Debug, Clone, Serialize)]
pub struct RerankRequest {
    /// The reranker.
    pub model: String,
    /// The query.
    pub query: String,
    /// The documents to order.
    pub documents: Vec<String>,
    /// Other fields (`top_n`, `return_documents`).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl RerankRequest {
    /// Orders `documents` by relevance to `query`.
    pub fn new<S: Into<String>>(
        model: impl Into<String>,
        query: impl Into<String>,
        documents: impl IntoIterator<Item = S>,
    ) -> Self {
        RerankRequest {
            model: model.into(),
            query: query.into(),
            documents: documents.into_iter().map(Into::into).collect(),
            extra: Map::new(),
        }
    }
    /// Keeps the best `n`.
    pub fn top_n(mut self, n: usize) -> Self {
        self.extra.insert("top_n".into(), n.into());
        self
    }
    /// Whether each result carries its document (`return_documents`; servers differ
    /// in the default: Jina and vLLM return them, Cohere does not).
    ///
    /// ```
    /// use recorder_runtime::client::RerankRequest;
    /// let req = RerankRequest::new("reranker", "q", ["a", "b"]).top_n(1).return_documents(true);
    /// let body = serde_json::to_value(&req).unwrap();
    /// assert_eq!(body["top_n"], 1);
    /// assert_eq!(body["return_documents"], true);
    /// ```
    pub fn return_documents(mut self, yes: bool) -> Self {
        self.extra.insert("return_documents".into(), yes.into());
        self
    }
}

/// A rerank answer: the documents' indexes, best first.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Reranked {
    /// The results (`results`, or `data` on some servers).
    #[serde(alias = "data")]
    pub results: Vec<RerankResult>,
    /// Anything else.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One reranked document.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RerankResult {
    /// Its index in the request.
    pub index: usize,
    /// How relevant it is.
    #[serde(alias = "score")]
    pub relevance_score: f64,
    /// Anything else.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl RerankResult {
    /// The document's text, when the server returned it: `{"document": {"text": ...}}`
    /// (vLLM, Jina, Cohere) or `{"document": "..."}`.
    ///
    /// ```
    /// use recorder_runtime::client::RerankResult;
    /// let r: RerankResult = serde_json::from_value(serde_json::json!(
    ///     {"index": 1, "relevance_score": 0.9, "document": {"text": "Paris"}})).unwrap();
    /// assert_eq!(r.document_text(), Some("Paris"));
    /// ```
    pub fn document_text(&self) -> Option<&str> {
        match self.extra.get("document")? {
            Value::String(text) => Some(text),
            document => document.get("text")?.as_str(),
        }
    }
}

/// A moderation answer (`POST /v1/moderations`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Moderation {
    /// The model.
    #[serde(default)]
    pub model: String,
    /// One result per input.
    pub results: Vec<ModerationResult>,
    /// Anything else.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A moderation result.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModerationResult {
    /// Whether any category was flagged.
    pub flagged: bool,
    /// Category -> flagged.
    #[serde(default)]
    pub categories: Map<String, Value>,
    /// Category -> score.
    #[serde(default)]
    pub category_scores: Map<String, Value>,
    /// Anything else.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl ModerationResult {
    /// The categories flagged (`true` in `categories`), in the server's order.
    ///
    /// ```
    /// use recorder_runtime::client::ModerationResult;
    /// let r: ModerationResult = serde_json::from_value(serde_json::json!({"flagged": true,
    ///     "categories": {"hate": false, "violence": true}})).unwrap();
    /// assert_eq!(r.flagged_categories(), ["violence"]);
    /// ```
    pub fn flagged_categories(&self) -> Vec<&str> {
        self.categories
            .iter()
            .filter(|(_, v)| v.as_bool() == Some(true))
            .map(|(k, _)| k.as_str())
            .collect()
    }
}

/// An Anthropic Messages request (`POST /v1/messages`).
#[derive(Debug, Clone, Serialize, Default)]
pub struct MessagesRequest {
    /// The model.
    pub model: String,
    /// The most tokens to generate (required by the API).
    pub max_tokens: u32,
    /// The conversation.
    pub messages: Vec<Message>,
    /// Other fields: `system`, `tools`, `tool_choice`, `temperature`, `stream`, ...
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl MessagesRequest {
    /// A request for `model`, generating at most `max_tokens`.
    pub fn new(model: impl Into<String>, max_tokens: u32) -> Self {
        MessagesRequest {
            model: model.into(),
            max_tokens,
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
}

/// An Anthropic message (the answer).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AnthropicMessage {
    /// `msg_…`.
    pub id: String,
    /// Content blocks: `{"type": "text", "text"}`, `{"type": "tool_use", "id", "name", "input"}`.
    #[serde(default)]
    pub content: Vec<Value>,
    /// `end_turn`, `max_tokens`, `tool_use`, ...
    #[serde(default)]
    pub stop_reason: Option<String>,
    /// Token usage.
    #[serde(default)]
    pub usage: Option<Value>,
    /// Anything else.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl AnthropicMessage {
    /// The text blocks, joined.
    pub fn text(&self) -> String {
        self.content
            .iter()
            .filter(|b| b["type"] == "text")
            .filter_map(|b| b["text"].as_str())
            .collect()
    }
}

/// One event of a streamed Anthropic message (`message_start`,
/// `content_block_delta`, ..., `message_stop`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MessagesEvent {
    /// The event's type.
    #[serde(rename = "type")]
    pub kind: String,
    /// The content block's index.
    #[serde(default)]
    pub index: Option<usize>,
    /// What a `*_delta` event adds.
    #[serde(default)]
    pub delta: Option<Value>,
    /// Anything else (`message`, `content_block`, `usage`).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl MessagesEvent {
    /// The text a `content_block_delta` adds ("" for other events).
    pub fn text(&self) -> &str {
        self.delta
            .as_ref()
            .and_then(|d| d.get("text"))
            .and_then(Value::as_str)
            .unwrap_or("")
    }
}

/// The Messages API version the fixture client asks for.
pub const ANTHROPIC_VERSION: &str = "2023-06-01";

fn messages_request(body: Vec<u8>) -> EngineRequest {
    EngineRequest::post("/v1/messages", body).header(
        http::HeaderName::from_static("anthropic-version"),
        http::HeaderValue::from_static(ANTHROPIC_VERSION),
    )
}

impl Client {
    /// Reranks documents (`POST /v1/rerank`).
    pub async fn rerank(&self, req: &RerankRequest) -> Result<Reranked> {
        self.post_json("/v1/rerank", req).await
    }

    /// Moderates one text (`POST /v1/moderations`).
    pub async fn moderate(&self, model: &str, input: &str) -> Result<Moderation> {
        self.post_json(
            "/v1/moderations",
            &json!({ "model": model, "input": input }),
        )
        .await
    }

    /// Moderates several texts in one request: one result per text, in order.
    ///
    /// ```no_run
    /// # async fn demo(client: recorder_runtime::Client) -> recorder_runtime::Result<()> {
    /// let checked = client.moderate_many("omni-moderation-latest", &["I like kittens", "I will attack"]).await?;
    /// assert_eq!(checked.results.len(), 2);
    /// # Ok(()) }
    /// ```
    pub async fn moderate_many(&self, model: &str, inputs: &[&str]) -> Result<Moderation> {
        self.post_json(
            "/v1/moderations",
            &json!({ "model": model, "input": inputs }),
        )
        .await
    }

    /// An Anthropic message (`POST /v1/messages`, with `anthropic-version`).
    pub async fn messages(&self, req: &MessagesRequest) -> Result<AnthropicMessage> {
        self.send_json(messages_request(super::to_json("/v1/messages", req)?))
            .await
    }

    /// An Anthropic message as a stream of typed events (`stream: true` is set for you).
    pub async fn messages_stream(
        &self,
        req: &MessagesRequest,
    ) -> Result<ChunkStream<MessagesEvent>> {
        let req = req.clone().with("stream", true);
        self.send_stream(messages_request(super::to_json("/v1/messages", &req)?))
            .await
    }
}
