//! Record real AI API traffic once, replay it in every `cargo test` afterwards:
//! offline, fast and deterministic.
//!
//! Start with [`recorded_test`] and the README. A test names what it needs as
//! parameters ([`Client`], [`RecordingContext`], [`Model`], with the `proxy` feature
//! [`Service`]) and the macro hands them over; everything it reaches goes through one
//! engine, whatever the transport.
//!
//! # Modes
//! `RECORD_MODE` selects one of five [`Mode`]s: `replay` (the default: serve from
//! recordings, a miss fails the test), `record-if-missing`, `record` (always call
//! the real API and overwrite), `live` (call the real API, read and write
//! nothing) and `verify` (call the real API, write nothing, and report what differs
//! from the recordings). Any other value is an error naming the five. `RECORDING_DIR`
//! overrides the recordings folder (default: `recordings/` next to `recorder.toml`, or
//! at the workspace root when there is none).
//!
//! # Identity
//! A request is identified by the sha256 of a canonical JSON of its method,
//! endpoint, body and test id (see the README's "Recording format and upgrades"; the
//! exact form is documented in the internal `identity` module).
//!
//! # Files
//! One pretty JSON file per request, `<hash>.json`, in a folder per test: volatile
//! fields normalized, server-issued ids replaced by placeholders, secrets redacted, a
//! stream kept as its frames. `cargo recordings` lists, reviews, prunes and checks
//! them.
//!
//! # Public surface
//! What a test uses, and what follows semver: the root re-exports ([`recorded_test`],
//! [`Model`], [`Client`], [`RecordingContext`], [`Mode`], [`Error`], [`Result`] and,
//! with the `proxy` feature, [`Service`]), and the modules [`client`] (the fixture
//! client's requests and answers), [`context`], [`mode`], [`model`], [`error`],
//! [`propagate`] (server mode), [`mcp`] (MCP's rules through the recorder),
//! [`stdio`] (the session `ctx.stdio_server` starts, with the `stdio` feature, and
//! rmcp's transport over it, with `rmcp`), and with their features `service` and
//! `transport` (the async-openai and reqwest-middleware adapters).
//!
//! Everything else (the engine, the store, the recording format, identity,
//! normalization, secrets, the proxy, ...) is private. The hidden `_support` feature
//! makes it public for `cargo-recordings`, the workspace's tests, `fuzz/` and
//! `bench/peers`: it is not a public API and has no semver guarantees. `__private` is
//! what the macro's expansion calls: it only re-exports, and is not an API either.

/// Declares items that are public only with the `_support` feature: `pub` with it,
/// `pub(crate)` without, so that the paths `cargo-recordings`, the tests, `fuzz/` and
/// `bench/peers` use stay the same and a user's `cargo doc` shows only what a test
/// needs. `support!(mods a, b, ...)` declares modules; `support!(pub ...)` one item
/// (a function, method, type, constant or `use`).
macro_rules! support {
    (mods $($(#[$meta:meta])* $name:ident),* $(,)?) => {
        $(
            #[cfg(feature = "_support")]
            $(#[$meta])*
            pub mod $name;
            #[cfg(not(feature = "_support"))]
            $(#[$meta])*
            // Without `_support` the items only the CLI, the tests, fuzz/ or bench/peers
            // use are unused here; with it (every workspace build, CI's clippy) they are
            // public, and dead code and unused imports are found as before.
            #[allow(dead_code, unused_imports)]
            pub(crate) mod $name;
        )*
    };
    ($(#[$meta:meta])* pub $($item:tt)*) => {
        #[cfg(feature = "_support")]
        $(#[$meta])*
        pub $($item)*
        #[cfg(not(feature = "_support"))]
        $(#[$meta])*
        #[allow(dead_code, unused_imports)]
        pub(crate) $($item)*
    };
}

// What a test uses (see "Public surface" above).
pub mod client;
pub mod context;
pub mod error;
pub mod mcp;
pub mod mode;
pub mod model;
pub mod propagate;
#[cfg(feature = "proxy")]
pub mod service;
// stdio: `StdioServer` and `McpStdio` are a test's; the rest is behind `support!`.
pub mod stdio;
#[cfg(any(feature = "async-openai", feature = "reqwest-middleware"))]
pub mod transport;

// Public only with `_support`.
support!(mods
    answer,
    body,
    compare,
    compression,
    config_cache,
    describe,
    diff,
    drift,
    engine,
    env,
    headers,
    identity,
    idmap,
    multipart,
    normalize,
    recording,
    registry,
    report,
    secrets,
    store,
    stream,
    time,
    tolerance,
    usage,
    #[cfg(feature = "proxy")]
    control,
    #[cfg(feature = "proxy")]
    proxy,
);

mod harness;
mod hex;
mod json;
mod query;

#[doc(hidden)]
pub mod __private;

pub use client::Client;
pub use context::RecordingContext;
pub use error::{Error, Result};
pub use mode::Mode;
pub use model::Model;
pub use recorder_macros::recorded_test;
#[cfg(feature = "proxy")]
pub use service::Service;
