//! Tool calls through chat completions: the model asks for a function, the test runs
//! it and sends the result back under the call's id.
//!
//! The tool call ids the server makes up (`call_…`) become placeholders keeping their
//! prefix, and the second request, which sends the id back, is stored with the
//! placeholder: replaying, the client gets the placeholder and sends it back.
//!
//! Recorded against llama-cpp-python serving SmolLM2-135M with
//! `--chat_format chatml-function-calling` (the `tools` setup, this suite's default),
//! which returns real tool calls for `tool_choice: "auto"` (not streamed):
//! `scripts/backends.sh start tools`, then
//! `RECORD_MODE=record cargo test -p examples --test tools`.

use recorder_runtime::client::{ChatRequest, Message};
use recorder_runtime::{recorded_test, Client, Model};
use serde_json::{json, Value};

fn weather_tool() -> Value {
    json!({
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Get the current weather for a city",
            "parameters": {
                "type": "object",
                "properties": { "city": { "type": "string" } },
                "required": ["city"]
            }
        }
    })
}

/// The model calls `get_weather` on its own (`tool_choice: "auto"`); the test runs it
/// and sends the call and its result back, the result under the call's id.
#[recorded_test(models = "text")]
async fn calls_a_tool_and_gets_the_result_back(client: Client, text_model: Model) {
    let question = Message::user("What is the weather in Paris?");
    let request = |tool_choice: &str, messages: Vec<Message>| {
        let mut req = ChatRequest::new(text_model.id())
            .tools(vec![weather_tool()])
            .with("tool_choice", tool_choice)
            .max_tokens(48)
            .temperature(0.0)
            .seed(42);
        req.messages = messages;
        req
    };

    let first = client
        .chat(&request("auto", vec![question.clone()]))
        .await
        .unwrap();
    let choice = &first.choices[0];
    assert_eq!(choice.finish_reason.as_deref(), Some("tool_calls"));
    let calls = choice.message.tool_calls.clone().expect("tool calls");
    assert_eq!(calls.len(), 1, "{calls:?}");
    let call = &calls[0];
    let call_id = call["id"].as_str().expect("the call's id");
    assert!(call_id.starts_with("call_"), "{call_id}");
    assert_eq!(call["type"], "function");
    assert_eq!(call["function"]["name"], "get_weather");
    let arguments: Value =
        serde_json::from_str(call["function"]["arguments"].as_str().unwrap()).unwrap();
    assert!(arguments["city"].is_string(), "{arguments}");

    // Run the "function", then send the conversation back: the assistant's call (with
    // an empty `content`, which llama-cpp-python's chat templates need) and the
    // result, under the call's id. `tool_choice: "none"` asks for an answer in text.
    let result = json!({ "city": arguments["city"], "temperature_c": 18, "conditions": "sunny" });
    let assistant = Message {
        tool_calls: Some(calls.clone()),
        ..Message::assistant("")
    };
    let mut tool = Message::new("tool", result.to_string());
    tool.extra.insert("tool_call_id".into(), call_id.into());
    let second = client
        .chat(&request("none", vec![question, assistant, tool]))
        .await
        .unwrap();

    // An answer in text. What it says is up to the model and its chat format: this
    // format leaves the tool's result out of the prompt, so SmolLM2-135M answers
    // without it. (A model that reads it, like OpenAI's, would say "sunny".)
    let choice = &second.choices[0];
    assert_eq!(choice.message.role, "assistant");
    assert!(choice.message.tool_calls.is_none(), "{:?}", choice.message);
    assert!(!second.text().trim().is_empty());
    assert!(
        matches!(choice.finish_reason.as_deref(), Some("stop" | "length")),
        "{:?}",
        choice.finish_reason
    );
}
