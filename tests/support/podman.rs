//! A private podman API service for the tests, started through
//! tests/engines/podman.sh.

use std::path::{Path, PathBuf};
use std::process::Command;

pub struct PrivatePodman {
    pub dir: PathBuf,
    pub socket: PathBuf,
    events_logger: String,
}

impl Drop for PrivatePodman {
    fn drop(&mut self) {
        self.stop();
    }
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/engines/podman.sh")
}

impl PrivatePodman {
    /// A fresh service in an empty `/tmp/wwt-NAME` (whatever an earlier run
    /// left there is stopped and removed first), stopped when dropped.
    /// `events_logger`: "file", or "none" for a service that logs no events.
    pub fn fresh(name: &str, events_logger: &str) -> PrivatePodman {
        let dir = PathBuf::from(format!("/tmp/wwt-{name}"));
        let mut p =
            PrivatePodman { dir: dir.clone(), socket: dir.join("podman.sock"), events_logger: events_logger.into() };
        if dir.exists() {
            p.script("stop");
            std::fs::remove_dir_all(&dir).unwrap_or_else(|e| panic!("remove {}: {e}", dir.display()));
        }
        p.socket = PathBuf::from(p.script("start"));
        p
    }

    fn script(&self, verb: &str) -> String {
        let out = Command::new(script())
            .arg(verb)
            .arg(&self.dir)
            .env("PODMAN_EVENTS_LOGGER", &self.events_logger)
            .output()
            .expect("run tests/engines/podman.sh");
        assert!(
            out.status.success(),
            "podman.sh {verb} {} failed: {}\n{}",
            self.dir.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().lines().last().unwrap_or_default().to_string()
    }

    pub fn endpoint(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    pub fn stop(&self) {
        self.script("stop");
    }

    /// SIGKILL for the service; the containers live on.
    pub fn kill(&self) {
        self.script("kill");
    }

    pub fn restart(&self) {
        self.script("start");
    }

    /// The service's PID.
    pub fn pid(&self) -> i32 {
        let out = Command::new("pgrep")
            .arg("-f")
            .arg(format!("system service --time=0 {}", self.endpoint()))
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).split_whitespace().next().expect("the service runs").parse().unwrap()
    }

    /// Runs the podman CLI against this service; panics on failure.
    pub fn podman(&self, args: &[&str]) -> String {
        self.try_podman(args).unwrap_or_else(|e| panic!("podman {args:?}: {e}"))
    }

    pub fn try_podman(&self, args: &[&str]) -> Result<String, String> {
        let out =
            Command::new("podman").arg("--url").arg(self.endpoint()).args(args).output().map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
        }
    }

    /// Runs a sleeping busybox container (in `pod` if given); returns its full ID.
    pub fn run(&self, name: &str, labels: &[(&str, &str)], pod: Option<&str>, cmd: &[&str]) -> String {
        let mut args: Vec<String> = ["run", "-d", "--name", name].map(String::from).to_vec();
        if let Some(pod) = pod {
            args.extend(["--pod".into(), pod.into()]);
        }
        for (k, v) in labels {
            args.extend(["--label".into(), format!("{k}={v}")]);
        }
        args.push("localhost/busybox:local".into());
        if cmd.is_empty() {
            args.extend(["/bin/sleep".into(), "100000".into()]);
        } else {
            args.extend(cmd.iter().map(|s| s.to_string()));
        }
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        self.podman(&refs)
    }

    /// A pod whose infra container runs the busybox image; returns the pod's ID.
    pub fn pod(&self, name: &str) -> String {
        self.podman(&["pod", "create", "--name", name, "--infra-image", "localhost/busybox:local"])
    }

    /// The infra container's full ID of pod `name`.
    pub fn infra_of(&self, pod: &str) -> String {
        self.podman(&["pod", "inspect", "-f", "{{.InfraContainerID}}", pod])
    }

    /// (full ID, PID, paused) of every alive container, as podman says, sorted.
    pub fn alive(&self) -> Vec<(String, i32, bool)> {
        let ids = self.podman(&["ps", "-q", "--no-trunc", "--filter", "status=running", "--filter", "status=paused"]);
        let mut v: Vec<(String, i32, bool)> = ids
            .split_whitespace()
            .filter_map(|id| {
                let s = self.try_podman(&["inspect", "-f", "{{.State.Pid}} {{.State.Paused}}", id]).ok()?;
                let (pid, paused) = s.split_once(' ')?;
                Some((id.to_string(), pid.parse().ok()?, paused == "true"))
            })
            .filter(|(_, pid, _)| *pid > 0)
            .collect();
        v.sort();
        v
    }

    pub fn pid_of(&self, id: &str) -> i32 {
        self.podman(&["inspect", "-f", "{{.State.Pid}}", id]).parse().expect("pid")
    }
}

static SHARED: std::sync::OnceLock<PrivatePodman> = std::sync::OnceLock::new();

extern "C" fn stop_shared() {
    if let Some(p) = SHARED.get() {
        p.stop();
    }
}

/// One private podman service shared by all tests of a test binary,
/// stopped when the binary exits.
pub fn shared(name: &str) -> &'static PrivatePodman {
    SHARED.get_or_init(|| {
        let p = PrivatePodman::fresh(name, "file");
        // SAFETY: registering a plain extern "C" fn without arguments.
        unsafe { libc::atexit(stop_shared) };
        p
    })
}
