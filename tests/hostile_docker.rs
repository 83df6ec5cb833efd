//! The Docker watcher against a fake engine that answers badly: malformed,
//! truncated, hostile or huge replies, events for unknown containers,
//! corrupt event streams and replies that never come. The watcher reports
//! an error or skips the item, keeps memory bounded, and never crashes or
//! hangs.

mod support;

use std::time::{Duration, Instant};

use support::abi::{options, Handle};
use support::fake_docker::{Behavior, Endpoint, FakeContainer, FakeDocker};
use support::rss_kib;
use whalewatcher::ffi::*;

const WAIT: Duration = Duration::from_secs(20);
/// One test at a time, so the memory measurement sees only its own work.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn watch(fake: &FakeDocker, call_timeout_ms: u32) -> Handle {
    let mut o = options();
    o.backoff_initial_ms = 50;
    o.backoff_max_ms = 200;
    o.call_timeout_ms = call_timeout_ms;
    Handle::new(&o, Some(&fake.endpoint())).expect("ww_new")
}

#[test]
fn one_container_the_engine_cannot_describe_is_skipped_then_retried() {
    let _serial = serial();
    for bad in [
        Behavior::Status(500, r#"{"message":"boom"}"#.into()),
        Behavior::RawBody(b"{\"Id\": \"unterminated".to_vec()),
        Behavior::RawBody(b"{\"Id\":\"\xff\xfe\",\"State\":{}}".to_vec()),
        Behavior::Truncated,
        Behavior::Hang,
    ] {
        let fake = FakeDocker::start();
        let good = fake.add(FakeContainer::new("good"));
        let bad_id = fake.add(FakeContainer::new("bad"));
        fake.set_inspect(&bad_id, bad.clone());
        let w = watch(&fake, 500);
        // The sync completes without it: one broken container never blocks readiness.
        w.ready(WAIT).unwrap_or_else(|e| panic!("{bad:?}: {e:?}"));
        let snap = w.snapshot();
        assert!(snap.get(&good).is_some() && snap.get(&bad_id).is_none(), "{bad:?}");
        // Once the engine can describe it again, a retry brings it in.
        fake.set_inspect(&bad_id, Behavior::Normal);
        w.wait(WAIT, |s| s.get(&bad_id).is_some());
        assert_eq!(fake.requests(Endpoint::List), 1, "{bad:?}: no resync was needed");
    }
}

#[test]
fn a_reply_for_another_container_is_refused() {
    let _serial = serial();
    let fake = FakeDocker::start();
    let real = fake.add(FakeContainer::new("real"));
    let other = FakeContainer::new("ghost");
    let ghost_id = other.id.clone();
    let body = format!(
        r#"{{"Id":"{ghost_id}","Name":"/ghost","State":{{"Status":"running","Running":true,"Paused":false,"Pid":4242}},"Config":{{"Labels":{{}}}}}}"#
    );
    fake.set_inspect(&real, Behavior::RawBody(body.into_bytes()));
    let w = watch(&fake, 0);
    w.ready(WAIT).expect("ready");
    let snap = w.snapshot();
    assert!(snap.get(&ghost_id).is_none() && snap.get(&real).is_none());
}

#[test]
fn hostile_strings_and_ids() {
    let _serial = serial();
    let fake = FakeDocker::start();
    let nul = fake.add(FakeContainer::new("nul\0name").with_label("k\0ey", "va\0lue"));
    let w = watch(&fake, 0);
    w.ready(WAIT).expect("ready");
    let c = w.snapshot().get(&nul).cloned().expect("tracked");
    assert_eq!(c.name, "nul\u{FFFD}name");
    assert!(c.labels.contains(&("k\u{FFFD}ey".into(), "va\u{FFFD}lue".into())));
    // Events with IDs that are no container IDs never reach a request path.
    let before = fake.requests(Endpoint::Inspect);
    for id in ["../../etc/passwd", "a b", ""] {
        fake.emit("start", id, &[]);
    }
    // An event for a container the engine does not know: inspected, 404, nothing changes.
    fake.emit("start", &"f".repeat(64), &[]);
    let marker = fake.run(FakeContainer::new("marker"));
    w.wait(WAIT, |s| s.get(&marker).is_some());
    assert_eq!(fake.requests(Endpoint::Inspect) - before, 2, "only the unknown and the marker were inspected");
    assert_eq!(w.snapshot().containers.len(), 2);
    assert!(fake.requests(Endpoint::Other) == 0, "no request went anywhere else");
}

#[test]
fn huge_labels_are_kept_and_memory_stays_bounded() {
    let _serial = serial();
    let fake = FakeDocker::start();
    let mut many = FakeContainer::new("many");
    for i in 0..10_000 {
        many = many.with_label(&format!("label.{i:05}"), "v");
    }
    let many = fake.add(many);
    let big = fake.add(FakeContainer::new("big").with_label("blob", &"x".repeat(1 << 20)));
    let small = fake.add(FakeContainer::new("small"));
    let base = rss_kib();
    let w = watch(&fake, 0);
    w.ready(WAIT).expect("ready");
    let snap = w.snapshot();
    assert_eq!(snap.get(&many).unwrap().labels.len(), 10_000);
    assert_eq!(snap.get(&big).unwrap().labels.iter().find(|(k, _)| k == "blob").unwrap().1.len(), 1 << 20);
    drop(snap);
    // Churn: every change makes a new snapshot with the big labels again; old
    // snapshots are freed, so memory levels off instead of growing with churn.
    let churn = |rounds: usize, flag: bool| {
        for i in 0..rounds {
            let paused = (i % 2 == 0) == flag;
            fake.pause(&small, paused);
            w.wait(WAIT, |s| s.get(&small).is_some_and(|c| c.paused == paused));
        }
    };
    churn(20, true);
    let settled = rss_kib();
    churn(150, false);
    churn(150, true);
    let grown = rss_kib().saturating_sub(settled);
    assert!(
        grown < 32 * 1024,
        "RSS grew by {grown} KiB over 300 more changes (after {} KiB for the first)",
        settled.saturating_sub(base)
    );
    assert!(w.snapshot().generation > 300, "the changes made new snapshots");
}

#[test]
fn corrupt_event_streams_resync_and_unknown_events_are_skipped() {
    let _serial = serial();
    let fake = FakeDocker::start();
    let w = watch(&fake, 0);
    w.ready(WAIT).expect("ready");
    // Valid JSON of a kind the client does not know: skipped, no resync.
    fake.emit_typed("starship", "launch", &"a".repeat(64), &[]);
    let one = fake.run(FakeContainer::new("one"));
    w.wait(WAIT, |s| s.get(&one).is_some());
    assert_eq!(fake.requests(Endpoint::List), 1);
    // Not JSON at all: the stream is corrupt, the watcher resynchronises.
    fake.emit_raw(b"{{{ not json \xff\n".to_vec());
    let end = Instant::now() + WAIT;
    while fake.requests(Endpoint::List) < 2 {
        assert!(Instant::now() < end, "no resync after a corrupt stream");
        std::thread::sleep(Duration::from_millis(10));
    }
    let two = fake.run(FakeContainer::new("two"));
    w.wait(WAIT, |s| s.get(&one).is_some() && s.get(&two).is_some());
    // Streams cut mid-chunk: resync again, state right after.
    fake.kill(&one);
    fake.break_streams();
    w.wait(WAIT, |s| s.get(&one).is_none() && s.get(&two).is_some());
}

#[test]
fn replies_that_never_come_bound_every_call() {
    let _serial = serial();
    let fake = FakeDocker::start();
    fake.add(FakeContainer::new("a"));
    for endpoint in [Endpoint::Info, Endpoint::List] {
        fake.set(endpoint, Behavior::Hang);
        let w = watch(&fake, 300);
        let (st, msg) = w.ready(Duration::from_millis(1200)).unwrap_err();
        assert_eq!(st, WW_STATUS_TIMEOUT, "{endpoint:?}: {msg}");
        let t = Instant::now();
        let p = w.raw_snapshot();
        unsafe { ww_snapshot_free(p) };
        assert!(t.elapsed() < Duration::from_millis(100));
        let t = Instant::now();
        drop(w);
        assert!(t.elapsed() < Duration::from_secs(3), "{endpoint:?}: ww_close took {:?}", t.elapsed());
        fake.set(endpoint, Behavior::Normal);
    }
}

#[test]
fn a_call_timeout_is_kept_to_the_millisecond() {
    let _serial = serial();
    let fake = FakeDocker::start();
    fake.set(Endpoint::List, Behavior::Hang);
    let mut o = options();
    o.backoff = WW_BACKOFF_NONE;
    o.call_timeout_ms = 1500;
    let t = Instant::now();
    let w = Handle::new(&o, Some(&fake.endpoint())).expect("ww_new");
    let (st, msg) = w.ready(WAIT).unwrap_err();
    let took = t.elapsed();
    assert_eq!(st, WW_STATUS_ENGINE, "{msg}");
    assert!(msg.contains("list: no answer within 1.5s"), "{msg}");
    assert!(took >= Duration::from_millis(1500), "gave up after {took:?}, before the 1.5 s the caller allowed");
    assert!(took < Duration::from_millis(2500), "gave up only after {took:?}");
}

#[test]
fn an_unusable_engine_clock_still_loses_no_event() {
    let _serial = serial();
    let fake = FakeDocker::start();
    fake.set(Endpoint::Info, Behavior::RawBody(br#"{"ID":"x","ServerVersion":"1","SystemTime":"yesterday"}"#.to_vec()));
    // The subscription reaches the engine late; events before it are replayed.
    fake.set(Endpoint::Events, Behavior::Delay(Duration::from_millis(1500)));
    let w = watch(&fake, 0);
    w.ready(WAIT).expect("ready");
    let late = fake.run(FakeContainer::new("late"));
    w.wait(WAIT, |s| s.get(&late).is_some());
}

#[test]
fn an_idle_watcher_makes_no_calls() {
    let _serial = serial();
    let fake = FakeDocker::start();
    fake.add_many(100);
    let w = watch(&fake, 0);
    w.ready(WAIT).expect("ready");
    std::thread::sleep(Duration::from_millis(200));
    fake.reset_counters();
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!((fake.requests_total(), fake.connections()), (0, 0));
    assert_eq!(w.snapshot().containers.len(), 100);
}
