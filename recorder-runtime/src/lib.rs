//! Record real AI API traffic once, replay it in every `cargo test` afterwards:
//! offline, fast and deterministic.
//!
//! Start with [`recorded_test`] and the README. This crate holds everything the
//! macro's generated tests call, organised so that data flows one way:
//! request -> [`identity`] -> [`store`] -> response, with [`engine`] as the one
//! entry point every transport uses.
//!
//! # Modes
//! `RECORD_MODE` selects one of five [`Mode`]s: `replay` (the default: serve from
//! recordings, a miss fails the test), `record-if-missing`, `record` (always call
//! the real API and overwrite), `live` (call the real API, read and write
//! nothing) and `verify` (call the real API, write nothing, and report what differs
//! from the recordings: see [`drift`]). Any other value is an error naming the five. `RECORDING_DIR`
//! overrides the recordings folder (default: `recordings/` next to `recorder.toml`, or at the workspace root when there is none).
//!
//! # Identity
//! A request is identified by the sha256 of a canonical JSON of its method,
//! endpoint, body and test id; the exact form is in [`identity`].
//!
//! # Files
//! One pretty JSON file per request, `<hash>.json`, in a folder per test; the
//! format is in [`recording`], the layout in [`store`], normalization of volatile
//! fields in [`normalize`], stream framing in [`stream`].

//!
//! # Public surface
//! What a test uses is re-exported at the root: [`recorded_test`], [`Model`],
//! [`Client`], [`RecordingContext`], [`Mode`], [`Error`] and, with the `proxy`
//! feature, [`Service`]; the adapters live in `transport` (async-openai,
//! reqwest-middleware) and [`propagate`]. These follow semver.
//!
//! The other modules ([`engine`], [`store`], [`recording`], [`identity`],
//! [`normalize`], [`secrets`], [`idmap`], ...) are public because
//! `cargo-recordings` is built on them, and documented so the design can be read;
//! until 1.0 they are unstable and may change in any release. `__private` is
//! what the macro's expansion calls: it only re-exports, and is not an API.

pub mod answer;
pub mod body;
pub mod compare;
pub mod compression;
pub mod config;
pub mod describe;
pub mod diff;
pub mod drift;
pub mod engine;
pub mod env;
pub mod error;
pub mod headers;
mod hex;
pub mod identity;
pub mod idmap;
mod json;
pub mod mcp;
pub mod mode;
pub mod model;
pub mod multipart;
pub mod normalize;
mod query;
pub mod recording;
pub mod report;
pub mod secrets;
pub mod stdio;
pub mod store;
pub mod stream;
pub mod time;
pub mod tolerance;
pub mod usage;

pub mod client;
pub mod context;
#[cfg(feature = "proxy")]
pub mod control;
mod harness;
pub mod propagate;
#[cfg(feature = "proxy")]
pub mod proxy;
pub mod registry;
#[cfg(feature = "proxy")]
pub mod service;
#[cfg(any(feature = "async-openai", feature = "reqwest-middleware"))]
pub mod transport;

pub use error::{Error, Result};
pub use mode::Mode;

#[doc(hidden)]
pub mod __private;

pub use client::Client;
pub use context::RecordingContext;
pub use model::Model;
pub use recorder_macros::recorded_test;
#[cfg(feature = "proxy")]
pub use service::Service;
