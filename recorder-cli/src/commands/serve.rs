//! `cargo recordings serve`.

use crate::ServeArgs;
use crate::{EXIT_OK, EXIT_PROBLEMS};
use recorder_runtime::engine::{Scope, Target};
use recorder_runtime::mode::{Mode, DIR_VAR};
use recorder_runtime::proxy::{Fallback, Proxy};
use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

struct Served {
    recorder: Arc<recorder_runtime::propagate::Recorder>,
    scopes: Mutex<HashMap<String, Arc<Scope>>>,
}

impl Fallback for Served {
    fn scope_for(&self, test_id: Option<&str>) -> recorder_runtime::Result<Arc<Scope>> {
        let scope = self.recorder.scope_for(test_id)?;
        self.scopes
            .lock()
            .unwrap()
            .entry(scope.test_id().to_owned())
            .or_insert_with(|| scope.clone());
        Ok(scope)
    }
}

/// `recordings serve`: the record/replay proxy on 127.0.0.1 until Ctrl-C.
pub(crate) fn serve(
    args: &ServeArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<i32> {
    let dir = args.dir.resolve()?;
    let mode = match &args.mode {
        Some(m) => m.parse::<Mode>()?,
        None => Mode::from_env()?,
    };
    if mode.calls_upstream() && args.upstream.is_none() && args.setup.is_none() {
        anyhow::bail!("--mode {mode} calls the real API: pass --upstream URL or --setup NAME");
    }
    if mode == Mode::Replay && !dir.is_dir() {
        anyhow::bail!(
            "no recordings folder at {} to replay: pass --dir or set {DIR_VAR}",
            dir.display()
        );
    }
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
    let served = Arc::new(Served {
        recorder: recorder_runtime::propagate::Recorder::new(&dir, mode, target),
        scopes: Mutex::default(),
    });
    let proxy = Proxy::bind(std::net::SocketAddr::from(([127, 0, 0, 1], args.port)))?;
    proxy.set_fallback(served.clone());
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
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(tokio::signal::ctrl_c())?;
    proxy.shutdown();
    writeln!(err, "shutting down: waiting for recordings in progress")?;
    let scopes: Vec<Arc<Scope>> = served.scopes.lock().unwrap().values().cloned().collect();
    let mut code = EXIT_OK;
    for scope in scopes {
        for p in scope.finish(Duration::from_secs(60)) {
            if p.contains("still being written") {
                writeln!(err, "{p}")?;
                code = EXIT_PROBLEMS;
            }
        }
        if !scope.test_id().is_empty() {
            if let Err(e) = scope.record_use() {
                writeln!(
                    err,
                    "warning: cannot record use of {}: {e}",
                    scope.test_id()
                )?;
            }
        }
    }
    writeln!(err, "stopped")?;
    Ok(code)
}
