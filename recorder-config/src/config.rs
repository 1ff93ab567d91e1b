//! A parsed `recorder.toml`: reading it, finding it, and checking every value with
//! an error naming the file, line and key.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::locate::{line_of, Seg};
use crate::setup::{check_url, headers_problem};
use crate::{
    env, find_file, is_env_name, is_upstream_name, services, suites, ConfigError, ServiceConfig,
    Setup, Suite, API_STYLE_REMOVED,
};

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
    /// `Ok(None)` when there is none: models then come from the environment only (a
    /// test that asks for models no variable gives is then a compile error saying to
    /// run `cargo recordings init`).
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

    pub(crate) fn unknown_setup(&self, name: &str, wanted_by: &str) -> ConfigError {
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
            if let Some((inner, message)) = headers_problem(&setup.headers, &setup.auth) {
                let mut at = vec![Key("setups"), Key(name)];
                at.extend(inner.into_iter().map(Key));
                return Err(self.invalid(text, &at, message));
            }
            for (up, upstream) in &setup.upstreams {
                let mut at = vec![Key("setups"), Key(name), Key("upstreams"), Key(up)];
                if !is_upstream_name(up) {
                    return Err(self.invalid(text, &at, format!(
                        "`{up}` cannot name an upstream: use letters, digits, - and _ (it becomes the path /up/{up}/), e.g. \"mcp\" or \"web-search\""
                    )));
                }
                if let Some((inner, message)) = upstream.problem() {
                    at.extend(inner.into_iter().map(Key));
                    return Err(self.invalid(text, &at, message));
                }
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
