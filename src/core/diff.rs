//! What changed between two snapshots.
//!
//! A container is the same in both when its engine (by endpoint), its ID and
//! its PID are the same; otherwise the old one exited and the new one
//! started. Engines are matched by endpoint, so snapshots of different
//! watchers can be compared. Records shared between the two snapshots (the
//! same allocation) are unchanged without looking at their fields, and an
//! engine whose whole container set is shared is skipped at once.

use std::collections::HashMap;
use std::sync::Arc;

use super::chunks::{walk, Step};
use super::model::Container;
use super::snapshot::{ContainerSet, Snapshot};

/// How a container changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ChangeKind {
    /// In `to` only, or a new incarnation (same ID, other PID).
    Started,
    /// In `from` only, or the old incarnation.
    Exited,
    Paused,
    Unpaused,
    /// Same incarnation, other name, labels, project or other details.
    Updated,
}

/// One change; `before` and `after` are flat indices into the containers of
/// `from` and `to` (in [`Snapshot::containers`] order).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Change {
    pub kind: ChangeKind,
    pub before: Option<usize>,
    pub after: Option<usize>,
}

/// The changes from `from` (`None`: an empty snapshot) to `to`: exits first,
/// then starts, then the rest (pauses, resumes, updates), each group in
/// snapshot order, by (engine, project, name, id). A container both paused
/// (or resumed) and updated gets both changes, the pause first.
pub fn diff(from: Option<&Snapshot>, to: &Snapshot) -> Vec<Change> {
    let mut exited = Vec::new();
    let mut started = Vec::new();
    let mut rest = Vec::new();
    let to_offsets = to.engine_offsets();
    let from_offsets = from.map(Snapshot::engine_offsets).unwrap_or_default();
    // The engines of `from`, by endpoint.
    let from_engines: HashMap<&str, usize> = from
        .map(|f| f.engines.iter().enumerate().map(|(i, e)| (e.info.endpoint.as_str(), i)).collect())
        .unwrap_or_default();
    let mut matched = vec![false; from.map_or(0, |f| f.engines.len())];
    // Engines of `to` in order; their containers are in snapshot order.
    for (ti, te) in to.engines.iter().enumerate() {
        let pair = from_engines.get(te.info.endpoint.as_str()).map(|&fi| {
            matched[fi] = true;
            (fi, &from.expect("matched engines come from `from`").engines[fi].set)
        });
        match pair {
            None => {
                let base = to_offsets[ti];
                started.extend((0..te.set.containers.len()).map(|i| change(ChangeKind::Started, None, Some(base + i))));
            }
            Some((_, fset)) if Arc::ptr_eq(fset, &te.set) => {}
            Some((fi, fset)) => {
                diff_sets((fset, from_offsets[fi]), (&te.set, to_offsets[ti]), &mut exited, &mut started, &mut rest)
            }
        }
    }
    // Engines only in `from`: all their containers exited.
    if let Some(f) = from {
        for (fi, fe) in f.engines.iter().enumerate().filter(|(fi, _)| !matched[*fi]) {
            let base = from_offsets[fi];
            exited.extend((0..fe.set.containers.len()).map(|i| change(ChangeKind::Exited, Some(base + i), None)));
        }
    }
    exited.sort_by_key(|c| c.before);
    started.sort_by_key(|c| c.after);
    rest.sort_by_key(|c| (c.after, c.kind));
    exited.extend(started);
    exited.extend(rest);
    exited
}

fn change(kind: ChangeKind, before: Option<usize>, after: Option<usize>) -> Change {
    Change { kind, before, after }
}

/// The changes between two container sets of one engine, `from` and `to`
/// with the flat index of their first containers. Both are sorted the same
/// way, so one walk over both pairs up the records they share, without
/// looking at their fields; only what is left is matched by ID.
fn diff_sets(
    (from, fbase): (&ContainerSet, usize),
    (to, tbase): (&ContainerSet, usize),
    exited: &mut Vec<Change>,
    started: &mut Vec<Change>,
    rest: &mut Vec<Change>,
) {
    let (f, t) = (&from.containers, &to.containers);
    // What only one side has at its place in the order.
    let mut only_from: Vec<usize> = Vec::new();
    let mut only_to: Vec<usize> = Vec::new();
    walk(f, t, |step| match step {
        Step::Shared { .. } => {}
        Step::OnlyFrom(i) => only_from.push(i),
        Step::OnlyTo(j) => only_to.push(j),
        Step::Both(i, j) => {
            only_from.push(i);
            only_to.push(j);
        }
    });
    // A container renamed or moved to another project sits elsewhere: match
    // the rest by ID.
    let by_id: HashMap<&str, usize> = only_from.iter().enumerate().map(|(k, &i)| (f.get(i).id(), k)).collect();
    let mut seen = vec![false; only_from.len()];
    for &ti in &only_to {
        let after = Some(tbase + ti);
        let tc: &Arc<Container> = t.get(ti);
        let Some(&k) = by_id.get(tc.id()) else {
            started.push(change(ChangeKind::Started, None, after));
            continue;
        };
        seen[k] = true;
        let fi = only_from[k];
        let fc: &Arc<Container> = f.get(fi);
        let before = Some(fbase + fi);
        if fc.pid != tc.pid {
            exited.push(change(ChangeKind::Exited, before, None));
            started.push(change(ChangeKind::Started, None, after));
            continue;
        }
        if fc.paused != tc.paused {
            let kind = if tc.paused { ChangeKind::Paused } else { ChangeKind::Unpaused };
            rest.push(change(kind, before, after));
        }
        if !fc.same_details(tc) {
            rest.push(change(ChangeKind::Updated, before, after));
        }
    }
    for (k, &fi) in only_from.iter().enumerate() {
        if !seen[k] {
            exited.push(change(ChangeKind::Exited, Some(fbase + fi), None));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::model::{EngineInfo, EngineStatus};
    use crate::core::options::EngineKind;
    use crate::core::snapshot::EngineSnapshot;
    use std::collections::HashMap as Map;

    fn ctr(id: &str, pid: i32, paused: bool, project: &str) -> Arc<Container> {
        let mut labels = Map::new();
        if !project.is_empty() {
            labels.insert("com.docker.compose.project".to_string(), project.to_string());
        }
        Arc::new(Container::new(id.into(), format!("n-{id}"), pid, paused, labels))
    }

    fn engine(endpoint: &str, cs: &[Arc<Container>]) -> Arc<EngineSnapshot> {
        Arc::new(EngineSnapshot {
            info: Arc::new(EngineInfo::new(EngineKind::Docker, "docker.com", endpoint.into())),
            status: EngineStatus::default(),
            set: Arc::new(ContainerSet::build(cs.iter())),
        })
    }

    fn snap(engines: Vec<Arc<EngineSnapshot>>) -> Snapshot {
        Snapshot { generation: 1, engines }
    }

    /// (kind, before id, after id)
    fn described(from: Option<&Snapshot>, to: &Snapshot) -> Vec<(ChangeKind, String, String)> {
        let ids = |s: Option<&Snapshot>, i: Option<usize>| {
            i.map(|i| s.unwrap().containers().nth(i).unwrap().1.id().to_string()).unwrap_or_default()
        };
        diff(from, to).into_iter().map(|c| (c.kind, ids(from, c.before), ids(Some(to), c.after))).collect()
    }

    #[test]
    fn everything_started_from_nothing() {
        let to = snap(vec![engine("e", &[ctr("b", 2, false, ""), ctr("a", 1, false, "p")])]);
        let d = described(None, &to);
        assert_eq!(d, [(ChangeKind::Started, "".into(), "b".into()), (ChangeKind::Started, "".into(), "a".into())]);
    }

    #[test]
    fn exits_starts_pauses_updates_and_new_incarnations() {
        let keep = ctr("keep", 1, false, "");
        let from = snap(vec![engine(
            "e",
            &[
                keep.clone(),
                ctr("gone", 2, false, ""),
                ctr("pause", 3, false, ""),
                ctr("again", 4, false, ""),
                ctr("rename", 5, false, ""),
            ],
        )]);
        let renamed = ctr("rename", 5, true, "").with_name("other");
        let to = snap(vec![engine(
            "e",
            &[
                keep,
                ctr("pause", 3, true, ""),
                ctr("again", 44, false, ""),
                ctr("new", 6, false, ""),
                Arc::new(renamed),
            ],
        )]);
        let d = described(Some(&from), &to);
        let k = |kind, b: &str, a: &str| (kind, b.to_string(), a.to_string());
        assert_eq!(
            d,
            [
                k(ChangeKind::Exited, "again", ""),
                k(ChangeKind::Exited, "gone", ""),
                k(ChangeKind::Started, "", "again"),
                k(ChangeKind::Started, "", "new"),
                k(ChangeKind::Paused, "pause", "pause"),
                k(ChangeKind::Paused, "rename", "rename"),
                k(ChangeKind::Updated, "rename", "rename"),
            ]
        );
    }

    #[test]
    fn equal_records_in_other_allocations_are_unchanged() {
        let from = snap(vec![engine("e", &[ctr("a", 1, false, "")])]);
        let to = snap(vec![engine("e", &[ctr("a", 1, false, "")])]);
        assert!(diff(Some(&from), &to).is_empty());
        assert!(diff(Some(&from), &from).is_empty());
    }

    #[test]
    fn engines_match_by_endpoint_not_by_index() {
        let a = engine("a", &[ctr("x", 1, false, "")]);
        let b = engine("b", &[ctr("x", 1, false, "")]);
        let from = snap(vec![a.clone(), b.clone()]);
        let to = snap(vec![b, engine("c", &[ctr("y", 2, false, "")])]);
        let d = described(Some(&from), &to);
        assert_eq!(d, [(ChangeKind::Exited, "x".into(), "".into()), (ChangeKind::Started, "".into(), "y".into())]);
        assert_eq!(diff(Some(&from), &to)[0].before, Some(0), "the container of engine a");
    }
}
