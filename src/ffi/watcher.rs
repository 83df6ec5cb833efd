//! The watcher handle: `ww_new`, `ww_ready`, `ww_wait`, `ww_snapshot`,
//! `ww_snapshot_free`, `ww_close`.

use std::sync::Arc;
use std::time::Duration;

use crate::core::{Change, Readiness, Watcher};

use super::error::*;
use super::handout;
use super::options::{read_options, ww_options};
use super::portfolio::{self, ww_portfolio, PortfolioOwner};

/// A watcher of container engines (opaque). Create with `ww_new`, destroy
/// with `ww_close`. All functions but `ww_close` may be called on one
/// watcher from any number of threads at the same time.
pub struct ww_watcher {
    pub(crate) inner: Watcher<PortfolioOwner>,
    /// Unique in the process: names the watcher in the threads' snapshot
    /// caches (see [`handout`]).
    id: u64,
    /// The process that made it: in another (a forked child), its thread
    /// does not run.
    pid: u32,
}

impl ww_watcher {
    /// True in a child forked after `ww_new`.
    pub(crate) fn forked(&self) -> bool {
        std::process::id() != self.pid
    }
}

/// Fails with `WW_STATUS_FORKED` from a forked child.
macro_rules! not_forked {
    ($w:expr, $func:literal) => {
        if $w.forked() {
            return fail(
                WW_STATUS_FORKED,
                concat!($func, ": the watcher belongs to the parent process (this process was forked after ww_new)"),
            );
        }
    };
}

/// Makes forks safe for every watcher (once per process): no publication
/// is half done when the child is made.
fn guard_forks() {
    static GUARD: once_cell::sync::OnceCell<()> = once_cell::sync::OnceCell::new();
    GUARD.get_or_init(|| {
        extern "C" fn prepare() {
            crate::core::forkguard::hold();
        }
        extern "C" fn after() {
            crate::core::forkguard::release();
        }
        // SAFETY: three plain extern "C" functions without arguments, which
        // only touch atomics.
        unsafe { libc::pthread_atfork(Some(prepare), Some(after), Some(after)) };
    });
}

/// Hands the allocator's free memory back to the system (glibc: every
/// arena's free pages), after a watcher took in a full list.
fn give_back_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory; any thread, any time.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// A caller's timeout: < 0 is without limit.
fn timeout_of(ms: i32) -> Option<Duration> {
    u64::try_from(ms).ok().map(Duration::from_millis)
}

/// Creates a watcher and starts watching in the background at once; it does
/// not wait for the engine (use `ww_ready` for that).
///
/// `opts`: NULL for the defaults, else options prepared by `ww_options_init`;
/// read only during this call. `out`: receives the new watcher, which the
/// caller owns and must release with `ww_close`; written only on success.
///
/// Returns `WW_STATUS_OK`; `WW_STATUS_NULL_ARG` when `out` is NULL;
/// `WW_STATUS_ABI_MISMATCH` for an unknown `struct_size`;
/// `WW_STATUS_INVALID_ARG` for an unknown engine or backoff, an endpoint that
/// is not UTF-8 or has an unsupported scheme, an ignored namespace that is not
/// a namespace name, a unix socket path longer than 107 bytes, or (for
/// exponential backoff) `backoff_max_ms` below `backoff_initial_ms`; `WW_STATUS_INTERNAL` when the background thread
/// cannot be started. Any thread.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn ww_new(opts: *const ww_options, out: *mut *mut ww_watcher) -> ww_status {
    ffi_boundary!(WW_STATUS_PANIC, {
        non_null!(out, "out", "ww_new");
        // SAFETY: opts is NULL or a ww_options of at least struct_size bytes (documented contract).
        let opts = match unsafe { read_options(opts) } {
            Ok(o) => o,
            Err((status, msg)) => return fail(status, msg),
        };
        let render: crate::core::publish::Render<PortfolioOwner> = Arc::new(portfolio::render);
        guard_forks();
        crate::core::heap::register(give_back_freed_memory);
        match Watcher::start(&opts, render, block_sigpipe) {
            Ok(inner) => {
                static IDS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
                let id = IDS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let w = ww_watcher { inner, id, pid: std::process::id() };
                // SAFETY: out is non-NULL and writable (documented contract).
                unsafe { out.write(Box::into_raw(Box::new(w))) };
                WW_STATUS_OK
            }
            Err(e) => fail(WW_STATUS_INTERNAL, format!("ww_new: cannot start the watcher thread: {e}")),
        }
    })
}

/// Waits until the watcher's first full synchronisation with the engine has
/// succeeded, at most `timeout_ms` milliseconds (< 0: without limit, 0: just
/// look).
///
/// Returns `WW_STATUS_OK` once synchronised (and from then on, also while a
/// later resynchronisation runs); `WW_STATUS_FORKED` in a child forked after
/// `ww_new`; `WW_STATUS_TIMEOUT` when the time ran out
/// (the last error names the latest engine trouble); `WW_STATUS_ENGINE` once
/// the watcher has given up under its backoff policy (the last error says
/// why: endpoint and OS error); `WW_STATUS_CLOSED` when `ww_close` was
/// called while this call waited (it returns at once, without touching the
/// watcher again); `WW_STATUS_INTERNAL` if the background work failed;
/// `WW_STATUS_NULL_ARG` when `w` is NULL. Any thread.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn ww_ready(w: *mut ww_watcher, timeout_ms: i32) -> ww_status {
    ffi_boundary!(WW_STATUS_PANIC, {
        non_null!(w, "w", "ww_ready");
        // SAFETY: w is a live watcher from ww_new (documented contract). The
        // wait holds its own reference to the shared state, so a concurrent
        // ww_close cannot pull it away.
        let w = unsafe { &*w };
        not_forked!(w, "ww_ready");
        let shared = Arc::clone(w.inner.shared());
        match shared.ready(timeout_of(timeout_ms)) {
            Readiness::Ready => WW_STATUS_OK,
            Readiness::TimedOut(why) => {
                fail(WW_STATUS_TIMEOUT, format!("ww_ready: timed out after {timeout_ms} ms: {why}"))
            }
            Readiness::GaveUp(why) => fail(WW_STATUS_ENGINE, format!("ww_ready: {why}")),
            Readiness::Failed(why) => fail(WW_STATUS_INTERNAL, format!("ww_ready: {why}")),
            Readiness::Closed => fail(WW_STATUS_CLOSED, "ww_ready: the watcher is shut down or closed"),
        }
    })
}

/// Waits until the watcher publishes a generation greater than
/// `after_generation`, at most `timeout_ms` milliseconds (< 0: without
/// limit, 0: just look). Returns at once if the current generation already
/// is greater. Pass the generation of the snapshot you last looked at, then
/// take a new snapshot: nothing published in between is missed.
///
/// Returns `WW_STATUS_OK` when a newer generation exists; `WW_STATUS_TIMEOUT`
/// when the time ran out; `WW_STATUS_ENGINE` when nothing newer exists and
/// nothing can change anymore because every engine of the watcher has
/// given up; `WW_STATUS_CLOSED` when `ww_close` was called while this call
/// waited; `WW_STATUS_FORKED` in a child forked after `ww_new`;
/// `WW_STATUS_INTERNAL` if the background work failed;
/// `WW_STATUS_NULL_ARG` when `w` is NULL. Any thread; any number of threads
/// may wait at once.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn ww_wait(w: *mut ww_watcher, after_generation: u64, timeout_ms: i32) -> ww_status {
    ffi_boundary!(WW_STATUS_PANIC, {
        non_null!(w, "w", "ww_wait");
        // SAFETY: as in ww_ready.
        let w = unsafe { &*w };
        not_forked!(w, "ww_wait");
        let shared = Arc::clone(w.inner.shared());
        match shared.wait_newer(after_generation, timeout_of(timeout_ms)) {
            Change::Newer(_) => WW_STATUS_OK,
            Change::TimedOut => fail(
                WW_STATUS_TIMEOUT,
                format!("ww_wait: no generation after {after_generation} within {timeout_ms} ms"),
            ),
            Change::GaveUp(why) => fail(WW_STATUS_ENGINE, format!("ww_wait: {why}")),
            Change::Failed(why) => fail(WW_STATUS_INTERNAL, format!("ww_wait: {why}")),
            Change::Closed => fail(WW_STATUS_CLOSED, "ww_wait: the watcher is shut down or closed"),
        }
    })
}

/// Hands out the watcher's current snapshot of alive containers. Never talks
/// to the engine and never waits for the background work. The first call
/// after a change lays the new generation's arrays out, from the last ones
/// laid out (a copy of the records, made afresh only where containers
/// changed: about 0.1 ms at 10 000 containers); other threads asking for
/// that generation meanwhile wait for it, and every later call only takes a
/// reference. Generations nobody asks for are never laid out. Before an
/// engine's first synchronisation it has none of its containers.
///
/// `out`: receives the snapshot, written only on success; release it with
/// `ww_snapshot_free` exactly once. It is immutable, readable from any
/// thread, and stays valid until freed, also after `ww_close`.
///
/// Returns `WW_STATUS_OK`, or `WW_STATUS_NULL_ARG` when `w` or `out` is
/// NULL. Any thread.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn ww_snapshot(w: *mut ww_watcher, out: *mut *const ww_portfolio) -> ww_status {
    ffi_boundary!(WW_STATUS_PANIC, {
        non_null!(w, "w", "ww_snapshot");
        non_null!(out, "out", "ww_snapshot");
        // SAFETY: w is a live watcher from ww_new (documented contract).
        let w = unsafe { &*w };
        let p = handout::current(w.id, w.inner.shared());
        // SAFETY: out is writable (documented contract).
        unsafe { out.write(p) };
        WW_STATUS_OK
    })
}

/// Releases a snapshot from `ww_snapshot`. NULL: does nothing. Each snapshot
/// must be freed exactly once; any thread, also after `ww_close`. Freeing
/// the last reference to a snapshot twice, or a pointer that is not a
/// snapshot (a copy of the struct), is detected where the memory still
/// tells, and aborts the process with a message on stderr rather than
/// corrupting memory.
#[no_mangle]
pub unsafe extern "C" fn ww_snapshot_free(p: *const ww_portfolio) {
    ffi_boundary!((), {
        if !p.is_null() {
            // SAFETY: p came from ww_snapshot (documented contract); a misuse
            // is caught where the tag still tells.
            match unsafe { handout::tagged(p) } {
                handout::Tagged::Live => {}
                handout::Tagged::Freed => abort_with("ww_snapshot_free: double free of a snapshot"),
                handout::Tagged::Foreign => abort_with("ww_snapshot_free: not a snapshot from ww_snapshot"),
            }
            // SAFETY: p is a live snapshot from ww_snapshot (checked above
            // where the memory tells).
            if unsafe { handout::release(p) }.is_err() {
                abort_with("ww_snapshot_free: double free of a snapshot");
            }
        }
    })
}

/// Stops watching, without freeing anything: every thread waiting in
/// `ww_ready` or `ww_wait` on this watcher returns `WW_STATUS_CLOSED`, and
/// so does every later `ww_ready` or `ww_wait` call, at once; the event
/// descriptor becomes readable (so that a thread in `poll` wakes and finds
/// out); `ww_snapshot` keeps handing out the last snapshot. Unlike
/// `ww_close`, it may be called from any thread at any time, also while
/// other threads use the watcher, and more than once. Use it to stop the
/// threads that wait on a watcher, then join them, then `ww_close` it.
/// NULL: does nothing.
#[no_mangle]
pub unsafe extern "C" fn ww_shutdown(w: *mut ww_watcher) {
    ffi_boundary!((), {
        if !w.is_null() {
            // SAFETY: w is a live watcher from ww_new (documented contract).
            let w = unsafe { &*w };
            // In a forked child there is nothing to stop.
            if !w.forked() {
                w.inner.shutdown();
            }
        }
    })
}

/// Stops watching and destroys the watcher. First wakes every thread
/// waiting in `ww_ready` or `ww_wait` on it (they return
/// `WW_STATUS_CLOSED`) and waits until they have left; then returns once the
/// watcher's thread has ended and its engine connections and event
/// descriptor are closed (promptly: pending engine calls are abandoned, not
/// awaited). Snapshots taken before stay valid. NULL: does nothing. Call it
/// once per watcher; no call on the watcher may start once it has begun
/// (to stop threads that might be about to call, `ww_shutdown` first and
/// join them).
#[no_mangle]
pub unsafe extern "C" fn ww_close(w: *mut ww_watcher) {
    ffi_boundary!((), {
        if !w.is_null() {
            // SAFETY: w came from ww_new and is closed once (documented contract).
            let w = unsafe { Box::from_raw(w) };
            if w.forked() {
                // The watcher's thread runs in the parent only: nothing to
                // stop or join here, and what it shares with that thread
                // stays (it is the parent's).
                let ww_watcher { inner, .. } = *w;
                std::mem::forget(inner);
            }
        }
    })
}

/// Blocks SIGPIPE on the calling (watcher) thread. A write to a socket whose
/// peer hung up then fails with EPIPE instead of raising SIGPIPE, whose
/// default action would kill the host program (which, unlike a Rust
/// executable, does not ignore it). Threads the watcher thread spawns
/// inherit the mask.
pub(crate) fn block_sigpipe() {
    // SAFETY: plain libc calls on a local, initialised signal set.
    unsafe {
        let mut set = std::mem::MaybeUninit::<libc::sigset_t>::uninit();
        libc::sigemptyset(set.as_mut_ptr());
        libc::sigaddset(set.as_mut_ptr(), libc::SIGPIPE);
        libc::pthread_sigmask(libc::SIG_BLOCK, set.as_ptr(), std::ptr::null_mut());
    }
}

/// Reports a misuse that would corrupt memory, and aborts.
pub(crate) fn abort_with(msg: &str) -> ! {
    eprintln!("libwhalewatcher: {msg}; aborting");
    std::process::abort()
}
