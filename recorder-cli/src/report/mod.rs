//! `cargo recordings report --html FILE`: one static page of every test's recorded
//! exchanges as conversations (system, user, assistant and tool messages; streams
//! joined; images as thumbnails), with what differs from git's `HEAD` highlighted as
//! `review` shows it.
//!
//! The page stands alone: inline CSS, no script, no external asset, and a
//! Content-Security-Policy that lets it load nothing but `data:` images. Recordings
//! come from pull requests, so every text taken from them is HTML-escaped (a
//! recording holding `<script>` shows as text), only `data:` URLs of raster images
//! become `<img>`, and remote image URLs are shown as text, never loaded.

pub mod conversation;

use crate::review::render::{answer_lines, change_lines, visible, Markup};
use crate::review::{ExchangeState, Review};
use conversation::{Message, Part};
use recorder_runtime::answer::{Answer, Api};
use recorder_runtime::compare::{Change, Severity};
use recorder_runtime::recording::Recording;
use recorder_runtime::store;
use std::collections::BTreeMap;
use std::path::Path;

/// Everything the page shows.
#[derive(Debug, Default)]
pub struct Report {
    /// The tests, by folder.
    pub tests: Vec<ReportTest>,
    /// Files that could not be read: (path relative to the folder, why).
    pub unreadable: Vec<(String, String)>,
    /// Whether the changes against `HEAD` are known (the folder is in git).
    pub reviewed: bool,
}

/// One test on the page.
#[derive(Debug)]
pub struct ReportTest {
    /// The test id (the folder when no recording names one).
    pub name: String,
    /// Its folder, relative to the recordings folder.
    pub folder: String,
    /// Its exchanges, shortest conversation first.
    pub exchanges: Vec<ReportExchange>,
}

/// One exchange on the page.
#[derive(Debug)]
pub struct ReportExchange {
    /// The file name (`HEAD`'s for a removed exchange).
    pub file: String,
    /// The recording shown (`HEAD`'s for a removed exchange).
    pub recording: Recording,
    /// How it differs from `HEAD`; `None` when it does not.
    pub state: Option<ExchangeState>,
    /// What changed, for a changed exchange.
    pub changes: Vec<Change>,
}

impl ReportTest {
    /// Whether anything of the test differs from `HEAD`.
    pub fn differs(&self) -> bool {
        self.exchanges.iter().any(|e| e.state.is_some())
    }
}

/// Reads every recording under `dir` and lays the review's changes over them.
pub fn build(dir: &Path, review: Option<Review>) -> anyhow::Result<Report> {
    let reviewed = review.is_some();
    // (folder, new file name) -> (state, changes); removed exchanges by folder.
    let mut marks: BTreeMap<(String, String), (ExchangeState, Vec<Change>)> = BTreeMap::new();
    let mut removed: BTreeMap<String, Vec<ReportExchange>> = BTreeMap::new();
    for t in review.into_iter().flat_map(|r| r.tests) {
        for e in t.exchanges {
            let state = e.state();
            match (e.old, e.new) {
                (Some(old), None) => {
                    if let Ok(recording) = old.recording {
                        removed
                            .entry(t.folder.clone())
                            .or_default()
                            .push(ReportExchange {
                                file: old.file,
                                recording,
                                state: Some(state),
                                changes: Vec::new(),
                            });
                    }
                }
                (_, Some(new)) => {
                    marks.insert((t.folder.clone(), new.file), (state, e.changes));
                }
                (None, None) => {}
            }
        }
    }
    let mut folders: BTreeMap<String, Vec<ReportExchange>> = BTreeMap::new();
    let mut unreadable = Vec::new();
    let store = crate::store_at(dir);
    for path in store.files()? {
        let rel = crate::display_path(dir, &path).replace('\\', "/");
        let (folder, file) = match rel.rsplit_once('/') {
            Some((f, n)) => (f.to_owned(), n.to_owned()),
            None => (String::new(), rel.clone()),
        };
        let recording = match store.read_recording(&path) {
            Ok(r) => r,
            Err(e) => {
                unreadable.push((rel, e.to_string()));
                continue;
            }
        };
        let (state, changes) = marks
            .remove(&(folder.clone(), file.clone()))
            .map_or((None, Vec::new()), |(s, c)| (Some(s), c));
        folders.entry(folder).or_default().push(ReportExchange {
            file,
            recording,
            state,
            changes,
        });
    }
    for (folder, exchanges) in removed {
        folders.entry(folder).or_default().extend(exchanges);
    }
    let tests = folders
        .into_iter()
        .map(|(folder, mut exchanges)| {
            exchanges.sort_by_key(|e| {
                (
                    conversation::messages(&e.recording.request.body).len(),
                    e.file.clone(),
                )
            });
            let name = exchanges
                .iter()
                .find_map(|e| e.recording.test_id.clone())
                .unwrap_or_else(|| {
                    if folder == store::MODELS_DIR {
                        "(shared model lists)".to_owned()
                    } else {
                        folder.clone()
                    }
                });
            ReportTest {
                name,
                folder,
                exchanges,
            }
        })
        .collect();
    Ok(Report {
        tests,
        unreadable,
        reviewed,
    })
}

/// `s` escaped for HTML text and attribute values, hidden characters shown.
///
/// ```
/// assert_eq!(recorder_cli::report::esc("<script>\"'&"), "&lt;script&gt;&quot;&#39;&amp;");
/// ```
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 16);
    for c in visible(s).chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// HTML: `<del>`/`<ins>`, everything escaped.
struct Html;

impl Markup for Html {
    fn text(&self, s: &str) -> String {
        esc(s)
    }
    fn removed(&self, s: &str) -> String {
        format!("<del>{}</del>", esc(s))
    }
    fn added(&self, s: &str) -> String {
        format!("<ins>{}</ins>", esc(s))
    }
}

/// Whether `url` is a `data:` URL of a raster image, base64-encoded: the only kind
/// of image the page shows (no SVG, nothing remote).
pub fn is_inline_image(url: &str) -> bool {
    let Some((head, data)) = url
        .strip_prefix("data:")
        .and_then(|rest| rest.split_once(";base64,"))
    else {
        return false;
    };
    matches!(
        head.to_ascii_lowercase().as_str(),
        "image/png" | "image/jpeg" | "image/jpg" | "image/gif" | "image/webp"
    ) && !data.is_empty()
        && data
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='))
}

/// `1 test`, `2 tests`.
pub fn plural(n: usize, what: &str) -> String {
    format!("{n} {what}{}", if n == 1 { "" } else { "s" })
}

fn clip(s: &str, max: usize) -> String {
    crate::review::render::clip(s, max)
}

const STYLE: &str = r#"
:root { --line: #d0d7de; --muted: #57606a; }
* { box-sizing: border-box; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0; color: #1f2328; background: #f6f8fa; overflow-wrap: anywhere; }
header { background: #24292f; color: #fff; padding: 18px 28px; }
header h1 { margin: 0 0 4px; font-size: 22px; }
header p { margin: 0; color: #d0d7de; }
main { padding: 16px 28px 40px; max-width: 1100px; }
nav { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 10px 16px; margin: 16px 0; }
nav ol { margin: 4px 0; padding-left: 22px; columns: 2; }
nav li { break-inside: avoid; overflow-wrap: anywhere; }
nav a { color: #0969da; text-decoration: none; }
section.test { background: #fff; border: 1px solid var(--line); border-left: 6px solid #8c959f; border-radius: 6px; margin: 14px 0; }
section.test.differs { border-left-color: #bf8700; }
section.test > details > summary { padding: 10px 14px; cursor: pointer; font-weight: 600; font-size: 16px; }
.badge { display: inline-block; font-size: 12px; font-weight: 600; border-radius: 10px; padding: 1px 8px; margin-left: 6px; background: #eaeef2; color: #24292f; vertical-align: middle; }
.badge.changed { background: #fff8c5; color: #7d4e00; }
.badge.new { background: #dafbe1; color: #116329; }
.badge.removed { background: #ffebe9; color: #a40e26; }
.badge.breaking { background: #cf222e; color: #fff; }
article.exchange { border-top: 1px solid var(--line); padding: 10px 14px 14px; }
article.exchange.removed { opacity: .75; background: repeating-linear-gradient(135deg, #fff, #fff 8px, #fff5f5 8px, #fff5f5 16px); }
.meta { color: var(--muted); font-size: 13px; margin-bottom: 8px; font-family: ui-monospace, SFMono-Regular, Menlo, monospace; }
.msg { border: 1px solid var(--line); border-radius: 6px; margin: 6px 0; padding: 6px 10px; }
.msg .role { font-size: 12px; font-weight: 700; text-transform: uppercase; letter-spacing: .04em; color: var(--muted); }
.msg.system { background: #f6f8fa; }
.msg.user { background: #ddf4ff; border-color: #b6e3ff; }
.msg.assistant { background: #dafbe1; border-color: #aceebb; }
.msg.tool { background: #fbefff; border-color: #ecd8ff; }
.msg.input, .msg.request { background: #fff8c5; border-color: #eac54f; }
.text { white-space: pre-wrap; overflow-wrap: anywhere; }
pre { white-space: pre-wrap; overflow-wrap: anywhere; font-size: 12px; margin: 4px 0; }
.call { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 13px; overflow-wrap: anywhere; }
.call b { color: #8250df; }
img.thumb { max-width: 160px; max-height: 160px; border: 1px solid var(--line); border-radius: 4px; margin: 4px 4px 0 0; }
.remote { font-size: 13px; color: #a40e26; overflow-wrap: anywhere; }
.facts { font-size: 13px; color: var(--muted); margin-top: 4px; }
.changes { background: #fff8c5; border: 1px solid #eac54f; border-radius: 6px; margin: 6px 0 10px; padding: 6px 10px 6px 26px; }
.changes li { margin: 2px 0; overflow-wrap: anywhere; white-space: pre-wrap; }
.changes li.breaking { color: #a40e26; font-weight: 600; }
.changes .label { font-weight: 600; }
del { background: #ffcecb; color: #82071e; }
ins { background: #aceebb; color: #055d20; text-decoration: none; }
.problems { background: #ffebe9; border: 1px solid #ff8182; border-radius: 6px; padding: 8px 14px; }
"#;

/// The whole page.
pub fn page(report: &Report, dir: &Path) -> String {
    let mut h = String::with_capacity(64 * 1024);
    let exchanges: usize = report.tests.iter().map(|t| t.exchanges.len()).sum();
    let differ = report.tests.iter().filter(|t| t.differs()).count();
    h.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    h.push_str("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'\">\n");
    h.push_str("<meta name=\"referrer\" content=\"no-referrer\">\n");
    h.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    h.push_str("<title>Recorded conversations</title>\n<style>");
    h.push_str(STYLE);
    h.push_str("</style>\n</head>\n<body>\n<header><h1>Recorded conversations</h1><p>");
    h.push_str(&esc(&format!(
        "{}, {} in {}. ",
        plural(report.tests.len(), "test"),
        plural(exchanges, "exchange"),
        dir.display()
    )));
    if report.reviewed {
        h.push_str(&esc(&format!(
            "{differ} test{} differ{} from git's HEAD (highlighted).",
            if differ == 1 { "" } else { "s" },
            if differ == 1 { "s" } else { "" }
        )));
    } else {
        h.push_str("Not in a git repository: no changes shown.");
    }
    h.push_str("</p></header>\n<main>\n");
    if !report.unreadable.is_empty() {
        h.push_str("<div class=\"problems\"><b>Unreadable files</b><ul>");
        for (path, why) in &report.unreadable {
            h.push_str(&format!("<li>{}: {}</li>", esc(path), esc(why)));
        }
        h.push_str("</ul></div>\n");
    }
    h.push_str("<nav>");
    if differ > 0 {
        h.push_str("<b>Differ from HEAD</b><ul class=\"differ\">");
        for (i, t) in report.tests.iter().enumerate().filter(|(_, t)| t.differs()) {
            h.push_str(&format!("<li><a href=\"#t{i}\">{}</a></li>", esc(&t.name)));
        }
        h.push_str("</ul>");
    }
    h.push_str("<b>Tests</b><ol>");
    for (i, t) in report.tests.iter().enumerate() {
        h.push_str(&format!("<li><a href=\"#t{i}\">{}</a>", esc(&t.name)));
        if t.differs() {
            h.push_str("<span class=\"badge changed\">differs</span>");
        }
        h.push_str("</li>");
    }
    h.push_str("</ol></nav>\n");
    for (i, t) in report.tests.iter().enumerate() {
        test_section(&mut h, i, t);
    }
    h.push_str("</main>\n</body>\n</html>\n");
    h
}

fn test_section(h: &mut String, i: usize, t: &ReportTest) {
    let class = if t.differs() { "test differs" } else { "test" };
    let open = if t.differs() { " open" } else { "" };
    h.push_str(&format!(
        "<section class=\"{class}\" id=\"t{i}\" data-test-id=\"{}\"><details{open}><summary>{}",
        esc(&t.name),
        esc(&t.name)
    ));
    let count = |s: ExchangeState| t.exchanges.iter().filter(|e| e.state == Some(s)).count();
    for s in [
        ExchangeState::Changed,
        ExchangeState::New,
        ExchangeState::Removed,
    ] {
        let n = count(s);
        if n > 0 {
            h.push_str(&format!(
                "<span class=\"badge {0}\">{n} {0}</span>",
                s.name()
            ));
        }
    }
    h.push_str(&format!(
        "<span class=\"badge\">{} exchange{}</span></summary>\n",
        t.exchanges.len(),
        if t.exchanges.len() == 1 { "" } else { "s" }
    ));
    for e in &t.exchanges {
        exchange(h, e);
    }
    h.push_str("</details></section>\n");
}

fn exchange(h: &mut String, e: &ReportExchange) {
    let state = e.state.map_or("same", ExchangeState::name);
    h.push_str(&format!("<article class=\"exchange {state}\">"));
    let r = &e.recording;
    let answer = Answer::of(r);
    let mut meta = format!("{} {}", r.request.method, r.request.endpoint);
    if let Some(m) = &r.request.model {
        meta.push_str(&format!(" · model {m}"));
    }
    meta.push_str(&format!(" · status {}", r.response.status));
    if let Some(n) = answer.frames {
        meta.push_str(&format!(" · stream of {n} frames"));
    }
    meta.push_str(&format!(" · {}", e.file));
    h.push_str(&format!("<div class=\"meta\">{}", esc(&meta)));
    if let Some(s) = e.state {
        h.push_str(&format!("<span class=\"badge {0}\">{0}</span>", s.name()));
    }
    if e.changes.iter().any(|c| c.severity() == Severity::Breaking) {
        h.push_str("<span class=\"badge breaking\">breaking</span>");
    }
    h.push_str("</div>\n");
    if !e.changes.is_empty() {
        h.push_str("<ul class=\"changes\">");
        for line in change_lines(&e.changes, &Html) {
            let class = if line.breaking {
                " class=\"breaking\""
            } else {
                ""
            };
            h.push_str(&format!(
                "<li{class}><span class=\"label\">{}</span>: {}</li>",
                esc(line.label),
                line.value
            ));
        }
        h.push_str("</ul>\n");
    }
    for m in conversation::messages(&r.request.body) {
        message(h, &m);
    }
    answer_block(h, &answer, r);
    h.push_str("</article>\n");
}

fn message(h: &mut String, m: &Message) {
    let role = esc(&m.role);
    let class: String = m.role.chars().filter(char::is_ascii_alphabetic).collect();
    h.push_str(&format!(
        "<div class=\"msg {}\"><div class=\"role\">{role}</div>",
        esc(&class)
    ));
    for p in &m.parts {
        part(h, p);
    }
    h.push_str("</div>\n");
}

fn part(h: &mut String, p: &Part) {
    match p {
        Part::Text(t) => h.push_str(&format!("<div class=\"text\">{}</div>", esc(t))),
        Part::Image(url) if is_inline_image(url) => h.push_str(&format!(
            "<img class=\"thumb\" alt=\"image\" src=\"{}\">",
            esc(url)
        )),
        Part::Image(url) => h.push_str(&format!(
            "<div class=\"remote\">image, not loaded: {}</div>",
            esc(&clip(url, 300))
        )),
        Part::ToolCall { name, arguments } => h.push_str(&format!(
            "<div class=\"call\">→ <b>{}</b>({})</div>",
            esc(name),
            esc(&clip(arguments, 4000))
        )),
        Part::Json(v) => {
            let text = serde_json::to_string_pretty(v).unwrap_or_default();
            h.push_str(&format!("<pre>{}</pre>", esc(&clip(&text, 5000))));
        }
    }
}

fn answer_block(h: &mut String, a: &Answer, r: &Recording) {
    h.push_str("<div class=\"msg assistant\"><div class=\"role\">assistant</div>");
    if !a.text.is_empty() {
        h.push_str(&format!("<div class=\"text\">{}</div>", esc(&a.text)));
    }
    for c in &a.tool_calls {
        part(
            h,
            &Part::ToolCall {
                name: c.name.clone(),
                arguments: c.arguments.clone(),
            },
        );
    }
    let shown_elsewhere = !a.text.is_empty() || !a.tool_calls.is_empty();
    if a.api == Api::Other && !shown_elsewhere {
        let body = r
            .response
            .body
            .clone()
            .or_else(|| r.response.body_text.clone().map(serde_json::Value::String));
        if let Some(body) = body {
            part(h, &Part::Json(body));
        }
    }
    let facts: Vec<String> = answer_lines(a, 200, &Html)
        .into_iter()
        .filter(|l| !matches!(l.label, "text" | "tool calls" | "frames"))
        .map(|l| format!("{}: {}", esc(l.label), l.value))
        .collect();
    if !facts.is_empty() {
        h.push_str(&format!("<div class=\"facts\">{}</div>", facts.join(" · ")));
    }
    h.push_str("</div>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_raster_data_urls_are_images() {
        assert!(is_inline_image("data:image/png;base64,iVBORw0KGgo="));
        assert!(!is_inline_image("data:image/svg+xml;base64,PHN2Zz4="));
        assert!(!is_inline_image("https://example.com/a.png"));
        assert!(!is_inline_image("data:image/png;base64,\" onerror=\"x"));
        assert!(!is_inline_image("data:image/png,raw"));
    }
}
