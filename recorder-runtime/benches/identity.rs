//! Identity hashing throughput: parsing a request body, canonicalizing it (sorted
//! keys, rounded floats, ignored fields removed) and hashing it with sha256, as every
//! replayed request does once.
//!
//! - `identity/chat_1k`: a typical chat request (~1 KB: system + user messages,
//!   temperature, tools).
//! - `identity/embeddings_64k`: an embeddings request with 256 inputs (~64 KB).
//! - `request_hash/...`: the same hash as the replay hot path computes it, from the
//!   bytes without a `serde_json::Value`.
//! - `canonical/...`: the canonical text alone (no parse, no hash), to see the split.
//!
//! `cargo bench -p recorder-runtime --bench identity`

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use recorder_runtime::identity::{request_hash, write_canonical, RequestIdentity};
use serde_json::json;
use std::hint::black_box;
use std::time::Duration;

fn chat_body() -> Vec<u8> {
    serde_json::to_vec(&json!({
        "model": "gpt-4o-mini",
        "messages": [
            {"role": "system", "content": "You are a helpful assistant. Answer briefly and cite the documents you were given when you use them."},
            {"role": "user", "content": "Which of the following cities is the capital of Australia: Sydney, Melbourne, Canberra or Perth? Explain in one sentence why people often get this wrong."}
        ],
        "temperature": 0.7000000001,
        "top_p": 1.0,
        "max_tokens": 256,
        "seed": 42,
        "user": "user-1234",
        "metadata": {"trace_id": "0af7651916cd43dd8448eb211c80319c"},
        "tools": [{"type": "function", "function": {"name": "search", "description": "Search the documents", "parameters": {"type": "object", "properties": {"query": {"type": "string"}, "limit": {"type": "integer", "minimum": 1, "maximum": 20}}, "required": ["query"]}}}],
        "tool_choice": "auto",
        "stream": false
    }))
    .unwrap()
}

fn embeddings_body() -> Vec<u8> {
    let input: Vec<String> = (0..256)
        .map(|i| {
            format!(
                "document number {i}: {}",
                "lorem ipsum dolor sit amet, consectetur adipiscing elit. ".repeat(4)
            )
        })
        .collect();
    serde_json::to_vec(
        &json!({"model": "text-embedding-3-small", "input": input, "encoding_format": "float"}),
    )
    .unwrap()
}

fn identity(c: &mut Criterion) {
    let ignore = vec!["user".to_string(), "metadata.trace_id".to_string()];
    let mut g = c.benchmark_group("identity");
    for (name, body) in [
        ("chat_1k", chat_body()),
        ("embeddings_64k", embeddings_body()),
    ] {
        g.throughput(Throughput::Bytes(body.len() as u64));
        g.bench_function(name, |b| {
            b.iter(|| {
                black_box(
                    RequestIdentity::new(
                        "POST",
                        "/v1/chat/completions",
                        black_box(&body),
                        &ignore,
                        Some("bench::identity::test[text=m]"),
                    )
                    .hash(),
                )
            })
        });
    }
    g.finish();

    // What a replay computes: the same hash without building a `serde_json::Value`.
    let mut g = c.benchmark_group("request_hash");
    for (name, body) in [
        ("chat_1k", chat_body()),
        ("embeddings_64k", embeddings_body()),
    ] {
        g.throughput(Throughput::Bytes(body.len() as u64));
        g.bench_function(name, |b| {
            b.iter(|| {
                black_box(request_hash(
                    "POST",
                    "/v1/chat/completions",
                    black_box(&body),
                    &ignore,
                    Some("bench::identity::test[text=m]"),
                ))
            })
        });
    }
    g.finish();

    let mut g = c.benchmark_group("sha256");
    for (name, body) in [
        ("chat_1k", chat_body()),
        ("embeddings_64k", embeddings_body()),
    ] {
        g.throughput(Throughput::Bytes(body.len() as u64));
        g.bench_function(name, |b| {
            b.iter(|| black_box(recorder_runtime::identity::sha256_hex(black_box(&body))))
        });
    }
    g.finish();

    let mut g = c.benchmark_group("canonical");
    for (name, body) in [
        ("chat_1k", chat_body()),
        ("embeddings_64k", embeddings_body()),
    ] {
        let value: serde_json::Value = serde_json::from_slice(&body).unwrap();
        g.throughput(Throughput::Bytes(body.len() as u64));
        g.bench_function(name, |b| {
            b.iter(|| {
                let mut out = String::with_capacity(body.len());
                write_canonical(black_box(&value), &mut out);
                black_box(out)
            })
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1)).sample_size(50);
    targets = identity
}
criterion_main!(benches);
