#![allow(dead_code)]
pub mod abi;
pub mod containerd;
pub mod docker;
pub mod fake_docker;
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
