//! Text completions, plain and streamed.

use futures::StreamExt;
use recorder_runtime::client::CompletionRequest;
use recorder_runtime::{recorded_test, Client, Model};

/// A completion continues the prompt.
#[recorded_test(models = "text")]
async fn completes_a_prompt(client: Client, text_model: Model) {
    let req = CompletionRequest::new(text_model.id(), "The capital of France is")
        .max_tokens(8)
        .with("temperature", 0.0)
        .with("seed", 42);
    let done = client.completion(&req).await.unwrap();
    assert_eq!(done.choices.len(), 1);
    assert!(!done.text().is_empty());
    assert_eq!(done.extra["object"], "text_completion");
}

/// A streamed completion arrives piece by piece.
#[recorded_test(models = "text")]
async fn streams_a_completion(client: Client, text_model: Model) {
    let req = CompletionRequest::new(text_model.id(), "One, two, three,")
        .max_tokens(8)
        .with("temperature", 0.0)
        .with("seed", 42);
    let pieces: Vec<_> = client
        .completion_stream(&req)
        .await
        .unwrap()
        .collect()
        .await;
    assert!(pieces.len() > 2, "{} pieces", pieces.len());
    let text: String = pieces
        .into_iter()
        .map(|p| p.unwrap().text().to_string())
        .collect();
    assert!(!text.is_empty());
}
