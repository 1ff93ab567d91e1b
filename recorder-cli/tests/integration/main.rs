//! Every integration test of `cargo recordings`, in one test binary (one link of the
//! dependency tree instead of one per file): `cargo test -p recorder-cli --test
//! integration`, one module per former file (`--test integration cli::` runs one of
//! them; `cli::migrate` and `cli::review` are modules of `cli`).
//!
//! None needs a process of its own: they run `cargo-recordings` (and `cargo`,
//! Python, fake `gh`) as child processes with the variables given to the child, and
//! in-process they only set keys under variables of their own, read per request.
//! Data is found from `CARGO_MANIFEST_DIR` (`tests/data`, `tests/ogx_clients.py`), not
//! from this file's place.

mod support;

mod adversarial_serve;
mod cli;
mod index;
mod mcp_stdio;
mod ogx_corpus;
mod options;
mod outside_workspace;
mod python_clients;
mod rerecord_workflow;
mod serve_control;
