//! The C view of a snapshot: flat arrays of records pointing into one string
//! arena, built once per change of state and shared by reference count.

use std::ffi::c_char;
use std::ptr;
use std::sync::Arc;

use crate::core::Snapshot;

/// One label of a container.
#[repr(C)]
pub struct ww_label {
    /// Never NULL.
    pub key: *const c_char,
    /// Never NULL, maybe "".
    pub value: *const c_char,
}

/// One alive container. All strings are NUL-terminated UTF-8 (an interior
/// NUL from the engine becomes U+FFFD), owned by the snapshot.
#[repr(C)]
pub struct ww_container {
    /// The engine's full container ID; for containerd `NAMESPACE/ID`, or just
    /// `ID` in the namespace "default". Never NULL.
    pub id: *const c_char,
    /// The name; for Docker without the leading '/'; for containerd the label
    /// `nerdctl/name` if set, else the ID, namespaced like the ID. Never NULL.
    pub name: *const c_char,
    /// The compose project (label `com.docker.compose.project`), "" if none. Never NULL.
    pub project: *const c_char,
    /// PID of the container's initial process (in the engine's PID namespace), > 0.
    pub pid: i32,
    /// True when the container is paused.
    pub paused: bool,
    /// All labels, sorted by key; NULL when `labels_len` is 0.
    pub labels: *const ww_label,
    pub labels_len: usize,
}

/// A compose project and its containers.
#[repr(C)]
pub struct ww_project {
    /// "" is the unnamed project. Never NULL.
    pub name: *const c_char,
    /// A slice of `ww_portfolio.containers`; NULL when `containers_len` is 0.
    pub containers: *const ww_container,
    pub containers_len: usize,
}

/// What `ww_snapshot` hands out: the alive containers at one generation.
/// Immutable; readable from any thread; valid until `ww_snapshot_free`, also
/// after `ww_close`.
#[repr(C)]
pub struct ww_portfolio {
    /// 0 before the first successful synchronisation, >= 1 after; grows on
    /// every change of the tracked state.
    pub generation: u64,
    /// All alive containers, sorted by (project, name, id); NULL when
    /// `containers_len` is 0.
    pub containers: *const ww_container,
    pub containers_len: usize,
    /// `[0]` is always the unnamed "" project (maybe empty); then every named
    /// project with at least one container, sorted by name. Never NULL,
    /// `projects_len` >= 1.
    pub projects: *const ww_project,
    pub projects_len: usize,
    /// "docker.com" or "containerd.io". Never NULL.
    pub engine_type: *const c_char,
    /// The engine's ID, "" until first contact. Never NULL.
    pub engine_id: *const c_char,
    /// The engine's version, "" until first contact. Never NULL.
    pub engine_version: *const c_char,
    /// The endpoint in use, e.g. "unix:///var/run/docker.sock". Never NULL.
    pub engine_endpoint: *const c_char,
    /// The daemon's PID (SO_PEERCRED on a unix socket), 0 if unknown.
    pub engine_pid: i32,
}

/// Owns everything a `ww_portfolio` points to. `public` comes first, so a
/// pointer to the owner is a pointer to the `ww_portfolio`.
#[repr(C)]
pub struct PortfolioOwner {
    public: ww_portfolio,
    _strings: Box<[u8]>,
    _labels: Box<[ww_label]>,
    _containers: Box<[ww_container]>,
    _projects: Box<[ww_project]>,
}

// SAFETY: the owner is immutable after construction, and its raw pointers
// point only into the boxed slices it owns, which never move or change.
unsafe impl Send for PortfolioOwner {}
// SAFETY: see Send; shared access is read-only.
unsafe impl Sync for PortfolioOwner {}

impl PortfolioOwner {
    /// The C view, valid as long as the owner lives.
    pub fn portfolio(&self) -> &ww_portfolio {
        &self.public
    }
}

/// Collects NUL-terminated strings and hands out their offsets.
#[derive(Default)]
struct Arena {
    bytes: Vec<u8>,
}

impl Arena {
    fn add(&mut self, s: &str) -> usize {
        let at = self.bytes.len();
        if s.as_bytes().contains(&0) {
            self.bytes.extend_from_slice(s.replace('\0', "\u{FFFD}").as_bytes());
        } else {
            self.bytes.extend_from_slice(s.as_bytes());
        }
        self.bytes.push(0);
        at
    }
}

fn slice_ptr<T>(items: &[T], start: usize, len: usize) -> *const T {
    if len == 0 {
        ptr::null()
    } else {
        items[start..start + len].as_ptr()
    }
}

/// Builds the C view of `snap`.
pub fn render(snap: &Snapshot) -> PortfolioOwner {
    let mut arena = Arena::default();
    let engine = &snap.engine;
    let engine_strs = [
        arena.add(&engine.engine_type),
        arena.add(&engine.id),
        arena.add(&engine.version),
        arena.add(&engine.endpoint),
    ];
    let label_count = snap.containers.iter().map(|c| c.labels.len()).sum();
    let mut label_offs: Vec<(usize, usize)> = Vec::with_capacity(label_count);
    let mut container_offs = Vec::with_capacity(snap.containers.len());
    for c in &snap.containers {
        let first_label = label_offs.len();
        for (k, v) in &c.labels {
            label_offs.push((arena.add(k), arena.add(v)));
        }
        container_offs.push((arena.add(&c.id), arena.add(&c.name), arena.add(&c.project), first_label));
    }
    let project_offs: Vec<usize> = snap.projects.iter().map(|p| arena.add(&p.name)).collect();

    // From here on the arena and the arrays are final: pointers into them stay valid.
    let strings = arena.bytes.into_boxed_slice();
    let s = |off: usize| -> *const c_char { strings[off..].as_ptr().cast() };
    let labels: Box<[ww_label]> = label_offs.iter().map(|&(k, v)| ww_label { key: s(k), value: s(v) }).collect();
    let containers: Box<[ww_container]> = snap
        .containers
        .iter()
        .zip(&container_offs)
        .map(|(c, &(id, name, project, first_label))| ww_container {
            id: s(id),
            name: s(name),
            project: s(project),
            pid: c.pid,
            paused: c.paused,
            labels: slice_ptr(&labels, first_label, c.labels.len()),
            labels_len: c.labels.len(),
        })
        .collect();
    let projects: Box<[ww_project]> = snap
        .projects
        .iter()
        .zip(&project_offs)
        .map(|(p, &name)| ww_project {
            name: s(name),
            containers: slice_ptr(&containers, p.range.start, p.range.len()),
            containers_len: p.range.len(),
        })
        .collect();
    let public = ww_portfolio {
        generation: snap.generation,
        containers: slice_ptr(&containers, 0, containers.len()),
        containers_len: containers.len(),
        projects: projects.as_ptr(),
        projects_len: projects.len(),
        engine_type: s(engine_strs[0]),
        engine_id: s(engine_strs[1]),
        engine_version: s(engine_strs[2]),
        engine_endpoint: s(engine_strs[3]),
        engine_pid: engine.pid,
    };
    PortfolioOwner { public, _strings: strings, _labels: labels, _containers: containers, _projects: projects }
}

/// Shares the owner with C: one reference count goes with the pointer.
pub fn into_raw(owner: Arc<PortfolioOwner>) -> *const ww_portfolio {
    Arc::into_raw(owner).cast()
}

/// Takes back a reference handed out by [`into_raw`].
///
/// # Safety
/// `p` came from [`into_raw`] and is released only once.
pub unsafe fn from_raw(p: *const ww_portfolio) -> Arc<PortfolioOwner> {
    // SAFETY: `public` is the first field of the repr(C) owner, so the
    // pointers are the same; the caller guarantees a single release.
    unsafe { Arc::from_raw(p.cast::<PortfolioOwner>()) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::{Container, EngineInfo};
    use std::collections::HashMap;
    use std::ffi::CStr;

    fn cstr<'a>(p: *const c_char) -> &'a str {
        unsafe { CStr::from_ptr(p) }.to_str().unwrap()
    }

    #[test]
    fn renders_sorted_projects_with_labels() {
        let mk = |id: &str, name: &str, project: Option<&str>, labels: &[(&str, &str)]| {
            let mut l: HashMap<String, String> = labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
            if let Some(p) = project {
                l.insert("com.docker.compose.project".into(), p.into());
            }
            Arc::new(Container::new(id.into(), name.into(), 7, false, l))
        };
        let cs = [
            mk("3", "web", Some("shop"), &[("z", "1"), ("a", "x\0y")]),
            mk("1", "solo", None, &[]),
            mk("2", "db", Some("shop"), &[]),
        ];
        let info = Arc::new(EngineInfo { engine_type: "docker.com".into(), endpoint: "unix:///x".into(), pid: 9, ..Default::default() });
        let snap = Snapshot::build(3, cs.iter(), info);
        let owner = render(&snap);
        let p = owner.portfolio();
        assert_eq!((p.generation, p.containers_len, p.projects_len, p.engine_pid), (3, 3, 2, 9));
        assert_eq!((cstr(p.engine_type), cstr(p.engine_id), cstr(p.engine_endpoint)), ("docker.com", "", "unix:///x"));
        let containers = unsafe { std::slice::from_raw_parts(p.containers, p.containers_len) };
        let names: Vec<&str> = containers.iter().map(|c| cstr(c.name)).collect();
        assert_eq!(names, ["solo", "db", "web"]);
        assert!(containers[0].labels.is_null());
        let web = &containers[2];
        let labels = unsafe { std::slice::from_raw_parts(web.labels, web.labels_len) };
        let kv: Vec<(&str, &str)> = labels.iter().map(|l| (cstr(l.key), cstr(l.value))).collect();
        assert_eq!(kv, [("a", "x\u{FFFD}y"), ("com.docker.compose.project", "shop"), ("z", "1")]);
        let projects = unsafe { std::slice::from_raw_parts(p.projects, p.projects_len) };
        assert_eq!((cstr(projects[0].name), projects[0].containers_len), ("", 1));
        assert_eq!((cstr(projects[1].name), projects[1].containers_len), ("shop", 2));
        assert_eq!(projects[1].containers, unsafe { p.containers.add(1) });
    }

    #[test]
    fn empty_snapshot_has_the_unnamed_project() {
        let owner = render(&Snapshot::empty(Arc::new(EngineInfo::default())));
        let p = owner.portfolio();
        assert_eq!((p.generation, p.containers_len, p.projects_len), (0, 0, 1));
        assert!(p.containers.is_null());
        let unnamed = unsafe { &*p.projects };
        assert_eq!((cstr(unnamed.name), unnamed.containers_len), ("", 0));
        assert!(unnamed.containers.is_null());
    }
}
