//! A fork must not find a publication half done: the child process would
//! inherit a lock held by a thread that does not exist there, and its first
//! snapshot would wait forever. Publications, callers taking (and maybe
//! laying out) the current snapshot, and the process-wide table of label
//! keys run inside [`publishing`];
//! [`hold`] (called just before `fork`) waits until none runs and keeps new
//! ones out until [`release`] (called after `fork`, in parent and child).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

static FORKING: AtomicBool = AtomicBool::new(false);
static ACTIVE: AtomicUsize = AtomicUsize::new(0);

/// Runs `f` as a publication: never while a fork is being made.
pub fn publishing<T>(f: impl FnOnce() -> T) -> T {
    loop {
        while FORKING.load(Ordering::SeqCst) {
            std::thread::yield_now();
        }
        ACTIVE.fetch_add(1, Ordering::SeqCst);
        if !FORKING.load(Ordering::SeqCst) {
            break;
        }
        ACTIVE.fetch_sub(1, Ordering::SeqCst);
    }
    struct Leave;
    impl Drop for Leave {
        fn drop(&mut self) {
            ACTIVE.fetch_sub(1, Ordering::SeqCst);
        }
    }
    let _leave = Leave;
    f()
}

/// Keeps publications out and waits until none runs (before `fork`).
pub fn hold() {
    FORKING.store(true, Ordering::SeqCst);
    while ACTIVE.load(Ordering::SeqCst) != 0 {
        std::thread::yield_now();
    }
}

/// Lets publications run again (after `fork`).
pub fn release() {
    FORKING.store(false, Ordering::SeqCst);
}
