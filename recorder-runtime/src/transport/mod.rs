//! In-process transports: real clients talk to the engine with no socket between.
//! One file per client adapter; each depends on this module and the engine, never
//! on another adapter.
//!
//! - [`OpenAiService`] (feature `async-openai`): a tower `Service` for async-openai's
//!   `with_http_service`.
//! - [`RecorderMiddleware`] (feature `reqwest-middleware`): a reqwest-middleware
//!   `Middleware` for `ClientWithMiddleware` users (rig and others).
//!
//! Both take whatever URL the client builds, keep its path (a `/s/<token>` proxy
//! prefix is dropped, so a client configured with `ctx.base_url()` works too) and
//! hand the request to the engine (`Engine::handle`). Streams
//! come back frame by frame.
//!
//! ```no_run
//! # #[cfg(feature = "async-openai")]
//! # fn demo(ctx: recorder_runtime::RecordingContext) {
//! use async_openai::{config::OpenAIConfig, Client};
//! let openai = Client::with_config(OpenAIConfig::new().with_api_key("unused"))
//!     .with_http_service(ctx.openai_service());
//! # }
//! ```

use crate::engine::{EngineRequest, EngineResponse, ResponseBody, Scope};
use crate::error::Error;
use bytes::Bytes;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

#[cfg(feature = "reqwest-middleware")]
mod middleware;
#[cfg(feature = "async-openai")]
mod openai;

#[cfg(feature = "reqwest-middleware")]
pub use middleware::RecorderMiddleware;
#[cfg(feature = "async-openai")]
pub use openai::OpenAiService;

support! {
    /// Which scope a transport serves: the one it was made for, or the test id of the
    /// request being handled (server mode).
    #[derive(Clone, Debug)]
    pub enum ScopeSource {
        /// Always this scope.
        Fixed(Arc<Scope>),
        /// The scope of the current task's test id (see [`crate::propagate`]); requests
        /// outside any test go to the real API untouched.
        Current(Arc<dyn crate::engine::ScopeResolver>),
    }
}

impl ScopeSource {
    pub(crate) fn scope(&self) -> crate::Result<Option<Arc<Scope>>> {
        match self {
            ScopeSource::Fixed(s) => Ok(Some(s.clone())),
            ScopeSource::Current(r) => r.current_scope(),
        }
    }
}

support! {
    /// The endpoint of a URL: path and query, without a proxy's `/s/<token>` prefix.
    pub fn endpoint_of(url: &reqwest::Url) -> String {
        let mut path = url.path().to_owned();
        if let Some(rest) = path.strip_prefix("/s/") {
            if let Some(i) = rest.find('/') {
                path = rest[i..].to_owned();
            }
        }
        match url.query() {
            Some(q) => format!("{path}?{q}"),
            None => path,
        }
    }
}

/// The engine's view of a request; its headers and body are moved out (the request
/// is spent). A body held in memory is taken without a copy; a streamed one (a
/// multipart upload) is read to its end, up to `limit` bytes (the test's
/// `RECORDER_MAX_BODY_BYTES`).
async fn engine_request(req: &mut reqwest::Request, limit: usize) -> crate::Result<EngineRequest> {
    let body = match req.body_mut().take() {
        None => Bytes::new(),
        Some(b) if b.as_bytes().is_some() => take_bytes(b),
        Some(b) => collect_body(b, limit).await?,
    };
    Ok(EngineRequest {
        method: req.method().clone(),
        endpoint: endpoint_of(req.url()),
        headers: std::mem::take(req.headers_mut()),
        body,
    })
}

/// Reads a streamed request body whole, up to the body limit.
async fn collect_body(body: reqwest::Body, limit: usize) -> crate::Result<Bytes> {
    use http_body_util::BodyExt;
    let limited = http_body_util::Limited::new(body, limit);
    match limited.collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(Error::TooLarge {
            what: "the request body",
            limit,
            var: crate::env::MAX_BODY_BYTES,
        }),
        Err(e) => Err(Error::Body {
            what: "the request body cannot be read".into(),
            source: Some(e),
        }),
    }
}

/// The bytes of a body held in memory (`as_bytes()` is `Some`), without copying
/// them: such a body is always ready and hands out its `Bytes` as one frame.
fn take_bytes(mut body: reqwest::Body) -> Bytes {
    use http_body::Body as _;
    let mut cx = Context::from_waker(std::task::Waker::noop());
    match Pin::new(&mut body).poll_frame(&mut cx) {
        Poll::Ready(Some(Ok(frame))) => frame.into_data().unwrap_or_default(),
        _ => Bytes::new(),
    }
}

support! {
    /// An engine answer as a `reqwest::Response`, streams chunk by chunk.
    pub fn to_reqwest(resp: EngineResponse) -> reqwest::Response {
        to_reqwest_at(resp, None)
    }
}

/// [`to_reqwest`] with the request's URL as the response's `url()` (without one,
/// reqwest parses a placeholder URL for every response).
fn to_reqwest_at(resp: EngineResponse, url: Option<reqwest::Url>) -> reqwest::Response {
    use reqwest::ResponseBuilderExt;
    let mut builder = http::Response::builder();
    if let Some(url) = url {
        builder = builder.url(url);
    }
    let mut out = builder
        .body(reqwest::Body::from(Bytes::new()))
        .expect("a valid response");
    *out.body_mut() = match resp.head_into(&mut out) {
        ResponseBody::Full(b) => reqwest::Body::from(b),
        ResponseBody::Stream(_, s) => reqwest::Body::wrap(s),
    };
    reqwest::Response::from(out)
}

/// An engine error as a `reqwest::Response`: the same answer the proxy gives.
fn error_response(e: &Error) -> reqwest::Response {
    let resp = http::Response::builder()
        .status(e.http_status())
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(reqwest::Body::from(e.json_body()))
        .expect("a valid response");
    reqwest::Response::from(resp)
}

/// Serves a request from a scope's engine.
pub(crate) async fn serve_in(
    scope: Arc<Scope>,
    mut req: reqwest::Request,
) -> Result<reqwest::Response, Error> {
    let engine_req = match engine_request(&mut req, scope.max_body_bytes()).await {
        Ok(r) => r,
        // As the proxy does: the client gets the error answer, the test fails at its end.
        Err(e) => {
            scope.problem(e.to_string());
            return Ok(error_response(&e));
        }
    };
    Ok(match scope.handle(engine_req).await {
        Ok(resp) => to_reqwest_at(resp, Some(req.url().clone())),
        // Misses and upstream failures reach the client as the proxy would
        // answer them; the scope also keeps them so the test fails at its end.
        Err(e) => error_response(&e),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(body: reqwest::Body) -> reqwest::Request {
        let mut req = reqwest::Request::new(
            http::Method::POST,
            "http://127.0.0.1:1/s/tok3n/v1/chat/completions?x=1"
                .parse()
                .unwrap(),
        );
        *req.body_mut() = Some(body);
        req
    }

    #[tokio::test]
    async fn a_body_in_memory_reaches_the_engine_whole_and_uncopied() {
        let bytes = Bytes::from(br#"{"model":"m","messages":[]}"#.to_vec());
        let mut req = request(reqwest::Body::from(bytes.clone()));
        req.headers_mut()
            .insert("content-type", "application/json".parse().unwrap());
        let engine_req = engine_request(&mut req, 1 << 20).await.unwrap();
        assert_eq!(engine_req.body, bytes);
        assert_eq!(engine_req.body.as_ptr(), bytes.as_ptr(), "the same buffer");
        assert_eq!(engine_req.endpoint, "/v1/chat/completions?x=1");
        assert_eq!(engine_req.headers["content-type"], "application/json");
        assert!(req.body().is_none() && req.headers().is_empty());
    }

    #[tokio::test]
    async fn a_streamed_request_body_is_read_whole() {
        let chunks = futures_util::stream::iter([
            Ok::<_, std::io::Error>(Bytes::from_static(b"--b\r\n")),
            Ok(Bytes::from_static(b"part")),
        ]);
        let engine_req = engine_request(&mut request(reqwest::Body::wrap_stream(chunks)), 1 << 20)
            .await
            .unwrap();
        assert_eq!(engine_req.body, Bytes::from_static(b"--b\r\npart"));
    }
}
