//! An in-process fake Docker engine, for what a real engine cannot do on
//! demand: malformed or truncated replies, hangs, hostile data, exact request
//! counts and thousands of synthetic containers.
//!
//! It speaks just enough HTTP/1.1 over a unix socket for a Docker client
//! such as bollard: one request per connection (answered with
//! `Connection: close`), paths with or without a `/v1.NN` prefix, and
//! `GET /_ping`, `/version`, `/info`, `/containers/json`,
//! `/containers/{id}/json` and `/events` (chunked, one JSON object per chunk,
//! with dockerd's `since`/`until` replay from a ring of the last 256 events).
//! (bollard 0.21 itself sends unversioned paths: its `Url::join` drops the
//! `/vX.Y` it prepends, so `negotiate_version` changes no request path.)
//!
//! It runs on its own thread with its own tokio runtime, so plain `#[test]`
//! functions and `#[tokio::test]` ones alike can use it; every method is
//! synchronous and may be called from any thread at any time.
//!
//! ```ignore
//! let fake = FakeDocker::start();
//! fake.add_many(10_000);
//! let id = fake.run(FakeContainer::new("web").with_label("com.docker.compose.project", "shop"));
//! fake.set(Endpoint::Inspect, Behavior::Status(500, r#"{"message":"boom"}"#.into()));
//! // ... point a watcher at fake.endpoint() ...
//! assert_eq!(fake.requests(Endpoint::List), 1);
//! ```
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::os::unix::net::UnixListener as StdUnixListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Map, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, watch};

/// The API version the fake claims (`/version`'s `ApiVersion`).
pub const API_VERSION: &str = "1.41";
/// The oldest API version the fake claims to accept.
pub const MIN_API_VERSION: &str = "1.12";
/// The fake's `ServerVersion` / `Version`.
pub const SERVER_VERSION: &str = "fake-20.10";
/// How many past events are kept for `since` replays (as dockerd).
pub const EVENT_RING: usize = 256;
/// The image every synthetic container claims to run.
pub const IMAGE: &str = "fake/busybox:latest";

/// The API endpoints the fake tells apart, for fault injection and counting.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Endpoint {
    /// `GET|HEAD /_ping`.
    Ping,
    /// `GET /version` (bollard's `negotiate_version`).
    Version,
    /// `GET /info`.
    Info,
    /// `GET /containers/json`.
    List,
    /// `GET /containers/{id}/json`.
    Inspect,
    /// `GET /events`.
    Events,
    /// Anything else (answered 404 `page not found`).
    Other,
}

impl Endpoint {
    pub const ALL: [Endpoint; 7] = [
        Endpoint::Ping,
        Endpoint::Version,
        Endpoint::Info,
        Endpoint::List,
        Endpoint::Inspect,
        Endpoint::Events,
        Endpoint::Other,
    ];

    fn index(self) -> usize {
        self as usize
    }
}

/// How the fake answers requests to one endpoint. Settable at any time with
/// [`FakeDocker::set`]; it applies to requests read from then on (and to
/// requests held by `Hang`, see there).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Behavior {
    /// Answer like dockerd.
    #[default]
    Normal,
    /// Read the request and do not answer while the endpoint's behavior
    /// stays `Hang` (the connection stays open). Once it is set to something
    /// else, held requests are answered according to the new behavior; when
    /// the client hangs up first, the connection is closed.
    Hang,
    /// Answer with this status and this (JSON) body.
    Status(u16, String),
    /// Answer 200 with exactly these bytes as the body (for events too: a
    /// plain, non-chunked body, then the connection closes).
    RawBody(Vec<u8>),
    /// Announce a Content-Length larger than the bytes then sent (half the
    /// normal body), then close. For events: the headers, then a chunk cut
    /// short, then close.
    Truncated,
    /// Wait this long, then answer normally (for events: before subscribing).
    Delay(Duration),
}

/// A synthetic container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FakeContainer {
    /// 64 lowercase hex digits (any string is accepted, for hostile tests).
    pub id: String,
    /// Without Docker's leading `/`.
    pub name: String,
    /// In this order in the JSON objects; a repeated key: the last one wins.
    pub labels: Vec<(String, String)>,
    /// The initial process; 0 when not running.
    pub pid: i64,
    /// `State.Running` (true for paused containers too, as in Docker).
    pub running: bool,
    /// `State.Paused`.
    pub paused: bool,
    /// `HostConfig.Privileged`.
    pub privileged: bool,
}

static PIDS: AtomicU64 = AtomicU64::new(10_000);
static IDS: AtomicU64 = AtomicU64::new(0);

/// A fresh, random-looking 64-hex-digit container ID (unique in this
/// process: its first 16 digits are a bijection of a counter).
pub fn fake_id() -> String {
    static BASE: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    let base = *BASE.get_or_init(|| u64::from(std::process::id()) << 32 ^ nanos_now() as u64);
    let mut state = base.wrapping_add(IDS.fetch_add(1, Ordering::Relaxed).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    (0..4).map(|_| format!("{:016x}", splitmix(&mut state))).collect()
}

fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn fresh_pid() -> i64 {
    PIDS.fetch_add(1, Ordering::Relaxed) as i64
}

impl FakeContainer {
    /// A running, unpaused, unprivileged container with a fresh ID and PID
    /// and no labels.
    pub fn new(name: &str) -> Self {
        FakeContainer {
            id: fake_id(),
            name: name.to_string(),
            labels: Vec::new(),
            pid: fresh_pid(),
            running: true,
            paused: false,
            privileged: false,
        }
    }

    pub fn with_id(mut self, id: &str) -> Self {
        self.id = id.to_string();
        self
    }

    pub fn with_label(mut self, key: &str, value: &str) -> Self {
        self.labels.push((key.to_string(), value.to_string()));
        self
    }

    pub fn with_pid(mut self, pid: i64) -> Self {
        self.pid = pid;
        self
    }

    /// Paused (and running, as Docker reports paused containers).
    pub fn with_paused(mut self, paused: bool) -> Self {
        self.paused = paused;
        if paused {
            self.running = true;
        }
        self
    }

    pub fn with_privileged(mut self, privileged: bool) -> Self {
        self.privileged = privileged;
        self
    }

    /// Created or exited: not running, not paused, PID 0.
    pub fn stopped(mut self) -> Self {
        self.running = false;
        self.paused = false;
        self.pid = 0;
        self
    }

    /// Docker's `State.Status`.
    pub fn status(&self) -> &'static str {
        if self.paused {
            "paused"
        } else if self.running {
            "running"
        } else {
            "exited"
        }
    }

    fn labels_json(&self) -> Map<String, Value> {
        self.labels.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect()
    }
}

/// The fake engine. Dropping it stops it, closes every connection and
/// removes its socket.
pub struct FakeDocker {
    shared: Arc<Shared>,
    socket: PathBuf,
    shutdown: Option<watch::Sender<bool>>,
    thread: Option<JoinHandle<()>>,
}

struct Shared {
    state: Mutex<State>,
    /// Bumped whenever a behavior changes (releases `Hang`s).
    behaviors_changed: watch::Sender<u64>,
    refuse: AtomicBool,
    counts: [AtomicUsize; Endpoint::ALL.len()],
    connections: AtomicUsize,
    engine_id: String,
}

struct Entry {
    seq: u64,
    created: i128,
    c: FakeContainer,
}

#[derive(Default)]
struct State {
    containers: HashMap<String, Entry>,
    seq: u64,
    ring: VecDeque<Arc<StoredEvent>>,
    last_time: i128,
    subscribers: Vec<Subscriber>,
    next_subscriber: u64,
    behaviors: HashMap<Endpoint, Behavior>,
    /// Per-container inspect behaviors, by the reference as requested.
    inspect_behaviors: HashMap<String, Behavior>,
    last_target: HashMap<Endpoint, String>,
}

struct StoredEvent {
    time: i128,
    typ: String,
    action: String,
    id: String,
    attributes: BTreeMap<String, String>,
    line: Arc<[u8]>,
}

enum StreamMsg {
    Chunk(Arc<[u8]>),
    Break,
    End,
}

struct Subscriber {
    id: u64,
    filters: Filters,
    tx: mpsc::UnboundedSender<StreamMsg>,
}

type Filters = HashMap<String, Vec<String>>;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn nanos_now() -> i128 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as i128)
}

static SOCKETS: AtomicU64 = AtomicU64::new(0);

impl FakeDocker {
    /// Starts a fake engine on a fresh socket under `std::env::temp_dir()`.
    /// The socket accepts connections when this returns.
    pub fn start() -> FakeDocker {
        let socket = std::env::temp_dir().join(format!(
            "fake-docker-{}-{}-{}.sock",
            std::process::id(),
            SOCKETS.fetch_add(1, Ordering::Relaxed),
            nanos_now() % 1_000_000
        ));
        let _ = std::fs::remove_file(&socket);
        let listener =
            StdUnixListener::bind(&socket).unwrap_or_else(|e| panic!("fake docker: bind {}: {e}", socket.display()));
        listener.set_nonblocking(true).expect("fake docker: set_nonblocking");
        let mut engine_id = fake_id().to_uppercase();
        engine_id.truncate(48);
        let engine_id =
            engine_id.as_bytes().chunks(4).map(|c| std::str::from_utf8(c).unwrap()).collect::<Vec<_>>().join(":");
        let shared = Arc::new(Shared {
            state: Mutex::default(),
            behaviors_changed: watch::channel(0).0,
            refuse: AtomicBool::new(false),
            counts: Default::default(),
            connections: AtomicUsize::new(0),
            engine_id,
        });
        let (shutdown, stopped) = watch::channel(false);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()
            .expect("fake docker: runtime");
        let thread_shared = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("fake-docker".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let listener = UnixListener::from_std(listener).expect("fake docker: listener");
                    serve(listener, thread_shared, stopped).await;
                });
                // Dropping the runtime drops every connection task, and so
                // closes every connection.
                drop(runtime);
            })
            .expect("fake docker: thread");
        FakeDocker { shared, socket, shutdown: Some(shutdown), thread: Some(thread) }
    }

    /// The socket path.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// `unix://` + the socket path.
    pub fn endpoint(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    /// `/info`'s `ID`.
    pub fn engine_id(&self) -> &str {
        &self.shared.engine_id
    }

    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.shared.state)
    }

    // ---- containers ----

    /// Adds a container without any event (it "was there already").
    /// Returns its ID. A container with the same ID is replaced.
    pub fn add(&self, c: FakeContainer) -> String {
        let mut st = self.state();
        let id = c.id.clone();
        st.insert(c);
        id
    }

    /// Adds `n` running containers with realistic labels, without events:
    /// most belong to compose projects of 10 services each
    /// (`proj-K-svc-J-1`, with the usual `com.docker.compose.*` labels),
    /// every 7th is a standalone container (`standalone-I`). Returns their IDs.
    pub fn add_many(&self, n: usize) -> Vec<String> {
        let batch = IDS.fetch_add(1, Ordering::Relaxed);
        let mut st = self.state();
        let mut ids = Vec::with_capacity(n);
        for i in 0..n {
            let mut c = FakeContainer::new("");
            if i % 7 == 6 {
                c.name = format!("standalone-{batch}-{i}");
                c.labels = vec![
                    ("maintainer".into(), "fake@example.com".into()),
                    ("org.opencontainers.image.version".into(), "1.36.1".into()),
                ];
            } else {
                let (project, service) = (format!("proj-{batch}-{}", i / 10), format!("svc-{}", i % 10));
                c.name = format!("{project}-{service}-1");
                let hash = &fake_id()[..64];
                c.labels = vec![
                    ("com.docker.compose.config-hash".into(), hash.into()),
                    ("com.docker.compose.container-number".into(), "1".into()),
                    ("com.docker.compose.depends_on".into(), String::new()),
                    ("com.docker.compose.image".into(), format!("sha256:{}", &hash[..64])),
                    ("com.docker.compose.oneoff".into(), "False".into()),
                    ("com.docker.compose.project".into(), project.clone()),
                    ("com.docker.compose.project.config_files".into(), format!("/srv/{project}/compose.yaml")),
                    ("com.docker.compose.project.working_dir".into(), format!("/srv/{project}")),
                    ("com.docker.compose.service".into(), service),
                    ("com.docker.compose.version".into(), "2.24.6".into()),
                    ("org.opencontainers.image.version".into(), "1.36.1".into()),
                ];
            }
            ids.push(c.id.clone());
            st.insert(c);
        }
        ids
    }

    /// Adds a container and emits its `start` event. Returns its ID.
    pub fn run(&self, c: FakeContainer) -> String {
        let mut st = self.state();
        let id = c.id.clone();
        let ev = container_event("start", &c, &[]);
        st.insert(c);
        st.publish(ev);
        id
    }

    /// Removes a container and emits its `die` event (exit code 137).
    /// False (and no event) for an unknown ID.
    pub fn kill(&self, id: &str) -> bool {
        let mut st = self.state();
        let Some(e) = st.containers.remove(id) else { return false };
        let ev = container_event("die", &e.c, &[("exitCode", "137")]);
        st.publish(ev);
        true
    }

    /// Keeps a container but stops it (PID 0, status exited) and emits its
    /// `die` event (exit code 0). False for an unknown ID.
    pub fn stop(&self, id: &str) -> bool {
        let mut st = self.state();
        let Some(e) = st.containers.get_mut(id) else { return false };
        e.c = e.c.clone().stopped();
        let ev = container_event("die", &e.c, &[("exitCode", "0")]);
        st.publish(ev);
        true
    }

    /// Removes a container silently (no event: a lost event).
    pub fn remove(&self, id: &str) -> bool {
        self.state().containers.remove(id).is_some()
    }

    /// Pauses or unpauses a container and emits `pause` or `unpause`.
    /// False (and no event) for an unknown ID.
    pub fn pause(&self, id: &str, paused: bool) -> bool {
        let mut st = self.state();
        let Some(e) = st.containers.get_mut(id) else { return false };
        e.c.paused = paused;
        let ev = container_event(if paused { "pause" } else { "unpause" }, &e.c, &[]);
        st.publish(ev);
        true
    }

    /// Renames a container and emits `rename` (Attributes `name` = the new
    /// name, `oldName` = `/` + the old one). False for an unknown ID.
    pub fn rename(&self, id: &str, new_name: &str) -> bool {
        let mut st = self.state();
        let Some(e) = st.containers.get_mut(id) else { return false };
        let old = format!("/{}", e.c.name);
        e.c.name = new_name.to_string();
        let ev = container_event("rename", &e.c, &[("oldName", &old)]);
        st.publish(ev);
        true
    }

    /// The containers, newest first.
    pub fn containers(&self) -> Vec<FakeContainer> {
        self.state().sorted().into_iter().map(|e| e.c.clone()).collect()
    }

    /// One container by exact ID.
    pub fn get(&self, id: &str) -> Option<FakeContainer> {
        self.state().containers.get(id).map(|e| e.c.clone())
    }

    // ---- events ----

    /// Emits a container event without changing any state (e.g. a `start`
    /// of an unknown container, or a `die` of one that still runs). The
    /// attributes are given in full (nothing is added).
    pub fn emit(&self, action: &str, id: &str, attributes: &[(&str, &str)]) {
        self.emit_typed("container", action, id, attributes);
    }

    /// Emits an event of any `Type` (e.g. `image`, or one bollard does not
    /// know), filtered and replayed like the others.
    pub fn emit_typed(&self, typ: &str, action: &str, id: &str, attributes: &[(&str, &str)]) {
        let attributes = attributes.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let mut st = self.state();
        st.publish(Pending { typ: typ.into(), action: action.into(), id: id.into(), attributes });
    }

    /// Writes `bytes` as one chunk on every open event stream, whatever its
    /// filters; not kept for replays. Add the `\n` yourself if wanted.
    pub fn emit_raw(&self, bytes: impl Into<Vec<u8>>) {
        let chunk: Arc<[u8]> = bytes.into().into();
        let st = self.state();
        for s in &st.subscribers {
            let _ = s.tx.send(StreamMsg::Chunk(Arc::clone(&chunk)));
        }
    }

    /// Closes every open event stream abruptly, in the middle of a chunk.
    pub fn break_streams(&self) {
        let mut st = self.state();
        for s in st.subscribers.drain(..) {
            let _ = s.tx.send(StreamMsg::Break);
        }
    }

    /// Ends every open event stream cleanly (the last, empty chunk).
    pub fn end_streams(&self) {
        let mut st = self.state();
        for s in st.subscribers.drain(..) {
            let _ = s.tx.send(StreamMsg::End);
        }
    }

    /// How many event streams are open (subscribed and not yet closed).
    pub fn event_streams(&self) -> usize {
        self.state().subscribers.iter().filter(|s| !s.tx.is_closed()).count()
    }

    /// Waits until at least `n` event streams are open; false on timeout.
    /// This blocks the calling thread: from async code whose runtime also
    /// drives the client, poll [`FakeDocker::event_streams`] instead.
    pub fn wait_event_streams(&self, n: usize, within: Duration) -> bool {
        let end = Instant::now() + within;
        loop {
            if self.event_streams() >= n {
                return true;
            }
            if Instant::now() >= end {
                return false;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// The fake's clock, as `/info`'s `SystemTime` and event `timeNano` use
    /// it: nanoseconds since the epoch, strictly increasing.
    pub fn now_nanos(&self) -> i128 {
        self.state().tick()
    }

    // ---- faults ----

    /// Sets how `endpoint` answers from now on.
    pub fn set(&self, endpoint: Endpoint, behavior: Behavior) {
        {
            let mut st = self.state();
            if behavior == Behavior::Normal {
                st.behaviors.remove(&endpoint);
            } else {
                st.behaviors.insert(endpoint, behavior);
            }
        }
        self.shared.behaviors_changed.send_modify(|n| *n += 1);
    }

    /// Sets how inspections of one container answer, whatever
    /// `Endpoint::Inspect`'s behavior (which still applies to the others).
    /// `reference` is matched against the request as sent (a full ID when
    /// the library asks). `Behavior::Normal` removes the override.
    pub fn set_inspect(&self, reference: &str, behavior: Behavior) {
        {
            let mut st = self.state();
            if behavior == Behavior::Normal {
                st.inspect_behaviors.remove(reference);
            } else {
                st.inspect_behaviors.insert(reference.to_string(), behavior);
            }
        }
        self.shared.behaviors_changed.send_modify(|n| *n += 1);
    }

    /// The behavior of `endpoint`.
    pub fn behavior(&self, endpoint: Endpoint) -> Behavior {
        self.state().behaviors.get(&endpoint).cloned().unwrap_or_default()
    }

    /// Every endpoint and container back to [`Behavior::Normal`], and
    /// `refuse(false)`.
    pub fn reset_behaviors(&self) {
        {
            let mut st = self.state();
            st.behaviors.clear();
            st.inspect_behaviors.clear();
        }
        self.refuse(false);
        self.shared.behaviors_changed.send_modify(|n| *n += 1);
    }

    /// When true, connections are closed right after accept, before
    /// reading anything (counted in [`FakeDocker::connections`], not in
    /// the requests).
    pub fn refuse(&self, refuse: bool) {
        self.shared.refuse.store(refuse, Ordering::SeqCst);
    }

    // ---- counters ----

    /// Requests read for `endpoint` (whatever their answer).
    pub fn requests(&self, endpoint: Endpoint) -> usize {
        self.shared.counts[endpoint.index()].load(Ordering::SeqCst)
    }

    /// Requests read, all endpoints together.
    pub fn requests_total(&self) -> usize {
        self.shared.counts.iter().map(|c| c.load(Ordering::SeqCst)).sum()
    }

    /// Connections accepted (refused ones included).
    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }

    /// All counters back to 0.
    pub fn reset_counters(&self) {
        for c in &self.shared.counts {
            c.store(0, Ordering::SeqCst);
        }
        self.shared.connections.store(0, Ordering::SeqCst);
    }

    /// The request target (path and query, as sent) of the latest request
    /// for `endpoint`.
    pub fn last_target(&self, endpoint: Endpoint) -> Option<String> {
        self.state().last_target.get(&endpoint).cloned()
    }

    /// The URL-decoded query parameters of the latest request for `endpoint`.
    pub fn last_query(&self, endpoint: Endpoint) -> Option<Vec<(String, String)>> {
        self.last_target(endpoint).map(|t| parse_query(t.split_once('?').map_or("", |(_, q)| q)))
    }
}

impl Drop for FakeDocker {
    fn drop(&mut self) {
        if let Some(s) = self.shutdown.take() {
            let _ = s.send(true);
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let _ = std::fs::remove_file(&self.socket);
    }
}

/// An event before it gets its time.
struct Pending {
    typ: String,
    action: String,
    id: String,
    attributes: BTreeMap<String, String>,
}

fn container_event(action: &str, c: &FakeContainer, extra: &[(&str, &str)]) -> Pending {
    let mut attributes: BTreeMap<String, String> = c.labels.iter().cloned().collect();
    attributes.insert("image".into(), IMAGE.into());
    attributes.insert("name".into(), c.name.clone());
    for (k, v) in extra {
        attributes.insert(k.to_string(), v.to_string());
    }
    Pending { typ: "container".into(), action: action.into(), id: c.id.clone(), attributes }
}

impl State {
    fn insert(&mut self, c: FakeContainer) {
        self.seq += 1;
        let created = self.tick();
        self.containers.insert(c.id.clone(), Entry { seq: self.seq, created, c });
    }

    fn sorted(&self) -> Vec<&Entry> {
        let mut v: Vec<&Entry> = self.containers.values().collect();
        v.sort_unstable_by_key(|e| std::cmp::Reverse(e.seq));
        v
    }

    /// The next instant of the fake's clock.
    fn tick(&mut self) -> i128 {
        self.last_time = nanos_now().max(self.last_time + 1);
        self.last_time
    }

    fn publish(&mut self, p: Pending) {
        let time = self.tick();
        let attrs: Map<String, Value> =
            p.attributes.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect();
        let mut line = serde_json::to_vec(&json!({
            "status": p.action,
            "id": p.id,
            "from": p.attributes.get("image").cloned().unwrap_or_default(),
            "Type": p.typ,
            "Action": p.action,
            "Actor": {"ID": p.id, "Attributes": attrs},
            "scope": "local",
            "time": time.div_euclid(1_000_000_000) as i64,
            "timeNano": time as i64,
        }))
        .expect("event JSON");
        line.push(b'\n');
        let ev = Arc::new(StoredEvent {
            time,
            typ: p.typ,
            action: p.action,
            id: p.id,
            attributes: p.attributes,
            line: line.into(),
        });
        self.subscribers.retain(|s| !s.tx.is_closed());
        for s in &self.subscribers {
            if event_matches(&s.filters, &ev) {
                let _ = s.tx.send(StreamMsg::Chunk(Arc::clone(&ev.line)));
            }
        }
        if self.ring.len() == EVENT_RING {
            self.ring.pop_front();
        }
        self.ring.push_back(ev);
    }
}

// ---- time ----

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
    era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468
}

/// Formats nanoseconds since the epoch as Go's RFC3339Nano in UTC
/// (`2024-05-06T07:08:09.123456789Z`, trailing zeros of the fraction dropped).
pub fn rfc3339_nano(unix_nanos: i128) -> String {
    let secs = unix_nanos.div_euclid(1_000_000_000) as i64;
    let frac = unix_nanos.rem_euclid(1_000_000_000);
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let sod = secs.rem_euclid(86_400);
    let mut s = format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}", sod / 3600, sod % 3600 / 60, sod % 60);
    if frac != 0 {
        s.push('.');
        s.push_str(format!("{frac:09}").trim_end_matches('0'));
    }
    s.push('Z');
    s
}

/// Parses what [`rfc3339_nano`] writes (UTC `Z` only).
pub fn parse_rfc3339_nano(s: &str) -> Option<i128> {
    let s = s.strip_suffix('Z')?;
    let (date, time) = s.split_once('T')?;
    let mut d = date.splitn(3, '-').map(|p| p.parse::<i64>().ok());
    let (y, mo, da) = (d.next()??, d.next()??, d.next()??);
    let (hms, frac) = time.split_once('.').unwrap_or((time, ""));
    let mut t = hms.splitn(3, ':').map(|p| p.parse::<i64>().ok());
    let (h, mi, se) = (t.next()??, t.next()??, t.next()??);
    let secs = days_from_civil(y, mo, da) * 86_400 + h * 3600 + mi * 60 + se;
    Some(i128::from(secs) * 1_000_000_000 + parse_fraction(frac)?)
}

fn parse_fraction(frac: &str) -> Option<i128> {
    if frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    format!("{frac:0<9}").parse::<i128>().ok()
}

/// dockerd's `since`/`until` format: `SECONDS[.FRACTION]`.
fn parse_timestamp(s: &str) -> Option<i128> {
    let (secs, frac) = s.split_once('.').unwrap_or((s, ""));
    if secs.is_empty() || !secs.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(secs.parse::<i128>().ok()? * 1_000_000_000 + parse_fraction(frac)?)
}

// ---- HTTP ----

struct Request {
    method: String,
    target: String,
    path: String,
    query: Vec<(String, String)>,
}

impl Request {
    fn param(&self, key: &str) -> Option<&str> {
        self.query.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
}

fn percent_decode(s: &str) -> String {
    let hex = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => match (hex(b[i + 1]), hex(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn parse_query(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

const MAX_HEAD: usize = 64 * 1024;

async fn read_request(stream: &mut UnixStream) -> Option<Request> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p;
        }
        if buf.len() > MAX_HEAD {
            return None;
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let (method, target) = (first.next()?.to_string(), first.next()?.to_string());
    let content_length: usize = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or(0);
    // Bodies are read and ignored.
    let mut have = buf.len() - (head_end + 4);
    while have < content_length {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            break;
        }
        have += n;
    }
    let (raw_path, raw_query) = target.split_once('?').unwrap_or((&target, ""));
    Some(Request { path: percent_decode(raw_path), query: parse_query(raw_query), method, target })
}

/// The endpoint and, for inspections, the container reference.
fn route(method: &str, path: &str) -> (Endpoint, String) {
    // Strip a `/vMAJOR.MINOR` prefix.
    let mut p = path;
    if let Some(rest) = path.strip_prefix("/v") {
        let (ver, tail) = rest.split_once('/').map_or((rest, ""), |(v, t)| (v, t));
        let is_version = ver.split_once('.').is_some_and(|(a, b)| {
            !a.is_empty() && !b.is_empty() && a.bytes().chain(b.bytes()).all(|c| c.is_ascii_digit())
        });
        if is_version {
            p = &path[2 + ver.len()..];
            if tail.is_empty() {
                p = "/";
            }
        }
    }
    let get = method == "GET";
    match p {
        "/_ping" if get || method == "HEAD" => (Endpoint::Ping, String::new()),
        "/version" if get => (Endpoint::Version, String::new()),
        "/info" if get => (Endpoint::Info, String::new()),
        "/events" if get => (Endpoint::Events, String::new()),
        "/containers/json" if get => (Endpoint::List, String::new()),
        _ => match p.strip_prefix("/containers/").and_then(|r| r.strip_suffix("/json")) {
            Some(id) if get && !id.is_empty() && !id.contains('/') => (Endpoint::Inspect, id.to_string()),
            _ => (Endpoint::Other, String::new()),
        },
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        204 => "No Content",
        304 => "Not Modified",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        409 => "Conflict",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

fn head(status: u16, content_type: &str, framing: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status} {}\r\nApi-Version: {API_VERSION}\r\nContent-Type: {content_type}\r\nDocker-Experimental: false\r\nOstype: linux\r\nServer: Docker/{SERVER_VERSION} (linux)\r\n{framing}\r\nConnection: close\r\n\r\n",
        reason(status)
    )
    .into_bytes()
}

/// Writes a complete response and closes. `announce` overrides the
/// Content-Length (for truncation); `send` limits the body bytes sent.
async fn respond(
    mut stream: UnixStream,
    status: u16,
    content_type: &str,
    body: &[u8],
    truncate: bool,
    head_only: bool,
) {
    let (announce, send) =
        if truncate { (body.len() + body.len().max(16), &body[..body.len() / 2]) } else { (body.len(), body) };
    let mut out = head(status, content_type, &format!("Content-Length: {announce}"));
    if !head_only {
        out.extend_from_slice(send);
    }
    let _ = stream.write_all(&out).await;
    let _ = stream.shutdown().await;
}

fn json_bytes(v: &Value) -> Vec<u8> {
    let mut b = serde_json::to_vec(v).expect("JSON");
    b.push(b'\n');
    b
}

fn message(msg: &str) -> Vec<u8> {
    json_bytes(&json!({ "message": msg }))
}

async fn serve(listener: UnixListener, shared: Arc<Shared>, mut stopped: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = stopped.changed() => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    shared.connections.fetch_add(1, Ordering::SeqCst);
                    if shared.refuse.load(Ordering::SeqCst) {
                        drop(stream);
                        continue;
                    }
                    tokio::spawn(connection(stream, Arc::clone(&shared)));
                }
                // E.g. out of file descriptors: try again a bit later.
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            },
        }
    }
}

/// Resolves `Hang` and `Delay` into the behavior to answer with; `None`
/// when the client went away while the request was held.
async fn settle(stream: &mut UnixStream, shared: &Shared, ep: Endpoint, reference: &str) -> Option<Behavior> {
    let mut changed = shared.behaviors_changed.subscribe();
    loop {
        let b = {
            let st = lock(&shared.state);
            let specific = if ep == Endpoint::Inspect { st.inspect_behaviors.get(reference) } else { None };
            specific.or_else(|| st.behaviors.get(&ep)).cloned().unwrap_or_default()
        };
        match b {
            Behavior::Hang => {
                let mut probe = [0u8; 256];
                tokio::select! {
                    r = changed.changed() => r.ok()?,
                    r = stream.read(&mut probe) => match r {
                        Ok(0) | Err(_) => return None,
                        Ok(_) => {}
                    },
                }
            }
            Behavior::Delay(d) => {
                tokio::time::sleep(d).await;
                return Some(Behavior::Normal);
            }
            other => return Some(other),
        }
    }
}

async fn connection(mut stream: UnixStream, shared: Arc<Shared>) {
    let Some(req) = read_request(&mut stream).await else { return };
    let (ep, reference) = route(&req.method, &req.path);
    shared.counts[ep.index()].fetch_add(1, Ordering::SeqCst);
    lock(&shared.state).last_target.insert(ep, req.target.clone());
    let Some(behavior) = settle(&mut stream, &shared, ep, &reference).await else { return };
    let head_only = req.method == "HEAD";
    match behavior {
        Behavior::Status(code, body) => {
            respond(stream, code, "application/json", body.as_bytes(), false, head_only).await;
        }
        Behavior::RawBody(body) => respond(stream, 200, "application/json", &body, false, head_only).await,
        Behavior::Truncated if ep == Endpoint::Events => {
            let mut out = head(200, "application/json", "Transfer-Encoding: chunked");
            out.extend_from_slice(b"400\r\n{\"Type\":\"container\",\"Act");
            let _ = stream.write_all(&out).await;
        }
        Behavior::Normal if ep == Endpoint::Events => events(stream, &shared, &req).await,
        Behavior::Truncated | Behavior::Normal => {
            let (status, content_type, body) = answer(&shared, ep, &reference, &req);
            let truncate = behavior == Behavior::Truncated;
            respond(stream, status, content_type, &body, truncate, head_only).await;
        }
        Behavior::Hang | Behavior::Delay(_) => unreachable!("settled"),
    }
}

fn truthy(v: Option<&str>) -> bool {
    !matches!(v.map(str::to_ascii_lowercase).as_deref(), None | Some("" | "0" | "no" | "false" | "none"))
}

/// Docker's `filters` parameter: `{"key":["v",...]}` or the legacy
/// `{"key":{"v":true}}`.
fn parse_filters(raw: Option<&str>, accepted: &[&str]) -> Result<Filters, String> {
    let Some(raw) = raw.filter(|r| !r.is_empty()) else { return Ok(Filters::new()) };
    let v: Value = serde_json::from_str(raw).map_err(|e| format!("invalid filter: {e}"))?;
    let obj = v.as_object().ok_or_else(|| "invalid filter: not an object".to_string())?;
    let mut out = Filters::new();
    for (k, vals) in obj {
        if !accepted.contains(&k.as_str()) {
            return Err(format!("invalid filter '{k}'"));
        }
        let list: Vec<String> = match vals {
            Value::Array(a) => a.iter().filter_map(|x| x.as_str().map(String::from)).collect(),
            Value::Object(o) => o.iter().filter(|(_, on)| on.as_bool() == Some(true)).map(|(x, _)| x.clone()).collect(),
            _ => return Err(format!("invalid filter '{k}'")),
        };
        out.insert(k.clone(), list);
    }
    Ok(out)
}

fn label_matches(wanted: &[String], has: &dyn Fn(&str) -> Option<String>) -> bool {
    wanted.iter().all(|w| match w.split_once('=') {
        Some((k, v)) => has(k).as_deref() == Some(v),
        None => has(w).is_some(),
    })
}

fn event_matches(f: &Filters, ev: &StoredEvent) -> bool {
    f.iter().filter(|(_, vals)| !vals.is_empty()).all(|(k, vals)| match k.as_str() {
        "type" => vals.contains(&ev.typ),
        "event" => vals
            .iter()
            .any(|v| *v == ev.action || ev.action.strip_prefix(v.as_str()).is_some_and(|r| r.starts_with(':'))),
        "container" => vals.iter().any(|v| {
            (ev.typ == "container")
                && (*v == ev.id || ev.id.starts_with(v.as_str()) || ev.attributes.get("name") == Some(v))
        }),
        "image" => vals.iter().any(|v| ev.attributes.get("image") == Some(v)),
        "scope" => vals.iter().any(|v| v == "local"),
        "label" => label_matches(vals, &|key| ev.attributes.get(key).cloned()),
        _ => true,
    })
}

const EVENT_FILTERS: [&str; 14] = [
    "config",
    "container",
    "daemon",
    "event",
    "image",
    "label",
    "network",
    "node",
    "plugin",
    "scope",
    "secret",
    "service",
    "type",
    "volume",
];
const LIST_FILTERS: [&str; 15] = [
    "ancestor",
    "before",
    "expose",
    "exited",
    "health",
    "id",
    "isolation",
    "is-task",
    "label",
    "name",
    "network",
    "publish",
    "since",
    "status",
    "volume",
];
const STATES: [&str; 7] = ["created", "restarting", "running", "removing", "paused", "exited", "dead"];

fn answer(shared: &Shared, ep: Endpoint, reference: &str, req: &Request) -> (u16, &'static str, Vec<u8>) {
    let mut st = lock(&shared.state);
    match ep {
        Endpoint::Ping => (200, "text/plain; charset=utf-8", b"OK".to_vec()),
        Endpoint::Version => (200, "application/json", json_bytes(&version_json())),
        Endpoint::Info => {
            let now = st.tick();
            (200, "application/json", json_bytes(&info_json(shared, &st, now)))
        }
        Endpoint::List => match list_json(&st, req) {
            Ok(v) => (200, "application/json", json_bytes(&v)),
            Err(msg) => (400, "application/json", message(&msg)),
        },
        Endpoint::Inspect => {
            if let Some(e) = st.containers.get(reference) {
                return (200, "application/json", json_bytes(&inspect_json(e)));
            }
            let by_name: Vec<&Entry> = st
                .containers
                .values()
                .filter(|e| e.c.name == reference.strip_prefix('/').unwrap_or(reference))
                .collect();
            let found: Vec<&Entry> = if by_name.is_empty() {
                st.containers.values().filter(|e| e.c.id.starts_with(reference)).collect()
            } else {
                by_name
            };
            match found.as_slice() {
                [e] => (200, "application/json", json_bytes(&inspect_json(e))),
                [] => (404, "application/json", message(&format!("No such container: {reference}"))),
                _ => {
                    (400, "application/json", message(&format!("multiple IDs found with provided prefix: {reference}")))
                }
            }
        }
        Endpoint::Events | Endpoint::Other => (404, "application/json", message("page not found")),
    }
}

fn version_json() -> Value {
    json!({
        "Platform": {"Name": "Fake Docker Engine"},
        "Components": [{"Name": "Engine", "Version": SERVER_VERSION, "Details": {
            "ApiVersion": API_VERSION, "MinAPIVersion": MIN_API_VERSION, "Os": "linux", "Arch": "amd64",
        }}],
        "Version": SERVER_VERSION,
        "ApiVersion": API_VERSION,
        "MinAPIVersion": MIN_API_VERSION,
        "GitCommit": "fake",
        "GoVersion": "go1.21.0",
        "Os": "linux",
        "Arch": "amd64",
        "KernelVersion": "6.1.0-fake",
        "BuildTime": "2024-01-01T00:00:00.000000000+00:00",
    })
}

fn info_json(shared: &Shared, st: &State, now: i128) -> Value {
    let running = st.containers.values().filter(|e| e.c.running && !e.c.paused).count();
    let paused = st.containers.values().filter(|e| e.c.paused).count();
    json!({
        "ID": shared.engine_id,
        "Containers": st.containers.len(),
        "ContainersRunning": running,
        "ContainersPaused": paused,
        "ContainersStopped": st.containers.len() - running - paused,
        "Images": 1,
        "Driver": "overlay2",
        "DockerRootDir": "/var/lib/docker",
        "Name": "fake-docker",
        "NCPU": 4,
        "MemTotal": 8_589_934_592_i64,
        "OperatingSystem": "Fake Linux",
        "OSType": "linux",
        "Architecture": "x86_64",
        "KernelVersion": "6.1.0-fake",
        "ServerVersion": SERVER_VERSION,
        "SystemTime": rfc3339_nano(now),
        "Labels": [],
        "ExperimentalBuild": false,
    })
}

fn list_json(st: &State, req: &Request) -> Result<Value, String> {
    let filters = parse_filters(req.param("filters"), &LIST_FILTERS)?;
    if let Some(bad) = filters.get("status").into_iter().flatten().find(|s| !STATES.contains(&s.as_str())) {
        return Err(format!("invalid filter 'status={bad}'"));
    }
    let all = truthy(req.param("all")) || filters.contains_key("status");
    let limit: Option<usize> = req.param("limit").and_then(|l| l.parse().ok()).filter(|&l| l > 0);
    let keep = |c: &FakeContainer| {
        (all || c.running)
            && filters.iter().filter(|(_, v)| !v.is_empty()).all(|(k, vals)| match k.as_str() {
                "status" => vals.iter().any(|v| v == c.status()),
                "id" => vals.iter().any(|v| c.id.starts_with(v.as_str())),
                "name" => vals.iter().any(|v| c.name.contains(v.trim_start_matches('/'))),
                "label" => {
                    label_matches(vals, &|key| c.labels.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.clone()))
                }
                _ => true,
            })
    };
    let items: Vec<Value> = st
        .sorted()
        .into_iter()
        .filter(|e| keep(&e.c))
        .take(limit.unwrap_or(usize::MAX))
        .map(|e| {
            let c = &e.c;
            let status = match c.status() {
                "paused" => "Up 5 minutes (Paused)".to_string(),
                "running" => "Up 5 minutes".to_string(),
                _ => "Exited (0) 5 minutes ago".to_string(),
            };
            json!({
                "Id": c.id,
                "Names": [format!("/{}", c.name)],
                "Image": IMAGE,
                "ImageID": "sha256:3f57d9401f8d42f986df300f0c69192fc41da28ccc8d797829467780db3dd741",
                "Command": "sleep infinity",
                "Created": e.created.div_euclid(1_000_000_000) as i64,
                "Ports": [],
                "Labels": c.labels_json(),
                "State": c.status(),
                "Status": status,
                "HostConfig": {"NetworkMode": "bridge"},
                "NetworkSettings": {"Networks": {}},
                "Mounts": [],
            })
        })
        .collect();
    Ok(Value::Array(items))
}

fn inspect_json(e: &Entry) -> Value {
    let c = &e.c;
    let created = rfc3339_nano(e.created);
    json!({
        "Id": c.id,
        "Created": created,
        "Path": "sleep",
        "Args": ["infinity"],
        "State": {
            "Status": c.status(),
            "Running": c.running,
            "Paused": c.paused,
            "Restarting": false,
            "OOMKilled": false,
            "Dead": false,
            "Pid": if c.running { c.pid } else { 0 },
            "ExitCode": 0,
            "Error": "",
            "StartedAt": created,
            "FinishedAt": "0001-01-01T00:00:00Z",
        },
        "Image": "sha256:3f57d9401f8d42f986df300f0c69192fc41da28ccc8d797829467780db3dd741",
        "ResolvConfPath": format!("/var/lib/docker/containers/{}/resolv.conf", c.id),
        "HostnamePath": format!("/var/lib/docker/containers/{}/hostname", c.id),
        "Name": format!("/{}", c.name),
        "RestartCount": 0,
        "Driver": "overlay2",
        "Platform": "linux",
        "HostConfig": {"Privileged": c.privileged, "NetworkMode": "bridge", "AutoRemove": false},
        "Config": {
            "Hostname": c.id.chars().take(12).collect::<String>(),
            "Image": IMAGE,
            "Cmd": ["sleep", "infinity"],
            "Labels": c.labels_json(),
        },
        "Mounts": [],
        "NetworkSettings": {"Networks": {}},
    })
}

/// Removes a subscriber when its stream task ends (or is dropped at shutdown).
struct Unsubscribe<'a> {
    shared: &'a Shared,
    id: u64,
}

impl Drop for Unsubscribe<'_> {
    fn drop(&mut self) {
        lock(&self.shared.state).subscribers.retain(|s| s.id != self.id);
    }
}

fn chunk(data: &[u8]) -> Vec<u8> {
    let mut out = format!("{:x}\r\n", data.len()).into_bytes();
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
    out
}

struct Subscription {
    since: Option<i128>,
    until: Option<i128>,
    filters: Filters,
}

fn subscription(req: &Request) -> Result<Subscription, String> {
    let time = |key: &str| match req.param(key).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => {
            parse_timestamp(s).map(Some).ok_or_else(|| format!("strconv.ParseInt: parsing {s:?}: invalid syntax"))
        }
    };
    Ok(Subscription {
        since: time("since")?,
        until: time("until")?,
        filters: parse_filters(req.param("filters"), &EVENT_FILTERS)?,
    })
}

async fn events(stream: UnixStream, shared: &Shared, req: &Request) {
    let Subscription { since, until, filters } = match subscription(req) {
        Ok(s) => s,
        Err(msg) => return respond(stream, 400, "application/json", &message(&msg), false, false).await,
    };
    let (tx, mut rx) = mpsc::unbounded_channel();
    // Replay and subscription under one lock: no gap, no duplicate.
    let (id, replay, now) = {
        let mut st = lock(&shared.state);
        let replay: Vec<Arc<[u8]>> = if since.is_some() || until.is_some() {
            let (from, to) = (since.unwrap_or(0), until.unwrap_or(i128::MAX));
            st.ring
                .iter()
                .filter(|ev| ev.time >= from && ev.time <= to && event_matches(&filters, ev))
                .map(|ev| Arc::clone(&ev.line))
                .collect()
        } else {
            Vec::new()
        };
        st.next_subscriber += 1;
        let id = st.next_subscriber;
        st.subscribers.push(Subscriber { id, filters, tx });
        (id, replay, st.last_time.max(nanos_now()))
    };
    let _unsubscribe = Unsubscribe { shared, id };
    let (mut rd, mut wr) = stream.into_split();
    let mut out = head(200, "application/json", "Transfer-Encoding: chunked");
    for line in &replay {
        out.extend_from_slice(&chunk(line));
    }
    if wr.write_all(&out).await.is_err() {
        return;
    }
    let until_sleep = async {
        match until {
            Some(t) if t > now => tokio::time::sleep(Duration::from_nanos((t - now) as u64)).await,
            Some(_) => {}
            None => std::future::pending().await,
        }
    };
    tokio::pin!(until_sleep);
    let mut probe = [0u8; 256];
    loop {
        tokio::select! {
            msg = rx.recv() => match msg {
                Some(StreamMsg::Chunk(data)) => {
                    if wr.write_all(&chunk(&data)).await.is_err() {
                        return;
                    }
                }
                Some(StreamMsg::Break) => {
                    let _ = wr.write_all(b"400\r\n{\"Type\":\"container\",\"Action\":\"st").await;
                    return;
                }
                Some(StreamMsg::End) | None => {
                    let _ = wr.write_all(b"0\r\n\r\n").await;
                    let _ = wr.shutdown().await;
                    return;
                }
            },
            r = rd.read(&mut probe) => match r {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            },
            _ = &mut until_sleep => {
                let _ = wr.write_all(b"0\r\n\r\n").await;
                let _ = wr.shutdown().await;
                return;
            }
        }
    }
}
