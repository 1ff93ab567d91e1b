//! A setup's further upstreams, `upstreams = { mcp = "...", search = { url = ... } }`:
//! the servers a test talks to besides the model API of `base_url` (MCP servers, tool
//! APIs, a second provider), each with its own key, auth and headers.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;

use crate::setup::{check_url, headers_problem};
use crate::{is_env_name, Auth};

/// One upstream of a setup: `NAME = "URL"` (no key), or
/// `NAME = { url = "...", api_key_env = "VAR", auth = ..., headers = { ... } }` with the
/// same `auth` forms as a setup's (`"bearer"`, the default, `{ header = "x-api-key" }`,
/// `{ query = "key" }`).
///
/// A test reaches upstream `NAME` at its own URL (`ctx.upstream_url("NAME")` in the
/// runtime); the recorder sends `/up/NAME` + the rest of the path to `url` + the rest,
/// with this upstream's key and headers only, never the setup's.
///
/// ```
/// # use std::path::Path;
/// use recorder_config::{Auth, Upstream};
/// let config = recorder_config::Config::parse(
///     r#"
///     [setups.agent]
///     base_url = "http://127.0.0.1:8080/v1"
///     upstreams = { mcp = "http://127.0.0.1:8931/mcp", search = { url = "https://api.tavily.com", api_key_env = "TAVILY_API_KEY", auth = { header = "x-api-key" } } }
///     "#,
///     Path::new("recorder.toml"),
/// )?;
/// let agent = config.setup("agent")?;
/// assert_eq!(agent.upstreams["mcp"], Upstream::new("http://127.0.0.1:8931/mcp"));
/// let search = &agent.upstreams["search"];
/// assert_eq!(search.api_key_env.as_deref(), Some("TAVILY_API_KEY"));
/// assert_eq!(search.auth, Auth::Header("x-api-key".into()));
/// # Ok::<(), recorder_config::ConfigError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Upstream {
    /// Where `/up/NAME` goes, e.g. `http://127.0.0.1:8931/mcp`.
    pub url: String,
    /// The variable holding this upstream's key, e.g. `TAVILY_API_KEY`.
    pub api_key_env: Option<String>,
    /// How that key is sent.
    pub auth: Auth,
    /// Headers added to every request sent to this upstream (never stored).
    pub headers: BTreeMap<String, String>,
}

impl Upstream {
    /// An upstream at `url`, without a key or headers.
    ///
    /// ```
    /// let up = recorder_config::Upstream::new("http://127.0.0.1:8931/mcp");
    /// assert_eq!(up.api_key_env, None);
    /// ```
    pub fn new(url: impl Into<String>) -> Self {
        Upstream {
            url: url.into(),
            ..Default::default()
        }
    }

    /// What is wrong with this entry, if anything: the key inside it (`url`,
    /// `api_key_env`, `headers`, `headers.<name>`) and the message.
    pub(crate) fn problem(&self) -> Option<(Vec<&str>, String)> {
        if let Err(message) = check_url(&self.url) {
            return Some((vec!["url"], message));
        }
        if let Some(var) = &self.api_key_env {
            if !is_env_name(var) {
                return Some((vec!["api_key_env"], format!(
                    "`{var}` is not a variable name: use letters, digits and _, not starting with a digit, e.g. TAVILY_API_KEY"
                )));
            }
        }
        headers_problem(&self.headers, &self.auth)
    }
}

/// Whether `name` can name an upstream: letters, digits, `-` and `_` (it becomes a
/// path segment, `/up/NAME/`).
///
/// ```
/// assert!(recorder_config::is_upstream_name("mcp"));
/// assert!(recorder_config::is_upstream_name("web-search_2"));
/// assert!(!recorder_config::is_upstream_name("a/b"));
/// assert!(!recorder_config::is_upstream_name(""));
/// ```
pub fn is_upstream_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The table form, read with the setup's own rules (unknown keys are errors).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Table {
    url: String,
    #[serde(default)]
    api_key_env: Option<String>,
    #[serde(default)]
    auth: Auth,
    #[serde(default)]
    headers: BTreeMap<String, String>,
}

impl<'de> Deserialize<'de> for Upstream {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct UpstreamVisitor;
        impl<'de> Visitor<'de> for UpstreamVisitor {
            type Value = Upstream;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a URL, or a table { url = \"...\", api_key_env = \"VAR\", auth = ..., headers = { ... } }")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Upstream, E> {
                Ok(Upstream::new(v))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Upstream, A::Error> {
                let t = Table::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(Upstream {
                    url: t.url,
                    api_key_env: t.api_key_env,
                    auth: t.auth,
                    headers: t.headers,
                })
            }
        }
        deserializer.deserialize_any(UpstreamVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Config;
    use std::path::Path;

    fn parse(text: &str) -> Result<Config, String> {
        Config::parse(text, Path::new("/proj/recorder.toml")).map_err(|e| e.to_string())
    }

    #[test]
    fn a_url_or_a_table_each_with_its_own_key_auth_and_headers() {
        let config = parse(
            r#"
[setups.agent]
base_url = "http://127.0.0.1:8080/v1"
api_key_env = "OPENAI_API_KEY"
headers = { "openai-beta" = "x" }
upstreams = { mcp = "http://127.0.0.1:8931/mcp", search = { url = "https://api.tavily.com", api_key_env = "TAVILY_API_KEY", auth = { header = "X-Api-Key" }, headers = { "x-client" = "rec" } } }

[setups.sections.upstreams.maps]
url = "https://maps.example/v1"
api_key_env = "MAPS_KEY"
auth = { query = "key" }

[setups.plain]
"#,
        )
        .unwrap();
        let agent = config.setup("agent").unwrap();
        assert_eq!(
            agent.upstreams.keys().collect::<Vec<_>>(),
            ["mcp", "search"]
        );
        assert_eq!(
            agent.upstreams["mcp"],
            Upstream::new("http://127.0.0.1:8931/mcp")
        );
        let search = &agent.upstreams["search"];
        assert_eq!(search.url, "https://api.tavily.com");
        assert_eq!(search.auth, Auth::Header("x-api-key".into()));
        assert_eq!(search.headers["x-client"], "rec");
        let maps = &config.setup("sections").unwrap().upstreams["maps"];
        assert_eq!(maps.auth, Auth::Query("key".into()));
        assert_eq!(maps.api_key_env.as_deref(), Some("MAPS_KEY"));
        // The setup's own key and headers stay the model API's.
        assert_eq!(agent.api_key_env.as_deref(), Some("OPENAI_API_KEY"));
        assert_eq!(agent.headers.len(), 1);
        assert_eq!(agent.key_vars(), ["OPENAI_API_KEY", "TAVILY_API_KEY"]);
        assert!(config.setup("plain").unwrap().upstreams.is_empty());
    }

    #[test]
    fn mistakes_name_the_file_line_and_key() {
        let cases = [
            (
                "[setups.a]\nupstreams = { \"my mcp\" = \"http://h/mcp\" }",
                "invalid /proj/recorder.toml:2: `setups.a.upstreams.\"my mcp\"`: `my mcp` cannot name an upstream: use letters, digits, - and _",
            ),
            (
                "[setups.a]\n\n[setups.a.upstreams]\nmcp = \"127.0.0.1:8931/mcp\"",
                "invalid /proj/recorder.toml:4: `setups.a.upstreams.mcp.url`: `127.0.0.1:8931/mcp` is not an http:// or https:// URL",
            ),
            (
                "[setups.a]\nupstreams = { s = { url = \"https://s\", api_key_env = \"TAVILY-KEY\" } }",
                "invalid /proj/recorder.toml:2: `setups.a.upstreams.s.api_key_env`: `TAVILY-KEY` is not a variable name",
            ),
            (
                "[setups.a.upstreams.s]\nurl = \"https://s\"\nheaders = { \"bad header\" = \"v\" }",
                "invalid /proj/recorder.toml:3: `setups.a.upstreams.s.headers`: `bad header` is not an HTTP header name",
            ),
            (
                "[setups.a.upstreams.s]\nurl = \"https://s\"\nauth = { header = \"x key\" }",
                "invalid /proj/recorder.toml:3: `setups.a.upstreams.s.auth`: `x key` is not an HTTP header name",
            ),
            (
                "[setups.a.upstreams.s]\nurl = \"https://s\"\nheaders = { x-a = \"1\\r\\nx-b: 2\" }",
                "invalid /proj/recorder.toml:3: `setups.a.upstreams.s.headers.x-a`: a header value cannot hold a line break",
            ),
        ];
        for (text, want) in cases {
            let msg = parse(text).unwrap_err();
            assert!(
                msg.starts_with(want),
                "{text}\n  got:  {msg}\n  want: {want}"
            );
        }
        // What serde refuses: the parser's message, with the line and the key.
        let msg =
            parse("[setups.a.upstreams.s]\nurl = \"https://s\"\napi_key = \"K\"").unwrap_err();
        assert!(
            msg.contains("api_key") && msg.contains("api_key_env") && msg.contains("line 3"),
            "{msg}"
        );
        let msg = parse("[setups.a.upstreams.s]\napi_key_env = \"K\"").unwrap_err();
        assert!(msg.contains("missing field `url`"), "{msg}");
        let msg = parse("[setups.a]\nupstreams = { s = 1 }").unwrap_err();
        assert!(msg.contains("a URL, or a table"), "{msg}");
        let msg =
            parse("[setups.a.upstreams.s]\nurl = \"https://s\"\nauth = \"basic\"").unwrap_err();
        assert!(msg.contains("`bearer`, `{ header"), "{msg}");
    }
}
