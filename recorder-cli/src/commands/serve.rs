//! `cargo recordings serve`: the record/replay proxy on its own, until Ctrl-C or
//! SIGTERM. Every problem (a recording that failed, a miss, a broken file, in verify
//! mode a breaking change) is printed on stderr as it happens and again at shutdown,
//! and makes the exit status 1; verify mode's drift is listed per test at shutdown.

use crate::ServeArgs;
use crate::{EXIT_OK, EXIT_PROBLEMS};
use recorder_runtime::engine::Target;
use recorder_runtime::env::RECORDING_DIR as DIR_VAR;
use recorder_runtime::mode::Mode;
use recorder_runtime::proxy::Proxy;
use recorder_runtime::registry::Recorder;
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
    if mode.calls_upstream() && args.upstream.is_none() && args.setup.is_none() {
        anyhow::bail!("--mode {mode} calls the real API: pass --upstream URL or --setup NAME");
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
    if let Some(url) = &args.upstream {
        target.base_url = Some(url.clone());
    }
    if let Some(var) = &args.api_key_env {
        target.api_key_env = Some(var.clone());
    }
    if let Some(auth) = &args.auth {
        target.auth = auth.clone();
    }
    target.headers.extend(args.headers.iter().cloned());
    // Every problem is printed as it happens; the summary at shutdown repeats the
    // first ones (a long-running server must not keep them all).
    let problems: Arc<Mutex<(usize, Vec<String>)>> = Arc::default();
    let seen = problems.clone();
    let sink: recorder_runtime::engine::scope::ProblemSink =
        Arc::new(move |test: &str, what: &str| {
            let test = if test.is_empty() {
                "(no test id)"
            } else {
                test
            };
            eprintln!("problem in test `{test}`: {what}");
            let mut seen = seen.lock().unwrap();
            seen.0 += 1;
            if seen.1.len() < SUMMARY_PROBLEMS {
                seen.1.push(format!("test `{test}`: {what}"));
            }
        });
    let recorder = Recorder::with_limits(&dir, mode, target, args.max_scopes, Some(sink));
    // The signal handlers first: once the port is open, clients may take every file
    // descriptor there is, and registering them then would fail.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let stop = rt.block_on(async { Stop::register() })?;
    let proxy = Proxy::bind(std::net::SocketAddr::from(([127, 0, 0, 1], args.port)))?;
    proxy.allow_hosts(args.allow_hosts.iter().cloned());
    proxy.set_fallback(recorder.clone());
    writeln!(out, "listening on http://{}", proxy.addr())?;
    out.flush()?;
    writeln!(
        err,
        "serving {} in {mode} mode{}; test id from the X-Recorder-Test-Id header; Ctrl-C stops",
        dir.display(),
        args.upstream
            .as_deref()
            .map(|u| format!(", upstream {u}"))
            .unwrap_or_default()
    )?;
    rt.block_on(stop.wait())?;
    proxy.shutdown();
    writeln!(err, "shutting down: waiting for recordings in progress")?;
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
    }
    let (count, first) = &*problems.lock().unwrap();
    if *count == 0 {
        writeln!(err, "stopped")?;
        return Ok(EXIT_OK);
    }
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
    Ok(EXIT_PROBLEMS)
}

/// How many problems the shutdown summary repeats.
const SUMMARY_PROBLEMS: usize = 50;

/// Ctrl-C (SIGINT) or SIGTERM: either stops the server cleanly. Registered before
/// the server starts.
struct Stop {
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
}

impl Stop {
    fn register() -> std::io::Result<Stop> {
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

    async fn wait(mut self) -> std::io::Result<()> {
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
