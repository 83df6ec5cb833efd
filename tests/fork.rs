//! A program that forks after ww_new (a daemon forking workers): in the
//! child, snapshots keep answering with the last published state, waits say
//! the watcher belongs to the parent, and ww_close frees without joining a
//! thread that does not exist there; nothing deadlocks, also when the fork
//! lands while the watcher publishes, while another thread takes (and lays
//! out) snapshots, or while the watcher takes in containers; a watcher the
//! child makes of its own works. The parent is unaffected.

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use support::abi::Handle;
use support::docker::PrivateDocker;
use whalewatcher::ffi::*;

/// What the child checks; its exit status says which check failed.
fn in_child(w: &Handle, generation_before: u64, endpoint: &str) -> i32 {
    for _ in 0..50 {
        let p = w.raw_snapshot();
        let ok = unsafe { (*p).generation } >= generation_before && unsafe { (*p).engines_len } == 1;
        unsafe { ww_snapshot_free(p) };
        if !ok {
            return 10;
        }
    }
    if unsafe { ww_ready(w.raw(), 1000) } != WW_STATUS_FORKED {
        return 11;
    }
    if unsafe { ww_wait(w.raw(), 0, 1000) } != WW_STATUS_FORKED {
        return 12;
    }
    let mut fd = -1;
    if unsafe { ww_event_fd(w.raw(), &mut fd) } != WW_STATUS_FORKED {
        return 13;
    }
    unsafe { ww_shutdown(w.raw()) };
    unsafe { ww_close(w.raw()) };
    // A worker watching on its own: nothing the parent's threads held at
    // the fork (the table of label keys, say) is left locked.
    let own = Handle::docker(endpoint);
    if own.ready(Duration::from_secs(10)).is_err() {
        return 14;
    }
    if own.snapshot().containers.len() < 2 {
        return 15;
    }
    0
}

#[test]
fn forking_while_the_watcher_publishes_deadlocks_nothing() {
    let d = PrivateDocker::fresh("fork", "");
    d.run("fork-a", &[]);
    d.run("fork-b", &[]);
    let w = Handle::docker(&d.endpoint());
    w.ready(Duration::from_secs(30)).expect("ready");
    let mut fd = -1;
    assert_eq!(unsafe { ww_event_fd(w.raw(), &mut fd) }, WW_STATUS_OK);
    // The state keeps changing while the process forks.
    let stop = Arc::new(AtomicBool::new(false));
    let churn = {
        let (stop, endpoint) = (Arc::clone(&stop), d.endpoint());
        std::thread::spawn(move || {
            let docker = |args: &[&str]| {
                let _ = std::process::Command::new("docker").arg("-H").arg(&endpoint).args(args).output();
            };
            while !stop.load(Ordering::Relaxed) {
                docker(&["pause", "fork-a", "fork-b"]);
                docker(&["unpause", "fork-a", "fork-b"]);
            }
        })
    };
    // Another thread takes snapshots all along: forks land while it lays
    // out a new generation.
    let reader = {
        let (stop, raw) = (Arc::clone(&stop), w.raw() as usize);
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let mut p = std::ptr::null();
                assert_eq!(unsafe { ww_snapshot(raw as *mut ww_watcher, &mut p) }, WW_STATUS_OK);
                unsafe { ww_snapshot_free(p) };
            }
        })
    };
    let start = w.snapshot().generation;
    for round in 0..30 {
        let before = w.snapshot().generation;
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork");
        if pid == 0 {
            let code = in_child(&w, before, &d.endpoint());
            unsafe { libc::_exit(code) };
        }
        let end = Instant::now() + Duration::from_secs(20);
        let status = loop {
            let mut status = 0;
            let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
            if r == pid {
                break status;
            }
            if Instant::now() > end {
                unsafe { libc::kill(pid, libc::SIGKILL) };
                panic!("round {round}: the child hangs (a deadlock)");
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "round {round}: child status {status:#x}");
        std::thread::sleep(Duration::from_millis(30));
    }
    stop.store(true, Ordering::Relaxed);
    churn.join().unwrap();
    reader.join().unwrap();
    // The parent goes on as if nothing happened.
    assert!(w.snapshot().generation > start, "it kept publishing");
    w.ready(Duration::ZERO).expect("still ready");
    let c = d.run("fork-after", &[]);
    w.wait(Duration::from_secs(20), |s| s.get(&c).is_some());
    let mut again = -1;
    assert_eq!(unsafe { ww_event_fd(w.raw(), &mut again) }, WW_STATUS_OK);
    assert_eq!(again, fd);
}
