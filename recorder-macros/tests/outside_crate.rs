//! A crate outside this workspace, depending on `recorder-runtime` by path, gets
//! one test per model combination from the environment and `recorder.toml`, and a
//! new set when either changes (the file created, edited or deleted), without
//! `cargo clean`; without the file and the variables, a compile error says to run
//! `cargo recordings init`; under `RECORDER_SUITE`, the
//! other suites' tests are generated ignored, and none passes without running.
//!
//! The crates are `recorder_testkit::scratch_crate`s: built in `target/outside-crate`
//! (shared between runs and with the CLI's outside-workspace test, so only the first
//! run builds the runtime and its dependencies) with this workspace's `Cargo.lock`,
//! so they use the same dependency versions and need no registry access.
//!
//! Like every test that builds a crate of its own, the name starts with
//! `scratch_crate`: `cargo test --workspace --tests -- --skip scratch_crate` is the fast
//! loop without them (README, "Working on this workspace").

use recorder_testkit::scratch_crate::{workspace_root, ScratchCrate};
use std::path::Path;
use std::process::Output;
use std::time::Duration;

/// Writes a stand-alone crate depending on the runtime as `dependency` into `dir`,
/// with `test` as `tests/tracking.rs`.
fn write_crate(dir: &Path, name: &str, dependency: &str, test: &str) {
    let runtime = workspace_root().join("recorder-runtime");
    ScratchCrate::write(
        dir,
        name,
        &format!("{dependency} = {{ package = \"recorder-runtime\", path = {runtime:?} }}"),
    );
    std::fs::write(dir.join("tests/tracking.rs"), test).unwrap();
}

fn cargo(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let out = cargo_unchecked(dir, args, env);
    assert!(
        out.status.success(),
        "cargo {args:?} with {env:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn cargo_unchecked(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let krate = ScratchCrate::at(dir);
    let mut cmd = krate.cargo(args);
    cmd.env("RECORDING_DIR", dir.join("recordings"));
    for (key, value) in env {
        cmd.env(key, value);
    }
    cmd.output().unwrap()
}

/// The test names of `tests/tracking.rs`, sorted.
fn list(dir: &Path, env: &[(&str, &str)]) -> Vec<String> {
    list_with(dir, env, &[])
}

/// The ignored tests of `tests/tracking.rs`, sorted.
fn list_ignored(dir: &Path, env: &[(&str, &str)]) -> Vec<String> {
    list_with(dir, env, &["--ignored"])
}

fn list_with(dir: &Path, env: &[(&str, &str)], extra: &[&str]) -> Vec<String> {
    let mut args = vec![
        "test", "--test", "tracking", "--", "--list", "--format", "terse",
    ];
    args.extend_from_slice(extra);
    let out = cargo(dir, &args, env);
    let mut names: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter_map(|line| line.strip_suffix(": test"))
        .map(str::to_string)
        .collect();
    names.sort();
    names
}

const TRACKING_TEST: &str = r#"
use recorder_runtime::{recorded_test, Model};

#[recorded_test(models = "text,embedding")]
async fn answers(text_model: Model, embedding_model: Model) {
    assert_eq!(text_model.kind(), "text");
    assert_eq!(embedding_model.kind(), "embedding");
}
"#;

#[test]
fn scratch_crate_tracks_the_environment_and_recorder_toml() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("outside");
    write_crate(&dir, "outside", "recorder-runtime", TRACKING_TEST);

    // Six combinations from the environment; they run (no API call, no recording).
    let env = [
        ("RECORDER_TEXT_MODELS", "a,b"),
        ("RECORDER_EMBEDDING_MODELS", "x,y,z"),
    ];
    assert_eq!(
        list(&dir, &env),
        [
            "answers::text_a__embedding_x",
            "answers::text_a__embedding_y",
            "answers::text_a__embedding_z",
            "answers::text_b__embedding_x",
            "answers::text_b__embedding_y",
            "answers::text_b__embedding_z",
        ]
    );
    let out = cargo(&dir, &["test", "--test", "tracking"], &env);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("test result: ok. 6 passed"), "{stdout}");

    // A changed variable: the new set, without cargo clean.
    assert_eq!(
        list(
            &dir,
            &[
                ("RECORDER_TEXT_MODELS", "a,b"),
                ("RECORDER_EMBEDDING_MODELS", "x")
            ]
        ),
        [
            "answers::text_a__embedding_x",
            "answers::text_b__embedding_x"
        ]
    );

    // No recorder.toml and a kind no variable gives: a compile error, never a green
    // run with nothing tested, naming where it looked and `cargo recordings init`.
    let only_embedding = [("RECORDER_EMBEDDING_MODELS", "x")];
    let stderr = build_error(&dir, &only_embedding);
    assert!(
        stderr.contains("this test asks for text models, but no recorder.toml was found to take it from (looked in ")
            && stderr.contains(&format!("{}, {}, ", dir.display(), tmp.path().display()))
            && stderr.contains("RECORDER_TEXT_MODELS is unset; run `cargo recordings init` in the crate (or its workspace root) to write one"),
        "{stderr}"
    );

    // The file appears and nothing else changes: the next build takes it (cargo
    // compiles again after an error).
    let toml = dir.join("recorder.toml");
    std::fs::write(
        &toml,
        "default_setup = \"s\"\n[setups.s]\nmodels = { text = [\"m1\"], embedding = [\"e1\", \"e2\"] }\n",
    )
    .unwrap();
    assert_eq!(
        list(&dir, &only_embedding),
        ["answers::text_m1__embedding_x"]
    );
    assert_eq!(
        list(&dir, &[]),
        [
            "answers::text_m1__embedding_e1",
            "answers::text_m1__embedding_e2"
        ]
    );

    // Editing only the file rebuilds too.
    std::thread::sleep(Duration::from_millis(1100));
    std::fs::write(
        &toml,
        "default_setup = \"s\"\n[setups.s]\nmodels = { text = [\"m2\"], embedding = [\"e3\"] }\n",
    )
    .unwrap();
    assert_eq!(list(&dir, &[]), ["answers::text_m2__embedding_e3"]);

    // RECORDER_SETUP picks another setup of the file; explicit variables still win.
    std::thread::sleep(Duration::from_millis(1100));
    std::fs::write(
        &toml,
        "default_setup = \"s\"\n[setups.s]\nmodels = { text = [\"m2\"], embedding = [\"e3\"] }\n[setups.t]\nmodels = { text = [\"t1\"], embedding = [\"t2\"] }\n",
    )
    .unwrap();
    assert_eq!(
        list(&dir, &[("RECORDER_SETUP", "t")]),
        ["answers::text_t1__embedding_t2"]
    );
    assert_eq!(
        list(
            &dir,
            &[("RECORDER_SETUP", "t"), ("RECORDER_EMBEDDING_MODELS", "x")]
        ),
        ["answers::text_t1__embedding_x"]
    );

    // Deleted: rebuilt, and the error again.
    std::fs::remove_file(&toml).unwrap();
    let stderr = build_error(&dir, &[]);
    assert!(
        stderr.contains(
            "this test asks for text and embedding models, but no recorder.toml was found"
        ),
        "{stderr}"
    );

    // A file in a folder above the crate serves...
    let above = tmp.path().join("recorder.toml");
    std::fs::write(
        &above,
        "default_setup = \"s\"\n[setups.s]\nmodels = { text = [\"a1\"], embedding = [\"a2\"] }\n",
    )
    .unwrap();
    assert_eq!(list(&dir, &[]), ["answers::text_a1__embedding_a2"]);
    let (ok, out) = run_tests(&dir, &[], &[]);
    assert!(ok && out.contains("test result: ok. 1 passed"), "{out}");
    // ...until one appears nearer the crate, which cargo cannot know to watch: the
    // tests fail saying what happened and how to rebuild, rather than run with the
    // old file's models.
    std::thread::sleep(Duration::from_millis(1100));
    std::fs::write(
        &toml,
        "default_setup = \"s\"\n[setups.s]\nmodels = { text = [\"n1\"], embedding = [\"n2\"] }\n",
    )
    .unwrap();
    let (ok, out) = run_tests(&dir, &[], &[]);
    assert!(!ok, "{out}");
    assert!(
        out.contains(&format!(
            "recorded test tracking::answers[text=a1,embedding=a2] is out of date: it was built from {}, and {} is the one found now",
            above.display(),
            toml.display()
        )) && out.contains("Run `touch tests/tracking.rs`"),
        "{out}"
    );
    // Doing what it says rebuilds from the nearer file.
    std::fs::File::options()
        .write(true)
        .open(dir.join("tests/tracking.rs"))
        .unwrap()
        .set_modified(std::time::SystemTime::now())
        .unwrap();
    assert_eq!(list(&dir, &[]), ["answers::text_n1__embedding_n2"]);
    let (ok, out) = run_tests(&dir, &[], &[]);
    assert!(ok, "{out}");
}

/// `cargo test --no-run` of `tests/tracking.rs`, which must fail: its stderr.
fn build_error(dir: &Path, env: &[(&str, &str)]) -> String {
    let out = cargo_unchecked(dir, &["test", "--test", "tracking", "--no-run"], env);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "the build should fail:\n{stderr}");
    stderr
}

#[test]
fn scratch_crate_with_a_renamed_dependency_needs_no_option() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("renamed");
    write_crate(
        &dir,
        "renamed",
        "rr",
        r#"
use rr::{recorded_test, Model, RecordingContext};

#[recorded_test(models = "text")]
async fn through_the_rename(ctx: RecordingContext, model: Model) {
    assert_eq!(model.kind(), "text");
    assert!(ctx.test_id().starts_with("tracking::through_the_rename[text="));
}
"#,
    );
    let out = cargo(
        &dir,
        &["test", "--test", "tracking"],
        &[("RECORDER_TEXT_MODELS", "a")],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("through_the_rename::text_a ... ok"),
        "{stdout}"
    );
}

const SUITES_TOML: &str = r#"
default_setup = "s"
[setups.s]
models = { text = ["m1", "m2"] }
[suites.mine]
roots = ["tracking"]
[suites.other]
roots = ["elsewhere"]
"#;

const SUITES_TEST: &str = r#"
use recorder_runtime::{recorded_test, Model};

macro_rules! made {
    ($name:ident) => {
        #[recorded_test]
        fn $name() {}
    };
}

#[recorded_test(models = "text")]
async fn answers(text_model: Model) {
    assert_eq!(text_model.kind(), "text");
}

// The macro does not find a function made by a macro in the file: it places it in
// the file's module (`tracking`, suite `mine`), which is right here...
made!(made_by_a_macro);

// `tracking::elsewhere` matches `elsewhere` (without the crate name), which is
// longer than `tracking`: it is the `other` suite's.
mod elsewhere {
    use recorder_runtime::recorded_test;

    #[recorded_test]
    fn nested() {}

    // ...and wrong here: the runtime, which knows the module, fails it under
    // RECORDER_SUITE=mine instead of running it as one of `mine`'s.
    made!(made_inside);
}
"#;

/// `cargo test` of `tests/tracking.rs`, which may fail: (success, stdout + stderr).
fn run_tests(dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> (bool, String) {
    let mut args = vec!["test", "--test", "tracking", "--"];
    args.extend_from_slice(extra);
    let out = cargo_unchecked(dir, &args, env);
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn scratch_crate_under_recorder_suite_ignores_the_other_suites_tests() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("suites");
    write_crate(&dir, "suites", "recorder-runtime", SUITES_TEST);
    std::fs::write(dir.join("recorder.toml"), SUITES_TOML).unwrap();
    let all = [
        "answers::text_m1",
        "answers::text_m2",
        "elsewhere::made_inside::test",
        "elsewhere::nested::test",
        "made_by_a_macro::test",
    ];
    assert_eq!(list(&dir, &[]), all);
    assert!(list_ignored(&dir, &[]).is_empty());
    let (ok, out) = run_tests(&dir, &[], &[]);
    assert!(ok && out.contains("test result: ok. 5 passed"), "{out}");

    // RECORDER_SUITE=other: the same tests, those placed in `mine` ignored with the
    // reason (`made_inside` too: the macro places it by its file).
    let other = [("RECORDER_SUITE", "other")];
    assert_eq!(list(&dir, &other), all);
    assert_eq!(
        list_ignored(&dir, &other),
        [
            "answers::text_m1",
            "answers::text_m2",
            "elsewhere::made_inside::test",
            "made_by_a_macro::test"
        ]
    );
    let (ok, out) = run_tests(&dir, &[], &other);
    assert!(ok, "{out}");
    assert!(
        out.contains("test answers::text_m1 ... ignored, not in suite `other` (RECORDER_SUITE=other); it belongs to suite `mine` (module `tracking`)\n"),
        "{out}"
    );
    assert!(
        out.contains("test made_by_a_macro::test ... ignored, not in suite `other` (RECORDER_SUITE=other); it belongs to suite `mine` (module `tracking`, placed by its file"),
        "{out}"
    );
    assert!(
        out.contains("test result: ok. 1 passed; 0 failed; 4 ignored"),
        "{out}"
    );
    // `-- --ignored` runs them: those outside `other` fail saying why, none passes
    // without running; `made_inside`, really in `other`, runs its body.
    let (ok, out) = run_tests(&dir, &["--ignored"], &other);
    assert!(!ok, "{out}");
    assert!(
        out.contains("test result: FAILED. 1 passed; 3 failed"),
        "{out}"
    );
    assert!(
        out.contains("test elsewhere::made_inside::test ... ok"),
        "{out}"
    );
    assert!(
        out.contains("recorded test tracking::answers[text=m1] is not in suite `other` (RECORDER_SUITE=other): `tracking` belongs to suite `mine`: it is generated ignored for that reason"),
        "{out}"
    );

    // The other way round: `made_inside`, placed in `mine` by its file but really in
    // `other`'s module, fails instead of passing as one of `mine`'s.
    let mine = [("RECORDER_SUITE", "mine")];
    assert_eq!(list_ignored(&dir, &mine), ["elsewhere::nested::test"]);
    let (ok, out) = run_tests(&dir, &[], &mine);
    assert!(!ok, "{out}");
    assert!(
        out.contains("test result: FAILED. 3 passed; 1 failed; 1 ignored"),
        "{out}"
    );
    assert!(
        out.contains("recorded test tracking::elsewhere::made_inside is not in suite `mine` (RECORDER_SUITE=mine): `tracking::elsewhere` belongs to suite `other`, but #[recorded_test] placed it in module `tracking`"),
        "{out}"
    );

    // Back to everything, without cargo clean.
    assert!(list_ignored(&dir, &[]).is_empty());

    // Two functions of one name and the same tokens, one in `other` and one not:
    // the macro cannot tell which it expands, so RECORDER_SUITE makes it a compile
    // error at the function, saying what to do.
    std::fs::write(
        dir.join("tests/twins.rs"),
        "mod elsewhere {\n    #[recorder_runtime::recorded_test]\n    fn twin() {}\n}\nmod plain {\n    #[recorder_runtime::recorded_test]\n    fn twin() {}\n}\n",
    )
    .unwrap();
    cargo(&dir, &["test", "--test", "twins", "--no-run"], &[]);
    let out = cargo_unchecked(&dir, &["test", "--test", "twins", "--no-run"], &other);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("recorded_test: cannot tell whether `twin` is in suite `other` (RECORDER_SUITE=other): its file has #[recorded_test] functions of that name with the same signature and body in modules `twins::elsewhere`, `twins::plain`, not all of them in the suite; rename one")
            && stderr.contains("tests/twins.rs:3:8"),
        "{stderr}"
    );

    // An unknown suite is a compile error naming the known ones.
    let out = cargo_unchecked(
        &dir,
        &["test", "--test", "tracking", "--no-run"],
        &[("RECORDER_SUITE", "nope")],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("recorded_test: unknown suite `nope` (from RECORDER_SUITE)")
            && stderr.contains("defines `mine`, `other`"),
        "{stderr}"
    );
}

/// Another library's client imported as `Client` looks like the fixture to the
/// macro; the types say what to do instead, at the parameter. (A trybuild case
/// cannot show it: trybuild builds without `--test`, which drops the tests.)
#[test]
fn scratch_crate_another_librarys_client_imported_as_client_says_what_to_do() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("foreign");
    write_crate(
        &dir,
        "foreign",
        "recorder-runtime",
        r#"
use recorder_runtime::recorded_test;

mod other_library {
    pub struct Client;
}
use other_library::Client;

#[recorded_test]
async fn answers(client: Client) {
    let _ = client;
}
"#,
    );
    let stderr = build_error(&dir, &[]);
    assert!(
        stderr.contains("`other_library::Client` is not the recorder's fixture `Client`")
            && stderr.contains("tests/tracking.rs:10:26")
            && stderr.contains("take `ctx: RecordingContext` and build it from the context: `ctx.reqwest_client()`"),
        "{stderr}"
    );
}
