//! podman, over its Docker-compatible API plus its own API where the two
//! differ in ways that matter for tracking:
//! - podman's Docker API filters events by podman's own names: a filter on
//!   `die` matches nothing (podman calls it `died`, and only reports it as
//!   `die`), so containers that were killed, stopped or removed would never
//!   leave the snapshot. The event filter asks for both names.
//! - the Docker API says nothing about pods: the inspection comes from
//!   podman's own API (`/libpod/containers/ID/json`), which names the pod
//!   and whether the container is the pod's infra container; the pod's name
//!   comes from `/libpod/pods/ID/json`, once per pod and connection.
//! - podman's own API gives image IDs without the `sha256:` prefix the
//!   Docker API shows; the prefix is put back.
//! - an engine configured without an event log (`events_logger = "none"`)
//!   sends no events at all; then the watcher relists instead (see
//!   [`crate::core::relist`]), at `relist_interval`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures_util::future::BoxFuture;
use futures_util::stream::BoxStream;
use serde::Deserialize;

use super::clock::rfc3339_to_unix_nanos;
use super::docker::{self, valid_id, Dialect, DockerConnection};
use super::http;
use crate::core::engine::{Connection, Details, Engine, EngineError, ErrorKind, Listed};
use crate::core::model::{Container, ContainerDraft, EngineInfo, Event};
use crate::core::options::{Endpoint, EngineKind};
use crate::core::pods::Pod;
use crate::core::relist;

/// `engine_type` of podman watchers.
pub const PODMAN_TYPE: &str = "podman.io";

/// podman's Docker API.
pub const PODMAN: Dialect = Dialect {
    kind: EngineKind::Podman,
    engine_type: PODMAN_TYPE,
    name: "podman",
    // "died" is what podman's filter matches; "die" in case a later
    // version matches Docker's name.
    events: &["start", "die", "died", "pause", "unpause", "rename"],
};

/// The API version prefix of podman's own endpoints (podman 4 and 5 serve it).
const LIBPOD: &str = "/v4.0.0/libpod";

/// A podman service at one endpoint.
pub struct PodmanEngine {
    endpoint: Endpoint,
    call_timeout: Duration,
    relist_interval: Duration,
}

impl PodmanEngine {
    pub fn new(endpoint: Endpoint, call_timeout: Duration, relist_interval: Duration) -> Self {
        PodmanEngine { endpoint, call_timeout, relist_interval }
    }
}

impl Engine for PodmanEngine {
    fn describe(&self) -> EngineInfo {
        EngineInfo::new(EngineKind::Podman, PODMAN_TYPE, self.endpoint.to_string())
    }

    fn connect(&self) -> BoxFuture<'static, Result<Arc<dyn Connection>, EngineError>> {
        let connecting = docker::connect(self.endpoint.clone(), self.call_timeout, PODMAN, None);
        let (endpoint, interval, call_timeout) = (self.endpoint.clone(), self.relist_interval, self.call_timeout);
        Box::pin(async move { adopt(connecting.await?, endpoint, call_timeout, interval).await })
    }
}

/// Makes a connection to podman's Docker API a podman connection: pods from
/// podman's own API, relisting if podman logs no events, and an engine ID
/// that stays (podman's Docker `/info` makes a new one up on every call).
pub async fn adopt(
    mut docker: DockerConnection,
    endpoint: Endpoint,
    call_timeout: Duration,
    interval: Duration,
) -> Result<Arc<dyn Connection>, EngineError> {
    let mut about = libpod_info(&endpoint).await?;
    if let Some(id) = about.id() {
        docker.set_id(id);
    }
    if let Some(v) = about.version.take() {
        docker.set_version(v);
    }
    let relist = match about.event_logger.as_deref() {
        // The first list to compare with, taken before connecting ends.
        Some("none") => Some(Relist { interval, call_timeout, baseline: Mutex::new(Some(alive(&endpoint).await?)) }),
        _ => None,
    };
    let conn = PodmanConnection { docker: Arc::new(docker), endpoint, pods: Arc::default(), relist };
    Ok(Arc::new(conn) as Arc<dyn Connection>)
}

/// What podman's own `/info` tells about the service.
#[derive(Debug, Default, PartialEq, Eq)]
struct About {
    /// "file", "journald", "none", if it says.
    event_logger: Option<String>,
    hostname: Option<String>,
    /// The container storage: one per podman instance (root, each user).
    graph_root: Option<String>,
    /// podman's release.
    version: Option<String>,
}

impl About {
    /// podman has no engine ID of its own: its host and its storage
    /// identify it across restarts.
    fn id(&self) -> Option<String> {
        match (&self.hostname, &self.graph_root) {
            (Some(h), Some(g)) if !g.is_empty() => Some(format!("{h}:{g}")),
            _ => None,
        }
    }
}

fn parse_about(body: &[u8]) -> Result<About, serde_json::Error> {
    #[derive(Deserialize)]
    struct Info {
        host: Option<Host>,
        store: Option<Store>,
        version: Option<Version>,
    }
    #[derive(Deserialize)]
    struct Version {
        #[serde(rename = "Version")]
        version: Option<String>,
    }
    #[derive(Deserialize)]
    struct Host {
        #[serde(rename = "eventLogger")]
        event_logger: Option<String>,
        hostname: Option<String>,
    }
    #[derive(Deserialize)]
    struct Store {
        #[serde(rename = "graphRoot")]
        graph_root: Option<String>,
    }
    let info: Info = serde_json::from_slice(body)?;
    let (event_logger, hostname) = info.host.map(|h| (h.event_logger, h.hostname)).unwrap_or_default();
    let version = info.version.and_then(|v| v.version).filter(|v| !v.is_empty());
    Ok(About { event_logger, hostname, graph_root: info.store.and_then(|s| s.graph_root), version })
}

async fn libpod_info(endpoint: &Endpoint) -> Result<About, EngineError> {
    let (status, body) = get(endpoint, &format!("{LIBPOD}/info")).await?;
    if status != 200 {
        return Err(EngineError::new(
            ErrorKind::Refused,
            format!("podman at {endpoint}: {LIBPOD}/info answered {status}: is this a podman service?"),
        ));
    }
    parse_about(&body).map_err(|e| malformed(endpoint, "info", &e))
}

/// The alive containers as podman's own list shows them: with their PIDs,
/// so that a restart between two relists is seen too.
async fn alive(endpoint: &Endpoint) -> Result<Vec<relist::Seen>, EngineError> {
    #[derive(Deserialize, Default)]
    #[serde(rename_all = "PascalCase", default)]
    struct Listed {
        id: String,
        pid: i64,
        state: String,
    }
    // filters={"status":["running","paused"]}
    let path = format!("{LIBPOD}/containers/json?filters=%7B%22status%22%3A%5B%22running%22%2C%22paused%22%5D%7D");
    let (status, body) = get(endpoint, &path).await?;
    if status != 200 {
        return Err(EngineError::new(ErrorKind::Refused, format!("podman at {endpoint}: list answered {status}")));
    }
    let listed: Vec<Listed> = serde_json::from_slice(&body).map_err(|e| malformed(endpoint, "list", &e))?;
    Ok(listed
        .into_iter()
        .filter(|c| valid_id(&c.id))
        .map(|c| relist::Seen { id: c.id, pid: i32::try_from(c.pid).unwrap_or(0), paused: c.state == "paused" })
        .collect())
}

/// Relisting instead of following events, for an engine that logs none.
struct Relist {
    interval: Duration,
    call_timeout: Duration,
    baseline: Mutex<Option<Vec<relist::Seen>>>,
}

struct PodmanConnection {
    docker: Arc<DockerConnection>,
    endpoint: Endpoint,
    /// Pod names by pod ID, learnt on this connection.
    pods: Arc<Mutex<HashMap<String, String>>>,
    relist: Option<Relist>,
}

impl Connection for PodmanConnection {
    fn info(&self) -> &EngineInfo {
        self.docker.info()
    }

    fn details(&self) -> Option<BoxFuture<'static, Result<Details, EngineError>>> {
        // The ID is podman's own; the serving process is still to be found.
        Some(self.docker.serving_process())
    }

    fn events(&self) -> BoxStream<'static, Result<Event, EngineError>> {
        match &self.relist {
            None => self.docker.events(),
            Some(r) => {
                let baseline = r.baseline.lock().unwrap_or_else(PoisonError::into_inner).take().unwrap_or_default();
                let endpoint = self.endpoint.clone();
                let lister: relist::Lister = Box::new(move || {
                    let endpoint = endpoint.clone();
                    Box::pin(async move { alive(&endpoint).await })
                });
                relist::events(r.interval, r.call_timeout, baseline, lister)
            }
        }
    }

    fn list(&self) -> BoxFuture<'static, Result<Vec<Listed>, EngineError>> {
        self.docker.list()
    }

    fn inspect(&self, id: String) -> BoxFuture<'static, Result<Option<Container>, EngineError>> {
        let (endpoint, pods) = (self.endpoint.clone(), Arc::clone(&self.pods));
        Box::pin(async move { inspect(&endpoint, &pods, &id).await })
    }
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct Inspected {
    id: String,
    name: String,
    state: Option<State>,
    config: Option<Config>,
    image_name: String,
    image: String,
    host_config: Option<HostConfig>,
    pod: String,
    is_infra: bool,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct State {
    running: bool,
    paused: bool,
    pid: i64,
    started_at: String,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct Config {
    labels: Option<HashMap<String, String>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct HostConfig {
    privileged: bool,
}

/// `GET path` at podman's endpoint, with errors that name it.
async fn get(endpoint: &Endpoint, path: &str) -> Result<(u16, hyper::body::Bytes), EngineError> {
    http::get(endpoint, path).await.map_err(|e| EngineError::new(e.kind, format!("podman at {endpoint}: {}", e.msg)))
}

fn malformed(endpoint: &Endpoint, what: &str, e: &dyn std::fmt::Display) -> EngineError {
    EngineError::new(ErrorKind::Malformed, format!("podman at {endpoint}: {what}: {e}"))
}

/// One container from podman's own inspection, with its pod.
async fn inspect(
    endpoint: &Endpoint,
    pods: &Mutex<HashMap<String, String>>,
    id: &str,
) -> Result<Option<Container>, EngineError> {
    if !valid_id(id) {
        return Ok(None);
    }
    let (status, body) = get(endpoint, &format!("{LIBPOD}/containers/{id}/json")).await?;
    match status {
        200 => {}
        404 => return Ok(None),
        _ => {
            let why = String::from_utf8_lossy(&body[..body.len().min(200)]).trim().to_string();
            return Err(EngineError::new(
                ErrorKind::Refused,
                format!("podman at {endpoint}: inspect {id}: {status} {why}"),
            ));
        }
    }
    let details: Inspected =
        serde_json::from_slice(&body).map_err(|e| malformed(endpoint, &format!("inspect {id}"), &e))?;
    if !details.id.is_empty() && details.id != id {
        return Err(malformed(endpoint, &format!("inspect {id}"), &"the engine answered for another container"));
    }
    let pod_name = match details.pod.as_str() {
        "" => String::new(),
        pod => pod_name(endpoint, pods, pod).await?,
    };
    Ok(to_container(id, details, pod_name))
}

/// The name of pod `pod`, learnt once per connection; `""` if it is gone.
async fn pod_name(
    endpoint: &Endpoint,
    pods: &Mutex<HashMap<String, String>>,
    pod: &str,
) -> Result<String, EngineError> {
    if let Some(name) = pods.lock().unwrap_or_else(PoisonError::into_inner).get(pod) {
        return Ok(name.clone());
    }
    if !valid_id(pod) {
        return Ok(String::new());
    }
    #[derive(Deserialize, Default)]
    #[serde(rename_all = "PascalCase", default)]
    struct PodInspect {
        name: String,
    }
    let (status, body) = get(endpoint, &format!("{LIBPOD}/pods/{pod}/json")).await?;
    if status != 200 {
        return Ok(String::new());
    }
    let p: PodInspect = serde_json::from_slice(&body).map_err(|e| malformed(endpoint, &format!("pod {pod}"), &e))?;
    pods.lock().unwrap_or_else(PoisonError::into_inner).insert(pod.to_string(), p.name.clone());
    Ok(p.name)
}

/// The alive container podman's inspection shows, or `None` without an
/// initial process.
fn to_container(requested: &str, d: Inspected, pod_name: String) -> Option<Container> {
    let state = d.state?;
    let pid = i32::try_from(state.pid).ok().filter(|&p| p > 0)?;
    if !(state.running || state.paused) {
        return None;
    }
    let id = if d.id.is_empty() { requested.to_string() } else { d.id };
    let name = Some(d.name).filter(|n| !n.is_empty()).unwrap_or_else(|| id.clone());
    let labels = d.config.and_then(|c| c.labels).unwrap_or_default();
    let mut c = ContainerDraft::new(id, name, pid, state.paused, labels);
    c.image = d.image_name;
    c.image_id = match d.image.len() {
        64 if d.image.bytes().all(|b| b.is_ascii_hexdigit()) => format!("sha256:{}", d.image),
        _ => d.image,
    };
    c.privileged = d.host_config.is_some_and(|h| h.privileged);
    c.started_at_ns = rfc3339_to_unix_nanos(&state.started_at)
        .and_then(|ns| i64::try_from(ns).ok())
        .filter(|&ns| ns > 0)
        .unwrap_or(0);
    if !d.pod.is_empty() {
        c.pod = Pod { name: pod_name, namespace: String::new(), uid: d.pod, sandbox: d.is_infra };
    }
    Some(c.build())
}

#[cfg(test)]
mod tests {
    use super::*;

    const INSPECTED: &str = r#"{
        "Id": "abc", "Name": "web", "ImageName": "localhost/busybox:local",
        "Image": "5311828d5ad0582a2007bf544bcc4774cfdbbea72504b9da1543756a7f49ba22",
        "State": {"Status": "running", "Running": true, "Paused": false, "Pid": 42,
                  "StartedAt": "2026-11-29T20:36:10.672341086Z"},
        "Config": {"Labels": {"com.docker.compose.project": "shop"}},
        "HostConfig": {"Privileged": true},
        "Pod": "dd3352c94b62", "IsInfra": true
    }"#;

    #[test]
    fn podmans_id_is_its_host_and_storage_and_its_event_log_is_read() {
        let body = br#"{"host": {"eventLogger": "none", "hostname": "box", "arch": "amd64"},
                        "store": {"graphRoot": "/var/lib/containers/storage", "runRoot": "/run/containers"},
                        "version": {"APIVersion": "4.3.1", "Version": "4.3.1"}}"#;
        let a = parse_about(body).unwrap();
        assert_eq!(a.event_logger.as_deref(), Some("none"));
        assert_eq!(a.version.as_deref(), Some("4.3.1"));
        assert_eq!(a.id().as_deref(), Some("box:/var/lib/containers/storage"));
        // What is missing leaves the ID podman's Docker API gave.
        assert_eq!(parse_about(br#"{"host": {"hostname": "box"}}"#).unwrap().id(), None);
        assert_eq!(parse_about(b"{}").unwrap(), About::default());
        assert!(parse_about(b"[1]").is_err());
    }

    #[test]
    fn podman_inspections_map_to_containers_with_pods() {
        let d: Inspected = serde_json::from_str(INSPECTED).unwrap();
        let c = to_container("abc", d, "mypod".into()).unwrap().draft();
        assert_eq!((c.id.as_str(), c.name.as_str(), c.project.as_str(), c.pid), ("abc", "web", "shop", 42));
        assert_eq!(c.image_id, "sha256:5311828d5ad0582a2007bf544bcc4774cfdbbea72504b9da1543756a7f49ba22");
        assert_eq!(c.image, "localhost/busybox:local");
        assert!(c.privileged);
        assert_eq!(c.started_at_ns, 1_795_984_570_672_341_086);
        assert_eq!(
            c.pod,
            Pod { name: "mypod".into(), namespace: "".into(), uid: "dd3352c94b62".into(), sandbox: true }
        );
    }

    #[test]
    fn degenerate_inspections_are_skipped_or_filled() {
        let none: Inspected = serde_json::from_str("{}").unwrap();
        assert!(to_container("x", none, String::new()).is_none());
        let exited: Inspected = serde_json::from_str(r#"{"State": {"Running": false, "Pid": 0}}"#).unwrap();
        assert!(to_container("x", exited, String::new()).is_none());
        let bare: Inspected =
            serde_json::from_str(r#"{"State": {"Running": true, "Pid": 7}, "Config": null}"#).unwrap();
        let c = to_container("req", bare, String::new()).unwrap().draft();
        assert_eq!((c.id.as_str(), c.name.as_str(), c.pod.is_empty(), c.started_at_ns), ("req", "req", true, 0));
        assert!(serde_json::from_str::<Inspected>(r#"{"State": "running"}"#).is_err());
    }
}
