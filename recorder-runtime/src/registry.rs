//! Which scope a test id means: the registry of the test process's running tests, and
//! the standalone recorder of `cargo recordings serve`.
//!
//! Requests that arrive with a test id rather than through a test's own base URL (the
//! loopback proxy's root, the in-process transports of a service running in the test
//! process) are served by the scope this registry gives for their id.
//!
//! A standalone recorder also knows which test is running for requests that carry no
//! id (a third-party service that does not forward the header): the test runner says
//! so with [`Registry::begin`] and [`Registry::end`] (`serve`'s control endpoint, see
//! [`crate::control`]), one test at a time. Requests without an id while no test runs
//! go to the shared scope (`_shared/`), with a warning once per endpoint.
//!
//! ```
//! use recorder_runtime::registry::Registry;
//! use recorder_runtime::engine::Target;
//! use recorder_runtime::Mode;
//! let serve = Registry::new(std::env::temp_dir().join("recordings-doc"), Mode::Replay, Target::default());
//! assert_eq!(serve.scope_for_id("my::test").unwrap().test_id(), "my::test");
//! ```

use crate::engine::{Counts, Engine, Scope, ScopeOptions, ScopeResolver, Target};
use crate::error::{Error, Result, RoutingProblem};
use crate::mode::Mode;
use recorder_propagate::current_test_id;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, LazyLock, Mutex, Weak};

/// Maps test ids to engine scopes for requests that arrive with a test id rather
/// than through a test's own base URL: the loopback proxy's fallback and the
/// in-process transports built with `transport::ScopeSource::Current`
/// (through [`ScopeResolver`]).
///
/// - [`Registry::global`], in a test process: only the scopes of tests that are
///   running ([`Registry::register`]; the macro registers every test). A test id
///   that is not running is an error, so a late call from a service never records
///   outside its test.
/// - [`Registry::new`], for a standalone recorder (`recordings serve`): any test id
///   gets a scope over its folder, mode and upstream. It keeps at most
///   [`Registry::with_limits`]' number of scopes: past it, the scopes that have served
///   nothing for longest and have nothing in flight are finished (their use recorded)
///   and dropped, so a long-running server stays bounded. (A test that comes back
///   after that starts again from its first occurrence of each request.)
pub struct Registry {
    default: Option<(Arc<Engine>, Mode, Target)>,
    scopes: Mutex<HashMap<String, (Arc<Scope>, std::time::Instant)>>,
    live: Mutex<HashMap<String, Weak<Scope>>>,
    max_scopes: usize,
    on_problem: Option<crate::engine::scope::ProblemSink>,
    /// The test that requests without a test id belong to ([`Registry::begin`]); held
    /// here, so never evicted while it runs.
    active: Mutex<Option<Arc<Scope>>>,
    /// Requests without a test id served while no test was running, by endpoint
    /// (`POST /v1/chat/completions`).
    untagged: Mutex<BTreeMap<String, usize>>,
    /// What the scopes that left (evicted, ended) served.
    retired: Mutex<Counts>,
}

/// Why [`Registry::begin`] or [`Registry::end`] refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ControlError {
    /// Not now: another test is running, or none is.
    Conflict(String),
    /// Never: the test id is unusable, or the recorder is not a standalone one.
    Invalid(String),
}

impl std::fmt::Display for ControlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ControlError::Conflict(m) | ControlError::Invalid(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for ControlError {}

/// What a test served between [`Registry::begin`] and [`Registry::end`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ended {
    /// The test.
    pub test_id: String,
    /// What it served.
    pub counts: Counts,
    /// Every problem it met (misses, failed recordings): the test should fail.
    pub problems: Vec<String>,
    /// Its use could not be written to the usage log (only `prune` loses a fact).
    pub warning: Option<String>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("standalone", &self.default.is_some())
            .field("scopes", &self.scopes.lock().unwrap().len())
            .field("max_scopes", &self.max_scopes)
            .finish()
    }
}

/// The default most scopes a standalone recorder keeps.
pub const MAX_SCOPES: usize = 512;

impl Registry {
    /// A standalone recorder over a recordings folder, a mode and an upstream:
    /// every test id gets a scope (created on first use). Registered scopes win.
    pub fn new(dir: impl Into<std::path::PathBuf>, mode: Mode, target: Target) -> Arc<Registry> {
        Self::with_limits(dir, mode, target, MAX_SCOPES, None)
    }

    /// [`Registry::new`] keeping at most `max_scopes` scopes, and telling `on_problem`
    /// (test id, problem) of every problem a scope meets as it happens: a failed
    /// recording, a miss, a broken file.
    pub fn with_limits(
        dir: impl Into<std::path::PathBuf>,
        mode: Mode,
        target: Target,
        max_scopes: usize,
        on_problem: Option<crate::engine::scope::ProblemSink>,
    ) -> Arc<Registry> {
        Arc::new(Registry {
            default: Some((Engine::new(dir), mode, target)),
            scopes: Mutex::default(),
            live: Mutex::default(),
            max_scopes: max_scopes.max(1),
            on_problem,
            active: Mutex::default(),
            untagged: Mutex::default(),
            retired: Mutex::default(),
        })
    }

    /// How many scopes a standalone recorder holds now.
    pub fn scope_count(&self) -> usize {
        self.scopes.lock().unwrap().len()
    }

    /// Every scope of a standalone recorder, removed from it (at shutdown: finish them).
    pub fn drain(&self) -> Vec<Arc<Scope>> {
        let mut scopes: Vec<(String, Arc<Scope>)> = self
            .scopes
            .lock()
            .unwrap()
            .drain()
            .map(|(id, (s, _))| (id, s))
            .collect();
        scopes.sort_by(|a, b| a.0.cmp(&b.0));
        scopes.into_iter().map(|(_, s)| s).collect()
    }

    /// The test process's recorder: the scopes of the tests now running, nothing else.
    pub fn global() -> &'static Arc<Registry> {
        static GLOBAL: LazyLock<Arc<Registry>> = LazyLock::new(|| {
            Arc::new(Registry {
                default: None,
                scopes: Mutex::default(),
                live: Mutex::default(),
                max_scopes: MAX_SCOPES,
                on_problem: None,
                active: Mutex::default(),
                untagged: Mutex::default(),
                retired: Mutex::default(),
            })
        });
        &GLOBAL
    }

    /// Makes `scope` the scope of its test id for as long as it lives (it is held weakly).
    pub fn register(&self, scope: &Arc<Scope>) {
        let mut live = self.live.lock().unwrap();
        live.retain(|_, s| s.strong_count() > 0);
        live.insert(scope.test_id().to_owned(), Arc::downgrade(scope));
    }

    /// The scope of a test id: a registered live one, else (standalone recorders
    /// only) one of its own; an error for the global recorder when that test is not
    /// running in this process.
    pub fn scope_for_id(&self, test_id: &str) -> Result<Arc<Scope>> {
        // A live scope's id was checked when its test registered it.
        if let Some(scope) = self
            .live
            .lock()
            .unwrap()
            .get(test_id)
            .and_then(Weak::upgrade)
        {
            return Ok(scope);
        }
        crate::store::check_test_id(test_id)?;
        match &self.default {
            Some((engine, mode, target)) => {
                let now = std::time::Instant::now();
                let mut scopes = self.scopes.lock().unwrap();
                let scope = match scopes.get_mut(test_id) {
                    Some((scope, used)) => {
                        *used = now;
                        scope.clone()
                    }
                    None => {
                        let mut options = ScopeOptions::default().served_by_serve();
                        if let Some(sink) = &self.on_problem {
                            options = options.problem_sink(sink.clone());
                        }
                        let scope = Scope::with_options(
                            engine.clone(),
                            test_id,
                            *mode,
                            target.clone(),
                            options,
                        );
                        scopes.insert(test_id.to_owned(), (scope.clone(), now));
                        scope
                    }
                };
                let evicted = evict(&mut scopes, self.max_scopes);
                drop(scopes);
                for old in evicted {
                    // An idle scope has nothing in flight; a usage log it cannot write only
                    // costs prune a fact.
                    let _ = retire(&old, std::time::Duration::from_secs(5));
                    self.count_retired(&old);
                }
                Ok(scope)
            }
            None => {
                let mut running: Vec<String> = self
                    .live
                    .lock()
                    .unwrap()
                    .iter()
                    .filter(|(_, s)| s.strong_count() > 0)
                    .map(|(id, _)| id.clone())
                    .collect();
                running.sort();
                Err(Error::Routing(RoutingProblem::NotRunning {
                    test_id: test_id.to_owned(),
                    running,
                }))
            }
        }
    }

    /// The scope of the current task's test id; `None` outside a test.
    pub fn current_scope(&self) -> Result<Option<Arc<Scope>>> {
        current_test_id()
            .map(|id| self.scope_for_id(&id))
            .transpose()
    }

    /// The mode of a standalone recorder; `None` for the global one (each test has its own).
    pub fn mode(&self) -> Option<Mode> {
        self.default.as_ref().map(|(_, mode, _)| *mode)
    }

    /// Test `test_id` begins: until [`Registry::end`], requests without a test id are
    /// its requests. It starts afresh (an earlier scope of that id is finished first,
    /// so its requests count from their first occurrence again). One test at a time: a
    /// begin while another test runs is refused, so that runners that run tests in
    /// parallel fail loudly instead of mixing their recordings. Standalone recorders
    /// only.
    ///
    /// ```
    /// use recorder_runtime::registry::{ControlError, Registry};
    /// use recorder_runtime::{engine::Target, Mode};
    /// let dir = std::env::temp_dir().join("recorder-begin-doc");
    /// let serve = Registry::new(&dir, Mode::Replay, Target::default());
    /// serve.begin("tests/test_chat.py::test_answers").unwrap();
    /// assert!(matches!(serve.begin("tests/test_chat.py::test_other"), Err(ControlError::Conflict(_))));
    /// let ended = serve.end(Some("tests/test_chat.py::test_answers")).unwrap();
    /// assert!(ended.problems.is_empty());
    /// ```
    pub fn begin(&self, test_id: &str) -> std::result::Result<Arc<Scope>, ControlError> {
        if self.default.is_none() {
            return Err(ControlError::Invalid(
                "only a standalone recorder (cargo recordings serve) takes begin and end: a test process knows its tests".into(),
            ));
        }
        if test_id.trim().is_empty() {
            return Err(ControlError::Invalid(
                "begin needs the test's id, such as pytest's node id `tests/test_chat.py::test_answers`".into(),
            ));
        }
        crate::store::check_test_id(test_id).map_err(|e| ControlError::Invalid(e.to_string()))?;
        let mut active = self.active.lock().unwrap();
        if let Some(running) = active.as_ref() {
            return Err(ControlError::Conflict(format!(
                "test `{}` is still running, so test `{test_id}` cannot begin: requests without a test id go to one test at a time. \
                 End it first (POST /_recorder/end; a body of {{}} ends whatever runs, after a runner that was killed). Tests that run in parallel (pytest-xdist's -n) cannot share one serve this way: \
                 run them one at a time, or have their requests carry the X-Recorder-Test-Id header",
                running.test_id()
            )));
        }
        let earlier = self.scopes.lock().unwrap().remove(test_id);
        if let Some((earlier, _)) = earlier {
            let _ = retire(&earlier, std::time::Duration::from_secs(60));
            self.count_retired(&earlier);
        }
        let scope = self
            .scope_for_id(test_id)
            .map_err(|e| ControlError::Invalid(e.to_string()))?;
        *active = Some(scope.clone());
        Ok(scope)
    }

    /// The running test ends: waits for its recordings in progress (up to a minute),
    /// records its use, and says what it served and every problem it met (a test
    /// runner fails the test on those). `test_id`, when given, must be the running
    /// test; `None` ends whatever test runs (after a runner that was killed).
    pub fn end(&self, test_id: Option<&str>) -> std::result::Result<Ended, ControlError> {
        let scope = {
            let mut active = self.active.lock().unwrap();
            match (active.as_ref(), test_id) {
                (None, _) => {
                    return Err(ControlError::Conflict(format!(
                        "no test is running{}: begin one first (POST /_recorder/begin)",
                        test_id.map(|id| format!(", so test `{id}` cannot end")).unwrap_or_default()
                    )))
                }
                (Some(running), Some(id)) if running.test_id() != id => {
                    return Err(ControlError::Conflict(format!(
                        "test `{}` is running, not test `{id}`: end it with its own id, or with no test_id to end whatever runs",
                        running.test_id()
                    )))
                }
                _ => active.take().expect("a test runs"),
            }
        };
        {
            let mut scopes = self.scopes.lock().unwrap();
            if scopes
                .get(scope.test_id())
                .is_some_and(|(s, _)| Arc::ptr_eq(s, &scope))
            {
                scopes.remove(scope.test_id());
            }
        }
        let problems = scope.finish(std::time::Duration::from_secs(60));
        let warning = scope
            .record_use()
            .err()
            .map(|e| format!("cannot record use of {}: {e}", scope.test_id()));
        self.count_retired(&scope);
        Ok(Ended {
            test_id: scope.test_id().to_owned(),
            counts: scope.counts(),
            problems,
            warning,
        })
    }

    /// The test that requests without a test id belong to now, if one began.
    pub fn active(&self) -> Option<String> {
        self.active
            .lock()
            .unwrap()
            .as_ref()
            .map(|s| s.test_id().to_owned())
    }

    /// What the scopes that already left served (evicted, or ended): with what the
    /// scopes still held serve ([`Registry::drain`]), everything.
    pub fn retired_counts(&self) -> Counts {
        *self.retired.lock().unwrap()
    }

    fn count_retired(&self, scope: &Scope) {
        let c = scope.counts();
        let mut total = self.retired.lock().unwrap();
        total.replayed += c.replayed;
        total.recorded += c.recorded;
        total.live += c.live;
        total.missed += c.missed;
    }

    /// Requests without a test id served while no test was running, by endpoint
    /// (method and path), sorted; model lists, shared by every test, are left out.
    pub fn untagged(&self) -> Vec<(String, usize)> {
        self.untagged
            .lock()
            .unwrap()
            .iter()
            .map(|(k, n)| (k.clone(), *n))
            .collect()
    }

    /// Counts a request without a test id while no test runs, and warns on stderr the
    /// first time its endpoint comes.
    fn note_untagged(&self, method: &str, endpoint: &str) {
        let path = endpoint.split('?').next().unwrap_or_default();
        let key = format!("{method} {path}");
        let first = {
            let mut untagged = self.untagged.lock().unwrap();
            let n = untagged.entry(key.clone()).or_default();
            *n += 1;
            *n == 1
        };
        if first {
            eprintln!(
                "recorder: warning: {key} came without an X-Recorder-Test-Id header while no test is running: it is served from `_shared/`, \
                 where requests are matched by their order in the whole run (a part of a suite replays other answers). \
                 Send the header, or begin each test with POST /_recorder/begin (README: \"A service that cannot forward the test id\"); \
                 said once per endpoint, counted in the summary"
            );
        }
    }
}

/// The scopes to drop so that at most `max` remain: those that served nothing for
/// longest among the idle ones (no request or recording in flight holds them).
fn evict(
    scopes: &mut HashMap<String, (Arc<Scope>, std::time::Instant)>,
    max: usize,
) -> Vec<Arc<Scope>> {
    if scopes.len() <= max {
        return Vec::new();
    }
    let mut idle: Vec<(std::time::Instant, String)> = scopes
        .iter()
        .filter(|(_, (s, _))| Arc::strong_count(s) == 1)
        .map(|(id, (_, used))| (*used, id.clone()))
        .collect();
    idle.sort();
    let excess = scopes.len() - max;
    idle.into_iter()
        .take(excess)
        .filter_map(|(_, id)| scopes.remove(&id).map(|(s, _)| s))
        .collect()
}

/// Finishes a scope that leaves a standalone recorder: waits up to `wait` for its
/// recordings in progress, then writes its use to the usage log (the error, if that
/// fails; the problems found go to the scope's sink).
pub fn retire(scope: &Scope, wait: std::time::Duration) -> Result<()> {
    scope.finish(wait);
    if scope.test_id().is_empty() {
        return Ok(());
    }
    scope.record_use()
}

impl ScopeResolver for Registry {
    fn current_scope(&self) -> Result<Option<Arc<Scope>>> {
        Registry::current_scope(self)
    }

    fn scope_for(&self, test_id: Option<&str>, method: &str, endpoint: &str) -> Result<Arc<Scope>> {
        match test_id.filter(|id| !id.is_empty()) {
            Some(id) => self.scope_for_id(id),
            None if self.default.is_some() => {
                if let Some(running) = self.active.lock().unwrap().clone() {
                    return Ok(running);
                }
                if !crate::identity::is_model_list(method, endpoint) {
                    self.note_untagged(method, endpoint);
                }
                self.scope_for_id("")
            }
            None => Err(Error::Routing(RoutingProblem::MissingTestId)),
        }
    }
}

/// The in-process transports of server mode (module [`crate::transport`]): they
/// resolve each request's test through the registry as a [`ScopeResolver`].
#[cfg(any(feature = "async-openai", feature = "reqwest-middleware"))]
impl Registry {
    #[cfg(feature = "async-openai")]
    /// An in-process async-openai service for code running in this process: calls
    /// made under a test id go to that test's scope, others to the real API
    /// (feature `async-openai`).
    pub fn openai_service(self: &Arc<Self>) -> crate::transport::OpenAiService {
        crate::transport::OpenAiService::new(crate::transport::ScopeSource::Current(self.clone()))
    }

    #[cfg(feature = "reqwest-middleware")]
    /// An in-process reqwest-middleware `Middleware`: calls made under a test id go
    /// to that test's scope, others pass through to the network (feature
    /// `reqwest-middleware`).
    pub fn middleware(self: &Arc<Self>) -> crate::transport::RecorderMiddleware {
        crate::transport::RecorderMiddleware::new(crate::transport::ScopeSource::Current(
            self.clone(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_global_recorder_knows_only_running_tests() {
        let dir = std::env::temp_dir().join("recorder-propagate-unit");
        let recorder = Arc::new(Registry {
            default: None,
            scopes: Mutex::default(),
            live: Mutex::default(),
            max_scopes: MAX_SCOPES,
            on_problem: None,
            active: Mutex::default(),
            untagged: Mutex::default(),
            retired: Mutex::default(),
        });
        let scope = Scope::new(Engine::new(&dir), "t::c", Mode::Replay, Target::default());
        recorder.register(&scope);
        assert!(Arc::ptr_eq(&recorder.scope_for_id("t::c").unwrap(), &scope));
        let err = recorder.scope_for_id("t::other").unwrap_err().to_string();
        assert!(err.contains("t::other") && err.contains("t::c"), "{err}");
        assert!(recorder
            .scope_for(None, "POST", "/v1/chat/completions")
            .unwrap_err()
            .to_string()
            .contains("PropagateMiddleware"));
        drop(scope);
        assert!(recorder.scope_for_id("t::c").is_err());
        // A standalone recorder scopes any id.
        let standalone = Registry::new(&dir, Mode::Replay, Target::default());
        assert_eq!(standalone.scope_for_id("t::d").unwrap().test_id(), "t::d");
        assert_eq!(
            standalone
                .scope_for(None, "POST", "/v1/chat/completions")
                .unwrap()
                .test_id(),
            ""
        );
    }
}
