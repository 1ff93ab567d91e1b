//! Server mode: the code under test is a service that calls models
//! (`src/bin/chat-service.rs`), driven over HTTP.
//!
//! `[services.chat]` in `recorder.toml` starts it once for this test process (or
//! reuses one already listening on its port), with its model base URLs pointing at
//! this process's recorder. Each request a `Service` sends carries the test's id;
//! the service passes it on with its model calls, so they are recorded in, and
//! replayed from, this test's own folder, in the same modes as every other test.
//! The tests run concurrently against the one service; each gets its own recordings.

use recorder_runtime::{recorded_test, Model, Service};
use serde_json::{json, Value};

async fn similarity(service: &Service, model: &Model, a: &str, b: &str) -> f64 {
    let resp = service
        .post_json("/similar", &json!({ "a": a, "b": b, "model": model.id() }))
        .await
        .unwrap();
    let status = resp.status();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(status, 200, "{body}");
    body["similarity"].as_f64().unwrap()
}

/// The service answers a question with the text model.
#[recorded_test(models = "text")]
async fn answers_a_question(service: Service, text_model: Model) {
    let resp = service
        .post_json(
            "/chat",
            &json!({ "question": "What is the capital of France?", "model": text_model.id() }),
        )
        .await
        .unwrap();
    let status = resp.status();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(
        !body["answer"].as_str().unwrap().trim().is_empty(),
        "{body}"
    );
    let tokens = body["completion_tokens"].as_u64().unwrap();
    assert!(tokens > 0 && tokens <= 32, "{body}");
}

/// Close sentences are more similar than unrelated ones. The service embeds one
/// of the two texts from a spawned task: that call is recorded in this test too.
#[recorded_test(models = "embedding")]
async fn ranks_similar_sentences_higher(service: Service, embedding_model: Model) {
    let close = similarity(
        &service,
        &embedding_model,
        "The cat sits on the mat.",
        "A cat is sitting on a mat.",
    )
    .await;
    let far = similarity(
        &service,
        &embedding_model,
        "The cat sits on the mat.",
        "Interest rates rose again this quarter.",
    )
    .await;
    assert!(close > far, "close {close} <= far {far}");
    assert!((-1.0..=1.0).contains(&close));
}

/// Both models in one test, through one service.
#[recorded_test(models = "text,embedding")]
async fn answers_and_compares(service: Service, text_model: Model, embedding_model: Model) {
    let resp = service
        .post_json(
            "/chat",
            &json!({ "question": "Name a primary color.", "model": text_model.id() }),
        )
        .await
        .unwrap();
    let body: Value = resp.json().await.unwrap();
    let answer = body["answer"]
        .as_str()
        .unwrap_or_else(|| panic!("{body}"))
        .to_owned();
    let same = similarity(&service, &embedding_model, &answer, &answer).await;
    assert!(same > 0.99, "a text is most similar to itself: {same}");
}

/// The service's own endpoints work without a test id too (no recording involved).
#[recorded_test]
async fn is_healthy(service: Service) {
    let resp = reqwest::get(service.url("/health")).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.unwrap(), "ok");
}
