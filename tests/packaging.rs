//! How the library ships: version macros, SONAME, exported symbols, a header
//! that compiles as C99 and C++, and `make install` / `make uninstall`.

mod support;

use std::collections::BTreeSet;
use std::ffi::CStr;
use std::path::Path;
use std::process::Command;

use support::stage::{files_below, installed, make, repo};
use whalewatcher::ffi::{ww_abi_version, ww_version, WW_ABI_VERSION};

fn header() -> String {
    std::fs::read_to_string(repo().join("include/whalewatcher.h")).expect("header")
}

/// The value of `#define NAME VALUE` in the header.
fn define(name: &str) -> String {
    let h = header();
    let prefix = format!("#define {name} ");
    h.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no {name} in the header"))
        .trim()
        .to_string()
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{cmd:?} failed:\n{text}");
    text
}

#[test]
fn version_macros_agree_with_cargo_and_the_library() {
    assert_eq!(define("WW_VERSION_MAJOR"), env!("CARGO_PKG_VERSION_MAJOR"));
    assert_eq!(define("WW_VERSION_MINOR"), env!("CARGO_PKG_VERSION_MINOR"));
    assert_eq!(define("WW_VERSION_PATCH"), env!("CARGO_PKG_VERSION_PATCH"));
    assert_eq!(define("WW_VERSION_STRING"), format!("\"{}\"", env!("CARGO_PKG_VERSION")));
    let runtime = unsafe { CStr::from_ptr(ww_version()) }.to_str().unwrap();
    assert_eq!(runtime, env!("CARGO_PKG_VERSION"));
    assert_eq!(define("WW_ABI_VERSION"), WW_ABI_VERSION.to_string());
    assert_eq!(ww_abi_version(), WW_ABI_VERSION);
}

fn shared_object() -> std::path::PathBuf {
    let so = repo().join("target/debug/libwhalewatcher.so");
    assert!(so.exists(), "run `cargo build` first");
    so
}

#[test]
fn the_soname_carries_the_abi_version() {
    let dynamic = run(Command::new("readelf").arg("-d").arg(shared_object()));
    let want = format!("Library soname: [libwhalewatcher.so.{WW_ABI_VERSION}]");
    assert!(dynamic.contains(&want), "{dynamic}");
}

#[test]
fn exactly_the_header_functions_are_exported() {
    let nm = run(Command::new("nm").args(["-D", "--defined-only"]).arg(shared_object()));
    let exported: BTreeSet<String> = nm
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() == 3 && f[1] == "T").then(|| f[2].to_string())
        })
        .collect();
    let h = header();
    // Declarations start in column 0 (comments and fields are indented).
    let declared: BTreeSet<String> = h
        .lines()
        .filter(|l| !l.starts_with([' ', '#', '*', '/', '}', 't']) && l.contains('('))
        .filter_map(|l| {
            let name = l.split('(').next()?.split_whitespace().last()?.trim_start_matches('*');
            name.starts_with("ww_").then(|| name.to_string())
        })
        .collect();
    for f in ["ww_new", "ww_ready", "ww_snapshot", "ww_snapshot_free", "ww_close", "ww_options_init"] {
        assert!(declared.contains(f), "{f} not found in {declared:?}");
    }
    assert_eq!(exported, declared);
}

#[test]
fn the_header_compiles_as_pedantic_c99_and_as_cpp() {
    let inc = repo().join("include");
    let src = "#include <whalewatcher.h>\nint main(void) { return ww_abi_version() == WW_ABI_VERSION ? 0 : 1; }\n";
    let dir = std::env::temp_dir().join(format!("wwt-header-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("h.c");
    std::fs::write(&file, src).unwrap();
    run(Command::new("gcc")
        .args(["-std=c99", "-pedantic", "-Wall", "-Wextra", "-Werror", "-fsyntax-only", "-I"])
        .arg(&inc)
        .arg(&file));
    run(Command::new("g++")
        .args(["-std=c++11", "-pedantic", "-Wall", "-Wextra", "-Werror", "-fsyntax-only", "-x", "c++", "-I"])
        .arg(&inc)
        .arg(&file));
    std::fs::remove_dir_all(&dir).unwrap();
}

fn link_target(p: &Path) -> String {
    std::fs::read_link(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())).display().to_string()
}

#[test]
fn make_install_lays_out_a_relocatable_tree_and_uninstall_removes_it() {
    let prefix = installed("packaging");
    let v = env!("CARGO_PKG_VERSION");
    let n = WW_ABI_VERSION;
    let mut want = vec![
        format!("bin/whalewatch"),
        format!("include/whalewatcher.h"),
        format!("include/whalewatcher.hpp"),
        format!("lib/cmake/whalewatcher/whalewatcher-config-version.cmake"),
        format!("lib/cmake/whalewatcher/whalewatcher-config.cmake"),
        format!("lib/libwhalewatcher.a"),
        format!("lib/libwhalewatcher.so"),
        format!("lib/libwhalewatcher.so.{n}"),
        format!("lib/libwhalewatcher.so.{v}"),
        format!("lib/pkgconfig/whalewatcher.pc"),
    ];
    want.sort();
    assert_eq!(files_below(prefix), want);
    let lib = prefix.join("lib");
    assert_eq!(link_target(&lib.join("libwhalewatcher.so")), format!("libwhalewatcher.so.{n}"));
    assert_eq!(link_target(&lib.join(format!("libwhalewatcher.so.{n}"))), format!("libwhalewatcher.so.{v}"));
    let soname = run(Command::new("readelf").arg("-d").arg(lib.join(format!("libwhalewatcher.so.{v}"))));
    assert!(soname.contains(&format!("[libwhalewatcher.so.{n}]")));

    // The .pc file works from wherever the tree is moved to.
    let moved = prefix.with_extension("moved");
    let _ = std::fs::remove_dir_all(&moved);
    run(Command::new("cp").arg("-a").arg(prefix).arg(&moved));
    let pc = |args: &[&str]| {
        run(Command::new("pkg-config")
            .env("PKG_CONFIG_PATH", moved.join("lib/pkgconfig"))
            .args(args)
            .arg("whalewatcher"))
    };
    assert_eq!(pc(&["--modversion"]).trim(), v);
    // So does whalewatch: it finds the library beside its own directory
    // (rpath $ORIGIN/../lib), not through cargo's LD_LIBRARY_PATH.
    let dynamic = run(Command::new("readelf").arg("-d").arg(moved.join("bin/whalewatch")));
    assert!(dynamic.contains("[$ORIGIN/../lib]"), "{dynamic}");
    assert!(dynamic.contains(&format!("Shared library: [libwhalewatcher.so.{n}]")), "{dynamic}");
    let out = Command::new(moved.join("bin/whalewatch"))
        .arg("--version")
        .env_remove("LD_LIBRARY_PATH")
        .output()
        .expect("run the moved whalewatch");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout), format!("whalewatch {v} (libwhalewatcher {v}, ABI {n})\n"));
    let flag_dir = |out: String, flag: &str| -> std::path::PathBuf {
        let dir =
            out.split_whitespace().find_map(|f| f.strip_prefix(flag)).unwrap_or_else(|| panic!("no {flag} in {out}"));
        std::fs::canonicalize(dir).unwrap_or_else(|e| panic!("{dir}: {e}"))
    };
    assert_eq!(flag_dir(pc(&["--cflags"]), "-I"), std::fs::canonicalize(moved.join("include")).unwrap());
    assert_eq!(flag_dir(pc(&["--libs"]), "-L"), std::fs::canonicalize(moved.join("lib")).unwrap());
    assert!(pc(&["--static", "--libs"]).contains("-lpthread"));
    std::fs::remove_dir_all(&moved).unwrap();

    // DESTDIR staging installs the same tree below DESTDIR, and uninstall
    // removes exactly it.
    let destdir = prefix.with_extension("destdir");
    let _ = std::fs::remove_dir_all(&destdir);
    std::fs::create_dir_all(destdir.join("opt/ww/lib")).unwrap();
    std::fs::write(destdir.join("opt/ww/lib/unrelated"), b"keep me").unwrap();
    let d = format!("DESTDIR={}", destdir.display());
    make(&["install", "PREFIX=/opt/ww", &d]);
    let mut with_unrelated = want.clone();
    with_unrelated.push("lib/unrelated".into());
    with_unrelated.sort();
    assert_eq!(files_below(&destdir.join("opt/ww")), with_unrelated);
    make(&["uninstall", "PREFIX=/opt/ww", &d]);
    assert_eq!(files_below(&destdir.join("opt/ww")), ["lib/unrelated"]);
    assert!(!destdir.join("opt/ww/lib/cmake/whalewatcher").exists());
    std::fs::remove_dir_all(&destdir).unwrap();
}
