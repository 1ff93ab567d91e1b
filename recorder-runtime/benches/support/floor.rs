//! The floor: a bare hyper server on loopback that answers with fixed bytes (a JSON
//! body, or a list of stream chunks sent one by one), doing nothing else. A replay
//! cannot be faster than this; benches and `scripts/compare-peers.sh` measure the
//! proxy against it. Shared by `recorder-runtime/benches` and `bench/peers`.
#![allow(dead_code)]

use bytes::Bytes;
use http_body_util::{combinators::UnsyncBoxBody, BodyExt, Full, StreamBody};
use hyper::body::Frame;
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::sync::Arc;

type Body = UnsyncBoxBody<Bytes, std::convert::Infallible>;

/// A running floor server. It lives as long as the process.
pub struct Floor {
    addr: SocketAddr,
}

impl Floor {
    /// Serves `plain` (as `application/json`) to requests whose body does not ask for
    /// a stream, and `frames` (as `text/event-stream`, one chunk each) to those that do.
    /// Runs on its own 2-thread runtime, as the recorder's proxy does.
    pub fn start(plain: Bytes, frames: Vec<Bytes>) -> Floor {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("floor")
            .enable_all()
            .build()
            .expect("a runtime");
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("bind loopback");
        let addr = listener.local_addr().unwrap();
        let answers = Arc::new((plain, frames));
        rt.spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let answers = answers.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(
                        move |req: http::Request<hyper::body::Incoming>| {
                            let answers = answers.clone();
                            async move {
                                let body = req
                                    .into_body()
                                    .collect()
                                    .await
                                    .map(|b| b.to_bytes())
                                    .unwrap_or_default();
                                Ok::<_, std::convert::Infallible>(respond(&answers, &body))
                            }
                        },
                    );
                    let _ = hyper::server::conn::http1::Builder::new()
                        .keep_alive(true)
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        // The runtime serves until the process exits.
        std::mem::forget(rt);
        Floor { addr }
    }

    /// `http://127.0.0.1:<port>/v1`.
    pub fn url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }
}

fn respond(answers: &(Bytes, Vec<Bytes>), body: &[u8]) -> http::Response<Body> {
    let streamed = body.windows(13).any(|w| w == b"\"stream\":true");
    if streamed {
        let frames = answers
            .1
            .clone()
            .into_iter()
            .map(|f| Ok::<_, std::convert::Infallible>(Frame::data(f)));
        http::Response::builder()
            .status(200)
            .header("content-type", "text/event-stream")
            .header("cache-control", "no-cache")
            .body(BodyExt::boxed_unsync(StreamBody::new(
                futures::stream::iter(frames),
            )))
            .unwrap()
    } else {
        http::Response::builder()
            .status(200)
            .header("content-type", "application/json")
            .body(Full::new(answers.0.clone()).boxed_unsync())
            .unwrap()
    }
}
