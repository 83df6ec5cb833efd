//! Sustained churn: 10 000 containers in 100 projects, 1 000 engine events a
//! second (fake Docker) for a while; the watcher thread's CPU, the time from
//! each event to its visibility, and the process's memory before and after.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::fake_docker::{FakeContainer, FakeDocker};
use crate::{find, ms, pct, ready, watcher, watcher_cpu_ticks, with_snapshot, Out, W};
use whalewatcher::ffi::{ww_wait, WW_ENGINE_DOCKER};

/// What an event should make visible: the container present (or gone), or
/// its paused state.
#[derive(Clone)]
enum Expect {
    Paused(String, bool),
    Present(String),
    Gone(String),
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// The bytes malloc has handed out and not got back (all arenas), in KiB.
fn heap_kib() -> u64 {
    // SAFETY: no arguments; reads the allocator's statistics.
    let mi = unsafe { libc::mallinfo2() };
    ((mi.uordblks + mi.hblkhd) / 1024) as u64
}

/// The CPU time of the calling thread, in ms.
fn thread_cpu_ms() -> f64 {
    let mut t = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: a valid timespec to fill.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) };
    t.tv_sec as f64 * 1e3 + t.tv_nsec as f64 / 1e6
}

/// Watches `pending` (events with the instant they were made at the fake)
/// from a thread that sleeps in `ww_wait`: each new generation is checked
/// for the events it makes visible. Returns the latencies and the thread's
/// CPU time (ms): its `ww_snapshot` calls lay out each generation it takes.
fn observe(w: Arc<W>, pending: Arc<Mutex<VecDeque<(Instant, Expect)>>>, stop: Arc<AtomicBool>) -> (Vec<f64>, f64) {
    let cpu0 = thread_cpu_ms();
    let mut lat = Vec::new();
    let mut generation = 0;
    let mut stopped: Option<Instant> = None;
    loop {
        if stop.load(Ordering::Relaxed) {
            let since = *stopped.get_or_insert_with(Instant::now);
            // What is still unseen 5 s after the end stays unseen.
            if pending.lock().unwrap().is_empty() || since.elapsed() > Duration::from_secs(5) {
                return (lat, thread_cpu_ms() - cpu0);
            }
        }
        let _ = unsafe { ww_wait(w.0, generation, 200) };
        let now = Instant::now();
        generation = with_snapshot(&w, |p| {
            // A start shows after its inspection, later pauses may show
            // before it: every pending event is checked.
            pending.lock().unwrap().retain(|(t0, e)| {
                let seen = match e {
                    Expect::Paused(id, paused) => find(p, id).is_some_and(|c| c.paused == *paused),
                    Expect::Present(id) => find(p, id).is_some(),
                    Expect::Gone(id) => find(p, id).is_none(),
                };
                if seen {
                    lat.push((now - *t0).as_secs_f64() * 1e3);
                }
                !seen
            });
            p.generation
        });
    }
}

pub fn sustained_rows(o: &mut Out, quick: bool) {
    const N: usize = 10_000;
    const PROJECTS: usize = 100;
    const RATE: u64 = 1_000;
    let secs: u64 = if quick { 10 } else { 60 };
    let fake = FakeDocker::start();
    let ids: Vec<String> = (0..N)
        .map(|i| {
            let mut c = FakeContainer::new(&format!("s-{i}"))
                .with_label("com.docker.compose.project", &format!("project-{:03}", i % PROJECTS));
            for l in 0..9 {
                c = c.with_label(&format!("label.{l}"), &format!("value-{l}-{i}"));
            }
            fake.add(c)
        })
        .collect();
    let w = Arc::new(watcher(WW_ENGINE_DOCKER, &fake.endpoint()));
    ready(&w);
    // The level to come back to: a watcher whose snapshot has been taken
    // (laid out for C, as it stays after the churn).
    with_snapshot(&w, |_| ());
    std::thread::sleep(Duration::from_millis(500));
    let (rss_before, heap_before) = (rss_kib(), heap_kib());
    let pending = Arc::new(Mutex::new(VecDeque::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let observer = {
        let (w, pending, stop) = (Arc::clone(&w), Arc::clone(&pending), Arc::clone(&stop));
        std::thread::spawn(move || observe(w, pending, stop))
    };
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    let cpu0 = watcher_cpu_ticks();
    let t0 = Instant::now();
    let (mut events, mut emitted, mut next_name) = (0u64, 0u64, 0usize);
    // The first N containers are paused and resumed, never killed: a pause
    // is undone 100 pauses later, so that each change stays to be seen.
    let mut paused: VecDeque<String> = VecDeque::new();
    // Containers started during the churn, killed oldest first once there
    // are 100: the set stays at about N.
    let mut started: VecDeque<String> = VecDeque::new();
    let tick = Duration::from_nanos(1_000_000_000 / RATE);
    while t0.elapsed() < Duration::from_secs(secs) {
        // One event per tick, in turn: pause, unpause, start, kill.
        let k = events as usize;
        let expect = match k % 4 {
            0 => {
                let at = ids[(k / 4 * 7919) % N].clone();
                if paused.contains(&at) {
                    events += 1;
                    continue;
                }
                fake.pause(&at, true);
                paused.push_back(at.clone());
                Some(Expect::Paused(at, true))
            }
            1 if paused.len() > 100 => {
                let at = paused.pop_front().expect("more than 100");
                fake.pause(&at, false);
                Some(Expect::Paused(at, false))
            }
            2 => {
                let c = FakeContainer::new(&format!("s-new-{next_name}"))
                    .with_label("com.docker.compose.project", &format!("project-{:03}", next_name % PROJECTS));
                next_name += 1;
                let id = fake.run(c);
                started.push_back(id.clone());
                Some(Expect::Present(id))
            }
            3 if started.len() > 100 => {
                let id = started.pop_front().expect("more than 100");
                fake.kill(&id);
                Some(Expect::Gone(id))
            }
            _ => None,
        };
        if let Some(expect) = expect {
            pending.lock().unwrap().push_back((Instant::now(), expect));
            emitted += 1;
        }
        events += 1;
        let due = t0 + tick * events as u32;
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
    let elapsed = t0.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    let (lat, observer_ms) = observer.join().unwrap();
    let cpu_ms = (watcher_cpu_ticks() - cpu0) / hz * 1e3;
    let share = cpu_ms / 10.0 / elapsed;
    let observer_share = observer_ms / 10.0 / elapsed;
    let unseen = pending.lock().unwrap().len();
    let (p99, latencies, seen) = (pct(&lat, 0.99), ms(&lat, "ms"), lat.len());
    // The benchmark's own records go before memory is measured again.
    drop((lat, paused, started, pending));
    std::thread::sleep(Duration::from_secs(2));
    let (rss_after, heap_after) = (rss_kib(), heap_kib());
    o.row(
        "6.churn",
        &format!(
            "sustained churn (fake): {N} containers in {PROJECTS} projects, {:.0} events/s for {elapsed:.0} s \
             (pause, unpause, start, kill in turn)",
            emitted as f64 / elapsed
        ),
        &format!(
            "ww-watcher CPU {share:.1} % of a core (the observing thread, whose ww_snapshot calls lay out each \
             generation it takes, and its checks: {observer_share:.1} %); event→visible {} (n={}, {unseen} never \
             seen); RSS {rss_before} KiB before, {rss_after} KiB 2 s after (heap in use {heap_before} → {heap_after} \
             KiB; the in-process fake engine included; before: once ready and its snapshot taken)",
            latencies, seen
        ),
        &format!("p99 {p99:.2} ms"),
        "≤ 25 % of a core, p99 < 50 ms, memory back to its level",
        &if share <= 25.0 && p99 < 50.0 && unseen == 0 && rss_after <= rss_before + rss_before / 20 {
            "met".to_string()
        } else {
            format!("MISSED (CPU {share:.1} %, p99 {p99:.2} ms, RSS {rss_before} → {rss_after} KiB)")
        },
    );
}
