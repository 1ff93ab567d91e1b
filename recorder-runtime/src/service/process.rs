//! Starting, reusing and stopping services: once per process per service. A port
//! lock decides, one process at a time, whether to start the service, reuse what
//! answers there or wait for another test process's service to stop; a watchdog stops
//! what was started when the test process ends, however it ends.

use super::error::{PortHeld, ServiceError};
use super::health::{port_open, wait_healthy, HealthAt};
use crate::propagate::recorder_url;
use recorder_config::ServiceConfig;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// A service this process uses.
#[derive(Debug)]
pub struct Running {
    /// `http://127.0.0.1:<port>`.
    pub base_url: String,
    /// Started by this process (and stopped when it ends).
    pub started: bool,
    /// Where its output goes, when started here.
    // Read by `cargo recordings serve` alone (through `_support`).
    #[cfg_attr(not(feature = "_support"), allow(dead_code))]
    pub log: Option<PathBuf>,
}

/// Starts the service of `config` unless it already answers on its port (then
/// reuses it); once per process: later calls return the same answer, errors too.
/// With a `url`, nothing is started: it waits for the instance there to answer its
/// health check. A service started here gets the defaults of the process's setup
/// (see [`ensure_with`]).
pub fn ensure(config: &ServiceConfig, root: &Path) -> Result<Arc<Running>, ServiceError> {
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
) -> Result<Arc<Running>, ServiceError> {
    type Cell = Arc<OnceLock<Result<Arc<Running>, ServiceError>>>;
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
fn reach(config: &ServiceConfig, url: &str) -> Result<Running, ServiceError> {
    let name = &config.name;
    let base_url = url.trim_end_matches('/').to_owned();
    let at = HealthAt::from_url(&base_url, &config.health)?;
    let deadline = Instant::now() + Duration::from_secs(config.startup_timeout_secs.max(1));
    wait_healthy(config, &at, deadline, None).map_err(|unhealthy| ServiceError::UrlUnhealthy {
        name: name.clone(),
        base_url: base_url.clone(),
        unhealthy: Box::new(unhealthy),
    })?;
    eprintln!("recorder: using the service `{name}` running at {base_url} (not started here)");
    Ok(Running {
        base_url,
        started: false,
        log: None,
    })
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
) -> Result<Running, ServiceError> {
    let port = config.port;
    let at = HealthAt::loopback(port, &config.health);
    let base_url = format!("http://127.0.0.1:{port}");
    let name = &config.name;
    let dir = state_dir();
    std::fs::create_dir_all(&dir).map_err(|e| file_error("create", &dir, e))?;
    // One process at a time decides about a port.
    let lock_path = dir.join(format!("{port}.lock"));
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| file_error("open", &lock_path, e))?;
    lock.lock().map_err(|e| file_error("lock", &lock_path, e))?;
    let owner_path = dir.join(format!("{port}.owner"));
    let timeout = Duration::from_secs(config.startup_timeout_secs.max(1));
    let deadline = Instant::now() + timeout;
    let me = std::process::id();
    loop {
        let busy = port_open(port);
        // Something listens: is it a service another test process started?
        let wait = match read_owner(&owner_path).filter(|_| busy) {
            Some(o) if o.test_pid != me && alive(o.test_pid) => Some(PortHeld::OtherProcess {
                port,
                test_pid: o.test_pid,
                waited_secs: timeout.as_secs(),
            }),
            // Its test process has ended and the watchdog is stopping it.
            Some(o) if o.test_pid != me && alive(o.watchdog_pid) => Some(PortHeld::BeingStopped {
                port,
                watchdog_pid: o.watchdog_pid,
            }),
            _ => None,
        };
        if let Some(held) = wait {
            if Instant::now() > deadline {
                return Err(ServiceError::PortHeld {
                    name: name.clone(),
                    held,
                });
            }
            std::thread::sleep(Duration::from_millis(100));
            continue;
        }
        let _ = std::fs::remove_file(&owner_path);
        if busy {
            wait_healthy(config, &at, deadline, None).map_err(|unhealthy| {
                ServiceError::ReusedUnhealthy {
                    name: name.clone(),
                    base_url: base_url.clone(),
                    unhealthy: Box::new(unhealthy),
                }
            })?;
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
) -> Result<String, ServiceError> {
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
pub fn binary(name: &str) -> Result<PathBuf, ServiceError> {
    for var in [
        format!("NEXTEST_BIN_EXE_{name}"),
        format!("CARGO_BIN_EXE_{name}"),
    ] {
        if let Some(path) = std::env::var_os(var).filter(|p| Path::new(p).is_file()) {
            return Ok(PathBuf::from(path));
        }
    }
    let exe = std::env::current_exe().map_err(|e| ServiceError::NoTestExecutable {
        reason: e.to_string(),
    })?;
    let mut dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
    if dir.ends_with("deps") {
        dir.pop();
    }
    let path = dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    if path.is_file() {
        Ok(path)
    } else {
        Err(ServiceError::NoBinary {
            name: name.to_owned(),
            path,
        })
    }
}

#[cfg(unix)]
fn start(
    config: &ServiceConfig,
    root: &Path,
    defaults: &std::collections::BTreeMap<String, String>,
    owner_path: &Path,
    deadline: Instant,
) -> Result<PathBuf, ServiceError> {
    use std::os::unix::process::CommandExt;
    use std::process::{Command, Stdio};
    let name = &config.name;
    let recorder = recorder_url();
    let argv = config
        .command
        .iter()
        .map(|a| expand(a, config, root, &recorder))
        .collect::<Result<Vec<_>, _>>()?;
    let cwd = match &config.cwd {
        Some(cwd) => root.join(expand(cwd, config, root, &recorder)?),
        None => root.to_path_buf(),
    };
    let log_path = state_dir().join(format!("{name}-{}.log", config.port));
    let log = std::fs::File::create(&log_path).map_err(|e| file_error("create", &log_path, e))?;
    let log2 = log
        .try_clone()
        .map_err(|e| file_error("share the handle of", &log_path, e))?;
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
    let mut child = cmd.spawn().map_err(|e| ServiceError::Spawn {
        name: name.clone(),
        argv: argv.clone(),
        cwd: cwd.clone(),
        reason: e.to_string(),
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
            return Err(ServiceError::Watchdog {
                name: name.clone(),
                reason: e.to_string(),
            });
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
        Err(unhealthy) => {
            drop(pipe); // the watchdog stops what was started
            let _ = watchdog.wait();
            let _ = child.wait();
            Err(ServiceError::StartedUnhealthy {
                name: name.clone(),
                argv,
                unhealthy: Box::new(unhealthy),
                log_tail: tail(&log_path, 30),
                log: log_path,
            })
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
) -> Result<PathBuf, ServiceError> {
    Err(ServiceError::NeedsUnix {
        name: config.name.clone(),
        port: config.port,
    })
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

/// A file of the state folder that failed.
fn file_error(action: &'static str, path: &Path, e: std::io::Error) -> ServiceError {
    ServiceError::File {
        action,
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use recorder_config::Config;

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
        let err = expand("{bin:surely-not-a-binary}", s, root, "u").unwrap_err();
        assert!(
            matches!(&err, ServiceError::NoBinary { name, .. } if name == "surely-not-a-binary"),
            "{err:?}"
        );
        assert!(err
            .to_string()
            .contains("cargo build --bin surely-not-a-binary"));
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
}
