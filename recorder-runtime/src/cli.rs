//! The `recordings` command: what `cargo run -p recorder-runtime --bin recordings -- <command>`
//! runs. The binary is a thin `main` over [`main`]; each command is a function here.
//!
//! Exit codes: [`EXIT_OK`] on success, [`EXIT_PROBLEMS`] when the command ran but found
//! problems (e.g. files skipped as corrupt), [`EXIT_ERROR`] on usage and I/O errors.

use crate::engine::{Scope, Target};
use crate::index::{self, EntryFilter, Index};
use crate::mode::{Mode, DIR_VAR};
use crate::normalize::normalize_value;
use crate::proxy::{Fallback, Proxy};
use crate::recording::Recording;
use crate::store::{self, Store, MODELS_DIR};
use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::ffi::OsString;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Success.
pub const EXIT_OK: i32 = 0;
/// The command ran, but found problems (e.g. corrupt files were skipped).
pub const EXIT_PROBLEMS: i32 = 1;
/// Usage or I/O error: the command could not do its job.
pub const EXIT_ERROR: i32 = 2;

/// The exit codes, shown by `--help` on every command.
pub const EXIT_CODES_HELP: &str = "Exit codes:\n  0  success\n  1  the command ran but found problems (check), or skipped files (normalize, reindex, import)\n  2  usage or I/O error";

/// Manage the recordings of recorded tests.
#[derive(Debug, Parser)]
#[command(
    name = "recordings",
    version,
    about = "Manage the recordings of recorded tests",
    after_help = EXIT_CODES_HELP,
    subcommand_required = true,
    arg_required_else_help = true
)]
pub struct Cli {
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// List recordings (from the index, rebuilt if stale).
    #[command(after_help = EXIT_CODES_HELP)]
    List(ListArgs),
    /// Show one recording, by hash prefix or file.
    #[command(after_help = EXIT_CODES_HELP)]
    Show(ShowArgs),
    /// Re-apply the current normalization to every recording's response.
    #[command(after_help = EXIT_CODES_HELP)]
    Normalize(DryRunArgs),
    /// Check every recording: parses, named after its request's hash, normalized,
    /// free of secrets, no hash stored twice.
    #[command(after_help = EXIT_CODES_HELP)]
    Check(DirArgs),
    /// Remove the recordings that no test used in its latest run (run the tests in
    /// replay first), and temporary files interrupted writes left (older than ten
    /// minutes).
    #[command(after_help = EXIT_CODES_HELP)]
    Prune(DryRunArgs),
    /// Rebuild recordings/index.sqlite from the JSON files.
    #[command(after_help = EXIT_CODES_HELP)]
    Reindex(DirArgs),
    /// Import recordings from another tool.
    #[command(after_help = EXIT_CODES_HELP)]
    Import(ImportArgs),
    /// Serve the record/replay proxy on its own, for clients in any language
    /// (test id in the X-Recorder-Test-Id header).
    #[command(after_help = EXIT_CODES_HELP)]
    Serve(ServeArgs),
}

/// `list` filters.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only tests whose id contains this text.
    #[arg(long, value_name = "T")]
    pub test: Option<String>,
    /// Only endpoints containing this text.
    #[arg(long, value_name = "E")]
    pub endpoint: Option<String>,
    /// Only this exact model.
    #[arg(long, value_name = "M")]
    pub model: Option<String>,
    /// The recordings folder.
    #[command(flatten)]
    pub dir: DirArgs,
}

/// `show` target.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// A request hash (or a prefix of one), or a recording file.
    pub what: String,
    /// The recordings folder.
    #[command(flatten)]
    pub dir: DirArgs,
}

/// A folder and `--dry-run`.
#[derive(Debug, Args)]
pub struct DryRunArgs {
    /// Say what would change; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// The recordings folder.
    #[command(flatten)]
    pub dir: DirArgs,
}

/// `import <source>`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Where the recordings come from.
    #[command(subcommand)]
    pub source: ImportSource,
}

/// The tools recordings can be imported from.
#[derive(Debug, Subcommand)]
pub enum ImportSource {
    /// OGX (formerly Llama Stack) recordings: a folder of their JSON files.
    #[command(after_help = EXIT_CODES_HELP)]
    Ogx(OgxArgs),
}

/// `import ogx <folder>`.
#[derive(Debug, Args)]
pub struct OgxArgs {
    /// The folder of OGX recordings (searched recursively).
    pub folder: PathBuf,
    /// The recordings folder to import into.
    #[command(flatten)]
    pub dir: DirArgs,
}

/// `serve` options.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The recordings folder.
    #[command(flatten)]
    pub dir: DirArgs,
    /// replay, record-if-missing, record or live [default: $RECORD_MODE, else replay]
    #[arg(long, value_name = "M")]
    pub mode: Option<String>,
    /// The port on 127.0.0.1 (0: any free port).
    #[arg(long, value_name = "P", default_value_t = 0)]
    pub port: u16,
    /// The real API's base URL (e.g. http://127.0.0.1:11434/v1); needed unless replaying.
    #[arg(long, value_name = "URL")]
    pub upstream: Option<String>,
    /// The variable holding the API key sent upstream as a bearer token.
    #[arg(long, value_name = "VAR")]
    pub api_key_env: Option<String>,
}

/// Where the recordings are.
#[derive(Debug, Args)]
pub struct DirArgs {
    /// The recordings folder [default: $RECORDING_DIR, else recordings/ at the workspace root]
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

impl DirArgs {
    /// The folder given, else the default for the current directory.
    pub fn resolve(&self) -> std::io::Result<PathBuf> {
        match &self.dir {
            Some(d) => Ok(d.clone()),
            None => Ok(default_dir(&std::env::current_dir()?)),
        }
    }
}

/// The default recordings folder seen from `cwd`: `RECORDING_DIR` when set, else
/// `recordings/` in the folder holding `recorder.toml` (searched upward), else in the
/// top-most folder whose `Cargo.toml` has `[workspace]`, else in `cwd`.
pub fn default_dir(cwd: &Path) -> PathBuf {
    cwd.join(crate::context::recordings_dir(cwd))
}

/// Runs the command line `args` (program name first), writing to `out` and `err`;
/// returns the exit code.
pub fn run<I, T>(args: I, out: &mut dyn Write, err: &mut dyn Write) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_ERROR } else { EXIT_OK };
            let text = if std::io::stderr().is_terminal() {
                e.render().ansi().to_string()
            } else {
                e.render().to_string()
            };
            let _ = if e.use_stderr() {
                write!(err, "{text}")
            } else {
                write!(out, "{text}")
            };
            return code;
        }
    };
    let result = match &cli.command {
        Command::List(args) => list(args, out, err),
        Command::Show(args) => show(args, out, err),
        Command::Normalize(args) => normalize(args, out, err),
        Command::Check(args) => check(args, out, err),
        Command::Prune(args) => prune(args, out, err),
        Command::Reindex(args) => reindex(args, out, err),
        Command::Import(ImportArgs {
            source: ImportSource::Ogx(args),
        }) => import_ogx(args, out, err),
        Command::Serve(args) => serve(args, out, err),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            let _ = writeln!(err, "error: {e}");
            EXIT_ERROR
        }
    }
}

/// `recordings reindex [--dir D]`: rebuilds the index from the JSON files and lists
/// the files skipped as unreadable.
pub fn reindex(args: &DirArgs, out: &mut dyn Write, err: &mut dyn Write) -> anyhow::Result<i32> {
    let dir = args.resolve()?;
    if !dir.is_dir() {
        anyhow::bail!(
            "no recordings folder at {}: pass --dir or set {DIR_VAR}",
            dir.display()
        );
    }
    let index = Index::open(&dir)?;
    let report = index.rebuild(&Store::new(&dir))?;
    writeln!(
        out,
        "Indexed {} recordings from {}",
        report.indexed,
        dir.display()
    )?;
    if report.skipped.is_empty() {
        return Ok(EXIT_OK);
    }
    for s in &report.skipped {
        writeln!(err, "skipped {}: {}", s.path.display(), s.reason)?;
    }
    writeln!(
        err,
        "{} file(s) skipped: fix or delete them, then re-record with RECORD_MODE=record-if-missing",
        report.skipped.len()
    )?;
    Ok(EXIT_PROBLEMS)
}

/// The recordings folder of `args`, which must exist.
fn existing_dir(args: &DirArgs) -> anyhow::Result<PathBuf> {
    let dir = args.resolve()?;
    if !dir.is_dir() {
        anyhow::bail!(
            "no recordings folder at {}: pass --dir or set {DIR_VAR}",
            dir.display()
        );
    }
    Ok(dir)
}

/// A progress bar over `len` files, drawn only when stderr is a terminal.
fn progress(len: usize, what: &'static str) -> ProgressBar {
    if len < 2 || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(len as u64), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} files") {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(what);
    bar
}

/// The index of `dir`, rebuilt when stale; reports files it skipped on `err`.
fn fresh_index(dir: &Path, err: &mut dyn Write) -> anyhow::Result<Index> {
    let index = Index::open(dir)?;
    index.ensure_fresh(&Store::new(dir))?;
    for s in index.skipped()? {
        writeln!(
            err,
            "warning: {} is unreadable: {}",
            s.path.display(),
            s.reason
        )?;
    }
    Ok(index)
}

fn display_path(dir: &Path, path: &Path) -> String {
    path.strip_prefix(dir)
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| path.display().to_string())
}

/// `recordings list`: one line per recording, grouped by test.
pub fn list(args: &ListArgs, out: &mut dyn Write, err: &mut dyn Write) -> anyhow::Result<i32> {
    let dir = existing_dir(&args.dir)?;
    let index = fresh_index(&dir, err)?;
    let entries = index.entries(&EntryFilter {
        test: args.test.clone(),
        endpoint: args.endpoint.clone(),
        model: args.model.clone(),
        hash_prefix: None,
    })?;
    let mut current: Option<Option<String>> = None;
    for e in &entries {
        if current.as_ref() != Some(&e.test_id) {
            let title = e.test_id.as_deref().unwrap_or("(shared model lists)");
            writeln!(out, "{title}")?;
            current = Some(e.test_id.clone());
        }
        writeln!(
            out,
            "  {}  {} {} {:<6} {}{}  {}",
            &e.request_hash[..12.min(e.request_hash.len())],
            e.status,
            e.method,
            if e.is_streaming { "stream" } else { "" },
            e.endpoint,
            e.model
                .as_deref()
                .map(|m| format!("  model={m}"))
                .unwrap_or_default(),
            e.recorded_at,
        )?;
    }
    writeln!(out, "{} recording(s)", entries.len())?;
    Ok(EXIT_OK)
}

/// `recordings show <hash prefix | file>`: the recording, readable.
pub fn show(args: &ShowArgs, out: &mut dyn Write, err: &mut dyn Write) -> anyhow::Result<i32> {
    let as_file = PathBuf::from(&args.what);
    let paths: Vec<PathBuf> = if as_file.is_file() {
        vec![as_file]
    } else {
        let dir = existing_dir(&args.dir)?;
        let prefix = args.what.to_ascii_lowercase();
        if prefix.is_empty() || !prefix.bytes().all(|b| b.is_ascii_hexdigit()) {
            anyhow::bail!("{} is neither a file nor a hash prefix", args.what);
        }
        let index = fresh_index(&dir, err)?;
        let entries = index.entries(&EntryFilter {
            hash_prefix: Some(prefix),
            ..Default::default()
        })?;
        let mut hashes: Vec<&str> = entries.iter().map(|e| e.request_hash.as_str()).collect();
        hashes.dedup();
        if hashes.is_empty() {
            anyhow::bail!(
                "no recording in {} has a hash starting with {}",
                dir.display(),
                args.what
            );
        }
        if hashes.len() > 1 {
            let mut msg = format!(
                "{} matches {} recordings; give more of the hash:",
                args.what,
                hashes.len()
            );
            for e in &entries {
                msg.push_str(&format!(
                    "\n  {}  {}",
                    e.request_hash,
                    e.file_path.display()
                ));
            }
            anyhow::bail!(msg);
        }
        entries.iter().map(|e| dir.join(&e.file_path)).collect()
    };
    for path in paths {
        let rec = Recording::read(&path)?;
        let r = &rec.request;
        let resp = &rec.response;
        writeln!(out, "file:     {}", path.display())?;
        writeln!(out, "hash:     {}", rec.request_hash())?;
        writeln!(
            out,
            "test:     {}",
            rec.test_id.as_deref().unwrap_or("(shared model list)")
        )?;
        writeln!(out, "request:  {} {}", r.method, r.endpoint)?;
        if let Some(m) = &r.model {
            writeln!(out, "model:    {m}")?;
        }
        if !r.body.is_null() {
            writeln!(
                out,
                "body:\n{}",
                indent(&serde_json::to_string_pretty(&r.body)?)
            )?;
        }
        writeln!(
            out,
            "response: {} {}",
            resp.status,
            resp.content_type.as_deref().unwrap_or("")
        )?;
        if let Some(s) = &resp.stream {
            writeln!(out, "stream:   {} frames ({:?})", s.frames.len(), s.format)?;
            for f in &s.frames {
                writeln!(out, "  {}", serde_json::to_string(f)?)?;
            }
        } else if let Some(b) = &resp.body {
            writeln!(out, "{}", indent(&serde_json::to_string_pretty(b)?))?;
        } else if let Some(t) = &resp.body_text {
            writeln!(out, "{}", indent(t))?;
        } else if let Some(h) = &resp.body_hex {
            writeln!(out, "  ({} bytes of binary)", h.len() / 2)?;
        }
    }
    Ok(EXIT_OK)
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("  {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The recording with the current normalization applied to its response.
pub fn normalized(rec: &Recording, hash: &str) -> Recording {
    let mut copy = rec.clone();
    copy.response
        .for_each_json_mut(|v| normalize_frame(v, hash));
    copy
}

/// [`normalize_value`], except that an `id` that already is a normalized
/// placeholder (`rec-` and 12 hex) is kept: imported OGX recordings carry OGX's own
/// placeholders, which `ogx` keeps on purpose so that replay serves what OGX recorded.
fn normalize_frame(v: &mut Value, hash: &str) {
    let kept = v
        .get("id")
        .and_then(Value::as_str)
        .filter(|id| is_placeholder_id(id))
        .map(str::to_owned);
    normalize_value(v, hash);
    if let (Some(id), Value::Object(map)) = (kept, v) {
        map.insert("id".into(), Value::String(id));
    }
}

/// Whether an id is a normalized placeholder: `rec-` and 12 lowercase hex digits.
pub fn is_placeholder_id(id: &str) -> bool {
    id.strip_prefix("rec-").is_some_and(|h| {
        h.len() == 12
            && h.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

/// The hash normalization uses for a file: the request hash it is named after,
/// else the request's own hash.
fn normalization_hash(path: &Path, rec: &Recording) -> String {
    index::file_hash(path).unwrap_or_else(|| rec.request_hash())
}

/// `recordings normalize [--dry-run]`: re-applies the normalization to every
/// response (requests, and so file names, never change).
pub fn normalize(
    args: &DryRunArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<i32> {
    let dir = existing_dir(&args.dir)?;
    let files = Store::new(&dir).files()?;
    let bar = progress(files.len(), "normalizing");
    let (mut modified, mut skipped) = (0usize, 0usize);
    for path in &files {
        bar.inc(1);
        let rec = match Recording::read(path) {
            Ok(r) => r,
            Err(e) => {
                bar.suspend(|| writeln!(err, "skipped {}: {e}", path.display()))?;
                skipped += 1;
                continue;
            }
        };
        let new = normalized(&rec, &normalization_hash(path, &rec));
        if new == rec {
            continue;
        }
        modified += 1;
        let shown = display_path(&dir, path);
        if args.dry_run {
            bar.suspend(|| writeln!(out, "Would normalize: {shown}"))?;
        } else {
            store::write_atomic(path, &new.to_pretty_bytes())?;
            bar.suspend(|| writeln!(out, "Normalized: {shown}"))?;
        }
    }
    bar.finish_and_clear();
    let verb = if args.dry_run {
        "would be modified"
    } else {
        "modified"
    };
    writeln!(out, "{modified}/{} files {verb}", files.len())?;
    Ok(if skipped > 0 { EXIT_PROBLEMS } else { EXIT_OK })
}

/// Header names that must never be stored, anywhere in a recording's JSON.
pub const SECRET_KEYS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "api-key",
    "x-api-key",
    "cookie",
    "set-cookie",
];

/// The configured API keys' values (from `recorder.toml`'s `api_key_env` variables
/// that are set), with their variable names.
fn configured_secrets(dir: &Path) -> Vec<(String, String)> {
    let config = recorder_config::Config::discover(dir)
        .ok()
        .flatten()
        .or_else(|| {
            let cwd = std::env::current_dir().ok()?;
            recorder_config::Config::discover(&cwd).ok().flatten()
        });
    let mut out: Vec<(String, String)> = Vec::new();
    for setup in config.iter().flat_map(|c| c.setups.values()) {
        let Some(var) = &setup.api_key_env else {
            continue;
        };
        if let Ok(v) = std::env::var(var) {
            // Very short values would match everywhere; they are not real keys.
            if v.trim().len() >= 8 && !out.iter().any(|(n, _)| n == var) {
                out.push((var.clone(), v.trim().to_owned()));
            }
        }
    }
    out
}

/// The secret-looking things in a JSON value, as `(JSON pointer, what)`.
pub fn find_secrets(v: &Value, configured: &[(String, String)]) -> Vec<(String, String)> {
    let mut found = Vec::new();
    scan(v, &mut String::new(), configured, &mut found);
    found
}

fn scan(
    v: &Value,
    at: &mut String,
    configured: &[(String, String)],
    found: &mut Vec<(String, String)>,
) {
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                let len = at.len();
                at.push('/');
                at.push_str(k);
                if SECRET_KEYS.iter().any(|s| k.eq_ignore_ascii_case(s)) {
                    found.push((at.clone(), format!("the header key `{k}`")));
                }
                scan(child, at, configured, found);
                at.truncate(len);
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                let len = at.len();
                at.push_str(&format!("/{i}"));
                scan(child, at, configured, found);
                at.truncate(len);
            }
        }
        Value::String(s) => {
            if let Some(what) = secret_in_text(s, configured) {
                found.push((at.clone(), what));
            }
        }
        _ => {}
    }
}

/// What looks like a secret in `s`: a bearer token, an `sk-` key of 16+ characters,
/// or a configured key's value.
pub fn secret_in_text(s: &str, configured: &[(String, String)]) -> Option<String> {
    for (var, value) in configured {
        if s.contains(value.as_str()) {
            return Some(format!("the value of ${var}"));
        }
    }
    let bytes = s.as_bytes();
    let token_len = |from: usize, extra: &[u8]| {
        bytes[from..]
            .iter()
            .take_while(|b| b.is_ascii_alphanumeric() || b"-_".contains(b) || extra.contains(b))
            .count()
    };
    let lower = s.to_ascii_lowercase();
    for (i, _) in lower.match_indices("bearer ") {
        if token_len(i + 7, b".~+/=") >= 8 {
            return Some("a bearer token".into());
        }
    }
    for (i, _) in s.match_indices("sk-") {
        let boundary = i == 0
            || !(bytes[i - 1].is_ascii_alphanumeric()
                || bytes[i - 1] == b'_'
                || bytes[i - 1] == b'-');
        if boundary && token_len(i + 3, b"") >= 16 {
            return Some("an `sk-` API key".into());
        }
    }
    None
}

/// One problem [`check`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The file.
    pub path: PathBuf,
    /// What is wrong.
    pub what: String,
}

/// Checks every recording under `dir` (see `recordings check --help`); the problems, by file.
pub fn check_dir(dir: &Path, bar: &ProgressBar) -> anyhow::Result<(usize, Vec<Problem>)> {
    let store = Store::new(dir);
    let files = store.files()?;
    bar.set_length(files.len() as u64);
    let configured = configured_secrets(dir);
    let mut problems = Vec::new();
    let mut by_hash: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
    let mut problem = |path: &Path, what: String| {
        problems.push(Problem {
            path: path.to_path_buf(),
            what,
        })
    };
    for path in &files {
        bar.inc(1);
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) => {
                problem(path, format!("cannot read: {e}"));
                continue;
            }
        };
        let rec = match Recording::from_slice(&bytes, path) {
            Ok(r) => r,
            Err(e) => {
                problem(path, format!("does not parse: {e}"));
                continue;
            }
        };
        let hash = rec.request_hash();
        let in_models = path
            .parent()
            .and_then(Path::file_name)
            .is_some_and(|n| n == MODELS_DIR);
        match index::file_hash(path) {
            None => problem(path, format!("is not named after its request's hash ({hash}.json)")),
            Some(named) if named != hash => problem(
                path,
                format!("is named {named} but its request's hash is {hash} (the request was edited, or the file renamed)"),
            ),
            Some(_) => {
                let expected = match &rec.test_id {
                    Some(t) => store.recording_path(t, &hash),
                    None => store.model_list_path(&hash, &store::model_set_digest(&rec.response)),
                };
                if expected != *path {
                    problem(
                        path,
                        format!("is not where replay looks for it: expected {}", display_path(dir, &expected)),
                    );
                }
            }
        }
        if rec.test_id.is_some() == in_models {
            let what = if in_models {
                "a test's recording in the shared model lists folder"
            } else {
                "a shared model list outside _models/"
            };
            problem(path, format!("is {what}"));
        }
        if normalized(&rec, &normalization_hash(path, &rec)) != rec {
            problem(path, "is not normalized: run `recordings normalize`".into());
        }
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(v) => {
                for (at, what) in find_secrets(&v, &configured) {
                    problem(
                        path,
                        format!("holds {what} at {at}: remove it, rotate the key, and re-record"),
                    );
                }
            }
            Err(e) => problem(path, format!("does not parse: {e}")),
        }
        // A key a model emitted token by token is in no single frame, only in the
        // text a client puts together from them.
        if let Some(stream) = &rec.response.stream {
            for (at, text) in crate::secrets::stream_texts(&stream.frames) {
                if let Some(what) = secret_in_text(&text, &configured) {
                    problem(
                        path,
                        format!("spells {what} across its stream's frames at {at}: remove it, rotate the key, and re-record"),
                    );
                }
            }
        }
        if rec.test_id.is_some() {
            by_hash.entry(hash).or_default().push(path.clone());
        }
    }
    for (hash, paths) in by_hash {
        if paths.len() > 1 {
            let others: Vec<String> = paths.iter().map(|p| display_path(dir, p)).collect();
            for p in &paths {
                problem(
                    p,
                    format!("has the request hash {hash}, as do {}", others.join(", ")),
                );
            }
        }
    }
    problems.sort_by(|a, b| a.path.cmp(&b.path));
    Ok((files.len(), problems))
}

/// `recordings check`: lists every problem; exit 1 when there is any.
pub fn check(args: &DirArgs, out: &mut dyn Write, _err: &mut dyn Write) -> anyhow::Result<i32> {
    let dir = existing_dir(args)?;
    let bar = progress(2, "checking");
    let (checked, problems) = check_dir(&dir, &bar)?;
    bar.finish_and_clear();
    // Not problems: replay ignores them; said so that they do not pile up unseen.
    let leftovers = Store::new(&dir).leftover_temp_files()?;
    for path in &leftovers {
        writeln!(
            out,
            "note: {} is a temporary file left by an interrupted write; replay ignores it, `recordings prune` removes it",
            display_path(&dir, path)
        )?;
    }
    if problems.is_empty() {
        writeln!(out, "OK: {checked} recordings checked in {}", dir.display())?;
        return Ok(EXIT_OK);
    }
    for p in &problems {
        writeln!(out, "{}: {}", display_path(&dir, &p.path), p.what)?;
    }
    let mut files: Vec<&PathBuf> = problems.iter().map(|p| &p.path).collect();
    files.dedup();
    writeln!(
        out,
        "{} problem(s) in {} of {checked} files",
        problems.len(),
        files.len()
    )?;
    Ok(EXIT_PROBLEMS)
}

/// `recordings prune [--dry-run]`: removes what no test used in its latest run, and
/// stale temporary files of interrupted writes.
pub fn prune(args: &DryRunArgs, out: &mut dyn Write, err: &mut dyn Write) -> anyhow::Result<i32> {
    let dir = existing_dir(&args.dir)?;
    remove_leftover_temp_files(&dir, args.dry_run, out)?;
    let index = fresh_index(&dir, err)?;
    if index.latest_runs()?.is_empty() {
        writeln!(
            out,
            "No recorded test runs in {}: run the tests (RECORD_MODE=replay) first; nothing pruned",
            index.path().display()
        )?;
        return Ok(EXIT_OK);
    }
    let unused = index.unused_for_latest_runs()?;
    let total = index.entries(&EntryFilter::default())?.len();
    for path in &unused {
        let shown = display_path(&dir, path);
        if args.dry_run {
            writeln!(out, "Would remove: {shown}")?;
        } else {
            match std::fs::remove_file(path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => anyhow::bail!("cannot remove {}: {e}", path.display()),
            }
            remove_empty_parents(&dir, path);
            writeln!(out, "Removed: {shown}")?;
        }
    }
    let verb = if args.dry_run {
        "would be removed"
    } else {
        "removed"
    };
    writeln!(out, "{}/{total} recordings {verb}", unused.len())?;
    if !args.dry_run && !unused.is_empty() {
        index.ensure_fresh(&Store::new(&dir))?;
    }
    Ok(EXIT_OK)
}

/// A temporary file this old cannot belong to a write still in progress.
const STALE_TEMP: std::time::Duration = std::time::Duration::from_secs(10 * 60);

/// Removes the temporary files interrupted writes left (only stale ones: a test
/// running now may be about to rename its own).
fn remove_leftover_temp_files(
    dir: &Path,
    dry_run: bool,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    for path in Store::new(dir).leftover_temp_files()? {
        let age = std::fs::metadata(&path)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok());
        if age.is_none_or(|a| a < STALE_TEMP) {
            continue;
        }
        let shown = display_path(dir, &path);
        if dry_run {
            writeln!(out, "Would remove: {shown} (left by an interrupted write)")?;
            continue;
        }
        match std::fs::remove_file(&path) {
            Ok(()) => writeln!(out, "Removed: {shown} (left by an interrupted write)")?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => anyhow::bail!("cannot remove {}: {e}", path.display()),
        }
    }
    Ok(())
}

fn remove_empty_parents(root: &Path, file: &Path) {
    let mut cur = file.parent();
    while let Some(d) = cur {
        if d == root || !d.starts_with(root) || std::fs::remove_dir(d).is_err() {
            break;
        }
        cur = d.parent();
    }
}

/// `recordings import ogx <folder>`: converts OGX recordings into the folder.
pub fn import_ogx(args: &OgxArgs, out: &mut dyn Write, err: &mut dyn Write) -> anyhow::Result<i32> {
    if !args.folder.is_dir() {
        anyhow::bail!("no folder at {}", args.folder.display());
    }
    let dir = args.dir.resolve()?;
    let report = crate::ogx::import_dir(&args.folder, &Store::new(&dir))?;
    writeln!(
        out,
        "Imported {} exchanges and {} model lists from {} into {}",
        report.imported,
        report.model_lists,
        args.folder.display(),
        dir.display()
    )?;
    if report.skipped.is_empty() {
        return Ok(EXIT_OK);
    }
    for (path, why) in &report.skipped {
        writeln!(err, "skipped {}: {why}", path.display())?;
    }
    writeln!(err, "{} file(s) skipped", report.skipped.len())?;
    Ok(EXIT_PROBLEMS)
}

/// The `serve` router: a standalone recorder that remembers the scopes it made, so
/// that shutdown can wait for their recordings and record their use.
struct Served {
    recorder: Arc<crate::propagate::Recorder>,
    scopes: Mutex<HashMap<String, Arc<Scope>>>,
}

impl Fallback for Served {
    fn scope_for(&self, test_id: Option<&str>) -> crate::Result<Arc<Scope>> {
        let scope = self.recorder.scope_for(test_id)?;
        self.scopes
            .lock()
            .unwrap()
            .entry(scope.test_id().to_owned())
            .or_insert_with(|| scope.clone());
        Ok(scope)
    }
}

/// `recordings serve`: the record/replay proxy on 127.0.0.1 until Ctrl-C.
pub fn serve(args: &ServeArgs, out: &mut dyn Write, err: &mut dyn Write) -> anyhow::Result<i32> {
    let dir = args.dir.resolve()?;
    let mode = match &args.mode {
        Some(m) => m.parse::<Mode>()?,
        None => Mode::from_env()?,
    };
    if mode.calls_upstream() && args.upstream.is_none() {
        anyhow::bail!("--mode {mode} calls the real API: pass --upstream URL");
    }
    if mode == Mode::Replay && !dir.is_dir() {
        anyhow::bail!(
            "no recordings folder at {} to replay: pass --dir or set {DIR_VAR}",
            dir.display()
        );
    }
    let target = Target {
        setup: Some("serve".into()),
        base_url: args.upstream.clone(),
        api_key_env: args.api_key_env.clone(),
        ..Default::default()
    };
    let served = Arc::new(Served {
        recorder: crate::propagate::Recorder::new(&dir, mode, target),
        scopes: Mutex::default(),
    });
    let proxy = Proxy::bind(std::net::SocketAddr::from(([127, 0, 0, 1], args.port)))?;
    proxy.set_fallback(served.clone());
    writeln!(out, "listening on http://{}", proxy.addr())?;
    out.flush()?;
    writeln!(
        err,
        "serving {} in {mode} mode{}; test id from the X-Recorder-Test-Id header; Ctrl-C stops",
        dir.display(),
        args.upstream
            .as_deref()
            .map(|u| format!(", upstream {u}"))
            .unwrap_or_default()
    )?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(tokio::signal::ctrl_c())?;
    proxy.shutdown();
    writeln!(err, "shutting down: waiting for recordings in progress")?;
    let scopes: Vec<Arc<Scope>> = served.scopes.lock().unwrap().values().cloned().collect();
    let mut code = EXIT_OK;
    for scope in scopes {
        for p in scope.finish(Duration::from_secs(60)) {
            if p.contains("still being written") {
                writeln!(err, "{p}")?;
                code = EXIT_PROBLEMS;
            }
        }
        if !scope.test_id().is_empty() {
            if let Err(e) = scope.record_use() {
                writeln!(
                    err,
                    "warning: cannot record use of {}: {e}",
                    scope.test_id()
                )?;
            }
        }
    }
    writeln!(err, "stopped")?;
    Ok(code)
}

/// The binary's `main`: runs [`run`] on the process's arguments and exits with its code.
pub fn main() -> std::process::ExitCode {
    let code = run(
        std::env::args_os(),
        &mut std::io::stdout().lock(),
        &mut std::io::stderr().lock(),
    );
    std::process::ExitCode::from(code as u8)
}
