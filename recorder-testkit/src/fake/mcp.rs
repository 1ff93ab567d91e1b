//! An MCP server over Streamable HTTP at `/mcp` (the handshake era, 2025-03-26 to
//! 2025-11-25), as the official SDKs' servers behave by default, with their volatile
//! parts random on every call:
//!
//! - `POST /mcp` `initialize` issues a session: a random 32-hex `Mcp-Session-Id`
//!   response header. Every later request must send it back (`400 Bad Request: Missing
//!   session ID` without it, `404 Session not found` for one the fake never issued or
//!   deleted) and must name the protocol version (`MCP-Protocol-Version`, else `400`).
//!   Every answer in a session repeats the session header.
//! - Requests are answered as SSE (`event: message`, one JSON-RPC response), or as JSON
//!   after [`FakeUpstream::set_mcp_json_response`]. With
//!   [`FakeUpstream::set_mcp_event_ids`], as a resumable server: a priming event with
//!   an `id:` and empty data, and a random `id:` on every event. Methods: `tools/list`
//!   (one tool, `echo`), `tools/call` (`echo` returns its `text`), `ping`; others get
//!   JSON-RPC's `-32601`. The answer's `id` is the request's, numbers and strings alike.
//! - Notifications and client responses get `202 Accepted`, an empty body.
//! - `GET /mcp` opens the session's stream: an `event: message` notification
//!   (`notifications/message`, "stream open"), then a keep-alive comment
//!   (`: ping - <time>`) every [`FakeUpstream::set_mcp_ping_interval`]; it stays open
//!   until the session's `DELETE` or the fake stops.
//! - `DELETE /mcp` ends the session (`200`, empty body) and its open streams.
//! - A 2026-07-28 `subscriptions/listen` request (`Mcp-Method: subscriptions/listen`,
//!   no session needed) is answered with the same open stream, until the client leaves.
//!
//! [`FakeUpstream::mcp_streams_open`] counts the streams being served: one a client (or
//! recorder) closed is no longer counted.

use super::{full, Body, FakeUpstream, State};
use bytes::Bytes;
use futures::StreamExt;
use http::{HeaderMap, Response, StatusCode};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use serde_json::{json, Value};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

/// The response header that carries the session id.
pub const SESSION_HEADER: &str = "mcp-session-id";
/// The protocol version the fake answers `initialize` with when the client asks for
/// none it knows.
pub const PROTOCOL_VERSION: &str = "2025-11-25";
const KNOWN_VERSIONS: &[&str] = &["2025-03-26", "2025-06-18", "2025-11-25"];

impl FakeUpstream {
    /// The MCP endpoint, `http://127.0.0.1:<port>/mcp`.
    pub fn mcp_url(&self) -> String {
        format!("{}/mcp", self.url())
    }

    /// Answers the following MCP requests as `application/json` (true) or as an SSE
    /// stream of one `event: message` (false, the default).
    pub fn set_mcp_json_response(&self, json: bool) {
        self.state.mcp_json.store(json, Ordering::Relaxed);
    }

    /// Gives the following MCP SSE events random `id:` fields, after a priming event,
    /// as a server with an event store does (default: no ids).
    pub fn set_mcp_event_ids(&self, ids: bool) {
        self.state.mcp_event_ids.store(ids, Ordering::Relaxed);
    }

    /// How often an open MCP stream sends a keep-alive comment (default 50 ms).
    pub fn set_mcp_ping_interval(&self, every: Duration) {
        self.state
            .mcp_ping_us
            .store(every.as_micros().max(1) as u64, Ordering::Relaxed);
    }

    /// The MCP sessions alive (issued and not deleted).
    pub fn mcp_sessions(&self) -> usize {
        self.state.mcp_sessions.lock().unwrap().len()
    }

    /// The open MCP streams (session `GET`s, listens) being served right now.
    pub fn mcp_streams_open(&self) -> usize {
        self.state.mcp_streams.load(Ordering::SeqCst)
    }
}

/// One request to `/mcp`.
pub(super) fn answer(
    state: &Arc<State>,
    method: &http::Method,
    headers: &HeaderMap,
    body: &Value,
) -> Response<Body> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let listen = header("mcp-method") == Some("subscriptions/listen");
    let initialize = *method == http::Method::POST && body["method"] == "initialize";
    if !initialize && !listen {
        let Some(session) = header(SESSION_HEADER) else {
            return rpc_error(
                StatusCode::BAD_REQUEST,
                Value::Null,
                -32600,
                "Bad Request: Missing session ID",
                None,
            );
        };
        if !state.mcp_sessions.lock().unwrap().contains_key(session) {
            return rpc_error(
                StatusCode::NOT_FOUND,
                Value::Null,
                -32600,
                "Session not found",
                None,
            );
        }
        if header("mcp-protocol-version").is_none() {
            return rpc_error(
                StatusCode::BAD_REQUEST,
                Value::Null,
                -32600,
                "Bad Request: missing MCP-Protocol-Version",
                Some(session),
            );
        }
    }
    let session = header(SESSION_HEADER).map(str::to_owned);
    match *method {
        http::Method::GET => open_stream(state, session),
        http::Method::DELETE => {
            let session = session.unwrap_or_default();
            if let Some(end) = state.mcp_sessions.lock().unwrap().remove(&session) {
                let _ = end.send(true);
            }
            with_session(Response::builder().status(StatusCode::OK), Some(&session))
                .body(full(Bytes::new()))
                .expect("a valid response")
        }
        http::Method::POST => post(state, body, session, listen),
        _ => rpc_error(
            StatusCode::METHOD_NOT_ALLOWED,
            Value::Null,
            -32600,
            "Method Not Allowed",
            None,
        ),
    }
}

fn post(state: &Arc<State>, body: &Value, session: Option<String>, listen: bool) -> Response<Body> {
    if body.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return rpc_error(
            StatusCode::BAD_REQUEST,
            Value::Null,
            -32700,
            "Parse error: not a JSON-RPC 2.0 message",
            None,
        );
    }
    let Some(method) = body.get("method").and_then(Value::as_str) else {
        // A client's answer to a server's request.
        return accepted(session.as_deref());
    };
    let Some(id) = body.get("id").cloned() else {
        return accepted(session.as_deref());
    };
    if listen {
        return open_stream(state, None);
    }
    let params = &body["params"];
    let (session, result) = match method {
        "initialize" => {
            let asked = params["protocolVersion"].as_str().unwrap_or("");
            let version = if KNOWN_VERSIONS.contains(&asked) {
                asked
            } else {
                PROTOCOL_VERSION
            };
            let id = hex_id(state);
            let (end, _) = tokio::sync::watch::channel(false);
            state.mcp_sessions.lock().unwrap().insert(id.clone(), end);
            let result = json!({
                "protocolVersion": version,
                "capabilities": {"tools": {"listChanged": false}, "logging": {}},
                "serverInfo": {"name": "fake-mcp", "version": "1.0.0"},
            });
            (Some(id), result)
        }
        "ping" => (session, json!({})),
        "tools/list" => (
            session,
            json!({"tools": [{
                "name": "echo",
                "description": "Echoes its text.",
                "inputSchema": {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]},
            }]}),
        ),
        "tools/call" if params["name"] == "echo" => {
            let text = params["arguments"]["text"]
                .as_str()
                .unwrap_or("")
                .to_owned();
            (
                session,
                json!({"content": [{"type": "text", "text": text}], "isError": false}),
            )
        }
        "tools/call" => {
            let text = format!("Unknown tool: {}", params["name"]);
            (
                session,
                json!({"content": [{"type": "text", "text": text}], "isError": true}),
            )
        }
        other => {
            let message = format!("Method not found: {other}");
            return rpc_error(StatusCode::OK, id, -32601, &message, session.as_deref());
        }
    };
    let message = json!({"jsonrpc": "2.0", "id": id, "result": result});
    if state.mcp_json.load(Ordering::Relaxed) {
        return with_session(
            Response::builder().status(StatusCode::OK),
            session.as_deref(),
        )
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(full(message.to_string()))
        .expect("a valid response");
    }
    let mut events = Vec::new();
    let ids = state.mcp_event_ids.load(Ordering::Relaxed);
    if ids {
        events.push(Bytes::from(format!("id: {}\ndata: \n\n", hex_id(state))));
    }
    events.push(event(state, ids, &message));
    let stream = futures::stream::iter(events.into_iter().map(|e| Ok(Frame::data(e))));
    with_session(
        Response::builder().status(StatusCode::OK),
        session.as_deref(),
    )
    .header(http::header::CONTENT_TYPE, "text/event-stream")
    .header(http::header::CACHE_CONTROL, "no-cache")
    .body(BodyExt::boxed_unsync(StreamBody::new(stream)))
    .expect("a valid response")
}

/// An `event: message` frame, with a random `id:` when asked.
fn event(state: &State, with_id: bool, message: &Value) -> Bytes {
    let id = if with_id {
        format!("id: {}\n", hex_id(state))
    } else {
        String::new()
    };
    Bytes::from(format!("event: message\n{id}data: {message}\n\n"))
}

/// A session's (or a listen's) open stream: a notification, then keep-alives until
/// the session ends (its `DELETE`) or the client leaves.
fn open_stream(state: &Arc<State>, session: Option<String>) -> Response<Body> {
    let end = session.as_ref().and_then(|s| {
        state
            .mcp_sessions
            .lock()
            .unwrap()
            .get(s)
            .map(|tx| tx.subscribe())
    });
    let note = json!({"jsonrpc": "2.0", "method": "notifications/message", "params": {"level": "info", "data": "stream open"}});
    let first = event(state, state.mcp_event_ids.load(Ordering::Relaxed), &note);
    let every = Duration::from_micros(state.mcp_ping_us.load(Ordering::Relaxed));
    let open = OpenGuard::new(state.clone());
    let pings = futures::stream::unfold((end, open), move |(mut end, open)| async move {
        let ended = match end.as_mut() {
            // Ended, or the session is gone (its sender dropped).
            Some(rx) => tokio::time::timeout(every, rx.wait_for(|e| *e))
                .await
                .is_ok(),
            None => {
                tokio::time::sleep(every).await;
                false
            }
        };
        if ended {
            return None;
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let ping = format!(": ping - {}.{:09}\n\n", now.as_secs(), now.subsec_nanos());
        Some((Ok(Frame::data(Bytes::from(ping))), (end, open)))
    });
    let stream = futures::stream::once(async move { Ok(Frame::data(first)) }).chain(pings);
    with_session(
        Response::builder().status(StatusCode::OK),
        session.as_deref(),
    )
    .header(http::header::CONTENT_TYPE, "text/event-stream")
    .header(http::header::CACHE_CONTROL, "no-cache")
    .body(BodyExt::boxed_unsync(StreamBody::new(stream.boxed())))
    .expect("a valid response")
}

/// Counts an open stream while it is served (dropped when the client leaves).
struct OpenGuard(Arc<State>);
impl OpenGuard {
    fn new(state: Arc<State>) -> Self {
        state.mcp_streams.fetch_add(1, Ordering::SeqCst);
        OpenGuard(state)
    }
}
impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.mcp_streams.fetch_sub(1, Ordering::SeqCst);
    }
}

fn with_session(
    builder: http::response::Builder,
    session: Option<&str>,
) -> http::response::Builder {
    match session {
        Some(s) => builder.header(SESSION_HEADER, s),
        None => builder,
    }
}

fn accepted(session: Option<&str>) -> Response<Body> {
    with_session(Response::builder().status(StatusCode::ACCEPTED), session)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(full(Bytes::new()))
        .expect("a valid response")
}

fn rpc_error(
    status: StatusCode,
    id: Value,
    code: i64,
    message: &str,
    session: Option<&str>,
) -> Response<Body> {
    let body = json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}});
    with_session(Response::builder().status(status), session)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(full(body.to_string()))
        .expect("a valid response")
}

/// 32 random hex digits, as the SDKs' session ids (and event ids here).
fn hex_id(state: &State) -> String {
    format!("{:016x}{:016x}", state.random(), state.random())
}
