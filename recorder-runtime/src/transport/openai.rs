//! async-openai: a tower `Service` for `Client::with_http_service` (async-openai's
//! `middleware` feature), so its requests reach the engine in process.

use super::{serve_in, ScopeSource};
use async_openai::error::OpenAIError;
use async_openai::middleware::HttpRequestFactory;
use std::future::Future;
use std::pin::Pin;
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
