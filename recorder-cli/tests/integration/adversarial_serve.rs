//! `cargo recordings serve` as an attacker and a careless user would try it:
//! a web page reaching the port, odd and hostile test ids, failed recordings, signals,
//! file-descriptor exhaustion, oversized answers, many tests; and the other commands
//! on a crafted recordings folder (issue 21): FIFOs, devices, symlinks, hidden folders,
//! OGX imports. The engine-level attacks
//! are in `recorder-runtime/tests/integration/adversarial.rs`.

use crate::support::{chat, cli, s, Serve};
use recorder_cli::index::Index;
use recorder_cli::{EXIT_ERROR, EXIT_OK, EXIT_PROBLEMS};
use recorder_runtime::recording::{RecordedResponse, Recording};
use recorder_runtime::store::{RecordingKey, Store};
use recorder_testkit::fake::{FakeUpstream, KeyIn};
use serde_json::json;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn raw(addr: &str, request: &[u8]) -> String {
    let Ok(mut sock) = std::net::TcpStream::connect(addr) else {
        return String::new();
    };
    sock.set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    sock.write_all(request).unwrap();
    let mut out = Vec::new();
    let _ = sock.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

fn http() -> reqwest::Client {
    recorder_runtime::engine::install_crypto_provider();
    reqwest::Client::new()
}

#[test]
fn a_web_page_cannot_spend_the_key_directly_or_by_dns_rebinding() {
    let fake = FakeUpstream::start();
    let key = "sk-serve-host-0123456789abcdef";
    let tmp = tempfile::tempdir().unwrap();
    let serve = Serve::recording(
        tmp.path(),
        &fake.openai_url(),
        &["--api-key-env", "SERVE_HOST_KEY"],
        &[("SERVE_HOST_KEY", key)],
    );
    let body = r#"{"model":"fake-chat","messages":[{"role":"user","content":"spend"}]}"#;
    for (host, origin) in [
        ("evil.example", None),
        (serve.addr.as_str(), Some("http://evil.example")),
        (
            &*format!(
                "rebind.evil.example:{}",
                serve.addr.split(':').nth(1).unwrap()
            ),
            Some("http://rebind.evil.example"),
        ),
        (serve.addr.as_str(), Some("null")),
    ] {
        let origin = origin
            .map(|o| format!("Origin: {o}\r\n"))
            .unwrap_or_default();
        let answer = raw(
            &serve.addr,
            format!(
                "POST /v1/chat/completions HTTP/1.1\r\nHost: {host}\r\n{origin}Content-Type: text/plain\r\nX-Recorder-Test-Id: web::page\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        );
        assert!(
            answer.starts_with("HTTP/1.1 403"),
            "{host} {origin}: {answer}"
        );
    }
    assert!(fake.requests().is_empty(), "the key never went upstream");
    assert!(files(tmp.path()).is_empty());
}

/// What Chromium 148 sends for a page at `http://evil.example:44825/` (or, `same-site`,
/// at another port of 127.0.0.1) that embeds or fetches the recorder's URL, captured
/// from headless Chromium; `{host}` is the recorder's address.
const CHROMIUM_IMG: &str = "GET /v1/models HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nsec-ch-ua-platform: \"Linux\"\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/148.0.0.0 Safari/537.36\r\nsec-ch-ua: \"Not/A)Brand\";v=\"99\", \"Chromium\";v=\"148\"\r\nsec-ch-ua-mobile: ?0\r\nAccept: image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8\r\nSec-Fetch-Site: {site}\r\nSec-Fetch-Mode: no-cors\r\nSec-Fetch-Dest: image\r\nSec-Fetch-Storage-Access: none\r\nReferer: http://evil.example:44825/\r\nAccept-Encoding: gzip, deflate, br, zstd\r\nAccept-Language: en-US,en;q=0.9\r\n\r\n";
/// `fetch(url, {mode: "no-cors"})`: a GET without `Origin`.
const CHROMIUM_FETCH_NO_CORS: &str = "GET /v1/models HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nsec-ch-ua-platform: \"Linux\"\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/148.0.0.0 Safari/537.36\r\nsec-ch-ua: \"Not/A)Brand\";v=\"99\", \"Chromium\";v=\"148\"\r\nsec-ch-ua-mobile: ?0\r\nAccept: */*\r\nSec-Fetch-Site: {site}\r\nSec-Fetch-Mode: no-cors\r\nSec-Fetch-Dest: empty\r\nReferer: http://evil.example:44825/\r\nAccept-Encoding: gzip, deflate, br, zstd\r\nAccept-Language: en-US,en;q=0.9\r\n\r\n";
/// `fetch(url)`: a CORS GET, with the page's `Origin`.
const CHROMIUM_FETCH_CORS: &str = "GET /v1/models HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nsec-ch-ua-platform: \"Linux\"\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/148.0.0.0 Safari/537.36\r\nsec-ch-ua: \"Not/A)Brand\";v=\"99\", \"Chromium\";v=\"148\"\r\nsec-ch-ua-mobile: ?0\r\nAccept: */*\r\nOrigin: {origin}\r\nSec-Fetch-Site: {site}\r\nSec-Fetch-Mode: cors\r\nSec-Fetch-Dest: empty\r\nReferer: {origin}/\r\nAccept-Encoding: gzip, deflate, br, zstd\r\nAccept-Language: en-US,en;q=0.9\r\n\r\n";
/// The user opening the URL in the address bar.
const CHROMIUM_ADDRESS_BAR: &str = "GET /v1/models HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nUpgrade-Insecure-Requests: 1\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/148.0.0.0 Safari/537.36\r\nAccept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\nSec-Fetch-Site: none\r\nSec-Fetch-Mode: navigate\r\nSec-Fetch-User: ?1\r\nSec-Fetch-Dest: document\r\nAccept-Encoding: gzip, deflate, br, zstd\r\nAccept-Language: en-US,en;q=0.9\r\n\r\n";

#[test]
fn a_page_of_another_site_cannot_make_the_recorder_call_upstream_without_an_origin() {
    let fake = FakeUpstream::start();
    let tmp = tempfile::tempdir().unwrap();
    let serve = Serve::recording(
        tmp.path(),
        &fake.openai_url(),
        &["--api-key-env", "SERVE_IMG_KEY"],
        &[("SERVE_IMG_KEY", "sk-serve-img-0123456789abcdef")],
    );
    let send = |template: &str, site: &str, origin: &str| {
        let request = template
            .replace("{host}", &serve.addr)
            .replace("{site}", site)
            .replace("{origin}", origin);
        raw(&serve.addr, request.as_bytes())
    };
    // An `<img>` or a `no-cors` fetch from another site, or from another port of this
    // machine, and a CORS fetch from another site: refused, nothing goes upstream.
    for (template, site, origin) in [
        (CHROMIUM_IMG, "cross-site", ""),
        (CHROMIUM_FETCH_NO_CORS, "cross-site", ""),
        (CHROMIUM_IMG, "same-site", ""),
        (CHROMIUM_FETCH_NO_CORS, "same-site", ""),
        (
            CHROMIUM_FETCH_CORS,
            "cross-site",
            "http://evil.example:44825",
        ),
    ] {
        let answer = send(template, site, origin);
        assert!(
            answer.starts_with("HTTP/1.1 403"),
            "{site} {origin}: {answer}"
        );
        assert!(
            answer.contains("another site") || answer.contains("cross-origin"),
            "{answer}"
        );
    }
    assert!(fake.requests().is_empty(), "the key never went upstream");
    assert!(files(tmp.path()).is_empty(), "nothing was written");
    // The user's own address bar, a CORS fetch from a page on this machine, and any
    // client that is not a browser are answered.
    for (template, site, origin) in [
        (CHROMIUM_ADDRESS_BAR, "none", ""),
        (CHROMIUM_FETCH_CORS, "same-site", "http://127.0.0.1:35081"),
    ] {
        let answer = send(template, site, origin);
        assert!(answer.starts_with("HTTP/1.1 200"), "{site}: {answer}");
    }
    let answer = raw(
        &serve.addr,
        format!(
            "GET /v1/models HTTP/1.1\r\nHost: {}\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\nConnection: close\r\n\r\n",
            serve.addr
        )
        .as_bytes(),
    );
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let (code, stderr) = serve.signal("-INT");
    assert_eq!(code, Some(0), "{stderr}");
}

#[test]
fn odd_test_ids_are_refused_and_utf8_ids_are_kept_apart() {
    let fake = FakeUpstream::start();
    let tmp = tempfile::tempdir().unwrap();
    let serve = Serve::recording(tmp.path(), &fake.openai_url(), &[], &[]);
    let body = r#"{"model":"fake-embed","input":"x"}"#;
    let send = |id: &[u8]| {
        let mut req = format!(
            "POST /v1/embeddings HTTP/1.1\r\nHost: {}\r\nX-Recorder-Test-Id: ",
            serve.addr
        )
        .into_bytes();
        req.extend_from_slice(id);
        req.extend_from_slice(
            format!(
                "\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        );
        raw(&serve.addr, &req)
    };
    for id in [
        "/",
        "//",
        "::",
        "_models",
        "_shared::x",
        ".hidden::x",
        "a::.b",
    ] {
        let answer = send(id.as_bytes());
        assert!(answer.starts_with("HTTP/1.1 400"), "{id}: {answer}");
        assert!(answer.contains("cannot have recordings"), "{id}: {answer}");
    }
    let answer = send(b"bad\xff\xfeid");
    assert!(
        answer.starts_with("HTTP/1.1 400") && answer.contains("not UTF-8"),
        "{answer}"
    );
    for id in ["tests::тест", "tests::ёжик", "../../etc/evil"] {
        assert!(send(id.as_bytes()).starts_with("HTTP/1.1 200"), "{id}");
    }
    let (code, stderr) = serve.signal("-INT");
    assert_eq!(
        code,
        Some(0),
        "refused requests are the client's errors (400), not failed recordings: {stderr}"
    );
    let written = files(tmp.path());
    assert!(written.iter().all(|p| p.starts_with(tmp.path())));
    let folders: std::collections::BTreeSet<PathBuf> = written
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|p| p.parent().unwrap().to_path_buf())
        .collect();
    assert_eq!(folders.len(), 3, "three ids, three folders: {folders:?}");
    assert!(
        !tmp.path().join("_models").exists()
            && !files(tmp.path())
                .iter()
                .any(|p| p.parent() == Some(tmp.path())
                    && p.extension().is_some_and(|e| e == "json"))
    );
}

/// An upstream that answers any request with a 200 SSE head and then the given bytes.
fn raw_upstream(body: &'static [u8], then_cut: bool) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let mut buf = [0u8; 65536];
            let _ = conn.read(&mut buf);
            let head = if then_cut {
                "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: 100000\r\n\r\n"
            } else {
                "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n"
            };
            let _ = conn.write_all(head.as_bytes());
            let _ = conn.write_all(body);
        }
    });
    format!("http://{addr}/v1")
}

#[test]
fn failed_recordings_are_reported_as_they_happen_and_fail_the_exit_status() {
    let cases: [(&'static [u8], bool, &str); 2] = [
        (
            b"data: {\"a\":1}\n\ndata: {\"b\":",
            true,
            "failed mid-response",
        ),
        (b"data: \xff\xfe not utf-8\n\n", false, "UTF-8"),
    ];
    for (body, cut, expected) in cases {
        let upstream = raw_upstream(body, cut);
        let tmp = tempfile::tempdir().unwrap();
        let serve = Serve::recording(tmp.path(), &upstream, &[], &[]);
        let answer = raw(
            &serve.addr,
            format!("POST /v1/chat/completions HTTP/1.1\r\nHost: {}\r\nX-Recorder-Test-Id: broken::stream\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{{}}", serve.addr).as_bytes(),
        );
        assert!(
            answer.starts_with("HTTP/1.1 200"),
            "the head was passed on: {answer}"
        );
        let deadline = Instant::now() + Duration::from_secs(10);
        while !serve.stderr().contains("problem in test `broken::stream`") {
            assert!(
                Instant::now() < deadline,
                "not reported as it happened: {}",
                serve.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(serve.stderr().contains(expected), "{}", serve.stderr());
        let (code, stderr) = serve.signal("-INT");
        assert_eq!(code, Some(1), "{stderr}");
        assert!(stderr.contains("stopped with 1 problem(s)"), "{stderr}");
        assert!(
            files(tmp.path())
                .iter()
                .all(|p| p.extension().is_none_or(|e| e != "json")),
            "nothing recorded"
        );
    }
}

#[test]
fn sigterm_waits_for_a_recording_in_flight_as_ctrl_c_does() {
    let fake = FakeUpstream::start();
    fake.set_chunk_delay(Duration::from_millis(100));
    let tmp = tempfile::tempdir().unwrap();
    let serve = Serve::recording(tmp.path(), &fake.openai_url(), &[], &[]);
    let body =
        r#"{"model":"fake-chat","stream":true,"messages":[{"role":"user","content":"slow"}]}"#;
    let mut sock = std::net::TcpStream::connect(&serve.addr).unwrap();
    sock.write_all(format!("POST /v1/chat/completions HTTP/1.1\r\nHost: {}\r\nX-Recorder-Test-Id: term::slow\r\nContent-Length: {}\r\n\r\n{body}", serve.addr, body.len()).as_bytes()).unwrap();
    let mut first = [0u8; 64];
    sock.read_exact(&mut first).unwrap();
    drop(sock); // the client goes away mid-stream
    let (code, stderr) = serve.signal("-TERM");
    assert_eq!(code, Some(0), "{stderr}");
    let recorded: Vec<PathBuf> = files(tmp.path())
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    assert_eq!(recorded.len(), 1, "the stream was recorded whole: {stderr}");
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&recorded[0]).unwrap()).unwrap();
    assert!(v["response"]["stream"]["frames"].as_array().unwrap().len() > 10);
}

#[test]
fn an_answer_over_the_limit_is_a_clear_error_and_no_partial_file() {
    let fake = FakeUpstream::start();
    let tmp = tempfile::tempdir().unwrap();
    let serve = Serve::recording(
        tmp.path(),
        &fake.openai_url(),
        &[],
        &[("RECORDER_MAX_BODY_BYTES", "300")],
    );
    let body =
        r#"{"model":"fake-chat","messages":[{"role":"user","content":"a long answer please"}]}"#;
    let answer = raw(
        &serve.addr,
        format!("POST /v1/chat/completions HTTP/1.1\r\nHost: {}\r\nX-Recorder-Test-Id: big::answer\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", serve.addr, body.len()).as_bytes(),
    );
    assert!(answer.starts_with("HTTP/1.1 502"), "{answer}");
    assert!(answer.contains("RECORDER_MAX_BODY_BYTES"), "{answer}");
    let (code, stderr) = serve.signal("-INT");
    assert_eq!(code, Some(1), "{stderr}");
    assert!(files(tmp.path())
        .iter()
        .all(|p| p.extension().is_none_or(|e| e != "json")));
}

#[test]
fn out_of_file_descriptors_the_accept_loop_waits_instead_of_spinning() {
    let tmp = tempfile::tempdir().unwrap();
    let serve = Serve::start_shell(
        Some("ulimit -n 48"),
        &[
            "serve",
            "--dir",
            s(tmp.path()),
            "--mode",
            "replay",
            "--port",
            "0",
        ],
        &[],
    );
    // Hold more connections than the server has descriptors for.
    let held: Vec<std::net::TcpStream> = (0..80)
        .filter_map(|_| std::net::TcpStream::connect(&serve.addr).ok())
        .collect();
    assert!(held.len() > 48, "the listen queue took them");
    std::thread::sleep(Duration::from_millis(300));
    let before = serve.cpu_ticks();
    std::thread::sleep(Duration::from_secs(2));
    let spent = serve.cpu_ticks() - before;
    // A spinning loop burns ~200 ticks (2 s of a core at 100 Hz); a waiting one a few.
    assert!(spent < 50, "the accept loop spun: {spent} ticks in 2 s");
    drop(held);
    // Once the connections are gone it serves again (the listen queue drains first).
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let answer = raw(
            &serve.addr,
            format!(
                "GET /health HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
                serve.addr
            )
            .as_bytes(),
        );
        if answer.starts_with("HTTP/1.1") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "it does not serve again: {answer:?}; stderr: {}",
            serve.stderr()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[tokio::test]
async fn twenty_thousand_test_ids_keep_memory_bounded() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(tmp.path()).unwrap();
    let serve = Serve::start(
        &[
            "serve",
            "--dir",
            s(tmp.path()),
            "--mode",
            "replay",
            "--port",
            "0",
            "--max-scopes",
            "64",
        ],
        &[],
    );
    let http = http();
    let url = serve.url.clone();
    let send = |i: usize| {
        let http = http.clone();
        let url = url.clone();
        async move {
            let r = http
                .post(format!("{url}/v1/embeddings"))
                .header("X-Recorder-Test-Id", format!("many::test_{i}"))
                .json(&json!({"model": "m", "input": "x"}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 404);
        }
    };
    use futures::StreamExt;
    futures::stream::iter(0..2_000)
        .map(send)
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await;
    let warm = serve.rss_kb();
    futures::stream::iter(2_000..20_000)
        .map(send)
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await;
    let after = serve.rss_kb();
    assert!(
        after < warm + 8 * 1024,
        "RSS grew from {warm} kB to {after} kB over 18,000 more test ids"
    );
}

#[test]
fn keys_the_serve_injects_and_keys_clients_send_stay_off_disk() {
    let fake = FakeUpstream::start();
    let key = "sk-serve-inject-0123456789abcdef";
    fake.require_key(Some((KeyIn::Query("key".into()), key)));
    let tmp = tempfile::tempdir().unwrap();
    let serve = Serve::recording(
        tmp.path(),
        &fake.openai_url(),
        &["--api-key-env", "SERVE_Q_KEY", "--auth", "query:key"],
        &[("SERVE_Q_KEY", key)],
    );
    let body = format!(r#"{{"model":"fake-embed","input":"my key is {key}"}}"#);
    let answer = raw(
        &serve.addr,
        format!("POST /v1/embeddings?key=client-guess-123456789 HTTP/1.1\r\nHost: {}\r\nX-Recorder-Test-Id: keys::query\r\nAuthorization: Bearer sk-client-bearer-987654321\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", serve.addr, body.len()).as_bytes(),
    );
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let (code, stderr) = serve.signal("-INT");
    assert_eq!(code, Some(0), "{stderr}");
    let seen = &fake.requests()[0];
    assert!(
        seen.path.contains(&format!("key={key}")) && !seen.path.contains("client-guess"),
        "{}",
        seen.path
    );
    for p in files(tmp.path()) {
        let bytes = std::fs::read(&p).unwrap();
        for secret in [key, "client-guess-123456789", "sk-client-bearer-987654321"] {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "{secret} in {}",
                p.display()
            );
        }
    }
}

#[test]
fn a_query_key_reaches_no_error_answer_and_no_log_line() {
    let key = "sk-serve-errkey-0123456789abcdef";
    let fake = FakeUpstream::start();
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/v1", l.local_addr().unwrap())
    };
    for (upstream, stream, what) in [
        (dead.as_str(), false, "is unreachable"),
        (&*fake.openai_url(), true, "failed mid-response"),
    ] {
        fake.set_fail_mid_stream(stream);
        let tmp = tempfile::tempdir().unwrap();
        let serve = Serve::recording(
            tmp.path(),
            upstream,
            &["--api-key-env", "SERVE_ERR_KEY", "--auth", "query:key"],
            &[("SERVE_ERR_KEY", key)],
        );
        let body = format!(
            r#"{{"model":"fake-chat","stream":{stream},"messages":[{{"role":"user","content":"hi"}}]}}"#
        );
        let answer = raw(
            &serve.addr,
            format!("POST /v1/chat/completions HTTP/1.1\r\nHost: {}\r\nX-Recorder-Test-Id: keys::errors\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", serve.addr, body.len()).as_bytes(),
        );
        assert!(!answer.contains(key), "{answer}");
        if !stream {
            assert!(
                answer.starts_with("HTTP/1.1 502") && answer.contains(what),
                "{answer}"
            );
        }
        let (code, stderr) = serve.signal("-INT");
        assert_ne!(code, Some(0), "a failed recording fails serve: {stderr}");
        assert!(stderr.contains(what), "{stderr}");
        assert!(!stderr.contains(key), "{stderr}");
        assert!(files(tmp.path())
            .iter()
            .all(|p| !std::fs::read_to_string(p).unwrap_or_default().contains(key)));
    }
}

/// Streams a chat answer of `words` words through `serve` (as a client that reads it
/// all), then stops serve; returns the bytes the client got, serve's peak RSS (kB)
/// and its stderr.
fn stream_through_serve(dir: &Path, words: usize, env: &[(&str, &str)]) -> (usize, u64, String) {
    let fake = FakeUpstream::start();
    let serve = Serve::recording(dir, &fake.openai_url(), &[], env);
    let before = serve.peak_rss_kb();
    let prompt = "w ".repeat(words);
    let body = json!({"model": "fake-chat", "stream": true, "messages": [{"role": "user", "content": prompt}]});
    let got = tokio::runtime::Runtime::new().unwrap().block_on(async {
        let r = http()
            .post(format!("{}/v1/chat/completions", serve.url))
            .header("x-recorder-test-id", "big::stream")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        r.bytes().await.unwrap().len()
    });
    assert!(fake.wait_stream_finished(Duration::from_secs(60)));
    // The recording is made after the stream: its file, or the problem saying why not.
    let deadline = Instant::now() + Duration::from_secs(300);
    while !serve.stderr().contains("problem in test")
        && !files(dir)
            .iter()
            .any(|p| p.extension().is_some_and(|e| e == "json"))
    {
        assert!(Instant::now() < deadline, "no recording and no problem");
        std::thread::sleep(Duration::from_millis(20));
    }
    let peak = serve.peak_rss_kb();
    let (_, stderr) = serve.signal("-INT");
    eprintln!(
        "a {words}-word stream of {got} bytes: serve's peak RSS {} MB (from {} MB at start)",
        peak / 1024,
        before / 1024
    );
    (got, peak, stderr)
}

#[test]
fn a_stream_under_the_answer_limit_never_makes_a_recording_replay_refuses() {
    // Scaled down from the defaults (64 MiB answers, 256 MiB files) to stay fast;
    // RECORDER_TEST_STREAM_WORDS=370000 with the defaults is the 66 MB stream of the
    // report (run it with --release to measure memory).
    let words: usize = std::env::var("RECORDER_TEST_STREAM_WORDS")
        .ok()
        .and_then(|w| w.parse().ok())
        .unwrap_or(12_000);
    let scaled = std::env::var_os("RECORDER_TEST_STREAM_WORDS").is_none();
    let limits: &[(&str, &str)] = if scaled {
        &[
            ("RECORDER_MAX_BODY_BYTES", "4000000"),
            ("RECORDER_MAX_RECORDING_BYTES", "3000000"),
        ]
    } else {
        &[]
    };
    // (serve inherits this process's environment: measuring, a limit may come from it)
    let max_file: u64 = limits
        .iter()
        .find(|(k, _)| *k == "RECORDER_MAX_RECORDING_BYTES")
        .map(|(_, v)| v.to_string())
        .or_else(|| std::env::var("RECORDER_MAX_RECORDING_BYTES").ok())
        .map_or(256 << 20, |v| v.parse().unwrap());
    let tmp = tempfile::tempdir().unwrap();
    let (got, _, stderr) = stream_through_serve(tmp.path(), words, limits);
    let written: Vec<PathBuf> = files(tmp.path())
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    // Whatever the stream, no file replay would refuse.
    for p in &written {
        let size = std::fs::metadata(p).unwrap().len();
        assert!(
            size <= max_file,
            "{} is {size} bytes, over the load limit {max_file}",
            p.display()
        );
    }
    if scaled {
        // This stream's recording would be over the load limit: refused, by name.
        assert!(got > 1_000_000, "the client got its whole stream: {got}");
        assert!(written.is_empty(), "{written:?}");
        for what in [
            "RECORDER_MAX_RECORDING_BYTES",
            "RECORDER_MAX_BODY_BYTES",
            "3000000",
            "nothing was recorded",
        ] {
            assert!(stderr.contains(what), "{what}: {stderr}");
        }
        // One under it is recorded, and replays.
        let small = tempfile::tempdir().unwrap();
        let (_, _, stderr) = stream_through_serve(small.path(), 200, limits);
        assert!(!stderr.contains("problem in "), "{stderr}");
        assert_eq!(
            files(small.path())
                .iter()
                .filter(|p| p.extension().is_some_and(|e| e == "json"))
                .count(),
            1
        );
    }
}

// Every command reads and writes the folder safely.

/// Writes a recording that passes `check` (normalized answer): (it, its path).
fn good(store: &Store, test: &str, content: &str) -> (Recording, PathBuf) {
    let mut rec = chat(test, content, serde_json::Value::Null);
    let hash = rec.request_hash();
    let reply = json!({"id": format!("rec-{}", &hash[..12]), "object": "chat.completion", "created": 0,
           "choices": [{"index": 0, "message": {"role": "assistant", "content": "hello"}}]});
    rec.response =
        RecordedResponse::plain(200, Some("application/json"), reply.to_string().as_bytes());
    let p = store.write(&rec, &RecordingKey::first(hash)).unwrap();
    (rec, p)
}

/// Runs the command on another thread: (exit code, stdout, stderr), or a failure
/// naming `what` when it does not finish within a minute (it waits on a FIFO).
fn cli_in_time(args: &[&str], what: &str) -> (i32, String, String) {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let _ = tx.send(cli(&args));
    });
    rx.recv_timeout(Duration::from_secs(60))
        .unwrap_or_else(|_| panic!("{what} blocked"))
}

fn mkfifo(path: &Path) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    assert!(Command::new("mkfifo").arg(path).status().unwrap().success());
}

#[test]
fn fifos_devices_and_symlinks_stop_no_command_and_fail_check_by_name() {
    for trap in ["fifo", "zero"] {
        let tmp = tempfile::tempdir().unwrap();
        let dir = s(tmp.path()).to_owned();
        let store = Store::new(tmp.path());
        let (_, path) = good(&store, "t::ids", "real");
        let ids = path.with_file_name("_ids.json");
        let log = tmp.path().join(".usage/run.jsonl");
        std::fs::create_dir_all(log.parent().unwrap()).unwrap();
        match trap {
            "fifo" => {
                mkfifo(&ids);
                mkfifo(&log);
            }
            _ => {
                std::os::unix::fs::symlink("/dev/zero", &ids).unwrap();
                std::os::unix::fs::symlink("/dev/zero", &log).unwrap();
            }
        }
        let (code, out, _) = cli_in_time(&["check", "--dir", &dir], "check");
        assert_eq!(code, EXIT_PROBLEMS, "{trap}: {out}");
        let what = if trap == "fifo" {
            "is not a file"
        } else {
            "is a symlink"
        };
        for name in ["t/ids/_ids.json", ".usage/run.jsonl"] {
            assert!(
                out.contains(&format!("{name}: {what}")),
                "{trap} {name}: {out}"
            );
        }
        // prune reads the usage logs: it names the one it cannot read, and stops.
        let (code, out, err) = cli_in_time(&["prune", "--dir", &dir], "prune");
        assert_eq!(code, EXIT_ERROR, "{trap}: {out}{err}");
        assert!(
            err.contains("run.jsonl") && err.contains("not a regular file"),
            "{trap}: {err}"
        );
        // normalize replaces what is not a plain file at the id map's name.
        let (code, out, err) = cli_in_time(&["normalize", "--dir", &dir], "normalize");
        assert_eq!(code, EXIT_OK, "{trap}: {out}{err}");
        assert!(std::fs::symlink_metadata(&ids).is_err(), "{trap}: removed");
        std::fs::remove_file(&log).unwrap();
        let (code, out, _) = cli_in_time(&["check", "--dir", &dir], "check");
        assert_eq!(code, EXIT_OK, "{trap}: {out}");
    }
}

#[test]
fn a_symlinked_usage_folder_or_index_is_refused_by_name() {
    let tmp = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let store = Store::new(tmp.path());
    good(&store, "t::a", "x");
    std::os::unix::fs::symlink(outside.path(), tmp.path().join(".usage")).unwrap();
    let dir = s(tmp.path()).to_owned();
    let (code, out, _) = cli(&["check", "--dir", &dir]);
    assert_eq!(code, EXIT_PROBLEMS, "{out}");
    assert!(out.contains(".usage: is a symlink"), "{out}");
    let (code, _, err) = cli(&["prune", "--dir", &dir]);
    assert_eq!(code, EXIT_ERROR);
    assert!(
        err.contains(".usage") && err.contains("not a plain folder"),
        "{err}"
    );
    std::fs::remove_file(tmp.path().join(".usage")).unwrap();
    // A file in .usage that is not a usage log.
    std::fs::create_dir_all(tmp.path().join(".usage/sub")).unwrap();
    let (code, out, _) = cli(&["check", "--dir", &dir]);
    assert_eq!(code, EXIT_PROBLEMS, "{out}");
    assert!(out.contains(".usage/sub: is not a usage log"), "{out}");
    std::fs::remove_dir(tmp.path().join(".usage/sub")).unwrap();
    // An index that is a symlink: sqlite would write where it points.
    std::fs::remove_file(tmp.path().join("index.sqlite")).ok();
    std::os::unix::fs::symlink(outside.path().join("db"), tmp.path().join("index.sqlite")).unwrap();
    let (code, _, err) = cli(&["list", "--dir", &dir]);
    assert_eq!(code, EXIT_ERROR);
    assert!(
        err.contains("index.sqlite") && err.contains("not a plain file"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_dir(outside.path()).unwrap().count(),
        0,
        "nothing outside"
    );
}

#[test]
fn hidden_test_folders_are_seen_by_every_command() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::new(tmp.path());
    good(&store, "t::visible", "x");
    // Crafted: a recording of a hidden test id, holding a key, and one put in a
    // hidden folder under a plain id.
    let key = "sk-hidden-0123456789abcdefghij";
    let hidden = chat(
        ".hidden::t",
        &format!("my key {key}"),
        serde_json::Value::Null,
    );
    let hidden_path =
        store.recording_path(".hidden::t", &RecordingKey::first(hidden.request_hash()));
    std::fs::create_dir_all(hidden_path.parent().unwrap()).unwrap();
    std::fs::write(&hidden_path, hidden.to_pretty_bytes()).unwrap();
    let dir = s(tmp.path()).to_owned();
    let (code, out, _) = cli(&["check", "--dir", &dir]);
    assert_eq!(code, EXIT_PROBLEMS, "{out}");
    let rel = hidden_path
        .strip_prefix(tmp.path())
        .unwrap()
        .display()
        .to_string();
    assert!(rel.starts_with(".hidden/"), "{rel}");
    assert!(
        out.contains(&format!(
            "{rel}: test id `.hidden::t` cannot have recordings"
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!("{rel}: holds")),
        "the key is found: {out}"
    );
    let (code, out, _) = cli(&["list", "--dir", &dir]);
    assert_eq!(code, EXIT_OK);
    assert!(out.contains(".hidden::t"), "{out}");
    // prune sees it too: its test ran and used nothing.
    let index = Index::open(tmp.path()).unwrap().with_run_id("run-1");
    index.ensure_fresh(&store).unwrap();
    index.begin_test(".hidden::t").unwrap();
    drop(index);
    let (code, out, _) = cli(&["prune", "--dry-run", "--dir", &dir]);
    assert_eq!(code, EXIT_OK);
    assert!(out.contains(&format!("Would remove: {rel}")), "{out}");
}

/// One OGX recording file of a chat completion under test id `test_id`.
fn ogx_chat(test_id: &str, content: &str) -> Vec<u8> {
    let body = json!({"model": "m", "messages": [{"role": "user", "content": content}]});
    let data = json!({"id": "rec-aaaaaaaaaaaa", "object": "chat.completion", "created": 0,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "hello"}}]});
    serde_json::to_vec_pretty(&json!({
        "test_id": test_id,
        "request": {"method": "POST", "url": "http://localhost:11434/v1/chat/completions",
            "headers": {}, "body": body, "endpoint": "/v1/chat/completions", "model": "m"},
        "response": {"body": {"__type__": "openai.types.chat.chat_completion.ChatCompletion",
            "__data__": data}, "is_streaming": false},
    }))
    .unwrap()
}

#[test]
fn import_ogx_refuses_reserved_ids_symlinked_folders_and_fifos() {
    let src = tempfile::tempdir().unwrap();
    let put = |name: &str, bytes: Vec<u8>| std::fs::write(src.path().join(name), bytes).unwrap();
    put("ok.json", ogx_chat("t::ok", "fine"));
    // Ids whose folder is the store's own (in any case), or none, or hidden.
    for (i, id) in [
        "_models::x",
        "_MODELS::x",
        "_Shared",
        "::",
        ".hidden::t",
        "a::.b",
    ]
    .iter()
    .enumerate()
    {
        put(&format!("reserved{i}.json"), ogx_chat(id, "reserved"));
    }
    // A FIFO among the source files: skipped, never waited on.
    mkfifo(&src.path().join("fifo.json"));
    // A symlink to a file outside the source: skipped, not followed.
    let elsewhere = tempfile::tempdir().unwrap();
    std::fs::write(elsewhere.path().join("x.json"), ogx_chat("t::linked", "l")).unwrap();
    std::os::unix::fs::symlink(
        elsewhere.path().join("x.json"),
        src.path().join("link.json"),
    )
    .unwrap();
    // The destination's test folder is a symlink to a folder outside it.
    let dest = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    put("linked_dest.json", ogx_chat("via::t", "x"));
    std::os::unix::fs::symlink(outside.path(), dest.path().join("via")).unwrap();

    let (code, out, err) = cli_in_time(
        &["import", "ogx", s(src.path()), "--dir", s(dest.path())],
        "import ogx",
    );
    assert_eq!(code, EXIT_ERROR, "{out}{err}");
    assert!(
        err.contains("symlink") && err.contains("via"),
        "the symlinked destination is named: {err}"
    );
    assert_eq!(
        files(outside.path()),
        Vec::<PathBuf>::new(),
        "written through the link"
    );
    std::fs::remove_file(dest.path().join("via")).unwrap();
    std::fs::remove_file(src.path().join("linked_dest.json")).unwrap();

    let (code, out, err) = cli_in_time(
        &["import", "ogx", s(src.path()), "--dir", s(dest.path())],
        "import ogx",
    );
    assert_eq!(code, EXIT_PROBLEMS, "{out}{err}");
    assert!(out.starts_with("Imported 1 of 9 files"), "{out}");
    for i in 0..6 {
        assert!(
            err.contains(&format!("reserved{i}.json: test id"))
                && err.contains("cannot have recordings"),
            "reserved{i}: {err}"
        );
    }
    for name in ["fifo.json", "link.json"] {
        assert!(
            err.contains(&format!("{name}: unreadable")) && err.contains("not a regular file"),
            "{name}: {err}"
        );
    }
    // Only the good one is in the store, under its own folder.
    let written: Vec<_> = files(dest.path())
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|p| p.strip_prefix(dest.path()).unwrap().to_path_buf())
        .collect();
    assert_eq!(written.len(), 1, "{written:?}");
    assert!(written[0].starts_with("t/ok"), "{written:?}");
}

#[test]
fn reserved_folder_names_are_refused_in_any_case() {
    // On a case-insensitive file system (macOS, Windows) `_MODELS` is `_models`.
    for id in [
        "_MODELS::x",
        "_Models",
        "_SHARED::t",
        "_Shared",
        "INDEX.sqlite::t",
        "index.sqlite-wal",
    ] {
        let err = recorder_runtime::store::check_test_id(id)
            .unwrap_err()
            .to_string();
        assert!(err.contains("keeps for itself"), "{id}: {err}");
    }
    for id in [
        "_models_x::t",
        "models::t",
        "index::t",
        "my_shared::t",
        "index.sqlite3::t",
    ] {
        assert!(recorder_runtime::store::check_test_id(id).is_ok(), "{id}");
    }
    // And serve refuses them before anything is written.
    let fake = FakeUpstream::start();
    let tmp = tempfile::tempdir().unwrap();
    let serve = Serve::recording(tmp.path(), &fake.openai_url(), &[], &[]);
    let body = r#"{"model":"fake-embed","input":"x"}"#;
    for id in ["_MODELS::x", "_Shared"] {
        let answer = raw(
            &serve.addr,
            format!(
                "POST /v1/embeddings HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nX-Recorder-Test-Id: {id}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                serve.addr,
                body.len()
            )
            .as_bytes(),
        );
        assert!(answer.starts_with("HTTP/1.1 400"), "{id}: {answer}");
        assert!(answer.contains("cannot have recordings"), "{id}: {answer}");
    }
    assert!(fake.requests().is_empty());
    assert!(files(tmp.path())
        .iter()
        .all(|p| !p.to_string_lossy().contains("_MODELS")));
}
