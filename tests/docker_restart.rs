//! The watcher across dockerd going away and coming back: the old snapshot
//! stays visible meanwhile, and the state is right afterwards.

mod support;

use std::time::{Duration, Instant};

use support::abi::Handle;
use support::docker::PrivateDocker;
use whalewatcher::ffi::{WW_ENGINE_STATE_RESYNCING, WW_ENGINE_STATE_SYNCED};

const SYNC: Duration = Duration::from_secs(30);
const SEE: Duration = Duration::from_secs(20);

fn sorted_ids(ids: &[&String]) -> Vec<String> {
    let mut v: Vec<String> = ids.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

#[test]
fn dockerd_killed_and_restarted_with_live_restore() {
    let d = &PrivateDocker::fresh("restart-live", "--live-restore");
    let keep = d.run("keep", &[]);
    let sleepy = d.run("sleepy", &[]);
    d.docker(&["pause", &sleepy]);
    let doomed = d.run("doomed", &[]);
    let doomed_pid = d.pid_of(&doomed);

    let w = Handle::docker(&d.endpoint());
    w.ready(SYNC).expect("ready");
    let before = w.snapshot();
    assert_eq!(before.containers.len(), 3);
    let old_engine_pid = before.engine().pid;

    d.kill();
    // Meanwhile, a container ends without the engine around to tell.
    unsafe { libc::kill(doomed_pid, libc::SIGKILL) };
    let end = Instant::now() + Duration::from_secs(1);
    while Instant::now() < end {
        let now = w.snapshot();
        assert_eq!(now.containers, before.containers, "the last good snapshot stays visible");
        let e = now.engine();
        assert!(e.state == WW_ENGINE_STATE_SYNCED || e.state == WW_ENGINE_STATE_RESYNCING, "{e:?}");
        w.ready(Duration::ZERO).expect("still ready while reconnecting");
        std::thread::sleep(Duration::from_millis(20));
    }

    d.restart("--live-restore");
    let fresh = d.run("fresh", &[]);
    let want = sorted_ids(&[&keep, &sleepy, &fresh]);
    let snap = w.wait(SEE, |s| sorted_ids(&s.containers.iter().map(|c| &c.id).collect::<Vec<_>>()) == want);
    assert!(snap.generation > before.generation);
    for c in &snap.containers {
        assert_eq!(c.pid, d.pid_of(&c.id), "{}", c.name);
    }
    assert!(snap.get(&sleepy).unwrap().paused);
    assert_eq!(snap.engine().pid, d.pid());
    assert_ne!(snap.engine().pid, old_engine_pid);
}

#[test]
fn dockerd_stopped_and_restarted() {
    let d = &PrivateDocker::fresh("restart-stop", "");
    let first = d.run("first", &[]);
    let w = Handle::docker(&d.endpoint());
    w.ready(SYNC).expect("ready");
    assert!(w.snapshot().get(&first).is_some());

    // A graceful stop ends the containers first (their deaths arrive as events).
    d.stop();
    w.wait(SEE, |s| s.containers.is_empty());
    w.ready(Duration::ZERO).expect("still ready while the engine is away");

    d.restart("");
    let second = d.run("second", &[]);
    let snap = w.wait(SEE, |s| s.get(&second).is_some());
    assert_eq!(snap.containers.len(), 1);
    assert_eq!(snap.get(&second).unwrap().pid, d.pid_of(&second));
    assert_eq!(snap.engine().pid, d.pid());
}
