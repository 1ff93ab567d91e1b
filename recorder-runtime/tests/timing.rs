//! Stream timing is opt-in: `RECORDER_KEEP_TIMING=1` at record time stores
//! each frame's delay, `RECORDER_REPLAY_TIMING=recorded` replays those delays, and by
//! default nothing is stored and replay runs at full speed.
//!
//! The switches are environment variables, which are process-wide: this binary holds
//! exactly one test, which sets them in sequence.

mod fake_support;

use fake_support::*;
use recorder_runtime::engine::{KEEP_TIMING_VAR, REPLAY_TIMING_VAR};
use recorder_runtime::{Mode, RecordingContext};
use recorder_testkit::fake::FakeUpstream;
use serde_json::{json, Value};
use std::path::Path;
use std::time::{Duration, Instant};

const DELAY: Duration = Duration::from_millis(10);
/// A delay no replay at full speed comes near.
const LONG: Duration = Duration::from_secs(3);

/// Streams a chat through the proxy; returns the SSE data payloads and how long it took.
async fn stream_chat(ctx: &RecordingContext) -> (Vec<String>, Duration) {
    let body = json!({"model": "fake-chat", "stream": true, "messages": [{"role": "user", "content": "tick tock"}]});
    let start = Instant::now();
    let resp = http()
        .post(format!("{}/chat/completions", ctx.base_url()))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.unwrap();
    (sse_data(&text), start.elapsed())
}

fn delays(ctx: &RecordingContext) -> Vec<Option<u64>> {
    let (_, rec) = only_recording(ctx);
    frames(&rec)
        .iter()
        .map(|f| f.get("delay_ms").and_then(Value::as_u64))
        .collect()
}

async fn record(id: &str, dir: &Path, fake: &FakeUpstream) -> RecordingContext {
    let c = fake_ctx(id, Mode::Record, dir, fake);
    let (data, _) = stream_chat(&c).await;
    assert_eq!(data.last().unwrap(), "[DONE]");
    assert_clean(&c);
    c
}

async fn replay(id: &str, dir: &Path, upstream: &str) -> (Vec<String>, Duration) {
    let c = ctx(id, Mode::Replay, dir, target(upstream));
    let out = stream_chat(&c).await;
    assert_clean(&c);
    out
}

#[tokio::test]
async fn timing_is_opt_in_at_record_and_at_replay() {
    std::env::remove_var(KEEP_TIMING_VAR);
    std::env::remove_var(REPLAY_TIMING_VAR);
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeUpstream::start();
    fake.set_chunk_delay(DELAY);

    // Default: no timings stored.
    let plain = record("timing::default", dir.path(), &fake).await;
    let d = delays(&plain);
    assert!(d.iter().all(Option::is_none), "{d:?}");
    assert!(!std::fs::read_to_string(only_recording(&plain).0)
        .unwrap()
        .contains("delay_ms"));

    // RECORDER_KEEP_TIMING=1: every frame keeps its delay.
    std::env::set_var(KEEP_TIMING_VAR, "1");
    let timed = record("timing::kept", dir.path(), &fake).await;
    std::env::remove_var(KEEP_TIMING_VAR);
    let d: Vec<u64> = delays(&timed)
        .into_iter()
        .map(|d| d.expect("every frame has a delay"))
        .collect();
    assert!(d.len() >= 12);
    let slow = d
        .iter()
        .filter(|ms| **ms >= DELAY.as_millis() as u64 / 2)
        .count();
    assert!(
        slow * 10 >= d.len() * 8,
        "most frames waited about {DELAY:?}: {d:?}"
    );
    let total = Duration::from_millis(d.iter().sum());

    fake.stop();
    let upstream = fake.openai_url();

    // RECORDER_REPLAY_TIMING=recorded: the delays are replayed.
    std::env::set_var(REPLAY_TIMING_VAR, "recorded");
    let (slowed, took) = replay("timing::kept", dir.path(), &upstream).await;
    assert_eq!(slowed.len(), d.len());
    assert!(
        took >= total,
        "replayed in {took:?}, the recorded delays add up to {total:?}"
    );
    // A recording without timings replays at full speed either way.
    let (_, took_plain) = replay("timing::default", dir.path(), &upstream).await;
    assert!(took_plain < LONG, "{took_plain:?}");
    std::env::remove_var(REPLAY_TIMING_VAR);

    // Default replay: full speed. Make the stored delays long, so that honouring
    // them could not go unnoticed however slow the machine is.
    let (path, mut rec) = only_recording(&timed);
    for frame in rec["response"]["stream"]["frames"].as_array_mut().unwrap() {
        frame["delay_ms"] = json!(LONG.as_millis() as u64);
    }
    std::fs::write(&path, serde_json::to_vec_pretty(&rec).unwrap()).unwrap();
    let (fast, took) = replay("timing::kept", dir.path(), &upstream).await;
    assert_eq!(fast, slowed);
    assert!(
        took < LONG,
        "replayed in {took:?}: the stored delays were honoured"
    );
}
