//! Secrets kept off disk: every occurrence of a configured secret's value in a
//! recording is replaced by `<redacted:VAR>` before the file is written.
//!
//! Two places a value can hide: anywhere in the recording's text (a prompt that
//! quotes the key, an upstream that echoes it), and spread over a stream's frames,
//! where a model emits it token by token, so that no one frame holds all of it but a
//! client joining the deltas gets it back. Both are scrubbed.
//!
//! ```
//! use recorder_runtime::secrets::scrub_frames;
//! use recorder_runtime::stream::Frame;
//! use serde_json::json;
//! let piece = |text: &str| Frame { data: Some(json!({"delta": {"content": text}})), ..Frame::default() };
//! let mut frames = vec![piece("key: sk-ab"), piece("cd12"), piece("34 done")];
//! let secrets = vec![("OPENAI_API_KEY".to_string(), "sk-abcd1234".to_string())];
//! assert_eq!(scrub_frames(&mut frames, &secrets), 1);
//! let joined: String = frames.iter().map(|f| f.data.as_ref().unwrap()["delta"]["content"].as_str().unwrap()).collect();
//! assert_eq!(joined, "key: <redacted:OPENAI_API_KEY> done");
//! ```

use crate::error::{Error, Result};
use crate::recording::Recording;
use crate::stream::Frame;
use serde_json::Value;
use std::collections::BTreeMap;

/// Values shorter than this are not treated as secrets: replacing them would mangle
/// ordinary text.
pub const MIN_SECRET_LEN: usize = 4;

/// `rec` with every secret value replaced, in its text and across its stream's
/// frames. `secrets` are `(variable, value)` pairs.
pub fn scrub(rec: &Recording, secrets: &[(String, String)]) -> Result<Recording> {
    let mut rec = rec.clone();
    let secrets: Vec<(String, String)> = secrets
        .iter()
        .filter(|(_, v)| v.len() >= MIN_SECRET_LEN)
        .cloned()
        .collect();
    if secrets.is_empty() {
        return Ok(rec);
    }
    if let Some(stream) = &mut rec.response.stream {
        scrub_frames(&mut stream.frames, &secrets);
    }
    let mut text = String::from_utf8(rec.to_pretty_bytes()).expect("recordings are UTF-8");
    for (var, value) in &secrets {
        text = text.replace(value.as_str(), &placeholder(var));
    }
    serde_json::from_str(&text).map_err(|e| Error::Other(format!("cannot scrub secrets: {e}")))
}

fn placeholder(var: &str) -> String {
    format!("<redacted:{var}>")
}

/// A stream's text as a client puts it together: per JSON path of the frames' data
/// (`/choices/0/delta/content`, ...), every frame's string there, joined in order.
pub fn stream_texts(frames: &[Frame]) -> BTreeMap<String, String> {
    let mut joined: BTreeMap<String, String> = BTreeMap::new();
    for frame in frames {
        if let Some(data) = &frame.data {
            strings(data, &mut String::new(), &mut |path, s| {
                joined.entry(path.to_owned()).or_default().push_str(s)
            });
        }
    }
    joined
}

/// Replaces the secret values that a stream spells across frames: per JSON path of
/// the frames' data (`/choices/0/delta/content`, a tool call's arguments, raw text),
/// the strings of all frames are joined in order, as a client joins them, and every
/// occurrence is cut out of the pieces that hold it; the first of them gets the
/// placeholder. Frames keep their number and order. Returns how many occurrences
/// were replaced (those within one piece included).
pub fn scrub_frames(frames: &mut [Frame], secrets: &[(String, String)]) -> usize {
    // path -> (frame index, string) in frame order
    let mut pieces: BTreeMap<String, Vec<(usize, String)>> = BTreeMap::new();
    for (i, frame) in frames.iter().enumerate() {
        if let Some(data) = &frame.data {
            strings(data, &mut String::new(), &mut |path, s| {
                pieces
                    .entry(path.to_owned())
                    .or_default()
                    .push((i, s.to_owned()))
            });
        }
    }
    let mut replaced = 0;
    for (path, list) in pieces {
        let joined: String = list.iter().map(|(_, s)| s.as_str()).collect();
        let mut spans: Vec<(usize, usize, &str)> = Vec::new();
        for (var, value) in secrets {
            if value.len() < MIN_SECRET_LEN {
                continue;
            }
            for (at, _) in joined.match_indices(value.as_str()) {
                spans.push((at, at + value.len(), var));
            }
        }
        if spans.is_empty() {
            continue;
        }
        spans.sort();
        // Overlapping occurrences (two secrets sharing text) become one cut.
        let mut cuts: Vec<(usize, usize, &str)> = Vec::new();
        for span in spans {
            match cuts.last_mut() {
                Some(last) if span.0 < last.1 => last.1 = last.1.max(span.1),
                _ => cuts.push(span),
            }
        }
        replaced += cuts.len();
        let mut start = 0;
        for (frame, piece) in &list {
            let (a, b) = (start, start + piece.len());
            start = b;
            if !cuts.iter().any(|&(x, y, _)| x < b && y > a) {
                continue;
            }
            let mut out = String::new();
            let mut pos = a;
            for &(x, y, var) in &cuts {
                if y <= a || x >= b {
                    continue;
                }
                out.push_str(&joined[pos..x.max(a)]);
                if x >= a {
                    out.push_str(&placeholder(var));
                }
                pos = y.min(b);
            }
            out.push_str(&joined[pos..b]);
            let data = frames[*frame]
                .data
                .as_mut()
                .expect("a piece came from data");
            if let Some(slot) = data.pointer_mut(&path) {
                *slot = Value::String(out);
            }
        }
    }
    replaced
}

/// Calls `f` with the JSON pointer and text of every string in `v`.
fn strings(v: &Value, path: &mut String, f: &mut dyn FnMut(&str, &str)) {
    match v {
        Value::String(s) => f(path, s),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let len = path.len();
                path.push('/');
                path.push_str(&i.to_string());
                strings(item, path, f);
                path.truncate(len);
            }
        }
        Value::Object(map) => {
            for (k, item) in map {
                let len = path.len();
                path.push('/');
                // JSON pointer escaping: `~` and `/` in keys.
                path.push_str(&k.replace('~', "~0").replace('/', "~1"));
                strings(item, path, f);
                path.truncate(len);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn frame(data: Value) -> Frame {
        Frame {
            data: Some(data),
            ..Frame::default()
        }
    }

    fn key() -> Vec<(String, String)> {
        vec![("KEY".into(), "sk-0123456789".into())]
    }

    fn contents(frames: &[Frame], pointer: &str) -> String {
        frames
            .iter()
            .filter_map(|f| {
                f.data
                    .as_ref()?
                    .pointer(pointer)?
                    .as_str()
                    .map(str::to_owned)
            })
            .collect()
    }

    #[test]
    fn a_key_spread_over_many_frames_is_cut_out_of_each() {
        let k = "sk-0123456789";
        let mut frames: Vec<Frame> = std::iter::once("before ".to_string())
            .chain(k.chars().map(String::from))
            .chain([
                "; again ".into(),
                k[..5].into(),
                k[5..].into(),
                " end".into(),
            ])
            .map(|t| frame(json!({"choices": [{"delta": {"content": t}}], "id": "x"})))
            .collect();
        let n = frames.len();
        assert_eq!(scrub_frames(&mut frames, &key()), 2);
        assert_eq!(frames.len(), n, "frames keep their number");
        assert_eq!(
            contents(&frames, "/choices/0/delta/content"),
            "before <redacted:KEY>; again <redacted:KEY> end"
        );
        assert!(frames.iter().all(|f| f.data.as_ref().unwrap()["id"] == "x"));
    }

    #[test]
    fn paths_are_joined_separately_and_raw_text_counts_too() {
        // The key's halves on two different paths are not the key.
        let mut frames = vec![
            frame(json!({"a": "sk-01234", "b": "x"})),
            frame(json!({"a": "y", "b": "56789"})),
        ];
        assert_eq!(scrub_frames(&mut frames, &key()), 0);
        // Non-JSON data (raw text frames) joins like any other string.
        let mut raw = vec![frame(json!("sk-012")), frame(json!("3456789!"))];
        assert_eq!(scrub_frames(&mut raw, &key()), 1);
        assert_eq!(contents(&raw, ""), "<redacted:KEY>!");
    }

    #[test]
    fn short_values_and_keys_with_pointer_characters() {
        let short = vec![("KEY".to_string(), "ab".to_string())];
        let mut frames = vec![frame(json!({"t": "a"})), frame(json!({"t": "b"}))];
        assert_eq!(scrub_frames(&mut frames, &short), 0);
        let mut frames = vec![
            frame(json!({"a/b~c": "sk-0123"})),
            frame(json!({"a/b~c": "456789"})),
        ];
        assert_eq!(scrub_frames(&mut frames, &key()), 1);
        assert_eq!(contents(&frames, "/a~1b~0c"), "<redacted:KEY>");
    }
}
