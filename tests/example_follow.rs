//! The C example's `--follow` mode (c-examples/watch.c), built against a
//! fresh installation, against a private dockerd: after its listing it
//! prints one line per change as the change happens (containers started,
//! paused, resumed, renamed and killed with the docker CLI, the engine lost
//! and back), each exactly once and in order, and SIGINT or SIGTERM end it
//! with exit status 0.

mod support;

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::Duration;

use support::docker::PrivateDocker;
use support::stage::{installed, repo};

/// How long one change may take to show.
const LINE_TIMEOUT: Duration = Duration::from_secs(30);

/// Compiles c-examples/watch.c the way a user does: flags from the installed
/// pkg-config file, the library's directory as rpath, and the example's own
/// warning flags (c-examples/Makefile).
fn build_watch(dir: &Path) -> PathBuf {
    let prefix = installed("example-follow");
    let pkg_config = |arg: &str| {
        let out = Command::new("pkg-config")
            .env("PKG_CONFIG_PATH", prefix.join("lib/pkgconfig"))
            .args([arg, "whalewatcher"])
            .output()
            .expect("run pkg-config");
        assert!(out.status.success(), "pkg-config {arg}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap().split_whitespace().map(String::from).collect::<Vec<_>>()
    };
    let libdir = pkg_config("--variable=libdir").concat();
    let bin = dir.join("watch");
    let out = Command::new("cc")
        .args(["-std=c99", "-Wall", "-Wextra", "-Wpedantic", "-Werror", "-O2", "-g", "-D_POSIX_C_SOURCE=200809L"])
        .args(pkg_config("--cflags"))
        .arg("-o")
        .arg(&bin)
        .arg(repo().join("c-examples/watch.c"))
        .arg(format!("-Wl,-rpath,{libdir}"))
        .args(pkg_config("--libs"))
        .output()
        .expect("run cc");
    assert!(out.status.success(), "compiling watch.c failed:\n{}", String::from_utf8_lossy(&out.stderr));
    bin
}

/// A running `watch --follow`, its stdout read line by line.
struct Follow {
    child: Child,
    lines: Receiver<String>,
    seen: Vec<String>,
    stderr: std::thread::JoinHandle<String>,
}

impl Follow {
    fn start(bin: &Path, endpoint: &str) -> Follow {
        let mut child = Command::new(bin)
            .arg("--follow")
            .arg(endpoint)
            .env_remove("LD_LIBRARY_PATH")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start watch --follow");
        let (tx, lines) = channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                if tx.send(line.expect("watch's stdout is UTF-8")).is_err() {
                    break;
                }
            }
        });
        let mut err = child.stderr.take().unwrap();
        let stderr = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = err.read_to_string(&mut s);
            s
        });
        Follow { child, lines, seen: Vec::new(), stderr }
    }

    /// The next line, within `LINE_TIMEOUT`.
    fn next(&mut self, waiting_for: &str) -> String {
        match self.lines.recv_timeout(LINE_TIMEOUT) {
            Ok(line) => {
                self.seen.push(line.clone());
                line
            }
            Err(e) => panic!("no line ({e}) while waiting for {waiting_for:?}; printed so far:\n{}", self.printed()),
        }
    }

    /// The next line must be `want`.
    fn expect(&mut self, want: &str) {
        let got = self.next(want);
        assert_eq!(got, want, "printed so far:\n{}", self.printed());
    }

    /// Nothing is printed for `quiet`, and meanwhile the program sleeps
    /// (in poll) rather than spins: at most 50 ms of CPU time.
    fn expect_quiet(&mut self, quiet: Duration) {
        let before = self.cpu_ticks();
        if let Ok(line) = self.lines.recv_timeout(quiet) {
            self.seen.push(line);
            panic!("an unexpected line; printed so far:\n{}", self.printed());
        }
        // SAFETY: sysconf has no preconditions.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as u64;
        let used_ms = (self.cpu_ticks() - before) * 1000 / hz;
        assert!(used_ms <= 50, "watch --follow used {used_ms} ms CPU in {quiet:?} without a change");
    }

    /// User plus system CPU time of the process, all its threads, in clock ticks.
    fn cpu_ticks(&self) -> u64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).expect("/proc/PID/stat");
        // Fields 14 and 15 (utime, stime), counted after the ")" that ends field 2.
        let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split_whitespace().collect();
        fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
    }

    fn printed(&self) -> String {
        self.seen.join("\n")
    }

    /// Sends `signal`, then returns the exit status, what was printed after
    /// the lines already read, and stderr.
    fn stop(mut self, signal: i32) -> (std::process::ExitStatus, Vec<String>, String) {
        // SAFETY: a plain system call on the PID of our own child, not yet reaped.
        assert_eq!(unsafe { libc::kill(self.child.id() as i32, signal) }, 0);
        let status = self.child.wait().expect("wait for watch");
        let rest: Vec<String> = self.lines.iter().collect();
        let stderr = std::mem::replace(&mut self.stderr, std::thread::spawn(String::new));
        (status, rest, stderr.join().unwrap())
    }
}

impl Drop for Follow {
    fn drop(&mut self) {
        // A failed test leaves no watch running.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The line `watch --follow` prints for a change of a Docker container.
fn change(what: &str, name: &str, id: &str, pid: i32) -> String {
    let mark = match what {
        "started" => '+',
        "exited" => '-',
        _ => '~',
    };
    format!("{mark} {what} {name} (ID {}, PID {pid})", &id[..12])
}

#[test]
fn follow_prints_each_change_once_in_order_and_ends_cleanly_on_sigint_and_sigterm() {
    let build = std::env::temp_dir().join(format!("wwt-follow-build-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&build);
    std::fs::create_dir_all(&build).unwrap();
    let bin = build_watch(&build);
    let engine = PrivateDocker::fresh("follow-docker", "");
    let ep = engine.endpoint();
    let version = engine.docker(&["version", "--format", "{{.Server.Version}}"]);

    let mut w = Follow::start(&bin, &ep);
    // The listing: the engine, found by SO_PEERCRED, and no containers yet.
    let first = w.next("the engine line");
    let prefix = format!("engine docker.com {version} at {ep} (PID {}), synced, generation ", engine.pid());
    let generation = first.strip_prefix(&prefix).unwrap_or_else(|| panic!("{first:?} does not start with {prefix:?}"));
    assert!(generation.parse::<u64>().is_ok_and(|g| g >= 1), "{first}");
    w.expect("no alive containers");

    // Each change is awaited before the next one is made, so that none folds
    // into another (a pause and an unpause within one wake-up cancel out).
    let a = engine.run("follow-a", &[("com.docker.compose.project", "follow")]);
    let a_pid = engine.pid_of(&a);
    w.expect(&change("started", "follow-a", &a, a_pid));
    let b = engine.run("follow-b", &[]);
    let b_pid = engine.pid_of(&b);
    w.expect(&change("started", "follow-b", &b, b_pid));
    engine.docker(&["pause", "follow-a"]);
    w.expect(&change("paused", "follow-a", &a, a_pid));
    engine.docker(&["unpause", "follow-a"]);
    w.expect(&change("unpaused", "follow-a", &a, a_pid));
    engine.docker(&["rename", "follow-b", "follow-b2"]);
    w.expect(&change("updated", "follow-b2", &b, b_pid));
    engine.docker(&["kill", "follow-a"]);
    w.expect(&change("exited", "follow-a", &a, a_pid));
    engine.docker(&["kill", "follow-b2"]);
    w.expect(&change("exited", "follow-b2", &b, b_pid));

    // The engine lost: one line per new trouble while it is away, then one
    // when it is back.
    engine.kill();
    let resyncing = format!("! engine {ep} resyncing: ");
    let line = w.next("the engine resyncing");
    assert!(line.starts_with(&resyncing) && line.len() > resyncing.len(), "{}", w.printed());
    engine.restart("");
    let synced = format!("! engine {ep} synced");
    loop {
        let line = w.next(&synced);
        if line == synced {
            break;
        }
        assert!(line.starts_with(&resyncing) && line.len() > resyncing.len(), "{}", w.printed());
    }

    w.expect_quiet(Duration::from_secs(1));
    let (status, rest, stderr) = w.stop(libc::SIGINT);
    assert_eq!(status.code(), Some(0), "SIGINT ends it with exit status 0; stderr: {stderr}");
    assert!(rest.is_empty(), "printed after the last change: {rest:?}");
    assert_eq!(stderr, "");

    // SIGTERM, right after the listing, ends it the same way.
    let mut w = Follow::start(&bin, &ep);
    let first = w.next("the engine line");
    assert!(first.starts_with(&format!("engine docker.com {version} at {ep} (PID {}), synced, ", engine.pid())));
    w.expect("no alive containers");
    let (status, rest, stderr) = w.stop(libc::SIGTERM);
    assert_eq!(status.code(), Some(0), "SIGTERM ends it with exit status 0; stderr: {stderr}");
    assert!(rest.is_empty(), "printed without a change: {rest:?}");
    assert_eq!(stderr, "");

    std::fs::remove_dir_all(&build).unwrap();
}
