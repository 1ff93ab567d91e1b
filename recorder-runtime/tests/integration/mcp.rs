//! MCP over Streamable HTTP through the loopback proxy (docs/mcp-design.md):
//! one test per row of the design's table, against recorder-testkit's fake MCP server
//! (random session ids and event ids, sessions enforced, SSE answers, a session's
//! open GET stream with keep-alive pings, DELETE), recorded into fresh folders and
//! replayed with the fake stopped. The client is plain reqwest speaking the protocol
//! as the SDKs do, so every header and status is visible.

use crate::fake_support::*;
use recorder_runtime::{Mode, RecordingContext};
use recorder_testkit::fake::FakeUpstream;
use serde_json::{json, Value};
use std::path::Path;
use std::time::Duration;

const PROTOCOL: &str = "2025-11-25";

/// A context whose setup's upstream is the fake's root: the MCP endpoint is `/mcp`.
fn mcp_ctx(id: &str, mode: Mode, dir: &Path, fake: &FakeUpstream) -> RecordingContext {
    ctx(id, mode, dir, target(&fake.url()))
}

/// A context whose variables include `env` (the setup's `env`).
fn mcp_ctx_with(
    id: &str,
    mode: Mode,
    dir: &Path,
    fake: &FakeUpstream,
    env: &[(&str, &str)],
) -> RecordingContext {
    let mut t = target(&fake.url());
    t.setup = Some("mcp-test".into());
    t.env = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    ctx(id, mode, dir, t)
}

/// One answer as an MCP client reads it.
#[derive(Debug)]
struct Answer {
    status: u16,
    content_type: String,
    session: Option<String>,
    /// The JSON-RPC messages: the JSON body, or the SSE events' data (empty priming
    /// events left out).
    messages: Vec<Value>,
    /// The SSE `id:` fields seen.
    event_ids: Vec<String>,
}

/// A hand-written MCP client of the handshake era: what the SDKs send.
struct Mcp {
    http: reqwest::Client,
    url: String,
    session: Option<String>,
}

impl Mcp {
    fn new(ctx: &RecordingContext) -> Mcp {
        Mcp {
            http: http(),
            url: format!("{}mcp", ctx.ollama_url()),
            session: None,
        }
    }

    fn request(&self, method: reqwest::Method) -> reqwest::RequestBuilder {
        let mut b = self
            .http
            .request(method, &self.url)
            .header("accept", "application/json, text/event-stream");
        if let Some(s) = &self.session {
            b = b
                .header("mcp-session-id", s)
                .header("mcp-protocol-version", PROTOCOL);
        }
        b
    }

    async fn send(&self, b: reqwest::RequestBuilder) -> Answer {
        let resp = b.send().await.unwrap();
        let status = resp.status().as_u16();
        let header = |n: &str| {
            resp.headers()
                .get(n)
                .map(|v| v.to_str().unwrap().to_owned())
        };
        let content_type = header("content-type").unwrap_or_default();
        let session = header("mcp-session-id");
        let text = resp.text().await.unwrap();
        let (messages, event_ids) = if content_type.starts_with("text/event-stream") {
            let ids = text
                .lines()
                .filter_map(|l| l.strip_prefix("id: "))
                .map(str::to_owned)
                .collect();
            let data = sse_data(&text)
                .into_iter()
                .filter(|d| !d.trim().is_empty())
                .map(|d| serde_json::from_str(&d).unwrap())
                .collect();
            (data, ids)
        } else if text.is_empty() {
            (Vec::new(), Vec::new())
        } else {
            (vec![serde_json::from_str(&text).unwrap()], Vec::new())
        };
        Answer {
            status,
            content_type,
            session,
            messages,
            event_ids,
        }
    }

    async fn post(&self, message: Value) -> Answer {
        self.send(self.request(reqwest::Method::POST).json(&message))
            .await
    }

    /// `initialize`: the session id comes back in a header.
    async fn initialize(&mut self) -> Answer {
        let a = self
            .post(
                json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
                "protocolVersion": PROTOCOL, "capabilities": {},
                "clientInfo": {"name": "test-client", "version": "1.0.0"}}}),
            )
            .await;
        self.session = a.session.clone();
        a
    }

    /// The session's GET stream, opened.
    async fn get(&self) -> reqwest::Response {
        let r = self
            .request(reqwest::Method::GET)
            .header("accept", "text/event-stream")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        r
    }

    async fn delete(&self) -> u16 {
        self.request(reqwest::Method::DELETE)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }
}

/// The next chunk of a stream that holds an event (keep-alive comments skipped), as
/// text, or `None` at its end.
async fn next_event(resp: &mut reqwest::Response) -> Option<String> {
    loop {
        let chunk = resp.chunk().await.unwrap()?;
        let text = String::from_utf8(chunk.to_vec()).unwrap();
        if text.lines().any(|l| !l.is_empty() && !l.starts_with(':')) {
            return Some(text);
        }
    }
}

/// Reads a stream to its end (within 10 s): whether it ended.
async fn ends(resp: &mut reqwest::Response) -> bool {
    tokio::time::timeout(Duration::from_secs(10), async {
        while resp.chunk().await.ok().flatten().is_some() {}
    })
    .await
    .is_ok()
}

/// Whether a stream is still open after `wait` with nothing more to read.
async fn stays_open(resp: &mut reqwest::Response, wait: Duration) -> bool {
    tokio::time::timeout(wait, resp.chunk()).await.is_err()
}

/// The recordings of a scope whose request matches `method` and JSON-RPC method (or
/// `""` for none), sorted by file name.
fn recorded(ctx: &RecordingContext, http_method: &str, rpc: &str) -> Vec<Value> {
    recordings(&ctx.scope_dir())
        .iter()
        .map(|p| read_json(p))
        .filter(|r| {
            r["request"]["method"] == http_method
                && r["request"]["body"]["method"].as_str().unwrap_or("") == rpc
        })
        .collect()
}

/// Polls (without blocking the test's runtime) until `cond` holds, within 10 s.
async fn eventually(mut cond: impl FnMut() -> bool) -> bool {
    for _ in 0..1000 {
        if cond() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    false
}

fn initialized() -> Value {
    json!({"jsonrpc": "2.0", "method": "notifications/initialized"})
}

/// A whole session as a client drives it; returns its transcript (no session ids).
async fn session(m: &mut Mcp) -> Vec<Value> {
    let mut t = Vec::new();
    let init = m.initialize().await;
    assert!(init.session.is_some(), "the client learns its session id");
    t.push(json!({"initialize": init.status, "result": init.messages}));
    let note = m.post(initialized()).await;
    t.push(json!({"initialized": note.status, "content_type": note.content_type}));
    let mut get = m.get().await;
    t.push(json!({"get": next_event(&mut get).await}));
    let tools = m
        .post(json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}))
        .await;
    t.push(json!({"tools/list": tools.status, "result": tools.messages}));
    // A string id that looks like a server's id: the client's own, kept.
    let call = m
        .post(
            json!({"jsonrpc": "2.0", "id": "call-0001-abcdefgh", "method": "tools/call",
            "params": {"name": "echo", "arguments": {"text": "hello"}}}),
        )
        .await;
    t.push(json!({"tools/call": call.status, "result": call.messages}));
    t.push(json!({"delete": m.delete().await}));
    assert!(
        ends(&mut get).await,
        "the session's DELETE ends its GET stream"
    );
    m.session = None;
    t
}

/// Rows 1, 2, 3, 5 (DELETE), 8, 9, 12, 14: two identical sessions in one test record,
/// with every status a success, the same bytes twice, and replay the same transcript
/// with the server stopped.
#[tokio::test]
async fn two_sessions_record_byte_identical_and_replay_offline() {
    let fake = FakeUpstream::start();
    let id = "mcp::two_sessions";
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let mut transcripts = Vec::new();
    let mut real_ids = Vec::new();
    for dir in &dirs {
        let rec = mcp_ctx(id, Mode::Record, dir.path(), &fake);
        let mut m = Mcp::new(&rec);
        let mut t = session(&mut m).await;
        real_ids.push(
            fake.requests()
                .last()
                .unwrap()
                .header("mcp-session-id")
                .unwrap()
                .to_owned(),
        );
        t.extend(session(&mut m).await);
        assert_clean(&rec);
        transcripts.push(t);
    }
    assert_ne!(
        real_ids[0], real_ids[1],
        "the fake issues fresh session ids"
    );
    assert_eq!(transcripts[0], transcripts[1]);
    let text = Value::from(transcripts[0].clone()).to_string();
    for status in [
        "\"initialize\":200",
        "\"initialized\":202",
        "\"tools/list\":200",
        "\"tools/call\":200",
        "\"delete\":200",
    ] {
        assert_eq!(text.matches(status).count(), 2, "{status} twice in {text}");
    }
    assert!(text.contains(r#""id":"call-0001-abcdefgh""#), "{text}");
    let (a, b) = (snapshot(dirs[0].path()), snapshot(dirs[1].path()));
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    for (name, bytes) in &a {
        assert!(bytes == &b[name], "{name} differs between two recordings");
    }
    assert!(
        a.keys().any(|k| k.ends_with(".2.json")),
        "the second session is the requests' second occurrence: {:?}",
        a.keys()
    );
    let all: String = a
        .values()
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .collect();
    assert!(!all.contains(&real_ids[0]), "no real session id is stored");
    assert!(!all.contains("ping"), "keep-alives are not stored");

    // The session id is the initialize's placeholder, in every answer of its session.
    let rec = mcp_ctx(id, Mode::Replay, dirs[0].path(), &fake);
    let mut sessions: Vec<String> = recorded(&rec, "POST", "initialize")
        .iter()
        .map(|r| {
            r["response"]["headers"]["mcp-session-id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    sessions.sort();
    let first = sessions[0].clone();
    assert!(first.starts_with("rec-") && first.len() == 16, "{first}");
    assert_eq!(sessions, [first.clone(), format!("{first}.2")]);
    for r in recorded(&rec, "POST", "tools/list") {
        assert!(r["response"]["headers"]["mcp-session-id"]
            .as_str()
            .unwrap()
            .starts_with(&first));
    }
    let call = &recorded(&rec, "POST", "tools/call")[0];
    assert_eq!(
        call["response"]["stream"]["frames"][0]["data"]["id"],
        "call-0001-abcdefgh"
    );
    drop(rec);

    fake.stop();
    let rep = mcp_ctx(id, Mode::Replay, dirs[0].path(), &fake);
    let mut m = Mcp::new(&rep);
    let mut t = session(&mut m).await;
    t.extend(session(&mut m).await);
    assert_clean(&rep);
    assert_eq!(t, transcripts[0], "the replay is the recorded session");
}

/// Row 1: every `mcp-*` header and `Last-Event-ID` reach the server as the client
/// sent them; none is stored.
#[tokio::test]
async fn mcp_request_headers_reach_the_server() {
    let fake = FakeUpstream::start();
    let dir = tempfile::tempdir().unwrap();
    let rec = mcp_ctx("mcp::headers", Mode::Record, dir.path(), &fake);
    let mut m = Mcp::new(&rec);
    m.initialize().await;
    let sent = m
        .send(
            m.request(reqwest::Method::POST)
                .header("Mcp-Method", "tools/call")
                .header("Mcp-Name", "echo")
                .header("Mcp-Param-Text", "Paris-header-value")
                .header("Last-Event-ID", "evt-0042")
                .json(&json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                    "params": {"name": "echo", "arguments": {"text": "hi"}}})),
        )
        .await;
    assert_eq!(sent.status, 200, "{sent:?}");
    let seen = fake.requests().pop().unwrap();
    for (name, value) in [
        ("mcp-session-id", m.session.as_deref().unwrap()),
        ("mcp-protocol-version", PROTOCOL),
        ("mcp-method", "tools/call"),
        ("mcp-name", "echo"),
        ("mcp-param-text", "Paris-header-value"),
        ("last-event-id", "evt-0042"),
    ] {
        assert_eq!(seen.header(name), Some(value), "{name}");
    }
    assert_clean(&rec);
    let all: String = files(dir.path())
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();
    assert!(!all.contains("Paris-header-value") && !all.contains("evt-0042"));
}

/// Rows 2, 3: the client gets the server's real session id recording and the
/// placeholder replaying, and sends either back.
#[tokio::test]
async fn the_session_id_is_real_recording_and_a_placeholder_replaying() {
    let fake = FakeUpstream::start();
    let dir = tempfile::tempdir().unwrap();
    let id = "mcp::session_id";
    let rec = mcp_ctx(id, Mode::Record, dir.path(), &fake);
    let mut m = Mcp::new(&rec);
    let init = m.initialize().await;
    let real = init.session.clone().unwrap();
    assert_eq!(real.len(), 32, "the server's own id: {real}");
    assert!(!real.contains("rec-"));
    let tools = m
        .post(json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}))
        .await;
    assert_eq!(tools.status, 200, "the server knows the session: {tools:?}");
    assert_eq!(tools.session.as_deref(), Some(real.as_str()));
    assert_clean(&rec);

    fake.stop();
    let rep = mcp_ctx(id, Mode::Replay, dir.path(), &fake);
    let mut m = Mcp::new(&rep);
    let init = m.initialize().await;
    let placeholder = init.session.clone().unwrap();
    assert!(placeholder.starts_with("rec-"), "{placeholder}");
    let tools = m
        .post(json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}))
        .await;
    assert_eq!(tools.session.as_deref(), Some(placeholder.as_str()));
    assert_eq!(tools.messages[0]["result"]["tools"][0]["name"], "echo");
    assert_clean(&rep);
}

/// Row 4: in record-if-missing, a request that misses after a replayed initialize
/// carries the placeholder session id: refused before it goes upstream, nothing
/// written, the JSON-RPC error names what to do, and the test fails.
#[tokio::test]
async fn record_if_missing_refuses_a_replayed_session_id() {
    let fake = FakeUpstream::start();
    let dir = tempfile::tempdir().unwrap();
    let id = "mcp::grows";
    let rec = mcp_ctx(id, Mode::Record, dir.path(), &fake);
    let mut m = Mcp::new(&rec);
    m.initialize().await;
    assert_clean(&rec);
    let before = snapshot(dir.path());
    let sent_before = fake.requests().len();

    let more = mcp_ctx(id, Mode::RecordIfMissing, dir.path(), &fake);
    let mut m = Mcp::new(&more);
    let init = m.initialize().await;
    assert!(
        init.session.as_deref().unwrap().starts_with("rec-"),
        "replayed"
    );
    let call = m
        .post(json!({"jsonrpc": "2.0", "id": 5, "method": "tools/call",
            "params": {"name": "echo", "arguments": {"text": "new"}}}))
        .await;
    assert_eq!(call.status, 400, "{call:?}");
    let error = &call.messages[0];
    assert_eq!(error["id"], 5, "the client can match it: {error}");
    let message = error["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("mcp-session-id") && message.contains("RECORD_MODE=record"),
        "{message}"
    );
    assert_eq!(fake.requests().len(), sent_before, "nothing went upstream");
    let problems = more.finish();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(
        snapshot(dir.path()).keys().collect::<Vec<_>>(),
        before.keys().collect::<Vec<_>>(),
        "nothing written"
    );
}

/// Rows 5 and 7: a session's GET stream is saved when the client leaves, with the
/// events it had and none of the keep-alives; the recorder closes it upstream.
#[tokio::test]
async fn a_get_stream_is_saved_when_the_client_leaves() {
    let fake = FakeUpstream::start();
    fake.set_mcp_ping_interval(Duration::from_millis(5));
    let dir = tempfile::tempdir().unwrap();
    let rec = mcp_ctx("mcp::client_leaves", Mode::Record, dir.path(), &fake);
    let mut m = Mcp::new(&rec);
    m.initialize().await;
    let mut get = m.get().await;
    assert!(next_event(&mut get).await.unwrap().contains("stream open"));
    // Some keep-alives pass to the client live.
    let mut pings = 0;
    while pings < 3 {
        let chunk = get.chunk().await.unwrap().unwrap();
        pings += usize::from(chunk.starts_with(b": ping"));
    }
    drop(get);
    assert!(
        eventually(|| recorded(&rec, "GET", "").len() == 1).await,
        "saved when the client left"
    );
    assert!(
        eventually(|| fake.mcp_streams_open() == 0).await,
        "and closed upstream"
    );
    let frames = frames(&recorded(&rec, "GET", "")[0]);
    assert_eq!(frames.len(), 1, "the event, no keep-alive: {frames:?}");
    assert_eq!(frames[0]["data"]["params"]["data"], "stream open");
    assert_eq!(fake.mcp_sessions(), 1, "the session itself lives on");
    assert_clean(&rec);
}

/// Row 5: a GET stream longer than RECORDER_OPEN_STREAM_SECS is saved at the cap and
/// ends for the client; the end of the test saves one still open.
#[tokio::test]
async fn a_get_stream_is_saved_at_the_cap_or_when_the_test_ends() {
    let fake = FakeUpstream::start();
    let dir = tempfile::tempdir().unwrap();
    let capped = mcp_ctx_with(
        "mcp::cap",
        Mode::Record,
        dir.path(),
        &fake,
        &[("RECORDER_OPEN_STREAM_SECS", "0.3")],
    );
    let mut m = Mcp::new(&capped);
    m.initialize().await;
    let mut get = m.get().await;
    assert!(next_event(&mut get).await.is_some());
    assert!(ends(&mut get).await, "the stream ends at the cap");
    assert!(eventually(|| recorded(&capped, "GET", "").len() == 1).await);
    assert_eq!(fake.mcp_sessions(), 1, "no DELETE was sent");
    assert_clean(&capped);

    let open = mcp_ctx("mcp::test_ends", Mode::Record, dir.path(), &fake);
    let mut m = Mcp::new(&open);
    m.initialize().await;
    let mut get = m.get().await;
    assert!(next_event(&mut get).await.is_some());
    // The test ends with its client still reading (a client that was never closed).
    let problems = open.finish();
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(
        recorded(&open, "GET", "").len(),
        1,
        "saved at the end of the test"
    );
    assert!(ends(&mut get).await);
}

/// Rows 6 and 9: replayed, a session's GET stream serves its recorded event and then
/// stays open (a client whose stream ends reconnects in a loop) until the session's
/// DELETE.
#[tokio::test]
async fn a_replayed_get_stream_stays_open_until_the_sessions_delete() {
    let fake = FakeUpstream::start();
    let dir = tempfile::tempdir().unwrap();
    let id = "mcp::replay_open";
    let rec = mcp_ctx(id, Mode::Record, dir.path(), &fake);
    let mut m = Mcp::new(&rec);
    m.initialize().await;
    let mut get = m.get().await;
    assert!(next_event(&mut get).await.is_some());
    assert_eq!(m.delete().await, 200);
    assert!(ends(&mut get).await);
    assert_clean(&rec);

    fake.stop();
    let rep = mcp_ctx(id, Mode::Replay, dir.path(), &fake);
    let mut m = Mcp::new(&rep);
    m.initialize().await;
    let mut get = m.get().await;
    assert!(next_event(&mut get).await.unwrap().contains("stream open"));
    assert!(
        stays_open(&mut get, Duration::from_millis(300)).await,
        "held open after its events"
    );
    assert_eq!(m.delete().await, 200);
    assert!(ends(&mut get).await, "the DELETE ends it");
    assert_clean(&rep);
}

/// Row 10: a notification's 202 with an empty body records and replays as such.
#[tokio::test]
async fn notifications_get_202_recording_and_replaying() {
    let fake = FakeUpstream::start();
    let dir = tempfile::tempdir().unwrap();
    let id = "mcp::accepted";
    let mut answers = Vec::new();
    for mode in [Mode::Record, Mode::Replay] {
        if mode == Mode::Replay {
            fake.stop();
        }
        let c = mcp_ctx(id, mode, dir.path(), &fake);
        let mut m = Mcp::new(&c);
        m.initialize().await;
        let a = m.post(initialized()).await;
        answers.push((a.status, a.content_type, a.messages));
        if mode == Mode::Record {
            let r = &recorded(&c, "POST", "notifications/initialized")[0];
            assert_eq!(r["response"]["status"], 202);
            assert!(r["response"].get("body").is_none(), "{r}");
        }
        assert_clean(&c);
    }
    assert_eq!(
        answers[0],
        (202, "application/json".to_string(), Vec::new())
    );
    assert_eq!(answers[0], answers[1]);
}

/// Row 11 (design): a resumable server's SSE event ids are server-issued ids: real
/// to the client recording, placeholders stored and replayed, the same bytes twice.
#[tokio::test]
async fn sse_event_ids_are_placeholders_in_recordings() {
    let fake = FakeUpstream::start();
    fake.set_mcp_event_ids(true);
    let id = "mcp::event_ids";
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let mut seen = Vec::new();
    for dir in &dirs {
        let rec = mcp_ctx(id, Mode::Record, dir.path(), &fake);
        let mut m = Mcp::new(&rec);
        m.initialize().await;
        let tools = m
            .post(json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}))
            .await;
        assert_eq!(
            tools.event_ids.len(),
            2,
            "a priming event and the answer: {tools:?}"
        );
        assert!(
            tools.event_ids.iter().all(|i| !i.contains("rec-")),
            "real ids live"
        );
        seen.push(tools.event_ids);
        assert_clean(&rec);
    }
    assert_ne!(seen[0], seen[1]);
    assert_eq!(snapshot(dirs[0].path()), snapshot(dirs[1].path()));
    fake.stop();
    let rep = mcp_ctx(id, Mode::Replay, dirs[0].path(), &fake);
    let mut m = Mcp::new(&rep);
    m.initialize().await;
    let tools = m
        .post(json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}))
        .await;
    assert_eq!(tools.event_ids.len(), 2);
    assert!(
        tools.event_ids.iter().all(|i| i.starts_with("rec-")),
        "{:?}",
        tools.event_ids
    );
    assert_ne!(tools.event_ids[0], tools.event_ids[1]);
    assert_clean(&rep);
}

/// A replay miss on a JSON-RPC request is the JSON-RPC error of that request (rmcp
/// waits forever for an answer it cannot match), with the recorder's explanation,
/// and fails the test.
#[tokio::test]
async fn a_replay_miss_is_a_json_rpc_error_the_client_can_match() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeUpstream::start();
    let rep = mcp_ctx("mcp::miss", Mode::Replay, dir.path(), &fake);
    let m = Mcp::new(&rep);
    let a = m
        .post(json!({"jsonrpc": "2.0", "id": "req-7", "method": "tools/list"}))
        .await;
    assert_eq!(
        a.status, 400,
        "not 404, which MCP clients read as a lost session"
    );
    assert_eq!(a.messages[0]["id"], "req-7");
    assert_eq!(
        a.messages[0]["error"]["code"],
        recorder_runtime::mcp::RECORDER_ERROR_CODE
    );
    let message = a.messages[0]["error"]["message"].as_str().unwrap();
    assert!(message.contains("no recording"), "{message}");
    assert_eq!(rep.finish().len(), 1, "the miss fails the test");
    assert!(fake.requests().is_empty());
}

/// rmcp (the official Rust SDK) through the proxy: records a session against the fake
/// and replays it offline; replayed, a call that was never recorded fails with the
/// recorder's explanation instead of leaving rmcp waiting for an answer it cannot
/// match (design row 11), and fails the test.
#[tokio::test]
async fn rmcp_replays_and_a_miss_fails_its_call_with_the_explanation() {
    use rmcp::model::CallToolRequestParams;
    use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
    use rmcp::transport::StreamableHttpClientTransport;
    use rmcp::ServiceExt;
    async fn connect(
        ctx: &RecordingContext,
    ) -> rmcp::service::RunningService<rmcp::RoleClient, ()> {
        let transport = StreamableHttpClientTransport::with_client(
            http(),
            StreamableHttpClientTransportConfig::with_uri(format!("{}mcp", ctx.ollama_url())),
        );
        ().serve(transport).await.expect("an MCP session")
    }
    fn echo(text: &str) -> CallToolRequestParams {
        let args = json!({"text": text}).as_object().unwrap().clone();
        CallToolRequestParams::new("echo").with_arguments(args)
    }
    let fake = FakeUpstream::start();
    let dir = tempfile::tempdir().unwrap();
    let id = "mcp::rmcp";
    let mut said = Vec::new();
    for mode in [Mode::Record, Mode::Replay] {
        if mode == Mode::Replay {
            fake.stop();
        }
        let c = mcp_ctx(id, mode, dir.path(), &fake);
        let mcp = connect(&c).await;
        let tools = mcp.list_all_tools().await.unwrap();
        assert_eq!(tools[0].name, "echo");
        let answer = mcp.call_tool(echo("hello")).await.unwrap();
        said.push(serde_json::to_value(&answer.content).unwrap());
        if mode == Mode::Replay {
            let missed = tokio::time::timeout(
                Duration::from_secs(20),
                mcp.call_tool(echo("never recorded")),
            )
            .await
            .expect("the call fails rather than waits");
            let message = missed.unwrap_err().to_string();
            assert!(message.contains("no recording"), "{message}");
        }
        mcp.cancel().await.unwrap();
        let problems = c.finish();
        assert_eq!(
            problems.len(),
            usize::from(mode == Mode::Replay),
            "{problems:?}"
        );
    }
    assert_eq!(said[0], json!([{"type": "text", "text": "hello"}]));
    assert_eq!(said[0], said[1]);
}

/// A 2026-07-28 `subscriptions/listen` stream (no session) is open-ended too: saved
/// when the client leaves, replayed held open until the client leaves.
#[tokio::test]
async fn a_listen_stream_is_open_ended() {
    let fake = FakeUpstream::start();
    let dir = tempfile::tempdir().unwrap();
    let id = "mcp::listen";
    let listen = |c: &RecordingContext| {
        let m = Mcp::new(c);
        m.request(reqwest::Method::POST)
            .header("mcp-protocol-version", "2026-07-28")
            .header("mcp-method", "subscriptions/listen")
            .json(
                &json!({"jsonrpc": "2.0", "id": 1, "method": "subscriptions/listen", "params": {}}),
            )
            .send()
    };
    let rec = mcp_ctx(id, Mode::Record, dir.path(), &fake);
    let mut stream = listen(&rec).await.unwrap();
    assert!(next_event(&mut stream)
        .await
        .unwrap()
        .contains("stream open"));
    drop(stream);
    assert!(eventually(|| recorded(&rec, "POST", "subscriptions/listen").len() == 1).await);
    assert!(eventually(|| fake.mcp_streams_open() == 0).await);
    assert_clean(&rec);

    fake.stop();
    let rep = mcp_ctx(id, Mode::Replay, dir.path(), &fake);
    let mut stream = listen(&rep).await.unwrap();
    assert!(next_event(&mut stream)
        .await
        .unwrap()
        .contains("stream open"));
    assert!(stays_open(&mut stream, Duration::from_millis(300)).await);
    drop(stream);
    assert_clean(&rep);
}
