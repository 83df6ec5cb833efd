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
    let sentinel = std::ptr::dangling_mut::<ww_watcher>();
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
    assert_eq!(unsafe { ww_wait(ptr::null_mut(), 0, 0) }, WW_STATUS_NULL_ARG);
    assert!(last_error().contains("ww_wait: w is NULL"), "{}", last_error());
    let mut fd = -7;
    assert_eq!(unsafe { ww_event_fd(ptr::null_mut(), &mut fd) }, WW_STATUS_NULL_ARG);
    assert_eq!(unsafe { ww_event_fd(w.raw(), ptr::null_mut()) }, WW_STATUS_NULL_ARG);
    assert!(last_error().contains("fd is NULL"), "{}", last_error());
    assert_eq!(fd, -7, "out is written only on success");
    let snap = w.raw_snapshot();
    let (mut out, mut len) = (std::ptr::dangling::<ww_change>(), 7usize);
    assert_eq!(unsafe { ww_diff(snap, ptr::null(), &mut out, &mut len) }, WW_STATUS_NULL_ARG);
    assert!(last_error().contains("to is NULL"), "{}", last_error());
    assert_eq!(unsafe { ww_diff(ptr::null(), snap, ptr::null_mut(), &mut len) }, WW_STATUS_NULL_ARG);
    assert_eq!(unsafe { ww_diff(ptr::null(), snap, &mut out, ptr::null_mut()) }, WW_STATUS_NULL_ARG);
    assert_eq!((out, len), (std::ptr::dangling::<ww_change>(), 7), "outs are written only on success");
    assert!(unsafe { ww_portfolio_find_id(ptr::null(), c"x".as_ptr()) }.is_null());
    assert!(last_error().contains("p is NULL"), "{}", last_error());
    assert!(unsafe { ww_portfolio_find_id(snap, ptr::null()) }.is_null());
    assert!(last_error().contains("id is NULL"), "{}", last_error());
    assert!(unsafe { ww_portfolio_find_pid(ptr::null(), 1) }.is_null());
    // Absent is NULL too, whatever the input.
    assert!(unsafe { ww_portfolio_find_id(snap, c"".as_ptr()) }.is_null());
    assert!(unsafe { ww_portfolio_find_id(snap, c"\xff\xfe".as_ptr()) }.is_null());
    for pid in [0, -1, i32::MIN, i32::MAX] {
        assert!(unsafe { ww_portfolio_find_pid(snap, pid) }.is_null());
    }
    unsafe { ww_snapshot_free(snap) };
    drop(w);
    unsafe {
        ww_close(ptr::null_mut());
        ww_snapshot_free(ptr::null());
        ww_changes_free(ptr::null());
        ww_options_init(ptr::null_mut(), size_of::<ww_options>());
    }
}

#[test]
fn unknown_struct_sizes_are_an_abi_mismatch() {
    for size in [0u32, 1, 31, 33, 39, 40, 41, 47, 49, 52, 55, 57, 60, 63, 65, 72, 80, 87, 88, 92, 95] {
        let mut o = options();
        o.struct_size = size;
        let (st, _, msg) = new_with(&o);
        assert_eq!(st, WW_STATUS_ABI_MISMATCH, "size {size}");
        assert!(msg.contains(&size.to_string()), "{msg}");
    }
}

/// A caller compiled against a newer header: its struct is larger.
#[repr(C)]
struct Newer {
    o: ww_options,
    extra: [u64; 2],
}

#[test]
fn a_caller_of_the_first_abi_2_struct_gets_the_defaults_of_later_fields() {
    // Compiled against the 48-byte struct of the first ABI 2 header.
    let mut first = [0u8; 48];
    unsafe { ww_options_init(first.as_mut_ptr().cast(), 48) };
    let o = unsafe { std::ptr::read_unaligned(first.as_ptr().cast::<[u32; 2]>()) };
    assert_eq!(o, [48, WW_ENGINE_DOCKER], "struct_size and the default engine");
    let mut padded = options();
    unsafe { std::ptr::copy_nonoverlapping(first.as_ptr(), (&mut padded as *mut ww_options).cast::<u8>(), 48) };
    padded.cri_poll_ms = 7; // beyond the caller's size: never read
    padded.endpoint = c"unix:///nonexistent.sock".as_ptr();
    let (st, _, msg) = new_with(&padded);
    assert_eq!(st, WW_STATUS_OK, "{msg}");
}

#[test]
fn a_newer_callers_larger_struct_works_while_its_new_fields_are_zero() {
    let mut n = Newer { o: options(), extra: [0xdead_beef; 2] };
    unsafe { ww_options_init(&mut n.o, size_of::<Newer>()) };
    assert_eq!(n.o.struct_size as usize, size_of::<Newer>());
    assert_eq!(n.extra, [0, 0], "fields the library does not know are zeroed");
    n.o.endpoint = c"unix:///nonexistent.sock".as_ptr();
    let (st, _, msg) = new_with(&n.o);
    assert_eq!(st, WW_STATUS_OK, "{msg}");
    n.extra[1] = 1;
    let (st, _, msg) = new_with(&n.o);
    assert_eq!(st, WW_STATUS_ABI_MISMATCH, "{msg}");
    assert!(msg.contains(&format!("byte {}", size_of::<ww_options>() + 8)), "{msg}");
}

#[test]
fn options_init_writes_exactly_the_size_it_is_given() {
    const CANARY: u8 = 0xa5;
    let ours = size_of::<ww_options>();
    let mut buf = [CANARY; 128];
    // Smaller than the first version: nothing happens.
    unsafe { ww_options_init(buf.as_mut_ptr().cast(), 47) };
    assert!(buf.iter().all(|&b| b == CANARY));
    unsafe { ww_options_init(buf.as_mut_ptr().cast(), ours) };
    assert!(buf[ours..].iter().all(|&b| b == CANARY), "nothing past the size");
    let o = unsafe { std::ptr::read_unaligned(buf.as_ptr().cast::<ww_options>()) };
    assert_eq!((o.struct_size as usize, o.engine, o.backoff), (ours, WW_ENGINE_DOCKER, WW_BACKOFF_EXPONENTIAL));
    let mut buf = [CANARY; 128];
    unsafe { ww_options_init(buf.as_mut_ptr().cast(), 100) };
    assert!(buf[ours..100].iter().all(|&b| b == 0) && buf[100..].iter().all(|&b| b == CANARY));
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
        // The snapshot stays readable: empty, and it says why.
        let snap = w.snapshot();
        assert_eq!((snap.generation, snap.containers.len(), snap.projects.len()), (1, 0, 1));
        let e = snap.engine();
        assert_eq!(
            (e.engine_type.as_str(), e.endpoint.as_str(), e.kind),
            ("docker.com", ep.as_str(), WW_ENGINE_DOCKER)
        );
        assert_eq!((e.state, e.synced_at_ns, e.pid), (WW_ENGINE_STATE_GAVE_UP, 0, 0));
        assert!(e.last_error.contains(why), "{}", e.last_error);
        // Nothing can change anymore: ww_wait says so at once.
        let t = Instant::now();
        let (st, msg) = w.wait_after(snap.generation, Duration::from_secs(10)).unwrap_err();
        assert_eq!(st, WW_STATUS_ENGINE, "{msg}");
        assert!(t.elapsed() < Duration::from_secs(1));
        assert!(w.wait_after(0, Duration::from_secs(10)).is_ok(), "an older generation is newer");
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
    assert_eq!(size_of::<ww_options>(), 96);
    assert_eq!(offset_of!(ww_options, audit_interval_ms), 88);
    assert_eq!(offset_of!(ww_options, discover_interval_ms), 56);
    assert_eq!(
        [offset_of!(ww_options, tls_ca), offset_of!(ww_options, tls_cert), offset_of!(ww_options, tls_key)],
        [64, 72, 80]
    );
    assert_eq!(offset_of!(ww_options, endpoint), 8);
    assert_eq!(offset_of!(ww_options, call_timeout_ms), 32);
    assert_eq!(offset_of!(ww_options, ignored_namespaces), 40);
    assert_eq!([offset_of!(ww_options, cri_poll_ms), offset_of!(ww_options, cri_events)], [48, 52]);
    assert_eq!(size_of::<ww_label>(), 16);
    assert_eq!(size_of::<ww_container>(), 104);
    let c = [
        offset_of!(ww_container, id),
        offset_of!(ww_container, name),
        offset_of!(ww_container, project),
        offset_of!(ww_container, labels),
        offset_of!(ww_container, labels_len),
        offset_of!(ww_container, image),
        offset_of!(ww_container, image_id),
        offset_of!(ww_container, pod_name),
        offset_of!(ww_container, pod_namespace),
        offset_of!(ww_container, pod_uid),
        offset_of!(ww_container, started_at_ns),
        offset_of!(ww_container, pid),
        offset_of!(ww_container, engine),
        offset_of!(ww_container, paused),
        offset_of!(ww_container, privileged),
        offset_of!(ww_container, pod_sandbox),
    ];
    assert_eq!(c, [0, 8, 16, 24, 32, 40, 48, 56, 64, 72, 80, 88, 92, 96, 97, 98]);
    assert_eq!(size_of::<ww_project>(), 32);
    assert_eq!(
        [offset_of!(ww_project, containers), offset_of!(ww_project, containers_len), offset_of!(ww_project, engine)],
        [8, 16, 24]
    );
    assert_eq!(size_of::<ww_engine_info>(), 72);
    let e = [
        offset_of!(ww_engine_info, r#type),
        offset_of!(ww_engine_info, id),
        offset_of!(ww_engine_info, version),
        offset_of!(ww_engine_info, endpoint),
        offset_of!(ww_engine_info, last_error),
        offset_of!(ww_engine_info, synced_at_ns),
        offset_of!(ww_engine_info, repairs),
        offset_of!(ww_engine_info, kind),
        offset_of!(ww_engine_info, pid),
        offset_of!(ww_engine_info, state),
    ];
    assert_eq!(e, [0, 8, 16, 24, 32, 40, 48, 56, 60, 64]);
    assert_eq!(size_of::<ww_portfolio>(), 56);
    assert_eq!(
        [
            offset_of!(ww_portfolio, containers),
            offset_of!(ww_portfolio, projects),
            offset_of!(ww_portfolio, engines),
            offset_of!(ww_portfolio, engines_len)
        ],
        [8, 24, 40, 48]
    );
    assert_eq!(size_of::<ww_change>(), 24);
    assert_eq!([offset_of!(ww_change, before), offset_of!(ww_change, after)], [8, 16]);
}

#[test]
fn version_and_status_names() {
    assert_eq!(unsafe { CStr::from_ptr(ww_version()) }.to_str().unwrap(), env!("CARGO_PKG_VERSION"));
    assert_eq!(
        unsafe { CStr::from_ptr(ww_status_str(WW_STATUS_ENGINE)) }.to_str().unwrap(),
        "engine unreachable or failing, watcher gave up"
    );
}

/// Runs this test binary's test `name` in a child process with `WW_CHILD`
/// set, and returns (killed by SIGABRT, stderr).
fn in_child(name: &str) -> (bool, String) {
    use std::os::unix::process::ExitStatusExt;
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", name, "--nocapture", "--test-threads=1"])
        .env("WW_CHILD", "1")
        .output()
        .expect("run the child");
    (out.status.signal() == Some(libc::SIGABRT), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// A diff with changes: everything in a fake engine's snapshot started.
fn with_a_diff(f: impl FnOnce(*const ww_change, usize)) {
    let fake = support::fake_docker::FakeDocker::start();
    fake.add(support::fake_docker::FakeContainer::new("one"));
    let w = Handle::new(&options(), Some(&fake.endpoint())).unwrap();
    w.ready(Duration::from_secs(10)).expect("ready");
    let snap = w.raw_snapshot();
    let (mut out, mut len) = (ptr::null(), 0);
    assert_eq!(unsafe { ww_diff(ptr::null(), snap, &mut out, &mut len) }, WW_STATUS_OK);
    assert_eq!(len, 1);
    f(out, len);
    unsafe { ww_snapshot_free(snap) };
}

#[test]
fn freeing_a_diff_twice_aborts_with_a_message() {
    if std::env::var_os("WW_CHILD").is_some() {
        with_a_diff(|out, _| unsafe {
            ww_changes_free(out);
            ww_changes_free(out);
        });
        return;
    }
    let (aborted, stderr) = in_child("freeing_a_diff_twice_aborts_with_a_message");
    assert!(aborted, "{stderr}");
    assert!(stderr.contains("ww_changes_free: double free of an array from ww_diff"), "{stderr}");
}

#[test]
fn freeing_a_foreign_pointer_as_a_diff_aborts_with_a_message() {
    if std::env::var_os("WW_CHILD").is_some() {
        let mine = [0u64; 12];
        unsafe { ww_changes_free(mine.as_ptr().add(6).cast()) };
        return;
    }
    let (aborted, stderr) = in_child("freeing_a_foreign_pointer_as_a_diff_aborts_with_a_message");
    assert!(aborted, "{stderr}");
    assert!(stderr.contains("ww_changes_free: not an array from ww_diff"), "{stderr}");
}

#[test]
fn a_diff_freed_once_is_fine() {
    with_a_diff(|out, len| {
        let c = unsafe { &*out };
        assert_eq!((c.kind, len), (WW_CHANGE_STARTED, 1));
        assert!(c.before.is_null() && !c.after.is_null());
        unsafe { ww_changes_free(out) };
    });
}

#[test]
fn shutdown_stops_a_consumer_loop_that_close_alone_could_not() {
    // A consumer that loops without ever blocking for long: ww_close could
    // free the watcher between two of its calls. ww_shutdown may come at
    // any moment; the loop sees WW_STATUS_CLOSED, ends, and only then is
    // the watcher closed.
    let mut o = options();
    o.backoff_initial_ms = 10;
    let w = std::sync::Arc::new(Handle::new(&o, Some("unix:///nonexistent/docker.sock")).unwrap());
    let mut fd = -1;
    assert_eq!(unsafe { ww_event_fd(w.raw(), &mut fd) }, WW_STATUS_OK);
    let consumer = {
        let w = std::sync::Arc::clone(&w);
        std::thread::spawn(move || {
            let mut rounds = 0u64;
            loop {
                let p = w.raw_snapshot();
                let generation = unsafe { (*p).generation };
                unsafe { ww_snapshot_free(p) };
                match unsafe { ww_wait(w.raw(), generation, 1) } {
                    WW_STATUS_OK | WW_STATUS_TIMEOUT => rounds += 1,
                    WW_STATUS_CLOSED => return rounds,
                    st => panic!("ww_wait: {st}"),
                }
            }
        })
    };
    std::thread::sleep(Duration::from_millis(100));
    unsafe {
        ww_shutdown(w.raw());
        ww_shutdown(w.raw()); // more than once is fine
    }
    assert!(consumer.join().unwrap() > 0, "the loop ran, then ended");
    assert_eq!(w.wait_after(0, Duration::from_secs(10)).unwrap_err().0, WW_STATUS_CLOSED, "later waits: at once");
    assert_eq!(w.ready(Duration::from_secs(10)).unwrap_err().0, WW_STATUS_CLOSED);
    let mut pfd = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
    assert_eq!(unsafe { libc::poll(&mut pfd, 1, 0) }, 1, "the event descriptor woke pollers");
    let snap = w.snapshot();
    assert_eq!(snap.engines.len(), 1, "snapshots still work");
    unsafe { ww_shutdown(std::ptr::null_mut()) };
    drop(std::sync::Arc::into_inner(w).expect("the consumer is gone"));
}

#[test]
fn freeing_a_snapshot_twice_aborts_with_a_message() {
    if std::env::var_os("WW_CHILD").is_some() {
        let w = Handle::new(&options(), Some("unix:///nonexistent.sock")).unwrap();
        let p = w.raw_snapshot();
        drop(w); // the caller's is now the last reference
        unsafe {
            ww_snapshot_free(p);
            ww_snapshot_free(p);
        }
        return;
    }
    let (aborted, stderr) = in_child("freeing_a_snapshot_twice_aborts_with_a_message");
    assert!(aborted, "{stderr}");
    assert!(stderr.contains("ww_snapshot_free: double free of a snapshot"), "{stderr}");
}

#[test]
fn freeing_a_copy_of_a_snapshot_aborts_with_a_message() {
    if std::env::var_os("WW_CHILD").is_some() {
        let w = Handle::new(&options(), Some("unix:///nonexistent.sock")).unwrap();
        let p = w.raw_snapshot();
        // A copy of the struct, in memory of its own (zeroed around it).
        let mut room = [0u64; 32];
        unsafe {
            std::ptr::copy_nonoverlapping(p.cast::<u8>(), room.as_mut_ptr().cast::<u8>(), size_of::<ww_portfolio>());
            ww_snapshot_free(room.as_ptr().cast());
        }
        return;
    }
    let (aborted, stderr) = in_child("freeing_a_copy_of_a_snapshot_aborts_with_a_message");
    assert!(aborted, "{stderr}");
    assert!(stderr.contains("ww_snapshot_free: not a snapshot from ww_snapshot"), "{stderr}");
}
