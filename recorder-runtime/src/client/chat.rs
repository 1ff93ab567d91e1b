//! OpenAI's chat completions, completions, embeddings and model list: request and
//! response types.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A chat message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Message {
    /// `system`, `user`, `assistant` or `tool` (empty in stream deltas that omit it).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub role: String,
    /// The text, when there is one. A message whose content is a list of parts (see
    /// [`Message::with_parts`]) sends them from `extra["content"]`; a list of parts
    /// received reads as their text, joined.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "text_or_parts"
    )]
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
    /// A message whose content is a list of parts: text and images (vision models).
    ///
    /// ```
    /// use recorder_runtime::client::{ContentPart, Message};
    /// let m = Message::with_parts("user", vec![
    ///     ContentPart::text("What is in this image?"),
    ///     ContentPart::image_data("image/png", b"\x89PNG..."),
    /// ]);
    /// let json = serde_json::to_value(&m).unwrap();
    /// assert_eq!(json["content"][0]["type"], "text");
    /// assert!(json["content"][1]["image_url"]["url"].as_str().unwrap().starts_with("data:image/png;base64,"));
    /// ```
    pub fn with_parts(role: &str, parts: Vec<ContentPart>) -> Self {
        let mut m = Message {
            role: role.into(),
            ..Default::default()
        };
        m.extra.insert(
            "content".into(),
            serde_json::to_value(parts).expect("parts serialize"),
        );
        m
    }
    /// A message whose content is a list of any blocks, as JSON: Anthropic's
    /// `tool_use` and `tool_result` blocks, a provider's own part types.
    ///
    /// ```
    /// use recorder_runtime::client::Message;
    /// let m = Message::with_blocks("user", vec![serde_json::json!({"type": "tool_result", "tool_use_id": "toolu_1", "content": "42"})]);
    /// assert_eq!(serde_json::to_value(&m).unwrap()["content"][0]["type"], "tool_result");
    /// ```
    pub fn with_blocks(role: &str, blocks: Vec<Value>) -> Self {
        let mut m = Message {
            role: role.into(),
            ..Default::default()
        };
        m.extra.insert("content".into(), Value::Array(blocks));
        m
    }
}

/// One part of a message's content (OpenAI's chat format).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ContentPart {
    /// Text.
    Text {
        /// The text.
        text: String,
    },
    /// An image, by URL or as a `data:` URI.
    ImageUrl {
        /// `{"url": ..., "detail": ...}`.
        image_url: ImageUrl,
    },
}

/// An image reference.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageUrl {
    /// `https://…` or `data:<mime>;base64,<data>`.
    pub url: String,
    /// `low`, `high` or `auto`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl ContentPart {
    /// A text part.
    pub fn text(text: impl Into<String>) -> Self {
        ContentPart::Text { text: text.into() }
    }
    /// An image part from a URL.
    pub fn image_url(url: impl Into<String>) -> Self {
        ContentPart::ImageUrl {
            image_url: ImageUrl {
                url: url.into(),
                detail: None,
            },
        }
    }
    /// An image part from bytes, as a `data:` URI.
    pub fn image_data(mime: &str, bytes: &[u8]) -> Self {
        use base64::Engine as _;
        let data = base64::engine::general_purpose::STANDARD.encode(bytes);
        Self::image_url(format!("data:{mime};base64,{data}"))
    }
}

/// A message's content as text: a string, or the text parts of a list joined.
fn text_or_parts<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<String>, D::Error> {
    Ok(match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s),
        Some(Value::Array(parts)) => Some(
            parts
                .iter()
                .filter_map(|p| p.get("text").and_then(Value::as_str))
                .collect(),
        ),
        Some(other) => Some(other.to_string()),
    })
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
    /// Structured output: answers that follow a JSON schema, in OpenAI's form
    /// (`{"type": "json_schema", "json_schema": {"name", "schema", "strict": true}}`:
    /// OpenAI, vLLM, Ollama, llama.cpp's own server). llama-cpp-python's server takes
    /// the schema as `{"type": "json_object", "schema": ...}` instead: use
    /// [`response_format`](Self::response_format) for it.
    ///
    /// ```
    /// use recorder_runtime::client::ChatRequest;
    /// let schema = serde_json::json!({"type": "object", "properties": {"score": {"type": "integer"}}, "required": ["score"]});
    /// let req = ChatRequest::new("gpt-4o-mini").json_schema("grade", schema.clone());
    /// let body = serde_json::to_value(&req).unwrap();
    /// assert_eq!(body["response_format"]["type"], "json_schema");
    /// assert_eq!(body["response_format"]["json_schema"]["schema"], schema);
    /// ```
    pub fn json_schema(self, name: &str, schema: Value) -> Self {
        self.response_format(serde_json::json!({
            "type": "json_schema",
            "json_schema": { "name": name, "schema": schema, "strict": true },
        }))
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

    /// The first choice's text parsed as JSON into `T` (an answer asked for with a
    /// JSON `response_format`): a classifier's verdict, a judge's grade. Text that
    /// does not parse is [`Error::Decode`](crate::Error::Decode), quoting it.
    ///
    /// ```
    /// use recorder_runtime::client::ChatCompletion;
    /// #[derive(serde::Deserialize)]
    /// struct Grade { score: u8 }
    /// let answer: ChatCompletion = serde_json::from_value(serde_json::json!({
    ///     "choices": [{"message": {"role": "assistant", "content": "{\"score\": 4}"}}]
    /// })).unwrap();
    /// assert_eq!(answer.parse_json::<Grade>().unwrap().score, 4);
    /// ```
    pub fn parse_json<T: serde::de::DeserializeOwned>(&self) -> crate::Result<T> {
        serde_json::from_str(self.text()).map_err(|e| crate::Error::Decode {
            endpoint: "/v1/chat/completions".into(),
            reason: format!(
                "the answer is not the JSON asked for ({e}): {:?}",
                self.text()
            ),
        })
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
