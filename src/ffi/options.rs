//! `ww_options`: what `ww_new` is told, and its translation into core options.

use std::ffi::{c_char, CStr};
use std::mem::{offset_of, size_of, MaybeUninit};
use std::path::PathBuf;
use std::time::Duration;

use crate::core::engines::containerd::DEFAULT_IGNORED_NAMESPACES;
use crate::core::options::InvalidOption;
use crate::core::options::{
    containerd_endpoint, cri_endpoint, docker_endpoint, docker_tls, parse_namespaces, podman_endpoint,
    DEFAULT_AUDIT_INTERVAL, DEFAULT_BACKOFF_INITIAL, DEFAULT_BACKOFF_MAX, DEFAULT_CALL_TIMEOUT,
    DEFAULT_DISCOVER_INTERVAL, DEFAULT_RELIST_INTERVAL,
};
use crate::core::{Backoff, Endpoint, EngineKind, Options};

use super::error::{ww_status, WW_STATUS_ABI_MISMATCH, WW_STATUS_INVALID_ARG};

/// Which container engine to watch.
pub type ww_engine = u32;
/// Docker (or another engine speaking the Docker API).
pub const WW_ENGINE_DOCKER: ww_engine = 1;
/// containerd, in all namespaces but the ignored ones.
pub const WW_ENGINE_CONTAINERD: ww_engine = 2;
/// A runtime speaking Kubernetes' CRI API (CRI-O, containerd's CRI plugin).
pub const WW_ENGINE_CRI: ww_engine = 3;
/// podman's API service (`podman system service`).
pub const WW_ENGINE_PODMAN: ww_engine = 4;
/// Every engine this host runs, found by discovery (see `ww_discover`) at
/// start and every `discover_interval_ms`, watched through one watcher:
/// one snapshot, one `engines` entry per engine.
pub const WW_ENGINE_AUTO: ww_engine = 5;

/// How the watcher retries after the engine went away or failed.
pub type ww_backoff = u32;
/// Never retry: the first failure ends the watch (`ww_ready` reports `WW_STATUS_ENGINE`).
pub const WW_BACKOFF_NONE: ww_backoff = 0;
/// Retry every `backoff_initial_ms`.
pub const WW_BACKOFF_CONSTANT: ww_backoff = 1;
/// Retry after `backoff_initial_ms`, growing by 1.5 (with 20 % jitter) up to `backoff_max_ms`.
pub const WW_BACKOFF_EXPONENTIAL: ww_backoff = 2;

/// Options for `ww_new`. Initialise with `ww_options_init(&opts,
/// sizeof opts)`, then change what you need. Within one ABI version the
/// struct only grows at its end; `struct_size` tells the library which
/// version the caller was compiled with.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct ww_options {
    /// `sizeof(ww_options)` as the caller compiled it (`ww_options_init` sets it).
    pub struct_size: u32,
    /// `WW_ENGINE_DOCKER` (the default), `WW_ENGINE_CONTAINERD`,
    /// `WW_ENGINE_CRI` or `WW_ENGINE_PODMAN`.
    pub engine: ww_engine,
    /// NUL-terminated UTF-8 endpoint, or NULL for the default: for Docker
    /// `DOCKER_HOST` if set, else `unix:///var/run/docker.sock`; for
    /// containerd `CONTAINERD_ADDRESS` if set, else
    /// `/run/containerd/containerd.sock`; for podman `CONTAINER_HOST` if
    /// set, else `/run/podman/podman.sock` for root and
    /// `$XDG_RUNTIME_DIR/podman/podman.sock` for other users; for CRI
    /// `CONTAINER_RUNTIME_ENDPOINT` if set, else `/run/crio/crio.sock`.
    /// Docker and podman take `unix:///PATH`, `tcp://HOST:PORT` and
    /// `http://HOST:PORT`; containerd and CRI an absolute socket path or
    /// `unix:///PATH`. Only read during `ww_new`.
    pub endpoint: *const c_char,
    /// `WW_BACKOFF_EXPONENTIAL` by default.
    pub backoff: ww_backoff,
    /// First retry delay in ms; 0 means the default, 500.
    pub backoff_initial_ms: u32,
    /// Cap of one retry delay in ms (exponential backoff only); 0 means the
    /// default, 30000.
    pub backoff_max_ms: u32,
    /// Give up after this many ms without a healthy synchronisation (counted
    /// from `ww_new`, or from the first failure after a healthy sync);
    /// 0 = never give up (the default).
    pub backoff_max_elapsed_ms: u32,
    /// Bound of every single engine call (connect, list, inspect) in ms;
    /// 0 means the default, 10000. Not a bound of the event stream, which
    /// may stay silent for as long as nothing happens.
    pub call_timeout_ms: u32,
    /// containerd only: comma-separated namespaces not to watch, replacing
    /// the default list "moby" (Docker's own containers: watch them through
    /// Docker; Kubernetes' containers in "k8s.io" are watched);
    /// "" watches all namespaces. NULL means the default. Only read during
    /// `ww_new`.
    pub ignored_namespaces: *const c_char,
    /// How often, in ms, an engine that sends no events is listed again to
    /// learn what changed: CRI runtimes (unless `cri_events`), and a podman
    /// whose event log is off; 0 means the default, 1000 (kubelet's own
    /// relist interval).
    pub cri_poll_ms: u32,
    /// CRI: non-zero also follows the runtime's `GetContainerEvents` stream
    /// (relisting stays on as its consistency check); 0, the default, only
    /// relists. The stream is shared: on containerd 1.7 every subscriber
    /// takes events away from the others (kubelet's evented PLEG among
    /// them), so leave it off on Kubernetes nodes. A runtime without the
    /// call is only relisted.
    pub cri_events: u32,
    /// `WW_ENGINE_AUTO`: how often, in ms, discovery runs again to find
    /// engines started later and to retire engines gone; 0 means the
    /// default, 10000. `UINT32_MAX`: only at start.
    pub discover_interval_ms: u32,
    /// Docker over TLS, as the docker CLI does it: the CA certificate that
    /// signed the daemon's certificate (PEM). TLS is used for `https://`
    /// endpoints, for `tcp://` ones when `DOCKER_TLS_VERIFY` is set, and
    /// whenever any of the three files is given; a file not given comes
    /// from `DOCKER_CERT_PATH` (else `~/.docker`): `ca.pem`, `cert.pem`,
    /// `key.pem`. NULL: from there. Only read during `ww_new`; the files
    /// are read at every (re)connect.
    pub tls_ca: *const c_char,
    /// Docker over TLS: the client's certificate (PEM); see `tls_ca`.
    pub tls_cert: *const c_char,
    /// Docker over TLS: the client's private key (PEM); see `tls_ca`.
    pub tls_key: *const c_char,
    /// How often, in ms, a synchronised watcher compares the engine's list
    /// of alive containers (one call, no inspections of what it knows) with
    /// its picture, and repairs the difference (counted in
    /// `ww_engine_info.repairs`): what events missed (an event stream gone
    /// silent, events the engine dropped, containers whose inspection
    /// failed) is right again within one interval. A list that fails (a
    /// dead peer, a hung engine) makes the watcher resynchronise. Default
    /// 60000; 0 turns audits off. (Callers compiled against a header without
    /// this field get the default.)
    pub audit_interval_ms: u32,
}

/// The sizes of every version of `ww_options` within this ABI, oldest
/// first: each version is the previous one plus fields at the end, whose
/// zero value means "default". The first ended with `ignored_namespaces`;
/// the second added `cri_poll_ms` and `cri_events`; the third
/// `discover_interval_ms`; the fourth `tls_ca`, `tls_cert`, `tls_key` and
/// `audit_interval_ms`.
const KNOWN_SIZES: [usize; 4] = [
    offset_of!(ww_options, cri_poll_ms),
    offset_of!(ww_options, discover_interval_ms),
    offset_of!(ww_options, tls_ca),
    size_of::<ww_options>(),
];

impl Default for ww_options {
    fn default() -> Self {
        ww_options {
            struct_size: size_of::<ww_options>() as u32,
            engine: WW_ENGINE_DOCKER,
            endpoint: std::ptr::null(),
            backoff: WW_BACKOFF_EXPONENTIAL,
            backoff_initial_ms: DEFAULT_BACKOFF_INITIAL.as_millis() as u32,
            backoff_max_ms: DEFAULT_BACKOFF_MAX.as_millis() as u32,
            backoff_max_elapsed_ms: 0,
            call_timeout_ms: DEFAULT_CALL_TIMEOUT.as_millis() as u32,
            ignored_namespaces: std::ptr::null(),
            cri_poll_ms: DEFAULT_RELIST_INTERVAL.as_millis() as u32,
            cri_events: 0,
            discover_interval_ms: DEFAULT_DISCOVER_INTERVAL.as_millis() as u32,
            tls_ca: std::ptr::null(),
            tls_cert: std::ptr::null(),
            tls_key: std::ptr::null(),
            audit_interval_ms: DEFAULT_AUDIT_INTERVAL.as_millis() as u32,
        }
    }
}

/// Fills the first `size` bytes of `*opts`: `struct_size = size`, the
/// defaults (Docker at its default endpoint, exponential backoff from 500 ms
/// up to 30 s, never give up, 10 s per engine call, containerd namespaces
/// "moby" ignored, 1 s relisting), and zero in any bytes beyond the fields
/// this library knows (a caller compiled against a newer header; zero means
/// "default" for every field). Pass `sizeof(ww_options)` as the caller
/// compiled it. Writes exactly `size` bytes, never more.
///
/// NULL, or a `size` smaller than the first version of the struct: does
/// nothing. Callable from any thread.
#[no_mangle]
pub unsafe extern "C" fn ww_options_init(opts: *mut ww_options, size: usize) {
    ffi_boundary!((), {
        if opts.is_null() || size < KNOWN_SIZES[0] || size > u32::MAX as usize {
            return;
        }
        let defaults = ww_options { struct_size: size as u32, ..ww_options::default() };
        let ours = size_of::<ww_options>();
        let dst = opts.cast::<u8>();
        // SAFETY: the caller's struct has `size` writable bytes (documented
        // contract); we copy min(size, ours) bytes of ours and zero the rest.
        unsafe {
            std::ptr::copy_nonoverlapping((&defaults as *const ww_options).cast::<u8>(), dst, size.min(ours));
            if size > ours {
                std::ptr::write_bytes(dst.add(ours), 0, size - ours);
            }
        }
    })
}

/// Reads the caller's options, whatever their known version.
///
/// # Safety
/// `opts` is NULL or points to at least `struct_size` readable bytes.
pub(crate) unsafe fn read_options(opts: *const ww_options) -> Result<Options, (ww_status, String)> {
    if opts.is_null() {
        return to_core(&ww_options::default());
    }
    // SAFETY: every version starts with the u32 struct_size.
    let size = unsafe { (opts as *const u32).read_unaligned() } as usize;
    let ours = size_of::<ww_options>();
    let mismatch = |why: String| {
        Err((
            WW_STATUS_ABI_MISMATCH,
            format!("ww_new: ww_options.struct_size is {size}; {why} (was the options struct initialised with ww_options_init?)"),
        ))
    };
    if size > ours {
        // A caller compiled against a newer header: fine as long as it left
        // every field this library does not know at zero (its default).
        // SAFETY: the caller's struct has `size` readable bytes.
        let tail = unsafe { std::slice::from_raw_parts(opts.cast::<u8>().add(ours), size - ours) };
        if let Some(at) = tail.iter().position(|&b| b != 0) {
            return mismatch(format!(
                "this library knows {ours} bytes of it, and byte {} beyond them is set (a newer option this library lacks)",
                ours + at
            ));
        }
    } else if !KNOWN_SIZES.contains(&size) {
        return mismatch(format!("this library knows {KNOWN_SIZES:?}"));
    }
    // Fields the caller's version lacks keep their defaults.
    let mut full = MaybeUninit::new(ww_options::default());
    // SAFETY: the caller's struct has at least min(size, ours) readable
    // bytes, and every bit pattern of those fields is a valid ww_options
    // (integers and pointers).
    let full = unsafe {
        std::ptr::copy_nonoverlapping(opts as *const u8, full.as_mut_ptr() as *mut u8, size.min(ours));
        full.assume_init()
    };
    to_core(&full)
}

fn ms(v: u32, default: Duration) -> Duration {
    if v == 0 {
        default
    } else {
        Duration::from_millis(u64::from(v))
    }
}

fn to_core(o: &ww_options) -> Result<Options, (ww_status, String)> {
    let invalid = |msg: String| (WW_STATUS_INVALID_ARG, format!("ww_new: {msg}"));
    let engine = match o.engine {
        WW_ENGINE_DOCKER => EngineKind::Docker,
        WW_ENGINE_CONTAINERD => EngineKind::Containerd,
        WW_ENGINE_CRI => EngineKind::Cri,
        WW_ENGINE_PODMAN => EngineKind::Podman,
        WW_ENGINE_AUTO => EngineKind::Auto,
        e => {
            return Err(invalid(format!(
                "unknown engine {e} (known: WW_ENGINE_DOCKER = 1, WW_ENGINE_CONTAINERD = 2, WW_ENGINE_CRI = 3, \
                 WW_ENGINE_PODMAN = 4, WW_ENGINE_AUTO = 5)"
            )))
        }
    };
    // SAFETY: both are NULL or NUL-terminated strings (documented contract).
    let endpoint = unsafe { optional_str(o.endpoint, "endpoint") }.map_err(invalid)?;
    let ignored = match engine {
        EngineKind::Containerd => {
            unsafe { optional_str(o.ignored_namespaces, "ignored_namespaces") }.map_err(invalid)?
        }
        EngineKind::Docker | EngineKind::Podman | EngineKind::Cri => None,
        // Every containerd found gets the ignored namespaces too.
        EngineKind::Auto => unsafe { optional_str(o.ignored_namespaces, "ignored_namespaces") }.map_err(invalid)?,
    };
    // SAFETY: NULL or NUL-terminated strings (documented contract).
    let tls_files = unsafe {
        [
            optional_str(o.tls_ca, "tls_ca").map_err(invalid)?,
            optional_str(o.tls_cert, "tls_cert").map_err(invalid)?,
            optional_str(o.tls_key, "tls_key").map_err(invalid)?,
        ]
    };
    let endpoint = match engine {
        EngineKind::Docker => docker_endpoint(endpoint),
        EngineKind::Containerd => containerd_endpoint(endpoint),
        EngineKind::Podman => podman_endpoint(endpoint),
        EngineKind::Cri => cri_endpoint(endpoint),
        EngineKind::Auto => match endpoint {
            None => Ok(Endpoint::Unix(PathBuf::new())),
            Some(e) => Err(InvalidOption(format!(
                "WW_ENGINE_AUTO finds its endpoints itself: endpoint must be NULL, not {e:?}"
            ))),
        },
    }
    .map_err(|e| invalid(e.0))?;
    let (endpoint, tls) = match engine {
        EngineKind::Docker => {
            let [ca, cert, key] = tls_files;
            docker_tls(endpoint, ca, cert, key).map_err(|e| invalid(e.0))?
        }
        _ if tls_files.iter().any(Option::is_some) => {
            return Err(invalid("TLS files are for Docker endpoints only".into()));
        }
        EngineKind::Podman if matches!(endpoint, Endpoint::Tls(_)) => {
            return Err(invalid(format!("podman's API takes no TLS: {endpoint}")));
        }
        _ => (endpoint, None),
    };
    let ignored_namespaces = match (engine, ignored) {
        // Only containerd has namespaces; other engines never read the field.
        (EngineKind::Docker | EngineKind::Podman | EngineKind::Cri, _) => Vec::new(),
        (EngineKind::Auto, None) => DEFAULT_IGNORED_NAMESPACES.map(String::from).to_vec(),
        (EngineKind::Auto, Some(list)) => parse_namespaces(list).map_err(|e| invalid(e.0))?,
        (EngineKind::Containerd, None) => DEFAULT_IGNORED_NAMESPACES.map(String::from).to_vec(),
        (EngineKind::Containerd, Some(list)) => parse_namespaces(list).map_err(|e| invalid(e.0))?,
    };
    let initial = ms(o.backoff_initial_ms, DEFAULT_BACKOFF_INITIAL);
    let max = ms(o.backoff_max_ms, DEFAULT_BACKOFF_MAX);
    let backoff = match o.backoff {
        WW_BACKOFF_NONE => Backoff::None,
        WW_BACKOFF_CONSTANT => Backoff::Constant { interval: initial },
        WW_BACKOFF_EXPONENTIAL => {
            if max < initial {
                return Err(invalid(format!(
                    "backoff_max_ms ({}) is less than backoff_initial_ms ({})",
                    max.as_millis(),
                    initial.as_millis()
                )));
            }
            Backoff::Exponential { initial, max }
        }
        b => return Err(invalid(format!("unknown backoff {b} (known: NONE = 0, CONSTANT = 1, EXPONENTIAL = 2)"))),
    };
    let max_elapsed =
        (o.backoff_max_elapsed_ms != 0).then(|| Duration::from_millis(u64::from(o.backoff_max_elapsed_ms)));
    Ok(Options {
        engine,
        endpoint,
        backoff,
        max_elapsed,
        call_timeout: ms(o.call_timeout_ms, DEFAULT_CALL_TIMEOUT),
        ignored_namespaces,
        relist_interval: ms(o.cri_poll_ms, DEFAULT_RELIST_INTERVAL),
        cri_events: o.cri_events != 0,
        tls,
        audit_interval: (o.audit_interval_ms != 0).then(|| Duration::from_millis(u64::from(o.audit_interval_ms))),
        discover_interval: match o.discover_interval_ms {
            u32::MAX => None,
            v => Some(ms(v, DEFAULT_DISCOVER_INTERVAL)),
        },
    })
}

/// A C string argument that may be NULL, as UTF-8.
///
/// # Safety
/// `p` is NULL or a NUL-terminated string that outlives the result.
unsafe fn optional_str<'a>(p: *const c_char, what: &str) -> Result<Option<&'a str>, String> {
    if p.is_null() {
        return Ok(None);
    }
    // SAFETY: see the function's contract.
    let raw = unsafe { CStr::from_ptr(p) };
    raw.to_str().map(Some).map_err(|_| format!("{what} {raw:?} is not valid UTF-8"))
}
