//! `ww_event_fd`: a descriptor that becomes readable when something changed,
//! for callers that sleep in `poll`, `epoll` or `select`.

use std::ffi::c_int;
use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd};

use super::error::*;
use super::watcher::ww_watcher;

/// A new non-blocking, close-on-exec eventfd.
fn new_eventfd() -> std::io::Result<File> {
    // SAFETY: a plain system call without pointers.
    let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fd is a new descriptor that nothing else owns.
    Ok(unsafe { File::from_raw_fd(fd) })
}

/// Gives the watcher's event descriptor: it polls readable (`POLLIN`,
/// `EPOLLIN`, readable for `select`) once a generation newer than the one
/// last acknowledged exists, and reading 8 bytes from it acknowledges
/// (non-blocking: a read with nothing new fails with `EAGAIN`). It is
/// readable at once if anything was published before the first call.
///
/// The race-free pattern: when it polls readable, first read the 8 bytes,
/// then take the snapshot (`ww_snapshot`), then compare or `ww_diff` it with
/// the previous one. A change published after the read makes it readable
/// again, so none is missed; several changes may fold into one wake-up.
///
/// The descriptor is the same on every call and belongs to the watcher:
/// never close it; `ww_close` does, so stop polling it before. It is
/// non-blocking and close-on-exec. It serves one consumer: several readers
/// would split the acknowledgements (use `ww_wait` from several threads).
///
/// `fd`: receives the descriptor, written only on success. Returns
/// `WW_STATUS_OK`; `WW_STATUS_NULL_ARG` when `w` or `fd` is NULL;
/// `WW_STATUS_FORKED` in a child forked after `ww_new`;
/// `WW_STATUS_INTERNAL` when no descriptor can be made (the last error
/// tells the OS error, e.g. the process is out of descriptors). Any thread.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn ww_event_fd(w: *mut ww_watcher, fd: *mut c_int) -> ww_status {
    ffi_boundary!(WW_STATUS_PANIC, {
        non_null!(w, "w", "ww_event_fd");
        non_null!(fd, "fd", "ww_event_fd");
        // SAFETY: w is a live watcher from ww_new (documented contract).
        let w = unsafe { &*w };
        if w.forked() {
            // The descriptor is shared with the parent: reading it here
            // would take the parent's wake-ups.
            return fail(WW_STATUS_FORKED, "ww_event_fd: the watcher belongs to the parent process");
        }
        match w.inner.shared().notifier(new_eventfd) {
            Ok(file) => {
                // SAFETY: fd is non-NULL and writable (documented contract).
                unsafe { fd.write(file.as_raw_fd()) };
                WW_STATUS_OK
            }
            Err(e) => fail(WW_STATUS_INTERNAL, format!("ww_event_fd: cannot make an eventfd: {e}")),
        }
    })
}
