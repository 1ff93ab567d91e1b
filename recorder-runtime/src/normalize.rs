//! Normalization of volatile response fields, applied on record so that
//! re-recording the same exchange gives the same bytes.
//!
//! In every response body and every stream frame, at the top level of the object:
//! - OpenAI-style `id` becomes `rec-<first 12 hex of the request hash>` and
//!   `created` becomes `0` — except in model objects (`"object": "model"`), whose id
//!   is the model's name;
//! - Ollama `created_at` becomes `1970-01-01T00:00:00.000000Z` (a numeric
//!   `created_at`, as OpenAI's Responses API sends, becomes `0`), and
//!   `total_duration`, `load_duration`, `prompt_eval_duration`, `eval_duration`
//!   become `0`.
//!
//! Nested ids (tool-call ids and the like) are kept: later requests refer to them.
//!
//! ```
//! use recorder_runtime::normalize::normalize_value;
//! use serde_json::json;
//! let mut v = json!({"id": "chatcmpl-123", "created": 1712345678, "object": "chat.completion"});
//! normalize_value(&mut v, "0123456789abcdef");
//! assert_eq!(v, json!({"id": "rec-0123456789ab", "created": 0, "object": "chat.completion"}));
//! ```

use serde_json::Value;

/// The `created_at` that Ollama timestamps become.
pub const EPOCH: &str = "1970-01-01T00:00:00.000000Z";

const OLLAMA_DURATIONS: [&str; 4] = [
    "total_duration",
    "load_duration",
    "prompt_eval_duration",
    "eval_duration",
];

/// The normalized id for a request hash.
pub fn normalized_id(request_hash: &str) -> String {
    format!("rec-{}", &request_hash[..request_hash.len().min(12)])
}

/// Normalizes one body or frame payload in place. Idempotent.
pub fn normalize_value(v: &mut Value, request_hash: &str) {
    let Value::Object(map) = v else { return };
    let is_model = map.get("object").and_then(Value::as_str) == Some("model");
    if !is_model {
        if let Some(id) = map.get_mut("id") {
            if id.is_string() {
                *id = Value::String(normalized_id(request_hash));
            }
        }
        if let Some(created) = map.get_mut("created") {
            if created.is_number() {
                *created = Value::from(0);
            }
        }
    }
    if let Some(at) = map.get_mut("created_at") {
        match at {
            Value::String(_) => *at = Value::String(EPOCH.to_string()),
            Value::Number(_) => *at = Value::from(0),
            _ => {}
        }
    }
    for key in OLLAMA_DURATIONS {
        if let Some(d) = map.get_mut(key) {
            if d.is_number() {
                *d = Value::from(0);
            }
        }
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
            "nested ids are kept"
        );
        assert!(is_normalized(&v, H));
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
