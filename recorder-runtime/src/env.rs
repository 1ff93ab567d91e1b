//! Every environment variable the runtime reads, in one place, each turned into a typed
//! setting, and [`VARIABLES`]: the one table of every variable the framework reads
//! (runtime, `recorder.toml` resolution, services), which `cargo recordings options`
//! prints and a test keeps complete.
//!
//! Each variable is looked up in three layers, highest first (see
//! [`recorder_config::EnvLayers`]): the process environment, then `RECORDER_ENV`
//! (`KEY=value,KEY2=value2`), then the `env = { ... }` of the setup in effect, and
//! falls back to its default. Nothing is written to the process environment.
//!
//! The setup in effect is the one [`recorder_config::choose_setup`] picks (the rule
//! is written there, once): the test's (pinned by `setup = "..."`, else
//! `RECORDER_SETUP`, else its suite's, else `default_setup`) for what is read on
//! behalf of a test: [`Vars`] from [`Target::vars`](crate::engine::Target::vars)
//! (mode, recordings folder, timing, body limits, API key, service choice and
//! ports). What is read for the whole process (the recording file size limit, the
//! run id, a body read before its test is known) uses [`Vars::process`]: the setup
//! `RECORDER_SETUP` names, else `default_setup` of the `recorder.toml` found from
//! `CARGO_MANIFEST_DIR` (else the current folder). `RECORDER_SETUP`, `RECORDER_SUITE`
//! and `RECORDER_ENV` itself never come from a setup.
//!
//! | variable | setting |
//! |---|---|
//! | `RECORD_MODE` | [`Vars::mode`]: `replay` (default), `record-if-missing`, `record`, `live` |
//! | `RECORDING_DIR` | [`Vars::recording_dir`]: the recordings folder |
//! | `RECORDER_KEEP_TIMING` | [`Vars::keep_timing`]: `1` stores each stream frame's delay |
//! | `RECORDER_REPLAY_TIMING` | [`Vars::replay_timing`]: `recorded` replays those delays |
//! | `RECORDER_MAX_RECORDING_BYTES` | [`Vars::max_recording_bytes`]: the largest recording file loaded |
//! | `RECORDER_MAX_BODY_BYTES` | [`Vars::max_body_bytes`]: the largest request or answer body recorded |
//! | `RECORDER_MAX_MULTIPART_PARTS` | [`Vars::max_multipart_parts`]: the most parts of a multipart request |
//! | `RECORDER_OPEN_STREAM_SECS` | [`Vars::open_stream_secs`]: how long an open-ended stream (MCP's GET) is recorded |
//! | `RECORDER_URL`, `RECORDER_TEST_ID` | read by `cargo recordings mcp-stdio` alone: the recorder to record a stdio session through, and the test id for `serve` (see [`crate::stdio`]) |
//! | `RECORDER_SETUP` | [`setup`]: the setup of `recorder.toml` to use |
//! | `RECORDER_SUITE` | [`suite`]: run only this suite's tests |
//! | `RECORDER_SERVICE` | [`Vars::service`]: the service under test to start or reuse |
//! | `RECORDER_RUN_ID` | [`Vars::run_id`]: one name for a whole run across test processes |
//! | `RECORDER_BUDGET_TOKENS` | [`Vars::budget_tokens`]: the tokens a run may spend upstream |
//! | `RECORDER_BUDGET_TOKENS_PER_TEST` | [`Vars::budget_tokens_per_test`]: the tokens one test may spend upstream |
//! | `RECORDER_ENV` | [`check`]: environment defaults, `KEY=value,...` |
//! | the setup's `api_key_env`, and its upstreams' | [`Vars::api_key`]: the real API key, added upstream |
//! | credentials in `RECORDER_ENV` or the setup's `env` | [`Vars::given`], [`crate::secrets::credentials_given`]: secrets of every test (see [`is_credential`]) |
//!
//! ```
//! assert_eq!(recorder_runtime::env::MODE, "RECORD_MODE");
//! assert!(recorder_runtime::env::VARIABLES.iter().any(|v| v.name == "RECORDER_ENV"));
//! ```

use crate::error::Result;
use crate::mode::Mode;
pub use recorder_config::ValueSource;
use recorder_config::{edit_distance, EnvLayers, ProcessEnv};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::OnceLock;

/// `RECORD_MODE`.
pub const MODE: &str = "RECORD_MODE";
/// `RECORDING_DIR`.
pub const RECORDING_DIR: &str = "RECORDING_DIR";
/// `RECORDER_KEEP_TIMING`.
pub const KEEP_TIMING: &str = "RECORDER_KEEP_TIMING";
/// `RECORDER_REPLAY_TIMING`.
pub const REPLAY_TIMING: &str = "RECORDER_REPLAY_TIMING";
/// `RECORDER_MAX_RECORDING_BYTES`.
pub const MAX_RECORDING_BYTES: &str = "RECORDER_MAX_RECORDING_BYTES";
/// `RECORDER_MAX_BODY_BYTES`.
pub const MAX_BODY_BYTES: &str = "RECORDER_MAX_BODY_BYTES";
/// `RECORDER_OPEN_STREAM_SECS`.
pub const OPEN_STREAM_SECS: &str = "RECORDER_OPEN_STREAM_SECS";
/// `RECORDER_URL`: the recorder `cargo recordings mcp-stdio` records through (see
/// [`crate::stdio`]).
pub const MCP_STDIO_URL: &str = "RECORDER_URL";
/// `RECORDER_TEST_ID`: the test id `cargo recordings mcp-stdio` sends to a recorder
/// that serves many tests (`cargo recordings serve`).
pub const MCP_STDIO_TEST_ID: &str = "RECORDER_TEST_ID";
/// `RECORDER_SETUP`.
pub const SETUP: &str = recorder_config::SETUP_ENV;
/// `RECORDER_SUITE`.
pub const SUITE: &str = recorder_config::SUITE_ENV;
/// `RECORDER_SERVICE`.
pub const SERVICE: &str = recorder_config::SERVICE_ENV;
/// `RECORDER_ENV`.
pub const ENV: &str = recorder_config::ENV_ENV;
/// `RECORDER_RUN_ID`.
pub const RUN_ID: &str = "RECORDER_RUN_ID";
/// `RECORDER_MAX_MULTIPART_PARTS`.
pub const MAX_MULTIPART_PARTS: &str = "RECORDER_MAX_MULTIPART_PARTS";
/// `RECORDER_BUDGET_TOKENS`.
pub const BUDGET_TOKENS: &str = "RECORDER_BUDGET_TOKENS";
/// `RECORDER_BUDGET_TOKENS_PER_TEST`.
pub const BUDGET_TOKENS_PER_TEST: &str = "RECORDER_BUDGET_TOKENS_PER_TEST";
/// `NEXTEST_RUN_ID`: cargo-nextest gives every test process of one run this id.
pub const NEXTEST_RUN_ID: &str = "NEXTEST_RUN_ID";

/// The default of [`max_recording_bytes`]: 256 MiB, what a
/// [`Store`](crate::store::Store) reads unless told otherwise.
pub const DEFAULT_MAX_RECORDING_BYTES: u64 = crate::store::DEFAULT_MAX_FILE_BYTES;
/// The default of [`Vars::max_body_bytes`]: 64 MiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 64 << 20;
/// The default of [`Vars::max_multipart_parts`]: no upload API takes more than a few
/// dozen parts, and each costs time to parse.
pub const DEFAULT_MAX_MULTIPART_PARTS: usize = 1000;

/// Words that make a variable name a credential's, as whole `_`-separated parts of it
/// (any case): `HF_TOKEN`, `OPENAI_API_KEY`, `AWS_SECRET_ACCESS_KEY`, `DB_PASSWORD`,
/// `GITHUB_PAT`, but not `MAX_TOKENS` or `TOKENIZER_PATH`.
pub const CREDENTIAL_WORDS: &[&str] = &[
    "KEY",
    "APIKEY",
    "TOKEN",
    "SECRET",
    "PASSWORD",
    "PASSWD",
    "PWD",
    "CREDENTIAL",
    "CREDENTIALS",
    "AUTH",
    "PAT",
];

/// Whether a variable's name says it holds a credential (see [`CREDENTIAL_WORDS`]).
/// `cargo recordings options` shows such a value only as set, and a value that
/// `RECORDER_ENV` or a setup's `env` gives one is a secret of every test
/// ([`crate::secrets::credentials_given`]).
///
/// ```
/// use recorder_runtime::env::is_credential;
/// assert!(is_credential("HF_TOKEN") && is_credential("aws_secret_access_key"));
/// assert!(!is_credential("RECORDER_MAX_TOKENS") && !is_credential("OLLAMA_URL"));
/// ```
pub fn is_credential(name: &str) -> bool {
    name.split(['_', '-']).any(|part| {
        CREDENTIAL_WORDS
            .iter()
            .any(|w| w.eq_ignore_ascii_case(part))
    })
}

/// The default of [`Vars::open_stream_secs`]: 30 seconds.
pub const DEFAULT_OPEN_STREAM_SECS: u64 = 30;

/// One variable the framework reads: a row of [`VARIABLES`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Variable {
    /// Its name; `<NAME>` stands for a service's name in upper case
    /// (`RECORDER_SERVICE_<NAME>_PORT`).
    pub name: &'static str,
    /// What it does, on one line.
    pub description: &'static str,
    /// Its value when set nowhere, as `cargo recordings options` shows it; `None`
    /// when unset means "nothing" (or the value depends on `recorder.toml`).
    pub default: Option<&'static str>,
}

const fn row(
    name: &'static str,
    description: &'static str,
    default: Option<&'static str>,
) -> Variable {
    Variable {
        name,
        description,
        default,
    }
}

/// Every `RECORD_*`, `RECORDING_*` and `RECORDER_*` variable the framework reads
/// (the runtime, `recorder.toml` resolution in the macro, services, `cargo
/// recordings`), with a one-line description and default. Besides these, a setup's
/// `api_key_env` names the variable holding its API key, and each of its upstreams'
/// the variable holding that upstream's.
///
/// The one list: `cargo recordings options` prints it, the README's "Options" section
/// documents it, and tests check that every such name in the sources and the README
/// is here.
///
/// ```
/// use recorder_runtime::env::VARIABLES;
/// let mode = VARIABLES.iter().find(|v| v.name == "RECORD_MODE").unwrap();
/// assert_eq!(mode.default, Some("replay"));
/// ```
pub const VARIABLES: &[Variable] = &[
    row(MODE, "replay, record-if-missing, record, live or verify", Some("replay")),
    row(RECORDING_DIR, "the recordings folder", Some("recordings/ next to recorder.toml, else at the workspace root")),
    row(recorder_config::SETUP_ENV, "the setup of recorder.toml to use (beats the suite's setup and default_setup)", None),
    row(recorder_config::SUITE_ENV, "run only this suite's tests; the others are ignored, with the reason", None),
    row(ENV, "environment defaults for one run, KEY=value,KEY2=value2: above the setup's env, below real variables", None),
    row("RECORDER_TEXT_MODELS", "text models, a,b (one test per model); overrides the setup's", None),
    row("RECORDER_VISION_MODELS", "vision models, a,b; overrides the setup's", None),
    row("RECORDER_EMBEDDING_MODELS", "embedding models, a,b; overrides the setup's", None),
    row("RECORDER_RERANK_MODELS", "rerank models, a,b; overrides the setup's", None),
    row("RECORDER_SAFETY_MODELS", "safety models, a,b; overrides the setup's", None),
    row("RECORDER_JUDGE_MODELS", "judge models, a,b; overrides the setup's", None),
    row(recorder_config::EMBEDDING_DIMENSION_ENV, "the embedding_dimension tests get; overrides the setup's", Some("768")),
    row(KEEP_TIMING, "1: store each stream frame's delay when recording", None),
    row(REPLAY_TIMING, "recorded: replay streams with their recorded delays", None),
    row(MAX_RECORDING_BYTES, "the largest recording file loaded, in bytes", Some("268435456")),
    row(MAX_BODY_BYTES, "the largest request or answer body recorded, in bytes", Some("67108864")),
    row(MAX_MULTIPART_PARTS, "the most parts a multipart/form-data request (a file upload) may have", Some("1000")),
    row(RUN_ID, "one name for a whole run across test processes (usage log, prune, the run's token budget)", Some("one per test process")),
    row(BUDGET_TOKENS, "the tokens a run may spend upstream (record, record-if-missing, live, verify); past it upstream calls fail", None),
    row(BUDGET_TOKENS_PER_TEST, "the tokens one test may spend upstream; past it its upstream calls fail", None),
    row(OPEN_STREAM_SECS, "the longest an open-ended stream (an MCP session's GET) is recorded, in seconds; then it is saved and ends", Some("30")),
    row(MCP_STDIO_URL, "the recorder cargo recordings mcp-stdio records through (a test gives it with ctx.recorder_env())", None),
    row(MCP_STDIO_TEST_ID, "the test id cargo recordings mcp-stdio sends to cargo recordings serve", None),
    row(SERVICE, "the [services.<name>] a Service parameter gets when there are several", None),
    row(recorder_config::SERVICE_URL_ENV, "use the service already running at this URL (the RECORDER_SERVICE one, or the only one)", None),
    row(recorder_config::SERVICE_PORT_ENV, "start or reuse the service on this port (the RECORDER_SERVICE one, or the only one)", None),
    row(recorder_config::SERVICE_NAMED_URL_ENV, "use service <name>'s instance running at this URL; nothing is started", None),
    row(recorder_config::SERVICE_NAMED_PORT_ENV, "start or reuse service <name> on this port", None),
];

/// The environment as the recorder sees it under one setup: the process
/// environment, over `RECORDER_ENV`, over the setup's `env`.
///
/// ```
/// use std::collections::BTreeMap;
/// use recorder_runtime::env::Vars;
/// let env = BTreeMap::from([("RECORDER_KEEP_TIMING".to_string(), "1".to_string())]);
/// let vars = Vars::for_setup(Some("local"), &env);
/// // Unless the process (or RECORDER_ENV) sets it otherwise:
/// if std::env::var_os("RECORDER_KEEP_TIMING").is_none() && std::env::var_os("RECORDER_ENV").is_none() {
///     assert!(vars.keep_timing());
/// }
/// ```
#[derive(Debug, Clone, Default)]
pub struct Vars {
    layers: EnvLayers,
}

/// `RECORDER_ENV`'s layer; empty when it is malformed (then [`check`] reports it, and
/// every recorded test fails with that message when it is set up).
fn base_layers() -> EnvLayers {
    EnvLayers::from_process(&ProcessEnv).unwrap_or_default()
}

/// `RECORDER_ENV` is well formed (or unset); else the error naming the bad entry.
pub fn check() -> Result<()> {
    let layers = EnvLayers::from_process(&ProcessEnv)?;
    // The environment does not change while tests run: scanned once.
    static PROCESS: OnceLock<Option<(String, &'static str)>> = OnceLock::new();
    let in_process = PROCESS.get_or_init(|| {
        // Blank counts as unset, as everywhere the recorder reads a variable.
        let names: Vec<String> = std::env::vars_os()
            .filter(|(_, value)| !value.is_empty())
            .filter_map(|(name, _)| name.into_string().ok())
            .collect();
        misspelled(names.iter().map(String::as_str)).map(|(var, like)| (var.to_owned(), like))
    });
    let found = match in_process {
        Some((var, like)) => Some((var.clone(), "the environment", *like)),
        None => misspelled(layers.recorder_env().keys().map(String::as_str))
            .map(|(var, like)| (var.to_owned(), ENV, like)),
    };
    match found {
        Some((var, place, like)) => Err(crate::Error::Setup(
            crate::error::SetupProblem::MisspelledVariable { var, place, like },
        )),
        None => Ok(()),
    }
}

/// The first of `names` (in sorted order) that looks like one of [`VARIABLES`]
/// without being one, with the variable it resembles: the same but for case
/// (`record_mode`), or two edits away (`RECORDER_TEXT_MODEL`, `RECORD_MDOE`). Names
/// far from every variable are left alone, whatever their prefix (a user's own
/// `RECORDER_OPENAI_KEY`), and so are the per-service variables
/// (`RECORDER_SERVICE_<NAME>_URL`, `..._PORT`).
///
/// ```
/// use recorder_runtime::env::misspelled;
/// assert_eq!(misspelled(["PATH", "RECORDER_TEXT_MODEL"]), Some(("RECORDER_TEXT_MODEL", "RECORDER_TEXT_MODELS")));
/// assert_eq!(misspelled(["record_mode"]), Some(("record_mode", "RECORD_MODE")));
/// assert_eq!(misspelled(["RECORD_MODE", "RECORDER_SERVICE_API_URL", "RECORDER_OPENAI_KEY"]), None);
/// ```
pub fn misspelled<'a>(names: impl IntoIterator<Item = &'a str>) -> Option<(&'a str, &'static str)> {
    let mut names: Vec<&str> = names.into_iter().collect();
    names.sort_unstable();
    let known: Vec<&'static str> = VARIABLES
        .iter()
        .map(|v| v.name)
        .filter(|name| !name.contains('<'))
        .collect();
    names.into_iter().find_map(|name| {
        let upper = name.to_ascii_uppercase();
        // A cheap first look: the names of ours all start with RECORD.
        if edit_distance(upper.get(..6)?, "RECORD") > 2
            || known.contains(&name)
            || is_service_variable(name)
        {
            return None;
        }
        recorder_config::closest(&upper, &known).map(|like| (name, like))
    })
}

/// `RECORDER_SERVICE_<NAME>_URL` or `..._PORT` for some service name.
fn is_service_variable(name: &str) -> bool {
    [
        recorder_config::SERVICE_NAMED_URL_ENV,
        recorder_config::SERVICE_NAMED_PORT_ENV,
    ]
    .iter()
    .filter_map(|template| template.split_once("<NAME>"))
    .any(|(before, after)| {
        name.strip_prefix(before)
            .and_then(|rest| rest.strip_suffix(after))
            .is_some_and(|service| {
                !service.is_empty()
                    && service
                        .bytes()
                        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
            })
    })
}

impl Vars {
    /// Under the setup called `setup` (for messages) whose `env` is `env`.
    pub fn for_setup(setup: Option<&str>, env: &BTreeMap<String, String>) -> Vars {
        let layers = base_layers();
        Vars {
            layers: match setup {
                Some(name) => layers.with_setup(name, env),
                None if env.is_empty() => layers,
                None => layers.with_setup("(unnamed)", env),
            },
        }
    }

    /// Under no setup: the process environment over `RECORDER_ENV`.
    pub fn without_setup() -> Vars {
        Vars {
            layers: base_layers(),
        }
    }

    /// Under the process's setup: the setup [`recorder_config::choose_setup`] picks
    /// with no test in view (`RECORDER_SETUP`, else `default_setup` of the
    /// `recorder.toml` found from `CARGO_MANIFEST_DIR`, else the current folder); no
    /// setup when it names none or an unknown one. Decided once per process.
    pub fn process() -> &'static Vars {
        static PROCESS: OnceLock<Vars> = OnceLock::new();
        PROCESS.get_or_init(|| {
            let start = std::env::var_os("CARGO_MANIFEST_DIR")
                .map(PathBuf::from)
                .or_else(|| std::env::current_dir().ok());
            let config = start.and_then(|s| crate::config_cache::config_for(&s).ok().flatten());
            match recorder_config::choose_setup(config.as_deref(), None, None, &ProcessEnv) {
                Ok(Some(choice)) => Vars::for_setup(Some(&choice.setup.name), &choice.setup.env),
                _ => Vars::without_setup(),
            }
        })
    }

    /// The layers these variables are read from.
    pub fn layers(&self) -> &EnvLayers {
        &self.layers
    }

    /// A variable's value and where it came from; `None` when unset (or blank) in
    /// every layer.
    pub fn lookup(&self, name: &str) -> Option<(String, ValueSource)> {
        self.layers.lookup(&ProcessEnv, name)
    }

    /// A variable's value, `None` when unset, blank or not UTF-8 in every layer.
    pub fn var(&self, name: &str) -> Option<String> {
        self.lookup(name).map(|(value, _)| value)
    }

    /// What a program the recorder starts gets added to its inherited environment:
    /// the `RECORDER_ENV` and setup `env` entries no real variable overrides.
    pub fn defaults_for_child(&self) -> BTreeMap<String, String> {
        self.layers.defaults_for_child(&ProcessEnv)
    }

    /// `RECORD_MODE`; unset or empty means [`Mode::Replay`], anything else not a mode
    /// is an error naming the five.
    pub fn mode(&self) -> Result<Mode> {
        match self.var(MODE) {
            Some(v) => v.parse(),
            None => Ok(Mode::Replay),
        }
    }

    /// `RECORDING_DIR`, when set (a real variable may be any path, not only UTF-8).
    pub fn recording_dir(&self) -> Option<PathBuf> {
        if let Some(dir) = std::env::var_os(RECORDING_DIR).filter(|d| !d.is_empty()) {
            return Some(PathBuf::from(dir));
        }
        self.var(RECORDING_DIR).map(PathBuf::from)
    }

    /// `RECORDER_SERVICE`, when set.
    pub fn service(&self) -> Option<String> {
        self.var(SERVICE).map(|s| s.trim().to_owned())
    }

    /// `RECORDER_RUN_ID`, when set.
    pub fn run_id(&self) -> Option<String> {
        self.var(RUN_ID)
    }

    /// `RECORDER_BUDGET_TOKENS`: the tokens a run may spend upstream, when set; an
    /// error naming the variable when it is not a whole number.
    pub fn budget_tokens(&self) -> Result<Option<u64>> {
        self.tokens(BUDGET_TOKENS)
    }

    /// `RECORDER_BUDGET_TOKENS_PER_TEST`: the tokens one test may spend upstream, when
    /// set; an error naming the variable when it is not a whole number.
    pub fn budget_tokens_per_test(&self) -> Result<Option<u64>> {
        self.tokens(BUDGET_TOKENS_PER_TEST)
    }

    fn tokens(&self, name: &str) -> Result<Option<u64>> {
        let Some(value) = self.var(name) else {
            return Ok(None);
        };
        value
            .trim()
            .replace('_', "")
            .parse()
            .map(Some)
            .map_err(|_| {
                crate::Error::Setup(crate::error::SetupProblem::NotTokens {
                    var: name.to_owned(),
                    value: value.clone(),
                })
            })
    }

    /// The real API key in the variable a setup names (`api_key_env`), when it is set.
    pub fn api_key(&self, variable: &str) -> Option<String> {
        self.var(variable)
    }

    /// `RECORDER_KEEP_TIMING=1` (or `true`): store each frame's delay when recording.
    pub fn keep_timing(&self) -> bool {
        self.var(KEEP_TIMING)
            .is_some_and(|v| v == "1" || v.eq_ignore_ascii_case("true"))
    }

    /// `RECORDER_REPLAY_TIMING=recorded`: replay streams with their recorded delays.
    pub fn replay_timing(&self) -> bool {
        self.var(REPLAY_TIMING)
            .is_some_and(|v| v.eq_ignore_ascii_case("recorded"))
    }

    /// `RECORDER_MAX_RECORDING_BYTES` (bytes), else [`DEFAULT_MAX_RECORDING_BYTES`]: a
    /// recording file bigger than this is reported, not loaded.
    pub fn max_recording_bytes(&self) -> u64 {
        self.var(MAX_RECORDING_BYTES)
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(DEFAULT_MAX_RECORDING_BYTES)
    }

    /// `RECORDER_MAX_BODY_BYTES` (bytes), else [`DEFAULT_MAX_BODY_BYTES`]: a request
    /// body, or an answer (decoded), bigger than this is refused with a clear error
    /// and never recorded.
    pub fn max_body_bytes(&self) -> usize {
        self.var(MAX_BODY_BYTES)
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(DEFAULT_MAX_BODY_BYTES)
    }

    /// `RECORDER_MAX_MULTIPART_PARTS`, else [`DEFAULT_MAX_MULTIPART_PARTS`]: a
    /// `multipart/form-data` request with more parts is refused (413).
    pub fn max_multipart_parts(&self) -> usize {
        self.var(MAX_MULTIPART_PARTS)
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(DEFAULT_MAX_MULTIPART_PARTS)
    }

    /// The variables `RECORDER_ENV` and the setup's `env` give, by name, with their
    /// values as the tests see them (a real variable of the same name wins).
    ///
    /// ```
    /// use std::collections::BTreeMap;
    /// use recorder_runtime::env::Vars;
    /// let env = BTreeMap::from([("DOC_GIVEN_URL".to_string(), "http://gpu:11434".to_string())]);
    /// let given = Vars::for_setup(Some("doc"), &env).given();
    /// assert!(given.contains(&("DOC_GIVEN_URL".into(), "http://gpu:11434".into())));
    /// ```
    pub fn given(&self) -> Vec<(String, String)> {
        let mut names: Vec<&String> = self.layers.recorder_env().keys().collect();
        if let Some((_, env)) = self.layers.setup() {
            names.extend(env.keys());
        }
        names.sort();
        names.dedup();
        names
            .into_iter()
            .filter_map(|name| Some((name.clone(), self.var(name)?)))
            .collect()
    }

    /// `RECORDER_OPEN_STREAM_SECS` (seconds), else [`DEFAULT_OPEN_STREAM_SECS`]: how
    /// long an open-ended stream is recorded at most (see [`crate::mcp`]: a session's
    /// GET stream is saved when the server ends it, the client leaves, the session's
    /// `DELETE` comes, or this much time has passed, whichever is first).
    ///
    /// ```
    /// use std::collections::BTreeMap;
    /// use recorder_runtime::env::Vars;
    /// let env = BTreeMap::from([("RECORDER_OPEN_STREAM_SECS".to_string(), "2".to_string())]);
    /// if std::env::var_os("RECORDER_OPEN_STREAM_SECS").is_none() && std::env::var_os("RECORDER_ENV").is_none() {
    ///     assert_eq!(Vars::for_setup(Some("mcp"), &env).open_stream_secs(), std::time::Duration::from_secs(2));
    /// }
    /// ```
    pub fn open_stream_secs(&self) -> std::time::Duration {
        let secs = self
            .var(OPEN_STREAM_SECS)
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s >= 0.0)
            .unwrap_or(DEFAULT_OPEN_STREAM_SECS as f64);
        std::time::Duration::from_secs_f64(secs.min(86_400.0))
    }
}

/// `RECORDER_SETUP`, when set (in the environment or `RECORDER_ENV`; never from a
/// setup).
pub fn setup() -> Option<String> {
    Vars::without_setup()
        .var(SETUP)
        .map(|s| s.trim().to_owned())
}

/// `RECORDER_SUITE`, when set (in the environment or `RECORDER_ENV`; never from a
/// setup).
pub fn suite() -> Option<String> {
    Vars::without_setup()
        .var(SUITE)
        .map(|s| s.trim().to_owned())
}

/// `NEXTEST_RUN_ID`, when this process is a test of a `cargo nextest run`.
pub fn nextest_run_id() -> Option<String> {
    std::env::var(NEXTEST_RUN_ID)
        .ok()
        .filter(|v| !v.trim().is_empty())
}

/// `RECORDER_RUN_ID` under the process's setup, when set.
pub fn run_id() -> Option<String> {
    Vars::process().run_id()
}

/// `RECORDER_MAX_RECORDING_BYTES` under the process's setup (see
/// [`Vars::max_recording_bytes`]).
pub fn max_recording_bytes() -> u64 {
    Vars::process().max_recording_bytes()
}

#[cfg(test)]
mod tests {
    use super::misspelled;

    #[test]
    fn names_one_or_two_edits_from_a_variable_are_misspellings_of_it() {
        for (name, like) in [
            ("RECORDER_TEXT_MODEL", "RECORDER_TEXT_MODELS"),
            ("record_mode", "RECORD_MODE"),
            ("Record_Mode", "RECORD_MODE"),
            ("RECORD_MDOE", "RECORD_MODE"),
            ("RECORDING_DIRS", "RECORDING_DIR"),
            ("RECORDER_MAX_BODY_BYTE", "RECORDER_MAX_BODY_BYTES"),
            ("RECORDER_SETUPS", "RECORDER_SETUP"),
            ("RECODER_SUITE", "RECORDER_SUITE"),
        ] {
            assert_eq!(misspelled([name]), Some((name, like)), "{name}");
        }
    }

    #[test]
    fn the_recorders_own_names_and_names_far_from_them_pass() {
        assert_eq!(
            misspelled([
                "RECORD_MODE",
                "RECORDER_TEXT_MODELS",
                "RECORDER_SERVICE_URL",
                "RECORDER_SERVICE_API_URL",
                "RECORDER_SERVICE_MY_APP2_PORT",
                "RECORDER_OPENAI_KEY",
                "RECORDS",
                "REC",
                "RERECORD_MODE",
                "RERECORD_SETUP",
                "RERECORD_SUITE",
                "PATH",
                "CARGO_MANIFEST_DIR",
                "ÉRECORD_MODE",
            ]),
            None
        );
    }

    #[test]
    fn the_first_misspelling_in_name_order_is_the_one_reported() {
        assert_eq!(
            misspelled(["RECORDING_DIRS", "RECORD_MDOE"]),
            Some(("RECORDING_DIRS", "RECORDING_DIR"))
        );
    }
}
