//! The recording context: one per test, holding its scope (test id, mode, target)
//! and handing out what the test uses to reach the engine: base URLs for any HTTP
//! client, the fixture [`Client`], and in-process transports.
//!
//! A test without `#[recorded_test]` ends with `assert!(ctx.finish().is_empty())`.
//! Problems that [`RecordingContext::finish`] never returned (the test panicked on
//! a miss's 404 first, or never called it) are printed when the last clone of the
//! context is dropped, so that a miss is explained whatever the test did.
//!
//! ```no_run
//! use recorder_runtime::RecordingContext;
//! let ctx = RecordingContext::new("my_crate::chat::answers").unwrap();
//! let openai_base = ctx.base_url();   // http://127.0.0.1:<port>/s/<token>/v1
//! let ollama_base = ctx.ollama_url(); // http://127.0.0.1:<port>/s/<token>
//! // A setup's further upstreams (recorder.toml: upstreams = { mcp = "..." }):
//! // let mcp = ctx.upstream_url("mcp");  // http://127.0.0.1:<port>/s/<token>/up/mcp
//! let client = ctx.client();
//! // ... the test's requests ...
//! assert!(ctx.finish().is_empty());
//! ```

use crate::client::Client;
use crate::config_cache::config_for;
pub use crate::engine::Counts;
use crate::engine::{Engine, Scope, ScopeOptions, Target};
use crate::error::Result;
use crate::mode::Mode;
use recorder_config::Config;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
#[cfg(feature = "proxy")]
use std::sync::OnceLock;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

/// Everything one test needs to record and replay.
#[derive(Clone, Debug)]
pub struct RecordingContext {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    scope: Arc<Scope>,
    #[cfg(feature = "proxy")]
    proxy_base: OnceLock<String>,
    /// How many of the scope's problems (kept in order) were handed out by
    /// [`RecordingContext::finish`] or printed; the others are printed when the last
    /// clone of the context is dropped.
    reported: AtomicUsize,
}

impl Inner {
    /// Prints the problems not handed out yet, leaving out those `shown` holds
    /// already (a panic message that carries the miss its client returned), and
    /// marks them all reported. `failed`: the test failed (it is panicking).
    fn report_unreported(&self, failed: bool, shown: &str) {
        let problems = self.scope.problems();
        let from = self
            .reported
            .swap(problems.len(), Ordering::SeqCst)
            .min(problems.len());
        let unshown: Vec<&str> = problems[from..]
            .iter()
            .map(String::as_str)
            .filter(|p| !shown.contains(p))
            .collect();
        if unshown.is_empty() {
            return;
        }
        let what = if unshown.len() == 1 {
            "this problem"
        } else {
            "these problems"
        };
        let id = self.scope.test_id();
        let head = if failed {
            format!(
                "recorded test {id} failed; the recorder had met {what} first, the likely cause:"
            )
        } else {
            format!("recorder: test {id} ended with {what}, which nothing checked, so it did not fail (fail it on them with RecordingContext::finish(), as #[recorded_test] does):")
        };
        // eprintln!: libtest captures it with the test's output, after its panic message.
        eprintln!("\n{head}\n{}", unshown.join("\n\n"));
    }
}

impl Drop for Inner {
    /// Tests written without `#[recorded_test]` get the explanation too: when the
    /// last clone of their context goes, a panic unwinding (an `unwrap()` on a
    /// miss's 404) or the test's end. It also counts the test for the process's
    /// summary of what was recorded.
    fn drop(&mut self) {
        let failed = std::thread::panicking();
        if self.scope.saves().total() > 0 {
            crate::report::count_test(self.scope.test_id(), failed);
        }
        self.report_unreported(failed, "");
    }
}

/// Builds a [`RecordingContext`] with explicit settings; unset ones come from the
/// environment and `recorder.toml`.
#[derive(Debug, Default, Clone)]
pub struct ContextBuilder {
    test_id: String,
    mode: Option<Mode>,
    dir: Option<PathBuf>,
    setup: Option<String>,
    target: Option<Target>,
    start: Option<PathBuf>,
    test_filter: Option<String>,
}

impl ContextBuilder {
    /// Pins the mode (instead of `RECORD_MODE`).
    pub fn mode(mut self, mode: Mode) -> Self {
        self.mode = Some(mode);
        self
    }
    /// Pins the recordings folder (instead of `RECORDING_DIR` or the default).
    pub fn dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.dir = Some(dir.into());
        self
    }
    /// Chooses a setup of `recorder.toml` by name.
    pub fn setup(mut self, name: impl Into<String>) -> Self {
        self.setup = Some(name.into());
        self
    }
    support! {
        /// Sets the upstream directly (no `recorder.toml` needed).
        pub fn target(mut self, target: Target) -> Self {
            self.target = Some(target);
            self
        }
    }
    /// Where to look for `recorder.toml` and the workspace (default: `CARGO_MANIFEST_DIR`, else the current dir).
    pub fn start_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.start = Some(dir.into());
        self
    }
    /// The `cargo test` filter that runs this test alone (shown in miss messages).
    pub fn test_filter(mut self, filter: impl Into<String>) -> Self {
        self.test_filter = Some(filter.into());
        self
    }

    /// Builds the context.
    pub fn build(self) -> Result<RecordingContext> {
        crate::store::check_test_id(&self.test_id)?;
        let start = self
            .start
            .clone()
            .or_else(|| std::env::var_os("CARGO_MANIFEST_DIR").map(PathBuf::from))
            .unwrap_or_else(|| std::env::current_dir().unwrap_or_default());
        // A malformed RECORDER_ENV fails every test, naming the bad entry.
        crate::env::check()?;
        let config = config_for(&start)?;
        let target = match self.target {
            Some(t) => t,
            None => target_for(
                config.as_deref(),
                self.setup.as_deref(),
                module_of(&self.test_id),
            )?,
        };
        if let Some((var, like)) = crate::env::misspelled(target.env.keys().map(String::as_str)) {
            return Err(crate::Error::Setup(
                crate::error::SetupProblem::MisspelledVariable {
                    var: var.to_owned(),
                    place: "the setup's env (recorder.toml)",
                    like,
                },
            ));
        }
        // Read under the test's setup: its `env` gives defaults.
        let vars = target.vars();
        let mode = match self.mode {
            Some(m) => m,
            None => vars.mode()?,
        };
        let dir = match self.dir {
            Some(d) => d,
            None => recordings_dir_under(&start, &vars),
        };
        let mut options = ScopeOptions::default();
        if let Some(f) = self.test_filter {
            options = options.test_filter(f);
        }
        let scope = Scope::with_options(engine_for(&dir), self.test_id, mode, target, options);
        Ok(RecordingContext {
            inner: Arc::new(Inner {
                scope,
                #[cfg(feature = "proxy")]
                proxy_base: OnceLock::new(),
                reported: AtomicUsize::new(0),
            }),
        })
    }
}

impl RecordingContext {
    /// A context for `test_id` with settings from the environment and `recorder.toml`.
    pub fn new(test_id: impl Into<String>) -> Result<RecordingContext> {
        Self::builder(test_id).build()
    }

    /// A builder for explicit settings.
    pub fn builder(test_id: impl Into<String>) -> ContextBuilder {
        ContextBuilder {
            test_id: test_id.into(),
            ..Default::default()
        }
    }

    /// The test id that scopes this test's recordings.
    pub fn test_id(&self) -> &str {
        self.inner.scope.test_id()
    }
    /// The mode.
    pub fn mode(&self) -> Mode {
        self.inner.scope.mode()
    }
    /// The folder holding this test's recordings.
    pub fn scope_dir(&self) -> PathBuf {
        self.inner.scope.dir()
    }
    /// The recordings root folder.
    pub fn recordings_dir(&self) -> &Path {
        self.inner.scope.engine().store().root()
    }
    support! {
        /// The engine scope (for transports).
        pub fn scope(&self) -> &Arc<Scope> {
            &self.inner.scope
        }
    }

    #[cfg(feature = "proxy")]
    fn proxy_base(&self) -> &str {
        self.inner
            .proxy_base
            .get_or_init(|| crate::proxy::Proxy::global().register(&self.inner.scope))
    }

    /// The root URL of this test on the loopback proxy, for Ollama clients. It ends
    /// in `/`, because some clients (ollama-rs) append `api/chat` to it as is
    /// (feature `proxy`, on by default).
    #[cfg(feature = "proxy")]
    pub fn ollama_url(&self) -> String {
        format!("{}/", self.proxy_base())
    }

    /// The OpenAI-style base URL of this test on the loopback proxy (`.../v1`), for
    /// any HTTP client or language (feature `proxy`, on by default).
    #[cfg(feature = "proxy")]
    pub fn base_url(&self) -> String {
        format!("{}/v1", self.proxy_base())
    }

    /// The environment a command needs to reach this test's recorder:
    /// `RECORDER_URL`, for `cargo recordings mcp-stdio` launched in a stdio server's
    /// place by a client the test runs (a Node or Python MCP client, say). Set it on
    /// that command (never with `std::env::set_var`: tests run in parallel); the
    /// client must pass it on to the servers it launches (MCP SDKs pass a server only
    /// the environment they are given). Feature `proxy`, on by default.
    ///
    /// ```no_run
    /// # let ctx = recorder_runtime::RecordingContext::new("my_crate::agent::uses_tools").unwrap();
    /// // The client launches `cargo recordings mcp-stdio -- node server.js` as its server.
    /// let status = std::process::Command::new("python")
    ///     .args(["client.py", "--server", "cargo recordings mcp-stdio -- node server.js"])
    ///     .envs(ctx.recorder_env())
    ///     .status()
    ///     .unwrap();
    /// ```
    #[cfg(feature = "proxy")]
    pub fn recorder_env(&self) -> Vec<(String, String)> {
        vec![(
            crate::stdio::URL_VAR.to_owned(),
            self.proxy_base().to_owned(),
        )]
    }

    /// A server a client launches and talks to over stdio (an MCP server), as this
    /// test's client sees it: bytes to its stdin, bytes from its stdout, recorded
    /// under the endpoint `/up/NAME` (see [`crate::stdio`]). `command` runs only in the
    /// modes that call upstream; replay never starts it. The credentials set on it
    /// (`command.env("GITHUB_TOKEN", ...)`) are secrets of the test. An error: `name`
    /// cannot name an upstream, or the server cannot be started.
    ///
    /// ```no_run
    /// # async fn demo(ctx: recorder_runtime::RecordingContext) {
    /// let mut command = tokio::process::Command::new("node");
    /// command.arg("server.js");
    /// let server = ctx.stdio_server("files", command).unwrap();
    /// // ... write JSON-RPC lines to it, read the answers ...
    /// server.close().await.unwrap();
    /// # }
    /// ```
    ///
    /// Feature `stdio` (`rmcp` turns it on).
    #[cfg(feature = "stdio")]
    pub fn stdio_server(
        &self,
        name: &str,
        command: tokio::process::Command,
    ) -> Result<crate::stdio::StdioServer> {
        crate::stdio::StdioServer::start(&self.inner.scope, name, command)
    }

    /// An MCP server over stdio as a transport of rmcp, the Rust MCP SDK, in place of
    /// rmcp's `TokioChildProcess`: [`RecordingContext::stdio_server`] with rmcp's line
    /// codec. Feature `rmcp`.
    ///
    /// ```no_run
    /// # async fn demo(ctx: recorder_runtime::RecordingContext) {
    /// use rmcp::ServiceExt;
    /// let mut command = tokio::process::Command::new("python");
    /// command.args(["server.py", "stdio"]);
    /// let mcp = ().serve(ctx.mcp_stdio("mcp", command).unwrap()).await.unwrap();
    /// let tools = mcp.list_all_tools().await.unwrap();
    /// mcp.cancel().await.unwrap();
    /// # }
    /// ```
    #[cfg(feature = "rmcp")]
    pub fn mcp_stdio(
        &self,
        name: &str,
        command: tokio::process::Command,
    ) -> Result<crate::stdio::McpStdio> {
        self.stdio_server(name, command).map(Into::into)
    }

    /// Without the `stdio` feature: a call is a compile error naming the feature (a
    /// method that is not there would only be "no method named `stdio_server`").
    #[cfg(not(feature = "stdio"))]
    #[doc(hidden)]
    pub fn stdio_server<C: crate::stdio::NeedsStdioFeature>(
        &self,
        _name: &str,
        _command: C,
    ) -> Result<std::convert::Infallible> {
        unreachable!("no type implements NeedsStdioFeature")
    }

    /// Without the `rmcp` feature: a call is a compile error naming the feature.
    #[cfg(not(feature = "rmcp"))]
    #[doc(hidden)]
    pub fn mcp_stdio<C: crate::stdio::NeedsRmcpFeature>(
        &self,
        _name: &str,
        _command: C,
    ) -> Result<std::convert::Infallible> {
        unreachable!("no type implements NeedsRmcpFeature")
    }

    /// The URL of this test's upstream `name` on the loopback proxy (a setup's
    /// `upstreams` in `recorder.toml`: an MCP server, a tool API, a second provider),
    /// with no trailing `/`: `http://127.0.0.1:<port>/s/<token>/up/<name>`. Requests
    /// to it and below it go to the upstream's URL and below it, with the upstream's
    /// own key and headers, and are recorded in this test's folder under the endpoint
    /// `/up/<name>/...` (never the upstream's URL). Feature `proxy`, on by default.
    ///
    /// # Panics
    /// When the setup names no upstream `name`, with a message naming the setup and
    /// the upstreams it has: a typo fails the test at once, as a test author wants.
    /// [`RecordingContext::try_upstream_url`] returns the error instead.
    ///
    /// ```no_run
    /// # let ctx = recorder_runtime::RecordingContext::new("my_crate::agent::uses_tools").unwrap();
    /// // recorder.toml: [setups.agent] upstreams = { mcp = "http://127.0.0.1:8931/mcp" }
    /// let mcp = ctx.upstream_url("mcp"); // http://127.0.0.1:<port>/s/<token>/up/mcp
    /// ```
    #[cfg(feature = "proxy")]
    pub fn upstream_url(&self, name: &str) -> String {
        self.try_upstream_url(name)
            .unwrap_or_else(|e| panic!("ctx.upstream_url(\"{name}\"): {e}"))
    }

    /// [`RecordingContext::upstream_url`], with an unknown name as an error (naming
    /// the setup and its upstreams) instead of a panic.
    #[cfg(feature = "proxy")]
    pub fn try_upstream_url(&self, name: &str) -> Result<String> {
        self.inner.scope.target().upstream(name)?;
        Ok(format!(
            "{}{}{name}",
            self.proxy_base(),
            crate::engine::target::UPSTREAM_PREFIX
        ))
    }

    /// The fixture client: typed, in-process (no socket).
    pub fn client(&self) -> Client {
        Client::new(self.inner.scope.clone())
    }

    /// What this test has served so far: replayed, recorded, live, missed.
    pub fn counts(&self) -> Counts {
        self.inner.scope.counts()
    }

    /// Waits for recordings still being written and returns the problems seen
    /// (misses, broken files). The macro fails the test when this is not empty; a
    /// test written without it should too. Problems it never returned are printed
    /// when the context is dropped (with the test's panic, if it panicked first).
    pub fn finish(&self) -> Vec<String> {
        let problems = self.inner.scope.finish(Duration::from_secs(120));
        self.inner
            .reported
            .fetch_max(problems.len(), Ordering::SeqCst);
        problems
    }

    /// For a test that panicked: prints the problems not reported yet and not
    /// already in `panic_message`, before the panic goes on.
    pub(crate) fn report_panic(&self, panic_message: &str) {
        self.inner.report_unreported(true, panic_message);
    }
}

/// One engine per recordings folder per process, so its caches are shared.
fn engine_for(dir: &Path) -> Arc<Engine> {
    static ENGINES: LazyLock<Mutex<HashMap<PathBuf, Arc<Engine>>>> =
        LazyLock::new(Default::default);
    ENGINES
        .lock()
        .unwrap()
        .entry(dir.to_path_buf())
        .or_insert_with(|| Engine::new(dir))
        .clone()
}

support! {
    /// The upstream of the setup in effect for a test in `module_path` (see
    /// [`recorder_config::choose_setup`]): the one named (`setup`), else `RECORDER_SETUP`,
    /// else the test's suite's, else `default_setup`; no setup gives [`Target::default`].
    ///
    /// ```
    /// # use std::path::Path;
    /// let config = recorder_config::Config::parse(
    ///     "default_setup = \"a\"\n[setups.a]\nbase_url = \"http://127.0.0.1:9/v1\"\n[setups.b]\n",
    ///     Path::new("recorder.toml"),
    /// )?;
    /// let target = recorder_runtime::context::target_for(Some(&config), Some("b"), None)?;
    /// assert_eq!(target.setup.as_deref(), Some("b"));
    /// # Ok::<(), recorder_runtime::error::Error>(())
    /// ```
    pub fn target_for(
        config: Option<&Config>,
        setup: Option<&str>,
        module_path: Option<&str>,
    ) -> Result<Target> {
        let choice = recorder_config::choose_setup(
            config,
            setup.map(|name| (name, "the test's setup")),
            module_path,
            &recorder_config::ProcessEnv,
        )?;
        Ok(choice.map_or_else(Target::default, |c| Target::from_setup(c.setup)))
    }
}

/// The module path of a test id (`a::b::name[text=m]` -> `a::b`), which decides its
/// suite; `None` for an id without one.
fn module_of(test_id: &str) -> Option<&str> {
    let name = test_id.split('[').next().unwrap_or(test_id);
    name.rsplit_once("::").map(|(module, _)| module)
}

support! {
    /// The recordings folder: `RECORDING_DIR`, else `recordings/` next to
    /// `recorder.toml` (searched upward from `start`), else at the root of the Cargo
    /// workspace holding `start` ([`recorder_config::workspace_root`]), else in `start`.
    pub fn recordings_dir(start: &Path) -> PathBuf {
        recordings_dir_under(start, crate::env::Vars::process())
    }
}

/// [`recordings_dir`] with `RECORDING_DIR` read from `vars`.
fn recordings_dir_under(start: &Path, vars: &crate::env::Vars) -> PathBuf {
    if let Some(d) = vars.recording_dir() {
        return d;
    }
    match recorder_config::find_file(start)
        .as_deref()
        .and_then(Path::parent)
    {
        Some(root) => root.join("recordings"),
        None => recorder_config::workspace_root(start)
            .unwrap_or_else(|| start.to_path_buf())
            .join("recordings"),
    }
}

/// The in-process transports of a test (module [`crate::transport`]).
#[cfg(any(feature = "async-openai", feature = "reqwest-middleware"))]
impl RecordingContext {
    #[cfg(feature = "async-openai")]
    /// A tower service for async-openai's `Client::with_http_service`: requests go
    /// to the engine in process, no socket (feature `async-openai`).
    ///
    /// ```no_run
    /// # fn demo(ctx: recorder_runtime::RecordingContext) {
    /// use async_openai::{config::OpenAIConfig, Client};
    /// let openai = Client::with_config(OpenAIConfig::new()).with_http_service(ctx.openai_service());
    /// # }
    /// ```
    pub fn openai_service(&self) -> crate::transport::OpenAiService {
        crate::transport::OpenAiService::new(crate::transport::ScopeSource::Fixed(
            self.scope().clone(),
        ))
    }

    #[cfg(feature = "reqwest-middleware")]
    /// A reqwest-middleware `Middleware` that routes every request to the engine
    /// (feature `reqwest-middleware`).
    pub fn middleware(&self) -> crate::transport::RecorderMiddleware {
        crate::transport::RecorderMiddleware::new(crate::transport::ScopeSource::Fixed(
            self.scope().clone(),
        ))
    }

    #[cfg(feature = "reqwest-middleware")]
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
