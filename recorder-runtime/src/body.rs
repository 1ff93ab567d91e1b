//! The engine's streamed response body: one chunk per frame on replay, the
//! upstream's chunks as they arrive while recording.
//!
//! [`BodyStream`] is both a `futures::Stream` of chunks and an
//! `http_body::Body`, so every transport hands it on without adapter layers:
//! replaying stored frames costs one `Bytes` clone per frame, with no boxing and
//! no channel on the way.
//!
//! ```
//! use futures_util::StreamExt;
//! use recorder_runtime::engine::BodyStream;
//! # futures::executor::block_on(async {
//! let mut body = BodyStream::new(futures_util::stream::iter(vec![
//!     Ok(bytes::Bytes::from_static(b"data: 1\n\n")),
//!     Ok(bytes::Bytes::from_static(b"data: [DONE]\n\n")),
//! ]));
//! assert_eq!(body.next().await.unwrap().unwrap(), "data: 1\n\n");
//! assert_eq!(body.next().await.unwrap().unwrap(), "data: [DONE]\n\n");
//! assert!(body.next().await.is_none());
//! # });
//! ```

use crate::error::{Error, Result};
use bytes::Bytes;
use futures_util::stream::Stream;
use http_body::{Body, Frame, SizeHint};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use sync_wrapper::SyncWrapper;

/// Stored frames: wire bytes and the recorded delay in milliseconds, if kept.
pub type StoredFrames = Arc<[(Bytes, Option<u64>)]>;

/// A stream of body chunks (see the module docs).
pub struct BodyStream(Inner);

enum Inner {
    /// Recorded frames served back to back: the replay hot path.
    Stored { frames: StoredFrames, next: usize },
    /// Anything else: the upstream while recording, a replay with its recorded
    /// delays. `SyncWrapper` makes the body `Sync` (reqwest needs it) without
    /// asking it of the stream, which is only ever polled through `&mut`.
    Dyn(SyncWrapper<Pin<Box<dyn Stream<Item = Result<Bytes>> + Send>>>),
}

impl BodyStream {
    /// A body from any stream of chunks.
    pub fn new(stream: impl Stream<Item = Result<Bytes>> + Send + 'static) -> Self {
        BodyStream(Inner::Dyn(SyncWrapper::new(Box::pin(stream))))
    }

    /// Stored frames, one chunk each, without delays.
    pub fn stored(frames: StoredFrames) -> Self {
        BodyStream(Inner::Stored { frames, next: 0 })
    }

    /// One chunk holding a whole body.
    pub fn once(body: Bytes) -> Self {
        BodyStream::stored(Arc::from([(body, None)]))
    }
}

impl std::fmt::Debug for BodyStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Inner::Stored { frames, next } => f
                .debug_struct("BodyStream::Stored")
                .field("frames", &frames.len())
                .field("next", next)
                .finish(),
            Inner::Dyn(_) => f.write_str("BodyStream::Dyn"),
        }
    }
}

impl Stream for BodyStream {
    type Item = Result<Bytes>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match &mut self.get_mut().0 {
            Inner::Stored { frames, next } => {
                let chunk = frames.get(*next).map(|(bytes, _)| Ok(bytes.clone()));
                *next += 1;
                Poll::Ready(chunk)
            }
            Inner::Dyn(s) => s.get_mut().as_mut().poll_next(cx),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match &self.0 {
            Inner::Stored { frames, next } => {
                let left = frames.len().saturating_sub(*next);
                (left, Some(left))
            }
            // `SyncWrapper` gives no shared access to the stream, so no hint.
            Inner::Dyn(_) => (0, None),
        }
    }
}

impl Body for BodyStream {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<std::result::Result<Frame<Bytes>, Error>>> {
        self.poll_next(cx).map(|c| c.map(|r| r.map(Frame::data)))
    }

    fn is_end_stream(&self) -> bool {
        matches!(&self.0, Inner::Stored { frames, next } if *next >= frames.len())
    }

    // The length is left unknown on purpose: a stream goes out chunked, as the
    // upstream sent it, not with a Content-Length.
    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;
    use http_body_util::BodyExt;

    fn frames() -> StoredFrames {
        Arc::from(vec![
            (Bytes::from_static(b"data: a\n\n"), Some(5)),
            (Bytes::new(), None),
            (Bytes::from_static(b"data: [DONE]\n\n"), None),
        ])
    }

    #[tokio::test]
    async fn stored_frames_come_out_one_chunk_each_in_order() {
        let chunks: Vec<Bytes> = BodyStream::stored(frames())
            .map(|c| c.unwrap())
            .collect()
            .await;
        assert_eq!(
            chunks,
            frames().iter().map(|f| f.0.clone()).collect::<Vec<_>>()
        );
    }

    #[tokio::test]
    async fn as_an_http_body_frames_are_data_and_the_end_is_known() {
        let mut body = BodyStream::stored(frames());
        assert!(!body.is_end_stream());
        let mut seen = Vec::new();
        while let Some(f) = body.frame().await {
            seen.push(f.unwrap().into_data().unwrap());
        }
        assert_eq!(seen.len(), 3);
        assert!(body.is_end_stream());
        assert_eq!(Body::size_hint(&body).exact(), None);
    }

    #[tokio::test]
    async fn any_stream_passes_through_errors_included() {
        let body = BodyStream::new(futures_util::stream::iter(vec![
            Ok(Bytes::from_static(b"x")),
            Err(Error::NotReady("cut".into())),
        ]));
        let out: Vec<_> = StreamExt::collect(body).await;
        assert_eq!(out[0].as_ref().unwrap(), "x");
        assert!(out[1].as_ref().unwrap_err().to_string().contains("cut"));
        fn is_send_sync<T: Send + Sync>(_: &T) {}
        is_send_sync(&BodyStream::once(Bytes::new()));
    }
}
