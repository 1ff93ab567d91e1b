//! What recording again did to the files: how many were written (new or changed)
//! and how many were kept as they were (identical, or equivalent within the setup's
//! float tolerance), per test and per process.
//!
//! A test that recorded something ends with one line on stderr (cargo shows it with
//! `-- --nocapture`, and for a failing test), and the process prints a summary when
//! it exits, outside libtest's capture, so that it shows in every `cargo test` and
//! CI log. It counts every test that recorded something, however it ended, and says
//! how many of them failed (a context dropped while its test panics counts as failed):
//!
//! ```text
//! recorder: recorded 40 exchanges: 3 written (2 changed, 1 new), 37 kept as they were (35 identical, 2 equivalent within the float tolerance, largest difference 2.1e-3)
//! recorder: changed: recordings/embeddings/x[embedding=m]/2df9….json (/response/body/data/0/embedding/3: 0.1 -> 0.2)
//! ```

use crate::store::Saved;
use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::sync::{Mutex, Once};

/// How many changed files the summary names, at most.
const NAMED_CHANGES: usize = 20;

/// Counts of what saving recordings did.
///
/// ```
/// use recorder_runtime::report::Tally;
/// use recorder_runtime::store::Saved;
/// let mut tally = Tally::default();
/// tally.add("recordings/t/a.json".as_ref(), &Saved::Identical);
/// tally.add("recordings/t/b.json".as_ref(), &Saved::Changed("/x: 1 -> 2".into()));
/// assert_eq!((tally.identical, tally.changed), (1, 1));
/// assert_eq!(
///     tally.line("recorded 2 exchanges"),
///     "recorded 2 exchanges: 1 written (1 changed, 0 new), 1 kept as they were (1 identical, 0 equivalent within the float tolerance)"
/// );
/// assert_eq!(tally.changes, ["recordings/t/b.json (/x: 1 -> 2)"]);
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tally {
    /// Files written where there was none.
    pub new: usize,
    /// Files rewritten with another answer.
    pub changed: usize,
    /// Files left as they were: the same bytes.
    pub identical: usize,
    /// Files left as they were: the same answer but for floats within the tolerance.
    pub equivalent: usize,
    /// The largest float difference among the equivalent ones.
    pub largest: f64,
    /// Each changed file, with its first real difference.
    pub changes: Vec<String>,
    /// Each file whose answer is one a client retries (429, 5xx), with its status:
    /// replay answers it again, so a transient one recorded by chance stays until
    /// re-recorded. Named in the summary, never a failure (a test of a client's
    /// retries records them on purpose).
    pub retryable: Vec<String>,
}

impl Tally {
    /// Counts one save of the file at `path` whose answer has HTTP `status`.
    pub fn add_answer(&mut self, path: &Path, saved: &Saved, status: u16) {
        self.add(path, saved);
        if status == 429 || status >= 500 {
            self.retryable
                .push(format!("{} ({status})", path.display()));
        }
    }

    /// Counts one save of the file at `path`.
    pub fn add(&mut self, path: &Path, saved: &Saved) {
        match saved {
            Saved::New => self.new += 1,
            Saved::Identical => self.identical += 1,
            Saved::Equivalent { largest, .. } => {
                self.equivalent += 1;
                self.largest = self.largest.max(*largest);
            }
            Saved::Changed(difference) => {
                self.changed += 1;
                self.changes
                    .push(format!("{} ({difference})", path.display()));
            }
        }
    }

    /// Adds another tally to this one.
    pub fn merge(&mut self, other: &Tally) {
        self.new += other.new;
        self.changed += other.changed;
        self.identical += other.identical;
        self.equivalent += other.equivalent;
        self.largest = self.largest.max(other.largest);
        self.changes.extend(other.changes.iter().cloned());
        self.retryable.extend(other.retryable.iter().cloned());
    }

    /// The lines naming the files whose answer a client retries (at most
    /// `NAMED_CHANGES` of them), each starting with `head`; none when there are none.
    pub fn retryable_lines(&self, head: &str) -> Vec<String> {
        let mut lines = Vec::new();
        if self.retryable.is_empty() {
            return lines;
        }
        lines.push(format!(
            "{head}{} recorded answer(s) a client retries (429, 5xx): replay answers them again, and a client that retried waits as it did. Re-record them if the upstream was only busy",
            self.retryable.len()
        ));
        lines.extend(named(&format!("{head}  retryable: "), &self.retryable, ""));
        lines
    }

    /// How many saves were counted.
    pub fn total(&self) -> usize {
        self.new + self.changed + self.identical + self.equivalent
    }

    /// `head`, then the counts, on one line.
    pub fn line(&self, head: &str) -> String {
        let largest = if self.equivalent > 0 {
            format!(", largest difference {:.1e}", self.largest)
        } else {
            String::new()
        };
        format!(
            "{head}: {} written ({} changed, {} new), {} kept as they were ({} identical, {} equivalent within the float tolerance{largest})",
            self.new + self.changed,
            self.changed,
            self.new,
            self.identical + self.equivalent,
            self.identical,
            self.equivalent,
        )
    }
}

/// Every save of this process, and the tests that made them.
static PROCESS: Mutex<Option<Process>> = Mutex::new(None);

#[derive(Default)]
struct Process {
    tally: Tally,
    /// Each test that recorded something, and whether it failed.
    tests: HashMap<String, bool>,
}

/// Adds one save to the process's tally; the first one arranges for the summary
/// to be printed when the process exits.
pub(crate) fn count(path: &Path, saved: &Saved, status: u16) {
    summary_at_exit();
    PROCESS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get_or_insert_with(Default::default)
        .tally
        .add_answer(path, saved, status);
}

/// Arranges for the summary (this one's and verify's, [`crate::drift::summary`]) to be
/// printed when the process exits; once.
pub(crate) fn summary_at_exit() {
    static AT_EXIT: Once = Once::new();
    AT_EXIT.call_once(at_exit::register);
}

/// Counts a test that recorded something, however it ended (for the summary's
/// wording); `failed`: it panicked or failed. A test counts once, failed if any of
/// its contexts failed.
pub(crate) fn count_test(test_id: &str, failed: bool) {
    if let Some(process) = PROCESS.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
        *process.tests.entry(test_id.to_owned()).or_default() |= failed;
    }
}

/// The summary lines of this process so far; empty when nothing was recorded.
pub fn summary() -> Vec<String> {
    let process = PROCESS.lock().unwrap_or_else(|e| e.into_inner());
    let Some(process) = process.as_ref() else {
        return Vec::new();
    };
    let failed = process.tests.values().filter(|f| **f).count();
    summary_lines(&process.tally, process.tests.len(), failed)
}

fn summary_lines(tally: &Tally, tests: usize, failed: usize) -> Vec<String> {
    if tally.total() == 0 {
        return Vec::new();
    }
    let by = match tests {
        0 => String::new(),
        1 => " in 1 test".to_string(),
        n => format!(" in {n} tests"),
    };
    let failed = match failed {
        0 => String::new(),
        n => format!(" ({n} failed: a failed test may have recorded only part of its exchanges)"),
    };
    let exchanges = match tally.total() {
        1 => "1 exchange".to_string(),
        n => format!("{n} exchanges"),
    };
    let mut lines = vec![format!(
        "recorder: {}",
        tally.line(&format!("recorded {exchanges}{by}{failed}"))
    )];
    lines.extend(named(
        "recorder: changed: ",
        &tally.changes,
        " (git status recordings/)",
    ));
    lines.extend(tally.retryable_lines("recorder: "));
    lines
}

/// One line per item, `head` first, at most `NAMED_CHANGES` of them, then one saying
/// how many more (with `more_hint` after it).
fn named(head: &str, items: &[String], more_hint: &str) -> Vec<String> {
    let mut lines: Vec<String> = items
        .iter()
        .take(NAMED_CHANGES)
        .map(|item| format!("{head}{item}"))
        .collect();
    if items.len() > NAMED_CHANGES {
        lines.push(format!(
            "{head}... and {} more{more_hint}",
            items.len() - NAMED_CHANGES
        ));
    }
    lines
}

/// Prints the summary to the process's stderr, bypassing libtest's capture of
/// `eprintln!` (the summary is for every run's log, not only `--nocapture`).
fn print_summary() {
    let mut lines = summary();
    lines.extend(crate::drift::summary());
    if lines.is_empty() {
        return;
    }
    let mut text = lines.join("\n");
    text.push('\n');
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}

mod at_exit {
    //! The C library's `atexit`: the test harness ends the process without running
    //! Rust destructors, so this is the one hook that runs after the last test.

    extern "C" {
        fn atexit(callback: extern "C" fn()) -> std::os::raw::c_int;
    }

    extern "C" fn on_exit() {
        // Nothing may unwind into C.
        let _ = std::panic::catch_unwind(super::print_summary);
    }

    pub(super) fn register() {
        // SAFETY: `atexit` is in every C library Rust links with, and `on_exit` is an
        // `extern "C" fn` that never unwinds.
        unsafe {
            atexit(on_exit);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recording::{RecordedRequest, RecordedResponse, Recording};

    fn kept(largest: f64) -> Saved {
        Saved::Equivalent {
            largest,
            kept: Box::new(Recording {
                test_id: None,
                request: RecordedRequest {
                    method: "GET".into(),
                    endpoint: "/v1/models".into(),
                    model: None,
                    body: serde_json::Value::Null,
                },
                response: RecordedResponse::plain(200, None, b""),
            }),
        }
    }

    #[test]
    fn answers_a_client_retries_are_named_after_the_counts() {
        let mut a = Tally::default();
        a.add_answer("r/ok.json".as_ref(), &Saved::New, 200);
        a.add_answer("r/bad.json".as_ref(), &Saved::New, 400);
        a.add_answer("r/limited.json".as_ref(), &Saved::New, 429);
        let mut b = Tally::default();
        b.add_answer("r/down.json".as_ref(), &Saved::Identical, 503);
        a.merge(&b);
        assert_eq!(a.retryable, ["r/limited.json (429)", "r/down.json (503)"]);
        let lines = summary_lines(&a, 1, 0);
        assert_eq!(
            lines[1..],
            [
                "recorder: 2 recorded answer(s) a client retries (429, 5xx): replay answers them again, and a client that retried waits as it did. Re-record them if the upstream was only busy",
                "recorder:   retryable: r/limited.json (429)",
                "recorder:   retryable: r/down.json (503)",
            ]
        );
        let many = Tally {
            retryable: (0..25).map(|i| format!("r/{i}.json (500)")).collect(),
            ..Tally::default()
        };
        let lines = many.retryable_lines("x: ");
        assert_eq!(lines.len(), 1 + NAMED_CHANGES + 1);
        assert_eq!(lines.last().unwrap(), "x:   retryable: ... and 5 more");
        assert!(Tally::default().retryable_lines("x: ").is_empty());
    }

    #[test]
    fn lines_count_what_was_written_and_kept() {
        let mut a = Tally::default();
        a.add("r/a.json".as_ref(), &Saved::New);
        a.add("r/b.json".as_ref(), &kept(1.4e-3));
        let mut b = Tally::default();
        b.add("r/c.json".as_ref(), &kept(2.1e-3));
        b.add("r/d.json".as_ref(), &Saved::Identical);
        b.add("r/e.json".as_ref(), &Saved::Changed("/a: 1 -> 2".into()));
        a.merge(&b);
        assert_eq!(a.total(), 5);
        assert_eq!(
            summary_lines(&a, 2, 0),
            [
                "recorder: recorded 5 exchanges in 2 tests: 2 written (1 changed, 1 new), 3 kept as they were (1 identical, 2 equivalent within the float tolerance, largest difference 2.1e-3)",
                "recorder: changed: r/e.json (/a: 1 -> 2)",
            ]
        );
        assert!(summary_lines(&Tally::default(), 0, 0).is_empty());
        // Tests that failed count too, and are named as failed.
        assert_eq!(
            summary_lines(&a, 5, 4)[0],
            "recorder: recorded 5 exchanges in 5 tests (4 failed: a failed test may have recorded only part of its exchanges): 2 written (1 changed, 1 new), 3 kept as they were (1 identical, 2 equivalent within the float tolerance, largest difference 2.1e-3)",
        );
    }

    #[test]
    fn the_summary_names_the_first_changes_only() {
        let mut tally = Tally::default();
        for i in 0..25 {
            tally.add(
                format!("r/{i}.json").as_ref(),
                &Saved::Changed("/x: 1 -> 2".into()),
            );
        }
        let lines = summary_lines(&tally, 1, 0);
        assert_eq!(lines.len(), 1 + NAMED_CHANGES + 1);
        assert_eq!(
            lines.last().unwrap(),
            "recorder: changed: ... and 5 more (git status recordings/)"
        );
    }
}
