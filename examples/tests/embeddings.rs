//! Embeddings: dimension and meaning.

use examples::cosine;
use recorder_runtime::client::EmbeddingRequest;
use recorder_runtime::{recorded_test, Client, Model};

/// Every vector has the configured dimension, one per input, in order.
#[recorded_test(models = "embedding")]
async fn have_the_configured_dimension(
    client: Client,
    embedding_model: Model,
    embedding_dimension: usize,
) {
    let out = client
        .embeddings(&EmbeddingRequest::new(
            embedding_model.id(),
            ["first text", "second text"],
        ))
        .await
        .unwrap();
    assert_eq!(out.data.len(), 2);
    for (i, e) in out.data.iter().enumerate() {
        assert_eq!(e.index as usize, i);
        assert_eq!(e.embedding.len(), embedding_dimension);
    }
}

/// Texts about the same thing are closer than unrelated ones.
#[recorded_test(models = "embedding")]
async fn put_similar_texts_closer(client: Client, embedding_model: Model) {
    let texts = [
        "The cat sleeps on the sofa.",
        "A kitten naps on the couch.",
        "Quarterly tax filings are due in April.",
    ];
    let out = client
        .embeddings(&EmbeddingRequest::new(embedding_model.id(), texts))
        .await
        .unwrap();
    let v: Vec<&[f64]> = out.data.iter().map(|e| e.embedding.as_slice()).collect();
    assert!(
        cosine(v[0], v[1]) > cosine(v[0], v[2]),
        "similar texts should be closer"
    );
}
