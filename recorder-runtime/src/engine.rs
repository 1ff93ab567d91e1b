//! The engine: one entry point, [`Engine::handle`], between "test T made this
//! request" and "here is its response". Every transport (the loopback proxy, the
//! in-process fixture client, the async-openai service, the reqwest middleware)
//! calls it; modes, identity, store, normalization and secrets live here only.
//!
//! ```no_run
//! # async fn demo() -> recorder_runtime::Result<()> {
//! use recorder_runtime::engine::{Engine, EngineRequest, Scope, Target};
//! use recorder_runtime::Mode;
//! let engine = Engine::new("recordings");
//! let scope = Scope::new(engine, "my_tests::chat", Mode::Replay, Target::default());
//! let resp = scope.handle(EngineRequest::post("/v1/chat/completions", br#"{"model":"m"}"#.to_vec())).await?;
//! # Ok(()) }
//! ```

use crate::diff;
use crate::error::{Error, Result};
use crate::identity::RequestIdentity;
use crate::normalize::normalize_value;
use crate::recording::{RecordedRequest, RecordedResponse, Recording};
use crate::store::{Replay, ReplayBody, ScopeRecordings, Store};
use crate::stream::{FrameParser, StreamFormat};
use bytes::Bytes;
use futures::StreamExt;
use http::{HeaderMap, HeaderValue, Method};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, LazyLock, Mutex, OnceLock};
use std::time::{Duration, Instant};

pub use crate::body::BodyStream;

/// Request headers that are forwarded upstream; everything else (Authorization,
/// cookies, api keys) is dropped. None are ever stored.
pub const FORWARDED_HEADERS: &[&str] = &[
    "content-type",
    "accept",
    "user-agent",
    "openai-organization",
    "openai-project",
    "openai-beta",
    "anthropic-version",
    "anthropic-beta",
];

/// Records the delay before each frame when set to `1` at record time.
pub const KEEP_TIMING_VAR: &str = "RECORDER_KEEP_TIMING";
/// `recorded` replays the stored delays; anything else replays at full speed.
pub const REPLAY_TIMING_VAR: &str = "RECORDER_REPLAY_TIMING";

/// The process-wide runtime that runs upstream calls, stream recording and the
/// proxy, so that they outlive each test's own runtime.
pub fn background() -> &'static tokio::runtime::Runtime {
    static RT: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("recorder")
            .enable_all()
            .build()
            .expect("the recorder's runtime starts")
    });
    &RT
}

/// A request as every transport hands it to the engine.
#[derive(Debug, Clone)]
pub struct EngineRequest {
    /// HTTP method.
    pub method: Method,
    /// Path below the base URL root, query included (`/v1/chat/completions`).
    pub endpoint: String,
    /// Headers the client sent (only [`FORWARDED_HEADERS`] go upstream).
    pub headers: HeaderMap,
    /// The body.
    pub body: Bytes,
}

impl EngineRequest {
    /// A JSON POST. It carries no headers: a body sent upstream without a
    /// content type goes as `application/json` (and a replay needs none).
    pub fn post(endpoint: &str, body: impl Into<Bytes>) -> Self {
        EngineRequest {
            method: Method::POST,
            endpoint: endpoint.to_owned(),
            headers: HeaderMap::new(),
            body: body.into(),
        }
    }
    /// A GET without a body.
    pub fn get(endpoint: &str) -> Self {
        EngineRequest {
            method: Method::GET,
            endpoint: endpoint.to_owned(),
            headers: HeaderMap::new(),
            body: Bytes::new(),
        }
    }
}

/// Where a response came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Served from a recording.
    Replayed,
    /// Fetched upstream and recorded.
    Recorded,
    /// Fetched upstream, not recorded (live mode).
    Live,
}

/// A response body: whole, or streamed.
pub enum ResponseBody {
    /// The whole body.
    Full(Bytes),
    /// A stream of chunks, with its wire format.
    Stream(StreamFormat, BodyStream),
}

impl std::fmt::Debug for ResponseBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ResponseBody::Full(b) => write!(f, "Full({} bytes)", b.len()),
            ResponseBody::Stream(fmt, _) => write!(f, "Stream({fmt:?})"),
        }
    }
}

/// The engine's answer.
#[derive(Debug)]
pub struct EngineResponse {
    /// HTTP status.
    pub status: u16,
    /// Content type.
    pub content_type: Option<String>,
    /// Body.
    pub body: ResponseBody,
    /// Replayed, recorded or live.
    pub source: Source,
}

impl EngineResponse {
    /// Collects the body (a stream is read to its end).
    pub async fn bytes(self) -> Result<Bytes> {
        match self.body {
            ResponseBody::Full(b) => Ok(b),
            ResponseBody::Stream(_, mut s) => {
                let mut out = Vec::new();
                while let Some(chunk) = s.next().await {
                    out.extend_from_slice(&chunk?);
                }
                Ok(out.into())
            }
        }
    }
}

/// Where requests go in record and live modes, and what identity ignores.
#[derive(Debug, Clone, Default)]
pub struct Target {
    /// The setup's name, for messages.
    pub setup: Option<String>,
    /// The real API's base URL, e.g. `http://127.0.0.1:8080/v1`.
    pub base_url: Option<String>,
    /// Endpoint prefix -> base URL, longest prefix wins.
    pub routes: Vec<(String, String)>,
    /// The variable that holds the real API key.
    pub api_key_env: Option<String>,
    /// Body fields left out of identity.
    pub ignore_fields: Vec<String>,
}

impl Target {
    /// The target of a `recorder.toml` setup.
    pub fn from_setup(setup: &recorder_config::Setup) -> Self {
        Target {
            setup: Some(setup.name.clone()),
            base_url: setup.base_url.clone(),
            routes: setup
                .routes
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            api_key_env: setup.api_key_env.clone(),
            ignore_fields: setup.ignore_fields.clone(),
        }
    }

    /// The upstream URL of an endpoint: its route's (or the base URL's) root + the
    /// endpoint. A base URL ending in `/v1` names the server whose root serves both
    /// `/v1/...` endpoints and Ollama's own `/api/...` ones.
    ///
    /// ```
    /// use recorder_runtime::engine::Target;
    /// let t = Target { base_url: Some("http://h:8080/v1".into()), ..Default::default() };
    /// assert_eq!(t.upstream_url("/v1/chat/completions").unwrap(), "http://h:8080/v1/chat/completions");
    /// assert_eq!(t.upstream_url("/api/chat").unwrap(), "http://h:8080/api/chat");
    /// ```
    pub fn upstream_url(&self, endpoint: &str) -> Result<String> {
        let path = endpoint.split('?').next().unwrap_or(endpoint);
        let routed = self
            .routes
            .iter()
            .filter(|(prefix, _)| path.starts_with(prefix.as_str()))
            .max_by_key(|(prefix, _)| prefix.len())
            .map(|(_, url)| url.as_str());
        let base = routed.or(self.base_url.as_deref()).ok_or_else(|| {
            Error::Other(format!(
                "no upstream for {endpoint}: the setup {} has no base_url. Set one in recorder.toml or choose another setup with RECORDER_SETUP",
                self.setup.as_deref().unwrap_or("(none)")
            ))
        })?;
        let base = base.trim_end_matches('/');
        let root = match base.strip_suffix("/v1") {
            Some(root)
                if ["/v1", "/api"]
                    .iter()
                    .any(|p| path == *p || path.starts_with(&format!("{p}/"))) =>
            {
                root
            }
            _ => base,
        };
        Ok(format!("{root}{endpoint}"))
    }

    /// The secrets to keep off disk: the API key's value, if the variable is set.
    pub fn secrets(&self) -> Vec<(String, String)> {
        self.api_key_env
            .iter()
            .filter_map(|var| {
                std::env::var(var)
                    .ok()
                    .filter(|v| !v.is_empty())
                    .map(|v| (var.clone(), v))
            })
            .collect()
    }
}

/// Counts of what a scope served.
#[derive(Debug, Default)]
pub struct Stats {
    replayed: AtomicUsize,
    recorded: AtomicUsize,
    live: AtomicUsize,
    missed: AtomicUsize,
}

/// A snapshot of [`Stats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Requests served from recordings.
    pub replayed: usize,
    /// Requests recorded (streams count once written).
    pub recorded: usize,
    /// Requests passed through in live mode.
    pub live: usize,
    /// Replay misses.
    pub missed: usize,
}

/// Recordings still being written (a stream whose client stopped reading is drained
/// in the background); a test waits for them before it ends.
#[derive(Debug, Default)]
struct Pending {
    count: Mutex<usize>,
    done: Condvar,
}

impl Pending {
    fn start(self: &Arc<Self>) -> PendingGuard {
        *self.count.lock().unwrap() += 1;
        PendingGuard(self.clone())
    }
    fn wait(&self, timeout: Duration) -> bool {
        let guard = self.count.lock().unwrap();
        let (guard, _) = self
            .done
            .wait_timeout_while(guard, timeout, |n| *n > 0)
            .unwrap();
        *guard == 0
    }
}

struct PendingGuard(Arc<Pending>);
impl Drop for PendingGuard {
    fn drop(&mut self) {
        let mut n = self.0.count.lock().unwrap();
        *n -= 1;
        if *n == 0 {
            self.0.done.notify_all();
        }
    }
}

/// The engine shared by every scope of a process: the store and the upstream client.
#[derive(Debug)]
pub struct Engine {
    store: Store,
    http: OnceLock<reqwest::Client>,
    model_lists: Mutex<HashMap<String, Arc<Replay>>>,
    /// The recordings index, opened on first use; the error text when it cannot be.
    index: OnceLock<std::result::Result<crate::index::Index, String>>,
}

/// One test's view of the engine: its id, mode, target and replay map.
#[derive(Debug)]
pub struct Scope {
    engine: Arc<Engine>,
    test_id: String,
    mode: crate::Mode,
    target: Target,
    /// What `cargo test` needs to run this test alone, for miss messages.
    test_filter: String,
    recordings: OnceLock<std::result::Result<Mutex<ScopeRecordings>, String>>,
    stats: Stats,
    problems: Mutex<Vec<String>>,
    pending: Arc<Pending>,
    /// `RECORDER_REPLAY_TIMING=recorded`, read once per test rather than per stream.
    replay_timing: bool,
    /// Hashes of the recordings replayed, each once (a test may repeat a request).
    used: Mutex<
        std::collections::HashSet<String, std::hash::BuildHasherDefault<crate::store::HashHasher>>,
    >,
}

impl Engine {
    /// An engine over a recordings folder.
    pub fn new(root: impl Into<std::path::PathBuf>) -> Arc<Engine> {
        install_crypto_provider();
        Arc::new(Engine {
            store: Store::new(root),
            http: OnceLock::new(),
            model_lists: Mutex::default(),
            index: OnceLock::new(),
        })
    }

    /// The recordings index (`<root>/index.sqlite`), opened once per engine on first use.
    pub fn index(&self) -> Result<&crate::index::Index> {
        let opened = self.index.get_or_init(|| {
            crate::index::Index::open(self.store.root()).map_err(|e| e.to_string())
        });
        opened.as_ref().map_err(|e| Error::Other(e.clone()))
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    fn http(&self) -> &reqwest::Client {
        self.http.get_or_init(|| {
            reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(10))
                .build()
                .expect("the HTTP client builds")
        })
    }

    /// The one entry point: serves `req` for `scope` according to its mode.
    pub async fn handle(&self, scope: &Arc<Scope>, req: EngineRequest) -> Result<EngineResponse> {
        match self.replay_now(scope, &req)? {
            Replayed::Hit(resp) => Ok(resp),
            // Boxed: the rest (misses, recording) is large, and inline it would make
            // every replay's future that large too (moved on each await of the caller).
            Replayed::Miss(canonical) => Box::pin(self.handle_miss(scope, req, canonical)).await,
        }
    }

    /// The replay hot path, with nothing to await: the test's recording of the
    /// request's exact bytes, else of its canonical text (built straight from the
    /// bytes). On a miss it hands back the canonical text for [`Engine::handle`] to go
    /// on with, behind a boxed future, so a replay never pays for the upstream path.
    pub(crate) fn replay_now(&self, scope: &Arc<Scope>, req: &EngineRequest) -> Result<Replayed> {
        let model_list = crate::identity::is_model_list(req.method.as_str(), &req.endpoint);
        // Cheaper still: the exact bytes of a recorded request (most clients send
        // what serde_json writes), with no parsing at all.
        let by_bytes =
            |r: &ScopeRecordings| r.get_by_bytes(req.method.as_str(), &req.endpoint, &req.body);
        if let Some(resp) = scope.replay_found(model_list, by_bytes)? {
            return Ok(Replayed::Hit(resp));
        }
        let canonical = crate::identity::request_canonical(
            req.method.as_str(),
            &req.endpoint,
            &req.body,
            &scope.target.ignore_fields,
            Some(&scope.test_id),
        );
        Ok(
            match scope.replay_found(model_list, |r| r.get_by_canonical(&canonical))? {
                Some(resp) => Replayed::Hit(resp),
                None => Replayed::Miss(canonical),
            },
        )
    }

    /// What follows a miss of [`Engine::replay_now`]: its sha256 (a model list, a file
    /// whose request had a secret scrubbed, a recording made during this test), and
    /// the full identity (a parsed body, for miss explanations and recordings) only
    /// when there is no recording.
    async fn handle_miss(
        &self,
        scope: &Arc<Scope>,
        req: EngineRequest,
        canonical: String,
    ) -> Result<EngineResponse> {
        let mode = scope.mode;
        let model_list = crate::identity::is_model_list(req.method.as_str(), &req.endpoint);
        let hash = crate::identity::sha256_hex(canonical.as_bytes());
        if mode.reads() {
            if let Some(replay) = self.lookup(scope, model_list, &hash)? {
                return Ok(scope.replayed(&hash, &replay));
            }
        }
        let ident = RequestIdentity::new(
            req.method.as_str(),
            &req.endpoint,
            &req.body,
            &scope.target.ignore_fields,
            Some(&scope.test_id),
        );
        debug_assert_eq!(ident.hash(), hash, "request_hash and RequestIdentity agree");
        if mode == crate::Mode::Replay {
            scope.stats.missed.fetch_add(1, Ordering::Relaxed);
            let msg = self.explain_miss(scope, &ident, &hash);
            scope.problems.lock().unwrap().push(msg.clone());
            return Err(Error::Miss(msg));
        }
        self.forward(scope, req, ident, hash).await
    }

    fn lookup(&self, scope: &Scope, model_list: bool, hash: &str) -> Result<Option<Arc<Replay>>> {
        if model_list {
            if let Some(r) = self.model_lists.lock().unwrap().get(hash) {
                return Ok(Some(r.clone()));
            }
            let merged = self.store.merged_model_list(hash)?.map(Arc::new);
            if let Some(r) = &merged {
                self.model_lists
                    .lock()
                    .unwrap()
                    .insert(hash.to_owned(), r.clone());
            }
            return Ok(merged);
        }
        scope
            .recordings()?
            .lock()
            .unwrap()
            .get(hash)
            .inspect_err(|e| scope.problems.lock().unwrap().push(e.to_string()))
    }

    fn explain_miss(&self, scope: &Scope, ident: &RequestIdentity, hash: &str) -> String {
        let mut msg = format!(
            "no recording for {} {} in test `{}` (request hash {})\n  expected file: {}\n",
            ident.method(),
            ident.endpoint(),
            scope.test_id,
            &hash[..16],
            if ident.is_model_list() {
                self.store.model_list_path(hash, "*").display().to_string()
            } else {
                self.store
                    .recording_path(&scope.test_id, hash)
                    .display()
                    .to_string()
            }
        );
        let closest = scope.recordings().ok().and_then(|recs| {
            let recs = recs.lock().unwrap();
            recs.replays()
                .map(|r| {
                    let same_route = r.request.method == ident.method()
                        && r.request.endpoint == ident.endpoint();
                    let changes = diff::diff(&r.request.body, ident.body());
                    (
                        !same_route,
                        changes.len(),
                        r.path.clone(),
                        r.request.method.clone(),
                        r.request.endpoint.clone(),
                        changes,
                    )
                })
                .min_by(|a, b| (a.0, a.1, &a.2).cmp(&(b.0, b.1, &b.2)))
        });
        match closest {
            Some((_, _, path, method, endpoint, changes)) => {
                msg.push_str(&format!(
                    "  closest recording of this test: {} ({method} {endpoint})\n",
                    path.display()
                ));
                if method != ident.method() || endpoint != ident.endpoint() {
                    msg.push_str(&format!(
                        "    it was recorded for {method} {endpoint}, this request is {} {}\n",
                        ident.method(),
                        ident.endpoint()
                    ));
                }
                if changes.is_empty() {
                    msg.push_str(
                        "    the bodies are equal: the request differs in method or endpoint\n",
                    );
                } else {
                    msg.push_str("    body differences (recorded | requested):\n");
                    msg.push_str(&diff::render(&changes, 20));
                }
            }
            None => msg.push_str("  this test has no recordings yet\n"),
        }
        msg.push_str(&format!(
            "  to record it: RECORD_MODE=record-if-missing cargo test {}",
            scope.test_filter
        ));
        msg
    }

    async fn forward(
        &self,
        scope: &Arc<Scope>,
        req: EngineRequest,
        ident: RequestIdentity,
        hash: String,
    ) -> Result<EngineResponse> {
        let url = scope.target.upstream_url(&req.endpoint)?;
        let mut builder = self.http().request(req.method.clone(), &url);
        for name in FORWARDED_HEADERS {
            if let Some(v) = req.headers.get(*name) {
                builder = builder.header(*name, v);
            }
        }
        if !req.body.is_empty() && !req.headers.contains_key(http::header::CONTENT_TYPE) {
            builder = builder.header(
                http::header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
        }
        let secrets = scope.target.secrets();
        if let Some(var) = &scope.target.api_key_env {
            match secrets.iter().find(|(n, _)| n == var) {
                Some((_, key)) => builder = builder.bearer_auth(key),
                None if scope.mode == crate::Mode::Live || scope.mode.writes() => {
                    return Err(Error::Other(format!(
                        "the setup {} needs the API key in ${var} to call {url}; set it (it is never written to disk) or replay with RECORD_MODE=replay",
                        scope.target.setup.as_deref().unwrap_or("(none)")
                    )))
                }
                None => {}
            }
        } else if let Some(auth) = req.headers.get(http::header::AUTHORIZATION) {
            // No key configured: pass the client's own through; it is never stored.
            builder = builder.header(http::header::AUTHORIZATION, auth);
        }
        let builder = builder.body(req.body.clone());
        let sent = background()
            .spawn(async move { builder.send().await })
            .await
            .map_err(|e| Error::Other(e.to_string()))?;
        let upstream = sent.map_err(|e| {
            // The test fails at its end even if the client swallows the 502.
            let err = Error::Unreachable {
                url: url.clone(),
                reason: error_chain(&e),
            };
            scope.problems.lock().unwrap().push(err.to_string());
            err
        })?;
        let status = upstream.status().as_u16();
        let content_type = upstream
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let source = if scope.mode.writes() {
            Source::Recorded
        } else {
            Source::Live
        };
        let model = serde_json::from_slice::<serde_json::Value>(&req.body)
            .ok()
            .and_then(|b| b.get("model").and_then(|m| m.as_str()).map(str::to_owned));
        let request = RecordedRequest {
            method: ident.method().to_owned(),
            endpoint: ident.endpoint().to_owned(),
            model,
            body: ident.body().clone(),
        };
        let test_id = ident.test_id().map(str::to_owned);
        let format = content_type
            .as_deref()
            .and_then(StreamFormat::from_content_type)
            .filter(|_| status < 400);
        let Some(format) = format else {
            let body = background()
                .spawn(async move { upstream.bytes().await })
                .await
                .map_err(|e| Error::Other(e.to_string()))?
                .map_err(|e| Error::Upstream {
                    url: url.clone(),
                    reason: error_chain(&e),
                })?;
            if scope.mode.writes() {
                let response = RecordedResponse::plain(
                    status,
                    content_type.as_deref().map(json_content_type),
                    &body,
                );
                let rec = Recording {
                    test_id,
                    request,
                    response,
                };
                self.save(scope, rec, &hash, &secrets)?;
            } else {
                scope.stats.live.fetch_add(1, Ordering::Relaxed);
            }
            return Ok(EngineResponse {
                status,
                content_type,
                body: ResponseBody::Full(body),
                source,
            });
        };

        // A stream: pass chunks on as they arrive while a background task parses and
        // records them. The task drains the upstream even if the client goes away.
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Result<Bytes>>();
        let keep_timing = std::env::var(KEEP_TIMING_VAR)
            .is_ok_and(|v| v == "1" || v.eq_ignore_ascii_case("true"));
        let guard = scope.pending.start();
        let scope = scope.clone();
        background().spawn(async move {
            let _guard = guard;
            let mut parser = FrameParser::new(format);
            let mut frames = Vec::new();
            let mut last = Instant::now();
            let mut chunks = upstream.bytes_stream();
            while let Some(chunk) = chunks.next().await {
                match chunk {
                    Ok(bytes) => {
                        let _ = tx.send(Ok(bytes.clone()));
                        for mut frame in parser.push(&bytes) {
                            if keep_timing {
                                frame.delay_ms = Some(last.elapsed().as_millis() as u64);
                                last = Instant::now();
                            }
                            frames.push(frame);
                        }
                    }
                    Err(e) => {
                        // Nothing is recorded from a stream the upstream cut short.
                        let err = Error::Upstream {
                            url: url.clone(),
                            reason: error_chain(&e),
                        };
                        scope.problems.lock().unwrap().push(err.to_string());
                        let _ = tx.send(Err(err));
                        return;
                    }
                }
            }
            drop(tx);
            match parser.finish() {
                Ok(rest) => frames.extend(rest),
                Err(e) => {
                    scope.problems.lock().unwrap().push(e.to_string());
                    return;
                }
            }
            if !scope.mode.writes() {
                scope.stats.live.fetch_add(1, Ordering::Relaxed);
                return;
            }
            let response = RecordedResponse::streamed(status, format, frames);
            if let Err(e) = scope.engine.save(
                &scope,
                Recording {
                    test_id,
                    request,
                    response,
                },
                &hash,
                &secrets,
            ) {
                scope.problems.lock().unwrap().push(e.to_string());
            }
        });
        let stream = BodyStream::new(futures::stream::poll_fn(move |cx| rx.poll_recv(cx)));
        Ok(EngineResponse {
            status,
            content_type: Some(format.content_type().to_owned()),
            body: ResponseBody::Stream(format, stream),
            source,
        })
    }

    fn save(
        &self,
        scope: &Scope,
        mut rec: Recording,
        hash: &str,
        secrets: &[(String, String)],
    ) -> Result<()> {
        rec.response.for_each_json_mut(|v| normalize_value(v, hash));
        let path = write_scrubbed(&self.store, &rec, hash, secrets)?;
        scope.stats.recorded.fetch_add(1, Ordering::Relaxed);
        // The file is kept whatever happens to the index; a failure fails the test.
        if let Err(e) = self.index().and_then(|index| {
            index.record_saved(&path, &rec, hash, &scope.test_id, !secrets.is_empty())
        }) {
            let msg = format!(
                "{e} (the recording {} was written; only the index is behind)",
                path.display()
            );
            let mut problems = scope.problems.lock().unwrap();
            if !problems.contains(&msg) {
                problems.push(msg);
            }
        }
        self.remember(scope, rec, hash, path);
        Ok(())
    }

    fn remember(&self, scope: &Scope, rec: Recording, hash: &str, path: std::path::PathBuf) {
        if rec.test_id.is_none() {
            self.model_lists.lock().unwrap().remove(hash);
        } else if let Ok(recs) = scope.recordings() {
            recs.lock()
                .unwrap()
                .insert(hash.to_owned(), Arc::new(Replay::from_recording(rec, path)));
        }
    }
}

/// Writes a recording atomically with every secret value removed (see [`crate::secrets`]).
fn write_scrubbed(
    store: &Store,
    rec: &Recording,
    hash: &str,
    secrets: &[(String, String)],
) -> Result<std::path::PathBuf> {
    store.write(&crate::secrets::scrub(rec, secrets)?, hash)
}

fn json_content_type(ct: &str) -> &str {
    let base = ct.split(';').next().unwrap_or(ct).trim();
    if base.contains("json") {
        base
    } else {
        ct
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}

/// Builds the response for a recording: bytes as stored, frames one by one.
fn serve(replay: &Replay, timed: bool) -> EngineResponse {
    let body = match &replay.body {
        ReplayBody::Full(b) => ResponseBody::Full(b.clone()),
        ReplayBody::Frames { format, frames } => {
            let frames = frames.clone();
            if timed {
                let s = futures::stream::iter(0..frames.len()).then(move |i| {
                    let (bytes, delay) = frames[i].clone();
                    async move {
                        if let Some(ms) = delay {
                            tokio::time::sleep(Duration::from_millis(ms)).await;
                        }
                        Ok(bytes)
                    }
                });
                ResponseBody::Stream(*format, BodyStream::new(s))
            } else {
                ResponseBody::Stream(*format, BodyStream::stored(frames))
            }
        }
    };
    EngineResponse {
        status: replay.status,
        content_type: replay.content_type.clone(),
        body,
        source: Source::Replayed,
    }
}

/// The outcome of [`Engine::replay_now`].
pub(crate) enum Replayed {
    /// Served from the test's recordings.
    Hit(EngineResponse),
    /// Not found by its canonical text, which comes along for the rest of the path.
    Miss(String),
}

impl Scope {
    /// The hot path of [`Engine::handle`]: the test's recording that `find` picks
    /// from its recordings (by exact bytes, or by canonical text), served, if the
    /// mode reads recordings and the scope has one. Model lists are merged across
    /// tests, so they are never found here.
    pub(crate) fn replay_found(
        &self,
        model_list: bool,
        find: impl FnOnce(&ScopeRecordings) -> Option<(Arc<str>, Arc<Replay>)>,
    ) -> Result<Option<EngineResponse>> {
        if !self.mode.reads() || model_list {
            return Ok(None);
        }
        let found = find(&self.recordings()?.lock().unwrap());
        Ok(found.map(|(hash, replay)| self.replayed(&hash, &replay)))
    }

    /// Counts a replay, remembers its recording as used, and serves it.
    fn replayed(&self, hash: &str, replay: &Replay) -> EngineResponse {
        self.stats.replayed.fetch_add(1, Ordering::Relaxed);
        let mut used = self.used.lock().unwrap();
        if !used.contains(hash) {
            used.insert(hash.to_owned());
        }
        serve(replay, self.replay_timing)
    }

    /// A scope for one test. `test_id` scopes identity and the folder.
    pub fn new(
        engine: Arc<Engine>,
        test_id: impl Into<String>,
        mode: crate::Mode,
        target: Target,
    ) -> Arc<Scope> {
        let test_id = test_id.into();
        let test_filter = default_filter(&test_id);
        Arc::new(Scope {
            engine,
            test_id,
            mode,
            target,
            test_filter,
            recordings: OnceLock::new(),
            stats: Stats::default(),
            problems: Mutex::default(),
            pending: Arc::default(),
            replay_timing: std::env::var(REPLAY_TIMING_VAR)
                .is_ok_and(|v| v.eq_ignore_ascii_case("recorded")),
            used: Mutex::default(),
        })
    }

    /// Sets what `cargo test` needs to select this test, shown in miss messages.
    pub fn with_test_filter(mut self: Arc<Self>, filter: impl Into<String>) -> Arc<Self> {
        if let Some(s) = Arc::get_mut(&mut self) {
            s.test_filter = filter.into();
        }
        self
    }

    /// Serves one request: see [`Engine::handle`].
    pub async fn handle(self: &Arc<Self>, req: EngineRequest) -> Result<EngineResponse> {
        self.engine.handle(self, req).await
    }

    /// The test id.
    pub fn test_id(&self) -> &str {
        &self.test_id
    }
    /// The mode.
    pub fn mode(&self) -> crate::Mode {
        self.mode
    }
    /// The upstream target.
    pub fn target(&self) -> &Target {
        &self.target
    }
    /// The engine.
    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }
    /// The folder of this test's recordings.
    pub fn dir(&self) -> std::path::PathBuf {
        self.engine.store.scope_dir(&self.test_id)
    }

    /// What the scope has served so far.
    pub fn counts(&self) -> Counts {
        Counts {
            replayed: self.stats.replayed.load(Ordering::Relaxed),
            recorded: self.stats.recorded.load(Ordering::Relaxed),
            live: self.stats.live.load(Ordering::Relaxed),
            missed: self.stats.missed.load(Ordering::Relaxed),
        }
    }

    /// Hashes of the recordings replayed so far, each once, sorted (for the index's record of use).
    pub fn used(&self) -> Vec<String> {
        let mut used: Vec<String> = self.used.lock().unwrap().iter().cloned().collect();
        used.sort();
        used
    }

    /// Records in the index that this test ran in the current run and which
    /// recordings it replayed (see [`crate::index`]); `prune` judges a test by its
    /// latest run. Call it when the test finished (passed). Does nothing in live mode,
    /// which reads nothing, or when the recordings folder does not exist.
    pub fn record_use(&self) -> Result<()> {
        if self.mode == crate::Mode::Live || !self.engine.store.root().is_dir() {
            return Ok(());
        }
        let index = self.engine.index()?;
        index.begin_test(&self.test_id)?;
        index.mark_used(&self.test_id, &self.used())
    }

    /// Waits (up to `timeout`) for recordings still being written, then returns every
    /// problem seen (misses, broken files, failed writes). A test fails when this is
    /// not empty, even if its client swallowed the error.
    pub fn finish(&self, timeout: Duration) -> Vec<String> {
        if !self.pending.wait(timeout) {
            self.problems.lock().unwrap().push(format!(
                "a recording of test `{}` was still being written after {timeout:?}",
                self.test_id
            ));
        }
        self.problems.lock().unwrap().clone()
    }

    fn recordings(&self) -> Result<&Mutex<ScopeRecordings>> {
        let loaded = self.recordings.get_or_init(|| {
            if self.mode.reads() {
                let mut recordings = self
                    .engine
                    .store
                    .load_scope(&self.test_id)
                    .map_err(|e| e.to_string())?;
                recordings.index_request_bytes(&self.target.ignore_fields, &self.test_id);
                Ok(Mutex::new(recordings))
            } else {
                Ok(Mutex::default())
            }
        });
        loaded.as_ref().map_err(|e| Error::Other(e.clone()))
    }
}

/// `cargo test` filter for a test id: its name without the model combination.
fn default_filter(test_id: &str) -> String {
    let head = test_id.split('[').next().unwrap_or(test_id);
    head.rsplit("::").next().unwrap_or(head).to_string()
}

/// Installs rustls' ring provider as the process default (once), so that HTTPS
/// clients built by tests (ours, async-openai's) work without each test doing it.
pub fn install_crypto_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}
