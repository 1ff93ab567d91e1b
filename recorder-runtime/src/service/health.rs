//! Whether a service is up: a plain `GET` of its health path over TCP answers 2xx.

use super::error::{Probe, ServiceError, Unhealthy};
use recorder_config::ServiceConfig;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// Where a health check goes: host, port and the request path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct HealthAt {
    host: String,
    port: u16,
    path: String,
}

impl HealthAt {
    pub(super) fn loopback(port: u16, health: &str) -> HealthAt {
        HealthAt {
            host: "127.0.0.1".into(),
            port,
            path: health.to_owned(),
        }
    }

    /// `http://host[:port][/prefix]` + `health`.
    pub(super) fn from_url(url: &str, health: &str) -> Result<HealthAt, ServiceError> {
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| ServiceError::NotHttp {
                url: url.to_owned(),
            })?;
        let (authority, prefix) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
            None => (rest, ""),
        };
        let (host, port) = match authority.rsplit_once(':') {
            Some((host, port)) if !port.contains(']') => (
                host,
                port.parse::<u16>().map_err(|_| ServiceError::BadPort {
                    url: url.to_owned(),
                })?,
            ),
            _ => (authority, 80),
        };
        Ok(HealthAt {
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned(),
            port,
            path: format!("{prefix}{health}"),
        })
    }

    fn describe(&self) -> String {
        if self.host.contains(':') {
            format!("http://[{}]:{}{}", self.host, self.port, self.path)
        } else {
            format!("http://{}:{}{}", self.host, self.port, self.path)
        }
    }
}

pub(super) fn wait_healthy(
    config: &ServiceConfig,
    at: &HealthAt,
    deadline: Instant,
    mut child: Option<&mut std::process::Child>,
) -> Result<(), Unhealthy> {
    loop {
        if let Some(child) = child.as_deref_mut() {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(Unhealthy::Exited {
                    status: status.to_string(),
                    health: config.health.clone(),
                });
            }
        }
        let last = match health(at) {
            Ok(status) if (200..300).contains(&status) => return Ok(()),
            Ok(status) => Probe::Status {
                path: at.path.clone(),
                status,
            },
            Err(e) => e,
        };
        if Instant::now() > deadline {
            return Err(Unhealthy::TimedOut {
                url: at.describe(),
                secs: config.startup_timeout_secs,
                last,
            });
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub(super) fn port_open(port: u16) -> bool {
    TcpStream::connect_timeout(
        &SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_millis(500),
    )
    .is_ok()
}

/// `GET path` at `at`; the status code.
fn health(at: &HealthAt) -> Result<u16, Probe> {
    use std::net::ToSocketAddrs;
    let addr = (at.host.as_str(), at.port)
        .to_socket_addrs()
        .map_err(|e| Probe::Unresolved {
            host: at.host.clone(),
            reason: e.to_string(),
        })?
        .next()
        .ok_or_else(|| Probe::NoAddress {
            host: at.host.clone(),
        })?;
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_millis(500)).map_err(io)?;
    stream
        .set_read_timeout(Some(Duration::from_secs(2)))
        .map_err(io)?;
    let host = if at.host.contains(':') {
        format!("[{}]", at.host)
    } else {
        at.host.clone()
    };
    write!(
        stream,
        "GET {} HTTP/1.1\r\nHost: {host}:{}\r\nConnection: close\r\n\r\n",
        at.path, at.port
    )
    .map_err(io)?;
    let mut head = [0u8; 64];
    let mut n = 0;
    while n < 12 {
        match stream.read(&mut head[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) => return Err(io(e)),
        }
    }
    let line = String::from_utf8_lossy(&head[..n]);
    line.split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| Probe::NotHttp(line.to_string()))
}

fn io(e: std::io::Error) -> Probe {
    Probe::Io(e.to_string())
}
