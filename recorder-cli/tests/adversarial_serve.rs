//! `cargo recordings serve` as an attacker and a careless user would try it (issue 14):
//! a web page reaching the port, odd and hostile test ids, failed recordings, signals,
//! file-descriptor exhaustion, oversized answers, many tests. The engine-level attacks
//! are in `recorder-runtime/tests/adversarial.rs`.

use recorder_testkit::fake::{FakeUpstream, KeyIn};
use serde_json::json;
use support::{s, Serve};
mod support;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
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
    for id in ["/", "//", "::", "_models", "_shared::x"] {
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
