//! Test helpers of the recorder workspace (not published).
//!
//! [`FakeUpstream`] is a fake OpenAI-compatible, Ollama and Anthropic server that
//! speaks the real wire formats over real HTTP on loopback: JSON bodies, Server-Sent
//! Events (with `event:` lines for the Responses and Messages APIs), NDJSON, multipart
//! uploads, compressed answers. It issues random ids and refuses ids it never issued,
//! as real servers do, so that recording against it shows what the recorder must
//! normalize and map, and nothing else.
//!
//! ```
//! use recorder_testkit::FakeUpstream;
//! let fake = FakeUpstream::start();
//! assert!(fake.openai_url().ends_with("/v1"));
//! ```

pub mod fake;

pub use fake::FakeUpstream;
