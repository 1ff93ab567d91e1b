//! Reliability: many tests recording at once (threads and processes), a recording
//! process killed mid-stream, broken recording files, bad configuration, and every
//! way the upstream or the client can fail. Each case has one clear outcome, and
//! nothing that was recorded before is lost.
//!
//! Child processes are this test binary run again with `RELIABILITY_CHILD` set (see
//! [`child_process_entry`]).

use futures::StreamExt;
use recorder_runtime::client::{ChatRequest, Message};
use recorder_runtime::engine::Target;
use recorder_runtime::identity::RequestIdentity;
use recorder_runtime::recording::Recording;
use recorder_runtime::store::{RecordingKey, Store};
use recorder_runtime::usage::{read_usage, USAGE_DIR};
use recorder_runtime::{Error, Mode, RecordingContext};
use recorder_testkit::fake::FakeUpstream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const MODEL: &str = "fake-chat";
const CHILD_VAR: &str = "RELIABILITY_CHILD";

fn target(url: Option<String>) -> Target {
    Target {
        setup: Some("fake".into()),
        base_url: url,
        ..Default::default()
    }
}

fn context(test: &str, mode: Mode, dir: &Path, url: Option<String>) -> RecordingContext {
    RecordingContext::builder(test)
        .mode(mode)
        .dir(dir)
        .target(target(url))
        .build()
        .unwrap()
}

fn ask(prompt: &str) -> ChatRequest {
    ChatRequest::new(MODEL).message(Message::user(prompt))
}

/// The file a fixture-client chat request is recorded in.
fn file_for(dir: &Path, test: &str, req: &ChatRequest) -> PathBuf {
    let body = serde_json::to_vec(req).unwrap();
    let hash = RequestIdentity::new("POST", "/v1/chat/completions", &body, &[], Some(test)).hash();
    Store::new(dir).recording_path(test, &RecordingKey::first(hash))
}

/// Every file and folder under `dir`, hidden ones included.
fn all_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Every recording valid and named after its request, no temporary file left, the
/// usage logs whole. Returns the recordings.
fn assert_consistent(dir: &Path, expected: usize) -> Vec<Recording> {
    let store = Store::new(dir);
    let files = store.files().unwrap();
    assert_eq!(files.len(), expected, "{files:#?}");
    let mut recs = Vec::new();
    for f in &files {
        let rec = Recording::read(f).unwrap_or_else(|e| panic!("{e}"));
        let hash = rec.request_hash();
        assert_eq!(
            f,
            &store.recording_path(rec.test_id.as_deref().unwrap(), &RecordingKey::first(hash)),
            "a file not named after its request"
        );
        assert!(
            rec.to_pretty_bytes() == std::fs::read(f).unwrap(),
            "{} is not in canonical form",
            f.display()
        );
        recs.push(rec);
    }
    let leftovers: Vec<_> = all_files(dir)
        .into_iter()
        .filter(|p| p.to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
    // Concurrent writers append whole lines to the usage logs: none cut or
    // interleaved, and every recording written is in them.
    let mut raw_lines = 0;
    for f in all_files(&dir.join(USAGE_DIR)) {
        if f.extension().is_some_and(|e| e == "jsonl") {
            raw_lines += std::fs::read_to_string(&f).unwrap().lines().count();
        }
    }
    let usage: Vec<_> = read_usage(dir)
        .unwrap()
        .into_iter()
        .flat_map(|(_, lines)| lines)
        .collect();
    assert_eq!(usage.len(), raw_lines, "a usage line is cut or interleaved");
    for rec in &recs {
        let hash = rec.request_hash();
        assert!(
            usage
                .iter()
                .any(|l| l.recorded.as_deref() == Some(hash.as_str())),
            "the usage log misses the recording {hash}"
        );
    }
    recs
}

/// One test's work, as each concurrent test (thread or process) does it: a plain
/// and a streamed request.
async fn record_one(test: &str, dir: &Path, url: &str, stream_tokens: u32) -> Result<(), String> {
    let ctx = context(test, Mode::RecordIfMissing, dir, Some(url.to_owned()));
    let client = ctx.client();
    let plain = client
        .chat(&ask(&format!("plain question of {test}")))
        .await
        .map_err(|e| e.to_string())?;
    assert!(plain.text().contains(test), "{}", plain.text());
    let mut s = client
        .chat_stream(
            &ask(&format!(
                "streamed question of {test}: {}",
                "and more words ".repeat(stream_tokens as usize)
            ))
            .max_tokens(stream_tokens),
        )
        .await
        .map_err(|e| e.to_string())?;
    let mut n = 0;
    while let Some(chunk) = s.next().await {
        chunk.map_err(|e| e.to_string())?;
        n += 1;
    }
    assert!(n >= stream_tokens as usize, "{n}");
    let problems = ctx.finish();
    if !problems.is_empty() {
        return Err(problems.join("\n"));
    }
    ctx.scope().record_use().map_err(|e| e.to_string())
}

/// What a child process does, chosen by `RELIABILITY_CHILD`:
/// - `record`: [`record_one`] with `RELIABILITY_TEST`, `RELIABILITY_DIR`,
///   `RELIABILITY_URL` and `RELIABILITY_TOKENS`;
/// - `context`: builds a context from the environment alone and prints the error.
#[test]
fn child_process_entry() {
    let Ok(task) = std::env::var(CHILD_VAR) else {
        return;
    };
    let var = |name: &str| std::env::var(name).unwrap();
    match task.as_str() {
        "record" => {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            let tokens = var("RELIABILITY_TOKENS").parse().unwrap();
            rt.block_on(record_one(
                &var("RELIABILITY_TEST"),
                Path::new(&var("RELIABILITY_DIR")),
                &var("RELIABILITY_URL"),
                tokens,
            ))
            .unwrap();
        }
        "context" => match RecordingContext::builder("reliability::child").build() {
            Ok(_) => println!("CHILD-OK"),
            Err(e) => println!("CHILD-ERR: {e}"),
        },
        other => panic!("unknown child task {other}"),
    }
}

fn child(task: &str, envs: &[(&str, String)]) -> Command {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([
        "--exact",
        "child_process_entry",
        "--nocapture",
        "--test-threads=1",
    ])
    .env(CHILD_VAR, task)
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd
}

fn record_child(test: &str, dir: &Path, url: &str, tokens: u32) -> Command {
    child(
        "record",
        &[
            ("RELIABILITY_TEST", test.to_owned()),
            ("RELIABILITY_DIR", dir.display().to_string()),
            ("RELIABILITY_URL", url.to_owned()),
            ("RELIABILITY_TOKENS", tokens.to_string()),
        ],
    )
}

#[test]
fn sixty_four_tests_recording_at_once_as_threads() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeUpstream::start();
    fake.set_chunk_delay(Duration::from_millis(1));
    let barrier = std::sync::Barrier::new(64);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..64)
            .map(|i| {
                let (dir, url, barrier) = (dir.path(), fake.openai_url(), &barrier);
                s.spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .unwrap();
                    barrier.wait();
                    rt.block_on(record_one(
                        &format!("reliability::threads::test_{i:02}"),
                        dir,
                        &url,
                        6,
                    ))
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap().unwrap();
        }
    });
    let recs = assert_consistent(dir.path(), 128);
    assert_eq!(
        recs.iter().filter(|r| r.response.is_streaming()).count(),
        64
    );
    assert_eq!(fake.requests().len(), 128);
}

#[test]
fn sixty_four_tests_recording_at_once_as_processes() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeUpstream::start();
    fake.set_chunk_delay(Duration::from_millis(1));
    let children: Vec<_> = (0..64)
        .map(|i| {
            record_child(
                &format!("reliability::processes::test_{i:02}"),
                dir.path(),
                &fake.openai_url(),
                6,
            )
            .spawn()
            .unwrap()
        })
        .collect();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "a child failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_consistent(dir.path(), 128);
    assert_eq!(fake.requests().len(), 128);
}

#[test]
fn sigkill_mid_record_leaves_no_partial_file_and_the_next_run_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeUpstream::start();
    fake.set_chunk_delay(Duration::from_millis(100));
    let test = "reliability::killed::test";
    let mut first = record_child(test, dir.path(), &fake.openai_url(), 30)
        .spawn()
        .unwrap();
    // Wait until the stream is under way (the plain request is done by then), then kill.
    let start = Instant::now();
    while fake.streams_started() == 0 {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the child never started its stream"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(350));
    first.kill().unwrap(); // SIGKILL
    first.wait().unwrap();
    assert!(!fake.stream_finished());
    // Only the finished plain recording is there, whole; nothing of the stream.
    let recs = assert_consistent(dir.path(), 1);
    assert!(!recs[0].response.is_streaming());

    // The next run replays what it has and records the rest.
    fake.set_chunk_delay(Duration::ZERO);
    let out = record_child(test, dir.path(), &fake.openai_url(), 30)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let recs = assert_consistent(dir.path(), 2);
    let stream = recs
        .iter()
        .find_map(|r| r.response.stream.as_ref())
        .unwrap();
    assert_eq!(
        stream.frames.len(),
        33,
        "role chunk, 30 pieces, finish chunk, [DONE]"
    );
}

#[test]
fn a_temporary_file_left_by_a_crash_is_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeUpstream::start();
    let test = "reliability::crashed_write::test";
    let req = ask("before the crash");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let ctx = context(test, Mode::Record, dir.path(), Some(fake.openai_url()));
    rt.block_on(ctx.client().chat(&req)).unwrap();
    assert!(ctx.finish().is_empty());
    // What a process killed between writing and renaming leaves behind.
    let file = file_for(dir.path(), test, &req);
    let bytes = std::fs::read(&file).unwrap();
    let tmp = file.with_file_name(format!(
        ".{}.99999.0.tmp",
        file.file_name().unwrap().to_string_lossy()
    ));
    std::fs::write(&tmp, &bytes[..bytes.len() / 2]).unwrap();
    fake.stop();

    let replay = context(test, Mode::Replay, dir.path(), None);
    let again = rt.block_on(replay.client().chat(&req)).unwrap();
    assert!(again.text().contains("before the crash"));
    assert!(replay.finish().is_empty(), "{:?}", replay.finish());
    assert_eq!(Store::new(dir.path()).files().unwrap(), vec![file]);
}

#[tokio::test]
async fn broken_recording_files_are_named_in_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeUpstream::start();
    let test = "reliability::broken::test";
    let cases = ["corrupt", "truncated", "empty", "wrong hash"];
    let good = ask("a good recording");
    let rec = context(test, Mode::Record, dir.path(), Some(fake.openai_url()));
    for q in cases.iter().map(|c| ask(c)).chain([good.clone()]) {
        rec.client().chat(&q).await.unwrap();
    }
    assert!(rec.finish().is_empty());
    fake.stop();

    let good_file = file_for(dir.path(), test, &good);
    let good_bytes = std::fs::read(&good_file).unwrap();
    for case in cases {
        let f = file_for(dir.path(), test, &ask(case));
        let bytes = std::fs::read(&f).unwrap();
        let broken: Vec<u8> = match case {
            "corrupt" => String::from_utf8(bytes)
                .unwrap()
                .replacen("\"status\": 200", "\"status\": \"two hundred\"", 1)
                .into_bytes(),
            "truncated" => bytes[..bytes.len() * 2 / 3].to_vec(),
            "empty" => Vec::new(),
            _ => good_bytes.clone(),
        };
        std::fs::write(&f, broken).unwrap();
    }

    for (case, reason) in [
        ("corrupt", "invalid recording JSON"),
        ("truncated", "truncated"),
        ("empty", "empty"),
        ("wrong hash", "hashes to"),
    ] {
        let replay = context(test, Mode::Replay, dir.path(), None);
        let err = replay
            .client()
            .chat(&ask(case))
            .await
            .unwrap_err()
            .to_string();
        let f = file_for(dir.path(), test, &ask(case));
        assert!(
            err.contains(&f.display().to_string()),
            "{case}: the error does not name the file:\n{err}"
        );
        assert!(
            err.contains(reason),
            "{case}: the error does not say {reason:?}:\n{err}"
        );
        let problems = replay.finish();
        assert!(
            problems
                .iter()
                .any(|p| p.contains(&f.display().to_string())),
            "{case}: the test does not fail: {problems:?}"
        );
        // The good recording of the same test still replays; the broken file is untouched.
        let fine = context(test, Mode::Replay, dir.path(), None);
        assert!(fine
            .client()
            .chat(&good)
            .await
            .unwrap()
            .text()
            .contains("a good recording"));
        assert!(fine.finish().is_empty(), "{:?}", fine.finish());
    }
    assert_eq!(std::fs::read(&good_file).unwrap(), good_bytes);

    // record-if-missing does not paper over a broken file either: it is never overwritten silently.
    let again = context(
        test,
        Mode::RecordIfMissing,
        dir.path(),
        Some(recorder_runtime_dead_url()),
    );
    let err = again
        .client()
        .chat(&ask("empty"))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("empty"), "{err}");
    assert!(std::fs::read(file_for(dir.path(), test, &ask("empty")))
        .unwrap()
        .is_empty());
}

fn recorder_runtime_dead_url() -> String {
    let fake = FakeUpstream::start();
    let url = fake.openai_url();
    fake.stop();
    url
}

#[test]
fn malformed_recorder_toml_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let toml = dir.path().join("recorder.toml");
    std::fs::write(
        &toml,
        "default_setup = \"x\"\n[setups.x\nbase_url = \"http://h/v1\"\n",
    )
    .unwrap();
    let err = RecordingContext::builder("reliability::config::test")
        .mode(Mode::Replay)
        .dir(dir.path().join("recordings"))
        .start_dir(dir.path())
        .build()
        .unwrap_err()
        .to_string();
    assert!(err.contains("recorder.toml"), "{err}");
    assert!(
        err.contains("line 2") || err.contains(":2:") || err.contains("2 |"),
        "the error says where: {err}"
    );
}

#[test]
fn unknown_record_mode_names_the_five() {
    let err = "recrod".parse::<Mode>().unwrap_err().to_string();
    let out = child("context", &[("RECORD_MODE", "recrod".into())])
        .env_remove("RECORDING_DIR")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("CHILD-ERR"), "{stdout}");
    for text in [err.as_str(), stdout.as_ref()] {
        for needle in [
            "\"recrod\"",
            "replay",
            "record-if-missing",
            "record",
            "live",
            "verify",
        ] {
            assert!(text.contains(needle), "{needle} missing from: {text}");
        }
    }
}

#[tokio::test]
async fn a_missing_recordings_folder_is_a_miss_in_replay_and_created_when_recording() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("not").join("there");
    let replay = context("reliability::missing::test", Mode::Replay, &missing, None);
    let err = replay.client().chat(&ask("anything")).await.unwrap_err();
    assert!(matches!(err, Error::Miss(_)), "{err}");
    assert!(
        err.to_string().contains("this test has no recordings yet"),
        "{err}"
    );
    assert_eq!(replay.finish().len(), 1);
    assert!(!missing.exists(), "replay writes nothing");

    let fake = FakeUpstream::start();
    let rec = context(
        "reliability::missing::test",
        Mode::Record,
        &missing,
        Some(fake.openai_url()),
    );
    rec.client().chat(&ask("anything")).await.unwrap();
    assert!(rec.finish().is_empty());
    assert_consistent(&missing, 1);
}

#[tokio::test]
async fn an_unreachable_upstream_is_clear_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeUpstream::start();
    let test = "reliability::down::test";
    let kept = ask("recorded while it was up");
    let ctx = context(test, Mode::Record, dir.path(), Some(fake.openai_url()));
    ctx.client().chat(&kept).await.unwrap();
    assert!(ctx.finish().is_empty());
    let url = fake.openai_url();
    fake.stop();
    let before = std::fs::read(file_for(dir.path(), test, &kept)).unwrap();

    let ctx = context(test, Mode::RecordIfMissing, dir.path(), Some(url.clone()));
    // What exists still replays.
    ctx.client().chat(&kept).await.unwrap();
    // What does not is a clear error naming the upstream, for plain and streamed requests.
    let err = ctx.client().chat(&ask("new question")).await.unwrap_err();
    assert!(matches!(err, Error::Unreachable { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("unreachable") && msg.contains(&url) && msg.contains("nothing was recorded"),
        "{msg}"
    );
    let Err(err) = ctx.client().chat_stream(&ask("new stream")).await else {
        panic!("a stream from nowhere")
    };
    assert!(err.to_string().contains("unreachable"), "{err}");
    // Through the proxy: a 502 with the same explanation.
    let resp = reqwest::Client::new()
        .post(format!("{}/chat/completions", ctx.base_url()))
        .header("content-type", "application/json")
        .body(serde_json::to_vec(&ask("via proxy")).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 502);
    assert!(resp.text().await.unwrap().contains("unreachable"));

    assert_eq!(
        Store::new(dir.path()).files().unwrap().len(),
        1,
        "nothing new was written"
    );
    assert_eq!(
        std::fs::read(file_for(dir.path(), test, &kept)).unwrap(),
        before,
        "nothing was lost"
    );
}

#[tokio::test]
async fn an_upstream_500_is_recorded_and_replayed_as_such() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeUpstream::start();
    fake.set_status(500);
    let test = "reliability::status_500::test";
    let ctx = context(test, Mode::Record, dir.path(), Some(fake.openai_url()));
    let err = ctx.client().chat(&ask("break please")).await.unwrap_err();
    let Error::Api {
        status: 500, body, ..
    } = &err
    else {
        panic!("{err}")
    };
    assert!(
        ctx.finish().is_empty(),
        "an error answer is a valid recording: {:?}",
        ctx.finish()
    );
    let recs = assert_consistent(dir.path(), 1);
    assert_eq!(recs[0].response.status, 500);
    fake.stop();

    let replay = context(test, Mode::Replay, dir.path(), None);
    match replay
        .client()
        .chat(&ask("break please"))
        .await
        .unwrap_err()
    {
        Error::Api {
            status: 500,
            body: again,
            ..
        } => assert_eq!(&again, body),
        other => panic!("{other}"),
    }
    let resp = reqwest::Client::new()
        .post(format!("{}/chat/completions", replay.base_url()))
        .header("content-type", "application/json")
        .body(serde_json::to_vec(&ask("break please")).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 500);
    assert!(replay.finish().is_empty());
}

#[tokio::test]
async fn an_upstream_closing_mid_stream_fails_clearly_and_records_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeUpstream::start();
    let test = "reliability::cut::test";
    let kept = ask("recorded before the cut");
    let ctx = context(test, Mode::Record, dir.path(), Some(fake.openai_url()));
    ctx.client().chat(&kept).await.unwrap();

    fake.set_fail_mid_stream(true);
    let mut s = ctx
        .client()
        .chat_stream(&ask("cut me").max_tokens(10))
        .await
        .unwrap();
    let mut got = 0;
    let err = loop {
        match s.next().await {
            Some(Ok(_)) => got += 1,
            Some(Err(e)) => break e.to_string(),
            None => panic!("the stream ended without an error after {got} chunks"),
        }
    };
    assert!(got >= 1, "the chunks before the cut arrived");
    assert!(
        err.contains("failed mid-response") && err.contains("nothing was recorded"),
        "{err}"
    );
    let problems = ctx.finish();
    assert!(
        problems.iter().any(|p| p.contains("failed mid-response")),
        "{problems:?}"
    );
    assert_consistent(dir.path(), 1);

    // A later run against a healthy upstream records it.
    fake.set_fail_mid_stream(false);
    let again = context(
        test,
        Mode::RecordIfMissing,
        dir.path(),
        Some(fake.openai_url()),
    );
    let mut s = again
        .client()
        .chat_stream(&ask("cut me").max_tokens(10))
        .await
        .unwrap();
    while let Some(c) = s.next().await {
        c.unwrap();
    }
    assert!(again.finish().is_empty());
    assert_consistent(dir.path(), 2);
}

#[tokio::test]
async fn a_client_disconnecting_mid_stream_from_the_proxy_leaves_a_full_recording() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeUpstream::start();
    fake.set_chunk_delay(Duration::from_millis(20));
    let test = "reliability::disconnect::test";
    let ctx = context(test, Mode::Record, dir.path(), Some(fake.openai_url()));
    let body = serde_json::json!({"model": MODEL, "stream": true, "max_tokens": 15, "messages": [{"role": "user", "content": "a long story please, in many words"}]});
    {
        let resp = reqwest::Client::new()
            .post(format!("{}/chat/completions", ctx.base_url()))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let mut chunks = resp.bytes_stream();
        chunks.next().await.unwrap().unwrap();
        // Dropped here: the connection closes after one chunk.
    }
    assert!(!fake.stream_finished());
    assert!(ctx.finish().is_empty(), "{:?}", ctx.finish());
    assert!(fake.stream_finished());
    let recs = assert_consistent(dir.path(), 1);
    assert_eq!(
        recs[0].response.stream.as_ref().unwrap().frames.len(),
        18,
        "role chunk, 15 pieces, finish chunk, [DONE]"
    );
}

/// A recording file as the recorder wrote it before format numbers (format 1).
fn as_format_1(path: &Path) -> Vec<u8> {
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let file = v.as_object_mut().unwrap();
    assert_eq!(file.shift_remove("format"), Some(2.into()));
    assert_eq!(
        file.shift_remove("identity"),
        Some(recorder_runtime::identity::SCHEME.into())
    );
    let mut out = serde_json::to_vec_pretty(&v).unwrap();
    out.push(b'\n');
    out
}

#[tokio::test]
async fn recordings_of_another_version_replay_or_fail_saying_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeUpstream::start();
    let test = "reliability::versions::test";
    let (kept, moved) = (ask("kept as format 1"), ask("hashed by an older scheme"));
    let rec = context(test, Mode::Record, dir.path(), Some(fake.openai_url()));
    rec.client().chat(&kept).await.unwrap();
    rec.client().chat(&moved).await.unwrap();
    let models = rec.client().models().await.unwrap();
    assert!(rec.finish().is_empty());
    fake.stop();
    let store = Store::new(dir.path());
    let model_list = store
        .files()
        .unwrap()
        .into_iter()
        .find(|p| p.to_string_lossy().contains("_models"))
        .unwrap();

    // Format 1 files replay as they are, model lists too.
    let kept_file = file_for(dir.path(), test, &kept);
    let kept_bytes = std::fs::read(&kept_file).unwrap();
    std::fs::write(&kept_file, as_format_1(&kept_file)).unwrap();
    std::fs::write(&model_list, as_format_1(&model_list)).unwrap();
    let replay = context(test, Mode::Replay, dir.path(), None);
    assert!(replay
        .client()
        .chat(&kept)
        .await
        .unwrap()
        .text()
        .contains("kept as format 1"));
    assert_eq!(
        replay.client().models().await.unwrap().data.len(),
        models.data.len()
    );
    assert!(replay.finish().is_empty(), "{:?}", replay.finish());

    // A file whose request no longer hashes to its name under this recorder's scheme,
    // as an older scheme would have named it: a request it may answer fails naming it
    // and the command, in replay and in record-if-missing (which records nothing).
    let moved_file = file_for(dir.path(), test, &moved);
    let old_name = moved_file.with_file_name(format!("{}.json", "1".repeat(64)));
    std::fs::write(&old_name, as_format_1(&moved_file)).unwrap();
    std::fs::remove_file(&moved_file).unwrap();
    for mode in [Mode::Replay, Mode::RecordIfMissing] {
        let ctx = context(test, mode, dir.path(), Some(recorder_runtime_dead_url()));
        let err = ctx.client().chat(&moved).await.unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, Error::Format { .. }), "{mode:?}: {err:?}");
        assert!(
            text.contains(&old_name.display().to_string())
                && text.contains("cargo recordings migrate"),
            "{mode:?}: {text}"
        );
        let problems = ctx.finish();
        assert!(
            problems
                .iter()
                .any(|p| p.contains("cargo recordings migrate")),
            "{problems:?}"
        );
        assert!(
            !moved_file.exists(),
            "{mode:?} wrote a recording beside the old one"
        );
    }
    // A model list is found by its path, not its hash (lists merge whatever their
    // query): one an older scheme named otherwise still replays (each folder of its
    // own: an engine keeps the model lists it served); one a newer recorder wrote fails
    // saying to upgrade.
    let other = tempfile::tempdir().unwrap();
    let old_list = other
        .path()
        .join("_models")
        .join(format!("models-{}-00000000.json", "1".repeat(64)));
    std::fs::create_dir_all(old_list.parent().unwrap()).unwrap();
    std::fs::copy(&model_list, &old_list).unwrap();
    let ctx = context(test, Mode::Replay, other.path(), None);
    assert_eq!(
        ctx.client().models().await.unwrap().data.len(),
        models.data.len()
    );
    assert!(ctx.finish().is_empty());
    let newer_dir = tempfile::tempdir().unwrap();
    let newer_list = newer_dir
        .path()
        .join("_models")
        .join(old_list.file_name().unwrap());
    std::fs::create_dir_all(newer_list.parent().unwrap()).unwrap();
    let list = std::fs::read_to_string(&old_list).unwrap();
    // The list was made format 1 above: it gains a newer format.
    assert!(!list.contains("\"format\""), "{list}");
    std::fs::write(&newer_list, list.replacen('{', "{\"format\": 3,", 1)).unwrap();
    let ctx = context(test, Mode::Replay, newer_dir.path(), None);
    let err = ctx.client().models().await.unwrap_err().to_string();
    assert!(
        err.contains(&newer_list.display().to_string()) && err.contains("upgrade"),
        "{err}"
    );
    ctx.finish();

    // A newer recorder's file fails saying to upgrade, found by its name or not.
    let newer =
        String::from_utf8(kept_bytes)
            .unwrap()
            .replacen("\"format\": 2", "\"format\": 3", 1);
    std::fs::write(&kept_file, &newer).unwrap();
    std::fs::write(&old_name, &newer).unwrap();
    for (req, file) in [(&kept, &kept_file), (&moved, &old_name)] {
        let ctx = context(test, Mode::Replay, dir.path(), None);
        let err = ctx.client().chat(req).await.unwrap_err().to_string();
        assert!(
            err.contains(&file.display().to_string())
                && err.contains("newer recorder")
                && err.contains("upgrade"),
            "{err}"
        );
        ctx.finish();
    }
}
