//! `cargo recordings options`: the setups, suites, kinds and services of
//! `recorder.toml`, and every variable the framework reads
//! ([`recorder_runtime::env::VARIABLES`]) with its value as a test would see it under
//! a setup, and where that value came from.
//!
//! API keys (the variables setups and their upstreams name in `api_key_env`) and other
//! credentials (a variable whose name says so, such as `HF_TOKEN`: see
//! [`recorder_runtime::env::is_credential`]) are shown as set or unset, never their
//! value, wherever they appear (also inside `RECORDER_ENV` and a setup's `env`); a URL
//! with `user:password@` in it is shown with the password masked. Each setup's
//! upstreams are listed with their URL, key variable and auth, and their headers' names
//! (not values).

use crate::OptionsArgs;
use recorder_config::{Config, Env, EnvLayers, Kind, ProcessEnv, ServiceEndpoint, ValueSource};
use recorder_runtime::env::VARIABLES;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::io::Write;
use std::path::Path;

pub(crate) fn options(
    args: &OptionsArgs,
    out: &mut dyn Write,
    _err: &mut dyn Write,
) -> anyhow::Result<i32> {
    let cwd = std::env::current_dir()?;
    let config = Config::discover(&cwd)?;
    let report = report(config.as_ref(), args.setup.as_deref(), &ProcessEnv, &cwd)?;
    match args.format.as_str() {
        "json" => writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?,
        _ => write_text(&report, out)?,
    }
    Ok(crate::EXIT_OK)
}

/// Shown instead of a secret's value.
const SET: &str = "(set)";

/// Everything `options` prints, as JSON (the text output renders the same value).
pub(crate) fn report(
    config: Option<&Config>,
    setup_arg: Option<&str>,
    process: &dyn Env,
    cwd: &Path,
) -> anyhow::Result<Value> {
    let base = EnvLayers::from_process(process)?;
    // The setup in effect, by the rule every part of the recorder uses: --setup,
    // else RECORDER_SETUP, else default_setup (no test in view, so no suite).
    let choice = recorder_config::choose_setup(
        config,
        setup_arg.map(|name| (name, "--setup")),
        None,
        process,
    )
    .map_err(|e| match config {
        Some(_) => anyhow::Error::from(e),
        None => anyhow::anyhow!("{e} (searched from {} upward)", cwd.display()),
    })?;
    let setup = choice.as_ref().map(|c| c.setup);
    let layers = match setup {
        Some(s) => base.clone().with_setup(&s.name, &s.env),
        None => base.clone(),
    };
    // Every key variable, in the order of the setups: theirs and their upstreams'.
    let key_vars: Vec<&str> = config
        .iter()
        .flat_map(|c| c.setups.values())
        .flat_map(|s| s.key_vars())
        .collect();
    let secrets: BTreeSet<&str> = key_vars.iter().copied().collect();
    let shown = |name: &str, value: String| -> String {
        if secrets.contains(name) || recorder_runtime::env::is_credential(name) {
            SET.to_owned()
        } else {
            recorder_runtime::secrets::mask_url_password(&value).into_owned()
        }
    };

    let mut variables: Vec<Value> = Vec::new();
    let found = |name: &str| {
        layers
            .lookup(process, name)
            .map(|(v, s)| (shown(name, v), s.to_string()))
    };
    for v in VARIABLES {
        let description = v.description.to_owned();
        if v.name.contains("<NAME>") {
            for (service_name, service) in config.iter().flat_map(|c| c.services.iter()) {
                let name = ServiceEndpoint::var(v.name, service_name);
                let from_file = if v.name.ends_with("_URL") {
                    service.url.clone()
                } else {
                    (service.port != 0).then(|| service.port.to_string())
                };
                let value =
                    found(&name).or(from_file.map(|v| (v, ValueSource::Config.to_string())));
                row(
                    &mut variables,
                    name,
                    value,
                    description.replace("<name>", service_name),
                );
            }
            continue;
        }
        let mut value = found(v.name);
        if v.name == recorder_config::SETUP_ENV {
            value = choice
                .as_ref()
                .map(|c| (c.setup.name.clone(), c.by.source()));
        } else if v.name == recorder_runtime::env::ENV {
            value = process.var(v.name).map(|_| {
                let masked = base
                    .recorder_env()
                    .iter()
                    .map(|(k, val)| format!("{k}={}", shown(k, val.clone())))
                    .collect::<Vec<_>>()
                    .join(",");
                (masked, ValueSource::Environment.to_string())
            });
        } else if let Some(kind) = Kind::ALL.into_iter().find(|k| k.env_var() == v.name) {
            value = value.or_else(|| {
                setup
                    .and_then(|s| s.models.get(&kind))
                    .map(|m| (m.join(","), ValueSource::Config.to_string()))
            });
        } else if v.name == recorder_config::EMBEDDING_DIMENSION_ENV {
            value = value.or_else(|| {
                setup
                    .and_then(|s| s.embedding_dimension)
                    .map(|d| (d.to_string(), ValueSource::Config.to_string()))
            });
        } else if v.name == recorder_runtime::env::RECORDING_DIR {
            value = value.or_else(|| {
                Some((
                    crate::display_path(cwd, &recorder_runtime::context::recordings_dir(cwd)),
                    ValueSource::Default.to_string(),
                ))
            });
        }
        let value = value.or_else(|| {
            v.default
                .map(|d| (d.to_owned(), ValueSource::Default.to_string()))
        });
        row(&mut variables, v.name.to_owned(), value, description);
    }
    // The API key variables setups and their upstreams name: set or unset, never
    // their value.
    for var in &key_vars {
        if listed(&variables, var) {
            continue;
        }
        let mut users: Vec<String> = Vec::new();
        for s in config.iter().flat_map(|c| c.setups.values()) {
            if s.api_key_env.as_deref() == Some(*var) {
                users.push(format!("setup {}", s.name));
            }
            for (name, up) in &s.upstreams {
                if up.api_key_env.as_deref() == Some(*var) {
                    users.push(format!("upstream {name} of setup {}", s.name));
                }
            }
        }
        row(
            &mut variables,
            (*var).to_owned(),
            found(var),
            format!("API key of {} (never shown)", users.join(", ")),
        );
    }
    // Other variables RECORDER_ENV or the setup's env give defaults for.
    let mut others: BTreeSet<&String> = base.recorder_env().keys().collect();
    if let Some(s) = setup {
        others.extend(s.env.keys());
    }
    for name in others {
        if listed(&variables, name) {
            continue;
        }
        row(
            &mut variables,
            name.clone(),
            found(name),
            "not read by the recorder: a default for your tests and the services started for them"
                .to_owned(),
        );
    }

    // A key variable as set or unset, never its value.
    let key_state = |var: Option<&str>| {
        var.map(|var| json!({ "name": var, "set": layers.lookup(process, var).is_some() }))
    };
    let setups: Vec<Value> = config
        .iter()
        .flat_map(|c| c.setups.values())
        .map(|s| {
            json!({
                "name": s.name,
                "in_effect": setup.is_some_and(|e| e.name == s.name),
                "description": s.description,
                "base_url": s.base_url.as_deref().map(masked),
                "routes": s.routes.iter().map(|(k, v)| (k.clone(), json!(masked(v)))).collect::<serde_json::Map<_, _>>(),
                "models": s.models.iter().map(|(k, m)| (k.as_str().to_owned(), json!(m))).collect::<serde_json::Map<_, _>>(),
                "embedding_dimension": s.embedding_dimension,
                "api_key_env": key_state(s.api_key_env.as_deref()),
                "upstreams": s.upstreams.iter().map(|(name, up)| (name.clone(), json!({
                    "url": up.url,
                    "api_key_env": key_state(up.api_key_env.as_deref()),
                    "auth": auth_text(&up.auth),
                    "headers": up.headers.keys().collect::<Vec<_>>(),
                }))).collect::<serde_json::Map<_, _>>(),
                "env": s.env.iter().map(|(k, v)| (k.clone(), json!(shown(k, v.clone())))).collect::<serde_json::Map<_, _>>(),
            })
        })
        .collect();
    let suites: Vec<Value> = config
        .iter()
        .flat_map(|c| c.suites.values())
        .map(|s| {
            json!({
                "name": s.name, "description": s.description, "roots": s.roots,
                "exclude": s.exclude, "setup": s.setup,
            })
        })
        .collect();
    let mut services = Vec::new();
    for (c, (name, s)) in config
        .iter()
        .flat_map(|c| c.services.iter().map(move |s| (c, s)))
    {
        let endpoint = c.service_endpoint(name, &layers, process)?;
        services.push(json!({
            "name": name,
            "url": endpoint.url.as_deref().map(masked),
            "port": (endpoint.port != 0).then_some(endpoint.port),
            "given_by": endpoint.given_by,
            "source": endpoint.source.to_string(),
            "command": s.command,
            "health": s.health,
        }));
    }
    let kinds: Vec<Value> = Kind::ALL
        .into_iter()
        .map(|k| json!({ "name": k.as_str(), "variable": k.env_var() }))
        .collect();
    // Names a test would fail on (`recorder_runtime::env::misspelled`), wherever set.
    let mut process_names: Vec<String> = std::env::vars_os()
        .filter_map(|(name, _)| name.into_string().ok())
        .filter(|name| process.var(name).is_some())
        .collect();
    process_names.sort_unstable();
    let places = std::iter::once(("the environment".to_owned(), process_names))
        .chain(std::iter::once((
            recorder_runtime::env::ENV.to_owned(),
            base.recorder_env().keys().cloned().collect(),
        )))
        .chain(config.iter().flat_map(|c| c.setups.values()).map(|s| {
            (
                format!("setups.{}.env", s.name),
                s.env.keys().cloned().collect(),
            )
        }));
    let mut misspelled = Vec::new();
    for (place, names) in places {
        for name in names {
            if let Some((_, like)) = recorder_runtime::env::misspelled([name.as_str()]) {
                misspelled.push(json!({ "name": name, "in": place, "like": like }));
            }
        }
    }
    Ok(json!({
        "config": config.map(|c| c.path.display().to_string()),
        "setup": choice.map(|c| json!({ "name": c.setup.name, "chosen_by": c.by.to_string() })),
        "setups": setups,
        "suites": suites,
        "kinds": kinds,
        "services": services,
        "variables": variables,
        "misspelled": misspelled,
    }))
}

/// A URL as shown: its password, if it has one, masked.
fn masked(url: &str) -> String {
    recorder_runtime::secrets::mask_url_password(url).into_owned()
}

fn text(v: &Value) -> String {
    match v {
        Value::Null => "-".to_owned(),
        Value::String(s) => s.clone(),
        Value::Array(items) if items.is_empty() => "-".to_owned(),
        Value::Array(items) => items.iter().map(text).collect::<Vec<_>>().join(", "),
        other => other.to_string(),
    }
}

fn write_text(r: &Value, out: &mut dyn Write) -> std::io::Result<()> {
    match r["config"].as_str() {
        Some(path) => writeln!(out, "recorder.toml: {path}")?,
        None => writeln!(
            out,
            "recorder.toml: none found (models come from RECORDER_<KIND>_MODELS only; `cargo recordings init` writes one)"
        )?,
    }
    match r["setup"].as_object() {
        Some(s) => writeln!(
            out,
            "setup in effect: {} (from {}; a test's suite or `setup = ...` may pick another: see it with --setup)",
            text(&s["name"]),
            text(&s["chosen_by"])
        )?,
        None => writeln!(out, "setup in effect: none")?,
    }
    writeln!(out, "\nSetups (* = in effect):")?;
    for s in r["setups"].as_array().into_iter().flatten() {
        let mark = if s["in_effect"] == json!(true) {
            "*"
        } else {
            " "
        };
        writeln!(out, "{mark} {}  {}", text(&s["name"]), text(&s["base_url"]))?;
        if let Some(d) = s["description"].as_str() {
            writeln!(out, "      {d}")?;
        }
        let models: Vec<String> = s["models"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, m)| format!("{k} = {}", text(m)))
            .collect();
        if !models.is_empty() {
            writeln!(out, "      models: {}", models.join("; "))?;
        }
        for (prefix, url) in s["routes"].as_object().into_iter().flatten() {
            writeln!(out, "      route: {prefix} -> {}", text(url))?;
        }
        if let Some(d) = s["embedding_dimension"].as_u64() {
            writeln!(out, "      embedding_dimension: {d}")?;
        }
        if let Some(key) = s["api_key_env"].as_object() {
            writeln!(out, "      api key: {}", key_text(key))?;
        }
        for (name, up) in s["upstreams"].as_object().into_iter().flatten() {
            let mut line = format!(
                "      upstream: {name} at /up/{name} -> {}",
                text(&up["url"])
            );
            if let Some(key) = up["api_key_env"].as_object() {
                line.push_str(&format!(
                    ", api key: {} as {}",
                    key_text(key),
                    text(&up["auth"])
                ));
            }
            if up["headers"].as_array().is_some_and(|h| !h.is_empty()) {
                line.push_str(&format!(", headers: {}", text(&up["headers"])));
            }
            writeln!(out, "{line}")?;
        }
        let env: Vec<String> = s["env"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, v)| format!("{k}={}", text(v)))
            .collect();
        if !env.is_empty() {
            writeln!(out, "      env: {}", env.join(", "))?;
        }
    }
    writeln!(out, "\nSuites:")?;
    let suites = r["suites"].as_array().cloned().unwrap_or_default();
    if suites.is_empty() {
        writeln!(out, "  none")?;
    }
    for s in &suites {
        writeln!(
            out,
            "  {}  setup: {}  roots: {}  exclude: {}",
            text(&s["name"]),
            text(&s["setup"]),
            text(&s["roots"]),
            text(&s["exclude"])
        )?;
        if let Some(d) = s["description"].as_str() {
            writeln!(out, "      {d}")?;
        }
    }
    writeln!(
        out,
        "\nKinds: {}",
        r["kinds"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|k| text(&k["name"]))
            .collect::<Vec<_>>()
            .join(", ")
    )?;
    writeln!(out, "\nServices:")?;
    let services = r["services"].as_array().cloned().unwrap_or_default();
    if services.is_empty() {
        writeln!(out, "  none")?;
    }
    for s in &services {
        let at = match s["url"].as_str() {
            Some(url) => format!("url {url} (not started)"),
            None => format!("port {}", text(&s["port"])),
        };
        writeln!(
            out,
            "  {}  {at} (from {}, {})  command: {}",
            text(&s["name"]),
            text(&s["given_by"]),
            text(&s["source"]),
            s["command"]
                .as_array()
                .map(|c| c.iter().map(text).collect::<Vec<_>>().join(" "))
                .filter(|c| !c.is_empty())
                .unwrap_or_else(|| "-".into())
        )?;
    }
    writeln!(
        out,
        "\nVariables (explicit > RECORDER_ENV > setup env > recorder.toml > default):"
    )?;
    let vars = r["variables"].as_array().cloned().unwrap_or_default();
    let width = vars
        .iter()
        .map(|v| text(&v["name"]).len())
        .max()
        .unwrap_or(0);
    let value_width = vars
        .iter()
        .map(|v| value_cell(v).len())
        .filter(|w| *w <= 40)
        .max()
        .unwrap_or(0);
    for v in &vars {
        writeln!(
            out,
            "  {:width$}  {:value_width$}  {:16}  {}",
            text(&v["name"]),
            value_cell(v),
            text(&v["source"]),
            text(&v["description"]),
        )?;
    }
    let misspelled = r["misspelled"].as_array().cloned().unwrap_or_default();
    if !misspelled.is_empty() {
        writeln!(
            out,
            "\nMisspelled (every recorded test fails until each is renamed, or unset):"
        )?;
        for m in &misspelled {
            writeln!(
                out,
                "  {} in {}: did you mean {}?",
                text(&m["name"]),
                text(&m["in"]),
                text(&m["like"]),
            )?;
        }
    }
    Ok(())
}

/// `VAR (set)` or `VAR (unset)`.
fn key_text(key: &serde_json::Map<String, Value>) -> String {
    let state = if key["set"] == json!(true) {
        "set"
    } else {
        "unset"
    };
    format!("{} ({state})", text(&key["name"]))
}

/// How a key is sent, as `serve --auth` spells it.
fn auth_text(auth: &recorder_config::Auth) -> String {
    match auth {
        recorder_config::Auth::Bearer => "bearer".to_owned(),
        recorder_config::Auth::Header(h) => format!("header:{h}"),
        recorder_config::Auth::Query(q) => format!("query:{q}"),
    }
}

fn value_cell(v: &Value) -> String {
    match v["value"].as_str() {
        Some("") | None => "-".to_owned(),
        Some(s) => s.to_owned(),
    }
}

/// Adds a variable to the list: unset when `found` is `None`.
fn row(
    variables: &mut Vec<Value>,
    name: String,
    found: Option<(String, String)>,
    description: String,
) {
    let (value, source) = found.unwrap_or((String::new(), ValueSource::Unset.to_string()));
    variables.push(json!({
        "name": name, "value": value, "source": source, "description": description,
    }));
}

fn listed(variables: &[Value], name: &str) -> bool {
    variables.iter().any(|v| v["name"] == name)
}
