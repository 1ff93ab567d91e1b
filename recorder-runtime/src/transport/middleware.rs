//! reqwest-middleware: a `Middleware` for `ClientWithMiddleware` users (rig and
//! others), so their requests reach the engine in process.

use super::{serve_in, ScopeSource};
use crate::registry::Recorder;
use crate::RecordingContext;
use std::sync::Arc;

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

impl RecordingContext {
    /// A reqwest-middleware `Middleware` that routes every request to the engine
    /// (feature `reqwest-middleware`).
    pub fn middleware(&self) -> RecorderMiddleware {
        RecorderMiddleware::new(ScopeSource::Fixed(self.scope().clone()))
    }

    /// A `reqwest_middleware::ClientWithMiddleware` routed to the engine, ready to
    /// use (feature `reqwest-middleware`).
    ///
    /// ```no_run
    /// # async fn demo(ctx: recorder_runtime::RecordingContext) {
    /// let answer = ctx.reqwest_client()
    ///     .post("http://api.invalid/v1/chat/completions")
    ///     .body(r#"{"model":"m","messages":[]}"#)
    ///     .send()
    ///     .await;
    /// # }
    /// ```
    pub fn reqwest_client(&self) -> reqwest_middleware::ClientWithMiddleware {
        reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
            .with(self.middleware())
            .build()
    }
}

impl Recorder {
    support! {
        /// An in-process reqwest-middleware `Middleware`: calls made under a test id go
        /// to that test's scope, others pass through to the network (feature
        /// `reqwest-middleware`).
        pub fn middleware(self: &Arc<Self>) -> RecorderMiddleware {
            RecorderMiddleware::new(ScopeSource::Current(self.clone()))
        }
    }
}
