//! containerd's task bundles: what the state of a task is without asking
//! its shim.
//!
//! containerd answers a task's state by asking the task's shim (a process
//! of its own per task) over ttrpc: on a host with many tasks the shims'
//! wake-ups are most of a synchronisation's time. The runc shims keep what
//! that state is made of in files, which tell it for a few tens of
//! microseconds of this process's time each:
//! - `STATE/io.containerd.runtime.v2.task/NS/ID/` is the task's bundle,
//!   there from the task's creation to its deletion; `init.pid` holds the
//!   PID of its initial process (as the engine's PID namespace numbers
//!   it), written once runc has created it, and `shim-binary-path` and
//!   `options.json` which shim and runtime run it;
//! - runc's own state directory (`/run/containerd/runc/NS/ID` unless the
//!   options name another root) holds `exec.fifo` from the creation until
//!   the task starts;
//! - the cgroup freezer of the initial process tells whether it is paused.
//!
//! A task is taken as alive (running or paused) only when all of these
//! agree: a runc shim, runc's state there without its FIFO, the initial
//! process still there and not a zombie, started no later than its
//! `init.pid` was written (a PID used again since would have started
//! after), and a freezer state read. Everything else (a task created but
//! not started, stopped, unreadable, another runtime, another cgroup
//! namespace) is asked of the engine, so without the files nothing changes
//! but the speed. The files can lag the engine's events by the moments
//! between a runtime's change and the shim's event about it; a
//! synchronisation reads them under its list's ticket, so the events of
//! the attempt are laid over what they tell.
//!
//! STATE is the engine's `--state`, else `state` in its configuration file
//! (`--config`, `/etc/containerd/config.toml` by default), else
//! `/run/containerd`; everything is reached through the mounts of the
//! process serving the socket, which takes root or containerd's own user.

use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use serde::Deserialize;

use super::engine_files::{read_each, EngineFiles};
use crate::core::process::alive_since;
use crate::core::sockets::{cmdline, comm, same_namespace};

/// Where containerd keeps its state unless told otherwise.
const DEFAULT_STATE: &str = "/run/containerd";
/// Where containerd reads its configuration unless told otherwise.
const DEFAULT_CONFIG: &str = "/etc/containerd/config.toml";
/// The runc root of containerd's runc shims unless their options name one.
const DEFAULT_RUNC_ROOT: &str = "/run/containerd/runc";
/// The runtime v2 plugin's directory in the state directory.
const TASKS: &str = "io.containerd.runtime.v2.task";
/// The shims whose bundles and runc state are laid out as read here.
const RUNC_SHIMS: [&str; 2] = ["containerd-shim-runc-v2", "containerd-shim-runc-v1"];
/// The largest small file read (a shim's path, its options, a PID).
const MAX_SMALL: u64 = 64 << 10;
/// The largest configuration file read.
const MAX_CONFIG: u64 = 1 << 20;
/// How much later than its `init.pid` a task's process may seem to have
/// started: the wall clock and the start time in `/proc` (ticks after
/// boot, converted through the uptime) agree to about 10 ms. The process
/// starts tens of milliseconds before the file is written.
const START_SLACK: Duration = Duration::from_millis(100);

/// What a task's files tell of an alive task.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TaskState {
    /// Its initial process, as the engine's PID namespace numbers it.
    pub pid: u32,
    /// Paused (or being paused).
    pub paused: bool,
    /// When its initial process started, as Unix nanoseconds (to about
    /// 10 ms).
    pub started_at_ns: i64,
}

/// Where the freezer states are, as this process reaches them.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Freezer {
    /// cgroup v1: the freezer hierarchy's mount (`freezer.state`).
    V1(PathBuf),
    /// cgroup v2: the unified hierarchy's mount (`cgroup.freeze`).
    V2(PathBuf),
}

/// An engine's task bundles and what checks them, as this process reaches
/// them.
#[derive(Clone, Debug)]
pub struct Bundles {
    /// `STATE/io.containerd.runtime.v2.task`.
    tasks: PathBuf,
    /// The runc shims' default runc root.
    runc_root: PathBuf,
    freezer: Freezer,
    files: EngineFiles,
}

impl Bundles {
    /// The bundles of the containerd process `pid`, if this process can
    /// read them, see its processes and their freezer states (in the
    /// engine's cgroup namespace). A process that is no containerd (a
    /// proxy in front of one) has none: its command line does not tell
    /// where the engine's state is.
    pub fn locate(pid: i32) -> Option<Bundles> {
        if comm(pid)? != "containerd" {
            return None;
        }
        let files = EngineFiles::of(pid)?;
        let config = |path: &str| {
            let at = if path.starts_with('/') {
                files.reach(path)
            } else {
                PathBuf::from(format!("/proc/{pid}/cwd")).join(path)
            };
            read_config(&at)
        };
        let state = state_dir(&cmdline(pid), config)?;
        let tasks = files.reach(&state).join(TASKS);
        std::fs::read_dir(&tasks).ok()?;
        if same_namespace(pid, "cgroup") != Some(true) {
            return None;
        }
        let mounts = std::fs::read_to_string(format!("/proc/{pid}/mountinfo")).ok()?;
        let freezer = match freezer_mount(&mounts)? {
            Freezer::V1(at) => Freezer::V1(files.reach(at.to_str()?)),
            Freezer::V2(at) => Freezer::V2(files.reach(at.to_str()?)),
        };
        Some(Bundles { tasks, runc_root: files.reach(DEFAULT_RUNC_ROOT), freezer, files })
    }

    /// The state of task `id` in namespace `ns` if its files show it alive;
    /// `None` when they do not tell (see the module's description): then
    /// the engine is asked.
    pub fn read(&self, ns: &str, id: &str) -> Option<TaskState> {
        if !is_identifier(ns) || !is_identifier(id) {
            return None;
        }
        let bundle = self.tasks.join(ns).join(id);
        let shim = self.small(&bundle.join("shim-binary-path"))?;
        let shim = Path::new(std::str::from_utf8(&shim).ok()?.trim()).file_name()?.to_str()?;
        if !RUNC_SHIMS.contains(&shim) {
            return None;
        }
        let options: RuncOptions = serde_json::from_slice(&self.small(&bundle.join("options.json"))?).ok()?;
        if !options.binary_name.is_empty() && Path::new(&options.binary_name).file_name()? != "runc" {
            return None;
        }
        let runc = match options.root.as_str() {
            "" => self.runc_root.join(ns).join(id),
            root if root.starts_with('/') => self.files.reach(root).join(ns).join(id),
            _ => return None,
        };
        // runc's state is there, and it has started the task: its FIFO,
        // which the start opens and removes, is gone.
        if !runc.join("state.json").symlink_metadata().ok()?.is_file() {
            return None;
        }
        match runc.join("exec.fifo").symlink_metadata() {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            _ => return None,
        }
        let (pid, written) = self.files.file(&bundle.join("init.pid"), 32)?;
        let pid: u32 = std::str::from_utf8(&pid).ok()?.trim().parse().ok().filter(|&p| p > 0)?;
        let process = self.files.process(u64::from(pid));
        let started = alive_since(&process.join("stat"))?;
        if started > written.modified().ok()?.checked_add(START_SLACK)? {
            return None;
        }
        let started_at_ns = i64::try_from(started.duration_since(UNIX_EPOCH).ok()?.as_nanos()).ok()?;
        Some(TaskState { pid, paused: self.paused(&process)?, started_at_ns })
    }

    /// [`Bundles::read`] of each of `ids` in namespace `ns`, in order; long
    /// lists are shared out among threads of their own ([`read_each`]).
    pub fn read_each(&self, ns: &str, ids: &[String]) -> Vec<Option<TaskState>> {
        read_each(ids, 50, "ww-containerd-files", |id| self.read(ns, id))
    }

    /// Whether the process at `/proc/PID` `process` is frozen (or being
    /// frozen) by its cgroup's freezer.
    fn paused(&self, process: &Path) -> Option<bool> {
        let cgroups = std::fs::read_to_string(process.join("cgroup")).ok()?;
        match &self.freezer {
            Freezer::V1(mount) => {
                let path = cgroup_path(&cgroups, |controllers| controllers.split(',').any(|c| c == "freezer"))?;
                match plain(&mount.join(path).join("freezer.state"))?.trim() {
                    "THAWED" => Some(false),
                    "FROZEN" | "FREEZING" => Some(true),
                    _ => None,
                }
            }
            Freezer::V2(mount) => {
                let path = cgroup_path(&cgroups, |controllers| controllers.is_empty())?;
                match plain(&mount.join(path).join("cgroup.freeze"))?.trim() {
                    "0" => Some(false),
                    "1" => Some(true),
                    _ => None,
                }
            }
        }
    }

    /// A small file of the engine's user.
    fn small(&self, path: &Path) -> Option<Vec<u8>> {
        Some(self.files.file(path, MAX_SMALL)?.0)
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

/// A file of a kernel file system (`/proc`, cgroups), never through a link.
fn plain(path: &Path) -> Option<String> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let f = std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK).open(path).ok()?;
    let mut text = String::new();
    f.take(MAX_SMALL).read_to_string(&mut text).ok()?;
    Some(text)
}

/// A configuration file's text, if it is there and readable.
fn read_config(path: &Path) -> Option<String> {
    use std::io::Read;
    let mut text = String::new();
    std::fs::File::open(path).ok()?.take(MAX_CONFIG).read_to_string(&mut text).ok()?;
    Some(text)
}

/// containerd's state directory from its command line `args`: `--state`,
/// else `state` in the configuration file `--config` (`-c`) names or the
/// default one, as `config` reads it (`None` when it is not there), else
/// the default. `None` when that cannot be told (a configuration that is
/// unreadable as far as this reads TOML, or imports others).
fn state_dir(args: &[String], config: impl Fn(&str) -> Option<String>) -> Option<String> {
    let mut config_path = DEFAULT_CONFIG.to_string();
    let mut args = args.iter().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--" {
            break;
        }
        let Some(flag) = arg.strip_prefix("--").or_else(|| arg.strip_prefix('-')) else { continue };
        let (name, inline) = match flag.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (flag, None),
        };
        if !matches!(name, "state" | "config" | "c") {
            continue;
        }
        let value = match inline {
            Some(v) => v,
            None => args.next()?.clone(),
        };
        match name {
            "state" => return value.starts_with('/').then_some(value),
            _ => config_path = value,
        }
    }
    let state = match config(&config_path) {
        Some(text) => toml_state(&text)?,
        None => None,
    };
    let state = state.unwrap_or_else(|| DEFAULT_STATE.to_string());
    state.starts_with('/').then_some(state)
}

/// The top-level `state` of a containerd configuration: `Some(None)` when
/// it sets none, `None` when this cannot tell (a value that is not a plain
/// one-line string, or `imports` of other files that may set it).
fn toml_state(text: &str) -> Option<Option<String>> {
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            // The first table ends the top level.
            break;
        }
        let Some((key, value)) = line.split_once('=') else { continue };
        match key.trim().trim_matches('"') {
            "imports" => return None,
            "state" => return toml_string(value.trim()).map(Some),
            _ => {}
        }
    }
    Some(None)
}

/// A one-line TOML string without escapes (`"..."` or `'...'`), followed
/// by nothing but a comment.
fn toml_string(value: &str) -> Option<String> {
    let quote = value.chars().next().filter(|&q| q == '"' || q == '\'')?;
    let rest = &value[1..];
    let end = rest.find(quote)?;
    let (s, after) = (&rest[..end], rest[end + 1..].trim());
    let escaped = quote == '"' && s.contains('\\');
    (!s.is_empty() && !escaped && (after.is_empty() || after.starts_with('#'))).then(|| s.to_string())
}

/// The freezer's mount among the mounts `mountinfo` lists (the whole
/// hierarchy mounted, not a part of it): cgroup v1's freezer if there is
/// one (which runc then uses), else the unified hierarchy.
fn freezer_mount(mountinfo: &str) -> Option<Freezer> {
    let mut unified = None;
    for line in mountinfo.lines() {
        let Some((mount, fs)) = line.split_once(" - ") else { continue };
        let mount: Vec<&str> = mount.split_whitespace().collect();
        let fs: Vec<&str> = fs.split_whitespace().collect();
        let (Some(&root), Some(&at), Some(&kind)) = (mount.get(3), mount.get(4), fs.first()) else { continue };
        // Escaped (a space or such in the path) or a part of a hierarchy.
        if root != "/" || at.contains('\\') || !at.starts_with('/') {
            continue;
        }
        match kind {
            "cgroup" if fs.get(2).is_some_and(|o| o.split(',').any(|o| o == "freezer")) => {
                return Some(Freezer::V1(PathBuf::from(at)))
            }
            "cgroup2" if unified.is_none() => unified = Some(Freezer::V2(PathBuf::from(at))),
            _ => {}
        }
    }
    unified
}

/// The path (relative to the hierarchy's root) of the hierarchy whose
/// controllers `pick` chooses in `/proc/PID/cgroup` (`ID:CONTROLLERS:PATH`
/// lines); never one that leaves the hierarchy.
fn cgroup_path(cgroups: &str, pick: impl Fn(&str) -> bool) -> Option<&str> {
    let path = cgroups.lines().find_map(|line| {
        let mut f = line.splitn(3, ':');
        let (_, controllers, path) = (f.next()?, f.next()?, f.next()?);
        pick(controllers).then_some(path)
    })?;
    let inside = path.starts_with('/') && !path.split('/').any(|c| c == "..");
    inside.then(|| path.trim_start_matches('/'))
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_state_directory_comes_from_flags_then_configuration_then_default() {
        let none = |_: &str| None;
        assert_eq!(state_dir(&args(&["containerd"]), none).as_deref(), Some("/run/containerd"));
        for a in [
            &["containerd", "--state", "/s"][..],
            &["containerd", "--state=/s"],
            &["containerd", "-state", "/s", "--config", "/c"],
            &["containerd", "-c", "/c", "--state", "/s"],
        ] {
            assert_eq!(state_dir(&args(a), |_| Some("state = '/other'".into())).as_deref(), Some("/s"), "{a:?}");
        }
        assert_eq!(state_dir(&args(&["containerd", "--state", "relative"]), none), None);
        assert_eq!(state_dir(&args(&["containerd", "--state"]), none), None);
        let read = |path: &str| match path {
            "/etc/containerd/config.toml" => Some("version = 2\nstate = \"/default-config\"\n".to_string()),
            "/c" => Some("# x\nroot = \"/r\"\n state=\"/from-c\" # comment\n[grpc]\nstate = \"/no\"".to_string()),
            "/tables" => Some("version = 2\n[grpc]\n  state = \"/no\"\n".to_string()),
            "/imports" => Some("imports = [\"/etc/containerd/conf.d/*.toml\"]\n".to_string()),
            "/escaped" => Some("state = \"/a\\\\b\"\n".to_string()),
            _ => None,
        };
        assert_eq!(state_dir(&args(&["containerd"]), read).as_deref(), Some("/default-config"));
        for (flag, want) in [
            ("--config=/c", Some("/from-c")),
            ("-c=/c", Some("/from-c")),
            ("--config=/tables", Some("/run/containerd")),
            ("--config=/missing", Some("/run/containerd")),
            ("--config=/imports", None),
            ("--config=/escaped", None),
        ] {
            assert_eq!(state_dir(&args(&["containerd", flag]), read).as_deref(), want, "{flag}");
        }
        assert_eq!(state_dir(&args(&["containerd", "-c", "/c"]), read).as_deref(), Some("/from-c"));
    }

    #[test]
    fn toml_strings_are_taken_only_when_plain() {
        assert_eq!(toml_string("\"/a b\""), Some("/a b".into()));
        assert_eq!(toml_string("'/a\\b' # c"), Some("/a\\b".into()));
        for bad in ["/a", "\"/a", "\"\"", "\"/a\" x", "\"\"\"/a\"\"\""] {
            assert_eq!(toml_string(bad), None, "{bad}");
        }
    }

    #[test]
    fn identifiers_are_containerds() {
        for good in ["default", "k8s.io", "a", "a-b_c.d", &"x".repeat(76)] {
            assert!(is_identifier(good), "{good}");
        }
        for bad in ["", ".", "..", "a/b", "-a", "a-", "a..b", "a b", &"x".repeat(77), "ä"] {
            assert!(!is_identifier(bad), "{bad}");
        }
    }

    #[test]
    fn finds_the_freezer_v1_first_then_the_unified_hierarchy() {
        let hybrid = "\
25 1 0:23 / /sys rw - sysfs sysfs rw
30 25 0:26 / /sys/fs/cgroup ro - tmpfs tmpfs ro,mode=755
31 30 0:27 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw
35 30 0:31 /sub /sys/fs/cgroup/freezer2 rw - cgroup cgroup rw,freezer
36 30 0:32 / /sys/fs/cgroup/freezer rw,nosuid - cgroup cgroup rw,freezer
37 30 0:33 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory";
        assert_eq!(freezer_mount(hybrid), Some(Freezer::V1("/sys/fs/cgroup/freezer".into())));
        let unified = "31 1 0:27 / /sys/fs/cgroup rw shared:9 - cgroup2 cgroup2 rw,nsdelegate";
        assert_eq!(freezer_mount(unified), Some(Freezer::V2("/sys/fs/cgroup".into())));
        assert_eq!(freezer_mount("31 1 0:27 /x /sys/fs/cgroup rw - cgroup2 cgroup2 rw"), None);
        assert_eq!(freezer_mount("garbage\n\n"), None);
    }

    #[test]
    fn cgroup_paths_stay_inside_their_hierarchy() {
        let text = "9:name=systemd:/ns1/p1\n6:cpu,freezer:/ns1/p1\n0::/ns1/p1-v2\n";
        let freezer = |c: &str| c.split(',').any(|c| c == "freezer");
        assert_eq!(cgroup_path(text, freezer), Some("ns1/p1"));
        assert_eq!(cgroup_path(text, str::is_empty), Some("ns1/p1-v2"));
        assert_eq!(cgroup_path("6:freezer:/../x\n", freezer), None);
        assert_eq!(cgroup_path("6:freezer:relative\n", freezer), None);
        assert_eq!(cgroup_path("6:memory:/x\n", freezer), None);
    }

    /// A state directory and runc root holding one task of this test's
    /// child process; removed (and the child killed) when dropped.
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
            l.write("shim-binary-path", SHIM);
            l.write("options.json", "{}");
            std::fs::write(l.runc().join("state.json"), "{}").unwrap();
            l.freeze("THAWED\n", "0\n");
            // Written once the process is there, as the shim does.
            l.write("init.pid", &l.child.id().to_string());
            l
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

        fn bundles(&self, freezer: Freezer) -> Bundles {
            let me = std::process::id() as i32;
            Bundles {
                tasks: self.root.join("state").join(TASKS),
                runc_root: self.root.join("runc"),
                freezer,
                files: EngineFiles::of(me).unwrap(),
            }
        }

        /// The test's cgroup freezer: a directory standing for the
        /// hierarchy, with the child's cgroup in it (v1 if the child is in a
        /// v1 freezer, else v2).
        fn freezer(&self) -> (Freezer, PathBuf) {
            let cgroups = std::fs::read_to_string(format!("/proc/{}/cgroup", self.child.id())).unwrap();
            let mount = self.root.join("freezer");
            match cgroup_path(&cgroups, |c| c.split(',').any(|c| c == "freezer")) {
                Some(p) => (Freezer::V1(mount.clone()), mount.join(p).join("freezer.state")),
                None => (
                    Freezer::V2(mount.clone()),
                    mount.join(cgroup_path(&cgroups, str::is_empty).unwrap()).join("cgroup.freeze"),
                ),
            }
        }

        fn freeze(&self, v1: &str, v2: &str) {
            let (kind, file) = self.freezer();
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            std::fs::write(file, if matches!(kind, Freezer::V1(_)) { v1 } else { v2 }).unwrap();
        }

        /// PID and paused state as read.
        fn read(&self) -> Option<(u32, bool)> {
            self.bundles(self.freezer().0).read("ns1", "c1").map(|t| (t.pid, t.paused))
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
    fn a_started_runc_task_reads_as_alive_running_or_paused() {
        let l = Layout::new("alive");
        let pid = l.child.id();
        assert_eq!(l.read(), Some((pid, false)));
        l.freeze("FROZEN\n", "1\n");
        assert_eq!(l.read(), Some((pid, true)));
        l.freeze("FREEZING\n", "1\n");
        assert_eq!(l.read(), Some((pid, true)));
        l.freeze("what\n", "2\n");
        assert_eq!(l.read(), None);
        l.freeze("THAWED\n", "0\n");
        // runc named as its binary; another root given in the options.
        let other_root = l.root.join("other-runc");
        std::fs::create_dir_all(other_root.join("ns1/c1")).unwrap();
        std::fs::write(other_root.join("ns1/c1/state.json"), "{}").unwrap();
        let options = format!(r#"{{"binary_name":"/usr/local/bin/runc","root":"{}"}}"#, other_root.display());
        l.write("options.json", &options);
        assert_eq!(l.read(), Some((pid, false)));
        std::fs::remove_file(other_root.join("ns1/c1/state.json")).unwrap();
        assert_eq!(l.read(), None, "no runc state under the root the options name");
        // What a list reads.
        l.write("options.json", "{}");
        let b = l.bundles(l.freezer().0);
        let ids = ["c1", "c2", "..", "c1"].map(String::from);
        let started_at_ns = crate::core::process::start_time_ns(pid as i32).unwrap();
        let alive = Some(TaskState { pid, paused: false, started_at_ns });
        assert_eq!(b.read_each("ns1", &ids), [alive, None, None, alive]);
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
        // An init.pid that is no PID.
        for text in ["", "0", "-1", "x", "99999999999"] {
            l.write("init.pid", text);
            assert_eq!(l.read(), None, "{text:?}");
        }
        // A PID used again: the process started after init.pid was written.
        l.write("init.pid", &l.child.id().to_string());
        let f = std::fs::File::options().write(true).open(l.bundle().join("init.pid")).unwrap();
        f.set_modified(SystemTime::now() - Duration::from_secs(3600)).unwrap();
        assert_eq!(l.read(), None);
        // A process gone.
        let mut gone = std::process::Command::new("true").spawn().unwrap();
        let id = gone.id();
        gone.wait().unwrap();
        l.write("init.pid", &id.to_string());
        assert_eq!(l.read(), None);
        // Through a link, even to a good file.
        let real = l.root.join("pid");
        std::fs::write(&real, l.child.id().to_string()).unwrap();
        std::fs::remove_file(l.bundle().join("init.pid")).unwrap();
        std::os::unix::fs::symlink(&real, l.bundle().join("init.pid")).unwrap();
        assert_eq!(l.read(), None);
        // Unknown namespaces and IDs, and ones that are no identifiers.
        std::fs::remove_file(l.bundle().join("init.pid")).unwrap();
        l.write("init.pid", &l.child.id().to_string());
        let b = l.bundles(l.freezer().0);
        assert!(b.read("ns1", "c1").is_some());
        for (ns, id) in [("ns2", "c1"), ("ns1", "c2"), ("..", "ns1"), ("ns1", "../ns1/c1"), ("", "c1")] {
            assert_eq!(b.read(ns, id), None, "{ns}/{id}");
        }
    }
}
