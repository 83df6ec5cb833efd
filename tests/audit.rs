//! The audit heals what events missed: an event stream that goes silent
//! without closing (a proxy in front of a real dockerd stops forwarding
//! it), and a container whose inspections kept failing. Both end exact
//! again within one audit interval, and the repairs are counted. And
//! `tcp://` connections probe for a dead peer (TCP keepalive).

mod support;

use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use support::abi::{options, Handle};
use support::docker::PrivateDocker;
use support::fake_docker::{Behavior, FakeContainer, FakeDocker};
use whalewatcher::ffi::*;

/// Copies `from` to `to` until either side ends.
fn pump(mut from: UnixStream, mut to: UnixStream) {
    let mut buf = [0u8; 16 * 1024];
    while let Ok(n) = from.read(&mut buf) {
        if n == 0 || to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(std::net::Shutdown::Both);
}

/// A proxy at `path` in front of the daemon at `upstream`: every request
/// passes; an event stream gets its response headers, then nothing more
/// while `silent` is set, though its connection stays open.
fn silencing_proxy(path: &Path, upstream: PathBuf, silent: Arc<AtomicBool>) {
    let _ = std::fs::remove_file(path);
    let listener = UnixListener::bind(path).unwrap();
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(mut client) = client else { return };
            let (upstream, silent) = (upstream.clone(), Arc::clone(&silent));
            std::thread::spawn(move || {
                let Ok(mut daemon) = UnixStream::connect(&upstream) else { return };
                // The request head tells what it is.
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    match client.read(&mut byte) {
                        Ok(1) => head.push(byte[0]),
                        _ => return,
                    }
                }
                let is_events = head.starts_with(b"GET /events") || head.windows(8).any(|w| w == b"/events?");
                if daemon.write_all(&head).is_err() {
                    return;
                }
                let back = daemon.try_clone().unwrap();
                let client_back = client.try_clone().unwrap();
                std::thread::spawn(move || pump(client_back, back));
                if !is_events || !silent.load(Ordering::SeqCst) {
                    pump(daemon, client);
                    return;
                }
                // Pass the response headers, then hold the stream silent.
                let mut got = Vec::new();
                while !got.ends_with(b"\r\n\r\n") {
                    match daemon.read(&mut byte) {
                        Ok(1) => got.push(byte[0]),
                        _ => return,
                    }
                }
                let _ = client.write_all(&got);
                let mut sink = [0u8; 4096];
                while let Ok(n) = daemon.read(&mut sink) {
                    if n == 0 {
                        break;
                    }
                }
            });
        }
    });
}

fn auditing(endpoint: &str, audit_ms: u32) -> Handle {
    let mut o = options();
    o.backoff_initial_ms = 100;
    o.audit_interval_ms = audit_ms;
    Handle::new(&o, Some(endpoint)).expect("ww_new")
}

#[test]
fn a_silent_event_stream_is_healed_by_the_audit() {
    let d = PrivateDocker::fresh("audit-silent", "");
    let before = d.run("audit-before", &[]);
    let proxy = d.dir.join("proxy.sock");
    let silent = Arc::new(AtomicBool::new(true));
    silencing_proxy(&proxy, d.socket.clone(), Arc::clone(&silent));
    let w = auditing(&format!("unix://{}", proxy.display()), 1000);
    w.ready(Duration::from_secs(30)).expect("ready");
    assert!(w.snapshot().get(&before).is_some());
    // No event reaches the watcher; the audit notices within its interval
    // (1 s) and the grace that lets events on their way arrive (0.5 s).
    let started = d.run("audit-started", &[]);
    let t = Instant::now();
    let snap = w.wait(Duration::from_secs(10), |s| s.get(&started).is_some());
    assert!(t.elapsed() < Duration::from_millis(3000), "seen after {:?}", t.elapsed());
    assert_eq!(snap.get(&started).unwrap().pid, d.pid_of(&started));
    d.docker(&["pause", "audit-started"]);
    w.wait(Duration::from_secs(10), |s| s.get(&started).is_some_and(|c| c.paused));
    d.docker(&["kill", "audit-before"]);
    let snap = w.wait(Duration::from_secs(10), |s| s.get(&before).is_none());
    let e = snap.engine();
    assert_eq!(e.state, WW_ENGINE_STATE_SYNCED, "the stream never broke");
    assert!(e.repairs >= 3, "start, pause and death repaired: {e:?}");
    d.docker(&["rm", "-f", "audit-before", "audit-started"]);
}

#[test]
fn a_container_whose_inspections_failed_appears_at_the_next_audit() {
    let fake = FakeDocker::start();
    let id = fake.add(FakeContainer::new("stubborn"));
    fake.set_inspect(&id, Behavior::Status(500, r#"{"message":"not now"}"#.into()));
    let audited = auditing(&fake.endpoint(), 1000);
    let unaudited = auditing(&fake.endpoint(), 0);
    audited.ready(Duration::from_secs(30)).expect("ready: one container never blocks the sync");
    unaudited.ready(Duration::from_secs(30)).expect("ready");
    // Long enough for its retries to back off to several seconds apart.
    std::thread::sleep(Duration::from_secs(8));
    assert!(audited.snapshot().get(&id).is_none() && unaudited.snapshot().get(&id).is_none());
    fake.set_inspect(&id, Behavior::Normal);
    let t = Instant::now();
    audited.wait(Duration::from_secs(10), |s| s.get(&id).is_some());
    assert!(t.elapsed() < Duration::from_millis(3000), "seen after {:?}", t.elapsed());
    assert!(unaudited.snapshot().get(&id).is_none(), "without audits it waits for its next retry");
}

#[test]
fn audits_can_be_turned_off() {
    let fake = FakeDocker::start();
    let w = auditing(&fake.endpoint(), 0);
    w.ready(Duration::from_secs(30)).expect("ready");
    fake.reset_counters();
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(fake.requests_total(), 0, "no list without audits");
}

/// A TCP port on localhost forwarding every connection to `upstream`.
fn tcp_forwarder(upstream: PathBuf) -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { return };
            let Ok(daemon) = UnixStream::connect(&upstream) else { continue };
            let (c2, d2) = (client.try_clone().unwrap(), daemon.try_clone().unwrap());
            std::thread::spawn(move || {
                let (mut from, mut to) = (c2, d2);
                let _ = std::io::copy(&mut from, &mut to);
                let _ = to.shutdown(std::net::Shutdown::Both);
            });
            std::thread::spawn(move || {
                let (mut from, mut to) = (daemon, client);
                let _ = std::io::copy(&mut from, &mut to);
                let _ = to.shutdown(std::net::Shutdown::Both);
            });
        }
    });
    port
}

/// The keepalive settings (on, idle s, interval s, probes) of this
/// process's TCP sockets connected to 127.0.0.1:`port`.
fn keepalive_of_connections_to(port: u16) -> Vec<[i32; 4]> {
    let mut out = Vec::new();
    for fd in std::fs::read_dir("/proc/self/fd").unwrap().flatten() {
        let Ok(fd) = fd.file_name().to_string_lossy().parse::<i32>() else { continue };
        let mut peer: libc::sockaddr_in = unsafe { std::mem::zeroed() };
        let mut len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        let got = unsafe { libc::getpeername(fd, (&mut peer as *mut libc::sockaddr_in).cast(), &mut len) };
        if got != 0 || i32::from(peer.sin_family) != libc::AF_INET || u16::from_be(peer.sin_port) != port {
            continue;
        }
        let opt = |level, name| {
            let mut v: libc::c_int = -1;
            let mut l = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
            unsafe { libc::getsockopt(fd, level, name, (&mut v as *mut libc::c_int).cast(), &mut l) };
            v
        };
        out.push([
            opt(libc::SOL_SOCKET, libc::SO_KEEPALIVE),
            opt(libc::IPPROTO_TCP, libc::TCP_KEEPIDLE),
            opt(libc::IPPROTO_TCP, libc::TCP_KEEPINTVL),
            opt(libc::IPPROTO_TCP, libc::TCP_KEEPCNT),
        ]);
    }
    out
}

#[test]
fn tcp_connections_probe_for_a_dead_peer() {
    let d = PrivateDocker::fresh("audit-tcp", "");
    let port = tcp_forwarder(d.socket.clone());
    let w = auditing(&format!("tcp://127.0.0.1:{port}"), 0);
    w.ready(Duration::from_secs(30)).expect("ready over tcp://");
    let started = d.run("audit-tcp-started", &[]);
    w.wait(Duration::from_secs(10), |s| s.get(&started).is_some());
    // The event stream is open now: it and every other connection to the
    // engine carry keepalive, 30 s idle, then 3 probes 10 s apart.
    let conns = keepalive_of_connections_to(port);
    assert!(!conns.is_empty(), "the event stream's connection is open");
    for c in conns {
        assert_eq!(c, [1, 30, 10, 3], "SO_KEEPALIVE, TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT");
    }
    d.docker(&["rm", "-f", "audit-tcp-started"]);
}
