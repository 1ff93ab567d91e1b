//! Normalization of volatile response fields, applied on record so that
//! re-recording the same exchange gives the same bytes.
//!
//! Ids that a response issues are replaced by stable placeholders by the id map (see
//! [`crate::idmap`]): `chatcmpl-…` becomes `rec-<first 12 hex of the request hash>`,
//! `resp_…` becomes `resp_rec-…`, and so on, anywhere in a body or stream event. A
//! top-level `id` that is not a placeholder after that (too short to look like an
//! id) still becomes `rec-<hash>`, except in model objects (`"object": "model"`),
//! whose id is the model's name.
//!
//! The timestamps of [`TIMESTAMP_RULES`] are normalized at any depth (a Responses
//! stream event's `response.created_at`, a vector store file's `created_at`), outside
//! `metadata` (the client's own data): a number becomes `0`, a string
//! `1970-01-01T00:00:00.000000Z` ([`EPOCH`]). A model object (`"object": "model"`)
//! describes the model, not the call, and is kept whole.
//! Ollama's durations ([`OLLAMA_DURATIONS`]) become `0`.
//!
//! ```
//! use recorder_runtime::normalize::normalize_value;
//! use serde_json::json;
//! let mut v = json!({"id": "c-1", "created": 1712345678, "object": "chat.completion"});
//! normalize_value(&mut v, "0123456789abcdef");
//! assert_eq!(v, json!({"id": "rec-0123456789ab", "created": 0, "object": "chat.completion"}));
//! let mut event = json!({"type": "response.created", "response": {"id": "resp_rec-0123456789ab", "created_at": 1712345678}});
//! normalize_value(&mut event, "0123456789abcdef");
//! assert_eq!(event["response"]["created_at"], 0);
//! ```

use serde_json::Value;

/// The `created_at` that Ollama timestamps become.
pub const EPOCH: &str = "1970-01-01T00:00:00.000000Z";

/// The timestamp fields normalized, and the APIs that send them.
pub const TIMESTAMP_RULES: &[(&str, &str)] = &[
    ("created", "OpenAI: chat completions and their chunks, completions"),
    ("created_at", "OpenAI Responses (and their stream events), files, vector stores, conversations and items; Ollama"),
    ("completed_at", "OpenAI Responses, batches, vector store file batches"),
    ("expires_at", "OpenAI files, vector stores, uploads; Ollama /api/ps"),
    ("last_active_at", "OpenAI vector stores"),
    ("in_progress_at", "OpenAI batches"),
    ("finalizing_at", "OpenAI batches"),
    ("failed_at", "OpenAI batches, runs"),
    ("cancelled_at", "OpenAI batches, runs"),
    ("started_at", "OpenAI runs"),
];

/// Ollama's durations, in nanoseconds, normalized to `0`.
pub const OLLAMA_DURATIONS: [&str; 4] = [
    "total_duration",
    "load_duration",
    "prompt_eval_duration",
    "eval_duration",
];

/// The normalized id for a request hash.
pub fn normalized_id(request_hash: &str) -> String {
    format!("rec-{}", &request_hash[..request_hash.len().min(12)])
}

/// Normalizes one body or frame payload in place (see the [module docs](self)).
/// Idempotent.
pub fn normalize_value(v: &mut Value, request_hash: &str) {
    if let Value::Object(map) = v {
        let is_model = map.get("object").and_then(Value::as_str) == Some("model");
        if !is_model {
            if let Some(Value::String(id)) = map.get_mut("id") {
                if !crate::idmap::is_placeholder(id) {
                    *id = normalized_id(request_hash);
                }
            }
        }
    }
    normalize_timestamps(v);
}

/// The timestamp and duration rules alone (ids untouched), at any depth.
pub fn normalize_timestamps(v: &mut Value) {
    normalize_nested(v)
}

fn normalize_nested(v: &mut Value) {
    match v {
        Value::Object(map) => {
            // A model object describes the model, not this call: kept whole.
            if map.get("object").and_then(Value::as_str) == Some("model") {
                return;
            }
            for (k, child) in map.iter_mut() {
                if k == "metadata" {
                    continue;
                }
                let timestamp = TIMESTAMP_RULES.iter().any(|(key, _)| key == k);
                if timestamp {
                    match child {
                        Value::String(_) if k != "created" => {
                            *child = Value::String(EPOCH.to_string())
                        }
                        Value::Number(_) => *child = Value::from(0),
                        _ => {}
                    }
                } else if OLLAMA_DURATIONS.contains(&k.as_str()) && child.is_number() {
                    *child = Value::from(0);
                } else {
                    normalize_nested(child);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(normalize_nested),
        _ => {}
    }
}

/// Whether a value is already normalized.
pub fn is_normalized(v: &Value, request_hash: &str) -> bool {
    let mut copy = v.clone();
    normalize_value(&mut copy, request_hash);
    &copy == v
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const H: &str = "abcdef0123456789abcdef";

    #[test]
    fn openai_chunk() {
        let mut v = json!({"id": "chatcmpl-x", "object": "chat.completion.chunk", "created": 17, "choices": [{"delta": {"tool_calls": [{"id": "call_1"}]}}]});
        normalize_value(&mut v, H);
        assert_eq!(v["id"], "rec-abcdef012345");
        assert_eq!(v["created"], 0);
        assert_eq!(
            v["choices"][0]["delta"]["tool_calls"][0]["id"], "call_1",
            "nested ids are the id map's (crate::idmap)"
        );
        assert!(is_normalized(&v, H));
    }

    #[test]
    fn nested_timestamps_but_not_metadata_nor_placeholders() {
        let mut v = json!({
            "type": "response.completed",
            "response": {"id": "resp_rec-abcdef012345", "created_at": 1_700_000_000, "completed_at": 1_700_000_001,
                         "metadata": {"created_at": "mine"}, "output": [{"created_at": "2025-01-01T00:00:00Z"}]},
        });
        normalize_value(&mut v, H);
        assert_eq!(v["response"]["id"], "resp_rec-abcdef012345");
        assert_eq!(v["response"]["created_at"], 0);
        assert_eq!(v["response"]["completed_at"], 0);
        assert_eq!(v["response"]["metadata"]["created_at"], "mine");
        assert_eq!(v["response"]["output"][0]["created_at"], EPOCH);
    }

    #[test]
    fn model_objects_keep_id_and_created() {
        let mut v = json!({"id": "gpt-4", "object": "model", "created": 1686588896});
        let before = v.clone();
        normalize_value(&mut v, H);
        assert_eq!(v, before);
    }

    #[test]
    fn ollama_fields() {
        let mut v = json!({"model": "llama", "created_at": "2024-05-01T10:00:00.1Z", "total_duration": 5, "load_duration": 1, "prompt_eval_duration": 2, "eval_duration": 3, "eval_count": 9});
        normalize_value(&mut v, H);
        assert_eq!(v["created_at"], EPOCH);
        for k in OLLAMA_DURATIONS {
            assert_eq!(v[k], 0);
        }
        assert_eq!(v["eval_count"], 9, "counts are real data");
    }

    #[test]
    fn non_objects_untouched() {
        let mut v = json!("[DONE]");
        normalize_value(&mut v, H);
        assert_eq!(v, json!("[DONE]"));
    }
}
