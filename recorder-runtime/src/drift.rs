//! Drift against live: what `RECORD_MODE=verify` found, exchange by exchange, and how
//! it is reported.
//!
//! In verify mode every request goes to the real API, as in `record`, and nothing is
//! written. Each answer is made into the recording `record` would write (normalized,
//! ids given their placeholders, secrets scrubbed) and compared with the recording on
//! disk in the review's terms ([`crate::compare::compare_within`]: floats within the
//! setup's tolerance are no change). Each exchange gives a [`Finding`]:
//! - **the same**: nothing to say;
//! - **drift**: the text, the model, token usage, embeddings, frame counts or other
//!   JSON changed (a hosted model never repeats its words): reported, the test passes;
//! - **breaking**: the status, the finish reason or the tool calls changed, what a
//!   test's code branches on; or the test made a request that has no recording (replay
//!   would fail on it), or its recording cannot be read: the test fails at its end with
//!   the explanation and the command that records it again;
//! - **not asked**: a recording of the test that the run never asked for (an agent
//!   that took fewer turns): reported, as drift.
//!
//! A test lists its findings on stderr when it ends (`-- --nocapture` shows it, and a
//! failing test's output), and the process names every drift and breaking change in
//! the summary it prints when it exits, in every log:
//!
//! ```text
//! recorder: verified 3 exchanges in 2 tests against their recordings: 1 the same, 1 drifted, 1 breaking
//! recorder: drift: examples::chat::answers[text=m]: POST /v1/chat/completions (2df9c0e1a2b3….json): text, usage
//! recorder: breaking: examples::tools::calls[text=m]: POST /v1/chat/completions (77ab01cd23ef….json): finish_reason, tool_calls
//! ```

use crate::compare::{Change, Severity};
use crate::describe::{change_lines, line_text, short_file, visible, Plain};
use std::path::PathBuf;
use std::sync::Mutex;

/// What verify found for one exchange of a test (see the [module docs](self)).
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    /// The test that made the request.
    pub test_id: String,
    /// `METHOD endpoint`, with `  model=…` (see [`crate::describe::request_title`]).
    pub request: String,
    /// The recording the answer was compared with; for a missing one, the file that
    /// would hold it.
    pub file: Option<PathBuf>,
    /// What the comparison found.
    pub outcome: Outcome,
}

/// What the comparison of one exchange found.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The same answer (floats within the tolerance).
    Same,
    /// The answer changed; breaking changes first.
    Changed(Vec<Change>),
    /// The request has no recording: the explanation of the miss.
    Missing(String),
    /// The recording cannot be read: why.
    Unreadable(String),
    /// A recording of the test that this run never asked for.
    NotAsked,
}

impl Finding {
    /// How much it matters: `None` for the same answer, [`Severity::Breaking`] for a
    /// breaking change, a missing or an unreadable recording.
    ///
    /// ```
    /// use recorder_runtime::compare::{Change, Severity};
    /// use recorder_runtime::drift::{Finding, Outcome};
    /// let finding = |outcome| Finding { test_id: "t".into(), request: "POST /v1/x".into(), file: None, outcome };
    /// assert_eq!(finding(Outcome::Same).severity(), None);
    /// let text = Change::Text { old: "a".into(), new: "b".into() };
    /// assert_eq!(finding(Outcome::Changed(vec![text])).severity(), Some(Severity::Drift));
    /// assert_eq!(finding(Outcome::Missing("no recording".into())).severity(), Some(Severity::Breaking));
    /// ```
    pub fn severity(&self) -> Option<Severity> {
        match &self.outcome {
            Outcome::Same => None,
            Outcome::Changed(changes) => changes.iter().map(Change::severity).max(),
            Outcome::Missing(_) | Outcome::Unreadable(_) => Some(Severity::Breaking),
            Outcome::NotAsked => Some(Severity::Drift),
        }
    }

    /// One word for the finding: `same`, `drift`, `breaking`, `missing`,
    /// `unreadable` or `not asked`.
    pub fn kind(&self) -> &'static str {
        match &self.outcome {
            Outcome::Same => "same",
            Outcome::Changed(_) if self.severity() == Some(Severity::Breaking) => "breaking",
            Outcome::Changed(_) => "drift",
            Outcome::Missing(_) => "missing",
            Outcome::Unreadable(_) => "unreadable",
            Outcome::NotAsked => "not asked",
        }
    }

    /// The file's name, shortened (`2df9c0e1a2b3….json`), or `no recording`.
    fn file_name(&self) -> String {
        match (&self.outcome, &self.file) {
            (Outcome::Missing(_), _) | (_, None) => "no recording".into(),
            (_, Some(path)) => short_file(&path.file_name().unwrap_or_default().to_string_lossy()),
        }
    }

    /// The finding as the lines of a test's report: its kind, the request and the
    /// file, then each change (`!` marks a breaking one), as `cargo recordings review`
    /// shows them.
    pub fn text(&self) -> String {
        let mut out = format!(
            "  {:<10} {}  ({})\n",
            self.kind(),
            visible(&self.request),
            self.file_name()
        );
        match &self.outcome {
            Outcome::Same => {}
            Outcome::Changed(changes) => {
                for line in change_lines(changes, &Plain) {
                    out.push_str(&line_text(&line, 4));
                }
            }
            Outcome::Missing(_) => out.push_str(
                "    ! the test made this request and no recording answers it: replay would fail\n",
            ),
            Outcome::Unreadable(why) => out.push_str(&format!("    ! {}\n", visible(why))),
            Outcome::NotAsked => {
                out.push_str("      recorded, but this run never made the request\n")
            }
        }
        out
    }

    /// The message that fails the test, for a breaking finding (`None` otherwise);
    /// `filter` is what `cargo test` needs to run the test alone.
    pub fn problem(&self, filter: &str) -> Option<String> {
        if self.severity() != Some(Severity::Breaking) {
            return None;
        }
        let again = format!(
            "record the whole test again and review what changed: RECORD_MODE=record cargo test {filter}, then cargo recordings review"
        );
        Some(match &self.outcome {
            Outcome::Missing(explanation) => format!(
                "verify: the live run made a request that has no recording, so replay would fail on it: {explanation}\n  a test whose later requests carry what earlier answers said (ids, the model's text, its tool calls) asks something else once an answer changed: then {again}"
            ),
            Outcome::Unreadable(why) => format!(
                "verify: the recording of {} in test `{}` cannot be read, so the live answer was not compared with it: {why}",
                self.request, self.test_id
            ),
            _ => {
                let mut msg = format!(
                    "verify: the live answer to {} in test `{}` differs from its recording in what a test branches on (status, finish reason or tool calls; ! marks them)\n",
                    visible(&self.request),
                    self.test_id
                );
                if let Some(path) = &self.file {
                    msg.push_str(&format!("  recording: {}\n", path.display()));
                }
                if let Outcome::Changed(changes) = &self.outcome {
                    for line in change_lines(changes, &Plain) {
                        msg.push_str(&line_text(&line, 4));
                    }
                }
                msg.push_str(&format!("  if the live answer is right, {again}"));
                msg
            }
        })
    }

    /// One line for the process's summary: `kind: test: request (file): kinds of change`.
    fn summary_line(&self) -> String {
        let what = match &self.outcome {
            Outcome::Changed(changes) => {
                let kinds: Vec<&str> = changes.iter().map(Change::kind).collect();
                format!(": {}", kinds.join(", "))
            }
            _ => String::new(),
        };
        let request = self.request.split("  model=").next().unwrap_or_default();
        format!(
            "recorder: {}: {}: {} ({}){what}",
            self.kind(),
            visible(&self.test_id),
            visible(request),
            self.file_name()
        )
    }
}

/// A test's findings as the lines it prints on stderr when it ends: a headline with
/// the counts, then every finding but the same ones (a breaking one by its first line:
/// the test's failure says the rest). `None` when it compared nothing.
///
/// ```
/// use recorder_runtime::compare::Change;
/// use recorder_runtime::drift::{test_report, Finding, Outcome};
/// let finding = |outcome| Finding { test_id: "t".into(), request: "POST /v1/x".into(), file: None, outcome };
/// let text = Change::Text { old: "Paris".into(), new: "Lyon".into() };
/// let report = test_report("t", &[finding(Outcome::Same), finding(Outcome::Changed(vec![text]))]).unwrap();
/// assert_eq!(report, "recorder: t: verified 2 exchanges against their recordings: 1 the same, 1 drifted\n  drift      POST /v1/x  (no recording)\n      text           [-Paris-]{+Lyon+}\n");
/// ```
pub fn test_report(test_id: &str, findings: &[Finding]) -> Option<String> {
    if findings.is_empty() {
        return None;
    }
    let mut tally = Tally::default();
    for f in findings {
        tally.add(f);
    }
    let mut out = format!("recorder: {}: {}\n", visible(test_id), tally.counts());
    for f in findings.iter().filter(|f| f.outcome != Outcome::Same) {
        if f.severity() == Some(Severity::Breaking) {
            let text = f.text();
            out.push_str(text.lines().next().unwrap_or_default());
            out.push_str("\n    ! fails the test: its failure says what changed\n");
        } else {
            out.push_str(&f.text());
        }
    }
    Some(out)
}

/// How many of each finding, and the first that deserve a line of the summary.
#[derive(Debug, Default)]
struct Tally {
    same: usize,
    drift: usize,
    breaking: usize,
    missing: usize,
    unreadable: usize,
    not_asked: usize,
    tests: usize,
    lines: Vec<String>,
    more: usize,
}

/// How many findings the summary names, at most.
const NAMED: usize = 20;

impl Tally {
    fn add(&mut self, f: &Finding) {
        match f.kind() {
            "same" => self.same += 1,
            "drift" => self.drift += 1,
            "breaking" => self.breaking += 1,
            "missing" => self.missing += 1,
            "unreadable" => self.unreadable += 1,
            _ => self.not_asked += 1,
        }
    }

    fn exchanges(&self) -> usize {
        self.same + self.drift + self.breaking + self.missing + self.unreadable
    }

    /// `verified N exchanges against their recordings: a the same, b drifted, …`.
    fn counts(&self) -> String {
        let n = self.exchanges();
        let mut out = format!(
            "verified {n} exchange{} against their recordings: {} the same, {} drifted",
            if n == 1 { "" } else { "s" },
            self.same,
            self.drift
        );
        for (count, what) in [
            (self.breaking, "breaking"),
            (self.missing, "without a recording"),
            (self.unreadable, "with an unreadable recording"),
        ] {
            if count > 0 {
                out.push_str(&format!(", {count} {what}"));
            }
        }
        match self.not_asked {
            0 => {}
            1 => out.push_str("; 1 recording not asked for"),
            n => out.push_str(&format!("; {n} recordings not asked for")),
        }
        out
    }
}

/// Every finding of this process.
static PROCESS: Mutex<Option<Tally>> = Mutex::new(None);

/// Adds a finding to the process's summary (`first_of_test`: the test's first); the
/// summary is printed at exit with record mode's ([`crate::report`]).
pub(crate) fn count(finding: &Finding, first_of_test: bool) {
    let mut process = PROCESS.lock().unwrap_or_else(|e| e.into_inner());
    let tally = process.get_or_insert_with(Tally::default);
    tally.add(finding);
    if first_of_test {
        tally.tests += 1;
    }
    if finding.outcome != Outcome::Same {
        if tally.lines.len() < NAMED {
            tally.lines.push(finding.summary_line());
        } else {
            tally.more += 1;
        }
    }
}

/// The summary lines of this process's verify findings so far; empty when it
/// verified nothing.
pub fn summary() -> Vec<String> {
    let process = PROCESS.lock().unwrap_or_else(|e| e.into_inner());
    let Some(tally) = process.as_ref() else {
        return Vec::new();
    };
    summary_lines(tally)
}

fn summary_lines(tally: &Tally) -> Vec<String> {
    let tests = match tally.tests {
        1 => " in 1 test".to_owned(),
        n => format!(" in {n} tests"),
    };
    let head = tally
        .counts()
        .replacen(" against", &format!("{tests} against"), 1);
    let mut lines = vec![format!("recorder: {head}")];
    lines.extend(tally.lines.iter().cloned());
    if tally.more > 0 {
        lines.push(format!(
            "recorder: ... and {} more (each test lists its own on stderr: -- --nocapture)",
            tally.more
        ));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(test: &str, outcome: Outcome) -> Finding {
        Finding {
            test_id: test.into(),
            request: "POST /v1/chat/completions  model=m".into(),
            file: Some(PathBuf::from(format!(
                "recordings/t/{}.json",
                "ab".repeat(32)
            ))),
            outcome,
        }
    }

    #[test]
    fn the_summary_counts_tests_and_names_what_changed() {
        let mut tally = Tally::default();
        let text = Change::Text {
            old: "a".into(),
            new: "b".into(),
        };
        let finish = Change::FinishReason {
            old: Some("stop".into()),
            new: Some("length".into()),
        };
        for (f, first) in [
            (finding("a", Outcome::Same), true),
            (finding("a", Outcome::Changed(vec![text])), false),
            (finding("b", Outcome::Changed(vec![finish])), true),
            (finding("b", Outcome::Missing("no recording".into())), false),
        ] {
            tally.add(&f);
            if first {
                tally.tests += 1;
            }
            if f.outcome != Outcome::Same {
                tally.lines.push(f.summary_line());
            }
        }
        assert_eq!(
            summary_lines(&tally),
            [
                "recorder: verified 4 exchanges in 2 tests against their recordings: 1 the same, 1 drifted, 1 breaking, 1 without a recording",
                "recorder: drift: a: POST /v1/chat/completions (abababababab….json): text",
                "recorder: breaking: b: POST /v1/chat/completions (abababababab….json): finish_reason",
                "recorder: missing: b: POST /v1/chat/completions (no recording)",
            ]
        );
    }

    #[test]
    fn only_breaking_findings_fail_the_test() {
        let text = Change::Text {
            old: "a".into(),
            new: "b".into(),
        };
        assert_eq!(finding("t", Outcome::Same).problem("t"), None);
        assert_eq!(
            finding("t", Outcome::Changed(vec![text])).problem("t"),
            None
        );
        assert_eq!(finding("t", Outcome::NotAsked).problem("t"), None);
        let status = Change::Status { old: 200, new: 500 };
        let msg = finding("t", Outcome::Changed(vec![status]))
            .problem("answers")
            .unwrap();
        assert!(msg.contains("    ! status         200 -> 500"), "{msg}");
        assert!(
            msg.contains("RECORD_MODE=record cargo test answers, then cargo recordings review"),
            "{msg}"
        );
        let msg = finding("t", Outcome::Missing("no recording for POST".into()))
            .problem("answers")
            .unwrap();
        assert!(msg.contains("has no recording") && msg.contains("no recording for POST"));
    }
}
