//! `cargo recordings options`: the binary run in a project with its own
//! `recorder.toml`, with chosen variables (the test process's environment is never
//! modified).

use recorder_runtime::env::VARIABLES;
use serde_json::Value;
use std::path::Path;
use std::process::Command;

const SECRET: &str = "sk-options-test-secret-0123456789";
const SECRET_IN_RECORDER_ENV: &str = "sk-recorder-env-secret-9876543210";

const CONFIG: &str = r#"
default_setup = "local"

[setups.local]
description = "a local server"
base_url = "http://127.0.0.1:18080/v1"
embedding_dimension = 384
models = { text = ["smollm2-135m"], embedding = ["e5-small"] }
env = { RECORDER_KEEP_TIMING = "1", OLLAMA_URL = "http://127.0.0.1:11434", RECORDER_SERVICE_CHAT_URL = "http://127.0.0.1:3999" }

[setups.gpt]
base_url = "https://api.openai.com/v1"
api_key_env = "OPENAI_API_KEY"
models = { text = ["gpt-4o-mini"] }

[setups.vllm]
base_url = "http://127.0.0.1:8000/v1"
api_key_env = "VLLM_API_KEY"

[suites.base]
description = "the base suite"
roots = ["chat"]
exclude = ["chat::slow"]
setup = "local"

[services.chat]
command = ["chat-service", "--port", "{port}"]
port = 3917
"#;

fn run(dir: &Path, args: &[&str], vars: &[(&str, &str)]) -> (i32, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cargo-recordings"));
    cmd.arg("options").args(args).current_dir(dir);
    for v in VARIABLES {
        cmd.env_remove(v.name);
    }
    for name in [
        "OPENAI_API_KEY",
        "VLLM_API_KEY",
        "OLLAMA_URL",
        "HF_TOKEN",
        "GITHUB_TOKEN",
        "DB_URL",
        "RECORDER_SERVICE_CHAT_URL",
        "RECORDER_SERVICE_CHAT_PORT",
        "OPTIONS_SEARCH_KEY",
        "OPTIONS_MAPS_KEY",
    ] {
        cmd.env_remove(name);
    }
    cmd.envs(vars.iter().copied());
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("recorder.toml"), CONFIG).unwrap();
    dir
}

/// The line of variable `name` in the text output, split into its columns.
fn variable_line<'a>(out: &'a str, name: &str) -> Vec<&'a str> {
    let line = out
        .lines()
        .find(|l| l.trim_start().starts_with(&format!("{name} ")))
        .unwrap_or_else(|| panic!("no line for {name} in:\n{out}"));
    line.split("  ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect()
}

/// A variable a test would fail on (one or two edits from one of the recorder's) is
/// listed with where it is set and what it resembles, never with its value; a run
/// without any has no such section.
#[test]
fn misspelled_variables_are_listed_with_the_one_they_resemble() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("recorder.toml"),
        "[setups.local]\nbase_url = \"http://127.0.0.1:18080/v1\"\nenv = { RECORDER_KEEP_TIMIN = \"1\" }\n",
    )
    .unwrap();
    let vars = [
        ("RECORDER_TEXT_MODEL", "sk-never-shown-0123456789"),
        ("RECORDER_ENV", "RECORD_MDOE=record"),
    ];
    let (code, out, err) = run(dir.path(), &[], &vars);
    assert_eq!(code, 0, "{err}");
    let section = out
        .split("\nMisspelled (every recorded test fails until each is renamed, or unset):\n")
        .nth(1)
        .unwrap_or_else(|| panic!("no misspelled section: {out}"));
    assert_eq!(
        section.lines().collect::<Vec<_>>(),
        [
            "  RECORDER_TEXT_MODEL in the environment: did you mean RECORDER_TEXT_MODELS?",
            "  RECORD_MDOE in RECORDER_ENV: did you mean RECORD_MODE?",
            "  RECORDER_KEEP_TIMIN in setups.local.env: did you mean RECORDER_KEEP_TIMING?",
        ]
    );
    assert!(!out.contains("never-shown"), "{out}");
    let (_, json, _) = run(dir.path(), &["--format", "json"], &vars);
    let report: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(report["misspelled"][0]["name"], "RECORDER_TEXT_MODEL");
    assert_eq!(report["misspelled"][0]["like"], "RECORDER_TEXT_MODELS");
    assert_eq!(report["misspelled"].as_array().unwrap().len(), 3);

    let clean_dir = project();
    let (_, clean, _) = run(clean_dir.path(), &[], &[]);
    assert!(!clean.contains("Misspelled"), "{clean}");
}

#[test]
fn prints_setups_suites_kinds_services_and_variables_with_their_sources() {
    let dir = project();
    let (code, out, err) = run(
        dir.path(),
        &[],
        &[
            (
                "RECORDER_ENV",
                &format!("RECORD_MODE=live,VLLM_API_KEY={SECRET_IN_RECORDER_ENV}"),
            ),
            ("RECORDER_TEXT_MODELS", "explicit-a,explicit-b"),
            ("OPENAI_API_KEY", SECRET),
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("setup in effect: local (from default_setup"),
        "{out}"
    );
    // Setups: URL, models per kind, env defaults, API key state.
    assert!(out.contains("* local  http://127.0.0.1:18080/v1"), "{out}");
    assert!(
        out.contains("models: text = smollm2-135m; embedding = e5-small"),
        "{out}"
    );
    assert!(out.contains("env: OLLAMA_URL=http://127.0.0.1:11434, RECORDER_KEEP_TIMING=1, RECORDER_SERVICE_CHAT_URL=http://127.0.0.1:3999"), "{out}");
    assert!(out.contains("api key: OPENAI_API_KEY (set)"), "{out}");
    assert!(
        out.contains("api key: VLLM_API_KEY (set)"),
        "from RECORDER_ENV: {out}"
    );
    // Suites and kinds.
    assert!(
        out.contains("base  setup: local  roots: chat  exclude: chat::slow"),
        "{out}"
    );
    assert!(
        out.contains("Kinds: text, vision, embedding, rerank, safety, judge"),
        "{out}"
    );
    // The service's url comes from the setup's env: nothing would be started.
    assert!(
        out.contains("chat  url http://127.0.0.1:3999 (not started) (from RECORDER_SERVICE_CHAT_URL, setup `local` env)  command: chat-service --port {port}"),
        "{out}"
    );
    // Variables: value and source, every layer.
    assert_eq!(
        variable_line(&out, "RECORD_MODE")[1..3],
        ["live", "RECORDER_ENV"]
    );
    assert_eq!(
        variable_line(&out, "RECORDER_KEEP_TIMING")[1..3],
        ["1", "setup `local` env"]
    );
    assert_eq!(
        variable_line(&out, "RECORDER_TEXT_MODELS")[1..3],
        ["explicit-a,explicit-b", "environment"]
    );
    assert_eq!(
        variable_line(&out, "RECORDER_EMBEDDING_MODELS")[1..3],
        ["e5-small", "recorder.toml"]
    );
    assert_eq!(
        variable_line(&out, "RECORDER_EMBEDDING_DIMENSION")[1..3],
        ["384", "recorder.toml"]
    );
    assert_eq!(
        variable_line(&out, "RECORDER_MAX_BODY_BYTES")[1..3],
        ["67108864", "default"]
    );
    assert_eq!(variable_line(&out, "RECORDER_SUITE")[1..3], ["-", "unset"]);
    assert_eq!(
        variable_line(&out, "RECORDER_SERVICE_CHAT_PORT")[1..3],
        ["3917", "recorder.toml"]
    );
    assert_eq!(
        variable_line(&out, "OLLAMA_URL")[1..3],
        ["http://127.0.0.1:11434", "setup `local` env"]
    );
    // Secrets: set or unset, never the value, also inside RECORDER_ENV.
    assert_eq!(
        variable_line(&out, "OPENAI_API_KEY")[1..3],
        ["(set)", "environment"]
    );
    assert_eq!(
        variable_line(&out, "VLLM_API_KEY")[1..3],
        ["(set)", "RECORDER_ENV"]
    );
    assert_eq!(
        variable_line(&out, "RECORDER_ENV")[1],
        "RECORD_MODE=live,VLLM_API_KEY=(set)"
    );
    assert!(
        !out.contains(SECRET) && !out.contains(SECRET_IN_RECORDER_ENV),
        "{out}"
    );
    // Every variable of the table has a line (service templates once per service).
    for v in VARIABLES {
        let name = v.name.replace("<NAME>", "CHAT");
        variable_line(&out, &name);
    }
}

/// Credentials other than the setups' API keys, given through `RECORDER_ENV` or a
/// setup's `env`: a token variable is shown as set, a URL with its password masked, in
/// the text and the JSON output alike.
#[test]
fn other_credentials_in_recorder_env_and_a_setup_env_are_never_printed() {
    let dir = tempfile::tempdir().unwrap();
    let token = "hf_setup-env-token-0123456789";
    let password = "db-pa55word-in-url";
    let url_password = "gpu-pa55word-in-url";
    std::fs::write(
        dir.path().join("recorder.toml"),
        format!(
            "default_setup = \"local\"\n[setups.local]\nbase_url = \"http://127.0.0.1:18080/v1\"\nenv = {{ HF_TOKEN = \"{token}\", DB_URL = \"postgres://app:{password}@db:5432/x\" }}\n"
        ),
    )
    .unwrap();
    let recorder_env = format!(
        "GITHUB_TOKEN=ghp_recorder-env-0123456789,OLLAMA_URL=http://me:{url_password}@gpu:11434"
    );
    let vars = [("RECORDER_ENV", recorder_env.as_str())];
    let (code, out, err) = run(dir.path(), &[], &vars);
    assert_eq!(code, 0, "{err}");
    let (_, json, _) = run(dir.path(), &["--format", "json"], &vars);
    for shown in [&out, &json] {
        for secret in [token, password, url_password, "ghp_recorder-env-0123456789"] {
            assert!(!shown.contains(secret), "{secret} printed:\n{shown}");
        }
    }
    assert_eq!(
        variable_line(&out, "HF_TOKEN")[1..3],
        ["(set)", "setup `local` env"]
    );
    assert_eq!(
        variable_line(&out, "GITHUB_TOKEN")[1..3],
        ["(set)", "RECORDER_ENV"]
    );
    assert_eq!(
        variable_line(&out, "OLLAMA_URL")[1],
        "http://me:****@gpu:11434"
    );
    assert_eq!(
        variable_line(&out, "DB_URL")[1],
        "postgres://app:****@db:5432/x"
    );
    assert_eq!(
        variable_line(&out, "RECORDER_ENV")[1],
        "GITHUB_TOKEN=(set),OLLAMA_URL=http://me:****@gpu:11434"
    );
}

#[test]
fn setup_option_resolves_under_another_setup() {
    let dir = project();
    let (code, out, err) = run(dir.path(), &["--setup", "gpt"], &[]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("setup in effect: gpt (from --setup"), "{out}");
    assert!(out.contains("* gpt  https://api.openai.com/v1"), "{out}");
    assert_eq!(
        variable_line(&out, "RECORDER_SETUP")[1..3],
        ["gpt", "--setup"]
    );
    assert_eq!(
        variable_line(&out, "RECORDER_TEXT_MODELS")[1..3],
        ["gpt-4o-mini", "recorder.toml"]
    );
    assert_eq!(
        variable_line(&out, "RECORDER_EMBEDDING_DIMENSION")[1..3],
        ["768", "default"]
    );
    // local's env does not apply under gpt.
    assert_eq!(
        variable_line(&out, "RECORDER_KEEP_TIMING")[1..3],
        ["-", "unset"]
    );
    assert_eq!(variable_line(&out, "OPENAI_API_KEY")[1..3], ["-", "unset"]);
    assert!(
        out.contains("chat  port 3917 (from services.chat.port, recorder.toml)"),
        "{out}"
    );

    // RECORDER_SETUP (here from RECORDER_ENV) is the default of --setup.
    let (_, out, _) = run(dir.path(), &[], &[("RECORDER_ENV", "RECORDER_SETUP=vllm")]);
    assert!(
        out.contains("setup in effect: vllm (from RECORDER_SETUP in RECORDER_ENV"),
        "{out}"
    );
}

#[test]
fn json_format() {
    let dir = project();
    let (code, out, err) = run(
        dir.path(),
        &["--format", "json"],
        &[("RECORDER_SERVICE_CHAT_PORT", "4000")],
    );
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["setup"]["name"], "local");
    assert_eq!(v["setups"].as_array().unwrap().len(), 3);
    let local = v["setups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "local")
        .unwrap();
    assert_eq!(local["in_effect"], true);
    assert_eq!(local["env"]["OLLAMA_URL"], "http://127.0.0.1:11434");
    assert_eq!(local["models"]["embedding"][0], "e5-small");
    assert_eq!(v["suites"][0]["exclude"][0], "chat::slow");
    assert_eq!(v["kinds"].as_array().unwrap().len(), 6);
    // An explicit URL in the setup's env, but an explicit port in the environment:
    // the URL still wins (a URL beats a port), and says where it came from.
    assert_eq!(v["services"][0]["url"], "http://127.0.0.1:3999");
    let vars = v["variables"].as_array().unwrap();
    let port = vars
        .iter()
        .find(|x| x["name"] == "RECORDER_SERVICE_CHAT_PORT")
        .unwrap();
    assert_eq!(
        (&port["value"], &port["source"]),
        (&Value::from("4000"), &Value::from("environment"))
    );
    assert!(vars
        .iter()
        .all(|x| x["description"].as_str().is_some_and(|d| !d.is_empty())));
}

#[test]
fn errors_say_what_to_do() {
    let dir = project();
    let (code, _, err) = run(dir.path(), &["--setup", "claude"], &[]);
    assert_eq!(code, 2);
    assert!(
        err.contains("unknown setup `claude`") && err.contains("`gpt`, `local`, `vllm`"),
        "{err}"
    );
    let (code, _, err) = run(dir.path(), &[], &[("RECORDER_ENV", "RECORD_MODE")]);
    assert_eq!(code, 2);
    assert!(
        err.contains("entry `RECORD_MODE` has no `=`")
            && err.contains("RECORDER_ENV=KEY=value,KEY2=value2"),
        "{err}"
    );
    let (code, _, err) = run(dir.path(), &["--format", "yaml"], &[]);
    assert_eq!(code, 2);
    assert!(err.contains("yaml"), "{err}");
}

#[test]
fn without_a_recorder_toml() {
    let dir = tempfile::tempdir().unwrap();
    let (code, out, err) = run(dir.path(), &[], &[("RECORDER_TEXT_MODELS", "m")]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("recorder.toml: none found"), "{out}");
    assert!(out.contains("setup in effect: none"), "{out}");
    assert_eq!(
        variable_line(&out, "RECORDER_TEXT_MODELS")[1..3],
        ["m", "environment"]
    );
    let (code, _, err) = run(dir.path(), &["--setup", "gpt"], &[]);
    assert_eq!(code, 2);
    assert!(err.contains("no recorder.toml was found"), "{err}");
}

/// Each setup's upstreams: URL, where they are served, key variable set or unset and
/// how it is sent, header names; their keys are secrets like the setup's.
#[test]
fn lists_each_setups_upstreams_with_keys_as_set_or_unset() {
    const SEARCH_SECRET: &str = "tvly-options-secret-0123456789";
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("recorder.toml"),
        r#"
default_setup = "agent"
[setups.agent]
base_url = "http://127.0.0.1:18080/v1"
upstreams = { mcp = "http://127.0.0.1:8931/mcp", search = { url = "https://api.tavily.com", api_key_env = "OPTIONS_SEARCH_KEY", auth = { header = "x-api-key" }, headers = { "x-client" = "not-shown-value" } }, maps = { url = "https://maps.example", api_key_env = "OPTIONS_MAPS_KEY", auth = { query = "key" } } }
"#,
    )
    .unwrap();
    let vars = [(
        "RECORDER_ENV",
        &*format!("OPTIONS_SEARCH_KEY={SEARCH_SECRET}"),
    )];
    let (code, out, err) = run(dir.path(), &[], &vars);
    assert_eq!(code, 0, "{err}");
    for line in [
        "      upstream: maps at /up/maps -> https://maps.example, api key: OPTIONS_MAPS_KEY (unset) as query:key",
        "      upstream: mcp at /up/mcp -> http://127.0.0.1:8931/mcp",
        "      upstream: search at /up/search -> https://api.tavily.com, api key: OPTIONS_SEARCH_KEY (set) as header:x-api-key, headers: x-client",
    ] {
        assert!(out.lines().any(|l| l == line), "no line {line:?} in:\n{out}");
    }
    assert_eq!(
        variable_line(&out, "OPTIONS_SEARCH_KEY")[1..],
        [
            "(set)",
            "RECORDER_ENV",
            "API key of upstream search of setup agent (never shown)"
        ]
    );
    assert_eq!(
        variable_line(&out, "OPTIONS_MAPS_KEY")[1..3],
        ["-", "unset"]
    );
    assert_eq!(
        variable_line(&out, "RECORDER_ENV")[1],
        "OPTIONS_SEARCH_KEY=(set)"
    );
    assert!(
        !out.contains(SEARCH_SECRET) && !out.contains("not-shown-value"),
        "{out}"
    );

    let (code, out, err) = run(dir.path(), &["--format", "json"], &vars);
    assert_eq!(code, 0, "{err}");
    assert!(!out.contains(SEARCH_SECRET), "{out}");
    let v: Value = serde_json::from_str(&out).unwrap();
    let ups = &v["setups"][0]["upstreams"];
    assert_eq!(ups["mcp"]["url"], "http://127.0.0.1:8931/mcp");
    assert_eq!(ups["mcp"]["api_key_env"], Value::Null);
    assert_eq!(
        ups["search"]["api_key_env"],
        serde_json::json!({"name": "OPTIONS_SEARCH_KEY", "set": true})
    );
    assert_eq!(ups["search"]["auth"], "header:x-api-key");
    assert_eq!(ups["search"]["headers"], serde_json::json!(["x-client"]));
}
