//! The service under test as a fixture (server mode).
//!
//! A `[services.<name>]` section of `recorder.toml` says how to start the service
//! and where it listens:
//!
//! ```toml
//! [services.chat]
//! command = ["{bin:chat-service}"]          # or ["python", "app.py"], ...
//! port = 3917
//! health = "/health"
//! env = { OPENAI_BASE_URL = "{recorder_url}/v1", PORT = "{port}" }
//! ```
//!
//! The first test that asks for it (a `service: Service` parameter, or
//! [`Service::start`]) decides, once per test process:
//! - nothing listens on the port: the service is started with `command`, in its own
//!   process group, with `env` (placeholders below) added to the test process's
//!   environment, and the tests wait for `health` to answer 2xx. It is stopped
//!   when the test process ends, however it ends (panics, `panic = "abort"`,
//!   Ctrl-C, SIGKILL): a small watchdog (`/bin/sh`) holds a pipe from the test
//!   process and stops the service's process group when that pipe closes.
//! - something already answers there (started by hand, by a script, by CI): it is
//!   reused as is and left running. It calls whatever its own environment points
//!   at; for its calls to be recorded that must be a recorder, e.g.
//!   `cargo run -p recorder-cli -- serve`.
//! - the port is held by a service that another, still running, test process
//!   started (nextest runs each test in its own process): that service talks to the
//!   other process's recorder, so this process waits for it to stop, then starts
//!   its own (up to `startup_timeout_secs`).
//!
//! Placeholders in `command` and `env`: `{recorder_url}` (the root of this test
//! process's loopback proxy, which routes each request by its `X-Recorder-Test-Id`
//! header to the test's own scope: same mode, folder and setup as the test),
//! `{port}`, `{root}` (the folder of `recorder.toml`) and `{bin:NAME}` (the path of
//! binary `NAME` of the package under test, which cargo builds for its integration
//! tests). `cwd` is relative to `{root}`.
//!
//! Each test gets a [`Service`] whose requests carry its test id; the service reads
//! it with [`TestIdLayer`](crate::propagate::TestIdLayer) and its outbound client
//! passes it on with `PropagateMiddleware` (`propagate`, feature `reqwest-middleware`).
//!
//! Starting services needs a Unix (Linux, macOS); elsewhere start the service
//! yourself and the tests reuse it.
//!
//! One job per module: `fixture` (the [`Service`] a test gets, and `pick`ing which
//! one), `process` (starting, reusing and stopping a service: once per process, port
//! locks, the watchdog), `health` (asking a service whether it is up) and `error`
//! ([`ServiceError`], why a service cannot be used).

mod error;
mod fixture;
mod health;
mod process;

pub use error::{PortHeld, Probe, ServiceError, Unhealthy};
pub use fixture::Service;
support! {
    pub use fixture::pick;
}
support! {
    pub use process::{binary, ensure, ensure_with, Running};
}

/// `RECORDER_SERVICE=<name>`: which `[services.<name>]` a `Service` parameter gets
/// when `recorder.toml` defines several.
pub const SERVICE_ENV: &str = crate::env::SERVICE;
