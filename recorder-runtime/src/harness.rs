//! The harness of a generated test: what `#[recorded_test]` expands to calls
//! into this module, through the re-exports of `__private`. Not a public API: it
//! may change with the macro.
//!
//! A test's state has three layers, each owned by the one above:
//! - [`Fixtures`] (here): what the macro knows at compile time ([`TestSpec`]) and
//!   hands out by type: models, the embedding dimension, a [`Client`], the
//!   [`RecordingContext`], a started service. It lives as long as the test body.
//! - [`RecordingContext`] (`context`): the test's handle on recording, public so
//!   tests written without the macro can use it: the test id, the mode, the
//!   clients and base URLs pointed at the recorder.
//! - `Scope` (`engine::scope`): the engine's per-test state that every transport
//!   and the loopback proxy share: secrets, occurrence counters, the id map, the
//!   problems that fail the test at its end.

use crate::client::Client;
use crate::config_cache::config_for;
use crate::context::RecordingContext;
use crate::error::Result;
use crate::mode::Mode;
#[cfg(feature = "proxy")]
use crate::service::Service;
use recorder_config::{Config, SUITE_ENV};
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::pin::Pin;
use std::time::Duration;

use crate::model::Model;

/// Everything the macro knows about one generated test.
#[derive(Debug, Clone, Copy)]
pub struct TestSpec {
    /// `module_path!()` inside the generated module (ends with `::<name>`).
    pub module_path: &'static str,
    /// The annotated function's name.
    pub name: &'static str,
    /// `(kind, model)` of this combination, in the order the attribute lists kinds.
    pub models: &'static [(&'static str, &'static str)],
    /// The setup the models were resolved from.
    pub setup: Option<&'static str>,
    /// A mode pinned by the attribute.
    pub mode: Option<&'static str>,
    /// A timeout pinned by the attribute.
    pub timeout_ms: Option<u64>,
    /// The embedding dimension: the environment's, the setup's, or 768.
    pub embedding_dimension: usize,
    /// `RECORDER_SUITE` when the test was built, which decided what is ignored.
    pub suite: Option<&'static str>,
    /// The module the macro placed the function in (it cannot see `module_path!()`);
    /// under a suite, a test whose real module disagrees fails (see `suite_check`).
    pub placed_in: &'static str,
    /// `env!("CARGO_MANIFEST_DIR")` of the crate holding the test.
    pub manifest_dir: &'static str,
    /// The `recorder.toml` the macro read when it built the test (`None`: none found).
    pub config_file: Option<&'static str>,
    /// `file!()` of the test, for the advice of `config::built_from`.
    pub source_file: &'static str,
    /// Multi-thread tokio runtime instead of current-thread.
    pub multi_thread: bool,
    /// Worker threads of a multi-thread runtime.
    pub worker_threads: Option<usize>,
}

impl TestSpec {
    /// The module path of the annotated function (the generated module's parent).
    pub fn parent_module(&self) -> &'static str {
        self.module_path
            .strip_suffix(self.name)
            .and_then(|p| p.strip_suffix("::"))
            .unwrap_or(self.module_path)
    }

    /// The test id: module path, `::`, name, then `[kind=model,...]` when models are injected.
    pub fn test_id(&self) -> String {
        let mut id = format!("{}::{}", self.parent_module(), self.name);
        if !self.models.is_empty() {
            let combo: Vec<String> = self
                .models
                .iter()
                .map(|(k, m)| format!("{k}={m}"))
                .collect();
            id.push('[');
            id.push_str(&combo.join(","));
            id.push(']');
        }
        id
    }

    /// The `cargo test` filter that runs this function's tests.
    pub fn filter(&self) -> String {
        let parent = self.parent_module();
        let path = parent
            .split_once("::")
            .map(|(_, rest)| format!("{rest}::{}", self.name))
            .unwrap_or_else(|| self.name.to_string());
        path
    }
}

/// What a `Client` parameter of a recorded test can be: the runtime's fixture
/// [`Client`] alone. The macro cannot tell a `Client` imported from another library
/// (`use reqwest::Client;`) from this one, so the types say it, at the parameter.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not the recorder's fixture `Client`: a `Client` parameter of a recorded test gets `recorder_runtime::Client`",
    label = "not `recorder_runtime::Client`",
    note = "to use another client, take `ctx: RecordingContext` and build it from the context: `ctx.reqwest_client()` (feature `reqwest-middleware`), async-openai's `.with_http_service(ctx.openai_service())` (feature `async-openai`), or any client pointed at `ctx.base_url()` or `ctx.ollama_url()`"
)]
pub trait FixtureClient {
    /// The client of `context`.
    fn from_context(context: &RecordingContext) -> Self;
}

impl FixtureClient for Client {
    fn from_context(context: &RecordingContext) -> Self {
        context.client()
    }
}

/// The fixtures of one generated test.
#[derive(Debug, Clone)]
pub struct Fixtures {
    spec: TestSpec,
    context: RecordingContext,
}

impl Fixtures {
    /// The recording context.
    pub fn context(&self) -> RecordingContext {
        self.context.clone()
    }
    /// The fixture client, for a `Client` parameter (whose type must be the
    /// runtime's [`Client`]: see [`FixtureClient`]).
    pub fn client<C: FixtureClient>(&self) -> C {
        C::from_context(&self.context)
    }
    /// The model of a kind in this combination.
    pub fn model(&self, kind: &str) -> Model {
        let id = self
            .spec
            .models
            .iter()
            .find(|(k, _)| *k == kind)
            .map(|(_, m)| *m)
            .unwrap_or_else(|| panic!("no {kind} model in this combination"));
        Model::new(kind, id)
    }
    /// The embedding dimension: `RECORDER_EMBEDDING_DIMENSION`, else the setup's
    /// `embedding_dimension`, else 768 ([`recorder_config::DEFAULT_EMBEDDING_DIMENSION`]).
    pub fn embedding_dimension(&self) -> usize {
        self.spec.embedding_dimension
    }
    #[cfg(feature = "proxy")]
    /// The service under test: `RECORDER_SERVICE`, else the service named like the
    /// test's suite, else the only `[services.<name>]` of `recorder.toml`; started
    /// once per process or reused (see [`crate::service`]).
    pub fn service(&self) -> Service {
        // `None`: RECORDER_SERVICE (read under the test's setup), else by suite.
        self.service_inner(None).unwrap_or_else(|e| {
            panic!(
                "recorded test {}: no service under test: {e}",
                self.spec.test_id()
            )
        })
    }
    #[cfg(feature = "proxy")]
    /// The service `[services.<name>]`.
    pub fn service_named(&self, name: &str) -> Service {
        self.service_inner(Some(name)).unwrap_or_else(|e| {
            panic!(
                "recorded test {}: no service under test: {e}",
                self.spec.test_id()
            )
        })
    }
    #[cfg(feature = "proxy")]
    fn service_inner(&self, name: Option<&str>) -> Result<Service> {
        let start = Path::new(self.spec.manifest_dir);
        let config = config_for(start)?.ok_or_else(|| {
            crate::Error::Setup(crate::error::SetupProblem::NoConfigForServiceParameter {
                start: start.to_path_buf(),
            })
        })?;
        let suite = config
            .suite_for(self.spec.parent_module())
            .map(|s| s.name.clone());
        Service::for_test(&self.context, &config, name, suite.as_deref())
    }
}

/// Why a test is outside suite `suite_env` (`RECORDER_SUITE`; `None`: it is not, or
/// no suite is selected). `module_path` is the test function's module path.
pub fn suite_skip_reason(
    config: Option<&Config>,
    suite_env: Option<&str>,
    module_path: &str,
) -> std::result::Result<Option<String>, recorder_config::ConfigError> {
    let Some(wanted) = suite_env.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    let Some(config) = config else {
        return Err(recorder_config::ConfigError::UnknownSuite {
            name: wanted.to_owned(),
            path: None,
            known: Vec::new(),
        });
    };
    config.suite(wanted)?;
    Ok(match config.suite_for(module_path) {
        Some(suite) if suite.name == wanted => None,
        Some(suite) => Some(format!(
            "not in suite `{wanted}` ({SUITE_ENV}={wanted}): `{module_path}` belongs to suite `{}`",
            suite.name
        )),
        None => Some(format!(
            "not in suite `{wanted}` ({SUITE_ENV}={wanted}): `{module_path}` is in no suite of {}",
            config.path.display()
        )),
    })
}

/// Checks, before the body runs, that the test belongs where it was built to run:
/// `Err` with the message it fails with. A test outside the selected suite never
/// passes without running: the macro generates it ignored; run anyway
/// (`--ignored`), or placed in the wrong module by the macro (a function made by
/// `macro_rules!`), it fails saying why. `now` is `RECORDER_SUITE` at run time.
pub fn suite_check(
    spec: &TestSpec,
    config: Option<&Config>,
    now: Option<&str>,
) -> std::result::Result<(), String> {
    let now = now.map(str::trim).filter(|s| !s.is_empty());
    if now.is_some() && now != spec.suite {
        let built = spec
            .suite
            .map(|s| format!("{SUITE_ENV}={s}"))
            .unwrap_or_else(|| format!("{SUITE_ENV} unset"));
        return Err(format!(
            "recorded test {} was built with {built} but runs with {SUITE_ENV}={}: the tests of a suite are chosen when they are built. Run them through `cargo test` (which rebuilds them when the variable changes) or rebuild with the same {SUITE_ENV}",
            spec.test_id(),
            now.unwrap_or_default(),
        ));
    }
    let Some(wanted) = spec.suite else {
        return Ok(());
    };
    let module = spec.parent_module();
    let Some(reason) =
        suite_skip_reason(config, Some(wanted), module).map_err(|e| e.to_string())?
    else {
        return Ok(());
    };
    let placed_in_suite = config
        .and_then(|c| c.suite_for(spec.placed_in))
        .is_some_and(|s| s.name == wanted);
    Err(if placed_in_suite {
        format!(
            "recorded test {} is {reason}, but #[recorded_test] placed it in module `{}` when it was built: it could not see the function in its file (made by macro_rules!, or in a file reached by include! or #[path]). It fails rather than run as part of the wrong suite: define the function in its module's own file, or run without {SUITE_ENV}",
            spec.test_id(),
            spec.placed_in,
        )
    } else {
        format!(
            "recorded test {} is {reason}: it is generated ignored for that reason, and run anyway (--ignored, --include-ignored) it fails rather than pass without running. Run it without {SUITE_ENV}, or with its own suite",
            spec.test_id(),
        )
    })
}

/// [`suite_check`] with this process's configuration and environment; panics with
/// the message.
fn check_suite_or_panic(spec: &TestSpec) {
    let now = crate::env::suite();
    if spec.suite.is_none() && now.as_deref().map(str::trim).is_none_or(str::is_empty) {
        return;
    }
    let config = config_for(Path::new(spec.manifest_dir))
        .unwrap_or_else(|e| panic!("cannot read recorder.toml for {}: {e}", spec.test_id()));
    if let Err(message) = suite_check(spec, config.as_deref(), now.as_deref()) {
        panic!("{message}");
    }
}

/// What a test function may return: `()` or `Result<(), E: Debug>`.
pub trait TestOutput {
    /// Panics on failure.
    fn into_outcome(self);
}
impl TestOutput for () {
    fn into_outcome(self) {}
}
impl<E: std::fmt::Debug> TestOutput for std::result::Result<(), E> {
    fn into_outcome(self) {
        if let Err(e) = self {
            panic!("test returned an error: {e:?}");
        }
    }
}

fn context_for(spec: &TestSpec) -> Result<RecordingContext> {
    let mut b = RecordingContext::builder(spec.test_id())
        .start_dir(spec.manifest_dir)
        .test_filter(spec.filter());
    if let Some(m) = spec.mode {
        b = b.mode(m.parse::<Mode>()?);
    }
    if let Some(s) = spec.setup {
        b = b.setup(s);
    }
    b.build()
}

fn fixtures(spec: TestSpec) -> Fixtures {
    if let Err(message) = crate::config_cache::built_from(
        Path::new(spec.manifest_dir),
        spec.config_file,
        spec.source_file,
    ) {
        panic!("recorded test {} is out of date: {message}", spec.test_id());
    }
    match context_for(&spec) {
        Ok(context) => {
            // Calls that arrive with this test's id (from a service it drives) use its scope.
            crate::registry::Registry::global().register(context.scope());
            Fixtures { spec, context }
        }
        Err(e) => panic!("cannot set up recorded test {}: {e}", spec.test_id()),
    }
}

/// Ends a test however its body ended: `outcome` is what `catch_unwind` gave.
///
/// A body that panicked (an `unwrap()` on a miss's 404, an `assert!` on a status,
/// a timeout) gets the recorder's explanation printed before its panic goes on,
/// leaving out what its panic message already shows; the panic is resumed as it
/// was (`should_panic` still sees it). A body that returned checks the scope:
/// recordings still being written, then its problems fail the test.
fn conclude(fx: &Fixtures, outcome: std::thread::Result<()>) {
    let outcome = outcome.map(|()| fx.context.finish());
    let saves = fx.context.scope().saves();
    if saves.total() > 0 {
        // Shown with --nocapture (and for a failing test); the process's summary at
        // exit is shown always, and counts this test (see `RecordingContext`'s Drop).
        eprintln!(
            "{}",
            saves.line(&format!("recorder: {}", fx.context.test_id()))
        );
        for change in &saves.changes {
            eprintln!("recorder:   changed: {change}");
        }
        for line in saves.retryable_lines("recorder:   ") {
            eprintln!("{line}");
        }
    }
    // What verify mode found (shown like the saves above); breaking findings are
    // among the problems.
    if let Some(report) =
        crate::drift::test_report(fx.context.test_id(), &fx.context.scope().findings())
    {
        eprint!("{report}");
    }
    let problems = match outcome {
        Ok(problems) => problems,
        Err(payload) => {
            fx.context.report_panic(panic_message(&*payload));
            std::panic::resume_unwind(payload)
        }
    };
    // The usage log feeds `cargo recordings prune`, which judges a test by its last
    // run that ended; a read-only checkout cannot write it, which must not fail
    // the test.
    if let Err(e) = fx.context.scope().record_use() {
        eprintln!("note: recordings usage log not written: {e}");
    }
    if !problems.is_empty() {
        panic!(
            "recorded test {} failed:\n{}",
            fx.context.test_id(),
            problems.join("\n\n")
        );
    }
}

/// The text of a panic's payload (`panic!` with a message gives a `String` or a
/// `&str`; anything else has no text).
fn panic_message(payload: &(dyn std::any::Any + Send)) -> &str {
    payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied())
        .unwrap_or("")
}

/// Runs an async test body on its own tokio runtime, then checks the scope.
///
/// The whole run is inside one `catch_unwind`: a panic of the body (on this
/// thread, where `block_on` polls it, for either flavor), of a spawned task the
/// body awaits, a timeout, or an `Err` the body returned all reach `conclude`
/// the same way. The runtime is dropped inside too, so that the tasks the body
/// spawned are gone (and their clones of the context with them) before the test
/// is concluded.
pub fn run_async<F, Fut, T>(spec: TestSpec, body: F)
where
    F: FnOnce(Fixtures) -> Fut,
    Fut: Future<Output = T>,
    T: TestOutput,
{
    // Only this wrapper is generic: the runtime's building and `block_on` (tokio's
    // scheduler code, for both flavors, with and without a timeout) are compiled once
    // here, not in each crate of tests (the macro's bodies share one type per output
    // type, so it was once per crate, about 0.06 s of its build).
    run_boxed(
        spec,
        Box::new(|fx| Box::pin(async move { body(fx).await.into_outcome() })),
    );
}

/// A test body whose output is already checked, boxed: one type for every test.
type BoxedBody<'a> = Box<dyn FnOnce(Fixtures) -> Pin<Box<dyn Future<Output = ()> + 'a>> + 'a>;

fn run_boxed(spec: TestSpec, body: BoxedBody<'_>) {
    check_suite_or_panic(&spec);
    let fx = fixtures(spec);
    let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| {
        let mut builder = if spec.multi_thread {
            tokio::runtime::Builder::new_multi_thread()
        } else {
            tokio::runtime::Builder::new_current_thread()
        };
        if let (true, Some(n)) = (spec.multi_thread, spec.worker_threads) {
            builder.worker_threads(n);
        }
        let rt = builder
            .enable_all()
            .build()
            .expect("a tokio runtime for the test");
        let fut = body(fx.clone());
        match spec.timeout_ms {
            Some(ms) => rt
                .block_on(async { tokio::time::timeout(Duration::from_millis(ms), fut).await })
                .unwrap_or_else(|_| panic!("test {} timed out after {ms} ms", spec.test_id())),
            None => rt.block_on(fut),
        }
        drop(rt);
    }));
    conclude(&fx, outcome);
}

/// Runs a plain test body, then checks the scope (see [`run_async`]).
pub fn run_sync<F, T>(spec: TestSpec, body: F)
where
    F: FnOnce(Fixtures) -> T,
    T: TestOutput,
{
    check_suite_or_panic(&spec);
    let fx = fixtures(spec);
    let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| body(fx.clone()).into_outcome()));
    conclude(&fx, outcome);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        Config::parse(
            r#"
            [setups.local]
            [suites.base]
            roots = ["chat", "embeddings"]
            setup = "local"
            [suites.streaming]
            roots = ["chat::streaming"]
            [suites.service]
            roots = ["service"]
            "#,
            Path::new("/p/recorder.toml"),
        )
        .unwrap()
    }

    #[test]
    fn without_a_suite_every_test_runs() {
        assert_eq!(
            suite_skip_reason(Some(&config()), None, "chat").unwrap(),
            None
        );
        assert_eq!(
            suite_skip_reason(Some(&config()), Some("  "), "anything").unwrap(),
            None
        );
        assert_eq!(suite_skip_reason(None, None, "chat").unwrap(), None);
    }

    #[test]
    fn a_suite_runs_its_own_tests_only() {
        let c = config();
        let run = |suite: &str, path: &str| suite_skip_reason(Some(&c), Some(suite), path).unwrap();
        assert_eq!(run("base", "chat"), None);
        assert_eq!(run("base", "embeddings::batch"), None);
        assert_eq!(run("service", "examples::service"), None);
        // The most specific root wins.
        let reason = run("base", "chat::streaming").unwrap();
        assert!(reason.contains("belongs to suite `streaming`"), "{reason}");
        assert_eq!(run("streaming", "chat::streaming::inner"), None);
        let reason = run("base", "rerank").unwrap();
        assert!(
            reason.contains("in no suite") && reason.contains("RECORDER_SUITE=base"),
            "{reason}"
        );
        assert!(run("service", "chat").is_some());
    }

    #[test]
    fn an_unknown_suite_is_an_error_naming_the_known_ones() {
        let err = suite_skip_reason(Some(&config()), Some("vision"), "chat")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("vision") && err.contains("`base`") && err.contains("`service`"),
            "{err}"
        );
        let err = suite_skip_reason(None, Some("base"), "chat")
            .unwrap_err()
            .to_string();
        assert!(err.contains("no recorder.toml"), "{err}");
    }

    fn spec(
        module_path: &'static str,
        suite: Option<&'static str>,
        placed_in: &'static str,
    ) -> TestSpec {
        TestSpec {
            module_path,
            name: "answers",
            models: &[("text", "m")],
            setup: None,
            mode: None,
            timeout_ms: None,
            embedding_dimension: 768,
            suite,
            placed_in,
            manifest_dir: "/nowhere",
            config_file: None,
            source_file: "tests/chat.rs",
            multi_thread: false,
            worker_threads: None,
        }
    }

    #[test]
    fn the_parent_module_is_what_suites_match() {
        let spec = spec("service::answers", None, "service");
        assert_eq!(spec.parent_module(), "service");
        assert_eq!(
            suite_skip_reason(Some(&config()), Some("service"), spec.parent_module()).unwrap(),
            None
        );
    }

    #[test]
    fn tests_of_the_suite_run() {
        let c = config();
        assert_eq!(
            suite_check(&spec("chat::answers", None, "chat"), Some(&c), None),
            Ok(())
        );
        let base = spec("examples::chat::answers", Some("base"), "examples::chat");
        assert_eq!(suite_check(&base, Some(&c), Some("base")), Ok(()));
        // Run directly, without the variable: the suite it was built for holds.
        assert_eq!(suite_check(&base, Some(&c), None), Ok(()));
    }

    #[test]
    fn a_test_outside_the_suite_fails_rather_than_passing() {
        let c = config();
        // Generated ignored, then run with --ignored.
        let ignored = spec(
            "examples::service::answers",
            Some("base"),
            "examples::service",
        );
        let err = suite_check(&ignored, Some(&c), Some("base")).unwrap_err();
        assert_eq!(
            err,
            "recorded test examples::service::answers[text=m] is not in suite `base` (RECORDER_SUITE=base): `examples::service` belongs to suite `service`: it is generated ignored for that reason, and run anyway (--ignored, --include-ignored) it fails rather than pass without running. Run it without RECORDER_SUITE, or with its own suite"
        );
        // Placed in the suite by the macro, but really elsewhere (macro_rules!).
        let misplaced = spec(
            "examples::chat::streaming::answers",
            Some("base"),
            "examples::chat",
        );
        let err = suite_check(&misplaced, Some(&c), Some("base")).unwrap_err();
        assert!(
            err.contains("belongs to suite `streaming`")
                && err.contains("placed it in module `examples::chat`")
                && err.contains("macro_rules!"),
            "{err}"
        );
    }

    #[test]
    fn a_binary_built_for_another_suite_fails() {
        let c = config();
        let unset = spec("chat::answers", None, "chat");
        let err = suite_check(&unset, Some(&c), Some("base")).unwrap_err();
        assert!(
            err.contains("built with RECORDER_SUITE unset but runs with RECORDER_SUITE=base"),
            "{err}"
        );
        let base = spec("chat::answers", Some("base"), "chat");
        let err = suite_check(&base, Some(&c), Some("service")).unwrap_err();
        assert!(
            err.contains("built with RECORDER_SUITE=base but runs with RECORDER_SUITE=service"),
            "{err}"
        );
        assert_eq!(suite_check(&base, Some(&c), Some(" base ")), Ok(()));
    }
}
