//! Anthropic's Messages API: `POST /v1/messages`, plain or as typed SSE events
//! (`message_start`, `content_block_*`, `ping`, `message_delta`, `message_stop`),
//! with a `tool_use` block when tools are given. It needs `anthropic-version`, and a
//! `tool_result` must name a `tool_use` id it issued.

use super::openai::last_user_text;
use super::text::{answer_text, pieces, split_even, word_count};
use super::{json_response, ok_json, Body, Call};
use http::{HeaderMap, Response, StatusCode};
use serde_json::{json, Value};

fn error(status: StatusCode, kind: &str, message: &str) -> Response<Body> {
    json_response(
        status,
        "application/json",
        &json!({"type": "error", "error": {"type": kind, "message": message}}),
    )
}

impl Call<'_> {
    pub(super) fn anthropic_messages(&self, headers: &HeaderMap) -> Response<Body> {
        if !headers.contains_key("anthropic-version") {
            return error(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                "anthropic-version: header is required",
            );
        }
        if self
            .body
            .get("max_tokens")
            .and_then(Value::as_u64)
            .is_none()
        {
            return error(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                "max_tokens: Field required",
            );
        }
        let messages = self
            .body
            .get("messages")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let mut tool_result = None;
        for block in messages
            .iter()
            .filter_map(|m| m["content"].as_array())
            .flatten()
        {
            if block["type"] == "tool_result" {
                let id = block["tool_use_id"].as_str().unwrap_or("");
                if !self.state.tool_uses.lock().unwrap().contains_key(id) {
                    return error(
                        StatusCode::BAD_REQUEST,
                        "invalid_request_error",
                        &format!("messages: unexpected `tool_use_id` found in `tool_result` blocks: {id}"),
                    );
                }
                tool_result = Some(match &block["content"] {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                });
            }
        }
        let prompt = last_user_text(self.body);
        let tool = self
            .body
            .get("tools")
            .and_then(Value::as_array)
            .and_then(|t| t.first())
            .cloned();
        let id = self.state.id("msg_");
        let (content, stop) = match (&tool, &tool_result) {
            (Some(t), None) => {
                let use_id = self.state.id("toolu_");
                let name = t["name"].as_str().unwrap_or("tool").to_owned();
                self.state
                    .tool_uses
                    .lock()
                    .unwrap()
                    .insert(use_id.clone(), name.clone());
                (
                    json!([{"type": "tool_use", "id": use_id, "name": name, "input": {"query": prompt}}]),
                    "tool_use",
                )
            }
            (_, Some(result)) => (
                json!([{"type": "text", "text": format!("The tool said: {result}")}]),
                "end_turn",
            ),
            _ => (
                json!([{"type": "text", "text": answer_text(&prompt)}]),
                "end_turn",
            ),
        };
        let input_tokens = word_count(&prompt) as u64 + 8;
        let message = json!({
            "id": id, "type": "message", "role": "assistant", "model": self.model, "content": content,
            "stop_reason": stop, "stop_sequence": null,
            "usage": {"input_tokens": input_tokens, "output_tokens": 14, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0},
        });
        if !self.stream_requested(false) {
            return ok_json(&message);
        }
        let mut start = message.clone();
        start["content"] = json!([]);
        start["stop_reason"] = Value::Null;
        start["usage"]["output_tokens"] = json!(1);
        let mut events = vec![json!({"type": "message_start", "message": start})];
        for (i, block) in message["content"]
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
        {
            if block["type"] == "text" {
                events.push(json!({"type": "content_block_start", "index": i, "content_block": {"type": "text", "text": ""}}));
                events.push(json!({"type": "ping"}));
                for piece in pieces(block["text"].as_str().unwrap_or("")) {
                    events.push(json!({"type": "content_block_delta", "index": i, "delta": {"type": "text_delta", "text": piece}}));
                }
            } else {
                let mut empty = block.clone();
                empty["input"] = json!({});
                events.push(
                    json!({"type": "content_block_start", "index": i, "content_block": empty}),
                );
                for piece in split_even(&block["input"].to_string(), 3) {
                    events.push(json!({"type": "content_block_delta", "index": i, "delta": {"type": "input_json_delta", "partial_json": piece}}));
                }
            }
            events.push(json!({"type": "content_block_stop", "index": i}));
        }
        events.push(json!({"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": null}, "usage": {"output_tokens": 14}}));
        events.push(json!({"type": "message_stop"}));
        self.typed_sse(events)
    }
}
