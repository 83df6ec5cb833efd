//! CRI runtimes against a real containerd with its CRI plugin, driven
//! through the CRI API as kubelet would: pods and their sandboxes, a
//! container that exits and is created again in its pod, a pod removed;
//! relisting (the default), the runtime's event stream where containerd 1.7
//! has it, and the fallback where containerd 1.6 lacks it. Also the
//! containerd engine's own view of the same pods (namespace k8s.io).

mod support;

use std::time::{Duration, Instant};

use support::abi::{Ctr, Handle, Portfolio};
use support::cri::PrivateCri;
use support::fake_docker::FakeDocker;
use whalewatcher::ffi::*;

const SYNC: Duration = Duration::from_secs(30);
const SEE: Duration = Duration::from_secs(20);

const POD: (&str, &str, &str) = ("web-0", "shop", "4b2c7a6e-0000-4000-8000-000000000001");

fn by_name<'a>(s: &'a Portfolio, name: &str) -> Option<&'a Ctr> {
    s.containers.iter().find(|c| c.name == name)
}

fn ids(s: &Portfolio) -> Vec<String> {
    let mut v: Vec<String> = s.containers.iter().map(|c| c.id.clone()).collect();
    v.sort();
    v
}

/// Pods, containers, exits, re-creation and removal, seen through `w`;
/// `prefix` is how the watcher shows IDs ("" for CRI, "k8s.io/" for
/// containerd's own view).
fn pods_come_and_go(cri: &mut PrivateCri, w: &Handle, prefix: &str) {
    let sandbox = cri.run_pod(POD.0, POD.1, POD.2);
    let app = cri.run_container(&sandbox, POD, "app", 0, false, &[]);
    let helper = cri.run_container(&sandbox, POD, "helper", 0, true, &[]);
    let (sandbox_id, app_id, helper_id) =
        (format!("{prefix}{sandbox}"), format!("{prefix}{app}"), format!("{prefix}{helper}"));
    let snap = w.wait(SEE, |s| [&sandbox_id, &app_id, &helper_id].iter().all(|id| s.get(id).is_some()));
    let sb = snap.get(&sandbox_id).unwrap();
    assert_eq!((sb.name.as_str(), sb.pod_sandbox), (POD.0, true), "a sandbox goes by its pod's name");
    assert_eq!((sb.pod_name.as_str(), sb.pod_namespace.as_str(), sb.pod_uid.as_str()), POD);
    if prefix.is_empty() {
        assert!(sb.privileged, "the sandbox's CRI security context");
    }
    assert_eq!(sb.pid, cri.pid_of(&sandbox, true));
    for (id, raw, name, privileged) in [(&app_id, &app, "app", false), (&helper_id, &helper, "helper", true)] {
        let c = snap.get(id).unwrap();
        assert_eq!((c.name.as_str(), c.pod_sandbox, c.project.as_str()), (name, false, ""));
        assert_eq!((c.pod_name.as_str(), c.pod_namespace.as_str(), c.pod_uid.as_str()), POD);
        assert_eq!(c.pid, cri.pid_of(raw, false));
        assert_eq!(c.image, "docker.io/library/busybox:local");
        assert!(c.image_id.starts_with("sha256:"), "{}", c.image_id);
        let age = whalewatcher::core::model::unix_now_ns() - c.started_at_ns;
        assert!(c.started_at_ns > 0 && (0..600_000_000_000).contains(&age), "started {age} ns ago");
        if prefix.is_empty() {
            assert_eq!(c.privileged, privileged, "{name}: the CRI security context");
        }
    }
    // A container that exits ...
    let brief = cri.run_container(&sandbox, POD, "brief", 0, false, &["/bin/sleep", "1"]);
    let brief_id = format!("{prefix}{brief}");
    w.wait(SEE, |s| s.get(&brief_id).is_some() || cri_exited(s, &brief_id));
    let end = Instant::now() + SEE;
    while cri.container_state(&brief) != 2 {
        assert!(Instant::now() < end, "brief never exited");
        std::thread::sleep(Duration::from_millis(100));
    }
    w.wait(SEE, |s| s.get(&brief_id).is_none());
    // ... and is created again in the same pod, as kubelet restarts it.
    cri.remove_container(&brief);
    let again = cri.run_container(&sandbox, POD, "brief", 1, false, &[]);
    let again_id = format!("{prefix}{again}");
    let snap = w.wait(SEE, |s| s.get(&again_id).is_some());
    assert_eq!(by_name(&snap, "brief").map(|c| c.id.as_str()), Some(again_id.as_str()));
    // A pod removed takes its containers and sandbox along.
    cri.remove_pod(&sandbox);
    let snap = w.wait(SEE, |s| s.containers.iter().all(|c| c.pod_name != POD.0));
    assert!(ids(&snap).iter().all(|id| ![&sandbox_id, &app_id, &helper_id, &again_id].contains(&id)));
}

/// True when `id` is absent: it may exit before it was ever seen.
fn cri_exited(s: &Portfolio, id: &str) -> bool {
    s.get(id).is_none()
}

#[test]
fn containerd_17_relisted() {
    let mut cri = PrivateCri::fresh("cri17-relist", true);
    let w = Handle::cri(&cri.endpoint(), 200, false);
    w.ready(SYNC).expect("ready");
    let e = w.snapshot().engine().clone();
    assert_eq!((e.kind, e.engine_type.as_str(), e.state), (WW_ENGINE_CRI, "k8s.io/cri-api", WW_ENGINE_STATE_SYNCED));
    assert!(e.version.starts_with("containerd 1.7"), "{}", e.version);
    assert_eq!(e.endpoint, cri.endpoint());
    pods_come_and_go(&mut cri, &w, "");
}

#[test]
fn containerd_17_with_its_event_stream() {
    let mut cri = PrivateCri::fresh("cri17-events", true);
    // Relisting only every minute: what shows up within seconds came through
    // the runtime's event stream.
    let w = Handle::cri(&cri.endpoint(), 60_000, true);
    w.ready(SYNC).expect("ready");
    pods_come_and_go(&mut cri, &w, "");
}

#[test]
fn containerd_16_without_an_event_stream_is_relisted() {
    let mut cri = PrivateCri::fresh("cri16", false);
    let w = Handle::cri(&cri.endpoint(), 200, true);
    w.ready(SYNC).expect("ready");
    assert!(w.snapshot().engine().version.starts_with("containerd 1.6"), "{}", w.snapshot().engine().version);
    pods_come_and_go(&mut cri, &w, "");
}

#[test]
fn the_containerd_engine_sees_kubernetes_pods_in_k8s_io() {
    let mut cri = PrivateCri::fresh("cri17-ctrd", true);
    let w = Handle::containerd(&cri.endpoint(), None);
    w.ready(SYNC).expect("ready");
    pods_come_and_go(&mut cri, &w, "k8s.io/");
}

#[test]
fn a_docker_socket_given_as_cri_is_refused_clearly() {
    let fake = FakeDocker::start();
    let mut o = support::abi::options();
    o.engine = WW_ENGINE_CRI;
    o.backoff = WW_BACKOFF_NONE;
    let w = Handle::new(&o, Some(&fake.endpoint())).expect("ww_new");
    let (st, msg) = w.ready(SYNC).unwrap_err();
    assert_eq!(st, WW_STATUS_ENGINE, "{msg}");
    assert!(msg.contains(&fake.endpoint()) && msg.contains("CRI"), "{msg}");
}
