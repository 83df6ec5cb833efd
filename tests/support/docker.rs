//! A private dockerd for the tests, started through tests/engines/dockerd.sh.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

pub struct PrivateDocker {
    pub dir: PathBuf,
    pub socket: PathBuf,
    /// Stopped when dropped (an engine made for one test by `fresh`).
    owned: bool,
}

impl Drop for PrivateDocker {
    fn drop(&mut self) {
        if self.owned {
            self.stop();
        }
    }
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/engines/dockerd.sh")
}

fn run_script(verb: &str, dir: &Path, extra_args: &str) -> String {
    run_script_env(verb, dir, extra_args, &[])
}

fn run_script_env(verb: &str, dir: &Path, extra_args: &str, env: &[(&str, &str)]) -> String {
    let out = Command::new(script())
        .arg(verb)
        .arg(dir)
        .env("DOCKERD_EXTRA_ARGS", extra_args)
        .envs(env.iter().copied())
        .output()
        .expect("run tests/engines/dockerd.sh");
    assert!(
        out.status.success(),
        "dockerd.sh {verb} {} failed: {}\n{}",
        dir.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().lines().last().unwrap_or_default().to_string()
}

impl PrivateDocker {
    /// Starts (or reuses) the private dockerd in `/tmp/wwt-NAME`, with `extra_args` for dockerd.
    pub fn start(name: &str, extra_args: &str) -> PrivateDocker {
        let dir = PathBuf::from(format!("/tmp/wwt-{name}"));
        let socket = PathBuf::from(run_script("start", &dir, extra_args));
        assert!(socket.starts_with(&dir), "unexpected socket {}", socket.display());
        PrivateDocker { dir, socket, owned: false }
    }

    /// Starts a private dockerd in an empty `/tmp/wwt-NAME` (whatever an
    /// earlier run left there is stopped and removed first), stopped again
    /// when dropped.
    pub fn fresh(name: &str, extra_args: &str) -> PrivateDocker {
        let dir = PathBuf::from(format!("/tmp/wwt-{name}"));
        if dir.exists() {
            run_script("stop", &dir, "");
            std::fs::remove_dir_all(&dir).unwrap_or_else(|e| panic!("remove {}: {e}", dir.display()));
        }
        let mut engine = PrivateDocker::start(name, extra_args);
        engine.owned = true;
        engine
    }

    /// Like [`PrivateDocker::fresh`], in directory `dir` (its socket is
    /// `DIR/docker.sock`).
    pub fn fresh_in(dir: &str, extra_args: &str) -> PrivateDocker {
        let dir = PathBuf::from(dir);
        if dir.exists() {
            run_script("stop", &dir, "");
            std::fs::remove_dir_all(&dir).unwrap_or_else(|e| panic!("remove {}: {e}", dir.display()));
        }
        let socket = PathBuf::from(run_script("start", &dir, extra_args));
        PrivateDocker { dir, socket, owned: true }
    }

    /// Like [`PrivateDocker::fresh`], started through socket activation:
    /// another process listens on the socket and hands it to dockerd.
    pub fn fresh_activated(name: &str) -> PrivateDocker {
        let dir = PathBuf::from(format!("/tmp/wwt-{name}"));
        if dir.exists() {
            run_script("stop", &dir, "");
            std::fs::remove_dir_all(&dir).unwrap_or_else(|e| panic!("remove {}: {e}", dir.display()));
        }
        let socket = PathBuf::from(run_script_env("start", &dir, "", &[("DOCKERD_ACTIVATED", "1")]));
        PrivateDocker { dir, socket, owned: true }
    }

    pub fn endpoint(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    pub fn stop(&self) {
        run_script("stop", &self.dir, "");
    }

    /// SIGKILL for dockerd.
    pub fn kill(&self) {
        run_script("kill", &self.dir, "");
    }

    pub fn restart(&self, extra_args: &str) {
        run_script("start", &self.dir, extra_args);
    }

    /// The daemon's PID from its pidfile.
    pub fn pid(&self) -> i32 {
        std::fs::read_to_string(self.dir.join("docker.pid")).expect("pidfile").trim().parse().expect("pid")
    }

    /// Runs the docker CLI against this daemon; panics on failure.
    pub fn docker(&self, args: &[&str]) -> String {
        let out = self.try_docker(args);
        out.unwrap_or_else(|e| panic!("docker {args:?}: {e}"))
    }

    pub fn try_docker(&self, args: &[&str]) -> Result<String, String> {
        let out =
            Command::new("docker").arg("-H").arg(self.endpoint()).args(args).output().map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
        }
    }

    /// Runs a sleeping busybox container; returns its full ID.
    pub fn run(&self, name: &str, labels: &[(&str, &str)]) -> String {
        let mut args =
            vec!["run".to_string(), "-d".into(), "--network".into(), "none".into(), "--name".into(), name.into()];
        for (k, v) in labels {
            args.push("--label".into());
            args.push(format!("{k}={v}"));
        }
        args.extend(["busybox:local".into(), "/bin/sleep".into(), "100000".into()]);
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        self.docker(&refs)
    }

    /// The PID docker inspect reports.
    pub fn pid_of(&self, id: &str) -> i32 {
        self.docker(&["inspect", "-f", "{{.State.Pid}}", id]).parse().expect("pid")
    }

    /// Removes every container carrying label `key=value`.
    pub fn remove_labelled(&self, key: &str, value: &str) {
        let ids = self.docker(&["ps", "-aq", "--filter", &format!("label={key}={value}")]);
        let ids: Vec<&str> = ids.split_whitespace().collect();
        if !ids.is_empty() {
            let mut args = vec!["rm", "-f"];
            args.extend(ids);
            let _ = self.try_docker(&args);
        }
    }
}

static SHARED: OnceLock<PrivateDocker> = OnceLock::new();

extern "C" fn stop_shared() {
    if let Some(d) = SHARED.get() {
        d.stop();
    }
}

/// One private dockerd shared by all tests of a test binary, stopped when the
/// binary exits.
pub fn shared(name: &str) -> &'static PrivateDocker {
    SHARED.get_or_init(|| {
        let d = PrivateDocker::start(name, "");
        // SAFETY: registering a plain extern "C" fn without arguments.
        unsafe { libc::atexit(stop_shared) };
        d
    })
}
