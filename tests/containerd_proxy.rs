//! A real containerd behind a gRPC proxy: one that refuses `Publish` (so
//! the subscription marker cannot be sent) and one that makes every call
//! slow, for a synchronisation over many namespaces that takes longer
//! than the call timeout while each call stays within it.

mod support;

use std::time::{Duration, Instant};

use support::abi::{options, Handle};
use support::containerd::{shared, PrivateContainerd};
use support::grpc_proxy::{GrpcProxy, Rules};
use whalewatcher::ffi::*;

const SYNC: Duration = Duration::from_secs(60);
const SEE: Duration = Duration::from_secs(10);

fn engine() -> &'static PrivateContainerd {
    shared("containerd-proxy")
}

fn watcher(endpoint: &str, call_timeout_ms: u32) -> Handle {
    let mut o = options();
    o.engine = WW_ENGINE_CONTAINERD;
    o.backoff = WW_BACKOFF_NONE;
    o.call_timeout_ms = call_timeout_ms;
    Handle::new(&o, Some(endpoint)).expect("ww_new")
}

#[test]
fn a_containerd_that_refuses_publish_is_synchronised_and_followed() {
    let c = engine();
    let proxy = GrpcProxy::start(
        &c.dir.join("no-publish.sock"),
        &c.socket,
        Rules { refuse: vec!["/containerd.services.events.v1.Events/Publish".into()], ..Rules::default() },
    );
    c.run("default", "before-np", &[]);
    // Without retries: a watcher that could not sync would give up here.
    let w = watcher(&proxy.endpoint(), 5000);
    w.ready(SYNC).expect("ready without the subscription marker");
    assert_eq!(w.snapshot().get("before-np").map(|x| x.pid), Some(c.pid_of("default", "before-np")));
    // The subscription works: what follows is seen through events.
    c.run("default", "after-np", &[]);
    let snap = w.wait(SEE, |s| s.get("after-np").is_some());
    assert_eq!(snap.get("after-np").unwrap().pid, c.pid_of("default", "after-np"));
    c.ctr("default", &["tasks", "pause", "after-np"]);
    w.wait(SEE, |s| s.get("after-np").is_some_and(|x| x.paused));
    c.kill_task("default", "before-np");
    let snap = w.wait(SEE, |s| s.get("before-np").is_none());
    assert_eq!(snap.engine().state, WW_ENGINE_STATE_SYNCED);
    c.ctr("default", &["tasks", "resume", "after-np"]);
    c.remove("default", "before-np");
    c.remove("default", "after-np");
}

#[test]
fn a_sync_longer_than_the_call_timeout_succeeds_when_each_call_is_within_it() {
    let c = engine();
    const NAMESPACES: usize = 30;
    for i in 0..NAMESPACES {
        // The shared engine may have them from an earlier run.
        if let Err(e) = c.try_ctr("default", &["namespaces", "create", &format!("many-{i:02}")]) {
            assert!(e.contains("already exists"), "{e}");
        }
    }
    c.run("wwtest", "deep", &[]);
    // Every call 60 ms: a sync of 1 + 2 x 33 calls takes about 4 s, four
    // times the call timeout.
    let proxy = GrpcProxy::start(
        &c.dir.join("slow.sock"),
        &c.socket,
        Rules { delay: Duration::from_millis(60), ..Rules::default() },
    );
    let w = watcher(&proxy.endpoint(), 1000);
    let t = Instant::now();
    w.ready(SYNC).expect("ready: each call is bounded by itself");
    assert!(t.elapsed() > Duration::from_secs(1), "the sync took longer than one call may: {:?}", t.elapsed());
    assert_eq!(w.snapshot().get("wwtest/deep").map(|x| x.pid), Some(c.pid_of("wwtest", "deep")));
    c.remove("wwtest", "deep");
}
