//! What the benchmark programs (bench/main.rs, bench/soak.rs) share:
//! numbers from the environment and a watcher made through the C ABI.

use std::ffi::{CStr, CString};

use whalewatcher::ffi::*;

/// The number in environment variable `name`, or `default`.
pub fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|s| s.parse().ok()).unwrap_or(default)
}

/// A watcher, closed when dropped.
pub struct W(pub *mut ww_watcher);
unsafe impl Send for W {}
unsafe impl Sync for W {}
impl Drop for W {
    fn drop(&mut self) {
        unsafe { ww_close(self.0) }
    }
}

/// A watcher of `engine` at `endpoint` with the default options.
#[allow(dead_code)] // not every program wants the defaults
pub fn watcher(engine: ww_engine, endpoint: &str) -> W {
    watcher_with(engine, endpoint, |_| {})
}

/// A watcher of `engine` at `endpoint`, its options changed by `adjust`.
pub fn watcher_with(engine: ww_engine, endpoint: &str, adjust: impl FnOnce(&mut ww_options)) -> W {
    unsafe {
        let mut o: ww_options = std::mem::zeroed();
        ww_options_init(&mut o, std::mem::size_of::<ww_options>());
        o.engine = engine;
        let ep = CString::new(endpoint).unwrap();
        o.endpoint = ep.as_ptr();
        adjust(&mut o);
        let mut w = std::ptr::null_mut();
        assert_eq!(ww_new(&o, &mut w), WW_STATUS_OK);
        W(w)
    }
}

/// Waits until `w` is ready (at most 3 minutes); panics with the library's
/// message otherwise.
pub fn ready(w: &W) {
    let st = unsafe { ww_ready(w.0, 180_000) };
    if st != WW_STATUS_OK {
        let msg = unsafe { CStr::from_ptr(ww_last_error_message()) };
        panic!("ww_ready: {st}: {msg:?}");
    }
}
