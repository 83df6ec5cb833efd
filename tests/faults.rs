//! The fault matrix against real, private engines: engines stopped, killed,
//! replaced at the same socket and frozen, bursts of starts and kills, and
//! giving up. After each fault the snapshot must equal the engine's real
//! alive set, and during each fault `ww_snapshot` must keep answering.

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use support::abi::{options, Handle, Portfolio};
use support::containerd::PrivateContainerd;
use support::docker::PrivateDocker;
use whalewatcher::ffi::*;

const SYNC: Duration = Duration::from_secs(60);
const SETTLE: Duration = Duration::from_secs(60);
/// Bursts load the machine: one at a time.
static BURST: Mutex<()> = Mutex::new(());

type State = Vec<(String, i32, bool)>;

fn snapshot_state(p: &Portfolio) -> State {
    let mut v: State = p.containers.iter().map(|c| (c.id.clone(), c.pid, c.paused)).collect();
    v.sort();
    v
}

/// Docker's real alive set: running and paused containers with their PIDs.
fn docker_state(d: &PrivateDocker) -> State {
    let ids = d.docker(&["ps", "-q", "--no-trunc"]);
    if ids.is_empty() {
        return Vec::new();
    }
    let mut args = vec!["inspect", "-f", "{{.Id}} {{.State.Pid}} {{.State.Paused}}"];
    args.extend(ids.split_whitespace());
    let mut v: State = d
        .docker(&args)
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f[0].to_string(), f[1].parse().unwrap(), f[2] == "true")
        })
        .filter(|(_, pid, _)| *pid > 0)
        .collect();
    v.sort();
    v
}

/// containerd's real alive set in all namespaces but moby and k8s.io.
fn containerd_state(c: &PrivateContainerd) -> State {
    let mut v = State::new();
    for ns in c.ctr("default", &["namespaces", "ls", "-q"]).lines() {
        if ns == "moby" || ns == "k8s.io" {
            continue;
        }
        for l in c.ctr(ns, &["tasks", "ls"]).lines().skip(1) {
            let f: Vec<&str> = l.split_whitespace().collect();
            let paused = match f.get(2).copied() {
                Some("RUNNING") => false,
                Some("PAUSED") | Some("PAUSING") => true,
                _ => continue,
            };
            let id = if ns == "default" { f[0].to_string() } else { format!("{ns}/{}", f[0]) };
            v.push((id, f[1].parse().unwrap(), paused));
        }
    }
    v.sort();
    v
}

/// Waits until the snapshot equals `truth()` (both read anew each time).
fn settles(w: &Handle, truth: impl Fn() -> State) -> Portfolio {
    let end = Instant::now() + SETTLE;
    loop {
        let want = truth();
        let snap = w.snapshot();
        if snapshot_state(&snap) == want {
            return snap;
        }
        assert!(
            Instant::now() < end,
            "snapshot never matched the engine:\nsnapshot {:?}\nengine   {:?}",
            snapshot_state(&snap),
            want
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Takes snapshots in a loop on another thread and records the slowest call.
struct Prober {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Duration>>,
}

impl Prober {
    fn start(w: &Arc<Handle>) -> Prober {
        let stop = Arc::new(AtomicBool::new(false));
        let (w, s) = (Arc::clone(w), Arc::clone(&stop));
        let thread = std::thread::spawn(move || {
            let mut slowest = Duration::ZERO;
            while !s.load(Ordering::Relaxed) {
                let t = Instant::now();
                let p = w.raw_snapshot();
                unsafe { ww_snapshot_free(p) };
                let _ = w.ready(Duration::ZERO);
                slowest = slowest.max(t.elapsed());
                std::thread::sleep(Duration::from_millis(1));
            }
            slowest
        });
        Prober { stop, thread: Some(thread) }
    }

    /// The slowest `ww_snapshot` + `ww_ready(0)` seen; it must not have waited for the engine.
    fn finish(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let slowest = self.thread.take().unwrap().join().unwrap();
        assert!(slowest < Duration::from_millis(500), "a snapshot call blocked for {slowest:?}");
    }
}

fn watcher(engine: ww_engine, endpoint: &str, call_timeout_ms: u32) -> Arc<Handle> {
    let mut o = options();
    o.engine = engine;
    o.backoff_initial_ms = 100;
    o.backoff_max_ms = 1000;
    o.call_timeout_ms = call_timeout_ms;
    Arc::new(Handle::new(&o, Some(endpoint)).expect("ww_new"))
}

#[test]
fn docker_replaced_by_a_new_daemon_at_the_same_socket() {
    let d = &PrivateDocker::fresh("fault-replace", "");
    d.run("before", &[]);
    let w = watcher(WW_ENGINE_DOCKER, &d.endpoint(), 0);
    w.ready(SYNC).expect("ready");
    let old = settles(&w, || docker_state(d));
    let probe = Prober::start(&w);
    // The old daemon goes, its data too; a new one listens on the same path.
    d.stop();
    std::fs::remove_dir_all(&d.dir).unwrap();
    let d2 = PrivateDocker::start("fault-replace", "");
    assert_eq!(d2.socket, d.socket);
    d2.run("after", &[]);
    let snap = settles(&w, || docker_state(&d2));
    probe.finish();
    // (dockerd takes its ID from the host, so only its PID tells them apart.)
    assert_ne!(snap.engine().pid, old.engine().pid);
    assert_eq!(snap.engine().pid, d2.pid());
    assert!(snap.containers.iter().all(|c| old.get(&c.id).is_none()), "nothing of the old daemon is left");
}

#[test]
fn docker_frozen_longer_than_the_call_timeout() {
    let d = &PrivateDocker::fresh("fault-freeze", "");
    d.run("one", &[]);
    let pid = d.pid();
    // Frozen before the watcher starts: every call times out, the watcher retries.
    unsafe { libc::kill(pid, libc::SIGSTOP) };
    let w = watcher(WW_ENGINE_DOCKER, &d.endpoint(), 300);
    let probe = Prober::start(&w);
    let (st, msg) = w.ready(Duration::from_millis(1500)).unwrap_err();
    assert_eq!(st, WW_STATUS_TIMEOUT, "{msg}");
    assert!(msg.contains("no answer within"), "{msg}");
    // Closing a watcher whose engine hangs is prompt.
    let extra = watcher(WW_ENGINE_DOCKER, &d.endpoint(), 0);
    std::thread::sleep(Duration::from_millis(200));
    let t = Instant::now();
    drop(extra);
    assert!(t.elapsed() < Duration::from_secs(3), "ww_close took {:?}", t.elapsed());
    unsafe { libc::kill(pid, libc::SIGCONT) };
    w.ready(SYNC).expect("ready after the engine thawed");
    settles(&w, || docker_state(d));
    // Frozen while watching, a container dies meanwhile; all is right after.
    let victim = d.run("victim", &[]);
    let victim_pid = d.pid_of(&victim);
    settles(&w, || docker_state(d));
    unsafe { libc::kill(pid, libc::SIGSTOP) };
    unsafe { libc::kill(victim_pid, libc::SIGKILL) };
    std::thread::sleep(Duration::from_millis(1000));
    unsafe { libc::kill(pid, libc::SIGCONT) };
    settles(&w, || docker_state(d));
    probe.finish();
    assert!(w.snapshot().get(&victim).is_none());
}

/// Runs `n` jobs on 8 threads.
fn parallel(n: usize, job: impl Fn(usize) + Sync) {
    std::thread::scope(|s| {
        for worker in 0..8 {
            let job = &job;
            s.spawn(move || {
                for i in (worker..n).step_by(8) {
                    job(i);
                }
            });
        }
    });
}

#[test]
fn docker_burst_while_watching_and_during_the_initial_sync() {
    let _one = BURST.lock().unwrap_or_else(|e| e.into_inner());
    let d = &PrivateDocker::fresh("fault-burst", "");
    let w = watcher(WW_ENGINE_DOCKER, &d.endpoint(), 0);
    w.ready(SYNC).expect("ready");
    let probe = Prober::start(&w);
    // 200 starts, and 100 kills of them, all at once.
    let ids: Vec<Mutex<Option<String>>> = (0..200).map(|_| Mutex::new(None)).collect();
    parallel(300, |i| {
        if i < 200 {
            *ids[i].lock().unwrap() = Some(d.run(&format!("b{i}"), &[]));
        } else {
            let victim = 2 * (i - 200);
            let id = loop {
                if let Some(id) = ids[victim].lock().unwrap().clone() {
                    break id;
                }
                std::thread::sleep(Duration::from_millis(20));
            };
            d.docker(&["kill", &id]);
        }
    });
    let snap = settles(&w, || docker_state(d));
    assert_eq!(snap.containers.len(), 100);
    probe.finish();
    // The same burst while a new watcher does its initial sync.
    let ids: Vec<String> = docker_state(d).into_iter().map(|(id, _, _)| id).collect();
    let late = std::thread::scope(|s| {
        let burst = s.spawn(|| {
            parallel(200, |i| {
                if i < 100 {
                    d.run(&format!("c{i}"), &[]);
                } else {
                    d.docker(&["kill", &ids[i - 100]]);
                }
            })
        });
        std::thread::sleep(Duration::from_millis(300));
        let late = watcher(WW_ENGINE_DOCKER, &d.endpoint(), 0);
        burst.join().unwrap();
        late
    });
    late.ready(SYNC).expect("ready");
    let snap = settles(&late, || docker_state(d));
    assert_eq!(snap.containers.len(), 100);
    settles(&w, || docker_state(d));
}

#[test]
fn docker_no_backoff_and_exhausted_max_elapsed_give_up_with_the_last_snapshot() {
    let d = &PrivateDocker::fresh("fault-giveup", "");
    let id = d.run("kept", &[]);
    let mut none = options();
    none.backoff = WW_BACKOFF_NONE;
    let none = Handle::new(&none, Some(&d.endpoint())).unwrap();
    let mut elapsed = options();
    elapsed.backoff_initial_ms = 100;
    elapsed.backoff_max_elapsed_ms = 1500;
    let elapsed = Handle::new(&elapsed, Some(&d.endpoint())).unwrap();
    none.ready(SYNC).expect("ready");
    elapsed.ready(SYNC).expect("ready");
    let before = none.snapshot();
    assert!(before.get(&id).is_some());
    d.kill();
    for (w, how) in [(&none, "no backoff"), (&elapsed, "max elapsed")] {
        // Ready stays OK until the watcher has given up.
        let end = Instant::now() + Duration::from_secs(20);
        let (st, msg) = loop {
            match w.ready(Duration::ZERO) {
                Err(e) => break e,
                Ok(()) => assert!(Instant::now() < end, "{how}: never gave up"),
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        assert_eq!(st, WW_STATUS_ENGINE, "{how}: {msg}");
        assert!(msg.contains("gave up") && msg.contains(&d.endpoint()), "{how}: {msg}");
        let last = w.snapshot();
        assert_eq!(last.containers, before.containers, "{how}: the last good snapshot stays readable");
        assert_eq!(last.engine().state, WW_ENGINE_STATE_GAVE_UP, "{how}");
        assert!(last.engine().last_error.contains(&d.endpoint()), "{how}: {:?}", last.engine());
        // Nothing changes anymore: waiting says so at once.
        let (st, _) = w.wait_after(last.generation, Duration::from_secs(10)).unwrap_err();
        assert_eq!(st, WW_STATUS_ENGINE, "{how}");
    }
}

#[test]
fn containerd_stopped_killed_and_bursts() {
    let _one = BURST.lock().unwrap_or_else(|e| e.into_inner());
    let c = &PrivateContainerd::fresh("fault-ctrd", &["default", "fb"]);
    c.run("default", "pre", &[]);
    let w = watcher(WW_ENGINE_CONTAINERD, &c.endpoint(), 0);
    w.ready(SYNC).expect("ready");
    let probe = Prober::start(&w);
    settles(&w, || containerd_state(c));

    // Killed; meanwhile a container ends and another starts without it.
    let pre_pid = c.pid_of("default", "pre");
    c.kill();
    unsafe { libc::kill(pre_pid, libc::SIGKILL) };
    c.restart();
    c.run("fb", "while-away", &[]);
    settles(&w, || containerd_state(c));

    // A burst: 200 starts and 100 kills at once.
    parallel(300, |i| {
        if i < 200 {
            c.run("fb", &format!("b{i}"), &[]);
        } else {
            let victim = format!("b{}", 2 * (i - 200));
            while c.try_ctr("fb", &["tasks", "kill", "-s", "SIGKILL", &victim]).is_err() {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    });
    let snap = settles(&w, || containerd_state(c));
    assert!(snap.containers.len() >= 100);

    // Frozen longer than the call timeout, while a task is paused meanwhile.
    let pid = c.pid();
    unsafe { libc::kill(pid, libc::SIGSTOP) };
    std::thread::sleep(Duration::from_millis(1500));
    unsafe { libc::kill(pid, libc::SIGCONT) };
    c.ctr("fb", &["tasks", "pause", "b1"]);
    settles(&w, || containerd_state(c));

    // Stopped gracefully (its tasks end with it) and started again.
    c.stop();
    c.restart();
    c.run("default", "after", &[]);
    settles(&w, || containerd_state(c));
    probe.finish();
}
