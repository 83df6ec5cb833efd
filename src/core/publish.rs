//! Publication: the engines' parts of the snapshot, put together under one
//! growing generation and handed to [`Shared`] (which renders it when a
//! caller first asks for it).

use std::sync::{Arc, Mutex, PoisonError};

use super::model::EngineInfo;
use super::shared::Shared;
use super::snapshot::{EngineSnapshot, Snapshot};

/// Turns a snapshot into what callers are handed, given what an earlier
/// snapshot was turned into (to reuse what did not change).
pub type Render<R> = Arc<dyn Fn(&Snapshot, Option<&R>) -> Arc<R> + Send + Sync>;

struct Parts {
    generation: u64,
    engines: Vec<Arc<EngineSnapshot>>,
}

/// Puts the engines' parts together. Each engine's watch loop updates its
/// own part; every update is a new generation.
pub struct Publisher<R> {
    parts: Mutex<Parts>,
    shared: Arc<Shared<R>>,
}

impl<R> Publisher<R> {
    /// A publisher for `engines` (in index order), all connecting, and the
    /// shared state showing that (generation 0).
    pub fn new(engines: Vec<Arc<EngineInfo>>, render: Render<R>) -> (Arc<Self>, Arc<Shared<R>>) {
        let engines: Vec<Arc<EngineSnapshot>> =
            engines.into_iter().map(|info| Arc::new(EngineSnapshot::connecting(info))).collect();
        let initial = Snapshot { generation: 0, engines: engines.clone() };
        let shared = Arc::new(Shared::new(&initial, render));
        let parts = Mutex::new(Parts { generation: 0, engines });
        let publisher = Publisher { parts, shared: Arc::clone(&shared) };
        (Arc::new(publisher), shared)
    }

    /// Replaces engine `index`'s part and publishes the result.
    pub fn update(&self, index: usize, part: Arc<EngineSnapshot>) {
        let mut parts = self.parts.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(slot) = parts.engines.get_mut(index) else { return };
        *slot = part;
        self.publish(&mut parts);
    }

    /// Adds an engine (connecting, without containers) and publishes;
    /// returns its index, which it keeps.
    pub fn add(&self, info: Arc<EngineInfo>) -> usize {
        let mut parts = self.parts.lock().unwrap_or_else(PoisonError::into_inner);
        parts.engines.push(Arc::new(EngineSnapshot::connecting(info)));
        self.publish(&mut parts);
        parts.engines.len() - 1
    }

    /// Publishes the engines as they are (a new generation), e.g. after
    /// discovery found none.
    pub fn touch(&self) {
        let mut parts = self.parts.lock().unwrap_or_else(PoisonError::into_inner);
        self.publish(&mut parts);
    }

    /// Engine `index` is watched no more: it gave up (`why`), and its
    /// containers leave the snapshot.
    pub fn retire(&self, index: usize, why: String) {
        let mut parts = self.parts.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(slot) = parts.engines.get_mut(index) else { return };
        let mut part = (**slot).clone();
        part.status.state = super::model::EngineState::GaveUp;
        part.status.last_error = why;
        part.set = Arc::new(super::snapshot::ContainerSet::empty());
        *slot = Arc::new(part);
        self.publish(&mut parts);
    }

    /// Every engine's state, by index.
    pub fn states(&self) -> Vec<super::model::EngineState> {
        self.parts.lock().unwrap_or_else(PoisonError::into_inner).engines.iter().map(|e| e.status.state).collect()
    }

    /// The shared state callers read.
    pub fn shared(&self) -> &Arc<Shared<R>> {
        &self.shared
    }

    fn publish(&self, parts: &mut Parts) {
        parts.generation += 1;
        let snap = Snapshot { generation: parts.generation, engines: parts.engines.clone() };
        self.shared.publish(snap);
    }
}
