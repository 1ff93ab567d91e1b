//! Agent traffic: chained ids, polling, uploads, native provider auth,
//! compression and response headers, recorded from a fake upstream that issues
//! random ids and refuses unknown ones, then replayed with it stopped, through the
//! fixture client, the in-process transports and the loopback proxy.

use crate::fake_support::*;
use futures::StreamExt;
use recorder_runtime::client::{
    Message, MessagesRequest, ResponseEvent, ResponseObject, ResponseRequest,
};
use recorder_runtime::engine::{Auth, EngineRequest, Target};
use recorder_runtime::{Mode, RecordingContext};
use recorder_testkit::fake::{FakeUpstream, KeyIn};
use serde_json::{json, Value};
use std::path::Path;

/// Every file written, the usage logs included.
fn all_text(dir: &Path) -> String {
    files(dir)
        .into_iter()
        .map(|p| String::from_utf8_lossy(&std::fs::read(p).unwrap()).into_owned())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Three turns chained by `previous_response_id`, a retrieve, the input items, a
/// delete and a retrieve of what was deleted; returns what a test would assert on.
async fn responses_chain(ctx: &RecordingContext) -> (Vec<ResponseObject>, Value) {
    let client = ctx.client();
    let mut turns: Vec<ResponseObject> = Vec::new();
    for (i, question) in ["Name a planet.", "Its largest moon?", "How far is it?"]
        .iter()
        .enumerate()
    {
        let mut req = ResponseRequest::new("fake-chat").input(*question);
        if let Some(prev) = turns.last() {
            req = req.previous_response_id(&prev.id);
        }
        let r = client.create_response(&req).await.unwrap();
        assert!(r.id.starts_with("resp_"), "{}", r.id);
        assert!(
            r.output_text().contains(&format!("(turn {})", i + 1)),
            "{}",
            r.output_text()
        );
        turns.push(r);
    }
    let again = client.get_response(&turns[1].id).await.unwrap();
    assert_eq!(again.id, turns[1].id);
    let items = client.response_input_items(&turns[2].id).await.unwrap();
    let deleted = client.delete_response(&turns[2].id).await.unwrap();
    assert!(deleted.deleted);
    let gone = client
        .get_response(&turns[2].id)
        .await
        .unwrap_err()
        .to_string();
    assert!(gone.contains("404"), "{gone}");
    let summary = json!({"items": items.data.len(), "deleted": deleted.id == turns[2].id});
    (turns, summary)
}

#[tokio::test]
async fn a_chain_of_responses_replays_with_stable_ids_and_records_byte_identical() {
    let fake = FakeUpstream::start();
    let id = "agent::responses::chain";
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let mut recorded_ids = Vec::new();
    for dir in &dirs {
        let rec = fake_ctx(id, Mode::Record, dir.path(), &fake);
        let (turns, summary) = responses_chain(&rec).await;
        assert_clean(&rec);
        // Recording, the client sees the server's own ids.
        assert!(turns.iter().all(|t| !t.id.contains("rec-")));
        recorded_ids.push(turns[0].id.clone());
        assert_eq!(summary, json!({"items": 1, "deleted": true}));
    }
    assert_ne!(
        recorded_ids[0], recorded_ids[1],
        "the fake issues fresh ids"
    );
    let (a, b) = (snapshot(dirs[0].path()), snapshot(dirs[1].path()));
    assert_eq!(
        a.keys().collect::<Vec<_>>(),
        b.keys().collect::<Vec<_>>(),
        "the same files"
    );
    for (name, bytes) in &a {
        assert!(bytes == &b[name], "{name} differs between two recordings");
    }
    let text = all_text(dirs[0].path());
    assert!(!text.contains(&recorded_ids[0]), "no real id is stored");
    // The id map names the chained ids and where they come from.
    let ids_file = a
        .keys()
        .find(|k| k.ends_with("_ids.json"))
        .expect("an _ids.json for a test that sends ids back");
    let ids: Value = serde_json::from_slice(&a[ids_file]).unwrap();
    let chained: Vec<&String> = ids["ids"].as_object().unwrap().keys().collect();
    assert_eq!(
        chained.len(),
        3,
        "three responses are sent back: {chained:?}"
    );
    assert!(
        chained.iter().all(|p| p.starts_with("resp_rec-")),
        "{chained:?}"
    );

    fake.stop();
    let rep = fake_ctx(id, Mode::Replay, dirs[0].path(), &fake);
    let (turns, summary) = responses_chain(&rep).await;
    assert_clean(&rep);
    assert!(
        turns.iter().all(|t| t.id.starts_with("resp_rec-")),
        "placeholders keep the prefix"
    );
    assert_eq!(
        turns[1].previous_response_id.as_deref(),
        Some(turns[0].id.as_str())
    );
    assert_eq!(summary, json!({"items": 1, "deleted": true}));
    assert_eq!(rep.counts().replayed, 7);
}

/// A streamed chain: each turn continues the id its `response.completed` event gave.
async fn streamed_chain(ctx: &RecordingContext) -> Vec<String> {
    let client = ctx.client();
    let mut texts = Vec::new();
    let mut previous: Option<String> = None;
    for question in ["Stream one.", "Stream two.", "Stream three."] {
        let mut req = ResponseRequest::new("fake-chat").input(question);
        if let Some(p) = &previous {
            req = req.previous_response_id(p);
        }
        let events: Vec<ResponseEvent> = client
            .create_response_stream(&req)
            .await
            .unwrap()
            .map(|e| e.unwrap())
            .collect()
            .await;
        assert_eq!(events[0].kind, "response.created");
        let text: String = events
            .iter()
            .filter(|e| e.kind == "response.output_text.delta")
            .filter_map(|e| e.delta.clone())
            .collect();
        let done = events.last().unwrap();
        assert_eq!(done.kind, "response.completed");
        let id = done.response.as_ref().unwrap().id.clone();
        assert_eq!(
            events[0].response.as_ref().unwrap().id,
            id,
            "one id across the events"
        );
        previous = Some(id);
        texts.push(text);
    }
    texts
}

#[tokio::test]
async fn a_streamed_chain_replays_event_by_event() {
    let fake = FakeUpstream::start();
    let dir = tempfile::tempdir().unwrap();
    let id = "agent::responses::streamed";
    let rec = fake_ctx(id, Mode::Record, dir.path(), &fake);
    let recorded = streamed_chain(&rec).await;
    assert_clean(&rec);
    assert!(recorded[2].contains("(turn 3)"), "{recorded:?}");
    // Stored as typed events, their ids and timestamps normalized.
    for f in recordings(&rec.scope_dir()) {
        let v = read_json(&f);
        let frames = frames(&v);
        assert!(
            frames.iter().all(|f| f["event"].is_string()),
            "event: lines kept"
        );
        let created = &frames[0]["data"]["response"];
        assert_eq!(created["created_at"], 0);
        assert!(created["id"].as_str().unwrap().starts_with("resp_rec-"));
    }
    fake.stop();
    let rep = fake_ctx(id, Mode::Replay, dir.path(), &fake);
    assert_eq!(streamed_chain(&rep).await, recorded);
    // Through the proxy too, as raw SSE with its `event:` lines.
    let body = http()
        .post(format!("{}/responses", rep.base_url()))
        .json(&json!({"model": "fake-chat", "input": "Stream one.", "stream": true}))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        body.starts_with("event: response.created\ndata: {"),
        "{body}"
    );
    assert_clean(&rep);
}

#[tokio::test]
async fn a_function_tool_loop_sends_the_call_id_back() {
    let fake = FakeUpstream::start();
    let dir = tempfile::tempdir().unwrap();
    let id = "agent::responses::tools";
    let run = |ctx: RecordingContext| async move {
        let client = ctx.client();
        let tool =
            json!({"type": "function", "name": "get_weather", "parameters": {"type": "object"}});
        let first = client
            .create_response(
                &ResponseRequest::new("fake-chat")
                    .input("Weather in Paris?")
                    .tools(vec![tool.clone()]),
            )
            .await
            .unwrap();
        let call = first
            .function_calls()
            .next()
            .expect("a function call")
            .clone();
        let call_id = call.call_id.clone().unwrap();
        assert!(call_id.starts_with("call_"));
        let second = client
            .create_response(
                &ResponseRequest::new("fake-chat")
                    .previous_response_id(&first.id)
                    .input_items(vec![ResponseRequest::function_call_output(
                        &call_id,
                        "18C and sunny",
                    )])
                    .tools(vec![tool]),
            )
            .await
            .unwrap();
        assert_clean(&ctx);
        (call.name, second.output_text())
    };
    let recorded = run(fake_ctx(id, Mode::Record, dir.path(), &fake)).await;
    assert_eq!(recorded.1, "The tool said: 18C and sunny");
    fake.stop();
    let replayed = run(fake_ctx(id, Mode::Replay, dir.path(), &fake)).await;
    assert_eq!(replayed, recorded);
}

/// A request that sends back a server-issued id its test never saw issued (a
/// transcript with a tool call id written into the test, a partial corpus) is stored
/// with the placeholder derived from the id itself; it replays whether the client sends
/// the raw id or that placeholder, and importing the raw recording (`normalize`) gives
/// the very same file.
#[tokio::test]
async fn an_id_issued_outside_the_test_gets_the_placeholder_derived_from_itself() {
    use recorder_runtime::idmap::derived_placeholder;
    let fake = FakeUpstream::start();
    let dir = tempfile::tempdir().unwrap();
    let id = "agent::ids::issued_outside";
    let raw = "call_Pqc1Ls2nwgQDx2T3he9RZLGs";
    let body = |call: &str| {
        json!({"model": "fake-chat", "messages": [
            {"role": "user", "content": "Weather in Paris?"},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": call, "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": call, "content": "18C"}
        ]})
    };
    let send = |ctx: &RecordingContext, call: &str| {
        let req = EngineRequest::post(
            "/v1/chat/completions",
            serde_json::to_vec(&body(call)).unwrap(),
        );
        let client = ctx.client();
        async move { client.send(req).await.unwrap().status }
    };
    let rec = fake_ctx(id, Mode::Record, dir.path(), &fake);
    assert_eq!(send(&rec, raw).await, 200);
    assert_clean(&rec);
    fake.stop();
    let files = recordings(&rec.scope_dir());
    assert_eq!(files.len(), 1);
    let stored = read_json(&files[0]);
    let derived = derived_placeholder(raw);
    assert_eq!(stored["request"]["body"], body(&derived));
    assert!(
        !all_text(dir.path()).contains(raw),
        "the raw id reaches no file"
    );

    for sent in [raw, derived.as_str()] {
        let rep = fake_ctx(id, Mode::Replay, dir.path(), &fake);
        assert_eq!(send(&rep, sent).await, 200, "{sent}");
        assert_clean(&rep);
    }

    // The same exchange with the raw id, normalized as `import` and `normalize` do:
    // the same request, the same file name.
    let mut raw_rec = recorder_runtime::recording::Recording::from_slice(
        &std::fs::read(&files[0]).unwrap(),
        &files[0],
    )
    .unwrap();
    raw_rec.request.body = body(raw);
    let out =
        recorder_runtime::normalize::normalize_scope(vec![("x.json".into(), raw_rec)]).unwrap();
    assert_eq!(out[0].recording.request.body, body(&derived));
    assert_eq!(out[0].name, files[0].file_name().unwrap().to_str().unwrap());
}

/// Upload, vector store, add the file, poll until completed, search.
async fn upload_and_poll(ctx: &RecordingContext) -> (usize, String, String) {
    let client = ctx.client();
    let file = client
        .upload_file(
            "assistants",
            "paris.txt",
            "text/plain",
            b"Paris is the capital of France.".to_vec(),
        )
        .await
        .unwrap();
    assert!(file.id.starts_with("file-"));
    let store = client.create_vector_store("notes", &[]).await.unwrap();
    let added = client
        .add_vector_store_file(&store.id, &file.id)
        .await
        .unwrap();
    assert_eq!(added.status, "in_progress");
    let mut polls = 0;
    let status = loop {
        polls += 1;
        let f = client.vector_store_file(&store.id, &file.id).await.unwrap();
        if f.status != "in_progress" || polls > 10 {
            break f.status;
        }
    };
    // One poll more than needed: replay repeats the last answer.
    let extra = client.vector_store_file(&store.id, &file.id).await.unwrap();
    assert_eq!(extra.status, "completed");
    let found = client
        .search_vector_store(&store.id, "capital of France")
        .await
        .unwrap();
    (polls, status, found.data[0].text())
}

#[tokio::test]
async fn polling_replays_each_answer_in_order_then_the_last() {
    let fake = FakeUpstream::start();
    fake.set_polls_before_completed(2);
    let dir = tempfile::tempdir().unwrap();
    let id = "agent::files::poll";
    let rec = fake_ctx(id, Mode::Record, dir.path(), &fake);
    let recorded = upload_and_poll(&rec).await;
    assert_clean(&rec);
    assert_eq!(
        recorded,
        (
            3,
            "completed".into(),
            "Paris is the capital of France.".into()
        )
    );
    let names: Vec<String> = recordings(&rec.scope_dir())
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    // Four polls of one request: <hash>.json, <hash>.2.json, .3 and .4.
    let polls: Vec<&String> = names.iter().filter(|n| n.split('.').count() == 3).collect();
    assert_eq!(polls.len(), 3, "{names:?}");
    // The upload is stored readable.
    let upload = recordings(&rec.scope_dir())
        .into_iter()
        .map(|p| read_json(&p))
        .find(|v| v["request"]["endpoint"] == "/v1/files")
        .unwrap();
    assert_eq!(
        upload["request"]["body"]["multipart"][0],
        json!({"name": "purpose", "text": "assistants"})
    );
    assert_eq!(
        upload["request"]["body"]["multipart"][1]["text"],
        "Paris is the capital of France."
    );

    fake.stop();
    let rep = fake_ctx(id, Mode::Replay, dir.path(), &fake);
    assert_eq!(upload_and_poll(&rep).await, recorded);
    assert_clean(&rep);

    // Recording again with one poll removes the occurrences no longer made.
    let fake = FakeUpstream::start();
    fake.set_polls_before_completed(0);
    let rec = fake_ctx(id, Mode::Record, dir.path(), &fake);
    assert_eq!(upload_and_poll(&rec).await.0, 1);
    assert_clean(&rec);
    let left = recordings(&rec.scope_dir())
        .iter()
        .filter(|p| p.file_name().unwrap().to_string_lossy().split('.').count() == 3)
        .count();
    assert_eq!(left, 1, "only the second (extra) poll is left");
}

#[tokio::test]
async fn record_if_missing_appends_a_new_occurrence() {
    let fake = FakeUpstream::start();
    let dir = tempfile::tempdir().unwrap();
    let id = "agent::repeat::append";
    let chat =
        || recorder_runtime::client::ChatRequest::new("fake-chat").message(Message::user("again"));
    let rec = fake_ctx(id, Mode::Record, dir.path(), &fake);
    rec.client().chat(&chat()).await.unwrap();
    assert_clean(&rec);
    assert_eq!(recordings(&rec.scope_dir()).len(), 1);
    let more = fake_ctx(id, Mode::RecordIfMissing, dir.path(), &fake);
    for _ in 0..3 {
        more.client().chat(&chat()).await.unwrap();
    }
    assert_clean(&more);
    assert_eq!(more.counts().replayed, 1);
    assert_eq!(more.counts().recorded, 2);
    let mut names: Vec<String> = recordings(&more.scope_dir())
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names.len(), 3);
    assert!(
        names[0].ends_with(".2.json") && names[1].ends_with(".3.json"),
        "{names:?}"
    );
}

#[tokio::test]
async fn uploads_replay_from_any_client_whatever_the_boundary() {
    let fake = FakeUpstream::start();
    let dir = tempfile::tempdir().unwrap();
    let id = "agent::files::clients";
    let big = vec![b'x'; 70 * 1024];
    let run = |ctx: RecordingContext, big: Vec<u8>| async move {
        let mut ids = Vec::new();
        // reqwest multipart, in process (a streamed request body).
        let form = || {
            reqwest::multipart::Form::new()
                .text("purpose", "assistants")
                .part(
                    "file",
                    reqwest::multipart::Part::bytes(b"via reqwest".to_vec()).file_name("a.txt"),
                )
        };
        let r: Value = ctx
            .reqwest_client()
            .post("http://unused/v1/files")
            .multipart(form())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        ids.push(r["id"].as_str().unwrap().to_owned());
        // reqwest multipart through the proxy.
        let r: Value = http()
            .post(format!("{}/files", ctx.base_url()))
            .multipart(form())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        ids.push(r["id"].as_str().unwrap().to_owned());
        // async-openai's file upload, in process.
        let openai = async_openai::Client::with_config(
            async_openai::config::OpenAIConfig::new().with_api_key("x"),
        )
        .with_http_service(ctx.openai_service());
        let f = openai
            .files()
            .create(async_openai::types::files::CreateFileRequest {
                file: async_openai::types::files::FileInput::from_vec_u8(
                    "b.txt".into(),
                    b"via async-openai".to_vec(),
                ),
                purpose: async_openai::types::files::FilePurpose::Assistants,
                expires_after: None,
            })
            .await
            .unwrap();
        ids.push(f.id);
        // curl -F through the proxy.
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("big.txt");
        std::fs::write(&path, &big).unwrap();
        let out = tokio::process::Command::new("curl")
            .args(["-sS", "-F", "purpose=assistants", "-F"])
            .arg(format!("file=@{}", path.display()))
            .arg(format!("{}/files", ctx.base_url()))
            .output()
            .await
            .expect("curl runs");
        let r: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{out:?}"));
        ids.push(r["id"].as_str().unwrap().to_owned());
        assert_clean(&ctx);
        ids
    };
    let recorded = run(fake_ctx(id, Mode::Record, dir.path(), &fake), big.clone()).await;
    assert_eq!(recorded.len(), 4);
    let big_file = recordings(&dir.path().join("agent/files/clients"))
        .into_iter()
        .map(|p| read_json(&p))
        .find(|v| v["request"]["body"]["multipart"][1]["size"] == 70 * 1024)
        .expect("the big upload");
    let part = &big_file["request"]["body"]["multipart"][1];
    assert_eq!(part["sha256"], recorder_runtime::identity::sha256_hex(&big));
    assert!(
        part.get("text").is_none(),
        "a big file is kept as its hash and size"
    );
    fake.stop();
    let replayed = run(fake_ctx(id, Mode::Replay, dir.path(), &fake), big).await;
    assert!(
        replayed.iter().all(|id| id.starts_with("file-rec-")),
        "{replayed:?}"
    );
}

#[tokio::test]
async fn native_auth_is_injected_and_no_key_reaches_disk() {
    let dir = tempfile::tempdir().unwrap();
    let var = format!("RECORDER_AGENT_TEST_KEY_{}", std::process::id());
    let key = format!("sk-ant-{}-0123456789abcdef", std::process::id());
    std::env::set_var(&var, &key);
    let cases = [
        (
            Auth::Header("x-api-key".into()),
            KeyIn::Header("x-api-key".into()),
            "header",
        ),
        (
            Auth::Query("key".into()),
            KeyIn::Query("key".into()),
            "query",
        ),
        (Auth::Bearer, KeyIn::Bearer, "bearer"),
    ];
    for (auth, key_in, name) in cases {
        let fake = FakeUpstream::start();
        fake.require_key(Some((key_in, &key)));
        let target = Target {
            base_url: Some(fake.openai_url()),
            api_key_env: Some(var.clone()),
            auth: auth.clone(),
            headers: [("anthropic-version".to_string(), "2023-06-01".to_string())].into(),
            ..Default::default()
        };
        let id = format!("agent::auth::{name}");
        let rec = ctx(&id, Mode::Record, dir.path(), target.clone());
        // The client sends its own stale key in the same places: replaced, never stored.
        let r = http()
            .post(format!("{}/messages?key=client-own-query-key-42", rec.base_url()))
            .header("x-api-key", "client-own-header-key-42")
            .json(&json!({"model": "fake-claude", "max_tokens": 32, "messages": [{"role": "user", "content": format!("{name}: my key is {key}")}]}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{name}: {}", r.text().await.unwrap());
        assert_clean(&rec);
        let seen = &fake.requests()[0];
        assert_eq!(seen.header("anthropic-version"), Some("2023-06-01"));
        fake.stop();
        let text = all_text(dir.path());
        for secret in [
            key.as_str(),
            "client-own-query-key-42",
            "client-own-header-key-42",
        ] {
            assert!(!text.contains(secret), "{name}: {secret} is on disk");
        }
        assert!(
            text.contains(&format!("<redacted:{var}>")),
            "{name}: the echoed key is redacted"
        );
        let (_, stored) = only_recording(&rec);
        assert_eq!(
            stored["request"]["endpoint"], "/v1/messages",
            "{name}: query credentials leave the endpoint"
        );
    }
    // The usage logs hold no key either.
    assert!(dir.path().join(".usage").is_dir(), "usage was logged");
    assert!(!all_text(dir.path()).contains(&key));
    std::env::remove_var(&var);
}

#[tokio::test]
async fn anthropic_messages_record_and_replay_with_their_event_lines() {
    let fake = FakeUpstream::start();
    let dir = tempfile::tempdir().unwrap();
    let id = "agent::messages::all";
    let run = |ctx: RecordingContext| async move {
        let client = ctx.client();
        let plain = client
            .messages(
                &MessagesRequest::new("fake-claude", 64).message(Message::user("Hello Claude")),
            )
            .await
            .unwrap();
        assert!(plain.id.starts_with("msg_"));
        let streamed: String = client
            .messages_stream(
                &MessagesRequest::new("fake-claude", 64).message(Message::user("Stream it")),
            )
            .await
            .unwrap()
            .map(|e| e.unwrap().text().to_owned())
            .collect()
            .await;
        // A tool loop: the tool_use id goes back in a tool_result.
        let tools = json!([{"name": "lookup", "input_schema": {"type": "object"}}]);
        let first = client
            .messages(
                &MessagesRequest::new("fake-claude", 64)
                    .message(Message::user("Look it up"))
                    .with("tools", tools.clone()),
            )
            .await
            .unwrap();
        let tool_use = first.content[0].clone();
        assert_eq!(tool_use["type"], "tool_use");
        let assistant = Message::with_blocks("assistant", vec![tool_use.clone()]);
        let result = Message::with_blocks(
            "user",
            vec![json!({"type": "tool_result", "tool_use_id": tool_use["id"], "content": "42"})],
        );
        let second = client
            .messages(
                &MessagesRequest::new("fake-claude", 64)
                    .message(Message::user("Look it up"))
                    .message(assistant)
                    .message(result)
                    .with("tools", tools),
            )
            .await
            .unwrap();
        let raw = http()
            .post(format!("{}/messages", ctx.base_url()))
            .header("anthropic-version", "2023-06-01")
            .json(&json!({"model": "fake-claude", "max_tokens": 64, "stream": true, "messages": [{"role": "user", "content": "Stream it"}]}))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_clean(&ctx);
        (
            plain.text(),
            streamed,
            second.text(),
            raw.replace(&plain.id, "")
                .lines()
                .filter(|l| l.starts_with("event:"))
                .count(),
        )
    };
    let recorded = run(fake_ctx(id, Mode::Record, dir.path(), &fake)).await;
    assert_eq!(recorded.2, "The tool said: 42");
    assert!(recorded.3 >= 8, "typed events: {recorded:?}");
    fake.stop();
    let replayed = run(fake_ctx(id, Mode::Replay, dir.path(), &fake)).await;
    assert_eq!(replayed, recorded);
}

#[tokio::test]
async fn compressed_answers_are_stored_decoded_and_replayed_plain() {
    for coding in ["gzip", "deflate", "br", "zstd"] {
        let fake = FakeUpstream::start();
        fake.set_encoding(Some(coding));
        let dir = tempfile::tempdir().unwrap();
        let id = format!("agent::compression::{coding}");
        let run = |ctx: RecordingContext| async move {
            let client = ctx.client();
            let plain = client
                .chat(
                    &recorder_runtime::client::ChatRequest::new("fake-chat")
                        .message(Message::user("zip")),
                )
                .await
                .unwrap()
                .text()
                .to_owned();
            let streamed: String = client
                .chat_stream(
                    &recorder_runtime::client::ChatRequest::new("fake-chat")
                        .message(Message::user("zip stream")),
                )
                .await
                .unwrap()
                .map(|c| c.unwrap().text().to_owned())
                .collect()
                .await;
            let file = client
                .upload_file(
                    "assistants",
                    "bin.dat",
                    "application/octet-stream",
                    vec![0, 159, 146, 150, 255],
                )
                .await
                .unwrap();
            let content = client.file_content(&file.id).await.unwrap();
            let proxied = http()
                .post(format!("{}/chat/completions", ctx.base_url()))
                .json(&json!({"model": "fake-chat", "messages": [{"role": "user", "content": "zip"}]}))
                .send()
                .await
                .unwrap();
            assert!(
                proxied.headers().get("content-encoding").is_none(),
                "{coding}: served decoded"
            );
            let proxied: Value = proxied.json().await.unwrap();
            assert_clean(&ctx);
            (
                plain,
                streamed,
                content,
                proxied["choices"][0]["message"]["content"].clone(),
            )
        };
        let recorded = run(fake_ctx(&id, Mode::Record, dir.path(), &fake)).await;
        assert!(
            recorded.0.contains("zip") && recorded.1.contains("zip stream"),
            "{coding}"
        );
        assert_eq!(recorded.2, vec![0, 159, 146, 150, 255]);
        for f in recordings(dir.path()) {
            let v = read_json(&f);
            assert!(v["response"]
                .get("headers")
                .is_none_or(|h| h.get("content-encoding").is_none()));
            if v["request"]["endpoint"] == "/v1/chat/completions"
                && v["response"]["body"].is_object()
            {
                assert!(
                    v["response"]["body"]["choices"].is_array(),
                    "{coding}: readable JSON, not hex"
                );
            }
        }
        fake.stop();
        let replayed = run(fake_ctx(&id, Mode::Replay, dir.path(), &fake)).await;
        assert_eq!(replayed, recorded, "{coding}");
    }
}

#[tokio::test]
async fn a_compressed_request_goes_up_compressed_and_matches_decoded() {
    use std::io::Write;
    let fake = FakeUpstream::start();
    let dir = tempfile::tempdir().unwrap();
    let id = "agent::compression::request";
    let body = serde_json::to_vec(
        &json!({"model": "fake-chat", "messages": [{"role": "user", "content": "squeezed"}]}),
    )
    .unwrap();
    let gzip = |level: u32| {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(level));
        e.write_all(&body).unwrap();
        e.finish().unwrap()
    };
    let send = |ctx: &RecordingContext, bytes: Vec<u8>, encoding: Option<&str>| {
        let mut req = http()
            .post(format!("{}/chat/completions", ctx.base_url()))
            .header("content-type", "application/json")
            .body(bytes);
        if let Some(e) = encoding {
            req = req.header("content-encoding", e);
        }
        req.send()
    };
    let rec = fake_ctx(id, Mode::Record, dir.path(), &fake);
    let r = send(&rec, gzip(1), Some("gzip")).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_clean(&rec);
    let seen = &fake.requests()[0];
    assert_eq!(
        seen.header("content-encoding"),
        Some("gzip"),
        "forwarded with its encoding"
    );
    assert_eq!(seen.body.as_ref(), gzip(1).as_slice(), "forwarded as sent");
    let (_, stored) = only_recording(&rec);
    assert_eq!(
        stored["request"]["body"]["messages"][0]["content"],
        "squeezed"
    );
    fake.stop();
    // The same JSON, compressed otherwise or not at all, is the same request.
    let rep = fake_ctx(id, Mode::Replay, dir.path(), &fake);
    assert_eq!(
        send(&rep, gzip(9), Some("gzip")).await.unwrap().status(),
        200
    );
    assert_eq!(send(&rep, body.clone(), None).await.unwrap().status(), 200);
    assert_clean(&rep);
}

#[tokio::test]
async fn response_headers_a_client_reads_are_kept() {
    let fake = FakeUpstream::start();
    let dir = tempfile::tempdir().unwrap();
    let id = "agent::headers::kept";
    let rec = fake_ctx(id, Mode::Record, dir.path(), &fake);
    let ok = rec
        .client()
        .send(EngineRequest::post(
            "/v1/embeddings",
            br#"{"model":"fake-embed","input":"h"}"#.to_vec(),
        ))
        .await
        .unwrap();
    assert!(
        ok.header("x-request-id").unwrap().starts_with("req_"),
        "the live id, recording"
    );
    fake.set_status(429);
    let limited = rec
        .client()
        .send(EngineRequest::post(
            "/v1/embeddings",
            br#"{"model":"fake-embed","input":"limited"}"#.to_vec(),
        ))
        .await
        .unwrap();
    assert_eq!(limited.status, 429);
    assert_eq!(limited.header("retry-after"), Some("2"));
    assert_clean(&rec);
    // Recorded as it came (a test of a client's retries wants it), and named: the
    // summary says replay will answer it again.
    let saves = rec.scope().saves();
    let [limited_file] = &saves.retryable[..] else {
        panic!("the 429 alone is named: {:?}", saves.retryable)
    };
    assert!(limited_file.ends_with(".json (429)"), "{limited_file}");
    let stored: Vec<Value> = recordings(&rec.scope_dir())
        .iter()
        .map(|p| read_json(p))
        .collect();
    for v in &stored {
        let h = v["response"]["headers"].as_object().unwrap();
        assert!(
            h["x-request-id"].as_str().unwrap().starts_with("rec-"),
            "normalized: {h:?}"
        );
        assert!(
            !h.contains_key("date") && !h.contains_key("openai-processing-ms"),
            "{h:?}"
        );
    }
    let on_429 = stored
        .iter()
        .find(|v| v["response"]["status"] == 429)
        .unwrap();
    assert_eq!(
        on_429["response"]["headers"]["x-ratelimit-remaining-requests"],
        "0"
    );
    let on_200 = stored
        .iter()
        .find(|v| v["response"]["status"] == 200)
        .unwrap();
    assert!(on_200["response"]["headers"]
        .get("x-ratelimit-remaining-requests")
        .is_none());
    fake.stop();
    let rep = fake_ctx(id, Mode::Replay, dir.path(), &fake);
    let r = http()
        .post(format!("{}/embeddings", rep.base_url()))
        .json(&json!({"model": "fake-embed", "input": "limited"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "2");
    assert_eq!(r.headers()["x-ratelimit-reset-requests"], "2s");
    assert!(r.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .starts_with("rec-"));
    assert_clean(&rep);
}

#[tokio::test]
async fn bad_bodies_are_clear_errors_and_write_nothing() {
    let fake = FakeUpstream::start();
    let dir = tempfile::tempdir().unwrap();
    let rec = fake_ctx("agent::bad::bodies", Mode::Record, dir.path(), &fake);
    let cases: Vec<(&str, Vec<u8>, &str, Option<&str>)> = vec![
        (
            "multipart/form-data; boundary=zz",
            b"--zz\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\nno end".to_vec(),
            "multipart/form-data body cannot be parsed",
            None,
        ),
        (
            "application/json",
            b"not gzip at all".to_vec(),
            "cannot be decoded",
            Some("gzip"),
        ),
        (
            "application/json",
            b"{}".to_vec(),
            "`compress` is not supported",
            Some("compress"),
        ),
    ];
    for (ct, body, expected, encoding) in cases {
        let mut req = http()
            .post(format!("{}/files", rec.base_url()))
            .header("content-type", ct)
            .body(body);
        if let Some(e) = encoding {
            req = req.header("content-encoding", e);
        }
        let r = req.send().await.unwrap();
        assert!(r.status().is_server_error() || r.status().is_client_error());
        let text = r.text().await.unwrap();
        assert!(text.contains(expected), "{text}");
    }
    let problems = rec.finish();
    assert_eq!(problems.len(), 3, "{problems:?}");
    assert!(fake.requests().is_empty(), "nothing went upstream");
    assert!(recordings(dir.path()).is_empty(), "nothing was written");
}

#[tokio::test]
async fn a_new_turn_after_a_replayed_one_is_not_recorded_from_an_error() {
    let fake = FakeUpstream::start();
    let dir = tempfile::tempdir().unwrap();
    let id = "agent::responses::extended";
    let rec = fake_ctx(id, Mode::Record, dir.path(), &fake);
    rec.client()
        .create_response(&ResponseRequest::new("fake-chat").input("First."))
        .await
        .unwrap();
    assert_clean(&rec);
    // The test grows a second turn; record-if-missing replays the first (a placeholder
    // id) and sends the new one upstream, which never issued that id.
    let more = fake_ctx(id, Mode::RecordIfMissing, dir.path(), &fake);
    let first = more
        .client()
        .create_response(&ResponseRequest::new("fake-chat").input("First."))
        .await
        .unwrap();
    let err = more
        .client()
        .create_response(
            &ResponseRequest::new("fake-chat")
                .input("Second.")
                .previous_response_id(&first.id),
        )
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("404"), "{err}");
    let problems = more.finish();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].contains(&first.id) && problems[0].contains("RECORD_MODE=record cargo test"),
        "{}",
        problems[0]
    );
    assert_eq!(
        recordings(&more.scope_dir()).len(),
        1,
        "the 404 was not recorded"
    );
}

#[tokio::test]
async fn async_openai_chains_responses_in_process_and_through_the_proxy() {
    use async_openai::types::responses::CreateResponseArgs;
    let fake = FakeUpstream::start();
    let dir = tempfile::tempdir().unwrap();
    let id = "agent::responses::async_openai";
    let run = |ctx: RecordingContext| async move {
        init();
        let in_process = async_openai::Client::with_config(
            async_openai::config::OpenAIConfig::new().with_api_key("x"),
        )
        .with_http_service(ctx.openai_service());
        let proxied = async_openai::Client::with_config(
            async_openai::config::OpenAIConfig::new()
                .with_api_base(ctx.base_url())
                .with_api_key("x"),
        );
        let mut texts = Vec::new();
        for client in [&in_process, &proxied] {
            let first = client
                .responses()
                .create(
                    CreateResponseArgs::default()
                        .model("fake-chat")
                        .input("Name a planet.")
                        .build()
                        .unwrap(),
                )
                .await
                .unwrap();
            let second = client
                .responses()
                .create(
                    CreateResponseArgs::default()
                        .model("fake-chat")
                        .input("Its moon?")
                        .previous_response_id(first.id.clone())
                        .build()
                        .unwrap(),
                )
                .await
                .unwrap();
            let again = client.responses().retrieve(&second.id).await.unwrap();
            assert_eq!(again.id, second.id);
            texts.push((
                first.output_text().unwrap_or_default(),
                second.output_text().unwrap_or_default(),
            ));
        }
        assert_clean(&ctx);
        texts
    };
    let recorded = run(fake_ctx(id, Mode::Record, dir.path(), &fake)).await;
    assert!(recorded[0].1.contains("(turn 2)"), "{recorded:?}");
    fake.stop();
    let replayed = run(fake_ctx(id, Mode::Replay, dir.path(), &fake)).await;
    assert_eq!(replayed, recorded);
}
