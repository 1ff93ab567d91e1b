//! The production side of server mode: a service under test learns the test id
//! from each incoming request's `X-Recorder-Test-Id` header, and passes it on with
//! every outbound model call it makes while handling that request, so that the
//! test's recorder records the call in that test's scope.
//!
//! A service depends on this crate alone (the recorder itself, `recorder-runtime`,
//! stays a dev-dependency of its tests). Without the header nothing changes: no
//! header goes out and requests go where they always go.
//!
//! - [`TestIdLayer`]: a tower layer (axum, hyper, tonic) that puts the header's
//!   value in a task-local while the request is handled.
//! - [`spawn`] / [`bind`]: carry the test id into tasks the service spawns
//!   (a plain `tokio::spawn` starts without it).
//! - Outbound: [`headers`] (any client, one line); with the `reqwest` feature,
//!   `apply` and `PropagateMiddleware` (reqwest-middleware); with the
//!   `async-openai` feature, `PropagateOpenAiService`.
//!
//! ```
//! use recorder_propagate::{current_test_id, headers, with_test_id};
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! assert_eq!(current_test_id(), None);
//! assert!(headers().is_empty());
//! with_test_id("my::test", async {
//!     assert_eq!(current_test_id().as_deref(), Some("my::test"));
//!     assert_eq!(headers()["x-recorder-test-id"], "my::test");
//! })
//! .await;
//! # });
//! ```

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

/// The header that carries a test id (lowercase, as HTTP/2 wants it).
pub const TEST_ID_HEADER: &str = "x-recorder-test-id";

tokio::task_local! {
    static TEST_ID: Arc<str>;
}

/// The test id of the request being handled, if any.
pub fn current_test_id() -> Option<Arc<str>> {
    TEST_ID.try_with(Arc::clone).ok()
}

/// Runs `fut` with `test_id` as the current test id.
pub async fn with_test_id<F: Future>(test_id: impl Into<Arc<str>>, fut: F) -> F::Output {
    TEST_ID.scope(test_id.into(), fut).await
}

/// Wraps `fut` so that it runs with the current test id (if any), wherever it is polled.
pub fn bind<F: Future>(fut: F) -> impl Future<Output = F::Output> {
    let id = current_test_id();
    async move {
        match id {
            Some(id) => TEST_ID.scope(id, fut).await,
            None => fut.await,
        }
    }
}

/// `tokio::spawn` that carries the current test id into the new task.
pub fn spawn<F>(fut: F) -> tokio::task::JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    tokio::spawn(bind(fut))
}

/// A tower layer that reads `X-Recorder-Test-Id` into the task-local.
#[derive(Clone, Copy, Debug, Default)]
pub struct TestIdLayer;

impl<S> tower_layer::Layer<S> for TestIdLayer {
    type Service = TestIdService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        TestIdService { inner }
    }
}

/// The service of [`TestIdLayer`].
#[derive(Clone, Debug)]
pub struct TestIdService<S> {
    inner: S,
}

impl<S, B> tower_service::Service<http::Request<B>> for TestIdService<S>
where
    S: tower_service::Service<http::Request<B>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = std::result::Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<std::result::Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let id: Option<Arc<str>> = req
            .headers()
            .get(TEST_ID_HEADER)
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty())
            .map(Arc::from);
        let fut = self.inner.call(req);
        match id {
            Some(id) => Box::pin(TEST_ID.scope(id, fut)),
            None => Box::pin(fut),
        }
    }
}

// ---------------------------------------------------------------------------
// Outbound: the service's own clients add the header.

/// The header to add to an outbound request: `X-Recorder-Test-Id: <current id>`,
/// or an empty map outside a test. For any client:
/// `client.post(url).headers(propagate::headers())`.
pub fn headers() -> http::HeaderMap {
    let mut map = http::HeaderMap::new();
    if let Some(value) = current_test_id().and_then(|id| http::HeaderValue::from_str(&id).ok()) {
        map.insert(TEST_ID_HEADER, value);
    }
    map
}

/// Adds the header to `req` when a test id is current (replacing one already set).
#[cfg(feature = "reqwest")]
pub fn apply(req: &mut reqwest::Request) {
    if let Some(value) = current_test_id().and_then(|id| http::HeaderValue::from_str(&id).ok()) {
        req.headers_mut().insert(TEST_ID_HEADER, value);
    }
}

/// A reqwest-middleware `Middleware` that adds `X-Recorder-Test-Id` to every request
/// sent while a test id is current; otherwise it does nothing.
///
/// ```no_run
/// let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
///     .with(recorder_propagate::PropagateMiddleware)
///     .build();
/// ```
#[cfg(feature = "reqwest")]
#[derive(Clone, Copy, Debug, Default)]
pub struct PropagateMiddleware;

#[cfg(feature = "reqwest")]
#[async_trait::async_trait]
impl reqwest_middleware::Middleware for PropagateMiddleware {
    async fn handle(
        &self,
        mut req: reqwest::Request,
        extensions: &mut http::Extensions,
        next: reqwest_middleware::Next<'_>,
    ) -> reqwest_middleware::Result<reqwest::Response> {
        apply(&mut req);
        next.run(req, extensions).await
    }
}

/// A tower service for async-openai's `Client::with_http_service` that sends
/// requests with a plain `reqwest::Client`, adding the header when a test id is
/// current.
///
/// ```no_run
/// use async_openai::{config::OpenAIConfig, Client};
/// let base = std::env::var("OPENAI_BASE_URL").unwrap_or("https://api.openai.com/v1".into());
/// let openai = Client::with_config(OpenAIConfig::new().with_api_base(base))
///     .with_http_service(recorder_propagate::PropagateOpenAiService::default());
/// ```
#[cfg(feature = "async-openai")]
#[derive(Clone, Debug)]
pub struct PropagateOpenAiService {
    client: reqwest::Client,
}

#[cfg(feature = "async-openai")]
impl Default for PropagateOpenAiService {
    /// A plain `reqwest::Client` (rustls with the ring provider installed if none is).
    fn default() -> Self {
        if rustls::crypto::CryptoProvider::get_default().is_none() {
            // Deprecated in rustls 0.23.48 (no post-quantum key exchange), with no
            // successor for ring; a service that wants aws-lc-rs installs it first.
            #[allow(deprecated)]
            let ring = rustls::crypto::ring::default_provider();
            let _ = ring.install_default();
        }
        PropagateOpenAiService {
            client: reqwest::Client::new(),
        }
    }
}

#[cfg(feature = "async-openai")]
impl PropagateOpenAiService {
    /// Sends with `client`.
    pub fn new(client: reqwest::Client) -> Self {
        PropagateOpenAiService { client }
    }
}

#[cfg(feature = "async-openai")]
impl tower_service::Service<async_openai::middleware::HttpRequestFactory>
    for PropagateOpenAiService
{
    type Response = reqwest::Response;
    type Error = async_openai::error::OpenAIError;
    type Future =
        Pin<Box<dyn Future<Output = std::result::Result<reqwest::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<std::result::Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, factory: async_openai::middleware::HttpRequestFactory) -> Self::Future {
        let client = self.client.clone();
        let id = current_test_id();
        Box::pin(async move {
            let mut req = factory.build().await?;
            if let Some(value) = id.and_then(|id| http::HeaderValue::from_str(&id).ok()) {
                req.headers_mut().insert(TEST_ID_HEADER, value);
            }
            Ok(client.execute(req).await?)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower::{service_fn, Layer, ServiceExt};

    #[tokio::test]
    async fn the_layer_scopes_the_header_to_the_request_and_spawned_work() {
        let svc = TestIdLayer.layer(service_fn(|_req: http::Request<()>| async {
            let here = current_test_id();
            let spawned = spawn(async { current_test_id() }).await.unwrap();
            let plain = tokio::spawn(async { current_test_id() }).await.unwrap();
            Ok::<_, std::convert::Infallible>((here, spawned, plain, headers()))
        }));
        let req = http::Request::builder()
            .header(TEST_ID_HEADER, "t::a")
            .body(())
            .unwrap();
        let (here, spawned, plain, out) = svc.clone().oneshot(req).await.unwrap();
        assert_eq!(here.as_deref(), Some("t::a"));
        assert_eq!(
            spawned.as_deref(),
            Some("t::a"),
            "propagate::spawn carries it"
        );
        assert_eq!(plain, None, "a plain tokio::spawn does not");
        assert_eq!(out[TEST_ID_HEADER], "t::a");
        // Without the header: nothing, and nothing goes out.
        let (here, _, _, out) = svc.oneshot(http::Request::new(())).await.unwrap();
        assert_eq!(here, None);
        assert!(out.is_empty());
    }
}
