//! Real clients through the loopback proxy: async-openai, ollama-rs and raw
//! reqwest, each recording from the fake upstream (real wire formats) and replaying
//! with the fake stopped.

use crate::fake_support::*;
use async_openai::config::OpenAIConfig;
use async_openai::error::OpenAIError;
use async_openai::types::chat::{
    ChatCompletionRequestUserMessageArgs, CreateChatCompletionRequestArgs,
};
use async_openai::types::embeddings::CreateEmbeddingRequestArgs;
use futures::StreamExt;
use ollama_rs::generation::chat::request::ChatMessageRequest;
use ollama_rs::generation::chat::ChatMessage;
use ollama_rs::generation::embeddings::request::{EmbeddingsInput, GenerateEmbeddingsRequest};
use ollama_rs::Ollama;
use recorder_runtime::stream::{self, StreamFormat};
use recorder_runtime::{Mode, RecordingContext};
use recorder_testkit::fake::FakeUpstream;
use serde_json::{json, Value};

fn openai(ctx: &RecordingContext) -> async_openai::Client<OpenAIConfig> {
    init();
    // The key is a placeholder: the proxy drops it (and adds the setup's, if any).
    async_openai::Client::with_config(
        OpenAIConfig::new()
            .with_api_base(ctx.base_url())
            .with_api_key("x"),
    )
}

fn chat_request(
    model: &str,
    text: &str,
    stream: bool,
) -> async_openai::types::chat::CreateChatCompletionRequest {
    let mut args = CreateChatCompletionRequestArgs::default();
    args.model(model)
        .messages([ChatCompletionRequestUserMessageArgs::default()
            .content(text)
            .build()
            .unwrap()
            .into()]);
    if stream {
        args.stream(true);
    }
    args.build().unwrap()
}

/// Chat (plain and streamed), embeddings, models and an API error through async-openai.
async fn openai_session(ctx: &RecordingContext) -> Value {
    let client = openai(ctx);
    let plain = client
        .chat()
        .create(chat_request("fake-chat", "plain via async-openai", false))
        .await
        .unwrap();
    let plain_text = plain.choices[0].message.content.clone().unwrap();
    assert!(plain_text.contains("plain via async-openai"));

    let mut stream = client
        .chat()
        .create_stream(chat_request("fake-chat", "streamed via async-openai", true))
        .await
        .unwrap();
    let (mut chunks, mut text) = (0, String::new());
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.unwrap();
        assert_eq!(chunk.object, "chat.completion.chunk");
        chunks += 1;
        text.push_str(
            chunk
                .choices
                .first()
                .and_then(|c| c.delta.content.as_deref())
                .unwrap_or(""),
        );
    }
    assert!(
        chunks >= 12 && text.contains("streamed via async-openai"),
        "{chunks}: {text}"
    );

    let emb = client
        .embeddings()
        .create(
            CreateEmbeddingRequestArgs::default()
                .model("fake-embed")
                .input(["one", "two"])
                .build()
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(emb.data.len(), 2);
    assert!(emb.data.iter().all(|e| e.embedding.len() == 8));

    let models = client.models().list().await.unwrap();
    let ids: Vec<String> = models.data.iter().map(|m| m.id.clone()).collect();

    let err = client
        .chat()
        .create(chat_request("missing-model", "hello", false))
        .await
        .unwrap_err();
    let OpenAIError::ApiError(api) = err else {
        panic!("expected an API error, got {err:?}")
    };
    assert_eq!(api.status_code.as_u16(), 404);
    assert_eq!(api.api_error.code.as_deref(), Some("model_not_found"));

    json!({
        "plain": plain_text,
        "stream": [chunks, text],
        "embeddings": emb.data.iter().map(|e| e.embedding.clone()).collect::<Vec<_>>(),
        "models": ids,
        "error": api.api_error.message,
    })
}

#[tokio::test]
async fn async_openai_records_and_replays_through_the_proxy() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeUpstream::start();
    let id = "real_clients::async_openai";
    let rec = fake_ctx(id, Mode::Record, dir.path(), &fake);
    let recorded = openai_session(&rec).await;
    assert_clean(&rec);
    assert_eq!(rec.counts().recorded, 5);
    fake.stop();
    let rep = fake_ctx(id, Mode::Replay, dir.path(), &fake);
    let replayed = openai_session(&rep).await;
    assert_clean(&rep);
    assert_eq!(rep.counts().replayed, 5);
    assert_eq!(recorded, replayed);
}

/// ollama-rs appends `api/...` to its URL as text (`format!("{}api/chat", url)`), so
/// the base needs a trailing slash to keep the context's path prefix: without it the
/// request goes to `/s/<token>api/chat`, which the proxy does not know.
fn ollama(ctx: &RecordingContext) -> Ollama {
    Ollama::try_new(ctx.ollama_url()).unwrap()
}

/// Streamed chat, embeddings and the local model list through ollama-rs.
async fn ollama_session(ctx: &RecordingContext) -> Value {
    let client = ollama(ctx);
    let request = ChatMessageRequest::new(
        "fake-chat".into(),
        vec![ChatMessage::user("streamed via ollama-rs".into())],
    );
    let mut stream = client.send_chat_messages_stream(request).await.unwrap();
    let mut lines = Vec::new();
    while let Some(line) = stream.next().await {
        lines.push(line.expect("a well-formed line"));
    }
    assert!(lines.len() >= 11, "{} lines", lines.len());
    let last = lines.last().unwrap();
    assert!(last.done);
    assert!(last
        .final_data
        .as_ref()
        .is_some_and(|f| f.eval_count as usize == lines.len() - 1));
    let text: String = lines.iter().map(|l| l.message.content.clone()).collect();
    assert!(text.contains("streamed via ollama-rs"));

    let emb = client
        .generate_embeddings(GenerateEmbeddingsRequest::new(
            "fake-embed".into(),
            EmbeddingsInput::Multiple(vec!["a".into(), "b".into()]),
        ))
        .await
        .unwrap();
    assert_eq!(emb.embeddings.len(), 2);
    assert!(emb.embeddings.iter().all(|e| e.len() == 8));

    let models: Vec<String> = client
        .list_local_models()
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.name)
        .collect();
    assert_eq!(models, ["fake-chat:latest", "fake-embed:latest"]);
    json!({ "chat": [lines.len(), text], "embeddings": emb.embeddings, "models": models })
}

#[tokio::test]
async fn ollama_rs_records_and_replays_through_the_proxy() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeUpstream::start();
    let id = "real_clients::ollama_rs";
    let rec = fake_ctx(id, Mode::Record, dir.path(), &fake);
    let recorded = ollama_session(&rec).await;
    assert_clean(&rec);
    assert_eq!(rec.counts().recorded, 3);
    let paths: Vec<String> = fake.requests().iter().map(|r| r.path.clone()).collect();
    assert_eq!(paths, ["/api/chat", "/api/embed", "/api/tags"]);
    fake.stop();
    let rep = fake_ctx(id, Mode::Replay, dir.path(), &fake);
    let replayed = ollama_session(&rep).await;
    assert_clean(&rep);
    assert_eq!(rep.counts().replayed, 3);
    assert_eq!(recorded, replayed);
}

/// Raw reqwest reading SSE bytes as they come: (chunk count, body bytes).
async fn raw_sse(ctx: &RecordingContext) -> (usize, Vec<u8>) {
    let body = json!({"model": "fake-chat", "stream": true, "stream_options": {"include_usage": true}, "messages": [{"role": "user", "content": "raw bytes"}]});
    let resp = http()
        .post(format!("{}/chat/completions", ctx.base_url()))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let mut bytes = resp.bytes_stream();
    let (mut chunks, mut all) = (0, Vec::new());
    while let Some(chunk) = bytes.next().await {
        chunks += 1;
        all.extend_from_slice(&chunk.unwrap());
    }
    (chunks, all)
}

#[tokio::test]
async fn raw_reqwest_reads_sse_bytes_through_the_proxy() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeUpstream::start();
    let id = "real_clients::raw_reqwest";
    let rec = fake_ctx(id, Mode::Record, dir.path(), &fake);
    let (_, recorded) = raw_sse(&rec).await;
    assert_clean(&rec);
    let (_, file) = only_recording(&rec);
    fake.stop();

    let rep = fake_ctx(id, Mode::Replay, dir.path(), &fake);
    let (chunks, replayed) = raw_sse(&rep).await;
    assert_clean(&rep);
    // Replay sends the recorded frames, one chunk each, in their wire form.
    let frames: Vec<stream::Frame> =
        serde_json::from_value(file["response"]["stream"]["frames"].clone()).unwrap();
    assert_eq!(replayed, stream::to_wire(StreamFormat::Sse, &frames));
    assert!(chunks > 1);
    let (a, b) = (
        sse_data(std::str::from_utf8(&recorded).unwrap()),
        sse_data(std::str::from_utf8(&replayed).unwrap()),
    );
    assert_eq!(a.len(), b.len());
    assert_eq!(chat_text(&a), chat_text(&b));
    let usage =
        |d: &[String]| serde_json::from_str::<Value>(&d[d.len() - 2]).unwrap()["usage"].clone();
    assert_eq!(usage(&a), usage(&b));
    assert!(usage(&a)["total_tokens"].as_u64().unwrap() > 0);
    assert_eq!(b.last().unwrap(), "[DONE]");
}
