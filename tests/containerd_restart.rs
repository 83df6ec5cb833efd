//! The containerd watcher across containerd being killed and restarted:
//! the old snapshot stays visible meanwhile, and the state is right after.

mod support;

use std::time::{Duration, Instant};

use support::abi::Handle;
use support::containerd::PrivateContainerd;
use whalewatcher::ffi::{WW_ENGINE_STATE_RESYNCING, WW_ENGINE_STATE_SYNCED};

#[test]
fn containerd_killed_and_restarted() {
    let c = &PrivateContainerd::fresh("ctrd-restart", &["default", "rs"]);
    c.run("default", "keep", &[]);
    c.run("rs", "doomed", &[]);
    let doomed_pid = c.pid_of("rs", "doomed");
    let w = Handle::containerd(&c.endpoint(), None);
    w.ready(Duration::from_secs(30)).expect("ready");
    let before = w.snapshot();
    assert_eq!(before.containers.len(), 2);

    c.kill();
    unsafe { libc::kill(doomed_pid, libc::SIGKILL) };
    let end = Instant::now() + Duration::from_secs(1);
    let mut resyncing = false;
    while Instant::now() < end {
        let now = w.snapshot();
        assert_eq!(now.containers, before.containers, "old snapshot stays visible");
        let e = now.engine();
        resyncing |= e.state == WW_ENGINE_STATE_RESYNCING;
        assert!(
            e.state == WW_ENGINE_STATE_SYNCED || (e.state == WW_ENGINE_STATE_RESYNCING && !e.last_error.is_empty()),
            "{e:?}"
        );
        assert_eq!(e.synced_at_ns, before.engine().synced_at_ns);
        w.ready(Duration::ZERO).expect("still ready while reconnecting");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(resyncing, "the snapshot tells that it is stale");

    c.restart();
    c.run("rs", "fresh", &[]);
    let snap = w.wait(Duration::from_secs(20), |s| {
        let mut ids: Vec<&str> = s.containers.iter().map(|c| c.id.as_str()).collect();
        ids.sort();
        ids == ["keep", "rs/fresh"]
    });
    assert_eq!(snap.get("keep").unwrap().pid, c.pid_of("default", "keep"));
    assert_eq!(snap.get("rs/fresh").unwrap().pid, c.pid_of("rs", "fresh"));
    assert_eq!(snap.engine().pid, c.pid());
    let e = w.wait(Duration::from_secs(5), |s| s.engine().state == WW_ENGINE_STATE_SYNCED).engines[0].clone();
    assert!(e.synced_at_ns > before.engine().synced_at_ns && e.last_error.is_empty(), "{e:?}");
}
