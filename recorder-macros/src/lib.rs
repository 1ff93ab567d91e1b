//! The `#[recorded_test]` attribute. Use it through `recorder-runtime`, which
//! re-exports it: `use recorder_runtime::recorded_test;`.
//!
//! This crate is a thin shim: the parsing (`args.rs`), parameter injection
//! (`params.rs`), test naming (`names.rs`) and generation (`expand.rs`) are
//! ordinary functions with their own tests.

mod args;
mod errors;
mod expand;
mod module_guess;
mod names;
mod params;
mod runtime_path;
mod suites;

use proc_macro::TokenStream;

/// Turns one function into one `#[test]` per model combination, each recording or
/// replaying the function's API traffic.
///
/// ```no_run
/// use recorder_runtime::{recorded_test, Client, Model};
///
/// /// Answers using retrieved context.
/// #[recorded_test(models = "text,embedding")]
/// async fn answers_with_context(client: Client, text_model: Model, embedding_model: Model) {
///     // ... call the API through `client` (or any client pointed at its base URL)
///     let _ = (client, text_model, embedding_model);
/// }
/// # fn main() {}
/// ```
///
/// With `text = ["smollm2-135m"]` and `embedding = ["e5-small", "e5-base"]` configured,
/// this generates
///
/// ```text
/// answers_with_context::text_smollm2_135m__embedding_e5_small
/// answers_with_context::text_smollm2_135m__embedding_e5_base
/// ```
///
/// so `cargo test answers_with_context` runs every combination and
/// `cargo test smollm2` every test of one model. The function itself is kept as it is.
///
/// # Options
/// | option | values | meaning |
/// |---|---|---|
/// | `models` | `"text,embedding"`: any of `text`, `vision`, `embedding`, `rerank`, `safety`, `judge` | one test per combination of the kinds' models |
/// | `setup` | a setup of `recorder.toml` | pin this test to that setup |
/// | `mode` | `replay`, `record-if-missing`, `record`, `live` | pin the mode, whatever `RECORD_MODE` says |
/// | `timeout` | `"500ms"`, `"30s"`, `"2m"` | fail the test after that long |
/// | `flavor` | `current_thread` (default), `multi_thread` | the tokio runtime built for each `async fn` test |
/// | `worker_threads` | a number | threads of the `multi_thread` runtime |
/// | `crate` | `"rr"` | the name of the `recorder-runtime` dependency, if renamed |
///
/// # Parameters
/// Fixtures are injected by type (last path segment) and name:
/// `RecordingContext` (the test's context), `Client` (a client for the recorded
/// API), `Model` (one per requested kind; with several kinds, name it
/// `<kind>_model` or `<kind>`), `embedding_dimension: usize` (768 unless the setup
/// or `RECORDER_EMBEDDING_DIMENSION` says otherwise), and `Service` (the
/// service under test of `recorder.toml`). The function may return `()` or
/// `Result<(), E>` with `E: Debug`. `Client` is the recorder's own client: another
/// library's (`reqwest::Client`, `async_openai::Client<_>`, or one imported as
/// `Client`) is a compile error at the parameter saying to take `ctx:
/// RecordingContext` and build it from `ctx.reqwest_client()`, `ctx.openai_service()`
/// or `ctx.base_url()`.
///
/// # Where the models come from
/// From `recorder.toml` (searched from the crate's folder upward).
/// The setup is the test's `setup = "..."`, else `RECORDER_SETUP`, else the setup
/// of the test's suite, else `default_setup` (`recorder_config::choose_setup`);
/// `RECORDER_<KIND>_MODELS=a,b` and `RECORDER_EMBEDDING_DIMENSION` override
/// whatever the setup says (explicit variables always win). Changing any of these
/// variables, or editing, creating or deleting the file, makes cargo rebuild the
/// tests with the new set. A test that asks for models with no `recorder.toml`
/// found and no variable giving them is a compile error naming the folders searched
/// and `cargo recordings init`; a requested kind that an existing file gives no
/// model gives one test, ignored with the reason: `no text model configured: set
/// RECORDER_TEXT_MODELS or choose a setup`. (A file created later in a folder
/// nearer the crate than the one read is one cargo cannot watch: the tests then fail
/// saying to touch their source file.)
///
/// # Suites
/// `[suites.<name>] roots = [...]` (and `exclude = [...]`) groups tests by module
/// path. With `RECORDER_SUITE=<name>` (tracked like the other variables), the tests
/// outside that suite are generated ignored, with the reason: ``not in suite
/// `service` (RECORDER_SUITE=service); it belongs to suite `base` (module
/// `chat`)``. The macro places a test by its file (`tests/chat.rs` is crate `chat`)
/// and the inline `mod` blocks around it there; a function it does not find there
/// (made by `macro_rules!`) is placed in the file's module, and a file outside
/// `src/`, `tests/`, `examples/` and `benches/` in the crate root. No test outside
/// the suite passes without running: one placed wrongly, or an ignored one run with
/// `cargo test -- --ignored`, fails with the reason. Two functions of one name in
/// one file, with the same tokens, one in the suite and one not, are a compile
/// error, as is an unknown suite name (listing the known ones).
///
/// # Other attributes
/// Doc comments, `#[cfg]`, `#[cfg_attr]`, lint levels (`#[allow]`...),
/// `#[should_panic]` and `#[ignore]` apply to every generated test (`#[cfg]` also
/// to the kept function and the module). Other attributes stay on the function.
///
/// # Renamed dependency
/// Generated code reaches the runtime as `::recorder_runtime`. If `Cargo.toml`
/// renames it (`rr = { package = "recorder-runtime", ... }`) the macro finds the
/// new name there; where it cannot (a re-export through another crate), say it:
///
/// ```no_run
/// # extern crate recorder_runtime as rr;
/// #[rr::recorded_test(crate = "rr", models = "text")]
/// async fn hello(client: rr::Client, model: rr::Model) {
///     let _ = (client, model);
/// }
/// # fn main() {}
/// ```
///
/// # Errors
/// Mistakes are compile errors at the offending token, all reported at once, with
/// the function still emitted so that IDEs keep working: an unknown or duplicate
/// option, an unknown kind, a bad `mode`, `timeout` or `flavor` value, a parameter
/// that cannot be injected, a method, a generic function, or an item that is not a
/// function.
#[proc_macro_attribute]
pub fn recorded_test(args: TokenStream, item: TokenStream) -> TokenStream {
    let source_file = proc_macro::Span::call_site().local_file();
    expand::recorded_test(args.into(), item.into(), source_file.as_deref()).into()
}
