//! OpenAI's Responses API: conversations the server keeps, chained by
//! `previous_response_id`, plain and streamed, with a function call in the loop, and
//! stored responses read back and deleted.
//!
//! The server hands out the ids (`resp_…`, `msg_…`, `fc_…`, `call_…`) and the test
//! sends them back. Recording, the client sees the real ids; the recordings keep
//! stable placeholders with the same prefix (`resp_rec-…`), and each later request
//! is stored with the ids it sends replaced by theirs, so replaying hands the client
//! the placeholders and its requests match. `_ids.json` in each test's recordings
//! folder lists the chain.
//!
//! Recorded against OGX (the `ogx` setup of `recorder.toml`, this suite's default):
//! `scripts/backends.sh start`, then
//! `RECORD_MODE=record cargo test -p examples --test responses`.

use async_openai::config::OpenAIConfig;
use async_openai::types::responses::{CreateResponseArgs, Status};
use futures::StreamExt;
use recorder_runtime::client::{ResponseEvent, ResponseObject, ResponseRequest};
use recorder_runtime::{recorded_test, Client, Error, Model, RecordingContext};
use serde_json::{json, Value};

/// One turn: the question, at temperature 0. (`max_output_tokens` keeps a hosted
/// model short; OGX 1.5.0 does not pass it to llama-cpp-python, whose answers the
/// `max_tokens` of OGX's provider config bounds instead.)
fn turn(model: &Model, text: &str) -> ResponseRequest {
    ResponseRequest::new(model.id())
        .input(text)
        .temperature(0.0)
        .max_output_tokens(48)
}

const TURNS: [&str; 3] = [
    "What is the capital of France?",
    "And of Germany?",
    "Which of the two cities is bigger?",
];

/// Three turns with async-openai, in process (`with_http_service`): each turn names
/// the one before, and the server answers each from the conversation it stored.
#[recorded_test(models = "text")]
async fn chains_three_turns(ctx: RecordingContext, text_model: Model) {
    // The key is a placeholder: in record mode the recorder adds the setup's key, if any.
    let openai = async_openai::Client::with_config(OpenAIConfig::new().with_api_key("unused"))
        .with_http_service(ctx.openai_service());
    let mut previous: Option<String> = None;
    for question in TURNS {
        let mut request = CreateResponseArgs::default();
        request
            .model(text_model.id())
            .input(question)
            .temperature(0.0)
            .max_output_tokens(48u32);
        if let Some(id) = &previous {
            request.previous_response_id(id.clone());
        }
        let answer = openai
            .responses()
            .create(request.build().unwrap())
            .await
            .unwrap();
        assert!(answer.id.starts_with("resp_"), "{}", answer.id);
        assert_eq!(answer.status, Status::Completed);
        assert_eq!(
            answer.previous_response_id, previous,
            "the turn it continues"
        );
        let text = answer.output_text().unwrap_or_default();
        assert!(!text.trim().is_empty(), "turn {question:?} has text");
        previous = Some(answer.id);
    }
}

/// A streamed turn, read as typed events: `response.created` first, text deltas, and
/// `response.completed` last with the whole response; every event is numbered in order.
async fn stream_turn(client: &Client, request: &ResponseRequest) -> ResponseObject {
    let mut events = client.create_response_stream(request).await.unwrap();
    let mut seen: Vec<ResponseEvent> = Vec::new();
    while let Some(event) = events.next().await {
        seen.push(event.unwrap());
    }
    let kinds: Vec<&str> = seen.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds.first(), Some(&"response.created"), "{kinds:?}");
    assert_eq!(kinds.last(), Some(&"response.completed"), "{kinds:?}");
    let numbers: Vec<u64> = seen.iter().filter_map(|e| e.sequence_number).collect();
    assert_eq!(
        numbers.len(),
        seen.len(),
        "every event has a sequence_number"
    );
    assert!(numbers.windows(2).all(|w| w[0] < w[1]), "{numbers:?}");

    let created = seen[0]
        .response
        .clone()
        .expect("response.created holds the response");
    let completed = seen
        .pop()
        .and_then(|e| e.response)
        .expect("response.completed holds the response");
    assert_eq!(created.status.as_deref(), Some("in_progress"));
    assert_eq!(completed.status.as_deref(), Some("completed"));
    assert_eq!(completed.id, created.id, "one response from start to end");
    let streamed: String = seen
        .iter()
        .filter(|e| e.kind == "response.output_text.delta")
        .filter_map(|e| e.delta.as_deref())
        .collect();
    assert!(!streamed.trim().is_empty(), "text arrives in deltas");
    assert_eq!(
        streamed,
        completed.output_text(),
        "the deltas add up to the answer"
    );
    completed
}

/// The same three turns streamed with the fixture client: each turn continues from the
/// id in the previous turn's `response.completed` event.
#[recorded_test(models = "text")]
async fn streams_three_chained_turns(client: Client, text_model: Model) {
    let mut previous: Option<String> = None;
    for question in TURNS {
        let mut request = turn(&text_model, question);
        if let Some(id) = &previous {
            request = request.previous_response_id(id);
        }
        let done = stream_turn(&client, &request).await;
        assert!(done.id.starts_with("resp_"), "{}", done.id);
        assert_eq!(done.previous_response_id, previous);
        previous = Some(done.id);
    }
}

fn weather_tool() -> Value {
    json!({
        "type": "function",
        "name": "get_weather",
        "description": "Get the current weather for a city",
        "parameters": {
            "type": "object",
            "properties": { "city": { "type": "string" } },
            "required": ["city"]
        }
    })
}

/// A function-tool loop: the model calls `get_weather` (forced with `tool_choice`:
/// SmolLM2-135M does not choose a tool on its own through OGX), the test runs it and
/// sends the output back under the call's `call_id`, chained to the response that
/// made the call; the model then answers in text.
#[recorded_test(models = "text")]
async fn calls_a_function(client: Client, text_model: Model) {
    let ask = turn(&text_model, "What is the weather in Paris?")
        .tools(vec![weather_tool()])
        .with(
            "tool_choice",
            json!({ "type": "function", "name": "get_weather" }),
        );
    let first = client.create_response(&ask).await.unwrap();
    let call = first
        .function_calls()
        .next()
        .unwrap_or_else(|| panic!("a function call: {:?}", first.output));
    assert_eq!(call.name.as_deref(), Some("get_weather"));
    assert!(call.id.as_deref().is_some_and(|id| id.starts_with("fc_")));
    let call_id = call.call_id.clone().expect("a call_id to answer");
    let arguments: Value = serde_json::from_str(call.arguments.as_deref().unwrap()).unwrap();
    assert!(arguments["city"].is_string(), "{arguments}");

    // Run the "function" and send its output back.
    let output = json!({ "city": arguments["city"], "temperature_c": 18, "conditions": "sunny" });
    let answer = client
        .create_response(
            &ResponseRequest::new(text_model.id())
                .input_items(vec![ResponseRequest::function_call_output(
                    &call_id,
                    &output.to_string(),
                )])
                .previous_response_id(&first.id)
                .tools(vec![weather_tool()])
                .temperature(0.0)
                .max_output_tokens(48),
        )
        .await
        .unwrap();
    assert_eq!(answer.status.as_deref(), Some("completed"));
    assert_eq!(
        answer.previous_response_id.as_deref(),
        Some(first.id.as_str())
    );
    assert_eq!(answer.function_calls().count(), 0, "{:?}", answer.output);
    assert!(!answer.output_text().trim().is_empty());
}

/// A stored response can be read back (`GET /v1/responses/{id}`), its input listed,
/// and deleted; afterwards reading it is an error, recorded and replayed with its status.
#[recorded_test(models = "text")]
async fn retrieves_and_deletes_a_response(client: Client, text_model: Model) {
    let question = "Name a primary color.";
    let created = client
        .create_response(&turn(&text_model, question))
        .await
        .unwrap();

    let fetched = client.get_response(&created.id).await.unwrap();
    assert_eq!(fetched.id, created.id);
    assert_eq!(fetched.output_text(), created.output_text());

    let items = client.response_input_items(&created.id).await.unwrap();
    let texts: Vec<&str> = items
        .data
        .iter()
        .flat_map(|item| item["content"].as_array().into_iter().flatten())
        .filter_map(|part| part["text"].as_str())
        .collect();
    assert_eq!(texts, [question], "{:?}", items.data);

    let deleted = client.delete_response(&created.id).await.unwrap();
    assert!(deleted.deleted);
    assert_eq!(deleted.id, created.id);

    match client.get_response(&created.id).await {
        Err(Error::Api { status, .. }) => assert_eq!(status, 404),
        other => panic!("a deleted response is gone: {other:?}"),
    }
}
