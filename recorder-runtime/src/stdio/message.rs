//! What a JSON-RPC line is, as far as the stdio mapping cares: a request (which waits
//! for the response with its `id`), a response, or anything else (a notification, a
//! batch, a line that is not JSON).

use serde_json::Value;

/// The kind of one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A request: `method` and a non-null `id` (the key of [`id_key`]).
    Request(String),
    /// A response: an `id` and a `result` or an `error`, no `method`.
    Response(String),
    /// Anything else: a notification, a batch, text that is not a JSON object.
    Other,
}

/// The kind of a line.
///
/// ```text
/// {"jsonrpc":"2.0","id":1,"method":"ping"}          Request("1")
/// {"jsonrpc":"2.0","id":"a","result":{}}            Response("\"a\"")
/// {"jsonrpc":"2.0","method":"notifications/x"}      Other
/// ```
pub(crate) fn kind(line: &str) -> Kind {
    let Ok(Value::Object(msg)) = serde_json::from_str::<Value>(line) else {
        return Kind::Other;
    };
    let Some(id) = msg.get("id").filter(|id| !id.is_null()) else {
        return Kind::Other;
    };
    if msg.contains_key("method") {
        Kind::Request(id_key(id))
    } else if msg.contains_key("result") || msg.contains_key("error") {
        Kind::Response(id_key(id))
    } else {
        Kind::Other
    }
}

/// The key of a JSON-RPC id: its compact JSON, so that `1` and `"1"` differ, as they
/// do to JSON-RPC.
pub(crate) fn id_key(id: &Value) -> String {
    id.to_string()
}

/// The `id` of a request line, as JSON, for an error answered in its place.
pub(crate) fn request_id(line: &str) -> Value {
    serde_json::from_str::<Value>(line)
        .ok()
        .and_then(|m| m.get("id").cloned())
        .unwrap_or(Value::Null)
}

/// The `method` of a line, or `?` when it has none.
pub(crate) fn method(line: &str) -> String {
    serde_json::from_str::<Value>(line)
        .ok()
        .and_then(|m| m.get("method").and_then(Value::as_str).map(str::to_owned))
        .unwrap_or_else(|| "?".to_owned())
}

/// A JSON-RPC error line with `` `METHOD`: `` before its message.
pub(crate) fn with_method(line: &str, method: &str) -> String {
    let Ok(mut v) = serde_json::from_str::<Value>(line) else {
        return line.to_owned();
    };
    if let Some(message) = v["error"]["message"].as_str() {
        v["error"]["message"] = Value::String(format!("`{method}`: {message}"));
    }
    v.to_string()
}

/// A JSON-RPC error response to the request with `id`: what a client gets when the
/// recorder cannot answer it (a replay miss, an unreachable recorder), so that it
/// fails at once with the reason instead of waiting. The code is the one the
/// recorder's HTTP answers to JSON-RPC requests use (in the range JSON-RPC leaves to
/// implementations).
pub(crate) fn error_line(id: Value, message: &str) -> String {
    serde_json::json!({
        "jsonrpc": "2.0",
        "id": id,
        "error": { "code": RECORDER_ERROR_CODE, "message": message },
    })
    .to_string()
}

/// The JSON-RPC error code of the recorder's own answers.
pub(crate) const RECORDER_ERROR_CODE: i64 = crate::mcp::RECORDER_ERROR_CODE;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_told_apart_by_their_members() {
        assert_eq!(
            kind(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#),
            Kind::Request("1".into())
        );
        assert_eq!(
            kind(r#"{"jsonrpc":"2.0","id":"1","result":{}}"#),
            Kind::Response("\"1\"".into())
        );
        assert_eq!(
            kind(r#"{"jsonrpc":"2.0","id":7,"error":{"code":-1,"message":"no"}}"#),
            Kind::Response("7".into())
        );
        assert_eq!(
            kind(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#),
            Kind::Other
        );
        assert_eq!(
            kind(r#"{"jsonrpc":"2.0","id":null,"method":"x"}"#),
            Kind::Other
        );
        assert_eq!(
            kind(r#"[{"jsonrpc":"2.0","id":1,"method":"x"}]"#),
            Kind::Other
        );
        assert_eq!(kind("Starting server..."), Kind::Other);
    }

    #[test]
    fn an_error_answer_carries_the_request_id() {
        let line = error_line(
            request_id(r#"{"jsonrpc":"2.0","id":"a-1","method":"x"}"#),
            "no recording",
        );
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["id"], "a-1");
        assert_eq!(v["error"]["code"], RECORDER_ERROR_CODE);
        assert_eq!(v["error"]["message"], "no recording");
    }
}
