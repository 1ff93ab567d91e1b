//! `recorder.toml`: named setups, the models they provide, suites and services
//! for recorded tests, and how the environment overrides them.
//!
//! The `#[recorded_test]` macro reads this at compile time to decide which tests to
//! generate (one per model combination); the runtime reads it again when the tests
//! run. Both go through [`Config::discover`] and [`resolve`].
//!
//! ```
//! use std::path::Path;
//! use recorder_config::{resolve, Config, Kind};
//!
//! let config = Config::parse(
//!     r#"
//!     default_setup = "local"
//!     [setups.local]
//!     base_url = "http://127.0.0.1:8080/v1"
//!     models = { text = ["smollm2-135m"], embedding = ["e5-small"] }
//!     embedding_dimension = 384
//!     "#,
//!     Path::new("/project/recorder.toml"),
//! )?;
//!
//! // RECORDER_TEXT_MODELS wins over the setup; the rest comes from `local`.
//! let env = |name: &str| (name == "RECORDER_TEXT_MODELS").then(|| "a, b".to_string());
//! let resolved = resolve(Some(&config), None, "my_crate::chat", &env)?;
//! assert_eq!(resolved.setup.as_deref(), Some("local"));
//! assert_eq!(resolved.models_for(Kind::Text), ["a", "b"]);
//! assert_eq!(resolved.models_for(Kind::Embedding), ["e5-small"]);
//! assert_eq!(resolved.embedding_dimension, 384);
//! # Ok::<(), recorder_config::ConfigError>(())
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::Deserialize;

mod env;
mod locate;
mod services;
mod suites;
mod tolerance;

pub use env::{is_env_name, parse_recorder_env, EnvLayers, Layered, Source, ENV_ENV};
use locate::{line_of, Seg};
pub use services::{
    ServiceEndpoint, SERVICE_ENV, SERVICE_NAMED_PORT_ENV, SERVICE_NAMED_URL_ENV, SERVICE_PORT_ENV,
    SERVICE_URL_ENV,
};
pub use suites::Suite;
pub use tolerance::Tolerance;

/// The name of the configuration file, looked up from a crate's manifest folder upward.
///
/// ```
/// assert_eq!(recorder_config::FILE_NAME, "recorder.toml");
/// ```
pub const FILE_NAME: &str = "recorder.toml";

/// `RECORDER_SETUP`: picks a setup by name.
pub const SETUP_ENV: &str = "RECORDER_SETUP";
/// `RECORDER_SUITE`: restricts a run to one suite.
pub const SUITE_ENV: &str = "RECORDER_SUITE";
/// `RECORDER_EMBEDDING_DIMENSION`: overrides the embedding dimension.
pub const EMBEDDING_DIMENSION_ENV: &str = "RECORDER_EMBEDDING_DIMENSION";

/// The embedding dimension of a test when neither `RECORDER_EMBEDDING_DIMENSION` nor
/// its setup gives one: 768, the default of OGX's test suite (`--embedding-dimension`)
/// and the size of the common base models (nomic-embed-text, e5-base, all-mpnet-base).
///
/// ```
/// # use std::path::Path;
/// let config = recorder_config::Config::parse("[setups.a]", Path::new("recorder.toml"))?;
/// let resolved = recorder_config::resolve(Some(&config), Some("a"), "", &|_: &str| None)?;
/// assert_eq!(resolved.embedding_dimension, recorder_config::DEFAULT_EMBEDDING_DIMENSION);
/// assert_eq!(recorder_config::DEFAULT_EMBEDDING_DIMENSION, 768);
/// # Ok::<(), recorder_config::ConfigError>(())
/// ```
pub const DEFAULT_EMBEDDING_DIMENSION: usize = 768;

/// Every environment variable [`resolve`] reads. The macro makes rustc track each of
/// them so that changing one rebuilds the tests. (A setup's `env` lives in
/// `recorder.toml`, which the macro tracks as a file.)
///
/// ```
/// assert!(recorder_config::TRACKED_ENV.contains(&"RECORDER_TEXT_MODELS"));
/// assert!(recorder_config::TRACKED_ENV.contains(&"RECORDER_ENV"));
/// assert_eq!(recorder_config::TRACKED_ENV.len(), 10);
/// ```
pub const TRACKED_ENV: &[&str] = &[
    ENV_ENV,
    SETUP_ENV,
    SUITE_ENV,
    "RECORDER_TEXT_MODELS",
    "RECORDER_VISION_MODELS",
    "RECORDER_EMBEDDING_MODELS",
    "RECORDER_RERANK_MODELS",
    "RECORDER_SAFETY_MODELS",
    "RECORDER_JUDGE_MODELS",
    EMBEDDING_DIMENSION_ENV,
];

// ---------------------------------------------------------------------------
// Kind

/// A kind of model a test can ask for.
///
/// ```
/// use recorder_config::Kind;
///
/// let kind: Kind = "embedding".parse().unwrap();
/// assert_eq!(kind, Kind::Embedding);
/// assert_eq!(kind.as_str(), "embedding");
/// assert_eq!(kind.env_var(), "RECORDER_EMBEDDING_MODELS");
/// assert!("txt".parse::<Kind>().unwrap_err().to_string().contains("text, vision"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// Chat and completion models.
    Text,
    /// Models that take images.
    Vision,
    /// Embedding models.
    Embedding,
    /// Rerankers.
    Rerank,
    /// Safety (moderation, guard) models.
    Safety,
    /// Models used to grade other models' answers.
    Judge,
}

impl Kind {
    /// Every kind, in declaration (and sort) order.
    pub const ALL: [Kind; 6] = [
        Kind::Text,
        Kind::Vision,
        Kind::Embedding,
        Kind::Rerank,
        Kind::Safety,
        Kind::Judge,
    ];

    /// The lowercase name used in `recorder.toml`, in `models = "..."` and in test names.
    pub const fn as_str(self) -> &'static str {
        match self {
            Kind::Text => "text",
            Kind::Vision => "vision",
            Kind::Embedding => "embedding",
            Kind::Rerank => "rerank",
            Kind::Safety => "safety",
            Kind::Judge => "judge",
        }
    }

    /// The variable that overrides this kind's models, e.g. `RECORDER_TEXT_MODELS`.
    pub const fn env_var(self) -> &'static str {
        match self {
            Kind::Text => "RECORDER_TEXT_MODELS",
            Kind::Vision => "RECORDER_VISION_MODELS",
            Kind::Embedding => "RECORDER_EMBEDDING_MODELS",
            Kind::Rerank => "RECORDER_RERANK_MODELS",
            Kind::Safety => "RECORDER_SAFETY_MODELS",
            Kind::Judge => "RECORDER_JUDGE_MODELS",
        }
    }

    /// The valid names, comma separated, for error messages.
    pub fn valid_names() -> String {
        Kind::ALL.map(Kind::as_str).join(", ")
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of parsing a [`Kind`]: the name is not one of the six kinds.
///
/// ```
/// let err = "chat".parse::<recorder_config::Kind>().unwrap_err();
/// assert_eq!(err.name, "chat");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown model kind `{name}`; valid kinds: text, vision, embedding, rerank, safety, judge")]
pub struct ParseKindError {
    /// What was given.
    pub name: String,
}

impl FromStr for Kind {
    type Err = ParseKindError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let trimmed = s.trim();
        Kind::ALL
            .into_iter()
            .find(|kind| kind.as_str().eq_ignore_ascii_case(trimmed))
            .ok_or_else(|| ParseKindError {
                name: trimmed.to_string(),
            })
    }
}

impl<'de> Deserialize<'de> for Kind {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KindVisitor;
        impl Visitor<'_> for KindVisitor {
            type Value = Kind;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "a model kind ({})", Kind::valid_names())
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Kind, E> {
                v.parse().map_err(E::custom)
            }
        }
        deserializer.deserialize_str(KindVisitor)
    }
}

// ---------------------------------------------------------------------------
// Setups, suites, services

/// What `api_style = "..."` in a setup now gets: an error saying it was removed.
///
/// `api_style` was parsed but never used, and there is nothing for it to decide: the
/// recorder forwards each request to the endpoint the test called (`/v1/...` for the
/// OpenAI-style API, `/api/...` for Ollama's native one) under the setup's
/// `base_url` (a base URL ending in `/v1` serves both, see the runtime's
/// `Target::upstream_url`), and the test picks the client and endpoints it calls. A
/// style that selected nothing would only mislead, so the key is refused with this
/// message instead of silently accepted.
///
/// ```
/// # use std::path::Path;
/// let err = recorder_config::Config::parse("[setups.o]\napi_style = \"ollama\"", Path::new("recorder.toml"))
///     .unwrap_err()
///     .to_string();
/// assert!(err.contains("api_style was removed"), "{err}");
/// ```
pub const API_STYLE_REMOVED: &str = "api_style was removed: the recorder forwards each request to the endpoint the test calls (/v1/... OpenAI-style, /api/... Ollama's native API) under the setup's base_url, so a setup has no style to choose; delete this line (for Ollama, base_url = \"http://127.0.0.1:11434/v1\" serves both)";

/// A key that was removed from `recorder.toml`: accepted by the parser only so that
/// validation can say what to do instead (see [`API_STYLE_REMOVED`]).
#[doc(hidden)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct RemovedKey;

impl<'de> Deserialize<'de> for RemovedKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        de::IgnoredAny::deserialize(deserializer).map(|_| RemovedKey)
    }
}

/// A named way to reach real models: `[setups.<name>]`.
///
/// ```
/// # use std::path::Path;
/// let config = recorder_config::Config::parse(
///     r#"
///     [setups.gpt]
///     base_url = "https://api.openai.com/v1"
///     api_key_env = "OPENAI_API_KEY"
///     models = { text = ["gpt-4o-mini"], embedding = "text-embedding-3-small" }
///     ignore_fields = ["user"]
///     "#,
///     Path::new("recorder.toml"),
/// )?;
/// let gpt = config.setup("gpt")?;
/// assert_eq!(gpt.name, "gpt");
/// assert_eq!(gpt.api_key_env.as_deref(), Some("OPENAI_API_KEY"));
/// assert_eq!(gpt.models[&recorder_config::Kind::Embedding], ["text-embedding-3-small"]);
/// # Ok::<(), recorder_config::ConfigError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Setup {
    /// The setup's name: its key under `[setups]`.
    #[serde(skip)]
    pub name: String,
    /// Where requests go in record modes, e.g. `http://127.0.0.1:8080/v1`.
    #[serde(default)]
    pub base_url: Option<String>,
    /// Present when the file still has the removed `api_style` key: validation
    /// refuses it with [`API_STYLE_REMOVED`]. Always `None` in a parsed config.
    #[doc(hidden)]
    #[serde(default, rename = "api_style")]
    pub removed_api_style: Option<RemovedKey>,
    /// The name of the variable holding the real API key, e.g. `OPENAI_API_KEY`.
    #[serde(default)]
    pub api_key_env: Option<String>,
    /// Endpoint prefix -> base URL, for servers that serve one endpoint elsewhere,
    /// e.g. `"/v1/embeddings" = "http://127.0.0.1:8091/v1"`.
    #[serde(default)]
    pub routes: BTreeMap<String, String>,
    /// The models of each kind this setup provides, e.g. `{ text = ["gpt-4o-mini"] }`.
    #[serde(default, deserialize_with = "deserialize_models")]
    pub models: BTreeMap<Kind, Vec<String>>,
    /// The dimension of this setup's embeddings; tests get
    /// [`DEFAULT_EMBEDDING_DIMENSION`] when no setup or variable gives one.
    #[serde(default)]
    pub embedding_dimension: Option<usize>,
    /// Body fields left out of request identity, as dotted paths: `user`, `metadata.trace_id`.
    #[serde(default)]
    pub ignore_fields: Vec<String>,
    /// What this setup is, for people listing setups.
    #[serde(default)]
    pub description: Option<String>,
    /// How the API key (`api_key_env`) is sent: `"bearer"` (the default), or
    /// `{ header = "x-api-key" }`, or `{ query = "key" }`.
    #[serde(default)]
    pub auth: Auth,
    /// Headers added to every request sent upstream, e.g.
    /// `{ "anthropic-version" = "2023-06-01" }` (never stored).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// How far apart floats may be for a recording made again to keep the file on
    /// disk: `{ abs = 5e-3, rel = 1e-3 }` by default (see [`Tolerance`]).
    #[serde(default)]
    pub tolerance: Tolerance,
    /// Environment defaults for the tests run under this setup, e.g.
    /// `env = { RECORDER_KEEP_TIMING = "1", OLLAMA_URL = "http://127.0.0.1:11434" }`.
    /// Every variable the recorder resolves sees them (model overrides, `RECORD_MODE`,
    /// the API key variable, service ports, ...), and services it starts get them in
    /// their environment; an explicit variable or a `RECORDER_ENV` entry wins (see
    /// [`EnvLayers`]). They cannot set `RECORDER_SETUP`, `RECORDER_SUITE` or
    /// `RECORDER_ENV`.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
}

/// Whether `name` is an HTTP header name (an RFC 9110 token): what `auth` headers,
/// `headers` keys and `cargo recordings serve --auth header:<name>` accept.
///
/// ```
/// assert!(recorder_config::is_header_name("x-api-key"));
/// assert!(!recorder_config::is_header_name("x api key"));
/// assert!(!recorder_config::is_header_name(""));
/// ```
pub fn is_header_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// How a setup's API key reaches the real API: `auth = ...` in a setup.
///
/// ```
/// # use std::path::Path;
/// use recorder_config::Auth;
/// let config = recorder_config::Config::parse(
///     r#"
///     [setups.claude]
///     api_key_env = "ANTHROPIC_API_KEY"
///     auth = { header = "x-api-key" }
///     headers = { "anthropic-version" = "2023-06-01" }
///     [setups.gemini]
///     api_key_env = "GEMINI_API_KEY"
///     auth = { query = "key" }
///     [setups.gpt]
///     api_key_env = "OPENAI_API_KEY"
///     "#,
///     Path::new("recorder.toml"),
/// )?;
/// assert_eq!(config.setup("claude")?.auth, Auth::Header("x-api-key".into()));
/// assert_eq!(config.setup("gemini")?.auth, Auth::Query("key".into()));
/// assert_eq!(config.setup("gpt")?.auth, Auth::Bearer);
/// let err = recorder_config::Config::parse("[setups.x]\nauth = \"basic\"", Path::new("recorder.toml")).unwrap_err();
/// assert!(err.to_string().contains("`bearer`, `{ header = \"<name>\" }` or `{ query = \"<name>\" }`"));
/// # Ok::<(), recorder_config::ConfigError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub enum Auth {
    /// `Authorization: Bearer <key>`.
    #[default]
    Bearer,
    /// The key as the value of this header (`x-api-key` for Anthropic, `api-key` for Azure).
    Header(String),
    /// The key as this query parameter (`key` for Gemini).
    Query(String),
}

impl<'de> Deserialize<'de> for Auth {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        const EXPECTED: &str = "`bearer`, `{ header = \"<name>\" }` or `{ query = \"<name>\" }`";
        struct AuthVisitor;
        impl<'de> Visitor<'de> for AuthVisitor {
            type Value = Auth;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(EXPECTED)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Auth, E> {
                if v.eq_ignore_ascii_case("bearer") {
                    Ok(Auth::Bearer)
                } else {
                    Err(E::custom(format!("auth = {v:?}: use {EXPECTED}")))
                }
            }
            fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Auth, A::Error> {
                let Some((kind, name)) = map.next_entry::<String, String>()? else {
                    return Err(de::Error::custom(format!("auth = {{}}: use {EXPECTED}")));
                };
                if map.next_key::<String>()?.is_some() {
                    return Err(de::Error::custom(format!(
                        "auth takes one key: use {EXPECTED}"
                    )));
                }
                let name = name.trim().to_string();
                if name.is_empty() {
                    return Err(de::Error::custom(format!(
                        "auth.{kind} is empty: use {EXPECTED}"
                    )));
                }
                match kind.as_str() {
                    "header" => Ok(Auth::Header(name.to_ascii_lowercase())),
                    "query" => Ok(Auth::Query(name)),
                    other => Err(de::Error::custom(format!(
                        "auth.{other} is not a way to send a key: use {EXPECTED}"
                    ))),
                }
            }
        }
        deserializer.deserialize_any(AuthVisitor)
    }
}

/// A service under test that the runtime starts (or reuses): `[services.<name>]`.
///
/// ```
/// # use std::path::Path;
/// let config = recorder_config::Config::parse(
///     r#"
///     [services.chat]
///     command = ["cargo", "run", "--bin", "chat-service"]
///     port = 3917
///     env = { OPENAI_BASE_URL = "{recorder_url}/v1" }
///     "#,
///     Path::new("recorder.toml"),
/// )?;
/// let chat = &config.services["chat"];
/// assert_eq!(chat.health, "/health");
/// assert_eq!(chat.startup_timeout_secs, 120);
/// # Ok::<(), recorder_config::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceConfig {
    /// The service's name: its key under `[services]`.
    #[serde(skip)]
    pub name: String,
    /// The program and its arguments (may be left out when `url` is given).
    #[serde(default)]
    pub command: Vec<String>,
    /// The loopback port it listens on (may be left out when `url` is given).
    /// `RECORDER_SERVICE_<NAME>_PORT` overrides it (see [`ServiceEndpoint`]).
    #[serde(default)]
    pub port: u16,
    /// An already running instance to use instead of starting `command`, e.g.
    /// `"http://127.0.0.1:8080"`: nothing is started, the tests wait for its health
    /// check, and `env` cannot be applied to it. `RECORDER_SERVICE_<NAME>_URL`
    /// overrides it (see [`ServiceEndpoint`]).
    #[serde(default)]
    pub url: Option<String>,
    /// The path answering 2xx once the service is up.
    #[serde(default = "default_health")]
    pub health: String,
    /// Extra environment; values may contain `{recorder_url}`.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// How long to wait for the health check.
    #[serde(default = "default_startup_timeout")]
    pub startup_timeout_secs: u64,
    /// The working directory, relative to the folder holding `recorder.toml`.
    #[serde(default)]
    pub cwd: Option<String>,
}

fn default_health() -> String {
    "/health".to_string()
}

fn default_startup_timeout() -> u64 {
    120
}

fn deserialize_models<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<BTreeMap<Kind, Vec<String>>, D::Error> {
    /// One model name or a list of them.
    struct Models(Vec<String>);
    impl<'de> Deserialize<'de> for Models {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            struct ModelsVisitor;
            impl<'de> Visitor<'de> for ModelsVisitor {
                type Value = Models;
                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str("a model name or a list of model names")
                }
                fn visit_str<E: de::Error>(self, v: &str) -> Result<Models, E> {
                    Ok(Models(vec![v.to_string()]))
                }
                fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Models, A::Error> {
                    let mut out = Vec::new();
                    while let Some(name) = seq.next_element::<String>()? {
                        out.push(name);
                    }
                    Ok(Models(out))
                }
            }
            deserializer.deserialize_any(ModelsVisitor)
        }
    }
    let raw = BTreeMap::<Kind, Models>::deserialize(deserializer)?;
    Ok(raw
        .into_iter()
        .map(|(kind, Models(names))| (kind, clean_list(names)))
        .filter(|(_, names)| !names.is_empty())
        .collect())
}

/// Trims, drops empty entries and later duplicates, keeping the order.
fn clean_list(names: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for name in names {
        let name = name.trim();
        if !name.is_empty() && !out.iter().any(|seen| seen == name) {
            out.push(name.to_string());
        }
    }
    out
}

/// Parses a comma-separated model list as found in `RECORDER_<KIND>_MODELS`:
/// entries trimmed, empty ones and duplicates dropped.
///
/// ```
/// assert_eq!(recorder_config::parse_model_list(" a, b,,a "), ["a", "b"]);
/// ```
pub fn parse_model_list(value: &str) -> Vec<String> {
    clean_list(value.split(',').map(str::to_string))
}

// ---------------------------------------------------------------------------
// Config

/// A parsed `recorder.toml`.
///
/// ```no_run
/// let manifest_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
/// match recorder_config::Config::discover(manifest_dir)? {
///     Some(config) => println!("{} setups in {}", config.setups.len(), config.path.display()),
///     None => println!("no recorder.toml: models come from RECORDER_<KIND>_MODELS only"),
/// }
/// # Ok::<(), recorder_config::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The file it came from.
    pub path: PathBuf,
    /// The setup used when neither the test, `RECORDER_SETUP` nor a suite picks one.
    pub default_setup: Option<String>,
    /// `[setups.<name>]`, by name.
    pub setups: BTreeMap<String, Setup>,
    /// `[suites.<name>]`, by name.
    pub suites: BTreeMap<String, Suite>,
    /// `[services.<name>]`, by name.
    pub services: BTreeMap<String, ServiceConfig>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    default_setup: Option<String>,
    #[serde(default)]
    setups: BTreeMap<String, Setup>,
    #[serde(default)]
    suites: BTreeMap<String, Suite>,
    #[serde(default)]
    services: BTreeMap<String, ServiceConfig>,
}

impl Config {
    /// Parses the text of a `recorder.toml`; `path` is where it came from, for messages
    /// and [`Config::root`]. Unknown keys are errors, so that typos show.
    ///
    /// ```
    /// # use std::path::Path;
    /// let err = recorder_config::Config::parse("[setups.a]\nbase_ulr = \"x\"", Path::new("recorder.toml"))
    ///     .unwrap_err();
    /// assert!(err.to_string().contains("base_ulr"));
    /// ```
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|err| ConfigError::Parse {
            path: path.to_path_buf(),
            message: err.to_string().trim_end().to_string(),
        })?;
        let mut config = Config {
            path: path.to_path_buf(),
            default_setup: raw.default_setup,
            setups: raw.setups,
            suites: raw.suites,
            services: raw.services,
        };
        for (name, setup) in &mut config.setups {
            setup.name = name.clone();
        }
        for (name, suite) in &mut config.suites {
            suite.name = name.clone();
        }
        for (name, service) in &mut config.services {
            service.name = name.clone();
        }
        config.validate(text)?;
        Ok(config)
    }

    /// Reads and parses the file at `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Config::parse(&text, path)
    }

    /// Walks up from `start` to the first folder holding `recorder.toml` and loads it.
    /// `Ok(None)` when there is none: that is fine, models then come from the
    /// environment only.
    pub fn discover(start: &Path) -> Result<Option<Config>, ConfigError> {
        match find_file(start) {
            Some(path) => Config::load(&path).map(Some),
            None => Ok(None),
        }
    }

    /// The folder holding the file.
    ///
    /// ```
    /// # use std::path::Path;
    /// let config = recorder_config::Config::parse("", Path::new("/work/recorder.toml"))?;
    /// assert_eq!(config.root(), Path::new("/work"));
    /// # Ok::<(), recorder_config::ConfigError>(())
    /// ```
    pub fn root(&self) -> &Path {
        self.path.parent().unwrap_or(Path::new(""))
    }

    /// The setup called `name`; an unknown name is an error listing the known ones.
    pub fn setup(&self, name: &str) -> Result<&Setup, ConfigError> {
        self.setups
            .get(name)
            .ok_or_else(|| self.unknown_setup(name, "the setup asked for"))
    }

    /// The suite called `name`; an unknown name is an error listing the known ones.
    pub fn suite(&self, name: &str) -> Result<&Suite, ConfigError> {
        self.suites
            .get(name)
            .ok_or_else(|| ConfigError::UnknownSuite {
                name: name.to_string(),
                path: Some(self.path.clone()),
                known: self.suites.keys().cloned().collect(),
            })
    }

    /// The suite a test in `module_path` belongs to: the one whose matching entry
    /// covers the most of the path (a root naming the crate beats one that does not
    /// on equal depth; then the first by name). A suite's `exclude` entries take the
    /// modules under them out of it (see [`Suite::contains`]).
    ///
    /// ```
    /// # use std::path::Path;
    /// let config = recorder_config::Config::parse(
    ///     r#"
    ///     [suites.all]
    ///     roots = ["chat"]
    ///     exclude = ["chat::slow"]
    ///     [suites.streaming]
    ///     roots = ["chat::streaming"]
    ///     "#,
    ///     Path::new("recorder.toml"),
    /// )?;
    /// assert_eq!(config.suite_for("examples::chat::streaming").unwrap().name, "streaming");
    /// assert_eq!(config.suite_for("examples::chat").unwrap().name, "all");
    /// assert!(config.suite_for("examples::chat::slow").is_none());
    /// assert!(config.suite_for("examples::rerank").is_none());
    /// # Ok::<(), recorder_config::ConfigError>(())
    /// ```
    pub fn suite_for(&self, module_path: &str) -> Option<&Suite> {
        let mut best: Option<(&Suite, suites::Specificity)> = None;
        for suite in self.suites.values() {
            if let Some(found) = suite.specificity(module_path) {
                if best.is_none_or(|(_, so_far)| found > so_far) {
                    best = Some((suite, found));
                }
            }
        }
        best.map(|(suite, _)| suite)
    }

    fn unknown_setup(&self, name: &str, wanted_by: &str) -> ConfigError {
        ConfigError::UnknownSetup {
            name: name.to_string(),
            wanted_by: wanted_by.to_string(),
            path: Some(self.path.clone()),
            known: self.setups.keys().cloned().collect(),
        }
    }

    /// An `Invalid` error for the value at `at`, with its line in `text`.
    fn invalid(&self, text: &str, at: &[Seg], message: impl Into<String>) -> ConfigError {
        let key = at
            .iter()
            .map(|seg| match seg {
                Seg::Key(k) if k.contains(['.', '/', ' ', '"']) => format!(".\"{k}\""),
                Seg::Key(k) => format!(".{k}"),
                Seg::Index(i) => format!("[{i}]"),
            })
            .collect::<String>();
        ConfigError::Invalid {
            path: self.path.clone(),
            line: line_of(text, at),
            key: key.trim_start_matches('.').to_string(),
            message: message.into(),
        }
    }

    fn validate(&self, text: &str) -> Result<(), ConfigError> {
        use Seg::{Index, Key};
        if let Some(name) = &self.default_setup {
            if !self.setups.contains_key(name) {
                return Err(self.unknown_setup(name, "`default_setup`"));
            }
        }
        for (name, setup) in &self.setups {
            let at = |key: &'static str| [Key("setups"), Key(name), Key(key)];
            if let Some(url) = &setup.base_url {
                check_url(url).map_err(|m| self.invalid(text, &at("base_url"), m))?;
            }
            for (prefix, url) in &setup.routes {
                let route = [Key("setups"), Key(name), Key("routes"), Key(prefix)];
                if !prefix.starts_with('/') {
                    return Err(self.invalid(
                        text,
                        &route,
                        format!("route `{prefix}` must be an endpoint path starting with `/`, e.g. \"/v1/embeddings\""),
                    ));
                }
                check_url(url).map_err(|m| self.invalid(text, &route, m))?;
            }
            if setup.embedding_dimension == Some(0) {
                return Err(self.invalid(
                    text,
                    &at("embedding_dimension"),
                    "must be a positive number, e.g. 384",
                ));
            }
            if let Some(field) = setup
                .ignore_fields
                .iter()
                .find(|f| f.is_empty() || f.split('.').any(str::is_empty))
            {
                return Err(self.invalid(
                    text,
                    &at("ignore_fields"),
                    format!("`{field}` is not a dotted field path such as \"user\" or \"metadata.trace_id\""),
                ));
            }
            let auth_header = match &setup.auth {
                Auth::Header(h) => Some(h.as_str()),
                _ => None,
            };
            for header in setup.headers.keys().map(String::as_str).chain(auth_header) {
                if !is_header_name(header) {
                    return Err(self.invalid(
                        text,
                        &at("headers"),
                        format!(
                            "`{header}` is not an HTTP header name, e.g. \"anthropic-version\""
                        ),
                    ));
                }
            }
            if let Some((header, _)) = setup.headers.iter().find(|(_, v)| v.contains(['\r', '\n']))
            {
                return Err(self.invalid(
                    text,
                    &[Key("setups"), Key(name), Key("headers"), Key(header)],
                    "a header value cannot hold a line break",
                ));
            }
            if setup.removed_api_style.is_some() {
                return Err(self.invalid(text, &at("api_style"), API_STYLE_REMOVED));
            }
            for (key, value) in &setup.env {
                let entry = [Key("setups"), Key(name), Key("env"), Key(key)];
                if !is_env_name(key) {
                    return Err(self.invalid(
                        text,
                        &entry,
                        format!("`{key}` is not a variable name: use letters, digits and _, not starting with a digit, e.g. OLLAMA_URL"),
                    ));
                }
                if let Some(why) = env::forbidden_in_setup(key) {
                    return Err(self.invalid(text, &entry, format!("{key} {why}")));
                }
                if value.contains('\0') {
                    return Err(self.invalid(
                        text,
                        &entry,
                        "an environment value cannot hold a NUL character",
                    ));
                }
            }
            if let Some((key, message)) = setup.tolerance.problem() {
                return Err(self.invalid(
                    text,
                    &[Key("setups"), Key(name), Key("tolerance"), Key(key)],
                    message,
                ));
            }
        }
        for (name, suite) in &self.suites {
            if let Some((key, index, message)) = suite.problem() {
                let mut at = vec![Key("suites"), Key(name), Key(key)];
                at.extend(index.map(Index));
                return Err(self.invalid(text, &at, message));
            }
            if let Some(setup) = &suite.setup {
                if !self.setups.contains_key(setup) {
                    return Err(self.unknown_setup(setup, &format!("`suites.{name}.setup`")));
                }
            }
        }
        for (name, service) in &self.services {
            let at = |key: &'static str| [Key("services"), Key(name), Key(key)];
            if let Some(url) = &service.url {
                services::check_service_url(url).map_err(|m| self.invalid(text, &at("url"), m))?;
            } else if service.command.is_empty() {
                return Err(self.invalid(
                    text,
                    &at("command"),
                    "give the program and its arguments, e.g. [\"cargo\", \"run\", \"--bin\", \"my-service\"], or the `url` of a running instance",
                ));
            } else if service.port == 0 {
                return Err(self.invalid(
                    text,
                    &at("port"),
                    "give the fixed port the service listens on",
                ));
            }
            if !service.health.starts_with('/') {
                return Err(self.invalid(
                    text,
                    &at("health"),
                    "must be a path starting with `/`, e.g. \"/health\"",
                ));
            }
        }
        Ok(())
    }
}

fn check_url(url: &str) -> Result<(), String> {
    if url.starts_with("http://") || url.starts_with("https://") {
        Ok(())
    } else {
        Err(format!(
            "`{url}` is not an http:// or https:// URL, e.g. \"http://127.0.0.1:8080/v1\""
        ))
    }
}

/// The `recorder.toml` that [`Config::discover`] would load from `start`, if any.
///
/// ```
/// let dir = std::env::temp_dir().join("recorder-config-doc-find-file");
/// std::fs::create_dir_all(dir.join("a/b")).unwrap();
/// std::fs::write(dir.join("recorder.toml"), "").unwrap();
/// assert_eq!(recorder_config::find_file(&dir.join("a/b")), Some(dir.join("recorder.toml")));
/// ```
pub fn find_file(start: &Path) -> Option<PathBuf> {
    start
        .ancestors()
        .map(|dir| dir.join(FILE_NAME))
        .find(|candidate| candidate.is_file())
}

/// The Cargo workspace holding `start`: the nearest folder from `start` upward whose
/// `Cargo.toml` has a `[workspace]` table (a package that is its own workspace
/// counts), as cargo itself resolves it for a member. `None` outside any workspace.
/// The one place the runtime, the macro and `cargo recordings` find it.
///
/// ```
/// let dir = std::env::temp_dir().join("recorder-config-doc-workspace-root");
/// std::fs::create_dir_all(dir.join("member/src")).unwrap();
/// std::fs::write(dir.join("Cargo.toml"), "[workspace]\nmembers = [\"member\"]\n").unwrap();
/// std::fs::write(dir.join("member/Cargo.toml"), "[package]\nname = \"member\"\n").unwrap();
/// assert_eq!(recorder_config::workspace_root(&dir.join("member/src")), Some(dir.clone()));
/// ```
pub fn workspace_root(start: &Path) -> Option<PathBuf> {
    start.ancestors().find_map(|dir| {
        let text = std::fs::read_to_string(dir.join("Cargo.toml")).ok()?;
        let table: toml::Table = text.parse().ok()?;
        table.contains_key("workspace").then(|| dir.to_path_buf())
    })
}

// ---------------------------------------------------------------------------
// Environment and resolution

/// Where [`resolve`] reads variables from; injected so that tests and the macro
/// control it. Closures `Fn(&str) -> Option<String>` are environments too.
///
/// ```
/// use recorder_config::Env;
/// let env = |name: &str| (name == "RECORDER_SETUP").then(|| "gpt".to_string());
/// assert_eq!(env.var("RECORDER_SETUP").as_deref(), Some("gpt"));
/// assert_eq!(env.var("RECORDER_SUITE"), None);
/// ```
pub trait Env {
    /// The variable's value; `None` when unset.
    fn var(&self, name: &str) -> Option<String>;
}

/// The process environment (`std::env::var`); empty values count as unset.
///
/// ```
/// use recorder_config::{Env, ProcessEnv};
/// assert_eq!(ProcessEnv.var("RECORDER_SURELY_UNSET_VARIABLE"), None);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|value| !value.is_empty())
    }
}

impl<F: Fn(&str) -> Option<String>> Env for F {
    fn var(&self, name: &str) -> Option<String> {
        self(name)
    }
}

/// What a test runs with, after the file, the setup choice and the environment.
///
/// ```
/// let nothing = recorder_config::Resolved::default();
/// assert_eq!(nothing.setup, None);
/// assert_eq!(nothing.embedding_dimension, 768);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The chosen setup's name, if any.
    pub setup: Option<String>,
    /// Models per kind, after overrides; a kind absent here has no model configured.
    pub models: BTreeMap<Kind, Vec<String>>,
    /// The embedding dimension: `RECORDER_EMBEDDING_DIMENSION`, else the setup's,
    /// else [`DEFAULT_EMBEDDING_DIMENSION`].
    pub embedding_dimension: usize,
    /// `RECORDER_SUITE`, if set.
    pub suite: Option<String>,
}

impl Default for Resolved {
    fn default() -> Self {
        Resolved {
            setup: None,
            models: BTreeMap::new(),
            embedding_dimension: DEFAULT_EMBEDDING_DIMENSION,
            suite: None,
        }
    }
}

impl Resolved {
    /// The models of `kind`; empty when none is configured.
    pub fn models_for(&self, kind: Kind) -> &[String] {
        self.models.get(&kind).map(Vec::as_slice).unwrap_or(&[])
    }
}

/// Decides the setup and models for a test in `module_path`.
///
/// Precedence, highest first:
/// 1. `RECORDER_<KIND>_MODELS` and `RECORDER_EMBEDDING_DIMENSION` (explicit variables;
///    a setup never overrides them; a value of only commas means "no model"; each
///    also from `RECORDER_ENV`, then from the chosen setup's `env`: see [`EnvLayers`]),
/// 2. the setup pinned by the test (`pinned`),
/// 3. `RECORDER_SETUP`,
/// 4. the setup of the test's suite (the suite whose root prefixes `module_path`),
///    only when `RECORDER_SUITE` is unset or names that suite,
/// 5. `default_setup` of the file.
///
/// `RECORDER_SETUP` and `RECORDER_SUITE` come from the environment or `RECORDER_ENV`.
/// An unknown setup or suite name is an error listing the known ones; a malformed
/// `RECORDER_ENV` is an error naming the bad entry.
///
/// ```
/// # use std::path::Path;
/// use recorder_config::{resolve, Config, Kind};
/// let config = Config::parse(
///     r#"
///     default_setup = "local"
///     [setups.local]
///     models = { text = ["smollm2-135m"] }
///     [setups.gpt]
///     models = { text = ["gpt-4o-mini"] }
///     "#,
///     Path::new("recorder.toml"),
/// )?;
/// let env = |name: &str| (name == "RECORDER_SETUP").then(|| "gpt".to_string());
/// let resolved = resolve(Some(&config), None, "", &env)?;
/// assert_eq!(resolved.models_for(Kind::Text), ["gpt-4o-mini"]);
/// // A test pinning `local` keeps it whatever RECORDER_SETUP says.
/// let resolved = resolve(Some(&config), Some("local"), "", &env)?;
/// assert_eq!(resolved.models_for(Kind::Text), ["smollm2-135m"]);
/// # Ok::<(), recorder_config::ConfigError>(())
/// ```
pub fn resolve(
    config: Option<&Config>,
    pinned: Option<&str>,
    module_path: &str,
    env: &dyn Env,
) -> Result<Resolved, ConfigError> {
    // The variables that choose the setup come from the environment and RECORDER_ENV;
    // the rest also from the chosen setup's `env` (see `EnvLayers`).
    let mut layers = EnvLayers::from_process(env)?;
    let var = |name: &str| layers.lookup(env, name).map(|(value, _)| value);
    let suite_env = var(SUITE_ENV).map(|s| s.trim().to_string());
    let setup_env = var(SETUP_ENV).map(|s| s.trim().to_string());

    let setup: Option<&Setup> = match config {
        Some(config) => {
            if let Some(suite) = &suite_env {
                config.suite(suite)?;
            }
            let suite_setup = config
                .suite_for(module_path)
                .filter(|suite| {
                    suite_env
                        .as_deref()
                        .is_none_or(|wanted| wanted == suite.name)
                })
                .and_then(|suite| suite.setup.as_deref());
            let chosen = if let Some(name) = pinned {
                Some((name, "the test's `setup = ...`".to_string()))
            } else if let Some(name) = &setup_env {
                Some((name.as_str(), SETUP_ENV.to_string()))
            } else if let Some(name) = suite_setup {
                Some((name, "the test's suite".to_string()))
            } else {
                config
                    .default_setup
                    .as_deref()
                    .map(|name| (name, "`default_setup`".to_string()))
            };
            match chosen {
                Some((name, wanted_by)) => Some(
                    config
                        .setups
                        .get(name)
                        .ok_or_else(|| config.unknown_setup(name, &wanted_by))?,
                ),
                None => None,
            }
        }
        None => {
            if let Some(suite) = &suite_env {
                return Err(ConfigError::UnknownSuite {
                    name: suite.clone(),
                    path: None,
                    known: Vec::new(),
                });
            }
            let chosen = pinned
                .map(|name| (name.to_string(), "the test's `setup = ...`"))
                .or_else(|| setup_env.clone().map(|name| (name, SETUP_ENV)));
            if let Some((name, wanted_by)) = chosen {
                return Err(ConfigError::UnknownSetup {
                    name,
                    wanted_by: wanted_by.to_string(),
                    path: None,
                    known: Vec::new(),
                });
            }
            None
        }
    };

    if let Some(setup) = setup {
        layers = layers.with_setup(&setup.name, &setup.env);
    }
    let var = |name: &str| layers.lookup(env, name).map(|(value, _)| value);
    let mut models = setup.map(|s| s.models.clone()).unwrap_or_default();
    for kind in Kind::ALL {
        if let Some(value) = var(kind.env_var()) {
            let list = parse_model_list(&value);
            if list.is_empty() {
                models.remove(&kind);
            } else {
                models.insert(kind, list);
            }
        }
    }
    models.retain(|_, list| !list.is_empty());

    let embedding_dimension = match var(EMBEDDING_DIMENSION_ENV) {
        Some(value) => parse_dimension(&value)?,
        None => setup
            .and_then(|s| s.embedding_dimension)
            .unwrap_or(DEFAULT_EMBEDDING_DIMENSION),
    };

    Ok(Resolved {
        setup: setup.map(|s| s.name.clone()),
        models,
        embedding_dimension,
        suite: suite_env,
    })
}

fn parse_dimension(value: &str) -> Result<usize, ConfigError> {
    match value.trim().parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(ConfigError::InvalidEnv {
            var: EMBEDDING_DIMENSION_ENV.to_string(),
            value: value.to_string(),
            message: "expected a positive whole number such as 384, or unset it".to_string(),
        }),
    }
}

// ---------------------------------------------------------------------------
// Errors

/// Everything that can go wrong reading `recorder.toml` or resolving a setup. The
/// messages name the file, the key and what to do.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file exists but could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML or has keys of the wrong type or unknown keys.
    #[error("invalid {}: {message}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// The TOML parser's message, with line and column.
        message: String,
    },
    /// A value is out of range or inconsistent.
    #[error("invalid {}{}: `{key}`: {message}", path.display(), line.map(|l| format!(":{l}")).unwrap_or_default())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The line of the value in the file, when known.
        line: Option<usize>,
        /// The dotted key, e.g. `setups.local.base_url`.
        key: String,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// A setup name that no `[setups.<name>]` defines.
    #[error("{}", unknown_message("setup", name, wanted_by, path.as_deref(), known, SETUP_ENV))]
    UnknownSetup {
        /// The name asked for.
        name: String,
        /// Who asked: `RECORDER_SETUP`, `default_setup`, a suite, the test.
        wanted_by: String,
        /// The file searched, if one was found.
        path: Option<PathBuf>,
        /// The setups it defines.
        known: Vec<String>,
    },
    /// A suite name (from `RECORDER_SUITE`) that no `[suites.<name>]` defines.
    #[error("{}", unknown_message("suite", name, SUITE_ENV, path.as_deref(), known, SUITE_ENV))]
    UnknownSuite {
        /// The name asked for.
        name: String,
        /// The file searched, if one was found.
        path: Option<PathBuf>,
        /// The suites it defines.
        known: Vec<String>,
    },
    /// An environment variable with a value that cannot be used.
    #[error("{var}={value:?}: {message}")]
    InvalidEnv {
        /// The variable.
        var: String,
        /// Its value.
        value: String,
        /// What is expected.
        message: String,
    },
}

fn unknown_message(
    what: &str,
    name: &str,
    wanted_by: &str,
    path: Option<&Path>,
    known: &[String],
    env: &str,
) -> String {
    match path {
        None => format!(
            "unknown {what} `{name}` (from {wanted_by}): no {FILE_NAME} was found, so there are no {what}s; create one or unset {env}"
        ),
        Some(path) if known.is_empty() => format!(
            "unknown {what} `{name}` (from {wanted_by}): {} defines no {what}s; add [{what}s.{name}] to it",
            path.display()
        ),
        Some(path) => format!(
            "unknown {what} `{name}` (from {wanted_by}): {} defines {}; use one of those or add [{what}s.{name}]",
            path.display(),
            known.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ")
        ),
    }
}

#[cfg(test)]
mod tests;
