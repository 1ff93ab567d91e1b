//! `cargo recordings <command>`: list, show, check, normalize, migrate, prune, reindex,
//! import and serve the recordings of recorded tests, in any project; `options` shows the
//! setups, suites, kinds, services and variables in effect; `init` sets up a crate;
//! `review` shows what a re-record changed against git's `HEAD` (and accepts or
//! rejects it per test), `report --html` draws the recorded conversations on one page;
//! `mcp-stdio` stands in for an MCP server over stdio that a client launches.
//!
//! ```sh
//! cargo install --path recorder-cli      # installs cargo-recordings
//! cargo recordings check                 # in any crate that has recordings/
//! cargo run -p recorder-cli -- list      # inside this workspace
//! ```
//!
//! The binary is a thin `main` over [`main`]; each command is a function here.
//!
//! Exit codes: [`EXIT_OK`] on success, [`EXIT_PROBLEMS`] when the command ran but found
//! problems (e.g. files skipped as corrupt), [`EXIT_ERROR`] on usage and I/O errors.

mod commands;
pub mod git;
pub mod index;
pub mod ogx;
pub mod report;
pub mod review;

pub use commands::check::{check_dir, Problem};
pub use commands::migrate::{migrate_dir, Migrated, Migration};

use clap::{Args, Parser, Subcommand};
use index::Index;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use recorder_runtime::env::RECORDING_DIR as DIR_VAR;
use recorder_runtime::store::Store;
use std::ffi::OsString;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

/// The arguments of the command itself: `cargo recordings list` runs
/// `cargo-recordings recordings list`, whose `recordings` is cargo's, not a command.
pub fn cargo_args(args: impl IntoIterator<Item = OsString>) -> Vec<OsString> {
    let mut args: Vec<OsString> = args.into_iter().collect();
    if args.get(1).is_some_and(|a| a == "recordings") {
        args.remove(1);
    }
    args
}

/// Success.
pub const EXIT_OK: i32 = 0;
/// The command ran, but found problems (e.g. corrupt files were skipped).
pub const EXIT_PROBLEMS: i32 = 1;
/// Usage or I/O error: the command could not do its job.
pub const EXIT_ERROR: i32 = 2;

/// The exit codes, shown by `--help` on every command.
pub const EXIT_CODES_HELP: &str = "Exit codes:\n  0  success\n  1  the command ran but found problems (check), or skipped files (normalize, migrate, reindex, import)\n  2  usage or I/O error";

/// Manage the recordings of recorded tests.
#[derive(Debug, Parser)]
#[command(
    name = "cargo recordings",
    bin_name = "cargo recordings",
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
    /// Check every recording: parses, of the current format, named after its
    /// request's hash, normalized, free of secrets, no hash stored twice.
    #[command(after_help = EXIT_CODES_HELP)]
    Check(DirArgs),
    /// Rewrite recordings of older formats or identity schemes in the current ones
    /// (renaming those whose request hash changed, with their ids and record of use);
    /// current files are left as they are.
    #[command(after_help = EXIT_CODES_HELP)]
    Migrate(DryRunArgs),
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
    /// (test id in the X-Recorder-Test-Id header, or for requests without one from
    /// POST /_recorder/begin and /_recorder/end around each test). Exits 1 after any
    /// miss or problem; its last line is `recorder: serve summary: ...`.
    #[command(after_help = EXIT_CODES_HELP)]
    Serve(ServeArgs),
    /// Set up a crate of one's own: write recorder.toml (at the workspace root in a
    /// workspace), the .gitignore lines the recorder needs and an example test, and
    /// print the dependency line to add. Never overwrites anything.
    #[command(after_help = EXIT_CODES_HELP)]
    Init(InitArgs),
    /// Print the setups, suites, kinds and services of recorder.toml, and every
    /// variable the recorder reads with its value under a setup and where it came
    /// from (API keys: set or unset only).
    #[command(after_help = EXIT_CODES_HELP)]
    Options(OptionsArgs),
    /// Show what a re-record changed against git's HEAD, per test: the assistant's
    /// text as a word diff, tool calls, finish reason, status, usage, embeddings. On a
    /// terminal it asks to accept (keep the new files), reject (restore HEAD's) or skip
    /// each test; nothing is staged or committed.
    #[command(after_help = REVIEW_HELP)]
    Review(ReviewArgs),
    /// Write a static HTML page of every test's recorded conversations, with what
    /// differs from git's HEAD highlighted (no server, no network, no scripts).
    #[command(after_help = EXIT_CODES_HELP)]
    Report(ReportArgs),
    /// Stand in for an MCP server over stdio: launched by a client (an MCP SDK, an
    /// agent) in the server's place, it records the session through the test's
    /// recorder ($RECORDER_URL) and starts the server only when the mode calls
    /// upstream; in replay the answers come from the recordings. Its stdout is the
    /// protocol's: messages go to stderr.
    #[command(name = "mcp-stdio", after_help = MCP_STDIO_HELP)]
    McpStdio(McpStdioArgs),
}

/// `mcp-stdio`'s help epilogue: an example, then the exit codes.
pub const MCP_STDIO_HELP: &str = "Example: a client configured to launch `npx -y @modelcontextprotocol/server-everything stdio` launches instead\n  cargo recordings mcp-stdio --name everything -- npx -y @modelcontextprotocol/server-everything stdio\nwith RECORDER_URL (the test's `ctx.recorder_env()`) in its environment.\n\nExit codes:\n  0  the session ended without problems\n  1  an exchange could not be recorded or replayed (printed on stderr; the test fails too)\n  2  usage error, the recorder cannot be reached, or the server cannot be started";

/// `mcp-stdio` options.
///
/// ```
/// use clap::Parser;
/// let cli = recorder_cli::Cli::parse_from(["cargo recordings", "mcp-stdio", "--name", "files", "--", "node", "server.js", "--root", "/tmp"]);
/// let recorder_cli::Command::McpStdio(args) = cli.command else { unreachable!() };
/// assert_eq!(args.name, "files");
/// assert_eq!(args.command, ["node", "server.js", "--root", "/tmp"]);
/// ```
#[derive(Debug, Args)]
pub struct McpStdioArgs {
    /// The server's name: its exchanges are recorded at the endpoint /up/NAME.
    #[arg(long, value_name = "NAME", default_value = "mcp")]
    pub name: String,
    /// The recorder's URL [default: $RECORDER_URL]: the test's (`ctx.recorder_env()`),
    /// or `cargo recordings serve`'s.
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    /// The test id, for `cargo recordings serve` [default: $RECORDER_TEST_ID].
    #[arg(long, value_name = "ID")]
    pub test_id: Option<String>,
    /// The server's command and its arguments, after `--`.
    #[arg(required = true, last = true, value_name = "COMMAND")]
    pub command: Vec<OsString>,
}

/// `review`'s help epilogue: what accept and reject do, then the exit codes.
pub const REVIEW_HELP: &str = "Accept keeps a test's files as the re-record left them; reject writes HEAD's version of its changed and removed files back and deletes its new ones. A test's recordings and its _ids.json go together. Nothing is staged or committed: commit what you accepted with git.\n\nExit codes:\n  0  success (whether or not something differs)\n  1  a recording cannot be read\n  2  usage or I/O error, or a file could not be restored";

/// `review` options.
///
/// ```
/// use clap::Parser;
/// let cli = recorder_cli::Cli::parse_from(["cargo recordings", "review", "--reject", "chat::"]);
/// let recorder_cli::Command::Review(args) = cli.command else { unreachable!() };
/// assert_eq!(args.reject.as_deref(), Some("chat::"));
/// let cli = recorder_cli::Cli::parse_from(["cargo recordings", "review", "--accept", "--format", "json"]);
/// let recorder_cli::Command::Review(args) = cli.command else { unreachable!() };
/// assert_eq!((args.accept.as_deref(), args.format.as_deref()), (Some(""), Some("json")));
/// ```
#[derive(Debug, Args)]
pub struct ReviewArgs {
    /// Accept the tests whose id contains FILTER (every test without one), without asking.
    #[arg(long, value_name = "FILTER", num_args = 0..=1, default_missing_value = "", conflicts_with = "reject")]
    pub accept: Option<String>,
    /// Reject the tests whose id contains FILTER (every test without one), without
    /// asking: HEAD's files are written back, new ones deleted.
    #[arg(long, value_name = "FILTER", num_args = 0..=1, default_missing_value = "")]
    pub reject: Option<String>,
    /// Print as `text`, `markdown` (e.g. a CI summary; escaped) or `json`, and never ask.
    #[arg(long, value_name = "FORMAT", value_parser = ["text", "markdown", "json"])]
    pub format: Option<String>,
    /// The recordings folder.
    #[command(flatten)]
    pub dir: DirArgs,
}

/// `report` options.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The HTML file to write.
    #[arg(long, value_name = "FILE")]
    pub html: PathBuf,
    /// The recordings folder.
    #[command(flatten)]
    pub dir: DirArgs,
}

/// Where `review` asks its questions: the terminal, or a script in tests.
pub trait Console {
    /// Whether to ask: a person is at a terminal (stdin and stdout are terminals).
    fn interactive(&self) -> bool;
    /// Whether the output shows colours.
    fn colors(&self) -> bool;
    /// The next line typed, without its line ending; `None` at the end of input.
    fn read_line(&mut self) -> std::io::Result<Option<String>>;
}

/// The process's own terminal: stdin and stdout; colours unless `NO_COLOR` is set.
#[derive(Debug, Default)]
pub struct Terminal;

impl Console for Terminal {
    fn interactive(&self) -> bool {
        std::io::stdin().is_terminal() && std::io::stdout().is_terminal()
    }

    fn colors(&self) -> bool {
        self.interactive() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
    }

    fn read_line(&mut self) -> std::io::Result<Option<String>> {
        let mut line = String::new();
        if std::io::stdin().read_line(&mut line)? == 0 {
            return Ok(None);
        }
        Ok(Some(line.trim_end_matches(['\n', '\r']).to_owned()))
    }
}

/// `init` settings: the one setup `recorder.toml` gets.
///
/// ```
/// use clap::Parser;
/// let cli = recorder_cli::Cli::parse_from(["cargo recordings", "init", "--model", "text=a", "--model", "embedding=e"]);
/// let recorder_cli::Command::Init(args) = cli.command else { unreachable!() };
/// assert_eq!((args.setup.as_str(), args.base_url.as_str()), ("local", "http://127.0.0.1:8080/v1"));
/// assert_eq!(args.models.len(), 2);
/// ```
#[derive(Debug, Args)]
pub struct InitArgs {
    /// The OpenAI-compatible server the tests record from.
    #[arg(long, value_name = "URL", default_value = commands::init::DEFAULT_BASE_URL)]
    pub base_url: String,
    /// The setup's name.
    #[arg(long, value_name = "NAME", default_value = commands::init::DEFAULT_SETUP)]
    pub setup: String,
    /// A model of the setup, KIND=ID (repeatable; kinds: text, vision, embedding,
    /// rerank, safety, judge) [default: text=smollm2-135m]
    #[arg(long = "model", value_name = "KIND=ID", value_parser = parse_model)]
    pub models: Vec<(recorder_config::Kind, String)>,
    /// The variable holding the server's API key (e.g. OPENAI_API_KEY); a local
    /// server needs none.
    #[arg(long, value_name = "VAR")]
    pub api_key_env: Option<String>,
}

fn parse_model(s: &str) -> Result<(recorder_config::Kind, String), String> {
    let (kind, id) = s
        .split_once('=')
        .ok_or_else(|| format!("`{s}`: use KIND=ID, e.g. text=smollm2-135m"))?;
    let kind = kind.parse().map_err(|e| format!("`{s}`: {e}"))?;
    match id.trim() {
        "" => Err(format!(
            "`{s}`: the model id is empty; use KIND=ID, e.g. text=smollm2-135m"
        )),
        id => Ok((kind, id.to_owned())),
    }
}

/// `options` settings.
///
/// ```
/// use clap::Parser;
/// let cli = recorder_cli::Cli::parse_from(["cargo recordings", "options", "--setup", "gpt", "--format", "json"]);
/// let recorder_cli::Command::Options(args) = cli.command else { unreachable!() };
/// assert_eq!((args.setup.as_deref(), args.format.as_str()), (Some("gpt"), "json"));
/// ```
#[derive(Debug, Args)]
pub struct OptionsArgs {
    /// Resolve as under this setup [default: $RECORDER_SETUP, else default_setup]
    #[arg(long, value_name = "NAME")]
    pub setup: Option<String>,
    /// `text` (for people) or `json` (for scripts).
    #[arg(long, value_name = "FORMAT", default_value = "text", value_parser = ["text", "json"])]
    pub format: String,
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
    /// replay, record-if-missing, record, live or verify (call the real API, write
    /// nothing, report what differs from the recordings) [default: $RECORD_MODE, else replay]
    #[arg(long, value_name = "M")]
    pub mode: Option<String>,
    /// The port on 127.0.0.1 (0: any free port).
    #[arg(long, value_name = "P", default_value_t = 0)]
    pub port: u16,
    /// A setup of recorder.toml to take the upstream, key, auth and headers from
    /// (the options below override it).
    #[arg(long, value_name = "NAME")]
    pub setup: Option<String>,
    /// The real API's base URL (e.g. http://127.0.0.1:11434/v1), or NAME=URL: a named
    /// upstream (an MCP server, a tool API), served under /up/NAME/, where /up/NAME +
    /// rest goes to URL + rest (e.g. mcp=http://127.0.0.1:8931/mcp). Repeatable: one
    /// bare URL, any number of named ones. Needed unless replaying or --setup gives them.
    #[arg(long = "upstream", value_name = "[NAME=]URL", value_parser = parse_upstream)]
    pub upstreams: Vec<UpstreamArg>,
    /// The variable holding the API key sent upstream.
    #[arg(long, value_name = "VAR")]
    pub api_key_env: Option<String>,
    /// The variable holding named upstream NAME's key, NAME=VAR (repeatable), e.g.
    /// search=TAVILY_API_KEY; sent as a bearer token unless --upstream-auth says otherwise.
    #[arg(long = "upstream-key", value_name = "NAME=VAR", value_parser = parse_upstream_key)]
    pub upstream_keys: Vec<(String, String)>,
    /// How named upstream NAME's key is sent, NAME=HOW with HOW as for --auth
    /// (repeatable), e.g. search=header:x-api-key.
    #[arg(long = "upstream-auth", value_name = "NAME=HOW", value_parser = parse_upstream_auth)]
    pub upstream_auths: Vec<(String, recorder_runtime::engine::Auth)>,
    /// How the key is sent: `bearer` (the default), `header:<name>` (e.g.
    /// header:x-api-key) or `query:<name>` (e.g. query:key).
    #[arg(long, value_name = "HOW", value_parser = parse_auth)]
    pub auth: Option<recorder_runtime::engine::Auth>,
    /// A header added to every upstream request, `name=value` (repeatable), e.g.
    /// anthropic-version=2023-06-01.
    #[arg(long = "header", value_name = "NAME=VALUE", value_parser = parse_header)]
    pub headers: Vec<(String, String)>,
    /// A host name the server also answers to, besides 127.0.0.1, localhost and ::1
    /// (repeatable): requests naming any other Host are refused.
    #[arg(long = "allow-host", value_name = "NAME")]
    pub allow_hosts: Vec<String>,
    /// The most tests kept in memory at once; past it, the tests idle longest are
    /// finished and dropped.
    #[arg(long, value_name = "N", default_value_t = recorder_runtime::registry::MAX_SCOPES)]
    pub max_scopes: usize,
}

fn parse_auth(s: &str) -> Result<recorder_runtime::engine::Auth, String> {
    use recorder_runtime::engine::Auth;
    match s.split_once(':') {
        None if s.eq_ignore_ascii_case("bearer") => Ok(Auth::Bearer),
        Some(("header", name)) if recorder_config::is_header_name(name) => {
            Ok(Auth::Header(name.to_ascii_lowercase()))
        }
        Some(("query", name)) if !name.is_empty() => Ok(Auth::Query(name.to_owned())),
        _ => Err(format!(
            "`{s}`: use bearer, header:<name> (e.g. header:x-api-key) or query:<name> (e.g. query:key)"
        )),
    }
}

/// A `serve --upstream` value: the default upstream's base URL, or a named upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpstreamArg {
    /// `URL`: where every request outside `/up/` goes.
    Default(String),
    /// `NAME=URL`: where `/up/NAME/...` goes.
    Named(String, String),
}

fn parse_upstream(s: &str) -> Result<UpstreamArg, String> {
    let is_url = |u: &str| u.starts_with("http://") || u.starts_with("https://");
    match s.split_once('=') {
        Some((name, url)) if recorder_config::is_upstream_name(name) => {
            if is_url(url) {
                Ok(UpstreamArg::Named(name.to_owned(), url.to_owned()))
            } else {
                Err(format!(
                    "`{url}` is not an http:// or https:// URL, e.g. {name}=http://127.0.0.1:8931/mcp"
                ))
            }
        }
        _ if is_url(s) => Ok(UpstreamArg::Default(s.to_owned())),
        _ => Err(format!(
            "`{s}`: use a URL (http://... or https://...: the default upstream) or NAME=URL (a named upstream: letters, digits, - and _, e.g. mcp=http://127.0.0.1:8931/mcp)"
        )),
    }
}

/// `NAME=VALUE` with NAME an upstream name.
fn upstream_pair<'a>(s: &'a str, example: &str) -> Result<(String, &'a str), String> {
    match s.split_once('=') {
        Some((name, value)) if recorder_config::is_upstream_name(name) => {
            Ok((name.to_owned(), value))
        }
        _ => Err(format!(
            "`{s}`: use NAME=VALUE with NAME an upstream given by --upstream NAME=URL or the setup, e.g. {example}"
        )),
    }
}

fn parse_upstream_key(s: &str) -> Result<(String, String), String> {
    let (name, var) = upstream_pair(s, "search=TAVILY_API_KEY")?;
    if !recorder_config::is_env_name(var) {
        return Err(format!(
            "`{var}` is not a variable name (letters, digits and _): name the variable that holds the key, e.g. {name}=TAVILY_API_KEY, never the key itself"
        ));
    }
    Ok((name, var.to_owned()))
}

fn parse_upstream_auth(s: &str) -> Result<(String, recorder_runtime::engine::Auth), String> {
    let (name, how) = upstream_pair(s, "search=header:x-api-key")?;
    Ok((name, parse_auth(how)?))
}

fn parse_header(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((name, value)) if !name.trim().is_empty() => {
            http_header_ok(name.trim(), value)?;
            Ok((name.trim().to_ascii_lowercase(), value.to_owned()))
        }
        _ => Err(format!(
            "`{s}`: use name=value, e.g. anthropic-version=2023-06-01"
        )),
    }
}

fn http_header_ok(name: &str, value: &str) -> Result<(), String> {
    if !recorder_config::is_header_name(name) {
        return Err(format!("`{name}` is not a header name"));
    }
    if value.contains(['\r', '\n']) {
        return Err("a header value cannot hold a line break".into());
    }
    Ok(())
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
    cwd.join(recorder_runtime::context::recordings_dir(cwd))
}

/// Runs the command line `args` (program name first), writing to `out` and `err`;
/// returns the exit code. `review` asks on the process's terminal, if it has one.
pub fn run<I, T>(args: I, out: &mut dyn Write, err: &mut dyn Write) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    run_with(args, &mut Terminal, out, err)
}

/// [`run`], with `review`'s questions asked on `console`.
pub fn run_with<I, T>(
    args: I,
    console: &mut dyn Console,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> i32
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
    use commands::*;
    let result = match &cli.command {
        Command::List(args) => list::list(args, out, err),
        Command::Show(args) => list::show(args, out, err),
        Command::Normalize(args) => normalize::normalize(args, out, err),
        Command::Check(args) => check::check(args, out, err),
        Command::Migrate(args) => migrate::migrate(args, out, err),
        Command::Prune(args) => prune::prune(args, out, err),
        Command::Reindex(args) => reindex::reindex(args, out, err),
        Command::Import(ImportArgs {
            source: ImportSource::Ogx(args),
        }) => import::import_ogx(args, out, err),
        Command::Serve(args) => serve::serve(args, out, err),
        Command::Options(args) => options::options(args, out, err),
        Command::Review(args) => review::review(args, console, out, err),
        Command::Report(args) => report::report(args, out, err),
        Command::Init(args) => init::init(args, out, err),
        Command::McpStdio(args) => mcp_stdio::mcp_stdio(args, err),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            let _ = writeln!(err, "error: {e}");
            EXIT_ERROR
        }
    }
}

pub(crate) fn existing_dir(args: &DirArgs) -> anyhow::Result<PathBuf> {
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
pub(crate) fn progress(len: usize, what: &'static str) -> ProgressBar {
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

/// The store of recordings folder `dir`, reading files up to
/// `RECORDER_MAX_RECORDING_BYTES`, as the tests' engine does.
pub(crate) fn store_at(dir: impl Into<PathBuf>) -> Store {
    Store::new(dir).with_max_file_bytes(recorder_runtime::env::max_recording_bytes())
}

/// The index of `dir`, rebuilt when stale; reports files it skipped on `err`. (The
/// usage logs are folded in by `prune` alone, the one command that reads them.)
pub(crate) fn fresh_index(dir: &Path, err: &mut dyn Write) -> anyhow::Result<Index> {
    let index = Index::open(dir)?;
    index.ensure_fresh(&store_at(dir))?;
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

pub(crate) fn display_path(dir: &Path, path: &Path) -> String {
    path.strip_prefix(dir)
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| path.display().to_string())
}

/// The `cargo-recordings` binary: [`run`] on the process's arguments (with cargo's
/// `recordings` word dropped), standard output and error, as an exit code.
pub fn main() -> std::process::ExitCode {
    let code = run(
        cargo_args(std::env::args_os()),
        // Not locked for the whole run: `serve` reports problems from other threads.
        &mut std::io::stdout(),
        &mut std::io::stderr(),
    );
    std::process::ExitCode::from(code as u8)
}
