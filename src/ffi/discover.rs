//! `ww_discover`: the engines this host runs, found and confirmed.

use std::ffi::{c_char, CString};
use std::time::Duration;

use crate::core::discovery::discover;

use super::error::*;
use super::options::ww_engine;
use super::portfolio::engine_kind;

/// One engine endpoint that answered.
#[repr(C)]
pub struct ww_endpoint {
    /// `WW_ENGINE_DOCKER`, `WW_ENGINE_CONTAINERD`, `WW_ENGINE_CRI` or `WW_ENGINE_PODMAN`.
    pub kind: ww_engine,
    /// The PID of the engine process serving it (in the caller's PID
    /// namespace), 0 if unknown.
    pub pid: i32,
    /// Usable as `ww_options.endpoint` (with `kind` as `ww_options.engine`):
    /// `unix:///PATH` or `tcp://HOST:PORT`. An engine in another mount
    /// namespace is reached through `/proc/PID/root/...`. Never NULL.
    pub endpoint: *const c_char,
    /// How it was found: "env", "path" or "process". Never NULL.
    pub found_by: *const c_char,
    /// The socket's owner: a rootless engine's user; 0 for TCP.
    pub uid: u32,
}

/// Owns a `ww_discover` array and its strings while C holds it.
struct Endpoints {
    _items: Vec<ww_endpoint>,
    _strings: Vec<CString>,
}

// SAFETY: the strings are owned here and never changed; only freed.
unsafe impl Send for Endpoints {}

/// How long one probe of a candidate endpoint may take.
pub const WW_DISCOVER_PROBE_TIMEOUT_MS: u32 = 2000;

/// Finds the container engines this host runs: from the environment
/// (`DOCKER_HOST`, `CONTAINER_HOST`, `CONTAINERD_ADDRESS`,
/// `CONTAINER_RUNTIME_ENDPOINT`), the engines' well-known sockets (system,
/// rootless under `/run/user/UID`, k3s, microk8s, CRI-O), and the unix
/// sockets that engine processes (dockerd, containerd, crio, podman, k3s)
/// listen on, also in other mount namespaces. Each is confirmed by one
/// probe (Docker and podman by their `/_ping`, containerd and CRI by their
/// gRPC services) bounded by `WW_DISCOVER_PROBE_TIMEOUT_MS`; the probes run
/// at once, so the call takes at most about that long. A socket reachable
/// by several paths is listed once; containerd's auxiliary sockets and
/// anything that does not answer are not listed; a containerd socket is
/// listed as containerd only (not again as CRI).
///
/// `out` and `len`: receive the array (NULL when nothing was found) and its
/// length, written only on success; free it with `ww_endpoints_free`
/// exactly once. Returns `WW_STATUS_OK`, `WW_STATUS_NULL_ARG` when `out` or
/// `len` is NULL, `WW_STATUS_INTERNAL` when no thread or runtime can be
/// made. Any thread.
#[no_mangle]
#[must_use]
pub unsafe extern "C" fn ww_discover(out: *mut *const ww_endpoint, len: *mut usize) -> ww_status {
    ffi_boundary!(WW_STATUS_PANIC, {
        non_null!(out, "out", "ww_discover");
        non_null!(len, "len", "ww_discover");
        let timeout = Duration::from_millis(u64::from(WW_DISCOVER_PROBE_TIMEOUT_MS));
        // Its own thread: the caller may be inside an async runtime itself.
        let found = std::thread::Builder::new().name("ww-discover".into()).spawn(move || {
            // A probed socket may hang up mid-write: never let that kill the caller.
            super::watcher::block_sigpipe();
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            let found = rt.block_on(discover(timeout));
            rt.shutdown_timeout(Duration::from_millis(100));
            Ok::<_, std::io::Error>(found)
        });
        let found = match found.map(|t| t.join()) {
            Ok(Ok(Ok(found))) => found,
            Ok(Ok(Err(e))) | Err(e) => return fail(WW_STATUS_INTERNAL, format!("ww_discover: {e}")),
            Ok(Err(_)) => return fail(WW_STATUS_INTERNAL, "ww_discover: discovery panicked"),
        };
        let mut strings = Vec::with_capacity(found.len() * 2);
        let mut items = Vec::with_capacity(found.len());
        for f in &found {
            let endpoint = to_cstring(f.endpoint.to_string());
            let by = to_cstring(f.found_by.as_str().to_string());
            // A CString's buffer does not move when the CString does.
            items.push(ww_endpoint {
                kind: engine_kind(f.kind),
                pid: f.pid,
                endpoint: endpoint.as_ptr(),
                found_by: by.as_ptr(),
                uid: f.uid,
            });
            strings.push(endpoint);
            strings.push(by);
        }
        let n = items.len();
        let array = if n == 0 { std::ptr::null() } else { items.as_ptr() };
        if n > 0 {
            super::registry::hand_out(array as usize, Box::new(Endpoints { _items: items, _strings: strings }));
        }
        // SAFETY: out and len are non-NULL and writable (documented contract).
        unsafe {
            out.write(array);
            len.write(n);
        }
        WW_STATUS_OK
    })
}

/// Frees an array from `ww_discover`. NULL: does nothing. Each array must
/// be freed exactly once: freeing one twice, or a pointer `ww_discover` did
/// not hand out, aborts the process with a message on stderr. Any thread.
#[no_mangle]
pub unsafe extern "C" fn ww_endpoints_free(endpoints: *const ww_endpoint) {
    ffi_boundary!((), {
        if !endpoints.is_null() {
            drop(super::registry::take_back(endpoints as usize, "ww_endpoints_free", "an array from ww_discover"));
        }
    })
}
