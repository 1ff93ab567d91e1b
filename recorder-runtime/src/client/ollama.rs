//! Ollama's native API (`/api/chat`, `/api/generate`, `/api/embed`, `/api/tags`).

use super::{ChatRequest, ChunkStream, Client, Message};
use crate::error::Result;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

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
