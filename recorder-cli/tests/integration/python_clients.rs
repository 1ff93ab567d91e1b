//! Clients nobody here wrote, through `cargo recordings serve`: the README's
//! Python `openai` snippet records and replays, and its pytest `conftest.py` scopes
//! the model calls of a service that forwards no test id by the test that runs, so a
//! part of the suite replays, and a miss the service turns into a 500 fails the test.
//!
//! Both run the README's own code blocks, with real `openai` and `pytest` packages from
//! PyPI in a venv under `target/tmp/`. Without python3, its venv module or PyPI, the
//! tests say why and pass, unless `RECORDER_REQUIRE_PYTHON_CLIENTS=1` (a CI step that
//! has them) makes that a failure.

use crate::support::{s, Serve};
use recorder_cli::{EXIT_OK, EXIT_PROBLEMS};
use recorder_testkit::fake::FakeUpstream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// What `pip` installs: the majors the snippets are written for.
const PACKAGES: [&str; 2] = ["openai>=1.40,<3", "pytest>=8,<10"];

/// The venv's python with `openai` and `pytest`, made once per run; the reason when it
/// cannot be had.
fn python() -> Result<PathBuf, String> {
    static PYTHON: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    PYTHON
        .get_or_init(|| {
            let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join("python-clients");
            let python = venv.join("bin/python");
            let ready = |python: &Path| {
                Command::new(python)
                    .args(["-c", "import openai, pytest"])
                    .output()
                    .is_ok_and(|o| o.status.success())
            };
            if ready(&python) {
                return Ok(python);
            }
            let made = Command::new("python3")
                .args(["-m", "venv", "--clear"])
                .arg(&venv)
                .output()
                .map_err(|e| format!("python3 is not available ({e})"))?;
            if !made.status.success() {
                return Err(format!(
                    "python3 -m venv failed (on Debian: apt-get install python3-venv): {}",
                    String::from_utf8_lossy(&made.stderr).trim()
                ));
            }
            let pip = Command::new(&python)
                .args([
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                    // Offline, fail soon rather than retry for minutes.
                    "--timeout",
                    "15",
                    "--retries",
                    "1",
                ])
                .args(PACKAGES)
                .output()
                .map_err(|e| format!("cannot run pip: {e}"))?;
            if !pip.status.success() || !ready(&python) {
                return Err(format!(
                    "pip could not install {} (no PyPI?): {}",
                    PACKAGES.join(" "),
                    String::from_utf8_lossy(&pip.stderr).trim()
                ));
            }
            Ok(python)
        })
        .clone()
}

/// The venv's python, or `None` after saying why the test is skipped (a failure when
/// `RECORDER_REQUIRE_PYTHON_CLIENTS=1`).
fn python_or_skip() -> Option<PathBuf> {
    match python() {
        Ok(p) => Some(p),
        Err(why) => {
            if std::env::var("RECORDER_REQUIRE_PYTHON_CLIENTS").is_ok_and(|v| v == "1") {
                panic!("RECORDER_REQUIRE_PYTHON_CLIENTS=1 but {why}");
            }
            eprintln!("SKIPPED: {why}; the Python clients were not run through serve");
            None
        }
    }
}

/// The first ```python block after `marker` in the README.
fn readme_block(marker: &str) -> String {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md"))
            .unwrap();
    let after = readme
        .split(marker)
        .nth(1)
        .unwrap_or_else(|| panic!("README.md has no {marker:?}"));
    let block = after.split("```python\n").nth(1).unwrap();
    block.split("\n```").next().unwrap().to_owned() + "\n"
}

fn run(python: &Path, cwd: &Path, args: &[&str], url: &str, env: &[(&str, &str)]) -> Output {
    Command::new(python)
        .args(args)
        .current_dir(cwd)
        .env("RECORDER_URL", url)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env_remove("PYTEST_ADDOPTS")
        .env_remove("OPENAI_API_KEY")
        .env_remove("OPENAI_BASE_URL")
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn summary(stderr: &str) -> &str {
    stderr
        .lines()
        .find(|l| l.starts_with("recorder: serve summary: "))
        .unwrap_or_else(|| panic!("no summary line in:\n{stderr}"))
}

#[test]
fn the_readme_python_openai_snippet_records_and_replays_through_serve() {
    let Some(python) = python_or_skip() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("recordings");
    let script = tmp.path().join("client.py");
    std::fs::write(
        &script,
        readme_block("recorder-cli/tests/integration/python_clients.rs runs this block"),
    )
    .unwrap();
    let fake = FakeUpstream::start();
    let serve = Serve::recording(&dir, &fake.openai_url(), &["--port", "0"], &[]);
    let recorded = run(&python, tmp.path(), &[s(&script)], &serve.url, &[]);
    assert!(recorded.status.success(), "{}", text(&recorded));
    let said = String::from_utf8(recorded.stdout).unwrap();
    let lines: Vec<&str> = said.lines().collect();
    assert_eq!(lines.len(), 2, "{said}");
    assert!(
        !lines[0].is_empty() && lines[0] == lines[1],
        "the stream says what the answer said: {said}"
    );
    let (code, stderr) = serve.signal("-INT");
    assert_eq!(code, Some(EXIT_OK), "{stderr}");
    assert_eq!(
        summary(&stderr),
        "recorder: serve summary: 0 replayed, 2 recorded, 0 live, 0 verified, 0 missed, 0 without a test id, 0 problems"
    );
    assert_eq!(
        std::fs::read_dir(dir.join("python/capital_of_france"))
            .unwrap()
            .count(),
        2
    );
    fake.stop();

    // Offline: the same lines, from the recordings.
    let serve = Serve::replaying(&dir);
    let replayed = run(&python, tmp.path(), &[s(&script)], &serve.url, &[]);
    assert!(replayed.status.success(), "{}", text(&replayed));
    assert_eq!(String::from_utf8(replayed.stdout).unwrap(), said);
    let (code, stderr) = serve.signal("-INT");
    assert_eq!(code, Some(EXIT_OK), "{stderr}");
    assert_eq!(
        summary(&stderr),
        "recorder: serve summary: 2 replayed, 0 recorded, 0 live, 0 verified, 0 missed, 0 without a test id, 0 problems"
    );
}

/// A pytest suite against a third-party-like service: it answers `/ask` with the
/// model's answer, calls the model through `openai` at `serve`, and forwards no test
/// id; an error of the model call becomes its own 500.
const SUITE: &str = r#"
import http.server
import json
import os
import threading
import urllib.error
import urllib.request

import pytest
from openai import OpenAI

SUFFIX = os.environ.get("QUESTION_SUFFIX", "")


class Service(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        question = json.loads(self.rfile.read(int(self.headers["Content-Length"])))["question"]
        model = OpenAI(base_url=os.environ["RECORDER_URL"] + "/v1", api_key="unused", max_retries=0)
        try:
            answer = model.chat.completions.create(model="m", messages=[{"role": "user", "content": question}])
            status, body = 200, {"answer": answer.choices[0].message.content}
        except Exception as e:  # what a service does: its own 500
            status, body = 500, {"error": str(e)}
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="session")
def service():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Service)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def ask(service, question):
    request = urllib.request.Request(
        service + "/ask",
        data=json.dumps({"question": question}).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as e:
        return e.code, json.load(e)


def test_paris(service):
    status, body = ask(service, "Capital of France?")
    assert status == 200 and body["answer"]


def test_rome(service):
    status, body = ask(service, "Capital of Italy?")
    assert status == 200 and body["answer"]


def test_lenient(service):
    # A suite that counts the service's 500 as a pass: only the recorder sees a miss.
    ask(service, "Capital of Spain?" + SUFFIX)


def test_a_parallel_worker_cannot_begin():
    from conftest import _recorder

    with pytest.raises(RuntimeError, match="cannot begin"):
        _recorder("begin", "test_service.py::a_parallel_worker")
"#;

#[test]
fn the_readme_pytest_fixture_scopes_a_service_s_calls_by_the_running_test() {
    let Some(python) = python_or_skip() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let project = tmp.path().join("suite");
    std::fs::create_dir(&project).unwrap();
    std::fs::write(
        project.join("conftest.py"),
        readme_block(
            "recorder-cli/tests/integration/python_clients.rs runs the suite with this conftest.py",
        ),
    )
    .unwrap();
    std::fs::write(project.join("test_service.py"), SUITE).unwrap();
    let dir = tmp.path().join("recordings");
    let pytest = |url: &str, args: &[&str], env: &[(&str, &str)]| {
        let mut all = vec![
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "--rootdir",
            ".",
            "-q",
        ];
        all.extend_from_slice(args);
        run(&python, &project, &all, url, env)
    };

    // Record the whole suite.
    let fake = FakeUpstream::start();
    let serve = Serve::recording(&dir, &fake.openai_url(), &["--port", "0"], &[]);
    let out = pytest(&serve.url, &[], &[]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("4 passed"), "{}", text(&out));
    let (code, stderr) = serve.signal("-INT");
    assert_eq!(code, Some(EXIT_OK), "{stderr}");
    assert_eq!(
        summary(&stderr),
        "recorder: serve summary: 0 replayed, 3 recorded, 0 live, 0 verified, 0 missed, 0 without a test id, 0 problems"
    );
    for test in ["test_paris", "test_rome", "test_lenient"] {
        let folder = dir.join("test_service.py").join(test);
        assert_eq!(
            std::fs::read_dir(&folder).map(|d| d.count()).unwrap_or(0),
            1,
            "{} holds the test's one call",
            folder.display()
        );
    }
    assert!(!dir.join("_shared").exists(), "nothing without a test");
    fake.stop();

    // Replay a part of the suite, offline: its own answers, no miss.
    let serve = Serve::replaying(&dir);
    let out = pytest(&serve.url, &["-k", "rome"], &[]);
    assert!(out.status.success(), "{}", text(&out));
    let (code, stderr) = serve.signal("-INT");
    assert_eq!(code, Some(EXIT_OK), "{stderr}");
    assert_eq!(
        summary(&stderr),
        "recorder: serve summary: 1 replayed, 0 recorded, 0 live, 0 verified, 0 missed, 0 without a test id, 0 problems"
    );

    // A test whose request changed: the service answers 500, the test counts it as a
    // pass, and the fixture fails it with the recorder's explanation; serve exits 1.
    let serve = Serve::replaying(&dir);
    let out = pytest(
        &serve.url,
        &["-k", "lenient"],
        &[("QUESTION_SUFFIX", " (reworded)")],
    );
    let said = text(&out);
    assert!(!out.status.success(), "{said}");
    for part in [
        "1 passed, 3 deselected, 1 error",
        "ERROR at teardown of test_lenient",
        "recorder: no recording for POST /v1/chat/completions in test `test_service.py::test_lenient`",
        "restart `cargo recordings serve` with --mode record-if-missing",
    ] {
        assert!(said.contains(part), "{part:?} in:\n{said}");
    }
    let (code, stderr) = serve.signal("-INT");
    assert_eq!(code, Some(EXIT_PROBLEMS), "{stderr}");
    assert_eq!(
        summary(&stderr),
        "recorder: serve summary: 0 replayed, 0 recorded, 0 live, 0 verified, 1 missed, 0 without a test id, 1 problems"
    );
}
