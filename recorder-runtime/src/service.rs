//! The service under test as a fixture (server mode).
//!
//! A `[services.<name>]` section of `recorder.toml` says how to start the service
//! and where it listens:
//!
//! ```toml
//! [services.chat]
//! command = ["{bin:chat-service}"]          # or ["python", "app.py"], ...
//! port = 3917
//! health = "/health"
//! env = { OPENAI_BASE_URL = "{recorder_url}/v1", PORT = "{port}" }
//! ```
//!
//! The first test that asks for it (a `service: Service` parameter, or
//! [`Service::start`]) decides, once per test process:
//! - nothing listens on the port: the service is started with `command`, in its own
//!   process group, with `env` (placeholders below) added to the test process's
//!   environment, and the tests wait for `health` to answer 2xx. It is stopped
//!   when the test process ends, however it ends (panics, `panic = "abort"`,
//!   Ctrl-C, SIGKILL): a small watchdog (`/bin/sh`) holds a pipe from the test
//!   process and stops the service's process group when that pipe closes.
//! - something already answers there (started by hand, by a script, by CI): it is
//!   reused as is and left running. It calls whatever its own environment points
//!   at; for its calls to be recorded that must be a recorder, e.g.
//!   `cargo run -p recorder-cli -- serve`.
//! - the port is held by a service that another, still running, test process
//!   started (nextest runs each test in its own process): that service talks to the
//!   other process's recorder, so this process waits for it to stop, then starts
//!   its own (up to `startup_timeout_secs`).
//!
//! Placeholders in `command` and `env`: `{recorder_url}` (the root of this test
//! process's loopback proxy, which routes each request by its `X-Recorder-Test-Id`
//! header to the test's own scope: same mode, folder and setup as the test),
//! `{port}`, `{root}` (the folder of `recorder.toml`) and `{bin:NAME}` (the path of
//! binary `NAME` of the package under test, which cargo builds for its integration
//! tests). `cwd` is relative to `{root}`.
//!
//! Each test gets a [`Service`] whose requests carry its test id; the service reads
//! it with [`TestIdLayer`](crate::propagate::TestIdLayer) and its outbound client
//! passes it on with `PropagateMiddleware` (`propagate`, feature `reqwest-middleware`).
//!
//! Starting services needs a Unix (Linux, macOS); elsewhere start the service
//! yourself and the tests reuse it.

use crate::config::config_for;
use crate::context::RecordingContext;
use crate::error::{Error, Result};
use crate::propagate::recorder_url;
use crate::proxy::TEST_ID_HEADER;
use crate::registry::Recorder;
use recorder_config::{Config, ServiceConfig};
use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// `RECORDER_SERVICE=<name>`: which `[services.<name>]` a `Service` parameter gets
/// when `recorder.toml` defines several.
pub const SERVICE_ENV: &str = crate::env::SERVICE;

/// A service under test, as one test sees it: its base URL and an HTTP client
/// whose requests carry the test's `X-Recorder-Test-Id`.
///
/// ```no_run
/// # async fn demo(service: recorder_runtime::Service) -> Result<(), Box<dyn std::error::Error>> {
/// let answer: serde_json::Value = service
///     .post_json("/chat", &serde_json::json!({ "question": "Capital of France?" }))
///     .await?
///     .error_for_status()?
///     .json()
///     .await?;
/// let health = service.get("/health").send().await?;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Service {
    name: String,
    base_url: String,
    test_id: String,
    started: bool,
    http: reqwest::Client,
}

impl Service {
    /// A service already listening at `base_url` (e.g. one the test started in
    /// process), called on behalf of `test_id`.
    pub fn at(base_url: impl Into<String>, test_id: impl Into<String>) -> Service {
        let test_id = test_id.into();
        crate::engine::install_crypto_provider();
        let mut headers = http::HeaderMap::new();
        if let Ok(value) = http::HeaderValue::from_str(&test_id) {
            headers.insert(TEST_ID_HEADER, value);
        }
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .build()
            .expect("an HTTP client for the service under test");
        Service {
            name: String::new(),
            base_url: base_url.into().trim_end_matches('/').to_owned(),
            test_id,
            started: false,
            http,
        }
    }

    /// The service configured as `[services.<name>]` in the `recorder.toml` found from
    /// `start_dir` upward, for the test of `ctx`: started (once per process) or reused.
    /// `name: None` picks `RECORDER_SERVICE`, else the only service of the file.
    pub fn start(ctx: &RecordingContext, start_dir: &Path, name: Option<&str>) -> Result<Service> {
        let config = config_for(start_dir)?.ok_or_else(|| {
            Error::Setup(format!("a Service was asked for, but no recorder.toml was found from {} upward; add one with a [services.<name>] section", start_dir.display()))
        })?;
        Service::for_test(ctx, &config, name, None)
    }

    /// The service a test gets from `config` (see [`pick`]: `name`, else
    /// `RECORDER_SERVICE`, else the one named like `suite`, else the only one), with
    /// its port and url after the variables (`RECORDER_SERVICE_<NAME>_URL`,
    /// `RECORDER_SERVICE_<NAME>_PORT`, `RECORDER_SERVICE_URL`,
    /// `RECORDER_SERVICE_PORT`; see [`recorder_config::ServiceEndpoint`]), read under
    /// the test's setup: started, reused, or reached at its url.
    pub fn for_test(
        ctx: &RecordingContext,
        config: &Config,
        name: Option<&str>,
        suite: Option<&str>,
    ) -> Result<Service> {
        let vars = ctx.scope().vars();
        let wanted = name.map(str::to_owned).or_else(|| vars.service());
        let picked = pick(config, wanted.as_deref(), suite)?;
        let service = config.service_with_overrides(
            &picked.name,
            vars.layers(),
            &recorder_config::ProcessEnv,
        )?;
        Service::from_config(ctx, &service, config.root())
    }

    /// The service of `config` (paths relative to `root`) for the test of `ctx`, with
    /// the port and url `config` gives (no variable is consulted for them: see
    /// [`Service::for_test`]). A service started here gets the test's setup `env` and
    /// `RECORDER_ENV` entries in its environment (the test process's real variables
    /// win), then its own `env`.
    pub fn from_config(
        ctx: &RecordingContext,
        config: &ServiceConfig,
        root: &Path,
    ) -> Result<Service> {
        // Requests reaching the proxy with this test's id go to this test's scope.
        Recorder::global().register(ctx.scope());
        let running = ensure_with(config, root, ctx.scope().vars()).map_err(Error::Setup)?;
        let mut service = Service::at(&running.base_url, ctx.test_id());
        service.name = config.name.clone();
        service.started = running.started;
        Ok(service)
    }

    /// The service's name in `recorder.toml` (empty for [`Service::at`]).
    pub fn name(&self) -> &str {
        &self.name
    }
    /// Its base URL, e.g. `http://127.0.0.1:3917`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }
    /// The URL of `path` (`/chat`, or `chat`).
    pub fn url(&self, path: &str) -> String {
        format!("{}/{}", self.base_url, path.trim_start_matches('/'))
    }
    /// The test id its requests carry.
    pub fn test_id(&self) -> &str {
        &self.test_id
    }
    /// Whether this test process started it (`false`: it was already running and
    /// is left running).
    pub fn started_here(&self) -> bool {
        self.started
    }
    /// The HTTP client: every request it sends carries the test id header.
    pub fn client(&self) -> &reqwest::Client {
        &self.http
    }
    /// A request to `path`, with the test id header.
    pub fn request(&self, method: http::Method, path: &str) -> reqwest::RequestBuilder {
        self.http.request(method, self.url(path))
    }
    /// `GET path`, with the test id header.
    pub fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.http.get(self.url(path))
    }
    /// `POST path`, with the test id header.
    pub fn post(&self, path: &str) -> reqwest::RequestBuilder {
        self.http.post(self.url(path))
    }
    /// `POST path` with a JSON body, sent.
    pub async fn post_json<B: serde::Serialize + ?Sized>(
        &self,
        path: &str,
        body: &B,
    ) -> reqwest::Result<reqwest::Response> {
        self.post(path).json(body).send().await
    }
}

/// The service a test gets: `name` if given; else the one named like the test's
/// suite; else the only one.
pub fn pick<'a>(
    config: &'a Config,
    name: Option<&str>,
    suite: Option<&str>,
) -> Result<&'a ServiceConfig> {
    let known = || {
        config
            .services
            .keys()
            .map(|k| format!("`{k}`"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if let Some(name) = name {
        return config.services.get(name).ok_or_else(|| {
            Error::Setup(format!(
                "no service `{name}` in {}: it defines {}",
                config.path.display(),
                if config.services.is_empty() {
                    "none".to_owned()
                } else {
                    known()
                }
            ))
        });
    }
    if let Some(service) = suite.and_then(|s| config.services.get(s)) {
        return Ok(service);
    }
    let mut all = config.services.values();
    match (all.next(), all.next()) {
        (Some(only), None) => Ok(only),
        (None, _) => Err(Error::Setup(format!("a Service was asked for, but {} has no [services.<name>] section; add one (command, port, health, env)", config.path.display()))),
        (Some(_), Some(_)) => Err(Error::Setup(format!(
            "{} defines several services ({}); choose one with {SERVICE_ENV}=<name>, name a service after the test's suite, or call Service::start with its name",
            config.path.display(),
            known()
        ))),
    }
}

// ---------------------------------------------------------------------------
// Starting, reusing and stopping services: once per process per service.

/// A service this process uses.
#[derive(Debug)]
pub struct Running {
    /// `http://127.0.0.1:<port>`.
    pub base_url: String,
    /// Started by this process (and stopped when it ends).
    pub started: bool,
    /// Where its output goes, when started here.
    pub log: Option<PathBuf>,
}

/// Starts the service of `config` unless it already answers on its port (then
/// reuses it); once per process: later calls return the same answer, errors too.
/// With a `url`, nothing is started: it waits for the instance there to answer its
/// health check. A service started here gets the defaults of the process's setup
/// (see [`ensure_with`]).
pub fn ensure(config: &ServiceConfig, root: &Path) -> std::result::Result<Arc<Running>, String> {
    ensure_with(config, root, crate::env::Vars::process())
}

/// [`ensure`], a started service getting `vars`' defaults (`RECORDER_ENV` and the
/// setup's `env`, where the test process's own variables do not set them) added to
/// the environment it inherits, then its own `env`. The first call for a service
/// decides, once per process: a later test under another setup reuses it as is.
pub fn ensure_with(
    config: &ServiceConfig,
    root: &Path,
    vars: &crate::env::Vars,
) -> std::result::Result<Arc<Running>, String> {
    type Cell = Arc<OnceLock<std::result::Result<Arc<Running>, String>>>;
    type Key = (String, u16, Option<String>);
    static RUNNING: LazyLock<Mutex<HashMap<Key, Cell>>> = LazyLock::new(Default::default);
    let cell = RUNNING
        .lock()
        .unwrap()
        .entry((config.name.clone(), config.port, config.url.clone()))
        .or_default()
        .clone();
    cell.get_or_init(|| match &config.url {
        Some(url) => reach(config, url).map(Arc::new),
        None => acquire(config, root, &vars.defaults_for_child()).map(Arc::new),
    })
    .clone()
}

/// A service already running at `url`: waits for its health check; starts nothing.
fn reach(config: &ServiceConfig, url: &str) -> std::result::Result<Running, String> {
    let name = &config.name;
    let base_url = url.trim_end_matches('/').to_owned();
    let at = HealthAt::from_url(&base_url, &config.health)?;
    let deadline = Instant::now() + Duration::from_secs(config.startup_timeout_secs.max(1));
    wait_healthy(config, &at, deadline, None).map_err(|e| {
        format!("service `{name}` is used at {base_url} (its url: nothing is started, so its `env` is not applied) but it {e}; start it there, or unset the url to let the tests start `command`")
    })?;
    eprintln!("recorder: using the service `{name}` running at {base_url} (not started here)");
    Ok(Running {
        base_url,
        started: false,
        log: None,
    })
}

/// Where a health check goes: host, port and the request path.
#[derive(Debug, Clone, PartialEq, Eq)]
struct HealthAt {
    host: String,
    port: u16,
    path: String,
}

impl HealthAt {
    fn loopback(port: u16, health: &str) -> HealthAt {
        HealthAt {
            host: "127.0.0.1".into(),
            port,
            path: health.to_owned(),
        }
    }

    /// `http://host[:port][/prefix]` + `health`.
    fn from_url(url: &str, health: &str) -> std::result::Result<HealthAt, String> {
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| format!("`{url}` is not an http:// URL"))?;
        let (authority, prefix) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
            None => (rest, ""),
        };
        let (host, port) = match authority.rsplit_once(':') {
            Some((host, port)) if !port.contains(']') => (
                host,
                port.parse::<u16>()
                    .map_err(|_| format!("`{url}` has no valid port"))?,
            ),
            _ => (authority, 80),
        };
        Ok(HealthAt {
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned(),
            port,
            path: format!("{prefix}{health}"),
        })
    }

    fn describe(&self) -> String {
        if self.host.contains(':') {
            format!("http://[{}]:{}{}", self.host, self.port, self.path)
        } else {
            format!("http://{}:{}{}", self.host, self.port, self.path)
        }
    }
}

/// `$TMPDIR/recorder-services-<user>`: port locks, owners and service logs.
fn state_dir() -> PathBuf {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_default();
    let user: String = user
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    std::env::temp_dir().join(if user.is_empty() {
        "recorder-services".to_owned()
    } else {
        format!("recorder-services-{user}")
    })
}

/// Who started the service on a port: `<test pid> <watchdog pid>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Owner {
    test_pid: u32,
    watchdog_pid: u32,
}

fn read_owner(path: &Path) -> Option<Owner> {
    let text = std::fs::read_to_string(path).ok()?;
    let mut parts = text.split_whitespace().map(str::parse::<u32>);
    Some(Owner {
        test_pid: parts.next()?.ok()?,
        watchdog_pid: parts.next()?.ok()?,
    })
}

fn acquire(
    config: &ServiceConfig,
    root: &Path,
    defaults: &std::collections::BTreeMap<String, String>,
) -> std::result::Result<Running, String> {
    let port = config.port;
    let at = HealthAt::loopback(port, &config.health);
    let base_url = format!("http://127.0.0.1:{port}");
    let name = &config.name;
    let dir = state_dir();
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    // One process at a time decides about a port.
    let lock_path = dir.join(format!("{port}.lock"));
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| format!("cannot open {}: {e}", lock_path.display()))?;
    lock.lock()
        .map_err(|e| format!("cannot lock {}: {e}", lock_path.display()))?;
    let owner_path = dir.join(format!("{port}.owner"));
    let timeout = Duration::from_secs(config.startup_timeout_secs.max(1));
    let deadline = Instant::now() + timeout;
    let me = std::process::id();
    loop {
        let busy = port_open(port);
        // Something listens: is it a service another test process started?
        let wait = match read_owner(&owner_path).filter(|_| busy) {
            Some(o) if o.test_pid != me && alive(o.test_pid) => Some(format!(
                "port {port} is held by the service that test process {} started; its model calls go to that process's recorder, so this process waited {}s for it to stop. \
                 Run the tests of one process at a time, or start the service yourself (pointing at `recordings serve`) so that every process reuses it",
                o.test_pid,
                timeout.as_secs()
            )),
            // Its test process has ended and the watchdog is stopping it.
            Some(o) if o.test_pid != me && alive(o.watchdog_pid) => Some(format!("port {port} is still held by a service being stopped (watchdog pid {})", o.watchdog_pid)),
            _ => None,
        };
        if let Some(why) = wait {
            if Instant::now() > deadline {
                return Err(format!("service `{name}`: {why}"));
            }
            std::thread::sleep(Duration::from_millis(100));
            continue;
        }
        let _ = std::fs::remove_file(&owner_path);
        if busy {
            wait_healthy(config, &at, deadline, None).map_err(|e| format!("service `{name}` is already listening on {base_url} (reused, not started) but {e}"))?;
            eprintln!("recorder: reusing the service `{name}` already running on {base_url}; it is left running");
            return Ok(Running {
                base_url,
                started: false,
                log: None,
            });
        }
        return start(config, root, defaults, &owner_path, deadline).map(|log| Running {
            base_url,
            started: true,
            log: Some(log),
        });
    }
}

fn expand(
    template: &str,
    config: &ServiceConfig,
    root: &Path,
    recorder: &str,
) -> std::result::Result<String, String> {
    let mut out = String::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else {
            out.push_str(&rest[open..]);
            rest = "";
            break;
        };
        let key = &after[..close];
        match key {
            "recorder_url" => out.push_str(recorder),
            "port" => out.push_str(&config.port.to_string()),
            "root" => out.push_str(&root.display().to_string()),
            _ if key.starts_with("bin:") => out.push_str(&binary(&key[4..])?.display().to_string()),
            _ => {
                out.push('{');
                out.push_str(key);
                out.push('}');
            }
        }
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The path of binary `name` of the package under test: `NEXTEST_BIN_EXE_<name>` or
/// `CARGO_BIN_EXE_<name>` when set at run time (nextest sets them), else next to the
/// test executable's `deps/` folder, where cargo puts a package's binaries.
pub fn binary(name: &str) -> std::result::Result<PathBuf, String> {
    for var in [
        format!("NEXTEST_BIN_EXE_{name}"),
        format!("CARGO_BIN_EXE_{name}"),
    ] {
        if let Some(path) = std::env::var_os(var).filter(|p| Path::new(p).is_file()) {
            return Ok(PathBuf::from(path));
        }
    }
    let exe =
        std::env::current_exe().map_err(|e| format!("cannot find the test executable: {e}"))?;
    let mut dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
    if dir.ends_with("deps") {
        dir.pop();
    }
    let path = dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    if path.is_file() {
        Ok(path)
    } else {
        Err(format!(
            "`{{bin:{name}}}`: no binary {} (cargo builds a package's binaries for its integration tests: put the tests in the package that has `{name}`, or `cargo build --bin {name}` first)",
            path.display()
        ))
    }
}

#[cfg(unix)]
fn start(
    config: &ServiceConfig,
    root: &Path,
    defaults: &std::collections::BTreeMap<String, String>,
    owner_path: &Path,
    deadline: Instant,
) -> std::result::Result<PathBuf, String> {
    use std::os::unix::process::CommandExt;
    use std::process::{Command, Stdio};
    let name = &config.name;
    let recorder = recorder_url();
    let argv = config
        .command
        .iter()
        .map(|a| expand(a, config, root, &recorder))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let cwd = match &config.cwd {
        Some(cwd) => root.join(expand(cwd, config, root, &recorder)?),
        None => root.to_path_buf(),
    };
    let log_path = state_dir().join(format!("{name}-{}.log", config.port));
    let log = std::fs::File::create(&log_path)
        .map_err(|e| format!("cannot create {}: {e}", log_path.display()))?;
    let log2 = log.try_clone().map_err(|e| e.to_string())?;
    let mut cmd = Command::new(&argv[0]);
    cmd.args(&argv[1..])
        .current_dir(&cwd)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log2)
        .process_group(0);
    // The setup's `env` and RECORDER_ENV, where this process's own variables do not
    // set them (they are inherited), then the service's own `env` over all of them.
    cmd.envs(defaults);
    for (key, value) in &config.env {
        cmd.env(key, expand(value, config, root, &recorder)?);
    }
    let mut child = cmd.spawn().map_err(|e| {
        format!(
            "cannot start service `{name}` with {argv:?} in {}: {e}",
            cwd.display()
        )
    })?;
    let pgid = child.id();
    // The watchdog: stops the service's process group when our end of its stdin
    // closes, which the OS does when this process ends, however it ends.
    let watchdog = Command::new("/bin/sh")
        .arg("-c")
        .arg(WATCHDOG)
        .arg("recorder-watchdog")
        .arg(pgid.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn();
    let mut watchdog = match watchdog {
        Ok(w) => w,
        Err(e) => {
            let _ = child.kill();
            return Err(format!(
                "cannot start the watchdog (/bin/sh) of service `{name}`: {e}"
            ));
        }
    };
    let pipe = watchdog
        .stdin
        .take()
        .expect("the watchdog's stdin is piped");
    let _ = std::fs::write(
        owner_path,
        format!("{} {}\n", std::process::id(), watchdog.id()),
    );
    eprintln!("recorder: started service `{name}` ({argv:?}, pid {pgid}) on port {}, model calls to {recorder}; output in {}", config.port, log_path.display());
    let at = HealthAt::loopback(config.port, &config.health);
    match wait_healthy(config, &at, deadline, Some(&mut child)) {
        Ok(()) => {
            WATCHDOG_PIPES.lock().unwrap().push(pipe);
            // Reaped by whoever outlives it; the watchdog is never waited for.
            std::mem::forget(watchdog);
            std::mem::forget(child);
            Ok(log_path)
        }
        Err(e) => {
            drop(pipe); // the watchdog stops what was started
            let _ = watchdog.wait();
            let _ = child.wait();
            Err(format!(
                "service `{name}` started with {argv:?} {e}\n--- last lines of {} ---\n{}",
                log_path.display(),
                tail(&log_path, 30)
            ))
        }
    }
}

#[cfg(not(unix))]
fn start(
    config: &ServiceConfig,
    _root: &Path,
    _defaults: &std::collections::BTreeMap<String, String>,
    _owner_path: &Path,
    _deadline: Instant,
) -> std::result::Result<PathBuf, String> {
    Err(format!(
        "nothing answers on port {} and starting service `{}` needs a Unix; start it yourself (its model base URL pointing at `recordings serve`) and the tests reuse it",
        config.port, config.name
    ))
}

/// Write ends of the watchdogs' pipes, never closed while the process lives.
static WATCHDOG_PIPES: Mutex<Vec<std::process::ChildStdin>> = Mutex::new(Vec::new());

/// `$1`: the service's process group. (Zombies count for `kill -0`, hence the cap.)
const WATCHDOG: &str = r#"trap '' INT HUP
read -r _ignored
kill -TERM -"$1" 2>/dev/null
i=0
while kill -0 -"$1" 2>/dev/null; do
  i=$((i+1))
  if [ "$i" -ge 50 ]; then kill -KILL -"$1" 2>/dev/null; break; fi
  sleep 0.1
done
"#;

fn wait_healthy(
    config: &ServiceConfig,
    at: &HealthAt,
    deadline: Instant,
    mut child: Option<&mut std::process::Child>,
) -> std::result::Result<(), String> {
    loop {
        if let Some(child) = child.as_deref_mut() {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!(
                    "exited ({status}) before {} answered",
                    config.health
                ));
            }
        }
        let last = match health(at) {
            Ok(status) if (200..300).contains(&status) => return Ok(()),
            Ok(status) => format!("{} answered {status}", at.path),
            Err(e) => e,
        };
        if Instant::now() > deadline {
            return Err(format!(
                "did not answer 2xx on {} within {}s (last: {last})",
                at.describe(),
                config.startup_timeout_secs
            ));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn port_open(port: u16) -> bool {
    TcpStream::connect_timeout(
        &SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_millis(500),
    )
    .is_ok()
}

/// `GET path` at `at`; the status code.
fn health(at: &HealthAt) -> std::result::Result<u16, String> {
    use std::net::ToSocketAddrs;
    let addr = (at.host.as_str(), at.port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {}: {e}", at.host))?
        .next()
        .ok_or_else(|| format!("{} has no address", at.host))?;
    let mut stream =
        TcpStream::connect_timeout(&addr, Duration::from_millis(500)).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(2)))
        .map_err(|e| e.to_string())?;
    let host = if at.host.contains(':') {
        format!("[{}]", at.host)
    } else {
        at.host.clone()
    };
    write!(
        stream,
        "GET {} HTTP/1.1\r\nHost: {host}:{}\r\nConnection: close\r\n\r\n",
        at.path, at.port
    )
    .map_err(|e| e.to_string())?;
    let mut head = [0u8; 64];
    let mut n = 0;
    while n < 12 {
        match stream.read(&mut head[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) => return Err(e.to_string()),
        }
    }
    let line = String::from_utf8_lossy(&head[..n]);
    line.split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("not an HTTP answer: {line:?}"))
}

fn alive(pid: u32) -> bool {
    let proc_dir = Path::new("/proc");
    if proc_dir.join("self").exists() {
        return match std::fs::read_to_string(proc_dir.join(pid.to_string()).join("stat")) {
            // A zombie (state Z) has ended.
            Ok(stat) => stat
                .rsplit_once(')')
                .is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z')),
            Err(_) => false,
        };
    }
    std::process::Command::new("kill")
        .args(["-0", &pid.to_string()])
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(text: &str) -> Config {
        Config::parse(text, Path::new("/p/recorder.toml")).unwrap()
    }

    #[test]
    fn placeholders_expand() {
        let c = config("[services.s]\ncommand = [\"x\"]\nport = 4000");
        let s = &c.services["s"];
        let root = Path::new("/p");
        assert_eq!(
            expand("{recorder_url}/v1", s, root, "http://127.0.0.1:9").unwrap(),
            "http://127.0.0.1:9/v1"
        );
        assert_eq!(
            expand("--port={port} {root}/a {other} {", s, root, "u").unwrap(),
            "--port=4000 /p/a {other} {"
        );
        assert!(expand("{bin:surely-not-a-binary}", s, root, "u")
            .unwrap_err()
            .contains("cargo build --bin surely-not-a-binary"));
    }

    #[test]
    fn picking_a_service() {
        let one = config("[services.a]\ncommand = [\"x\"]\nport = 4000");
        assert_eq!(pick(&one, None, None).unwrap().name, "a");
        assert!(pick(&one, Some("b"), None)
            .unwrap_err()
            .to_string()
            .contains("`a`"));
        let two = config("[services.a]\ncommand = [\"x\"]\nport = 4000\n[services.b]\ncommand = [\"y\"]\nport = 4001");
        assert!(pick(&two, None, None)
            .unwrap_err()
            .to_string()
            .contains(SERVICE_ENV));
        assert_eq!(pick(&two, None, Some("b")).unwrap().name, "b");
        assert_eq!(pick(&two, Some("a"), Some("b")).unwrap().name, "a");
        let none = config("");
        assert!(pick(&none, None, None)
            .unwrap_err()
            .to_string()
            .contains("[services.<name>]"));
    }

    #[test]
    fn owner_files_and_liveness() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("1.owner");
        assert_eq!(read_owner(&path), None);
        std::fs::write(&path, "12 34\n").unwrap();
        assert_eq!(
            read_owner(&path),
            Some(Owner {
                test_pid: 12,
                watchdog_pid: 34
            })
        );
        assert!(alive(std::process::id()));
        assert!(!alive(u32::MAX / 2));
    }

    #[test]
    fn the_service_client_adds_the_test_id() {
        let s = Service::at("http://127.0.0.1:1/", "m::t[text=a]");
        assert_eq!(s.url("/chat"), "http://127.0.0.1:1/chat");
        assert_eq!(s.url("chat"), "http://127.0.0.1:1/chat");

        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            let mut seen = Vec::new();
            let mut buf = [0u8; 1024];
            while !seen.ends_with(b"\r\n\r\n") {
                let n = conn.read(&mut buf).unwrap();
                seen.extend_from_slice(&buf[..n]);
            }
            conn.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                .unwrap();
            String::from_utf8(seen).unwrap().to_ascii_lowercase()
        });
        let s = Service::at(format!("http://127.0.0.1:{port}"), "m::t[text=a]");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let status = rt.block_on(async { s.get("/x").send().await.unwrap().status() });
        assert_eq!(status, 200);
        let head = server.join().unwrap();
        assert!(
            head.starts_with("get /x ") && head.contains("x-recorder-test-id: m::t[text=a]"),
            "{head}"
        );
    }
}
