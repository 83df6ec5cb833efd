//! What the watch loop needs from a container engine.

use std::fmt;
use std::sync::Arc;

use futures_util::future::BoxFuture;
use futures_util::stream::BoxStream;

use super::model::{Container, EngineInfo, Event};

/// How an engine call failed. A failed connect, list or event stream makes
/// the watcher resynchronise whatever the kind; a failed inspection is
/// retried later; a `Malformed` event is skipped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The engine cannot be reached or the connection broke.
    Unreachable,
    /// The call did not finish within the call timeout.
    Timeout,
    /// The engine refused this one request.
    Refused,
    /// The engine's reply could not be understood.
    Malformed,
}

/// A failed engine call, with a message for `ww_last_error_message`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EngineError {
    pub kind: ErrorKind,
    pub msg: String,
}

impl EngineError {
    pub fn new(kind: ErrorKind, msg: impl Into<String>) -> Self {
        EngineError { kind, msg: msg.into() }
    }
}

impl fmt::Display for EngineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.msg)
    }
}

impl std::error::Error for EngineError {}

/// One entry of a full listing.
#[derive(Clone, Debug, PartialEq, Eq)]
// The full record is the common case (containerd lists everything at once).
#[allow(clippy::large_enum_variant)]
pub enum Listed {
    /// The listing already told everything about this alive container.
    Alive(Container),
    /// The container must be inspected to learn its PID and details.
    Inspect(String),
    /// The same, with what the list told of its state: the PID if it
    /// tells (else 0) and whether it is paused (for audits).
    Seen { id: String, pid: i32, paused: bool },
}

/// An engine endpoint that can be connected to, again and again.
pub trait Engine: Send + Sync + 'static {
    /// What is known before the first contact (type and endpoint).
    fn describe(&self) -> EngineInfo;
    /// Connects and learns the engine's identity.
    fn connect(&self) -> BoxFuture<'static, Result<Arc<dyn Connection>, EngineError>>;
}

/// One connection to an engine; dropped when the attempt ends.
pub trait Connection: Send + Sync + 'static {
    /// The engine's identity as learnt when connecting.
    fn info(&self) -> &EngineInfo;
    /// The lifecycle event stream. It must deliver every event that happens
    /// after [`Engine::connect`] returned, even if it is polled later. It ends
    /// with an error or simply ends when the engine goes away.
    fn events(&self) -> BoxStream<'static, Result<Event, EngineError>>;
    /// All alive containers.
    fn list(&self) -> BoxFuture<'static, Result<Vec<Listed>, EngineError>>;
    /// How long a whole list may take: one call timeout, unless the list
    /// takes several calls and bounds each itself (`None`).
    fn list_bound(&self, call_timeout: std::time::Duration) -> Option<std::time::Duration> {
        Some(call_timeout)
    }
    /// One container: `Ok(None)` when it is gone or has no initial process.
    fn inspect(&self, id: String) -> BoxFuture<'static, Result<Option<Container>, EngineError>>;
    /// The containers a synchronisation's list left to inspect, described
    /// all at once where the engine keeps a record that is cheaper to read
    /// than one inspection each (Docker's own files): for each ID, in
    /// order, its alive container, or `None` when it is still to be
    /// inspected (as are those past the end of a shorter answer). `None`:
    /// the engine offers nothing of the kind.
    fn describe_all(&self, _ids: Vec<String>) -> Option<BoxFuture<'static, Vec<Option<Container>>>> {
        None
    }
    /// What takes long to learn about the engine (Docker's `/info`, the
    /// process serving the socket), learnt while the synchronisation runs
    /// instead of before it; the first synchronisation completes only with
    /// it. `None`: [`Connection::info`] tells everything.
    fn details(&self) -> Option<BoxFuture<'static, Result<Details, EngineError>>> {
        None
    }
    /// The event stream is known to be live from before the list on.
    /// `false`: it could not be proven (containerd refusing the marker), so
    /// the watcher audits once soon after synchronising.
    fn events_proven(&self) -> bool {
        true
    }
}

/// Engine identity learnt after connecting; what is `None` stays as it was.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Details {
    pub id: Option<String>,
    pub version: Option<String>,
    pub pid: Option<i32>,
}

impl Details {
    /// `info` with these details.
    pub fn apply(self, info: &mut EngineInfo) {
        if let Some(id) = self.id {
            info.id = id;
        }
        if let Some(v) = self.version {
            info.version = v;
        }
        if let Some(pid) = self.pid {
            info.pid = pid;
        }
    }
}

/// An error's message followed by those of its causes (e.g. the OS error
/// under a transport error), each once.
pub fn with_causes(e: &dyn std::error::Error) -> String {
    let mut msg = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !msg.contains(&text) {
            msg.push_str(": ");
            msg.push_str(&text);
        }
        cause = c.source();
    }
    msg
}
