//! OpenAI's chat completions, completions, embeddings and model list.

use super::text::{split_even, texts, unix_now, vision_answer_text, word_count};
use super::{ok_json, openai_error, Body, Call};
use http::{Response, StatusCode};
use serde_json::{json, Value};

impl Call<'_> {
    pub(super) fn openai_chat(&self) -> Response<Body> {
        let prompt = last_user_text(self.body);
        let json_output = self
            .body
            .get("response_format")
            .and_then(|f| f.get("type"))
            .and_then(Value::as_str)
            .is_some_and(|t| t == "json_object" || t == "json_schema");
        let tool = first_tool_name(self.body);
        let images = match super::vision::images(self.body) {
            Ok(images) => images,
            Err(refused) => {
                return openai_error(
                    StatusCode::BAD_REQUEST,
                    &refused.message,
                    "invalid_request_error",
                    Some(refused.code),
                )
            }
        };
        let (pieces, finish) = if images.is_empty() {
            self.answer(&prompt, json_output)
        } else {
            let seen: Vec<String> = images.iter().map(|i| i.describe()).collect();
            self.answer_with(vision_answer_text(&prompt, &seen), json_output)
        };
        let id = self.state.id("chatcmpl-");
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
            let id = self.state.id("call_");
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
            return ok_json(&body);
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

    pub(super) fn openai_completion(&self) -> Response<Body> {
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
        let id = self.state.id("cmpl-");
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
            return ok_json(&body);
        }
        let mut frames: Vec<Value> = pieces.iter().map(|p| chunk(p, None)).collect();
        frames.push(chunk("", Some(finish)));
        self.sse(frames)
    }

    pub(super) fn openai_embeddings(&self) -> Response<Body> {
        let inputs = texts(self.body.get("input"));
        let data: Vec<Value> = inputs
            .iter()
            .enumerate()
            .map(|(i, t)| json!({ "object": "embedding", "index": i, "embedding": self.state.embedding(t) }))
            .collect();
        let tokens: usize = inputs.iter().map(|t| word_count(t)).sum();
        let body = json!({ "object": "list", "data": data, "model": self.model, "usage": { "prompt_tokens": tokens, "total_tokens": tokens } });
        ok_json(&body)
    }

    pub(super) fn openai_models(&self) -> Response<Body> {
        let models = self.state.models.lock().unwrap().clone();
        let data: Vec<Value> = models.iter().enumerate().map(|(i, m)| json!({ "id": m, "object": "model", "created": 1_700_000_000 + i as u64, "owned_by": "fake" })).collect();
        ok_json(&json!({ "object": "list", "data": data }))
    }
}

/// The text of the last user message (string content, or the text parts of a list).
pub(super) fn last_user_text(body: &Value) -> String {
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

pub(super) fn first_tool_name(body: &Value) -> Option<String> {
    let tool = body.get("tools")?.as_array()?.first()?;
    let name = tool
        .get("function")
        .and_then(|f| f.get("name"))
        .or_else(|| tool.get("name"))?;
    name.as_str().map(str::to_owned)
}
