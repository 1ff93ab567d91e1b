//! The frames of a stream being recorded, held until the stream ends: as compact JSON
//! text, one frame after the other, not as parsed values. A parsed frame costs
//! several times its text (each object of a chunk is a map of its own), and a long
//! stream has hundreds of thousands of frames: held parsed, a 66 MB stream took
//! gigabytes. They are parsed back once, when the recording is made.
//!
//! The frames also count what they will weigh in the recording file (pretty JSON,
//! where each frame sits four levels deep), so that a stream whose recording would be
//! over the size replay loads is known while it comes, and not held at all.

use crate::stream::Frame;

/// How many spaces each line of a frame is indented in a recording file
/// (`response` > `stream` > `frames` > frame, two spaces each).
const FRAME_INDENT: u64 = 8;

/// Frames held as compact JSON (see the [module docs](self)).
#[derive(Debug, Default)]
pub(crate) struct HeldFrames {
    /// The frames' compact JSON, one value after the other.
    text: Vec<u8>,
    /// The bytes the frames pushed so far take in a recording file.
    file_bytes: u64,
    /// Frames are counted but no longer kept.
    dropped: bool,
}

impl HeldFrames {
    /// Holds one more frame, and counts its bytes in a recording file.
    pub(crate) fn push(&mut self, frame: &Frame) {
        let mut count = Count::default();
        serde_json::to_writer_pretty(&mut count, frame).expect("a frame serializes");
        // Each line indented, and `,\n` after each frame but the last.
        self.file_bytes += count.bytes + (count.lines + 1) * FRAME_INDENT + 2;
        if !self.dropped {
            serde_json::to_writer(&mut self.text, frame).expect("a frame serializes");
        }
    }

    /// The bytes of the frames pushed so far in a recording file (pretty JSON), to
    /// within a few bytes; ids and secrets replaced later may change it a little.
    pub(crate) fn file_bytes(&self) -> u64 {
        self.file_bytes
    }

    /// Stops keeping frames (those held are freed); they are still counted.
    pub(crate) fn drop_frames(&mut self) {
        self.dropped = true;
        self.text = Vec::new();
    }

    /// Whether [`HeldFrames::drop_frames`] was called.
    pub(crate) fn dropped(&self) -> bool {
        self.dropped
    }

    /// The frames, parsed back.
    pub(crate) fn into_frames(self) -> Vec<Frame> {
        serde_json::Deserializer::from_slice(&self.text)
            .into_iter::<Frame>()
            .map(|f| f.expect("held frames are their own JSON"))
            .collect()
    }
}

/// An `io::Write` that counts bytes and lines.
#[derive(Default)]
struct Count {
    bytes: u64,
    lines: u64,
}

impl std::io::Write for Count {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.bytes += buf.len() as u64;
        self.lines += memchr::memchr_iter(b'\n', buf).count() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recording::{RecordedRequest, RecordedResponse, Recording};
    use crate::stream::{parse, StreamFormat};

    #[test]
    fn frames_come_back_as_they_went_in_and_are_counted_as_the_file_holds_them() {
        let wire = concat!(
            ": keep-alive\n\n",
            "event: delta\nid: 7\ndata: {\"choices\":[{\"delta\":{\"content\":\"a\\n\"}}],\"n\":1.5e300,\"big\":18446744073709551615}\n\n",
            "data: plain text\n\n",
            "data: \"a string\"\n\n",
            "data: [DONE]\n\n",
        );
        let frames = parse(StreamFormat::Sse, wire.as_bytes()).unwrap();
        let mut held = HeldFrames::default();
        for f in &frames {
            held.push(f);
        }
        let rec = |frames| Recording {
            test_id: Some("t::held".into()),
            request: RecordedRequest {
                method: "POST".into(),
                endpoint: "/v1/chat/completions".into(),
                model: None,
                body: serde_json::json!({"stream": true}),
            },
            response: RecordedResponse::streamed(200, StreamFormat::Sse, frames),
        };
        let base = rec(Vec::new()).to_pretty_bytes().len() as u64;
        let file = rec(frames.clone()).to_pretty_bytes().len() as u64;
        // `[]` becomes `[\n` ... `\n      ]`, and the last frame has no comma.
        assert_eq!(base + held.file_bytes() + 6, file);
        assert_eq!(held.into_frames(), frames);

        let mut dropped = HeldFrames::default();
        dropped.push(&frames[0]);
        dropped.drop_frames();
        dropped.push(&frames[1]);
        assert!(dropped.dropped() && dropped.into_frames().is_empty());
    }
}
