//! The runtime's integration tests that can share one process, in one test binary
//! (one link of the dependency tree instead of one per file): `cargo test -p
//! recorder-runtime --test integration`, one module per former file (`--test
//! integration adversarial::` runs one of them).
//!
//! The other files of `tests/` stay binaries of their own, because they need the
//! process to themselves:
//! - `budget`, `env_layers`, `moment_of_a_miss`, `reliability`, `rerecord`,
//!   `service_mode`: run their own binary again by test name (`--exact NAME`), as a
//!   child with its own variables.
//! - `timing`, `transports`: set `RECORDER_KEEP_TIMING` / `RECORDER_REPLAY_TIMING`,
//!   which would change how every other test of the process records and replays.
//! - `proxy`: checks the process's one loopback proxy itself (one server per process).
//! - `outside_a_test`: must be the first thing in its process to use the recorder (no
//!   TLS provider installed before it, no test started).
//!
//! Nothing here sets a variable the process reads once, re-runs its binary, or uses
//! `#[recorded_test]` (whose test ids, and so recordings folders, follow the module
//! path); the keys some tests set are under variables of their own, read per request.

#[path = "../fake_support/mod.rs"]
mod fake_support;

mod adversarial;
mod agent_traffic;
mod fake_upstream;
mod fixture_client;
mod fuzz;
mod layering;
mod mcp;
mod real_clients;
mod shards;
mod stdio;
mod stream_corpus;
mod upstreams;
mod variables;
