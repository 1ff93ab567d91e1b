//! A [`Review`] for people and scripts: text (plain, or coloured on a terminal),
//! markdown (a CI run's summary) and JSON. Recordings come from pull requests, so
//! everything taken from them is escaped for where it goes: control and
//! bidirectional characters are shown as code points in text (no terminal escape
//! sequence gets through), and markdown gets no link, image, mention or HTML of theirs.
//!
//! The [`Markup`] of each output decides how text, removed and added words look;
//! [`change_lines`] and [`answer_lines`] say what a change or an answer is in words,
//! the same for every output (the HTML report too).

use super::{Counts, Exchange, ExchangeState, Review, TestReview};
use recorder_runtime::answer::{Answer, ToolCall};
use recorder_runtime::compare::{word_diff, Change, EmbeddingChange, Piece, Severity};
use recorder_runtime::diff::{self, show_value};
use serde_json::{json, Value};

/// How an output shows text and a word diff.
pub trait Markup {
    /// Text from a recording, escaped for the output.
    fn text(&self, s: &str) -> String;
    /// Words only in the old version.
    fn removed(&self, s: &str) -> String;
    /// Words only in the new version.
    fn added(&self, s: &str) -> String;
}

/// Plain text: `[-removed-]{+added+}`, as `git diff --word-diff=plain`.
pub struct Plain;
/// A terminal: removed words red and struck through, added ones green.
pub struct Colored;
/// GitHub-flavoured markdown: `<del>`/`<ins>`, everything else escaped.
pub struct Markdown;

impl Markup for Plain {
    fn text(&self, s: &str) -> String {
        visible(s)
    }
    fn removed(&self, s: &str) -> String {
        format!("[-{}-]", visible(s))
    }
    fn added(&self, s: &str) -> String {
        format!("{{+{}+}}", visible(s))
    }
}

impl Markup for Colored {
    fn text(&self, s: &str) -> String {
        visible(s)
    }
    fn removed(&self, s: &str) -> String {
        format!("\x1b[31;9m{}\x1b[0m", visible(s))
    }
    fn added(&self, s: &str) -> String {
        format!("\x1b[32;4m{}\x1b[0m", visible(s))
    }
}

impl Markup for Markdown {
    fn text(&self, s: &str) -> String {
        md_escape(s)
    }
    fn removed(&self, s: &str) -> String {
        format!("<del>{}</del>", md_escape(s))
    }
    fn added(&self, s: &str) -> String {
        format!("<ins>{}</ins>", md_escape(s))
    }
}

/// Characters that change how text reads without being seen: controls (a terminal
/// runs escape sequences), bidirectional overrides and zero-width characters.
pub fn is_hidden(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t')
        || matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}')
}

/// `s` with hidden characters (see [`is_hidden`]) shown as `\u{…}`.
///
/// ```
/// assert_eq!(recorder_cli::review::render::visible("a\x1b[2Jb\n"), "a\\u{1b}[2Jb\n");
/// ```
pub fn visible(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if is_hidden(c) {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

/// `s` as markdown text that renders as itself: ASCII punctuation backslash-escaped
/// (no link, image, emphasis, mention or table cell of its own), `<`, `>` and `&` as
/// entities (no HTML), line breaks as `<br>`, hidden characters as `U+…`.
///
/// ```
/// use recorder_cli::review::render::md_escape;
/// assert_eq!(md_escape("![x](http://a/b.png) <script>"), r"\!\[x\]\(http\:\/\/a\/b\.png\) &lt;script&gt;");
/// ```
pub fn md_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 2);
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\n' => out.push_str("<br>"),
            c if c.is_ascii_punctuation() => {
                out.push('\\');
                out.push(c);
            }
            c if is_hidden(c) => out.push_str(&format!("U\\+{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// `s` cut to `max` characters, `…` marking the cut.
pub fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        format!("{}…", s.chars().take(max).collect::<String>())
    }
}

/// How much unchanged text is shown around a change, at each side.
const CONTEXT: usize = 80;
/// How much of one removed or added run is shown.
const MAX_RUN: usize = 2000;

/// `old` -> `new` as a word diff in `m`'s markup; long unchanged stretches are cut
/// to their ends.
pub fn word_diff_markup(old: &str, new: &str, m: &dyn Markup) -> String {
    let pieces = word_diff(old, new);
    let last = pieces.len().saturating_sub(1);
    let mut out = String::new();
    for (i, p) in pieces.iter().enumerate() {
        match p {
            Piece::Same(s) => {
                let n = s.chars().count();
                let head = if i == 0 { 0 } else { CONTEXT };
                let tail = if i == last { 0 } else { CONTEXT };
                if n > head + tail + 10 {
                    let start: String = s.chars().take(head).collect();
                    let end: String = s.chars().skip(n - tail).collect();
                    out.push_str(&m.text(&start));
                    out.push_str(&m.text(" … "));
                    out.push_str(&m.text(&end));
                } else {
                    out.push_str(&m.text(s));
                }
            }
            Piece::Removed(s) => out.push_str(&m.removed(&clip(s, MAX_RUN))),
            Piece::Added(s) => out.push_str(&m.added(&clip(s, MAX_RUN))),
        }
    }
    out
}

/// One line of a change or an answer: a label, a value in some markup, and whether
/// it is breaking.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    /// What it is about: `text`, `finish reason`, ...
    pub label: &'static str,
    /// What changed, or what the answer says, in the markup asked for.
    pub value: String,
    /// Whether it is a [`Severity::Breaking`] change.
    pub breaking: bool,
}

fn none_or(v: &Option<String>) -> String {
    v.clone().unwrap_or_else(|| "none".into())
}

fn calls_text(calls: &[ToolCall]) -> String {
    if calls.is_empty() {
        return "none".into();
    }
    calls
        .iter()
        .map(|c| format!("{}({})", c.name, c.arguments))
        .collect::<Vec<_>>()
        .join(", ")
}

fn json_changes(changes: &[diff::Change], limit: usize, m: &dyn Markup) -> String {
    let mut parts: Vec<String> = changes
        .iter()
        .take(limit)
        .map(|c| {
            m.text(&format!(
                "{}: {} -> {}",
                c.path,
                show_value(&c.recorded, 80),
                show_value(&c.requested, 80)
            ))
        })
        .collect();
    if changes.len() > limit {
        parts.push(m.text(&format!("… and {} more", changes.len() - limit)));
    }
    parts.join(&m.text("; "))
}

fn usage_change(old: &[(String, u64)], new: &[(String, u64)]) -> String {
    let get = |v: &[(String, u64)], k: &str| v.iter().find(|(x, _)| x == k).map(|(_, n)| *n);
    let mut keys: Vec<&str> = old.iter().map(|(k, _)| k.as_str()).collect();
    keys.extend(
        new.iter()
            .map(|(k, _)| k.as_str())
            .filter(|k| get(old, k).is_none()),
    );
    keys.iter()
        .filter(|k| get(old, k) != get(new, k))
        .map(|k| {
            let show = |n: Option<u64>| n.map_or("none".to_owned(), |n| n.to_string());
            format!("{k} {} -> {}", show(get(old, k)), show(get(new, k)))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn embeddings_change(e: &EmbeddingChange) -> String {
    let mut parts = Vec::new();
    if e.count.0 != e.count.1 {
        parts.push(format!("{} -> {} vectors", e.count.0, e.count.1));
    }
    if e.dimension.0 != e.dimension.1 {
        parts.push(format!("{} -> {} dimensions", e.dimension.0, e.dimension.1));
    }
    if let Some(c) = e.min_cosine {
        let of = if e.count.0.min(e.count.1) > 1 {
            format!(" (lowest of {} vectors)", e.count.0.min(e.count.1))
        } else {
            String::new()
        };
        parts.push(format!("cosine similarity {c:.6}{of}"));
    }
    if let Some(d) = e.largest_difference {
        parts.push(format!("largest difference {d:.3e}"));
    }
    parts.join(", ")
}

/// Each change as a line (see [`Line`]).
pub fn change_lines(changes: &[Change], m: &dyn Markup) -> Vec<Line> {
    changes
        .iter()
        .map(|c| {
            let (label, value) = match c {
                Change::Request(d) => ("request", json_changes(d, 3, m)),
                Change::Status { old, new } => ("status", format!("{old} -> {new}")),
                Change::FinishReason { old, new } => (
                    "finish reason",
                    m.text(&format!("{} -> {}", none_or(old), none_or(new))),
                ),
                Change::ToolCalls { old, new } => (
                    "tool calls",
                    word_diff_markup(&calls_text(old), &calls_text(new), m),
                ),
                Change::Error { old, new } => {
                    ("error", word_diff_markup(&none_or(old), &none_or(new), m))
                }
                Change::Text { old, new } => ("text", word_diff_markup(old, new, m)),
                Change::Model { old, new } => (
                    "model",
                    m.text(&format!("{} -> {}", none_or(old), none_or(new))),
                ),
                Change::Usage { old, new } => ("usage", m.text(&usage_change(old, new))),
                Change::Embeddings(e) => ("embeddings", embeddings_change(e)),
                Change::Models { removed, added } => {
                    let mut parts: Vec<String> = removed.iter().map(|r| m.removed(r)).collect();
                    parts.extend(added.iter().map(|a| m.added(a)));
                    ("models", parts.join(" "))
                }
                Change::Frames { old, new } => {
                    let show =
                        |n: &Option<usize>| n.map_or("not streamed".into(), |n| n.to_string());
                    ("frames", format!("{} -> {}", show(old), show(new)))
                }
                Change::Json(d) => ("json", json_changes(d, 5, m)),
            };
            Line {
                label,
                value,
                breaking: c.severity() == Severity::Breaking,
            }
        })
        .collect()
}

/// What an answer says, as lines (for new and removed exchanges).
pub fn answer_lines(a: &Answer, max_text: usize, m: &dyn Markup) -> Vec<Line> {
    let mut out = Vec::new();
    let mut line = |label, value| {
        out.push(Line {
            label,
            value,
            breaking: false,
        })
    };
    if a.status != 200 {
        line("status", a.status.to_string());
    }
    if let Some(e) = &a.error {
        line("error", m.text(&clip(e, max_text)));
    }
    if !a.text.is_empty() {
        line("text", m.text(&clip(&a.text, max_text)));
    }
    if !a.tool_calls.is_empty() {
        line(
            "tool calls",
            m.text(&clip(&calls_text(&a.tool_calls), max_text)),
        );
    }
    if let Some(f) = &a.finish_reason {
        line("finish reason", m.text(f));
    }
    if !a.usage.is_empty() {
        let usage = a
            .usage
            .iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect::<Vec<_>>()
            .join(", ");
        line("usage", m.text(&usage));
    }
    if !a.embeddings.is_empty() {
        let n = a.embeddings.len();
        let dim = a.embeddings[0].len();
        line(
            "embeddings",
            format!(
                "{n} vector{} of {dim} dimensions",
                if n == 1 { "" } else { "s" }
            ),
        );
    }
    if !a.models.is_empty() {
        line("models", m.text(&clip(&a.models.join(", "), max_text)));
    }
    if let Some(n) = a.frames {
        line("frames", n.to_string());
    }
    out
}

/// `METHOD endpoint`, with the model when the request names one.
fn request_title(e: &Exchange) -> String {
    match e.recording() {
        Some(r) => {
            let model = r
                .request
                .model
                .as_deref()
                .map(|m| format!("  model={m}"))
                .unwrap_or_default();
            format!("{} {}{model}", r.request.method, r.request.endpoint)
        }
        None => "(unreadable)".into(),
    }
}

/// `<hash[..12]>….json`, or the name as it is.
fn short(file: &str) -> String {
    match file.split_once('.') {
        Some((hash, rest)) if hash.len() == 64 => format!("{}….{rest}", &hash[..12]),
        _ => file.to_owned(),
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
            let mark = if line.breaking { "!" } else { " " };
            let value = line.value.replace('\n', &format!("\n{}", " ".repeat(21)));
            out.push_str(&format!("    {mark} {:<14} {value}\n", line.label));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_escapes_everything_a_recording_could_use() {
        let hostile = "**x** [a](javascript:alert(1)) @someone #12 <img src=x onerror=alert(1)> `code` | cell\n# heading\u{202E}";
        let md = md_escape(hostile);
        for bad in [
            "<img",
            "](",
            "**x**",
            "`code`",
            "\n",
            "\u{202E}",
            " @someone",
            " #12",
        ] {
            assert!(!md.contains(bad), "{bad:?} got through: {md}");
        }
        assert!(md.contains("&lt;img"));
        assert!(md.contains("U\\+202E"));
    }

    #[test]
    fn text_shows_terminal_escapes_as_code_points() {
        let m = Plain;
        assert_eq!(m.text("\x1b]0;title\x07ok"), "\\u{1b}]0;title\\u{7}ok");
        assert_eq!(m.removed("\x1b[31m"), "[-\\u{1b}[31m-]");
    }

    #[test]
    fn long_unchanged_text_is_cut_around_the_change() {
        let before = "word ".repeat(100);
        let old = format!("{before}old end");
        let new = format!("{before}new end");
        let shown = word_diff_markup(&old, &new, &Plain);
        assert!(shown.starts_with(" … "), "{shown}");
        assert!(shown.ends_with("[-old-]{+new+} end"), "{shown}");
        assert!(shown.len() < 120, "{shown}");
    }
}
