//! `cargo recordings init`: what a crate of one's own needs to record its first test.
//!
//! Writes, never overwriting anything:
//! - `recorder.toml` next to the crate's `Cargo.toml`, or at the workspace root in a
//!   workspace (where `recordings/` will be too): one setup, a local
//!   OpenAI-compatible server by default (`--base-url`, `--setup`, `--model`,
//!   `--api-key-env` change it). Skipped when the crate already finds one.
//! - the `.gitignore` lines the recorder needs, in the `.gitignore` beside it
//!   (appended when missing, created when there is none): the index and the
//!   temporary files of interrupted writes.
//! - one example test, `tests/recorded_example.rs`, in the crate.
//!
//! Then it prints the dependency line to add (a path to the clone the command was
//! built from: nothing is on crates.io yet) and the commands that record and replay
//! the example.

use crate::InitArgs;
use crate::EXIT_OK;
use recorder_config::{Config, Kind, FILE_NAME};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The setup `init` writes, by default: a local OpenAI-compatible server on
/// llama.cpp's default port.
pub(crate) const DEFAULT_BASE_URL: &str = "http://127.0.0.1:8080/v1";
/// The name of the setup `init` writes, by default.
pub(crate) const DEFAULT_SETUP: &str = "local";

/// The example test's file, under the crate's `tests/`.
pub(crate) const EXAMPLE_FILE: &str = "recorded_example.rs";

/// The lines of `.gitignore` the recorder needs, relative to the folder holding
/// `recorder.toml` (and `recordings/`).
pub(crate) const IGNORE_LINES: &[&str] = &["/recordings/index.sqlite*", "/recordings/**/.*.tmp"];

/// `recordings init`, from the current folder.
pub(crate) fn init(
    args: &InitArgs,
    out: &mut dyn Write,
    _err: &mut dyn Write,
) -> anyhow::Result<i32> {
    let cwd = std::env::current_dir()?;
    init_in(&cwd, args, out)?;
    Ok(EXIT_OK)
}

/// Where things go, seen from `cwd`.
struct Places {
    /// The package's folder (its `Cargo.toml` has `[package]`); `None` at the root of
    /// a virtual workspace.
    krate: Option<PathBuf>,
    /// Where `recorder.toml` is or goes, with `recordings/` and the `.gitignore`.
    config_dir: PathBuf,
    /// A `recorder.toml` the crate finds already.
    existing: Option<PathBuf>,
}

fn places(cwd: &Path) -> anyhow::Result<Places> {
    let manifest = cwd
        .ancestors()
        .find(|dir| dir.join("Cargo.toml").is_file())
        .ok_or_else(|| {
            anyhow::anyhow!(
                "no Cargo.toml in {} or above: run `cargo recordings init` inside the crate that will hold the tests",
                cwd.display()
            )
        })?;
    let text = std::fs::read_to_string(manifest.join("Cargo.toml"))?;
    let table: toml::Table = text.parse().map_err(|e| {
        anyhow::anyhow!("cannot read {}: {e}", manifest.join("Cargo.toml").display())
    })?;
    let krate = table
        .contains_key("package")
        .then(|| manifest.to_path_buf());
    let root = recorder_config::workspace_root(manifest).unwrap_or_else(|| manifest.to_path_buf());
    let existing = recorder_config::find_file(manifest);
    let config_dir = match existing.as_deref().and_then(Path::parent) {
        Some(dir) => dir.to_path_buf(),
        None => root,
    };
    Ok(Places {
        krate,
        config_dir,
        existing,
    })
}

/// The `recorder.toml` that `args` ask for, checked by parsing it as the tests will.
fn config_text(args: &InitArgs, path: &Path) -> anyhow::Result<(String, Config)> {
    let setup = &args.setup;
    if setup.is_empty()
        || !setup
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        anyhow::bail!("--setup {setup:?}: use letters, digits, `-` and `_`, e.g. --setup local");
    }
    if let Some(var) = &args.api_key_env {
        if !recorder_config::is_env_name(var) {
            anyhow::bail!("--api-key-env {var:?} is not a variable name, e.g. OPENAI_API_KEY");
        }
    }
    let mut models: Vec<(Kind, Vec<&str>)> = Vec::new();
    let given: Vec<(Kind, &str)> = if args.models.is_empty() {
        vec![(Kind::Text, DEFAULT_TEXT_MODEL)]
    } else {
        args.models.iter().map(|(k, m)| (*k, m.as_str())).collect()
    };
    for (kind, model) in given {
        match models.iter_mut().find(|(k, _)| *k == kind) {
            Some((_, list)) if !list.contains(&model) => list.push(model),
            Some(_) => {}
            None => models.push((kind, vec![model])),
        }
    }
    let quote = |s: &str| serde_json::to_string(s).expect("a string serializes");
    let models = models
        .iter()
        .map(|(kind, list)| {
            let list = list.iter().map(|m| quote(m)).collect::<Vec<_>>().join(", ");
            format!("{kind} = [{list}]")
        })
        .collect::<Vec<_>>()
        .join(", ");
    let api_key = match &args.api_key_env {
        Some(var) => format!("api_key_env = {}\n", quote(var)),
        None => "# api_key_env = \"OPENAI_API_KEY\"   # the variable holding the key, if the server needs one\n".to_owned(),
    };
    let text = format!(
        r#"# Where recorded tests get their models (written by `cargo recordings init`).
#
# Tests replay from recordings/ (next to this file) by default, offline. To record
# what is missing from the setup's server:  RECORD_MODE=record-if-missing cargo test
# RECORDER_SETUP=<name> picks another setup; RECORDER_<KIND>_MODELS=a,b overrides a
# kind's models (TEXT, VISION, EMBEDDING, RERANK, SAFETY, JUDGE). Editing this file
# rebuilds the tests. `cargo recordings options` shows what a run would use.

default_setup = {quoted}

[setups.{setup}]
description = "an OpenAI-compatible server (llama.cpp's llama-server, vLLM, Ollama's /v1, ...)"
base_url = {base_url}
{api_key}# The ids of the models the server serves; one test per model.
models = {{ {models} }}
"#,
        quoted = quote(setup),
        base_url = quote(&args.base_url),
    );
    let config =
        Config::parse(&text, path).map_err(|e| anyhow::anyhow!("nothing was written: {e}"))?;
    Ok((text, config))
}

/// The text model the default setup names (llama.cpp's server answers whatever
/// the name; edit it to the one the server serves).
const DEFAULT_TEXT_MODEL: &str = "smollm2-135m";

/// The example test, for the kinds the setup has: a chat if it has text models,
/// else embeddings if it has those, else a chat (generated ignored until a text model
/// is configured).
fn example_text(kinds: &[Kind]) -> String {
    let stem = EXAMPLE_FILE.trim_end_matches(".rs");
    let record = format!("RECORD_MODE=record-if-missing cargo test --test {stem}");
    let replay = format!("cargo test --test {stem}");
    let run = format!(
        "//! {record}   # records it from the setup's server\n//! {replay:width$}   # replays it, offline\n",
        width = record.len()
    );
    if !kinds.contains(&Kind::Text) && kinds.contains(&Kind::Embedding) {
        return format!(
            r#"//! An example recorded test (written by `cargo recordings init`).
//!
{run}
use recorder_runtime::client::EmbeddingRequest;
use recorder_runtime::{{recorded_test, Client, Model}};

#[recorded_test(models = "embedding")]
async fn embeds_two_texts(client: Client, embedding_model: Model, embedding_dimension: usize) {{
    let answer = client
        .embeddings(&EmbeddingRequest::new(embedding_model.id(), ["a cat", "a dog"]))
        .await
        .unwrap();
    assert_eq!(answer.data.len(), 2);
    let _ = embedding_dimension; // the setup's `embedding_dimension`, else 768
}}
"#
        );
    }
    format!(
        r#"//! An example recorded test (written by `cargo recordings init`).
//!
{run}
use recorder_runtime::client::{{ChatRequest, Message}};
use recorder_runtime::{{recorded_test, Client, Model}};

#[recorded_test(models = "text")]
async fn answers_a_question(client: Client, text_model: Model) {{
    let answer = client
        .chat(
            &ChatRequest::new(text_model.id())
                .message(Message::user("What is the capital of France? One word."))
                // Temperature 0: the same question gets the same answer when recorded again.
                .temperature(0.0)
                .max_tokens(16),
        )
        .await
        .unwrap();
    assert_eq!(answer.choices[0].message.role, "assistant");
}}
"#
    )
}

/// Creates `path` with `text` unless something has that name (never following a
/// symlink); whether it was written.
fn create(path: &Path, text: &str) -> anyhow::Result<bool> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
    {
        Ok(mut file) => {
            file.write_all(text.as_bytes())
                .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
            Ok(true)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(anyhow::anyhow!("cannot create {}: {e}", path.display())),
    }
}

/// Appends the lines of [`IGNORE_LINES`] that `path` lacks (creating it if needed);
/// the lines added.
fn ignore_lines(path: &Path) -> anyhow::Result<Vec<&'static str>> {
    let existing = match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.is_file() => std::fs::read_to_string(path)?,
        Ok(_) => anyhow::bail!(
            "{} is not a plain file: add these lines to your ignore rules yourself: {}",
            path.display(),
            IGNORE_LINES.join(" ")
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e.into()),
    };
    let have: Vec<&str> = existing.lines().map(str::trim).collect();
    let missing: Vec<&'static str> = IGNORE_LINES
        .iter()
        .copied()
        .filter(|line| !have.contains(line))
        .collect();
    if missing.is_empty() {
        return Ok(missing);
    }
    let mut text = String::new();
    if !existing.is_empty() && !existing.ends_with('\n') {
        text.push('\n');
    }
    text.push_str("# cargo recordings: the index is rebuilt from the recordings; temporary files of interrupted writes\n");
    for line in &missing {
        text.push_str(line);
        text.push('\n');
    }
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
    file.write_all(text.as_bytes())?;
    Ok(missing)
}

/// Whether the crate at `krate` already depends on the runtime (under any name).
fn has_runtime(krate: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string(krate.join("Cargo.toml")) else {
        return false;
    };
    let Ok(table) = text.parse::<toml::Table>() else {
        return false;
    };
    ["dependencies", "dev-dependencies"].iter().any(|section| {
        table
            .get(*section)
            .and_then(toml::Value::as_table)
            .is_some_and(|deps| {
                deps.iter().any(|(name, spec)| {
                    name == "recorder-runtime"
                        || spec.get("package").and_then(toml::Value::as_str)
                            == Some("recorder-runtime")
                })
            })
    })
}

/// The runtime in the clone this command was built from, if it is still there.
fn runtime_in_clone() -> Option<PathBuf> {
    let runtime = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()?
        .join("recorder-runtime");
    runtime.join("Cargo.toml").is_file().then_some(runtime)
}

/// `init` run from `cwd`.
pub(crate) fn init_in(cwd: &Path, args: &InitArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let places = places(cwd)?;
    let config_path = places.config_dir.join(FILE_NAME);
    // Everything is checked before anything is written.
    let config = match &places.existing {
        Some(path) => {
            writeln!(
                out,
                "left {} as it is: this crate's tests use it already (init never overwrites)",
                path.display()
            )?;
            if args.base_url != DEFAULT_BASE_URL
                || args.setup != DEFAULT_SETUP
                || !args.models.is_empty()
                || args.api_key_env.is_some()
            {
                writeln!(
                    out,
                    "  (--base-url, --setup, --model and --api-key-env make a new recorder.toml only: edit that one instead)"
                )?;
            }
            Config::load(path).ok()
        }
        None => {
            let (text, config) = config_text(args, &config_path)?;
            create(&config_path, &text)?;
            let setup = config.setup(&args.setup)?;
            let models = setup
                .models
                .iter()
                .map(|(kind, list)| format!("{kind} = {}", list.join(", ")))
                .collect::<Vec<_>>()
                .join("; ");
            writeln!(
                out,
                "wrote {}: setup `{}` at {} ({models})",
                config_path.display(),
                setup.name,
                args.base_url
            )?;
            Some(config)
        }
    };

    let ignore = places.config_dir.join(".gitignore");
    let added = ignore_lines(&ignore)?;
    if added.is_empty() {
        writeln!(out, "{} has the lines the recorder needs", ignore.display())?;
    } else {
        writeln!(out, "added to {}: {}", ignore.display(), added.join(" "))?;
    }

    let kinds: Vec<Kind> = config
        .as_ref()
        .and_then(|c| c.default_setup.as_deref().and_then(|d| c.setups.get(d)))
        .map(|s| s.models.keys().copied().collect())
        .unwrap_or_default();
    let example = match &places.krate {
        Some(krate) => {
            let path = krate.join("tests").join(EXAMPLE_FILE);
            if create(&path, &example_text(&kinds))? {
                writeln!(out, "wrote {}", path.display())?;
            } else {
                writeln!(
                    out,
                    "left {} as it is: it exists (init never overwrites)",
                    path.display()
                )?;
            }
            Some(path)
        }
        None => {
            writeln!(
                out,
                "no example test: {} is a workspace without a package; run `cargo recordings init` in the member crate that will hold the tests to get one",
                cwd.display()
            )?;
            None
        }
    };

    writeln!(out)?;
    if let Some(krate) = &places.krate {
        if has_runtime(krate) {
            writeln!(
                out,
                "{}/Cargo.toml depends on recorder-runtime already.",
                krate.display()
            )?;
        } else {
            let path = runtime_in_clone();
            let shown = path
                .as_deref()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "/path/to/your/clone/recorder-runtime".into());
            writeln!(
                out,
                "Add the runtime to {}/Cargo.toml. It is not on crates.io yet (`cargo add --dev recorder-runtime` fails), so depend on a clone of the recorder by path:",
                krate.display()
            )?;
            writeln!(out, "    cargo add --dev --path {shown}")?;
            writeln!(out, "or, by hand:")?;
            writeln!(out, "    [dev-dependencies]")?;
            writeln!(out, "    recorder-runtime = {{ path = {shown:?} }}")?;
        }
    }
    if example.is_some() {
        let stem = EXAMPLE_FILE.trim_end_matches(".rs");
        let at = config
            .as_ref()
            .and_then(|c| c.default_setup.as_deref().and_then(|d| c.setups.get(d)))
            .and_then(|s| s.base_url.clone())
            .unwrap_or_else(|| "the setup's base_url".into());
        writeln!(
            out,
            "Then record the example from the server at {at}, and replay it offline:"
        )?;
        writeln!(
            out,
            "    RECORD_MODE=record-if-missing cargo test --test {stem}"
        )?;
        writeln!(out, "    cargo test --test {stem}")?;
        writeln!(
            out,
            "and commit {FILE_NAME}, recordings/ and tests/{EXAMPLE_FILE}."
        )?;
    }
    Ok(())
}
