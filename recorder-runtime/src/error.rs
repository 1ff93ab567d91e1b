//! The one error type of the runtime. Every variant says what went wrong and,
//! where there is one, what to do about it.

use std::path::PathBuf;

/// Errors from the recording engine, the store and the transports.
///
/// `{:?}` (what `unwrap()` and a test returning `Err` print) shows the variant,
/// then the message on its own lines, then its causes, so that a miss reads as
/// it does in the test's report:
///
/// ```
/// let e = recorder_runtime::Error::Miss("no recording for POST /v1/chat/completions\n  expected file: r/a.json".into());
/// assert_eq!(format!("{e:?}"), "Miss: no recording for POST /v1/chat/completions\n  expected file: r/a.json");
/// ```
///
/// New variants may come in any release: a `match` on it needs a `_` arm.
#[non_exhaustive]
pub enum Error {
    /// `RECORD_MODE` holds something other than the five modes.
    UnknownMode {
        /// The value found in the environment.
        value: String,
    },

    /// A recording file could not be read or parsed. It is never overwritten in replay.
    CorruptRecording {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },

    /// Recording files of another format or identity scheme than this recorder's, that
    /// it cannot serve as they are: older ones whose request no longer hashes to their
    /// name (`cargo recordings migrate`), newer ones (upgrade the recorder). Each file
    /// is named with what to do; never a silent miss.
    Format {
        /// What could not be done, e.g. "no recording for POST /v1/chat/completions".
        context: String,
        /// Each file, and what to do about it.
        files: Vec<(PathBuf, String)>,
    },

    /// Reading or writing a file failed.
    Io {
        /// What was being done, e.g. "cannot write".
        action: &'static str,
        /// The file or folder.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },

    /// No recording for a request in replay mode; the message explains the miss.
    Miss(String),

    /// The upstream could not be reached (record and live modes).
    Unreachable {
        /// The URL that was tried.
        url: String,
        /// Why it failed.
        reason: String,
    },

    /// The upstream failed mid-response (record and live modes).
    Upstream {
        /// The URL that was tried.
        url: String,
        /// Why it failed.
        reason: String,
    },

    /// `recorder.toml` is invalid.
    Config(recorder_config::ConfigError),

    /// The API answered with an error status (recorded or live).
    Api {
        /// HTTP status.
        status: u16,
        /// The endpoint that was called.
        endpoint: String,
        /// The response body, as text.
        body: String,
    },

    /// A response body did not have the expected shape.
    Decode {
        /// The endpoint that was called.
        endpoint: String,
        /// What did not parse.
        reason: String,
    },

    /// A body (the request's, or the upstream's answer) cannot be read as what it
    /// claims to be: compressed data that does not decode, a multipart body that
    /// does not parse, a stream that is not UTF-8.
    Body {
        /// What is wrong, e.g. "a gzip-encoded body cannot be decoded".
        what: String,
        /// The decoder's error, when there is one.
        source: Option<BoxError>,
    },

    /// A body is over its size limit.
    TooLarge {
        /// Which body, e.g. "the request body".
        what: &'static str,
        /// The limit, in bytes.
        limit: usize,
        /// The variable that sets the limit.
        var: &'static str,
    },

    /// A `multipart/form-data` request has more parts than the limit.
    TooManyParts {
        /// The most parts allowed.
        limit: usize,
        /// The variable that sets the limit.
        var: &'static str,
    },

    /// The upstream's answer cannot be recorded as it came: its `Content-Encoding`
    /// does not decode, or it decodes to more than the limit (record and live modes).
    BadAnswer {
        /// What is wrong with it, e.g. "decodes to more than 67108864 bytes".
        what: String,
        /// The decoder's error, when there is one.
        source: Option<BoxError>,
    },

    /// A recording that would be bigger than the largest file replay loads
    /// (`RECORDER_MAX_RECORDING_BYTES`): it is not written, so that replay never meets
    /// a file it refuses. An answer within `RECORDER_MAX_BODY_BYTES` can make one: a
    /// stream is stored one event per frame, pretty-printed.
    TooLargeToReplay {
        /// The file it would have been.
        path: PathBuf,
        /// Its size in bytes (for a stream refused while it came, an estimate).
        size: u64,
        /// `RECORDER_MAX_RECORDING_BYTES`.
        limit: u64,
        /// `RECORDER_MAX_BODY_BYTES` of the test, when known.
        answer_limit: Option<usize>,
    },

    /// A request needs a cargo feature of this crate that is off.
    FeatureOff {
        /// What was asked for.
        what: String,
        /// The feature.
        feature: &'static str,
    },

    /// The setup cannot serve a request or a test: no upstream, no API key, no
    /// `recorder.toml`, no such service. The message says what to set.
    Setup(SetupProblem),

    /// A request cannot be given to a test: its test id is unknown, missing or
    /// unusable.
    Routing(RoutingProblem),

    /// A token budget (`RECORDER_BUDGET_TOKENS`, `RECORDER_BUDGET_TOKENS_PER_TEST`) is
    /// spent: the request was not sent upstream. The message says what was spent, the
    /// cap, and how to raise it.
    Budget(String),

    /// Recordings of one test send back each other's ids in a cycle, so they cannot
    /// be renamed in order.
    IdCycle(Vec<String>),

    /// An operation the API runs in the background did not finish in time.
    NotReady(String),

    /// A request body could not be serialized.
    Serialize {
        /// The endpoint.
        endpoint: String,
        /// serde_json's error.
        source: serde_json::Error,
    },

    /// A background task of the recorder panicked or was cancelled (the runtime
    /// shutting down).
    Task(tokio::task::JoinError),

    /// An error met once and reported wherever it applies again (a recording
    /// file that does not load fails every request that needs it).
    Shared(std::sync::Arc<Error>),

    /// An error whose text held a secret of its test (see [`Error::redacted`]): the
    /// original's message and causes with every secret replaced by `<redacted:VAR>`,
    /// answered with the original's status and kind. The original is dropped, so no
    /// copy of the secret is left to print.
    Redacted {
        /// The original's variant, as its `{:?}` starts (`Unreachable`, ...).
        variant: &'static str,
        /// The original's [`Error::http_status`].
        status: http::StatusCode,
        /// The original's [`Error::kind`].
        kind: &'static str,
        /// The original's message and causes (`a: b: c`), scrubbed.
        message: String,
    },
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::UnknownMode { value } => write!(f, "RECORD_MODE={value:?} is not a recording mode: use one of replay (the default), record-if-missing, record, live, verify"),
            Self::CorruptRecording { path, reason } => {
                let path = path.display();
                write!(f, "recording {path} is unreadable: {reason}. Fix or delete the file, then re-record it with RECORD_MODE=record-if-missing")
            }
            Self::Format { context, files } => write!(f, "{context}:{}", files_with_advice(files)),
            Self::Io { action, path, source } => {
                let path = path.display();
                write!(f, "{action} {path}: {source}")
            }
            Self::Miss(inner) => std::fmt::Display::fmt(inner, f),
            Self::Unreachable { url, reason } => write!(f, "upstream {url} is unreachable: {reason}. Start the server or check the setup's base_url; nothing was recorded"),
            Self::Upstream { url, reason } => write!(f, "upstream {url} failed mid-response: {reason}; nothing was recorded"),
            Self::Config(e) => std::fmt::Display::fmt(e, f),
            Self::Api { status, endpoint, body } => write!(f, "the API answered {status} to {endpoint}: {body}"),
            Self::Decode { endpoint, reason } => write!(f, "unexpected response from {endpoint}: {reason}"),
            Self::Body { what, .. } => write!(f, "{what}; nothing was recorded"),
            Self::TooLarge { what, limit, var } => write!(f, "{what} is over {limit} bytes (raise {var} if that is expected); nothing was sent or recorded"),
            Self::TooManyParts { limit, var } => write!(f, "the request's multipart/form-data body has more than {limit} parts (raise {var} if that is expected); nothing was sent or recorded"),
            Self::BadAnswer { what, .. } => write!(f, "the upstream's answer {what}; nothing was recorded"),
            Self::TooLargeToReplay { path, size, limit, answer_limit } => {
                let path = path.display();
                write!(f, "the recording {path} would be {size} bytes, over the {limit} bytes replay loads (RECORDER_MAX_RECORDING_BYTES): nothing was recorded, so that replay never meets a file it refuses. The answer itself was within RECORDER_MAX_BODY_BYTES{answer}, which bounds answers, not their recordings: a stream is stored one event per frame, pretty-printed, often several times the bytes of the answer. Raise RECORDER_MAX_RECORDING_BYTES (for recording and replay alike), or ask for a shorter answer", answer = answer_limit.map(|l| format!(" ({l} bytes)")).unwrap_or_default())
            }
            Self::FeatureOff { what, feature } => write!(f, "{what} needs recorder-runtime's `{feature}` feature: enable it in Cargo.toml (`recorder-runtime = {{ version = \"…\", features = [\"{feature}\"] }}`); nothing was sent or recorded"),
            Self::Setup(inner) => std::fmt::Display::fmt(inner, f),
            Self::Routing(inner) => std::fmt::Display::fmt(inner, f),
            Self::Budget(inner) => std::fmt::Display::fmt(inner, f),
            Self::IdCycle(inner) => write!(f, "these recordings of one test each send back an id another of them issued, in a cycle: {}. Fix the ids by hand or re-record the test", inner.join(", ")),
            Self::NotReady(inner) => std::fmt::Display::fmt(inner, f),
            Self::Serialize { endpoint, source } => write!(f, "cannot serialize the request body for {endpoint}: {source}"),
            Self::Task(inner) => write!(f, "a background task of the recorder failed: {inner}"),
            Self::Shared(e) => std::fmt::Display::fmt(e, f),
            Self::Redacted { message, .. } => write!(f, "{message}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io { source, .. } => Some(source),
            Self::Config(e) => std::error::Error::source(e),
            Self::Body { source, .. } => source.as_deref().map(|e| e as _),
            Self::BadAnswer { source, .. } => source.as_deref().map(|e| e as _),
            Self::Serialize { source, .. } => Some(source),
            Self::Task(e) => Some(e),
            Self::Shared(e) => std::error::Error::source(&**e),
            _ => None,
        }
    }
}

impl From<recorder_config::ConfigError> for Error {
    fn from(e: recorder_config::ConfigError) -> Self {
        Self::Config(e)
    }
}

impl From<tokio::task::JoinError> for Error {
    fn from(e: tokio::task::JoinError) -> Self {
        Self::Task(e)
    }
}

impl std::fmt::Debug for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // An error shared between requests is the error it shares.
        if let Error::Shared(e) = self {
            return std::fmt::Debug::fmt(&**e, f);
        }
        // The Display text as is (real newlines; secrets were scrubbed when it was
        // made), then each cause the text does not already hold.
        let message = self.to_string();
        write!(f, "{}: {message}", self.variant())?;
        let mut cause = std::error::Error::source(self);
        while let Some(c) = cause {
            let text = c.to_string();
            if !message.contains(&text) {
                write!(f, "\n  caused by: {text}")?;
            }
            cause = c.source();
        }
        Ok(())
    }
}

/// A boxed error cause.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// `\n  <file>: <advice>` for each file of [`Error::Format`].
fn files_with_advice(files: &[(PathBuf, String)]) -> String {
    files
        .iter()
        .map(|(path, advice)| format!("\n  {}: {advice}", path.display()))
        .collect()
}

impl Error {
    /// An I/O error while doing `action` (e.g. "cannot write") on `path`.
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            action,
            path: path.into(),
            source,
        }
    }

    /// A body that cannot be read as what it claims to be, with its cause.
    pub fn body(what: impl Into<String>, source: impl Into<BoxError>) -> Self {
        Error::Body {
            what: what.into(),
            source: Some(source.into()),
        }
    }

    /// The HTTP status every transport answers this error with: a miss is 404, an
    /// unreachable or failing upstream, an answer that cannot be recorded or one too
    /// large to replay, 502; an unusable request 400 (413 when too large), a spent token
    /// budget 402, anything else 500.
    pub fn http_status(&self) -> http::StatusCode {
        use http::StatusCode as S;
        match self {
            Error::Miss(_) => S::NOT_FOUND,
            Error::Unreachable { .. }
            | Error::Upstream { .. }
            | Error::BadAnswer { .. }
            | Error::TooLargeToReplay { .. } => S::BAD_GATEWAY,
            Error::TooLarge { .. } | Error::TooManyParts { .. } => S::PAYLOAD_TOO_LARGE,
            // Not 429 or 5xx, which clients retry.
            Error::Budget(_) => S::PAYMENT_REQUIRED,
            Error::Body { .. } | Error::FeatureOff { .. } | Error::Routing(_) => S::BAD_REQUEST,
            Error::Shared(e) => e.http_status(),
            Error::Redacted { status, .. } => *status,
            _ => S::INTERNAL_SERVER_ERROR,
        }
    }

    /// The `error.type` (and `error.code`) of [`Error::json_body`].
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Miss(_) => "recording_not_found",
            Error::Unreachable { .. } | Error::Upstream { .. } => "upstream_unreachable",
            Error::BadAnswer { .. } => "upstream_bad_answer",
            Error::TooLarge { .. } | Error::TooManyParts { .. } => "recorder_request_too_large",
            Error::TooLargeToReplay { .. } => "recorder_recording_too_large",
            Error::Body { .. } | Error::FeatureOff { .. } => "recorder_request",
            Error::Routing(_) => "recorder_routing",
            Error::Budget(_) => "recorder_budget_exceeded",
            Error::Shared(e) => e.kind(),
            Error::Redacted { kind, .. } => kind,
            _ => "recorder_error",
        }
    }

    /// The body every transport answers this error with, in the OpenAI error
    /// shape that clients parse.
    ///
    /// ```
    /// let e = recorder_runtime::Error::Miss("no recording".into());
    /// assert_eq!(e.http_status(), 404);
    /// let body: serde_json::Value = serde_json::from_slice(&e.json_body()).unwrap();
    /// assert_eq!(body["error"]["type"], "recording_not_found");
    /// ```
    pub fn json_body(&self) -> Vec<u8> {
        error_body(self.kind(), &crate::error::chain(self))
    }

    /// The variant's name, as a derived `Debug` would start.
    fn variant(&self) -> &'static str {
        match self {
            Error::UnknownMode { .. } => "UnknownMode",
            Error::CorruptRecording { .. } => "CorruptRecording",
            Error::Format { .. } => "Format",
            Error::Io { .. } => "Io",
            Error::Miss(_) => "Miss",
            Error::Unreachable { .. } => "Unreachable",
            Error::Upstream { .. } => "Upstream",
            Error::Config(_) => "Config",
            Error::Api { .. } => "Api",
            Error::Decode { .. } => "Decode",
            Error::Body { .. } => "Body",
            Error::TooLarge { .. } => "TooLarge",
            Error::TooManyParts { .. } => "TooManyParts",
            Error::BadAnswer { .. } => "BadAnswer",
            Error::TooLargeToReplay { .. } => "TooLargeToReplay",
            Error::FeatureOff { .. } => "FeatureOff",
            Error::Setup(_) => "Setup",
            Error::Routing(_) => "Routing",
            Error::Budget(_) => "Budget",
            Error::IdCycle(_) => "IdCycle",
            Error::NotReady(_) => "NotReady",
            Error::Serialize { .. } => "Serialize",
            Error::Task(_) => "Task",
            Error::Shared(e) => e.variant(),
            Error::Redacted { variant, .. } => variant,
        }
    }

    /// This error with every text a client or a test can see (its message and its
    /// causes: what `Display`, `{:?}`, [`Error::json_body`] show) passed through
    /// `scrub`: unchanged when `scrub` changes nothing, else an [`Error::Redacted`]
    /// with the same status, kind and variant name. The engine hands every error of a
    /// test through it with the test's secrets, so that a reason quoting a key (an
    /// upstream's error, a URL) never reaches an answer body or a CI log.
    ///
    /// ```
    /// use recorder_runtime::Error;
    /// let e = Error::Unreachable { url: "http://h/v1/x".into(), reason: "refused sk-live-123456".into() };
    /// let e = e.redacted(|s| s.replace("sk-live-123456", "<redacted:KEY>").into());
    /// assert_eq!(e.http_status(), 502);
    /// assert!(e.to_string().contains("refused <redacted:KEY>"), "{e}");
    /// assert!(format!("{e:?}").starts_with("Unreachable: upstream http://h/v1/x"), "{e:?}");
    /// ```
    pub fn redacted(self, scrub: impl Fn(&str) -> std::borrow::Cow<'_, str>) -> Error {
        let text = chain(&self);
        let message = match scrub(&text) {
            std::borrow::Cow::Borrowed(_) => return self,
            std::borrow::Cow::Owned(scrubbed) if scrubbed == text => return self,
            std::borrow::Cow::Owned(scrubbed) => scrubbed,
        };
        Error::Redacted {
            variant: self.variant(),
            status: self.http_status(),
            kind: self.kind(),
            message,
        }
    }

    pub(crate) fn corrupt(path: impl Into<PathBuf>, reason: impl std::fmt::Display) -> Self {
        Error::CorruptRecording {
            path: path.into(),
            reason: reason.to_string(),
        }
    }
}

support! {
    /// An OpenAI-style error body, `{"error":{"message","type","code"}}`: what the
    /// proxy and the in-process transports answer with when the recorder, not the API,
    /// refuses or fails a request (`type` and `code` both hold `kind`).
    ///
    /// ```
    /// let body = recorder_runtime::error::error_body("recorder_forbidden", "no");
    /// assert_eq!(body, br#"{"error":{"message":"no","type":"recorder_forbidden","code":"recorder_forbidden"}}"#);
    /// ```
    pub fn error_body(kind: &str, message: &str) -> Vec<u8> {
        serde_json::to_vec(
            &serde_json::json!({ "error": { "message": message, "type": kind, "code": kind } }),
        )
        .expect("a JSON value serializes")
    }
}

support! {
    /// An error's message followed by its causes (`a: b: c`), skipping a cause whose
    /// text the message already holds.
    ///
    /// ```
    /// use recorder_runtime::{error::chain, Error};
    /// let io = std::io::Error::new(std::io::ErrorKind::PermissionDenied, "denied");
    /// assert_eq!(chain(&Error::io("cannot write", "/r/a.json", io)), "cannot write /r/a.json: denied");
    /// ```
    pub fn chain(e: &(dyn std::error::Error + 'static)) -> String {
        let mut out = e.to_string();
        let mut cause = e.source();
        while let Some(c) = cause {
            let text = c.to_string();
            if !out.contains(&text) {
                out.push_str(": ");
                out.push_str(&text);
            }
            cause = c.source();
        }
        out
    }
}

/// What is wrong with the setup ([`Error::Setup`]). Each problem's text says what to
/// set or do.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum SetupProblem {
    /// A request would go upstream, but the API key its setup or upstream names is
    /// not set.
    MissingApiKey {
        /// The setup (`None`: none was chosen).
        setup: Option<String>,
        /// The named upstream the request goes to (`None`: the model API).
        upstream: Option<String>,
        /// The variable that holds the key.
        var: String,
        /// Where the request would go.
        url: String,
    },
    /// The setup names no upstream of that name.
    UnknownUpstream(UnknownUpstream),
    /// A request for the model API, but the setup has no `base_url`.
    NoBaseUrl {
        /// The request's endpoint.
        endpoint: String,
        /// The setup (`None`: none was chosen).
        setup: Option<String>,
    },
    /// A token budget variable is not a whole number.
    NotTokens {
        /// The variable.
        var: String,
        /// What it holds.
        value: String,
    },
    /// The file that counts a run's tokens holds something else than a number.
    BadTokenCount {
        /// The file.
        path: PathBuf,
        /// What it holds.
        text: String,
    },
    /// `Service::start` found no `recorder.toml`.
    NoConfigForService {
        /// Where the search started.
        start: PathBuf,
    },
    /// A test's `Service` parameter found no `recorder.toml`.
    NoConfigForServiceParameter {
        /// Where the search started.
        start: PathBuf,
    },
    /// The service asked for by name is not in `recorder.toml`.
    UnknownService {
        /// The name asked for.
        name: String,
        /// The `recorder.toml`.
        config: PathBuf,
        /// The services it defines.
        known: Vec<String>,
    },
    /// A service was asked for, but `recorder.toml` defines none.
    NoServices {
        /// The `recorder.toml`.
        config: PathBuf,
    },
    /// A service was asked for without a name, and `recorder.toml` defines several.
    SeveralServices {
        /// The `recorder.toml`.
        config: PathBuf,
        /// The services it defines.
        known: Vec<String>,
        /// The variable that chooses one (`RECORDER_SERVICE`).
        var: &'static str,
    },
    /// A service cannot be started, reached or reused (a `service::ServiceError`,
    /// which this holds as its cause).
    Service(std::sync::Arc<dyn std::error::Error + Send + Sync>),
    /// A stdio server's name that cannot name an upstream (`ctx.stdio_server`,
    /// `cargo recordings mcp-stdio --name`).
    BadServerName {
        /// The name given.
        name: String,
    },
    /// A stdio server could not be started (in a mode that calls upstream).
    ServerNotStarted {
        /// The server, as `the stdio server `COMMAND`` (credentials hidden).
        server: String,
        /// Why, from the system.
        reason: String,
    },
    /// `cargo recordings mcp-stdio` cannot reach the recorder it was given.
    RecorderUnreachable {
        /// The recorder's URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// The recorder refused, or did not understand, `cargo recordings mcp-stdio`'s
    /// session.
    RecorderRefused {
        /// The recorder's URL.
        url: String,
        /// Its answer, or what was wrong with it.
        why: String,
    },
    /// A variable is set whose name is none of the recorder's but close to one
    /// (`RECORDER_TEXT_MODEL`, `record_mode`): what it was meant to change would
    /// silently not change. Its value is never shown (it may be a key).
    MisspelledVariable {
        /// The name as set.
        var: String,
        /// Where it is set: the environment, `RECORDER_ENV` or the setup's `env`.
        place: &'static str,
        /// The recorder's variable it resembles.
        like: &'static str,
    },
}

impl std::fmt::Display for SetupProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::MissingApiKey { setup, upstream, var, url } => write!(f, "{} needs the API key in ${var} to call {url}; set it (it is never written to disk) or replay with RECORD_MODE=replay", whose(setup, upstream)),
            Self::UnknownUpstream(inner) => std::fmt::Display::fmt(inner, f),
            Self::NoBaseUrl { endpoint, setup } => write!(f, "no upstream for {endpoint}: the setup {} has no base_url. Set one in recorder.toml or choose another setup with RECORDER_SETUP", or_none(setup)),
            Self::NotTokens { var, value } => write!(f, "{var}={value:?} is not a number of tokens: write a whole number such as 200000 (or 200_000), or unset it; nothing was sent upstream"),
            Self::BadTokenCount { path, text } => write!(f, "the run's token count in {} is not a number ({text:?}): delete the file to count this run from 0", path.display()),
            Self::NoConfigForService { start } => write!(f, "a Service was asked for, but no recorder.toml was found from {} upward; add one with a [services.<name>] section", start.display()),
            Self::NoConfigForServiceParameter { start } => write!(f, "a Service parameter needs a recorder.toml with a [services.<name>] section; none was found from {} upward", start.display()),
            Self::UnknownService { name, config, known } => write!(f, "no service `{name}` in {}: it defines {}", config.display(), ticked_or_none(known)),
            Self::NoServices { config } => write!(f, "a Service was asked for, but {} has no [services.<name>] section; add one (command, port, health, env)", config.display()),
            Self::SeveralServices { config, known, var } => write!(f, "{} defines several services ({}); choose one with {var}=<name>, name a service after the test's suite, or call Service::start with its name", config.display(), ticked_or_none(known)),
            Self::Service(e) => std::fmt::Display::fmt(e, f),
            Self::BadServerName { name } => write!(f, "`{name}` cannot name an upstream: use letters, digits, `-`, `_` and `.` (e.g. mcp, github)"),
            Self::ServerNotStarted { server, reason } => write!(f, "cannot start {server}: {reason}. The server runs in the modes that call upstream (record, record-if-missing, live, verify); replay never starts it"),
            Self::RecorderUnreachable { url, reason } => write!(f, "cannot reach the recorder at {url}: {reason}. Is the test (or `cargo recordings serve`) that gave this URL still running?"),
            Self::MisspelledVariable { var, place, like } => write!(f, "{var} is set in {place}, but the recorder has no variable of that name: did you mean {like}? Rename it, or unset it if it is meant for something else; `cargo recordings options` lists the recorder's variables"),
            Self::RecorderRefused { url, why } => write!(f, "the recorder at {url} refused the session: {why}"),
        }
    }
}

impl std::error::Error for SetupProblem {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Service(e) => std::error::Error::source(&**e),
            _ => None,
        }
    }
}

/// What keeps a request from reaching a test ([`Error::Routing`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RoutingProblem {
    /// A request to an `/up/NAME/...` endpoint whose setup names no upstream `NAME`.
    UnknownUpstream(UnknownUpstream),
    /// A request names a test that is not running in this process.
    NotRunning {
        /// The test id the request named.
        test_id: String,
        /// The tests running in this process.
        running: Vec<String>,
    },
    /// A request without a test id reached the root of a recorder that serves tests
    /// only by their id.
    MissingTestId,
    /// A test id that cannot have recordings.
    UnusableTestId {
        /// The test id.
        test_id: String,
        /// Why, e.g. "it holds a NUL character".
        why: &'static str,
    },
    /// A request of `cargo recordings mcp-stdio` (header `x-recorder-stdio`) the
    /// recorder cannot take: not to `/up/NAME`, or not what the command sends.
    BadStdioRequest {
        /// What is wrong, and what to do.
        why: String,
    },
}

impl std::fmt::Display for RoutingProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::UnknownUpstream(inner) => std::fmt::Display::fmt(inner, f),
            Self::NotRunning { test_id, running } => write!(f, "a request for test `{test_id}` (from its X-Recorder-Test-Id header) reached the recorder of this test process, but that test is not running here (running: {}). A service calling after its test ended, or a header copied from another test, cannot be recorded", listed_or_none(running)),
            Self::MissingTestId => write!(f, "a request without an {} header reached the recorder's root URL. The service's outbound client must add it: .with(recorder_runtime::propagate::PropagateMiddleware) for reqwest-middleware, .headers(recorder_runtime::propagate::headers()) for plain reqwest, and propagate::spawn for work moved to other tasks", recorder_propagate::TEST_ID_HEADER),
            Self::UnusableTestId { test_id, why } => write!(f, "test id `{}` cannot have recordings: {why}. Use a test's path, such as `my_crate::module::test_name`", test_id.escape_debug()),
            Self::BadStdioRequest { why } => write!(f, "a stdio session's request (x-recorder-stdio) {why}"),
        }
    }
}

impl std::error::Error for RoutingProblem {}

/// A setup names no upstream of the name a request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownUpstream {
    /// The name asked for.
    pub name: String,
    /// The setup (`None`: none was chosen).
    pub setup: Option<String>,
    /// The upstreams the setup names.
    pub known: Vec<String>,
}

impl std::fmt::Display for UnknownUpstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Self { known, name, setup } = self;
        write!(f, "no upstream `{name}` in setup `{}`: {}. Add it to the setup's upstreams in recorder.toml (upstreams = {{ {name} = \"http://...\" }}), or for `cargo recordings serve` pass --upstream {name}=URL", or_none(setup), names(known))
    }
}

impl std::error::Error for UnknownUpstream {}

fn or_none(setup: &Option<String>) -> &str {
    setup.as_deref().unwrap_or("(none)")
}

fn whose(setup: &Option<String>, upstream: &Option<String>) -> String {
    match upstream {
        Some(name) => format!("the upstream `{name}` of setup {}", or_none(setup)),
        None => format!("the setup {}", or_none(setup)),
    }
}

/// `` `a`, `b` ``, or `none`.
fn ticked_or_none(names: &[String]) -> String {
    if names.is_empty() {
        return "none".to_owned();
    }
    let ticked: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
    ticked.join(", ")
}

fn listed_or_none(names: &[String]) -> String {
    if names.is_empty() {
        "none".to_owned()
    } else {
        names.join(", ")
    }
}

fn names(known: &[String]) -> String {
    if known.is_empty() {
        "it names none".to_owned()
    } else {
        format!("it names {}", ticked_or_none(known))
    }
}

/// Result with the runtime's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_shows_the_message_on_real_lines_with_its_variant() {
        let miss = Error::Miss("no recording for GET /v1/models\n  expected file: r/x.json\n  to record it: RECORD_MODE=record-if-missing cargo test t".into());
        let debug = format!("{miss:?}");
        assert_eq!(debug, format!("Miss: {miss}"));
        assert!(debug.contains("\n  expected file: r/x.json\n"), "{debug}");
        assert!(!debug.contains("\\n"), "{debug}");
        // What `unwrap()` prints holds the report's text verbatim, so the harness
        // can tell the panic already shows it.
        assert_eq!(
            format!("{:?}", Error::Shared(std::sync::Arc::new(miss))),
            debug
        );
        let setup = Error::Setup(SetupProblem::NotTokens {
            var: "X".into(),
            value: "y".into(),
        });
        assert_eq!(format!("{setup:#?}"), format!("Setup: {setup}"));
        assert!(setup.to_string().starts_with("X=\"y\" is not a number"));
    }

    #[test]
    fn typed_problems_read_as_sentences_that_say_what_to_do() {
        let unknown = |known: &[&str]| UnknownUpstream {
            name: "search".into(),
            setup: Some("ci".into()),
            known: known.iter().map(|k| k.to_string()).collect(),
        };
        assert_eq!(
            unknown(&["mcp", "rerank"]).to_string(),
            "no upstream `search` in setup `ci`: it names `mcp`, `rerank`. Add it to the setup's \
             upstreams in recorder.toml (upstreams = { search = \"http://...\" }), or for \
             `cargo recordings serve` pass --upstream search=URL"
        );
        assert!(
            Error::Routing(RoutingProblem::UnknownUpstream(unknown(&[])))
                .to_string()
                .contains(": it names none. Add it")
        );
        let key = Error::Setup(SetupProblem::MissingApiKey {
            setup: None,
            upstream: Some("search".into()),
            var: "SEARCH_KEY".into(),
            url: "http://s/x".into(),
        });
        assert_eq!(
            key.to_string(),
            "the upstream `search` of setup (none) needs the API key in $SEARCH_KEY to call \
             http://s/x; set it (it is never written to disk) or replay with RECORD_MODE=replay"
        );
        let gone = RoutingProblem::NotRunning {
            test_id: "m::t".into(),
            running: vec![],
        };
        assert!(gone
            .to_string()
            .contains("not running here (running: none). A service"));
        let several = SetupProblem::SeveralServices {
            config: "/w/recorder.toml".into(),
            known: vec!["a".into(), "b".into()],
            var: "RECORDER_SERVICE",
        };
        assert!(several
            .to_string()
            .starts_with("/w/recorder.toml defines several services (`a`, `b`); choose one with RECORDER_SERVICE=<name>"));
    }

    #[test]
    fn debug_shows_causes_the_message_does_not_hold() {
        let io = std::io::Error::new(std::io::ErrorKind::PermissionDenied, "denied");
        assert_eq!(
            format!("{:?}", Error::io("cannot write", "/r/a.json", io)),
            "Io: cannot write /r/a.json: denied"
        );
        let inner = std::io::Error::new(std::io::ErrorKind::InvalidData, "bad gzip header");
        let body = Error::body("a gzip-encoded body cannot be decoded", inner);
        assert_eq!(
            format!("{body:?}"),
            "Body: a gzip-encoded body cannot be decoded; nothing was recorded\n  caused by: bad gzip header"
        );
    }
}
