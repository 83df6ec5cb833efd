//! A private containerd for the tests, started through tests/engines/containerd.sh.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

pub struct PrivateContainerd {
    pub dir: PathBuf,
    pub socket: PathBuf,
    /// Stopped when dropped (an engine made for one test by `fresh`).
    owned: bool,
    /// Environment for tests/engines/containerd.sh.
    env: Vec<(String, String)>,
    /// The socket as containerd itself sees it (differs when it runs in a
    /// mount namespace of its own).
    pub inner_socket: String,
}

impl Drop for PrivateContainerd {
    fn drop(&mut self) {
        if self.owned {
            self.stop();
        }
    }
}

fn run_script(args: &[&str]) -> String {
    run_script_env(args, &[])
}

fn run_script_env(args: &[&str], env: &[(String, String)]) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/engines/containerd.sh");
    let out = Command::new(script)
        .args(args)
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .output()
        .expect("run tests/engines/containerd.sh");
    assert!(
        out.status.success(),
        "containerd.sh {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().lines().last().unwrap_or_default().to_string()
}

impl PrivateContainerd {
    /// Starts (or reuses) the private containerd in `/tmp/wwt-NAME`, with
    /// busybox imported into `namespaces`.
    pub fn start(name: &str, namespaces: &[&str]) -> PrivateContainerd {
        let dir = PathBuf::from(format!("/tmp/wwt-{name}"));
        let mut args = vec!["start", dir.to_str().expect("UTF-8 dir")];
        args.extend_from_slice(namespaces);
        let socket = PathBuf::from(run_script(&args));
        let inner_socket = socket.display().to_string();
        PrivateContainerd { dir, socket, owned: false, env: Vec::new(), inner_socket }
    }

    /// Like [`PrivateContainerd::fresh`], in a mount namespace of its own
    /// where its sockets live in a private tmpfs at `/run/wwt-NAME`:
    /// reachable from here only through `/proc/PID/root`.
    pub fn fresh_unshared(name: &str, namespaces: &[&str]) -> PrivateContainerd {
        let dir = PathBuf::from(format!("/tmp/wwt-{name}"));
        let inner_dir = format!("/run/wwt-{name}");
        let env = vec![("CONTAINERD_NS_SOCKET_DIR".to_string(), inner_dir.clone())];
        if dir.exists() {
            run_script_env(&["stop", dir.to_str().unwrap()], &env);
            std::fs::remove_dir_all(&dir).unwrap_or_else(|e| panic!("remove {}: {e}", dir.display()));
        }
        let mut args = vec!["start", dir.to_str().expect("UTF-8 dir")];
        args.extend_from_slice(namespaces);
        let socket = PathBuf::from(run_script_env(&args, &env));
        PrivateContainerd { dir, socket, owned: true, env, inner_socket: format!("{inner_dir}/containerd.sock") }
    }

    /// Like [`PrivateContainerd::start`], in an empty directory, and stopped
    /// when dropped.
    pub fn fresh(name: &str, namespaces: &[&str]) -> PrivateContainerd {
        let dir = PathBuf::from(format!("/tmp/wwt-{name}"));
        if dir.exists() {
            run_script(&["stop", dir.to_str().unwrap()]);
            std::fs::remove_dir_all(&dir).unwrap_or_else(|e| panic!("remove {}: {e}", dir.display()));
        }
        let mut engine = PrivateContainerd::start(name, namespaces);
        engine.owned = true;
        engine
    }

    pub fn endpoint(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    pub fn stop(&self) {
        run_script_env(&["stop", self.dir.to_str().unwrap()], &self.env);
    }

    /// SIGKILL for containerd; shims and containers live on.
    pub fn kill(&self) {
        run_script(&["kill", self.dir.to_str().unwrap()]);
    }

    pub fn restart(&self) {
        run_script_env(&["start", self.dir.to_str().unwrap()], &self.env);
    }

    pub fn pid(&self) -> i32 {
        std::fs::read_to_string(self.dir.join("containerd.pid")).expect("pidfile").trim().parse().expect("pid")
    }

    /// Runs ctr in namespace `ns`; panics on failure.
    pub fn ctr(&self, ns: &str, args: &[&str]) -> String {
        self.try_ctr(ns, args).unwrap_or_else(|e| panic!("ctr -n {ns} {args:?}: {e}"))
    }

    pub fn try_ctr(&self, ns: &str, args: &[&str]) -> Result<String, String> {
        let out = Command::new("ctr")
            .arg("-a")
            .arg(&self.socket)
            .arg("-n")
            .arg(ns)
            .args(args)
            .output()
            .map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
        }
    }

    /// Makes busybox available in namespace `ns` (creating the namespace).
    pub fn import_busybox(&self, ns: &str) {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/engines/busybox-image-containerd.sh");
        let out = Command::new(script).arg(&self.socket).arg(ns).output().expect("import busybox");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }

    /// Runs a sleeping busybox task `id` in `ns`.
    pub fn run(&self, ns: &str, id: &str, labels: &[(&str, &str)]) {
        let fifos = self.dir.join("fifo");
        let fifos = fifos.to_str().unwrap();
        let mut args = vec!["run", "-d", "--fifo-dir", fifos];
        let labels: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        for l in &labels {
            args.extend(["--label", l.as_str()]);
        }
        args.extend(["docker.io/library/busybox:local", id, "/bin/sleep", "100000"]);
        if let Err(e) = self.try_ctr(ns, &args) {
            // What an earlier run of a shared engine left behind.
            assert!(e.contains("already exists"), "ctr -n {ns} {args:?}: {e}");
            self.remove(ns, id);
            let _ = self.try_ctr(ns, &["snapshots", "rm", id]);
            self.ctr(ns, &args);
        }
    }

    /// The PID of task `id`'s init process.
    pub fn pid_of(&self, ns: &str, id: &str) -> i32 {
        let tasks = self.ctr(ns, &["tasks", "ls"]);
        tasks
            .lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                (f.first() == Some(&id)).then(|| f.get(1)?.parse().ok()).flatten()
            })
            .next()
            .unwrap_or_else(|| panic!("no task {id} in {ns}: {tasks}"))
    }

    pub fn kill_task(&self, ns: &str, id: &str) {
        self.ctr(ns, &["tasks", "kill", "-s", "SIGKILL", id]);
    }

    /// Removes task and container `id`, whatever state they are in.
    pub fn remove(&self, ns: &str, id: &str) {
        let _ = self.try_ctr(ns, &["tasks", "kill", "-s", "SIGKILL", id]);
        for _ in 0..50 {
            if self.try_ctr(ns, &["tasks", "delete", "-f", id]).is_ok()
                || self.try_ctr(ns, &["tasks", "ls", "-q"]).is_ok_and(|l| !l.lines().any(|t| t == id))
            {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let _ = self.try_ctr(ns, &["containers", "delete", id]);
    }
}

static SHARED: OnceLock<PrivateContainerd> = OnceLock::new();

extern "C" fn stop_shared() {
    if let Some(c) = SHARED.get() {
        c.stop();
    }
}

/// One private containerd shared by all tests of a test binary (with busybox
/// in `default`, `wwtest` and `moby`), stopped when the binary exits.
pub fn shared(name: &str) -> &'static PrivateContainerd {
    SHARED.get_or_init(|| {
        let c = PrivateContainerd::start(name, &["default", "wwtest", "moby"]);
        // SAFETY: registering a plain extern "C" fn without arguments.
        unsafe { libc::atexit(stop_shared) };
        c
    })
}
