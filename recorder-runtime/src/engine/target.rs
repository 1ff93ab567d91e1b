//! Where requests go in record and live modes, how the API key reaches it, and what
//! identity ignores: a setup of `recorder.toml`, as the engine uses it.
//!
//! A request goes to the model API (`base_url`, or the longest matching `routes`
//! prefix) with the setup's key, auth and headers, unless its endpoint is
//! `/up/NAME/...`: then it goes to the setup's upstream `NAME` (`upstreams` in
//! `recorder.toml`), `/up/NAME` + rest to the upstream's URL + rest, with that
//! upstream's own key, auth and headers and nothing of the setup's. The endpoint that
//! is hashed and stored stays `/up/NAME/...`: moving a server changes no recording.

use crate::error::{Error, Result, RoutingProblem, SetupProblem, UnknownUpstream};
pub use recorder_config::{Auth, Upstream};
use std::collections::BTreeMap;

/// The path prefix of a named upstream's endpoints: `/up/NAME/...`.
pub const UPSTREAM_PREFIX: &str = "/up/";

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
    /// Further upstreams by name, reached at `/up/NAME/...` (see [the module docs](self)).
    pub upstreams: BTreeMap<String, Upstream>,
}

/// Where one request goes: which upstream, and the key and headers that go with it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Route<'a> {
    /// The named upstream, `None` for the model API (`base_url` and `routes`).
    pub(crate) upstream: Option<&'a str>,
    /// The variable holding the key.
    pub(crate) api_key_env: Option<&'a str>,
    /// How the key is sent.
    pub(crate) auth: &'a Auth,
    /// Headers added to the request.
    pub(crate) headers: &'a BTreeMap<String, String>,
}

/// The upstream name of an `/up/NAME/...` endpoint and the rest after it (`/...`,
/// `?...` or empty); `None` for any other endpoint.
fn split_upstream(endpoint: &str) -> Option<(&str, &str)> {
    let rest = endpoint.strip_prefix(UPSTREAM_PREFIX)?;
    Some(rest.split_at(rest.find(['/', '?']).unwrap_or(rest.len())))
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
            upstreams: setup.upstreams.clone(),
        }
    }

    /// The upstream called `name`; an unknown name is an error naming this setup's
    /// upstreams and how to add one.
    ///
    /// ```
    /// use recorder_runtime::engine::{Target, Upstream};
    /// let t = Target {
    ///     setup: Some("agent".into()),
    ///     upstreams: [("mcp".to_string(), Upstream::new("http://127.0.0.1:8931/mcp"))].into(),
    ///     ..Default::default()
    /// };
    /// assert_eq!(t.upstream("mcp").unwrap().url, "http://127.0.0.1:8931/mcp");
    /// let err = t.upstream("search").unwrap_err().to_string();
    /// assert!(err.contains("no upstream `search` in setup `agent`: it names `mcp`"), "{err}");
    /// ```
    pub fn upstream(&self, name: &str) -> Result<&Upstream> {
        self.upstreams
            .get(name)
            .ok_or_else(|| Error::Setup(SetupProblem::UnknownUpstream(self.unknown_upstream(name))))
    }

    fn unknown_upstream(&self, name: &str) -> UnknownUpstream {
        UnknownUpstream {
            name: name.to_owned(),
            setup: self.setup.clone(),
            known: self.upstreams.keys().cloned().collect(),
        }
    }

    /// Where `endpoint` goes: the named upstream of an `/up/NAME/...` endpoint (an
    /// unknown name is an [`Error::Routing`] naming the setup's upstreams), else the
    /// model API.
    pub(crate) fn route(&self, endpoint: &str) -> Result<Route<'_>> {
        Ok(match split_upstream(endpoint) {
            Some((name, _)) => {
                // A request to an upstream the setup lacks is a routing error (400),
                // as a path outside any test is.
                let (name, up) = self.upstreams.get_key_value(name).ok_or_else(|| {
                    Error::Routing(RoutingProblem::UnknownUpstream(self.unknown_upstream(name)))
                })?;
                Route {
                    upstream: Some(name),
                    api_key_env: up.api_key_env.as_deref(),
                    auth: &up.auth,
                    headers: &up.headers,
                }
            }
            None => Route {
                upstream: None,
                api_key_env: self.api_key_env.as_deref(),
                auth: &self.auth,
                headers: &self.headers,
            },
        })
    }

    /// The key of a route, `(variable, value)`, when its variable is set.
    pub(crate) fn key_of(&self, route: &Route<'_>) -> Option<(String, String)> {
        let var = route.api_key_env?;
        self.vars().api_key(var).map(|v| (var.to_owned(), v))
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
    ///
    /// An `/up/NAME` endpoint goes to upstream `NAME`'s URL + the rest (a URL ending in
    /// `/` is joined with one `/`):
    ///
    /// ```
    /// use recorder_runtime::engine::{Target, Upstream};
    /// let t = Target {
    ///     upstreams: [("mcp".to_string(), Upstream::new("http://127.0.0.1:8931/mcp"))].into(),
    ///     ..Default::default()
    /// };
    /// assert_eq!(t.upstream_url("/up/mcp").unwrap(), "http://127.0.0.1:8931/mcp");
    /// assert_eq!(t.upstream_url("/up/mcp/").unwrap(), "http://127.0.0.1:8931/mcp/");
    /// assert_eq!(t.upstream_url("/up/mcp/x?a=1").unwrap(), "http://127.0.0.1:8931/mcp/x?a=1");
    /// assert!(t.upstream_url("/up/search/x").is_err());
    /// ```
    pub fn upstream_url(&self, endpoint: &str) -> Result<String> {
        if let Some((name, rest)) = split_upstream(endpoint) {
            let url = &self.upstream(name)?.url;
            return Ok(match rest.strip_prefix('/') {
                Some(_) => format!("{}{rest}", url.trim_end_matches('/')),
                None => format!("{url}{rest}"),
            });
        }
        let path = endpoint.split('?').next().unwrap_or(endpoint);
        let routed = self
            .routes
            .iter()
            .filter(|(prefix, _)| path.starts_with(prefix.as_str()))
            .max_by_key(|(prefix, _)| prefix.len())
            .map(|(_, url)| url.as_str());
        let base = routed.or(self.base_url.as_deref()).ok_or_else(|| {
            Error::Setup(SetupProblem::NoBaseUrl {
                endpoint: endpoint.to_owned(),
                setup: self.setup.clone(),
            })
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

    /// The secrets to keep off disk: the values of the setup's key and of every
    /// upstream's key whose variable is set, and the credentials `RECORDER_ENV` and the
    /// setup's `env` carry ([`crate::secrets::credentials_given`]).
    ///
    /// ```
    /// use recorder_runtime::engine::{Target, Upstream};
    /// let search = Upstream { api_key_env: Some("SEARCH_KEY".into()), ..Upstream::new("https://s") };
    /// let t = Target {
    ///     api_key_env: Some("MODEL_KEY".into()),
    ///     upstreams: [("search".to_string(), search)].into(),
    ///     env: [("MODEL_KEY".to_string(), "sk-model-0123456789".to_string()),
    ///           ("SEARCH_KEY".to_string(), "tvly-search-0123456789".to_string())].into(),
    ///     ..Default::default()
    /// };
    /// if std::env::var_os("RECORDER_ENV").is_none() && std::env::var_os("MODEL_KEY").is_none() && std::env::var_os("SEARCH_KEY").is_none() {
    ///     assert_eq!(t.secrets(), [
    ///         ("MODEL_KEY".to_string(), "sk-model-0123456789".to_string()),
    ///         ("SEARCH_KEY".to_string(), "tvly-search-0123456789".to_string()),
    ///     ]);
    /// }
    /// ```
    pub fn secrets(&self) -> Vec<(String, String)> {
        let upstreams = self.upstreams.values().map(|u| &u.api_key_env);
        let mut out: Vec<(String, String)> = Vec::new();
        for var in std::iter::once(&self.api_key_env)
            .chain(upstreams)
            .flatten()
        {
            if !out.iter().any(|(v, _)| v == var) {
                out.extend(self.vars().api_key(var).map(|value| (var.clone(), value)));
            }
        }
        for (var, value) in crate::secrets::credentials_given(&self.vars()) {
            if !out.iter().any(|(_, v)| *v == value) {
                out.push((var, value));
            }
        }
        out
    }

    /// The query parameter the setup's key goes in, when the setup sends it that way.
    pub fn auth_query(&self) -> Option<&str> {
        query_param(&self.auth)
    }

    /// The query parameter the key of `endpoint`'s upstream goes in (the named
    /// upstream's for `/up/NAME/...`, else the setup's), when it is sent that way.
    pub fn auth_query_for(&self, endpoint: &str) -> Option<&str> {
        match split_upstream(endpoint) {
            Some((name, _)) => query_param(&self.upstreams.get(name)?.auth),
            None => self.auth_query(),
        }
    }
}

fn query_param(auth: &Auth) -> Option<&str> {
    match auth {
        Auth::Query(name) => Some(name),
        _ => None,
    }
}
