//! Docker's own record of each container: `config.v2.json` and
//! `hostconfig.json` in `DATA-ROOT/containers/ID/`, which dockerd writes
//! (whole files, replaced at once) on every change of a container's state,
//! before it reports the change as an event or in a list.
//!
//! Reading them tells what an inspection tells (the same fields of the same
//! structure in dockerd's memory) for a few tens of microseconds of this
//! process's time instead of an HTTP round trip and a fraction of a
//! millisecond of dockerd's: on a host with hundreds of containers the
//! inspections are what the first synchronisation waits for.
//!
//! It needs a local engine whose files this process may read: the data
//! root that dockerd's `/info` tells, reached through the mounts of the
//! process serving the socket (`/proc/PID/root` when they differ), which
//! takes root or dockerd's own user. Whatever cannot be read, parsed or
//! does not show the container alive is asked of the engine instead, so
//! without the files nothing changes but the speed.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use bollard::models::{ContainerConfig, ContainerInspectResponse, ContainerState, HostConfig};
use serde::Deserialize;

use crate::core::model::Container;

/// The directory of Docker's container records, as this process reaches it
/// through the mounts of the engine's process `pid`, if it can list it.
pub fn containers_dir(pid: i32, data_root: &str) -> Option<PathBuf> {
    if pid <= 0 || !data_root.starts_with('/') {
        return None;
    }
    let dir = crate::core::sockets::reachable(pid, data_root).join("containers");
    std::fs::read_dir(&dir).ok().map(|_| dir)
}

/// The alive container `id` as Docker's files in `dir` show it; `None` when
/// they do not tell (not a full container ID, no such files, unreadable,
/// malformed, another ID, or not alive): then the engine is asked.
pub fn read(dir: &Path, id: &str) -> Option<Container> {
    if !is_full_id(id) {
        return None;
    }
    let at = dir.join(id);
    let stored: Stored = serde_json::from_slice(&std::fs::read(at.join("config.v2.json")).ok()?).ok()?;
    let host: StoredHost = serde_json::from_slice(&std::fs::read(at.join("hostconfig.json")).ok()?).ok()?;
    if stored.id != id {
        return None;
    }
    let details = ContainerInspectResponse {
        id: Some(stored.id),
        name: Some(stored.name),
        image: Some(stored.image),
        state: Some(ContainerState {
            running: Some(stored.state.running),
            paused: Some(stored.state.paused),
            pid: Some(stored.state.pid),
            started_at: stored.state.started_at,
            ..Default::default()
        }),
        config: stored.config.map(|c| ContainerConfig { image: c.image, labels: c.labels, ..Default::default() }),
        host_config: Some(HostConfig { privileged: Some(host.privileged), ..Default::default() }),
        ..Default::default()
    };
    super::docker::to_container(id, details)
}

/// [`read`] of each of `ids`, in order; long lists are shared out among
/// threads of their own (scoped: joined before this returns), up to one
/// per core.
pub fn read_each(dir: &Path, ids: &[String]) -> Vec<Option<Container>> {
    /// Fewer records than this are read on the calling thread alone.
    const PER_THREAD: usize = 100;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = ids.len().div_ceil(PER_THREAD).clamp(1, cores.min(4));
    if threads == 1 {
        return ids.iter().map(|id| read(dir, id)).collect();
    }
    let read_part = |part: &[String]| part.iter().map(|id| read(dir, id)).collect::<Vec<_>>();
    std::thread::scope(|s| {
        let parts: Vec<_> = ids
            .chunks(ids.len().div_ceil(threads))
            .map(|part| {
                (
                    part,
                    std::thread::Builder::new().name("ww-docker-files".into()).spawn_scoped(s, move || read_part(part)),
                )
            })
            .collect();
        let mut found = Vec::with_capacity(ids.len());
        for (part, thread) in parts {
            // A thread that could not be made: read here; one that failed:
            // left to the engine.
            found.extend(match thread {
                Ok(t) => t.join().unwrap_or_else(|_| vec![None; part.len()]),
                Err(_) => read_part(part),
            });
        }
        found
    })
}

/// A full Docker container ID: 64 lowercase hexadecimal digits (which also
/// keeps the path inside `dir`).
fn is_full_id(id: &str) -> bool {
    id.len() == 64 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// What is used of `config.v2.json`.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Stored {
    #[serde(rename = "ID")]
    id: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    image: String,
    state: StoredState,
    #[serde(default)]
    config: Option<StoredConfig>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct StoredState {
    running: bool,
    #[serde(default)]
    paused: bool,
    pid: i64,
    #[serde(default)]
    started_at: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct StoredConfig {
    image: Option<String>,
    labels: Option<HashMap<String, String>>,
}

/// What is used of `hostconfig.json`.
#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct StoredHost {
    privileged: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "00550a809c2204819d59db841b954299014b3dfb8436c0e70c2f52023b0ed307";

    /// As dockerd 20.10 writes them (shortened to what matters and a few
    /// fields around it).
    fn config(id: &str, running: bool, paused: bool, pid: i64) -> String {
        format!(
            r#"{{"StreamConfig":{{}},"State":{{"Running":{running},"Paused":{paused},"Restarting":false,
            "OOMKilled":false,"RemovalInProgress":false,"Dead":false,"Pid":{pid},"ExitCode":0,"Error":"",
            "StartedAt":"2026-11-30T05:28:01.319607068Z","FinishedAt":"0001-01-01T00:00:00Z","Health":null}},
            "ID":"{id}","Created":"2026-11-30T05:28:00.851864145Z","Managed":false,"Path":"sleep",
            "Args":["100000"],"Config":{{"Hostname":"00550a809c22","Env":["PATH=/bin"],"Cmd":["sleep","100000"],
            "Image":"busybox:local","Volumes":null,"Labels":{{"a":"b","com.docker.compose.project":"p0"}}}},
            "Image":"sha256:5311828d5ad0582a2007bf544bcc4774cfdbbea72504b9da1543756a7f49ba22",
            "NetworkSettings":{{"Bridge":"","Networks":{{"none":{{}}}}}},"Name":"/web-1","Driver":"overlay2"}}"#
        )
    }

    fn dir_with(name: &str, id: &str, config: &str, host: Option<&str>) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("ww-docker-files-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join(id)).unwrap();
        std::fs::write(dir.join(id).join("config.v2.json"), config).unwrap();
        if let Some(h) = host {
            std::fs::write(dir.join(id).join("hostconfig.json"), h).unwrap();
        }
        dir
    }

    #[test]
    fn reads_what_an_inspection_tells() {
        let dir = dir_with("alive", ID, &config(ID, true, true, 1659), Some(r#"{"Binds":null,"Privileged":true}"#));
        let c = read(&dir, ID).expect("alive").draft();
        assert_eq!((c.id.as_str(), c.name.as_str(), c.project.as_str()), (ID, "web-1", "p0"));
        assert_eq!((c.pid, c.paused, c.privileged), (1659, true, true));
        assert_eq!(c.image, "busybox:local");
        assert_eq!(c.image_id, "sha256:5311828d5ad0582a2007bf544bcc4774cfdbbea72504b9da1543756a7f49ba22");
        assert_eq!(c.started_at_ns, 1_796_016_481_319_607_068);
        assert_eq!(c.labels.len(), 2);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn anything_unclear_is_left_to_the_engine() {
        let host = Some(r#"{"Privileged":false}"#);
        // Not alive, or alive without a process.
        for (name, text) in [("dead", config(ID, false, false, 0)), ("nopid", config(ID, true, false, 0))] {
            let dir = dir_with(name, ID, &text, host);
            assert_eq!(read(&dir, ID), None, "{name}");
            std::fs::remove_dir_all(&dir).unwrap();
        }
        // Another container's record under this ID.
        let other = ID.replace('0', "1");
        let dir = dir_with("other", ID, &config(&other, true, false, 7), host);
        assert_eq!(read(&dir, ID), None);
        std::fs::remove_dir_all(&dir).unwrap();
        // Malformed, truncated, or without its host configuration.
        for (name, text, host) in [
            ("garbage", "not json".to_string(), host),
            ("truncated", config(ID, true, false, 7)[..200].to_string(), host),
            ("nohost", config(ID, true, false, 7), None),
            ("badhost", config(ID, true, false, 7), Some("[1]")),
        ] {
            let dir = dir_with(name, ID, &text, host);
            assert_eq!(read(&dir, ID), None, "{name}");
            std::fs::remove_dir_all(&dir).unwrap();
        }
        // IDs that are not full Docker IDs are never looked up.
        let dir = dir_with("ids", ID, &config(ID, true, false, 7), host);
        assert!(read(&dir, ID).is_some());
        for id in ["", "..", "../x", &ID[..12], &ID.to_uppercase(), &format!("{}/", &ID[..63])] {
            assert_eq!(read(&dir, id), None, "{id:?}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(read(Path::new("/nonexistent"), ID), None);
    }

    #[test]
    fn the_directory_must_be_there_and_absolute() {
        let me = std::process::id() as i32;
        let dir = std::env::temp_dir().join(format!("ww-docker-root-{me}"));
        std::fs::create_dir_all(dir.join("containers")).unwrap();
        let root = dir.to_str().unwrap();
        assert_eq!(containers_dir(me, root), Some(dir.join("containers")));
        assert_eq!(containers_dir(me, "relative/root"), None);
        assert_eq!(containers_dir(0, root), None);
        assert_eq!(containers_dir(me, "/nonexistent/docker"), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
