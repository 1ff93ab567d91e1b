//! Environment defaults: a setup's `env = { ... }` and `RECORDER_ENV`, layered under
//! the process environment.
//!
//! Every variable the recorder resolves (the model and dimension overrides here, and
//! every variable the runtime reads: `RECORD_MODE`, `RECORDER_KEEP_TIMING`, a setup's
//! API key variable, a service's port, ...) is looked up in three layers, highest
//! first, then falls back to its built-in default:
//!
//! 1. the process environment (an explicit variable always wins; an empty value counts
//!    as unset),
//! 2. `RECORDER_ENV=KEY=value,KEY2=value2` (a one-off set of defaults on one line),
//! 3. the `env = { KEY = "value" }` of the setup in effect.
//!
//! Nothing is written to the process environment (`std::env::set_var` is not called):
//! the layers are consulted at each lookup. Programs the recorder starts (services
//! under test) get the layers' values added to their environment.
//!
//! ```
//! use std::collections::BTreeMap;
//! use recorder_config::{EnvLayers, ValueSource};
//!
//! let process = |name: &str| match name {
//!     "RECORDER_ENV" => Some("RECORDER_KEEP_TIMING=1,OLLAMA_URL=http://gpu:11434".to_string()),
//!     "OLLAMA_URL" => Some("http://127.0.0.1:11434".to_string()),
//!     _ => None,
//! };
//! let setup_env = BTreeMap::from([("VLLM_URL".to_string(), "http://127.0.0.1:8000".to_string())]);
//! let layers = EnvLayers::from_process(&process)?.with_setup("vllm", &setup_env);
//!
//! assert_eq!(layers.lookup(&process, "OLLAMA_URL"), Some(("http://127.0.0.1:11434".into(), ValueSource::Environment)));
//! assert_eq!(layers.lookup(&process, "RECORDER_KEEP_TIMING"), Some(("1".into(), ValueSource::RecorderEnv)));
//! assert_eq!(layers.lookup(&process, "VLLM_URL"), Some(("http://127.0.0.1:8000".into(), ValueSource::Setup("vllm".into()))));
//! assert_eq!(layers.lookup(&process, "RECORDER_SETUP"), None);
//! # Ok::<(), recorder_config::ConfigError>(())
//! ```

use std::collections::BTreeMap;
use std::fmt;

use crate::{ConfigError, SETUP_ENV, SUITE_ENV};

/// `RECORDER_ENV`: `KEY=value,KEY2=value2`, environment defaults for one run, above a
/// setup's `env` and below explicit variables.
pub const ENV_ENV: &str = "RECORDER_ENV";

/// Variables that neither a setup's `env` nor `RECORDER_ENV` may set, and why.
///
/// `RECORDER_SETUP` and `RECORDER_SUITE` choose the setup, so a setup cannot set them;
/// `RECORDER_ENV` cannot contain itself. (`RECORDER_ENV` may set `RECORDER_SETUP` and
/// `RECORDER_SUITE`: it is read before the setup is chosen.)
pub(crate) fn forbidden_in_setup(name: &str) -> Option<&'static str> {
    match name {
        SETUP_ENV | SUITE_ENV => Some(
            "chooses the setup, so a setup cannot set it; set it in the environment or in RECORDER_ENV",
        ),
        ENV_ENV => Some("cannot be set from a setup; set it in the environment"),
        _ => None,
    }
}

/// Where a resolved value came from, as `cargo recordings options` shows it.
///
/// ```
/// use recorder_config::ValueSource;
/// assert_eq!(ValueSource::Setup("local".into()).to_string(), "setup `local` env");
/// assert_eq!(ValueSource::Environment.to_string(), "environment");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ValueSource {
    /// The process environment.
    Environment,
    /// An entry of `RECORDER_ENV`.
    RecorderEnv,
    /// The `env` of the named setup.
    Setup(String),
    /// A value of `recorder.toml` other than a setup's `env` (e.g. a setup's
    /// `models`, `embedding_dimension`, `default_setup`, a service's `port`).
    Config,
    /// The built-in default.
    Default,
    /// Not set anywhere, and no default.
    Unset,
}

impl fmt::Display for ValueSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ValueSource::Environment => f.write_str("environment"),
            ValueSource::RecorderEnv => f.write_str("RECORDER_ENV"),
            ValueSource::Setup(name) => write!(f, "setup `{name}` env"),
            ValueSource::Config => f.write_str("recorder.toml"),
            ValueSource::Default => f.write_str("default"),
            ValueSource::Unset => f.write_str("unset"),
        }
    }
}

/// Whether `name` can be an environment variable name here: ASCII letters, digits
/// and `_`, not starting with a digit.
///
/// ```
/// assert!(recorder_config::is_env_name("OLLAMA_URL"));
/// assert!(!recorder_config::is_env_name("1X") && !recorder_config::is_env_name("A-B"));
/// ```
pub fn is_env_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

const RECORDER_ENV_SYNTAX: &str =
    "write RECORDER_ENV=KEY=value,KEY2=value2 (values cannot hold commas: put such a value in the setup's `env` or in a variable of its own)";

/// Parses the value of `RECORDER_ENV`: comma-separated `KEY=value` entries, trimmed;
/// empty entries are skipped, a later entry for the same key wins, a value may hold
/// `=` but not `,`. Anything else is an error naming the entry and the syntax.
///
/// ```
/// use recorder_config::parse_recorder_env;
/// let env = parse_recorder_env("RECORDER_KEEP_TIMING=1, OLLAMA_URL=http://h:11434/?a=b,")?;
/// assert_eq!(env["OLLAMA_URL"], "http://h:11434/?a=b");
/// let err = parse_recorder_env("RECORDER_KEEP_TIMING").unwrap_err().to_string();
/// assert!(err.contains("`RECORDER_KEEP_TIMING` has no `=`"), "{err}");
/// assert!(err.contains("RECORDER_ENV=KEY=value,KEY2=value2"), "{err}");
/// # Ok::<(), recorder_config::ConfigError>(())
/// ```
pub fn parse_recorder_env(value: &str) -> Result<BTreeMap<String, String>, ConfigError> {
    let error = |message: String| ConfigError::InvalidEnv {
        var: ENV_ENV.to_string(),
        value: value.to_string(),
        message,
    };
    let mut out = BTreeMap::new();
    for entry in value.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let Some((key, val)) = entry.split_once('=') else {
            return Err(error(format!(
                "entry `{entry}` has no `=`: {RECORDER_ENV_SYNTAX}"
            )));
        };
        let key = key.trim();
        if !is_env_name(key) {
            return Err(error(format!(
                "entry `{entry}`: `{key}` is not a variable name (letters, digits and _, not starting with a digit): {RECORDER_ENV_SYNTAX}"
            )));
        }
        if key == ENV_ENV {
            return Err(error(format!(
                "entry `{entry}`: RECORDER_ENV cannot set itself; {RECORDER_ENV_SYNTAX}"
            )));
        }
        out.insert(key.to_string(), val.trim().to_string());
    }
    Ok(out)
}

/// The defaults layered under the process environment: `RECORDER_ENV`'s entries and
/// the `env` of the setup in effect. Cheap to clone; looked up with [`EnvLayers::lookup`]
/// against any [`Env`] standing for the process environment.
///
/// ```
/// use recorder_config::{EnvLayers, Env};
/// let process = |name: &str| (name == "RECORDER_ENV").then(|| "A=1".to_string());
/// let layers = EnvLayers::from_process(&process)?;
/// assert_eq!(layers.bind(&process).var("A").as_deref(), Some("1"));
/// # Ok::<(), recorder_config::ConfigError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnvLayers {
    recorder_env: BTreeMap<String, String>,
    setup: Option<(String, BTreeMap<String, String>)>,
}

impl EnvLayers {
    /// The layers with `RECORDER_ENV` read from `process` (an error when its syntax is
    /// wrong) and no setup yet.
    pub fn from_process(process: &dyn Env) -> Result<EnvLayers, ConfigError> {
        let recorder_env = match process.var(ENV_ENV) {
            Some(value) => parse_recorder_env(&value)?,
            None => BTreeMap::new(),
        };
        Ok(EnvLayers {
            recorder_env,
            setup: None,
        })
    }

    /// These layers with the `env` of setup `name` below them (replacing any setup
    /// given before).
    pub fn with_setup(mut self, name: &str, env: &BTreeMap<String, String>) -> EnvLayers {
        self.setup = Some((name.to_string(), env.clone()));
        self
    }

    /// The entries of `RECORDER_ENV`.
    pub fn recorder_env(&self) -> &BTreeMap<String, String> {
        &self.recorder_env
    }

    /// The setup whose `env` is the lowest layer, with that `env`.
    pub fn setup(&self) -> Option<(&str, &BTreeMap<String, String>)> {
        self.setup.as_ref().map(|(name, env)| (name.as_str(), env))
    }

    /// `name` in `process`, else in `RECORDER_ENV`, else in the setup's `env`; with
    /// where it was found. Empty or blank values count as unset in every layer.
    pub fn lookup(&self, process: &dyn Env, name: &str) -> Option<(String, ValueSource)> {
        let set = |v: &String| !v.trim().is_empty();
        if let Some(value) = process.var(name).filter(set) {
            return Some((value, ValueSource::Environment));
        }
        if name == ENV_ENV {
            return None;
        }
        if let Some(value) = self.recorder_env.get(name).filter(|v| set(v)) {
            return Some((value.clone(), ValueSource::RecorderEnv));
        }
        let (setup, env) = self.setup.as_ref()?;
        if forbidden_in_setup(name).is_some() {
            return None;
        }
        env.get(name)
            .filter(|v| set(v))
            .map(|value| (value.clone(), ValueSource::Setup(setup.clone())))
    }

    /// What a program started by the recorder gets added to the environment it
    /// inherits: every `RECORDER_ENV` and setup `env` entry whose variable `process`
    /// does not set (explicit variables win), `RECORDER_ENV` over the setup.
    ///
    /// ```
    /// use std::collections::BTreeMap;
    /// use recorder_config::EnvLayers;
    /// let process = |name: &str| (name == "B").then(|| "explicit".to_string());
    /// let setup = BTreeMap::from([("A".to_string(), "a".to_string()), ("B".to_string(), "b".to_string())]);
    /// let layers = EnvLayers::default().with_setup("s", &setup);
    /// assert_eq!(layers.defaults_for_child(&process), BTreeMap::from([("A".to_string(), "a".to_string())]));
    /// ```
    pub fn defaults_for_child(&self, process: &dyn Env) -> BTreeMap<String, String> {
        let mut names: Vec<&String> = self.recorder_env.keys().collect();
        if let Some((_, env)) = &self.setup {
            names.extend(env.keys());
        }
        names
            .into_iter()
            .filter_map(|name| match self.lookup(process, name)? {
                (_, ValueSource::Environment) => None,
                (value, _) => Some((name.clone(), value)),
            })
            .collect()
    }

    /// These layers over `process`, as an [`Env`].
    pub fn bind<'a>(&'a self, process: &'a dyn Env) -> Layered<'a> {
        Layered {
            layers: self,
            process,
        }
    }
}

/// [`EnvLayers`] over a process environment: an [`Env`] that sees the defaults.
#[derive(Clone, Copy)]
pub struct Layered<'a> {
    layers: &'a EnvLayers,
    process: &'a dyn Env,
}

impl fmt::Debug for Layered<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Layered")
            .field("layers", self.layers)
            .finish_non_exhaustive()
    }
}

impl Env for Layered<'_> {
    fn var(&self, name: &str) -> Option<String> {
        self.layers
            .lookup(self.process, name)
            .map(|(value, _)| value)
    }
}

/// Where [`resolve`](crate::resolve) reads variables from; injected so that tests and the macro
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
