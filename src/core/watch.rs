//! The watch loop of one engine: connect, subscribe, list, follow events,
//! and resynchronise under the retry policy when the engine goes away. It
//! publishes its part of the snapshot (containers and engine status)
//! through a [`Publisher`].

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::{mpsc, oneshot, Semaphore};
use tokio::task::JoinSet;
use tokio::time::timeout;

use super::engine::{Connection, Engine, EngineError, ErrorKind, Listed};
use super::model::{unix_now_ns, Container, EngineInfo, EngineState, EngineStatus, Event, EventKind};
use super::publish::Publisher;
use super::retry::Retry;
use super::snapshot::{ContainerSet, EngineSnapshot};
use super::tracker::{Ticket, Tracker};

/// How many inspections run at once.
const MAX_CONCURRENT_INSPECTS: usize = 16;
/// How many queued messages are applied before a snapshot is published.
const MAX_BATCH: usize = 1024;

// Inspection results, the largest variant, are also the most frequent messages.
#[allow(clippy::large_enum_variant)]
enum Msg {
    Event(Event),
    /// An event the engine sent but nobody could understand: skipped.
    Skipped(String),
    StreamEnded(String),
    Listed(Ticket, Result<Vec<Listed>, EngineError>),
    Inspected {
        ticket: Ticket,
        id: String,
        attempt: u32,
        for_sync: bool,
        result: Result<Option<Container>, EngineError>,
    },
    /// Time to try a failed inspection again.
    Retry {
        id: String,
        attempt: u32,
    },
}

/// How often a failed inspection is tried in all, before the container is
/// left out until the next resynchronisation.
pub const INSPECT_ATTEMPTS: u32 = 8;
/// The delay before the first retry of an inspection; it doubles up to 30 s.
const INSPECT_RETRY_FIRST: Duration = Duration::from_millis(250);

fn retry_delay(attempt: u32) -> Duration {
    INSPECT_RETRY_FIRST.saturating_mul(1 << attempt.min(7)).min(Duration::from_secs(30))
}

/// What lives exactly as long as one connection attempt.
struct Attempt {
    conn: Arc<dyn Connection>,
    tx: mpsc::Sender<Msg>,
    /// Aborted when dropped: nothing of the attempt outlives it.
    tasks: JoinSet<()>,
    /// The list and the inspections the first synchronisation waits for.
    pending_sync: usize,
    /// Containers whose inspection failed and is to be tried again, with
    /// the attempt number of the retry that is due.
    retrying: HashMap<String, u32>,
}

/// The background state of one engine's watch.
pub struct WatchLoop<R> {
    engine: Arc<dyn Engine>,
    /// This engine's index in the published snapshot.
    index: usize,
    publisher: Arc<Publisher<R>>,
    retry: Retry,
    call_timeout: Duration,
    tracker: Tracker,
    info: Arc<EngineInfo>,
    /// What was last published: status and containers.
    status: EngineStatus,
    set: Arc<ContainerSet>,
    published_status: EngineStatus,
    inspect_slots: Arc<Semaphore>,
    /// When it gives up, its containers leave the snapshot (a watcher of
    /// all engines); else they stay, as the last synchronised state.
    leave_on_give_up: bool,
}

/// Why an attempt ended.
struct Ended {
    msg: String,
    was_synced: bool,
}

impl<R: Send + Sync + 'static> WatchLoop<R> {
    pub fn new(
        engine: Arc<dyn Engine>,
        index: usize,
        publisher: Arc<Publisher<R>>,
        retry: Retry,
        call_timeout: Duration,
    ) -> Self {
        let info = Arc::new(engine.describe());
        WatchLoop {
            engine,
            index,
            publisher,
            retry,
            call_timeout,
            tracker: Tracker::new(),
            info,
            status: EngineStatus::default(),
            set: Arc::new(ContainerSet::empty()),
            published_status: EngineStatus::default(),
            inspect_slots: Arc::new(Semaphore::new(MAX_CONCURRENT_INSPECTS)),
            leave_on_give_up: false,
        }
    }

    /// When this engine gives up, its containers leave the snapshot.
    pub fn leaving_on_give_up(mut self) -> Self {
        self.leave_on_give_up = true;
        self
    }

    /// Watches until `stop` fires or the retry policy gives up.
    pub async fn run(mut self, mut stop: oneshot::Receiver<()>) {
        loop {
            let ended = tokio::select! {
                _ = &mut stop => return,
                ended = self.attempt() => ended,
            };
            if ended.was_synced {
                self.retry.healthy();
            }
            self.status.last_error = ended.msg;
            match self.retry.next_delay() {
                None => {
                    self.status.state = EngineState::GaveUp;
                    if self.leave_on_give_up {
                        self.set = Arc::new(ContainerSet::empty());
                        self.publish();
                    } else {
                        self.publish_status();
                    }
                    return;
                }
                Some(delay) => {
                    self.status.state =
                        if self.status.synced_at_ns != 0 { EngineState::Resyncing } else { EngineState::Connecting };
                    self.publish_status();
                    tokio::select! {
                        _ = &mut stop => return,
                        _ = tokio::time::sleep(delay) => {}
                    }
                }
            }
        }
    }

    /// Notes an engine trouble for the engine's status.
    fn note_error(&mut self, msg: String) {
        self.status.last_error = msg;
    }

    /// Publishes the status if it changed, with the last published containers.
    fn publish_status(&mut self) {
        if self.status != self.published_status {
            self.publish();
        }
    }

    /// Publishes the tracked containers and the status.
    fn publish_containers(&mut self) {
        self.set = Arc::new(ContainerSet::build(self.tracker.containers()));
        self.publish();
    }

    fn publish(&mut self) {
        self.published_status = self.status.clone();
        let part =
            EngineSnapshot { info: Arc::clone(&self.info), status: self.status.clone(), set: Arc::clone(&self.set) };
        self.publisher.update(self.index, Arc::new(part));
    }

    /// One connection's life: returns when it can no longer be trusted.
    async fn attempt(&mut self) -> Ended {
        let conn = match timeout(self.call_timeout, self.engine.connect()).await {
            Ok(Ok(conn)) => conn,
            Ok(Err(e)) => return Ended { msg: e.msg, was_synced: false },
            Err(_) => {
                let msg = format!("{}: no answer within {:?}", self.info.endpoint, self.call_timeout);
                return Ended { msg, was_synced: false };
            }
        };
        self.info = Arc::new(conn.info().clone());
        // Make-before-break: the published containers stay as they are
        // until this new synchronisation is complete.
        self.tracker.reset();
        let (tx, mut rx) = mpsc::channel::<Msg>(MAX_BATCH);
        let mut at = Attempt {
            conn: Arc::clone(&conn),
            tx: tx.clone(),
            tasks: JoinSet::new(),
            pending_sync: 1,
            retrying: HashMap::new(),
        };
        at.tasks.spawn(forward_events(conn.events(), tx.clone()));
        let list_ticket = self.tracker.ticket();
        let (list_conn, list_tx, t) = (Arc::clone(&conn), tx.clone(), self.call_timeout);
        at.tasks.spawn(async move {
            let result = match timeout(t, list_conn.list()).await {
                Ok(r) => r,
                Err(_) => Err(EngineError::new(ErrorKind::Timeout, format!("list: no answer within {t:?}"))),
            };
            let _ = list_tx.send(Msg::Listed(list_ticket, result)).await;
        });
        let mut synced = false;
        loop {
            let first = tokio::select! {
                msg = rx.recv() => msg,
                Some(joined) = at.tasks.join_next(), if !at.tasks.is_empty() => {
                    match joined {
                        Err(e) if e.is_panic() => {
                            return Ended { msg: "internal error: an engine request panicked".into(), was_synced: synced };
                        }
                        _ => continue,
                    }
                }
            };
            let mut next = first;
            let mut applied = 0;
            while let Some(msg) = next {
                if let Err(msg) = self.handle(msg, &mut at) {
                    return Ended { msg, was_synced: synced };
                }
                applied += 1;
                next = if applied < MAX_BATCH { rx.try_recv().ok() } else { None };
            }
            if !synced && at.pending_sync == 0 {
                synced = true;
                self.tracker.take_changed();
                self.status = EngineStatus {
                    state: EngineState::Synced,
                    synced_at_ns: unix_now_ns(),
                    last_error: String::new(),
                    repairs: self.status.repairs,
                };
                self.publish_containers();
            } else if synced && self.tracker.take_changed() {
                self.publish_containers();
            } else {
                self.publish_status();
            }
        }
    }

    fn handle(&mut self, msg: Msg, at: &mut Attempt) -> Result<(), String> {
        match msg {
            Msg::Event(ev) => {
                if ev.kind == EventKind::Died {
                    // Dead: no point in trying to inspect it again.
                    at.retrying.remove(&ev.id);
                }
                if let Some(ticket) = self.tracker.apply_event(&ev) {
                    at.retrying.remove(&ev.id);
                    self.spawn_inspect(ticket, ev.id, 0, false, at);
                }
            }
            Msg::Skipped(msg) => self.note_error(msg),
            Msg::StreamEnded(msg) => return Err(msg),
            Msg::Listed(_, Err(e)) => return Err(e.msg),
            Msg::Listed(ticket, Ok(items)) => {
                for item in items {
                    match item {
                        Listed::Alive(c) => self.tracker.observe(&ticket, c),
                        Listed::Inspect(id) => {
                            at.pending_sync += 1;
                            let t = self.tracker.ticket();
                            self.spawn_inspect(t, id, 0, true, at);
                        }
                    }
                }
                self.tracker.done(ticket);
                at.pending_sync -= 1;
            }
            Msg::Inspected { ticket, id, attempt, for_sync, result } => {
                if for_sync {
                    at.pending_sync -= 1;
                }
                match result {
                    Ok(Some(c)) => self.tracker.observe(&ticket, c),
                    Ok(None) => {}
                    // One container the engine cannot describe now is tried
                    // again later; it never stops the watch, nor the sync.
                    Err(e) if attempt + 1 < INSPECT_ATTEMPTS => {
                        self.note_error(format!("{} (trying again)", e.msg));
                        at.retrying.insert(id.clone(), attempt + 1);
                        let (tx, delay) = (at.tx.clone(), retry_delay(attempt));
                        at.tasks.spawn(async move {
                            tokio::time::sleep(delay).await;
                            let _ = tx.send(Msg::Retry { id, attempt: attempt + 1 }).await;
                        });
                    }
                    Err(e) => self.note_error(format!(
                        "{}; gave up after {INSPECT_ATTEMPTS} attempts until the next resynchronisation",
                        e.msg
                    )),
                }
                self.tracker.done(ticket);
            }
            Msg::Retry { id, attempt } => {
                // Only if nothing (a death, a new start) made it moot meanwhile.
                if at.retrying.get(&id) == Some(&attempt) {
                    at.retrying.remove(&id);
                    let t = self.tracker.ticket();
                    self.spawn_inspect(t, id, attempt, false, at);
                }
            }
        }
        Ok(())
    }

    fn spawn_inspect(&self, ticket: Ticket, id: String, attempt: u32, for_sync: bool, at: &mut Attempt) {
        let (conn, tx, slots, t) =
            (Arc::clone(&at.conn), at.tx.clone(), Arc::clone(&self.inspect_slots), self.call_timeout);
        at.tasks.spawn(async move {
            let result = match slots.acquire_owned().await {
                Err(_) => Ok(None),
                Ok(_permit) => match timeout(t, conn.inspect(id.clone())).await {
                    Ok(r) => r,
                    Err(_) => {
                        Err(EngineError::new(ErrorKind::Timeout, format!("inspect {id}: no answer within {t:?}")))
                    }
                },
            };
            let _ = tx.send(Msg::Inspected { ticket, id, attempt, for_sync, result }).await;
        });
    }
}

async fn forward_events(
    mut events: futures_util::stream::BoxStream<'static, Result<Event, EngineError>>,
    tx: mpsc::Sender<Msg>,
) {
    while let Some(item) = events.next().await {
        let msg = match item {
            Ok(ev) => Msg::Event(ev),
            // Well-formed but not understood (say, a new kind of event): skip it.
            Err(e) if e.kind == ErrorKind::Malformed => Msg::Skipped(format!("skipped an event: {}", e.msg)),
            Err(e) => Msg::StreamEnded(e.msg),
        };
        let end = matches!(msg, Msg::StreamEnded(_));
        if tx.send(msg).await.is_err() || end {
            return;
        }
    }
    let _ = tx.send(Msg::StreamEnded("the engine closed the event stream".into())).await;
}
