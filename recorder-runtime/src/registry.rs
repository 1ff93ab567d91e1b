//! Which scope a test id means: the registry of the test process's running tests, and
//! the standalone recorder of `cargo recordings serve`.
//!
//! Requests that arrive with a test id rather than through a test's own base URL (the
//! loopback proxy's root, the in-process transports of a service running in the test
//! process) are served by the scope this registry gives for their id.
//!
//! ```
//! use recorder_runtime::registry::Recorder;
//! use recorder_runtime::engine::Target;
//! use recorder_runtime::Mode;
//! let serve = Recorder::new(std::env::temp_dir().join("recordings-doc"), Mode::Replay, Target::default());
//! assert_eq!(serve.scope_for_id("my::test").unwrap().test_id(), "my::test");
//! ```

use crate::engine::{Engine, Scope, ScopeOptions, ScopeResolver, Target};
use crate::error::{Error, Result};
use crate::mode::Mode;
use recorder_propagate::{current_test_id, TEST_ID_HEADER};
use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, Weak};

/// Maps test ids to engine scopes for requests that arrive with a test id rather
/// than through a test's own base URL: the loopback proxy's fallback and the
/// in-process transports built with `transport::ScopeSource::Current`
/// (through [`ScopeResolver`]).
///
/// - [`Recorder::global`], in a test process: only the scopes of tests that are
///   running ([`Recorder::register`]; the macro registers every test). A test id
///   that is not running is an error, so a late call from a service never records
///   outside its test.
/// - [`Recorder::new`], for a standalone recorder (`recordings serve`): any test id
///   gets a scope over its folder, mode and upstream. It keeps at most
///   [`Recorder::with_limits`]' number of scopes: past it, the scopes that have served
///   nothing for longest and have nothing in flight are finished (their use recorded)
///   and dropped, so a long-running server stays bounded. (A test that comes back
///   after that starts again from its first occurrence of each request.)
pub struct Recorder {
    default: Option<(Arc<Engine>, Mode, Target)>,
    scopes: Mutex<HashMap<String, (Arc<Scope>, std::time::Instant)>>,
    live: Mutex<HashMap<String, Weak<Scope>>>,
    max_scopes: usize,
    on_problem: Option<crate::engine::scope::ProblemSink>,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder")
            .field("standalone", &self.default.is_some())
            .field("scopes", &self.scopes.lock().unwrap().len())
            .field("max_scopes", &self.max_scopes)
            .finish()
    }
}

/// The default most scopes a standalone recorder keeps.
pub const MAX_SCOPES: usize = 512;

impl Recorder {
    /// A standalone recorder over a recordings folder, a mode and an upstream:
    /// every test id gets a scope (created on first use). Registered scopes win.
    pub fn new(dir: impl Into<std::path::PathBuf>, mode: Mode, target: Target) -> Arc<Recorder> {
        Self::with_limits(dir, mode, target, MAX_SCOPES, None)
    }

    /// [`Recorder::new`] keeping at most `max_scopes` scopes, and telling `on_problem`
    /// (test id, problem) of every problem a scope meets as it happens: a failed
    /// recording, a miss, a broken file.
    pub fn with_limits(
        dir: impl Into<std::path::PathBuf>,
        mode: Mode,
        target: Target,
        max_scopes: usize,
        on_problem: Option<crate::engine::scope::ProblemSink>,
    ) -> Arc<Recorder> {
        Arc::new(Recorder {
            default: Some((Engine::new(dir), mode, target)),
            scopes: Mutex::default(),
            live: Mutex::default(),
            max_scopes: max_scopes.max(1),
            on_problem,
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
    pub fn global() -> &'static Arc<Recorder> {
        static GLOBAL: LazyLock<Arc<Recorder>> = LazyLock::new(|| {
            Arc::new(Recorder {
                default: None,
                scopes: Mutex::default(),
                live: Mutex::default(),
                max_scopes: MAX_SCOPES,
                on_problem: None,
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
                        let mut options = ScopeOptions::default();
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
                let shown = if running.is_empty() {
                    "none".to_owned()
                } else {
                    running.join(", ")
                };
                Err(Error::Routing(format!(
                    "a request for test `{test_id}` (from its X-Recorder-Test-Id header) reached the recorder of this test process, but that test is not running here (running: {shown}). \
                     A service calling after its test ended, or a header copied from another test, cannot be recorded"
                )))
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

impl ScopeResolver for Recorder {
    fn current_scope(&self) -> Result<Option<Arc<Scope>>> {
        Recorder::current_scope(self)
    }

    fn scope_for(&self, test_id: Option<&str>) -> Result<Arc<Scope>> {
        match test_id.filter(|id| !id.is_empty()) {
            Some(id) => self.scope_for_id(id),
            None if self.default.is_some() => self.scope_for_id(""),
            None => Err(Error::Routing(format!(
                "a request without an {TEST_ID_HEADER} header reached the recorder's root URL. The service's outbound client must add it: \
                 .with(recorder_runtime::propagate::PropagateMiddleware) for reqwest-middleware, .headers(recorder_runtime::propagate::headers()) for plain reqwest, \
                 and propagate::spawn for work moved to other tasks"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_global_recorder_knows_only_running_tests() {
        let dir = std::env::temp_dir().join("recorder-propagate-unit");
        let recorder = Arc::new(Recorder {
            default: None,
            scopes: Mutex::default(),
            live: Mutex::default(),
            max_scopes: MAX_SCOPES,
            on_problem: None,
        });
        let scope = Scope::new(Engine::new(&dir), "t::c", Mode::Replay, Target::default());
        recorder.register(&scope);
        assert!(Arc::ptr_eq(&recorder.scope_for_id("t::c").unwrap(), &scope));
        let err = recorder.scope_for_id("t::other").unwrap_err().to_string();
        assert!(err.contains("t::other") && err.contains("t::c"), "{err}");
        assert!(recorder
            .scope_for(None)
            .unwrap_err()
            .to_string()
            .contains("PropagateMiddleware"));
        drop(scope);
        assert!(recorder.scope_for_id("t::c").is_err());
        // A standalone recorder scopes any id.
        let standalone = Recorder::new(&dir, Mode::Replay, Target::default());
        assert_eq!(standalone.scope_for_id("t::d").unwrap().test_id(), "t::d");
        assert_eq!(standalone.scope_for(None).unwrap().test_id(), "");
    }
}
