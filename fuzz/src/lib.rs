//! Fuzz properties of the recording loader, the SSE and NDJSON parsers and the
//! identity canonicalizer. Each `check_*` function takes arbitrary bytes and panics
//! when a property fails; it must never panic otherwise.
//!
//! The same functions run in two places:
//! - `recorder-runtime/tests/integration/fuzz.rs` (the default `cargo test`): the committed
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
pub const TARGETS: [&str; 8] = [
    "recording_loader",
    "sse_parser",
    "ndjson_parser",
    "identity",
    "http_front",
    "multipart",
    "compressed",
    "scrubber",
];

/// Runs the named target on one input.
pub fn check(target: &str, data: &[u8]) {
    match target {
        "recording_loader" => check_recording_loader(data),
        "sse_parser" => check_stream_parser(StreamFormat::Sse, data),
        "ndjson_parser" => check_stream_parser(StreamFormat::Ndjson, data),
        "identity" => check_identity(data),
        "http_front" => check_http_front(data),
        "multipart" => check_multipart(data),
        "compressed" => check_compressed(data),
        "scrubber" => check_scrubber(data),
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
// The HTTP front: what a client can send to the loopback proxy

/// A proxy over an empty recordings folder, replaying, with a test-id router (as
/// `recordings serve` runs), started once per process.
fn front() -> &'static str {
    static ADDR: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    ADDR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("recorder-fuzz-front-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let recorder = recorder_runtime::registry::Registry::with_limits(
            &dir,
            recorder_runtime::Mode::Replay,
            recorder_runtime::engine::Target::default(),
            16,
            None,
        );
        let proxy = recorder_runtime::proxy::Proxy::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        proxy.set_fallback(recorder);
        let addr = proxy.addr().to_string();
        std::mem::forget(proxy);
        addr
    })
}

/// Raw bytes (or, first byte odd, a request built from the input: request line,
/// headers such as Host, Origin, X-Recorder-Test-Id, Content-Length, Content-Encoding,
/// Content-Type with a boundary, and a body) sent to the proxy: whatever it answers is
/// HTTP or nothing, it never writes a file for a replaying recorder, and it still
/// answers a well-formed request afterwards.
pub fn check_http_front(data: &[u8]) {
    use std::io::{Read, Write};
    let addr = front();
    let built;
    let bytes: &[u8] = match data.split_first() {
        Some((tag, rest)) if tag % 2 == 1 => {
            let mut input = Input(rest);
            built = request_from(&mut input, addr);
            &built
        }
        _ => data,
    };
    let exchange = |bytes: &[u8], half_close: bool| -> Vec<u8> {
        let Ok(mut s) = std::net::TcpStream::connect(addr) else {
            panic!("the proxy stopped accepting connections");
        };
        let _ = s.set_read_timeout(Some(std::time::Duration::from_secs(15)));
        let _ = s.write_all(bytes);
        if half_close {
            // A fuzz input may be a request cut anywhere: end it, so as not to wait
            // for the header timeout.
            let _ = s.shutdown(std::net::Shutdown::Write);
        }
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        out
    };
    let answer = exchange(bytes, true);
    assert!(
        answer.is_empty() || answer.starts_with(b"HTTP/1."),
        "not an HTTP answer: {}",
        String::from_utf8_lossy(&answer[..answer.len().min(200)])
    );
    let probe = format!("GET /v1/models HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    let answer = exchange(probe.as_bytes(), false);
    assert!(
        answer.starts_with(b"HTTP/1.1 "),
        "the proxy stopped answering"
    );
}

fn request_from(input: &mut Input, addr: &str) -> Vec<u8> {
    let methods = ["GET", "POST", "DELETE", "PUT", "OPTIONS", "G\u{0}T"];
    let method = methods[input.byte() as usize % methods.len()];
    let paths = [
        "/v1/chat/completions",
        "/s/00000000000000000000000000000000/v1/x",
        "/../../etc/passwd",
        "http://169.254.169.254/latest",
        "/v1/x?key=secret123456789",
        "*",
        "",
    ];
    let mut path = paths[input.byte() as usize % paths.len()].to_owned();
    path.push_str(&string_from(input, 12));
    let mut req = format!("{method} {path} HTTP/1.1\r\n").into_bytes();
    let n = input.byte() % 6;
    for _ in 0..n {
        let names = [
            "Host",
            "Origin",
            "X-Recorder-Test-Id",
            "Content-Length",
            "Content-Encoding",
            "Content-Type",
            "Transfer-Encoding",
            "Authorization",
        ];
        let name = names[input.byte() as usize % names.len()];
        let value = match name {
            "Host" if input.byte().is_multiple_of(2) => addr.to_owned(),
            "Content-Type" => format!("multipart/form-data; boundary={}", string_from(input, 8)),
            "Content-Encoding" => {
                ["gzip", "br", "zstd", "deflate", "x"][input.byte() as usize % 5].to_owned()
            }
            _ => string_from(input, 24),
        };
        req.extend_from_slice(name.as_bytes());
        req.extend_from_slice(b": ");
        req.extend_from_slice(value.as_bytes());
        req.extend_from_slice(b"\r\n");
    }
    req.extend_from_slice(b"Connection: close\r\n\r\n");
    req.extend_from_slice(input.0);
    req
}

fn string_from(input: &mut Input, max: usize) -> String {
    let n = input.byte() as usize % (max + 1);
    String::from_utf8_lossy(input.take(n)).into_owned()
}

// ---------------------------------------------------------------------------
// Multipart bodies

/// Random bytes as a multipart body (never a panic, and a parse error says so); and
/// parts built from the input, written under two boundaries: one identity. A key put
/// into the parts (as it is, or base64-encoded inside a file's bytes) is in no part's
/// text and no part's decoded `base64` afterwards.
pub fn check_multipart(data: &[u8]) {
    use base64::Engine as _;
    use recorder_runtime::multipart::{describe, Limits};
    use recorder_runtime::secrets::Scrubber;
    let (boundary, body) = match data.split_first() {
        Some((n, rest)) => {
            let n = (*n as usize % 16).min(rest.len());
            (String::from_utf8_lossy(&rest[..n]).into_owned(), &rest[n..])
        }
        None => (String::new(), data),
    };
    if let Err(e) = describe(body, &boundary, &Scrubber::default(), &Limits::default()) {
        assert!(e.to_string().contains("multipart"), "{e}");
    }
    let mut input = Input(data);
    let key = key_from(&mut input);
    let parts: Vec<(String, Option<String>, Vec<u8>)> = (0..input.byte() % 4)
        .map(|i| {
            let name = format!("p{i}");
            let file = (input.byte() % 2 == 0).then(|| format!("f{i}.bin"));
            let n = input.byte() as usize;
            let mut content = input.take(n).to_vec();
            let at = input.byte() as usize % (content.len() + 1);
            match input.byte() % 3 {
                0 => {}
                1 => drop(content.splice(at..at, key.bytes())),
                _ => {
                    let b64 = base64::engine::general_purpose::STANDARD.encode(format!("k:{key}"));
                    drop(content.splice(at..at, b64.bytes()));
                }
            }
            (name, file, content)
        })
        .collect();
    let write = |b: &str| {
        let mut out = Vec::new();
        for (name, file, content) in &parts {
            out.extend_from_slice(
                format!("--{b}\r\nContent-Disposition: form-data; name=\"{name}\"").as_bytes(),
            );
            if let Some(f) = file {
                out.extend_from_slice(format!("; filename=\"{f}\"").as_bytes());
            }
            out.extend_from_slice(b"\r\n\r\n");
            out.extend_from_slice(content);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(format!("--{b}--\r\n").as_bytes());
        out
    };
    let (a, b) = ("boundaryAAAA0001", "zzzzzzzzzzzzzzzzzzzzzzzzzz0002");
    let (pa, pb) = (write(a), write(b));
    // A content that holds a boundary line is not a well-formed part; skip those.
    let clash = |c: &[u8]| c.windows(4).any(|w| w == b"\r\n--");
    if parts.iter().any(|(_, _, c)| clash(c)) {
        return;
    }
    let secrets = if recorder_runtime::secrets::is_secret(&key) {
        Scrubber::new(&[("FUZZ_KEY".to_string(), key.clone())])
    } else {
        Scrubber::default()
    };
    let da = describe(&pa, a, &secrets, &Limits::default()).expect("well-formed parts parse");
    let db = describe(&pb, b, &secrets, &Limits::default()).expect("well-formed parts parse");
    assert_eq!(da, db, "the boundary changed the identity");
    if secrets.is_empty() {
        return;
    }
    for part in da["multipart"].as_array().expect("a list of parts") {
        let mut stored: Vec<Vec<u8>> = Vec::new();
        if let Some(text) = part["text"].as_str() {
            stored.push(text.as_bytes().to_vec());
        }
        if let Some(b64) = part["base64"].as_str() {
            stored.push(
                base64::engine::general_purpose::STANDARD
                    .decode(b64)
                    .expect("stored base64 decodes"),
            );
        }
        for bytes in stored {
            assert!(
                memchr_find(&bytes, key.as_bytes()).is_none(),
                "the key is stored in a part: {part}"
            );
        }
    }
}

/// Where `needle` first is in `haystack`.
fn memchr_find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// A random key: 8 to 31 printable ASCII characters, no `"` or `\\`.
fn key_from(input: &mut Input) -> String {
    let key_len = 8 + input.byte() as usize % 24;
    (0..key_len)
        .map(|_| (b'!' + input.byte() % 94) as char)
        .filter(|c| *c != '"' && *c != '\\')
        .collect()
}

// ---------------------------------------------------------------------------
// Compressed bodies

/// Random bytes under a random coding never panic and never decode past the limit;
/// bytes compressed with the coding decode back to them, whole and chunk by chunk.
pub fn check_compressed(data: &[u8]) {
    use recorder_runtime::compression::{decode, Codings, StreamDecoder};
    use std::io::Write;
    let Some((tag, rest)) = data.split_first() else {
        return;
    };
    let names = ["gzip", "deflate", "br", "zstd", "gzip, br", "identity"];
    let name = names[*tag as usize % names.len()];
    let codings = Codings::parse(name).unwrap();
    let limit = 1 << 16;
    if let Ok(out) = decode(&codings, rest, limit) {
        assert!(out.len() <= limit);
    }
    let mut d = StreamDecoder::new(&codings, limit).expect("compression is on");
    let mut total = 0;
    for chunk in rest.chunks(7) {
        match d.push(chunk) {
            Ok(out) => total += out.len(),
            Err(_) => return,
        }
    }
    if let Ok(out) = d.finish() {
        assert!(total + out.len() <= limit);
    }
    if name == "gzip" {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(rest).unwrap();
        let packed = e.finish().unwrap();
        assert_eq!(decode(&codings, &packed, limit).unwrap(), rest);
        let mut d = StreamDecoder::new(&codings, limit).expect("compression is on");
        let mut out = Vec::new();
        for chunk in packed.chunks(1 + *tag as usize % 9) {
            out.extend(d.push(chunk).unwrap());
        }
        out.extend(d.finish().unwrap());
        assert_eq!(out, rest);
    }
}

// ---------------------------------------------------------------------------
// The scrubber

/// A random key (at least 8 printable characters) put into a recording built from
/// the input, in its request, its body (JSON or text or binary), its headers, spread
/// over its stream's frames at random cut points, base64-encoded inside a longer
/// base64 value (either alphabet, padded or not, at any offset), and percent-encoded
/// (random characters escaped, either case): after scrubbing, the key is in no byte of
/// the file, decoded or not, and no client can put it together from the frames.
pub fn check_scrubber(data: &[u8]) {
    use base64::Engine as _;
    use recorder_runtime::secrets::{scrub, stream_texts};
    let mut input = Input(data);
    let key = key_from(&mut input);
    if !recorder_runtime::secrets::is_secret(&key) {
        return;
    }
    let mut rec = recording_from(&mut input);
    let spot = input.byte() % 7;
    // Where an encoded key was put, and how to decode it there.
    let mut encoded: Option<(&str, Decoder)> = None;
    match spot {
        0 => rec.request.body = Value::String(format!("prompt {key} end")),
        1 => {
            let mut body = serde_json::Map::new();
            body.insert("echo".into(), Value::String(format!("{key}{key}")));
            rec.response = RecordedResponse::plain(
                200,
                Some("application/json"),
                Value::Object(body).to_string().as_bytes(),
            );
        }
        2 => {
            let mut bytes = vec![0u8, 255];
            bytes.extend_from_slice(key.as_bytes());
            rec.response = RecordedResponse::plain(200, Some("application/octet-stream"), &bytes);
        }
        3 => {
            rec.response
                .headers
                .insert("x-echo".into(), format!("k={key}"));
        }
        4 => {
            // A file (or a data URI) whose bytes hold the key somewhere.
            let (lead, tail) = (input.byte() as usize % 9, input.byte() as usize % 5);
            let mut plain = input.take(lead).to_vec();
            plain.extend_from_slice(key.as_bytes());
            plain.extend_from_slice(input.take(tail));
            use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE_NO_PAD};
            let text = match input.byte() % 3 {
                0 => STANDARD.encode(&plain),
                1 => URL_SAFE_NO_PAD.encode(&plain),
                _ => STANDARD_NO_PAD.encode(&plain),
            };
            // Any alphabet, padded or not: what a lenient reader gets back.
            let decode: fn(&str) -> Vec<u8> = |s| {
                use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
                let config = GeneralPurposeConfig::new()
                    .with_decode_padding_mode(DecodePaddingMode::Indifferent)
                    .with_decode_allow_trailing_bits(true);
                let alphabet = if s.contains(['-', '_']) {
                    &base64::alphabet::URL_SAFE
                } else {
                    &base64::alphabet::STANDARD
                };
                GeneralPurpose::new(alphabet, config)
                    .decode(s)
                    .expect("the scrubbed value is still base64")
            };
            rec.response = RecordedResponse::plain(
                200,
                Some("application/json"),
                serde_json::json!({"data": [{"b64_json": text}]})
                    .to_string()
                    .as_bytes(),
            );
            encoded = Some(("/response/body/data/0/b64_json", decode));
        }
        5 => {
            // Percent-encoded: some characters escaped, in either case of hex.
            let mut text = String::from("q=");
            for b in key.bytes() {
                match input.byte() % 4 {
                    0 => text.push_str(&format!("%{b:02X}")),
                    1 => text.push_str(&format!("%{b:02x}")),
                    _ if b == b'%' => text.push_str("%25"),
                    _ => text.push(b as char),
                }
            }
            text.push_str("&n=1");
            rec.request.body = serde_json::json!({"url": text});
            encoded = Some(("/request/body/url", |s| percent_decoded(s.as_bytes())));
        }
        _ => {
            // The key spelled across frames, cut at random places.
            let text = format!("before {key} after");
            let mut frames = Vec::new();
            let mut rest = text.as_str();
            while !rest.is_empty() {
                let mut n = 1 + input.byte() as usize % 5;
                while !rest.is_char_boundary(n.min(rest.len())) {
                    n += 1;
                }
                let (piece, tail) = rest.split_at(n.min(rest.len()));
                frames.push(Frame {
                    data: Some(serde_json::json!({"choices": [{"delta": {"content": piece}}]})),
                    ..Frame::default()
                });
                rest = tail;
            }
            rec.response = RecordedResponse::streamed(200, StreamFormat::Sse, frames);
        }
    }
    let secrets = vec![("FUZZ_KEY".to_string(), key.clone())];
    let scrubbed = scrub(rec.clone(), &secrets);
    let bytes = scrubbed.to_pretty_bytes();
    if let Some((at, decode)) = encoded {
        let json = serde_json::to_value(&scrubbed).expect("a recording is JSON");
        let stored = json
            .pointer(at)
            .and_then(Value::as_str)
            .expect("still there");
        assert!(
            memchr_find(&decode(stored), key.as_bytes()).is_none(),
            "the key is in the file, encoded: {stored}"
        );
    }
    let hex_key: String = key.bytes().map(|b| format!("{b:02x}")).collect();
    let text = String::from_utf8_lossy(&bytes);
    assert!(!text.contains(&key), "the key is in the file: {text}");
    assert!(
        !text.contains(&hex_key),
        "the key is in the file, hex encoded: {text}"
    );
    if let Some(stream) = &scrubbed.response.stream {
        for (at, joined) in stream_texts(&stream.frames) {
            assert!(
                !joined.contains(&key),
                "the frames at {at} spell the key: {joined}"
            );
        }
    }
    assert_eq!(
        scrubbed.test_id, rec.test_id,
        "the test id is never scrubbed"
    );
}

/// Decodes a stored value as a reader would (the oracle of an encoded placement).
type Decoder = fn(&str) -> Vec<u8>;

/// `%XX` decoded, anything else kept (the oracle of the percent-encoded placement;
/// the runtime's adversarial tests decode what they find on disk with it too).
pub fn percent_decoded(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < s.len() {
        let hex = s
            .get(i + 1..i + 3)
            .filter(|h| s[i] == b'%' && h.iter().all(u8::is_ascii_hexdigit))
            .and_then(|h| u8::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok());
        match hex {
            Some(b) => {
                out.push(b);
                i += 3;
            }
            None => {
                out.push(s[i]);
                i += 1;
            }
        }
    }
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
