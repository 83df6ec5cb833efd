//! Validated watcher options: engine, endpoint, retry policy, call timeout.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// The default Docker endpoint when neither the caller nor `DOCKER_HOST` names one.
pub const DEFAULT_DOCKER_ENDPOINT: &str = "unix:///var/run/docker.sock";
/// Default first retry delay.
pub const DEFAULT_BACKOFF_INITIAL: Duration = Duration::from_millis(500);
/// Default cap of one retry delay.
pub const DEFAULT_BACKOFF_MAX: Duration = Duration::from_secs(30);
/// Default bound of every engine call.
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// Which engine to watch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EngineKind {
    Docker,
}

/// How to retry after the engine was unreachable or the event stream broke.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backoff {
    /// Never retry: the first failure ends the watch.
    None,
    /// Retry every `interval`.
    Constant { interval: Duration },
    /// Retry after `initial`, growing by 1.5 with jitter up to `max`.
    Exponential { initial: Duration, max: Duration },
}

/// A parsed engine endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// A unix socket path.
    Unix(PathBuf),
    /// `host:port` over plain HTTP.
    Tcp(String),
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Unix(p) => write!(f, "unix://{}", p.display()),
            Endpoint::Tcp(hp) => write!(f, "tcp://{hp}"),
        }
    }
}

/// Everything a watcher needs to know, already validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    pub engine: EngineKind,
    pub endpoint: Endpoint,
    pub backoff: Backoff,
    /// Give up after this long without a healthy sync; `None` = never.
    pub max_elapsed: Option<Duration>,
    /// Bound of every engine call except the long-lived event stream.
    pub call_timeout: Duration,
}

/// Why options were refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidOption(pub String);

impl fmt::Display for InvalidOption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for InvalidOption {}

/// Parses a Docker endpoint: `unix://PATH`, `tcp://HOST:PORT` or `http://HOST:PORT`.
pub fn parse_docker_endpoint(s: &str) -> Result<Endpoint, InvalidOption> {
    let unsupported = |why: &str| {
        InvalidOption(format!(
            "unsupported Docker endpoint {s:?}: {why}; expected unix:///PATH, tcp://HOST:PORT or http://HOST:PORT"
        ))
    };
    if let Some(path) = s.strip_prefix("unix://") {
        if path.is_empty() {
            return Err(unsupported("empty socket path"));
        }
        if !path.starts_with('/') {
            return Err(unsupported("socket path must be absolute"));
        }
        return Ok(Endpoint::Unix(PathBuf::from(path)));
    }
    let hostport = s
        .strip_prefix("tcp://")
        .or_else(|| s.strip_prefix("http://"))
        .ok_or_else(|| unsupported("unknown scheme"))?;
    let hostport = hostport.strip_suffix('/').unwrap_or(hostport);
    if hostport.is_empty() || hostport.contains('/') || hostport.chars().any(char::is_whitespace) {
        return Err(unsupported("expected HOST:PORT after the scheme"));
    }
    Ok(Endpoint::Tcp(hostport.to_string()))
}

/// Resolves the Docker endpoint: the explicit one, else `DOCKER_HOST`, else the default.
pub fn docker_endpoint(explicit: Option<&str>) -> Result<Endpoint, InvalidOption> {
    match explicit {
        Some(s) => parse_docker_endpoint(s),
        None => match std::env::var("DOCKER_HOST") {
            Ok(s) if !s.is_empty() => parse_docker_endpoint(&s)
                .map_err(|e| InvalidOption(format!("from DOCKER_HOST: {e}"))),
            _ => parse_docker_endpoint(DEFAULT_DOCKER_ENDPOINT),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_docker_endpoints() {
        assert_eq!(
            parse_docker_endpoint("unix:///run/d.sock").unwrap(),
            Endpoint::Unix("/run/d.sock".into())
        );
        assert_eq!(parse_docker_endpoint("tcp://127.0.0.1:2375").unwrap(), Endpoint::Tcp("127.0.0.1:2375".into()));
        assert_eq!(parse_docker_endpoint("http://h:1/").unwrap(), Endpoint::Tcp("h:1".into()));
        for bad in ["", "ssh://x", "unix://", "unix://rel/path", "tcp://", "/var/run/docker.sock", "npipe:////./pipe/x", "tcp://a b:1", "tcp://h:1/x"] {
            let e = parse_docker_endpoint(bad).unwrap_err();
            assert!(e.0.contains(&format!("{bad:?}")), "{e}");
        }
    }

    #[test]
    fn endpoint_displays_as_url() {
        assert_eq!(Endpoint::Unix("/a".into()).to_string(), "unix:///a");
        assert_eq!(Endpoint::Tcp("h:1".into()).to_string(), "tcp://h:1");
    }
}
