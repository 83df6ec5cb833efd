//! A fresh `make install` into a temporary prefix, shared by the tests of
//! one test binary and removed when it exits.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

static STAGE: OnceLock<PathBuf> = OnceLock::new();

extern "C" fn remove_stage() {
    if let Some(p) = STAGE.get() {
        let _ = std::fs::remove_dir_all(p);
    }
}

pub fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Runs `make -C REPO ARGS...`; panics with its output on failure.
pub fn make(args: &[&str]) -> String {
    let out = Command::new("make").arg("-C").arg(repo()).args(args).output().expect("run make");
    let text = format!("{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "make {args:?} failed:\n{text}");
    text
}

/// The prefix of a fresh installation (`make install PREFIX=...`).
pub fn installed(name: &str) -> &'static Path {
    STAGE.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("wwt-stage-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        make(&["install", &format!("PREFIX={}", dir.display())]);
        // SAFETY: registering a plain extern "C" fn without arguments.
        unsafe { libc::atexit(remove_stage) };
        dir
    })
}

/// Lists every file and symlink below `dir`, relative to it, sorted.
pub fn files_below(dir: &Path) -> Vec<String> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        for e in entries.flatten() {
            let path = e.path();
            let meta = std::fs::symlink_metadata(&path).expect("metadata");
            if meta.is_dir() {
                walk(base, &path, out);
            } else {
                out.push(path.strip_prefix(base).unwrap().display().to_string());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}
