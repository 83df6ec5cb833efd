//! The tracking state machine: which containers are alive, given a stream of
//! lifecycle events and of observations (list entries, inspect results) that
//! may arrive late and out of order.
//!
//! Every applied event gets a sequence number. Every request to the engine
//! (a list or an inspect) takes a [`Ticket`] whose `as_of` is the sequence
//! number of the last event applied when the request was issued. Because the
//! event subscription is live before any request is issued, an event with a
//! sequence number `<= as_of` happened before the observation, while one with a
//! larger number may have happened after it. So an observation of a container:
//! - is dropped when a death of that container was applied after `as_of` (it
//!   would resurrect a dead container; a restart brings its own start event);
//! - gets every pause or rename applied after `as_of` laid over it;
//! - never replaces a record that came from a newer observation.
//!
//! Deaths, pauses and renames are remembered only while a ticket that could
//! need them is outstanding, so the memory stays bounded by the work in flight.
//! This module does no I/O: it is driven by the watch loop and by tests.

use std::borrow::Borrow;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use super::model::{Container, Event, EventKind};
use super::snapshot::ContainerSet;

/// Sequence number of an applied event.
pub type Seq = u64;

/// A claim for one outstanding request; hand it back with [`Tracker::done`].
#[derive(Debug, PartialEq, Eq)]
#[must_use]
pub struct Ticket {
    as_of: Seq,
}

impl Ticket {
    /// The sequence number the request was issued at.
    pub fn as_of(&self) -> Seq {
        self.as_of
    }
}

#[derive(Clone, Debug)]
struct Tracked {
    container: Arc<Container>,
    as_of: Seq,
}

// A tracked record is known by its container's ID, which it holds: the set
// of them needs no copy of each ID as a key.
impl Borrow<str> for Tracked {
    fn borrow(&self) -> &str {
        self.container.id()
    }
}

impl Hash for Tracked {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // As `str` hashes, so that lookups by `&str` find it.
        self.container.id().hash(state);
    }
}

impl PartialEq for Tracked {
    fn eq(&self, other: &Self) -> bool {
        self.container.id() == other.container.id()
    }
}

impl Eq for Tracked {}

/// What changed in the alive set since the last [`Tracker::take_changes`].
#[derive(Debug, PartialEq, Eq)]
pub enum Changes {
    /// Anything may have (a fresh synchronisation).
    All,
    /// These containers, by ID, each with its record as it was at the last
    /// take (`None`: not alive then). Empty: nothing changed.
    Some(HashMap<String, Option<Arc<Container>>>),
}

impl Default for Changes {
    fn default() -> Self {
        Changes::Some(HashMap::new())
    }
}

impl Changes {
    /// True when nothing changed.
    pub fn is_empty(&self) -> bool {
        matches!(self, Changes::Some(m) if m.is_empty())
    }
}

/// Alive containers plus what is needed to merge late observations correctly.
#[derive(Debug, Default)]
pub struct Tracker {
    seq: Seq,
    /// The alive containers, known by their IDs.
    alive: HashSet<Tracked>,
    deaths: HashMap<String, Seq>,
    pauses: HashMap<String, (Seq, bool)>,
    renames: HashMap<String, (Seq, String)>,
    outstanding: BTreeMap<Seq, usize>,
    changes: Changes,
}

impl Tracker {
    /// An empty tracker.
    pub fn new() -> Self {
        Self::default()
    }

    /// Forgets everything, for a fresh synchronisation. Tickets issued before
    /// are void and must not be handed back.
    pub fn reset(&mut self) {
        *self = Tracker { seq: self.seq, changes: Changes::All, ..Tracker::default() };
    }

    /// Takes a ticket for a request issued now.
    pub fn ticket(&mut self) -> Ticket {
        *self.outstanding.entry(self.seq).or_insert(0) += 1;
        Ticket { as_of: self.seq }
    }

    /// Applies one event. For a start, returns the ticket of the inspect the
    /// caller must now issue for the event's container.
    pub fn apply_event(&mut self, ev: &Event) -> Option<Ticket> {
        self.seq += 1;
        let seq = self.seq;
        let remember = !self.outstanding.is_empty();
        match &ev.kind {
            EventKind::Started => return Some(self.ticket()),
            EventKind::Died => {
                if remember {
                    self.deaths.insert(ev.id.clone(), seq);
                }
                if let Some(t) = self.alive.take(ev.id.as_str()) {
                    self.note(&ev.id, Some(t.container));
                }
            }
            EventKind::Paused | EventKind::Unpaused => {
                let paused = ev.kind == EventKind::Paused;
                if remember {
                    self.pauses.insert(ev.id.clone(), (seq, paused));
                }
                self.patch(&ev.id, |c| c.paused != paused, |c| c.with_paused(paused));
            }
            EventKind::Renamed(name) => {
                if remember {
                    self.renames.insert(ev.id.clone(), (seq, name.clone()));
                }
                self.patch(&ev.id, |c| c.name() != name, |c| c.with_name(name));
            }
        }
        None
    }

    /// Merges what a request with `ticket` saw of one alive container;
    /// true when that changed the tracked state.
    pub fn observe(&mut self, ticket: &Ticket, mut c: Container) -> bool {
        let as_of = ticket.as_of;
        if self.deaths.get(c.id()).is_some_and(|&died| died > as_of) {
            return false;
        }
        if let Some(existing) = self.alive.get(c.id()) {
            if existing.as_of >= as_of {
                return false;
            }
        }
        if let Some((seq, paused)) = self.pauses.get(c.id()) {
            if *seq > as_of {
                c.paused = *paused;
            }
        }
        if let Some((seq, name)) = self.renames.get(c.id()) {
            if *seq > as_of && c.name() != name {
                c = c.with_name(name);
            }
        }
        let before = self.alive.get(c.id());
        let changed = before.is_none_or(|t| *t.container != c);
        if changed {
            let before = before.map(|t| Arc::clone(&t.container));
            self.note(c.id(), before);
        }
        self.alive.replace(Tracked { container: Arc::new(c), as_of });
        changed
    }

    /// Compares what a list taken with `ticket` says is alive (ID, the PID
    /// if the list tells (else 0), the paused state if it tells) with what
    /// is tracked, and repairs the difference it can: a container tracked
    /// since before the list but not in it is gone; a paused state the list
    /// contradicts (with no pause event since) is set right. Returns how
    /// many it repaired, and the IDs to inspect: listed but not tracked, or
    /// tracked with another PID (restarted unnoticed). What changed after
    /// the list was asked for (events, newer observations) wins over it.
    pub fn audit(&mut self, ticket: &Ticket, listed: &[(String, i32, Option<bool>)]) -> (u64, Vec<String>) {
        let as_of = ticket.as_of;
        let mut repaired = 0;
        let in_list: std::collections::HashSet<&str> = listed.iter().map(|(id, _, _)| id.as_str()).collect();
        let gone: Vec<String> = self
            .alive
            .iter()
            .filter(|t| t.as_of <= as_of && !in_list.contains(t.container.id()))
            .map(|t| t.container.id().to_string())
            .collect();
        for id in gone {
            if let Some(t) = self.alive.take(id.as_str()) {
                self.note(&id, Some(t.container));
            }
            repaired += 1;
        }
        let mut inspect = Vec::new();
        for (id, pid, paused) in listed {
            if self.deaths.get(id).is_some_and(|&died| died > as_of) {
                continue;
            }
            let Some(t) = self.alive.get(id.as_str()) else {
                inspect.push(id.clone());
                continue;
            };
            if t.as_of > as_of {
                continue;
            }
            if *pid != 0 && t.container.pid != *pid {
                inspect.push(id.clone());
                continue;
            }
            let paused_since = self.pauses.get(id).is_some_and(|(seq, _)| *seq > as_of);
            if let Some(p) = *paused {
                if t.container.paused != p && !paused_since {
                    self.patch(id, |_| true, |c| c.with_paused(p));
                    repaired += 1;
                }
            }
        }
        (repaired, inspect)
    }

    /// Hands a ticket back once its request has finished, successfully or not.
    pub fn done(&mut self, ticket: Ticket) {
        if let Some(n) = self.outstanding.get_mut(&ticket.as_of) {
            *n -= 1;
            if *n == 0 {
                self.outstanding.remove(&ticket.as_of);
                self.prune();
            }
        }
    }

    /// Drops remembered events that no outstanding ticket can need anymore.
    fn prune(&mut self) {
        match self.outstanding.keys().next().copied() {
            None => {
                self.deaths.clear();
                self.pauses.clear();
                self.renames.clear();
            }
            Some(oldest) => {
                self.deaths.retain(|_, seq| *seq > oldest);
                self.pauses.retain(|_, (seq, _)| *seq > oldest);
                self.renames.retain(|_, (seq, _)| *seq > oldest);
            }
        }
    }

    /// Copy-on-write of a tracked record, only when `differs` says the
    /// event changes something.
    fn patch(
        &mut self,
        id: &str,
        differs: impl FnOnce(&Container) -> bool,
        make: impl FnOnce(&Container) -> Container,
    ) {
        let Some(t) = self.alive.get(id) else { return };
        if differs(&t.container) {
            let next = Tracked { container: Arc::new(make(&t.container)), as_of: t.as_of };
            let before = self.alive.replace(next).map(|t| t.container);
            self.note(id, before);
        }
    }

    /// Records that container `id` changes, with its record `before` the
    /// change, unless it changed already since the last take.
    fn note(&mut self, id: &str, before: Option<Arc<Container>>) {
        if let Changes::Some(m) = &mut self.changes {
            if !m.contains_key(id) {
                m.insert(id.to_string(), before);
            }
        }
    }

    /// Moves every record into memory of its own: equal copies, made on a
    /// thread of its own (whose allocations the allocator keeps apart from
    /// this thread's), replace them, and the originals are freed. After a
    /// large synchronisation the originals lie scattered among the freed
    /// replies of the engine; this leaves that memory free as a whole, to
    /// be handed back (see [`super::heap`]). What changed is everything.
    /// Without a thread (the system refuses one), nothing is moved.
    pub fn compact(&mut self) {
        let records: Vec<&Tracked> = self.alive.iter().collect();
        let copy = || -> Vec<Tracked> {
            records.iter().map(|t| Tracked { container: Arc::new(t.container.copied()), as_of: t.as_of }).collect()
        };
        let copied = std::thread::scope(|s| {
            let worker = std::thread::Builder::new().name("ww-compact".into()).spawn_scoped(s, copy);
            worker.ok().and_then(|w| w.join().ok())
        });
        drop(records);
        if let Some(copied) = copied {
            self.alive = copied.into_iter().collect();
            self.changes = Changes::All;
        }
    }

    /// The record of container `id`, if alive.
    pub fn get(&self, id: &str) -> Option<&Arc<Container>> {
        self.alive.get(id).map(|t| &t.container)
    }

    /// The alive containers, in no particular order.
    pub fn containers(&self) -> impl Iterator<Item = &Arc<Container>> {
        self.alive.iter().map(|t| &t.container)
    }

    /// The number of alive containers.
    pub fn len(&self) -> usize {
        self.alive.len()
    }

    /// True when no container is alive.
    pub fn is_empty(&self) -> bool {
        self.alive.is_empty()
    }

    /// The set of the tracked containers, made from `set` (the one last
    /// published) and `changes` (what changed since): edited where few
    /// changed, built afresh after a synchronisation or when most did.
    pub fn set_after(&self, set: &ContainerSet, changes: &Changes) -> ContainerSet {
        let updated = match changes {
            Changes::Some(m) if m.len() <= set.containers.len() / 4 + 16 => {
                set.updated(m.iter().map(|(id, before)| (before.as_ref(), self.get(id))))
            }
            _ => None,
        };
        updated.unwrap_or_else(|| ContainerSet::build(self.containers()))
    }

    /// What changed in the alive set since the last call.
    pub fn take_changes(&mut self) -> Changes {
        std::mem::take(&mut self.changes)
    }

    /// True if nothing changed since the last take.
    pub fn changes_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// True if the alive set changed since the last take.
    pub fn take_changed(&mut self) -> bool {
        !self.take_changes().is_empty()
    }

    /// How many events are remembered for outstanding tickets (for tests of
    /// the memory bound).
    pub fn remembered(&self) -> usize {
        self.deaths.len() + self.pauses.len() + self.renames.len()
    }

    /// How many tickets are outstanding.
    pub fn outstanding(&self) -> usize {
        self.outstanding.values().sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap as Map;

    fn c(id: &str, pid: i32, paused: bool) -> Container {
        Container::new(id.into(), id.into(), pid, paused, Map::new())
    }

    fn ev(id: &str, kind: EventKind) -> Event {
        Event::new(id, kind)
    }

    fn state(t: &Tracker) -> Vec<(String, i32, bool, String)> {
        let mut v: Vec<_> =
            t.containers().map(|c| (c.id().to_string(), c.pid, c.paused, c.name().to_string())).collect();
        v.sort();
        v
    }

    #[test]
    fn an_observation_older_than_a_death_is_dropped() {
        let mut t = Tracker::new();
        let list = t.ticket();
        assert!(t.apply_event(&ev("a", EventKind::Died)).is_none());
        t.observe(&list, c("a", 1, false));
        t.observe(&list, c("b", 2, false));
        t.done(list);
        assert_eq!(state(&t), [("b".into(), 2, false, "b".into())]);
        assert_eq!((t.remembered(), t.outstanding()), (0, 0), "nothing remembered without outstanding tickets");
    }

    #[test]
    fn compacting_keeps_every_record_and_what_observations_they_win_over() {
        let mut t = Tracker::new();
        let list = t.ticket();
        t.observe(&list, c("a", 1, false));
        t.observe(&list, c("b", 2, true));
        t.done(list);
        let _ = t.take_changes();
        let before: Vec<Arc<Container>> = ["a", "b"].iter().map(|id| Arc::clone(t.get(id).unwrap())).collect();
        let stale = t.ticket();
        t.apply_event(&ev("x", EventKind::Died));
        let newer = t.ticket();
        t.observe(&newer, c("a", 5, false));
        t.compact();
        for b in &before {
            let now = t.get(b.id()).unwrap();
            assert!(!Arc::ptr_eq(now, b) && (b.id() == "a" || **now == **b), "{now:?} against {b:?}");
        }
        assert_eq!(t.take_changes(), Changes::All);
        // Each record keeps the point it was observed at: an older
        // observation still does not replace it.
        assert!(!t.observe(&stale, c("a", 9, false)));
        assert_eq!(t.get("a").unwrap().pid, 5);
        t.done(stale);
        t.done(newer);
        assert_eq!(state(&t), [("a".into(), 5, false, "a".into()), ("b".into(), 2, true, "b".into())]);
    }

    #[test]
    fn a_restart_brings_its_own_inspection() {
        let mut t = Tracker::new();
        let list = t.ticket();
        t.apply_event(&ev("a", EventKind::Died));
        let inspect = t.apply_event(&ev("a", EventKind::Started)).expect("start asks for an inspection");
        // The inspection answers first, then the old list.
        t.observe(&inspect, c("a", 2, false));
        t.done(inspect);
        t.observe(&list, c("a", 1, false));
        t.done(list);
        assert_eq!(state(&t), [("a".into(), 2, false, "a".into())]);
    }

    #[test]
    fn later_pauses_and_renames_override_an_older_observation() {
        let mut t = Tracker::new();
        let list = t.ticket();
        t.apply_event(&ev("a", EventKind::Paused));
        t.apply_event(&ev("a", EventKind::Renamed("new".into())));
        t.observe(&list, c("a", 1, false));
        assert_eq!(state(&t), [("a".into(), 1, true, "new".into())]);
        // Events after the observation patch the record directly.
        t.apply_event(&ev("a", EventKind::Unpaused));
        assert_eq!(state(&t), [("a".into(), 1, false, "new".into())]);
        t.done(list);
        assert_eq!(t.remembered(), 0);
    }

    #[test]
    fn an_older_observation_never_replaces_a_newer_one() {
        let mut t = Tracker::new();
        let old = t.ticket();
        if let Some(tk) = t.apply_event(&ev("x", EventKind::Started)) {
            t.done(tk);
        }
        let new = t.ticket();
        t.observe(&new, c("a", 1, true));
        t.observe(&old, c("a", 1, false));
        assert_eq!(state(&t), [("a".into(), 1, true, "a".into())]);
        t.done(old);
        t.done(new);
    }

    #[test]
    fn changes_are_reported_once_and_only_when_real() {
        let mut t = Tracker::new();
        assert!(!t.take_changed());
        let tk = t.ticket();
        t.observe(&tk, c("a", 1, false));
        t.done(tk);
        assert!(t.take_changed());
        assert!(!t.take_changed());
        t.apply_event(&ev("a", EventKind::Unpaused));
        t.apply_event(&ev("ghost", EventKind::Died));
        assert!(!t.take_changed(), "no-op events change nothing");
        t.apply_event(&ev("a", EventKind::Paused));
        assert!(t.take_changed());
        t.reset();
        assert!(t.is_empty() && t.take_changed());
    }

    #[test]
    fn an_audit_repairs_what_events_missed_and_respects_what_came_after_it() {
        let mut t = Tracker::new();
        let tk = t.ticket();
        for (id, pid) in [("gone", 1), ("paused", 2), ("restarted", 3), ("fine", 4), ("died-late", 5)] {
            t.observe(&tk, c(id, pid, false));
        }
        t.done(tk);
        let audit = t.ticket();
        // After the audit's list was asked for: a start and a pause, applied
        // before its answer arrives.
        let late = t.apply_event(&ev("late", EventKind::Started)).unwrap();
        t.observe(&late, c("late", 9, false));
        t.done(late);
        t.apply_event(&ev("fine", EventKind::Paused));
        t.apply_event(&ev("died-late", EventKind::Died));
        let listed = [
            ("paused".to_string(), 2, Some(true)),
            ("restarted".to_string(), 33, Some(false)),
            ("fine".to_string(), 4, Some(false)),
            ("missed".to_string(), 0, None),
            ("died-late".to_string(), 5, Some(false)),
        ];
        let (repaired, inspect) = t.audit(&audit, &listed);
        t.done(audit);
        assert_eq!(repaired, 2, "gone removed, paused set");
        assert_eq!(inspect, ["restarted", "missed"]);
        assert_eq!(
            state(&t),
            [
                ("fine".into(), 4, true, "fine".into()),
                ("late".into(), 9, false, "late".into()),
                ("paused".into(), 2, true, "paused".into()),
                ("restarted".into(), 3, false, "restarted".into()),
            ],
            "the later pause of fine and the later start of late win; died-late stays dead"
        );
    }

    #[test]
    fn memory_stays_bounded_by_the_work_in_flight() {
        let mut t = Tracker::new();
        let long = t.ticket();
        for i in 0..1000 {
            let id = format!("c{i}");
            if let Some(tk) = t.apply_event(&ev(&id, EventKind::Started)) {
                t.observe(&tk, c(&id, i + 1, false));
                t.done(tk);
            }
            t.apply_event(&ev(&id, EventKind::Died));
        }
        assert_eq!(t.remembered(), 1000, "deaths kept for the outstanding ticket");
        t.done(long);
        assert_eq!((t.remembered(), t.outstanding(), t.len()), (0, 0, 0));
    }
}
