//! Everything that can go wrong reading `recorder.toml` or resolving a setup.

use std::path::{Path, PathBuf};

use crate::{FILE_NAME, SETUP_ENV, SUITE_ENV};

/// Everything that can go wrong reading `recorder.toml` or resolving a setup. The
/// messages name the file, the key and what to do.
///
/// New variants may come in any release: a `match` on it needs a `_` arm.
#[derive(Debug)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file exists but could not be read.
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML or has keys of the wrong type or unknown keys.
    Parse {
        /// The file.
        path: PathBuf,
        /// The TOML parser's message, with line and column.
        message: String,
    },
    /// A value is out of range or inconsistent.
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
    UnknownSuite {
        /// The name asked for.
        name: String,
        /// The file searched, if one was found.
        path: Option<PathBuf>,
        /// The suites it defines.
        known: Vec<String>,
    },
    /// An environment variable with a value that cannot be used.
    InvalidEnv {
        /// The variable.
        var: String,
        /// Its value.
        value: String,
        /// What is expected.
        message: String,
    },
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Read { path, source } => write!(f, "cannot read {}: {source}", path.display()),
            Self::Parse { path, message } => write!(f, "invalid {}: {message}", path.display()),
            Self::Invalid {
                path,
                line,
                key,
                message,
            } => write!(
                f,
                "invalid {}{}: `{key}`: {message}",
                path.display(),
                line.map(|l| format!(":{l}")).unwrap_or_default()
            ),
            Self::UnknownSetup {
                name,
                wanted_by,
                path,
                known,
            } => write!(
                f,
                "{}",
                unknown_message("setup", name, wanted_by, path.as_deref(), known, SETUP_ENV)
            ),
            Self::UnknownSuite { name, path, known } => write!(
                f,
                "{}",
                unknown_message("suite", name, SUITE_ENV, path.as_deref(), known, SUITE_ENV)
            ),
            Self::InvalidEnv {
                var,
                value,
                message,
            } => write!(f, "{var}={value:?}: {message}"),
        }
    }
}

impl std::error::Error for ConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Read { source, .. } => Some(source),
            _ => None,
        }
    }
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
        None if wanted_by.contains(env) => format!(
            "unknown {what} `{name}` (from {wanted_by}): no {FILE_NAME} was found, so there are no {what}s; create one (`cargo recordings init`) or unset {env}"
        ),
        None => format!(
            "unknown {what} `{name}` (from {wanted_by}): no {FILE_NAME} was found, so there are no {what}s; create one (`cargo recordings init`)"
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
