//! What a test runs with: the setup the rule picks, then its models and embedding
//! dimension after the environment.

use std::collections::BTreeMap;

use crate::{
    choose_setup, parse_model_list, Config, ConfigError, Env, EnvLayers, Kind, Setup,
    DEFAULT_EMBEDDING_DIMENSION, EMBEDDING_DIMENSION_ENV, SUITE_ENV,
};

/// Who names a setup pinned by `setup = "..."` (or resolved for the test by the
/// macro), in messages.
pub const PINNED_BY_TEST: &str = "the test's `setup = ...`";

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
/// 2. the setup [`choose_setup`] picks: the one pinned by the test (`pinned`), else
///    `RECORDER_SETUP`, else the setup of the test's suite (the suite holding
///    `module_path`, only when `RECORDER_SUITE` is unset or names it), else
///    `default_setup` of the file.
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
    let suite_env = layers
        .lookup(env, SUITE_ENV)
        .map(|(s, _)| s.trim().to_string());
    if let Some(suite) = &suite_env {
        match config {
            Some(config) => drop(config.suite(suite)?),
            None => {
                return Err(ConfigError::UnknownSuite {
                    name: suite.clone(),
                    path: None,
                    known: Vec::new(),
                })
            }
        }
    }
    let setup: Option<&Setup> = choose_setup(
        config,
        pinned.map(|name| (name, PINNED_BY_TEST)),
        Some(module_path),
        env,
    )?
    .map(|choice| choice.setup);

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
