//! `cargo recordings mcp-stdio -- COMMAND...`: a stand-in for an MCP server over
//! stdio, launched by a client in the server's place. The session (the client's lines
//! on this process's stdin, the answers on its stdout) is recorded and replayed by the
//! test's recorder over HTTP, so that one engine keeps the secrets, ids and problems
//! (see `recorder_runtime::stdio`). Its stdout carries the protocol alone: everything
//! it has to say goes to stderr.

use crate::McpStdioArgs;
use crate::{EXIT_OK, EXIT_PROBLEMS};
use recorder_runtime::stdio::{run_remote, Remote, TEST_ID_VAR, URL_VAR};
use std::io::Write;

/// `recordings mcp-stdio`: one session, until the client closes the server's stdin,
/// the server exits, or Ctrl-C / SIGTERM.
pub(crate) fn mcp_stdio(args: &McpStdioArgs, err: &mut dyn Write) -> anyhow::Result<i32> {
    let url = match &args.url {
        Some(url) => url.clone(),
        None => std::env::var(URL_VAR).map_err(|_| {
            anyhow::anyhow!(
                "no recorder to talk to: set {URL_VAR} in the environment of the client that launches this command (a Rust test: `.envs(ctx.recorder_env())` on the client's command; `cargo recordings serve`: its URL, with {TEST_ID_VAR}), or pass --url"
            )
        })?,
    };
    let test_id = args
        .test_id
        .clone()
        .or_else(|| std::env::var(TEST_ID_VAR).ok().filter(|id| !id.is_empty()));
    let (program, rest) = args
        .command
        .split_first()
        .ok_or_else(|| anyhow::anyhow!("no server command after `--`"))?;
    let mut command = tokio::process::Command::new(program);
    command.args(rest);
    let remote = Remote {
        url,
        name: args.name.clone(),
        test_id,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let problems = rt.block_on(async {
        let stop = super::serve::Stop::register()?;
        let stop = async move {
            let _ = stop.wait().await;
        };
        let problems = run_remote(
            remote,
            command,
            tokio::io::stdin(),
            tokio::io::stdout(),
            stop,
        )
        .await?;
        anyhow::Ok(problems)
    })?;
    // Tokio's stdin reader may be blocked in a read that never returns: do not wait.
    rt.shutdown_background();
    if problems == 0 {
        return Ok(EXIT_OK);
    }
    writeln!(
        err,
        "cargo recordings mcp-stdio: {problems} exchange(s) could not be recorded or replayed (each printed above); the test that gave {URL_VAR} fails on them too"
    )?;
    Ok(EXIT_PROBLEMS)
}
