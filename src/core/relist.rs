//! Events made by relisting, for engines that send none (CRI runtimes by
//! default, podman without an event log): every interval the engine is
//! listed again and compared with the previous list; what appeared
//! started, what vanished died, and pause changes are pauses and resumes.
//!
//! The first list to compare with is taken while connecting, before the
//! connection is handed to the watch loop, so every change after connecting
//! shows up in some relist: the same promise an event stream makes. A
//! change that comes and goes between two relists is not seen; that is the
//! price of relisting, and why the interval is the caller's to choose.

use std::collections::HashMap;
use std::time::Duration;

use futures_util::future::BoxFuture;
use futures_util::stream::{self, BoxStream, StreamExt};
use tokio::time::{timeout, MissedTickBehavior};

use super::engine::{EngineError, ErrorKind};
use super::model::{Container, Event, EventKind};

/// What a relist sees of one alive container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seen {
    pub id: String,
    /// The initial process's PID, 0 when the list does not tell (then a
    /// restart under the same ID is not seen; CRI runtimes never do that).
    pub pid: i32,
    pub paused: bool,
}

impl Seen {
    pub fn of(c: &Container) -> Seen {
        Seen { id: c.id().to_string(), pid: c.pid, paused: c.paused }
    }
}

/// The events that turn `before` into `after`.
pub fn compare(before: &HashMap<String, Seen>, after: &HashMap<String, Seen>) -> Vec<Event> {
    let mut events = Vec::new();
    for (id, old) in before {
        match after.get(id) {
            None => events.push(Event::new(id.clone(), EventKind::Died)),
            Some(new) if old.pid != 0 && new.pid != 0 && old.pid != new.pid => {
                events.push(Event::new(id.clone(), EventKind::Died));
                events.push(Event::new(id.clone(), EventKind::Started));
            }
            Some(new) if old.paused != new.paused => {
                let kind = if new.paused { EventKind::Paused } else { EventKind::Unpaused };
                events.push(Event::new(id.clone(), kind));
            }
            Some(_) => {}
        }
    }
    for id in after.keys().filter(|id| !before.contains_key(*id)) {
        events.push(Event::new(id.clone(), EventKind::Started));
    }
    events
}

fn by_id(seen: Vec<Seen>) -> HashMap<String, Seen> {
    seen.into_iter().map(|s| (s.id.clone(), s)).collect()
}

/// A lister: one list of the engine's alive containers per call.
pub type Lister = Box<dyn FnMut() -> BoxFuture<'static, Result<Vec<Seen>, EngineError>> + Send>;

struct Relisting {
    previous: HashMap<String, Seen>,
    list: Lister,
    ticks: tokio::time::Interval,
    call_timeout: Duration,
    failed: bool,
}

/// The event stream of relisting with `list` every `interval`, starting
/// from `baseline` (the list taken while connecting). Each list is bounded
/// by `call_timeout`; a failed list ends the stream with its error, which
/// makes the watcher resynchronise.
pub fn events(
    interval: Duration,
    call_timeout: Duration,
    baseline: Vec<Seen>,
    list: Lister,
) -> BoxStream<'static, Result<Event, EngineError>> {
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let state = Relisting { previous: by_id(baseline), list, ticks, call_timeout, failed: false };
    stream::unfold(state, |mut st| async move {
        if st.failed {
            return None;
        }
        st.ticks.tick().await;
        let listed = match timeout(st.call_timeout, (st.list)()).await {
            Ok(r) => r,
            Err(_) => {
                Err(EngineError::new(ErrorKind::Timeout, format!("relist: no answer within {:?}", st.call_timeout)))
            }
        };
        let batch = match listed {
            Ok(now) => {
                let now = by_id(now);
                let events = compare(&st.previous, &now);
                st.previous = now;
                events.into_iter().map(Ok).collect::<Vec<_>>()
            }
            Err(e) => {
                st.failed = true;
                vec![Err(e)]
            }
        };
        Some((stream::iter(batch), st))
    })
    .flatten()
    .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    fn seen(id: &str, pid: i32, paused: bool) -> Seen {
        Seen { id: id.into(), pid, paused }
    }

    fn sorted(mut v: Vec<Event>) -> Vec<Event> {
        v.sort_by(|a, b| (&a.id, format!("{:?}", a.kind)).cmp(&(&b.id, format!("{:?}", b.kind))));
        v
    }

    #[test]
    fn differences_become_events() {
        let before = by_id(vec![
            seen("gone", 1, false),
            seen("pause", 2, false),
            seen("restart", 3, false),
            seen("same", 4, true),
        ]);
        let after = by_id(vec![
            seen("pause", 2, true),
            seen("restart", 33, false),
            seen("same", 4, true),
            seen("new", 5, false),
        ]);
        assert_eq!(
            sorted(compare(&before, &after)),
            [
                Event::new("gone", EventKind::Died),
                Event::new("new", EventKind::Started),
                Event::new("pause", EventKind::Paused),
                Event::new("restart", EventKind::Died),
                Event::new("restart", EventKind::Started),
            ]
        );
        let unknown_pids = by_id(vec![seen("a", 0, false)]);
        assert!(compare(&unknown_pids, &by_id(vec![seen("a", 0, false)])).is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn the_stream_relists_at_its_interval_and_ends_on_a_failure() {
        type Lists = Arc<Mutex<Vec<Result<Vec<Seen>, EngineError>>>>;
        let lists: Lists = Arc::new(Mutex::new(vec![
            Err(EngineError::new(ErrorKind::Unreachable, "gone")),
            Ok(vec![seen("b", 2, false)]),
            Ok(vec![seen("a", 1, false)]),
        ]));
        let calls = Arc::clone(&lists);
        let lister: Lister = Box::new(move || {
            let next = calls.lock().unwrap().pop().expect("a list");
            Box::pin(async move { next })
        });
        let start = tokio::time::Instant::now();
        let mut s = events(Duration::from_secs(1), Duration::from_secs(5), vec![seen("a", 1, false)], lister);
        let mut got = Vec::new();
        while let Some(item) = s.next().await {
            got.push((item.map_err(|e| e.msg), start.elapsed().as_secs()));
        }
        assert_eq!(
            got,
            [
                (Ok(Event::new("a", EventKind::Died)), 2),
                (Ok(Event::new("b", EventKind::Started)), 2),
                (Err("gone".to_string()), 3),
            ]
        );
    }
}
