//! The information model: containers, engine identity and lifecycle events.

use std::collections::HashMap;

/// The label that names a container's compose project.
pub const COMPOSE_PROJECT_LABEL: &str = "com.docker.compose.project";

/// The label added to privileged Docker containers (only its presence counts),
/// as the Go original does.
pub const PRIVILEGED_LABEL: &str = "github.com/thediveo/whalewatcher/moby/privileged";

/// One alive container: it has an initial process, so it is running or paused.
///
/// Records are immutable once tracked; a change (pause, rename) makes a new one.
#[derive(Clone, Debug, PartialEq, Eq)]
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
}

impl Container {
    /// Builds a container record from an engine's label map; the project comes
    /// from the compose project label.
    pub fn new(id: String, name: String, pid: i32, paused: bool, labels: HashMap<String, String>) -> Self {
        let project = labels.get(COMPOSE_PROJECT_LABEL).cloned().unwrap_or_default();
        let mut labels: Vec<(String, String)> = labels.into_iter().collect();
        labels.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        Container { id, name, project, pid, paused, labels }
    }

    /// The value of label `key`, if set.
    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels
            .binary_search_by(|(k, _)| k.as_str().cmp(key))
            .ok()
            .map(|i| self.labels[i].1.as_str())
    }
}

/// What is known about the engine a watcher talks to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EngineInfo {
    /// `"docker.com"` or `"containerd.io"`.
    pub engine_type: String,
    /// The engine's ID, `""` until first contact.
    pub id: String,
    /// The engine's version, `""` until first contact.
    pub version: String,
    /// The endpoint in use.
    pub endpoint: String,
    /// The daemon's PID as seen over a unix socket, 0 if unknown.
    pub pid: i32,
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
