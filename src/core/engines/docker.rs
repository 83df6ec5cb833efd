//! The Docker engine, over its HTTP API (bollard). Engines that speak the
//! Docker API with differences (podman) use this connection with their
//! [`Dialect`].

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bollard::errors::Error as BollardError;
use bollard::models::{ContainerInspectResponse, ContainerSummaryStateEnum, EventMessage, EventMessageTypeEnum};
use bollard::query_parameters::{EventsOptions, ListContainersOptions};
use bollard::{Docker, API_DEFAULT_VERSION};
use futures_util::future::{BoxFuture, FutureExt, Shared};
use futures_util::stream::{BoxStream, StreamExt};

use super::clock::{docker_since, http_date_to_unix_nanos, rfc3339_to_unix_nanos};
use super::docker_files::Records;
use crate::core::engine::{with_causes, Connection, Details, Engine, EngineError, ErrorKind, Listed};
use crate::core::model::{Container, ContainerDraft, EngineInfo, Event, EventKind};
use crate::core::options::{Endpoint, EngineKind, TlsFiles};

/// `engine_type` of Docker watchers.
pub const DOCKER_TYPE: &str = "docker.com";

/// What differs between engines that speak the Docker API.
#[derive(Clone, Copy, Debug)]
pub struct Dialect {
    pub kind: EngineKind,
    pub engine_type: &'static str,
    /// How the engine is named in messages.
    pub name: &'static str,
    /// The values of the event filter `event` that select starts, deaths,
    /// pauses, resumes and renames.
    pub events: &'static [&'static str],
}

/// Docker itself.
pub const DOCKER: Dialect = Dialect {
    kind: EngineKind::Docker,
    engine_type: DOCKER_TYPE,
    name: "Docker",
    events: &["start", "die", "pause", "unpause", "rename"],
};

/// A Docker engine at one endpoint. An endpoint that turns out to be
/// podman's is watched as podman (with `relist_interval` for a podman that
/// logs no events).
pub struct DockerEngine {
    endpoint: Endpoint,
    call_timeout: Duration,
    relist_interval: Duration,
    tls: Option<TlsFiles>,
}

impl DockerEngine {
    pub fn new(endpoint: Endpoint, call_timeout: Duration, relist_interval: Duration, tls: Option<TlsFiles>) -> Self {
        DockerEngine { endpoint, call_timeout, relist_interval, tls }
    }
}

impl Engine for DockerEngine {
    fn describe(&self) -> EngineInfo {
        EngineInfo::new(EngineKind::Docker, DOCKER_TYPE, self.endpoint.to_string())
    }

    fn connect(&self) -> BoxFuture<'static, Result<Arc<dyn Connection>, EngineError>> {
        let connecting = connect(self.endpoint.clone(), self.call_timeout, DOCKER, self.tls.clone());
        let (endpoint, call_timeout, relist) = (self.endpoint.clone(), self.call_timeout, self.relist_interval);
        Box::pin(async move {
            let conn = connecting.await?;
            // podman behind a Docker endpoint (podman-docker's docker.sock,
            // DOCKER_HOST pointing at podman): watch it as podman, or its
            // deaths would go unseen.
            if conn.dialect.kind == EngineKind::Podman {
                return super::podman::adopt(conn, endpoint, call_timeout, relist).await;
            }
            Ok(Arc::new(conn) as Arc<dyn Connection>)
        })
    }
}

/// Connects to an engine speaking the Docker API and learns what it is
/// (Docker or podman) and its clock from `/_ping`, which answers in well
/// under a millisecond; its ID and version (`/info`, which takes
/// milliseconds) and the process serving it come as [`Connection::details`]
/// while the synchronisation runs.
pub fn connect(
    endpoint: Endpoint,
    call_timeout: Duration,
    dialect: Dialect,
    tls: Option<TlsFiles>,
) -> impl std::future::Future<Output = Result<DockerConnection, EngineError>> + Send + 'static {
    // bollard's own timeout takes whole seconds: round up, so that the
    // watch loop's exact bound of every call is the one that acts.
    let timeout_secs = call_timeout.as_millis().div_ceil(1000).max(1) as u64;
    let mut info = EngineInfo::new(dialect.kind, dialect.engine_type, endpoint.to_string());
    async move {
        let docker = match &endpoint {
            Endpoint::Unix(path) => {
                // Connect once by hand: it gives the precise OS error and the
                // peer's PID (the serving process is found among the
                // socket's holders later, see `details`).
                let probe = tokio::net::UnixStream::connect(path).await.map_err(|e| {
                    EngineError::new(
                        ErrorKind::Unreachable,
                        format!("cannot connect to {} at {endpoint}: {e}", dialect.name),
                    )
                })?;
                info.pid = probe.peer_cred().ok().and_then(|c| c.pid()).unwrap_or(0);
                drop(probe);
                let path = path.to_str().ok_or_else(|| {
                    EngineError::new(ErrorKind::Unreachable, format!("socket path of {endpoint} is not UTF-8"))
                })?;
                Docker::connect_with_unix(path, timeout_secs, API_DEFAULT_VERSION)
            }
            Endpoint::Tcp(hostport) => tcp_with_keepalive(hostport, timeout_secs),
            Endpoint::Tls(hostport) => {
                let files = tls.as_ref().ok_or_else(|| {
                    EngineError::new(ErrorKind::Refused, format!("{endpoint}: TLS without certificate files"))
                })?;
                check_tls_files(&endpoint, files)?;
                Docker::connect_with_ssl(
                    &format!("https://{hostport}"),
                    &files.key,
                    &files.cert,
                    &files.ca,
                    timeout_secs,
                    API_DEFAULT_VERSION,
                )
            }
        }
        .map_err(|e| engine_error(dialect, &endpoint, "connect", e))?;
        // No API version negotiation: bollard 0.21 sends unversioned
        // paths, which every engine answers with its own default API
        // version, and negotiating would cost a round trip to /version
        // (tests against a daemon with API 1.41 would catch a change).
        // Over TLS (which the plain client does not speak) `/info` tells
        // it all at once; elsewhere `/_ping` does now, `/info` later.
        let (podman, clock, later) = match &endpoint {
            Endpoint::Tls(_) => {
                let sys = identify_over_tls(&docker, &endpoint, dialect).await?;
                info.id = sys.id;
                info.version = sys.version;
                (sys.podman, sys.system_time.as_deref().and_then(rfc3339_to_unix_nanos), false)
            }
            _ => {
                let (podman, clock) = ping(&endpoint, dialect).await?;
                (podman, clock.map(|c| c - 1_000_000_000), true)
            }
        };
        let dialect = if podman { super::podman::PODMAN } else { dialect };
        info.kind = dialect.kind;
        info.engine_type = dialect.engine_type.to_string();
        let learning = later.then(|| learn(endpoint.clone(), dialect, info.pid));
        // Events from this instant on are replayed by the daemon even if
        // the subscription reaches it later: no gap between subscribing
        // and listing. The `Date` header tells the engine's clock to the
        // second, so the replay starts a second early; without a usable
        // engine clock, this host's clock 10 s early (replayed events that
        // happened before are harmless).
        let since = clock.or_else(|| local_clock_nanos().map(|n| n - 10_000_000_000)).map(docker_since);
        Ok(DockerConnection { docker, endpoint, info, since, dialect, learning })
    }
}

/// What `/_ping` tells: whether the engine is podman (it adds
/// `Libpod-Api-Version`) and its clock (the `Date` header), if it says.
async fn ping(endpoint: &Endpoint, dialect: Dialect) -> Result<(bool, Option<i128>), EngineError> {
    let fail = |kind, msg: String| EngineError::new(kind, format!("{} at {endpoint}: _ping: {msg}", dialect.name));
    let reply = super::http::request(endpoint, "/_ping").await.map_err(|e| fail(e.kind, e.msg))?;
    if reply.status != 200 {
        let why = String::from_utf8_lossy(&reply.body[..reply.body.len().min(200)]).trim().to_string();
        return Err(fail(ErrorKind::Refused, format!("status {}: {why}", reply.status)));
    }
    let podman = reply.headers.contains_key("libpod-api-version");
    let clock = reply.headers.get("date").and_then(|d| d.to_str().ok()).and_then(http_date_to_unix_nanos);
    Ok((podman, clock))
}

/// What `/info` tells: the engine's identity and clock, whether it is
/// podman (whose `/info` has `BuildahVersion`), and where it keeps its data.
struct Identity {
    id: String,
    version: String,
    system_time: Option<String>,
    podman: bool,
    data_root: Option<String>,
}

async fn identify(endpoint: &Endpoint, dialect: Dialect) -> Result<Identity, EngineError> {
    let fail = |kind, msg: String| EngineError::new(kind, format!("{} at {endpoint}: info: {msg}", dialect.name));
    let (status, body) = super::http::get(endpoint, "/info").await.map_err(|e| fail(e.kind, e.msg))?;
    if status != 200 {
        let why = String::from_utf8_lossy(&body[..body.len().min(200)]).trim().to_string();
        return Err(fail(ErrorKind::Refused, format!("status {status}: {why}")));
    }
    let v: serde_json::Value = serde_json::from_slice(&body).map_err(|e| fail(ErrorKind::Malformed, e.to_string()))?;
    let text = |k: &str| v.get(k).and_then(serde_json::Value::as_str).map(str::to_string);
    if !v.is_object() {
        return Err(fail(ErrorKind::Malformed, "not a JSON object".into()));
    }
    Ok(Identity {
        id: text("ID").unwrap_or_default(),
        version: text("ServerVersion").unwrap_or_default(),
        system_time: text("SystemTime"),
        podman: v.get("BuildahVersion").is_some(),
        data_root: text("DockerRootDir"),
    })
}

/// TCP keepalive of `tcp://` connections: a peer that vanished without a
/// word (its host gone, a NAT entry expired) ends the connection, the
/// silent event stream too, after 30 s of silence plus 3 unanswered
/// probes 10 s apart: within about a minute.
pub const KEEPALIVE_IDLE: Duration = Duration::from_secs(30);
pub const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(10);
pub const KEEPALIVE_PROBES: u32 = 3;

/// Plain HTTP over TCP, with keepalive probes on every connection.
fn tcp_with_keepalive(hostport: &str, timeout_secs: u64) -> Result<Docker, BollardError> {
    use hyper_util::client::legacy::{connect::HttpConnector, Client};
    let mut connector = HttpConnector::new();
    connector.set_keepalive(Some(KEEPALIVE_IDLE));
    connector.set_keepalive_interval(Some(KEEPALIVE_INTERVAL));
    connector.set_keepalive_retries(Some(KEEPALIVE_PROBES));
    connector.set_nodelay(true);
    let mut builder = Client::builder(hyper_util::rt::TokioExecutor::new());
    builder.pool_max_idle_per_host(0);
    let client = Arc::new(builder.build(connector));
    Docker::connect_with_custom_transport(
        move |req: bollard::BollardRequest| {
            let client = Arc::clone(&client);
            Box::pin(async move { client.request(req).await.map_err(BollardError::from) })
                as BoxFuture<'static, Result<_, BollardError>>
        },
        Some(format!("http://{hostport}")),
        timeout_secs,
        API_DEFAULT_VERSION,
    )
}

/// The TLS files, each readable and of the right kind, or an error naming
/// the one that is not.
fn check_tls_files(endpoint: &Endpoint, files: &TlsFiles) -> Result<(), EngineError> {
    for (what, path, marker) in [
        ("CA certificate", &files.ca, "CERTIFICATE"),
        ("client certificate", &files.cert, "CERTIFICATE"),
        ("client key", &files.key, "PRIVATE KEY"),
    ] {
        let fail = |why: String| {
            EngineError::new(ErrorKind::Refused, format!("Docker at {endpoint}: TLS: {what} {}: {why}", path.display()))
        };
        let text = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
        if !text.contains("-----BEGIN ") || !text.contains(marker) {
            return Err(fail(format!("no PEM {marker} in it")));
        }
    }
    Ok(())
}

/// [`identify`] through the TLS client (podman has no TLS of its own).
async fn identify_over_tls(docker: &Docker, endpoint: &Endpoint, dialect: Dialect) -> Result<Identity, EngineError> {
    let sys = docker.info().await.map_err(|e| {
        let mut err = engine_error(dialect, endpoint, "info", e);
        err.msg.push_str(tls_hint(&err.msg));
        err
    })?;
    Ok(Identity {
        id: sys.id.unwrap_or_default(),
        version: sys.server_version.unwrap_or_default(),
        system_time: sys.system_time,
        podman: false,
        data_root: None,
    })
}

/// What a TLS failure most likely means, for the message.
fn tls_hint(msg: &str) -> &'static str {
    if msg.contains("UnknownIssuer") || msg.contains("BadSignature") {
        " (the daemon's certificate is not signed by the CA given)"
    } else if msg.contains("CertificateRequired") || msg.contains("BadCertificate") || msg.contains("UnknownCA") {
        " (the daemon did not accept the client certificate)"
    } else if msg.contains("NotValidForName") {
        " (the daemon's certificate is not for this host name or address)"
    } else if msg.contains("InvalidContentType") || msg.contains("corrupt message") || msg.contains("HandshakeFailure")
    {
        " (is it a plain-HTTP daemon, not TLS?)"
    } else {
        ""
    }
}

/// What is learnt about the engine after connecting, once per connection
/// and shared: its `/info` and the process serving its socket, which the
/// first synchronisation waits for ([`Connection::details`]), and from
/// them where Docker's own container records are, which the inspections
/// read when they can.
type Learning = Shared<BoxFuture<'static, Result<Arc<Learnt>, EngineError>>>;

#[derive(Debug)]
struct Learnt {
    details: Details,
    /// Docker's container records, if this process can read them.
    records: Option<Records>,
}

/// Starts learning (when first awaited): `/info` and, on a unix socket,
/// the serving process (found through `/proc`, off the runtime's thread),
/// both at once.
fn learn(endpoint: Endpoint, dialect: Dialect, peer: i32) -> Learning {
    async move {
        let (pid, sys) = tokio::join!(serving_pid(&endpoint, peer), identify(&endpoint, dialect));
        let sys = sys?;
        let records = match (pid, sys.data_root.as_deref()) {
            (Some(pid), Some(root)) if dialect.kind == EngineKind::Docker => Records::locate(pid, root),
            _ => None,
        };
        Ok(Arc::new(Learnt { details: Details { id: Some(sys.id), version: Some(sys.version), pid }, records }))
    }
    .boxed()
    .shared()
}

/// The process serving the unix socket of `endpoint` (found through
/// `/proc`, off the runtime's thread), `peer` when it is the one; `None`
/// over TCP.
async fn serving_pid(endpoint: &Endpoint, peer: i32) -> Option<i32> {
    match endpoint {
        Endpoint::Unix(path) => crate::core::sockets::serving_process(path.clone(), peer).await,
        _ => None,
    }
}

/// One connection to an engine speaking the Docker API.
pub struct DockerConnection {
    docker: Docker,
    endpoint: Endpoint,
    info: EngineInfo,
    since: Option<String>,
    pub(crate) dialect: Dialect,
    /// ID, version and serving process are still to be learnt (not over
    /// TLS, where they are learnt when connecting, nor for podman, whose
    /// own API tells them).
    learning: Option<Learning>,
}

impl DockerConnection {
    /// Replaces the engine ID the engine's `/info` gave.
    pub(crate) fn set_id(&mut self, id: String) {
        self.info.id = id;
        self.learning = None;
    }

    /// Replaces the version the engine's `/info` gave.
    pub(crate) fn set_version(&mut self, version: String) {
        self.info.version = version;
    }

    /// The process serving the unix socket ([`serving_pid`]), for engines
    /// whose identity is known otherwise.
    pub(crate) fn serving_process(&self) -> BoxFuture<'static, Result<Details, EngineError>> {
        let (endpoint, peer) = (self.endpoint.clone(), self.info.pid);
        Box::pin(async move { Ok(Details { pid: serving_pid(&endpoint, peer).await, ..Details::default() }) })
    }
}

impl Connection for DockerConnection {
    fn info(&self) -> &EngineInfo {
        &self.info
    }

    fn details(&self) -> Option<BoxFuture<'static, Result<Details, EngineError>>> {
        let learning = self.learning.clone()?;
        Some(Box::pin(async move { learning.await.map(|l| l.details.clone()) }))
    }

    fn events(&self) -> BoxStream<'static, Result<Event, EngineError>> {
        let filters = HashMap::from([
            ("type".to_string(), vec!["container".to_string()]),
            ("event".to_string(), self.dialect.events.iter().map(|e| e.to_string()).collect()),
        ]);
        let opts = EventsOptions { since: self.since.clone(), until: None, filters: Some(filters) };
        let (endpoint, dialect) = (self.endpoint.clone(), self.dialect);
        self.docker
            .events(Some(opts))
            .filter_map(move |r| {
                let out = match r {
                    Ok(msg) => to_event(msg).map(Ok),
                    // Not even JSON: the stream itself is corrupt.
                    Err(e @ BollardError::JsonSerdeError { .. }) => {
                        let mut err = engine_error(dialect, &endpoint, "event stream", e);
                        err.kind = ErrorKind::Unreachable;
                        Some(Err(err))
                    }
                    Err(e) => Some(Err(engine_error(dialect, &endpoint, "event stream", e))),
                };
                std::future::ready(out)
            })
            .boxed()
    }

    fn list(&self) -> BoxFuture<'static, Result<Vec<Listed>, EngineError>> {
        let docker = self.docker.clone();
        let (endpoint, dialect) = (self.endpoint.clone(), self.dialect);
        Box::pin(async move {
            let filters = HashMap::from([("status".to_string(), vec!["running".to_string(), "paused".to_string()])]);
            let opts = ListContainersOptions { all: true, filters: Some(filters), ..Default::default() };
            let summaries =
                docker.list_containers(Some(opts)).await.map_err(|e| engine_error(dialect, &endpoint, "list", e))?;
            Ok(summaries
                .into_iter()
                .filter_map(|s| {
                    let paused = s.state == Some(ContainerSummaryStateEnum::PAUSED);
                    s.id.filter(|id| valid_id(id)).map(|id| Listed::Seen { id, pid: 0, paused })
                })
                .collect())
        })
    }

    fn inspect(&self, id: String) -> BoxFuture<'static, Result<Option<Container>, EngineError>> {
        let docker = self.docker.clone();
        let (endpoint, dialect) = (self.endpoint.clone(), self.dialect);
        // Docker's own record first, if it is known to be readable: a few
        // tens of microseconds of reading files, inline. Whatever it does
        // not tell is asked of the engine.
        let records = self.learning.as_ref().and_then(|l| l.peek()?.as_ref().ok()?.records.clone());
        if let Some(c) = records.and_then(|r| r.read(&id)).and_then(|d| to_container(&id, d)) {
            return Box::pin(std::future::ready(Ok(Some(c))));
        }
        Box::pin(async move {
            match docker.inspect_container(&id, None).await {
                Ok(details) if details.id.as_deref().is_some_and(|got| got != id) => Err(EngineError::new(
                    ErrorKind::Malformed,
                    format!("{} at {endpoint}: inspect {id}: the engine answered for another container", dialect.name),
                )),
                Ok(details) => Ok(to_container(&id, details)),
                Err(BollardError::DockerResponseServerError { status_code: 404, .. }) => Ok(None),
                Err(e) => Err(engine_error(dialect, &endpoint, &format!("inspect {id}"), e)),
            }
        })
    }

    fn describe_all(&self, ids: Vec<String>) -> Option<BoxFuture<'static, Vec<Option<Container>>>> {
        // Only where the files may be in reach: a local engine whose
        // process this one may look into. Else the inspections start at
        // once instead of after `/info`.
        let learning = self.learning.clone()?;
        let peer = self.info.pid;
        if !matches!(self.endpoint, Endpoint::Unix(_)) || std::fs::read_link(format!("/proc/{peer}/root")).is_err() {
            return None;
        }
        Some(Box::pin(async move {
            // Nothing read (no records, no thread): every one is inspected.
            let Some(records) = learning.await.ok().and_then(|l| l.records.clone()) else { return Vec::new() };
            // Off the watcher's thread: hundreds of files take milliseconds.
            let read = crate::core::offthread::run("ww-docker-files", move || records.read_each(&ids, to_container));
            read.await.unwrap_or_default()
        }))
    }
}

/// Maps a Docker event to a lifecycle event; `None` for events tracking ignores.
pub fn to_event(msg: EventMessage) -> Option<Event> {
    if msg.typ != Some(EventMessageTypeEnum::CONTAINER) {
        return None;
    }
    let actor = msg.actor?;
    let id = actor.id.filter(|id| valid_id(id))?;
    let kind = match msg.action.as_deref()? {
        "start" => EventKind::Started,
        // podman's own name, should its Docker API ever pass it through
        "die" | "died" => EventKind::Died,
        "pause" => EventKind::Paused,
        "unpause" => EventKind::Unpaused,
        "rename" => {
            let name = actor.attributes?.remove("name")?;
            EventKind::Renamed(name.strip_prefix('/').unwrap_or(&name).to_string())
        }
        _ => return None,
    };
    Some(Event { id, kind })
}

/// True for what can be a Docker container ID: letters, digits, `_`, `.`
/// and `-`, never empty (so it is safe in a request path).
pub fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// Nanoseconds since the epoch by this host's clock.
fn local_clock_nanos() -> Option<i128> {
    let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).ok()?;
    i128::try_from(d.as_nanos()).ok()
}

/// The alive container an inspection shows, or `None` if it has no initial process.
pub fn to_container(requested: &str, details: ContainerInspectResponse) -> Option<Container> {
    let state = details.state?;
    let pid = i32::try_from(state.pid.unwrap_or(0)).ok().filter(|&p| p > 0)?;
    let paused = state.paused.unwrap_or(false);
    if !(state.running.unwrap_or(false) || paused) {
        return None;
    }
    let id = details.id.filter(|id| !id.is_empty()).unwrap_or_else(|| requested.to_string());
    let name = details
        .name
        .map(|n| n.strip_prefix('/').map(str::to_string).unwrap_or(n))
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| id.clone());
    let (labels, image) = match details.config {
        Some(c) => (c.labels.unwrap_or_default(), c.image.unwrap_or_default()),
        None => Default::default(),
    };
    let mut c = ContainerDraft::new(id, name, pid, paused, labels);
    c.image = image;
    c.image_id = details.image.unwrap_or_default();
    c.privileged = details.host_config.and_then(|h| h.privileged).unwrap_or(false);
    // Docker reports "0001-01-01T00:00:00Z" for a container never started.
    c.started_at_ns = state
        .started_at
        .as_deref()
        .and_then(rfc3339_to_unix_nanos)
        .and_then(|ns| i64::try_from(ns).ok())
        .filter(|&ns| ns > 0)
        .unwrap_or(0);
    Some(c.build())
}

fn engine_error(dialect: Dialect, endpoint: &Endpoint, what: &str, e: BollardError) -> EngineError {
    let kind = match &e {
        BollardError::DockerResponseServerError { .. } => ErrorKind::Refused,
        BollardError::JsonDataError { .. }
        | BollardError::JsonSerdeError { .. }
        | BollardError::StrParseError { .. } => ErrorKind::Malformed,
        BollardError::RequestTimeoutError => ErrorKind::Timeout,
        _ => ErrorKind::Unreachable,
    };
    EngineError::new(kind, format!("{} at {endpoint}: {what}: {}", dialect.name, with_causes(&e)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard::models::{ContainerConfig, ContainerState, EventActor, HostConfig};

    fn inspected(pid: i64, running: bool, paused: bool) -> ContainerInspectResponse {
        ContainerInspectResponse {
            id: Some("abc".into()),
            name: Some("/web".into()),
            image: Some("sha256:0123".into()),
            state: Some(ContainerState {
                pid: Some(pid),
                running: Some(running),
                paused: Some(paused),
                started_at: Some("2026-11-26T11:20:33.123456789Z".into()),
                ..Default::default()
            }),
            config: Some(ContainerConfig {
                image: Some("busybox:local".into()),
                labels: Some(HashMap::from([
                    ("com.docker.compose.project".into(), "shop".into()),
                    ("a".into(), "1".into()),
                    ("io.kubernetes.pod.name".into(), "pod-1".into()),
                    ("io.kubernetes.docker.type".into(), "podsandbox".into()),
                ])),
                ..Default::default()
            }),
            host_config: Some(HostConfig { privileged: Some(true), ..Default::default() }),
            ..Default::default()
        }
    }

    #[test]
    fn inspect_maps_alive_containers() {
        let c = to_container("abc", inspected(42, true, false)).unwrap().draft();
        assert_eq!(
            (c.id.as_str(), c.name.as_str(), c.project.as_str(), c.pid, c.paused),
            ("abc", "web", "shop", 42, false)
        );
        assert!(c.privileged);
        assert_eq!((c.image.as_str(), c.image_id.as_str()), ("busybox:local", "sha256:0123"));
        assert_eq!(c.started_at_ns, 1_795_692_033_123_456_789);
        assert_eq!((c.pod.name.as_str(), c.pod.sandbox), ("pod-1", true));
        assert_eq!(c.labels[0], ("a".to_string(), "1".to_string()));
        assert_eq!(c.labels.len(), 4, "only the container's own labels");
        assert!(to_container("abc", inspected(42, true, true)).unwrap().paused);
    }

    #[test]
    fn inspect_skips_processless_and_degenerate_replies() {
        assert_eq!(to_container("abc", inspected(0, false, false)), None);
        assert_eq!(to_container("abc", inspected(42, false, false)), None);
        assert_eq!(to_container("abc", inspected(1 << 40, true, false)), None);
        assert_eq!(to_container("abc", ContainerInspectResponse::default()), None);
        let bare = ContainerInspectResponse {
            state: Some(ContainerState { pid: Some(7), running: Some(true), ..Default::default() }),
            ..Default::default()
        };
        let c = to_container("req", bare).unwrap().draft();
        assert_eq!((c.id.as_str(), c.name.as_str(), c.labels.len()), ("req", "req", 0));
        assert_eq!((c.image.as_str(), c.started_at_ns, c.privileged), ("", 0, false));
        let mut never = inspected(7, true, false);
        never.state.as_mut().unwrap().started_at = Some("0001-01-01T00:00:00Z".into());
        assert_eq!(to_container("abc", never).unwrap().started_at_ns, 0);
    }

    fn message(action: &str, attrs: &[(&str, &str)]) -> EventMessage {
        EventMessage {
            typ: Some(EventMessageTypeEnum::CONTAINER),
            action: Some(action.into()),
            actor: Some(EventActor {
                id: Some("abc".into()),
                attributes: Some(attrs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()),
            }),
            ..Default::default()
        }
    }

    #[test]
    fn events_map_to_lifecycle_events() {
        assert_eq!(to_event(message("start", &[])), Some(Event::new("abc", EventKind::Started)));
        assert_eq!(to_event(message("die", &[("exitCode", "137")])), Some(Event::new("abc", EventKind::Died)));
        assert_eq!(to_event(message("pause", &[])), Some(Event::new("abc", EventKind::Paused)));
        assert_eq!(to_event(message("unpause", &[])), Some(Event::new("abc", EventKind::Unpaused)));
        assert_eq!(
            to_event(message("rename", &[("name", "new"), ("oldName", "/old")])),
            Some(Event::new("abc", EventKind::Renamed("new".into())))
        );
        assert_eq!(to_event(message("exec_die", &[])), None);
        assert_eq!(to_event(message("rename", &[])), None);
        let mut image = message("start", &[]);
        image.typ = Some(EventMessageTypeEnum::IMAGE);
        assert_eq!(to_event(image), None);
        let mut anonymous = message("start", &[]);
        anonymous.actor = None;
        assert_eq!(to_event(anonymous), None);
        for bad in ["", "../../etc/passwd", "a b", "x?y=1"] {
            let mut m = message("start", &[]);
            m.actor.as_mut().unwrap().id = Some(bad.into());
            assert_eq!(to_event(m), None, "{bad:?}");
        }
    }
}
