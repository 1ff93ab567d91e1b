//! OGX's format for raw HTTP exchanges: calls OGX makes with an HTTP client rather than
//! an SDK (Gemini's Interactions API, Anthropic's Messages API), recorded as they went
//! over the wire.
//!
//! ```text
//! { "test_id": "tests/integration/messages/test_messages.py::test_x[txt=ollama/gpt-oss:20b]",
//!   "request":  { "test_id": "...", "url": "http://0.0.0.0:11434/v1/messages",
//!                 "method": "POST", "payload": { ... } },
//!   "response": { "status": 200, "body": { ... } | [ "event: x", "data: {...}", "", ... ],
//!                 "is_streaming": false } }
//! ```
//!
//! Each becomes the same exchange at its URL's path (query included; scheme, host and
//! port never count): `POST /v1/messages`, `POST /v1beta/interactions`, with the
//! payload as body. The answer keeps its status (a recorded 400 replays as a 400) and
//! its JSON body; a streamed answer, recorded as the list of its SSE lines, becomes
//! those events frame by frame (`event:`, `data:` as JSON where it is JSON, `[DONE]`
//! kept). The ids these answers carry (`msg_…`, an interaction's `id`) were never
//! normalized by OGX: the id map gives them placeholders on import.
//!
//! ```
//! use recorder_cli::ogx::{convert, Format, Kind};
//! use serde_json::json;
//! let c = convert(&json!({
//!     "test_id": null,
//!     "request": {"test_id": null, "url": "http://0.0.0.0:11434/v1/messages", "method": "POST",
//!                 "payload": {"model": "m", "messages": [], "max_tokens": 64}},
//!     "response": {"status": 400, "is_streaming": false,
//!                  "body": {"type": "error", "error": {"type": "invalid_request_error", "message": "messages is required"}}}
//! })).unwrap();
//! assert_eq!((c.format, c.kind), (Format::RawHttp, Kind::Error));
//! assert_eq!(c.recording.request.endpoint, "/v1/messages");
//! assert_eq!(c.recording.response.status, 400);
//! ```

use super::{is_streaming, json_with_status, Kind, Skip};
use recorder_runtime::recording::{RecordedRequest, RecordedResponse, Recording};
use recorder_runtime::stream::{self, StreamFormat};
use serde_json::{Map, Value};

/// Converts a raw HTTP exchange (a file whose `request` has a `payload`) made by the
/// test `test_id` (`""`: outside any test).
pub(super) fn convert(
    req: &Map<String, Value>,
    resp: &Map<String, Value>,
    test_id: String,
) -> Result<(Recording, Kind), Skip> {
    let url = req
        .get("url")
        .and_then(Value::as_str)
        .ok_or_else(|| Skip::Invalid("a raw HTTP request without `url`".into()))?;
    let endpoint = path_of(url)
        .ok_or_else(|| Skip::Invalid(format!("`request.url` {url:?} is not an http(s) URL")))?;
    let method = req
        .get("method")
        .and_then(Value::as_str)
        .unwrap_or("POST")
        .to_ascii_uppercase();
    let payload = req.get("payload").cloned().unwrap_or(Value::Null);
    // A request without a body (a GET) is recorded with an empty payload.
    let body = match payload {
        Value::Object(m) if m.is_empty() && method == "GET" => Value::Null,
        other => other,
    };
    let model = body.get("model").and_then(Value::as_str).map(str::to_owned);
    let status = match resp.get("status") {
        None => 200,
        Some(s) => s
            .as_u64()
            .and_then(|s| u16::try_from(s).ok())
            .filter(|s| (100..=599).contains(s))
            .ok_or_else(|| Skip::Invalid(format!("`response.status` {s} is not an HTTP status")))?,
    };
    let recorded = resp
        .get("body")
        .ok_or_else(|| Skip::Invalid("no `response.body`".into()))?;
    let (response, kind) = if is_streaming(resp) {
        let lines = recorded
            .as_array()
            .and_then(|items| items.iter().map(Value::as_str).collect::<Option<Vec<_>>>())
            .ok_or_else(|| {
                Skip::Invalid("a streamed raw HTTP body is not a list of SSE lines".into())
            })?;
        let mut wire = lines.join("\n");
        wire.push('\n');
        let frames = stream::parse(StreamFormat::Sse, wire.as_bytes())
            .map_err(|e| Skip::Invalid(format!("the recorded SSE lines do not parse: {e}")))?;
        if frames.is_empty() {
            return Err(Skip::Invalid("a streamed answer without events".into()));
        }
        (
            RecordedResponse::streamed(status, StreamFormat::Sse, frames),
            if status >= 400 {
                Kind::Error
            } else {
                Kind::Stream
            },
        )
    } else {
        let response = match recorded {
            Value::String(text) => {
                RecordedResponse::plain(status, Some("text/plain"), text.as_bytes())
            }
            json => json_with_status(status, json.clone()),
        };
        (
            response,
            if status >= 400 {
                Kind::Error
            } else {
                Kind::Plain
            },
        )
    };
    let recording = Recording {
        test_id: Some(test_id),
        request: RecordedRequest {
            method,
            endpoint,
            model,
            body,
        },
        response,
    };
    Ok((recording, kind))
}

/// The path and query of an absolute http(s) URL (`/` when it has no path); `None`
/// for anything else.
fn path_of(url: &str) -> Option<String> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))?;
    let rest = rest.split('#').next().unwrap_or(rest);
    let at = rest.find(['/', '?']).unwrap_or(rest.len());
    if at == 0 {
        return None;
    }
    let path = &rest[at..];
    Some(match path.chars().next() {
        Some('/') => path.to_owned(),
        _ => format!("/{path}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ogx::{convert as convert_file_value, Format};
    use serde_json::json;

    fn file(url: &str, payload: Value, response: Value) -> Value {
        json!({
            "test_id": "tests/t.py::test_x",
            "request": {"test_id": "tests/t.py::test_x", "url": url, "method": "POST", "payload": payload},
            "response": response,
            "id_normalization_mapping": {}
        })
    }

    #[test]
    fn urls_become_their_path_and_query() {
        assert_eq!(
            path_of("https://generativelanguage.googleapis.com/v1beta/interactions").as_deref(),
            Some("/v1beta/interactions")
        );
        assert_eq!(
            path_of("http://0.0.0.0:11434/v1/messages?beta=true#x").as_deref(),
            Some("/v1/messages?beta=true")
        );
        assert_eq!(path_of("http://h:1").as_deref(), Some("/"));
        assert_eq!(path_of("http://h?q=1").as_deref(), Some("/?q=1"));
        assert_eq!(path_of("vertexai:///generate_content"), None);
        assert_eq!(path_of("http:///x"), None);
    }

    #[test]
    fn a_plain_exchange_keeps_method_payload_status_and_body() {
        let payload = json!({"model": "gemini-2.5-flash-lite", "input": "hi", "stream": false});
        let body = json!({"id": "v1_abc123def456", "status": "completed", "outputs": [{"type": "text", "text": "hello"}]});
        let c = convert_file_value(&file(
            "https://generativelanguage.googleapis.com/v1beta/interactions",
            payload.clone(),
            json!({"status": 200, "body": body.clone(), "is_streaming": false}),
        ))
        .unwrap();
        assert_eq!((c.format, c.kind), (Format::RawHttp, Kind::Plain));
        let r = &c.recording;
        assert_eq!(
            (r.request.method.as_str(), r.request.endpoint.as_str()),
            ("POST", "/v1beta/interactions")
        );
        assert_eq!(r.request.body, payload);
        assert_eq!(r.request.model.as_deref(), Some("gemini-2.5-flash-lite"));
        assert_eq!(r.test_id.as_deref(), Some("tests/t.py::test_x"));
        assert_eq!(
            (r.response.status, r.response.content_type.as_deref()),
            (200, Some("application/json"))
        );
        assert_eq!(r.response.body.as_ref(), Some(&body));
    }

    #[test]
    fn a_stream_of_sse_lines_becomes_its_events() {
        let lines = json!([
            "event: message_start",
            "data: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_01\"}}",
            "",
            "event: message_stop",
            "data: {\"type\":\"message_stop\"}",
            "",
        ]);
        let c = convert_file_value(&file(
            "http://0.0.0.0:11434/v1/messages",
            json!({"model": "m", "stream": true}),
            json!({"body": lines, "is_streaming": true}),
        ))
        .unwrap();
        assert_eq!(c.kind, Kind::Stream);
        let resp = &c.recording.response;
        assert_eq!(
            (resp.status, resp.content_type.as_deref()),
            (200, Some("text/event-stream"))
        );
        let stream = resp.stream.as_ref().unwrap();
        assert_eq!(
            stream::to_wire(stream.format, &stream.frames),
            b"event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_01\"}}\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"
        );
        assert_eq!(stream.frames[1].data, Some(json!({"type": "message_stop"})));
    }

    #[test]
    fn errors_keep_their_status_and_bad_files_say_why() {
        let c = convert_file_value(&file(
            "https://generativelanguage.googleapis.com/v1beta/interactions",
            json!({"model": "m"}),
            json!({"status": 400, "body": {"error": {"message": "no", "code": "invalid_request"}}, "is_streaming": false}),
        ))
        .unwrap();
        assert_eq!((c.kind, c.recording.response.status), (Kind::Error, 400));
        let text = convert_file_value(&file(
            "http://h/x",
            json!({}),
            json!({"status": 502, "body": "Bad Gateway"}),
        ))
        .unwrap();
        assert_eq!(
            text.recording.response.body_text.as_deref(),
            Some("Bad Gateway")
        );
        for (response, says) in [
            (json!({"status": 99, "body": {}}), "is not an HTTP status"),
            (json!({"status": 200}), "no `response.body`"),
            (
                json!({"body": [1, 2], "is_streaming": true}),
                "not a list of SSE lines",
            ),
            (
                json!({"body": ["", ""], "is_streaming": true}),
                "without events",
            ),
        ] {
            let e = convert_file_value(&file("http://h/x", json!({}), response)).unwrap_err();
            assert!(e.to_string().contains(says), "{e}");
        }
        let e = convert_file_value(&file("ftp://h/x", json!({}), json!({"body": {}}))).unwrap_err();
        assert!(e.to_string().contains("is not an http(s) URL"), "{e}");
    }
}
