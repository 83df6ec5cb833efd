//! Runs the C test program (tests/c: test_abi, one file per topic) against
//! a real private dockerd, containerd, podman service and containerd with
//! its CRI plugin: plainly, under valgrind and with AddressSanitizer. The
//! program pauses and resumes the Docker, containerd and podman containers
//! it is given (docker CLI, ctr, podman) and leaves them running. The
//! shared object must be built first (`cargo build`, as tests/run.sh does).

mod support;

use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;

use support::containerd::shared as shared_containerd;
use support::cri::shared as shared_cri;
use support::docker::shared;
use support::podman::shared as shared_podman;

const PROJECT: &str = "c-abi-project";
/// The CRI pod's namespace, and the name of its one container.
const POD_NAMESPACE: &str = "c-abi";
const POD_CONTAINER: &str = "app";

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

/// The PID in a pidfile.
fn pid_in(file: PathBuf) -> i32 {
    std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display())).trim().parse().expect("a PID")
}

/// Runs `make -C tests/c TARGET` with the containers the program must find:
/// Docker and containerd ones on the command line, podman and CRI ones in
/// the environment (WW_TEST_*, see tests/c/main.c).
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
    let p = shared_podman("c-abi-podman");
    let pname = format!("{name}-p");
    let podman_id = p.run(&pname, &[("com.docker.compose.project", PROJECT)], None, &[]);
    let ppid = p.pid_of(&podman_id);
    let cri = shared_cri("c-abi-cri");
    let pod_name = format!("{name}-pod");
    let pod_uid = format!("c0ab1000-0000-4000-8000-{:08x}{:04x}", std::process::id(), target.len());
    let pod = (pod_name.as_str(), POD_NAMESPACE, pod_uid.as_str());
    let (cri_endpoint, cri_pid, sandbox, sandbox_pid, container, container_pid) = {
        let mut cri = cri.lock().unwrap_or_else(|e| e.into_inner());
        let sandbox = cri.run_pod(pod.0, pod.1, pod.2);
        let container = cri.run_container(&sandbox, pod, POD_CONTAINER, 0, false, &[]);
        let sandbox_pid = cri.pid_of(&sandbox, true);
        let container_pid = cri.pid_of(&container, false);
        (cri.endpoint(), pid_in(cri.dir.join("containerd.pid")), sandbox, sandbox_pid, container, container_pid)
    };
    let args = format!(
        "{} {id} {name} {pid} {PROJECT} {} wwtest/{cid} wwtest/{cname} {cpid} {PROJECT} moby/{cmoby}",
        d.endpoint(),
        c.socket.display()
    );
    let env = [
        ("WW_TEST_DOCKER_ENGINE_PID", d.pid().to_string()),
        ("WW_TEST_CONTAINERD_ENGINE_PID", c.pid().to_string()),
        ("WW_TEST_PODMAN_ENDPOINT", p.endpoint()),
        ("WW_TEST_PODMAN_ID", podman_id.clone()),
        ("WW_TEST_PODMAN_PID", ppid.to_string()),
        ("WW_TEST_PODMAN_NAME", pname),
        ("WW_TEST_PODMAN_ENGINE_PID", p.pid().to_string()),
        ("WW_TEST_CRI_ENDPOINT", cri_endpoint),
        ("WW_TEST_CRI_POD", format!("{}/{}/{}", pod.0, pod.1, pod.2)),
        ("WW_TEST_CRI_SANDBOX_ID", sandbox.clone()),
        ("WW_TEST_CRI_SANDBOX_PID", sandbox_pid.to_string()),
        ("WW_TEST_CRI_CONTAINER_ID", container),
        ("WW_TEST_CRI_CONTAINER_PID", container_pid.to_string()),
        ("WW_TEST_CRI_CONTAINER_NAME", POD_CONTAINER.to_string()),
        ("WW_TEST_CRI_ENGINE_PID", cri_pid.to_string()),
    ];
    let out = Command::new("make")
        .arg("-s")
        .arg("-C")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/c"))
        .arg(target)
        .arg(format!("LIB_DIR={}", lib_dir().display()))
        .arg(format!("ARGS={args}"))
        .envs(env)
        .output()
        .expect("run make");
    d.remove_labelled("whalewatcher.test", &name);
    c.remove("wwtest", &cid);
    c.remove("moby", &cmoby);
    let _ = p.try_podman(&["rm", "-f", "-t", "0", &podman_id]);
    cri.lock().unwrap_or_else(|e| e.into_inner()).remove_pod(&sandbox);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "make {target} failed:\n{stdout}\n{stderr}");
    assert!(stdout.lines().any(|l| l.ends_with(" passed, 0 failed")), "no summary line:\n{stdout}");
    assert!(!stdout.contains("skipped"), "every test ran:\n{stdout}");
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
