//! One test's view of the engine: its id, mode and target, its recordings (loaded
//! once), the ids and secrets it has seen, and what it served.

use super::{Engine, Target};
use crate::error::{Error, Result};
use crate::idmap::IdMap;
use crate::store::{RecordingKey, ScopeRecordings};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::Duration;

/// Finds the scope of the request being handled when a transport was not made for one
/// test: in server mode, the scope of the current task's test id. The registry of
/// running tests ([`crate::registry::Registry`]) implements it; transports only know
/// this trait.
pub trait ScopeResolver: Send + Sync + std::fmt::Debug + 'static {
    /// The scope of the current task's test; `None` outside any test (the request
    /// then goes to the real API untouched).
    fn current_scope(&self) -> Result<Option<Arc<Scope>>>;

    /// The scope of a request that names its test itself (the `X-Recorder-Test-Id`
    /// header reaching the proxy's root; `None`: it had no header), which is `method`
    /// on `endpoint` (path and query).
    fn scope_for(&self, test_id: Option<&str>, method: &str, endpoint: &str) -> Result<Arc<Scope>>;
}

/// Told of every problem a scope meets, as it happens: `(test id, problem)`.
pub type ProblemSink = Arc<dyn Fn(&str, &str) + Send + Sync>;

/// Counts of what a scope served.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    pub(crate) replayed: AtomicUsize,
    pub(crate) recorded: AtomicUsize,
    pub(crate) live: AtomicUsize,
    pub(crate) missed: AtomicUsize,
    pub(crate) verified: AtomicUsize,
}

/// A snapshot of what a scope served.
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
    /// Live answers compared with their recordings (verify mode; streams count once
    /// compared).
    pub verified: usize,
}

/// Recordings still being written (a stream whose client stopped reading is drained
/// in the background); a test waits for them before it ends.
#[derive(Debug, Default)]
pub(crate) struct InFlight {
    count: Mutex<usize>,
    done: Condvar,
}

impl InFlight {
    pub(crate) fn start(self: &Arc<Self>) -> InFlightGuard {
        *self.count.lock().unwrap() += 1;
        InFlightGuard(self.clone())
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

pub(crate) struct InFlightGuard(Arc<InFlight>);
impl Drop for InFlightGuard {
    fn drop(&mut self) {
        let mut n = self.0.count.lock().unwrap();
        *n -= 1;
        if *n == 0 {
            self.0.done.notify_all();
        }
    }
}

/// What a [`Scope`] is built with besides its engine, test id, mode and target:
/// given to [`Scope::with_options`] so that it holds from the first request on.
///
/// ```
/// use recorder_runtime::engine::{Engine, Scope, ScopeOptions, Target};
/// use recorder_runtime::Mode;
/// let options = ScopeOptions::default()
///     .test_filter("chat::answers")
///     .problem_sink(std::sync::Arc::new(|test, problem| eprintln!("{test}: {problem}")));
/// let scope = Scope::with_options(Engine::new("recordings"), "my_tests::chat", Mode::Replay, Target::default(), options);
/// assert_eq!(scope.test_id(), "my_tests::chat");
/// ```
#[derive(Clone, Default)]
pub struct ScopeOptions {
    test_filter: Option<String>,
    on_problem: Option<ProblemSink>,
    serve: bool,
}

impl ScopeOptions {
    /// What `cargo test` needs to select this test, shown in miss messages (default:
    /// the test's name without its model combination).
    pub fn test_filter(mut self, filter: impl Into<String>) -> Self {
        self.test_filter = Some(filter.into());
        self
    }

    /// Tells `sink` of every problem as it happens (a standalone server reports them).
    pub fn problem_sink(mut self, sink: ProblemSink) -> Self {
        self.on_problem = Some(sink);
        self
    }

    /// The scope is served by `cargo recordings serve`, not a test process: its
    /// messages say to restart `serve` in another mode rather than to run `cargo test`.
    pub fn served_by_serve(mut self) -> Self {
        self.serve = true;
        self
    }
}

impl std::fmt::Debug for ScopeOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScopeOptions")
            .field("test_filter", &self.test_filter)
            .field("problem_sink", &self.on_problem.is_some())
            .field("serve", &self.serve)
            .finish()
    }
}

/// One test's view of the engine: its id, mode, target and replay map.
///
/// ```
/// use recorder_runtime::engine::{Engine, Scope, Target};
/// use recorder_runtime::Mode;
/// let scope = Scope::new(Engine::new("recordings"), "my_tests::chat", Mode::Replay, Target::default());
/// assert_eq!(scope.test_id(), "my_tests::chat");
/// assert!(scope.dir().ends_with("my_tests/chat"));
/// ```
pub struct Scope {
    pub(crate) engine: Arc<Engine>,
    pub(crate) test_id: String,
    pub(crate) mode: crate::Mode,
    pub(crate) target: Target,
    /// The variables under the test's setup, layered once per test (they are read on
    /// every proxied, recorded or compressed request).
    vars: crate::env::Vars,
    /// `RECORDER_MAX_BODY_BYTES` as this test reads it, read at its first request
    /// (every request checks its body against it; a lookup reads the environment).
    max_body_bytes: OnceLock<usize>,
    /// What `cargo test` needs to run this test alone, for miss messages.
    pub(crate) test_filter: String,
    /// Served by `cargo recordings serve` (see [`ScopeOptions::served_by_serve`]).
    serve: bool,
    recordings: OnceLock<std::result::Result<Mutex<ScopeRecordings>, Arc<Error>>>,
    pub(crate) stats: Stats,
    problems: Mutex<Vec<String>>,
    pub(crate) in_flight: Arc<InFlight>,
    /// `RECORDER_REPLAY_TIMING=recorded`, read once per test rather than per stream.
    pub(crate) replay_timing: bool,
    /// Hashes of the recordings replayed, each once (a test may repeat a request).
    used: Mutex<HashSet<String, std::hash::BuildHasherDefault<crate::store::HashHasher>>>,
    /// Real ids the upstream issued in this test, and their placeholders.
    ids: Mutex<IdMap>,
    has_ids: AtomicBool,
    /// Secret values to keep off disk: the configured key, and credentials requests carried.
    secrets: Mutex<Vec<(String, String)>>,
    /// The same, ready to find and replace (made again when one is added).
    scrubber: Mutex<Arc<crate::secrets::Scrubber>>,
    has_secrets: AtomicBool,
    /// Request hash -> how many occurrences were recorded in this run.
    recorded: Mutex<HashMap<String, u32>>,
    /// Serializes rewriting the test's id map file.
    pub(crate) ids_file: Mutex<()>,
    /// Whether [`Scope::finish`] looked for recordings no answer was compared with
    /// (verify mode), which it does once.
    finished: AtomicBool,
    /// What saving this test's recordings did (record modes).
    saves: Mutex<crate::report::Tally>,
    /// What comparing live answers with the recordings found (verify mode), and the
    /// recordings compared.
    findings: Mutex<(Vec<crate::drift::Finding>, HashSet<std::path::PathBuf>)>,
    /// Open-ended streams (an MCP session's GET), stopped by their session's DELETE
    /// or the end of the test.
    open_streams: crate::mcp::OpenStreams,
    on_problem: Option<ProblemSink>,
    /// Tokens this test's upstream answers reported (see `budget`).
    pub(crate) tokens: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scope")
            .field("test_id", &self.test_id)
            .field("mode", &self.mode)
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

impl Scope {
    /// A scope for one test. `test_id` scopes identity and the folder.
    pub fn new(
        engine: Arc<Engine>,
        test_id: impl Into<String>,
        mode: crate::Mode,
        target: Target,
    ) -> Arc<Scope> {
        Scope::with_options(engine, test_id, mode, target, ScopeOptions::default())
    }

    /// [`Scope::new`] with `options` (a miss message's test filter, a problem sink).
    pub fn with_options(
        engine: Arc<Engine>,
        test_id: impl Into<String>,
        mode: crate::Mode,
        target: Target,
        options: ScopeOptions,
    ) -> Arc<Scope> {
        let test_id = test_id.into();
        let test_filter = options
            .test_filter
            .unwrap_or_else(|| default_filter(&test_id));
        let secrets = crate::secrets::configured(target.secrets());
        let vars = target.vars();
        let replay_timing = vars.replay_timing();
        Arc::new(Scope {
            engine,
            test_id,
            mode,
            target,
            vars,
            max_body_bytes: OnceLock::new(),
            test_filter,
            serve: options.serve,
            recordings: OnceLock::new(),
            stats: Stats::default(),
            problems: Mutex::default(),
            in_flight: Arc::default(),
            replay_timing,
            used: Mutex::default(),
            ids: Mutex::default(),
            has_ids: AtomicBool::new(false),
            has_secrets: AtomicBool::new(!secrets.is_empty()),
            scrubber: Mutex::new(Arc::new(crate::secrets::Scrubber::new(&secrets))),
            secrets: Mutex::new(secrets),
            recorded: Mutex::default(),
            ids_file: Mutex::new(()),
            finished: AtomicBool::new(false),
            saves: Mutex::default(),
            findings: Mutex::default(),
            open_streams: crate::mcp::OpenStreams::default(),
            on_problem: options.on_problem,
            tokens: Default::default(),
        })
    }

    /// Serves one request: see [`Engine::handle`].
    pub async fn handle(
        self: &Arc<Self>,
        req: super::EngineRequest,
    ) -> Result<super::EngineResponse> {
        self.engine.handle(self, req).await
    }

    /// Serves one exchange a front end performed itself: see
    /// [`Engine::handle_performed`].
    pub async fn handle_performed(
        self: &Arc<Self>,
        req: super::EngineRequest,
        performed: super::Performed,
    ) -> Result<super::EngineResponse> {
        self.engine.handle_performed(self, req, performed).await
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
    /// The variables as this test reads them: the environment, `RECORDER_ENV`, then
    /// its setup's `env` ([`Target::vars`], resolved once).
    pub fn vars(&self) -> &crate::env::Vars {
        &self.vars
    }
    /// The largest request or answer body this test records or replays
    /// ([`crate::env::Vars::max_body_bytes`], read once).
    pub fn max_body_bytes(&self) -> usize {
        *self
            .max_body_bytes
            .get_or_init(|| self.vars.max_body_bytes())
    }
    /// The engine.
    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }
    /// The folder of this test's recordings.
    pub fn dir(&self) -> std::path::PathBuf {
        self.engine.store().scope_dir(&self.test_id)
    }

    /// The test in a message: ``test `my::test` ``, or, for the shared scope of
    /// `serve`, the requests that came without a test id.
    pub(crate) fn who(&self) -> String {
        if self.test_id.is_empty() {
            "the requests without a test id (`_shared/`)".to_owned()
        } else {
            format!("test `{}`", self.test_id)
        }
    }

    /// How to run this test's requests again in `mode` (`record-if-missing`,
    /// `record`): `cargo test` in a test process, a restarted `serve` for `serve`.
    pub(crate) fn rerun_in(&self, mode: crate::Mode) -> String {
        if self.serve {
            format!(
                "restart `cargo recordings serve` with --mode {mode} (and --upstream URL or --setup NAME), then run the client's {} again",
                if self.test_id.is_empty() {
                    "requests".to_owned()
                } else {
                    format!("test `{}`", self.test_id)
                }
            )
        } else {
            format!("RECORD_MODE={mode} cargo test {}", self.test_filter)
        }
    }

    /// What the scope has served so far.
    pub fn counts(&self) -> Counts {
        Counts {
            replayed: self.stats.replayed.load(Ordering::Relaxed),
            recorded: self.stats.recorded.load(Ordering::Relaxed),
            live: self.stats.live.load(Ordering::Relaxed),
            missed: self.stats.missed.load(Ordering::Relaxed),
            verified: self.stats.verified.load(Ordering::Relaxed),
        }
    }

    /// What saving this test's recordings did so far: files written (new, changed)
    /// and kept (identical, equivalent within the setup's float tolerance).
    pub fn saves(&self) -> crate::report::Tally {
        self.saves.lock().unwrap().clone()
    }

    /// Counts one save of an answer with HTTP `status`, for this test and for the
    /// process's summary.
    pub(crate) fn count_save(
        &self,
        path: &std::path::Path,
        saved: &crate::store::Saved,
        status: u16,
    ) {
        self.saves.lock().unwrap().add_answer(path, saved, status);
        crate::report::count(path, saved, status);
    }

    /// What verify mode found so far, in the order the answers were compared (see
    /// [`crate::drift`]); empty in the other modes.
    pub fn findings(&self) -> Vec<crate::drift::Finding> {
        self.findings.lock().unwrap().0.clone()
    }

    /// Keeps what verify found for one exchange (`compared`: the recording it was
    /// compared with), counts it for the process's summary, and makes a breaking one a
    /// problem that fails the test.
    pub(crate) fn found(
        &self,
        finding: crate::drift::Finding,
        compared: Option<std::path::PathBuf>,
    ) {
        let first = {
            let mut findings = self.findings.lock().unwrap();
            findings.1.extend(compared);
            findings.0.push(finding.clone());
            findings.0.len() == 1
        };
        crate::drift::count(&finding, first);
        crate::report::summary_at_exit();
        if let Some(problem) = finding.problem(&self.test_filter) {
            self.problem(problem);
        }
    }

    /// Verify mode, at the test's end: every recording of the test that no answer was
    /// compared with (the run never asked for it) is a finding.
    fn find_not_asked(&self) {
        let Ok(recordings) = self.recordings() else {
            return;
        };
        let mut paths: Vec<std::path::PathBuf> = {
            let recordings = recordings.lock().unwrap();
            let findings = self.findings.lock().unwrap();
            recordings
                .replays()
                .filter(|r| !findings.1.contains(&r.path))
                .map(|r| r.path.clone())
                .collect()
        };
        paths.sort();
        paths.dedup();
        for path in paths {
            let request = self
                .engine
                .store()
                .read_recording(&path)
                .map(|r| crate::describe::request_title(&r.request))
                .unwrap_or_else(|_| "(unreadable)".into());
            let finding = crate::drift::Finding {
                test_id: self.test_id.clone(),
                request,
                file: Some(path.clone()),
                outcome: crate::drift::Outcome::NotAsked,
            };
            self.found(finding, Some(path));
        }
    }

    /// Hashes of the recordings replayed so far, each once, sorted (for the usage log).
    pub fn used(&self) -> Vec<String> {
        let mut used: Vec<String> = self.used.lock().unwrap().iter().cloned().collect();
        used.sort();
        used
    }

    pub(crate) fn mark_used(&self, hash: &str) {
        let mut used = self.used.lock().unwrap();
        if !used.contains(hash) {
            used.insert(hash.to_owned());
        }
    }

    /// Records that this test ran to its end in the current run and which recordings
    /// it replayed (see [`crate::usage`]); `cargo recordings prune` judges a test by
    /// its latest run. Call it when the test finished (passed). Does nothing in live
    /// mode, which reads nothing, in verify mode, which writes nothing (and whose run
    /// follows the live API, not the recordings: a run that took another turn must not
    /// make `prune` drop what replay still serves), or when the recordings folder does
    /// not exist.
    pub fn record_use(&self) -> Result<()> {
        if matches!(self.mode, crate::Mode::Live | crate::Mode::Verify)
            || !self.engine.store().root().is_dir()
        {
            return Ok(());
        }
        self.engine
            .usage()
            .test_finished(&self.test_id, &self.used())
    }

    /// A problem that fails the test at its end (even if its client swallowed the
    /// error), once.
    pub(crate) fn problem(&self, msg: impl Into<String>) {
        let msg = msg.into();
        let msg = self.scrubber().scrub_str(&msg).into_owned();
        {
            let mut problems = self.problems.lock().unwrap();
            if problems.contains(&msg) {
                return;
            }
            problems.push(msg.clone());
        }
        // Outside the lock: the sink may take its time, or look at the scope.
        if let Some(sink) = &self.on_problem {
            sink(&self.test_id, &msg);
        }
    }

    /// Waits (up to `timeout`) for recordings still being written, then returns every
    /// problem seen (misses, broken files, failed writes). A test fails when this is
    /// not empty, even if its client swallowed the error. In `record` mode, occurrences
    /// of a request that this run made fewer times than an earlier one are removed.
    pub fn finish(&self, timeout: Duration) -> Vec<String> {
        // The test is over: open-ended streams are saved (recording) or end (replaying).
        self.open_streams.end_all();
        if !self.in_flight.wait(timeout) {
            self.problem(format!(
                "a recording of test `{}` was still being written after {timeout:?}",
                self.test_id
            ));
        } else if self.mode == crate::Mode::Record {
            if let Err(e) = self.remove_stale_occurrences() {
                self.problem(e.to_string());
            }
        } else if self.mode.compares() && !self.finished.swap(true, Ordering::AcqRel) {
            self.find_not_asked();
        }
        self.problems()
    }

    /// The problems seen so far, at once: no waiting for recordings being written and
    /// no cleaning up, which is what a test that panicked reports (it may have stopped
    /// before requests an earlier run made, so its occurrences are not stale).
    pub fn problems(&self) -> Vec<String> {
        // Also read while a panic unwinds: never panic on a poisoned lock.
        self.problems
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn remove_stale_occurrences(&self) -> Result<()> {
        let recorded = self.recorded.lock().unwrap().clone();
        if recorded.is_empty() {
            return Ok(());
        }
        let dir = self.dir();
        let mut removed = false;
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return Ok(());
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(key) = RecordingKey::parse(&name.to_string_lossy()) else {
                continue;
            };
            if recorded
                .get(key.hash())
                .is_some_and(|made| key.occurrence() > *made)
            {
                std::fs::remove_file(entry.path())
                    .map_err(|e| Error::io("cannot remove stale recording", entry.path(), e))?;
                removed = true;
            }
        }
        if removed {
            self.engine.refresh_ids_file(self)?;
        }
        Ok(())
    }

    pub(crate) fn note_recorded(&self, key: &RecordingKey) {
        let mut recorded = self.recorded.lock().unwrap();
        let n = recorded.entry(key.hash().to_owned()).or_default();
        *n = (*n).max(key.occurrence());
    }

    /// Whether this test's recordings are loaded (or failed to load) already.
    pub(crate) fn recordings_loaded(&self) -> bool {
        self.recordings.get().is_some()
    }

    /// This test's recordings, loaded on first use (empty in `record` and `live`).
    pub(crate) fn recordings(&self) -> Result<&Mutex<ScopeRecordings>> {
        let loaded = self.recordings.get_or_init(|| {
            if self.mode.loads() {
                let mut recordings = self
                    .engine
                    .store()
                    .load_scope(&self.test_id)
                    .map_err(Arc::new)?;
                recordings.index_request_bytes(&self.target.ignore_fields, &self.test_id);
                Ok(Mutex::new(recordings))
            } else {
                Ok(Mutex::default())
            }
        });
        loaded.as_ref().map_err(|e| Error::Shared(e.clone()))
    }

    /// The open-ended streams of this test (see [`crate::mcp`]).
    pub(crate) fn open_streams(&self) -> &crate::mcp::OpenStreams {
        &self.open_streams
    }

    /// Whether real ids are known (only in record modes).
    pub(crate) fn has_ids(&self) -> bool {
        self.has_ids.load(Ordering::Acquire)
    }
    /// The ids known so far.
    pub(crate) fn ids(&self) -> std::sync::MutexGuard<'_, IdMap> {
        self.ids.lock().unwrap()
    }
    pub(crate) fn ids_changed(&self, ids: &IdMap) {
        self.has_ids.store(!ids.is_empty(), Ordering::Release);
    }

    /// Whether any secret is known.
    pub(crate) fn has_secrets(&self) -> bool {
        self.has_secrets.load(Ordering::Acquire)
    }
    /// The secrets known so far, `(variable or header, value)`.
    pub fn secrets(&self) -> Vec<(String, String)> {
        if !self.has_secrets() {
            return Vec::new();
        }
        self.secrets.lock().unwrap().clone()
    }
    /// The secrets known so far, ready to find and replace however they are spelled.
    pub(crate) fn scrubber(&self) -> Arc<crate::secrets::Scrubber> {
        self.scrubber.lock().unwrap().clone()
    }

    /// `e` with the test's secrets scrubbed from every text it shows (see
    /// [`Error::redacted`]): what every error of the engine goes through before a
    /// transport answers with it or a test prints it.
    pub(crate) fn redact(&self, e: Error) -> Error {
        if !self.has_secrets() {
            return e;
        }
        let scrubber = self.scrubber();
        e.redacted(|s| scrubber.scrub_str(s))
    }
    /// Adds secrets seen on a request (credentials a client sent itself); values that
    /// are not secrets (see [`crate::secrets::is_secret`]) are left out.
    pub(crate) fn add_secrets(&self, found: impl IntoIterator<Item = (String, String)>) {
        let mut secrets = self.secrets.lock().unwrap();
        let mut added = false;
        for (name, value) in found {
            if crate::secrets::is_secret(&value) && !secrets.iter().any(|(_, v)| *v == value) {
                secrets.push((name, value));
                added = true;
            }
        }
        if added {
            // Longest first: a key that contains another is replaced whole.
            secrets.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then_with(|| a.cmp(b)));
            *self.scrubber.lock().unwrap() = Arc::new(crate::secrets::Scrubber::new(&secrets));
        }
        self.has_secrets
            .store(!secrets.is_empty(), Ordering::Release);
    }
}

/// `cargo test` filter for a test id: its name without the model combination.
fn default_filter(test_id: &str) -> String {
    let head = test_id.split('[').next().unwrap_or(test_id);
    head.rsplit("::").next().unwrap_or(head).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_hold_from_the_first_request_on() {
        let told: Arc<Mutex<Vec<String>>> = Arc::default();
        let sink = {
            let told = told.clone();
            Arc::new(move |test: &str, problem: &str| {
                told.lock().unwrap().push(format!("{test}: {problem}"))
            })
        };
        let options = ScopeOptions::default()
            .test_filter("answers --exact")
            .problem_sink(sink);
        let scope = Scope::with_options(
            Engine::new("recordings"),
            "m::answers[text=a]",
            crate::Mode::Replay,
            Target::default(),
            options,
        );
        // Shared before the first problem: the options were given at construction.
        let shared = scope.clone();
        shared.problem("a miss");
        assert_eq!(*told.lock().unwrap(), ["m::answers[text=a]: a miss"]);
        assert_eq!(scope.test_filter, "answers --exact");
        let plain = Scope::new(
            Engine::new("recordings"),
            "m::answers[text=a]",
            crate::Mode::Replay,
            Target::default(),
        );
        assert_eq!(plain.test_filter, "answers");
    }
}
