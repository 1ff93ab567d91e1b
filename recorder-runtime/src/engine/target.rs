//! Where requests go in record and live modes, how the API key reaches it, and what
//! identity ignores: a setup of `recorder.toml`, as the engine uses it.

use crate::error::{Error, Result};
pub use recorder_config::Auth;
use std::collections::BTreeMap;

/// Where requests go in record and live modes, and what identity ignores.
///
/// ```
/// use recorder_runtime::engine::{Auth, Target};
/// let t = Target {
///     base_url: Some("https://api.anthropic.com/v1".into()),
///     api_key_env: Some("ANTHROPIC_API_KEY".into()),
///     auth: Auth::Header("x-api-key".into()),
///     headers: [("anthropic-version".to_string(), "2023-06-01".to_string())].into(),
///     ..Default::default()
/// };
/// assert_eq!(t.upstream_url("/v1/messages").unwrap(), "https://api.anthropic.com/v1/messages");
/// ```
#[derive(Debug, Clone, Default)]
pub struct Target {
    /// The setup's name, for messages.
    pub setup: Option<String>,
    /// The real API's base URL, e.g. `http://127.0.0.1:8080/v1`.
    pub base_url: Option<String>,
    /// Endpoint prefix -> base URL, longest prefix wins.
    pub routes: Vec<(String, String)>,
    /// The variable that holds the real API key.
    pub api_key_env: Option<String>,
    /// How the key is sent.
    pub auth: Auth,
    /// Headers added to every upstream request (never stored).
    pub headers: BTreeMap<String, String>,
    /// Body fields left out of identity.
    pub ignore_fields: Vec<String>,
    /// How far apart floats may be for a recording made again to keep the file on
    /// disk (see [`crate::tolerance`]).
    pub tolerance: crate::tolerance::Tolerance,
    /// The setup's `env`: defaults for every variable read on behalf of this target's
    /// tests, below the process environment and `RECORDER_ENV` (see [`Target::vars`]).
    pub env: BTreeMap<String, String>,
}

impl Target {
    /// The target of a `recorder.toml` setup.
    pub fn from_setup(setup: &recorder_config::Setup) -> Self {
        Target {
            setup: Some(setup.name.clone()),
            base_url: setup.base_url.clone(),
            routes: setup
                .routes
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            api_key_env: setup.api_key_env.clone(),
            auth: setup.auth.clone(),
            headers: setup.headers.clone(),
            ignore_fields: setup.ignore_fields.clone(),
            tolerance: setup.tolerance,
            env: setup.env.clone(),
        }
    }

    /// The variables as this target's tests see them: the process environment, over
    /// `RECORDER_ENV`, over the setup's `env` (see [`crate::env`]).
    ///
    /// ```
    /// use recorder_runtime::engine::Target;
    /// let t = Target {
    ///     setup: Some("local".into()),
    ///     env: [("MY_SERVER_URL".to_string(), "http://127.0.0.1:9".to_string())].into(),
    ///     ..Default::default()
    /// };
    /// if std::env::var_os("MY_SERVER_URL").is_none() && std::env::var_os("RECORDER_ENV").is_none() {
    ///     assert_eq!(t.vars().var("MY_SERVER_URL").as_deref(), Some("http://127.0.0.1:9"));
    /// }
    /// ```
    pub fn vars(&self) -> crate::env::Vars {
        crate::env::Vars::for_setup(self.setup.as_deref(), &self.env)
    }

    /// The upstream URL of an endpoint: its route's (or the base URL's) root + the
    /// endpoint. A base URL ending in `/v1` names the server whose root serves both
    /// `/v1/...` endpoints and Ollama's own `/api/...` ones.
    ///
    /// ```
    /// use recorder_runtime::engine::Target;
    /// let t = Target { base_url: Some("http://h:8080/v1".into()), ..Default::default() };
    /// assert_eq!(t.upstream_url("/v1/chat/completions").unwrap(), "http://h:8080/v1/chat/completions");
    /// assert_eq!(t.upstream_url("/api/chat").unwrap(), "http://h:8080/api/chat");
    /// ```
    pub fn upstream_url(&self, endpoint: &str) -> Result<String> {
        let path = endpoint.split('?').next().unwrap_or(endpoint);
        let routed = self
            .routes
            .iter()
            .filter(|(prefix, _)| path.starts_with(prefix.as_str()))
            .max_by_key(|(prefix, _)| prefix.len())
            .map(|(_, url)| url.as_str());
        let base = routed.or(self.base_url.as_deref()).ok_or_else(|| {
            Error::Setup(format!(
                "no upstream for {endpoint}: the setup {} has no base_url. Set one in recorder.toml or choose another setup with RECORDER_SETUP",
                self.setup.as_deref().unwrap_or("(none)")
            ))
        })?;
        let base = base.trim_end_matches('/');
        let root = match base.strip_suffix("/v1") {
            Some(root)
                if ["/v1", "/api"]
                    .iter()
                    .any(|p| path == *p || path.starts_with(&format!("{p}/"))) =>
            {
                root
            }
            _ => base,
        };
        Ok(format!("{root}{endpoint}"))
    }

    /// The configured API key, `(variable, value)`, when its variable is set.
    pub fn api_key(&self) -> Option<(String, String)> {
        let var = self.api_key_env.as_ref()?;
        self.vars().api_key(var).map(|v| (var.clone(), v))
    }

    /// The secrets to keep off disk: the API key's value, if the variable is set, and
    /// the credentials `RECORDER_ENV` and the setup's `env` carry
    /// ([`crate::secrets::credentials_given`]).
    pub fn secrets(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = self.api_key().into_iter().collect();
        for (var, value) in crate::secrets::credentials_given(&self.vars()) {
            if !out.iter().any(|(_, v)| *v == value) {
                out.push((var, value));
            }
        }
        out
    }

    /// The query parameter the key goes in, when the setup sends it that way.
    pub fn auth_query(&self) -> Option<&str> {
        match &self.auth {
            Auth::Query(name) => Some(name),
            _ => None,
        }
    }
}
