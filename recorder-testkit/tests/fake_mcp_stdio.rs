//! The `fake-mcp-stdio` binary as a client launches it: a child process speaking
//! JSON-RPC lines. (Building this test also builds the binary for the other crates'
//! stdio tests: see `recorder_testkit::mcp_stdio::binary`.)

use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

#[test]
fn the_binary_answers_over_its_stdio_and_notes_its_start() {
    let dir = tempfile_dir();
    let started = dir.join("started");
    let mut child = Command::new(env!("CARGO_BIN_EXE_fake-mcp-stdio"))
        .env(recorder_testkit::mcp_stdio::STARTED_VAR, &started)
        .env(recorder_testkit::mcp_stdio::TOKEN_VAR, "tok-123456789")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    for msg in [
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-06-18"}}),
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "count", "arguments": {"n": 2}}}),
        json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "whoami"}}),
        json!({"jsonrpc": "2.0", "id": 4, "method": "nope"}),
    ] {
        writeln!(stdin, "{msg}").unwrap();
    }
    drop(stdin);
    let lines: Vec<Value> = BufReader::new(child.stdout.take().unwrap())
        .lines()
        .map(|l| serde_json::from_str(&l.unwrap()).unwrap())
        .collect();
    assert!(child.wait().unwrap().success());
    assert_eq!(lines[0]["result"]["serverInfo"]["name"], "fake-mcp-stdio");
    assert_eq!(lines[1]["method"], "notifications/progress");
    assert_eq!(lines[2]["params"]["progress"], 2);
    assert_eq!(lines[3]["result"]["content"][0]["text"], "counted 2");
    assert_eq!(
        lines[4]["result"]["content"][0]["text"],
        "token is tok-123456789"
    );
    assert_eq!(lines[5]["error"]["code"], -32601);
    assert_eq!(lines.len(), 6);
    assert_eq!(std::fs::read_to_string(&started).unwrap(), "started\n");
    let _ = std::fs::remove_dir_all(dir);
}

/// A fresh folder under the system's temporary one.
fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("fake-mcp-stdio-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
