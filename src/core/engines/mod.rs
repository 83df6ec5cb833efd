//! The engines, one file each, peers that know their protocol and nothing
//! of tracking, retries or publishing.

pub mod clock;
pub mod containerd;
pub mod containerd_files;
pub mod containerd_state_dir;
pub mod cri;
pub mod docker;
pub mod docker_files;
pub mod engine_files;
pub mod grpc;
pub mod http;
pub mod podman;
pub mod runc_state;

pub use grpc::kind as grpc_kind;

use std::sync::Arc;

use super::engine::Engine;
use super::options::{Endpoint, EngineKind, Options};

/// The engine of `kind` at `endpoint`, with what of `opts` matters to it;
/// `extra_ignored` adds to containerd's ignored namespaces (Docker's own,
/// for a watcher of all engines).
pub fn build(
    kind: EngineKind,
    endpoint: &Endpoint,
    opts: &Options,
    extra_ignored: &[String],
) -> Result<Arc<dyn Engine>, String> {
    let unix = |what: &str| match endpoint {
        Endpoint::Unix(p) => Ok(p.clone()),
        Endpoint::Tcp(_) | Endpoint::Tls(_) => Err(format!("{what} needs a unix socket")),
    };
    Ok(match kind {
        EngineKind::Docker => Arc::new(docker::DockerEngine::new(
            endpoint.clone(),
            opts.call_timeout,
            opts.relist_interval,
            opts.tls.clone(),
        )),
        EngineKind::Podman => {
            Arc::new(podman::PodmanEngine::new(endpoint.clone(), opts.call_timeout, opts.relist_interval))
        }
        EngineKind::Cri => {
            Arc::new(cri::CriEngine::new(unix("CRI")?, opts.call_timeout, opts.relist_interval, opts.cri_events))
        }
        EngineKind::Containerd => {
            let mut ignored = opts.ignored_namespaces.clone();
            ignored.extend(extra_ignored.iter().filter(|n| !opts.ignored_namespaces.contains(n)).cloned());
            Arc::new(containerd::ContainerdEngine::new(unix("containerd")?, ignored, opts.call_timeout))
        }
        EngineKind::Auto => return Err("a watcher of all engines is no single engine".into()),
    })
}
