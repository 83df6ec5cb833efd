//! Profiling driver: the cost of one change (a pause or unpause) at 10 000
//! tracked containers, through the watch loop's publication path: the
//! tracker applies the event, the engine's container set is made and
//! handed to the shared state, and a reader renders the C view.
//! `--cfg before` builds it against the code before issue 12 (337d499).
//! Usage: one_change [changes [containers]] (100, 10 000); see
//! bench/profile/run.sh.
use std::collections::HashMap;
use std::sync::Arc;

use whalewatcher::core::model::{Container, EngineInfo, EngineState, EngineStatus, Event, EventKind};
use whalewatcher::core::options::EngineKind;
use whalewatcher::core::publish::{Publisher, Render};
use whalewatcher::core::shared::Shared;
use whalewatcher::core::snapshot::{ContainerSet, EngineSnapshot};
use whalewatcher::core::tracker::Tracker;
use whalewatcher::ffi::portfolio::{self, PortfolioOwner};

/// As bench/main.rs `micro`: 6 of 7 containers with 10 labels (compose
/// project and service among them), 10 per project.
fn mk(i: usize) -> Container {
    let mut labels = HashMap::new();
    if i % 7 != 6 {
        labels.insert("com.docker.compose.project".to_string(), format!("proj-{}", i / 10));
        labels.insert("com.docker.compose.service".to_string(), format!("svc-{}", i % 10));
        for k in 0..8 {
            labels.insert(format!("com.docker.compose.l{k}"), format!("value-{i}-{k}-0123456789abcdef"));
        }
    }
    Container::new(id(i), format!("c-{i}"), 1000 + i as i32, false, labels)
}

fn id(i: usize) -> String {
    format!("{:064x}", i * 7919 + 1)
}

pub struct Engine {
    tracker: Tracker,
    set: Arc<ContainerSet>,
    info: Arc<EngineInfo>,
    status: EngineStatus,
    publisher: Arc<Publisher<PortfolioOwner>>,
}

impl Engine {
    /// As src/core/watch.rs `publish_containers` and `publish`.
    fn publish_containers(&mut self) {
        #[cfg(before)]
        {
            self.set = Arc::new(ContainerSet::build(self.tracker.containers()));
        }
        #[cfg(not(before))]
        {
            let changes = self.tracker.take_changes();
            self.set = Arc::new(self.tracker.set_after(&self.set, &changes));
        }
        let part =
            EngineSnapshot { info: Arc::clone(&self.info), status: self.status.clone(), set: Arc::clone(&self.set) };
        self.publisher.update(0, Arc::new(part));
    }
}

/// The measured part (callgrind --toggle-collect=ww_profile_changes): one
/// event applied and published per change, pause and unpause alternating
/// over the containers, and each generation taken once as a reader would
/// (which renders it where rendering is lazy).
#[no_mangle]
#[inline(never)]
pub fn ww_profile_changes(e: &mut Engine, shared: &Shared<PortfolioOwner>, changes: usize, n: usize) {
    for g in 0..changes {
        let i = (g * 7919) % n;
        let kind = if (g / n) % 2 == 0 { EventKind::Paused } else { EventKind::Unpaused };
        let ticket = e.tracker.apply_event(&Event::new(id(i), kind));
        assert!(ticket.is_none());
        #[cfg(before)]
        let changed = e.tracker.take_changed();
        #[cfg(not(before))]
        let changed = !e.tracker.changes_empty();
        assert!(changed);
        e.publish_containers();
        drop(shared.current());
    }
}

fn main() {
    let arg = |k: usize, default: usize| std::env::args().nth(k).map_or(default, |a| a.parse().expect("a number"));
    let (changes, n) = (arg(1, 100), arg(2, 10_000));
    let info = Arc::new(EngineInfo::new(EngineKind::Docker, "docker.com", "unix:///x".into()));
    let render: Render<PortfolioOwner> = Arc::new(portfolio::render);
    let (publisher, shared) = Publisher::new(vec![Arc::clone(&info)], render);
    let mut tracker = Tracker::new();
    let ticket = tracker.ticket();
    for i in 0..n {
        tracker.observe(&ticket, mk(i));
    }
    tracker.done(ticket);
    let status = EngineStatus { state: EngineState::Synced, synced_at_ns: 1, ..Default::default() };
    let mut e = Engine { tracker, set: Arc::new(ContainerSet::empty()), info, status, publisher };
    // The synchronisation's publication (from scratch in both versions).
    e.publish_containers();
    drop(shared.current());
    let g0 = shared.generation();
    ww_profile_changes(&mut e, &shared, changes, n);
    let view = shared.current();
    let paused = (0..view.portfolio().containers_len)
        .filter(|&k| unsafe { (*view.portfolio().containers.add(k)).paused })
        .count();
    println!("{} changes published (generations {}..{}), {} of {} paused", changes, g0, shared.generation(), paused, n);
}
