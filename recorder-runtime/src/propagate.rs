//! Server mode: a service under test learns the test id from each incoming
//! request's `X-Recorder-Test-Id` header, and every outbound transport of ours
//! scopes its recordings by it.
//!
//! - [`TestIdLayer`]: a tower layer for the service (axum, hyper, tonic) that
//!   puts the header's value in a task-local while the request is handled.
//!   Without the header it does nothing else: production traffic is untouched.
//! - [`spawn`] / [`bind`]: carry the test id into tasks the service spawns.
//! - [`Recorder`]: the per-process engine side, handing out transports that find
//!   their scope from the task-local.
//!
//! ```
//! use recorder_runtime::propagate::{current_test_id, with_test_id};
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! assert_eq!(current_test_id(), None);
//! with_test_id("my::test", async { assert_eq!(current_test_id().as_deref(), Some("my::test")) }).await;
//! # });
//! ```

use crate::engine::{Engine, Scope, Target};
use crate::error::Result;
use crate::mode::Mode;
use crate::proxy::TEST_ID_HEADER;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
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
        let id: Option<Arc<str>> = req.headers().get(TEST_ID_HEADER).and_then(|v| v.to_str().ok()).filter(|v| !v.is_empty()).map(Arc::from);
        let fut = self.inner.call(req);
        match id {
            Some(id) => Box::pin(TEST_ID.scope(id, fut)),
            None => Box::pin(fut),
        }
    }
}

/// The engine side of a service under test: one per process, scopes by test id.
#[derive(Debug)]
pub struct Recorder {
    engine: Arc<Engine>,
    mode: Mode,
    target: Target,
    scopes: Mutex<HashMap<String, Arc<Scope>>>,
}

impl Recorder {
    /// A recorder over a recordings folder, a mode and an upstream.
    pub fn new(dir: impl Into<std::path::PathBuf>, mode: Mode, target: Target) -> Arc<Recorder> {
        Arc::new(Recorder { engine: Engine::new(dir), mode, target, scopes: Mutex::default() })
    }

    /// The scope of a test id (created on first use).
    pub fn scope_for_id(&self, test_id: &str) -> Arc<Scope> {
        self.scopes.lock().unwrap().entry(test_id.to_owned()).or_insert_with(|| Scope::new(self.engine.clone(), test_id, self.mode, self.target.clone())).clone()
    }

    /// The scope of the current task's test id; `None` outside a test.
    pub fn current_scope(&self) -> Result<Option<Arc<Scope>>> {
        Ok(current_test_id().map(|id| self.scope_for_id(&id)))
    }

    /// The mode.
    pub fn mode(&self) -> Mode {
        self.mode
    }
}

impl crate::proxy::Fallback for Recorder {
    fn scope_for(&self, test_id: Option<&str>) -> Result<Arc<Scope>> {
        Ok(self.scope_for_id(test_id.unwrap_or("")))
    }
}
