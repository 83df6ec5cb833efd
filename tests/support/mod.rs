#![allow(dead_code)]
pub mod abi;
pub mod containerd;
pub mod cri;
pub mod docker;
pub mod fake_docker;
pub mod grpc_proxy;
pub mod podman;
pub mod scripted;
pub mod stage;

use std::time::{Duration, Instant};

/// Polls `f` until it returns true, for at most `within`.
pub fn eventually(within: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + within;
    loop {
        if f() {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A label value unique to this test run.
pub fn run_id(test: &str) -> String {
    format!("{test}-{}-{}", std::process::id(), Instant::now().elapsed().as_nanos() % 1000)
}

/// This process's resident set size in KiB.
pub fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let kib = status.lines().find_map(|l| l.strip_prefix("VmRSS:")).expect("VmRSS");
    kib.trim().trim_end_matches("kB").trim().parse().expect("VmRSS in kB")
}
