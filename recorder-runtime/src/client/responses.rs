//! OpenAI's Responses API: create (plain or as typed stream events), retrieve,
//! delete, input items; turns chained by `previous_response_id`.
//!
//! ```no_run
//! # async fn demo(ctx: recorder_runtime::RecordingContext) -> recorder_runtime::Result<()> {
//! use recorder_runtime::client::ResponseRequest;
//! let client = ctx.client();
//! let first = client.create_response(&ResponseRequest::new("gpt-4o-mini").input("Name a planet.")).await?;
//! let second = client
//!     .create_response(&ResponseRequest::new("gpt-4o-mini").input("And its moon?").previous_response_id(&first.id))
//!     .await?;
//! println!("{}", second.output_text());
//! # Ok(()) }
//! ```

use super::{ChunkStream, Client};
use crate::error::Result;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

/// `POST /v1/responses` request.
#[derive(Debug, Clone, Serialize, Default)]
pub struct ResponseRequest {
    /// The model.
    pub model: String,
    /// A string, or a list of input items.
    #[serde(skip_serializing_if = "Value::is_null")]
    pub input: Value,
    /// Other fields: `previous_response_id`, `instructions`, `tools`, `tool_choice`,
    /// `max_output_tokens`, `temperature`, `stream`, `store`, ...
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl ResponseRequest {
    /// A request for `model` with no input yet.
    pub fn new(model: impl Into<String>) -> Self {
        ResponseRequest {
            model: model.into(),
            ..Default::default()
        }
    }
    /// The input as one user text.
    pub fn input(mut self, text: impl Into<String>) -> Self {
        self.input = Value::String(text.into());
        self
    }
    /// The input as a list of items (messages, `function_call_output`, ...).
    pub fn input_items(mut self, items: Vec<Value>) -> Self {
        self.input = Value::Array(items);
        self
    }
    /// Sets any field.
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.extra.insert(key.into(), value.into());
        self
    }
    /// Continues the conversation of an earlier response.
    pub fn previous_response_id(self, id: &str) -> Self {
        self.with("previous_response_id", id)
    }
    /// System-level instructions.
    pub fn instructions(self, text: &str) -> Self {
        self.with("instructions", text)
    }
    /// Tools: `{"type": "function", "name", "parameters"}`, `{"type": "file_search",
    /// "vector_store_ids": [...]}`, ...
    pub fn tools(self, tools: Vec<Value>) -> Self {
        self.with("tools", tools)
    }
    /// `max_output_tokens`.
    pub fn max_output_tokens(self, n: u32) -> Self {
        self.with("max_output_tokens", n)
    }
    /// `temperature`.
    pub fn temperature(self, t: f64) -> Self {
        self.with("temperature", t)
    }
    /// The output of a function call, as an input item.
    pub fn function_call_output(call_id: &str, output: &str) -> Value {
        json!({"type": "function_call_output", "call_id": call_id, "output": output})
    }
}

/// A response of the Responses API.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ResponseObject {
    /// `resp_…` (a placeholder `resp_rec-…` when replayed).
    pub id: String,
    /// `completed`, `in_progress`, `failed`, ...
    #[serde(default)]
    pub status: Option<String>,
    /// The model.
    #[serde(default)]
    pub model: String,
    /// Output items: messages, function calls, tool calls.
    #[serde(default)]
    pub output: Vec<OutputItem>,
    /// The response this one continues.
    #[serde(default)]
    pub previous_response_id: Option<String>,
    /// Token usage, when the server reports it.
    #[serde(default)]
    pub usage: Option<Value>,
    /// Anything else.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl ResponseObject {
    /// The text of every `output_text` part of every message, joined.
    pub fn output_text(&self) -> String {
        self.output
            .iter()
            .filter(|i| i.kind == "message")
            .flat_map(|i| i.content.iter())
            .filter_map(|c| c.get("text").and_then(Value::as_str))
            .collect()
    }
    /// The function calls of the output.
    pub fn function_calls(&self) -> impl Iterator<Item = &OutputItem> {
        self.output.iter().filter(|i| i.kind == "function_call")
    }
}

/// One output item of a response.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OutputItem {
    /// `message`, `function_call`, `file_search_call`, `reasoning`, ...
    #[serde(rename = "type")]
    pub kind: String,
    /// Its id (`msg_…`, `fc_…`).
    #[serde(default)]
    pub id: Option<String>,
    /// A message's content parts (`output_text`, with `text` and `annotations`).
    #[serde(default)]
    pub content: Vec<Value>,
    /// A function call's id, to answer it with.
    #[serde(default)]
    pub call_id: Option<String>,
    /// A function call's function.
    #[serde(default)]
    pub name: Option<String>,
    /// A function call's arguments, as JSON text.
    #[serde(default)]
    pub arguments: Option<String>,
    /// Anything else.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One event of a streamed response (`response.created`,
/// `response.output_text.delta`, ..., `response.completed`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ResponseEvent {
    /// The event's type.
    #[serde(rename = "type")]
    pub kind: String,
    /// Its position in the stream.
    #[serde(default)]
    pub sequence_number: Option<u64>,
    /// A text delta.
    #[serde(default)]
    pub delta: Option<String>,
    /// The response, in `response.created`, `response.completed` and the like.
    #[serde(default)]
    pub response: Option<ResponseObject>,
    /// The item, in `response.output_item.*`.
    #[serde(default)]
    pub item: Option<OutputItem>,
    /// Anything else.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A deletion's answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Deleted {
    /// The id deleted.
    pub id: String,
    /// Whether it was.
    #[serde(default)]
    pub deleted: bool,
    /// Anything else.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A page of a list (`input_items`, files, vector store files).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ListPage<T> {
    /// The items.
    pub data: Vec<T>,
    /// Whether there are more.
    #[serde(default)]
    pub has_more: bool,
    /// Anything else (`first_id`, `last_id`).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Client {
    /// Creates a response.
    pub async fn create_response(&self, req: &ResponseRequest) -> Result<ResponseObject> {
        self.post_json("/v1/responses", req).await
    }

    /// Creates a response as a stream of typed events (`stream: true` is set for you).
    pub async fn create_response_stream(
        &self,
        req: &ResponseRequest,
    ) -> Result<ChunkStream<ResponseEvent>> {
        let req = req.clone().with("stream", true);
        self.post_stream("/v1/responses", &req).await
    }

    /// Retrieves a stored response.
    pub async fn get_response(&self, id: &str) -> Result<ResponseObject> {
        self.get_json(&format!("/v1/responses/{id}")).await
    }

    /// Deletes a stored response.
    pub async fn delete_response(&self, id: &str) -> Result<Deleted> {
        self.delete_json(&format!("/v1/responses/{id}")).await
    }

    /// The input items of a stored response.
    pub async fn response_input_items(&self, id: &str) -> Result<ListPage<Value>> {
        self.get_json(&format!("/v1/responses/{id}/input_items"))
            .await
    }
}
