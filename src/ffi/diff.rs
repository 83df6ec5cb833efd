//! `ww_diff`: what changed between two snapshots, as an array of changes
//! pointing into them.

use std::alloc::{alloc, dealloc, Layout};
use std::mem::{align_of, size_of};

use crate::core::diff::{diff, ChangeKind};

use super::error::*;
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

/// What precedes every changes array: its length, and a tag that tells a
/// live array from a freed or foreign pointer.
#[repr(C)]
struct Header {
    tag: u64,
    len: usize,
}

const LIVE: u64 = 0x7777_6368_616e_6765; // "wwchange"
const FREED: u64 = 0x6672_6565_6421_2121;

/// Header plus `n` changes, and where the changes start.
fn layout(n: usize) -> Option<(Layout, usize)> {
    Layout::new::<Header>().extend(Layout::array::<ww_change>(n).ok()?).ok()
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
        let to = unsafe { portfolio::owner(to) };
        let from = (!from.is_null()).then(|| unsafe { portfolio::owner(from) });
        let changes = diff(from.map(|f| f.snapshot()), to.snapshot());
        if changes.is_empty() {
            // SAFETY: out and len are non-NULL and writable (documented contract).
            unsafe {
                out.write(std::ptr::null());
                len.write(0);
            }
            return WW_STATUS_OK;
        }
        let Some((lay, offset)) = layout(changes.len()) else {
            return fail(WW_STATUS_INTERNAL, "ww_diff: too many changes");
        };
        // SAFETY: the layout has a non-zero size (it holds the header).
        let base = unsafe { alloc(lay) };
        if base.is_null() {
            return fail(WW_STATUS_INTERNAL, format!("ww_diff: out of memory for {} changes", changes.len()));
        }
        let ptr_in = |owner: Option<&portfolio::PortfolioOwner>, i: Option<usize>| -> *const ww_container {
            match (owner, i) {
                (Some(o), Some(i)) => o.container(i),
                _ => std::ptr::null(),
            }
        };
        // SAFETY: base is a fresh allocation of `lay`: a Header at 0 and
        // `changes.len()` ww_change at `offset`, each written once.
        unsafe {
            base.cast::<Header>().write(Header { tag: LIVE, len: changes.len() });
            let items = base.add(offset).cast::<ww_change>();
            for (i, c) in changes.iter().enumerate() {
                let kind = match c.kind {
                    ChangeKind::Started => WW_CHANGE_STARTED,
                    ChangeKind::Exited => WW_CHANGE_EXITED,
                    ChangeKind::Paused => WW_CHANGE_PAUSED,
                    ChangeKind::Unpaused => WW_CHANGE_UNPAUSED,
                    ChangeKind::Updated => WW_CHANGE_UPDATED,
                };
                items.add(i).write(ww_change {
                    kind,
                    before: ptr_in(from, c.before),
                    after: ptr_in(Some(to), c.after),
                });
            }
            out.write(items);
            len.write(changes.len());
        }
        WW_STATUS_OK
    })
}

/// Frees an array from `ww_diff`. NULL: does nothing. Each array must be
/// freed exactly once; freeing one twice, or a pointer `ww_diff` did not
/// hand out, is detected where the memory still tells (the process is then
/// aborted with a message on stderr rather than corrupting memory). Any thread.
#[no_mangle]
pub unsafe extern "C" fn ww_changes_free(changes: *const ww_change) {
    ffi_boundary!((), {
        if changes.is_null() {
            return;
        }
        let offset = layout(0).map_or(size_of::<Header>(), |(_, o)| o);
        if !(changes as usize).is_multiple_of(align_of::<ww_change>()) || (changes as usize) < offset {
            abort_with("ww_changes_free: not an array from ww_diff");
        }
        // SAFETY: changes came from ww_diff (documented contract), so a
        // Header sits `offset` bytes before it; the tag check catches the
        // common misuse before anything is freed.
        unsafe {
            let base = changes.cast::<u8>().sub(offset).cast_mut();
            let header = base.cast::<Header>();
            match (*header).tag {
                LIVE => {}
                FREED => abort_with("ww_changes_free: double free of an array from ww_diff"),
                _ => abort_with("ww_changes_free: not an array from ww_diff"),
            }
            let n = (*header).len;
            (*header).tag = FREED;
            if let Some((lay, _)) = layout(n) {
                dealloc(base, lay);
            }
        }
    })
}

/// Reports a misuse that would corrupt memory, and aborts.
fn abort_with(msg: &str) -> ! {
    eprintln!("libwhalewatcher: {msg}; aborting");
    std::process::abort()
}
