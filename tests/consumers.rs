//! The library used the way its users use it: from a fresh `make install`
//! into a temporary prefix, the C example built with a plain Makefile and
//! pkg-config, with CMake's find_package (shared and static) and with CMake
//! and pkg-config (each run by ctest against a real engine), the C++
//! wrapper's example and tests (plain and ASan), and the Go package (vet,
//! race-detector tests, example).

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

use support::containerd::{shared as shared_containerd, PrivateContainerd};
use support::cri::shared as shared_cri;
use support::docker::{shared as shared_docker, PrivateDocker};
use support::podman::{shared as shared_podman, PrivatePodman};
use support::stage::{installed, repo};

const PROJECT: &str = "consumer-project";

/// Runs `cmd` without cargo's LD_LIBRARY_PATH (which points into target/),
/// so programs load the installed library through their rpath.
fn run(cmd: &mut Command) -> String {
    let out = cmd.env_remove("LD_LIBRARY_PATH").output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{cmd:?} failed:\n{text}");
    text
}

fn stage() -> &'static Path {
    installed("consumers")
}

fn build_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("wwt-consumer-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A container of each engine the programs must find: Docker, containerd,
/// podman, and a CRI pod (sandbox and container).
struct Fixture {
    docker: &'static PrivateDocker,
    containerd: &'static PrivateContainerd,
    podman: &'static PrivatePodman,
    podman_id: String,
    podman_pid: i32,
    cri_endpoint: String,
    cri_sandbox_id: String,
    cri_sandbox_pid: i32,
    cri_container_id: String,
    cri_container_pid: i32,
    docker_id: String,
    docker_name: String,
    docker_pid: i32,
    ctrd_id: String,
    ctrd_name: String,
    ctrd_pid: i32,
    moby_id: String,
}

static FIXTURE: OnceLock<Fixture> = OnceLock::new();
/// Programs built into the source tree (make-based examples) one at a time.
static IN_TREE: Mutex<()> = Mutex::new(());

fn fixture() -> &'static Fixture {
    FIXTURE.get_or_init(|| {
        let docker = shared_docker("consumers");
        let containerd = shared_containerd("consumers-ctrd");
        let tag = format!("consumer-{}", std::process::id());
        docker.remove_labelled("whalewatcher.test", "consumers");
        let docker_id =
            docker.run(&tag, &[("whalewatcher.test", "consumers"), ("com.docker.compose.project", PROJECT)]);
        containerd.run("wwtest", &tag, &[("nerdctl/name", "consumer"), ("com.docker.compose.project", PROJECT)]);
        containerd.run("moby", &tag, &[]);
        let podman = shared_podman("consumers-podman");
        let podman_id = podman.run(&tag, &[("com.docker.compose.project", PROJECT)], None, &[]);
        let mut cri = shared_cri("consumers-cri").lock().unwrap_or_else(|e| e.into_inner());
        let sandbox = cri.run_pod(CRI_POD.0, CRI_POD.1, CRI_POD.2);
        let container = cri.run_container(&sandbox, CRI_POD, "app", 0, false, &[]);
        Fixture {
            podman_pid: podman.pid_of(&podman_id),
            podman_id,
            podman,
            cri_endpoint: cri.endpoint(),
            cri_sandbox_pid: cri.pid_of(&sandbox, true),
            cri_sandbox_id: sandbox,
            cri_container_pid: cri.pid_of(&container, false),
            cri_container_id: container,
            docker_pid: docker.pid_of(&docker_id),
            docker_id,
            docker_name: tag.clone(),
            ctrd_pid: containerd.pid_of("wwtest", &tag),
            ctrd_id: format!("wwtest/{tag}"),
            ctrd_name: "wwtest/consumer".into(),
            moby_id: format!("moby/{tag}"),
            docker,
            containerd,
        }
    })
}

/// The fixture's CRI pod: name, namespace, UID.
const CRI_POD: (&str, &str, &str) = ("consumer-pod", "consumers", "6f1c0d7e-0000-4000-8000-00000000c0de");

impl Fixture {
    /// The fixture's podman and CRI engines, for the C++ and Go tests:
    /// WW_TEST_PODMAN_ENDPOINT, _ID, _PID (a running container, compose
    /// project as for Docker); WW_TEST_CRI_ENDPOINT, WW_TEST_CRI_POD
    /// ("NAME/NAMESPACE/UID"), WW_TEST_CRI_SANDBOX_ID, _PID and
    /// WW_TEST_CRI_CONTAINER_ID, _PID (its container "app").
    fn engine_env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("WW_TEST_PODMAN_ENDPOINT", self.podman.endpoint()),
            ("WW_TEST_PODMAN_ID", self.podman_id.clone()),
            ("WW_TEST_PODMAN_PID", self.podman_pid.to_string()),
            ("WW_TEST_CRI_ENDPOINT", self.cri_endpoint.clone()),
            ("WW_TEST_CRI_POD", format!("{}/{}/{}", CRI_POD.0, CRI_POD.1, CRI_POD.2)),
            ("WW_TEST_CRI_SANDBOX_ID", self.cri_sandbox_id.clone()),
            ("WW_TEST_CRI_SANDBOX_PID", self.cri_sandbox_pid.to_string()),
            ("WW_TEST_CRI_CONTAINER_ID", self.cri_container_id.clone()),
            ("WW_TEST_CRI_CONTAINER_PID", self.cri_container_pid.to_string()),
        ]
    }

    /// The command line the C and C++ test programs take.
    fn args(&self) -> String {
        format!(
            "{} {} {} {} {PROJECT} {} {} {} {} {PROJECT} {}",
            self.docker.endpoint(),
            self.docker_id,
            self.docker_name,
            self.docker_pid,
            self.containerd.socket.display(),
            self.ctrd_id,
            self.ctrd_name,
            self.ctrd_pid,
            self.moby_id
        )
    }
}

/// What the example prints must show the fixture's container with its PID.
fn assert_shows(output: &str, name: &str, pid: i32) {
    assert!(
        output.lines().any(|l| l.contains(&format!("'{name}'")) && l.contains(&format!("PID {pid})"))),
        "{name} with PID {pid} not in:\n{output}"
    );
}

#[test]
fn c_example_with_make_and_pkg_config() {
    let f = fixture();
    let _one = IN_TREE.lock().unwrap_or_else(|e| e.into_inner());
    let dir = repo().join("c-examples");
    run(Command::new("make").arg("-C").arg(&dir).arg("clean"));
    run(Command::new("make").arg("-C").arg(&dir).arg(format!("PREFIX={}", stage().display())));
    let ldd = run(Command::new("ldd").arg(dir.join("watch")));
    let soname = format!("{}/lib/libwhalewatcher.so.{}", stage().display(), whalewatcher::ffi::WW_ABI_VERSION);
    assert!(ldd.contains(&soname), "{ldd}");
    let out = run(Command::new(dir.join("watch")).arg(f.docker.endpoint()));
    assert_shows(&out, &f.docker_name, f.docker_pid);
    assert!(
        out.starts_with("engine docker.com ") && out.lines().next().unwrap().contains(", synced, generation "),
        "{out}"
    );
    let out = run(Command::new(dir.join("watch")).args(["--engine", "containerd"]).arg(&f.containerd.socket));
    assert_shows(&out, &f.ctrd_name, f.ctrd_pid);
    assert!(
        out.starts_with("engine containerd.io ") && out.lines().next().unwrap().contains(", synced, generation "),
        "{out}"
    );
    run(Command::new("make").arg("-C").arg(&dir).arg("clean"));
}

fn cmake(name: &str, extra: &[&str], engine: &str, endpoint: &str) -> (PathBuf, String) {
    let build = build_dir(name);
    let mut configure = Command::new("cmake");
    configure
        .arg("-S")
        .arg(repo().join("c-examples/cmake"))
        .arg("-B")
        .arg(&build)
        .arg(format!("-DCMAKE_PREFIX_PATH={}", stage().display()))
        .arg(format!("-DWW_TEST_ENGINE={engine}"))
        .arg(format!("-DWW_TEST_ENDPOINT={endpoint}"))
        .args(extra);
    run(&mut configure);
    run(Command::new("cmake").arg("--build").arg(&build));
    let ctest = run(Command::new("ctest").arg("--test-dir").arg(&build).arg("--output-on-failure").arg("-V"));
    assert!(ctest.contains("100% tests passed"), "{ctest}");
    (build, ctest)
}

#[test]
fn cmake_find_package_shared_library() {
    let f = fixture();
    let (build, ctest) = cmake("cmake-shared", &[], "docker", &f.docker.endpoint());
    assert_shows(&ctest, &f.docker_name, f.docker_pid);
    let ldd = run(Command::new("ldd").arg(build.join("watch")));
    let soname = format!("{}/lib/libwhalewatcher.so.{}", stage().display(), whalewatcher::ffi::WW_ABI_VERSION);
    assert!(ldd.contains(&soname), "{ldd}");
    std::fs::remove_dir_all(build).unwrap();
}

#[test]
fn cmake_find_package_static_library() {
    let f = fixture();
    let endpoint = f.containerd.endpoint();
    let (build, ctest) = cmake("cmake-static", &["-DWW_STATIC=ON"], "containerd", &endpoint);
    assert_shows(&ctest, &f.ctrd_name, f.ctrd_pid);
    let ldd = run(Command::new("ldd").arg(build.join("watch")));
    assert!(!ldd.contains("libwhalewatcher"), "linked statically: {ldd}");
    std::fs::remove_dir_all(build).unwrap();
}

#[test]
fn cmake_with_pkg_config() {
    let f = fixture();
    let (build, ctest) = cmake("cmake-pc", &["-DWW_USE_PKGCONFIG=ON"], "docker", &f.docker.endpoint());
    assert_shows(&ctest, &f.docker_name, f.docker_pid);
    std::fs::remove_dir_all(build).unwrap();
}

/// Builds the C++ example (c-examples/cpp) and runs it against both
/// engines, then runs `make TARGETS` of the C++ wrapper's tests (tests/cpp)
/// against them; returns the tests' output. The tests run, pause and remove
/// containers of their own, labelled like the fixture's, so the fixture
/// removes what a crashed run left behind.
fn make_cpp(targets: &[&str]) -> String {
    let f = fixture();
    let _one = IN_TREE.lock().unwrap_or_else(|e| e.into_inner());
    let prefix = format!("PREFIX={}", stage().display());
    let example = repo().join("c-examples/cpp");
    run(Command::new("make").arg("-C").arg(&example).arg("clean"));
    run(Command::new("make").arg("-s").arg("-C").arg(&example).arg(&prefix));
    let watch = run(Command::new(example.join("watch")).arg(f.docker.endpoint()));
    assert_shows(&watch, &f.docker_name, f.docker_pid);
    assert!(
        watch.starts_with("engine docker.com ") && watch.lines().next().unwrap().contains(", synced, generation "),
        "{watch}"
    );
    let watch = run(Command::new(example.join("watch")).args(["--engine", "containerd"]).arg(&f.containerd.socket));
    assert_shows(&watch, &f.ctrd_name, f.ctrd_pid);
    assert!(watch.starts_with("engine containerd.io "), "{watch}");
    run(Command::new("make").arg("-C").arg(&example).arg("clean"));

    let tests = repo().join("tests/cpp");
    run(Command::new("make").arg("-C").arg(&tests).arg("clean"));
    let out = run(Command::new("make")
        .arg("-s")
        .arg("-C")
        .arg(&tests)
        .args(targets)
        .arg(&prefix)
        .arg(format!("ARGS={}", f.args()))
        .envs(f.engine_env()));
    assert!(out.lines().any(|l| l.ends_with(" passed, 0 failed")), "{out}");
    assert!(!out.contains("skipped") && !out.contains("FAILED"), "every test ran and passed: {out}");
    run(Command::new("make").arg("-C").arg(&tests).arg("clean"));
    out
}

#[test]
fn cpp_wrapper_tests_and_example() {
    let out = make_cpp(&["header-check", "test"]);
    assert!(out.contains("header_check: ok"), "{out}");
}

#[test]
fn cpp_wrapper_tests_under_address_sanitizer() {
    make_cpp(&["asan"]);
}

/// `go` with the installed library found by pkg-config and as rpath, and
/// the fixture's engines for the package's tests.
fn go(args: &[&str], godebug: Option<&str>) -> String {
    let f = fixture();
    let lib = stage().join("lib");
    let mut cmd = Command::new("go");
    cmd.current_dir(repo().join("c-examples/go"))
        .args(args)
        .env("PKG_CONFIG_PATH", lib.join("pkgconfig"))
        .env("CGO_LDFLAGS", format!("-Wl,-rpath,{}", lib.display()))
        .env("CGO_ENABLED", "1")
        .env("GOPROXY", "off")
        .env("GOFLAGS", "-count=1")
        .env("WW_TEST_DOCKER_ENDPOINT", f.docker.endpoint())
        .env("WW_TEST_CONTAINERD_ENDPOINT", &f.containerd.socket)
        .env("WW_TEST_CTR_FIFO_DIR", f.containerd.dir.join("fifo"))
        .envs(f.engine_env());
    if let Some(g) = godebug {
        cmd.env("GODEBUG", g);
    }
    run(&mut cmd)
}

/// The Go package and example are built and tested one at a time (they
/// share the engines' containers and Go's build cache).
static GO: Mutex<()> = Mutex::new(());

#[test]
fn go_package_vet_race_tests_and_example() {
    let _one = GO.lock().unwrap_or_else(|e| e.into_inner());
    let f = fixture();
    go(&["vet", "./..."], None);
    let out = go(&["test", "-race", "-v", "./..."], None);
    assert!(!out.contains("--- SKIP"), "every Go test ran:\n{out}");
    assert!(out.contains("--- PASS") && !out.contains("--- FAIL"), "{out}");
    let out = go(&["run", "./cmd/watch", &f.docker.endpoint()], None);
    assert_shows(&out, &f.docker_name, f.docker_pid);
}

#[test]
fn go_package_tests_with_strict_cgo_pointer_checks() {
    let _one = GO.lock().unwrap_or_else(|e| e.into_inner());
    let out = go(&["test", "-v", "./whalewatcher/"], Some("cgocheck=2"));
    assert!(out.contains("--- PASS") && !out.contains("--- FAIL") && !out.contains("--- SKIP"), "{out}");
}
