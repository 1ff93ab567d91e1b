//! One stdio exchange in the engine's terms: the HTTP-shaped request it is recorded
//! as, the answer the front end performed (when a server runs), and the server lines
//! an engine answer holds. The in-process front end and the proxy (for
//! `cargo recordings mcp-stdio`) both go through here, so both record the same files.

use crate::engine::{EngineRequest, Performed};
use crate::stream::StreamFormat;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
#[cfg(feature = "stdio")]
use {
    crate::engine::{EngineResponse, ResponseBody},
    futures_util::StreamExt,
};

/// One exchange of a stdio session, as a front end hands it to the recorder.
///
/// ```
/// use recorder_runtime::stdio::Exchange;
/// let ping = Exchange::message(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#, None);
/// let (req, performed) = ping.into_engine("/up/mcp", "the stdio server `srv`");
/// assert_eq!((req.method.as_str(), req.endpoint.as_str()), ("POST", "/up/mcp"));
/// assert!(performed.is_none());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exchange {
    /// A line the client wrote (one JSON-RPC message): recorded as `POST /up/NAME`
    /// with the line as its body. `None`: the session's open stream, `GET /up/NAME`,
    /// whose answer is every server line no request was waiting for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The server's lines for it, when the front end runs the server (record, live and
    /// verify modes, and record-if-missing): for a request, every line up to and
    /// including its response; for a notification or a response, none (answered `202`).
    /// `None`: no server runs; the answer must come from the recordings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<Vec<String>>,
}

impl Exchange {
    /// The exchange of a line the client wrote.
    #[cfg(feature = "stdio")]
    pub fn message(line: impl Into<String>, answer: Option<Vec<String>>) -> Exchange {
        Exchange {
            message: Some(line.into()),
            answer,
        }
    }

    /// The exchange of the session's open stream.
    #[cfg(feature = "stdio")]
    pub fn open_stream(answer: Option<Vec<String>>) -> Exchange {
        Exchange {
            message: None,
            answer,
        }
    }

    /// The request the engine serves, at `endpoint` (`/up/NAME`), and the answer the
    /// front end performed, in the shape a Streamable HTTP server gives it: a request's
    /// lines and the open stream as `text/event-stream` (one `event: message` per
    /// line), a notification's or response's empty answer as `202 Accepted`. `upstream`
    /// names the server in errors.
    pub fn into_engine(self, endpoint: &str, upstream: &str) -> (EngineRequest, Option<Performed>) {
        let req = match &self.message {
            Some(line) => EngineRequest::post(endpoint, line.clone().into_bytes()).header(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("application/json"),
            ),
            None => EngineRequest::get(endpoint),
        };
        let performed = self.answer.map(|lines| {
            let response = if self.message.is_some() && lines.is_empty() {
                http::Response::builder()
                    .status(202)
                    .body(reqwest::Body::from(Bytes::new()))
            } else {
                http::Response::builder()
                    .status(200)
                    .header(http::header::CONTENT_TYPE, StreamFormat::Sse.content_type())
                    .body(reqwest::Body::from(sse(&lines)))
            };
            Performed {
                upstream: upstream.to_owned(),
                response: response.expect("a valid response"),
            }
        });
        (req, performed)
    }
}

/// Server lines as an SSE body: `event: message` and the line as its data, as a
/// Streamable HTTP server sends JSON-RPC messages. A `\r` cannot survive SSE framing
/// (no JSON text holds one), so it is dropped.
fn sse(lines: &[String]) -> Vec<u8> {
    let mut out = Vec::new();
    for line in lines {
        out.extend_from_slice(b"event: message\ndata: ");
        out.extend(line.bytes().filter(|b| *b != b'\r'));
        out.extend_from_slice(b"\n\n");
    }
    out
}

/// An answer as the front end reads it: its status, content type and body.
#[cfg(feature = "stdio")]
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) content_type: Option<String>,
    pub(crate) body: Bytes,
}

#[cfg(feature = "stdio")]
impl Reply {
    /// An engine answer, read to its end.
    pub(crate) async fn of(resp: EngineResponse) -> crate::Result<Reply> {
        let status = resp.status;
        let content_type = resp.content_type.clone();
        let body = match resp.body {
            ResponseBody::Full(b) => b,
            ResponseBody::Stream(_, mut s) => {
                let mut out = Vec::new();
                while let Some(chunk) = s.next().await {
                    out.extend_from_slice(&chunk?);
                }
                Bytes::from(out)
            }
        };
        Ok(Reply {
            status,
            content_type,
            body,
        })
    }

    /// The server lines the answer holds, or why there are none: an error answer's
    /// message (see [`Reply::problem`]).
    pub(crate) fn lines(&self) -> Result<Vec<String>, String> {
        if let Some(problem) = self.problem() {
            return Err(problem);
        }
        let format = self
            .content_type
            .as_deref()
            .and_then(StreamFormat::from_content_type);
        match format {
            Some(format) => {
                let frames = crate::stream::parse(format, &self.body).map_err(|e| e.to_string())?;
                Ok(frames
                    .into_iter()
                    .filter_map(|f| f.data)
                    .map(|data| match data {
                        serde_json::Value::String(text) => text,
                        other => other.to_string(),
                    })
                    .collect())
            }
            // 202 (a notification), or a whole JSON answer (none is recorded so, but a
            // hand-edited recording may hold one).
            None if self.body.iter().all(u8::is_ascii_whitespace) => Ok(Vec::new()),
            None => Ok(vec![String::from_utf8_lossy(&self.body).trim().to_owned()]),
        }
    }

    /// An error answer's message (the recorder could not serve the exchange): the
    /// `error.message` of its JSON body (a JSON-RPC error, or the recorder's own error
    /// body), else its text. `None` for a success.
    pub(crate) fn problem(&self) -> Option<String> {
        if self.status < 400 {
            return None;
        }
        Some(
            match serde_json::from_slice::<serde_json::Value>(&self.body) {
                Ok(v) => v["error"]["message"]
                    .as_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|| v.to_string()),
                Err(_) => format!(
                    "the recorder answered {}: {}",
                    self.status,
                    String::from_utf8_lossy(&self.body)
                ),
            },
        )
    }

    /// An error answer that is a JSON-RPC error response (the recorder's answer to a
    /// JSON-RPC request it could not serve, carrying the request's `id`), as a line.
    pub(crate) fn jsonrpc_error(&self) -> Option<String> {
        if self.status < 400 {
            return None;
        }
        let v = serde_json::from_slice::<serde_json::Value>(&self.body).ok()?;
        (v.get("jsonrpc").is_some() && v.get("error").is_some()).then(|| v.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_request_is_an_sse_answer_and_a_notification_a_202() {
        let lines = vec![
            r#"{"jsonrpc":"2.0","method":"notifications/progress","params":{"progress":1}}"#
                .to_owned(),
            r#"{"jsonrpc":"2.0","id":1,"result":{}}"#.to_owned(),
        ];
        let (req, performed) = Exchange::message(
            r#"{"jsonrpc":"2.0","id":1,"method":"x"}"#,
            Some(lines.clone()),
        )
        .into_engine("/up/mcp", "srv");
        assert_eq!(req.body, r#"{"jsonrpc":"2.0","id":1,"method":"x"}"#);
        let resp = performed.unwrap().response;
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()["content-type"], "text/event-stream");
        let body = http_body_util::BodyExt::collect(resp.into_body())
            .await
            .unwrap()
            .to_bytes();
        let reply = Reply {
            status: 200,
            content_type: Some("text/event-stream".into()),
            body,
        };
        assert_eq!(reply.lines().unwrap(), lines);

        let (_, performed) = Exchange::message(r#"{"jsonrpc":"2.0","method":"n"}"#, Some(vec![]))
            .into_engine("/up/mcp", "srv");
        assert_eq!(performed.unwrap().response.status(), 202);
        let (req, _) = Exchange::open_stream(None).into_engine("/up/mcp", "srv");
        assert_eq!((req.method.as_str(), req.body.len()), ("GET", 0));
    }

    #[test]
    fn an_error_answer_gives_its_message_and_its_json_rpc_line() {
        let plain = Reply {
            status: 404,
            content_type: Some("application/json".into()),
            body: Bytes::from(crate::error::error_body(
                "recording_not_found",
                "no recording for POST /up/mcp",
            )),
        };
        assert_eq!(plain.lines().unwrap_err(), "no recording for POST /up/mcp");
        assert_eq!(plain.jsonrpc_error(), None);
        let rpc = Reply {
            status: 400,
            content_type: Some("application/json".into()),
            body: Bytes::from_static(
                br#"{"jsonrpc":"2.0","id":3,"error":{"code":-32050,"message":"m"}}"#,
            ),
        };
        assert_eq!(rpc.lines().unwrap_err(), "m");
        assert_eq!(
            rpc.jsonrpc_error().unwrap(),
            r#"{"jsonrpc":"2.0","id":3,"error":{"code":-32050,"message":"m"}}"#
        );
        let accepted = Reply {
            status: 202,
            content_type: None,
            body: Bytes::new(),
        };
        assert!(accepted.lines().unwrap().is_empty());
    }
}
