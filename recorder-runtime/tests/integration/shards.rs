//! CI at scale: two shards record into separate folders; copying both into one
//! folder never conflicts, and the merged folder replays what each shard recorded,
//! model lists included (merged by id).

use recorder_runtime::client::{ChatRequest, EmbeddingRequest, Message};
use recorder_runtime::Mode;
use recorder_testkit::fake::FakeUpstream;
use std::path::Path;

/// What one shard's tests do; returns what they saw, to compare with the replay.
async fn run_tests(tests: &[&str], dir: &Path, mode: Mode, upstream: &FakeUpstream) -> Vec<String> {
    let mut seen = Vec::new();
    for t in tests {
        let c = crate::fake_support::ctx(
            t,
            mode,
            dir,
            crate::fake_support::target(&upstream.openai_url()),
        );
        let client = c.client();
        let chat = client
            .chat(&ChatRequest::new("m").message(Message::user(format!("hello from {t}"))))
            .await
            .unwrap();
        let emb = client
            .embeddings(&EmbeddingRequest::new("e", [*t]))
            .await
            .unwrap();
        let models = client.models().await.unwrap();
        let ids: Vec<_> = models.data.iter().map(|m| m.id.clone()).collect();
        seen.push(format!(
            "{t}: {} | {:?} | {}",
            chat.text(),
            &emb.data[0].embedding[..3],
            ids.join(",")
        ));
        assert!(c.finish().is_empty(), "{:?}", c.finish());
    }
    seen
}

fn copy_tree(from: &Path, to: &Path) -> usize {
    let mut copied = 0;
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            copied += copy_tree(&entry.path(), &target);
        } else if entry.path().extension().is_some_and(|e| e == "json") {
            assert!(
                !target.exists(),
                "conflict: {} exists in both shards",
                target.display()
            );
            std::fs::copy(entry.path(), &target).unwrap();
            copied += 1;
        }
    }
    copied
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shards_merge_by_copying_and_replay_the_same() {
    let a = FakeUpstream::start();
    a.set_models(["model-a", "shared"]);
    let b = FakeUpstream::start();
    b.set_models(["model-b", "shared"]);
    let (shard_a, shard_b, merged) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );

    let seen_a = run_tests(
        &["suite::one", "suite::two"],
        shard_a.path(),
        Mode::Record,
        &a,
    )
    .await;
    let seen_b = run_tests(&["suite::three"], shard_b.path(), Mode::Record, &b).await;

    let copied =
        copy_tree(shard_a.path(), merged.path()) + copy_tree(shard_b.path(), merged.path());
    assert_eq!(
        copied,
        3 * 2 + 2,
        "two recordings per test plus one model list per shard"
    );

    // Replay from the merged folder with both upstreams stopped.
    a.stop();
    b.stop();
    let replayed = run_tests(
        &["suite::one", "suite::two", "suite::three"],
        merged.path(),
        Mode::Replay,
        &a,
    )
    .await;
    for (recorded, replayed) in seen_a.iter().chain(&seen_b).zip(&replayed) {
        let (r_head, _) = recorded.rsplit_once(" | ").unwrap();
        let (p_head, models) = replayed.rsplit_once(" | ").unwrap();
        assert_eq!(r_head, p_head, "same answers after the merge");
        assert_eq!(
            models, "model-a,model-b,shared",
            "model lists of both shards, merged by id and sorted"
        );
    }
}
