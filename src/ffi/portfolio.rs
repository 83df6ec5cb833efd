//! The C view of a snapshot: flat arrays of records pointing into one string
//! arena, built once per change of state and shared by reference count.

use std::ffi::c_char;
use std::sync::Arc;

use crate::core::{EngineKind, EngineState, Snapshot};

use super::options::{
    ww_engine, WW_ENGINE_AUTO, WW_ENGINE_CONTAINERD, WW_ENGINE_CRI, WW_ENGINE_DOCKER, WW_ENGINE_PODMAN,
};

/// Where a watcher stands with one engine (`ww_engine_info.state`).
pub type ww_engine_state = u32;
/// Not synchronised yet; the engine's containers are not shown yet.
pub const WW_ENGINE_STATE_CONNECTING: ww_engine_state = 0;
/// Following the engine's events: its containers are current.
pub const WW_ENGINE_STATE_SYNCED: ww_engine_state = 1;
/// Lost the engine: shows the last synchronised state while reconnecting.
pub const WW_ENGINE_STATE_RESYNCING: ww_engine_state = 2;
/// No retries left: shows the last synchronised state, which no longer changes.
pub const WW_ENGINE_STATE_GAVE_UP: ww_engine_state = 3;

/// One label of a container.
#[repr(C)]
pub struct ww_label {
    /// Never NULL.
    pub key: *const c_char,
    /// Never NULL, maybe "".
    pub value: *const c_char,
}

/// One alive container. All strings are NUL-terminated UTF-8 (an interior
/// NUL from the engine becomes U+FFFD), owned by the snapshot, never NULL.
#[repr(C)]
pub struct ww_container {
    /// The engine's full container ID; for containerd `NAMESPACE/ID`, or just
    /// `ID` in the namespace "default".
    pub id: *const c_char,
    /// The name: for Docker and podman without the leading '/'; for
    /// containerd the label `nerdctl/name` if set, else the ID, namespaced
    /// like the ID; for Kubernetes' containers (CRI, and containerd's
    /// `k8s.io`) the Kubernetes container name, and a pod sandbox's pod name.
    pub name: *const c_char,
    /// The compose project (label `com.docker.compose.project`), "" if none.
    pub project: *const c_char,
    /// All labels, sorted by key; NULL when `labels_len` is 0.
    pub labels: *const ww_label,
    pub labels_len: usize,
    /// The image reference as the engine names it (Docker: as given to
    /// `docker run`; containerd: the container's image name), "" if unknown.
    pub image: *const c_char,
    /// The content-addressed image ID or digest (Docker: the image ID
    /// "sha256:..."; containerd: the digest the image name resolved to when
    /// the watcher first saw it), "" if unknown.
    pub image_id: *const c_char,
    /// The Kubernetes pod's name (label `io.kubernetes.pod.name`), "" outside pods.
    pub pod_name: *const c_char,
    /// The Kubernetes pod's namespace, "" outside pods.
    pub pod_namespace: *const c_char,
    /// The Kubernetes pod's UID, "" outside pods.
    pub pod_uid: *const c_char,
    /// When its current initial process started (Unix ns), 0 if unknown.
    pub started_at_ns: i64,
    /// PID of the container's initial process (in the engine's PID namespace), > 0.
    pub pid: i32,
    /// Index into `ww_portfolio.engines` of the engine running it.
    pub engine: u32,
    /// True when the container is paused.
    pub paused: bool,
    /// True when it runs privileged (Docker: `HostConfig.Privileged`); false if unknown.
    pub privileged: bool,
    /// True for a pod's sandbox (Kubernetes) or infra (podman) container.
    pub pod_sandbox: bool,
}

/// A compose project of one engine and its containers.
#[repr(C)]
pub struct ww_project {
    /// "" is the unnamed project. Never NULL.
    pub name: *const c_char,
    /// A slice of `ww_portfolio.containers`; NULL when `containers_len` is 0.
    pub containers: *const ww_container,
    pub containers_len: usize,
    /// Index into `ww_portfolio.engines`: projects are per engine.
    pub engine: u32,
}

/// One engine of a watcher: its identity and where the watcher stands with
/// it. All strings are never NULL.
#[repr(C)]
pub struct ww_engine_info {
    /// "docker.com", "containerd.io", "podman.io" or "k8s.io/cri-api".
    pub r#type: *const c_char,
    /// The engine's ID, "" until first contact (containerd: the server UUID;
    /// CRI, which has none: the host's name).
    pub id: *const c_char,
    /// The engine's version, "" until first contact (containerd: version and
    /// revision; CRI: runtime name and version).
    pub version: *const c_char,
    /// The endpoint in use, e.g. "unix:///var/run/docker.sock".
    pub endpoint: *const c_char,
    /// The latest engine trouble, "" if none since the last synchronisation.
    pub last_error: *const c_char,
    /// Wall clock (Unix ns) of the last completed synchronisation, 0 if none.
    pub synced_at_ns: i64,
    /// How often the watcher found its picture of this engine differing
    /// from the engine's own and repaired it.
    pub repairs: u64,
    /// `WW_ENGINE_DOCKER`, `WW_ENGINE_CONTAINERD`, `WW_ENGINE_CRI`, `WW_ENGINE_PODMAN`.
    pub kind: ww_engine,
    /// The PID, in the caller's PID namespace, of the process that listens
    /// on the engine's unix socket (`SO_PEERCRED`): the engine itself unless
    /// the socket was handed to it (socket activation) or belongs to a
    /// proxy; 0 if unknown (TCP, or before first contact).
    pub pid: i32,
    /// `WW_ENGINE_STATE_CONNECTING`, `_SYNCED`, `_RESYNCING` or `_GAVE_UP`.
    pub state: ww_engine_state,
}

/// What `ww_snapshot` hands out: the alive containers of the watcher's
/// engines at one generation. Immutable; readable from any thread; valid
/// until `ww_snapshot_free`, also after `ww_close`.
#[repr(C)]
pub struct ww_portfolio {
    /// Grows with every published change: a container started, exited, was
    /// paused, resumed or changed, or an engine's state or last error
    /// changed. 0 is the state at `ww_new` (every engine connecting).
    pub generation: u64,
    /// All alive containers, sorted by (engine, project, name, id); NULL
    /// when `containers_len` is 0.
    pub containers: *const ww_container,
    pub containers_len: usize,
    /// Per engine, in engine order: its unnamed project "" (maybe empty),
    /// then its named projects with at least one container, by name. Each
    /// project's containers are a slice of `containers`. `projects_len` >=
    /// `engines_len` (NULL only when both are 0).
    pub projects: *const ww_project,
    pub projects_len: usize,
    /// The watcher's engines, in the order they were found (an engine keeps
    /// its index for the watcher's life); `engines_len` >= 1, except for a
    /// `WW_ENGINE_AUTO` watcher that has found no engine (then NULL).
    pub engines: *const ww_engine_info,
    pub engines_len: usize,
}

/// Owns everything a `ww_portfolio` points to. `public` comes first, so a
/// pointer to the owner is a pointer to the `ww_portfolio`. The arrays are
/// never touched after the pointers into them are taken: they are filled,
/// moved into the owner inside its final `Arc`, and only then pointed to.
#[repr(C)]
pub struct PortfolioOwner {
    public: ww_portfolio,
    /// [`LIVE`] while the owner lives, [`FREED`] once dropped: a freed or a
    /// foreign pointer handed back is told from a snapshot (where the
    /// memory still tells).
    tag: std::sync::atomic::AtomicU64,
    strings: Vec<u8>,
    labels: Vec<ww_label>,
    containers: Vec<ww_container>,
    projects: Vec<ww_project>,
    engines: Vec<ww_engine_info>,
    /// Where each container's ID sits in `strings` (start, length).
    id_spans: Vec<(usize, usize)>,
    /// Container indices sorted by ID, then by engine.
    by_id: Vec<u32>,
    /// Container indices sorted by PID, then by engine.
    by_pid: Vec<u32>,
    snapshot: Snapshot,
}

const LIVE: u64 = 0x7777_736e_6170_7368; // "wwsnapsh"
const FREED: u64 = 0x6672_6565_6421_2121;

impl Drop for PortfolioOwner {
    fn drop(&mut self) {
        self.tag.store(FREED, std::sync::atomic::Ordering::Relaxed);
    }
}

/// What a pointer handed back as a snapshot is.
#[derive(Debug, PartialEq, Eq)]
pub enum Tagged {
    Live,
    Freed,
    Foreign,
}

// SAFETY: the owner is immutable after construction, and its raw pointers
// point only into the vectors it owns, which never move or change.
unsafe impl Send for PortfolioOwner {}
// SAFETY: see Send; shared access is read-only.
unsafe impl Sync for PortfolioOwner {}

impl PortfolioOwner {
    /// The C view, valid as long as the owner lives.
    pub fn portfolio(&self) -> &ww_portfolio {
        &self.public
    }

    /// The snapshot this view was rendered from.
    pub fn snapshot(&self) -> &Snapshot {
        &self.snapshot
    }

    /// The container at flat index `i` of the C view.
    pub fn container(&self, i: usize) -> &ww_container {
        &self.containers[i]
    }

    /// The container with ID `id` (the first engine's, if several have it).
    pub fn find_id(&self, id: &[u8]) -> Option<&ww_container> {
        let first = self.by_id.partition_point(|&i| self.id_bytes(i) < id);
        let &i = self.by_id.get(first)?;
        (self.id_bytes(i) == id).then(|| &self.containers[i as usize])
    }

    /// The container whose initial process is `pid` (the first engine's, if
    /// several have it).
    pub fn find_pid(&self, pid: i32) -> Option<&ww_container> {
        let first = self.by_pid.partition_point(|&i| self.containers[i as usize].pid < pid);
        let &i = self.by_pid.get(first)?;
        (self.containers[i as usize].pid == pid).then(|| &self.containers[i as usize])
    }

    fn id_bytes(&self, i: u32) -> &[u8] {
        let (start, len) = self.id_spans[i as usize];
        &self.strings[start..start + len]
    }
}

/// Collects NUL-terminated strings and hands out their offsets.
#[derive(Default)]
struct Arena {
    bytes: Vec<u8>,
}

impl Arena {
    /// Adds `s` (an interior NUL becomes U+FFFD) and returns its offset.
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

pub(crate) fn engine_kind(k: EngineKind) -> ww_engine {
    match k {
        EngineKind::Docker => WW_ENGINE_DOCKER,
        EngineKind::Containerd => WW_ENGINE_CONTAINERD,
        EngineKind::Podman => WW_ENGINE_PODMAN,
        EngineKind::Cri => WW_ENGINE_CRI,
        EngineKind::Auto => WW_ENGINE_AUTO,
    }
}

fn engine_state(s: EngineState) -> ww_engine_state {
    match s {
        EngineState::Connecting => WW_ENGINE_STATE_CONNECTING,
        EngineState::Synced => WW_ENGINE_STATE_SYNCED,
        EngineState::Resyncing => WW_ENGINE_STATE_RESYNCING,
        EngineState::GaveUp => WW_ENGINE_STATE_GAVE_UP,
    }
}

/// String offsets of one container, until the arena is final.
struct ContainerStrings {
    id: usize,
    name: usize,
    project: usize,
    image: usize,
    image_id: usize,
    pod_name: usize,
    pod_namespace: usize,
    pod_uid: usize,
    first_label: usize,
}

/// String offsets of one engine.
struct EngineStrings {
    r#type: usize,
    id: usize,
    version: usize,
    endpoint: usize,
    last_error: usize,
}

const NO_STR: *const c_char = std::ptr::null();

/// Builds the C view of `snap`.
pub fn render(snap: &Snapshot) -> Arc<PortfolioOwner> {
    // 1. Every string into the arena, remembering offsets.
    let mut arena = Arena::default();
    let engine_strs: Vec<EngineStrings> = snap
        .engines
        .iter()
        .map(|e| EngineStrings {
            r#type: arena.add(&e.info.engine_type),
            id: arena.add(&e.info.id),
            version: arena.add(&e.info.version),
            endpoint: arena.add(&e.info.endpoint),
            last_error: arena.add(&e.status.last_error),
        })
        .collect();
    let mut label_offs: Vec<(usize, usize)> = Vec::with_capacity(snap.containers().map(|(_, c)| c.labels.len()).sum());
    let mut container_strs = Vec::with_capacity(snap.len());
    let mut id_spans = Vec::with_capacity(snap.len());
    for (_, c) in snap.containers() {
        let first_label = label_offs.len();
        for (k, v) in &c.labels {
            label_offs.push((arena.add(k), arena.add(v)));
        }
        let id = arena.add(&c.id);
        id_spans.push((id, arena.bytes.len() - 1 - id));
        container_strs.push(ContainerStrings {
            id,
            name: arena.add(&c.name),
            project: arena.add(&c.project),
            image: arena.add(&c.image),
            image_id: arena.add(&c.image_id),
            pod_name: arena.add(&c.pod.name),
            pod_namespace: arena.add(&c.pod.namespace),
            pod_uid: arena.add(&c.pod.uid),
            first_label,
        });
    }
    let mut project_strs = Vec::new();
    for (ei, e) in snap.engines.iter().enumerate() {
        for p in &e.set.projects {
            project_strs.push((ei, arena.add(&p.name)));
        }
    }

    // 2. The lookup indices (stable sorts keep engine order among equals).
    let mut by_id: Vec<u32> = (0..id_spans.len() as u32).collect();
    let strings = arena.bytes;
    by_id.sort_by(|&a, &b| {
        let span = |i: u32| {
            let (s, l) = id_spans[i as usize];
            &strings[s..s + l]
        };
        span(a).cmp(span(b))
    });
    let pids: Vec<i32> = snap.containers().map(|(_, c)| c.pid).collect();
    let mut by_pid: Vec<u32> = (0..pids.len() as u32).collect();
    by_pid.sort_by_key(|&i| pids[i as usize]);

    // 3. The arrays, with every pointer still NULL, in their final owner.
    let null_label = || ww_label { key: NO_STR, value: NO_STR };
    let mut owner = Arc::new(PortfolioOwner {
        public: ww_portfolio {
            generation: snap.generation,
            containers: std::ptr::null(),
            containers_len: snap.len(),
            projects: std::ptr::null(),
            projects_len: project_strs.len(),
            engines: std::ptr::null(),
            engines_len: snap.engines.len(),
        },
        tag: std::sync::atomic::AtomicU64::new(LIVE),
        strings,
        labels: label_offs.iter().map(|_| null_label()).collect(),
        containers: snap
            .containers()
            .map(|(engine, c)| ww_container {
                id: NO_STR,
                name: NO_STR,
                project: NO_STR,
                labels: std::ptr::null(),
                labels_len: c.labels.len(),
                image: NO_STR,
                image_id: NO_STR,
                pod_name: NO_STR,
                pod_namespace: NO_STR,
                pod_uid: NO_STR,
                started_at_ns: c.started_at_ns,
                pid: c.pid,
                engine: engine as u32,
                paused: c.paused,
                privileged: c.privileged,
                pod_sandbox: c.pod.sandbox,
            })
            .collect(),
        projects: Vec::with_capacity(project_strs.len()),
        engines: snap
            .engines
            .iter()
            .map(|e| ww_engine_info {
                r#type: NO_STR,
                id: NO_STR,
                version: NO_STR,
                endpoint: NO_STR,
                last_error: NO_STR,
                synced_at_ns: e.status.synced_at_ns,
                repairs: e.status.repairs,
                kind: engine_kind(e.info.kind),
                pid: e.info.pid,
                state: engine_state(e.status.state),
            })
            .collect(),
        id_spans,
        by_id,
        by_pid,
        snapshot: snap.clone(),
    });

    // 4. The pointers, each taken from its array in the owner once that
    // array is final.
    let o = Arc::get_mut(&mut owner).expect("a new Arc is unique");
    let base = o.strings.as_ptr();
    // SAFETY (for every `at`): offsets come from the arena built above, so
    // they are in bounds of `strings`, which is never changed again.
    let at = |off: usize| -> *const c_char { unsafe { base.add(off) }.cast() };
    for (l, &(k, v)) in o.labels.iter_mut().zip(&label_offs) {
        *l = ww_label { key: at(k), value: at(v) };
    }
    let labels = o.labels.as_ptr();
    for (c, s) in o.containers.iter_mut().zip(&container_strs) {
        c.id = at(s.id);
        c.name = at(s.name);
        c.project = at(s.project);
        c.image = at(s.image);
        c.image_id = at(s.image_id);
        c.pod_name = at(s.pod_name);
        c.pod_namespace = at(s.pod_namespace);
        c.pod_uid = at(s.pod_uid);
        if c.labels_len > 0 {
            // SAFETY: first_label + labels_len <= labels.len() by construction.
            c.labels = unsafe { labels.add(s.first_label) };
        }
    }
    for (e, s) in o.engines.iter_mut().zip(&engine_strs) {
        e.r#type = at(s.r#type);
        e.id = at(s.id);
        e.version = at(s.version);
        e.endpoint = at(s.endpoint);
        e.last_error = at(s.last_error);
    }
    let containers = o.containers.as_ptr();
    let offsets = snap.engine_offsets();
    let mut names = project_strs.iter();
    for (ei, e) in snap.engines.iter().enumerate() {
        for p in &e.set.projects {
            let &(_, name) = names.next().expect("one name per project");
            let len = p.range.len();
            o.projects.push(ww_project {
                name: at(name),
                // SAFETY: the project's range lies within its engine's containers.
                containers: if len == 0 {
                    std::ptr::null()
                } else {
                    unsafe { containers.add(offsets[ei] + p.range.start) }
                },
                containers_len: len,
                engine: ei as u32,
            });
        }
    }
    if o.public.containers_len > 0 {
        o.public.containers = containers;
    }
    if !o.projects.is_empty() {
        o.public.projects = o.projects.as_ptr();
    }
    if !o.engines.is_empty() {
        o.public.engines = o.engines.as_ptr();
    }
    owner
}

/// Shares the owner with C: one reference count goes with the pointer.
pub fn into_raw(owner: Arc<PortfolioOwner>) -> *const ww_portfolio {
    Arc::into_raw(owner).cast()
}

/// What `p` points to, by the owner's tag: a live snapshot, a freed one, or
/// something else.
///
/// # Safety
/// `p` came from [`into_raw`] (then the answer is exact while it lives), or
/// is a misused pointer the caller handed in: then reading the tag is what
/// detects the misuse where the memory still tells.
pub unsafe fn tagged(p: *const ww_portfolio) -> Tagged {
    // SAFETY: see the function's contract; the tag follows the public struct.
    let tag = unsafe { (*p.cast::<PortfolioOwner>()).tag.load(std::sync::atomic::Ordering::Relaxed) };
    match tag {
        LIVE => Tagged::Live,
        FREED => Tagged::Freed,
        _ => Tagged::Foreign,
    }
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

/// The owner of a portfolio handed out by [`into_raw`], borrowed.
///
/// # Safety
/// `p` came from [`into_raw`] and is not released while the result is used.
pub unsafe fn owner<'a>(p: *const ww_portfolio) -> &'a PortfolioOwner {
    // SAFETY: see from_raw; the caller keeps the reference alive.
    unsafe { &*p.cast::<PortfolioOwner>() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::model::{EngineInfo, EngineStatus};
    use crate::core::snapshot::{ContainerSet, EngineSnapshot};
    use crate::core::Container;
    use std::collections::HashMap;
    use std::ffi::CStr;

    fn cstr<'a>(p: *const c_char) -> &'a str {
        assert!(!p.is_null());
        unsafe { CStr::from_ptr(p) }.to_str().unwrap()
    }

    fn mk(id: &str, name: &str, pid: i32, project: Option<&str>, labels: &[(&str, &str)]) -> Arc<Container> {
        let mut l: HashMap<String, String> = labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        if let Some(p) = project {
            l.insert("com.docker.compose.project".into(), p.into());
        }
        let mut c = Container::new(id.into(), name.into(), pid, false, l);
        c.image = format!("img-{id}");
        c.started_at_ns = 1_000 + i64::from(pid);
        Arc::new(c)
    }

    fn engine(endpoint: &str, state: EngineState, cs: &[Arc<Container>]) -> Arc<EngineSnapshot> {
        let mut info = EngineInfo::new(EngineKind::Containerd, "containerd.io", endpoint.into());
        info.pid = 9;
        let status = EngineStatus { state, synced_at_ns: 5, last_error: "trouble".into(), repairs: 2 };
        Arc::new(EngineSnapshot { info: Arc::new(info), status, set: Arc::new(ContainerSet::build(cs.iter())) })
    }

    fn two_engines() -> Snapshot {
        let a = engine(
            "unix:///a",
            EngineState::Synced,
            &[
                mk("3", "web", 30, Some("shop"), &[("z", "1"), ("a", "x\0y")]),
                mk("1", "solo", 10, None, &[]),
                mk("2", "db", 20, Some("shop"), &[]),
            ],
        );
        let b = engine("unix:///b", EngineState::Resyncing, &[mk("1", "other", 11, Some("p"), &[])]);
        Snapshot { generation: 3, engines: vec![a, b] }
    }

    #[test]
    fn renders_engines_projects_containers_and_labels() {
        let owner = render(&two_engines());
        let p = owner.portfolio();
        assert_eq!((p.generation, p.containers_len, p.projects_len, p.engines_len), (3, 4, 4, 2));
        let engines = unsafe { std::slice::from_raw_parts(p.engines, p.engines_len) };
        assert_eq!(
            (cstr(engines[0].r#type), cstr(engines[0].endpoint), cstr(engines[0].id)),
            ("containerd.io", "unix:///a", "")
        );
        assert_eq!(
            (engines[0].kind, engines[0].pid, engines[0].state),
            (WW_ENGINE_CONTAINERD, 9, WW_ENGINE_STATE_SYNCED)
        );
        assert_eq!((engines[1].state, engines[1].synced_at_ns, engines[1].repairs), (WW_ENGINE_STATE_RESYNCING, 5, 2));
        assert_eq!(cstr(engines[1].last_error), "trouble");
        let containers = unsafe { std::slice::from_raw_parts(p.containers, p.containers_len) };
        let names: Vec<(u32, &str)> = containers.iter().map(|c| (c.engine, cstr(c.name))).collect();
        assert_eq!(names, [(0, "solo"), (0, "db"), (0, "web"), (1, "other")]);
        assert!(containers[0].labels.is_null());
        assert_eq!(
            (cstr(containers[0].image), cstr(containers[0].image_id), containers[0].started_at_ns),
            ("img-1", "", 1010)
        );
        assert_eq!(cstr(containers[0].pod_name), "");
        let web = &containers[2];
        let labels = unsafe { std::slice::from_raw_parts(web.labels, web.labels_len) };
        let kv: Vec<(&str, &str)> = labels.iter().map(|l| (cstr(l.key), cstr(l.value))).collect();
        assert_eq!(kv, [("a", "x\u{FFFD}y"), ("com.docker.compose.project", "shop"), ("z", "1")]);
        let projects = unsafe { std::slice::from_raw_parts(p.projects, p.projects_len) };
        let ps: Vec<(u32, &str, usize)> = projects.iter().map(|p| (p.engine, cstr(p.name), p.containers_len)).collect();
        assert_eq!(ps, [(0, "", 1), (0, "shop", 2), (1, "", 0), (1, "p", 1)]);
        assert_eq!(projects[1].containers, unsafe { p.containers.add(1) });
        assert!(projects[2].containers.is_null());
        assert_eq!(projects[3].containers, unsafe { p.containers.add(3) });
    }

    #[test]
    fn lookups_find_by_id_and_pid_first_engine_first() {
        let owner = render(&two_engines());
        let p = owner.portfolio();
        let base = p.containers;
        let at = |c: Option<&ww_container>| c.map(|c| unsafe { (c as *const ww_container).offset_from(base) });
        assert_eq!(at(owner.find_id(b"1")), Some(0), "engine 0's container 1");
        assert_eq!(at(owner.find_id(b"3")), Some(2));
        assert_eq!(at(owner.find_id(b"4")), None);
        assert_eq!(at(owner.find_id(b"")), None);
        assert_eq!(at(owner.find_pid(11)), Some(3));
        assert_eq!(at(owner.find_pid(20)), Some(1));
        assert_eq!(at(owner.find_pid(0)), None);
        assert_eq!(at(owner.find_pid(i32::MAX)), None);
    }

    #[test]
    fn empty_snapshot_has_each_engines_unnamed_project() {
        let snap = Snapshot {
            generation: 0,
            engines: vec![Arc::new(EngineSnapshot::connecting(Arc::new(EngineInfo::new(
                EngineKind::Docker,
                "docker.com",
                "unix:///x".into(),
            ))))],
        };
        let owner = render(&snap);
        let p = owner.portfolio();
        assert_eq!((p.generation, p.containers_len, p.projects_len, p.engines_len), (0, 0, 1, 1));
        assert!(p.containers.is_null());
        let unnamed = unsafe { &*p.projects };
        assert_eq!((cstr(unnamed.name), unnamed.containers_len, unnamed.engine), ("", 0, 0));
        assert!(unnamed.containers.is_null());
        let e = unsafe { &*p.engines };
        assert_eq!(
            (e.state, e.kind, cstr(e.last_error), cstr(e.version)),
            (WW_ENGINE_STATE_CONNECTING, WW_ENGINE_DOCKER, "", "")
        );
    }
}
