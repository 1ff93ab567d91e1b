//! The fake MCP server over stdio (see `recorder_testkit::mcp_stdio`): JSON-RPC lines
//! on stdin and stdout, canned answers, until stdin ends.
//!
//! ```text
//! fake-mcp-stdio
//! ```

use recorder_testkit::mcp_stdio::{serve, STARTED_VAR};
use std::io::Write;

fn main() {
    if let Some(path) = std::env::var_os(STARTED_VAR) {
        let started = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .and_then(|mut f| writeln!(f, "started"));
        if let Err(e) = started {
            eprintln!(
                "fake-mcp-stdio: cannot write {}: {e}",
                path.to_string_lossy()
            );
            std::process::exit(1);
        }
    }
    if let Err(e) = serve(std::io::stdin().lock(), std::io::stdout().lock()) {
        eprintln!("fake-mcp-stdio: {e}");
        std::process::exit(1);
    }
}
