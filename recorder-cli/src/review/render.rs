//! A [`Review`] for people and scripts: text (plain, or coloured on a terminal),
//! markdown (a CI run's summary) and JSON. Recordings come from pull requests, so
//! everything taken from them is escaped for where it goes: control and
//! bidirectional characters are shown as code points in text (no terminal escape
//! sequence gets through), and markdown gets no link, image, mention or HTML of theirs.
//!
//! The [`Markup`] of each output decides how text, removed and added words look;
//! [`change_lines`] and [`answer_lines`] say what a change or an answer is in words,
//! the same for every output (the HTML report too). They live in the runtime
//! ([`recorder_runtime::describe`]), which `RECORD_MODE=verify` reports with too.

use super::{Counts, Exchange, ExchangeState, Review, TestReview};
use recorder_runtime::answer::{Answer, ToolCall};
use recorder_runtime::compare::{word_diff, Change, Piece, Severity};
pub use recorder_runtime::describe::{
    answer_lines, change_lines, clip, is_hidden, line_text, md_escape, visible, word_diff_markup,
    Colored, Line, Markdown, Markup, Plain,
};
use recorder_runtime::describe::{request_title as title_of, short_file as short};
use recorder_runtime::diff;
use serde_json::{json, Value};

/// `METHOD endpoint`, with the model when the request names one.
fn request_title(e: &Exchange) -> String {
    match e.recording() {
        Some(r) => title_of(&r.request),
        None => "(unreadable)".into(),
    }
}

fn files_of(e: &Exchange) -> String {
    let name = |v: &Option<super::Version>| v.as_ref().map(|v| short(&v.file));
    match (name(&e.old), name(&e.new)) {
        (Some(a), Some(b)) if a == b => a,
        (Some(a), Some(b)) => format!("{a} -> {b}"),
        (a, b) => a.or(b).unwrap_or_default(),
    }
}

/// The lines describing one exchange, in `m`'s markup.
pub fn exchange_lines(e: &Exchange, m: &dyn Markup) -> Vec<Line> {
    if let Some(why) = e.unreadable() {
        return vec![Line {
            label: "unreadable",
            value: m.text(why),
            breaking: false,
        }];
    }
    match e.state() {
        ExchangeState::Changed if e.changes.is_empty() => vec![Line {
            label: "same",
            value: m.text("the file differs only in its layout"),
            breaking: false,
        }],
        ExchangeState::Changed => change_lines(&e.changes, m),
        _ => e
            .recording()
            .map(|r| answer_lines(&Answer::of(r), 300, m))
            .unwrap_or_default(),
    }
}

/// The first line of a review: what was compared and how much changed.
pub fn headline(review: &Review) -> String {
    let c = review.counts();
    if c.tests == 0 {
        return format!(
            "No recording in {} differs from git's HEAD.",
            review.dir.display()
        );
    }
    format!(
        "Recordings in {} that differ from git's HEAD: {}",
        review.dir.display(),
        counts_text(&c)
    )
}

fn counts_text(c: &Counts) -> String {
    let mut s = format!(
        "{} test{}; exchanges: {} changed, {} new, {} removed",
        c.tests,
        if c.tests == 1 { "" } else { "s" },
        c.changed,
        c.new,
        c.removed
    );
    if c.breaking > 0 {
        s.push_str(&format!(
            "; {} with a breaking change (status, finish reason or tool calls)",
            c.breaking
        ));
    }
    if c.unreadable > 0 {
        s.push_str(&format!("; {} unreadable", c.unreadable));
    }
    s
}

/// One test as text: its name, each exchange and its changes, its files.
pub fn test_text(t: &TestReview, color: bool) -> String {
    let m: &dyn Markup = if color { &Colored } else { &Plain };
    let bold = |s: &str| {
        if color {
            format!("\x1b[1m{s}\x1b[0m")
        } else {
            s.to_owned()
        }
    };
    let mut out = format!("{}\n", bold(&visible(t.name())));
    for e in &t.exchanges {
        out.push_str(&format!(
            "  {:<8} {}  ({})\n",
            e.state().name(),
            visible(&request_title(e)),
            files_of(e)
        ));
        for line in exchange_lines(e, m) {
            out.push_str(&line_text(&line, 4));
        }
    }
    if let Some(state) = ids_state(t) {
        out.push_str(&format!("  _ids.json {state}\n"));
    }
    out
}

/// How the test's `_ids.json` differs from `HEAD`, if it does.
fn ids_state(t: &TestReview) -> Option<&'static str> {
    t.files
        .iter()
        .find(|f| f.path.rsplit('/').next() == Some(recorder_runtime::idmap::IDS_FILE))
        .map(|f| f.state.name())
}

/// The whole review as text (`color`: for a terminal).
pub fn text(review: &Review, color: bool) -> String {
    let mut out = format!("{}\n", headline(review));
    if review.counts().breaking > 0 {
        out.push_str("(! marks a breaking change)\n");
    }
    for t in &review.tests {
        out.push('\n');
        out.push_str(&test_text(t, color));
    }
    out
}

/// Past this size the markdown names the remaining tests only: a CI run's summary
/// holds 1 MiB.
const MARKDOWN_BUDGET: usize = 800_000;

/// The whole review as GitHub-flavoured markdown, escaped (see the module docs).
pub fn markdown(review: &Review) -> String {
    let m = Markdown;
    let c = review.counts();
    let mut out = String::from("## Recordings that differ from `HEAD`\n\n");
    if c.tests == 0 {
        out.push_str("No recording differs from `HEAD`.\n");
        return out;
    }
    out.push_str(&format!("{}.", md_escape(&counts_text(&c))));
    if c.breaking > 0 {
        out.push_str(" ⚠️ marks a breaking change.");
    }
    out.push_str("\n\n");
    let mut left = review.tests.len();
    for t in &review.tests {
        if out.len() > MARKDOWN_BUDGET {
            out.push_str(&format!(
                "… and {left} more tests: run `cargo recordings review` on the recordings to see them.\n"
            ));
            break;
        }
        left -= 1;
        out.push_str(&format!("### {}\n\n", md_escape(t.name())));
        for e in &t.exchanges {
            out.push_str(&format!(
                "- **{}** {} \\({}\\)\n",
                e.state().name(),
                md_escape(&request_title(e)),
                md_escape(&files_of(e))
            ));
            for line in exchange_lines(e, &m) {
                let mark = if line.breaking { "⚠️ " } else { "" };
                out.push_str(&format!("  - {mark}**{}**: {}\n", line.label, line.value));
            }
        }
        if let Some(state) = ids_state(t) {
            out.push_str(&format!("- `_ids.json` {state}\n"));
        }
        out.push('\n');
    }
    out
}

/// What was done with a test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Kept as it is in the working tree.
    Accepted,
    /// `HEAD`'s files written back (restored), new ones deleted.
    Rejected {
        /// Files written back from `HEAD`.
        restored: usize,
        /// New files deleted.
        deleted: usize,
    },
    /// Left for later.
    Skipped,
}

fn answer_json(a: &Answer) -> Value {
    json!({
        "api": a.api.name(),
        "status": a.status,
        "model": a.model,
        "text": a.text,
        "tool_calls": a.tool_calls.iter().map(|c| json!({"name": c.name, "arguments": c.arguments})).collect::<Vec<_>>(),
        "finish_reason": a.finish_reason,
        "usage": a.usage.iter().map(|(k, n)| (k.clone(), json!(n))).collect::<serde_json::Map<_, _>>(),
        "embeddings": {"count": a.embeddings.len(), "dimension": a.embeddings.first().map_or(0, Vec::len)},
        "models": a.models,
        "error": a.error,
        "frames": a.frames,
    })
}

fn json_diff(d: &[diff::Change]) -> Value {
    d.iter()
        .map(|c| json!({"path": c.path, "old": c.recorded, "new": c.requested}))
        .collect()
}

/// A change as JSON: `kind`, `severity`, and its values.
pub fn change_json(c: &Change) -> Value {
    let mut v = match c {
        Change::Request(d) => json!({"changes": json_diff(d)}),
        Change::Status { old, new } => json!({"old": old, "new": new}),
        Change::FinishReason { old, new }
        | Change::Error { old, new }
        | Change::Model { old, new } => json!({"old": old, "new": new}),
        Change::ToolCalls { old, new } => {
            let calls = |v: &[ToolCall]| -> Value {
                v.iter()
                    .map(|c| json!({"name": c.name, "arguments": c.arguments}))
                    .collect()
            };
            json!({"old": calls(old), "new": calls(new)})
        }
        Change::Text { old, new } => {
            let pieces: Vec<Value> = word_diff(old, new)
                .into_iter()
                .map(|p| match p {
                    Piece::Same(s) => json!({"same": s}),
                    Piece::Removed(s) => json!({"removed": s}),
                    Piece::Added(s) => json!({"added": s}),
                })
                .collect();
            json!({"old": old, "new": new, "diff": pieces})
        }
        Change::Usage { old, new } => {
            let map = |v: &[(String, u64)]| -> Value {
                v.iter()
                    .map(|(k, n)| (k.clone(), json!(n)))
                    .collect::<serde_json::Map<_, _>>()
                    .into()
            };
            json!({"old": map(old), "new": map(new)})
        }
        Change::Embeddings(e) => json!({
            "count": [e.count.0, e.count.1],
            "dimension": [e.dimension.0, e.dimension.1],
            "min_cosine": e.min_cosine,
            "largest_difference": e.largest_difference,
        }),
        Change::Models { removed, added } => json!({"removed": removed, "added": added}),
        Change::Frames { old, new } => json!({"old": old, "new": new}),
        Change::Json(d) => json!({"changes": json_diff(d)}),
    };
    let obj = v.as_object_mut().expect("an object");
    obj.insert("kind".into(), json!(c.kind()));
    obj.insert("severity".into(), json!(c.severity().name()));
    v
}

fn exchange_json(e: &Exchange) -> Value {
    let r = e.recording();
    let file = |v: &Option<super::Version>| v.as_ref().map(|v| v.file.clone());
    let mut v = json!({
        "state": e.state().name(),
        "method": r.map(|r| r.request.method.clone()),
        "endpoint": r.map(|r| r.request.endpoint.clone()),
        "model": r.and_then(|r| r.request.model.clone()),
        "old_file": file(&e.old),
        "new_file": file(&e.new),
        "severity": e.severity().map(Severity::name),
        "changes": e.changes.iter().map(change_json).collect::<Vec<_>>(),
    });
    let obj = v.as_object_mut().expect("an object");
    if let Some(why) = e.unreadable() {
        obj.insert("unreadable".into(), json!(why));
    }
    if e.state() != ExchangeState::Changed {
        if let Some(r) = r {
            obj.insert("answer".into(), answer_json(&Answer::of(r)));
        }
    }
    v
}

/// The whole review as JSON, with what was done with each test when something was.
pub fn json(review: &Review, decisions: &[Option<Decision>]) -> Value {
    let c = review.counts();
    let tests: Vec<Value> = review
        .tests
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let decision = match decisions.get(i).copied().flatten() {
                None => Value::Null,
                Some(Decision::Accepted) => json!({"action": "accepted"}),
                Some(Decision::Skipped) => json!({"action": "skipped"}),
                Some(Decision::Rejected { restored, deleted }) => {
                    json!({"action": "rejected", "restored": restored, "deleted": deleted})
                }
            };
            json!({
                "test_id": t.test_id,
                "folder": t.folder,
                "files": t.files.iter().map(|f| json!({"path": f.path, "state": f.state.name()})).collect::<Vec<_>>(),
                "exchanges": t.exchanges.iter().map(exchange_json).collect::<Vec<_>>(),
                "decision": decision,
            })
        })
        .collect();
    json!({
        "recordings": review.dir.display().to_string(),
        "summary": {
            "tests": c.tests, "changed": c.changed, "new": c.new, "removed": c.removed,
            "breaking": c.breaking, "unreadable": c.unreadable,
        },
        "tests": tests,
    })
}
