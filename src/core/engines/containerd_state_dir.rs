//! Where a containerd keeps its state: its `--state`, else `state` at the
//! top of its configuration file (`--config`/`-c`, default
//! `/etc/containerd/config.toml`), else `/run/containerd`, as far as that
//! can be told for sure from the outside.

use std::path::{Path, PathBuf};

use super::engine_files::EngineFiles;
use crate::core::process::reopen_regular;
use crate::core::sockets::cmdline;

/// Where containerd keeps its state unless told otherwise.
const DEFAULT_STATE: &str = "/run/containerd";
/// Where containerd reads its configuration unless told otherwise.
const DEFAULT_CONFIG: &str = "/etc/containerd/config.toml";
/// The largest configuration file read.
const MAX_CONFIG: u64 = 1 << 20;

/// The state directory of the containerd whose files are `files`, as it
/// names it; `None` when that cannot be told (see [`state_dir`]).
pub fn of(files: &EngineFiles) -> Option<String> {
    let pid = files.pid();
    let config = |path: &str| {
        // Paths that would name this process's own files, not the
        // engine's, cannot tell.
        if path.starts_with("/proc/") || path.starts_with("/dev/") {
            return Err(());
        }
        let at = match path.starts_with('/') {
            true => files.reach(path),
            false => PathBuf::from(format!("/proc/{pid}/cwd")).join(path),
        };
        read_config(&at)
    };
    state_dir(&cmdline(pid), config)
}

/// A configuration file's text: `Ok(None)` when there is none, `Err` when
/// it is there but cannot be read whole (not a regular file, too large,
/// not UTF-8, not readable). Links are followed (configuration files are
/// often links), but nothing but a regular file is opened: a FIFO or a
/// device there is never opened ([`reopen_regular`]).
fn read_config(path: &Path) -> Result<Option<String>, ()> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let handle = match std::fs::OpenOptions::new().read(true).custom_flags(libc::O_PATH).open(path) {
        Ok(h) => h,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(_) => return Err(()),
    };
    let (f, _) = reopen_regular(&handle).ok_or(())?;
    let mut text = String::new();
    f.take(MAX_CONFIG + 1).read_to_string(&mut text).map_err(|_| ())?;
    if text.len() as u64 > MAX_CONFIG {
        return Err(());
    }
    Ok(Some(text))
}

/// containerd's state directory from its command line `args`: the last
/// `--state`, else `state` in the configuration file the last `--config`
/// (`-c`) names or the default one, as `config` reads it (`Ok(None)` when
/// there is none), else the default. `None` when that cannot be told: a
/// configuration named but missing or unreadable (containerd would not
/// have started), one this cannot read as TOML, or one that imports
/// others.
fn state_dir(args: &[String], config: impl Fn(&str) -> Result<Option<String>, ()>) -> Option<String> {
    let (mut state, mut config_path) = (None, None);
    let mut args = args.iter().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--" {
            break;
        }
        let Some(flag) = arg.strip_prefix("--").or_else(|| arg.strip_prefix('-')) else { continue };
        let (name, inline) = match flag.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (flag, None),
        };
        if !matches!(name, "state" | "config" | "c") {
            continue;
        }
        let value = match inline {
            Some(v) => v,
            None => args.next()?.clone(),
        };
        match name {
            "state" => state = Some(value),
            _ => config_path = Some(value),
        }
    }
    if let Some(state) = state {
        return state.starts_with('/').then_some(state);
    }
    let from_config = match &config_path {
        Some(path) => toml_state(&config(path).ok()??)?,
        None => match config(DEFAULT_CONFIG).ok()? {
            Some(text) => toml_state(&text)?,
            None => None,
        },
    };
    let state = from_config.unwrap_or_else(|| DEFAULT_STATE.to_string());
    state.starts_with('/').then_some(state)
}

/// The top-level `state` of a containerd configuration: `Some(None)` when
/// it sets none, `None` when this cannot tell (a value that is not a plain
/// one-line string, or `imports` of other files, which may set it).
fn toml_state(text: &str) -> Option<Option<String>> {
    let mut state = None;
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            // The first table ends the top level.
            break;
        }
        let Some((key, value)) = line.split_once('=') else { continue };
        match key.trim().trim_matches(|c| c == '"' || c == '\'') {
            "imports" if no_imports(value) => {}
            "imports" => return None,
            "state" => state = Some(toml_string(value.trim())?),
            _ => {}
        }
    }
    Some(state)
}

/// An empty array (`[]`, maybe with a comment after it).
fn no_imports(value: &str) -> bool {
    let value = value.split('#').next().unwrap_or_default();
    value.chars().filter(|c| !c.is_whitespace()).collect::<String>() == "[]"
}

/// A one-line TOML string without escapes (`"..."` or `'...'`), followed
/// by nothing but a comment.
fn toml_string(value: &str) -> Option<String> {
    let quote = value.chars().next().filter(|&q| q == '"' || q == '\'')?;
    let rest = &value[1..];
    let end = rest.find(quote)?;
    let (s, after) = (&rest[..end], rest[end + 1..].trim());
    let escaped = quote == '"' && s.contains('\\');
    (!s.is_empty() && !escaped && (after.is_empty() || after.starts_with('#'))).then(|| s.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_state_directory_comes_from_flags_then_configuration_then_default() {
        let none = |_: &str| Ok(None);
        assert_eq!(state_dir(&args(&["containerd"]), none).as_deref(), Some("/run/containerd"));
        for a in [
            &["containerd", "--state", "/s"][..],
            &["containerd", "--state=/s"],
            &["containerd", "-state", "/s", "--config", "/c"],
            &["containerd", "-c", "/c", "--state", "/s"],
            &["containerd", "--state", "/first", "--state=/s"],
        ] {
            assert_eq!(state_dir(&args(a), |_| Ok(Some("state = '/other'".into()))).as_deref(), Some("/s"), "{a:?}");
        }
        assert_eq!(state_dir(&args(&["containerd", "--state", "relative"]), none), None);
        assert_eq!(state_dir(&args(&["containerd", "--state"]), none), None);
        let read = |path: &str| match path {
            "/etc/containerd/config.toml" => Ok(Some("version = 2\nstate = \"/default-config\"\n".to_string())),
            "/c" => Ok(Some("# x\nroot = \"/r\"\n state=\"/from-c\" # comment\n[grpc]\nstate = \"/no\"".to_string())),
            // As `containerd config default` writes it.
            "/generated" => {
                Ok(Some("disabled_plugins = []\nimports = []\noom_score = 0\nstate = \"/gen\"\nversion = 2\n".into()))
            }
            "/tables" => Ok(Some("version = 2\n[grpc]\n  state = \"/no\"\n".to_string())),
            "/imports" => Ok(Some("imports = [\"/etc/containerd/conf.d/*.toml\"]\n".to_string())),
            // An import may set it again, and it would win.
            "/imports-after" => Ok(Some("state = \"/s\"\nimports = [\"/etc/containerd/x.toml\"]\n".to_string())),
            "/escaped" => Ok(Some("state = \"/a\\\\b\"\n".to_string())),
            "/unreadable" => Err(()),
            _ => Ok(None),
        };
        assert_eq!(state_dir(&args(&["containerd"]), read).as_deref(), Some("/default-config"));
        for (flag, want) in [
            ("--config=/c", Some("/from-c")),
            ("-c=/c", Some("/from-c")),
            ("--config=/generated", Some("/gen")),
            ("--config=/tables", Some("/run/containerd")),
            ("--config=/imports", None),
            ("--config=/imports-after", None),
            ("--config=/escaped", None),
            // Named but not there, or unreadable: containerd would not run
            // with it, so this cannot tell what it runs with.
            ("--config=/missing", None),
            ("--config=/unreadable", None),
        ] {
            assert_eq!(state_dir(&args(&["containerd", flag]), read).as_deref(), want, "{flag}");
        }
        assert_eq!(state_dir(&args(&["containerd", "-c", "/c"]), read).as_deref(), Some("/from-c"));
        assert_eq!(state_dir(&args(&["containerd", "-c", "/imports", "-c", "/c"]), read).as_deref(), Some("/from-c"));
        // The default configuration there but unreadable.
        assert_eq!(state_dir(&args(&["containerd"]), |_| Err(())), None);
    }

    #[test]
    fn configurations_are_read_whole_or_not_at_all() {
        let dir = std::env::temp_dir().join(format!("ww-ctrd-config-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("ok.toml"), "state = \"/s\"\n").unwrap();
        assert_eq!(read_config(&dir.join("ok.toml")), Ok(Some("state = \"/s\"\n".into())));
        assert_eq!(read_config(&dir.join("missing.toml")), Ok(None));
        assert_eq!(read_config(&dir), Err(()), "a directory");
        std::fs::write(dir.join("large.toml"), "#".repeat(MAX_CONFIG as usize + 1)).unwrap();
        assert_eq!(read_config(&dir.join("large.toml")), Err(()));
        std::fs::write(dir.join("binary.toml"), [0xff, 0xfe]).unwrap();
        assert_eq!(read_config(&dir.join("binary.toml")), Err(()));
        // A FIFO: refused without blocking.
        let fifo = dir.join("fifo.toml");
        assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
        assert_eq!(read_config(&fifo), Err(()));
        // A link is followed; a device is never opened.
        std::os::unix::fs::symlink(dir.join("ok.toml"), dir.join("link.toml")).unwrap();
        assert_eq!(read_config(&dir.join("link.toml")), Ok(Some("state = \"/s\"\n".into())));
        assert_eq!(read_config(Path::new("/dev/null")), Err(()));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn toml_strings_are_taken_only_when_plain() {
        assert_eq!(toml_string("\"/a b\""), Some("/a b".into()));
        assert_eq!(toml_string("'/a\\b' # c"), Some("/a\\b".into()));
        for bad in ["/a", "\"/a", "\"\"", "\"/a\" x", "\"\"\"/a\"\"\""] {
            assert_eq!(toml_string(bad), None, "{bad}");
        }
        assert!(no_imports(" [ ] # none") && no_imports("[]"));
        assert!(!no_imports("[\"/x\"]") && !no_imports("["));
    }
}
