//! `report --html`: the page as text, and the page in a real headless browser
//! (Debian's `chromium`): it renders, shows every test, runs nothing from the
//! recordings, loads nothing from the network, and its screenshot is not blank.
//! Without chromium the browser test says so and passes, unless
//! `RECORDER_REQUIRE_CHROMIUM=1` (CI's browser step) makes that a failure.

use super::{Scratch, CHAT, EMBED, FRESH, GONE, HOSTILE, REWORDED, STEADY, TOOLS};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn report(sc: &Scratch) -> (PathBuf, String) {
    let page = sc.root.join("report.html");
    let (code, out, err) = sc.run(
        &mut super::NoTerminal,
        &["report", "--html", page.to_str().unwrap()],
    );
    assert_eq!(code, recorder_cli::EXIT_OK, "{err}");
    assert!(
        out.contains("8 tests, 8 exchanges, 7 differing from HEAD"),
        "{out}"
    );
    (page.clone(), std::fs::read_to_string(&page).unwrap())
}

#[test]
fn report_shows_each_conversation_and_escapes_what_recordings_hold() {
    let sc = Scratch::new();
    let (_, html) = report(&sc);
    for test in [CHAT, TOOLS, EMBED, FRESH, GONE, REWORDED, STEADY, HOSTILE] {
        let escaped = recorder_cli::report::esc(test);
        assert!(
            html.contains(&format!("data-test-id=\"{escaped}\"")),
            "{test} is not on the page"
        );
    }
    // Conversations: system and user messages, the assistant's answer, tool calls.
    assert!(html.contains("<div class=\"msg system\"><div class=\"role\">system</div><div class=\"text\">Be brief.</div>"));
    assert!(
        html.contains("<div class=\"text\">The capital of France is Paris, on the Seine.</div>")
    );
    assert!(html.contains("→ <b>get_weather</b>({&quot;city&quot;:&quot;Lyon&quot;})"));
    // The review's changes, highlighted; a removed exchange shown from HEAD.
    assert!(html.contains("<del>Paris</del><ins>The capital of France</ins>"));
    assert!(html.contains("<li class=\"breaking\"><span class=\"label\">tool calls</span>"));
    assert!(html.contains("<article class=\"exchange removed\">"));
    assert!(
        html.contains("<div class=\"text\">Yes.</div>"),
        "HEAD's answer of the removed test"
    );
    // Nothing of the recordings runs or loads.
    assert!(!html.contains("<script"), "a script element");
    assert!(html.contains("&lt;script&gt;document.title=&#39;PWNED&#39;&lt;/script&gt;"));
    assert!(!html.contains("onerror=\""), "an event handler attribute");
    assert!(!html.contains("src=\"http"), "a remote image");
    assert!(html.contains("image, not loaded: http://127.0.0.1:9/remote.png"));
    assert!(
        html.contains("<img class=\"thumb\" alt=\"image\" src=\"data:image/png;base64,iVBORw0KGgo")
    );
    assert!(
        html.contains("default-src 'none'; img-src data:"),
        "the CSP"
    );
    assert!(!html.contains('\u{1b}') && !html.contains('\u{202E}'));
}

#[test]
fn report_outside_git_shows_the_recordings_without_changes() {
    let sc = Scratch::new();
    std::fs::remove_dir_all(sc.root.join(".git")).unwrap();
    let page = sc.root.join("page.html");
    let (code, out, err) = sc.run(
        &mut super::NoTerminal,
        &["report", "--html", page.to_str().unwrap()],
    );
    assert_eq!(code, recorder_cli::EXIT_OK, "{err}");
    assert!(
        err.contains("is not in a git repository: the page shows no changes"),
        "{err}"
    );
    assert!(out.contains("7 tests, 7 exchanges"), "{out}");
    let html = std::fs::read_to_string(page).unwrap();
    assert!(html.contains("Not in a git repository: no changes shown."));
    assert!(!html.contains("<article class=\"exchange changed\">"));
}

fn find_chromium() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    for name in [
        "chromium",
        "chromium-browser",
        "google-chrome",
        "google-chrome-stable",
    ] {
        for dir in std::env::split_paths(&path) {
            let p = dir.join(name);
            if p.is_file() {
                return Some(p);
            }
        }
    }
    None
}

/// Runs chromium headless on `page` with `mode` (`--dump-dom`, `--screenshot=…`),
/// in a fresh profile, killed after two minutes.
fn chromium(bin: &Path, page: &Path, mode: &str) -> Output {
    let profile = tempfile::tempdir().unwrap();
    let mut child = Command::new(bin)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1200,1600",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(mode)
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("chromium starts");
    // Read while it runs: a full pipe would stop it.
    let stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        std::io::Read::read_to_end(&mut { stdout }, &mut buf).unwrap();
        buf
    });
    let started = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if started.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            panic!("chromium did not finish within two minutes");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut stderr = Vec::new();
    std::io::Read::read_to_end(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    Output {
        status,
        stdout: reader.join().unwrap(),
        stderr,
    }
}

#[test]
fn report_renders_in_a_real_browser_and_runs_or_loads_nothing() {
    let Some(bin) = find_chromium() else {
        if std::env::var("RECORDER_REQUIRE_CHROMIUM").is_ok_and(|v| v == "1") {
            panic!(
                "RECORDER_REQUIRE_CHROMIUM=1 but no chromium on PATH (apt-get install -y chromium)"
            );
        }
        eprintln!("SKIPPED: chromium is not installed (apt-get install -y chromium); the report was not checked in a browser");
        return;
    };
    // Remote images in the recordings point here: the page must never ask. Every
    // connection is counted and closed at once (so that a browser that asks does not
    // wait for an answer).
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    listener.set_nonblocking(true).unwrap();
    let asked = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = {
        let (asked, stop) = (asked.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok(_) => {
                        asked.fetch_add(1, Ordering::SeqCst);
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        })
    };
    let sc = Scratch::with_hostile_port(port);
    let (page, _) = report(&sc);

    let dom = chromium(&bin, &page, "--dump-dom");
    let dom_text = String::from_utf8_lossy(&dom.stdout);
    assert!(
        dom.status.success() && dom_text.contains("</html>"),
        "chromium --dump-dom failed: {}\n{}",
        dom.status,
        String::from_utf8_lossy(&dom.stderr)
    );
    for test in [CHAT, TOOLS, EMBED, FRESH, GONE, REWORDED, STEADY, HOSTILE] {
        assert!(
            dom_text.contains(&recorder_cli::report::esc(test).replace("&#39;", "'")),
            "{test} is not in the rendered page"
        );
    }
    assert!(
        dom_text.contains("<title>Recorded conversations</title>"),
        "a script changed the title"
    );
    assert!(
        !dom_text.contains("PWNED</title>") && !dom_text.contains("data-pwned"),
        "a recording's script ran"
    );
    assert!(
        dom_text.contains("&lt;script&gt;document.title="),
        "the script shows as text"
    );
    assert!(dom_text.contains("<del>Paris</del><ins>The capital of France</ins>"));

    let shot = sc.root.join("shot.png");
    let out = chromium(&bin, &page, &format!("--screenshot={}", shot.display()));
    assert!(
        out.status.success() && shot.is_file(),
        "chromium --screenshot failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&shot).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let pixels = &buf[..info.buffer_size()];
    let step = info.color_type.samples();
    let mut colours = std::collections::HashMap::<&[u8], usize>::new();
    for px in pixels.chunks(step) {
        *colours.entry(&px[..3.min(step)]).or_default() += 1;
    }
    let total = pixels.len() / step;
    let background = colours.values().max().copied().unwrap_or(0);
    assert!(
        colours.len() > 50,
        "the screenshot has {} colours: blank?",
        colours.len()
    );
    assert!(
        (total - background) * 10 > total,
        "{} of {total} pixels differ from the background: blank?",
        total - background
    );

    stop.store(true, Ordering::SeqCst);
    watcher.join().unwrap();
    assert_eq!(
        asked.load(Ordering::SeqCst),
        0,
        "the page loaded something from the network (a remote image of a recording)"
    );
}
