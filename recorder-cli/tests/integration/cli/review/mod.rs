//! `review` and `report --html` on a scratch git repository: recordings committed,
//! then re-recorded with changed text, changed tool calls, changed embeddings, a new
//! test, a removed one, a request whose hash changed, and a recording holding HTML,
//! markdown and terminal escapes (recordings come from pull requests).

mod browser;

use recorder_cli::{run_with, Console, EXIT_ERROR, EXIT_OK};
use recorder_runtime::recording::{RecordedRequest, RecordedResponse, Recording};
use recorder_runtime::store::{RecordingKey, Store};
use recorder_runtime::stream::{Frame, StreamFormat};
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

pub const CHAT: &str = "demo::chat::answers[text=m]";
pub const TOOLS: &str = "demo::tools::calls_a_tool[text=m]";
pub const EMBED: &str = "demo::embeddings::embeds[embedding=e]";
pub const FRESH: &str = "demo::fresh::is_new[text=m]";
pub const GONE: &str = "demo::gone::was_removed[text=m]";
pub const REWORDED: &str = "demo::prompt::reworded[text=m]";
pub const STEADY: &str = "demo::steady::unchanged[text=m]";
pub const HOSTILE: &str = "demo::hostile::renders[vision=v]";

/// What the hostile recording's answer says after the re-record.
pub const HOSTILE_TEXT: &str = "<script>document.title='PWNED'</script><img src=x onerror=\"document.body.dataset.pwned=1\"> ![t](http://127.0.0.1:9/md.png) **bold** @someone \u{1b}[2J\u{202E}done";

fn request(endpoint: &str, body: Value) -> RecordedRequest {
    RecordedRequest {
        method: "POST".into(),
        endpoint: endpoint.into(),
        model: body.get("model").and_then(Value::as_str).map(str::to_owned),
        body,
    }
}

fn json_response(v: Value) -> RecordedResponse {
    RecordedResponse::plain(200, Some("application/json"), v.to_string().as_bytes())
}

pub fn chat(test: &str, prompt: Value, reply: &str, finish: &str, tokens: u64) -> Recording {
    Recording {
        test_id: Some(test.into()),
        request: request(
            "/v1/chat/completions",
            json!({"model": "m", "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": prompt}]}),
        ),
        response: json_response(json!({
            "id": "rec-000000000000", "object": "chat.completion", "created": 0, "model": "m",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": reply}, "finish_reason": finish}],
            "usage": {"prompt_tokens": 9, "completion_tokens": tokens, "total_tokens": 9 + tokens}})),
    }
}

fn tool_stream(city: &str) -> Recording {
    let frame = |v: Value| Frame {
        data: Some(v),
        ..Frame::default()
    };
    let args = format!("{{\"city\": \"{city}\"}}");
    Recording {
        test_id: Some(TOOLS.into()),
        request: request(
            "/v1/chat/completions",
            json!({"model": "m", "stream": true, "messages": [{"role": "user", "content": "Weather in France's capital?"}],
                   "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]}),
        ),
        response: RecordedResponse::streamed(
            200,
            StreamFormat::Sse,
            vec![
                frame(
                    json!({"choices": [{"index": 0, "delta": {"role": "assistant", "tool_calls": [{"index": 0, "id": "call_rec-1", "function": {"name": "get_weather", "arguments": ""}}]}}]}),
                ),
                frame(
                    json!({"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": args}}]}, "finish_reason": "tool_calls"}]}),
                ),
                frame(json!("[DONE]")),
            ],
        ),
    }
}

fn embedding(vector: Value) -> Recording {
    Recording {
        test_id: Some(EMBED.into()),
        request: request(
            "/v1/embeddings",
            json!({"model": "e", "input": ["a cat", "a dog"]}),
        ),
        response: json_response(json!({"object": "list", "model": "e",
            "data": [{"object": "embedding", "index": 0, "embedding": vector}, {"object": "embedding", "index": 1, "embedding": [0.0, 1.0, 0.0]}],
            "usage": {"prompt_tokens": 4, "total_tokens": 4}})),
    }
}

fn hostile(reply: &str) -> Recording {
    let prompt = json!([
        {"type": "text", "text": "What is in <b>this</b> image? </div><script>document.title='PWNED'</script>"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGP4z8DwHwAFAAH/iZk9HQAAAABJRU5ErkJggg=="}},
        {"type": "image_url", "image_url": {"url": "http://127.0.0.1:9/remote.png"}}
    ]);
    let mut rec = chat(HOSTILE, prompt, reply, "stop", 5);
    rec.request.model = Some("v".into());
    rec
}

/// A git repository in a temporary folder: the recordings above committed, then
/// changed as a re-record would.
pub struct Scratch {
    _tmp: tempfile::TempDir,
    pub root: PathBuf,
}

impl Scratch {
    pub fn new() -> Scratch {
        Self::with_hostile_port(9)
    }

    /// As [`Scratch::new`], the hostile recording's remote images pointing at `port`.
    pub fn with_hostile_port(port: u16) -> Scratch {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().canonicalize().unwrap();
        let sc = Scratch { _tmp: tmp, root };
        sc.git(&["init", "-q", "-b", "main"]);
        let store = Store::new(sc.dir());
        let put = |rec: &Recording| {
            store
                .write(rec, &RecordingKey::first(rec.request_hash()))
                .unwrap()
        };
        let with_port = |rec: Recording| -> Recording {
            let text = serde_json::to_string(&rec)
                .unwrap()
                .replace("127.0.0.1:9", &format!("127.0.0.1:{port}"));
            serde_json::from_str(&text).unwrap()
        };

        put(&chat(
            CHAT,
            json!("Capital of France?"),
            "Paris is the capital of France.",
            "stop",
            7,
        ));
        put(&tool_stream("Paris"));
        fs::write(
            sc.folder(TOOLS).join("_ids.json"),
            "{\n  \"test_id\": \"old\"\n}\n",
        )
        .unwrap();
        put(&embedding(json!([0.6, 0.8, 0.0])));
        put(&chat(GONE, json!("Still there?"), "Yes.", "stop", 2));
        put(&chat(REWORDED, json!("Hi"), "Hello!", "stop", 2));
        put(&chat(STEADY, json!("Same?"), "Same.", "stop", 2));
        put(&with_port(hostile("fine")));
        sc.git(&["add", "-A"]);
        sc.git(&["commit", "-q", "-m", "recordings"]);

        // The re-record.
        put(&chat(
            CHAT,
            json!("Capital of France?"),
            "The capital of France is Paris, on the Seine.",
            "length",
            12,
        ));
        put(&tool_stream("Lyon"));
        fs::write(
            sc.folder(TOOLS).join("_ids.json"),
            "{\n  \"test_id\": \"new\"\n}\n",
        )
        .unwrap();
        put(&embedding(json!([0.8, 0.6, 0.0])));
        fs::remove_dir_all(sc.folder(GONE)).unwrap();
        put(&chat(FRESH, json!("New?"), "Brand new.", "stop", 3));
        fs::remove_dir_all(sc.folder(REWORDED)).unwrap();
        put(&chat(
            REWORDED,
            json!("Hello there"),
            "Hello! How are you?",
            "stop",
            5,
        ));
        put(&with_port(hostile(HOSTILE_TEXT)));
        sc
    }

    pub fn dir(&self) -> PathBuf {
        self.root.join("recordings")
    }

    pub fn folder(&self, test: &str) -> PathBuf {
        Store::new(self.dir()).scope_dir(test)
    }

    pub fn git(&self, args: &[&str]) -> String {
        let out = Command::new("git")
            .current_dir(&self.root)
            .args([
                "-c",
                "user.name=Dev",
                "-c",
                "user.email=dev@example.invalid",
            ])
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// `git status --porcelain` of the recordings: what the working tree holds.
    pub fn status(&self) -> String {
        self.git(&[
            "status",
            "--porcelain",
            "--untracked-files=all",
            "--",
            "recordings",
        ])
    }

    /// `cargo recordings ARGS --dir <recordings>` in process, asking `console`.
    pub fn run(&self, console: &mut dyn Console, args: &[&str]) -> (i32, String, String) {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let dir = self.dir();
        let mut argv = vec!["recordings"];
        argv.extend_from_slice(args);
        argv.extend(["--dir", dir.to_str().unwrap()]);
        let code = run_with(argv, console, &mut out, &mut err);
        (
            code,
            String::from_utf8(out).unwrap(),
            String::from_utf8(err).unwrap(),
        )
    }

    pub fn review(&self, args: &[&str]) -> (i32, String, String) {
        let mut args = args.to_vec();
        args.insert(0, "review");
        self.run(&mut NoTerminal, &args)
    }
}

/// No terminal: reading from it fails the test (review must never wait).
struct NoTerminal;

impl Console for NoTerminal {
    fn interactive(&self) -> bool {
        false
    }
    fn colors(&self) -> bool {
        false
    }
    fn read_line(&mut self) -> std::io::Result<Option<String>> {
        panic!("review read an answer without a terminal");
    }
}

/// A person at a terminal typing `lines`.
struct Typist {
    lines: VecDeque<&'static str>,
    asked: usize,
}

impl Console for Typist {
    fn interactive(&self) -> bool {
        true
    }
    fn colors(&self) -> bool {
        false
    }
    fn read_line(&mut self) -> std::io::Result<Option<String>> {
        self.asked += 1;
        Ok(self.lines.pop_front().map(str::to_owned))
    }
}

fn files_under(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push((
                    p.strip_prefix(dir).unwrap().display().to_string(),
                    fs::read(&p).unwrap(),
                ));
            }
        }
    }
    out.sort();
    out
}

/// The test's section of the text output: from its name to the next blank line.
fn section<'a>(text: &'a str, test: &str) -> &'a str {
    let start = text
        .find(&format!("\n{test}\n"))
        .unwrap_or_else(|| panic!("{test} is not in:\n{text}"));
    let rest = &text[start + 1..];
    &rest[..rest.find("\n\n").unwrap_or(rest.len())]
}

#[test]
fn review_says_what_changed_in_a_readers_terms_and_touches_nothing() {
    let sc = Scratch::new();
    let before = (sc.status(), files_under(&sc.dir()));
    let (code, out, err) = sc.review(&[]);
    assert_eq!(code, EXIT_OK, "{err}");
    assert!(
        out.starts_with("Recordings in ")
            && out.contains(
                "7 tests; exchanges: 5 changed, 1 new, 1 removed; 2 with a breaking change"
            ),
        "{out}"
    );

    let chat = section(&out, CHAT);
    assert!(
        chat.contains("changed  POST /v1/chat/completions  model=m"),
        "{chat}"
    );
    assert!(
        chat.contains("! finish reason  stop -> length"),
        "the finish reason is breaking: {chat}"
    );
    assert!(
        chat.contains("text           [-Paris-]{+The capital of France+} is [-the capital of France-]{+Paris, on the Seine+}."),
        "{chat}"
    );
    assert!(
        chat.contains("usage          completion_tokens 7 -> 12, total_tokens 16 -> 21"),
        "{chat}"
    );

    let tools = section(&out, TOOLS);
    assert!(
        tools.contains(r#"! tool calls     get_weather({"city":"[-Paris-]{+Lyon+}"})"#),
        "{tools}"
    );
    assert!(tools.contains("_ids.json modified"), "{tools}");

    let embed = section(&out, EMBED);
    assert!(
        embed.contains("embeddings     cosine similarity 0.960000 (lowest of 2 vectors), largest difference 2.000e-1"),
        "{embed}"
    );

    let fresh = section(&out, FRESH);
    assert!(
        fresh.contains("new      POST /v1/chat/completions"),
        "{fresh}"
    );
    assert!(fresh.contains("text           Brand new."), "{fresh}");
    let gone = section(&out, GONE);
    assert!(
        gone.contains("removed  POST /v1/chat/completions"),
        "{gone}"
    );
    assert!(gone.contains("text           Yes."), "{gone}");

    // A re-record that changed the request's hash: one changed exchange.
    let reworded = section(&out, REWORDED);
    assert_eq!(reworded.matches("POST ").count(), 1, "{reworded}");
    assert!(reworded.contains("changed  POST"), "{reworded}");
    assert!(
        reworded.contains(".json -> "),
        "both files are named: {reworded}"
    );
    assert!(
        reworded.contains(r#"request        /body/messages/1/content: "Hi" -> "Hello there""#),
        "{reworded}"
    );
    assert!(
        reworded.contains("text           Hello!{+ How are you?+}"),
        "{reworded}"
    );

    assert!(!out.contains(STEADY), "unchanged tests are not shown");
    // Terminal escapes from a recording never reach the terminal.
    assert!(
        !out.contains('\u{1b}') && !out.contains('\u{202E}'),
        "{out}"
    );
    assert!(out.contains("\\u{1b}[2J"), "{out}");

    assert!(err.contains("nothing changed on disk"), "{err}");
    assert_eq!(before, (sc.status(), files_under(&sc.dir())), "print only");
}

#[test]
fn review_json_lists_every_change_with_its_severity() {
    let sc = Scratch::new();
    let (code, out, err) = sc.review(&["--format", "json"]);
    assert_eq!(code, EXIT_OK, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        v["summary"],
        json!({"tests": 7, "changed": 5, "new": 1, "removed": 1, "breaking": 2, "unreadable": 0})
    );
    let test = |id: &str| {
        v["tests"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["test_id"] == id)
            .unwrap_or_else(|| panic!("{id} missing"))
            .clone()
    };
    let tools = test(TOOLS);
    let change = &tools["exchanges"][0]["changes"][0];
    assert_eq!(change["kind"], "tool_calls");
    assert_eq!(change["severity"], "breaking");
    assert_eq!(change["old"][0]["arguments"], r#"{"city":"Paris"}"#);
    assert_eq!(change["new"][0]["arguments"], r#"{"city":"Lyon"}"#);
    let files: Vec<&str> = tools["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert!(files.iter().any(|f| f.ends_with("/_ids.json")), "{files:?}");

    let chat = test(CHAT);
    let kinds: Vec<&str> = chat["exchanges"][0]["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["finish_reason", "text", "usage"]);
    let text = &chat["exchanges"][0]["changes"][1];
    assert_eq!(text["severity"], "drift");
    assert_eq!(text["diff"][0], json!({"removed": "Paris"}));
    assert_eq!(text["diff"][1], json!({"added": "The capital of France"}));

    let embed = test(EMBED)["exchanges"][0]["changes"][0].clone();
    assert_eq!(embed["kind"], "embeddings");
    assert!((embed["min_cosine"].as_f64().unwrap() - 0.96).abs() < 1e-9);

    assert_eq!(test(FRESH)["exchanges"][0]["state"], "new");
    assert_eq!(test(FRESH)["exchanges"][0]["answer"]["text"], "Brand new.");
    assert_eq!(test(GONE)["exchanges"][0]["state"], "removed");
    let reworded = test(REWORDED);
    assert_eq!(reworded["exchanges"].as_array().unwrap().len(), 1);
    assert_eq!(reworded["exchanges"][0]["state"], "changed");
    assert_ne!(
        reworded["exchanges"][0]["old_file"],
        reworded["exchanges"][0]["new_file"]
    );
    assert_eq!(
        test(HOSTILE)["exchanges"][0]["changes"][0]["new"],
        HOSTILE_TEXT
    );
}

#[test]
fn review_markdown_is_escaped_for_a_ci_summary() {
    let sc = Scratch::new();
    let (code, md, err) = sc.review(&["--format", "markdown"]);
    assert_eq!(code, EXIT_OK, "{err}");
    assert!(
        md.starts_with("## Recordings that differ from `HEAD`\n"),
        "{md}"
    );
    assert!(
        md.contains("### demo\\:\\:tools\\:\\:calls\\_a\\_tool\\[text\\=m\\]"),
        "{md}"
    );
    assert!(md.contains("⚠️ **tool calls**"), "{md}");
    assert!(md.contains("- `_ids.json` modified"), "{md}");
    assert!(
        md.contains("<del>Paris</del><ins>The capital of France</ins> is "),
        "{md}"
    );
    let hostile = &md[md.find("hostile").unwrap()..];
    let hostile = &hostile[..hostile.find("\n###").unwrap_or(hostile.len())];
    for bad in [
        "<script",
        "<img",
        "![",
        "](",
        "**bold**",
        " @someone",
        "\u{1b}",
        "\u{202E}",
    ] {
        assert!(
            !hostile.contains(bad),
            "{bad:?} reached the markdown:\n{hostile}"
        );
    }
    assert!(hostile.contains("&lt;script&gt;"), "{hostile}");
}

#[test]
fn reject_restores_heads_files_and_accept_keeps_the_working_tree() {
    let sc = Scratch::new();
    let ids = sc.folder(TOOLS).join("_ids.json");
    let chat_before = files_under(&sc.folder(CHAT));

    // Accept: the files stay as the re-record left them; nothing is staged.
    let (code, out, err) = sc.review(&["--accept", "chat::"]);
    assert_eq!(code, EXIT_OK, "{err}");
    assert!(out.contains(&format!("accepted: {CHAT}")), "{out}");
    assert!(out.contains("Nothing was staged or committed"), "{out}");
    assert_eq!(files_under(&sc.folder(CHAT)), chat_before);

    // Reject a changed test: its recordings and its _ids.json are HEAD's again.
    let (code, out, err) = sc.review(&["--reject", "tools::"]);
    assert_eq!(code, EXIT_OK, "{err}");
    assert!(
        out.contains(&format!(
            "rejected (2 restored from HEAD, 0 new removed): {TOOLS}"
        )),
        "{out}"
    );
    assert_eq!(
        fs::read_to_string(&ids).unwrap(),
        "{\n  \"test_id\": \"old\"\n}\n"
    );
    // A removed test comes back; a new one goes, folder and all; a changed hash
    // goes back to the old file.
    for filter in ["gone::", "fresh::", "prompt::"] {
        let (code, _, err) = sc.review(&["--reject", filter]);
        assert_eq!(code, EXIT_OK, "{err}");
    }
    assert!(!sc.folder(FRESH).exists(), "the new test's folder is gone");
    let status = sc.status();
    for test in [TOOLS, GONE, FRESH, REWORDED] {
        let folder = sc.folder(test);
        let rel = folder.strip_prefix(&sc.root).unwrap().display().to_string();
        assert!(
            !status.contains(&rel),
            "{test} still differs from HEAD:\n{status}"
        );
    }
    assert!(
        status.contains("demo/chat/answers"),
        "accepted stays changed:\n{status}"
    );
    assert_eq!(
        sc.git(&["diff", "--cached", "--name-only"]),
        "",
        "nothing staged"
    );

    // What is left to review.
    let (_, out, _) = sc.review(&["--format", "json"]);
    let v: Value = serde_json::from_str(&out).unwrap();
    let left: Vec<&str> = v["tests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["test_id"].as_str().unwrap())
        .collect();
    assert_eq!(left, [CHAT, EMBED, HOSTILE]);
}

#[test]
fn accept_or_reject_a_filter_that_matches_nothing_says_so() {
    let sc = Scratch::new();
    let (code, _, err) = sc.review(&["--reject", "no::such::test"]);
    assert_eq!(code, EXIT_OK);
    assert!(
        err.contains("no changed test's id contains \"no::such::test\""),
        "{err}"
    );
    let (code, _, err) = sc.review(&["--accept", "x", "--reject", "y"]);
    assert_eq!(code, EXIT_ERROR);
    assert!(err.contains("cannot be used with"), "{err}");
}

#[test]
fn interactive_review_asks_per_test_and_acts_on_each_answer() {
    let sc = Scratch::new();
    // Tests come in folder order: chat, embeddings, fresh, gone, hostile, prompt, tools.
    let mut typist = Typist {
        lines: VecDeque::from(["a", "x", "s", "r", "r", "q"]),
        asked: 0,
    };
    let (code, out, err) = sc.run(&mut typist, &["review"]);
    assert_eq!(code, EXIT_OK, "{err}");
    assert_eq!(
        typist.asked, 6,
        "one question per answer, the bad one asked again"
    );
    assert!(out.contains("[1/7] demo::chat::answers[text=m]"), "{out}");
    assert!(out.contains("\"x\" is not one of a, r, s, q"), "{out}");
    assert!(
        out.contains("1 accepted, 2 rejected, 4 left as they are"),
        "{out}"
    );
    // chat accepted; embeddings asked again after the bad answer, then skipped;
    // fresh and gone rejected; quit at hostile.
    assert!(!sc.folder(FRESH).exists());
    assert!(sc.folder(GONE).exists());
    let status = sc.status();
    assert!(status.contains("demo/embeddings"), "{status}");
    assert!(status.contains("demo/tools"), "not reached: {status}");

    // The end of input stops the questions: nothing waits.
    let mut silent = Typist {
        lines: VecDeque::new(),
        asked: 0,
    };
    let (code, out, _) = sc.run(&mut silent, &["review"]);
    assert_eq!((code, silent.asked), (EXIT_OK, 1));
    assert!(out.contains("0 accepted, 0 rejected"), "{out}");
}

#[test]
fn asking_needs_a_terminal_and_the_text_format() {
    let sc = Scratch::new();
    // --format on a terminal prints and never asks.
    let mut typist = Typist {
        lines: VecDeque::from(["r"]),
        asked: 0,
    };
    let (code, out, _) = sc.run(&mut typist, &["review", "--format", "markdown"]);
    assert_eq!((code, typist.asked), (EXIT_OK, 0));
    assert!(out.starts_with("## "));

    // The binary with a stdin that never ends and is no terminal: it prints and exits.
    let mut child = Command::new(env!("CARGO_BIN_EXE_cargo-recordings"))
        .args(["review", "--dir"])
        .arg(sc.dir())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if started.elapsed() > std::time::Duration::from_secs(120) {
            child.kill().unwrap();
            panic!("review waited for input without a terminal");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert!(status.success());
}

/// Through a real pseudo-terminal: util-linux `script` runs the binary on one, and
/// what is typed into it answers the questions.
#[test]
fn interactive_review_on_a_real_terminal() {
    let version = Command::new("script").arg("--version").output();
    if !version.is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("util-linux")) {
        eprintln!("SKIPPED: util-linux `script` is not installed; it provides the pseudo-terminal");
        return;
    }
    let sc = Scratch::new();
    let quote = |p: &Path| format!("'{}'", p.display().to_string().replace('\'', r"'\''"));
    let cmd = format!(
        "{} review --dir {}",
        quote(Path::new(env!("CARGO_BIN_EXE_cargo-recordings"))),
        quote(&sc.dir())
    );
    let mut child = Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"s\ns\ns\nr\nq\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains(
            "accept (a: keep the new files), reject (r: restore HEAD's), skip (s), quit (q)?"
        ),
        "{text}"
    );
    assert!(text.contains("0 accepted, 1 rejected, 6 left"), "{text}");
    assert!(
        sc.folder(GONE).exists(),
        "the fourth test (gone) was rejected: it is back"
    );
    assert!(!text.contains('\u{1b}'), "NO_COLOR: {text}");
}

#[test]
fn review_outside_git_says_what_it_needs() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("recordings");
    let store = Store::new(&dir);
    let rec = chat(CHAT, json!("x"), "y", "stop", 1);
    store
        .write(&rec, &RecordingKey::first(rec.request_hash()))
        .unwrap();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = run_with(
        ["recordings", "review", "--dir", dir.to_str().unwrap()],
        &mut NoTerminal,
        &mut out,
        &mut err,
    );
    let err = String::from_utf8(err).unwrap();
    assert_eq!(code, EXIT_ERROR);
    assert!(
        err.contains("is not in a git repository: review compares the recordings with git's HEAD"),
        "{err}"
    );
}

#[test]
fn a_new_repository_without_commits_shows_everything_as_new() {
    let sc = Scratch::new();
    fs::remove_dir_all(sc.root.join(".git")).unwrap();
    sc.git(&["init", "-q", "-b", "main"]);
    let (code, out, err) = sc.review(&["--format", "json"]);
    assert_eq!(code, EXIT_OK, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["summary"]["new"], 7, "{out}");
    assert_eq!(v["summary"]["changed"], 0);
}

#[test]
fn an_unreadable_recording_is_shown_and_fails_the_review() {
    let sc = Scratch::new();
    let folder = sc.folder(CHAT);
    let file = fs::read_dir(&folder)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    fs::write(&file, "{\"test_id\": ").unwrap();
    let (code, out, _) = sc.review(&[]);
    assert_eq!(code, recorder_cli::EXIT_PROBLEMS, "{out}");
    let chat = section(&out, CHAT);
    assert!(
        chat.contains("unreadable") && chat.contains("truncated"),
        "{chat}"
    );
    // Rejecting still brings HEAD's good file back.
    let (code, _, err) = sc.review(&["--reject", "chat::"]);
    assert_eq!(code, recorder_cli::EXIT_PROBLEMS, "{err}");
    assert!(fs::read_to_string(&file)
        .unwrap()
        .contains("Paris is the capital of France."));
}

#[test]
fn a_request_made_twice_with_the_same_answer_shows_both_times() {
    // Two files of the same contents in HEAD (`<hash>.json`, `<hash>.2.json`) are one
    // blob in git: both must be read.
    let sc = Scratch::new();
    let store = Store::new(sc.dir());
    let twice = "demo::twice::asks_twice[text=m]";
    let rec = chat(twice, json!("Again?"), "Yes.", "stop", 1);
    let hash = rec.request_hash();
    store
        .write(&rec, &RecordingKey::new(hash.clone(), 1))
        .unwrap();
    store
        .write(&rec, &RecordingKey::new(hash.clone(), 2))
        .unwrap();
    sc.git(&["add", "-A"]);
    sc.git(&["commit", "-q", "-m", "twice"]);
    let again = chat(twice, json!("Again?"), "Yes, again.", "stop", 2);
    store
        .write(&again, &RecordingKey::new(hash.clone(), 1))
        .unwrap();
    store
        .write(&again, &RecordingKey::new(hash.clone(), 2))
        .unwrap();
    let (code, out, err) = sc.review(&[]);
    assert_eq!(code, EXIT_OK, "{err}\n{out}");
    let twice = section(&out, twice);
    assert_eq!(
        twice.matches("text           Yes{+, again+}.").count(),
        2,
        "{twice}"
    );
}
