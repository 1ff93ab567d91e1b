//! Outside `cargo test` the generated tests vanish; the annotated functions and
//! modules still compile without warnings. `cargo test -p recorder-macros` builds
//! this example as a plain binary (no `cfg(test)`), so a warning fails it; it is the
//! compile-pass case of the trybuild suite (`tests/ui.rs`), kept out of trybuild
//! because one pass case makes trybuild build everything instead of checking it.
#![deny(warnings)]

use recorder_runtime::{recorded_test, Client, Model, RecordingContext};

/// Documented.
#[recorded_test(models = "text,embedding", timeout = "30s", flavor = "multi_thread")]
async fn answers(
    ctx: RecordingContext,
    text_model: Model,
    embedding_model: Model,
    embedding_dimension: usize,
) {
    let _ = (ctx, text_model, embedding_model, embedding_dimension);
}

#[recorded_test]
fn plain(client: Client) -> Result<(), String> {
    let _ = client;
    Ok(())
}

fn main() {}
