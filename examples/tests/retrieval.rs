//! A small retrieval flow with two kinds of model: embed documents, pick the one
//! closest to the question, answer with it as context. One test per combination
//! of text and embedding models.

use examples::nearest;
use recorder_runtime::client::{ChatRequest, EmbeddingRequest, Message};
use recorder_runtime::{recorded_test, Client, Model};

const DOCS: [&str; 3] = [
    "The Eiffel Tower is in Paris and was finished in 1889.",
    "Photosynthesis turns light, water and carbon dioxide into sugar.",
    "The Rust compiler checks borrows at compile time.",
];

#[recorded_test(models = "text,embedding")]
async fn answers_with_context(client: Client, text_model: Model, embedding_model: Model) {
    let question = "When was the Eiffel Tower finished?";
    let mut inputs = vec![question];
    inputs.extend(DOCS);
    let out = client
        .embeddings(&EmbeddingRequest::new(embedding_model.id(), inputs))
        .await
        .unwrap();
    let vectors: Vec<Vec<f64>> = out.data.into_iter().map(|e| e.embedding).collect();
    let best = nearest(&vectors[0], &vectors[1..]);
    assert_eq!(best, 0, "the tower document is the closest");

    let req = ChatRequest::new(text_model.id())
        .message(Message::system(format!(
            "Answer from this context only: {}",
            DOCS[best]
        )))
        .message(Message::user(question))
        .max_tokens(24)
        .temperature(0.0)
        .seed(42);
    let answer = client.chat(&req).await.unwrap();
    assert!(!answer.text().trim().is_empty());
}
