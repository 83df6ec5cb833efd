//! What `/proc` tells about unix sockets and the processes that hold them:
//! which sockets a process listens on (and at which path), and which
//! processes hold a given socket.

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::process::{kernel_file, start_ticks, stat_fields};

/// The listening unix sockets of `pid`'s network namespace, by inode, with
/// their paths (as that process's mount namespace sees them). Abstract and
/// unnamed sockets are left out.
pub fn listening(pid: i32) -> HashMap<u64, String> {
    std::fs::read_to_string(format!("/proc/{pid}/net/unix")).map(|t| parse_net_unix(&t)).unwrap_or_default()
}

/// Parses `/proc/net/unix`: `Num RefCount Protocol Flags Type St Inode Path`;
/// a listening socket has the flag `__SO_ACCEPTCON` (0x10000).
fn parse_net_unix(text: &str) -> HashMap<u64, String> {
    const ACCEPTCON: u64 = 0x10000;
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let flags = u64::from_str_radix(f.get(3)?, 16).ok()?;
            let inode: u64 = f.get(6)?.parse().ok()?;
            let path = f.get(7)?;
            (flags & ACCEPTCON != 0 && path.starts_with('/')).then(|| (inode, path.to_string()))
        })
        .collect()
}

/// What `pid`'s open descriptors refer to (`/proc/PID/fd` links: paths,
/// `socket:[INODE]`, ...), read one after the other; `None` if `/proc`
/// does not tell.
pub fn fd_targets(pid: i32) -> Option<impl Iterator<Item = PathBuf>> {
    let dir = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?;
    Some(dir.filter_map(|e| std::fs::read_link(e.ok()?.path()).ok()))
}

/// The inodes of the sockets `pid` holds open.
pub fn socket_inodes(pid: i32) -> Vec<u64> {
    fd_targets(pid)
        .into_iter()
        .flatten()
        .filter_map(|target| target.to_str()?.strip_prefix("socket:[")?.strip_suffix(']')?.parse().ok())
        .collect()
}

/// Every process's PID.
pub fn pids() -> Vec<i32> {
    let Ok(dir) = std::fs::read_dir("/proc") else { return Vec::new() };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok()).collect()
}

/// The command name of `pid` (`/proc/PID/comm`).
pub fn comm(pid: i32) -> Option<String> {
    Some(kernel_file(Path::new(&format!("/proc/{pid}/comm")))?.trim_end().to_string())
}

/// The command line of `pid`, split at its NULs.
pub fn cmdline(pid: i32) -> Vec<String> {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| {
            b.split(|&c| c == 0).filter(|a| !a.is_empty()).map(|a| String::from_utf8_lossy(a).into_owned()).collect()
        })
        .unwrap_or_default()
}

/// The parent of `pid`.
pub fn parent(pid: i32) -> Option<i32> {
    let stat = kernel_file(Path::new(&format!("/proc/{pid}/stat")))?;
    stat_fields(&stat)?.nth(1)?.parse().ok()
}

/// True when `pid` sees the same mounts as this process.
pub fn same_mounts(pid: i32) -> bool {
    same_namespace(pid, "mnt") == Some(true)
}

/// Whether process `pid` is in this process's namespace of `kind` (`mnt`,
/// `pid`, ...); `None` if either cannot be told.
pub fn same_namespace(pid: i32, kind: &str) -> Option<bool> {
    let ns = |p: &str| std::fs::read_link(format!("/proc/{p}/ns/{kind}")).ok();
    Some(ns(&pid.to_string())? == ns("self")?)
}

/// A path as this process can reach it: `path` itself when `pid` sees the
/// same mounts, else through `/proc/PID/root`.
pub fn reachable(pid: i32, path: &str) -> PathBuf {
    if same_mounts(pid) {
        PathBuf::from(path)
    } else {
        Path::new(&format!("/proc/{pid}/root")).join(path.trim_start_matches('/'))
    }
}

/// The file identity (device, inode) of the socket file at `path`, and its
/// owner's UID: the same socket reached by two paths has the same identity.
pub fn file_of(path: &Path) -> Option<((u64, u64), u32)> {
    let m = std::fs::metadata(path).ok()?;
    use std::os::unix::fs::FileTypeExt;
    m.file_type().is_socket().then(|| ((m.dev(), m.ino()), m.uid()))
}

/// The socket inodes (as `/proc/PID/fd` shows them) listening at `path`
/// in `pid`'s network namespace. `path` may be reached through
/// `/proc/OTHER/root`: the listener's own view of it is then a suffix.
pub fn listening_at(pid: i32, path: &Path) -> Vec<u64> {
    let Some(p) = path.to_str() else { return Vec::new() };
    listening(pid)
        .into_iter()
        .filter(|(_, at)| p == at || (p.starts_with("/proc/") && p.ends_with(at.as_str())))
        .map(|(inode, _)| inode)
        .collect()
}

/// The processes that hold socket inode `inode` open, by scanning every
/// process's descriptors.
pub fn holders(inode: u64) -> Vec<i32> {
    pids().into_iter().filter(|&p| socket_inodes(p).contains(&inode)).collect()
}

/// The command names of engine daemons.
pub const ENGINE_COMMANDS: [&str; 9] =
    ["dockerd", "containerd", "crio", "podman", "k3s", "k3s-server", "k3s-agent", "rke2", "cri-dockerd"];

fn is_engine(p: i32) -> bool {
    comm(p).is_some_and(|c| ENGINE_COMMANDS.contains(&c.as_str()))
}

/// Of the processes holding a listening socket, the one that serves it: an
/// engine daemon if one holds it; else not an init, service manager or
/// activator that only passed the socket on, and the child when one holder
/// is another's parent (the activator's child does the work).
pub fn server_among(holders: &[i32]) -> Option<i32> {
    if let Some(&e) = holders.iter().filter(|&&p| is_engine(p)).max_by_key(|&&p| start_order(p)) {
        return Some(e);
    }
    let mut left: Vec<i32> = holders.iter().copied().filter(|&p| !is_manager(p)).collect();
    if left.is_empty() {
        left = holders.to_vec();
    }
    // A child of another holder is the one it handed the socket to.
    let children: Vec<i32> = left.iter().copied().filter(|&p| parent(p).is_some_and(|pp| left.contains(&pp))).collect();
    children.last().or(left.last()).copied()
}

/// When `pid` started (ticks after boot), for "the youngest".
fn start_order(pid: i32) -> u64 {
    kernel_file(Path::new(&format!("/proc/{pid}/stat"))).and_then(|s| start_ticks(&s)).unwrap_or(0)
}

fn is_manager(p: i32) -> bool {
    p == 1 || comm(p).is_some_and(|c| c == "systemd" || c == "init" || c.starts_with("systemd-socket"))
}

/// The process that serves the listening unix socket at `path`: `peer`,
/// the one that `SO_PEERCRED` named (that called `listen`), if it still
/// holds the socket and is an engine daemon; if it holds it and is no
/// service manager, whoever serves it among the peer and its descendants
/// that hold it (a launcher's child or grandchild serves what it was
/// handed); else whoever serves it among all the socket's holders (socket
/// activation: the service manager listened, the engine serves), found by
/// looking through every process's descriptors. `None` if `/proc` does not
/// tell (then `peer` is the best there is).
pub fn server_of(path: &Path, peer: i32) -> Option<i32> {
    let netns_of = if peer > 0 { peer } else { std::process::id() as i32 };
    let inodes = listening_at(netns_of, path);
    if inodes.is_empty() {
        return None;
    }
    let holds = |p: i32| socket_inodes(p).iter().any(|i| inodes.contains(i));
    if peer > 0 && holds(peer) {
        if is_engine(peer) {
            return Some(peer);
        }
        if !is_manager(peer) {
            // Only the parents of processes are read, and the descriptors
            // of the peer's descendants, not every process's.
            let parents: Vec<(i32, i32)> = pids().into_iter().filter_map(|p| Some((p, parent(p)?))).collect();
            let mut family = vec![peer];
            let mut i = 0;
            while let Some(&p) = family.get(i) {
                family.extend(parents.iter().filter(|&&(_, pp)| pp == p).map(|&(c, _)| c));
                i += 1;
            }
            let holders: Vec<i32> = family.into_iter().filter(|&p| p == peer || holds(p)).collect();
            return server_among(&holders);
        }
    }
    let all: Vec<i32> = pids().into_iter().filter(|&p| holds(p)).collect();
    server_among(&all)
}

/// The process serving the socket at `path` (see
/// [`server_of`]), searched on a thread of its own
/// that is gone when this returns: the scan of `/proc` takes milliseconds,
/// which the watcher's thread spends on the synchronisation meanwhile.
pub async fn serving_process(path: PathBuf, peer: i32) -> Option<i32> {
    super::offthread::run("ww-engine-pid", move || server_of(&path, peer)).await.flatten()
}

/// The PID of the engine serving the unix socket at `path`, as seen over
/// the connection `conn` to it: see [`server_of`]; 0 if unknown.
pub fn engine_pid(path: &Path, conn: &tokio::net::UnixStream) -> i32 {
    let peer = conn.peer_cred().ok().and_then(|c| c.pid()).unwrap_or(0);
    server_of(path, peer).unwrap_or(peer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_listening_sockets_from_proc_net_unix() {
        let text = "Num       RefCount Protocol Flags    Type St Inode Path
0000000000000000: 00000002 00000000 00010000 0001 01 20311 /run/containerd/containerd.sock
0000000000000000: 00000002 00000000 00010000 0001 01 20312 /run/containerd/containerd.sock.ttrpc
0000000000000000: 00000003 00000000 00000000 0001 03 20400 /run/containerd/containerd.sock
0000000000000000: 00000002 00000000 00010000 0001 01 20500 @/containerd-shim/abc.sock
0000000000000000: 00000002 00000000 00010000 0001 01 20600
";
        let l = parse_net_unix(text);
        assert_eq!(l.len(), 2, "{l:?}");
        assert_eq!(l[&20311], "/run/containerd/containerd.sock");
        assert_eq!(l[&20312], "/run/containerd/containerd.sock.ttrpc");
    }

    #[test]
    fn this_process_is_seen_through_proc() {
        let me = std::process::id() as i32;
        assert!(same_mounts(me));
        assert_eq!(reachable(me, "/x"), PathBuf::from("/x"));
        assert!(comm(me).is_some() && !cmdline(me).is_empty() && parent(me).is_some());
        let dir = std::env::temp_dir().join(format!("ww-sockets-{me}"));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("s.sock");
        let _ = std::fs::remove_file(&path);
        let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let inodes = listening_at(me, &path);
        assert_eq!(inodes.len(), 1, "{:?}", listening(me));
        assert!(socket_inodes(me).contains(&inodes[0]));
        assert_eq!(holders(inodes[0]), [me]);
        // (Another test's child holds every descriptor of this process for
        // a moment between its fork and its exec: asked again then.)
        let settles = |peer: i32, want: i32| {
            (0..200).any(|_| {
                server_of(&path, peer) == Some(want) || {
                    std::thread::sleep(std::time::Duration::from_millis(5));
                    false
                }
            })
        };
        assert!(settles(me, me));
        assert!(settles(0, me), "found among the holders");
        // Handed to a child (as its standard input): the child serves it.
        let handed = std::os::fd::OwnedFd::from(listener.try_clone().unwrap());
        let mut child = std::process::Command::new("sleep").arg("100").stdin(handed).spawn().unwrap();
        let kid = child.id() as i32;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !socket_inodes(kid).contains(&inodes[0]) {
            assert!(std::time::Instant::now() < deadline, "the child never held the socket");
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        assert!(settles(me, kid));
        assert!(settles(0, kid), "the child among the holders");
        child.kill().unwrap();
        child.wait().unwrap();
        // Handed on to a grandchild by a child that keeps it too: the
        // grandchild serves it.
        let handed = std::os::fd::OwnedFd::from(listener.try_clone().unwrap());
        // (As standard output: a shell gives its background jobs no input.)
        let mut child =
            std::process::Command::new("sh").args(["-c", "sleep 100 & wait"]).stdout(handed).spawn().unwrap();
        let sh = child.id() as i32;
        let grandchild = loop {
            let found = pids().into_iter().find(|&p| parent(p) == Some(sh) && comm(p).as_deref() == Some("sleep"));
            if let Some(g) = found.filter(|&g| socket_inodes(g).contains(&inodes[0])) {
                break g;
            }
            assert!(std::time::Instant::now() < deadline, "no grandchild holding the socket");
            std::thread::sleep(std::time::Duration::from_millis(1));
        };
        assert!(settles(me, grandchild));
        let _ = std::process::Command::new("kill").arg(grandchild.to_string()).status();
        child.wait().unwrap();
        let (_, uid) = file_of(&path).unwrap();
        assert_eq!(uid, std::fs::metadata("/proc/self").unwrap().uid());
        drop(listener);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
