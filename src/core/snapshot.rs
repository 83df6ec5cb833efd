//! Immutable, consistent views of the tracked state.
//!
//! A [`Snapshot`] is a generation number plus one [`EngineSnapshot`] per
//! engine. An engine's part holds its identity, its status and its
//! [`ContainerSet`]; parts that did not change are shared between
//! generations, so publishing a status change of one engine copies nothing
//! of its containers.

use std::ops::Range;
use std::sync::Arc;

use super::chunks::{Containers, Edit};
use super::container::SortKey;
use super::model::{Container, EngineInfo, EngineStatus};

/// One compose project: a name and where its containers sit in
/// [`ContainerSet::containers`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Project {
    /// Shared by the generations the project is in.
    pub name: Arc<str>,
    pub range: Range<usize>,
}

/// The alive containers of one engine, sorted and grouped into projects.
#[derive(Clone, Debug, Default)]
pub struct ContainerSet {
    /// Sorted by (project, name, id).
    pub containers: Containers,
    /// `[0]` is the unnamed project `""` (maybe empty), then every named
    /// project with at least one container, sorted by name. Shared with the
    /// set before when no project's number of containers changed.
    pub projects: Arc<[Project]>,
}

impl ContainerSet {
    /// The set without containers (it still has the unnamed project).
    pub fn empty() -> Self {
        ContainerSet::build(std::iter::empty())
    }

    /// Sorts `containers` and groups them into projects.
    pub fn build<'a>(containers: impl Iterator<Item = &'a Arc<Container>>) -> Self {
        // Sorting on keys taken out first saves a pointer hop per comparison.
        let mut keyed: Vec<(SortKey, &Arc<Container>)> = containers.map(|c| (c.sort_key(), c)).collect();
        keyed.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let mut projects = vec![Project { name: Arc::from(""), range: 0..0 }];
        for (i, (key, _)) in keyed.iter().enumerate() {
            let last = projects.last_mut().expect("projects is never empty");
            if *last.name == *key.0 {
                last.range.end = i + 1;
            } else {
                projects.push(Project { name: Arc::from(key.0), range: i..i + 1 });
            }
        }
        let containers = Containers::from_vec(keyed.into_iter().map(|(_, c)| Arc::clone(c)).collect());
        ContainerSet { containers, projects: projects.into() }
    }

    /// This set with some containers changed: each change is the record
    /// as it is in this set (`None`: not in it) and the record now (`None`:
    /// gone). The order is kept, not recomputed, and only the chunks of the
    /// order where something changed are made anew: O(k log N) for k
    /// changes. `None` when a record said to be here is not (the caller
    /// then builds the set afresh).
    pub fn updated<'a>(
        &self,
        changes: impl Iterator<Item = (Option<&'a Arc<Container>>, Option<&'a Arc<Container>>)>,
    ) -> Option<ContainerSet> {
        let seq = &self.containers;
        let mut gone = Vec::new();
        let mut added: Vec<&Arc<Container>> = Vec::new();
        for (before, now) in changes {
            if let Some(b) = before {
                let key = b.sort_key();
                let at = seq.partition_point(|c| c.sort_key() < key);
                if at >= seq.len() || !Arc::ptr_eq(seq.get(at), b) {
                    return None;
                }
                gone.push(at);
            }
            added.extend(now);
        }
        added.sort_unstable_by(|a, b| a.sort_key().cmp(&b.sort_key()));
        // Where each new record goes among the old ones.
        let mut edits: Vec<Edit> = gone.iter().map(|&g| (g, None)).collect();
        edits.extend(added.iter().map(|&a| {
            let key = a.sort_key();
            (seq.partition_point(|c| c.sort_key() < key), Some(a))
        }));
        // At one place: the gone record before the new ones, which keep
        // their order (the sort is stable).
        edits.sort_by_key(|&(at, a)| (at, a.is_some()));
        let containers = seq.edited(&edits);
        // As many containers came to each project as left it (a pause, a
        // rename): every project keeps its range.
        let mut left: Vec<&str> = gone.iter().map(|&g| seq.get(g).project()).collect();
        left.sort_unstable();
        if added.iter().map(|c| c.project()).eq(left.iter().copied()) {
            return Some(ContainerSet { containers, projects: Arc::clone(&self.projects) });
        }
        // The projects: one untouched by the changes only moves by what was
        // removed and added before it; one with changes (or new) is looked
        // up where it now sits, and kept if it still has containers.
        gone.sort_unstable();
        let mut touched: Vec<&str> = added.iter().map(|&c| c.project()).collect();
        touched.extend(gone.iter().map(|&g| seq.get(g).project()));
        touched.sort_unstable();
        touched.dedup();
        let mut projects = Vec::with_capacity(self.projects.len() + touched.len());
        let locate = |name: &str| {
            containers.partition_point(|c| c.project() < name)..containers.partition_point(|c| c.project() <= name)
        };
        let mut t = touched.iter().peekable();
        for p in self.projects.iter() {
            // New projects that sort before this one.
            while let Some(&&name) = t.peek() {
                if name >= &*p.name {
                    break;
                }
                t.next();
                projects.push(Project { name: Arc::from(name), range: locate(name) });
            }
            if t.peek().is_some_and(|&&name| name == &*p.name) {
                t.next();
                let range = locate(&p.name);
                if !range.is_empty() || p.name.is_empty() {
                    projects.push(Project { name: Arc::clone(&p.name), range });
                }
            } else {
                let before = added.partition_point(|c| c.project() < &*p.name);
                let start = p.range.start + before - gone.partition_point(|&g| g < p.range.start);
                projects.push(Project { name: Arc::clone(&p.name), range: start..start + p.range.len() });
            }
        }
        for &name in t {
            projects.push(Project { name: Arc::from(name), range: locate(name) });
        }
        Some(ContainerSet { containers, projects: projects.into() })
    }

    /// The containers of project `p`.
    pub fn project_containers(&self, p: &Project) -> impl Iterator<Item = &Arc<Container>> + '_ {
        self.containers.range(p.range.clone())
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
        self.containers().map(|(_, c)| c).find(|c| c.id() == id)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::core::model::ContainerDraft;

    /// A small deterministic generator (xorshift), for repeatable churn.
    pub struct Rng(pub u64);

    impl Rng {
        pub fn below(&mut self, n: u64) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0 % n
        }
    }

    fn container(rng: &mut Rng, id: u64) -> Arc<Container> {
        let mut d = ContainerDraft { id: format!("{id:04}"), pid: 1 + id as i32, ..ContainerDraft::default() };
        d.name = format!("n{}", rng.below(6));
        d.project = ["", "a", "b", "c"][rng.below(4) as usize].to_string();
        d.paused = rng.below(2) == 0;
        Arc::new(d.build())
    }

    fn same(a: &ContainerSet, b: &ContainerSet) -> bool {
        a.projects == b.projects
            && a.containers.len() == b.containers.len()
            && a.containers.iter().zip(b.containers.iter()).all(|(x, y)| Arc::ptr_eq(x, y))
    }

    #[test]
    fn an_updated_set_is_the_set_built_afresh_and_shares_the_rest() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        // Enough containers for several chunks.
        let mut alive: std::collections::BTreeMap<u64, Arc<Container>> =
            (0..250).map(|id| (id, container(&mut rng, id))).collect();
        let mut set = ContainerSet::build(alive.values());
        let mut kept_projects = 0;
        for round in 0..if cfg!(miri) { 20 } else { 400 } {
            // A few changes: starts, deaths, renames, pauses, project moves.
            let mut changes: std::collections::HashMap<u64, Option<Arc<Container>>> = Default::default();
            for _ in 0..=rng.below(if round % 50 == 0 { 40 } else { 4 }) {
                let id = rng.below(400);
                let before = alive.get(&id).cloned();
                changes.entry(id).or_insert(before);
                if rng.below(3) == 0 {
                    alive.remove(&id);
                } else {
                    alive.insert(id, container(&mut rng, id));
                }
            }
            let next = set
                .updated(changes.iter().map(|(id, before)| (before.as_ref(), alive.get(id))))
                .expect("every record said to be there is");
            let fresh = ContainerSet::build(alive.values());
            assert!(same(&next, &fresh), "round {round}: {:?} vs {:?}", next.projects, fresh.projects);
            kept_projects += usize::from(Arc::ptr_eq(&next.projects, &set.projects));
            set = next;
        }
        // Changes that left every project as many containers (a pause, a
        // rename) kept the project list.
        assert!(cfg!(miri) || kept_projects > 0);
        // A record that is not there is refused.
        let stranger = container(&mut rng, 9999);
        assert!(set.updated(std::iter::once((Some(&stranger), None))).is_none());
    }
}
