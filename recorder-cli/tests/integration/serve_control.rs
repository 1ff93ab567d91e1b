//! `serve` for a service that cannot forward the test id: a test runner
//! says which test runs (`POST /_recorder/begin`, `/_recorder/end`), one at a time;
//! requests without an id while no test runs are warned about once per endpoint; the
//! miss advice fits `serve`; and the last line on stderr is a summary a CI step can
//! check, with the exit status.

use crate::support::{s, Serve};
use recorder_cli::{EXIT_OK, EXIT_PROBLEMS};
use recorder_testkit::fake::FakeUpstream;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

fn http() -> reqwest::Client {
    recorder_runtime::engine::install_crypto_provider();
    reqwest::Client::new()
}

/// `POST /_recorder/<action>` with a JSON body: status and answer.
async fn control(url: &str, action: &str, body: Value) -> (u16, Value) {
    let resp = http()
        .post(format!("{url}/_recorder/{action}"))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

/// A chat request with no test id, as a service that does not forward it sends it.
async fn ask(url: &str, question: &str) -> (u16, Value) {
    let resp = http()
        .post(format!("{url}/v1/chat/completions"))
        .json(&json!({"model": "m", "messages": [{"role": "user", "content": question}]}))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

fn message(v: &Value) -> &str {
    v["error"]["message"].as_str().unwrap_or_default()
}

/// The recording files under a test's folder.
fn recordings_of(dir: &Path, folder: &str) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir.join(folder)) else {
        return Vec::new();
    };
    entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect()
}

/// The summary line, which comes once, after everything else serve says (the record
/// summary of the process may follow it).
fn summary(stderr: &str) -> &str {
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("recorder: serve summary: "))
        .collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    let after = stderr.split(lines[0]).nth(1).unwrap();
    assert!(
        after.lines().all(|l| l.is_empty()
            || l.starts_with("recorder: recorded ")
            || l.starts_with("recorder: changed: ")),
        "{stderr}"
    );
    lines[0]
}

#[tokio::test]
async fn a_runner_says_which_test_runs_and_serve_scopes_requests_without_an_id_by_it() {
    let fake = FakeUpstream::start();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("recordings");
    let serve = Serve::recording(&dir, &fake.openai_url(), &["--port", "0"], &[]);
    let url = serve.url.clone();

    // Two tests, one at a time, each a pytest node id.
    let (status, begun) = control(
        &url,
        "begin",
        json!({"test_id": "tests/test_chat.py::test_paris"}),
    )
    .await;
    assert_eq!((status, &begun["mode"]), (200, &json!("record")), "{begun}");
    let (status, paris) = ask(&url, "Capital of France?").await;
    assert_eq!(status, 200, "{paris}");
    // One test at a time: a begin while it runs is refused, loudly.
    let (status, refused) = control(
        &url,
        "begin",
        json!({"test_id": "tests/test_chat.py::test_rome"}),
    )
    .await;
    assert_eq!(status, 409, "{refused}");
    assert_eq!(refused["error"]["type"], "recorder_test_conflict");
    for part in [
        "test `tests/test_chat.py::test_paris` is still running, so test `tests/test_chat.py::test_rome` cannot begin",
        "pytest-xdist",
        "X-Recorder-Test-Id",
    ] {
        assert!(message(&refused).contains(part), "{part:?} in {refused}");
    }
    // Ending another test than the running one is refused too.
    let (status, refused) = control(
        &url,
        "end",
        json!({"test_id": "tests/test_chat.py::test_rome"}),
    )
    .await;
    assert_eq!(status, 409, "{refused}");
    assert!(message(&refused).contains("test `tests/test_chat.py::test_paris` is running, not test `tests/test_chat.py::test_rome`"));
    let (status, ended) = control(
        &url,
        "end",
        json!({"test_id": "tests/test_chat.py::test_paris"}),
    )
    .await;
    assert_eq!(status, 200, "{ended}");
    assert_eq!(
        ended,
        json!({"test_id": "tests/test_chat.py::test_paris", "replayed": 0, "recorded": 1, "live": 0, "missed": 0, "problems": []})
    );
    let (status, refused) = control(&url, "end", json!({})).await;
    assert_eq!(status, 409);
    assert!(
        message(&refused).contains("no test is running"),
        "{refused}"
    );

    let (status, _) = control(
        &url,
        "begin",
        json!({"test_id": "tests/test_chat.py::test_rome"}),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = ask(&url, "Capital of Italy?").await;
    assert_eq!(status, 200);
    // `{}` ends whatever runs (after a runner that was killed mid-test).
    let (status, ended) = control(&url, "end", json!({})).await;
    assert_eq!(
        (status, &ended["test_id"]),
        (200, &json!("tests/test_chat.py::test_rome"))
    );

    // No test runs: a warning once per endpoint, and the count in the summary.
    ask(&url, "Capital of Spain?").await;
    ask(&url, "Capital of Spain, again?").await;
    // Model lists are every test's: no warning.
    http().get(format!("{url}/v1/models")).send().await.unwrap();

    // What the control endpoint refuses: other methods, other bodies, pages.
    let get = http()
        .get(format!("{url}/_recorder/begin"))
        .send()
        .await
        .unwrap();
    assert_eq!(get.status(), 405);
    let text = http()
        .post(format!("{url}/_recorder/begin"))
        .header("content-type", "text/plain")
        .body(r#"{"test_id": "x"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(text.status(), 415, "a page's simple request is refused");
    let page = http()
        .post(format!("{url}/_recorder/end"))
        .header("origin", "https://evil.example")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 403);
    let (status, refused) = control(&url, "begin", json!({"test_id": "_shared"})).await;
    assert_eq!(status, 400, "{refused}");
    let (status, _) = control(&url, "restart", json!({})).await;
    assert_eq!(status, 404);

    let (code, stderr) = serve.signal("-INT");
    assert_eq!(code, Some(EXIT_OK), "{stderr}");
    assert_eq!(
        stderr.matches("POST /v1/chat/completions came without an X-Recorder-Test-Id header while no test is running").count(),
        1,
        "once per endpoint:\n{stderr}"
    );
    assert!(!stderr.contains("GET /v1/models came without"), "{stderr}");
    assert!(
        stderr.contains("requests without a test id, served from _shared/ by their order in the run: POST /v1/chat/completions (2)"),
        "{stderr}"
    );
    assert_eq!(
        summary(&stderr),
        "recorder: serve summary: 0 replayed, 5 recorded, 0 live, 0 verified, 0 missed, 2 without a test id, 0 problems",
        "{stderr}"
    );
    assert_eq!(
        recordings_of(&dir, "tests/test_chat.py/test_paris").len(),
        1
    );
    assert_eq!(recordings_of(&dir, "tests/test_chat.py/test_rome").len(), 1);
    assert_eq!(recordings_of(&dir, "_shared").len(), 2);
    fake.stop();

    // Replay offline, another order and a part of the suite: each test gets its own
    // answers. A miss inside a test comes back from `end`, and fails serve.
    let serve = Serve::replaying(&dir);
    let url = serve.url.clone();
    control(
        &url,
        "begin",
        json!({"test_id": "tests/test_chat.py::test_rome"}),
    )
    .await;
    let (status, rome) = ask(&url, "Capital of Italy?").await;
    assert_eq!(status, 200, "{rome}");
    let (_, ended) = control(
        &url,
        "end",
        json!({"test_id": "tests/test_chat.py::test_rome"}),
    )
    .await;
    assert_eq!(
        (&ended["replayed"], &ended["problems"]),
        (&json!(1), &json!([]))
    );
    control(
        &url,
        "begin",
        json!({"test_id": "tests/test_chat.py::test_paris"}),
    )
    .await;
    let (status, missed) = ask(&url, "Capital of Germany?").await;
    assert_eq!(status, 404, "{missed}");
    let (_, ended) = control(
        &url,
        "end",
        json!({"test_id": "tests/test_chat.py::test_paris"}),
    )
    .await;
    assert_eq!(ended["missed"], 1);
    let problem = ended["problems"][0].as_str().unwrap();
    for part in [
        "no recording for POST /v1/chat/completions in test `tests/test_chat.py::test_paris`",
        "to record it: restart `cargo recordings serve` with --mode record-if-missing (and --upstream URL or --setup NAME), then run the client's test `tests/test_chat.py::test_paris` again",
    ] {
        assert!(problem.contains(part), "{part:?} in {problem}");
    }
    assert!(!problem.contains("cargo test"), "{problem}");
    let (code, stderr) = serve.signal("-TERM");
    assert_eq!(code, Some(EXIT_PROBLEMS), "{stderr}");
    assert_eq!(
        summary(&stderr),
        "recorder: serve summary: 1 replayed, 0 recorded, 0 live, 0 verified, 1 missed, 0 without a test id, 1 problems",
        "{stderr}"
    );
    let _ = paris;
}

#[tokio::test]
async fn a_miss_without_a_test_id_names_the_shared_scope_and_how_to_record_with_serve() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("recordings");
    std::fs::create_dir_all(&dir).unwrap();
    let serve = Serve::replaying(&dir);
    let (status, missed) = ask(&serve.url, "Capital of France?").await;
    assert_eq!(status, 404);
    let text = message(&missed);
    for part in [
        "no recording for POST /v1/chat/completions in the requests without a test id (`_shared/`)",
        "requests without a test id share `_shared/` and are matched by their order in the whole run: send the X-Recorder-Test-Id header, or tell serve which test runs (POST /_recorder/begin)",
        "to record it: restart `cargo recordings serve` with --mode record-if-missing (and --upstream URL or --setup NAME), then run the client's requests again",
    ] {
        assert!(text.contains(part), "{part:?} in:\n{text}");
    }
    assert!(
        !text.contains("test ``") && !text.contains("cargo test"),
        "{text}"
    );
    let (code, stderr) = serve.signal("-INT");
    assert_eq!(code, Some(EXIT_PROBLEMS));
    assert!(
        stderr.contains("problem in the requests without a test id: no recording"),
        "{stderr}"
    );
    assert_eq!(
        summary(&stderr),
        "recorder: serve summary: 0 replayed, 0 recorded, 0 live, 0 verified, 1 missed, 1 without a test id, 1 problems"
    );
    let _ = s(&dir);
}

#[tokio::test]
async fn serve_counts_a_run_budget_and_refuses_past_it() {
    let fake = FakeUpstream::start();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("recordings");
    let serve = Serve::recording(
        &dir,
        &fake.openai_url(),
        &["--port", "0"],
        &[
            ("RECORDER_BUDGET_TOKENS", "1"),
            ("RECORDER_RUN_ID", "serve-budget"),
        ],
    );
    let (status, first) = ask(&serve.url, "Capital of France?").await;
    assert_eq!(status, 200, "{first}");
    let spent = first["usage"]["total_tokens"].as_u64().unwrap();
    let (status, refused) = ask(&serve.url, "Capital of Italy?").await;
    assert_eq!(status, 402, "{refused}");
    assert!(
        message(&refused).contains(&format!("the run's token budget is spent: {spent} tokens upstream, RECORDER_BUDGET_TOKENS=1 (run: RECORDER_RUN_ID=serve-budget)")),
        "{refused}"
    );
    assert_eq!(fake.requests().len(), 1);
    let (code, stderr) = serve.signal("-INT");
    assert_eq!(
        code,
        Some(EXIT_PROBLEMS),
        "a refused call is a problem: {stderr}"
    );
    assert_eq!(
        recordings_of(&dir, "_shared").len(),
        1,
        "what was recorded stays"
    );
}
