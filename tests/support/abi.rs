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
}

#[derive(Clone, Debug)]
pub struct Portfolio {
    pub generation: u64,
    pub containers: Vec<Ctr>,
    pub projects: Vec<(String, Vec<Ctr>)>,
    pub engine_type: String,
    pub engine_id: String,
    pub engine_version: String,
    pub engine_endpoint: String,
    pub engine_pid: i32,
}

impl Portfolio {
    pub fn get(&self, id: &str) -> Option<&Ctr> {
        self.containers.iter().find(|c| c.id == id)
    }
    pub fn project(&self, name: &str) -> Option<&Vec<Ctr>> {
        self.projects.iter().find(|(n, _)| n == name).map(|(_, cs)| cs)
    }
}

unsafe fn slice<'a, T>(p: *const T, len: usize) -> &'a [T] {
    if len == 0 {
        &[]
    } else {
        unsafe { std::slice::from_raw_parts(p, len) }
    }
}

fn ctr(c: &ww_container) -> Ctr {
    let labels = unsafe { slice(c.labels, c.labels_len) }.iter().map(|l| (s(l.key), s(l.value))).collect();
    Ctr { id: s(c.id), name: s(c.name), project: s(c.project), pid: c.pid, paused: c.paused, labels }
}

/// Copies a C snapshot into Rust values (and checks its invariants).
pub fn copy(p: &ww_portfolio) -> Portfolio {
    let containers: Vec<Ctr> = unsafe { slice(p.containers, p.containers_len) }.iter().map(ctr).collect();
    let projects: Vec<(String, Vec<Ctr>)> = unsafe { slice(p.projects, p.projects_len) }
        .iter()
        .map(|pr| (s(pr.name), unsafe { slice(pr.containers, pr.containers_len) }.iter().map(ctr).collect()))
        .collect();
    assert!(!projects.is_empty() && projects[0].0.is_empty(), "projects[0] is the unnamed project");
    assert_eq!(projects.iter().map(|(_, cs)| cs.len()).sum::<usize>(), containers.len());
    for (name, cs) in &projects {
        assert!(cs.iter().all(|c| &c.project == name));
    }
    let mut sorted = containers.clone();
    sorted.sort_by(|a, b| (&a.project, &a.name, &a.id).cmp(&(&b.project, &b.name, &b.id)));
    assert_eq!(sorted, containers, "containers sorted by (project, name, id)");
    Portfolio {
        generation: p.generation,
        containers,
        projects,
        engine_type: s(p.engine_type),
        engine_id: s(p.engine_id),
        engine_version: s(p.engine_version),
        engine_endpoint: s(p.engine_endpoint),
        engine_pid: p.engine_pid,
    }
}

/// An owned watcher, closed on drop.
pub struct Handle(*mut ww_watcher);

unsafe impl Send for Handle {}
unsafe impl Sync for Handle {}

pub fn options() -> ww_options {
    let mut o = std::mem::MaybeUninit::<ww_options>::uninit();
    unsafe {
        ww_options_init(o.as_mut_ptr());
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
