//! Servers a client launches and talks to over stdio (MCP's usual transport: JSON-RPC
//! messages, one per line, on the server's stdin and stdout), recorded and replayed by
//! the same engine as HTTP traffic.
//!
//! # The mapping
//! A stdio session is recorded as the exchanges a Streamable HTTP server would make of
//! it, at the endpoint `/up/NAME` that names the server (`mcp` by default, as named
//! upstreams are), so identity, occurrences, ids, secrets, problems and the recording
//! format are the engine's:
//!
//! - each **request** the client writes is `POST /up/NAME` with the line as its body,
//!   answered as an SSE stream (`event: message`) of every server line up to and
//!   including the response with its `id`: progress and log notifications, and requests
//!   the server makes of the client (sampling, roots), are frames of it;
//! - each **notification**, or **response** to a server's request, the client writes is
//!   `POST /up/NAME` answered `202` with no body;
//! - server lines that come while no request waits (a `list_changed` notification, a
//!   log line) form the session's **open stream**, `GET /up/NAME`: recorded when the
//!   session ends, and replayed right after the session's first answer (usually
//!   `initialize`'s), as a Streamable HTTP client opens its `GET` stream then.
//!
//! A server line that is not a response goes to the oldest request still waiting, so
//! concurrent requests can be recorded with a notification in the other's exchange
//! (replay is unaffected: both answers come). JSON-RPC ids are the client's and stay as
//! they are. Two identical sessions in one test are each other's next occurrences.
//!
//! # Modes
//! In the modes that call upstream (`record`, `record-if-missing`, `live`, `verify`)
//! the real server runs: every client line goes to it and the client gets its lines as
//! they come; the engine records (or compares) each exchange. In `record-if-missing`
//! the server runs too (a session cannot be resumed halfway): exchanges that have a
//! recording keep it, the others are recorded. In `replay` no server is started: the
//! answers come from the recordings, and a request without one is answered with a
//! JSON-RPC error carrying its `id` and the miss's explanation (the test fails on it).
//! Blank lines are skipped both ways.
//!
//! # Front ends
//! - In a Rust test, with the `stdio` feature: `RecordingContext::stdio_server` (bytes
//!   in, bytes out, for any client), and with the `rmcp` feature (which turns `stdio`
//!   on) `RecordingContext::mcp_stdio`, a transport for rmcp, the Rust MCP SDK.
//! - For any other client: `cargo recordings mcp-stdio [--name NAME] -- COMMAND...`,
//!   launched in the server's place. It finds the test's recorder in its environment
//!   (`RECORDER_URL`, from [`RecordingContext::recorder_env`](crate::RecordingContext::recorder_env),
//!   or `cargo recordings serve`'s URL with `RECORDER_TEST_ID`), asks it for the
//!   mode, starts COMMAND only when the mode calls upstream, and hands each exchange
//!   to the recorder over HTTP (a request marked with the `x-recorder-stdio` header)
//!   with the server's lines when it ran it: the test's engine keeps the secrets, ids
//!   and problems.
//!
//! # Secrets
//! The credentials a server is given are secrets of the test, scrubbed from every
//! recording and message like a setup's key: the values of its environment variables
//! whose names say they hold one (`GITHUB_TOKEN`, `*_API_KEY`, `*_SECRET`,
//! `*_PASSWORD`, ...), URL passwords (`postgres://user:PASSWORD@...`) in its variables
//! and arguments, and the values of credential options among its arguments
//! (`--token VALUE`, `--api-key=VALUE`). For the Rust front ends, the variables set on
//! the command ([`std::process::Command::env`]); for `mcp-stdio`, its whole
//! environment too, which the server inherits. The server's stderr is its own
//! (inherited), never recorded.

// The engine's side: what the proxy serves for `cargo recordings mcp-stdio`, and what
// a session started here hands to the engine.
#[cfg(any(feature = "stdio", feature = "proxy"))]
mod exchange;
#[cfg(feature = "stdio")]
mod message;
#[cfg(any(feature = "stdio", feature = "proxy"))]
mod recorder;
// Starting servers and relaying their lines: feature `stdio`. The proxy's side (the
// exchanges `cargo recordings mcp-stdio` hands over) comes with `proxy`, on by
// default, so any test's recorder serves that command.
#[cfg(feature = "stdio")]
mod server;
#[cfg(feature = "stdio")]
mod session;

// What a test uses: the session `ctx.stdio_server` starts, and rmcp's transport over
// it. The rest is for `cargo recordings mcp-stdio` and the tests (`_support`).
#[cfg(feature = "stdio")]
pub use server::StdioServer;
#[cfg(feature = "rmcp")]
mod rmcp;
#[cfg(feature = "rmcp")]
pub use self::rmcp::McpStdio;

/// Implemented by no type: the bound of `ctx.stdio_server` in a build without the
/// `stdio` feature, so that a call says which feature to turn on.
#[cfg(not(feature = "stdio"))]
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "`ctx.stdio_server()` needs recorder-runtime's `stdio` feature",
    label = "a call of `stdio_server` in a build without the `stdio` feature",
    note = "turn it on in Cargo.toml: recorder-runtime = {{ ..., features = [\"stdio\"] }}"
)]
pub trait NeedsStdioFeature {}

/// Implemented by no type: the bound of `ctx.mcp_stdio` in a build without the `rmcp`
/// feature, so that a call says which feature to turn on.
#[cfg(not(feature = "rmcp"))]
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "`ctx.mcp_stdio()` needs recorder-runtime's `rmcp` feature",
    label = "a call of `mcp_stdio` in a build without the `rmcp` feature",
    note = "turn it on in Cargo.toml: recorder-runtime = {{ ..., features = [\"rmcp\"] }}"
)]
pub trait NeedsRmcpFeature {}

#[cfg(any(feature = "stdio", feature = "proxy"))]
support! {
    pub use exchange::Exchange;
}
#[cfg(any(feature = "stdio", feature = "proxy"))]
support! {
    pub use recorder::STDIO_HEADER;
}
#[cfg(feature = "stdio")]
support! {
    pub use server::{run_remote, Remote};
}

#[cfg(feature = "proxy")]
pub(crate) use recorder::serve;

support! {
    /// The variable `cargo recordings mcp-stdio` reads its recorder's URL from (see
    /// [`RecordingContext::recorder_env`](crate::RecordingContext::recorder_env)).
    pub const URL_VAR: &str = crate::env::MCP_STDIO_URL;
}
support! {
    /// The variable `cargo recordings mcp-stdio` reads its test id from, for a recorder
    /// that serves many tests (`cargo recordings serve`).
    pub const TEST_ID_VAR: &str = crate::env::MCP_STDIO_TEST_ID;
}

/// The prefix of a named upstream's endpoint, `/up/NAME`.
const UP: &str = "/up/";

support! {
    /// The endpoint of upstream `name`, `/up/NAME`; a name that cannot be one is an
    /// error saying what a name may hold.
    ///
    /// ```
    /// use recorder_runtime::stdio::endpoint;
    /// assert_eq!(endpoint("mcp").unwrap(), "/up/mcp");
    /// assert!(endpoint("a/b").is_err() && endpoint("").is_err());
    /// ```
    pub fn endpoint(name: &str) -> crate::Result<String> {
        let ok = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
        if !ok {
            return Err(crate::Error::Setup(
                crate::error::SetupProblem::BadServerName {
                    name: name.to_owned(),
                },
            ));
        }
        Ok(format!("{UP}{name}"))
    }
}

/// The upstream an endpoint names, when it is exactly `/up/NAME`.
#[cfg(feature = "proxy")]
pub(crate) fn upstream_name(endpoint: &str) -> Option<&str> {
    let name = endpoint.strip_prefix(UP)?;
    self::endpoint(name).ok().map(|_| name)
}

support! {
    /// Whether a variable's name says it holds a credential: `GITHUB_TOKEN`,
    /// `OPENAI_API_KEY`, `DB_PASSWORD`, but not `MAX_TOKENS` or `TOKENIZER_PATH` (the
    /// rule the runtime's `env::is_credential` applies to every variable).
    ///
    /// ```
    /// use recorder_runtime::stdio::is_credential;
    /// assert!(is_credential("GITHUB_TOKEN") && is_credential("brave-api-key"));
    /// assert!(!is_credential("MAX_TOKENS") && !is_credential("PATH"));
    /// ```
    pub fn is_credential(name: &str) -> bool {
        crate::env::is_credential(name)
    }
}

/// The credentials a server is given, as `(name, value)` secrets of the test:
/// - variables [`is_credential`] names, whose values are secrets
///   ([`crate::secrets::is_secret`]), and the password of a URL with `user:password@`
///   in any variable (`DATABASE_URL`);
/// - arguments: the value of an option a credential's name spells (`--token VALUE`,
///   `--api-key=VALUE`, `-k`'s are not guessed), and a URL's password.
///
/// An argument's secret is named after its option (`ARG_TOKEN`, `ARG_API_KEY`), or
/// `ARG_URL_PASSWORD`.
#[cfg(feature = "stdio")]
pub(crate) fn credentials<'a>(
    vars: impl IntoIterator<Item = (&'a std::ffi::OsStr, &'a std::ffi::OsStr)>,
    args: impl IntoIterator<Item = &'a std::ffi::OsStr>,
) -> Vec<(String, String)> {
    let mut found: Vec<(String, String)> = Vec::new();
    for (name, value) in vars {
        let (Some(name), Some(value)) = (name.to_str(), value.to_str()) else {
            continue;
        };
        if is_credential(name) && crate::secrets::is_secret(value) {
            found.push((name.to_owned(), value.to_owned()));
        } else if let Some(password) = crate::secrets::url_password(value) {
            if crate::secrets::is_secret(&password) {
                found.push((name.to_owned(), password));
            }
        }
    }
    let mut option: Option<String> = None;
    for arg in args.into_iter().filter_map(|a| a.to_str()) {
        if let Some(name) = option.take() {
            if crate::secrets::is_secret(arg) {
                found.push((name, arg.to_owned()));
                continue;
            }
        }
        if let Some(flag) = arg.strip_prefix("--") {
            let (flag, value) = match flag.split_once('=') {
                Some((flag, value)) => (flag, Some(value)),
                None => (flag, None),
            };
            if is_credential(flag) {
                let name = format!("ARG_{}", flag.replace('-', "_").to_ascii_uppercase());
                match value {
                    Some(value) if crate::secrets::is_secret(value) => {
                        found.push((name, value.to_owned()));
                    }
                    Some(_) => {}
                    None => option = Some(name),
                }
                continue;
            }
        }
        if let Some(password) = crate::secrets::url_password(arg) {
            if crate::secrets::is_secret(&password) {
                found.push(("ARG_URL_PASSWORD".to_owned(), password));
            }
        }
    }
    found
}

/// A command as people read it: the program and its arguments, with the
/// credentials among them (see [`credentials`]) replaced by their placeholders.
#[cfg(feature = "stdio")]
fn describe(cmd: &std::process::Command, secrets: &[(String, String)]) -> String {
    let text = std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|a| a.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ");
    crate::secrets::scrub_str(&text, secrets).into_owned()
}

#[cfg(all(test, feature = "stdio"))]
mod tests {
    use super::*;
    use std::ffi::OsStr;

    #[test]
    fn credentials_come_from_credential_variables_options_and_url_passwords() {
        let vars = [
            ("GITHUB_TOKEN", "ghp_0123456789abcdef"),
            ("MAX_TOKENS", "4096"),
            ("DATABASE_URL", "postgres://app:s3cret-pw@db/x"),
            ("API_KEY", "x"), // too short to be a secret
        ];
        let args = [
            "server.js",
            "--api-key=sk-0123456789abcdef",
            "--token",
            "tok-0123456789abcdef",
            "--port",
            "8080",
            "https://me:p4ss-word@host/v1",
        ];
        let found = credentials(
            vars.iter().map(|(k, v)| (OsStr::new(k), OsStr::new(v))),
            args.iter().map(OsStr::new),
        );
        let want: Vec<(String, String)> = [
            ("GITHUB_TOKEN", "ghp_0123456789abcdef"),
            ("DATABASE_URL", "s3cret-pw"),
            ("ARG_API_KEY", "sk-0123456789abcdef"),
            ("ARG_TOKEN", "tok-0123456789abcdef"),
            ("ARG_URL_PASSWORD", "p4ss-word"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(found, want);
    }

    #[test]
    fn a_description_of_the_command_hides_its_credentials() {
        let mut cmd = std::process::Command::new("server");
        cmd.args(["--token", "tok-0123456789abcdef"]);
        let secrets = credentials(std::iter::empty(), cmd.get_args());
        let shown = describe(&cmd, &secrets);
        assert!(!shown.contains("tok-0123456789abcdef"), "{shown}");
        assert!(shown.starts_with("server --token "), "{shown}");
    }
}
