//! Upstream errors are recorded with their status and replayed as such.

use recorder_runtime::client::EmbeddingRequest;
use recorder_runtime::{recorded_test, Client, Error, Model};

/// A request the server rejects (no `input`) comes back as its 4xx, every time.
#[recorded_test(models = "embedding")]
async fn rejected_request_is_a_4xx(client: Client, embedding_model: Model) {
    let mut req = EmbeddingRequest::new(embedding_model.id(), ["x"]);
    req.input = serde_json::Value::Null;
    let err = client.embeddings(&req).await.unwrap_err();
    match err {
        Error::Api { status, body, .. } => {
            assert!((400..500).contains(&status), "{status}");
            assert!(body.contains("input"), "{body}");
        }
        other => panic!("expected an API error, got {other}"),
    }
}
