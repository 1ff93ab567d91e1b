//! The loopback proxy: one hyper server per process on `127.0.0.1`, serving every
//! registered scope under its own path prefix, for any HTTP client or language.
//!
//! A scope's base URL is `http://127.0.0.1:<port>/s/<token>`; OpenAI clients use
//! `<base>/v1`, Ollama clients the base itself. Requests outside any prefix are
//! routed by the `X-Recorder-Test-Id` header when a fallback router is installed
//! (the `recordings serve` command). Either way the request goes to
//! [`Engine::handle`](crate::engine::Engine::handle): the proxy is only a transport.

use crate::engine::{background, EngineRequest, EngineResponse, ResponseBody, Scope};
use crate::error::Error;
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{combinators::UnsyncBoxBody, BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, Weak};

/// The header that carries a test id to the proxy and to services under test.
pub use recorder_propagate::TEST_ID_HEADER;

type Body = UnsyncBoxBody<Bytes, std::io::Error>;

/// Resolves requests that carry no scope prefix (e.g. by their test-id header).
pub trait Fallback: Send + Sync + 'static {
    /// The scope for a test id (`None`: the request had no header).
    fn scope_for(&self, test_id: Option<&str>) -> crate::Result<Arc<Scope>>;
}

/// A running proxy.
pub struct Proxy {
    addr: SocketAddr,
    scopes: Mutex<HashMap<String, Weak<Scope>>>,
    next: AtomicU64,
    fallback: Mutex<Option<Arc<dyn Fallback>>>,
    shutdown: Mutex<Option<tokio::sync::watch::Sender<bool>>>,
}

impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proxy").field("addr", &self.addr).finish()
    }
}

static GLOBAL: LazyLock<Arc<Proxy>> = LazyLock::new(|| {
    Proxy::bind("127.0.0.1:0".parse().unwrap()).expect("the loopback proxy binds 127.0.0.1")
});

impl Proxy {
    /// The process's proxy, started on first use on an OS-chosen port.
    pub fn global() -> &'static Arc<Proxy> {
        &GLOBAL
    }

    /// Starts a proxy on `addr` (port 0: any free port) on the background runtime.
    pub fn bind(addr: SocketAddr) -> crate::Result<Arc<Proxy>> {
        let std_listener = std::net::TcpListener::bind(addr)
            .map_err(|e| Error::io("cannot listen on", addr.to_string(), e))?;
        std_listener
            .set_nonblocking(true)
            .map_err(|e| Error::io("cannot listen on", addr.to_string(), e))?;
        let addr = std_listener
            .local_addr()
            .map_err(|e| Error::io("cannot listen on", addr.to_string(), e))?;
        let (tx, rx) = tokio::sync::watch::channel(false);
        let proxy = Arc::new(Proxy {
            addr,
            scopes: Mutex::default(),
            next: AtomicU64::new(1),
            fallback: Mutex::default(),
            shutdown: Mutex::new(Some(tx)),
        });
        let weak = Arc::downgrade(&proxy);
        let _guard = background().enter();
        let listener = tokio::net::TcpListener::from_std(std_listener)
            .map_err(|e| Error::io("cannot listen on", addr.to_string(), e))?;
        background().spawn(accept_loop(listener, weak, rx));
        Ok(proxy)
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Registers a scope and returns its base URL (no trailing slash, no `/v1`).
    pub fn register(&self, scope: &Arc<Scope>) -> String {
        let token = format!("t{}", self.next.fetch_add(1, Ordering::Relaxed));
        let mut scopes = self.scopes.lock().unwrap();
        scopes.retain(|_, s| s.strong_count() > 0);
        scopes.insert(token.clone(), Arc::downgrade(scope));
        format!("http://{}/s/{token}", self.addr)
    }

    /// Installs the router for requests without a scope prefix.
    pub fn set_fallback(&self, fallback: Arc<dyn Fallback>) {
        *self.fallback.lock().unwrap() = Some(fallback);
    }

    /// Stops accepting connections; requests in flight finish.
    pub fn shutdown(&self) {
        if let Some(tx) = self.shutdown.lock().unwrap().take() {
            let _ = tx.send(true);
        }
    }

    fn route(
        &self,
        path_and_query: &str,
        test_id: Option<&str>,
    ) -> Result<(Arc<Scope>, String), (StatusCode, String)> {
        if let Some(rest) = path_and_query.strip_prefix("/s/") {
            let (token, endpoint) = rest.split_at(rest.find(['/', '?']).unwrap_or(rest.len()));
            let scope = self
                .scopes
                .lock()
                .unwrap()
                .get(token)
                .and_then(Weak::upgrade);
            return match scope {
                Some(s) => Ok((s, if endpoint.is_empty() { "/".into() } else { endpoint.to_owned() })),
                None => Err((StatusCode::NOT_FOUND, format!("no recording context {token} is alive: the test that owned this base URL has ended"))),
            };
        }
        let fallback = self.fallback.lock().unwrap().clone();
        match fallback {
            Some(f) => f.scope_for(test_id).map(|s| (s, path_and_query.to_owned())).map_err(|e| (StatusCode::BAD_REQUEST, e.to_string())),
            None => Err((StatusCode::NOT_FOUND, format!("{path_and_query} is not under a recording context: use the base URL the context gives (RecordingContext::base_url)"))),
        }
    }
}

async fn accept_loop(
    listener: tokio::net::TcpListener,
    proxy: Weak<Proxy>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = stop.changed() => return,
        };
        let Ok((stream, _)) = accepted else { continue };
        let Some(p) = proxy.upgrade() else { return };
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let p = p.clone();
                async move { Ok::<_, std::convert::Infallible>(handle(&p, req).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn handle(proxy: &Proxy, req: Request<Incoming>) -> Response<Body> {
    let (parts, body) = req.into_parts();
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "/".into());
    let test_id = parts
        .headers
        .get(TEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let (scope, endpoint) = match proxy.route(&path, test_id.as_deref()) {
        Ok(r) => r,
        Err((status, msg)) => return error_response(status, "recorder_routing", &msg),
    };
    let body = match body.collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => {
            return error_response(
                StatusCode::BAD_REQUEST,
                "recorder_request",
                &format!("cannot read the request body: {e}"),
            )
        }
    };
    let req = EngineRequest {
        method: parts.method,
        endpoint,
        headers: parts.headers,
        body,
    };
    match scope.handle(req).await {
        Ok(resp) => to_hyper(resp),
        Err(e) => error_for(&e),
    }
}

/// The HTTP answer for an engine error: a miss is a 404 with the explanation, an
/// unreachable upstream a 502, anything else a 500.
pub fn error_for(e: &Error) -> Response<Body> {
    let status = match e {
        Error::Miss(_) => StatusCode::NOT_FOUND,
        Error::Unreachable { .. } | Error::Upstream { .. } => StatusCode::BAD_GATEWAY,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    error_response(status, error_kind(e), &e.to_string())
}

/// The `error.type` the proxy answers with for an engine error.
pub fn error_kind(e: &Error) -> &'static str {
    match e {
        Error::Miss(_) => "recording_not_found",
        Error::Unreachable { .. } | Error::Upstream { .. } => "upstream_unreachable",
        _ => "recorder_error",
    }
}

fn error_response(status: StatusCode, kind: &str, message: &str) -> Response<Body> {
    let body = serde_json::json!({ "error": { "message": message, "type": kind, "code": kind } });
    Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(
            Full::new(Bytes::from(body.to_string()))
                .map_err(|never| match never {})
                .boxed_unsync(),
        )
        .expect("a valid response")
}

fn to_hyper(resp: EngineResponse) -> Response<Body> {
    let mut builder = Response::builder().status(resp.status);
    if let Some(ct) = &resp.content_type {
        builder = builder.header(http::header::CONTENT_TYPE, ct);
    }
    for (name, value) in resp.headers {
        builder = builder.header(name, value);
    }
    let body: Body = match resp.body {
        ResponseBody::Full(b) => Full::new(b).map_err(|never| match never {}).boxed_unsync(),
        ResponseBody::Stream(_, s) => {
            builder = builder.header(http::header::CACHE_CONTROL, "no-cache");
            s.map_err(|e| std::io::Error::other(e.to_string()))
                .boxed_unsync()
        }
    };
    builder.body(body).expect("a valid response")
}
