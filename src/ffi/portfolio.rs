//! The C view of a snapshot: flat arrays of records pointing into one string
//! arena, built once per generation a caller asks for and shared by
//! reference count.

use std::ffi::c_char;
use std::sync::Arc;

use crate::core::chunks::{walk, Step};
use crate::core::model::Field;
use crate::core::{Container, EngineKind, EngineState, Snapshot};

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
#[derive(Clone, Copy)]
pub struct ww_label {
    /// Never NULL.
    pub key: *const c_char,
    /// Never NULL, maybe "".
    pub value: *const c_char,
}

/// One alive container. All strings are NUL-terminated UTF-8 (an interior
/// NUL from the engine becomes U+FFFD), owned by the snapshot, never NULL.
#[repr(C)]
#[derive(Clone, Copy)]
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
#[derive(Clone, Copy)]
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

/// Owns everything a `ww_portfolio` points to (handed to C through
/// [`super::handout`]).
///
/// A container's strings are not copied: its record points into the
/// container's own strings (each ends with a NUL: its buffer, and the list
/// of label keys it shares with the records that have the same keys), and
/// its labels into a label array made once per container (see
/// [`Container::view`]); the snapshot kept here keeps them alive. A new
/// generation copies the records of the containers it shares with the view
/// it is made from and keeps the lookup indices in order instead of sorting
/// them again (or shares them, when every container kept its place), so a
/// change costs what changed plus a copy of the records.
///
/// The arrays are never touched after the pointers into them are taken:
/// they are filled, moved into the owner inside its final `Arc`, and only
/// then pointed to.
pub struct PortfolioOwner {
    public: ww_portfolio,
    /// The engines' strings.
    strings: Vec<u8>,
    containers: Vec<ww_container>,
    projects: Vec<ww_project>,
    engines: Vec<ww_engine_info>,
    /// Container positions ordered by (ID fingerprint, ID, position).
    /// Shared with the view before when every container kept its place.
    by_id: Arc<[IdEntry]>,
    /// Where each range of fingerprints starts in `by_id`: entry `k` is the
    /// first whose fingerprint's top `id_bits` bits are `k` or more, so a
    /// lookup searches only the few entries of its own range.
    /// Shared with the view before when the IDs are the same.
    id_starts: Arc<[u32]>,
    id_bits: u32,
    /// Container positions ordered by (PID, position); shared as `by_id`.
    by_pid: Arc<[(i32, u32)]>,
    snapshot: Snapshot,
}

/// One entry of the ID index: a fingerprint of the ID (most comparisons
/// end there) and the container's position.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct IdEntry {
    fp: u64,
    at: u32,
}

// SAFETY: the owner is immutable after construction, and its raw pointers
// point only into the vectors it owns and into the containers' strings and
// label arrays, which its snapshot keeps alive and which never change.
unsafe impl Send for PortfolioOwner {}
// SAFETY: see Send; shared access is read-only.
unsafe impl Sync for PortfolioOwner {}

/// A fingerprint of an ID: cheap to compare, so that a lookup compares IDs
/// themselves about once. Any function would do (the index is ordered by
/// fingerprint, then by the ID itself), this one reads 8 bytes at a time.
fn fingerprint(id: &[u8]) -> u64 {
    let mut h: u64 = id.len() as u64;
    let mut chunks = id.chunks_exact(8);
    for c in &mut chunks {
        let w = u64::from_le_bytes(c.try_into().expect("8 bytes"));
        h = (h.rotate_left(5) ^ w).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    let mut tail = [0u8; 8];
    tail[..chunks.remainder().len()].copy_from_slice(chunks.remainder());
    h = (h.rotate_left(5) ^ u64::from_le_bytes(tail)).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    h ^ (h >> 29)
}

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

    /// The ID of the container at position `at`, without its NUL.
    fn id_at(&self, at: u32) -> &[u8] {
        // SAFETY: every record's `id` points to a NUL-terminated string in
        // a container the snapshot keeps alive.
        unsafe { std::ffi::CStr::from_ptr(self.containers[at as usize].id) }.to_bytes()
    }

    /// (fingerprint, ID, position) order of two entries.
    fn id_order(&self, a: IdEntry, b: IdEntry) -> std::cmp::Ordering {
        a.fp.cmp(&b.fp).then_with(|| self.id_at(a.at).cmp(self.id_at(b.at))).then(a.at.cmp(&b.at))
    }

    /// The range of fingerprint `fp` in `id_starts`.
    fn bucket(&self, fp: u64) -> usize {
        if self.id_bits == 0 {
            0
        } else {
            (fp >> (64 - self.id_bits)) as usize
        }
    }

    /// Makes `id_starts` for `by_id`: about one entry per range.
    fn index_ranges(&mut self) {
        let n = self.by_id.len();
        self.id_bits = usize::BITS - n.leading_zeros();
        let ranges = 1usize << self.id_bits;
        let mut starts = Vec::with_capacity(ranges + 1);
        for (i, e) in self.by_id.iter().enumerate() {
            let k = self.bucket(e.fp);
            while starts.len() <= k {
                starts.push(i as u32);
            }
        }
        starts.resize(ranges + 1, n as u32);
        self.id_starts = starts.into();
    }

    /// The container with ID `id` (the first engine's, if several have it).
    pub fn find_id(&self, id: &[u8]) -> Option<&ww_container> {
        let fp = fingerprint(id);
        let k = self.bucket(fp);
        let (lo, hi) = (*self.id_starts.get(k)? as usize, *self.id_starts.get(k + 1)? as usize);
        let first = lo + self.by_id[lo..hi].partition_point(|e| e.fp < fp || (e.fp == fp && self.id_at(e.at) < id));
        let e = self.by_id.get(first)?;
        (e.fp == fp && self.id_at(e.at) == id).then(|| &self.containers[e.at as usize])
    }

    /// The container whose initial process is `pid` (the first engine's, if
    /// several have it).
    pub fn find_pid(&self, pid: i32) -> Option<&ww_container> {
        let first = self.by_pid.partition_point(|&(p, _)| p < pid);
        let &(p, at) = self.by_pid.get(first)?;
        (p == pid).then(|| &self.containers[at as usize])
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

/// String offsets of one engine.
struct EngineStrings {
    r#type: usize,
    id: usize,
    version: usize,
    endpoint: usize,
    last_error: usize,
}

const NO_STR: *const c_char = std::ptr::null();
/// The name of every engine's unnamed project.
static UNNAMED: [u8; 1] = [0];

/// The C label array of a container, made once per container strings.
struct Labels(Box<[ww_label]>);

// SAFETY: the pointers point into the container's own strings (its buffer
// and its shared list of label keys), which are immutable and live as long
// as this array (the strings hold both).
unsafe impl Send for Labels {}
// SAFETY: see Send; read-only.
unsafe impl Sync for Labels {}

/// The record of container `c` of engine `engine`, pointing into `c`.
fn record(c: &Container, engine: u32) -> ww_container {
    // Each string handed here ends with its NUL.
    let at = |s: &str| -> *const c_char { s.as_ptr().cast() };
    let field = |f: Field| at(c.field_with_nul(f));
    let labels = c.view(|c| {
        Labels(
            (0..c.labels_len())
                .map(|i| {
                    let (k, v) = c.label_with_nul(i);
                    ww_label { key: at(k), value: at(v) }
                })
                .collect(),
        )
    });
    ww_container {
        id: field(Field::Id),
        name: field(Field::Name),
        project: field(Field::Project),
        labels: if labels.0.is_empty() { std::ptr::null() } else { labels.0.as_ptr() },
        labels_len: labels.0.len(),
        image: field(Field::Image),
        image_id: field(Field::ImageId),
        pod_name: field(Field::PodName),
        pod_namespace: field(Field::PodNamespace),
        pod_uid: field(Field::PodUid),
        started_at_ns: c.started_at_ns,
        pid: c.pid,
        engine,
        paused: c.paused,
        privileged: c.privileged,
        pod_sandbox: c.pod_sandbox,
    }
}

/// Marks a position of the previous generation whose container is gone.
const GONE: u32 = u32::MAX;

/// A run of records carried over from the view before: `len` records from
/// its position `from` to position `to` now.
#[derive(Clone, Copy, Debug)]
struct Run {
    from: u32,
    to: u32,
    len: u32,
}

/// The records of `snap`'s containers, in flat order: copied from `prev`
/// where a container is shared with it, made afresh where not. Also gives
/// the runs of records carried over from `prev` and the positions made
/// afresh.
fn records(snap: &Snapshot, prev: Option<&PortfolioOwner>) -> (Vec<ww_container>, Vec<Run>, Vec<u32>) {
    let mut out: Vec<ww_container> = Vec::with_capacity(snap.len());
    let mut runs = Vec::new();
    let mut fresh = Vec::new();
    let prev_offsets = prev.map(|p| p.snapshot.engine_offsets()).unwrap_or_default();
    let pos = |n: usize| u32::try_from(n).expect("fewer than 2^32 containers");
    for (ei, e) in snap.engines.iter().enumerate() {
        let now = &e.set.containers;
        let before = prev.and_then(|p| Some((p, p.snapshot.engines.get(ei)?, prev_offsets[ei])));
        let Some((p, pe, base)) = before else {
            for c in now.iter() {
                fresh.push(pos(out.len()));
                out.push(record(c, ei as u32));
            }
            continue;
        };
        let was = &pe.set.containers;
        if Arc::ptr_eq(&pe.set, &e.set) {
            runs.push(Run { from: pos(base), to: pos(out.len()), len: pos(was.len()) });
            out.extend_from_slice(&p.containers[base..base + was.len()]);
            continue;
        }
        // One walk over both sorted sets: shared records (whole chunks of
        // them at once) are copied, the new ones made. Both walk in order,
        // so `out` fills in the order of `now`.
        walk(was, now, |step| match step {
            Step::Shared { from, len, .. } => {
                runs.push(Run { from: pos(base + from), to: pos(out.len()), len: pos(len) });
                out.extend_from_slice(&p.containers[base + from..base + from + len]);
            }
            Step::OnlyFrom(_) => {}
            Step::OnlyTo(j) | Step::Both(_, j) => {
                fresh.push(pos(out.len()));
                out.push(record(now.get(j), ei as u32));
            }
        });
    }
    (out, runs, fresh)
}

/// Per position of a view of `len` records, its position now (or
/// [`GONE`]), from the runs carried over.
fn moved(len: usize, runs: &[Run]) -> Vec<u32> {
    let mut moved = vec![GONE; len];
    for r in runs {
        for (k, m) in moved[r.from as usize..(r.from + r.len) as usize].iter_mut().enumerate() {
            *m = r.to + k as u32;
        }
    }
    moved
}

/// Builds the C view of `snap`, reusing what it shares with `prev` (the
/// view of the generation before, if any).
pub fn render(snap: &Snapshot, prev: Option<&PortfolioOwner>) -> Arc<PortfolioOwner> {
    // 1. The engines' strings.
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

    // 2. The records, copied where shared.
    let (containers, runs, fresh) = records(snap, prev);

    // 3. The owner, with every arena pointer still NULL, and its indices.
    let mut owner = Arc::new(PortfolioOwner {
        public: ww_portfolio {
            generation: snap.generation,
            containers: std::ptr::null(),
            containers_len: containers.len(),
            projects: std::ptr::null(),
            projects_len: 0,
            engines: std::ptr::null(),
            engines_len: snap.engines.len(),
        },
        strings: arena.bytes,
        containers,
        projects: Vec::with_capacity(snap.engines.iter().map(|e| e.set.projects.len()).sum()),
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
        by_id: Arc::from(Vec::new()),
        id_starts: Arc::from(Vec::new()),
        id_bits: 0,
        by_pid: Arc::from(Vec::new()),
        snapshot: snap.clone(),
    });
    let o = Arc::get_mut(&mut owner).expect("a new Arc is unique");
    index(o, prev, &runs, &fresh);

    // 4. The pointers, each taken from its array in the owner once that
    // array is final.
    let base = o.strings.as_ptr();
    // SAFETY (for every `at`): offsets come from the arena built above, so
    // they are in bounds of `strings`, which is never changed again.
    let at = |off: usize| -> *const c_char { unsafe { base.add(off) }.cast() };
    for (e, s) in o.engines.iter_mut().zip(&engine_strs) {
        e.r#type = at(s.r#type);
        e.id = at(s.id);
        e.version = at(s.version);
        e.endpoint = at(s.endpoint);
        e.last_error = at(s.last_error);
    }
    let containers = o.containers.as_ptr();
    let offsets = snap.engine_offsets();
    for (ei, e) in snap.engines.iter().enumerate() {
        for p in e.set.projects.iter() {
            let len = p.range.len();
            let first = offsets[ei] + p.range.start;
            o.projects.push(ww_project {
                // A named project has containers: its name is their project.
                name: if len == 0 { UNNAMED.as_ptr().cast() } else { o.containers[first].project },
                // SAFETY: the project's range lies within its engine's containers.
                containers: if len == 0 { std::ptr::null() } else { unsafe { containers.add(first) } },
                containers_len: len,
                engine: ei as u32,
            });
        }
    }
    o.public.projects_len = o.projects.len();
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

/// Makes `o`'s lookup indices: `prev`'s carried over (positions moved, the
/// gone left out) and merged with the `fresh` positions, or, without
/// `prev`, sorted afresh.
fn index(o: &mut PortfolioOwner, prev: Option<&PortfolioOwner>, runs: &[Run], fresh: &[u32]) {
    if let Some(prev) = prev.filter(|p| same_places(o, p, runs, fresh)) {
        // A pause, a label change: the same IDs and PIDs at the same places.
        o.by_id = Arc::clone(&prev.by_id);
        o.by_pid = Arc::clone(&prev.by_pid);
        o.id_bits = prev.id_bits;
        o.id_starts = Arc::clone(&prev.id_starts);
        return;
    }
    let entry = |o: &PortfolioOwner, at: u32| IdEntry { fp: fingerprint(o.id_at(at)), at };
    let mut new_ids: Vec<IdEntry> = fresh.iter().map(|&at| entry(o, at)).collect();
    let new_fps: Vec<u64> = new_ids.iter().map(|e| e.fp).collect();
    new_ids.sort_unstable_by(|&a, &b| o.id_order(a, b));
    let mut new_pids: Vec<(i32, u32)> = fresh.iter().map(|&at| (o.containers[at as usize].pid, at)).collect();
    new_pids.sort_unstable();
    let Some(prev) = prev else {
        o.by_id = new_ids.into();
        o.by_pid = new_pids.into();
        o.index_ranges();
        return;
    };
    let moved = moved(prev.containers.len(), runs);
    // Positions move monotonically, so the carried entries stay in order.
    let kept_ids = prev.by_id.iter().filter_map(|e| Some(IdEntry { fp: e.fp, at: live(moved[e.at as usize])? }));
    let by_id = merge(kept_ids, prev.by_id.len(), new_ids, |&a, &b| o.id_order(a, b));
    let kept_pids = prev.by_pid.iter().filter_map(|&(pid, at)| Some((pid, live(moved[at as usize])?)));
    let by_pid = merge(kept_pids, prev.by_pid.len(), new_pids, |a, b| a.cmp(b));
    // The ranges depend on the fingerprints only: the same ones gone as
    // came (a pause, a rename) leave them as they were.
    let mut gone_fps: Vec<u64> =
        prev.by_id.iter().filter(|e| live(moved[e.at as usize]).is_none()).map(|e| e.fp).collect();
    let mut came_fps: Vec<u64> = new_fps;
    gone_fps.sort_unstable();
    came_fps.sort_unstable();
    let same_ids = gone_fps == came_fps;
    o.by_id = by_id.into();
    o.by_pid = by_pid.into();
    if same_ids {
        // The same fingerprints in the same order: the same ranges.
        o.id_bits = prev.id_bits;
        o.id_starts = Arc::clone(&prev.id_starts);
    } else {
        o.index_ranges();
    }
}

/// Whether every container of `o` has the place, the ID and the PID it had
/// in `prev`: the runs carried over did not move, and each one made afresh
/// took the place of one gone, with the same ID and PID.
fn same_places(o: &PortfolioOwner, prev: &PortfolioOwner, runs: &[Run], fresh: &[u32]) -> bool {
    // With as many containers as before and the carried runs in place, the
    // places the runs leave are the same before and now: the fresh ones
    // fill exactly the places of the gone ones.
    o.containers.len() == prev.containers.len()
        && runs.iter().all(|r| r.len == 0 || r.from == r.to)
        && fresh.iter().all(|&at| {
            prev.containers[at as usize].pid == o.containers[at as usize].pid && prev.id_at(at) == o.id_at(at)
        })
}

fn live(at: u32) -> Option<u32> {
    (at != GONE).then_some(at)
}

/// Merges two ordered sequences.
/// `room` is how many `a` may yield at most (its size hint says nothing
/// when it filters).
fn merge<T: Copy>(
    a: impl Iterator<Item = T>,
    room: usize,
    b: Vec<T>,
    order: impl Fn(&T, &T) -> std::cmp::Ordering,
) -> Vec<T> {
    let mut out = Vec::with_capacity(room + b.len());
    let mut b = b.into_iter().peekable();
    for x in a {
        while let Some(y) = b.next_if(|y| order(y, &x).is_lt()) {
            out.push(y);
        }
        out.push(x);
    }
    out.extend(b);
    out
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
        let mut c = crate::core::ContainerDraft::new(id.into(), name.into(), pid, false, l);
        c.image = format!("img-{id}");
        c.started_at_ns = 1_000 + i64::from(pid);
        Arc::new(c.build())
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
        let owner = render(&two_engines(), None);
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
        let owner = render(&two_engines(), None);
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
        let owner = render(&snap, None);
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

    /// Everything the C view says, as values.
    fn described(o: &PortfolioOwner) -> Vec<String> {
        let p = o.portfolio();
        let mut out = vec![format!("{} {} {} {}", p.generation, p.containers_len, p.projects_len, p.engines_len)];
        let cs = if p.containers_len == 0 {
            &[][..]
        } else {
            unsafe { std::slice::from_raw_parts(p.containers, p.containers_len) }
        };
        for c in cs {
            let labels =
                if c.labels_len == 0 { &[][..] } else { unsafe { std::slice::from_raw_parts(c.labels, c.labels_len) } };
            let kv: Vec<String> = labels.iter().map(|l| format!("{}={}", cstr(l.key), cstr(l.value))).collect();
            out.push(format!(
                "{} {} {} {} {} {} {} {} {} {} {:?}",
                c.engine,
                cstr(c.id),
                cstr(c.name),
                cstr(c.project),
                c.pid,
                c.paused,
                cstr(c.image),
                cstr(c.pod_name),
                c.started_at_ns,
                c.privileged,
                kv
            ));
        }
        let ps = unsafe { std::slice::from_raw_parts(p.projects, p.projects_len) };
        for pr in ps {
            let first = if pr.containers.is_null() { -1 } else { unsafe { pr.containers.offset_from(p.containers) } };
            out.push(format!("project {} {} {} {}", pr.engine, cstr(pr.name), first, pr.containers_len));
        }
        out
    }

    #[test]
    fn a_view_made_from_the_one_before_is_the_view_made_afresh() {
        use crate::core::snapshot::tests::Rng;
        let mut rng = Rng(0x2545_f491_4f6c_dd1d);
        let mut alive: [std::collections::BTreeMap<u64, Arc<Container>>; 2] = Default::default();
        let mut sets = [Arc::new(ContainerSet::empty()), Arc::new(ContainerSet::empty())];
        let info = |i: usize| Arc::new(EngineInfo::new(EngineKind::Docker, "docker.com", format!("unix:///{i}")));
        let infos = [info(0), info(1)];
        let mut prev: Option<Arc<PortfolioOwner>> = None;
        let mut shared_indices = 0;
        // Miri is slow: fewer rounds there still cover each path.
        for generation in 0..if cfg!(miri) { 12 } else { 300u64 } {
            // Changes in one engine (the other's set stays shared), now and then many.
            let e = rng.below(2) as usize;
            let mut changes: HashMap<u64, Option<Arc<Container>>> = HashMap::new();
            for _ in 0..=rng.below(if generation % 40 == 0 { 30 } else { 3 }) {
                let id = rng.below(200);
                changes.entry(id).or_insert_with(|| alive[e].get(&id).cloned());
                if rng.below(3) == 0 {
                    alive[e].remove(&id);
                } else {
                    let labels: Vec<(String, String)> =
                        (0..rng.below(3)).map(|k| (format!("k{k}"), format!("v{}", rng.below(9)))).collect();
                    let mut d = crate::core::ContainerDraft::new(
                        format!("{id:03}"),
                        format!("n{}", rng.below(5)),
                        // Another engine may have the same IDs and PIDs.
                        100 + (id as i32 % 20),
                        rng.below(2) == 0,
                        labels.into_iter().collect(),
                    );
                    d.project = ["", "x", "y"][rng.below(3) as usize].to_string();
                    alive[e].insert(id, Arc::new(d.build()));
                }
            }
            sets[e] = Arc::new(sets[e].updated(changes.iter().map(|(id, b)| (b.as_ref(), alive[e].get(id)))).unwrap());
            let engines = (0..2)
                .map(|i| {
                    Arc::new(EngineSnapshot {
                        info: Arc::clone(&infos[i]),
                        status: EngineStatus::default(),
                        set: Arc::clone(&sets[i]),
                    })
                })
                .collect();
            let snap = Snapshot { generation, engines };
            let reused = render(&snap, prev.as_deref());
            let fresh = render(&snap, None);
            assert_eq!(described(&reused), described(&fresh), "generation {generation}");
            assert_eq!((reused.id_bits, &reused.id_starts[..]), (fresh.id_bits, &fresh.id_starts[..]));
            for id in 0..205u64 {
                let key = format!("{id:03}");
                let find = |o: &PortfolioOwner| o.find_id(key.as_bytes()).map(|c| (c.engine, c.pid));
                assert_eq!(find(&reused), find(&fresh), "find_id {key}");
            }
            for pid in 95..125 {
                let find = |o: &PortfolioOwner| o.find_pid(pid).map(|c| (c.engine, cstr(c.id).to_string()));
                assert_eq!(find(&reused), find(&fresh), "find_pid {pid}");
            }
            if let Some(p) = &prev {
                shared_indices += usize::from(Arc::ptr_eq(&p.by_id, &reused.by_id));
                // The unchanged engine's records are the same records.
                let other = 1 - e;
                let off = |o: &PortfolioOwner| o.snapshot().engine_offsets()[other];
                let n = sets[other].containers.len();
                for i in 0..n {
                    assert_eq!(p.container(off(p) + i).labels, reused.container(off(&reused) + i).labels);
                    assert_eq!(p.container(off(p) + i).id, reused.container(off(&reused) + i).id);
                }
            }
            prev = Some(reused);
        }
        // Changes that kept every container in its place (a pause) shared
        // the indices with the view before.
        assert!(cfg!(miri) || shared_indices > 0);
    }
}
