//! Discovery and the watcher of all engines, against real engines: what is
//! found, how, with which PID and owner; what is not listed; one watcher
//! over Docker, containerd and podman showing each container once; engines
//! that come and go.

mod support;

use std::os::unix::net::UnixListener;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use support::abi::{discover, options, Discovered, Handle, Portfolio};
use support::containerd::PrivateContainerd;
use support::docker::PrivateDocker;
use support::podman::PrivatePodman;
use whalewatcher::ffi::*;

const SYNC: Duration = Duration::from_secs(30);
const SEE: Duration = Duration::from_secs(20);

/// Discovery sees the whole host: one test at a time.
static HOST: Mutex<()> = Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    HOST.lock().unwrap_or_else(|e| e.into_inner())
}

fn at<'a>(found: &'a [Discovered], endpoint: &str) -> Option<&'a Discovered> {
    found.iter().find(|d| d.endpoint == endpoint)
}

#[test]
fn engines_are_found_by_process_with_their_serving_pids() {
    let _host = one_at_a_time();
    let d = PrivateDocker::fresh("disc-d", "");
    let activated = PrivateDocker::fresh_activated("disc-act");
    let c = PrivateContainerd::fresh("disc-c", &["default"]);
    let p = PrivatePodman::fresh("disc-p", "file");
    let found = discover();
    let docker = at(&found, &d.endpoint()).unwrap_or_else(|| panic!("{} not in {found:#?}", d.endpoint()));
    assert_eq!(
        (docker.kind, docker.pid, docker.found_by.as_str(), docker.uid),
        (WW_ENGINE_DOCKER, d.pid(), "process", 0)
    );
    let act = at(&found, &activated.endpoint()).expect("the socket-activated dockerd");
    assert_eq!((act.kind, act.pid), (WW_ENGINE_DOCKER, activated.pid()), "the serving dockerd, not its activator");
    let ctrd = at(&found, &c.endpoint()).expect("containerd");
    assert_eq!((ctrd.kind, ctrd.pid), (WW_ENGINE_CONTAINERD, c.pid()), "containerd, not CRI");
    assert!(!found.iter().any(|f| f.endpoint.ends_with(".ttrpc")), "containerd's ttrpc socket is no engine");
    let pm = at(&found, &p.endpoint()).expect("podman");
    assert_eq!((pm.kind, pm.pid), (WW_ENGINE_PODMAN, p.pid()));
    // dockerd's own containerd is found too (the watcher of all engines
    // ignores Docker's namespaces on it).
    let managed = format!("unix://{}/exec/containerd/containerd.sock", d.dir.display());
    assert_eq!(at(&found, &managed).map(|f| f.kind), Some(WW_ENGINE_CONTAINERD));
    // Each socket once.
    let mut endpoints: Vec<&str> = found.iter().map(|f| f.endpoint.as_str()).collect();
    endpoints.sort();
    let n = endpoints.len();
    endpoints.dedup();
    assert_eq!(endpoints.len(), n, "{found:#?}");
}

#[test]
fn the_environment_and_well_known_paths_are_found_with_the_sockets_owner() {
    let _host = one_at_a_time();
    // A rootless-style Docker socket of user 4242, and containerd named by
    // CONTAINERD_ADDRESS.
    let dir = "/run/user/4242";
    let d = PrivateDocker::fresh_in(dir, "");
    std::os::unix::fs::chown(&d.socket, Some(4242), None).unwrap();
    let c = PrivateContainerd::fresh("disc-env", &["default"]);
    std::env::set_var("CONTAINERD_ADDRESS", &c.socket);
    let found = discover();
    std::env::remove_var("CONTAINERD_ADDRESS");
    let rootless = at(&found, &format!("unix://{dir}/docker.sock")).unwrap_or_else(|| panic!("{found:#?}"));
    assert_eq!(
        (rootless.kind, rootless.uid, rootless.found_by.as_str(), rootless.pid),
        (WW_ENGINE_DOCKER, 4242, "path", d.pid())
    );
    let env = at(&found, &c.endpoint()).expect("containerd");
    assert_eq!((env.found_by.as_str(), env.pid), ("env", c.pid()), "found first through the environment, listed once");
    drop(d);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn what_does_not_answer_as_an_engine_is_not_listed() {
    let _host = one_at_a_time();
    let base = Path::new("/run/user");
    let dead = base.join("4243/docker.sock");
    let mute = base.join("4244/podman/podman.sock");
    let closer = base.join("4245/docker.sock");
    for p in [&dead, &mute, &closer] {
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        let _ = std::fs::remove_file(p);
    }
    // A socket file nobody listens on.
    drop(UnixListener::bind(&dead).unwrap());
    // A listener that never answers.
    let _mute = UnixListener::bind(&mute).unwrap();
    // A listener that hangs up at once.
    let closing = UnixListener::bind(&closer).unwrap();
    let closer_thread = std::thread::spawn(move || {
        for conn in closing.incoming().take(4) {
            drop(conn);
        }
    });
    let t = Instant::now();
    let found = discover();
    let took = t.elapsed();
    for p in [&dead, &mute, &closer] {
        assert!(at(&found, &format!("unix://{}", p.display())).is_none(), "{} listed: {found:#?}", p.display());
    }
    assert!(took < Duration::from_secs(3), "a mute socket held discovery for {took:?}");
    drop(closer_thread);
    for d in ["4243", "4244", "4245"] {
        let _ = std::fs::remove_dir_all(base.join(d));
    }
}

#[test]
fn an_engine_in_another_mount_namespace_is_reached_through_proc() {
    let _host = one_at_a_time();
    let c = PrivateContainerd::fresh_unshared("disc-ns", &["default"]);
    assert!(!Path::new(&c.inner_socket).exists(), "the socket is not visible from here");
    let found = discover();
    let via_proc = format!("unix:///proc/{}/root{}", c.pid(), c.inner_socket);
    let f = at(&found, &via_proc).unwrap_or_else(|| panic!("{via_proc} not in {found:#?}"));
    assert_eq!((f.kind, f.pid), (WW_ENGINE_CONTAINERD, c.pid()));
    c.run("default", "in-its-ns", &[]);
    let pid = c.pid_of("default", "in-its-ns");
    // Its task bundles are read through /proc/PID/root too.
    let bundles = whalewatcher::core::engines::containerd_files::Bundles::locate(c.pid()).expect("its bundles");
    assert_eq!(bundles.read("default", "in-its-ns").map(|t| t.pid as i32), Some(pid));
    let w = Handle::containerd(&via_proc, None);
    w.ready(SYNC).expect("watched through /proc/PID/root");
    assert_eq!(w.snapshot().get("in-its-ns").map(|x| x.pid), Some(pid));
}

fn auto(interval_ms: u32) -> Handle {
    let mut o = options();
    o.engine = WW_ENGINE_AUTO;
    o.backoff_initial_ms = 100;
    o.backoff_max_ms = 500;
    o.discover_interval_ms = interval_ms;
    Handle::new(&o, None).expect("ww_new")
}

fn engine_index(s: &Portfolio, endpoint: &str) -> Option<u32> {
    s.engines.iter().position(|e| e.endpoint == endpoint).map(|i| i as u32)
}

#[test]
fn one_watcher_shows_every_engines_containers_once() {
    let _host = one_at_a_time();
    // dockerd keeps its containers in a namespace of its own choosing on
    // its containerd: that containerd must not show them again.
    let d = PrivateDocker::fresh("auto-d", "--containerd-namespace=wwt-auto-ns");
    let c = PrivateContainerd::fresh("auto-c", &["default"]);
    let p = PrivatePodman::fresh("auto-p", "file");
    let did = d.run("auto-docker", &[]);
    c.run("default", "auto-ctrd", &[]);
    let pid = p.run("auto-podman", &[], None, &[]);
    let w = auto(500);
    w.ready(SYNC).expect("ready");
    let snap = w.wait(SEE, |s| {
        ["auto-docker", "auto-ctrd", "auto-podman"].iter().all(|n| s.containers.iter().any(|c| c.name == *n))
    });
    for (name, endpoint, kind, id) in [
        ("auto-docker", d.endpoint(), WW_ENGINE_DOCKER, did.as_str()),
        ("auto-ctrd", c.endpoint(), WW_ENGINE_CONTAINERD, "auto-ctrd"),
        ("auto-podman", p.endpoint(), WW_ENGINE_PODMAN, pid.as_str()),
    ] {
        let cs: Vec<_> = snap.containers.iter().filter(|c| c.id == id || c.id.ends_with(&format!("/{id}"))).collect();
        assert_eq!(cs.len(), 1, "{name} once: {cs:#?}");
        let e = &snap.engines[cs[0].engine as usize];
        assert_eq!((e.endpoint.as_str(), e.kind, e.state), (endpoint.as_str(), kind, WW_ENGINE_STATE_SYNCED), "{name}");
    }
    // An engine started later appears within a discovery interval.
    let late = PrivateContainerd::fresh("auto-late", &["default"]);
    late.run("default", "auto-late", &[]);
    let snap = w.wait(SEE, |s| s.containers.iter().any(|c| c.name == "auto-late"));
    let late_index = engine_index(&snap, &late.endpoint()).expect("the late engine");
    let d_index = engine_index(&snap, &d.endpoint()).expect("dockerd");
    // One that stops resynchronises, then gives up once it is no longer
    // found, and its containers leave.
    late.stop();
    let snap = w.wait(SEE, |s| s.engines[late_index as usize].state == WW_ENGINE_STATE_GAVE_UP);
    assert!(!snap.containers.iter().any(|c| c.engine == late_index), "its containers left");
    assert!(
        snap.engines[late_index as usize].last_error.contains("no longer found"),
        "{:?}",
        snap.engines[late_index as usize]
    );
    // Started again at the same endpoint, it keeps its index.
    late.restart();
    late.run("default", "auto-late2", &[]);
    let snap = w.wait(SEE, |s| s.containers.iter().any(|c| c.name == "auto-late2"));
    assert_eq!(engine_index(&snap, &late.endpoint()), Some(late_index));
    assert_eq!(engine_index(&snap, &d.endpoint()), Some(d_index));
    w.ready(Duration::ZERO).expect("still ready");
}
