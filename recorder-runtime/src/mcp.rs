//! MCP (the Model Context Protocol) over Streamable HTTP through the recorder: the
//! rules that are MCP's own. The rest (identity, occurrences, ids, secrets, problems,
//! the recording format) is the engine's, as for any other API.
//!
//! - **Headers.** Every request header named `mcp-*` (`Mcp-Session-Id`,
//!   `MCP-Protocol-Version`, `Mcp-Method`, `Mcp-Name`, `Mcp-Param-*`) and `Last-Event-ID`
//!   go upstream as the client sent them; like every
//!   request header they are never stored and never count for identity. The answer's
//!   `Mcp-Session-Id` and `MCP-Protocol-Version` reach the client
//!   ([`PASSED_RESPONSE_HEADERS`]), recording and replaying.
//! - **The session id is a server-issued id.** The `Mcp-Session-Id` an answer carries
//!   goes through the test's id map before its body (so `initialize`'s session is
//!   `rec-<hash of the initialize request>`, `.2` for the test's second identical
//!   session): recordings hold the placeholder, so recording the same session twice
//!   gives the same bytes; the client gets the real id recording, the placeholder
//!   replaying. Requests need nothing (headers are not identity). An SSE event's `id:`
//!   that looks like an id (a resumable server's event ids) is mapped the same way.
//!   In `record-if-missing`, a request whose `Mcp-Session-Id` or `Last-Event-ID` is a
//!   placeholder (the session was replayed) is refused before it goes upstream, where
//!   the server would not know it: nothing is sent or written, and the test fails
//!   saying to record it whole.
//! - **JSON-RPC ids are the client's**: an object with a `"jsonrpc"` member keeps its
//!   `id` (normalization leaves it alone).
//! - **Open-ended streams.** A session's `GET` stream (a `GET` carrying
//!   `Mcp-Session-Id`, answered with `text/event-stream`) and a 2026-07-28
//!   `subscriptions/listen` stream stay open while the session lives. Recording, it is
//!   saved with the events it has when the first of these happens: the server ends it,
//!   the client leaves, the session's `DELETE` is answered, the test ends, or
//!   `RECORDER_OPEN_STREAM_SECS` (30 s) pass; then it ends for the client too (a
//!   client reconnects, which is recorded as the request's next occurrence).
//!   Replaying, its recorded events are served and the stream stays open until the
//!   client leaves, the session's `DELETE` or the end of the test: a stream that ended
//!   would make the client reconnect in a loop.
//! - **Keep-alives** (SSE comment-only events, `: ping - <timestamp>`) pass to the
//!   client live and are never stored, for any SSE stream.
//! - **Errors a client can match.** When the recorder cannot answer a JSON-RPC request
//!   (a replay miss, a refused session, an unreachable server), it answers as an MCP
//!   server does: a JSON-RPC error with the request's own `id`, code
//!   [`RECORDER_ERROR_CODE`], the recorder's explanation as its message, and the
//!   error's HTTP status, except that a miss is `400`, not `404`: to MCP clients a
//!   `404` means "your session is gone" (rmcp then starts a new session and sends the
//!   request again). The problem still fails the test. An error the *server* answered
//!   is recorded and replayed like any other answer, as errors are by design: a test
//!   may provoke one on purpose.
//!
//! Requests of a session are matched like any other: a test's second identical session
//! makes the same requests (JSON-RPC ids restart at each session), recorded as their
//! second occurrences. Two sessions *interleaved* in one test share those occurrence
//! counters in arrival order; their answers differ only in the session id, which
//! clients read from `initialize` alone.
//!
//! ```
//! use recorder_runtime::mcp::forwards_request_header;
//! assert!(forwards_request_header("mcp-session-id"));
//! assert!(forwards_request_header("mcp-param-city"));
//! assert!(forwards_request_header("last-event-id"));
//! assert!(!forwards_request_header("x-recorder-test-id"));
//! ```

use crate::body::BodyStream;
use crate::error::Error;
use crate::idmap::{IdMap, Issuer};
use bytes::Bytes;
use futures_util::StreamExt;
use http::{HeaderMap, Method, StatusCode};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Mutex;
use tokio::sync::watch;

/// The request and response header that carries a session's id.
pub const SESSION_HEADER: &str = "mcp-session-id";
/// The request header a client names the protocol version with (servers may echo it).
pub const PROTOCOL_VERSION_HEADER: &str = "mcp-protocol-version";
/// The 2026-07-28 request header that names the JSON-RPC method.
pub const METHOD_HEADER: &str = "mcp-method";
/// The SSE resumption header (RFC: the last `id:` the client saw).
pub const LAST_EVENT_ID_HEADER: &str = "last-event-id";
/// Response headers that reach the client, recording and replaying.
pub const PASSED_RESPONSE_HEADERS: &[&str] = &[SESSION_HEADER, PROTOCOL_VERSION_HEADER];
/// The JSON-RPC error code of the recorder's own answers (in the range JSON-RPC leaves
/// to implementations, -32000 to -32099, and used by no MCP SDK).
pub const RECORDER_ERROR_CODE: i64 = -32050;
/// The 2026-07-28 method whose answer is a stream of notifications that stays open.
const LISTEN_METHOD: &str = "subscriptions/listen";

support! {
    /// Whether a request header (lower-case name) goes upstream by MCP's rules: every
    /// `mcp-*` header and `last-event-id`.
    pub fn forwards_request_header(name: &str) -> bool {
        name.starts_with("mcp-") || name == LAST_EVENT_ID_HEADER
    }
}

/// A header's value as text.
fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// An open-ended stream's request: which session it belongs to, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OpenEnded {
    pub(crate) session: Option<String>,
}

/// Whether the answer to this request, when it is a stream, stays open while its
/// session lives (see the [module docs](self)).
pub(crate) fn open_ended(method: &Method, headers: &HeaderMap) -> Option<OpenEnded> {
    if headers.is_empty() {
        return None;
    }
    let session = header(headers, SESSION_HEADER).map(str::to_owned);
    if *method == Method::GET && session.is_some() {
        return Some(OpenEnded { session });
    }
    (header(headers, METHOD_HEADER) == Some(LISTEN_METHOD)).then_some(OpenEnded { session })
}

/// The session a `DELETE` ends, if it is one.
pub(crate) fn ended_session(method: &Method, headers: &HeaderMap) -> Option<String> {
    (*method == Method::DELETE)
        .then(|| header(headers, SESSION_HEADER).map(str::to_owned))
        .flatten()
}

/// The open-ended streams of one test, recording or replaying, by session: what a
/// session's `DELETE` or the end of the test stops.
#[derive(Debug, Default)]
pub(crate) struct OpenStreams {
    open: Mutex<Vec<(Option<String>, watch::Sender<bool>)>>,
}

/// Resolves when an open-ended stream must stop: told so, or its test is gone.
pub(crate) async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stop| *stop).await;
}

impl OpenStreams {
    /// Registers a stream of `session`; the receiver says when it must stop.
    pub(crate) fn open(&self, session: Option<&str>) -> watch::Receiver<bool> {
        let (tx, rx) = watch::channel(false);
        let mut open = self.open.lock().unwrap();
        // A stream that ended on its own dropped its receiver.
        open.retain(|(_, tx)| !tx.is_closed());
        open.push((session.map(str::to_owned), tx));
        rx
    }

    /// Stops the streams of a session (its `DELETE` was answered).
    pub(crate) fn end_session(&self, session: &str) {
        self.open.lock().unwrap().retain(|(s, tx)| {
            let ends = s.as_deref() == Some(session);
            if ends {
                let _ = tx.send(true);
            }
            !ends
        });
    }

    /// Stops every stream (the test ended).
    pub(crate) fn end_all(&self) {
        for (_, tx) in self.open.lock().unwrap().drain(..) {
            let _ = tx.send(true);
        }
    }
}

/// Replaying: an open-ended stream's recorded events, then nothing until `stop`
/// says so (the client leaving drops it before).
pub(crate) fn hold_open(body: BodyStream, mut stop: watch::Receiver<bool>) -> BodyStream {
    let wait = futures_util::stream::once(async move { stopped(&mut stop).await })
        .filter_map(|()| async { None });
    BodyStream::new(body.chain(wait))
}

/// Recording: maps the answer's `Mcp-Session-Id` to its placeholder (before the body's
/// ids, see the [module docs](self)) and keeps the placeholder in `kept`. A value
/// under 8 characters is too short to be replaced safely wherever it appears, and is
/// kept as it is.
pub(crate) fn absorb_session(
    issuer: &mut Issuer,
    ids: &mut IdMap,
    headers: &HeaderMap,
    kept: &mut BTreeMap<String, String>,
) -> bool {
    let Some(session) = header(headers, SESSION_HEADER).filter(|s| s.len() >= 8) else {
        return false;
    };
    match issuer.absorb_id(ids, session) {
        Some(placeholder) => {
            kept.insert(SESSION_HEADER.to_owned(), placeholder);
            true
        }
        None => false,
    }
}

/// In `record-if-missing`: the MCP header of a request that sends back an id a
/// replayed answer gave the client, `(name, value)`; such a request is refused before
/// it goes upstream, which never issued it (see the [module docs](self)).
pub(crate) fn foreign_header(headers: &HeaderMap) -> Option<(&'static str, &str)> {
    [SESSION_HEADER, LAST_EVENT_ID_HEADER]
        .into_iter()
        .find_map(|name| {
            header(headers, name)
                .filter(|v| crate::idmap::is_placeholder(v))
                .map(|v| (name, v))
        })
}

/// Why a request with a [`foreign_header`] was refused, and what to do.
pub(crate) fn foreign_message(
    request: &str,
    test_id: &str,
    filter: &str,
    name: &str,
    value: &str,
) -> String {
    format!(
        "{request} of test `{test_id}` sends back {name}: {value}, which a replayed recording gave the client: the real MCP server never issued it, so the request was not sent and nothing was recorded. Record the whole test again: RECORD_MODE=record cargo test {filter}"
    )
}

/// The `id` of a JSON-RPC request or notification (`null` for a notification), or
/// `None` when the body is not one.
fn jsonrpc_id(body: &[u8]) -> Option<Value> {
    let Ok(Value::Object(mut message)) = serde_json::from_slice::<Value>(body) else {
        return None;
    };
    let is_request = message.get("jsonrpc").and_then(Value::as_str) == Some("2.0")
        && message.get("method").is_some_and(Value::is_string);
    is_request.then(|| message.remove("id").unwrap_or(Value::Null))
}

support! {
    /// An error on a JSON-RPC request, as the answer an MCP client matches to its request
    /// (see the [module docs](self)): its HTTP status and JSON body. `None` when the body
    /// is not a JSON-RPC request or notification: the error is answered as usual.
    ///
    /// ```
    /// use recorder_runtime::mcp::jsonrpc_error;
    /// use recorder_runtime::Error;
    /// let req = br#"{"jsonrpc":"2.0","id":"req-7","method":"tools/list"}"#;
    /// let (status, body) = jsonrpc_error(req, &Error::Miss("no recording".into())).unwrap();
    /// assert_eq!(status, 400);
    /// let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
    /// assert_eq!(body["id"], "req-7");
    /// assert!(jsonrpc_error(br#"{"model":"m"}"#, &Error::Miss("no recording".into())).is_none());
    /// ```
    pub fn jsonrpc_error(body: &[u8], err: &Error) -> Option<(StatusCode, Bytes)> {
        let id = jsonrpc_id(body)?;
        let status = match err.http_status() {
            StatusCode::NOT_FOUND => StatusCode::BAD_REQUEST,
            status => status,
        };
        let answer = json!({
            "jsonrpc": "2.0",
            "id": id,
            "error": {
                "code": RECORDER_ERROR_CODE,
                "message": crate::error::chain(err),
                "data": {"type": err.kind()},
            },
        });
        Some((status, Bytes::from(answer.to_string())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn which_requests_are_open_ended() {
        let mut h = HeaderMap::new();
        assert_eq!(open_ended(&Method::GET, &h), None);
        h.insert(SESSION_HEADER, "abc".parse().unwrap());
        assert_eq!(
            open_ended(&Method::GET, &h),
            Some(OpenEnded {
                session: Some("abc".into())
            })
        );
        assert_eq!(open_ended(&Method::POST, &h), None);
        let mut listen = HeaderMap::new();
        listen.insert(METHOD_HEADER, LISTEN_METHOD.parse().unwrap());
        assert_eq!(
            open_ended(&Method::POST, &listen),
            Some(OpenEnded { session: None })
        );
    }

    #[test]
    fn only_json_rpc_requests_get_a_json_rpc_error() {
        assert_eq!(
            jsonrpc_id(br#"{"jsonrpc":"2.0","id":3,"method":"ping"}"#),
            Some(json!(3))
        );
        assert_eq!(
            jsonrpc_id(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#),
            Some(Value::Null)
        );
        // A client's answer to a server's request is not a request.
        assert_eq!(jsonrpc_id(br#"{"jsonrpc":"2.0","id":3,"result":{}}"#), None);
        assert_eq!(jsonrpc_id(b"[]"), None);
        let (status, body) = jsonrpc_error(
            br#"{"jsonrpc":"2.0","id":"a-1","method":"tools/call"}"#,
            &Error::Unreachable {
                url: "http://127.0.0.1:9/mcp".into(),
                reason: "refused".into(),
            },
        )
        .unwrap();
        assert_eq!(status, 502);
        let body: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["id"], "a-1");
        assert_eq!(body["error"]["code"], RECORDER_ERROR_CODE);
        assert_eq!(body["error"]["data"]["type"], "upstream_unreachable");
    }

    #[tokio::test]
    async fn a_session_delete_stops_its_streams_only() {
        let streams = OpenStreams::default();
        let mut a = streams.open(Some("s-1"));
        let b = streams.open(Some("s-2"));
        streams.end_session("s-1");
        stopped(&mut a).await;
        assert!(!*b.borrow());
        streams.end_all();
        assert!(*b.borrow());
    }
}
