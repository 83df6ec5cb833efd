//! The watch loop against a scripted engine that makes each race happen
//! exactly: events while a list is in flight, stream breaks, failed
//! connects and lists (the Go original's watcher scenarios that apply, and
//! the cases where it was wrong).

mod support;

use std::sync::Arc;
use std::time::Duration;

use support::eventually;
use support::scripted::{container, Scripted};
use whalewatcher::core::publish::Render;
use whalewatcher::core::{Backoff, Endpoint, EngineKind, EngineState, Options, Readiness, Snapshot, Watcher};

const WAIT: Duration = Duration::from_secs(5);

fn options(backoff: Backoff) -> Options {
    Options {
        engine: EngineKind::Docker,
        endpoint: Endpoint::Unix("/unused".into()),
        backoff,
        max_elapsed: None,
        call_timeout: Duration::from_secs(5),
        ignored_namespaces: Vec::new(),
        relist_interval: Duration::from_secs(1),
        cri_events: false,
        discover_interval: None,
        tls: None,
        audit_interval: None,
    }
}

fn constant() -> Backoff {
    Backoff::Constant { interval: Duration::from_millis(20) }
}

fn watch(engine: &Scripted, backoff: Backoff) -> Watcher<Snapshot> {
    let render: Render<Snapshot> = Arc::new(|s: &Snapshot, _| Arc::new(s.clone()));
    Watcher::start_with(Arc::new(engine.clone()), &options(backoff), render, || {}).expect("watcher starts")
}

/// (id, pid, paused) of every alive container, sorted by id.
fn alive(w: &Watcher<Snapshot>) -> Vec<(String, i32, bool)> {
    let mut v: Vec<_> = w.snapshot().containers().map(|(_, c)| (c.id().to_string(), c.pid, c.paused)).collect();
    v.sort();
    v
}

fn ids(w: &Watcher<Snapshot>) -> Vec<String> {
    alive(w).into_iter().map(|(id, _, _)| id).collect()
}

fn wait_list_started(engine: &Scripted, n: usize) {
    assert!(eventually(WAIT, || engine.lists_started() >= n), "list {n} never started");
}

fn both_list_kinds(test: impl Fn(Scripted)) {
    test(Scripted::new(true));
    test(Scripted::new(false));
}

#[test]
fn containers_alive_before_the_watch_are_listed() {
    both_list_kinds(|engine| {
        engine.start_silently(container("a", 10, false, ""));
        engine.start_silently(container("b", 11, true, "shop"));
        let w = watch(&engine, constant());
        assert_eq!(w.ready(Some(WAIT)), Readiness::Ready);
        assert_eq!(alive(&w), [("a".into(), 10, false), ("b".into(), 11, true)]);
        let snap = w.snapshot();
        assert!(snap.generation >= 1);
        assert_eq!(snap.engines[0].set.projects.iter().map(|p| &*p.name).collect::<Vec<_>>(), ["", "shop"]);
        assert_eq!(snap.engines[0].info.id, "scripted-id");
        assert_eq!(snap.engines[0].status.state, EngineState::Synced);
    });
}

#[test]
fn nothing_is_published_before_the_first_sync() {
    let engine = Scripted::new(false);
    engine.gate_lists();
    engine.start_silently(container("a", 10, false, ""));
    let w = watch(&engine, constant());
    wait_list_started(&engine, 1);
    engine.start(container("b", 11, false, ""));
    assert!(matches!(w.ready(Some(Duration::from_millis(100))), Readiness::TimedOut(_)));
    let snap = w.snapshot();
    assert_eq!((snap.generation, snap.len(), snap.engines[0].set.projects.len()), (0, 0, 1));
    assert_eq!(snap.engines[0].status.state, EngineState::Connecting);
    engine.release_list();
    assert_eq!(w.ready(Some(WAIT)), Readiness::Ready);
    assert_eq!(ids(&w), ["a", "b"]);
}

#[test]
fn a_container_started_during_the_list_is_added_once() {
    both_list_kinds(|engine| {
        engine.gate_lists();
        let w = watch(&engine, constant());
        wait_list_started(&engine, 1);
        // Started after the list looked: only the event tells.
        engine.start(container("late", 20, false, ""));
        engine.release_list();
        assert_eq!(w.ready(Some(WAIT)), Readiness::Ready);
        assert!(eventually(WAIT, || ids(&w) == ["late"]));
        // Started, seen by a second list too (the list of a resync): still once.
        engine.break_stream();
        engine.release_list();
        wait_list_started(&engine, 2);
        assert!(eventually(WAIT, || engine.connects() >= 2));
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(alive(&w), [("late".into(), 20, false)]);
    });
}

#[test]
fn a_container_that_dies_during_the_list_is_never_added_back() {
    both_list_kinds(|engine| {
        engine.start_silently(container("doomed", 30, false, ""));
        engine.start_silently(container("keeper", 31, false, ""));
        engine.gate_lists();
        let w = watch(&engine, constant());
        wait_list_started(&engine, 1);
        // The list already saw it alive; it dies before the list answers.
        engine.kill("doomed");
        // Make sure the death is applied before the list's answer.
        std::thread::sleep(Duration::from_millis(30));
        engine.release_list();
        assert_eq!(w.ready(Some(WAIT)), Readiness::Ready);
        std::thread::sleep(Duration::from_millis(30));
        assert_eq!(ids(&w), ["keeper"]);
    });
}

#[test]
fn pause_changes_during_the_list_are_applied_after_it() {
    let engine = Scripted::new(true);
    engine.start_silently(container("p", 40, false, ""));
    engine.gate_lists();
    let w = watch(&engine, constant());
    wait_list_started(&engine, 1);
    engine.pause("p", true);
    std::thread::sleep(Duration::from_millis(30));
    engine.release_list();
    assert_eq!(w.ready(Some(WAIT)), Readiness::Ready);
    assert_eq!(alive(&w), [("p".into(), 40, true)]);
    engine.pause("p", false);
    assert!(eventually(WAIT, || alive(&w) == [("p".into(), 40, false)]));
}

#[test]
fn a_restart_during_the_list_drops_the_old_pause() {
    // Paused, killed and restarted with the same ID while the list runs:
    // the reborn container runs, unpaused, with its new PID.
    both_list_kinds(|engine| {
        engine.start_silently(container("r", 50, false, ""));
        engine.gate_lists();
        let w = watch(&engine, constant());
        wait_list_started(&engine, 1);
        engine.pause("r", true);
        engine.kill("r");
        engine.start(container("r", 51, false, ""));
        std::thread::sleep(Duration::from_millis(30));
        engine.release_list();
        assert_eq!(w.ready(Some(WAIT)), Readiness::Ready);
        assert!(eventually(WAIT, || alive(&w) == [("r".into(), 51, false)]), "{:?}", alive(&w));
    });
}

#[test]
fn a_pause_after_the_restart_during_the_list_is_kept() {
    both_list_kinds(|engine| {
        engine.start_silently(container("r", 50, false, ""));
        engine.gate_lists();
        let w = watch(&engine, constant());
        wait_list_started(&engine, 1);
        engine.pause("r", true);
        engine.kill("r");
        engine.start(container("r", 51, false, ""));
        engine.pause("r", true);
        std::thread::sleep(Duration::from_millis(30));
        engine.release_list();
        assert_eq!(w.ready(Some(WAIT)), Readiness::Ready);
        assert!(eventually(WAIT, || alive(&w) == [("r".into(), 51, true)]), "{:?}", alive(&w));
    });
}

#[test]
fn events_for_unknown_containers_change_nothing() {
    let engine = Scripted::new(false);
    engine.start_silently(container("a", 60, false, ""));
    let w = watch(&engine, constant());
    assert_eq!(w.ready(Some(WAIT)), Readiness::Ready);
    let before = w.snapshot().generation;
    engine.pause("ghost", true);
    engine.kill("ghost");
    engine.rename("ghost", "spooky");
    // A start for a container that is gone again by the time it is inspected.
    engine.emit_only(whalewatcher::core::Event::new("phantom", whalewatcher::core::EventKind::Started));
    assert!(eventually(WAIT, || engine.inspects() >= 2));
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(alive(&w), [("a".into(), 60, false)]);
    assert_eq!(w.snapshot().generation, before, "no change, no new generation");
}

#[test]
fn live_events_start_pause_rename_and_kill() {
    let engine = Scripted::new(false);
    let w = watch(&engine, constant());
    assert_eq!(w.ready(Some(WAIT)), Readiness::Ready);
    assert_eq!(w.snapshot().generation, 1);
    engine.start(container("x", 70, false, "proj"));
    assert!(eventually(WAIT, || alive(&w) == [("x".into(), 70, false)]));
    assert!(w.snapshot().engines[0].set.projects.iter().any(|p| &*p.name == "proj"));
    engine.pause("x", true);
    assert!(eventually(WAIT, || alive(&w) == [("x".into(), 70, true)]));
    engine.rename("x", "renamed");
    assert!(eventually(WAIT, || w.snapshot().containers().next().is_some_and(|(_, c)| c.name() == "renamed")));
    let generation = w.snapshot().generation;
    engine.kill("x");
    assert!(eventually(WAIT, || alive(&w).is_empty()));
    let snap = w.snapshot();
    assert!(snap.generation > generation);
    assert!(
        !snap.engines[0].set.projects.iter().any(|p| &*p.name == "proj"),
        "a project disappears with its last container"
    );
    assert_eq!(snap.engines[0].set.projects.len(), 1);
}

#[test]
fn connect_failures_are_retried_and_ready_waits_for_success() {
    let engine = Scripted::new(false);
    engine.fail_connects(3);
    engine.start_silently(container("a", 80, false, ""));
    let w = watch(&engine, constant());
    assert!(
        matches!(w.ready(Some(Duration::from_millis(10))), Readiness::TimedOut(m) if m.contains("connection refused") || m.contains("not synchronised"))
    );
    assert_eq!(w.ready(Some(WAIT)), Readiness::Ready);
    assert_eq!(engine.connects(), 4);
    assert_eq!(ids(&w), ["a"]);
}

#[test]
fn no_backoff_gives_up_at_the_first_failure() {
    let engine = Scripted::new(false);
    engine.fail_connects(1);
    let w = watch(&engine, Backoff::None);
    match w.ready(Some(WAIT)) {
        Readiness::GaveUp(msg) => assert!(msg.contains("connection refused"), "{msg}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(engine.connects(), 1);
}

#[test]
fn a_failed_list_is_retried_without_a_stale_state() {
    let engine = Scripted::new(true);
    engine.fail_lists(Some("scripted: list failed"));
    engine.start_silently(container("a", 90, false, ""));
    let w = watch(&engine, constant());
    wait_list_started(&engine, 2);
    assert!(matches!(w.ready(Some(Duration::ZERO)), Readiness::TimedOut(m) if m.contains("list failed")));
    engine.fail_lists(None);
    assert_eq!(w.ready(Some(WAIT)), Readiness::Ready);
    assert_eq!(ids(&w), ["a"]);
}

#[test]
fn a_resync_keeps_the_old_snapshot_until_the_new_one_is_complete() {
    both_list_kinds(|engine| {
        engine.start_silently(container("old", 100, false, ""));
        engine.start_silently(container("stays", 101, false, ""));
        let w = watch(&engine, constant());
        assert_eq!(w.ready(Some(WAIT)), Readiness::Ready);
        let before = w.snapshot();
        // The engine goes away; meanwhile one container ends, another starts.
        engine.gate_lists();
        engine.break_stream();
        engine.kill_silently("old");
        engine.start_silently(container("new", 102, false, ""));
        wait_list_started(&engine, 2);
        for _ in 0..20 {
            let now = w.snapshot();
            assert!(Arc::ptr_eq(&now.engines[0].set, &before.engines[0].set), "the old containers stay visible");
            assert_eq!(now.generation, before.generation + 1, "one new generation: the engine's state");
            let status = &now.engines[0].status;
            assert_eq!(status.state, EngineState::Resyncing);
            assert!(!status.last_error.is_empty() && status.synced_at_ns == before.engines[0].status.synced_at_ns);
            assert_eq!(w.ready(Some(Duration::ZERO)), Readiness::Ready, "ready stays true during a resync");
            std::thread::sleep(Duration::from_millis(5));
        }
        engine.release_list();
        assert!(eventually(WAIT, || ids(&w) == ["new", "stays"]), "{:?}", ids(&w));
        assert!(w.snapshot().generation > before.generation);
        // The old snapshot the caller holds is unchanged.
        assert_eq!(before.len(), 2);
    });
}

#[test]
fn close_returns_promptly_while_a_list_hangs() {
    let engine = Scripted::new(true);
    engine.gate_lists();
    let w = watch(&engine, constant());
    wait_list_started(&engine, 1);
    let t = std::time::Instant::now();
    drop(w);
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
}
