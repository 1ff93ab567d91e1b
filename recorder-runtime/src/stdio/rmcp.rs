//! [`McpStdio`]: a [`StdioServer`] as a transport of rmcp, the Rust MCP SDK (feature
//! `rmcp`), in place of rmcp's `TokioChildProcess`.

use super::StdioServer;
use rmcp::service::{RoleClient, RxJsonRpcMessage, TxJsonRpcMessage};
use rmcp::transport::async_rw::AsyncRwTransport;
use rmcp::transport::Transport;
use std::future::Future;
use tokio::io::DuplexStream;
use tokio::task::JoinHandle;

/// An MCP server over stdio as an rmcp client transport, recorded and replayed (see
/// [the module docs](super)): rmcp's own line codec on one side, the test's recorder
/// on the other. Made by
/// [`RecordingContext::mcp_stdio`](crate::RecordingContext::mcp_stdio); closing the
/// client (`RunningService::cancel`, or dropping it) ends the session, and the test
/// waits for its recordings before it ends.
///
/// ```no_run
/// # async fn demo(ctx: recorder_runtime::RecordingContext) {
/// use rmcp::ServiceExt;
/// let mut server = tokio::process::Command::new("python");
/// server.args(["server.py", "stdio"]);
/// let mcp = ().serve(ctx.mcp_stdio("mcp", server).unwrap()).await.unwrap();
/// let tools = mcp.list_all_tools().await.unwrap();
/// mcp.cancel().await.unwrap();
/// # }
/// ```
pub struct McpStdio {
    rw: AsyncRwTransport<RoleClient, DuplexStream, DuplexStream>,
    session: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for McpStdio {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("McpStdio").finish_non_exhaustive()
    }
}

impl From<StdioServer> for McpStdio {
    fn from(server: StdioServer) -> McpStdio {
        McpStdio {
            // rmcp's `close` drops the writer: the server's stdin closes, as with a
            // real child.
            rw: AsyncRwTransport::new(server.from_server, server.to_server),
            session: Some(server.session),
        }
    }
}

impl Transport<RoleClient> for McpStdio {
    type Error = std::io::Error;

    fn send(
        &mut self,
        item: TxJsonRpcMessage<RoleClient>,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'static {
        self.rw.send(item)
    }

    fn receive(&mut self) -> impl Future<Output = Option<RxJsonRpcMessage<RoleClient>>> + Send {
        self.rw.receive()
    }

    /// Closes the server's stdin and waits until the session's exchanges are recorded.
    async fn close(&mut self) -> Result<(), Self::Error> {
        let closed = self.rw.close().await;
        if let Some(session) = self.session.take() {
            session.await.map_err(std::io::Error::other)?;
        }
        closed
    }
}
