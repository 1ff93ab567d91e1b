//! Ollama's native API: chat, generate, embeddings and the local model list.

use super::openai::{first_tool_name, last_user_text};
use super::text::{fnv1a, hex64, rfc3339_now, texts, word_count};
use super::{json_response, Body, Call};
use http::{Response, StatusCode};
use serde_json::{json, Map, Value};

impl Call<'_> {
    /// The final fields of an Ollama answer: durations (non-zero, volatile) and counts.
    pub(super) fn ollama_final(
        &self,
        prompt: &str,
        pieces: usize,
        done_reason: &str,
    ) -> Map<String, Value> {
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

    pub(super) fn ollama_chat(&self) -> Response<Body> {
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

    pub(super) fn ollama_generate(&self) -> Response<Body> {
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

    pub(super) fn ollama_embed(&self) -> Response<Body> {
        let inputs = texts(self.body.get("input"));
        let vectors: Vec<Vec<f64>> = inputs.iter().map(|t| self.state.embedding(t)).collect();
        let elapsed = self.started.elapsed().as_nanos() as u64 + 1_000_000;
        let tokens: usize = inputs.iter().map(|t| word_count(t)).sum();
        let body = json!({ "model": self.model, "embeddings": vectors, "total_duration": elapsed + 2_000_000, "load_duration": elapsed / 2 + 1, "prompt_eval_count": tokens });
        json_response(StatusCode::OK, "application/json; charset=utf-8", &body)
    }

    pub(super) fn ollama_embeddings_legacy(&self) -> Response<Body> {
        let text = self
            .body
            .get("prompt")
            .and_then(Value::as_str)
            .unwrap_or("");
        json_response(
            StatusCode::OK,
            "application/json; charset=utf-8",
            &json!({ "embedding": self.state.embedding(text) }),
        )
    }

    pub(super) fn ollama_tags(&self) -> Response<Body> {
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
}
