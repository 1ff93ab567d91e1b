//! The engine: one entry point, [`Engine::handle`], between "test T made this
//! request" and "here is its response". Every transport (the loopback proxy, the
//! in-process fixture client, the async-openai service, the reqwest middleware)
//! calls it; modes, identity, store, normalization, ids and secrets live here only.
//!
//! One job per module: [`request`] (what goes in and out), [`target`] (where requests
//! go and how the key reaches it), [`scope`] (one test's state), `prepare` (what
//! identity sees of a request), `record` (forwarding upstream and writing recordings),
//! `verify` (comparing live answers with the recordings instead), `budget` (the token
//! budgets of upstream calls), `miss` (explaining a replay miss).
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

mod budget;
mod held;
#[cfg(all(test, feature = "multipart"))]
mod identity_scheme;
mod miss;
mod prepare;
mod record;
pub mod request;
pub mod scope;
pub mod target;
mod verify;

pub use crate::body::BodyStream;
pub use crate::headers::FORWARDED_HEADERS;
pub use request::{EngineRequest, EngineResponse, Performed, ResponseBody, AnswerSource};
pub use scope::{Counts, ProblemSink, Scope, ScopeOptions, ScopeResolver};
pub use target::{Auth, Target, Upstream};

use crate::error::{Error, Result};
use crate::identity::{is_model_list, request_canonical, sha256_hex, RequestIdentity};
use crate::store::{
    model_list_key, MergedModelList, Pick, RecordingKey, Replay, ReplayBody, Store,
};
use futures_util::StreamExt;
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, LazyLock, Mutex, OnceLock};
use std::time::Duration;

/// Records the delay before each frame when set to `1` at record time.
pub const KEEP_TIMING_VAR: &str = crate::env::KEEP_TIMING;
/// `recorded` replays the stored delays; anything else replays at full speed.
pub const REPLAY_TIMING_VAR: &str = crate::env::REPLAY_TIMING;

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

/// A future to spawn, boxed. tokio generates its task machinery (about 2,000 lines of
/// LLVM IR, for each scheduler) once per spawned future type; boxed, every spawn site
/// with the same output shares one copy. It was 9 % of this crate's generated code,
/// and so of a user's clean build; the box is one allocation beside the task's own.
pub(crate) fn task<T>(
    fut: impl std::future::Future<Output = T> + Send + 'static,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send>> {
    Box::pin(fut)
}

/// Blocking work to spawn, boxed, for the same reason as [`task`].
pub(crate) fn blocking<T>(f: impl FnOnce() -> T + Send + 'static) -> Box<dyn FnOnce() -> T + Send> {
    Box::new(f)
}

/// The engine shared by every scope of a process: the store and the upstream client.
#[derive(Debug)]
pub struct Engine {
    store: Store,
    http: OnceLock<reqwest::Client>,
    /// Merged model lists by [`model_list_key`].
    model_lists: Mutex<HashMap<String, Arc<MergedModelList>>>,
    /// This process's record of which recordings its tests used.
    usage: crate::usage::UsageLog,
}

/// What [`Engine::replay_now`] computed for a request it could not serve, for
/// [`Engine::handle_miss`]: the endpoint and body identity sees, the canonical text
/// when it was computed, and which occurrence of the request this is when it was
/// counted.
struct Miss {
    endpoint: String,
    body: Vec<u8>,
    canonical: Option<String>,
    occurrence: Option<u32>,
}

/// What [`Engine::dispatch_now`] could do without awaiting anything.
enum Now {
    /// The request is answered: replayed, or an error.
    Answered(Result<EngineResponse>),
    /// No recording serves it: the rest is [`Engine::handle_miss`]'s.
    Missed(Miss),
}

impl Now {
    /// What [`Engine::replay_now`] found for the request as `p` has it.
    fn from_replay(found: Result<Replayed>, p: prepare::Prepared<'_>, sent: &[u8]) -> Now {
        match found {
            Ok(Replayed::Hit(resp)) => Now::Answered(Ok(resp)),
            Ok(Replayed::Miss(canonical, occurrence)) => Now::Missed(Miss {
                endpoint: p.endpoint.into_owned(),
                body: p.body.into_owned(),
                canonical,
                occurrence,
            }),
            Err(e) => Now::Answered(jsonrpc_error_answer(sent, e)),
        }
    }
}

/// How [`Engine::replay_now`] looks a request up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lookup {
    /// By its exact bytes only (a miss is `Miss(None, None)`).
    Bytes,
    /// By its canonical text only: its bytes were looked up already.
    Canonical,
    /// By its bytes, else by its canonical text.
    BytesThenCanonical,
}

/// Reads a test's files off the async workers (blocking I/O: a slow disk would stall
/// every other test's requests), once, before its first request.
async fn load_recordings(scope: &Arc<Scope>) {
    let loading = scope.clone();
    let _ = background()
        .spawn_blocking(blocking(move || loading.recordings().map(|_| ())))
        .await;
}

/// The outcome of [`Engine::replay_now`].
pub(crate) enum Replayed {
    /// Served from the test's recordings.
    Hit(EngineResponse),
    /// Not served: the canonical text when it was computed, and which occurrence of
    /// the request this is when it was counted.
    Miss(Option<String>, Option<u32>),
}

impl Engine {
    /// An engine over a recordings folder, reading files up to
    /// `RECORDER_MAX_RECORDING_BYTES` (under the process's setup).
    pub fn new(root: impl Into<std::path::PathBuf>) -> Arc<Engine> {
        let root = root.into();
        let store = Store::new(&root).with_max_file_bytes(crate::env::max_recording_bytes());
        Engine::with_store(store)
    }

    /// An engine over `store`, whose limits its builder chose.
    pub fn with_store(store: Store) -> Arc<Engine> {
        install_crypto_provider();
        Arc::new(Engine {
            usage: crate::usage::UsageLog::new(store.root()),
            store,
            http: OnceLock::new(),
            model_lists: Mutex::default(),
        })
    }

    /// The record of use of this engine's recordings (see [`crate::usage`]).
    pub fn usage(&self) -> &crate::usage::UsageLog {
        &self.usage
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    fn http(&self) -> &reqwest::Client {
        self.http.get_or_init(|| {
            reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(10))
                .redirect(same_origin_redirects())
                .build()
                .expect("the HTTP client builds")
        })
    }

    /// The one entry point: serves `req` for `scope` according to its mode. An error
    /// carries none of the test's secrets (see [`Scope`]'s `redact`): it becomes an
    /// answer body, a test's panic message, a CI log line.
    pub async fn handle(&self, scope: &Arc<Scope>, req: EngineRequest) -> Result<EngineResponse> {
        self.answer(scope, req, None)
            .await
            .map_err(|e| scope.redact(e))
    }

    /// [`Engine::handle`] for a front end that reaches its upstream itself (a child
    /// process over stdio, see [`Performed`]): where `handle` would send the request
    /// upstream over HTTP, `performed` is taken as the upstream's answer, and recorded,
    /// compared or passed on by the mode's rules like any other. A request that
    /// matches a recording (replay, record-if-missing) is served from it and
    /// `performed` is dropped; a replay miss is explained as always.
    ///
    /// ```no_run
    /// # async fn demo(scope: std::sync::Arc<recorder_runtime::engine::Scope>) -> recorder_runtime::Result<()> {
    /// use recorder_runtime::engine::{EngineRequest, Performed};
    /// let line = br#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#.to_vec();
    /// let answer = http::Response::builder()
    ///     .header("content-type", "text/event-stream")
    ///     .body(reqwest::Body::from("event: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\n\n"))
    ///     .unwrap();
    /// let performed = Performed { upstream: "the stdio server `my-server`".into(), response: answer };
    /// let resp = scope.handle_performed(EngineRequest::post("/up/mcp", line), performed).await?;
    /// # Ok(()) }
    /// ```
    pub async fn handle_performed(
        &self,
        scope: &Arc<Scope>,
        req: EngineRequest,
        performed: Performed,
    ) -> Result<EngineResponse> {
        self.answer(scope, req, Some(performed))
            .await
            .map_err(|e| scope.redact(e))
    }

    /// [`Engine::handle`], with the upstream's answer when a front end performed the
    /// exchange itself.
    ///
    /// A replay awaits nothing once the test's files are loaded, and everything after
    /// a miss (explaining it, the upstream, recording) sits behind one boxed future: a
    /// replay's future stays small, and it is moved on every await of every caller.
    async fn answer(
        &self,
        scope: &Arc<Scope>,
        req: EngineRequest,
        performed: Option<Performed>,
    ) -> Result<EngineResponse> {
        if scope.mode.loads() && !scope.recordings_loaded() {
            load_recordings(scope).await;
        }
        let ends_session = crate::mcp::ended_session(&req.method, &req.headers);
        let resp = match self.dispatch_now(scope, &req) {
            Now::Answered(resp) => resp,
            Now::Missed(miss) => Box::pin(self.after_miss(scope, req, miss, performed)).await,
        };
        if let Some(session) = ends_session {
            // An MCP session's DELETE was answered: its open GET stream ends.
            scope.open_streams().end_session(&session);
        }
        resp
    }

    /// What identity sees of the request ([`prepare`]), then its recording if the test
    /// has one. An error on a JSON-RPC request is answered as the JSON-RPC error its
    /// client can match (see [`crate::mcp`]).
    fn dispatch_now(&self, scope: &Arc<Scope>, req: &EngineRequest) -> Now {
        let received = match prepare::received(scope, req) {
            Ok(p) => p,
            Err(e) => {
                scope.problem(e.to_string());
                return Now::Answered(jsonrpc_error_answer(&req.body, e));
            }
        };
        // Byte for byte a recording's request: served before the rest of `prepare`
        // (see `prepare::received`). A test that knows secrets takes the long way.
        let exact = !scope.has_secrets();
        if exact {
            match self.replay_now(scope, req, &received, Lookup::Bytes) {
                // No recording has these bytes.
                Ok(Replayed::Miss(None, None)) => {}
                // Served, an error, or a recorded request but not this occurrence of
                // it (counted; `finish` would change nothing).
                found => return Now::from_replay(found, received, &req.body),
            }
        }
        let (prepared, changed) = prepare::finish(scope, received);
        // Looked up by these very bytes already, unless `finish` changed them.
        let lookup = if exact && !changed {
            Lookup::Canonical
        } else {
            Lookup::BytesThenCanonical
        };
        Now::from_replay(
            self.replay_now(scope, req, &prepared, lookup),
            prepared,
            &req.body,
        )
    }

    /// [`Engine::handle_miss`], its error answered as a JSON-RPC error where the
    /// request was one.
    async fn after_miss(
        &self,
        scope: &Arc<Scope>,
        req: EngineRequest,
        miss: Miss,
        performed: Option<Performed>,
    ) -> Result<EngineResponse> {
        let sent = req.body.clone();
        self.handle_miss(scope, req, miss, performed)
            .await
            .or_else(|e| jsonrpc_error_answer(&sent, e))
    }

    /// The replay hot path, with nothing to await: the test's recording of the
    /// request's exact bytes, else of its canonical text (built straight from the
    /// bytes), as `lookup` says, for this occurrence of the request. On a miss it hands back what it
    /// computed for [`Engine::handle`] to go on with, behind a boxed future, so a replay
    /// never pays for the upstream path.
    fn replay_now(
        &self,
        scope: &Arc<Scope>,
        req: &EngineRequest,
        p: &prepare::Prepared<'_>,
        lookup: Lookup,
    ) -> Result<Replayed> {
        let method = req.method.as_str();
        if !scope.mode.reads() || is_model_list(method, &p.endpoint) {
            return Ok(Replayed::Miss(None, None));
        }
        let recordings = scope.recordings()?;
        let mut recs = recordings.lock().unwrap();
        let mut canonical = None;
        let by_bytes = match lookup {
            Lookup::Canonical => None,
            _ => recs.find_by_bytes(method, &p.endpoint, &p.body),
        };
        let hash = match by_bytes {
            Some(h) => Some(h),
            None if lookup == Lookup::Bytes => None,
            None => {
                let c = request_canonical(
                    method,
                    &p.endpoint,
                    &p.body,
                    &scope.target.ignore_fields,
                    Some(&scope.test_id),
                );
                let found = recs.find_by_canonical(&c);
                canonical = Some(c);
                found
            }
        };
        let Some(hash) = hash else {
            return Ok(Replayed::Miss(canonical, None));
        };
        self.serve_occurrence(scope, req, &mut recs, hash, canonical)
    }

    /// Counts one more occurrence of the request recorded under `hash` and serves its
    /// recording for that occurrence, if there is one.
    fn serve_occurrence(
        &self,
        scope: &Arc<Scope>,
        req: &EngineRequest,
        recs: &mut crate::store::ScopeRecordings,
        hash: Arc<str>,
        canonical: Option<String>,
    ) -> Result<Replayed> {
        let occurrence = recs.next_occurrence(&hash);
        // An MCP session's GET stream stays open after its recorded events.
        let serve = |replay: &Replay| {
            let resp = scope.replayed(&hash, replay);
            Replayed::Hit(hold_open(scope, req, resp))
        };
        match recs.get(&RecordingKey::new(hash.clone(), occurrence)) {
            Pick::Found(replay) => Ok(serve(&replay)),
            // After the last recorded occurrence the last one repeats in replay;
            // record-if-missing records the new occurrence.
            Pick::Last(replay) if scope.mode == crate::Mode::Replay => Ok(serve(&replay)),
            Pick::Broken(e) => {
                scope.problem(crate::error::chain(&*e));
                Err(Error::Shared(e))
            }
            Pick::Last(_) | Pick::None => Ok(Replayed::Miss(canonical, Some(occurrence))),
        }
    }

    /// What follows a miss of [`Engine::replay_now`]: a model list (merged from every
    /// recorded server), a broken file, a replay miss explained, or the upstream.
    async fn handle_miss(
        &self,
        scope: &Arc<Scope>,
        req: EngineRequest,
        miss: Miss,
        performed: Option<Performed>,
    ) -> Result<EngineResponse> {
        let Miss {
            endpoint,
            body,
            canonical,
            occurrence,
        } = miss;
        let mode = scope.mode;
        let method = req.method.as_str().to_owned();
        let model_list = is_model_list(&method, &endpoint);
        let ignore = &scope.target.ignore_fields;
        let canonical = canonical.unwrap_or_else(|| {
            request_canonical(&method, &endpoint, &body, ignore, Some(&scope.test_id))
        });
        let hash = sha256_hex(canonical.as_bytes());
        if model_list && mode.reads() {
            // Read from disk (off the async workers) only the first time.
            let cached = self
                .model_lists
                .lock()
                .unwrap()
                .get(model_list_key(&endpoint))
                .cloned();
            let found = match cached {
                Some(list) => Some(list),
                None => {
                    let engine = scope.engine.clone();
                    let wanted = endpoint.clone();
                    background()
                        .spawn_blocking(blocking(move || engine.model_list(&wanted)))
                        .await??
                }
            };
            if let Some(list) = found {
                // Every list merged into the answer was used (`prune` keeps them).
                for merged in &list.hashes {
                    scope.mark_used(merged);
                }
                return Ok(scope.replayed(&hash, &list.replay));
            }
        }
        let occurrence = match occurrence {
            Some(n) => n,
            None if model_list => 1,
            None => {
                let recordings = scope.recordings()?;
                let mut recs = recordings.lock().unwrap();
                let n = recs.next_occurrence(&hash);
                // Only a file that cannot be read is in the scope without being found
                // by its canonical text.
                if let Pick::Broken(e) = recs.get(&RecordingKey::new(hash.as_str(), n)) {
                    scope.problem(crate::error::chain(&*e));
                    return Err(Error::Shared(e));
                }
                n
            }
        };
        // A model list is found by its path, not its hash: an older one is read
        // upgraded and merged above, a newer one failed when read.
        if mode.reads() && !model_list {
            self.refuse_unmatchable(scope, &method, &endpoint)?;
        }
        let ident = RequestIdentity::new(&method, &endpoint, &body, ignore, Some(&scope.test_id));
        debug_assert_eq!(ident.hash(), hash, "request_hash and RequestIdentity agree");
        if mode == crate::Mode::Replay {
            scope.stats.missed.fetch_add(1, Ordering::Relaxed);
            let msg = self.explain_miss(scope, &ident, &hash);
            scope.problem(msg.clone());
            let msg = scope.scrubber().scrub_str(&msg).into_owned();
            return Err(Error::Miss(msg));
        }
        self.forward(
            scope,
            req,
            ident,
            RecordingKey::new(hash, occurrence),
            performed,
        )
        .await
    }

    /// A request that found no recording, in a test that has recordings of another
    /// version this recorder cannot match as they are: an error naming them and what
    /// to do (`cargo recordings migrate`, or upgrading), never a plain miss or a new
    /// recording beside them.
    fn refuse_unmatchable(&self, scope: &Arc<Scope>, method: &str, endpoint: &str) -> Result<()> {
        let files = scope.recordings()?.lock().unwrap().unmatchable().to_vec();
        if files.is_empty() {
            return Ok(());
        }
        if scope.mode == crate::Mode::Replay {
            scope.stats.missed.fetch_add(1, Ordering::Relaxed);
        }
        let context = format!(
            "no recording for {method} {endpoint} in test `{}`, and the recordings folder holds recordings this recorder cannot match as they are (one of them may be this request's)",
            scope.test_id
        );
        let secrets = scope.secrets();
        let err = Error::Format {
            context: crate::secrets::scrub_str(&context, &secrets).into_owned(),
            files,
        };
        scope.problem(err.to_string());
        Err(err)
    }

    /// The merged model list of a model-list endpoint (whatever its query), cached
    /// per engine.
    fn model_list(&self, endpoint: &str) -> Result<Option<Arc<MergedModelList>>> {
        let key = model_list_key(endpoint);
        if let Some(r) = self.model_lists.lock().unwrap().get(key) {
            return Ok(Some(r.clone()));
        }
        let merged = self.store.merged_model_list(endpoint)?.map(Arc::new);
        if let Some(r) = &merged {
            self.model_lists
                .lock()
                .unwrap()
                .insert(key.to_owned(), r.clone());
        }
        Ok(merged)
    }
}

/// An engine error on a JSON-RPC request (MCP), answered as the JSON-RPC error its
/// client can match (see [`crate::mcp`]); any other request keeps the error.
fn jsonrpc_error_answer(body: &[u8], err: Error) -> Result<EngineResponse> {
    match crate::mcp::jsonrpc_error(body, &err) {
        Some((status, body)) => Ok(EngineResponse {
            status: status.as_u16(),
            content_type: Some("application/json".into()),
            headers: Vec::new(),
            body: ResponseBody::Full(body),
            // Answered by the recorder itself, never by the server.
            source: AnswerSource::Replayed,
        }),
        None => Err(err),
    }
}

/// Replaying an open-ended stream (an MCP session's GET): its recorded events, then
/// held open until the client leaves, the session's DELETE or the end of the test.
fn hold_open(scope: &Scope, req: &EngineRequest, mut resp: EngineResponse) -> EngineResponse {
    if !matches!(resp.body, ResponseBody::Stream(..)) {
        return resp;
    }
    let Some(open) = crate::mcp::open_ended(&req.method, &req.headers) else {
        return resp;
    };
    if let ResponseBody::Stream(format, body) = resp.body {
        let stop = scope.open_streams().open(open.session.as_deref());
        resp.body = ResponseBody::Stream(format, crate::mcp::hold_open(body, stop));
    }
    resp
}

/// Builds the response for a recording: bytes as stored, frames one by one.
fn serve(replay: &Replay, timed: bool) -> EngineResponse {
    let body = match &replay.body {
        ReplayBody::Full(b) => ResponseBody::Full(b.clone()),
        ReplayBody::Frames { format, frames } => {
            let frames = frames.clone();
            if timed {
                let s = futures_util::stream::iter(0..frames.len()).then(move |i| {
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
        headers: replay.headers.to_vec(),
        body,
        source: AnswerSource::Replayed,
    }
}

impl Scope {
    /// Counts a replay, remembers its recording as used, and serves it.
    pub(crate) fn replayed(&self, hash: &str, replay: &Replay) -> EngineResponse {
        self.stats.replayed.fetch_add(1, Ordering::Relaxed);
        self.mark_used(hash);
        serve(replay, self.replay_timing)
    }
}

/// The redirects the upstream client follows: those that stay on the origin (scheme,
/// host and port) of the request, at most 10. A redirect to another origin is not
/// followed: whatever the setup's auth (a bearer token, an `x-api-key` header, a
/// `?key=` parameter), the key would go with it. The 3xx is then the answer (see
/// `record::cross_origin_redirect`, which makes it a problem of the test).
fn same_origin_redirects() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let first = attempt.previous().first().map(reqwest::Url::origin);
        if first.as_ref() != Some(&attempt.url().origin()) {
            attempt.stop()
        } else if attempt.previous().len() > 10 {
            attempt.error("more than 10 redirects")
        } else {
            attempt.follow()
        }
    })
}

/// Installs rustls' ring provider as the process default (once, and only if no
/// provider is installed yet), so that HTTPS clients built by tests (ours,
/// async-openai's) work without each test doing it. A test process that installs
/// another provider first (aws-lc-rs, for post-quantum key exchange) keeps it.
pub fn install_crypto_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if rustls::crypto::CryptoProvider::get_default().is_none() {
            // rustls 0.23.48 deprecates ring's provider (no post-quantum key exchange)
            // and names no successor for ring: ring stays this crate's choice (a C
            // compiler builds it; aws-lc-rs needs cmake and a much longer build).
            #[allow(deprecated)]
            let ring = rustls::crypto::ring::default_provider();
            let _ = ring.install_default();
        }
    });
}
