//! A user's own crate, outside this workspace, with `recorder-runtime` at its default
//! features: it records a test against the fake upstream, replays it with the
//! upstream gone, and `cargo recordings check` and `list`, run the way cargo runs an
//! installed subcommand (`cargo-recordings` on `PATH`), find its recordings from the
//! crate and from a folder below it. A request that needs a feature that is off
//! (`compression`, `multipart`) fails with an error naming the feature, and so does,
//! at compile time, a call of a method whose feature is off (`stdio`, `rmcp`).
//! `cargo recordings init` sets up a bare crate whose example test then fails in
//! replay, records and replays.
//!
//! The crate is a `recorder_testkit::scratch_crate`, built in `target/outside-crate`
//! like the macro's own outside-crate test, with this workspace's `Cargo.lock`: same
//! dependency versions and features, so the two share one build and need no
//! registry access.
//!
//! Like every test that builds a crate of its own, the name starts with
//! `scratch_crate`: `cargo test --workspace --tests -- --skip scratch_crate` is the fast
//! loop without them (README, "Working on this workspace").

use recorder_testkit::scratch_crate::{workspace_root, ScratchCrate};
use recorder_testkit::FakeUpstream;
use std::path::Path;
use std::process::{Command, Output};

const TEST: &str = r#"
use recorder_runtime::client::{ChatRequest, Message};
use recorder_runtime::{recorded_test, Client, Mode, Model, RecordingContext};

#[recorded_test(models = "text")]
async fn answers(client: Client, text_model: Model) {
    let answer = client
        .chat(&ChatRequest::new(text_model.id()).message(Message::user("Capital of France?")).max_tokens(8))
        .await
        .unwrap();
    assert_eq!(answer.choices[0].message.role, "assistant");
}

#[test]
fn a_request_that_needs_a_feature_that_is_off_names_it() {
    let dir = std::env::temp_dir().join(format!("user-crate-{}", std::process::id()));
    let ctx = RecordingContext::builder("chat::off").mode(Mode::Replay).dir(&dir).build().unwrap();
    let cases: [(&str, &str, &[u8], &str); 2] = [
        (
            "/chat/completions",
            "Content-Type: application/json\r\nContent-Encoding: gzip\r\n",
            b"\x1f\x8b\x08\x00not really gzip",
            "compression",
        ),
        (
            "/files",
            "Content-Type: multipart/form-data; boundary=XyZ\r\n",
            b"--XyZ\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nassistants\r\n--XyZ--\r\n",
            "multipart",
        ),
    ];
    for (endpoint, headers, body, feature) in cases {
        let answer = post_raw(&ctx, endpoint, headers, body);
        assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
        assert!(
            answer.contains(&format!("`{feature}` feature"))
                && answer.contains(&format!("features = [\\\"{feature}\\\"]")),
            "{answer}"
        );
    }
    assert!(!dir.exists(), "nothing was written");
}

/// `body` sent as it is to the test's loopback proxy (a user reaches the recorder
/// through its public surface), with `headers`: the whole answer.
fn post_raw(ctx: &RecordingContext, endpoint: &str, headers: &str, body: &[u8]) -> String {
    use std::io::{Read, Write};
    let base = ctx.base_url();
    let (addr, path) = base.strip_prefix("http://").unwrap().split_once('/').unwrap();
    let mut conn = std::net::TcpStream::connect(addr).unwrap();
    write!(
        conn,
        "POST /{path}{endpoint} HTTP/1.1\r\nHost: {addr}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .unwrap();
    conn.write_all(body).unwrap();
    let mut answer = String::new();
    conn.read_to_string(&mut answer).unwrap();
    answer
}
"#;

fn write_crate(dir: &Path, upstream: &str) {
    let runtime = workspace_root().join("recorder-runtime");
    ScratchCrate::write(
        dir,
        "user-crate",
        &format!("recorder-runtime = {{ path = {runtime:?} }}"),
    );
    std::fs::write(
        dir.join("recorder.toml"),
        format!(
            "default_setup = \"fake\"\n\n[setups.fake]\nbase_url = \"{upstream}\"\nmodels = {{ text = [\"smollm2\"] }}\n"
        ),
    )
    .unwrap();
    std::fs::write(dir.join("tests/chat.rs"), TEST).unwrap();
}

/// `cargo <args>` in `dir`, with `cargo-recordings` first on `PATH` and none of the
/// recorder's variables from this process.
fn cargo(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let bin = Path::new(env!("CARGO_BIN_EXE_cargo-recordings"));
    let path = std::env::join_paths(std::iter::once(bin.parent().unwrap().to_path_buf()).chain(
        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()),
    ))
    .unwrap();
    let out = ScratchCrate::at(dir)
        .cargo(args)
        .env("PATH", path)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "cargo {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn scratch_crate_outside_the_workspace_works_with_cargo_recordings() {
    let fake = FakeUpstream::start();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("user-crate");
    write_crate(&dir, &fake.openai_url());

    let recorded = cargo(
        &dir,
        &["test", "--test", "chat"],
        &[("RECORD_MODE", "record-if-missing")],
    );
    assert!(
        stdout(&recorded).contains("2 passed"),
        "{}",
        stdout(&recorded)
    );
    assert_eq!(fake.requests().len(), 1, "one request reached the upstream");
    let recordings = dir.join("recordings");
    assert!(
        recordings.join("chat").is_dir(),
        "recordings/ is next to recorder.toml"
    );

    // The upstream is gone: replay needs nothing but the files.
    fake.stop();
    drop(fake);
    cargo(&dir, &["test", "--test", "chat"], &[]);

    let check = cargo(&dir, &["recordings", "check"], &[]);
    let text = stdout(&check);
    assert!(
        text.contains("OK: 1 recordings checked")
            && text.contains(&recordings.display().to_string()),
        "{text}"
    );
    // From a folder below the crate, as from anywhere in a project.
    let listed = stdout(&cargo(&dir.join("tests"), &["recordings", "list"], &[]));
    assert!(
        listed.contains("chat::answers[text=smollm2]") && listed.contains("/v1/chat/completions"),
        "{listed}"
    );
}

/// What a user without the `stdio` and `rmcp` features gets for calling their methods:
/// a compile error that names the feature and the Cargo.toml line, not "no method
/// named `stdio_server`".
#[test]
fn scratch_crate_calling_a_method_of_a_feature_that_is_off_names_the_feature() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("user-crate");
    write_crate(&dir, "http://127.0.0.1:9/v1");
    std::fs::write(
        dir.join("tests/stdio.rs"),
        r#"
#[recorder_runtime::recorded_test]
async fn talks_to_a_server(ctx: recorder_runtime::RecordingContext) {
    let _ = ctx.stdio_server("files", std::process::Command::new("server"));
    let _ = ctx.mcp_stdio("files", std::process::Command::new("server"));
}
"#,
    )
    .unwrap();
    let out = ScratchCrate::at(&dir)
        .cargo(&["test", "--test", "stdio", "--no-run"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    for feature in ["stdio", "rmcp"] {
        assert!(
            stderr.contains(&format!("needs recorder-runtime's `{feature}` feature"))
                && stderr.contains(&format!("features = [\"{feature}\"]")),
            "{stderr}"
        );
    }
}

/// `cargo-recordings <args>` in `dir`, as cargo runs it: (exit code, stdout, stderr).
fn recordings(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cargo-recordings"));
    cmd.arg("recordings").args(args).current_dir(dir);
    for (key, _) in std::env::vars() {
        if key.starts_with("RECORD") {
            cmd.env_remove(key);
        }
    }
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A crate as `cargo new --lib` makes it (its own workspace), without the runtime.
fn bare_crate(dir: &Path, name: &str) {
    std::fs::create_dir_all(dir.join("src")).unwrap();
    std::fs::write(
        dir.join("Cargo.toml"),
        format!(
            "[package]\nname = \"{name}\"\nversion = \"0.0.0\"\nedition = \"2021\"\npublish = false\n\n[workspace]\n\n[profile.dev]\ndebug = \"line-tables-only\"\n\n[profile.dev.package.\"*\"]\ndebug = false\n"
        ),
    )
    .unwrap();
    std::fs::write(dir.join("src/lib.rs"), "").unwrap();
    std::fs::write(dir.join(".gitignore"), "/target").unwrap();
    std::fs::copy(workspace_root().join("Cargo.lock"), dir.join("Cargo.lock")).unwrap();
}

/// What a new user does: `init` in a crate of their own, add the dependency line it
/// prints, and the example test it wrote fails in replay saying how to record, records
/// from the setup's server, and replays with the server gone. A second `init` changes
/// nothing.
#[test]
fn scratch_crate_init_sets_up_a_crate_whose_example_records_and_replays() {
    let fake = FakeUpstream::start();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("my-crate");
    bare_crate(&dir, "my-crate");

    let (code, out, err) = recordings(
        &dir,
        &[
            "init",
            "--base-url",
            &fake.openai_url(),
            "--model",
            "text=smollm2",
        ],
    );
    assert_eq!(code, 0, "{out}\n{err}");
    let example = dir.join("tests/recorded_example.rs");
    for line in [
        format!(
            "wrote {}: setup `local` at {} (text = smollm2)",
            dir.join("recorder.toml").display(),
            fake.openai_url()
        ),
        format!(
            "added to {}: /recordings/index.sqlite* /recordings/**/.*.tmp",
            dir.join(".gitignore").display()
        ),
        format!("wrote {}", example.display()),
        "`cargo add --dev recorder-runtime` fails".to_owned(),
        format!(
            "    cargo add --dev --path {}",
            workspace_root().join("recorder-runtime").display()
        ),
        "    RECORD_MODE=record-if-missing cargo test --test recorded_example".to_owned(),
    ] {
        assert!(out.contains(&line), "{line:?} not in:\n{out}");
    }
    assert_eq!(
        std::fs::read_to_string(dir.join(".gitignore")).unwrap(),
        "/target\n# cargo recordings: the index is rebuilt from the recordings; temporary files of interrupted writes\n/recordings/index.sqlite*\n/recordings/**/.*.tmp\n"
    );
    // The dependency line it printed, as the user pastes it.
    let dependency = out
        .lines()
        .find(|l| l.trim_start().starts_with("recorder-runtime = "))
        .unwrap()
        .trim();
    let manifest = dir.join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(
        &manifest,
        format!("{text}\n[dev-dependencies]\n{dependency}\n"),
    )
    .unwrap();

    // Nothing recorded yet: replay fails, saying how to record.
    let test = ["test", "--test", "recorded_example"];
    let replay = ScratchCrate::at(&dir).cargo(&test).output().unwrap();
    let text = format!(
        "{}{}",
        stdout(&replay),
        String::from_utf8_lossy(&replay.stderr)
    );
    assert!(!replay.status.success(), "{text}");
    assert!(
        text.contains("recorded_example::answers_a_question[text=smollm2]")
            && text.contains("RECORD_MODE=record-if-missing"),
        "{text}"
    );
    assert!(fake.requests().is_empty());

    let recorded = cargo(&dir, &test, &[("RECORD_MODE", "record-if-missing")]);
    assert!(
        stdout(&recorded).contains("1 passed"),
        "{}",
        stdout(&recorded)
    );
    assert_eq!(fake.requests().len(), 1);
    fake.stop();
    drop(fake);
    let replayed = cargo(&dir, &test, &[]);
    assert!(
        stdout(&replayed).contains("1 passed"),
        "{}",
        stdout(&replayed)
    );

    // Again: everything is left as it is, and said so.
    let files = ["recorder.toml", ".gitignore", "tests/recorded_example.rs"];
    let before: Vec<Vec<u8>> = files
        .iter()
        .map(|f| std::fs::read(dir.join(f)).unwrap())
        .collect();
    let (code, out, _) = recordings(&dir, &["init", "--model", "text=other"]);
    assert_eq!(code, 0);
    assert!(
        out.contains(
            "recorder.toml as it is: this crate's tests use it already (init never overwrites)"
        ) && out.contains("--model and --api-key-env make a new recorder.toml only")
            && out.contains("has the lines the recorder needs")
            && out.contains("recorded_example.rs as it is: it exists (init never overwrites)")
            && out.contains("depends on recorder-runtime already"),
        "{out}"
    );
    let after: Vec<Vec<u8>> = files
        .iter()
        .map(|f| std::fs::read(dir.join(f)).unwrap())
        .collect();
    assert_eq!(before, after);
}

#[test]
fn scratch_crate_init_in_a_workspace_member_writes_the_config_at_the_root_and_bad_options_write_nothing(
) {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("ws");
    std::fs::create_dir_all(root.join("member/src")).unwrap();
    std::fs::write(
        root.join("Cargo.toml"),
        "[workspace]\nmembers = [\"member\"]\n",
    )
    .unwrap();
    std::fs::write(
        root.join("member/Cargo.toml"),
        "[package]\nname = \"member\"\nversion = \"0.0.0\"\nedition = \"2021\"\n",
    )
    .unwrap();

    // Bad options: an error saying what is wrong, and nothing written.
    for (args, says) in [
        (
            &["init", "--base-url", "ftp://h/v1"][..],
            "`ftp://h/v1` is not an http:// or https:// URL",
        ),
        (
            &["init", "--model", "txt=m"][..],
            "unknown model kind `txt`",
        ),
        (
            &["init", "--setup", "a b"][..],
            "--setup \"a b\": use letters, digits",
        ),
        (
            &["init", "--api-key-env", "MY-KEY"][..],
            "--api-key-env \"MY-KEY\" is not a variable name",
        ),
    ] {
        let (code, out, err) = recordings(&root.join("member"), args);
        assert_eq!(code, 2, "{args:?}: {out}{err}");
        assert!(err.contains(says), "{args:?}: {err}");
        assert!(!root.join("recorder.toml").exists() && !root.join(".gitignore").exists());
        assert!(!root.join("member/tests").exists());
    }

    let (code, out, err) = recordings(
        &root.join("member"),
        &[
            "init",
            "--setup",
            "gpt",
            "--base-url",
            "https://api.openai.com/v1",
            "--api-key-env",
            "OPENAI_API_KEY",
            "--model",
            "text=gpt-4o-mini",
            "--model",
            "embedding=text-embedding-3-small",
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    let config = recorder_config::Config::load(&root.join("recorder.toml")).unwrap();
    assert_eq!(config.default_setup.as_deref(), Some("gpt"));
    let gpt = config.setup("gpt").unwrap();
    assert_eq!(gpt.api_key_env.as_deref(), Some("OPENAI_API_KEY"));
    assert_eq!(
        gpt.models[&recorder_config::Kind::Embedding],
        ["text-embedding-3-small"]
    );
    assert!(root.join(".gitignore").is_file());
    assert!(root.join("member/tests/recorded_example.rs").is_file());
    assert!(!root.join("member/recorder.toml").exists());

    // At the root of a virtual workspace: the config is there already, and there
    // is no package for an example.
    let (code, out, _) = recordings(&root, &["init"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("no example test:") && out.contains("is a workspace without a package"),
        "{out}"
    );
}
