//! The front ends' entry points: [`StdioServer`] (a Rust test's, in process) and
//! [`run_remote`] (`cargo recordings mcp-stdio`'s, over HTTP).

use super::recorder::{ExchangeSink, InProcess, OverHttp};
use super::{credentials, describe, endpoint, session};
use crate::engine::{background, Scope};
use crate::error::{Error, Result, SetupProblem};
use std::ffi::OsString;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, DuplexStream, ReadBuf};
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;

/// How much a client may write ahead of the session (and the session ahead of the
/// client) before the writer waits.
const PIPE_BYTES: usize = 1 << 20;

/// A stdio server as a test's client sees it, through the recorder: write the lines
/// the client would write to the server's stdin, read the lines it would read from its
/// stdout (see [the module docs](super) for what is recorded). Made by
/// [`RecordingContext::stdio_server`](crate::RecordingContext::stdio_server).
///
/// ```no_run
/// # async fn demo(ctx: recorder_runtime::RecordingContext) {
/// use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
/// let mut command = tokio::process::Command::new("node");
/// command.arg("server.js").env("GITHUB_TOKEN", "ghp_..."); // a secret of the test
/// let mut server = BufReader::new(ctx.stdio_server("github", command).unwrap());
/// server.get_mut().write_all(b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}\n").await.unwrap();
/// let mut answer = String::new();
/// server.read_line(&mut answer).await.unwrap();
/// server.into_inner().close().await.unwrap();
/// # }
/// ```
#[derive(Debug)]
pub struct StdioServer {
    /// What the client writes: the server's stdin. Dropping it (or shutting it down)
    /// ends the session, as closing a server's stdin does.
    pub(crate) to_server: DuplexStream,
    /// What the client reads: the server's stdout.
    pub(crate) from_server: DuplexStream,
    pub(crate) session: JoinHandle<()>,
}

impl StdioServer {
    /// Starts a session of `scope` with the server `command` under the name `name`
    /// (endpoint `/up/NAME`): the server runs (its stdin and stdout piped, its stderr as
    /// the command says) only when the mode calls upstream.
    pub(crate) fn start(scope: &Arc<Scope>, name: &str, command: Command) -> Result<StdioServer> {
        let endpoint = endpoint(name)?;
        let secrets = credentials(
            command
                .as_std()
                .get_envs()
                .filter_map(|(name, value)| Some((name, value?))),
            command.as_std().get_args(),
        );
        let upstream = format!(
            "the stdio server `{}`",
            describe(command.as_std(), &secrets)
        );
        let recorder = InProcess {
            scope: scope.clone(),
            endpoint,
            upstream: upstream.clone(),
        };
        // In process, the session starts at once: the secrets are the test's before any
        // line is recorded.
        scope.add_secrets(secrets);
        let child = if scope.mode().calls_upstream() {
            let _runtime = background().enter();
            Some(spawn(command, &upstream).inspect_err(|e| scope.problem(e.to_string()))?)
        } else {
            None
        };
        // Two pipes, not one split: a client that drops its writing end (as rmcp closes
        // its transport) must end the session even while it keeps its reading end.
        let (to_server, session_in) = tokio::io::duplex(PIPE_BYTES);
        let (from_server, session_out) = tokio::io::duplex(PIPE_BYTES);
        // The test waits for the session's recordings before it ends.
        let pending = scope.in_flight.start();
        let recorder: Arc<dyn ExchangeSink> = Arc::new(recorder);
        let session = background().spawn(crate::engine::task(async move {
            let _pending = pending;
            let never = std::future::pending::<()>();
            session::run(recorder, child, session_in, session_out, never).await;
        }));
        Ok(StdioServer {
            to_server,
            from_server,
            session,
        })
    }

    /// Ends the session as a client does, by closing the server's stdin (a running
    /// server gets [a grace period](crate::stdio) to exit), and waits until every
    /// exchange is recorded. What went wrong in them fails the test (see
    /// [`RecordingContext::finish`](crate::RecordingContext::finish)).
    pub async fn close(mut self) -> Result<()> {
        let _ = self.to_server.shutdown().await;
        drop(self.to_server);
        self.session.await.map_err(Error::Task)
    }
}

impl AsyncRead for StdioServer {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.from_server).poll_read(cx, buf)
    }
}

impl AsyncWrite for StdioServer {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.to_server).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.to_server).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.to_server).poll_shutdown(cx)
    }
}

/// Starts the server with its stdin and stdout piped; it is killed if the session is
/// dropped.
fn spawn(mut command: Command, upstream: &str) -> Result<Child> {
    command
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true);
    command.spawn().map_err(|e| {
        Error::Setup(SetupProblem::ServerNotStarted {
            server: upstream.to_owned(),
            reason: e.to_string(),
        })
    })
}

/// Where `cargo recordings mcp-stdio` finds its recorder.
#[derive(Debug, Clone)]
pub struct Remote {
    /// The recorder's URL: a test's (`RECORDER_URL` from
    /// [`RecordingContext::recorder_env`](crate::RecordingContext::recorder_env)), or
    /// `cargo recordings serve`'s.
    pub url: String,
    /// The server's name: its exchanges are recorded at `/up/NAME`.
    pub name: String,
    /// The test id, for a recorder that serves many tests (`serve`).
    pub test_id: Option<String>,
}

/// `cargo recordings mcp-stdio`: one session between a client (`client_in`, the
/// lines it writes; `client_out`, the lines it reads) and the server `command`,
/// recorded by the recorder of `remote`. It asks the recorder for the mode first
/// (telling it the credentials of the server's environment: this process's, which the
/// server inherits, and those set on `command`), starts the server only when the mode
/// calls upstream, and returns when the session ended (the client closed its side,
/// `stop` resolved, or the server exited) with how many problems it reported on
/// stderr. An error: the session could not start (the recorder cannot be reached or
/// refused it, the server cannot be started).
pub async fn run_remote<I, O>(
    remote: Remote,
    command: Command,
    client_in: I,
    client_out: O,
    stop: impl Future<Output = ()> + Send,
) -> Result<usize>
where
    I: AsyncRead + Unpin + Send + 'static,
    O: AsyncWrite + Unpin + Send + 'static,
{
    let endpoint = endpoint(&remote.name)?;
    let url = format!("{}{endpoint}", remote.url.trim_end_matches('/'));
    let recorder = Arc::new(OverHttp::new(url, remote.test_id));
    let inherited: Vec<(OsString, OsString)> = std::env::vars_os().collect();
    let secrets = credentials(
        inherited
            .iter()
            .map(|(k, v)| (k.as_os_str(), v.as_os_str()))
            .chain(
                command
                    .as_std()
                    .get_envs()
                    .filter_map(|(k, v)| Some((k, v?))),
            ),
        command.as_std().get_args(),
    );
    let upstream = format!(
        "the stdio server `{}`",
        describe(command.as_std(), &secrets)
    );
    let mode = recorder.begin(secrets).await?;
    let child = if mode.calls_upstream() {
        Some(spawn(command, &upstream)?)
    } else {
        None
    };
    let counted: Arc<dyn ExchangeSink> = recorder.clone();
    session::run(counted, child, client_in, client_out, stop).await;
    Ok(recorder.reported())
}
