//! OpenAI's files (multipart uploads) and vector stores, with a helper that polls a
//! file's status until it is processed.
//!
//! ```no_run
//! # async fn demo(ctx: recorder_runtime::RecordingContext) -> recorder_runtime::Result<()> {
//! let client = ctx.client();
//! let file = client.upload_file("assistants", "notes.txt", "text/plain", b"Paris is in France.".to_vec()).await?;
//! let store = client.create_vector_store("notes", &[]).await?;
//! client.add_vector_store_file(&store.id, &file.id).await?;
//! let done = client.wait_vector_store_file(&store.id, &file.id, 20).await?;
//! assert_eq!(done.status, "completed");
//! # Ok(()) }
//! ```

use super::{Client, Deleted, ListPage};
use crate::engine::EngineRequest;
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// An uploaded file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FileObject {
    /// `file-…`.
    pub id: String,
    /// Its size in bytes.
    #[serde(default)]
    pub bytes: u64,
    /// Its name.
    #[serde(default)]
    pub filename: String,
    /// What it is for (`assistants`, `batch`, ...).
    #[serde(default)]
    pub purpose: String,
    /// Anything else.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A vector store.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VectorStore {
    /// `vs_…`.
    pub id: String,
    /// Its name.
    #[serde(default)]
    pub name: Option<String>,
    /// `completed`, `in_progress`, ...
    #[serde(default)]
    pub status: Option<String>,
    /// Anything else.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A file of a vector store.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VectorStoreFile {
    /// The file's id.
    pub id: String,
    /// `in_progress`, `completed`, `failed` or `cancelled`.
    pub status: String,
    /// The store.
    #[serde(default)]
    pub vector_store_id: Option<String>,
    /// Anything else.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A vector store search's page of results.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SearchResults {
    /// The results, best first.
    pub data: Vec<SearchResult>,
    /// Anything else.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One search result.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SearchResult {
    /// The file it comes from (some servers put another id here, and the file's in
    /// `attributes.file_id`).
    #[serde(default)]
    pub file_id: String,
    /// The file's name.
    #[serde(default)]
    pub filename: String,
    /// How well it matches.
    #[serde(default)]
    pub score: f64,
    /// The matching chunks (`{"type": "text", "text": ...}`).
    #[serde(default)]
    pub content: Vec<Value>,
    /// Anything else.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl SearchResult {
    /// The text of the matching chunks, joined.
    pub fn text(&self) -> String {
        self.content
            .iter()
            .filter_map(|c| c.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// A multipart boundary that differs on every call, as real clients make them (the
/// recorder identifies uploads by their parts, never by it).
fn boundary() -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "recorder-{nanos:x}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

impl Client {
    /// Uploads a file (`POST /v1/files`, `multipart/form-data` with `purpose` and `file`).
    pub async fn upload_file(
        &self,
        purpose: &str,
        filename: &str,
        content_type: &str,
        content: Vec<u8>,
    ) -> Result<FileObject> {
        let b = boundary();
        let mut body = Vec::with_capacity(content.len() + 512);
        body.extend_from_slice(
            format!(
                "--{b}\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\n{purpose}\r\n"
            )
            .as_bytes(),
        );
        let filename = filename.replace(['"', '\r', '\n'], "_");
        body.extend_from_slice(
            format!(
                "--{b}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\nContent-Type: {content_type}\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(&content);
        body.extend_from_slice(format!("\r\n--{b}--\r\n").as_bytes());
        let content_type =
            http::HeaderValue::from_str(&format!("multipart/form-data; boundary={b}"))
                .expect("the boundary is ASCII letters and digits");
        self.send_json(
            EngineRequest::post("/v1/files", body).header(http::header::CONTENT_TYPE, content_type),
        )
        .await
    }

    /// A file's metadata.
    pub async fn get_file(&self, id: &str) -> Result<FileObject> {
        self.get_json(&format!("/v1/files/{id}")).await
    }

    /// A file's content, as stored.
    pub async fn file_content(&self, id: &str) -> Result<Vec<u8>> {
        let endpoint = format!("/v1/files/{id}/content");
        let resp = self.send(EngineRequest::get(&endpoint)).await?;
        let status = resp.status;
        let body = resp.bytes().await?;
        if status >= 400 {
            return Err(self.scope().redact(Error::Api {
                status,
                endpoint,
                body: String::from_utf8_lossy(&body).into_owned(),
            }));
        }
        Ok(body.to_vec())
    }

    /// Deletes a file.
    pub async fn delete_file(&self, id: &str) -> Result<Deleted> {
        self.delete_json(&format!("/v1/files/{id}")).await
    }

    /// Creates a vector store, with files to add at once.
    pub async fn create_vector_store(&self, name: &str, file_ids: &[&str]) -> Result<VectorStore> {
        let mut body = json!({ "name": name });
        if !file_ids.is_empty() {
            body["file_ids"] = json!(file_ids);
        }
        self.post_json("/v1/vector_stores", &body).await
    }

    /// Adds a file to a vector store (it is processed in the background).
    pub async fn add_vector_store_file(
        &self,
        store: &str,
        file_id: &str,
    ) -> Result<VectorStoreFile> {
        self.post_json(
            &format!("/v1/vector_stores/{store}/files"),
            &json!({ "file_id": file_id }),
        )
        .await
    }

    /// A file of a vector store, with its processing status.
    pub async fn vector_store_file(&self, store: &str, file_id: &str) -> Result<VectorStoreFile> {
        self.get_json(&format!("/v1/vector_stores/{store}/files/{file_id}"))
            .await
    }

    /// Polls a vector store file until it is no longer `in_progress` (at most
    /// `max_polls` times). Recording, it waits 200 ms between polls; replaying, the
    /// recorded answers come back in order at once (see the README on repeated
    /// requests).
    pub async fn wait_vector_store_file(
        &self,
        store: &str,
        file_id: &str,
        max_polls: usize,
    ) -> Result<VectorStoreFile> {
        let live = self.scope().mode().calls_upstream();
        for _ in 0..max_polls.max(1) {
            let file = self.vector_store_file(store, file_id).await?;
            if file.status != "in_progress" {
                return Ok(file);
            }
            if live {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        Err(Error::NotReady(format!(
            "file {file_id} of vector store {store} was still in_progress after {max_polls} polls"
        )))
    }

    /// The files of a vector store.
    pub async fn vector_store_files(&self, store: &str) -> Result<ListPage<VectorStoreFile>> {
        self.get_json(&format!("/v1/vector_stores/{store}/files"))
            .await
    }

    /// Searches a vector store.
    pub async fn search_vector_store(&self, store: &str, query: &str) -> Result<SearchResults> {
        self.post_json(
            &format!("/v1/vector_stores/{store}/search"),
            &json!({ "query": query }),
        )
        .await
    }

    /// Deletes a vector store.
    pub async fn delete_vector_store(&self, store: &str) -> Result<Deleted> {
        self.delete_json(&format!("/v1/vector_stores/{store}"))
            .await
    }
}
