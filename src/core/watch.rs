//! The watch loop of one engine: connect, subscribe, list, follow events,
//! audit, and resynchronise under the retry policy when the engine goes
//! away. It publishes its part of the snapshot (containers and engine
//! status) through a [`Publisher`].
//!
//! Inspections wait in a queue keyed by container: at most one queued per
//! container (a newer start replaces the queued one), at most
//! [`MAX_CONCURRENT_INSPECTS`] running, and a death takes a container's
//! queued inspection and pending retry away. So the work waiting is bounded
//! by the containers that are (or may be) alive, whatever the churn.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;
use tokio::time::timeout;

use super::engine::{Connection, Details, Engine, EngineError, ErrorKind, Listed};
use super::model::{unix_now_ns, Container, EngineInfo, EngineState, EngineStatus, Event, EventKind};
use super::publish::Publisher;
use super::retry::Retry;
use super::snapshot::{ContainerSet, EngineSnapshot};
use super::tracker::{Changes, Ticket, Tracker};

/// How many inspections run at once.
pub const MAX_CONCURRENT_INSPECTS: usize = 16;
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
    /// What the engine described at once of what the list left to inspect
    /// (these IDs), in the same order.
    Described(Ticket, Vec<String>, Vec<Option<Container>>),
    /// The answer to an audit's list.
    Audited(Ticket, Result<Vec<Listed>, EngineError>),
    /// An audit's list, to compare now that the events which were on their
    /// way when the engine answered have arrived.
    AuditDue(Ticket, Vec<AuditItem>),
    Inspected {
        job: Job,
        result: Result<Option<Container>, EngineError>,
    },
    /// What the engine told about itself while the synchronisation ran.
    Details(Result<Details, EngineError>),
    /// Time to try a failed inspection again.
    Retry {
        id: String,
        attempt: u32,
    },
}

/// A listed container as an audit compares it: ID, PID (0: not listed)
/// and paused state (`None`: not listed).
type AuditItem = (String, i32, Option<bool>);

/// How long an audit's list waits before it is compared: events the engine
/// emitted before it answered may still be on their way, and what they
/// change is no repair. At most half the audit interval.
const AUDIT_GRACE: Duration = Duration::from_millis(500);

/// When a watcher whose event stream could not be proven live audits
/// after its first synchronisation.
const UNPROVEN_AUDIT: Duration = Duration::from_secs(1);

fn audit_grace(interval: Option<Duration>) -> Duration {
    interval.map_or(AUDIT_GRACE, |i| (i / 2).min(AUDIT_GRACE))
}

/// One inspection to make.
struct Job {
    ticket: Ticket,
    id: String,
    /// How many times it was tried before.
    attempt: u32,
    /// The first synchronisation waits for it.
    for_sync: bool,
    /// An audit asked for it: what it finds is a repair.
    repair: bool,
}

/// How often a failed inspection is tried in all, before the container is
/// left out until the next audit (or resynchronisation).
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
    /// Inspections waiting for a slot, one per container, with their place
    /// in line.
    queued: HashMap<String, (u64, Job)>,
    /// The line: place to container.
    order: BTreeMap<u64, String>,
    next_place: u64,
    /// Containers being inspected now.
    running: HashSet<String>,
    /// Containers whose inspection failed and is to be tried again, with
    /// the attempt number of the retry that is due.
    retrying: HashMap<String, u32>,
    /// An audit's list is out.
    auditing: bool,
    /// A large list was taken in: its freed memory goes back to the system
    /// once the batch is published.
    give_back: bool,
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
    /// When it gives up, its containers leave the snapshot (a watcher of
    /// all engines); else they stay, as the last synchronised state.
    leave_on_give_up: bool,
    /// How often a synchronised engine's list is compared with what is tracked.
    audit_interval: Option<Duration>,
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
            leave_on_give_up: false,
            audit_interval: None,
        }
    }

    /// When this engine gives up, its containers leave the snapshot.
    pub fn leaving_on_give_up(mut self) -> Self {
        self.leave_on_give_up = true;
        self
    }

    /// Audits every `interval` while synchronised (`None`: never).
    pub fn auditing_every(mut self, interval: Option<Duration>) -> Self {
        self.audit_interval = interval;
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

    /// Publishes the tracked containers and the status: the last published
    /// set with what changed since, or, after a synchronisation (or when
    /// most changed), a set built afresh.
    fn publish_containers(&mut self, changes: Changes) {
        self.set = Arc::new(self.tracker.set_after(&self.set, &changes));
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
            queued: HashMap::new(),
            order: BTreeMap::new(),
            next_place: 0,
            running: HashSet::new(),
            retrying: HashMap::new(),
            auditing: false,
            give_back: false,
        };
        at.tasks.spawn(forward_events(conn.events(), tx.clone()));
        let list_ticket = self.tracker.ticket();
        self.spawn_list(&mut at, list_ticket, Msg::Listed);
        // What takes long to learn about the engine is learnt meanwhile;
        // the synchronisation completes with it.
        if let Some(details) = conn.details() {
            at.pending_sync += 1;
            let (tx, t, endpoint) = (tx.clone(), self.call_timeout, self.info.endpoint.clone());
            at.tasks.spawn(async move {
                let r = timeout(t, details).await.unwrap_or_else(|_| {
                    Err(EngineError::new(ErrorKind::Timeout, format!("{endpoint}: details: no answer within {t:?}")))
                });
                let _ = tx.send(Msg::Details(r)).await;
            });
        }
        let mut synced = false;
        // The audit's clock starts with the first synchronisation.
        let far = Duration::from_secs(86_400 * 365);
        let mut audits = tokio::time::interval(self.audit_interval.unwrap_or(far));
        audits.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // An event stream not proven live is checked by one audit soon after
        // the synchronisation, audits or not.
        let mut confirming = !conn.events_proven();
        let confirm = tokio::time::sleep(far);
        tokio::pin!(confirm);
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
                _ = audits.tick(), if synced && self.audit_interval.is_some() && !at.auditing => {
                    self.start_audit(&mut at);
                    continue;
                }
                _ = &mut confirm, if synced && confirming && !at.auditing => {
                    confirming = false;
                    self.start_audit(&mut at);
                    continue;
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
            self.dispatch(&mut at);
            if !synced && at.pending_sync == 0 {
                synced = true;
                audits.reset();
                confirm.as_mut().reset(tokio::time::Instant::now() + UNPROVEN_AUDIT);
                let large = self.tracker.len() >= super::heap::LARGE_LIST;
                if large {
                    // Out of the memory the engine's replies were parsed in,
                    // so that it can go back as a whole (below).
                    self.tracker.compact();
                }
                let changes = self.tracker.take_changes();
                self.status = EngineStatus {
                    state: EngineState::Synced,
                    synced_at_ns: unix_now_ns(),
                    last_error: String::new(),
                    repairs: self.status.repairs,
                };
                self.publish_containers(changes);
                at.give_back |= large;
            } else if synced && !self.tracker.changes_empty() {
                let changes = self.tracker.take_changes();
                self.publish_containers(changes);
            } else {
                self.publish_status();
            }
            if std::mem::take(&mut at.give_back) {
                super::heap::listed();
            }
        }
    }

    /// Asks for an audit's list; none other is asked for until it is compared.
    fn start_audit(&mut self, at: &mut Attempt) {
        at.auditing = true;
        let ticket = self.tracker.ticket();
        self.spawn_list(at, ticket, Msg::Audited);
    }

    /// Lists in the background; the answer comes back as `wrap(ticket, result)`.
    fn spawn_list(&self, at: &mut Attempt, ticket: Ticket, wrap: fn(Ticket, Result<Vec<Listed>, EngineError>) -> Msg) {
        let (conn, tx) = (Arc::clone(&at.conn), at.tx.clone());
        let bound = conn.list_bound(self.call_timeout);
        at.tasks.spawn(async move {
            let result = match bound {
                None => conn.list().await,
                Some(t) => match timeout(t, conn.list()).await {
                    Ok(r) => r,
                    Err(_) => Err(EngineError::new(ErrorKind::Timeout, format!("list: no answer within {t:?}"))),
                },
            };
            let _ = tx.send(wrap(ticket, result)).await;
        });
    }

    fn handle(&mut self, msg: Msg, at: &mut Attempt) -> Result<(), String> {
        match msg {
            Msg::Event(ev) => {
                if ev.kind == EventKind::Died {
                    // Dead: no point in inspecting it (again).
                    at.retrying.remove(&ev.id);
                    self.cancel_queued(at, &ev.id);
                }
                if let Some(ticket) = self.tracker.apply_event(&ev) {
                    at.retrying.remove(&ev.id);
                    self.enqueue(at, Job { ticket, id: ev.id, attempt: 0, for_sync: false, repair: false });
                }
            }
            Msg::Skipped(msg) => self.note_error(msg),
            Msg::StreamEnded(msg) => return Err(msg),
            Msg::Listed(_, Err(e)) => return Err(e.msg),
            Msg::Listed(ticket, Ok(items)) => {
                let mut unknown = Vec::new();
                for item in items {
                    match item {
                        Listed::Alive(c) => {
                            self.tracker.observe(&ticket, c);
                        }
                        Listed::Inspect(id) | Listed::Seen { id, .. } => unknown.push(id),
                    }
                }
                // What the engine can describe all at once is, before the
                // rest is inspected one by one; the list stays pending
                // until then, and so does its ticket: what the description
                // tells is as old as the list for the tracker, so every
                // event of this attempt is laid over it (an engine's own
                // records can lag its events).
                let describing = if unknown.is_empty() { None } else { at.conn.describe_all(unknown.clone()) };
                match describing {
                    Some(describing) => {
                        let tx = at.tx.clone();
                        at.tasks.spawn(async move {
                            let _ = tx.send(Msg::Described(ticket, unknown, describing.await)).await;
                        });
                    }
                    None => {
                        self.tracker.done(ticket);
                        self.inspect_for_sync(at, unknown);
                        at.pending_sync -= 1;
                    }
                }
            }
            Msg::Described(ticket, ids, found) => {
                let mut rest = Vec::new();
                for (id, found) in ids.into_iter().zip(found.into_iter().chain(std::iter::repeat_with(|| None))) {
                    match found {
                        Some(c) => {
                            self.tracker.observe(&ticket, c);
                        }
                        None => rest.push(id),
                    }
                }
                self.tracker.done(ticket);
                self.inspect_for_sync(at, rest);
                at.pending_sync -= 1;
            }
            // An engine that cannot list anymore cannot be trusted anymore.
            Msg::Audited(_, Err(e)) => return Err(format!("audit: {}", e.msg)),
            Msg::Audited(ticket, Ok(items)) => {
                let listed: Vec<AuditItem> = items
                    .iter()
                    .map(|item| match item {
                        Listed::Alive(c) => (c.id().to_string(), c.pid, Some(c.paused)),
                        Listed::Seen { id, pid, paused } => (id.clone(), *pid, Some(*paused)),
                        Listed::Inspect(id) => (id.clone(), 0, None),
                    })
                    .collect();
                // The ticket stays out meanwhile: the tracker keeps what the
                // events since the list tell, which the comparison needs.
                let (tx, grace) = (at.tx.clone(), audit_grace(self.audit_interval));
                at.tasks.spawn(async move {
                    tokio::time::sleep(grace).await;
                    let _ = tx.send(Msg::AuditDue(ticket, listed)).await;
                });
            }
            Msg::AuditDue(ticket, listed) => {
                at.auditing = false;
                let (repaired, inspect) = self.tracker.audit(&ticket, &listed);
                self.tracker.done(ticket);
                self.status.repairs += repaired;
                for id in inspect {
                    if at.running.contains(&id) || at.queued.contains_key(&id) {
                        continue;
                    }
                    // A retry waiting for its delay is made now.
                    at.retrying.remove(&id);
                    let t = self.tracker.ticket();
                    self.enqueue(at, Job { ticket: t, id, attempt: 0, for_sync: false, repair: true });
                }
                at.give_back |= listed.len() >= super::heap::LARGE_LIST;
            }
            Msg::Inspected { job, result } => {
                at.running.remove(&job.id);
                if job.for_sync {
                    at.pending_sync -= 1;
                }
                let Job { ticket, id, attempt, repair, .. } = job;
                match result {
                    Ok(Some(c)) => {
                        if self.tracker.observe(&ticket, c) && repair {
                            self.status.repairs += 1;
                        }
                    }
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
                        "{}; gave up after {INSPECT_ATTEMPTS} attempts until the next audit",
                        e.msg
                    )),
                }
                self.tracker.done(ticket);
            }
            Msg::Details(Err(e)) => return Err(e.msg),
            Msg::Details(Ok(d)) => {
                let mut info = (*self.info).clone();
                d.apply(&mut info);
                self.info = Arc::new(info);
                at.pending_sync -= 1;
            }
            Msg::Retry { id, attempt } => {
                // Only if nothing (a death, a new start) made it moot meanwhile.
                if at.retrying.get(&id) == Some(&attempt) {
                    at.retrying.remove(&id);
                    let t = self.tracker.ticket();
                    self.enqueue(at, Job { ticket: t, id, attempt, for_sync: false, repair: false });
                }
            }
        }
        Ok(())
    }

    /// Queues an inspection: a queued one of the same container gives way
    /// to it (the newer ticket sees more) and leaves the line.
    fn enqueue(&mut self, at: &mut Attempt, mut job: Job) {
        if let Some((place, old)) = at.queued.remove(&job.id) {
            at.order.remove(&place);
            // The first synchronisation waits for one answer about it.
            if old.for_sync && job.for_sync {
                at.pending_sync -= 1;
            }
            job.for_sync |= old.for_sync;
            job.repair |= old.repair;
            self.tracker.done(old.ticket);
        }
        let place = at.next_place;
        at.next_place += 1;
        at.order.insert(place, job.id.clone());
        at.queued.insert(job.id.clone(), (place, job));
    }

    /// Queues the inspections a synchronisation waits for.
    fn inspect_for_sync(&mut self, at: &mut Attempt, ids: Vec<String>) {
        for id in ids {
            at.pending_sync += 1;
            let t = self.tracker.ticket();
            self.enqueue(at, Job { ticket: t, id, attempt: 0, for_sync: true, repair: false });
        }
    }

    /// A dead container's queued inspection is dropped.
    fn cancel_queued(&mut self, at: &mut Attempt, id: &str) {
        if let Some((place, job)) = at.queued.remove(id) {
            at.order.remove(&place);
            if job.for_sync {
                at.pending_sync -= 1;
            }
            self.tracker.done(job.ticket);
        }
    }

    /// Starts queued inspections, in line, while slots are free; one whose
    /// container is being inspected waits for that inspection to end.
    fn dispatch(&mut self, at: &mut Attempt) {
        let free = MAX_CONCURRENT_INSPECTS.saturating_sub(at.running.len());
        if free == 0 {
            return;
        }
        let next: Vec<(u64, String)> = at
            .order
            .iter()
            .filter(|(_, id)| !at.running.contains(*id))
            .take(free)
            .map(|(place, id)| (*place, id.clone()))
            .collect();
        for (place, id) in next {
            at.order.remove(&place);
            let Some((_, job)) = at.queued.remove(&id) else { continue };
            at.running.insert(id);
            let (conn, tx, t) = (Arc::clone(&at.conn), at.tx.clone(), self.call_timeout);
            at.tasks.spawn(async move {
                let id = job.id.clone();
                let result = match timeout(t, conn.inspect(id.clone())).await {
                    Ok(r) => r,
                    Err(_) => {
                        Err(EngineError::new(ErrorKind::Timeout, format!("inspect {id}: no answer within {t:?}")))
                    }
                };
                let _ = tx.send(Msg::Inspected { job, result }).await;
            });
        }
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
