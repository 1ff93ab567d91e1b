//! The generated tests compile against the real runtime and run: fixtures are
//! injected, options reach the runtime, user attributes carry over. These tests
//! make no API calls, so they pass in every mode without recordings.

use recorder_runtime::{recorded_test, Client, Model, RecordingContext};

/// Models arrive by kind; the dimension with them.
#[recorded_test(models = "text,embedding")]
async fn injects_one_model_per_kind(
    ctx: RecordingContext,
    text_model: Model,
    embedding_model: Model,
    embedding_dimension: usize,
) {
    assert_eq!(text_model.kind(), "text");
    assert_eq!(embedding_model.kind(), "embedding");
    assert!(!text_model.id().is_empty() && !embedding_model.id().is_empty());
    assert!(embedding_dimension > 0);
    let id = ctx.test_id().to_string();
    assert!(
        id.starts_with("generated::injects_one_model_per_kind[text="),
        "{id}"
    );
    assert!(
        id.contains(&format!("embedding={}", embedding_model.id())),
        "{id}"
    );
}

/// With one kind, the model parameter may have any name.
#[recorded_test(models = "text")]
fn plain_fn_returning_result(client: Client, model: Model) -> Result<(), String> {
    let _ = client;
    if model.kind() == "text" {
        Ok(())
    } else {
        Err(format!("wrong kind {}", model.kind()))
    }
}

#[recorded_test]
async fn without_models(ctx: RecordingContext) {
    assert_eq!(ctx.test_id(), "generated::without_models");
}

#[recorded_test]
#[should_panic(expected = "the body ran")]
async fn should_panic_carries_over() {
    panic!("the body ran");
}

#[recorded_test]
#[should_panic(expected = "test returned an error")]
fn an_error_fails_the_test() -> Result<(), String> {
    Err("nope".into())
}

#[recorded_test(timeout = "50ms")]
#[should_panic(expected = "timed out")]
async fn timeout_is_enforced() {
    tokio::time::sleep(std::time::Duration::from_secs(5)).await;
}

#[recorded_test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_thread_flavor() {
    assert_eq!(
        tokio::runtime::Handle::current().runtime_flavor(),
        tokio::runtime::RuntimeFlavor::MultiThread
    );
}

#[recorded_test]
async fn current_thread_by_default() {
    assert_eq!(
        tokio::runtime::Handle::current().runtime_flavor(),
        tokio::runtime::RuntimeFlavor::CurrentThread
    );
}

/// The workspace's `tools` setup gives no dimension: the documented default, never a
/// panic (the environment still wins).
#[recorded_test(setup = "tools")]
fn the_embedding_dimension_has_a_default(embedding_dimension: usize) {
    let expected = option_env!("RECORDER_EMBEDDING_DIMENSION")
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(recorder_config::DEFAULT_EMBEDDING_DIMENSION);
    assert_eq!(embedding_dimension, expected);
    assert_eq!(recorder_config::DEFAULT_EMBEDDING_DIMENSION, 768);
}

#[recorded_test(mode = "live")]
async fn mode_is_pinned(ctx: RecordingContext) {
    assert_eq!(ctx.mode(), recorder_runtime::Mode::Live);
}

/// Every mode of `RECORD_MODE` can be pinned, `verify` too.
#[recorded_test(mode = "verify")]
async fn verify_mode_is_pinned(ctx: RecordingContext) {
    assert_eq!(ctx.mode(), recorder_runtime::Mode::Verify);
}

#[recorded_test]
#[ignore = "carried over from the function"]
fn ignore_carries_over() {
    panic!("ignored tests do not run");
}

#[recorded_test]
#[cfg(any())]
fn cfg_carries_over(this_type_does_not_exist: NoSuchType) {}

mod nested {
    use super::*;

    #[recorded_test]
    pub(crate) async fn in_a_module(ctx: RecordingContext) {
        assert_eq!(ctx.test_id(), "generated::nested::in_a_module");
    }
}

/// The generated names, read from this binary's own test list.
#[test]
fn generated_names() {
    let exe = std::env::current_exe().unwrap();
    let out = std::process::Command::new(exe)
        .args(["--list", "--format", "terse", "--ignored"])
        .output()
        .unwrap();
    let list = String::from_utf8(out.stdout).unwrap();
    assert!(list.contains("ignore_carries_over::test: test"), "{list}");
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--list", "--format", "terse"])
        .output()
        .unwrap();
    let list = String::from_utf8(out.stdout).unwrap();
    for name in [
        "without_models::test: test",
        "nested::in_a_module::test: test",
        "multi_thread_flavor::test: test",
    ] {
        assert!(list.contains(name), "{name} in {list}");
    }
    assert!(list.contains("plain_fn_returning_result::text_"), "{list}");
    assert!(
        list.contains("injects_one_model_per_kind::text_")
            || list.contains("injects_one_model_per_kind::text_unconfigured")
            || list.contains("injects_one_model_per_kind::embedding_unconfigured"),
        "{list}"
    );
    assert!(!list.contains("cfg_carries_over"), "{list}");
}
