//! The recordings index: rebuild, staleness, corrupt files, the record of use, the
//! engine keeping it in sync under 32 concurrent writers.

use recorder_cli::index::{Index, INDEX_FILE};
use recorder_runtime::engine::{Engine, EngineRequest, Scope, Target};
use recorder_runtime::recording::{RecordedRequest, RecordedResponse, Recording};
use recorder_runtime::store::{RecordingKey, Store};
use recorder_runtime::stream::{Frame, StreamFormat};
use recorder_runtime::Mode;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, SystemTime};

fn rec(
    test: Option<&str>,
    method: &str,
    endpoint: &str,
    body: Value,
    response: Value,
) -> Recording {
    Recording {
        test_id: test.map(str::to_owned),
        request: RecordedRequest {
            method: method.into(),
            endpoint: endpoint.into(),
            model: body.get("model").and_then(Value::as_str).map(str::to_owned),
            body,
        },
        response: RecordedResponse::plain(
            200,
            Some("application/json"),
            response.to_string().as_bytes(),
        ),
    }
}

fn chat(test: &str, content: &str) -> Recording {
    rec(
        Some(test),
        "POST",
        "/v1/chat/completions",
        json!({"model": "smollm2", "messages": [{"role": "user", "content": content}]}),
        json!({"choices": []}),
    )
}

fn streamed(test: &str) -> Recording {
    let mut r = rec(
        Some(test),
        "POST",
        "/api/chat",
        json!({"model": "llama3:8b", "stream": true}),
        json!({}),
    );
    let frames: Vec<Frame> =
        serde_json::from_value(json!([{"data": {"done": false}}, {"data": {"done": true}}]))
            .unwrap();
    r.response = RecordedResponse::streamed(200, StreamFormat::Ndjson, frames);
    r
}

fn models(ids: &[&str]) -> Recording {
    let data: Vec<Value> = ids
        .iter()
        .map(|id| json!({"id": id, "object": "model"}))
        .collect();
    rec(
        None,
        "GET",
        "/v1/models",
        Value::Null,
        json!({"object": "list", "data": data}),
    )
}

/// Writes a recording under its own hash, like the engine does.
fn write(store: &Store, r: &Recording) -> (String, PathBuf) {
    let hash = r.request_hash();
    let path = store.write(r, &RecordingKey::first(hash.as_str())).unwrap();
    (hash, path)
}

fn count_rows(root: &Path) -> i64 {
    let conn = rusqlite::Connection::open(root.join(INDEX_FILE)).unwrap();
    conn.query_row("SELECT count(*) FROM recordings", [], |r| r.get(0))
        .unwrap()
}

#[test]
fn rebuild_indexes_every_file() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path());
    let (h1, _) = write(&store, &chat("ex::chat::answers[text=smollm2]", "hi"));
    let (h2, _) = write(&store, &streamed("ex::chat::streams"));
    let (h3, p3) = write(&store, &models(&["a", "b"]));
    let (_, p4) = write(&store, &models(&["c"]));

    let index = Index::open(dir.path()).unwrap();
    let report = index.rebuild(&store).unwrap();
    assert_eq!(report.indexed, 4);
    assert!(report.skipped.is_empty());
    assert!(index.meta("rebuilt_at").unwrap().is_some());

    let all = index.entries(&Default::default()).unwrap();
    assert_eq!(all.len(), 4);
    let chat = all.iter().find(|e| e.request_hash == h1).unwrap();
    assert_eq!(
        chat.file_path,
        PathBuf::from(format!("ex/chat/answers[text=smollm2]/{h1}.json"))
    );
    assert_eq!(
        chat.test_id.as_deref(),
        Some("ex::chat::answers[text=smollm2]")
    );
    assert_eq!(
        (
            chat.method.as_str(),
            chat.endpoint.as_str(),
            chat.model.as_deref()
        ),
        ("POST", "/v1/chat/completions", Some("smollm2"))
    );
    assert!(!chat.is_streaming);
    assert_eq!(chat.status, 200);
    let stream = all.iter().find(|e| e.request_hash == h2).unwrap();
    assert!(stream.is_streaming);
    assert_eq!(stream.model.as_deref(), Some("llama3:8b"));
    // Model lists: one row per file, both under the request's hash.
    let lists: Vec<_> = all.iter().filter(|e| e.test_id.is_none()).collect();
    assert_eq!(lists.len(), 2);
    assert!(lists
        .iter()
        .all(|e| e.request_hash == h3 && e.file_path.starts_with("_models")));
    let paths: BTreeSet<_> = lists
        .iter()
        .map(|e| dir.path().join(&e.file_path))
        .collect();
    assert_eq!(paths, BTreeSet::from([p3, p4]));
    // recorded_at is RFC 3339 UTC, to the second.
    let at = &chat.recorded_at;
    assert!(
        at.len() == 20 && at.ends_with('Z') && at.as_bytes()[10] == b'T',
        "{at}"
    );

    // Filters.
    let by_test = index
        .entries(&recorder_cli::index::EntryFilter {
            test: Some("chat::answers".into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(by_test.len(), 1);
    let by_model = index
        .entries(&recorder_cli::index::EntryFilter {
            model: Some("llama3:8b".into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(by_model[0].request_hash, h2);
    let by_endpoint = index
        .entries(&recorder_cli::index::EntryFilter {
            endpoint: Some("/v1/models".into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(by_endpoint.len(), 2);
    let by_prefix = index
        .entries(&recorder_cli::index::EntryFilter {
            hash_prefix: Some(h1[..8].to_uppercase()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(by_prefix.len(), 1);
}

#[test]
fn sqlite3_style_query_works() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path());
    write(&store, &chat("m::t", "hi"));
    Index::open(dir.path()).unwrap().rebuild(&store).unwrap();
    // What `sqlite3 recordings/index.sqlite "SELECT endpoint, model, recorded_at FROM recordings"` runs.
    let conn = rusqlite::Connection::open(dir.path().join(INDEX_FILE)).unwrap();
    let rows: Vec<(String, Option<String>, String)> = conn
        .prepare("SELECT endpoint, model, recorded_at FROM recordings")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].0, "/v1/chat/completions");
    assert_eq!(rows[0].1.as_deref(), Some("smollm2"));
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
}

#[test]
fn staleness_follows_added_removed_and_edited_files() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path());
    let (_, a) = write(&store, &chat("m::t", "a"));
    let index = Index::open(dir.path()).unwrap();
    assert!(index.ensure_fresh(&store).unwrap(), "a new index is built");
    assert!(
        !index.ensure_fresh(&store).unwrap(),
        "unchanged: no rebuild"
    );
    assert_eq!(count_rows(dir.path()), 1);

    // Added (e.g. by git checkout).
    let (_, b) = write(&store, &chat("m::t", "b"));
    assert!(index.is_stale(&store).unwrap());
    assert!(index.ensure_fresh(&store).unwrap());
    assert!(!index.ensure_fresh(&store).unwrap());
    assert_eq!(count_rows(dir.path()), 2);

    // Edited by hand: same size, only the content and the time change.
    let text = std::fs::read_to_string(&b)
        .unwrap()
        .replace("\"b\"", "\"c\"");
    std::fs::write(&b, &text).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&b)
        .unwrap()
        .set_modified(SystemTime::now() + Duration::from_secs(5))
        .unwrap();
    assert!(
        index.ensure_fresh(&store).unwrap(),
        "an edited file is noticed"
    );
    assert_eq!(index.entries(&Default::default()).unwrap().len(), 2);
    assert!(!index.ensure_fresh(&store).unwrap());

    // Edited with a new size but an old time (git can restore times).
    let before = std::fs::metadata(&a).unwrap().modified().unwrap();
    let mut longer = std::fs::read_to_string(&a).unwrap();
    longer.push('\n');
    std::fs::write(&a, longer).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&a)
        .unwrap()
        .set_modified(before)
        .unwrap();
    assert!(
        index.ensure_fresh(&store).unwrap(),
        "a size change is noticed"
    );

    // Removed.
    std::fs::remove_file(&a).unwrap();
    assert!(index.ensure_fresh(&store).unwrap());
    assert_eq!(count_rows(dir.path()), 1);

    // Deleted index: rebuilt from the files by a new open.
    drop(index);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(dir.path().join(format!("{INDEX_FILE}{suffix}")));
    }
    let index = Index::open(dir.path()).unwrap();
    assert!(index.ensure_fresh(&store).unwrap());
    assert_eq!(count_rows(dir.path()), 1);
    assert!(!index.ensure_fresh(&store).unwrap());
}

#[test]
fn corrupt_files_are_reported_not_indexed() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path());
    write(&store, &chat("m::t", "ok"));
    let broken = store.recording_path("m::t", &RecordingKey::first("b".repeat(64)));
    std::fs::write(&broken, "{\"test_id\": \"m::t\", \"request\": {").unwrap();
    let empty = store.recording_path("m::u", &RecordingKey::first("c".repeat(64)));
    std::fs::create_dir_all(empty.parent().unwrap()).unwrap();
    std::fs::write(&empty, "").unwrap();

    let index = Index::open(dir.path()).unwrap();
    let report = index.rebuild(&store).unwrap();
    assert_eq!(report.indexed, 1);
    assert_eq!(report.skipped.len(), 2);
    let truncated = report
        .skipped
        .iter()
        .find(|s| s.path == broken)
        .expect("the broken file is named");
    assert!(
        truncated.reason.contains("truncated"),
        "{}",
        truncated.reason
    );
    assert!(report
        .skipped
        .iter()
        .any(|s| s.path == empty && s.reason.contains("empty")));
    // Skipped files are remembered: no rebuild on every call because of them.
    assert!(!index.ensure_fresh(&store).unwrap());
    assert_eq!(index.skipped().unwrap().len(), 2);
    // Fixing the file brings it in.
    write(&store, &chat("m::u", "fixed"));
    std::fs::remove_file(&empty).unwrap();
    assert!(index.ensure_fresh(&store).unwrap());
    assert_eq!(index.entries(&Default::default()).unwrap().len(), 2);
    assert_eq!(index.skipped().unwrap().len(), 1);
}

#[test]
fn record_of_use_drives_prune() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let store = Store::new(root);
    let (a1, pa1) = write(&store, &chat("m::a", "1"));
    let (a2, pa2) = write(&store, &chat("m::a", "2"));
    let (_, pa3) = write(&store, &chat("m::a", "3"));
    let (b1, _) = write(&store, &chat("m::b", "1"));
    let (_, pc1) = write(&store, &chat("m::c", "1"));
    let (models_hash, pm1) = write(&store, &models(&["x"]));
    let (_, pm2) = write(&store, &models(&["y"]));
    let set = |v: Vec<PathBuf>| v.into_iter().collect::<BTreeSet<_>>();

    let index = Index::open(root).unwrap().with_run_id("run-1");
    index.ensure_fresh(&store).unwrap();
    assert!(
        index.unused_for_latest_runs().unwrap().is_empty(),
        "no run recorded: nothing is unused"
    );

    // Run 1: only test a runs; it uses a1, a2 and the model list.
    index.begin_test("m::a").unwrap();
    index
        .mark_used("m::a", &[a1.clone(), a2.clone(), models_hash.clone()])
        .unwrap();
    assert_eq!(
        set(index.unused_for_latest_runs().unwrap()),
        BTreeSet::from([pa3.clone()]),
        "tests that did not run keep everything"
    );
    assert_eq!(
        index.latest_runs().unwrap(),
        vec![("m::a".to_string(), "run-1".to_string())]
    );

    // Run 2: every test runs; a uses only a1, b uses b1, c ran but replayed nothing;
    // nobody lists models any more.
    std::thread::sleep(Duration::from_millis(5));
    let index = Index::open(root).unwrap().with_run_id("run-2");
    for t in ["m::a", "m::b", "m::c"] {
        index.begin_test(t).unwrap();
    }
    index.mark_used("m::a", std::slice::from_ref(&a1)).unwrap();
    index.mark_used("m::b", std::slice::from_ref(&b1)).unwrap();
    assert_eq!(
        set(index.unused_for_latest_runs().unwrap()),
        BTreeSet::from([
            pa2.clone(),
            pa3.clone(),
            pc1.clone(),
            pm1.clone(),
            pm2.clone()
        ])
    );

    // Run 3 (unfinished: no begin_test) records a new file for a: it is kept, and
    // a's latest run is still run 2.
    std::thread::sleep(Duration::from_millis(5));
    let index = Index::open(root).unwrap().with_run_id("run-3");
    let (_, pa4) = write(&store, &chat("m::a", "4"));
    let a4rec = Recording::read(&pa4).unwrap();
    index
        .record_saved(&pa4, &a4rec, &a4rec.request_hash(), "m::a", false)
        .unwrap();
    assert!(!index.unused_for_latest_runs().unwrap().contains(&pa4));
    assert!(
        !index.is_stale(&store).unwrap(),
        "record_saved keeps the index fresh"
    );

    // Run 4: b uses the model list again: both model files stay.
    std::thread::sleep(Duration::from_millis(5));
    let index = Index::open(root).unwrap().with_run_id("run-4");
    index.begin_test("m::b").unwrap();
    index
        .mark_used("m::b", &[b1.clone(), models_hash.clone()])
        .unwrap();
    let unused = set(index.unused_for_latest_runs().unwrap());
    assert!(
        !unused.contains(&pm1) && !unused.contains(&pm2),
        "{unused:?}"
    );
    // a is still judged by run 2 (plus what run 3 recorded).
    assert!(unused.contains(&pa2) && unused.contains(&pc1) && !unused.contains(&pa1));
}

/// A fake upstream (it echoes the prompt) and its OpenAI base URL.
fn start_upstream() -> (recorder_testkit::FakeUpstream, String) {
    let fake = recorder_testkit::FakeUpstream::start();
    let url = fake.openai_url();
    (fake, url)
}

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files_under(&path, out);
        } else {
            out.push(path);
        }
    }
}

#[test]
fn thirty_two_threads_record_500_requests_into_one_scope() {
    const THREADS: usize = 32;
    const REQUESTS: usize = 500;
    let (_upstream, base_url) = start_upstream();
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::new(dir.path());
    let target = Target {
        base_url: Some(base_url),
        ..Default::default()
    };
    let scope = Scope::new(
        engine.clone(),
        "parallel::records[text=m]",
        Mode::Record,
        target,
    );
    let next = Arc::new(AtomicUsize::new(0));
    let barrier = Arc::new(Barrier::new(THREADS));
    let threads: Vec<_> = (0..THREADS)
        .map(|_| {
            let (scope, next, barrier) = (scope.clone(), next.clone(), barrier.clone());
            std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
                barrier.wait();
                rt.block_on(async {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= REQUESTS {
                            break;
                        }
                        let body = json!({"model": "m", "messages": [{"role": "user", "content": format!("request {i}")}]});
                        let resp = scope.handle(EngineRequest::post("/v1/chat/completions", body.to_string())).await.unwrap();
                        assert_eq!(resp.status, 200);
                        let got: Value = serde_json::from_slice(&resp.bytes().await.unwrap()).unwrap();
                        let text = got["choices"][0]["message"]["content"].as_str().unwrap();
                        assert!(text.contains(&format!("request {i}")), "{text}");
                    }
                });
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let problems = scope.finish(Duration::from_secs(30));
    assert!(problems.is_empty(), "{problems:#?}");
    assert_eq!(scope.counts().recorded, REQUESTS);

    let mut files = Vec::new();
    files_under(&scope.dir(), &mut files);
    let tmp: Vec<_> = files
        .iter()
        .filter(|p| p.to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(tmp.is_empty(), "leftover temporary files: {tmp:?}");
    assert_eq!(files.len(), REQUESTS);
    let mut contents = BTreeSet::new();
    for path in &files {
        let r = Recording::read(path).unwrap();
        if path.file_name().unwrap() == "_ids.json" {
            continue;
        }
        assert_eq!(
            path.file_stem().unwrap().to_str().unwrap(),
            r.request_hash(),
            "{}",
            path.display()
        );
        assert_eq!(
            r.response.body.as_ref().unwrap()["created"],
            0,
            "normalized"
        );
        contents.insert(
            r.request.body["messages"][0]["content"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    assert_eq!(contents.len(), REQUESTS, "every request has its own file");

    // The index, built by the command from the files and the usage log.
    scope.record_use().unwrap();
    let index = Index::open(dir.path()).unwrap();
    assert!(
        index.ensure_fresh(engine.store()).unwrap(),
        "built from the files"
    );
    assert_eq!(count_rows(dir.path()), REQUESTS as i64);
    assert_eq!(
        index.ingest_usage().unwrap(),
        REQUESTS + 1,
        "one line per recording, one at the end"
    );
    assert_eq!(index.ingest_usage().unwrap(), 0, "folded once");
    assert_eq!(index.latest_runs().unwrap().len(), 1);
    assert!(
        index.unused_for_latest_runs().unwrap().is_empty(),
        "what a run recorded counts as used"
    );
}

#[test]
fn a_usage_log_failure_keeps_the_recording_and_fails_the_test() {
    let (_upstream, base_url) = start_upstream();
    let dir = tempfile::tempdir().unwrap();
    // A file where the usage log folder should be: the log cannot be written.
    std::fs::write(
        dir.path().join(recorder_runtime::usage::USAGE_DIR),
        "not a folder",
    )
    .unwrap();
    let engine = Engine::new(dir.path());
    let scope = Scope::new(
        engine,
        "m::broken_usage",
        Mode::Record,
        Target {
            base_url: Some(base_url),
            ..Default::default()
        },
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let resp = rt
        .block_on(scope.handle(EngineRequest::post(
            "/v1/chat/completions",
            r#"{"model":"m"}"#,
        )))
        .unwrap();
    assert_eq!(resp.status, 200);
    let problems = scope.finish(Duration::from_secs(5));
    assert_eq!(problems.len(), 1, "{problems:#?}");
    assert!(
        problems[0].contains(".usage") && problems[0].contains("only the record of use is behind"),
        "{}",
        problems[0]
    );
    let mut files = Vec::new();
    files_under(&scope.dir(), &mut files);
    assert_eq!(files.len(), 1, "the recording is kept");
}

/// `git <args>` in `dir` (no system or user configuration); its stdout.
fn git(dir: &Path, args: &[&str]) -> String {
    let out = std::process::Command::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `cargo recordings list` in a user's repository leaves nothing for `git add -A` to
/// pick up: the index it writes next to the recordings is ignored by a `.gitignore`
/// that ignores itself.
#[test]
fn list_leaves_nothing_new_for_git() {
    let repo = tempfile::tempdir().unwrap();
    let root = repo.path();
    git(root, &["init", "-q"]);
    std::fs::write(root.join("recorder.toml"), "").unwrap();
    let recordings = root.join("recordings");
    write(&Store::new(&recordings), &chat("t::a", "hi"));
    git(root, &["add", "-A"]);
    git(root, &["commit", "-qm", "recordings"]);

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_cargo-recordings"))
        .arg("list")
        .current_dir(root)
        .env_remove("RECORDING_DIR")
        .output()
        .unwrap();
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("t::a"),
        "{out:?}"
    );
    assert!(recordings.join(INDEX_FILE).is_file());
    assert_eq!(
        git(root, &["status", "--porcelain", "--untracked-files=all"]),
        ""
    );
}

#[test]
fn a_gitignore_of_ones_own_or_a_symlink_is_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let own = dir.path().join("own");
    std::fs::create_dir_all(&own).unwrap();
    std::fs::write(own.join(".gitignore"), "mine\n").unwrap();
    Index::open(&own).unwrap();
    assert_eq!(
        std::fs::read_to_string(own.join(".gitignore")).unwrap(),
        "mine\n"
    );

    // A dangling symlink by that name (say, committed by someone) is not followed.
    let linked = dir.path().join("linked");
    std::fs::create_dir_all(&linked).unwrap();
    let outside = dir.path().join("outside-the-recordings");
    std::os::unix::fs::symlink(&outside, linked.join(".gitignore")).unwrap();
    Index::open(&linked).unwrap();
    assert!(!outside.exists());
}
