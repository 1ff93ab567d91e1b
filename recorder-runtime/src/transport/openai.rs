//! async-openai: a tower `Service` for `Client::with_http_service` (async-openai's
//! `middleware` feature), so its requests reach the engine in process.

use super::{serve_in, ScopeSource};
use crate::registry::Recorder;
use crate::RecordingContext;
use async_openai::error::OpenAIError;
use async_openai::middleware::HttpRequestFactory;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

/// A tower service for async-openai's `Client::with_http_service`.
///
/// ```no_run
/// # fn demo(ctx: recorder_runtime::RecordingContext) {
/// use async_openai::{config::OpenAIConfig, Client};
/// let openai = Client::with_config(OpenAIConfig::new()).with_http_service(ctx.openai_service());
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct OpenAiService {
    source: ScopeSource,
}

impl OpenAiService {
    support! {
        /// A service for a source of scopes.
        pub fn new(source: ScopeSource) -> Self {
            OpenAiService { source }
        }
    }
}

/// The client for requests outside any test (server mode): they go to the real API.
/// Built once, at the first such request, with the TLS provider installed (reqwest
/// is built without one and panics otherwise); a test's own service never needs it.
fn fallback() -> &'static reqwest::Client {
    static CLIENT: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    CLIENT.get_or_init(|| {
        crate::engine::install_crypto_provider();
        reqwest::Client::new()
    })
}

impl tower_service::Service<HttpRequestFactory> for OpenAiService {
    type Response = reqwest::Response;
    type Error = OpenAIError;
    type Future = Pin<Box<dyn Future<Output = Result<reqwest::Response, OpenAIError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, factory: HttpRequestFactory) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            let req = factory.build().await?;
            // The recorder's errors keep their cause chain: async-openai shows them whole.
            let boxed = |e: crate::Error| OpenAIError::Boxed(Box::new(e));
            match this.source.scope().map_err(boxed)? {
                Some(scope) => serve_in(scope, req).await.map_err(boxed),
                None => Ok(fallback().execute(req).await?),
            }
        })
    }
}

impl RecordingContext {
    /// A tower service for async-openai's `Client::with_http_service`: requests go
    /// to the engine in process, no socket (feature `async-openai`).
    ///
    /// ```no_run
    /// # fn demo(ctx: recorder_runtime::RecordingContext) {
    /// use async_openai::{config::OpenAIConfig, Client};
    /// let openai = Client::with_config(OpenAIConfig::new()).with_http_service(ctx.openai_service());
    /// # }
    /// ```
    pub fn openai_service(&self) -> OpenAiService {
        OpenAiService::new(ScopeSource::Fixed(self.scope().clone()))
    }
}

impl Recorder {
    support! {
        /// An in-process async-openai service for code running in this process: calls
        /// made under a test id go to that test's scope, others to the real API
        /// (feature `async-openai`).
        pub fn openai_service(self: &Arc<Self>) -> OpenAiService {
            OpenAiService::new(ScopeSource::Current(self.clone()))
        }
    }
}
