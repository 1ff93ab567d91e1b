//! What the CLI's integration tests share: a running `cargo recordings serve`.
// Each test binary uses a part of it.
#![allow(dead_code)]

use recorder_runtime::recording::{RecordedRequest, RecordedResponse, Recording};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Runs `cargo recordings` in-process with `args`: (exit code, stdout, stderr).
pub fn cli(args: &[&str]) -> (i32, String, String) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let mut argv = vec!["recordings"];
    argv.extend_from_slice(args);
    let code = recorder_cli::run(argv, &mut out, &mut err);
    (
        code,
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
    )
}

/// A chat recording of `test` asking `content`, answered 200 with `response`.
pub fn chat(test: &str, content: &str, response: Value) -> Recording {
    let body =
        serde_json::json!({"model": "m", "messages": [{"role": "user", "content": content}]});
    Recording {
        test_id: Some(test.into()),
        request: RecordedRequest {
            method: "POST".into(),
            endpoint: "/v1/chat/completions".into(),
            model: Some("m".into()),
            body,
        },
        response: RecordedResponse::plain(
            200,
            Some("application/json"),
            &serde_json::to_vec(&response).unwrap(),
        ),
    }
}

/// A path as a command-line argument.
pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A running `cargo recordings serve` whose stderr is collected as it comes.
pub struct Serve {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    /// `127.0.0.1:<port>`.
    pub addr: String,
    stderr: Arc<Mutex<String>>,
}

impl Serve {
    /// `cargo-recordings` with `args` (from `serve`), `env` added to its environment;
    /// returns once it says where it listens.
    pub fn start(args: &[&str], env: &[(&str, &str)]) -> Serve {
        Self::start_shell(None, args, env)
    }

    /// [`Serve::start`] in the folder `cwd` (where `--setup` finds `recorder.toml`).
    pub fn start_in(cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> Serve {
        Self::spawn(None, Some(cwd), args, env)
    }

    /// Starts it, optionally under `sh -c '<prefix>; exec ...'` (e.g. `ulimit -n 40`).
    pub fn start_shell(prefix: Option<&str>, args: &[&str], env: &[(&str, &str)]) -> Serve {
        Self::spawn(prefix, None, args, env)
    }

    fn spawn(
        prefix: Option<&str>,
        cwd: Option<&Path>,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Serve {
        let bin = env!("CARGO_BIN_EXE_cargo-recordings");
        let mut cmd = match prefix {
            Some(p) => {
                let mut c = Command::new("sh");
                c.arg("-c")
                    .arg(format!("{p}; exec \"$0\" \"$@\""))
                    .arg(bin)
                    .args(args);
                c
            }
            None => {
                let mut c = Command::new(bin);
                c.args(args);
                c
            }
        };
        if let Some(cwd) = cwd {
            cmd.current_dir(cwd);
        }
        let mut child = cmd
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = stderr.clone();
        let err = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                let mut s = sink.lock().unwrap();
                s.push_str(&line);
                s.push('\n');
            }
        });
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
            .to_owned();
        let addr = url.trim_start_matches("http://").to_owned();
        Serve {
            child,
            url,
            addr,
            stderr,
        }
    }

    /// `serve --dir <dir> --mode replay --port 0`.
    pub fn replaying(dir: &Path) -> Serve {
        Serve::start(
            &["serve", "--dir", s(dir), "--mode", "replay", "--port", "0"],
            &[],
        )
    }

    /// `serve --dir <dir> --mode record --upstream <upstream>` and `extra` arguments,
    /// with `env` added to its environment.
    pub fn recording(dir: &Path, upstream: &str, extra: &[&str], env: &[(&str, &str)]) -> Serve {
        let mut args = vec![
            "serve",
            "--dir",
            s(dir),
            "--mode",
            "record",
            "--upstream",
            upstream,
        ];
        args.extend_from_slice(extra);
        Serve::start(&args, env)
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Sends a signal and waits for the exit code.
    pub fn signal(mut self, sig: &str) -> (Option<i32>, String) {
        assert!(Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .unwrap()
            .success());
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                std::thread::sleep(Duration::from_millis(50));
                return (status.code(), self.stderr());
            }
            assert!(Instant::now() < deadline, "serve did not stop on {sig}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn rss_kb(&self) -> u64 {
        self.status_kb("VmRSS:")
    }

    /// The most memory the process held at once so far (`VmHWM`), kB.
    pub fn peak_rss_kb(&self) -> u64 {
        self.status_kb("VmHWM:")
    }

    fn status_kb(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    }

    pub fn cpu_ticks(&self) -> u64 {
        let stat =
            std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap_or_default();
        let fields: Vec<&str> = stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .split_whitespace()
            .collect();
        let n = |i: usize| {
            fields
                .get(i)
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        n(11) + n(12)
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
