//! `cargo recordings serve`: the record/replay proxy on its own, until Ctrl-C or
//! SIGTERM. Every problem (a recording that failed, a miss, a broken file, in verify
//! mode a breaking change) is printed on stderr as it happens and again at shutdown,
//! and makes the exit status 1; verify mode's drift is listed per test at shutdown. A
//! service under test turns a miss into its own error answer, which a suite may count
//! as a pass: so the last line on stderr is a summary a CI step can check,
//!
//! ```text
//! recorder: serve summary: 95 replayed, 0 recorded, 0 live, 0 verified, 1 missed, 0 without a test id, 1 problems
//! ```
//!
//! Requests without a test id go to the test a runner began on the control endpoint
//! (`POST /_recorder/begin`, see `recorder_runtime::control`), else to `_shared/` with
//! a warning once per endpoint.

use crate::{ServeArgs, UpstreamArg};
use crate::{EXIT_OK, EXIT_PROBLEMS};
use recorder_runtime::engine::{Target, Upstream};
use recorder_runtime::env::RECORDING_DIR as DIR_VAR;
use recorder_runtime::mode::Mode;
use recorder_runtime::proxy::Proxy;
use recorder_runtime::registry::Registry;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// `recordings serve`: the record/replay proxy on 127.0.0.1 until Ctrl-C.
pub(crate) fn serve(
    args: &ServeArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<i32> {
    let mut target = match &args.setup {
        Some(name) => {
            let cwd = std::env::current_dir()?;
            let config = recorder_config::Config::discover(&cwd)?.ok_or_else(|| {
                anyhow::anyhow!(
                    "--setup {name}: no recorder.toml in {} or above",
                    cwd.display()
                )
            })?;
            Target::from_setup(config.setup(name)?)
        }
        None => Target {
            setup: Some("serve".into()),
            ..Default::default()
        },
    };
    // RECORD_MODE and RECORDING_DIR as a test under that setup reads them (its `env`
    // included); without --setup, as the process's default setup does.
    let vars = match &args.setup {
        Some(_) => target.vars(),
        None => recorder_runtime::env::Vars::process().clone(),
    };
    let dir = match (&args.dir.dir, vars.recording_dir()) {
        (Some(d), _) => d.clone(),
        (None, Some(d)) => std::env::current_dir()?.join(d),
        (None, None) => args.dir.resolve()?,
    };
    let mode = match &args.mode {
        Some(m) => m.parse::<Mode>()?,
        None => vars.mode()?,
    };
    if mode.calls_upstream() && args.upstreams.is_empty() && args.setup.is_none() {
        anyhow::bail!(
            "--mode {mode} calls the real API: pass --upstream URL (and --upstream NAME=URL for named upstreams) or --setup NAME"
        );
    }
    if mode.loads() && mode != Mode::RecordIfMissing && !dir.is_dir() {
        anyhow::bail!(
            "no recordings folder at {} to {}: pass --dir or set {DIR_VAR}",
            dir.display(),
            if mode.compares() {
                "verify against"
            } else {
                "replay"
            }
        );
    }
    let default_upstream = apply_upstreams(&mut target, args)?;
    if let Some(var) = &args.api_key_env {
        target.api_key_env = Some(var.clone());
    }
    if let Some(auth) = &args.auth {
        target.auth = auth.clone();
    }
    target.headers.extend(args.headers.iter().cloned());
    let named: String = target
        .upstreams
        .iter()
        .map(|(name, up)| format!(", upstream {name} at /up/{name} -> {}", up.url))
        .collect();
    // Every problem is printed as it happens; the summary at shutdown repeats the
    // first ones (a long-running server must not keep them all).
    let problems: Arc<Mutex<(usize, Vec<String>)>> = Arc::default();
    let seen = problems.clone();
    let sink: recorder_runtime::engine::scope::ProblemSink =
        Arc::new(move |test: &str, what: &str| {
            let who = if test.is_empty() {
                "the requests without a test id".to_owned()
            } else {
                format!("test `{test}`")
            };
            eprintln!("problem in {who}: {what}");
            let mut seen = seen.lock().unwrap();
            seen.0 += 1;
            if seen.1.len() < SUMMARY_PROBLEMS {
                seen.1.push(format!("{who}: {what}"));
            }
        });
    let recorder = Registry::with_limits(&dir, mode, target, args.max_scopes, Some(sink));
    // The signal handlers first: once the port is open, clients may take every file
    // descriptor there is, and registering them then would fail.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let stop = rt.block_on(async { Stop::register() })?;
    let proxy = Proxy::bind(std::net::SocketAddr::from(([127, 0, 0, 1], args.port)))?;
    proxy.allow_hosts(args.allow_hosts.iter().cloned());
    proxy.set_fallback(recorder.clone());
    proxy.set_control(recorder.clone());
    writeln!(out, "listening on http://{}", proxy.addr())?;
    out.flush()?;
    writeln!(
        err,
        "serving {} in {mode} mode{}{named}; test id from the X-Recorder-Test-Id header, else from POST /_recorder/begin; Ctrl-C stops",
        dir.display(),
        default_upstream
            .map(|u| format!(", upstream {u}"))
            .unwrap_or_default()
    )?;
    rt.block_on(stop.wait())?;
    proxy.shutdown();
    writeln!(err, "shutting down: waiting for recordings in progress")?;
    let mut served = recorder.retired_counts();
    for scope in recorder.drain() {
        // Problems found now (a recording still being written) reach the sink too.
        if let Err(e) = recorder_runtime::registry::retire(&scope, Duration::from_secs(60)) {
            writeln!(
                err,
                "warning: cannot record use of {}: {e}",
                scope.test_id()
            )?;
        }
        // Verify mode: what each test's answers changed (breaking ones were problems).
        if let Some(report) =
            recorder_runtime::drift::test_report(scope.test_id(), &scope.findings())
        {
            write!(err, "{report}")?;
        }
        let c = scope.counts();
        served.replayed += c.replayed;
        served.recorded += c.recorded;
        served.live += c.live;
        served.missed += c.missed;
        served.verified += c.verified;
    }
    let untagged = recorder.untagged();
    if !untagged.is_empty() {
        let each: Vec<String> = untagged.iter().map(|(e, n)| format!("{e} ({n})")).collect();
        writeln!(
            err,
            "requests without a test id, served from _shared/ by their order in the run: {}",
            each.join(", ")
        )?;
    }
    let (count, first) = &*problems.lock().unwrap();
    if *count == 0 {
        writeln!(err, "stopped")?;
    } else {
        writeln!(err, "stopped with {count} problem(s):")?;
        for p in first {
            writeln!(err, "  {p}")?;
        }
        if *count > first.len() {
            writeln!(
                err,
                "  ... and {} more (each printed above as it happened)",
                count - first.len()
            )?;
        }
    }
    writeln!(
        err,
        "{}",
        summary_line(&served, untagged.iter().map(|(_, n)| n).sum(), *count)
    )?;
    Ok(if *count == 0 { EXIT_OK } else { EXIT_PROBLEMS })
}

/// The last line `serve` prints: what it served, for a CI step to check (its format
/// is documented in the README and kept stable).
///
/// ```text
/// recorder: serve summary: 95 replayed, 0 recorded, 0 live, 0 verified, 1 missed, 0 without a test id, 1 problems
/// ```
fn summary_line(
    served: &recorder_runtime::engine::Counts,
    untagged: usize,
    problems: usize,
) -> String {
    format!(
        "recorder: serve summary: {} replayed, {} recorded, {} live, {} verified, {} missed, {untagged} without a test id, {problems} problems",
        served.replayed, served.recorded, served.live, served.verified, served.missed
    )
}

/// Applies `--upstream`, `--upstream-key` and `--upstream-auth` to `target` (over the
/// setup's): the bare URL becomes the base URL, `NAME=URL` sets upstream `NAME`'s URL
/// (keeping a setup's key, auth and headers for it). Returns the bare URL, if given.
fn apply_upstreams<'a>(
    target: &mut Target,
    args: &'a ServeArgs,
) -> anyhow::Result<Option<&'a str>> {
    let mut default = None;
    let mut named: Vec<&str> = Vec::new();
    for upstream in &args.upstreams {
        match upstream {
            UpstreamArg::Default(url) => {
                if let Some(first) = default.replace(url.as_str()) {
                    anyhow::bail!(
                        "--upstream {first} and --upstream {url}: there is one default upstream; give the others a name, --upstream NAME=URL (served under /up/NAME/)"
                    );
                }
                target.base_url = Some(url.clone());
            }
            UpstreamArg::Named(name, url) => {
                if named.contains(&name.as_str()) {
                    anyhow::bail!("--upstream {name}=... is given twice: give each name once");
                }
                named.push(name);
                target
                    .upstreams
                    .entry(name.clone())
                    .or_insert_with(|| Upstream::new(url.as_str()))
                    .url = url.clone();
            }
        }
    }
    let known = |target: &Target| {
        let names: Vec<String> = target.upstreams.keys().map(|k| format!("`{k}`")).collect();
        if names.is_empty() {
            "there are none".to_owned()
        } else {
            format!("there are {}", names.join(", "))
        }
    };
    for (name, var) in &args.upstream_keys {
        let what = known(target);
        let Some(up) = target.upstreams.get_mut(name) else {
            anyhow::bail!("--upstream-key {name}={var}: no upstream `{name}` ({what}); give it with --upstream {name}=URL");
        };
        up.api_key_env = Some(var.clone());
    }
    for (name, auth) in &args.upstream_auths {
        let what = known(target);
        let Some(up) = target.upstreams.get_mut(name) else {
            anyhow::bail!("--upstream-auth {name}=...: no upstream `{name}` ({what}); give it with --upstream {name}=URL");
        };
        up.auth = auth.clone();
    }
    Ok(default)
}

/// How many problems the shutdown summary repeats.
const SUMMARY_PROBLEMS: usize = 50;

/// Ctrl-C (SIGINT) or SIGTERM: either stops the server cleanly. Registered before
/// the server starts.
pub(crate) struct Stop {
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
}

impl Stop {
    pub(crate) fn register() -> std::io::Result<Stop> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            Ok(Stop {
                int: signal(SignalKind::interrupt())?,
                term: signal(SignalKind::terminate())?,
            })
        }
        #[cfg(not(unix))]
        {
            Ok(Stop {})
        }
    }

    pub(crate) async fn wait(mut self) -> std::io::Result<()> {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.int.recv() => Ok(()),
                _ = self.term.recv() => Ok(()),
            }
        }
        #[cfg(not(unix))]
        {
            let _ = &mut self;
            tokio::signal::ctrl_c().await
        }
    }
}
