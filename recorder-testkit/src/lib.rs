//! Test helpers of the recorder workspace (not published).
//!
//! [`FakeUpstream`] is a fake OpenAI-compatible, Ollama and Anthropic server that
//! speaks the real wire formats over real HTTP on loopback: JSON bodies, Server-Sent
//! Events (with `event:` lines for the Responses and Messages APIs), NDJSON, multipart
//! uploads, compressed answers. It issues random ids and refuses ids it never issued,
//! as real servers do, so that recording against it shows what the recorder must
//! normalize and map, and nothing else.
//!
//! [`mcp_stdio`] is a fake MCP server over stdio, in process or as the
//! `fake-mcp-stdio` binary a test launches.
//!
//! ```
//! use recorder_testkit::FakeUpstream;
//! let fake = FakeUpstream::start();
//! assert!(fake.openai_url().ends_with("/v1"));
//! ```
//!
//! [`scratch_crate`] writes and builds a user's crate outside the workspace.
//! Everything but it needs the default `fake` feature.

#[cfg(feature = "fake")]
pub mod fake;
#[cfg(feature = "fake")]
pub mod mcp_stdio;
pub mod scratch_crate;

#[cfg(feature = "fake")]
pub use fake::FakeUpstream;

use std::path::{Path, PathBuf};

/// A curated subset of the OGX corpus, committed with its LICENSE (MIT): enough of
/// every kind of exchange for the default tests (see `data/ogx/README.md`).
pub const OGX_SUBSET: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data/ogx");

/// Real OGX recordings of every other format OGX writes (raw HTTP exchanges,
/// google-genai calls, tool-runtime calls, files without a test id), and two
/// google-genai calls derived from a real one to carry tools and config, committed with
/// the LICENSE (MIT; see `data/ogx-formats/README.md`).
pub const OGX_FORMATS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data/ogx-formats");

/// The whole OGX corpus (`../shared/corpus/ogx` next to the workspace), when this
/// checkout has it; tests that use it run on the subset otherwise.
pub fn ogx_full_corpus() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus/ogx");
    p.is_dir().then_some(p)
}
