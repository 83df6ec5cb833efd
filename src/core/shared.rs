//! State shared between a watcher's background thread and its callers: the
//! published snapshot, its generation, the readiness, the waiters, and the
//! optional descriptor that is written to on every publication.
//!
//! What callers are handed is rendered from a snapshot lazily: the
//! background thread publishes the snapshot (a handful of reference
//! counts), and the first caller that asks for that generation renders it,
//! from the last rendered value, so generations nobody looks at are never
//! rendered and the background thread's cost per change stays what changed.

use std::fs::File;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::{Duration, Instant};

use once_cell::sync::OnceCell;

use super::model::EngineState;
use super::publish::Render;
use super::snapshot::Snapshot;

/// The answer to "is the watcher synchronised?".
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Readiness {
    /// Synchronised: every engine has synchronised or given up, and at least
    /// one has synchronised and not given up since.
    Ready,
    /// Not ready within the time given; the message tells the last engine error.
    TimedOut(String),
    /// Every engine gave up (no retries left); the message tells why.
    GaveUp(String),
    /// The watcher's background work failed unexpectedly.
    Failed(String),
    /// The watcher was closed while the caller waited.
    Closed,
}

/// The answer to "has anything changed since generation N?".
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// A newer generation is published.
    Newer(u64),
    /// Nothing newer within the time given.
    TimedOut,
    /// Nothing newer, and nothing can change anymore: every engine gave up.
    GaveUp(String),
    /// The watcher's background work failed unexpectedly.
    Failed(String),
    /// The watcher was closed while the caller waited.
    Closed,
}

/// Which engines readiness waits for, and whether more can come.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReadyRule {
    /// The first this many engines (those found at start) must have
    /// synchronised or given up; `None`: every engine.
    pub required: Option<usize>,
    /// Engines can still be found later (periodic discovery): then nothing
    /// is final while they all gave up.
    pub more_can_come: bool,
}

/// What readiness a published snapshot stands for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Summary {
    /// Every required engine has synchronised at least once or given up.
    settled: bool,
    /// At least one engine is synchronised (or resynchronising) and has not given up.
    usable: bool,
    /// Every required engine gave up (true when none is required).
    required_gave_up: bool,
    /// Nothing can change anymore: every engine gave up, and no other can come.
    final_: bool,
    /// No engine is required: none was found.
    none_found: bool,
    /// The engines' latest trouble, for messages.
    trouble: String,
}

impl Summary {
    fn of(s: &Snapshot, ever_synced: &[bool], rule: ReadyRule) -> Summary {
        let required = rule.required.unwrap_or(s.engines.len()).min(s.engines.len());
        let mut sum = Summary {
            settled: true,
            usable: false,
            required_gave_up: true,
            final_: !rule.more_can_come,
            none_found: required == 0,
            trouble: String::new(),
        };
        for (i, e) in s.engines.iter().enumerate() {
            let synced_once = ever_synced.get(i).copied().unwrap_or(false);
            let is_required = i < required;
            match e.status.state {
                EngineState::GaveUp => {}
                EngineState::Synced | EngineState::Resyncing => {
                    sum.usable = true;
                    sum.required_gave_up &= !is_required;
                    sum.final_ = false;
                }
                EngineState::Connecting => {
                    sum.required_gave_up &= !is_required;
                    sum.final_ = false;
                    sum.settled &= synced_once || !is_required;
                }
            }
            if !e.status.last_error.is_empty() {
                if !sum.trouble.is_empty() {
                    sum.trouble.push_str("; ");
                }
                sum.trouble.push_str(&e.status.last_error);
            }
        }
        if sum.none_found && sum.trouble.is_empty() {
            sum.trouble = "no container engine found on this host".into();
        }
        sum
    }
}

#[derive(Default)]
struct Status {
    generation: u64,
    rule: ReadyRule,
    summary: Summary,
    ever_synced: Vec<bool>,
    failed: Option<String>,
    closed: bool,
    /// Threads inside `ready` or `wait_newer`.
    waiters: usize,
}

/// The last rendered value and the generation it was rendered from.
struct Rendered<R> {
    generation: u64,
    value: Arc<R>,
}

/// What the background thread publishes and callers read.
pub struct Shared<R> {
    /// The last rendered value: of the published generation, or older while
    /// nobody asked for the newer one.
    current: RwLock<Rendered<R>>,
    /// The newest published snapshot while it is not rendered.
    pending: Mutex<Option<Snapshot>>,
    /// Held while rendering: one render at a time, each from the one before.
    rendering: Mutex<()>,
    render: Render<R>,
    status: Mutex<Status>,
    wake: Condvar,
    notifier: OnceCell<File>,
    /// The highest mark the notifier was written for: a generation, or
    /// [`FAILED_MARK`] / [`CLOSED_MARK`]. One write per mark, so a reader
    /// that acknowledged a mark is not woken for it again.
    notified: AtomicU64,
    /// The newest published generation, for readers that only compare it.
    published: AtomicU64,
}

/// The notifier's mark of the background work's failure.
const FAILED_MARK: u64 = u64::MAX - 1;
/// The notifier's mark of a shutdown.
const CLOSED_MARK: u64 = u64::MAX;

impl<R> Shared<R> {
    /// Shared state showing `initial` (rendered at once), rendering later
    /// snapshots with `render`.
    pub fn new(initial: &Snapshot, render: Render<R>) -> Self {
        let value = render(initial, None);
        Shared {
            current: RwLock::new(Rendered { generation: initial.generation, value }),
            pending: Mutex::new(None),
            rendering: Mutex::new(()),
            render,
            status: Mutex::default(),
            wake: Condvar::new(),
            notifier: OnceCell::new(),
            published: AtomicU64::new(initial.generation),
            notified: AtomicU64::new(0),
        }
    }

    /// The newest published generation (maybe not rendered yet), read
    /// without a lock (it may lag a publication in progress by one).
    pub fn published(&self) -> u64 {
        self.published.load(Ordering::Acquire)
    }

    /// The value of the newest published generation: a reference-count
    /// increment, or, for the first caller after a publication, the render
    /// of that generation from the value rendered before (callers asking
    /// meanwhile wait for that render, not for the background thread).
    ///
    /// All of it runs as a publication (see [`super::forkguard`]): a child
    /// forked meanwhile must not inherit `current` locked, since it may
    /// have to render (and write it) itself.
    pub fn current(&self) -> Arc<R> {
        let (value, old) = super::forkguard::publishing(|| {
            let published = self.published.load(Ordering::Acquire);
            {
                let current = self.current.read().unwrap_or_else(PoisonError::into_inner);
                if current.generation >= published {
                    return (Arc::clone(&current.value), None);
                }
            }
            self.render_pending()
        });
        drop(old); // outside the locks
        value
    }

    /// Renders the pending snapshot, if another caller has not; returns the
    /// value now current and the one it replaced.
    fn render_pending(&self) -> (Arc<R>, Option<Arc<R>>) {
        let _one = self.rendering.lock().unwrap_or_else(PoisonError::into_inner);
        // Read, not taken: it leaves `pending` only once its render is
        // installed (below), so a render that fails leaves it for the next
        // caller, and a caller that finds none finds its render installed.
        let snap = self.pending.lock().unwrap_or_else(PoisonError::into_inner).clone();
        let (before, done) = {
            let current = self.current.read().unwrap_or_else(PoisonError::into_inner);
            (Arc::clone(&current.value), current.generation)
        };
        let Some(snap) = snap.filter(|s| s.generation > done) else {
            return (before, None);
        };
        let value = (self.render)(&snap, Some(&before));
        drop(before);
        let rendered = Rendered { generation: snap.generation, value: Arc::clone(&value) };
        let old = std::mem::replace(&mut *self.current.write().unwrap_or_else(PoisonError::into_inner), rendered);
        // Pending no more, unless a newer one was published meanwhile.
        let gone =
            self.pending.lock().unwrap_or_else(PoisonError::into_inner).take_if(|p| p.generation == snap.generation);
        drop(gone); // outside the lock
        (value, Some(old.value))
    }

    /// The generation of the current published value.
    pub fn generation(&self) -> u64 {
        self.status().generation
    }

    /// Publishes `snap` (rendered when first asked for): waiters wake, the
    /// notifier becomes readable.
    pub fn publish(&self, snap: Snapshot) {
        let old = super::forkguard::publishing(|| self.publish_locked(snap));
        drop(old); // outside the locks
    }

    fn publish_locked(&self, snap: Snapshot) -> Option<Snapshot> {
        let generation = snap.generation;
        let old = self.pending.lock().unwrap_or_else(PoisonError::into_inner).replace(snap.clone());
        // Pending before `published`, and both before the status: whoever
        // learns of this generation from the status (ww_wait, ww_ready) or
        // from `published` (a thread's cached handout) then renders it.
        self.published.store(generation, Ordering::Release);
        {
            let mut st = self.status();
            st.generation = generation;
            if st.ever_synced.len() < snap.engines.len() {
                st.ever_synced.resize(snap.engines.len(), false);
            }
            for (seen, e) in st.ever_synced.iter_mut().zip(&snap.engines) {
                *seen |= e.status.synced_at_ns != 0;
            }
            st.summary = Summary::of(&snap, &st.ever_synced, st.rule);
        }
        self.wake.notify_all();
        self.notify(generation);
        old
    }

    /// Makes the notifier readable for `mark`, unless it was for this mark
    /// or a later one already.
    fn notify(&self, mark: u64) {
        let Some(mut f) = self.notifier.get() else { return };
        if mark > 0 && self.notified.fetch_max(mark, Ordering::SeqCst) < mark {
            // A full counter (2^64 - 2 unacknowledged publications) or any
            // other failure leaves it readable, which is all that counts.
            let _ = f.write(&1u64.to_ne_bytes());
        }
    }

    /// The descriptor written to on every publication, made by `make` on
    /// first use (an eventfd). It is readable at once if anything was
    /// published before, or the watcher failed or was shut down.
    pub fn notifier(&self, make: impl FnOnce() -> std::io::Result<File>) -> std::io::Result<&File> {
        let mut made = false;
        let f = self.notifier.get_or_try_init(|| {
            made = true;
            make()
        })?;
        if made {
            let mark = {
                let st = self.status();
                if st.closed {
                    CLOSED_MARK
                } else if st.failed.is_some() {
                    FAILED_MARK
                } else {
                    st.generation
                }
            };
            self.notify(mark);
        }
        Ok(f)
    }

    fn status(&self) -> MutexGuard<'_, Status> {
        self.status.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sets which engines readiness waits for (before the next publication).
    pub fn set_rule(&self, rule: ReadyRule) {
        self.status().rule = rule;
    }

    /// The background work ended unexpectedly.
    pub fn fail(&self, msg: String) {
        self.status().failed = Some(msg);
        self.wake.notify_all();
        self.notify(FAILED_MARK);
    }

    /// Wakes every waiter with [`Readiness::Closed`] / [`Change::Closed`],
    /// makes later waits return that at once, and makes the notifier
    /// readable; returns at once.
    pub fn shut(&self) {
        let first = !std::mem::replace(&mut self.status().closed, true);
        self.wake.notify_all();
        if first {
            self.notify(CLOSED_MARK);
        }
    }

    /// [`Shared::shut`], then returns once no waiter is left inside `ready`
    /// or `wait_newer`.
    pub fn close(&self) {
        self.shut();
        let mut st = self.status();
        while st.waiters > 0 {
            st = self.wake.wait(st).unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// Waits until `done` answers, at most until `deadline`; `done` sees the
    /// status under the lock. Counts the caller as a waiter meanwhile.
    fn wait_for<T>(
        &self,
        timeout: Option<Duration>,
        mut done: impl FnMut(&Status) -> Option<T>,
        timed_out: impl FnOnce(&Status) -> T,
    ) -> T {
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        let forever = timeout.is_none() || deadline.is_none();
        let mut st = self.status();
        st.waiters += 1;
        let answer = loop {
            if let Some(answer) = done(&st) {
                break answer;
            }
            if forever {
                st = self.wake.wait(st).unwrap_or_else(PoisonError::into_inner);
                continue;
            }
            let now = Instant::now();
            let deadline = deadline.expect("not forever");
            if now >= deadline {
                break timed_out(&st);
            }
            st = self.wake.wait_timeout(st, deadline - now).unwrap_or_else(PoisonError::into_inner).0;
        };
        st.waiters -= 1;
        if st.closed {
            // `close` waits for the last waiter to leave.
            self.wake.notify_all();
        }
        answer
    }

    /// Waits until synchronised, given up, failed or closed, at most
    /// `timeout` (`None`: without limit).
    pub fn ready(&self, timeout: Option<Duration>) -> Readiness {
        self.wait_for(
            timeout,
            |st| {
                if st.closed {
                    Some(Readiness::Closed)
                } else if let Some(msg) = &st.failed {
                    Some(Readiness::Failed(msg.clone()))
                } else if st.generation > 0 && st.summary.required_gave_up && !st.summary.usable {
                    Some(Readiness::GaveUp(format!("gave up watching: {}", st.summary.trouble)))
                } else if st.summary.settled && st.summary.usable {
                    Some(Readiness::Ready)
                } else {
                    None
                }
            },
            |st| {
                Readiness::TimedOut(if st.summary.trouble.is_empty() {
                    "not synchronised yet".to_string()
                } else {
                    format!("not synchronised yet; last engine error: {}", st.summary.trouble)
                })
            },
        )
    }

    /// Waits until a generation newer than `after` is published, at most
    /// `timeout` (`None`: without limit).
    pub fn wait_newer(&self, after: u64, timeout: Option<Duration>) -> Change {
        self.wait_for(
            timeout,
            |st| {
                if st.closed {
                    Some(Change::Closed)
                } else if st.generation > after {
                    Some(Change::Newer(st.generation))
                } else if let Some(msg) = &st.failed {
                    Some(Change::Failed(msg.clone()))
                } else if st.summary.final_ && st.generation > 0 {
                    Some(Change::GaveUp(format!("gave up watching: {}", st.summary.trouble)))
                } else {
                    None
                }
            },
            |_| Change::TimedOut,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    /// A rendered value: its generation and the generation of the value it
    /// was rendered from.
    struct Seen {
        generation: u64,
        from: Option<u64>,
    }

    fn counting() -> (Shared<Seen>, Arc<AtomicUsize>) {
        let renders = Arc::new(AtomicUsize::new(0));
        let count = Arc::clone(&renders);
        let render: Render<Seen> = Arc::new(move |s: &Snapshot, before: Option<&Seen>| {
            count.fetch_add(1, Ordering::SeqCst);
            Arc::new(Seen { generation: s.generation, from: before.map(|b| b.generation) })
        });
        let shared = Shared::new(&Snapshot { generation: 0, engines: Vec::new() }, render);
        (shared, renders)
    }

    fn snap(generation: u64) -> Snapshot {
        Snapshot { generation, engines: Vec::new() }
    }

    #[test]
    fn only_generations_asked_for_are_rendered_each_from_the_last_rendered() {
        let (shared, renders) = counting();
        assert_eq!(renders.load(Ordering::SeqCst), 1, "the initial value");
        for g in 1..=5 {
            shared.publish(snap(g));
        }
        assert_eq!(renders.load(Ordering::SeqCst), 1, "publishing renders nothing");
        let v = shared.current();
        assert_eq!((v.generation, v.from), (5, Some(0)));
        let again = shared.current();
        assert!(Arc::ptr_eq(&v, &again), "the same generation is rendered once");
        shared.publish(snap(6));
        assert_eq!(shared.current().from, Some(5));
        assert_eq!(renders.load(Ordering::SeqCst), 3);
    }

    #[test]
    fn a_render_that_fails_leaves_its_generation_to_the_next_caller() {
        let fail = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let failing = Arc::clone(&fail);
        let render: Render<Seen> = Arc::new(move |s: &Snapshot, before: Option<&Seen>| {
            if s.generation == 1 && failing.swap(false, Ordering::SeqCst) {
                panic!("render failed");
            }
            Arc::new(Seen { generation: s.generation, from: before.map(|b| b.generation) })
        });
        let shared = Shared::new(&snap(0), render);
        shared.publish(snap(1));
        let failed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| shared.current()));
        assert!(failed.is_err());
        let v = shared.current();
        assert_eq!((v.generation, v.from), (1, Some(0)));
        assert!(shared.pending.lock().unwrap().is_none(), "rendered, so no longer pending");
    }

    #[test]
    fn readers_racing_publications_see_the_newest_and_never_go_back() {
        let (shared, renders) = counting();
        let shared = Arc::new(shared);
        const LAST: u64 = if cfg!(miri) { 30 } else { 3_000 };
        let readers: Vec<_> = (0..4)
            .map(|_| {
                let shared = Arc::clone(&shared);
                std::thread::spawn(move || {
                    let mut last = 0;
                    loop {
                        let published = shared.published();
                        let v = shared.current();
                        assert!(v.generation >= published, "{} behind {published}", v.generation);
                        assert!(v.generation >= last, "went back from {last} to {}", v.generation);
                        assert!(v.from.is_some_and(|f| f < v.generation) || v.generation == 0);
                        last = v.generation;
                        if last == LAST {
                            return;
                        }
                    }
                })
            })
            .collect();
        for g in 1..=LAST {
            shared.publish(snap(g));
        }
        for r in readers {
            r.join().expect("reader");
        }
        assert!(renders.load(Ordering::SeqCst) as u64 <= LAST + 1);
    }
}
