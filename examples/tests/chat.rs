//! Chat completions through the fixture client: plain, streamed, stopped early,
//! and JSON output. Assertions check structure, never the model's prose.

use futures::StreamExt;
use recorder_runtime::client::{ChatRequest, Message};
use recorder_runtime::{recorded_test, Client, Model};

fn ask(model: &Model, question: &str) -> ChatRequest {
    ChatRequest::new(model.id())
        .message(Message::user(question))
        .max_tokens(24)
        .temperature(0.0)
        .seed(42)
}

/// A plain chat completion has one choice with assistant text and usage.
#[recorded_test(models = "text")]
async fn answers_a_question(client: Client, text_model: Model) {
    let answer = client
        .chat(&ask(&text_model, "What is the capital of France?"))
        .await
        .unwrap();
    assert_eq!(answer.choices.len(), 1);
    assert_eq!(answer.choices[0].message.role, "assistant");
    assert!(!answer.text().trim().is_empty());
    let usage = answer.usage.expect("usage is reported");
    assert!(usage.completion_tokens > 0 && usage.completion_tokens <= 24);
    assert_eq!(
        usage.total_tokens,
        usage.prompt_tokens + usage.completion_tokens
    );
}

/// A streamed answer arrives in several chunks; the last one says why it stopped.
#[recorded_test(models = "text")]
async fn streams_an_answer(client: Client, text_model: Model) {
    let mut chunks = client
        .chat_stream(&ask(&text_model, "Count from one to five."))
        .await
        .unwrap();
    let (mut text, mut count, mut finish) = (String::new(), 0, None);
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.unwrap();
        count += 1;
        text.push_str(chunk.text());
        if let Some(reason) = chunk.choices.first().and_then(|c| c.finish_reason.clone()) {
            finish = Some(reason);
        }
    }
    assert!(count > 3, "got {count} chunks");
    assert!(!text.is_empty());
    assert!(
        matches!(finish.as_deref(), Some("stop" | "length")),
        "{finish:?}"
    );
}

/// Reading two chunks and dropping the stream is fine: the recording still holds
/// the whole stream, so the replay of a later full read would work too.
#[recorded_test(models = "text")]
async fn stops_reading_early(client: Client, text_model: Model) {
    let mut chunks = client
        .chat_stream(&ask(&text_model, "Tell me a long story."))
        .await
        .unwrap();
    let first = chunks.next().await.unwrap().unwrap();
    let _second = chunks.next().await.unwrap().unwrap();
    drop(chunks);
    assert!(
        first.id.starts_with("rec-") || first.id.starts_with("chatcmpl"),
        "{}",
        first.id
    );
}

/// JSON output constrained by a schema parses as JSON with the asked fields.
#[recorded_test(models = "text")]
async fn answers_in_json(client: Client, text_model: Model) {
    let schema = serde_json::json!({
        "type": "json_object",
        "schema": {
            "type": "object",
            "properties": { "name": { "type": "string" }, "age": { "type": "integer" } },
            "required": ["name", "age"]
        }
    });
    let req = ask(
        &text_model,
        "Describe a person as JSON with a name and an age.",
    )
    .max_tokens(48)
    .response_format(schema);
    let answer = client.chat(&req).await.unwrap();
    let person: serde_json::Value =
        serde_json::from_str(answer.text()).expect("the answer is JSON");
    assert!(person["name"].is_string(), "{person}");
    assert!(person["age"].is_i64(), "{person}");
}

/// A system prompt and a multi-turn conversation.
#[recorded_test(models = "text")]
async fn follows_a_conversation(client: Client, text_model: Model) {
    let req = ChatRequest::new(text_model.id())
        .message(Message::system("You answer in one short sentence."))
        .message(Message::user("My name is Ada."))
        .message(Message::assistant("Nice to meet you, Ada."))
        .message(Message::user("What is my name?"))
        .max_tokens(16)
        .temperature(0.0)
        .seed(42);
    let answer = client.chat(&req).await.unwrap();
    assert!(
        answer.usage.unwrap().prompt_tokens > 20,
        "the whole conversation was sent"
    );
    assert!(matches!(
        answer.choices[0].finish_reason.as_deref(),
        Some("stop" | "length")
    ));
}
