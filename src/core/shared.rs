//! State shared between a watcher's background thread and its callers: the
//! published snapshot and the readiness.

use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::{Duration, Instant};

/// The answer to "is the watcher synchronised?".
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Readiness {
    /// The first full synchronisation has succeeded, and the watcher has not
    /// given up since.
    Ready,
    /// Not ready within the time given; the message tells the last engine error.
    TimedOut(String),
    /// The watcher gave up (no retries left); the message tells why.
    GaveUp(String),
    /// The watcher's background work failed unexpectedly.
    Failed(String),
}

#[derive(Default)]
struct Status {
    synced: bool,
    gave_up: Option<String>,
    failed: Option<String>,
    last_error: Option<String>,
}

/// What the background thread publishes and callers read.
pub struct Shared<R> {
    current: RwLock<Arc<R>>,
    status: Mutex<Status>,
    wake: Condvar,
}

impl<R> Shared<R> {
    pub fn new(initial: R) -> Self {
        Shared { current: RwLock::new(Arc::new(initial)), status: Mutex::default(), wake: Condvar::new() }
    }

    /// The current published value (a reference-count increment).
    pub fn current(&self) -> Arc<R> {
        Arc::clone(&self.current.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Replaces the published value.
    pub fn publish(&self, value: Arc<R>) {
        let old = std::mem::replace(&mut *self.current.write().unwrap_or_else(PoisonError::into_inner), value);
        drop(old); // outside the lock
    }

    fn status(&self) -> MutexGuard<'_, Status> {
        self.status.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn update(&self, f: impl FnOnce(&mut Status)) {
        f(&mut self.status());
        self.wake.notify_all();
    }

    /// A full synchronisation succeeded.
    pub fn mark_synced(&self) {
        self.update(|s| s.synced = true);
    }

    /// Remembers the latest engine trouble, for timeouts' messages.
    pub fn note_error(&self, msg: &str) {
        self.status().last_error = Some(msg.to_string());
    }

    /// The watcher stopped retrying.
    pub fn give_up(&self, msg: String) {
        self.update(|s| s.gave_up = Some(msg));
    }

    /// The background work ended unexpectedly.
    pub fn fail(&self, msg: String) {
        self.update(|s| s.failed = Some(msg));
    }

    /// The latest engine trouble, if any.
    pub fn last_error(&self) -> Option<String> {
        self.status().last_error.clone()
    }

    /// Waits until synchronised, given up or failed, at most `timeout`
    /// (`None`: without limit).
    pub fn ready(&self, timeout: Option<Duration>) -> Readiness {
        let deadline = timeout.map(|t| Instant::now().checked_add(t));
        let mut st = self.status();
        loop {
            if let Some(msg) = &st.failed {
                return Readiness::Failed(msg.clone());
            }
            if let Some(msg) = &st.gave_up {
                return Readiness::GaveUp(msg.clone());
            }
            if st.synced {
                return Readiness::Ready;
            }
            st = match deadline {
                None | Some(None) => self.wake.wait(st).unwrap_or_else(PoisonError::into_inner),
                Some(Some(deadline)) => {
                    let now = Instant::now();
                    if now >= deadline {
                        let why = match &st.last_error {
                            Some(e) => format!("not synchronised yet; last engine error: {e}"),
                            None => "not synchronised yet".to_string(),
                        };
                        return Readiness::TimedOut(why);
                    }
                    self.wake.wait_timeout(st, deadline - now).unwrap_or_else(PoisonError::into_inner).0
                }
            };
        }
    }
}
