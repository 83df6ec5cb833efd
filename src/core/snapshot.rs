//! Immutable, consistent views of the tracked state.
//!
//! A [`Snapshot`] is a generation number plus one [`EngineSnapshot`] per
//! engine. An engine's part holds its identity, its status and its
//! [`ContainerSet`]; parts that did not change are shared between
//! generations, so publishing a status change of one engine copies nothing
//! of its containers.

use std::ops::Range;
use std::sync::Arc;

use super::model::{Container, EngineInfo, EngineStatus};

/// One compose project: a name and where its containers sit in
/// [`ContainerSet::containers`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Project {
    pub name: String,
    pub range: Range<usize>,
}

/// The alive containers of one engine, sorted and grouped into projects.
#[derive(Clone, Debug, Default)]
pub struct ContainerSet {
    /// Sorted by (project, name, id).
    pub containers: Vec<Arc<Container>>,
    /// `[0]` is the unnamed project `""` (maybe empty), then every named
    /// project with at least one container, sorted by name.
    pub projects: Vec<Project>,
}

impl ContainerSet {
    /// The set without containers (it still has the unnamed project).
    pub fn empty() -> Self {
        ContainerSet::build(std::iter::empty())
    }

    /// Sorts `containers` and groups them into projects.
    pub fn build<'a>(containers: impl Iterator<Item = &'a Arc<Container>>) -> Self {
        let mut containers: Vec<Arc<Container>> = containers.cloned().collect();
        containers.sort_unstable_by(|a, b| (&a.project, &a.name, &a.id).cmp(&(&b.project, &b.name, &b.id)));
        let mut projects = vec![Project { name: String::new(), range: 0..0 }];
        for (i, c) in containers.iter().enumerate() {
            let last = projects.last_mut().expect("projects is never empty");
            if last.name == c.project {
                last.range.end = i + 1;
            } else {
                projects.push(Project { name: c.project.clone(), range: i..i + 1 });
            }
        }
        ContainerSet { containers, projects }
    }

    /// The containers of project `p`.
    pub fn project_containers(&self, p: &Project) -> &[Arc<Container>] {
        &self.containers[p.range.clone()]
    }
}

/// One engine's part of a snapshot.
#[derive(Clone, Debug)]
pub struct EngineSnapshot {
    pub info: Arc<EngineInfo>,
    pub status: EngineStatus,
    pub set: Arc<ContainerSet>,
}

impl EngineSnapshot {
    /// An engine not contacted yet, without containers.
    pub fn connecting(info: Arc<EngineInfo>) -> Self {
        EngineSnapshot { info, status: EngineStatus::default(), set: Arc::new(ContainerSet::empty()) }
    }
}

/// The alive containers of a watcher's engines at one generation.
#[derive(Clone, Debug)]
pub struct Snapshot {
    /// Grows with every published change (containers or engine status).
    pub generation: u64,
    /// At least one; a container's engine is its index here.
    pub engines: Vec<Arc<EngineSnapshot>>,
}

impl Snapshot {
    /// The number of containers of all engines.
    pub fn len(&self) -> usize {
        self.engines.iter().map(|e| e.set.containers.len()).sum()
    }

    /// True without any container.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every container with its engine's index, in snapshot order: by
    /// (engine, project, name, id).
    pub fn containers(&self) -> impl Iterator<Item = (usize, &Arc<Container>)> {
        self.engines.iter().enumerate().flat_map(|(i, e)| e.set.containers.iter().map(move |c| (i, c)))
    }

    /// Where each engine's containers start in the flat order of
    /// [`Snapshot::containers`].
    pub fn engine_offsets(&self) -> Vec<usize> {
        let mut at = 0;
        self.engines
            .iter()
            .map(|e| {
                let first = at;
                at += e.set.containers.len();
                first
            })
            .collect()
    }

    /// The container with ID `id` (the first engine's, if several have it).
    pub fn container(&self, id: &str) -> Option<&Arc<Container>> {
        self.containers().map(|(_, c)| c).find(|c| c.id == id)
    }
}
