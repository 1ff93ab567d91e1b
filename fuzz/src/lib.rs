//! Fuzz properties of the recording loader, the SSE and NDJSON parsers and the
//! identity canonicalizer. Each `check_*` function takes arbitrary bytes and panics
//! when a property fails; it must never panic otherwise.
//!
//! The same functions run in two places:
//! - `recorder-runtime/tests/fuzz.rs` (the default `cargo test`): the committed
//!   regression inputs, then a few thousand random inputs per target (bolero's
//!   random engine, no instrumentation);
//! - `fuzz/fuzz_targets/targets.rs` under `cargo bolero test --engine libfuzzer
//!   --sanitizer NONE` (coverage-guided libFuzzer on the stable toolchain), driven by
//!   `scripts/fuzz.sh` for a bounded time per target.
//!
//! Random bytes rarely spell `data:` or valid JSON, so each target also decodes its
//! input into structure (SSE tokens, JSON values, whole recordings) and checks that too.

use recorder_runtime::identity::{
    request_canonical, request_hash, write_canonical, RequestIdentity,
};
use recorder_runtime::recording::{RecordedRequest, RecordedResponse, Recording};
use recorder_runtime::store::Replay;
use recorder_runtime::stream::{self, Frame, FrameParser, StreamFormat};
use serde_json::{Map, Number, Value};
use std::path::{Path, PathBuf};

/// The fuzz targets, by name (also the names of their regression folders).
pub const TARGETS: [&str; 4] = [
    "recording_loader",
    "sse_parser",
    "ndjson_parser",
    "identity",
];

/// Runs the named target on one input.
pub fn check(target: &str, data: &[u8]) {
    match target {
        "recording_loader" => check_recording_loader(data),
        "sse_parser" => check_stream_parser(StreamFormat::Sse, data),
        "ndjson_parser" => check_stream_parser(StreamFormat::Ndjson, data),
        "identity" => check_identity(data),
        other => panic!("unknown fuzz target {other}"),
    }
}

/// The committed regression inputs of a target: `fuzz/regressions/<target>/*`.
pub fn regressions(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("fuzz")
        .join("regressions")
        .join(target);
    let dir = if dir.is_dir() {
        dir
    } else {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("regressions")
            .join(target)
    };
    let mut out: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(&dir)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| {
                    p.is_file()
                        && !p
                            .file_name()
                            .is_some_and(|n| n.to_string_lossy().starts_with("."))
                })
                .map(|p| (p.clone(), std::fs::read(&p).unwrap()))
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

// ---------------------------------------------------------------------------
// Recording loader

/// Raw bytes, or (first byte odd) a recording built from the input and possibly
/// truncated: loading never panics, errors name the file, and a loaded recording
/// writes back to bytes that load to the same recording, stably.
pub fn check_recording_loader(data: &[u8]) {
    let path = Path::new("recordings/fuzz/test/0000.json");
    let built;
    let bytes: &[u8] = match data.split_first() {
        Some((tag, rest)) if tag % 2 == 1 => {
            let mut input = Input(rest);
            let rec = recording_from(&mut input);
            let mut text = rec.to_pretty_bytes();
            if tag % 4 == 3 {
                let cut = input.byte() as usize * text.len() / 256;
                text.truncate(cut);
            }
            built = text;
            &built
        }
        _ => data,
    };
    load_and_round_trip(bytes, path);
}

fn load_and_round_trip(bytes: &[u8], path: &Path) {
    match Recording::from_slice(bytes, path) {
        Err(e) => {
            let msg = e.to_string();
            assert!(
                msg.contains(&path.display().to_string()),
                "the error does not name the file: {msg}"
            );
        }
        Ok(rec) => {
            let written = rec.to_pretty_bytes();
            let again = Recording::from_slice(&written, path).unwrap_or_else(|e| {
                panic!(
                    "a written recording does not load: {e}\n{}",
                    String::from_utf8_lossy(&written)
                )
            });
            assert_eq!(again, rec, "write then load changes the recording");
            assert_eq!(again.to_pretty_bytes(), written, "writing is not stable");
            let hash = rec.request_hash();
            assert_eq!(hash.len(), 64);
            // What a replay builds from it.
            let _ = Replay::from_recording(rec, path.to_path_buf());
        }
    }
}

fn recording_from(input: &mut Input) -> Recording {
    let streamed = input.byte().is_multiple_of(2);
    let body = value_from(input, 3);
    let response = if streamed {
        let format = if input.byte().is_multiple_of(2) {
            StreamFormat::Sse
        } else {
            StreamFormat::Ndjson
        };
        let n = input.byte() % 6;
        let frames = (0..n)
            .map(|_| {
                let data = if input.byte().is_multiple_of(3) {
                    Some(Value::String(input.text()))
                } else {
                    Some(value_from(input, 2))
                };
                let sse = format == StreamFormat::Sse;
                Frame {
                    event: (sse && input.byte().is_multiple_of(4)).then(|| input.text()),
                    id: (sse && input.byte().is_multiple_of(4)).then(|| input.text()),
                    data,
                    delay_ms: (input.byte().is_multiple_of(4)).then(|| input.byte() as u64),
                    ..Frame::default()
                }
            })
            .collect();
        RecordedResponse::streamed(200, format, frames)
    } else {
        let raw = match input.byte() % 3 {
            0 => serde_json::to_vec(&value_from(input, 3)).unwrap(),
            1 => input.text().into_bytes(),
            _ => input.take(16).to_vec(),
        };
        let status = [200u16, 201, 400, 404, 500][input.byte() as usize % 5];
        RecordedResponse::plain(
            status,
            Some(
                ["application/json", "text/plain", "application/octet-stream"]
                    [input.byte() as usize % 3],
            ),
            &raw,
        )
    };
    Recording {
        test_id: (!input.byte().is_multiple_of(8)).then(|| input.text()),
        request: RecordedRequest {
            method: ["GET", "POST", "DELETE"][input.byte() as usize % 3].into(),
            endpoint: format!("/v1/{}", input.text()),
            model: (input.byte().is_multiple_of(2)).then(|| input.text()),
            body,
        },
        response,
    }
}

// ---------------------------------------------------------------------------
// SSE and NDJSON

/// SSE tokens the input's bytes stand for (a byte past the table is itself).
const SSE_TOKENS: &[&[u8]] = &[
    b"data: ",
    b"data:",
    b"event: ",
    b"id: ",
    b"retry: ",
    b": ",
    b"\n",
    b"\n",
    b"\n\n",
    b"\r\n",
    b"\r",
    b"{\"a\":1}",
    b"[DONE]",
    b"{\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}",
    b"\"text\"",
    b"12345678901234567890123",
    b"-0.5e3",
    b"\xEF\xBB\xBF",
    b"\xff",
    b"\xc3",
    b"\xa9",
    b" ",
    b"true",
    b"null",
    b"nope",
    b"[1,2",
    b"}",
];

/// Parsing never panics; any chunking gives the same frames as one push; frames
/// written back parse to the same frames (SSE: and the wire is then a fixed point).
pub fn check_stream_parser(format: StreamFormat, data: &[u8]) {
    let (mode, rest) = data.split_first().unwrap_or((&0, &[]));
    let wire: Vec<u8> = if mode.is_multiple_of(2) {
        rest.to_vec()
    } else {
        rest.iter()
            .flat_map(|b| {
                SSE_TOKENS
                    .get(*b as usize)
                    .copied()
                    .unwrap_or(std::slice::from_ref(b))
                    .iter()
                    .copied()
            })
            .collect()
    };
    let whole = stream::parse(format, &wire);
    // Chunked: sizes taken from the input, cycling.
    let mut parser = FrameParser::new(format);
    let mut frames = Vec::new();
    let sizes: Vec<usize> = data
        .iter()
        .map(|b| (*b as usize % 7) + 1)
        .chain([3])
        .collect();
    let (mut at, mut k) = (0, 0);
    while at < wire.len() {
        let end = (at + sizes[k % sizes.len()]).min(wire.len());
        frames.extend(parser.push(&wire[at..end]));
        at = end;
        k += 1;
    }
    let chunked = parser.finish().map(|last| {
        frames.extend(last);
        frames
    });
    match (&whole, &chunked) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "chunking changes the frames"),
        (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string()),
        _ => panic!("chunking changes the outcome: {whole:?} vs {chunked:?}"),
    }
    let Ok(frames) = whole else { return };
    let written = stream::to_wire(format, &frames);
    let again = stream::parse(format, &written)
        .unwrap_or_else(|e| panic!("written frames do not parse: {e}"));
    assert_eq!(
        again,
        frames,
        "frames do not survive the wire: {}",
        String::from_utf8_lossy(&written)
    );
    assert_eq!(
        stream::to_wire(format, &again),
        written,
        "the wire is not a fixed point"
    );
    // The typed reader's fast path agrees with the parser on every chunk it takes:
    // the whole input, and each frame as replay sends it.
    let chunks = std::iter::once(wire.clone()).chain(
        frames
            .iter()
            .map(|f| stream::frame_bytes(format, f).to_vec()),
    );
    for chunk in chunks {
        if let Some(data) = FrameParser::new(format).push_single_data(&chunk) {
            let mut slow = FrameParser::new(format).raw_data();
            let mut got = slow.push(&chunk);
            got.extend(slow.finish().expect("the fast path took valid UTF-8"));
            let text = std::str::from_utf8(data).expect("UTF-8 data");
            let want = stream::Frame {
                data: Some(Value::String(text.into())),
                ..stream::Frame::default()
            };
            assert_eq!(
                got,
                vec![want],
                "push_single_data disagrees with push on {:?}",
                String::from_utf8_lossy(&chunk)
            );
        }
    }
    for frame in &frames {
        assert_eq!(stream::frame_bytes(format, frame).len(), {
            let mut v = Vec::new();
            stream::write_frame(format, frame, &mut v);
            v.len()
        });
    }
}

// ---------------------------------------------------------------------------
// Identity

/// Never panics; the hash is 64 hex of the canonical text, which is valid JSON and
/// a fixed point; key order and float noise below the precision do not count.
pub fn check_identity(data: &[u8]) {
    let (mode, rest) = data.split_first().unwrap_or((&0, &[]));
    let body: Vec<u8> = if mode.is_multiple_of(2) {
        rest.to_vec()
    } else {
        serde_json::to_vec(&value_from(&mut Input(rest), 4)).unwrap()
    };
    // Strings are escaped exactly as serde_json escapes them.
    let text = String::from_utf8_lossy(rest).into_owned();
    let mut escaped = String::new();
    write_canonical(&Value::String(text.clone()), &mut escaped);
    assert_eq!(
        escaped,
        serde_json::to_string(&text).unwrap(),
        "string escaping differs"
    );
    let ignore = vec!["user".to_string(), "metadata.trace_id".to_string()];
    let ident = RequestIdentity::new(
        "POST",
        "/v1/chat/completions",
        &body,
        &ignore,
        Some("fuzz::identity"),
    );
    let canonical = ident.canonical();
    let hash = ident.hash();
    // The replay hot path's hash, computed without a `Value`, is the same.
    assert_eq!(
        request_hash(
            "post",
            "/v1/chat/completions",
            &body,
            &ignore,
            Some("fuzz::identity")
        ),
        hash,
        "request_hash differs for {}",
        String::from_utf8_lossy(&body)
    );
    assert_eq!(
        request_canonical(
            "POST",
            "/v1/chat/completions",
            &body,
            &ignore,
            Some("fuzz::identity")
        ),
        canonical,
        "request_canonical differs"
    );
    assert!(hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()));
    let parsed: Value = serde_json::from_str(&canonical)
        .unwrap_or_else(|e| panic!("the canonical text is not JSON ({e}): {canonical}"));
    // Canonicalizing the canonical body again changes nothing.
    let body_again = serde_json::to_vec(&parsed["body"]).unwrap();
    let again = RequestIdentity::new(
        "POST",
        "/v1/chat/completions",
        &body_again,
        &ignore,
        Some("fuzz::identity"),
    );
    assert_eq!(
        again.canonical(),
        canonical,
        "canonical form is not a fixed point"
    );
    // Key order does not count.
    if let Ok(v) = serde_json::from_slice::<Value>(&body) {
        let reordered = serde_json::to_vec(&reverse_keys(&v)).unwrap();
        let other = RequestIdentity::new(
            "POST",
            "/v1/chat/completions",
            &reordered,
            &ignore,
            Some("fuzz::identity"),
        );
        assert_eq!(other.hash(), hash, "key order changed the identity");
    }
}

fn reverse_keys(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .rev()
                .map(|(k, v)| (k.clone(), reverse_keys(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(reverse_keys).collect()),
        other => other.clone(),
    }
}

// ---------------------------------------------------------------------------
// Decoding structure from bytes

/// Bytes read front to back; zeros once they run out.
pub struct Input<'a>(pub &'a [u8]);

impl Input<'_> {
    fn byte(&mut self) -> u8 {
        match self.0.split_first() {
            Some((b, rest)) => {
                self.0 = rest;
                *b
            }
            None => 0,
        }
    }
    fn take(&mut self, n: usize) -> &[u8] {
        let n = n.min(self.0.len());
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        head
    }
    /// A short string: printable words, JSON-ish text, escapes, control and non-ASCII characters.
    fn text(&mut self) -> String {
        const PIECES: &[&str] = &[
            "a",
            "b",
            "user",
            "trace_id",
            "metadata",
            " ",
            "\"",
            "\\",
            "\n",
            "\r",
            "\t",
            "\u{1}",
            "é",
            "😀",
            "[DONE]",
            "{",
            "}",
            "0.7",
            ":",
            "data: ",
            "<redacted:K>",
            "/",
            "?",
        ];
        let n = self.byte() % 6;
        (0..n)
            .map(|_| PIECES[self.byte() as usize % PIECES.len()])
            .collect()
    }
}

/// A JSON value decoded from the input, at most `depth` levels deep.
pub fn value_from(input: &mut Input, depth: u8) -> Value {
    match input.byte() % if depth == 0 { 5 } else { 7 } {
        0 => Value::Null,
        1 => Value::Bool(input.byte().is_multiple_of(2)),
        2 => {
            let b = input.take(8);
            let mut raw = [0u8; 8];
            raw[..b.len()].copy_from_slice(b);
            let n = i64::from_le_bytes(raw);
            match input.byte() % 3 {
                0 => Value::from(n % 1000),
                1 => Value::from(n),
                _ => Value::from(n as u64),
            }
        }
        3 => {
            let b = input.take(8);
            let mut raw = [0u8; 8];
            raw[..b.len()].copy_from_slice(b);
            let f = match input.byte() % 3 {
                0 => f64::from_le_bytes(raw),
                1 => (i16::from_le_bytes([raw[0], raw[1]]) as f64) / 1000.0 + 1e-9 * raw[2] as f64,
                _ => (raw[0] as f64) * 10f64.powi(raw[1] as i32 % 40 - 20),
            };
            Number::from_f64(f)
                .map(Value::Number)
                .unwrap_or(Value::Null)
        }
        4 => Value::String(input.text()),
        5 => Value::Array(
            (0..input.byte() % 4)
                .map(|_| value_from(input, depth - 1))
                .collect(),
        ),
        _ => {
            let mut m = Map::new();
            for _ in 0..input.byte() % 5 {
                let k = input.text();
                m.insert(k, value_from(input, depth - 1));
            }
            Value::Object(m)
        }
    }
}
