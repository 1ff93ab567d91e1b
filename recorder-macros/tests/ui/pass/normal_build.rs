//! Outside `cargo test` the generated tests vanish; the annotated functions and
//! modules still compile without warnings.
#![deny(warnings)]

use recorder_runtime::{recorded_test, Client, Model, RecordingContext};

/// Documented.
#[recorded_test(models = "text,embedding", timeout = "30s", flavor = "multi_thread")]
async fn answers(ctx: RecordingContext, text_model: Model, embedding_model: Model, embedding_dimension: usize) {
    let _ = (ctx, text_model, embedding_model, embedding_dimension);
}

#[recorded_test]
fn plain(client: Client) -> Result<(), String> {
    let _ = client;
    Ok(())
}

fn main() {}
