//! Runs the C test program (tests/c: test_abi, one file per topic) against
//! a real private dockerd and a real private containerd: plainly, under
//! valgrind and with AddressSanitizer. The program pauses and resumes the
//! containers it is given (docker CLI, ctr) and leaves them running. The
//! shared object must be built first (`cargo build`, as tests/run.sh does).

mod support;

use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;

use support::containerd::shared as shared_containerd;
use support::docker::shared;

const PROJECT: &str = "c-abi-project";

fn lib_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
    let dir = target.join("debug");
    assert!(
        dir.join("libwhalewatcher.so").exists(),
        "{}/libwhalewatcher.so is missing: run `cargo build` first",
        dir.display()
    );
    dir
}

/// The targets share build products: one make at a time.
static MAKE: Mutex<()> = Mutex::new(());

/// Runs `make -C tests/c TARGET` with the container the program must find.
fn make(target: &str) {
    let _one_at_a_time = MAKE.lock().unwrap_or_else(|e| e.into_inner());
    let d = shared("c-abi");
    let name = format!("c-abi-{}-{target}", std::process::id());
    let id = d.run(&name, &[("whalewatcher.test", &name), ("com.docker.compose.project", PROJECT)]);
    let pid = d.pid_of(&id);
    let c = shared_containerd("c-abi-ctrd");
    let (cid, cname, cmoby) = (format!("{name}-c"), format!("{name}-n"), format!("{name}-m"));
    c.run("wwtest", &cid, &[("nerdctl/name", &cname), ("com.docker.compose.project", PROJECT)]);
    c.run("moby", &cmoby, &[]);
    let cpid = c.pid_of("wwtest", &cid);
    let args = format!(
        "{} {id} {name} {pid} {PROJECT} {} wwtest/{cid} wwtest/{cname} {cpid} {PROJECT} moby/{cmoby}",
        d.endpoint(),
        c.socket.display()
    );
    let out = Command::new("make")
        .arg("-s")
        .arg("-C")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/c"))
        .arg(target)
        .arg(format!("LIB_DIR={}", lib_dir().display()))
        .arg(format!("ARGS={args}"))
        .output()
        .expect("run make");
    d.remove_labelled("whalewatcher.test", &name);
    c.remove("wwtest", &cid);
    c.remove("moby", &cmoby);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "make {target} failed:\n{stdout}\n{stderr}");
    assert!(stdout.lines().any(|l| l.ends_with(" passed, 0 failed")), "no summary line:\n{stdout}");
}

#[test]
fn c_program_passes() {
    make("check");
}

#[test]
fn c_program_is_clean_under_valgrind() {
    make("valgrind");
}

#[test]
fn c_program_is_clean_under_address_sanitizer() {
    make("asan");
}
