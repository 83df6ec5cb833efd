//! One alive container, as tracked: an immutable record whose strings sit in
//! one buffer, each followed by a NUL, so that every string is held once and
//! views of the record (the C ABI's) point into it instead of copying. Its
//! label keys sit in a list shared by every record with the same keys
//! ([`LabelKeys`]), its label values in its own buffer.
//!
//! Engines describe a container in a [`ContainerDraft`] (plain fields) and
//! [`ContainerDraft::build`] it. Versions of a record that differ only in
//! their scalar fields (a pause) share the strings.

use std::any::Any;
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, OnceLock};

use super::label_keys::LabelKeys;
use super::pods::Pod;

/// The label that names a container's compose project.
pub const COMPOSE_PROJECT_LABEL: &str = "com.docker.compose.project";

/// Everything an engine tells about one alive container, before it is
/// tracked.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ContainerDraft {
    /// The engine's full container ID.
    pub id: String,
    /// The user-facing name (Docker: without the leading `/`).
    pub name: String,
    /// The compose project, `""` if none.
    pub project: String,
    /// PID of the initial process, always > 0.
    pub pid: i32,
    /// True when paused (or pausing).
    pub paused: bool,
    /// All labels, sorted by key, keys unique.
    pub labels: Vec<(String, String)>,
    /// The image reference as the engine names it, `""` if unknown.
    pub image: String,
    /// The content-addressed image ID or digest, `""` if unknown.
    pub image_id: String,
    /// When the current initial process started (Unix ns), 0 if unknown.
    pub started_at_ns: i64,
    /// Runs privileged (Docker's `HostConfig.Privileged`); false if unknown.
    pub privileged: bool,
    /// The Kubernetes (or podman) pod it belongs to; empty outside pods.
    pub pod: Pod,
}

impl ContainerDraft {
    /// A draft from an engine's label map; the project comes from the
    /// compose project label, the pod from Kubernetes' pod labels. The other
    /// details start unknown.
    pub fn new(id: String, name: String, pid: i32, paused: bool, labels: HashMap<String, String>) -> Self {
        let project = labels.get(COMPOSE_PROJECT_LABEL).cloned().unwrap_or_default();
        let pod = Pod::from_labels(&labels);
        let mut labels: Vec<(String, String)> = labels.into_iter().collect();
        labels.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        ContainerDraft { id, name, project, pid, paused, labels, pod, ..ContainerDraft::default() }
    }

    /// The tracked record.
    pub fn build(self) -> Container {
        let fixed = [
            self.id.as_str(),
            &self.name,
            &self.project,
            &self.image,
            &self.image_id,
            &self.pod.name,
            &self.pod.namespace,
            &self.pod.uid,
        ];
        let values = self.labels.iter().map(|(_, v)| v.as_str());
        let keys = LabelKeys::of(self.labels.iter().map(|(k, _)| k.as_str()));
        Container {
            text: Arc::new(Text::new(fixed.into_iter().chain(values), keys)),
            pid: self.pid,
            paused: self.paused,
            started_at_ns: self.started_at_ns,
            privileged: self.privileged,
            pod_sandbox: self.pod.sandbox,
        }
    }
}

/// The fixed strings of a record, in buffer order; the label values follow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(usize)]
pub enum Field {
    Id,
    Name,
    Project,
    Image,
    ImageId,
    PodName,
    PodNamespace,
    PodUid,
}

const FIXED: usize = 8;

/// The order of containers in a snapshot: (project, name, id).
pub type SortKey<'a> = (&'a str, &'a str, &'a str);

/// The strings of a record: each followed by a NUL (a NUL inside one became
/// U+FFFD), in one buffer, but for the label keys, which are shared.
pub struct Text {
    /// The fixed strings, then the label values.
    buf: Box<str>,
    /// Where each string starts; it ends at the NUL before the next start.
    starts: Box<[u32]>,
    /// The label keys, one per label value.
    keys: Arc<LabelKeys>,
    /// One view of these strings, made once by whoever needs it (the C
    /// ABI's label array) and kept as long as the strings.
    view: OnceLock<Box<dyn Any + Send + Sync>>,
}

/// `strings` in one buffer, each followed by a NUL (a NUL inside one
/// becomes U+FFFD), and where each starts.
pub(super) fn joined<'a>(strings: impl Iterator<Item = &'a str> + Clone) -> (Box<str>, Box<[u32]>) {
    let size: usize = strings.clone().map(|s| s.len() + 1).sum();
    let mut buf = String::with_capacity(size);
    let mut starts = Vec::with_capacity(strings.size_hint().0);
    for s in strings {
        starts.push(u32::try_from(buf.len()).expect("a container's strings stay below 4 GiB"));
        if s.contains('\0') {
            buf.push_str(&s.replace('\0', "\u{FFFD}"));
        } else {
            buf.push_str(s);
        }
        buf.push('\0');
    }
    (buf.into_boxed_str(), starts.into_boxed_slice())
}

impl Text {
    fn new<'a>(strings: impl Iterator<Item = &'a str> + Clone, keys: Arc<LabelKeys>) -> Text {
        let (buf, starts) = joined(strings);
        Text { buf, starts, keys, view: OnceLock::new() }
    }

    /// String `i` with its NUL.
    fn with_nul(&self, i: usize) -> &str {
        let start = self.starts[i] as usize;
        let end = self.starts.get(i + 1).map_or(self.buf.len(), |&s| s as usize);
        &self.buf[start..end]
    }

    /// String `i`, without its NUL.
    fn get(&self, i: usize) -> &str {
        let s = self.with_nul(i);
        &s[..s.len() - 1]
    }
}

impl fmt::Debug for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries((0..FIXED).map(|i| self.get(i)))
            .entries((0..self.keys.len()).map(|i| (self.keys.get(i), self.get(FIXED + i))))
            .finish()
    }
}

/// One alive container: it has an initial process, so it is running or
/// paused. Immutable once tracked; a change makes a new record.
#[derive(Clone)]
pub struct Container {
    text: Arc<Text>,
    /// PID of the initial process, always > 0.
    pub pid: i32,
    /// True when paused (or pausing).
    pub paused: bool,
    /// When the current initial process started (Unix ns), 0 if unknown.
    pub started_at_ns: i64,
    /// Runs privileged (Docker's `HostConfig.Privileged`); false if unknown.
    pub privileged: bool,
    /// True for a pod's sandbox (Kubernetes) or infra (podman) container.
    pub pod_sandbox: bool,
}

impl Container {
    /// A record from an engine's label map, the other details unknown (see
    /// [`ContainerDraft::new`]).
    pub fn new(id: String, name: String, pid: i32, paused: bool, labels: HashMap<String, String>) -> Self {
        ContainerDraft::new(id, name, pid, paused, labels).build()
    }

    /// The fixed string `f`.
    pub fn field(&self, f: Field) -> &str {
        self.text.get(f as usize)
    }

    /// The engine's full container ID.
    pub fn id(&self) -> &str {
        self.field(Field::Id)
    }

    /// The user-facing name.
    pub fn name(&self) -> &str {
        self.field(Field::Name)
    }

    /// The compose project, `""` if none.
    pub fn project(&self) -> &str {
        self.field(Field::Project)
    }

    /// The image reference, `""` if unknown.
    pub fn image(&self) -> &str {
        self.field(Field::Image)
    }

    /// The image ID or digest, `""` if unknown.
    pub fn image_id(&self) -> &str {
        self.field(Field::ImageId)
    }

    /// The pod it belongs to (built on demand; empty outside pods).
    pub fn pod(&self) -> Pod {
        Pod {
            name: self.field(Field::PodName).to_string(),
            namespace: self.field(Field::PodNamespace).to_string(),
            uid: self.field(Field::PodUid).to_string(),
            sandbox: self.pod_sandbox,
        }
    }

    /// How many labels it has.
    pub fn labels_len(&self) -> usize {
        self.text.keys.len()
    }

    /// Label `i` (key, value), in key order.
    pub fn label_at(&self, i: usize) -> (&str, &str) {
        (self.text.keys.get(i), self.text.get(FIXED + i))
    }

    /// Label `i` (key, value), each with its NUL (for views that point into
    /// the record).
    pub fn label_with_nul(&self, i: usize) -> (&str, &str) {
        (self.text.keys.with_nul(i), self.text.with_nul(FIXED + i))
    }

    /// All labels, sorted by key.
    pub fn labels(&self) -> impl ExactSizeIterator<Item = (&str, &str)> + '_ {
        (0..self.labels_len()).map(|i| self.label_at(i))
    }

    /// The value of label `key`, if set.
    pub fn label(&self, key: &str) -> Option<&str> {
        let (mut lo, mut hi) = (0, self.labels_len());
        while lo < hi {
            let mid = (lo + hi) / 2;
            match self.label_at(mid).0.cmp(key) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Some(self.label_at(mid).1),
            }
        }
        None
    }

    /// The fixed string `f` with its NUL (for views that point into the
    /// record).
    pub fn field_with_nul(&self, f: Field) -> &str {
        self.text.with_nul(f as usize)
    }

    /// The view of this record's strings that `make` builds, made once and
    /// shared by every version of the record with the same strings.
    pub fn view<T: Any + Send + Sync>(&self, make: impl FnOnce(&Container) -> T) -> &T {
        let v = self.text.view.get_or_init(|| Box::new(make(self)));
        match v.downcast_ref::<T>() {
            Some(t) => t,
            // One kind of view per process: the C ABI's.
            None => unreachable!("a container's view has one type"),
        }
    }

    /// An equal record whose strings are copied into memory of its own
    /// (the label keys stay shared), e.g. to move records out of memory
    /// they share with garbage. Views of the strings are made anew.
    pub fn copied(&self) -> Container {
        let text = Text {
            buf: self.text.buf.clone(),
            starts: self.text.starts.clone(),
            keys: Arc::clone(&self.text.keys),
            view: OnceLock::new(),
        };
        Container { text: Arc::new(text), ..self.clone() }
    }

    /// The same record, paused or not.
    pub fn with_paused(&self, paused: bool) -> Container {
        Container { paused, ..self.clone() }
    }

    /// The same record under another name.
    pub fn with_name(&self, name: &str) -> Container {
        let mut d = self.draft();
        d.name = name.to_string();
        d.build()
    }

    /// The record's details as a draft.
    pub fn draft(&self) -> ContainerDraft {
        ContainerDraft {
            id: self.id().to_string(),
            name: self.name().to_string(),
            project: self.project().to_string(),
            pid: self.pid,
            paused: self.paused,
            labels: self.labels().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            image: self.image().to_string(),
            image_id: self.image_id().to_string(),
            started_at_ns: self.started_at_ns,
            privileged: self.privileged,
            pod: self.pod(),
        }
    }

    /// True when both records share their strings (so they are equal).
    pub fn shares_text(&self, other: &Container) -> bool {
        Arc::ptr_eq(&self.text, &other.text)
    }

    /// True when `other` describes the same container with the same details,
    /// the paused state aside.
    pub fn same_details(&self, other: &Container) -> bool {
        self.pid == other.pid
            && self.started_at_ns == other.started_at_ns
            && self.privileged == other.privileged
            && self.pod_sandbox == other.pod_sandbox
            && (self.shares_text(other)
                || (self.text.buf == other.text.buf
                    && (Arc::ptr_eq(&self.text.keys, &other.text.keys) || self.text.keys == other.text.keys)))
    }

    /// The sort key of snapshots: (project, name, id).
    pub fn sort_key(&self) -> SortKey<'_> {
        (self.project(), self.name(), self.id())
    }
}

impl PartialEq for Container {
    fn eq(&self, other: &Container) -> bool {
        self.paused == other.paused && self.same_details(other)
    }
}

impl Eq for Container {}

impl fmt::Debug for Container {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Container")
            .field("id", &self.id())
            .field("name", &self.name())
            .field("project", &self.project())
            .field("pid", &self.pid)
            .field("paused", &self.paused)
            .field("labels", &self.labels().collect::<Vec<_>>())
            .field("image", &self.image())
            .field("image_id", &self.image_id())
            .field("started_at_ns", &self.started_at_ns)
            .field("privileged", &self.privileged)
            .field("pod", &self.pod())
            .finish()
    }
}

impl From<ContainerDraft> for Container {
    fn from(d: ContainerDraft) -> Container {
        d.build()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft() -> ContainerDraft {
        let labels: HashMap<String, String> = [("b", "2"), ("a", "1"), (COMPOSE_PROJECT_LABEL, "shop"), ("n", "x\0y")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let mut d = ContainerDraft::new("abc".into(), "web".into(), 42, false, labels);
        d.image = "busybox".into();
        d.pod = Pod { name: "p".into(), namespace: "ns".into(), uid: "u".into(), sandbox: true };
        d
    }

    #[test]
    fn a_record_keeps_every_string_once_with_a_nul_after_each() {
        let c = draft().build();
        assert_eq!((c.id(), c.name(), c.project(), c.image(), c.image_id()), ("abc", "web", "shop", "busybox", ""));
        assert_eq!(c.pod(), Pod { name: "p".into(), namespace: "ns".into(), uid: "u".into(), sandbox: true });
        let labels: Vec<_> = c.labels().collect();
        assert_eq!(labels, [("a", "1"), ("b", "2"), (COMPOSE_PROJECT_LABEL, "shop"), ("n", "x\u{FFFD}y")]);
        assert_eq!(
            (c.label("b"), c.label("n"), c.label("zz"), c.label("")),
            (Some("2"), Some("x\u{FFFD}y"), None, None)
        );
        for i in 0..c.labels_len() {
            let (k, v) = c.label_with_nul(i);
            assert_eq!((k.strip_suffix('\0'), v.strip_suffix('\0')), (Some(c.label_at(i).0), Some(c.label_at(i).1)));
        }
        assert_eq!(c.field_with_nul(Field::Name), "web\0");
        assert_eq!(c.field_with_nul(Field::ImageId), "\0");
        let other = draft().build();
        assert!(Arc::ptr_eq(&c.text.keys, &other.text.keys), "the same keys, one list");
        assert_eq!(c.draft(), {
            let mut d = draft();
            d.labels[3].1 = "x\u{FFFD}y".into();
            d
        });
    }

    #[test]
    fn versions_share_strings_and_compare_by_content() {
        let c = draft().build();
        let paused = c.with_paused(true);
        assert!(paused.shares_text(&c) && paused.paused && c.same_details(&paused) && c != paused);
        assert_eq!(c.with_paused(false), c);
        let renamed = c.with_name("db");
        assert_eq!((renamed.name(), renamed.id(), renamed.labels_len()), ("db", "abc", 4));
        assert!(!renamed.same_details(&c));
        assert_eq!(draft().build(), c, "equal content, separate strings");
        let mut d = draft();
        d.started_at_ns = 1;
        assert!(!d.build().same_details(&c));
    }

    #[test]
    fn a_copy_is_equal_with_strings_of_its_own() {
        let c = draft().build();
        let copy = c.copied();
        assert!(copy == c && !copy.shares_text(&c));
        assert_ne!(copy.field_with_nul(Field::Id).as_ptr(), c.field_with_nul(Field::Id).as_ptr());
        assert!(Arc::ptr_eq(&copy.text.keys, &c.text.keys));
    }

    #[test]
    fn a_view_is_made_once_and_shared_by_versions() {
        let c = draft().build();
        let made = std::sync::atomic::AtomicUsize::new(0);
        let v = c.view(|c| {
            made.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            c.labels_len()
        });
        assert_eq!(*v, 4);
        assert_eq!(*c.with_paused(true).view(|_| 99usize), 4);
        assert_eq!(made.load(std::sync::atomic::Ordering::Relaxed), 1);
    }

    #[test]
    fn a_record_without_labels_or_strings() {
        let c = ContainerDraft { pid: 1, ..ContainerDraft::default() }.build();
        assert_eq!((c.id(), c.labels_len(), c.label("a")), ("", 0, None));
        assert_eq!(&*c.text.buf, "\0\0\0\0\0\0\0\0");
    }
}
