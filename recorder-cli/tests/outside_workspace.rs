//! A user's own crate, outside this workspace, with `recorder-runtime` at its default
//! features: it records a test against the fake upstream, replays it with the
//! upstream gone, and `cargo recordings check` and `list`, run the way cargo runs an
//! installed subcommand (`cargo-recordings` on `PATH`), find its recordings from the
//! crate and from a folder below it. A request that needs a feature that is off
//! (`compression`) fails with an error naming the feature.
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
use std::process::Output;

const TEST: &str = r#"
use recorder_runtime::client::{ChatRequest, Message};
use recorder_runtime::engine::EngineRequest;
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
fn a_compressed_body_names_the_feature_it_needs() {
    let dir = std::env::temp_dir().join(format!("user-crate-{}", std::process::id()));
    let ctx = RecordingContext::builder("chat::compressed").mode(Mode::Replay).dir(&dir).build().unwrap();
    let req = EngineRequest::post("/v1/chat/completions", &b"\x1f\x8b\x08\x00not really gzip"[..]).header(
        http::header::CONTENT_ENCODING,
        http::HeaderValue::from_static("gzip"),
    );
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let err = rt.block_on(ctx.client().send(req)).unwrap_err().to_string();
    assert!(err.contains("`compression` feature"), "{err}");
    assert!(!dir.exists(), "nothing was written");
}
"#;

fn write_crate(dir: &Path, upstream: &str) {
    let runtime = workspace_root().join("recorder-runtime");
    ScratchCrate::write(
        dir,
        "user-crate",
        &format!(
            "recorder-runtime = {{ path = {runtime:?} }}\nhttp = \"1\"\ntokio = {{ version = \"1\", features = [\"rt\"] }}"
        ),
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
