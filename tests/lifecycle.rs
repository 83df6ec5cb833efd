//! After `ww_close` the process has the threads and file descriptors it had
//! before `ww_new`, also after 1000 cycles (and its memory too), and with
//! snapshots outliving their watcher. (One test in this binary, so no other test's threads interfere.)

mod support;

use std::time::Duration;

use support::abi::{copy, Handle};
use support::docker::shared;
use support::{eventually, rss_kib};
use whalewatcher::ffi::{ww_close, ww_event_fd, ww_snapshot_free, WW_STATUS_CLOSED, WW_STATUS_OK};

fn count(dir: &str) -> usize {
    std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0)
}

fn threads_and_fds() -> (usize, usize) {
    (count("/proc/self/task"), count("/proc/self/fd"))
}

#[test]
fn close_leaves_no_thread_and_no_file_descriptor_behind() {
    let d = shared("lifecycle");
    d.run(&format!("lifecycle-{}", std::process::id()), &[("whalewatcher.test", "lifecycle")]);
    let baseline = threads_and_fds();
    let mut kept = Vec::new();
    for i in 0..20 {
        let w = Handle::docker(&d.endpoint());
        w.ready(Duration::from_secs(30)).expect("ready");
        let (threads, _) = threads_and_fds();
        assert_eq!(threads, baseline.0 + 1, "one thread per watcher");
        if i % 2 == 0 {
            // The event descriptor is the watcher's and goes with it.
            let before = threads_and_fds().1;
            let (mut fd, mut again) = (-1, -2);
            assert_eq!(unsafe { ww_event_fd(w.raw(), &mut fd) }, WW_STATUS_OK);
            assert_eq!(unsafe { ww_event_fd(w.raw(), &mut again) }, WW_STATUS_OK);
            assert_eq!((threads_and_fds().1, again), (before + 1, fd), "one descriptor, the same on every call");
        }
        if i % 5 == 0 {
            kept.push(w.raw_snapshot());
        }
        drop(w);
        if threads_and_fds() != baseline {
            for e in std::fs::read_dir("/proc/self/fd").unwrap() {
                let e = e.unwrap();
                eprintln!("fd {:?} -> {:?}", e.file_name(), std::fs::read_link(e.path()));
            }
        }
        assert_eq!(threads_and_fds(), baseline, "after close #{i}");
    }
    // Snapshots outlive their watchers.
    for p in kept {
        let snap = copy(unsafe { &*p });
        assert!(snap
            .containers
            .iter()
            .any(|c| c.labels.iter().any(|(k, v)| k == "whalewatcher.test" && v == "lifecycle")));
        unsafe { ww_snapshot_free(p) };
    }
    // A watcher that never reaches its engine closes just as cleanly.
    let mut o = support::abi::options();
    o.backoff_initial_ms = 10;
    let w = Handle::new(&o, Some("unix:///nonexistent/docker.sock")).expect("ww_new");
    assert!(w.ready(Duration::from_millis(100)).is_err());
    drop(w);
    assert!(eventually(Duration::from_secs(1), || threads_and_fds() == baseline));

    // Threads waiting in ww_ready and ww_wait when the watcher is closed
    // return WW_STATUS_CLOSED, and close frees it only after they left.
    let w = std::sync::Arc::new(Handle::new(&o, Some("unix:///nonexistent/docker.sock")).expect("ww_new"));
    let waiters: Vec<_> = (0..4)
        .map(|i| {
            let w = std::sync::Arc::clone(&w);
            std::thread::spawn(move || match i % 2 {
                0 => w.ready(Duration::from_secs(60)).unwrap_err().0,
                _ => w.wait_after(u64::MAX, Duration::from_secs(60)).unwrap_err().0,
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    let raw = w.raw();
    let t = std::time::Instant::now();
    unsafe { ww_close(raw) };
    for waiter in waiters {
        assert_eq!(waiter.join().unwrap(), WW_STATUS_CLOSED);
    }
    assert!(t.elapsed() < Duration::from_secs(2), "waiters woke at once");
    std::mem::forget(std::sync::Arc::into_inner(w).expect("the waiters are gone"));
    assert!(eventually(Duration::from_secs(1), || threads_and_fds() == baseline));

    // 1000 full lives in one process: threads, descriptors and memory return
    // to where they were.
    let cycle = || {
        let w = Handle::docker(&d.endpoint());
        w.ready(Duration::from_secs(30)).expect("ready");
        let mut fd = -1;
        assert_eq!(unsafe { ww_event_fd(w.raw(), &mut fd) }, WW_STATUS_OK);
        assert!(!w.snapshot().containers.is_empty());
    };
    (0..50).for_each(|_| cycle());
    let (base_rss, base) = (rss_kib(), threads_and_fds());
    let t = std::time::Instant::now();
    (0..1000).for_each(|_| cycle());
    let grown = rss_kib().saturating_sub(base_rss);
    eprintln!("1000 cycles in {:?}, RSS {base_rss} KiB -> +{grown} KiB", t.elapsed());
    assert_eq!(threads_and_fds(), base);
    assert!(grown < 4 * 1024, "RSS grew by {grown} KiB over 1000 cycles");
    d.remove_labelled("whalewatcher.test", "lifecycle");
}
