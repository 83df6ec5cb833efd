//! 8 threads taking, reading, looking up, passing on and freeing snapshots
//! while a real Docker engine's containers churn, one of them waiting for each
//! new generation (ww_wait) and comparing consecutive snapshots (ww_diff),
//! under ThreadSanitizer (library and C program instrumented; see
//! tests/threads/Makefile for how this works on stable Rust). Any report
//! fails; two deliberate races must be reported first.

mod support;

use std::process::Command;

use support::docker::shared;

#[test]
fn snapshots_under_churn_are_race_free_under_thread_sanitizer() {
    let d = shared("threads");
    let out = Command::new("make")
        .arg("-C")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/threads"))
        .arg("check")
        .arg(format!("ENDPOINT={}", d.endpoint()))
        .env_remove("LD_LIBRARY_PATH")
        .output()
        .expect("run make");
    let text = format!("{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "make check failed:\n{text}");
    assert!(text.lines().any(|l| l.ends_with(" passed, 0 failed")), "{text}");
}
