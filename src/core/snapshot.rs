//! Immutable, consistent views of the tracked state.

use std::ops::Range;
use std::sync::Arc;

use super::model::{Container, EngineInfo};

/// One compose project: a name and where its containers sit in
/// [`Snapshot::containers`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Project {
    pub name: String,
    pub range: Range<usize>,
}

/// The alive containers of one engine at one generation.
#[derive(Clone, Debug)]
pub struct Snapshot {
    /// 0 before the first successful synchronisation, then growing with
    /// every change.
    pub generation: u64,
    /// Sorted by (project, name, id).
    pub containers: Vec<Arc<Container>>,
    /// `[0]` is the unnamed project `""` (maybe empty), then every named
    /// project with at least one container, sorted by name.
    pub projects: Vec<Project>,
    pub engine: Arc<EngineInfo>,
}

impl Snapshot {
    /// The empty snapshot a watcher shows before its first synchronisation.
    pub fn empty(engine: Arc<EngineInfo>) -> Self {
        Snapshot::build(0, std::iter::empty(), engine)
    }

    /// Sorts `containers` and groups them into projects.
    pub fn build<'a>(
        generation: u64,
        containers: impl Iterator<Item = &'a Arc<Container>>,
        engine: Arc<EngineInfo>,
    ) -> Self {
        let mut containers: Vec<Arc<Container>> = containers.cloned().collect();
        containers.sort_unstable_by(|a, b| {
            (&a.project, &a.name, &a.id).cmp(&(&b.project, &b.name, &b.id))
        });
        let mut projects = vec![Project { name: String::new(), range: 0..0 }];
        for (i, c) in containers.iter().enumerate() {
            let last = projects.last_mut().expect("projects is never empty");
            if last.name == c.project {
                last.range.end = i + 1;
            } else {
                projects.push(Project { name: c.project.clone(), range: i..i + 1 });
            }
        }
        Snapshot { generation, containers, projects, engine }
    }

    /// The containers of project `p`.
    pub fn project_containers(&self, p: &Project) -> &[Arc<Container>] {
        &self.containers[p.range.clone()]
    }

    /// The project named `name`, if it has containers (or is `""`).
    pub fn project(&self, name: &str) -> Option<&Project> {
        self.projects.iter().find(|p| p.name == name)
    }

    /// The container with ID `id`.
    pub fn container(&self, id: &str) -> Option<&Arc<Container>> {
        self.containers.iter().find(|c| c.id == id)
    }
}
