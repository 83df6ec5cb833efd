//! gRPC over a unix socket, shared by containerd and CRI: the channel, and
//! telling the two apart.

use std::path::Path;

use containerd_client::services::v1::version_client::VersionClient;
use k8s_cri::v1::runtime_service_client::RuntimeServiceClient;
use k8s_cri::v1::VersionRequest;
use tonic::transport::{Channel, Endpoint};

use crate::core::options::EngineKind;

/// A channel to the gRPC server at unix socket `path` (connected now).
pub async fn channel(path: &Path) -> Result<Channel, tonic::transport::Error> {
    let path = path.to_path_buf();
    // The URI is not used: every connection goes to the unix socket.
    Endpoint::from_static("http://engine.invalid")
        .connect_with_connector(tower::service_fn(move |_| {
            let path = path.clone();
            async move {
                Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(tokio::net::UnixStream::connect(path).await?))
            }
        }))
        .await
}

/// What answers gRPC at `path`: containerd (its own API; it may serve CRI
/// too), a CRI runtime, or neither.
pub async fn kind(path: &Path) -> Option<EngineKind> {
    let ch = channel(path).await.ok()?;
    if VersionClient::new(ch.clone()).version(()).await.is_ok() {
        return Some(EngineKind::Containerd);
    }
    let cri = RuntimeServiceClient::new(ch).version(VersionRequest { version: "v1".into() }).await;
    cri.is_ok().then_some(EngineKind::Cri)
}
