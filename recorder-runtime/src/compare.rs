//! What changed between two recordings of the same exchange, in a reader's terms:
//! status, finish reason, tool calls, the assistant's text, token usage, embeddings,
//! frame counts, and for answers of no known shape a JSON diff. Each change has a
//! [`Severity`]: what a test's code branches on is [`Severity::Breaking`], text and
//! numbers that live models never repeat exactly are [`Severity::Drift`].
//!
//! `cargo recordings review` renders these for a re-record against git's `HEAD`;
//! `RECORD_MODE=verify` judges a live answer against the committed one by them. Pure
//! functions: nothing here reads files or the environment.
//!
//! ```
//! use recorder_runtime::compare::{compare, Change, Severity};
//! use recorder_runtime::recording::{RecordedRequest, RecordedResponse, Recording};
//! use serde_json::json;
//! let rec = |text: &str, finish: &str| Recording {
//!     test_id: Some("t".into()),
//!     request: RecordedRequest { method: "POST".into(), endpoint: "/v1/chat/completions".into(), model: None, body: json!({}) },
//!     response: RecordedResponse::plain(200, Some("application/json"), json!({"choices": [
//!         {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish}]}).to_string().as_bytes()),
//! };
//! let changes = compare(&rec("Paris.", "stop"), &rec("Paris, France.", "length"));
//! assert_eq!(changes.len(), 2);
//! assert!(matches!(&changes[0], Change::FinishReason { .. }));
//! assert_eq!(changes[0].severity(), Severity::Breaking);
//! assert!(matches!(&changes[1], Change::Text { old, new } if old == "Paris." && new == "Paris, France."));
//! assert_eq!(changes[1].severity(), Severity::Drift);
//! ```

use crate::answer::{Answer, ToolCall};
use crate::diff;
use crate::recording::Recording;

/// How much a change matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// Text and numbers (wording, token counts, embedding values, frame counts): a
    /// hosted model never repeats them exactly. `verify` reports them.
    Drift,
    /// What a test's code branches on: the status, the finish reason, the tool calls
    /// (and, for `verify`, a request with no recording). `verify` fails on them.
    Breaking,
}

impl Severity {
    /// `breaking` or `drift`.
    pub fn name(self) -> &'static str {
        match self {
            Severity::Breaking => "breaking",
            Severity::Drift => "drift",
        }
    }
}

/// One change between an old and a new recording of an exchange.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// The request itself differs (a re-record whose request hash changed).
    Request(Vec<diff::Change>),
    /// The HTTP status.
    Status {
        /// Before.
        old: u16,
        /// After.
        new: u16,
    },
    /// Why generation stopped.
    FinishReason {
        /// Before.
        old: Option<String>,
        /// After.
        new: Option<String>,
    },
    /// The tool calls (names or arguments).
    ToolCalls {
        /// Before.
        old: Vec<ToolCall>,
        /// After.
        new: Vec<ToolCall>,
    },
    /// The error message of an error answer.
    Error {
        /// Before.
        old: Option<String>,
        /// After.
        new: Option<String>,
    },
    /// The assistant's text (stream pieces joined); see [`word_diff`].
    Text {
        /// Before.
        old: String,
        /// After.
        new: String,
    },
    /// The model the answer names.
    Model {
        /// Before.
        old: Option<String>,
        /// After.
        new: Option<String>,
    },
    /// Token counts, by name.
    Usage {
        /// Before.
        old: Vec<(String, u64)>,
        /// After.
        new: Vec<(String, u64)>,
    },
    /// Embedding vectors.
    Embeddings(EmbeddingChange),
    /// The models of a model list.
    Models {
        /// Ids only in the old list.
        removed: Vec<String>,
        /// Ids only in the new list.
        added: Vec<String>,
    },
    /// The number of frames of a streamed answer (`None`: not streamed).
    Frames {
        /// Before.
        old: Option<usize>,
        /// After.
        new: Option<usize>,
    },
    /// The answers differ in nothing the above reads: their JSON differences (the
    /// recorded response as stored, e.g. `/body/results/0/score`).
    Json(Vec<diff::Change>),
}

/// How two answers' embeddings differ.
#[derive(Debug, Clone, PartialEq)]
pub struct EmbeddingChange {
    /// How many vectors, before and after.
    pub count: (usize, usize),
    /// The first vector's dimension, before and after.
    pub dimension: (usize, usize),
    /// The lowest cosine similarity between vectors at the same position (1 is the
    /// same direction); `None` when no pair of the same dimension exists.
    pub min_cosine: Option<f64>,
    /// The largest absolute difference between two components at the same place.
    pub largest_difference: Option<f64>,
}

impl Change {
    /// How much the change matters (see [`Severity`]).
    pub fn severity(&self) -> Severity {
        match self {
            Change::Status { .. } | Change::FinishReason { .. } | Change::ToolCalls { .. } => {
                Severity::Breaking
            }
            _ => Severity::Drift,
        }
    }

    /// A short name for the kind of change: `status`, `text`, `tool_calls`, ...
    pub fn kind(&self) -> &'static str {
        match self {
            Change::Request(_) => "request",
            Change::Status { .. } => "status",
            Change::FinishReason { .. } => "finish_reason",
            Change::ToolCalls { .. } => "tool_calls",
            Change::Error { .. } => "error",
            Change::Text { .. } => "text",
            Change::Model { .. } => "model",
            Change::Usage { .. } => "usage",
            Change::Embeddings(_) => "embeddings",
            Change::Models { .. } => "models",
            Change::Frames { .. } => "frames",
            Change::Json(_) => "json",
        }
    }
}

/// Every change from `old` to `new`, breaking ones first (see the
/// [module documentation](self)). Empty when the two say the same.
pub fn compare(old: &Recording, new: &Recording) -> Vec<Change> {
    let mut out = Vec::new();
    if old.request != new.request {
        let to_json = |r: &crate::recording::RecordedRequest| {
            serde_json::to_value(r).expect("a request is JSON")
        };
        out.push(Change::Request(diff::diff(
            &to_json(&old.request),
            &to_json(&new.request),
        )));
    }
    let before = out.len();
    out.extend(compare_answers(&Answer::of(old), &Answer::of(new)));
    if out.len() == before && old.response != new.response {
        let to_json = |r: &crate::recording::RecordedResponse| {
            serde_json::to_value(r).expect("a response is JSON")
        };
        let changes = diff::diff(&to_json(&old.response), &to_json(&new.response));
        if !changes.is_empty() {
            out.push(Change::Json(changes));
        }
    }
    out.sort_by_key(|c| std::cmp::Reverse(c.severity()));
    out
}

/// [`compare`], but what the setup's float `tolerance` allows is no change: nothing
/// when the two recordings are the same but for floats within it (see
/// [`crate::tolerance`]), and otherwise no embedding or JSON change made only of such
/// floats. What `RECORD_MODE=verify` reports, so that a model's float noise across
/// machines is never drift.
///
/// ```
/// use recorder_runtime::compare::{compare_within, Change};
/// use recorder_runtime::recording::{RecordedRequest, RecordedResponse, Recording};
/// use recorder_runtime::tolerance::Tolerance;
/// let rec = |body: &str| Recording {
///     test_id: Some("t".into()),
///     request: RecordedRequest { method: "POST".into(), endpoint: "/v1/embeddings".into(), model: None, body: serde_json::json!({}) },
///     response: RecordedResponse::plain(200, Some("application/json"), body.as_bytes()),
/// };
/// let old = rec(r#"{"data": [{"embedding": [0.25, 0.5]}], "usage": {"total_tokens": 4}}"#);
/// let noisy = rec(r#"{"data": [{"embedding": [0.2512, 0.5]}], "usage": {"total_tokens": 4}}"#);
/// assert!(compare_within(&old, &noisy, &Tolerance::default()).is_empty());
/// let longer = rec(r#"{"data": [{"embedding": [0.2512, 0.5]}], "usage": {"total_tokens": 5}}"#);
/// let changes = compare_within(&old, &longer, &Tolerance::default());
/// assert!(matches!(&changes[..], [Change::Usage { .. }]), "{changes:?}");
/// ```
pub fn compare_within(
    old: &Recording,
    new: &Recording,
    tolerance: &crate::tolerance::Tolerance,
) -> Vec<Change> {
    use crate::tolerance::{compare_recordings, Verdict};
    let first = match compare_recordings(old, new, tolerance) {
        Verdict::Equal | Verdict::Within { .. } => return Vec::new(),
        Verdict::Changed(first) => first,
    };
    let close = |c: &diff::Change| match (&c.recorded, &c.requested) {
        (Some(a), Some(b)) => match (a.as_f64(), b.as_f64()) {
            (Some(x), Some(y)) => (a.is_f64() || b.is_f64()) && tolerance.close(x, y),
            _ => false,
        },
        _ => false,
    };
    let mut out: Vec<Change> = compare(old, new)
        .into_iter()
        .filter_map(|c| match c {
            Change::Embeddings(_)
                if embeddings_close(
                    &Answer::of(old).embeddings,
                    &Answer::of(new).embeddings,
                    tolerance,
                ) =>
            {
                None
            }
            Change::Json(d) => {
                let d: Vec<diff::Change> = d.into_iter().filter(|c| !close(c)).collect();
                (!d.is_empty()).then_some(Change::Json(d))
            }
            Change::Request(d) => {
                let d: Vec<diff::Change> = d.into_iter().filter(|c| !close(c)).collect();
                (!d.is_empty()).then_some(Change::Request(d))
            }
            c => Some(c),
        })
        .collect();
    if out.is_empty() {
        // A difference none of the above reads (a header, a float that became an
        // integer): the first one, as JSON.
        out.push(Change::Json(vec![diff::Change {
            path: first.path,
            recorded: first.old,
            requested: first.new,
        }]));
    }
    out
}

/// Whether two lists of vectors have the same shape and every component within the
/// tolerance.
fn embeddings_close(
    old: &[Vec<f64>],
    new: &[Vec<f64>],
    tolerance: &crate::tolerance::Tolerance,
) -> bool {
    old.len() == new.len()
        && old.iter().zip(new).all(|(x, y)| {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| tolerance.close(*p, *q))
        })
}

/// The changes between two answers read by [`Answer::of`], in a fixed order.
pub fn compare_answers(a: &Answer, b: &Answer) -> Vec<Change> {
    let mut out = Vec::new();
    if a.status != b.status {
        out.push(Change::Status {
            old: a.status,
            new: b.status,
        });
    }
    if a.finish_reason != b.finish_reason {
        out.push(Change::FinishReason {
            old: a.finish_reason.clone(),
            new: b.finish_reason.clone(),
        });
    }
    let same_calls = a.tool_calls.len() == b.tool_calls.len()
        && a.tool_calls
            .iter()
            .zip(&b.tool_calls)
            .all(|(x, y)| x.same_as(y));
    if !same_calls {
        out.push(Change::ToolCalls {
            old: a.tool_calls.clone(),
            new: b.tool_calls.clone(),
        });
    }
    if a.error != b.error {
        out.push(Change::Error {
            old: a.error.clone(),
            new: b.error.clone(),
        });
    }
    if a.text != b.text {
        out.push(Change::Text {
            old: a.text.clone(),
            new: b.text.clone(),
        });
    }
    if a.model != b.model {
        out.push(Change::Model {
            old: a.model.clone(),
            new: b.model.clone(),
        });
    }
    if a.usage != b.usage {
        out.push(Change::Usage {
            old: a.usage.clone(),
            new: b.usage.clone(),
        });
    }
    if a.embeddings != b.embeddings {
        out.push(Change::Embeddings(embedding_change(
            &a.embeddings,
            &b.embeddings,
        )));
    }
    if a.models != b.models {
        out.push(Change::Models {
            removed: a
                .models
                .iter()
                .filter(|m| !b.models.contains(m))
                .cloned()
                .collect(),
            added: b
                .models
                .iter()
                .filter(|m| !a.models.contains(m))
                .cloned()
                .collect(),
        });
    }
    if a.frames != b.frames {
        out.push(Change::Frames {
            old: a.frames,
            new: b.frames,
        });
    }
    out
}

/// How two lists of embedding vectors differ: counts, dimensions, the lowest cosine
/// similarity and the largest component difference between vectors at the same position.
///
/// ```
/// use recorder_runtime::compare::embedding_change;
/// let c = embedding_change(&[vec![1.0, 0.0]], &[vec![0.0, 1.0]]);
/// assert_eq!(c.min_cosine, Some(0.0));
/// assert_eq!(c.largest_difference, Some(1.0));
/// ```
pub fn embedding_change(old: &[Vec<f64>], new: &[Vec<f64>]) -> EmbeddingChange {
    let dim = |v: &[Vec<f64>]| v.first().map_or(0, Vec::len);
    let mut min_cosine: Option<f64> = None;
    let mut largest: Option<f64> = None;
    for (x, y) in old.iter().zip(new).filter(|(x, y)| x.len() == y.len()) {
        let cos = cosine(x, y);
        min_cosine = Some(min_cosine.map_or(cos, |m| m.min(cos)));
        for (p, q) in x.iter().zip(y) {
            let d = (p - q).abs();
            largest = Some(largest.map_or(d, |l| l.max(d)));
        }
    }
    EmbeddingChange {
        count: (old.len(), new.len()),
        dimension: (dim(old), dim(new)),
        min_cosine,
        largest_difference: largest,
    }
}

/// The cosine similarity of two vectors of the same length (0 when either is zero).
pub fn cosine(x: &[f64], y: &[f64]) -> f64 {
    let dot: f64 = x.iter().zip(y).map(|(p, q)| p * q).sum();
    let norm = |v: &[f64]| v.iter().map(|p| p * p).sum::<f64>().sqrt();
    let (nx, ny) = (norm(x), norm(y));
    if nx == 0.0 || ny == 0.0 {
        0.0
    } else {
        dot / (nx * ny)
    }
}

/// A piece of a [`word_diff`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// In both texts.
    Same(String),
    /// Only in the old text.
    Removed(String),
    /// Only in the new text.
    Added(String),
}

/// Past this many cells (words of the old middle times words of the new), the middle
/// is shown as removed whole and added whole: the table would cost too much memory.
const MAX_CELLS: usize = 4_000_000;

/// The old text turned into the new one, word by word: words (letters and digits),
/// runs of whitespace and single punctuation marks are the units; an unchanged stretch
/// of only spaces and punctuation between two changes joins them, and each changed
/// stretch is one removed piece then one added piece.
///
/// ```
/// use recorder_runtime::compare::{word_diff, Piece};
/// assert_eq!(
///     word_diff("The capital is Paris.", "The capital is Lyon."),
///     [Piece::Same("The capital is ".into()), Piece::Removed("Paris".into()), Piece::Added("Lyon".into()), Piece::Same(".".into())]
/// );
/// ```
pub fn word_diff(old: &str, new: &str) -> Vec<Piece> {
    let a = words(old);
    let b = words(new);
    let prefix = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let suffix = a[prefix..]
        .iter()
        .rev()
        .zip(b[prefix..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let (ma, mb) = (&a[prefix..a.len() - suffix], &b[prefix..b.len() - suffix]);
    let mut ops: Vec<Piece> = a[..prefix]
        .iter()
        .map(|w| Piece::Same((*w).to_owned()))
        .collect();
    if ma.len().saturating_mul(mb.len()) > MAX_CELLS {
        ops.push(Piece::Removed(ma.concat()));
        ops.push(Piece::Added(mb.concat()));
    } else {
        ops.extend(lcs_script(ma, mb));
    }
    ops.extend(
        a[a.len() - suffix..]
            .iter()
            .map(|w| Piece::Same((*w).to_owned())),
    );
    tidy(ops)
}

/// Merges a word diff's pieces: equal neighbours join; a stretch of only spaces and
/// punctuation between changes becomes part of them; each run of changes is one
/// removed piece then one added piece.
fn tidy(ops: Vec<Piece>) -> Vec<Piece> {
    // Same pieces merged first, so that "is the" counts as one stretch.
    let mut merged: Vec<Piece> = Vec::new();
    for op in ops {
        match (merged.last_mut(), op) {
            (Some(Piece::Same(s)), Piece::Same(t)) => s.push_str(&t),
            (_, op) => merged.push(op),
        }
    }
    let is_change = |p: Option<&Piece>| matches!(p, Some(Piece::Removed(_) | Piece::Added(_)));
    let mut out: Vec<Piece> = Vec::new();
    let (mut removed, mut added) = (String::new(), String::new());
    let flush = |out: &mut Vec<Piece>, removed: &mut String, added: &mut String| {
        if !removed.is_empty() {
            out.push(Piece::Removed(std::mem::take(removed)));
        }
        if !added.is_empty() {
            out.push(Piece::Added(std::mem::take(added)));
        }
    };
    for i in 0..merged.len() {
        match &merged[i] {
            Piece::Removed(s) => removed.push_str(s),
            Piece::Added(s) => added.push_str(s),
            Piece::Same(s)
                if is_change(i.checked_sub(1).and_then(|j| merged.get(j)))
                    && is_change(merged.get(i + 1))
                    && !s.chars().any(char::is_alphanumeric) =>
            {
                removed.push_str(s);
                added.push_str(s);
            }
            Piece::Same(s) => {
                flush(&mut out, &mut removed, &mut added);
                if !s.is_empty() {
                    out.push(Piece::Same(s.clone()));
                }
            }
        }
    }
    flush(&mut out, &mut removed, &mut added);
    out
}

/// Words (letters and digits), runs of whitespace, and single other characters.
fn words(s: &str) -> Vec<&str> {
    #[derive(PartialEq, Clone, Copy)]
    enum Class {
        Word,
        Space,
        Other,
    }
    let class = |c: char| {
        if c.is_alphanumeric() || c == '_' {
            Class::Word
        } else if c.is_whitespace() {
            Class::Space
        } else {
            Class::Other
        }
    };
    let mut out = Vec::new();
    let mut start = 0;
    let mut prev: Option<Class> = None;
    for (i, c) in s.char_indices() {
        let k = class(c);
        if prev.is_some_and(|p| p != k || k == Class::Other) {
            out.push(&s[start..i]);
            start = i;
        }
        prev = Some(k);
    }
    if start < s.len() {
        out.push(&s[start..]);
    }
    out
}

/// The edit script of a longest common subsequence of `a` and `b`.
fn lcs_script(a: &[&str], b: &[&str]) -> Vec<Piece> {
    let (n, m) = (a.len(), b.len());
    // lengths[i][j]: the LCS of a[i..] and b[j..].
    let mut lengths = vec![0u32; (n + 1) * (m + 1)];
    let at = |i: usize, j: usize| i * (m + 1) + j;
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lengths[at(i, j)] = if a[i] == b[j] {
                lengths[at(i + 1, j + 1)] + 1
            } else {
                lengths[at(i + 1, j)].max(lengths[at(i, j + 1)])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::new();
    while i < n || j < m {
        if i < n && j < m && a[i] == b[j] {
            out.push(Piece::Same(a[i].to_owned()));
            i += 1;
            j += 1;
        } else if j < m && (i == n || lengths[at(i, j + 1)] >= lengths[at(i + 1, j)]) {
            out.push(Piece::Added(b[j].to_owned()));
            j += 1;
        } else {
            out.push(Piece::Removed(a[i].to_owned()));
            i += 1;
        }
    }
    out
}

/// One side of [`pair`]: a recording and the name of its file in its test's folder.
#[derive(Debug, Clone, Copy)]
pub struct Side<'a> {
    /// The file name (`<hash>.json`, `<hash>.<n>.json`, `models-….json`).
    pub file: &'a str,
    /// The recording.
    pub recording: &'a Recording,
}

/// Pairs the old recordings of a test with its new ones, by index: `(Some(i),
/// Some(j))` is one exchange recorded again, `(Some(i), None)` one no longer made,
/// `(None, Some(j))` a new one.
///
/// Files of the same name pair first. A re-record that changed a request (and so its
/// hash) pairs the rest by test, method and endpoint (the path, query aside): among
/// those, the requests whose bodies differ least pair first, then by occurrence order
/// (`<hash>.json`, `<hash>.2.json`, ...), then by file name.
///
/// ```
/// use recorder_runtime::compare::{pair, Side};
/// use recorder_runtime::recording::{RecordedRequest, RecordedResponse, Recording};
/// use serde_json::json;
/// let chat = |prompt: &str| Recording {
///     test_id: Some("t".into()),
///     request: RecordedRequest { method: "POST".into(), endpoint: "/v1/chat/completions".into(), model: None,
///         body: json!({"messages": [{"role": "user", "content": prompt}]}) },
///     response: RecordedResponse::plain(200, None, b"{}"),
/// };
/// let (old, new) = (chat("Hi"), chat("Hello"));
/// let pairs = pair(
///     &[Side { file: "aa.json", recording: &old }],
///     &[Side { file: "bb.json", recording: &new }],
/// );
/// assert_eq!(pairs, [(Some(0), Some(0))]);
/// ```
pub fn pair(old: &[Side<'_>], new: &[Side<'_>]) -> Vec<(Option<usize>, Option<usize>)> {
    let mut old_taken = vec![false; old.len()];
    let mut new_taken = vec![false; new.len()];
    let mut out = Vec::new();
    for (i, o) in old.iter().enumerate() {
        if let Some(j) = new.iter().position(|n| n.file == o.file) {
            if !new_taken[j] {
                old_taken[i] = true;
                new_taken[j] = true;
                out.push((Some(i), Some(j)));
            }
        }
    }
    let key = |s: &Side<'_>| {
        let r = &s.recording.request;
        (
            s.recording.test_id.clone(),
            r.method.clone(),
            r.endpoint.split('?').next().unwrap_or_default().to_owned(),
        )
    };
    let occurrence =
        |s: &Side<'_>| crate::store::RecordingKey::parse(s.file).map_or(1, |k| k.occurrence());
    let mut candidates = Vec::new();
    for (i, o) in old.iter().enumerate().filter(|(i, _)| !old_taken[*i]) {
        for (j, n) in new.iter().enumerate().filter(|(j, _)| !new_taken[*j]) {
            if key(o) == key(n) {
                let distance =
                    diff::diff(&o.recording.request.body, &n.recording.request.body).len();
                let order = occurrence(o).abs_diff(occurrence(n));
                candidates.push(((distance, order, o.file, n.file), i, j));
            }
        }
    }
    candidates.sort();
    for (_, i, j) in candidates {
        if !old_taken[i] && !new_taken[j] {
            old_taken[i] = true;
            new_taken[j] = true;
            out.push((Some(i), Some(j)));
        }
    }
    out.extend(
        (0..old.len())
            .filter(|i| !old_taken[*i])
            .map(|i| (Some(i), None)),
    );
    out.extend(
        (0..new.len())
            .filter(|j| !new_taken[*j])
            .map(|j| (None, Some(j))),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recording::{RecordedRequest, RecordedResponse};
    use serde_json::{json, Value};

    fn rec(body: Value, response: Value) -> Recording {
        Recording {
            test_id: Some("t".into()),
            request: RecordedRequest {
                method: "POST".into(),
                endpoint: "/v1/x".into(),
                model: None,
                body,
            },
            response: RecordedResponse::plain(200, None, response.to_string().as_bytes()),
        }
    }

    #[test]
    fn word_diff_marks_words_not_letters() {
        let d = word_diff("one two three", "one 2 three four");
        assert_eq!(
            d,
            [
                Piece::Same("one ".into()),
                Piece::Removed("two".into()),
                Piece::Added("2".into()),
                Piece::Same(" three".into()),
                Piece::Added(" four".into()),
            ]
        );
        // Spaces and punctuation alone do not split a change into crumbs.
        assert_eq!(
            word_diff(
                "Paris is the capital of France.",
                "The capital of France is Paris, on the Seine."
            ),
            [
                Piece::Removed("Paris".into()),
                Piece::Added("The capital of France".into()),
                Piece::Same(" is ".into()),
                Piece::Removed("the capital of France".into()),
                Piece::Added("Paris, on the Seine".into()),
                Piece::Same(".".into()),
            ]
        );
        // Tool arguments: the value that changed, not the whole call.
        assert_eq!(
            word_diff(r#"f({"city":"Paris"})"#, r#"f({"city":"Lyon"})"#),
            [
                Piece::Same(r#"f({"city":""#.into()),
                Piece::Removed("Paris".into()),
                Piece::Added("Lyon".into()),
                Piece::Same(r#""})"#.into()),
            ]
        );
        assert_eq!(word_diff("same", "same"), [Piece::Same("same".into())]);
        assert_eq!(word_diff("", "new"), [Piece::Added("new".into())]);
        // Rebuilding either side from the pieces gives the text back.
        let (old, new) = ("a b c d e f", "a x c e f g h");
        let d = word_diff(old, new);
        let side = |keep_removed: bool| {
            d.iter()
                .filter_map(|p| match p {
                    Piece::Same(s) => Some(s.as_str()),
                    Piece::Removed(s) if keep_removed => Some(s.as_str()),
                    Piece::Added(s) if !keep_removed => Some(s.as_str()),
                    _ => None,
                })
                .collect::<String>()
        };
        assert_eq!((side(true).as_str(), side(false).as_str()), (old, new));
    }

    #[test]
    fn a_huge_middle_is_replaced_whole() {
        let old: String = (0..3000).map(|i| format!("a{i} ")).collect();
        let new: String = (0..3000).map(|i| format!("b{i} ")).collect();
        let d = word_diff(&old, &new);
        assert_eq!(d.len(), 3, "{:?}", &d[..3.min(d.len())]);
    }

    #[test]
    fn unknown_answers_fall_back_to_a_json_diff() {
        let changes = compare(
            &rec(json!({}), json!({"results": [{"score": 0.5}]})),
            &rec(json!({}), json!({"results": [{"score": 0.7}]})),
        );
        let [Change::Json(d)] = &changes[..] else {
            panic!("{changes:?}")
        };
        assert_eq!(d[0].path, "/body/results/0/score");
        assert!(compare(
            &rec(json!({}), json!({"a": 1})),
            &rec(json!({}), json!({"a": 1}))
        )
        .is_empty());
    }

    #[test]
    fn embeddings_report_cosine_and_largest_difference() {
        let e = |v: Value| json!({"object": "list", "data": [{"embedding": v}]});
        let changes = compare(
            &rec(json!({}), e(json!([0.6, 0.8]))),
            &rec(json!({}), e(json!([0.8, 0.6]))),
        );
        let [Change::Embeddings(c)] = &changes[..] else {
            panic!("{changes:?}")
        };
        assert_eq!((c.count, c.dimension), ((1, 1), (2, 2)));
        assert!((c.min_cosine.unwrap() - 0.96).abs() < 1e-9);
        assert!((c.largest_difference.unwrap() - 0.2).abs() < 1e-9);
        assert_eq!(changes[0].severity(), Severity::Drift);
    }

    #[test]
    fn tool_calls_and_status_are_breaking_and_come_first() {
        let call = |args: &str| {
            json!({"choices": [{"index": 0, "message": {"content": "ok", "tool_calls": [
                {"function": {"name": "f", "arguments": args}}]}}]})
        };
        let changes = compare(
            &rec(json!({}), call(r#"{"a": 1, "b": 2}"#)),
            &rec(json!({}), call(r#"{"b":2,"a":1}"#)),
        );
        // Key order and spacing are no tool call change; the file still differs.
        let kinds: Vec<_> = changes.iter().map(Change::kind).collect();
        assert_eq!(kinds, ["json"]);
        let mut new = rec(json!({"x": 1}), call(r#"{"a": 2}"#));
        new.response.status = 500;
        let changes = compare(&rec(json!({}), call(r#"{"a": 1}"#)), &new);
        let kinds: Vec<_> = changes.iter().map(Change::kind).collect();
        assert_eq!(kinds, ["status", "tool_calls", "request"]);
    }

    #[test]
    fn pairing_prefers_same_files_then_closest_requests() {
        let a1 = rec(json!({"prompt": "one"}), json!({}));
        let a2 = rec(json!({"prompt": "two", "n": 1}), json!({}));
        let b1 = rec(json!({"prompt": "two", "n": 2}), json!({}));
        let b2 = rec(json!({"prompt": "uno"}), json!({}));
        let mut other = rec(json!({}), json!({}));
        other.request.endpoint = "/v1/embeddings".into();
        let same = rec(json!({}), json!({}));
        let old = [
            Side {
                file: "a1.json",
                recording: &a1,
            },
            Side {
                file: "a2.json",
                recording: &a2,
            },
            Side {
                file: "s.json",
                recording: &same,
            },
        ];
        let new = [
            Side {
                file: "b1.json",
                recording: &b1,
            },
            Side {
                file: "b2.json",
                recording: &b2,
            },
            Side {
                file: "e.json",
                recording: &other,
            },
            Side {
                file: "s.json",
                recording: &same,
            },
        ];
        let mut pairs = pair(&old, &new);
        pairs.sort();
        assert_eq!(
            pairs,
            [
                (None, Some(2)),
                (Some(0), Some(1)),
                (Some(1), Some(0)),
                (Some(2), Some(3))
            ]
        );
    }
}
