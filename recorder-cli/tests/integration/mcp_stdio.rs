//! `cargo recordings mcp-stdio -- COMMAND...`, launched as a client launches an MCP
//! server over stdio: it records the session through the test's recorder (the URL of
//! `ctx.recorder_env()`), replays it without starting the server, and a miss is a
//! JSON-RPC error the client sees, a problem of the test, and exit status 1.

use recorder_runtime::{Mode, RecordingContext};
use recorder_testkit::mcp_stdio::{binary, STARTED_VAR, TOKEN_VAR};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

const TOKEN: &str = "tok-cli-0123456789";

/// The proxy launched as the client would launch the server, with the server's
/// command after `--`.
fn launch(recorder: &[(String, String)], server: &Path, started: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_cargo-recordings"))
        .args(["mcp-stdio", "--name", "files", "--"])
        .arg(server)
        .env_remove("RECORDER_TEST_ID")
        .envs(recorder.iter().cloned())
        .env(STARTED_VAR, started)
        .env(TOKEN_VAR, TOKEN)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cargo-recordings starts")
}

/// Sends request `id` and reads lines until its response.
fn call(
    stdin: &mut ChildStdin,
    out: &mut BufReader<ChildStdout>,
    id: u64,
    method: &str,
    params: Value,
) -> Value {
    let msg = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
    writeln!(stdin, "{msg}").unwrap();
    stdin.flush().unwrap();
    loop {
        let mut line = String::new();
        assert!(
            out.read_line(&mut line).unwrap() > 0,
            "the proxy's output ended before answer {id}"
        );
        let v: Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("not JSON on stdout ({e}): {line}"));
        if v["id"] == id && v.get("method").is_none() {
            return v;
        }
    }
}

/// A session: initialize, initialized, whoami (the server's credential), and
/// `extra` calls; returns the answers and the proxy's exit code and stderr.
fn session(
    recorder: &[(String, String)],
    server: &Path,
    started: &Path,
    extra: &[(&str, Value)],
) -> (Vec<Value>, i32, String) {
    let mut child = launch(recorder, server, started);
    let mut stdin = child.stdin.take().unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut answers = vec![call(
        &mut stdin,
        &mut out,
        1,
        "initialize",
        json!({"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}),
    )];
    writeln!(
        stdin,
        "{}",
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"})
    )
    .unwrap();
    answers.push(call(
        &mut stdin,
        &mut out,
        2,
        "tools/call",
        json!({"name": "whoami", "arguments": {}}),
    ));
    for (i, (method, params)) in extra.iter().enumerate() {
        answers.push(call(
            &mut stdin,
            &mut out,
            3 + i as u64,
            method,
            params.clone(),
        ));
    }
    drop(stdin);
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
    let output = child.wait_with_output().unwrap();
    let code = output.status.code().expect("the proxy exits");
    (
        answers,
        code,
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn context(mode: Mode, dir: &Path) -> RecordingContext {
    RecordingContext::builder("cli::mcp_stdio")
        .mode(mode)
        .dir(dir)
        .build()
        .expect("the context builds")
}

fn starts(started: &Path) -> usize {
    std::fs::read_to_string(started)
        .map(|s| s.lines().count())
        .unwrap_or(0)
}

#[test]
fn the_proxy_records_through_the_tests_recorder_and_replays_without_the_server() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("recordings");
    let started = tmp.path().join("started");
    let server = binary();

    let rec = context(Mode::Record, &dir);
    let (recorded, code, stderr) = session(&rec.recorder_env(), &server, &started, &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(rec.finish().is_empty(), "{:?}", rec.finish());
    assert_eq!(starts(&started), 1);
    assert_eq!(
        recorded[0]["result"]["serverInfo"]["name"],
        "fake-mcp-stdio"
    );
    assert_eq!(
        recorded[1]["result"]["content"][0]["text"],
        format!("token is {TOKEN}")
    );
    let files: Vec<_> = walk(&dir)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "json") && !p.ends_with("_ids.json"))
        .collect();
    // initialize, initialized (202), whoami, the open stream.
    assert_eq!(files.len(), 4, "{files:?}");
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        assert!(
            !text.contains(TOKEN),
            "the token is on disk in {}",
            f.display()
        );
        let rec: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(rec["request"]["endpoint"], "/up/files", "{}", f.display());
    }

    // Replay: the server is never started, even one that does not exist.
    let play = context(Mode::Replay, &dir);
    let missing = tmp.path().join("no-such-server");
    let (replayed, code, stderr) = session(&play.recorder_env(), &missing, &started, &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(play.finish().is_empty(), "{:?}", play.finish());
    assert_eq!(starts(&started), 1);
    assert_eq!(replayed[0], recorded[0]);
    assert_eq!(
        replayed[1]["result"]["content"][0]["text"],
        "token is <redacted:FAKE_MCP_TOKEN>"
    );

    // A request never recorded: a JSON-RPC error with its id, a problem of the test,
    // exit status 1.
    let miss = context(Mode::Replay, &dir);
    let echo = (
        "tools/call",
        json!({"name": "echo", "arguments": {"text": "new"}}),
    );
    let (answers, code, stderr) = session(&miss.recorder_env(), &missing, &started, &[echo]);
    assert_eq!(code, 1, "{stderr}");
    let error = &answers[2]["error"];
    assert_eq!(answers[2]["id"], 3);
    let message = error["message"].as_str().unwrap();
    assert!(
        message
            .starts_with("`tools/call`: no recording for POST /up/files in test `cli::mcp_stdio`"),
        "{message}"
    );
    assert!(message.contains("body differences"), "{message}");
    assert!(
        stderr.contains("1 exchange(s) could not be recorded or replayed"),
        "{stderr}"
    );
    let problems = miss.finish();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(starts(&started), 1);
}

#[test]
fn through_serve_with_the_test_id_in_the_environment() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("recordings");
    let started = tmp.path().join("started");
    let env = |url: &str| {
        vec![
            ("RECORDER_URL".to_owned(), url.to_owned()),
            (
                "RECORDER_TEST_ID".to_owned(),
                "cli::through_serve".to_owned(),
            ),
        ]
    };
    // `serve` records a stdio session: it has no HTTP upstream to call for it.
    let serve = crate::support::Serve::recording(&dir, "http://127.0.0.1:9/v1", &[], &[]);
    let (recorded, code, stderr) = session(&env(&serve.url), &binary(), &started, &[]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        recorded[1]["result"]["content"][0]["text"],
        format!("token is {TOKEN}")
    );
    let (code, serve_err) = serve.signal("-TERM");
    assert_eq!(code, Some(0), "{serve_err}");
    let files: Vec<_> = walk(&dir)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "json") && !p.ends_with("_ids.json"))
        .collect();
    assert_eq!(files.len(), 4, "{files:?}");
    assert!(
        files
            .iter()
            .all(|f| f.to_string_lossy().contains("through_serve")),
        "{files:?}"
    );

    let serve = crate::support::Serve::replaying(&dir);
    let missing = tmp.path().join("no-such-server");
    let (replayed, code, stderr) = session(&env(&serve.url), &missing, &started, &[]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(replayed[0], recorded[0]);
    assert_eq!(
        replayed[1]["result"]["content"][0]["text"],
        "token is <redacted:FAKE_MCP_TOKEN>"
    );
    assert_eq!(starts(&started), 1);
    let (code, serve_err) = serve.signal("-TERM");
    assert_eq!(code, Some(0), "{serve_err}");
}

#[test]
fn without_a_recorder_url_it_says_where_to_get_one() {
    let out = Command::new(env!("CARGO_BIN_EXE_cargo-recordings"))
        .args(["mcp-stdio", "--", "node", "server.js"])
        .env_remove("RECORDER_URL")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty(), "stdout is the protocol's");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("set RECORDER_URL") && err.contains("ctx.recorder_env()"),
        "{err}"
    );
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out.sort();
    out
}
