//! What reading an engine's own files takes, for the engines whose files
//! tell what their API would (Docker's container records, containerd's
//! task bundles): the files as the engine's process reaches them, its
//! processes as its PID namespace numbers them, and reading only what the
//! engine itself could have written.

use std::fs::Metadata;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::core::process::open_regular;
use crate::core::sockets::{reachable, same_mounts, same_namespace};

/// An engine process's files and processes, as this process reaches them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EngineFiles {
    /// The engine's process.
    pid: i32,
    /// The `/proc` of the engine's PID namespace.
    procfs: PathBuf,
    /// The engine's user: the owner of every file believed.
    owner: u32,
}

impl EngineFiles {
    /// The files of engine process `pid`, if this process can see its
    /// processes: in the same PID namespace, or through its mounts' `/proc`.
    pub fn of(pid: i32) -> Option<EngineFiles> {
        if pid <= 0 {
            return None;
        }
        let owner = std::fs::metadata(format!("/proc/{pid}")).ok()?.uid();
        let procfs = match same_namespace(pid, "pid")? {
            true => PathBuf::from("/proc"),
            // Another PID namespace: its processes show in its own /proc,
            // which only its mounts show.
            false if !same_mounts(pid) => reachable(pid, "/proc"),
            false => return None,
        };
        Some(EngineFiles { pid, procfs, owner })
    }

    /// The engine's process.
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// The engine's `/proc`.
    pub fn procfs(&self) -> &Path {
        &self.procfs
    }

    /// `path` (absolute, in the engine's mounts) as this process reaches it.
    pub fn reach(&self, path: &str) -> PathBuf {
        reachable(self.pid, path)
    }

    /// `/proc/PID` of the engine's process `pid` (as its PID namespace
    /// numbers it).
    pub fn process(&self, pid: u64) -> PathBuf {
        self.procfs.join(pid.to_string())
    }

    /// The content and metadata of the file at `path`: a regular file of
    /// the engine's user, not a link, not larger than `max` bytes, read at
    /// the size it has when opened. Nothing else is ever opened (a FIFO,
    /// or a device mounted there, [`open_regular`]).
    pub fn file(&self, path: &Path, max: u64) -> Option<(Vec<u8>, Metadata)> {
        let (mut f, m) = open_regular(path)?;
        if m.uid() != self.owner || m.len() > max {
            return None;
        }
        // Read at its size: the files read are either replaced whole (a
        // new file renamed over the old: Docker's records, runc's state)
        // or written once before the task they describe exists (a shim's
        // path and options); a file caught while written is cut short,
        // which no reader here takes for a whole one.
        let mut buf = vec![0; m.len() as usize];
        f.read_exact(&mut buf).ok()?;
        Some((buf, m))
    }
}

/// `read` of each of `items`, in order; more than `per_thread` items are
/// shared out among up to 4 threads named `name`, one per core at most
/// (scoped: joined before this returns). A thread that cannot be made
/// leaves its part to the calling thread; one that fails answers `None`
/// for its part.
pub fn read_each<I: Sync, T: Send>(
    items: &[I],
    per_thread: usize,
    name: &str,
    read: impl Fn(&I) -> Option<T> + Sync,
) -> Vec<Option<T>> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = items.len().div_ceil(per_thread.max(1)).clamp(1, cores.min(4));
    let read = &read;
    let read_part = |part: &[I]| part.iter().map(read).collect::<Vec<_>>();
    if threads == 1 {
        return read_part(items);
    }
    std::thread::scope(|s| {
        let parts: Vec<_> = items
            .chunks(items.len().div_ceil(threads))
            .map(|part| (part, std::thread::Builder::new().name(name.into()).spawn_scoped(s, move || read_part(part))))
            .collect();
        let mut found = Vec::with_capacity(items.len());
        for (part, thread) in parts {
            found.extend(match thread {
                Ok(t) => t.join().unwrap_or_else(|_| part.iter().map(|_| None).collect()),
                Err(_) => read_part(part),
            });
        }
        found
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_in_order_on_any_number_of_threads() {
        let items: Vec<u32> = (0..1000).collect();
        for per_thread in [1, 7, 100, 5000] {
            let got = read_each(&items, per_thread, "ww-test", |&i| (i % 3 != 0).then_some(i * 2));
            let want: Vec<_> = items.iter().map(|&i| (i % 3 != 0).then_some(i * 2)).collect();
            assert_eq!(got, want, "{per_thread}");
        }
        assert!(read_each(&[] as &[u32], 10, "ww-test", |&i| Some(i)).is_empty());
    }

    #[test]
    fn this_process_sees_itself() {
        let me = std::process::id() as i32;
        let f = EngineFiles::of(me).expect("own files");
        assert_eq!((f.pid(), f.procfs()), (me, Path::new("/proc")));
        assert_eq!(f.process(1), PathBuf::from("/proc/1"));
        assert_eq!(f.reach("/etc"), PathBuf::from("/etc"));
        assert_eq!(EngineFiles::of(0), None);
        assert_eq!(EngineFiles::of(-1), None);
    }
}
