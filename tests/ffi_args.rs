//! Bad input through the C ABI: every case gets its status and a message
//! that says what was wrong, and out-parameters stay untouched.

mod support;

use std::ffi::{c_char, CStr};
use std::mem::{offset_of, size_of};
use std::ptr;
use std::time::{Duration, Instant};

use support::abi::{last_error, options, Handle};
use whalewatcher::ffi::*;

fn new_with(o: &ww_options) -> (ww_status, *mut ww_watcher, String) {
    let sentinel = 0x1usize as *mut ww_watcher;
    let mut w = sentinel;
    let st = unsafe { ww_new(o, &mut w) };
    if st == WW_STATUS_OK {
        unsafe { ww_close(w) };
        return (st, ptr::null_mut(), String::new());
    }
    assert_eq!(w, sentinel, "out is written only on success");
    (st, w, last_error())
}

fn with_endpoint(ep: &[u8]) -> (ww_status, String) {
    let mut o = options();
    let mut bytes = ep.to_vec();
    bytes.push(0);
    o.endpoint = bytes.as_ptr() as *const c_char;
    let (st, _, msg) = new_with(&o);
    (st, msg)
}

#[test]
fn null_pointers_are_refused_or_ignored() {
    let o = options();
    assert_eq!(unsafe { ww_new(&o, ptr::null_mut()) }, WW_STATUS_NULL_ARG);
    assert!(last_error().contains("out is NULL"));
    assert_eq!(unsafe { ww_ready(ptr::null_mut(), 0) }, WW_STATUS_NULL_ARG);
    let mut p = ptr::null();
    assert_eq!(unsafe { ww_snapshot(ptr::null_mut(), &mut p) }, WW_STATUS_NULL_ARG);
    assert!(p.is_null());
    let w = Handle::new(&o, Some("unix:///nonexistent.sock")).unwrap();
    drop(w);
    unsafe {
        ww_close(ptr::null_mut());
        ww_snapshot_free(ptr::null());
        ww_options_init(ptr::null_mut());
    }
}

#[test]
fn unknown_struct_sizes_are_an_abi_mismatch() {
    for size in [0u32, 1, 31, 33, 39, 41, 47, 49, 56, 12345] {
        let mut o = options();
        o.struct_size = size;
        let (st, _, msg) = new_with(&o);
        assert_eq!(st, WW_STATUS_ABI_MISMATCH, "size {size}");
        assert!(msg.contains(&size.to_string()), "{msg}");
    }
}

#[test]
fn earlier_struct_versions_are_still_accepted() {
    for (size, expected) in [(offset_of!(ww_options, call_timeout_ms), 32), (offset_of!(ww_options, ignored_namespaces), 40)] {
        let mut o = options();
        o.struct_size = size as u32;
        assert_eq!(o.struct_size, expected);
        o.endpoint = c"unix:///nonexistent.sock".as_ptr();
        // Fields past the caller's size are never read: garbage there does no harm.
        o.ignored_namespaces = c"not a namespace!".as_ptr();
        let (st, _, msg) = new_with(&o);
        assert_eq!(st, WW_STATUS_OK, "{msg}");
    }
}

#[test]
fn bad_values_are_invalid_arguments_that_name_the_problem() {
    let mut o = options();
    o.engine = 99;
    assert!(matches!(new_with(&o), (WW_STATUS_INVALID_ARG, _, m) if m.contains("unknown engine 99")));
    let mut o = options();
    o.backoff = 3;
    assert!(matches!(new_with(&o), (WW_STATUS_INVALID_ARG, _, m) if m.contains("unknown backoff 3")));
    let mut o = options();
    o.backoff_initial_ms = 1000;
    o.backoff_max_ms = 10;
    assert!(matches!(new_with(&o), (WW_STATUS_INVALID_ARG, _, m) if m.contains("backoff_max_ms")));
    for ep in ["ssh://host", "", "unix://", "/var/run/docker.sock", "npipe:////./pipe/docker_engine", "tcp://"] {
        let (st, msg) = with_endpoint(ep.as_bytes());
        assert_eq!(st, WW_STATUS_INVALID_ARG, "{ep:?}");
        assert!(msg.contains(&format!("{ep:?}")), "{msg}");
    }
    let (st, msg) = with_endpoint(b"unix:///tmp/\xff\xfe.sock");
    assert_eq!(st, WW_STATUS_INVALID_ARG);
    assert!(msg.contains("not valid UTF-8"), "{msg}");
    let mut o = options();
    o.engine = WW_ENGINE_CONTAINERD;
    for (list, ok) in [("moby,,x", false), ("a/b", false), ("", true), ("moby, k8s.io", true)] {
        let c = std::ffi::CString::new(list).unwrap();
        o.ignored_namespaces = c.as_ptr();
        let (st, _, msg) = new_with(&o);
        assert_eq!(st == WW_STATUS_OK, ok, "{list:?}: {msg}");
    }
    for ep in ["tcp://127.0.0.1:1", "", "unix://"] {
        let c = std::ffi::CString::new(ep).unwrap();
        o.ignored_namespaces = ptr::null();
        o.endpoint = c.as_ptr();
        assert!(matches!(new_with(&o), (WW_STATUS_INVALID_ARG, _, m) if m.contains(&format!("{ep:?}"))), "{ep}");
    }
    let long = format!("unix:///{}", "x".repeat(100_000));
    let (st, msg) = with_endpoint(long.as_bytes());
    assert_eq!(st, WW_STATUS_INVALID_ARG, "{msg}");
    assert!(msg.contains("longer than the 107 a unix socket takes"), "{msg}");
}

#[test]
fn an_unreachable_engine_without_retries_is_reported_promptly() {
    let dir = std::env::temp_dir().join(format!("ww-args-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("regular-file");
    std::fs::write(&file, b"").unwrap();
    let cases = [
        ("unix:///nonexistent/docker.sock".to_string(), "No such file or directory"),
        (format!("unix://{}", dir.display()), "Connection refused"),
        (format!("unix://{}", file.display()), "Connection refused"),
    ];
    for (ep, why) in cases {
        let mut o = options();
        o.backoff = WW_BACKOFF_NONE;
        let w = Handle::new(&o, Some(&ep)).expect("ww_new");
        let t = Instant::now();
        let (st, msg) = w.ready(Duration::from_secs(10)).unwrap_err();
        assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
        assert_eq!(st, WW_STATUS_ENGINE, "{msg}");
        assert!(msg.contains(&ep) && msg.contains(why), "{msg}");
        // The snapshot stays readable: empty, generation 0.
        let snap = w.snapshot();
        assert_eq!((snap.generation, snap.containers.len(), snap.projects.len()), (0, 0, 1));
        assert_eq!((snap.engine_type.as_str(), snap.engine_endpoint.as_str()), ("docker.com", ep.as_str()));
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn exhausted_max_elapsed_gives_up_and_a_short_wait_times_out() {
    let mut o = options();
    o.backoff_initial_ms = 20;
    o.backoff_max_elapsed_ms = 300;
    let w = Handle::new(&o, Some("unix:///nonexistent/docker.sock")).unwrap();
    let (st, msg) = w.ready(Duration::from_millis(20)).unwrap_err();
    assert_eq!(st, WW_STATUS_TIMEOUT, "{msg}");
    assert!(msg.contains("timed out") && msg.contains("/nonexistent/docker.sock"), "{msg}");
    let (st, msg) = w.ready(Duration::from_secs(5)).unwrap_err();
    assert_eq!(st, WW_STATUS_ENGINE, "{msg}");
    assert!(msg.contains("gave up"), "{msg}");
}

#[test]
fn abi_layout_is_pinned() {
    assert_eq!(size_of::<ww_options>(), 48);
    assert_eq!(offset_of!(ww_options, ignored_namespaces), 40);
    assert_eq!(offset_of!(ww_options, endpoint), 8);
    assert_eq!(offset_of!(ww_options, call_timeout_ms), 32);
    assert_eq!(size_of::<ww_label>(), 16);
    assert_eq!(size_of::<ww_container>(), 48);
    assert_eq!(offset_of!(ww_container, pid), 24);
    assert_eq!(offset_of!(ww_container, paused), 28);
    assert_eq!(offset_of!(ww_container, labels), 32);
    assert_eq!(size_of::<ww_project>(), 24);
    assert_eq!(size_of::<ww_portfolio>(), 80);
    assert_eq!(offset_of!(ww_portfolio, engine_pid), 72);
}

#[test]
fn version_and_status_names() {
    assert_eq!(unsafe { CStr::from_ptr(ww_version()) }.to_str().unwrap(), env!("CARGO_PKG_VERSION"));
    assert_eq!(unsafe { CStr::from_ptr(ww_status_str(WW_STATUS_ENGINE)) }.to_str().unwrap(), "engine unreachable or failing, watcher gave up");
}
