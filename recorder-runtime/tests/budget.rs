//! Token budgets (issue 25): `RECORDER_BUDGET_TOKENS_PER_TEST` stops a test's upstream
//! calls once its answers' usage reaches the cap, and `RECORDER_BUDGET_TOKENS` a run's,
//! across the test processes of one run (as nextest runs them). A refused call is
//! never sent, writes nothing, and says what was spent, the cap and how to raise it;
//! what was recorded before stays.
//!
//! The run budget is shared by processes: the `child_*` test is ignored, does nothing
//! unless [`CHILD`] is set, and the tests after it run it as a child of this binary.

mod fake_support;

use fake_support::{ctx, files, http, target};
use recorder_runtime::Mode;
use recorder_testkit::fake::FakeUpstream;
use serde_json::{json, Value};
use std::path::Path;
use std::process::Command;

/// Set (to a recordings folder) in the child process only.
const CHILD: &str = "BUDGET_CHILD_DIR";
/// The fake upstream's OpenAI base URL, for the child.
const CHILD_UPSTREAM: &str = "BUDGET_CHILD_UPSTREAM";
/// What the child asks.
const CHILD_QUESTION: &str = "BUDGET_CHILD_QUESTION";

fn chat(content: &str) -> Value {
    json!({"model": "m", "messages": [{"role": "user", "content": content}]})
}

/// A context recording from `fake` whose setup `env` sets `vars` (the test's own
/// budget, as a setup or `RECORDER_ENV` would give it).
fn budgeted(
    test: &str,
    dir: &Path,
    fake: &FakeUpstream,
    vars: &[(&str, &str)],
) -> recorder_runtime::RecordingContext {
    let mut t = target(&fake.openai_url());
    t.setup = Some("budgeted".into());
    t.env = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    ctx(test, Mode::Record, dir, t)
}

#[tokio::test]
async fn a_test_past_its_budget_fails_its_next_call_and_writes_nothing() {
    let fake = FakeUpstream::start();
    let dir = tempfile::tempdir().unwrap();
    // What the first answer costs, learnt from an unbudgeted recording elsewhere.
    let probe_dir = tempfile::tempdir().unwrap();
    let probe = budgeted("budget::probe", probe_dir.path(), &fake, &[]);
    let first: Value = http()
        .post(format!("{}/chat/completions", probe.base_url()))
        .json(&chat("one two three"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(probe.finish().is_empty());
    let cost = first["usage"]["total_tokens"].as_u64().unwrap();
    assert!(cost > 0);
    fake.clear_requests();

    // A stream (usage at its end) of that cost, then a whole answer: the cap is two
    // such calls, so both go, and the third is refused before it is sent.
    let cap = (2 * cost).to_string();
    let ctx = budgeted(
        "budget::capped",
        dir.path(),
        &fake,
        &[("RECORDER_BUDGET_TOKENS_PER_TEST", &cap)],
    );
    let mut streamed = chat("one two three");
    streamed["stream"] = json!(true);
    streamed["stream_options"] = json!({"include_usage": true});
    let text = http()
        .post(format!("{}/chat/completions", ctx.base_url()))
        .json(&streamed)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("\"total_tokens\""), "{text}");
    let second = http()
        .post(format!("{}/chat/completions", ctx.base_url()))
        .json(&chat("one two three"))
        .send()
        .await
        .unwrap();
    assert_eq!(second.status(), 200);
    second.bytes().await.unwrap();
    // The stream was counted before its end reached the client.
    let refused = http()
        .post(format!("{}/chat/completions", ctx.base_url()))
        .json(&chat("four five"))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 402, "not a status clients retry");
    let body: Value = refused.json().await.unwrap();
    let message = body["error"]["message"].as_str().unwrap().to_owned();
    assert_eq!(body["error"]["type"], "recorder_budget_exceeded");
    for part in [
        "the token budget of test `budget::capped` is spent",
        &format!(
            "{} tokens upstream, RECORDER_BUDGET_TOKENS_PER_TEST={cap}",
            2 * cost
        ),
        "POST /v1/chat/completions was not sent upstream and nothing was recorded",
        "what was recorded before stays",
        "Raise RECORDER_BUDGET_TOKENS_PER_TEST",
    ] {
        assert!(message.contains(part), "{part:?} in {message}");
    }
    assert_eq!(
        fake.requests().len(),
        2,
        "the refused call never went upstream"
    );
    let problems = ctx.finish();
    assert!(
        problems
            .iter()
            .any(|p| p.contains("RECORDER_BUDGET_TOKENS_PER_TEST")),
        "the test fails even if its client swallowed the error: {problems:?}"
    );
    let recorded: Vec<_> = files(dir.path())
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    assert_eq!(
        recorded.len(),
        2,
        "what was recorded before stays: {recorded:?}"
    );

    // Another test has a budget of its own.
    let other = budgeted(
        "budget::other",
        dir.path(),
        &fake,
        &[("RECORDER_BUDGET_TOKENS_PER_TEST", &cap)],
    );
    let resp = http()
        .post(format!("{}/chat/completions", other.base_url()))
        .json(&chat("four five"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    resp.bytes().await.unwrap();
    assert!(other.finish().is_empty());
}

#[tokio::test]
async fn a_budget_that_is_not_a_number_is_a_clear_error_and_nothing_is_sent() {
    let fake = FakeUpstream::start();
    let dir = tempfile::tempdir().unwrap();
    let ctx = budgeted(
        "budget::malformed",
        dir.path(),
        &fake,
        &[("RECORDER_BUDGET_TOKENS", "lots")],
    );
    let resp = http()
        .post(format!("{}/chat/completions", ctx.base_url()))
        .json(&chat("hi"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 500);
    let text = resp.text().await.unwrap();
    assert!(
        text.contains("RECORDER_BUDGET_TOKENS=\\\"lots\\\" is not a number of tokens"),
        "{text}"
    );
    assert!(fake.requests().is_empty());
    assert!(!ctx.finish().is_empty());
}

#[tokio::test]
#[ignore = "a child of two_processes_of_one_run_share_its_budget"]
async fn child_records_one_answer() {
    let Some(dir) = std::env::var_os(CHILD) else {
        return;
    };
    let upstream = std::env::var(CHILD_UPSTREAM).unwrap();
    let question = std::env::var(CHILD_QUESTION).unwrap();
    // The budget comes from the process environment, as in a real run.
    let ctx = ctx(
        "budget::child",
        Mode::Record,
        Path::new(&dir),
        target(&upstream),
    );
    let resp = http()
        .post(format!("{}/chat/completions", ctx.base_url()))
        .json(&chat(&question))
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let text = resp.text().await.unwrap();
    let problems = ctx.finish();
    assert!(
        problems.is_empty() && status == 200,
        "{status}: {text}\n{problems:#?}"
    );
}

/// Runs the child with `env` on top of a clean recorder environment: whether it
/// passed, and what it printed.
fn run_child(
    dir: &Path,
    fake: &FakeUpstream,
    question: &str,
    env: &[(&str, &str)],
) -> (bool, String) {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["child_records_one_answer", "--ignored", "--exact"]);
    for var in [
        "RECORD_MODE",
        "RECORDER_SETUP",
        "RECORDER_SUITE",
        "RECORDER_ENV",
        "RECORDER_RUN_ID",
        "RECORDER_BUDGET_TOKENS",
        "RECORDER_BUDGET_TOKENS_PER_TEST",
        "NEXTEST_RUN_ID",
    ] {
        cmd.env_remove(var);
    }
    cmd.env(CHILD, dir)
        .env(CHILD_UPSTREAM, fake.openai_url())
        .env(CHILD_QUESTION, question)
        .envs(env.iter().copied());
    let out = cmd.output().unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn two_processes_of_one_run_share_its_budget() {
    let fake = FakeUpstream::start();
    let dir = tempfile::tempdir().unwrap();
    let run = format!("budget-test-{}", std::process::id());
    // A cap of 1 token: the first call of the run goes (nothing spent yet), and
    // overshoots it; every later call of the run, in any process, is refused.
    let env = [
        ("RECORDER_RUN_ID", run.as_str()),
        ("RECORDER_BUDGET_TOKENS", "1"),
    ];
    let (passed, out) = run_child(dir.path(), &fake, "first process", &env);
    assert!(passed, "{out}");
    assert_eq!(fake.requests().len(), 1);
    let count = dir.path().join(format!(".usage/budget-{run}.tokens"));
    let spent: u64 = std::fs::read_to_string(&count)
        .unwrap_or_else(|e| panic!("{}: {e}", count.display()))
        .trim()
        .parse()
        .unwrap();
    assert!(spent > 1, "the run counts the answer's usage: {spent}");
    let recorded = files(dir.path());

    let (passed, out) = run_child(dir.path(), &fake, "second process", &env);
    assert!(!passed, "the second process of the run was refused:\n{out}");
    for part in [
        format!("the run's token budget is spent: {spent} tokens upstream, RECORDER_BUDGET_TOKENS=1 (run: RECORDER_RUN_ID={run})"),
        "was not sent upstream and nothing was recorded".into(),
        "Raise RECORDER_BUDGET_TOKENS".into(),
        count.display().to_string(),
    ] {
        assert!(out.contains(&part), "{part:?} in:\n{out}");
    }
    assert_eq!(fake.requests().len(), 1, "nothing was sent");
    assert_eq!(
        files(dir.path()),
        recorded,
        "nothing was written, nothing removed"
    );

    // Another run starts from nothing; so does a process that names no run (under no
    // `cargo test` or nextest, it is a run of its own).
    let (passed, out) = run_child(
        dir.path(),
        &fake,
        "another run",
        &[
            ("RECORDER_RUN_ID", &format!("{run}-2")),
            ("RECORDER_BUDGET_TOKENS", "1"),
        ],
    );
    assert!(passed, "{out}");
    let (passed, out) = run_child(
        dir.path(),
        &fake,
        "a process alone",
        &[("RECORDER_BUDGET_TOKENS", "1")],
    );
    assert!(passed, "{out}");
    assert_eq!(fake.requests().len(), 3);

    // A committed `.usage` symlink does not take the count outside the folder.
    let outside = tempfile::tempdir().unwrap();
    std::fs::remove_dir_all(dir.path().join(".usage")).unwrap();
    std::os::unix::fs::symlink(outside.path(), dir.path().join(".usage")).unwrap();
    let (passed, out) = run_child(dir.path(), &fake, "through a link", &env);
    assert!(!passed, "{out}");
    assert!(
        out.contains("refusing to follow a symlink under the recordings folder"),
        "{out}"
    );
    assert!(
        !files(outside.path())
            .iter()
            .any(|p| p.to_string_lossy().contains("budget-")),
        "{:?}",
        files(outside.path())
    );
    assert_eq!(fake.requests().len(), 3, "nothing was sent");
}
