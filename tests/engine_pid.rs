//! The engine PID a watcher reports is the process that serves the
//! engine's socket, also when another process listens on it for the
//! engine (socket activation, as systemd's docker.socket does).

mod support;

use std::time::Duration;

use support::abi::Handle;
use support::docker::PrivateDocker;

/// The PID that `SO_PEERCRED` gives for a connection to `socket`: the
/// process that called `listen`.
fn listener_of(socket: &std::path::Path) -> i32 {
    let conn = std::os::unix::net::UnixStream::connect(socket).expect("connect");
    let mut cred = libc::ucred { pid: 0, uid: 0, gid: 0 };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    use std::os::fd::AsRawFd;
    let rc = unsafe {
        libc::getsockopt(
            conn.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast(),
            &mut len,
        )
    };
    assert_eq!(rc, 0);
    cred.pid
}

#[test]
fn a_socket_activated_dockerd_is_named_by_its_own_pid() {
    let d = PrivateDocker::fresh_activated("pid-activated");
    let activator = listener_of(&d.socket);
    assert_ne!(activator, d.pid(), "the test's premise: the listener is not dockerd");
    let w = Handle::docker(&d.endpoint());
    w.ready(Duration::from_secs(30)).expect("ready");
    assert_eq!(w.snapshot().engine().pid, d.pid(), "dockerd, not the activator ({activator}) that listened");
}
