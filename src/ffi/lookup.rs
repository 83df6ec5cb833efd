//! Lookups in a snapshot: by container ID and by PID, in O(log n).

use std::ffi::{c_char, CStr};

use super::error::set_last_error;
use super::handout;
use super::portfolio::{ww_container, ww_portfolio};

/// The container with ID `id` in snapshot `p` (for containerd, the ID as
/// the snapshot shows it: `NAMESPACE/ID` outside "default"), or NULL when it
/// is not there. If several engines have a container with that ID, the one
/// of the lowest engine index. O(log n); never talks to the engine.
///
/// `p`: a snapshot from `ww_snapshot`; `id`: a NUL-terminated string. The
/// result points into `p` and lives as long as it. NULL `p` or `id`: NULL
/// (and the last error says so). Any thread.
#[no_mangle]
pub unsafe extern "C" fn ww_portfolio_find_id(p: *const ww_portfolio, id: *const c_char) -> *const ww_container {
    ffi_boundary!(std::ptr::null(), {
        if p.is_null() || id.is_null() {
            set_last_error(if p.is_null() {
                "ww_portfolio_find_id: p is NULL"
            } else {
                "ww_portfolio_find_id: id is NULL"
            });
            return std::ptr::null();
        }
        // SAFETY: p is a live snapshot, id a NUL-terminated string (documented contract).
        let (owner, id) = unsafe { (handout::owner(p), CStr::from_ptr(id)) };
        owner.find_id(id.to_bytes()).map_or(std::ptr::null(), |c| c as *const ww_container)
    })
}

/// The container whose initial process has PID `pid` in snapshot `p`, or
/// NULL when none has. If several engines have one (engines in other PID
/// namespaces), the one of the lowest engine index. O(log n); never talks
/// to the engine.
///
/// `p`: a snapshot from `ww_snapshot`. The result points into `p` and lives
/// as long as it. NULL `p`: NULL (and the last error says so). Any thread.
#[no_mangle]
pub unsafe extern "C" fn ww_portfolio_find_pid(p: *const ww_portfolio, pid: i32) -> *const ww_container {
    ffi_boundary!(std::ptr::null(), {
        if p.is_null() {
            set_last_error("ww_portfolio_find_pid: p is NULL");
            return std::ptr::null();
        }
        // SAFETY: p is a live snapshot (documented contract).
        let owner = unsafe { handout::owner(p) };
        owner.find_pid(pid).map_or(std::ptr::null(), |c| c as *const ww_container)
    })
}
