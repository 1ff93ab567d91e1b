//! A setup, `[setups.<name>]`: a named way to reach real models (base URL, key,
//! auth, models per kind), and how its values are read.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::Deserialize;

use crate::{Kind, Tolerance, Upstream};

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
    /// [`DEFAULT_EMBEDDING_DIMENSION`](crate::DEFAULT_EMBEDDING_DIMENSION) when no setup or variable gives one.
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
    /// Further upstreams a test talks to besides `base_url`, by name: MCP servers,
    /// tool APIs, a second provider (see [`Upstream`]). Each has its own key, auth and
    /// headers; the setup's `api_key_env`, `auth` and `headers` are the model API's
    /// (`base_url` and `routes`) only.
    #[serde(default)]
    pub upstreams: BTreeMap<String, Upstream>,
    /// How far apart floats may be for a recording made again to keep the file on
    /// disk: `{ abs = 5e-3, rel = 1e-3 }` by default (see [`Tolerance`]).
    #[serde(default)]
    pub tolerance: Tolerance,
    /// Environment defaults for the tests run under this setup, e.g.
    /// `env = { RECORDER_KEEP_TIMING = "1", OLLAMA_URL = "http://127.0.0.1:11434" }`.
    /// Every variable the recorder resolves sees them (model overrides, `RECORD_MODE`,
    /// the API key variable, service ports, ...), and services it starts get them in
    /// their environment; an explicit variable or a `RECORDER_ENV` entry wins (see
    /// [`EnvLayers`](crate::EnvLayers)). They cannot set `RECORDER_SETUP`, `RECORDER_SUITE` or
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

impl Setup {
    /// Every variable holding a key of this setup: its own `api_key_env`, then its
    /// upstreams' (each once, in that order).
    ///
    /// ```
    /// # use std::path::Path;
    /// let config = recorder_config::Config::parse(
    ///     "[setups.a]\napi_key_env = \"OPENAI_API_KEY\"\nupstreams = { mcp = \"http://h/mcp\", search = { url = \"https://s\", api_key_env = \"TAVILY_API_KEY\" } }",
    ///     Path::new("recorder.toml"),
    /// )?;
    /// assert_eq!(config.setup("a")?.key_vars(), ["OPENAI_API_KEY", "TAVILY_API_KEY"]);
    /// # Ok::<(), recorder_config::ConfigError>(())
    /// ```
    pub fn key_vars(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        let upstreams = self.upstreams.values().map(|u| &u.api_key_env);
        for var in std::iter::once(&self.api_key_env)
            .chain(upstreams)
            .flatten()
        {
            if !out.contains(&var.as_str()) {
                out.push(var);
            }
        }
        out
    }
}

/// What is wrong with a setup's or an upstream's `headers` and `auth` header, if
/// anything: where, relative to the setup or upstream (`auth`, `headers` or
/// `headers.<name>`), and the message.
pub(crate) fn headers_problem<'a>(
    headers: &'a BTreeMap<String, String>,
    auth: &'a Auth,
) -> Option<(Vec<&'a str>, String)> {
    let not_a_name =
        |h: &str| format!("`{h}` is not an HTTP header name, e.g. \"anthropic-version\"");
    if let Auth::Header(h) = auth {
        if !is_header_name(h) {
            return Some((vec!["auth"], not_a_name(h)));
        }
    }
    if let Some(h) = headers.keys().find(|h| !is_header_name(h)) {
        return Some((vec!["headers"], not_a_name(h)));
    }
    headers
        .iter()
        .find(|(_, v)| v.contains(['\r', '\n']))
        .map(|(h, _)| {
            (
                vec!["headers", h.as_str()],
                "a header value cannot hold a line break".to_owned(),
            )
        })
}

/// Whether `url` is an `http://` or `https://` URL; the message says what to write.
pub(crate) fn check_url(url: &str) -> Result<(), String> {
    if url.starts_with("http://") || url.starts_with("https://") {
        Ok(())
    } else {
        Err(format!(
            "`{url}` is not an http:// or https:// URL, e.g. \"http://127.0.0.1:8080/v1\""
        ))
    }
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
