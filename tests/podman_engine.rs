//! The podman engine against a real podman API service: every lifecycle
//! step ends in an exact snapshot, pods fill the pod fields, and the
//! watcher survives the service going away. (podman's Docker API differs
//! from Docker's where it matters: see src/core/engines/podman.rs.)

mod support;

use std::time::Duration;

use support::abi::{Handle, Portfolio};
use support::podman::PrivatePodman;
use whalewatcher::ffi::*;

const SYNC: Duration = Duration::from_secs(30);
const SEE: Duration = Duration::from_secs(20);

/// (ID, PID, paused) of every container in the snapshot, sorted.
fn alive(s: &Portfolio) -> Vec<(String, i32, bool)> {
    let mut v: Vec<_> = s.containers.iter().map(|c| (c.id.clone(), c.pid, c.paused)).collect();
    v.sort();
    v
}

/// Waits until the snapshot shows exactly what podman says is alive.
fn exact(w: &Handle, p: &PrivatePodman, step: &str) -> Portfolio {
    let mut want = p.alive();
    let end = std::time::Instant::now() + SEE;
    loop {
        let snap = w.snapshot();
        if alive(&snap) == want {
            return snap;
        }
        assert!(std::time::Instant::now() < end, "{step}: snapshot {:?} != podman's {want:?}", alive(&snap));
        std::thread::sleep(Duration::from_millis(20));
        want = p.alive();
    }
}

#[test]
fn every_lifecycle_step_ends_in_an_exact_snapshot() {
    let p = PrivatePodman::fresh("podman-life", "file");
    let before = p.run("before", &[("com.docker.compose.project", "shop")], None, &[]);
    let w = Handle::podman(&p.endpoint());
    w.ready(SYNC).expect("ready");
    let snap = exact(&w, &p, "sync");
    let e = snap.engine();
    assert_eq!((e.kind, e.engine_type.as_str(), e.state), (WW_ENGINE_PODMAN, "podman.io", WW_ENGINE_STATE_SYNCED));
    assert_eq!((e.endpoint.as_str(), e.pid), (p.endpoint().as_str(), p.pid()));
    assert_eq!(e.version, p.podman(&["version", "-f", "{{.Server.Version}}"]));
    let c = snap.get(&before).expect("listed");
    assert_eq!((c.name.as_str(), c.project.as_str(), c.image.as_str()), ("before", "shop", "localhost/busybox:local"));
    assert!(c.image_id.starts_with("sha256:") && c.image_id.len() == 71, "{}", c.image_id);
    assert!(c.started_at_ns > 0 && !c.privileged && c.pod_name.is_empty());
    assert_eq!(snap.project("shop").map(|cs| cs.len()), Some(1));

    let started = p.run("started", &[], None, &[]);
    exact(&w, &p, "start");
    p.podman(&["pause", "started"]);
    assert!(exact(&w, &p, "pause").get(&started).unwrap().paused);
    p.podman(&["unpause", "started"]);
    assert!(!exact(&w, &p, "unpause").get(&started).unwrap().paused);
    p.podman(&["stop", "-t", "0", "started"]);
    assert!(exact(&w, &p, "stop").get(&started).is_none());
    let killed = p.run("killed", &[], None, &[]);
    exact(&w, &p, "start before kill");
    p.podman(&["kill", "killed"]);
    assert!(exact(&w, &p, "kill").get(&killed).is_none());
    let removed = p.run("removed", &[], None, &[]);
    exact(&w, &p, "start before rm");
    p.podman(&["rm", "-f", "-t", "0", "removed"]);
    assert!(exact(&w, &p, "rm -f").get(&removed).is_none());
    let brief = p.run("brief", &[], None, &["/bin/sleep", "1"]);
    let end = std::time::Instant::now() + SEE;
    while p.alive().iter().any(|(id, _, _)| *id == brief) {
        assert!(std::time::Instant::now() < end, "brief never ended");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(exact(&w, &p, "exit on its own").get(&brief).is_none());
    let old_pid = p.pid_of(&before);
    p.podman(&["restart", "-t", "0", "before"]);
    let snap = exact(&w, &p, "restart");
    let again = snap.get(&before).expect("restarted");
    assert_ne!(again.pid, old_pid);
    p.podman(&["rename", "before", "renamed"]);
    w.wait(SEE, |s| s.get(&before).is_some_and(|c| c.name == "renamed"));
}

#[test]
fn pods_fill_the_pod_fields_and_the_infra_container_is_the_sandbox() {
    let p = PrivatePodman::fresh("podman-pods", "file");
    let w = Handle::podman(&p.endpoint());
    w.ready(SYNC).expect("ready");
    let pod = p.pod("mypod");
    let member = p.run("member", &[], Some("mypod"), &[]);
    let infra = p.infra_of("mypod");
    let snap = exact(&w, &p, "pod started");
    let m = snap.get(&member).expect("member");
    assert_eq!(
        (m.pod_name.as_str(), m.pod_uid.as_str(), m.pod_namespace.as_str(), m.pod_sandbox),
        ("mypod", pod.as_str(), "", false)
    );
    let i = snap.get(&infra).expect("infra");
    assert_eq!((i.pod_name.as_str(), i.pod_uid.as_str(), i.pod_sandbox), ("mypod", pod.as_str(), true));
    assert!(m.project.is_empty(), "pods are not compose projects");
    p.podman(&["pod", "rm", "-f", "-t", "0", "mypod"]);
    let snap = exact(&w, &p, "pod removed");
    assert!(snap.get(&member).is_none() && snap.get(&infra).is_none());
}

#[test]
fn a_service_killed_and_restarted_is_resynchronised() {
    let p = PrivatePodman::fresh("podman-restart", "file");
    let keep = p.run("keep", &[], None, &[]);
    let doomed = p.run("doomed", &[], None, &[]);
    let w = Handle::podman(&p.endpoint());
    w.ready(SYNC).expect("ready");
    let before = exact(&w, &p, "sync").engine().id.clone();
    // podman has no engine ID: its host and its storage stand for it.
    let host = p.podman(&["info", "--format", "{{.Host.Hostname}}"]);
    let storage = p.podman(&["info", "--format", "{{.Store.GraphRoot}}"]);
    assert_eq!(before, format!("{host}:{storage}"));
    let doomed_pid = p.pid_of(&doomed);
    p.kill();
    w.wait(SEE, |s| s.engine().state == WW_ENGINE_STATE_RESYNCING);
    unsafe { libc::kill(doomed_pid, libc::SIGKILL) };
    p.restart();
    let fresh = p.run("fresh", &[], None, &[]);
    let snap = exact(&w, &p, "after the restart");
    assert!(snap.get(&keep).is_some() && snap.get(&fresh).is_some() && snap.get(&doomed).is_none());
    let after = w.wait(SEE, |s| s.engine().state == WW_ENGINE_STATE_SYNCED);
    assert_eq!(after.engine().pid, p.pid());
    assert_eq!(after.engine().id, before, "the same podman after its restart");
}

#[test]
fn a_service_without_an_event_log_is_relisted() {
    let p = PrivatePodman::fresh("podman-nolog", "none");
    let w = Handle::podman(&p.endpoint());
    w.ready(SYNC).expect("ready");
    let started = p.run("started", &[], None, &[]);
    exact(&w, &p, "start, seen by relisting");
    p.podman(&["pause", "started"]);
    assert!(exact(&w, &p, "pause, seen by relisting").get(&started).unwrap().paused);
    p.podman(&["unpause", "started"]);
    assert!(!exact(&w, &p, "unpause, seen by relisting").get(&started).unwrap().paused);
    p.podman(&["restart", "-t", "0", "started"]);
    exact(&w, &p, "restart, seen by relisting");
    p.podman(&["kill", "started"]);
    assert!(exact(&w, &p, "kill, seen by relisting").get(&started).is_none());
}

#[test]
fn a_docker_watcher_pointed_at_podman_watches_it_as_podman() {
    // As with podman-docker's docker.sock or DOCKER_HOST set to podman's socket.
    let p = PrivatePodman::fresh("podman-as-docker", "file");
    let pod = p.pod("dpod");
    let member = p.run("member", &[], Some("dpod"), &[]);
    let w = Handle::docker(&p.endpoint());
    w.ready(SYNC).expect("ready");
    let snap = exact(&w, &p, "sync");
    assert_eq!((snap.engine().kind, snap.engine().engine_type.as_str()), (WW_ENGINE_PODMAN, "podman.io"));
    assert_eq!(snap.get(&member).map(|c| (c.pod_name.as_str(), c.pod_uid.as_str())), Some(("dpod", pod.as_str())));
    p.podman(&["kill", "member"]);
    assert!(exact(&w, &p, "kill").get(&member).is_none(), "a death podman reports in its own words is seen");
}
