//! Change notification against real engines: what a consumer of `ww_wait`,
//! `ww_event_fd` and `ww_diff` sees, and the three ways in which the Go
//! original's event channels fail and these do not:
//! - a slow consumer blocks nothing and loses nothing (changes fold into
//!   the next diff);
//! - a consumer that keeps up sees each change exactly once;
//! - after the engine was away, a consumer sees exactly what changed
//!   meanwhile (exits included), not every survivor "started" again.

mod support;

use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use support::abi::{diff, Changed, Handle, Snap};
use support::containerd::PrivateContainerd;
use support::docker::PrivateDocker;
use support::eventually;
use whalewatcher::ffi::*;

const SYNC: Duration = Duration::from_secs(30);
const SEE: Duration = Duration::from_secs(20);

/// (kind, name) of each change, in the order `ww_diff` gives them.
fn kinds(changes: &[Changed]) -> Vec<(ww_change_kind, String)> {
    changes.iter().map(|c| (c.kind, c.name().to_string())).collect()
}

fn readable(fd: RawFd) -> bool {
    let mut p = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
    unsafe { libc::poll(&mut p, 1, 0) == 1 && p.revents & libc::POLLIN != 0 }
}

fn acknowledge(fd: RawFd) -> bool {
    let mut buf = [0u8; 8];
    unsafe { libc::read(fd, buf.as_mut_ptr().cast(), 8) == 8 }
}

/// The snapshot once `f` holds for it.
fn snap_when(w: &Handle, f: impl Fn(&support::abi::Portfolio) -> bool) -> Snap {
    let end = Instant::now() + SEE;
    loop {
        let s = Snap::take(w);
        if f(&s.copy()) {
            return s;
        }
        assert!(Instant::now() < end, "condition not met; last: {:#?}", s.copy());
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn names(p: &support::abi::Portfolio) -> Vec<String> {
    let mut v: Vec<String> = p.containers.iter().map(|c| c.name.clone()).collect();
    v.sort();
    v
}

#[test]
fn a_slow_consumer_blocks_nothing_and_loses_nothing() {
    let c = &PrivateContainerd::fresh("notify-slow", &["default"]);
    c.run("default", "a", &[]);
    c.run("default", "b", &[]);
    let w = Handle::containerd(&c.endpoint(), None);
    w.ready(SYNC).expect("ready");
    let mut fd: RawFd = -1;
    assert_eq!(unsafe { ww_event_fd(w.raw(), &mut fd) }, WW_STATUS_OK);
    let before = Snap::take(&w);
    assert!(acknowledge(fd), "readable at once: generations were published before");
    assert!(!readable(fd) && !acknowledge(fd), "acknowledged");

    // The consumer reads nothing while the engine changes a lot.
    c.run("default", "c", &[]);
    c.ctr("default", &["tasks", "pause", "a"]);
    c.kill_task("default", "b");
    c.run("default", "d", &[]);
    c.run("default", "e", &[]);
    c.kill_task("default", "e");
    // The watcher kept up on its own: its snapshot is current.
    let after = snap_when(&w, |p| names(p) == ["a", "c", "d"] && p.get("a").is_some_and(|a| a.paused));
    assert!(after.generation() > before.generation() + 1, "it published meanwhile, nobody reading");
    assert!(readable(fd), "one wake-up for everything that happened");

    // Everything that happened folds into one diff: net changes, each once.
    let d = diff(Some(&before), &after);
    assert_eq!(
        kinds(&d),
        [
            (WW_CHANGE_EXITED, "b".to_string()),
            (WW_CHANGE_STARTED, "c".to_string()),
            (WW_CHANGE_STARTED, "d".to_string()),
            (WW_CHANGE_PAUSED, "a".to_string()),
        ],
        "e came and went between the two looks: it is in neither snapshot"
    );
    assert_eq!(d[0].before.as_ref().unwrap().pid, before.copy().get("b").unwrap().pid);
    assert_eq!(d[1].after.as_ref().unwrap().pid, c.pid_of("default", "c"));
    c.remove("default", "a");
    c.remove("default", "c");
    c.remove("default", "d");
}

/// A consumer as an application would write it: wait for a newer
/// generation, take the snapshot, diff it with the previous one.
fn consumer(w: Arc<Handle>, stop: Arc<AtomicBool>, tx: mpsc::Sender<Changed>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut last = Snap::take(&w);
        while !stop.load(Ordering::Relaxed) {
            match w.wait_after(last.generation(), Duration::from_millis(100)) {
                Ok(()) => {}
                Err((WW_STATUS_TIMEOUT, _)) => continue,
                Err(e) => panic!("ww_wait: {e:?}"),
            }
            let now = Snap::take(&w);
            for change in diff(Some(&last), &now) {
                tx.send(change).expect("the test listens");
            }
            last = now;
        }
    })
}

#[test]
fn a_consumer_that_keeps_up_sees_each_change_once() {
    let d = &PrivateDocker::fresh("notify-once", "");
    let w = Arc::new(Handle::docker(&d.endpoint()));
    w.ready(SYNC).expect("ready");
    let stop = Arc::new(AtomicBool::new(false));
    let (tx, rx) = mpsc::channel();
    let thread = consumer(Arc::clone(&w), Arc::clone(&stop), tx);
    let next = |kind: ww_change_kind, name: &str| {
        let got = rx.recv_timeout(SEE).unwrap_or_else(|_| panic!("no change after waiting for {kind} {name}"));
        assert_eq!((got.kind, got.name()), (kind, name), "{got:?}");
        got
    };
    let wx = d.run("wx", &[]);
    let started = next(WW_CHANGE_STARTED, "wx");
    assert_eq!(started.after.as_ref().unwrap().pid, d.pid_of(&wx));
    d.docker(&["pause", "wx"]);
    next(WW_CHANGE_PAUSED, "wx");
    d.docker(&["unpause", "wx"]);
    next(WW_CHANGE_UNPAUSED, "wx");
    d.docker(&["rename", "wx", "wx2"]);
    let renamed = next(WW_CHANGE_UPDATED, "wx2");
    assert_eq!(renamed.before.as_ref().unwrap().name, "wx");
    d.docker(&["restart", "-t", "0", "wx2"]);
    // A restart is a new incarnation: the old one exits, the new one starts.
    let old = next(WW_CHANGE_EXITED, "wx2");
    let new = next(WW_CHANGE_STARTED, "wx2");
    assert_ne!(old.before.as_ref().unwrap().pid, new.after.as_ref().unwrap().pid);
    d.docker(&["kill", "wx2"]);
    next(WW_CHANGE_EXITED, "wx2");
    // Nothing else, nothing twice.
    assert!(rx.recv_timeout(Duration::from_millis(500)).is_err(), "a change was reported twice");
    stop.store(true, Ordering::Relaxed);
    thread.join().expect("consumer");
    d.docker(&["rm", "-f", "wx2"]);
}

/// Kills the init process of a container behind its engine's back.
fn kill_pid(pid: i32) {
    assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0);
}

#[test]
fn after_containerd_was_away_a_diff_shows_exactly_what_changed_meanwhile() {
    let c = &PrivateContainerd::fresh("notify-away", &["default"]);
    for id in ["p", "q", "r"] {
        c.run("default", id, &[]);
    }
    let w = Handle::containerd(&c.endpoint(), None);
    w.ready(SYNC).expect("ready");
    let before = Snap::take(&w);
    assert_eq!(names(&before.copy()), ["p", "q", "r"]);

    c.kill(); // the shims, and so the containers, live on
    let stale = snap_when(&w, |p| p.engine().state == WW_ENGINE_STATE_RESYNCING);
    assert!(stale.copy().engine().last_error.contains(&c.endpoint()), "{:?}", stale.copy().engine());
    assert!(diff(Some(&before), &stale).is_empty(), "the last synchronised containers stay");
    kill_pid(before.copy().get("q").expect("q").pid);
    c.restart();
    c.run("default", "s", &[]);

    let after = snap_when(&w, |p| names(p) == ["p", "r", "s"] && p.engine().state == WW_ENGINE_STATE_SYNCED);
    assert_eq!(
        kinds(&diff(Some(&before), &after)),
        [(WW_CHANGE_EXITED, "q".to_string()), (WW_CHANGE_STARTED, "s".to_string())],
        "the survivors are not reported again"
    );
    for id in ["p", "r", "s"] {
        c.remove("default", id);
    }
}

#[test]
fn after_dockerd_was_away_a_diff_shows_exactly_what_changed_meanwhile() {
    let d = &PrivateDocker::fresh("notify-away-d", "--live-restore");
    for name in ["dp", "dq", "dr"] {
        d.run(name, &[]);
    }
    let w = Handle::docker(&d.endpoint());
    w.ready(SYNC).expect("ready");
    let before = Snap::take(&w);
    let q_pid = before.copy().containers.iter().find(|c| c.name == "dq").expect("dq").pid;

    d.kill();
    snap_when(&w, |p| p.engine().state == WW_ENGINE_STATE_RESYNCING);
    kill_pid(q_pid);
    d.restart("--live-restore");
    d.run("ds", &[]);
    let after = snap_when(&w, |p| names(p) == ["dp", "dr", "ds"] && p.engine().state == WW_ENGINE_STATE_SYNCED);
    assert_eq!(
        kinds(&diff(Some(&before), &after)),
        [(WW_CHANGE_EXITED, "dq".to_string()), (WW_CHANGE_STARTED, "ds".to_string())],
        "the survivors are not reported again"
    );
    assert!(eventually(SEE, || d.try_docker(&["rm", "-f", "dp", "dq", "dr", "ds"]).is_ok()));
}
