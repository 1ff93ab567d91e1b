//! The fake upstream speaks the real wire formats, with volatile fields, and its knobs work.

use crate::fake_support::*;
use recorder_testkit::fake::{FakeUpstream, FRAMES_BEFORE_FAILURE};
use serde_json::{json, Value};
use std::time::Duration;

#[tokio::test]
async fn openai_wire_formats_and_volatile_fields() {
    let fake = FakeUpstream::start();
    let http = http();
    let chat = json!({"model": "fake-chat", "messages": [{"role": "user", "content": "ping"}]});
    let post = |path: &str, body: &Value| {
        http.post(format!("{}{path}", fake.url()))
            .bearer_auth("k")
            .json(body)
            .send()
    };

    let a: Value = post("/v1/chat/completions", &chat)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let b: Value = post("/v1/chat/completions", &chat)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(a["id"].as_str().unwrap().starts_with("chatcmpl-"));
    assert_ne!(a["id"], b["id"], "ids change per call");
    assert!(
        a["created"].as_u64().unwrap() > 1_600_000_000,
        "created is now"
    );
    assert_eq!(a["object"], "chat.completion");
    assert!(a["choices"][0]["message"]["content"]
        .as_str()
        .unwrap()
        .contains("\"ping\""));
    assert_eq!(
        a["choices"][0]["message"]["content"], b["choices"][0]["message"]["content"],
        "answers are deterministic"
    );

    let resp = post("/v1/chat/completions", &json!({"model": "fake-chat", "stream": true, "messages": [{"role": "user", "content": "ping"}]})).await.unwrap();
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let data = sse_data(&resp.text().await.unwrap());
    assert!(data.len() >= 12, "at least 10 content chunks: {data:?}");
    assert_eq!(data.last().unwrap(), "[DONE]");
    assert_eq!(
        chat_text(&data),
        a["choices"][0]["message"]["content"].as_str().unwrap()
    );
    assert!(fake.stream_finished());

    let tools = json!({"model": "fake-chat", "messages": [{"role": "user", "content": "weather?"}], "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]});
    let t: Value = post("/v1/chat/completions", &tools)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(t["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(
        t["choices"][0]["message"]["tool_calls"][0]["function"]["name"],
        "get_weather"
    );

    let js = json!({"model": "fake-chat", "messages": [{"role": "user", "content": "json"}], "response_format": {"type": "json_object"}});
    let j: Value = post("/v1/chat/completions", &js)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let content: Value =
        serde_json::from_str(j["choices"][0]["message"]["content"].as_str().unwrap()).unwrap();
    assert!(content["answer"].is_string());

    let e: Value = post(
        "/v1/embeddings",
        &json!({"model": "fake-embed", "input": ["a", "b"]}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(e["data"].as_array().unwrap().len(), 2);
    assert_eq!(e["data"][0]["embedding"].as_array().unwrap().len(), 8);
    assert_ne!(e["data"][0]["embedding"], e["data"][1]["embedding"]);

    let c: Value = post(
        "/v1/completions",
        &json!({"model": "fake-chat", "prompt": "once"}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(c["object"], "text_completion");
    assert!(c["choices"][0]["text"].as_str().unwrap().contains("once"));

    let m: Value = http
        .get(format!("{}/models", fake.openai_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(m["object"], "list");
    assert_eq!(m["data"][0]["object"], "model");
    assert!(m["data"][0]["created"].is_u64() && m["data"][0]["owned_by"].is_string());

    let missing = post(
        "/v1/chat/completions",
        &json!({"model": "missing-model", "messages": []}),
    )
    .await
    .unwrap();
    assert_eq!(missing.status(), 404);
    let body: Value = missing.json().await.unwrap();
    assert_eq!(body["error"]["code"], "model_not_found");

    let seen = fake.requests();
    assert_eq!(seen[0].path, "/v1/chat/completions");
    assert_eq!(seen[0].header("authorization"), Some("Bearer k"));
    assert_eq!(seen[0].json()["messages"][0]["content"], "ping");
}

#[tokio::test]
async fn ollama_wire_formats() {
    let fake = FakeUpstream::start();
    let http = http();
    let msgs = json!([{"role": "user", "content": "ping"}]);
    let resp = http
        .post(format!("{}/api/chat", fake.url()))
        .json(&json!({"model": "fake-chat", "messages": msgs}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.headers()["content-type"],
        "application/x-ndjson",
        "Ollama streams by default"
    );
    let lines = ndjson(&resp.text().await.unwrap());
    assert!(lines.len() >= 11);
    let last = lines.last().unwrap();
    assert_eq!(last["done"], true);
    assert!(
        last["total_duration"].as_u64().unwrap() > 0 && last["eval_duration"].as_u64().unwrap() > 0
    );
    assert!(lines[0]["created_at"].as_str().unwrap().ends_with('Z'));
    assert!(lines[..lines.len() - 1].iter().all(|l| l["done"] == false));

    let plain: Value = http
        .post(format!("{}/api/chat", fake.url()))
        .json(&json!({"model": "fake-chat", "messages": msgs, "stream": false}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let streamed: String = lines
        .iter()
        .map(|l| l["message"]["content"].as_str().unwrap())
        .collect();
    assert_eq!(plain["message"]["content"].as_str().unwrap(), streamed);

    let gen = http
        .post(format!("{}/api/generate", fake.url()))
        .json(&json!({"model": "fake-chat", "prompt": "hi"}))
        .send()
        .await
        .unwrap();
    let gen = ndjson(&gen.text().await.unwrap());
    assert!(gen.len() >= 11 && gen.last().unwrap()["context"].is_array());

    let emb: Value = http
        .post(format!("{}/api/embed", fake.url()))
        .json(&json!({"model": "fake-embed", "input": "hi"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(emb["embeddings"][0].as_array().unwrap().len(), 8);

    fake.set_models(["llama3.2:3b", "nomic-embed-text"]);
    let tags: Value = http
        .get(format!("{}/api/tags", fake.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = tags["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["llama3.2:3b", "nomic-embed-text:latest"]);

    let missing = http
        .post(format!("{}/api/chat", fake.url()))
        .json(&json!({"model": "missing-model", "messages": msgs}))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    assert!(missing.json::<Value>().await.unwrap()["error"]
        .as_str()
        .unwrap()
        .contains("not found"));
}

#[tokio::test]
async fn knobs_status_delay_failure_and_stop() {
    let fake = FakeUpstream::start();
    let http = http();
    let stream_req = json!({"model": "fake-chat", "stream": true, "messages": [{"role": "user", "content": "x"}]});

    fake.set_status(503);
    let r = http
        .post(format!("{}/v1/chat/completions", fake.url()))
        .json(&stream_req)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    fake.set_status(0);

    fake.set_chunk_delay(Duration::from_millis(15));
    let mut r = http
        .post(format!("{}/v1/chat/completions", fake.url()))
        .json(&stream_req)
        .send()
        .await
        .unwrap();
    let first = r.chunk().await.unwrap().unwrap();
    assert!(first.starts_with(b"data: "));
    assert!(!fake.stream_finished(), "the stream is still being sent");
    while r.chunk().await.unwrap().is_some() {}
    assert!(fake.wait_stream_finished(Duration::from_secs(5)));
    fake.set_chunk_delay(Duration::ZERO);

    fake.set_fail_mid_stream(true);
    let mut r = http
        .post(format!("{}/v1/chat/completions", fake.url()))
        .json(&stream_req)
        .send()
        .await
        .unwrap();
    let mut frames = 0;
    let failed = loop {
        match r.chunk().await {
            Ok(Some(c)) => frames += String::from_utf8_lossy(&c).matches("data: ").count(),
            Ok(None) => break false,
            Err(_) => break true,
        }
    };
    assert!(failed, "the body ends in an error");
    assert_eq!(frames, FRAMES_BEFORE_FAILURE);
    assert!(!fake.stream_finished());

    let url = fake.url();
    fake.stop();
    let err = reqwest::Client::new()
        .get(format!("{url}/v1/models"))
        .send()
        .await
        .unwrap_err();
    assert!(
        err.is_connect(),
        "a stopped fake refuses connections: {err}"
    );
    assert_eq!(
        fake.requests().len(),
        3,
        "requests stay readable after stop"
    );
}
