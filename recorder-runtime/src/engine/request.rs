//! What goes into the engine and what comes out: [`EngineRequest`], [`EngineResponse`].

use crate::body::BodyStream;
use crate::error::Result;
use crate::stream::StreamFormat;
use bytes::Bytes;
use futures_util::StreamExt;
use http::{HeaderMap, HeaderName, HeaderValue, Method};

/// A request as every transport hands it to the engine.
///
/// ```
/// use recorder_runtime::engine::EngineRequest;
/// let req = EngineRequest::post("/v1/embeddings", br#"{"model":"m","input":"hi"}"#.to_vec());
/// assert_eq!(req.method, http::Method::POST);
/// assert!(EngineRequest::get("/v1/models").body.is_empty());
/// ```
#[derive(Debug, Clone)]
pub struct EngineRequest {
    /// HTTP method.
    pub method: Method,
    /// Path below the base URL root, query included (`/v1/chat/completions`).
    pub endpoint: String,
    /// Headers the client sent (only [`crate::headers::FORWARDED_HEADERS`] and
    /// credentials go upstream; none is stored).
    pub headers: HeaderMap,
    /// The body, as sent (compressed if the client compressed it).
    pub body: Bytes,
}

impl EngineRequest {
    /// A JSON POST. It carries no headers: a body sent upstream without a
    /// content type goes as `application/json` (and a replay needs none).
    pub fn post(endpoint: &str, body: impl Into<Bytes>) -> Self {
        EngineRequest {
            method: Method::POST,
            endpoint: endpoint.to_owned(),
            headers: HeaderMap::new(),
            body: body.into(),
        }
    }
    /// A GET without a body.
    pub fn get(endpoint: &str) -> Self {
        Self::without_body(Method::GET, endpoint)
    }
    /// A DELETE without a body.
    pub fn delete(endpoint: &str) -> Self {
        Self::without_body(Method::DELETE, endpoint)
    }
    fn without_body(method: Method, endpoint: &str) -> Self {
        EngineRequest {
            method,
            endpoint: endpoint.to_owned(),
            headers: HeaderMap::new(),
            body: Bytes::new(),
        }
    }
    /// The same request with a header added (e.g. a multipart body's content type).
    pub fn header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.append(name, value);
        self
    }
}

/// An upstream's answer that a front end got by its own means, for
/// [`Engine::handle_performed`](super::Engine::handle_performed): the upstream is not
/// an HTTP server (an MCP server the front end runs as a child process and talks to
/// over stdio, see [`crate::stdio`]), so the front end performs the exchange and the
/// engine takes this answer where it would have called the upstream. Its status,
/// headers and body are read as an HTTP answer's: a `text/event-stream` content type
/// makes it a stream of frames, anything else a whole body.
///
/// ```
/// use recorder_runtime::engine::Performed;
/// let accepted = Performed {
///     upstream: "the stdio server `my-server`".into(),
///     response: http::Response::builder().status(202).body(reqwest::Body::from("")).unwrap(),
/// };
/// assert_eq!(accepted.response.status(), 202);
/// ```
#[derive(Debug)]
pub struct Performed {
    /// What names the upstream in errors (never a URL the engine would call).
    pub upstream: String,
    /// The answer, as an HTTP answer.
    pub response: http::Response<reqwest::Body>,
}

/// Where a response came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnswerSource {
    /// Served from a recording.
    Replayed,
    /// Fetched upstream and recorded.
    Recorded,
    /// Fetched upstream, not recorded (live mode).
    Live,
}

/// A response body: whole, or streamed.
pub enum ResponseBody {
    /// The whole body.
    Full(Bytes),
    /// A stream of chunks, with its wire format.
    Stream(StreamFormat, BodyStream),
}

impl std::fmt::Debug for ResponseBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ResponseBody::Full(b) => write!(f, "Full({} bytes)", b.len()),
            ResponseBody::Stream(fmt, _) => write!(f, "Stream({fmt:?})"),
        }
    }
}

/// The engine's answer.
#[derive(Debug)]
pub struct EngineResponse {
    /// HTTP status.
    pub status: u16,
    /// Content type.
    pub content_type: Option<String>,
    /// The other headers a client may read (request ids, retry hints, rate limits on
    /// errors; see [`crate::headers`]): recorded ones on replay, the real ones otherwise.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// Body (decoded: never compressed).
    pub body: ResponseBody,
    /// Replayed, recorded or live.
    pub source: AnswerSource,
}

impl EngineResponse {
    /// Collects the body (a stream is read to its end).
    pub async fn bytes(self) -> Result<Bytes> {
        match self.body {
            ResponseBody::Full(b) => Ok(b),
            ResponseBody::Stream(_, mut s) => {
                let mut out = Vec::new();
                while let Some(chunk) = s.next().await {
                    out.extend_from_slice(&chunk?);
                }
                Ok(out.into())
            }
        }
    }

    /// Sets `resp`'s status and headers to this answer's (its content type first) and
    /// hands back the body: what every transport does with an answer. Setting them on
    /// the response, not through `http`'s builder, moves no `Parts` per header.
    #[cfg(any(feature = "proxy", feature = "async-openai", feature = "reqwest-middleware"))]
    pub(crate) fn head_into<B>(self, resp: &mut http::Response<B>) -> ResponseBody {
        *resp.status_mut() =
            http::StatusCode::from_u16(self.status).expect("a valid response status");
        let headers = resp.headers_mut();
        headers.reserve(self.headers.len() + 1);
        if let Some(ct) = &self.content_type {
            headers.insert(http::header::CONTENT_TYPE, content_type_value(ct));
        }
        for (name, value) in self.headers {
            headers.append(name, value);
        }
        self.body
    }

    /// A header's value, by lower-case name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.as_str() == name)
            .and_then(|(_, v)| v.to_str().ok())
    }
}

/// A content type as a header value; the common ones without copying.
#[cfg(any(feature = "proxy", feature = "async-openai", feature = "reqwest-middleware"))]
fn content_type_value(ct: &str) -> HeaderValue {
    match ct {
        "application/json" => HeaderValue::from_static("application/json"),
        "text/event-stream" => HeaderValue::from_static("text/event-stream"),
        "application/x-ndjson" => HeaderValue::from_static("application/x-ndjson"),
        other => HeaderValue::from_str(other).expect("a valid content type"),
    }
}
