//! The information model: containers, engine identity and state, and
//! lifecycle events.

use std::collections::HashMap;

use super::options::EngineKind;
use super::pods::Pod;

/// The label that names a container's compose project.
pub const COMPOSE_PROJECT_LABEL: &str = "com.docker.compose.project";

/// One alive container: it has an initial process, so it is running or paused.
///
/// Records are immutable once tracked; a change (pause, rename) makes a new one.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Container {
    /// The engine's full container ID.
    pub id: String,
    /// The user-facing name (Docker: without the leading `/`).
    pub name: String,
    /// The compose project, `""` if none.
    pub project: String,
    /// PID of the initial process, always > 0.
    pub pid: i32,
    /// True when paused (or pausing).
    pub paused: bool,
    /// All labels, sorted by key, keys unique.
    pub labels: Vec<(String, String)>,
    /// The image reference as the engine names it, `""` if unknown.
    pub image: String,
    /// The content-addressed image ID or digest, `""` if unknown.
    pub image_id: String,
    /// When the current initial process started (Unix ns), 0 if unknown.
    pub started_at_ns: i64,
    /// Runs privileged (Docker's `HostConfig.Privileged`); false if unknown.
    pub privileged: bool,
    /// The Kubernetes (or podman) pod it belongs to; empty outside pods.
    pub pod: Pod,
}

impl Container {
    /// Builds a container record from an engine's label map; the project comes
    /// from the compose project label, the pod from Kubernetes' pod labels.
    /// The other details start unknown.
    pub fn new(id: String, name: String, pid: i32, paused: bool, labels: HashMap<String, String>) -> Self {
        let project = labels.get(COMPOSE_PROJECT_LABEL).cloned().unwrap_or_default();
        let pod = Pod::from_labels(&labels);
        let mut labels: Vec<(String, String)> = labels.into_iter().collect();
        labels.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        Container { id, name, project, pid, paused, labels, pod, ..Container::default() }
    }

    /// The value of label `key`, if set.
    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels.binary_search_by(|(k, _)| k.as_str().cmp(key)).ok().map(|i| self.labels[i].1.as_str())
    }

    /// True when `other` describes the same container with the same details,
    /// the paused state aside.
    pub fn same_details(&self, other: &Container) -> bool {
        self.id == other.id
            && self.pid == other.pid
            && self.name == other.name
            && self.project == other.project
            && self.labels == other.labels
            && self.image == other.image
            && self.image_id == other.image_id
            && self.started_at_ns == other.started_at_ns
            && self.privileged == other.privileged
            && self.pod == other.pod
    }
}

/// What is known about the engine a watcher talks to: its identity, which
/// changes only when the watcher (re)connects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EngineInfo {
    /// Which kind of engine.
    pub kind: EngineKind,
    /// `"docker.com"`, `"containerd.io"`, ...
    pub engine_type: String,
    /// The engine's ID, `""` until first contact.
    pub id: String,
    /// The engine's version, `""` until first contact.
    pub version: String,
    /// The endpoint in use.
    pub endpoint: String,
    /// The PID of the process that listens on the engine's unix socket, in
    /// this process's PID namespace, 0 if unknown.
    pub pid: i32,
}

impl EngineInfo {
    /// What is known before the first contact.
    pub fn new(kind: EngineKind, engine_type: &str, endpoint: String) -> Self {
        EngineInfo {
            kind,
            engine_type: engine_type.into(),
            id: String::new(),
            version: String::new(),
            endpoint,
            pid: 0,
        }
    }
}

/// Where a watcher stands with its engine.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum EngineState {
    /// Not synchronised yet.
    #[default]
    Connecting,
    /// Following the engine's events.
    Synced,
    /// Lost the engine; shows the last synchronised state while reconnecting.
    Resyncing,
    /// No retries left; shows the last synchronised state.
    GaveUp,
}

/// The changing part of what callers see about an engine.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EngineStatus {
    pub state: EngineState,
    /// Wall clock (Unix ns) of the last completed synchronisation, 0 if none.
    pub synced_at_ns: i64,
    /// The latest engine trouble, `""` if none since the last sync.
    pub last_error: String,
    /// How often the watcher found its picture differing from the engine's
    /// and repaired it.
    pub repairs: u64,
}

/// A lifecycle event of one container, as far as tracking cares.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// The container's initial process started: inspect it.
    Started,
    /// The container's initial process ended.
    Died,
    /// The container was paused.
    Paused,
    /// The container was resumed.
    Unpaused,
    /// The container got a new name.
    Renamed(String),
}

/// A lifecycle event for the container with ID `id`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub id: String,
    pub kind: EventKind,
}

impl Event {
    pub fn new(id: impl Into<String>, kind: EventKind) -> Self {
        Event { id: id.into(), kind }
    }
}

/// Wall-clock nanoseconds since the Unix epoch, 0 if the clock is before it.
pub fn unix_now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
