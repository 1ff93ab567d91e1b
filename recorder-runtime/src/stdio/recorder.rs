//! Where a stdio session's exchanges go: the engine in this process (a Rust test's
//! `ctx.stdio_server`), or a recorder reached over HTTP (`cargo recordings
//! mcp-stdio`, launched by a client in the server's place), which serves them with the
//! same engine through its proxy ([`serve`]).

use super::exchange::Exchange;
use crate::engine::{EngineResponse, Scope};
#[cfg(feature = "proxy")]
use crate::error::RoutingProblem;
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
#[cfg(feature = "stdio")]
use {
    super::exchange::Reply, crate::error::SetupProblem, crate::mode::Mode,
    futures_util::future::BoxFuture,
};

/// The request header that marks a request of `cargo recordings mcp-stdio` to the
/// recorder: `begin` (the session starts: its secrets in, the mode out) or `exchange`
/// (an [`Exchange`] as JSON). Only `/up/NAME` endpoints take it.
pub const STDIO_HEADER: &str = "x-recorder-stdio";

/// What a front end's session needs of a recorder.
#[cfg(feature = "stdio")]
pub(crate) trait ExchangeSink: Send + Sync + 'static {
    /// The session starts: `secrets` (credentials in the server's environment) are kept
    /// off disk from now on; the answer is the mode, which says whether a server runs.
    fn begin(&self, secrets: Vec<(String, String)>) -> BoxFuture<'_, Result<Mode>>;
    /// Serves one exchange; `Err` when the recorder could not be asked.
    fn exchange(&self, exchange: Exchange) -> BoxFuture<'_, std::result::Result<Reply, String>>;
    /// A problem the session met (an exchange that failed while a server runs): it
    /// fails the test.
    fn report(&self, problem: String);
}

/// The engine of this process, for one test and upstream.
#[cfg(feature = "stdio")]
pub(crate) struct InProcess {
    pub(crate) scope: Arc<Scope>,
    /// `/up/NAME`.
    pub(crate) endpoint: String,
    /// The server, for errors.
    pub(crate) upstream: String,
}

#[cfg(feature = "stdio")]
impl ExchangeSink for InProcess {
    fn begin(&self, secrets: Vec<(String, String)>) -> BoxFuture<'_, Result<Mode>> {
        self.scope.add_secrets(secrets);
        Box::pin(std::future::ready(Ok(self.scope.mode())))
    }

    fn exchange(&self, exchange: Exchange) -> BoxFuture<'_, std::result::Result<Reply, String>> {
        Box::pin(async move {
            let resp = handle(&self.scope, &self.endpoint, &self.upstream, exchange).await;
            match resp {
                Ok(resp) => Reply::of(resp).await.map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            }
        })
    }

    fn report(&self, problem: String) {
        self.scope.problem(problem);
    }
}

/// Serves an exchange with the engine: replayed, or the performed answer recorded.
async fn handle(
    scope: &Arc<Scope>,
    endpoint: &str,
    upstream: &str,
    exchange: Exchange,
) -> Result<EngineResponse> {
    let (req, performed) = exchange.into_engine(endpoint, upstream);
    match performed {
        Some(performed) => scope.handle_performed(req, performed).await,
        None => scope.handle(req).await,
    }
}

/// The body of a `begin` request.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Begin {
    /// `(variable, value)` of every credential in the server's environment.
    #[serde(default)]
    secrets: Vec<(String, String)>,
}

/// The answer to a `begin` request.
#[derive(Debug, Serialize, Deserialize)]
struct Began {
    mode: String,
}

/// A recorder over HTTP: a test's loopback proxy, or `cargo recordings serve`.
#[cfg(feature = "stdio")]
pub(crate) struct OverHttp {
    http: reqwest::Client,
    /// `<recorder URL>/up/NAME`.
    url: String,
    test_id: Option<String>,
    /// How many problems were reported.
    reported: std::sync::atomic::AtomicUsize,
}

#[cfg(feature = "stdio")]
impl OverHttp {
    pub(crate) fn new(url: String, test_id: Option<String>) -> OverHttp {
        crate::engine::install_crypto_provider();
        OverHttp {
            http: reqwest::Client::new(),
            url,
            test_id,
            reported: Default::default(),
        }
    }

    /// How many problems were reported.
    pub(crate) fn reported(&self) -> usize {
        self.reported.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn post(&self, kind: &'static str, body: Vec<u8>) -> reqwest::RequestBuilder {
        let mut req = self
            .http
            .post(&self.url)
            .header(STDIO_HEADER, kind)
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(body);
        if let Some(id) = &self.test_id {
            req = req.header(recorder_propagate::TEST_ID_HEADER, id);
        }
        req
    }
}

#[cfg(feature = "stdio")]
impl ExchangeSink for OverHttp {
    fn begin(&self, secrets: Vec<(String, String)>) -> BoxFuture<'_, Result<Mode>> {
        Box::pin(async move {
            let body = serde_json::to_vec(&Begin { secrets }).expect("serializes");
            let unreachable = |reason: String| {
                Error::Setup(SetupProblem::RecorderUnreachable {
                    url: self.url.clone(),
                    reason,
                })
            };
            let resp = self
                .post("begin", body)
                .send()
                .await
                .map_err(|e| unreachable(crate::error::chain(&e)))?;
            let status = resp.status();
            let text = resp
                .text()
                .await
                .map_err(|e| unreachable(crate::error::chain(&e)))?;
            let reply = Reply {
                status: status.as_u16(),
                content_type: Some("application/json".into()),
                body: text.clone().into(),
            };
            if !status.is_success() {
                let why = reply.lines().err().unwrap_or(text);
                return Err(Error::Setup(SetupProblem::RecorderRefused {
                    url: self.url.clone(),
                    why: format!("{status}: {why}"),
                }));
            }
            let began: Began = serde_json::from_str(&text).map_err(|e| {
                Error::Setup(SetupProblem::RecorderRefused {
                    url: self.url.clone(),
                    why: format!("it answered the session's start with `{text}` ({e}): is it a recorder of the same version as this command?"),
                })
            })?;
            began.mode.parse()
        })
    }

    fn exchange(&self, exchange: Exchange) -> BoxFuture<'_, std::result::Result<Reply, String>> {
        Box::pin(async move {
            let body = serde_json::to_vec(&exchange).expect("serializes");
            let failed = |e: reqwest::Error| {
                format!(
                    "cannot reach the recorder at {}: {}",
                    self.url,
                    crate::error::chain(&e)
                )
            };
            let resp = self.post("exchange", body).send().await.map_err(failed)?;
            let status = resp.status().as_u16();
            let content_type = resp
                .headers()
                .get(http::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let body = resp.bytes().await.map_err(failed)?;
            Ok(Reply {
                status,
                content_type,
                body,
            })
        })
    }

    fn report(&self, problem: String) {
        self.reported
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // The recorder met it too (its test fails); this is for the client's log.
        eprintln!("cargo recordings mcp-stdio: {problem}");
    }
}

/// The proxy's side of [`OverHttp`]: a request carrying [`STDIO_HEADER`] (`kind` is
/// its value) to `endpoint` of `scope`.
#[cfg(feature = "proxy")]
pub(crate) async fn serve(
    scope: &Arc<Scope>,
    endpoint: &str,
    kind: &[u8],
    body: &[u8],
) -> Result<EngineResponse> {
    if super::upstream_name(endpoint).is_none() {
        return Err(Error::Routing(RoutingProblem::BadStdioRequest {
            why: format!("goes to a named upstream's endpoint, /up/NAME (cargo recordings mcp-stdio --name NAME), not {endpoint}"),
        }));
    }
    let bad = |what: &str, e: serde_json::Error| {
        Error::Routing(RoutingProblem::BadStdioRequest {
            why: format!("is not a {what} `cargo recordings mcp-stdio` sends ({e}): use the command of the same version as this recorder"),
        })
    };
    match kind {
        b"begin" => {
            let begin: Begin = serde_json::from_slice(body).map_err(|e| bad("start", e))?;
            scope.add_secrets(begin.secrets);
            let began = Began {
                mode: scope.mode().as_str().to_owned(),
            };
            Ok(EngineResponse {
                status: 200,
                content_type: Some("application/json".into()),
                headers: Vec::new(),
                body: crate::engine::ResponseBody::Full(
                    serde_json::to_vec(&began).expect("serializes").into(),
                ),
                // Not an exchange: nothing was replayed or recorded.
                source: crate::engine::AnswerSource::Live,
            })
        }
        b"exchange" => {
            let exchange: Exchange =
                serde_json::from_slice(body).map_err(|e| bad("exchange", e))?;
            let upstream =
                format!("the stdio server of `cargo recordings mcp-stdio` at {endpoint}");
            handle(scope, endpoint, &upstream, exchange).await
        }
        other => Err(Error::Routing(RoutingProblem::BadStdioRequest {
            why: format!(
                "names `{}`, neither `begin` nor `exchange`",
                String::from_utf8_lossy(other)
            ),
        })),
    }
}
