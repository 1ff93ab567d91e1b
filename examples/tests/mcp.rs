//! MCP tool servers through the recorder, with the official Rust SDK (`rmcp`) as the
//! client, and an agent that asks a model for a tool, calls it over MCP and answers.
//!
//! The server is a real one nobody here wrote: the `mcp` PyPI package's `MCPServer`
//! (`scripts/mcp-server.py`: `get_weather`, `add`, `get_time`, the resource
//! `weather://stations`; fixed answers) over Streamable HTTP, started by
//! `scripts/backends.sh start mcp tools`. rmcp's client opens a session
//! (`initialize`, the server's `Mcp-Session-Id`), gets its answers as SSE events, opens
//! the GET stream, and ends the session with a DELETE.
//!
//! The recorder carries the transport (see `recorder_runtime::mcp`): the session id
//! is a placeholder in the recordings (`rec-<hash of initialize>`), the GET stream is
//! saved when the session's DELETE ends it and held open when replayed. To record
//! again: `scripts/backends.sh start mcp tools`, and
//! `RECORD_MODE=record cargo test -p examples --test mcp`; the recordings replay
//! offline with the servers stopped, and recording again gives the same bytes.
//!
//! `rmcp_over_stdio_lists_and_calls_tools` is the same server as most MCP servers run:
//! a child process the client launches (`scripts/mcp-server.py stdio`, in the venv of
//! `scripts/backends.sh install mcp`), JSON-RPC lines on its stdin and stdout, through
//! `ctx.mcp_stdio` (the runtime's `rmcp` feature, see "MCP over stdio" in README.md).
//! Replay never starts it: the venv need not exist. To record it again, install the
//! venv and `RECORD_MODE=record cargo test -p examples --test mcp rmcp_over_stdio`.
//!
//! The agent test talks to the model API and the MCP server at once: the `tools`
//! setup names the server as its upstream `mcp` (`ctx.upstream_url("mcp")`), so one test
//! id and one folder hold both.

use recorder_runtime::client::{ChatRequest, Message};
use recorder_runtime::{recorded_test, Client, Model, RecordingContext};
use rmcp::model::{CallToolRequestParams, CallToolResult, ReadResourceRequestParams};
use rmcp::service::{RoleClient, RunningService};
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::ServiceExt;
use serde_json::{json, Map, Value};

/// The MCP server's endpoint as this test reaches it: through the recorder's loopback
/// proxy, `/mcp` of the setup's upstream (the `mcp` setup's base URL is the server).
fn mcp_url(ctx: &RecordingContext) -> String {
    format!("{}mcp", ctx.ollama_url())
}

/// An rmcp client session over Streamable HTTP, on our own reqwest client.
async fn connect(url: String) -> RunningService<RoleClient, ()> {
    let transport = StreamableHttpClientTransport::with_client(
        reqwest::Client::new(),
        StreamableHttpClientTransportConfig::with_uri(url),
    );
    ().serve(transport).await.expect("an MCP session")
}

fn arguments(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(map) => map,
        other => panic!("tool arguments are an object, not {other}"),
    }
}

async fn call(mcp: &RunningService<RoleClient, ()>, tool: &str, args: Value) -> CallToolResult {
    mcp.call_tool(CallToolRequestParams::new(tool.to_owned()).with_arguments(arguments(args)))
        .await
        .unwrap_or_else(|e| panic!("calling {tool}: {e}"))
}

/// What both transports show: the server's name and tools, `get_weather` for `city`
/// (answered `weather`), `add` of `a` and `b` (42), and a tool's own error, which is an
/// answer (isError), not a failed request.
async fn lists_and_calls_tools(
    mcp: &RunningService<RoleClient, ()>,
    city: &str,
    weather: Value,
    (a, b): (i64, i64),
) {
    let server = mcp.peer_info().expect("the server's initialize result");
    let name = server.server_info.as_ref().map(|i| i.name.as_str());
    assert_eq!(name, Some("recorder-weather"));

    let tools = mcp.list_all_tools().await.unwrap();
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    assert_eq!(names, ["get_weather", "add", "get_time"]);

    let answer = call(mcp, "get_weather", json!({ "city": city })).await;
    assert_eq!(answer.is_error, Some(false));
    assert_eq!(answer.structured_content, Some(weather));
    let sum = call(mcp, "add", json!({"a": a, "b": b})).await;
    assert_eq!(sum.structured_content, Some(json!({"result": 42})));
    let unknown = call(mcp, "get_weather", json!({"city": "Atlantis"})).await;
    assert_eq!(unknown.is_error, Some(true));
    let message = serde_json::to_string(&unknown.content).unwrap();
    assert!(message.contains("unknown city 'Atlantis'"), "{message}");
}

/// rmcp lists the server's tools, calls two of them, gets a tool error, reads a
/// resource and ends the session, every answer the server's own.
#[recorded_test(setup = "mcp")]
async fn rmcp_lists_and_calls_tools(ctx: RecordingContext) {
    let mcp = connect(mcp_url(&ctx)).await;
    lists_and_calls_tools(
        &mcp,
        "Paris",
        json!({"city": "Paris", "condition": "sunny", "temperature_c": 21, "humidity_pct": 40}),
        (2, 40),
    )
    .await;

    let stations = mcp
        .read_resource(ReadResourceRequestParams::new("weather://stations"))
        .await
        .unwrap();
    let text = serde_json::to_value(&stations.contents).unwrap();
    assert_eq!(
        text[0]["text"],
        r#"["London", "New York", "Paris", "Tokyo"]"#
    );

    // Ends the session: rmcp sends the DELETE.
    mcp.cancel().await.unwrap();
}

/// The real MCP server over stdio, as a client launches it: the `mcp` venv's python
/// running `scripts/mcp-server.py stdio`, paths from the workspace root. Replay never
/// runs this command.
fn stdio_server_command() -> tokio::process::Command {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("examples/ is in the workspace");
    let mut command =
        tokio::process::Command::new(root.join("target/backends/mcp-venv/bin/python"));
    command.arg(root.join("scripts/mcp-server.py")).arg("stdio");
    command
}

/// rmcp launches the real server over stdio (through the recorder: `ctx.mcp_stdio` in
/// place of rmcp's `TokioChildProcess`), lists its tools, calls two of them, gets a
/// tool error and closes the server's stdin; every answer is the server's own.
#[recorded_test(setup = "mcp")]
async fn rmcp_over_stdio_lists_and_calls_tools(ctx: RecordingContext) {
    let transport = ctx
        .mcp_stdio("mcp", stdio_server_command())
        .expect("the MCP server over stdio (record: scripts/backends.sh install mcp)");
    let mcp = ().serve(transport).await.expect("an MCP session over stdio");
    lists_and_calls_tools(
        &mcp,
        "Tokyo",
        json!({"city": "Tokyo", "condition": "cloudy", "temperature_c": 18, "humidity_pct": 65}),
        (19, 23),
    )
    .await;

    // Closes the server's stdin; the test waits for its recordings.
    mcp.cancel().await.unwrap();
}

/// An agent's loop: SmolLM2 (the `tools` setup, `--chat_format chatml-function-calling`)
/// is given the MCP server's tools and asks for `get_weather`; the test calls it on
/// the MCP server and sends the result back; the model answers from it.
#[recorded_test(models = "text", setup = "tools")]
async fn agent_answers_with_an_mcp_tool(ctx: RecordingContext, client: Client, text_model: Model) {
    let mcp = connect(format!("{}/mcp", ctx.upstream_url("mcp"))).await;
    // The MCP tools as OpenAI function tools: their input schemas are the parameters.
    let tools: Vec<Value> = mcp
        .list_all_tools()
        .await
        .unwrap()
        .iter()
        .map(|t| {
            json!({"type": "function", "function": {
                "name": t.name, "description": t.description, "parameters": t.input_schema,
            }})
        })
        .collect();
    let request = |tool_choice: &str, messages: Vec<Message>| {
        let mut req = ChatRequest::new(text_model.id())
            .tools(tools.clone())
            .with("tool_choice", tool_choice)
            .max_tokens(48)
            .temperature(0.0)
            .seed(42);
        req.messages = messages;
        req
    };
    let mut messages = vec![
        Message::system("Answer the user's question with the tool result you are given."),
        Message::user("What is the weather in Paris?"),
    ];

    let first = client
        .chat(&request("auto", messages.clone()))
        .await
        .unwrap();
    let choice = &first.choices[0];
    assert_eq!(choice.finish_reason.as_deref(), Some("tool_calls"));
    let calls = choice.message.tool_calls.clone().expect("a tool call");
    let tool_call = &calls[0];
    assert_eq!(tool_call["function"]["name"], "get_weather");
    let args: Value =
        serde_json::from_str(tool_call["function"]["arguments"].as_str().unwrap()).unwrap();
    assert_eq!(args, json!({"city": "Paris"}));

    let result = call(&mcp, "get_weather", args).await;
    let text = result.content[0]
        .as_text()
        .map(|t| t.text.clone())
        .expect("a text result");
    mcp.cancel().await.unwrap();

    // The call and its result under the call's id, as any OpenAI client sends them.
    // chatml-function-calling's template leaves `tool` messages out of the prompt, so
    // the result is also the last user turn: that is what SmolLM2 answers from.
    let mut tool = Message::new("tool", text.clone());
    tool.extra
        .insert("tool_call_id".into(), tool_call["id"].clone());
    messages.push(Message {
        tool_calls: Some(calls.clone()),
        ..Message::assistant("")
    });
    messages.push(tool);
    messages.push(Message::user(format!("Tool result: {text}")));
    let answer = client.chat(&request("none", messages)).await.unwrap();
    assert!(answer.choices[0].message.tool_calls.is_none());
    let said = answer.text().to_lowercase();
    assert!(
        said.contains("sunny"),
        "the answer does not use the tool's result: {said}"
    );
}
