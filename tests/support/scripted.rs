//! An in-process engine whose every step the test controls: what the engine
//! holds, when a list or an inspection answers, when connecting fails and
//! when the event stream breaks. For race interleavings a real engine cannot
//! produce on demand.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures_util::future::BoxFuture;
use futures_util::stream::BoxStream;
use futures_util::StreamExt;
use tokio::sync::{mpsc, Semaphore};
use whalewatcher::core::{
    Connection, Container, Engine, EngineError, EngineInfo, EngineKind, ErrorKind, Event, EventKind, Listed,
};

#[derive(Default)]
struct Inner {
    containers: HashMap<String, Container>,
    connect_failures: usize,
    connects: usize,
    lists_started: usize,
    inspects: usize,
    list_error: Option<String>,
    events: Option<mpsc::UnboundedSender<Result<Event, EngineError>>>,
}

/// The scripted engine. Cloning shares it.
#[derive(Clone)]
pub struct Scripted {
    inner: Arc<Mutex<Inner>>,
    /// Lists wait for a permit when gated.
    list_gate: Arc<Semaphore>,
    gated: Arc<Mutex<bool>>,
    /// List entries come as full records (containerd-like) or as IDs to inspect (Docker-like).
    full_lists: bool,
}

pub fn container(id: &str, pid: i32, paused: bool, project: &str) -> Container {
    let mut labels = HashMap::new();
    if !project.is_empty() {
        labels.insert("com.docker.compose.project".to_string(), project.to_string());
    }
    Container::new(id.to_string(), format!("name-{id}"), pid, paused, labels)
}

impl Scripted {
    pub fn new(full_lists: bool) -> Self {
        Scripted {
            inner: Arc::default(),
            list_gate: Arc::new(Semaphore::new(0)),
            gated: Arc::new(Mutex::new(false)),
            full_lists,
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        f(&mut self.inner.lock().unwrap())
    }

    /// From now on, lists wait until [`Scripted::release_list`].
    pub fn gate_lists(&self) {
        *self.gated.lock().unwrap() = true;
    }

    /// Lets one waiting (or the next) list answer.
    pub fn release_list(&self) {
        self.list_gate.add_permits(1);
    }

    pub fn fail_connects(&self, n: usize) {
        self.with(|i| i.connect_failures = n);
    }

    pub fn fail_lists(&self, msg: Option<&str>) {
        self.with(|i| i.list_error = msg.map(String::from));
    }

    pub fn connects(&self) -> usize {
        self.with(|i| i.connects)
    }

    pub fn lists_started(&self) -> usize {
        self.with(|i| i.lists_started)
    }

    pub fn inspects(&self) -> usize {
        self.with(|i| i.inspects)
    }

    fn emit(&self, ev: Event) {
        self.with(|i| {
            if let Some(tx) = &i.events {
                let _ = tx.send(Ok(ev));
            }
        });
    }

    /// A container starts in the engine, which then emits its start event.
    pub fn start(&self, c: Container) {
        let id = c.id().to_string();
        self.with(|i| i.containers.insert(id.clone(), c));
        self.emit(Event::new(id, EventKind::Started));
    }

    /// A container starts without the watcher hearing of it (before subscription).
    pub fn start_silently(&self, c: Container) {
        self.with(|i| i.containers.insert(c.id().to_string(), c));
    }

    pub fn kill(&self, id: &str) {
        self.with(|i| i.containers.remove(id));
        self.emit(Event::new(id, EventKind::Died));
    }

    pub fn kill_silently(&self, id: &str) {
        self.with(|i| i.containers.remove(id));
    }

    pub fn pause(&self, id: &str, paused: bool) {
        self.with(|i| {
            if let Some(c) = i.containers.get_mut(id) {
                c.paused = paused;
            }
        });
        self.emit(Event::new(id, if paused { EventKind::Paused } else { EventKind::Unpaused }));
    }

    pub fn rename(&self, id: &str, name: &str) {
        self.with(|i| {
            if let Some(c) = i.containers.get_mut(id) {
                *c = c.with_name(name);
            }
        });
        self.emit(Event::new(id, EventKind::Renamed(name.to_string())));
    }

    /// Emits an event without changing the engine's state.
    pub fn emit_only(&self, ev: Event) {
        self.emit(ev);
    }

    /// Breaks the current event stream with an error.
    pub fn break_stream(&self) {
        self.with(|i| {
            if let Some(tx) = i.events.take() {
                let _ = tx.send(Err(EngineError::new(ErrorKind::Unreachable, "scripted: stream broken")));
            }
        });
    }
}

impl Engine for Scripted {
    fn describe(&self) -> EngineInfo {
        EngineInfo::new(EngineKind::Docker, "scripted", "scripted://".into())
    }

    fn connect(&self) -> BoxFuture<'static, Result<Arc<dyn Connection>, EngineError>> {
        let this = self.clone();
        Box::pin(async move {
            let (tx, rx) = mpsc::unbounded_channel();
            let refused = this.with(|i| {
                i.connects += 1;
                if i.connect_failures > 0 {
                    i.connect_failures -= 1;
                    return true;
                }
                i.events = Some(tx);
                false
            });
            if refused {
                return Err(EngineError::new(ErrorKind::Unreachable, "scripted: connection refused"));
            }
            let info = EngineInfo { id: "scripted-id".into(), version: "1".into(), ..this.describe() };
            Ok(Arc::new(ScriptedConn { engine: this, info, rx: Mutex::new(Some(rx)) }) as Arc<dyn Connection>)
        })
    }
}

struct ScriptedConn {
    engine: Scripted,
    info: EngineInfo,
    rx: Mutex<Option<mpsc::UnboundedReceiver<Result<Event, EngineError>>>>,
}

impl Connection for ScriptedConn {
    fn info(&self) -> &EngineInfo {
        &self.info
    }

    fn events(&self) -> BoxStream<'static, Result<Event, EngineError>> {
        let rx = self.rx.lock().unwrap().take().expect("events() once per connection");
        futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) }).boxed()
    }

    fn list(&self) -> BoxFuture<'static, Result<Vec<Listed>, EngineError>> {
        let engine = self.engine.clone();
        Box::pin(async move {
            // The listing sees the engine as it is when the call starts ...
            let (seen, error) = engine.with(|i| {
                i.lists_started += 1;
                let seen: Vec<Container> = i.containers.values().cloned().collect();
                (seen, i.list_error.clone())
            });
            // ... and may answer much later.
            if *engine.gated.lock().unwrap() {
                engine.list_gate.acquire().await.expect("gate").forget();
            }
            if let Some(msg) = error {
                return Err(EngineError::new(ErrorKind::Unreachable, msg));
            }
            Ok(seen
                .into_iter()
                .map(|c| if engine.full_lists { Listed::Alive(c) } else { Listed::Inspect(c.id().to_string()) })
                .collect())
        })
    }

    fn inspect(&self, id: String) -> BoxFuture<'static, Result<Option<Container>, EngineError>> {
        let engine = self.engine.clone();
        Box::pin(async move {
            Ok(engine.with(|i| {
                i.inspects += 1;
                i.containers.get(&id).cloned()
            }))
        })
    }
}
