//! The committed header is exactly what cbindgen generates from the source.

use std::path::Path;

#[test]
fn committed_header_matches_cbindgen() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = cbindgen::Config::from_file(dir.join("cbindgen.toml")).expect("cbindgen.toml");
    let mut generated = Vec::new();
    cbindgen::Builder::new()
        .with_crate(dir)
        .with_config(config)
        .generate()
        .expect("cbindgen generates the header")
        .write(&mut generated);
    let generated = String::from_utf8(generated).expect("UTF-8 header");
    let path = dir.join("include/whalewatcher.h");
    if std::env::var_os("WW_BLESS").is_some() {
        std::fs::write(&path, &generated).expect("write header");
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "include/whalewatcher.h is stale; regenerate it with: WW_BLESS=1 cargo test --test header"
    );
}

/// The header without its comments.
fn code(header: &str) -> String {
    let mut out = String::new();
    let mut rest = header;
    while let Some(start) = rest.find("/*") {
        out.push_str(&rest[..start]);
        rest = rest[start..].find("*/").map_or("", |end| &rest[start + end + 2..]);
    }
    out.push_str(rest);
    out.lines().map(|l| l.split("//").next().unwrap_or("")).collect::<Vec<_>>().join("\n")
}

fn identifiers_defined(header: &str) -> Vec<String> {
    let code = code(header);
    let word = |s: &str| s.trim_matches(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).to_string();
    let mut names = Vec::new();
    for line in code.lines() {
        let t = line.trim();
        if let Some(rest) = t.strip_prefix("#define ") {
            names.push(word(rest.split_whitespace().next().unwrap_or("")));
        } else if t.starts_with("typedef ") {
            // `typedef ... NAME;` and `typedef struct TAG {`
            if let Some(name) = t.strip_suffix(';') {
                names.push(word(name.split_whitespace().last().unwrap_or("")));
            }
            if let Some(tag) = t.strip_prefix("typedef struct ") {
                names.push(word(tag.split_whitespace().next().unwrap_or("")));
            }
        } else if let Some(name) = t.strip_prefix("} ") {
            names.push(word(name));
        } else if !line.starts_with([' ', '\t', '#']) && t.contains('(') {
            // A function declaration starts in column 0: `RET NAME(ARGS`.
            if let Some(name) = t.split('(').next().and_then(|f| f.split_whitespace().last()) {
                names.push(word(name));
            }
        }
    }
    names.retain(|n| !n.is_empty() && n != "defined");
    names
}

#[test]
fn every_identifier_the_header_defines_carries_the_prefix() {
    let header = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("include/whalewatcher.h")).unwrap();
    let names = identifiers_defined(&header);
    for expected in ["WW_ABI_VERSION", "ww_portfolio", "ww_new", "ww_diff", "WW_STATUS_CLOSED", "WW_WHALEWATCHER_H"] {
        assert!(names.iter().any(|n| n == expected), "the parser missed {expected}: {names:?}");
    }
    let bad: Vec<&String> = names.iter().filter(|n| !(n.starts_with("ww_") || n.starts_with("WW_"))).collect();
    assert!(bad.is_empty(), "identifiers without the ww_/WW_ prefix: {bad:?}");
    let leaked = identifiers_defined("#define MAX_SOCKET_PATH 107\nconst char *foo(void);\ntypedef uint32_t bar;\n");
    assert_eq!(leaked, ["MAX_SOCKET_PATH", "foo", "bar"], "the check itself finds unprefixed names");
}
