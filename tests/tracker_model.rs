//! Model check of the tracker: random interleavings of engine changes, event
//! deliveries, list and inspect executions and answers (in any order),
//! failed requests and stream breaks, compared with the engine's real state
//! once everything has settled. The driver does what the watch loop does:
//! an inspection per applied start, a fresh list after every break.

use std::collections::{BTreeMap, HashMap, VecDeque};

use proptest::prelude::*;
use whalewatcher::core::tracker::{Ticket, Tracker};
use whalewatcher::core::{Container, Event, EventKind};

#[derive(Clone, Debug)]
enum Op {
    /// The engine starts container N (if it is not alive).
    Start(u8),
    /// The engine kills container N (if alive).
    Kill(u8),
    /// The engine pauses or resumes container N (if alive and different).
    Pause(u8, bool),
    /// The engine renames container N (if alive).
    Rename(u8, u8),
    /// The oldest queued event reaches the tracker.
    Deliver,
    /// A pending request runs at the engine now.
    Execute(u8),
    /// An executed request's answer reaches the tracker.
    Answer(u8),
    /// An executed request fails with a broken connection: resync.
    Fail(u8),
    /// The event stream breaks: resync.
    Break,
}

fn op() -> impl Strategy<Value = Op> {
    let id = 0u8..6;
    prop_oneof![
        3 => id.clone().prop_map(Op::Start),
        2 => id.clone().prop_map(Op::Kill),
        2 => (id.clone(), any::<bool>()).prop_map(|(i, p)| Op::Pause(i, p)),
        1 => (id, 0u8..3).prop_map(|(i, n)| Op::Rename(i, n)),
        6 => Just(Op::Deliver),
        4 => any::<u8>().prop_map(Op::Execute),
        4 => any::<u8>().prop_map(Op::Answer),
        1 => any::<u8>().prop_map(Op::Fail),
        1 => Just(Op::Break),
    ]
}

enum Request {
    List,
    Inspect(String),
}

#[allow(clippy::large_enum_variant)] // a test model: clarity over size
enum Answer {
    /// A containerd-like list: full records.
    Full(Vec<Container>),
    /// A Docker-like list: IDs to inspect.
    Ids(Vec<String>),
    Inspected(Option<Container>),
}

struct Sim {
    engine: BTreeMap<String, Container>,
    next_pid: i32,
    queue: VecDeque<Event>,
    pending: Vec<(Request, Ticket)>,
    executed: Vec<(Answer, Ticket)>,
    tracker: Tracker,
    full_lists: bool,
}

impl Sim {
    fn new(initial: &[u8], full_lists: bool) -> Sim {
        let mut sim = Sim {
            engine: BTreeMap::new(),
            next_pid: 100,
            queue: VecDeque::new(),
            pending: Vec::new(),
            executed: Vec::new(),
            tracker: Tracker::new(),
            full_lists,
        };
        for &n in initial {
            sim.engine_start(n);
        }
        sim.queue.clear(); // before the subscription: unheard
        sim.resync();
        sim
    }

    fn engine_start(&mut self, n: u8) {
        let id = format!("c{n}");
        if self.engine.contains_key(&id) {
            return;
        }
        self.next_pid += 1;
        let c = Container::new(id.clone(), format!("name-{id}"), self.next_pid, false, HashMap::new());
        self.engine.insert(id.clone(), c);
        self.queue.push_back(Event::new(id, EventKind::Started));
    }

    /// What the watch loop does after a break: forget, resubscribe (events
    /// not yet delivered are lost with the old stream), then list.
    fn resync(&mut self) {
        self.tracker.reset();
        self.queue.clear();
        self.pending.clear();
        self.executed.clear();
        let t = self.tracker.ticket();
        self.pending.push((Request::List, t));
    }

    fn apply(&mut self, op: &Op) {
        match *op {
            Op::Start(n) => self.engine_start(n),
            Op::Kill(n) => {
                let id = format!("c{n}");
                if self.engine.remove(&id).is_some() {
                    self.queue.push_back(Event::new(id, EventKind::Died));
                }
            }
            Op::Pause(n, paused) => {
                let id = format!("c{n}");
                if let Some(c) = self.engine.get_mut(&id) {
                    if c.paused != paused {
                        c.paused = paused;
                        self.queue
                            .push_back(Event::new(id, if paused { EventKind::Paused } else { EventKind::Unpaused }));
                    }
                }
            }
            Op::Rename(n, to) => {
                let id = format!("c{n}");
                if let Some(c) = self.engine.get_mut(&id) {
                    let name = format!("renamed-{to}");
                    if c.name() != name {
                        *c = c.with_name(&name);
                        self.queue.push_back(Event::new(id, EventKind::Renamed(name)));
                    }
                }
            }
            Op::Deliver => self.deliver(),
            Op::Execute(k) => self.execute(k as usize),
            Op::Answer(k) => self.answer(k as usize),
            Op::Fail(k) => {
                if !self.executed.is_empty() {
                    let _ = self.executed.remove(k as usize % self.executed.len());
                    self.resync();
                }
            }
            Op::Break => self.resync(),
        }
    }

    fn deliver(&mut self) {
        if let Some(ev) = self.queue.pop_front() {
            if let Some(t) = self.tracker.apply_event(&ev) {
                self.pending.push((Request::Inspect(ev.id), t));
            }
        }
    }

    fn execute(&mut self, k: usize) {
        if self.pending.is_empty() {
            return;
        }
        let (req, t) = self.pending.remove(k % self.pending.len());
        let answer = match req {
            Request::List if self.full_lists => Answer::Full(self.engine.values().cloned().collect()),
            Request::List => Answer::Ids(self.engine.keys().cloned().collect()),
            Request::Inspect(id) => Answer::Inspected(self.engine.get(&id).cloned()),
        };
        self.executed.push((answer, t));
    }

    fn answer(&mut self, k: usize) {
        if self.executed.is_empty() {
            return;
        }
        let (answer, t) = self.executed.remove(k % self.executed.len());
        match answer {
            Answer::Full(cs) => cs.into_iter().for_each(|c| {
                self.tracker.observe(&t, c);
            }),
            Answer::Ids(ids) => {
                for id in ids {
                    let it = self.tracker.ticket();
                    self.pending.push((Request::Inspect(id), it));
                }
            }
            Answer::Inspected(Some(c)) => {
                self.tracker.observe(&t, c);
            }
            Answer::Inspected(None) => {}
        }
        self.tracker.done(t);
    }

    fn settle(&mut self) {
        while !(self.queue.is_empty() && self.pending.is_empty() && self.executed.is_empty()) {
            while !self.queue.is_empty() {
                self.deliver();
            }
            while !self.pending.is_empty() {
                self.execute(0);
            }
            while !self.executed.is_empty() {
                self.answer(0);
            }
        }
    }

    fn tracked(&self) -> Vec<(String, i32, bool, String)> {
        let mut v: Vec<_> =
            self.tracker.containers().map(|c| (c.id().to_string(), c.pid, c.paused, c.name().to_string())).collect();
        v.sort();
        v
    }

    fn truth(&self) -> Vec<(String, i32, bool, String)> {
        self.engine.values().map(|c| (c.id().to_string(), c.pid, c.paused, c.name().to_string())).collect()
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 6000, max_shrink_iters: 20_000, ..ProptestConfig::default() })]

    #[test]
    fn settles_to_the_engines_alive_set(
        initial in proptest::collection::vec(0u8..6, 0..4),
        ops in proptest::collection::vec(op(), 0..80),
        full_lists in any::<bool>(),
    ) {
        let mut sim = Sim::new(&initial, full_lists);
        for op in &ops {
            sim.apply(op);
        }
        sim.settle();
        prop_assert_eq!(sim.tracked(), sim.truth());
        prop_assert_eq!(sim.tracker.outstanding(), 0);
        prop_assert_eq!(sim.tracker.remembered(), 0, "nothing remembered once all requests are done");
    }
}
