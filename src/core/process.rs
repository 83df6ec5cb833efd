//! What `/proc` tells about a process: when it started.

use std::fs::{File, Metadata, OpenOptions};
use std::io::Read;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use once_cell::sync::Lazy;

/// Clock ticks per second in `/proc` (`USER_HZ`, fixed at 100 by the Linux
/// user-space ABI).
const TICKS_PER_SECOND: u64 = 100;

/// When this host booted by the wall clock, learnt once per process (from
/// the uptime, to about 10 ms), so that a process's start time comes out
/// the same every time it is asked for.
static BOOT: Lazy<Option<SystemTime>> = Lazy::new(|| {
    let uptime = std::fs::read_to_string("/proc/uptime").ok()?;
    SystemTime::now().checked_sub(uptime_of(&uptime)?)
});

/// When process `pid` (in this process's PID namespace) started, as Unix
/// nanoseconds, accurate to about 10 ms and the same on every call; `None`
/// if `/proc` does not tell.
pub fn start_time_ns(pid: i32) -> Option<i64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    ticks_to_unix_ns(start_ticks(&stat)?)
}

/// When the process whose `/proc/PID/stat` is at `stat` started, in ticks
/// after boot (field 22, as runc records it), while it has not ended (a
/// zombie is dead already); `None` if it has, or `/proc` does not tell.
pub fn alive_since_ticks(stat: &Path) -> Option<u64> {
    let stat = kernel_file_checked(stat)?;
    let state = stat_fields(&stat)?.next()?;
    if matches!(state, "Z" | "X" | "x") {
        return None;
    }
    start_ticks(&stat)
}

/// The text of a small single-record file of a kernel file system
/// (`/proc/PID/stat`, `/proc/PID/comm`, a cgroup's `freezer.state` or
/// `cgroup.events`), read in one call (such files give all they have at
/// once when it fits; files of many records, like `mountinfo`, do not and
/// must not be read with this), never through a link or blocking. `None`
/// if larger than 64 KiB.
pub fn kernel_file(path: &Path) -> Option<String> {
    let f = OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK).open(path).ok()?;
    read_record(f)
}

/// [`kernel_file`] of a path another user controls (an engine's mounts,
/// its `/proc`, a path it recorded): only a regular file, which is looked
/// at before it is opened ([`open_regular`]), so that a device mounted
/// there is never opened.
pub fn kernel_file_checked(path: &Path) -> Option<String> {
    read_record(open_regular(path)?.0)
}

/// The one record of a kernel file, read as [`kernel_file`] says.
fn read_record(f: File) -> Option<String> {
    const MAX: usize = 64 << 10;
    let mut f = f.take(MAX as u64 + 1);
    let mut buf = vec![0; 4096];
    let mut len = 0;
    loop {
        let n = f.read(&mut buf[len..]).ok()?;
        len += n;
        if n == 0 || len < buf.len() {
            break;
        }
        buf.resize(buf.len() * 2, 0);
    }
    if len > MAX {
        return None;
    }
    buf.truncate(len);
    String::from_utf8(buf).ok()
}

/// `path` opened for reading if it is a regular file, not a link, a
/// device, a FIFO or a socket, even one mounted over it: looked at through
/// a handle that does not open it (`O_PATH`), then opened through that
/// handle (`/proc/self/fd`), so nothing is opened that was not looked at.
/// With the file's metadata.
pub fn open_regular(path: &Path) -> Option<(File, Metadata)> {
    let handle = OpenOptions::new().read(true).custom_flags(libc::O_PATH | libc::O_NOFOLLOW).open(path).ok()?;
    reopen_regular(&handle)
}

/// The file that `handle` (opened with `O_PATH`, which opens nothing)
/// looks at, opened for reading if it is a regular file, with its
/// metadata, as [`open_regular`] does.
pub fn reopen_regular(handle: &File) -> Option<(File, Metadata)> {
    let seen = handle.metadata().ok()?;
    if !seen.is_file() {
        return None;
    }
    let f = File::open(format!("/proc/self/fd/{}", handle.as_raw_fd())).ok()?;
    let m = f.metadata().ok()?;
    ((m.dev(), m.ino()) == (seen.dev(), seen.ino())).then_some((f, m))
}

/// A start time in ticks after boot as Unix nanoseconds, as
/// [`start_time_ns`] gives it.
pub fn ticks_to_unix_ns(ticks: u64) -> Option<i64> {
    let started = (*BOOT)?.checked_add(Duration::from_millis(ticks.checked_mul(1000 / TICKS_PER_SECOND)?))?;
    i64::try_from(started.duration_since(UNIX_EPOCH).ok()?.as_nanos()).ok()
}

/// When the initial process `pid` of container `id` started, as
/// [`start_time_ns`], but only when `/proc/PID` is that container's process:
/// its cgroup path names the container. The PID is the engine's; should
/// this process live in another PID namespace, `/proc/PID` is some other
/// process, and the answer is `None` rather than that process's time.
pub fn container_start_time_ns(pid: i32, id: &str) -> Option<i64> {
    let cgroup = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    if id.is_empty() || !cgroup.contains(id) {
        return None;
    }
    start_time_ns(pid)
}

/// Fields 3 and on of a `/proc/PID/stat` text (state, parent, ...). The
/// command in field 2 may contain spaces and parentheses, so they start
/// after its last `)`.
pub fn stat_fields(stat: &str) -> Option<std::str::SplitWhitespace<'_>> {
    Some(stat[stat.rfind(')')? + 1..].split_whitespace())
}

/// Field 22 of `/proc/PID/stat` (start time in ticks after boot).
pub fn start_ticks(stat: &str) -> Option<u64> {
    // The start time is field 22, the 20th of fields 3 and on.
    stat_fields(stat)?.nth(19)?.parse().ok()
}

/// The first number of `/proc/uptime` ("12345.67 23456.78").
fn uptime_of(uptime: &str) -> Option<Duration> {
    let secs: f64 = uptime.split_whitespace().next()?.parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_awkward_commands() {
        let stat = "42 (a) b (c)) S 1 42 42 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 12345 1000 10 18446744073709551615";
        assert_eq!(start_ticks(stat), Some(12345));
        assert_eq!(start_ticks("42 (x) S 1"), None);
        assert_eq!(start_ticks("garbage"), None);
    }

    #[test]
    fn this_process_started_recently() {
        let started = start_time_ns(std::process::id() as i32).expect("own start time");
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as i64;
        assert!(started <= now + 50_000_000, "{started} vs {now}");
        assert!(now - started < 3_600_000_000_000, "started within the hour");
        assert_eq!(start_time_ns(std::process::id() as i32), Some(started), "stable");
        assert_eq!(start_time_ns(0), None);
        assert_eq!(container_start_time_ns(std::process::id() as i32, "no-such-container-id"), None);
        assert_eq!(uptime_of("-1 2"), None);
    }

    #[test]
    fn only_processes_that_have_not_ended_are_alive() {
        let me = std::process::id();
        let ticks = alive_since_ticks(std::path::Path::new(&format!("/proc/{me}/stat"))).expect("alive");
        assert_eq!(ticks_to_unix_ns(ticks), start_time_ns(me as i32));
        // A child that exited and is not reaped yet: a zombie.
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let stat = format!("/proc/{}/stat", child.id());
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !std::fs::read_to_string(&stat).unwrap().contains(") Z ") {
            assert!(std::time::Instant::now() < deadline, "child never became a zombie");
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(alive_since_ticks(std::path::Path::new(&stat)), None);
        child.wait().unwrap();
        assert_eq!(alive_since_ticks(std::path::Path::new(&stat)), None);
    }

    #[test]
    fn only_regular_files_are_opened() {
        let dir = std::env::temp_dir().join(format!("ww-regular-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("file"), "THAWED\n").unwrap();
        let (_, m) = open_regular(&dir.join("file")).expect("a regular file");
        assert_eq!(m.len(), 7);
        assert_eq!(kernel_file_checked(&dir.join("file")).as_deref(), Some("THAWED\n"));
        std::os::unix::fs::symlink(dir.join("file"), dir.join("link")).unwrap();
        assert!(std::process::Command::new("mkfifo").arg(dir.join("fifo")).status().unwrap().success());
        // A link, a directory, a FIFO (never opened, so never blocking), a
        // device.
        for path in [dir.join("link"), dir.clone(), dir.join("fifo"), Path::new("/dev/null").to_path_buf()] {
            assert!(open_regular(&path).is_none(), "{}", path.display());
            assert_eq!(kernel_file_checked(&path), None, "{}", path.display());
        }
        // Larger than a record can be.
        std::fs::write(dir.join("large"), "x".repeat(65 << 10)).unwrap();
        assert_eq!(kernel_file_checked(&dir.join("large")), None);
        assert_eq!(kernel_file(&dir.join("large")), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
