//! A fake MCP server over stdio (JSON-RPC messages, one per line, on stdin and
//! stdout), for the recorder's stdio tests: [`serve`] in process, or the
//! `fake-mcp-stdio` binary ([`binary`]) as the child process a client launches.
//!
//! | message | answer |
//! |---|---|
//! | `initialize` | the client's protocol version, `tools` (with `listChanged`) as capabilities, `serverInfo` `fake-mcp-stdio` 1.0.0 |
//! | `ping` | `{}` |
//! | `tools/list` | the tools below |
//! | `tools/call` `echo {text}` | the text |
//! | `tools/call` `count {n}` | `n` `notifications/progress` lines (the request's `_meta.progressToken`, else `"count"`) before the result `counted n` |
//! | `tools/call` `whoami` | `token is <$FAKE_MCP_TOKEN>`: a server that echoes its credential |
//! | `tools/call` `argv` | its command line's arguments and `LOG_LEVEL`, space-separated: a server that echoes credentials given as arguments |
//! | `tools/call` `announce` | the result `announced`, then `notifications/tools/list_changed` (a line no request waits for) |
//! | `tools/call` `ask_roots` | the server's own request `roots/list` (id `"srv-1"`) to the client, then, once the client answers it, `roots: <how many>` |
//! | `tools/call` `crash` | no answer: [`serve`] returns an error, and the binary exits with status 1 (a server that dies mid-request) |
//! | another method with an `id` | JSON-RPC error `-32601` |
//! | a notification | nothing |
//!
//! With `FAKE_MCP_STARTED=<file>` set, each start appends a line to that file, so that
//! a test can prove a replay never started the server. It exits when its stdin ends.
//!
//! ```
//! use recorder_testkit::mcp_stdio::serve;
//! let input = br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hi"}}}
//! "#;
//! let mut out = Vec::new();
//! serve(&input[..], &mut out).unwrap();
//! let answer: serde_json::Value = serde_json::from_slice(&out).unwrap();
//! assert_eq!(answer["result"]["content"][0]["text"], "hi");
//! ```

use serde_json::{json, Value};
use std::io::{BufRead, Write};
use std::path::PathBuf;

/// The variable whose value `whoami` answers with.
pub const TOKEN_VAR: &str = "FAKE_MCP_TOKEN";
/// The variable naming the file each start appends a line to.
pub const STARTED_VAR: &str = "FAKE_MCP_STARTED";

/// Serves one session: reads messages from `input` until it ends, writes answers to
/// `output`. An error: reading or writing failed, or the `crash` tool was called.
pub fn serve(input: impl BufRead, mut output: impl Write) -> std::io::Result<()> {
    let mut lines = input.lines();
    while let Some(line) = lines.next() {
        let line = line?;
        let Ok(msg) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        let (Some(id), Some(method)) = (msg.get("id"), msg["method"].as_str()) else {
            continue; // a notification, or a response nobody asked for
        };
        let params = &msg["params"];
        let mut send = |v: Value| -> std::io::Result<()> {
            writeln!(output, "{v}")?;
            output.flush()
        };
        let result = match method {
            "initialize" => json!({
                "protocolVersion": params["protocolVersion"].as_str().unwrap_or("2025-06-18"),
                "capabilities": { "tools": { "listChanged": true } },
                "serverInfo": { "name": "fake-mcp-stdio", "version": "1.0.0" },
            }),
            "ping" => json!({}),
            "tools/list" => json!({ "tools": tools() }),
            "tools/call" => {
                let args = &params["arguments"];
                match params["name"].as_str().unwrap_or("") {
                    "echo" => text(args["text"].as_str().unwrap_or("")),
                    "count" => {
                        let n = args["n"].as_u64().unwrap_or(0);
                        let token = params["_meta"]["progressToken"].clone();
                        let token = if token.is_null() {
                            json!("count")
                        } else {
                            token
                        };
                        for i in 1..=n {
                            send(json!({
                                "jsonrpc": "2.0",
                                "method": "notifications/progress",
                                "params": { "progressToken": token, "progress": i, "total": n },
                            }))?;
                        }
                        text(&format!("counted {n}"))
                    }
                    "whoami" => text(&format!(
                        "token is {}",
                        std::env::var(TOKEN_VAR).unwrap_or_default()
                    )),
                    "argv" => {
                        let mut words: Vec<String> = std::env::args().skip(1).collect();
                        words.push(std::env::var("LOG_LEVEL").unwrap_or_default());
                        text(&words.join(" "))
                    }
                    "crash" => {
                        return Err(std::io::Error::other("the crash tool was called"));
                    }
                    "announce" => {
                        send(json!({"jsonrpc": "2.0", "id": id, "result": text("announced")}))?;
                        send(
                            json!({"jsonrpc": "2.0", "method": "notifications/tools/list_changed"}),
                        )?;
                        continue;
                    }
                    "ask_roots" => {
                        send(json!({"jsonrpc": "2.0", "id": "srv-1", "method": "roots/list"}))?;
                        let mut roots = None;
                        for answer in lines.by_ref() {
                            let answer: Value = serde_json::from_str(&answer?).unwrap_or_default();
                            if answer["id"] == "srv-1" {
                                roots = answer["result"]["roots"].as_array().map(Vec::len);
                                break;
                            }
                        }
                        text(&format!("roots: {}", roots.unwrap_or(0)))
                    }
                    other => json!({
                        "content": [{ "type": "text", "text": format!("unknown tool {other}") }],
                        "isError": true,
                    }),
                }
            }
            other => {
                send(json!({
                    "jsonrpc": "2.0",
                    "id": id,
                    "error": { "code": -32601, "message": format!("method not found: {other}") },
                }))?;
                continue;
            }
        };
        send(json!({"jsonrpc": "2.0", "id": id, "result": result}))?;
    }
    Ok(())
}

/// A tool result holding one text.
fn text(t: &str) -> Value {
    json!({ "content": [{ "type": "text", "text": t }], "isError": false })
}

fn tools() -> Value {
    let tool = |name: &str, description: &str, properties: Value| {
        json!({
            "name": name,
            "description": description,
            "inputSchema": { "type": "object", "properties": properties },
        })
    };
    json!([
        tool(
            "echo",
            "Answers with its text.",
            json!({ "text": { "type": "string" } })
        ),
        tool(
            "count",
            "Sends n progress notifications, then answers.",
            json!({ "n": { "type": "integer" } })
        ),
        tool("whoami", "Answers with the server's token.", json!({})),
        tool(
            "argv",
            "Answers with the server's arguments and LOG_LEVEL.",
            json!({})
        ),
        tool(
            "announce",
            "Answers, then says the tool list changed.",
            json!({})
        ),
        tool(
            "ask_roots",
            "Asks the client for its roots, then answers how many.",
            json!({})
        ),
    ])
}

/// The `fake-mcp-stdio` binary, next to the running test's own executable, built
/// (or found up to date) by cargo on the first call of each test process: cargo builds
/// a package's binaries only for that package's own tests, and a binary left by an
/// older build would answer with older code. Calls after the first are free.
///
/// # Panics
/// When cargo cannot build it and there is none, with cargo's output and the command
/// to run by hand.
pub fn binary() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT.get_or_init(build).clone()
}

/// Builds the binary (a no-op when it is up to date) and returns its path.
fn build() -> PathBuf {
    let exe = std::env::current_exe().expect("the test's own path");
    // target/<profile>/deps/<test> -> target/<profile>/fake-mcp-stdio
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("a test runs from target/<profile>/deps");
    let bin = profile_dir.join(format!("fake-mcp-stdio{}", std::env::consts::EXE_SUFFIX));
    let by_hand = "cargo build -p recorder-testkit --bin fake-mcp-stdio";
    let target_dir = profile_dir.parent().expect("target/<profile> has a parent");
    let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") => "dev",
        Some(other) => other,
        None => panic!(
            "{} is not a cargo profile's folder: run `{by_hand}`",
            profile_dir.display()
        ),
    };
    // Cargo tells the tests it runs where it is; `cargo` on PATH otherwise (nextest).
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let built = std::process::Command::new(cargo)
        .args([
            "build",
            "--quiet",
            "--bin",
            "fake-mcp-stdio",
            "--profile",
            profile,
        ])
        .arg("--manifest-path")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"))
        .arg("--target-dir")
        .arg(target_dir)
        .output();
    match built {
        Ok(out) if out.status.success() && bin.is_file() => bin,
        // No cargo here (a test binary copied elsewhere): the one built before.
        Err(_) if bin.is_file() => bin,
        Ok(out) => panic!(
            "building fake-mcp-stdio for this test failed ({}): run `{by_hand}`\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(e) => panic!("cannot run cargo to build fake-mcp-stdio ({e}): run `{by_hand}`"),
    }
}
