//! The engine-independent core: a pure-Rust tracker of alive containers, its
//! engines, and the watcher that keeps it current. No `unsafe`, no C types.
#![forbid(unsafe_code)]

pub mod chunks;
pub mod container;
pub mod diff;
pub mod discovery;
pub mod engine;
pub mod engines;
pub mod forkguard;
pub mod heap;
pub mod host;
pub mod label_keys;
pub mod model;
pub mod offthread;
pub mod options;
pub mod pods;
pub mod process;
pub mod publish;
pub mod relist;
pub mod retry;
pub mod shared;
pub mod snapshot;
pub mod sockets;
pub mod tracker;
pub mod watch;
pub mod watcher;

pub use engine::{Connection, Engine, EngineError, ErrorKind, Listed};
pub use model::{Container, ContainerDraft, EngineInfo, EngineState, EngineStatus, Event, EventKind};
pub use options::{Backoff, Endpoint, EngineKind, Options};
pub use shared::{Change, Readiness};
pub use snapshot::{ContainerSet, EngineSnapshot, Project, Snapshot};
pub use watcher::Watcher;
