//! One stdio session: the pump between a client's lines and the server's, each
//! exchange handed to a [`ExchangeSink`].
//!
//! With a server running (the modes that call upstream), every client line goes to
//! it and the client gets the server's lines as they come: a request's exchange
//! collects the server's lines until the response with its id (the response reaches
//! the client only once the recorder has it, so that ids it issued are known before
//! the client can send them back); lines that come while no request waits are the
//! session's open stream, handed over when the session ends. Without a server
//! (replay), each request is answered from the recordings, and the open stream once
//! the session's first request is answered.

use super::exchange::Exchange;
use super::message::{self, Kind};
use super::recorder::ExchangeSink;
use crate::engine::task;
use std::collections::VecDeque;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::mpsc::{unbounded_channel, UnboundedSender};

/// How long a server has to exit after its stdin is closed, before it is killed (the
/// MCP SDKs wait about as long).
pub(crate) const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// A request waiting for its response, and the server lines that came meanwhile.
struct Waiting {
    id: String,
    line: String,
    lines: Vec<String>,
}

#[derive(Default)]
struct State {
    /// Requests in flight, in the order the client sent them: a server line that is
    /// not a response belongs to the oldest.
    waiting: Mutex<VecDeque<Waiting>>,
    /// Server lines no request was waiting for.
    open: Mutex<Vec<String>>,
    /// The session's first request has its answer: from then on there is an open
    /// stream (recorded at the end, replayed right after that answer).
    first_answered: AtomicBool,
}

/// Runs a session until the client's input ends (or `stop` resolves), or the
/// server's output ends; returns once every exchange is with the recorder. `server`:
/// the running server, in the modes that call upstream.
pub(crate) async fn run<I, O>(
    recorder: Arc<dyn ExchangeSink>,
    server: Option<tokio::process::Child>,
    client_in: I,
    client_out: O,
    stop: impl Future<Output = ()> + Send,
) where
    I: AsyncRead + Unpin + Send + 'static,
    O: AsyncWrite + Unpin + Send + 'static,
{
    let (out, mut lines_out) = unbounded_channel::<String>();
    let writer = tokio::spawn(task(async move {
        let mut client_out = client_out;
        while let Some(line) = lines_out.recv().await {
            let sent = async {
                client_out.write_all(line.as_bytes()).await?;
                client_out.write_all(b"\n").await?;
                client_out.flush().await
            };
            if sent.await.is_err() {
                // The client is gone; its input ends the session.
                break;
            }
        }
        let _ = client_out.shutdown().await;
    }));
    let state = Arc::new(State::default());
    match server {
        Some(child) => with_server(&recorder, &state, child, client_in, out, stop).await,
        None => replaying(&recorder, &state, client_in, out, stop).await,
    }
    let _ = writer.await;
}

/// Lines of a byte stream, without blank ones.
async fn next_line<R: AsyncRead + Unpin>(
    lines: &mut tokio::io::Lines<BufReader<R>>,
) -> Option<String> {
    loop {
        match lines.next_line().await {
            Ok(Some(line)) if line.trim().is_empty() => continue,
            Ok(Some(line)) => return Some(line),
            Ok(None) | Err(_) => return None,
        }
    }
}

/// The session with the server running.
async fn with_server<I>(
    recorder: &Arc<dyn ExchangeSink>,
    state: &Arc<State>,
    mut child: tokio::process::Child,
    client_in: I,
    out: UnboundedSender<String>,
    stop: impl Future<Output = ()> + Send,
) where
    I: AsyncRead + Unpin + Send + 'static,
{
    let stdin = child.stdin.take().expect("the server's stdin is piped");
    let stdout = child.stdout.take().expect("the server's stdout is piped");
    let mut reader = tokio::spawn(task(read_server(
        recorder.clone(),
        state.clone(),
        stdout,
        out,
    )));
    let client = pass_client_lines(recorder, state, client_in, stdin);
    let server_ended = tokio::select! {
        () = client => false,
        () = stop => false,
        _ = &mut reader => true,
    };
    // The client is done (its lines, and the server's stdin, are dropped): the server
    // gets its grace period to exit, as MCP's shutdown asks.
    let status = match tokio::time::timeout(SHUTDOWN_GRACE, child.wait()).await {
        Ok(status) => status.ok(),
        Err(_) => {
            let _ = child.start_kill();
            child.wait().await.ok()
        }
    };
    if server_ended {
        // The server left with requests unanswered: the client sees its output end;
        // the test fails saying which requests were lost.
        let lost: Vec<Waiting> = state.waiting.lock().unwrap().drain(..).collect();
        let status = status.map_or_else(|| "?".to_owned(), |s| s.to_string());
        for request in lost {
            recorder.report(format!(
                "the stdio server exited ({status}) before answering `{}` (id {}): nothing was recorded for it; see the server's stderr",
                message::method(&request.line),
                request.id
            ));
        }
    }
    if !server_ended {
        // A grandchild holding the server's stdout open must not hold the session.
        if tokio::time::timeout(SHUTDOWN_GRACE, &mut reader)
            .await
            .is_err()
        {
            reader.abort();
        }
    }
    if state.first_answered.load(Ordering::SeqCst) {
        let lines = std::mem::take(&mut *state.open.lock().unwrap());
        submit(recorder, Exchange::open_stream(Some(lines))).await;
    }
}

/// Client lines to the server; each notification or response the client sends is an
/// exchange of its own, answered `202` (requests are exchanged by [`read_server`]).
async fn pass_client_lines<I>(
    recorder: &Arc<dyn ExchangeSink>,
    state: &State,
    client_in: I,
    mut stdin: tokio::process::ChildStdin,
) where
    I: AsyncRead + Unpin + Send + 'static,
{
    let mut lines = BufReader::new(client_in).lines();
    while let Some(line) = next_line(&mut lines).await {
        let kind = message::kind(&line);
        if let Kind::Request(id) = &kind {
            // Waiting before the server can answer it.
            state.waiting.lock().unwrap().push_back(Waiting {
                id: id.clone(),
                line: line.clone(),
                lines: Vec::new(),
            });
        }
        // A server that is gone ends the session through its output.
        let _ = write_line(&mut stdin, &line).await;
        if !matches!(kind, Kind::Request(_)) {
            submit(recorder, Exchange::message(line, Some(Vec::new()))).await;
        }
    }
}

async fn write_line(stdin: &mut tokio::process::ChildStdin, line: &str) -> std::io::Result<()> {
    stdin.write_all(line.as_bytes()).await?;
    stdin.write_all(b"\n").await?;
    stdin.flush().await
}

/// Server lines to the client, each in its exchange: a response closes its request's
/// exchange (handed to the recorder before the client sees it), any other line joins
/// the oldest waiting request's, or the open stream.
async fn read_server(
    recorder: Arc<dyn ExchangeSink>,
    state: Arc<State>,
    stdout: tokio::process::ChildStdout,
    out: UnboundedSender<String>,
) {
    let mut lines = BufReader::new(stdout).lines();
    while let Some(line) = next_line(&mut lines).await {
        if let Kind::Response(id) = message::kind(&line) {
            let done = {
                let mut waiting = state.waiting.lock().unwrap();
                let at = waiting.iter().position(|w| w.id == id);
                at.and_then(|at| waiting.remove(at))
            };
            if let Some(mut done) = done {
                done.lines.push(line.clone());
                submit(&recorder, Exchange::message(done.line, Some(done.lines))).await;
                state.first_answered.store(true, Ordering::SeqCst);
                let _ = out.send(line);
                continue;
            }
        }
        match state.waiting.lock().unwrap().front_mut() {
            Some(waiting) => waiting.lines.push(line.clone()),
            None => state.open.lock().unwrap().push(line.clone()),
        }
        let _ = out.send(line);
    }
}

/// Hands a performed exchange to the recorder; what fails is reported.
async fn submit(recorder: &Arc<dyn ExchangeSink>, exchange: Exchange) {
    let reply = recorder.exchange(exchange).await;
    if let Err(problem) = reply.and_then(|r| r.lines().map(drop)) {
        recorder.report(problem);
    }
}

/// The session without a server: every answer from the recordings.
async fn replaying<I>(
    recorder: &Arc<dyn ExchangeSink>,
    state: &Arc<State>,
    client_in: I,
    out: UnboundedSender<String>,
    stop: impl Future<Output = ()> + Send,
) where
    I: AsyncRead + Unpin + Send + 'static,
{
    let mut requests = tokio::task::JoinSet::new();
    let mut lines = BufReader::new(client_in).lines();
    tokio::pin!(stop);
    loop {
        let line = tokio::select! {
            line = next_line(&mut lines) => line,
            () = &mut stop => None,
        };
        let Some(line) = line else { break };
        if let Kind::Request(_) = message::kind(&line) {
            // Answered concurrently, as a server would: a client may send another
            // request (or the response to a server's request) before this one's answer.
            requests.spawn(task(answer(
                recorder.clone(),
                state.clone(),
                line,
                out.clone(),
            )));
            continue;
        }
        // A notification or a response: nothing goes back to the client (not even an
        // error, which JSON-RPC gives no id to match); a miss fails the test.
        let reply = recorder.exchange(Exchange::message(line, None)).await;
        match reply.and_then(|r| r.lines()) {
            Ok(lines) => lines.into_iter().for_each(|l| drop(out.send(l))),
            Err(problem) => recorder.report(problem),
        }
    }
    while requests.join_next().await.is_some() {}
}

/// A request's recorded answer to the client; after the session's first, the open
/// stream's lines. A request the recorder cannot answer gets a JSON-RPC error with
/// its id and the reason.
async fn answer(
    recorder: Arc<dyn ExchangeSink>,
    state: Arc<State>,
    line: String,
    out: UnboundedSender<String>,
) {
    let id = message::request_id(&line);
    let method = message::method(&line);
    let reply = recorder.exchange(Exchange::message(line, None)).await;
    let answered = reply.as_ref().is_ok_and(|r| r.status < 400);
    // The recorder's own JSON-RPC error (a miss explained) carries the id already; its
    // message gets the method, which a miss's explanation names only by its hash.
    let rpc_error = reply
        .as_ref()
        .ok()
        .and_then(|r| r.jsonrpc_error())
        .map(|line| message::with_method(&line, &method));
    match reply.and_then(|r| r.lines()) {
        Ok(lines) => lines.into_iter().for_each(|l| drop(out.send(l))),
        Err(problem) => {
            let line = rpc_error.unwrap_or_else(|| {
                message::error_line(
                    id,
                    &format!("the recorder cannot answer `{method}`: {problem}"),
                )
            });
            let _ = out.send(line);
            recorder.report(problem);
        }
    }
    if answered && !state.first_answered.swap(true, Ordering::SeqCst) {
        let reply = recorder.exchange(Exchange::open_stream(None)).await;
        match reply.and_then(|r| r.lines()) {
            Ok(lines) => lines.into_iter().for_each(|l| drop(out.send(l))),
            Err(problem) => recorder.report(problem),
        }
    }
}
