//! [`ServiceError`]: why a service cannot be started, reached or reused. It becomes an
//! [`Error::Setup`] (its text unchanged) where a test meets it.

use crate::error::{Error, SetupProblem};
use std::path::PathBuf;
use std::sync::Arc;

/// Why a `[services.<name>]` of `recorder.toml` cannot be used. Each text says what
/// happened and what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ServiceError {
    /// The service's `url` is not an `http://` URL.
    #[error("`{url}` is not an http:// URL")]
    NotHttp {
        /// The URL.
        url: String,
    },
    /// The service's `url` has a port that is not a number.
    #[error("`{url}` has no valid port")]
    BadPort {
        /// The URL.
        url: String,
    },
    /// The service at its `url` does not answer its health check.
    #[error("service `{name}` is used at {base_url} (its url: nothing is started, so its `env` is not applied) but it {unhealthy}; start it there, or unset the url to let the tests start `command`")]
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
    #[error(
        "service `{name}` is already listening on {base_url} (reused, not started) but {unhealthy}"
    )]
    ReusedUnhealthy {
        /// The service.
        name: String,
        /// Where it was asked.
        base_url: String,
        /// How it failed.
        unhealthy: Box<Unhealthy>,
    },
    /// The service was started but did not become healthy.
    #[error("service `{name}` started with {argv:?} {unhealthy}\n--- last lines of {} ---\n{log_tail}", .log.display())]
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
    #[error("service `{name}`: {held}")]
    PortHeld {
        /// The service.
        name: String,
        /// By whom.
        held: PortHeld,
    },
    /// A file of the service's state folder (its port lock, its output) failed.
    #[error("cannot {action} {}: {reason}", .path.display())]
    File {
        /// What was being done, e.g. "lock".
        action: &'static str,
        /// The file or folder.
        path: PathBuf,
        /// The system's error.
        reason: String,
    },
    /// `{bin:NAME}` names no binary that cargo built.
    #[error("`{{bin:{name}}}`: no binary {} (cargo builds a package's binaries for its integration tests: put the tests in the package that has `{name}`, or `cargo build --bin {name}` first)", .path.display())]
    NoBinary {
        /// The binary's name.
        name: String,
        /// Where it was looked for.
        path: PathBuf,
    },
    /// The test executable's own path is unknown (to find `{bin:NAME}` next to it).
    #[error("cannot find the test executable: {reason}")]
    NoTestExecutable {
        /// The system's error.
        reason: String,
    },
    /// The service's command did not start.
    #[error("cannot start service `{name}` with {argv:?} in {}: {reason}", .cwd.display())]
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
    #[error("cannot start the watchdog (/bin/sh) of service `{name}`: {reason}")]
    Watchdog {
        /// The service.
        name: String,
        /// The system's error.
        reason: String,
    },
    /// Nothing answers on the port, and starting a service needs a Unix.
    #[error("nothing answers on port {port} and starting service `{name}` needs a Unix; start it yourself (its model base URL pointing at `recordings serve`) and the tests reuse it")]
    NeedsUnix {
        /// The service.
        name: String,
        /// Its port.
        port: u16,
    },
}

/// Who holds a service's port ([`ServiceError::PortHeld`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PortHeld {
    /// The service another test process started, which calls that process's recorder.
    #[error("port {port} is held by the service that test process {test_pid} started; its model calls go to that process's recorder, so this process waited {waited_secs}s for it to stop. Run the tests of one process at a time, or start the service yourself (pointing at `recordings serve`) so that every process reuses it")]
    OtherProcess {
        /// The port.
        port: u16,
        /// The test process that started it.
        test_pid: u32,
        /// How long this process waited.
        waited_secs: u64,
    },
    /// A service whose test process ended, which its watchdog is stopping.
    #[error("port {port} is still held by a service being stopped (watchdog pid {watchdog_pid})")]
    BeingStopped {
        /// The port.
        port: u16,
        /// The watchdog stopping it.
        watchdog_pid: u32,
    },
}

/// How a service failed its health check.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Unhealthy {
    /// The service's process ended first.
    #[error("exited ({status}) before {health} answered")]
    Exited {
        /// How it ended, e.g. "exit status: 1".
        status: String,
        /// The health path.
        health: String,
    },
    /// No 2xx answer before the deadline.
    #[error("did not answer 2xx on {url} within {secs}s (last: {last})")]
    TimedOut {
        /// The health URL.
        url: String,
        /// The service's `startup_timeout_secs`.
        secs: u64,
        /// The last answer, or why there was none.
        last: Probe,
    },
}

/// One health request's outcome, when not a 2xx answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Probe {
    /// The health path answered this status.
    #[error("{path} answered {status}")]
    Status {
        /// The health path.
        path: String,
        /// The status.
        status: u16,
    },
    /// The host name does not resolve.
    #[error("cannot resolve {host}: {reason}")]
    Unresolved {
        /// The host.
        host: String,
        /// The resolver's error.
        reason: String,
    },
    /// The host name resolves to no address.
    #[error("{host} has no address")]
    NoAddress {
        /// The host.
        host: String,
    },
    /// Connecting, writing or reading failed.
    #[error("{0}")]
    Io(String),
    /// What answered does not speak HTTP.
    #[error("not an HTTP answer: {0:?}")]
    NotHttp(String),
}

impl From<ServiceError> for Error {
    fn from(e: ServiceError) -> Error {
        Error::Setup(SetupProblem::Service(Arc::new(e)))
    }
}
