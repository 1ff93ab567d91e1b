//! The runtime sees a setup's `env` and `RECORDER_ENV` as defaults under the process
//! environment. The process environment is never modified: each case runs
//! this binary again as a child with the variables it needs, and the child asserts.

use recorder_runtime::engine::Target;
use recorder_runtime::env::{ValueSource, Vars};
use recorder_runtime::{Mode, RecordingContext};
use std::process::Command;

/// Runs the ignored test `child` of this binary with `vars`; panics with its output
/// unless it passed and printed `child: ok`.
fn run_child(child: &str, vars: &[(&str, &str)], remove: &[&str]) {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([
        child,
        "--exact",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ]);
    for name in [
        "RECORDER_ENV",
        "RECORD_MODE",
        "RECORDER_SETUP",
        "RECORDER_KEEP_TIMING",
        "RECORDER_MAX_RECORDING_BYTES",
        "RECORDER_MAX_BODY_BYTES",
        "RECORDING_DIR",
    ]
    .iter()
    .chain(remove)
    {
        cmd.env_remove(name);
    }
    cmd.env("ENV_LAYERS_CHILD", "1");
    cmd.envs(vars.iter().copied());
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("child: ok"),
        "{child} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn is_child() -> bool {
    std::env::var_os("ENV_LAYERS_CHILD").is_some()
}

/// In a child, the error that building a context without a setup gives; `None` in the
/// parent (the child tests do nothing there).
fn child_context_error() -> Option<String> {
    if !is_child() {
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    Some(
        context(dir.path(), Target::default())
            .unwrap_err()
            .to_string(),
    )
}

fn setup_target(env: &[(&str, &str)]) -> Target {
    Target {
        setup: Some("layered".into()),
        env: env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ..Default::default()
    }
}

fn context(dir: &std::path::Path, target: Target) -> recorder_runtime::Result<RecordingContext> {
    RecordingContext::builder("env_layers::t")
        .dir(dir)
        .target(target)
        .build()
}

#[test]
fn explicit_beats_recorder_env_beats_setup_env() {
    run_child(
        "child_layers",
        &[
            (
                "RECORDER_ENV",
                "RECORD_MODE=live, ENV_LAYERS_B=recorder-env,ENV_LAYERS_C=recorder-env",
            ),
            ("ENV_LAYERS_C", "explicit"),
        ],
        &["ENV_LAYERS_A", "ENV_LAYERS_B"],
    );
}

#[test]
#[ignore = "run by explicit_beats_recorder_env_beats_setup_env"]
fn child_layers() {
    if !is_child() {
        return;
    }
    let target = setup_target(&[
        ("RECORD_MODE", "record"),
        ("RECORDER_KEEP_TIMING", "1"),
        ("RECORDER_MAX_BODY_BYTES", "1234"),
        ("ENV_LAYERS_A", "setup"),
        ("ENV_LAYERS_B", "setup"),
        ("ENV_LAYERS_C", "setup"),
    ]);
    let vars = target.vars();
    assert_eq!(
        vars.lookup("ENV_LAYERS_A"),
        Some(("setup".into(), ValueSource::Setup("layered".into())))
    );
    assert_eq!(
        vars.lookup("ENV_LAYERS_B"),
        Some(("recorder-env".into(), ValueSource::RecorderEnv))
    );
    assert_eq!(
        vars.lookup("ENV_LAYERS_C"),
        Some(("explicit".into(), ValueSource::Environment))
    );
    assert!(vars.keep_timing());
    assert_eq!(vars.max_body_bytes(), 1234);
    // RECORDER_ENV's RECORD_MODE=live beats the setup's record.
    let dir = tempfile::tempdir().unwrap();
    let ctx = context(dir.path(), target).unwrap();
    assert_eq!(ctx.mode(), Mode::Live);
    // A target without the setup: only RECORDER_ENV.
    assert!(!Target::default().vars().keep_timing());
    assert_eq!(Target::default().vars().mode().unwrap(), Mode::Live);
    println!("child: ok");
}

/// `RECORDER_TEXT_MODEL=...` (no S) used to change nothing, silently: the tests ran
/// with the setup's models and passed. A name one or two edits from a variable of the
/// recorder fails every context, in the environment or in `RECORDER_ENV`, saying which
/// variable it resembles, never showing its value.
#[test]
fn a_misspelled_variable_fails_the_context_naming_the_one_it_resembles() {
    run_child(
        "child_misspelled",
        &[("RECORDER_TEXT_MODEL", "sk-a-value-never-shown-0123")],
        &[],
    );
    run_child(
        "child_misspelled_in_recorder_env",
        &[("RECORDER_ENV", "RECORD_MDOE=record")],
        &[],
    );
}

#[test]
#[ignore = "run by a_misspelled_variable_fails_the_context_naming_the_one_it_resembles"]
fn child_misspelled() {
    let Some(err) = child_context_error() else {
        return;
    };
    assert!(
        err.starts_with("RECORDER_TEXT_MODEL is set in the environment, but the recorder has no variable of that name: did you mean RECORDER_TEXT_MODELS?"),
        "{err}"
    );
    assert!(err.contains("cargo recordings options"), "{err}");
    assert!(
        !err.contains("never-shown"),
        "the value is not shown: {err}"
    );
    println!("child: ok");
}

#[test]
#[ignore = "run by a_misspelled_variable_fails_the_context_naming_the_one_it_resembles"]
fn child_misspelled_in_recorder_env() {
    let Some(err) = child_context_error() else {
        return;
    };
    assert!(
        err.starts_with("RECORD_MDOE is set in RECORDER_ENV, but the recorder has no variable of that name: did you mean RECORD_MODE?"),
        "{err}"
    );
    println!("child: ok");
}

#[test]
fn a_misspelled_variable_in_a_setups_env_fails_the_context() {
    let dir = tempfile::tempdir().unwrap();
    let err = context(
        dir.path(),
        setup_target(&[("RECORDER_KEEP_TIMIN", "1"), ("OLLAMA_URL", "http://x")]),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.starts_with("RECORDER_KEEP_TIMIN is set in the setup's env (recorder.toml), but the recorder has no variable of that name: did you mean RECORDER_KEEP_TIMING?"),
        "{err}"
    );
}

#[test]
fn the_setup_env_gives_the_mode_dir_and_api_key() {
    run_child("child_setup_only", &[], &["ENV_LAYERS_KEY"]);
}

#[test]
#[ignore = "run by the_setup_env_gives_the_mode_dir_and_api_key"]
fn child_setup_only() {
    if !is_child() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let recordings = dir.path().join("from-setup");
    let target = Target {
        api_key_env: Some("ENV_LAYERS_KEY".into()),
        ..setup_target(&[
            ("RECORD_MODE", "record-if-missing"),
            ("RECORDING_DIR", recordings.to_str().unwrap()),
            ("ENV_LAYERS_KEY", "sk-from-the-setup-env-0123456789"),
        ])
    };
    assert_eq!(
        target.api_key(),
        Some((
            "ENV_LAYERS_KEY".into(),
            "sk-from-the-setup-env-0123456789".into()
        ))
    );
    let ctx = RecordingContext::builder("env_layers::t")
        .target(target)
        .build()
        .unwrap();
    assert_eq!(ctx.mode(), Mode::RecordIfMissing);
    assert_eq!(ctx.recordings_dir(), recordings);
    println!("child: ok");
}

#[test]
fn a_malformed_recorder_env_fails_every_test_naming_the_entry() {
    run_child(
        "child_malformed",
        &[("RECORDER_ENV", "RECORD_MODE=live,RECORDER_KEEP_TIMING")],
        &[],
    );
}

#[test]
#[ignore = "run by a_malformed_recorder_env_fails_every_test_naming_the_entry"]
fn child_malformed() {
    let Some(err) = child_context_error() else {
        return;
    };
    assert!(
        err.contains("RECORDER_ENV=\"RECORD_MODE=live,RECORDER_KEEP_TIMING\""),
        "{err}"
    );
    assert!(
        err.contains("entry `RECORDER_KEEP_TIMING` has no `=`"),
        "{err}"
    );
    assert!(
        err.contains("write RECORDER_ENV=KEY=value,KEY2=value2"),
        "{err}"
    );
    assert!(recorder_runtime::env::check().is_err());
    println!("child: ok");
}

#[test]
fn process_wide_reads_use_the_default_setup_env() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("recorder.toml"),
        "default_setup = \"a\"\n[setups.a]\nenv = { RECORDER_MAX_RECORDING_BYTES = \"4321\" }\n[setups.b]\nenv = { RECORDER_MAX_RECORDING_BYTES = \"99\" }\n",
    )
    .unwrap();
    let manifest = dir.path().to_str().unwrap();
    run_child(
        "child_process_vars",
        &[("CARGO_MANIFEST_DIR", manifest), ("EXPECT", "4321")],
        &[],
    );
    // RECORDER_SETUP (here from RECORDER_ENV) picks the process's setup.
    run_child(
        "child_process_vars",
        &[
            ("CARGO_MANIFEST_DIR", manifest),
            ("RECORDER_ENV", "RECORDER_SETUP=b"),
            ("EXPECT", "99"),
        ],
        &[],
    );
}

#[test]
#[ignore = "run by process_wide_reads_use_the_default_setup_env"]
fn child_process_vars() {
    if !is_child() {
        return;
    }
    let expected: u64 = std::env::var("EXPECT").unwrap().parse().unwrap();
    assert_eq!(recorder_runtime::env::max_recording_bytes(), expected);
    assert_eq!(Vars::process().max_recording_bytes(), expected);
    println!("child: ok");
}

#[test]
fn a_context_picks_its_setup_by_the_one_rule() {
    run_child("child_setup_rule", &[], &["RECORDER_SUITE"]);
    run_child(
        "child_setup_rule_variable",
        &[("RECORDER_ENV", "RECORDER_SETUP=other")],
        &["RECORDER_SUITE"],
    );
}

/// A folder with a `recorder.toml` whose suite `hosted` has its own setup.
fn suite_project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("recorder.toml"),
        "default_setup = \"local\"\n[setups.local]\n[setups.gpt]\n[setups.other]\n[suites.hosted]\nroots = [\"hosted\"]\nsetup = \"gpt\"\n",
    )
    .unwrap();
    dir
}

fn setup_of(dir: &std::path::Path, test_id: &str, setup: Option<&str>) -> Option<String> {
    let mut builder = RecordingContext::builder(test_id)
        .start_dir(dir)
        .dir(dir.join("recordings"));
    if let Some(name) = setup {
        builder = builder.setup(name);
    }
    builder.build().unwrap().scope().target().setup.clone()
}

#[test]
#[ignore = "run by a_context_picks_its_setup_by_the_one_rule"]
fn child_setup_rule() {
    if !is_child() {
        return;
    }
    let dir = suite_project();
    // Without the macro, from the test id alone: the suite's setup, else the default.
    assert_eq!(
        setup_of(dir.path(), "my_crate::hosted::chat::t[text=m]", None).as_deref(),
        Some("gpt")
    );
    assert_eq!(
        setup_of(dir.path(), "my_crate::chat::t", None).as_deref(),
        Some("local")
    );
    assert_eq!(setup_of(dir.path(), "t", None).as_deref(), Some("local"));
    // Named by the test (or resolved for it by the macro): always that one.
    assert_eq!(
        setup_of(dir.path(), "my_crate::hosted::t", Some("other")).as_deref(),
        Some("other")
    );
    let err = RecordingContext::builder("t")
        .start_dir(dir.path())
        .setup("claude")
        .build()
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("unknown setup `claude` (from the test's setup)"),
        "{err}"
    );
    println!("child: ok");
}

#[test]
#[ignore = "run by a_context_picks_its_setup_by_the_one_rule"]
fn child_setup_rule_variable() {
    if !is_child() {
        return;
    }
    let dir = suite_project();
    // RECORDER_SETUP (here from RECORDER_ENV) beats the suite and the default...
    assert_eq!(
        setup_of(dir.path(), "my_crate::hosted::t", None).as_deref(),
        Some("other")
    );
    assert_eq!(
        setup_of(dir.path(), "my_crate::chat::t", None).as_deref(),
        Some("other")
    );
    // ...and not the test's own.
    assert_eq!(
        setup_of(dir.path(), "my_crate::hosted::t", Some("local")).as_deref(),
        Some("local")
    );
    println!("child: ok");
}
