//! OpenAI's files (multipart uploads) and vector stores. A file added to a vector
//! store is `in_progress` for a few polls, then `completed`; unknown ids are 404s.

use super::text::unix_now;
use super::{not_found, ok_json, openai_error, Body, Call};
use bytes::Bytes;
use http::{Response, StatusCode};
use serde_json::{json, Value};
use std::sync::atomic::Ordering;

impl Call<'_> {
    pub(super) async fn upload_file(&self, content_type: &str, body: &Bytes) -> Response<Body> {
        let Some(boundary) = content_type
            .split(';')
            .map(str::trim)
            .find_map(|p| p.strip_prefix("boundary="))
            .map(|b| b.trim_matches('"').to_owned())
        else {
            return openai_error(
                StatusCode::BAD_REQUEST,
                "expected a multipart/form-data body",
                "invalid_request_error",
                None,
            );
        };
        let body = body.clone();
        let stream = futures::stream::once(async move { Ok::<_, std::io::Error>(body) });
        let mut form = multer::Multipart::new(stream, boundary);
        let (mut purpose, mut file) = (None, None);
        loop {
            match form.next_field().await {
                Ok(Some(field)) => {
                    let name = field.name().unwrap_or("").to_owned();
                    let filename = field.file_name().map(str::to_owned);
                    let Ok(bytes) = field.bytes().await else {
                        return openai_error(
                            StatusCode::BAD_REQUEST,
                            "a part does not end",
                            "invalid_request_error",
                            None,
                        );
                    };
                    match name.as_str() {
                        "purpose" => purpose = Some(String::from_utf8_lossy(&bytes).into_owned()),
                        "file" => file = Some((filename.unwrap_or_else(|| "upload".into()), bytes)),
                        _ => {}
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    return openai_error(
                        StatusCode::BAD_REQUEST,
                        &format!("invalid multipart body: {e}"),
                        "invalid_request_error",
                        None,
                    )
                }
            }
        }
        let (Some(purpose), Some((filename, content))) = (purpose, file) else {
            return openai_error(
                StatusCode::BAD_REQUEST,
                "'file' and 'purpose' are required",
                "invalid_request_error",
                None,
            );
        };
        let id = self.state.id("file-");
        let object = json!({
            "id": id, "object": "file", "bytes": content.len(), "created_at": unix_now(),
            "expires_at": null, "filename": filename, "purpose": purpose, "status": "processed", "status_details": null,
        });
        self.state
            .files
            .lock()
            .unwrap()
            .insert(id, (object.clone(), content));
        ok_json(&object)
    }

    pub(super) fn list_files(&self) -> Response<Body> {
        let files = self.state.files.lock().unwrap();
        let mut data: Vec<&Value> = files.values().map(|(o, _)| o).collect();
        data.sort_by_key(|o| o["id"].as_str().unwrap_or("").to_owned());
        ok_json(&json!({"object": "list", "data": data, "has_more": false}))
    }

    pub(super) fn get_file(&self, id: &str) -> Response<Body> {
        match self.state.files.lock().unwrap().get(id) {
            Some((o, _)) => ok_json(o),
            None => not_found("file", id),
        }
    }

    pub(super) fn file_content(&self, id: &str) -> Response<Body> {
        match self.state.files.lock().unwrap().get(id) {
            Some((_, content)) => Response::builder()
                .status(StatusCode::OK)
                .header(http::header::CONTENT_TYPE, "application/octet-stream")
                .body(super::full(content.clone()))
                .expect("a valid response"),
            None => not_found("file", id),
        }
    }

    pub(super) fn delete_file(&self, id: &str) -> Response<Body> {
        match self.state.files.lock().unwrap().remove(id) {
            Some(_) => ok_json(&json!({"id": id, "object": "file", "deleted": true})),
            None => not_found("file", id),
        }
    }

    pub(super) fn create_store(&self) -> Response<Body> {
        let id = self.state.id("vs_");
        let now = unix_now();
        let store = json!({
            "id": id, "object": "vector_store", "created_at": now, "name": self.body.get("name").cloned().unwrap_or(Value::Null),
            "usage_bytes": 0, "file_counts": {"in_progress": 0, "completed": 0, "failed": 0, "cancelled": 0, "total": 0},
            "status": "completed", "expires_after": null, "expires_at": null, "last_active_at": now,
            "metadata": self.body.get("metadata").cloned().unwrap_or(json!({})),
        });
        self.state
            .stores
            .lock()
            .unwrap()
            .insert(id.clone(), store.clone());
        for file in self
            .body
            .get("file_ids")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let file = file.as_str().unwrap_or("").to_owned();
            self.state
                .store_files
                .lock()
                .unwrap()
                .insert((id.clone(), file), 0);
        }
        ok_json(&store)
    }

    pub(super) fn delete_store(&self, vs: &str) -> Response<Body> {
        match self.state.stores.lock().unwrap().remove(vs) {
            Some(_) => {
                ok_json(&json!({"id": vs, "object": "vector_store.deleted", "deleted": true}))
            }
            None => not_found("vector store", vs),
        }
    }

    pub(super) fn add_store_file(&self, vs: &str) -> Response<Body> {
        if !self.state.stores.lock().unwrap().contains_key(vs) {
            return not_found("vector store", vs);
        }
        let file = self
            .body
            .get("file_id")
            .and_then(Value::as_str)
            .unwrap_or("");
        if !self.state.files.lock().unwrap().contains_key(file) {
            return not_found("file", file);
        }
        self.state
            .store_files
            .lock()
            .unwrap()
            .insert((vs.to_owned(), file.to_owned()), 0);
        ok_json(&self.store_file(vs, file, "in_progress"))
    }

    pub(super) fn get_store_file(&self, vs: &str, file: &str) -> Response<Body> {
        let wanted = self.state.polls_before_completed.load(Ordering::Relaxed);
        let status = match self
            .state
            .store_files
            .lock()
            .unwrap()
            .get_mut(&(vs.to_owned(), file.to_owned()))
        {
            Some(polls) => {
                *polls += 1;
                if *polls > wanted {
                    "completed"
                } else {
                    "in_progress"
                }
            }
            None => return not_found("vector store file", file),
        };
        ok_json(&self.store_file(vs, file, status))
    }

    pub(super) fn list_store_files(&self, vs: &str) -> Response<Body> {
        if !self.state.stores.lock().unwrap().contains_key(vs) {
            return not_found("vector store", vs);
        }
        let mut files: Vec<String> = self
            .state
            .store_files
            .lock()
            .unwrap()
            .keys()
            .filter(|(s, _)| s == vs)
            .map(|(_, f)| f.clone())
            .collect();
        files.sort();
        let data: Vec<Value> = files
            .iter()
            .map(|f| self.store_file(vs, f, "completed"))
            .collect();
        ok_json(
            &json!({"object": "list", "data": data, "first_id": files.first(), "last_id": files.last(), "has_more": false}),
        )
    }

    pub(super) fn search_store(&self, vs: &str) -> Response<Body> {
        if !self.state.stores.lock().unwrap().contains_key(vs) {
            return not_found("vector store", vs);
        }
        let query = self
            .body
            .get("query")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        ok_json(&json!({
            "object": "vector_store.search_results.page", "search_query": [query],
            "data": self.store_hits(vs, &query), "has_more": false, "next_page": null,
        }))
    }

    /// The files of a store whose text shares a word with the query (all of them
    /// when none does), as search results.
    pub(super) fn store_hits(&self, vs: &str, query: &str) -> Vec<Value> {
        let in_store: Vec<String> = self
            .state
            .store_files
            .lock()
            .unwrap()
            .keys()
            .filter(|(s, _)| s == vs)
            .map(|(_, f)| f.clone())
            .collect();
        let files = self.state.files.lock().unwrap();
        let words: Vec<String> = query.split_whitespace().map(str::to_lowercase).collect();
        let mut hits: Vec<Value> = in_store
            .iter()
            .filter_map(|f| {
                files
                    .get(f)
                    .map(|(o, c)| (f, o, String::from_utf8_lossy(c).into_owned()))
            })
            .map(|(f, o, text)| {
                let lower = text.to_lowercase();
                let score = words.iter().filter(|w| lower.contains(w.as_str())).count() as f64
                    / words.len().max(1) as f64;
                json!({"file_id": f, "filename": o["filename"], "score": score, "attributes": {},
                       "content": [{"type": "text", "text": text}]})
            })
            .collect();
        hits.sort_by(|a, b| {
            b["score"]
                .as_f64()
                .partial_cmp(&a["score"].as_f64())
                .unwrap_or(std::cmp::Ordering::Equal)
                .then_with(|| a["file_id"].as_str().cmp(&b["file_id"].as_str()))
        });
        hits
    }

    fn store_file(&self, vs: &str, file: &str, status: &str) -> Value {
        let bytes = self
            .state
            .files
            .lock()
            .unwrap()
            .get(file)
            .map_or(0, |(_, c)| c.len());
        json!({
            "id": file, "object": "vector_store.file", "usage_bytes": bytes, "created_at": unix_now(),
            "vector_store_id": vs, "status": status, "last_error": null,
            "chunking_strategy": {"type": "static", "static": {"max_chunk_size_tokens": 800, "chunk_overlap_tokens": 400}},
        })
    }
}
