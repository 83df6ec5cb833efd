//! Bounds under churn: tens of thousands of containers that start and die
//! at once, on an engine whose inspections are slow, leave no backlog: a
//! death drops the container's waiting inspection, at most 16 run at once,
//! memory returns, and the final snapshot is exact. (A fake engine: a real
//! one cannot produce this churn on demand.)

mod support;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use support::abi::{options, Handle};
use support::fake_docker::{fake_id, Behavior, Endpoint, FakeContainer, FakeDocker};
use support::rss_kib;

const PAIRS: usize = 20_000;

#[test]
fn start_die_churn_on_a_slow_engine_leaves_no_backlog() {
    let fake = FakeDocker::start();
    let mut real: BTreeSet<String> = (0..10).map(|i| fake.add(FakeContainer::new(&format!("real-{i}")))).collect();
    let mut o = options();
    o.audit_interval_ms = 0;
    let w = Handle::new(&o, Some(&fake.endpoint())).expect("ww_new");
    w.ready(Duration::from_secs(30)).expect("ready");
    let rss_before = rss_kib();
    fake.set(Endpoint::Inspect, Behavior::Delay(Duration::from_millis(100)));
    fake.reset_counters();
    let t = Instant::now();
    for _ in 0..PAIRS {
        let id = fake_id();
        fake.emit("start", &id, &[("name", "churn")]);
        fake.emit("die", &id, &[("name", "churn")]);
    }
    // Events are applied in order: once this one is seen, all were.
    let sentinel = fake.run(FakeContainer::new("sentinel"));
    real.insert(sentinel.clone());
    let snap = w.wait(Duration::from_secs(120), |s| s.get(&sentinel).is_some());
    let took = t.elapsed();
    let ids: BTreeSet<String> = snap.containers.iter().map(|c| c.id.clone()).collect();
    assert_eq!(ids, real, "exactly the alive containers");
    let inspections = fake.requests(Endpoint::Inspect);
    // Only what could start before its death arrived was inspected: at most
    // 16 at a time for as long as the churn lasted, never one per pair.
    let bound = 16 * (took.as_millis() as usize / 100 + 2) + 1;
    assert!(inspections <= bound.min(PAIRS / 10), "{inspections} inspections for {PAIRS} pairs in {took:?}");
    let grown = rss_kib().saturating_sub(rss_before);
    assert!(grown < 32 * 1024, "RSS grew by {grown} KiB");
    eprintln!("{PAIRS} start/die pairs in {took:?}: {inspections} inspections, RSS +{grown} KiB");
}
