//! Where a service under test is reached: its `port` (the runtime starts `command`
//! there, or reuses what answers) or its `url` (an instance already running: nothing
//! is started), and the variables that override them.
//!
//! | variable | applies to | effect |
//! |---|---|---|
//! | `RECORDER_SERVICE_<NAME>_URL` | service `<name>` | use the instance at this URL; start nothing |
//! | `RECORDER_SERVICE_<NAME>_PORT` | service `<name>` | start (or reuse) it on this port |
//! | `RECORDER_SERVICE_URL`, `RECORDER_SERVICE_PORT` | the service `RECORDER_SERVICE` names, else the only one | the same |
//!
//! `<NAME>` is the service's name in upper case, every character other than a letter
//! or digit turned into `_` (`chat-api` -> `RECORDER_SERVICE_CHAT_API_URL`). A
//! per-service variable beats the unqualified one, a URL beats a port, and a variable
//! beats `recorder.toml` (`url`, then `port`). Like every variable, they may come from
//! `RECORDER_ENV` or the setup's `env`.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::{Config, ConfigError, Env, EnvLayers, ValueSource};

/// `RECORDER_SERVICE=<name>`: which `[services.<name>]` a `Service` parameter gets
/// when `recorder.toml` defines several; also the service `RECORDER_SERVICE_URL` and
/// `RECORDER_SERVICE_PORT` apply to.
pub const SERVICE_ENV: &str = "RECORDER_SERVICE";
/// `RECORDER_SERVICE_URL`: the running instance of the default service (a per-service
/// `RECORDER_SERVICE_<NAME>_URL` beats it).
pub const SERVICE_URL_ENV: &str = "RECORDER_SERVICE_URL";
/// `RECORDER_SERVICE_PORT`: the port of the default service.
pub const SERVICE_PORT_ENV: &str = "RECORDER_SERVICE_PORT";
/// `RECORDER_SERVICE_<NAME>_URL`, a template: see [`ServiceEndpoint::var`].
pub const SERVICE_NAMED_URL_ENV: &str = "RECORDER_SERVICE_<NAME>_URL";
/// `RECORDER_SERVICE_<NAME>_PORT`, a template: see [`ServiceEndpoint::var`].
pub const SERVICE_NAMED_PORT_ENV: &str = "RECORDER_SERVICE_<NAME>_PORT";

/// Where one service is reached, after `recorder.toml` and the variables.
///
/// ```
/// # use std::path::Path;
/// use recorder_config::{Config, EnvLayers, ServiceEndpoint, ValueSource};
/// let config = Config::parse(
///     "[services.chat-api]\ncommand = [\"chat\"]\nport = 3917",
///     Path::new("recorder.toml"),
/// )?;
/// let process = |name: &str| (name == "RECORDER_SERVICE_CHAT_API_PORT").then(|| "4000".to_string());
/// let layers = EnvLayers::from_process(&process)?;
/// let endpoint = config.service_endpoint("chat-api", &layers, &process)?;
/// assert_eq!(endpoint.port, 4000);
/// assert_eq!(endpoint.source, ValueSource::Environment);
/// assert_eq!(endpoint.base_url(), "http://127.0.0.1:4000");
/// assert_eq!(ServiceEndpoint::var("RECORDER_SERVICE_<NAME>_URL", "chat-api"), "RECORDER_SERVICE_CHAT_API_URL");
/// # Ok::<(), recorder_config::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceEndpoint {
    /// The port to start or reuse the service on (0 when `url` is used and none is
    /// configured).
    pub port: u16,
    /// The running instance to use, when one is given: nothing is started.
    pub url: Option<String>,
    /// Where the deciding value came from.
    pub source: ValueSource,
    /// The variable or key that gave it, e.g. `RECORDER_SERVICE_CHAT_URL` or
    /// `services.chat.port`.
    pub given_by: String,
}

impl ServiceEndpoint {
    /// `template` (`RECORDER_SERVICE_<NAME>_URL` or `..._PORT`) for service `name`.
    pub fn var(template: &str, name: &str) -> String {
        let upper: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_uppercase()
                } else {
                    '_'
                }
            })
            .collect();
        template.replace("<NAME>", &upper)
    }

    /// The service's base URL: `url`, else `http://127.0.0.1:<port>`.
    pub fn base_url(&self) -> String {
        match &self.url {
            Some(url) => url.trim_end_matches('/').to_string(),
            None => format!("http://127.0.0.1:{}", self.port),
        }
    }
}

/// A service URL is `http://host[:port][/path]`: the health check speaks plain HTTP.
pub(crate) fn check_service_url(url: &str) -> Result<(), String> {
    let Some(rest) = url.strip_prefix("http://") else {
        return Err(format!(
            "`{url}` is not an http:// URL, e.g. \"http://127.0.0.1:8080\" (the health check speaks plain HTTP; put an https service behind a local http endpoint)"
        ));
    };
    let authority = rest.split('/').next().unwrap_or_default();
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) if !host.ends_with(']') || authority.starts_with('[') => {
            (host, Some(port))
        }
        _ => (authority, None),
    };
    if host.is_empty() || port.is_some_and(|p| p.parse::<u16>().map_or(true, |p| p == 0)) {
        return Err(format!(
            "`{url}` has no valid host and port, e.g. \"http://127.0.0.1:8080\""
        ));
    }
    Ok(())
}

impl Config {
    /// The service [`SERVICE_URL_ENV`] and [`SERVICE_PORT_ENV`] apply to:
    /// `RECORDER_SERVICE`, else the only service of the file.
    fn default_service(&self, env: &dyn Env) -> Option<String> {
        if let Some(name) = env.var(SERVICE_ENV) {
            return Some(name.trim().to_string());
        }
        let mut names = self.services.keys();
        match (names.next(), names.next()) {
            (Some(only), None) => Some(only.clone()),
            _ => None,
        }
    }

    /// Where service `name` is reached, after `RECORDER_SERVICE_<NAME>_URL`,
    /// `RECORDER_SERVICE_<NAME>_PORT`, `RECORDER_SERVICE_URL`, `RECORDER_SERVICE_PORT`
    /// (looked up in `process` over `layers`), then its `url` and `port`. A bad value,
    /// an unqualified variable that cannot tell which service it means, or a port for a
    /// service that has no command is an error saying what to set instead.
    pub fn service_endpoint(
        &self,
        name: &str,
        layers: &EnvLayers,
        process: &dyn Env,
    ) -> Result<ServiceEndpoint, ConfigError> {
        let service = self
            .services
            .get(name)
            .ok_or_else(|| ConfigError::Invalid {
                path: self.path.clone(),
                line: None,
                key: format!("services.{name}"),
                message: format!(
                    "no such service; {} defines {}",
                    self.path.display(),
                    if self.services.is_empty() {
                        "none".to_string()
                    } else {
                        self.services
                            .keys()
                            .map(|k| format!("`{k}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    }
                ),
            })?;
        let lookup = |var: &str| layers.lookup(process, var);
        let url_var = ServiceEndpoint::var(SERVICE_NAMED_URL_ENV, name);
        let port_var = ServiceEndpoint::var(SERVICE_NAMED_PORT_ENV, name);
        let is_default = self.default_service(&layers.bind(process)).as_deref() == Some(name);
        let unqualified = |var: &str| -> Result<Option<(String, ValueSource)>, ConfigError> {
            let Some(found) = lookup(var) else {
                return Ok(None);
            };
            if is_default {
                return Ok(Some(found));
            }
            if lookup(SERVICE_ENV).is_none() {
                let template = if var == SERVICE_URL_ENV {
                    SERVICE_NAMED_URL_ENV
                } else {
                    SERVICE_NAMED_PORT_ENV
                };
                return Err(ConfigError::InvalidEnv {
                    var: var.to_string(),
                    value: found.0,
                    message: format!(
                        "{} defines several services, so {var} cannot tell which one it means: use {} (one variable per service), or name the service with {SERVICE_ENV}",
                        self.path.display(),
                        self.services
                            .keys()
                            .map(|k| ServiceEndpoint::var(template, k))
                            .collect::<Vec<_>>()
                            .join(" or ")
                    ),
                });
            }
            Ok(None)
        };
        let url = match lookup(&url_var) {
            Some(found) => Some((found, url_var.clone())),
            None => unqualified(SERVICE_URL_ENV)?.map(|f| (f, SERVICE_URL_ENV.to_string())),
        };
        if let Some(((url, source), var)) = url {
            check_service_url(url.trim()).map_err(|message| ConfigError::InvalidEnv {
                var: var.clone(),
                value: url.clone(),
                message,
            })?;
            return Ok(ServiceEndpoint {
                port: service.port,
                url: Some(url.trim().to_string()),
                source,
                given_by: var,
            });
        }
        let port = match lookup(&port_var) {
            Some(found) => Some((found, port_var.clone())),
            None => unqualified(SERVICE_PORT_ENV)?.map(|f| (f, SERVICE_PORT_ENV.to_string())),
        };
        if let Some(((value, source), var)) = port {
            let port = match value.trim().parse::<u16>() {
                Ok(port) if port > 0 => port,
                _ => {
                    return Err(ConfigError::InvalidEnv {
                        var,
                        value,
                        message: "expected a port number from 1 to 65535, or unset it".into(),
                    })
                }
            };
            if service.command.is_empty() {
                return Err(ConfigError::InvalidEnv {
                    var,
                    value,
                    message: format!(
                        "[services.{name}] has no command to start on that port (only a url); to use an instance running there, set {url_var}=http://127.0.0.1:{port}"
                    ),
                });
            }
            return Ok(ServiceEndpoint {
                port,
                url: None,
                source,
                given_by: var,
            });
        }
        Ok(match &service.url {
            Some(url) => ServiceEndpoint {
                port: service.port,
                url: Some(url.clone()),
                source: ValueSource::Config,
                given_by: format!("services.{name}.url"),
            },
            None => ServiceEndpoint {
                port: service.port,
                url: None,
                source: ValueSource::Config,
                given_by: format!("services.{name}.port"),
            },
        })
    }

    /// Service `name` with its port and url replaced by [`Config::service_endpoint`]'s.
    ///
    /// ```
    /// # use std::path::Path;
    /// use recorder_config::{Config, EnvLayers};
    /// let config = Config::parse("[services.chat]\ncommand = [\"chat\"]\nport = 3917", Path::new("recorder.toml"))?;
    /// let process = |name: &str| (name == "RECORDER_SERVICE_URL").then(|| "http://127.0.0.1:8080".to_string());
    /// let chat = config.service_with_overrides("chat", &EnvLayers::default(), &process)?;
    /// assert_eq!(chat.url.as_deref(), Some("http://127.0.0.1:8080"));
    /// # Ok::<(), recorder_config::ConfigError>(())
    /// ```
    pub fn service_with_overrides(
        &self,
        name: &str,
        layers: &EnvLayers,
        process: &dyn Env,
    ) -> Result<ServiceConfig, ConfigError> {
        let endpoint = self.service_endpoint(name, layers, process)?;
        let mut service = self.services[name].clone();
        service.port = endpoint.port;
        service.url = endpoint.url;
        Ok(service)
    }
}

/// A service under test that the runtime starts (or reuses): `[services.<name>]`.
///
/// ```
/// # use std::path::Path;
/// let config = recorder_config::Config::parse(
///     r#"
///     [services.chat]
///     command = ["cargo", "run", "--bin", "chat-service"]
///     port = 3917
///     env = { OPENAI_BASE_URL = "{recorder_url}/v1" }
///     "#,
///     Path::new("recorder.toml"),
/// )?;
/// let chat = &config.services["chat"];
/// assert_eq!(chat.health, "/health");
/// assert_eq!(chat.startup_timeout_secs, 120);
/// # Ok::<(), recorder_config::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceConfig {
    /// The service's name: its key under `[services]`.
    #[serde(skip)]
    pub name: String,
    /// The program and its arguments (may be left out when `url` is given).
    #[serde(default)]
    pub command: Vec<String>,
    /// The loopback port it listens on (may be left out when `url` is given).
    /// `RECORDER_SERVICE_<NAME>_PORT` overrides it (see [`ServiceEndpoint`]).
    #[serde(default)]
    pub port: u16,
    /// An already running instance to use instead of starting `command`, e.g.
    /// `"http://127.0.0.1:8080"`: nothing is started, the tests wait for its health
    /// check, and `env` cannot be applied to it. `RECORDER_SERVICE_<NAME>_URL`
    /// overrides it (see [`ServiceEndpoint`]).
    #[serde(default)]
    pub url: Option<String>,
    /// The path answering 2xx once the service is up.
    #[serde(default = "default_health")]
    pub health: String,
    /// Extra environment; values may contain `{recorder_url}`.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// How long to wait for the health check.
    #[serde(default = "default_startup_timeout")]
    pub startup_timeout_secs: u64,
    /// The working directory, relative to the folder holding `recorder.toml`.
    #[serde(default)]
    pub cwd: Option<String>,
}

fn default_health() -> String {
    "/health".to_string()
}

fn default_startup_timeout() -> u64 {
    120
}
