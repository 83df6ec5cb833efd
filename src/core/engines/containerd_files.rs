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
//! STATE is the engine's `--state`, else `state` in its configuration file
//! (`--config`, `/etc/containerd/config.toml` by default), else
//! `/run/containerd`, and is believed only when the engine holds a task's
//! log open in it (when there are tasks); everything is reached through
//! the mounts of the process serving the socket, which takes root or
//! containerd's own user.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::engine_files::{read_each, EngineFiles};
use crate::core::process::{alive_since_ticks, kernel_file, ticks_to_unix_ns};
use crate::core::sockets::{cmdline, comm};

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
/// The largest small file read (a shim's path, its options).
const MAX_SMALL: u64 = 64 << 10;
/// The largest runc state read (the container's whole configuration).
const MAX_RUNC_STATE: u64 = 4 << 20;
/// The largest configuration file read.
const MAX_CONFIG: u64 = 1 << 20;

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
        let config = |path: &str| {
            // Paths that would name this process's own files, not the
            // engine's, cannot tell.
            if path.starts_with("/proc/") || path.starts_with("/dev/") {
                return Err(());
            }
            let at = match path.starts_with('/') {
                true => files.reach(path),
                false => PathBuf::from(format!("/proc/{pid}/cwd")).join(path),
            };
            read_config(&at)
        };
        let state = state_dir(&cmdline(pid), config)?;
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
            return Some(kernel_file(&reach(v1)?.join("freezer.state"))?.trim() == "THAWED");
        }
        let events = kernel_file(&reach(cgroups.get("")?)?.join("cgroup.events"))?;
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

/// What is used of runc's `state.json`.
#[derive(Debug, PartialEq, Eq)]
struct RuncInit {
    /// `init_process_pid`.
    pid: i64,
    /// `init_process_start`: ticks after boot (field 22 of its stat).
    start: u64,
    /// `cgroup_paths`: each hierarchy's directory of the container, by
    /// controller (`""` for cgroup v2's), as runc's mounts show them.
    cgroups: HashMap<String, String>,
}

/// The top-level `init_process_pid`, `init_process_start` and
/// `cgroup_paths` of runc's `state.json`, found without parsing the rest
/// (the container's whole configuration): keys of nested objects and text
/// in strings are skipped as JSON says. `None` unless all three are there
/// (integers and an object of strings) before anything malformed.
fn runc_init(json: &[u8]) -> Option<RuncInit> {
    let ws = |mut i: usize| {
        while json.get(i).is_some_and(u8::is_ascii_whitespace) {
            i += 1;
        }
        i
    };
    let mut i = ws(0);
    if *json.get(i)? != b'{' {
        return None;
    }
    let (mut pid, mut start, mut cgroups) = (None, None, None);
    i += 1;
    loop {
        let key_at = ws(i);
        let after_key = json_value_end(json, key_at)?;
        let key = json.get(key_at..after_key)?;
        i = ws(after_key);
        if *json.get(i)? != b':' || key.first() != Some(&b'"') {
            return None;
        }
        let value_at = ws(i + 1);
        let end = json_value_end(json, value_at)?;
        let number = || std::str::from_utf8(&json[value_at..end]).ok();
        match key {
            b"\"init_process_pid\"" => pid = Some(number()?.parse().ok()?),
            b"\"init_process_start\"" => start = Some(number()?.parse().ok()?),
            b"\"cgroup_paths\"" => cgroups = Some(serde_json::from_slice(&json[value_at..end]).ok()?),
            _ => {}
        }
        if pid.is_some() && start.is_some() && cgroups.is_some() {
            return Some(RuncInit { pid: pid?, start: start?, cgroups: cgroups? });
        }
        i = ws(end);
        match json.get(i)? {
            b',' => i += 1,
            _ => return None,
        }
    }
}

/// Where the JSON value that starts at `i` ends (the index after it):
/// strings with their escapes, objects and arrays with whatever they
/// nest, anything else up to the next delimiter. `None` if it does not
/// end.
fn json_value_end(json: &[u8], i: usize) -> Option<usize> {
    let string_end = |mut j: usize| loop {
        match json.get(j)? {
            b'\\' => j += 2,
            b'"' => return Some(j + 1),
            _ => j += 1,
        }
    };
    match json.get(i)? {
        b'"' => string_end(i + 1),
        b'{' | b'[' => {
            let (mut depth, mut j) = (0usize, i);
            loop {
                match json.get(j)? {
                    b'"' => {
                        j = string_end(j + 1)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(j + 1);
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
        }
        _ => {
            let len = json[i..].iter().position(|c| matches!(c, b',' | b'}' | b']') || c.is_ascii_whitespace());
            Some(i + len.unwrap_or(json.len() - i)).filter(|&end| end > i)
        }
    }
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
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?;
    Some(fds.flatten().any(|fd| std::fs::read_link(fd.path()).is_ok_and(|l| l.starts_with(&prefix))))
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

/// A configuration file's text: `Ok(None)` when there is none, `Err` when
/// it is there but cannot be read whole (not a regular file, too large,
/// not UTF-8, not readable). Never blocks on a FIFO.
fn read_config(path: &Path) -> Result<Option<String>, ()> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let f = match std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(_) => return Err(()),
    };
    if !f.metadata().map_err(|_| ())?.is_file() {
        return Err(());
    }
    let mut text = String::new();
    f.take(MAX_CONFIG + 1).read_to_string(&mut text).map_err(|_| ())?;
    if text.len() as u64 > MAX_CONFIG {
        return Err(());
    }
    Ok(Some(text))
}

/// containerd's state directory from its command line `args`: the last
/// `--state`, else `state` in the configuration file the last `--config`
/// (`-c`) names or the default one, as `config` reads it (`Ok(None)` when
/// there is none), else the default. `None` when that cannot be told: a
/// configuration named but missing or unreadable (containerd would not
/// have started), one this cannot read as TOML, or one that imports
/// others.
fn state_dir(args: &[String], config: impl Fn(&str) -> Result<Option<String>, ()>) -> Option<String> {
    let (mut state, mut config_path) = (None, None);
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
            "state" => state = Some(value),
            _ => config_path = Some(value),
        }
    }
    if let Some(state) = state {
        return state.starts_with('/').then_some(state);
    }
    let from_config = match &config_path {
        Some(path) => toml_state(&config(path).ok()??)?,
        None => match config(DEFAULT_CONFIG).ok()? {
            Some(text) => toml_state(&text)?,
            None => None,
        },
    };
    let state = from_config.unwrap_or_else(|| DEFAULT_STATE.to_string());
    state.starts_with('/').then_some(state)
}

/// The top-level `state` of a containerd configuration: `Some(None)` when
/// it sets none, `None` when this cannot tell (a value that is not a plain
/// one-line string, or `imports` of other files, which may set it).
fn toml_state(text: &str) -> Option<Option<String>> {
    let mut state = None;
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            // The first table ends the top level.
            break;
        }
        let Some((key, value)) = line.split_once('=') else { continue };
        match key.trim().trim_matches(|c| c == '"' || c == '\'') {
            "imports" if no_imports(value) => {}
            "imports" => return None,
            "state" => state = Some(toml_string(value.trim())?),
            _ => {}
        }
    }
    Some(state)
}

/// An empty array (`[]`, maybe with a comment after it).
fn no_imports(value: &str) -> bool {
    let value = value.split('#').next().unwrap_or_default();
    value.chars().filter(|c| !c.is_whitespace()).collect::<String>() == "[]"
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::process::start_time_ns;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_state_directory_comes_from_flags_then_configuration_then_default() {
        let none = |_: &str| Ok(None);
        assert_eq!(state_dir(&args(&["containerd"]), none).as_deref(), Some("/run/containerd"));
        for a in [
            &["containerd", "--state", "/s"][..],
            &["containerd", "--state=/s"],
            &["containerd", "-state", "/s", "--config", "/c"],
            &["containerd", "-c", "/c", "--state", "/s"],
            &["containerd", "--state", "/first", "--state=/s"],
        ] {
            assert_eq!(state_dir(&args(a), |_| Ok(Some("state = '/other'".into()))).as_deref(), Some("/s"), "{a:?}");
        }
        assert_eq!(state_dir(&args(&["containerd", "--state", "relative"]), none), None);
        assert_eq!(state_dir(&args(&["containerd", "--state"]), none), None);
        let read = |path: &str| match path {
            "/etc/containerd/config.toml" => Ok(Some("version = 2\nstate = \"/default-config\"\n".to_string())),
            "/c" => Ok(Some("# x\nroot = \"/r\"\n state=\"/from-c\" # comment\n[grpc]\nstate = \"/no\"".to_string())),
            // As `containerd config default` writes it.
            "/generated" => {
                Ok(Some("disabled_plugins = []\nimports = []\noom_score = 0\nstate = \"/gen\"\nversion = 2\n".into()))
            }
            "/tables" => Ok(Some("version = 2\n[grpc]\n  state = \"/no\"\n".to_string())),
            "/imports" => Ok(Some("imports = [\"/etc/containerd/conf.d/*.toml\"]\n".to_string())),
            // An import may set it again, and it would win.
            "/imports-after" => Ok(Some("state = \"/s\"\nimports = [\"/etc/containerd/x.toml\"]\n".to_string())),
            "/escaped" => Ok(Some("state = \"/a\\\\b\"\n".to_string())),
            "/unreadable" => Err(()),
            _ => Ok(None),
        };
        assert_eq!(state_dir(&args(&["containerd"]), read).as_deref(), Some("/default-config"));
        for (flag, want) in [
            ("--config=/c", Some("/from-c")),
            ("-c=/c", Some("/from-c")),
            ("--config=/generated", Some("/gen")),
            ("--config=/tables", Some("/run/containerd")),
            ("--config=/imports", None),
            ("--config=/imports-after", None),
            ("--config=/escaped", None),
            // Named but not there, or unreadable: containerd would not run
            // with it, so this cannot tell what it runs with.
            ("--config=/missing", None),
            ("--config=/unreadable", None),
        ] {
            assert_eq!(state_dir(&args(&["containerd", flag]), read).as_deref(), want, "{flag}");
        }
        assert_eq!(state_dir(&args(&["containerd", "-c", "/c"]), read).as_deref(), Some("/from-c"));
        assert_eq!(state_dir(&args(&["containerd", "-c", "/imports", "-c", "/c"]), read).as_deref(), Some("/from-c"));
        // The default configuration there but unreadable.
        assert_eq!(state_dir(&args(&["containerd"]), |_| Err(())), None);
    }

    #[test]
    fn configurations_are_read_whole_or_not_at_all() {
        let dir = std::env::temp_dir().join(format!("ww-ctrd-config-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("ok.toml"), "state = \"/s\"\n").unwrap();
        assert_eq!(read_config(&dir.join("ok.toml")), Ok(Some("state = \"/s\"\n".into())));
        assert_eq!(read_config(&dir.join("missing.toml")), Ok(None));
        assert_eq!(read_config(&dir), Err(()), "a directory");
        std::fs::write(dir.join("large.toml"), "#".repeat(MAX_CONFIG as usize + 1)).unwrap();
        assert_eq!(read_config(&dir.join("large.toml")), Err(()));
        std::fs::write(dir.join("binary.toml"), [0xff, 0xfe]).unwrap();
        assert_eq!(read_config(&dir.join("binary.toml")), Err(()));
        // A FIFO: refused without blocking.
        let fifo = dir.join("fifo.toml");
        assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
        assert_eq!(read_config(&fifo), Err(()));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn toml_strings_are_taken_only_when_plain() {
        assert_eq!(toml_string("\"/a b\""), Some("/a b".into()));
        assert_eq!(toml_string("'/a\\b' # c"), Some("/a\\b".into()));
        for bad in ["/a", "\"/a", "\"\"", "\"/a\" x", "\"\"\"/a\"\"\""] {
            assert_eq!(toml_string(bad), None, "{bad}");
        }
        assert!(no_imports(" [ ] # none") && no_imports("[]"));
        assert!(!no_imports("[\"/x\"]") && !no_imports("["));
    }

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

    #[test]
    fn runc_init_is_read_from_the_top_level_only() {
        let real = r#"{"id":"c1","init_process_pid":3168,"init_process_start":4374595,"created":"2026-11-30T08:22:25Z",
            "config":{"labels":["a={\"init_process_pid\":1}"],"init_process_pid":7,"mounts":[{"x":[1,{"y":"]}"}]}]},
            "rootless":false,"cgroup_paths":{"":"/sys/fs/cgroup/unified/ns1/c1","freezer":"/sys/fs/cgroup/freezer/ns1/c1"},
            "namespace_paths":{"NEWPID":"/proc/3168/ns/pid"}}"#;
        let cgroups = HashMap::from([
            (String::new(), "/sys/fs/cgroup/unified/ns1/c1".to_string()),
            ("freezer".to_string(), "/sys/fs/cgroup/freezer/ns1/c1".to_string()),
        ]);
        assert_eq!(runc_init(real.as_bytes()), Some(RuncInit { pid: 3168, start: 4374595, cgroups: cgroups.clone() }));
        // Nested keys and strings that look like them do not count.
        let nested = r#"{"config":{"init_process_pid":1,"init_process_start":2,"cgroup_paths":{}},
            "s":"\"init_process_pid\":3","init_process_start":20,"init_process_pid":10,"cgroup_paths":{"a":"/b"}}"#;
        let a = HashMap::from([("a".to_string(), "/b".to_string())]);
        assert_eq!(runc_init(nested.as_bytes()), Some(RuncInit { pid: 10, start: 20, cgroups: a }));
        for bad in [
            "",
            "[]",
            "{}",
            r#"{"init_process_pid":1,"init_process_start":2}"#,
            r#"{"init_process_pid":"1","init_process_start":2,"cgroup_paths":{}}"#,
            r#"{"init_process_pid":1.5,"init_process_start":2,"cgroup_paths":{}}"#,
            r#"{"init_process_pid":1,"init_process_start":-2,"cgroup_paths":{}}"#,
            r#"{"init_process_pid":1,"init_process_start":2,"cgroup_paths":{"a":1}}"#,
            r#"{"init_process_pid":1,"init_process_start":2,"cgroup_paths":["/a"]}"#,
            r#"{"init_process_pid":1 "init_process_start":2,"cgroup_paths":{}}"#,
            r#"{"a":{"b":1,"init_process_pid":1,"init_process_start":2,"cgroup_paths":{}"#,
            r#"{"a":"unterminated,"init_process_pid":1,"init_process_start":2,"cgroup_paths":{}}"#,
            r#"{init_process_pid:1,init_process_start:2,cgroup_paths:{}}"#,
            r#"{"init_process_pid":,"init_process_start":2,"cgroup_paths":{}}"#,
        ] {
            assert_eq!(runc_init(bad.as_bytes()), None, "{bad}");
        }
    }
}
