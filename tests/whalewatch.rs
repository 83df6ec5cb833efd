//! whalewatch, the command-line tool (c-examples/whalewatch), as `make
//! install` installs it, run the way users run it: against private Docker,
//! containerd and podman engines it finds by itself (the table, JSON lines,
//! `engines`, `--follow`), against the fake Docker engine for what real
//! engines do not send (hostile labels, invalid UTF-8, an engine lost and
//! back), and with arguments that are wrong or name no engine.

mod support;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use support::containerd::{shared as shared_containerd, PrivateContainerd};
use support::docker::{shared as shared_docker, PrivateDocker};
use support::fake_docker::{parse_rfc3339_nano, Behavior, FakeContainer, FakeDocker, IMAGE};
use support::podman::{shared as shared_podman, PrivatePodman};
use support::stage::{installed, repo};

/// How long one line of `--follow` may take to show.
const LINE_TIMEOUT: Duration = Duration::from_secs(30);
const TEST_LABEL: (&str, &str) = ("whalewatcher.test", "whalewatch");

fn bin() -> PathBuf {
    installed("whalewatch").join("bin/whalewatch")
}

/// What one run of whalewatch did.
struct Ran {
    code: Option<i32>,
    stdout: Vec<u8>,
    stderr: String,
}

impl Ran {
    fn stdout(&self) -> String {
        String::from_utf8(self.stdout.clone()).expect("whalewatch writes UTF-8")
    }
}

/// Runs the installed whalewatch with `args`, without cargo's
/// LD_LIBRARY_PATH: it finds the installed library through its rpath.
fn whalewatch(args: &[&str]) -> Ran {
    let out = Command::new(bin())
        .args(args)
        .env_remove("LD_LIBRARY_PATH")
        .stdin(Stdio::null())
        .output()
        .expect("run whalewatch");
    Ran { code: out.status.code(), stdout: out.stdout, stderr: String::from_utf8_lossy(&out.stderr).into_owned() }
}

/// Runs whalewatch, which must succeed; returns its stdout.
fn ok(args: &[&str]) -> String {
    let r = whalewatch(args);
    assert_eq!(r.code, Some(0), "whalewatch {args:?} failed: {}\nstdout:\n{}", r.stderr, r.stdout());
    r.stdout()
}

/// A table as whalewatch prints it: a header of one-word column names, then
/// rows whose cells start where their column's name starts. Each row as
/// column name -> cell.
fn table(text: &str) -> Vec<HashMap<String, String>> {
    let mut lines = text.lines();
    let header: Vec<char> = lines.next().expect("a header line").chars().collect();
    let starts: Vec<usize> =
        (0..header.len()).filter(|&i| header[i] != ' ' && (i == 0 || header[i - 1] == ' ')).collect();
    let names: Vec<String> = starts
        .iter()
        .enumerate()
        .map(|(n, &s)| header[s..starts.get(n + 1).copied().unwrap_or(header.len())].iter().collect::<String>())
        .map(|s| s.trim().to_string())
        .collect();
    lines
        .map(|line| {
            let chars: Vec<char> = line.chars().collect();
            starts
                .iter()
                .enumerate()
                .map(|(n, &s)| {
                    // Columns are separated by at least two blanks.
                    assert!(s == 0 || chars[s - 2..s] == [' ', ' '], "column {} misaligned in:\n{text}", names[n]);
                    let end = starts.get(n + 1).map_or(chars.len(), |&e| e.min(chars.len()));
                    (names[n].clone(), chars[s..end].iter().collect::<String>().trim_end().to_string())
                })
                .collect()
        })
        .collect()
}

/// The JSON lines of `text`, each one object.
fn json_lines(text: &[u8]) -> Vec<Value> {
    text.split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| {
            let v: Value = serde_json::from_slice(l)
                .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", String::from_utf8_lossy(l)));
            assert!(v.is_object(), "not an object: {v}");
            v
        })
        .collect()
}

/// Seconds from an AGE cell ("42s", "5m03s", "3h12m", "4d05h").
fn age_secs(age: &str) -> u64 {
    let (mut total, mut n) = (0, 0);
    for c in age.chars() {
        match c {
            '0'..='9' => n = n * 10 + u64::from(c.to_digit(10).unwrap()),
            'd' | 'h' | 'm' | 's' => {
                total += n * match c {
                    'd' => 86_400,
                    'h' => 3600,
                    'm' => 60,
                    _ => 1,
                };
                n = 0;
            }
            _ => panic!("bad age {age:?}"),
        }
    }
    total
}

fn now_ns() -> i128 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as i128
}

/// "KIND:PATH": how the table names the engine at unix socket `socket`.
fn engine_cell(kind: &str, socket: &Path) -> String {
    format!("{kind}:{}", socket.display())
}

// ---- the private engines and their containers ---------------------------

struct Fixture {
    docker: &'static PrivateDocker,
    containerd: &'static PrivateContainerd,
    podman: &'static PrivatePodman,
    /// Docker: in compose project "wwproj", with labels.
    web: String,
    web_name: String,
    /// Docker: paused.
    paused: String,
    paused_name: String,
    /// containerd: task TAG in namespace "wwtest", nerdctl/name "ww-ctrd", in "wwproj".
    tag: String,
    /// podman: pod POD with container `pod_app` and its infra container.
    pod: String,
    pod_id: String,
    pod_app: String,
    infra: String,
}

static FIXTURE: OnceLock<Fixture> = OnceLock::new();

fn fixture() -> &'static Fixture {
    FIXTURE.get_or_init(|| {
        let docker = shared_docker("whalewatch-docker");
        let containerd = shared_containerd("whalewatch-ctrd");
        let podman = shared_podman("whalewatch-podman");
        docker.remove_labelled(TEST_LABEL.0, TEST_LABEL.1);
        let tag = format!("ww-{}", std::process::id());

        let web_name = format!("{tag}-web");
        let web = docker.run(
            &web_name,
            &[
                TEST_LABEL,
                ("com.docker.compose.project", "wwproj"),
                ("com.docker.compose.service", "web"),
                ("note", "two words, \"quoted\""),
            ],
        );
        let paused_name = format!("{tag}-paused");
        let paused = docker.run(&paused_name, &[TEST_LABEL]);
        docker.docker(&["pause", &paused]);

        containerd.run("wwtest", &tag, &[("nerdctl/name", "ww-ctrd"), ("com.docker.compose.project", "wwproj")]);

        let pod = format!("{tag}-pod");
        let pod_id = podman.pod(&pod);
        let pod_app = podman.run(&format!("{tag}-app"), &[], Some(&pod), &[]);
        let infra = podman.infra_of(&pod);
        Fixture { docker, containerd, podman, web, web_name, paused, paused_name, tag, pod, pod_id, pod_app, infra }
    })
}

impl Fixture {
    fn docker_cell(&self) -> String {
        engine_cell("docker", &self.docker.socket)
    }

    /// `docker inspect ID`.
    fn inspect(&self, id: &str) -> Value {
        let v: Value = serde_json::from_str(&self.docker.docker(&["inspect", id])).expect("docker inspect JSON");
        v[0].clone()
    }
}

/// Runs whalewatch (which must succeed) until `complete` holds for its
/// stdout, for at most a minute; returns that stdout. Discovery lists an
/// engine only when it answers a probe within 1 s, and podman's `/info`
/// takes 0.3 to 1.1 s on a loaded machine: a look may miss podman.
fn until_complete(args: &[&str], complete: impl Fn(&str) -> bool) -> String {
    let mut last = String::new();
    let end = Instant::now() + Duration::from_secs(60);
    while Instant::now() < end {
        let r = whalewatch(args);
        assert_eq!(r.code, Some(0), "whalewatch {args:?} failed: {}\nstdout:\n{}", r.stderr, r.stdout());
        let out = r.stdout();
        if complete(&out) {
            return out;
        }
        last = format!("{out}\nstderr:\n{}", r.stderr);
    }
    panic!("whalewatch {args:?} never showed everything; last:\n{last}");
}

/// The row of the container named `name`.
fn row<'a>(rows: &'a [HashMap<String, String>], name: &str, out: &str) -> &'a HashMap<String, String> {
    let found: Vec<_> = rows.iter().filter(|r| r["NAME"] == name).collect();
    assert_eq!(found.len(), 1, "one row for {name} in:\n{out}");
    found[0]
}

#[test]
fn the_table_shows_the_containers_of_every_engine_found() {
    let f = fixture();
    // Every engine found: Docker's and containerd's containers at least
    // (podman's may be missed by discovery on a loaded machine: see
    // until_complete; its table is checked below through its endpoint).
    let out = ok(&[]);
    let rows = table(&out);
    assert_eq!(
        out.lines().next().unwrap().split_whitespace().collect::<Vec<_>>(),
        ["ENGINE", "PROJECT/POD", "NAME", "PID", "STATE", "IMAGE", "AGE"]
    );

    let docker = f.docker_cell();
    for (id, name, group, state) in
        [(&f.web, &f.web_name, "wwproj", "running"), (&f.paused, &f.paused_name, "-", "paused")]
    {
        let r = row(&rows, name, &out);
        let want_pid = f.docker.pid_of(id).to_string();
        assert_eq!(
            (r["ENGINE"].as_str(), r["PROJECT/POD"].as_str(), r["PID"].as_str(), r["STATE"].as_str()),
            (docker.as_str(), group, want_pid.as_str(), state),
            "{name} in:\n{out}"
        );
        assert_eq!(r["IMAGE"], "busybox:local");
        let started = parse_rfc3339_nano(f.inspect(id)["State"]["StartedAt"].as_str().unwrap()).unwrap();
        let want_age = ((now_ns() - started) / 1_000_000_000) as u64;
        let age = age_secs(&r["AGE"]);
        assert!(age <= want_age && want_age - age <= 5, "{name}: AGE {} for {want_age} s in:\n{out}", r["AGE"]);
    }

    let r = row(&rows, "wwtest/ww-ctrd", &out);
    let want_pid = f.containerd.pid_of("wwtest", &f.tag).to_string();
    assert_eq!(
        (r["ENGINE"].clone(), r["PROJECT/POD"].as_str(), r["PID"].as_str(), r["STATE"].as_str(), r["IMAGE"].as_str()),
        (
            engine_cell("containerd", &f.containerd.socket),
            "wwproj",
            want_pid.as_str(),
            "running",
            "docker.io/library/busybox:local"
        ),
        "{out}"
    );

    // podman, through its endpoint: a pod's containers, the infra one too.
    let out = ok(&["--engine", "podman", "--endpoint", &f.podman.endpoint()]);
    let rows = table(&out);
    let pod_cell = format!("pod:{}", f.pod);
    for id in [&f.pod_app, &f.infra] {
        let name = f.podman.podman(&["inspect", "-f", "{{.Name}}", id]);
        let r = row(&rows, &name, &out);
        let want_pid = f.podman.pid_of(id).to_string();
        assert_eq!(
            (r["ENGINE"].clone(), r["PROJECT/POD"].as_str(), r["PID"].as_str(), r["STATE"].as_str()),
            (engine_cell("podman", &f.podman.socket), pod_cell.as_str(), want_pid.as_str(), "running"),
            "{out}"
        );
        assert_eq!(r["IMAGE"], f.podman.podman(&["inspect", "-f", "{{.ImageName}}", id]));
    }

    // One engine: only its containers.
    let out = ok(&["--engine", "docker", "--endpoint", &f.docker.endpoint()]);
    let rows = table(&out);
    assert!(rows.iter().all(|r| r["ENGINE"] == docker), "{out}");
    for name in [&f.web_name, &f.paused_name] {
        row(&rows, name, &out);
    }
}

/// The members every container object has, "engine" and "labels" included.
const CONTAINER_KEYS: [&str; 15] = [
    "id",
    "name",
    "project",
    "pid",
    "paused",
    "privileged",
    "image",
    "image_id",
    "started_at_ns",
    "pod_name",
    "pod_namespace",
    "pod_uid",
    "pod_sandbox",
    "labels",
    "engine",
];
const ENGINE_KEYS: [&str; 8] = ["kind", "type", "endpoint", "id", "version", "pid", "state", "last_error"];

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object().unwrap_or_else(|| panic!("not an object: {v}")).keys().cloned().collect()
}

fn assert_keys(v: &Value, want: &[&str]) {
    assert_eq!(keys(v), want.iter().map(|k| k.to_string()).collect::<BTreeSet<_>>(), "{v}");
}

/// The object of the container with ID `id`.
fn by_id<'a>(objs: &'a [Value], id: &str) -> &'a Value {
    let found: Vec<_> = objs.iter().filter(|o| o["id"] == id).collect();
    assert_eq!(found.len(), 1, "one object for {id} in {objs:#?}");
    found[0]
}

#[test]
fn json_lines_carry_every_field_of_every_container() {
    let f = fixture();
    let ep = f.docker.endpoint();
    let objs = json_lines(ok(&["--json", "--engine", "docker", "--endpoint", &ep]).as_bytes());
    let engine = json!({
        "kind": "docker",
        "type": "docker.com",
        "endpoint": ep,
        "id": f.docker.docker(&["info", "-f", "{{.ID}}"]),
        "version": f.docker.docker(&["version", "-f", "{{.Server.Version}}"]),
        "pid": f.docker.pid(),
        "state": "synced",
        "last_error": "",
    });
    for id in [&f.web, &f.paused] {
        let o = by_id(&objs, id);
        assert_keys(o, &CONTAINER_KEYS);
        let i = f.inspect(id);
        let labels = i["Config"]["Labels"].clone();
        let started = parse_rfc3339_nano(i["State"]["StartedAt"].as_str().unwrap()).unwrap() as i64;
        let want = json!({
            "id": i["Id"],
            "name": i["Name"].as_str().unwrap().trim_start_matches('/'),
            "project": labels.get("com.docker.compose.project").cloned().unwrap_or(json!("")),
            "pid": i["State"]["Pid"],
            "paused": i["State"]["Paused"],
            "privileged": i["HostConfig"]["Privileged"],
            "image": i["Config"]["Image"],
            "image_id": i["Image"],
            "started_at_ns": started,
            "pod_name": "",
            "pod_namespace": "",
            "pod_uid": "",
            "pod_sandbox": false,
            "labels": labels,
            "engine": engine,
        });
        assert_eq!(o, &want);
    }
    assert_eq!(by_id(&objs, &f.paused)["paused"], true);
    assert_eq!(by_id(&objs, &f.web)["labels"]["note"], "two words, \"quoted\"");

    // podman: the pod fields, the infra container as the pod's sandbox.
    let ep = f.podman.endpoint();
    let objs = json_lines(ok(&["--json", "--engine", "podman", "--endpoint", &ep]).as_bytes());
    for (id, sandbox) in [(&f.pod_app, false), (&f.infra, true)] {
        let o = by_id(&objs, id);
        assert_keys(o, &CONTAINER_KEYS);
        assert_keys(&o["engine"], &ENGINE_KEYS);
        let inspect = |t: &str| f.podman.podman(&["inspect", "-f", t, id]);
        let labels: Value = serde_json::from_str(&inspect("{{json .Config.Labels}}")).unwrap();
        let want = json!({
            "id": id,
            "name": inspect("{{.Name}}"),
            "project": "",
            "pid": f.podman.pid_of(id),
            "paused": false,
            "privileged": false,
            "image": inspect("{{.ImageName}}"),
            "image_id": format!("sha256:{}", inspect("{{.Image}}")),
            "started_at_ns": inspect("{{.State.StartedAt.UnixNano}}").parse::<i64>().unwrap(),
            "pod_name": f.pod,
            "pod_namespace": "",
            "pod_uid": f.pod_id,
            "pod_sandbox": sandbox,
            "labels": if labels.is_null() { json!({}) } else { labels },
            "engine": {
                "kind": "podman",
                "type": "podman.io",
                "endpoint": ep,
                "id": o["engine"]["id"],
                "version": f.podman.podman(&["version", "-f", "{{.Server.Version}}"]),
                "pid": f.podman.pid(),
                "state": "synced",
                "last_error": "",
            },
        });
        assert_eq!(o, &want);
    }

    // containerd: namespaced ID and name, labels as ctr shows them.
    let ep = f.containerd.endpoint();
    let objs = json_lines(ok(&["--json", "--engine", "containerd", "--endpoint", &ep]).as_bytes());
    let o = by_id(&objs, &format!("wwtest/{}", f.tag));
    assert_keys(o, &CONTAINER_KEYS);
    let info: Value = serde_json::from_str(&f.containerd.ctr("wwtest", &["containers", "info", &f.tag])).unwrap();
    assert_eq!(o["labels"], info["Labels"]);
    assert_eq!(
        (&o["name"], &o["project"], &o["pid"], &o["image"]),
        (
            &json!("wwtest/ww-ctrd"),
            &json!("wwproj"),
            &json!(f.containerd.pid_of("wwtest", &f.tag)),
            &json!("docker.io/library/busybox:local")
        )
    );
    assert!(o["image_id"].as_str().unwrap().starts_with("sha256:"), "{o}");
    assert!(o["started_at_ns"].as_i64().unwrap() > 0, "{o}");
    assert_eq!(
        (&o["engine"]["kind"], &o["engine"]["type"], &o["engine"]["endpoint"], &o["engine"]["pid"]),
        (&json!("containerd"), &json!("containerd.io"), &json!(ep), &json!(f.containerd.pid()))
    );

    // Every engine at once: the same objects.
    let all = json_lines(ok(&["--json"]).as_bytes());
    for id in [f.web.clone(), format!("wwtest/{}", f.tag)] {
        assert_keys(by_id(&all, &id), &CONTAINER_KEYS);
    }
}

#[test]
fn engines_lists_the_engines_found_and_how() {
    let f = fixture();
    let want = [
        ("docker", f.docker.endpoint(), f.docker.pid()),
        ("containerd", f.containerd.endpoint(), f.containerd.pid()),
        ("podman", f.podman.endpoint(), f.podman.pid()),
    ];
    let check_row = |out: &str, (kind, endpoint, pid): &(&str, String, i32)| {
        let rows = table(out);
        let r = rows.iter().find(|r| &r["ENDPOINT"] == endpoint).unwrap_or_else(|| panic!("{endpoint} not in:\n{out}"));
        assert_eq!(
            (r["KIND"].as_str(), r["PID"].clone(), r["UID"].as_str(), r["FOUND-BY"].as_str()),
            (*kind, pid.to_string(), "0", "process"),
            "{out}"
        );
    };
    let check_object = |objs: &[Value], (kind, endpoint, pid): &(&str, String, i32)| {
        let o = objs.iter().find(|o| o["endpoint"] == endpoint.as_str()).unwrap_or_else(|| panic!("{objs:#?}"));
        assert_keys(o, &["kind", "endpoint", "pid", "uid", "found_by"]);
        assert_eq!(o, &json!({"kind": kind, "endpoint": endpoint, "pid": pid, "uid": 0, "found_by": "process"}));
    };

    // Docker and containerd answer discovery's probes at once.
    let out = ok(&["engines"]);
    assert_eq!(
        out.lines().next().unwrap().split_whitespace().collect::<Vec<_>>(),
        ["KIND", "ENDPOINT", "PID", "UID", "FOUND-BY"]
    );
    check_row(&out, &want[0]);
    check_row(&out, &want[1]);
    let objs = json_lines(ok(&["engines", "--json"]).as_bytes());
    check_object(&objs, &want[0]);
    check_object(&objs, &want[1]);

    // podman, looked for until discovery's probe catches it (see
    // until_complete); --engine selects a kind.
    let out = until_complete(&["engines", "--engine", "podman"], |out| out.contains(&want[2].1));
    check_row(&out, &want[2]);
    assert!(table(&out).iter().all(|r| r["KIND"] == "podman"), "{out}");
    let out = until_complete(&["--json", "engines", "--engine=podman"], |out| out.contains(&want[2].1));
    let objs = json_lines(out.as_bytes());
    check_object(&objs, &want[2]);
    assert!(objs.iter().all(|o| o["kind"] == "podman"), "{objs:#?}");

    // --endpoint selects one, given as a URL or a path.
    let objs = json_lines(ok(&["engines", "--json", "--endpoint", f.containerd.socket.to_str().unwrap()]).as_bytes());
    assert_eq!(objs.len(), 1, "{objs:#?}");
    check_object(&objs, &want[1]);
    let objs = json_lines(ok(&["engines", "--json", "--endpoint", &want[0].1]).as_bytes());
    assert_eq!(objs.len(), 1, "{objs:#?}");
    check_object(&objs, &want[0]);
    let r = whalewatch(&["engines", "--engine", "docker", "--endpoint", "unix:///nonexistent.sock"]);
    assert_eq!(r.code, Some(1));
    assert!(r.stdout.is_empty());
    assert_eq!(r.stderr, "whalewatch: no docker engine found on this host at unix:///nonexistent.sock\n");
}

// ---- --follow -----------------------------------------------------------

/// A running `whalewatch --follow`, its stdout read line by line.
struct Follow {
    child: Child,
    lines: Receiver<String>,
    seen: Vec<String>,
    stderr: Option<std::thread::JoinHandle<String>>,
}

impl Follow {
    fn start(args: &[&str]) -> Follow {
        let mut child = Command::new(bin())
            .arg("--follow")
            .args(args)
            .env_remove("LD_LIBRARY_PATH")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start whalewatch --follow");
        let (tx, lines) = channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                if tx.send(line.expect("whalewatch writes UTF-8")).is_err() {
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
        Follow { child, lines, seen: Vec::new(), stderr: Some(stderr) }
    }

    /// The next line for which `pick` is true (other lines are about other
    /// containers and engines of the host), within `LINE_TIMEOUT` each.
    fn next_where(&mut self, waiting_for: &str, pick: impl Fn(&str) -> bool) -> String {
        loop {
            match self.lines.recv_timeout(LINE_TIMEOUT) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if pick(&line) {
                        return line;
                    }
                }
                Err(e) => {
                    panic!("no line ({e}) while waiting for {waiting_for}; printed so far:\n{}", self.seen.join("\n"))
                }
            }
        }
    }

    /// The next line about container `name` must be `want`.
    fn expect_about(&mut self, name: &str, want: &str) {
        let marker = format!(" {name} (");
        let got = self.next_where(want, |l| l.contains(&marker));
        assert_eq!(got, want, "printed so far:\n{}", self.seen.join("\n"));
    }

    /// The next JSON change object about container `id`.
    fn next_change(&mut self, id: &str) -> Value {
        let line = self.next_where(id, |l| {
            serde_json::from_str::<Value>(l).is_ok_and(|v| v["id"] == id && v.get("change").is_some())
        });
        serde_json::from_str(&line).unwrap()
    }

    /// Sends `signal`; returns the exit status and stderr.
    fn stop(mut self, signal: i32) -> (Option<i32>, String) {
        // SAFETY: a plain system call on the PID of our own child, not yet reaped.
        assert_eq!(unsafe { libc::kill(self.child.id() as i32, signal) }, 0);
        let status = self.child.wait().expect("wait for whalewatch");
        (status.code(), self.stderr.take().unwrap().join().unwrap())
    }
}

impl Drop for Follow {
    fn drop(&mut self) {
        // A failed test leaves no whalewatch running.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn follow_prints_each_change_as_it_happens_and_sigint_ends_it_with_0() {
    let f = fixture();
    let docker = f.docker_cell();
    let mut w = Follow::start(&["--engine", "docker", "--endpoint", &f.docker.endpoint()]);
    // The table comes first: the changes come after it.
    w.next_where("the table", |l| l.contains(&format!("  {}  ", f.web_name)));

    let name = format!("{}-follow", f.tag);
    let id = f.docker.run(&name, &[TEST_LABEL]);
    let pid = f.docker.pid_of(&id);
    w.expect_about(&name, &format!("+ started {name} ({docker}, PID {pid}, image busybox:local)"));
    f.docker.docker(&["pause", &id]);
    w.expect_about(&name, &format!("~ paused {name} ({docker}, PID {pid})"));
    f.docker.docker(&["unpause", &id]);
    w.expect_about(&name, &format!("~ unpaused {name} ({docker}, PID {pid})"));
    f.docker.docker(&["kill", &id]);
    w.expect_about(&name, &format!("- exited {name} ({docker}, PID {pid})"));

    let (code, stderr) = w.stop(libc::SIGINT);
    assert_eq!(code, Some(0), "SIGINT ends it with exit status 0; stderr: {stderr}");
    assert_eq!(stderr, "");
}

#[test]
fn follow_json_over_every_engine_and_sigterm_ends_it_with_0() {
    let f = fixture();
    let mut w = Follow::start(&["--json"]);
    // First the listing, one object per container, without "change".
    let line = w.next_where("the listing", |l| l.contains(&f.web));
    let listed: Value = serde_json::from_str(&line).unwrap();
    assert_keys(&listed, &CONTAINER_KEYS);

    let name = format!("{}-follow-json", f.tag);
    let id = f.docker.run(&name, &[TEST_LABEL, ("com.docker.compose.project", "wwfollow")]);
    let pid = f.docker.pid_of(&id);
    let started = w.next_change(&id);
    assert_keys(&started, &[&CONTAINER_KEYS[..], &["change"]].concat());
    assert_eq!(
        (&started["change"], &started["name"], &started["pid"], &started["project"], &started["paused"]),
        (&json!("started"), &json!(name), &json!(pid), &json!("wwfollow"), &json!(false))
    );
    assert_eq!(
        (&started["engine"]["endpoint"], &started["engine"]["state"]),
        (&json!(f.docker.endpoint()), &json!("synced"))
    );
    f.docker.docker(&["pause", &id]);
    let paused = w.next_change(&id);
    assert_eq!((&paused["change"], &paused["paused"], &paused["pid"]), (&json!("paused"), &json!(true), &json!(pid)));
    f.docker.docker(&["kill", &id]);
    let exited = w.next_change(&id);
    assert_eq!((&exited["change"], &exited["name"], &exited["pid"]), (&json!("exited"), &json!(name), &json!(pid)));

    let (code, stderr) = w.stop(libc::SIGTERM);
    assert_eq!(code, Some(0), "SIGTERM ends it with exit status 0; stderr: {stderr}");
    assert!(stderr.lines().all(|l| l.contains(" its containers are not shown")), "{stderr}");
}

#[test]
fn follow_tells_when_the_engine_is_lost_and_back() {
    let fake = FakeDocker::start();
    let sock = fake.socket().to_path_buf();
    let engine = engine_cell("docker", &sock);
    let mut w = Follow::start(&["--engine", "docker", "--endpoint", &fake.endpoint()]);
    w.next_where("the table's header", |l| l.starts_with("ENGINE "));
    let c = FakeContainer::new("fake-a");
    let pid = c.pid;
    fake.run(c);
    w.expect_about("fake-a", &format!("+ started fake-a ({engine}, PID {pid}, image {IMAGE})"));

    // The engine goes away: "resyncing" with what went wrong, then, once it
    // answers again, "synced".
    fake.refuse(true);
    fake.break_streams();
    let resyncing = format!("! engine {engine} resyncing: ");
    let line = w.next_where("resyncing", |l| l.starts_with("! engine "));
    assert!(line.starts_with(&resyncing) && line.len() > resyncing.len(), "{line}");
    fake.refuse(false);
    let synced = format!("! engine {engine} synced");
    let line = w.next_where("synced", |l| !l.starts_with(&resyncing));
    assert_eq!(line, synced);

    let (code, stderr) = w.stop(libc::SIGINT);
    assert_eq!((code, stderr.as_str()), (Some(0), ""));
}

// ---- what engines send that they should not ---------------------------

/// Labels no engine should send, but a fake one can.
fn hostile_labels() -> Vec<(&'static str, &'static str)> {
    vec![
        ("quote\"key", "a \"quoted\" value"),
        ("back\\slash", "C:\\path\\to\\"),
        ("newlines", "line 1\nline 2\r\n"),
        ("controls", "\u{1}\u{8}\t\u{b}\u{c}\u{1b}[31m\u{1f}\u{7f}"),
        ("c1 controls", "\u{85}\u{9b}2J"),
        ("non-ascii", "Grüße, 日本語, 🐳, \u{2028}"),
        ("empty", ""),
        ("{\"json\":1}", "[1,2]"),
    ]
}

#[test]
fn hostile_labels_and_names_come_back_exactly_as_json_and_safely_as_a_table() {
    let fake = FakeDocker::start();
    let mut c = FakeContainer::new("evil\"name\n\u{1b}]0;title\u{7}\u{9b}x");
    for (k, v) in hostile_labels() {
        c = c.with_label(k, v);
    }
    let evil = fake.add(c.with_label("nul", "a\0b"));
    // (Privileged containers cannot run where the tests run: the fake has one.)
    let plain = fake.add(FakeContainer::new("plain").with_privileged(true).with_paused(true));
    let ep = fake.endpoint();

    let out = whalewatch(&["--json", "--engine", "docker", "--endpoint", &ep]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let objs = json_lines(&out.stdout);
    assert_eq!(objs.len(), 2, "{objs:#?}");
    let o = by_id(&objs, &evil);
    assert_eq!(o["name"], "evil\"name\n\u{1b}]0;title\u{7}\u{9b}x");
    let mut want: BTreeMap<String, String> =
        hostile_labels().iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    // The library hands out NUL-terminated strings: an interior NUL becomes U+FFFD.
    want.insert("nul".into(), "a\u{FFFD}b".into());
    let got: BTreeMap<String, String> = serde_json::from_value(o["labels"].clone()).unwrap();
    assert_eq!(got, want);
    let p = by_id(&objs, &plain);
    assert_eq!((&p["privileged"], &p["paused"], &p["labels"]), (&json!(true), &json!(true), &json!({})));
    // Control characters are escaped, never written raw.
    assert!(out.stdout.iter().all(|&b| b >= 0x20 || b == b'\n'), "{}", out.stdout());

    // The table: one line per container, no control character reaches the
    // terminal (C0, DEL, C1 become '?').
    let out = ok(&["--engine", "docker", "--endpoint", &ep]);
    assert_eq!(out.lines().count(), 3, "{out}");
    assert!(!out.chars().any(|c| c.is_control() && c != '\n'), "{out:?}");
    let rows = table(&out);
    row(&rows, "evil\"name??]0;title??x", &out);
    assert_eq!(row(&rows, "plain", &out)["STATE"], "paused");
}

/// An inspection reply like the fake's own for `c`, with `label_value`
/// (any bytes) as the value of its label "bad".
fn inspect_reply(c: &FakeContainer, label_value: &[u8]) -> Vec<u8> {
    let now = support::fake_docker::rfc3339_nano(now_ns());
    let body = json!({
        "Id": c.id,
        "Created": now,
        "Name": format!("/{}", c.name),
        "State": {"Status": "running", "Running": true, "Paused": false, "Pid": c.pid, "StartedAt": now},
        "Image": "sha256:3f57d9401f8d42f986df300f0c69192fc41da28ccc8d797829467780db3dd741",
        "HostConfig": {"Privileged": false},
        "Config": {"Image": IMAGE, "Labels": {"bad": "@BAD@", "good": "yes"}},
    })
    .to_string()
    .into_bytes();
    let at = body.windows(5).position(|w| w == b"@BAD@").unwrap();
    [&body[..at], label_value, &body[at + 5..]].concat()
}

#[test]
fn a_label_that_is_not_utf8_skips_its_container_and_the_output_stays_valid() {
    let fake = FakeDocker::start();
    let good = fake.add(FakeContainer::new("good").with_label("fine", "ü"));
    let c = FakeContainer::new("bad-utf8");
    let reply = inspect_reply(&c, b"x\xff\xfe\xc3(y");
    let bad = fake.add(c);
    fake.set_inspect(&bad, Behavior::RawBody(reply));
    let ep = fake.endpoint();

    // The library cannot describe that container (its reply is no valid
    // JSON, which is UTF-8) and leaves it out; everything else is shown,
    // and what whalewatch prints is valid UTF-8 JSON, line by line.
    let out = whalewatch(&["--json", "--engine", "docker", "--endpoint", &ep]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    let objs = json_lines(&out.stdout);
    assert_eq!(objs.iter().map(|o| o["id"].as_str().unwrap()).collect::<Vec<_>>(), [good.as_str()]);
    assert_eq!(objs[0]["labels"], json!({"fine": "ü"}));
    let out = ok(&["--engine", "docker", "--endpoint", &ep]);
    assert_eq!(table(&out).iter().map(|r| r["NAME"].as_str()).collect::<Vec<_>>(), ["good"], "{out}");

    // The same reply made valid: the container is shown, its label exactly.
    let c = fake.get(&bad).unwrap();
    fake.set_inspect(&bad, Behavior::RawBody(inspect_reply(&c, "x\u{FFFD}y".as_bytes())));
    let objs = json_lines(ok(&["--json", "--engine", "docker", "--endpoint", &ep]).as_bytes());
    assert_eq!(by_id(&objs, &bad)["labels"], json!({"bad": "x\u{FFFD}y", "good": "yes"}));
}

/// Each byte that is not part of a valid UTF-8 sequence as U+FFFD, the
/// rest as it is.
fn per_byte_replacement(mut bytes: &[u8]) -> String {
    let mut s = String::new();
    loop {
        match std::str::from_utf8(bytes) {
            Ok(rest) => return s + rest,
            Err(e) => {
                s.push_str(std::str::from_utf8(&bytes[..e.valid_up_to()]).unwrap());
                s.push('\u{FFFD}');
                bytes = &bytes[e.valid_up_to() + 1..];
            }
        }
    }
}

#[test]
fn json_strings_replace_each_invalid_utf8_byte() {
    // The library hands out UTF-8 only, so whalewatch's own JSON writer is
    // fed bytes directly: text.c with a driver that writes stdin as a JSON
    // string.
    let dir = std::env::temp_dir().join(format!("wwt-whalewatch-json-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let driver = dir.join("driver.c");
    std::fs::write(
        &driver,
        "#include <stdio.h>\n#include \"text.h\"\n\
         int main(void) { static char buf[4096]; size_t n = fread(buf, 1, sizeof buf - 1, stdin);\n\
         buf[n] = '\\0'; json_string(stdout, buf); return 0; }\n",
    )
    .unwrap();
    let src = repo().join("c-examples/whalewatch");
    let exe = dir.join("driver");
    let out = Command::new("cc")
        .args(["-std=c99", "-Wall", "-Wextra", "-Wpedantic", "-Werror", "-I"])
        .arg(&src)
        .arg("-o")
        .arg(&exe)
        .arg(&driver)
        .arg(src.join("text.c"))
        .output()
        .expect("cc");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for input in [
        &b"plain \"quoted\" \\ \x01\x1f\x7f\n"[..],
        b"\xff",
        b"a\xc3",
        b"\xe2\x82A",
        b"\xc0\xaf overlong",
        b"\xed\xa0\x80 surrogate",
        b"\xf4\x90\x80\x80 beyond U+10FFFF",
        b"\x80\xbf stray continuations",
        "valid: ü 日本 🐳 \u{9b}".as_bytes(),
        b"\xf0\x9f\x90 cut \xf0\x9f\x90\xb3 whole",
    ] {
        let mut child = Command::new(&exe).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
        std::io::Write::write_all(&mut child.stdin.take().unwrap(), input).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.stdout.iter().all(|&b| b >= 0x20),
            "raw control bytes in {:?}",
            String::from_utf8_lossy(&out.stdout)
        );
        let parsed: String = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {:?}", String::from_utf8_lossy(&out.stdout)));
        assert_eq!(parsed, per_byte_replacement(input), "{input:?}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

// ---- errors -------------------------------------------------------------

#[test]
fn an_engine_that_cannot_be_reached_exits_1_and_says_why() {
    for args in [
        &["--engine", "docker", "--endpoint", "unix:///nonexistent.sock"][..],
        &["--json", "--engine", "podman", "--endpoint", "unix:///nonexistent.sock"],
        &["--engine", "containerd", "--endpoint", "/nonexistent.sock"],
        &["--follow", "--timeout", "500", "--engine", "docker", "--endpoint", "unix:///nonexistent.sock"],
    ] {
        let r = whalewatch(args);
        assert_eq!(r.code, Some(1), "{args:?}: {}", r.stderr);
        assert!(r.stdout.is_empty(), "{args:?}: {}", r.stdout());
        assert!(
            r.stderr.starts_with("whalewatch: ")
                && r.stderr.contains("/nonexistent.sock")
                && r.stderr.contains("No such file or directory"),
            "{args:?}: {}",
            r.stderr
        );
        assert_eq!(r.stderr.lines().count(), 1, "{args:?}: {}", r.stderr);
    }
}

/// Runs whalewatch where no engine can be found: in PID and mount
/// namespaces of its own (no engine processes to see), with an empty /run
/// (no well-known sockets) and no engine variables in the environment.
fn whalewatch_alone(args: &[&str]) -> Ran {
    let out = Command::new("unshare")
        .args([
            "--pid",
            "--mount",
            "--fork",
            "--mount-proc",
            "sh",
            "-c",
            "mount -t tmpfs tmpfs /run && exec \"$0\" \"$@\"",
        ])
        .arg(bin())
        .args(args)
        .env_remove("LD_LIBRARY_PATH")
        .env_remove("DOCKER_HOST")
        .env_remove("CONTAINER_HOST")
        .env_remove("CONTAINERD_ADDRESS")
        .env_remove("CONTAINER_RUNTIME_ENDPOINT")
        .stdin(Stdio::null())
        .output()
        .expect("run unshare");
    Ran { code: out.status.code(), stdout: out.stdout, stderr: String::from_utf8_lossy(&out.stderr).into_owned() }
}

#[test]
fn no_engine_found_exits_1_and_says_so() {
    let r = whalewatch_alone(&[]);
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert!(r.stdout.is_empty());
    assert!(r.stderr.contains("no container engine found on this host"), "{}", r.stderr);
    let r = whalewatch_alone(&["engines"]);
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert!(r.stdout.is_empty());
    assert_eq!(r.stderr, "whalewatch: no container engine found on this host\n");
}

#[test]
fn bad_arguments_exit_2_with_the_usage_and_help_and_version_exit_0() {
    for args in [
        &["--bogus"][..],
        &["-x"],
        &["--engine"],
        &["--engine", "rkt"],
        &["--engine=lxc"],
        &["--timeout", "soon"],
        &["--timeout", "-1"],
        &["--timeout", "99999999999"],
        &["--endpoint", "unix:///var/run/docker.sock"],
        &["--engine", "auto", "--endpoint", "unix:///var/run/docker.sock"],
        &["--engine", "docker", "--endpoint", "ftp://example.com"],
        &["--engine", "containerd", "--endpoint", "relative.sock"],
        &["--follow=yes"],
        &["engines", "--follow"],
        &["containers"],
        &["engines", "engines"],
    ] {
        let r = whalewatch(args);
        assert_eq!(r.code, Some(2), "{args:?}: {}", r.stderr);
        assert!(r.stdout.is_empty(), "{args:?}: {}", r.stdout());
        let (message, usage) =
            r.stderr.split_once("\nusage: whalewatch ").unwrap_or_else(|| panic!("{args:?}: {}", r.stderr));
        assert!(message.starts_with("whalewatch: ") && !message.contains('\n'), "{args:?}: {}", r.stderr);
        assert!(usage.contains("engines"), "{args:?}: {}", r.stderr);
    }

    let out = ok(&["--help"]);
    assert!(out.starts_with("usage: whalewatch "), "{out}");
    for word in ["--follow", "--json", "--engine", "--endpoint", "--timeout", "engines", "Exit status"] {
        assert!(out.contains(word), "{word} not in:\n{out}");
    }
    let v = env!("CARGO_PKG_VERSION");
    let n = whalewatcher::ffi::WW_ABI_VERSION;
    assert_eq!(ok(&["--version"]), format!("whalewatch {v} (libwhalewatcher {v}, ABI {n})\n"));
}

#[test]
fn the_examples_makefile_builds_it_against_an_installed_library() {
    let prefix = installed("whalewatch");
    let dir = repo().join("c-examples/whalewatch");
    let make = |args: &[&str]| {
        let out = Command::new("make").arg("-C").arg(&dir).args(args).output().expect("make");
        assert!(out.status.success(), "make {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    make(&["clean"]);
    make(&[&format!("PREFIX={}", prefix.display())]);
    let out = Command::new(dir.join("whalewatch")).arg("--version").env_remove("LD_LIBRARY_PATH").output().unwrap();
    make(&["clean"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with(&format!("whalewatch {} ", env!("CARGO_PKG_VERSION"))));
}
