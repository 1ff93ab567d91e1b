//! Server mode: a service under test learns the test id from each incoming
//! request's `X-Recorder-Test-Id` header, and every outbound call it makes while
//! handling that request is recorded in that test's scope.
//!
//! In the service (production code, unchanged behaviour without the header):
//! - [`TestIdLayer`]: a tower layer (axum, hyper, tonic) that puts the header's
//!   value in a task-local while the request is handled.
//! - [`spawn`] / [`bind`]: carry the test id into tasks the service spawns
//!   (a plain `tokio::spawn` starts without it).
//! - Outbound: [`PropagateMiddleware`] (reqwest-middleware), [`headers`] (any
//!   client, one line), [`PropagateOpenAiService`] (async-openai) add the header to
//!   the service's model calls; the test process's loopback proxy routes them to
//!   the test's scope. A service running inside the test process can instead use
//!   the in-process transports of [`Recorder::global`].
//!
//! In the test process: [`Recorder::global`] knows every live test's scope (the
//! macro registers them), and [`recorder_url`] is the loopback proxy root that
//! routes requests by their header. [`crate::service::Service`] wires it all up.
//!
//! ```
//! use recorder_runtime::propagate::{current_test_id, headers, with_test_id};
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

use crate::engine::{Engine, Scope, Target};
use crate::error::{Error, Result};
use crate::mode::Mode;
use crate::proxy::TEST_ID_HEADER;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, LazyLock, Mutex, Weak};
use std::task::{Context, Poll};

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

impl<S> tower::Layer<S> for TestIdLayer {
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

impl<S, B> tower::Service<http::Request<B>> for TestIdService<S>
where
    S: tower::Service<http::Request<B>>,
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
///     .with(recorder_runtime::propagate::PropagateMiddleware)
///     .build();
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct PropagateMiddleware;

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
///     .with_http_service(recorder_runtime::propagate::PropagateOpenAiService::default());
/// ```
#[derive(Clone, Debug)]
pub struct PropagateOpenAiService {
    client: reqwest::Client,
}

impl Default for PropagateOpenAiService {
    /// A plain `reqwest::Client` (rustls with the ring provider installed if none is).
    fn default() -> Self {
        crate::engine::install_crypto_provider();
        PropagateOpenAiService {
            client: reqwest::Client::new(),
        }
    }
}

impl PropagateOpenAiService {
    /// Sends with `client`.
    pub fn new(client: reqwest::Client) -> Self {
        PropagateOpenAiService { client }
    }
}

impl tower::Service<async_openai::middleware::HttpRequestFactory> for PropagateOpenAiService {
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

// ---------------------------------------------------------------------------
// The test side: which scope a test id means.

/// Maps test ids to engine scopes for requests that arrive with a test id rather
/// than through a test's own base URL: the loopback proxy's fallback and the
/// in-process transports built with [`ScopeSource::Current`](crate::transport::ScopeSource).
///
/// - [`Recorder::global`], in a test process: only the scopes of tests that are
///   running ([`Recorder::register`]; the macro registers every test). A test id
///   that is not running is an error, so a late call from a service never records
///   outside its test.
/// - [`Recorder::new`], for a standalone recorder (`recordings serve`): any test id
///   gets a scope over its folder, mode and upstream.
#[derive(Debug)]
pub struct Recorder {
    default: Option<(Arc<Engine>, Mode, Target)>,
    scopes: Mutex<HashMap<String, Arc<Scope>>>,
    live: Mutex<HashMap<String, Weak<Scope>>>,
}

impl Recorder {
    /// A standalone recorder over a recordings folder, a mode and an upstream:
    /// every test id gets a scope (created on first use). Registered scopes win.
    pub fn new(dir: impl Into<std::path::PathBuf>, mode: Mode, target: Target) -> Arc<Recorder> {
        Arc::new(Recorder {
            default: Some((Engine::new(dir), mode, target)),
            scopes: Mutex::default(),
            live: Mutex::default(),
        })
    }

    /// The test process's recorder: the scopes of the tests now running, nothing else.
    pub fn global() -> &'static Arc<Recorder> {
        static GLOBAL: LazyLock<Arc<Recorder>> = LazyLock::new(|| {
            Arc::new(Recorder {
                default: None,
                scopes: Mutex::default(),
                live: Mutex::default(),
            })
        });
        &GLOBAL
    }

    /// Makes `scope` the scope of its test id for as long as it lives (it is held weakly).
    pub fn register(&self, scope: &Arc<Scope>) {
        let mut live = self.live.lock().unwrap();
        live.retain(|_, s| s.strong_count() > 0);
        live.insert(scope.test_id().to_owned(), Arc::downgrade(scope));
    }

    /// The scope of a test id: a registered live one, else (standalone recorders
    /// only) one of its own; an error for the global recorder when that test is not
    /// running in this process.
    pub fn scope_for_id(&self, test_id: &str) -> Result<Arc<Scope>> {
        if let Some(scope) = self
            .live
            .lock()
            .unwrap()
            .get(test_id)
            .and_then(Weak::upgrade)
        {
            return Ok(scope);
        }
        match &self.default {
            Some((engine, mode, target)) => Ok(self
                .scopes
                .lock()
                .unwrap()
                .entry(test_id.to_owned())
                .or_insert_with(|| Scope::new(engine.clone(), test_id, *mode, target.clone()))
                .clone()),
            None => {
                let mut running: Vec<String> = self
                    .live
                    .lock()
                    .unwrap()
                    .iter()
                    .filter(|(_, s)| s.strong_count() > 0)
                    .map(|(id, _)| id.clone())
                    .collect();
                running.sort();
                let shown = if running.is_empty() {
                    "none".to_owned()
                } else {
                    running.join(", ")
                };
                Err(Error::Other(format!(
                    "a request for test `{test_id}` (from its X-Recorder-Test-Id header) reached the recorder of this test process, but that test is not running here (running: {shown}). \
                     A service calling after its test ended, or a header copied from another test, cannot be recorded"
                )))
            }
        }
    }

    /// The scope of the current task's test id; `None` outside a test.
    pub fn current_scope(&self) -> Result<Option<Arc<Scope>>> {
        current_test_id()
            .map(|id| self.scope_for_id(&id))
            .transpose()
    }

    /// The mode of a standalone recorder; `None` for the global one (each test has its own).
    pub fn mode(&self) -> Option<Mode> {
        self.default.as_ref().map(|(_, mode, _)| *mode)
    }

    /// An in-process async-openai service for code running in this process: calls
    /// made under a test id go to that test's scope, others to the real API.
    pub fn openai_service(self: &Arc<Self>) -> crate::transport::OpenAiService {
        crate::transport::OpenAiService::new(crate::transport::ScopeSource::Current(self.clone()))
    }

    /// An in-process reqwest-middleware `Middleware`: calls made under a test id go
    /// to that test's scope, others pass through to the network.
    pub fn middleware(self: &Arc<Self>) -> crate::transport::RecorderMiddleware {
        crate::transport::RecorderMiddleware::new(crate::transport::ScopeSource::Current(
            self.clone(),
        ))
    }
}

impl crate::proxy::Fallback for Recorder {
    fn scope_for(&self, test_id: Option<&str>) -> Result<Arc<Scope>> {
        match test_id.filter(|id| !id.is_empty()) {
            Some(id) => self.scope_for_id(id),
            None if self.default.is_some() => self.scope_for_id(""),
            None => Err(Error::Other(format!(
                "a request without an {TEST_ID_HEADER} header reached the recorder's root URL. The service's outbound client must add it: \
                 .with(recorder_runtime::propagate::PropagateMiddleware) for reqwest-middleware, .headers(recorder_runtime::propagate::headers()) for plain reqwest, \
                 and propagate::spawn for work moved to other tasks"
            ))),
        }
    }
}

/// The root URL of this process's loopback proxy, routing requests by their
/// `X-Recorder-Test-Id` header to the running tests (starts it on first use).
/// Point a service's model base URL here (`{recorder_url}/v1` for OpenAI clients).
pub fn recorder_url() -> String {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    let proxy = crate::proxy::Proxy::global();
    INSTALLED.call_once(|| proxy.set_fallback(Recorder::global().clone()));
    format!("http://{}", proxy.addr())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn spawn_carries_the_id_and_tokio_spawn_does_not() {
        with_test_id("t::a", async {
            let carried = spawn(async { current_test_id() }).await.unwrap();
            assert_eq!(carried.as_deref(), Some("t::a"));
            let lost = tokio::spawn(async { current_test_id() }).await.unwrap();
            assert_eq!(lost, None);
            let bound = tokio::spawn(bind(async { headers() })).await.unwrap();
            assert_eq!(bound[TEST_ID_HEADER], "t::a");
        })
        .await;
    }

    #[tokio::test]
    async fn the_layer_scopes_only_requests_with_the_header() {
        use tower::{Layer, ServiceExt};
        let svc = TestIdLayer.layer(tower::service_fn(|_req: http::Request<()>| async {
            Ok::<_, std::convert::Infallible>(current_test_id())
        }));
        let with = http::Request::builder()
            .header(TEST_ID_HEADER, "t::b")
            .body(())
            .unwrap();
        assert_eq!(
            svc.clone().oneshot(with).await.unwrap().as_deref(),
            Some("t::b")
        );
        let without = http::Request::builder().body(()).unwrap();
        assert_eq!(svc.oneshot(without).await.unwrap(), None);
    }

    #[test]
    fn the_global_recorder_knows_only_running_tests() {
        use crate::proxy::Fallback;
        let dir = std::env::temp_dir().join("recorder-propagate-unit");
        let recorder = Arc::new(Recorder {
            default: None,
            scopes: Mutex::default(),
            live: Mutex::default(),
        });
        let scope = Scope::new(Engine::new(&dir), "t::c", Mode::Replay, Target::default());
        recorder.register(&scope);
        assert!(Arc::ptr_eq(&recorder.scope_for_id("t::c").unwrap(), &scope));
        let err = recorder.scope_for_id("t::other").unwrap_err().to_string();
        assert!(err.contains("t::other") && err.contains("t::c"), "{err}");
        assert!(recorder
            .scope_for(None)
            .unwrap_err()
            .to_string()
            .contains("PropagateMiddleware"));
        drop(scope);
        assert!(recorder.scope_for_id("t::c").is_err());
        // A standalone recorder scopes any id.
        let standalone = Recorder::new(&dir, Mode::Replay, Target::default());
        assert_eq!(standalone.scope_for_id("t::d").unwrap().test_id(), "t::d");
        assert_eq!(standalone.scope_for(None).unwrap().test_id(), "");
    }
}
