//! `ww_diff`: what changed between two snapshots, as an array of changes
//! pointing into them.

use crate::core::diff::{diff, ChangeKind};

use super::error::*;
use super::handout;
use super::portfolio::{self, ww_container, ww_portfolio};

/// How a container changed (`ww_change.kind`).
pub type ww_change_kind = u32;
/// In `to` only, or a new incarnation (same engine and ID, other PID): `after` is set.
pub const WW_CHANGE_STARTED: ww_change_kind = 1;
/// In `from` only, or the old incarnation: `before` is set.
pub const WW_CHANGE_EXITED: ww_change_kind = 2;
/// Paused in `to`, not in `from`.
pub const WW_CHANGE_PAUSED: ww_change_kind = 3;
/// Paused in `from`, not in `to`.
pub const WW_CHANGE_UNPAUSED: ww_change_kind = 4;
/// Same incarnation with another name, project, labels or other details.
pub const WW_CHANGE_UPDATED: ww_change_kind = 5;

/// One change of one container.
#[repr(C)]
pub struct ww_change {
    pub kind: ww_change_kind,
    /// The container in `from`; NULL for `WW_CHANGE_STARTED`.
    pub before: *const ww_container,
    /// The container in `to`; NULL for `WW_CHANGE_EXITED`.
    pub after: *const ww_container,
}

/// Computes what changed from snapshot `from` to snapshot `to`.
///
/// A container is the same in both when its engine (by endpoint) and ID are
/// the same and its PID is unchanged; otherwise the old one `EXITED` and the
/// new one `STARTED`. A container both paused (or resumed) and otherwise
/// changed gets two changes, the pause first. Order: every `EXITED` first,
/// then every `STARTED`, then the rest, each group sorted by (engine,
/// project, name, id). Snapshots of different watchers may be compared.
///
/// `from`: an earlier snapshot, or NULL for "nothing" (everything in `to`
/// `STARTED`). `to`: a snapshot, not NULL. Both must come from `ww_snapshot`
/// and must outlive the result, whose pointers point into them.
///
/// `out` and `len`: receive the array (NULL when there are no changes) and
/// its length, written only on success; free the array with
/// `ww_changes_free` exactly once. Returns `WW_STATUS_OK`,
/// `WW_STATUS_NULL_ARG` when `to`, `out` or `len` is NULL, or
/// `WW_STATUS_INTERNAL` when memory runs out. Any thread.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn ww_diff(
    from: *const ww_portfolio,
    to: *const ww_portfolio,
    out: *mut *const ww_change,
    len: *mut usize,
) -> ww_status {
    ffi_boundary!(WW_STATUS_PANIC, {
        non_null!(to, "to", "ww_diff");
        non_null!(out, "out", "ww_diff");
        non_null!(len, "len", "ww_diff");
        // SAFETY: both are live snapshots from ww_snapshot (documented contract).
        let to = unsafe { handout::owner(to) };
        let from = (!from.is_null()).then(|| unsafe { handout::owner(from) });
        let changes = diff(from.map(|f| f.snapshot()), to.snapshot());
        if changes.is_empty() {
            // SAFETY: out and len are non-NULL and writable (documented contract).
            unsafe {
                out.write(std::ptr::null());
                len.write(0);
            }
            return WW_STATUS_OK;
        }
        let ptr_in = |owner: Option<&portfolio::PortfolioOwner>, i: Option<usize>| -> *const ww_container {
            match (owner, i) {
                (Some(o), Some(i)) => o.container(i),
                _ => std::ptr::null(),
            }
        };
        let items: Vec<ww_change> = changes
            .iter()
            .map(|c| {
                let kind = match c.kind {
                    ChangeKind::Started => WW_CHANGE_STARTED,
                    ChangeKind::Exited => WW_CHANGE_EXITED,
                    ChangeKind::Paused => WW_CHANGE_PAUSED,
                    ChangeKind::Unpaused => WW_CHANGE_UNPAUSED,
                    ChangeKind::Updated => WW_CHANGE_UPDATED,
                };
                ww_change { kind, before: ptr_in(from, c.before), after: ptr_in(Some(to), c.after) }
            })
            .collect();
        let n = items.len();
        // The vector's buffer never moves (a vector moved keeps its buffer,
        // and `as_ptr` takes no reference to it): its address is the array C gets.
        let array = items.as_ptr();
        super::registry::hand_out(array as usize, Box::new(Changes(items)));
        // SAFETY: out and len are non-NULL and writable (documented contract).
        unsafe {
            out.write(array);
            len.write(n);
        }
        WW_STATUS_OK
    })
}

/// Frees an array from `ww_diff`. NULL: does nothing. Each array must be
/// freed exactly once: freeing one twice, or a pointer `ww_diff` did not
/// hand out, aborts the process with a message on stderr (like the C
/// library's "double free detected") instead of corrupting memory. Any thread.
#[no_mangle]
pub unsafe extern "C" fn ww_changes_free(changes: *const ww_change) {
    ffi_boundary!((), {
        if changes.is_null() {
            return;
        }
        drop(super::registry::take_back(changes as usize, "ww_changes_free", "an array from ww_diff"));
    })
}

/// A `ww_diff` array, owned while C holds it.
struct Changes(#[allow(dead_code)] Vec<ww_change>);

// SAFETY: the changes point into snapshots, which are Send and Sync and
// outlive the array by the documented contract; the array is only freed.
unsafe impl Send for Changes {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::model::{EngineInfo, EngineStatus};
    use crate::core::snapshot::{ContainerSet, EngineSnapshot};
    use crate::core::{Container, EngineKind, Snapshot};
    use crate::ffi::watcher::ww_snapshot_free;
    use std::collections::HashMap;
    use std::sync::Arc;

    fn snapshot(cs: &[(&str, i32, bool)]) -> Arc<portfolio::PortfolioOwner> {
        let cs: Vec<Arc<Container>> = cs
            .iter()
            .map(|(id, pid, paused)| {
                Arc::new(Container::new(id.to_string(), id.to_string(), *pid, *paused, HashMap::new()))
            })
            .collect();
        let info = Arc::new(EngineInfo::new(EngineKind::Docker, "docker.com", "unix:///d".into()));
        let part =
            EngineSnapshot { info, status: EngineStatus::default(), set: Arc::new(ContainerSet::build(cs.iter())) };
        portfolio::render(&Snapshot { generation: 1, engines: vec![Arc::new(part)] }, None)
    }

    #[test]
    fn changes_point_into_the_snapshots_and_free_once() {
        let from = snapshot(&[("a", 1, false), ("b", 2, false)]);
        let to = snapshot(&[("b", 2, true), ("c", 3, false)]);
        // As C gets them: pointers to the whole owners.
        let (f, t) = (handout::hand_out(Arc::clone(&from)), handout::hand_out(Arc::clone(&to)));
        let (mut out, mut len) = (std::ptr::null(), 0usize);
        assert_eq!(unsafe { ww_diff(f, t, &mut out, &mut len) }, WW_STATUS_OK);
        let changes = unsafe { std::slice::from_raw_parts(out, len) };
        let kinds: Vec<ww_change_kind> = changes.iter().map(|c| c.kind).collect();
        assert_eq!(kinds, [WW_CHANGE_EXITED, WW_CHANGE_STARTED, WW_CHANGE_PAUSED]);
        assert_eq!(changes[0].before, from.container(0) as *const ww_container);
        assert_eq!(changes[1].after, to.container(1) as *const ww_container);
        assert_eq!((changes[2].before, changes[2].after), (from.container(1) as *const _, to.container(0) as *const _));
        unsafe { ww_changes_free(out) };
        let (mut none, mut zero) = (std::ptr::dangling::<ww_change>(), 7usize);
        assert_eq!(unsafe { ww_diff(t, t, &mut none, &mut zero) }, WW_STATUS_OK);
        assert_eq!((none, zero), (std::ptr::null(), 0), "nothing changed");
        unsafe {
            ww_snapshot_free(f);
            ww_snapshot_free(t);
        }
    }
}
