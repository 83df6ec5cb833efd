//! Soak benchmark (`cargo bench --bench soak`; normally run by bench/soak.sh,
//! which starts the private dockerd and passes it in the environment):
//! one Docker watcher under continuous churn (starts, pauses, kills), the
//! engine restarted periodically, and every sample period the process's
//! RSS, open file descriptors and threads sampled and the snapshot compared
//! with the engine's own list.
//!   SOAK_DOCKER_SOCK      the engine's socket (unix://…)
//!   SOAK_ENGINE_DIR       the engine's directory for tests/engines/dockerd.sh stop|start
//!   SOAK_SECONDS          run length (default 1800)
//!   SOAK_RESTART_SECONDS  engine restart period (default 300; 0 = never)
//!   SOAK_REPORT           Markdown output (table and summary; default target/soak-report.md)
use std::collections::{HashMap, HashSet};
use std::ffi::CStr;
use std::fmt::Write as _;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bollard::models::{ContainerCreateBody, ContainerSummaryStateEnum, HostConfig};
use bollard::query_parameters::{CreateContainerOptions, ListContainersOptions, PruneContainersOptions};
use bollard::Docker;
use whalewatcher::ffi::*;

mod common;
use common::{env_num, ready, watcher_with, W};

const SAMPLE_PERIOD: Duration = Duration::from_secs(10);
const AUDIT_INTERVAL_MS: u32 = 10_000;
const CHURN_PERIOD: Duration = Duration::from_millis(200);
const MIN_ALIVE: usize = 10;
const MAX_ALIVE: usize = 40;

// ---------- the watcher through the C ABI ----------

fn docker_watcher(endpoint: &str) -> W {
    let w = watcher_with(WW_ENGINE_DOCKER, endpoint, |o| o.audit_interval_ms = AUDIT_INTERVAL_MS);
    ready(&w);
    w
}

/// What one snapshot says: container ID → paused, and the engine's state.
struct SnapshotView {
    paused_by_id: HashMap<String, bool>,
    engine_state: ww_engine_state,
    synced_at_ns: i64,
    repairs: u64,
}

fn snapshot_view(w: &W) -> SnapshotView {
    unsafe {
        let mut p: *const ww_portfolio = std::ptr::null();
        assert_eq!(ww_snapshot(w.0, &mut p), WW_STATUS_OK);
        let portfolio = &*p;
        let mut paused_by_id = HashMap::with_capacity(portfolio.containers_len);
        for i in 0..portfolio.containers_len {
            let c = &*portfolio.containers.add(i);
            paused_by_id.insert(CStr::from_ptr(c.id).to_string_lossy().into_owned(), c.paused);
        }
        let engine = &*portfolio.engines;
        let view = SnapshotView {
            paused_by_id,
            engine_state: engine.state,
            synced_at_ns: engine.synced_at_ns,
            repairs: engine.repairs,
        };
        ww_snapshot_free(p);
        view
    }
}

fn state_name(state: ww_engine_state) -> &'static str {
    match state {
        WW_ENGINE_STATE_CONNECTING => "connecting",
        WW_ENGINE_STATE_SYNCED => "synced",
        WW_ENGINE_STATE_RESYNCING => "resyncing",
        WW_ENGINE_STATE_GAVE_UP => "gave-up",
        _ => "?",
    }
}

// ---------- the engine ----------

fn docker_at(sock: &str) -> Docker {
    Docker::connect_with_unix(sock.trim_start_matches("unix://"), 30, bollard::API_DEFAULT_VERSION).unwrap()
}

/// The engine's alive containers: ID → paused.
async fn engine_alive(docker: &Docker) -> Result<HashMap<String, bool>, bollard::errors::Error> {
    let filters = HashMap::from([("status".to_string(), vec!["running".to_string(), "paused".to_string()])]);
    let opts = ListContainersOptions { all: true, filters: Some(filters), ..Default::default() };
    let list = docker.list_containers(Some(opts)).await?;
    Ok(list.into_iter().filter_map(|c| Some((c.id?, c.state == Some(ContainerSummaryStateEnum::PAUSED)))).collect())
}

async fn start_sleeper(docker: &Docker, name: &str) -> Result<(), bollard::errors::Error> {
    let body = ContainerCreateBody {
        image: Some("busybox:local".into()),
        cmd: Some(vec!["/bin/sleep".into(), "100000".into()]),
        host_config: Some(HostConfig {
            network_mode: Some("none".into()),
            auto_remove: Some(true),
            ..Default::default()
        }),
        ..Default::default()
    };
    let opts = CreateContainerOptions { name: Some(name.into()), ..Default::default() };
    let id = docker.create_container(Some(opts), body).await?.id;
    docker.start_container(&id, None).await
}

fn dockerd_script(action: &str, dir: &str) -> bool {
    let script = format!("{}/tests/engines/dockerd.sh", env!("CARGO_MANIFEST_DIR"));
    Command::new(script)
        .args([action, dir])
        .stdout(std::process::Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

// ---------- churn ----------

/// Counts of churn actions, successful and failed.
#[derive(Default)]
struct ChurnCounts {
    starts: AtomicU64,
    pauses: AtomicU64,
    unpauses: AtomicU64,
    kills: AtomicU64,
    errors: AtomicU64,
}

/// One action every CHURN_PERIOD until `stop`: start a container while
/// fewer than MIN_ALIVE are alive, kill one while MAX_ALIVE are, else one
/// of start, pause/unpause, kill at random. Errors (the engine restarting)
/// are counted and the loop goes on.
async fn churn(docker: Docker, stop: Arc<AtomicBool>, counts: Arc<ChurnCounts>) {
    let mut rng = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64 | 1;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut serial = 0u64;
    while !stop.load(Ordering::Relaxed) {
        tokio::time::sleep(CHURN_PERIOD).await;
        let alive = match engine_alive(&docker).await {
            Ok(a) => a,
            Err(_) => {
                counts.errors.fetch_add(1, Ordering::Relaxed);
                continue;
            }
        };
        let mut ids: Vec<(&String, &bool)> = alive.iter().collect();
        ids.sort();
        let action = if ids.len() < MIN_ALIVE {
            0
        } else if ids.len() >= MAX_ALIVE {
            2
        } else {
            next() % 3
        };
        let result = match action {
            0 => {
                serial += 1;
                counts.starts.fetch_add(1, Ordering::Relaxed);
                start_sleeper(&docker, &format!("wwsoak-{}-{serial}", std::process::id())).await
            }
            1 => {
                let (id, &paused) = ids[next() as usize % ids.len()];
                if paused {
                    counts.unpauses.fetch_add(1, Ordering::Relaxed);
                    docker.unpause_container(id).await
                } else {
                    counts.pauses.fetch_add(1, Ordering::Relaxed);
                    docker.pause_container(id).await
                }
            }
            _ => {
                let running: Vec<&String> = ids.iter().filter(|(_, &p)| !p).map(|(id, _)| *id).collect();
                if running.is_empty() {
                    continue;
                }
                counts.kills.fetch_add(1, Ordering::Relaxed);
                docker.kill_container(running[next() as usize % running.len()], None).await
            }
        };
        if result.is_err() {
            counts.errors.fetch_add(1, Ordering::Relaxed);
        }
    }
}

// ---------- process figures ----------

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}
fn entries(dir: &str) -> usize {
    std::fs::read_dir(dir).unwrap().count()
}

// ---------- engine restarts ----------

/// One engine restart: when it began (s since the start), how long the
/// engine was down, and how long after it was back the watcher was synced
/// with it again (None: not within 120 s).
struct Restart {
    at_s: u64,
    down_s: f64,
    resynced_after_s: Option<f64>,
}

fn unix_ns() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as i64
}

fn restart_engine(dir: &str, w: &W, docker: &Docker, rt: &tokio::runtime::Runtime, started: Instant) -> Restart {
    let at_s = started.elapsed().as_secs();
    let t0 = Instant::now();
    let stopped = dockerd_script("stop", dir);
    let up = dockerd_script("start", dir);
    assert!(stopped && up, "restarting the engine in {dir} failed");
    let down_s = t0.elapsed().as_secs_f64();
    let back_ns = unix_ns();
    let back = Instant::now();
    let mut resynced_after_s = None;
    while back.elapsed() < Duration::from_secs(120) {
        let view = snapshot_view(w);
        if view.engine_state == WW_ENGINE_STATE_SYNCED && view.synced_at_ns >= back_ns {
            resynced_after_s = Some(back.elapsed().as_secs_f64());
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    // Containers the stop ended stay as exited ones (auto-remove does not
    // run for them): drop them so the engine's data does not grow.
    let _ = rt.block_on(docker.prune_containers(None::<PruneContainersOptions>));
    Restart { at_s, down_s, resynced_after_s }
}

// ---------- samples and comparison ----------

/// One difference between the snapshot and the engine's list.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
enum Difference {
    /// Alive in the engine, absent from the snapshot.
    Missing(String),
    /// In the snapshot, not alive in the engine.
    Extra(String),
    /// Both have it; the engine says paused = the value.
    PausedState(String, bool),
}

fn differences(snapshot: &HashMap<String, bool>, engine: &HashMap<String, bool>) -> HashSet<Difference> {
    let mut out = HashSet::new();
    for (id, &paused) in engine {
        match snapshot.get(id) {
            None => {
                out.insert(Difference::Missing(id.clone()));
            }
            Some(&p) if p != paused => {
                out.insert(Difference::PausedState(id.clone(), paused));
            }
            _ => {}
        }
    }
    for id in snapshot.keys() {
        if !engine.contains_key(id) {
            out.insert(Difference::Extra(id.clone()));
        }
    }
    out
}

struct Sample {
    elapsed_s: u64,
    rss_kib: u64,
    fds: usize,
    threads: usize,
    in_snapshot: usize,
    /// None: the comparison was skipped (engine down or restarting).
    in_engine: Option<usize>,
    engine_state: ww_engine_state,
    /// Differences seen in this comparison (None: skipped).
    differences: Option<usize>,
    /// Differences also seen in the comparison before, counted for the first time.
    lasting: usize,
}

impl Sample {
    /// Its columns, in order; `missing` stands for the engine's count and
    /// `skipped` for the differences of a skipped comparison.
    fn cells(&self, missing: &str, skipped: &str) -> [String; 9] {
        [
            self.elapsed_s.to_string(),
            self.rss_kib.to_string(),
            self.fds.to_string(),
            self.threads.to_string(),
            self.in_snapshot.to_string(),
            self.in_engine.map_or(missing.into(), |n| n.to_string()),
            state_name(self.engine_state).to_string(),
            self.differences.map_or(skipped.into(), |n| n.to_string()),
            self.lasting.to_string(),
        ]
    }
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let sock = std::env::var("SOAK_DOCKER_SOCK").expect("SOAK_DOCKER_SOCK (run bench/soak.sh)");
    let dir = std::env::var("SOAK_ENGINE_DIR").expect("SOAK_ENGINE_DIR (run bench/soak.sh)");
    let seconds = env_num("SOAK_SECONDS", 1800);
    let restart_every = env_num("SOAK_RESTART_SECONDS", 300);
    let report = std::env::var("SOAK_REPORT")
        .unwrap_or_else(|_| format!("{}/target/soak-report.md", env!("CARGO_MANIFEST_DIR")));

    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let docker = docker_at(&sock);
    let w = Arc::new(docker_watcher(&sock));
    let started = Instant::now();

    let stop = Arc::new(AtomicBool::new(false));
    let counts = Arc::new(ChurnCounts::default());
    let churn_task = rt.spawn(churn(docker.clone(), stop.clone(), counts.clone()));

    // Engine restarts on their own thread; `engine_down` is set while one runs.
    let engine_down = Arc::new(AtomicBool::new(false));
    let restarts: Arc<Mutex<Vec<Restart>>> = Arc::default();
    let restarter = {
        let (w, docker, stop, engine_down, restarts) =
            (w.clone(), docker.clone(), stop.clone(), engine_down.clone(), restarts.clone());
        std::thread::spawn(move || {
            if restart_every == 0 {
                return;
            }
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            let mut next = Duration::from_secs(restart_every);
            // No restart in the last half period: its recovery would go unsampled.
            while next + Duration::from_secs(restart_every / 2) <= Duration::from_secs(seconds) {
                while started.elapsed() < next {
                    if stop.load(Ordering::Relaxed) {
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
                engine_down.store(true, Ordering::SeqCst);
                let r = restart_engine(&dir, &w, &docker, &rt, started);
                engine_down.store(false, Ordering::SeqCst);
                println!(
                    "restart at {} s: engine down {:.1} s, watcher synced again {} s after",
                    r.at_s,
                    r.down_s,
                    r.resynced_after_s.map_or("NOT within 120".into(), |s| format!("{s:.2}"))
                );
                restarts.lock().unwrap().push(r);
                next += Duration::from_secs(restart_every);
            }
            // Lives on to the end, so that thread and fd counts stay comparable.
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };

    println!("elapsed_s rss_kib fds threads in_snapshot in_engine state differences lasting");
    let mut samples: Vec<Sample> = Vec::new();
    let mut previous: Option<HashSet<Difference>> = None;
    let mut counted: HashSet<Difference> = HashSet::new();
    let mut next_sample = started + SAMPLE_PERIOD;
    while next_sample <= started + Duration::from_secs(seconds) {
        std::thread::sleep(next_sample.saturating_duration_since(Instant::now()));
        next_sample += SAMPLE_PERIOD;
        let view = snapshot_view(&w);
        // Skipped while the engine restarts, or when the list fails.
        let engine = if engine_down.load(Ordering::SeqCst) {
            None
        } else {
            rt.block_on(engine_alive(&docker)).ok().filter(|_| !engine_down.load(Ordering::SeqCst))
        };
        let now = engine.as_ref().map(|e| differences(&view.paused_by_id, e));
        let mut lasting = 0;
        if let (Some(now), Some(before)) = (&now, &previous) {
            for d in now.intersection(before) {
                if counted.insert(d.clone()) {
                    eprintln!("lasting difference at {} s: {d:?}", started.elapsed().as_secs());
                    lasting += 1;
                }
            }
        }
        let sample = Sample {
            elapsed_s: started.elapsed().as_secs(),
            rss_kib: rss_kib(),
            fds: entries("/proc/self/fd"),
            threads: entries("/proc/self/task"),
            in_snapshot: view.paused_by_id.len(),
            in_engine: engine.as_ref().map(|e| e.len()),
            engine_state: view.engine_state,
            differences: now.as_ref().map(|d| d.len()),
            lasting,
        };
        println!("{}", sample.cells("-", "skipped").join(" "));
        samples.push(sample);
        previous = now;
    }
    stop.store(true, Ordering::Relaxed);
    restarter.join().unwrap();
    rt.block_on(churn_task).unwrap();
    let repairs = snapshot_view(&w).repairs;
    let restarts = restarts.lock().unwrap();
    std::fs::write(&report, render_report(&samples, &restarts, &counts, repairs, counted.len())).unwrap();
    println!("report written to {report}");
}

fn render_report(
    samples: &[Sample],
    restarts: &[Restart],
    counts: &ChurnCounts,
    repairs: u64,
    lasting_total: usize,
) -> String {
    let rss: Vec<u64> = samples.iter().map(|s| s.rss_kib).collect();
    let fds: Vec<usize> = samples.iter().map(|s| s.fds).collect();
    let threads: Vec<usize> = samples.iter().map(|s| s.threads).collect();
    let skipped = samples.iter().filter(|s| s.differences.is_none()).count();
    let transient = samples.iter().filter(|s| s.differences.unwrap_or(0) > 0).count();
    let resynced: Vec<f64> = restarts.iter().filter_map(|r| r.resynced_after_s).collect();
    let all_resynced = resynced.len() == restarts.len();
    let n = |a: &AtomicU64| a.load(Ordering::Relaxed);
    let mut s = String::new();
    writeln!(s, "## Summary\n").unwrap();
    writeln!(s, "| figure | value |").unwrap();
    writeln!(s, "| --- | --- |").unwrap();
    writeln!(
        s,
        "| RSS first / last / max | {} / {} / {} KiB |",
        rss.first().unwrap_or(&0),
        rss.last().unwrap_or(&0),
        rss.iter().max().unwrap_or(&0)
    )
    .unwrap();
    writeln!(s, "| open fds min / max | {} / {} |", fds.iter().min().unwrap_or(&0), fds.iter().max().unwrap_or(&0))
        .unwrap();
    writeln!(
        s,
        "| threads min / max | {} / {} |",
        threads.iter().min().unwrap_or(&0),
        threads.iter().max().unwrap_or(&0)
    )
    .unwrap();
    writeln!(s, "| samples (every 10 s) | {} ({} comparisons skipped: engine restarting) |", samples.len(), skipped)
        .unwrap();
    writeln!(s, "| engine restarts done | {} |", restarts.len()).unwrap();
    for r in restarts {
        writeln!(
            s,
            "| restart at {} s | engine down {:.1} s; watcher synced again {} after it was back |",
            r.at_s,
            r.down_s,
            r.resynced_after_s.map_or("NOT within 120 s".into(), |x| format!("{x:.2} s"))
        )
        .unwrap();
    }
    writeln!(
        s,
        "| churn actions | {} starts, {} pauses, {} unpauses, {} kills; {} failed calls (mostly during restarts) |",
        n(&counts.starts),
        n(&counts.pauses),
        n(&counts.unpauses),
        n(&counts.kills),
        n(&counts.errors)
    )
    .unwrap();
    writeln!(s, "| comparisons with any difference (a single sample, churn in flight) | {transient} |").unwrap();
    writeln!(s, "| audit repairs reported by the watcher (`ww_engine_info.repairs`) | {repairs} |").unwrap();
    writeln!(s, "| **mismatches lasting longer than one audit interval** (target 0) | **{lasting_total}** |").unwrap();
    let rss_growth = match (rss.first(), rss.last()) {
        (Some(&a), Some(&b)) => b as f64 / a.max(1) as f64,
        _ => 1.0,
    };
    let verdict = if lasting_total == 0 && all_resynced {
        "met: no lasting mismatch, the watcher resynchronised after every restart"
    } else {
        "MISSED: see the lasting mismatches / restarts above"
    };
    writeln!(s, "| RSS last / first | {rss_growth:.2} |").unwrap();
    writeln!(s, "| verdict | {verdict} |").unwrap();
    writeln!(s, "\n## Samples\n").unwrap();
    writeln!(
        s,
        "| elapsed s | RSS KiB | fds | threads | in snapshot | alive in engine | engine state | differences | lasting |"
    )
    .unwrap();
    writeln!(s, "| --- | --- | --- | --- | --- | --- | --- | --- | --- |").unwrap();
    for x in samples {
        writeln!(s, "| {} |", x.cells("–", "skipped (restart)").join(" | ")).unwrap();
    }
    s
}
