//! MCP over stdio (issue 25): a session with recorder-testkit's `fake-mcp-stdio`, a
//! real child process, recorded through `ctx.stdio_server` and replayed with the
//! server never started; the same session through the proxy (what `cargo recordings
//! mcp-stdio` does) records the same bytes; rmcp through `ctx.mcp_stdio`.

use crate::fake_support::*;
use recorder_runtime::engine::Target;
use recorder_runtime::stdio::{run_remote, Remote};
use recorder_runtime::{Mode, RecordingContext};
use recorder_testkit::mcp_stdio::{binary, STARTED_VAR, TOKEN_VAR};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};

const TOKEN: &str = "tok-stdio-0123456789";

/// The fake server's command, noting its starts in `started`.
fn fake(started: &Path) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(binary());
    command.env(STARTED_VAR, started).env(TOKEN_VAR, TOKEN);
    command
}

fn starts(started: &Path) -> usize {
    std::fs::read_to_string(started)
        .map(|s| s.lines().count())
        .unwrap_or(0)
}

/// A client of a stdio server: writes messages, reads the server's lines.
struct Client<R, W> {
    read: tokio::io::Lines<BufReader<R>>,
    write: W,
    /// Every line read, in order.
    seen: Vec<Value>,
}

impl<R: AsyncRead + Unpin, W: AsyncWrite + Unpin> Client<R, W> {
    fn new(read: R, write: W) -> Self {
        Client {
            read: BufReader::new(read).lines(),
            write,
            seen: Vec::new(),
        }
    }

    async fn send(&mut self, msg: Value) {
        self.write
            .write_all(format!("{msg}\n").as_bytes())
            .await
            .unwrap();
        self.write.flush().await.unwrap();
    }

    async fn next(&mut self) -> Value {
        let line = tokio::time::timeout(Duration::from_secs(30), self.read.next_line())
            .await
            .expect("a line within 30 s")
            .unwrap()
            .expect("the server's output goes on");
        let v: Value = serde_json::from_str(&line).unwrap();
        self.seen.push(v.clone());
        v
    }

    /// Sends request `id` and reads until its response, answering the server's
    /// `roots/list` on the way; returns the lines read.
    async fn call(&mut self, id: u64, method: &str, params: Value) -> Vec<Value> {
        self.send(json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}))
            .await;
        let mut lines = Vec::new();
        loop {
            let line = self.next().await;
            lines.push(line.clone());
            if line["method"] == "roots/list" {
                self.send(json!({"jsonrpc": "2.0", "id": line["id"], "result": {"roots": [{"uri": "file:///tmp", "name": "tmp"}]}}))
                    .await;
            }
            if line["id"] == id && line.get("method").is_none() {
                return lines;
            }
        }
    }

    /// Reads until a line with `method` has been seen (it may have been already).
    async fn wait_for(&mut self, method: &str) {
        while !self.seen.iter().any(|l| l["method"] == method) {
            self.next().await;
        }
    }
}

fn tool(name: &str, arguments: Value) -> Value {
    json!({"name": name, "arguments": arguments})
}

/// One MCP session: the handshake, a listing, a tool with progress notifications
/// before its answer, a tool that echoes the server's token, a tool that asks the
/// client for its roots, and one followed by a notification no request waits for.
async fn session<R: AsyncRead + Unpin, W: AsyncWrite + Unpin>(client: &mut Client<R, W>) {
    let init = client
        .call(1, "initialize", json!({"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}))
        .await;
    assert_eq!(
        init.last().unwrap()["result"]["serverInfo"]["name"],
        "fake-mcp-stdio"
    );
    client
        .send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
        .await;
    client.call(2, "tools/list", json!({})).await;
    let counted = client
        .call(
            3,
            "tools/call",
            json!({"name": "count", "arguments": {"n": 2}, "_meta": {"progressToken": "p"}}),
        )
        .await;
    let methods: Vec<&Value> = counted.iter().map(|l| &l["method"]).collect();
    assert_eq!(
        methods,
        [
            &json!("notifications/progress"),
            &json!("notifications/progress"),
            &Value::Null
        ],
        "the progress notifications come before the answer: {counted:?}"
    );
    client
        .call(4, "tools/call", tool("whoami", json!({})))
        .await;
    let roots = client
        .call(5, "tools/call", tool("ask_roots", json!({})))
        .await;
    assert_eq!(
        roots.last().unwrap()["result"]["content"][0]["text"],
        "roots: 1"
    );
    client
        .call(6, "tools/call", tool("announce", json!({})))
        .await;
    client.wait_for("notifications/tools/list_changed").await;
}

/// A session through `ctx.stdio_server`; returns what the client read.
async fn in_process(ctx: &RecordingContext, command: tokio::process::Command) -> Vec<Value> {
    let server = ctx.stdio_server("mcp", command).unwrap();
    let (read, write) = tokio::io::split(server);
    let mut client = Client::new(read, write);
    session(&mut client).await;
    let server = client.read.into_inner().into_inner().unsplit(client.write);
    server.close().await.unwrap();
    client.seen
}

fn context(test_id: &str, mode: Mode, dir: &Path) -> RecordingContext {
    ctx(test_id, mode, dir, Target::default())
}

/// The answer to request `id` in a transcript.
fn response(seen: &[Value], id: u64) -> &Value {
    seen.iter()
        .find(|l| l["id"] == id && l.get("method").is_none())
        .unwrap_or_else(|| panic!("no response {id} in {seen:?}"))
}

/// The recordings of a test: (file name, JSON), sorted by file name.
fn recordings(ctx: &RecordingContext) -> Vec<(String, Value)> {
    files(&ctx.scope_dir())
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                serde_json::from_str(&text).unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_session_records_every_exchange_and_replays_without_starting_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let started = dir.path().join("started");
    let id = "stdio::session";

    let rec = context(id, Mode::Record, dir.path());
    let recorded = in_process(&rec, fake(&started)).await;
    assert!(rec.finish().is_empty(), "{:?}", rec.finish());
    assert_eq!(starts(&started), 1);
    assert_eq!(
        response(&recorded, 4)["result"]["content"][0]["text"],
        format!("token is {TOKEN}"),
        "recording, the client talks to the real server"
    );

    // Every exchange is a file: 6 requests, the client's notification and its answer
    // to the server's roots/list (202s), and the open stream.
    let files = recordings(&rec);
    let requests: Vec<(String, String)> = files
        .iter()
        .map(|(_, r)| {
            let body = &r["request"]["body"];
            let what = body["method"]
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| format!("response to {}", body["id"]));
            (r["request"]["method"].as_str().unwrap().to_owned(), what)
        })
        .collect();
    assert_eq!(files.len(), 9, "{requests:?}");
    for (method, endpoint) in files
        .iter()
        .map(|(_, r)| (&r["request"]["method"], &r["request"]["endpoint"]))
    {
        assert_eq!(endpoint, "/up/mcp", "{method}");
    }
    let find = |what: &str| {
        files
            .iter()
            .find(|(_, r)| {
                let body = &r["request"]["body"];
                body["params"]["name"] == what
                    || body["method"] == what
                    || (what == "GET" && r["request"]["method"] == "GET")
                    || (what == "roots" && body["id"] == "srv-1")
            })
            .map(|(_, r)| &r["response"])
            .unwrap_or_else(|| panic!("no recording of {what}: {requests:?}"))
    };
    let count = find("count");
    assert_eq!(count["status"], 200);
    let frames = count["stream"]["frames"]
        .as_array()
        .unwrap_or_else(|| panic!("{count}"));
    assert_eq!(frames.len(), 3, "{count}");
    assert_eq!(frames[0]["event"], "message");
    assert_eq!(frames[0]["data"]["method"], "notifications/progress");
    assert_eq!(
        frames[2]["data"]["result"]["content"][0]["text"],
        "counted 2"
    );
    assert_eq!(find("notifications/initialized")["status"], 202);
    assert_eq!(find("roots")["status"], 202);
    let asked = find("ask_roots")["stream"]["frames"].as_array().unwrap();
    assert_eq!(
        asked[0]["data"]["method"], "roots/list",
        "the server's request is a frame of the call that made it"
    );
    let open = find("GET")["stream"]["frames"].as_array().unwrap();
    assert_eq!(open.len(), 1, "{open:?}");
    assert_eq!(
        open[0]["data"]["method"],
        "notifications/tools/list_changed"
    );
    // The server's token, in its answer, is a secret of the test.
    let on_disk: String = files.iter().map(|(_, r)| r.to_string()).collect();
    assert!(!on_disk.contains(TOKEN));
    assert!(
        on_disk.contains("token is <redacted:FAKE_MCP_TOKEN>"),
        "{on_disk}"
    );

    // Replay: the same session, answered from the recordings; the server is never
    // started (the same command, which would note its start).
    let play = context(id, Mode::Replay, dir.path());
    let replayed = in_process(&play, fake(&started)).await;
    assert!(play.finish().is_empty(), "{:?}", play.finish());
    assert_eq!(starts(&started), 1, "replay started the server");
    assert_eq!(play.counts().replayed, 9);
    for id in [1, 2, 3, 5, 6] {
        assert_eq!(
            response(&replayed, id),
            response(&recorded, id),
            "answer {id}"
        );
    }
    assert_eq!(
        response(&replayed, 4)["result"]["content"][0]["text"],
        "token is <redacted:FAKE_MCP_TOKEN>"
    );
    let without_open = |seen: &[Value]| -> Vec<Value> {
        seen.iter()
            .filter(|l| l["method"] != "notifications/tools/list_changed" && l["id"] != 4)
            .cloned()
            .collect()
    };
    assert_eq!(without_open(&replayed), without_open(&recorded));
    // The open stream's line comes once, right after the first answer.
    let changed: Vec<usize> = replayed
        .iter()
        .enumerate()
        .filter(|(_, l)| l["method"] == "notifications/tools/list_changed")
        .map(|(i, _)| i)
        .collect();
    assert_eq!(changed, [1], "{replayed:?}");
}

#[tokio::test]
async fn recording_again_gives_the_same_bytes_and_the_proxy_records_what_the_test_does() {
    let dir = tempfile::tempdir().unwrap();
    let started = dir.path().join("started");
    let trees: Vec<PathBuf> = ["a", "b", "c"].iter().map(|d| dir.path().join(d)).collect();
    for tree in &trees[..2] {
        let rec = context("stdio::again", Mode::Record, tree);
        in_process(&rec, fake(&started)).await;
        assert!(rec.finish().is_empty(), "{:?}", rec.finish());
    }
    // `cargo recordings mcp-stdio`'s way: the session over HTTP, to the test's proxy.
    let rec = context("stdio::again", Mode::Record, &trees[2]);
    over_http(&rec, fake(&started)).await;
    assert!(rec.finish().is_empty(), "{:?}", rec.finish());
    assert_eq!(starts(&started), 3);
    let contents = |root: &Path| -> Vec<(PathBuf, Vec<u8>)> {
        files(root)
            .into_iter()
            .filter(|p| !p.components().any(|c| c.as_os_str() == ".usage"))
            .map(|p| {
                (
                    p.strip_prefix(root).unwrap().to_owned(),
                    std::fs::read(&p).unwrap(),
                )
            })
            .collect()
    };
    let first = contents(&trees[0]);
    assert_eq!(first.len(), 9);
    assert!(
        contents(&trees[1]) == first,
        "recording again changed the files"
    );
    assert!(
        contents(&trees[2]) == first,
        "the proxy's session recorded other files"
    );

    // And the proxy replays them without the server.
    let play = context("stdio::again", Mode::Replay, &trees[2]);
    let seen = over_http(&play, fake(&started)).await;
    assert!(play.finish().is_empty(), "{:?}", play.finish());
    assert_eq!(starts(&started), 3, "replay started the server");
    assert_eq!(
        response(&seen, 4)["result"]["content"][0]["text"],
        "token is <redacted:FAKE_MCP_TOKEN>"
    );
}

/// A session the way `cargo recordings mcp-stdio` runs it, to the test's proxy URL
/// (`ctx.recorder_env()`); returns what the client read.
async fn over_http(ctx: &RecordingContext, command: tokio::process::Command) -> Vec<Value> {
    let (url_var, url) = ctx.recorder_env().remove(0);
    assert_eq!(url_var, "RECORDER_URL");
    let (client_end, session_end) = tokio::io::duplex(1 << 16);
    let (session_in, session_out) = tokio::io::split(session_end);
    let remote = Remote {
        url,
        name: "mcp".into(),
        test_id: None,
    };
    let running = tokio::spawn(run_remote(
        remote,
        command,
        session_in,
        session_out,
        std::future::pending(),
    ));
    let (read, write) = tokio::io::split(client_end);
    let mut client = Client::new(read, write);
    session(&mut client).await;
    client.write.shutdown().await.unwrap();
    let problems = running.await.unwrap().unwrap();
    assert_eq!(problems, 0);
    client.seen
}

#[tokio::test]
async fn two_sessions_in_one_test_are_each_others_next_occurrences() {
    let dir = tempfile::tempdir().unwrap();
    let started = dir.path().join("started");
    let rec = context("stdio::twice", Mode::Record, dir.path());
    in_process(&rec, fake(&started)).await;
    in_process(&rec, fake(&started)).await;
    assert!(rec.finish().is_empty(), "{:?}", rec.finish());
    let names: Vec<String> = recordings(&rec).into_iter().map(|(n, _)| n).collect();
    assert_eq!(names.len(), 18, "{names:?}");
    assert_eq!(
        names.iter().filter(|n| n.ends_with(".2.json")).count(),
        9,
        "{names:?}"
    );
    let play = context("stdio::twice", Mode::Replay, dir.path());
    let first = in_process(&play, fake(&started)).await;
    let second = in_process(&play, fake(&started)).await;
    assert!(play.finish().is_empty(), "{:?}", play.finish());
    assert_eq!(first, second);
    assert_eq!(starts(&started), 2);
}

#[tokio::test]
async fn a_miss_is_a_json_rpc_error_with_the_request_id_and_the_explanation() {
    let dir = tempfile::tempdir().unwrap();
    let play = context("stdio::missing", Mode::Replay, dir.path());
    // Nothing to start, and nothing is: the program does not even exist.
    let server = play
        .stdio_server(
            "mcp",
            tokio::process::Command::new("/nonexistent/mcp-server"),
        )
        .unwrap();
    let (read, write) = tokio::io::split(server);
    let mut client = Client::new(read, write);
    client
        .send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
        .await;
    let answer = client.call(7, "tools/list", json!({})).await;
    let error = &answer.last().unwrap()["error"];
    let message = error["message"].as_str().unwrap();
    assert_eq!(error["code"], -32050);
    assert!(
        message.starts_with("`tools/list`: no recording for POST /up/mcp in test `stdio::missing`"),
        "{message}"
    );
    assert!(
        message.contains("RECORD_MODE=record-if-missing"),
        "{message}"
    );
    // Nothing else came: the notification's miss is not answered (JSON-RPC gives a
    // notification no answer), only reported.
    assert_eq!(client.seen.len(), 1, "{:?}", client.seen);
    client
        .read
        .into_inner()
        .into_inner()
        .unsplit(client.write)
        .close()
        .await
        .unwrap();
    let problems = play.finish();
    assert_eq!(
        problems.len(),
        2,
        "the notification's miss and the request's: {problems:?}"
    );
    for p in &problems {
        assert!(
            p.starts_with("no recording for POST /up/mcp in test `stdio::missing`"),
            "{p}"
        );
    }
    assert_eq!(play.counts().missed, 2);
}

#[tokio::test]
async fn a_server_that_cannot_start_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let rec = context("stdio::no_server", Mode::Record, dir.path());
    let err = rec
        .stdio_server(
            "mcp",
            tokio::process::Command::new("/nonexistent/mcp-server"),
        )
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("cannot start the stdio server `/nonexistent/mcp-server`"),
        "{err}"
    );
    assert!(err.contains("replay never starts it"), "{err}");
    let err = rec
        .stdio_server("a/b", fake(&dir.path().join("started")))
        .unwrap_err()
        .to_string();
    assert!(err.contains("`a/b` cannot name an upstream"), "{err}");
    assert_eq!(starts(&dir.path().join("started")), 0);
}

#[tokio::test]
async fn rmcp_lists_and_calls_tools_over_the_recorded_stdio() {
    use rmcp::model::CallToolRequestParams;
    use rmcp::ServiceExt;
    let dir = tempfile::tempdir().unwrap();
    let started = dir.path().join("started");
    for mode in [Mode::Record, Mode::Replay] {
        let ctx = context("stdio::rmcp", mode, dir.path());
        let mcp = ().serve(ctx.mcp_stdio("mcp", fake(&started)).unwrap()).await.unwrap();
        let info = mcp.peer_info().unwrap().server_info.clone();
        assert_eq!(info.map(|i| i.name), Some("fake-mcp-stdio".into()));
        let tools = mcp.list_all_tools().await.unwrap();
        assert_eq!(tools.len(), 6);
        let args = json!({"text": "hello"}).as_object().unwrap().clone();
        let echoed = mcp
            .call_tool(CallToolRequestParams::new("echo").with_arguments(args))
            .await
            .unwrap();
        assert_eq!(echoed.content[0].as_text().unwrap().text, "hello");
        mcp.cancel().await.unwrap();
        assert!(ctx.finish().is_empty(), "{mode}: {:?}", ctx.finish());
        if mode == Mode::Replay {
            assert!(ctx.counts().replayed >= 4, "{:?}", ctx.counts());
        }
    }
    assert_eq!(starts(&started), 1);
}

#[tokio::test]
async fn credentials_in_the_servers_arguments_and_environment_are_never_stored() {
    let dir = tempfile::tempdir().unwrap();
    let started = dir.path().join("started");
    let arg_token = "ghp-arg-0123456789abcdef";
    let db_password = "pw-0123456789";
    let mut command = fake(&started);
    command
        .args([
            "--token",
            arg_token,
            "--db",
            &format!("postgres://app:{db_password}@db/x"),
        ])
        .env("LOG_LEVEL", "debug");
    let rec = context("stdio::secrets", Mode::Record, dir.path());
    let server = rec.stdio_server("mcp", command).unwrap();
    let (read, write) = tokio::io::split(server);
    let mut client = Client::new(read, write);
    let argv = client.call(1, "tools/call", tool("argv", json!({}))).await;
    let text = argv.last().unwrap()["result"]["content"][0]["text"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        text.contains(arg_token) && text.contains(db_password),
        "the server got its arguments: {text}"
    );
    let whoami = client
        .call(2, "tools/call", tool("whoami", json!({})))
        .await;
    assert_eq!(
        whoami.last().unwrap()["result"]["content"][0]["text"],
        format!("token is {TOKEN}")
    );
    client
        .read
        .into_inner()
        .into_inner()
        .unsplit(client.write)
        .close()
        .await
        .unwrap();
    assert!(rec.finish().is_empty(), "{:?}", rec.finish());
    let on_disk: String = files(dir.path())
        .iter()
        .map(|p| String::from_utf8_lossy(&std::fs::read(p).unwrap()).into_owned())
        .collect();
    for secret in [arg_token, db_password, TOKEN] {
        assert!(!on_disk.contains(secret), "{secret} is on disk: {on_disk}");
    }
    assert!(on_disk.contains("<redacted:ARG_TOKEN>"), "{on_disk}");
    assert!(on_disk.contains("<redacted:ARG_URL_PASSWORD>"), "{on_disk}");
    assert!(
        on_disk.contains("debug"),
        "a variable that is no credential stays: {on_disk}"
    );
}

#[tokio::test]
async fn a_server_that_dies_mid_request_fails_the_test_naming_the_request() {
    let dir = tempfile::tempdir().unwrap();
    let rec = context("stdio::crash", Mode::Record, dir.path());
    let server = rec
        .stdio_server("mcp", fake(&dir.path().join("started")))
        .unwrap();
    let (read, write) = tokio::io::split(server);
    let mut client = Client::new(read, write);
    client.call(1, "tools/list", json!({})).await;
    client
        .send(json!({"jsonrpc": "2.0", "id": 9, "method": "tools/call", "params": tool("crash", json!({}))}))
        .await;
    let end = tokio::time::timeout(Duration::from_secs(30), client.read.next_line())
        .await
        .expect("the output ends within 30 s")
        .unwrap();
    assert_eq!(end, None, "the client sees the server's output end");
    client
        .read
        .into_inner()
        .into_inner()
        .unsplit(client.write)
        .close()
        .await
        .unwrap();
    let problems = rec.finish();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].starts_with(
            "the stdio server exited (exit status: 1) before answering `tools/call` (id 9)"
        ),
        "{problems:?}"
    );
    // What was answered is recorded: tools/list, and the session's (empty) open stream.
    assert_eq!(recordings(&rec).len(), 2);
}
