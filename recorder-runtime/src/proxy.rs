//! The loopback proxy: one hyper server per process on `127.0.0.1`, serving every
//! registered scope under its own path prefix, for any HTTP client or language.
//!
//! A scope's base URL is `http://127.0.0.1:<port>/s/<token>`; OpenAI clients use
//! `<base>/v1`, Ollama clients the base itself, and a setup's named upstream `NAME`
//! is `<base>/up/NAME` (the endpoint `/up/NAME/...`, which the engine's target routes). Requests outside any prefix are
//! routed by the `X-Recorder-Test-Id` header when a fallback router is installed
//! (the `recordings serve` command), whose control endpoint (`/_recorder/`, see
//! [`crate::control`]) says which test requests without the header belong to. Either
//! way the request goes to
//! [`Engine::handle`](crate::engine::Engine::handle): the proxy is only a transport.
//!
//! # What it refuses
//! The proxy may hold a real API key, and any web page the user opens can send
//! requests to a loopback port. So it answers only requests that come from this machine
//! as this machine names itself:
//! - a `Host` header other than `127.0.0.1`, `localhost` or `[::1]` (any port), or a
//!   host allowed with [`Proxy::allow_hosts`], is refused with 403: a DNS-rebinding
//!   page reaches the port under its own name;
//! - an `Origin` header that is not a loopback URL (a page's `fetch`) is refused with 403;
//! - a request a browser says a page of another site made (Fetch Metadata:
//!   `Sec-Fetch-Site` other than `same-origin` or `none`) is refused with 403 unless it
//!   is a CORS request (`Sec-Fetch-Mode: cors`), whose `Origin` the rule above checks:
//!   an `<img>`, `<script>` or `<link>`, a `no-cors` fetch, a form or a link followed
//!   send no `Origin` on a GET, and would otherwise make a record-mode recorder call the
//!   upstream with the key and write files. Requests without `Sec-Fetch-Site` (every
//!   non-browser client) and what the user opens in the address bar (`none`) pass;
//! - per-test tokens (`/s/<token>`) are 128 random bits, not guessable;
//! - a request body over the test's `RECORDER_MAX_BODY_BYTES` ([`crate::env::Vars::max_body_bytes`]) is refused with 413 before it is
//!   read whole; a connection that does not send its headers within
//!   [`HEADER_READ_TIMEOUT`] is closed; at most [`MAX_CONNECTIONS`] connections are
//!   served at once, and the accept loop backs off when the system is out of file
//!   descriptors instead of spinning.

use crate::engine::{
    background, EngineRequest, EngineResponse, ResponseBody, Scope, ScopeResolver,
};
use crate::error::Error;
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{combinators::UnsyncBoxBody, BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, Weak};

/// The header that carries a test id to the proxy and to services under test.
pub use recorder_propagate::TEST_ID_HEADER;

type Body = UnsyncBoxBody<Bytes, std::io::Error>;

/// How long a client may take to send a request's headers.
pub const HEADER_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// The most connections served at once; more wait in the listen queue.
pub const MAX_CONNECTIONS: usize = 1024;

/// A running proxy.
pub struct Proxy {
    addr: SocketAddr,
    scopes: Mutex<HashMap<String, Weak<Scope>>>,
    next: AtomicU64,
    tokens: std::collections::hash_map::RandomState,
    fallback: Mutex<Option<Arc<dyn ScopeResolver>>>,
    control: Mutex<Option<Arc<crate::registry::Registry>>>,
    allowed_hosts: Mutex<Vec<String>>,
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
            tokens: std::collections::hash_map::RandomState::new(),
            fallback: Mutex::default(),
            control: Mutex::default(),
            allowed_hosts: Mutex::default(),
            shutdown: Mutex::new(Some(tx)),
        });
        let weak = Arc::downgrade(&proxy);
        let _guard = background().enter();
        let listener = tokio::net::TcpListener::from_std(std_listener)
            .map_err(|e| Error::io("cannot listen on", addr.to_string(), e))?;
        background().spawn(crate::engine::task(accept_loop(listener, weak, rx)));
        Ok(proxy)
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Registers a scope and returns its base URL (no trailing slash, no `/v1`). The
    /// token in it is 128 bits no other process can guess (keyed hashes of a counter,
    /// with keys the OS's randomness seeds).
    pub fn register(&self, scope: &Arc<Scope>) -> String {
        use std::hash::BuildHasher;
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let token = format!(
            "{:016x}{:016x}",
            self.tokens.hash_one((n, 0u8)),
            self.tokens.hash_one((n, 1u8))
        );
        let mut scopes = self.scopes.lock().unwrap();
        scopes.retain(|_, s| s.strong_count() > 0);
        scopes.insert(token.clone(), Arc::downgrade(scope));
        format!("http://{}/s/{token}", self.addr)
    }

    /// Also answers requests whose `Host` is one of these names (with any port), besides
    /// the loopback names: for a recorder reached through a name of this machine.
    pub fn allow_hosts(&self, hosts: impl IntoIterator<Item = String>) {
        self.allowed_hosts
            .lock()
            .unwrap()
            .extend(hosts.into_iter().map(|h| h.to_ascii_lowercase()));
    }

    /// Installs the router for requests without a scope prefix: they go to the
    /// scope of their `X-Recorder-Test-Id` header.
    pub fn set_fallback(&self, fallback: Arc<dyn ScopeResolver>) {
        *self.fallback.lock().unwrap() = Some(fallback);
    }

    /// Answers the control endpoint (`POST /_recorder/begin`, `/_recorder/end`, see
    /// [`crate::control`]) for `recorder`: which test requests without a test id
    /// belong to.
    pub fn set_control(&self, recorder: Arc<crate::registry::Registry>) {
        *self.control.lock().unwrap() = Some(recorder);
    }

    /// Stops accepting connections; requests in flight finish.
    pub fn shutdown(&self) {
        if let Some(tx) = self.shutdown.lock().unwrap().take() {
            let _ = tx.send(true);
        }
    }

    fn route(
        &self,
        method: &http::Method,
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
            Some(f) => f.scope_for(test_id, method.as_str(), path_and_query).map(|s| (s, path_and_query.to_owned())).map_err(|e| (StatusCode::BAD_REQUEST, e.to_string())),
            None => Err((StatusCode::NOT_FOUND, format!("{path_and_query} is not under a recording context: use the base URL the context gives (RecordingContext::base_url)"))),
        }
    }
}

async fn accept_loop(
    listener: tokio::net::TcpListener,
    proxy: Weak<Proxy>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let permits = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    let mut backoff = std::time::Duration::from_millis(5);
    loop {
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => return },
            _ = stop.changed() => return,
        };
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = stop.changed() => return,
        };
        let stream = match accepted {
            Ok((stream, _)) => {
                backoff = std::time::Duration::from_millis(5);
                stream
            }
            Err(_) => {
                // Out of file descriptors (or a connection reset before accept): wait
                // for connections to close rather than spin.
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(std::time::Duration::from_secs(1));
                continue;
            }
        };
        let Some(p) = proxy.upgrade() else { return };
        let _ = stream.set_nodelay(true);
        tokio::spawn(crate::engine::task(async move {
            let _permit = permit;
            let service = hyper::service::service_fn(move |req| {
                let p = p.clone();
                async move { Ok::<_, std::convert::Infallible>(handle(&p, req).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT)
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service)
                .await;
        }));
    }
}

/// Whether a `Host` names this machine's loopback (or an allowed host).
fn host_allowed(host: &str, allowed: &[String]) -> bool {
    let host = host.trim().to_ascii_lowercase();
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        host.rsplit_once(':').map_or(host.as_str(), |(h, port)| {
            if port.bytes().all(|b| b.is_ascii_digit()) {
                h
            } else {
                host.as_str()
            }
        })
    };
    matches!(name, "127.0.0.1" | "localhost" | "::1") || allowed.iter().any(|a| a == name)
}

/// The path with each run of `/` made one, the query left as it is: a client that
/// appends `/api/chat` to `ctx.ollama_url()` (which ends in `/`, as ollama-rs needs)
/// sends `//api/chat`, which is routed, matched, recorded and forwarded as
/// `/api/chat` (no upstream serves the doubled path; recorded, it was a 404).
///
/// ```text
/// /s/tok//api//chat?next=//x  ->  /s/tok/api/chat?next=//x
/// ```
fn collapse_slashes(path_and_query: &str) -> String {
    let (path, query) = match path_and_query.find('?') {
        Some(i) => path_and_query.split_at(i),
        None => (path_and_query, ""),
    };
    let mut out = String::with_capacity(path_and_query.len());
    for c in path.chars() {
        if !(c == '/' && out.ends_with('/')) {
            out.push(c);
        }
    }
    out.push_str(query);
    out
}

/// Why a request whose path repeats its API prefix (`/v1/v1/chat/completions`) is
/// refused, if it does: the client was given a base URL that already ends in the
/// prefix (`ctx.base_url()` ends in `/v1`) and appended it again.
///
/// ```text
/// /v1/v1/chat/completions  ->  refused
/// /api/api/chat            ->  refused
/// /v1/chat/completions     ->  None
/// ```
fn doubled_prefix(method: &str, endpoint: &str) -> Option<String> {
    let mut segments = endpoint.split(['?', '#']).next()?.split('/').skip(1);
    let first = segments.next()?;
    let is_prefix = |s: &str| {
        matches!(s, "api" | "openai")
            || s.strip_prefix('v')
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    };
    if !is_prefix(first) || segments.next() != Some(first) {
        return None;
    }
    Some(format!(
        "{method} {endpoint} repeats `/{first}`: the client was given a base URL that already ends in `/{first}` and appended `/{first}` again. Give it the base URL it expects: `ctx.base_url()` (it ends in `/v1`) to a client that appends only the endpoint (`/chat/completions`), `ctx.ollama_url()` (it ends in `/`) to an Ollama client, the URL without its trailing `/{first}` to a client that appends `/{first}/...` itself. Nothing was sent upstream or recorded"
    ))
}

/// Why a request is refused before it is routed, if it is.
fn refused(proxy: &Proxy, headers: &http::HeaderMap) -> Option<String> {
    // Held while checking (no await here) rather than cloned per request.
    let allowed = proxy.allowed_hosts.lock().unwrap();
    if let Some(host) = headers.get(http::header::HOST) {
        let host = host.to_str().unwrap_or("");
        if !host_allowed(host, &allowed) {
            return Some(format!(
                "Host `{host}` is not this machine's loopback: the recorder answers only requests made to 127.0.0.1, localhost or [::1] (a page that reached this port under another name is refused)"
            ));
        }
    }
    if let Some(site) = headers.get("sec-fetch-site") {
        let site = String::from_utf8_lossy(site.as_bytes());
        let own = ["same-origin", "none"]
            .iter()
            .any(|s| site.eq_ignore_ascii_case(s));
        let mode = headers
            .get("sec-fetch-mode")
            .map(|m| String::from_utf8_lossy(m.as_bytes()).into_owned())
            .unwrap_or_default();
        // A CORS request carries its page's Origin, which the rule below checks.
        let cors = mode.eq_ignore_ascii_case("cors") && headers.contains_key(http::header::ORIGIN);
        if !own && !cors {
            return Some(format!(
                "a web page of another site made this request (Sec-Fetch-Site: {site}, Sec-Fetch-Mode: {mode}): the recorder does not answer what pages embed or send without CORS (it may hold your API key); call it from a program, not a page"
            ));
        }
    }
    if let Some(origin) = headers.get(http::header::ORIGIN) {
        let origin = origin.to_str().unwrap_or("");
        let loopback = ["http://", "https://"]
            .iter()
            .find_map(|scheme| origin.strip_prefix(scheme))
            .is_some_and(|h| host_allowed(h.split('/').next().unwrap_or(""), &allowed));
        if !loopback {
            return Some(format!(
                "Origin `{origin}` is a web page's: the recorder does not answer cross-origin requests (it may hold your API key)"
            ));
        }
    }
    None
}

async fn handle(proxy: &Proxy, req: Request<Incoming>) -> Response<Body> {
    let (parts, body) = req.into_parts();
    if let Some(why) = refused(proxy, &parts.headers) {
        return error_response(StatusCode::FORBIDDEN, "recorder_forbidden", &why);
    }
    let path = parts
        .uri
        .path_and_query()
        .map(|p| collapse_slashes(p.as_str()))
        .unwrap_or_else(|| "/".into());
    if path.starts_with(crate::control::PREFIX) {
        let control = proxy.control.lock().unwrap().clone();
        if let Some(recorder) = control {
            let body = match http_body_util::Limited::new(body, crate::control::MAX_BODY_BYTES)
                .collect()
                .await
            {
                Ok(b) => b.to_bytes(),
                Err(e) => {
                    return error_response(
                        StatusCode::BAD_REQUEST,
                        "recorder_control",
                        &format!("cannot read the control request's body: {e}"),
                    )
                }
            };
            let (status, body) =
                crate::control::handle(&recorder, &parts.method, &path, &parts.headers, body).await;
            return json_response(status, body);
        }
    }
    let test_id = match parts.headers.get(TEST_ID_HEADER) {
        None => None,
        Some(v) => match std::str::from_utf8(v.as_bytes()) {
            Ok(id) => Some(id.to_owned()),
            Err(_) => {
                return error_response(
                    StatusCode::BAD_REQUEST,
                    "recorder_routing",
                    &format!(
                        "the {TEST_ID_HEADER} header is not UTF-8: send the test id as UTF-8 text"
                    ),
                )
            }
        },
    };
    let (scope, endpoint) = match proxy.route(&parts.method, &path, test_id.as_deref()) {
        Ok(r) => r,
        Err((status, msg)) => return error_response(status, "recorder_routing", &msg),
    };
    if let Some(msg) = doubled_prefix(parts.method.as_str(), &endpoint) {
        // No upstream serves it: recorded, it was a 404 the test replayed forever
        // with nothing saying why. The test fails with this too, whatever the client
        // does with the 404.
        scope.problem(msg.clone());
        return error_response(StatusCode::NOT_FOUND, "recorder_doubled_prefix", &msg);
    }
    let limit = scope.max_body_bytes();
    let declared = parts
        .headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let too_big = || {
        let msg = format!(
            "the request body is over {limit} bytes (RECORDER_MAX_BODY_BYTES): nothing was sent upstream or recorded"
        );
        scope.problem(msg.clone());
        error_response(
            StatusCode::PAYLOAD_TOO_LARGE,
            "recorder_request_too_large",
            &msg,
        )
    };
    if declared.is_some_and(|n| n > limit as u64) {
        return too_big();
    }
    let body = match http_body_util::Limited::new(body, limit).collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => return too_big(),
        Err(e) => {
            return error_response(
                StatusCode::BAD_REQUEST,
                "recorder_request",
                &format!("cannot read the request body: {e}"),
            )
        }
    };
    if let Some(kind) = parts.headers.get(crate::stdio::STDIO_HEADER) {
        // `cargo recordings mcp-stdio`: a stdio session's start or exchange.
        return match crate::stdio::serve(&scope, &endpoint, kind.as_bytes(), &body).await {
            Ok(resp) => to_hyper(resp),
            Err(e) => error_for(&e),
        };
    }
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

/// The HTTP answer for an engine error ([`Error::http_status`], [`Error::json_body`]):
/// what the in-process transports answer too.
pub fn error_for(e: &Error) -> Response<Body> {
    json_response(e.http_status(), e.json_body())
}

/// The proxy's own refusals (forbidden host, bad routing, body too large), in the
/// same shape as engine errors.
fn error_response(status: StatusCode, kind: &str, message: &str) -> Response<Body> {
    json_response(status, crate::error::error_body(kind, message))
}

fn json_response(status: StatusCode, body: Vec<u8>) -> Response<Body> {
    Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(
            Full::new(Bytes::from(body))
                .map_err(|never| match never {})
                .boxed_unsync(),
        )
        .expect("a valid response")
}

fn to_hyper(resp: EngineResponse) -> Response<Body> {
    let mut out = Response::new(Empty::new().map_err(|never| match never {}).boxed_unsync());
    *out.body_mut() = match resp.head_into(&mut out) {
        ResponseBody::Full(b) => Full::new(b).map_err(|never| match never {}).boxed_unsync(),
        ResponseBody::Stream(_, s) => {
            out.headers_mut().insert(
                http::header::CACHE_CONTROL,
                http::HeaderValue::from_static("no-cache"),
            );
            s.map_err(|e| std::io::Error::other(e.to_string()))
                .boxed_unsync()
        }
    };
    out
}

#[cfg(test)]
mod tests {
    use super::doubled_prefix;

    #[test]
    fn a_path_that_repeats_its_api_prefix_is_refused_naming_the_fix() {
        for (path, prefix) in [
            ("/v1/v1/chat/completions", "/v1"),
            ("/v1/v1/models?limit=2", "/v1"),
            ("/api/api/chat", "/api"),
            ("/openai/openai/deployments/x/chat/completions", "/openai"),
            ("/v2/v2/rerank", "/v2"),
        ] {
            let msg = doubled_prefix("POST", path).unwrap_or_else(|| panic!("{path} passed"));
            assert!(msg.starts_with(&format!("POST {path} repeats `{prefix}`")), "{msg}");
            assert!(msg.contains("ctx.base_url()"), "{msg}");
            assert!(msg.ends_with("Nothing was sent upstream or recorded"), "{msg}");
        }
    }

    #[test]
    fn paths_that_do_not_repeat_an_api_prefix_pass() {
        for path in [
            "/v1/chat/completions",
            "/api/chat",
            "/",
            "",
            "/v1",
            "/v1/",
            "/v/v/x",
            "/files/files/x",
            "/v1/v2/x",
            "/v1?x=/v1/v1",
        ] {
            assert_eq!(doubled_prefix("GET", path), None, "{path}");
        }
    }
}
