//! CRI runtimes (CRI-O, containerd's CRI plugin, any runtime that speaks
//! Kubernetes' Container Runtime Interface), over their gRPC API.
//!
//! - Containers are the running CRI containers plus the ready pod
//!   sandboxes (as in the Go original), all in the project "": pods are not
//!   compose projects; the pod fields carry the pod. A container's name is
//!   its Kubernetes container name, a sandbox's its pod's name.
//! - The lists tell everything but the PID, the privileged flag and the
//!   start time: those come from one verbose status call per container,
//!   once per container and connection (they never change for a CRI ID).
//! - Changes are learnt by relisting every `relist_interval` (two list calls
//!   per interval), because `GetContainerEvents` is not safe by default: on
//!   containerd 1.7 it is one queue shared by all subscribers, so a second
//!   subscriber splits the events with kubelet's. With `use_events`, the
//!   event stream is followed as well, the relist being its consistency
//!   check; a runtime answering `Unimplemented` is only relisted.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures_util::future::BoxFuture;
use futures_util::stream::{self, BoxStream, StreamExt};
use k8s_cri::v1::runtime_service_client::RuntimeServiceClient;
use k8s_cri::v1::{
    ContainerEventType, ContainerFilter, ContainerState, ContainerStateValue, ContainerStatusRequest, GetEventsRequest,
    ListContainersRequest, ListPodSandboxRequest, PodSandboxFilter, PodSandboxState, PodSandboxStateValue,
    PodSandboxStatusRequest, VersionRequest,
};
use serde_json::Value;
use tonic::transport::Channel;
use tonic::Code;

use crate::core::engine::{with_causes, Connection, Engine, EngineError, ErrorKind, Listed};
use crate::core::model::{Container, ContainerDraft, EngineInfo, Event, EventKind};
use crate::core::options::EngineKind;
use crate::core::pods::Pod;
use crate::core::relist::{self, Seen};

/// `engine_type` of CRI watchers (the Go original's).
pub const CRI_TYPE: &str = "k8s.io/cri-api";
/// The CRI API version asked for in `Version`.
const KUBE_API_VERSION: &str = "v1";

/// A CRI runtime at one unix socket.
pub struct CriEngine {
    socket: PathBuf,
    call_timeout: Duration,
    relist_interval: Duration,
    use_events: bool,
}

impl CriEngine {
    pub fn new(socket: PathBuf, call_timeout: Duration, relist_interval: Duration, use_events: bool) -> Self {
        CriEngine { socket, call_timeout, relist_interval, use_events }
    }
}

fn status_error(endpoint: &str, what: &str, s: tonic::Status) -> EngineError {
    let kind = match s.code() {
        Code::Unavailable | Code::Unknown | Code::Cancelled | Code::Aborted => ErrorKind::Unreachable,
        Code::DeadlineExceeded => ErrorKind::Timeout,
        Code::Internal | Code::DataLoss => ErrorKind::Malformed,
        _ => ErrorKind::Refused,
    };
    EngineError::new(kind, format!("CRI runtime at {endpoint}: {what}: {}", with_causes(&s)))
}

impl Engine for CriEngine {
    fn describe(&self) -> EngineInfo {
        EngineInfo::new(EngineKind::Cri, CRI_TYPE, format!("unix://{}", self.socket.display()))
    }

    fn connect(&self) -> BoxFuture<'static, Result<Arc<dyn Connection>, EngineError>> {
        let (socket, mut info) = (self.socket.clone(), self.describe());
        let (interval, call_timeout, use_events) = (self.relist_interval, self.call_timeout, self.use_events);
        Box::pin(async move {
            let endpoint = info.endpoint.clone();
            let unreachable = |e: &dyn std::fmt::Display| {
                EngineError::new(ErrorKind::Unreachable, format!("cannot connect to a CRI runtime at {endpoint}: {e}"))
            };
            let probe = tokio::net::UnixStream::connect(&socket).await.map_err(|e| unreachable(&e))?;
            info.pid = crate::core::sockets::engine_pid(&socket, &probe);
            drop(probe);
            let channel = super::grpc::channel(&socket).await.map_err(|e| unreachable(&with_causes(&e)))?;
            let mut client = RuntimeServiceClient::new(channel.clone());
            let v = client
                .version(VersionRequest { version: KUBE_API_VERSION.into() })
                .await
                .map_err(|s| match s.code() {
                    // Something else answers gRPC on this socket.
                    Code::Unimplemented => EngineError::new(
                        ErrorKind::Refused,
                        format!("{endpoint} does not speak the CRI API (v1): {}", s.message()),
                    ),
                    _ => status_error(&endpoint, "version", s),
                })?
                .into_inner();
            info.version = format!("{} {}", v.runtime_name, v.runtime_version).trim().to_string();
            // CRI has no engine ID; the host's name serves, as in the Go original.
            info.id = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default().trim().to_string();
            let cache = Arc::new(Mutex::new(Cache::default()));
            let baseline = relist_now(&channel, &endpoint, &cache).await?;
            Ok(Arc::new(CriConnection {
                channel,
                endpoint,
                info,
                cache,
                baseline: Mutex::new(Some(baseline)),
                interval,
                call_timeout,
                use_events,
            }) as Arc<dyn Connection>)
        })
    }
}

/// What the lists told, per connection: the latest containers and
/// sandboxes, and what the verbose status calls told of each ID.
#[derive(Default)]
struct Cache {
    containers: HashMap<String, k8s_cri::v1::Container>,
    sandboxes: HashMap<String, k8s_cri::v1::PodSandbox>,
    details: HashMap<String, Details>,
}

/// What only a verbose status call tells.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Details {
    pid: i32,
    privileged: bool,
    started_at_ns: i64,
}

struct CriConnection {
    channel: Channel,
    endpoint: String,
    info: EngineInfo,
    cache: Arc<Mutex<Cache>>,
    /// The first relist, taken while connecting; taken by `events`.
    baseline: Mutex<Option<Vec<Seen>>>,
    interval: Duration,
    call_timeout: Duration,
    use_events: bool,
}

/// Lists running containers and ready sandboxes (two calls), refreshes the
/// cache, and returns what a relist compares.
async fn relist_now(channel: &Channel, endpoint: &str, cache: &Mutex<Cache>) -> Result<Vec<Seen>, EngineError> {
    let mut client = RuntimeServiceClient::new(channel.clone());
    let running = ContainerFilter {
        state: Some(ContainerStateValue { state: ContainerState::ContainerRunning as i32 }),
        ..Default::default()
    };
    let containers = client
        .list_containers(ListContainersRequest { filter: Some(running) })
        .await
        .map_err(|s| status_error(endpoint, "list containers", s))?
        .into_inner()
        .containers;
    let ready = PodSandboxFilter {
        state: Some(PodSandboxStateValue { state: PodSandboxState::SandboxReady as i32 }),
        ..Default::default()
    };
    let sandboxes = client
        .list_pod_sandbox(ListPodSandboxRequest { filter: Some(ready) })
        .await
        .map_err(|s| status_error(endpoint, "list pod sandboxes", s))?
        .into_inner()
        .items;
    let mut seen: Vec<Seen> = Vec::with_capacity(containers.len() + sandboxes.len());
    let mut c = cache.lock().unwrap_or_else(PoisonError::into_inner);
    c.containers.clear();
    c.sandboxes.clear();
    for ctr in containers.into_iter().filter(|c| c.state == ContainerState::ContainerRunning as i32 && !c.id.is_empty())
    {
        seen.push(Seen { id: ctr.id.clone(), pid: 0, paused: false });
        c.containers.insert(ctr.id.clone(), ctr);
    }
    for sb in sandboxes.into_iter().filter(|s| s.state == PodSandboxState::SandboxReady as i32 && !s.id.is_empty()) {
        seen.push(Seen { id: sb.id.clone(), pid: 0, paused: false });
        c.sandboxes.insert(sb.id.clone(), sb);
    }
    let alive: std::collections::HashSet<&String> = seen.iter().map(|s| &s.id).collect();
    c.details.retain(|id, _| alive.contains(id));
    Ok(seen)
}

/// The runtime's `GetContainerEvents` stream, mapped. A runtime without
/// the call (`Unimplemented`) gives an empty stream: relisting alone then
/// tells what changed. (containerd 1.7 answers the call only with its first
/// event, so the call is made here, in the stream, not while connecting.)
fn followed(channel: Channel, endpoint: String) -> BoxStream<'static, Result<Event, EngineError>> {
    let opened = async move {
        let mut client = RuntimeServiceClient::new(channel);
        match client.get_container_events(GetEventsRequest {}).await {
            Ok(r) => {
                let endpoint = endpoint.clone();
                r.into_inner()
                    .filter_map(move |item| {
                        let out = match item {
                            Ok(ev) => to_event(&ev).map(Ok),
                            Err(s) => Some(Err(status_error(&endpoint, "container events", s))),
                        };
                        std::future::ready(out)
                    })
                    .boxed()
            }
            Err(s) if s.code() == Code::Unimplemented => stream::empty().boxed(),
            Err(s) => stream::once(std::future::ready(Err(status_error(&endpoint, "container events", s)))).boxed(),
        }
    };
    stream::once(opened).flatten().boxed()
}

impl Connection for CriConnection {
    fn info(&self) -> &EngineInfo {
        &self.info
    }

    fn events(&self) -> BoxStream<'static, Result<Event, EngineError>> {
        let Some(baseline) = self.baseline.lock().unwrap_or_else(PoisonError::into_inner).take() else {
            let e = EngineError::new(ErrorKind::Unreachable, "CRI: the event stream was already taken");
            return stream::once(async move { Err(e) }).boxed();
        };
        let (channel, endpoint, cache) = (self.channel.clone(), self.endpoint.clone(), Arc::clone(&self.cache));
        let lister: relist::Lister = Box::new(move || {
            let (channel, endpoint, cache) = (channel.clone(), endpoint.clone(), Arc::clone(&cache));
            Box::pin(async move { relist_now(&channel, &endpoint, &cache).await })
        });
        let relisted = relist::events(self.interval, self.call_timeout, baseline, lister);
        if self.use_events {
            stream::select(followed(self.channel.clone(), self.endpoint.clone()), relisted).boxed()
        } else {
            relisted
        }
    }

    fn list(&self) -> BoxFuture<'static, Result<Vec<Listed>, EngineError>> {
        let (channel, endpoint, cache) = (self.channel.clone(), self.endpoint.clone(), Arc::clone(&self.cache));
        Box::pin(async move {
            Ok(relist_now(&channel, &endpoint, &cache).await?.into_iter().map(|s| Listed::Inspect(s.id)).collect())
        })
    }

    fn inspect(&self, id: String) -> BoxFuture<'static, Result<Option<Container>, EngineError>> {
        let (channel, endpoint, cache) = (self.channel.clone(), self.endpoint.clone(), Arc::clone(&self.cache));
        Box::pin(async move { inspect(&channel, &endpoint, &cache, &id).await })
    }
}

/// Maps a CRI event; only starts and stops matter (a sandbox's events
/// carry the sandbox's ID).
fn to_event(ev: &k8s_cri::v1::ContainerEventResponse) -> Option<Event> {
    let kind = match ContainerEventType::try_from(ev.container_event_type).ok()? {
        ContainerEventType::ContainerStartedEvent => EventKind::Started,
        ContainerEventType::ContainerStoppedEvent | ContainerEventType::ContainerDeletedEvent => EventKind::Died,
        ContainerEventType::ContainerCreatedEvent => return None,
    };
    (!ev.container_id.is_empty()).then(|| Event::new(ev.container_id.clone(), kind))
}

/// One container or sandbox, from the cache (refreshed by a filtered list
/// when it is not there yet) plus its verbose status, once per connection.
async fn inspect(
    channel: &Channel,
    endpoint: &str,
    cache: &Mutex<Cache>,
    id: &str,
) -> Result<Option<Container>, EngineError> {
    let mut client = RuntimeServiceClient::new(channel.clone());
    let known = {
        let c = cache.lock().unwrap_or_else(PoisonError::into_inner);
        (c.containers.contains_key(id), c.sandboxes.contains_key(id))
    };
    if known == (false, false) {
        // Not listed yet (an event came first): ask for it alone.
        let by_id = ContainerFilter { id: id.to_string(), ..Default::default() };
        let cs = client
            .list_containers(ListContainersRequest { filter: Some(by_id) })
            .await
            .map_err(|s| status_error(endpoint, &format!("inspect {id}"), s))?
            .into_inner()
            .containers;
        let sb_by_id = PodSandboxFilter { id: id.to_string(), ..Default::default() };
        let sbs = client
            .list_pod_sandbox(ListPodSandboxRequest { filter: Some(sb_by_id) })
            .await
            .map_err(|s| status_error(endpoint, &format!("inspect {id}"), s))?
            .into_inner()
            .items;
        let mut c = cache.lock().unwrap_or_else(PoisonError::into_inner);
        for ctr in cs.into_iter().filter(|c| c.id == id && c.state == ContainerState::ContainerRunning as i32) {
            c.containers.insert(ctr.id.clone(), ctr);
        }
        for sb in sbs.into_iter().filter(|s| s.id == id && s.state == PodSandboxState::SandboxReady as i32) {
            c.sandboxes.insert(sb.id.clone(), sb);
        }
    }
    let (ctr, sandbox) = {
        let c = cache.lock().unwrap_or_else(PoisonError::into_inner);
        let ctr = c.containers.get(id).cloned();
        let sandbox = c.sandboxes.get(ctr.as_ref().map_or(id, |c| c.pod_sandbox_id.as_str())).cloned();
        (ctr, sandbox)
    };
    let details = match details(&mut client, endpoint, cache, id, ctr.is_some()).await? {
        Some(d) => d,
        None => return Ok(None),
    };
    Ok(match ctr {
        Some(ctr) => to_container(&ctr, sandbox.as_ref(), details),
        None => sandbox.as_ref().and_then(|sb| to_sandbox(sb, details)),
    })
}

/// The verbose status of a container (or sandbox): once per ID and connection.
async fn details(
    client: &mut RuntimeServiceClient<Channel>,
    endpoint: &str,
    cache: &Mutex<Cache>,
    id: &str,
    is_container: bool,
) -> Result<Option<Details>, EngineError> {
    if let Some(d) = cache.lock().unwrap_or_else(PoisonError::into_inner).details.get(id) {
        return Ok(Some(*d));
    }
    let what = format!("status of {id}");
    let (info, started_at_ns) = if is_container {
        match client.container_status(ContainerStatusRequest { container_id: id.to_string(), verbose: true }).await {
            Ok(r) => {
                let r = r.into_inner();
                let running = r.status.as_ref().is_some_and(|s| s.state == ContainerState::ContainerRunning as i32);
                if !running {
                    return Ok(None);
                }
                (r.info, r.status.map_or(0, |s| s.started_at))
            }
            Err(s) if s.code() == Code::NotFound => return Ok(None),
            Err(s) => return Err(status_error(endpoint, &what, s)),
        }
    } else {
        match client.pod_sandbox_status(PodSandboxStatusRequest { pod_sandbox_id: id.to_string(), verbose: true }).await
        {
            Ok(r) => {
                let r = r.into_inner();
                let ready = r.status.as_ref().is_some_and(|s| s.state == PodSandboxState::SandboxReady as i32);
                if !ready {
                    return Ok(None);
                }
                (r.info, r.status.map_or(0, |s| s.created_at))
            }
            Err(s) if s.code() == Code::NotFound => return Ok(None),
            Err(s) => return Err(status_error(endpoint, &what, s)),
        }
    };
    let Some((pid, privileged)) = parse_info(&info) else {
        return Err(EngineError::new(
            ErrorKind::Malformed,
            format!("CRI runtime at {endpoint}: {what}: the verbose status tells no PID"),
        ));
    };
    let d = Details { pid, privileged, started_at_ns };
    cache.lock().unwrap_or_else(PoisonError::into_inner).details.insert(id.to_string(), d);
    Ok(Some(d))
}

/// PID and privileged flag from a verbose status's `info["info"]` JSON:
/// `pid` (containerd, CRI-O), and `privileged` (CRI-O) or the CRI config's
/// `linux.security_context.privileged` (containerd).
fn parse_info(info: &HashMap<String, String>) -> Option<(i32, bool)> {
    let v: Value = serde_json::from_str(info.get("info")?).ok()?;
    let pid = i32::try_from(v.get("pid")?.as_i64()?).ok().filter(|&p| p > 0)?;
    let privileged = v.get("privileged").and_then(Value::as_bool).unwrap_or_else(|| {
        v.pointer("/config/linux/security_context/privileged").and_then(Value::as_bool).unwrap_or(false)
    });
    Some((pid, privileged))
}

fn pod_of(sandbox: Option<&k8s_cri::v1::PodSandbox>, is_sandbox: bool) -> Pod {
    let meta = sandbox.and_then(|s| s.metadata.as_ref());
    Pod {
        name: meta.map(|m| m.name.clone()).unwrap_or_default(),
        namespace: meta.map(|m| m.namespace.clone()).unwrap_or_default(),
        uid: meta.map(|m| m.uid.clone()).unwrap_or_default(),
        sandbox: is_sandbox,
    }
}

fn to_container(
    c: &k8s_cri::v1::Container,
    sandbox: Option<&k8s_cri::v1::PodSandbox>,
    d: Details,
) -> Option<Container> {
    let name = c.metadata.as_ref().map(|m| m.name.clone()).filter(|n| !n.is_empty()).unwrap_or_else(|| c.id.clone());
    let mut out = ContainerDraft::new(c.id.clone(), name, d.pid, false, c.labels.clone().into_iter().collect());
    // Pods are not compose projects.
    out.project.clear();
    out.image = c.image.as_ref().map(|i| i.image.clone()).unwrap_or_default();
    out.image_id = if c.image_ref.is_empty() { c.image_id.clone() } else { c.image_ref.clone() };
    out.privileged = d.privileged;
    out.started_at_ns = d.started_at_ns;
    out.pod = pod_of(sandbox, false);
    Some(out.build())
}

fn to_sandbox(sb: &k8s_cri::v1::PodSandbox, d: Details) -> Option<Container> {
    let pod = pod_of(Some(sb), true);
    let name = if pod.name.is_empty() { sb.id.clone() } else { pod.name.clone() };
    let mut out = ContainerDraft::new(sb.id.clone(), name, d.pid, false, sb.labels.clone().into_iter().collect());
    out.project.clear();
    out.privileged = d.privileged;
    out.started_at_ns = d.started_at_ns;
    out.pod = pod;
    Some(out.build())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verbose_info_gives_pid_and_privileged() {
        let info = |json: &str| HashMap::from([("info".to_string(), json.to_string())]);
        assert_eq!(
            parse_info(&info(r#"{"pid": 42, "config": {"linux": {"security_context": {"privileged": true}}}}"#)),
            Some((42, true))
        );
        assert_eq!(parse_info(&info(r#"{"pid": 7, "privileged": true}"#)), Some((7, true)));
        assert_eq!(parse_info(&info(r#"{"pid": 7}"#)), Some((7, false)));
        for bad in [r#"{"pid": 0}"#, r#"{"pid": -1}"#, r#"{}"#, "not json", r#"{"pid": 99999999999}"#] {
            assert_eq!(parse_info(&info(bad)), None, "{bad}");
        }
        assert_eq!(parse_info(&HashMap::new()), None);
    }

    #[test]
    fn events_map_starts_and_stops() {
        let ev = |id: &str, t: ContainerEventType| k8s_cri::v1::ContainerEventResponse {
            container_id: id.into(),
            container_event_type: t as i32,
            ..Default::default()
        };
        assert_eq!(
            to_event(&ev("a", ContainerEventType::ContainerStartedEvent)),
            Some(Event::new("a", EventKind::Started))
        );
        assert_eq!(
            to_event(&ev("a", ContainerEventType::ContainerStoppedEvent)),
            Some(Event::new("a", EventKind::Died))
        );
        assert_eq!(to_event(&ev("a", ContainerEventType::ContainerCreatedEvent)), None);
        assert_eq!(to_event(&ev("", ContainerEventType::ContainerStartedEvent)), None);
    }
}
