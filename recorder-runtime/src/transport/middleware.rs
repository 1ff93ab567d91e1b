//! reqwest-middleware: a `Middleware` for `ClientWithMiddleware` users (rig and
//! others), so their requests reach the engine in process.

use super::{serve_in, ScopeSource};

/// A reqwest-middleware `Middleware` that routes requests to the engine; requests
/// outside any test (server mode) go on down the chain.
///
/// ```no_run
/// # fn demo(ctx: recorder_runtime::RecordingContext) {
/// let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
///     .with(ctx.middleware())
///     .build();
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct RecorderMiddleware {
    source: ScopeSource,
}

impl RecorderMiddleware {
    support! {
        /// A middleware for a source of scopes.
        pub fn new(source: ScopeSource) -> Self {
            RecorderMiddleware { source }
        }
    }
}

#[async_trait::async_trait]
impl reqwest_middleware::Middleware for RecorderMiddleware {
    async fn handle(
        &self,
        req: reqwest::Request,
        extensions: &mut http::Extensions,
        next: reqwest_middleware::Next<'_>,
    ) -> reqwest_middleware::Result<reqwest::Response> {
        // The recorder's errors keep their cause chain (anyhow shows it with `{:#}`).
        let wrap = |e: crate::Error| reqwest_middleware::Error::Middleware(anyhow::Error::new(e));
        match self.source.scope().map_err(wrap)? {
            Some(scope) => serve_in(scope, req).await.map_err(wrap),
            None => next.run(req, extensions).await,
        }
    }
}
