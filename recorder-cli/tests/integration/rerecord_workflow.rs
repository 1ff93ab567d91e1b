//! Re-recording in CI (`examples/ci/rerecord.yml`): `scripts/ci-rerecord.sh` (the
//! workflow's steps) and `scripts/rerecord-remote.sh` (the user's entry point) run here
//! against
//! - a fake `gh`, first on PATH: it logs its arguments and answers from files, through
//!   the real `jq` for `--jq` as gh does; `gh workflow run` creates a run that
//!   `gh run list` then shows, and `gh run watch` runs a hook that plays the CI side;
//! - a fake `cargo`: it logs its arguments and the recorder's variables and "records"
//!   by copying real committed recordings into `recordings/`;
//! - a real bare git remote (branches, a pre-receive hook that refuses pushes);
//! - the real `cargo-recordings check`.
//!
//! No network, no model server; each test takes a few seconds at most.

use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .into()
}

fn ci_script() -> PathBuf {
    workspace().join("scripts/ci-rerecord.sh")
}

fn remote_script() -> PathBuf {
    workspace().join("scripts/rerecord-remote.sh")
}

/// The committed recordings the sandbox starts from and "records".
const ANSWERS: &str = "chat/answers_a_question[text=smollm2-135m]";
const DIMENSION: &str =
    "embeddings/have_the_configured_dimension[embedding=multilingual-e5-small-q4]";

const FAKE_CARGO: &str = r#"#!/usr/bin/env bash
# fake cargo: logs the call; `test` in a record mode "records" by copying
# $FAKE_RECORD_SRC into recordings/ and dropping stale second occurrences.
set -euo pipefail
{
  echo "--- cargo"
  for a in "$@"; do printf 'arg: %s\n' "$a"; done
  env | LC_ALL=C sort | grep -E '^(RECORD_MODE|RECORDER_[A-Z_]+|RECORDING_DIR)=' | sed 's/^/env: /' || true
  for key in OPENAI_API_KEY ANTHROPIC_API_KEY RERECORD_API_KEY TAVILY_API_KEY; do
    if [ -n "$(printenv "$key" || true)" ]; then echo "env: $key=<set>"; fi
  done
} >>"$FAKE_LOG"
if [ "${1:-}" = test ]; then
  case ${RECORD_MODE:-replay} in
    record | record-if-missing)
      if [ -n "${FAKE_RECORD_SRC:-}" ]; then
        cp -R "$FAKE_RECORD_SRC/." recordings/
        find recordings -name '*.2.json' -delete
      fi
      : >recordings/index.sqlite
      if [ -n "${FAKE_BROKEN:-}" ]; then
        mkdir -p 'recordings/chat/broken[text=x]'
        echo '{not json' >'recordings/chat/broken[text=x]/0000.json'
      fi
      if [ -n "${FAKE_STRAY_FILE:-}" ]; then echo stray >"$FAKE_STRAY_FILE"; fi
      exit "${FAKE_TEST_EXIT:-0}" ;;
    *) exit "${FAKE_REPLAY_EXIT:-0}" ;;
  esac
fi
"#;

const FAKE_BACKENDS: &str = r#"#!/usr/bin/env bash
{ echo "--- backends"; for a in "$@"; do printf 'arg: %s\n' "$a"; done; } >>"$FAKE_LOG"
"#;

const FAKE_GH: &str = r#"#!/usr/bin/env bash
# fake gh: logs the call and answers like gh from $FAKE_GH/answers/<words>.json,
# through jq for --jq (gh prints --jq results raw, as jq -r does).
set -euo pipefail
{ echo "--- gh"; for a in "$@"; do printf 'arg: %s\n' "$a"; done; } >>"$FAKE_LOG"
pos=() fields=() jq_expr="" name="" dir=""
while [ $# -gt 0 ]; do
  case $1 in
    --jq | -q) jq_expr=$2; shift 2 ;;
    --name | -n) name=$2; shift 2 ;;
    --dir | -D) dir=$2; shift 2 ;;
    -f) fields+=("$2"); shift 2 ;;
    --json | --repo | -R | --ref | --workflow | --event | --limit | -L | --head | --state | --branch | -b | --template | -t | --interval | -i) shift 2 ;;
    -*) shift ;;
    *) pos+=("$1"); shift ;;
  esac
done
case "${pos[0]:-} ${pos[1]:-}" in
  "auth status")
    if [ -f "$FAKE_GH/logged-out" ]; then echo "You are not logged into any GitHub hosts. To log in, run: gh auth login" >&2; exit 1; fi
    exit 0 ;;
  "workflow run")
    if [ -f "$FAKE_GH/fail-workflow-run" ]; then echo "HTTP 404: Not Found" >&2; exit 1; fi
    : >"$FAKE_GH/dispatch.sh"
    rid="" target=""
    for f in ${fields[@]+"${fields[@]}"}; do
      printf 'DISPATCH_%s=%q\n' "${f%%=*}" "${f#*=}" >>"$FAKE_GH/dispatch.sh"
      case $f in request_id=*) rid=${f#*=} ;; target=*) target=${f#*=} ;; esac
    done
    printf '[{"databaseId": 4242, "displayTitle": "Re-record for %s %s", "url": "https://github.com/o/r/actions/runs/4242"}]\n' "$target" "$rid" >"$FAKE_GH/answers/run_list.json"
    echo "✓ Created workflow_dispatch event for ${pos[2]:-?} at main"
    exit 0 ;;
  "run watch")
    if [ -x "$FAKE_GH/hooks/run-watch" ]; then exec "$FAKE_GH/hooks/run-watch"; fi
    exit 0 ;;
  "run download")
    src="$FAKE_GH/artifacts/$name"
    if [ ! -d "$src" ]; then echo "no valid artifacts found to download" >&2; exit 1; fi
    mkdir -p "$dir"
    cp -R "$src/." "$dir/"
    exit 0 ;;
esac
key=$(printf '%s_' "${pos[@]}" | tr '/ ' '__')
key=${key%_}
file="$FAKE_GH/answers/$key.json"
if [ ! -f "$file" ]; then echo "gh: Not Found (HTTP 404)" >&2; exit 1; fi
if [ -n "$jq_expr" ]; then jq -r "$jq_expr" "$file"; else cat "$file"; fi
"#;

/// The CI side for `gh run watch`: what the workflow does for the dispatched inputs
/// (a branch target), against the sandbox's bare remote. A run that cannot push
/// leaves its artifact where `gh run download` finds it and fails, as the publish job does.
const CI_HOOK: &str = r#"#!/usr/bin/env bash
set -euo pipefail
. "$FAKE_GH/dispatch.sh"
ci=$(mktemp -d "$SANDBOX/ci.XXXXXX")
git clone -q -b "$DISPATCH_target" "$SANDBOX/remote.git" "$ci/work"
cd "$ci/work"
rc=0
RERECORD_TESTS=$DISPATCH_tests RERECORD_SUITE=$DISPATCH_suite RERECORD_SETUP=$DISPATCH_setup \
  RERECORD_MODELS=$DISPATCH_models RERECORD_MODE=$DISPATCH_mode RERECORD_COMMIT=$DISPATCH_commit \
  RERECORD_REQUEST_ID=$DISPATCH_request_id RERECORD_BASE_SHA=$DISPATCH_expected_sha \
  RERECORD_BRANCH=$DISPATCH_target RERECORD_PUSH_URL="$SANDBOX/remote.git" \
  RERECORD_ARTIFACT_DIR="$ci/artifact" RERECORD_ARTIFACT_NAME=recordings-4242 \
  GITHUB_RUN_ID=4242 GITHUB_REPOSITORY=o/r \
  "$CI_SCRIPT" all >"$ci/log" 2>&1 || rc=$?
if [ -d "$ci/artifact/recordings" ] && [ "$rc" -ne 0 ] || [ "$DISPATCH_commit" = false ]; then
  mkdir -p "$FAKE_GH/artifacts"
  cp -R "$ci/artifact" "$FAKE_GH/artifacts/recordings-4242"
fi
exit "$rc"
"#;

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn all(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
    fn expect(&self, code: i32) -> &Self {
        assert_eq!(
            self.code, code,
            "exit {} (wanted {code})\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        );
        self
    }
    fn says(&self, text: &str) -> &Self {
        assert!(
            self.all().contains(text),
            "output lacks {text:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout,
            self.stderr
        );
        self
    }
}

/// One logged call of a fake tool.
#[derive(Debug)]
struct Call {
    tool: String,
    args: Vec<String>,
    env: BTreeMap<String, String>,
}

struct Sandbox {
    _tmp: tempfile::TempDir,
    root: PathBuf,
}

fn write_exe(path: &Path, text: &str) {
    fs::write(path, text).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Files under `dir`, relative, sorted (`index.sqlite*` left out: a derived cache).
fn files_under(dir: &Path) -> Vec<String> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
        for entry in fs::read_dir(dir).unwrap() {
            let p = entry.unwrap().path();
            if p.is_dir() {
                walk(base, &p, out);
            } else if !p
                .file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("index.sqlite")
            {
                out.push(p.strip_prefix(base).unwrap().to_string_lossy().into_owned());
            }
        }
    }
    let mut out = Vec::new();
    if dir.is_dir() {
        walk(dir, dir, &mut out);
    }
    out.sort();
    out
}

fn one_json(dir: &Path) -> String {
    let files = files_under(dir);
    assert_eq!(files.len(), 1, "{dir:?}: {files:?}");
    files[0].clone()
}

fn have(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The tests that go through the fake gh need jq (gh has it built in).
fn need_jq() -> bool {
    if have("jq") {
        return true;
    }
    eprintln!("SKIPPED: jq is not installed; the fake gh answers --jq through it");
    false
}

impl Sandbox {
    /// A project (recorder.toml, a few recordings: one answer older than its fresh
    /// recording, a stale second occurrence) pushed to a bare remote on `main` and
    /// `feature`, cloned to `src/` on `feature`; the fakes in `bin/`; `fresh/` holds
    /// what the fake cargo "records".
    fn new() -> Self {
        Self::with_config("")
    }

    /// [`Sandbox::new`] with `extra` appended to the project's recorder.toml (on
    /// `main` and `feature` alike).
    fn with_config(extra: &str) -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().canonicalize().unwrap();
        let sb = Sandbox { _tmp: tmp, root };
        let bin = sb.root.join("bin");
        fs::create_dir_all(&bin).unwrap();
        write_exe(&bin.join("cargo"), FAKE_CARGO);
        write_exe(&bin.join("backends"), FAKE_BACKENDS);
        write_exe(&bin.join("gh"), FAKE_GH);
        fs::create_dir_all(sb.gh().join("answers")).unwrap();
        fs::create_dir_all(sb.gh().join("hooks")).unwrap();
        fs::write(sb.root.join("gitconfig"), "").unwrap();

        let recordings = workspace().join("recordings");
        let fresh = sb.root.join("fresh");
        copy_dir(&recordings.join(ANSWERS), &fresh.join(ANSWERS));
        copy_dir(&recordings.join(DIMENSION), &fresh.join(DIMENSION));

        let seed = sb.root.join("seed");
        fs::create_dir_all(&seed).unwrap();
        let config = fs::read_to_string(workspace().join("recorder.toml")).unwrap();
        fs::write(seed.join("recorder.toml"), config + extra).unwrap();
        fs::write(seed.join(".gitignore"), "/target\n").unwrap();
        copy_dir(
            &recordings.join("_models"),
            &seed.join("recordings/_models"),
        );
        let answers = seed.join("recordings").join(ANSWERS);
        copy_dir(&recordings.join(ANSWERS), &answers);
        let name = one_json(&answers);
        let file = answers.join(&name);
        let text = fs::read_to_string(&file).unwrap();
        let at = text.rfind("\"content\": \"").unwrap() + "\"content\": \"".len();
        let older = format!("{}An older answer. {}", &text[..at], &text[at..]);
        fs::write(&file, &older).unwrap();
        fs::write(answers.join(name.replace(".json", ".2.json")), &older).unwrap();

        sb.git(
            &sb.root,
            &["init", "-q", "--bare", "-b", "main", "remote.git"],
        );
        sb.git(&seed, &["init", "-q", "-b", "main"]);
        sb.git(&seed, &["add", "-A"]);
        sb.git(&seed, &["commit", "-q", "-m", "project"]);
        sb.git(&seed, &["remote", "add", "origin", "../remote.git"]);
        sb.git(&seed, &["push", "-q", "origin", "main"]);
        sb.git(&seed, &["switch", "-q", "-c", "feature"]);
        fs::write(seed.join("notes.md"), "work in progress\n").unwrap();
        sb.git(&seed, &["add", "notes.md"]);
        sb.git(&seed, &["commit", "-q", "-m", "feature work"]);
        sb.git(&seed, &["push", "-q", "origin", "feature"]);
        sb.git(
            &sb.root,
            &["clone", "-q", "-b", "feature", "remote.git", "src"],
        );
        sb
    }

    fn gh(&self) -> PathBuf {
        self.root.join("gh")
    }
    fn src(&self) -> PathBuf {
        self.root.join("src")
    }
    fn remote(&self) -> PathBuf {
        self.root.join("remote.git")
    }
    fn artifact(&self) -> PathBuf {
        self.root.join("artifact")
    }
    fn log(&self) -> PathBuf {
        self.root.join("calls.log")
    }

    /// A command with a clean environment: the fakes first on PATH, git configured
    /// by nothing but the sandbox, no GitHub Actions variables of the host.
    fn command(&self, program: &Path, dir: &Path) -> Command {
        let mut cmd = Command::new(program);
        cmd.current_dir(dir).env_clear();
        let path = std::env::var("PATH").unwrap_or_default();
        cmd.env(
            "PATH",
            format!("{}:{path}", self.root.join("bin").display()),
        )
        .env("HOME", &self.root)
        .env("TMPDIR", &self.root)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", self.root.join("gitconfig"))
        .env("SANDBOX", &self.root)
        .env("FAKE_LOG", self.log())
        .env("FAKE_GH", self.gh())
        .env("CI_SCRIPT", ci_script());
        cmd
    }

    fn git(&self, dir: &Path, args: &[&str]) -> String {
        let out = self
            .command(Path::new("git"), dir)
            .args([
                "-c",
                "user.name=Dev",
                "-c",
                "user.email=dev@example.invalid",
            ])
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }

    fn run(&self, mut cmd: Command) -> Run {
        let out = cmd.output().unwrap();
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// `ci-rerecord.sh ARGS` in `src/` with the fakes, the real check, the sandbox's
    /// remote as the push URL, and `env` on top.
    fn ci(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        self.ci_in(&self.src(), args, env)
    }

    fn ci_in(&self, dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut cmd = self.command(&ci_script(), dir);
        cmd.args(args)
            .env("FAKE_RECORD_SRC", self.root.join("fresh"))
            .env("RERECORD_BACKENDS", self.root.join("bin/backends"))
            .env(
                "RERECORD_RECORDINGS",
                env!("CARGO_BIN_EXE_cargo-recordings"),
            )
            .env("RERECORD_ARTIFACT_DIR", self.artifact())
            .env("RERECORD_BRANCH", "feature")
            .env("RERECORD_PUSH_URL", self.remote())
            .env("GITHUB_OUTPUT", self.root.join("github-output"))
            .env("GITHUB_STEP_SUMMARY", self.root.join("github-summary"));
        for (k, v) in env {
            cmd.env(k, v);
        }
        self.run(cmd)
    }

    /// `rerecord-remote.sh ARGS` in `src/`, finding its run at once.
    fn remote_script(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut cmd = self.command(&remote_script(), &self.src());
        cmd.args(args)
            .env("RERECORD_FIND_TRIES", "2")
            .env("RERECORD_POLL_SECONDS", "0")
            .env("FAKE_RECORD_SRC", self.root.join("fresh"))
            .env("RERECORD_BACKENDS", self.root.join("bin/backends"))
            .env(
                "RERECORD_RECORDINGS",
                env!("CARGO_BIN_EXE_cargo-recordings"),
            );
        for (k, v) in env {
            cmd.env(k, v);
        }
        self.run(cmd)
    }

    fn answer(&self, key: &str, value: Value) {
        fs::write(
            self.gh().join("answers").join(format!("{key}.json")),
            value.to_string(),
        )
        .unwrap();
    }

    fn calls(&self) -> Vec<Call> {
        let text = fs::read_to_string(self.log()).unwrap_or_default();
        let mut calls: Vec<Call> = Vec::new();
        for line in text.lines() {
            if let Some(tool) = line.strip_prefix("--- ") {
                calls.push(Call {
                    tool: tool.into(),
                    args: Vec::new(),
                    env: BTreeMap::new(),
                });
            } else if let Some(a) = line.strip_prefix("arg: ") {
                calls.last_mut().unwrap().args.push(a.into());
            } else if let Some(e) = line.strip_prefix("env: ") {
                let (k, v) = e.split_once('=').unwrap();
                calls.last_mut().unwrap().env.insert(k.into(), v.into());
            }
        }
        calls
    }

    fn calls_of(&self, tool: &str) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|c| c.tool == tool)
            .collect()
    }

    /// The last values written to GITHUB_OUTPUT.
    fn outputs(&self) -> BTreeMap<String, String> {
        let text = fs::read_to_string(self.root.join("github-output")).unwrap_or_default();
        text.lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    }

    fn remote_tip(&self, branch: &str) -> String {
        self.git(&self.remote(), &["rev-parse", branch])
    }

    /// The recordings the fake cargo makes, relative to `recordings/`.
    fn expected_recordings(&self) -> Vec<String> {
        let mut want = files_under(&workspace().join("recordings/_models"))
            .into_iter()
            .map(|f| format!("_models/{f}"))
            .collect::<Vec<_>>();
        want.extend(files_under(&self.root.join("fresh")));
        want.sort();
        want
    }
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

const KEY: &str = "sk-test-0123456789abcdefghijklmnopqrstuvwxyzABCDEF";

#[test]
fn the_selection_becomes_the_cargo_command_and_its_environment() {
    let sb = Sandbox::new();
    let env = [
        (
            "RERECORD_TESTS",
            "--test chat answers_in_json streams_an_answer -- --exact",
        ),
        ("RERECORD_SUITE", "base"),
        ("RERECORD_SETUP", "gpt"),
        (
            "RERECORD_MODELS",
            "text=gpt-4o-mini,gpt-4o; EMBEDDING=text-embedding-3-small",
        ),
        ("RERECORD_MODE", "record"),
        ("RERECORD_PACKAGE", "examples"),
        ("OPENAI_API_KEY", KEY),
    ];
    let want_args = [
        "test",
        "-p",
        "examples",
        "--test",
        "chat",
        "--no-fail-fast",
        "--",
        "answers_in_json",
        "streams_an_answer",
        "--exact",
    ];

    // plan: says what it will run, and tells the workflow which secret the setup needs
    let plan = sb.ci(&["plan"], &env);
    plan.expect(0).says(
        "command: RECORD_MODE=record RECORDER_SETUP=gpt RECORDER_SUITE=base \
         RECORDER_TEXT_MODELS=gpt-4o-mini,gpt-4o RECORDER_EMBEDDING_MODELS=text-embedding-3-small \
         cargo test -p examples --test chat --no-fail-fast -- answers_in_json streams_an_answer --exact",
    );
    let out = sb.outputs();
    assert_eq!(out["setup"], "gpt");
    assert_eq!(out["api_key_env"], "OPENAI_API_KEY");
    assert_eq!(out["local"], "false");
    assert!(sb.calls().is_empty(), "plan runs nothing");

    // record: the fake cargo sees exactly that, then the same selection replays
    // without the key; a hosted setup starts no backends
    let run = sb.ci(&["record"], &env);
    run.expect(0).says("2 written, 1 removed");
    assert!(
        !run.all().contains(KEY),
        "the API key was printed:\n{}",
        run.all()
    );
    let cargo = sb.calls_of("cargo");
    assert_eq!(cargo.len(), 2, "{cargo:?}");
    let (record, replay) = (&cargo[0], &cargo[1]);
    assert_eq!(strs(&record.args), want_args);
    let want_env: BTreeMap<String, String> = [
        ("RECORD_MODE", "record"),
        ("RECORDER_SETUP", "gpt"),
        ("RECORDER_SUITE", "base"),
        ("RECORDER_TEXT_MODELS", "gpt-4o-mini,gpt-4o"),
        ("RECORDER_EMBEDDING_MODELS", "text-embedding-3-small"),
        ("OPENAI_API_KEY", "<set>"),
    ]
    .into_iter()
    .map(|(k, v)| (k.into(), v.into()))
    .collect();
    assert_eq!(record.env, want_env);
    assert_eq!(strs(&replay.args), want_args);
    assert_eq!(replay.env["RECORD_MODE"], "replay");
    assert!(
        !replay.env.contains_key("OPENAI_API_KEY"),
        "replay must run without the key"
    );
    assert!(sb.calls_of("backends").is_empty());
    assert_eq!(sb.outputs()["changed"], "3");
}

#[test]
fn a_local_setup_starts_the_backends_for_recording_only() {
    let sb = Sandbox::new();
    // no setup: the suite's (service -> local); default mode; no package named
    let run = sb.ci(
        &["record", "--suite", "service", "--tests", "--test service"],
        &[],
    );
    run.expect(0)
        .says("setup local is local: starting the backends");
    let order: Vec<String> = sb
        .calls()
        .iter()
        .map(|c| {
            format!(
                "{} {} {}",
                c.tool,
                c.args[0],
                c.env.get("RECORD_MODE").map_or("", |m| m)
            )
        })
        .collect();
    assert_eq!(
        order,
        [
            "backends start ",
            "cargo test record-if-missing",
            "backends stop ",
            "cargo test replay"
        ]
    );
    let record = &sb.calls_of("cargo")[0];
    assert_eq!(
        strs(&record.args),
        ["test", "--test", "service", "--no-fail-fast"]
    );
    assert_eq!(
        record.env.get("RECORDER_SUITE").map(String::as_str),
        Some("service")
    );
    assert!(
        !record.env.contains_key("RECORDER_SETUP"),
        "the suite picks the setup"
    );
    assert_eq!(sb.outputs()["changed"], "3");
}

#[test]
fn wrong_selectors_are_usage_errors_and_run_nothing() {
    let sb = Sandbox::new();
    let cases: &[(&[(&str, &str)], &str)] = &[
        (&[("RERECORD_MODE", "replay")], "use record-if-missing (record what is missing) or record"),
        (&[("RERECORD_TESTS", "answers; rm -rf ~")], "'answers;' in the tests selector is not a cargo option or a test name"),
        (&[("RERECORD_TESTS", "$(touch pwned)")], "not a cargo option or a test name"),
        (&[("RERECORD_TESTS", "--config build.rustflags=x")], "'--config' is not a cargo test option the workflow passes on"),
        (&[("RERECORD_TESTS", "--test")], "--test in the tests selector needs a value"),
        (&[("RERECORD_TESTS", "chat -- --format json")], "'--format' is not a libtest option"),
        (&[("RERECORD_MODELS", "colour=red")], "'colour' in the models selector is not a model kind (kinds: text, vision, embedding, rerank, safety, judge)"),
        (&[("RERECORD_MODELS", "text=a text=b")], "names text twice"),
        (&[("RERECORD_MODELS", "text")], "'text' in the models selector is not KIND=MODEL"),
        (&[("RERECORD_SETUP", "nope")], "setup 'nope' is not in recorder.toml (setups: local, ollama"),
        (&[("RERECORD_SUITE", "nope")], "suite 'nope' is not in recorder.toml (suites: base, service"),
        (&[("RERECORD_SETUP", "gpt")], "setup gpt needs OPENAI_API_KEY, which is empty: for the workflow, add the key as the secret RERECORD_API_KEY of the environment rerecord-OPENAI_API_KEY (Settings > Environments)"),
    ];
    for (env, message) in cases {
        let run = sb.ci(&["record"], env);
        run.expect(2).says(message);
        assert!(
            sb.calls().is_empty(),
            "{env:?} ran something: {:?}",
            sb.calls()
        );
    }
    assert!(!sb.src().join("pwned").exists());
    sb.ci(&["record", "--colour"], &[])
        .expect(2)
        .says("unknown argument '--colour'");
    sb.ci(&["frobnicate"], &[])
        .expect(2)
        .says("unknown command 'frobnicate'");
    sb.ci(&["--help"], &[])
        .expect(0)
        .says("Usage: scripts/ci-rerecord.sh COMMAND");
}

#[test]
fn the_recordings_are_committed_and_pushed_to_the_branch() {
    let sb = Sandbox::new();
    let before = sb.remote_tip("feature");
    let main = sb.remote_tip("main");
    let stray = sb.src().join("stray.txt");
    let run = sb.ci(
        &["all"],
        &[
            ("RERECORD_TESTS", "--test chat answers_a_question"),
            ("RERECORD_SETUP", "local"),
            ("RERECORD_MODELS", "text=smollm2-135m"),
            ("RERECORD_BASE_SHA", before.as_str()),
            ("RERECORD_REQUEST_ID", "rr-test-1"),
            ("GITHUB_RUN_ID", "77"),
            ("GITHUB_REPOSITORY", "o/r"),
            ("FAKE_STRAY_FILE", stray.to_str().unwrap()),
        ],
    );
    run.expect(0).says("pushed ");
    let tip = sb.remote_tip("feature");
    assert_ne!(tip, before);
    assert_eq!(
        sb.git(&sb.remote(), &["rev-parse", "feature~1"]),
        before,
        "one commit on top, no force"
    );
    assert_eq!(sb.remote_tip("main"), main, "only the branch asked for");
    assert_eq!(sb.outputs()["pushed"], "true");
    assert_eq!(sb.outputs()["commit"], tip);

    let message = sb.git(&sb.remote(), &["log", "-1", "--format=%B", "feature"]);
    assert!(
        message.starts_with(
            "recordings: re-record --test chat answers_a_question (setup local, models text=smollm2-135m, record-if-missing)\n"
        ),
        "{message}"
    );
    for line in [
        "tests:  --test chat answers_a_question",
        "setup:  local",
        "models: text=smollm2-135m",
        "mode:   record-if-missing",
        "files:  2 written, 1 removed",
        &format!("recorded from: {before}"),
        "workflow run: https://github.com/o/r/actions/runs/77",
        "Rerecord-Request: rr-test-1",
    ] {
        assert!(
            message.contains(line),
            "commit message lacks {line:?}:\n{message}"
        );
    }
    let author = sb.git(
        &sb.remote(),
        &["log", "-1", "--format=%an <%ae>", "feature"],
    );
    assert_eq!(
        author,
        "github-actions[bot] <41898282+github-actions[bot]@users.noreply.github.com>"
    );

    // only recordings/: the fresh answer, the new test, the stale occurrence removed;
    // not the index, not the stray file the "tests" wrote
    let changes = sb.git(
        &sb.remote(),
        &["diff", "--name-status", "feature~1", "feature"],
    );
    let answers = one_json(&workspace().join("recordings").join(ANSWERS));
    let dimension = one_json(&workspace().join("recordings").join(DIMENSION));
    let want = format!(
        "M\trecordings/{ANSWERS}/{answers}\nD\trecordings/{ANSWERS}/{}\nA\trecordings/{DIMENSION}/{dimension}",
        answers.replace(".json", ".2.json")
    );
    let mut got: Vec<&str> = changes.lines().collect();
    let mut want: Vec<&str> = want.lines().collect();
    got.sort();
    want.sort();
    assert_eq!(got, want);
    assert!(stray.exists(), "the stray file stays, uncommitted");
    let committed = sb.git(
        &sb.remote(),
        &["show", &format!("feature:recordings/{ANSWERS}/{answers}")],
    );
    assert_eq!(
        committed + "\n",
        fs::read_to_string(workspace().join("recordings").join(ANSWERS).join(&answers)).unwrap()
    );
}

#[test]
fn the_run_summary_shows_the_review_escaped() {
    let sb = Sandbox::new();
    // The answer recorded carries markdown and HTML of its own (recordings come from
    // the code being recorded).
    let fresh = sb.root.join("fresh").join(ANSWERS);
    let file = fresh.join(one_json(&fresh));
    let text = fs::read_to_string(&file).unwrap();
    let at = text.rfind("\"content\": \"").unwrap() + "\"content\": \"".len();
    let hostile = "![pixel](https://evil.example/p.png) <img src=x> @maintainer ";
    fs::write(&file, format!("{}{hostile}{}", &text[..at], &text[at..])).unwrap();
    sb.ci(
        &["record"],
        &[
            ("RERECORD_TESTS", "--test chat answers_a_question"),
            ("RERECORD_SETUP", "local"),
        ],
    )
    .expect(0);
    let summary = fs::read_to_string(sb.root.join("github-summary")).unwrap();
    let review = fs::read_to_string(sb.artifact().join("REVIEW.md")).unwrap();
    assert!(
        review.starts_with("## Recordings that differ from `HEAD`\n"),
        "{review}"
    );
    assert!(summary.contains(&review), "{summary}");
    // The changed answer, the new test and the dropped second occurrence.
    assert!(
        review.contains("### chat\\:\\:answers\\_a\\_question\\[text\\=smollm2\\-135m\\]"),
        "{review}"
    );
    assert!(review.contains("<del>An older answer\\.</del>"), "{review}");
    assert!(
        review.contains("- **new** POST \\/v1\\/embeddings"),
        "{review}"
    );
    assert!(
        review.contains("- **removed** POST \\/v1\\/chat\\/completions"),
        "{review}"
    );
    for bad in ["![pixel]", "](https", "<img", " @maintainer"] {
        assert!(
            !review.contains(bad),
            "{bad:?} reached the summary:\n{review}"
        );
    }
    assert!(review.contains("&lt;img src\\=x&gt;"), "{review}");
}

#[test]
fn a_project_in_a_subfolder_commits_only_its_recordings() {
    let sb = Sandbox::new();
    let src = sb.src();
    fs::create_dir_all(src.join("rust")).unwrap();
    sb.git(&src, &["mv", "recorder.toml", "recordings", "rust/"]);
    sb.git(
        &src,
        &["commit", "-q", "-m", "the Rust project moves to rust/"],
    );
    sb.git(&src, &["push", "-q", "origin", "feature"]);
    let before = sb.remote_tip("feature");
    let stray = src.join("rust/stray.txt");
    sb.ci_in(
        &src.join("rust"),
        &["all", "--setup", "local"],
        &[("FAKE_STRAY_FILE", stray.to_str().unwrap())],
    )
    .expect(0)
    .says("pushed ");
    let changes = sb.git(&sb.remote(), &["diff", "--name-only", &before, "feature"]);
    assert_eq!(changes.lines().count(), 3, "{changes}");
    assert!(
        changes.lines().all(|l| l.starts_with("rust/recordings/")),
        "{changes}"
    );
}

#[test]
fn a_refused_push_leaves_the_artifact_and_says_how_to_apply_it() {
    let sb = Sandbox::new();
    write_exe(
        &sb.remote().join("hooks/pre-receive"),
        "#!/bin/sh\necho 'GH006: Protected branch update failed for refs/heads/feature.' >&2\nexit 1\n",
    );
    let before = sb.remote_tip("feature");
    let run = sb.ci(
        &["all", "--tests", "--test chat"],
        &[
            ("GITHUB_RUN_ID", "77"),
            ("GITHUB_REPOSITORY", "o/r"),
            ("RERECORD_ARTIFACT_NAME", "recordings-77"),
        ],
    );
    run.expect(3)
        .says("the remote refused the push (a protected branch or a server hook)")
        .says("gh run download 77 --repo o/r --name recordings-77 --dir rerecord-77")
        .says("cp -R rerecord-77/recordings/. recordings/")
        .says(
            "git add -A -- recordings && git commit -F rerecord-77/commit-message.txt && git push",
        )
        .says("https://github.com/o/r/actions/runs/77");
    assert_eq!(
        sb.remote_tip("feature"),
        before,
        "nothing reached the branch"
    );
    assert_eq!(sb.outputs()["pushed"], "false");

    // the artifact: the changed recordings, what was removed, the message, the instructions
    let art = sb.artifact();
    assert_eq!(
        files_under(&art.join("recordings")),
        files_under(&sb.root.join("fresh"))
    );
    let answers = one_json(&workspace().join("recordings").join(ANSWERS));
    assert_eq!(
        fs::read_to_string(art.join("deleted.txt")).unwrap(),
        format!("{ANSWERS}/{}\n", answers.replace(".json", ".2.json"))
    );
    assert!(fs::read_to_string(art.join("commit-message.txt"))
        .unwrap()
        .starts_with("recordings: re-record --test chat (setup local, record-if-missing)"));
    assert!(fs::read_to_string(art.join("APPLY.md"))
        .unwrap()
        .contains("gh run download 77"));
    assert!(fs::read_to_string(sb.root.join("github-summary"))
        .unwrap()
        .contains("## Recordings not pushed"));

    // following the instructions on a fresh clone gives the recordings of a pushed run
    sb.git(
        &sb.root,
        &["clone", "-q", "-b", "feature", "remote.git", "user"],
    );
    let user = sb.root.join("user");
    copy_dir(&art, &user.join("rerecord-77"));
    let apply = sb.run({
        let mut c = sb.command(&ci_script(), &user);
        c.args(["apply", "rerecord-77"]);
        c
    });
    apply.expect(0).says("git commit -F");
    assert_eq!(
        files_under(&user.join("recordings")),
        sb.expected_recordings()
    );
    sb.git(&user, &["add", "-A", "--", "recordings"]);
    sb.git(
        &user,
        &["commit", "-q", "-F", "rerecord-77/commit-message.txt"],
    );
    let diff = sb.git(&user, &["diff", "--name-only", "HEAD~1", "HEAD"]);
    assert_eq!(diff.lines().count(), 3, "{diff}");
    assert!(diff.lines().all(|l| l.starts_with("recordings/")));
}

#[test]
fn a_branch_that_moved_or_a_fork_without_edits_is_not_overwritten() {
    // someone pushed while recording: no force push, exit 3
    let sb = Sandbox::new();
    sb.git(
        &sb.root,
        &["clone", "-q", "-b", "feature", "remote.git", "other"],
    );
    let other = sb.root.join("other");
    fs::write(other.join("notes.md"), "more work\n").unwrap();
    sb.git(&other, &["commit", "-qam", "more work"]);
    sb.git(&other, &["push", "-q", "origin", "feature"]);
    let theirs = sb.remote_tip("feature");
    sb.ci(&["all"], &[])
        .expect(3)
        .says("feature moved while recording");
    assert_eq!(sb.remote_tip("feature"), theirs);

    // resolve said the workflow cannot push (a fork without maintainer edits): no
    // push is tried at all, even to a URL that would take it
    let sb = Sandbox::new();
    let before = sb.remote_tip("feature");
    sb.ci(
        &["all"],
        &[
            ("RERECORD_CAN_PUSH", "false"),
            ("RERECORD_CANNOT_PUSH_REASON", "pull request #9 comes from the fork me/r, whose author did not allow edits from maintainers"),
        ],
    )
    .expect(3)
    .says("not pushed to feature: pull request #9 comes from the fork me/r, whose author did not allow edits from maintainers");
    assert_eq!(sb.remote_tip("feature"), before);
    assert!(sb.artifact().join("APPLY.md").is_file());

    // a remote that is not there (or not writable with this token)
    let sb = Sandbox::new();
    sb.ci(
        &["all"],
        &[("RERECORD_PUSH_URL", "/nonexistent/remote.git")],
    )
    .expect(3)
    .says("not pushed to feature: git push failed");

    // commit=false: the artifact is the result, exit 0
    let sb = Sandbox::new();
    let before = sb.remote_tip("feature");
    sb.ci(&["all"], &[("RERECORD_COMMIT", "false")])
        .expect(0)
        .says("commit=false: not committing");
    assert_eq!(sb.remote_tip("feature"), before);
}

#[test]
fn failed_tests_or_check_commit_nothing() {
    // the check (the real one) finds a corrupt recording
    let sb = Sandbox::new();
    let before = sb.remote_tip("feature");
    sb.ci(&["all"], &[("FAKE_BROKEN", "1")])
        .expect(1)
        .says("cargo recordings check found problems");
    assert_eq!(sb.remote_tip("feature"), before);
    assert!(fs::read_to_string(sb.artifact().join("rerecord.env"))
        .unwrap()
        .contains("status=1"));
    // publishing that artifact, or applying it, is refused
    sb.ci(&["publish"], &[])
        .expect(1)
        .says("failed (status 1): not publishing it");
    let apply = sb.ci(&["apply", sb.artifact().to_str().unwrap()], &[]);
    apply.expect(1).says("holds a failed recording");

    // a test fails while recording: no check, no replay, no commit
    let sb = Sandbox::new();
    sb.ci(&["all"], &[("FAKE_TEST_EXIT", "101")])
        .expect(1)
        .says("the tests failed while recording (exit 101)");
    assert_eq!(sb.calls_of("cargo").len(), 1);
    assert_eq!(sb.remote_tip("feature"), before_of(&sb));

    // the selection does not replay from what was recorded
    let sb = Sandbox::new();
    sb.ci(&["all"], &[("FAKE_REPLAY_EXIT", "101")])
        .expect(1)
        .says("does not replay from the new recordings");

    // nothing changed: nothing to commit, exit 0
    let sb = Sandbox::new();
    let before = sb.remote_tip("feature");
    sb.ci(&["all"], &[("FAKE_RECORD_SRC", "")])
        .expect(0)
        .says("nothing changed");
    assert_eq!(sb.remote_tip("feature"), before);

    // uncommitted recordings before the run: refused, so that only this run's are collected
    let sb = Sandbox::new();
    fs::write(sb.src().join("recordings/_models/extra.json"), "{}").unwrap();
    sb.ci(&["record"], &[])
        .expect(1)
        .says("recordings has uncommitted changes already");
}

fn before_of(sb: &Sandbox) -> String {
    // the clone's HEAD is the commit the remote branch had when the sandbox was made
    sb.git(&sb.src(), &["rev-parse", "HEAD"])
}

#[test]
fn resolve_finds_the_pull_request_head_or_the_branch() {
    if !need_jq() {
        return;
    }
    let sb = Sandbox::new();
    let sha = "0123456789abcdef0123456789abcdef01234567";
    let pr = |state: &str, cross: bool, modify: bool, owner: &str| {
        json!({"state": state, "headRefName": "feature", "headRefOid": sha,
               "headRepository": {"name": "r"}, "headRepositoryOwner": {"login": owner},
               "isCrossRepository": cross, "maintainerCanModify": modify})
    };
    sb.answer("pr_view_42", pr("OPEN", false, false, "o"));
    sb.answer("pr_view_43", pr("OPEN", true, false, "me"));
    sb.answer("pr_view_44", pr("OPEN", true, true, "me"));
    sb.answer("pr_view_45", pr("MERGED", false, false, "o"));
    sb.answer(
        "api_repos_o_r_git_ref_heads_feature",
        json!({"object": {"sha": sha}}),
    );
    let resolve = |target: &str, extra: &[(&str, &str)]| {
        let _ = fs::remove_file(sb.root.join("github-output"));
        let mut env = vec![("GITHUB_REPOSITORY", "o/r"), ("RERECORD_TARGET", target)];
        env.extend_from_slice(extra);
        sb.ci(&["resolve"], &env)
    };

    resolve("42", &[]).expect(0).says(&format!(
        "recording for pull request #42 (o/r:feature) at {sha}"
    ));
    let out = sb.outputs();
    assert_eq!(
        (
            &*out["head_repo"],
            &*out["head_ref"],
            &*out["head_sha"],
            &*out["is_fork"],
            &*out["can_push"]
        ),
        ("o/r", "feature", sha, "false", "true")
    );
    let gh = sb.calls_of("gh");
    assert_eq!(
        &strs(&gh[0].args)[..5],
        ["pr", "view", "42", "--repo", "o/r"]
    );

    resolve("#43", &[]).expect(0);
    let out = sb.outputs();
    assert_eq!(
        (&*out["head_repo"], &*out["is_fork"], &*out["can_push"]),
        ("me/r", "true", "false")
    );
    assert!(out["cannot_push_reason"].contains("did not allow edits from maintainers"));

    resolve("https://github.com/o/r/pull/44", &[]).expect(0);
    assert_eq!(sb.outputs()["can_push"], "false");
    assert!(sb.outputs()["cannot_push_reason"].contains("no RERECORD_PUSH_TOKEN secret"));
    resolve("44", &[("RERECORD_HAVE_PUSH_TOKEN", "true")]).expect(0);
    assert_eq!(sb.outputs()["can_push"], "true");

    resolve("45", &[])
        .expect(2)
        .says("pull request #45 is merged");
    resolve("46", &[])
        .expect(1)
        .says("cannot read pull request #46 of o/r");

    resolve("feature", &[])
        .expect(0)
        .says(&format!("recording for branch feature at {sha}"));
    assert_eq!(
        (&*sb.outputs()["head_repo"], &*sb.outputs()["head_ref"]),
        ("o/r", "feature")
    );
    resolve("gone", &[])
        .expect(2)
        .says("branch 'gone' is not in o/r: push it first");
    resolve("a b", &[])
        .expect(2)
        .says("neither a pull request number nor a branch name");
    resolve(
        "feature",
        &[(
            "RERECORD_EXPECTED_SHA",
            "1111111111111111111111111111111111111111",
        )],
    )
    .expect(2)
    .says("someone pushed in between");
    resolve("", &[("GITHUB_REF_NAME", "main"), ("GITHUB_SHA", sha)])
        .expect(0)
        .says("recording for branch main");
}

/// The answers of a repository `o/r` whose branch `feature` is at the clone's HEAD.
fn github_knows_the_branch(sb: &Sandbox, prs: Value) -> String {
    let head = sb.git(&sb.src(), &["rev-parse", "HEAD"]);
    sb.answer(
        "repo_view",
        json!({"nameWithOwner": "me/r", "isFork": true,
                                  "parent": {"name": "r", "owner": {"login": "o"}}}),
    );
    sb.answer(
        "repo_view_o_r",
        json!({"defaultBranchRef": {"name": "main"}}),
    );
    sb.answer("pr_list", prs);
    sb.answer(
        "api_repos_o_r_git_ref_heads_feature",
        json!({"object": {"sha": head}}),
    );
    head
}

fn dispatched(sb: &Sandbox) -> Vec<String> {
    let runs: Vec<Call> = sb
        .calls_of("gh")
        .into_iter()
        .filter(|c| c.args.starts_with(&["workflow".into(), "run".into()]))
        .collect();
    assert_eq!(runs.len(), 1, "{runs:?}");
    runs[0].args.clone()
}

#[test]
fn the_remote_script_finds_the_branch_and_its_pull_request_and_dispatches() {
    if !need_jq() {
        return;
    }
    let sb = Sandbox::new();
    let head = github_knows_the_branch(
        &sb,
        json!([{"number": 7, "headRepositoryOwner": {"login": "me"}}]),
    );
    sb.answer(
        "pr_view_7",
        json!({"state": "OPEN", "headRefName": "feature", "headRefOid": head,
                                  "isCrossRepository": true, "maintainerCanModify": true}),
    );
    let run = sb.remote_script(
        &[
            "--setup",
            "gpt",
            "--suite",
            "base",
            "--text-models",
            "gpt-4o-mini",
            "--models",
            "embedding=text-embedding-3-small",
            "--mode",
            "record",
            "--",
            "--test",
            "chat",
            "answers_in_json",
        ],
        &[],
    );
    run.expect(0)
        .says("rerecord-remote: current branch: feature")
        .says(&format!("pull request #7: feature at {head} (from a fork)"))
        .says("rerecord-remote: command: RECORD_MODE=record RECORDER_SETUP=gpt")
        .says("run 4242: https://github.com/o/r/actions/runs/4242");
    let args = dispatched(&sb);
    let request = args
        .iter()
        .find_map(|a| a.strip_prefix("request_id="))
        .unwrap()
        .to_owned();
    assert!(request.starts_with("rr-"), "{request}");
    assert_eq!(
        strs(&args),
        [
            "workflow",
            "run",
            "rerecord.yml",
            "--repo",
            "o/r",
            "--ref",
            "main",
            "-f",
            "target=7",
            "-f",
            "tests=--test chat answers_in_json",
            "-f",
            "suite=base",
            "-f",
            "setup=gpt",
            "-f",
            "models=text=gpt-4o-mini embedding=text-embedding-3-small",
            "-f",
            "mode=record",
            "-f",
            &format!("expected_sha={head}"),
            "-f",
            "commit=true",
            "-f",
            &format!("request_id={request}"),
        ]
    );
    // the PR list was asked about this branch in the parent repository
    let list = sb
        .calls_of("gh")
        .into_iter()
        .find(|c| c.args[..2] == ["pr", "list"])
        .unwrap();
    assert!(list.args.windows(2).any(|w| w == ["--head", "feature"]));
    assert!(list.args.windows(2).any(|w| w == ["--repo", "o/r"]));

    // --pr, --no-commit and --ref as given; nothing compared with the local branch
    let sb = Sandbox::new();
    github_knows_the_branch(&sb, json!([]));
    sb.answer(
        "pr_view_12",
        json!({"state": "OPEN", "headRefName": "other", "headRefOid": "ab".repeat(20),
                                   "isCrossRepository": true, "maintainerCanModify": false}),
    );
    let run = sb.remote_script(
        &[
            "--pr",
            "12",
            "--no-commit",
            "--ref",
            "release",
            "--tests",
            "--test chat",
        ],
        &[],
    );
    run.expect(0).says("does not allow edits from maintainers");
    let args = dispatched(&sb);
    assert!(args.windows(2).any(|w| w == ["--ref", "release"]));
    assert!(args.contains(&"target=12".to_owned()) && args.contains(&"commit=false".to_owned()));
}

#[test]
fn the_remote_script_refuses_what_ci_cannot_record() {
    if !need_jq() {
        return;
    }
    // no pull request: the pushed branch itself
    let sb = Sandbox::new();
    let head = github_knows_the_branch(&sb, json!([]));
    sb.remote_script(&["--dry-run"], &[])
        .expect(0)
        .says(&format!("branch feature at {head} (no open pull request)"))
        .says(&format!("-f target=feature -f tests= -f suite= -f setup= -f models= -f mode=record-if-missing -f expected_sha={head}"))
        .says("dry run: nothing triggered");
    assert!(sb
        .calls_of("gh")
        .iter()
        .all(|c| c.args[..2] != ["workflow", "run"]));

    // a commit that is not pushed: CI would record something else
    fs::write(sb.src().join("notes.md"), "unpushed\n").unwrap();
    sb.git(&sb.src(), &["commit", "-qam", "unpushed"]);
    sb.remote_script(&[], &[])
        .expect(2)
        .says("has commits that are not pushed");

    // detached HEAD
    sb.git(&sb.src(), &["checkout", "-q", "--detach"]);
    sb.remote_script(&[], &[])
        .expect(2)
        .says("HEAD is detached");

    // a branch GitHub does not have, with no pull request
    sb.git(&sb.src(), &["switch", "-q", "-c", "local-only"]);
    sb.remote_script(&[], &[])
        .expect(2)
        .says("branch local-only is not on o/r and has no open pull request there");

    // a merged pull request
    sb.answer(
        "pr_view_9",
        json!({"state": "MERGED", "headRefName": "x", "headRefOid": "cd".repeat(20),
                                  "isCrossRepository": false, "maintainerCanModify": false}),
    );
    sb.remote_script(&["--pr", "9"], &[])
        .expect(2)
        .says("pull request #9 is already merged");

    // two open pull requests with that head branch from other owners
    sb.git(&sb.src(), &["switch", "-q", "feature"]);
    sb.git(&sb.src(), &["reset", "-q", "--hard", "origin/feature"]);
    sb.answer(
        "pr_list",
        json!([{"number": 1, "headRepositoryOwner": {"login": "a"}},
                                {"number": 2, "headRepositoryOwner": {"login": "b"}}]),
    );
    sb.remote_script(&[], &[])
        .expect(1)
        .says("several open pull requests have the head branch feature (#1, #2): pass --pr NUMBER");

    // bad selectors fail here, before anything reaches GitHub
    let calls = sb.calls_of("gh").len();
    sb.remote_script(&["--models", "colour=red"], &[])
        .expect(2)
        .says("not a model kind");
    sb.remote_script(&["--mode", "live"], &[])
        .expect(2)
        .says("does not re-record");
    sb.remote_script(&["--pr", "x"], &[])
        .expect(2)
        .says("--pr takes a pull request number");
    assert_eq!(
        sb.calls_of("gh").len(),
        calls,
        "checked before asking GitHub"
    );
    assert!(sb
        .calls_of("gh")
        .iter()
        .all(|c| c.args[..2] != ["workflow", "run"]));

    // gh not logged in; the workflow missing on GitHub
    fs::write(sb.gh().join("logged-out"), "").unwrap();
    sb.remote_script(&[], &[])
        .expect(1)
        .says("gh is not logged in: run gh auth login");
    fs::remove_file(sb.gh().join("logged-out")).unwrap();
    sb.answer("pr_list", json!([]));
    fs::write(sb.gh().join("fail-workflow-run"), "").unwrap();
    sb.remote_script(&[], &[])
        .expect(1)
        .says("must be on o/r's default branch (copy examples/ci/rerecord.yml");
    sb.remote_script(&["--help"], &[])
        .expect(0)
        .says("Usage: scripts/rerecord-remote.sh");
}

#[test]
fn waiting_pulls_the_pushed_recordings_into_the_branch() {
    if !need_jq() {
        return;
    }
    let sb = Sandbox::new();
    github_knows_the_branch(&sb, json!([]));
    write_exe(&sb.gh().join("hooks/run-watch"), CI_HOOK);
    let before = sb.git(&sb.src(), &["rev-parse", "HEAD"]);
    let run = sb.remote_script(
        &[
            "--wait",
            "--tests",
            "--test chat",
            "--text-models",
            "smollm2-135m",
        ],
        &[],
    );
    run.expect(0).says("pulled the recordings: ");
    let head = sb.git(&sb.src(), &["rev-parse", "HEAD"]);
    assert_eq!(head, sb.remote_tip("feature"));
    assert_eq!(sb.git(&sb.src(), &["rev-parse", "HEAD~1"]), before);
    let message = sb.git(&sb.src(), &["log", "-1", "--format=%B"]);
    let request = dispatched(&sb)
        .iter()
        .find_map(|a| a.strip_prefix("request_id=").map(str::to_owned))
        .unwrap();
    assert!(
        message.contains(&format!("Rerecord-Request: {request}")),
        "{message}"
    );
    assert!(message.starts_with("recordings: re-record --test chat (setup local, models text=smollm2-135m, record-if-missing)"));
    assert_eq!(
        files_under(&sb.src().join("recordings")),
        sb.expected_recordings()
    );
    assert_eq!(sb.git(&sb.src(), &["status", "--porcelain"]), "");
}

#[test]
fn waiting_applies_the_artifact_when_the_run_could_not_push() {
    if !need_jq() {
        return;
    }
    let sb = Sandbox::new();
    github_knows_the_branch(&sb, json!([]));
    write_exe(&sb.gh().join("hooks/run-watch"), CI_HOOK);
    write_exe(
        &sb.remote().join("hooks/pre-receive"),
        "#!/bin/sh\nexit 1\n",
    );
    let before = sb.git(&sb.src(), &["rev-parse", "HEAD"]);
    let run = sb.remote_script(&["--wait"], &[]);
    run.expect(3)
        .says("the run did not push its recordings")
        .says("commit them with: git add -A -- recordings && git commit -F ");
    assert_eq!(
        sb.git(&sb.src(), &["rev-parse", "HEAD"]),
        before,
        "nothing committed for the user"
    );
    assert_eq!(
        files_under(&sb.src().join("recordings")),
        sb.expected_recordings()
    );
    let status = sb.git(&sb.src(), &["status", "--porcelain", "--", "recordings"]);
    assert_eq!(status.lines().count(), 3, "{status}");

    // --apply-run: the same, for a run id
    let sb2 = Sandbox::new();
    github_knows_the_branch(&sb2, json!([]));
    copy_dir(
        &sb.gh().join("artifacts/recordings-4242"),
        &sb2.gh().join("artifacts/recordings-4242"),
    );
    sb2.remote_script(&["--apply-run", "4242"], &[])
        .expect(0)
        .says("applied the recordings");
    assert_eq!(
        files_under(&sb2.src().join("recordings")),
        sb2.expected_recordings()
    );
    sb2.remote_script(&["--apply-run", "5"], &[])
        .expect(1)
        .says("cannot download the artifact recordings-5");
}

/// Branch names git takes that run a command when pasted unquoted into a shell, or
/// that git reads as an option (`git switch --orphan=pwned` makes a branch `pwned`).
/// Each "attack" would create the file `pwned` where the shell runs.
const HOSTILE_BRANCHES: &[&str] = &[
    "fix$(touch${IFS}pwned)",
    "fix`touch${IFS}pwned`",
    "fix;touch${IFS}pwned",
    "fix|touch${IFS}pwned",
    "fix&&touch${IFS}pwned",
    "x';touch${IFS}pwned;'",
    "x\";touch${IFS}pwned;\"",
    "--orphan=pwned",
];

/// Names git itself refuses, which must not get through either: a newline (a second
/// command line), a space, a leading `-` alone, the shapes git's rules forbid.
const NOT_BRANCHES: &[&str] = &[
    "fix\ntouch pwned",
    "fix touch",
    "-x",
    "a..b",
    ".hidden",
    "x.lock",
    "/x",
    "x/",
    "a//b",
    "a/.b",
    "a/-b",
];

/// The shell commands of the instructions (the one ```sh block of `text`).
fn snippet(text: &str) -> String {
    let blocks: Vec<&str> = text.split("```sh\n").skip(1).collect();
    assert_eq!(blocks.len(), 1, "one ```sh block wanted in:\n{text}");
    blocks[0].split("\n```").next().unwrap().to_owned() + "\n"
}

#[test]
fn hostile_branch_names_are_refused_where_they_are_resolved() {
    if !need_jq() {
        return;
    }
    let sb = Sandbox::new();
    let sha = "0123456789abcdef0123456789abcdef01234567";
    for (i, name) in HOSTILE_BRANCHES.iter().chain(NOT_BRANCHES).enumerate() {
        let number = (100 + i).to_string();
        // a pull request from a fork whose head branch has that name
        sb.answer(
            &format!("pr_view_{number}"),
            json!({"state": "OPEN", "headRefName": name, "headRefOid": sha,
                   "headRepository": {"name": "r"}, "headRepositoryOwner": {"login": "me"},
                   "isCrossRepository": true, "maintainerCanModify": false}),
        );
        let _ = fs::remove_file(sb.root.join("github-output"));
        let run = sb.ci(
            &["resolve"],
            &[("GITHUB_REPOSITORY", "o/r"), ("RERECORD_TARGET", &number)],
        );
        run.expect(2)
            .says(&format!("pull request #{number}'s head branch "))
            .says("is refused: ")
            .says("the workflow takes only plain names");
        assert!(
            sb.outputs().is_empty(),
            "{name:?}: outputs were written: {:?}",
            sb.outputs()
        );

        // the same name as a branch target, or as the branch the workflow runs on
        let run = sb.ci(
            &["resolve"],
            &[("GITHUB_REPOSITORY", "o/r"), ("RERECORD_TARGET", name)],
        );
        run.expect(2);
        assert!(
            run.all().contains("is refused: ")
                || run
                    .all()
                    .contains("is neither a pull request number nor a branch name")
                || run.all().contains("the target must be one line"),
            "{name:?}: {}",
            run.all()
        );
        sb.ci(
            &["resolve"],
            &[
                ("GITHUB_REPOSITORY", "o/r"),
                ("GITHUB_REF_NAME", name),
                ("GITHUB_SHA", sha),
            ],
        )
        .expect(2)
        .says("the branch this runs on, ");
        sb.ci(&["check-branch", name], &[])
            .expect(2)
            .says("is refused: ");

        // the maintainer's script refuses before it triggers anything
        if i == 0 || name.contains('\n') {
            sb.remote_script(&["--pr", &number, "--repo", "o/r"], &[])
                .expect(2)
                .says("rerecord-remote: error: the branch ")
                .says("is refused: ");
            sb.remote_script(&["--branch", name, "--repo", "o/r"], &[])
                .expect(2)
                .says("is refused: ");
        }
    }
    // the message names the branch unambiguously, quoted, and says why
    sb.ci(&["check-branch", "fix$(touch${IFS}pwned)"], &[])
        .expect(2)
        .says(r"the branch fix\$\(touch\$\{IFS\}pwned\) is refused: it has characters other than letters, digits and . _ / + -");
    sb.ci(&["check-branch", "-x"], &[])
        .expect(2)
        .says("a part of it starts with -");
    assert!(
        !sb.calls_of("gh")
            .iter()
            .any(|c| c.args.starts_with(&["workflow".into(), "run".into()])),
        "a workflow was triggered"
    );
    // a head repository GitHub would never name is refused too
    sb.answer(
        "pr_view_99",
        json!({"state": "OPEN", "headRefName": "fix", "headRefOid": sha,
               "headRepository": {"name": "r x"}, "headRepositoryOwner": {"login": "me"},
               "isCrossRepository": true, "maintainerCanModify": true}),
    );
    sb.ci(
        &["resolve"],
        &[("GITHUB_REPOSITORY", "o/r"), ("RERECORD_TARGET", "99")],
    )
    .expect(1)
    .says("for the head repository of pull request #99");
    // plain names still pass: letters, digits, . _ / + -
    for name in ["feature", "fix/issue-12", "release_1.2+x", "u/a.b-c"] {
        sb.ci(&["check-branch", name], &[]).expect(0);
    }
    assert!(!sb.src().join("pwned").exists());
}

#[test]
fn the_apply_instructions_quote_every_value_and_run_as_pasted() {
    let sb = Sandbox::new();
    sb.ci(&["record"], &[]).expect(0);
    let art = sb.artifact();
    copy_dir(&art, &sb.gh().join("artifacts/recordings-77"));
    let message = fs::read_to_string(art.join("commit-message.txt")).unwrap();
    let feature = sb.remote_tip("feature");
    let run_env = [
        ("GITHUB_RUN_ID", "77"),
        ("GITHUB_REPOSITORY", "o/r"),
        ("RERECORD_ARTIFACT_NAME", "recordings-77"),
        ("RERECORD_HEAD_REPO", "me/r"),
    ];

    let paste = |user: &Path, text: &str| -> Run {
        // what a maintainer does: paste the commands into bash, in a clone of the repository
        let mut cmd = sb.command(Path::new("bash"), user);
        cmd.env("GIT_AUTHOR_NAME", "Maintainer")
            .env("GIT_AUTHOR_EMAIL", "m@example.invalid")
            .env("GIT_COMMITTER_NAME", "Maintainer")
            .env("GIT_COMMITTER_EMAIL", "m@example.invalid")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    };
    let no_attack = |user: &Path, name: &str| {
        for dir in [user, &sb.root, &sb.src()] {
            assert!(
                !dir.join("pwned").exists(),
                "{name:?}: the pasted instructions ran a command of the branch name"
            );
        }
        assert_eq!(
            sb.git(user, &["branch", "--list", "pwned"]),
            "",
            "{name:?}: git took the name for an option"
        );
    };

    let names = HOSTILE_BRANCHES
        .iter()
        .map(|n| (*n, true))
        .chain([("fix\ntouch pwned", false)]);
    for (i, (name, git_takes_it)) in names.enumerate() {
        if git_takes_it {
            sb.git(
                &sb.src(),
                &[
                    "push",
                    "-q",
                    "origin",
                    &format!("feature:refs/heads/{name}"),
                ],
            );
        }
        // resolve refuses such names; should one reach publish anyway, it pushes
        // nothing and says how to apply the recordings by hand, safely
        let _ = fs::remove_file(sb.root.join("github-summary"));
        let mut env = run_env.to_vec();
        env.push(("RERECORD_BRANCH", name));
        let run = sb.ci(&["publish"], &env);
        run.expect(3)
            .says("the workflow pushes only to plain branch names, and this one is refused");
        let tip = |name: &str| sb.git(&sb.remote(), &["rev-parse", &format!("refs/heads/{name}")]);
        if git_takes_it {
            assert_eq!(tip(name), feature, "{name:?}: pushed");
        }
        // the same commands in APPLY.md, the run summary and stderr
        let apply = fs::read_to_string(art.join("APPLY.md")).unwrap();
        let commands = snippet(&apply);
        assert_eq!(
            snippet(&fs::read_to_string(sb.root.join("github-summary")).unwrap()),
            commands
        );
        assert_eq!(snippet(&run.stderr), commands);
        assert!(commands.starts_with("git switch -- "), "{commands}");
        if !name.starts_with('-') {
            assert!(
                !commands.contains(name),
                "{name:?} unquoted in:\n{commands}"
            );
        }

        let user = sb.root.join(format!("user-{i}"));
        sb.git(
            &sb.root,
            &[
                "clone",
                "-q",
                "-b",
                "main",
                "remote.git",
                user.to_str().unwrap(),
            ],
        );
        let main = sb.git(&user, &["rev-parse", "HEAD"]);
        let pasted = paste(&user, &commands);
        no_attack(&user, name);
        if git_takes_it && !name.starts_with('-') {
            // the commands do their job on the branch of that name
            pasted.expect(0);
            assert_eq!(sb.git(&user, &["branch", "--show-current"]), name);
            assert_eq!(
                sb.git(
                    &sb.remote(),
                    &["rev-parse", &format!("refs/heads/{name}~1")]
                ),
                feature,
                "{name:?}: one commit on top of the recorded one"
            );
            assert_eq!(
                sb.git(
                    &sb.remote(),
                    &["log", "-1", "--format=%B", &format!("refs/heads/{name}")]
                ),
                message.trim_end()
            );
            let changed = sb.git(
                &sb.remote(),
                &[
                    "diff",
                    "--name-only",
                    &feature,
                    &format!("refs/heads/{name}"),
                ],
            );
            assert!(
                !changed.is_empty() && changed.lines().all(|l| l.starts_with("recordings/")),
                "{changed}"
            );
        } else {
            // no such branch here: the first command fails, and nothing after it runs
            assert_ne!(pasted.code, 0, "{name:?}: {}", pasted.all());
            assert_eq!(sb.git(&user, &["rev-parse", "HEAD"]), main);
            assert_eq!(sb.git(&user, &["status", "--porcelain"]), "");
            assert_eq!(sb.remote_tip("main"), main);
        }
    }
    assert_eq!(sb.remote_tip("feature"), feature);

    // the other values of the commands: an artifact folder with spaces, quotes and $(...)
    let sb = Sandbox::new();
    let odd = sb.root.join("it's an $(touch${IFS}pwned) `folder`");
    let before = sb.remote_tip("feature");
    let run = sb.ci(
        &["all"],
        &[
            ("RERECORD_ARTIFACT_DIR", odd.to_str().unwrap()),
            ("RERECORD_CAN_PUSH", "false"),
            ("RERECORD_CANNOT_PUSH_REASON", "a test"),
        ],
    );
    run.expect(3);
    let commands = snippet(&fs::read_to_string(odd.join("APPLY.md")).unwrap());
    assert!(commands.contains("cp -R "), "{commands}");
    sb.git(
        &sb.root,
        &["clone", "-q", "-b", "main", "remote.git", "user"],
    );
    let user = sb.root.join("user");
    paste(&user, &commands).expect(0);
    no_attack(&user, "feature");
    assert_ne!(sb.remote_tip("feature"), before);
    assert_eq!(sb.git(&sb.remote(), &["rev-parse", "feature~1"]), before);
}

/// The sandbox's `main` as the workflow's own ref (where resolve runs `plan`), and the
/// outputs that `plan` gives the record job there, for `env`.
fn trusted_plan(sb: &Sandbox, env: &[(&str, &str)]) -> Vec<(&'static str, String)> {
    let trusted = sb.root.join("trusted");
    if !trusted.exists() {
        sb.git(
            &sb.root,
            &["clone", "-q", "-b", "main", "remote.git", "trusted"],
        );
    }
    let _ = fs::remove_file(sb.root.join("github-output"));
    sb.ci_in(&trusted, &["plan"], env).expect(0);
    let out = sb.outputs();
    vec![
        (
            "RERECORD_TRUSTED_REF",
            sb.git(&trusted, &["rev-parse", "HEAD"]),
        ),
        ("RERECORD_TRUSTED_SETUP", out["setup"].clone()),
        ("RERECORD_TRUSTED_API_KEY_ENV", out["api_key_env"].clone()),
        ("KEY_ENVIRONMENT", out["key_environment"].clone()),
        (
            "RERECORD_TRUSTED_UPSTREAM_KEY_ENVS",
            out["upstream_key_envs"].clone(),
        ),
    ]
}

/// The record job's variables from `trusted_plan`'s outputs.
fn trusted_env<'a>(trusted: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    trusted
        .iter()
        .filter(|(k, _)| k.starts_with("RERECORD_"))
        .map(|(k, v)| (*k, v.as_str()))
        .collect()
}

/// Changes the pull request's recorder.toml (the clone `src/` on `feature`) and commits it.
fn pr_changes_config(sb: &Sandbox, from: &str, to: &str) {
    let path = sb.src().join("recorder.toml");
    let text = fs::read_to_string(&path).unwrap();
    assert!(text.contains(from), "{from}");
    fs::write(&path, text.replacen(from, to, 1)).unwrap();
    sb.git(
        &sb.src(),
        &["commit", "-qam", "the pull request changes recorder.toml"],
    );
}

#[test]
fn the_key_is_chosen_by_the_workflows_own_recorder_toml_not_the_pull_requests() {
    // the maintainer's setup, and its key as the environment's secret
    let with_key = [("RERECORD_SETUP", "gpt"), ("RERECORD_API_KEY", KEY)];

    // resolve decides on the workflow's own ref: gpt -> OPENAI_API_KEY, whose
    // environment holds the one secret the record job gets
    let sb = Sandbox::new();
    let trusted = trusted_plan(&sb, &[("RERECORD_SETUP", "gpt")]);
    assert_eq!(trusted[1].1, "gpt");
    assert_eq!(trusted[2].1, "OPENAI_API_KEY");
    assert_eq!(trusted[3].1, "rerecord-OPENAI_API_KEY");
    assert_eq!(trusted_plan(&sb, &[])[3].1, "", "local setups get no key");
    assert_eq!(
        trusted_plan(&sb, &[("RERECORD_SETUP", "claude")])[3].1,
        "rerecord-ANTHROPIC_API_KEY"
    );

    // a pull request that says gpt's key is ANTHROPIC_API_KEY: refused before anything
    // runs, by the record job's plan step and by record itself
    pr_changes_config(
        &sb,
        "api_key_env = \"OPENAI_API_KEY\"",
        "api_key_env = \"ANTHROPIC_API_KEY\"",
    );
    let env = [trusted_env(&trusted), with_key.to_vec()].concat();
    for step in ["plan", "record"] {
        let run = sb.ci(&[step], &env);
        run.expect(2).says(
            "setup gpt's api_key_env is 'ANTHROPIC_API_KEY' in the recorder.toml of the code being recorded, \
             but 'OPENAI_API_KEY' in the workflow's own ref",
        );
        assert!(!run.all().contains(KEY));
    }
    assert!(sb.calls().is_empty(), "{:?}", sb.calls());

    // a pull request that moves the default setup (no setup input): the setup the
    // workflow's ref resolves is the one whose key the job gets, so it is refused
    let sb = Sandbox::new();
    let trusted = trusted_plan(&sb, &[]);
    pr_changes_config(&sb, "default_setup = \"local\"", "default_setup = \"gpt\"");
    sb.ci(&["record"], &trusted_env(&trusted)).expect(2).says(
        "the code being recorded resolves the setup to 'gpt' (from recorder.toml's default_setup), \
         but the workflow's own ref",
    );
    assert!(sb.calls().is_empty());

    // a pull request that agrees: the tests get the key under the setup's name only
    let sb = Sandbox::new();
    let trusted = trusted_plan(&sb, &[("RERECORD_SETUP", "gpt")]);
    let run = sb.ci(
        &["record"],
        &[trusted_env(&trusted), with_key.to_vec()].concat(),
    );
    run.expect(0);
    assert!(!run.all().contains(KEY), "{}", run.all());
    let cargo = sb.calls_of("cargo");
    assert_eq!(
        cargo[0].env.get("OPENAI_API_KEY").map(String::as_str),
        Some("<set>")
    );
    for call in &cargo {
        assert!(!call.env.contains_key("RERECORD_API_KEY"), "{call:?}");
        assert!(!call.env.contains_key("ANTHROPIC_API_KEY"), "{call:?}");
    }
    assert!(
        !cargo[1].env.contains_key("OPENAI_API_KEY"),
        "replay runs without the key"
    );

    // no key in the environment: says which environment and secret
    let sb = Sandbox::new();
    let trusted = trusted_plan(&sb, &[("RERECORD_SETUP", "gpt")]);
    let env = [trusted_env(&trusted), vec![("RERECORD_SETUP", "gpt")]].concat();
    sb.ci(&["record"], &env).expect(2).says(
        "add the key as the secret RERECORD_API_KEY of the environment rerecord-OPENAI_API_KEY",
    );
    assert!(sb.calls().is_empty());
}

/// Setups whose upstreams need keys of their own: a hosted one (inline tables), and a
/// local one whose upstream is a hosted API (sections).
const UPSTREAM_SETUPS: &str = r#"
[setups.agent]
base_url = "https://api.openai.com/v1"
api_key_env = "OPENAI_API_KEY"
upstreams = { mcp = "http://127.0.0.1:18097/mcp", search = { url = "https://api.tavily.com", api_key_env = "TAVILY_API_KEY", auth = { header = "x-api-key" } } }

[setups.local-search]
base_url = "http://127.0.0.1:18080/v1"

[setups.local-search.upstreams.search]
url = "https://api.tavily.com"
api_key_env = "TAVILY_API_KEY"
"#;

const SEARCH_KEY: &str = "tvly-test-0123456789abcdefghijklmnopqrstuv";

#[test]
fn a_setup_whose_upstreams_need_keys_gets_them_as_lines_of_the_one_secret() {
    let sb = Sandbox::with_config(UPSTREAM_SETUPS);
    let agent = [("RERECORD_SETUP", "agent")];
    let trusted = trusted_plan(&sb, &agent);
    assert_eq!(trusted[2].1, "OPENAI_API_KEY");
    assert_eq!(trusted[3].1, "rerecord-setup-agent");
    assert_eq!(trusted[4].1, "TAVILY_API_KEY");
    sb.ci(&["plan"], &agent).expect(0).says(
        "its upstreams need keys: needs OPENAI_API_KEY TAVILY_API_KEY (in the workflow: one line VAR=key for each in the secret RERECORD_API_KEY of the environment rerecord-setup-agent)",
    );
    // A local setup needs only its upstreams' keys.
    let local = [
        ("RERECORD_SETUP", "local-search"),
        ("RERECORD_BACKEND_SETUPS", "local,local-search"),
    ];
    let local_trusted = trusted_plan(&sb, &local);
    assert_eq!(local_trusted[3].1, "rerecord-setup-local-search");
    assert_eq!(local_trusted[4].1, "TAVILY_API_KEY");
    // A setup without upstream keys is as before.
    assert_eq!(
        trusted_plan(&sb, &[("RERECORD_SETUP", "gpt")])[4].1,
        "",
        "no upstream keys"
    );

    // The one secret, one line per key: each reaches the tests under its own name,
    // none reaches the replay, and no key is printed.
    let lines = format!("OPENAI_API_KEY={KEY}\nTAVILY_API_KEY={SEARCH_KEY}\n");
    let secret = [("RERECORD_API_KEY", lines.as_str())];
    let env = [trusted_env(&trusted), agent.to_vec(), secret.to_vec()].concat();
    let run = sb.ci(&["record"], &env);
    run.expect(0);
    assert!(
        !run.all().contains(KEY) && !run.all().contains(SEARCH_KEY),
        "{}",
        run.all()
    );
    let cargo = sb.calls_of("cargo");
    for var in ["OPENAI_API_KEY", "TAVILY_API_KEY"] {
        assert_eq!(
            cargo[0].env.get(var).map(String::as_str),
            Some("<set>"),
            "{var}"
        );
        assert!(!cargo[1].env.contains_key(var), "replay runs without {var}");
    }
    assert!(cargo
        .iter()
        .all(|c| !c.env.contains_key("RERECORD_API_KEY")));

    // In GitHub Actions each key is masked in the log before anything runs.
    let sb = Sandbox::with_config(UPSTREAM_SETUPS);
    let trusted = trusted_plan(&sb, &agent);
    let env = [
        trusted_env(&trusted),
        agent.to_vec(),
        secret.to_vec(),
        vec![("GITHUB_ACTIONS", "true")],
    ]
    .concat();
    let run = sb.ci(&["record"], &env);
    run.expect(0);
    for key in [KEY, SEARCH_KEY] {
        assert!(
            run.stdout.contains(&format!("::add-mask::{key}\n")),
            "{}",
            run.stdout
        );
    }

    // A missing line says which variables go in which environment; nothing runs.
    let sb = Sandbox::with_config(UPSTREAM_SETUPS);
    let trusted = trusted_plan(&sb, &agent);
    let only_one = format!("OPENAI_API_KEY={KEY}");
    let env = [
        trusted_env(&trusted),
        agent.to_vec(),
        vec![("RERECORD_API_KEY", only_one.as_str())],
    ]
    .concat();
    let run = sb.ci(&["record"], &env);
    run.expect(2).says(
        "setup agent needs TAVILY_API_KEY, which is empty: for the workflow, put one line VAR=key for each of OPENAI_API_KEY TAVILY_API_KEY (its own key and its upstreams') in the secret RERECORD_API_KEY of the environment rerecord-setup-agent",
    );
    assert!(!run.all().contains(KEY));
    // A plain key (the single-key form), or a line for a variable the setup does not
    // name: refused without showing the line.
    for bad in [
        SEARCH_KEY.to_owned(),
        format!("{SEARCH_KEY}=x"),
        format!("OTHER_KEY={SEARCH_KEY}"),
    ] {
        let env = [
            trusted_env(&trusted),
            agent.to_vec(),
            vec![("RERECORD_API_KEY", bad.as_str())],
        ]
        .concat();
        let run = sb.ci(&["record"], &env);
        run.expect(2).says("line 1 of the secret RERECORD_API_KEY of the environment rerecord-setup-agent is not VAR=key with VAR one of OPENAI_API_KEY TAVILY_API_KEY");
        assert!(
            !run.all().contains(SEARCH_KEY) && !run.all().contains("OTHER_KEY"),
            "{}",
            run.all()
        );
    }
    assert!(sb.calls().is_empty(), "{:?}", sb.calls());

    // The local setup: its upstream's key only; the backends start.
    let sb = Sandbox::with_config(UPSTREAM_SETUPS);
    let trusted = trusted_plan(&sb, &local);
    let search_only = format!("TAVILY_API_KEY={SEARCH_KEY}");
    let env = [
        trusted_env(&trusted),
        local.to_vec(),
        vec![("RERECORD_API_KEY", search_only.as_str())],
    ]
    .concat();
    sb.ci(&["record"], &env).expect(0);
    assert_eq!(sb.calls_of("backends").len(), 2, "started and stopped");
    let cargo = sb.calls_of("cargo");
    assert_eq!(
        cargo[0].env.get("TAVILY_API_KEY").map(String::as_str),
        Some("<set>")
    );

    // A pull request that names another key for the upstream: refused before anything runs.
    let sb = Sandbox::with_config(UPSTREAM_SETUPS);
    let trusted = trusted_plan(&sb, &agent);
    pr_changes_config(
        &sb,
        "api_key_env = \"TAVILY_API_KEY\", auth",
        "api_key_env = \"ANTHROPIC_API_KEY\", auth",
    );
    let env = [trusted_env(&trusted), agent.to_vec(), secret.to_vec()].concat();
    for step in ["plan", "record"] {
        let run = sb.ci(&[step], &env);
        run.expect(2).says(
            "setup agent's upstreams need the keys 'ANTHROPIC_API_KEY' in the recorder.toml of the code being recorded, but 'TAVILY_API_KEY' in the workflow's own ref",
        );
        assert!(!run.all().contains(SEARCH_KEY));
    }
    assert!(sb.calls().is_empty(), "{:?}", sb.calls());
}

/// The workflow as JSON, through python3's yaml (PyYAML), or None without python3.
fn workflow_json() -> Option<Value> {
    if !have("python3") {
        eprintln!("SKIPPED: python3 is not installed, so examples/ci/rerecord.yml was not parsed");
        return None;
    }
    let script = "import json, sys, yaml\n\
                  d = yaml.safe_load(open(sys.argv[1]))\n\
                  d['on'] = d.pop(True, d.get('on'))\n\
                  print(json.dumps(d))\n";
    // PyYAML: python3's own, else the one scripts/backends.sh installs with OGX.
    let ogx = workspace().join("target/backends/ogx-venv/bin/python");
    for python in [PathBuf::from("python3"), ogx] {
        let Ok(out) = Command::new(&python)
            .args(["-c", script])
            .arg(workspace().join("examples/ci/rerecord.yml"))
            .output()
        else {
            continue;
        };
        let err = String::from_utf8_lossy(&out.stderr);
        if out.status.success() {
            return Some(serde_json::from_slice(&out.stdout).unwrap());
        }
        assert!(
            err.contains("No module named 'yaml'"),
            "the workflow does not parse: {err}"
        );
    }
    panic!("python3 has no yaml module: install PyYAML (pip install pyyaml, or apt-get install python3-yaml)");
}

#[test]
fn the_workflow_parses_and_runs_only_the_scripts() {
    let text = fs::read_to_string(workspace().join("examples/ci/rerecord.yml")).unwrap();
    let Some(wf) = workflow_json() else { return };

    // started by hand only: no pull_request / pull_request_target trigger
    let on = wf["on"].as_object().unwrap();
    assert_eq!(on.keys().collect::<Vec<_>>(), ["workflow_dispatch"]);
    let inputs = on["workflow_dispatch"]["inputs"].as_object().unwrap();
    let mut names: Vec<&str> = inputs.keys().map(String::as_str).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "commit",
            "expected_sha",
            "mode",
            "models",
            "request_id",
            "setup",
            "suite",
            "target",
            "tests"
        ]
    );
    assert_eq!(
        inputs["mode"]["options"],
        json!(["record-if-missing", "record"])
    );
    assert_eq!(inputs["mode"]["default"], "record-if-missing");

    // what rerecord-remote.sh sends is exactly what the workflow takes
    let remote = fs::read_to_string(remote_script()).unwrap();
    let mut sent: Vec<&str> = remote
        .split("-f \"")
        .skip(1)
        .map(|s| s.split('=').next().unwrap())
        .collect();
    sent.sort();
    assert_eq!(sent, names);
    assert!(remote.contains("--name \"recordings-$1\""));

    // least privilege per job; no write access where the recorded code runs
    assert_eq!(wf["permissions"], json!({}));
    let jobs = wf["jobs"].as_object().unwrap();
    assert_eq!(
        jobs.keys().collect::<Vec<_>>(),
        ["resolve", "record", "publish"]
    );
    assert_eq!(
        jobs["resolve"]["permissions"],
        json!({"contents": "read", "pull-requests": "read"})
    );
    assert_eq!(jobs["record"]["permissions"], json!({"contents": "read"}));
    assert_eq!(jobs["publish"]["permissions"], json!({"contents": "write"}));
    assert_eq!(jobs["record"]["needs"], "resolve");
    assert_eq!(jobs["publish"]["needs"], json!(["resolve", "record"]));

    let mut runs = Vec::new();
    for (name, job) in jobs {
        for step in job["steps"].as_array().unwrap() {
            let uses = step["uses"].as_str().unwrap_or("");
            if uses.starts_with("actions/checkout@") {
                assert_eq!(
                    step["with"]["persist-credentials"],
                    json!(false),
                    "{name}: {step}"
                );
            }
            if let Some(run) = step["run"].as_str() {
                // inputs reach the scripts as environment variables, never spliced into shell
                assert!(!run.contains("${{"), "{name}: expression in a run: {run}");
                runs.push((name.as_str(), run.trim().to_owned()));
            }
            if let Some(env) = step["env"].as_object() {
                for (var, value) in env {
                    if value.as_str().unwrap_or("").contains("secrets.") {
                        assert!(
                            matches!(
                                (name.as_str(), var.as_str()),
                                ("resolve", "RERECORD_HAVE_PUSH_TOKEN")
                                    | ("record", "RERECORD_API_KEY")
                                    | ("publish", "RERECORD_PUSH_TOKEN")
                            ),
                            "{name}: secret in {var}"
                        );
                    }
                }
            }
        }
    }
    assert_eq!(
        runs,
        [
            ("resolve", "scripts/ci-rerecord.sh plan".to_owned()),
            ("resolve", "scripts/ci-rerecord.sh resolve".to_owned()),
            (
                "record",
                "../.rerecord-tools/scripts/ci-rerecord.sh plan".to_owned()
            ),
            (
                "record",
                "../.rerecord-tools/scripts/ci-rerecord.sh record".to_owned()
            ),
            (
                "publish",
                "../.rerecord-tools/scripts/ci-rerecord.sh publish".to_owned()
            ),
        ]
    );
    // the recorded code is checked out apart from the trusted scripts, at the resolved commit
    let record_steps = jobs["record"]["steps"].as_array().unwrap();
    assert_eq!(record_steps[0]["with"]["path"], ".rerecord-tools");
    assert_eq!(record_steps[1]["with"]["path"], "work");
    assert_eq!(
        record_steps[1]["with"]["ref"],
        "${{ needs.resolve.outputs.head_sha }}"
    );
    // publish downloads the artifact that record uploads, under the name the scripts use
    assert!(text.contains("name: recordings-${{ github.run_id }}"));
    assert!(text.contains("RERECORD_ARTIFACT_NAME: recordings-${{ github.run_id }}"));
}

/// The secrets a piece of the workflow names (`secrets.NAME`).
fn secrets_named(text: &str) -> std::collections::BTreeSet<String> {
    text.split("secrets.")
        .skip(1)
        .map(|rest| {
            rest.chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect()
        })
        .collect()
}

/// Is `uses` an action pinned by a full commit hash?
fn pinned(uses: &str) -> bool {
    uses.split_once('@').is_some_and(|(action, sha)| {
        action.contains('/')
            && sha.len() == 40
            && sha.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f'))
    })
}

/// How many actions a workflow uses; panics naming the first that is not pinned by a
/// commit hash with its version in a comment.
fn pinned_actions(text: &str) -> usize {
    let mut actions = 0;
    for line in text.lines() {
        let Some(rest) = line
            .trim_start()
            .trim_start_matches("- ")
            .strip_prefix("uses:")
        else {
            continue;
        };
        actions += 1;
        let (uses, comment) = rest.split_once(" # ").unwrap_or((rest, ""));
        assert!(pinned(uses.trim()), "not pinned by a commit hash: {line}");
        assert!(!comment.trim().is_empty(), "no version named: {line}");
    }
    actions
}

#[test]
fn the_example_matrix_workflow_pins_its_actions_too() {
    // Its record job holds the setups' keys: a moved tag must not run code with them.
    let text = fs::read_to_string(workspace().join("examples/ci/github-actions.yml")).unwrap();
    let actions = pinned_actions(&text);
    assert!(actions >= 10, "{actions} actions");
}

#[test]
fn the_workflow_pins_its_actions_and_gives_the_recorded_code_one_secret_chosen_on_its_own_ref() {
    let text = fs::read_to_string(workspace().join("examples/ci/rerecord.yml")).unwrap();
    // every action pinned by commit, with its version in a comment
    let actions = pinned_actions(&text);
    assert!(actions >= 8, "{actions} actions");
    // never a secret chosen at run time: GitHub then sends the runner every secret
    let code: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .map(|l| l.split(" # ").next().unwrap())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(!code.contains("secrets["), "a secret chosen at run time");
    assert!(!code.to_lowercase().contains("tojson(secrets"));

    let Some(wf) = workflow_json() else { return };
    let jobs = wf["jobs"].as_object().unwrap();
    let checkouts = |job: &Value| -> Vec<Value> {
        job["steps"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| {
                s["uses"]
                    .as_str()
                    .unwrap_or("")
                    .starts_with("actions/checkout@")
            })
            .map(|s| s["with"].clone())
            .collect()
    };
    for (name, job) in jobs {
        for step in job["steps"].as_array().unwrap() {
            if let Some(uses) = step["uses"].as_str() {
                assert!(pinned(uses), "{name}: {uses}");
            }
        }
        // a job that checks out the code being recorded sees at most one secret
        let foreign = checkouts(job)
            .iter()
            .any(|with| with["repository"].is_string() || with["ref"].is_string());
        let secrets = secrets_named(&job.to_string());
        if foreign {
            assert!(secrets.len() <= 1, "{name} sees {secrets:?}");
        }
    }

    // the record job's one secret: RERECORD_API_KEY of the environment resolve named
    let record = &jobs["record"];
    assert_eq!(
        secrets_named(&record.to_string()),
        ["RERECORD_API_KEY".to_owned()].into()
    );
    assert_eq!(
        record["environment"],
        "${{ needs.resolve.outputs.key_environment }}"
    );
    assert_eq!(
        record["env"]["RERECORD_TRUSTED_API_KEY_ENV"],
        "${{ needs.resolve.outputs.api_key_env }}"
    );
    assert_eq!(
        record["env"]["RERECORD_TRUSTED_SETUP"],
        "${{ needs.resolve.outputs.setup }}"
    );
    assert_eq!(
        record["env"]["RERECORD_TRUSTED_UPSTREAM_KEY_ENVS"],
        "${{ needs.resolve.outputs.upstream_key_envs }}"
    );
    assert_eq!(record["env"]["RERECORD_TRUSTED_REF"], "${{ github.sha }}");

    // ...on the workflow's own ref: resolve checks out nothing else, and its plan
    // step (no secret, no token) reads that ref's recorder.toml
    let resolve = &jobs["resolve"];
    for with in checkouts(resolve) {
        assert!(
            with.get("repository").is_none() && with.get("ref").is_none(),
            "resolve checks out other code: {with}"
        );
    }
    for output in [
        "setup",
        "api_key_env",
        "upstream_key_envs",
        "key_environment",
    ] {
        assert_eq!(
            resolve["outputs"][output],
            format!("${{{{ steps.plan.outputs.{output} }}}}")
        );
    }
    let plan = resolve["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "plan")
        .unwrap();
    assert_eq!(plan["run"], "scripts/ci-rerecord.sh plan");
    assert!(plan.get("env").is_none() && plan.get("working-directory").is_none());
    // the inputs reach every job's scripts as variables of the whole workflow
    for (var, input) in [
        ("RERECORD_TESTS", "tests"),
        ("RERECORD_SUITE", "suite"),
        ("RERECORD_SETUP", "setup"),
        ("RERECORD_MODELS", "models"),
        ("RERECORD_MODE", "mode"),
    ] {
        assert_eq!(wf["env"][var], format!("${{{{ inputs.{input} }}}}"));
    }
}

#[test]
fn the_scripts_are_executable_bash_with_help() {
    for script in [ci_script(), remote_script()] {
        let mode = fs::metadata(&script).unwrap().permissions().mode();
        assert_ne!(mode & 0o111, 0, "{script:?} is not executable");
        let syntax = Command::new("bash")
            .arg("-n")
            .arg(&script)
            .output()
            .unwrap();
        assert!(
            syntax.status.success(),
            "{script:?}: {}",
            String::from_utf8_lossy(&syntax.stderr)
        );
        let text = fs::read_to_string(&script).unwrap();
        assert!(text.starts_with("#!/usr/bin/env bash\n"));
        assert!(text.contains("set -euo pipefail"));
        let help = Command::new(&script).arg("--help").output().unwrap();
        assert!(help.status.success());
        assert!(String::from_utf8_lossy(&help.stdout).starts_with("Usage: scripts/"));
        // executable in git too, where this is a git checkout
        if let Ok(out) = Command::new("git")
            .current_dir(workspace())
            .args(["ls-files", "-s", "--"])
            .arg(&script)
            .output()
        {
            let line = String::from_utf8_lossy(&out.stdout);
            if !line.is_empty() {
                assert!(
                    line.starts_with("100755"),
                    "{script:?} is not executable in git: {line}"
                );
            }
        }
    }
}
