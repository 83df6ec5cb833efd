//! The information model: containers, engine identity and state, and
//! lifecycle events.

use super::options::EngineKind;

pub use super::container::{Container, ContainerDraft, Field, COMPOSE_PROJECT_LABEL};

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
