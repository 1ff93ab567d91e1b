//! The secrets scrubber on the record path, and its cost on replay when a request
//! carries a key of its own.
//!
//! Every recording is scrubbed once before it is written ([`secrets::scrub`]); a
//! request is scrubbed before it is hashed when its test knows a secret (the setup's
//! key in record modes, or a key the client sends itself, in any mode).
//!
//! - `scrub/chat`: a chat completion recording (~1 KB request, JSON answer), one key
//!   that it does not hold: the common case.
//! - `scrub/chat_with_key`: the same, its prompt and answer holding the key.
//! - `scrub/stream100`: a 100-frame SSE recording (joined across frames too).
//! - `scrub/text_4k`, `scrub/text_4k_percent`: one 4 KB string without the key, plain
//!   and with `%` signs in it (the scrubber made for the call, as `scrub_str` does).
//! - `scrub/text_4k_made`: the same with a [`Scrubber`] made once (as a test's scope
//!   keeps it for its requests), and `scrub/make`: making one.
//! - `replay/no_key`, `replay/client_key`: the engine replaying a chat completion, the
//!   second with an `Authorization: Bearer` key on the request (so that its body is
//!   scrubbed before it is hashed).
//!
//! `cargo bench -p recorder-runtime --bench scrub` (add `-- --measurement-time 1
//! --warm-up-time 0.5` for a quick look).

use criterion::{criterion_group, criterion_main, Criterion};
use recorder_runtime::engine::{EngineRequest, Target};
use recorder_runtime::identity::RequestIdentity;
use recorder_runtime::recording::{RecordedRequest, RecordedResponse, Recording};
use recorder_runtime::secrets::{scrub, scrub_str, Scrubber};
use recorder_runtime::store::{RecordingKey, Store};
use recorder_runtime::stream::{Frame, StreamFormat};
use recorder_runtime::{Mode, RecordingContext};
use serde_json::{json, Value};
use std::hint::black_box;
use std::time::Duration;

const KEY: &str = "sk-proj-bench0123456789abcdefABCDEF0123";
const TEST_ID: &str = "bench::scrub::chat";
const ENDPOINT: &str = "/v1/chat/completions";

fn secrets() -> Vec<(String, String)> {
    vec![("OPENAI_API_KEY".to_string(), KEY.to_string())]
}

fn chat_body(prompt: &str) -> Value {
    json!({
        "model": "gpt-4o-mini",
        "messages": [
            {"role": "system", "content": "You are a helpful assistant. Answer briefly and cite the documents you were given when you use them."},
            {"role": "user", "content": prompt}
        ],
        "temperature": 0.7,
        "max_tokens": 256,
        "tools": [{"type": "function", "function": {"name": "search", "description": "Search the documents", "parameters": {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]}}}],
    })
}

fn chat_recording(prompt: &str, answer: &str) -> Recording {
    let body = chat_body(prompt);
    let response = json!({
        "id": "rec-0123456789ab", "object": "chat.completion", "created": 0, "model": "gpt-4o-mini",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": answer}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 40, "completion_tokens": 30, "total_tokens": 70}
    });
    Recording {
        test_id: Some(TEST_ID.into()),
        request: RecordedRequest {
            method: "POST".into(),
            endpoint: ENDPOINT.into(),
            model: Some("gpt-4o-mini".into()),
            body,
        },
        response: RecordedResponse::plain(
            200,
            Some("application/json"),
            response.to_string().as_bytes(),
        ),
    }
}

fn stream_recording() -> Recording {
    let mut rec = chat_recording("Tell me a story in a hundred words.", "");
    let frames = (0..100)
        .map(|i| Frame {
            data: Some(json!({
                "id": "rec-0123456789ab", "object": "chat.completion.chunk", "created": 0,
                "model": "gpt-4o-mini",
                "choices": [{"index": 0, "delta": {"content": format!("word{i} ")}, "finish_reason": null}]
            })),
            ..Frame::default()
        })
        .collect();
    rec.response = RecordedResponse::streamed(200, StreamFormat::Sse, frames);
    rec
}

fn scrubbing(c: &mut Criterion) {
    let secrets = secrets();
    let question = "Which of the following cities is the capital of Australia: Sydney, Melbourne, Canberra or Perth? Explain in one sentence why people often get this wrong.";
    let answer = "Canberra is the capital; people often guess Sydney because it is the largest and best known city of the country.";
    let chat = chat_recording(question, answer);
    let keyed = chat_recording(
        &format!("{question} My key is {KEY}."),
        &format!("{answer} You wrote {KEY}."),
    );
    let stream = stream_recording();
    let text = "lorem ipsum dolor sit amet, consectetur adipiscing elit. ".repeat(72);
    let percent = "about 50% of the answers were right and 25% were close; ".repeat(72);
    let mut g = c.benchmark_group("scrub");
    g.bench_function("chat", |b| {
        b.iter(|| black_box(scrub(chat.clone(), &secrets)))
    });
    g.bench_function("chat_with_key", |b| {
        b.iter(|| black_box(scrub(keyed.clone(), &secrets)))
    });
    g.bench_function("stream100", |b| {
        b.iter(|| black_box(scrub(stream.clone(), &secrets)))
    });
    g.bench_function("text_4k", |b| {
        b.iter(|| black_box(scrub_str(&text, &secrets)))
    });
    g.bench_function("text_4k_percent", |b| {
        b.iter(|| black_box(scrub_str(&percent, &secrets)))
    });
    let made = Scrubber::new(&secrets);
    g.bench_function("text_4k_made", |b| {
        b.iter(|| black_box(made.scrub_str(&text)))
    });
    g.bench_function("make", |b| b.iter(|| black_box(Scrubber::new(&secrets))));
    g.finish();
}

/// A replay of one chat completion, with and without a key on the request.
fn replay(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(dir.path());
    let body = serde_json::to_vec(&chat_body("What is the capital of Australia?")).unwrap();
    let ident = RequestIdentity::new("POST", ENDPOINT, &body, &[], Some(TEST_ID));
    let mut rec = chat_recording("What is the capital of Australia?", "Canberra.");
    rec.request.body = ident.body().clone();
    std::fs::create_dir_all(store.scope_dir(TEST_ID)).unwrap();
    std::fs::write(
        store.recording_path(TEST_ID, &RecordingKey::first(ident.hash())),
        rec.to_pretty_bytes(),
    )
    .unwrap();
    let ctx = RecordingContext::builder(TEST_ID)
        .mode(Mode::Replay)
        .dir(dir.path())
        .target(Target::default())
        .build()
        .unwrap();
    let client = ctx.client();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let bearer: http::HeaderValue = format!("Bearer {KEY}").parse().unwrap();
    let mut g = c.benchmark_group("replay");
    g.bench_function("no_key", |b| {
        b.to_async(&rt).iter(|| async {
            black_box(
                client
                    .send(EngineRequest::post(ENDPOINT, body.clone()))
                    .await
                    .unwrap()
                    .bytes()
                    .await
                    .unwrap(),
            )
        })
    });
    g.bench_function("client_key", |b| {
        b.to_async(&rt).iter(|| async {
            let req = EngineRequest::post(ENDPOINT, body.clone())
                .header(http::header::AUTHORIZATION, bearer.clone());
            black_box(client.send(req).await.unwrap().bytes().await.unwrap())
        })
    });
    g.finish();
    assert!(ctx.finish().is_empty());
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1)).sample_size(50);
    targets = scrubbing, replay
}
criterion_main!(benches);
