//! Changes ([`crate::compare`]) and answers ([`crate::answer`]) in words, for people:
//! what `cargo recordings review` and its HTML report show, and what
//! `RECORD_MODE=verify` reports for a test (see [`crate::drift`]).
//!
//! Recordings come from pull requests, so everything taken from them is escaped for
//! where it goes: control and bidirectional characters are shown as code points in
//! text (no terminal escape sequence gets through), and markdown gets no link, image,
//! mention or HTML of theirs. The [`Markup`] of each output decides how text, removed
//! and added words look; [`change_lines`] and [`answer_lines`] say what a change or an
//! answer is in words, the same for every output.
//!
//! ```
//! use recorder_runtime::compare::Change;
//! use recorder_runtime::describe::{change_lines, line_text, Plain};
//! let changes = [
//!     Change::FinishReason { old: Some("stop".into()), new: Some("length".into()) },
//!     Change::Text { old: "The capital is Paris.".into(), new: "The capital is Lyon.".into() },
//! ];
//! let text: String = change_lines(&changes, &Plain).iter().map(|l| line_text(l, 4)).collect();
//! assert_eq!(text, "    ! finish reason  stop -> length\n      text           The capital is [-Paris-]{+Lyon+}.\n");
//! ```

use crate::answer::{Answer, ToolCall};
use crate::compare::{word_diff, Change, EmbeddingChange, Piece, Severity};
use crate::diff::{self, show_value};
use crate::recording::RecordedRequest;

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
/// assert_eq!(recorder_runtime::describe::visible("a\x1b[2Jb\n"), "a\\u{1b}[2Jb\n");
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
/// use recorder_runtime::describe::md_escape;
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

/// One [`Line`] as text: `indent` spaces, `!` for a breaking change, the label in a
/// column of 14, the value; the value's further lines are indented under its first.
pub fn line_text(line: &Line, indent: usize) -> String {
    let mark = if line.breaking { "!" } else { " " };
    let under = " ".repeat(indent + 17);
    let value = line.value.replace('\n', &format!("\n{under}"));
    format!("{}{mark} {:<14} {value}\n", " ".repeat(indent), line.label)
}

/// `METHOD endpoint`, with `  model=…` when the request names one.
///
/// ```
/// use recorder_runtime::recording::RecordedRequest;
/// let req = RecordedRequest { method: "POST".into(), endpoint: "/v1/chat/completions".into(), model: Some("m".into()), body: serde_json::json!({}) };
/// assert_eq!(recorder_runtime::describe::request_title(&req), "POST /v1/chat/completions  model=m");
/// ```
pub fn request_title(req: &RecordedRequest) -> String {
    let model = req
        .model
        .as_deref()
        .map(|m| format!("  model={m}"))
        .unwrap_or_default();
    format!("{} {}{model}", req.method, req.endpoint)
}

/// A recording's file name shortened for people: `<hash[..12]>….json`, or the name as
/// it is.
///
/// ```
/// let name = format!("{}.2.json", "ab".repeat(32));
/// assert_eq!(recorder_runtime::describe::short_file(&name), "abababababab….2.json");
/// assert_eq!(recorder_runtime::describe::short_file("_ids.json"), "_ids.json");
/// ```
pub fn short_file(file: &str) -> String {
    match file.split_once('.') {
        Some((hash, rest)) if hash.len() == 64 => format!("{}….{rest}", &hash[..12]),
        _ => file.to_owned(),
    }
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
