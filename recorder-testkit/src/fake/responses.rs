//! OpenAI's Responses API: create (plain or typed SSE events), retrieve, delete and
//! input items, chained by `previous_response_id`, with function and file-search
//! tools. Ids are random and enforced: an unknown `previous_response_id`, or a
//! `function_call_output` whose `call_id` was never issued, is refused.

use super::text::{answer_text, pieces, unix_now, word_count};
use super::{not_found, ok_json, openai_error, Body, Call};
use http::{Response, StatusCode};
use serde_json::{json, Value};

impl Call<'_> {
    pub(super) fn create_response(&self) -> Response<Body> {
        let state = self.state;
        let previous = self
            .body
            .get("previous_response_id")
            .and_then(Value::as_str);
        let mut turn = 1;
        if let Some(prev) = previous {
            match state.turns.lock().unwrap().get(prev) {
                Some(t) => turn = t + 1,
                None => {
                    return openai_error(
                        StatusCode::NOT_FOUND,
                        &format!("Previous response with id '{prev}' not found."),
                        "invalid_request_error",
                        Some("previous_response_not_found"),
                    )
                }
            }
        }
        let input = input_items(self.body.get("input"));
        let mut tool_output = None;
        for item in &input {
            if item["type"] == "function_call_output" {
                let call_id = item["call_id"].as_str().unwrap_or("");
                if !state.calls.lock().unwrap().contains_key(call_id) {
                    return openai_error(
                        StatusCode::BAD_REQUEST,
                        &format!(
                            "No tool call found for function call output with call_id {call_id}."
                        ),
                        "invalid_request_error",
                        Some("invalid_function_call_output"),
                    );
                }
                tool_output = item["output"].as_str().map(str::to_owned);
            }
        }
        let prompt = input.iter().rev().find_map(item_text).unwrap_or_default();
        let tools = self
            .body
            .get("tools")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let id = state.id("resp_");
        let mut output = Vec::new();
        let function = tools.iter().find(|t| t["type"] == "function");
        let file_search = tools.iter().find(|t| t["type"] == "file_search");
        if let (Some(f), None) = (function, &tool_output) {
            let name = f["name"].as_str().unwrap_or("tool").to_owned();
            let call_id = state.id("call_");
            state
                .calls
                .lock()
                .unwrap()
                .insert(call_id.clone(), name.clone());
            output.push(json!({
                "id": state.id("fc_"), "type": "function_call", "status": "completed",
                "arguments": json!({"query": prompt}).to_string(), "call_id": call_id, "name": name,
            }));
        } else {
            let mut annotations = Vec::new();
            if let Some(fs) = file_search {
                let mut hits = Vec::new();
                for vs in fs["vector_store_ids"].as_array().into_iter().flatten() {
                    let vs = vs.as_str().unwrap_or("");
                    if !state.stores.lock().unwrap().contains_key(vs) {
                        return not_found("vector store", vs);
                    }
                    hits.extend(self.store_hits(vs, &prompt));
                }
                output.push(json!({
                    "id": state.id("fs_"), "type": "file_search_call", "status": "completed",
                    "queries": [prompt], "results": null,
                }));
                for (i, hit) in hits.iter().enumerate() {
                    annotations.push(json!({"type": "file_citation", "file_id": hit["file_id"], "filename": hit["filename"], "index": i}));
                }
            }
            let text = match &tool_output {
                Some(out) => format!("The tool said: {out}"),
                None => format!("{} (turn {turn})", answer_text(&prompt)),
            };
            output.push(json!({
                "id": state.id("msg_"), "type": "message", "status": "completed", "role": "assistant",
                "content": [{"type": "output_text", "text": text, "annotations": annotations, "logprobs": []}],
            }));
        }
        let tokens = word_count(&prompt) as u64;
        let response = json!({
            "id": id, "object": "response", "created_at": unix_now(), "status": "completed",
            "background": false, "error": null, "incomplete_details": null,
            "instructions": self.body.get("instructions").cloned().unwrap_or(Value::Null),
            "max_output_tokens": self.body.get("max_output_tokens").cloned().unwrap_or(Value::Null),
            "model": self.model, "output": output, "parallel_tool_calls": true,
            "previous_response_id": previous, "store": true, "temperature": self.body.get("temperature").cloned().unwrap_or(json!(1.0)),
            "text": {"format": {"type": "text"}}, "tool_choice": "auto", "tools": tools, "top_p": 1.0, "truncation": "disabled",
            "usage": {"input_tokens": tokens, "input_tokens_details": {"cached_tokens": 0}, "output_tokens": 12, "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": tokens + 12},
            "metadata": self.body.get("metadata").cloned().unwrap_or(json!({})),
        });
        state.turns.lock().unwrap().insert(id.clone(), turn);
        let mut stored_input = Vec::new();
        for item in &input {
            let mut item = item.clone();
            if item.get("id").is_none() {
                item["id"] = json!(state.id("msg_"));
            }
            stored_input.push(item);
        }
        state
            .input_items
            .lock()
            .unwrap()
            .insert(id.clone(), stored_input);
        state
            .responses
            .lock()
            .unwrap()
            .insert(id.clone(), response.clone());
        if !self.stream_requested(false) {
            return ok_json(&response);
        }
        self.typed_sse(response_events(&response))
    }

    pub(super) fn get_response(&self, id: &str) -> Response<Body> {
        match self.state.responses.lock().unwrap().get(id) {
            Some(r) => ok_json(r),
            None => not_found("response", id),
        }
    }

    pub(super) fn delete_response(&self, id: &str) -> Response<Body> {
        match self.state.responses.lock().unwrap().remove(id) {
            Some(_) => {
                self.state.turns.lock().unwrap().remove(id);
                ok_json(&json!({"id": id, "object": "response", "deleted": true}))
            }
            None => not_found("response", id),
        }
    }

    pub(super) fn input_items(&self, id: &str) -> Response<Body> {
        if !self.state.responses.lock().unwrap().contains_key(id) {
            return not_found("response", id);
        }
        let items = self
            .state
            .input_items
            .lock()
            .unwrap()
            .get(id)
            .cloned()
            .unwrap_or_default();
        ok_json(&json!({
            "object": "list", "data": items,
            "first_id": items.first().map(|i| i["id"].clone()), "last_id": items.last().map(|i| i["id"].clone()),
            "has_more": false,
        }))
    }
}

/// The input as a list of items: a string is one user message.
fn input_items(input: Option<&Value>) -> Vec<Value> {
    match input {
        Some(Value::String(s)) => vec![
            json!({"type": "message", "role": "user", "content": [{"type": "input_text", "text": s}]}),
        ],
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| {
                let mut i = i.clone();
                if i.get("type").is_none() && i.get("role").is_some() {
                    i["type"] = json!("message");
                }
                i
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// The text of a message item (string content or its text parts).
fn item_text(item: &Value) -> Option<String> {
    if item["type"] != "message" || item["role"] != "user" {
        return None;
    }
    match &item["content"] {
        Value::String(s) => Some(s.clone()),
        Value::Array(parts) => Some(
            parts
                .iter()
                .filter_map(|p| p["text"].as_str())
                .collect::<Vec<_>>()
                .join(" "),
        ),
        _ => None,
    }
}

/// The typed events that stream a finished response.
fn response_events(response: &Value) -> Vec<Value> {
    let mut seq = 0;
    let mut next = |mut e: Value| {
        e["sequence_number"] = json!(seq);
        seq += 1;
        e
    };
    let mut early = response.clone();
    early["status"] = json!("in_progress");
    early["output"] = json!([]);
    early["usage"] = Value::Null;
    let mut events = vec![
        next(json!({"type": "response.created", "response": early})),
        next(json!({"type": "response.in_progress", "response": early})),
    ];
    for (i, item) in response["output"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        let mut added = item.clone();
        added["status"] = json!("in_progress");
        if item["type"] == "message" {
            added["content"] = json!([]);
        }
        events.push(next(
            json!({"type": "response.output_item.added", "output_index": i, "item": added}),
        ));
        if item["type"] == "message" {
            let item_id = item["id"].clone();
            let text = item["content"][0]["text"].as_str().unwrap_or("").to_owned();
            events.push(next(json!({"type": "response.content_part.added", "item_id": item_id, "output_index": i, "content_index": 0,
                "part": {"type": "output_text", "text": "", "annotations": [], "logprobs": []}})));
            for piece in pieces(&text) {
                events.push(next(json!({"type": "response.output_text.delta", "item_id": item_id, "output_index": i, "content_index": 0, "delta": piece, "logprobs": []})));
            }
            events.push(next(json!({"type": "response.output_text.done", "item_id": item_id, "output_index": i, "content_index": 0, "text": text, "logprobs": []})));
            events.push(next(json!({"type": "response.content_part.done", "item_id": item_id, "output_index": i, "content_index": 0, "part": item["content"][0]})));
        } else if item["type"] == "function_call" {
            let args = item["arguments"].as_str().unwrap_or("").to_owned();
            for piece in super::text::split_even(&args, 4) {
                events.push(next(json!({"type": "response.function_call_arguments.delta", "item_id": item["id"], "output_index": i, "delta": piece})));
            }
            events.push(next(json!({"type": "response.function_call_arguments.done", "item_id": item["id"], "output_index": i, "arguments": args})));
        }
        events.push(next(
            json!({"type": "response.output_item.done", "output_index": i, "item": item}),
        ));
    }
    events.push(next(
        json!({"type": "response.completed", "response": response}),
    ));
    events
}
