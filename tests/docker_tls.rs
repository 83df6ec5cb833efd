//! Docker over TLS, configured as the docker CLI is (explicit files, or
//! DOCKER_TLS_VERIFY and DOCKER_CERT_PATH), against a private dockerd with
//! --tlsverify on 127.0.0.1 and certificates made here with openssl; and
//! the failures a user meets: a wrong CA, a missing client certificate, a
//! client certificate the daemon does not accept, a plain-HTTP server.

mod support;

use std::ffi::CString;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use support::abi::{options, Handle};
use support::docker::PrivateDocker;
use whalewatcher::ffi::*;

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl").current_dir(dir).args(args).output().expect("openssl");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// A CA in `dir/NAME-ca.pem` (key `NAME-ca-key.pem`).
fn ca(dir: &Path, name: &str) {
    let key = format!("{name}-ca-key.pem");
    openssl(dir, &["genrsa", "-out", &key, "2048"]);
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-new",
            "-key",
            &key,
            "-days",
            "2",
            "-subj",
            &format!("/CN={name} CA"),
            "-out",
            &format!("{name}-ca.pem"),
        ],
    );
}

/// A certificate `NAME-cert.pem` (key `NAME-key.pem`) signed by CA `by`.
fn cert(dir: &Path, name: &str, by: &str, ext: &str) {
    let key = format!("{name}-key.pem");
    openssl(dir, &["genrsa", "-out", &key, "2048"]);
    openssl(dir, &["req", "-new", "-key", &key, "-subj", &format!("/CN={name}"), "-out", &format!("{name}.csr")]);
    std::fs::write(dir.join(format!("{name}.ext")), ext).unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &format!("{name}.csr"),
            "-CA",
            &format!("{by}-ca.pem"),
            "-CAkey",
            &format!("{by}-ca-key.pem"),
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            &format!("{name}.ext"),
            "-out",
            &format!("{name}-cert.pem"),
        ],
    );
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A watcher of `endpoint` with TLS files `ca`, `cert`, `key` (None: from
/// the environment); no retries, so a failure is final.
fn watch(endpoint: &str, files: [Option<&Path>; 3]) -> Handle {
    let mut o = options();
    o.backoff = WW_BACKOFF_NONE;
    let c: Vec<Option<CString>> = files.iter().map(|f| f.map(|p| CString::new(p.to_str().unwrap()).unwrap())).collect();
    let ptr = |i: usize| c[i].as_ref().map_or(std::ptr::null(), |s| s.as_ptr());
    o.tls_ca = ptr(0);
    o.tls_cert = ptr(1);
    o.tls_key = ptr(2);
    Handle::new(&o, Some(endpoint)).expect("ww_new")
}

fn failure(w: &Handle) -> String {
    let (st, msg) = w.ready(Duration::from_secs(30)).unwrap_err();
    assert_eq!(st, WW_STATUS_ENGINE, "{msg}");
    msg
}

#[test]
fn docker_over_tls_and_what_goes_wrong() {
    let dir = PathBuf::from(format!("/tmp/wwt-tls-certs-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    ca(&dir, "good");
    ca(&dir, "evil");
    cert(&dir, "server", "good", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n");
    cert(&dir, "client", "good", "extendedKeyUsage=clientAuth\n");
    cert(&dir, "stranger", "evil", "extendedKeyUsage=clientAuth\n");
    let port = free_port();
    let f = |n: &str| dir.join(n);
    let d = PrivateDocker::fresh(
        "tls",
        &format!(
            "--host=tcp://127.0.0.1:{port} --tlsverify --tlscacert={} --tlscert={} --tlskey={}",
            f("good-ca.pem").display(),
            f("server-cert.pem").display(),
            f("server-key.pem").display()
        ),
    );
    let id = d.run("tls-seen", &[]);
    let https = format!("https://127.0.0.1:{port}");

    // The files given explicitly.
    let w = watch(&https, [Some(&f("good-ca.pem")), Some(&f("client-cert.pem")), Some(&f("client-key.pem"))]);
    w.ready(Duration::from_secs(30)).expect("ready over TLS");
    let snap = w.wait(Duration::from_secs(20), |s| s.get(&id).is_some());
    assert_eq!(snap.engine().endpoint, https);
    assert_eq!(snap.get(&id).unwrap().pid, d.pid_of(&id));
    drop(w);

    // As the docker CLI: DOCKER_TLS_VERIFY with a tcp:// endpoint and the
    // files in DOCKER_CERT_PATH.
    let certs = dir.join("docker-cert-path");
    std::fs::create_dir_all(&certs).unwrap();
    for (from, to) in [("good-ca.pem", "ca.pem"), ("client-cert.pem", "cert.pem"), ("client-key.pem", "key.pem")] {
        std::fs::copy(f(from), certs.join(to)).unwrap();
    }
    std::env::set_var("DOCKER_TLS_VERIFY", "1");
    std::env::set_var("DOCKER_CERT_PATH", &certs);
    let w = watch(&format!("tcp://127.0.0.1:{port}"), [None, None, None]);
    std::env::remove_var("DOCKER_TLS_VERIFY");
    std::env::remove_var("DOCKER_CERT_PATH");
    w.ready(Duration::from_secs(30)).expect("ready with the docker CLI's environment");
    assert_eq!(w.snapshot().engine().endpoint, https, "tcp:// with TLS is https://");
    drop(w);

    // A CA that did not sign the daemon's certificate.
    let msg =
        failure(&watch(&https, [Some(&f("evil-ca.pem")), Some(&f("client-cert.pem")), Some(&f("client-key.pem"))]));
    assert!(msg.contains(&https) && msg.contains("not signed by the CA given"), "{msg}");
    // A client certificate that is not there.
    let missing = f("no-such-cert.pem");
    let msg = failure(&watch(&https, [Some(&f("good-ca.pem")), Some(&missing), Some(&f("client-key.pem"))]));
    assert!(
        msg.contains("client certificate") && msg.contains(missing.to_str().unwrap()) && msg.contains("No such file"),
        "{msg}"
    );
    // A client certificate the daemon does not accept.
    let msg =
        failure(&watch(&https, [Some(&f("good-ca.pem")), Some(&f("stranger-cert.pem")), Some(&f("stranger-key.pem"))]));
    assert!(msg.contains(&https) && msg.contains("did not accept the client certificate"), "{msg}");
    // A plain-HTTP server behind an https:// endpoint.
    let plain = TcpListener::bind("127.0.0.1:0").unwrap();
    let plain_port = plain.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        if let Ok((mut s, _)) = plain.accept() {
            let mut buf = [0u8; 512];
            let _ = s.read(&mut buf);
            let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
        }
    });
    let msg = failure(&watch(
        &format!("https://127.0.0.1:{plain_port}"),
        [Some(&f("good-ca.pem")), Some(&f("client-cert.pem")), Some(&f("client-key.pem"))],
    ));
    assert!(msg.contains("plain-HTTP"), "{msg}");
    server.join().unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}
