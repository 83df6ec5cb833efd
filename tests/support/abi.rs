//! A small safe wrapper over the C ABI, for tests that drive the library the
//! way a C program does.

use std::ffi::{c_char, CStr, CString};
use std::time::Duration;

use whalewatcher::ffi::*;

pub fn last_error() -> String {
    unsafe { CStr::from_ptr(ww_last_error_message()) }.to_string_lossy().into_owned()
}

fn s(p: *const c_char) -> String {
    assert!(!p.is_null(), "a string in a snapshot is NULL");
    unsafe { CStr::from_ptr(p) }.to_str().expect("UTF-8").to_string()
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ctr {
    pub id: String,
    pub name: String,
    pub project: String,
    pub pid: i32,
    pub paused: bool,
    pub labels: Vec<(String, String)>,
    pub engine: u32,
    pub image: String,
    pub image_id: String,
    pub started_at_ns: i64,
    pub privileged: bool,
    pub pod_name: String,
    pub pod_namespace: String,
    pub pod_uid: String,
    pub pod_sandbox: bool,
}

impl Ctr {
    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Engine {
    pub kind: ww_engine,
    pub engine_type: String,
    pub id: String,
    pub version: String,
    pub endpoint: String,
    pub pid: i32,
    pub state: ww_engine_state,
    pub synced_at_ns: i64,
    pub last_error: String,
    pub repairs: u64,
}

#[derive(Clone, Debug)]
pub struct Portfolio {
    pub generation: u64,
    pub containers: Vec<Ctr>,
    /// (engine, name, containers)
    pub projects: Vec<(u32, String, Vec<Ctr>)>,
    pub engines: Vec<Engine>,
}

impl Portfolio {
    pub fn get(&self, id: &str) -> Option<&Ctr> {
        self.containers.iter().find(|c| c.id == id)
    }
    /// Project `name` of the first engine.
    pub fn project(&self, name: &str) -> Option<&Vec<Ctr>> {
        self.projects.iter().find(|(e, n, _)| *e == 0 && n == name).map(|(_, _, cs)| cs)
    }
    /// The first (for single-engine watchers: the only) engine.
    pub fn engine(&self) -> &Engine {
        &self.engines[0]
    }
}

pub unsafe fn slice<'a, T>(p: *const T, len: usize) -> &'a [T] {
    if len == 0 {
        &[]
    } else {
        unsafe { std::slice::from_raw_parts(p, len) }
    }
}

pub fn ctr(c: &ww_container) -> Ctr {
    let labels = unsafe { slice(c.labels, c.labels_len) }.iter().map(|l| (s(l.key), s(l.value))).collect();
    Ctr {
        id: s(c.id),
        name: s(c.name),
        project: s(c.project),
        pid: c.pid,
        paused: c.paused,
        labels,
        engine: c.engine,
        image: s(c.image),
        image_id: s(c.image_id),
        started_at_ns: c.started_at_ns,
        privileged: c.privileged,
        pod_name: s(c.pod_name),
        pod_namespace: s(c.pod_namespace),
        pod_uid: s(c.pod_uid),
        pod_sandbox: c.pod_sandbox,
    }
}

fn engine(e: &ww_engine_info) -> Engine {
    Engine {
        kind: e.kind,
        engine_type: s(e.r#type),
        id: s(e.id),
        version: s(e.version),
        endpoint: s(e.endpoint),
        pid: e.pid,
        state: e.state,
        synced_at_ns: e.synced_at_ns,
        last_error: s(e.last_error),
        repairs: e.repairs,
    }
}

/// Copies a C snapshot into Rust values (and checks its invariants).
pub fn copy(p: &ww_portfolio) -> Portfolio {
    let containers: Vec<Ctr> = unsafe { slice(p.containers, p.containers_len) }.iter().map(ctr).collect();
    let engines: Vec<Engine> = unsafe { slice(p.engines, p.engines_len) }.iter().map(engine).collect();
    assert!(!engines.is_empty() || p.containers_len == 0, "containers belong to engines");
    let projects: Vec<(u32, String, Vec<Ctr>)> = unsafe { slice(p.projects, p.projects_len) }
        .iter()
        .map(|pr| (pr.engine, s(pr.name), unsafe { slice(pr.containers, pr.containers_len) }.iter().map(ctr).collect()))
        .collect();
    // Per engine, in engine order: "" first, then named projects by name.
    let mut at = 0;
    for e in 0..engines.len() as u32 {
        assert_eq!(
            projects.get(at).map(|(pe, n, _)| (*pe, n.as_str())),
            Some((e, "")),
            "engine {e} starts with its unnamed project"
        );
        let mut last = String::new();
        at += 1;
        while let Some((pe, n, _)) = projects.get(at).filter(|(pe, _, _)| *pe == e) {
            assert!(*n > last && *pe == e, "named projects sorted by name");
            last = n.clone();
            at += 1;
        }
    }
    assert_eq!(at, projects.len(), "projects belong to engines in order");
    assert_eq!(projects.iter().map(|(_, _, cs)| cs.len()).sum::<usize>(), containers.len());
    for (e, name, cs) in &projects {
        assert!(cs.iter().all(|c| &c.project == name && c.engine == *e));
    }
    let mut sorted = containers.clone();
    sorted.sort_by(|a, b| (a.engine, &a.project, &a.name, &a.id).cmp(&(b.engine, &b.project, &b.name, &b.id)));
    assert_eq!(sorted, containers, "containers sorted by (engine, project, name, id)");
    for c in &containers {
        assert!(c.pid > 0 && (c.engine as usize) < engines.len());
        // The lookups find every container (the first engine's, for shared IDs).
        let by_id = unsafe { ww_portfolio_find_id(p, CString::new(c.id.clone()).unwrap().as_ptr()) };
        assert!(!by_id.is_null(), "find_id {}", c.id);
        assert_eq!(s(unsafe { &*by_id }.id), c.id);
        let by_pid = unsafe { ww_portfolio_find_pid(p, c.pid) };
        assert!(!by_pid.is_null(), "find_pid {}", c.pid);
        assert_eq!(unsafe { &*by_pid }.pid, c.pid);
    }
    Portfolio { generation: p.generation, containers, projects, engines }
}

/// An owned watcher, closed on drop.
pub struct Handle(*mut ww_watcher);

unsafe impl Send for Handle {}
unsafe impl Sync for Handle {}

pub fn options() -> ww_options {
    let mut o = std::mem::MaybeUninit::<ww_options>::uninit();
    unsafe {
        ww_options_init(o.as_mut_ptr(), std::mem::size_of::<ww_options>());
        o.assume_init()
    }
}

impl Handle {
    pub fn new(opts: &ww_options, endpoint: Option<&str>) -> Result<Handle, (ww_status, String)> {
        let ep = endpoint.map(|e| CString::new(e).unwrap());
        let mut o = *opts;
        o.endpoint = ep.as_ref().map_or(std::ptr::null(), |c| c.as_ptr());
        let mut w = std::ptr::null_mut();
        match unsafe { ww_new(&o, &mut w) } {
            WW_STATUS_OK => Ok(Handle(w)),
            st => Err((st, last_error())),
        }
    }

    pub fn docker(endpoint: &str) -> Handle {
        let mut o = options();
        o.backoff_initial_ms = 100;
        o.backoff_max_ms = 500;
        Handle::new(&o, Some(endpoint)).expect("ww_new")
    }

    /// A podman watcher.
    pub fn podman(endpoint: &str) -> Handle {
        let mut o = options();
        o.engine = WW_ENGINE_PODMAN;
        o.backoff_initial_ms = 100;
        o.backoff_max_ms = 500;
        Handle::new(&o, Some(endpoint)).expect("ww_new")
    }

    /// A CRI watcher relisting every `poll_ms`, following the runtime's
    /// events too when `events`.
    pub fn cri(endpoint: &str, poll_ms: u32, events: bool) -> Handle {
        let mut o = options();
        o.engine = WW_ENGINE_CRI;
        o.backoff_initial_ms = 100;
        o.backoff_max_ms = 500;
        o.cri_poll_ms = poll_ms;
        o.cri_events = u32::from(events);
        Handle::new(&o, Some(endpoint)).expect("ww_new")
    }

    /// A containerd watcher; `ignored` replaces the ignored namespaces.
    pub fn containerd(endpoint: &str, ignored: Option<&str>) -> Handle {
        let mut o = options();
        o.engine = WW_ENGINE_CONTAINERD;
        o.backoff_initial_ms = 100;
        o.backoff_max_ms = 500;
        let ignored = ignored.map(|s| CString::new(s).unwrap());
        o.ignored_namespaces = ignored.as_ref().map_or(std::ptr::null(), |c| c.as_ptr());
        Handle::new(&o, Some(endpoint)).expect("ww_new")
    }

    pub fn raw(&self) -> *mut ww_watcher {
        self.0
    }

    /// `ww_wait` for a generation after `after`.
    pub fn wait_after(&self, after: u64, timeout: Duration) -> Result<(), (ww_status, String)> {
        match unsafe { ww_wait(self.0, after, timeout.as_millis() as i32) } {
            WW_STATUS_OK => Ok(()),
            st => Err((st, last_error())),
        }
    }

    pub fn ready(&self, timeout: Duration) -> Result<(), (ww_status, String)> {
        match unsafe { ww_ready(self.0, timeout.as_millis() as i32) } {
            WW_STATUS_OK => Ok(()),
            st => Err((st, last_error())),
        }
    }

    /// The raw snapshot; free it with `ww_snapshot_free`.
    pub fn raw_snapshot(&self) -> *const ww_portfolio {
        let mut p = std::ptr::null();
        assert_eq!(unsafe { ww_snapshot(self.0, &mut p) }, WW_STATUS_OK);
        p
    }

    pub fn snapshot(&self) -> Portfolio {
        let p = self.raw_snapshot();
        let copied = copy(unsafe { &*p });
        unsafe { ww_snapshot_free(p) };
        copied
    }

    pub fn wait(&self, within: Duration, mut f: impl FnMut(&Portfolio) -> bool) -> Portfolio {
        let end = std::time::Instant::now() + within;
        loop {
            let snap = self.snapshot();
            if f(&snap) {
                return snap;
            }
            if std::time::Instant::now() >= end {
                panic!("condition not met within {within:?}; last snapshot: {snap:#?}");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        unsafe { ww_close(self.0) };
    }
}

/// A snapshot held as the C API hands it out, freed on drop.
pub struct Snap(pub *const ww_portfolio);

unsafe impl Send for Snap {}

impl Snap {
    pub fn take(w: &Handle) -> Snap {
        Snap(w.raw_snapshot())
    }
    pub fn copy(&self) -> Portfolio {
        copy(unsafe { &*self.0 })
    }
    pub fn generation(&self) -> u64 {
        unsafe { &*self.0 }.generation
    }
}

impl Drop for Snap {
    fn drop(&mut self) {
        unsafe { ww_snapshot_free(self.0) };
    }
}

/// One change as `ww_diff` reports it, copied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Changed {
    pub kind: ww_change_kind,
    pub before: Option<Ctr>,
    pub after: Option<Ctr>,
}

impl Changed {
    /// The changed container's name (after, else before).
    pub fn name(&self) -> &str {
        &self.after.as_ref().or(self.before.as_ref()).expect("a side").name
    }
}

/// `ww_diff(from, to)`, copied; checks that the pointers point into the
/// snapshots compared.
pub fn diff(from: Option<&Snap>, to: &Snap) -> Vec<Changed> {
    let (mut out, mut len) = (std::ptr::null(), 0usize);
    let fp = from.map_or(std::ptr::null(), |f| f.0);
    assert_eq!(unsafe { ww_diff(fp, to.0, &mut out, &mut len) }, WW_STATUS_OK, "{}", last_error());
    let within = |p: *const ww_portfolio, c: *const ww_container| {
        let p = unsafe { &*p };
        let start = p.containers as usize;
        let end = start + p.containers_len * std::mem::size_of::<ww_container>();
        (start..end).contains(&(c as usize))
    };
    let changes = unsafe { slice(out, len) }
        .iter()
        .map(|c| {
            let before = (!c.before.is_null()).then(|| {
                assert!(within(fp, c.before), "before points into from");
                ctr(unsafe { &*c.before })
            });
            let after = (!c.after.is_null()).then(|| {
                assert!(within(to.0, c.after), "after points into to");
                ctr(unsafe { &*c.after })
            });
            Changed { kind: c.kind, before, after }
        })
        .collect();
    unsafe { ww_changes_free(out) };
    changes
}

/// One endpoint as `ww_discover` reports it, copied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Discovered {
    pub kind: ww_engine,
    pub endpoint: String,
    pub pid: i32,
    pub uid: u32,
    pub found_by: String,
}

/// `ww_discover`, copied.
pub fn discover() -> Vec<Discovered> {
    let (mut out, mut len) = (std::ptr::null(), 0usize);
    assert_eq!(unsafe { ww_discover(&mut out, &mut len) }, WW_STATUS_OK, "{}", last_error());
    let found = unsafe { slice(out, len) }
        .iter()
        .map(|e| Discovered { kind: e.kind, endpoint: s(e.endpoint), pid: e.pid, uid: e.uid, found_by: s(e.found_by) })
        .collect();
    unsafe { ww_endpoints_free(out) };
    found
}
