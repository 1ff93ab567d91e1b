//! The one error type of the runtime. Every variant says what went wrong and,
//! where there is one, what to do about it.

use std::path::PathBuf;

/// Errors from the recording engine, the store and the transports.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `RECORD_MODE` holds something other than the four modes.
    #[error("RECORD_MODE={value:?} is not a recording mode: use one of replay (the default), record-if-missing, record, live")]
    UnknownMode {
        /// The value found in the environment.
        value: String,
    },

    /// A recording file could not be read or parsed. It is never overwritten in replay.
    #[error("recording {path} is unreadable: {reason}. Fix or delete the file, then re-record it with RECORD_MODE=record-if-missing")]
    CorruptRecording {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },

    /// Reading or writing a file failed.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done, e.g. "cannot write".
        action: &'static str,
        /// The file or folder.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// No recording for a request in replay mode; the message explains the miss.
    #[error("{0}")]
    Miss(String),

    /// The upstream could not be reached (record and live modes).
    #[error("upstream {url} is unreachable: {reason}. Start the server or check the setup's base_url; nothing was recorded")]
    Unreachable {
        /// The URL that was tried.
        url: String,
        /// Why it failed.
        reason: String,
    },

    /// The upstream failed mid-response (record and live modes).
    #[error("upstream {url} failed mid-response: {reason}; nothing was recorded")]
    Upstream {
        /// The URL that was tried.
        url: String,
        /// Why it failed.
        reason: String,
    },

    /// The recordings index (sqlite) failed.
    #[error("recordings index {path}: {reason}")]
    Index {
        /// The index file.
        path: PathBuf,
        /// What failed.
        reason: String,
    },

    /// `recorder.toml` is invalid.
    #[error(transparent)]
    Config(#[from] recorder_config::ConfigError),

    /// The API answered with an error status (recorded or live).
    #[error("the API answered {status} to {endpoint}: {body}")]
    Api {
        /// HTTP status.
        status: u16,
        /// The endpoint that was called.
        endpoint: String,
        /// The response body, as text.
        body: String,
    },

    /// A response body did not have the expected shape.
    #[error("unexpected response from {endpoint}: {reason}")]
    Decode {
        /// The endpoint that was called.
        endpoint: String,
        /// What did not parse.
        reason: String,
    },

    /// Anything else, with its explanation.
    #[error("{0}")]
    Other(String),
}

impl Error {
    /// An I/O error while doing `action` (e.g. "cannot write") on `path`.
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            action,
            path: path.into(),
            source,
        }
    }

    pub(crate) fn corrupt(path: impl Into<PathBuf>, reason: impl std::fmt::Display) -> Self {
        Error::CorruptRecording {
            path: path.into(),
            reason: reason.to_string(),
        }
    }
}

/// Result with the runtime's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
