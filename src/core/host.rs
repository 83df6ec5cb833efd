//! One watcher for every engine on the host: discovery at start and every
//! `discover_interval`, a watch loop per engine found, all publishing into
//! one snapshot. An engine keeps its index for the watcher's life (found
//! again at the same endpoint, it gets its old index back).

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::discovery::{discover, Found};
use super::engines;
use super::model::EngineState;
use super::options::{Options, DISCOVER_PROBE_TIMEOUT};
use super::publish::Publisher;
use super::retry::Retry;
use super::shared::ReadyRule;
use super::watch::WatchLoop;

/// One engine the host watcher knows.
struct Known {
    index: usize,
    /// Stops its watch loop; `None` once retired.
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

/// The watcher of all engines.
pub struct Host<R> {
    publisher: Arc<Publisher<R>>,
    opts: Options,
    known: HashMap<String, Known>,
}

impl<R: Send + Sync + 'static> Host<R> {
    pub fn new(publisher: Arc<Publisher<R>>, opts: Options) -> Self {
        Host { publisher, opts, known: HashMap::new() }
    }

    /// Discovers and watches until `stop` fires.
    pub async fn run(mut self, mut stop: oneshot::Receiver<()>) {
        let found = tokio::select! {
            _ = &mut stop => return self.stop_all().await,
            f = discover(DISCOVER_PROBE_TIMEOUT) => f,
        };
        // Readiness waits for the engines found now; more may come later.
        self.publisher
            .shared()
            .set_rule(ReadyRule { required: Some(found.len()), more_can_come: self.opts.discover_interval.is_some() });
        self.adopt(found);
        if self.known.is_empty() {
            self.publisher.touch();
        }
        let Some(interval) = self.opts.discover_interval else {
            let _ = stop.await;
            return self.stop_all().await;
        };
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = &mut stop => return self.stop_all().await,
                _ = ticks.tick() => {}
            }
            let found = tokio::select! {
                _ = &mut stop => return self.stop_all().await,
                f = discover(DISCOVER_PROBE_TIMEOUT) => f,
            };
            self.retire_vanished(&found).await;
            self.adopt(found);
        }
    }

    /// Starts watching what is new, and what gave up but is back.
    fn adopt(&mut self, found: Vec<Found>) {
        for f in found {
            let key = f.endpoint.to_string();
            let running = self.known.get(&key).is_some_and(|k| k.task.as_ref().is_some_and(|t| !t.is_finished()));
            if running {
                continue;
            }
            let engine = match engines::build(f.kind, &f.endpoint, &self.opts, &f.docker_namespaces) {
                Ok(e) => e,
                Err(_) => continue,
            };
            let index = match self.known.get(&key) {
                Some(k) => k.index,
                None => self.publisher.add(Arc::new(engine.describe())),
            };
            let watch = WatchLoop::new(
                engine,
                index,
                Arc::clone(&self.publisher),
                Retry::new(self.opts.backoff, self.opts.max_elapsed),
                self.opts.call_timeout,
            )
            .leaving_on_give_up()
            .auditing_every(self.opts.audit_interval);
            let (stop, stopped) = oneshot::channel();
            let task = tokio::spawn(watch.run(stopped));
            self.known.insert(key, Known { index, stop: Some(stop), task: Some(task) });
        }
    }

    /// Engines that discovery no longer finds and that lost their
    /// connection give up at once: their containers leave the snapshot.
    async fn retire_vanished(&mut self, found: &[Found]) {
        let present: Vec<String> = found.iter().map(|f| f.endpoint.to_string()).collect();
        let current = self.publisher.states();
        for (key, k) in self.known.iter_mut() {
            if present.contains(key) || k.stop.is_none() {
                continue;
            }
            let connected = current.get(k.index).is_some_and(|s| *s == EngineState::Synced);
            let running = k.task.as_ref().is_some_and(|t| !t.is_finished());
            if running && connected {
                continue;
            }
            if let Some(stop) = k.stop.take() {
                let _ = stop.send(());
            }
            if let Some(task) = k.task.take() {
                let _ = task.await;
            }
            self.publisher.retire(k.index, format!("{key}: no longer found on this host"));
        }
    }

    async fn stop_all(&mut self) {
        for k in self.known.values_mut() {
            if let Some(stop) = k.stop.take() {
                let _ = stop.send(());
            }
            if let Some(task) = k.task.take() {
                let _ = task.await;
            }
        }
    }
}
