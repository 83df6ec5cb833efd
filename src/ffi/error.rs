//! Status codes and the thread-local last error message.

use std::cell::RefCell;
use std::ffi::{c_char, CString};

/// The outcome of a fallible call. The numbers are fixed and never reused.
pub type ww_status = u32;

/// Success.
pub const WW_STATUS_OK: ww_status = 0;
/// A required pointer argument was NULL.
pub const WW_STATUS_NULL_ARG: ww_status = 1;
/// A bad value: bad UTF-8, unknown engine or backoff, unsupported endpoint.
pub const WW_STATUS_INVALID_ARG: ww_status = 2;
/// The time the caller allowed ran out.
pub const WW_STATUS_TIMEOUT: ww_status = 3;
/// The watcher gave up: the engine is unreachable or failing and no retries are left.
pub const WW_STATUS_ENGINE: ww_status = 4;
/// `ww_options.struct_size` is not a size this library knows, or sets
/// options this library is too old to know.
pub const WW_STATUS_ABI_MISMATCH: ww_status = 5;
/// A panic was caught at the API boundary; the library state may be inconsistent.
pub const WW_STATUS_PANIC: ww_status = 6;
/// An unexpected internal failure (e.g. a thread could not be started).
pub const WW_STATUS_INTERNAL: ww_status = 7;
/// The watcher was closed while the call waited.
pub const WW_STATUS_CLOSED: ww_status = 8;
/// The watcher belongs to the parent process: this process was forked after
/// `ww_new`, and the watcher's thread runs only in the parent.
pub const WW_STATUS_FORKED: ww_status = 9;

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

/// Makes `msg` this thread's last error message.
pub fn set_last_error(msg: impl Into<String>) {
    let c = to_cstring(msg.into());
    // The thread may be tearing down its thread-locals; then there is nobody to tell.
    let _ = LAST_ERROR.try_with(|e| *e.borrow_mut() = c);
}

/// Sets the last error and returns `status`, for `return fail(...)`.
pub fn fail(status: ww_status, msg: impl Into<String>) -> ww_status {
    set_last_error(msg);
    status
}

/// A C string of `s`, with any interior NUL replaced by U+FFFD.
pub fn to_cstring(s: String) -> CString {
    CString::new(s).unwrap_or_else(|e| {
        let s = String::from_utf8_lossy(&e.into_vec()).replace('\0', "\u{FFFD}");
        CString::new(s).unwrap_or_default()
    })
}

/// The message of the last failed call on this thread.
///
/// Never NULL: "" when nothing failed on this thread yet. The text is UTF-8,
/// owned by the library, and valid until the next failing `ww_*` call on the
/// same thread. Successful calls leave it untouched, so check the status, not
/// this message, to learn whether a call failed.
#[no_mangle]
pub extern "C" fn ww_last_error_message() -> *const c_char {
    ffi_boundary!(c"panic".as_ptr(), { LAST_ERROR.try_with(|e| e.borrow().as_ptr()).unwrap_or(c"".as_ptr()) })
}

/// A static, human-readable name of status `s` ("unknown status" for numbers
/// this library does not define). Never NULL; callable from any thread.
#[no_mangle]
pub extern "C" fn ww_status_str(s: ww_status) -> *const c_char {
    let text = match s {
        WW_STATUS_OK => c"ok",
        WW_STATUS_NULL_ARG => c"NULL argument",
        WW_STATUS_INVALID_ARG => c"invalid argument",
        WW_STATUS_TIMEOUT => c"timed out",
        WW_STATUS_ENGINE => c"engine unreachable or failing, watcher gave up",
        WW_STATUS_ABI_MISMATCH => c"ABI mismatch",
        WW_STATUS_PANIC => c"internal panic",
        WW_STATUS_INTERNAL => c"internal error",
        WW_STATUS_CLOSED => c"watcher closed",
        WW_STATUS_FORKED => c"watcher of the parent process (forked)",
        _ => c"unknown status",
    };
    text.as_ptr()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CStr;

    fn last() -> String {
        unsafe { CStr::from_ptr(ww_last_error_message()) }.to_str().unwrap().to_string()
    }

    #[test]
    fn last_error_is_per_thread_and_nul_safe() {
        assert_eq!(last(), "");
        set_last_error("a\0b");
        assert_eq!(last(), "a\u{FFFD}b");
        std::thread::spawn(|| assert_eq!(last(), "")).join().unwrap();
        assert_eq!(last(), "a\u{FFFD}b");
    }

    #[test]
    fn a_panic_becomes_a_status() {
        let s: ww_status = ffi_boundary!(WW_STATUS_PANIC, {
            if last().is_empty() {
                panic!("boom");
            }
            WW_STATUS_OK
        });
        assert_eq!(s, WW_STATUS_PANIC);
        assert_eq!(last(), "panic: boom");
    }

    #[test]
    fn every_status_has_a_name() {
        for s in 0..=9 {
            let t = unsafe { CStr::from_ptr(ww_status_str(s)) }.to_str().unwrap();
            assert_ne!(t, "unknown status");
        }
        assert_eq!(unsafe { CStr::from_ptr(ww_status_str(10)) }.to_str().unwrap(), "unknown status");
    }
}
