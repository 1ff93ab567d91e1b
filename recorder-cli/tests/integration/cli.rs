//! The `recordings` command: every command's help and exit codes, `check` on the
//! committed recordings and on broken ones, `normalize`, `list`/`show`, `prune`,
//! `reindex`, `import ogx`, `serve` replaying an imported OGX corpus over HTTP, and
//! (in `review/`) `review` and `report --html` on a scratch git repository.

mod migrate;
mod review;

use crate::support::{chat, cli, s, Serve};
use futures::StreamExt;
use recorder_cli::index::Index;
use recorder_cli::{EXIT_ERROR, EXIT_OK, EXIT_PROBLEMS};
use recorder_runtime::recording::{RecordedRequest, RecordedResponse, Recording};
use recorder_runtime::store::{self, RecordingKey, Store};
use recorder_runtime::stream::{self as frames, Frame, StreamFormat};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .into()
}

/// The committed OGX subset (a fresh clone has it), else the shared corpus.
fn ogx_subset() -> PathBuf {
    let committed = PathBuf::from(recorder_testkit::OGX_SUBSET);
    if committed.is_dir() {
        committed
    } else {
        full_corpus().expect("no OGX corpus: tests/data/ogx is missing")
    }
}

fn full_corpus() -> Option<PathBuf> {
    let p = workspace().join("../shared/corpus/ogx");
    p.is_dir().then_some(p)
}

fn normalized_reply(rec: &Recording, text: &str) -> Value {
    let hash = rec.request_hash();
    json!({"id": format!("rec-{}", &hash[..12]), "object": "chat.completion", "created": 0,
           "choices": [{"index": 0, "message": {"role": "assistant", "content": text}}]})
}

fn write(store: &Store, rec: &Recording) -> PathBuf {
    store
        .write(rec, &RecordingKey::first(rec.request_hash()))
        .unwrap()
}

fn good(store: &Store, test: &str, content: &str) -> (Recording, PathBuf) {
    let mut rec = chat(test, content, Value::Null);
    let reply = normalized_reply(&rec, "hello");
    rec.response =
        RecordedResponse::plain(200, Some("application/json"), reply.to_string().as_bytes());
    let p = write(store, &rec);
    (rec, p)
}

fn model_list(ids: &[&str]) -> Recording {
    let data: Vec<Value> = ids
        .iter()
        .map(|id| json!({"id": id, "object": "model"}))
        .collect();
    Recording {
        test_id: None,
        request: RecordedRequest {
            method: "GET".into(),
            endpoint: "/v1/models".into(),
            model: None,
            body: Value::Null,
        },
        response: RecordedResponse::plain(
            200,
            Some("application/json"),
            json!({"object": "list", "data": data})
                .to_string()
                .as_bytes(),
        ),
    }
}

#[test]
fn every_command_has_help_with_the_exit_codes() {
    for cmd in [
        &[][..],
        &["list"],
        &["show"],
        &["normalize"],
        &["check"],
        &["migrate"],
        &["prune"],
        &["reindex"],
        &["import"],
        &["import", "ogx"],
        &["serve"],
        &["options"],
        &["init"],
        &["review"],
        &["report"],
    ] {
        let mut args = cmd.to_vec();
        args.push("--help");
        let (code, out, _) = cli(&args);
        assert_eq!(code, EXIT_OK, "{args:?}");
        assert!(
            out.contains("Usage:") && out.contains("Exit codes:"),
            "{args:?}: {out}"
        );
    }
}

#[test]
fn usage_and_io_errors_exit_2() {
    assert_eq!(cli(&["bogus"]).0, EXIT_ERROR);
    assert_eq!(cli(&[]).0, EXIT_ERROR);
    assert_eq!(
        cli(&["check", "--dir", "/nonexistent/recordings"]).0,
        EXIT_ERROR
    );
    assert_eq!(
        cli(&["serve", "--mode", "recrod", "--dir", "/tmp"]).0,
        EXIT_ERROR
    );
    let (code, _, err) = cli(&["serve", "--mode", "record", "--dir", "/tmp"]);
    assert_eq!(code, EXIT_ERROR);
    assert!(err.contains("--upstream"), "{err}");
    // The built binary exits with the same codes.
    let status = Command::new(env!("CARGO_BIN_EXE_cargo-recordings"))
        .arg("bogus")
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(EXIT_ERROR));
}

#[test]
fn the_committed_recordings_pass_check() {
    let dir = workspace().join("recordings");
    let (code, out, err) = cli(&["check", "--dir", s(&dir)]);
    assert_eq!(
        code, EXIT_OK,
        "check found problems in the committed recordings:\n{out}{err}"
    );
    assert!(out.starts_with("OK: "), "{out}");
}

#[test]
fn check_lists_every_kind_of_problem() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::new(tmp.path());
    good(&store, "t::fine", "a");
    store
        .write(
            &model_list(&["a", "b"]),
            &RecordingKey::first(model_list(&[]).request_hash()),
        )
        .unwrap();
    store
        .write(
            &model_list(&["c"]),
            &RecordingKey::first(model_list(&[]).request_hash()),
        )
        .unwrap();
    assert_eq!(
        cli(&["check", "--dir", s(tmp.path())]).0,
        EXIT_OK,
        "model lists share a hash legitimately"
    );

    // Not normalized.
    let raw = chat(
        "t::raw",
        "b",
        json!({"id": "chatcmpl-9", "created": 1712345678, "object": "chat.completion"}),
    );
    let raw_path = write(&store, &raw);
    // Secrets in the response.
    let mut secret = chat("t::secret", "c", Value::Null);
    let mut body = normalized_reply(&secret, "use sk-abcdefghijklmnopqrstuvwx please");
    body["headers"] = json!({"Authorization": "Bearer abcdefghijklmnop"});
    secret.response =
        RecordedResponse::plain(200, Some("application/json"), body.to_string().as_bytes());
    let secret_path = write(&store, &secret);
    // A key spelled across a stream's frames, in none of them whole.
    let mut split = chat("t::split", "f", Value::Null);
    split.response = RecordedResponse::streamed(
        200,
        StreamFormat::Sse,
        ["use sk-abcdefgh", "ijklmnopqrstuvwx", " please"]
            .iter()
            .map(|t| Frame {
                data: Some(json!({"choices": [{"delta": {"content": t}}]})),
                ..Default::default()
            })
            .collect(),
    );
    let split_path = write(&store, &split);
    // Named after another hash.
    let (_, p) = good(&store, "t::renamed", "d");
    let renamed = p.with_file_name(format!("{}.json", "0".repeat(64)));
    std::fs::rename(&p, &renamed).unwrap();
    // The same request hash in two folders.
    let (_, p) = good(&store, "t::dup", "e");
    let copy = tmp.path().join("elsewhere").join(p.file_name().unwrap());
    std::fs::create_dir_all(copy.parent().unwrap()).unwrap();
    std::fs::copy(&p, &copy).unwrap();
    // Corrupt.
    let corrupt = tmp
        .path()
        .join("t/broken")
        .join(format!("{}.json", "a".repeat(64)));
    std::fs::create_dir_all(corrupt.parent().unwrap()).unwrap();
    std::fs::write(&corrupt, b"{\"test_id\": ").unwrap();

    let (code, out, _) = cli(&["check", "--dir", s(tmp.path())]);
    assert_eq!(code, EXIT_PROBLEMS, "{out}");
    let line = |path: &Path, what: &str| {
        let rel = path.strip_prefix(tmp.path()).unwrap().display().to_string();
        assert!(
            out.lines().any(|l| l.starts_with(&rel) && l.contains(what)),
            "no `{what}` for {rel} in:\n{out}"
        );
    };
    line(&raw_path, "is not normalized");
    line(&secret_path, "an `sk-` API key");
    line(&secret_path, "the header key `Authorization`");
    line(&secret_path, "a bearer token");
    line(
        &split_path,
        "an `sk-` API key, spelled across frames at /response/stream (joined at /choices/0/delta/content)",
    );
    line(&renamed, "is named 0000");
    line(&p, "is occurrence 1 of request hash");
    line(&copy, "is occurrence 1 of request hash");
    line(&copy, "is not where replay looks for it");
    line(&corrupt, "the file is truncated");
    assert!(out.trim_end().ends_with("files"), "{out}");
}

#[test]
fn normalize_rewrites_responses_only_and_dry_run_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::new(tmp.path());
    good(&store, "t::fine", "a");
    let raw = chat(
        "t::raw",
        "b",
        json!({"id": "chatcmpl-9", "created": 17, "object": "chat.completion"}),
    );
    let raw_path = write(&store, &raw);
    let mut streamed = chat("t::stream", "c", Value::Null);
    streamed.response = RecordedResponse::streamed(
        200,
        StreamFormat::Sse,
        vec![
            Frame {
                data: Some(
                    json!({"id": "chatcmpl-1", "created": 5, "object": "chat.completion.chunk"}),
                ),
                ..Default::default()
            },
            Frame {
                data: Some(json!("[DONE]")),
                ..Default::default()
            },
        ],
    );
    let stream_path = write(&store, &streamed);
    let lists = store
        .write(
            &model_list(&["a"]),
            &RecordingKey::first(model_list(&[]).request_hash()),
        )
        .unwrap();
    let before: Vec<Vec<u8>> = [&raw_path, &stream_path, &lists]
        .iter()
        .map(|p| std::fs::read(p).unwrap())
        .collect();

    let (code, out, _) = cli(&["normalize", "--dry-run", "--dir", s(tmp.path())]);
    assert_eq!(code, EXIT_OK);
    assert!(
        out.contains("Would normalize: t/raw/") && out.contains("Would normalize: t/stream/"),
        "{out}"
    );
    assert!(out.contains("2/4 files would be modified"), "{out}");
    let after: Vec<Vec<u8>> = [&raw_path, &stream_path, &lists]
        .iter()
        .map(|p| std::fs::read(p).unwrap())
        .collect();
    assert_eq!(before, after, "a dry run writes nothing");
    assert_eq!(cli(&["check", "--dir", s(tmp.path())]).0, EXIT_PROBLEMS);

    let (code, out, _) = cli(&["normalize", "--dir", s(tmp.path())]);
    assert_eq!(code, EXIT_OK);
    assert!(
        out.contains("Normalized: t/raw/") && out.contains("2/4 files modified"),
        "{out}"
    );
    let fixed = Recording::read(&raw_path).unwrap();
    assert_eq!(fixed.request, raw.request, "the request never changes");
    assert_eq!(
        fixed.response.body.as_ref().unwrap()["id"],
        format!("rec-{}", &raw.request_hash()[..12])
    );
    assert_eq!(fixed.response.body.as_ref().unwrap()["created"], 0);
    let s2 = Recording::read(&stream_path).unwrap();
    assert_eq!(
        s2.response.stream.unwrap().frames[0].data.as_ref().unwrap()["created"],
        0
    );
    assert_eq!(
        std::fs::read(&lists).unwrap(),
        before[2],
        "model lists keep their ids"
    );
    assert_eq!(cli(&["check", "--dir", s(tmp.path())]).0, EXIT_OK);
    assert!(cli(&["normalize", "--dir", s(tmp.path())])
        .1
        .contains("0/4 files modified"));
}

#[test]
fn list_show_and_reindex_read_the_index() {
    let tmp = tempfile::tempdir().unwrap();
    let (code, _, _) = cli(&["import", "ogx", s(&ogx_subset()), "--dir", s(tmp.path())]);
    assert_ne!(code, EXIT_ERROR);
    let (code, out, _) = cli(&["reindex", "--dir", s(tmp.path())]);
    assert_eq!(code, EXIT_OK);
    assert!(out.starts_with("Indexed "), "{out}");

    let (code, out, _) = cli(&["list", "--dir", s(tmp.path())]);
    assert_eq!(code, EXIT_OK);
    assert!(
        out.contains("(shared model lists)") && out.contains("/v1/chat/completions"),
        "{out}"
    );
    let (_, only_chat, _) = cli(&["list", "--endpoint", "/v1/chat", "--dir", s(tmp.path())]);
    assert!(
        !only_chat.contains("/v1/models") && only_chat.contains("/v1/chat/completions"),
        "{only_chat}"
    );
    let (_, none, _) = cli(&["list", "--model", "no-such-model", "--dir", s(tmp.path())]);
    assert!(none.trim_end().ends_with("0 recording(s)"), "{none}");

    // A recording added after the index was built shows up (the index was stale).
    let store = Store::new(tmp.path());
    let (rec, path) = good(&store, "cli::added", "hi");
    let (_, out, _) = cli(&["list", "--test", "cli::added", "--dir", s(tmp.path())]);
    assert!(
        out.contains("cli::added") && out.contains("1 recording(s)"),
        "{out}"
    );

    let hash = rec.request_hash();
    let (code, out, _) = cli(&["show", &hash[..10], "--dir", s(tmp.path())]);
    assert_eq!(code, EXIT_OK);
    assert!(
        out.contains(&format!("hash:     {hash}"))
            && out.contains("request:  POST /v1/chat/completions")
            && out.contains("response: 200"),
        "{out}"
    );
    let (code, by_file, _) = cli(&["show", s(&path)]);
    assert_eq!(code, EXIT_OK);
    assert_eq!(by_file, out);
    let (code, _, err) = cli(&["show", "ffffffffffffff", "--dir", s(tmp.path())]);
    assert_eq!(code, EXIT_ERROR);
    assert!(err.contains("no recording"), "{err}");
}

#[test]
fn prune_removes_what_the_latest_run_did_not_use() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::new(tmp.path());
    let (used, used_path) = good(&store, "t::a", "used");
    let (_, unused_path) = good(&store, "t::a", "unused");
    let (_, other_path) = good(&store, "t::not_run", "x");
    let list = model_list(&["m"]);
    let list_path = store
        .write(&list, &RecordingKey::first(list.request_hash()))
        .unwrap();

    let (code, out, _) = cli(&["prune", "--dir", s(tmp.path())]);
    assert_eq!(code, EXIT_OK);
    assert!(out.contains("No recorded test runs"), "{out}");

    let index = Index::open(tmp.path()).unwrap().with_run_id("run-1");
    index.ensure_fresh(&store).unwrap();
    index.begin_test("t::a").unwrap();
    index
        .mark_used("t::a", &[used.request_hash(), list.request_hash()])
        .unwrap();
    drop(index);

    let (code, out, _) = cli(&["prune", "--dry-run", "--dir", s(tmp.path())]);
    assert_eq!(code, EXIT_OK);
    let rel = unused_path
        .strip_prefix(tmp.path())
        .unwrap()
        .display()
        .to_string();
    assert!(
        out.contains(&format!("Would remove: {rel}"))
            && out.contains("1/4 recordings would be removed"),
        "{out}"
    );
    assert!(unused_path.exists(), "a dry run removes nothing");

    let (code, out, _) = cli(&["prune", "--dir", s(tmp.path())]);
    assert_eq!(code, EXIT_OK);
    assert!(out.contains(&format!("Removed: {rel}")), "{out}");
    assert!(!unused_path.exists());
    for kept in [&used_path, &other_path, &list_path] {
        assert!(kept.exists(), "{} was removed", kept.display());
    }
    assert_eq!(cli(&["check", "--dir", s(tmp.path())]).0, EXIT_OK);
}

#[test]
fn leftover_temp_files_are_noted_by_check_and_removed_by_prune_once_stale() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::new(tmp.path());
    let (_, path) = good(&store, "t::a", "kept");
    let dir = path.parent().unwrap();
    let name = path.file_name().unwrap().to_str().unwrap();
    // What a process killed between writing and renaming leaves, and one that a
    // write in progress right now would have.
    let stale = dir.join(format!(".{name}.4242.0.tmp"));
    let fresh = dir.join(format!(".{name}.4242.1.tmp"));
    std::fs::write(&stale, b"{\"partial").unwrap();
    std::fs::write(&fresh, b"{\"partial").unwrap();
    std::fs::File::options()
        .write(true)
        .open(&stale)
        .unwrap()
        .set_modified(std::time::SystemTime::now() - Duration::from_secs(3600))
        .unwrap();

    let (code, out, _) = cli(&["check", "--dir", s(tmp.path())]);
    assert_eq!(code, EXIT_OK, "leftovers are not problems: {out}");
    assert_eq!(
        out.matches("temporary file left by an interrupted write")
            .count(),
        2,
        "{out}"
    );

    let (code, out, _) = cli(&["prune", "--dry-run", "--dir", s(tmp.path())]);
    assert_eq!(code, EXIT_OK);
    assert!(
        out.contains("Would remove: ") && out.contains(".4242.0.tmp"),
        "{out}"
    );
    assert!(
        !out.contains(".4242.1.tmp"),
        "a fresh one may be a write in progress: {out}"
    );
    assert!(stale.exists());

    let (code, out, _) = cli(&["prune", "--dir", s(tmp.path())]);
    assert_eq!(code, EXIT_OK);
    assert!(
        out.contains("Removed: ") && out.contains(".4242.0.tmp"),
        "{out}"
    );
    assert!(!stale.exists() && fresh.exists() && path.exists());
}

#[test]
fn import_ogx_reports_imports_and_skips() {
    let tmp = tempfile::tempdir().unwrap();
    let (code, out, err) = cli(&["import", "ogx", s(&ogx_subset()), "--dir", s(tmp.path())]);
    assert!(
        out.starts_with("Imported ") && out.contains("model lists"),
        "{out}"
    );
    let skipped: Vec<&str> = err.lines().filter(|l| l.starts_with("skipped ")).collect();
    assert_eq!(
        code,
        if skipped.is_empty() {
            EXIT_OK
        } else {
            EXIT_PROBLEMS
        },
        "{err}"
    );
    for l in &skipped {
        assert!(
            l.split_once(".json: ")
                .is_some_and(|(_, why)| !why.is_empty()),
            "no reason: {l}"
        );
    }
    assert_eq!(
        cli(&["check", "--dir", s(tmp.path())]).0,
        EXIT_OK,
        "imported recordings pass check"
    );
    let (code, _, err) = cli(&["import", "ogx", "/nonexistent/ogx", "--dir", s(tmp.path())]);
    assert_eq!(code, EXIT_ERROR, "{err}");
}

/// Sends every stored recording's request to the server and compares the answers;
/// returns how many were checked.
async fn replay_everything(dir: &Path, url: &str) -> usize {
    let store = Store::new(dir);
    let http = reqwest::Client::new();
    // The occurrences of one request replay in order: one group per request, its
    // files in occurrence order, the groups side by side.
    let mut groups: std::collections::BTreeMap<(PathBuf, String), Vec<(u32, PathBuf)>> =
        Default::default();
    for path in store.files().unwrap() {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let (hash, n) =
            RecordingKey::parse(&name).map_or((name, 1), |k| (k.hash().to_owned(), k.occurrence()));
        groups
            .entry((path.parent().unwrap().to_path_buf(), hash))
            .or_default()
            .push((n, path));
    }
    let files: Vec<Vec<PathBuf>> = groups
        .into_values()
        .map(|mut g| {
            g.sort();
            g.into_iter().map(|(_, p)| p).collect()
        })
        .collect();
    let checks = futures::stream::iter(files.into_iter().map(|group| {
        let http = http.clone();
        let store = store.clone();
        async move {
            let mut n = 0;
            for path in group {
                replay_one(&http, &store, url, &path).await;
                n += 1;
            }
            n
        }
    }));
    let mut n = 0;
    let mut results = checks.buffer_unordered(16);
    while let Some(k) = results.next().await {
        n += k;
    }
    n
}

/// Sends one stored recording's request and compares the answer with it.
async fn replay_one(http: &reqwest::Client, store: &Store, url: &str, path: &Path) {
    {
        {
            let rec = Recording::read(path).unwrap();
            let r = &rec.request;
            let method = reqwest::Method::from_bytes(r.method.as_bytes()).unwrap();
            let mut req = http.request(method, format!("{url}{}", r.endpoint));
            if let Some(t) = &rec.test_id {
                req = req.header("X-Recorder-Test-Id", t);
            }
            if !r.body.is_null() {
                req = req
                    .header("content-type", "application/json")
                    .body(serde_json::to_vec(&r.body).unwrap());
            }
            let resp = req.send().await.unwrap();
            let status = resp.status().as_u16();
            let body = resp.bytes().await.unwrap();
            let what = path.display();
            if rec.test_id.is_none() {
                // A model list: the union of every list recorded at its path, whatever
                // the query.
                let mut expected = BTreeSet::new();
                for (_, l) in store.model_lists_at(&r.endpoint).unwrap() {
                    for item in store::model_items(&l.response) {
                        expected.insert(item.get("id").or(item.get("name")).unwrap().to_string());
                    }
                }
                let v: Value = serde_json::from_slice(&body).unwrap();
                let got: BTreeSet<String> = v["data"]
                    .as_array()
                    .or(v["models"].as_array())
                    .unwrap()
                    .iter()
                    .map(|m| m.get("id").or(m.get("name")).unwrap().to_string())
                    .collect();
                assert_eq!(status, 200, "{what}");
                assert_eq!(got, expected, "{what}");
                return;
            }
            let expected = &rec.response;
            assert_eq!(
                status,
                expected.status,
                "{what}: {}",
                String::from_utf8_lossy(&body)
            );
            match &expected.stream {
                Some(st) => {
                    let want: Vec<u8> = st
                        .frames
                        .iter()
                        .flat_map(|f| frames::frame_bytes(st.format, f).to_vec())
                        .collect();
                    assert_eq!(
                        String::from_utf8_lossy(&body),
                        String::from_utf8_lossy(&want),
                        "{what}"
                    );
                    if st.format == StreamFormat::Sse {
                        let text = String::from_utf8_lossy(&body);
                        let n = text.split("\n\n").filter(|e| !e.is_empty()).count();
                        assert_eq!(n, st.frames.len(), "{what}: chunk for chunk");
                        // OpenAI's chat and completion streams end with `[DONE]`.
                        let openai = ["/v1/chat/completions", "/v1/completions"]
                            .contains(&r.endpoint.as_str());
                        assert!(!openai || text.ends_with("data: [DONE]\n\n"), "{what}");
                    }
                }
                None => assert_eq!(body.to_vec(), expected.body_bytes(), "{what}"),
            }
        }
    }
}

async fn import_and_serve(corpus: &Path) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("recordings");
    let (code, out, err) = cli(&["import", "ogx", s(corpus), "--dir", s(&dir)]);
    assert_eq!(code, EXIT_OK, "every file is taken: {out}{err}");
    let server = Serve::replaying(&dir);
    let started = Instant::now();
    let n = replay_everything(&dir, &server.url).await;
    assert!(n > 0);
    eprintln!(
        "{}: {n} requests replayed in {:?}",
        corpus.display(),
        started.elapsed()
    );
    // An unknown request is a miss (404) naming the test.
    let miss = reqwest::Client::new()
        .post(format!("{}/v1/chat/completions", server.url))
        .header("X-Recorder-Test-Id", "cli::nothing_here")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(miss.status(), 404);
    assert!(miss.text().await.unwrap().contains("cli::nothing_here"));
    // The miss was a problem of this serve: reported, and the exit status says so.
    assert_eq!(
        server.signal("-INT").0,
        Some(EXIT_PROBLEMS),
        "Ctrl-C after a miss"
    );
    let leftovers: Vec<PathBuf> = walk(&dir)
        .into_iter()
        .filter(|p| p.file_name().unwrap().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn serve_replays_an_imported_ogx_corpus() {
    recorder_runtime::engine::install_crypto_provider();
    import_and_serve(&ogx_subset()).await;
    import_and_serve(Path::new(recorder_testkit::OGX_FORMATS)).await;
    if let Some(full) = full_corpus() {
        import_and_serve(&full).await;
        import_and_serve(&full.with_file_name("ogx-formats")).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn serve_records_upstream_and_ctrl_c_finishes_recordings() {
    recorder_runtime::engine::install_crypto_provider();
    let fake = recorder_testkit::fake::FakeUpstream::start();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("recordings");
    let key = "cli-test-key-0123456789";
    let server = Serve::start(
        &[
            "serve",
            "--dir",
            s(&dir),
            "--mode",
            "record",
            "--upstream",
            &fake.openai_url(),
            "--api-key-env",
            "CLI_TEST_KEY",
        ],
        &[("CLI_TEST_KEY", key)],
    );
    let http = reqwest::Client::new();
    let chat = json!({"model": "m", "messages": [{"role": "user", "content": "one two three"}]});
    let plain = http
        .post(format!("{}/v1/chat/completions", server.url))
        .header("X-Recorder-Test-Id", "cli::rec")
        .json(&chat)
        .send()
        .await
        .unwrap();
    assert_eq!(plain.status(), 200);
    let plain_body = plain.bytes().await.unwrap();
    let ollama = json!({"model": "m", "messages": [{"role": "user", "content": "hi there"}]});
    let nd = http
        .post(format!("{}/api/chat", server.url))
        .header("X-Recorder-Test-Id", "cli::rec")
        .json(&ollama)
        .send()
        .await
        .unwrap();
    assert_eq!(nd.status(), 200);
    nd.bytes().await.unwrap();
    let models = http
        .get(format!("{}/v1/models", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(models.status(), 200);
    let seen = fake.requests();
    assert!(
        seen.iter()
            .all(|r| r.header("authorization") == Some(&format!("Bearer {key}"))),
        "the key goes upstream"
    );
    assert!(
        seen.iter().any(|r| r.path == "/api/chat"),
        "/api/... is forwarded on the upstream's root"
    );

    // A slow stream that the client abandons; Ctrl-C waits for its recording.
    fake.set_chunk_delay(Duration::from_millis(150));
    let mut streamed = chat.clone();
    streamed["stream"] = json!(true);
    streamed["messages"][0]["content"] = json!("a b c d e f");
    let resp = http
        .post(format!("{}/v1/chat/completions", server.url))
        .header("X-Recorder-Test-Id", "cli::rec")
        .json(&streamed)
        .send()
        .await
        .unwrap();
    let mut chunks = resp.bytes_stream();
    chunks.next().await.unwrap().unwrap();
    drop(chunks);
    assert_eq!(server.signal("-INT").0, Some(EXIT_OK));
    assert!(walk(&dir)
        .iter()
        .all(|p| !p.to_string_lossy().ends_with(".tmp")));
    let (code, out, _) = cli(&["check", "--dir", s(&dir)]);
    assert_eq!(code, EXIT_OK, "{out}");
    let all = walk(&dir);
    assert!(
        all.iter().all(|p| !std::fs::read_to_string(p)
            .map(|t| t.contains(key))
            .unwrap_or(false)),
        "the key is never stored"
    );
    let (_, listed, _) = cli(&["list", "--test", "cli::rec", "--dir", s(&dir)]);
    assert!(
        listed.contains("3 recording(s)") && listed.contains("stream"),
        "{listed}"
    );
    fake.stop();

    // Replay without the upstream: the same answers.
    let server = Serve::replaying(&dir);
    let again = http
        .post(format!("{}/v1/chat/completions", server.url))
        .header("X-Recorder-Test-Id", "cli::rec")
        .json(&chat)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 200);
    let v: Value = serde_json::from_slice(&again.bytes().await.unwrap()).unwrap();
    let orig: Value = serde_json::from_slice(&plain_body).unwrap();
    assert_eq!(v["choices"], orig["choices"]);
    let text = http
        .post(format!("{}/v1/chat/completions", server.url))
        .header("X-Recorder-Test-Id", "cli::rec")
        .json(&streamed)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.ends_with("data: [DONE]\n\n"),
        "the whole stream was recorded: {text}"
    );
    assert_eq!(replay_everything(&dir, &server.url).await, 4);
}

fn run_bin(args: &[&str]) -> (i32, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_cargo-recordings"))
        .args(args)
        .env_remove("RECORDING_DIR")
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn the_binary_reindexes_and_names_broken_files() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path());
    write(&store, &chat("m::t", "1", json!({"choices": []})));
    write(&store, &chat("m::t", "2", json!({"choices": []})));
    let list = model_list(&["a"]);
    store
        .write(&list, &RecordingKey::first(list.request_hash()))
        .unwrap();
    let d = dir.path().to_str().unwrap();

    let (code, out, err) = run_bin(&["reindex", "--dir", d]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(out.trim(), format!("Indexed 3 recordings from {d}"));
    let rows = Index::open(dir.path())
        .unwrap()
        .entries(&Default::default())
        .unwrap();
    assert_eq!(rows.len(), 3);

    let broken = store.recording_path("m::t", &RecordingKey::first("e".repeat(64)));
    std::fs::write(&broken, "{").unwrap();
    let (code, out, err) = run_bin(&["reindex", "--dir", d]);
    assert_eq!(code, 1, "{out}{err}");
    assert_eq!(out.trim(), format!("Indexed 3 recordings from {d}"));
    assert!(
        err.contains(&broken.display().to_string()) && err.contains("truncated"),
        "{err}"
    );

    let missing = dir.path().join("nope");
    let (code, _, err) = run_bin(&["reindex", "--dir", missing.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("no recordings folder"), "{err}");

    let (code, _, err) = run_bin(&["reindex", "--bogus"]);
    assert_eq!(code, 2, "{err}");
    // As cargo runs it: `cargo recordings --help` is `cargo-recordings recordings --help`.
    let (code, out, _) = run_bin(&["recordings", "--help"]);
    assert_eq!(code, 0);
    assert!(out.contains("reindex"));
}

/// A Responses chain, an upload, a polled vector store file and an Anthropic message
/// through `serve`, as one test (its id in the header).
async fn agent_session(url: &str) -> Vec<(u16, Value)> {
    let http = reqwest::Client::new();
    let test = "cli::agent";
    let mut out = Vec::new();
    let post = |path: &str, body: Value| {
        http.post(format!("{url}{path}"))
            .header("X-Recorder-Test-Id", test)
            .json(&body)
            .send()
    };
    let first = post(
        "/v1/responses",
        json!({"model": "fake-chat", "input": "one"}),
    )
    .await
    .unwrap();
    let first: Value = first.json().await.unwrap();
    out.push((200, first["output"][0]["content"][0]["text"].clone()));
    let second = post(
        "/v1/responses",
        json!({"model": "fake-chat", "input": "two", "previous_response_id": first["id"]}),
    )
    .await
    .unwrap();
    let status = second.status().as_u16();
    let second: Value = second.json().await.unwrap();
    out.push((status, second["output"][0]["content"][0]["text"].clone()));
    let form = reqwest::multipart::Form::new()
        .text("purpose", "assistants")
        .part(
            "file",
            reqwest::multipart::Part::bytes(b"Paris is in France.".to_vec()).file_name("p.txt"),
        );
    let file: Value = http
        .post(format!("{url}/v1/files"))
        .header("X-Recorder-Test-Id", test)
        .multipart(form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let store: Value = post("/v1/vector_stores", json!({"name": "n"}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let vs = store["id"].as_str().unwrap().to_owned();
    post(
        &format!("/v1/vector_stores/{vs}/files"),
        json!({"file_id": file["id"]}),
    )
    .await
    .unwrap();
    for _ in 0..3 {
        let r = http
            .get(format!(
                "{url}/v1/vector_stores/{vs}/files/{}",
                file["id"].as_str().unwrap()
            ))
            .header("X-Recorder-Test-Id", test)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let v: Value = r.json().await.unwrap();
        out.push((status, v["status"].clone()));
    }
    let m = post(
        "/v1/messages",
        json!({"model": "fake-claude", "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await
    .unwrap();
    let status = m.status().as_u16();
    let m: Value = m.json().await.unwrap();
    out.push((status, m["content"][0]["text"].clone()));
    out
}

#[tokio::test]
async fn serve_records_and_replays_agent_traffic_with_native_auth() {
    recorder_runtime::engine::install_crypto_provider();
    let fake = recorder_testkit::fake::FakeUpstream::start();
    let key = "sk-ant-serve-0123456789abcdef";
    fake.require_key(Some((
        recorder_testkit::fake::KeyIn::Header("x-api-key".into()),
        key,
    )));
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("recordings");
    let server = Serve::start(
        &[
            "serve",
            "--dir",
            s(&dir),
            "--mode",
            "record",
            "--upstream",
            &fake.openai_url(),
            "--api-key-env",
            "CLI_AGENT_KEY",
            "--auth",
            "header:x-api-key",
            "--header",
            "anthropic-version=2023-06-01",
        ],
        &[("CLI_AGENT_KEY", key)],
    );
    let recorded = agent_session(&server.url).await;
    assert_eq!(server.signal("-INT").0, Some(EXIT_OK));
    assert!(
        recorded.iter().all(|(status, _)| *status == 200),
        "{recorded:?}"
    );
    assert_eq!(
        recorded[2..5]
            .iter()
            .map(|(_, s)| s.as_str().unwrap())
            .collect::<Vec<_>>(),
        ["in_progress", "in_progress", "completed"]
    );
    assert!(fake
        .requests()
        .iter()
        .all(|r| r.header("x-api-key") == Some(key) && r.header("authorization").is_none()));
    assert!(fake
        .requests()
        .iter()
        .any(|r| r.header("anthropic-version") == Some("2023-06-01")));
    let (code, out, _) = cli(&["check", "--dir", s(&dir)]);
    assert_eq!(code, EXIT_OK, "{out}");
    for path in walk(&dir) {
        let bytes = std::fs::read(&path).unwrap();
        assert!(
            !bytes.windows(key.len()).any(|w| w == key.as_bytes()),
            "{}",
            path.display()
        );
    }
    fake.stop();
    let server = Serve::replaying(&dir);
    assert_eq!(agent_session(&server.url).await, recorded);
    assert_eq!(server.signal("-INT").0, Some(EXIT_OK));
}

fn responses_rec(test: &str, body: Value, response: Value) -> Recording {
    Recording {
        test_id: Some(test.into()),
        request: RecordedRequest {
            method: "POST".into(),
            endpoint: "/v1/responses".into(),
            model: Some("m".into()),
            body,
        },
        response: RecordedResponse::plain(
            200,
            Some("application/json"),
            response.to_string().as_bytes(),
        ),
    }
}

#[test]
fn normalize_gives_raw_ids_placeholders_and_the_chain_follows() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::new(tmp.path());
    let test = "cli::chain";
    // As an older recorder (or a hand edit) left them: the server's own ids.
    let first = responses_rec(
        test,
        json!({"model": "m", "input": "one"}),
        json!({"id": "resp_raw0000001", "created_at": 1_700_000_000, "output": [{"id": "msg_raw0000002", "type": "message"}]}),
    );
    let second = responses_rec(
        test,
        json!({"model": "m", "input": "two", "previous_response_id": "resp_raw0000001"}),
        json!({"id": "resp_raw0000003", "previous_response_id": "resp_raw0000001"}),
    );
    let p1 = write(&store, &first);
    let p2 = write(&store, &second);
    let (code, out, _) = cli(&["check", "--dir", s(tmp.path())]);
    assert_eq!(code, EXIT_PROBLEMS);
    assert!(out.contains("is not normalized"), "{out}");

    let (code, out, _) = cli(&["normalize", "--dry-run", "--dir", s(tmp.path())]);
    assert_eq!(code, EXIT_OK, "{out}");
    assert!(
        out.contains("Would normalize") && out.contains("Would update"),
        "{out}"
    );
    assert!(p1.exists() && p2.exists(), "a dry run writes nothing");

    let (code, out, _) = cli(&["normalize", "--dir", s(tmp.path())]);
    assert_eq!(code, EXIT_OK, "{out}");
    assert!(
        !p2.exists(),
        "the second request changed, so its file was renamed"
    );
    let (code, out, _) = cli(&["check", "--dir", s(tmp.path())]);
    assert_eq!(code, EXIT_OK, "{out}");
    let folder = store.scope_dir(test);
    let ids: Value =
        serde_json::from_slice(&std::fs::read(folder.join("_ids.json")).unwrap()).unwrap();
    let (placeholder, at) = ids["ids"].as_object().unwrap().iter().next().unwrap();
    assert!(placeholder.starts_with("resp_rec-"), "{placeholder}");
    assert_eq!(at["recording"], p1.file_name().unwrap().to_str().unwrap());
    let files = walk(&folder);
    let text: String = files
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();
    assert!(!text.contains("resp_raw0000001"), "{text}");
    // Normalizing again changes nothing.
    let (_, out, _) = cli(&["normalize", "--dir", s(tmp.path())]);
    assert!(
        out.trim_end().ends_with(&format!("0/{} files modified", 2)),
        "{out}"
    );
}

#[test]
fn list_and_show_tell_the_occurrences_of_a_request() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::new(tmp.path());
    let poll = |status: &str| {
        let mut r = chat("cli::poll", "status?", json!({"status": status}));
        r.request.method = "GET".into();
        r.request.endpoint =
            "/v1/vector_stores/vs_rec-000000000000/files/file-rec-000000000000".into();
        r.request.body = Value::Null;
        r
    };
    let hash = poll("x").request_hash();
    store
        .write(&poll("in_progress"), &RecordingKey::first(hash.as_str()))
        .unwrap();
    store
        .write(&poll("completed"), &RecordingKey::new(hash.as_str(), 2))
        .unwrap();
    let (code, out, _) = cli(&["list", "--test", "cli::poll", "--dir", s(tmp.path())]);
    assert_eq!(code, EXIT_OK);
    assert!(
        out.contains(&format!("{} #1", &hash[..12]))
            && out.contains(&format!("{} #2", &hash[..12])),
        "{out}"
    );
    let (code, out, _) = cli(&["show", &hash[..12], "--dir", s(tmp.path())]);
    assert_eq!(code, EXIT_OK);
    assert!(
        out.contains("occurrence: 1 of 2") && out.contains("occurrence: 2 of 2"),
        "{out}"
    );
    assert!(
        out.find("in_progress").unwrap() < out.find("completed").unwrap(),
        "in order: {out}"
    );
}

#[test]
fn check_finds_keys_in_binary_bodies_and_credential_queries() {
    let tmp = tempfile::tempdir().unwrap();
    let var = format!("CLI_CHECK_KEY_{}", std::process::id());
    let key = "sk-check-binary-0123456789abcdef";
    std::fs::write(
        tmp.path().join("recorder.toml"),
        format!("[setups.x]\napi_key_env = \"{var}\"\n"),
    )
    .unwrap();
    std::env::set_var(&var, key);
    let dir = tmp.path().join("recordings");
    let store = Store::new(&dir);
    let mut binary = chat("cli::binary", "b", Value::Null);
    let mut bytes = vec![0u8, 255, 1];
    bytes.extend_from_slice(key.as_bytes());
    binary.response = RecordedResponse::plain(200, Some("application/octet-stream"), &bytes);
    assert!(binary.response.body_hex.is_some());
    let binary_path = write(&store, &binary);
    let mut query = chat("cli::query", "q", json!({"ok": true}));
    query.request.endpoint = "/v1beta/models?key=AIzaSyDummyQueryValue".into();
    let query_path = write(&store, &query);
    let (code, out, _) = cli(&["check", "--dir", s(&dir)]);
    std::env::remove_var(&var);
    assert_eq!(code, EXIT_PROBLEMS, "{out}");
    let line = |p: &Path, what: &str| {
        let rel = p.strip_prefix(&dir).unwrap().display().to_string();
        assert!(
            out.lines().any(|l| l.starts_with(&rel) && l.contains(what)),
            "no `{what}` for {rel}:\n{out}"
        );
    };
    line(
        &binary_path,
        &format!("the value of ${var} at /response/body_hex"),
    );
    line(&query_path, "the credential query parameter `key`");
}

/// A key inside a multipart file part (stored as base64), percent-encoded in a URL, or
/// base64-encoded in an answer is found as `check` decodes each value, configured or
/// not (`sk-…`); and nothing else in those recordings is taken for one.
#[test]
fn check_finds_keys_that_are_base64_or_percent_encoded() {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let tmp = tempfile::tempdir().unwrap();
    let var = format!("CLI_CHECK_ENCODED_KEY_{}", std::process::id());
    let key = "sk-check/enc+0123456789abcdef";
    std::fs::write(
        tmp.path().join("recorder.toml"),
        format!("[setups.x]\napi_key_env = \"{var}\"\nenv = {{ {var} = \"{key}\" }}\n"),
    )
    .unwrap();
    let dir = tmp.path().join("recordings");
    let store = Store::new(&dir);
    let mut content = vec![0u8, 159, 146];
    content.extend_from_slice(key.as_bytes());
    let mut upload = chat("cli::upload", "u", json!({"id": "file-1"}));
    upload.request.endpoint = "/v1/files".into();
    upload.request.body = json!({"multipart": [
        {"name": "purpose", "text": "assistants"},
        {"name": "file", "filename": "k.bin", "size": content.len(), "sha256": "00", "base64": b64.encode(&content)},
    ]});
    let upload_path = write(&store, &upload);
    let percent = chat(
        "cli::percent",
        "p",
        json!({"next": "https://example.com/cb?k=sk-check%2Fenc%2B0123456789abcdef&x=1"}),
    );
    let percent_path = write(&store, &percent);
    let unconfigured = chat(
        "cli::unconfigured",
        "n",
        json!({"b64_json": b64.encode("Authorization: sk-proj-abcdefghijklmnopqrstuvwx")}),
    );
    let unconfigured_path = write(&store, &unconfigured);
    let mut innocent_bytes = vec![7u8; 300];
    innocent_bytes.extend_from_slice(b"a picture, not a key: 100% sure");
    let innocent = chat(
        "cli::innocent",
        "i",
        json!({"b64_json": b64.encode(&innocent_bytes), "text": "50%25 off, 100% sure"}),
    );
    let innocent_path = write(&store, &innocent);
    let (code, out, _) = cli(&["check", "--dir", s(&dir)]);
    assert_eq!(code, EXIT_PROBLEMS, "{out}");
    let line = |p: &Path, what: &str| {
        let rel = p.strip_prefix(&dir).unwrap().display().to_string();
        assert!(
            out.lines().any(|l| l.starts_with(&rel) && l.contains(what)),
            "no `{what}` for {rel}:\n{out}"
        );
    };
    line(
        &upload_path,
        &format!("the value of ${var}, base64-encoded at /request/body/multipart/1/base64"),
    );
    line(
        &percent_path,
        &format!("the value of ${var}, percent-encoded at /response/body/next"),
    );
    line(
        &unconfigured_path,
        "an `sk-` API key, base64-encoded at /response/body/b64_json",
    );
    let rel = innocent_path
        .strip_prefix(&dir)
        .unwrap()
        .display()
        .to_string();
    assert!(
        !out.lines()
            .any(|l| l.starts_with(&rel) && l.contains("holds")),
        "{out}"
    );
    assert!(!out.contains(key), "the key itself is never printed: {out}");
}

/// A key the tests get from a setup's `env` (or `RECORDER_ENV`) is looked for like one
/// in the environment.
#[test]
fn check_finds_keys_given_through_a_setup_env() {
    let tmp = tempfile::tempdir().unwrap();
    let var = format!("CLI_CHECK_SETUP_KEY_{}", std::process::id());
    let key = "sk-check-setup-env-0123456789abcdef";
    std::fs::write(
        tmp.path().join("recorder.toml"),
        format!("[setups.x]\napi_key_env = \"{var}\"\nenv = {{ {var} = \"{key}\" }}\n"),
    )
    .unwrap();
    let dir = tmp.path().join("recordings");
    let store = Store::new(&dir);
    let leaked = write(
        &store,
        &chat(
            "cli::leaked",
            "l",
            json!({"echo": format!("your key is {key}")}),
        ),
    );
    let (code, out, _) = cli(&["check", "--dir", s(&dir)]);
    assert_eq!(code, EXIT_PROBLEMS, "{out}");
    let rel = leaked.strip_prefix(&dir).unwrap().display().to_string();
    assert!(
        out.lines()
            .any(|l| l.starts_with(&rel) && l.contains(&format!("the value of ${var}"))),
        "{out}"
    );
    assert!(!out.contains(key), "the key itself is never printed: {out}");
}

/// An upstream's key (`upstreams.NAME.api_key_env`) is looked for like the setup's.
#[test]
fn check_finds_an_upstreams_key() {
    let tmp = tempfile::tempdir().unwrap();
    let var = format!("CLI_CHECK_UPSTREAM_KEY_{}", std::process::id());
    let key = "tvly-check-upstream-0123456789abcdef";
    std::fs::write(
        tmp.path().join("recorder.toml"),
        format!(
            "[setups.x]\nenv = {{ {var} = \"{key}\" }}\nupstreams = {{ search = {{ url = \"https://s\", api_key_env = \"{var}\" }} }}\n"
        ),
    )
    .unwrap();
    let dir = tmp.path().join("recordings");
    let mut rec = chat(
        "cli::upstream_leak",
        "l",
        json!({"echo": format!("key {key}")}),
    );
    rec.request.endpoint = "/up/search/search".into();
    let leaked = write(&Store::new(&dir), &rec);
    let (code, out, _) = cli(&["check", "--dir", s(&dir)]);
    assert_eq!(code, EXIT_PROBLEMS, "{out}");
    let rel = leaked.strip_prefix(&dir).unwrap().display().to_string();
    assert!(
        out.lines()
            .any(|l| l.starts_with(&rel) && l.contains(&format!("the value of ${var}"))),
        "{out}"
    );
    assert!(!out.contains(key), "{out}");
}

/// Pruning the request that sent an id back leaves no id map naming it: `check`
/// passes right after.
#[test]
fn prune_keeps_the_id_map_in_line() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::new(tmp.path());
    let test = "cli::pruned_chain";
    let first = responses_rec(
        test,
        json!({"model": "m", "input": "one"}),
        json!({"id": "resp_raw0000001", "output": []}),
    );
    let second = responses_rec(
        test,
        json!({"model": "m", "input": "two", "previous_response_id": "resp_raw0000001"}),
        json!({"id": "resp_raw0000003"}),
    );
    let p1 = write(&store, &first);
    write(&store, &second);
    assert_eq!(cli(&["normalize", "--dir", s(tmp.path())]).0, EXIT_OK);
    let ids = store.scope_dir(test).join("_ids.json");
    assert!(ids.exists(), "the second request sends the first's id back");

    let index = Index::open(tmp.path()).unwrap().with_run_id("run-1");
    index.ensure_fresh(&store).unwrap();
    index.begin_test(test).unwrap();
    let kept = Recording::read(&p1).unwrap();
    index.mark_used(test, &[kept.request_hash()]).unwrap();
    drop(index);

    let (code, out, _) = cli(&["prune", "--dir", s(tmp.path())]);
    assert_eq!(code, EXIT_OK, "{out}");
    assert!(out.contains("1/2 recordings removed"), "{out}");
    assert!(p1.exists());
    assert!(!ids.exists(), "no request left sends an id back");
    let (code, out, _) = cli(&["check", "--dir", s(tmp.path())]);
    assert_eq!(code, EXIT_OK, "{out}");
}

/// The index reads recordings like replay does: a FIFO named like a recording is
/// skipped with a reason, never opened (which would block `list` forever).
#[test]
fn list_skips_a_fifo_named_like_a_recording() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::new(tmp.path());
    let (_, path) = good(&store, "t::fifo", "real");
    let fifo = path.with_file_name(format!("{}.json", "f".repeat(64)));
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let dir = tmp.path().to_path_buf();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(cli(&["list", "--dir", s(&dir)]));
    });
    let (code, out, err) = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("list blocked on the FIFO");
    assert_eq!(code, EXIT_OK, "{out}{err}");
    assert!(out.contains("t::fifo"), "{out}");
}

/// `serve --setup NAME` reads RECORD_MODE as a test under that setup would: from the
/// setup's `env` when the environment does not set it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_takes_the_mode_from_the_setup_env() {
    recorder_runtime::engine::install_crypto_provider();
    let fake = recorder_testkit::fake::FakeUpstream::start();
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join("recorder.toml"),
        format!(
            "[setups.rec]\nbase_url = \"{}\"\nenv = {{ RECORD_MODE = \"record\" }}\n",
            fake.openai_url()
        ),
    )
    .unwrap();
    let dir = tmp.path().join("recordings");
    let server = Serve::start_in(
        tmp.path(),
        &["serve", "--setup", "rec", "--dir", s(&dir), "--port", "0"],
        &[("RECORD_MODE", "")],
    );
    let answer = reqwest::Client::new()
        .post(format!("{}/v1/embeddings", server.url))
        .header("x-recorder-test-id", "cli::setup_mode")
        .json(&json!({"model": "fake-embed", "input": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200, "{}", answer.text().await.unwrap());
    assert_eq!(server.signal("-INT").0, Some(EXIT_OK));
    assert_eq!(fake.requests().len(), 1, "recorded from the upstream");
    let recorded = walk(&dir.join("cli/setup_mode"));
    assert_eq!(recorded.len(), 1, "{recorded:?}");
}

/// `--auth header:<name>` takes an HTTP header name, as `auth` in recorder.toml does.
#[test]
fn serve_refuses_an_auth_header_that_is_not_a_header_name() {
    let (code, _, err) = cli(&["serve", "--auth", "header:x api key"]);
    assert_eq!(code, EXIT_ERROR);
    assert!(err.contains("header:<name>"), "{err}");
}

/// `serve --mode verify`: each request goes upstream, the client gets the live answer,
/// nothing is written; a breaking change is a problem (exit status 1, printed as it
/// happens), drift is listed per test at shutdown and in the exit summary.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_verifies_against_the_recordings_and_writes_nothing() {
    recorder_runtime::engine::install_crypto_provider();
    let fake = recorder_testkit::fake::FakeUpstream::start();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("recordings");
    let http = reqwest::Client::new();
    let ask = |url: String, prompt: &'static str| {
        let http = http.clone();
        async move {
            let chat = json!({"model": "m", "messages": [{"role": "user", "content": prompt}]});
            let resp = http
                .post(format!("{url}/v1/chat/completions"))
                .header("X-Recorder-Test-Id", "cli::verify")
                .json(&chat)
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 200);
            resp.json::<Value>().await.unwrap()
        }
    };
    let server = Serve::recording(&dir, &fake.openai_url(), &["--port", "0"], &[]);
    let planet = ask(server.url.clone(), "Name a planet.").await;
    ask(server.url.clone(), "Name a moon.").await;
    assert_eq!(server.signal("-INT").0, Some(EXIT_OK));
    // The provider changed since: one answer's words, the other's finish reason.
    let recorded = walk(&dir)
        .into_iter()
        .filter(|p| RecordingKey::of_path(p).is_some())
        .collect::<Vec<_>>();
    assert_eq!(recorded.len(), 2, "{recorded:?}");
    for path in recorded {
        let mut rec: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let prompt = rec["request"]["body"]["messages"][0]["content"].clone();
        let choice = &mut rec["response"]["body"]["choices"][0];
        if prompt == "Name a planet." {
            choice["message"]["content"] = json!("Mars.");
        } else {
            choice["finish_reason"] = json!("length");
        }
        std::fs::write(&path, serde_json::to_vec_pretty(&rec).unwrap()).unwrap();
    }
    let before: Vec<(PathBuf, Vec<u8>)> = walk(&dir)
        .into_iter()
        .map(|p| (p.clone(), std::fs::read(&p).unwrap()))
        .collect();

    let server = Serve::start(
        &[
            "serve",
            "--dir",
            s(&dir),
            "--mode",
            "verify",
            "--upstream",
            &fake.openai_url(),
            "--port",
            "0",
        ],
        &[],
    );
    let asked = fake.requests().len();
    let live = ask(server.url.clone(), "Name a planet.").await;
    assert_eq!(
        live["choices"][0]["message"],
        planet["choices"][0]["message"]
    );
    assert!(
        live["id"].as_str().unwrap().starts_with("chatcmpl-"),
        "the live answer: {live}"
    );
    ask(server.url.clone(), "Name a moon.").await;
    assert_eq!(fake.requests().len(), asked + 2);
    let (code, err) = server.signal("-INT");
    assert_eq!(code, Some(EXIT_PROBLEMS), "{err}");
    for needle in [
        "problem in test `cli::verify`: verify: the live answer to POST /v1/chat/completions  model=m in test `cli::verify` differs from its recording",
        "    ! finish reason  length -> stop\n",
        "recorder: cli::verify: verified 2 exchanges against their recordings: 0 the same, 1 drifted, 1 breaking\n",
        "      text           [-Mars-]{+Fake answer",
        "recorder: verified 2 exchanges in 1 test against their recordings: 0 the same, 1 drifted, 1 breaking\n",
    ] {
        assert!(err.contains(needle), "{needle:?} missing from:\n{err}");
    }
    let after: Vec<(PathBuf, Vec<u8>)> = walk(&dir)
        .into_iter()
        .map(|p| (p.clone(), std::fs::read(&p).unwrap()))
        .collect();
    assert_eq!(after, before, "verify writes nothing");

    let (code, _, err) = cli(&[
        "serve",
        "--dir",
        s(&tmp.path().join("none")),
        "--mode",
        "verify",
        "--upstream",
        &fake.openai_url(),
    ]);
    assert_eq!(code, EXIT_ERROR);
    assert!(
        err.contains("no recordings folder at") && err.contains("to verify against"),
        "{err}"
    );
}

/// What `serve_routes_named_upstreams` sends, through `serve` at `url`, as one test:
/// (status, body) of a request to the default upstream, to the setup's `search`, to
/// the command line's `tools`.
async fn upstream_session(url: &str) -> Vec<(u16, Value)> {
    let http = reqwest::Client::new();
    let mut out = Vec::new();
    for (path, body) in [
        (
            "/v1/embeddings",
            json!({"model": "fake-embed", "input": "model"}),
        ),
        (
            "/up/search/embeddings",
            json!({"model": "fake-embed", "input": "search"}),
        ),
        (
            "/up/tools/v1/embeddings",
            json!({"model": "fake-embed", "input": "tools"}),
        ),
    ] {
        let resp = http
            .post(format!("{url}{path}"))
            .header("x-recorder-test-id", "cli::upstreams")
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let json: Value = resp.json().await.unwrap();
        out.push((status, json["data"][0]["embedding"].clone()));
    }
    out
}

/// `serve --setup NAME` serves the setup's upstreams under /up/NAME/ with their keys,
/// and `--upstream NAME=URL --upstream-key NAME=VAR` adds one; each gets only its own
/// key, the recordings name the upstream (never its URL), hold no key, and replay
/// through a `serve` that is given no upstream at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_routes_named_upstreams_and_records_them_under_up_name() {
    use recorder_testkit::fake::{FakeUpstream, KeyIn};
    recorder_runtime::engine::install_crypto_provider();
    let (search_key, tools_key) = ("tvly-cli-search-0123456789", "sk-cli-tools-0123456789abc");
    let (model, search, tools) = (
        FakeUpstream::start(),
        FakeUpstream::start(),
        FakeUpstream::start(),
    );
    search.require_key(Some((KeyIn::Header("x-api-key".into()), search_key)));
    tools.require_key(Some((KeyIn::Bearer, tools_key)));
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join("recorder.toml"),
        format!(
            "[setups.agent]\nbase_url = \"{}\"\nupstreams = {{ search = {{ url = \"{}\", api_key_env = \"CLI_SEARCH_KEY\", auth = {{ header = \"x-api-key\" }} }} }}\n",
            model.openai_url(),
            search.openai_url()
        ),
    )
    .unwrap();
    let dir = tmp.path().join("recordings");
    let tools_arg = format!("tools={}", tools.url());
    let server = Serve::start_in(
        tmp.path(),
        &[
            "serve",
            "--setup",
            "agent",
            "--dir",
            s(&dir),
            "--mode",
            "record",
            "--upstream",
            &tools_arg,
            "--upstream-key",
            "tools=CLI_TOOLS_KEY",
        ],
        &[
            ("CLI_SEARCH_KEY", search_key),
            ("CLI_TOOLS_KEY", tools_key),
            ("RECORD_MODE", ""),
        ],
    );
    let recorded = upstream_session(&server.url).await;
    assert!(
        recorded
            .iter()
            .all(|(status, v)| *status == 200 && v.is_array()),
        "{recorded:?}"
    );
    // A name the server does not have: 400 naming the ones it has; nothing sent.
    let typo = reqwest::Client::new()
        .post(format!("{}/up/serach/embeddings", server.url))
        .header("x-recorder-test-id", "cli::upstreams_typo")
        .json(&json!({"input": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(typo.status(), 400);
    let typo = typo.text().await.unwrap();
    assert!(
        typo.contains("no upstream `serach` in setup `agent`: it names `search`, `tools`"),
        "{typo}"
    );
    let stderr = server.stderr();
    assert!(
        stderr.contains(&format!(
            "upstream search at /up/search -> {}",
            search.openai_url()
        )) && stderr.contains(&format!("upstream tools at /up/tools -> {}", tools.url())),
        "{stderr}"
    );
    // The typo is a problem of this serve: the exit status says so.
    assert_eq!(server.signal("-INT").0, Some(EXIT_PROBLEMS));

    let seen = |fake: &FakeUpstream| {
        let r = fake.requests();
        assert_eq!(r.len(), 1, "one request each");
        r.into_iter().next().unwrap()
    };
    let m = seen(&model);
    assert_eq!(m.path, "/v1/embeddings");
    assert_eq!(
        (m.header("authorization"), m.header("x-api-key")),
        (None, None)
    );
    let s_ = seen(&search);
    assert_eq!(s_.path, "/v1/embeddings");
    assert_eq!(s_.header("x-api-key"), Some(search_key));
    assert_eq!(s_.header("authorization"), None);
    let t = seen(&tools);
    assert_eq!(t.path, "/v1/embeddings");
    assert_eq!(
        t.header("authorization"),
        Some(&*format!("Bearer {tools_key}"))
    );
    assert_eq!(t.header("x-api-key"), None);

    let files = walk(&dir.join("cli/upstreams"));
    let mut endpoints: Vec<String> = files
        .iter()
        .filter(|p| RecordingKey::parse(&p.file_name().unwrap().to_string_lossy()).is_some())
        .map(|p| {
            let v: Value = serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap();
            v["request"]["endpoint"].as_str().unwrap().to_owned()
        })
        .collect();
    endpoints.sort();
    assert_eq!(
        endpoints,
        [
            "/up/search/embeddings",
            "/up/tools/v1/embeddings",
            "/v1/embeddings"
        ]
    );
    for path in walk(&dir) {
        let text = String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned();
        for secret in [search_key, tools_key] {
            assert!(!text.contains(secret), "a key in {}", path.display());
        }
        for fake in [&model, &search, &tools] {
            assert!(
                !text.contains(&fake.addr().to_string()),
                "a URL in {}",
                path.display()
            );
        }
    }

    for fake in [&model, &search, &tools] {
        fake.stop();
    }
    let server = Serve::replaying(&dir);
    assert_eq!(upstream_session(&server.url).await, recorded);
    assert_eq!(server.signal("-INT").0, Some(EXIT_OK));
}

/// `--upstream`, `--upstream-key` and `--upstream-auth` refuse what they cannot use,
/// saying what to write.
#[test]
fn serve_refuses_upstream_flags_it_cannot_use() {
    let cases: &[(&[&str], &str)] = &[
        (&["--upstream", "mcp=127.0.0.1:8931/mcp"], "is not an http:// or https:// URL"),
        (&["--upstream", "my mcp=http://h/mcp"], "NAME=URL (a named upstream"),
        (&["--upstream-key", "search=sk-live-abc"], "is not a variable name"),
        (&["--upstream-auth", "search=basic"], "header:<name>"),
        (
            &["--upstream", "http://a/v1", "--upstream", "http://b/v1"],
            "there is one default upstream; give the others a name",
        ),
        (
            &["--upstream", "mcp=http://a/mcp", "--upstream", "mcp=http://b/mcp"],
            "--upstream mcp=... is given twice",
        ),
        (
            &["--upstream", "mcp=http://a/mcp", "--upstream-key", "search=TAVILY_API_KEY"],
            "--upstream-key search=TAVILY_API_KEY: no upstream `search` (there are `mcp`); give it with --upstream search=URL",
        ),
        (
            &["--upstream", "http://a/v1", "--upstream-auth", "mcp=bearer"],
            "no upstream `mcp` (there are none)",
        ),
    ];
    let tmp = tempfile::tempdir().unwrap();
    for (flags, want) in cases {
        let mut args = vec!["serve", "--dir", s(tmp.path()), "--mode", "record"];
        args.extend_from_slice(flags);
        let (code, _, err) = cli(&args);
        assert_eq!(code, EXIT_ERROR, "{flags:?}");
        assert!(err.contains(want), "{flags:?}: {err}");
        assert!(
            !err.contains("sk-live-abc") || want.contains("variable"),
            "{err}"
        );
    }
}
