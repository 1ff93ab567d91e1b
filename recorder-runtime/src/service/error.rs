//! [`ServiceError`]: why a service cannot be started, reached or reused. It becomes an
//! [`Error::Setup`] (its text unchanged) where a test meets it.

use crate::error::{Error, SetupProblem};
use std::path::PathBuf;
use std::sync::Arc;

/// Why a `[services.<name>]` of `recorder.toml` cannot be used. Each text says what
/// happened and what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ServiceError {
    /// The service's `url` is not an `http://` URL.
    NotHttp {
        /// The URL.
        url: String,
    },
    /// The service's `url` has a port that is not a number.
    BadPort {
        /// The URL.
        url: String,
    },
    /// The service at its `url` does not answer its health check.
    UrlUnhealthy {
        /// The service.
        name: String,
        /// Where it was asked.
        base_url: String,
        /// How it failed.
        unhealthy: Box<Unhealthy>,
    },
    /// Something already listens on the service's port, but does not answer the health
    /// check.
    ReusedUnhealthy {
        /// The service.
        name: String,
        /// Where it was asked.
        base_url: String,
        /// How it failed.
        unhealthy: Box<Unhealthy>,
    },
    /// The service was started but did not become healthy.
    StartedUnhealthy {
        /// The service.
        name: String,
        /// Its command line.
        argv: Vec<String>,
        /// How it failed.
        unhealthy: Box<Unhealthy>,
        /// Its output file.
        log: PathBuf,
        /// The last lines of its output.
        log_tail: String,
    },
    /// The port is held by a service this process cannot use, for longer than the
    /// service's `startup_timeout_secs`.
    PortHeld {
        /// The service.
        name: String,
        /// By whom.
        held: PortHeld,
    },
    /// A file of the service's state folder (its port lock, its output) failed.
    File {
        /// What was being done, e.g. "lock".
        action: &'static str,
        /// The file or folder.
        path: PathBuf,
        /// The system's error.
        reason: String,
    },
    /// `{bin:NAME}` names no binary that cargo built.
    NoBinary {
        /// The binary's name.
        name: String,
        /// Where it was looked for.
        path: PathBuf,
    },
    /// The test executable's own path is unknown (to find `{bin:NAME}` next to it).
    NoTestExecutable {
        /// The system's error.
        reason: String,
    },
    /// The service's command did not start.
    Spawn {
        /// The service.
        name: String,
        /// Its command line.
        argv: Vec<String>,
        /// Where it was started.
        cwd: PathBuf,
        /// The system's error.
        reason: String,
    },
    /// The watchdog that stops the service with the test process did not start.
    Watchdog {
        /// The service.
        name: String,
        /// The system's error.
        reason: String,
    },
    /// Nothing answers on the port, and starting a service needs a Unix.
    NeedsUnix {
        /// The service.
        name: String,
        /// Its port.
        port: u16,
    },
}

impl std::fmt::Display for ServiceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotHttp { url } => write!(f, "`{url}` is not an http:// URL"),
            Self::BadPort { url } => write!(f, "`{url}` has no valid port"),
            Self::UrlUnhealthy { name, base_url, unhealthy } => write!(f, "service `{name}` is used at {base_url} (its url: nothing is started, so its `env` is not applied) but it {unhealthy}; start it there, or unset the url to let the tests start `command`"),
            Self::ReusedUnhealthy { name, base_url, unhealthy } => write!(f, "service `{name}` is already listening on {base_url} (reused, not started) but {unhealthy}"),
            Self::StartedUnhealthy { name, argv, unhealthy, log, log_tail } => write!(f, "service `{name}` started with {argv:?} {unhealthy}\n--- last lines of {} ---\n{log_tail}", log.display()),
            Self::PortHeld { name, held } => write!(f, "service `{name}`: {held}"),
            Self::File { action, path, reason } => write!(f, "cannot {action} {}: {reason}", path.display()),
            Self::NoBinary { name, path } => write!(f, "`{{bin:{name}}}`: no binary {} (cargo builds a package's binaries for its integration tests: put the tests in the package that has `{name}`, or `cargo build --bin {name}` first)", path.display()),
            Self::NoTestExecutable { reason } => write!(f, "cannot find the test executable: {reason}"),
            Self::Spawn { name, argv, cwd, reason } => write!(f, "cannot start service `{name}` with {argv:?} in {}: {reason}", cwd.display()),
            Self::Watchdog { name, reason } => write!(f, "cannot start the watchdog (/bin/sh) of service `{name}`: {reason}"),
            Self::NeedsUnix { name, port } => write!(f, "nothing answers on port {port} and starting service `{name}` needs a Unix; start it yourself (its model base URL pointing at `recordings serve`) and the tests reuse it"),
        }
    }
}

impl std::error::Error for ServiceError {}

/// Who holds a service's port ([`ServiceError::PortHeld`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PortHeld {
    /// The service another test process started, which calls that process's recorder.
    OtherProcess {
        /// The port.
        port: u16,
        /// The test process that started it.
        test_pid: u32,
        /// How long this process waited.
        waited_secs: u64,
    },
    /// A service whose test process ended, which its watchdog is stopping.
    BeingStopped {
        /// The port.
        port: u16,
        /// The watchdog stopping it.
        watchdog_pid: u32,
    },
}

impl std::fmt::Display for PortHeld {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::OtherProcess { port, test_pid, waited_secs } => write!(f, "port {port} is held by the service that test process {test_pid} started; its model calls go to that process's recorder, so this process waited {waited_secs}s for it to stop. Run the tests of one process at a time, or start the service yourself (pointing at `recordings serve`) so that every process reuses it"),
            Self::BeingStopped { port, watchdog_pid } => write!(f, "port {port} is still held by a service being stopped (watchdog pid {watchdog_pid})"),
        }
    }
}

impl std::error::Error for PortHeld {}

/// How a service failed its health check.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Unhealthy {
    /// The service's process ended first.
    Exited {
        /// How it ended, e.g. "exit status: 1".
        status: String,
        /// The health path.
        health: String,
    },
    /// No 2xx answer before the deadline.
    TimedOut {
        /// The health URL.
        url: String,
        /// The service's `startup_timeout_secs`.
        secs: u64,
        /// The last answer, or why there was none.
        last: Probe,
    },
}

impl std::fmt::Display for Unhealthy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Exited { status, health } => {
                write!(f, "exited ({status}) before {health} answered")
            }
            Self::TimedOut { url, secs, last } => write!(
                f,
                "did not answer 2xx on {url} within {secs}s (last: {last})"
            ),
        }
    }
}

impl std::error::Error for Unhealthy {}

/// One health request's outcome, when not a 2xx answer.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Probe {
    /// The health path answered this status.
    Status {
        /// The health path.
        path: String,
        /// The status.
        status: u16,
    },
    /// The host name does not resolve.
    Unresolved {
        /// The host.
        host: String,
        /// The resolver's error.
        reason: String,
    },
    /// The host name resolves to no address.
    NoAddress {
        /// The host.
        host: String,
    },
    /// Connecting, writing or reading failed.
    Io(String),
    /// What answered does not speak HTTP.
    NotHttp(String),
}

impl std::fmt::Display for Probe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Status { path, status } => write!(f, "{path} answered {status}"),
            Self::Unresolved { host, reason } => write!(f, "cannot resolve {host}: {reason}"),
            Self::NoAddress { host } => write!(f, "{host} has no address"),
            Self::Io(inner) => std::fmt::Display::fmt(inner, f),
            Self::NotHttp(inner) => write!(f, "not an HTTP answer: {inner:?}"),
        }
    }
}

impl std::error::Error for Probe {}

impl From<ServiceError> for Error {
    fn from(e: ServiceError) -> Error {
        Error::Setup(SetupProblem::Service(Arc::new(e)))
    }
}
