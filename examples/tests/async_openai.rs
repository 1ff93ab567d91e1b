//! The fixture client and async-openai side by side: any client works, pointed at
//! the context's `base_url()` (the loopback proxy).

use async_openai::config::OpenAIConfig;
use async_openai::types::chat::{
    ChatCompletionRequestUserMessageArgs, CreateChatCompletionRequestArgs,
};
use futures::StreamExt;
use recorder_runtime::client::{ChatRequest, Message};
use recorder_runtime::{recorded_test, Client, Model, RecordingContext};

fn openai(ctx: &RecordingContext) -> async_openai::Client<OpenAIConfig> {
    // The key is a placeholder: in record mode the proxy adds the setup's real key.
    async_openai::Client::with_config(
        OpenAIConfig::new()
            .with_api_base(ctx.base_url())
            .with_api_key("unused"),
    )
}

/// Both clients ask the same question; both get a well-formed answer.
#[recorded_test(models = "text")]
async fn both_clients_chat(ctx: RecordingContext, client: Client, text_model: Model) {
    let question = "Name a primary color.";
    let ours = client
        .chat(
            &ChatRequest::new(text_model.id())
                .message(Message::user(question))
                .max_tokens(12)
                .temperature(0.0),
        )
        .await
        .unwrap();

    let request = CreateChatCompletionRequestArgs::default()
        .model(text_model.id())
        .max_tokens(12u32)
        .temperature(0.0)
        .messages([ChatCompletionRequestUserMessageArgs::default()
            .content(question)
            .build()
            .unwrap()
            .into()])
        .build()
        .unwrap();
    let theirs = openai(&ctx).chat().create(request).await.unwrap();

    assert_eq!(theirs.choices.len(), ours.choices.len());
    assert!(theirs.choices[0]
        .message
        .content
        .as_deref()
        .is_some_and(|t| !t.is_empty()));
}

/// async-openai's streaming API over the proxy, chunk by chunk.
#[recorded_test(models = "text")]
async fn async_openai_streams(ctx: RecordingContext, text_model: Model) {
    let request = CreateChatCompletionRequestArgs::default()
        .model(text_model.id())
        .max_tokens(16u32)
        .temperature(0.0)
        .stream(true)
        .messages([ChatCompletionRequestUserMessageArgs::default()
            .content("Say hello.")
            .build()
            .unwrap()
            .into()])
        .build()
        .unwrap();
    let mut stream = openai(&ctx).chat().create_stream(request).await.unwrap();
    let mut chunks = 0;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.unwrap();
        chunks += 1;
        assert_eq!(chunk.object, "chat.completion.chunk");
    }
    assert!(chunks > 2, "{chunks}");
}

/// async-openai embeddings through the proxy.
#[recorded_test(models = "embedding")]
async fn async_openai_embeds(
    ctx: RecordingContext,
    embedding_model: Model,
    embedding_dimension: usize,
) {
    use async_openai::types::embeddings::CreateEmbeddingRequestArgs;
    let request = CreateEmbeddingRequestArgs::default()
        .model(embedding_model.id())
        .input(["hello", "world"])
        .build()
        .unwrap();
    let out = openai(&ctx).embeddings().create(request).await.unwrap();
    assert_eq!(out.data.len(), 2);
    assert!(out
        .data
        .iter()
        .all(|e| e.embedding.len() == embedding_dimension));
}

/// async-openai in process: its requests go straight to the engine through
/// `with_http_service`, no socket. Same recordings, same assertions.
#[recorded_test(models = "text")]
async fn async_openai_in_process(ctx: RecordingContext, text_model: Model) {
    let openai = async_openai::Client::with_config(OpenAIConfig::new().with_api_key("unused"))
        .with_http_service(ctx.openai_service());
    let request = CreateChatCompletionRequestArgs::default()
        .model(text_model.id())
        .max_tokens(12u32)
        .temperature(0.0)
        .messages([ChatCompletionRequestUserMessageArgs::default()
            .content("Name a planet.")
            .build()
            .unwrap()
            .into()])
        .build()
        .unwrap();
    let answer = openai.chat().create(request).await.unwrap();
    assert_eq!(answer.choices.len(), 1);
    assert!(answer.usage.is_some_and(|u| u.completion_tokens > 0));
    let counts = ctx.counts();
    assert_eq!(
        counts.replayed + counts.recorded + counts.live,
        1,
        "one request, served by the engine: {counts:?}"
    );
}
