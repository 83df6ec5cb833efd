//! The library against a real, private containerd, through the C ABI, in
//! several namespaces.

mod support;

use std::time::Duration;

use support::abi::Handle;
use support::containerd::{shared, PrivateContainerd};

const SYNC: Duration = Duration::from_secs(30);
const SEE: Duration = Duration::from_secs(10);

fn engine() -> &'static PrivateContainerd {
    shared("containerd-engine")
}

/// Removes this test's tasks and containers when the test ends.
struct Cleanup(&'static PrivateContainerd, Vec<(String, String)>);

impl Cleanup {
    fn run(&mut self, ns: &str, id: &str, labels: &[(&str, &str)]) -> String {
        self.0.run(ns, id, labels);
        self.1.push((ns.to_string(), id.to_string()));
        if ns == "default" {
            id.to_string()
        } else {
            format!("{ns}/{id}")
        }
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for (ns, id) in &self.1 {
            self.0.remove(ns, id);
        }
    }
}

fn setup() -> (&'static PrivateContainerd, Cleanup, String) {
    let c = engine();
    (c, Cleanup(c, Vec::new()), format!("t{}", std::process::id()))
}

#[test]
fn containers_alive_before_ww_new_in_all_namespaces_but_the_ignored() {
    let (c, mut clean, run) = setup();
    let web =
        clean.run("default", &format!("{run}-web"), &[("nerdctl/name", "web"), ("com.docker.compose.project", &run)]);
    let custom = clean.run("wwtest", &format!("{run}-custom"), &[("foo", "bar")]);
    c.ctr("wwtest", &["tasks", "pause", &format!("{run}-custom")]);
    let named = clean.run("wwtest", &format!("{run}-named"), &[("nerdctl/name", "db")]);
    let moby = clean.run("moby", &format!("{run}-moby"), &[]);

    let w = Handle::containerd(&c.endpoint(), None);
    w.ready(SYNC).expect("ready");
    let snap = w.snapshot();
    assert!(snap.generation >= 1);

    let cw = snap.get(&web).expect("default-namespace container");
    assert_eq!(web, format!("{run}-web"), "no namespace prefix in default");
    assert_eq!((cw.name.as_str(), cw.project.as_str(), cw.paused), ("web", run.as_str(), false));
    assert_eq!(cw.pid, c.pid_of("default", &format!("{run}-web")));
    assert!(cw.labels.iter().any(|(k, v)| k == "nerdctl/name" && v == "web"));

    let cc = snap.get(&custom).expect("custom-namespace container");
    assert_eq!(custom, format!("wwtest/{run}-custom"));
    assert_eq!((cc.name.as_str(), cc.project.as_str(), cc.paused), (custom.as_str(), "", true));
    assert_eq!(cc.pid, c.pid_of("wwtest", &format!("{run}-custom")));

    assert_eq!(snap.get(&named).expect("named").name, "wwtest/db");
    assert!(snap.get(&moby).is_none(), "namespace moby is ignored by default");
    assert!(snap.containers.iter().all(|c| !c.id.starts_with("moby/")));

    assert_eq!(snap.engine().engine_type, "containerd.io");
    assert!(!snap.engine().id.is_empty() && !snap.engine().version.is_empty());
    assert_eq!(snap.engine().endpoint, c.endpoint());
    assert_eq!(snap.engine().pid, c.pid());

    // Replacing the ignored list: nothing ignored shows moby, ignoring wwtest hides it.
    let all = Handle::containerd(&c.endpoint(), Some(""));
    all.ready(SYNC).expect("ready");
    assert!(all.snapshot().get(&moby).is_some());
    let no_custom = Handle::containerd(&c.endpoint(), Some("wwtest,moby"));
    no_custom.ready(SYNC).expect("ready");
    let s = no_custom.snapshot();
    assert!(s.get(&custom).is_none() && s.get(&named).is_none() && s.get(&web).is_some());
}

#[test]
fn start_pause_resume_exec_and_kill() {
    let (c, mut clean, run) = setup();
    let w = Handle::containerd(&c.endpoint(), None);
    w.ready(SYNC).expect("ready");
    let id = format!("{run}-life");
    let shown = clean.run("wwtest", &id, &[("com.docker.compose.project", "life")]);
    let pid = c.pid_of("wwtest", &id);
    w.wait(SEE, |s| s.get(&shown).is_some_and(|x| x.pid == pid && !x.paused && x.project == "life"));

    c.ctr("wwtest", &["tasks", "pause", &id]);
    w.wait(SEE, |s| s.get(&shown).is_some_and(|x| x.paused));
    c.ctr("wwtest", &["tasks", "resume", &id]);
    w.wait(SEE, |s| s.get(&shown).is_some_and(|x| !x.paused));

    // An exec'd process exits while the container keeps running.
    c.ctr("wwtest", &["tasks", "exec", "--exec-id", "probe", &id, "/bin/sh", "-c", "exit 0"]);
    let marker = clean.run("wwtest", &format!("{run}-marker"), &[]);
    let snap = w.wait(SEE, |s| s.get(&marker).is_some());
    assert!(snap.get(&shown).is_some(), "an exec's exit does not remove its container");

    // Killed while paused: gone without a resume first.
    c.ctr("wwtest", &["tasks", "pause", &id]);
    w.wait(SEE, |s| s.get(&shown).is_some_and(|x| x.paused));
    c.kill_task("wwtest", &id);
    w.wait(SEE, |s| s.get(&shown).is_none());
    assert!(w.snapshot().project("life").is_none());
}

#[test]
fn a_namespace_created_after_ww_new_is_watched() {
    let (c, mut clean, run) = setup();
    let w = Handle::containerd(&c.endpoint(), None);
    w.ready(SYNC).expect("ready");
    let ns = format!("late-{run}");
    c.import_busybox(&ns);
    let shown = clean.run(&ns, "late", &[("nerdctl/name", "newcomer")]);
    let snap = w.wait(SEE, |s| s.get(&shown).is_some());
    assert_eq!(shown, format!("{ns}/late"));
    assert_eq!(snap.get(&shown).unwrap().name, format!("{ns}/newcomer"));
    assert_eq!(snap.get(&shown).unwrap().pid, c.pid_of(&ns, "late"));
}

#[test]
fn moby_tasks_never_show_up_live() {
    let (c, mut clean, run) = setup();
    let w = Handle::containerd(&c.endpoint(), None);
    w.ready(SYNC).expect("ready");
    let moby = clean.run("moby", &format!("{run}-m"), &[]);
    let marker = clean.run("wwtest", &format!("{run}-mark"), &[]);
    let snap = w.wait(SEE, |s| s.get(&marker).is_some());
    assert!(snap.get(&moby).is_none());
}

/// A request in containerd namespace `ns`.
fn in_ns<T>(ns: &str, msg: T) -> tonic::Request<T> {
    let mut r = tonic::Request::new(msg);
    r.metadata_mut().insert("containerd-namespace", ns.parse().unwrap());
    r
}

#[test]
fn the_shims_files_tell_task_states_exactly_as_the_engine_does() {
    use containerd_client::services::v1::snapshots::{snapshots_client::SnapshotsClient, MountsRequest};
    use containerd_client::services::v1::tasks_client::TasksClient;
    use containerd_client::services::v1::{CreateTaskRequest, GetRequest, StartRequest};
    use containerd_client::types::v1::Status;
    use whalewatcher::core::engines::{containerd_files::Bundles, grpc};

    let (c, mut clean, run) = setup();
    let ns = "wwtest";
    let (plain, paused, ended, created) =
        [("plain"), ("paused"), ("ended"), ("created")].map(|n| format!("{run}-files-{n}")).into();
    for id in [&plain, &paused, &ended] {
        clean.run(ns, id, &[]);
    }
    c.ctr(ns, &["tasks", "pause", &paused]);
    c.kill_task(ns, &ended);
    // Created, not started: a container and a task made through the API,
    // as a client that starts it later does.
    c.ctr(ns, &["containers", "create", "docker.io/library/busybox:local", &created, "/bin/sleep", "100000"]);
    clean.1.push((ns.to_string(), created.clone()));
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let channel = rt.block_on(grpc::channel(&c.socket)).expect("channel");
    let mut tasks = TasksClient::new(channel.clone());
    let mounts = rt
        .block_on(
            SnapshotsClient::new(channel)
                .mounts(in_ns(ns, MountsRequest { snapshotter: "overlayfs".into(), key: created.clone() })),
        )
        .expect("the container's snapshot")
        .into_inner()
        .mounts;
    let task = CreateTaskRequest { container_id: created.clone(), rootfs: mounts, ..Default::default() };
    rt.block_on(tasks.create(in_ns(ns, task))).expect("create the task");

    let bundles = Bundles::locate(c.pid()).expect("containerd's bundles are readable");
    let engine = |id: &str| {
        let get = GetRequest { container_id: id.to_string(), exec_id: String::new() };
        rt.block_on(tasks.clone().get(in_ns(ns, get))).expect("task").into_inner().process.unwrap()
    };
    // Until the exit is through, the engine may still say running.
    let deadline = std::time::Instant::now() + SEE;
    while engine(&ended).status != Status::Stopped as i32 {
        assert!(std::time::Instant::now() < deadline, "the killed task never stopped");
        std::thread::sleep(Duration::from_millis(20));
    }
    let p = engine(&plain);
    assert_eq!(p.status, Status::Running as i32);
    let files = bundles.read(ns, &plain).expect("read from the files");
    assert_eq!(files.pid, p.pid);
    assert_eq!(files.started_at_ns, whalewatcher::core::process::start_time_ns(p.pid as i32).unwrap());
    assert_eq!(engine(&paused).status, Status::Paused as i32);
    assert_eq!(bundles.read(ns, &paused), None, "a paused (frozen) task is left to the engine");
    // The freezer is what told: resumed, it reads as running.
    c.ctr(ns, &["tasks", "resume", &paused]);
    assert_eq!(bundles.read(ns, &paused).map(|t| t.pid), Some(engine(&paused).pid));
    c.ctr(ns, &["tasks", "pause", &paused]);
    assert_eq!(engine(&created).status, Status::Created as i32);
    assert!(engine(&created).pid > 0, "a created task has its process already");
    assert_eq!(bundles.read(ns, &created), None, "a task not started is left to the engine");
    assert_eq!(bundles.read(ns, &ended), None, "an ended task is left to the engine");
    assert_eq!(bundles.read(ns, &format!("{run}-files-none")), None);
    let each = bundles.read_each(ns, &[plain.clone(), created.clone(), paused.clone()]);
    assert_eq!(each.iter().map(Option::is_some).collect::<Vec<_>>(), [true, false, false]);

    // A watcher started now takes them from the files and agrees; the
    // created task shows once started.
    let w = Handle::containerd(&c.endpoint(), None);
    w.ready(SYNC).expect("ready");
    let snap = w.snapshot();
    let shown = |id: &str| format!("{ns}/{id}");
    assert_eq!(snap.get(&shown(&plain)).map(|x| (x.pid, x.paused)), Some((c.pid_of(ns, &plain), false)));
    assert_eq!(snap.get(&shown(&paused)).map(|x| (x.pid, x.paused)), Some((c.pid_of(ns, &paused), true)));
    assert!(snap.get(&shown(&ended)).is_none() && snap.get(&shown(&created)).is_none());
    rt.block_on(tasks.start(in_ns(ns, StartRequest { container_id: created.clone(), exec_id: String::new() })))
        .expect("start");
    let pid = c.pid_of(ns, &created);
    w.wait(SEE, |s| s.get(&shown(&created)).is_some_and(|x| x.pid == pid && !x.paused));
}

/// Sends SIGSTOP to processes, and SIGCONT when dropped.
struct Stopped(Vec<i32>);

impl Stopped {
    fn signal(&self, sig: &str) {
        for pid in &self.0 {
            let ok = std::process::Command::new("kill").args([sig, &pid.to_string()]).status().unwrap().success();
            assert!(ok, "kill {sig} {pid}");
        }
    }
}

impl Drop for Stopped {
    fn drop(&mut self) {
        self.signal("-CONT");
    }
}

#[test]
fn running_tasks_are_synchronised_without_their_shims() {
    // With their shims stopped, containerd cannot tell these tasks' states:
    // it asks the shims, and after 2 s answers UNKNOWN without a PID. Their
    // files tell, so a watcher shows them, at once.
    let (c, mut clean, run) = setup();
    let ns = "wwtest";
    let ids = [0, 1, 2].map(|i| format!("{run}-shimless-{i}"));
    for id in &ids {
        clean.run(ns, id, &[]);
    }
    let pids = ids.clone().map(|id| c.pid_of(ns, &id));
    let shims = pids.map(|p| whalewatcher::core::sockets::parent(p).expect("the shim"));
    let stopped = Stopped(shims.to_vec());
    stopped.signal("-STOP");

    let mut o = support::abi::options();
    o.engine = whalewatcher::ffi::WW_ENGINE_CONTAINERD;
    o.call_timeout_ms = 5000;
    let w = Handle::new(&o, Some(&c.endpoint())).expect("ww_new");
    w.ready(Duration::from_secs(4)).expect("ready without waiting for a stopped shim");
    let snap = w.snapshot();
    for (id, pid) in ids.iter().zip(pids) {
        let x = snap.get(&format!("{ns}/{id}")).expect("tracked from its files");
        assert_eq!((x.pid, x.paused), (pid, false), "{id}");
        assert!(x.started_at_ns > 0);
    }
    drop(stopped);
}
