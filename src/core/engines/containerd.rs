//! The containerd engine, over its gRPC API (containerd-client, tonic), in
//! all namespaces but the ignored ones.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use containerd_client::events::{TaskExit, TaskPaused, TaskResumed, TaskStart};
use containerd_client::services::v1::containers_client::ContainersClient;
use containerd_client::services::v1::events_client::EventsClient;
use containerd_client::services::v1::images_client::ImagesClient;
use containerd_client::services::v1::introspection_client::IntrospectionClient;
use containerd_client::services::v1::namespaces_client::NamespacesClient;
use containerd_client::services::v1::tasks_client::TasksClient;
use containerd_client::services::v1::version_client::VersionClient;
use containerd_client::services::v1::{
    GetContainerRequest, GetImageRequest, GetRequest, ListContainersRequest, ListNamespacesRequest, PublishRequest,
    SubscribeRequest,
};
use containerd_client::types::v1::{Process, Status};
use containerd_client::types::Envelope;
use futures_util::future::{BoxFuture, FutureExt, Shared};
use futures_util::stream::BoxStream;
use futures_util::StreamExt;
use prost::Message;
use tokio::sync::mpsc;
use tonic::transport::Channel;
use tonic::{Code, Request};

use super::containerd_files::{Bundles, TaskState};
use crate::core::engine::{with_causes, Connection, Details, Engine, EngineError, ErrorKind, Listed};
use crate::core::model::{Container, ContainerDraft, EngineInfo, Event, EventKind};
use crate::core::options::EngineKind;
use crate::core::process;

/// `engine_type` of containerd watchers.
pub const CONTAINERD_TYPE: &str = "containerd.io";
/// The label nerdctl keeps a container's name in.
pub const NERDCTL_NAME_LABEL: &str = "nerdctl/name";
/// The label with a Kubernetes container's name.
pub const KUBE_CONTAINER_NAME_LABEL: &str = "io.kubernetes.container.name";
/// The namespace whose IDs and names go without a namespace prefix.
pub const DEFAULT_NAMESPACE: &str = "default";
/// The namespaces ignored unless the caller says otherwise: Docker's own
/// containers (watch them through Docker).
pub const DEFAULT_IGNORED_NAMESPACES: [&str; 1] = ["moby"];
/// The namespace the subscription markers are published in.
const MARKER_NAMESPACE: &str = "whalewatcher";
const TOPICS: [&str; 4] = ["/tasks/start", "/tasks/exit", "/tasks/paused", "/tasks/resumed"];

/// The ID (or name) a container is shown with: plain in `default`, else `ns/id`.
pub fn display_id(ns: &str, id: &str) -> String {
    if ns == DEFAULT_NAMESPACE {
        id.to_string()
    } else {
        format!("{ns}/{id}")
    }
}

/// Splits a display ID at its first `/` into namespace and ID.
pub fn decode_display_id(display: &str) -> (&str, &str) {
    display.split_once('/').unwrap_or((DEFAULT_NAMESPACE, display))
}

/// A containerd engine at one unix socket.
pub struct ContainerdEngine {
    socket: PathBuf,
    ignored: Arc<Vec<String>>,
    call_timeout: Duration,
}

impl ContainerdEngine {
    pub fn new(socket: PathBuf, ignored: Vec<String>, call_timeout: Duration) -> Self {
        ContainerdEngine { socket, ignored: Arc::new(ignored), call_timeout }
    }

    fn endpoint(&self) -> String {
        format!("unix://{}", self.socket.display())
    }
}

impl Engine for ContainerdEngine {
    fn describe(&self) -> EngineInfo {
        EngineInfo::new(EngineKind::Containerd, CONTAINERD_TYPE, self.endpoint())
    }

    fn connect(&self) -> BoxFuture<'static, Result<Arc<dyn Connection>, EngineError>> {
        let socket = self.socket.clone();
        let ignored = Arc::clone(&self.ignored);
        let mut info = self.describe();
        let marker_wait = self.call_timeout;
        Box::pin(async move {
            let endpoint = info.endpoint.clone();
            let unreachable = |e: &dyn std::fmt::Display| {
                EngineError::new(ErrorKind::Unreachable, format!("cannot connect to containerd at {endpoint}: {e}"))
            };
            let probe = tokio::net::UnixStream::connect(&socket).await.map_err(|e| unreachable(&e))?;
            // The peer for now; the process serving the socket comes as a
            // detail, while the synchronisation runs.
            info.pid = probe.peer_cred().ok().and_then(|c| c.pid()).unwrap_or(0);
            drop(probe);
            let channel = super::grpc::channel(&socket).await.map_err(|e| unreachable(&with_causes(&e)))?;
            // Identity and subscription at once, over one connection.
            let identity = async {
                let version = VersionClient::new(channel.clone())
                    .version(())
                    .await
                    .map_err(|s| status_error(&endpoint, "version", s))?
                    .into_inner();
                // containerd before 1.3 lacks the server UUID: then the ID stays "".
                let id = match IntrospectionClient::new(channel.clone()).server(()).await {
                    Ok(server) => server.into_inner().uuid,
                    Err(_) => String::new(),
                };
                Ok::<_, EngineError>((format!("{} {}", version.version, version.revision).trim().to_string(), id))
            };
            // The process serving the socket and its task bundles, found
            // off this thread from now on.
            let learning = learn(socket.clone(), info.pid);
            let (identity, subscribed) = tokio::join!(identity, subscribe(channel.clone(), &endpoint, marker_wait));
            (info.version, info.id) = identity?;
            let Subscribed { events, proven } = subscribed?;
            Ok(Arc::new(ContainerdConnection {
                call_timeout: marker_wait,
                channel,
                endpoint,
                info,
                learning,
                ignored,
                events: std::sync::Mutex::new(Some(events)),
                proven,
                images: ImageDigests::default(),
            }) as Arc<dyn Connection>)
        })
    }
}

/// What is learnt about the engine once per connection, off the runtime's
/// thread while connecting and synchronising: the process serving the
/// socket, if `/proc` tells, and its task bundles, if this process can
/// read them.
type Learning = Shared<BoxFuture<'static, (Option<i32>, Option<Arc<Bundles>>)>>;

/// Starts learning about the engine at `socket` whose peer was `peer`.
fn learn(socket: PathBuf, peer: i32) -> Learning {
    let found = crate::core::offthread::start("ww-containerd-files", move || {
        let serving = crate::core::sockets::server_of(&socket, peer);
        (serving, serving.and_then(Bundles::locate).map(Arc::new))
    });
    async move { found.await.unwrap_or_default() }.boxed().shared()
}

/// A marker topic unique to one subscription.
fn marker_topic() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    format!("/whalewatcher/subscribed/p{}-{}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed), nanos)
}

type EventItems = mpsc::Receiver<Result<Envelope, EngineError>>;

/// How many events wait between the subscription and the watch loop.
const EVENT_BUFFER: usize = 4096;
/// How long the subscription marker may take to come back.
const MARKER_WAIT: Duration = Duration::from_secs(2);
/// How long the first marker gets, once containerd has taken it, before it
/// is published again; the wait doubles with each marker, up to
/// [`MARKER_STEP_MAX`]. A marker that reaches a live subscription comes
/// back within tens of microseconds of its publication's answer.
const MARKER_STEP_FIRST: Duration = Duration::from_micros(500);
const MARKER_STEP_MAX: Duration = Duration::from_millis(250);
/// How long a subscription that cannot be proven live gets before listing.
const UNPROVEN_GRACE: Duration = Duration::from_millis(200);

/// A subscription to containerd's events.
struct Subscribed {
    events: EventItems,
    /// Its marker came back: every event since the marker is delivered.
    /// `false` when the engine refused the marker.
    proven: bool,
}

/// Subscribes to task events and returns once the subscription is live.
///
/// containerd gives no sign that a subscription has reached it, so this
/// publishes a marker event with a topic unique to this subscription, and
/// waits until it comes back through the subscription: every event after
/// that point is delivered. A marker published before the subscription
/// reached the engine is lost, so the marker is published again, 0.5 ms
/// after the first was taken, then after twice as long each time, until one comes
/// back (a few at most; the copies are dropped). Events received before
/// the marker are kept.
async fn subscribe(channel: Channel, endpoint: &str, within: Duration) -> Result<Subscribed, EngineError> {
    let marker = marker_topic();
    let mut filters: Vec<String> = TOPICS.iter().map(|t| format!("topic=={t:?}")).collect();
    filters.push(format!("topic=={marker:?}"));
    // Bounded: a watcher that falls behind slows the stream down (gRPC
    // flow control) instead of buffering without limit.
    let (tx, rx) = mpsc::channel(EVENT_BUFFER);
    let (ready_tx, mut ready_rx) = tokio::sync::oneshot::channel::<()>();
    let stream_endpoint = endpoint.to_string();
    let stream_marker = marker.clone();
    let mut sub_client = EventsClient::new(channel.clone());
    tokio::spawn(async move {
        let fail = |s| Err(status_error(&stream_endpoint, "event stream", s));
        let mut stream = match sub_client.subscribe(SubscribeRequest { filters }).await {
            Ok(r) => r.into_inner(),
            Err(s) => {
                let _ = tx.send(fail(s)).await;
                return;
            }
        };
        let mut ready_tx = Some(ready_tx);
        loop {
            let item = tokio::select! {
                _ = tx.closed() => return,
                item = stream.message() => item,
            };
            let out = match item {
                // The first marker back proves the subscription; its copies
                // are dropped.
                Ok(Some(env)) if env.topic == stream_marker => {
                    if let Some(r) = ready_tx.take() {
                        let _ = r.send(());
                    }
                    continue;
                }
                Ok(Some(env)) => Ok(env),
                Ok(None) => Err(EngineError::new(
                    ErrorKind::Unreachable,
                    format!("containerd at {stream_endpoint}: the engine closed the event stream"),
                )),
                Err(s) => fail(s),
            };
            let end = out.is_err();
            if tx.send(out).await.is_err() || end {
                return;
            }
        }
    });
    let wait = within.min(MARKER_WAIT);
    let deadline = tokio::time::Instant::now() + wait;
    let mut publisher = EventsClient::new(channel);
    let mut step = MARKER_STEP_FIRST;
    let mut rx = rx;
    loop {
        let mut req = Request::new(PublishRequest {
            topic: marker.clone(),
            event: Some(prost_types::Any { type_url: "whalewatcher.subscribed".into(), value: Vec::new() }),
        });
        req.metadata_mut()
            .insert("containerd-namespace", tonic::metadata::MetadataValue::from_static(MARKER_NAMESPACE));
        let published = tokio::time::timeout_at(deadline, publisher.publish(req)).await;
        match published {
            Err(_) => {
                return Err(EngineError::new(
                    ErrorKind::Timeout,
                    format!("containerd at {endpoint}: publish subscription marker: no answer within {wait:?}"),
                ))
            }
            Ok(Err(s)) if refused(&s) => {
                // An engine (or a proxy) that does not let us publish: the
                // subscription cannot be proven live. Give it a moment to
                // reach the engine, then go on; the watcher audits soon
                // after synchronising, which catches an event in that gap.
                tokio::time::sleep(UNPROVEN_GRACE).await;
                return Ok(Subscribed { events: rx, proven: false });
            }
            Ok(Err(s)) => return Err(status_error(endpoint, "publish subscription marker", s)),
            Ok(Ok(_)) => {}
        }
        let next = (tokio::time::Instant::now() + step).min(deadline);
        tokio::select! {
            r = &mut ready_rx => return match r {
                Ok(()) => Ok(Subscribed { events: rx, proven: true }),
                // The stream task ended before the marker: it sent why.
                Err(_) => Err(rx.recv().await.and_then(Result::err).unwrap_or_else(|| {
                    EngineError::new(ErrorKind::Unreachable, format!("containerd at {endpoint}: event stream ended"))
                })),
            },
            _ = tokio::time::sleep_until(next) => {}
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(EngineError::new(
                ErrorKind::Timeout,
                format!("containerd at {endpoint}: the subscription marker did not come back within {wait:?}"),
            ));
        }
        step = (step * 2).min(MARKER_STEP_MAX);
    }
}

/// `call` bounded by `t`.
async fn bounded<T>(
    t: Duration,
    endpoint: &str,
    what: &str,
    call: impl std::future::Future<Output = Result<T, tonic::Status>>,
) -> Result<T, EngineError> {
    match tokio::time::timeout(t, call).await {
        Ok(r) => r.map_err(|s| status_error(endpoint, what, s)),
        Err(_) => Err(EngineError::new(
            ErrorKind::Timeout,
            format!("containerd at {endpoint}: {what}: no answer within {t:?}"),
        )),
    }
}

/// A refusal of the request itself (not of the connection).
fn refused(s: &tonic::Status) -> bool {
    matches!(s.code(), Code::PermissionDenied | Code::Unimplemented | Code::Unauthenticated | Code::FailedPrecondition)
}

struct ContainerdConnection {
    call_timeout: Duration,
    channel: Channel,
    endpoint: String,
    info: EngineInfo,
    learning: Learning,
    ignored: Arc<Vec<String>>,
    events: std::sync::Mutex<Option<EventItems>>,
    /// The subscription's marker came back.
    proven: bool,
    images: ImageDigests,
}

/// The digests image names resolve to, per namespace, learnt once per
/// connection (one call per image name, not per container).
#[derive(Clone, Default)]
struct ImageDigests(Arc<std::sync::Mutex<HashMap<(String, String), String>>>);

impl ImageDigests {
    /// The target digest image `name` resolves to in `ns`, `""` if unknown.
    async fn digest(&self, channel: &Channel, ns: &str, name: &str) -> String {
        if name.is_empty() {
            return String::new();
        }
        let key = (ns.to_string(), name.to_string());
        if let Some(d) = self.0.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
            return d.clone();
        }
        let Ok(req) = in_namespace(GetImageRequest { name: name.to_string() }, ns) else { return String::new() };
        // An image deleted (or never known) leaves the digest unknown, which
        // is remembered too: no call per container.
        let digest = match ImagesClient::new(channel.clone()).get(req).await {
            Ok(r) => r.into_inner().image.and_then(|i| i.target).map(|t| t.digest).unwrap_or_default(),
            Err(_) => String::new(),
        };
        self.0.lock().unwrap_or_else(|e| e.into_inner()).insert(key, digest.clone());
        digest
    }
}

fn in_namespace<T>(msg: T, ns: &str) -> Result<Request<T>, EngineError> {
    let mut req = Request::new(msg);
    let value = ns
        .parse()
        .map_err(|_| EngineError::new(ErrorKind::Malformed, format!("namespace {ns:?} is not a valid header value")))?;
    req.metadata_mut().insert("containerd-namespace", value);
    Ok(req)
}

impl Connection for ContainerdConnection {
    fn info(&self) -> &EngineInfo {
        &self.info
    }

    fn details(&self) -> Option<BoxFuture<'static, Result<Details, EngineError>>> {
        let learning = self.learning.clone();
        Some(Box::pin(async move { Ok(Details { pid: learning.await.0, ..Details::default() }) }))
    }

    fn events_proven(&self) -> bool {
        self.proven
    }

    fn events(&self) -> BoxStream<'static, Result<Event, EngineError>> {
        let rx = self.events.lock().unwrap_or_else(|e| e.into_inner()).take();
        let Some(rx) = rx else {
            let e = EngineError::new(ErrorKind::Unreachable, "containerd: the event stream was already taken");
            return futures_util::stream::once(async move { Err(e) }).boxed();
        };
        let ignored = Arc::clone(&self.ignored);
        futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) })
            .filter_map(move |item| {
                let out = match item {
                    Ok(env) if ignored.contains(&env.namespace) => None,
                    Ok(env) => to_event(&env).map(Ok),
                    Err(e) => Some(Err(e)),
                };
                std::future::ready(out)
            })
            .boxed()
    }

    fn list(&self) -> BoxFuture<'static, Result<Vec<Listed>, EngineError>> {
        let (channel, endpoint, ignored) = (self.channel.clone(), self.endpoint.clone(), Arc::clone(&self.ignored));
        let (images, t, learning) = (self.images.clone(), self.call_timeout, self.learning.clone());
        Box::pin(async move {
            let namespaces = bounded(
                t,
                &endpoint,
                "list namespaces",
                NamespacesClient::new(channel.clone()).list(ListNamespacesRequest::default()),
            )
            .await?
            .into_inner()
            .namespaces;
            let mut alive = Vec::new();
            for ns in namespaces.iter().map(|n| n.name.as_str()).filter(|n| !ignored.iter().any(|i| i == n)) {
                let listed = list_namespace(&channel, &endpoint, ns, &images, &learning, t).await?;
                alive.extend(listed.into_iter().map(Listed::Alive));
            }
            Ok(alive)
        })
    }

    /// Each call of a list is bounded by itself: a host with many
    /// namespaces takes many calls, and still lists.
    fn list_bound(&self, _call_timeout: Duration) -> Option<Duration> {
        None
    }

    fn inspect(&self, display: String) -> BoxFuture<'static, Result<Option<Container>, EngineError>> {
        let (channel, endpoint, ignored) = (self.channel.clone(), self.endpoint.clone(), Arc::clone(&self.ignored));
        let (images, learning) = (self.images.clone(), self.learning.clone());
        Box::pin(async move {
            let (ns, id) = decode_display_id(&display);
            if ignored.iter().any(|i| i == ns) {
                return Ok(None);
            }
            let what = format!("inspect {display}");
            let (labels, image) = match ContainersClient::new(channel.clone())
                .get(in_namespace(GetContainerRequest { id: id.to_string() }, ns)?)
                .await
            {
                Ok(r) => r.into_inner().container.map(|c| (c.labels, c.image)).unwrap_or_default(),
                Err(s) if s.code() == Code::NotFound => return Ok(None),
                Err(s) => return Err(status_error(&endpoint, &what, s)),
            };
            // The task's files when they tell (a few file reads), else its shim.
            let c = match learning.await.1.and_then(|b| b.read(ns, id)) {
                Some(task) => from_files(ns, id, &task, labels),
                None => {
                    let process = match TasksClient::new(channel.clone())
                        .get(in_namespace(GetRequest { container_id: id.to_string(), exec_id: String::new() }, ns)?)
                        .await
                    {
                        Ok(r) => r.into_inner().process,
                        Err(s) if s.code() == Code::NotFound => return Ok(None),
                        Err(s) => return Err(status_error(&endpoint, &what, s)),
                    };
                    process.and_then(|p| from_engine(ns, id, &p, labels))
                }
            };
            let Some(mut c) = c else { return Ok(None) };
            c.image_id = images.digest(&channel, ns, &image).await;
            c.image = image;
            Ok(Some(c.build()))
        })
    }
}

/// How many task states a list asks for at once.
const LIST_TASKS_AT_ONCE: usize = 32;

/// The alive containers of one namespace: the containers in one call, then
/// the task of each, from its files where they tell ([`Bundles`]), else
/// from the engine, many at once, plus one call per image name not seen
/// before on this connection.
///
/// containerd answers a list of tasks by asking each task's shim for its
/// state, one shim after the other; asked for each task on its own, it asks
/// the shims at the same time, which on a host with many containers takes
/// a fraction of the time.
async fn list_namespace(
    channel: &Channel,
    endpoint: &str,
    ns: &str,
    images: &ImageDigests,
    learning: &Learning,
    t: Duration,
) -> Result<Vec<Container>, EngineError> {
    let what = format!("list namespace {ns:?}");
    let timed_out =
        || EngineError::new(ErrorKind::Timeout, format!("containerd at {endpoint}: {what}: no answer within {t:?}"));
    let mut containers = ContainersClient::new(channel.clone());
    let listing = containers.list(in_namespace(ListContainersRequest::default(), ns)?);
    let records = match tokio::time::timeout(t, listing).await.map_err(|_| timed_out())? {
        Ok(r) => r.into_inner().containers,
        // Deleted since it was listed: nothing alive in it.
        Err(s) if s.code() == Code::NotFound => return Ok(Vec::new()),
        Err(s) => return Err(status_error(endpoint, &what, s)),
    };
    let bundles = if records.is_empty() { None } else { learning.clone().await.1 };
    let read = match bundles {
        Some(b) => {
            let (ns, ids) = (ns.to_string(), records.iter().map(|c| c.id.clone()).collect::<Vec<_>>());
            crate::core::offthread::run("ww-containerd-files", move || b.read_each(&ns, &ids)).await.unwrap_or_default()
        }
        None => Vec::new(),
    };
    let mut alive = Vec::new();
    let mut ask = Vec::new();
    for (i, c) in records.into_iter().enumerate() {
        match read.get(i).copied().flatten() {
            Some(task) => alive.extend(from_files(ns, &c.id, &task, c.labels).map(|d| (d, c.image))),
            None => ask.push(c),
        }
    }
    let (what, timed_out) = (&what, &timed_out);
    let states = futures_util::stream::iter(ask.into_iter().map(|c| async move {
        let req = in_namespace(GetRequest { container_id: c.id.clone(), exec_id: String::new() }, ns)?;
        let got = tokio::time::timeout(t, TasksClient::new(channel.clone()).get(req)).await.map_err(|_| timed_out())?;
        match got {
            Ok(r) => Ok(r.into_inner().process.map(|p| (c, p))),
            // No task (created, or stopped and deleted), or gone since.
            Err(s) if s.code() == Code::NotFound => Ok(None),
            Err(s) => Err(status_error(endpoint, &format!("{what}: task {}", c.id), s)),
        }
    }))
    .buffer_unordered(LIST_TASKS_AT_ONCE)
    .collect::<Vec<Result<_, EngineError>>>()
    .await;
    for state in states {
        let Some((c, p)) = state? else { continue };
        alive.extend(from_engine(ns, &c.id, &p, c.labels).map(|d| (d, c.image)));
    }
    let mut built = Vec::with_capacity(alive.len());
    for (mut draft, image) in alive {
        draft.image_id = tokio::time::timeout(t, images.digest(channel, ns, &image)).await.unwrap_or_default();
        draft.image = image;
        built.push(draft.build());
    }
    Ok(built)
}

/// The container a running task's files show.
fn from_files(ns: &str, id: &str, task: &TaskState, labels: HashMap<String, String>) -> Option<ContainerDraft> {
    let running = Process { pid: task.pid, status: Status::Running as i32, ..Default::default() };
    let mut c = to_container(ns, id, &running, labels)?;
    c.started_at_ns = task.started_at_ns;
    Some(c)
}

/// The container a task as the engine tells it shows, if it is alive.
fn from_engine(ns: &str, id: &str, p: &Process, labels: HashMap<String, String>) -> Option<ContainerDraft> {
    let mut c = to_container(ns, id, p, labels)?;
    // containerd keeps no start time; the init process's own is the best source.
    c.started_at_ns = process::container_start_time_ns(c.pid, id).unwrap_or(0);
    Some(c)
}

/// The container a task shows, if the task is alive (running, pausing or paused).
pub fn to_container(ns: &str, id: &str, p: &Process, labels: HashMap<String, String>) -> Option<ContainerDraft> {
    let paused = match Status::try_from(p.status).ok()? {
        Status::Running => false,
        Status::Paused | Status::Pausing => true,
        _ => return None,
    };
    let pid = i32::try_from(p.pid).ok().filter(|&pid| pid > 0)?;
    if id.is_empty() {
        return None;
    }
    let display = display_id(ns, id);
    let kube_name = labels.get(KUBE_CONTAINER_NAME_LABEL).filter(|n| !n.is_empty()).cloned();
    let name = match labels.get(NERDCTL_NAME_LABEL) {
        Some(n) if !n.is_empty() => display_id(ns, n),
        _ => display.clone(),
    };
    let mut c = ContainerDraft::new(display, name, pid, paused, labels);
    // Kubernetes' containers (CRI) go by their Kubernetes names: a container
    // by its container name, a sandbox by its pod's name.
    if !c.pod.is_empty() {
        if c.pod.sandbox {
            c.name = c.pod.name.clone();
        } else if let Some(n) = kube_name {
            c.name = n;
        }
    }
    Some(c)
}

/// Maps a task event to a lifecycle event; `None` for anything else,
/// including the exits of exec'd processes.
pub fn to_event(env: &Envelope) -> Option<Event> {
    let any = env.event.as_ref()?;
    let bytes = any.value.as_slice();
    let (container_id, kind) = match env.topic.as_str() {
        "/tasks/start" => (TaskStart::decode(bytes).ok()?.container_id, EventKind::Started),
        "/tasks/exit" => {
            let exit = TaskExit::decode(bytes).ok()?;
            // Only the init process's exit ends the container; an exec'd
            // process has its own ID.
            if exit.id != exit.container_id {
                return None;
            }
            (exit.container_id, EventKind::Died)
        }
        "/tasks/paused" => (TaskPaused::decode(bytes).ok()?.container_id, EventKind::Paused),
        "/tasks/resumed" => (TaskResumed::decode(bytes).ok()?.container_id, EventKind::Unpaused),
        _ => return None,
    };
    if container_id.is_empty() || env.namespace.is_empty() {
        return None;
    }
    Some(Event { id: display_id(&env.namespace, &container_id), kind })
}

fn status_error(endpoint: &str, what: &str, s: tonic::Status) -> EngineError {
    let kind = match s.code() {
        Code::Unavailable | Code::Unknown | Code::Cancelled | Code::Aborted => ErrorKind::Unreachable,
        Code::DeadlineExceeded => ErrorKind::Timeout,
        Code::Internal | Code::DataLoss => ErrorKind::Malformed,
        _ => ErrorKind::Refused,
    };
    EngineError::new(kind, format!("containerd at {endpoint}: {what}: {}", with_causes(&s)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_ids_round_trip() {
        assert_eq!(display_id("default", "foo"), "foo");
        assert_eq!(display_id("rumpelpumpel", "foo"), "rumpelpumpel/foo");
        assert_eq!(decode_display_id("foo"), ("default", "foo"));
        assert_eq!(decode_display_id("rumpelpumpel/foo"), ("rumpelpumpel", "foo"));
        assert_eq!(decode_display_id("a/b/c"), ("a", "b/c"));
    }

    fn task(status: Status, pid: u32) -> Process {
        Process { id: "c1".into(), pid, status: status as i32, ..Default::default() }
    }

    #[test]
    fn kubernetes_containers_go_by_their_kubernetes_names() {
        let pod = |kind: &str| {
            HashMap::from([
                ("io.kubernetes.pod.name".to_string(), "web-0".to_string()),
                ("io.kubernetes.pod.namespace".to_string(), "shop".to_string()),
                ("io.kubernetes.pod.uid".to_string(), "u-1".to_string()),
                ("io.kubernetes.container.name".to_string(), "nginx".to_string()),
                ("io.cri-containerd.kind".to_string(), kind.to_string()),
            ])
        };
        let c = to_container("k8s.io", "c1", &task(Status::Running, 42), pod("container")).unwrap();
        assert_eq!(
            (c.id.as_str(), c.name.as_str(), c.pod.name.as_str(), c.pod.sandbox),
            ("k8s.io/c1", "nginx", "web-0", false)
        );
        assert_eq!((c.pod.namespace.as_str(), c.pod.uid.as_str()), ("shop", "u-1"));
        let s = to_container("k8s.io", "s1", &task(Status::Running, 41), pod("sandbox")).unwrap();
        assert_eq!((s.name.as_str(), s.pod.sandbox), ("web-0", true));
    }

    #[test]
    fn tasks_map_to_alive_containers() {
        let labels = HashMap::from([
            ("nerdctl/name".to_string(), "web".to_string()),
            ("com.docker.compose.project".to_string(), "shop".to_string()),
        ]);
        let c = to_container("ns1", "c1", &task(Status::Running, 42), labels.clone()).unwrap();
        assert_eq!(
            (c.id.as_str(), c.name.as_str(), c.project.as_str(), c.pid, c.paused),
            ("ns1/c1", "ns1/web", "shop", 42, false)
        );
        let c = to_container("default", "c1", &task(Status::Pausing, 42), labels).unwrap();
        assert_eq!((c.id.as_str(), c.name.as_str(), c.paused), ("c1", "web", true));
        assert!(to_container("default", "c1", &task(Status::Paused, 42), HashMap::new()).unwrap().paused);
        let plain = to_container("ns1", "c1", &task(Status::Running, 7), HashMap::new()).unwrap();
        assert_eq!(plain.name, "ns1/c1");
        for (status, pid) in [(Status::Created, 42), (Status::Stopped, 42), (Status::Unknown, 42), (Status::Running, 0)]
        {
            assert_eq!(to_container("ns1", "c1", &task(status, pid), HashMap::new()), None, "{status:?}");
        }
        assert_eq!(
            to_container("ns1", "c1", &Process { status: 99, pid: 1, ..Default::default() }, HashMap::new()),
            None
        );
    }

    fn envelope(ns: &str, topic: &str, event: impl Message) -> Envelope {
        Envelope {
            timestamp: None,
            namespace: ns.into(),
            topic: topic.into(),
            event: Some(prost_types::Any { type_url: "x".into(), value: event.encode_to_vec() }),
        }
    }

    #[test]
    fn only_init_exits_end_a_container() {
        let start = envelope("ns1", "/tasks/start", TaskStart { container_id: "c1".into(), pid: 9 });
        assert_eq!(to_event(&start), Some(Event::new("ns1/c1", EventKind::Started)));
        let init_exit = envelope(
            "default",
            "/tasks/exit",
            TaskExit { container_id: "c1".into(), id: "c1".into(), ..Default::default() },
        );
        assert_eq!(to_event(&init_exit), Some(Event::new("c1", EventKind::Died)));
        let exec_exit = envelope(
            "default",
            "/tasks/exit",
            TaskExit { container_id: "c1".into(), id: "ex1".into(), ..Default::default() },
        );
        assert_eq!(to_event(&exec_exit), None);
        let paused = envelope("ns1", "/tasks/paused", TaskPaused { container_id: "c1".into() });
        assert_eq!(to_event(&paused), Some(Event::new("ns1/c1", EventKind::Paused)));
        let resumed = envelope("ns1", "/tasks/resumed", TaskResumed { container_id: "c1".into() });
        assert_eq!(to_event(&resumed), Some(Event::new("ns1/c1", EventKind::Unpaused)));
    }

    #[test]
    fn malformed_envelopes_are_skipped() {
        let mut garbage = envelope("ns1", "/tasks/start", TaskStart::default());
        garbage.event.as_mut().unwrap().value = vec![0xff, 0xff, 0xff];
        assert_eq!(to_event(&garbage), None);
        let mut empty = envelope("ns1", "/tasks/start", TaskStart::default());
        assert_eq!(to_event(&empty), None, "no container ID");
        empty.event = None;
        assert_eq!(to_event(&empty), None);
        assert_eq!(to_event(&envelope("", "/tasks/start", TaskStart { container_id: "c".into(), pid: 1 })), None);
        assert_eq!(to_event(&envelope("ns1", "/containers/create", TaskStart::default())), None);
    }
}
