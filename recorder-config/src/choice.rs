//! The rule that picks the setup in effect, written once: the macro ([`resolve`]),
//! the runtime (a test's upstream and the variables read for the whole process) and
//! `cargo recordings options` all call [`choose_setup`].
//!
//! Highest first:
//! 1. a setup named by the caller: a test's `setup = "..."` (or the setup the macro
//!    resolved for it), `RecordingContext::builder(..).setup(..)`, `options --setup`,
//! 2. `RECORDER_SETUP`, from the environment or from `RECORDER_ENV` (never from a
//!    setup's `env`: it would choose itself),
//! 3. the setup of the test's suite (the suite holding its module path), only when
//!    `RECORDER_SUITE` is unset or names that suite,
//! 4. `default_setup` of `recorder.toml`,
//!
//! else no setup. A name that `recorder.toml` does not define (or a name with no
//! `recorder.toml` at all) is an error saying who asked for it.
//!
//! [`resolve`]: crate::resolve

use std::fmt;

use crate::{Config, ConfigError, Env, EnvLayers, Setup, ValueSource, SETUP_ENV, SUITE_ENV};

/// Who picked the setup in effect: one rung of the rule, highest first.
///
/// ```
/// use recorder_config::{ChosenBy, ValueSource};
/// assert_eq!(ChosenBy::Explicit("--setup").to_string(), "--setup");
/// assert_eq!(ChosenBy::Variable(ValueSource::RecorderEnv).to_string(), "RECORDER_SETUP in RECORDER_ENV");
/// assert_eq!(ChosenBy::Suite("hosted".into()).to_string(), "suite `hosted`");
/// assert_eq!(ChosenBy::DefaultSetup.to_string(), "default_setup");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChosenBy {
    /// Named by the caller; the text says who (`"--setup"`, `"the test's `setup = ...`"`).
    Explicit(&'static str),
    /// `RECORDER_SETUP`, found where the [`ValueSource`] says (the environment or `RECORDER_ENV`).
    Variable(ValueSource),
    /// The `setup` of the named suite, which holds the test.
    Suite(String),
    /// `default_setup` of `recorder.toml`.
    DefaultSetup,
}

impl ChosenBy {
    /// Where the choice came from, as a variable's source column shows it
    /// (`environment`, `RECORDER_ENV`, `recorder.toml`, or the caller's text).
    ///
    /// ```
    /// use recorder_config::{ChosenBy, ValueSource};
    /// assert_eq!(ChosenBy::Variable(ValueSource::Environment).source(), "environment");
    /// assert_eq!(ChosenBy::DefaultSetup.source(), "recorder.toml");
    /// ```
    pub fn source(&self) -> String {
        match self {
            ChosenBy::Explicit(by) => (*by).to_owned(),
            ChosenBy::Variable(source) => source.to_string(),
            ChosenBy::Suite(_) | ChosenBy::DefaultSetup => ValueSource::Config.to_string(),
        }
    }
}

impl fmt::Display for ChosenBy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChosenBy::Explicit(by) => f.write_str(by),
            ChosenBy::Variable(ValueSource::RecorderEnv) => {
                write!(f, "{SETUP_ENV} in RECORDER_ENV")
            }
            ChosenBy::Variable(_) => f.write_str(SETUP_ENV),
            ChosenBy::Suite(name) => write!(f, "suite `{name}`"),
            ChosenBy::DefaultSetup => f.write_str("default_setup"),
        }
    }
}

/// The setup in effect and who picked it: what [`choose_setup`] returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice<'c> {
    /// The setup, from the `recorder.toml` given.
    pub setup: &'c Setup,
    /// Who picked it.
    pub by: ChosenBy,
}

/// Picks the setup in effect, highest first: the one named by the caller
/// (`explicit`), else `RECORDER_SETUP` (environment, else `RECORDER_ENV`), else the
/// setup of the suite holding `module_path` (when `RECORDER_SUITE` is unset or names
/// it), else `default_setup`.
///
/// - `explicit`: a setup named by the caller, with who named it, for messages;
/// - `module_path`: the test's module path, which decides its suite (`None`: no
///   suite applies, e.g. for what is read once per process);
/// - `process`: the process environment (`RECORDER_SETUP` and `RECORDER_SUITE` are
///   read from it and from `RECORDER_ENV`).
///
/// `Ok(None)` when nothing picks a setup. Errors: a name `recorder.toml` does not
/// define, a name with no `recorder.toml`, a malformed `RECORDER_ENV`.
///
/// ```
/// # use std::path::Path;
/// use recorder_config::{choose_setup, ChosenBy, Config, ValueSource};
/// let config = Config::parse(
///     r#"
///     default_setup = "local"
///     [setups.local]
///     [setups.gpt]
///     [setups.ollama]
///     [suites.hosted]
///     roots = ["hosted"]
///     setup = "gpt"
///     "#,
///     Path::new("recorder.toml"),
/// )?;
/// let none = |_: &str| None;
/// let env = |name: &str| (name == "RECORDER_SETUP").then(|| "ollama".to_string());
/// let pick = |explicit, module, env: &dyn recorder_config::Env| {
///     choose_setup(Some(&config), explicit, module, env).map(|c| c.map(|c| (c.setup.name.clone(), c.by)))
/// };
/// assert_eq!(pick(None, None, &none)?, Some(("local".into(), ChosenBy::DefaultSetup)));
/// assert_eq!(pick(None, Some("my_crate::hosted"), &none)?, Some(("gpt".into(), ChosenBy::Suite("hosted".into()))));
/// assert_eq!(pick(None, Some("my_crate::hosted"), &env)?, Some(("ollama".into(), ChosenBy::Variable(ValueSource::Environment))));
/// assert_eq!(pick(Some(("local", "--setup")), None, &env)?, Some(("local".into(), ChosenBy::Explicit("--setup"))));
/// assert!(pick(Some(("claude", "--setup")), None, &none).unwrap_err().to_string().contains("unknown setup `claude` (from --setup)"));
/// # Ok::<(), recorder_config::ConfigError>(())
/// ```
pub fn choose_setup<'c>(
    config: Option<&'c Config>,
    explicit: Option<(&str, &'static str)>,
    module_path: Option<&str>,
    process: &dyn Env,
) -> Result<Option<Choice<'c>>, ConfigError> {
    // RECORDER_SETUP and RECORDER_SUITE: the environment, else RECORDER_ENV (the
    // layers never take them from a setup's `env`).
    let layers = EnvLayers::from_process(process)?;
    let variable = |name: &str| {
        layers
            .lookup(process, name)
            .map(|(value, source)| (value.trim().to_owned(), source))
    };
    let wanted: Option<(String, ChosenBy)> = if let Some((name, by)) = explicit {
        Some((name.trim().to_owned(), ChosenBy::Explicit(by)))
    } else if let Some((name, source)) = variable(SETUP_ENV) {
        Some((name, ChosenBy::Variable(source)))
    } else if let Some(config) = config {
        let selected = variable(SUITE_ENV).map(|(name, _)| name);
        module_path
            .and_then(|path| config.suite_for(path))
            .filter(|suite| selected.as_deref().is_none_or(|s| s == suite.name))
            .and_then(|suite| {
                let setup = suite.setup.clone()?;
                Some((setup, ChosenBy::Suite(suite.name.clone())))
            })
            .or_else(|| {
                let name = config.default_setup.clone()?;
                Some((name, ChosenBy::DefaultSetup))
            })
    } else {
        None
    };
    let Some((name, by)) = wanted else {
        return Ok(None);
    };
    match config {
        Some(config) => match config.setups.get(&name) {
            Some(setup) => Ok(Some(Choice { setup, by })),
            None => Err(config.unknown_setup(&name, &by.to_string())),
        },
        None => Err(ConfigError::UnknownSetup {
            name,
            wanted_by: by.to_string(),
            path: None,
            known: Vec::new(),
        }),
    }
}
