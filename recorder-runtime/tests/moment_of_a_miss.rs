//! The moment of a miss (issue 24): whatever a test's body does when a request has
//! no recording (`unwrap()` on the 404, `assert!` on the status, a timeout, an `Err`
//! returned, a panic in a spawned task), its output shows the recorder's explanation
//! (expected file, closest recording, the command that records it) once, beside the
//! test's own panic; and the run's summary counts the tests that failed.
//!
//! Such a test fails, so it cannot run in the normal suite: each `child_*` test below
//! is ignored, and does nothing unless [`CHILD`] is set; the test after it runs it in
//! a child process of this binary (with libtest's capture, as `cargo test` does) and
//! reads what it printed.

mod fake_support;

use async_openai::config::OpenAIConfig;
use async_openai::types::chat::{
    ChatCompletionRequestUserMessageArgs, CreateChatCompletionRequestArgs,
};
use fake_support::{fake_ctx, http};
use recorder_runtime::client::{ChatRequest, Message};
use recorder_runtime::{recorded_test, Client, Mode, RecordingContext};
use recorder_testkit::fake::FakeUpstream;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::Command;

/// Set (to a recordings folder) in the child process only.
const CHILD: &str = "MOMENT_OF_A_MISS_CHILD";

/// The recordings folder of a child test; `None` in the normal suite.
fn child() -> Option<PathBuf> {
    std::env::var_os(CHILD).map(PathBuf::from)
}

fn chat() -> Value {
    json!({"model": "m", "messages": [{"role": "user", "content": "never recorded"}]})
}

/// [`chat`] for async-openai.
fn chat_request() -> async_openai::types::chat::CreateChatCompletionRequest {
    CreateChatCompletionRequestArgs::default()
        .model("m")
        .messages([ChatCompletionRequestUserMessageArgs::default()
            .content("never recorded")
            .build()
            .unwrap()
            .into()])
        .build()
        .unwrap()
}

/// A request the child's empty recordings folder cannot answer, through the proxy.
async fn missed(ctx: &RecordingContext) -> reqwest::Response {
    http()
        .post(format!("{}/chat/completions", ctx.base_url()))
        .json(&chat())
        .send()
        .await
        .unwrap()
}

/// What a child test printed, and whether it passed.
struct Run {
    passed: bool,
    out: String,
}

/// Runs the ignored test `name` of this binary as a child, replaying from an empty
/// folder; `nocapture`: print as it goes (else libtest shows the output of a failed
/// test only, as `cargo test` does).
fn run(name: &str, nocapture: bool) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([name, "--ignored", "--test-threads=2"]);
    if nocapture {
        cmd.arg("--nocapture");
    }
    for var in [
        "RECORD_MODE",
        "RECORDER_SETUP",
        "RECORDER_SUITE",
        "RECORDER_ENV",
    ] {
        cmd.env_remove(var);
    }
    cmd.env(CHILD, dir.path())
        .env("RECORDING_DIR", dir.path())
        .env("RUST_BACKTRACE", "0");
    let out = cmd.output().unwrap();
    Run {
        passed: out.status.success(),
        out: format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

/// Runs the macro-generated child `function` (its test is `function::test`).
fn run_failing(function: &str) -> Run {
    let run = run(&format!("{function}::test"), false);
    assert!(!run.passed, "the child test passed:\n{}", run.out);
    run
}

impl Run {
    /// The explanation of the miss of `POST /v1/chat/completions` shows once, on
    /// real lines, with the command that records `filter`'s test.
    fn explained_once(&self, filter: &str) -> &Self {
        let out = &self.out;
        for line in [
            "\n  expected file: ",
            "\n  this test has no recordings yet\n",
            &format!("\n  to record it: RECORD_MODE=record-if-missing cargo test {filter}"),
        ] {
            assert_eq!(out.matches(line).count(), 1, "{line:?} once in:\n{out}");
        }
        assert!(
            out.contains("no recording for POST /v1/chat/completions in test `moment_of_a_miss::"),
            "{out}"
        );
        self
    }

    /// The test's own panic shows too.
    fn panicked_with(&self, message: &str) -> &Self {
        assert!(self.out.contains("panicked at"), "{}", self.out);
        assert!(self.out.contains(message), "{message:?} in:\n{}", self.out);
        self
    }

    /// The recorder's own heading, for a panic that did not show the miss itself.
    fn with_heading(&self) -> &Self {
        assert!(
            self.out
                .contains("failed; the recorder had met this problem first, the likely cause:"),
            "{}",
            self.out
        );
        self
    }
}

#[recorded_test(mode = "replay")]
#[ignore = "a child of a_plain_reqwest_unwrap_shows_the_explanation"]
async fn child_reqwest_unwrap(ctx: RecordingContext) {
    if child().is_some() {
        missed(&ctx).await.error_for_status().unwrap();
    }
}

#[test]
fn a_plain_reqwest_unwrap_shows_the_explanation() {
    run_failing("child_reqwest_unwrap")
        .panicked_with(
            "called `Result::unwrap()` on an `Err` value: reqwest::Error { kind: Status(404",
        )
        .with_heading()
        .explained_once("child_reqwest_unwrap");
}

#[recorded_test(mode = "replay")]
#[ignore = "a child of an_assert_on_the_status_shows_the_explanation"]
async fn child_assert_status(ctx: RecordingContext) {
    if child().is_some() {
        let resp = missed(&ctx).await;
        assert!(resp.status().is_success(), "status {}", resp.status());
    }
}

#[test]
fn an_assert_on_the_status_shows_the_explanation() {
    run_failing("child_assert_status")
        .panicked_with("status 404 Not Found")
        .with_heading()
        .explained_once("child_assert_status");
}

#[recorded_test(mode = "replay")]
#[ignore = "a child of async_openai_through_the_proxy_shows_the_explanation"]
async fn child_async_openai(ctx: RecordingContext) {
    if child().is_some() {
        fake_support::init();
        let client = async_openai::Client::with_config(
            OpenAIConfig::new()
                .with_api_base(ctx.base_url())
                .with_api_key("x"),
        );
        client.chat().create(chat_request()).await.unwrap();
    }
}

/// async-openai's error prints the message escaped on one line: the readable
/// explanation follows it, once.
#[test]
fn async_openai_through_the_proxy_shows_the_explanation() {
    run_failing("child_async_openai")
        .panicked_with("ApiError")
        .with_heading()
        .explained_once("child_async_openai");
}

#[recorded_test(mode = "replay")]
#[ignore = "a child of the_in_process_transports_show_the_explanation"]
async fn child_async_openai_in_process(ctx: RecordingContext) {
    if child().is_some() {
        let client = async_openai::Client::with_config(OpenAIConfig::new().with_api_key("x"))
            .with_http_service(ctx.openai_service());
        client.chat().create(chat_request()).await.unwrap();
    }
}

#[recorded_test(mode = "replay")]
#[ignore = "a child of the_in_process_transports_show_the_explanation"]
async fn child_middleware(ctx: RecordingContext) {
    if child().is_some() {
        ctx.reqwest_client()
            .post("http://api.invalid/v1/chat/completions")
            .json(&chat())
            .send()
            .await
            .unwrap()
            .error_for_status()
            .unwrap();
    }
}

/// In process, a miss reaches async-openai and reqwest-middleware clients as the
/// proxy's 404 would: the same explanation follows their panic.
#[test]
fn the_in_process_transports_show_the_explanation() {
    run_failing("child_async_openai_in_process")
        .panicked_with("ApiError")
        .with_heading()
        .explained_once("child_async_openai_in_process");
    run_failing("child_middleware")
        .panicked_with("reqwest::Error { kind: Status(404")
        .with_heading()
        .explained_once("child_middleware");
}

#[recorded_test(mode = "replay")]
#[ignore = "a child of the_fixture_clients_miss_is_shown_once_on_real_lines"]
async fn child_fixture_client(client: Client) {
    if child().is_some() {
        let req = ChatRequest::new("m").message(Message::user("never recorded"));
        client.chat(&req).await.unwrap();
    }
}

/// The fixture client's `unwrap()` shows the miss readable (`Error`'s `Debug`), so
/// the harness does not print it a second time.
#[test]
fn the_fixture_clients_miss_is_shown_once_on_real_lines() {
    let run = run_failing("child_fixture_client");
    run.panicked_with(
        "called `Result::unwrap()` on an `Err` value: Miss: no recording for POST /v1/chat/completions",
    )
    .explained_once("child_fixture_client");
    assert!(!run.out.contains("\\n  expected file"), "{}", run.out);
    assert!(!run.out.contains("the recorder had met"), "{}", run.out);
}

#[recorded_test(mode = "replay", flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a child of a_panic_in_a_spawned_task_shows_the_explanation"]
async fn child_spawned_task(ctx: RecordingContext) {
    if child().is_some() {
        tokio::spawn(async move {
            missed(&ctx).await.error_for_status().unwrap();
        })
        .await
        .unwrap();
    }
}

#[test]
fn a_panic_in_a_spawned_task_shows_the_explanation() {
    run_failing("child_spawned_task")
        .panicked_with("JoinError::Panic")
        .with_heading()
        .explained_once("child_spawned_task");
}

#[recorded_test(mode = "replay", timeout = "1s")]
#[ignore = "a child of a_timeout_shows_the_explanation"]
async fn child_timeout(ctx: RecordingContext) {
    if child().is_some() {
        // A client that swallows the 404 and waits for something that never comes.
        let _ = missed(&ctx).await;
        tokio::time::sleep(std::time::Duration::from_secs(60)).await;
    }
}

#[test]
fn a_timeout_shows_the_explanation() {
    run_failing("child_timeout")
        .panicked_with("timed out after 1000 ms")
        .with_heading()
        .explained_once("child_timeout");
}

#[recorded_test(mode = "replay")]
#[ignore = "a child of an_error_returned_shows_the_explanation"]
async fn child_returns_err(ctx: RecordingContext) -> Result<(), reqwest::Error> {
    if child().is_some() {
        missed(&ctx).await.error_for_status()?;
    }
    Ok(())
}

#[test]
fn an_error_returned_shows_the_explanation() {
    run_failing("child_returns_err")
        .panicked_with("test returned an error: reqwest::Error")
        .with_heading()
        .explained_once("child_returns_err");
}

/// Without the macro: the context, dropped as the panic unwinds, prints it.
#[tokio::test]
#[ignore = "a child of without_the_macro_the_context_shows_the_explanation"]
async fn child_without_macro() {
    if child().is_some() {
        let ctx = RecordingContext::builder("moment_of_a_miss::child_without_macro")
            .mode(Mode::Replay)
            .build()
            .unwrap();
        missed(&ctx).await.error_for_status().unwrap();
    }
}

#[test]
fn without_the_macro_the_context_shows_the_explanation() {
    let run = run("child_without_macro", false);
    assert!(!run.passed, "{}", run.out);
    run.panicked_with("reqwest::Error { kind: Status(404")
        .with_heading()
        .explained_once("child_without_macro");
}

/// Without the macro, a test that swallowed the miss and never called `finish()`
/// passes, but says so.
#[tokio::test]
#[ignore = "a child of without_the_macro_an_unchecked_miss_is_printed"]
async fn child_unchecked() {
    if child().is_some() {
        let ctx = RecordingContext::builder("moment_of_a_miss::child_unchecked")
            .mode(Mode::Replay)
            .build()
            .unwrap();
        let _ = missed(&ctx).await;
    }
}

#[test]
fn without_the_macro_an_unchecked_miss_is_printed() {
    let run = run("child_unchecked", true);
    assert!(run.passed, "{}", run.out);
    assert!(
        run.out.contains("recorder: test moment_of_a_miss::child_unchecked ended with this problem, which nothing checked, so it did not fail (fail it on them with RecordingContext::finish(), as #[recorded_test] does):\nno recording for POST /v1/chat/completions"),
        "{}",
        run.out
    );
}

/// Records one exchange from a fake upstream, then panics unless it is `survivor`.
async fn record_then_panic(n: u32, survivor: bool) {
    let Some(dir) = child() else { return };
    let fake = FakeUpstream::start();
    let ctx = fake_ctx(
        &format!("moment_of_a_miss::summary_{n}"),
        Mode::Record,
        &dir,
        &fake,
    );
    let resp = http()
        .post(format!("{}/chat/completions", ctx.base_url()))
        .json(&json!({"model": "fake-chat", "messages": [{"role": "user", "content": format!("turn {n}")}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(survivor, "test {n} fails after recording");
}

#[tokio::test]
#[ignore = "a child of the_summary_counts_the_tests_that_failed"]
async fn child_summary_1() {
    record_then_panic(1, true).await;
}
#[tokio::test]
#[ignore = "a child of the_summary_counts_the_tests_that_failed"]
async fn child_summary_2() {
    record_then_panic(2, false).await;
}
#[tokio::test]
#[ignore = "a child of the_summary_counts_the_tests_that_failed"]
async fn child_summary_3() {
    record_then_panic(3, false).await;
}
#[tokio::test]
#[ignore = "a child of the_summary_counts_the_tests_that_failed"]
async fn child_summary_4() {
    record_then_panic(4, false).await;
}
#[tokio::test]
#[ignore = "a child of the_summary_counts_the_tests_that_failed"]
async fn child_summary_5() {
    record_then_panic(5, false).await;
}

/// Five tests recorded one exchange each and four of them panicked: the summary
/// printed at exit says five tests, four failed (it said "in 1 test").
#[test]
fn the_summary_counts_the_tests_that_failed() {
    let run = run("child_summary_", false);
    assert!(!run.passed, "{}", run.out);
    assert!(
        run.out.contains("test result: FAILED. 1 passed; 4 failed"),
        "{}",
        run.out
    );
    let summary: Vec<&str> = run
        .out
        .lines()
        .filter(|l| l.starts_with("recorder: recorded"))
        .collect();
    assert_eq!(
        summary,
        ["recorder: recorded 5 exchanges in 5 tests (4 failed: a failed test may have recorded only part of its exchanges): 5 written (0 changed, 5 new), 0 kept as they were (0 identical, 0 equivalent within the float tolerance)"],
        "{}",
        run.out
    );
}

/// Where another crate's error wraps the runtime's, its `{:?}` shows ours as
/// `Error`'s `Debug` gives it: on real lines (async-openai's `Boxed`, through the
/// in-process service; reqwest-middleware's `anyhow` error, through the middleware).
#[test]
fn wrapped_errors_keep_the_real_lines() {
    let miss = || {
        recorder_runtime::Error::Miss(
            "no recording for POST /v1/chat/completions\n  expected file: r/a.json".into(),
        )
    };
    let boxed = format!(
        "{:?}",
        async_openai::error::OpenAIError::Boxed(Box::new(miss()))
    );
    assert!(
        boxed.contains(
            "Miss: no recording for POST /v1/chat/completions\n  expected file: r/a.json"
        ),
        "{boxed}"
    );
    let middleware = format!(
        "{:?}",
        reqwest_middleware::Error::Middleware(anyhow::Error::new(miss()))
    );
    assert!(
        middleware
            .contains("no recording for POST /v1/chat/completions\n  expected file: r/a.json"),
        "{middleware}"
    );
}
