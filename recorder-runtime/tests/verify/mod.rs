//! `RECORD_MODE=verify`: every request goes to the real API (here the fake upstream),
//! nothing is written, and each answer is compared with its recording in the review's
//! terms. A changed status, finish reason or tool call, or a request with no recording,
//! fails the test; changed text and numbers are reported and the test passes.
//!
//! A provider changing under the recordings is played by editing a recording after it
//! was made (the fake answers the same request the same way), or by the fake's knobs
//! (a status, embedding noise).

use crate::fake_support::*;
use futures::StreamExt;
use recorder_runtime::client::{
    ChatRequest, EmbeddingRequest, Message, ResponseEvent, ResponseRequest,
};
use recorder_runtime::compare::{Change, Severity};
use recorder_runtime::drift::{test_report, Finding, Outcome};
use recorder_runtime::{Mode, RecordingContext};
use recorder_testkit::fake::FakeUpstream;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// Every file under `dir` (usage logs, `_ids.json`, model lists and all) with its
/// bytes and modification time.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, (Vec<u8>, SystemTime)> {
    files(dir)
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            let mtime = std::fs::metadata(&p).unwrap().modified().unwrap();
            (p, (bytes, mtime))
        })
        .collect()
}

/// Fails naming each file that was added, removed, rewritten or touched since `before`.
#[track_caller]
fn assert_unchanged(dir: &Path, before: &BTreeMap<PathBuf, (Vec<u8>, SystemTime)>) {
    let after = snapshot(dir);
    let mut changed = Vec::new();
    let paths: std::collections::BTreeSet<&PathBuf> = before.keys().chain(after.keys()).collect();
    for path in paths {
        let what = match (before.get(path), after.get(path)) {
            (Some(_), None) => "removed",
            (None, Some(_)) => "added",
            (Some(a), Some(b)) if a.0 != b.0 => "rewritten",
            (Some(a), Some(b)) if a.1 != b.1 => "touched",
            _ => continue,
        };
        changed.push(format!("{what}: {}", path.display()));
    }
    assert!(
        changed.is_empty(),
        "verify wrote to the recordings folder:\n{}",
        changed.join("\n")
    );
}

/// Rewrites a recording file through `edit` (a provider that changed, in effect).
fn edit(path: &Path, edit: impl FnOnce(&mut Value)) {
    let mut v = read_json(path);
    edit(&mut v);
    std::fs::write(path, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
}

/// The recordings of a test whose request body contains `needle`.
fn recording_with(ctx: &RecordingContext, needle: &str) -> PathBuf {
    let found: Vec<PathBuf> = recordings(&ctx.scope_dir())
        .into_iter()
        .filter(|p| read_json(p)["request"]["body"].to_string().contains(needle))
        .collect();
    assert_eq!(found.len(), 1, "one recording with {needle}: {found:?}");
    found[0].clone()
}

fn ask(prompt: &str) -> ChatRequest {
    ChatRequest::new("fake-chat").message(Message::user(prompt))
}

async fn chat(ctx: &RecordingContext, prompt: &str) -> String {
    ctx.client()
        .chat(&ask(prompt))
        .await
        .unwrap()
        .text()
        .to_owned()
}

/// A streamed chat's text, and how many chunks carried text.
async fn chat_stream(ctx: &RecordingContext, prompt: &str) -> (String, usize) {
    let chunks: Vec<_> = ctx
        .client()
        .chat_stream(&ask(prompt))
        .await
        .unwrap()
        .map(|c| c.unwrap())
        .collect()
        .await;
    let texts: Vec<String> = chunks
        .iter()
        .map(|c| c.text().to_owned())
        .filter(|t| !t.is_empty())
        .collect();
    (texts.concat(), texts.len())
}

async fn embed(ctx: &RecordingContext) -> Vec<f64> {
    let out = ctx
        .client()
        .embeddings(&EmbeddingRequest::new("fake-embed", ["first text"]))
        .await
        .unwrap();
    out.data[0].embedding.clone()
}

fn kinds(f: &Finding) -> Vec<&'static str> {
    match &f.outcome {
        Outcome::Changed(changes) => changes.iter().map(Change::kind).collect(),
        _ => Vec::new(),
    }
}

#[tokio::test]
async fn the_same_answers_pass_and_nothing_is_written() {
    let fake = FakeUpstream::start();
    let dir = tempfile::tempdir().unwrap();
    let id = "verify::same";
    let run = |ctx: RecordingContext| async move {
        let plain = chat(&ctx, "Name a planet.").await;
        let (streamed, _) = chat_stream(&ctx, "Name a moon.").await;
        let vector = embed(&ctx).await;
        let models = ctx.client().models().await.unwrap();
        (plain, streamed, vector, models.data.len(), ctx)
    };
    let (plain, streamed, vector, models, rec) =
        run(fake_ctx(id, Mode::Record, dir.path(), &fake)).await;
    assert_clean(&rec);
    let before = snapshot(dir.path());
    assert!(before.len() >= 4, "{:?}", before.keys());
    let asked = fake.requests().len();
    // Coarse file system clocks must be able to see a rewrite.
    std::thread::sleep(std::time::Duration::from_millis(20));

    let (p, s, v, m, ver) = run(fake_ctx(id, Mode::Verify, dir.path(), &fake)).await;
    assert_eq!((p, s, v, m), (plain, streamed, vector, models));
    assert_eq!(
        fake.requests().len(),
        asked + 4,
        "each request went upstream"
    );
    assert!(ver.finish().is_empty(), "{:?}", ver.finish());
    let findings = ver.scope().findings();
    assert_eq!(findings.len(), 4, "{findings:?}");
    assert!(
        findings.iter().all(|f| f.outcome == Outcome::Same),
        "{findings:?}"
    );
    assert_eq!(ver.counts().verified, 4);
    assert_eq!(ver.counts().recorded, 0);
    // What the harness does when a test ends: a replay or record run notes its use.
    ver.scope().record_use().unwrap();
    // No file written, touched or added: recordings, model lists, usage log.
    assert_unchanged(dir.path(), &before);
    let report = test_report(id, &findings).unwrap();
    assert_eq!(
        report,
        "recorder: verify::same: verified 4 exchanges against their recordings: 4 the same, 0 drifted\n"
    );
}

#[tokio::test]
async fn changed_text_is_reported_and_the_test_passes() {
    let fake = FakeUpstream::start();
    let dir = tempfile::tempdir().unwrap();
    let id = "verify::text";
    let rec = fake_ctx(id, Mode::Record, dir.path(), &fake);
    let plain = chat(&rec, "Name a planet.").await;
    let (streamed, pieces) = chat_stream(&rec, "Name a moon.").await;
    assert!(pieces > 2, "a stream of several chunks: {pieces}");
    assert_clean(&rec);
    // What the provider said when the test was recorded.
    edit(&recording_with(&rec, "planet"), |v| {
        v["response"]["body"]["choices"][0]["message"]["content"] = json!("Mars, the red one.");
    });
    edit(&recording_with(&rec, "moon"), |v| {
        let frames = v["response"]["stream"]["frames"].as_array_mut().unwrap();
        let with_text = frames
            .iter_mut()
            .find(|f| {
                f["data"]["choices"][0]["delta"]["content"]
                    .as_str()
                    .is_some_and(|t| !t.is_empty())
            })
            .unwrap();
        with_text["data"]["choices"][0]["delta"]["content"] = json!("Phobos ");
    });
    let before = snapshot(dir.path());

    let ver = fake_ctx(id, Mode::Verify, dir.path(), &fake);
    // The client gets the live answers, the stream chunk by chunk.
    assert_eq!(chat(&ver, "Name a planet.").await, plain);
    assert_eq!(chat_stream(&ver, "Name a moon.").await, (streamed, pieces));
    assert!(
        ver.finish().is_empty(),
        "drift fails nothing: {:?}",
        ver.finish()
    );
    let findings = ver.scope().findings();
    assert_eq!(findings.len(), 2, "{findings:?}");
    for f in &findings {
        assert_eq!(f.kind(), "drift", "{f:?}");
        assert_eq!(f.severity(), Some(Severity::Drift));
        assert!(kinds(f).contains(&"text"), "{f:?}");
    }
    let report = test_report(id, &findings).unwrap();
    assert!(
        report.starts_with("recorder: verify::text: verified 2 exchanges against their recordings: 0 the same, 2 drifted\n  drift      POST /v1/chat/completions  model=fake-chat  ("),
        "{report}"
    );
    assert!(
        report.contains("      text           [-Mars,-]{+Fake answer to \"Name a planet.\": this reply comes from+} the [-red-]{+fake upstream,+} one{+ word at a time+}.\n"),
        "the review's word diff, old -> new: {report}"
    );
    assert!(
        report.contains("      text           [-Phobos-]{+Fake+} answer to"),
        "{report}"
    );
    assert_unchanged(dir.path(), &before);
}

#[tokio::test]
async fn a_changed_finish_reason_fails_with_the_review_message() {
    let fake = FakeUpstream::start();
    let dir = tempfile::tempdir().unwrap();
    let id = "verify::finish";
    let rec = fake_ctx(id, Mode::Record, dir.path(), &fake);
    chat(&rec, "Name a planet.").await;
    assert_clean(&rec);
    let file = recording_with(&rec, "planet");
    let recorded = read_json(&file)["response"]["body"]["choices"][0]["finish_reason"].clone();
    assert_eq!(recorded, "stop");
    edit(&file, |v| {
        v["response"]["body"]["choices"][0]["finish_reason"] = json!("length");
    });
    let before = snapshot(dir.path());

    let ver = fake_ctx(id, Mode::Verify, dir.path(), &fake);
    chat(&ver, "Name a planet.").await;
    let problems = ver.finish();
    let [problem] = &problems[..] else {
        panic!("one problem expected: {problems:?}")
    };
    assert!(
        problem.starts_with("verify: the live answer to POST /v1/chat/completions  model=fake-chat in test `verify::finish` differs from its recording in what a test branches on"),
        "{problem}"
    );
    assert!(
        problem.contains(&format!("  recording: {}\n", file.display())),
        "{problem}"
    );
    assert!(
        problem.contains("    ! finish reason  length -> stop\n"),
        "{problem}"
    );
    assert!(
        problem.ends_with("if the live answer is right, record the whole test again and review what changed: RECORD_MODE=record cargo test finish, then cargo recordings review"),
        "{problem}"
    );
    assert_eq!(ver.scope().findings()[0].kind(), "breaking");
    assert_unchanged(dir.path(), &before);
}

#[tokio::test]
async fn a_changed_tool_call_in_a_stream_fails() {
    let fake = FakeUpstream::start();
    let dir = tempfile::tempdir().unwrap();
    let id = "verify::tools";
    let tool = json!({"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}});
    let run = |ctx: RecordingContext, tool: Value| async move {
        let chunks: Vec<_> = ctx
            .client()
            .chat_stream(&ask("Weather in Paris?").tools(vec![tool]))
            .await
            .unwrap()
            .map(|c| c.unwrap())
            .collect()
            .await;
        (chunks.len(), ctx)
    };
    let (n, rec) = run(fake_ctx(id, Mode::Record, dir.path(), &fake), tool.clone()).await;
    assert_clean(&rec);
    edit(&recording_with(&rec, "Paris"), |v| {
        let call = &mut v["response"]["stream"]["frames"][0]["data"]["choices"][0]["delta"]
            ["tool_calls"][0]["function"]["name"];
        assert_eq!(call, "get_weather");
        *call = json!("get_forecast");
    });

    let (m, ver) = run(fake_ctx(id, Mode::Verify, dir.path(), &fake), tool).await;
    assert_eq!(m, n, "the client got the live stream whole");
    let problems = ver.finish();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].contains("    ! tool calls     [-get_forecast-]{+get_weather+}({\"query\":\"Weather in Paris?\"})\n"),
        "{}",
        problems[0]
    );
    // Text, usage and the rest are no tool call: the breaking change is the one named.
    assert_eq!(kinds(&ver.scope().findings()[0]), ["tool_calls"]);
}

#[tokio::test]
async fn a_changed_status_fails() {
    let fake = FakeUpstream::start();
    let dir = tempfile::tempdir().unwrap();
    let id = "verify::status";
    let rec = fake_ctx(id, Mode::Record, dir.path(), &fake);
    embed(&rec).await;
    assert_clean(&rec);
    let before = snapshot(dir.path());

    fake.set_status(500);
    let ver = fake_ctx(id, Mode::Verify, dir.path(), &fake);
    let err = ver
        .client()
        .embeddings(&EmbeddingRequest::new("fake-embed", ["first text"]))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("500"),
        "the client gets the live answer: {err}"
    );
    let problems = ver.finish();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].contains("    ! status         200 -> 500\n"),
        "{}",
        problems[0]
    );
    assert_unchanged(dir.path(), &before);
}

#[tokio::test]
async fn a_request_without_a_recording_fails_naming_the_command() {
    let fake = FakeUpstream::start();
    let dir = tempfile::tempdir().unwrap();
    let id = "verify::missing";
    let rec = fake_ctx(id, Mode::Record, dir.path(), &fake);
    chat(&rec, "Name a planet.").await;
    assert_clean(&rec);
    let recorded = recording_with(&rec, "planet");
    let before = snapshot(dir.path());

    let ver = fake_ctx(id, Mode::Verify, dir.path(), &fake);
    let answer = chat(&ver, "Name a star.").await;
    assert!(!answer.is_empty(), "the client still gets the live answer");
    let problems = ver.finish();
    let [problem] = &problems[..] else {
        panic!("one problem expected: {problems:?}")
    };
    for needle in [
        "verify: the live run made a request that has no recording, so replay would fail on it: no recording for POST /v1/chat/completions in test `verify::missing`",
        "  expected file: ",
        &format!("  closest recording of this test: {}", recorded.display()),
        "body differences (recorded | requested)",
        "  to record it: RECORD_MODE=record-if-missing cargo test missing",
        "RECORD_MODE=record cargo test missing, then cargo recordings review",
    ] {
        assert!(problem.contains(needle), "{needle:?} missing from:\n{problem}");
    }
    let findings = ver.scope().findings();
    let found: Vec<&str> = findings.iter().map(Finding::kind).collect();
    // The recording this run never asked for is reported too, as drift.
    assert_eq!(found, ["missing", "not asked"], "{findings:?}");
    assert_eq!(findings[1].file.as_deref(), Some(recorded.as_path()));
    assert_unchanged(dir.path(), &before);
}

#[tokio::test]
async fn embeddings_within_the_tolerance_are_not_reported() {
    let fake = FakeUpstream::start();
    let dir = tempfile::tempdir().unwrap();
    let id = "verify::embeddings";
    let rec = fake_ctx(id, Mode::Record, dir.path(), &fake);
    let recorded = embed(&rec).await;
    assert_clean(&rec);

    // Noise under the default tolerance (5e-3), as across machines: the same.
    fake.set_embedding_noise(2e-3);
    let ver = fake_ctx(id, Mode::Verify, dir.path(), &fake);
    assert_ne!(embed(&ver).await, recorded, "the live vectors moved");
    assert!(ver.finish().is_empty());
    assert_eq!(ver.scope().findings()[0].outcome, Outcome::Same);

    // A real move: reported as drift, with the review's numbers, and the test passes.
    fake.set_embedding_noise(0.3);
    let ver = fake_ctx(id, Mode::Verify, dir.path(), &fake);
    embed(&ver).await;
    assert!(ver.finish().is_empty());
    let findings = ver.scope().findings();
    assert_eq!(kinds(&findings[0]), ["embeddings"], "{findings:?}");
    let report = test_report(id, &findings).unwrap();
    assert!(
        report.contains("      embeddings     cosine similarity "),
        "{report}"
    );
}

/// A chain of Responses turns (each sends the previous answer's id back, streamed and
/// not) and a function call whose id goes back in the next turn.
async fn chain(ctx: &RecordingContext) -> Vec<String> {
    let client = ctx.client();
    let mut texts = Vec::new();
    let first = client
        .create_response(&ResponseRequest::new("fake-chat").input("Name a planet."))
        .await
        .unwrap();
    texts.push(first.output_text());
    let events: Vec<ResponseEvent> = client
        .create_response_stream(
            &ResponseRequest::new("fake-chat")
                .input("Its largest moon?")
                .previous_response_id(&first.id),
        )
        .await
        .unwrap()
        .map(|e| e.unwrap())
        .collect()
        .await;
    let second = events.last().unwrap().response.clone().unwrap();
    texts.push(second.output_text());
    let tool = json!({"type": "function", "name": "get_weather", "parameters": {"type": "object"}});
    let third = client
        .create_response(
            &ResponseRequest::new("fake-chat")
                .input("Weather there?")
                .previous_response_id(&second.id)
                .tools(vec![tool.clone()]),
        )
        .await
        .unwrap();
    let call_id = third
        .function_calls()
        .next()
        .unwrap()
        .call_id
        .clone()
        .unwrap();
    let fourth = client
        .create_response(
            &ResponseRequest::new("fake-chat")
                .previous_response_id(&third.id)
                .input_items(vec![ResponseRequest::function_call_output(
                    &call_id, "-60C",
                )])
                .tools(vec![tool]),
        )
        .await
        .unwrap();
    texts.push(fourth.output_text());
    texts
}

#[tokio::test]
async fn a_chain_of_server_issued_ids_compares_like_with_like() {
    let fake = FakeUpstream::start();
    let dir = tempfile::tempdir().unwrap();
    let id = "verify::chain";
    let rec = fake_ctx(id, Mode::Record, dir.path(), &fake);
    let recorded = chain(&rec).await;
    assert_clean(&rec);
    assert!(
        rec.scope_dir().join("_ids.json").is_file(),
        "the chain sends ids back"
    );
    let before = snapshot(dir.path());

    // The fake issues new random ids: the live requests carry them, and each is
    // matched with the placeholder its recording has.
    let ver = fake_ctx(id, Mode::Verify, dir.path(), &fake);
    assert_eq!(chain(&ver).await, recorded);
    assert!(ver.finish().is_empty(), "{:?}", ver.finish());
    let findings = ver.scope().findings();
    assert_eq!(findings.len(), 4, "{findings:?}");
    assert!(
        findings.iter().all(|f| f.outcome == Outcome::Same),
        "{findings:?}"
    );
    assert_unchanged(dir.path(), &before);

    // An early turn that drifted does not break the chain after it.
    edit(&recording_with(&rec, "Name a planet."), |v| {
        let output = v["response"]["body"]["output"].as_array_mut().unwrap();
        output[0]["content"][0]["text"] = json!("Saturn.");
    });
    let ver = fake_ctx(id, Mode::Verify, dir.path(), &fake);
    chain(&ver).await;
    assert!(ver.finish().is_empty(), "{:?}", ver.finish());
    let found: Vec<&str> = ver.scope().findings().iter().map(Finding::kind).collect();
    assert_eq!(found, ["drift", "same", "same", "same"]);
}

#[tokio::test]
async fn verify_asks_for_the_key_like_record() {
    let fake = FakeUpstream::start();
    let dir = tempfile::tempdir().unwrap();
    let var = "VERIFY_TEST_KEY_THAT_IS_NEVER_SET";
    let mut target = target(&fake.openai_url());
    target.api_key_env = Some(var.into());
    let ver = ctx("verify::key", Mode::Verify, dir.path(), target);
    let err = ver
        .client()
        .chat(&ask("Name a planet."))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains(&format!("${var}")), "{err}");
    assert!(
        fake.requests().is_empty(),
        "nothing went upstream without the key"
    );
}

const CHILD_VAR: &str = "VERIFY_CHILD";

/// Run as a child process (see below): records two answers, then verifies them after
/// one of them drifted.
#[tokio::test]
async fn child_verifies_with_drift() {
    let Some(dir) = std::env::var_os(CHILD_VAR) else {
        return;
    };
    let fake = FakeUpstream::start();
    let dir = Path::new(&dir);
    let id = "verify::child";
    let rec = fake_ctx(id, Mode::Record, dir, &fake);
    chat(&rec, "Name a planet.").await;
    embed(&rec).await;
    assert_clean(&rec);
    edit(&recording_with(&rec, "planet"), |v| {
        v["response"]["body"]["usage"]["completion_tokens"] = json!(1);
    });
    let ver = fake_ctx(id, Mode::Verify, dir, &fake);
    chat(&ver, "Name a planet.").await;
    embed(&ver).await;
    assert!(ver.finish().is_empty());
}

#[test]
fn the_process_names_what_drifted_at_exit() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "verify::child_verifies_with_drift",
            "--test-threads=1",
        ])
        .env(CHILD_VAR, dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("child_verifies_with_drift ... ok"),
        "{stdout}"
    );
    let summary: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("recorder: ") && !l.starts_with("recorder: recorded"))
        .collect();
    let [head, drift] = summary[..] else {
        panic!("two lines of verify summary expected:\n{stderr}");
    };
    assert_eq!(
        head,
        "recorder: verified 2 exchanges in 1 test against their recordings: 1 the same, 1 drifted"
    );
    assert!(
        drift.starts_with("recorder: drift: verify::child: POST /v1/chat/completions (")
            && drift.ends_with("….json): usage"),
        "{drift}"
    );
}

#[tokio::test]
async fn verifying_without_recordings_fails_and_creates_nothing() {
    let fake = FakeUpstream::start();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("recordings");
    let ver = fake_ctx("verify::nothing", Mode::Verify, &dir, &fake);
    chat(&ver, "Name a planet.").await;
    let problems = ver.finish();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].contains("this test has no recordings yet"),
        "{}",
        problems[0]
    );
    ver.scope().record_use().unwrap();
    assert!(!dir.exists(), "no folder, no usage log");
}
