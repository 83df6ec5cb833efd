//! What is read of runc's own record of a container (`state.json` in its
//! state directory): the PID of the container's initial process, when it
//! started, and the container's cgroups, without parsing the rest (the
//! container's whole configuration).

use std::collections::HashMap;

/// What is used of runc's `state.json`.
#[derive(Debug, PartialEq, Eq)]
pub struct RuncInit {
    /// `init_process_pid`.
    pub pid: i64,
    /// `init_process_start`: ticks after boot (field 22 of its stat).
    pub start: u64,
    /// `cgroup_paths`: each hierarchy's directory of the container, by
    /// controller (`""` for cgroup v2's), as runc's mounts show them.
    pub cgroups: HashMap<String, String>,
}

/// The top-level `init_process_pid`, `init_process_start` and
/// `cgroup_paths` of runc's `state.json`, found without parsing the rest
/// (the container's whole configuration): keys of nested objects and text
/// in strings are skipped as JSON says. `None` unless all three are there
/// (integers and an object of strings) before anything malformed.
pub fn runc_init(json: &[u8]) -> Option<RuncInit> {
    let ws = |mut i: usize| {
        while json.get(i).is_some_and(u8::is_ascii_whitespace) {
            i += 1;
        }
        i
    };
    let mut i = ws(0);
    if *json.get(i)? != b'{' {
        return None;
    }
    let (mut pid, mut start, mut cgroups) = (None, None, None);
    i += 1;
    loop {
        let key_at = ws(i);
        let after_key = json_value_end(json, key_at)?;
        let key = json.get(key_at..after_key)?;
        i = ws(after_key);
        if *json.get(i)? != b':' || key.first() != Some(&b'"') {
            return None;
        }
        let value_at = ws(i + 1);
        let end = json_value_end(json, value_at)?;
        let number = || std::str::from_utf8(&json[value_at..end]).ok();
        match key {
            b"\"init_process_pid\"" => pid = Some(number()?.parse().ok()?),
            b"\"init_process_start\"" => start = Some(number()?.parse().ok()?),
            b"\"cgroup_paths\"" => cgroups = Some(serde_json::from_slice(&json[value_at..end]).ok()?),
            _ => {}
        }
        if pid.is_some() && start.is_some() && cgroups.is_some() {
            return Some(RuncInit { pid: pid?, start: start?, cgroups: cgroups? });
        }
        i = ws(end);
        match json.get(i)? {
            b',' => i += 1,
            _ => return None,
        }
    }
}

/// Where the JSON value that starts at `i` ends (the index after it):
/// strings with their escapes, objects and arrays with whatever they
/// nest, anything else up to the next delimiter. `None` if it does not
/// end.
fn json_value_end(json: &[u8], i: usize) -> Option<usize> {
    let string_end = |mut j: usize| loop {
        match json.get(j)? {
            b'\\' => j += 2,
            b'"' => return Some(j + 1),
            _ => j += 1,
        }
    };
    match json.get(i)? {
        b'"' => string_end(i + 1),
        b'{' | b'[' => {
            let (mut depth, mut j) = (0usize, i);
            loop {
                match json.get(j)? {
                    b'"' => {
                        j = string_end(j + 1)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(j + 1);
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
        }
        _ => {
            let len = json[i..].iter().position(|c| matches!(c, b',' | b'}' | b']') || c.is_ascii_whitespace());
            Some(i + len.unwrap_or(json.len() - i)).filter(|&end| end > i)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runc_init_is_read_from_the_top_level_only() {
        let real = r#"{"id":"c1","init_process_pid":3168,"init_process_start":4374595,"created":"2026-11-30T08:22:25Z",
            "config":{"labels":["a={\"init_process_pid\":1}"],"init_process_pid":7,"mounts":[{"x":[1,{"y":"]}"}]}]},
            "rootless":false,"cgroup_paths":{"":"/sys/fs/cgroup/unified/ns1/c1","freezer":"/sys/fs/cgroup/freezer/ns1/c1"},
            "namespace_paths":{"NEWPID":"/proc/3168/ns/pid"}}"#;
        let cgroups = HashMap::from([
            (String::new(), "/sys/fs/cgroup/unified/ns1/c1".to_string()),
            ("freezer".to_string(), "/sys/fs/cgroup/freezer/ns1/c1".to_string()),
        ]);
        assert_eq!(runc_init(real.as_bytes()), Some(RuncInit { pid: 3168, start: 4374595, cgroups: cgroups.clone() }));
        // Nested keys and strings that look like them do not count.
        let nested = r#"{"config":{"init_process_pid":1,"init_process_start":2,"cgroup_paths":{}},
            "s":"\"init_process_pid\":3","init_process_start":20,"init_process_pid":10,"cgroup_paths":{"a":"/b"}}"#;
        let a = HashMap::from([("a".to_string(), "/b".to_string())]);
        assert_eq!(runc_init(nested.as_bytes()), Some(RuncInit { pid: 10, start: 20, cgroups: a }));
        for bad in [
            "",
            "[]",
            "{}",
            r#"{"init_process_pid":1,"init_process_start":2}"#,
            r#"{"init_process_pid":"1","init_process_start":2,"cgroup_paths":{}}"#,
            r#"{"init_process_pid":1.5,"init_process_start":2,"cgroup_paths":{}}"#,
            r#"{"init_process_pid":1,"init_process_start":-2,"cgroup_paths":{}}"#,
            r#"{"init_process_pid":1,"init_process_start":2,"cgroup_paths":{"a":1}}"#,
            r#"{"init_process_pid":1,"init_process_start":2,"cgroup_paths":["/a"]}"#,
            r#"{"init_process_pid":1 "init_process_start":2,"cgroup_paths":{}}"#,
            r#"{"a":{"b":1,"init_process_pid":1,"init_process_start":2,"cgroup_paths":{}"#,
            r#"{"a":"unterminated,"init_process_pid":1,"init_process_start":2,"cgroup_paths":{}}"#,
            r#"{init_process_pid:1,init_process_start:2,cgroup_paths:{}}"#,
            r#"{"init_process_pid":,"init_process_start":2,"cgroup_paths":{}}"#,
        ] {
            assert_eq!(runc_init(bad.as_bytes()), None, "{bad}");
        }
    }
}
