//! Token budgets for the calls that go upstream, in every mode that calls the real API
//! (record, record-if-missing, live): `RECORDER_BUDGET_TOKENS` for a run,
//! `RECORDER_BUDGET_TOKENS_PER_TEST` for one test.
//!
//! A call's cost is known only from its answer (its usage fields; a stream's at its
//! end, see [`crate::answer::Answer::tokens`]), so the check comes before a call and
//! the count after it: a call goes upstream while what was spent is under the cap, and
//! once it is not, every later call fails before it is sent, writing nothing (what was
//! recorded before stays). A run or a test therefore goes over its cap by at most the
//! calls in flight when it was reached: one call's tokens, for a test that makes one at
//! a time. An answer without usage counts nothing (a warning says so once).
//!
//! A run is `RECORDER_RUN_ID` when set; else the `cargo nextest run` (its
//! `NEXTEST_RUN_ID`, shared by every test process it starts); else, on Linux, the
//! `cargo test` command that started this test binary (all of its binaries share the
//! budget); else this process alone (a test binary run by hand, one `cargo recordings
//! serve`). A run of several processes counts in
//! `<recordings>/.usage/budget-<run>.tokens`, under a file lock; one of a single
//! process counts in memory.

use super::{EngineRequest, Scope};
use crate::answer::{Answer, Api};
use crate::error::{Error, Result};
use crate::recording::RecordedRequest;
use crate::stream::Frame;
use serde_json::Value;
use std::io::{Read, Seek, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::OnceLock;

/// The run a budget counts for.
#[derive(Debug)]
struct Run {
    /// A name shared by several processes; `None`: this process alone.
    shared: Option<String>,
    /// The run, for messages.
    label: String,
}

/// This process's run: decided once.
fn run() -> &'static Run {
    static RUN: OnceLock<Run> = OnceLock::new();
    RUN.get_or_init(|| {
        if let Some(id) = crate::env::run_id().map(|v| v.trim().to_owned()) {
            return Run {
                label: format!("RECORDER_RUN_ID={id}"),
                shared: Some(id),
            };
        }
        if let Some(id) = crate::env::nextest_run_id() {
            return Run {
                label: format!("the nextest run {id}"),
                shared: Some(format!("nextest-{id}")),
            };
        }
        if let Some((pid, started)) = cargo_parent() {
            return Run {
                label: format!("the `cargo test` of process {pid}"),
                shared: Some(format!("cargo-{pid}-{started}")),
            };
        }
        Run {
            shared: None,
            label: format!("this process ({})", std::process::id()),
        }
    })
}

/// The `cargo` process that started this one (pid, start time), on Linux: `cargo test`
/// runs each test binary as its child, one after another.
fn cargo_parent() -> Option<(u32, u64)> {
    #[cfg(target_os = "linux")]
    {
        let pid = std::os::unix::process::parent_id();
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
        if comm.trim_end() != "cargo" {
            return None;
        }
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // A pid is reused; with its start time it names one process.
        Some((pid, start_time(&stat)?))
    }
    #[cfg(not(target_os = "linux"))]
    {
        None
    }
}

/// Field 22 (`starttime`) of a `/proc/<pid>/stat` line; the command before it is in
/// parentheses and may hold spaces or parentheses itself.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
fn start_time(stat: &str) -> Option<u64> {
    stat.rsplit_once(')')?
        .1
        .split_whitespace()
        .nth(19)?
        .parse()
        .ok()
}

/// What a run of this process alone has spent.
static PROCESS_SPENT: AtomicU64 = AtomicU64::new(0);

/// The caps of a scope's test, when any is set.
struct Caps {
    run: Option<u64>,
    test: Option<u64>,
}

fn caps(scope: &Scope) -> Result<Option<Caps>> {
    let vars = scope.vars();
    let caps = Caps {
        run: vars.budget_tokens()?,
        test: vars.budget_tokens_per_test()?,
    };
    Ok((caps.run.is_some() || caps.test.is_some()).then_some(caps))
}

/// The file a shared run counts in.
fn run_file(scope: &Scope, shared: &str) -> PathBuf {
    let name: String = shared
        .chars()
        .take(100)
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    crate::usage::dir(scope.engine.store().root()).join(format!("budget-{name}.tokens"))
}

/// Opens a run's count, locked until the file is dropped, and reads it: a plain file
/// inside the recordings folder (a committed symlink on the way is refused).
fn open_count(scope: &Scope, path: &std::path::Path) -> Result<(std::fs::File, u64)> {
    let err = |e| Error::io("cannot read the run's token count", path, e);
    scope.engine.store().check_inside(path)?;
    if let Some(dir) = path.parent() {
        crate::usage::create_dir(dir)?;
    }
    if std::fs::symlink_metadata(path).is_ok_and(|m| !m.file_type().is_file()) {
        return Err(err(std::io::Error::other(
            "it is not a plain file (a symlink?); delete it to count this run from 0",
        )));
    }
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(err)?;
    file.lock().map_err(err)?;
    let mut text = String::new();
    file.read_to_string(&mut text).map_err(err)?;
    let text = text.trim();
    let spent = if text.is_empty() {
        0
    } else {
        text.parse().map_err(|_| {
            Error::Setup(crate::error::SetupProblem::BadTokenCount {
                path: path.to_path_buf(),
                text: text.to_owned(),
            })
        })?
    };
    Ok((file, spent))
}

/// What the run has spent so far.
fn run_spent(scope: &Scope) -> Result<u64> {
    match &run().shared {
        None => Ok(PROCESS_SPENT.load(Ordering::Acquire)),
        Some(shared) => open_count(scope, &run_file(scope, shared)).map(|(_, spent)| spent),
    }
}

/// Adds `tokens` to what the run has spent.
fn run_add(scope: &Scope, tokens: u64) -> Result<()> {
    let Some(shared) = &run().shared else {
        PROCESS_SPENT.fetch_add(tokens, Ordering::AcqRel);
        return Ok(());
    };
    let path = run_file(scope, shared);
    let (mut file, spent) = open_count(scope, &path)?;
    // Always the same width, written in one go at the start: never a shorter number
    // left with the tail of a longer one.
    let text = format!("{:>20}\n", spent.saturating_add(tokens));
    file.rewind()
        .and_then(|()| file.write_all(text.as_bytes()))
        .map_err(|e| Error::io("cannot write the run's token count", &path, e))
}

/// Before a call goes upstream: an error when the run or the test has spent its
/// budget (nothing is sent, nothing written). Counts nothing itself.
pub(crate) fn check(scope: &Scope, req: &EngineRequest) -> Result<()> {
    let Some(caps) = caps(scope)? else {
        return Ok(());
    };
    let call = format!(
        "{} {}",
        req.method,
        req.endpoint.split('?').next().unwrap_or_default()
    );
    let who = scope.who();
    let overshoot = "(a call's cost is known only from its answer, so the calls in flight when a budget runs out may go over it)";
    if let Some(cap) = caps.test {
        let spent = scope.tokens.load(Ordering::Acquire);
        if spent >= cap {
            return Err(Error::Budget(format!(
                "the token budget of {who} is spent: {spent} tokens upstream, RECORDER_BUDGET_TOKENS_PER_TEST={cap}. {call} was not sent upstream and nothing was recorded; what was recorded before stays. Raise RECORDER_BUDGET_TOKENS_PER_TEST (or unset it) to let the test go on {overshoot}"
            )));
        }
    }
    if let Some(cap) = caps.run {
        let spent = run_spent(scope)?;
        if spent >= cap {
            let run = run();
            let restart = match &run.shared {
                Some(shared) => format!(
                    "; the run's count is in {} (delete it, or set another RECORDER_RUN_ID, to count from 0)",
                    run_file(scope, shared).display()
                ),
                None => String::new(),
            };
            return Err(Error::Budget(format!(
                "the run's token budget is spent: {spent} tokens upstream, RECORDER_BUDGET_TOKENS={cap} (run: {}). {call} of {who} was not sent upstream and nothing was recorded; what was recorded before stays. Raise RECORDER_BUDGET_TOKENS (or unset it) and run again{restart} {overshoot}",
                run.label
            )));
        }
    }
    Ok(())
}

/// After a whole answer came back: counts the tokens its body reports for the test
/// and the run (with no budget set, nothing is read).
pub(crate) fn charge_body(scope: &Scope, request: &RecordedRequest, body: &[u8]) {
    if applies(scope) {
        if let Ok(json) = serde_json::from_slice::<Value>(body) {
            charge(scope, request, Answer::of_values([&json]));
        }
    }
}

/// After a stream ended: counts the tokens its frames report (at its end, as APIs
/// send them) for the test and the run.
pub(crate) fn charge_frames(scope: &Scope, request: &RecordedRequest, frames: &[Frame]) {
    if applies(scope) {
        let answer = Answer::of_values(frames.iter().filter_map(|f| f.data.as_ref()));
        charge(scope, request, answer);
    }
}

/// Whether a budget applies to the scope (a malformed one failed the call before it
/// was sent).
pub(crate) fn applies(scope: &Scope) -> bool {
    matches!(caps(scope), Ok(Some(_)))
}

fn charge(scope: &Scope, request: &RecordedRequest, answer: Answer) {
    let Some(tokens) = answer.tokens() else {
        if !matches!(answer.api, Api::Other | Api::ModelList) {
            warn_no_usage(&request.method, &request.endpoint);
        }
        return;
    };
    scope.tokens.fetch_add(tokens, Ordering::AcqRel);
    if let Err(e) = run_add(scope, tokens) {
        scope.problem(format!(
            "{e} ({tokens} tokens of {} {} are not counted in the run's budget)",
            request.method, request.endpoint
        ));
    }
}

/// Says once per process that a model's answer reported no usage, so that a budget
/// that never runs out is not a mystery. Written to stderr as it is, past libtest's
/// capture.
fn warn_no_usage(method: &str, endpoint: &str) {
    static WARNED: AtomicBool = AtomicBool::new(false);
    if WARNED.swap(true, Ordering::AcqRel) {
        return;
    }
    let endpoint = endpoint.split('?').next().unwrap_or_default();
    let line = format!(
        "recorder: warning: the answer to {method} {endpoint} reports no token usage, so the token budget does not count it (OpenAI streams report it with \"stream_options\": {{\"include_usage\": true}}); said once\n"
    );
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_time_is_read_past_a_command_with_spaces_and_parentheses() {
        let stat = "4242 (car go) (x)) S 1 4242 4242 0 -1 4194560 100 0 0 0 5 3 0 0 20 0 1 0 987654 1000 10";
        assert_eq!(start_time(stat), Some(987654));
        assert_eq!(start_time("4242 (cargo"), None);
    }
}
