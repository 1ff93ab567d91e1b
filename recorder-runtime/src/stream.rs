//! Framing of streamed responses: Server-Sent Events (`text/event-stream`) and
//! newline-delimited JSON (`application/x-ndjson`).
//!
//! A stream is stored as a list of [`Frame`]s: one per SSE event, or one per NDJSON line.
//! The data rule: the data lines of an event are joined with `"\n"`; when that text is a
//! JSON value other than a string literal (and has no surrounding whitespace), [`Frame::data`]
//! holds the parsed value, and it is written back as compact JSON. Anything else (`[DONE]`,
//! plain text, a JSON string literal such as `"hi"`, text with a trailing newline) is kept
//! verbatim as a [`Value::String`] and written back byte for byte, so a recorded stream
//! replays as it was sent and parsed data can never be mistaken for raw text.
//!
//! Numbers are those of `serde_json` (u64, i64 or f64, shortest round-trip form on output);
//! an integer too large for u64/i64, which would lose digits as an f64, keeps the whole
//! text a string instead.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Wire format of a streamed response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StreamFormat {
    /// Server-Sent Events, `text/event-stream` (OpenAI-compatible servers).
    Sse,
    /// Newline-delimited JSON, `application/x-ndjson` (Ollama).
    Ndjson,
}

impl StreamFormat {
    /// The format of a response's `Content-Type`, if it is a streaming one.
    ///
    /// `text/event-stream` is [`StreamFormat::Sse`]; `application/x-ndjson`,
    /// `application/ndjson`, `application/jsonl` (and the `x-jsonl`, `jsonlines`,
    /// `x-jsonlines` spellings) are [`StreamFormat::Ndjson`]. Case does not matter and
    /// parameters such as `; charset=utf-8` are ignored. Anything else is `None`.
    ///
    /// ```
    /// use recorder_runtime::stream::StreamFormat;
    /// assert_eq!(StreamFormat::from_content_type("text/event-stream; charset=utf-8"), Some(StreamFormat::Sse));
    /// assert_eq!(StreamFormat::from_content_type("application/x-ndjson"), Some(StreamFormat::Ndjson));
    /// assert_eq!(StreamFormat::from_content_type("application/json"), None);
    /// ```
    pub fn from_content_type(ct: &str) -> Option<StreamFormat> {
        let essence = ct
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        match essence.as_str() {
            "text/event-stream" => Some(StreamFormat::Sse),
            "application/x-ndjson"
            | "application/ndjson"
            | "application/jsonl"
            | "application/x-jsonl"
            | "application/jsonlines"
            | "application/x-jsonlines" => Some(StreamFormat::Ndjson),
            _ => None,
        }
    }

    /// The content type to answer with on replay: `text/event-stream` or
    /// `application/x-ndjson`.
    pub fn content_type(self) -> &'static str {
        match self {
            StreamFormat::Sse => "text/event-stream",
            StreamFormat::Ndjson => "application/x-ndjson",
        }
    }
}

/// One event of a stream: an SSE event, or one NDJSON line (which sets `data` only).
///
/// Fields are serialized in declaration order, unset ones left out.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Frame {
    /// SSE comment lines (those starting with `:`), in order: the text after the colon,
    /// with one leading space removed. A frame of comments only is a keep-alive.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub comments: Vec<String>,
    /// The SSE `event` field (the last one, if the event had several).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
    /// The SSE `id` field (the last one, if the event had several).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The SSE `retry` field, when it was a number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<u64>,
    /// The data, by the rule of the [module documentation](self): parsed JSON when it is
    /// JSON other than a string literal, else the raw text as a [`Value::String`].
    /// `None` when the event had no data line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
    /// Milliseconds between the previous frame (or the request) and this one; only
    /// stored when timing is kept. Never written to the wire.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_ms: Option<u64>,
}

impl Frame {
    /// True for an SSE keep-alive: comment lines only (`: ping - 2026-12-05
    /// 18:36:36+00:00`). Clients ignore comments, and their number and text depend on
    /// timing, so recordings leave them out.
    ///
    /// ```
    /// use recorder_runtime::stream::{parse, StreamFormat};
    /// let frames = parse(StreamFormat::Sse, b": ping\n\nevent: message\ndata: {}\n\n").unwrap();
    /// assert!(frames[0].is_keep_alive());
    /// assert!(!frames[1].is_keep_alive());
    /// ```
    pub fn is_keep_alive(&self) -> bool {
        !self.comments.is_empty()
            && self.event.is_none()
            && self.id.is_none()
            && self.retry.is_none()
            && self.data.is_none()
    }

    /// True when the frame carries nothing that goes on the wire.
    fn is_blank(&self) -> bool {
        self.comments.is_empty()
            && self.event.is_none()
            && self.id.is_none()
            && self.retry.is_none()
            && self.data.is_none()
    }
}

/// The UTF-8 byte order mark, skipped at the start of a stream.
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Incremental parser: feed bytes as they arrive, in chunks split anywhere (even inside
/// a UTF-8 character or between the `\r` and `\n` of a line ending).
///
/// SSE lines may end in `\n`, `\r\n` or `\r`; NDJSON lines in `\n` or `\r\n`. A leading
/// byte order mark is skipped. Invalid UTF-8 stops the parser: later [`push`](Self::push)es
/// return nothing and [`finish`](Self::finish) reports the byte offset.
///
/// ```
/// use recorder_runtime::stream::{FrameParser, StreamFormat};
/// use serde_json::json;
///
/// let mut parser = FrameParser::new(StreamFormat::Sse);
/// assert!(parser.push(b"data: {\"n\":").is_empty());
/// let frames = parser.push(b"1}\n\ndata: [DONE]\n");
/// assert_eq!(frames.len(), 1);
/// assert_eq!(frames[0].data, Some(json!({"n": 1})));
/// // The server forgot the final blank line: the pending event still comes out.
/// let last = parser.finish().unwrap().unwrap();
/// assert_eq!(last.data, Some(json!("[DONE]")));
/// ```
#[derive(Debug)]
pub struct FrameParser {
    format: StreamFormat,
    /// The bytes of the current, not yet terminated line.
    line: Vec<u8>,
    /// Absolute offset of `line[0]` in the stream.
    line_start: usize,
    /// Absolute offset of the next byte to be pushed.
    pos: usize,
    /// The last byte pushed was a `\r` ending a line: a `\n` right after belongs to it.
    after_cr: bool,
    /// No line has been handled yet (a BOM may start the next one).
    first_line: bool,
    /// The SSE event being built.
    pending: EventFields,
    /// Offset of the first invalid UTF-8 byte, once found.
    invalid_at: Option<usize>,
    /// Keep `data` as its text (see [`FrameParser::raw_data`]).
    raw_data: bool,
}

/// The fields of an SSE event seen since the last dispatch.
#[derive(Debug, Default)]
struct EventFields {
    comments: Vec<String>,
    event: Option<String>,
    id: Option<String>,
    retry: Option<u64>,
    data: Option<String>,
}

impl EventFields {
    /// The frame built so far, if any field was set; resets the event.
    fn take(&mut self, raw_data: bool) -> Option<Frame> {
        let p = std::mem::take(self);
        let frame = Frame {
            comments: p.comments,
            event: p.event,
            id: p.id,
            retry: p.retry,
            data: p.data.map(|d| data_value(d, raw_data)),
            delay_ms: None,
        };
        (!frame.is_blank()).then_some(frame)
    }
}

impl FrameParser {
    /// A parser for a stream of the given format.
    pub fn new(format: StreamFormat) -> Self {
        FrameParser {
            format,
            line: Vec::new(),
            line_start: 0,
            pos: 0,
            after_cr: false,
            first_line: true,
            pending: EventFields::default(),
            invalid_at: None,
            raw_data: false,
        }
    }

    /// A parser whose frames keep `data` as its text (`Value::String`), JSON or
    /// not: for a reader that decodes the data into its own types, which would
    /// otherwise parse every frame twice.
    ///
    /// ```
    /// use recorder_runtime::stream::{FrameParser, StreamFormat};
    /// let mut parser = FrameParser::new(StreamFormat::Sse).raw_data();
    /// let frames = parser.push(b"data: {\"n\": 1}\n\n");
    /// assert_eq!(frames[0].data, Some(serde_json::json!("{\"n\": 1}")));
    /// ```
    pub fn raw_data(mut self) -> Self {
        self.raw_data = true;
        self
    }

    /// The fast path for a reader of data only: when `chunk` is exactly one whole
    /// event whose one field is a single data line (SSE: `data: ...` and a blank
    /// line; NDJSON: one line), and nothing is pending from earlier chunks, consumes
    /// it and returns its data. Otherwise consumes nothing and returns `None`: feed
    /// the chunk to [`push`](Self::push). A replayed stream comes one event per
    /// chunk, so a typed reader skips building frames.
    ///
    /// ```
    /// use recorder_runtime::stream::{FrameParser, StreamFormat};
    /// let mut parser = FrameParser::new(StreamFormat::Sse);
    /// assert_eq!(parser.push_single_data(b"data: {\"n\":1}\n\n"), Some(&b"{\"n\":1}"[..]));
    /// assert_eq!(parser.push_single_data(b"event: x\ndata: 1\n\n"), None);
    /// ```
    pub fn push_single_data<'c>(&mut self, chunk: &'c [u8]) -> Option<&'c [u8]> {
        let idle = self.line.is_empty()
            && !self.after_cr
            && self.invalid_at.is_none()
            && self.pending.comments.is_empty()
            && self.pending.event.is_none()
            && self.pending.id.is_none()
            && self.pending.retry.is_none()
            && self.pending.data.is_none();
        // A byte order mark opening the stream is the parser's to skip.
        if !idle || (self.first_line && chunk.starts_with(BOM)) {
            return None;
        }
        let data = match self.format {
            StreamFormat::Sse => {
                let rest = chunk.strip_prefix(b"data:")?;
                let rest = rest.strip_prefix(b" ").unwrap_or(rest);
                rest.strip_suffix(b"\n\n")?
            }
            StreamFormat::Ndjson => chunk.strip_suffix(b"\n")?,
        };
        // One line only, and no `\r` that would end one; a blank NDJSON line (blank
        // as `str::trim` sees it, like `push`) is no frame at all.
        if data.contains(&b'\n') || data.contains(&b'\r') {
            return None;
        }
        let text = std::str::from_utf8(data).ok()?;
        if self.format == StreamFormat::Ndjson && text.trim().is_empty() {
            return None;
        }
        self.first_line = false;
        self.pos += chunk.len();
        Some(data)
    }

    /// Feeds the next bytes of the stream; returns the frames they complete, in order.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<Frame> {
        let mut frames = Vec::new();
        if self.invalid_at.is_some() || chunk.is_empty() {
            return frames;
        }
        let base = self.pos;
        self.pos += chunk.len();
        let sse = self.format == StreamFormat::Sse;
        let mut start = 0;
        if self.after_cr {
            self.after_cr = false;
            if chunk[0] == b'\n' {
                start = 1;
            }
        }
        while let Some(rel) = chunk[start..]
            .iter()
            .position(|&b| b == b'\n' || (sse && b == b'\r'))
        {
            let end = start + rel;
            let frame = if self.line.is_empty() {
                self.handle_line(&chunk[start..end], base + start)
            } else {
                let mut line = std::mem::take(&mut self.line);
                line.extend_from_slice(&chunk[start..end]);
                let frame = self.handle_line(&line, self.line_start);
                line.clear();
                self.line = line;
                frame
            };
            frames.extend(frame);
            if self.invalid_at.is_some() {
                return frames;
            }
            start = end + 1;
            if chunk[end] == b'\r' {
                match chunk.get(start) {
                    Some(b'\n') => start += 1,
                    Some(_) => {}
                    None => self.after_cr = true,
                }
            }
        }
        if start < chunk.len() {
            if self.line.is_empty() {
                self.line_start = base + start;
            }
            self.line.extend_from_slice(&chunk[start..]);
        }
        frames
    }

    /// Ends the stream: returns the frame still pending, if any (a last line without
    /// line ending, or an SSE event without its closing blank line).
    ///
    /// Fails if the stream was not valid UTF-8, naming the offset of the first bad byte.
    pub fn finish(mut self) -> Result<Option<Frame>> {
        let mut last = None;
        if self.invalid_at.is_none() && !self.line.is_empty() {
            let line = std::mem::take(&mut self.line);
            last = self.handle_line(&line, self.line_start);
        }
        if let Some(offset) = self.invalid_at {
            return Err(Error::Body {
                what: format!(
                    "the streamed answer is not valid UTF-8: invalid byte at offset {offset}"
                ),
                source: None,
            });
        }
        Ok(match self.format {
            StreamFormat::Sse => self.pending.take(self.raw_data),
            StreamFormat::Ndjson => last,
        })
    }

    /// Handles one complete line (without its line ending) that starts at `offset`.
    fn handle_line(&mut self, bytes: &[u8], offset: usize) -> Option<Frame> {
        let (mut bytes, mut offset) = (bytes, offset);
        if self.first_line {
            self.first_line = false;
            if let Some(rest) = bytes.strip_prefix(BOM) {
                bytes = rest;
                offset += BOM.len();
            }
        }
        let text = match std::str::from_utf8(bytes) {
            Ok(text) => text,
            Err(e) => {
                self.invalid_at = Some(offset + e.valid_up_to());
                return None;
            }
        };
        match self.format {
            StreamFormat::Ndjson => {
                let text = text.strip_suffix('\r').unwrap_or(text);
                if text.trim().is_empty() {
                    return None;
                }
                Some(Frame {
                    data: Some(data_value(text.to_owned(), self.raw_data)),
                    ..Frame::default()
                })
            }
            StreamFormat::Sse if text.is_empty() => self.pending.take(self.raw_data),
            StreamFormat::Sse => {
                self.sse_line(text);
                None
            }
        }
    }

    /// Applies one non-dispatching SSE line to the pending event.
    fn sse_line(&mut self, line: &str) {
        if let Some(comment) = line.strip_prefix(':') {
            let comment = comment.strip_prefix(' ').unwrap_or(comment);
            self.pending.comments.push(comment.to_owned());
            return;
        }
        let (name, value) = match line.split_once(':') {
            Some((name, value)) => (name, value.strip_prefix(' ').unwrap_or(value)),
            None => (line, ""),
        };
        match name {
            "data" => match &mut self.pending.data {
                Some(data) => {
                    data.push('\n');
                    data.push_str(value);
                }
                None => self.pending.data = Some(value.to_owned()),
            },
            "event" => self.pending.event = Some(value.to_owned()),
            "id" => self.pending.id = Some(value.to_owned()),
            // Digits only (no sign, no spaces); an empty or overflowing value is ignored.
            "retry" if value.bytes().all(|b| b.is_ascii_digit()) => {
                if let Ok(retry) = value.parse() {
                    self.pending.retry = Some(retry);
                }
            }
            _ => {}
        }
    }
}

fn data_value(text: String, raw: bool) -> Value {
    if raw {
        Value::String(text)
    } else {
        classify(text)
    }
}

/// The data rule: parsed JSON when `text` is exactly a JSON value other than a string
/// literal, else the text itself.
fn classify(text: String) -> Value {
    let bytes = text.as_bytes();
    let candidate = match (bytes.first(), bytes.last()) {
        (Some(first), Some(last)) => {
            matches!(first, b'{' | b'[' | b'-' | b'0'..=b'9' | b't' | b'f' | b'n')
                && !last.is_ascii_whitespace()
        }
        _ => false,
    };
    if candidate {
        if let Ok(value) = serde_json::from_str::<Value>(&text) {
            if !value.is_string() && !loses_big_integer(&text, &value) {
                return value;
            }
        }
    }
    Value::String(text)
}

/// True when `text` holds an integer beyond the u64/i64 range, which `serde_json`
/// reads as an f64 and would write back with different digits.
fn loses_big_integer(text: &str, value: &Value) -> bool {
    fn has_big_float(value: &Value) -> bool {
        match value {
            Value::Number(n) => n
                .as_f64()
                .is_some_and(|f| n.is_f64() && f.fract() == 0.0 && f.abs() >= 9.2e18),
            Value::Array(items) => items.iter().any(has_big_float),
            Value::Object(map) => map.values().any(has_big_float),
            _ => false,
        }
    }
    if !has_big_float(value) {
        return false;
    }
    // Look for an integer literal (digits without fraction or exponent) out of range;
    // inside a string it is a false alarm that only keeps the text raw, which is lossless.
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i].is_ascii_digit() {
            let start = i;
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
            let before = start.checked_sub(1).map(|j| bytes[j]);
            let after = bytes.get(i).copied();
            let integer = !matches!(before, Some(b'.' | b'e' | b'E' | b'+'))
                && !matches!(after, Some(b'.' | b'e' | b'E'));
            let fits = text[start..i]
                .parse::<u64>()
                .is_ok_and(|n| before != Some(b'-') || n <= 1 << 63);
            if integer && !fits {
                return true;
            }
        } else {
            i += 1;
        }
    }
    false
}

/// Parses a whole streamed body into its frames.
///
/// Fails only on invalid UTF-8; every other oddity follows the SSE rules (unknown fields
/// ignored, a last event without its blank line still counted).
///
/// ```
/// use recorder_runtime::stream::{parse, to_wire, StreamFormat};
/// use serde_json::json;
///
/// let body = b"event: delta\ndata: {\"text\":\"Hi\"}\n\ndata: [DONE]\n\n";
/// let frames = parse(StreamFormat::Sse, body).unwrap();
/// assert_eq!(frames[0].event.as_deref(), Some("delta"));
/// assert_eq!(frames[0].data, Some(json!({"text": "Hi"})));
/// assert_eq!(frames[1].data, Some(json!("[DONE]"))); // not JSON: kept as raw text
/// assert_eq!(to_wire(StreamFormat::Sse, &frames), body);
///
/// let lines = parse(StreamFormat::Ndjson, b"{\"done\":false}\n{\"done\":true}\n").unwrap();
/// assert_eq!(lines[1].data, Some(json!({"done": true})));
/// ```
pub fn parse(format: StreamFormat, bytes: &[u8]) -> Result<Vec<Frame>> {
    let mut parser = FrameParser::new(format);
    let mut frames = parser.push(bytes);
    frames.extend(parser.finish()?);
    Ok(frames)
}

/// Appends the wire form of one frame to `out`.
///
/// SSE: one `: <comment>` line per comment (`:` alone for an empty one), then
/// `event: `, `id: `, `retry: ` and one `data: ` line per line of the data, then a blank
/// line; an empty value is written without the space (`data:`). A string is written
/// verbatim, any other value as compact JSON. NDJSON: the data and `"\n"` (`"\r\n"` when
/// the data is text ending in `\r`); a frame
/// without data writes nothing. `delay_ms` is never written, nor is a frame with no field.
///
/// Text that cannot survive the wire is the caller's concern: a `\r` anywhere, a `\n` in
/// a comment, event or id (or in NDJSON data), or a string that is itself non-string JSON
/// (`"42"`) would be read back differently. Frames produced by [`parse`] never hold such text.
pub fn write_frame(format: StreamFormat, frame: &Frame, out: &mut Vec<u8>) {
    match format {
        StreamFormat::Ndjson => {
            if let Some(data) = &frame.data {
                write_data(data, out);
                // A line read from `...\r\r\n` keeps one `\r`: end it with `\r\n` so that it
                // reads back the same (found by fuzzing).
                if matches!(data, Value::String(text) if text.ends_with('\r')) {
                    out.push(b'\r');
                }
                out.push(b'\n');
            }
        }
        StreamFormat::Sse => {
            if frame.is_blank() {
                return;
            }
            for comment in &frame.comments {
                write_field(out, "", comment);
            }
            if let Some(event) = &frame.event {
                write_field(out, "event", event);
            }
            if let Some(id) = &frame.id {
                write_field(out, "id", id);
            }
            if let Some(retry) = frame.retry {
                write_field(out, "retry", &retry.to_string());
            }
            match &frame.data {
                Some(Value::String(text)) => {
                    for line in text.split('\n') {
                        write_field(out, "data", line);
                    }
                }
                Some(data) => {
                    out.extend_from_slice(b"data: ");
                    write_data(data, out);
                    out.push(b'\n');
                }
                None => {}
            }
            out.push(b'\n');
        }
    }
}

/// Writes `name: value\n`, or `name:\n` when the value is empty.
fn write_field(out: &mut Vec<u8>, name: &str, value: &str) {
    out.extend_from_slice(name.as_bytes());
    out.push(b':');
    if !value.is_empty() {
        out.push(b' ');
        out.extend_from_slice(value.as_bytes());
    }
    out.push(b'\n');
}

/// Writes data: a string verbatim, anything else as compact JSON.
fn write_data(data: &Value, out: &mut Vec<u8>) {
    match data {
        Value::String(text) => out.extend_from_slice(text.as_bytes()),
        other => serde_json::to_writer(&mut *out, other)
            .expect("a JSON value always serializes into a Vec"),
    }
}

/// The wire form of one frame, as [`write_frame`] writes it, ready to send as a body chunk.
pub fn frame_bytes(format: StreamFormat, frame: &Frame) -> bytes::Bytes {
    let mut out = Vec::new();
    write_frame(format, frame, &mut out);
    bytes::Bytes::from(out)
}

/// The wire form of a whole stream: every frame, in order, as [`write_frame`] writes it.
///
/// For canonical input (compact JSON, `data: ` with one space, `"\n"` line endings),
/// `to_wire(format, &parse(format, bytes)?) == bytes`.
pub fn to_wire(format: StreamFormat, frames: &[Frame]) -> Vec<u8> {
    let mut out = Vec::new();
    for frame in frames {
        write_frame(format, frame, &mut out);
    }
    guard_leading_bom(&mut out);
    out
}

/// A reader skips one byte order mark at the start of a stream, so a stream whose
/// first bytes are one (NDJSON data starting with U+FEFF, found by fuzzing) is given
/// one more in front, and reads back the same. Call it on the first bytes sent.
pub fn guard_leading_bom(first: &mut Vec<u8>) {
    if first.starts_with(BOM) {
        first.splice(0..0, BOM.iter().copied());
    }
}

/// Applies `f` to every JSON data value of the frames (used by normalization).
///
/// Raw text data ([`Value::String`], such as `[DONE]`) and frames without data are
/// left alone.
pub fn for_each_data_mut(frames: &mut [Frame], mut f: impl FnMut(&mut Value)) {
    for data in frames.iter_mut().filter_map(|frame| frame.data.as_mut()) {
        if !data.is_string() {
            f(data);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SSE: StreamFormat = StreamFormat::Sse;
    const NDJSON: StreamFormat = StreamFormat::Ndjson;

    fn sse(text: &str) -> Vec<Frame> {
        parse(SSE, text.as_bytes()).unwrap()
    }

    fn data(value: Value) -> Frame {
        Frame {
            data: Some(value),
            ..Frame::default()
        }
    }

    /// Parses `input` pushed in the given chunks.
    fn parse_chunks(format: StreamFormat, chunks: &[&[u8]]) -> Result<Vec<Frame>> {
        let mut parser = FrameParser::new(format);
        let mut frames = Vec::new();
        for chunk in chunks {
            frames.extend(parser.push(chunk));
        }
        frames.extend(parser.finish()?);
        Ok(frames)
    }

    #[test]
    fn content_types() {
        let cases = [
            ("text/event-stream", Some(SSE)),
            ("Text/Event-Stream; charset=utf-8", Some(SSE)),
            (" text/event-stream ;charset=UTF-8", Some(SSE)),
            ("application/x-ndjson", Some(NDJSON)),
            ("application/ndjson; charset=utf-8", Some(NDJSON)),
            ("APPLICATION/JSONL", Some(NDJSON)),
            ("application/json", None),
            ("application/json-seq", None),
            ("text/plain", None),
            ("", None),
        ];
        for (ct, expected) in cases {
            assert_eq!(StreamFormat::from_content_type(ct), expected, "{ct}");
        }
        assert_eq!(SSE.content_type(), "text/event-stream");
        assert_eq!(NDJSON.content_type(), "application/x-ndjson");
        for format in [SSE, NDJSON] {
            assert_eq!(
                StreamFormat::from_content_type(format.content_type()),
                Some(format)
            );
        }
        assert_eq!(serde_json::to_string(&SSE).unwrap(), "\"sse\"");
        assert_eq!(serde_json::to_string(&NDJSON).unwrap(), "\"ndjson\"");
        assert_eq!(
            serde_json::from_str::<StreamFormat>("\"ndjson\"").unwrap(),
            NDJSON
        );
    }

    #[test]
    fn data_rule() {
        let cases = [
            ("data: {\"a\":1}\n\n", json!({"a": 1})),
            ("data: [1,2]\n\n", json!([1, 2])),
            ("data: 42\n\n", json!(42)),
            ("data: -1.5\n\n", json!(-1.5)),
            ("data: true\n\n", json!(true)),
            ("data: null\n\n", Value::Null),
            ("data: [DONE]\n\n", json!("[DONE]")),
            ("data: hello world\n\n", json!("hello world")),
            ("data: \"hi\"\n\n", json!("\"hi\"")),
            ("data: {\"a\":1}\ndata:\n\n", json!("{\"a\":1}\n")),
            ("data:  {\"a\":1}\n\n", json!(" {\"a\":1}")),
            ("data: {\"a\":1} \n\n", json!("{\"a\":1} ")),
            ("data: {\"a\":\ndata: 1}\n\n", json!({"a": 1})),
            ("data: {\"a\":1\n\n", json!("{\"a\":1")),
            ("data:\n\n", json!("")),
            ("data: nul\n\n", json!("nul")),
            ("data: 1e400\n\n", json!("1e400")),
            ("data: line1\ndata: line2\n\n", json!("line1\nline2")),
        ];
        for (wire, expected) in cases {
            assert_eq!(sse(wire), vec![data(expected)], "{wire:?}");
        }
        assert_eq!(sse("event: ping\n\n")[0].data, None);
    }

    #[test]
    fn canonical_sse_round_trips_byte_for_byte() {
        let inputs = [
            "data: {\"id\":\"rec-1\",\"choices\":[{\"delta\":{\"content\":\"Hi\"}}]}\n\ndata: [DONE]\n\n",
            "event: message_start\ndata: {\"type\":\"message_start\"}\n\nevent: ping\ndata: {\"type\":\"ping\"}\n\n",
            "id: 7\nretry: 3000\ndata: {\"n\":7}\n\n",
            "event: update\nid: abc\nretry: 0\ndata: [1,2.5,\"x\",null,true]\n\n",
            ": keep-alive\n\n:\n\n: ping\n: pong\nevent: e\ndata: 1\n\n",
            ":  two spaces kept\n\n",
            "data: line one\ndata: line two\ndata:\ndata: line four\n\n",
            "data: \"a JSON string literal\"\n\n",
            "data: \"hi\"\ndata: \"there\"\n\n",
            "data: text with trailing newline\ndata:\n\n",
            "data:\n\n",
            "data:\ndata:\n\n",
            "data:  leading space kept\n\n",
            "event:\nid:\ndata: x\n\n",
            "data: héllo wörld 🦀 日本語\n\n",
            "data: {\"emoji\":\"🦀\",\"esc\":\"\\n\\\"\\u0000\"}\n\n",
            "data: null\n\ndata: false\n\ndata: -0.5\n\ndata: {}\n\ndata: []\n\n",
            "",
        ];
        for input in inputs {
            let frames = sse(input);
            let wire = to_wire(SSE, &frames);
            assert_eq!(String::from_utf8(wire).unwrap(), input, "{frames:#?}");
        }
    }

    #[test]
    fn canonical_ndjson_round_trips_byte_for_byte() {
        let inputs = [
            "{\"model\":\"llama3.2:3b\",\"created_at\":\"1970-01-01T00:00:00.000000Z\",\"message\":{\"role\":\"assistant\",\"content\":\"Hi\"},\"done\":false}\n{\"done\":true,\"total_duration\":0}\n",
            "1\n[2]\nnull\n\"str\"\nplain text\n[DONE]\n",
            "{\"a\":\"é🦀\"}\n",
            "",
        ];
        for input in inputs {
            let frames = parse(NDJSON, input.as_bytes()).unwrap();
            assert!(frames
                .iter()
                .all(|f| f.data.is_some() && f.comments.is_empty() && f.event.is_none()));
            let wire = to_wire(NDJSON, &frames);
            assert_eq!(String::from_utf8(wire).unwrap(), input);
        }
        let frames = parse(NDJSON, b"1\n[2]\n\"str\"\nplain text\n").unwrap();
        assert_eq!(
            frames,
            vec![
                data(json!(1)),
                data(json!([2])),
                data(json!("\"str\"")),
                data(json!("plain text"))
            ]
        );
    }

    #[test]
    fn ndjson_tolerates_crlf_blank_lines_bom_and_missing_final_newline() {
        let frames = parse(
            NDJSON,
            b"\xEF\xBB\xBF{\"a\":1}\r\n\r\n\n  \n{\"b\":2}\n{\"c\":3}",
        )
        .unwrap();
        assert_eq!(
            frames,
            vec![
                data(json!({"a": 1})),
                data(json!({"b": 2})),
                data(json!({"c": 3}))
            ]
        );
        // A lone '\r' does not end an NDJSON line.
        let frames = parse(NDJSON, b"\"a\rb\"\n").unwrap();
        assert_eq!(frames, vec![data(json!("\"a\rb\""))]);
    }

    #[test]
    fn sse_field_parsing() {
        let frames = sse("event: a\nid: 1\nretry: 1500\ndata: x\n\n");
        assert_eq!(
            frames,
            vec![Frame {
                event: Some("a".into()),
                id: Some("1".into()),
                retry: Some(1500),
                data: Some(json!("x")),
                ..Frame::default()
            }]
        );
        // No space after the colon, and exactly one space stripped.
        assert_eq!(sse("data:x\n\n"), vec![data(json!("x"))]);
        assert_eq!(sse("data:  x\n\n"), vec![data(json!(" x"))]);
        assert_eq!(
            sse("event:e\ndata:{\"a\":1}\n\n")[0].event.as_deref(),
            Some("e")
        );
        assert_eq!(sse("data:{\"a\":1}\n\n"), vec![data(json!({"a": 1}))]);
        // A value may contain colons.
        assert_eq!(sse("data: a: b:c\n\n"), vec![data(json!("a: b:c"))]);
        // A field name alone is that field with an empty value.
        assert_eq!(sse("data\n\n"), vec![data(json!(""))]);
        assert_eq!(
            sse("data: a\ndata\ndata: b\n\n"),
            vec![data(json!("a\n\nb"))]
        );
        assert_eq!(sse("event\ndata: 1\n\n")[0].event.as_deref(), Some(""));
        // Unknown fields are ignored, and alone they make no frame.
        assert_eq!(sse("foo: bar\ndata: 1\nData: 2\n\n"), vec![data(json!(1))]);
        assert_eq!(sse("foo: bar\n\nbaz\n\n"), vec![]);
        // A non-numeric retry is ignored.
        for bad in [
            "abc",
            "12a",
            "-1",
            "1.5",
            " 5",
            "",
            "99999999999999999999999",
        ] {
            let frames = sse(&format!("retry: {bad}\ndata: 1\n\n"));
            assert_eq!(frames, vec![data(json!(1))], "retry {bad:?}");
        }
        assert_eq!(sse("retry:5\n\n")[0].retry, Some(5));
        // The last event and id of an event win.
        let frames = sse("event: a\nevent: b\nid: 1\nid: 2\ndata: 1\n\n");
        assert_eq!(frames[0].event.as_deref(), Some("b"));
        assert_eq!(frames[0].id.as_deref(), Some("2"));
        // Blank lines without anything pending make no frame.
        assert_eq!(sse("\n\n\ndata: 1\n\n\n\n"), vec![data(json!(1))]);
    }

    #[test]
    fn sse_comments() {
        let frames = sse(": ping\n\n:\n\n:x\n:  y\ndata: 1\n\n");
        assert_eq!(
            frames,
            vec![
                Frame {
                    comments: vec!["ping".into()],
                    ..Frame::default()
                },
                Frame {
                    comments: vec!["".into()],
                    ..Frame::default()
                },
                Frame {
                    comments: vec!["x".into(), " y".into()],
                    data: Some(json!(1)),
                    ..Frame::default()
                },
            ]
        );
        assert_eq!(
            to_wire(SSE, &frames),
            b": ping\n\n:\n\n: x\n:  y\ndata: 1\n\n"
        );
    }

    #[test]
    fn sse_line_endings_and_bom() {
        let expected = vec![
            Frame {
                event: Some("e".into()),
                data: Some(json!({"a": 1})),
                ..Frame::default()
            },
            data(json!("a\nb")),
            data(json!("[DONE]")),
        ];
        let canonical = "event: e\ndata: {\"a\":1}\n\ndata: a\ndata: b\n\ndata: [DONE]\n\n";
        for ending in ["\n", "\r\n", "\r"] {
            let input = canonical.replace('\n', ending);
            assert_eq!(sse(&input), expected, "{ending:?}");
            let with_bom = format!("\u{feff}{input}");
            assert_eq!(sse(&with_bom), expected, "BOM + {ending:?}");
        }
        // Mixed endings in one stream.
        let mixed = "event: e\r\ndata: {\"a\":1}\r\rdata: a\ndata: b\r\n\ndata: [DONE]\n\r";
        assert_eq!(sse(mixed), expected);
        // A BOM only counts at the very start.
        let frames = sse("data: 1\n\n\u{feff}data: 2\n\n");
        assert_eq!(frames, vec![data(json!(1))]);
        // A BOM alone is an empty stream.
        assert_eq!(parse(SSE, BOM).unwrap(), vec![]);
    }

    #[test]
    fn sse_missing_final_blank_line() {
        assert_eq!(
            sse("data: 1\n\ndata: [DONE]\n"),
            vec![data(json!(1)), data(json!("[DONE]"))]
        );
        assert_eq!(
            sse("data: 1\n\ndata: [DONE]"),
            vec![data(json!(1)), data(json!("[DONE]"))]
        );
        assert_eq!(
            sse("data: 1\n\ndata: [DONE]\r"),
            vec![data(json!(1)), data(json!("[DONE]"))]
        );
        assert_eq!(
            sse(": bye"),
            vec![Frame {
                comments: vec!["bye".into()],
                ..Frame::default()
            }]
        );
        assert_eq!(
            sse("id: 3"),
            vec![Frame {
                id: Some("3".into()),
                ..Frame::default()
            }]
        );
        assert_eq!(sse("data: 1\n\nunknown"), vec![data(json!(1))]);
    }

    /// A stream with every kind of boundary to split: BOM, CRLF, lone CR, multi-byte
    /// characters of 2, 3 and 4 bytes, comments and a missing final blank line.
    const TRICKY_SSE: &str =
        "\u{feff}: hi\r\nevent: é\r\nid: 日本\r\ndata: {\"t\":\"🦀é\"}\r\n\r\n\
        data: a\rdata: ü\r\rretry: 12\ndata: [DONE]\n\ndata: 🦀";

    #[test]
    fn any_chunking_gives_the_same_frames() {
        for (format, input) in [
            (SSE, TRICKY_SSE),
            (
                NDJSON,
                "\u{feff}{\"a\":\"é\"}\r\n\r\n[\"🦀\"]\n日本\n{\"b\":1}",
            ),
        ] {
            let input = input.as_bytes();
            let whole = parse(format, input).unwrap();
            assert!(whole.len() >= 4, "{whole:#?}");
            for i in 0..=input.len() {
                let (a, b) = input.split_at(i);
                assert_eq!(
                    parse_chunks(format, &[a, b]).unwrap(),
                    whole,
                    "split at {i}"
                );
                for j in i..=input.len() {
                    let (b, c) = input[i..].split_at(j - i);
                    let got = parse_chunks(format, &[a, b, c]).unwrap();
                    assert_eq!(got, whole, "split at {i} and {j}");
                }
            }
            let bytes: Vec<&[u8]> = input.chunks(1).collect();
            assert_eq!(parse_chunks(format, &bytes).unwrap(), whole, "byte by byte");
        }
    }

    #[test]
    fn crlf_and_utf8_split_across_chunks() {
        let frames = parse_chunks(SSE, &[b"data: a\r", b"\ndata: b\r", b"\n\r", b"\n"]).unwrap();
        assert_eq!(frames, vec![data(json!("a\nb"))]);
        // A '\r' at the end of a chunk completes its line at once.
        let mut parser = FrameParser::new(SSE);
        assert_eq!(parser.push(b"data: 1\n\r"), vec![data(json!(1))]);
        assert_eq!(parser.push(b"\n"), vec![]);
        assert_eq!(parser.push(b"data: 2\n\n"), vec![data(json!(2))]);
        assert_eq!(parser.finish().unwrap(), None);
        // "🦀" is F0 9F A6 80: split inside it.
        let crab = "data: 🦀\n\n".as_bytes();
        for i in 7..10 {
            let frames = parse_chunks(SSE, &[&crab[..i], &crab[i..]]).unwrap();
            assert_eq!(frames, vec![data(json!("🦀"))]);
        }
        // Empty chunks change nothing.
        let frames = parse_chunks(SSE, &[b"", b"data: 1\r", b"", b"\n", b"", b"\n"]).unwrap();
        assert_eq!(frames, vec![data(json!(1))]);
    }

    #[test]
    fn invalid_utf8_names_the_offset() {
        let err = parse(SSE, b"data: 1\n\ndata: \xFF\n\n").unwrap_err();
        assert!(err.to_string().contains("offset 15"), "{err}");
        let err = parse(NDJSON, b"\xEF\xBB\xBF\"ok\"\nab\xC3").unwrap_err();
        assert!(err.to_string().contains("offset 10"), "{err}");
        // Split across chunks, and inside an ignored field: still an error.
        let err =
            parse_chunks(SSE, &[b"data: 1\n\nfoo: \xE6", b"\x97x\n\ndata: 2\n\n"]).unwrap_err();
        assert!(err.to_string().contains("offset 14"), "{err}");
        // Frames before the bad byte still come out of push.
        let mut parser = FrameParser::new(SSE);
        assert_eq!(
            parser.push(b"data: 1\n\ndata: \x80\n\ndata: 2\n\n"),
            vec![data(json!(1))]
        );
        assert_eq!(parser.push(b"data: 3\n\n"), vec![]);
        assert!(parser.finish().is_err());
    }

    #[test]
    fn numbers_survive_exactly() {
        let embedding = json!([
            -0.007134478,
            0.0123,
            1e-7,
            -1.5e-300,
            0.30000000000000004,
            0.1,
            1.0,
            -0.0,
            123456.789,
            1.7976931348623157e308,
            5e-324,
            u64::MAX,
            i64::MIN,
            i64::MAX,
            0,
            -1
        ]);
        let frame = data(json!({
            "object": "embedding",
            "embedding": embedding,
            "usage": {"prompt_tokens": 3}
        }));
        for format in [SSE, NDJSON] {
            let wire = to_wire(format, std::slice::from_ref(&frame));
            let parsed = parse(format, &wire).unwrap();
            assert_eq!(parsed, vec![frame.clone()]);
            let again = parse(format, &to_wire(format, &parsed)).unwrap();
            assert_eq!(again, parsed);
            assert_eq!(to_wire(format, &again), wire);
        }
        // Shortest-representation input keeps its exact text.
        let text = "[-0.007134478,1e-7,0.30000000000000004,0.1,1.0,-0.0,18446744073709551615,\
                    -9223372036854775808,2.5e-8,1.7976931348623157e+308,5e-324,-1.2345678e+20]";
        let wire = format!("data: {text}\n\n");
        let frames = sse(&wire);
        assert!(frames[0].data.as_ref().unwrap().is_array());
        assert_eq!(String::from_utf8(to_wire(SSE, &frames)).unwrap(), wire);
        let array = frames[0].data.as_ref().unwrap().as_array().unwrap();
        assert_eq!(array[0].as_f64(), Some(-0.007134478));
        assert_eq!(array[2].as_f64(), Some(0.1 + 0.2));
        assert_eq!(array[6].as_u64(), Some(u64::MAX));
        assert_eq!(array[7].as_i64(), Some(i64::MIN));
        // Other spellings of the same numbers keep their value, not their text.
        let frames = sse("data: [1e-07,1E+20,0.10,100e-2,-0]\n\n");
        assert_eq!(frames, vec![data(json!([1e-7, 1e20, 0.1, 1.0, -0.0]))]);
        assert_eq!(
            String::from_utf8(to_wire(SSE, &frames)).unwrap(),
            "data: [1e-7,1e+20,0.1,1.0,-0.0]\n\n"
        );
    }

    #[test]
    fn integers_beyond_64_bits_stay_raw_text() {
        for text in [
            "123456789012345678901234567890",
            "{\"n\":18446744073709551616}",
            "[-9223372036854775809]",
        ] {
            assert_eq!(sse(&format!("data: {text}\n\n")), vec![data(json!(text))]);
            assert_eq!(
                parse(NDJSON, format!("{text}\n").as_bytes()).unwrap(),
                vec![data(json!(text))]
            );
        }
        // Large floats are fine, and so is a long digit run inside a string.
        assert_eq!(sse("data: 1e20\n\n"), vec![data(json!(1e20))]);
        assert_eq!(
            sse("data: {\"id\":\"12345678901234567890123\",\"x\":1}\n\n"),
            vec![data(json!({"id": "12345678901234567890123", "x": 1}))]
        );
    }

    /// A small deterministic generator of arbitrary frames.
    struct Gen(u64);

    impl Gen {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }

        fn text(&mut self, newlines: bool) -> String {
            const PIECES: &[&str] = &[
                "a", "Z", " ", "  ", ":", "data", "é", "🦀", "日本", "\"", "{", "}", "[", "]", "0",
                "1.5", "\\", "\t", "null", "DONE", ",",
            ];
            let len = self.below(8);
            let mut s = String::new();
            for _ in 0..len {
                if newlines && self.below(6) == 0 {
                    s.push('\n');
                } else {
                    s.push_str(PIECES[self.below(PIECES.len() as u64) as usize]);
                }
            }
            s
        }

        fn value(&mut self, depth: u32) -> Value {
            match self.below(if depth > 2 { 5 } else { 7 }) {
                0 => Value::Null,
                1 => Value::Bool(self.below(2) == 0),
                2 => json!(self.next()),
                3 => json!(f64::from_bits(self.next()) % 1e6),
                4 => Value::String(self.text(true)),
                5 => Value::Array((0..self.below(4)).map(|_| self.value(depth + 1)).collect()),
                _ => Value::Object(
                    (0..self.below(4))
                        .map(|i| (format!("{}{i}", self.text(false)), self.value(depth + 1)))
                        .collect(),
                ),
            }
        }

        /// Data in the normal form of the data rule.
        fn data(&mut self, newlines: bool) -> Value {
            let value = match self.value(0) {
                Value::String(_) => Value::String(self.text(newlines)),
                value => value,
            };
            match &value {
                Value::String(s) if classify(s.clone()) != value => json!({"was": s}),
                _ => value,
            }
        }

        fn sse_frame(&mut self) -> Frame {
            let mut frame = Frame::default();
            while frame.is_blank() {
                frame.comments = (0..self.below(3)).map(|_| self.text(false)).collect();
                frame.event = (self.below(3) == 0).then(|| self.text(false));
                frame.id = (self.below(3) == 0).then(|| self.text(false));
                frame.retry = (self.below(4) == 0).then(|| self.next() >> self.below(64));
                frame.data = (self.below(5) != 0).then(|| self.data(true));
            }
            frame
        }

        fn ndjson_frame(&mut self) -> Frame {
            loop {
                let value = self.data(false);
                if !value.as_str().is_some_and(|s| s.trim().is_empty()) {
                    return data(value);
                }
            }
        }
    }

    #[test]
    fn arbitrary_frames_round_trip() {
        let mut gen = Gen(0x9E37_79B9_7F4A_7C15);
        for round in 0..300 {
            let frames: Vec<Frame> = (0..gen.below(6)).map(|_| gen.sse_frame()).collect();
            let wire = to_wire(SSE, &frames);
            assert_eq!(
                parse(SSE, &wire).unwrap(),
                frames,
                "round {round}: {}",
                String::from_utf8_lossy(&wire)
            );
            let frames: Vec<Frame> = (0..gen.below(6)).map(|_| gen.ndjson_frame()).collect();
            let wire = to_wire(NDJSON, &frames);
            assert_eq!(
                parse(NDJSON, &wire).unwrap(),
                frames,
                "round {round}: {}",
                String::from_utf8_lossy(&wire)
            );
        }
    }

    #[test]
    fn writing_frames() {
        let frame = Frame {
            comments: vec!["c".into(), "".into()],
            event: Some("e".into()),
            id: Some("i".into()),
            retry: Some(10),
            data: Some(json!({"a": [1, "x"]})),
            delay_ms: Some(250),
        };
        let expected = ": c\n:\nevent: e\nid: i\nretry: 10\ndata: {\"a\":[1,\"x\"]}\n\n";
        assert_eq!(frame_bytes(SSE, &frame), expected.as_bytes());
        assert_eq!(
            frame_bytes(NDJSON, &frame),
            "{\"a\":[1,\"x\"]}\n".as_bytes()
        );
        let mut out = b"prefix".to_vec();
        write_frame(SSE, &frame, &mut out);
        assert_eq!(out, [b"prefix".as_slice(), expected.as_bytes()].concat());
        // A JSON string literal kept as text goes out verbatim; multi-line text in lines.
        assert_eq!(
            frame_bytes(SSE, &data(json!("\"hi\""))),
            "data: \"hi\"\n\n".as_bytes()
        );
        assert_eq!(
            frame_bytes(SSE, &data(json!("a\n\nb"))),
            "data: a\ndata:\ndata: b\n\n".as_bytes()
        );
        assert_eq!(
            frame_bytes(NDJSON, &data(json!("[DONE]"))),
            "[DONE]\n".as_bytes()
        );
        // Nothing to send: nothing written.
        let timing_only = Frame {
            delay_ms: Some(5),
            ..Frame::default()
        };
        assert!(frame_bytes(SSE, &timing_only).is_empty());
        assert!(frame_bytes(
            NDJSON,
            &Frame {
                event: Some("e".into()),
                ..Frame::default()
            }
        )
        .is_empty());
        // delay_ms never reaches the wire, and parsing never sets it.
        let parsed = parse(SSE, expected.as_bytes()).unwrap();
        assert_eq!(
            parsed,
            vec![Frame {
                delay_ms: None,
                ..frame
            }]
        );
    }

    #[test]
    fn frame_serialization_order_and_defaults() {
        let frame = Frame {
            comments: vec!["keep-alive".into()],
            event: Some("e".into()),
            id: Some("1".into()),
            retry: Some(5),
            data: Some(json!({"z": 1, "a": 2})),
            delay_ms: Some(12),
        };
        let json = serde_json::to_string(&frame).unwrap();
        assert_eq!(
            json,
            r#"{"comments":["keep-alive"],"event":"e","id":"1","retry":5,"data":{"z":1,"a":2},"delay_ms":12}"#
        );
        assert_eq!(serde_json::from_str::<Frame>(&json).unwrap(), frame);
        assert_eq!(
            serde_json::to_string(&data(json!("[DONE]"))).unwrap(),
            r#"{"data":"[DONE]"}"#
        );
        assert_eq!(serde_json::to_string(&Frame::default()).unwrap(), "{}");
        assert_eq!(
            serde_json::from_str::<Frame>("{}").unwrap(),
            Frame::default()
        );
        // JSON null data is a value, distinct from no data.
        let null = data(Value::Null);
        assert_eq!(serde_json::to_string(&null).unwrap(), r#"{"data":null}"#);
    }

    #[test]
    fn for_each_data_mut_visits_json_values_only() {
        let mut frames = sse(
            "data: {\"id\":\"chatcmpl-1\",\"created\":17}\n\n: ping\n\ndata: [1]\n\ndata: \"s\"\n\ndata: [DONE]\n\n",
        );
        let mut seen = 0;
        for_each_data_mut(&mut frames, |value| {
            seen += 1;
            if let Some(obj) = value.as_object_mut() {
                obj.insert("id".into(), json!("rec-x"));
                obj.insert("created".into(), json!(0));
            }
        });
        assert_eq!(seen, 2);
        assert_eq!(
            String::from_utf8(to_wire(SSE, &frames)).unwrap(),
            "data: {\"id\":\"rec-x\",\"created\":0}\n\n: ping\n\ndata: [1]\n\ndata: \"s\"\n\ndata: [DONE]\n\n"
        );
    }
}
