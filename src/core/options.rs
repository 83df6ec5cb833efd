//! Validated watcher options: engine, endpoint, retry policy, call timeout.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// The default Docker endpoint when neither the caller nor `DOCKER_HOST` names one.
pub const DEFAULT_DOCKER_ENDPOINT: &str = "unix:///var/run/docker.sock";
/// The default containerd socket when neither the caller nor `CONTAINERD_ADDRESS` names one.
pub const DEFAULT_CONTAINERD_SOCKET: &str = "/run/containerd/containerd.sock";
/// Default first retry delay.
pub const DEFAULT_BACKOFF_INITIAL: Duration = Duration::from_millis(500);
/// Default cap of one retry delay.
pub const DEFAULT_BACKOFF_MAX: Duration = Duration::from_secs(30);
/// Default bound of every engine call.
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// Default audit interval.
pub const DEFAULT_AUDIT_INTERVAL: Duration = Duration::from_secs(60);
/// Default interval of discovery for a watcher of all engines.
pub const DEFAULT_DISCOVER_INTERVAL: Duration = Duration::from_secs(10);
/// How long one discovery probe may take.
pub const DISCOVER_PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// Default relist interval of engines without events (kubelet's own).
pub const DEFAULT_RELIST_INTERVAL: Duration = Duration::from_secs(1);
/// podman's socket when running as root.
pub const DEFAULT_PODMAN_ROOT_SOCKET: &str = "/run/podman/podman.sock";

/// Which engine to watch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EngineKind {
    Docker,
    Containerd,
    Podman,
    Cri,
    /// Every engine discovery finds, and later finds.
    Auto,
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
    /// `host:port` over HTTPS, with client certificates (Docker's TLS).
    Tls(String),
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Unix(p) => write!(f, "unix://{}", p.display()),
            Endpoint::Tcp(hp) => write!(f, "tcp://{hp}"),
            Endpoint::Tls(hp) => write!(f, "https://{hp}"),
        }
    }
}

/// The files of a Docker TLS connection, as the docker CLI takes them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsFiles {
    /// The CA that signed the daemon's certificate.
    pub ca: PathBuf,
    /// The client's certificate and key.
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Turns a Docker endpoint into a TLS one where the caller or the
/// environment asks for TLS, the way the docker CLI does: an `https://`
/// endpoint, any of the three files given, or `DOCKER_TLS_VERIFY` set (for
/// a `tcp://` endpoint). Files not given come from `DOCKER_CERT_PATH`, else
/// `~/.docker`: `ca.pem`, `cert.pem`, `key.pem`.
pub fn docker_tls(
    endpoint: Endpoint,
    ca: Option<&str>,
    cert: Option<&str>,
    key: Option<&str>,
) -> Result<(Endpoint, Option<TlsFiles>), InvalidOption> {
    let given = ca.is_some() || cert.is_some() || key.is_some();
    let verify_env = std::env::var("DOCKER_TLS_VERIFY").is_ok_and(|v| !v.is_empty());
    let endpoint = match endpoint {
        Endpoint::Unix(_) if given => {
            return Err(InvalidOption(format!(
                "TLS files given for {endpoint}: TLS needs a tcp:// or https:// endpoint"
            )))
        }
        Endpoint::Unix(_) => return Ok((endpoint, None)),
        Endpoint::Tcp(hp) if given || verify_env => Endpoint::Tls(hp),
        Endpoint::Tcp(_) => return Ok((endpoint, None)),
        Endpoint::Tls(hp) => Endpoint::Tls(hp),
    };
    let dir = match std::env::var("DOCKER_CERT_PATH") {
        Ok(d) if !d.is_empty() => PathBuf::from(d),
        _ => PathBuf::from(std::env::var("HOME").unwrap_or_else(|_| "/root".into())).join(".docker"),
    };
    let pick = |given: Option<&str>, name: &str| given.map(PathBuf::from).unwrap_or_else(|| dir.join(name));
    Ok((endpoint, Some(TlsFiles { ca: pick(ca, "ca.pem"), cert: pick(cert, "cert.pem"), key: pick(key, "key.pem") })))
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
    /// containerd namespaces not to watch.
    pub ignored_namespaces: Vec<String>,
    /// How often engines without events are listed again (CRI runtimes,
    /// podman without an event log).
    pub relist_interval: Duration,
    /// CRI: follow `GetContainerEvents` too, where the runtime has it.
    pub cri_events: bool,
    /// `Auto`: how often discovery runs again (`None`: only at start).
    pub discover_interval: Option<Duration>,
    /// Docker over TLS: the files (set exactly for `Endpoint::Tls`).
    pub tls: Option<TlsFiles>,
    /// How often a synchronised engine is audited (`None`: never).
    pub audit_interval: Option<Duration>,
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

/// Parses a Docker endpoint: `unix://PATH`, `tcp://HOST:PORT`,
/// `http://HOST:PORT` or `https://HOST:PORT`.
pub fn parse_docker_endpoint(s: &str) -> Result<Endpoint, InvalidOption> {
    let unsupported = |why: &str| {
        InvalidOption(format!(
            "unsupported Docker endpoint {s:?}: {why}; expected unix:///PATH, tcp://HOST:PORT, http://HOST:PORT or \
             https://HOST:PORT"
        ))
    };
    if let Some(path) = s.strip_prefix("unix://") {
        if path.is_empty() {
            return Err(unsupported("empty socket path"));
        }
        if !path.starts_with('/') {
            return Err(unsupported("socket path must be absolute"));
        }
        if let Some(why) = socket_path_error(path) {
            return Err(unsupported(&why));
        }
        return Ok(Endpoint::Unix(PathBuf::from(path)));
    }
    let (hostport, tls) = match s.strip_prefix("https://") {
        Some(hp) => (hp, true),
        None => (
            s.strip_prefix("tcp://")
                .or_else(|| s.strip_prefix("http://"))
                .ok_or_else(|| unsupported("unknown scheme"))?,
            false,
        ),
    };
    let hostport = hostport.strip_suffix('/').unwrap_or(hostport);
    if !valid_host_port(hostport) {
        return Err(unsupported("expected HOST:PORT after the scheme, with a port from 1 to 65535"));
    }
    Ok(if tls { Endpoint::Tls(hostport.to_string()) } else { Endpoint::Tcp(hostport.to_string()) })
}

/// `s` quoted, cut after 100 characters (an over-long input stays readable).
fn shortened(s: &str) -> String {
    const KEEP: usize = 100;
    match s.char_indices().nth(KEEP) {
        None => format!("{s:?}"),
        Some((cut, _)) => format!("{:?}... ({} bytes)", &s[..cut], s.len()),
    }
}

/// The longest unix socket path the kernel takes (`sun_path` less its NUL).
pub const MAX_SOCKET_PATH: usize = 107;

fn socket_path_error(path: &str) -> Option<String> {
    (path.len() > MAX_SOCKET_PATH).then(|| {
        format!("socket path of {} bytes is longer than the {MAX_SOCKET_PATH} a unix socket takes", path.len())
    })
}

/// `HOST:PORT` with a host name, an IPv4 address or a bracketed IPv6
/// address, and a decimal port from 1 to 65535.
fn valid_host_port(s: &str) -> bool {
    let Some((host, port)) = s.rsplit_once(':') else { return false };
    let port_ok = !port.is_empty()
        && port.len() <= 5
        && port.bytes().all(|b| b.is_ascii_digit())
        && port.parse::<u16>().is_ok_and(|p| p > 0);
    let host_ok = match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        Some(v6) => !v6.is_empty() && v6.bytes().all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.'),
        None => {
            !host.is_empty()
                && host.len() <= 253
                && host.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
        }
    };
    port_ok && host_ok
}

/// Resolves the Docker endpoint: the explicit one, else `DOCKER_HOST`, else the default.
pub fn docker_endpoint(explicit: Option<&str>) -> Result<Endpoint, InvalidOption> {
    match explicit {
        Some(s) => parse_docker_endpoint(s),
        None => match std::env::var("DOCKER_HOST") {
            Ok(s) if !s.is_empty() => {
                parse_docker_endpoint(&s).map_err(|e| InvalidOption(format!("from DOCKER_HOST: {e}")))
            }
            _ => parse_docker_endpoint(DEFAULT_DOCKER_ENDPOINT),
        },
    }
}

/// Resolves the podman endpoint: the explicit one (as for Docker), else
/// `CONTAINER_HOST`, else the service socket of this process's user: root's
/// `/run/podman/podman.sock`, or `$XDG_RUNTIME_DIR/podman/podman.sock`
/// (`/run/user/UID/podman/podman.sock` without `XDG_RUNTIME_DIR`).
pub fn podman_endpoint(explicit: Option<&str>) -> Result<Endpoint, InvalidOption> {
    let parse = |s: &str| {
        // podman serves no TLS of its own: the forms it takes.
        parse_docker_endpoint(s).map_err(|e| {
            InvalidOption(e.0.replacen("Docker endpoint", "podman endpoint", 1).replacen(
                ", http://HOST:PORT or https://HOST:PORT",
                " or http://HOST:PORT",
                1,
            ))
        })
    };
    if let Some(s) = explicit {
        return parse(s);
    }
    if let Ok(s) = std::env::var("CONTAINER_HOST") {
        if !s.is_empty() {
            return parse(&s).map_err(|e| InvalidOption(format!("from CONTAINER_HOST: {e}")));
        }
    }
    use std::os::unix::fs::MetadataExt;
    let uid = std::fs::metadata("/proc/self").map(|m| m.uid()).unwrap_or(0);
    let socket = if uid == 0 {
        DEFAULT_PODMAN_ROOT_SOCKET.to_string()
    } else {
        match std::env::var("XDG_RUNTIME_DIR") {
            Ok(dir) if dir.starts_with('/') => format!("{dir}/podman/podman.sock"),
            _ => format!("/run/user/{uid}/podman/podman.sock"),
        }
    };
    parse_docker_endpoint(&format!("unix://{socket}"))
}

/// CRI-O's socket, the default CRI endpoint.
pub const DEFAULT_CRI_SOCKET: &str = "/run/crio/crio.sock";

/// Resolves a CRI endpoint: the explicit one (a socket path, plain or as
/// `unix://PATH`), else `CONTAINER_RUNTIME_ENDPOINT` (as crictl reads it),
/// else CRI-O's socket.
pub fn cri_endpoint(explicit: Option<&str>) -> Result<Endpoint, InvalidOption> {
    let parse = |s: &str| {
        parse_containerd_endpoint(s).map_err(|e| InvalidOption(e.0.replacen("containerd endpoint", "CRI endpoint", 1)))
    };
    match explicit {
        Some(s) => parse(s),
        None => match std::env::var("CONTAINER_RUNTIME_ENDPOINT") {
            Ok(s) if !s.is_empty() => {
                parse(&s).map_err(|e| InvalidOption(format!("from CONTAINER_RUNTIME_ENDPOINT: {e}")))
            }
            _ => parse(DEFAULT_CRI_SOCKET),
        },
    }
}

/// Parses a containerd endpoint: a socket path, plain or as `unix://PATH`.
pub fn parse_containerd_endpoint(s: &str) -> Result<Endpoint, InvalidOption> {
    let path = s.strip_prefix("unix://").unwrap_or(s);
    if !path.starts_with('/') || path.contains("://") {
        return Err(InvalidOption(format!(
            "unsupported containerd endpoint {s:?}: expected an absolute socket path or unix:///PATH"
        )));
    }
    if let Some(why) = socket_path_error(path) {
        return Err(InvalidOption(format!("unsupported containerd endpoint: {why}")));
    }
    Ok(Endpoint::Unix(PathBuf::from(path)))
}

/// Resolves the containerd endpoint: the explicit one, else
/// `CONTAINERD_ADDRESS`, else the default socket.
pub fn containerd_endpoint(explicit: Option<&str>) -> Result<Endpoint, InvalidOption> {
    match explicit {
        Some(s) => parse_containerd_endpoint(s),
        None => match std::env::var("CONTAINERD_ADDRESS") {
            Ok(s) if !s.is_empty() => {
                parse_containerd_endpoint(&s).map_err(|e| InvalidOption(format!("from CONTAINERD_ADDRESS: {e}")))
            }
            _ => parse_containerd_endpoint(DEFAULT_CONTAINERD_SOCKET),
        },
    }
}

/// Parses a comma-separated list of containerd namespaces; `""` is the
/// empty list. Names are containerd identifiers: letters and digits, with
/// single `.`, `_` or `-` between them.
pub fn parse_namespaces(s: &str) -> Result<Vec<String>, InvalidOption> {
    if s.trim().is_empty() {
        return Ok(Vec::new());
    }
    s.split(',')
        .map(|n| {
            let n = n.trim();
            let valid = !n.is_empty()
                && n.len() <= 76
                && n.split(['.', '_', '-'])
                    .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_alphanumeric()));
            if valid {
                Ok(n.to_string())
            } else {
                Err(InvalidOption(format!(
                    "ignored namespace {} in {} is not a containerd namespace name",
                    shortened(n),
                    shortened(s)
                )))
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn podman_endpoint_errors_name_only_the_forms_podman_takes() {
        let e = podman_endpoint(Some("ftp://h:1")).unwrap_err().0;
        assert!(e.starts_with("unsupported podman endpoint \"ftp://h:1\""), "{e}");
        assert!(e.ends_with("expected unix:///PATH, tcp://HOST:PORT or http://HOST:PORT"), "{e}");
    }

    #[test]
    fn parses_docker_endpoints() {
        assert_eq!(parse_docker_endpoint("unix:///run/d.sock").unwrap(), Endpoint::Unix("/run/d.sock".into()));
        assert_eq!(parse_docker_endpoint("tcp://127.0.0.1:2375").unwrap(), Endpoint::Tcp("127.0.0.1:2375".into()));
        assert_eq!(parse_docker_endpoint("tcp://[::1]:2375").unwrap(), Endpoint::Tcp("[::1]:2375".into()));
        assert_eq!(parse_docker_endpoint("http://h:1/").unwrap(), Endpoint::Tcp("h:1".into()));
        assert_eq!(parse_docker_endpoint("https://h:2376").unwrap(), Endpoint::Tls("h:2376".into()));
        for bad in [
            "",
            "ssh://x",
            "unix://",
            "unix://rel/path",
            "tcp://",
            "/var/run/docker.sock",
            "npipe:////./pipe/x",
            "tcp://a b:1",
            "tcp://h:1/x",
            "tcp://127.0.0.1",
            "tcp://h:0",
            "tcp://h:99999",
            "tcp://:2375",
            "http://h:x",
            "tcp://::1",
            "tcp://localhost:+1",
            "tcp://127.0.0.1:2375:1",
            "tcp://?:1",
            "tcp://#:1",
            "tcp://[]:1",
        ] {
            let e = parse_docker_endpoint(bad).unwrap_err();
            assert!(e.0.contains(&format!("{bad:?}")), "{e}");
        }
    }

    #[test]
    fn parses_containerd_endpoints() {
        assert_eq!(parse_containerd_endpoint("/run/c.sock").unwrap(), Endpoint::Unix("/run/c.sock".into()));
        assert_eq!(parse_containerd_endpoint("unix:///run/c.sock").unwrap(), Endpoint::Unix("/run/c.sock".into()));
        let long = format!("/{}", "a".repeat(MAX_SOCKET_PATH));
        assert!(parse_containerd_endpoint(&long[..MAX_SOCKET_PATH]).is_ok());
        assert!(parse_containerd_endpoint(&long).is_err());
        assert!(parse_docker_endpoint(&format!("unix://{long}")).is_err());
        for bad in ["", "unix://", "tcp://h:1", "http://h:1/x", "relative.sock", "unix://relative.sock"] {
            assert!(parse_containerd_endpoint(bad).unwrap_err().0.contains(&format!("{bad:?}")), "{bad}");
        }
    }

    #[test]
    fn parses_namespace_lists() {
        assert_eq!(parse_namespaces("").unwrap(), Vec::<String>::new());
        assert_eq!(parse_namespaces("moby, k8s.io,a-b_c").unwrap(), ["moby", "k8s.io", "a-b_c"]);
        for bad in ["a,,b", "a/b", "-a", "a..b", "ä"] {
            assert!(parse_namespaces(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn endpoint_displays_as_url() {
        assert_eq!(Endpoint::Unix("/a".into()).to_string(), "unix:///a");
        assert_eq!(Endpoint::Tcp("h:1".into()).to_string(), "tcp://h:1");
    }
}
