//! Docker's own record of each container: `config.v2.json` and
//! `hostconfig.json` in `DATA-ROOT/containers/ID/`, which dockerd writes
//! (whole files, replaced at once) whenever a container's state changes,
//! from the same structure in its memory that an inspection answers from.
//!
//! Reading them tells what an inspection tells for a few tens of
//! microseconds of this process's time instead of an HTTP round trip and a
//! fraction of a millisecond of dockerd's: on a host with hundreds of
//! containers the inspections are what the first synchronisation waits for.
//!
//! The files can lag the engine's events: dockerd reports a start after
//! writing them, but a death (and a pause) before; after a death it first
//! cleans up (unmounts, networking), under the container's lock that an
//! inspection waits for, then writes. So a record is believed only if its
//! initial process is still there (a dead container's PID is gone as soon
//! as dockerd reports the death), and a synchronisation reads them under
//! its list's ticket, so that every event of the attempt is laid over
//! what they tell.
//!
//! It needs a local engine whose files this process may read: the data
//! root that dockerd's `/info` tells, reached through the mounts of the
//! process serving the socket (`/proc/PID/root` when they differ), which
//! takes root or dockerd's own user. Only regular files owned by that
//! process's user, at most [`MAX_RECORD`] bytes, are read, never through a
//! symbolic link. Whatever cannot be read, parsed or does not show the
//! container alive is asked of the engine instead, so without the files
//! nothing changes but the speed.

use std::collections::HashMap;
use std::path::PathBuf;

use bollard::models::{ContainerConfig, ContainerInspectResponse, ContainerState, HostConfig};
use serde::Deserialize;

use super::engine_files::{read_each, EngineFiles};

/// The largest record file read (dockerd's are a few KiB).
pub const MAX_RECORD: u64 = 4 << 20;

/// Where an engine keeps its container records, as this process reaches
/// them, and how it checks their PIDs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Records {
    /// `DATA-ROOT/containers`.
    dir: PathBuf,
    /// The engine's processes and files.
    files: EngineFiles,
}

impl Records {
    /// The records of the engine process `pid` whose data root is
    /// `data_root` (in its mounts), if this process can list them and see
    /// the engine's processes.
    pub fn locate(pid: i32, data_root: &str) -> Option<Records> {
        if !data_root.starts_with('/') {
            return None;
        }
        let files = EngineFiles::of(pid)?;
        let dir = files.reach(data_root).join("containers");
        std::fs::read_dir(&dir).ok()?;
        Some(Records { dir, files })
    }

    /// What an inspection of container `id` answers, as far as its record
    /// tells, if the record shows it alive (running or paused, with a PID
    /// that is still there); `None` when it does not tell (not a full
    /// container ID, no such files, unreadable, malformed, another ID, not
    /// alive, or its PID gone): then the engine is asked.
    pub fn read(&self, id: &str) -> Option<ContainerInspectResponse> {
        if !is_full_id(id) {
            return None;
        }
        let at = self.dir.join(id);
        let stored: Stored =
            serde_json::from_slice(&self.files.file(&at.join("config.v2.json"), MAX_RECORD)?.0).ok()?;
        let host: StoredHost =
            serde_json::from_slice(&self.files.file(&at.join("hostconfig.json"), MAX_RECORD)?.0).ok()?;
        let state = &stored.state;
        if stored.id != id || !(state.running || state.paused) || state.pid <= 0 {
            return None;
        }
        // Still there: a dead container's record says it runs until
        // dockerd has cleaned up after it.
        self.files.process(state.pid as u64).symlink_metadata().ok()?;
        Some(ContainerInspectResponse {
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
        })
    }

    /// [`Records::read`] of each of `ids`, made into what `describe` makes
    /// of it, in order; long lists are shared out among threads of their
    /// own ([`read_each`]).
    pub fn read_each<T: Send>(
        &self,
        ids: &[String],
        describe: impl Fn(&str, ContainerInspectResponse) -> Option<T> + Sync,
    ) -> Vec<Option<T>> {
        read_each(ids, 100, "ww-docker-files", |id| self.read(id).and_then(|d| describe(id, d)))
    }
}

/// A full Docker container ID: 64 lowercase hexadecimal digits (which also
/// keeps the path inside the records' directory).
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
    use std::os::unix::fs::MetadataExt;

    use super::*;

    const ID: &str = "00550a809c2204819d59db841b954299014b3dfb8436c0e70c2f52023b0ed307";

    fn me() -> i32 {
        std::process::id() as i32
    }

    /// As dockerd 20.10 writes it (shortened to what matters and a few
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

    /// A data root holding one container's files; removed when dropped.
    struct Root(PathBuf);

    impl Root {
        fn with(name: &str, id: &str, config: &str, host: Option<&str>) -> Root {
            let root = std::env::temp_dir().join(format!("ww-docker-files-{}-{name}", me()));
            let _ = std::fs::remove_dir_all(&root);
            let at = root.join("containers").join(id);
            std::fs::create_dir_all(&at).unwrap();
            std::fs::write(at.join("config.v2.json"), config).unwrap();
            if let Some(h) = host {
                std::fs::write(at.join("hostconfig.json"), h).unwrap();
            }
            Root(root)
        }

        fn records(&self) -> Records {
            Records::locate(me(), self.0.to_str().unwrap()).expect("located")
        }

        fn file(&self, id: &str, name: &str) -> PathBuf {
            self.0.join("containers").join(id).join(name)
        }
    }

    impl Drop for Root {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    const HOST: Option<&str> = Some(r#"{"Binds":null,"Privileged":false}"#);

    #[test]
    fn reads_what_an_inspection_tells() {
        let pid = me() as i64;
        let root = Root::with("alive", ID, &config(ID, true, true, pid), Some(r#"{"Binds":null,"Privileged":true}"#));
        let d = root.records().read(ID).expect("alive");
        assert_eq!((d.id.as_deref(), d.name.as_deref()), (Some(ID), Some("/web-1")));
        let state = d.state.as_ref().unwrap();
        assert_eq!((state.running, state.paused, state.pid), (Some(true), Some(true), Some(pid)));
        assert_eq!(state.started_at.as_deref(), Some("2026-11-30T05:28:01.319607068Z"));
        let config = d.config.as_ref().unwrap();
        assert_eq!(config.image.as_deref(), Some("busybox:local"));
        assert_eq!(config.labels.as_ref().unwrap()["com.docker.compose.project"], "p0");
        assert_eq!(d.image.as_deref(), Some("sha256:5311828d5ad0582a2007bf544bcc4774cfdbbea72504b9da1543756a7f49ba22"));
        assert_eq!(d.host_config.unwrap().privileged, Some(true));
        let each = root.records().read_each(&[ID.to_string(), "nope".to_string()], |id, d| Some((id.len(), d.id)));
        assert_eq!(each, [Some((64, Some(ID.to_string()))), None]);
    }

    #[test]
    fn a_record_whose_process_is_gone_is_not_believed() {
        // dockerd reports a death, cleans up, and only then writes the files.
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let gone = child.id() as i64;
        child.wait().unwrap();
        let root = Root::with("gone", ID, &config(ID, true, false, gone), HOST);
        assert!(root.records().read(ID).is_none());
    }

    #[test]
    fn anything_unclear_is_left_to_the_engine() {
        let pid = me() as i64;
        // Not alive, or alive without a process.
        for (name, text) in [("dead", config(ID, false, false, 0)), ("nopid", config(ID, true, false, 0))] {
            let root = Root::with(name, ID, &text, HOST);
            assert!(root.records().read(ID).is_none(), "{name}");
        }
        // Another container's record under this ID.
        let root = Root::with("other", ID, &config(&ID.replace('0', "1"), true, false, pid), HOST);
        assert!(root.records().read(ID).is_none());
        // Malformed, truncated, or without its host configuration.
        for (name, text, host) in [
            ("garbage", "not json".to_string(), HOST),
            ("truncated", config(ID, true, false, pid)[..200].to_string(), HOST),
            ("nohost", config(ID, true, false, pid), None),
            ("badhost", config(ID, true, false, pid), Some("[1]")),
        ] {
            let root = Root::with(name, ID, &text, host);
            assert!(root.records().read(ID).is_none(), "{name}");
        }
        // IDs that are not full Docker IDs are never looked up.
        let root = Root::with("ids", ID, &config(ID, true, false, pid), HOST);
        assert!(root.records().read(ID).is_some());
        for id in ["", "..", "../x", &ID[..12], &ID.to_uppercase(), &format!("{}/", &ID[..63])] {
            assert!(root.records().read(id).is_none(), "{id:?}");
        }
    }

    #[test]
    fn only_plain_small_files_of_the_engines_user_are_read() {
        let pid = me() as i64;
        let text = config(ID, true, false, pid);
        // A link, even to a good record.
        let root = Root::with("link", ID, &text, HOST);
        let real = root.0.join("elsewhere.json");
        std::fs::rename(root.file(ID, "config.v2.json"), &real).unwrap();
        std::os::unix::fs::symlink(&real, root.file(ID, "config.v2.json")).unwrap();
        assert!(root.records().read(ID).is_none());
        // A FIFO: never blocks.
        let root = Root::with("fifo", ID, &text, HOST);
        std::fs::remove_file(root.file(ID, "hostconfig.json")).unwrap();
        let status = std::process::Command::new("mkfifo").arg(root.file(ID, "hostconfig.json")).status().unwrap();
        assert!(status.success());
        assert!(root.records().read(ID).is_none());
        // Too large.
        let root = Root::with("large", ID, &text, HOST);
        let pad = "x".repeat(MAX_RECORD as usize);
        let padded = format!(r#"{},"Pad":"{pad}"}}"#, &text[..text.len() - 1]);
        std::fs::write(root.file(ID, "config.v2.json"), padded).unwrap();
        assert!(root.records().read(ID).is_none());
        // Another user's (where this process may give files away).
        let root = Root::with("owner", ID, &text, HOST);
        let owner = std::fs::metadata(root.file(ID, "config.v2.json")).unwrap().uid();
        if std::os::unix::fs::chown(root.file(ID, "config.v2.json"), Some(owner + 4242), None).is_ok() {
            assert!(root.records().read(ID).is_none());
        }
    }

    #[test]
    fn the_directory_must_be_there_and_absolute() {
        let root = Root::with("locate", ID, "{}", HOST);
        let r = root.records();
        assert_eq!((r.dir.clone(), r.files.procfs()), (root.0.join("containers"), std::path::Path::new("/proc")));
        assert_eq!(Records::locate(me(), "relative/root"), None);
        assert_eq!(Records::locate(0, root.0.to_str().unwrap()), None);
        assert_eq!(Records::locate(me(), "/nonexistent/docker"), None);
    }
}
