//! The library against a real, private Docker engine, through the C ABI.

mod support;

use std::time::Duration;

use support::abi::Handle;
use support::docker::{shared, PrivateDocker};
use support::run_id;

const SYNC: Duration = Duration::from_secs(30);
const SEE: Duration = Duration::from_secs(10);
const TEST_LABEL: &str = "whalewatcher.test";

fn engine() -> &'static PrivateDocker {
    shared("docker-engine")
}

/// Removes this test's containers when the test ends, whatever happens.
struct Cleanup<'a>(&'a PrivateDocker, String);

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        self.0.remove_labelled(TEST_LABEL, &self.1);
    }
}

fn setup(test: &str) -> (&'static PrivateDocker, String, Cleanup<'static>) {
    let d = engine();
    let run = run_id(test);
    (d, run.clone(), Cleanup(d, run))
}

#[test]
fn containers_alive_before_ww_new_are_there_with_the_pids_docker_reports() {
    let (d, run, _cleanup) = setup("before");
    let web =
        d.run(&format!("{run}-web"), &[(TEST_LABEL, &run), ("com.docker.compose.project", &run), ("zzz", "last")]);
    let solo = d.run(&format!("{run}-solo"), &[(TEST_LABEL, &run)]);
    let paused = d.run(&format!("{run}-paused"), &[(TEST_LABEL, &run)]);
    d.docker(&["pause", &paused]);

    let w = Handle::docker(&d.endpoint());
    w.ready(SYNC).expect("ready");
    let snap = w.snapshot();
    assert!(snap.generation >= 1);

    let c = snap.get(&web).expect("web is tracked");
    assert_eq!(c.name, format!("{run}-web"), "name without the leading slash");
    assert_eq!(c.pid, d.pid_of(&web));
    assert_eq!(c.project, run);
    assert!(!c.paused);
    let keys: Vec<&str> = c.labels.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["com.docker.compose.project", TEST_LABEL, "zzz"], "all labels, sorted by key");
    assert_eq!(snap.project(&run).expect("project").len(), 1);

    let s = snap.get(&solo).expect("solo is tracked");
    assert_eq!((s.project.as_str(), s.pid), ("", d.pid_of(&solo)));
    assert!(snap.project("").unwrap().iter().any(|c| c.id == solo));
    let p = snap.get(&paused).expect("paused is tracked");
    assert!(p.paused);
    assert_eq!(p.pid, d.pid_of(&paused));

    assert_eq!(snap.engine().engine_type, "docker.com");
    assert_eq!(snap.engine().id, d.docker(&["info", "-f", "{{.ID}}"]));
    assert_eq!(snap.engine().version, d.docker(&["version", "-f", "{{.Server.Version}}"]));
    assert_eq!(snap.engine().endpoint, d.endpoint());
    assert_eq!(snap.engine().pid, d.pid());
}

#[test]
fn starts_pauses_unpauses_renames_restarts_and_kills_show_up() {
    let (d, run, _cleanup) = setup("life");
    let w = Handle::docker(&d.endpoint());
    w.ready(SYNC).expect("ready");

    let id = d.run(&format!("{run}-a"), &[(TEST_LABEL, &run)]);
    let pid = d.pid_of(&id);
    w.wait(SEE, |s| s.get(&id).is_some_and(|c| c.pid == pid && !c.paused));

    d.docker(&["pause", &id]);
    w.wait(SEE, |s| s.get(&id).is_some_and(|c| c.paused));
    d.docker(&["unpause", &id]);
    w.wait(SEE, |s| s.get(&id).is_some_and(|c| !c.paused));

    let renamed = format!("{run}-renamed");
    d.docker(&["rename", &id, &renamed]);
    w.wait(SEE, |s| s.get(&id).is_some_and(|c| c.name == renamed));

    d.docker(&["restart", "-t", "0", &id]);
    let new_pid = d.pid_of(&id);
    assert_ne!(new_pid, pid);
    w.wait(SEE, |s| s.get(&id).is_some_and(|c| c.pid == new_pid));

    // A paused container that is killed goes away (no unpause comes first).
    d.docker(&["pause", &id]);
    w.wait(SEE, |s| s.get(&id).is_some_and(|c| c.paused));
    d.docker(&["kill", &id]);
    w.wait(SEE, |s| s.get(&id).is_none());
}

#[test]
fn compose_projects_appear_with_their_first_and_vanish_with_their_last_container() {
    let (d, run, _cleanup) = setup("proj");
    let w = Handle::docker(&d.endpoint());
    w.ready(SYNC).expect("ready");
    let labels = [(TEST_LABEL, run.as_str()), ("com.docker.compose.project", run.as_str())];
    assert!(w.snapshot().project(&run).is_none());
    let a = d.run(&format!("{run}-a"), &labels);
    let b = d.run(&format!("{run}-b"), &labels);
    let snap = w.wait(SEE, |s| s.project(&run).is_some_and(|cs| cs.len() == 2));
    let names: Vec<&str> = snap.project(&run).unwrap().iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, [format!("{run}-a"), format!("{run}-b")], "sorted by name");
    d.docker(&["kill", &a]);
    w.wait(SEE, |s| s.project(&run).is_some_and(|cs| cs.len() == 1 && cs[0].id == b));
    d.docker(&["kill", &b]);
    w.wait(SEE, |s| s.project(&run).is_none());
}

#[test]
fn created_and_exited_containers_never_show() {
    let (d, run, _cleanup) = setup("dead");
    let w = Handle::docker(&d.endpoint());
    w.ready(SYNC).expect("ready");
    let created = d.docker(&[
        "create",
        "--network",
        "none",
        "--label",
        &format!("{TEST_LABEL}={run}"),
        "busybox:local",
        "/bin/sleep",
        "1000",
    ]);
    let exited = d.docker(&[
        "run",
        "-d",
        "--network",
        "none",
        "--label",
        &format!("{TEST_LABEL}={run}"),
        "busybox:local",
        "/bin/sh",
        "-c",
        "exit 3",
    ]);
    d.docker(&["wait", &exited]);
    // A marker started afterwards: once it shows, the events before it were applied.
    let marker = d.run(&format!("{run}-marker"), &[(TEST_LABEL, &run)]);
    let snap = w.wait(SEE, |s| s.get(&marker).is_some());
    assert!(snap.get(&created).is_none());
    assert!(snap.get(&exited).is_none());
    // A new watcher's list does not show them either.
    let fresh = Handle::docker(&d.endpoint());
    fresh.ready(SYNC).expect("ready");
    let snap = fresh.snapshot();
    assert!(snap.get(&created).is_none() && snap.get(&exited).is_none() && snap.get(&marker).is_some());
}

#[test]
fn many_watchers_agree_with_each_other_and_with_docker_ps() {
    let (d, run, _cleanup) = setup("agree");
    for i in 0..5 {
        d.run(&format!("{run}-{i}"), &[(TEST_LABEL, &run)]);
    }
    let watchers: Vec<Handle> = (0..3).map(|_| Handle::docker(&d.endpoint())).collect();
    for w in &watchers {
        w.ready(SYNC).expect("ready");
    }
    let ps = d.docker(&["ps", "-q", "--no-trunc", "--filter", &format!("label={TEST_LABEL}={run}")]);
    let mut expected: Vec<&str> = ps.split_whitespace().collect();
    expected.sort();
    for w in &watchers {
        let snap = w.snapshot();
        let mut got: Vec<&str> = snap
            .containers
            .iter()
            .filter(|c| c.labels.iter().any(|(k, v)| k == TEST_LABEL && v == &run))
            .map(|c| c.id.as_str())
            .collect();
        got.sort();
        assert_eq!(got, expected);
    }
}

#[test]
fn dockers_own_records_describe_containers_exactly_as_inspections_do() {
    use whalewatcher::core::engines::{docker, docker_files};
    let (d, run, _cleanup) = setup("files");
    let plain = d.run(&format!("{run}-plain"), &[(TEST_LABEL, &run), ("com.docker.compose.project", &run)]);
    let paused = d.run(&format!("{run}-paused"), &[(TEST_LABEL, &run)]);
    d.docker(&["pause", &paused]);
    // (`--privileged` cannot start here: this machine refuses its
    // capabilities; the files' `Privileged` is read in a unit test.)
    let other = d.run(&format!("{run}-other"), &[(TEST_LABEL, &run), ("zzz", "last")]);
    let stopped = d.run(&format!("{run}-stopped"), &[(TEST_LABEL, &run)]);
    d.docker(&["kill", &stopped]);

    let root = d.docker(&["info", "-f", "{{.DockerRootDir}}"]);
    let records = docker_files::Records::locate(d.pid(), &root).expect("the daemon's records are readable");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let client = bollard::Docker::connect_with_unix(
        d.endpoint().trim_start_matches("unix://"),
        30,
        bollard::API_DEFAULT_VERSION,
    )
    .expect("client");
    for id in [&plain, &paused, &other] {
        let inspected = rt.block_on(client.inspect_container(id, None)).expect("inspect");
        let want = docker::to_container(id, inspected).expect("alive");
        let got = records.read(id).and_then(|d| docker::to_container(id, d)).expect("read from the files");
        assert_eq!(got, want, "{id}");
    }
    let p = records.read(&paused).and_then(|d| docker::to_container(&paused, d)).unwrap();
    assert!(p.paused && p.started_at_ns > 0);
    assert!(records.read(&stopped).is_none(), "a stopped container is left to the engine");
    let all = records.read_each(&[plain.clone(), stopped.clone(), other.clone()], docker::to_container);
    assert_eq!(all.iter().map(Option::is_some).collect::<Vec<_>>(), [true, false, true]);

    // A watcher started now takes them all from the files and agrees.
    let w = Handle::docker(&d.endpoint());
    w.ready(SYNC).expect("ready");
    let snap = w.snapshot();
    for id in [&plain, &paused, &other] {
        let c = snap.get(id).expect("tracked");
        assert_eq!(c.pid, d.pid_of(id));
    }
    assert!(snap.get(&stopped).is_none());
}
