//! What `#[recorded_test]` expands to calls into this module. Not a public API:
//! it may change with the macro.

use crate::client::Client;
use crate::context::RecordingContext;
use crate::error::Result;
use crate::mode::Mode;
use std::future::Future;
use std::time::Duration;

pub use recorder_config::Kind;

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
    /// The embedding dimension, when configured.
    pub embedding_dimension: Option<usize>,
    /// `env!("CARGO_MANIFEST_DIR")` of the crate holding the test.
    pub manifest_dir: &'static str,
    /// Multi-thread tokio runtime instead of current-thread.
    pub multi_thread: bool,
    /// Worker threads of a multi-thread runtime.
    pub worker_threads: Option<usize>,
}

impl TestSpec {
    /// The module path of the annotated function (the generated module's parent).
    pub fn parent_module(&self) -> &'static str {
        self.module_path.strip_suffix(self.name).and_then(|p| p.strip_suffix("::")).unwrap_or(self.module_path)
    }

    /// The test id: module path, `::`, name, then `[kind=model,...]` when models are injected.
    pub fn test_id(&self) -> String {
        let mut id = format!("{}::{}", self.parent_module(), self.name);
        if !self.models.is_empty() {
            let combo: Vec<String> = self.models.iter().map(|(k, m)| format!("{k}={m}")).collect();
            id.push('[');
            id.push_str(&combo.join(","));
            id.push(']');
        }
        id
    }

    /// The `cargo test` filter that runs this function's tests.
    pub fn filter(&self) -> String {
        let parent = self.parent_module();
        let path = parent.split_once("::").map(|(_, rest)| format!("{rest}::{}", self.name)).unwrap_or_else(|| self.name.to_string());
        path
    }
}

/// A model injected into a test.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Model {
    id: String,
    kind: String,
}

impl Model {
    /// A model of a kind.
    pub fn new(kind: &str, id: &str) -> Self {
        Model { id: id.into(), kind: kind.into() }
    }
    /// Its id, as the API names it.
    pub fn id(&self) -> &str {
        &self.id
    }
    /// Its kind (`text`, `embedding`, ...).
    pub fn kind(&self) -> &str {
        &self.kind
    }
}

impl std::ops::Deref for Model {
    type Target = str;
    fn deref(&self) -> &str {
        &self.id
    }
}
impl AsRef<str> for Model {
    fn as_ref(&self) -> &str {
        &self.id
    }
}
impl std::fmt::Display for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.id)
    }
}
impl From<Model> for String {
    fn from(m: Model) -> String {
        m.id
    }
}
impl From<&Model> for String {
    fn from(m: &Model) -> String {
        m.id.clone()
    }
}
impl PartialEq<str> for Model {
    fn eq(&self, other: &str) -> bool {
        self.id == other
    }
}
impl PartialEq<&str> for Model {
    fn eq(&self, other: &&str) -> bool {
        self.id == *other
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
    /// The fixture client.
    pub fn client(&self) -> Client {
        self.context.client()
    }
    /// The model of a kind in this combination.
    pub fn model(&self, kind: &str) -> Model {
        let id = self.spec.models.iter().find(|(k, _)| *k == kind).map(|(_, m)| *m).unwrap_or_else(|| panic!("no {kind} model in this combination"));
        Model::new(kind, id)
    }
    /// The embedding dimension (panics with advice when none is configured).
    pub fn embedding_dimension(&self) -> usize {
        self.spec.embedding_dimension.unwrap_or_else(|| panic!("no embedding dimension configured: set RECORDER_EMBEDDING_DIMENSION or embedding_dimension in the setup"))
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
    let mut b = RecordingContext::builder(spec.test_id()).start_dir(spec.manifest_dir).test_filter(spec.filter());
    if let Some(m) = spec.mode {
        b = b.mode(m.parse::<Mode>()?);
    }
    if let Some(s) = spec.setup {
        b = b.setup(s);
    }
    b.build()
}

fn fixtures(spec: TestSpec) -> Fixtures {
    match context_for(&spec) {
        Ok(context) => Fixtures { spec, context },
        Err(e) => panic!("cannot set up recorded test {}: {e}", spec.test_id()),
    }
}

fn conclude(fx: &Fixtures) {
    let problems = fx.context.finish();
    // RECORD_USE_HOOK
    if !problems.is_empty() {
        panic!("recorded test {} failed:\n{}", fx.context.test_id(), problems.join("\n\n"));
    }
}

/// Runs an async test body on its own tokio runtime, then checks the scope.
pub fn run_async<F, Fut, T>(spec: TestSpec, body: F)
where
    F: FnOnce(Fixtures) -> Fut,
    Fut: Future<Output = T>,
    T: TestOutput,
{
    let fx = fixtures(spec);
    let mut builder = if spec.multi_thread { tokio::runtime::Builder::new_multi_thread() } else { tokio::runtime::Builder::new_current_thread() };
    if let (true, Some(n)) = (spec.multi_thread, spec.worker_threads) {
        builder.worker_threads(n);
    }
    let rt = builder.enable_all().build().expect("a tokio runtime for the test");
    let fut = body(fx.clone());
    let out = match spec.timeout_ms {
        Some(ms) => rt.block_on(async { tokio::time::timeout(Duration::from_millis(ms), fut).await }).unwrap_or_else(|_| panic!("test {} timed out after {ms} ms", spec.test_id())),
        None => rt.block_on(fut),
    };
    drop(rt);
    out.into_outcome();
    conclude(&fx);
}

/// Runs a plain test body, then checks the scope.
pub fn run_sync<F, T>(spec: TestSpec, body: F)
where
    F: FnOnce(Fixtures) -> T,
    T: TestOutput,
{
    let fx = fixtures(spec);
    body(fx.clone()).into_outcome();
    conclude(&fx);
}
