//! Server mode end to end: a service process (this test binary, re-run as
//! `service_process`) with the test-id layer and a propagating outbound client,
//! started and stopped by the runtime, calling the fake upstream through the test
//! process's recorder.

mod fake_support;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use recorder_config::ServiceConfig;
use recorder_runtime::engine::Target;
use recorder_runtime::propagate::{self, PropagateMiddleware, TestIdLayer};
use recorder_runtime::{Mode, RecordingContext, Service};
use recorder_testkit::fake::FakeUpstream;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::LazyLock;
use std::time::{Duration, Instant};
use tower::{Layer, ServiceExt};

const SERVE_PORT_VAR: &str = "SERVICE_MODE_SERVE_PORT";
const CHILD_PORT_VAR: &str = "SERVICE_MODE_CHILD_PORT";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn answers(port: u16) -> bool {
    TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(300)).is_ok()
}

fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// This test binary, running only `test` (an ignored one).
fn this_binary(test: &str) -> Command {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([
        test,
        "--exact",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ]);
    cmd
}

/// The service under test: this binary, serving on `{port}`, its model calls going
/// to the recorder.
fn service_config(name: &str, port: u16) -> ServiceConfig {
    let exe = std::env::current_exe().unwrap().display().to_string();
    ServiceConfig {
        name: name.into(),
        command: vec![
            exe,
            "service_process".into(),
            "--exact".into(),
            "--ignored".into(),
            "--nocapture".into(),
        ],
        port,
        health: "/health".into(),
        env: BTreeMap::from([
            (SERVE_PORT_VAR.to_string(), "{port}".to_string()),
            (
                "MODEL_BASE_URL".to_string(),
                "{recorder_url}/v1".to_string(),
            ),
        ]),
        startup_timeout_secs: 60,
        cwd: None,
        url: None,
    }
}

static SHARED: LazyLock<ServiceConfig> = LazyLock::new(|| service_config("shared", free_port()));
static FAKE: LazyLock<FakeUpstream> = LazyLock::new(FakeUpstream::start);

fn context(test_id: &str, mode: Mode, dir: &Path) -> RecordingContext {
    fake_support::ctx(test_id, mode, dir, fake_support::target(&FAKE.openai_url()))
}

fn recordings_of(ctx: &RecordingContext) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(ctx.scope_dir())
        .map(|d| {
            d.map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

async fn ask(service: &Service, path: &str, question: &str) -> Value {
    let resp = service
        .post_json(path, &json!({ "q": question }))
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{path}: {}", resp.status());
    resp.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_tests_get_separate_recordings() {
    let dir = tempfile::tempdir().unwrap();
    let root = std::env::current_dir().unwrap();
    let (a, b) = (
        context("service_mode::concurrent::a", Mode::Record, dir.path()),
        context("service_mode::concurrent::b", Mode::Record, dir.path()),
    );
    let sa = Service::from_config(&a, &SHARED, &root).unwrap();
    let sb = Service::from_config(&b, &SHARED, &root).unwrap();
    assert_eq!(sa.base_url(), sb.base_url(), "one service per process");
    assert!(sa.started_here());

    let (ra, rb) = tokio::join!(
        ask(&sa, "/ask", "alpha question"),
        ask(&sb, "/ask", "beta question")
    );
    assert_eq!(ra["status"], 200, "{ra}");
    assert!(ra["text"].as_str().unwrap().contains("alpha"), "{ra}");
    assert!(rb["text"].as_str().unwrap().contains("beta"), "{rb}");
    assert!(a.finish().is_empty() && b.finish().is_empty());
    assert_eq!((a.counts().recorded, b.counts().recorded), (1, 1));
    let (files_a, files_b) = (recordings_of(&a), recordings_of(&b));
    assert_eq!((files_a.len(), files_b.len()), (1, 1));
    assert!(files_a[0].contains("alpha") && !files_a[0].contains("beta"));
    assert!(files_b[0].contains("beta") && !files_b[0].contains("alpha"));
    assert!(files_a[0].contains("service_mode::concurrent::a"));
    // The header that routed them is not sent upstream.
    assert!(FAKE
        .requests()
        .iter()
        .all(|r| r.header("x-recorder-test-id").is_none()));
    drop((sa, sb, a, b));

    // Replay: the same exchanges come from the files, each test its own.
    let (a, b) = (
        context("service_mode::concurrent::a", Mode::Replay, dir.path()),
        context("service_mode::concurrent::b", Mode::Replay, dir.path()),
    );
    let (sa, sb) = (
        Service::from_config(&a, &SHARED, &root).unwrap(),
        Service::from_config(&b, &SHARED, &root).unwrap(),
    );
    let (again_a, again_b) = tokio::join!(
        ask(&sa, "/ask", "alpha question"),
        ask(&sb, "/ask", "beta question")
    );
    assert_eq!((again_a, again_b), (ra, rb));
    assert_eq!((a.counts().replayed, b.counts().replayed), (1, 1));
    assert!(a.finish().is_empty() && b.finish().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_from_a_spawned_task_is_scoped_to_its_test() {
    let dir = tempfile::tempdir().unwrap();
    let root = std::env::current_dir().unwrap();
    let ctx = context("service_mode::spawned", Mode::Record, dir.path());
    let service = Service::from_config(&ctx, &SHARED, &root).unwrap();

    let spawned = ask(&service, "/ask_spawned", "gamma question").await;
    assert_eq!(spawned["status"], 200, "{spawned}");
    assert!(spawned["text"].as_str().unwrap().contains("gamma"));
    let files = recordings_of(&ctx);
    assert_eq!(files.len(), 1);
    assert!(files[0].contains("gamma"));

    // A plain tokio::spawn loses the test id: the recorder refuses the call
    // rather than record it outside the test.
    let lost = ask(&service, "/ask_unbound", "delta question").await;
    assert_eq!(lost["status"], 400, "{lost}");
    assert!(
        lost["text"].as_str().unwrap().contains("propagate::spawn"),
        "{lost}"
    );
    assert_eq!(recordings_of(&ctx).len(), 1);

    // A request naming a test that is not running is refused too.
    let stranger = Service::at(service.base_url(), "service_mode::not_running");
    let refused = ask(&stranger, "/ask", "epsilon").await;
    assert_eq!(refused["status"], 400, "{refused}");
    assert!(
        refused["text"].as_str().unwrap().contains("not running"),
        "{refused}"
    );
    assert!(ctx.finish().is_empty());
}

#[test]
fn a_started_service_stops_when_its_test_process_panics() {
    let port = free_port();
    let out = this_binary("child_panics_with_a_service")
        .env(CHILD_PORT_VAR, port.to_string())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("child: service running"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "the child test panics");
    wait_until("the service to stop", Duration::from_secs(10), || {
        !answers(port)
    });
}

#[test]
fn a_started_service_stops_when_its_test_process_is_killed() {
    let port = free_port();
    let mut child = this_binary("child_hangs_with_a_service")
        .env(CHILD_PORT_VAR, port.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_until("the service to start", Duration::from_secs(60), || {
        answers(port)
    });
    child.kill().unwrap(); // SIGKILL: no destructor, no handler runs
    child.wait().unwrap();
    wait_until("the service to stop", Duration::from_secs(10), || {
        !answers(port)
    });
}

#[test]
fn a_reused_service_is_left_running() {
    let port = free_port();
    let mut service = this_binary("service_process")
        .env(SERVE_PORT_VAR, port.to_string())
        .env("MODEL_BASE_URL", "http://127.0.0.1:9/v1")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    wait_until("the hand-started service", Duration::from_secs(60), || {
        answers(port)
    });
    let out = this_binary("child_reuses_a_service")
        .env(CHILD_PORT_VAR, port.to_string())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("child: reused"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::thread::sleep(Duration::from_millis(500));
    assert!(answers(port), "a reused service is left running");
    assert!(service.try_wait().unwrap().is_none());
    service.kill().unwrap();
    service.wait().unwrap();
}

#[test]
fn a_port_held_by_another_running_test_process_is_waited_for() {
    // nextest runs each test in its own process: the service another process
    // started talks to that process's recorder, so this one must not reuse it.
    let port = free_port();
    let root = std::env::current_dir().unwrap();
    let mut other = this_binary("child_hangs_with_a_service")
        .env(CHILD_PORT_VAR, port.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_until(
        "the other process's service",
        Duration::from_secs(60),
        || answers(port),
    );
    let impatient = ServiceConfig {
        startup_timeout_secs: 1,
        ..service_config("impatient", port)
    };
    let err = recorder_runtime::service::ensure(&impatient, &root).unwrap_err();
    assert!(
        matches!(&err, recorder_runtime::service::ServiceError::PortHeld {
            held: recorder_runtime::service::PortHeld::OtherProcess { test_pid, .. },
            ..
        } if *test_pid == other.id()),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains(&format!("test process {}", other.id())),
        "{err}"
    );

    // Once that process ends, its service stops and this process starts its own.
    let waiting = std::thread::spawn(move || {
        recorder_runtime::service::ensure(&service_config("patient", port), &root)
    });
    std::thread::sleep(Duration::from_millis(300));
    other.kill().unwrap();
    other.wait().unwrap();
    let running = waiting.join().unwrap().unwrap();
    assert!(running.started, "started here after the other one stopped");
    assert!(answers(port));
}

// ---------------------------------------------------------------------------
// Setup env, port and url overrides.

/// A context under setup `name` whose `env` is `env`.
fn context_under_setup(
    test_id: &str,
    dir: &Path,
    name: &str,
    env: &[(&str, String)],
) -> RecordingContext {
    let target = Target {
        setup: Some(name.into()),
        env: env
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
        ..fake_support::target(&FAKE.openai_url())
    };
    fake_support::ctx(test_id, Mode::Record, dir, target)
}

fn config_of(text: &str) -> recorder_config::Config {
    recorder_config::Config::parse(
        text,
        &std::env::current_dir().unwrap().join("recorder.toml"),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_started_service_gets_the_setup_env_and_its_port_from_a_variable() {
    let dir = tempfile::tempdir().unwrap();
    let (configured, overridden) = (free_port(), free_port());
    let exe = std::env::current_exe().unwrap().display().to_string();
    let config = config_of(&format!(
        "[services.envy]\ncommand = [{exe:?}, \"service_process\", \"--exact\", \"--ignored\", \"--nocapture\"]\nport = {configured}\nstartup_timeout_secs = 60\nenv = {{ {SERVE_PORT_VAR} = \"{{port}}\", MODEL_BASE_URL = \"{{recorder_url}}/v1\", FROM_SERVICE = \"service\" }}"
    ));
    let ctx = context_under_setup(
        "service_mode::setup_env",
        dir.path(),
        "envy-setup",
        &[
            // The port override comes from the setup's env, like any variable.
            ("RECORDER_SERVICE_ENVY_PORT", overridden.to_string()),
            ("FROM_SETUP", "setup".into()),
            // The service's own env beats the setup's.
            ("FROM_SERVICE", "setup".into()),
            // cargo sets this in the test process: the real variable wins.
            ("CARGO_MANIFEST_DIR", "/from-setup".into()),
        ],
    );
    let service = Service::for_test(&ctx, &config, Some("envy"), None).unwrap();
    assert!(service.started_here());
    assert_eq!(service.base_url(), format!("http://127.0.0.1:{overridden}"));
    assert!(
        !answers(configured),
        "nothing started on the configured port"
    );
    let env_of = |name: &'static str| {
        let service = service.clone();
        async move {
            service
                .get(&format!("/env?{name}"))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        }
    };
    assert_eq!(env_of("FROM_SETUP").await, "setup");
    assert_eq!(env_of("FROM_SERVICE").await, "service");
    assert_eq!(
        env_of("CARGO_MANIFEST_DIR").await,
        env!("CARGO_MANIFEST_DIR")
    );
    assert_eq!(
        env_of("RECORDER_SERVICE_ENVY_PORT").await,
        overridden.to_string()
    );
}

/// A tiny HTTP server answering 200 to everything; the request lines it saw.
fn health_server() -> (u16, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let mut reader = BufReader::new(conn.try_clone().unwrap());
            let mut line = String::new();
            if reader.read_line(&mut line).is_err() {
                continue;
            }
            log.lock().unwrap().push(line.trim_end().to_owned());
            let mut header = String::new();
            while reader.read_line(&mut header).is_ok_and(|n| n > 2) {
                header.clear();
            }
            let _ = conn
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok");
        }
    });
    (port, seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_url_points_at_a_running_instance_and_starts_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (running, seen) = health_server();
    let configured = free_port();
    // The command would fail if it were started.
    let config = config_of(&format!(
        "[services.remote]\ncommand = [\"/nonexistent/never-started\"]\nport = {configured}\nstartup_timeout_secs = 5\n\n[services.in-file]\nurl = \"http://127.0.0.1:{running}/base/\"\nhealth = \"/ready\"\nstartup_timeout_secs = 5"
    ));
    let ctx = context_under_setup(
        "service_mode::url",
        dir.path(),
        "remote-setup",
        &[(
            "RECORDER_SERVICE_REMOTE_URL",
            format!("http://127.0.0.1:{running}"),
        )],
    );
    let service = Service::for_test(&ctx, &config, Some("remote"), None).unwrap();
    assert!(!service.started_here());
    assert_eq!(service.base_url(), format!("http://127.0.0.1:{running}"));
    assert!(!answers(configured));
    assert_eq!(seen.lock().unwrap().as_slice(), ["GET /health HTTP/1.1"]);
    let status = service.get("/hello").send().await.unwrap().status();
    assert_eq!(status, 200);

    // `url` in recorder.toml: the health path goes under the URL's path.
    let service = Service::for_test(&ctx, &config, Some("in-file"), None).unwrap();
    assert!(!service.started_here());
    assert_eq!(
        service.url("/x"),
        format!("http://127.0.0.1:{running}/base/x")
    );
    assert!(
        seen.lock()
            .unwrap()
            .contains(&"GET /base/ready HTTP/1.1".to_owned()),
        "{:?}",
        seen.lock().unwrap()
    );
}

#[test]
fn a_service_url_that_does_not_answer_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let dead = free_port();
    let config = config_of("[services.gone]\ncommand = [\"/nonexistent/never-started\"]\nport = 1\nstartup_timeout_secs = 1");
    let ctx = context_under_setup(
        "service_mode::dead_url",
        dir.path(),
        "dead-setup",
        &[(
            "RECORDER_SERVICE_GONE_URL",
            format!("http://127.0.0.1:{dead}"),
        )],
    );
    let err = Service::for_test(&ctx, &config, Some("gone"), None)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&format!(
            "service `gone` is used at http://127.0.0.1:{dead}"
        )),
        "{err}"
    );
    assert!(
        err.contains("nothing is started, so its `env` is not applied"),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "did not answer 2xx on http://127.0.0.1:{dead}/health within 1s"
        )),
        "{err}"
    );
    // A bad value is an error naming the variable.
    let ctx = context_under_setup(
        "service_mode::bad_port",
        dir.path(),
        "bad-setup",
        &[("RECORDER_SERVICE_GONE_PORT", "99999".into())],
    );
    let err = Service::for_test(&ctx, &config, Some("gone"), None)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("RECORDER_SERVICE_GONE_PORT=\"99999\"") && err.contains("1 to 65535"),
        "{err}"
    );
}

// ---------------------------------------------------------------------------
// Run as child processes by the tests above; they do nothing on their own.

fn child_service() -> Option<(Service, RecordingContext, tempfile::TempDir)> {
    let port: u16 = std::env::var(CHILD_PORT_VAR).ok()?.parse().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ctx = RecordingContext::builder("service_mode::child")
        .mode(Mode::Live)
        .dir(dir.path())
        .target(Target::default())
        .build()
        .unwrap();
    let service = Service::from_config(
        &ctx,
        &service_config("child", port),
        &std::env::current_dir().unwrap(),
    )
    .unwrap();
    Some((service, ctx, dir))
}

#[test]
#[ignore = "run by a_started_service_stops_when_its_test_process_panics"]
fn child_panics_with_a_service() {
    let Some((service, _ctx, _dir)) = child_service() else {
        return;
    };
    assert!(service.started_here());
    println!("child: service running");
    panic!("the test fails while its service runs");
}

#[test]
#[ignore = "run by a_started_service_stops_when_its_test_process_is_killed"]
fn child_hangs_with_a_service() {
    let Some((service, _ctx, _dir)) = child_service() else {
        return;
    };
    assert!(service.started_here());
    std::thread::sleep(Duration::from_secs(120));
}

#[test]
#[ignore = "run by a_reused_service_is_left_running"]
fn child_reuses_a_service() {
    let Some((service, _ctx, _dir)) = child_service() else {
        return;
    };
    assert!(!service.started_here());
    println!("child: reused");
}

/// The service under test: `/ask` calls the model while handling the request,
/// `/ask_spawned` from a task started with `propagate::spawn`, `/ask_unbound` from a
/// plain `tokio::spawn`.
#[test]
#[ignore = "the service process of these tests"]
fn service_process() {
    let Some(port) = std::env::var(SERVE_PORT_VAR)
        .ok()
        .map(|p| p.parse::<u16>().unwrap())
    else {
        return;
    };
    let base = std::env::var("MODEL_BASE_URL").unwrap();
    recorder_runtime::engine::install_crypto_provider();
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(async move {
            let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
                .await
                .unwrap();
            let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
                .with(PropagateMiddleware)
                .build();
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                let (client, base) = (client.clone(), base.clone());
                tokio::spawn(async move {
                    let app = TestIdLayer.layer(tower::service_fn(move |req| {
                        handle(client.clone(), base.clone(), req)
                    }));
                    let svc = hyper::service::service_fn(move |req| app.clone().oneshot(req));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
}

async fn handle(
    client: reqwest_middleware::ClientWithMiddleware,
    base: String,
    req: http::Request<hyper::body::Incoming>,
) -> Result<http::Response<Full<Bytes>>, std::convert::Infallible> {
    let path = req.uri().path().to_owned();
    if path == "/health" {
        return Ok(http::Response::new(Full::new(Bytes::from_static(b"ok"))));
    }
    // `/env?NAME`: the service's own value of variable NAME (empty when unset).
    if path == "/env" {
        let name = req.uri().query().unwrap_or_default();
        let value = std::env::var(name).unwrap_or_default();
        return Ok(http::Response::new(Full::new(Bytes::from(value))));
    }
    let body: Value = serde_json::from_slice(&req.into_body().collect().await.unwrap().to_bytes())
        .unwrap_or(Value::Null);
    let question = body["q"].as_str().unwrap_or_default().to_owned();
    let call = chat(client, base, question);
    let (status, text) = match path.as_str() {
        "/ask" => call.await,
        "/ask_spawned" => propagate::spawn(call).await.unwrap(),
        "/ask_unbound" => tokio::spawn(call).await.unwrap(),
        _ => (404, String::new()),
    };
    Ok(http::Response::new(Full::new(Bytes::from(
        json!({ "status": status, "text": text }).to_string(),
    ))))
}

async fn chat(
    client: reqwest_middleware::ClientWithMiddleware,
    base: String,
    question: String,
) -> (u16, String) {
    let body =
        json!({ "model": "fake-chat", "messages": [{ "role": "user", "content": question }] });
    let resp = match client
        .post(format!("{base}/chat/completions"))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
    {
        Ok(r) => r,
        Err(e) => return (0, e.to_string()),
    };
    let status = resp.status().as_u16();
    let value: Value = resp.json().await.unwrap_or(Value::Null);
    let text = if status == 200 {
        value["choices"][0]["message"]["content"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    } else {
        value["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    (status, text)
}
