//! Every streamed response of the OGX recordings corpus survives SSE and NDJSON framing:
//! the wire a real server sends parses into one frame per chunk (plus `[DONE]`), in
//! order, with exactly equal JSON, and is written back byte for byte.

use recorder_runtime::stream::{parse, to_wire, Frame, FrameParser, StreamFormat};
use serde_json::Value;
use std::path::Path;

/// The full corpus, shared next to the workspace (absent from a plain clone).
const SHARED_CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/corpus/ogx");
/// The small committed subset of it.
const COMMITTED_CORPUS: &str = recorder_testkit::OGX_SUBSET;

/// Parses `wire` pushed in chunks of `size` bytes.
fn parse_in_chunks(format: StreamFormat, wire: &[u8], size: usize) -> Vec<Frame> {
    let mut parser = FrameParser::new(format);
    let mut frames = Vec::new();
    for chunk in wire.chunks(size) {
        frames.extend(parser.push(chunk));
    }
    frames.extend(parser.finish().expect("the wire is valid UTF-8"));
    frames
}

/// Checks one stream's chunks in both formats; `name` is for messages.
fn check_stream(name: &str, chunks: &[Value]) {
    let mut sse = Vec::new();
    let mut ndjson = Vec::new();
    for chunk in chunks {
        let json = serde_json::to_string(chunk).unwrap();
        sse.extend_from_slice(format!("data: {json}\n\n").as_bytes());
        ndjson.extend_from_slice(format!("{json}\n").as_bytes());
    }
    sse.extend_from_slice(b"data: [DONE]\n\n");

    let mut expected: Vec<Value> = chunks.to_vec();
    expected.push(Value::String("[DONE]".into()));
    for (format, wire, expected) in [
        (StreamFormat::Sse, &sse, &expected[..]),
        (StreamFormat::Ndjson, &ndjson, &expected[..chunks.len()]),
    ] {
        let frames = parse(format, wire).unwrap_or_else(|e| panic!("{name} ({format:?}): {e}"));
        assert_eq!(
            frames.len(),
            expected.len(),
            "{name} ({format:?}): frame count"
        );
        for (i, (frame, chunk)) in frames.iter().zip(expected).enumerate() {
            let only_data = Frame {
                data: Some(chunk.clone()),
                ..Frame::default()
            };
            assert!(
                *frame == only_data,
                "{name} ({format:?}): frame {i} differs:\n{frame:?}\nexpected data {chunk}"
            );
        }
        assert!(
            parse_in_chunks(format, wire, 7) == frames,
            "{name} ({format:?}): 7-byte chunks parse differently"
        );
        assert!(
            to_wire(format, &frames) == *wire,
            "{name} ({format:?}): to_wire differs from the original bytes"
        );
    }
}

/// Checks every streamed recording (`*.json` with `response.is_streaming`) in `dir`;
/// returns how many streams were checked, or `None` if the folder does not exist.
fn check_folder(dir: &Path) -> Option<usize> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(_) => {
            println!("note: {} does not exist; skipped", dir.display());
            return None;
        }
    };
    let mut paths: Vec<_> = entries
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    paths.sort();
    let mut checked = 0;
    for path in paths {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        let recording: Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        let response = &recording["response"];
        if response["is_streaming"] != Value::Bool(true) {
            continue;
        }
        let body = response["body"]
            .as_array()
            .unwrap_or_else(|| panic!("{name}: a streaming body is a list of chunks"));
        let chunks: Vec<Value> = body
            .iter()
            .map(|item| {
                item.get("__data__")
                    .cloned()
                    .unwrap_or_else(|| panic!("{name}: chunk without __data__"))
            })
            .collect();
        check_stream(&name, &chunks);
        checked += 1;
    }
    println!("{}: {checked} streams checked", dir.display());
    Some(checked)
}

#[test]
fn shared_ogx_corpus_streams_survive_framing() {
    if let Some(checked) = check_folder(Path::new(SHARED_CORPUS)) {
        assert!(checked >= 400, "only {checked} streams in {SHARED_CORPUS}");
    }
}

#[test]
fn committed_ogx_subset_streams_survive_framing() {
    if let Some(checked) = check_folder(Path::new(COMMITTED_CORPUS)) {
        assert!(checked > 0, "no streamed recording in {COMMITTED_CORPUS}");
    }
}
