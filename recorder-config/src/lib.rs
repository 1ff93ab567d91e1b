//! `recorder.toml`: named setups, the models they provide, suites and services
//! for recorded tests, and how the environment overrides them.
//!
//! The `#[recorded_test]` macro reads this at compile time to decide which tests to
//! generate (one per model combination); the runtime reads it again when the tests
//! run. Both go through [`Config::discover`]; the setup in effect is picked by one
//! rule, [`choose_setup`], which [`resolve`] (the macro), the runtime and `cargo
//! recordings options` all call.
//!
//! Modules, one job each: `kind` (the model kinds), `setup` (a `[setups.<name>]`),
//! `upstream` (a setup's further upstreams),
//! `suites`, `services`, `tolerance`, `config` (parsing and checking the file),
//! `discover` (finding it and the workspace), `env` (where variables come from),
//! `choice` (the setup rule), `resolve` (a test's models), `locate` (the line of a key,
//! for errors), `error`.
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

mod choice;
mod config;
mod discover;
mod env;
mod error;
mod kind;
mod locate;
mod near;
mod resolve;
mod services;
mod setup;
mod suites;
mod tolerance;
mod upstream;

pub use choice::{choose_setup, Choice, ChosenBy};
pub use config::Config;
pub use discover::{find_file, workspace_root};
pub use env::{
    is_env_name, parse_recorder_env, Env, EnvLayers, Layered, ProcessEnv, ValueSource, ENV_ENV,
};
pub use error::ConfigError;
pub use kind::{Kind, ParseKindError};
pub use near::{closest, edit_distance};
pub use resolve::{resolve, Resolved, PINNED_BY_TEST};
pub use services::{
    ServiceConfig, ServiceEndpoint, SERVICE_ENV, SERVICE_NAMED_PORT_ENV, SERVICE_NAMED_URL_ENV,
    SERVICE_PORT_ENV, SERVICE_URL_ENV,
};
pub use setup::{is_header_name, parse_model_list, Auth, RemovedKey, Setup, API_STYLE_REMOVED};
pub use suites::Suite;
pub use tolerance::Tolerance;
pub use upstream::{is_upstream_name, Upstream};

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

#[cfg(test)]
mod tests;
