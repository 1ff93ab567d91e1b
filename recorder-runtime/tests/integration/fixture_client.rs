//! The fixture client over every endpoint it covers, recorded from the fake
//! upstream and replayed with the fake stopped; unknown fields, early stops,
//! unreachable upstreams, misses, model-list merging and byte-stable re-recording.

use crate::fake_support::*;
use futures::StreamExt;
use recorder_runtime::client::{
    ChatRequest, Client, CompletionRequest, EmbeddingRequest, GenerateRequest, Message,
};
use recorder_runtime::{Error, Mode};
use recorder_testkit::fake::FakeUpstream;
use serde_json::{json, Value};
use std::time::Duration;

fn chat(text: &str) -> ChatRequest {
    ChatRequest::new("fake-chat").message(Message::user(text))
}

/// Calls every endpoint of the fixture client and returns what must be the same on
/// record and replay (texts, vectors, lists; not ids or timestamps).
async fn exercise(client: &Client, replay: bool) -> Vec<(&'static str, Value)> {
    let mut out = Vec::new();

    let plain = client.chat(&chat("plain chat")).await.unwrap();
    assert!(plain.text().contains("plain chat"));
    assert!(
        plain
            .id
            .starts_with(if replay { "rec-" } else { "chatcmpl-" }),
        "{}",
        plain.id
    );
    assert_eq!(
        plain.extra["x_fake"]["note"], "a field no client knows",
        "unknown fields are kept"
    );
    assert_eq!(plain.extra["system_fingerprint"], "fp_fake");
    assert_eq!(plain.extra["created"].as_u64().unwrap() == 0, replay);
    assert!(plain.usage.as_ref().unwrap().total_tokens > 0);
    out.push((
        "chat",
        json!([
            plain.text(),
            plain.choices[0].finish_reason,
            plain.extra["x_fake"]
        ]),
    ));

    let chunks: Vec<_> = client
        .chat_stream(&chat("streamed chat"))
        .await
        .unwrap()
        .collect()
        .await;
    let chunks: Vec<_> = chunks.into_iter().map(Result::unwrap).collect();
    assert!(chunks.len() >= 12, "{} chunks", chunks.len());
    let text: String = chunks.iter().map(|c| c.text()).collect();
    assert!(text.contains("streamed chat"));
    assert_eq!(
        chunks.last().unwrap().choices[0].finish_reason.as_deref(),
        Some("stop")
    );
    out.push(("chat_stream", json!([chunks.len(), text])));

    let tools = vec![
        json!({"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"query": {"type": "string"}}}}}),
    ];
    let called = client
        .chat(&chat("weather in Paris?").tools(tools))
        .await
        .unwrap();
    let calls = called.choices[0].message.tool_calls.clone().unwrap();
    assert_eq!(calls[0]["function"]["name"], "get_weather");
    assert_eq!(
        called.choices[0].finish_reason.as_deref(),
        Some("tool_calls")
    );
    // Recording, the client sees the server's id; replaying, its stable placeholder,
    // with the same prefix (see recorder_runtime::idmap).
    let call_id = calls[0]["id"].as_str().unwrap().to_owned();
    assert!(call_id.starts_with("call_"), "{call_id}");
    assert_eq!(call_id.contains("_rec-"), replay, "{call_id}");
    let mut calls = calls;
    calls[0]["id"] = json!("call_…");
    out.push(("chat_tools", json!(calls)));

    let js = client
        .chat(&chat("as json").response_format(json!({"type": "json_object"})))
        .await
        .unwrap();
    let parsed: Value = serde_json::from_str(js.text()).expect("the content is JSON");
    out.push(("chat_json", parsed));

    let c = client
        .completion(&CompletionRequest::new("fake-chat", "once upon"))
        .await
        .unwrap();
    assert!(c.text().contains("once upon"));
    out.push(("completion", json!(c.text())));
    let cs: Vec<_> = client
        .completion_stream(&CompletionRequest::new("fake-chat", "twice upon"))
        .await
        .unwrap()
        .collect()
        .await;
    let ctext: String = cs
        .iter()
        .map(|c| c.as_ref().unwrap().text().to_owned())
        .collect();
    assert!(cs.len() >= 10 && ctext.contains("twice upon"));
    out.push(("completion_stream", json!([cs.len(), ctext])));

    let e = client
        .embeddings(&EmbeddingRequest::new("fake-embed", ["alpha", "beta"]))
        .await
        .unwrap();
    assert_eq!(e.data.len(), 2);
    assert!(e.data.iter().all(|d| d.embedding.len() == 8));
    out.push((
        "embeddings",
        json!(e
            .data
            .iter()
            .map(|d| d.embedding.clone())
            .collect::<Vec<_>>()),
    ));

    let models = client.models().await.unwrap();
    out.push((
        "models",
        json!(models.data.iter().map(|m| m.id.clone()).collect::<Vec<_>>()),
    ));

    let oc = client.ollama_chat(&chat("ollama plain")).await.unwrap();
    assert!(
        oc.done
            && oc
                .message
                .content
                .as_deref()
                .unwrap()
                .contains("ollama plain")
    );
    assert!(
        oc.extra.contains_key("eval_count") && oc.extra.contains_key("done_reason"),
        "{:?}",
        oc.extra
    );
    assert_eq!(
        oc.extra["created_at"] == "1970-01-01T00:00:00.000000Z",
        replay
    );
    out.push((
        "ollama_chat",
        json!([
            oc.message.content,
            oc.extra["eval_count"],
            oc.extra["done_reason"]
        ]),
    ));

    let lines: Vec<_> = client
        .ollama_chat_stream(&chat("ollama streamed"))
        .await
        .unwrap()
        .collect()
        .await;
    let lines: Vec<_> = lines.into_iter().map(Result::unwrap).collect();
    assert!(lines.len() >= 11 && lines.last().unwrap().done);
    let otext: String = lines
        .iter()
        .filter_map(|l| l.message.content.clone())
        .collect();
    assert!(otext.contains("ollama streamed"));
    out.push(("ollama_chat_stream", json!([lines.len(), otext])));

    let g = client
        .ollama_generate(&GenerateRequest::new("fake-chat", "generate plain"))
        .await
        .unwrap();
    assert!(g.done && g.response.contains("generate plain"));
    out.push(("ollama_generate", json!([g.response, g.extra["context"]])));
    let gs: Vec<_> = client
        .ollama_generate_stream(&GenerateRequest::new("fake-chat", "generate streamed"))
        .await
        .unwrap()
        .collect()
        .await;
    let gtext: String = gs
        .iter()
        .map(|g| g.as_ref().unwrap().response.clone())
        .collect();
    assert!(gs.len() >= 11 && gtext.contains("generate streamed"));
    out.push(("ollama_generate_stream", json!([gs.len(), gtext])));

    let oe = client.ollama_embed("fake-embed", ["gamma"]).await.unwrap();
    assert_eq!(oe.embeddings[0].len(), 8);
    out.push(("ollama_embed", json!(oe.embeddings)));

    let tags = client.ollama_tags().await.unwrap();
    assert!(tags.models[0].extra.contains_key("digest"));
    out.push((
        "ollama_tags",
        json!(tags
            .models
            .iter()
            .map(|m| m.name.clone())
            .collect::<Vec<_>>()),
    ));
    out
}

#[tokio::test]
async fn every_endpoint_records_then_replays_offline() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeUpstream::start();
    let id = "fixture_client::every_endpoint";
    let rec = fake_ctx(id, Mode::Record, dir.path(), &fake);
    let recorded = exercise(&rec.client(), false).await;
    assert_clean(&rec);
    assert_eq!(rec.counts().recorded, 14);
    assert_eq!(recordings(&rec.scope_dir()).len(), 12);
    assert_eq!(recordings(&dir.path().join("_models")).len(), 2);
    let upstream_calls = fake.requests().len();

    fake.stop();
    let rep = fake_ctx(id, Mode::Replay, dir.path(), &fake);
    let replayed = exercise(&rep.client(), true).await;
    assert_clean(&rep);
    assert_eq!(rep.counts().replayed, 14);
    assert_eq!(recorded, replayed);
    assert_eq!(fake.requests().len(), upstream_calls);
}

#[tokio::test]
async fn the_first_chunk_arrives_before_the_upstream_finishes() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeUpstream::start();
    fake.set_chunk_delay(Duration::from_millis(15));
    let rec = fake_ctx(
        "fixture_client::first_chunk",
        Mode::Record,
        dir.path(),
        &fake,
    );
    let mut chunks = rec
        .client()
        .ollama_chat_stream(&chat("early bird"))
        .await
        .unwrap();
    let first = chunks.next().await.unwrap().unwrap();
    assert!(
        !fake.stream_finished(),
        "the first line arrived while the upstream was still sending"
    );
    assert!(!first.done);
    let mut n = 1;
    while let Some(c) = chunks.next().await {
        c.unwrap();
        n += 1;
    }
    assert!(n >= 11);
    assert_clean(&rec);
}

#[tokio::test]
async fn a_dropped_stream_still_records_every_frame() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeUpstream::start();
    let http = http();
    let reference_sse = sse_data(&http.post(format!("{}/chat/completions", fake.openai_url())).json(&json!({"model": "fake-chat", "stream": true, "messages": [{"role": "user", "content": "drop sse"}]})).send().await.unwrap().text().await.unwrap());
    let reference_nd = ndjson(&http.post(format!("{}/api/chat", fake.url())).json(&json!({"model": "fake-chat", "stream": true, "messages": [{"role": "user", "content": "drop ndjson"}]})).send().await.unwrap().text().await.unwrap());
    fake.set_chunk_delay(Duration::from_millis(5));
    let id = "fixture_client::early_stop";
    let rec = fake_ctx(id, Mode::Record, dir.path(), &fake);
    let client = rec.client();
    let mut s = client.chat_stream(&chat("drop sse")).await.unwrap();
    s.next().await.unwrap().unwrap();
    drop(s);
    let mut s = client
        .ollama_chat_stream(&chat("drop ndjson"))
        .await
        .unwrap();
    s.next().await.unwrap().unwrap();
    drop(s);
    assert!(!fake.stream_finished());
    assert_clean(&rec);
    assert!(fake.stream_finished());
    assert_eq!(rec.counts().recorded, 2);
    for file in recordings(&rec.scope_dir()) {
        let v = read_json(&file);
        let frames = frames(&v);
        if v["response"]["stream"]["format"] == "sse" {
            assert_eq!(frames.len(), reference_sse.len());
            assert_eq!(frames.last().unwrap()["data"], "[DONE]");
        } else {
            assert_eq!(frames.len(), reference_nd.len());
            assert_eq!(frames.last().unwrap()["data"]["done"], true);
        }
    }

    fake.stop();
    let rep = fake_ctx(id, Mode::Replay, dir.path(), &fake);
    let client = rep.client();
    let sse: Vec<_> = client
        .chat_stream(&chat("drop sse"))
        .await
        .unwrap()
        .collect()
        .await;
    assert_eq!(sse.len(), reference_sse.len() - 1, "every chunk but [DONE]");
    assert_eq!(
        sse.iter()
            .map(|c| c.as_ref().unwrap().text().to_owned())
            .collect::<String>(),
        chat_text(&reference_sse)
    );
    let nd: Vec<_> = client
        .ollama_chat_stream(&chat("drop ndjson"))
        .await
        .unwrap()
        .collect()
        .await;
    assert_eq!(nd.len(), reference_nd.len());
    assert!(nd.last().unwrap().as_ref().unwrap().done);
    assert_clean(&rep);
}

#[tokio::test]
async fn an_unreachable_upstream_is_error_unreachable_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let dead = dead_url();
    let rec = ctx(
        "fixture_client::unreachable",
        Mode::Record,
        dir.path(),
        target(&dead),
    );
    let client = rec.client();
    let root = dead.trim_end_matches("/v1").to_owned();
    let check = |e: Error| match e {
        Error::Unreachable { url, reason } => {
            assert!(url.starts_with(&root), "{url}");
            assert!(!reason.is_empty());
        }
        other => panic!("expected Error::Unreachable, got {other:?}"),
    };
    check(client.chat(&chat("hello?")).await.unwrap_err());
    check(client.chat_stream(&chat("hello?")).await.err().unwrap());
    check(
        client
            .ollama_chat_stream(&chat("hello?"))
            .await
            .err()
            .unwrap(),
    );
    check(client.models().await.unwrap_err());
    let _ = rec.finish();
    assert_eq!(rec.counts().recorded, 0);
    assert!(files(dir.path()).is_empty(), "{:?}", files(dir.path()));
}

#[tokio::test]
async fn a_miss_is_error_miss_and_fails_the_test_even_if_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeUpstream::start();
    let id = "fixture_client::misses::swallowed";
    let rec = fake_ctx(id, Mode::Record, dir.path(), &fake);
    rec.client().chat(&chat("hello")).await.unwrap();
    assert_clean(&rec);
    fake.stop();

    let rep = fake_ctx(id, Mode::Replay, dir.path(), &fake);
    let client = rep.client();
    assert!(client.chat(&chat("hello")).await.is_ok());
    let msg = match client.chat(&chat("bye")).await.unwrap_err() {
        Error::Miss(msg) => msg,
        other => panic!("expected a miss, got {other:?}"),
    };
    for needle in [
        id,
        "POST /v1/chat/completions",
        r#"/messages/0/content: recorded "hello" | requested "bye""#,
        "RECORD_MODE=record-if-missing cargo test swallowed",
    ] {
        assert!(msg.contains(needle), "{needle:?} missing from:\n{msg}");
    }
    // The client swallows this one: the test still fails at its end.
    let _ = client
        .ollama_generate(&GenerateRequest::new("fake-chat", "never recorded"))
        .await;
    let problems = rep.finish();
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert_eq!(problems[0], msg);
    assert!(
        problems[1].contains("POST /api/generate") && problems[1].contains(id),
        "{}",
        problems[1]
    );
    assert_eq!(rep.counts().missed, 2);
    assert_eq!(rep.counts().replayed, 1);
}

#[tokio::test]
async fn model_lists_from_two_servers_merge_on_replay() {
    let dir = tempfile::tempdir().unwrap();
    let (one, two) = (FakeUpstream::start(), FakeUpstream::start());
    one.set_models(["alpha", "beta"]);
    two.set_models(["beta", "gamma:2b"]);
    for (id, fake) in [
        ("fixture_client::models::one", &one),
        ("fixture_client::models::two", &two),
    ] {
        let rec = fake_ctx(id, Mode::Record, dir.path(), fake);
        rec.client().models().await.unwrap();
        rec.client().ollama_tags().await.unwrap();
        assert_clean(&rec);
    }
    assert_eq!(recordings(&dir.path().join("_models")).len(), 4);
    one.stop();
    two.stop();
    let rep = ctx(
        "fixture_client::models::third",
        Mode::Replay,
        dir.path(),
        target(&one.openai_url()),
    );
    let ids: Vec<String> = rep
        .client()
        .models()
        .await
        .unwrap()
        .data
        .into_iter()
        .map(|m| m.id)
        .collect();
    assert_eq!(ids, ["alpha", "beta", "gamma:2b"]);
    let names: Vec<String> = rep
        .client()
        .ollama_tags()
        .await
        .unwrap()
        .models
        .into_iter()
        .map(|m| m.name)
        .collect();
    assert_eq!(names, ["alpha:latest", "beta:latest", "gamma:2b"]);
    assert_clean(&rep);
}

/// A model list recorded with a query (watsonx's `?project_id=`) merges with the
/// plain ones, whichever of them a replay asks for, and every list merged counts as
/// used (so `prune` keeps it).
#[tokio::test]
async fn model_lists_merge_whatever_their_query() {
    use recorder_runtime::engine::{Engine, EngineRequest, Scope, Target};
    use recorder_runtime::recording::{RecordedRequest, RecordedResponse, Recording};
    use recorder_runtime::store::{RecordingKey, Store};
    let dir = tempfile::tempdir().unwrap();
    let list = |endpoint: &str, ids: &[&str]| {
        let data: Vec<Value> = ids
            .iter()
            .map(|id| json!({"id": id, "object": "model"}))
            .collect();
        let rec = Recording {
            test_id: None,
            request: RecordedRequest {
                method: "GET".into(),
                endpoint: endpoint.into(),
                model: None,
                body: Value::Null,
            },
            response: RecordedResponse::plain(
                200,
                Some("application/json"),
                json!({"object": "list", "data": data})
                    .to_string()
                    .as_bytes(),
            ),
        };
        let hash = rec.request_hash();
        Store::new(dir.path())
            .write(&rec, &RecordingKey::first(hash.as_str()))
            .unwrap();
        hash
    };
    let plain = list("/v1/models", &["gpt-4o", "gpt-4o-mini"]);
    let watsonx = list(
        "/v1/models?project_id=1461945d-7925-4b82-b90b-ecd907a98d77",
        &[
            "ibm/granite-3-8b-instruct",
            "meta-llama/llama-3-3-70b-instruct",
        ],
    );
    let engine = Engine::new(dir.path());
    for asked in [
        "/v1/models",
        "/v1/models?project_id=1461945d-7925-4b82-b90b-ecd907a98d77",
    ] {
        let scope = Scope::new(
            engine.clone(),
            "fixture_client::lists",
            Mode::Replay,
            Target::default(),
        );
        let replayed = scope.handle(EngineRequest::get(asked)).await.unwrap();
        assert_eq!(replayed.status, 200, "{asked}");
        let body: Value = serde_json::from_slice(&replayed.bytes().await.unwrap()).unwrap();
        let ids: Vec<&str> = body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_str().unwrap())
            .collect();
        assert_eq!(
            ids,
            [
                "gpt-4o",
                "gpt-4o-mini",
                "ibm/granite-3-8b-instruct",
                "meta-llama/llama-3-3-70b-instruct"
            ],
            "{asked}"
        );
        let used = scope.used();
        assert!(
            used.contains(&plain) && used.contains(&watsonx),
            "{asked}: {used:?}"
        );
        assert!(scope.finish(Duration::from_secs(1)).is_empty());
    }
}

#[tokio::test]
async fn re_recording_the_same_exchanges_gives_the_same_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeUpstream::start();
    let id = "fixture_client::stable_bytes";
    let mut snapshots = Vec::new();
    for _ in 0..2 {
        let rec = fake_ctx(id, Mode::Record, dir.path(), &fake);
        let client = rec.client();
        client.chat(&chat("same")).await.unwrap();
        let _: Vec<_> = client
            .chat_stream(&chat("same stream"))
            .await
            .unwrap()
            .collect()
            .await;
        let _: Vec<_> = client
            .ollama_chat_stream(&chat("same ndjson"))
            .await
            .unwrap()
            .collect()
            .await;
        client.ollama_embed("fake-embed", ["same"]).await.unwrap();
        assert_clean(&rec);
        snapshots.push(
            recordings(dir.path())
                .into_iter()
                .map(|f| (f.clone(), std::fs::read(f).unwrap()))
                .collect::<Vec<_>>(),
        );
    }
    assert_eq!(snapshots[0].len(), 4);
    assert_eq!(
        snapshots[0], snapshots[1],
        "volatile fields are normalized away"
    );
    assert_eq!(fake.requests().len(), 8, "both rounds went upstream");
}

/// A typed request in the fixture client is found by its value (no JSON text is
/// written on a replay); that must find exactly what the same request's bytes
/// recorded, whatever the field order, with ignored fields ignored, and miss on
/// anything else.
#[tokio::test]
async fn a_typed_body_finds_what_its_bytes_recorded() {
    #[derive(serde::Serialize)]
    struct Typed {
        stream: bool,
        temperature: f32,
        user: &'static str,
        messages: Vec<Message>,
        model: &'static str,
    }
    let typed = |temperature: f32, user: &'static str, stream: bool| Typed {
        stream,
        temperature,
        user,
        messages: vec![Message::user("typed body")],
        model: "fake-chat",
    };
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeUpstream::start();
    let id = "fixture_client::typed_body";
    let mut tgt = target(&fake.openai_url());
    tgt.ignore_fields = vec!["user".into()];
    // Recorded from bytes: other key order, other spelling of 0.7f32.
    let rec = ctx(id, Mode::Record, dir.path(), tgt.clone());
    for stream in [false, true] {
        let body = format!(
            r#"{{"model":"fake-chat","messages":[{{"role":"user","content":"typed body"}}],"user":"alice","temperature":0.7,"stream":{stream}}}"#
        );
        let resp = rec
            .client()
            .send(recorder_runtime::engine::EngineRequest::post(
                "/v1/chat/completions",
                body,
            ))
            .await
            .unwrap();
        assert_eq!(resp.status, 200);
        resp.bytes().await.unwrap();
    }
    assert_clean(&rec);
    fake.stop();

    let rep = ctx(id, Mode::Replay, dir.path(), tgt);
    let client = rep.client();
    let answer: Value = client
        .post_json("/v1/chat/completions", &typed(0.7, "bob", false))
        .await
        .unwrap();
    assert!(answer["choices"][0]["message"]["content"]
        .as_str()
        .unwrap()
        .contains("typed body"));
    let chunks: Vec<Value> = client
        .post_stream::<Value>("/v1/chat/completions", &typed(0.7, "carol", true))
        .await
        .unwrap()
        .map(Result::unwrap)
        .collect()
        .await;
    assert!(chunks.len() >= 12, "{} chunks", chunks.len());
    assert_eq!(rep.counts().replayed, 2);

    let miss = client
        .post_json::<Value>("/v1/chat/completions", &typed(0.8, "bob", false))
        .await
        .unwrap_err();
    assert!(matches!(miss, Error::Miss(_)), "{miss}");
    assert!(miss.to_string().contains("temperature"), "{miss}");
    assert_eq!(rep.finish().len(), 1, "the miss fails the test");
}
