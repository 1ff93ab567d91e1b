//! The service under test as one test sees it: [`Service`], its base URL and a client
//! whose requests carry the test id; and [`pick`], which configured service a test gets.

use super::process::ensure_with;
use super::SERVICE_ENV;
use crate::config_cache::config_for;
use crate::context::RecordingContext;
use crate::error::{Error, Result, SetupProblem};
use crate::proxy::TEST_ID_HEADER;
use crate::registry::Registry;
use recorder_config::{Config, ServiceConfig};
use std::path::Path;

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
            Error::Setup(SetupProblem::NoConfigForService {
                start: start_dir.to_path_buf(),
            })
        })?;
        Service::for_test(ctx, &config, name, None)
    }

    /// The service a test gets from `config` (`name`, else
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
        Registry::global().register(ctx.scope());
        let running = ensure_with(config, root, ctx.scope().vars())?;
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
    let known = || config.services.keys().cloned().collect::<Vec<_>>();
    if let Some(name) = name {
        return config.services.get(name).ok_or_else(|| {
            Error::Setup(SetupProblem::UnknownService {
                name: name.to_owned(),
                config: config.path.clone(),
                known: known(),
            })
        });
    }
    if let Some(service) = suite.and_then(|s| config.services.get(s)) {
        return Ok(service);
    }
    let mut all = config.services.values();
    match (all.next(), all.next()) {
        (Some(only), None) => Ok(only),
        (None, _) => Err(Error::Setup(SetupProblem::NoServices {
            config: config.path.clone(),
        })),
        (Some(_), Some(_)) => Err(Error::Setup(SetupProblem::SeveralServices {
            config: config.path.clone(),
            known: known(),
            var: SERVICE_ENV,
        })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    fn config(text: &str) -> Config {
        Config::parse(text, Path::new("/p/recorder.toml")).unwrap()
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
