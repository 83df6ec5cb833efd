//! Which engines this host runs: candidates from the environment, from the
//! engines' well-known socket paths, and from the unix sockets that engine
//! processes listen on (followed through `/proc/PID/root` into other mount
//! namespaces); each confirmed by one short probe, so nothing is listed that
//! does not answer as an engine.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use futures_util::future::join_all;

use super::engine::with_causes;
use super::engines::http;
use super::options::{parse_docker_endpoint, Endpoint, EngineKind};
use super::sockets;

/// How a candidate was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum FoundBy {
    /// `DOCKER_HOST`, `CONTAINER_HOST`, `CONTAINERD_ADDRESS`, `CONTAINER_RUNTIME_ENDPOINT`.
    Env,
    /// An engine's well-known socket path.
    Path,
    /// A socket an engine process listens on.
    Process,
}

impl FoundBy {
    pub fn as_str(self) -> &'static str {
        match self {
            FoundBy::Env => "env",
            FoundBy::Path => "path",
            FoundBy::Process => "process",
        }
    }
}

/// An engine that answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found {
    pub kind: EngineKind,
    pub endpoint: Endpoint,
    /// The engine process serving it, 0 if unknown.
    pub pid: i32,
    /// The socket's owner: a rootless engine's user (0 for TCP).
    pub uid: u32,
    pub found_by: FoundBy,
    /// containerd: the namespaces Docker engines keep their containers in
    /// on this containerd (not to be shown twice).
    pub docker_namespaces: Vec<String>,
}

#[derive(Clone, Debug)]
struct Candidate {
    endpoint: Endpoint,
    hint: Option<EngineKind>,
    found_by: FoundBy,
    pid: i32,
}

/// Well-known sockets; `*` stands for every directory under `/run/user`.
const WELL_KNOWN: [(&str, EngineKind); 12] = [
    ("/var/run/docker.sock", EngineKind::Docker),
    ("/run/docker.sock", EngineKind::Docker),
    ("/run/user/*/docker.sock", EngineKind::Docker),
    ("/run/podman/podman.sock", EngineKind::Podman),
    ("/run/user/*/podman/podman.sock", EngineKind::Podman),
    ("/run/containerd/containerd.sock", EngineKind::Containerd),
    ("/var/run/containerd/containerd.sock", EngineKind::Containerd),
    ("/run/k3s/containerd/containerd.sock", EngineKind::Containerd),
    ("/var/snap/microk8s/common/run/containerd.sock", EngineKind::Containerd),
    ("/run/user/*/containerd/containerd.sock", EngineKind::Containerd),
    ("/run/crio/crio.sock", EngineKind::Cri),
    ("/var/run/crio/crio.sock", EngineKind::Cri),
];

fn expand(pattern: &str) -> Vec<PathBuf> {
    match pattern.split_once('*') {
        None => vec![PathBuf::from(pattern)],
        Some((dir, rest)) => std::fs::read_dir(dir)
            .map(|d| d.filter_map(|e| Some(e.ok()?.path().join(rest.trim_start_matches('/')))).collect())
            .unwrap_or_default(),
    }
}

fn unix_path(s: &str) -> Option<PathBuf> {
    let p = s.strip_prefix("unix://").unwrap_or(s);
    p.starts_with('/').then(|| PathBuf::from(p))
}

fn from_env() -> Vec<Candidate> {
    let mut out = Vec::new();
    for (var, kind) in [("DOCKER_HOST", EngineKind::Docker), ("CONTAINER_HOST", EngineKind::Podman)] {
        if let Ok(Ok(ep)) = std::env::var(var).map(|v| parse_docker_endpoint(&v)) {
            out.push(Candidate { endpoint: ep, hint: Some(kind), found_by: FoundBy::Env, pid: 0 });
        }
    }
    for (var, kind) in [("CONTAINERD_ADDRESS", EngineKind::Containerd), ("CONTAINER_RUNTIME_ENDPOINT", EngineKind::Cri)]
    {
        if let Some(p) = std::env::var(var).ok().as_deref().and_then(unix_path) {
            out.push(Candidate { endpoint: Endpoint::Unix(p), hint: Some(kind), found_by: FoundBy::Env, pid: 0 });
        }
    }
    out
}

fn from_paths() -> Vec<Candidate> {
    WELL_KNOWN
        .iter()
        .flat_map(|(pattern, kind)| {
            expand(pattern).into_iter().map(move |p| Candidate {
                endpoint: Endpoint::Unix(p),
                hint: Some(*kind),
                found_by: FoundBy::Path,
                pid: 0,
            })
        })
        .collect()
}

/// What a socket's name says it is not: containerd's ttrpc and debug
/// sockets, shims', metrics.
fn auxiliary(path: &str) -> bool {
    path.ends_with(".ttrpc") || path.contains("debug") || path.contains("shim") || path.contains("metrics")
}

fn from_processes() -> Vec<Candidate> {
    let mut out = Vec::new();
    for pid in sockets::pids() {
        let Some(comm) = sockets::comm(pid) else { continue };
        let hint = match comm.as_str() {
            "dockerd" => EngineKind::Docker,
            "containerd" | "k3s" | "k3s-server" | "k3s-agent" | "rke2" => EngineKind::Containerd,
            "crio" => EngineKind::Cri,
            "podman" => EngineKind::Podman,
            _ => continue,
        };
        let listening = sockets::listening(pid);
        for inode in sockets::socket_inodes(pid) {
            let Some(path) = listening.get(&inode) else { continue };
            if auxiliary(path) {
                continue;
            }
            let reachable = sockets::reachable(pid, path);
            out.push(Candidate {
                endpoint: Endpoint::Unix(reachable),
                hint: Some(hint),
                found_by: FoundBy::Process,
                pid,
            });
        }
    }
    out
}

/// What answered at an endpoint.
async fn probe(c: &Candidate, timeout: Duration) -> Option<EngineKind> {
    let http_first = matches!(c.hint, Some(EngineKind::Docker | EngineKind::Podman) | None);
    // `/_ping` is the engines' cheapest call (podman's `/info` and
    // `/version` take hundreds of milliseconds); both set `Api-Version`,
    // podman also `Libpod-Api-Version`.
    let try_http = async {
        let reply = http::request(&c.endpoint, "/_ping").await.ok()?;
        (reply.status == 200 && reply.headers.contains_key("api-version")).then(|| {
            if reply.headers.contains_key("libpod-api-version") {
                EngineKind::Podman
            } else {
                EngineKind::Docker
            }
        })
    };
    let try_grpc = async {
        let Endpoint::Unix(path) = &c.endpoint else { return None };
        super::engines::grpc_kind(path).await
    };
    let answer = async {
        if http_first {
            match try_http.await {
                Some(k) => Some(k),
                None => try_grpc.await,
            }
        } else {
            match try_grpc.await {
                Some(k) => Some(k),
                None => try_http.await,
            }
        }
    };
    tokio::time::timeout(timeout, answer).await.ok().flatten()
}

/// A socket file's (device, inode).
type FileId = (u64, u64);

/// The namespaces each dockerd keeps its containers in, by the containerd
/// socket it uses (its file identity): from `--containerd-namespace` and
/// `--containerd-plugins-namespace` (defaults "moby", "plugins.moby"), and
/// `--containerd` (default: the containerd it starts itself, its child).
fn docker_namespaces() -> (HashMap<FileId, Vec<String>>, HashMap<i32, Vec<String>>) {
    let mut by_socket = HashMap::new();
    let mut by_parent = HashMap::new();
    for pid in sockets::pids().into_iter().filter(|&p| sockets::comm(p).as_deref() == Some("dockerd")) {
        let args = sockets::cmdline(pid);
        let flag = |name: &str| {
            args.iter().enumerate().find_map(|(i, a)| {
                a.strip_prefix(&format!("{name}="))
                    .map(str::to_string)
                    .or_else(|| (a == name).then(|| args.get(i + 1).cloned()).flatten())
            })
        };
        let ns = flag("--containerd-namespace").unwrap_or_else(|| "moby".into());
        let plugins = flag("--containerd-plugins-namespace").unwrap_or_else(|| "plugins.moby".into());
        let namespaces = vec![ns, plugins];
        match flag("--containerd") {
            Some(sock) => {
                if let Some((id, _)) = sockets::file_of(&sockets::reachable(pid, &sock)) {
                    by_socket.entry(id).or_insert_with(Vec::new).extend(namespaces);
                }
            }
            None => {
                by_parent.insert(pid, namespaces);
            }
        }
    }
    (by_socket, by_parent)
}

/// The engines this host runs, each once, in the order: environment,
/// well-known paths, processes. Every probe is bounded by `probe_timeout`;
/// they run at once.
pub async fn discover(probe_timeout: Duration) -> Vec<Found> {
    let mut candidates = from_env();
    candidates.extend(from_paths());
    candidates.extend(from_processes());
    // One candidate per socket (by file identity; TCP endpoints by address).
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut unique: Vec<(Candidate, u32)> = Vec::new();
    for c in candidates {
        let (key, uid) = match &c.endpoint {
            Endpoint::Unix(p) => match sockets::file_of(p) {
                Some(((dev, ino), uid)) => (format!("{dev}:{ino}"), uid),
                None => continue, // not there, or not a socket
            },
            Endpoint::Tcp(hp) | Endpoint::Tls(hp) => (hp.clone(), 0),
        };
        match seen.get(&key) {
            // A process-found PID completes a path-found candidate.
            Some(&i) => {
                if unique[i].0.pid == 0 {
                    unique[i].0.pid = c.pid;
                }
            }
            None => {
                seen.insert(key, unique.len());
                unique.push((c, uid));
            }
        }
    }
    let kinds = join_all(unique.iter().map(|(c, _)| probe(c, probe_timeout))).await;
    let (by_socket, by_parent) = docker_namespaces();
    unique
        .into_iter()
        .zip(kinds)
        .filter_map(|((c, uid), kind)| {
            let kind = kind?;
            let pid = match &c.endpoint {
                Endpoint::Unix(p) => sockets::server_of(p, c.pid).unwrap_or(c.pid),
                Endpoint::Tcp(_) | Endpoint::Tls(_) => 0,
            };
            let mut docker_namespaces = Vec::new();
            if kind == EngineKind::Containerd {
                if let Endpoint::Unix(p) = &c.endpoint {
                    if let Some((id, _)) = sockets::file_of(p) {
                        docker_namespaces.extend(by_socket.get(&id).cloned().unwrap_or_default());
                    }
                }
                if let Some(parent) = sockets::parent(pid) {
                    docker_namespaces.extend(by_parent.get(&parent).cloned().unwrap_or_default());
                }
            }
            Some(Found { kind, endpoint: c.endpoint, pid, uid, found_by: c.found_by, docker_namespaces })
        })
        .collect()
}

/// A probe's failure, for messages.
pub fn describe_failure(e: &dyn std::error::Error) -> String {
    with_causes(e)
}

/// The path of a unix endpoint.
pub fn socket_of(e: &Endpoint) -> Option<&Path> {
    match e {
        Endpoint::Unix(p) => Some(p),
        Endpoint::Tcp(_) | Endpoint::Tls(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auxiliary_sockets_are_not_engines() {
        for aux in
            ["/run/containerd/containerd.sock.ttrpc", "/run/containerd/debug.sock", "/run/containerd/s/abc-shim.sock"]
        {
            assert!(auxiliary(aux), "{aux}");
        }
        assert!(!auxiliary("/run/containerd/containerd.sock"));
    }

    #[test]
    fn well_known_patterns_expand_per_user() {
        let dir = std::env::temp_dir().join(format!("ww-expand-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("1000")).unwrap();
        std::fs::create_dir_all(dir.join("1001")).unwrap();
        let mut got = expand(&format!("{}/*/docker.sock", dir.display()));
        got.sort();
        assert_eq!(got, [dir.join("1000/docker.sock"), dir.join("1001/docker.sock")]);
        assert_eq!(expand("/x/y.sock"), [PathBuf::from("/x/y.sock")]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
