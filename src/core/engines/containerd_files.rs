//! containerd's task bundles: what the state of a task is without asking
//! its shim.
//!
//! containerd answers a task's state by asking the task's shim (a process
//! of its own per task) over ttrpc: on a host with many tasks the shims'
//! wake-ups are most of a synchronisation's time. The runc shims keep what
//! that state is made of in files, which tell it for a few tens of
//! microseconds of this process's time each:
//! - `STATE/io.containerd.runtime.v2.task/NS/ID/` is the task's bundle,
//!   there from the task's creation to its deletion, whose
//!   `shim-binary-path` and `options.json` tell which shim and runtime run
//!   it, and where runc keeps its state;
//! - runc's state directory (`/run/containerd/runc/NS/ID` unless the
//!   options name another root) holds `state.json`, with the PID of the
//!   task's initial process and when it started (runc's own proof that a
//!   PID is still that process) and the container's cgroups, and
//!   `exec.fifo` from the creation until the task starts;
//! - the container's cgroup freezer (the one runc pauses with) tells
//!   whether it is frozen.
//!
//! A task is taken as running only when all of these agree: a runc shim
//! running runc, runc's state there without its FIFO, the initial process
//! still there, not a zombie, and started exactly when runc recorded
//! (a PID used again since started later), and its cgroup thawed.
//! Everything else (a task created but not started, stopped, paused or
//! frozen for any other reason, unreadable, another runtime) is asked of
//! the engine, so without the files nothing
//! changes but the speed. The files can lag the engine's events by the
//! moments between a runtime's change and the shim's event about it; a
//! synchronisation reads them under its list's ticket, so the events of
//! the attempt are laid over what they tell.
//!
//! STATE ([`super::containerd_state_dir`]) is the engine's `--state`, else
//! `state` in its configuration file (`--config`,
//! `/etc/containerd/config.toml` by default), else `/run/containerd`, and
//! is believed only when the engine holds a task's log open in it (when
//! there are tasks); everything is reached through
//! the mounts of the process serving the socket, which takes root or
//! containerd's own user.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::containerd_state_dir;
use super::engine_files::{read_each, EngineFiles};
use super::runc_state::runc_init;
use crate::core::process::{alive_since_ticks, kernel_file_checked, ticks_to_unix_ns};
use crate::core::sockets::{comm, fd_targets};

/// The runc root of containerd's runc shims unless their options name one.
const DEFAULT_RUNC_ROOT: &str = "/run/containerd/runc";
/// The runtime v2 plugin's directory in the state directory.
const TASKS: &str = "io.containerd.runtime.v2.task";
/// The shims whose bundles and runc state are laid out as read here.
const RUNC_SHIMS: [&str; 2] = ["containerd-shim-runc-v2", "containerd-shim-runc-v1"];
/// The largest small file read (a shim's path, its options).
const MAX_SMALL: u64 = 64 << 10;
/// The largest runc state read (the container's whole configuration).
const MAX_RUNC_STATE: u64 = 4 << 20;
/// What a task's files tell of a running task.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TaskState {
    /// Its initial process, as the engine's PID namespace numbers it.
    pub pid: u32,
    /// When that process started, as Unix nanoseconds (to about 10 ms).
    pub started_at_ns: i64,
}

/// An engine's task bundles and what checks them, as this process reaches
/// them.
#[derive(Clone, Debug)]
pub struct Bundles {
    /// `STATE/io.containerd.runtime.v2.task`.
    tasks: PathBuf,
    /// The runc shims' default runc root.
    runc_root: PathBuf,
    files: EngineFiles,
}

impl Bundles {
    /// The bundles of the containerd process `pid`, if this process can
    /// read them and see its processes. A process that is no containerd (a
    /// proxy in front of one) has none: its command line does not tell
    /// where the engine's state is.
    pub fn locate(pid: i32) -> Option<Bundles> {
        if comm(pid)? != "containerd" {
            return None;
        }
        let files = EngineFiles::of(pid)?;
        let state = containerd_state_dir::of(&files)?;
        let tasks = files.reach(&state).join(TASKS);
        if !holds_a_log_if_any(pid, &state, &tasks)? {
            return None;
        }
        Some(Bundles { tasks, runc_root: files.reach(DEFAULT_RUNC_ROOT), files })
    }

    /// The state of task `id` in namespace `ns` if its files show it
    /// running; `None` when they do not tell (see the module's
    /// description): then the engine is asked.
    pub fn read(&self, ns: &str, id: &str) -> Option<TaskState> {
        if !is_identifier(ns) || !is_identifier(id) {
            return None;
        }
        let bundle = self.tasks.join(ns).join(id);
        let shim = self.file(&bundle.join("shim-binary-path"), MAX_SMALL)?;
        let shim = Path::new(std::str::from_utf8(&shim).ok()?.trim()).file_name()?.to_str()?;
        if !RUNC_SHIMS.contains(&shim) {
            return None;
        }
        let options: RuncOptions = serde_json::from_slice(&self.file(&bundle.join("options.json"), MAX_SMALL)?).ok()?;
        if !options.binary_name.is_empty() && Path::new(&options.binary_name).file_name()? != "runc" {
            return None;
        }
        let runc = match options.root.as_str() {
            "" => self.runc_root.join(ns).join(id),
            root if root.starts_with('/') => self.files.reach(root).join(ns).join(id),
            _ => return None,
        };
        let init = runc_init(&self.file(&runc.join("state.json"), MAX_RUNC_STATE)?)?;
        // Started: runc's FIFO, which the start opens and removes, is gone.
        match runc.join("exec.fifo").symlink_metadata() {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            _ => return None,
        }
        let pid = u32::try_from(init.pid).ok().filter(|&p| p > 0)?;
        // Still the process runc started, as runc itself tells.
        if alive_since_ticks(&self.files.process(u64::from(pid)).join("stat"))? != init.start {
            return None;
        }
        if !self.thawed(&init.cgroups)? {
            return None;
        }
        Some(TaskState { pid, started_at_ns: ticks_to_unix_ns(init.start)? })
    }

    /// [`Bundles::read`] of each of `ids` in namespace `ns`, in order; long
    /// lists are shared out among threads of their own ([`read_each`]).
    pub fn read_each(&self, ns: &str, ids: &[String]) -> Vec<Option<TaskState>> {
        read_each(ids, 100, "ww-containerd-files", |id| self.read(ns, id))
    }

    /// Whether the container whose cgroups runc recorded as `cgroups` is
    /// not frozen at all: the cgroup v1 freezer `THAWED` (which a frozen
    /// ancestor would not show; runc pauses with it when it is there), else
    /// cgroup v2 `frozen 0` (the state in effect, ancestors included).
    /// Anything else, being frozen or not telling, is `false` or `None`: a
    /// paused task is asked of the engine, which also knows a freeze that
    /// is no pause (an update, a checkpoint).
    fn thawed(&self, cgroups: &HashMap<String, String>) -> Option<bool> {
        let reach = |path: &str| {
            let inside = path.starts_with('/') && !path.split('/').any(|c| c == "..");
            inside.then(|| self.files.reach(path))
        };
        if let Some(v1) = cgroups.get("freezer") {
            return Some(kernel_file_checked(&reach(v1)?.join("freezer.state"))?.trim() == "THAWED");
        }
        let events = kernel_file_checked(&reach(cgroups.get("")?)?.join("cgroup.events"))?;
        Some(events.lines().any(|l| l.trim() == "frozen 0"))
    }

    /// A file of the engine's user, at most `max` bytes.
    fn file(&self, path: &Path, max: u64) -> Option<Vec<u8>> {
        Some(self.files.file(path, max)?.0)
    }
}

/// What is used of a runc shim's `options.json`.
#[derive(Deserialize, Default)]
#[serde(default)]
struct RuncOptions {
    #[serde(alias = "binaryName")]
    binary_name: String,
    root: String,
}

/// Whether the engine `pid` holds a task's log open under `state` (as it
/// names it) when `tasks` (as this process reaches it) holds any task:
/// containerd keeps each task's `log` FIFO open, so a state directory with
/// tasks whose logs it does not hold is another engine's (or one it no
/// longer uses). `None` if `/proc` does not tell.
fn holds_a_log_if_any(pid: i32, state: &str, tasks: &Path) -> Option<bool> {
    let mut any = false;
    for ns in std::fs::read_dir(tasks).ok()?.flatten() {
        if std::fs::read_dir(ns.path()).is_ok_and(|mut d| d.next().is_some()) {
            any = true;
            break;
        }
    }
    if !any {
        return Some(true);
    }
    let prefix = format!("{}/{TASKS}/", state.trim_end_matches('/'));
    Some(fd_targets(pid)?.any(|target| target.starts_with(&prefix)))
}

/// A containerd identifier (namespace or container ID): letters, digits
/// and single `.`, `_` or `-` between them, at most 76 characters (which
/// also keeps a path made of it inside its directory).
fn is_identifier(s: &str) -> bool {
    let b = s.as_bytes();
    let sep = |c: u8| matches!(c, b'.' | b'_' | b'-');
    !b.is_empty()
        && b.len() <= 76
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter().all(|&c| c.is_ascii_alphanumeric() || sep(c))
        && !b.windows(2).any(|w| sep(w[0]) && sep(w[1]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::process::start_time_ns;

    #[test]
    fn identifiers_are_containerds() {
        for good in ["default", "k8s.io", "a", "a-b_c.d", &"x".repeat(76)] {
            assert!(is_identifier(good), "{good}");
        }
        for bad in ["", ".", "..", ".c1", "a/b", "-a", "a-", "a..b", "a b", &"x".repeat(77), "ä"] {
            assert!(!is_identifier(bad), "{bad}");
        }
    }

    /// A state directory, runc root and cgroup freezers holding one task
    /// of this test's child process; removed (and the child killed) when
    /// dropped.
    struct Layout {
        root: PathBuf,
        child: std::process::Child,
    }

    const SHIM: &str = "/usr/bin/containerd-shim-runc-v2";

    impl Layout {
        fn new(name: &str) -> Layout {
            let root = std::env::temp_dir().join(format!("ww-ctrd-files-{}-{name}", std::process::id()));
            let _ = std::fs::remove_dir_all(&root);
            let child = std::process::Command::new("sleep").arg("1000").spawn().unwrap();
            let l = Layout { root, child };
            std::fs::create_dir_all(l.bundle()).unwrap();
            std::fs::create_dir_all(l.runc()).unwrap();
            std::fs::create_dir_all(l.cgroup("freezer")).unwrap();
            std::fs::create_dir_all(l.cgroup("unified")).unwrap();
            l.write("shim-binary-path", SHIM);
            l.write("options.json", "{}");
            l.runc_state(&l.runc(), l.child.id(), l.start());
            l.freeze("THAWED\n", "populated 1\nfrozen 0\n");
            l
        }

        fn start(&self) -> u64 {
            alive_since_ticks(&PathBuf::from(format!("/proc/{}/stat", self.child.id()))).unwrap()
        }

        /// The container's directory in cgroup hierarchy `h`.
        fn cgroup(&self, h: &str) -> PathBuf {
            self.root.join("cgroup").join(h).join("ns1/c1")
        }

        /// runc's state.json, as runc 1.1 writes it (shortened), on a hybrid
        /// cgroup host.
        fn runc_state(&self, dir: &Path, pid: u32, start: u64) {
            let (v1, v2) = (self.cgroup("freezer"), self.cgroup("unified"));
            let cgroups = format!(r#"{{"":"{}","freezer":"{}","pids":"/x"}}"#, v2.display(), v1.display());
            self.runc_state_with(dir, pid, start, &cgroups);
        }

        fn runc_state_with(&self, dir: &Path, pid: u32, start: u64, cgroups: &str) {
            let text = format!(
                r#"{{"id":"c1","init_process_pid":{pid},"init_process_start":{start},"created":"2026-11-30T08:22:25Z",
                "config":{{"labels":["init_process_start=1"],"cgroups":{{"path":"/ns1/c1"}}}},"rootless":false,
                "cgroup_paths":{cgroups},"external_descriptors":[]}}"#
            );
            std::fs::write(dir.join("state.json"), text).unwrap();
        }

        fn bundle(&self) -> PathBuf {
            self.root.join("state").join(TASKS).join("ns1/c1")
        }

        fn runc(&self) -> PathBuf {
            self.root.join("runc/ns1/c1")
        }

        fn write(&self, name: &str, text: &str) {
            std::fs::write(self.bundle().join(name), text).unwrap();
        }

        fn bundles(&self) -> Bundles {
            let me = std::process::id() as i32;
            Bundles {
                tasks: self.root.join("state").join(TASKS),
                runc_root: self.root.join("runc"),
                files: EngineFiles::of(me).unwrap(),
            }
        }

        /// The v1 freezer's and the v2 hierarchy's state.
        fn freeze(&self, v1: &str, v2: &str) {
            std::fs::write(self.cgroup("freezer").join("freezer.state"), v1).unwrap();
            std::fs::write(self.cgroup("unified").join("cgroup.events"), v2).unwrap();
        }

        fn read(&self) -> Option<TaskState> {
            self.bundles().read("ns1", "c1")
        }
    }

    impl Drop for Layout {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
            let _ = std::fs::remove_dir_all(&self.root);
        }
    }

    #[test]
    fn a_started_thawed_runc_task_reads_as_running() {
        let l = Layout::new("alive");
        let pid = l.child.id();
        let running = Some(TaskState { pid, started_at_ns: start_time_ns(pid as i32).unwrap() });
        assert_eq!(l.read(), running);
        // runc named as its binary; another root given in the options.
        let other_root = l.root.join("other-runc");
        std::fs::create_dir_all(other_root.join("ns1/c1")).unwrap();
        l.runc_state(&other_root.join("ns1/c1"), pid, l.start());
        let options = format!(r#"{{"binary_name":"/usr/local/bin/runc","root":"{}"}}"#, other_root.display());
        l.write("options.json", &options);
        assert_eq!(l.read(), running);
        std::fs::remove_file(other_root.join("ns1/c1/state.json")).unwrap();
        assert_eq!(l.read(), None, "no runc state under the root the options name");
        // What a list reads.
        l.write("options.json", "{}");
        let b = l.bundles();
        let ids = ["c1", "c2", "..", "c1"].map(String::from);
        assert_eq!(b.read_each("ns1", &ids), [running, None, None, running]);
    }

    #[test]
    fn frozen_tasks_are_left_to_the_engine() {
        // Paused, or frozen for an update or a checkpoint: the engine tells.
        let l = Layout::new("frozen");
        assert!(l.read().is_some());
        // Where runc has a v1 freezer, that is the one it pauses with.
        for v1 in ["FROZEN\n", "FREEZING\n", "what\n", ""] {
            l.freeze(v1, "populated 1\nfrozen 0\n");
            assert_eq!(l.read(), None, "{v1:?}");
        }
        l.freeze("THAWED\n", "populated 1\nfrozen 1\n");
        assert!(l.read().is_some(), "v2 is not what runc freezes with on a hybrid host");
        std::fs::remove_file(l.cgroup("freezer").join("freezer.state")).unwrap();
        assert_eq!(l.read(), None, "no freezer state");
        // cgroup v2 alone.
        let v2 = format!(r#"{{"":"{}"}}"#, l.cgroup("unified").display());
        l.runc_state_with(&l.runc(), l.child.id(), l.start(), &v2);
        for (events, running) in [("populated 1\nfrozen 0\n", true), ("populated 1\nfrozen 1\n", false), ("", false)] {
            l.freeze("THAWED\n", events);
            assert_eq!(l.read().is_some(), running, "{events:?}");
        }
        // No freezer at all, or paths that are not plain absolute ones.
        let bad = l.cgroup("freezer").join("..").join("c1");
        for cgroups in [
            "{}".to_string(),
            r#"{"pids":"/x"}"#.to_string(),
            r#"{"freezer":"relative/ns1/c1"}"#.to_string(),
            format!(r#"{{"freezer":"{}"}}"#, bad.display()),
            r#"{"freezer":1}"#.to_string(),
        ] {
            l.runc_state_with(&l.runc(), l.child.id(), l.start(), &cgroups);
            assert_eq!(l.read(), None, "{cgroups}");
        }
    }

    #[test]
    fn tasks_not_started_or_ended_or_of_other_runtimes_are_left_to_the_engine() {
        let l = Layout::new("unclear");
        assert!(l.read().is_some());
        // Created, not started: runc's FIFO is there.
        std::fs::write(l.runc().join("exec.fifo"), "").unwrap();
        assert_eq!(l.read(), None);
        std::fs::remove_file(l.runc().join("exec.fifo")).unwrap();
        // Another shim or runtime.
        for (file, text) in [
            ("shim-binary-path", "/usr/bin/containerd-shim-kata-v2"),
            ("options.json", r#"{"binary_name":"crun"}"#),
            ("options.json", r#"{"root":"relative"}"#),
            ("options.json", "not json"),
        ] {
            l.write(file, text);
            assert_eq!(l.read(), None, "{file}: {text}");
            l.write("shim-binary-path", SHIM);
            l.write("options.json", "{}");
        }
        assert!(l.read().is_some());
        // runc's state: another runtime's layout, no PID, or garbage.
        for text in [r#"{"pid":1,"status":"running"}"#, r#"{"init_process_pid":0,"init_process_start":1}"#, "[1]"] {
            std::fs::write(l.runc().join("state.json"), text).unwrap();
            assert_eq!(l.read(), None, "{text}");
        }
        // A PID used again: the process there started at another time.
        l.runc_state(&l.runc(), l.child.id(), l.start() - 1);
        assert_eq!(l.read(), None);
        // A process gone.
        let mut gone = std::process::Command::new("true").spawn().unwrap();
        let id = gone.id();
        gone.wait().unwrap();
        l.runc_state(&l.runc(), id, l.start());
        assert_eq!(l.read(), None);
        // A zombie.
        let mut zombie = std::process::Command::new("true").spawn().unwrap();
        let stat = PathBuf::from(format!("/proc/{}/stat", zombie.id()));
        let started: u64 = std::fs::read_to_string(&stat)
            .unwrap()
            .rsplit(')')
            .next()
            .unwrap()
            .split_whitespace()
            .nth(19)
            .unwrap()
            .parse()
            .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !std::fs::read_to_string(&stat).unwrap().contains(") Z ") {
            assert!(std::time::Instant::now() < deadline, "never a zombie");
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        l.runc_state(&l.runc(), zombie.id(), started);
        assert_eq!(l.read(), None);
        zombie.wait().unwrap();
        // Through a link, even to a good file.
        let real = l.root.join("state.json");
        l.runc_state(&l.root, l.child.id(), l.start());
        std::fs::remove_file(l.runc().join("state.json")).unwrap();
        std::os::unix::fs::symlink(&real, l.runc().join("state.json")).unwrap();
        assert_eq!(l.read(), None);
        // Unknown namespaces and IDs, and ones that are no identifiers.
        std::fs::remove_file(l.runc().join("state.json")).unwrap();
        l.runc_state(&l.runc(), l.child.id(), l.start());
        let b = l.bundles();
        assert!(b.read("ns1", "c1").is_some());
        for (ns, id) in [("ns2", "c1"), ("ns1", "c2"), ("..", "ns1"), ("ns1", "../ns1/c1"), ("", "c1")] {
            assert_eq!(b.read(ns, id), None, "{ns}/{id}");
        }
    }

    #[test]
    fn a_state_directory_with_tasks_is_believed_only_with_a_log_held_open() {
        let dir = std::env::temp_dir().join(format!("ww-ctrd-logs-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let tasks = dir.join(TASKS);
        std::fs::create_dir_all(tasks.join("ns1")).unwrap();
        let me = std::process::id() as i32;
        let state = dir.to_str().unwrap();
        assert_eq!(holds_a_log_if_any(me, state, &tasks), Some(true), "no tasks: nothing to check");
        std::fs::create_dir_all(tasks.join("ns1/c1")).unwrap();
        assert_eq!(holds_a_log_if_any(me, state, &tasks), Some(false));
        let log = std::fs::File::create(tasks.join("ns1/c1/log")).unwrap();
        assert_eq!(holds_a_log_if_any(me, state, &tasks), Some(true));
        assert_eq!(holds_a_log_if_any(me, "/elsewhere", &tasks), Some(false));
        drop(log);
        assert_eq!(holds_a_log_if_any(me, state, &dir.join("missing")), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
